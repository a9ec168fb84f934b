"""Tests of the conditional GAN, the BESIII EMC networks and the GAN training functions."""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
import yaml

from keras_fastsim.layers.condition_projection import ConditionProjection
from keras_fastsim.layers.energy_ceiling import EnergyCeiling
from keras_fastsim.layers.energy_features import ShowerFeatures
from keras_fastsim.layers.minibatch_discrimination import MinibatchDiscrimination
from keras_fastsim.layers.moment_features import ShowerMomentFeatures
from keras_fastsim.layers.response_features import ResponseFeatures
from keras_fastsim.models.besiii_emc import (
    BESIII_CONDITION_SPLIT,
    BESIII_REGRESSION_SCALE,
    build_besiii_discriminator,
    build_besiii_gan,
    build_besiii_generator,
    build_besiii_regressor,
)
from keras_fastsim.models.conditional_gan import ConditionalGAN
from keras_fastsim.reference.calorimeter import generate_besiii_emc
from keras_fastsim.training import gan as gan_training
from keras_fastsim.training.besiii_emc import train_besiii_gan_run
from keras_fastsim.training.shower_runs import trained_epochs


@pytest.fixture(scope="module")
def showers():
    hits, conditions = generate_besiii_emc(256, seed=7)
    return hits, conditions


def _tiny_gan(noise_dim=4, seed=3, name_suffix="", ceiling_penalty=None):
    """Dense-only networks: fast to trace, no dropout, no minibatch layer.

    ``ceiling_penalty``: a number puts an ``EnergyCeiling`` with that penalty weight at the
    generator's output.
    """
    noise = keras.Input((noise_dim,))
    cond = keras.Input((6,))
    x = keras.layers.Concatenate()([noise, keras.layers.Rescaling(0.1)(cond)])
    x = keras.layers.Dense(121, activation="relu")(x)
    x = keras.layers.Reshape((11, 11, 1))(x)
    if ceiling_penalty is not None:
        x = EnergyCeiling(penalty_weight=ceiling_penalty, name="energy_ceiling")(x, cond)
    generator = keras.Model([noise, cond], x)
    hits = keras.Input((11, 11, 1))
    cond_d = keras.Input((6,))
    x = keras.layers.Concatenate()([keras.layers.Flatten()(hits),
                                    keras.layers.Rescaling(0.1)(cond_d)])
    discriminator = keras.Model([hits, cond_d], keras.layers.Dense(1, activation="sigmoid")(x))
    hits_r = keras.Input((11, 11, 1))
    pos = keras.Input((3,))
    x = keras.layers.Concatenate()([keras.layers.Flatten()(hits_r), pos])
    regressor = keras.Model([hits_r, pos], keras.layers.Dense(3)(x))
    return ConditionalGAN(generator, discriminator, regressor, noise_dim=noise_dim,
                          condition_split=BESIII_CONDITION_SPLIT,
                          regression_scale=BESIII_REGRESSION_SCALE, seed=seed)


# ------------------------------------------------------------------ slide architecture


def test_generator_shape_and_non_negative(showers):
    _, conditions = showers
    generator = build_besiii_generator()
    noise = np.random.default_rng(0).normal(size=(5, 512)).astype("float32")
    out = keras.ops.convert_to_numpy(generator([noise, conditions.to_numpy("float32")[:5]]))
    assert out.shape == (5, 11, 11, 1)
    assert np.all(out >= 0)
    assert generator.input_shape == [(None, 512), (None, 6)]


def _layers(model, cls):
    return [layer for layer in model.layers if type(layer) is cls]


def _summary(model) -> str:
    lines = []
    model.summary(line_length=160, print_fn=lambda line, **kwargs: lines.append(line))
    return "\n".join(lines)


def test_generator_layers_as_slides():
    generator = build_besiii_generator()
    dense = _layers(generator, keras.layers.Dense)
    assert [d.units for d in dense] == [16 * 4 * 4]
    assert _layers(generator, keras.layers.Reshape)[0].target_shape == (4, 4, 16)
    assert _layers(generator, keras.layers.UpSampling2D)[0].size == (3, 3)
    convs = _layers(generator, keras.layers.Conv2D)
    assert [(c.filters, c.kernel_size, c.padding) for c in convs] == [
        (16, (4, 4), "same"), (16, (3, 3), "same"), (16, (3, 3), "same"), (8, (3, 3), "same"),
        (1, (2, 2), "valid"),
    ]
    assert len(_layers(generator, keras.layers.ReLU)) == 5
    assert generator.layers[-1].__class__ is keras.layers.ReLU
    text = _summary(generator)
    assert text.count("Conv2D") == 5 and "UpSampling2D" in text and "(None, 12, 12, 16)" in text
    assert "(None, 11, 11, 1)" in text


