"""Fidelity of generated calorimeter showers against reference showers (SPEC 2.4, 3).

Generic for 2D images ``(n, a, b[, 1])`` (BESIII EMC: ``(n, 11, 11, 1)``, axes phi, Z) and 3D
grids ``(n, a, b, c)`` (CEPC ECAL: ``(n, 30, 30, 29)``, axes Z, Y, layer). A trailing channel
axis of size 1 is dropped; every other axis is a spatial axis.

High-level features (:func:`shower_features`), per shower:

- ``E_total``: the summed energy;
- ``E3x3``, ``E5x5`` (``E{k}x{k}`` for each window ``k``): the energy in the ``k x k`` window
  of the *transverse* axes (default: the first two) centred on the hit cell (the grid centre,
  ``[5, 5]`` for BESIII), summed over the other axes; and their ratio ``E3x3_over_E5x5``;
- ``E_max``: the hottest cell; ``n_hit``: cells above the threshold; ``sparsity``: the
  fraction of cells at or below the threshold (CaloGAN's definition, 1 = empty);
- ``centroid_<axis>`` and ``rms_<axis>`` per axis: energy-weighted mean position and
  standard deviation, in cell units measured from the grid centre;
- ``second_moment``: the lateral second moment ``sum_i E_i r_i^2 / sum_i E_i`` in the
  transverse axes (cell units squared), ``r_i`` the distance of cell ``i`` from the
  energy-weighted centroid (the BESIII EMC reconstruction's shower shape variable, up to the
  crystal size).

Metrics (:func:`evaluate_showers`): per-feature separation power (the CaloChallenge 2022
measure, :func:`keras_fastsim.evaluation.metrics.separation_power`), Wasserstein-1 and KS
distances; the mean and width of ``E5x5`` per momentum bin for reference and generated
showers and their relative differences; a classifier AUC (reference vs generated,
:func:`keras_fastsim.evaluation.metrics.classifier_auc`) on the high-level features (with the
conditions) and on the raw cells (``log1p(E / 1 MeV)``), and, to show what it separates on,
per group of high-level features (:func:`feature_groups`) with and without the conditions.
When both samples share their conditions row by row (generated showers simulate the
reference's conditions), the classifier keeps each pair on one side of its train/test split
(``paired=True``).

Example:
    >>> hits, cond = read_besiii_emc("test.h5")
    >>> fake = gan.generate(cond, seed=1)
    >>> metrics = evaluate_showers(hits, cond, fake, "eval/")
    >>> metrics["classifier"]["high_level_auc"]
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
from keras_fastsim.io.showers import check_energies

__all__ = [
    "AXIS_NAMES_2D",
    "AXIS_NAMES_3D",
    "ShowerEvaluationError",
    "as_grid",
    "cell_energies",
    "classifier_scores",
    "compare_features",
    "evaluate_showers",
    "feature_groups",
    "headline",
    "momentum_bin_table",
    "profiles",
    "shower_features",
    "with_conditions",
]

AXIS_NAMES_2D: tuple[str, ...] = ("phi", "z")
"""Default axis names of 2D showers (BESIII ``Barrel_Hit``: row = phi, column = Z)."""
AXIS_NAMES_3D: tuple[str, ...] = ("z", "y", "layer")
"""Default axis names of 3D showers (CEPC ``Barrel_Hit``: dZ, dY, layer)."""
DEFAULT_WINDOWS: tuple[int, ...] = (3, 5)
CELL_ENERGY_SCALE_GEV = 1e-3
"""Energy unit of the ``log1p`` compression of the cells fed to the raw-cell classifier (1 MeV)."""
TARGETS: dict[str, float] = {"mean_rel": 0.01, "width_rel": 0.10, "high_level_auc": 0.75}
"""The issue's fidelity targets: |mean E5x5 diff| < 1 %, |width diff| < 10 % per momentum bin,
classifier AUC on high-level features < 0.75."""


CONDITION_PREFIX = "cond_"
"""Prefix of the condition columns beside the features in the classifier's input."""


class ShowerEvaluationError(ValueError):
    """Showers or conditions that cannot be evaluated (shape, NaN, negative energies)."""


# ------------------------------------------------------------------------------------------
# input checks
# ------------------------------------------------------------------------------------------


def as_grid(hits, name: str = "hits") -> np.ndarray:
    """Showers as a float64 ``(n, *spatial)`` array with 2 or 3 spatial axes.

    A trailing axis of size 1 (channels) is dropped when more than two spatial axes would
    remain, so ``(n, 11, 11, 1)`` becomes ``(n, 11, 11)`` while ``(n, 30, 30, 29)`` stays 3D.

    Raises:
        ShowerEvaluationError: on other ranks, empty samples, NaN/inf or negative energies.
    """
    arr = np.asarray(hits)
    if not np.issubdtype(arr.dtype, np.number):
        raise ShowerEvaluationError(f"`{name}` must be numeric. Received dtype {arr.dtype}")
    if arr.ndim >= 4 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (3, 4):
        raise ShowerEvaluationError(
            f"`{name}` must be (n, a, b[, 1]) images or (n, a, b, c) grids. "
            f"Received shape {np.shape(hits)}"
        )
    if arr.shape[0] == 0:
        raise ShowerEvaluationError(f"`{name}` holds no showers. Received shape {np.shape(hits)}")
    arr = arr.astype(np.float64, copy=False)
    check_energies(arr, what=f"`{name}`", error=ShowerEvaluationError, unit="")
    return arr


