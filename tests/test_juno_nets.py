"""JUNO NN_npe / NN_time, their training and the fast simulation (issue 6)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_fastsim.models.juno import (
    JunoNpeNet,
    JunoTimeModel,
    JunoTimeNet,
    check_conditions,
    export_generator,
    stochastic_round,
)
from keras_fastsim.reference.juno import JunoOpticalSimulator, juno_pmt_positions
from keras_fastsim.simulation.juno_fast import (
    JunoFastSimulator,
    JunoResponseTables,
    group_steps,
)

COND = np.array([[0.0, 0.1], [5.0, 1.0], [14.99, 2.0], [15.0, 0.5], [17.5, 3.1]], np.float32)


def _dense(model):
    return [layer for layer in model._flatten_layers(include_self=False) if isinstance(layer, keras.layers.Dense)]


def _small_models(seed=0):
    keras.utils.set_random_seed(seed)
    npe = JunoNpeNet(units=16, num_layers=2)
    time = JunoTimeModel(near_units=16, near_layers=1, far_units=16, far_layers=1)
    npe.adapt(COND)
    time.adapt(COND, np.linspace(20, 120, len(COND)))
    npe.build((None, 3))
    time.build((None, 3))
    return npe, time


# -- architecture ---------------------------------------------------------------------------
def test_npe_architecture_per_slides():
    net = JunoNpeNet()
    net.build((None, 3))
    dense = _dense(net)
    assert [d.units for d in dense] == [249, 249, 249, 249, 1]
    assert [d.activation.__name__ for d in dense] == ["tanh"] * 4 + ["relu"]
    assert dense[0].kernel.shape == (3, 249)  # (R, theta, noise)


def test_time_architecture_per_slides():
    model = JunoTimeModel()
    model.build((None, 3))
    near, far = _dense(model.near), _dense(model.far)
    assert [d.units for d in near] == [201, 201, 1]
    assert [d.units for d in far] == [983, 983, 983, 1]
    for dense in (near, far):
        assert all(d.activation.__name__ == "relu" for d in dense[:-1])
        act = dense[-1].activation
        x = keras.ops.convert_to_tensor(np.array([-50.0, 0.0, 2.0], np.float32))
        np.testing.assert_allclose(keras.ops.convert_to_numpy(act(x)), [np.exp(-50.0), 1.0, 3.0], atol=1e-6)
    assert model.split_radius_m == 15.0


def test_time_output_positive_and_scaled():
    _, time = _small_models()
    t = time.sample(np.tile(COND, (50, 1)), seed=3)
    assert np.all(t > 0)


# -- routing ---------------------------------------------------------------------------
def test_time_model_routes_by_radius():
    _, time = _small_models()
    z = np.array([0.3, -1.0, 0.5, 0.2, 1.2], np.float32)
    x = np.concatenate([COND, z[:, None]], axis=1)
    out = keras.ops.convert_to_numpy(time(x))[:, 0]
    near = keras.ops.convert_to_numpy(time.near(x))[:, 0]
    far = keras.ops.convert_to_numpy(time.far(x))[:, 0]
    is_near = COND[:, 0] < 15.0
    np.testing.assert_allclose(out[is_near], near[is_near], rtol=1e-6)
    np.testing.assert_allclose(out[~is_near], far[~is_near], rtol=1e-6)
    assert not np.allclose(near, far)
    np.testing.assert_allclose(time.generate(COND, z), out, rtol=1e-5)
    np.testing.assert_array_equal(time.route(COND), is_near)


# -- sampling --------------------------------------------------------------------------
def test_seeded_sampling():
    npe, time = _small_models()
    cond = np.tile(COND, (20, 1))
    for model in (npe, time):
        np.testing.assert_array_equal(model.sample(cond, seed=5), model.sample(cond, seed=5))
        assert not np.array_equal(model.sample(cond, seed=5), model.sample(cond, seed=6))
    np.testing.assert_array_equal(npe.sample_counts(cond, seed=1), npe.sample_counts(cond, seed=1))
    assert npe.sample_counts(cond, seed=1).dtype == np.int64


def test_stochastic_round_keeps_mean():
    rng = np.random.default_rng(0)
    y = np.full(200_000, 0.3)
    assert abs(stochastic_round(y, rng).mean() - 0.3) < 0.005
    assert set(np.unique(stochastic_round(np.array([0.0, 1.0, 2.0]), rng))) == {0, 1, 2}


def test_mean_npe_matches_sampling():
    npe, _ = _small_models()
    cond = np.repeat(COND[:2], 20000, axis=0)
    mean = npe.mean_npe(COND[:2], num_nodes=64)
    sampled = npe.sample(cond, seed=2).reshape(2, -1).mean(axis=1)
    np.testing.assert_allclose(mean, sampled, rtol=0.05, atol=1e-3)


# -- serialisation ---------------------------------------------------------------------
def test_keras_save_load_equal(tmp_path):
    npe, time = _small_models()
    x = np.concatenate([COND, np.linspace(-1, 1, len(COND))[:, None]], axis=1).astype(np.float32)
    for model, name in ((npe, "npe.keras"), (time, "time.keras")):
        model.save(tmp_path / name)
        loaded = keras.models.load_model(tmp_path / name)
        assert type(loaded) is type(model)
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(loaded(x)), keras.ops.convert_to_numpy(model(x)), rtol=1e-6
        )
        np.testing.assert_array_equal(loaded.sample(COND, seed=4), model.sample(COND, seed=4))
        assert loaded.get_config() == model.get_config()
    full = JunoTimeModel()
    assert JunoTimeModel.from_config(full.get_config()).hyperparameters() == full.hyperparameters()


def test_saved_model_export_equal(tmp_path):
    import tensorflow as tf

    npe, time = _small_models()
    x = np.concatenate([COND, np.linspace(-1, 1, len(COND))[:, None]], axis=1).astype(np.float32)
    for model, name in ((npe, "npe"), (time, "time")):
        path = export_generator(model, tmp_path / name)
        loaded = tf.saved_model.load(str(path))  # keep a reference: it owns the variables
        served = loaded.serve(tf.constant(x)).numpy()
        np.testing.assert_allclose(served, keras.ops.convert_to_numpy(model(x)), rtol=1e-6)


# -- training --------------------------------------------------------------------------
def test_short_training_moves_toward_data(tmp_path):
    import pandas as pd

    from keras_fastsim.losses.two_sample import mmd_unbiased
    from keras_fastsim.runs import read_manifest
    from keras_fastsim.training.juno import load_juno_time, train_juno_time

    rng = np.random.default_rng(0)
    n = 12000
    r = np.where(rng.random(n) < 0.5, rng.uniform(0, 14.9, n), rng.uniform(15, 17.6, n))
    theta = np.arccos(rng.uniform(-1, 1, n))
    t = 30.0 + 20.0 * theta + 3.0 * r + rng.gamma(2.0, 4.0, n)
    table = pd.DataFrame({"event": np.arange(n) // 50, "R": r, "theta": theta, "t": t})
    cfg = {"near_units": 32, "near_layers": 2, "far_units": 32, "far_layers": 2,
           "far_condition_features": "position_vessel"}
    keras.utils.set_random_seed(1)
    before = JunoTimeModel(**cfg)
    before.adapt(table[["R", "theta"]].to_numpy(), t)
    model = train_juno_time(
        table, tmp_path / "run", model_config=cfg, epochs=3, steps_per_epoch=40, validation_steps=2,
        batch_size=256, learning_rate=3e-3, far_average_epochs=2, seed=1, verbose=0,
    )
    assert read_manifest(tmp_path / "run")["kind"] == "juno-time"
    assert (tmp_path / "run" / "near" / "history.csv").exists()
    # The far net holds the mean weights of its last two epochs, the near net its last epoch's.
    ckpt = tmp_path / "run" / "{}" / "checkpoints" / "epoch_00{}.keras"
    far = [keras.models.load_model(str(ckpt).format("far", e)).generator.get_weights() for e in (2, 3)]
    for got, a, b in zip(model.far.get_weights(), *far):
        np.testing.assert_allclose(got, 0.5 * (a + b), rtol=1e-6, atol=1e-7)
    near = keras.models.load_model(str(ckpt).format("near", 3)).generator.get_weights()
    for got, want in zip(model.near.get_weights(), near):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match="far_average_epochs"):
        train_juno_time(table, tmp_path / "bad", model_config=cfg, far_average_epochs=0)
    cond = table[["R", "theta"]].to_numpy(np.float32)[:2000]

    def stat(m):
        x = np.column_stack([cond, t[:2000] / 50.0]).astype("float32")
        y = np.column_stack([cond, m.sample(cond, seed=9) / 50.0]).astype("float32")
        return float(mmd_unbiased(x, y))

    assert stat(model) < 0.5 * stat(before)
    reloaded = load_juno_time(tmp_path / "run")
    np.testing.assert_array_equal(reloaded.sample(cond[:10], seed=0), model.sample(cond[:10], seed=0))

    from keras_fastsim.export import export_run

    (path,) = export_run(tmp_path / "run", tmp_path / "export")
    x = np.column_stack([cond[:10], np.zeros(10)]).astype("float32")
    loaded = tf.saved_model.load(str(path))
    served = loaded.serve(tf.constant(x)).numpy()
    np.testing.assert_allclose(served, np.asarray(model(x)), rtol=1e-5)


def test_trainer_rejects_bad_arguments(tmp_path):
    import pandas as pd

    from keras_fastsim.training.juno import GeneratorTrainer, train_juno_npe

    with pytest.raises(ValueError, match="output_transform"):
        GeneratorTrainer(JunoTimeNet(8, 1), [0, 0, 0], [1, 1, 1], output_transform="sqrt")
    with pytest.raises(ValueError, match="feature_std"):
        GeneratorTrainer(JunoTimeNet(8, 1), [0, 0, 0], [1, 0, 1])
    with pytest.raises(ValueError, match="lacks columns"):
        train_juno_npe(pd.DataFrame({"R": [1.0]}), tmp_path / "x")
    table = pd.DataFrame({"event": [0] * 10, "R": [1.0] * 10, "theta": [0.5] * 10, "npe": [0] * 10})
    with pytest.raises(ValueError, match="Too few"):
        train_juno_npe(table, tmp_path / "y", batch_size=64, validation_fraction=0.0)


# -- fast simulation -------------------------------------------------------------------
@pytest.fixture(scope="module")
def fast_and_full():
    npe, time = _small_models()
    pmts = juno_pmt_positions(300, 19.5)
    fast = JunoFastSimulator(npe, time, pmt_positions=pmts, segment_m=0.5,
                             table_options={"n_theta": 181, "z_nodes": 17, "npe_noise_nodes": 8})
    return fast, JunoOpticalSimulator(pmt_positions=pmts)


def test_fast_output_format_equals_full(fast_and_full):
    fast, full = fast_and_full
    a = full.simulate_deposit([0.0, 0.0, 3.0], 0.2, seed=1)
    b = fast.simulate_deposit([0.0, 0.0, 3.0], 1.0, seed=1)
    for x, y in ((a[0], b[0]), (a[1][0], b[1][0]), (a[1][1], b[1][1])):
        assert x.dtype == y.dtype and x.ndim == y.ndim
    assert b[0].shape == (300,) and b[0].sum() == len(b[1][0]) == len(b[1][1])
    pts = np.array([[0.0, 0.0, z] for z in np.arange(-2.0, 2.0, 0.01)])
    en = np.full(len(pts), 0.002)
    a = full.simulate_track(pts, en, seed=2, keep_hits=True)
    for keep in (True, False):
        b = fast.simulate_track(pts, en * 100, seed=2, keep_hits=keep)
        assert len(b) == len(a) == 3
        assert b[0].shape == a[0].shape and b[0].dtype == a[0].dtype
        assert b[1][0].dtype == a[1][0].dtype and b[1][1].dtype == a[1][1].dtype
        assert b[2].shape == a[2].shape and b[2].dtype == a[2].dtype
        hit = b[0] > 0
        assert np.all(np.isfinite(b[2][hit])) and np.all(np.isnan(b[2][~hit]))
        if keep:
            assert len(b[1][0]) == b[0].sum()
            np.testing.assert_allclose(b[2][hit], [b[1][1][b[1][0] == j].min() for j in np.flatnonzero(hit)])
        else:
            assert len(b[1][0]) == 0
    assert fast.last_stats["segments"] == 8  # 4 m of steps in 0.5 m segments


def test_fast_seeded_and_table_matches_direct(fast_and_full):
    fast, _ = fast_and_full
    pts = np.array([[0.0, 1.0 * k, 2.0] for k in range(5)], float)
    en = np.full(5, 50.0)
    a = fast.simulate_track(pts, en, seed=7, keep_hits=False)
    b = fast.simulate_track(pts, en, seed=7, keep_hits=False)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[2], b[2])
    direct = JunoFastSimulator(fast.npe_model, fast.time_model, pmt_positions=fast.pmt_positions,
                               segment_m=0.0, method="direct", table_options={"npe_noise_nodes": 8})
    table = JunoFastSimulator(fast.npe_model, fast.time_model, pmt_positions=fast.pmt_positions,
                              segment_m=0.0, tables=fast.tables)
    r, theta = table._angles(pts)
    seg_mean, _ = table.tables.segment_tables(r)
    mu_t = table._mean_counts(r, theta, np.ones(5), seg_mean)
    mu_d = direct._mean_counts(r, theta, np.ones(5))
    # a random net has sharp relu kinks: loose per-PMT tolerance, 2 % on the sums
    np.testing.assert_allclose(mu_t, mu_d, rtol=0.05, atol=0.1 * mu_d.max())
    np.testing.assert_allclose(mu_t.sum(axis=1), mu_d.sum(axis=1), rtol=0.02)


def test_tables_save_load(fast_and_full, tmp_path):
    fast, _ = fast_and_full
    path = fast.tables.save(tmp_path / "tables.npz")
    loaded = JunoResponseTables.load(path)
    np.testing.assert_array_equal(loaded.time, fast.tables.time)
    assert 0.0 <= loaded.monotone_fraction <= 1.0


def test_group_steps_conserves_energy():
    pts = np.column_stack([np.zeros(100), np.zeros(100), np.linspace(-0.495, 0.495, 100)])
    en = np.full(100, 2.0)
    cen, e, t = group_steps(pts, en, np.arange(100.0), segment_m=0.25)
    assert len(cen) == 4 and e.sum() == pytest.approx(200.0)
    assert np.all(np.diff(cen[:, 2]) > 0) and np.all(np.diff(t) > 0)
    np.testing.assert_array_equal(group_steps(pts, en, None, 0.0)[0], pts)


# -- bad inputs ------------------------------------------------------------------------
def test_bad_inputs_raise(fast_and_full):
    fast, _ = fast_and_full
    npe, time = fast.npe_model, fast.time_model
    with pytest.raises(ValueError, match="shape"):
        check_conditions(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="R must be"):
        npe.sample([[18.5, 0.1]], seed=0)
    with pytest.raises(ValueError, match="theta must be"):
        time.sample([[1.0, 4.0]], seed=0)
    with pytest.raises(ValueError, match="seed"):
        npe.sample(COND, seed=-1)
    with pytest.raises(ValueError, match="noise"):
        time.generate(COND, np.zeros(2))
    with pytest.raises(ValueError, match="units"):
        JunoNpeNet(units=0)
    with pytest.raises(ValueError, match="energy_mev"):
        JunoNpeNet(energy_mev=-1.0)
    with pytest.raises(ValueError, match="split_radius_m"):
        JunoTimeModel(split_radius_m=20.0)
    with pytest.raises(ValueError, match="npe_model"):
        JunoFastSimulator(time, time)
    with pytest.raises(ValueError, match="method"):
        JunoFastSimulator(npe, time, method="gpu")
    with pytest.raises(ValueError, match="segment_m"):
        JunoFastSimulator(npe, time, segment_m=-1.0)
    with pytest.raises(ValueError, match="npe_sampling"):
        fast.simulate_deposit([0, 0, 0], 1.0, seed=0, npe_sampling="exact")
    with pytest.raises(ValueError, match="whole multiple"):
        fast.simulate_deposit([0, 0, 0], 1.5, seed=0)
    with pytest.raises(ValueError, match="inside the liquid scintillator"):
        fast.simulate_deposit([0, 0, 18.0], 1.0, seed=0)
    with pytest.raises(ValueError, match="energies"):
        fast.simulate_track(np.zeros((3, 3)), np.ones(2), seed=0)
    with pytest.raises(ValueError, match="seed"):
        fast.simulate_track(np.zeros((1, 3)), np.ones(1), seed=-3)


def test_packaged_configs_map_onto_the_api():
    """Every key of the packaged JUNO configs is an argument of the net / model and the trainer."""
    import inspect

    from keras_fastsim.training.config import load_config
    from keras_fastsim.training.juno import train_juno_npe, train_juno_time

    for name, cls, trainer in (("juno_npe", JunoNpeNet, train_juno_npe), ("juno_time", JunoTimeModel, train_juno_time)):
        cfg = load_config(name)
        model = cls(**cfg["model"])  # validates the model keys and values
        assert set(cfg["model"]) <= set(model.hyperparameters())
        params = inspect.signature(trainer).parameters
        assert set(cfg["training"]) <= set(params), set(cfg["training"]) - set(params)
    time_model = JunoTimeModel(**load_config("juno_time")["model"])
    assert (time_model.near.condition_features, time_model.far.condition_features) == ("position", "position_vessel")
