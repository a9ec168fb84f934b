"""The CEPC ECAL chain through the CLI: reference -> regressor -> GAN -> generate -> evaluate
-> export, on a small grid (14 x 17 x 29: the regressor's smallest transverse size, the 29
Si-W layers of the reference geometry)."""

import json
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest

from keras_fastsim.cli import main
from keras_fastsim.io.showers import read_cepc_ecal

GRID = ["14", "17", "29"]


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """One tiny run of the whole chain (1 epoch each, batch 16; the GAN input streamed)."""
    tmp = tmp_path_factory.mktemp("cepc")
    data, test = tmp / "train.h5", tmp / "test.h5"
    assert main(["reference", "cepc-ecal", "--n", "72", "--seed", "1", "--grid", *GRID,
                 "--out", str(data)]) == 0
    assert main(["reference", "cepc-ecal", "--n", "30", "--seed", "2", "--grid", *GRID,
                 "--out", str(test)]) == 0
    assert main(["train", "cepc-ecal-regressor", "--data", str(data), "--out", str(tmp / "reg"),
                 "--epochs", "1", "--batch-size", "16", "--seed", "3"]) == 0
    # the GAN streams its showers from the file (a tiny in-memory limit), the regressor not
    stream = tmp / "stream.yaml"
    stream.write_text("training:\n  in_memory_limit_gib: 1.0e-6\n")
    assert main(["train", "cepc-ecal", "--data", str(data), "--regressor", str(tmp / "reg"),
                 "--out", str(tmp / "gan"), "--epochs", "1", "--batch-size", "16",
                 "--max-showers", "64", "--seed", "3", "--config", str(stream)]) == 0
    assert main(["generate", str(tmp / "gan"), "--conditions", str(test), "--out",
                 str(tmp / "sim.h5"), "--seed", "5"]) == 0
    return tmp


def test_runs_are_recorded(chain):
    reg = json.loads((chain / "reg" / "run.json").read_text())
    gan = json.loads((chain / "gan" / "run.json").read_text())
    assert reg["kind"] == "cepc-ecal-regressor" and reg["grid"] == [14, 17, 29]
    assert (chain / "reg" / reg["model"]).is_file() and (chain / "reg" / "resolution.png").is_file()
    assert gan["kind"] == "cepc-ecal-gan" and gan["regressor_run"] == str(chain / "reg")
    assert gan["n_showers"] == 64 and gan["grid"] == [14, 17, 29] and gan["best_epoch"] == 1
    assert gan["streamed"] is True and reg["streamed"] is False
    assert gan["discriminator"] == {"minibatch_kernels": 10, "minibatch_reduction": "mean",
                                    "energy_features": True, "conditional": False}
    assert (chain / "gan" / gan["generator"]).is_file()
    for name in ("history.csv", "ks_scores.csv", "best_epoch.yaml", "config.yaml"):
        assert (chain / "gan" / name).is_file(), name


def test_generate_is_reproducible(chain, tmp_path):
    hits, cond = read_cepc_ecal(chain / "sim.h5")
    _, test_cond = read_cepc_ecal(chain / "test.h5")
    assert hits.shape == (30, 14, 17, 29) and (hits >= 0).all()
    np.testing.assert_allclose(cond.to_numpy(), test_cond.to_numpy(), rtol=1e-6)
    table = tmp_path / "cond.csv"
    test_cond.to_csv(table, index=False)
    assert main(["generate", str(chain / "gan"), "--conditions", str(table),
                 "--out", str(tmp_path / "again.h5"), "--seed", "5"]) == 0
    np.testing.assert_array_equal(read_cepc_ecal(tmp_path / "again.h5")[0], hits)
    from keras_fastsim.training.cepc_ecal import generate_cepc_showers

    small_batches = generate_cepc_showers(chain / "gan" / "selected_generator.keras", test_cond,
                                          seed=5, batch_size=7)
    np.testing.assert_allclose(small_batches, hits, rtol=1e-5, atol=1e-7)
    other = generate_cepc_showers(chain / "gan", test_cond, seed=6)
    assert not np.allclose(other, hits)


