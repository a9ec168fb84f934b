"""Validation of the JUNO fast simulation against the reference optical Monte Carlo.

The slides' validation (SPEC 2.1) and the issue's targets:

* a 1 MeV gamma (a point deposit of 1 MeV) on the Z axis at z = 10 m, at the centre and at
  R = 16 m (:data:`VALIDATION_POSITIONS`): the distribution of the total number of p.e. per event
  and of the hit times of all p.e., fast vs full. Metrics: the ratio of the mean total p.e.
  (target: within 2 %), its statistical error, the ratio of the widths, and the
  Wasserstein-1 distance [ns] and KS distance of the hit times (target W1 < 1 ns);
* n_pe and hit time versus theta at these R (per-PMT mean n_pe and mean hit time in theta bins);
* muon events: total p.e. and the first-hit time of every PMT versus the angle between the muon
  direction and the direction from the muon's entry point to the PMT.

The gamma and muon samples of the full simulation are stored as ``.npz`` files so that the
expensive part is made once (see ``experiments/juno_fastsim.py``). A second full-simulation
gamma sample per position with another seed (``full_gamma_<name>_control.npz``, when present)
gives the same metrics for full vs full: the statistical floor of each metric at this sample size
(:data:`CONTROL_SEED`).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from keras_fastsim.evaluation.metrics import (
    bin_index,
    check_bin_edges,
    ks_distance,
    wasserstein_1,
)

__all__ = [
    "VALIDATION_POSITIONS",
    "compare_gammas",
    "compare_muons",
    "evaluate_juno",
    "npe_closure",
    "simulate_fast_gammas",
    "simulate_fast_muons",
    "simulate_full_gammas",
    "simulate_full_muons",
    "theta_profiles",
]

VALIDATION_POSITIONS: dict[str, tuple[float, float, float]] = {
    "centre": (0.0, 0.0, 0.0),
    "z10": (0.0, 0.0, 10.0),
    "r16": (0.0, 0.0, 16.0),
}
"""The 1 MeV gamma positions [m] of the validation: centre, z = 10 m (the slides), R = 16 m."""

CONTROL_SEED = 12345
"""Seed of the control full-simulation gamma samples (full vs full, the metrics' noise floor)."""

THETA_BINS = np.linspace(0.0, np.pi, 37)
"""Theta bins [rad] of the n_pe and hit-time profiles."""

CLOSURE_R_EDGES = np.array([0.0, 4.0, 8.0, 12.0, 15.0, 15.5, 15.8, 15.95, 16.06, 16.2, 16.5, 17.0, 17.7])
"""R bins [m] of :func:`npe_closure` in the validation: fine near the vessel, where total internal
reflection at the acrylic starts at an impact parameter of 16.06 m."""

CLOSURE_THETA_EDGES = np.radians([0.0, 5.0, 10.0, 20.0, 30.0, 45.0, 60.0, 90.0, 180.0])
"""Theta bins [rad] of :func:`npe_closure` in the validation (fine near the PMT)."""


def _save(path: str | os.PathLike | None, arrays: dict[str, Any]) -> None:
    if path is None:
        return
    from keras_fastsim.io.atomic import atomic_path

    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)


def _gamma_arrays(sim, position, n_events: int, seed: int, progress: bool, **kwargs) -> dict[str, np.ndarray]:
    from keras_fastsim.reference.juno import _check_count

    n_events = _check_count(n_events, "n_events")
    root = np.random.SeedSequence(seed)
    totals = np.empty(n_events, np.int64)
    npe_sum = np.zeros(sim.n_pmt, np.float64)
    times, pmts = [], []
    it = range(n_events)
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(it, desc="1 MeV gammas", unit="event")
    t0 = time.perf_counter()
    for i in it:
        npe, (pmt, t) = sim.simulate_deposit(position, 1.0, np.random.SeedSequence(root.entropy, spawn_key=(i,)), **kwargs)
        totals[i] = npe.sum()
        npe_sum += npe
        times.append(np.asarray(t, np.float32))
        pmts.append(np.asarray(pmt, np.int32))
    return {
        "position": np.asarray(position, np.float64), "total_pe": totals, "npe_mean": npe_sum / n_events,
        "times": np.concatenate(times), "pmts": np.concatenate(pmts),
        "seconds_per_event": np.float64((time.perf_counter() - t0) / n_events),
    }


