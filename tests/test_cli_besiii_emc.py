"""The BESIII EMC chain through the CLI: reference -> regressor -> GAN -> generate -> evaluate -> export."""

import json
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pandas as pd
import pytest

from keras_fastsim.cli import main
from keras_fastsim.io.showers import read_besiii_emc


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """One tiny run of the whole chain (1 epoch each, batch 64)."""
    tmp = tmp_path_factory.mktemp("besiii")
    data, test = tmp / "train.h5", tmp / "test.h5"
    assert main(["reference", "besiii-emc", "--n", "400", "--seed", "1", "--out", str(data)]) == 0
    assert main(["reference", "besiii-emc", "--n", "120", "--seed", "2", "--out", str(test)]) == 0
    assert main(["train", "besiii-emc-regressor", "--data", str(data), "--out", str(tmp / "reg"),
                 "--epochs", "1", "--batch-size", "64", "--seed", "3"]) == 0
    assert main(["train", "besiii-emc", "--data", str(data), "--regressor", str(tmp / "reg"),
                 "--out", str(tmp / "gan"), "--epochs", "1", "--batch-size", "64",
                 "--seed", "3"]) == 0
    sim = tmp / "sim.h5"
    assert main(["generate", str(tmp / "gan"), "--conditions", str(test), "--out", str(sim),
                 "--seed", "5"]) == 0
    return tmp


def test_reference_for_the_conditions_of_another_file(chain, tmp_path, capsys):
    out = tmp_path / "twins.h5"
    assert main(["reference", "besiii-emc", "--conditions", str(chain / "test.h5"),
                 "--seed", "9", "--out", str(out)]) == 0
    hits, conditions = read_besiii_emc(out)
    ref_hits, ref_conditions = read_besiii_emc(chain / "test.h5")
    np.testing.assert_allclose(conditions.to_numpy(), ref_conditions.to_numpy(), rtol=1e-5)
    assert hits.shape == ref_hits.shape and not np.array_equal(hits, ref_hits)
    np.testing.assert_allclose(hits.sum((1, 2, 3)).mean(), ref_hits.sum((1, 2, 3)).mean(),
                               rtol=0.02)
    with pytest.raises(SystemExit):  # --n and --conditions exclude each other
        main(["reference", "besiii-emc", "--n", "5", "--conditions", str(chain / "test.h5"),
              "--out", str(tmp_path / "x.h5")])
    capsys.readouterr()


def test_generate_refuses_a_model_file_with_a_clear_error(chain, tmp_path, capsys):
    generator = chain / "gan" / "selected_generator.keras"
    code = main(["generate", str(generator), "--conditions", str(chain / "test.h5"),
                 "--out", str(tmp_path / "sim.h5")])
    assert code == 2 and "not a run directory" in capsys.readouterr().err
    assert not (tmp_path / "sim.h5").exists()


def test_training_runs_are_recorded(chain):
    reg = json.loads((chain / "reg" / "run.json").read_text())
    gan = json.loads((chain / "gan" / "run.json").read_text())
    assert reg["kind"] == "besiii-emc-regressor" and (chain / "reg" / reg["model"]).is_file()
    assert (chain / "reg" / "resolution.png").is_file()
    assert gan["kind"] == "besiii-emc-gan" and gan["regressor_run"] == str(chain / "reg")
    assert (chain / "gan" / gan["generator"]).is_file()
    assert gan["best_epoch"] == 1 and gan["minibatch_reduction"] == "mean"
    for name in ("history.csv", "ks_scores.csv", "best_epoch.yaml", "config.yaml"):
        assert (chain / "gan" / name).is_file(), name


