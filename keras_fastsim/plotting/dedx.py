"""Validation figures of the BESIII dE/dx simulation (arXiv:2401.02692, figs. of sec. 4).

Every function takes the reference ``data`` track table, a mapping ``sims`` of named
simulations of the same conditions (e.g. ``{"flow": df_flow, "histogram": df_hist}``;
the order of the mapping is the order of the panels and lines, so the histogram-sampling
baseline is drawn beside the flow) and an output ``path`` (PNG), and returns the path.

Track tables have the columns ``species``, ``p`` [GeV/c], ``theta`` [rad], ``nhits`` and
``dedx`` (see :mod:`keras_fastsim.io.tables`).

- :func:`plot_dedx_vs_p`, :func:`plot_dedx_vs_theta`: 2D histograms, one panel per source.
- :func:`plot_dedx_in_p_bins`, :func:`plot_dedx_in_theta_bins`: 1D dE/dx in slices.
- :func:`plot_pid_efficiency`, :func:`plot_misid`: PID efficiency and mis-identification
  rates vs p or cos(theta) with a simulation/data ratio panel; :func:`plot_pid_rates` draws
  the same from rate tables already computed with ``evaluation.pid.pid_rates``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from keras_fastsim.evaluation.dedx_report import DEFAULT_COS_BINS, DEFAULT_P_BINS
from keras_fastsim.physics.species import HADRON_SPECIES, SPECIES
from keras_fastsim.plotting.style import (
    data_style,
    hep_style,
    new_figure,
    save_figure,
    sim_style,
)

DEFAULT_P_RANGES: tuple[tuple[float, float], ...] = ((0.9, 1.0), (1.1, 1.2), (1.3, 1.4))
"""Momentum slices [GeV/c] of the paper's 1D kaon dE/dx figure."""

DEFAULT_THETA_RANGES: tuple[tuple[float, float], ...] = ((30.0, 40.0), (50.0, 60.0), (90.0, 100.0))
"""Polar-angle slices [deg] of the paper's 1D dE/dx figure."""

DEFAULT_PID_P_BINS: tuple[float, ...] = DEFAULT_P_BINS
"""Momentum bin edges [GeV/c] of the PID rate figures (0.1 GeV/c wide, 0.1–2.0)."""

DEFAULT_PID_COS_BINS: tuple[float, ...] = DEFAULT_COS_BINS
"""cos(theta) bin edges of the PID rate figures (16 bins over the barrel, |cos| < 0.93)."""

HYPOTHESES: tuple[str, ...] = ("pi", "K", "p")
"""PID hypotheses, in plotting order."""

_REQUIRED = ("species", "p", "theta", "dedx")
_VARIABLES = ("p", "cos_theta")

_SPECIES_LABELS = {
    "pi+": r"$\pi^{+}$", "pi-": r"$\pi^{-}$", "K+": r"$K^{+}$", "K-": r"$K^{-}$",
    "p": r"$p$", "pbar": r"$\bar{p}$", "e+": r"$e^{+}$", "e-": r"$e^{-}$",
    "pi": r"$\pi^{\pm}$", "K": r"$K^{\pm}$", "e": r"$e^{\pm}$",
}
_HYPOTHESIS_LABELS = {"pi": r"$\pi$", "K": r"$K$", "p": r"$p$", "e": r"$e$"}
_VARIABLE_LABELS = {"p": r"$p$ [GeV/$c$]", "cos_theta": r"$\cos\theta$"}


def species_label(name: str) -> str:
    """Math-text label of a species (``"pi+"``) or hypothesis (``"K"``) name."""
    return _SPECIES_LABELS.get(name, name)


def _species_names(species: str | Sequence[str] | None) -> list[str] | None:
    """Expands a species selection to species names; ``None`` means all."""
    if species is None:
        return None
    items = [species] if isinstance(species, str) else list(species)
    if not items:
        raise ValueError(f"`species` must name at least one species. Received: species={species!r}")
    names: list[str] = []
    for item in items:
        if item in SPECIES:
            found = [item]
        else:
            found = [s.name for s in SPECIES.values() if s.hypothesis == item]
        if not found:
            raise ValueError(
                f"Unknown species or hypothesis. Expected one of {sorted(SPECIES)} or "
                f"{list(HYPOTHESES)}. Received: species={item!r}"
            )
        names.extend(n for n in found if n not in names)
    return names


def _selection_label(species: str | Sequence[str] | None) -> str:
    if species is None:
        return "all species"
    items = [species] if isinstance(species, str) else list(species)
    return ", ".join(species_label(s) for s in items)


