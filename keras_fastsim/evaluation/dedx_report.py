"""Fidelity report of dE/dx simulations against data (arXiv:2401.02692, sec. 4).

:func:`evaluate_dedx` compares the ``dedx`` column of one or more simulations with the
data, track by track conditions being identical (each simulation simulates the data's
tracks: same species, p, theta, nhits, row by row). It measures

- the Wasserstein-1 and KS distances of dE/dx per (species, p, cos(theta)) bin, and their
  unweighted and track-weighted means;
- the separation power of the dE/dx histogram of each species;
- the PID efficiency and mis-identification rates vs p and vs cos(theta), with one PID
  calibration (fitted on the data unless given) applied to data and all simulations, the
  per-bin differences simulation - data and their largest magnitude over bins with enough
  tracks;
- the ROC AUC of a classifier trained to tell data from simulation on
  (p, theta, nhits, dedx), per species, each track's data and simulated versions kept on
  the same side of the train/test split (see ``metrics.classifier_auc(paired=True)``);

and writes ``metrics.json``, the per-bin tables (CSV), the figures of
:mod:`keras_fastsim.plotting.dedx` and a ``report.md`` into the output directory.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from keras_fastsim.evaluation import metrics
from keras_fastsim.io.atomic import atomic_path
from keras_fastsim.io.tables import validate_tracks
from keras_fastsim.physics.species import HADRON_SPECIES, SPECIES

DEFAULT_P_BINS: tuple[float, ...] = tuple(np.round(np.arange(0.1, 2.0001, 0.1), 10))
"""Momentum bin edges [GeV/c]: 0.1 GeV/c wide from 0.1 to 2.0 (the control samples' range)."""

DEFAULT_COS_BINS: tuple[float, ...] = tuple(np.round(np.linspace(-0.93, 0.93, 17), 10))
"""cos(theta) bin edges: 16 bins over the barrel |cos(theta)| < 0.93 (as the baseline)."""

CLASSIFIER_FEATURES: tuple[str, ...] = ("p", "theta", "nhits", "dedx")
"""Features of the data-vs-simulation classifier test."""

HYPOTHESES: tuple[str, ...] = ("pi", "K", "p")

_CONDITION_COLUMNS = ("species", "p", "theta", "nhits")


def _json_safe(value: Any) -> Any:
    """Converts numpy scalars/arrays, tuples and NaN/inf to plain JSON (NaN/inf -> None)."""
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_json_safe(v) for v in (value.tolist() if isinstance(value, np.ndarray) else value)]
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer, int)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    return value


def _check_conditions(data: pd.DataFrame, sim: pd.DataFrame, name: str) -> None:
    if len(sim) != len(data):
        raise ValueError(
            f"Simulation {name!r} must simulate the data's tracks row by row. "
            f"Received: len(data)={len(data)}, len(sims[{name!r}])={len(sim)}"
        )
    for col in _CONDITION_COLUMNS:
        a = data[col].to_numpy()
        b = sim[col].to_numpy()
        if col == "species" or col == "nhits":
            differ = a != b
        else:  # tolerate float32 storage of the conditions
            differ = ~np.isclose(a, b, rtol=1e-6, atol=1e-9)
        if differ.any():
            first = int(np.flatnonzero(differ)[0])
            raise ValueError(
                f"Simulation {name!r} does not have the data's conditions: column {col!r} "
                f"differs in {int(differ.sum())} row(s), first at row {first}. "
                f"Received: data[{col!r}][{first}]={a[first]!r}, "
                f"sims[{name!r}][{col!r}][{first}]={b[first]!r}"
            )


def _species_order(table: pd.DataFrame) -> list[str]:
    present = set(table["species"].astype(str))
    return [s for s in HADRON_SPECIES if s in present] + sorted(present - set(HADRON_SPECIES))


def _hypothesis(species: str) -> str:
    return SPECIES[species].hypothesis if species in SPECIES else species


