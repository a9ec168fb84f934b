"""Energy conservation as a smooth generator output layer."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_fastsim")
class EnergyCeiling(keras.layers.Layer):
    """Rescales a shower so that its summed energy stays below a fraction of the momentum.

    With ``T = sum(cells)`` and the ceiling ``L = max_fraction * p`` (``p`` read from column
    ``momentum_index`` of the conditions, in the energy unit of the cells), the output is
    ``cells * s / T`` with the new total the smooth minimum

        s = (T ** -k + L ** -k) ** (-1 / k) = T * (1 + (T / L) ** k) ** (-1 / k),

    ``k = sharpness``. So ``s < min(T, L)``: well below the ceiling the shower is unchanged
    (``s = T`` to ``(T / L) ** k / k``), far above it the total approaches ``L``, and the
    shower's shape is never changed. At ``T = L`` the total is ``2 ** (-1 / k) * L``
    (0.966 L for ``k = 20``).

    Why smooth: a hard cap ``min(T, L)`` gives the total no gradient above the ceiling. In a
    GAN every generated shower that once crossed it stayed pinned at ``E = L`` (measured on
    the BESIII EMC GAN, docs/besiii_emc.md). Here ``ds / dT = (1 + (T / L) ** k) ** (-1 - 1 / k)``
    stays positive, and a generator whose pre-ceiling total spreads symmetrically around
    ``L`` produces the skewed response of a real calorimeter: a pile-up just below the full
    energy and a leakage tail below it.

    Far above the ceiling that gradient vanishes (``~ (T / L) ** -(k + 1)``), and an
    untrained generator starts there (the BESIII generator's ``T / p`` is 20-45 at
    initialisation; with the ceiling on from the first step every shower stayed at
    ``E = p`` through training). So the layer holds a non-trainable switch ``active``
    (1.0: on, 0.0: the identity) that a training schedule turns on once the generator's
    totals are of the right size
    (:class:`keras_fastsim.training.gan.EnergyCeilingWarmup`). It is saved with the
    model; a loaded or exported generator applies the ceiling.

    Even from there the generator can drift above the ceiling during training and stay there,
    since nothing the discriminator sees changes (measured: every shower pinned at
    ``E = p`` two epochs after the switch). ``penalty_weight`` adds a loss on the factor the
    ceiling removes, which pulls such totals back (:class:`ConditionalGAN` adds the
    generator's own losses to its objective).

    Args:
        max_fraction: Ceiling of ``sum(cells) / p`` (> 0). Default ``1.0``.
        sharpness: Exponent ``k`` of the smooth minimum (> 0; larger is closer to the hard
            cap). Default ``20.0``.
        penalty_weight: Weight of the training loss ``mean(-log(s / T))`` that the layer
            adds while training with the ceiling on (``add_loss``; about ``log(T / L)`` above
            the ceiling, ~0 well below it). Default ``0.0`` (none).
        momentum_index: Column of the conditions holding the momentum. Default ``0``.
        epsilon: Lower bound of the summed energy and of the ceiling. Default ``1e-9``.

    Call args:
        cells: Non-negative tensor ``(batch, ...)``.
        conditions: Tensor ``(batch, n_conditions)``.
        training: Whether the penalty is added (only when training).

    Returns:
        Tensor of the shape of ``cells``.

    Example:
        >>> layer = EnergyCeiling(sharpness=20.0)
        >>> cells = np.stack([np.full((2, 2), 0.1), np.full((2, 2), 0.5)]).astype("float32")
        >>> ops.sum(layer(cells, np.array([[1.0], [1.0]], "float32")), axis=(1, 2))
        ... # [0.4, 1.0]: 0.4 GeV unchanged, 2 GeV brought just below p = 1 GeV/c
    """

    def __init__(
        self,
        max_fraction: float = 1.0,
        sharpness: float = 20.0,
        penalty_weight: float = 0.0,
        momentum_index: int = 0,
        epsilon: float = 1e-9,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not max_fraction > 0:
            raise ValueError(f"`max_fraction` must be > 0. Received: max_fraction={max_fraction}")
        if not sharpness > 0:
            raise ValueError(f"`sharpness` must be > 0. Received: sharpness={sharpness}")
        if not penalty_weight >= 0:
            raise ValueError(
                f"`penalty_weight` must be >= 0. Received: penalty_weight={penalty_weight}"
            )
        if int(momentum_index) < 0:
            raise ValueError(
                f"`momentum_index` must be >= 0. Received: momentum_index={momentum_index}"
            )
        if not epsilon > 0:
            raise ValueError(f"`epsilon` must be > 0. Received: epsilon={epsilon}")
        self.max_fraction = float(max_fraction)
        self.sharpness = float(sharpness)
        self.penalty_weight = float(penalty_weight)
        self.momentum_index = int(momentum_index)
        self.epsilon = float(epsilon)

    def build(self, cells_shape, conditions_shape):
        if conditions_shape[-1] is not None and self.momentum_index >= int(conditions_shape[-1]):
            raise ValueError(
                f"`momentum_index` {self.momentum_index} is outside the conditions. "
                f"Received: conditions_shape={conditions_shape}"
            )
        self.active = self.add_weight(
            shape=(), initializer="ones", trainable=False, name="active"
        )

    def call(self, cells, conditions, training=None):
        axes = tuple(range(1, len(cells.shape)))
        total = ops.maximum(ops.sum(cells, axis=axes), self.epsilon)
        limit = ops.maximum(
            self.max_fraction * ops.cast(conditions[:, self.momentum_index], cells.dtype),
            self.epsilon,
        )
        # (1 + (T / L) ** k) ** (-1 / k) in log space: no overflow for T >> L.
        log_ratio = ops.log(total) - ops.log(limit)
        log_scale = -ops.softplus(self.sharpness * log_ratio) / self.sharpness
        active = ops.cast(self.active, cells.dtype)
        if training and self.penalty_weight > 0:
            self.add_loss(-self.penalty_weight * active * ops.mean(log_scale))
        scale = active * ops.exp(log_scale) + (1.0 - active)
        return cells * ops.reshape(scale, (-1,) + (1,) * len(axes))

    def compute_output_shape(self, cells_shape, conditions_shape):
        return cells_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "max_fraction": self.max_fraction,
                "sharpness": self.sharpness,
                "penalty_weight": self.penalty_weight,
                "momentum_index": self.momentum_index,
                "epsilon": self.epsilon,
            }
        )
        return config
