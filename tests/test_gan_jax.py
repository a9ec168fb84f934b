"""The conditional GAN's training step under JAX, and its network losses under both backends
(each in a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from keras_fastsim.training.gan import ShowerBatches

pytest.importorskip("jax")


def _run_script(source: str, path, backend: str, *args: str, timeout: int = 300) -> dict:
    """Runs ``source`` as a script under ``backend`` on the CPU; its last stdout line as JSON."""
    env = {**os.environ, "KERAS_BACKEND": backend, "JAX_PLATFORMS": "cpu",
           "CUDA_VISIBLE_DEVICES": ""}
    path.write_text(source)
    proc = subprocess.run([sys.executable, str(path), *args], env=env, check=False,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])

_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import keras
    import numpy as np
    from keras_fastsim.models.besiii_emc import build_besiii_gan, build_besiii_regressor
    from keras_fastsim.reference.calorimeter import generate_besiii_emc
    from keras_fastsim.training.gan import EnergyCeilingWarmup, train_conditional_gan

    assert keras.backend.backend() == "jax"
    out = sys.argv[1]
    hits, cond = generate_besiii_emc(160, seed=5)
    regressor = build_besiii_regressor()
    # with the energy ceiling switched on by a callback after the first epoch, and the
    # discriminator's shower moments and condition projection
    gan = build_besiii_gan(regressor=regressor, seed=3, generator_kwargs={"energy_ceiling": 1.0,
                                                                "ceiling_penalty_weight": 1.0},
                           discriminator_kwargs={"moment_features": True,
                                                 "condition_projection": 8})
    g0 = [np.array(v.numpy()) for v in gan.generator.trainable_variables]
    d0 = [np.array(v.numpy()) for v in gan.discriminator.trainable_variables]
    r0 = [np.array(v.numpy()) for v in regressor.weights]
    gan = train_conditional_gan(gan, hits, cond, out, epochs=2, batch_size=32,
                                validation_fraction=0.2, ks_samples=32, verbose=0,
                                extra_callbacks=[EnergyCeilingWarmup(1)])
    loaded = keras.saving.load_model(out + "/model.keras")
    change = lambda a, b: max(float(np.abs(x - np.array(y.numpy())).max()) for x, y in zip(a, b))
    print(json.dumps({
        "d_iterations": int(gan.d_optimizer.iterations.numpy()),
        "g_iterations": int(gan.g_optimizer.iterations.numpy()),
        "g_change": change(g0, gan.generator.trainable_variables),
        "d_change": change(d0, gan.discriminator.trainable_variables),
        "r_change": change(r0, regressor.weights),
        "reload_diff": float(np.abs(gan.generate(cond[:8], seed=1)
                                    - loaded.generate(cond[:8], seed=1)).max()),
        "history": open(out + "/history.csv").read(),
        "ks_rows": len(open(out + "/ks_scores.csv").read().splitlines()) - 1,
        "ceiling_active": float(gan.generator.get_layer("energy_ceiling").active.numpy()),
        "max_response": float((gan.generate(cond[:64], seed=2).sum(axis=(1, 2, 3))
                               / cond["Mom"].to_numpy()[:64]).max()),
    }))
    """
)


def test_gan_trains_under_jax(tmp_path):
    result = _run_script(_SCRIPT, tmp_path / "train_jax.py", "jax", str(tmp_path / "run"),
                         timeout=600)
    # 128 training showers at batch 32: 4 steps per epoch, 2 epochs; 2 generator steps each.
    assert result["d_iterations"] == 8
    assert result["g_iterations"] == 16
    assert result["g_change"] > 0 and result["d_change"] > 0
    assert result["r_change"] == 0.0  # the regressor stays frozen
    assert result["reload_diff"] == 0.0
    header = result["history"].splitlines()[0].split(",")
    assert {"d_loss", "g_loss", "reg_loss", "val_d_loss", "val_reg_loss"} <= set(header)
    assert result["ks_rows"] == 2  # KS epoch selection scored both epochs
    # the callback's switch survives the JAX trainer's state sync
    assert result["ceiling_active"] == 1.0 and result["max_response"] <= 1.0 + 1e-6
    rows = [line.split(",") for line in result["history"].splitlines()[1:]]
    assert len(rows) == 2
    assert all(np.isfinite(float(v)) for row in rows for v in row)


