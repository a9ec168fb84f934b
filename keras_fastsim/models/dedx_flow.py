"""Conditional normalizing flow for track-level dE/dx (BESIII)."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from keras import ops

from keras_fastsim.flows import conditional_maf, spline_params
from keras_fastsim.layers import MADE

tfb = tfp.bijectors
tfd = tfp.distributions

CONDITION_COLUMNS: tuple[str, ...] = ("p", "theta", "nhits")
"""Conditions of the flow, in the order of the ``conditions`` input columns."""


@keras.saving.register_keras_serializable(package="keras_fastsim")
class ConditionalDedxFlow(keras.Model):
    """Masked autoregressive spline flow of dE/dx given (p, theta, nHits).

    The architecture of the BESIII dE/dx paper: six identical MADE blocks, each an
    input layer of 64 units, three hidden layers of 64 and an output of 23 values
    parametrising an 8-bin rational-quadratic spline; standard-normal base.

    The event is ``u = (log(dedx) - loc) / scale`` with ``loc``/``scale`` the mean and
    standard deviation of ``log(dedx)`` on the training data; conditions enter as
    ``(log p, theta, nhits)`` standardised by a ``Normalization`` layer. Both
    preprocessings are fitted by :meth:`adapt` and saved with the weights. The
    density is in dE/dx units: the Jacobian of the preprocessing is included.

    Calling the model on ``{"conditions": (N, 3), "dedx": (N,)}`` returns the
    per-track negative log-likelihood, which ``fit()`` minimises.

    Args:
        num_blocks: Number of MADE/spline blocks. Default 6.
        hidden_units: Widths of each MADE's layers. Default ``(64, 64, 64, 64)``.
        num_bins: Spline bins. Default 8 (23 parameters per block).
        bound: Spline half-interval in standardised units; identity outside.
            Default 5.
        activation: MADE hidden activation. Default ``"relu"``.

    References:
        "A Data-driven dE/dx Simulation with Normalizing Flow", arXiv:2401.02692.

    Example:
        >>> flow = ConditionalDedxFlow()
        >>> flow.adapt(conditions, dedx)
        >>> flow.compile(optimizer="adam")
        >>> flow.fit({"conditions": conditions, "dedx": dedx}, batch_size=128)
        >>> simulated = flow.sample(conditions, seed=1)
    """

    def __init__(
        self,
        num_blocks: int = 6,
        hidden_units: Sequence[int] = (64, 64, 64, 64),
        num_bins: int = 8,
        bound: float = 5.0,
        activation: str = "relu",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(num_blocks) < 1:
            raise ValueError(f"`num_blocks` must be >= 1. Received: num_blocks={num_blocks}")
        if not bound > 0:
            raise ValueError(f"`bound` must be > 0. Received: bound={bound}")
        self.num_blocks = int(num_blocks)
        self.hidden_units = tuple(int(u) for u in hidden_units)
        self.num_bins = int(num_bins)
        self.bound = float(bound)
        self.activation = activation
        n_params = spline_params(self.num_bins)
        self.normalizer = keras.layers.Normalization(axis=-1, name="condition_norm")
        self.blocks = [
            MADE(
                event_size=1,
                params=n_params,
                hidden_units=self.hidden_units,
                activation=activation,
                name=f"made_{i}",
            )
            for i in range(self.num_blocks)
        ]
        self.dedx_stats = self.add_weight(
            name="dedx_stats", shape=(2,), initializer=keras.initializers.Constant([0.0, 1.0]),
            trainable=False,
        )

    # -- preprocessing ---------------------------------------------------------
    @staticmethod
    def _features(conditions):
        conditions = ops.cast(conditions, "float32")
        p, theta, nhits = conditions[:, 0:1], conditions[:, 1:2], conditions[:, 2:3]
        return ops.concatenate([ops.log(p), theta, nhits], axis=-1)

    def adapt(self, conditions: np.ndarray, dedx: np.ndarray) -> None:
        """Fits the condition standardisation and the dE/dx mapping to training data."""
        conditions, dedx = _check_inputs(conditions, dedx)
        self.normalizer.adapt(np.asarray(self._features(conditions)))
        log_dedx = np.log(dedx)
        self.dedx_stats.assign(np.array([log_dedx.mean(), log_dedx.std() + 1e-6], "float32"))

    def build(self, input_shape=None):
        if not self.normalizer.built:
            self.normalizer.build((None, len(CONDITION_COLUMNS)))
        for block in self.blocks:
            if not block.built:
                block.build((None, 1), (None, len(CONDITION_COLUMNS)))
        self.built = True

    # -- the flow ----------------------------------------------------------------
    def bijector(self, conditions) -> tfb.Bijector:
        """Bijector from standard-normal samples ``(N, 1)`` to dE/dx ``(N, 1)``."""
        context = self.normalizer(self._features(conditions))
        flow = conditional_maf(
            self.blocks, context, event_size=1, num_bins=self.num_bins, bound=self.bound
        )
        loc, scale = self.dedx_stats[0], self.dedx_stats[1]
        return tfb.Chain([tfb.Exp(), tfb.Shift(loc), tfb.Scale(scale), flow])

    def distribution(self, conditions) -> tfd.Distribution:
        """The conditional distribution of dE/dx, event shape ``[1]``."""
        base = tfd.Sample(tfd.Normal(tf.constant(0.0), 1.0), sample_shape=[1])
        return tfd.TransformedDistribution(base, self.bijector(conditions))

    def log_prob(self, conditions, dedx):
        """Log-density of ``dedx`` ``(N,)`` given ``conditions`` ``(N, 3)``."""
        dedx = ops.reshape(ops.cast(dedx, "float32"), (-1, 1))
        return self.distribution(conditions).log_prob(dedx)

    def call(self, inputs):
        return -self.log_prob(inputs["conditions"], inputs["dedx"])

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        # Average over the global batch so that gradients summed across replicas
        # match single-device training.
        return tf.nn.compute_average_loss(y_pred, sample_weight=sample_weight)

    def sample(self, conditions, seed: int | tf.Tensor = 0):
        """Samples one dE/dx per row of ``conditions``, reproducibly for a given seed.

        Args:
            conditions: ``(N, 3)`` array of (p [GeV/c], theta [rad], nhits).
            seed: Integer seed of the stateless base-distribution draw.

        Returns:
            ``(N,)`` float32 tensor of dE/dx.
        """
        conditions = ops.cast(conditions, "float32")
        seed = tf.stack([tf.cast(seed, tf.int64), tf.constant(0, tf.int64)])
        z = tf.random.stateless_normal((tf.shape(conditions)[0], 1), seed=seed)
        return tf.reshape(self.bijector(conditions).forward(z), (-1,))

    def sample_function(self, jit_compile: bool = False):
        """A graph-compiled :meth:`sample` for large batches, traced once for all shapes.

        Graph mode removes the per-op dispatch of eager sampling (about 1.6x faster at
        batch 2^20 on a 2-core CPU); XLA was slower than plain graph mode there.

        Returns:
            ``fn(conditions (N, 3) float32, seed int64 scalar) -> (N,) float32``.
        """
        return tf.function(
            lambda conditions, seed: self.sample(conditions, seed),
            input_signature=[
                tf.TensorSpec((None, len(CONDITION_COLUMNS)), tf.float32),
                tf.TensorSpec((), tf.int64),
            ],
            jit_compile=jit_compile,
        )

    def hyperparameters(self) -> dict:
        """The constructor arguments that define the architecture."""
        return {
            "num_blocks": self.num_blocks,
            "hidden_units": list(self.hidden_units),
            "num_bins": self.num_bins,
            "bound": self.bound,
            "activation": self.activation,
        }

    def get_config(self):
        return super().get_config() | self.hyperparameters()


def _check_inputs(conditions, dedx) -> tuple[np.ndarray, np.ndarray]:
    conditions = np.asarray(conditions, dtype=np.float32)
    dedx = np.asarray(dedx, dtype=np.float32).reshape(-1)
    if conditions.ndim != 2 or conditions.shape[1] != len(CONDITION_COLUMNS):
        raise ValueError(
            f"`conditions` must have shape (N, {len(CONDITION_COLUMNS)}) with columns "
            f"{CONDITION_COLUMNS}. Received: conditions.shape={conditions.shape}"
        )
    if len(dedx) != len(conditions):
        raise ValueError(
            "`conditions` and `dedx` must have the same length. "
            f"Received: len(conditions)={len(conditions)}, len(dedx)={len(dedx)}"
        )
    if not (np.isfinite(conditions).all() and np.isfinite(dedx).all()):
        raise ValueError("`conditions` and `dedx` must be finite. Received: NaN or inf values")
    if (dedx <= 0).any() or (conditions[:, 0] <= 0).any():
        raise ValueError("`dedx` and momentum must be > 0. Received: non-positive values")
    return conditions, dedx