def test_discriminator_and_regressor_layers_as_slides():
    disc = build_besiii_discriminator()
    convs = _layers(disc, keras.layers.Conv2D)
    assert [(c.filters, c.kernel_size) for c in convs] == [(16, (2, 2)), (32, (3, 3)), (64, (3, 3))]
    assert len(_layers(disc, keras.layers.LeakyReLU)) == 3
    assert [d.rate for d in _layers(disc, keras.layers.Dropout)] == [0.1, 0.1, 0.1]
    assert len(_layers(disc, keras.layers.MaxPooling2D)) == 1
    assert len(_layers(disc, MinibatchDiscrimination)) == 1
    features = _layers(disc, ShowerFeatures)
    assert len(features) == 1 and features[0].windows == (3, 5)
    (dense,) = _layers(disc, keras.layers.Dense)
    assert dense.units == 1 and dense.activation is keras.activations.sigmoid
    assert "MinibatchDiscrimination" in _summary(disc)
    assert len(_layers(build_besiii_discriminator(minibatch_kernels=0),
                       MinibatchDiscrimination)) == 0
    squared = build_besiii_discriminator(response_center=0.97, response_scale=0.03,
                                         response_powers=2, response_clip=4.0)
    (features,) = _layers(squared, ShowerFeatures)
    assert (features.response_powers, features.response_clip) == (2, 4.0)
    (dense,) = _layers(squared, keras.layers.Dense)
    assert dense.kernel.shape[0] == disc.get_layer("p_real").kernel.shape[0] + 1
    coupled = build_besiii_discriminator(response_center=0.97, response_scale=0.03,
                                         response_powers=2, response_clip=4.0, momentum_terms=2)
    (features,) = _layers(coupled, ShowerFeatures)
    assert (features.momentum_terms, features.momentum_center) == (2, 1.5)
    assert coupled.get_layer("p_real").kernel.shape[0] == dense.kernel.shape[0] + 2
    with_moments = build_besiii_discriminator(moment_features=True)
    (moments,) = _layers(with_moments, ShowerMomentFeatures)
    assert moments.name == "moments" and len(moments.condition_scale) == 6
    assert with_moments.get_layer("p_real").kernel.shape[0] == (
        disc.get_layer("p_real").kernel.shape[0] + 8 + 4 * 6)
    assert "ShowerMomentFeatures" in _summary(with_moments)
    projected = build_besiii_discriminator(condition_projection=16)
    (projection,) = _layers(projected, ConditionProjection)
    assert projection.hidden_units == 16 and projection.projection_kernel.shape == (16, 1600)
    assert projected.get_layer("p_real").activation is keras.activations.sigmoid
    assert projected.get_layer("logit").kernel.shape == disc.get_layer("p_real").kernel.shape

    reg = build_besiii_regressor()
    convs = _layers(reg, keras.layers.Conv2D)
    assert [(c.filters, c.kernel_size) for c in convs] == [(64, (2, 2)), (128, (2, 2))]
    assert len(_layers(reg, keras.layers.MaxPooling2D)) == 2
    assert [d.units for d in _layers(reg, keras.layers.Dense)] == [100, 10, 3]
    assert reg.input_shape == [(None, 11, 11, 1), (None, 3)]
    assert reg.output_shape == (None, 3)


def test_builders_validate_arguments():
    with pytest.raises(ValueError, match="noise_dim"):
        build_besiii_generator(noise_dim=0)
    with pytest.raises(ValueError, match="condition_scale"):
        build_besiii_generator(condition_dim=5)
    with pytest.raises(ValueError, match="dropout"):
        build_besiii_discriminator(dropout=1.0)
    with pytest.raises(ValueError, match="condition_projection"):
        build_besiii_discriminator(condition_projection=-1)


# ------------------------------------------------------------------ GAN model


def test_gan_arguments_validated():
    gan = _tiny_gan()
    g, d, r = gan.generator, gan.discriminator, gan.regressor
    with pytest.raises(ValueError, match="noise_dim"):
        ConditionalGAN(g, d, noise_dim=0)
    with pytest.raises(ValueError, match="condition_split"):
        ConditionalGAN(g, d, r, noise_dim=4)
    with pytest.raises(ValueError, match="overlap"):
        ConditionalGAN(g, d, r, noise_dim=4, condition_split=((0, 1, 2), (2, 3, 4)))
    with pytest.raises(ValueError, match="generator_steps"):
        ConditionalGAN(g, d, noise_dim=4, generator_steps=0)
    with pytest.raises(ValueError, match="regression_scale"):
        ConditionalGAN(g, d, r, noise_dim=4, condition_split=BESIII_CONDITION_SPLIT,
                       regression_scale=(1.0, 2.0))
    with pytest.raises(ValueError, match="Received: loss"):
        gan.compile("adam", "adam", loss="mse")
    with pytest.raises(ValueError, match="matching_weight"):
        ConditionalGAN(g, d, noise_dim=4, matching_weight=-1.0)
    with pytest.raises(ValueError, match="needs `matching_features`"):
        ConditionalGAN(g, d, noise_dim=4, matching_weight=1.0)
    with pytest.raises(ValueError, match="Unknown|matching_loss"):
        ConditionalGAN(g, d, noise_dim=4, matching_loss="chi2")
    with pytest.raises(TypeError, match="matching_loss"):
        ConditionalGAN(g, d, noise_dim=4, matching_loss=3.0)


