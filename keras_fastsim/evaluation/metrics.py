"""Generic fidelity metrics: how close is a generated sample to its reference?

These are the yardsticks of all models of the package (dE/dx flows and nets, calorimeter
GANs), following the CaloChallenge 2022 evaluation (Krause et al., arXiv:2410.21611):

- :func:`wasserstein_1` and :func:`ks_distance`: one-dimensional distances between two
  samples (``scipy.stats``).
- :func:`separation_power`: ``0.5 * sum_i (h1_i - h2_i)^2 / (h1_i + h2_i)`` of the two
  normalised histograms on a common binning; 0 for identical, 1 for disjoint histograms.
- :func:`classifier_auc`: the ROC AUC of a classifier trained to tell reference from
  generated samples (0.5: indistinguishable).
- :func:`binned_distances`: W1 and KS of a value (e.g. dE/dx) per (species, p, cos(theta))
  condition bin of a track table.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from keras_fastsim.physics.species import HADRON_SPECIES


def _as_1d(x, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 2 and arr.shape[1] == 1:  # a column vector
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"`{name}` must be one-dimensional. Received: {name}.shape={arr.shape}")
    if arr.size == 0:
        raise ValueError(f"`{name}` must not be empty. Received: {name}.size=0")
    if not np.all(np.isfinite(arr)):
        raise ValueError(
            f"`{name}` must hold finite values. Received: {name} with "
            f"{int((~np.isfinite(arr)).sum())} NaN/inf value(s)"
        )
    return arr


def wasserstein_1(a, b) -> float:
    """Wasserstein-1 (earth mover's) distance between two one-dimensional samples.

    In the units of the samples: the W1 of a sample and the same sample shifted by
    ``c`` is ``|c|``.

    Args:
        a: First sample, array-like of shape ``(n,)``.
        b: Second sample, array-like of shape ``(m,)``.

    Returns:
        The distance, >= 0.

    Raises:
        ValueError: on empty, multi-dimensional or non-finite input.
    """
    return float(stats.wasserstein_distance(_as_1d(a, "a"), _as_1d(b, "b")))


def ks_distance(a, b) -> float:
    """Kolmogorov–Smirnov distance: the largest difference of the two empirical CDFs.

    Args:
        a: First sample, array-like of shape ``(n,)``.
        b: Second sample, array-like of shape ``(m,)``.

    Returns:
        The KS statistic in ``[0, 1]``.

    Raises:
        ValueError: on empty, multi-dimensional or non-finite input.
    """
    return float(stats.ks_2samp(_as_1d(a, "a"), _as_1d(b, "b")).statistic)


def separation_power_from_histograms(h1, h2) -> float:
    """Separation power of two histograms on the same binning (CaloChallenge measure).

    Each histogram is normalised to unit sum, then
    ``0.5 * sum_i (h1_i - h2_i)^2 / (h1_i + h2_i)`` over bins with content.

    Args:
        h1: Bin contents (counts or weights >= 0) of the first histogram.
        h2: Bin contents of the second histogram, same shape as ``h1``.

    Returns:
        The separation power in ``[0, 1]``: 0 for identical shapes, 1 for disjoint ones.

    Raises:
        ValueError: on shape mismatch, negative or non-finite contents, or an empty
            (all-zero) histogram.
    """
    h1 = np.asarray(h1, dtype=np.float64)
    h2 = np.asarray(h2, dtype=np.float64)
    if h1.shape != h2.shape:
        raise ValueError(
            f"Histograms must have the same binning. Received: h1.shape={h1.shape}, "
            f"h2.shape={h2.shape}"
        )
    for name, h in (("h1", h1), ("h2", h2)):
        if not np.all(np.isfinite(h)) or np.any(h < 0):
            raise ValueError(f"`{name}` must hold finite contents >= 0. Received: {name}={h}")
        if h.sum() <= 0:
            raise ValueError(f"`{name}` is empty. Received: sum({name})={h.sum()}")
    h1 = h1 / h1.sum()
    h2 = h2 / h2.sum()
    total = h1 + h2
    filled = total > 0
    return float(0.5 * np.sum((h1[filled] - h2[filled]) ** 2 / total[filled]))


def separation_power(a, b, bins: int | Sequence[float] = 50) -> float:
    """Separation power of two samples histogrammed on a common binning.

    Args:
        a: First sample, array-like of shape ``(n,)``.
        b: Second sample, array-like of shape ``(m,)``.
        bins: Number of equal-width bins spanning both samples, or the bin edges
            (increasing). Values outside explicit edges are not counted.

    Returns:
        The separation power in ``[0, 1]`` (see
        :func:`separation_power_from_histograms`).

    Raises:
        ValueError: on invalid samples or bins, or when no value of a sample falls in
            the bins.
    """
    a = _as_1d(a, "a")
    b = _as_1d(b, "b")
    if np.ndim(bins) == 0:
        if int(bins) != bins or bins < 1:
            raise ValueError(f"`bins` must be a positive integer or edges. Received: bins={bins}")
        lo = min(a.min(), b.min())
        hi = max(a.max(), b.max())
        if hi <= lo:
            hi = lo + 1.0
        edges = np.linspace(lo, hi, int(bins) + 1)
    else:
        edges = check_bin_edges(bins, "bins")
    h1, _ = np.histogram(a, edges)
    h2, _ = np.histogram(b, edges)
    return separation_power_from_histograms(h1, h2)


def _as_features(x, name: str, columns: Sequence[str] | None = None) -> np.ndarray:
    if isinstance(x, pd.DataFrame):
        if columns is not None:
            missing = [c for c in columns if c not in x.columns]
            if missing:
                raise ValueError(
                    f"`{name}` lacks the reference's feature columns {missing}. "
                    f"Received: columns={list(x.columns)}"
                )
            x = x[list(columns)]
        try:
            arr = x.to_numpy(dtype=np.float64)
        except (ValueError, TypeError):
            raise ValueError(
                f"`{name}` must hold numeric features. Received: dtypes={dict(x.dtypes)}"
            ) from None
    else:
        arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(
            f"`{name}` must have shape (n_samples, n_features). Received: {name}.shape={arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"`{name}` must hold finite values. Received: NaN/inf in {name}")
    return arr


def classifier_auc(
    reference,
    generated,
    *,
    seed: int = 0,
    test_fraction: float = 0.3,
    max_samples: int = 200_000,
    max_iter: int = 200,
    paired: bool = False,
    n_threads: int | None = None,
) -> float:
    """ROC AUC of a classifier trained to tell generated from reference samples.

    A ``sklearn.ensemble.HistGradientBoostingClassifier`` is trained on a stratified
    ``1 - test_fraction`` share of the pooled samples (label 0: reference, 1: generated)
    and its AUC is measured on the rest. The raw AUC is returned (not symmetrised):
    0.5 means the classifier cannot tell the samples apart; values far from 0.5 (in
    practice above it) mean it can. CaloChallenge 2022 reference points: ~0.53–0.63 for
    the best flows and diffusion models, ~0.93 for GANs (low-level features).

    Args:
        reference: Reference features, shape ``(n, d)`` or ``(n,)``; a DataFrame's
            columns define the features (``generated`` must contain them).
        generated: Generated features, shape ``(m, d)`` or ``(m,)``.
        seed: Seed of the subsampling, the train/test split and the classifier.
        test_fraction: Share of the pooled samples held out for the AUC, in ``(0, 1)``.
        max_samples: At most this many samples of each of the two sets are used
            (random subsample), to bound the cost.
        max_iter: Boosting iterations of the classifier (it stops early on large
            samples when its validation loss stalls).
        paired: Whether row ``i`` of ``generated`` simulates the same conditions as
            row ``i`` of ``reference`` (e.g. a simulation of the data's own tracks, with
            only the generated quantity differing). The pairs are then kept together
            on one side of the train/test split. Without this, a classifier that sees
            the conditions memorises which exact condition values were "reference" in
            training and its test AUC falls below 0.5 even for a perfect simulation.
        n_threads: OpenMP threads of the classifier; ``None``: one thread below
            50,000 training samples (where thread start-up dominates, and worse on a
            busy machine), the library's default above.

    Returns:
        The test-set ROC AUC in ``[0, 1]``.

    Raises:
        ValueError: on invalid arguments, mismatched feature counts, non-finite values,
            fewer than 10 samples in either set, or ``paired`` samples of different
            lengths.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split
    from threadpoolctl import threadpool_limits

    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"`test_fraction` must be in (0, 1). Received: test_fraction={test_fraction}")
    if max_samples < 10:
        raise ValueError(f"`max_samples` must be >= 10. Received: max_samples={max_samples}")
    if max_iter < 1:
        raise ValueError(f"`max_iter` must be >= 1. Received: max_iter={max_iter}")
    columns = list(reference.columns) if isinstance(reference, pd.DataFrame) else None
    x_ref = _as_features(reference, "reference")
    x_gen = _as_features(generated, "generated", columns)
    if x_ref.shape[1] != x_gen.shape[1]:
        raise ValueError(
            "`reference` and `generated` must have the same number of features. "
            f"Received: reference.shape={x_ref.shape}, generated.shape={x_gen.shape}"
        )
    for name, x in (("reference", x_ref), ("generated", x_gen)):
        if len(x) < 10:
            raise ValueError(f"`{name}` needs at least 10 samples. Received: {len(x)} samples")

    rng = np.random.default_rng(seed)
    if paired:
        if len(x_ref) != len(x_gen):
            raise ValueError(
                "`paired=True` needs samples of equal length. Received: "
                f"len(reference)={len(x_ref)}, len(generated)={len(x_gen)}"
            )
        pairs = rng.permutation(len(x_ref))[:max_samples]
        n_test = min(max(int(round(test_fraction * len(pairs))), 5), len(pairs) - 5)
        test_pairs, train_pairs = pairs[:n_test], pairs[n_test:]
        x_train = np.concatenate([x_ref[train_pairs], x_gen[train_pairs]])
        x_test = np.concatenate([x_ref[test_pairs], x_gen[test_pairs]])
        y_train = np.repeat(np.array([0, 1], np.int8), len(train_pairs))
        y_test = np.repeat(np.array([0, 1], np.int8), len(test_pairs))
    else:
        if len(x_ref) > max_samples:
            x_ref = x_ref[rng.choice(len(x_ref), max_samples, replace=False)]
        if len(x_gen) > max_samples:
            x_gen = x_gen[rng.choice(len(x_gen), max_samples, replace=False)]
        x = np.concatenate([x_ref, x_gen])
        y = np.concatenate([np.zeros(len(x_ref), np.int8), np.ones(len(x_gen), np.int8)])
        x_train, x_test, y_train, y_test = train_test_split(
            x, y, test_size=test_fraction, stratify=y, random_state=seed
        )
    if n_threads is not None and n_threads < 1:
        raise ValueError(f"`n_threads` must be >= 1 or None. Received: n_threads={n_threads}")
    if n_threads is None and len(x_train) < 50_000:
        n_threads = 1
    classifier = HistGradientBoostingClassifier(max_iter=max_iter, random_state=seed)
    with threadpool_limits(limits=n_threads, user_api="openmp"):
        classifier.fit(x_train, y_train)
        score = classifier.predict_proba(x_test)[:, 1]
    return float(roc_auc_score(y_test, score))