def simulate_full_gammas(sim, position, n_events: int, seed: int = 0, *, path=None, progress: bool = True) -> dict:
    """``n_events`` 1 MeV deposits at ``position`` with the full simulation ``sim``.

    Returns (and writes to ``path`` as ``.npz`` when given) ``total_pe (n,)``, ``npe_mean
    (n_pmt,)`` (mean p.e. per PMT), ``times``/``pmts`` (every p.e.), ``seconds_per_event``.
    """
    arrays = _gamma_arrays(sim, position, n_events, seed, progress)
    _save(path, arrays)
    return arrays


def simulate_fast_gammas(fast, position, n_events: int, seed: int = 0, *, npe_sampling: str = "generator",
                         path=None, progress: bool = False) -> dict:
    """As :func:`simulate_full_gammas` with a :class:`~keras_fastsim.simulation.JunoFastSimulator`."""
    arrays = _gamma_arrays(fast, position, n_events, seed, progress, npe_sampling=npe_sampling)
    _save(path, arrays)
    return arrays


def theta_profiles(arrays: dict, pmt_unit: np.ndarray, bins: np.ndarray = THETA_BINS) -> dict[str, np.ndarray]:
    """Per-PMT mean n_pe and mean / std hit time in theta bins for a gamma sample."""
    pos = np.asarray(arrays["position"], np.float64)
    r = np.linalg.norm(pos)
    axis = pos / r if r > 1e-9 else np.array([0.0, 0.0, 1.0])
    theta = np.arccos(np.clip(pmt_unit @ axis, -1.0, 1.0))
    b = np.clip(np.digitize(theta, bins) - 1, 0, len(bins) - 2)
    n_bin = np.bincount(b, minlength=len(bins) - 1)
    npe = np.bincount(b, weights=arrays["npe_mean"], minlength=len(bins) - 1) / np.maximum(n_bin, 1)
    hb = b[arrays["pmts"]]
    t = arrays["times"].astype(np.float64)
    cnt = np.bincount(hb, minlength=len(bins) - 1)
    mean_t = np.bincount(hb, weights=t, minlength=len(bins) - 1) / np.maximum(cnt, 1)
    sq = np.bincount(hb, weights=t * t, minlength=len(bins) - 1) / np.maximum(cnt, 1)
    std_t = np.sqrt(np.maximum(sq - mean_t**2, 0.0))
    mean_t[cnt == 0] = np.nan
    std_t[cnt == 0] = np.nan
    return {"theta_centres": 0.5 * (bins[1:] + bins[:-1]), "npe": npe, "time_mean": mean_t,
            "time_std": std_t, "hits": cnt}


def compare_gammas(full: dict, fast: dict, pmt_unit: np.ndarray) -> dict[str, Any]:
    """Metrics of a fast gamma sample against the full one (see the module docstring)."""
    mf, ms = full["total_pe"].mean(), fast["total_pe"].mean()
    err = ms / mf * np.sqrt(full["total_pe"].var() / len(full["total_pe"]) / mf**2
                            + fast["total_pe"].var() / len(fast["total_pe"]) / ms**2)
    pf, ps = theta_profiles(full, pmt_unit), theta_profiles(fast, pmt_unit)
    ok = (pf["hits"] > 50) & (ps["hits"] > 50)
    return {
        "total_pe_full": float(mf), "total_pe_fast": float(ms),
        "total_pe_ratio": float(ms / mf), "total_pe_ratio_err": float(err),
        "total_pe_std_ratio": float(fast["total_pe"].std() / full["total_pe"].std()),
        "hit_time_w1_ns": wasserstein_1(full["times"], fast["times"]),
        "hit_time_ks": ks_distance(full["times"], fast["times"]),
        "hit_time_mean_diff_ns": float(fast["times"].mean() - full["times"].mean()),
        "hit_time_median_diff_ns": float(np.median(fast["times"]) - np.median(full["times"])),
        "theta_profile_time_mean_abs_diff_ns": float(np.nanmean(np.abs(ps["time_mean"] - pf["time_mean"])[ok])),
        "full_seconds_per_event": float(full["seconds_per_event"]),
        "fast_seconds_per_event": float(fast["seconds_per_event"]),
    }


