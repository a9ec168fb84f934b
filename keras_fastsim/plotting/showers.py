"""Validation figures of calorimeter showers, reference vs generated (SPEC 2.4, 2.5).

Generic for 2D images ``(n, a, b[, 1])`` and 3D grids ``(n, a, b, c)``; 3D grids are shown as
projections on each pair of axes. Every function draws inside
:func:`~keras_fastsim.plotting.style.hep_style` and writes a PNG with
:func:`~keras_fastsim.plotting.style.save_figure`.

Figures (the slides' validation list):

- :func:`plot_shower_displays`: single showers of the reference and the generator for the same
  conditions side by side, and the average shower (log colour scale);
- :func:`plot_cell_spectrum`: hit-cell energy spectrum (log-log);
- :func:`plot_feature_histograms`: E_total, E3x3, E5x5, E3x3/E5x5 (energies) or centroids and
  second moments (shape), with the separation power in each panel;
- :func:`plot_profiles`: mean deposited energy vs each axis (phi, Z; log scale);
- :func:`plot_momentum_bins`: relative difference of the mean and width of E5x5 per momentum
  bin with the target bands;
- :func:`plot_regressor_resolution`: the pretrained regressor's estimate vs truth;
- :func:`plot_energy_response`: mean response E_vis / E_true and sigma(E)/E vs true energy
  with the ratio panels and target bands (CEPC ECAL);
- :func:`plot_longitudinal_by_energy`: the longitudinal profile per true-energy bin (CEPC);
- :func:`plot_regressed_conditions`: the regressor's residuals on reference vs generated
  showers of the same conditions;
- :func:`plot_classifier_sensitivity`: the classifier AUC of reference samples that differ in
  known ways, beside the target and the generators' AUCs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from keras_fastsim.plotting.style import (
    data_style,
    hep_style,
    new_figure,
    save_figure,
    sim_style,
)

ENERGY_FEATURES: tuple[str, ...] = ("E_total", "E3x3", "E5x5", "E3x3_over_E5x5")
_LABELS = {
    "E_total": "total energy",
    "E3x3": "E3x3",
    "E5x5": "E5x5",
    "E3x3_over_E5x5": "E3x3 / E5x5",
    "E_max": "hottest cell",
    "response": "response $E_\\mathrm{total} / p$",
    "n_hit": "hit cells",
    "sparsity": "sparsity",
    "second_moment": "second moment [cells$^2$]",
}


def _grid(hits) -> np.ndarray:
    from keras_fastsim.evaluation.showers import as_grid

    return as_grid(hits)


def _label(feature: str, unit: str) -> str:
    if feature.startswith("centroid_"):
        return f"centroid {feature[9:]} [cells]"
    if feature.startswith("rms_"):
        return f"rms {feature[4:]} [cells]"
    label = _LABELS.get(feature, feature)
    if feature in ("E_total", "E3x3", "E5x5", "E_max"):
        label += f" [{unit}]"
    return label


def _projections(grid: np.ndarray, axis_names: Sequence[str]) -> list[tuple[str, str, np.ndarray]]:
    """``[(row axis, column axis, (n, rows, cols))]``: the image itself or 3D projections."""
    if grid.ndim == 3:
        return [(axis_names[0], axis_names[1], grid)]
    out = []
    for a, b in ((0, 1), (0, 2), (1, 2)):
        other = 3 - a - b
        out.append((axis_names[a], axis_names[b], grid.sum(axis=other + 1)))
    return out


def _names(grid: np.ndarray, axis_names: Sequence[str] | None) -> tuple[str, ...]:
    from keras_fastsim.evaluation.showers import _axis_names

    return _axis_names(grid, axis_names)


def plot_shower_displays(
    reference,
    generated,
    path: str | os.PathLike,
    *,
    indices: Sequence[int] | None = None,
    n: int = 3,
    seed: int = 0,
    axis_names: Sequence[str] | None = None,
    name: str = "GAN",
    energy_unit: str = "GeV",
    conditions: pd.DataFrame | None = None,
) -> Path:
    """Shower displays: reference vs generated showers of the same conditions, and the means.

    Row ``i`` shows reference shower ``indices[i]`` next to generated shower ``indices[i]``
    (generated for the same conditions); the last row shows the average showers. 3D grids
    are drawn as their projections on each pair of axes. Log colour scale, empty cells white.

    Args:
        reference, generated: Showers with identical cell shape, row-aligned.
        path: Output PNG.
        indices: Showers to show (default: ``n`` random ones).
        n: Number of single showers (if ``indices`` is not given).
        seed: Seed of the random choice.
        axis_names: Names of the spatial axes.
        name: Label of the generated sample.
        energy_unit: Unit of the colour bar.
        conditions: Optional conditions; the momentum (``Mom``) is written in the titles.
    """
    from matplotlib.colors import LogNorm

    ref, gen = _grid(reference), _grid(generated)
    names = _names(ref, axis_names)
    if indices is None:
        count = min(int(n), len(ref), len(gen))
        indices = np.sort(np.random.default_rng(seed).choice(min(len(ref), len(gen)), count,
                                                             replace=False))
    indices = [int(i) for i in indices]
    rows = [(f"shower {i}", ref[i:i + 1], gen[i:i + 1]) for i in indices]
    rows.append(("mean", ref.mean(axis=0, keepdims=True), gen.mean(axis=0, keepdims=True)))
    n_proj = len(_projections(ref[:1], names))
    with hep_style(**{"font.size": 11}):
        fig = new_figure(figsize=(4.2 * 2 * n_proj, 3.6 * len(rows)))
        axes = fig.subplots(len(rows), 2 * n_proj, squeeze=False)
        for r, (title, a, b) in enumerate(rows):
            pa, pb = _projections(a, names), _projections(b, names)
            positive = np.concatenate([p[2][p[2] > 0] for p in pa + pb] + [np.array([])])
            vmax = positive.max() if positive.size else 1.0
            vmin = max(positive.min(), vmax * 1e-5) if positive.size else 1e-5
            norm = LogNorm(vmin=vmin, vmax=vmax)
            for k, (label, proj) in enumerate((("reference", pa), (name, pb))):
                for j, (row_axis, col_axis, img) in enumerate(proj):
                    ax = axes[r, k * n_proj + j]
                    image = np.ma.masked_less_equal(img[0], 0.0)
                    im = ax.imshow(image, origin="lower", norm=norm, cmap="viridis",
                                   interpolation="nearest", aspect="auto")
                    ax.set_xlabel(f"{col_axis} [cell]")
                    ax.set_ylabel(f"{row_axis} [cell]")
                    extra = ""
                    if conditions is not None and title != "mean" and "Mom" in conditions:
                        extra = f", p = {float(conditions['Mom'].iloc[int(title.split()[1])]):.2f}"
                    ax.set_title(f"{label}: {title}{extra}", fontsize=10)
            fig.colorbar(im, ax=axes[r, -1], label=f"E [{energy_unit}]")
        return save_figure(fig, path)


def _hist_pair(ax, a: np.ndarray, b: np.ndarray, edges: np.ndarray, name: str) -> None:
    ha, _ = np.histogram(a, edges)
    hb, _ = np.histogram(b, edges)
    centres = 0.5 * (edges[1:] + edges[:-1])
    widths = np.diff(edges)
    na, nb = max(ha.sum(), 1), max(hb.sum(), 1)
    ax.errorbar(centres, ha / na / widths, yerr=np.sqrt(ha) / na / widths, label="reference",
                **data_style())
    ax.stairs(hb / nb / widths, edges, label=name, linewidth=1.6, **sim_style(0))


def _edges(a: np.ndarray, b: np.ndarray, bins: int, log: bool = False) -> np.ndarray:
    both = np.concatenate([a, b])
    if log:
        both = both[both > 0]
        if not both.size:
            return np.linspace(0, 1, bins + 1)
        lo, hi = np.quantile(both, [0.0005, 0.9995])
        hi = max(hi, lo * 1.01)
        return np.geomspace(lo, hi, bins + 1)
    lo, hi = np.quantile(both, [0.002, 0.998])
    if not hi > lo:
        lo, hi = both.min() - 0.5, both.max() + 0.5
    return np.linspace(lo, hi, bins + 1)


def plot_feature_histograms(
    ref_features: pd.DataFrame,
    gen_features: pd.DataFrame,
    path: str | os.PathLike,
    *,
    features: Sequence[str] = ENERGY_FEATURES,
    bins: int = 50,
    log_y: bool = True,
    name: str = "GAN",
    energy_unit: str = "GeV",
) -> Path:
    """Normalised histograms of high-level features, reference (points) vs generated (line).

    Each panel states the separation power of the two histograms.
    """
    from keras_fastsim.evaluation.metrics import separation_power

    features = [f for f in features if f in ref_features.columns]
    if not features:
        raise ValueError(f"None of the features are in the tables. Received: {features}")
    ncol = min(len(features), 3)
    nrow = -(-len(features) // ncol)
    with hep_style(**{"font.size": 11}):
        fig = new_figure(figsize=(5.2 * ncol, 4.2 * nrow))
        axes = np.atleast_1d(fig.subplots(nrow, ncol, squeeze=False)).ravel()
        for ax, feat in zip(axes, features):
            a = ref_features[feat].to_numpy(np.float64)
            b = gen_features[feat].to_numpy(np.float64)
            edges = _edges(a, b, bins)
            _hist_pair(ax, a, b, edges, name)
            try:
                sep = separation_power(a, b, bins=edges)
                ax.text(0.03, 0.95, f"sep. power {sep:.3g}", transform=ax.transAxes,
                        va="top", fontsize=9)
            except ValueError:
                pass
            ax.set_xlabel(_label(feat, energy_unit))
            ax.set_ylabel("normalised entries")
            if log_y:
                ax.set_yscale("log")
            ax.legend(fontsize=9, loc="upper right")
        for ax in axes[len(features):]:
            ax.set_visible(False)
        return save_figure(fig, path)


def plot_cell_spectrum(
    reference, generated, path: str | os.PathLike, *, bins: int = 60, name: str = "GAN",
    energy_unit: str = "GeV",
) -> Path:
    """Energy spectrum of the hit cells (E > 0), log-log, normalised per shower."""
    ref, gen = _grid(reference), _grid(generated)
    a, b = ref[ref > 0], gen[gen > 0]
    edges = _edges(a, b, bins, log=True)
    ha, _ = np.histogram(a, edges)
    hb, _ = np.histogram(b, edges)
    centres = np.sqrt(edges[1:] * edges[:-1])
    with hep_style():
        fig = new_figure(figsize=(7, 5))
        ax = fig.add_subplot()
        ax.errorbar(centres, ha / len(ref), yerr=np.sqrt(ha) / len(ref), label="reference",
                    **data_style())
        ax.stairs(hb / len(gen), edges, label=name, linewidth=1.6, **sim_style(0))
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(f"cell energy [{energy_unit}]")
        ax.set_ylabel("cells per shower and bin")
        ax.legend()
        return save_figure(fig, path)


def plot_profiles(
    reference, generated, path: str | os.PathLike, *, axis_names: Sequence[str] | None = None,
    name: str = "GAN", energy_unit: str = "GeV",
) -> Path:
    """Mean deposited energy vs each axis (e.g. phi and Z), log scale, with the ratio."""
    from keras_fastsim.evaluation.showers import profiles

    ref, gen = _grid(reference), _grid(generated)
    names = _names(ref, axis_names)
    pa, pb = profiles(ref, axis_names=names), profiles(gen, axis_names=names)
    with hep_style(**{"font.size": 11}):
        fig = new_figure(figsize=(5.5 * len(names), 5.5))
        grid = fig.add_gridspec(2, len(names), height_ratios=(3, 1))
        for j, axis in enumerate(names):
            ax = fig.add_subplot(grid[0, j])
            rax = fig.add_subplot(grid[1, j], sharex=ax)
            x = np.arange(pa[axis].shape[1])
            ma, mb = pa[axis].mean(axis=0), pb[axis].mean(axis=0)
            ea = pa[axis].std(axis=0) / np.sqrt(len(ref))
            ax.errorbar(x, ma, yerr=ea, label="reference", **data_style())
            ax.step(x, mb, where="mid", label=name, linewidth=1.6, **sim_style(0))
            ax.set_yscale("log")
            ax.set_ylabel(f"mean energy [{energy_unit}]")
            ax.legend(fontsize=9)
            ratio = np.divide(mb, ma, out=np.full_like(mb, np.nan), where=ma > 0)
            rax.step(x, ratio, where="mid", **sim_style(0))
            rax.axhline(1.0, color="black", linewidth=0.8)
            rax.set_ylim(0.5, 1.5)
            rax.set_ylabel(f"{name} / ref", fontsize=9)
            rax.set_xlabel(f"{axis} [cell]")
        return save_figure(fig, path)


def plot_momentum_bins(
    table: pd.DataFrame, path: str | os.PathLike, *, feature: str = "E5x5",
    mean_target: float = 0.01, width_target: float = 0.10, name: str = "GAN",
) -> Path:
    """Relative differences of the mean and width of ``feature`` per momentum bin.

    ``table`` is :func:`keras_fastsim.evaluation.showers.momentum_bin_table`; the bands are
    the targets (+-1 % mean, +-10 % width).
    """
    centres = 0.5 * (table["p_low"] + table["p_high"]).to_numpy()
    half = 0.5 * (table["p_high"] - table["p_low"]).to_numpy()
    with hep_style(**{"font.size": 11}):
        fig = new_figure(figsize=(11, 4.5))
        ax_m, ax_w = fig.subplots(1, 2)
        ax_m.axhspan(-100 * mean_target, 100 * mean_target, color="0.85", label="target")
        ax_m.errorbar(centres, 100 * table["mean_rel"], xerr=half,
                      yerr=100 * table["mean_rel_error"], label=name, **data_style())
        ax_m.set_ylabel(f"mean {feature}: {name} / ref - 1 [%]")
        ax_w.axhspan(-100 * width_target, 100 * width_target, color="0.85", label="target")
        ax_w.errorbar(centres, 100 * table["width_rel"], xerr=half,
                      yerr=100 * table["width_rel_error"] if "width_rel_error" in table else None,
                      label="std", **data_style())
        if "sigma68_rel" in table:
            ax_w.errorbar(centres, 100 * table["sigma68_rel"], xerr=half, label="sigma68",
                          color="#e42536", marker="s", markersize=4, linestyle="none")
        ax_w.set_ylabel(f"width {feature}: {name} / ref - 1 [%]")
        for ax in (ax_m, ax_w):
            ax.axhline(0.0, color="black", linewidth=0.8)
            ax.set_xlabel("momentum [GeV/c]")
            ax.legend(fontsize=9)
        return save_figure(fig, path)


def plot_regressor_resolution(
    truth, estimate, path: str | os.PathLike, *,
    columns: Sequence[str] = ("Mom", "dTheta_Mom", "dPhi_Mom"),
    units: Sequence[str] = ("GeV/c", "deg", "deg"),
) -> Path:
    """The regressor's estimate vs truth (2D histogram) and the residual distribution per output."""
    truth = np.asarray(truth, np.float64)
    estimate = np.asarray(estimate, np.float64)
    if truth.shape != estimate.shape or truth.ndim != 2:
        raise ValueError(
            f"`truth` and `estimate` must be equal (n, k) arrays. Received {truth.shape}, "
            f"{estimate.shape}"
        )
    k = truth.shape[1]
    with hep_style(**{"font.size": 11}):
        fig = new_figure(figsize=(4.8 * k, 8.5))
        axes = fig.subplots(2, k, squeeze=False)
        for j in range(k):
            col = columns[j] if j < len(columns) else f"y{j}"
            unit = units[j] if j < len(units) else ""
            t, e = truth[:, j], estimate[:, j]
            lo, hi = np.quantile(np.concatenate([t, e]), [0.005, 0.995])
            axes[0, j].hist2d(t, e, bins=60, range=((lo, hi), (lo, hi)), cmin=1, cmap="viridis")
            axes[0, j].plot([lo, hi], [lo, hi], color="red", linewidth=0.8)
            axes[0, j].set_xlabel(f"true {col} [{unit}]")
            axes[0, j].set_ylabel(f"regressed {col} [{unit}]")
            res = e - t
            edges = _edges(res, res, 60)
            axes[1, j].hist(res, bins=edges, histtype="step", color="black")
            axes[1, j].set_xlabel(f"regressed - true {col} [{unit}]")
            axes[1, j].set_ylabel("showers")
            axes[1, j].text(0.03, 0.95, f"bias {res.mean():.3g}\nstd {res.std():.3g}",
                            transform=axes[1, j].transAxes, va="top", fontsize=9)
        return save_figure(fig, path)


