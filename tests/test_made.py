import keras
import numpy as np
import pytest

from keras_fastsim.layers import MADE


def test_autoregressive_property():
    made = MADE(event_size=3, params=2, hidden_units=(16, 16))
    x = np.random.default_rng(0).normal(size=(1, 3)).astype("float32")
    c = np.ones((1, 2), "float32")
    base = np.asarray(made(x, c))
    for i in range(3):
        x2 = x.copy()
        x2[0, i] += 1.0
        diff = np.abs(np.asarray(made(x2, c)) - base).max(axis=-1)[0]
        # output i depends only on inputs < i
        assert np.all(diff[: i + 1] == 0.0)


def test_one_dimensional_event_depends_on_context_only():
    made = MADE(event_size=1, params=23, output_scale=1.0)
    c = np.random.default_rng(1).normal(size=(4, 3)).astype("float32")
    a = np.asarray(made(np.zeros((4, 1), "float32"), c))
    b = np.asarray(made(np.full((4, 1), 7.0, "float32"), c))
    assert a.shape == (4, 1, 23)
    np.testing.assert_array_equal(a, b)
    assert np.abs(np.asarray(made(np.zeros((4, 1), "float32"), c + 1)) - a).max() > 0


def test_config_round_trip():
    made = MADE(event_size=2, params=5, hidden_units=(8, 4), activation="tanh", name="m")
    clone = MADE.from_config(made.get_config())
    assert clone.get_config() == made.get_config()
    assert keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(made)).params == 5


@pytest.mark.parametrize(
    "kwargs", [{"event_size": 0}, {"params": 0}, {"hidden_units": ()}, {"output_scale": 0.0}]
)
def test_bad_arguments(kwargs):
    args = {"event_size": 1, "params": 3} | kwargs
    with pytest.raises(ValueError, match="Received"):
        MADE(**args)