def _axis_names(grid: np.ndarray, axis_names: Sequence[str] | None) -> tuple[str, ...]:
    ndim = grid.ndim - 1
    if axis_names is None:
        return AXIS_NAMES_2D if ndim == 2 else AXIS_NAMES_3D
    names = tuple(str(a) for a in axis_names)
    if len(names) != ndim or len(set(names)) != ndim:
        raise ShowerEvaluationError(
            f"`axis_names` must name each of the {ndim} spatial axes once. "
            f"Received: axis_names={axis_names}"
        )
    return names


def _conditions_frame(conditions, n: int, name: str) -> pd.DataFrame | None:
    if conditions is None:
        return None
    if isinstance(conditions, pd.DataFrame):
        frame = conditions.reset_index(drop=True)
    else:
        arr = np.asarray(conditions, dtype=np.float64)
        if arr.ndim != 2:
            raise ShowerEvaluationError(
                f"`{name}` must be a DataFrame or an (n, n_conditions) array. "
                f"Received shape {arr.shape}"
            )
        from keras_fastsim.io.showers import BESIII_COLUMNS

        columns = list(BESIII_COLUMNS) if arr.shape[1] == len(BESIII_COLUMNS) else \
            [f"y{i}" for i in range(arr.shape[1])]
        frame = pd.DataFrame(arr, columns=columns)
    if len(frame) != n:
        raise ShowerEvaluationError(
            f"`{name}` has {len(frame)} rows but there are {n} showers"
        )
    try:
        values = frame.to_numpy(dtype=np.float64)
    except (TypeError, ValueError):
        raise ShowerEvaluationError(f"`{name}` must be numeric. Received {dict(frame.dtypes)}")
    if not np.isfinite(values).all():
        raise ShowerEvaluationError(f"`{name}` holds NaN/inf values")
    return frame


# ------------------------------------------------------------------------------------------
# features
# ------------------------------------------------------------------------------------------


def _window_slices(shape: Sequence[int], axes: Sequence[int], k: int, centre) -> tuple:
    slices = [slice(None)] * (len(shape) + 1)
    for ax in axes:
        c = int(centre[ax])
        half = k // 2
        slices[ax + 1] = slice(max(c - half, 0), min(c + half + 1, shape[ax]))
    return tuple(slices)


