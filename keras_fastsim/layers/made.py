"""Conditional masked autoencoder for distribution estimation (MADE)."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
from keras import ops


def _hidden_degrees(units: int, event_size: int) -> np.ndarray:
    """Degrees of hidden units, cycling through 1..D-1 (all 0 when D == 1)."""
    if event_size == 1:
        return np.zeros(units, dtype=np.int64)
    return np.arange(units) % (event_size - 1) + 1


@keras.saving.register_keras_serializable(package="keras_fastsim")
class MADE(keras.layers.Layer):
    """Conditional MADE: autoregressive parameters of an event given a context.

    Output ``i`` (the parameters of event dimension ``i``) depends only on event
    dimensions ``< i`` and on the whole context. Event dimensions are connected
    through masked dense layers; the context feeds every unit of the first layer.
    With a one-dimensional event every path from ``x`` is masked and the block is an
    MLP of the context, which is exactly what a 1-D conditional flow needs.

    Args:
        event_size: Number of event dimensions ``D``.
        params: Number of parameters produced per event dimension.
        hidden_units: Widths of the hidden layers; the first is the "input layer" of
            the BESIII dE/dx paper. Default ``(64, 64, 64, 64)``.
        activation: Activation of the hidden layers. Default ``"relu"``.
        kernel_initializer: Initializer of the hidden kernels.
        output_scale: Multiplier of the output layer's initial kernel; a small value
            starts the flow close to the identity. Default ``0.01``.

    Call args:
        x: Event tensor of shape ``(batch, D)``.
        context: Condition tensor of shape ``(batch, C)``.

    Returns:
        Tensor of shape ``(batch, D, params)``.

    References:
        Germain, Gregor, Murray, Larochelle, "MADE: Masked Autoencoder for
        Distribution Estimation", ICML 2015, arXiv:1502.03509.

    Example:
        >>> made = MADE(event_size=1, params=23)
        >>> made(np.zeros((4, 1)), np.zeros((4, 3))).shape
        (4, 1, 23)
    """

    def __init__(
        self,
        event_size: int,
        params: int,
        hidden_units: Sequence[int] = (64, 64, 64, 64),
        activation: str = "relu",
        kernel_initializer: str = "glorot_uniform",
        output_scale: float = 0.01,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(event_size) < 1:
            raise ValueError(f"`event_size` must be >= 1. Received: event_size={event_size}")
        if int(params) < 1:
            raise ValueError(f"`params` must be >= 1. Received: params={params}")
        hidden_units = tuple(int(u) for u in hidden_units)
        if not hidden_units or min(hidden_units) < 1:
            raise ValueError(
                "`hidden_units` must be a non-empty sequence of positive integers. "
                f"Received: hidden_units={hidden_units}"
            )
        if output_scale <= 0:
            raise ValueError(f"`output_scale` must be > 0. Received: output_scale={output_scale}")
        self.event_size = int(event_size)
        self.params = int(params)
        self.hidden_units = hidden_units
        self.activation = keras.activations.get(activation)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.output_scale = float(output_scale)

    def _masks(self) -> list[np.ndarray]:
        d = self.event_size
        in_deg = np.arange(1, d + 1)
        masks = []
        prev = in_deg
        for units in self.hidden_units:
            deg = _hidden_degrees(units, d)
            masks.append((deg[None, :] >= prev[:, None]).astype("float32"))
            prev = deg
        out_deg = np.repeat(in_deg, self.params)
        masks.append((out_deg[None, :] > prev[:, None]).astype("float32"))
        return masks

    def build(self, x_shape, context_shape):
        context_size = int(context_shape[-1])
        masks = self._masks()
        self._masks_np = masks
        self.kernels = []
        self.biases = []
        fan_in = self.event_size
        for i, units in enumerate(self.hidden_units):
            self.kernels.append(
                self.add_weight(
                    name=f"kernel_{i}",
                    shape=(fan_in, units),
                    initializer=self.kernel_initializer,
                )
            )
            self.biases.append(self.add_weight(name=f"bias_{i}", shape=(units,), initializer="zeros"))
            fan_in = units
        self.context_kernel = self.add_weight(
            name="context_kernel",
            shape=(context_size, self.hidden_units[0]),
            initializer=self.kernel_initializer,
        )
        self.output_kernel = self.add_weight(
            name="output_kernel",
            shape=(fan_in, self.event_size * self.params),
            initializer=keras.initializers.RandomUniform(-self.output_scale, self.output_scale),
        )
        self.output_bias = self.add_weight(
            name="output_bias", shape=(self.event_size * self.params,), initializer="zeros"
        )

    def call(self, x, context):
        masks = [ops.convert_to_tensor(m, dtype=self.compute_dtype) for m in self._masks_np]
        h = ops.matmul(x, self.kernels[0] * masks[0]) + ops.matmul(context, self.context_kernel)
        h = self.activation(h + self.biases[0])
        for kernel, bias, mask in zip(self.kernels[1:], self.biases[1:], masks[1:-1]):
            h = self.activation(ops.matmul(h, kernel * mask) + bias)
        out = ops.matmul(h, self.output_kernel * masks[-1]) + self.output_bias
        return ops.reshape(out, (-1, self.event_size, self.params))

    def compute_output_shape(self, x_shape, context_shape):
        return (x_shape[0], self.event_size, self.params)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "event_size": self.event_size,
                "params": self.params,
                "hidden_units": list(self.hidden_units),
                "activation": keras.activations.serialize(self.activation),
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "output_scale": self.output_scale,
            }
        )
        return config