# A discriminator whose probe layer adds ``b * mean(hits)`` to its losses (``b`` enters nowhere
# else) and whose kernel has an L2 regularizer; the generator makes empty showers. One SGD step
# at learning rate 1 on real showers of ones moves ``b`` by -(1 + 0) only if the losses of the
# call on the real showers count, not just those of the last call (on the fake ones).
_PROBE_SCRIPT = textwrap.dedent(
    """
    import json
    import keras
    import numpy as np
    from keras import ops
    from keras_fastsim.models.conditional_gan import ConditionalGAN

    class Probe(keras.layers.Layer):
        def build(self, input_shape):
            self.b = self.add_weight(shape=(), initializer="zeros", name="b")

        def call(self, x):
            self.add_loss(self.b * ops.mean(x))
            return x

    noise, cond = keras.Input((4,)), keras.Input((6,))
    x = keras.layers.Dense(121)(keras.layers.Concatenate()([noise, cond]))
    x = keras.layers.Reshape((11, 11, 1))(keras.layers.Rescaling(0.0)(x))
    generator = keras.Model([noise, cond], x)
    hits, cond_d = keras.Input((11, 11, 1)), keras.Input((6,))
    probe = Probe()
    x = keras.layers.Flatten()(probe(hits))
    dense = keras.layers.Dense(1, activation="sigmoid",
                               kernel_regularizer=keras.regularizers.L2(0.5))
    discriminator = keras.Model([hits, cond_d], dense(x))
    gan = ConditionalGAN(generator, discriminator, noise_dim=4, seed=0)
    gan.compile(keras.optimizers.SGD(1.0), keras.optimizers.SGD(0.0))
    real = np.ones((8, 11, 11, 1), "float32")
    conditions = np.ones((8, 6), "float32")
    probe.b.assign(2.0)
    discriminator([real, conditions])
    first = gan._call_losses(discriminator)
    discriminator([0.5 * real, conditions])
    own = float(gan._own_losses(discriminator, first))
    reg = 0.5 * float(ops.sum(dense.kernel ** 2))
    probe.b.assign(0.0)
    gan.train_on_batch(real, conditions)
    print(json.dumps({"b": float(probe.b.numpy()), "n_first": len(first), "own": own,
                      "reg": reg}))
    """
)


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_discriminator_losses_of_both_calls_count(tmp_path, backend):
    result = _run_script(_PROBE_SCRIPT, tmp_path / "probe.py", backend)
    assert result["n_first"] == 1  # the probe's term, without the regularizer
    # both calls' probe terms (b = 2: 2 x 1 + 2 x 0.5) and the regularizer once
    assert result["own"] == pytest.approx(3.0 + result["reg"], rel=1e-5)
    assert result["b"] == pytest.approx(-1.0, abs=1e-5)

def test_shower_batches_order_and_coverage():
    hits = np.arange(10, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32)
    cond = np.arange(10, dtype=np.float32)[:, None]
    batches = ShowerBatches((hits, cond), batch_size=4, shuffle=True, seed=1)
    assert len(batches) == 2  # the incomplete batch is dropped
    seen = np.concatenate([batches[i][1][:, 0] for i in range(len(batches))])
    assert len(np.unique(seen)) == 8
    for i in range(len(batches)):
        h, c = batches[i]
        np.testing.assert_array_equal(h[:, 0], c[:, 0])  # rows stay paired
    again = ShowerBatches((hits, cond), batch_size=4, shuffle=True, seed=1)
    np.testing.assert_array_equal(again[0][1], batches[0][1])  # seeded
    first = np.concatenate([batches[i][1][:, 0] for i in range(2)])
    batches.on_epoch_end()
    second = np.concatenate([batches[i][1][:, 0] for i in range(2)])
    assert not np.array_equal(np.sort(first), np.sort(second)) or not np.array_equal(first, second)
    ordered = ShowerBatches((hits, cond), batch_size=4, shuffle=False, drop_remainder=False)
    assert len(ordered) == 3
    np.testing.assert_array_equal(ordered[2][1][:, 0], [8, 9])


