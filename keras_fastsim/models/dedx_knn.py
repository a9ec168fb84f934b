"""BESIII dE/dx dense generator trained with a two-sample loss (SPEC section 2.2).

One fully connected net for all six hadron species: the inputs are the particle type (one-hot
over :data:`~keras_fastsim.physics.species.HADRON_SPECIES`), the track momentum ``p``, polar
angle ``theta`` and number of good hits ``nhits`` (standardised inside the model) and noise
drawn from N(0, 1); the output is the track's dE/dx. The net is trained by minimising a
two-sample statistic (by default the standardised SmoothKNN statistic of Djolonga & Krause,
:func:`keras_fastsim.losses.smooth_knn_statistic`) between the real batch and the same tracks
with generated dE/dx, both as points ``(conditions, dE/dx)`` in a standardised space.

The forward pass (:meth:`DedxDenseGenerator.call`, :meth:`~DedxDenseGenerator.sample` with an
integer seed) uses ``keras.ops`` only; :meth:`~DedxDenseGenerator.train_step` is
TensorFlow-specific (``tf.GradientTape``, stateless per-replica noise, ``tf.distribute``).

Distributed training and the per-replica statistic
--------------------------------------------------
A two-sample statistic is not a mean of per-track terms: its value on ``2n`` points is not the
mean of its values on two halves (under a fixed difference between the distributions the
standardised SmoothKNN statistic grows roughly like ``sqrt(n)``). The training objective is
therefore defined on *blocks*: each batch is cut into blocks of ``block_size`` tracks; in a
block the first half with its measured dE/dx is the real sample and the second half's conditions
with generated dE/dx the generated sample (pooled ``block_size`` points). Different tracks are
used on purpose: with the *same* conditions in both samples every real point has an exact
condition twin among the generated points, twin edges are always cross edges, the true
generator scores below the permutation null and the optimum moves to a too-narrow generator.
The loss is the mean of the block statistics over all blocks of the global batch. Under
``tf.distribute.MirroredStrategy`` with ``R`` replicas each replica evaluates the statistic on
its own blocks only (no cross-replica neighbours) and divides its block sum by the global number
of blocks, so the gradients summed across replicas are exactly the gradient of the global block
mean: with a fixed ``block_size`` one and several replicas optimise the same objective. (With
``block_size=None`` each replica's whole batch is one block, and ``R`` replicas optimise the mean
of ``R`` statistics on ``1/R`` of the batch each: a weaker, noisier test than one statistic on
the whole batch.) The cost per block is ``O(block_size^2)`` in time and memory, see
``docs/dedx_knn.md``.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from keras_fastsim.losses.two_sample import TwoSampleLoss, get_two_sample_loss
from keras_fastsim.physics.species import HADRON_SPECIES, SPECIES

CONDITION_COLUMNS: tuple[str, ...] = ("p", "theta", "nhits")
"""Conditions in the order of the ``conditions`` input columns."""

SPECIES_ORDER: tuple[str, ...] = HADRON_SPECIES
"""Species index ``i`` of the ``species`` input is ``SPECIES_ORDER[i]``."""

SPECIES_PDG: tuple[int, ...] = tuple(SPECIES[s].pdg for s in SPECIES_ORDER)
"""PDG codes of :data:`SPECIES_ORDER` (211, -211, 321, -321, 2212, -2212)."""

MEAN_DEGREE = 7
"""Degree of the per-species polynomial in log p fitted to log(dE/dx) by :meth:`adapt`."""

_CLIP = 8.0  # standardised log-dE/dx output is clipped to +-8 sigma before the exponential
_TRAIN_SEED_OFFSET = 0x5EED
_VALIDATION_SEED = 0x7E57


def species_indices(species: Any) -> np.ndarray:
    """Species input of :class:`DedxDenseGenerator` from names, PDG codes or indices.

    Args:
        species: Sequence/array of species names (``"K+"``), of PDG codes (``321``) or of
            indices into :data:`SPECIES_ORDER` (``0..5``; integers in ``0..5`` are read as
            indices, all other integers as PDG codes).

    Returns:
        ``int32`` array of indices into :data:`SPECIES_ORDER`.

    Raises:
        ValueError: on an unknown species name or code.

    Example:
        >>> species_indices(["pi+", "pbar"]).tolist()
        [0, 5]
        >>> species_indices([321, -2212]).tolist()
        [2, 5]
    """
    arr = np.asarray(species)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.dtype.kind in "OUS":
        lookup = {name: i for i, name in enumerate(SPECIES_ORDER)}
        names = arr.astype(str)
        unknown = sorted(set(names.tolist()) - set(lookup))
        if unknown:
            raise ValueError(
                f"Unknown species for the dE/dx net; expected one of {SPECIES_ORDER}. "
                f"Received: species={unknown}"
            )
        return np.array([lookup[n] for n in names], dtype=np.int32)
    if arr.dtype.kind not in "iu":
        if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            raise ValueError(
                "`species` must hold names, PDG codes or indices. "
                f"Received: dtype={arr.dtype}"
            )
    arr = arr.astype(np.int64)
    out = np.empty(arr.shape, dtype=np.int32)
    is_index = (arr >= 0) & (arr < len(SPECIES_ORDER))
    out[is_index] = arr[is_index]
    codes = {code: i for i, code in enumerate(SPECIES_PDG)}
    unknown = sorted({int(c) for c in arr[~is_index]} - set(codes))
    if unknown:
        raise ValueError(
            f"Unknown species code(s) for the dE/dx net; expected indices 0..5 or PDG codes "
            f"{SPECIES_PDG}. Received: species={unknown}"
        )
    out[~is_index] = [codes[int(c)] for c in arr[~is_index]]
    return out


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}. Received: {name}={value!r}")
    return int(value)


def _check_positive(name: str, value: Any) -> float:
    try:
        value_f = float(value)
    except (TypeError, ValueError):
        value_f = float("nan")
    if isinstance(value, bool) or not (value_f > 0 and np.isfinite(value_f)):
        raise ValueError(f"`{name}` must be a positive number. Received: {name}={value!r}")
    return value_f


@keras.saving.register_keras_serializable(package="keras_fastsim")
class DedxDenseGenerator(keras.Model):
    """Fully connected dE/dx generator for the six hadron species (BESIII slides).

    ``[one-hot(species), standardised (log p, theta, nhits), noise] -> hidden_layers x
    Dense(units, activation) -> Dense(1) -> z``; ``dE/dx = exp(m_s(p) + loc + scale * z)``, so
    the output is positive. ``m_s(p)`` is a per-species polynomial (degree
    :data:`MEAN_DEGREE`) in log p fitted by least squares to log(dE/dx) of the training data, and
    ``loc``/``scale`` the mean and standard deviation of the residual: ``z`` is a standardised
    log-dE/dx residual (clipped to +-8), whose scale is the dE/dx resolution. The condition
    standardisation (a ``Normalization`` layer), the polynomials and ``loc``/``scale`` are
    fitted by :meth:`adapt` and saved with the weights (non-trainable). The residual also is
    the dE/dx coordinate of the two-sample test: in it the test resolves the width and shape
    of the dE/dx distribution, which in plain log(dE/dx) (spread over a factor ~20 between a
    slow proton and a MIP) is far below the spacing of a few hundred points.

    Calling the model on ``{"species": (N,) int, "conditions": (N, 3), "noise": (N,
    noise_dim)}`` returns dE/dx ``(N,)``. :meth:`compile` takes the two-sample loss;
    :meth:`fit` on ``{"species", "conditions", "dedx"}`` batches minimises it (module docstring
    for the blocks and distributed training).

    Args:
        hidden_layers: Number of hidden Dense layers (>= 1). Default 3.
        units: Units of every hidden layer (>= 1). Default 64.
        activation: Hidden activation, any name ``keras.activations.get`` knows.
            Default ``"relu"``.
        noise_dim: Number of N(0, 1) noise inputs (>= 1). Default 1 (the slides: one noise).
        species_weight: Scale of the species one-hot in the two-sample space; a value well
            above the spread of the standardised conditions makes neighbours (almost always)
            same-species tracks. Default 3.
        dedx_weight: Scale of the standardised log-dE/dx in the two-sample space. Default 1.
        **kwargs: ``keras.Model`` arguments (``name``, ...).

    Raises:
        ValueError: on invalid arguments (the message names the argument and the value).

    Example:
        >>> net = DedxDenseGenerator(hidden_layers=2, units=32)
        >>> net.adapt(species, conditions, dedx)
        >>> net.compile(optimizer="adam", two_sample_loss="smoothknn", block_size=256)
        >>> net.fit({"species": species, "conditions": conditions, "dedx": dedx},
        ...         batch_size=256, epochs=5)
        >>> dedx_sim = net.sample(species, conditions, seed=1)
    """

    def __init__(
        self,
        hidden_layers: int = 3,
        units: int = 64,
        activation: str = "relu",
        noise_dim: int = 1,
        species_weight: float = 3.0,
        dedx_weight: float = 1.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.hidden_layers = _check_int("hidden_layers", hidden_layers, 1)
        self.units = _check_int("units", units, 1)
        self.noise_dim = _check_int("noise_dim", noise_dim, 1)
        self.species_weight = _check_positive("species_weight", species_weight)
        self.dedx_weight = _check_positive("dedx_weight", dedx_weight)
        try:
            keras.activations.get(activation)
        except (ValueError, TypeError):
            raise ValueError(
                f"`activation` must name a Keras activation. Received: activation={activation!r}"
            ) from None
        if not isinstance(activation, str):
            raise ValueError(
                f"`activation` must be a string (it is saved in the config). "
                f"Received: activation={activation!r}"
            )
        self.activation = activation
        self.normalizer = keras.layers.Normalization(axis=-1, name="condition_norm")
        self.hidden = [
            keras.layers.Dense(self.units, activation=activation, name=f"hidden_{i}")
            for i in range(self.hidden_layers)
        ]
        self.output_layer = keras.layers.Dense(1, name="log_dedx")
        self.dedx_stats = self.add_weight(
            name="dedx_stats", shape=(2,), initializer=keras.initializers.Constant([0.0, 1.0]),
            trainable=False,
        )
        self.logp_stats = self.add_weight(
            name="logp_stats", shape=(2,), initializer=keras.initializers.Constant([0.0, 1.0]),
            trainable=False,
        )
        self.mean_coeffs = self.add_weight(
            name="mean_coeffs", shape=(len(SPECIES_ORDER), MEAN_DEGREE + 1),
            initializer="zeros", trainable=False,
        )
        self.two_sample_loss: TwoSampleLoss | None = None
        self.block_size: int | None = None
        self.noise_seed = 0
        self._loss_tracker = keras.metrics.Mean(name="loss")

    # -- preprocessing -----------------------------------------------------------------------
    @staticmethod
    def _features(conditions: Any) -> Any:
        conditions = ops.cast(conditions, "float32")
        p, theta, nhits = conditions[:, 0:1], conditions[:, 1:2], conditions[:, 2:3]
        return ops.concatenate([ops.log(ops.maximum(p, 1e-6)), theta, nhits], axis=-1)

    def adapt(self, species: Any, conditions: Any, dedx: Any) -> None:
        """Fits the condition standardisation and ``loc``/``scale`` of log-dE/dx to data.

        Args:
            species: Species names, PDG codes or indices, ``(N,)``.
            conditions: ``(N, 3)`` array of (p [GeV/c], theta [rad], nhits).
            dedx: ``(N,)`` positive dE/dx.
        """
        species, conditions, dedx = check_inputs(species, conditions, dedx)
        self.normalizer.adapt(np.asarray(self._features(conditions)))
        log_p = np.log(conditions[:, 0].astype(np.float64))
        lo, hi = float(log_p.min()), float(log_p.max())
        centre, half = 0.5 * (lo + hi), max(0.5 * (hi - lo), 1e-3)
        u = (log_p - centre) / half
        log_dedx = np.log(dedx.astype(np.float64))
        basis = np.vander(u, MEAN_DEGREE + 1, increasing=True)
        global_fit = np.linalg.lstsq(basis, log_dedx, rcond=None)[0]
        coeffs = np.tile(global_fit, (len(SPECIES_ORDER), 1))
        for i in range(len(SPECIES_ORDER)):
            rows = species == i
            if rows.sum() > 10 * (MEAN_DEGREE + 1):
                coeffs[i] = np.linalg.lstsq(basis[rows], log_dedx[rows], rcond=None)[0]
        residual = log_dedx - np.sum(basis * coeffs[species], axis=1)
        self.logp_stats.assign(np.array([centre, half], "float32"))
        self.mean_coeffs.assign(coeffs.astype("float32"))
        self.dedx_stats.assign(np.array([residual.mean(), residual.std() + 1e-6], "float32"))

    def log_dedx_mean(self, species: Any, conditions: Any) -> Any:
        """The fitted per-species mean of log(dE/dx) at the tracks' momenta, ``(N,)``."""
        conditions = ops.cast(conditions, "float32")
        u = (ops.log(ops.maximum(conditions[:, 0], 1e-6)) - self.logp_stats[0]) / self.logp_stats[1]
        u = ops.clip(u, -1.5, 1.5)
        powers = ops.stack([u**i for i in range(MEAN_DEGREE + 1)], axis=-1)
        coeffs = ops.take(self.mean_coeffs, ops.cast(species, "int32"), axis=0)
        return ops.sum(powers * coeffs, axis=-1)

    def build(self, input_shape: Any = None) -> None:
        n_in = len(SPECIES_ORDER) + len(CONDITION_COLUMNS) + self.noise_dim
        if not self.normalizer.built:
            self.normalizer.build((None, len(CONDITION_COLUMNS)))
        for layer in self.hidden:
            if not layer.built:
                layer.build((None, n_in))
            n_in = self.units
        if not self.output_layer.built:
            self.output_layer.build((None, n_in))
        self.built = True

    # -- the generator -----------------------------------------------------------------------
    def condition_features(self, species: Any, conditions: Any) -> Any:
        """``[one-hot(species), standardised (log p, theta, nhits)]``, shape ``(N, 9)``."""
        one_hot = ops.one_hot(ops.cast(species, "int32"), len(SPECIES_ORDER), dtype="float32")
        return ops.concatenate([one_hot, self.normalizer(self._features(conditions))], axis=-1)

    def generate_standardized(
        self, species: Any, conditions: Any, noise: Any, training: bool | None = None
    ) -> Any:
        """The standardised log-dE/dx ``z`` ``(N,)`` (clipped to +-8) for given noise."""
        h = ops.concatenate(
            [self.condition_features(species, conditions), ops.cast(noise, "float32")], axis=-1
        )
        for layer in self.hidden:
            h = layer(h, training=training)
        return ops.clip(self.output_layer(h)[:, 0], -_CLIP, _CLIP)

    def to_dedx(self, z: Any, species: Any, conditions: Any) -> Any:
        """dE/dx from the standardised log-dE/dx residual ``z``."""
        mean = self.log_dedx_mean(species, conditions)
        return ops.exp(mean + self.dedx_stats[0] + self.dedx_stats[1] * z)

    def standardize_dedx(self, dedx: Any, species: Any, conditions: Any) -> Any:
        """The standardised log-dE/dx residual of measured values (inverse of
        :meth:`to_dedx`)."""
        dedx = ops.cast(dedx, "float32")
        mean = self.log_dedx_mean(species, conditions)
        return (ops.log(ops.maximum(dedx, 1e-12)) - mean - self.dedx_stats[0]) / self.dedx_stats[1]

    def call(self, inputs: dict[str, Any], training: bool | None = None) -> Any:
        species, conditions = inputs["species"], inputs["conditions"]
        z = self.generate_standardized(species, conditions, inputs["noise"], training=training)
        return self.to_dedx(z, species, conditions)

    def draw_noise(self, n: Any, seed: Any = 0) -> Any:
        """N(0, 1) noise ``(n, noise_dim)``; an integer (or, with TensorFlow, a scalar tensor)
        seed gives the stateless draw ``stateless_normal(seed=[seed, 0])``."""
        if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
            return keras.random.normal((n, self.noise_dim), seed=int(seed))
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            seed = tf.stack([tf.cast(seed, tf.int64), tf.constant(0, tf.int64)])
            return tf.random.stateless_normal((n, self.noise_dim), seed=seed)
        raise ValueError(f"`seed` must be an integer. Received: seed={seed!r}")

    def sample(self, species: Any, conditions: Any, seed: Any = 0) -> Any:
        """Samples one dE/dx per track, reproducibly for a given seed.

        Args:
            species: ``(N,)`` species as indices into :data:`SPECIES_ORDER` (a tensor or an
                integer array), or as names / PDG codes (converted with
                :func:`species_indices`).
            conditions: ``(N, 3)`` array of (p [GeV/c], theta [rad], nhits).
            seed: Integer seed of the noise (a scalar int tensor under TensorFlow).

        Returns:
            ``(N,)`` float32 tensor of dE/dx.
        """
        if isinstance(species, (list, tuple, np.ndarray)) or np.isscalar(species):
            species = species_indices(species)
        conditions = ops.cast(conditions, "float32")
        noise = self.draw_noise(ops.shape(conditions)[0], seed)
        return self({"species": species, "conditions": conditions, "noise": noise})

    # -- the two-sample objective ------------------------------------------------------------
    def two_sample_points(self, species: Any, conditions: Any, z: Any) -> Any:
        """Points of the two-sample test: ``[species_weight * one-hot, standardised
        conditions, dedx_weight * z]`` (``z``: standardised residual), shape ``(N, 10)``."""
        feats = self.condition_features(species, conditions)
        n_species = len(SPECIES_ORDER)
        return ops.concatenate(
            [
                feats[:, :n_species] * self.species_weight,
                feats[:, n_species:],
                ops.expand_dims(z, -1) * self.dedx_weight,
            ],
            axis=-1,
        )

    def compile(
        self,
        optimizer: Any = "adam",
        two_sample_loss: str | TwoSampleLoss | dict = "smoothknn",
        block_size: int | None = 512,
        noise_seed: int = 0,
        loss: Any = None,
        jit_compile: bool = False,
        **kwargs: Any,
    ) -> None:
        """Configures training.

        Args:
            optimizer: Keras optimizer (name or instance).
            two_sample_loss: ``"smoothknn"`` (default), ``"mmd"``, ``"energy"``, a
                :class:`~keras_fastsim.losses.TwoSampleLoss` instance, or its serialized
                config.
            block_size: Tracks per evaluation of the statistic (half real, half generated:
                the pooled sample); the per-replica batch must be a multiple of it.
                ``None``: the whole per-replica batch is one block.
            noise_seed: Base seed of the training noise (the draw of step ``t`` on replica
                ``r`` is ``stateless_normal(seed=[noise_seed + t + offset, r])``).
            loss: Must be ``None`` (the two-sample loss is ``two_sample_loss``).
            jit_compile: XLA compilation; off by default (it made SmoothKNN slower on CPU).
            **kwargs: Other ``keras.Model.compile`` arguments (``steps_per_execution``, ...).

        Raises:
            ValueError: on an invalid loss or block size.
        """
        if loss is not None:
            raise ValueError(
                "DedxDenseGenerator takes its loss as `two_sample_loss`, not `loss`. "
                f"Received: loss={loss!r}"
            )
        if isinstance(two_sample_loss, str):
            two_sample_loss = get_two_sample_loss(two_sample_loss)
        elif isinstance(two_sample_loss, dict):
            two_sample_loss = keras.saving.deserialize_keras_object(two_sample_loss)
        if not isinstance(two_sample_loss, TwoSampleLoss):
            raise ValueError(
                "`two_sample_loss` must be a name or a TwoSampleLoss. "
                f"Received: two_sample_loss={two_sample_loss!r}"
            )
        if block_size is not None:
            block_size = _check_int("block_size", block_size, 8)
            if block_size % 2:
                raise ValueError(f"`block_size` must be even. Received: block_size={block_size}")
        self.two_sample_loss = two_sample_loss
        self.block_size = block_size
        self.noise_seed = _check_int("noise_seed", noise_seed, 0)
        super().compile(optimizer=optimizer, jit_compile=jit_compile, **kwargs)

    def get_compile_config(self) -> dict[str, Any] | None:
        config = super().get_compile_config()
        if config is None or self.two_sample_loss is None:
            return config
        config = dict(config)
        config.pop("loss", None)
        return config | {
            "two_sample_loss": keras.saving.serialize_keras_object(self.two_sample_loss),
            "block_size": self.block_size,
            "noise_seed": self.noise_seed,
        }

    def compile_from_config(self, config: dict[str, Any]) -> None:
        config = dict(config)
        for key in ("loss", "loss_weights", "metrics", "weighted_metrics"):
            config.pop(key, None)
        optimizer = config.pop("optimizer", "adam")
        optimizer = keras.saving.deserialize_keras_object(optimizer) if isinstance(
            optimizer, dict) else optimizer
        self.compile(optimizer=optimizer, **config)
        if self.built and hasattr(self.optimizer, "build"):
            self.optimizer.build(self.trainable_variables)

    @property
    def metrics(self) -> list[Any]:
        return [self._loss_tracker]

    def _block_statistic(self, species: Any, conditions: Any, z_real: Any, z_gen: Any) -> Any:
        """Statistic of every block of the batch, shape ``(n_blocks,)``.

        A block of ``block_size`` tracks is split in halves: the first half with its measured
        dE/dx is the real sample, the conditions of the second half with generated dE/dx the
        generated sample. The two samples have independent conditions from the same
        distribution (module docstring: why not the same tracks).
        """
        x = self.two_sample_points(species, conditions, z_real)
        y = self.two_sample_points(species, conditions, z_gen)
        d = ops.shape(x)[-1]
        if self.block_size is None:
            n = ops.shape(x)[0]
            half = n // 2
            x = ops.expand_dims(x[:half], 0)
            y = ops.expand_dims(y[half : 2 * half], 0)
        else:
            b = self.block_size
            n_blocks = ops.shape(x)[0] // b
            x = ops.reshape(x[: n_blocks * b], (-1, 2, b // 2, d))[:, 0]
            y = ops.reshape(y[: n_blocks * b], (-1, 2, b // 2, d))[:, 1]
        return ops.reshape(self.two_sample_loss.statistic(x, y), (-1,))

    def _objective(self, data: dict[str, Any], seed: Any, training: bool) -> Any:
        species, conditions = data["species"], data["conditions"]
        noise = _stateless_noise((ops.shape(conditions)[0], self.noise_dim), seed)
        z_gen = self.generate_standardized(species, conditions, noise, training=training)
        z_real = self.standardize_dedx(data["dedx"], species, conditions)
        return self._block_statistic(species, conditions, z_real, z_gen)

    def train_step(self, data: dict[str, Any]) -> dict[str, Any]:
        import tensorflow as tf

        if self.two_sample_loss is None:
            raise ValueError("Compile the model before training. Received: no two_sample_loss")
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        replica_id = tf.distribute.get_replica_context().replica_id_in_sync_group
        step = tf.cast(self.optimizer.iterations, tf.int64)
        seed = tf.stack(
            [step + self.noise_seed + _TRAIN_SEED_OFFSET, tf.cast(replica_id, tf.int64)]
        )
        with tf.GradientTape() as tape:
            stats = self._objective(data, seed, training=True)
            n_blocks = tf.cast(tf.shape(stats)[0] * replicas, stats.dtype)
            # Sum over this replica's blocks / blocks of the global batch: the replica sum of
            # the gradients is the gradient of the global block mean (module docstring).
            loss = tf.reduce_sum(stats) / n_blocks
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        self._loss_tracker.update_state(stats)
        return {"loss": self._loss_tracker.result()}

    def test_step(self, data: dict[str, Any]) -> dict[str, Any]:
        import tensorflow as tf

        replica_id = tf.distribute.get_replica_context().replica_id_in_sync_group
        seed = tf.stack(
            [tf.constant(self.noise_seed + _VALIDATION_SEED, tf.int64),
             tf.cast(replica_id, tf.int64)]
        )
        stats = self._objective(data, seed, training=False)
        self._loss_tracker.update_state(stats)
        return {"loss": self._loss_tracker.result()}

    # -- configuration -------------------------------------------------------------------------
    def hyperparameters(self) -> dict[str, Any]:
        """The constructor arguments that define the architecture."""
        return {
            "hidden_layers": self.hidden_layers,
            "units": self.units,
            "activation": self.activation,
            "noise_dim": self.noise_dim,
            "species_weight": self.species_weight,
            "dedx_weight": self.dedx_weight,
        }

    def get_config(self) -> dict[str, Any]:
        return super().get_config() | self.hyperparameters()


def _stateless_noise(shape: Any, seed: Any) -> Any:
    import tensorflow as tf

    return tf.random.stateless_normal(shape, seed=seed)


def check_inputs(species: Any, conditions: Any, dedx: Any | None = None):
    """Validates and converts ``(species, conditions[, dedx])`` to numpy arrays.

    Returns:
        ``(species_index int32 (N,), conditions float32 (N, 3), dedx float32 (N,) or None)``.

    Raises:
        ValueError: on wrong shapes, lengths, unknown species, non-finite or non-positive
            values.
    """
    index = species_indices(species)
    conditions = np.asarray(conditions, dtype=np.float32)
    if conditions.ndim != 2 or conditions.shape[1] != len(CONDITION_COLUMNS):
        raise ValueError(
            f"`conditions` must have shape (N, {len(CONDITION_COLUMNS)}) with columns "
            f"{CONDITION_COLUMNS}. Received: conditions.shape={conditions.shape}"
        )
    if len(index) != len(conditions):
        raise ValueError(
            "`species` and `conditions` must have the same length. "
            f"Received: len(species)={len(index)}, len(conditions)={len(conditions)}"
        )
    if not np.isfinite(conditions).all() or (conditions[:, 0] <= 0).any():
        raise ValueError(
            "`conditions` must be finite with momentum > 0. Received: NaN/inf or p <= 0"
        )
    if dedx is None:
        return index, conditions, None
    dedx = np.asarray(dedx, dtype=np.float32).reshape(-1)
    if len(dedx) != len(conditions):
        raise ValueError(
            "`conditions` and `dedx` must have the same length. "
            f"Received: len(conditions)={len(conditions)}, len(dedx)={len(dedx)}"
        )
    if not np.isfinite(dedx).all() or (dedx <= 0).any():
        raise ValueError("`dedx` must be finite and > 0. Received: NaN/inf or non-positive values")
    return index, conditions, dedx


__all__ = [
    "CONDITION_COLUMNS",
    "SPECIES_ORDER",
    "SPECIES_PDG",
    "DedxDenseGenerator",
    "check_inputs",
    "species_indices",
]