def test_save_load_generator_and_gan(tmp_path, showers):
    _, conditions = showers
    cond = conditions.to_numpy("float32")[:8]
    generator = build_besiii_generator(noise_dim=16)
    noise = np.random.default_rng(1).normal(size=(8, 16)).astype("float32")
    generator.save(tmp_path / "generator.keras")
    loaded = keras.saving.load_model(tmp_path / "generator.keras")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded([noise, cond])),
                                  keras.ops.convert_to_numpy(generator([noise, cond])))
    capped = build_besiii_generator(noise_dim=16, momentum_scaling=1.5, energy_ceiling=0.5,
                                    ceiling_sharpness=10.0)
    for layer in generator.layers:
        capped.get_layer(layer.name).set_weights(layer.get_weights())
    capped.save(tmp_path / "capped.keras")
    loaded = keras.saving.load_model(tmp_path / "capped.keras")
    assert loaded.get_layer("energy_ceiling").get_config()["sharpness"] == 10.0
    assert loaded.get_layer("momentum_scaling").reference == 1.5
    out = keras.ops.convert_to_numpy(loaded([noise, cond]))
    np.testing.assert_array_equal(out, keras.ops.convert_to_numpy(capped([noise, cond])))
    assert (out.sum(axis=(1, 2, 3)) <= 0.5 * cond[:, 0] * (1 + 1e-6)).all()
    from keras_fastsim.export.saved_model import export_besiii_emc_generator

    exported = tf.saved_model.load(str(export_besiii_emc_generator(capped, tmp_path / "sm")))
    np.testing.assert_allclose(
        exported.simulate_noise(noise, cond).numpy(), out, rtol=1e-5, atol=1e-7
    )

    gan = build_besiii_gan(build_besiii_regressor(), noise_dim=16, seed=5,
                           discriminator_kwargs={"response_center": 0.97, "response_scale": 0.03,
                                                 "response_powers": 2, "response_clip": 4.0,
                                                 "momentum_terms": 2, "moment_features": True,
                                                 "condition_projection": 8},
                           matching_weight=0.5, matching_loss="mmd", matching_momentum_scale=0.05)
    assert not gan.regressor.trainable
    config = gan.get_config()
    clone = ConditionalGAN.from_config(config)
    assert clone.get_config() == config
    out = gan.generate(conditions, seed=11, batch_size=100)
    assert out.shape == (len(conditions), 11, 11, 1) and out.dtype == np.float32
    np.testing.assert_array_equal(out, gan.generate(conditions, seed=11, batch_size=37))
    assert not np.array_equal(out, gan.generate(conditions, seed=12))
    gan.compile(keras.optimizers.Adam(2e-5, beta_1=0.5), keras.optimizers.Adam(2e-4, beta_1=0.5))
    assert float(gan.matching_active.numpy()) == 1.0
    gan.matching_active.assign(0.0)  # a warm-up's state is saved with the GAN
    projection = gan.discriminator.get_layer("condition_projection").projection_kernel
    projection.assign(np.full(projection.shape, 1e-3, "float32"))  # not its zero start
    gan.save(tmp_path / "gan.keras")
    loaded = keras.saving.load_model(tmp_path / "gan.keras")
    assert isinstance(loaded, ConditionalGAN) and not loaded.regressor.trainable
    assert float(loaded.matching_active.numpy()) == 0.0
    assert loaded.d_optimizer.learning_rate.numpy() == pytest.approx(2e-5)
    np.testing.assert_array_equal(loaded.generate(cond, seed=3), gan.generate(cond, seed=3))
    assert loaded.matching_weight == 0.5
    assert loaded.matching_features.get_config() == gan.matching_features.get_config()
    assert type(loaded.matching_loss).__name__ == "MMDLoss"
    assert loaded.matching_features.momentum_scale == 0.05
    real = showers[0][:8]
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded.discriminator([real, cond])),
        keras.ops.convert_to_numpy(gan.discriminator([real, cond])), rtol=1e-6,
    )


# ------------------------------------------------------------------ training


def _weights(model):
    return [np.array(w) for w in model.get_weights()]


def test_train_conditional_gan_pipeline(tmp_path, showers):
    hits, conditions = showers
    gan = build_besiii_gan(build_besiii_regressor(), noise_dim=8, seed=2)
    before = {name: _weights(getattr(gan, name))
              for name in ("generator", "discriminator", "regressor")}
    trained = gan_training.train_conditional_gan(
        gan, hits, conditions, tmp_path, epochs=1, batch_size=64, validation_fraction=0.25,
        ks_samples=64, verbose=0,
    )
    after = {name: _weights(getattr(trained, name)) for name in before}
    for name in ("generator", "discriminator"):
        assert any(not np.array_equal(a, b) for a, b in zip(before[name], after[name])), name
    for a, b in zip(before["regressor"], after["regressor"]):
        np.testing.assert_array_equal(a, b)  # frozen
    assert int(trained.d_optimizer.iterations.numpy()) == 3  # 192 showers / 64
    assert int(trained.g_optimizer.iterations.numpy()) == 6  # two generator steps each
    history = pd.read_csv(tmp_path / "history.csv")
    for key in ("d_loss", "g_loss", "reg_loss", "val_d_loss", "val_g_loss", "val_reg_loss"):
        assert np.isfinite(history[key]).all(), key
    assert (tmp_path / "checkpoints" / "epoch_001.keras").exists()
    ks = pd.read_csv(tmp_path / "ks_scores.csv")
    assert list(ks["epoch"]) == [1] and 0 <= ks["ks_score"][0] <= 6
    assert "response" in ks.columns  # Mom (column 0) is the energy of the response KS
    assert yaml.safe_load((tmp_path / "best_epoch.yaml").read_text())["epoch"] == 1
    for name in ("model.keras", "generator.keras", "best_model.keras", "config.yaml"):
        assert (tmp_path / name).exists(), name


