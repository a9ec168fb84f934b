"""Minibatch discrimination (Salimans et al. 2016), as used by CaloGAN."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_fastsim")
class MinibatchDiscrimination(keras.layers.Layer):
    """Minibatch discrimination: how close each sample is to the others of its batch.

    The features ``f_i`` (shape ``(batch, A)``) of sample ``i`` are projected by a learned
    tensor ``T`` (``A x B x C``) to ``M_i = f_i T`` (a ``B x C`` matrix, ``B = num_kernels``,
    ``C = kernel_dim``). For every kernel ``b`` the L1 distance between two samples is
    ``L1_b(i, j) = sum_c |M_i[b, c] - M_j[b, c]|`` and the output is

        o_b(x_i) = sum_{j != i} exp(-L1_b(i, j)),

    shape ``(batch, num_kernels)``. A generator that collapses to few modes produces
    batches whose samples are too close to each other; the discriminator sees it in these
    features. Self-pairs (``exp(0) = 1``) are excluded. With ``reduction="mean"`` the sum
    is divided by the number of other samples (``batch - 1``), which makes the features
    independent of the batch size (a sum reaches ~``batch - 1`` for similar samples, e.g.
    ~500 at batch 512, and saturates a freshly initialised discriminator).

    The batch is the batch the layer is called on: under ``tf.distribute`` that is the
    per-replica batch (like batch normalisation), so discriminator outputs depend on how a
    global batch is split. Memory grows as ``batch^2 * num_kernels * kernel_dim``.

    Args:
        num_kernels: Number of kernels ``B`` (output features).
        kernel_dim: Dimension ``C`` of each kernel's projection.
        kernel_initializer: Initializer of ``T``. Default ``"glorot_uniform"``.
        reduction: ``"sum"`` (Salimans et al., CaloGAN; default) or ``"mean"`` over the
            other samples of the batch.

    Call args:
        inputs: Tensor of shape ``(batch, A)``.

    Returns:
        Tensor of shape ``(batch, num_kernels)``.

    References:
        Salimans, Goodfellow, Zaremba, Cheung, Radford, Chen, "Improved Techniques for
        Training GANs", NeurIPS 2016, arXiv:1606.03498, section 3.2.
        Paganini, de Oliveira, Nachman, "CaloGAN", Phys. Rev. D 97, 014021 (2018),
        arXiv:1712.10321.

    Example:
        >>> layer = MinibatchDiscrimination(num_kernels=5, kernel_dim=3)
        >>> layer(np.zeros((4, 8), "float32")).shape
        (4, 5)
    """

    def __init__(
        self,
        num_kernels: int,
        kernel_dim: int,
        kernel_initializer: str | keras.initializers.Initializer = "glorot_uniform",
        reduction: str = "sum",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(num_kernels) < 1:
            raise ValueError(f"`num_kernels` must be >= 1. Received: num_kernels={num_kernels}")
        if int(kernel_dim) < 1:
            raise ValueError(f"`kernel_dim` must be >= 1. Received: kernel_dim={kernel_dim}")
        if reduction not in ("sum", "mean"):
            raise ValueError(
                f"`reduction` must be 'sum' or 'mean'. Received: reduction={reduction!r}"
            )
        self.reduction = reduction
        self.num_kernels = int(num_kernels)
        self.kernel_dim = int(kernel_dim)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        if len(input_shape) != 2 or input_shape[-1] is None:
            raise ValueError(
                "MinibatchDiscrimination expects inputs of shape (batch, features) with a "
                f"known feature size. Received: input_shape={input_shape}"
            )
        self.kernel = self.add_weight(
            name="kernel",
            shape=(int(input_shape[-1]), self.num_kernels * self.kernel_dim),
            initializer=self.kernel_initializer,
        )

    def call(self, inputs):
        m = ops.reshape(ops.matmul(inputs, self.kernel), (-1, self.num_kernels, self.kernel_dim))
        # (batch, 1, B, C) - (1, batch, B, C) -> L1 over C -> (batch, batch, B)
        l1 = ops.sum(ops.abs(ops.expand_dims(m, 1) - ops.expand_dims(m, 0)), axis=-1)
        out = ops.sum(ops.exp(-l1), axis=1) - 1.0
        if self.reduction == "mean":
            others = ops.cast(ops.shape(inputs)[0] - 1, out.dtype)
            out = out / ops.maximum(others, 1.0)
        return out

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_kernels)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_kernels": self.num_kernels,
                "kernel_dim": self.kernel_dim,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "reduction": self.reduction,
            }
        )
        return config
