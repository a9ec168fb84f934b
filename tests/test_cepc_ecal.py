"""Tests of the CEPC ECAL 3D GAN networks (SPEC 2.5) and the 3D shower-feature layer.

3D convolutions are expensive: the slide-size networks are built once and run on batches of
1-2 showers; the training step runs on a small grid (14 x 17 x 17, the regressor's minimum).
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_fastsim.layers.shower_features_3d import ShowerFeatures3D
from keras_fastsim.models.cepc_ecal import (
    CEPC_CONDITION_SPLIT,
    CEPC_GRID,
    ConditionColumns,
    build_cepc_discriminator,
    build_cepc_gan,
    build_cepc_generator,
    build_cepc_regressor,
    count_flops,
    generator_seed_shape,
)
from keras_fastsim.models.conditional_gan import ConditionalGAN
from keras_fastsim.reference.calorimeter import generate_cepc_ecal

SMALL_GRID = (14, 17, 17)


@pytest.fixture(scope="module")
def reference():
    voxels, conditions = generate_cepc_ecal(6, seed=11)
    return voxels, conditions.to_numpy("float32")


@pytest.fixture(scope="module")
def generator():
    return build_cepc_generator()


def _of_type(model, cls):
    return [layer for layer in model.layers if type(layer) is cls]


def _summary(model) -> str:
    lines = []
    model.summary(print_fn=lambda line, *args, **kwargs: lines.append(line))
    return "\n".join(lines)


def _noise(n, dim=512, seed=0):
    return np.random.default_rng(seed).standard_normal((n, dim)).astype("float32")


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


# ------------------------------------------------------------------ slide architecture


def test_generator_is_the_slide(generator, reference):
    assert generator.output_shape == (None, *CEPC_GRID)
    dense = _of_type(generator, keras.layers.Dense)
    assert [d.units for d in dense] == [6 * 6 * 6 * 8]
    assert [r.target_shape for r in _of_type(generator, keras.layers.Reshape)][0] == (6, 6, 6, 8)
    (up,) = _of_type(generator, keras.layers.UpSampling3D)
    assert tuple(up.size) == (5, 5, 5)
    convs = _of_type(generator, keras.layers.Conv3D)
    assert [c.filters for c in convs] == [8, 8, 8, 6, 6, 1]
    assert [tuple(c.kernel_size) for c in convs] == [
        (6, 6, 8), (6, 6, 8), (6, 6, 8), (4, 4, 6), (3, 3, 5), (2, 2, 2)
    ]
    assert {c.padding for c in convs} == {"same"}
    assert len(_of_type(generator, keras.layers.ReLU)) == 7  # after upsampling + 6 convs
    (crop,) = _of_type(generator, keras.layers.Cropping3D)
    assert tuple(map(tuple, crop.cropping)) == ((0, 0), (0, 0), (0, 1))
    text = _summary(generator)
    for name in ("dense (Dense)", "upsampling", "conv_6 (Conv3D)", "cropping", "(None, 30, 30,"):
        assert name in text, name
    assert generator.count_params() == 954_985
    assert count_flops(generator) == pytest.approx(3.33e9, rel=0.01)  # SPEC 4: 3.3 GFLOP

    _, conditions = reference
    showers = _numpy(generator([_noise(2), conditions[:2]]))
    assert showers.shape == (2, 30, 30, 29)
    assert np.isfinite(showers).all() and (showers >= 0).all()


def test_generator_grid_is_a_parameter():
    assert generator_seed_shape(CEPC_GRID) == (6, 6, 6)
    assert generator_seed_shape((31, 31, 29)) == (7, 7, 6)
    gen = build_cepc_generator(16, grid=(31, 31, 29))
    assert gen.output_shape == (None, 31, 31, 29)
    (crop,) = _of_type(gen, keras.layers.Cropping3D)
    assert tuple(map(tuple, crop.cropping)) == ((2, 2), (2, 2), (0, 1))


def test_discriminator_is_the_slide(reference):
    voxels, conditions = reference
    disc = build_cepc_discriminator()
    assert disc.output_shape == (None, 1)
    convs = _of_type(disc, keras.layers.Conv3D)
    assert [c.filters for c in convs] == [16, 8, 8, 8, 8]
    assert [tuple(c.kernel_size) for c in convs] == [(2, 2, 2)] + [(3, 3, 3)] * 4
    assert len(_of_type(disc, keras.layers.LeakyReLU)) == 5
    assert [d.rate for d in _of_type(disc, keras.layers.Dropout)] == [0.1] * 4
    assert len(_of_type(disc, keras.layers.AveragePooling3D)) == 1
    assert [d.units for d in _of_type(disc, keras.layers.Dense)] == [1]
    names = {layer.name for layer in disc.layers}
    assert {"minibatch_discrimination", "energies", "average_pooling"} <= names
    text = _summary(disc)
    for name in ("(ShowerFeatures3D)", "(AveragePooling3D)", "p_real (Dense)"):
        assert name in text, name
    p = _numpy(disc([voxels[:2], conditions[:2]], training=False))
    assert p.shape == (2, 1) and ((p > 0) & (p < 1)).all()


@pytest.mark.parametrize(
    "kwargs, present, absent",
    [
        ({"minibatch_kernels": 0}, ["energies"], ["minibatch_discrimination"]),
        ({"energy_features": False}, ["minibatch_discrimination"], ["energies"]),
        ({"minibatch_kernels": 0, "energy_features": False}, [],
         ["minibatch_discrimination", "energies", "concatenate"]),
        ({"conditional": True}, ["normalise_conditions", "energies"], []),
    ],
)
def test_discriminator_options(kwargs, present, absent):
    grid = (10, 10, 10)
    disc = build_cepc_discriminator(grid=grid, **kwargs)
    names = {layer.name for layer in disc.layers}
    assert set(present) <= names and not set(absent) & names
    x = np.random.default_rng(0).gamma(0.3, 0.1, size=(3, *grid)).astype("float32")
    y = np.tile(np.array([[50, 90, 0, 0.1, 0.1, 20]], "float32"), (3, 1))
    assert _numpy(disc([x, y])).shape == (3, 1)


def test_regressor_is_the_slide(reference):
    voxels, conditions = reference
    reg = build_cepc_regressor()
    convs = _of_type(reg, keras.layers.Conv3D)
    assert [c.filters for c in convs] == [16, 8, 8, 8]
    assert {tuple(c.kernel_size) for c in convs} == {(5, 6, 6)}
    assert len(_of_type(reg, keras.layers.LeakyReLU)) == 4
    assert [d.rate for d in _of_type(reg, keras.layers.Dropout)] == [0.1] * 3
    assert len(_of_type(reg, keras.layers.AveragePooling3D)) == 1
    assert [d.units for d in _of_type(reg, keras.layers.Dense)] == [3]
    assert "calo_energy" in _summary(reg)
    out = _numpy(reg([voxels[:2], conditions[:2, 3:]]))
    assert out.shape == (2, 3) and np.isfinite(out).all()


# ------------------------------------------------------------------ serialisation


def test_generator_config_and_save_load(tmp_path, generator, reference):
    _, conditions = reference
    clone = keras.Model.from_config(generator.get_config())
    assert clone.get_config() == generator.get_config()
    path = tmp_path / "generator.keras"
    generator.save(path)
    loaded = keras.saving.load_model(path)
    noise = _noise(1, seed=4)
    np.testing.assert_array_equal(_numpy(loaded([noise, conditions[:1]])),
                                  _numpy(generator([noise, conditions[:1]])))


def test_gan_config_round_trip_and_save_load(tmp_path, reference):
    _, conditions = reference
    gan = build_cepc_gan(build_cepc_regressor(grid=SMALL_GRID), grid=SMALL_GRID, noise_dim=8,
                         seed=1, discriminator_kwargs={"minibatch_kernels": 3})
    assert gan.condition_split == CEPC_CONDITION_SPLIT and not gan.regressor.trainable
    config = gan.get_config()
    assert ConditionalGAN.from_config(config).get_config() == config
    gan.save(tmp_path / "gan.keras")
    loaded = keras.saving.load_model(tmp_path / "gan.keras")
    assert isinstance(loaded, ConditionalGAN) and not loaded.regressor.trainable
    out = gan.generate(conditions[:3], seed=2, batch_size=2)
    assert out.shape == (3, *SMALL_GRID)
    np.testing.assert_array_equal(loaded.generate(conditions[:3], seed=2), out)


# ------------------------------------------------------------------ training


def test_gan_train_step_small_grid(reference):
    voxels, conditions = reference
    hits = np.ascontiguousarray(voxels[:4, 8:22, 6:23, :17])  # around the hit cell (15, 15)
    gan = build_cepc_gan(build_cepc_regressor(grid=SMALL_GRID), grid=SMALL_GRID, noise_dim=8,
                         seed=1)
    gan.compile(keras.optimizers.Adam(2e-5, beta_1=0.5), keras.optimizers.Adam(2e-4, beta_1=0.5))
    before = {k: [np.array(w) for w in getattr(gan, k).get_weights()]
              for k in ("generator", "discriminator", "regressor")}
    data = (keras.ops.convert_to_tensor(hits), keras.ops.convert_to_tensor(conditions[:4]))
    logs = gan.train_step(data)
    assert set(logs) == {"d_loss", "g_loss", "reg_loss"}
    assert all(np.isfinite(float(v)) for v in logs.values())
    for k in ("generator", "discriminator"):
        after = getattr(gan, k).get_weights()
        assert any(not np.array_equal(a, b) for a, b in zip(before[k], after)), k
    for a, b in zip(before["regressor"], gan.regressor.get_weights()):
        np.testing.assert_array_equal(a, b)  # frozen
    assert int(gan.g_optimizer.iterations.numpy()) == 2


# ------------------------------------------------------------------ ShowerFeatures3D


def _features_numpy(x, cond, windows, threshold, momentum_index, energy_scale, longitudinal):
    if x.ndim == 5:
        x = x.sum(-1)
    cu, cv = x.shape[1] // 2, x.shape[2] // 2
    total = x.sum((1, 2, 3))
    cols = [total / energy_scale]
    for w in windows:
        h = w // 2
        cols.append(x[:, max(cu - h, 0):cu + h + 1, max(cv - h, 0):cv + h + 1].sum((1, 2, 3))
                    / energy_scale)
    cols.append((x > threshold).mean((1, 2, 3)))
    if momentum_index is not None:
        cols.append(total / cond[:, momentum_index])
    out = np.stack(cols, -1)
    if longitudinal:
        out = np.concatenate([out, x.sum((1, 2)) / total[:, None]], -1)
    return out


@pytest.mark.parametrize("channels", [False, True])
def test_shower_features_3d_against_numpy(rng, channels):
    x = rng.gamma(0.5, 0.2, size=(4, 7, 6, 5)) * (rng.random((4, 7, 6, 5)) < 0.4)
    if channels:
        x = np.stack([x, 0.5 * x], -1)
    x = x.astype("float32")
    cond = rng.uniform(1, 100, size=(4, 6)).astype("float32")
    layer = ShowerFeatures3D(windows=(1, 3, 9), threshold=0.01, momentum_index=2,
                             energy_scale=10.0)
    out = _numpy(layer(x, cond))
    assert out.shape == (4, 3 + 3 + 5) == (4, layer.n_features(5))
    expected = _features_numpy(x.astype("float64"), cond, (1, 3, 9), 0.01, 2, 10.0, True)
    np.testing.assert_allclose(out, expected, rtol=2e-5, atol=1e-6)

    energy = ShowerFeatures3D(windows=(), sparsity=False, longitudinal=False,
                              momentum_index=None)
    np.testing.assert_allclose(_numpy(energy(x)), x.reshape(4, -1).sum(-1, keepdims=True),
                               rtol=2e-5)
    clone = ShowerFeatures3D.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    np.testing.assert_allclose(_numpy(clone(x, cond)), out)
    empty = _numpy(layer(np.zeros_like(x), cond))
    assert np.isfinite(empty).all() and not empty.any()


# ------------------------------------------------------------------ bad arguments


def test_bad_arguments():
    with pytest.raises(ValueError, match="noise_dim"):
        build_cepc_generator(0)
    with pytest.raises(ValueError, match="grid"):
        build_cepc_generator(grid=(30, 30))
    with pytest.raises(ValueError, match="condition_columns"):
        build_cepc_generator(condition_columns=(0, 1, 6))
    with pytest.raises(ValueError, match="condition_scale"):
        build_cepc_generator(condition_scale=(1.0, 2.0))
    with pytest.raises(ValueError, match="grid"):
        build_cepc_discriminator(grid=(9, 30, 29))
    with pytest.raises(ValueError, match="dropout"):
        build_cepc_discriminator(dropout=1.0)
    with pytest.raises(ValueError, match="minibatch_kernels"):
        build_cepc_discriminator(minibatch_kernels=-1)
    with pytest.raises(ValueError, match="grid"):
        build_cepc_regressor(grid=(14, 16, 17))
    with pytest.raises(ValueError, match="position_scale"):
        build_cepc_regressor(position_scale=(1.0, 0.0, 1.0))
    with pytest.raises(ValueError, match="regressor"):
        build_cepc_gan(build_cepc_regressor(grid=(14, 17, 17)), grid=(15, 17, 17))
    with pytest.raises(ValueError, match="discriminator_kwargs"):
        build_cepc_gan(grid=(14, 17, 17), discriminator_kwargs={"grid": (15, 17, 17)})
    with pytest.raises(ValueError, match="windows"):
        ShowerFeatures3D(windows=(2,))
    with pytest.raises(ValueError, match="energy_scale"):
        ShowerFeatures3D(energy_scale=0.0)
    with pytest.raises(ValueError, match="showers_shape"):
        ShowerFeatures3D(momentum_index=None)(np.zeros((2, 5, 5), "float32"))
    with pytest.raises(ValueError, match="conditions"):
        ShowerFeatures3D()(np.zeros((2, 5, 5, 3), "float32"))
    with pytest.raises(ValueError, match="columns"):
        ConditionColumns((1, 1))
    with pytest.raises(ValueError, match="columns"):
        ConditionColumns((0, 4))(np.zeros((2, 3), "float32"))
