"""Differentiable two-sample statistics and the Keras losses built on them.

Three statistics compare a sample ``x`` (e.g. data) with a sample ``y`` (e.g. generator output),
both given as point clouds with one point per row:

- :func:`smooth_knn_statistic`: the smoothed k-nearest-neighbour graph test of Djolonga & Krause
  (2017), standardised under the permutation null. This is the loss of the BESIII dE/dx dense net
  (SPEC section 2.2).
- :func:`mmd_unbiased`: the unbiased squared maximum mean discrepancy with a mixture of Gaussian
  kernels (Gretton et al. 2012).
- :func:`energy_distance`: the energy distance of Szekely & Rizzo (2013).

All three are written with ``keras.ops`` only, so they run (and differentiate) under every Keras
backend, and all three are *large when the samples differ*: a generator minimises them.

Every statistic builds dense ``(n1 + n2) x (n1 + n2)`` pairwise matrices: time and memory grow as
``O((n1 + n2)^2)`` (see ``benchmarks/bench_two_sample_loss.py``).

The smoothed k-NN relaxation used here
--------------------------------------
For node ``i`` of the pooled sample and inverse temperature ``alpha`` the soft neighbour weights
are ``w_ij = sigmoid(alpha * (tau_i - d_ij))`` for ``j != i`` (``w_ii = 0``), where the threshold
``tau_i`` is chosen so that every row sums to exactly ``k``: ``sum_j w_ij = k``. This is the
maximum-entropy distribution over neighbour sets ``S_i`` with ``P(S_i) ~ exp(-alpha * sum_{j in
S_i} d_ij)`` whose *expected* size is ``k`` (independent Bernoulli memberships with a per-node
chemical potential ``alpha * tau_i``), i.e. the entropy-regularised solution of the k-NN linear
programme ``max_w sum_j -d_ij w_ij`` subject to ``sum_j w_ij = k, 0 <= w_ij <= 1``. Djolonga &
Krause instead compute the exact marginals of the same Gibbs distribution restricted to sets of
size *exactly* ``k`` (a sequential dynamic programme over the nodes; for ``k = 1`` it is
``softmax_j(-alpha d_ij)``). The two coincide when all weights of a row are small (``w ~ exp``)
and differ otherwise by the difference between fixing the set size and fixing its mean; both tend
to the hard k-NN graph as ``alpha -> inf`` and to the complete graph with weights ``k / (N - 1)``
as ``alpha -> 0``. The form used here is fully vectorised: ``tau_i`` is found by a safeguarded
Newton iteration started from a bracket given by the k-th and (k+1)-th nearest distances, and its
gradient is given exactly by the implicit function theorem, ``d tau_i / d d_ij = s_ij / sum_l
s_il`` with ``s = w (1 - w)``, instead of back-propagating through the iterations (five Newton
steps reach float32 precision: the bracket ``[d_(k) - log(N - k) / alpha, d_(k+1) + log(k) /
alpha]`` is tight).

Distances are by default divided by their (gradient-stopped) mean over all pooled pairs, so the
``alphas`` are dimensionless (defaults 1, 5, 20: from nearly kernel-like smoothing to nearly hard
k-NN). Several alphas are combined by averaging their graphs before the test (as the reference
implementation averages the marginals), which keeps the result exactly standardised;
``combine="sum"`` or ``"max"`` of the per-alpha standardised statistics are also offered.

The statistic and its null moments
----------------------------------
With the symmetric weights ``a_ij = w_ij + w_ji`` the statistic is the total weight on edges that
join the two samples, ``T = sum_{i<j} a_ij z_ij`` with ``z_ij = 1`` when ``i`` and ``j`` carry
different labels. Under the permutation null (the ``n1`` labels "x" placed uniformly at random on
the ``N = n1 + n2`` pooled points, the graph held fixed) one has ``P(z_ij = 1) = p1``, for two
distinct edges sharing one node ``P(z_e z_f = 1) = p2`` and for two disjoint edges ``p3``::

    p1 = 2 n1 n2 / (N (N - 1))
    p2 =   n1 n2 / (N (N - 1))
    p3 = 4 n1 (n1 - 1) n2 (n2 - 1) / (N (N - 1) (N - 2) (N - 3))

so that, with ``A = sum_{i<j} a_ij``, ``S1 = sum_{i<j} a_ij^2``, degrees ``r_i = sum_j a_ij`` and
``S2 = sum_i r_i^2 - 2 S1`` (ordered pairs of distinct edges with a common node)::

    E0[T]   = p1 A
    Var0[T] = (p1 - p3) S1 + (p2 - p3) S2 + (p3 - p1^2) A^2

(the Friedman-Rafsky moments for a weighted graph). Because ``sum_{i<j} z_ij = n1 n2`` for every
labelling, subtracting a constant from all off-diagonal weights shifts ``T`` by a constant and
leaves the variance unchanged. The implementation therefore uses the centred weights
``a_ij - mean(a)``, for which ``A = 0``: the numerator ``T - E0[T]`` is then the cross-block sum
of the centred weights and the variance is ``(p1 - p3) S1 + (p2 - p3) S2`` of centred sums, which
avoids the catastrophic cancellation of the raw formula in float32. The returned value is
``(E0[T] - T) / sqrt(Var0[T])``: mean 0 and variance 1 under the null (exactly, conditionally on
the pooled points) and large and positive when the samples differ (few cross edges).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

__all__ = [
    "EnergyLoss",
    "MMDLoss",
    "SmoothKNNLoss",
    "TwoSampleLoss",
    "energy_distance",
    "get_two_sample_loss",
    "mmd_unbiased",
    "permutation_null_moments",
    "smooth_knn_statistic",
    "smooth_knn_weights",
]

_NORMS = ("l2", "l1")
_COMBINES = ("graph", "sum", "max")
_NEWTON_STEPS = 5  # safeguarded log-Newton steps for the k-NN thresholds (converge in <= 4)
_TINY = 1e-12


# --------------------------------------------------------------------------------------------
# Validation helpers
# --------------------------------------------------------------------------------------------
def _check_positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
    return int(value)


def _check_positive_floats(name: str, values: Any) -> tuple[float, ...]:
    if isinstance(values, (int, float)) and not isinstance(values, bool):
        values = (values,)
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise ValueError(
            f"`{name}` must be a non-empty sequence of positive numbers. "
            f"Received: {name}={values!r}"
        ) from None
    if not out or any(not (v > 0.0 and math.isfinite(v)) for v in out):
        raise ValueError(
            f"`{name}` must be a non-empty sequence of positive numbers. "
            f"Received: {name}={values!r}"
        )
    return out


def _check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {tuple(choices)}. Received: {name}={value!r}")
    return value


def _check_samples(x: Any, y: Any, min_points: int = 1) -> tuple[Any, Any]:
    """Convert to float tensors and check ranks, feature dimensions and (static) sizes."""
    # `copy` also turns backend variables (e.g. a tf.Variable being optimised) into tensors.
    x = ops.copy(ops.convert_to_tensor(x))
    y = ops.copy(ops.convert_to_tensor(y))
    if not str(x.dtype).startswith(("float", "bfloat")):
        x = ops.cast(x, keras.config.floatx())
    if x.dtype != y.dtype:
        y = ops.cast(y, x.dtype)
    rx, ry = len(x.shape), len(y.shape)
    if rx < 2 or ry < 2:
        raise ValueError(
            "Two-sample inputs must have rank >= 2 (points as rows, features as columns). "
            f"Received: x.shape={tuple(x.shape)}, y.shape={tuple(y.shape)}"
        )
    if rx != ry:
        raise ValueError(
            f"The two samples must have the same rank. Received: x.shape={tuple(x.shape)}, "
            f"y.shape={tuple(y.shape)}"
        )
    dx, dy = x.shape[-1], y.shape[-1]
    if dx is not None and dy is not None and dx != dy:
        raise ValueError(
            "The two samples must have the same number of features (last axis). "
            f"Received: x.shape={tuple(x.shape)}, y.shape={tuple(y.shape)}"
        )
    bx, by = tuple(x.shape[:-2]), tuple(y.shape[:-2])
    if all(b is not None for b in bx + by) and bx != by:
        raise ValueError(
            f"The two samples must have the same leading batch axes. Received: "
            f"x.shape={tuple(x.shape)}, y.shape={tuple(y.shape)}"
        )
    for label, n in (("x", x.shape[-2]), ("y", y.shape[-2])):
        if n is not None and n < min_points:
            raise ValueError(
                f"Each sample needs at least {min_points} points. Received: "
                f"{label}.shape={tuple(x.shape if label == 'x' else y.shape)}"
            )
    return x, y


# --------------------------------------------------------------------------------------------
# Pairwise distances
# --------------------------------------------------------------------------------------------
def _safe_sqrt(sq: Any) -> Any:
    """``sqrt`` with a zero (not NaN) gradient at 0 (the 'double where' trick)."""
    positive = sq > _TINY
    return ops.where(positive, ops.sqrt(ops.where(positive, sq, ops.ones_like(sq))), 0.0)


def _pairwise_distances(a: Any, b: Any, norm: str = "l2") -> Any:
    """Distances between the rows of ``a (..., n, d)`` and ``b (..., m, d)``: ``(..., n, m)``.

    ``"l2"`` uses ``|a|^2 + |b|^2 - 2 a.b`` (memory ``O(n m)``); ``"l1"`` broadcasts the
    differences (memory ``O(n m d)``).
    """
    if norm == "l1":
        return ops.sum(ops.abs(ops.expand_dims(a, -2) - ops.expand_dims(b, -3)), axis=-1)
    a2 = ops.sum(ops.square(a), axis=-1)
    b2 = ops.sum(ops.square(b), axis=-1)
    sq = (
        ops.expand_dims(a2, -1)
        + ops.expand_dims(b2, -2)
        - 2.0 * ops.matmul(a, ops.swapaxes(b, -1, -2))
    )
    return _safe_sqrt(ops.maximum(sq, 0.0))


# --------------------------------------------------------------------------------------------
# Smoothed k-NN graph
# --------------------------------------------------------------------------------------------
def _soft_knn(dist: Any, eye: Any, k: int, alpha: float, kth: Any) -> Any:
    """Row-wise soft k-NN weights ``sigmoid(alpha (tau_i - d_ij))`` with rows summing to ``k``.

    ``dist`` has ``+big`` on the diagonal; ``kth = (d_(k), d_(k+1))`` per row (no gradient).
    """
    dist_sg = ops.stop_gradient(dist)
    n_cand = ops.cast(ops.shape(dist)[-1] - 1, dist.dtype)  # candidates per node (self excluded)
    d_k, d_k1 = kth
    lo = d_k - ops.log(n_cand - k + 1.0) / alpha  # f(lo) < 0
    hi = d_k1 + math.log(max(k, 1)) / alpha + 1e-6  # f(hi) >= 0
    tau = 0.5 * (d_k + d_k1)
    log_k = math.log(k)
    for _ in range(_NEWTON_STEPS):
        w = ops.sigmoid(alpha * (ops.expand_dims(tau, -1) - dist_sg))
        total = ops.sum(w, axis=-1)
        lo = ops.where(total < k, tau, lo)
        hi = ops.where(total > k, tau, hi)
        # Newton on log(sum_j w_ij) - log(k): exact in the exponential tail, fast near the root.
        slope = alpha * ops.sum(w * (1.0 - w), axis=-1) / ops.maximum(total, _TINY)
        newton = tau - (ops.log(ops.maximum(total, _TINY)) - log_k) / ops.maximum(slope, _TINY)
        inside = ops.logical_and(newton >= lo, newton <= hi)
        tau = ops.where(inside, newton, 0.5 * (lo + hi))
    tau = ops.stop_gradient(tau)
    w = ops.stop_gradient(ops.sigmoid(alpha * (ops.expand_dims(tau, -1) - dist_sg)))
    s = w * (1.0 - w)
    # Gradient without a second sigmoid pass: to first order w = w0 + alpha s (d tau_i - d d_ij)
    # (its value is exactly w0), with the implicit-function derivative of the row constraint
    # sum_j w_ij = k: d tau_i / d d_ij = s_ij / sum_l s_il.
    d_delta = dist - dist_sg  # value 0, carries the gradient of dist
    tau_delta = ops.sum(s * d_delta, axis=-1) / ops.maximum(ops.sum(s, axis=-1), _TINY)
    w = w + alpha * s * (ops.expand_dims(tau_delta, -1) - d_delta)
    return w * (1.0 - eye)


def _pool(x: Any, y: Any) -> Any:
    return ops.concatenate([x, y], axis=-2)


def smooth_knn_weights(
    z: Any,
    *,
    k: int = 5,
    alphas: Sequence[float] = (1.0, 5.0, 20.0),
    norm: str = "l2",
    normalize_distances: bool = True,
) -> list[Any]:
    """Soft k-nearest-neighbour graphs of a point cloud, one per inverse temperature.

    Args:
        z: Points, shape ``(..., N, d)``.
        k: Number of neighbours; every row of each returned matrix sums to ``k``.
        alphas: Inverse temperatures. Small values spread each node's weight over many
            neighbours; large values approach the hard k-NN graph.
        norm: ``"l2"`` (Euclidean) or ``"l1"`` (city-block) distances.
        normalize_distances: Divide the distances by their (gradient-stopped) mean over all
            pairs, which makes ``alphas`` dimensionless and the test invariant to a global scale.

    Returns:
        A list with one directed weight matrix ``w`` of shape ``(..., N, N)`` per alpha,
        ``w_ij = sigmoid(alpha (tau_i - d_ij))``, ``w_ii = 0``, ``sum_j w_ij = k``.

    Raises:
        ValueError: Bad arguments, rank < 2, or fewer than ``k + 2`` points.

    References:
        J. Djolonga and A. Krause, arXiv:1709.01006 (2017), section 4 (smoothed k-NN graph).

    Example:
        >>> import numpy as np
        >>> z = np.random.default_rng(0).normal(size=(50, 2)).astype("float32")
        >>> (w,) = smooth_knn_weights(z, k=3, alphas=(10.0,))
        >>> bool(np.allclose(np.asarray(w).sum(axis=1), 3.0, atol=1e-3))
        True
    """
    k = _check_positive_int("k", k)
    alphas = _check_positive_floats("alphas", alphas)
    norm = _check_choice("norm", norm, _NORMS)
    z, _ = _check_samples(z, z)
    n = z.shape[-2]
    if n is not None and n < k + 2:
        raise ValueError(
            f"The pooled sample needs at least k + 2 = {k + 2} points. Received: "
            f"z.shape={tuple(z.shape)}"
        )
    dist = _pairwise_distances(z, z, norm)
    n_dyn = ops.shape(dist)[-1]
    eye = ops.eye(n_dyn, dtype=dist.dtype)
    if normalize_distances:
        n_f = ops.cast(n_dyn, dist.dtype)
        mean_d = ops.sum(dist, axis=(-2, -1), keepdims=True) / (n_f * (n_f - 1.0))
        dist = dist / ops.stop_gradient(ops.maximum(mean_d, _TINY))
    big = ops.stop_gradient(ops.max(dist, axis=(-2, -1), keepdims=True)) * 4.0 + 1e3
    dist = ops.where(eye > 0, big, dist)
    neg_top, _ = ops.top_k(-ops.stop_gradient(dist), k + 1, sorted=True)
    kth = (-neg_top[..., k - 1], -neg_top[..., k])
    return [_soft_knn(dist, eye, k, a, kth) for a in alphas]


def permutation_null_moments(weights: Any, n1: int) -> tuple[Any, Any]:
    """Mean and variance of a graph's cross-edge weight under random relabelling.

    For a weighted graph on ``N`` nodes (any ``(..., N, N)`` matrix; it is symmetrised as
    ``a = W + W^T`` with the diagonal ignored) the statistic is ``T = sum_{i<j} a_ij z_ij`` where
    ``z_ij = 1`` when exactly one of ``i, j`` is among the first ``n1`` nodes. Under a uniformly
    random relabelling (``n1`` labels "x" among ``N`` nodes), see the module docstring::

        E0[T] = p1 A,   Var0[T] = (p1 - p3) S1 + (p2 - p3) S2 + (p3 - p1^2) A^2.

    Args:
        weights: Graph weights, shape ``(..., N, N)``.
        n1: Size of the first sample (``2 <= n1 <= N - 2``).

    Returns:
        ``(mean, variance)`` of ``T``, shape ``(...)`` each.

    Raises:
        ValueError: If either sample has fewer than 2 nodes.

    Example:
        >>> import numpy as np
        >>> w = np.ones((6, 6)) - np.eye(6)  # complete graph: T = 2 n1 n2 for every labelling
        >>> mean, var = permutation_null_moments(w, 3)
        >>> round(float(mean), 6), round(float(var), 6)
        (18.0, 0.0)
    """
    weights = ops.convert_to_tensor(weights)
    a = weights + ops.swapaxes(weights, -1, -2)
    a = a * (1.0 - ops.eye(ops.shape(a)[-1], dtype=a.dtype))
    n_tot = a.shape[-1] if a.shape[-1] is not None else ops.shape(a)[-1]
    _, var, mean, _ = _centred_cross_statistic(a, n1, n_tot - n1)
    return mean, var


def _null_coefficients(n1: Any, n2: Any, dtype: Any) -> tuple[Any, Any, Any]:
    """``p1, p2, p3`` (module docstring); ``n1, n2`` are ints or scalar tensors."""
    if isinstance(n1, int) and isinstance(n2, int):
        n = n1 + n2
        p1 = 2.0 * n1 * n2 / (n * (n - 1.0))
        p3 = 4.0 * n1 * (n1 - 1.0) * n2 * (n2 - 1.0) / (n * (n - 1.0) * (n - 2.0) * (n - 3.0))
        return p1, 0.5 * p1, p3
    n1 = ops.cast(n1, dtype)
    n2 = ops.cast(n2, dtype)
    n = n1 + n2
    p1 = 2.0 * n1 * n2 / (n * (n - 1.0))
    p3 = 4.0 * n1 * (n1 - 1.0) * n2 * (n2 - 1.0) / (n * (n - 1.0) * (n - 2.0) * (n - 3.0))
    return p1, 0.5 * p1, p3


def _centred_cross_statistic(a: Any, n1: Any, n2: Any) -> tuple[Any, Any, Any, Any]:
    """For symmetric zero-diagonal ``a``: ``(T - E0[T], Var0[T], E0[T], T)`` over ``(...)``.

    The first ``n1`` nodes form sample one. ``n1, n2`` may be Python ints or scalar tensors
    (dynamic batch sizes inside ``fit``).
    """
    if isinstance(n1, int) and isinstance(n2, int) and (n1 < 2 or n2 < 2):
        raise ValueError(
            f"Each sample needs at least 2 points for the permutation moments. Received: n1={n1}, "
            f"n2={n2}"
        )
    p1, p2, p3 = _null_coefficients(n1, n2, a.dtype)
    n_dyn = ops.shape(a)[-1]
    n_f = ops.cast(n_dyn, a.dtype)
    eye = ops.eye(n_dyn, dtype=a.dtype)
    a_sum = 0.5 * ops.sum(a, axis=(-2, -1))  # A
    a_bar = 2.0 * a_sum / (n_f * (n_f - 1.0))
    ac = (a - ops.expand_dims(ops.expand_dims(a_bar, -1), -1)) * (1.0 - eye)
    # T - E0[T] = sum_{i in x, j in y} ac_ij = s^T ac (1 - s), s = indicator of sample one.
    s = ops.cast(ops.arange(n_dyn) < n1, a.dtype)
    cross = ops.sum(ops.sum(ac * (1.0 - s), axis=-1) * s, axis=-1)
    s1 = 0.5 * ops.sum(ops.square(ac), axis=(-2, -1))
    r = ops.sum(ac, axis=-1)
    s2 = ops.sum(ops.square(r), axis=-1) - 2.0 * s1
    var = (p1 - p3) * s1 + (p2 - p3) * s2
    mean = p1 * a_sum
    return cross, var, mean, cross + mean


def smooth_knn_statistic(
    x: Any,
    y: Any,
    *,
    k: int = 5,
    alphas: Sequence[float] = (1.0, 5.0, 20.0),
    norm: str = "l2",
    standardize: bool = True,
    combine: str = "graph",
    normalize_distances: bool = True,
) -> Any:
    """Smoothed k-NN two-sample statistic (Djolonga & Krause 2017), large when samples differ.

    The samples are pooled, a soft k-NN graph is built at each inverse temperature ``alpha``
    (relaxation in the module docstring) and the statistic ``T`` is the total weight on edges
    joining the two samples. Samples from one distribution interleave (many cross edges); samples
    from different distributions do not, so the value returned is the *deficit*
    ``E0[T] - T``, divided by ``sqrt(Var0[T])`` when ``standardize`` (closed-form permutation-null
    moments, module docstring).

    Args:
        x: First sample (e.g. data), shape ``(n1, d)`` or ``(..., n1, d)`` for a batch of tests.
        y: Second sample (e.g. generated), shape ``(n2, d)`` / ``(..., n2, d)``.
        k: Number of neighbours of every node.
        alphas: Inverse temperatures (dimensionless when ``normalize_distances``).
        norm: ``"l2"`` or ``"l1"`` distances.
        standardize: Return ``(E0[T] - T) / sd0[T]`` (mean 0, variance 1 under the null) instead
            of the raw deficit ``E0[T] - T``.
        combine: How the alphas are combined. ``"graph"`` (default, as the reference
            implementation): average the graphs and test the averaged graph, so the result is
            still exactly standardised. ``"sum"``: sum of the per-alpha statistics (null variance
            between 1 and ``len(alphas)^2``). ``"max"``: maximum of the per-alpha statistics
            (a gradient flows only through the largest one).
        normalize_distances: Divide the distances by their gradient-stopped mean.

    Returns:
        Scalar tensor (or shape ``(...)`` for batched inputs).

    Raises:
        ValueError: Bad arguments, ranks, feature dimensions, or fewer than 2 points per sample.

    References:
        J. Djolonga and A. Krause, "Learning Implicit Generative Models Using Differentiable
        Graph Tests", arXiv:1709.01006 (2017). J. H. Friedman and L. C. Rafsky, "Multivariate
        generalizations of the Wald-Wolfowitz and Smirnov two-sample tests", Ann. Stat. 7 (1979)
        697. M. F. Schilling, "Multivariate two-sample tests based on nearest neighbors", JASA 81
        (1986) 799.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> data = rng.normal(size=(200, 3)).astype("float32")
        >>> same = rng.normal(size=(200, 3)).astype("float32")
        >>> shifted = same + 1.0
        >>> float(smooth_knn_statistic(data, same)) < 3.0
        True
        >>> float(smooth_knn_statistic(data, shifted)) > 5.0
        True
    """
    k = _check_positive_int("k", k)
    alphas = _check_positive_floats("alphas", alphas)
    norm = _check_choice("norm", norm, _NORMS)
    combine = _check_choice("combine", combine, _COMBINES)
    x, y = _check_samples(x, y, min_points=2)
    n1, n2 = x.shape[-2], y.shape[-2]
    if n1 is None or n2 is None:  # dynamic sizes (e.g. inside `fit`): tensors
        n1, n2 = ops.shape(x)[-2], ops.shape(y)[-2]
    elif n1 + n2 < k + 2:
        raise ValueError(
            f"The pooled sample needs at least k + 2 = {k + 2} points. Received: n1={n1}, n2={n2}"
        )
    graphs = smooth_knn_weights(
        _pool(x, y), k=k, alphas=alphas, norm=norm, normalize_distances=normalize_distances
    )
    if combine == "graph":
        graphs = [sum(graphs[1:], graphs[0]) / float(len(graphs))]
    stats = []
    for w in graphs:
        a = w + ops.swapaxes(w, -1, -2)
        cross, var, _, _ = _centred_cross_statistic(a, n1, n2)
        deficit = -cross
        stats.append(deficit / ops.sqrt(ops.maximum(var, _TINY)) if standardize else deficit)
    if len(stats) == 1:
        return stats[0]
    stacked = ops.stack(stats, axis=0)
    return ops.max(stacked, axis=0) if combine == "max" else ops.sum(stacked, axis=0)


# --------------------------------------------------------------------------------------------
# MMD and energy distance
# --------------------------------------------------------------------------------------------
def _offdiag_mean(m: Any) -> Any:
    n = m.shape[-1] if m.shape[-1] is not None else ops.shape(m)[-1]
    n_f = ops.cast(n, m.dtype)
    off = m * (1.0 - ops.eye(n, dtype=m.dtype))
    return ops.sum(off, axis=(-2, -1)) / (n_f * (n_f - 1.0))


def mmd_unbiased(
    x: Any,
    y: Any,
    *,
    bandwidths: Sequence[float] = (0.2, 0.5, 1.0, 2.0, 5.0),
) -> Any:
    """Unbiased squared MMD with a mixture of Gaussian kernels.

    ``k(u, v) = mean_b exp(-|u - v|^2 / (2 sigma_b^2))`` and
    ``MMD^2_u = mean_{i != j} k(x_i, x_j) + mean_{i != j} k(y_i, y_j) - 2 mean_{i, j} k(x_i, y_j)``.
    The estimator is unbiased, so it fluctuates around 0 (and can be slightly negative) when
    both samples come from one distribution. Bandwidths are in the units of the inputs:
    standardise the features first.

    Args:
        x: First sample, shape ``(n1, d)`` (or ``(..., n1, d)``), ``n1 >= 2``.
        y: Second sample, shape ``(n2, d)`` (or ``(..., n2, d)``), ``n2 >= 2``.
        bandwidths: Kernel widths ``sigma_b`` (positive).

    Returns:
        Scalar tensor (shape ``(...)`` for batched inputs).

    Raises:
        ValueError: Bad bandwidths, ranks or feature dimensions, or fewer than 2 points.

    References:
        A. Gretton, K. M. Borgwardt, M. J. Rasch, B. Schoelkopf and A. Smola, "A Kernel
        Two-Sample Test", JMLR 13 (2012) 723, eq. (3).

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> x = rng.normal(size=(300, 2)).astype("float32")
        >>> abs(float(mmd_unbiased(x, rng.normal(size=(300, 2))))) < 0.01
        True
        >>> float(mmd_unbiased(x, rng.normal(size=(300, 2)) + 1.0)) > 0.1
        True
    """
    bandwidths = _check_positive_floats("bandwidths", bandwidths)
    x, y = _check_samples(x, y, min_points=2)

    def kernel(a: Any, b: Any) -> Any:
        a2 = ops.sum(ops.square(a), axis=-1)
        b2 = ops.sum(ops.square(b), axis=-1)
        sq = ops.maximum(
            ops.expand_dims(a2, -1)
            + ops.expand_dims(b2, -2)
            - 2.0 * ops.matmul(a, ops.swapaxes(b, -1, -2)),
            0.0,
        )
        return sum(ops.exp(-sq / (2.0 * s * s)) for s in bandwidths) / float(len(bandwidths))

    kxx = _offdiag_mean(kernel(x, x))
    kyy = _offdiag_mean(kernel(y, y))
    kxy = ops.mean(kernel(x, y), axis=(-2, -1))
    return kxx + kyy - 2.0 * kxy


def energy_distance(x: Any, y: Any, *, norm: str = "l2") -> Any:
    """Energy distance ``2 E|X - Y| - E|X - X'| - E|Y - Y'|`` (unbiased U-statistic form).

    The within-sample means exclude the diagonal (``i != j``), so the estimate is unbiased: it
    fluctuates around 0 for one distribution and is positive (``> 0`` in expectation, zero only
    for equal distributions) otherwise. The gradient is finite for coincident points.

    Args:
        x: First sample, shape ``(n1, d)`` (or ``(..., n1, d)``), ``n1 >= 2``.
        y: Second sample, shape ``(n2, d)`` (or ``(..., n2, d)``), ``n2 >= 2``.
        norm: ``"l2"`` (the usual energy distance) or ``"l1"``.

    Returns:
        Scalar tensor (shape ``(...)`` for batched inputs).

    Raises:
        ValueError: Bad ranks, feature dimensions, norm, or fewer than 2 points.

    References:
        G. J. Szekely and M. L. Rizzo, "Energy statistics: A class of statistics based on
        distances", J. Stat. Plan. Inference 143 (2013) 1249.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> x = rng.normal(size=(300, 2)).astype("float32")
        >>> abs(float(energy_distance(x, rng.normal(size=(300, 2))))) < 0.05
        True
        >>> float(energy_distance(x, rng.normal(size=(300, 2)) + 1.0)) > 0.3
        True
    """
    norm = _check_choice("norm", norm, _NORMS)
    x, y = _check_samples(x, y, min_points=2)
    dxy = ops.mean(_pairwise_distances(x, y, norm), axis=(-2, -1))
    dxx = _offdiag_mean(_pairwise_distances(x, x, norm))
    dyy = _offdiag_mean(_pairwise_distances(y, y, norm))
    return 2.0 * dxy - dxx - dyy


# --------------------------------------------------------------------------------------------
# Keras losses
# --------------------------------------------------------------------------------------------
class TwoSampleLoss(keras.losses.Loss):
    """Base class: a loss comparing two samples, ``call(y_true, y_pred) -> scalar``.

    ``y_true`` and ``y_pred`` are point clouds with one point per row, ``(n_true, d)`` and
    ``(n_pred, d)``; the row counts may differ. The whole batch is *one* sample, so the loss is
    not a mean of per-example terms and ``sample_weight`` is not meaningful (a scalar weight
    still scales it). Subclasses implement :meth:`statistic`.

    Args:
        name: Loss name.
        reduction: Keras reduction (irrelevant for the scalar result; kept for the API).
        dtype: Compute dtype.
    """

    def __init__(
        self,
        name: str | None = None,
        reduction: str = "sum_over_batch_size",
        dtype: Any = None,
    ) -> None:
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def statistic(self, x: Any, y: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def call(self, y_true: Any, y_pred: Any) -> Any:
        for label, t in (("y_true", y_true), ("y_pred", y_pred)):
            if len(t.shape) != 2:
                raise ValueError(
                    f"{type(self).__name__} expects rank-2 samples (points, features). Received: "
                    f"{label}.shape={tuple(t.shape)}"
                )
        return self.statistic(y_true, y_pred)


@keras.saving.register_keras_serializable(package="keras_fastsim")
class SmoothKNNLoss(TwoSampleLoss):
    """Standardised smoothed k-NN two-sample loss (see :func:`smooth_knn_statistic`).

    Args:
        k: Number of neighbours.
        alphas: Inverse temperatures (dimensionless, distances are normalised by their mean
            when ``normalize_distances``).
        norm: ``"l2"`` or ``"l1"``.
        standardize: Standardise with the permutation-null moments.
        combine: ``"graph"``, ``"sum"`` or ``"max"``.
        normalize_distances: Divide distances by their gradient-stopped mean.
        name: Loss name.
        reduction: Keras reduction.
        dtype: Compute dtype.

    References:
        J. Djolonga and A. Krause, arXiv:1709.01006 (2017).

    Example:
        >>> import numpy as np
        >>> loss = SmoothKNNLoss(k=5)
        >>> rng = np.random.default_rng(1)
        >>> data = rng.normal(size=(128, 2)).astype("float32")
        >>> float(loss(data, data[::-1] + 2.0)) > 5.0
        True
    """

    def __init__(
        self,
        k: int = 5,
        alphas: Sequence[float] = (1.0, 5.0, 20.0),
        norm: str = "l2",
        standardize: bool = True,
        combine: str = "graph",
        normalize_distances: bool = True,
        name: str | None = "smooth_knn_loss",
        reduction: str = "sum_over_batch_size",
        dtype: Any = None,
    ) -> None:
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.k = _check_positive_int("k", k)
        self.alphas = _check_positive_floats("alphas", alphas)
        self.norm = _check_choice("norm", norm, _NORMS)
        self.combine = _check_choice("combine", combine, _COMBINES)
        self.standardize = bool(standardize)
        self.normalize_distances = bool(normalize_distances)

    def statistic(self, x: Any, y: Any) -> Any:
        return smooth_knn_statistic(
            x,
            y,
            k=self.k,
            alphas=self.alphas,
            norm=self.norm,
            standardize=self.standardize,
            combine=self.combine,
            normalize_distances=self.normalize_distances,
        )

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            k=self.k,
            alphas=list(self.alphas),
            norm=self.norm,
            standardize=self.standardize,
            combine=self.combine,
            normalize_distances=self.normalize_distances,
        )
        return config


@keras.saving.register_keras_serializable(package="keras_fastsim")
class MMDLoss(TwoSampleLoss):
    """Unbiased squared MMD with a Gaussian-mixture kernel (see :func:`mmd_unbiased`).

    Args:
        bandwidths: Kernel widths in input units.
        name: Loss name.
        reduction: Keras reduction.
        dtype: Compute dtype.

    References:
        A. Gretton et al., "A Kernel Two-Sample Test", JMLR 13 (2012) 723.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(2)
        >>> x = rng.normal(size=(100, 2)).astype("float32")
        >>> float(MMDLoss()(x, x + 1.0)) > 0.1
        True
    """

    def __init__(
        self,
        bandwidths: Sequence[float] = (0.2, 0.5, 1.0, 2.0, 5.0),
        name: str | None = "mmd_loss",
        reduction: str = "sum_over_batch_size",
        dtype: Any = None,
    ) -> None:
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.bandwidths = _check_positive_floats("bandwidths", bandwidths)

    def statistic(self, x: Any, y: Any) -> Any:
        return mmd_unbiased(x, y, bandwidths=self.bandwidths)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(bandwidths=list(self.bandwidths))
        return config


@keras.saving.register_keras_serializable(package="keras_fastsim")
class EnergyLoss(TwoSampleLoss):
    """Energy-distance loss (see :func:`energy_distance`).

    Args:
        norm: ``"l2"`` or ``"l1"``.
        name: Loss name.
        reduction: Keras reduction.
        dtype: Compute dtype.

    References:
        G. J. Szekely and M. L. Rizzo, J. Stat. Plan. Inference 143 (2013) 1249.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(3)
        >>> x = rng.normal(size=(100, 2)).astype("float32")
        >>> float(EnergyLoss()(x, x + 1.0)) > 0.3
        True
    """

    def __init__(
        self,
        norm: str = "l2",
        name: str | None = "energy_loss",
        reduction: str = "sum_over_batch_size",
        dtype: Any = None,
    ) -> None:
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.norm = _check_choice("norm", norm, _NORMS)

    def statistic(self, x: Any, y: Any) -> Any:
        return energy_distance(x, y, norm=self.norm)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(norm=self.norm)
        return config


def get_two_sample_loss(name: str, **kwargs: Any) -> TwoSampleLoss:
    """Build a two-sample loss by name.

    Args:
        name: ``"smoothknn"``, ``"mmd"`` or ``"energy"`` (case-insensitive; ``"smooth_knn"``
            and ``"smooth-knn"`` are accepted too).
        **kwargs: Constructor arguments of the loss class.

    Returns:
        A :class:`SmoothKNNLoss`, :class:`MMDLoss` or :class:`EnergyLoss`.

    Raises:
        ValueError: Unknown name (or invalid constructor arguments).

    Example:
        >>> type(get_two_sample_loss("mmd", bandwidths=(1.0,))).__name__
        'MMDLoss'
    """
    classes = {"smoothknn": SmoothKNNLoss, "mmd": MMDLoss, "energy": EnergyLoss}
    key = name.lower().replace("_", "").replace("-", "") if isinstance(name, str) else name
    if key not in classes:
        raise ValueError(
            f"Unknown two-sample loss; expected one of {tuple(classes)}. Received: name={name!r}"
        )
    return classes[key](**kwargs)
