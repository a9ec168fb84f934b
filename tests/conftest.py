"""Test configuration.

TensorFlow is split into two logical CPU devices before anything else touches it, so that
``tf.distribute.MirroredStrategy`` can be tested on a machine with one physical CPU device.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest


def _split_cpu() -> None:
    import tensorflow as tf

    cpus = tf.config.list_physical_devices("CPU")
    try:
        tf.config.set_logical_device_configuration(
            cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2
        )
    except RuntimeError:  # already initialised by an earlier import; keep what exists
        pass


_split_cpu()


@pytest.fixture
def rng():
    import numpy as np

    return np.random.default_rng(12345)