def _select(table: pd.DataFrame, names: list[str] | None) -> pd.DataFrame:
    if names is None:
        return table
    return table[table["species"].astype(str).isin(names)]


def _check_tables(
    data: pd.DataFrame, sims: Mapping[str, pd.DataFrame], required: Sequence[str] = _REQUIRED
) -> None:
    if not isinstance(sims, Mapping):
        raise ValueError(
            f"`sims` must be a mapping of name to track table. Received: {type(sims).__name__}"
        )
    for name, table in [("data", data), *sims.items()]:
        if not isinstance(name, str) or not name:
            raise ValueError(f"Simulation names must be non-empty strings. Received: name={name!r}")
        if not isinstance(table, pd.DataFrame):
            raise ValueError(
                f"Table {name!r} must be a pandas DataFrame. Received: {type(table).__name__}"
            )
        missing = [c for c in required if c not in table.columns]
        if missing:
            raise ValueError(
                f"Table {name!r} lacks column(s) {missing}. Received: columns={list(table.columns)}"
            )


def _check_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"`path` must end with '.png'. Received: path={str(path)!r}")
    return path


def _check_ranges(ranges, name: str) -> list[tuple[float, float]]:
    out = []
    try:
        for lo, hi in ranges:
            lo, hi = float(lo), float(hi)
            if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
                raise ValueError
            out.append((lo, hi))
    except (TypeError, ValueError):
        raise ValueError(
            f"`{name}` must be a sequence of (low, high) pairs with high > low. "
            f"Received: {name}={ranges!r}"
        ) from None
    if not out:
        raise ValueError(f"`{name}` must not be empty. Received: {name}={ranges!r}")
    return out


def _dedx_edges(values: np.ndarray, bins: int | Sequence[float] | None, n: int = 100) -> np.ndarray:
    if bins is not None and np.ndim(bins) > 0:
        edges = np.asarray(bins, dtype=np.float64)
        if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
            raise ValueError(f"Bin edges must be strictly increasing. Received: bins={bins!r}")
        return edges
    if bins is not None:
        if int(bins) != bins or bins < 1:
            raise ValueError(f"`bins` must be a positive integer or edges. Received: bins={bins!r}")
        n = int(bins)
    if values.size == 0:
        return np.linspace(0.0, 1.0, n + 1)
    lo, hi = np.quantile(values, [0.001, 0.999])
    pad = 0.1 * max(hi - lo, 1e-6 * max(abs(hi), 1.0))
    return np.linspace(lo - pad, hi + pad, n + 1)


# ---------------------------------------------------------------------------------------
# 2D histograms
# ---------------------------------------------------------------------------------------


def _plot_dedx_2d(
    data: pd.DataFrame,
    sims: Mapping[str, pd.DataFrame],
    path: str | os.PathLike,
    *,
    variable: str,
    species: str | Sequence[str] | None,
    x_bins: int | Sequence[float] | None,
    dedx_bins: int | Sequence[float] | None,
) -> Path:
    from matplotlib.colors import LogNorm

    _check_tables(data, sims)
    path = _check_path(path)
    names = _species_names(species)
    sources = {"data": _select(data, names), **{k: _select(v, names) for k, v in sims.items()}}

    def x_of(table: pd.DataFrame) -> np.ndarray:
        x = table[variable].to_numpy(dtype=np.float64)
        return np.degrees(x) if variable == "theta" else x

    x_data = x_of(sources["data"])
    if x_bins is None or np.ndim(x_bins) == 0:
        n_x = 100 if x_bins is None else int(x_bins)
        if x_data.size:
            x_edges = np.linspace(x_data.min(), x_data.max() + 1e-9, n_x + 1)
        else:
            x_edges = np.linspace(0.0, 180.0 if variable == "theta" else 2.0, n_x + 1)
    else:
        x_edges = _dedx_edges(np.empty(0), x_bins)
    y_data = sources["data"]["dedx"].to_numpy(dtype=np.float64)
    if dedx_bins is None or np.ndim(dedx_bins) == 0:
        n_y = 100 if dedx_bins is None else int(dedx_bins)
        top = np.quantile(y_data, 0.995) * 1.2 if y_data.size else 3000.0
        y_edges = np.linspace(0.0, top, n_y + 1)
    else:
        y_edges = _dedx_edges(np.empty(0), dedx_bins)

    hists = {
        name: np.histogram2d(x_of(t), t["dedx"].to_numpy(dtype=np.float64), [x_edges, y_edges])[0]
        for name, t in sources.items()
    }
    vmax = max(1.0, max(float(h.max()) for h in hists.values()))
    xlabel = r"$\theta$ [deg]" if variable == "theta" else _VARIABLE_LABELS["p"]
    with hep_style():
        ncols = len(hists)
        fig = new_figure(figsize=(4.6 * ncols + 1.0, 4.4))
        axes = fig.subplots(1, ncols, sharex=True, sharey=True, squeeze=False)[0]
        mesh = None
        for ax, (name, h) in zip(axes, hists.items()):
            mesh = ax.pcolormesh(
                x_edges, y_edges, np.ma.masked_less_equal(h.T, 0),
                norm=LogNorm(vmin=1.0, vmax=vmax), cmap="viridis", rasterized=True,
            )
            ax.set_title(f"{name} ({_selection_label(species)})", fontsize="small")
            ax.set_xlabel(xlabel)
        axes[0].set_ylabel("dE/dx")
        fig.colorbar(mesh, ax=list(axes), label="tracks")
        return save_figure(fig, path)


