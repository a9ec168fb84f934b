import json
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pandas as pd
import pytest

from keras_fastsim.export.saved_model import export_dedx_knn, export_run
from keras_fastsim.losses import smooth_knn_statistic
from keras_fastsim.models.dedx_knn import DedxDenseGenerator, species_indices
from keras_fastsim.runs import load_dedx_simulator, read_manifest, simulate_tracks
from keras_fastsim.training.dedx_knn import knn_dataset, train_dedx_knn, tune_dedx_knn
from keras_fastsim.training.strategy import get_strategy

SPECIES = ("pi+", "K+", "p")
MASS = {"pi+": 0.1396, "K+": 0.4937, "p": 0.9383}


def _tracks(n, seed=0, scale=1.0, shift=0.0):
    """Simple synthetic tracks: a 1/beta^2 curve per species, 6% resolution."""
    rng = np.random.default_rng(seed)
    species = rng.choice(SPECIES, n)
    p = rng.uniform(0.3, 1.8, n)
    m = np.array([MASS[s] for s in species])
    nhits = rng.integers(10, 40, n).astype(float)
    mean = 550 * (1 + m**2 / p**2)
    dedx = mean * (1 + shift + scale * 0.06 * np.sqrt(20 / nhits) * rng.standard_normal(n))
    return pd.DataFrame({"species": species, "p": p, "theta": np.arccos(rng.uniform(-0.9, 0.9, n)),
                         "nhits": nhits, "dedx": np.abs(dedx) + 1.0})


def _arrays(table):
    return (species_indices(table["species"].to_numpy()),
            table[["p", "theta", "nhits"]].to_numpy("float32"), table["dedx"].to_numpy("float32"))


@pytest.fixture(scope="module")
def net():
    sp, cond, dedx = _arrays(_tracks(3000))
    model = DedxDenseGenerator(hidden_layers=2, units=16)
    model.adapt(sp, cond, dedx)
    model.sample(sp[:2], cond[:2], seed=0)
    return model, sp, cond, dedx


def test_shapes_positivity_and_architecture(net):
    model, sp, cond, _ = net
    out = np.asarray(model.sample(sp[:100], cond[:100], seed=1))
    assert out.shape == (100,) and np.all(out > 0) and np.all(np.isfinite(out))
    dense = [layer for layer in model.hidden]
    assert [d.units for d in dense] == [16, 16]
    assert tuple(dense[0].kernel.shape) == (6 + 3 + 1, 16)
    noise = np.zeros((5, 1), "float32")
    direct = model({"species": sp[:5], "conditions": cond[:5], "noise": noise})
    assert np.asarray(direct).shape == (5,)


def test_sampling_is_seeded(net):
    model, sp, cond, _ = net
    a = np.asarray(model.sample(sp[:200], cond[:200], seed=7))
    b = np.asarray(model.sample(sp[:200], cond[:200], seed=7))
    c = np.asarray(model.sample(sp[:200], cond[:200], seed=8))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    by_name = np.asarray(model.sample(["pi+", "K+"], cond[:2], seed=7))
    by_index = np.asarray(model.sample(np.array([0, 2]), cond[:2], seed=7))
    np.testing.assert_array_equal(by_name, by_index)


def test_keras_save_load_round_trip(net, tmp_path):
    model, sp, cond, _ = net
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.get_config()["units"] == 16 and loaded.hidden_layers == 2
    np.testing.assert_array_equal(np.asarray(model.sample(sp[:300], cond[:300], seed=3)),
                                  np.asarray(loaded.sample(sp[:300], cond[:300], seed=3)))