def test_energy_ceiling_warmup_switches_the_ceiling_by_epoch(tmp_path, showers):
    hits, conditions = showers
    keras.utils.set_random_seed(0)
    # a ceiling at 2 % of the momentum: the untrained generator's totals are above it whatever
    # its initial weights
    gan = build_besiii_gan(build_besiii_regressor(), noise_dim=8, seed=2,
                           generator_kwargs={"energy_ceiling": 0.02, "ceiling_penalty_weight": 2.0})
    # the generator's penalty is part of the GAN's generator objective
    noise = np.random.default_rng(0).normal(size=(16, 8)).astype("float32")
    cond = conditions.to_numpy("float32")[:16]
    gan.generator([noise, cond], training=True)
    (penalty,) = gan.generator.losses
    assert float(penalty) > 1.0  # the untrained generator sits far above that ceiling
    assert float(gan._own_losses(gan.generator)) == pytest.approx(float(penalty))
    assert gan._own_losses(gan.discriminator) == 0.0
    active = gan.generator.get_layer("energy_ceiling").active
    seen = []

    class Record(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            seen.append(float(active.numpy()))

    trained = gan_training.train_conditional_gan(
        gan, hits, conditions, tmp_path, epochs=3, batch_size=64, validation_fraction=0.25,
        ks_samples=None, verbose=0,
        extra_callbacks=[gan_training.EnergyCeilingWarmup(2), Record()],
    )
    assert seen == [0.0, 0.0, 1.0]
    history = pd.read_csv(tmp_path / "history.csv")
    assert np.isfinite(history[["d_loss", "g_loss"]].to_numpy()).all()
    generated = trained.generate(conditions[:64], seed=1)
    assert (generated.sum(axis=(1, 2, 3)) <= 0.02 * conditions["Mom"][:64] * (1 + 1e-6)).all()
    loaded = keras.saving.load_model(tmp_path / "generator.keras")
    assert float(loaded.get_layer("energy_ceiling").active.numpy()) == 1.0
    with pytest.raises(ValueError, match="warmup_epochs"):
        gan_training.EnergyCeilingWarmup(-1)
    with pytest.raises(ValueError, match="no EnergyCeiling"):
        gan_training.train_conditional_gan(
            build_besiii_gan(None, noise_dim=8), hits, conditions, tmp_path / "plain",
            epochs=1, batch_size=64, ks_samples=None, verbose=0,
            extra_callbacks=[gan_training.EnergyCeilingWarmup(1)],
        )


def test_matching_warmup_switches_the_two_sample_term(tmp_path, showers):
    hits, conditions = showers
    keras.utils.set_random_seed(0)
    gan = build_besiii_gan(None, noise_dim=8, seed=2, matching_weight=1.0)
    seen = []
    record = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: seen.append(float(gan.matching_active.numpy())))
    gan_training.train_conditional_gan(
        gan, hits, conditions, tmp_path, epochs=3, batch_size=64, validation_fraction=0.25,
        ks_samples=None, verbose=0, extra_callbacks=[gan_training.MatchingWarmup(2), record])
    assert seen == [0.0, 0.0, 1.0]
    history = pd.read_csv(tmp_path / "history.csv")
    assert (history["match_loss"] > 0).all()  # the statistic is logged while switched off
    with pytest.raises(ValueError, match="warmup_epochs"):
        gan_training.MatchingWarmup(-2)
    with pytest.raises(ValueError, match="matching_warmup_epochs"):
        train_besiii_gan_run(hits, conditions, tmp_path / "bad", regressor=None,
                             matching_weight=1.0, matching_warmup_epochs=-1)
    with pytest.raises(ValueError, match="no two-sample term"):
        gan_training.train_conditional_gan(
            build_besiii_gan(None, noise_dim=8), hits, conditions, tmp_path / "plain",
            epochs=1, batch_size=64, ks_samples=None, verbose=0,
            extra_callbacks=[gan_training.MatchingWarmup(1)],
        )


def test_energy_ceiling_warmup_finds_ceilings_in_nested_models():
    cells, cond = keras.Input((11, 11, 1)), keras.Input((6,))
    inner = keras.Model([cells, cond], EnergyCeiling(name="inner_ceiling")(cells, cond))
    outer = keras.Model([cells, cond], keras.layers.ReLU()(inner([cells, cond])))

    class Holder:
        generator = outer

    callback = gan_training.EnergyCeilingWarmup(1)
    callback.set_model(Holder())
    (switch,) = callback._switches()
    assert switch is inner.get_layer("inner_ceiling").active
    callback.on_epoch_begin(0)
    assert float(inner.get_layer("inner_ceiling").active.numpy()) == 0.0
    callback.on_epoch_begin(1)
    assert float(inner.get_layer("inner_ceiling").active.numpy()) == 1.0


def test_mirrored_matches_default_strategy(showers):
    """Same seed and data: the losses and weights after SGD steps agree across strategies."""
    hits, conditions = showers
    data = tf.data.Dataset.from_tensor_slices(
        (hits[:64], conditions.to_numpy("float32")[:64])
    ).batch(32, drop_remainder=True)
    reference = _tiny_gan()
    results = {}
    for name in ("default", "mirrored"):
        strategy = (tf.distribute.get_strategy() if name == "default"
                    else tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))
        if name == "mirrored":
            assert strategy.num_replicas_in_sync == 2
        with strategy.scope():
            gan = ConditionalGAN.from_config(reference.get_config())
            gan.set_weights(reference.get_weights())
            gan.compile(keras.optimizers.SGD(0.05), keras.optimizers.SGD(0.05))
        history = gan.fit(data, epochs=2, verbose=0).history
        shower = gan.generate(conditions[:5], seed=1)  # odd batch on 2 replicas
        assert shower.shape == (5, 11, 11, 1)
        results[name] = (history, _weights(gan.generator), _weights(gan.discriminator), shower)
    (h0, g0, d0, s0), (h1, g1, d1, s1) = results["default"], results["mirrored"]
    np.testing.assert_allclose(s1, s0, rtol=1e-4, atol=1e-6)
    for key in ("d_loss", "g_loss", "reg_loss"):
        np.testing.assert_allclose(h1[key], h0[key], rtol=1e-4, err_msg=key)
    for a, b in zip(g0 + d0, g1 + d1):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6)
    assert any(not np.array_equal(a, b) for a, b in zip(g0, _weights(reference.generator)))