def _check_edges(edges: Any, name: str, lo: float, hi: float) -> np.ndarray:
    arr = check_bin_edges(edges, name)
    if arr[0] < lo - 1e-9 or arr[-1] > hi + 1e-3:
        raise ValueError(f"`{name}` must lie in [{lo}, {hi}]. Received: {name}=[{arr[0]:.4g}, ..., {arr[-1]:.4g}]")
    return arr


def npe_closure(net, conditions: Any, npe: Any, *, r_edges: Any = CLOSURE_R_EDGES,
                theta_edges: Any = CLOSURE_THETA_EDGES, max_rows_per_cell: int = 20000, seed: int = 0,
                num_nodes: int = 32) -> dict[str, np.ndarray]:
    """Closure test of NN_npe on (R, theta) cells: its noise-averaged mean over the rows' mean.

    In every cell of ``r_edges x theta_edges`` up to ``max_rows_per_cell`` rows are drawn (seeded)
    and the ratio ``sum(mu) / sum(npe)`` of the net's mean count ``mu = E_z[NN_npe]`` to the
    observed counts of the same rows is computed. On the training rows this shows where the net
    fails to fit its own data (the whole-event validation only sees three positions).

    Args:
        net: A :class:`~keras_fastsim.models.juno.JunoNpeNet` (anything with ``mean_npe``).
        conditions: ``(N, 2)`` rows ``(R [m], theta [rad])``.
        npe: ``(N,)`` observed p.e. counts of the rows (finite, non-negative).
        r_edges: Edges of the R bins [m], strictly increasing, within ``[0, 17.7]``.
        theta_edges: Edges of the theta bins [rad], strictly increasing, within ``[0, pi]``.
        max_rows_per_cell: Rows drawn per cell (all of them when fewer).
        seed: Seed of the row draw.
        num_nodes: Noise nodes of the mean (``JunoNpeNet.mean_npe``).

    Returns:
        ``ratio`` and ``error`` (its statistical error, the counts taken as Poisson), ``rows`` (rows
        used) and ``npe_sum`` per cell, shape ``(len(r_edges) - 1, len(theta_edges) - 1)``
        (NaN ratio where a cell has no counts), and the edges.

    Example:
        >>> res = npe_closure(net, table[["R", "theta"]].to_numpy(), table["npe"].to_numpy())
        >>> res["ratio"][-1]          # the cells nearest the vessel
    """
    from keras_fastsim.models.juno import check_conditions

    cond = check_conditions(conditions)
    y = np.asarray(npe, dtype=np.float64)
    if y.shape != (len(cond),):
        raise ValueError(f"`npe` must have shape (N,) = ({len(cond)},). Received: npe.shape={y.shape}")
    if not np.all(np.isfinite(y)) or (y.size and y.min() < 0):
        raise ValueError("`npe` must be finite and non-negative. Received: NaN, inf or negative counts")
    if isinstance(max_rows_per_cell, bool) or not isinstance(max_rows_per_cell, (int, np.integer)) \
            or max_rows_per_cell < 1:
        raise ValueError(f"`max_rows_per_cell` must be a positive integer. Received: max_rows_per_cell={max_rows_per_cell!r}")
    r_edges = _check_edges(r_edges, "r_edges", 0.0, 17.7)
    theta_edges = _check_edges(theta_edges, "theta_edges", 0.0, np.pi)
    n_r, n_t = len(r_edges) - 1, len(theta_edges) - 1
    rb, tb = bin_index(cond[:, 0], r_edges), bin_index(cond[:, 1], theta_edges)
    inside = (rb >= 0) & (tb >= 0)
    cell = np.where(inside, rb * n_t + tb, -1)
    rng = np.random.default_rng(seed)
    order = np.flatnonzero(inside)
    order = order[np.argsort(cell[order], kind="stable")]
    starts = np.searchsorted(cell[order], np.arange(n_r * n_t + 1))
    picked = []
    for c in range(n_r * n_t):
        idx = order[starts[c]:starts[c + 1]]
        if len(idx) > max_rows_per_cell:
            idx = rng.choice(idx, max_rows_per_cell, replace=False)
        picked.append(idx)
    picked = np.concatenate(picked)
    mu = net.mean_npe(cond[picked], num_nodes=num_nodes) if len(picked) else np.empty(0)
    size = n_r * n_t
    c = cell[picked]
    rows = np.bincount(c, minlength=size)
    y_sum = np.bincount(c, weights=y[picked], minlength=size)
    mu_sum = np.bincount(c, weights=np.asarray(mu, np.float64), minlength=size)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(y_sum > 0, mu_sum / y_sum, np.nan)
        error = np.where(y_sum > 0, ratio / np.sqrt(y_sum), np.nan)
    shape = (n_r, n_t)
    return {"ratio": ratio.reshape(shape), "error": error.reshape(shape), "rows": rows.reshape(shape),
            "npe_sum": y_sum.reshape(shape), "r_edges": r_edges, "theta_edges": theta_edges}


