"""Calorimeter-image features and energy scaling as Keras layers."""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops


def check_image_shapes(
    layer_name: str, images_shape, conditions_shape, momentum_index: int
) -> tuple[int, int]:
    """Validates ``(batch, H, W[, C])`` images of odd size and the momentum column.

    Returns:
        ``(H, W)``.
    """
    if len(images_shape) not in (3, 4) or images_shape[1] is None or images_shape[2] is None:
        raise ValueError(
            f"{layer_name} expects images of shape (batch, H, W) or (batch, H, W, C) with "
            f"known H and W. Received: images_shape={images_shape}"
        )
    height, width = int(images_shape[1]), int(images_shape[2])
    if height % 2 == 0 or width % 2 == 0:
        raise ValueError(
            f"{layer_name} needs odd image sizes (a centre cell). "
            f"Received: images_shape={images_shape}"
        )
    if conditions_shape[-1] is not None and momentum_index >= int(conditions_shape[-1]):
        raise ValueError(
            f"`momentum_index` {momentum_index} is outside the conditions. "
            f"Received: conditions_shape={conditions_shape}"
        )
    return height, width


def centred_window_sum(x, window: int, size: tuple[int, int]):
    """Sum of the ``window x window`` cells of ``x`` (batch, H, W) centred on the centre cell,
    clipped to the image of ``size = (H, W)``."""
    ch, cw = size[0] // 2, size[1] // 2
    hh, hw = min(window // 2, ch), min(window // 2, cw)
    return ops.sum(x[:, ch - hh:ch + hh + 1, cw - hw:cw + hw + 1], axis=(1, 2))


@keras.saving.register_keras_serializable(package="keras_fastsim")
class ShowerFeatures(keras.layers.Layer):
    """High-level features of 2D calorimeter images, for a GAN discriminator.

    For an image of odd size ``H x W`` (e.g. the 11 x 11 BESIII crystals around the hit
    crystal, which is the centre cell ``[H // 2, W // 2]``) the features are, in order:

    - ``E_total``: the sum of all cells;
    - ``E_wxw`` for every ``w`` in ``windows``: the sum of the ``w x w`` cells centred on the
      centre cell (clipped to the image);
    - ``sparsity``: the fraction of cells with energy ``> threshold``;
    - the response ``r = (E_total / p - response_center) / response_scale`` and its powers
      ``r**2, ..., r**response_powers``: ``p`` is the momentum read from column
      ``momentum_index`` of the conditions (in the energy unit of the image);
    - the momentum couplings ``r * q, ..., r**momentum_terms * q`` of the standardised
      momentum ``q = (p - momentum_center) / momentum_scale`` (none by default).

    All features are differentiable in the cell energies except the sparsity (a step).

    Why powers of a standardised response: a discriminator that ends in one logistic unit on
    these features is linear in them, and a linear function of ``E_total / p`` can only tell
    a shifted response from the real one, not a narrower one. With ``r`` and ``r**2`` the
    unit can represent the log-likelihood ratio of two Gaussian responses of different
    widths, and standardising keeps its weights of order one (Adam at a learning rate of
    2e-5 moves a weight by ~0.4 in 20k steps, far from the ~1/sigma**2 ~ 1e3 that the raw
    ratio would need). The couplings ``r**k * q`` let the same unit see how the response's
    mean and width change with the momentum (a calorimeter's relative resolution does), which
    ``r**k`` and ``p`` alone, added linearly, cannot.

    Args:
        windows: Odd window sizes of the centred sums. Default ``(3, 5)`` (E3x3, E5x5).
        threshold: Cell-energy threshold of the sparsity. Default ``0.0`` (cells ``> 0``).
        momentum_index: Column of the conditions holding the momentum. Default ``0``.
        epsilon: Lower bound of the momentum in the energy ratio. Default ``1e-6``.
        response_center: Subtracted from ``E_total / p``. Default ``0.0``.
        response_scale: Divides ``E_total / p - response_center`` (> 0). Default ``1.0``.
        response_powers: Number of powers of the response (>= 1). Default ``1``.
        response_clip: If given (> 0), the response is soft-clipped to
            ``clip * tanh(r / clip)`` before taking powers, so that a far-off shower (an
            untrained generator's E / p can be ~0) does not saturate the discriminator.
            Default ``None`` (no clipping).
        momentum_terms: Number of couplings ``r**k * q`` (``0 <= momentum_terms <=
            response_powers``). Default ``0``.
        momentum_center: Subtracted from ``p`` in ``q``. Default ``1.5``.
        momentum_scale: Divides ``p - momentum_center`` in ``q`` (> 0). Default ``0.3``
            (``q`` of unit spread for momenta uniform in 1-2 GeV/c).

    Call args:
        images: Tensor ``(batch, H, W)`` or ``(batch, H, W, channels)``; channels are summed.
        conditions: Tensor ``(batch, n_conditions)``.

    Returns:
        Tensor of shape ``(batch, len(windows) + 2 + response_powers + momentum_terms)``.

    References:
        Paganini, de Oliveira, Nachman, "CaloGAN", Phys. Rev. D 97, 014021 (2018),
        arXiv:1712.10321 (energy and sparsity features in the discriminator).

    Example:
        >>> features = ShowerFeatures()
        >>> features(np.ones((2, 11, 11, 1), "float32"), np.full((2, 6), 2.0, "float32"))
        ... # [[121, 9, 25, 1, 60.5], [121, 9, 25, 1, 60.5]]
    """

    def __init__(
        self,
        windows: Sequence[int] = (3, 5),
        threshold: float = 0.0,
        momentum_index: int = 0,
        epsilon: float = 1e-6,
        response_center: float = 0.0,
        response_scale: float = 1.0,
        response_powers: int = 1,
        response_clip: float | None = None,
        momentum_terms: int = 0,
        momentum_center: float = 1.5,
        momentum_scale: float = 0.3,
        **kwargs,
    ):
        super().__init__(**kwargs)
        windows = tuple(int(w) for w in windows)
        if any(w < 1 or w % 2 == 0 for w in windows):
            raise ValueError(
                f"`windows` must be odd positive integers. Received: windows={windows}"
            )
        if int(momentum_index) < 0:
            raise ValueError(
                f"`momentum_index` must be >= 0. Received: momentum_index={momentum_index}"
            )
        if not epsilon > 0:
            raise ValueError(f"`epsilon` must be > 0. Received: epsilon={epsilon}")
        if not response_scale > 0:
            raise ValueError(
                f"`response_scale` must be > 0. Received: response_scale={response_scale}"
            )
        if int(response_powers) < 1:
            raise ValueError(
                f"`response_powers` must be >= 1. Received: response_powers={response_powers}"
            )
        if response_clip is not None and not response_clip > 0:
            raise ValueError(
                f"`response_clip` must be > 0 or None. Received: response_clip={response_clip}"
            )
        if not 0 <= int(momentum_terms) <= int(response_powers):
            raise ValueError(
                "`momentum_terms` must be in [0, response_powers]. "
                f"Received: momentum_terms={momentum_terms}, response_powers={response_powers}"
            )
        if not momentum_scale > 0:
            raise ValueError(
                f"`momentum_scale` must be > 0. Received: momentum_scale={momentum_scale}"
            )
        self.windows = windows
        self.momentum_terms = int(momentum_terms)
        self.momentum_center = float(momentum_center)
        self.momentum_scale = float(momentum_scale)
        self.response_clip = None if response_clip is None else float(response_clip)
        self.response_center = float(response_center)
        self.response_scale = float(response_scale)
        self.response_powers = int(response_powers)
        self.threshold = float(threshold)
        self.momentum_index = int(momentum_index)
        self.epsilon = float(epsilon)

    def build(self, images_shape, conditions_shape):
        self._size = check_image_shapes(
            "ShowerFeatures", images_shape, conditions_shape, self.momentum_index
        )

    def call(self, images, conditions):
        x = images if len(images.shape) == 3 else ops.sum(images, axis=-1)
        total = ops.sum(x, axis=(1, 2))
        features = [total]
        features.extend(centred_window_sum(x, w, self._size) for w in self.windows)
        above = ops.cast(ops.greater(x, self.threshold), x.dtype)
        features.append(ops.mean(above, axis=(1, 2)))
        momentum = ops.maximum(conditions[:, self.momentum_index], self.epsilon)
        response = (total / ops.cast(momentum, x.dtype) - self.response_center) / self.response_scale
        if self.response_clip is not None:
            response = self.response_clip * ops.tanh(response / self.response_clip)
        powers = [response**k for k in range(1, self.response_powers + 1)]
        features.extend(powers)
        if self.momentum_terms:
            q = (ops.cast(momentum, x.dtype) - self.momentum_center) / self.momentum_scale
            features.extend(power * q for power in powers[: self.momentum_terms])
        return ops.stack(features, axis=-1)

    def compute_output_shape(self, images_shape, conditions_shape):
        return (
            images_shape[0],
            len(self.windows) + 2 + self.response_powers + self.momentum_terms,
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "windows": list(self.windows),
                "threshold": self.threshold,
                "momentum_index": self.momentum_index,
                "epsilon": self.epsilon,
                "response_center": self.response_center,
                "response_scale": self.response_scale,
                "response_powers": self.response_powers,
                "response_clip": self.response_clip,
                "momentum_terms": self.momentum_terms,
                "momentum_center": self.momentum_center,
                "momentum_scale": self.momentum_scale,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="keras_fastsim")
class Log1pScaling(keras.layers.Layer):
    """Compresses energies: ``y = log1p(x / scale)``.

    Cell energies of a shower span four or more decades (the hit crystal carries ~80% of
    the energy, the outer crystals MeV or less); networks see them better on a log scale.
    ``log1p`` keeps zero at zero and is linear below ``scale``.

    Args:
        scale: Energy unit of the compression (same unit as the inputs), > 0.

    Call args:
        inputs: Non-negative tensor.

    Returns:
        Tensor of the inputs' shape.
    """

    def __init__(self, scale: float = 1e-3, **kwargs):
        super().__init__(**kwargs)
        if not scale > 0:
            raise ValueError(f"`scale` must be > 0. Received: scale={scale}")
        self.scale = float(scale)

    def call(self, inputs):
        return ops.log1p(ops.maximum(inputs, 0.0) / self.scale)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config["scale"] = self.scale
        return config
