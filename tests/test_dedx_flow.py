import subprocess
import sys
import textwrap

import keras
import numpy as np
import pandas as pd
import pytest

from keras_fastsim.export import export_dedx_flow
from keras_fastsim.models.dedx_flow import ConditionalDedxFlow
from keras_fastsim.training.dedx_flow import train_dedx_flow, train_dedx_flow_run
from keras_fastsim.training.fit import fit_with_checkpoints

SMALL = {"num_blocks": 2, "hidden_units": (16, 16)}


def _tracks(n, seed=0, species="K+"):
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.3, 1.8, n)
    nhits = rng.integers(8, 40, n)
    dedx = 550 * (1 + 0.4 / p**2) * (1 + 0.06 * np.sqrt(20 / nhits) * rng.standard_normal(n))
    return pd.DataFrame({"species": species, "p": p, "theta": np.arccos(rng.uniform(-0.9, 0.9, n)),
                         "nhits": nhits, "dedx": dedx})


def _arrays(table):
    return table[["p", "theta", "nhits"]].to_numpy("float32"), table["dedx"].to_numpy("float32")


@pytest.fixture(scope="module")
def small_flow():
    cond, dedx = _arrays(_tracks(2000))
    flow = ConditionalDedxFlow(**SMALL)
    flow.adapt(cond, dedx)
    flow({"conditions": cond[:2], "dedx": dedx[:2]})
    return flow, cond, dedx


def test_paper_architecture():
    flow = ConditionalDedxFlow()
    cond, dedx = _arrays(_tracks(64))
    flow.adapt(cond, dedx)
    flow({"conditions": cond, "dedx": dedx})
    assert len(flow.blocks) == 6
    for block in flow.blocks:
        assert block.hidden_units == (64, 64, 64, 64)
        assert tuple(block.output_kernel.shape) == (64, 23)
        assert tuple(block.context_kernel.shape) == (3, 64)


def test_density_is_normalised_in_dedx_units(small_flow):
    flow, cond, _ = small_flow
    grid = np.linspace(1.0, 20000.0, 400001, dtype="float32")
    c = np.repeat(cond[:1], len(grid), axis=0)
    density = np.exp(np.asarray(flow.log_prob(c, grid)))
    assert np.trapezoid(density, grid) == pytest.approx(1.0, abs=2e-3)


def test_sampling_is_seeded(small_flow):
    flow, cond, _ = small_flow
    a, b, c = (np.asarray(flow.sample(cond[:100], seed=s)) for s in (3, 3, 4))
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 0
    assert np.all(a > 0) and np.all(np.isfinite(a))
    compiled = flow.sample_function()
    np.testing.assert_allclose(np.asarray(compiled(cond[:100], np.int64(3))), a, rtol=1e-5)


def test_keras_save_load_round_trip(small_flow, tmp_path):
    flow, cond, dedx = small_flow
    flow.save(tmp_path / "f.keras")
    back = keras.models.load_model(tmp_path / "f.keras")
    assert back.get_config() == flow.get_config()
    np.testing.assert_array_equal(np.asarray(back.sample(cond[:50], seed=1)),
                                  np.asarray(flow.sample(cond[:50], seed=1)))
    np.testing.assert_allclose(np.asarray(back.log_prob(cond[:50], dedx[:50])),
                               np.asarray(flow.log_prob(cond[:50], dedx[:50])), rtol=1e-6)


def test_saved_model_reloads_without_tfp(small_flow, tmp_path):
    flow, cond, _ = small_flow
    export_dedx_flow(flow, tmp_path / "sm")
    expected = np.asarray(flow.sample(cond[:20], seed=7))
    np.save(tmp_path / "cond.npy", cond[:20])
    script = textwrap.dedent(f"""
        import sys, numpy as np, tensorflow as tf
        m = tf.saved_model.load({str(tmp_path / 'sm')!r})
        c = np.load({str(tmp_path / 'cond.npy')!r})
        out = m.simulate(c[:, 0], c[:, 1], c[:, 2], tf.constant(7, tf.int64)).numpy()
        assert "tensorflow_probability" not in sys.modules
        assert "keras_fastsim" not in sys.modules
        np.save({str(tmp_path / 'out.npy')!r}, out)
    """)
    subprocess.run([sys.executable, "-c", script], check=True, cwd=tmp_path)
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), expected, rtol=1e-5)


def test_training_learns_and_mirrored_matches_default(tmp_path):
    table = _tracks(4096, seed=1)
    losses = {}
    for strategy in ("default", "mirrored"):
        train_dedx_flow(table, "K+", tmp_path / strategy, model_config=SMALL, epochs=3,
                        batch_size=128, validation_fraction=0.0, patience=None,
                        strategy=strategy, jit_compile=False, seed=3, verbose=0)
        losses[strategy] = pd.read_csv(tmp_path / strategy / "history.csv")["loss"].to_numpy()
    assert losses["default"][-1] < losses["default"][0]
    np.testing.assert_allclose(losses["mirrored"], losses["default"], rtol=1e-2)
    assert (tmp_path / "default" / "model.keras").is_file()
    assert (tmp_path / "default" / "history.png").is_file()
    assert len(list((tmp_path / "default" / "checkpoints").glob("epoch_*.keras"))) == 3


def test_fit_resumes_after_interruption(tmp_path):
    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt

    import tensorflow as tf

    def model():
        m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        m.compile(optimizer="sgd", loss="mse")
        return m

    x = np.random.default_rng(0).normal(size=(64, 2)).astype("float32")
    ds = tf.data.Dataset.from_tensor_slices((x, x[:, :1])).batch(16)
    with pytest.raises(KeyboardInterrupt):
        fit_with_checkpoints(model(), ds, ds, tmp_path, epochs=4, extra_callbacks=[Interrupt()],
                             verbose=0)
    history = fit_with_checkpoints(model(), ds, ds, tmp_path, epochs=4, verbose=0)
    assert list(history["epoch"]) == [0, 1, 2, 3]
    assert not (tmp_path / "backup").exists()


def test_run_directory_and_bad_input(tmp_path):
    with pytest.raises(ValueError, match="Too few"):
        train_dedx_flow(_tracks(100), "K+", tmp_path / "x", model_config=SMALL, epochs=1)
    with pytest.raises(ValueError, match="Unknown species"):
        train_dedx_flow(_tracks(100), "kaon", tmp_path / "x", epochs=1)
    with pytest.raises(ValueError, match="finite"):
        ConditionalDedxFlow(**SMALL).adapt(np.full((4, 3), np.nan), np.ones(4))
    with pytest.raises(ValueError, match="num_blocks"):
        ConditionalDedxFlow(num_blocks=0)
    run = train_dedx_flow_run(_tracks(600, species="pi-"), tmp_path / "run", ["pi-"],
                              model_config=SMALL, epochs=1, jit_compile=False, verbose=0)
    from keras_fastsim.runs import read_manifest, simulate_tracks

    assert read_manifest(run) ["species"] == {"pi-": "pi-"}
    sim = simulate_tracks(run, _tracks(50, species="pi-").drop(columns="dedx"), seed=2)
    assert sim["dedx"].notna().all() and len(sim) == 50
    with pytest.raises(ValueError, match="no model for species"):
        simulate_tracks(run, _tracks(5, species="K+"), seed=0)