def plot_dedx_vs_p(
    data: pd.DataFrame,
    sims: Mapping[str, pd.DataFrame],
    path: str | os.PathLike,
    *,
    species: str | Sequence[str] | None = None,
    p_bins: int | Sequence[float] | None = None,
    dedx_bins: int | Sequence[float] | None = None,
) -> Path:
    """2D histograms of dE/dx vs momentum (log colour), one panel per source.

    Args:
        data: Reference track table.
        sims: Named simulated track tables, drawn in this order beside the data.
        path: Output PNG path.
        species: A species (``"K+"``), a hypothesis (``"K"``: K+ and K-), a sequence of
            these, or ``None`` for all species pooled.
        p_bins: Number of momentum bins or their edges (default 100 over the data).
        dedx_bins: Number of dE/dx bins or their edges (default 100 from 0 to 1.2 x
            the data's 99.5% quantile).

    Returns:
        The output path.
    """
    return _plot_dedx_2d(data, sims, path, variable="p", species=species, x_bins=p_bins,
                         dedx_bins=dedx_bins)


def plot_dedx_vs_theta(
    data: pd.DataFrame,
    sims: Mapping[str, pd.DataFrame],
    path: str | os.PathLike,
    *,
    species: str | Sequence[str] | None = None,
    theta_bins: int | Sequence[float] | None = None,
    dedx_bins: int | Sequence[float] | None = None,
) -> Path:
    """2D histograms of dE/dx vs polar angle theta in degrees (log colour), one panel per source.

    Args:
        data: Reference track table.
        sims: Named simulated track tables, drawn in this order beside the data.
        path: Output PNG path.
        species: As in :func:`plot_dedx_vs_p`.
        theta_bins: Number of theta bins or their edges in degrees.
        dedx_bins: Number of dE/dx bins or their edges.

    Returns:
        The output path.
    """
    return _plot_dedx_2d(data, sims, path, variable="theta", species=species,
                         x_bins=theta_bins, dedx_bins=dedx_bins)


# ---------------------------------------------------------------------------------------
# 1D distributions in slices
# ---------------------------------------------------------------------------------------