def test_savedmodel_export_matches_in_fresh_process(net, tmp_path):
    model, sp, cond, _ = net
    export_dedx_knn(model, tmp_path / "sm")
    expected = np.asarray(model.sample(sp[:50], cond[:50], seed=5))
    np.save(tmp_path / "in.npy", np.column_stack([sp[:50], cond[:50]]))
    script = textwrap.dedent(f"""
        import numpy as np, tensorflow as tf
        x = np.load({str(tmp_path / "in.npy")!r})
        m = tf.saved_model.load({str(tmp_path / "sm")!r})
        args = [tf.constant(x[:, i], tf.float32) for i in (1, 2, 3)] + [tf.constant(5, tf.int64)]
        out = m.simulate(tf.constant(x[:, 0], tf.int32), *args).numpy()
        pdg = np.array([211, -211, 321, -321, 2212, -2212])[x[:, 0].astype(int)]
        pdg[0] = 11
        out_pdg = m.simulate_pdg(tf.constant(pdg, tf.int32), *args).numpy()
        np.save({str(tmp_path / "out.npy")!r}, np.stack([out, out_pdg]))
    """)
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True)
    out, out_pdg = np.load(tmp_path / "out.npy")
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    assert np.isnan(out_pdg[0])
    np.testing.assert_allclose(out_pdg[1:], expected[1:], rtol=1e-6)


def _stat(model, table, seed=0):
    sp, cond, dedx = _arrays(table)
    sim = np.asarray(model.sample(sp, cond, seed=seed))
    half = len(table) // 2
    x = np.column_stack([np.eye(6)[sp] * 3, np.log(cond[:, 0]), np.log(dedx)])[:half]
    y = np.column_stack([np.eye(6)[sp] * 3, np.log(cond[:, 0]), np.log(sim)])[half:2 * half]
    return float(smooth_knn_statistic(x, y))


def test_training_moves_toward_data(tmp_path):
    data = _tracks(6000, seed=1)
    keras.utils.set_random_seed(0)
    # Start from a net whose residual is adapted to a wider, shifted sample.
    model = DedxDenseGenerator(hidden_layers=2, units=32)
    model.adapt(*_arrays(_tracks(6000, seed=2, scale=3.0, shift=0.1)))
    model.compile(optimizer=keras.optimizers.Adam(3e-3), block_size=256)
    test = _tracks(1024, seed=3)
    sp, cond, dedx = _arrays(test)

    def summary():
        sim = np.asarray(model.sample(sp, cond, seed=11))
        rel = sim / dedx.mean() - 1
        return _stat(model, test), abs(rel.mean() - (dedx / dedx.mean() - 1).mean()), \
            abs(np.std(np.log(sim)) - np.std(np.log(dedx)))

    before = summary()
    model.fit(knn_dataset(data, 256, shuffle=True, seed=0), epochs=6, verbose=0)
    after = summary()
    assert after[0] < before[0] - 3.0, (before, after)
    assert after[1] < before[1], (before, after)
    assert after[2] < before[2], (before, after)


def _losses(strategy_name, data):
    keras.utils.set_random_seed(0)
    strategy = get_strategy(strategy_name)
    with strategy.scope():
        model = DedxDenseGenerator(hidden_layers=1, units=16)
        model.adapt(*_arrays(data))
        sp, cond, _ = _arrays(data)
        model.sample(sp[:2], cond[:2], seed=0)
        optimizer = keras.optimizers.Adam(1e-3)
        optimizer.build(model.trainable_variables)
        model.compile(optimizer=optimizer, block_size=128)
    ds = knn_dataset(data, 256, shuffle=False, seed=0)
    return model.fit(ds, epochs=3, verbose=0).history["loss"]


def test_mirrored_strategy_matches_default():
    data = _tracks(2048, seed=4)
    default = _losses("default", data)
    mirrored = _losses("mirrored", data)
    assert get_strategy("mirrored").num_replicas_in_sync == 2
    # Same blocks, same objective; only the noise draws differ (per-replica seeds).
    np.testing.assert_allclose(mirrored, default, atol=0.5)
    assert mirrored[-1] < mirrored[0]