def compare_rates(
    data_rates: pd.DataFrame, sim_rates: pd.DataFrame
) -> pd.DataFrame:
    """Per-bin PID rate differences simulation - data.

    Args:
        data_rates: Rates of the data (``evaluation.pid.pid_rates`` long format).
        sim_rates: Rates of a simulation with the same binning.

    Returns:
        One row per (species, bin, identified_as) with ``n_data``, ``n_sim``,
        ``rate_data``, ``rate_sim``, ``rate_err_data``, ``rate_err_sim``, ``diff``
        (sim - data), ``diff_err`` (uncorrelated errors in quadrature) and ``kind``
        (``"efficiency"`` when identified as the species' own hypothesis, else
        ``"misid"``).
    """
    keys = ["species", "bin_lo", "bin_hi", "identified_as"]
    merged = data_rates[keys + ["n", "rate", "rate_err"]].merge(
        sim_rates[keys + ["n", "rate", "rate_err"]], on=keys, how="outer",
        suffixes=("_data", "_sim"),
    )
    merged["diff"] = merged["rate_sim"] - merged["rate_data"]
    merged["diff_err"] = np.hypot(merged["rate_err_sim"], merged["rate_err_data"])
    own = merged["species"].astype(str).map(_hypothesis)
    merged["kind"] = np.where(merged["identified_as"] == own, "efficiency", "misid")
    return merged.sort_values(keys, kind="stable").reset_index(drop=True)


def _max_abs_diff(table: pd.DataFrame, min_tracks: int) -> dict[str, Any]:
    """Largest |diff| per species and kind over bins with >= min_tracks data tracks."""
    out: dict[str, Any] = {}
    for kind in ("efficiency", "misid"):
        sel = table[(table["kind"] == kind) & (table["n_data"] >= min_tracks)]
        sel = sel[np.isfinite(sel["diff"])]
        per_species = {}
        for s in _species_order(table):
            d = sel.loc[sel["species"] == s, "diff"].abs()
            per_species[s] = float(d.max()) if len(d) else float("nan")
        out[kind] = {
            "max_abs_diff": float(sel["diff"].abs().max()) if len(sel) else float("nan"),
            "per_species": per_species,
            "n_bins": len(sel),
        }
    return out


def _separation_powers(data: pd.DataFrame, sim: pd.DataFrame, species: list[str]) -> dict:
    out = {}
    for s in species:
        a = data.loc[data["species"] == s, "dedx"].to_numpy()
        b = sim.loc[sim["species"] == s, "dedx"].to_numpy()
        if a.size < 2 or b.size < 2:
            out[s] = float("nan")
            continue
        lo, hi = np.quantile(a, [0.001, 0.999])
        if hi <= lo:
            hi = lo + 1.0
        edges = np.linspace(lo, hi, 101)
        # Over- and underflow go to the edge bins so that tails count.
        out[s] = metrics.separation_power(np.clip(a, lo, hi), np.clip(b, lo, hi), bins=edges)
    return out


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:.{digits}g}" if isinstance(value, float) else str(value)


def _write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _write_csv(path: Path, table: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)


