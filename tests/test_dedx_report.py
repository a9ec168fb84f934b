"""Tests of the dE/dx data-vs-simulation report."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from keras_fastsim.evaluation.dedx_report import compare_rates, evaluate_dedx
from keras_fastsim.reference.dedx import DedxReference

SPECIES = ("K-", "p")
P_BINS = (0.2, 0.5, 0.8, 1.1, 1.4)
COS_BINS = (-0.93, 0.0, 0.93)


@pytest.fixture(scope="module")
def tables():
    reference = DedxReference()
    data = reference.generate(1000, species=SPECIES, seed=1)
    good = data.assign(dedx=reference.simulate(data, seed=2))  # a perfect simulation
    bad = data.assign(dedx=good["dedx"] * 1.06)  # a 6% miscalibrated one
    return data, {"flow": good, "histogram": bad}


def _evaluate(data, sims, out_dir, **kwargs):
    kwargs = {"p_bins": P_BINS, "cos_bins": COS_BINS, "min_count": 30,
              "min_tracks_for_max": 100, "classifier_max_iter": 40, **kwargs}
    return evaluate_dedx(data, sims, out_dir, **kwargs)


def test_evaluate_dedx_metrics(tables, tmp_path):
    data, sims = tables
    result = _evaluate(data, sims, tmp_path, plots=False)

    assert json.loads((tmp_path / "metrics.json").read_text()) == result
    assert set(result["sims"]) == {"flow", "histogram"}
    assert result["species"] == list(SPECIES)
    good, bad = result["sims"]["flow"], result["sims"]["histogram"]
    for key in ("wasserstein_1", "ks"):
        assert set(good[key]) >= {"mean", "weighted_mean", "per_species", "n_bins"}
        assert good[key]["weighted_mean"] < bad[key]["weighted_mean"]
    assert abs(good["classifier_auc"]["mean"] - 0.5) < 0.1
    assert bad["classifier_auc"]["mean"] > good["classifier_auc"]["mean"]
    assert set(good["pid"]) == {"p", "cos_theta"}
    assert set(good["pid"]["p"]) == {"efficiency", "misid", "per_bin"}
    assert {"diff", "diff_err", "n_data"} <= set(good["pid"]["p"]["per_bin"][0])
    assert {"wasserstein_1", "ks", "p_lo", "cos_lo"} <= set(good["per_bin"][0])
    assert isinstance(result["calibration"], dict)

    assert good["pid"]["p"]["efficiency"]["n_bins"] > 0
    assert (
        good["pid"]["p"]["efficiency"]["max_abs_diff"]
        < bad["pid"]["p"]["efficiency"]["max_abs_diff"]
    )
    assert all(math.isfinite(v) for v in good["separation_power"].values())


def test_evaluate_dedx_writes_files(tables, tmp_path):
    data, sims = tables
    kaons = (data["species"] == "K-").to_numpy()  # one species: fewer, smaller figures
    data = data[kaons].reset_index(drop=True)
    sims = {k: v[kaons].reset_index(drop=True) for k, v in sims.items()}
    result = _evaluate(data, sims, tmp_path / "report")
    out = tmp_path / "report"

    assert json.loads((out / "metrics.json").read_text()) == result
    figures = [v for k, v in result["files"].items() if k.startswith("figure_")]
    assert len(figures) == 2 + 2 + 4  # 2D, slices of the kaons, PID efficiency/mis-ID
    for name in figures:
        with open(out / name, "rb") as f:
            assert f.read(4) == b"\x89PNG"
        assert (out / name).stat().st_size > 1000
    report = (out / "report.md").read_text()
    assert "| flow |" in report and "| histogram |" in report
    assert all(f"]({name})" in report for name in figures)
    for csv in ("binned_distances.csv", "pid_rates.csv", "pid_comparison.csv"):
        assert (out / csv).stat().st_size > 0
    assert not list(out.glob(".*tmp*"))  # atomic writes left no temporaries


def test_evaluate_dedx_without_plots_and_given_calibration(tables, tmp_path):
    from keras_fastsim.evaluation.pid import PidCalibration

    data, sims = tables
    calibration = PidCalibration.fit(data)
    result = _evaluate(data, {"flow": sims["flow"]}, tmp_path, calibration=calibration,
                       plots=False)
    assert not list(tmp_path.glob("*.png"))
    assert result["calibration"] == json.loads(json.dumps(calibration.to_dict()))
    assert "![" not in (tmp_path / "report.md").read_text()


def test_evaluate_dedx_rejects_mismatched_conditions(tables, tmp_path):
    data, sims = tables
    moved = sims["flow"].copy()
    moved.loc[5, "p"] += 0.1
    with pytest.raises(ValueError, match=r"'moved'.*'p'"):
        _evaluate(data, {"flow": sims["flow"], "moved": moved}, tmp_path)
    with pytest.raises(ValueError, match=r"'short'.*len"):
        _evaluate(data, {"short": sims["flow"].iloc[:-1]}, tmp_path)
    swapped = sims["flow"].copy()
    swapped.loc[0, "species"] = "pbar"
    with pytest.raises(ValueError, match=r"'swapped'.*'species'"):
        _evaluate(data, {"swapped": swapped}, tmp_path)
    with pytest.raises(ValueError, match="non-empty mapping"):
        _evaluate(data, {}, tmp_path)
    assert not (tmp_path / "metrics.json").exists()


def test_evaluate_dedx_rejects_nan_dedx(tables, tmp_path):
    data, sims = tables
    broken = sims["flow"].copy()
    broken.loc[3, "dedx"] = np.nan
    with pytest.raises(ValueError, match=r"'broken'.*dedx"):
        _evaluate(data, {"broken": broken}, tmp_path)
    with pytest.raises(ValueError, match="data.*dedx"):
        _evaluate(broken, {"flow": sims["flow"]}, tmp_path)


def test_compare_rates_differences():
    import pandas as pd

    columns = ["species", "bin_lo", "bin_hi", "n", "identified_as", "rate", "rate_err"]
    data = pd.DataFrame([("K+", 0.5, 1.0, 2000, "K", 0.90, 0.01),
                         ("K+", 0.5, 1.0, 2000, "pi", 0.06, 0.005)], columns=columns)
    sim = data.assign(rate=[0.85, 0.10])
    table = compare_rates(data, sim)
    eff = table[table["kind"] == "efficiency"].iloc[0]
    assert eff["diff"] == pytest.approx(-0.05)
    assert eff["diff_err"] == pytest.approx(np.hypot(0.01, 0.01))
    assert table.loc[table["identified_as"] == "pi", "kind"].item() == "misid"
