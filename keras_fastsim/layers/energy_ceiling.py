"""Energy conservation as a generator output layer."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_fastsim")
class EnergyCeiling(keras.layers.Layer):
    """Scales a shower down where its summed energy exceeds a fraction of the momentum.

    ``cells * min(1, max_fraction * p / sum(cells))``, with ``p`` read from column
    ``momentum_index`` of the conditions (in the energy unit of the cells). A shower cannot
    deposit more than the particle's energy; for electrons at BESIII momenta (>= 1 GeV/c)
    ``E = p`` to 1e-7. Below the ceiling the layer is the identity, so the shower's shape is
    untouched and gradients pass unchanged; above it, only the shape gets gradients.

    Args:
        max_fraction: Largest allowed ``sum(cells) / p`` (> 0). Default ``1.0``.
        momentum_index: Column of the conditions holding the momentum. Default ``0``.
        epsilon: Lower bound of the summed energy in the ratio. Default ``1e-9``.

    Call args:
        cells: Non-negative tensor ``(batch, ...)``.
        conditions: Tensor ``(batch, n_conditions)``.

    Returns:
        Tensor of the shape of ``cells``.

    Example:
        >>> EnergyCeiling()(np.full((1, 2, 2), 0.5, "float32"), np.array([[1.0]], "float32"))
        ... # [[[0.25, 0.25], [0.25, 0.25]]]: 2 GeV scaled down to p = 1 GeV/c
    """

    def __init__(
        self, max_fraction: float = 1.0, momentum_index: int = 0, epsilon: float = 1e-9,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not max_fraction > 0:
            raise ValueError(f"`max_fraction` must be > 0. Received: max_fraction={max_fraction}")
        if int(momentum_index) < 0:
            raise ValueError(
                f"`momentum_index` must be >= 0. Received: momentum_index={momentum_index}"
            )
        if not epsilon > 0:
            raise ValueError(f"`epsilon` must be > 0. Received: epsilon={epsilon}")
        self.max_fraction = float(max_fraction)
        self.momentum_index = int(momentum_index)
        self.epsilon = float(epsilon)

    def build(self, cells_shape, conditions_shape):
        if conditions_shape[-1] is not None and self.momentum_index >= int(conditions_shape[-1]):
            raise ValueError(
                f"`momentum_index` {self.momentum_index} is outside the conditions. "
                f"Received: conditions_shape={conditions_shape}"
            )

    def call(self, cells, conditions):
        axes = tuple(range(1, len(cells.shape)))
        total = ops.maximum(ops.sum(cells, axis=axes), self.epsilon)
        limit = self.max_fraction * ops.cast(conditions[:, self.momentum_index], cells.dtype)
        scale = ops.minimum(1.0, limit / total)
        return cells * ops.reshape(scale, (-1,) + (1,) * len(axes))

    def compute_output_shape(self, cells_shape, conditions_shape):
        return cells_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "max_fraction": self.max_fraction,
                "momentum_index": self.momentum_index,
                "epsilon": self.epsilon,
            }
        )
        return config