def test_evaluate_from_file_and_from_generator(chain, capsys):
    out = chain / "eval"
    assert main(["evaluate", "cepc-ecal", "--data", str(chain / "test.h5"), "--sim",
                 str(chain / "sim.h5"), "--regressor", str(chain / "reg"), "--out", str(out),
                 "--energy-bins", "1", "50", "100"]) == 0
    assert "worst_mean_ratio_offset=" in capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["paired_conditions"] is True and metrics["n_generated"] == 30
    assert len(metrics["cepc"]["energy_bins"]) == 2
    assert {r["column"] for r in metrics["cepc"]["regressed"]} == {"Mom", "theta", "phi"}
    for name in ("report.md", "shower_displays.png", "profiles.png", "cell_spectrum.png",
                 "energy_response.png", "longitudinal_by_energy.png",
                 "regressed_conditions.png"):
        assert (out / name).is_file(), name
    out2 = chain / "eval2"
    assert main(["evaluate", "cepc-ecal", "--data", str(chain / "test.h5"), "--generator",
                 str(chain / "gan"), "--generation-seed", "5", "--no-classifier", "--no-plots",
                 "--energy-bins", "1", "50", "100", "--out", str(out2)]) == 0
    again = json.loads((out2 / "metrics.json").read_text())
    # same generator, conditions and seed as sim.h5: the same showers, the same numbers
    assert again["cepc"]["energy_bins"] == metrics["cepc"]["energy_bins"]
    assert again["cepc"]["regressed"] == metrics["cepc"]["regressed"]  # the run's regressor


def test_export_matches_generate_in_a_subprocess(chain):
    assert main(["export", str(chain / "gan"), "--out", str(chain / "sm")]) == 0
    hits, cond = read_cepc_ecal(chain / "sim.h5")
    np.save(chain / "cond.npy", cond.to_numpy(np.float32))
    script = textwrap.dedent(f"""
        import numpy as np, tensorflow as tf
        m = tf.saved_model.load({str(chain / "sm" / "cepc_ecal_generator")!r})
        c = np.load({str(chain / "cond.npy")!r})
        a = m.simulate_conditions(tf.constant(c), tf.constant(5, tf.int64)).numpy()
        names = ("Mom", "theta", "phi", "dZ_Pos", "dY_Pos", "Z")
        b = m.simulate(**{{n: tf.constant(c[:, i]) for i, n in enumerate(names)}},
                       seed=tf.constant(5, tf.int64)).numpy()
        np.save({str(chain / "exported.npy")!r}, a)
        assert np.array_equal(a, b)
        print(a.shape)
    """)
    out = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True,
                         text=True,
                         env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert "(30, 14, 17, 29)" in out.stdout
    np.testing.assert_allclose(np.load(chain / "exported.npy"), hits, rtol=1e-5, atol=1e-7)


def test_bad_inputs(chain, tmp_path, capsys):
    from keras_fastsim.training.cepc_ecal import load_training_showers

    with pytest.raises(ValueError, match=r"max_showers=\d+"):
        load_training_showers(chain / "test.h5", in_memory_limit_gib=1e-6)
    assert load_training_showers(chain / "test.h5", max_showers=7)[0].shape == (7, 14, 17, 29)
    capsys.readouterr()
    assert main(["train", "cepc-ecal", "--data", str(chain / "test.h5"), "--regressor",
                 str(chain / "gan"), "--out", str(tmp_path / "g"), "--epochs", "1"]) == 2
    assert "expected a 'cepc-ecal-regressor' run" in capsys.readouterr().err
    nan_file = tmp_path / "nan.h5"
    with h5py.File(chain / "test.h5") as f, h5py.File(nan_file, "w") as g:
        hits = f["Barrel_Hit"][()]
        hits[0, 3, 3, 3] = np.nan
        g["Barrel_Hit"] = hits
        g["MC_info"] = f["MC_info"][()]
    assert main(["evaluate", "cepc-ecal", "--data", str(chain / "test.h5"), "--sim",
                 str(nan_file), "--out", str(tmp_path / "ev")]) == 2
    assert "NaN" in capsys.readouterr().err
    assert main(["generate", str(chain / "gan"), "--conditions", str(tmp_path / "none.h5"),
                 "--out", str(tmp_path / "o.h5")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert not (tmp_path / "o.h5").exists()


def test_export_checks_condition_names(tmp_path):
    from keras_fastsim.export import export_conditional_generator
    from keras_fastsim.models.cepc_ecal import build_cepc_generator

    generator = build_cepc_generator(8, grid=(6, 6, 5))
    base = ["Mom", "theta", "phi", "dZ_Pos", "dY_Pos"]
    for names in (["a"] * 6, [*base, "seed"], base, [*base, "lambda"], [*base, "Z Z"]):
        with pytest.raises(ValueError, match="condition_names"):
            export_conditional_generator(generator, tmp_path / "x", names)
    assert not (tmp_path / "x").exists()