def _fit_both_strategies(reference, showers, epochs, warmup, switch):
    """Trains copies of ``reference`` under the default strategy and on 2 replicas with the
    warm-up callback ``warmup``; returns ``{name: (history, gan)}`` and checks that
    ``switch(gan)`` (the warm-up's variable) is 0 in the first epoch and 1 afterwards."""
    hits, conditions = showers
    data = tf.data.Dataset.from_tensor_slices(
        (hits[:64], conditions.to_numpy("float32")[:64])
    ).batch(32, drop_remainder=True)
    results = {}
    for name in ("default", "mirrored"):
        strategy = (tf.distribute.get_strategy() if name == "default"
                    else tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))
        with strategy.scope():
            gan = ConditionalGAN.from_config(reference.get_config())
            gan.set_weights(reference.get_weights())
            gan.compile(keras.optimizers.SGD(0.05), keras.optimizers.SGD(0.05))
        seen = []
        record = keras.callbacks.LambdaCallback(
            on_epoch_end=lambda epoch, logs, seen=seen, gan=gan: seen.append(
                float(switch(gan).numpy())))
        history = gan.fit(data, epochs=epochs, verbose=0, callbacks=[warmup, record]).history
        assert seen == [0.0] + [1.0] * (epochs - 1), name
        results[name] = (history, gan)
    return results


def test_mirrored_matching_warmup(showers):
    """Under 2 replicas the warm-up switch reaches the replicas' steps: with the two-sample
    term off the first epoch equals the default strategy's; once on, the term (a statistic of
    each replica's slice) makes the two differ."""
    tiny = _tiny_gan()
    reference = ConditionalGAN(
        tiny.generator, tiny.discriminator, tiny.regressor, noise_dim=4,
        condition_split=BESIII_CONDITION_SPLIT, regression_scale=BESIII_REGRESSION_SCALE,
        seed=3, matching_features=ResponseFeatures(), matching_weight=5.0)
    results = _fit_both_strategies(reference, showers, 2, gan_training.MatchingWarmup(1),
                                   lambda gan: gan.matching_active)
    (h0, _), (h1, _) = results["default"], results["mirrored"]
    for h in (h0, h1):
        assert np.isfinite(h["match_loss"]).all() and min(h["match_loss"]) > 0
    for key in ("d_loss", "g_loss", "reg_loss"):
        np.testing.assert_allclose(h1[key][0], h0[key][0], rtol=1e-4, err_msg=key)
    assert not np.isclose(h1["g_loss"][1], h0["g_loss"][1], rtol=1e-4)


def test_mirrored_matches_default_with_energy_ceiling_warmup(showers):
    """The ceiling's penalty (a network loss) and the warm-up switch behave alike on 2 replicas."""
    results = _fit_both_strategies(
        _tiny_gan(ceiling_penalty=2.0), showers, 3, gan_training.EnergyCeilingWarmup(1),
        lambda gan: gan.generator.get_layer("energy_ceiling").active)
    (h0, gan0), (h1, gan) = results["default"], results["mirrored"]
    for key in ("d_loss", "g_loss", "reg_loss"):
        np.testing.assert_allclose(h1[key], h0[key], rtol=1e-4, err_msg=key)
    for a, b in zip(_weights(gan0.generator), _weights(gan.generator)):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6)
    # the penalty is a sizeable part of the objective that both strategies agree on
    noise = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    gan.generator([noise, showers[1].to_numpy("float32")[:32]], training=True)
    assert float(gan._own_losses(gan.generator)) > 0.05


def test_pretrain_regressor(tmp_path, showers):
    hits, conditions = showers
    regressor = build_besiii_regressor()
    before = _weights(regressor)
    trained = gan_training.pretrain_regressor(
        regressor, hits, conditions, tmp_path, epochs=1, batch_size=64, verbose=0,
        validation_fraction=0.25,
    )
    assert any(not np.array_equal(a, b) for a, b in zip(before, _weights(trained)))
    table = pd.read_csv(tmp_path / "resolution.csv")
    assert list(table["column"]) == [0, 1, 2] and np.isfinite(table[["bias", "std"]]).all().all()
    loaded = keras.saving.load_model(tmp_path / "regressor.keras")
    x = [hits[:4], conditions.to_numpy("float32")[:4, 3:]]
    np.testing.assert_allclose(loaded.predict(x, verbose=0), trained.predict(x, verbose=0),
                               rtol=1e-6)


# ------------------------------------------------------------------ KS epoch selection


def _constant_gan(template):
    gan = _tiny_gan(noise_dim=2)
    dense = next(layer for layer in gan.generator.layers if isinstance(layer, keras.layers.Dense))
    kernel, _ = dense.get_weights()
    dense.set_weights([np.zeros_like(kernel), template.reshape(-1).astype("float32")])
    return gan