def check_bin_edges(edges, name: str = "bins") -> np.ndarray:
    """Returns ``edges`` as a float64 array after checking them.

    Raises:
        ValueError: unless ``edges`` are at least 2 finite, strictly increasing values.
    """
    arr = np.asarray(edges, dtype=np.float64)
    if arr.ndim != 1 or arr.size < 2:
        raise ValueError(f"`{name}` must be a sequence of at least 2 bin edges. Received: {name}={edges!r}")
    if not np.all(np.isfinite(arr)) or np.any(np.diff(arr) <= 0):
        raise ValueError(f"`{name}` must be finite and strictly increasing. Received: {name}={edges!r}")
    return arr


def bin_index(values, edges) -> np.ndarray:
    """Index of the bin of each value: bins are ``[lo, hi)``, the last one ``[lo, hi]``.

    Args:
        values: Array-like of values.
        edges: Strictly increasing bin edges.

    Returns:
        int64 array of the values' shape; -1 for values outside the edges.
    """
    edges = check_bin_edges(edges, "edges")
    values = np.asarray(values, dtype=np.float64)
    idx = np.searchsorted(edges, values, side="right") - 1
    idx[values == edges[-1]] = len(edges) - 2
    idx[(idx < 0) | (idx > len(edges) - 2) | ~np.isfinite(values)] = -1
    return idx.astype(np.int64)