def _muon_track_from(arrays: dict, i: int):
    from keras_fastsim.reference.juno import sample_muon_tracks

    return sample_muon_tracks(int(arrays["n_tracks"]), int(arrays["track_seed"]))[i]


def simulate_full_muons(sim, n_muons: int, seed: int = 0, *, path=None, progress: bool = True) -> dict:
    """Full simulation of ``n_muons`` cosmic muons (``sample_muon_tracks(n_muons, seed)``).

    Returns (and writes) ``npe (n, n_pmt)``, ``first (n, n_pmt)``, ``seconds (n,)``, ``photons``,
    and the track parameters ``energy_gev, length_m, entry, direction``.
    """
    from keras_fastsim.reference.juno import sample_muon_tracks

    tracks = sample_muon_tracks(n_muons, seed)
    return _muon_arrays(tracks, seed, path, progress, lambda tr, s: sim.simulate_track(
        tr.points, tr.energies_mev, s, times=tr.times_ns, keep_hits=False, progress=progress))


def simulate_fast_muons(fast, track_seed: int, n_muons: int, seed: int = 0, *, path=None) -> dict:
    """Fast simulation of the muons ``sample_muon_tracks(n_muons, track_seed)`` (same tracks)."""
    from keras_fastsim.reference.juno import sample_muon_tracks

    tracks = sample_muon_tracks(n_muons, track_seed)
    arrays = _muon_arrays(tracks, seed, None, False, lambda tr, s: fast.simulate_muon(tr, s))
    arrays["track_seed"] = np.int64(track_seed)
    _save(path, arrays)
    return arrays


def _muon_arrays(tracks, seed, path, progress, run) -> dict:
    n_pmt = None
    npe, first, secs = [], [], []
    root = np.random.SeedSequence(seed + 1)
    for i, tr in enumerate(tracks):
        t0 = time.perf_counter()
        n, _, f = run(tr, np.random.SeedSequence(root.entropy, spawn_key=(i,)))
        secs.append(time.perf_counter() - t0)
        npe.append(n)
        first.append(f)
        n_pmt = len(n)
    arrays = {
        "npe": np.stack(npe).astype(np.int32), "first": np.stack(first).astype(np.float32),
        "seconds": np.asarray(secs), "n_tracks": np.int64(len(tracks)), "track_seed": np.int64(seed),
        "energy_gev": np.array([t.energy_gev for t in tracks]), "length_m": np.array([t.length_m for t in tracks]),
        "entry": np.stack([t.entry for t in tracks]), "direction": np.stack([t.direction for t in tracks]),
        "deposit_mev": np.array([t.energies_mev.sum() for t in tracks]), "n_pmt": np.int64(n_pmt),
    }
    _save(path, arrays)
    return arrays


def muon_pmt_angles(entry: np.ndarray, direction: np.ndarray, pmt_positions: np.ndarray) -> np.ndarray:
    """Angle [rad] between the muon direction and the direction from its entry point to each PMT."""
    v = pmt_positions - entry[None, :]
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return np.arccos(np.clip(v @ direction, -1.0, 1.0))


