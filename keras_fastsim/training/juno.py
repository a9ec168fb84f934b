"""Training the JUNO nets NN_npe and NN_time as generators with a two-sample loss.

Why a two-sample loss (and which one)
-------------------------------------
NN_npe and NN_time have a noise input: they are implicit generative models of a conditional
distribution (n_pe, or a hit time, given ``(R, theta)``), so they cannot be fitted by regression.
They are trained like the BESIII dE/dx dense net (SPEC 2.2): for a batch of reference rows
``(R_i, theta_i, y_i)`` the generator draws ``y'_i = G(R_i, theta_i, z_i)`` for the *same*
conditions and the loss is a two-sample statistic between the joint samples
``{(R_i, theta_i, y_i)}`` and ``{(R_i, theta_i, y'_i)}`` (:mod:`keras_fastsim.losses.two_sample`,
shared with the dE/dx net). Because the conditions of the two samples are identical, only the
conditional distribution of ``y`` can make them differ, and the statistic is zero in expectation
exactly when ``G`` reproduces it. No discriminator is needed (no GAN instabilities, one optimizer,
a loss that is comparable across runs).

Which statistic: measured (``experiments/juno_fastsim.py --stage loss-choice``, table in
``docs/juno.md``). On the R < 15 m time net, the smoothed k-NN statistic
(:class:`~keras_fastsim.losses.two_sample.SmoothKNNLoss`, the dE/dx net's loss) reached a lower
hit-time W1 than the unbiased MMD (:class:`~keras_fastsim.losses.two_sample.MMDLoss`) after the
same 600 steps (3.4 vs 3.9 ns) and also beat MMD given the same wall time (4.4 ns after 2,800 MMD
steps; MMD plateaus at its noise level). It costs 4-5x more per step, though. The packaged
configs therefore use SmoothKNN for NN_time and the cheaper MMD, plus a local conditional-mean
term (``moment_weight``), for NN_npe. Neither met the issue's fidelity targets in the training
budget of this machine (``docs/juno.md``).

Features of the loss: the conditions and the output are standardised with the training data's
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
from keras_fastsim.models.juno import CONDITION_COLUMNS, JunoNpeNet, JunoTimeModel, check_conditions
from keras_fastsim.training.fit import fit_with_checkpoints
from keras_fastsim.training.strategy import get_strategy

__all__ = [
    "GeneratorTrainer",
    "MODEL_FILE",
    "fit_generator",
    "load_juno_npe",
    "load_juno_time",
    "train_juno_npe",
    "train_juno_time",
]

MODEL_FILE = "model.keras"
MIN_TIME_NS = 0.1
"""Hit times below this are clipped for training (see :func:`train_juno_time`)."""
CONFIG_FILE = "config.yaml"
_TRANSFORMS = ("identity", "log", "tof_residual")
_PMT_RADIUS_M = 19.5
_V_LS_M_PER_NS = 0.299792458 / 1.53  # group velocity in the LS (reference config ng_ls)


@keras.saving.register_keras_serializable(package="keras_fastsim")
class GeneratorTrainer(keras.Model):
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
        super().__init__(**kwargs)
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
        self.generator = generator
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
        self.seed = int(seed)
        self.seed_generator = keras.random.SeedGenerator(self.seed)

    def build(self, input_shape=None):
        if not self.generator.built:
            self.generator.build((None, 3))
        self.built = True

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
        return {
            "name": self.name,
            "generator": keras.saving.serialize_keras_object(self.generator),
            "feature_mean": self.feature_mean,
            "feature_std": self.feature_std,
            "loss": self.loss_name,
            "loss_config": self.loss_config,
            "output_transform": self.output_transform,
            "output_weight": self.output_weight,
            "moment_weight": self.moment_weight,
            "moment_orders": self.moment_orders,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["generator"] = keras.saving.deserialize_keras_object(config["generator"])
        return cls(**config)


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
    d2 = r * r + _PMT_RADIUS_M**2 - 2.0 * _PMT_RADIUS_M * r * tf.cos(theta)
    return tf.sqrt(tf.maximum(d2, 0.0)) / _V_LS_M_PER_NS


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


def random_batches(
    cond: np.ndarray, y: np.ndarray, batch_size: int, steps: int, seed: int
) -> tf.data.Dataset:
    """``steps`` batches of rows drawn uniformly with replacement, a new draw every epoch.

    Each element is ``(x (B, 4), y (B, 1))``: ``x[:, :2]`` the conditions of the rows ``y``,
    ``x[:, 2:4]`` the conditions of ``B`` further, independent rows (for the generator).

    Sampling indices (``tf.data.Dataset.random``) instead of shuffling the table keeps the cost
    of an epoch independent of the table size (an n_pe table has 17,612 rows per deposit).
    """
    n = len(cond)
    cond_t = tf.constant(cond.astype(np.float32))
    y_t = tf.constant(y.astype(np.float32).reshape(-1, 1))
    ds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
    ds = ds.batch(2 * batch_size, drop_remainder=True).take(steps)

    def gather(r):
        idx = tf.math.floormod(r, n)
        real, fake = idx[:batch_size], idx[batch_size:]
        x = tf.concat([tf.gather(cond_t, real), tf.gather(cond_t, fake)], axis=-1)
        return x, tf.gather(y_t, real)

    return ds.map(gather, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


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
) -> pd.DataFrame:
    """Trains ``generator`` in a :class:`GeneratorTrainer` on ``(cond, y)`` rows into ``out_dir``.

    Rows where ``val_mask`` is true are held out for the validation statistic. Keyword
    arguments as in :func:`train_juno_npe`. Returns the history table.
    """
    for name, value in (("epochs", epochs), ("steps_per_epoch", steps_per_epoch),
                        ("batch_size", batch_size), ("lr_halving_epochs", lr_halving_epochs),
                        ("validation_steps", validation_steps)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
    if not learning_rate > 0:
        raise ValueError(f"`learning_rate` must be > 0. Received: learning_rate={learning_rate!r}")
    train_c, train_y = cond[~val_mask], y[~val_mask]
    if len(train_c) < 2 * batch_size:
        raise ValueError(
            f"Too few training rows: {len(train_c)} (need >= 2 * batch_size). Received: batch_size={batch_size}"
        )
    mean, std = _feature_stats(train_c, train_y, output_transform)
    train_ds = random_batches(train_c, train_y, batch_size, steps_per_epoch, seed)
    val_ds = None
    if val_mask.sum() >= batch_size:
        val_ds = random_batches(cond[val_mask], y[val_mask], batch_size, validation_steps, seed + 1)
    keras.utils.set_random_seed(seed)
    dist = get_strategy(strategy)
    with dist.scope():
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
        optimizer = keras.optimizers.Adam(schedule)
        optimizer.build(trainer.trainable_variables)
        trainer.compile(optimizer=optimizer, jit_compile=jit_compile)
    return fit_with_checkpoints(
        trainer, train_ds, val_ds, out_dir, epochs=epochs,
        patience=patience if val_ds is not None else None, verbose=verbose,
    )


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
        loss: Two-sample loss (``"mmd"`` default, ``"smoothknn"``, ``"energy"``).
        loss_config: Its constructor arguments.
        output_weight: Weight of the n_pe feature in the loss.
        moment_weight: Weight of the local-moment term (see :class:`GeneratorTrainer`).
        moment_orders: Orders of the local moments (1 or 2).
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
        moment_weight=moment_weight, moment_orders=moment_orders,
        epochs=epochs, steps_per_epoch=steps_per_epoch, validation_steps=validation_steps,
        batch_size=batch_size, learning_rate=learning_rate, lr_halving_epochs=lr_halving_epochs,
        patience=patience, strategy=strategy, jit_compile=jit_compile, seed=seed, verbose=verbose,
    )
    fit_generator(net, cond, y, val_mask, out_dir, **training)
    with atomic_path(out_dir / MODEL_FILE) as tmp:
        net.save(tmp)
    training.pop("verbose")
    _write_config(out_dir, {"model": net.hyperparameters(), "training": training | {
        "validation_fraction": validation_fraction, "n_rows": int(len(table)),
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
    epochs: int = 20,
    steps_per_epoch: int = 100,
    far_steps_per_epoch: int | None = None,
    validation_steps: int = 10,
    batch_size: int = 1024,
    far_batch_size: int | None = None,
    learning_rate: float = 1e-3,
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
    ``far_steps_per_epoch`` / ``far_batch_size`` override them for the (much larger) far net.

    Args:
        samples: :class:`~keras_fastsim.reference.juno.TrainingSamples`, its ``time`` DataFrame
            (columns ``event, R, theta, t``) or the path of such a parquet file.
        out_dir: Run directory.
        model_config: Keyword arguments of :class:`~keras_fastsim.models.juno.JunoTimeModel`.
        loss, loss_config, output_weight, moment_weight, moment_orders: The two-sample loss,
            see :class:`GeneratorTrainer`.
        output_transform: ``"identity"`` or ``"log"`` for the time feature of the loss.
        epochs, steps_per_epoch, far_steps_per_epoch, validation_steps, batch_size,
        far_batch_size, learning_rate, lr_halving_epochs, validation_fraction, patience,
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
    keras.utils.set_random_seed(seed)
    with get_strategy(strategy).scope():
        model = JunoTimeModel(**(model_config or {}))
        model.adapt(cond[~val_mask], t[~val_mask])
        model.build((None, 3))
    near = cond[:, 0] < model.split_radius_m
    base = dict(
        loss=loss, loss_config=loss_config, output_transform=output_transform,
        output_weight=output_weight, moment_weight=moment_weight, moment_orders=moment_orders,
        epochs=epochs,
        validation_steps=validation_steps,
        learning_rate=learning_rate, lr_halving_epochs=lr_halving_epochs, patience=patience,
        strategy=strategy, jit_compile=jit_compile, verbose=verbose,
    )
    parts = (
        ("near", model.near, near, steps_per_epoch, batch_size, seed),
        ("far", model.far, ~near, far_steps_per_epoch or steps_per_epoch, far_batch_size or batch_size, seed + 1),
    )
    for name, net, rows, steps, batch, part_seed in parts:
        if rows.sum() < 2 * batch:
            raise ValueError(
                f"Too few hit times for the {name} net: {int(rows.sum())} rows (need >= 2 * batch). "
                f"Received: batch_size={batch}"
            )
        fit_generator(net, cond[rows], t[rows], val_mask[rows], out_dir / name,
                       steps_per_epoch=steps, batch_size=batch, seed=part_seed, **base)
    with atomic_path(out_dir / MODEL_FILE) as tmp:
        model.save(tmp)
    base.pop("verbose")
    _write_config(out_dir, {"model": model.hyperparameters(), "training": base | {
        "steps_per_epoch": steps_per_epoch, "far_steps_per_epoch": far_steps_per_epoch,
        "batch_size": batch_size, "far_batch_size": far_batch_size, "seed": seed,
        "validation_fraction": validation_fraction, "n_rows": int(len(table)),
        "n_rows_near": int(near.sum()), "n_deposits": int(table["event"].nunique())}})
    update_manifest(out_dir, "juno-time", model=MODEL_FILE, near="near", far="far",
                    split_radius_m=model.split_radius_m)
    return model


def _load(run_dir: str | os.PathLike, kind: str) -> keras.Model:
    from keras_fastsim.runs import RunError, read_manifest

    manifest = read_manifest(run_dir)
    if manifest["kind"] != kind:
        raise RunError(f"{run_dir}: a {manifest['kind']!r} run, expected {kind!r}")
    return keras.models.load_model(Path(run_dir) / manifest.get("model", MODEL_FILE))


def load_juno_npe(run_dir: str | os.PathLike) -> JunoNpeNet:
    """The NN_npe of a ``juno-npe`` run directory."""
    return _load(run_dir, "juno-npe")


def load_juno_time(run_dir: str | os.PathLike) -> JunoTimeModel:
    """The NN_time of a ``juno-time`` run directory."""
    return _load(run_dir, "juno-time")