def evaluate_dedx(
    data: pd.DataFrame,
    sims: Mapping[str, pd.DataFrame],
    out_dir: str | os.PathLike,
    *,
    p_bins: Sequence[float] = DEFAULT_P_BINS,
    cos_bins: Sequence[float] = DEFAULT_COS_BINS,
    calibration=None,
    min_count: int = 50,
    min_tracks_for_max: int = 1000,
    seed: int = 0,
    classifier_max_samples: int = 100_000,
    classifier_max_iter: int = 200,
    plots: bool = True,
) -> dict[str, Any]:
    """Evaluates dE/dx simulations against data and writes the report into ``out_dir``.

    Args:
        data: Data track table (``species``, ``p``, ``theta``, ``nhits``, ``dedx``).
        sims: Named simulations of the data's tracks (same rows and conditions, ``dedx``
            simulated), e.g. ``{"flow": df_flow, "histogram": df_hist}``; the order is the
            order of the figures and tables.
        out_dir: Output directory (created).
        p_bins: Momentum bin edges [GeV/c] of the per-bin distances and PID rates.
        cos_bins: cos(theta) bin edges of the per-bin distances and PID rates.
        calibration: A fitted ``evaluation.pid.PidCalibration``; ``None`` fits one on
            ``data``. The same calibration is applied to data and all simulations.
        min_count: Minimum tracks of a (species, p, cos) bin, in data and simulation, for
            its W1/KS to be computed.
        min_tracks_for_max: Minimum data tracks of a PID bin for it to enter the maximum
            |efficiency difference|.
        seed: Seed of the classifier test.
        classifier_max_samples: At most this many tracks of each of data and simulation
            per species train and test the classifier.
        classifier_max_iter: Boosting iterations of the classifier.
        plots: Whether to draw the figures (``report.md`` embeds them when drawn).

    Returns:
        The content of ``metrics.json`` (JSON-safe; NaN written as ``null``) with
        ``"files"`` listing the written files by role.

    Raises:
        ValueError: on invalid tables (missing columns, NaN/inf values including NaN
            dE/dx, unknown species), a simulation whose length or conditions differ from
            the data's (the message names it), or invalid arguments.
    """
    if not isinstance(sims, Mapping) or not sims:
        raise ValueError(f"`sims` must be a non-empty mapping of name to table. Received: sims={sims!r}")
    for name in sims:
        if not isinstance(name, str) or not name or name == "data":
            raise ValueError(
                f"Simulation names must be non-empty strings other than 'data'. Received: name={name!r}"
            )
    if int(min_tracks_for_max) != min_tracks_for_max or min_tracks_for_max < 1:
        raise ValueError(
            f"`min_tracks_for_max` must be an integer >= 1. Received: min_tracks_for_max={min_tracks_for_max}"
        )
    p_edges = metrics.check_bin_edges(p_bins, "p_bins")
    cos_edges = metrics.check_bin_edges(cos_bins, "cos_bins")
    out_dir = Path(out_dir)

    data = validate_tracks(data, source="data")
    checked = {}
    for name, sim in sims.items():
        if not isinstance(sim, pd.DataFrame):
            raise ValueError(f"Simulation {name!r} must be a DataFrame. Received: {type(sim).__name__}")
        sim = validate_tracks(sim, source=f"simulation {name!r}")
        _check_conditions(data, sim, name)
        checked[name] = sim
    sims = checked
    species = _species_order(data)

    from keras_fastsim.evaluation import pid

    if calibration is None:
        calibration = pid.PidCalibration.fit(data)

    # Per-bin distances.
    binned = []
    results: dict[str, Any] = {}
    for name, sim in sims.items():
        table = metrics.binned_distances(data, sim, p_bins=p_edges, cos_bins=cos_edges,
                                         min_count=min_count)
        summary = metrics.summarize_distances(table)
        summary_species = {
            s: metrics.summarize_distances(table[table["species"] == s]) for s in species
        }
        results[name] = {
            "wasserstein_1": {**summary["wasserstein_1"],
                              "per_species": {s: v["wasserstein_1"] for s, v in summary_species.items()}},
            "ks": {**summary["ks"], "per_species": {s: v["ks"] for s, v in summary_species.items()}},
            "separation_power": _separation_powers(data, sim, species),
            "per_bin": table.to_dict(orient="records"),
        }
        binned.append(table.assign(sim=name))
    binned_table = pd.concat(binned, ignore_index=True)

    # PID rates.
    pid_bins = {"p": p_edges, "cos_theta": cos_edges}
    data_rates, sim_rates, comparisons = {}, {}, []
    for variable, edges in pid_bins.items():
        data_rates[variable] = pid.pid_rates(data, calibration, variable=variable, bins=edges)
        sim_rates[variable] = {}
        for name, sim in sims.items():
            rates = pid.pid_rates(sim, calibration, variable=variable, bins=edges)
            sim_rates[variable][name] = rates
            comparison = compare_rates(data_rates[variable], rates)
            comparisons.append(comparison.assign(sim=name, variable=variable))
            results[name].setdefault("pid", {})[variable] = {
                **_max_abs_diff(comparison, min_tracks_for_max),
                "per_bin": comparison.to_dict(orient="records"),
            }
    comparison_table = pd.concat(comparisons, ignore_index=True)
    rates_table = pd.concat(
        [r.assign(source="data", variable=v) for v, r in data_rates.items()]
        + [r.assign(source=n, variable=v) for v, d in sim_rates.items() for n, r in d.items()],
        ignore_index=True,
    )

    # Classifier test per species.
    for name, sim in sims.items():
        aucs = {}
        for s in species:
            mask = (data["species"] == s).to_numpy()
            if mask.sum() < 50:
                aucs[s] = float("nan")
                continue
            aucs[s] = metrics.classifier_auc(
                data.loc[mask, list(CLASSIFIER_FEATURES)],
                sim.loc[mask, list(CLASSIFIER_FEATURES)],
                seed=seed, max_samples=classifier_max_samples, max_iter=classifier_max_iter,
                paired=True,
            )
        finite = [v for v in aucs.values() if math.isfinite(v)]
        results[name]["classifier_auc"] = {
            "per_species": aucs,
            "mean": float(np.mean(finite)) if finite else float("nan"),
            "max": float(np.max(finite)) if finite else float("nan"),
        }

    out_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    for key, table in (("binned_distances", binned_table), ("pid_rates", rates_table),
                       ("pid_comparison", comparison_table)):
        _write_csv(out_dir / f"{key}.csv", table)
        files[key] = f"{key}.csv"

    figures: dict[str, str] = {}
    if plots:
        figures = _draw_figures(data, sims, out_dir, data_rates, sim_rates, species)
    files.update({f"figure_{k}": v for k, v in figures.items()})

    to_dict = getattr(calibration, "to_dict", None)
    result = {
        "n_tracks": len(data),
        "n_tracks_per_species": {s: int((data["species"] == s).sum()) for s in species},
        "species": species,
        "p_bins": p_edges,
        "cos_bins": cos_edges,
        "min_count": int(min_count),
        "min_tracks_for_max": int(min_tracks_for_max),
        "seed": int(seed),
        "classifier_features": list(CLASSIFIER_FEATURES),
        "calibration": to_dict() if callable(to_dict) else None,
        "sims": results,
        "files": {**files, "metrics": "metrics.json", "report": "report.md"},
    }
    result = _json_safe(result)
    with atomic_path(out_dir / "metrics.json") as tmp:
        tmp.write_text(json.dumps(result, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    _write_text(out_dir / "report.md", _report_markdown(result, figures))
    return result


def _draw_figures(data, sims, out_dir, data_rates, sim_rates, species) -> dict[str, str]:
    from keras_fastsim.plotting import dedx as plots

    figures: dict[str, str] = {}

    def draw(key: str, fn, *args, **kwargs) -> None:
        fn(*args, out_dir / f"{key}.png", **kwargs)
        figures[key] = f"{key}.png"

    draw("dedx_vs_p", plots.plot_dedx_vs_p, data, sims)
    draw("dedx_vs_theta", plots.plot_dedx_vs_theta, data, sims)
    hypotheses = [h for h in HYPOTHESES if any(_hypothesis(s) == h for s in species)]
    for h in hypotheses:
        draw(f"dedx_p_slices_{h}", plots.plot_dedx_in_p_bins, data, sims, species=h)
        draw(f"dedx_theta_slices_{h}", plots.plot_dedx_in_theta_bins, data, sims, species=h)
    for variable in ("p", "cos_theta"):
        for kind in ("efficiency", "misid"):
            draw(f"pid_{kind}_vs_{variable}", plots.plot_pid_rates, data_rates[variable],
                 sim_rates[variable], kind=kind, variable=variable)
    return figures


def _report_markdown(result: Mapping[str, Any], figures: Mapping[str, str]) -> str:
    sims = result["sims"]
    species = result["species"]
    lines = [
        "# dE/dx simulation vs data",
        "",
        f"{result['n_tracks']} data tracks ("
        + ", ".join(f"{s}: {n}" for s, n in result["n_tracks_per_species"].items())
        + f"); simulations: {', '.join(sims)}. One PID calibration, fitted on the data, "
        "is applied to all tables.",
        "",
        "## Headline numbers",
        "",
        f"W1 and KS: means over (species, p, cos theta) bins with >= {result['min_count']} "
        "tracks (weighted: by data tracks). PID: largest |sim - data| over bins with >= "
        f"{result['min_tracks_for_max']} data tracks. AUC: data-vs-simulation classifier "
        "on (p, theta, nhits, dedx), mean over species (0.5 = indistinguishable).",
        "",
        "| simulation | W1 mean | W1 weighted | KS mean | KS weighted | W1/KS bins | AUC mean "
        "| max abs Δeff (p) | max abs Δeff (cos θ) | max abs Δmis-ID (p) "
        "| max abs Δmis-ID (cos θ) | PID bins (p / cos θ) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in sims.items():
        pid = r["pid"]
        w1, ks = r["wasserstein_1"], r["ks"]
        lines.append(
            f"| {name} | {_fmt(w1['mean'])} | {_fmt(w1['weighted_mean'])} "
            f"| {_fmt(ks['mean'])} | {_fmt(ks['weighted_mean'])} | {w1['n_bins']} "
            f"| {_fmt(r['classifier_auc']['mean'])} "
            f"| {_fmt(pid['p']['efficiency']['max_abs_diff'])} "
            f"| {_fmt(pid['cos_theta']['efficiency']['max_abs_diff'])} "
            f"| {_fmt(pid['p']['misid']['max_abs_diff'])} "
            f"| {_fmt(pid['cos_theta']['misid']['max_abs_diff'])} "
            f"| {pid['p']['efficiency']['n_bins']} / {pid['cos_theta']['efficiency']['n_bins']} |"
        )
    lines += ["", "A dash: no bin had enough tracks (raise the statistics or widen the bins)."]
    lines += ["", "## Per species", "",
              "| simulation | quantity | " + " | ".join(species) + " |",
              "|---|---|" + "---|" * len(species)]
    for name, r in sims.items():
        rows = [
            ("W1 weighted", {s: v["weighted_mean"] for s, v in r["wasserstein_1"]["per_species"].items()}),
            ("KS weighted", {s: v["weighted_mean"] for s, v in r["ks"]["per_species"].items()}),
            ("separation power", r["separation_power"]),
            ("classifier AUC", r["classifier_auc"]["per_species"]),
            ("max abs Δeff (p)", r["pid"]["p"]["efficiency"]["per_species"]),
            ("max abs Δeff (cos θ)", r["pid"]["cos_theta"]["efficiency"]["per_species"]),
        ]
        for label, values in rows:
            lines.append(f"| {name} | {label} | " + " | ".join(_fmt(values.get(s)) for s in species) + " |")
    if figures:
        lines += ["", "## Figures", ""]
        for key, file in figures.items():
            lines += [f"### {key.replace('_', ' ')}", "", f"![{key}]({file})", ""]
    lines += ["", "Per-bin tables: `binned_distances.csv`, `pid_rates.csv`, `pid_comparison.csv`; "
              "all numbers: `metrics.json`.", ""]
    return "\n".join(lines)


def headline(metrics: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The headline numbers of :func:`evaluate_dedx` per simulation.

    Returns:
        ``{sim: {"w1_weighted": ..., "ks_weighted": ..., "auc_mean": ...,
        "max_abs_deff_p": ..., "max_abs_deff_cos_theta": ...}}`` (``None`` where no bin
        had enough tracks).
    """
    out = {}
    for name, sim in metrics["sims"].items():
        out[name] = {
            "w1_mean": sim["wasserstein_1"]["mean"],
            "w1_weighted": sim["wasserstein_1"]["weighted_mean"],
            "ks_weighted": sim["ks"]["weighted_mean"],
            "auc_mean": sim["classifier_auc"]["mean"],
            "max_abs_deff_p": sim["pid"]["p"]["efficiency"]["max_abs_diff"],
            "max_abs_deff_cos_theta": sim["pid"]["cos_theta"]["efficiency"]["max_abs_diff"],
        }
    return out