def plot_shower_report(
    ref_grid: np.ndarray,
    gen_grid: np.ndarray,
    ref_features: pd.DataFrame,
    gen_features: pd.DataFrame,
    out_dir: str | os.PathLike,
    *,
    axis_names: Sequence[str] | None = None,
    momentum_table: pd.DataFrame | None = None,
    n_displays: int = 3,
    seed: int = 0,
    name: str = "GAN",
    energy_unit: str = "GeV",
    feature: str = "E5x5",
    responses: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, str]:
    """Draws every validation figure into ``out_dir``; returns ``{key: file name}``.

    ``responses``: the reference and generated ``E_total / p``, drawn as ``response.png``.
    """
    out_dir = Path(out_dir)
    names = _names(ref_grid, axis_names)
    files: dict[str, str] = {}

    def draw(key: str, fn, *args, **kwargs) -> None:
        fn(*args, out_dir / f"{key}.png", **kwargs)
        files[key] = f"{key}.png"

    draw("shower_displays", plot_shower_displays, ref_grid, gen_grid, n=n_displays, seed=seed,
         axis_names=names, name=name, energy_unit=energy_unit)
    draw("energy_features", plot_feature_histograms, ref_features, gen_features,
         features=ENERGY_FEATURES, name=name, energy_unit=energy_unit)
    shape = [f"centroid_{a}" for a in names] + [f"rms_{a}" for a in names] + ["second_moment"]
    draw("shape_features", plot_feature_histograms, ref_features, gen_features, features=shape,
         name=name, energy_unit=energy_unit)
    draw("cell_spectrum", plot_cell_spectrum, ref_grid, gen_grid, name=name,
         energy_unit=energy_unit)
    draw("profiles", plot_profiles, ref_grid, gen_grid, axis_names=names, name=name,
         energy_unit=energy_unit)
    if momentum_table is not None and len(momentum_table):
        draw("momentum_bins", plot_momentum_bins, momentum_table, feature=feature, name=name)
    if responses is not None:
        draw("response", plot_feature_histograms, pd.DataFrame({"response": responses[0]}),
             pd.DataFrame({"response": responses[1]}), features=("response",), bins=80,
             name=name, energy_unit=energy_unit)
    return files