def test_shower_batches_rejects_bad_batch_size():
    with pytest.raises(ValueError, match="batch_size"):
        ShowerBatches((np.zeros((4, 2)),), batch_size=0, shuffle=False)


# A generator that makes showers of E_total = a * Mom (``a`` its only weight, no noise), a
# discriminator blind to the showers, real showers of E_total = 0.97 * Mom: the generator's
# one SGD step comes from the two-sample term alone and must equal -lr * weight * dT/da.
_MATCHING_SCRIPT = textwrap.dedent(
    """
    import json
    import keras
    import numpy as np
    from keras import ops
    from keras_fastsim.layers.response_features import ResponseFeatures
    from keras_fastsim.losses.two_sample import energy_distance
    from keras_fastsim.models.conditional_gan import ConditionalGAN

    class Response(keras.layers.Layer):
        def build(self, input_shape):
            self.a = self.add_weight(shape=(), initializer=keras.initializers.Constant(0.9),
                                     name="a")

        def call(self, cond):
            return ops.ones((ops.shape(cond)[0], 11, 11, 1)) * (self.a * cond[:, :1] / 121.0
                                                                  )[:, :, None, None]

    noise, cond = keras.Input((4,)), keras.Input((6,))
    generator = keras.Model([noise, cond], Response()(cond))
    hits, cond_d = keras.Input((11, 11, 1)), keras.Input((6,))
    x = keras.layers.Rescaling(0.0)(keras.layers.Flatten()(hits))
    discriminator = keras.Model([hits, cond_d], keras.layers.Dense(1, activation="sigmoid")(x))
    features = ResponseFeatures(windows=(11,))
    gan = ConditionalGAN(generator, discriminator, noise_dim=4, generator_steps=1, seed=0,
                         matching_features=features, matching_weight=2.0)
    gan.compile(keras.optimizers.SGD(0.0), keras.optimizers.SGD(1e-4))
    p = np.linspace(1.0, 2.0, 16).astype("float32")
    conditions = np.zeros((16, 6), "float32")
    conditions[:, 0] = p
    real = np.ones((16, 11, 11, 1), "float32") * (0.97 * p / 121.0)[:, None, None, None]

    def statistic(a):
        q = (p - 1.5) / 0.3
        real_points = np.stack([np.zeros_like(p), q], axis=-1)
        fake_points = np.stack([np.full_like(p, (a - 0.97) / 0.03), q], axis=-1)
        return float(energy_distance(real_points.astype("float64"), fake_points.astype("float64")))

    logs = gan.train_on_batch(real, conditions, return_dict=True)
    a_after = float(generator.layers[-1].a.numpy())
    gan.matching_active.assign(0.0)  # switched off (warm-up): the step leaves ``a`` alone
    gan.train_on_batch(real, conditions)
    off_step = float(generator.layers[-1].a.numpy()) - a_after
    h = 1e-4
    slope = (statistic(0.9 + h) - statistic(0.9 - h)) / (2 * h)
    print(json.dumps({"step": a_after - 0.9, "expected": -1e-4 * 2.0 * slope, "off_step": off_step,
                      "match_loss": float(logs["match_loss"]), "statistic": statistic(0.9),
                      "config_weight": gan.get_config()["matching_weight"]}))
    """
)


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_two_sample_matching_term_drives_the_generator(tmp_path, backend):
    result = _run_script(_MATCHING_SCRIPT, tmp_path / "matching.py", backend)
    assert result["statistic"] > 1.0  # responses 2.3 standard units apart
    assert result["match_loss"] == pytest.approx(result["statistic"], rel=1e-4)
    assert result["step"] == pytest.approx(result["expected"], rel=1e-3)
    assert result["step"] > 0  # towards the real response
    assert result["off_step"] == 0.0
    assert result["config_weight"] == 2.0
