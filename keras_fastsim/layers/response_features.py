"""Standardised energy responses and momentum of 2D showers, for two-sample losses."""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops

from keras_fastsim.layers.energy_features import centred_window_sum, check_image_shapes


@keras.saving.register_keras_serializable(package="keras_fastsim")
class ResponseFeatures(keras.layers.Layer):
    """Per-shower points ``(r_w1, r_w2, ..., q)`` of the energy responses and the momentum.

    For every window ``w`` the response ``r_w = (E_wxw / p - center) / scale`` of the sum of
    the ``w x w`` cells centred on the centre cell (clipped to the image, so a window as large
    as the image gives the total energy), and the standardised momentum
    ``q = (p - momentum_center) / momentum_scale``, with ``p`` read from column
    ``momentum_index`` of the conditions. A two-sample loss on these points (e.g.
    :class:`~keras_fastsim.losses.two_sample.EnergyLoss`) compares the *joint* distribution of
    the responses and the momentum of real and generated showers, hence the mean and width of
    each response as functions of ``p``.

    Args:
        windows: Odd window sizes. Default ``(11, 5)`` (E_total and E5x5 of the BESIII image).
        center: Subtracted from ``E / p``. Default ``0.97`` (the BESIII reference response).
        scale: Divides ``E / p - center`` (> 0). Default ``0.03``.
        momentum_index: Column of the conditions holding ``p``. Default ``0``.
        momentum_center: Subtracted from ``p``. Default ``1.5``.
        momentum_scale: Divides ``p - momentum_center`` (> 0). Default ``0.3``.
        epsilon: Lower bound of ``p`` in the ratios. Default ``1e-6``.

    Call args:
        images: Tensor ``(batch, H, W)`` or ``(batch, H, W, channels)`` (odd ``H``, ``W``;
            channels are summed), energies in the unit of ``p``.
        conditions: Tensor ``(batch, n_conditions)``.

    Returns:
        Tensor ``(batch, len(windows) + 1)``.

    Example:
        >>> layer = ResponseFeatures(windows=(11,), center=0.0, scale=1.0)
        >>> layer(np.full((1, 11, 11, 1), 0.01, "float32"), np.full((1, 6), 1.21, "float32"))
        ... # [[1.0, -0.967]]
    """

    def __init__(
        self,
        windows: Sequence[int] = (11, 5),
        center: float = 0.97,
        scale: float = 0.03,
        momentum_index: int = 0,
        momentum_center: float = 1.5,
        momentum_scale: float = 0.3,
        epsilon: float = 1e-6,
        **kwargs,
    ):
        super().__init__(**kwargs)
        windows = tuple(int(w) for w in windows)
        if not windows or any(w < 1 or w % 2 == 0 for w in windows):
            raise ValueError(
                f"`windows` must be odd positive integers (at least one). Received: windows={windows}"
            )
        for name, value in (("scale", scale), ("momentum_scale", momentum_scale),
                            ("epsilon", epsilon)):
            if not value > 0:
                raise ValueError(f"`{name}` must be > 0. Received: {name}={value}")
        if int(momentum_index) < 0:
            raise ValueError(
                f"`momentum_index` must be >= 0. Received: momentum_index={momentum_index}"
            )
        self.windows = windows
        self.center = float(center)
        self.scale = float(scale)
        self.momentum_index = int(momentum_index)
        self.momentum_center = float(momentum_center)
        self.momentum_scale = float(momentum_scale)
        self.epsilon = float(epsilon)

    def build(self, images_shape, conditions_shape):
        self._size = check_image_shapes(
            "ResponseFeatures", images_shape, conditions_shape, self.momentum_index
        )

    def call(self, images, conditions):
        x = images if len(images.shape) == 3 else ops.sum(images, axis=-1)
        p = ops.cast(conditions[:, self.momentum_index], x.dtype)
        inverse_p = 1.0 / ops.maximum(p, self.epsilon)
        points = [
            (centred_window_sum(x, w, self._size) * inverse_p - self.center) / self.scale
            for w in self.windows
        ]
        points.append((p - self.momentum_center) / self.momentum_scale)
        return ops.stack(points, axis=-1)

    def compute_output_shape(self, images_shape, conditions_shape):
        return (images_shape[0], len(self.windows) + 1)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "windows": list(self.windows),
                "center": self.center,
                "scale": self.scale,
                "momentum_index": self.momentum_index,
                "momentum_center": self.momentum_center,
                "momentum_scale": self.momentum_scale,
                "epsilon": self.epsilon,
            }
        )
        return config