def plot_energy_response(
    table: pd.DataFrame, path: str | os.PathLike, *, mean_target: float = 0.02,
    resolution_target: float = 0.10, name: str = "GAN", energy_unit: str = "GeV",
) -> Path:
    """Mean response E_vis / E_true and resolution sigma(E)/E vs true energy, with ratios.

    ``table`` is :func:`keras_fastsim.evaluation.cepc_ecal.energy_bin_table` (one row per
    true-energy bin); the grey bands of the ratio panels are the targets.
    """
    centres = 0.5 * (table["e_low"] + table["e_high"]).to_numpy()
    half = 0.5 * (table["e_high"] - table["e_low"]).to_numpy()
    panels = (
        ("response", "mean_ratio", mean_target, r"$\langle E_\mathrm{vis} / E_\mathrm{true}\rangle$"),
        ("resolution", "resolution_ratio", resolution_target, r"$\sigma(E) / E$"),
    )
    with hep_style(**{"font.size": 11}):
        fig = new_figure(figsize=(11, 6.5))
        grid = fig.add_gridspec(2, 2, height_ratios=(2.2, 1))
        for j, (key, ratio, target, label) in enumerate(panels):
            ax = fig.add_subplot(grid[0, j])
            rax = fig.add_subplot(grid[1, j], sharex=ax)
            ax.errorbar(centres, table[f"{key}_reference"], xerr=half,
                        yerr=table.get(f"{key}_reference_error"), label="reference",
                        **data_style())
            ax.errorbar(centres, table[f"{key}_generated"], xerr=half,
                        yerr=table.get(f"{key}_generated_error"), label=name,
                        color="#e42536", marker="s", markersize=4, linestyle="none")
            ax.set_ylabel(label)
            ax.legend(fontsize=9)
            rax.axhspan(1 - target, 1 + target, color="0.85", label="target")
            rax.errorbar(centres, table[ratio], xerr=half, yerr=table.get(f"{ratio}_error"),
                         **data_style())
            rax.axhline(1.0, color="black", linewidth=0.8)
            rax.set_ylabel(f"{name} / ref", fontsize=9)
            rax.set_xlabel(f"true energy [{energy_unit}]")
        return save_figure(fig, path)


