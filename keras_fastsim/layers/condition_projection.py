"""Projection of a discriminator's features onto an embedding of the conditions."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_fastsim")
class ConditionProjection(keras.layers.Layer):
    """The conditional term of a projection discriminator: ``<V(y), h>``.

    The conditions ``y`` are embedded by ``V(y) = relu(y W + b) U`` into the space of the
    discriminator's features ``h``, and the layer returns their inner product, a logit to be
    added to the unconditional one. A discriminator whose conditions enter only beside its
    features in the last logistic unit is linear in both and cannot tell a shower shaped
    right but for another track; the product lets every learned feature depend on the
    conditions (for example where the shower lies relative to the hit crystal given the
    incidence angles), with ``hidden_units`` setting how non-linearly.

    ``U`` starts at zero, so the discriminator starts as the unconditional one plus the
    conditions' linear term and the projection grows from there. The non-trainable switch
    ``active`` (1 by default) multiplies the term; set to 0 it leaves the discriminator
    without it and its weights untouched (a warm-up:
    :class:`keras_fastsim.training.gan.ProjectionWarmup`).

    Args:
        hidden_units: Width of the conditions' embedding (>= 1). Default ``32``.

    Call args:
        features: Tensor ``(batch, n_features)``.
        conditions: Tensor ``(batch, n_conditions)``, normalised to order one.

    Returns:
        Tensor ``(batch, 1)``.

    References:
        Miyato, Koyama, "cGANs with Projection Discriminator", ICLR 2018, arXiv:1802.05637.

    Example:
        >>> layer = ConditionProjection(hidden_units=8)
        >>> layer(np.ones((4, 100), "float32"), np.ones((4, 6), "float32")).shape
        (4, 1)
    """

    def __init__(self, hidden_units: int = 32, **kwargs):
        super().__init__(**kwargs)
        if int(hidden_units) < 1:
            raise ValueError(f"`hidden_units` must be >= 1. Received: hidden_units={hidden_units}")
        self.hidden_units = int(hidden_units)

    def build(self, features_shape, conditions_shape):
        if len(features_shape) != 2 or features_shape[-1] is None:
            raise ValueError(
                "ConditionProjection expects features of shape (batch, n_features). "
                f"Received: features_shape={features_shape}"
            )
        if len(conditions_shape) != 2 or conditions_shape[-1] is None:
            raise ValueError(
                "ConditionProjection expects conditions of shape (batch, n_conditions). "
                f"Received: conditions_shape={conditions_shape}"
            )
        self.embedding_kernel = self.add_weight(
            name="embedding_kernel", shape=(int(conditions_shape[-1]), self.hidden_units),
            initializer="glorot_uniform",
        )
        self.embedding_bias = self.add_weight(
            name="embedding_bias", shape=(self.hidden_units,), initializer="zeros"
        )
        self.projection_kernel = self.add_weight(
            name="projection_kernel", shape=(self.hidden_units, int(features_shape[-1])),
            initializer="zeros",
        )
        self.active = self.add_weight(
            name="active", shape=(), initializer="ones", trainable=False
        )

    def call(self, features, conditions):
        y = ops.cast(conditions, features.dtype)
        embedding = ops.relu(ops.matmul(y, self.embedding_kernel) + self.embedding_bias)
        projected = ops.matmul(embedding, self.projection_kernel)
        active = ops.cast(self.active, features.dtype)
        return active * ops.sum(projected * features, axis=-1, keepdims=True)

    def load_own_variables(self, store):
        # files saved before the `active` switch existed hold the three weights only
        weights = [self.embedding_kernel, self.embedding_bias, self.projection_kernel]
        if len(store.keys()) == len(weights):
            for i, variable in enumerate(weights):
                variable.assign(store[str(i)])
            self.active.assign(1.0)
            return
        super().load_own_variables(store)

    def compute_output_shape(self, features_shape, conditions_shape):
        return (features_shape[0], 1)

    def get_config(self):
        config = super().get_config()
        config["hidden_units"] = self.hidden_units
        return config