def test_train_run_loads_and_simulates(tmp_path):
    table = _tracks(3000, seed=5)
    train_dedx_knn(table, tmp_path / "run", hidden_layers=1, units=8, epochs=1,
                   batch_size=256, block_size=256, verbose=0)
    manifest = read_manifest(tmp_path / "run")
    assert manifest["kind"] == "dedx-knn"
    assert (tmp_path / "run" / "model.keras").exists()
    assert (tmp_path / "run" / "history.csv").exists()
    sim = load_dedx_simulator(tmp_path / "run")
    conditions = table.drop(columns="dedx").iloc[:100]
    a = sim.simulate(conditions, seed=1)
    out = simulate_tracks(tmp_path / "run", conditions, seed=1)
    np.testing.assert_array_equal(out["dedx"].to_numpy(), a)
    assert np.all(a > 0)
    paths = export_run(tmp_path / "run", tmp_path / "export")
    assert [p.name for p in paths] == ["dedx_knn"]


def test_tuner_records_search(tmp_path):
    table = _tracks(3000, seed=6)
    tune_dedx_knn(table, tmp_path / "run", trials=2, hidden_layers_range=(1, 2),
                  units_choices=(8, 16), trial_epochs=1, trial_steps_per_epoch=2,
                  epochs=1, steps_per_epoch=2, batch_size=256, block_size=256)
    tuning = json.loads((tmp_path / "run" / "tuning.json").read_text())
    assert tuning["trial_budget"] == 2 and len(tuning["trials"]) == 2
    assert set(tuning["search_space"]) == {"hidden_layers", "units", "learning_rate"}
    chosen = tuning["chosen_architecture"]
    assert chosen["hidden_layers"] in (1, 2) and chosen["units"] in (8, 16)
    best = min(tuning["trials"], key=lambda t: t["val_w1"])
    assert chosen["units"] == best["hyperparameters"]["units"]
    model = keras.models.load_model(tmp_path / "run" / "model.keras")
    assert (model.hidden_layers, model.units) == (chosen["hidden_layers"], chosen["units"])
    assert read_manifest(tmp_path / "run")["tuning"] == "tuning.json"


@pytest.mark.parametrize(
    "kwargs",
    [{"hidden_layers": 0}, {"units": -1}, {"units": 2.5}, {"activation": "nope"},
     {"noise_dim": 0}, {"species_weight": 0.0}],
)
def test_bad_constructor_args(kwargs):
    with pytest.raises(ValueError, match="Received:"):
        DedxDenseGenerator(**kwargs)


def test_bad_inputs_and_training_args(net, tmp_path):
    model, _, cond, _ = net
    with pytest.raises(ValueError, match="Received:"):
        species_indices(["pi+", "muon"])
    with pytest.raises(ValueError, match="Received:"):
        model.compile(optimizer="adam", block_size=7)
    with pytest.raises(ValueError, match="Received:"):
        model.compile(optimizer="adam", two_sample_loss="chi2")
    table = _tracks(1000)
    with pytest.raises(ValueError, match="Received:"):
        train_dedx_knn(table, tmp_path / "r", batch_size=300, block_size=256)
    with pytest.raises(ValueError, match="Received:"):
        train_dedx_knn(table, tmp_path / "r", units=0)
    with pytest.raises(ValueError, match="Received:"):
        tune_dedx_knn(table, tmp_path / "r", trials=0)


def test_cli_train_dedx_knn(tmp_path):
    from keras_fastsim.cli import main
    from keras_fastsim.io.tables import write_tracks

    write_tracks(_tracks(2000, seed=7), tmp_path / "train.parquet")
    config = tmp_path / "knn.yaml"
    config.write_text("model: {hidden_layers: 1, units: 8}\n"
                      "training: {block_size: 256, steps_per_epoch: 2, verbose: 0}\n")
    code = main(["train", "dedx-knn", "--data", str(tmp_path / "train.parquet"),
                 "--out", str(tmp_path / "run"), "--epochs", "1", "--batch-size", "256",
                 "--config", str(config)])
    assert code == 0
    assert read_manifest(tmp_path / "run")["kind"] == "dedx-knn"