def compare_muons(full: dict, fast: dict, pmt_positions: np.ndarray, bins: np.ndarray = THETA_BINS) -> dict[str, Any]:
    """Total p.e. and first-hit-time pattern of fast vs full muon events (same tracks)."""
    out: dict[str, Any] = {"events": []}
    for i in range(len(full["npe"])):
        ang = muon_pmt_angles(full["entry"][i], full["direction"][i], pmt_positions)
        ff, fs = full["first"][i].astype(np.float64), fast["first"][i].astype(np.float64)
        both = np.isfinite(ff) & np.isfinite(fs)
        b = np.clip(np.digitize(ang, bins) - 1, 0, len(bins) - 2)
        prof = []
        for arr in (ff, fs):
            ok = np.isfinite(arr)
            s = np.bincount(b[ok], weights=arr[ok], minlength=len(bins) - 1)
            c = np.bincount(b[ok], minlength=len(bins) - 1)
            prof.append(np.where(c > 0, s / np.maximum(c, 1), np.nan))
        tot_f, tot_s = float(full["npe"][i].sum()), float(fast["npe"][i].sum())
        out["events"].append({
            "energy_gev": float(full["energy_gev"][i]), "length_m": float(full["length_m"][i]),
            "total_pe_full": tot_f, "total_pe_fast": tot_s, "total_pe_ratio": tot_s / tot_f,
            "pmt_npe_rel_rms": float(np.sqrt(np.mean((fast["npe"][i] - full["npe"][i]) ** 2))
                                     / np.mean(full["npe"][i])),
            "first_hit_w1_ns": wasserstein_1(ff[np.isfinite(ff)], fs[np.isfinite(fs)]),
            "first_hit_mean_diff_ns": float(np.mean(fs[both] - ff[both])),
            "first_hit_profile_abs_diff_ns": float(np.nanmean(np.abs(prof[1] - prof[0]))),
            "pmts_hit_full": int(np.isfinite(ff).sum()), "pmts_hit_fast": int(np.isfinite(fs).sum()),
            "full_seconds": float(full["seconds"][i]), "fast_seconds": float(fast["seconds"][i]),
            "profile_full": prof[0].tolist(), "profile_fast": prof[1].tolist(),
        })
    ev = out["events"]
    out["total_pe_ratio_mean"] = float(np.mean([e["total_pe_ratio"] for e in ev]))
    out["first_hit_w1_ns_mean"] = float(np.mean([e["first_hit_w1_ns"] for e in ev]))
    out["speedup"] = float(np.sum([e["full_seconds"] for e in ev]) / np.sum([e["fast_seconds"] for e in ev]))
    return out