def _plot_dedx_slices(
    data: pd.DataFrame,
    sims: Mapping[str, pd.DataFrame],
    path: str | os.PathLike,
    *,
    variable: str,
    ranges: list[tuple[float, float]],
    species: str | Sequence[str] | None,
    bins: int | Sequence[float],
) -> Path:
    _check_tables(data, sims)
    path = _check_path(path)
    names = _species_names(species)
    sources = {"data": _select(data, names), **{k: _select(v, names) for k, v in sims.items()}}

    def in_range(table: pd.DataFrame, lo: float, hi: float) -> np.ndarray:
        x = table[variable].to_numpy(dtype=np.float64)
        if variable == "theta":
            x = np.degrees(x)
        mask = (x >= lo) & (x < hi)
        return table["dedx"].to_numpy(dtype=np.float64)[mask]

    unit = "deg" if variable == "theta" else "GeV/$c$"
    symbol = r"\theta" if variable == "theta" else "p"
    with hep_style():
        ncols = len(ranges)
        fig = new_figure(figsize=(5.0 * ncols, 4.6))
        axes = fig.subplots(1, ncols, squeeze=False)[0]
        for ax, (lo, hi) in zip(axes, ranges):
            values = {name: in_range(t, lo, hi) for name, t in sources.items()}
            reference = values["data"] if values["data"].size else np.concatenate(list(values.values()))
            edges = _dedx_edges(reference, bins, n=50)
            centres = 0.5 * (edges[1:] + edges[:-1])
            n_data = values["data"].size
            counts, _ = np.histogram(np.clip(values["data"], edges[0], edges[-1]), edges)
            shown = counts > 0
            ax.errorbar(centres[shown], counts[shown], yerr=np.sqrt(counts[shown]),
                        label=f"data ({n_data})", **data_style())
            for i, name in enumerate(sims):
                v = values[name]
                if v.size == 0:
                    continue
                h, _ = np.histogram(np.clip(v, edges[0], edges[-1]), edges)
                scale = n_data / v.size if n_data else 1.0
                ax.stairs(h * scale, edges, label=name, linewidth=1.6, **sim_style(i))
            ax.set_yscale("log")
            ax.set_xlabel("dE/dx")
            ax.set_ylabel("tracks / bin")
            ax.set_title(
                rf"{_selection_label(species)}, ${lo:g} \leq {symbol} < {hi:g}$ {unit}",
                fontsize="small",
            )
            if n_data == 0:
                ax.text(0.5, 0.5, "no data tracks", transform=ax.transAxes, ha="center")
            ax.legend(fontsize="x-small")
        return save_figure(fig, path)


def plot_dedx_in_p_bins(
    data: pd.DataFrame,
    sims: Mapping[str, pd.DataFrame],
    path: str | os.PathLike,
    *,
    species: str | Sequence[str] | None = "K",
    p_ranges: Sequence[tuple[float, float]] = DEFAULT_P_RANGES,
    bins: int | Sequence[float] = 50,
) -> Path:
    """1D dE/dx distributions in momentum slices, one panel per slice, log y.

    Data are points with Poisson errors; simulations are step lines, scaled to the
    data's number of tracks in the slice (values beyond the bins land in the edge bins).

    Args:
        data: Reference track table.
        sims: Named simulated track tables.
        path: Output PNG path.
        species: Selection as in :func:`plot_dedx_vs_p`; default the kaons (K+ and K-).
        p_ranges: ``(low, high)`` momentum slices in GeV/c; default the paper's
            0.9–1.0, 1.1–1.2 and 1.3–1.4 GeV/c.
        bins: Number of dE/dx bins per panel (range from the data's 0.1%–99.9%
            quantiles) or common bin edges.

    Returns:
        The output path.
    """
    return _plot_dedx_slices(data, sims, path, variable="p", ranges=_check_ranges(p_ranges, "p_ranges"),
                             species=species, bins=bins)


def plot_dedx_in_theta_bins(
    data: pd.DataFrame,
    sims: Mapping[str, pd.DataFrame],
    path: str | os.PathLike,
    *,
    species: str | Sequence[str] | None = "K",
    theta_ranges: Sequence[tuple[float, float]] = DEFAULT_THETA_RANGES,
    bins: int | Sequence[float] = 50,
) -> Path:
    """1D dE/dx distributions in polar-angle slices, one panel per slice, log y.

    Args:
        data: Reference track table.
        sims: Named simulated track tables.
        path: Output PNG path.
        species: Selection as in :func:`plot_dedx_vs_p`; default the kaons.
        theta_ranges: ``(low, high)`` theta slices in degrees; default the paper's
            30–40, 50–60 and 90–100 deg.
        bins: As in :func:`plot_dedx_in_p_bins`.

    Returns:
        The output path.
    """
    return _plot_dedx_slices(data, sims, path, variable="theta",
                             ranges=_check_ranges(theta_ranges, "theta_ranges"),
                             species=species, bins=bins)


# ---------------------------------------------------------------------------------------
# PID efficiency and mis-identification
# ---------------------------------------------------------------------------------------

_RATE_COLUMNS = ("species", "bin_lo", "bin_hi", "n", "identified_as", "rate", "rate_err")