def plot_regressed_conditions(
    truth, ref_estimate, gen_estimate, path: str | os.PathLike, *,
    columns: Sequence[str] = ("Mom", "theta", "phi"),
    units: Sequence[str] = ("GeV", "deg", "deg"), name: str = "GAN", bins: int = 50,
) -> Path:
    """The regressor's estimate - truth on reference vs generated showers, per output.

    Both samples share the true conditions row by row (generated showers simulate the
    reference's conditions), so the two residual distributions compare the showers only.
    """
    truth = np.asarray(truth, np.float64)
    ref_res = np.asarray(ref_estimate, np.float64) - truth
    gen_res = np.asarray(gen_estimate, np.float64) - truth
    k = truth.shape[1]
    with hep_style(**{"font.size": 11}):
        fig = new_figure(figsize=(5.0 * k, 4.4))
        axes = np.atleast_1d(fig.subplots(1, k, squeeze=False)).ravel()
        for j, ax in enumerate(axes):
            col = columns[j] if j < len(columns) else f"y{j}"
            unit = units[j] if j < len(units) else ""
            edges = _edges(ref_res[:, j], gen_res[:, j], bins)
            _hist_pair(ax, ref_res[:, j], gen_res[:, j], edges, name)
            ax.set_xlabel(f"regressed - true {col} [{unit}]")
            ax.set_ylabel("normalised entries")
            ax.text(0.03, 0.95,
                    f"ref: {ref_res[:, j].mean():.3g} ± {ref_res[:, j].std():.3g}\n"
                    f"{name}: {gen_res[:, j].mean():.3g} ± {gen_res[:, j].std():.3g}",
                    transform=ax.transAxes, va="top", fontsize=9)
            ax.legend(fontsize=9, loc="upper right")
        return save_figure(fig, path)


