"""A conditional GAN with an auxiliary (frozen, pretrained) regressor.

One training scheme for the calorimeter GANs of the slides (BESIII EMC 2D, CEPC ECAL 3D): the
experiment modules supply the three networks only.

Networks (functional Keras models, conditions always in the same units, e.g. physical):

- ``generator([noise, conditions]) -> showers``;
- ``discriminator([showers, conditions]) -> (batch, 1)``: a probability (sigmoid output),
  or a logit with ``from_logits=True``;
- ``regressor([showers, conditions[:, y2]]) -> (batch, len(y1))``: estimates the
  conditions ``y1 = conditions[:, y1]`` from a shower and the conditions ``y2`` (optional).

Losses, per step (``y'`` = the real conditions of the batch in shuffled order, ``z ~ N(0, 1)``):

- discriminator: maximises ``E[log D(x, y)] + E[log(1 - D(G(z, y'), y'))]``
  (binary cross-entropy, real label 1, fake label 0);
- generator (``generator_steps`` updates per discriminator update, fresh ``z`` and ``y'``
  each): minimises the non-saturating ``-E[log D(G(z, y'), y')]`` plus
  ``regression_weight * E[sum_k |y1'_k - R(G(z, y'), y2')_k| / regression_scale_k]``,
  plus, optionally, ``matching_weight * T(F(x, y), F(G(z, y'), y'))``: a two-sample statistic
  ``T`` (:mod:`keras_fastsim.losses.two_sample`) between per-shower feature points ``F`` of the
  real batch and of the generated one (e.g. the energy responses and the momentum, so that the
  response's mean and width follow the conditions; the discriminator's last logistic unit is
  linear in its inputs and learns such dependences slowly).

Distribution: every loss is summed over the replica's examples and divided by the *global*
batch (``tf.nn.compute_average_loss``), gradients are summed over replicas, and the noise and
the shuffling of the conditions are drawn for the global batch (identically in every replica,
from the model's ``SeedGenerator``), each replica taking its slice. Under
``tf.distribute.MirroredStrategy`` a step therefore equals the default strategy's step on the
same global batch, except for layers that look at their own batch (minibatch discrimination),
dropout masks and the two-sample term (a statistic of each replica's slice, averaged over the
replicas).

Backends: the TensorFlow steps support ``tf.distribute``; under the JAX backend the same
losses run as one jitted stateless step (single device), so the GAN also trains on
accelerators that have JAX but no TensorFlow.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import keras
import numpy as np
from keras import ops

from keras_fastsim.losses.two_sample import TwoSampleLoss, get_two_sample_loss


def _as_index_tuple(values, name: str) -> tuple[int, ...]:
    try:
        out = tuple(int(v) for v in values)
    except TypeError as err:
        raise ValueError(
            f"`{name}` must be a sequence of integers. Received: {name}={values}"
        ) from err
    if not out or min(out) < 0 or len(set(out)) != len(out):
        raise ValueError(
            f"`{name}` must be distinct non-negative column indices. Received: {name}={values}"
        )
    return out


@keras.saving.register_keras_serializable(package="keras_fastsim")
class ConditionalGAN(keras.Model):
    """Conditional GAN with an optional frozen auxiliary regressor.

    Args:
        generator: Model ``[noise (batch, noise_dim), conditions] -> showers``.
        discriminator: Model ``[showers, conditions] -> (batch, 1)``.
        regressor: Optional pretrained model ``[showers, conditions[:, y2]] ->
            conditions[:, y1]``. It is frozen (``trainable = False``) here.
        noise_dim: Size of the generator's noise vector.
        regression_weight: Weight of the regression term in the generator loss (``>= 0``).
        generator_steps: Generator updates per discriminator update. Default 2, as in
            the authors' training code.
        condition_split: ``(y1, y2)``: the column indices of the conditions that the
            regressor estimates (``y1``) and that it takes as input (``y2``). Required
            with a regressor.
        regression_scale: Per-``y1``-column scale dividing the regression residuals
            (e.g. the authors' normalisation ``(1, 5, 10)`` for Mom, dTheta, dPhi).
            Default: ones.
        from_logits: Whether the discriminator outputs logits instead of probabilities.
        matching_features: Optional layer ``features(showers, conditions) -> (batch, d)``
            giving the points of the two-sample term (e.g.
            :class:`~keras_fastsim.layers.response_features.ResponseFeatures`).
        matching_loss: The two-sample statistic: a name of
            :func:`~keras_fastsim.losses.two_sample.get_two_sample_loss` or a
            :class:`~keras_fastsim.losses.two_sample.TwoSampleLoss`. Default ``"energy"``
            (energy distance: no bandwidth to tune, bounded gradients far from the data).
        matching_weight: Weight of the two-sample term (``>= 0``; ``0`` switches it off).
            Default ``0.0``. With a positive weight the GAN has a non-trainable
            ``matching_active`` (1.0) that multiplies the term, for warm-up schedules
            (:class:`~keras_fastsim.training.gan.MatchingWarmup`).
        seed: Seed of the training noise and shuffling (``None``: random).

    References:
        Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014, arXiv:1406.2661.
        Mirza, Osindero, "Conditional Generative Adversarial Nets", arXiv:1411.1784.
        Paganini, de Oliveira, Nachman, "CaloGAN", Phys. Rev. D 97, 014021 (2018).
        W. Fang et al. (IHEP), wenxingfang/GANforBES3 and GANforCEPC (training scheme:
        Adam, D lr 2e-5, G lr 2e-4, beta_1 0.5, two generator steps per discriminator
        step, fake conditions = shuffled real conditions, auxiliary regressor).

    Example:
        >>> gan = ConditionalGAN(generator, discriminator, regressor, noise_dim=512,
        ...                      condition_split=((0, 1, 2), (3, 4, 5)))
        >>> gan.compile(d_optimizer=keras.optimizers.Adam(2e-5, beta_1=0.5),
        ...             g_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5))
        >>> gan.fit(dataset_of_showers_and_conditions, epochs=10)
        >>> showers = gan.generate(conditions, seed=1)
    """

    def __init__(
        self,
        generator: keras.Model,
        discriminator: keras.Model,
        regressor: keras.Model | None = None,
        *,
        noise_dim: int,
        regression_weight: float = 1.0,
        generator_steps: int = 2,
        condition_split: Sequence[Sequence[int]] | None = None,
        regression_scale: Sequence[float] | None = None,
        from_logits: bool = False,
        matching_features: keras.layers.Layer | None = None,
        matching_loss: str | TwoSampleLoss = "energy",
        matching_weight: float = 0.0,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(noise_dim) < 1:
            raise ValueError(f"`noise_dim` must be >= 1. Received: noise_dim={noise_dim}")
        if not regression_weight >= 0:
            raise ValueError(
                f"`regression_weight` must be >= 0. Received: regression_weight={regression_weight}"
            )
        if int(generator_steps) < 1:
            raise ValueError(
                f"`generator_steps` must be >= 1. Received: generator_steps={generator_steps}"
            )
        if not matching_weight >= 0:
            raise ValueError(
                f"`matching_weight` must be >= 0. Received: matching_weight={matching_weight}"
            )
        if matching_weight > 0 and matching_features is None:
            raise ValueError(
                "A two-sample term (`matching_weight` > 0) needs `matching_features`. "
                f"Received: matching_weight={matching_weight}, matching_features=None"
            )
        if isinstance(matching_loss, str):
            matching_loss = get_two_sample_loss(matching_loss)
        elif not isinstance(matching_loss, TwoSampleLoss):
            raise TypeError(
                "`matching_loss` must be a two-sample loss name or a TwoSampleLoss. "
                f"Received: matching_loss={matching_loss!r}"
            )
        if regressor is not None and condition_split is None:
            raise ValueError(
                "A regressor needs `condition_split=(y1_columns, y2_columns)`. "
                f"Received: condition_split={condition_split}"
            )
        split = None
        if condition_split is not None:
            if len(condition_split) != 2:
                raise ValueError(
                    "`condition_split` must be a pair (y1_columns, y2_columns). "
                    f"Received: condition_split={condition_split}"
                )
            y1 = _as_index_tuple(condition_split[0], "condition_split[0]")
            y2 = tuple(int(v) for v in condition_split[1])
            if set(y1) & set(y2):
                raise ValueError(
                    "`condition_split` columns of y1 and y2 must not overlap. "
                    f"Received: condition_split={condition_split}"
                )
            split = (y1, y2)
        if regression_scale is not None:
            regression_scale = tuple(float(s) for s in regression_scale)
            n_y1 = len(split[0]) if split else None
            if min(regression_scale, default=0.0) <= 0 or (
                n_y1 is not None and len(regression_scale) != n_y1
            ):
                raise ValueError(
                    "`regression_scale` must hold one positive number per y1 column. "
                    f"Received: regression_scale={regression_scale}"
                )
        self.generator = generator
        self.discriminator = discriminator
        self.regressor = regressor
        if regressor is not None:
            regressor.trainable = False
        self.noise_dim = int(noise_dim)
        self.regression_weight = float(regression_weight)
        self.generator_steps = int(generator_steps)
        self.condition_split = split
        self.regression_scale = regression_scale
        self.from_logits = bool(from_logits)
        if matching_features is not None and not matching_features.built:
            # built here, on the generator's symbolic outputs: the JAX trainer would otherwise
            # trace the whole model to build it, and no layer may be built inside a step
            matching_features(generator.outputs[0], generator.inputs[1])
        self.matching_features = matching_features
        self.matching_loss = matching_loss
        self.matching_weight = float(matching_weight)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.val_seed_generator = keras.random.SeedGenerator(
            None if seed is None else int(seed) + 1
        )
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.reg_loss_tracker = keras.metrics.Mean(name="reg_loss")
        self.match_loss_tracker = keras.metrics.Mean(name="match_loss")
        # 0 or 1 times the two-sample term; a variable, so that a warm-up schedule
        # (keras_fastsim.training.gan.MatchingWarmup) can switch the compiled steps' term.
        # It exists exactly when the term is on (a positive weight needs matching_features).
        self.matching_active = None
        if self.matching_weight > 0.0:
            self.matching_active = self.add_weight(shape=(), initializer="ones",
                                                   trainable=False, name="matching_active")
        self.d_optimizer = None
        self.g_optimizer = None
        # The networks are built functional models: the GAN has nothing more to build.
        self.built = True

    # ------------------------------------------------------------------ compile / saving

    def compile(
        self,
        d_optimizer: keras.optimizers.Optimizer | str | dict,
        g_optimizer: keras.optimizers.Optimizer | str | dict,
        **kwargs,
    ):
        """Configures training with one optimizer per network.

        Both optimizers are built on their networks' variables here, so under a
        ``tf.distribute`` strategy call ``compile`` inside ``strategy.scope()`` (a
        two-optimizer ``train_step`` under ``MirroredStrategy`` otherwise fails with "You
        must feed a value for placeholder tensor").

        Args:
            d_optimizer: Discriminator optimizer (instance, name or config).
            g_optimizer: Generator optimizer (instance, name or config).
            **kwargs: Passed to ``keras.Model.compile`` (e.g. ``jit_compile``,
                ``steps_per_execution``); ``optimizer``, ``loss`` and ``metrics`` are not
                accepted.
        """
        for key in ("optimizer", "loss", "metrics"):
            if key in kwargs:
                raise ValueError(
                    f"ConditionalGAN.compile takes d_optimizer/g_optimizer and has its own "
                    f"losses. Received: {key}={kwargs[key]!r}"
                )
        super().compile(optimizer=None, **kwargs)
        self.d_optimizer = keras.optimizers.get(d_optimizer)
        self.g_optimizer = keras.optimizers.get(g_optimizer)
        self.d_optimizer.build(self.discriminator.trainable_variables)
        self.g_optimizer.build(self.generator.trainable_variables)
        if keras.backend.backend() == "jax":
            # Keras' JAX trainer carries ``self.optimizer.variables`` through the jitted
            # step: hand it both optimizers' variables, discriminator's first.
            self.optimizer = _OptimizerPair(self.d_optimizer, self.g_optimizer)
        self._gan_compile_config = {
            "d_optimizer": keras.optimizers.serialize(self.d_optimizer),
            "g_optimizer": keras.optimizers.serialize(self.g_optimizer),
            **{k: v for k, v in kwargs.items() if k in ("jit_compile", "steps_per_execution")},
        }

    def get_compile_config(self):
        return getattr(self, "_gan_compile_config", None)

    def compile_from_config(self, config):
        config = dict(config)
        config["d_optimizer"] = keras.optimizers.deserialize(config["d_optimizer"])
        config["g_optimizer"] = keras.optimizers.deserialize(config["g_optimizer"])
        self.compile(**config)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "generator": keras.saving.serialize_keras_object(self.generator),
                "discriminator": keras.saving.serialize_keras_object(self.discriminator),
                "regressor": (
                    None if self.regressor is None
                    else keras.saving.serialize_keras_object(self.regressor)
                ),
                "noise_dim": self.noise_dim,
                "regression_weight": self.regression_weight,
                "generator_steps": self.generator_steps,
                "condition_split": (
                    None if self.condition_split is None
                    else [list(self.condition_split[0]), list(self.condition_split[1])]
                ),
                "regression_scale": (
                    None if self.regression_scale is None else list(self.regression_scale)
                ),
                "from_logits": self.from_logits,
                "matching_features": (
                    None if self.matching_features is None
                    else keras.saving.serialize_keras_object(self.matching_features)
                ),
                "matching_loss": keras.saving.serialize_keras_object(self.matching_loss),
                "matching_weight": self.matching_weight,
                "seed": self.seed,
            }
        )
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = copy.deepcopy(config)  # deserialising consumes nested configs
        for key in ("generator", "discriminator", "regressor", "matching_features",
                    "matching_loss"):
            if config.get(key) is not None:
                config[key] = keras.saving.deserialize_keras_object(
                    config[key], custom_objects=custom_objects
                )
        return cls(**config)

    # ------------------------------------------------------------------ inference

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker, self.reg_loss_tracker,
                self.match_loss_tracker]

    def call(self, inputs, training=False):
        """``[noise, conditions] -> showers`` (the generator)."""
        return self.generator(inputs, training=training)

    def build(self, input_shape=None):
        # The networks are built functional models; nothing to create.
        self.built = True

    def generate(
        self, conditions, seed: int | None = None, *, batch_size: int = 4096
    ) -> np.ndarray:
        """Generates one shower per row of ``conditions``.

        The noise is drawn with NumPy (``numpy.random.default_rng(seed)``, row by row in
        order), so the noise, and hence the showers, depend only on ``conditions`` and
        ``seed``, not on ``batch_size`` (tested) nor on the Keras backend's random ops.

        Args:
            conditions: Array-like ``(n, n_conditions)`` (a DataFrame works), in the units
                the networks were trained with.
            seed: Seed of the noise; the same seed gives the same showers.
            batch_size: Generator batch size.

        Returns:
            NumPy array of ``n`` showers (float32).
        """
        if int(batch_size) < 1:
            raise ValueError(f"`batch_size` must be >= 1. Received: batch_size={batch_size}")
        cond = np.asarray(conditions, dtype=np.float32)
        if cond.ndim != 2:
            raise ValueError(
                f"`conditions` must be 2-D (n, n_conditions). Received: shape={cond.shape}"
            )
        rng = np.random.default_rng(seed)
        out = []
        for start in range(0, len(cond), int(batch_size)):
            y = cond[start:start + int(batch_size)]
            z = rng.standard_normal((len(y), self.noise_dim), dtype=np.float32)
            # A direct call: ``predict_on_batch`` of a model created under MirroredStrategy
            # returned twice the rows for an odd batch (Keras 3.15).
            out.append(ops.convert_to_numpy(self.generator([z, y], training=False)))
        if not out:
            shape = tuple(int(d) for d in self.generator.output_shape[1:])
            return np.zeros((0, *shape), np.float32)
        return np.concatenate(out).astype(np.float32, copy=False)

    # ------------------------------------------------------------------ training (TF)

    def _bce(self, label: float, output):
        target = ops.full_like(output, label)
        return keras.losses.binary_crossentropy(target, output, from_logits=self.from_logits)

    def _fake_batch(self, conditions, seed_generator):
        """Noise and shuffled conditions of this replica's slice of the global batch."""
        import tensorflow as tf

        ctx = tf.distribute.get_replica_context()
        n_replicas = ctx.num_replicas_in_sync
        local = tf.shape(conditions)[0]
        if n_replicas > 1:
            all_conditions = ctx.all_gather(conditions, axis=0)
            sizes = ctx.all_gather(tf.reshape(local, (1,)), axis=0)
            start = tf.reduce_sum(sizes[: ctx.replica_id_in_sync_group])
        else:
            all_conditions = conditions
            start = tf.constant(0, local.dtype)
        total = tf.shape(all_conditions)[0]
        seed = seed_generator.next()
        # argsort of uniforms, not ``stateless_shuffle``: the latter has no XLA kernel.
        perm = tf.argsort(tf.random.stateless_uniform(tf.reshape(total, (1,)), seed=seed))
        noise = tf.random.stateless_normal(
            tf.stack([total, self.noise_dim]), seed=seed + tf.constant([0, 1], seed.dtype)
        )
        fake_conditions = tf.gather(all_conditions, perm[start:start + local])
        return noise[start:start + local], fake_conditions, total

    def _regression_residual(self, fake, fake_conditions):
        if self.regressor is None or self.regression_weight == 0.0:
            return None
        y1, y2 = self.condition_split
        target = ops.take(fake_conditions, list(y1), axis=1)
        estimate = self.regressor([fake, ops.take(fake_conditions, list(y2), axis=1)],
                                  training=False)
        residual = ops.abs(target - estimate)
        if self.regression_scale is not None:
            residual = residual / ops.convert_to_tensor(self.regression_scale, residual.dtype)
        return ops.sum(residual, axis=-1)

    def _real_points(self, hits, conditions):
        """The real batch's feature points of the two-sample term (``None`` when it is off);
        computed once per step, shared by the generator updates."""
        if self.matching_active is None:
            return None
        return ops.stop_gradient(self.matching_features(hits, conditions))

    def _matching_term(self, real_points, fake, fake_conditions):
        """The two-sample statistic between the real and generated feature points."""
        if real_points is None:
            return None
        return self.matching_loss(real_points, self.matching_features(fake, fake_conditions))

    @staticmethod
    def _call_losses(network: keras.Model) -> list:
        """The ``add_loss`` terms of the network's last call, without weight regularizers.

        Keras clears a model's ``add_loss`` terms at each outermost call, so a step that calls
        a network twice (the discriminator on real and on fake showers) keeps the first call's
        with this before the second. ``Layer.losses`` lists the weight regularizers last, one
        per regularized trainable weight.
        """
        losses = network.losses
        n_reg = sum(v.regularizer is not None for v in network.trainable_weights)
        return list(losses[:len(losses) - n_reg])

    @staticmethod
    def _own_losses(network: keras.Model, earlier: list | tuple = ()):
        """The network's own losses: its last call's and ``earlier`` calls' ``add_loss``
        terms (from :meth:`_call_losses`) and its weight regularizers, once.

        Under a ``tf.distribute`` strategy they are divided by the number of replicas, as
        the per-example terms are by ``compute_average_loss``.
        """
        losses = list(earlier) + list(network.losses)
        if not losses:
            return 0.0
        total = ops.sum(ops.stack([ops.cast(x, "float32") for x in losses]))
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            total = tf.nn.scale_regularization_loss(total)
        return total

    @staticmethod
    def _split(data):
        if isinstance(data, dict):
            return data["hits"], data["conditions"]
        hits, conditions = data[:2]
        return hits, conditions

    def train_step(self, *args):
        if keras.backend.backend() == "jax":
            return self._jax_train_step(*args)
        return self._tf_train_step(*args)

    def test_step(self, *args):
        if keras.backend.backend() == "jax":
            return self._jax_test_step(*args)
        return self._tf_test_step(*args)

    def _tf_train_step(self, data):
        import tensorflow as tf

        if self.d_optimizer is None:
            raise RuntimeError("Call `compile(d_optimizer=..., g_optimizer=...)` before `fit`.")
        hits, conditions = self._split(data)
        conditions = tf.cast(conditions, self.compute_dtype)
        local = tf.shape(hits)[0]
        local_f = tf.cast(local, self.compute_dtype)

        # ---- discriminator step
        noise, fake_conditions, total = self._fake_batch(conditions, self.seed_generator)
        fake = self.generator([noise, fake_conditions], training=True)
        with tf.GradientTape() as tape:
            d_real = self.discriminator([hits, conditions], training=True)
            real_losses = self._call_losses(self.discriminator)
            d_fake = self.discriminator([fake, fake_conditions], training=True)
            per_example = self._bce(1.0, d_real) + self._bce(0.0, d_fake)
            d_loss = tf.nn.compute_average_loss(per_example, global_batch_size=total)
            d_loss = d_loss + self._own_losses(self.discriminator, real_losses)
        d_vars = self.discriminator.trainable_variables
        self.d_optimizer.apply_gradients(zip(tape.gradient(d_loss, d_vars), d_vars))
        self.d_loss_tracker.update_state(ops.mean(per_example), sample_weight=local_f)

        # ---- generator steps
        g_vars = self.generator.trainable_variables
        real_points = self._real_points(hits, conditions)
        for _ in range(self.generator_steps):
            noise, fake_conditions, total = self._fake_batch(conditions, self.seed_generator)
            with tf.GradientTape() as tape:
                fake = self.generator([noise, fake_conditions], training=True)
                d_fake = self.discriminator([fake, fake_conditions], training=True)
                adversarial = self._bce(1.0, d_fake)
                residual = self._regression_residual(fake, fake_conditions)
                per_example = adversarial
                if residual is not None:
                    per_example = per_example + self.regression_weight * residual
                g_loss = tf.nn.compute_average_loss(per_example, global_batch_size=total)
                g_loss = g_loss + self._own_losses(self.generator)
                match = self._matching_term(real_points, fake, fake_conditions)
                if match is not None:
                    # one statistic per replica: averaged over replicas like a regularizer
                    g_loss = g_loss + tf.nn.scale_regularization_loss(
                        self.matching_weight * self.matching_active * match)
            self.g_optimizer.apply_gradients(zip(tape.gradient(g_loss, g_vars), g_vars))
            self.g_loss_tracker.update_state(ops.mean(adversarial), sample_weight=local_f)
            if residual is not None:
                self.reg_loss_tracker.update_state(ops.mean(residual), sample_weight=local_f)
            if match is not None:
                self.match_loss_tracker.update_state(match, sample_weight=local_f)
        return self._results()

    def _tf_test_step(self, data):
        import tensorflow as tf

        hits, conditions = self._split(data)
        conditions = tf.cast(conditions, self.compute_dtype)
        local_f = tf.cast(tf.shape(hits)[0], self.compute_dtype)
        noise, fake_conditions, _ = self._fake_batch(conditions, self.val_seed_generator)
        fake = self.generator([noise, fake_conditions], training=False)
        d_real = self.discriminator([hits, conditions], training=False)
        d_fake = self.discriminator([fake, fake_conditions], training=False)
        self.d_loss_tracker.update_state(
            ops.mean(self._bce(1.0, d_real) + self._bce(0.0, d_fake)), sample_weight=local_f
        )
        self.g_loss_tracker.update_state(ops.mean(self._bce(1.0, d_fake)), sample_weight=local_f)
        residual = self._regression_residual(fake, fake_conditions)
        if residual is not None:
            self.reg_loss_tracker.update_state(ops.mean(residual), sample_weight=local_f)
        match = self._matching_term(self._real_points(hits, conditions), fake, fake_conditions)
        if match is not None:
            self.match_loss_tracker.update_state(match, sample_weight=local_f)
        return self._results()

    def _results(self) -> dict:
        results = {"d_loss": self.d_loss_tracker.result(), "g_loss": self.g_loss_tracker.result()}
        if self.regressor is not None and self.regression_weight > 0.0:
            results["reg_loss"] = self.reg_loss_tracker.result()
        if self.matching_active is not None:
            results["match_loss"] = self.match_loss_tracker.result()
        return results

    # ------------------------------------------------------------------ training (JAX)

    def _jax_run(self, refs, values, fn):
        """Runs ``fn()`` with every variable of ``refs`` read from ``values``.

        Returns ``fn()``'s output and the variables' values afterwards (as lists in the
        structure of ``refs``): the stateless form of the TF step's assignments.
        """
        mapping = [(r, v) for rs, vs in zip(refs, values) for r, v in zip(rs, vs)]
        with keras.StatelessScope(state_mapping=mapping, collect_losses=True) as scope:
            out = fn()
        return out, tuple([scope.get_current_value(r) for r in rs] for rs in refs)

    def _jax_fake_batch(self, conditions, seed_generator):
        n = ops.shape(conditions)[0]
        perm = ops.argsort(keras.random.uniform((n,), seed=seed_generator))
        noise = keras.random.normal((n, self.noise_dim), seed=seed_generator)
        return noise, ops.take(conditions, perm, axis=0)

    def _jax_update(self, state, network, optimizer, opt_slice, loss_fn):
        """One optimizer update of ``network`` on ``loss_fn() -> (loss, aux)``."""
        import jax

        refs = (self.trainable_variables, self.non_trainable_variables,
                self.optimizer.variables, self.metrics_variables)
        index = {id(v): i for i, v in enumerate(refs[0])}
        positions = [index[id(v)] for v in network.trainable_variables]

        def compute(network_values, state):
            trainable = list(state[0])
            for p, v in zip(positions, network_values):
                trainable[p] = v
            (loss, aux), new_state = self._jax_run(refs, (trainable, *state[1:]), loss_fn)
            return loss, (aux, new_state)

        network_values = [state[0][p] for p in positions]
        (_, (aux, state)), grads = jax.value_and_grad(compute, has_aux=True)(
            network_values, state
        )
        trainable, non_trainable, opt_values, metric_values = (list(x) for x in state)
        new_values, new_opt = optimizer.stateless_apply(
            opt_values[opt_slice], grads, network_values
        )
        for p, v in zip(positions, new_values):
            trainable[p] = v
        opt_values[opt_slice] = new_opt
        return aux, (trainable, non_trainable, opt_values, metric_values)

    def _jax_train_step(self, state, data):
        if self.d_optimizer is None:
            raise RuntimeError("Call `compile(d_optimizer=..., g_optimizer=...)` before `fit`.")
        hits, conditions = self._split(data)
        conditions = ops.cast(conditions, self.compute_dtype)
        n_d = len(self.d_optimizer.variables)
        d_slice, g_slice = slice(0, n_d), slice(n_d, None)
        real_points = self._real_points(hits, conditions)  # no variables: outside the scopes

        def d_loss():
            noise, fake_conditions = self._jax_fake_batch(conditions, self.seed_generator)
            fake = ops.stop_gradient(self.generator([noise, fake_conditions], training=True))
            d_real = self.discriminator([hits, conditions], training=True)
            real_losses = self._call_losses(self.discriminator)
            d_fake = self.discriminator([fake, fake_conditions], training=True)
            per_example = self._bce(1.0, d_real) + self._bce(0.0, d_fake)
            loss = ops.mean(per_example) + self._own_losses(self.discriminator, real_losses)
            return loss, {"d_loss": ops.mean(per_example)}

        def g_loss():
            noise, fake_conditions = self._jax_fake_batch(conditions, self.seed_generator)
            fake = self.generator([noise, fake_conditions], training=True)
            d_fake = self.discriminator([fake, fake_conditions], training=True)
            adversarial = self._bce(1.0, d_fake)
            residual = self._regression_residual(fake, fake_conditions)
            per_example = adversarial
            aux = {"g_loss": ops.mean(adversarial)}
            if residual is not None:
                per_example = per_example + self.regression_weight * residual
                aux["reg_loss"] = ops.mean(residual)
            loss = ops.mean(per_example) + self._own_losses(self.generator)
            match = self._matching_term(real_points, fake, fake_conditions)
            if match is not None:
                loss = loss + self.matching_weight * self.matching_active * match
                aux["match_loss"] = match
            return loss, aux

        d_aux, state = self._jax_update(state, self.discriminator, self.d_optimizer, d_slice,
                                        d_loss)
        g_auxes = []
        for _ in range(self.generator_steps):
            g_aux, state = self._jax_update(state, self.generator, self.g_optimizer, g_slice,
                                            g_loss)
            g_auxes.append(g_aux)
        weight = ops.cast(ops.shape(hits)[0], self.compute_dtype)

        def update_metrics():
            self.d_loss_tracker.update_state(d_aux["d_loss"], sample_weight=weight)
            for aux in g_auxes:
                self.g_loss_tracker.update_state(aux["g_loss"], sample_weight=weight)
                if "reg_loss" in aux:
                    self.reg_loss_tracker.update_state(aux["reg_loss"], sample_weight=weight)
                if "match_loss" in aux:
                    self.match_loss_tracker.update_state(aux["match_loss"], sample_weight=weight)
            return self._results()

        refs = (self.trainable_variables, self.non_trainable_variables,
                self.optimizer.variables, self.metrics_variables)
        logs, state = self._jax_run(refs, state, update_metrics)
        return logs, state

    def _jax_test_step(self, state, data):
        hits, conditions = self._split(data)
        conditions = ops.cast(conditions, self.compute_dtype)
        weight = ops.cast(ops.shape(hits)[0], self.compute_dtype)

        def evaluate():
            noise, fake_conditions = self._jax_fake_batch(conditions, self.val_seed_generator)
            fake = self.generator([noise, fake_conditions], training=False)
            d_real = self.discriminator([hits, conditions], training=False)
            d_fake = self.discriminator([fake, fake_conditions], training=False)
            self.d_loss_tracker.update_state(
                ops.mean(self._bce(1.0, d_real) + self._bce(0.0, d_fake)), sample_weight=weight
            )
            self.g_loss_tracker.update_state(ops.mean(self._bce(1.0, d_fake)),
                                             sample_weight=weight)
            residual = self._regression_residual(fake, fake_conditions)
            if residual is not None:
                self.reg_loss_tracker.update_state(ops.mean(residual), sample_weight=weight)
            match = self._matching_term(self._real_points(hits, conditions), fake,
                                        fake_conditions)
            if match is not None:
                self.match_loss_tracker.update_state(match, sample_weight=weight)
            return self._results()

        refs = (self.trainable_variables, self.non_trainable_variables, self.metrics_variables)
        return self._jax_run(refs, state, evaluate)


class _OptimizerPair:
    """The two optimizers as the one ``optimizer`` Keras' JAX trainer carries state for."""

    def __init__(self, d_optimizer: keras.optimizers.Optimizer,
                 g_optimizer: keras.optimizers.Optimizer):
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer

    @property
    def variables(self) -> list:
        return [*self.d_optimizer.variables, *self.g_optimizer.variables]

    @property
    def built(self) -> bool:
        return self.d_optimizer.built and self.g_optimizer.built

    def build(self, variables) -> None:  # both are built in ``compile``
        del variables