def test_ks_distances_and_epoch_selection(tmp_path, showers):
    hits, conditions = showers
    zero = gan_training.shower_ks_distances(hits, hits)
    assert set(zero) == set(gan_training.KS_FEATURES) and max(zero.values()) == 0.0
    mean_shower = hits.mean(axis=0)
    # epoch 1: three times too much energy; epoch 2: the average shower
    for epoch, scale in ((1, 3.0), (2, 1.0)):
        _constant_gan(scale * mean_shower).save(tmp_path / f"epoch_{epoch:03d}.keras")
    best, table = gan_training.select_epoch_by_ks(tmp_path, hits, conditions, out_dir=tmp_path)
    assert best == 2
    assert list(table["epoch"]) == [1, 2]
    assert table.loc[0, "E_total"] == pytest.approx(1.0)
    assert table.loc[1, "ks_score"] < table.loc[0, "ks_score"]
    assert yaml.safe_load((tmp_path / "best_epoch.yaml").read_text())["epoch"] == 2


class _Replay:
    """Stands in for a GAN in KSEpochSelection: hands out prepared showers epoch by epoch."""

    def __init__(self, *epochs):
        self.epochs = list(epochs)

    def generate(self, conditions, seed=0, batch_size=None):
        return self.epochs.pop(0)


class _Generates:
    """Stands in for a GAN in DeadGeneratorStop: showers with energy in the first ``alive``
    of them, epoch by epoch."""

    def __init__(self, *alive_per_epoch):
        self.alive = list(alive_per_epoch)
        self.stop_training = False

    def generate(self, conditions, seed=0, batch_size=None):
        showers = np.zeros((len(conditions), 11, 11, 1), np.float32)
        showers[: self.alive.pop(0), 5, 5, 0] = 0.1
        return showers


def test_dead_generator_stop_counts_empty_epochs_in_a_row():
    conditions = np.ones((2000, 6), np.float32)
    stop = gan_training.DeadGeneratorStop(conditions, patience=3, n_max=None)
    # dead, alive, dead, dead (2 of 2000 non-empty: 0.1 % is still dead), dead
    model = _Generates(0, 1500, 0, 2, 0)
    stop.set_model(model)
    stop.on_train_begin()
    for epoch in range(4):
        stop.on_epoch_end(epoch)
        assert not model.stop_training and stop.stopped_epoch is None, epoch
    assert stop.dead_epochs == 2
    stop.on_epoch_end(4)
    assert model.stop_training and stop.stopped_epoch == 5
    assert "empty showers for 3 epochs" in str(stop.error("run"))
    with pytest.raises(ValueError, match="patience"):
        gan_training.DeadGeneratorStop(conditions, patience=0)
    with pytest.raises(ValueError, match="max_alive_fraction"):
        gan_training.DeadGeneratorStop(conditions, max_alive_fraction=1.0)
    with pytest.raises(ValueError, match="conditions"):
        gan_training.DeadGeneratorStop(np.ones(6))


def test_training_of_a_dead_generator_stops_with_an_error(tmp_path, showers):
    hits, conditions = showers
    # the generator's last ReLU gets a negative input everywhere: zero showers, no gradient
    gan = _constant_gan(np.full((11, 11, 1), -1.0))
    with pytest.raises(gan_training.DeadGeneratorError, match="after epoch 2"):
        gan_training.train_conditional_gan(
            gan, hits, conditions, tmp_path, epochs=5, batch_size=64, validation_fraction=0.25,
            ks_samples=64, dead_generator_patience=2, verbose=0,
        )
    checkpoints = sorted(p.name for p in (tmp_path / "checkpoints").glob("epoch_*.keras"))
    assert checkpoints == ["epoch_001.keras", "epoch_002.keras"]


