"""Shower position and width relative to the track, as features for a GAN discriminator."""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops

from keras_fastsim.layers.energy_features import check_image_shapes


@keras.saving.register_keras_serializable(package="keras_fastsim")
class ShowerMomentFeatures(keras.layers.Layer):
    """Energy-weighted centroid and width of 2D images, and their couplings to the conditions.

    For each of the two image axes ``a`` (rows, then columns), with cell coordinates ``x_a``
    counted from the centre cell, the layer computes the centroid
    ``m_a = sum(E x_a) / sum(E)`` and the width ``s_a = sqrt(sum(E (x_a - m_a)**2) / sum(E))``,
    standardises them, ``c_a = m_a / centroid_scale`` and
    ``w_a = (s_a - width_center) / width_scale`` (soft-clipped to ``clip * tanh(. / clip)``),
    and returns, in order:

    - ``c_0, c_1, w_0, w_1`` and their squares;
    - the couplings ``c_0 * y_j`` for every condition ``j``, then ``c_1 * y_j``,
      ``w_0 * y_j`` and ``w_1 * y_j``, with the standardised conditions
      ``y_j = (conditions_j - condition_center_j) / condition_scale_j``.

    Why couplings: a discriminator that ends in one logistic unit is linear in its features,
    and its convolutional features do not see the conditions. It can then tell a shower that
    sits at the wrong place *for its track* from a real one only through a product of a
    position and a condition: for a centroid that is Gaussian about ``a . y`` in the
    reference and about ``b . y`` in the generated showers, the log-likelihood ratio is
    linear in ``c * y_j`` (and ``c``, ``c**2`` for offsets and widths). In the BESIII barrel
    the centroid follows the incidence angles and the position in the hit crystal
    (correlations of 0.5-0.8), so a generator that gets these dependences wrong is otherwise
    invisible to the discriminator.

    Args:
        centroid_scale: Cells dividing the centroid (> 0). Default ``0.3``.
        width_center: Cells subtracted from the width. Default ``0.5``.
        width_scale: Cells dividing ``width - width_center`` (> 0). Default ``0.1``.
        condition_center: Subtracted from the conditions, one value per condition, or
            ``None`` (zeros). Default ``None``.
        condition_scale: Divides the centred conditions, one positive value per condition,
            or ``None`` (ones). Default ``None``.
        clip: Soft clip of the standardised centroid and width (> 0), so that a far-off
            shower (an untrained generator's) does not saturate the discriminator, or
            ``None`` (no clipping). Default ``4.0``.
        epsilon: Lower bound of the image energy and of the width's variance (> 0).
            Default ``1e-6``.

    Call args:
        images: Tensor ``(batch, H, W)`` or ``(batch, H, W, channels)``; channels are summed.
            ``H`` and ``W`` odd (the centre cell is the origin).
        conditions: Tensor ``(batch, n_conditions)``.

    Returns:
        Tensor of shape ``(batch, 8 + 4 * n_conditions)``.

    References:
        Paganini, de Oliveira, Nachman, "CaloGAN", Phys. Rev. D 97, 014021 (2018),
        arXiv:1712.10321 (physics features alongside the discriminator's learned ones).

    Example:
        >>> layer = ShowerMomentFeatures(condition_center=[1.5], condition_scale=[0.3], clip=None)
        >>> images = np.zeros((1, 3, 3), "float32"); images[0, 1, 2] = 1.0
        >>> layer(images, np.array([[1.8]], "float32"))  # y = 1; c_1 = 1 / 0.3 = c_1 * y
    """

    def __init__(
        self,
        centroid_scale: float = 0.3,
        width_center: float = 0.5,
        width_scale: float = 0.1,
        condition_center: Sequence[float] | None = None,
        condition_scale: Sequence[float] | None = None,
        clip: float | None = 4.0,
        epsilon: float = 1e-6,
        **kwargs,
    ):
        super().__init__(**kwargs)
        for name, value in (("centroid_scale", centroid_scale), ("width_scale", width_scale),
                            ("epsilon", epsilon)):
            if not value > 0:
                raise ValueError(f"`{name}` must be > 0. Received: {name}={value}")
        if clip is not None and not clip > 0:
            raise ValueError(f"`clip` must be > 0 or None. Received: clip={clip}")
        if condition_scale is not None and not all(s > 0 for s in condition_scale):
            raise ValueError(
                f"`condition_scale` must be positive. Received: condition_scale={condition_scale}"
            )
        if (condition_center is not None and condition_scale is not None
                and len(condition_center) != len(condition_scale)):
            raise ValueError(
                "`condition_center` and `condition_scale` must have the same length. "
                f"Received: condition_center={condition_center}, "
                f"condition_scale={condition_scale}"
            )
        self.centroid_scale = float(centroid_scale)
        self.width_center = float(width_center)
        self.width_scale = float(width_scale)
        self.condition_center = (
            None if condition_center is None else [float(v) for v in condition_center]
        )
        self.condition_scale = (
            None if condition_scale is None else [float(v) for v in condition_scale]
        )
        self.clip = None if clip is None else float(clip)
        self.epsilon = float(epsilon)

    def build(self, images_shape, conditions_shape):
        self._size = check_image_shapes("ShowerMomentFeatures", images_shape, conditions_shape, 0)
        n = conditions_shape[-1]
        for name, values in (("condition_center", self.condition_center),
                             ("condition_scale", self.condition_scale)):
            if values is not None and n is not None and len(values) != int(n):
                raise ValueError(
                    f"`{name}` needs one value per condition ({n}). Received: {name}={values}"
                )

    def _soft_clip(self, x):
        return x if self.clip is None else self.clip * ops.tanh(x / self.clip)

    def call(self, images, conditions):
        x = images if len(images.shape) == 3 else ops.sum(images, axis=-1)
        total = ops.maximum(ops.sum(x, axis=(1, 2)), self.epsilon)
        moments = []
        for axis, size in ((2, self._size[0]), (1, self._size[1])):
            profile = ops.sum(x, axis=axis)  # along the other axis
            coordinate = ops.cast(ops.arange(size) - size // 2, x.dtype)
            mean = ops.sum(profile * coordinate, axis=1) / total
            variance = ops.sum(profile * (coordinate - mean[:, None]) ** 2, axis=1) / total
            width = ops.sqrt(ops.maximum(variance, 0.0) + self.epsilon)
            moments.append((mean / self.centroid_scale,
                            (width - self.width_center) / self.width_scale))
        standard = [self._soft_clip(m) for m in (moments[0][0], moments[1][0],
                                                  moments[0][1], moments[1][1])]
        y = ops.cast(conditions, x.dtype)
        if self.condition_center is not None:
            y = y - ops.convert_to_tensor(self.condition_center, x.dtype)
        if self.condition_scale is not None:
            y = y / ops.convert_to_tensor(self.condition_scale, x.dtype)
        features = ops.stack(standard + [m**2 for m in standard], axis=-1)
        couplings = [m[:, None] * y for m in standard]
        return ops.concatenate([features, *couplings], axis=-1)

    def compute_output_shape(self, images_shape, conditions_shape):
        return (images_shape[0], 8 + 4 * int(conditions_shape[-1]))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "centroid_scale": self.centroid_scale,
                "width_center": self.width_center,
                "width_scale": self.width_scale,
                "condition_center": self.condition_center,
                "condition_scale": self.condition_scale,
                "clip": self.clip,
                "epsilon": self.epsilon,
            }
        )
        return config
