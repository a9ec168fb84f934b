"""A generator output in units of the incident momentum."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_fastsim")
class MomentumScaling(keras.layers.Layer):
    """Multiplies a shower by ``p / reference``, ``p`` read from the conditions.

    The network before this layer then produces the shower in units of the momentum: its
    summed output is the response ``E_total / p`` (times ``reference``), which for an
    electromagnetic calorimeter hardly depends on ``p``. Without it the network has to learn
    that the energy and its fluctuations grow in proportion to ``p``; the BESIII EMC GAN
    learned the mean but not the growth of the width (docs/besiii_emc.md). Normalising the
    deposits by the incident energy is the usual choice of calorimeter surrogates (e.g. the
    CaloChallenge entries).

    Args:
        reference: Momentum (in the unit of the conditions' column) at which the layer is
            the identity; it keeps the initial output scale of the network. Default ``1.5``.
        momentum_index: Column of the conditions holding the momentum. Default ``0``.

    Call args:
        cells: Tensor ``(batch, ...)``.
        conditions: Tensor ``(batch, n_conditions)``.

    Returns:
        Tensor of the shape of ``cells``.

    References:
        Krause et al., "CaloChallenge 2022: A Community Challenge for Fast Calorimeter
        Simulation", arXiv:2410.21611 (2024).

    Example:
        >>> layer = MomentumScaling(reference=1.5)
        >>> cells = np.ones((2, 2, 2), "float32")
        >>> layer(cells, np.array([[1.5], [3.0]], "float32"))[:, 0, 0]  # [1.0, 2.0]
    """

    def __init__(self, reference: float = 1.5, momentum_index: int = 0, **kwargs):
        super().__init__(**kwargs)
        if not reference > 0:
            raise ValueError(f"`reference` must be > 0. Received: reference={reference}")
        if int(momentum_index) < 0:
            raise ValueError(
                f"`momentum_index` must be >= 0. Received: momentum_index={momentum_index}"
            )
        self.reference = float(reference)
        self.momentum_index = int(momentum_index)

    def build(self, cells_shape, conditions_shape):
        if conditions_shape[-1] is not None and self.momentum_index >= int(conditions_shape[-1]):
            raise ValueError(
                f"`momentum_index` {self.momentum_index} is outside the conditions. "
                f"Received: conditions_shape={conditions_shape}"
            )

    def call(self, cells, conditions):
        scale = ops.cast(conditions[:, self.momentum_index], cells.dtype) / self.reference
        return cells * ops.reshape(scale, (-1,) + (1,) * (len(cells.shape) - 1))

    def compute_output_shape(self, cells_shape, conditions_shape):
        return cells_shape

    def get_config(self):
        config = super().get_config()
        config.update({"reference": self.reference, "momentum_index": self.momentum_index})
        return config