def test_classifier_criterion_sees_the_conditions_the_ks_score_misses(tmp_path):
    rng = np.random.default_rng(4)
    n = 3000
    momentum = rng.uniform(1.0, 2.0, n)
    conditions = np.stack([momentum, rng.normal(size=n)], axis=1)
    pattern = np.outer([1, 3, 8, 3, 1], [1, 2, 6, 2, 1]).astype(float)
    pattern /= pattern.sum()

    def draw(scale=1.0):
        energy = scale * momentum * rng.normal(1.0, 0.03, n)
        return (energy[:, None, None] * pattern)[..., None].astype("float32")

    reference = draw()
    # a second draw of the same model is indistinguishable for the classifier
    assert 0.45 < gan_training.epoch_classifier_auc(reference, draw(), conditions) < 0.56
    # epoch 1: exactly the reference showers, but assigned to the wrong tracks (every KS
    # distance 0); epoch 2: 2 % too much energy, for the right tracks
    epochs = (reference[rng.permutation(n)], draw(1.02))
    best, tables = {}, {}
    for criterion in gan_training.SELECTION_CRITERIA:
        # the momentum-bin score reads the momentum (column 0); the KS sum then has a
        # response distance, which the other two leave out
        selector = gan_training.KSEpochSelection(
            reference, conditions, tmp_path / criterion, n_max=None, criterion=criterion,
            energy_column=0 if criterion == "momentum_bins" else None)
        selector.set_model(_Replay(*epochs))
        (tmp_path / criterion).mkdir()
        logs = [{}, {}]
        for epoch in range(2):
            selector.on_epoch_end(epoch, logs[epoch])
        tables[criterion] = table = pd.read_csv(tmp_path / criterion / "ks_scores.csv")
        best[criterion] = yaml.safe_load((tmp_path / criterion / "best_epoch.yaml").read_text())
        assert best[criterion]["criterion"] == criterion
        for other in ("classifier_auc", "momentum_bins"):
            assert (other in logs[0]) == (other in table) == (criterion == other)
    assert tables["ks_score"]["ks_score"][0] == 0.0 < tables["ks_score"]["ks_score"][1]
    assert tables["classifier_auc"]["classifier_auc"][0] > 0.85
    assert tables["classifier_auc"]["classifier_auc"][1] < 0.75
    # wrong tracks: per-bin means ~10 % off; 2 % too much energy: the mean target missed 2x
    assert tables["momentum_bins"]["momentum_bins"][0] > 5.0
    assert tables["momentum_bins"]["momentum_bins"][1] == pytest.approx(2.0, abs=0.3)
    assert best["ks_score"]["epoch"] == 1
    assert best["classifier_auc"]["epoch"] == best["momentum_bins"]["epoch"] == 2
    # a second draw of the same model is within both targets in every bin
    assert gan_training.epoch_momentum_bin_score(reference, draw(), momentum) < 1.0
    with pytest.raises(ValueError, match="momentum column"):
        gan_training.KSEpochSelection(reference, conditions, tmp_path, energy_column=None,
                                      criterion="momentum_bins")
    with pytest.raises(ValueError, match="Unknown `feature`"):
        gan_training.epoch_momentum_bin_score(reference, reference, momentum, feature="E9x9")
    with pytest.raises(ValueError, match="one value per shower"):
        gan_training.epoch_momentum_bin_score(reference, reference, momentum[:10])
    with pytest.raises(ValueError, match="same shape"):
        gan_training.epoch_momentum_bin_score(reference, reference[:10], momentum)
    # resuming a run with another criterion than its earlier epochs had is refused
    selector = gan_training.KSEpochSelection(reference, conditions, tmp_path / "ks_score",
                                             n_max=None, criterion="classifier_auc")
    selector.set_model(_Replay(reference))
    with pytest.raises(ValueError, match="another selection criterion"):
        selector.on_epoch_end(1, {})
    with pytest.raises(ValueError, match="criterion"):
        gan_training.KSEpochSelection(reference, conditions, tmp_path, criterion="auc")
    with pytest.raises(ValueError, match="same shape"):
        gan_training.epoch_classifier_auc(reference, reference[:10])


def test_besiii_run_selects_by_the_classifier(tmp_path, showers):
    hits, conditions = showers
    with pytest.raises(ValueError, match="selection_criterion"):
        train_besiii_gan_run(hits, conditions, tmp_path / "bad", regressor=None,
                             selection_criterion="auc", epochs=1, batch_size=64)
    gan = train_besiii_gan_run(hits, conditions, tmp_path, regressor=None, noise_dim=8,
                               epochs=2, batch_size=64, validation_fraction=0.25,
                               ks_samples=None, selection_criterion="classifier_auc",
                               moment_features=True, condition_projection=4,
                               projection_warmup_epochs=1, track_coordinates=True, verbose=0)
    assert isinstance(gan.discriminator.get_layer("moments"), ShowerMomentFeatures)
    assert gan.generator.get_layer("track_coordinates").radius
    assert gan.discriminator.get_layer("condition_projection").hidden_units == 4
    assert float(gan.discriminator.get_layer("condition_projection").active.numpy()) == 1.0
    table = pd.read_csv(tmp_path / "ks_scores.csv")
    assert list(table["epoch"]) == [1, 2]
    assert table["classifier_auc"].between(0.0, 1.0).all()
    best = yaml.safe_load((tmp_path / "best_epoch.yaml").read_text())
    assert best["criterion"] == "classifier_auc"
    assert best["epoch"] == int(table.loc[table["classifier_auc"].idxmin(), "epoch"])
    manifest = yaml.safe_load((tmp_path / "run.json").read_text())
    assert manifest["selection_criterion"] == "classifier_auc"
    assert manifest["best_epoch"] == best["epoch"]
    assert trained_epochs(tmp_path) == 2 and trained_epochs(tmp_path / "bad") is None
    config = yaml.safe_load((tmp_path / "config.yaml").read_text())
    assert config["model"]["minibatch_reduction"] == "mean"  # the network settings too
    assert config["model"]["energy_ceiling"] is None
    assert config["model"]["moment_features"] is True
    assert config["model"]["condition_projection"] == 4
    assert config["model"]["projection_warmup_epochs"] == 1
    assert config["model"]["track_coordinates"] is True
    with pytest.raises(ValueError, match=r"model\.minibatch_reduction: 'mean' -> 'sum'"):
        train_besiii_gan_run(hits, conditions, tmp_path, regressor=None, noise_dim=8, epochs=3,
                             batch_size=64, validation_fraction=0.25, ks_samples=None,
                             selection_criterion="classifier_auc", minibatch_reduction="sum",
                             moment_features=True, condition_projection=4,
                             projection_warmup_epochs=1, verbose=0)
    with pytest.raises(ValueError, match="projection_warmup_epochs"):
        train_besiii_gan_run(hits, conditions, tmp_path / "bad", regressor=None,
                             condition_projection=4, projection_warmup_epochs=-1)


