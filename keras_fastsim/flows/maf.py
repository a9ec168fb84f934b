"""Conditional masked autoregressive flows of rational-quadratic splines."""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf
import tensorflow_probability as tfp

from keras_fastsim.flows.spline import spline_from_params

tfb = tfp.bijectors


def conditional_maf(
    blocks: Sequence,
    context: tf.Tensor,
    *,
    event_size: int,
    num_bins: int,
    bound: float,
) -> tfb.Bijector:
    """Chains one MAF per MADE block, each conditioned on ``context``.

    Each block maps ``x -> spline_{theta(x_<i, context)}(x)``; forward runs the
    autoregressive recursion (sampling), inverse is one pass (density evaluation).

    Args:
        blocks: MADE layers returning ``(batch, event_size, 3 * num_bins - 1)``.
        context: Standardised conditions ``(batch, C)``, captured by every block.
        event_size: Event dimensionality ``D``.
        num_bins: Spline bins ``K``.
        bound: Spline half-interval.

    Returns:
        A bijector from base samples ``(batch, D)`` to events ``(batch, D)``.

    References:
        Papamakarios, Pavlakou, Murray, "Masked Autoregressive Flow for Density
        Estimation", NeurIPS 2017, arXiv:1705.07057.

    Example:
        >>> bij = conditional_maf(made_blocks, context, event_size=1, num_bins=8, bound=5.0)
        >>> x = bij.forward(tf.random.normal((n, 1)))
    """

    def make_fn(block):
        def bijector_fn(x, **_):
            params = block(x, context)
            # Reshape pins the static event shape that the autoregressive loop can lose.
            return tfb.Chain(
                [
                    tfb.Reshape([event_size], event_shape_in=[event_size]),
                    spline_from_params(params, num_bins, bound),
                ]
            )

        return bijector_fn

    mafs = [
        tfb.MaskedAutoregressiveFlow(bijector_fn=make_fn(block), unroll_loop=True, name=f"maf_{i}")
        for i, block in enumerate(blocks)
    ]
    # Chain applies its list right to left: the first block acts first on base samples.
    return tfb.Chain(list(reversed(mafs)))