def plot_longitudinal_by_energy(
    ref_layers: np.ndarray, gen_layers: np.ndarray, ref_energy, gen_energy,
    edges: Sequence[float], path: str | os.PathLike, *, name: str = "GAN",
) -> Path:
    """Mean fraction of the shower energy per layer, one panel per true-energy bin (log y)."""
    ref_layers = np.asarray(ref_layers, np.float64)
    gen_layers = np.asarray(gen_layers, np.float64)
    ref_energy, gen_energy = np.asarray(ref_energy), np.asarray(gen_energy)
    n_bins = len(edges) - 1
    ncol = min(n_bins, 3)
    nrow = -(-n_bins // ncol)
    x = np.arange(ref_layers.shape[1])
    with hep_style(**{"font.size": 10}):
        fig = new_figure(figsize=(4.6 * ncol, 3.8 * nrow))
        axes = np.atleast_1d(fig.subplots(nrow, ncol, squeeze=False)).ravel()
        for i, ax in enumerate(axes[:n_bins]):
            lo, hi = edges[i], edges[i + 1]
            a = ref_layers[(ref_energy >= lo) & (ref_energy < hi)]
            b = gen_layers[(gen_energy >= lo) & (gen_energy < hi)]
            for sample, style, label in ((a, "ref", "reference"), (b, "gen", name)):
                if not len(sample) or sample.sum() <= 0:
                    continue
                profile = sample.sum(axis=0) / sample.sum()
                if style == "ref":
                    ax.errorbar(x, profile, label=label, **data_style())
                else:
                    ax.step(x, profile, where="mid", label=label, linewidth=1.6, **sim_style(0))
            ax.set_yscale("log")
            ax.set_title(f"{lo:g}-{hi:g} GeV ({len(a)} / {len(b)} showers)", fontsize=10)
            ax.set_xlabel("layer")
            ax.set_ylabel("energy fraction")
            ax.legend(fontsize=8)
        for ax in axes[n_bins:]:
            ax.set_visible(False)
        return save_figure(fig, path)


def plot_classifier_sensitivity(
    table: pd.DataFrame, path: str | os.PathLike, *, target: float | None = 0.75,
    marks: Mapping[str, float] | None = None,
) -> Path:
    """The classifier AUC per sample, as horizontal bars, with the target and reference lines.

    ``table`` is :func:`keras_fastsim.evaluation.calibration.classifier_sensitivity` (index:
    sample names, column ``high_level_auc``; ``auc_without_conditions`` and
    ``auc_without_hit_count`` are drawn as markers where present); ``marks`` are AUCs drawn as
    labelled dashed lines (e.g. a generator's best).
    """
    if "high_level_auc" not in table.columns or len(table) == 0:
        raise ValueError("table needs rows and a 'high_level_auc' column. Received columns: "
                         f"{list(table.columns)}")
    names = [str(n) for n in table.index]
    y = np.arange(len(names))[::-1]
    with hep_style(**{"font.size": 11}):
        fig = new_figure(figsize=(8, 0.42 * len(names) + 1.8))
        ax = fig.subplots()
        ax.barh(y, table["high_level_auc"] - 0.5, left=0.5, height=0.6, color=sim_style(1)["color"],
                label="features + conditions")
        if "auc_without_conditions" in table.columns:
            ax.plot(table["auc_without_conditions"], y, "o", color="black", markersize=4,
                    label="features only")
        if "auc_without_hit_count" in table.columns:
            ax.plot(table["auc_without_hit_count"], y, "D", markerfacecolor="none",
                    color="black", markersize=5, label="features + conditions, no hit count")
        if target is not None:
            ax.axvline(target, color=sim_style(0)["color"], linewidth=1.5, label=f"target {target:g}")
        for i, (label, value) in enumerate((marks or {}).items()):
            ax.axvline(value, linestyle="--", linewidth=1.2, color=sim_style(i + 2)["color"],
                       label=f"{label}: {value:.3f}")
        ax.set_yticks(y, names)
        ax.set_xlim(0.45, 1.005)
        ax.set_xlabel("classifier AUC, reference vs sample")
        ax.legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2,
                  frameon=False)
        return save_figure(fig, path)