def _species_order(names) -> list[str]:
    names = set(names)
    known = [s for s in HADRON_SPECIES if s in names]
    return known + sorted(names - set(known))


BINNED_COLUMNS: tuple[str, ...] = (
    "species", "p_lo", "p_hi", "cos_lo", "cos_hi", "n_data", "n_sim", "wasserstein_1", "ks",
)
"""Columns of the table returned by :func:`binned_distances`."""


def binned_distances(
    data: pd.DataFrame,
    sim: pd.DataFrame,
    *,
    species_col: str | None = "species",
    value: str = "dedx",
    p_bins: Sequence[float],
    cos_bins: Sequence[float],
    min_count: int = 50,
) -> pd.DataFrame:
    """W1 and KS distances of ``value`` per (species, p, cos(theta)) condition bin.

    Tracks are binned by their own ``p`` and ``cos(theta)`` columns (``theta`` in rad),
    so ``data`` and ``sim`` need not have the same rows. Tracks outside the bins are
    ignored.

    Args:
        data: Reference track table with columns ``species_col``, ``p``, ``theta`` and
            ``value``.
        sim: Simulated track table with the same columns.
        species_col: Column of the species; ``None`` pools all tracks (species ``"all"``).
        value: Column compared between the tables.
        p_bins: Momentum bin edges in GeV/c.
        cos_bins: cos(theta) bin edges.
        min_count: The distances of a bin are computed only when both tables have at
            least this many tracks in it; otherwise they are NaN.

    Returns:
        One row per (species, p bin, cos(theta) bin) — every combination, species in
        the canonical order — with columns :data:`BINNED_COLUMNS`.

    Raises:
        ValueError: on missing columns, invalid bins, ``min_count < 1`` or non-finite
            values.
    """
    p_edges = check_bin_edges(p_bins, "p_bins")
    cos_edges = check_bin_edges(cos_bins, "cos_bins")
    if int(min_count) != min_count or min_count < 1:
        raise ValueError(f"`min_count` must be an integer >= 1. Received: min_count={min_count}")
    needed = ["p", "theta", value] + ([species_col] if species_col is not None else [])
    for name, table in (("data", data), ("sim", sim)):
        if not isinstance(table, pd.DataFrame):
            raise ValueError(f"`{name}` must be a pandas DataFrame. Received: {type(table).__name__}")
        missing = [c for c in needed if c not in table.columns]
        if missing:
            raise ValueError(
                f"`{name}` lacks column(s) {missing}. Received: columns={list(table.columns)}"
            )
        values = table[value].to_numpy(dtype=np.float64)
        if not np.all(np.isfinite(values)):
            raise ValueError(
                f"`{name}` column {value!r} must be finite. Received: "
                f"{int((~np.isfinite(values)).sum())} NaN/inf value(s)"
            )

    def species_of(table: pd.DataFrame) -> np.ndarray:
        if species_col is None:
            return np.full(len(table), "all", dtype=object)
        return table[species_col].astype(str).to_numpy()

    species = _species_order(set(species_of(data)) | set(species_of(sim)))
    n_p, n_cos = len(p_edges) - 1, len(cos_edges) - 1
    n_codes = len(species) * n_p * n_cos

    def grouped(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        s_idx = pd.Categorical(species_of(table), categories=species).codes.astype(np.int64)
        p_idx = bin_index(table["p"].to_numpy(dtype=np.float64), p_edges)
        c_idx = bin_index(np.cos(table["theta"].to_numpy(dtype=np.float64)), cos_edges)
        ok = (s_idx >= 0) & (p_idx >= 0) & (c_idx >= 0)
        code = (s_idx * n_p + p_idx) * n_cos + c_idx
        code = code[ok]
        values = table[value].to_numpy(dtype=np.float64)[ok]
        order = np.argsort(code, kind="stable")
        bounds = np.searchsorted(code[order], np.arange(n_codes + 1))
        return values[order], bounds

    data_values, data_bounds = grouped(data)
    sim_values, sim_bounds = grouped(sim)
    rows = []
    for code in range(n_codes):
        s, rest = divmod(code, n_p * n_cos)
        ip, ic = divmod(rest, n_cos)
        a = data_values[data_bounds[code] : data_bounds[code + 1]]
        b = sim_values[sim_bounds[code] : sim_bounds[code + 1]]
        if len(a) >= min_count and len(b) >= min_count:
            w1 = float(stats.wasserstein_distance(a, b))
            ks = float(stats.ks_2samp(a, b).statistic)
        else:
            w1 = ks = np.nan
        rows.append(
            (species[s], p_edges[ip], p_edges[ip + 1], cos_edges[ic], cos_edges[ic + 1],
             len(a), len(b), w1, ks)
        )
    out = pd.DataFrame(rows, columns=list(BINNED_COLUMNS))
    out["n_data"] = out["n_data"].astype(np.int64)
    out["n_sim"] = out["n_sim"].astype(np.int64)
    return out


def summarize_distances(
    table: pd.DataFrame,
    columns: Sequence[str] = ("wasserstein_1", "ks"),
    *,
    weight: str = "n_data",
) -> dict[str, dict[str, float]]:
    """Unweighted and weighted means of per-bin distances over the bins that have them.

    Args:
        table: A per-bin table such as the one of :func:`binned_distances`.
        columns: Distance columns to summarise.
        weight: Column of the weights of the weighted mean (tracks per bin).

    Returns:
        ``{column: {"mean": ..., "weighted_mean": ..., "max": ..., "n_bins": ...}}``;
        NaN values (bins below ``min_count``) are skipped; all NaN gives NaN means and
        ``n_bins`` 0.
    """
    missing = [c for c in [*columns, weight] if c not in table.columns]
    if missing:
        raise ValueError(f"`table` lacks column(s) {missing}. Received: columns={list(table.columns)}")
    out = {}
    w_all = table[weight].to_numpy(dtype=np.float64)
    for col in columns:
        v = table[col].to_numpy(dtype=np.float64)
        ok = np.isfinite(v)
        if ok.any():
            w = w_all[ok]
            weighted = float(np.sum(v[ok] * w) / np.sum(w)) if np.sum(w) > 0 else float("nan")
            out[col] = {
                "mean": float(np.mean(v[ok])),
                "weighted_mean": weighted,
                "max": float(np.max(v[ok])),
                "n_bins": int(ok.sum()),
            }
        else:
            out[col] = {"mean": float("nan"), "weighted_mean": float("nan"),
                        "max": float("nan"), "n_bins": 0}
    return out
