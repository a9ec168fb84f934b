"""Tests of the GAN layers: minibatch discrimination, shower features, log1p scaling, energy
ceiling, momentum scaling, response features, shower moments, condition projection, track
coordinates."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_fastsim.layers.condition_projection import ConditionProjection
from keras_fastsim.layers.energy_ceiling import EnergyCeiling
from keras_fastsim.layers.energy_features import Log1pScaling, ShowerFeatures
from keras_fastsim.layers.minibatch_discrimination import MinibatchDiscrimination
from keras_fastsim.layers.moment_features import ShowerMomentFeatures
from keras_fastsim.layers.momentum_scaling import MomentumScaling
from keras_fastsim.layers.response_features import ResponseFeatures
from keras_fastsim.layers.track_coordinates import TrackCoordinates
from keras_fastsim.models.besiii_emc import build_besiii_generator


def _numpy_minibatch(x, kernel, num_kernels, kernel_dim):
    m = (x @ kernel).reshape(len(x), num_kernels, kernel_dim)
    out = np.zeros((len(x), num_kernels))
    for i in range(len(x)):
        for j in range(len(x)):
            if i != j:
                out[i] += np.exp(-np.abs(m[i] - m[j]).sum(axis=-1))
    return out


def test_minibatch_discrimination_matches_numpy(rng):
    x = rng.normal(size=(7, 5)).astype("float32")
    layer = MinibatchDiscrimination(num_kernels=4, kernel_dim=3)
    out = keras.ops.convert_to_numpy(layer(x))
    kernel = keras.ops.convert_to_numpy(layer.kernel)
    assert out.shape == (7, 4)
    np.testing.assert_allclose(out, _numpy_minibatch(x, kernel, 4, 3), rtol=1e-5, atol=1e-6)
    # identical samples: every other sample contributes exp(0) = 1
    same = keras.ops.convert_to_numpy(layer(np.repeat(x[:1], 5, axis=0)))
    np.testing.assert_allclose(same, np.full((5, 4), 4.0), rtol=1e-6)
    # a batch of one has no other sample
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x[:1])), 0.0, atol=1e-7)
    mean = MinibatchDiscrimination(num_kernels=4, kernel_dim=3, reduction="mean")
    mean.build((None, 5))
    mean.set_weights([kernel])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(mean(x)), out / 6, rtol=1e-5)


def test_minibatch_discrimination_config_and_errors(rng):
    layer = MinibatchDiscrimination(3, 2, name="mbd")
    x = rng.normal(size=(4, 6)).astype("float32")
    y = keras.ops.convert_to_numpy(layer(x))
    clone = MinibatchDiscrimination.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    clone.build((None, 6))
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(keras.ops.convert_to_numpy(clone(x)), y, rtol=1e-6)
    with pytest.raises(ValueError, match="num_kernels"):
        MinibatchDiscrimination(0, 2)
    with pytest.raises(ValueError, match="kernel_dim"):
        MinibatchDiscrimination(2, 0)
    with pytest.raises(ValueError, match="reduction"):
        MinibatchDiscrimination(2, 2, reduction="max")
    with pytest.raises(ValueError, match="input_shape"):
        MinibatchDiscrimination(2, 2)(np.zeros((2, 3, 3), "float32"))


def _numpy_features(images, conditions, windows, threshold, momentum_index):
    img = images.sum(axis=-1) if images.ndim == 4 else images
    n, h, w = img.shape
    rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    out = [img.reshape(n, -1).sum(axis=1)]
    for size in windows:
        mask = (np.abs(rows - h // 2) <= size // 2) & (np.abs(cols - w // 2) <= size // 2)
        out.append((img * mask).reshape(n, -1).sum(axis=1))
    out.append((img > threshold).reshape(n, -1).mean(axis=1))
    out.append(out[0] / conditions[:, momentum_index])
    return np.stack(out, axis=-1)


@pytest.mark.parametrize(
    "shape, windows, threshold",
    [((6, 11, 11, 1), (3, 5), 0.0), ((5, 7, 9, 2), (3, 5, 7), 0.05), ((4, 5, 5), (3, 9), 0.1)],
)
def test_shower_features_match_numpy(rng, shape, windows, threshold):
    images = (rng.exponential(0.05, size=shape) * (rng.random(shape) < 0.6)).astype("float32")
    conditions = rng.uniform(0.5, 2.0, size=(shape[0], 4)).astype("float32")
    layer = ShowerFeatures(windows=windows, threshold=threshold, momentum_index=2)
    out = keras.ops.convert_to_numpy(layer(images, conditions))
    assert out.shape == (shape[0], len(windows) + 3)
    expected = _numpy_features(images.astype("float64"), conditions, windows, threshold, 2)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def test_shower_features_config_and_errors():
    layer = ShowerFeatures(windows=(3,), threshold=0.01, momentum_index=1, epsilon=1e-3)
    assert ShowerFeatures.from_config(layer.get_config()).get_config() == layer.get_config()
    with pytest.raises(ValueError, match="windows"):
        ShowerFeatures(windows=(4,))
    with pytest.raises(ValueError, match="odd"):
        ShowerFeatures()(np.zeros((2, 10, 11, 1), "float32"), np.ones((2, 6), "float32"))
    with pytest.raises(ValueError, match="momentum_index"):
        ShowerFeatures(momentum_index=6)(np.zeros((2, 11, 11, 1), "float32"),
                                         np.ones((2, 6), "float32"))


def test_shower_features_response_powers_match_numpy(rng):
    images = rng.exponential(0.05, size=(8, 11, 11, 1)).astype("float32")
    conditions = rng.uniform(0.5, 2.0, size=(8, 6)).astype("float32")
    plain = keras.ops.convert_to_numpy(ShowerFeatures()(images, conditions))
    layer = ShowerFeatures(response_center=0.9, response_scale=0.05, response_powers=3)
    out = keras.ops.convert_to_numpy(layer(images, conditions))
    assert out.shape == (8, 7)
    np.testing.assert_allclose(out[:, :4], plain[:, :4], rtol=1e-6)
    r = (images.sum(axis=(1, 2, 3)) / conditions[:, 0] - 0.9) / 0.05
    np.testing.assert_allclose(out[:, 4:], np.stack([r, r**2, r**3], axis=-1), rtol=1e-4)
    # the soft clip bounds a far-off response and is the identity near the centre
    clipped = ShowerFeatures(response_center=0.9, response_scale=0.05, response_powers=2,
                             response_clip=4.0)
    far = keras.ops.convert_to_numpy(clipped(np.zeros_like(images), conditions))
    np.testing.assert_allclose(far[:, 4], 4.0 * np.tanh(-18.0 / 4.0), rtol=1e-5)
    assert (far[:, 5] <= 16.0).all()
    assert ShowerFeatures.from_config(clipped.get_config()).get_config() == clipped.get_config()
    for bad in ({"response_scale": 0.0}, {"response_powers": 0}, {"response_clip": -1.0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            ShowerFeatures(**bad)


def test_shower_features_momentum_couplings_match_numpy(rng):
    images = rng.exponential(0.01, size=(8, 11, 11, 1)).astype("float32")
    conditions = rng.uniform(1.0, 2.0, size=(8, 6)).astype("float32")
    kwargs = {"response_center": 0.9, "response_scale": 0.05, "response_powers": 2}
    uncoupled = keras.ops.convert_to_numpy(ShowerFeatures(**kwargs)(images, conditions))
    layer = ShowerFeatures(**kwargs, momentum_terms=2, momentum_center=1.4, momentum_scale=0.2)
    out = keras.ops.convert_to_numpy(layer(images, conditions))
    assert out.shape == (8, 8) == layer.compute_output_shape(images.shape, conditions.shape)
    np.testing.assert_array_equal(out[:, :6], uncoupled)
    r = (images.sum(axis=(1, 2, 3)) / conditions[:, 0] - 0.9) / 0.05
    q = (conditions[:, 0] - 1.4) / 0.2
    np.testing.assert_allclose(out[:, 6:], np.stack([r * q, r**2 * q], axis=-1),
                               rtol=1e-4, atol=1e-4)
    one = ShowerFeatures(**kwargs, momentum_terms=1)
    assert keras.ops.convert_to_numpy(one(images, conditions)).shape == (8, 7)
    assert ShowerFeatures.from_config(layer.get_config()).get_config() == layer.get_config()
    with pytest.raises(ValueError, match="momentum_terms"):
        ShowerFeatures(**kwargs, momentum_terms=3)
    with pytest.raises(ValueError, match="momentum_terms"):
        ShowerFeatures(momentum_terms=-1)
    with pytest.raises(ValueError, match="momentum_scale"):
        ShowerFeatures(**kwargs, momentum_terms=1, momentum_scale=0.0)


def _numpy_moments(images, axis):
    x = images.sum(axis=-1)
    profile = x.sum(axis=2 if axis == 0 else 1)
    coordinate = np.arange(profile.shape[1]) - profile.shape[1] // 2
    total = profile.sum(axis=1)
    mean = (profile * coordinate).sum(axis=1) / total
    variance = (profile * (coordinate - mean[:, None]) ** 2).sum(axis=1) / total
    return mean, np.sqrt(variance)


def test_shower_moment_features_match_numpy(rng):
    images = rng.exponential(0.01, size=(8, 11, 9, 1)).astype("float32")
    images[:, 2:5, 6:] *= 20.0  # off-centre showers
    conditions = rng.normal(size=(8, 3)).astype("float32")
    center, scale = [0.5, -1.0, 2.0], [1.0, 2.0, 0.5]
    layer = ShowerMomentFeatures(centroid_scale=0.4, width_center=2.0, width_scale=0.5,
                                 condition_center=center, condition_scale=scale, clip=None)
    out = keras.ops.convert_to_numpy(layer(images, conditions))
    assert out.shape == (8, 20) == layer.compute_output_shape(images.shape, conditions.shape)
    (m0, s0), (m1, s1) = _numpy_moments(images, 0), _numpy_moments(images, 1)
    standard = np.stack([m0 / 0.4, m1 / 0.4, (s0 - 2.0) / 0.5, (s1 - 2.0) / 0.5], axis=-1)
    assert (standard[:, 0] < -1).all() and (standard[:, 1] > 1).all()  # rows above, columns right
    y = (conditions - np.array(center)) / np.array(scale)
    expected = np.concatenate(
        [standard, standard**2] + [standard[:, k:k + 1] * y for k in range(4)], axis=-1
    )
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)
    # the soft clip bounds the standardised moments; channels are summed
    clipped = ShowerMomentFeatures(centroid_scale=0.01, clip=3.0)
    far = keras.ops.convert_to_numpy(clipped(np.concatenate([images, images], -1), conditions))
    assert (np.abs(far[:, :4]) <= 3.0).all() and (np.abs(far[:, 0]) > 2.9).all()
    assert far.shape == (8, 20)


def test_shower_moment_features_gradient_moves_the_centroid(rng):
    import tensorflow as tf

    images = tf.Variable(rng.exponential(0.01, size=(4, 5, 5)).astype("float32"))
    conditions = np.ones((4, 1), "float32")
    layer = ShowerMomentFeatures(clip=None)
    with tf.GradientTape() as tape:
        coupling = layer(images, conditions)[:, 9]  # centroid along the columns * y
    grad = tape.gradient(coupling, images).numpy()
    assert np.isfinite(grad).all()
    # raising the right-hand cells moves the column centroid to the right
    assert (grad[:, :, 4] > grad[:, :, 0]).all()
    # an empty image gives finite features (centroid 0) and finite gradients
    empty = tf.Variable(np.zeros((2, 5, 5), "float32"))
    with tf.GradientTape() as tape:
        out = layer(empty, np.ones((2, 1), "float32"))
    assert np.isfinite(out.numpy()).all() and np.isfinite(tape.gradient(out, empty).numpy()).all()


def test_shower_moment_features_config_and_errors():
    layer = ShowerMomentFeatures(condition_center=[1.5, 0.0], condition_scale=[0.3, 2.0],
                                 clip=2.0, name="moments")
    assert ShowerMomentFeatures.from_config(layer.get_config()).get_config() == layer.get_config()
    for bad in ({"centroid_scale": 0.0}, {"width_scale": -1.0}, {"clip": 0.0},
                {"epsilon": 0.0}, {"condition_scale": [1.0, 0.0]}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            ShowerMomentFeatures(**bad)
    with pytest.raises(ValueError, match="same length"):
        ShowerMomentFeatures(condition_center=[0.0], condition_scale=[1.0, 1.0])
    with pytest.raises(ValueError, match="one value per condition"):
        layer(np.ones((2, 5, 5), "float32"), np.ones((2, 3), "float32"))
    with pytest.raises(ValueError, match="odd image sizes"):
        ShowerMomentFeatures()(np.ones((2, 4, 5), "float32"), np.ones((2, 1), "float32"))
    with pytest.raises(ValueError, match="images of shape"):
        ShowerMomentFeatures()(np.ones((2, 5), "float32"), np.ones((2, 1), "float32"))


def test_condition_projection_matches_numpy_and_starts_at_zero(rng):
    features = rng.normal(size=(6, 10)).astype("float32")
    conditions = rng.normal(size=(6, 3)).astype("float32")
    layer = ConditionProjection(hidden_units=4)
    out = keras.ops.convert_to_numpy(layer(features, conditions))
    assert out.shape == (6, 1) == layer.compute_output_shape(features.shape, conditions.shape)
    np.testing.assert_array_equal(out, 0.0)  # the projection kernel starts at zero
    kernel = rng.normal(size=(4, 10)).astype("float32")
    layer.projection_kernel.assign(kernel)
    w, b = (keras.ops.convert_to_numpy(v) for v in (layer.embedding_kernel, layer.embedding_bias))
    expected = ((np.maximum(conditions @ w + b, 0.0) @ kernel) * features).sum(-1, keepdims=True)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(features, conditions)), expected,
                               rtol=1e-5, atol=1e-5)
    # the same shower features score differently for different conditions
    flipped = keras.ops.convert_to_numpy(layer(features, -conditions))
    assert not np.allclose(flipped, expected)
    layer.active.assign(0.0)  # switched off (warm-up): no term, weights kept
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(features, conditions)), 0.0)
    assert not layer.active.trainable
    # weights saved before the switch existed (three variables) load, switched on
    old = {str(i): rng.normal(size=v.shape).astype("float32")
           for i, v in enumerate(layer.variables[:3])}
    layer.load_own_variables(old)
    assert float(keras.ops.convert_to_numpy(layer.active)) == 1.0
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer.projection_kernel), old["2"])
    clone = ConditionProjection.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    with pytest.raises(ValueError, match="hidden_units"):
        ConditionProjection(hidden_units=0)
    with pytest.raises(ValueError, match="features of shape"):
        ConditionProjection()(np.ones((2, 3, 3), "float32"), conditions[:2])
    with pytest.raises(ValueError, match="conditions of shape"):
        ConditionProjection()(features, np.ones((6,), "float32"))


def test_response_features_match_numpy(rng):
    images = rng.exponential(0.01, size=(8, 11, 11, 1)).astype("float32")
    conditions = rng.uniform(1.0, 2.0, size=(8, 6)).astype("float32")
    layer = ResponseFeatures(windows=(11, 5, 1), center=0.5, scale=0.1, momentum_index=2)
    out = keras.ops.convert_to_numpy(layer(images, conditions))
    assert out.shape == (8, 4) == layer.compute_output_shape(images.shape, conditions.shape)
    p = conditions[:, 2]
    sums = [images.sum(axis=(1, 2, 3)), images[:, 3:8, 3:8].sum(axis=(1, 2, 3)), images[:, 5, 5, 0]]
    expected = np.stack([(e / p - 0.5) / 0.1 for e in sums] + [(p - 1.5) / 0.3], axis=-1)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)
    # a window larger than the image is the whole image
    wide = keras.ops.convert_to_numpy(ResponseFeatures(windows=(21,))(images, conditions))
    np.testing.assert_allclose(wide[:, 0], (sums[0] / conditions[:, 0] - 0.97) / 0.03, rtol=1e-4)
    assert ResponseFeatures.from_config(layer.get_config()).get_config() == layer.get_config()
    for bad in ({"windows": (4,)}, {"windows": ()}, {"scale": 0.0}, {"momentum_scale": -1.0},
                {"momentum_index": -1}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            ResponseFeatures(**bad)
    with pytest.raises(ValueError, match="momentum_index"):
        ResponseFeatures(momentum_index=6)(images, conditions)
    with pytest.raises(ValueError, match="odd image sizes"):
        ResponseFeatures()(images[:, :10], conditions)


def test_log1p_scaling():
    layer = Log1pScaling(scale=0.002)
    x = np.array([[0.0, 0.002, 1.0]], "float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x)), np.log1p(x / 0.002),
                               rtol=1e-6)
    assert Log1pScaling.from_config(layer.get_config()).scale == 0.002
    with pytest.raises(ValueError, match="scale"):
        Log1pScaling(scale=0.0)


def test_energy_ceiling_is_a_smooth_minimum_of_total_and_ceiling(rng):
    shapes = rng.exponential(1.0, size=(6, 11, 11, 1)).astype("float32")
    shapes /= shapes.sum(axis=(1, 2, 3), keepdims=True)
    totals = np.array([0.2, 0.9, 1.0, 1.1, 3.0, 1e4], "float32")
    conditions = np.column_stack([np.full(6, 7.0), np.full(6, 1.5)]).astype("float32")
    layer = EnergyCeiling(max_fraction=0.8, sharpness=20.0, momentum_index=1)
    out = keras.ops.convert_to_numpy(layer(shapes * totals[:, None, None, None], conditions))
    new_totals = out.sum(axis=(1, 2, 3))
    limit = 0.8 * 1.5
    expected = (totals.astype("float64") ** -20 + limit**-20) ** (-1 / 20)
    np.testing.assert_allclose(new_totals, expected, rtol=1e-5)
    assert (new_totals <= np.minimum(totals, limit) * (1 + 1e-6)).all()
    assert (new_totals[2:4] < np.minimum(totals, limit)[2:4] - 1e-3).all()  # near the ceiling
    assert new_totals[0] == pytest.approx(0.2, rel=1e-6)  # far below: unchanged
    assert new_totals[-1] == pytest.approx(limit, rel=1e-5)  # far above: at the ceiling
    # the shape is untouched
    np.testing.assert_allclose(out / new_totals[:, None, None, None], shapes, rtol=1e-4, atol=1e-7)


def test_energy_ceiling_keeps_a_gradient_above_the_ceiling():
    import tensorflow as tf

    cells = tf.Variable(np.full((3, 2, 2), [[[0.2]], [[0.26]], [[0.3]]], "float32"))
    layer = EnergyCeiling(sharpness=20.0)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(cells, np.ones((3, 1), "float32")))
    grad = tape.gradient(loss, cells).numpy()[:, 0, 0]
    t = np.array([0.8, 1.04, 1.2])
    np.testing.assert_allclose(grad, (1 + t**20) ** (-1 - 1 / 20), rtol=1e-4)
    assert (grad > 0.02).all()  # the hard cap min(T, p) gives 0 for the last two


def test_energy_ceiling_switch_is_saved(tmp_path, rng):
    cells = rng.exponential(0.01, size=(4, 11, 11, 1)).astype("float32")  # ~1.2 GeV
    cond = np.ones((4, 6), "float32")
    inputs = [keras.Input((11, 11, 1)), keras.Input((6,))]
    model = keras.Model(inputs, EnergyCeiling(name="cap")(*inputs))
    capped = keras.ops.convert_to_numpy(model([cells, cond]))
    assert (capped.sum(axis=(1, 2, 3)) < 1.0).all()
    assert not np.allclose(capped, cells)
    model.get_layer("cap").active.assign(0.0)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model([cells, cond])), cells)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert float(loaded.get_layer("cap").active.numpy()) == 0.0
    loaded.get_layer("cap").active.assign(1.0)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded([cells, cond])), capped,
                               rtol=1e-6)


def test_energy_ceiling_penalty_is_added_while_training(rng):
    cells = rng.exponential(0.02, size=(5, 11, 11, 1)).astype("float32")  # ~2.4 GeV
    cond = np.ones((5, 1), "float32")
    layer = EnergyCeiling(sharpness=20.0, penalty_weight=0.5)
    layer(cells, cond, training=False)
    assert layer.losses == []
    layer(cells, cond, training=True)
    (loss,) = layer.losses
    x = cells.astype("float64").sum(axis=(1, 2, 3))
    expected = 0.5 * np.mean(np.logaddexp(0.0, 20 * np.log(x)) / 20)  # ~0.5 log(T / L)
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    assert float(loss) == pytest.approx(0.5 * np.mean(np.log(x)), rel=1e-3)
    layer.active.assign(0.0)
    layer(cells, cond, training=True)
    assert float(layer.losses[0]) == 0.0


def test_energy_ceiling_config_and_errors():
    layer = EnergyCeiling(max_fraction=0.9, sharpness=8.0, penalty_weight=0.2, momentum_index=2,
                          name="cap")
    assert EnergyCeiling.from_config(layer.get_config()).get_config() == layer.get_config()
    for bad in ({"max_fraction": 0.0}, {"sharpness": -1.0}, {"penalty_weight": -1.0},
                {"momentum_index": -1}, {"epsilon": 0.0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            EnergyCeiling(**bad)
    with pytest.raises(ValueError, match="momentum_index"):
        EnergyCeiling(momentum_index=6)(np.ones((2, 11, 11, 1), "float32"),
                                        np.ones((2, 6), "float32"))


def test_momentum_scaling_multiplies_by_p_over_reference(rng):
    cells = rng.exponential(0.01, size=(3, 11, 11, 1)).astype("float32")
    cond = np.array([[1.5, 0], [3.0, 0], [0.75, 0]], "float32")
    out = keras.ops.convert_to_numpy(MomentumScaling(reference=1.5)(cells, cond))
    np.testing.assert_allclose(out, cells * np.array([1.0, 2.0, 0.5])[:, None, None, None],
                               rtol=1e-6)
    out = MomentumScaling(reference=2.0, momentum_index=1)(cells, cond[:, ::-1])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out),
                               cells * (cond[:, :1] / 2.0)[:, :, None, None], rtol=1e-6)


def test_momentum_scaling_config_errors_and_generator(tmp_path, rng):
    layer = MomentumScaling(reference=1.8, momentum_index=2, name="scale")
    assert MomentumScaling.from_config(layer.get_config()).get_config() == layer.get_config()
    for bad in ({"reference": 0.0}, {"momentum_index": -1}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            MomentumScaling(**bad)
    with pytest.raises(ValueError, match="momentum_index"):
        MomentumScaling(momentum_index=6)(np.ones((2, 11, 11, 1), "float32"),
                                          np.ones((2, 6), "float32"))
    generator = build_besiii_generator(noise_dim=8, momentum_scaling=1.5)
    assert generator.layers[-1].name == "momentum_scaling"
    noise = rng.normal(size=(4, 8)).astype("float32")
    cond = np.tile(np.array([[1.5, 0.0, 0.0, 0.0, 0.0, 0.0]], "float32"), (4, 1))
    cond[:, 0] = [1.0, 1.5, 2.0, 1.2]
    out = keras.ops.convert_to_numpy(generator([noise, cond]))
    # the output is the last ReLU's shower times p / 1.5
    relu = keras.Model(generator.inputs, generator.get_layer("energy").output)
    np.testing.assert_allclose(
        out, keras.ops.convert_to_numpy(relu([noise, cond])) * (cond[:, 0] / 1.5)[:, None, None, None],
        rtol=1e-5, atol=1e-9)
    generator.save(tmp_path / "g.keras")
    loaded = keras.saving.load_model(tmp_path / "g.keras")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded([noise, cond])), out)


def test_track_coordinates_are_distances_from_the_entry_point():
    features = np.zeros((2, 12, 12, 3), "float32")
    cond = np.zeros((2, 6), "float32")
    cond[1, 3], cond[1, 4] = 2.6, -5.2  # dZ_Pos half a crystal, dPhi_Pos minus one crystal
    out = keras.ops.convert_to_numpy(TrackCoordinates(scale=1.0)(features, cond))
    assert out.shape == (2, 12, 12, 6)
    np.testing.assert_array_equal(out[..., :3], 0.0)
    centre = np.arange(12) - 5.5
    np.testing.assert_allclose(out[0, :, 0, 3], centre)            # rows: phi
    np.testing.assert_allclose(out[0, 0, :, 4], centre)            # columns: Z
    np.testing.assert_allclose(out[1, :, 0, 3], centre + 1.0)
    np.testing.assert_allclose(out[1, 0, :, 4], centre - 0.5)
    np.testing.assert_allclose(out[..., 5], np.hypot(out[..., 3], out[..., 4]), rtol=1e-6)
    # the zero of the distance sits where the track enters: between columns 6 and 7
    assert np.abs(out[1, 0, :, 4]).argmin() in (6, 7)
    plain = TrackCoordinates(radius=False, scale=2.0)(features, cond)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(plain)[..., 3:], out[..., 3:5] / 2.0,
                               rtol=1e-6)


def test_track_coordinates_config_errors_and_generator(tmp_path, rng):
    layer = TrackCoordinates(row_offset_index=1, column_offset_index=0, cell_size=2.0,
                             scale=3.0, radius=False, name="coords")
    assert TrackCoordinates.from_config(layer.get_config()).get_config() == layer.get_config()
    for bad in ({"row_offset_index": -1}, {"column_offset_index": -2}, {"cell_size": 0.0},
                {"scale": -1.0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            TrackCoordinates(**bad)
    with pytest.raises(ValueError, match="outside the conditions"):
        TrackCoordinates()(np.ones((2, 12, 12, 1), "float32"), np.ones((2, 4), "float32"))
    with pytest.raises(ValueError, match="H, W, C"):
        TrackCoordinates()(np.ones((2, 12, 1), "float32"), np.ones((2, 6), "float32"))
    generator = build_besiii_generator(noise_dim=8, track_coordinates=True)
    assert generator.get_layer("track_coordinates").output.shape == (None, 12, 12, 19)
    noise = rng.normal(size=(4, 8)).astype("float32")
    cond = np.tile(np.array([[1.5, 0.0, 0.0, 0.0, 0.0, 0.0]], "float32"), (4, 1))
    cond[:, 3] = [-2.0, -1.0, 1.0, 2.0]
    out = keras.ops.convert_to_numpy(generator([noise, cond]))
    assert out.shape == (4, 11, 11, 1) and (out >= 0).all()
    generator.save(tmp_path / "g.keras")
    loaded = keras.saving.load_model(tmp_path / "g.keras")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded([noise, cond])), out)
