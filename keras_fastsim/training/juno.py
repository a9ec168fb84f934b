"""Training the JUNO nets NN_npe and NN_time as generators with a distribution-matching loss.

NN_npe and NN_time have a noise input: they are implicit generative models of a conditional
distribution (n_pe, or a hit time, given ``(R, theta)``), so they cannot be fitted by plain
regression. Two families of losses are implemented; the packaged configs use the first.

Quantile (pinball) loss -- :class:`QuantileTrainer`, ``loss="quantile"`` (packaged)
-----------------------------------------------------------------------------------
For a one-dimensional output the ideal one-noise generator is the conditional quantile function
``G(c, z) = F^-1(Phi(z) | c)``. Each reference row ``(c, y)`` is compared with ``G(c, z)`` at noise
levels ``u = Phi(z)`` with the pinball loss; its average over ``u`` is the CRPS, a strictly
proper scoring rule, minimised exactly by the right conditional distribution (implicit quantile
networks, Dabney et al. 2018). It is a per-row sum (no pairwise matrices, any batch size), needs
no second draw of conditions, and makes the net increasing in its noise, which the fast path's
first-hit draw uses. NN_npe adds a Poisson-deviance term on the noise-averaged output (the mean
count that the total p.e. sums). Measured against the two-sample losses in ``docs/juno.md``.

Two-sample statistics -- :class:`GeneratorTrainer` (``"mmd"``, ``"smoothknn"``, ``"energy"``)
--------------------------------------------------------------------------------------------
Like the BESIII dE/dx dense net (SPEC 2.2): for a batch of reference rows ``(R_i, theta_i, y_i)``
the generator draws outputs for an independent batch of conditions and the loss is a two-sample
statistic between the joint samples (:mod:`keras_fastsim.losses.two_sample`, shared with the
dE/dx net); it vanishes in expectation exactly when ``G`` reproduces the conditional
distribution. SmoothKNN beat MMD on the R < 15 m time net (3.4 vs 3.9 ns after 600 steps), the
quantile loss beat both at equal wall time (3.2 ns) and reached 0.9 ns with the larger batches
and longer training it makes affordable (``docs/juno.md``).

Features of a two-sample loss: the conditions and the output are standardised with the training data's
mean and standard deviation (stored in the trainer's config); the output is multiplied by
``output_weight`` so that the kernels resolve it more finely than the conditions.

Distribution: the statistic of one replica's batch is divided by the number of replicas, so that
the gradients summed by ``tf.distribute`` equal the mean of the replicas' gradients.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
import yaml

from keras_fastsim.io.atomic import atomic_path
from keras_fastsim.losses.two_sample import get_two_sample_loss
from keras_fastsim.models.juno import (
    CONDITION_COLUMNS,
    MODEL_FILE,
    JunoNpeNet,
    JunoTimeModel,
    check_conditions,
    load_juno_npe,
    load_juno_time,
)
from keras_fastsim.physics.juno_vessel import PMT_RADIUS_M, pmt_distance_squared
from keras_fastsim.training.fit import fit_with_checkpoints
from keras_fastsim.training.strategy import get_strategy

__all__ = [
    "MODEL_FILE",
    "GeneratorTrainer",
    "QuantileTrainer",
    "average_checkpoint_weights",
    "fit_generator",
    "load_juno_npe",
    "load_juno_time",
    "pinball_loss",
    "poisson_deviance",
    "train_juno_npe",
    "train_juno_time",
]

MIN_TIME_NS = 0.1
"""Hit times below this are clipped for training (see :func:`train_juno_time`)."""
CONFIG_FILE = "config.yaml"
_TRANSFORMS = ("identity", "log", "tof_residual")
QUANTILE_LOSS = "quantile"
"""Loss name of :class:`QuantileTrainer` (a per-row proper scoring rule, not a two-sample statistic)."""
_R_BIN_M = 0.5  # width of the radius bins of ``r_balance`` sampling
_V_LS_M_PER_NS = 0.299792458 / 1.53  # group velocity in the LS (reference config ng_ls)


class _GeneratorTraining(keras.Model):
    """What both JUNO trainers share: the wrapped generator, a seeded noise stream, saving."""

    def __init__(self, generator: keras.Model, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.generator = generator
        self.seed = int(seed)
        self.seed_generator = keras.random.SeedGenerator(self.seed)

    def build(self, input_shape=None):
        if not self.generator.built:
            self.generator.build((None, 3))
        self.built = True

    def get_config(self):
        return {"name": self.name, "generator": keras.saving.serialize_keras_object(self.generator),
                "seed": self.seed}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["generator"] = keras.saving.deserialize_keras_object(config["generator"])
        return cls(**config)


@keras.saving.register_keras_serializable(package="keras_fastsim")
class GeneratorTrainer(_GeneratorTraining):
    """Wraps a conditional generator for training with a two-sample loss.

    A batch is ``x = (B, 4)``: the conditions ``x[:, :2]`` of the reference outputs ``y`` and
    an *independent* draw of conditions ``x[:, 2:4]`` for the generator. ``call(x)`` draws one
    standard-normal noise value per row (from the trainer's ``SeedGenerator``) and returns the
    generator's output for ``x[:, 2:4]``; ``compute_loss`` compares the joint samples
    ``(x[:, :2], y)`` and ``(x[:, 2:4], y_pred)`` with the two-sample statistic. (Reusing the
    reference rows' own conditions for the generator makes the two samples dependent: the
    unbiased MMD then acquires an ``O(1/B)`` bias that rewards generating near the conditional
    mode, and the k-NN statistic counts every (reference, generated) twin at the same
    conditions as a cross edge, which drove it below its null mean in a trial run.)

    Args:
        generator: A :class:`~keras_fastsim.models.juno.JunoNpeNet` or
            :class:`~keras_fastsim.models.juno.JunoTimeNet` (input ``(R, theta, noise)``).
        feature_mean: Means of ``(R, theta, f(y))`` used to standardise the loss features.
        feature_std: Standard deviations of the same.
        loss: Two-sample loss name (``"mmd"``, ``"smoothknn"``, ``"energy"``).
        loss_config: Constructor arguments of the loss.
        output_transform: Applied to the output before standardisation: ``"identity"``,
            ``"log"`` (``f(y) = log y``) or ``"tof_residual"`` (``f = t - d(R, theta) / v_LS``,
            the hit time minus the straight-line time of flight to the PMT; for times). Each is
            a bijection of the joint sample for fixed conditions, so the loss still vanishes
            only for the right conditional distribution; the residual removes the ~100 ns
            dependence of the time on theta from the features so that the kernels resolve
            the ns-scale shape.
        output_weight: Factor on the standardised output feature.
        moment_weight: Weight of the local-moment term added to the statistic (0: off). The
            term is ``sum_k sum_p (m_kp,ref - m_kp,gen)^2`` with the local moments
            ``m_kp = sum_i phi_k(c_i) u_i^p / sum_i phi_k(c_i)``, ``p = 1..moment_orders``
            (kernel-weighted conditional moments), ``u`` the standardised output and ``phi_k``
            Gaussian bumps (width 0.5) on a 6 x 7 grid over [-1.8, 1.2] x [-2, 2] of the
            standardised (R, theta) (the data's range; the
            generated batch is split in two halves and the product of the two differences is
            used, so that the gradient is unbiased up to the ratio-estimator bias of the
            local means): a squared distance between the local conditional moments, blind to
            everything else but very sensitive to them; the Gaussian-kernel statistic it is
            added to keeps the loss a proper two-sample statistic. It targets the per-cent-level conditional
            mean of n_pe (the total p.e.) that the Gaussian kernels resolve too weakly at
            feasible batch sizes (measured, ``docs/juno.md``).
        moment_orders: 1 (means) or 2 (means and second moments).
        seed: Seed of the noise stream.
    """

    def __init__(
        self,
        generator: keras.Model,
        feature_mean: list[float],
        feature_std: list[float],
        loss: str = "mmd",
        loss_config: dict[str, Any] | None = None,
        output_transform: str = "identity",
        output_weight: float = 1.0,
        moment_weight: float = 0.0,
        moment_orders: int = 1,
        seed: int = 0,
        **kwargs,
    ):
        super().__init__(generator, seed, **kwargs)
        if output_transform not in _TRANSFORMS:
            raise ValueError(
                f"`output_transform` must be one of {_TRANSFORMS}. Received: output_transform={output_transform!r}"
            )
        if len(feature_mean) != 3 or len(feature_std) != 3 or min(feature_std) <= 0:
            raise ValueError(
                "`feature_mean` and `feature_std` need 3 entries (R, theta, output), std > 0. "
                f"Received: feature_mean={feature_mean!r}, feature_std={feature_std!r}"
            )
        if not output_weight > 0:
            raise ValueError(f"`output_weight` must be > 0. Received: output_weight={output_weight!r}")
        self.feature_mean = [float(v) for v in feature_mean]
        self.feature_std = [float(v) for v in feature_std]
        self.loss_name = loss
        self.loss_config = dict(loss_config or {})
        self.two_sample = get_two_sample_loss(loss, **self.loss_config)
        self.output_transform = output_transform
        self.output_weight = float(output_weight)
        if not (moment_weight >= 0):
            raise ValueError(f"`moment_weight` must be >= 0. Received: moment_weight={moment_weight!r}")
        self.moment_weight = float(moment_weight)
        if moment_orders not in (1, 2):
            raise ValueError(f"`moment_orders` must be 1 or 2. Received: moment_orders={moment_orders!r}")
        self.moment_orders = int(moment_orders)

    def call(self, conditions, training=False):
        """Generator draws for the *fake* conditions ``x[:, 2:4]`` of a ``(B, 4)`` batch."""
        conditions = ops_cast(conditions)
        if conditions.shape[-1] == 4:
            conditions = conditions[:, 2:4]
        z = keras.random.normal((tf.shape(conditions)[0], 1), seed=self.seed_generator)
        return self.generator(tf.concat([conditions, z], axis=-1), training=training)

    def features(self, conditions, y):
        """Standardised ``(R, theta, w f(y))`` features of the loss, shape ``(N, 3)``."""
        conditions = ops_cast(conditions)
        y = tf.reshape(tf.cast(y, tf.float32), (-1, 1))
        if self.output_transform == "log":
            y = tf.math.log(tf.maximum(y, 1e-3))
        elif self.output_transform == "tof_residual":
            y = y - _tof_ns(conditions[:, 0:1], conditions[:, 1:2])
        mean = tf.constant(self.feature_mean, tf.float32)
        std = tf.constant(self.feature_std, tf.float32)
        x = (tf.concat([conditions, y], axis=-1) - mean) / std
        return x * tf.constant([1.0, 1.0, self.output_weight], tf.float32)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        x = ops_cast(x)
        real, fake = self.features(x[:, :2], y), self.features(x[:, 2:4], y_pred)
        stat = self.two_sample(real, fake)
        if self.moment_weight > 0:
            # (m_ref - m_gen,1) . (m_ref - m_gen,2) over two halves of the generated batch:
            # its gradient is unbiased for that of (E m_ref - E m_gen)^2 (a plain square would
            # add the variance of the batch mean, whose gradient narrows the generated sample)
            half = tf.shape(fake)[0] // 2
            m_ref = _local_moments(real, self.output_weight, self.moment_orders)
            d1 = m_ref - _local_moments(fake[:half], self.output_weight, self.moment_orders)
            d2 = m_ref - _local_moments(fake[half:], self.output_weight, self.moment_orders)
            stat = stat + self.moment_weight * tf.reduce_sum(d1 * d2)
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        return stat / tf.cast(replicas, stat.dtype)

    def get_config(self):
        return super().get_config() | {
            "feature_mean": self.feature_mean,
            "feature_std": self.feature_std,
            "loss": self.loss_name,
            "loss_config": self.loss_config,
            "output_transform": self.output_transform,
            "output_weight": self.output_weight,
            "moment_weight": self.moment_weight,
            "moment_orders": self.moment_orders,
        }


def pinball_loss(y, g, u):
    """The pinball (quantile) loss ``rho_u(y - g) = (y - g) (u - 1[y < g])``, elementwise.

    ``E_y[rho_u(y - g)]`` is minimised by the ``u``-quantile of ``y``; averaged over
    ``u ~ U(0, 1)`` it is half the continuous ranked probability score (CRPS) of the
    distribution of ``g(u)`` (Gneiting and Raftery 2007), a strictly proper scoring rule.
    At ``y = g`` the gradient with respect to ``g`` is ``-u`` (the convention of the
    ``1[y < g]`` indicator).
    """
    r = y - g
    return r * (u - tf.cast(r < 0.0, r.dtype))


def poisson_deviance(y, mu, eps: float = 1e-4):
    """The Poisson deviance ``2 (y log(y / mu) - (y - mu))`` per row, with ``mu + eps`` in the log.

    Its expectation over ``y`` is minimised by ``mu = E[y]`` (up to ``eps``);
    ``d/d mu = 2 (1 - y / (mu + eps))``. For an estimate ``mu = s X`` with a noisy ``X`` the
    minimiser over the scale ``s`` is still unbiased (``E[s X] = E[y]`` when ``E X = 1``).
    """
    mu_e = mu + eps
    ylogy = tf.where(y > 0, y * tf.math.log(tf.maximum(y, eps) / mu_e), tf.zeros_like(y))
    return 2.0 * (ylogy - (y - mu))


@keras.saving.register_keras_serializable(package="keras_fastsim")
class QuantileTrainer(_GeneratorTraining):
    """Trains a one-noise generator as the conditional quantile function of its output.

    For a batch of rows ``(c_i, y_i)`` the generator is evaluated at ``num_levels``
    stratified probability levels per row, ``u_ik = (k + v_i) / K`` (``v_i ~ U(0, 1)``), i.e.
    at the noise values ``z_ik = Phi^-1(u_ik)``, and the loss is the pinball loss
    :func:`pinball_loss` of ``y_i`` against ``G(c_i, z_ik)`` at level ``u_ik``. Its
    expectation over the data and the levels is the CRPS of the generated conditional
    distribution, which is minimised exactly when ``G(c, Phi^-1(u))`` is the conditional
    ``u``-quantile of ``y`` for every ``c``: ``G(c, Z)`` with ``Z ~ N(0, 1)`` then has the
    conditional distribution of ``y``, and ``G`` is increasing in its noise (a quantile
    function), which the fast path's first-hit draw uses. Unlike a two-sample statistic it is a
    sum over rows: no pairwise matrices, any batch size, and no coupling between the
    generated and the reference conditions (implicit quantile networks, Dabney et al. 2018).

    ``mean_weight > 0`` adds the Poisson deviance (:func:`poisson_deviance`) of ``y_i`` against
    the noise average ``mu_i = mean_k G(c_i, z_ik)`` (stratified over the ``K`` levels, an
    unbiased estimate of ``E_z G``). It pins the conditional mean directly -- what the total p.e.
    of an event sums -- while the pinball term alone reaches the mean of a count (a step
    function of the noise) only through the positions of the steps, which a smooth net blurs
    (measured: about -8 % at weight 1, ``docs/juno.md``). Both terms are minimised by the true
    conditional distribution, so they do not compete at the optimum; the weight sets how much
    the blurred steps may bias the mean.

    ``level_scale > 1`` draws the noise of the levels from ``N(0, level_scale^2)`` instead of
    ``N(0, 1)`` (``z_ik = level_scale * Phi^-1((k + v_i) / K)``, each at its own level
    ``u_ik = Phi(z_ik)``). The pinball loss is minimised by the ``u``-quantile at *every* level,
    so the optimum is unchanged; the tails of the distribution (e.g. the slow scintillation and
    re-emission tail of the hit times beyond the 99 % quantile) just get more training rows.
    It cannot be combined with the mean term (whose noise average needs ``N(0, 1)``).

    ``relu_leak > 0`` (for a generator ending in ``relu``, i.e. NN_npe) replaces the gradient of
    the final ``relu`` by ``1[x > 0] + relu_leak`` (straight-through: the output values are
    unchanged), so that conditions where the output is ``0`` for every level keep a gradient
    and the output cannot die.

    Args:
        generator: A :class:`~keras_fastsim.models.juno.JunoNpeNet` or
            :class:`~keras_fastsim.models.juno.JunoTimeNet`.
        num_levels: Stratified levels per row (``K``). Default 4.
        mean_weight: Weight of the Poisson mean term (0: off). Default 0.
        relu_leak: Straight-through gradient slope of a final ``relu`` below 0. Default 0.
        level_scale: Standard deviation of the noise at which the levels are drawn (>= 1).
            Default 1.
        loss_scale: The loss is divided by this (a typical output scale), so that its values
            are of order one. Default 1.
        seed: Seed of the levels.
    """

    def __init__(
        self,
        generator: keras.Model,
        num_levels: int = 4,
        mean_weight: float = 0.0,
        relu_leak: float = 0.0,
        level_scale: float = 1.0,
        loss_scale: float = 1.0,
        seed: int = 0,
        **kwargs,
    ):
        super().__init__(generator, seed, **kwargs)
        if isinstance(num_levels, bool) or not isinstance(num_levels, (int, np.integer)) or num_levels < 1:
            raise ValueError(f"`num_levels` must be a positive integer. Received: num_levels={num_levels!r}")
        for name, value in (("mean_weight", mean_weight), ("relu_leak", relu_leak)):
            if not (isinstance(value, (int, float, np.floating)) and value >= 0):
                raise ValueError(f"`{name}` must be a number >= 0. Received: {name}={value!r}")
        if not (isinstance(level_scale, (int, float, np.floating)) and level_scale >= 1.0):
            raise ValueError(f"`level_scale` must be a number >= 1. Received: level_scale={level_scale!r}")
        if level_scale != 1.0 and mean_weight > 0:
            raise ValueError(
                "`level_scale` != 1 cannot be combined with the mean term. "
                f"Received: level_scale={level_scale!r}, mean_weight={mean_weight!r}"
            )
        if not (isinstance(loss_scale, (int, float, np.floating)) and loss_scale > 0):
            raise ValueError(f"`loss_scale` must be > 0. Received: loss_scale={loss_scale!r}")
        if relu_leak > 0 and not hasattr(generator, "npe_preactivation"):
            raise ValueError(
                "`relu_leak` needs a generator with a final relu (JunoNpeNet). "
                f"Received: generator={type(generator).__name__}"
            )
        self.num_levels = int(num_levels)
        self.mean_weight = float(mean_weight)
        self.relu_leak = float(relu_leak)
        self.level_scale = float(level_scale)
        self.loss_scale = float(loss_scale)

    def call(self, conditions, training=False):
        """``(B, 2K)``: the generator at the ``K`` levels of each row, then the levels ``u``."""
        c = ops_cast(conditions)[:, :2]
        b, k = tf.shape(c)[0], self.num_levels
        v = keras.random.uniform((b, 1), seed=self.seed_generator)
        u = (tf.cast(tf.range(k), tf.float32)[None, :] + v) / float(k)
        u = tf.clip_by_value(u, 1e-6, 1.0 - 1e-6)
        z = tf.math.ndtri(u)
        if self.level_scale != 1.0:
            z = self.level_scale * z
            u = tf.clip_by_value(0.5 * tf.math.erfc(-z / np.sqrt(2.0)), 1e-7, 1.0 - 1e-7)  # Phi(z)
        x = tf.concat([tf.repeat(c, k, axis=0), tf.reshape(z, (-1, 1))], axis=-1)
        if self.relu_leak > 0:
            pre = self.generator.npe_preactivation(x, training=training)
            g = tf.nn.relu(pre) + self.relu_leak * (pre - tf.stop_gradient(pre))
        else:
            g = self.generator(x, training=training)
        return tf.concat([tf.reshape(g, (b, k)), u], axis=-1)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        k = self.num_levels
        g, u = y_pred[:, :k], y_pred[:, k:]
        y = tf.reshape(tf.cast(y, tf.float32), (-1, 1))
        loss = tf.reduce_mean(pinball_loss(y, g, u))
        if self.mean_weight > 0:
            mu = tf.reduce_mean(g, axis=1, keepdims=True)
            loss = loss + self.mean_weight * tf.reduce_mean(poisson_deviance(y, mu))
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        return loss / (self.loss_scale * tf.cast(replicas, loss.dtype))

    def get_config(self):
        return super().get_config() | {
            "num_levels": self.num_levels, "mean_weight": self.mean_weight,
            "relu_leak": self.relu_leak, "level_scale": self.level_scale, "loss_scale": self.loss_scale,
        }


_BUMP_CENTRES = np.array(
    [(a, b) for a in np.linspace(-1.8, 1.2, 6) for b in np.linspace(-2.0, 2.0, 7)], np.float32
)
_BUMP_WIDTH = 0.5


def _local_moments(features, output_weight: float, orders: int = 1):
    """``(42, orders)`` local moments ``sum_i phi_k(c_i) u_i^p / sum_i phi_k(c_i)`` (``moment_weight``)."""
    c, u = features[:, :2], features[:, 2:3] / output_weight
    d2 = tf.reduce_sum(tf.square(c[:, None, :] - tf.constant(_BUMP_CENTRES)[None]), axis=-1)
    phi = tf.exp(-d2 / (2.0 * _BUMP_WIDTH**2))
    norm = tf.reduce_sum(phi, axis=0) + 1e-3
    return tf.stack([tf.reduce_sum(phi * u**p, axis=0) / norm for p in range(1, orders + 1)], axis=-1)


def _tof_ns(r, theta):
    """Straight-line time of flight [ns] from a deposit at (R, theta) to the PMT (LS speed)."""
    return tf.sqrt(pmt_distance_squared(r, tf.cos(theta))) / _V_LS_M_PER_NS


def ops_cast(x):
    """float32 tensor of ``x``."""
    return tf.cast(x, tf.float32)


def _feature_stats(cond: np.ndarray, y: np.ndarray, transform: str) -> tuple[list[float], list[float]]:
    if transform == "log":
        f = np.log(np.maximum(y, 1e-3))
    elif transform == "tof_residual":
        f = y - _tof_ns(cond[:, 0].astype(np.float32), cond[:, 1].astype(np.float32)).numpy()
    else:
        f = y
    data = np.concatenate([cond.astype(np.float64), f.reshape(-1, 1).astype(np.float64)], axis=1)
    std = np.maximum(data.std(axis=0), 1e-6)
    return data.mean(axis=0).tolist(), std.tolist()


def _split_events(events: np.ndarray, validation_fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of validation rows: whole deposits (events) are held out."""
    if not 0.0 <= validation_fraction < 1.0:
        raise ValueError(
            f"`validation_fraction` must be in [0, 1). Received: validation_fraction={validation_fraction}"
        )
    unique = np.unique(events)
    n_val = int(round(validation_fraction * len(unique)))
    val_events = np.random.default_rng(seed).choice(unique, n_val, replace=False)
    return np.isin(events, val_events)


def _check_balance(r_balance: Any) -> float:
    if not (isinstance(r_balance, (int, float, np.floating)) and 0.0 <= r_balance <= 1.0):
        raise ValueError(f"`r_balance` must be in [0, 1]. Received: r_balance={r_balance!r}")
    return float(r_balance)


def _check_near(near_fraction: Any, near_distance_m: Any) -> tuple[float, float]:
    if not (isinstance(near_fraction, (int, float, np.floating)) and not isinstance(near_fraction, bool)
            and 0.0 <= near_fraction < 1.0):
        raise ValueError(f"`near_fraction` must be in [0, 1). Received: near_fraction={near_fraction!r}")
    if not (isinstance(near_distance_m, (int, float, np.floating)) and not isinstance(near_distance_m, bool)
            and near_distance_m > 0):
        raise ValueError(f"`near_distance_m` must be > 0. Received: near_distance_m={near_distance_m!r}")
    return float(near_fraction), float(near_distance_m)


def pmt_distance(cond: np.ndarray, pmt_radius_m: float = PMT_RADIUS_M) -> np.ndarray:
    """Distance [m] from a deposit at ``(R, theta)`` (rows of ``cond``) to the PMT at ``pmt_radius_m``."""
    r, theta = cond[:, 0].astype(np.float64), cond[:, 1].astype(np.float64)
    return np.sqrt(keras.ops.convert_to_numpy(pmt_distance_squared(r, np.cos(theta), pmt_radius_m)))


def random_batches(
    cond: np.ndarray, y: np.ndarray, batch_size: int, steps: int, seed: int, *,
    paired: bool = True, r_balance: float = 0.0, near_fraction: float = 0.0, near_distance_m: float = 10.0,
) -> tf.data.Dataset:
    """``steps`` batches of rows drawn with replacement, a new draw every epoch.

    With ``paired=True`` each element is ``(x (B, 4), y (B, 1))``: ``x[:, :2]`` the conditions
    of the rows ``y``, ``x[:, 2:4]`` the conditions of ``B`` further, independent rows (for the
    generator of a two-sample loss); with ``paired=False`` it is ``(x (B, 2), y (B, 1))``.

    ``r_balance`` flattens the radius distribution of the batches: the rows are grouped in
    0.5 m bins of ``R`` and a bin holding ``n_b`` rows is drawn with probability
    ``~ n_b^(1 - r_balance)``, then a row uniformly within it (0: every row equally likely, the
    deposits' volume distribution; 1: every radius bin equally likely, so the few deposits near
    the centre get as many rows as those near the wall). For a per-row proper scoring rule
    (:class:`QuantileTrainer`) this moves capacity between radii without changing the optimum;
    it is not used with two-sample losses, whose target is the joint distribution.

    ``near_fraction > 0`` fills that fraction of every batch (``round(near_fraction * B)`` rows)
    with rows drawn uniformly among the *near-PMT* rows, those whose deposit is closer than
    ``near_distance_m`` to the PMT (:func:`pmt_distance`); the rest of the batch is drawn as
    above. These rows are rare (about 3 % of an n_pe table at 10 m: the PMTs within ~30 deg of a
    deposit near the wall) but carry the steep ``~ 1 / d^2`` peak of the counts. Like
    ``r_balance`` it only reweights conditions, so for a per-row proper scoring rule the optimum
    is unchanged; it needs ``paired=False``. With ``near_fraction=0`` the batches are exactly
    those drawn without the option.

    Sampling indices (``tf.data.Dataset.random``) instead of shuffling the table keeps the cost
    of an epoch independent of the table size (an n_pe table has 17,612 rows per deposit).

    Raises:
        ValueError: ``r_balance`` outside [0, 1], ``near_fraction`` outside [0, 1),
            ``near_distance_m <= 0``, ``near_fraction > 0`` with ``paired=True``, or no row
            closer than ``near_distance_m`` to its PMT.
    """
    r_balance = _check_balance(r_balance)
    near_fraction, near_distance_m = _check_near(near_fraction, near_distance_m)
    n = len(cond)
    order = np.argsort(cond[:, 0], kind="stable")
    cond_t = tf.constant(cond[order].astype(np.float32))
    y_t = tf.constant(y[order].astype(np.float32).reshape(-1, 1))
    bins = np.floor(cond[order, 0] / _R_BIN_M).astype(np.int64)
    _, start, count = np.unique(bins, return_index=True, return_counts=True)
    prob = count.astype(np.float64) ** (1.0 - r_balance)
    cdf = np.cumsum(prob / prob.sum())
    cdf_t = tf.constant(cdf[:-1].astype(np.float64))
    start_t, count_t = tf.constant(start.astype(np.int64)), tf.constant(count.astype(np.int64))
    per_row = 2 if paired else 1
    n_near_batch = round(near_fraction * batch_size)
    if n_near_batch > 0:
        if paired:
            raise ValueError(
                "`near_fraction` > 0 needs unpaired batches (a per-row loss). "
                f"Received: paired={paired}, near_fraction={near_fraction}"
            )
        near_rows = np.flatnonzero(pmt_distance(cond[order]) < near_distance_m)
        if len(near_rows) == 0:
            raise ValueError(
                f"No row is closer than `near_distance_m` to its PMT. Received: near_distance_m={near_distance_m}"
            )
        near_t = tf.constant(near_rows.astype(np.int64))
    ds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
    ds = ds.batch(2 * per_row * batch_size + n_near_batch, drop_remainder=True).take(steps)

    def index(r):
        if r_balance == 0.0:
            return tf.math.floormod(r[: per_row * batch_size], n)
        a, b = r[: per_row * batch_size], r[per_row * batch_size :]
        u = tf.cast(tf.math.floormod(a, 2**32), tf.float64) / 2.0**32  # the values are uint32
        bin_idx = tf.searchsorted(cdf_t, u, side="right")
        return tf.gather(start_t, bin_idx) + tf.math.floormod(b, tf.gather(count_t, bin_idx))

    def gather(r):
        idx = index(r[: 2 * per_row * batch_size])
        if n_near_batch > 0:
            near = tf.gather(near_t, tf.math.floormod(r[2 * per_row * batch_size :], len(near_rows)))
            idx = tf.concat([near, idx[n_near_batch:]], axis=0)
        real = idx[:batch_size]
        x = tf.gather(cond_t, real)
        if paired:
            x = tf.concat([x, tf.gather(cond_t, idx[batch_size:])], axis=-1)
        return x, tf.gather(y_t, real)

    return ds.map(gather, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def average_checkpoint_weights(generator: keras.Model, out_dir: str | os.PathLike, epochs: int) -> list[str]:
    """Sets ``generator``'s weights to the mean of those in the last ``epochs`` epoch checkpoints.

    Stochastic weight averaging (Izmailov et al. 2018) over the end of one training run: the
    checkpoints ``out_dir/checkpoints/epoch_NNN.keras`` (written by
    :func:`~keras_fastsim.training.fit.fit_with_checkpoints`) hold the trainer, whose
    ``generator`` weights are averaged. Returns the names of the checkpoints used.

    Raises:
        ValueError: ``epochs < 1`` or fewer checkpoints than ``epochs``.
    """
    from keras_fastsim.training.fit import CHECKPOINT_DIR

    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 1:
        raise ValueError(f"`average_epochs` must be a positive integer. Received: average_epochs={epochs!r}")
    files = sorted((Path(out_dir) / CHECKPOINT_DIR).glob("epoch_*.keras"))[-int(epochs):]
    if len(files) < epochs:
        raise ValueError(
            f"`average_epochs` needs {epochs} checkpoints in {out_dir}. Received: {len(files)} checkpoints"
        )
    total = None
    for path in files:
        weights = keras.models.load_model(path).generator.get_weights()
        total = weights if total is None else [a + b for a, b in zip(total, weights)]
    generator.set_weights([w / len(files) for w in total])
    return [f.name for f in files]


def _check_ema(ema_momentum: float | None, average_epochs: int) -> None:
    if ema_momentum is None:
        return
    if isinstance(ema_momentum, bool) or not isinstance(ema_momentum, (int, float)) or not 0.0 <= ema_momentum < 1.0:
        raise ValueError(f"`ema_momentum` must be None or in [0, 1). Received: ema_momentum={ema_momentum!r}")
    if average_epochs > 1:
        raise ValueError(
            "`ema_momentum` and `average_epochs` > 1 both average the weights; use one. "
            f"Received: ema_momentum={ema_momentum!r}, average_epochs={average_epochs!r}"
        )


def fit_generator(
    generator: keras.Model,
    cond: np.ndarray,
    y: np.ndarray,
    val_mask: np.ndarray,
    out_dir: Path,
    *,
    loss: str,
    loss_config: dict[str, Any] | None,
    output_transform: str,
    output_weight: float,
    epochs: int,
    steps_per_epoch: int,
    validation_steps: int,
    batch_size: int,
    learning_rate: float,
    lr_halving_epochs: int,
    patience: int | None,
    strategy: str,
    jit_compile: bool,
    seed: int,
    verbose: int | str,
    moment_weight: float = 0.0,
    moment_orders: int = 1,
    num_levels: int = 4,
    mean_weight: float = 0.0,
    relu_leak: float = 0.0,
    r_balance: float = 0.0,
    near_fraction: float = 0.0,
    near_distance_m: float = 10.0,
    level_scale: float = 1.0,
    average_epochs: int = 1,
    ema_momentum: float | None = None,
) -> pd.DataFrame:
    """Trains ``generator`` on ``(cond, y)`` rows into ``out_dir``.

    ``loss="quantile"`` uses a :class:`QuantileTrainer` (``num_levels``, ``mean_weight``,
    ``relu_leak``; batches drawn with ``r_balance`` and ``near_fraction``), any two-sample loss name a
    :class:`GeneratorTrainer`. Rows where ``val_mask`` is true are held out for the validation
    loss. Keyword arguments as in :func:`train_juno_npe`. Returns the history table.
    """
    for name, value in (("epochs", epochs), ("steps_per_epoch", steps_per_epoch),
                        ("batch_size", batch_size), ("lr_halving_epochs", lr_halving_epochs),
                        ("validation_steps", validation_steps)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
    if not learning_rate > 0:
        raise ValueError(f"`learning_rate` must be > 0. Received: learning_rate={learning_rate!r}")
    _check_ema(ema_momentum, average_epochs)
    train_c, train_y = cond[~val_mask], y[~val_mask]
    if len(train_c) < 2 * batch_size:
        raise ValueError(
            f"Too few training rows: {len(train_c)} (need >= 2 * batch_size). Received: batch_size={batch_size}"
        )
    quantile = loss == QUANTILE_LOSS
    r_balance = _check_balance(r_balance)
    if r_balance > 0 and not quantile:
        raise ValueError(
            f"`r_balance` > 0 needs loss={QUANTILE_LOSS!r} (a two-sample loss targets the joint "
            f"distribution). Received: loss={loss!r}, r_balance={r_balance}"
        )
    near_fraction, near_distance_m = _check_near(near_fraction, near_distance_m)
    if near_fraction > 0 and not quantile:
        raise ValueError(
            f"`near_fraction` > 0 needs loss={QUANTILE_LOSS!r} (a two-sample loss targets the joint "
            f"distribution). Received: loss={loss!r}, near_fraction={near_fraction}"
        )
    batches = {"paired": not quantile, "r_balance": r_balance, "near_fraction": near_fraction,
               "near_distance_m": near_distance_m}
    train_ds = random_batches(train_c, train_y, batch_size, steps_per_epoch, seed, **batches)
    val_ds = None
    if val_mask.sum() >= batch_size:
        val_ds = random_batches(cond[val_mask], y[val_mask], batch_size, validation_steps, seed + 1, **batches)
    keras.utils.set_random_seed(seed)
    dist = get_strategy(strategy)
    with dist.scope():
        if quantile:
            scale = float(np.mean(np.abs(train_y - np.median(train_y)))) or 1.0
            trainer = QuantileTrainer(
                generator, num_levels=num_levels, mean_weight=mean_weight, relu_leak=relu_leak,
                level_scale=level_scale, loss_scale=scale, seed=seed,
            )
            trainer.build((None, 2))
        else:
            mean, std = _feature_stats(train_c, train_y, output_transform)
            trainer = GeneratorTrainer(
                generator, mean, std, loss=loss, loss_config=loss_config,
                output_transform=output_transform, output_weight=output_weight,
                moment_weight=moment_weight, moment_orders=moment_orders, seed=seed,
            )
            trainer.build((None, 4))
        schedule = keras.optimizers.schedules.ExponentialDecay(
            learning_rate, decay_steps=int(lr_halving_epochs) * steps_per_epoch, decay_rate=0.5,
            staircase=True,
        )
        ema = {} if ema_momentum is None else {"use_ema": True, "ema_momentum": float(ema_momentum)}
        optimizer = keras.optimizers.Adam(schedule, **ema)
        optimizer.build(trainer.trainable_variables)
        trainer.compile(optimizer=optimizer, jit_compile=jit_compile)
    history = fit_with_checkpoints(
        trainer, train_ds, val_ds, out_dir, epochs=epochs,
        patience=patience if val_ds is not None else None, verbose=verbose,
    )
    if average_epochs > 1:
        average_checkpoint_weights(generator, out_dir, average_epochs)
    return history


def _as_table(samples: Any, attr: str, columns: tuple[str, ...]) -> pd.DataFrame:
    table = samples if isinstance(samples, pd.DataFrame) else getattr(samples, attr, samples)
    if isinstance(table, (str, os.PathLike)):
        table = pd.read_parquet(table)
    if not isinstance(table, pd.DataFrame):
        raise ValueError(
            f"`samples` must be a TrainingSamples, a DataFrame or a parquet path. Received: {type(samples).__name__}"
        )
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"The table lacks columns {missing}. Received: columns={list(table.columns)}")
    if len(table) == 0:
        raise ValueError("The training table is empty. Received: 0 rows")
    return table


def _write_config(out_dir: Path, payload: dict[str, Any]) -> None:
    with atomic_path(out_dir / CONFIG_FILE) as tmp:
        tmp.write_text(yaml.safe_dump(payload, sort_keys=False))


def train_juno_npe(
    samples: Any,
    out_dir: str | os.PathLike,
    *,
    model_config: dict[str, Any] | None = None,
    energy_mev: float = 1.0,
    loss: str = "mmd",
    loss_config: dict[str, Any] | None = None,
    output_weight: float = 2.0,
    moment_weight: float = 0.0,
    moment_orders: int = 1,
    num_levels: int = 4,
    mean_weight: float = 0.0,
    relu_leak: float = 0.0,
    r_balance: float = 0.0,
    near_fraction: float = 0.0,
    near_distance_m: float = 10.0,
    level_scale: float = 1.0,
    average_epochs: int = 1,
    ema_momentum: float | None = None,
    epochs: int = 20,
    steps_per_epoch: int = 100,
    validation_steps: int = 10,
    batch_size: int = 1024,
    learning_rate: float = 1e-3,
    lr_halving_epochs: int = 8,
    validation_fraction: float = 0.1,
    patience: int | None = None,
    strategy: str = "default",
    jit_compile: bool = True,
    seed: int = 0,
    verbose: int | str = "auto",
) -> JunoNpeNet:
    """Trains NN_npe on an n_pe table and writes a ``juno-npe`` run directory.

    Args:
        samples: :class:`~keras_fastsim.reference.juno.TrainingSamples`, its ``npe`` DataFrame
            (columns ``event, R, theta, npe``) or the path of such a parquet file.
        out_dir: Run directory: ``model.keras``, ``config.yaml``, ``run.json``, history and
            checkpoints. Rerunning an interrupted training resumes it.
        model_config: Keyword arguments of :class:`~keras_fastsim.models.juno.JunoNpeNet`.
        energy_mev: Deposit energy of the samples [MeV], stored in the net.
        loss: ``"quantile"`` (:class:`QuantileTrainer`: pinball loss at stratified noise
            levels, plus the mean term) or a two-sample loss (``"mmd"`` default,
            ``"smoothknn"``, ``"energy"``; :class:`GeneratorTrainer`).
        loss_config: Constructor arguments of a two-sample loss.
        output_weight: Weight of the n_pe feature in a two-sample loss.
        moment_weight: Weight of the local-moment term (see :class:`GeneratorTrainer`).
        moment_orders: Orders of the local moments (1 or 2).
        num_levels: ``"quantile"``: stratified noise levels per row.
        mean_weight: ``"quantile"``: weight of the Poisson deviance of the noise-averaged
            output (the conditional mean n_pe).
        relu_leak: ``"quantile"``: straight-through gradient slope of the final relu below 0.
        level_scale: ``"quantile"``: standard deviation of the noise of the levels (>= 1; more
            training rows in the tails, see :class:`QuantileTrainer`).
        average_epochs: The saved net has the mean weights of the last ``average_epochs``
            epochs (:func:`average_checkpoint_weights`; 1: the final weights).
        ema_momentum: The saved net has the exponential moving average of the weights over
            the training steps with this momentum (Keras' optimizer ``use_ema``; a horizon of
            about ``1 / (1 - ema_momentum)`` steps). ``None``: off. Excludes ``average_epochs`` > 1.
        r_balance: ``"quantile"``: flattening of the radius distribution of the batches
            (0: as in the data, 1: uniform in R; see :func:`random_batches`).
        near_fraction: ``"quantile"``: fraction of every batch drawn from the rows whose
            deposit is closer than ``near_distance_m`` to the PMT (the near-PMT peak of the
            counts; 0: off; see :func:`random_batches`).
        near_distance_m: Distance [m] below which a row counts as near-PMT.
        epochs: Epochs of ``steps_per_epoch`` random batches.
        steps_per_epoch: Batches per epoch.
        validation_steps: Batches of held-out deposits per validation.
        batch_size: Rows per batch (global).
        learning_rate: Initial Adam learning rate, halved every ``lr_halving_epochs``.
        lr_halving_epochs: See ``learning_rate``.
        validation_fraction: Fraction of deposits held out.
        patience: Early-stopping patience on the validation statistic (``None``: off).
        strategy: ``tf.distribute`` strategy name.
        jit_compile: XLA-compile the training step.
        seed: Seed of the split, the batches, the noise and the initialisation.
        verbose: Keras verbosity.

    Returns:
        The trained net.
    """
    from keras_fastsim.runs import update_manifest

    table = _as_table(samples, "npe", ("event", "R", "theta", "npe"))
    cond = check_conditions(table[list(CONDITION_COLUMNS)].to_numpy(np.float32), "samples")
    y = table["npe"].to_numpy(np.float32)
    if (y < 0).any():
        raise ValueError("`npe` must be >= 0. Received: negative counts")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    val_mask = _split_events(table["event"].to_numpy(), validation_fraction, seed)
    keras.utils.set_random_seed(seed)
    with get_strategy(strategy).scope():
        net = JunoNpeNet(**(model_config or {}), energy_mev=energy_mev)
        net.adapt(cond[~val_mask])
        net.build((None, 3))
    training = dict(
        loss=loss, loss_config=loss_config, output_transform="identity", output_weight=output_weight,
        moment_weight=moment_weight, moment_orders=moment_orders, num_levels=num_levels,
        mean_weight=mean_weight, relu_leak=relu_leak, r_balance=r_balance, near_fraction=near_fraction,
        near_distance_m=near_distance_m, level_scale=level_scale, average_epochs=average_epochs,
        ema_momentum=ema_momentum, epochs=epochs, steps_per_epoch=steps_per_epoch, validation_steps=validation_steps,
        batch_size=batch_size, learning_rate=learning_rate, lr_halving_epochs=lr_halving_epochs,
        patience=patience, strategy=strategy, jit_compile=jit_compile, seed=seed, verbose=verbose,
    )
    fit_generator(net, cond, y, val_mask, out_dir, **training)
    with atomic_path(out_dir / MODEL_FILE) as tmp:
        net.save(tmp)
    training.pop("verbose")
    _write_config(out_dir, {"model": net.hyperparameters(), "training": training | {
        "validation_fraction": validation_fraction, "n_rows": len(table),
        "n_deposits": int(table["event"].nunique())}})
    update_manifest(out_dir, "juno-npe", model=MODEL_FILE, energy_mev=float(energy_mev))
    return net


def train_juno_time(
    samples: Any,
    out_dir: str | os.PathLike,
    *,
    model_config: dict[str, Any] | None = None,
    loss: str = "mmd",
    loss_config: dict[str, Any] | None = None,
    output_transform: str = "identity",
    output_weight: float = 2.0,
    moment_weight: float = 0.0,
    moment_orders: int = 1,
    num_levels: int = 4,
    mean_weight: float = 0.0,
    relu_leak: float = 0.0,
    r_balance: float = 0.0,
    near_fraction: float = 0.0,
    near_distance_m: float = 10.0,
    level_scale: float = 1.0,
    average_epochs: int = 1,
    epochs: int = 20,
    steps_per_epoch: int = 100,
    far_steps_per_epoch: int | None = None,
    validation_steps: int = 10,
    batch_size: int = 1024,
    far_batch_size: int | None = None,
    learning_rate: float = 1e-3,
    far_learning_rate: float | None = None,
    far_average_epochs: int | None = None,
    nets: tuple[str, ...] = ("near", "far"),
    lr_halving_epochs: int = 8,
    validation_fraction: float = 0.1,
    patience: int | None = None,
    strategy: str = "default",
    jit_compile: bool = True,
    seed: int = 0,
    verbose: int | str = "auto",
) -> JunoTimeModel:
    """Trains NN_time (both nets) on a hit-time table and writes a ``juno-time`` run directory.

    Rows with ``R < split_radius_m`` train the near net (``out_dir/near``), the others the far
    net (``out_dir/far``); the assembled :class:`~keras_fastsim.models.juno.JunoTimeModel` is
    saved to ``out_dir/model.keras``. Arguments as in :func:`train_juno_npe`;
    ``far_steps_per_epoch`` / ``far_batch_size`` / ``far_learning_rate`` / ``far_average_epochs``
    override them for the (much larger) far net. ``nets`` names the nets to train; a net left out
    keeps its weights from the model already saved in ``out_dir`` (to retrain one net of a run).

    Args:
        samples: :class:`~keras_fastsim.reference.juno.TrainingSamples`, its ``time`` DataFrame
            (columns ``event, R, theta, t``) or the path of such a parquet file.
        out_dir: Run directory.
        model_config: Keyword arguments of :class:`~keras_fastsim.models.juno.JunoTimeModel`.
        loss, loss_config, output_weight, moment_weight, moment_orders, num_levels,
            mean_weight, relu_leak, r_balance, near_fraction, near_distance_m, level_scale,
            average_epochs: See :func:`train_juno_npe`.
        output_transform: ``"identity"`` or ``"log"`` for the time feature of the loss.
        epochs, steps_per_epoch, far_steps_per_epoch, validation_steps, batch_size,
        far_batch_size, learning_rate, far_learning_rate, far_average_epochs, lr_halving_epochs,
        validation_fraction, patience,
        strategy, jit_compile, seed, verbose: See :func:`train_juno_npe`.

    Returns:
        The trained time model.
    """
    from keras_fastsim.runs import update_manifest

    table = _as_table(samples, "time", ("event", "R", "theta", "t"))
    cond = check_conditions(table[list(CONDITION_COLUMNS)].to_numpy(np.float32), "samples")
    t = table["t"].to_numpy(np.float32)
    if not np.all(np.isfinite(t)):
        raise ValueError("hit times `t` must be finite [ns]. Received: NaN or inf values")
    # The output elu(x) + 1 > 0 cannot make t <= 0. The transit-time spread makes a few early
    # p.e. of deposits at the wall negative (0.02 % of the reference p.e., all at R > 15 m):
    # they are clipped to MIN_TIME_NS, which moves the hit-time distribution by < 0.01 ns.
    t = np.maximum(t, MIN_TIME_NS)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    val_mask = _split_events(table["event"].to_numpy(), validation_fraction, seed)
    for name, value in (("far_steps_per_epoch", far_steps_per_epoch), ("far_batch_size", far_batch_size),
                        ("far_average_epochs", far_average_epochs), ("average_epochs", average_epochs)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1):
            raise ValueError(f"`{name}` must be a positive integer or None. Received: {name}={value!r}")
    nets = tuple(nets)
    if not nets or any(n not in ("near", "far") for n in nets):
        raise ValueError(f"`nets` must name 'near' and/or 'far'. Received: nets={nets!r}")
    keras.utils.set_random_seed(seed)
    with get_strategy(strategy).scope():
        model = JunoTimeModel(**(model_config or {}))
        model.adapt(cond[~val_mask], t[~val_mask])
        model.build((None, 3))
        if len(nets) < 2:
            saved = keras.models.load_model(out_dir / MODEL_FILE)
            keep = "far" if nets == ("near",) else "near"
            getattr(model, keep).set_weights(getattr(saved, keep).get_weights())
    near = cond[:, 0] < model.split_radius_m
    base = dict(
        loss=loss, loss_config=loss_config, output_transform=output_transform,
        output_weight=output_weight, moment_weight=moment_weight, moment_orders=moment_orders,
        num_levels=num_levels, mean_weight=mean_weight, relu_leak=relu_leak, r_balance=r_balance,
        near_fraction=near_fraction, near_distance_m=near_distance_m, level_scale=level_scale,
        epochs=epochs,
        validation_steps=validation_steps, lr_halving_epochs=lr_halving_epochs, patience=patience,
        strategy=strategy, jit_compile=jit_compile, verbose=verbose,
    )
    parts = (
        ("near", model.near, near, steps_per_epoch, batch_size, learning_rate, average_epochs, seed),
        ("far", model.far, ~near, far_steps_per_epoch or steps_per_epoch, far_batch_size or batch_size,
         far_learning_rate or learning_rate, far_average_epochs or average_epochs, seed + 1),
    )
    for name, net, rows, steps, batch, lr, average, part_seed in parts:
        if name not in nets:
            continue
        if rows.sum() < 2 * batch:
            raise ValueError(
                f"Too few hit times for the {name} net: {int(rows.sum())} rows (need >= 2 * batch). "
                f"Received: batch_size={batch}"
            )
        fit_generator(net, cond[rows], t[rows], val_mask[rows], out_dir / name, steps_per_epoch=steps,
                      batch_size=batch, learning_rate=lr, average_epochs=average, seed=part_seed, **base)
    with atomic_path(out_dir / MODEL_FILE) as tmp:
        model.save(tmp)
    base.pop("verbose")
    _write_config(out_dir, {"model": model.hyperparameters(), "training": base | {
        "steps_per_epoch": steps_per_epoch, "far_steps_per_epoch": far_steps_per_epoch,
        "batch_size": batch_size, "far_batch_size": far_batch_size, "learning_rate": learning_rate,
        "far_learning_rate": far_learning_rate, "average_epochs": average_epochs,
        "far_average_epochs": far_average_epochs, "seed": seed,
        "validation_fraction": validation_fraction, "n_rows": len(table),
        "n_rows_near": int(near.sum()), "n_deposits": int(table["event"].nunique())}})
    update_manifest(out_dir, "juno-time", model=MODEL_FILE, near="near", far="far",
                    split_radius_m=model.split_radius_m)
    return model