def test_projection_warmup_switches_the_projection_by_epoch():
    gan = build_besiii_gan(None, noise_dim=8, discriminator_kwargs={"condition_projection": 4})
    warmup = gan_training.ProjectionWarmup(2)
    warmup.set_model(gan)
    warmup.on_train_begin()
    layer = gan.discriminator.get_layer("condition_projection")
    seen = []
    for epoch in range(4):
        warmup.on_epoch_begin(epoch)
        seen.append(float(layer.active.numpy()))
    assert seen == [0.0, 0.0, 1.0, 1.0]
    warmup.on_epoch_begin(0)  # a resumed training gets the schedule of its epoch
    assert float(layer.active.numpy()) == 0.0
    plain = gan_training.ProjectionWarmup(1)
    plain.set_model(build_besiii_gan(None, noise_dim=8))
    with pytest.raises(ValueError, match="no ConditionProjection"):
        plain.on_train_begin()


def test_response_ks_sees_the_resolution_at_fixed_energy():
    rng = np.random.default_rng(1)
    energies = rng.uniform(1.0, 2.0, 4000)
    sharp = energies * rng.normal(1.0, 0.02, 4000)
    wide = energies * rng.normal(1.0, 0.06, 4000)
    as_images = lambda e: np.broadcast_to(e[:, None, None, None] / 121.0, (len(e), 11, 11, 1))
    d = gan_training.shower_ks_distances(as_images(sharp), as_images(wide), energies)
    assert d["E_total"] < 0.05  # the marginal hides the 3x wider resolution ...
    assert d["response"] > 0.15  # ... the response does not (expected ~0.25)
    same = gan_training.shower_ks_distances(as_images(sharp), as_images(sharp), energies)
    assert same["response"] == 0.0
    with pytest.raises(ValueError, match="energies"):
        gan_training.shower_ks_distances(as_images(sharp), as_images(wide), -energies)


def test_ks_distances_of_3d_grids_include_the_longitudinal_profile():
    rng = np.random.default_rng(0)
    grids = rng.gamma(2.0, 1.0, size=(200, 5, 5, 8)) * np.linspace(1.0, 0.1, 8)
    same = gan_training.shower_ks_distances(grids, grids)
    assert set(same) == set(gan_training.KS_FEATURES_3D) and max(same.values()) == 0.0
    deeper = gan_training.shower_ks_distances(grids, grids[..., ::-1])
    assert deeper["profile_layer"] > 0.3
    assert deeper["E_total"] == 0.0 and deeper["profile_phi"] == 0.0



@pytest.mark.parametrize("strategy", ["default", "mirrored"])
def test_rerun_continues_a_finished_training_with_its_optimizer_state(tmp_path, showers,
                                                                      strategy):
    hits, conditions = showers

    def train(epochs, **kwargs):
        settings = {"batch_size": 64, "validation_fraction": 0.25, "ks_samples": 64,
                    "strategy": strategy} | kwargs
        return gan_training.train_conditional_gan(
            _tiny_gan(), hits, conditions, tmp_path, epochs=epochs, verbose=0, **settings)

    first = train(1)
    assert (tmp_path / "backup").is_dir()  # kept, so that the run can go on
    assert int(first.d_optimizer.iterations.numpy()) == 3
    first_weights = _weights(first.generator)

    more = train(3)  # the fresh GAN passed in is replaced by the run's state
    assert int(more.d_optimizer.iterations.numpy()) == 9
    assert int(more.g_optimizer.iterations.numpy()) == 18
    assert any(not np.array_equal(a, b) for a, b in zip(first_weights, _weights(more.generator)))
    assert list(pd.read_csv(tmp_path / "history.csv")["epoch"]) == [0, 1, 2]
    assert list(pd.read_csv(tmp_path / "ks_scores.csv")["epoch"]) == [1, 2, 3]
    assert (tmp_path / "checkpoints" / "epoch_003.keras").exists()
    config = yaml.safe_load((tmp_path / "config.yaml").read_text())
    assert config["training"]["epochs"] == 3 and config["training"]["best_epoch"] in (1, 2, 3)

    again = train(3)  # nothing left to train: the run's final state
    assert int(again.d_optimizer.iterations.numpy()) == 9
    # the noise seed state is not in the backup: a resumed training reseeds it by its start
    # epoch instead of drawing the noise of its first epochs again
    def seed_of(gan):
        return int(keras.ops.convert_to_numpy(gan.seed_generator.state)[0])

    assert seed_of(first) == seed_of(_tiny_gan())
    assert len({seed_of(first), seed_of(more), seed_of(again)}) == 3
    for a, b in zip(_weights(more.generator), _weights(again.generator)):
        np.testing.assert_array_equal(a, b)
    assert len(pd.read_csv(tmp_path / "ks_scores.csv")) == 3

    with pytest.raises(ValueError, match="finished 3 epochs"):
        train(2)
    with pytest.raises(ValueError, match=r"training\.batch_size: 64 -> 32"):
        train(4, batch_size=32)
    with pytest.raises(ValueError, match=r"model\.noise_dim: 4 -> 5"):
        gan_training.train_conditional_gan(
            _tiny_gan(noise_dim=5), hits, conditions, tmp_path, epochs=4, batch_size=64,
            validation_fraction=0.25, ks_samples=64, strategy=strategy, verbose=0)
    assert list(pd.read_csv(tmp_path / "history.csv")["epoch"]) == [0, 1, 2]  # untouched