def shower_features(
    hits,
    *,
    axis_names: Sequence[str] | None = None,
    windows: Sequence[int] = DEFAULT_WINDOWS,
    transverse_axes: Sequence[int] = (0, 1),
    centre: Sequence[int] | None = None,
    threshold: float = 0.0,
) -> pd.DataFrame:
    """High-level features of each shower (see the module docstring).

    Args:
        hits: ``(n, a, b[, 1])`` or ``(n, a, b, c)`` energies (>= 0, finite).
        axis_names: Names of the spatial axes (default ``("phi", "z")`` for 2D,
            ``("z", "y", "layer")`` for 3D); they name the centroid/rms columns.
        windows: Odd window sizes ``k`` of the ``E{k}x{k}`` features.
        transverse_axes: Spatial axes spanned by the windows and the second moment.
        centre: Cell index of the hit per spatial axis (default: ``size // 2``).
        threshold: Cells above it count as hit (``n_hit``, ``sparsity``).

    Returns:
        DataFrame, one row per shower: ``E_total``, ``E{k}x{k}`` per window,
        ``E3x3_over_E5x5`` (when both windows exist), ``E_max``, ``n_hit``, ``sparsity``,
        ``centroid_<axis>``, ``rms_<axis>`` and ``second_moment``. Empty showers get
        centroid 0 and widths 0.
    """
    grid = as_grid(hits)
    names = _axis_names(grid, axis_names)
    shape = grid.shape[1:]
    ndim = len(shape)
    axes = tuple(int(a) for a in transverse_axes)
    if not axes or len(set(axes)) != len(axes) or min(axes) < 0 or max(axes) >= ndim:
        raise ShowerEvaluationError(
            f"`transverse_axes` must be distinct axes in [0, {ndim}). "
            f"Received: transverse_axes={transverse_axes}"
        )
    centre = tuple(s // 2 for s in shape) if centre is None else tuple(int(c) for c in centre)
    if len(centre) != ndim or any(not 0 <= c < s for c, s in zip(centre, shape)):
        raise ShowerEvaluationError(
            f"`centre` must give one cell index per axis within {shape}. Received: centre={centre}"
        )
    n = grid.shape[0]
    flat = grid.reshape(n, -1)
    total = flat.sum(axis=1)
    out: dict[str, np.ndarray] = {"E_total": total}
    for k in windows:
        k = int(k)
        if k < 1 or k % 2 == 0:
            raise ShowerEvaluationError(f"Windows must be odd and positive. Received: {windows}")
        out[f"E{k}x{k}"] = grid[_window_slices(shape, axes, k, centre)].reshape(n, -1).sum(axis=1)
    if "E3x3" in out and "E5x5" in out:
        e5 = out["E5x5"]
        out["E3x3_over_E5x5"] = np.divide(out["E3x3"], e5, out=np.zeros(n), where=e5 > 0)
    out["E_max"] = flat.max(axis=1)
    hit = flat > float(threshold)
    out["n_hit"] = hit.sum(axis=1).astype(np.float64)
    out["sparsity"] = 1.0 - hit.mean(axis=1)
    safe = np.where(total > 0, total, 1.0)
    second = np.zeros(n)
    for ax, name in enumerate(names):
        other = tuple(i + 1 for i in range(ndim) if i != ax)
        profile = grid.sum(axis=other)  # (n, size)
        x = np.arange(shape[ax], dtype=np.float64) - centre[ax]
        mean = profile @ x / safe
        var = profile @ (x**2) / safe - mean**2
        var = np.where(total > 0, np.maximum(var, 0.0), 0.0)
        out[f"centroid_{name}"] = np.where(total > 0, mean, 0.0)
        out[f"rms_{name}"] = np.sqrt(var)
        if ax in axes:
            second += var
    out["second_moment"] = second
    return pd.DataFrame(out)


def cell_energies(hits, threshold: float = 0.0) -> np.ndarray:
    """All cell energies above ``threshold`` (the hit-cell energy spectrum), flattened."""
    grid = as_grid(hits)
    values = grid.ravel()
    return values[values > float(threshold)]


def profiles(hits, *, axis_names: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Energy profiles along each spatial axis: ``{axis: (n, size)}`` (other axes summed)."""
    grid = as_grid(hits)
    names = _axis_names(grid, axis_names)
    ndim = grid.ndim - 1
    return {
        name: grid.sum(axis=tuple(i + 1 for i in range(ndim) if i != ax))
        for ax, name in enumerate(names)
    }


# ------------------------------------------------------------------------------------------
# metrics
# ------------------------------------------------------------------------------------------


def _common_edges(a: np.ndarray, b: np.ndarray, bins: int) -> np.ndarray | None:
    both = np.concatenate([a, b])
    lo, hi = np.quantile(both, [0.001, 0.999])
    if not hi > lo:
        lo, hi = both.min(), both.max()
    if not hi > lo:
        return None
    return np.linspace(lo, hi, int(bins) + 1)


def compare_features(
    reference: pd.DataFrame, generated: pd.DataFrame, *, bins: int = 50
) -> pd.DataFrame:
    """Per-feature separation power, W1 and KS distances of two feature tables.

    The histograms of the separation power share ``bins`` equal-width bins between the
    0.1 % and 99.9 % quantiles of the pooled samples (a few outliers cannot stretch them).
    ``w1_over_std`` is W1 divided by the reference's standard deviation (scale free).

    Returns:
        DataFrame indexed by feature: ``separation_power``, ``wasserstein_1``,
        ``w1_over_std``, ``ks``, ``mean_reference``, ``mean_generated``, ``std_reference``,
        ``std_generated``.
    """
    missing = [c for c in reference.columns if c not in generated.columns]
    if missing:
        raise ShowerEvaluationError(f"Generated features lack the columns {missing}")
    rows = {}
    for col in reference.columns:
        a = reference[col].to_numpy(np.float64)
        b = generated[col].to_numpy(np.float64)
        edges = _common_edges(a, b, bins)
        if edges is None:  # both samples constant and equal
            sep = 0.0
        else:
            try:
                sep = metrics.separation_power(a, b, bins=edges)
            except ValueError:  # one sample entirely outside the other's range
                sep = 1.0
        std = float(a.std())
        w1 = metrics.wasserstein_1(a, b)
        rows[col] = {
            "separation_power": sep,
            "wasserstein_1": w1,
            "w1_over_std": w1 / std if std > 0 else (0.0 if w1 == 0 else math.inf),
            "ks": metrics.ks_distance(a, b),
            "mean_reference": float(a.mean()),
            "mean_generated": float(b.mean()),
            "std_reference": std,
            "std_generated": float(b.std()),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def _sigma68(x: np.ndarray) -> float:
    lo, hi = np.quantile(x, [0.15865, 0.84135])
    return float(0.5 * (hi - lo))


RESPONSE_QUANTILES: tuple[float, ...] = (0.01, 0.05, 0.5, 0.95, 0.99)
"""Quantiles of the energy response reported by :func:`response_summary`."""


def response_summary(reference_response, generated_response) -> dict[str, Any]:
    """Shape of the energy response ``E_total / p``, reference vs generated.

    The response of a real calorimeter is skewed: an edge just below 1 (energy conservation)
    and a leakage tail below it. A generator can match the mean and the per-momentum means
    of E5x5 and still make a symmetric response that crosses 1, which these numbers show.

    Returns:
        ``{"reference": stats, "generated": stats, "ks": ..., "wasserstein_1": ...}``, each
        ``stats`` holding ``mean``, ``std``, ``skewness``, the quantiles ``q01 ... q99`` of
        :data:`RESPONSE_QUANTILES` and ``fraction_above_1``.
    """
    from scipy import stats as scipy_stats

    out: dict[str, Any] = {}
    samples = {"reference": np.asarray(reference_response, np.float64),
               "generated": np.asarray(generated_response, np.float64)}
    for key, r in samples.items():
        if r.ndim != 1 or len(r) < 2 or not np.isfinite(r).all():
            raise ShowerEvaluationError(
                f"The {key} response must be a finite 1D array of >= 2 values. "
                f"Received: shape={r.shape}"
            )
        row = {"mean": float(r.mean()), "std": float(r.std(ddof=1)),
               "skewness": float(scipy_stats.skew(r))}
        for q, v in zip(RESPONSE_QUANTILES, np.quantile(r, RESPONSE_QUANTILES)):
            row[f"q{round(100 * q):02d}"] = float(v)
        row["fraction_above_1"] = float((r > 1.0).mean())
        out[key] = row
    out["ks"] = metrics.ks_distance(samples["reference"], samples["generated"])
    out["wasserstein_1"] = metrics.wasserstein_1(samples["reference"], samples["generated"])
    return out


def momentum_bin_table(
    reference_values,
    reference_momentum,
    generated_values,
    generated_momentum,
    edges: Sequence[float],
    *,
    min_count: int = 10,
) -> pd.DataFrame:
    """Mean and width of a feature per momentum bin, reference vs generated.

    Args:
        reference_values: Feature per reference shower (e.g. ``E5x5``).
        reference_momentum: Momentum per reference shower.
        generated_values: Feature per generated shower.
        generated_momentum: Momentum (condition) per generated shower.
        edges: Increasing momentum bin edges.
        min_count: Bins with fewer showers in either sample get NaN differences.

    Returns:
        One row per bin: ``p_low``, ``p_high``, ``n_reference``, ``n_generated``,
        ``mean_reference``, ``mean_generated``, ``mean_rel`` (generated / reference - 1),
        ``mean_rel_error`` (statistical uncertainty of ``mean_rel``), ``std_reference``,
        ``std_generated``, ``width_rel`` (ratio of standard deviations - 1),
        ``width_rel_error`` (its statistical uncertainty, from each sample's fourth moment),
        and the same for the robust width ``sigma68`` (half the central 68 % interval):
        ``sigma68_reference``, ``sigma68_generated``, ``sigma68_rel``.
    """
    edges = metrics.check_bin_edges(edges, "edges")
    ref_v = np.asarray(reference_values, np.float64)
    gen_v = np.asarray(generated_values, np.float64)
    ref_b = metrics.bin_index(reference_momentum, edges)
    gen_b = metrics.bin_index(generated_momentum, edges)
    rows = []
    for i in range(len(edges) - 1):
        a, b = ref_v[ref_b == i], gen_v[gen_b == i]
        row: dict[str, Any] = {"p_low": float(edges[i]), "p_high": float(edges[i + 1]),
                               "n_reference": len(a), "n_generated": len(b)}
        ok = len(a) >= min_count and len(b) >= min_count
        nan = float("nan")
        ma, mb = (float(a.mean()), float(b.mean())) if ok else (nan, nan)
        sa, sb = (float(a.std(ddof=1)), float(b.std(ddof=1))) if ok else (nan, nan)
        ra, rb = (_sigma68(a), _sigma68(b)) if ok else (nan, nan)
        row.update({
            "mean_reference": ma, "mean_generated": mb,
            "mean_rel": mb / ma - 1.0 if ok and ma != 0 else nan,
            "mean_rel_error": (math.sqrt(sa**2 / len(a) + sb**2 / len(b)) / abs(ma)
                               if ok and ma != 0 else nan),
            "std_reference": sa, "std_generated": sb,
            "width_rel": sb / sa - 1.0 if ok and sa > 0 else nan,
            "width_rel_error": (sb / sa * math.hypot(_std_rel_error(a), _std_rel_error(b))
                                if ok and sa > 0 and sb > 0 else nan),
            "sigma68_reference": ra, "sigma68_generated": rb,
            "sigma68_rel": rb / ra - 1.0 if ok and ra > 0 else nan,
        })
        rows.append(row)
    return pd.DataFrame(rows)


def _std_rel_error(x: np.ndarray) -> float:
    """Relative standard error of a sample's standard deviation, ``sqrt((m4/s^4 - 1)/(4n))``
    (delta method; ``1/sqrt(2n)`` for a Gaussian, larger for a tailed response)."""
    centred = x - x.mean()
    var = float(np.mean(centred**2))
    return math.sqrt(max(float(np.mean(centred**4)) / var**2 - 1.0, 0.0) / (4 * len(x)))


def feature_groups(columns: Sequence[str]) -> dict[str, list[str]]:
    """The columns of :func:`shower_features` by what they describe.

    ``energies`` (``E_total``, ``E{k}x{k}``, ``E_max``), ``centroids`` (``centroid_*``),
    ``widths`` (``rms_*``, ``second_moment``, ``E3x3_over_E5x5``) and ``hit count``
    (``n_hit``, ``sparsity``); other columns (e.g. the conditions) are left out, and so are
    empty groups.
    """
    groups: dict[str, list[str]] = {"energies": [], "centroids": [], "widths": [],
                                    "hit count": []}
    for column in columns:
        if column.startswith("centroid_"):
            groups["centroids"].append(column)
        elif column.startswith("rms_") or column in ("second_moment", "E3x3_over_E5x5"):
            groups["widths"].append(column)
        elif column in ("n_hit", "sparsity"):
            groups["hit count"].append(column)
        elif column in ("E_total", "E_max") or (
                column.startswith("E") and column[1:].replace("x", "", 1).isdigit()):
            groups["energies"].append(column)
    return {name: cols for name, cols in groups.items() if cols}


def with_conditions(features: pd.DataFrame, conditions: pd.DataFrame) -> pd.DataFrame:
    """The conditions, named ``cond_<column>``, beside the features: the classifier's input."""
    return pd.concat([conditions.add_prefix(CONDITION_PREFIX), features], axis=1)


def classifier_scores(
    ref_features: pd.DataFrame,
    gen_features: pd.DataFrame,
    ref_grid: np.ndarray | None = None,
    gen_grid: np.ndarray | None = None,
    *,
    paired: bool = False,
    seed: int = 0,
    max_samples: int = 100_000,
    max_cells: int = 4096,
    groups: bool = True,
) -> dict[str, Any]:
    """Classifier AUCs, reference vs generated: high-level features and raw cells.

    The raw-cell classifier sees ``log1p(E / 1 MeV)`` of every cell; grids with more than
    ``max_cells`` cells are summed over their last axis first (3D grids: per-layer
    projections) to bound the cost, which the result records under ``cells_input``.

    With ``groups`` the high-level classifier is also trained on each group of
    :func:`feature_groups` alone, with the condition columns (those named
    ``cond_*``) and without, and on all features without the conditions (under
    ``high_level_auc_without_conditions`` and ``groups``): a group whose AUC rises with the
    conditions is wrong in how it depends on them, not in its overall distribution.
    """
    out: dict[str, Any] = {"paired": bool(paired)}

    def auc(columns: Sequence[str]) -> float:
        return metrics.classifier_auc(ref_features[list(columns)], gen_features[list(columns)],
                                      seed=seed, paired=paired, max_samples=max_samples)

    out["high_level_auc"] = auc(ref_features.columns)
    out["high_level_features"] = list(ref_features.columns)
    if groups:
        conditions = [c for c in ref_features.columns if c.startswith(CONDITION_PREFIX)]
        features = [c for c in ref_features.columns if c not in conditions]
        if conditions:
            out["high_level_auc_without_conditions"] = auc(features)
        out["groups"] = {
            name: {"features": cols,
                   "auc_with_conditions": auc(conditions + cols) if conditions else None,
                   "auc_without_conditions": auc(cols)}
            for name, cols in feature_groups(features).items()
        }
    if ref_grid is not None and gen_grid is not None:
        a, b = ref_grid, gen_grid
        what = "all cells"
        if a[0].size > max_cells and a.ndim > 3:
            a, b = a.sum(axis=-1), b.sum(axis=-1)
            what = "cells summed over the last axis"
        a = np.log1p(a.reshape(len(a), -1) / CELL_ENERGY_SCALE_GEV)
        b = np.log1p(b.reshape(len(b), -1) / CELL_ENERGY_SCALE_GEV)
        out["cells_auc"] = metrics.classifier_auc(
            a, b, seed=seed, paired=paired, max_samples=max_samples
        )
        out["cells_input"] = f"{what}, log1p(E / 1 MeV), {a.shape[1]} features"
    return out


# ------------------------------------------------------------------------------------------
# the report
# ------------------------------------------------------------------------------------------


def _json_safe(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_json_safe(v) for v in (value.tolist() if isinstance(value, np.ndarray) else value)]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def default_momentum_edges(momentum: np.ndarray, n_bins: int = 5) -> np.ndarray:
    """``n_bins`` equal momentum bins from the range of ``momentum`` rounded out to 0.1."""
    momentum = np.asarray(momentum, np.float64)
    lo, hi = float(momentum.min()), float(momentum.max())
    if not hi > lo:
        return np.array([lo - 0.5, hi + 0.5])
    lo, hi = math.floor(lo * 10) / 10, math.ceil(hi * 10) / 10
    return np.round(np.linspace(lo, hi, n_bins + 1), 6)


def _write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def _write_csv(path: Path, table: pd.DataFrame, index: bool = False) -> None:
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=index)


def evaluate_showers(
    ref_hits,
    ref_conditions,
    gen_hits,
    out_dir: str | os.PathLike,
    *,
    gen_conditions=None,
    momentum_column: str | None = "Mom",
    momentum_bins: Sequence[float] | None = None,
    feature: str = "E5x5",
    targets: Mapping[str, float] | None = None,
    axis_names: Sequence[str] | None = None,
    windows: Sequence[int] = DEFAULT_WINDOWS,
    transverse_axes: Sequence[int] = (0, 1),
    seed: int = 0,
    classifier: bool = True,
    classifier_max_samples: int = 100_000,
    plots: bool = True,
    n_displays: int = 3,
    name: str = "GAN",
    energy_unit: str = "GeV",
) -> dict[str, Any]:
    """Compares generated showers with reference showers; writes metrics, tables, figures.

    Files written into ``out_dir`` (each atomically): ``metrics.json``, ``features.csv``
    (per-feature distances), ``momentum_bins.csv`` (the ``feature`` per momentum bin), the
    figures of :mod:`keras_fastsim.plotting.showers` (``plots=True``) and ``report.md``.

    Args:
        ref_hits: Reference showers ``(n, a, b[, 1])`` or ``(n, a, b, c)``.
        ref_conditions: Their conditions (DataFrame, or array whose column
            ``momentum_column`` is found by name for BESIII's 6 columns), or ``None``
            (no momentum bins, classifier without conditions).
        gen_hits: Generated showers, same cell shape.
        out_dir: Output directory.
        gen_conditions: The generated showers' conditions; ``None`` means they simulate
            ``ref_conditions`` row by row (then both samples must have the same length).
        momentum_column: Condition column binned for the per-momentum table (``None``:
            no per-momentum table).
        momentum_bins: Momentum bin edges (default: 5 equal bins over the reference range,
            rounded outwards to 0.1).
        feature: High-level feature of the per-momentum-bin table (``E5x5``).
        targets: Overrides of :data:`TARGETS` (keys ``mean_rel``, ``width_rel``,
            ``high_level_auc``), e.g. the CEPC ECAL issue's AUC goal 0.8.
        axis_names, windows, transverse_axes: See :func:`shower_features`.
        seed: Seed of the classifiers and of the choice of displayed showers.
        classifier: Whether to run the classifier tests (the slowest part).
        classifier_max_samples: At most this many showers of each sample train/test a classifier.
        plots: Whether to draw the figures.
        n_displays: Showers shown in the side-by-side displays.
        name: Label of the generated sample in figures and report.
        energy_unit: Unit of the energies, for labels.

    Returns:
        The content of ``metrics.json`` (NaN written as ``null``).

    Raises:
        ShowerEvaluationError: on mismatched shapes, NaN/inf or negative energies, or
            conditions that do not match the showers.
    """
    ref = as_grid(ref_hits, "ref_hits")
    gen = as_grid(gen_hits, "gen_hits")
    if ref.shape[1:] != gen.shape[1:]:
        raise ShowerEvaluationError(
            "Reference and generated showers must have the same cell shape. "
            f"Received: {np.shape(ref_hits)} and {np.shape(gen_hits)}"
        )
    ref_cond = _conditions_frame(ref_conditions, len(ref), "ref_conditions")
    paired = gen_conditions is None and ref_cond is not None
    if paired:
        if len(gen) != len(ref):
            raise ShowerEvaluationError(
                "Without `gen_conditions` the generated showers must simulate the reference "
                f"conditions row by row. Received: {len(ref)} reference and {len(gen)} "
                "generated showers"
            )
        gen_cond = ref_cond
    else:
        gen_cond = _conditions_frame(gen_conditions, len(gen), "gen_conditions")
    if (ref_cond is None) != (gen_cond is None):
        raise ShowerEvaluationError("Give conditions for both samples or for neither")
    if ref_cond is not None and list(ref_cond.columns) != list(gen_cond.columns):
        raise ShowerEvaluationError(
            f"Condition columns differ: {list(ref_cond.columns)} vs {list(gen_cond.columns)}"
        )
    goals = {**TARGETS, **(targets or {})}
    names = _axis_names(ref, axis_names)
    kwargs = {"axis_names": names, "windows": windows, "transverse_axes": transverse_axes}
    ref_f = shower_features(ref, **kwargs)
    gen_f = shower_features(gen, **kwargs)
    if feature not in ref_f.columns:
        raise ShowerEvaluationError(
            f"Unknown `feature` {feature!r}; the features are {list(ref_f.columns)}"
        )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    distances = compare_features(ref_f, gen_f)
    # the cell-energy spectrum (hit cells) as one more distribution
    ref_cells, gen_cells = cell_energies(ref), cell_energies(gen)
    cell_row = None
    if len(ref_cells) and len(gen_cells):
        la, lb = np.log10(ref_cells), np.log10(gen_cells)
        edges = _common_edges(la, lb, 50)
        cell_row = {
            "separation_power": (0.0 if edges is None else
                                 metrics.separation_power(la, lb, bins=edges)),
            "wasserstein_1": metrics.wasserstein_1(ref_cells, gen_cells),
            "ks": metrics.ks_distance(ref_cells, gen_cells),
            "n_reference": len(ref_cells), "n_generated": len(gen_cells),
        }
    _write_csv(out_dir / "features.csv", distances.rename_axis("feature"), index=True)

    momentum = response = responses = None
    if ref_cond is not None and momentum_column is not None and \
            momentum_column in ref_cond.columns:
        ref_p = ref_cond[momentum_column].to_numpy(np.float64)
        gen_p = gen_cond[momentum_column].to_numpy(np.float64)
        if (ref_p > 0).all() and (gen_p > 0).all():
            responses = (ref_f["E_total"].to_numpy(np.float64) / ref_p,
                         gen_f["E_total"].to_numpy(np.float64) / gen_p)
            response = response_summary(*responses)
        edges = (default_momentum_edges(ref_p) if momentum_bins is None
                 else metrics.check_bin_edges(momentum_bins, "momentum_bins"))
        table = momentum_bin_table(ref_f[feature], ref_p, gen_f[feature], gen_p, edges)
        _write_csv(out_dir / "momentum_bins.csv", table)
        valid = table.dropna(subset=["mean_rel", "width_rel"])
        momentum = {
            "column": momentum_column,
            "feature": feature,
            "edges": list(edges),
            "bins": table.to_dict(orient="records"),
            "max_abs_mean_rel": float(valid["mean_rel"].abs().max()) if len(valid) else None,
            "max_abs_width_rel": float(valid["width_rel"].abs().max()) if len(valid) else None,
            "max_abs_sigma68_rel": (float(valid["sigma68_rel"].abs().max())
                                    if len(valid) else None),
        }
        momentum["mean_within_target"] = bool(
            len(valid) and momentum["max_abs_mean_rel"] < goals["mean_rel"]
        )
        momentum["width_within_target"] = bool(
            len(valid) and momentum["max_abs_width_rel"] < goals["width_rel"]
        )

    scores = None
    if classifier:
        hl_ref, hl_gen = ref_f, gen_f
        if ref_cond is not None:
            hl_ref = with_conditions(ref_f, ref_cond)
            hl_gen = with_conditions(gen_f, gen_cond)
        scores = classifier_scores(
            hl_ref, hl_gen, ref, gen, paired=paired, seed=seed,
            max_samples=classifier_max_samples,
        )
        scores["high_level_within_target"] = bool(
            scores["high_level_auc"] < goals["high_level_auc"]
        )

    figures: dict[str, str] = {}
    if plots:
        from keras_fastsim.plotting import showers as shower_plots

        figures = shower_plots.plot_shower_report(
            ref, gen, ref_f, gen_f, out_dir, axis_names=names, momentum_table=(
                pd.DataFrame(momentum["bins"]) if momentum else None),
            n_displays=n_displays, seed=seed, name=name, energy_unit=energy_unit,
            feature=feature, responses=responses,
        )

    result = {
        "n_reference": len(ref),
        "n_generated": len(gen),
        "cell_shape": list(ref.shape[1:]),
        "axis_names": list(names),
        "paired_conditions": bool(paired),
        "name": name,
        "features": {k: dict(v) for k, v in distances.to_dict(orient="index").items()},
        "cell_energy": cell_row,
        "mean_separation_power": float(distances["separation_power"].mean()),
        "momentum_bins": momentum,
        "response": response,
        "classifier": scores,
        "targets": dict(goals),
        "files": {**figures, "metrics": "metrics.json", "features": "features.csv",
                  **({"momentum_bins": "momentum_bins.csv"} if momentum else {}),
                  "report": "report.md"},
    }
    result = _json_safe(result)
    with atomic_path(out_dir / "metrics.json") as tmp:
        tmp.write_text(json.dumps(result, indent=2, sort_keys=False))
    _write_text(out_dir / "report.md", _report_markdown(result, figures))
    return result


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def _pct(value: Any) -> str:
    return "-" if value is None else f"{100 * value:+.2f} %"


def _err(value: Any) -> str:
    return "-" if value is None else f"{100 * value:.2f} %"


def _report_markdown(result: Mapping[str, Any], figures: Mapping[str, str]) -> str:
    goals = {**TARGETS, **(result.get("targets") or {})}
    lines = [f"# Shower fidelity: {result['name']} vs reference", "",
             f"{result['n_reference']} reference and {result['n_generated']} generated showers, "
             f"cells {' x '.join(map(str, result['cell_shape']))} "
             f"(axes {', '.join(result['axis_names'])}); conditions "
             f"{'shared row by row' if result['paired_conditions'] else 'independent'}.", ""]
    mom = result.get("momentum_bins")
    if mom:
        lines += [f"## {mom['feature']} per {mom['column']} bin", "",
                  f"Targets: |mean diff| < {100 * goals['mean_rel']:.0f} %, "
                  f"|width diff| < {100 * goals['width_rel']:.0f} % in every bin.", "",
                  "| bin | n | mean ref | mean gen | mean diff | ± stat | std ref | std gen "
                  "| width diff | ± stat | sigma68 diff |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for row in mom["bins"]:
            lines.append(
                f"| {row['p_low']:.2f}-{row['p_high']:.2f} | {row['n_reference']} | "
                f"{_fmt(row['mean_reference'])} | {_fmt(row['mean_generated'])} | "
                f"{_pct(row['mean_rel'])} | {_err(row['mean_rel_error'])} | "
                f"{_fmt(row['std_reference'])} | {_fmt(row['std_generated'])} | "
                f"{_pct(row['width_rel'])} | {_err(row.get('width_rel_error'))} | "
                f"{_pct(row['sigma68_rel'])} |"
            )
        lines += ["", f"Largest |mean diff| {_pct(mom['max_abs_mean_rel'])} "
                  f"({'within' if mom['mean_within_target'] else 'outside'} target); largest "
                  f"|width diff| {_pct(mom['max_abs_width_rel'])} "
                  f"({'within' if mom['width_within_target'] else 'outside'} target).", ""]
    resp = result.get("response")
    if resp:
        keys = ["mean", "std", "skewness"] + [f"q{round(100 * q):02d}" for q in RESPONSE_QUANTILES]
        keys.append("fraction_above_1")
        lines += ["## Energy response E_total / p", "",
                  "| sample | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
        for sample in ("reference", "generated"):
            lines.append(f"| {sample} | "
                         + " | ".join(_fmt(resp[sample][k]) for k in keys) + " |")
        lines += ["", f"KS {_fmt(resp['ks'])}, W1 {_fmt(resp['wasserstein_1'])}.", ""]
    clf = result.get("classifier")
    if clf:
        lines += ["## Classifier test (reference vs generated)", "",
                  f"- AUC on high-level features (with conditions): "
                  f"**{clf['high_level_auc']:.4f}** (target < {goals['high_level_auc']}; "
                  f"{'met' if clf['high_level_within_target'] else 'not met'})"]
        if clf.get("high_level_auc_without_conditions") is not None:
            lines.append(f"- the same without the conditions: "
                         f"{clf['high_level_auc_without_conditions']:.4f}")
        if clf.get("cells_auc") is not None:
            lines.append(f"- AUC on raw cells ({clf['cells_input']}): **{clf['cells_auc']:.4f}**")
        lines += ["- 0.5 = indistinguishable; CaloChallenge 2022: best flows/diffusion ~0.53-0.63, "
                  "GANs ~0.93 (low-level).", ""]
        if clf.get("groups"):
            lines += ["What the high-level classifier separates on: the same classifier on each "
                      "feature group alone (a group whose AUC rises with the conditions depends "
                      "on them wrongly).", "",
                      "| feature group | features | AUC with conditions | AUC without |",
                      "|---|---|---|---|"]
            lines += [f"| {name} | {', '.join(g['features'])} | "
                      f"{_fmt(g['auc_with_conditions'])} | {_fmt(g['auc_without_conditions'])} |"
                      for name, g in clf["groups"].items()]
            lines.append("")
    lines += ["## Per-feature distances", "",
              "| feature | mean ref | mean gen | std ref | std gen | separation power | W1 "
              "| W1/std | KS |", "|---|---|---|---|---|---|---|---|---|"]
    for feat, row in result["features"].items():
        lines.append(
            f"| {feat} | {_fmt(row['mean_reference'])} | {_fmt(row['mean_generated'])} | "
            f"{_fmt(row['std_reference'])} | {_fmt(row['std_generated'])} | "
            f"{_fmt(row['separation_power'])} | {_fmt(row['wasserstein_1'])} | "
            f"{_fmt(row['w1_over_std'])} | {_fmt(row['ks'])} |"
        )
    cell = result.get("cell_energy")
    if cell:
        lines += ["", f"Hit-cell energy spectrum: separation power (log10 E) "
                  f"{_fmt(cell['separation_power'])}, W1 {_fmt(cell['wasserstein_1'])}, "
                  f"KS {_fmt(cell['ks'])}."]
    lines.append(f"\nMean separation power over the features: "
                 f"{_fmt(result['mean_separation_power'])}.")
    if figures:
        lines += ["", "## Figures", ""]
        for key, path in figures.items():
            lines += [f"### {key.replace('_', ' ')}", "", f"![{key}]({path})", ""]
    lines += ["", "All numbers: `metrics.json`, `features.csv`, `momentum_bins.csv`.", ""]
    return "\n".join(lines)


def headline(result: Mapping[str, Any]) -> dict[str, Any]:
    """The few numbers to print: momentum-bin extremes, AUCs, mean separation power."""
    mom = result.get("momentum_bins") or {}
    clf = result.get("classifier") or {}
    return {
        "max_abs_mean_rel": mom.get("max_abs_mean_rel"),
        "max_abs_width_rel": mom.get("max_abs_width_rel"),
        "high_level_auc": clf.get("high_level_auc"),
        "cells_auc": clf.get("cells_auc"),
        "mean_separation_power": result.get("mean_separation_power"),
    }
