import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from keras_fastsim.cli import build_parser, main
from keras_fastsim.io import read_tracks


def _verbs(parser, prefix=()):
    """Every (sub)command path of the parser."""
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield prefix + (name,)
                yield from _verbs(sub, prefix + (name,))


def test_help_on_every_verb(capsys):
    paths = list(_verbs(build_parser()))
    assert ("train", "dedx-flow") in paths and ("evaluate", "dedx") in paths
    for path in [()] + paths:
        with pytest.raises(SystemExit) as info:
            main([*path, "--help"])
        assert info.value.code == 0
        assert "usage: keras-fastsim" in capsys.readouterr().out


def test_module_entry_point():
    out = subprocess.run([sys.executable, "-m", "keras_fastsim", "--version"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.startswith("keras-fastsim ")


def test_dedx_chain(tmp_path, capsys):
    data = tmp_path / "data.parquet"
    assert main(["reference", "dedx", "--n", "1200", "--species", "pi+", "--species", "K+",
                 "--species", "p", "--seed", "1", "--out", str(data)]) == 0
    table = read_tracks(data)
    assert sorted(table.species.unique()) == ["K+", "p", "pi+"] and len(table) == 3600

    config = tmp_path / "tiny.yaml"
    config.write_text("model: {num_blocks: 1, hidden_units: [8]}\n"
                      "training: {epochs: 1, patience: null, jit_compile: false}\n")
    flow = tmp_path / "flow"
    assert main(["train", "dedx-flow", "--data", str(data), "--species", "K+", "--out", str(flow),
                 "--config", str(config)]) == 0
    assert json.loads((flow / "run.json").read_text())["species"] == {"K+": "K+"}
    assert main(["train", "dedx-hist", "--data", str(data), "--out", str(tmp_path / "hist")]) == 0

    kaons = tmp_path / "kaons.csv"
    table[table.species == "K+"].drop(columns="dedx").to_csv(kaons, index=False)
    for name in ("flow", "hist"):
        assert main(["generate", str(tmp_path / name), "--conditions", str(kaons),
                     "--out", str(tmp_path / f"sim_{name}.parquet"), "--seed", "3"]) == 0
    sim = read_tracks(tmp_path / "sim_flow.parquet")
    assert len(sim) == 1200 and np.all(sim.dedx > 0)

    truth = tmp_path / "truth.parquet"
    table[table.species == "K+"].to_parquet(truth)
    assert main(["evaluate", "dedx", "--data", str(truth), "--sim", f"flow={tmp_path / 'sim_flow.parquet'}",
                 "--sim", f"hist={tmp_path / 'sim_hist.parquet'}", "--out", str(tmp_path / "ev")]) == 0
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert set(metrics["sims"]) == {"flow", "hist"}
    assert "flow: w1_mean=" in capsys.readouterr().out
    assert (tmp_path / "ev" / "report.md").is_file()

    assert main(["export", str(flow), "--out", str(tmp_path / "sm")]) == 0
    assert (tmp_path / "sm" / "K+" / "saved_model.pb").is_file()
    capsys.readouterr()
    assert main(["export", str(tmp_path / "hist"), "--out", str(tmp_path / "sm2")]) == 2
    assert "no SavedModel export" in capsys.readouterr().err


def test_errors_name_the_problem(tmp_path, capsys):
    assert main(["generate", str(tmp_path), "--conditions", str(tmp_path / "none.csv"),
                 "--out", str(tmp_path / "o.csv")]) == 2
    assert "none.csv: no such file" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"species": ["mu+"], "p": [1.0], "theta": [1.0], "nhits": [20]}).to_csv(bad, index=False)
    assert main(["generate", str(tmp_path), "--conditions", str(bad), "--out", str(tmp_path / "o.csv")]) == 2
    assert "unknown species ['mu+']" in capsys.readouterr().err
    good = tmp_path / "good.csv"
    pd.DataFrame({"species": ["pi+"], "p": [1.0], "theta": [1.0], "nhits": [20]}).to_csv(good, index=False)
    assert main(["generate", str(tmp_path), "--conditions", str(good), "--out", str(tmp_path / "o.csv")]) == 2
    assert "not a run directory" in capsys.readouterr().err
    assert not (tmp_path / "o.csv").exists()
    assert main(["train", "dedx-flow", "--data", str(good), "--out", str(tmp_path / "r"),
                 "--species", "pi+"]) == 2
    assert "dedx" in capsys.readouterr().err


def test_dead_generator_ends_the_command_with_its_message(monkeypatch, capsys):
    from keras_fastsim import cli
    from keras_fastsim.training.gan import DeadGeneratorError

    def dead(args):
        raise DeadGeneratorError("The generator made only empty showers")

    monkeypatch.setattr(cli, "_demo", dead)
    assert cli.main(["demo", "--out", "unused"]) == 3
    assert "error: The generator made only empty showers" in capsys.readouterr().err
