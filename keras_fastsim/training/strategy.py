"""Choosing a ``tf.distribute`` strategy by name."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import keras

STRATEGIES: tuple[str, ...] = ("default", "mirrored", "multiworker")
"""Names accepted by :func:`get_strategy`."""


class SingleDevice:
    """The default strategy of a backend without ``tf.distribute`` (e.g. JAX): one device."""

    num_replicas_in_sync = 1

    def scope(self) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()


def get_strategy(name: str = "default", devices: Sequence[str] | None = None) -> Any:
    """Returns a distribution strategy.

    Under a Keras backend other than TensorFlow only ``"default"`` exists; it returns a
    :class:`SingleDevice`, which has the ``scope()`` and ``num_replicas_in_sync`` of a
    strategy.

    Args:
        name: ``"default"`` (one device, no distribution), ``"mirrored"`` (synchronous
            data parallelism over the devices of one machine) or ``"multiworker"``
            (synchronous data parallelism over machines described by ``TF_CONFIG``).
        devices: Devices for ``"mirrored"``. Default: every GPU, or every logical
            CPU device when there is no GPU.

    Raises:
        ValueError: on an unknown name, or a distributed one under another backend.
    """
    if name not in STRATEGIES:
        raise ValueError(f"Unknown strategy. Expected one of {STRATEGIES}. Received: name={name!r}")
    if keras.backend.backend() != "tensorflow":
        if name != "default":
            raise ValueError(
                f"tf.distribute strategies need the TensorFlow backend (running "
                f"{keras.backend.backend()!r}). Received: name={name!r}"
            )
        return SingleDevice()
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if devices is None:
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
    devices = list(devices)
    cross_device_ops = None
    if all("CPU" in d.upper() for d in devices):
        # CPU-only mirroring reduces through one device instead of collective ops: the
        # collective executor keys instances per process, and a second MirroredStrategy in
        # the same process failed ("Collective instance 100 expected type 2 ... got type 0").
        cross_device_ops = tf.distribute.ReductionToOneDevice()
    return tf.distribute.MirroredStrategy(devices=devices, cross_device_ops=cross_device_ops)