def test_generate_writes_barrel_hit_and_is_reproducible(chain, tmp_path):
    hits, cond = read_besiii_emc(chain / "sim.h5")
    _, test_cond = read_besiii_emc(chain / "test.h5")
    assert hits.shape == (120, 11, 11, 1) and (hits >= 0).all()
    np.testing.assert_allclose(cond.to_numpy(), test_cond.to_numpy(), rtol=1e-5, atol=1e-5)
    with h5py.File(chain / "sim.h5") as f:
        assert f["Barrel_Hit"].shape == (120, 11, 11, 1) and f["MC_info"].shape == (120, 6)
    # conditions from a table give the same showers for the same seed
    table = tmp_path / "cond.csv"
    test_cond.to_csv(table, index=False)
    assert main(["generate", str(chain / "gan"), "--conditions", str(table),
                 "--out", str(tmp_path / "again.h5"), "--seed", "5"]) == 0
    np.testing.assert_array_equal(read_besiii_emc(tmp_path / "again.h5")[0], hits)
    assert main(["generate", str(chain / "gan"), "--conditions", str(table),
                 "--out", str(tmp_path / "other.h5"), "--seed", "6"]) == 0
    assert not np.array_equal(read_besiii_emc(tmp_path / "other.h5")[0], hits)


def test_evaluate(chain, capsys):
    out = chain / "eval"
    assert main(["evaluate", "besiii-emc", "--data", str(chain / "test.h5"),
                 "--sim", str(chain / "sim.h5"), "--out", str(out)]) == 0
    assert "high_level_auc=" in capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["paired_conditions"] is True and metrics["n_generated"] == 120
    assert 0.0 <= metrics["classifier"]["high_level_auc"] <= 1.0
    assert len(metrics["momentum_bins"]["bins"]) == 5
    for name in ("report.md", "shower_displays.png", "profiles.png", "momentum_bins.png"):
        assert (out / name).is_file(), name


def test_export_matches_generate_in_a_subprocess(chain):
    assert main(["export", str(chain / "gan"), "--out", str(chain / "sm")]) == 0
    hits, cond = read_besiii_emc(chain / "sim.h5")
    np.save(chain / "cond.npy", cond.to_numpy(np.float32))
    script = textwrap.dedent(f"""
        import numpy as np, tensorflow as tf
        m = tf.saved_model.load({str(chain / "sm" / "besiii_emc_generator")!r})
        c = np.load({str(chain / "cond.npy")!r})
        a = m.simulate_conditions(tf.constant(c), tf.constant(5, tf.int64)).numpy()
        b = m.simulate(*[tf.constant(c[:, i]) for i in range(6)], seed=tf.constant(5, tf.int64)).numpy()
        np.save({str(chain / "exported.npy")!r}, a)
        assert np.array_equal(a, b)
        print(a.shape)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False,
                         env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert "(120, 11, 11, 1)" in out.stdout
    exported = np.load(chain / "exported.npy")
    np.testing.assert_allclose(exported, hits, rtol=1e-5, atol=1e-7)


def test_bad_inputs(chain, tmp_path, capsys):
    capsys.readouterr()
    assert main(["generate", str(chain / "gan"), "--conditions", str(tmp_path / "none.h5"),
                 "--out", str(tmp_path / "o.h5")]) == 2
    assert "no such file" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"Mom": [1.0], "Z": [3.0]}).to_csv(bad, index=False)
    assert main(["generate", str(chain / "gan"), "--conditions", str(bad),
                 "--out", str(tmp_path / "o.h5")]) == 2
    assert "lacks the condition columns" in capsys.readouterr().err
    nan_file = tmp_path / "nan.h5"
    with h5py.File(chain / "test.h5") as f, h5py.File(nan_file, "w") as g:
        hits = f["Barrel_Hit"][()]
        hits[0, 5, 5, 0] = np.nan
        g["Barrel_Hit"] = hits
        g["MC_info"] = f["MC_info"][()]
    assert main(["evaluate", "besiii-emc", "--data", str(chain / "test.h5"), "--sim",
                 str(nan_file), "--out", str(tmp_path / "ev")]) == 2
    assert "NaN" in capsys.readouterr().err
    assert main(["train", "besiii-emc", "--data", str(chain / "test.h5"), "--regressor",
                 str(chain / "gan"), "--out", str(tmp_path / "g"), "--epochs", "1"]) == 2
    assert "expected a 'besiii-emc-regressor' run" in capsys.readouterr().err
    assert not (tmp_path / "o.h5").exists()