def evaluate_juno(run_root: str | os.PathLike, figures_dir: str | os.PathLike, *, seed: int = 0,
                  n_fast_gamma: int | None = None) -> dict[str, Any]:
    """Fast vs full validation of the experiment layout ``run_root/{data,run_npe,run_time}``.

    Writes the figures and ``metrics.json`` into ``figures_dir`` and returns the metrics.
    """
    from keras_fastsim.physics.juno_vessel import DirectLightTable
    from keras_fastsim.plotting.juno import (
        plot_direct_light,
        plot_gamma_hit_times,
        plot_gamma_total_pe,
        plot_muon_first_hit,
        plot_muon_npe,
        plot_npe_closure,
        plot_theta_profiles,
    )
    from keras_fastsim.simulation.juno_fast import JunoFastSimulator, JunoResponseTables

    run_root, figures_dir = Path(run_root), Path(figures_dir)
    data = run_root / "data"
    tables_path = run_root / "tables.npz"
    tables = JunoResponseTables.load(tables_path) if tables_path.exists() else None
    fast = JunoFastSimulator.from_runs(run_root / "run_npe", run_root / "run_time", tables=tables)
    t0 = time.perf_counter()
    tables = fast.tables
    if not tables_path.exists():
        tables.save(tables_path)
    metrics: dict[str, Any] = {"gamma": {}, "tables": {
        "build_seconds": tables.build_seconds, "monotone_fraction": tables.monotone_fraction,
        "load_or_build_seconds_here": time.perf_counter() - t0}}
    profiles = {}
    for name in VALIDATION_POSITIONS:
        full = dict(np.load(data / f"full_gamma_{name}.npz"))
        n = n_fast_gamma or len(full["total_pe"])
        res = {}
        for sampling in ("generator", "poisson"):
            fast_arr = simulate_fast_gammas(fast, full["position"], n, seed=seed + 100, npe_sampling=sampling)
            res[sampling] = compare_gammas(full, fast_arr, fast.pmt_unit)
            if sampling == "generator":
                gen = fast_arr
        control = data / f"full_gamma_{name}_control.npz"
        if control.exists():
            res["control_full_vs_full"] = compare_gammas(full, dict(np.load(control)), fast.pmt_unit)
        metrics["gamma"][name] = res
        plot_gamma_total_pe(full["total_pe"], gen["total_pe"], name, figures_dir / f"gamma_{name}_total_pe.png")
        plot_gamma_hit_times(full["times"], gen["times"], name, figures_dir / f"gamma_{name}_hit_time.png")
        profiles[name] = (theta_profiles(full, fast.pmt_unit), theta_profiles(gen, fast.pmt_unit))
    plot_theta_profiles(profiles, figures_dir / "theta_profiles.png")
    rows = sorted(data.glob("train*_npe.parquet"))
    if rows:
        import pandas as pd

        table = pd.concat([pd.read_parquet(f, columns=["R", "theta", "npe"]) for f in rows], ignore_index=True)
        closure = npe_closure(fast.npe_model, table[["R", "theta"]].to_numpy(), table["npe"].to_numpy(), seed=seed)
        plot_npe_closure(closure, figures_dir / "npe_closure.png")
        plot_direct_light(DirectLightTable.compute(fast.npe_model.pmt_radius_m), figures_dir / "direct_light.png",
                          rows=(table["R"].to_numpy(), table["theta"].to_numpy(), table["npe"].to_numpy()))
        metrics["npe_closure"] = {"files": [f.name for f in rows],
                                  **{k: np.where(np.isfinite(v), v, None).tolist() for k, v in closure.items()}}
    muon_path = data / "full_muons.npz"
    if muon_path.exists():
        full_mu = dict(np.load(muon_path))
        fast.simulate_muon(_muon_track_from(full_mu, 0), 0)  # warm-up (tables, graph tracing)
        fast_mu = simulate_fast_muons(fast, int(full_mu["track_seed"]), int(full_mu["n_tracks"]), seed=seed + 200)
        mu = compare_muons(full_mu, fast_mu, fast.pmt_positions)
        metrics["muon"] = mu
        plot_muon_npe(mu, full_mu, fast_mu, figures_dir / "muon_total_pe.png")
        plot_muon_first_hit(mu, THETA_BINS, figures_dir / "muon_first_hit_vs_angle.png")
    g = metrics["gamma"]
    metrics["summary"] = {
        "total_pe_ratio_generator": {k: round(v["generator"]["total_pe_ratio"], 4) for k, v in g.items()},
        "total_pe_ratio_poisson": {k: round(v["poisson"]["total_pe_ratio"], 4) for k, v in g.items()},
        "hit_time_w1_ns": {k: round(v["generator"]["hit_time_w1_ns"], 3) for k, v in g.items()},
        "hit_time_w1_ns_poisson": {k: round(v["poisson"]["hit_time_w1_ns"], 3) for k, v in g.items()},
        "control_total_pe_ratio": {k: round(v["control_full_vs_full"]["total_pe_ratio"], 4)
                                   for k, v in g.items() if "control_full_vs_full" in v},
        "control_hit_time_w1_ns": {k: round(v["control_full_vs_full"]["hit_time_w1_ns"], 3)
                                   for k, v in g.items() if "control_full_vs_full" in v},
        "target_total_pe_within_2pct": bool(all(abs(v["generator"]["total_pe_ratio"] - 1) < 0.02 for v in g.values())),
        "target_hit_time_w1_below_1ns": bool(all(v["generator"]["hit_time_w1_ns"] < 1.0 for v in g.values())),
    }
    if "npe_closure" in metrics:
        precise = closure["error"] < 0.02
        metrics["summary"]["npe_closure_max_abs_dev"] = round(float(np.max(np.abs(closure["ratio"][precise] - 1.0),
                                                                             initial=0.0)), 3)
    if "muon" in metrics:
        metrics["summary"]["muon_total_pe_ratio"] = round(metrics["muon"]["total_pe_ratio_mean"], 4)
        metrics["summary"]["muon_speedup_full_over_fast"] = round(metrics["muon"]["speedup"], 1)
    from keras_fastsim.io.atomic import atomic_path

    figures_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(figures_dir / "metrics.json") as tmp:
        tmp.write_text(json.dumps(metrics, indent=2, default=float))
    return metrics
