"""Figures of the JUNO fast-simulation validation (fast vs full), in the package style."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from keras_fastsim.plotting.style import hep_style, new_figure, save_figure, sim_style

__all__ = [
    "plot_direct_light",
    "plot_gamma_hit_times",
    "plot_gamma_total_pe",
    "plot_muon_first_hit",
    "plot_muon_npe",
    "plot_npe_closure",
    "plot_theta_profiles",
]

_POSITION_LABELS = {"centre": "centre", "z10": "z = 10 m", "r16": "R = 16 m"}


def _label(name: str) -> str:
    return _POSITION_LABELS.get(name, name)


def plot_gamma_total_pe(full, fast, name: str, path: str | os.PathLike) -> Path:
    """Total p.e. per event of 1 MeV gammas, full vs fast (normalised histograms)."""
    full, fast = np.asarray(full, float), np.asarray(fast, float)
    lo, hi = np.percentile(np.concatenate([full, fast]), [0.1, 99.9])
    bins = np.linspace(lo - 5, hi + 5, 41)
    with hep_style():
        fig = new_figure(figsize=(6, 4.5))
        ax = fig.add_subplot()
        ax.hist(full, bins=bins, density=True, histtype="step", label=f"full (mean {full.mean():.1f})", color="black", lw=1.5)
        ax.hist(fast, bins=bins, density=True, histtype="step", label=f"fast (mean {fast.mean():.1f})", **sim_style(0))
        ax.set_xlabel("total p.e.")
        ax.set_ylabel("normalised")
        ax.set_title(f"1 MeV gamma, {_label(name)}", fontsize=12)
        ax.legend(fontsize=10)
        return save_figure(fig, path)


def plot_gamma_hit_times(full, fast, name: str, path: str | os.PathLike) -> Path:
    """Hit-time distribution of all p.e. of 1 MeV gammas, full vs fast (linear and log scale)."""
    full, fast = np.asarray(full, float), np.asarray(fast, float)
    hi = np.percentile(full, 99.5)
    bins = np.linspace(min(full.min(), fast.min(), 0.0), hi, 121)
    with hep_style():
        fig = new_figure(figsize=(11, 4.5))
        for k, log in enumerate((False, True)):
            ax = fig.add_subplot(1, 2, k + 1)
            ax.hist(full, bins=bins, density=True, histtype="step", label="full", color="black", lw=1.5)
            ax.hist(fast, bins=bins, density=True, histtype="step", label="fast (NN_time)", **sim_style(0))
            ax.set_xlabel("hit time [ns]")
            ax.set_ylabel("normalised")
            if log:
                ax.set_yscale("log")
            ax.set_title(f"1 MeV gamma, {_label(name)}", fontsize=12)
            ax.legend(fontsize=10)
        return save_figure(fig, path)


def plot_theta_profiles(profiles: dict, path: str | os.PathLike) -> Path:
    """Mean n_pe per PMT and mean hit time versus theta at several R, full (points) vs fast (lines).

    ``profiles[name] = (full, fast)`` with the dictionaries of
    :func:`keras_fastsim.evaluation.juno.theta_profiles`.
    """
    with hep_style():
        fig = new_figure(figsize=(11, 4.5))
        ax1, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
        for i, (name, (pf, ps)) in enumerate(profiles.items()):
            style = sim_style(i)
            x = np.degrees(pf["theta_centres"])
            ax1.plot(x, pf["npe"], "o", ms=3.5, color=style["color"], label=f"full, {_label(name)}")
            ax1.plot(x, ps["npe"], "-", color=style["color"], label=f"fast, {_label(name)}")
            ax2.plot(x, pf["time_mean"], "o", ms=3.5, color=style["color"])
            ax2.plot(x, ps["time_mean"], "-", color=style["color"])
        ax1.set_yscale("log")
        ax1.set_xlabel(r"$\theta$ [deg]")
        ax1.set_ylabel("mean n$_{pe}$ per PMT (1 MeV)")
        ax1.legend(fontsize=8, ncol=2)
        ax2.set_xlabel(r"$\theta$ [deg]")
        ax2.set_ylabel("mean hit time [ns]")
        return save_figure(fig, path)


def plot_muon_npe(metrics: dict, full: dict, fast: dict, path: str | os.PathLike) -> Path:
    """Per-PMT n_pe of muon events, fast vs full (scatter), with the total p.e. in the legend."""
    with hep_style():
        fig = new_figure(figsize=(6, 5))
        ax = fig.add_subplot()
        for i, ev in enumerate(metrics["events"]):
            ax.plot(full["npe"][i], fast["npe"][i], ".", ms=1.5, alpha=0.4, color=sim_style(i)["color"],
                    label=f"{ev['length_m']:.1f} m: total {ev['total_pe_full']:.3g} full, "
                          f"{ev['total_pe_fast']:.3g} fast")
        top = max(float(np.max(full["npe"])), 1.0)
        ax.plot([0, top], [0, top], "k--", lw=1)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("n$_{pe}$ per PMT, full")
        ax.set_ylabel("n$_{pe}$ per PMT, fast")
        ax.set_title("muon events", fontsize=12)
        ax.legend(fontsize=8, markerscale=6)
        return save_figure(fig, path)


def plot_muon_first_hit(metrics: dict, bins: np.ndarray, path: str | os.PathLike) -> Path:
    """Mean first-hit time of the PMTs versus their angle to the muon track, full vs fast."""
    x = np.degrees(0.5 * (bins[1:] + bins[:-1]))
    with hep_style():
        fig = new_figure(figsize=(6, 4.5))
        ax = fig.add_subplot()
        for i, ev in enumerate(metrics["events"]):
            c = sim_style(i)["color"]
            ax.plot(x, ev["profile_full"], "o", ms=3.5, color=c, label=f"full, {ev['length_m']:.1f} m track")
            ax.plot(x, ev["profile_fast"], "-", color=c, label="fast")
        ax.set_xlabel("angle between muon direction and entry point -> PMT [deg]")
        ax.set_ylabel("mean first-hit time [ns]")
        ax.legend(fontsize=8)
        return save_figure(fig, path)


def plot_npe_closure(closure: dict, path: str | os.PathLike, *, span: float = 0.3) -> Path:
    """Map of NN_npe's closure ratio (net mean / rows' mean) over (R, theta) cells.

    ``closure`` is the dictionary of :func:`keras_fastsim.evaluation.juno.npe_closure`. Cells are
    drawn with equal size (the bins are not uniform), coloured on a diverging scale
    ``1 +- span`` and labelled with the ratio; empty cells are grey.
    """
    from matplotlib import colormaps
    from matplotlib.colors import TwoSlopeNorm

    ratio = np.asarray(closure["ratio"], float)
    r_edges, t_edges = closure["r_edges"], np.degrees(closure["theta_edges"])
    with hep_style():
        fig = new_figure(figsize=(9, 6.5))
        ax = fig.add_subplot()
        cmap = colormaps["RdBu_r"].with_extremes(bad="0.8")
        mesh = ax.pcolormesh(np.ma.masked_invalid(ratio), cmap=cmap,
                             norm=TwoSlopeNorm(1.0, 1.0 - span, 1.0 + span))
        for (i, j), v in np.ndenumerate(ratio):
            if np.isfinite(v):
                ax.text(j + 0.5, i + 0.5, f"{v:.2f}", ha="center", va="center", fontsize=8,
                        color="white" if abs(v - 1.0) > 0.7 * span else "black")
        ax.set_xticks(np.arange(len(t_edges)), [f"{x:g}" for x in t_edges], fontsize=8)
        ax.set_yticks(np.arange(len(r_edges)), [f"{x:g}" for x in r_edges], fontsize=8)
        ax.set_xlabel(r"$\theta$ bin edges [deg]")
        ax.set_ylabel("R bin edges [m]")
        ax.set_title("NN_npe closure on its training rows: net mean / rows' mean", fontsize=12)
        fig.colorbar(mesh, ax=ax, label="ratio")
        return save_figure(fig, path)


def plot_direct_light(table, path: str | os.PathLike, *, rows=None, radii=(15.0, 16.0, 16.3, 17.0),
                      slice_m: float = 0.05) -> Path:
    """The vessel's direct light (:class:`~keras_fastsim.physics.juno_vessel.DirectLightTable`).

    Left: the table over ``R >= 12 m`` and ``theta <= 90 deg`` (1 = the straight-line acceptance,
    0 = the shadow of trapped rays). Right: the table against ``theta`` at ``radii``; with
    ``rows = (R, theta, npe)`` (training rows) also their mean n_pe over the acceptance factor in
    slices ``R +- slice_m``, scaled to the table's mean over 60-90 deg (the data carry attenuation
    and scattered light, so only the shape compares).
    """
    from keras_fastsim.physics.juno_vessel import acceptance_factor

    if rows is not None:
        r, th, npe = (np.asarray(a, float).reshape(-1) for a in rows)
        if not len(r) == len(th) == len(npe):
            raise ValueError("`rows` must be three arrays (R, theta, npe) of one length. "
                             f"Received: lengths {len(r)}, {len(th)}, {len(npe)}")
    values = np.asarray(table.values)
    r_axis = np.arange(values.shape[0]) * table.r_step_m
    t_axis = np.degrees(np.arange(values.shape[1]) * table.theta_step)
    keep_r, keep_t = r_axis >= 12.0, t_axis <= 90.0
    with hep_style():
        fig = new_figure(figsize=(12, 4.8))
        ax_map, ax_cut = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
        mesh = ax_map.pcolormesh(t_axis[keep_t], r_axis[keep_r], values[np.ix_(keep_r, keep_t)],
                                 vmin=0.0, vmax=1.6, cmap="viridis", shading="auto")
        fig.colorbar(mesh, ax=ax_map, label="direct light / straight-line acceptance")
        ax_map.set_xlabel(r"$\theta$ [deg]")
        ax_map.set_ylabel("R [m]")
        ax_map.set_title("Direct light through the vessel", fontsize=12)
        theta = np.radians(np.linspace(0.0, 90.0, 361))[:, None].astype(np.float32)
        centres = np.linspace(1.0, 89.0, 45)
        for k, radius in enumerate(radii):
            style = sim_style(k)
            curve = np.asarray(table(np.full_like(theta, radius), theta))[:, 0]
            ax_cut.plot(np.degrees(theta[:, 0]), curve, color=style["color"], lw=1.5, label=f"R = {radius:g} m")
            if rows is None:
                continue
            sel = np.abs(r - radius) < slice_m
            if sel.sum() < 100:
                continue
            cond = np.column_stack([r[sel], th[sel]]).astype(np.float32)
            rel = npe[sel] / np.asarray(acceptance_factor(cond))[:, 0]
            idx = np.digitize(np.degrees(th[sel]), np.linspace(0.0, 90.0, 46)) - 1
            prof = np.array([rel[idx == i].mean() if np.any(idx == i) else np.nan for i in range(45)])
            tail = (centres > 60) & np.isfinite(prof)
            scale = curve[np.degrees(theta[:, 0]) > 60].mean() / np.mean(prof[tail]) if tail.any() else np.nan
            ax_cut.plot(centres, prof * scale, "o", ms=3, color=style["color"])
        ax_cut.set_xlabel(r"$\theta$ [deg]")
        ax_cut.set_ylabel("relative to the straight-line acceptance")
        ax_cut.set_title("lines: table; points: training rows (scaled)" if rows is not None else "table",
                         fontsize=12)
        ax_cut.set_ylim(0.0, 2.0)
        ax_cut.legend(fontsize=9)
        return save_figure(fig, path)