def _check_rates(table: pd.DataFrame, name: str) -> pd.DataFrame:
    if not isinstance(table, pd.DataFrame):
        raise ValueError(f"Rates {name!r} must be a DataFrame. Received: {type(table).__name__}")
    missing = [c for c in _RATE_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(
            f"Rates {name!r} lack column(s) {missing} (expected the output of "
            f"evaluation.pid.pid_rates). Received: columns={list(table.columns)}"
        )
    return table


def _channel(table: pd.DataFrame, species: str, identified_as: str) -> pd.DataFrame:
    sel = table[(table["species"].astype(str) == species) & (table["identified_as"] == identified_as)]
    return sel.sort_values("bin_lo")


def _ratio(sim: pd.DataFrame, ref: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Simulation/data ratio per common bin, errors combined as if uncorrelated."""
    merged = ref.merge(sim, on=["bin_lo", "bin_hi"], suffixes=("_d", "_s"))
    d = merged["rate_d"].to_numpy(dtype=np.float64)
    s = merged["rate_s"].to_numpy(dtype=np.float64)
    ed = merged["rate_err_d"].to_numpy(dtype=np.float64)
    es = merged["rate_err_s"].to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(d > 0, s / d, np.nan)
        err = np.where(d > 0, np.sqrt(es**2 + (r * ed) ** 2) / d, np.nan)
    x = 0.5 * (merged["bin_lo"].to_numpy() + merged["bin_hi"].to_numpy())
    return x, r, err


def _draw_channel(ax, ax_ratio, data_rates, sim_rates, species, identified_as, *, efficiency):
    ref = _channel(data_rates, species, identified_as)
    x = 0.5 * (ref["bin_lo"].to_numpy() + ref["bin_hi"].to_numpy())
    half = 0.5 * (ref["bin_hi"].to_numpy() - ref["bin_lo"].to_numpy())
    ax.errorbar(x, ref["rate"], yerr=ref["rate_err"], xerr=half, label="data", **data_style())
    ratios = []
    for i, (name, rates) in enumerate(sim_rates.items()):
        sim = _channel(rates, species, identified_as)
        style = sim_style(i)
        xs = 0.5 * (sim["bin_lo"].to_numpy() + sim["bin_hi"].to_numpy())
        ax.errorbar(xs, sim["rate"], yerr=sim["rate_err"], marker="s", markersize=4,
                    fillstyle="none", label=name, **style)
        rx, r, rerr = _ratio(sim, ref)
        ax_ratio.errorbar(rx, r, yerr=rerr, marker="s", markersize=3, fillstyle="none", **style)
        ratios.append(r[np.isfinite(r)])
    ax_ratio.axhline(1.0, color="black", linewidth=0.8)
    if efficiency:
        ax.set_ylim(0.0, 1.08)
        ax_ratio.set_ylim(0.8, 1.2)
    else:
        finite = np.concatenate(ratios) if ratios else np.empty(0)
        top = float(np.clip(np.max(finite) * 1.1, 1.5, 3.0)) if finite.size else 2.0
        ax_ratio.set_ylim(0.0, top)
        ax.set_ylim(bottom=0.0)
    title = (f"{species_label(species)} efficiency" if efficiency
             else f"{species_label(species)} as {_HYPOTHESIS_LABELS.get(identified_as, identified_as)}")
    ax.set_title(title, fontsize="small")
    ax.legend(fontsize="x-small")


def plot_pid_rates(
    data_rates: pd.DataFrame,
    sim_rates: Mapping[str, pd.DataFrame],
    path: str | os.PathLike,
    *,
    kind: str = "efficiency",
    variable: str = "p",
    species: str | Sequence[str] | None = None,
) -> Path:
    """PID efficiency or mis-ID rates of data and simulations with a sim/data ratio panel.

    One column per species; for ``kind="efficiency"`` one rate (identified as its own
    hypothesis) per column, for ``kind="misid"`` one row pair per wrong hypothesis
    (e.g. K as pi and K as p). Ratio errors treat data and simulation as uncorrelated.

    Args:
        data_rates: Rates of the data, the long table of ``evaluation.pid.pid_rates``.
        sim_rates: Named rate tables of the simulations (same binning).
        path: Output PNG path.
        kind: ``"efficiency"`` or ``"misid"``.
        variable: The binning variable of the tables, ``"p"`` or ``"cos_theta"`` (axis
            label only).
        species: Selection as in :func:`plot_dedx_vs_p`; ``None``: all species in
            ``data_rates``.

    Returns:
        The output path.
    """
    if kind not in ("efficiency", "misid"):
        raise ValueError(f"`kind` must be 'efficiency' or 'misid'. Received: kind={kind!r}")
    if variable not in _VARIABLES:
        raise ValueError(f"`variable` must be one of {_VARIABLES}. Received: variable={variable!r}")
    if not isinstance(sim_rates, Mapping):
        raise ValueError(f"`sim_rates` must be a mapping. Received: {type(sim_rates).__name__}")
    path = _check_path(path)
    _check_rates(data_rates, "data")
    for name, rates in sim_rates.items():
        _check_rates(rates, name)
    present = set(data_rates["species"].astype(str))
    names = _species_names(species)
    ordered = [s for s in HADRON_SPECIES if s in present] + sorted(present - set(HADRON_SPECIES))
    columns = [s for s in ordered if names is None or s in names]
    if not columns:
        raise ValueError(
            f"No rates for the selected species. Received: species={species!r}, "
            f"species in data_rates={sorted(present)}"
        )

    def channels(s: str) -> list[str]:
        own = SPECIES[s].hypothesis if s in SPECIES else s
        return [own] if kind == "efficiency" else [h for h in HYPOTHESES if h != own]

    n_rows = max(len(channels(s)) for s in columns)
    with hep_style():
        fig = new_figure(figsize=(3.8 * len(columns), 4.4 * n_rows))
        grid = fig.add_gridspec(2 * n_rows, len(columns), height_ratios=[3, 1] * n_rows)
        for col, s in enumerate(columns):
            for row, hyp in enumerate(channels(s)):
                ax = fig.add_subplot(grid[2 * row, col])
                ax_ratio = fig.add_subplot(grid[2 * row + 1, col], sharex=ax)
                ax.tick_params(labelbottom=False)
                _draw_channel(ax, ax_ratio, data_rates, sim_rates, s, hyp,
                              efficiency=kind == "efficiency")
                ax_ratio.set_xlabel(_VARIABLE_LABELS[variable])
                ax_ratio.set_ylabel("sim/data", fontsize="x-small")
                ax.set_ylabel("efficiency" if kind == "efficiency" else "mis-ID rate",
                              fontsize="small")
        return save_figure(fig, path)


def _rates_for(data, sims, *, variable, bins, calibration):
    from keras_fastsim.evaluation import pid

    if variable not in _VARIABLES:
        raise ValueError(f"`variable` must be one of {_VARIABLES}. Received: variable={variable!r}")
    _check_tables(data, sims)
    if bins is None:
        bins = DEFAULT_PID_P_BINS if variable == "p" else DEFAULT_PID_COS_BINS
    if calibration is None:
        calibration = pid.PidCalibration.fit(data)
    data_rates = pid.pid_rates(data, calibration, variable=variable, bins=bins)
    sim_rates = {name: pid.pid_rates(t, calibration, variable=variable, bins=bins)
                 for name, t in sims.items()}
    return data_rates, sim_rates


def plot_pid_efficiency(
    data: pd.DataFrame,
    sims: Mapping[str, pd.DataFrame],
    path: str | os.PathLike,
    *,
    variable: str = "p",
    bins: Sequence[float] | None = None,
    calibration=None,
    species: str | Sequence[str] | None = None,
) -> Path:
    """PID efficiency vs p or cos(theta) per species, data vs each simulation, with ratios.

    Args:
        data: Reference track table.
        sims: Named simulated track tables.
        path: Output PNG path.
        variable: ``"p"`` or ``"cos_theta"``.
        bins: Bin edges of ``variable`` (default :data:`DEFAULT_PID_P_BINS` or
            :data:`DEFAULT_PID_COS_BINS`).
        calibration: A fitted ``evaluation.pid.PidCalibration`` applied to all tables;
            ``None`` fits one on ``data``.
        species: Selection as in :func:`plot_dedx_vs_p`; ``None``: all.

    Returns:
        The output path.
    """
    data_rates, sim_rates = _rates_for(data, sims, variable=variable, bins=bins,
                                       calibration=calibration)
    return plot_pid_rates(data_rates, sim_rates, path, kind="efficiency", variable=variable,
                          species=species)


def plot_misid(
    data: pd.DataFrame,
    sims: Mapping[str, pd.DataFrame],
    path: str | os.PathLike,
    *,
    variable: str = "p",
    bins: Sequence[float] | None = None,
    calibration=None,
    species: str | Sequence[str] | None = None,
) -> Path:
    """Mis-identification rates (K as pi, K as p; pi as K, pi as p; p as pi, p as K).

    Same arguments as :func:`plot_pid_efficiency`.

    Returns:
        The output path.
    """
    data_rates, sim_rates = _rates_for(data, sims, variable=variable, bins=bins,
                                       calibration=calibration)
    return plot_pid_rates(data_rates, sim_rates, path, kind="misid", variable=variable,
                          species=species)
