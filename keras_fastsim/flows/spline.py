"""Rational-quadratic spline bijectors from unconstrained network outputs."""

from __future__ import annotations

import math

import tensorflow as tf
import tensorflow_probability as tfp

tfb = tfp.bijectors

# softplus(_SLOPE_SHIFT) == 1: zero network output gives the identity spline.
_SLOPE_SHIFT = math.log(math.expm1(1.0))


def spline_params(num_bins: int) -> int:
    """Number of unconstrained parameters of a ``num_bins``-bin spline (23 for 8 bins).

    ``K`` widths, ``K`` heights and the ``K - 1`` interior knot slopes.
    """
    if int(num_bins) < 2:
        raise ValueError(f"`num_bins` must be >= 2. Received: num_bins={num_bins}")
    return 3 * int(num_bins) - 1


def spline_from_params(
    params: tf.Tensor,
    num_bins: int,
    bound: float,
    min_bin_size: float = 1e-3,
    min_slope: float = 1e-3,
) -> tfb.RationalQuadraticSpline:
    """Builds a monotonic rational-quadratic spline on ``[-bound, bound]``.

    Outside the interval the spline is the identity (linear tails), as in Durkan et
    al. Zero parameters give the identity map.

    Args:
        params: Tensor ``(..., 3 * num_bins - 1)`` of unconstrained values.
        num_bins: Number of bins ``K``.
        bound: Half-width of the spline interval.
        min_bin_size: Lower bound of every bin width and height.
        min_slope: Lower bound of every interior knot slope.

    References:
        Durkan, Bekasov, Murray, Papamakarios, "Neural Spline Flows", NeurIPS 2019,
        arXiv:1906.04032.
    """
    k = int(num_bins)
    span = 2.0 * bound
    if k * min_bin_size >= span:
        raise ValueError(
            "`num_bins * min_bin_size` must be smaller than the interval 2 * bound. "
            f"Received: num_bins={num_bins}, min_bin_size={min_bin_size}, bound={bound}"
        )

    def _sizes(raw):
        return tf.math.softmax(raw, axis=-1) * (span - k * min_bin_size) + min_bin_size

    widths = _sizes(params[..., :k])
    heights = _sizes(params[..., k : 2 * k])
    slopes = tf.math.softplus(params[..., 2 * k :] + _SLOPE_SHIFT) + min_slope
    return tfb.RationalQuadraticSpline(
        bin_widths=widths, bin_heights=heights, knot_slopes=slopes, range_min=-bound
    )
