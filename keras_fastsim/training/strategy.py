"""Choosing a ``tf.distribute`` strategy by name."""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

STRATEGIES: tuple[str, ...] = ("default", "mirrored", "multiworker")
"""Names accepted by :func:`get_strategy`."""


def get_strategy(name: str = "default", devices: Sequence[str] | None = None) -> tf.distribute.Strategy:
    """Returns a distribution strategy.

    Args:
        name: ``"default"`` (one device, no distribution), ``"mirrored"`` (synchronous
            data parallelism over the devices of one machine) or ``"multiworker"``
            (synchronous data parallelism over machines described by ``TF_CONFIG``).
        devices: Devices for ``"mirrored"``. Default: every GPU, or every logical
            CPU device when there is no GPU.

    Raises:
        ValueError: on an unknown name.
    """
    if name not in STRATEGIES:
        raise ValueError(f"Unknown strategy. Expected one of {STRATEGIES}. Received: name={name!r}")
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
