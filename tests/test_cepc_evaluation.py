"""CEPC ECAL evaluation: the issue's targets per energy bin on known inputs."""

import json

import numpy as np
import pandas as pd
import pytest

from keras_fastsim.evaluation.cepc_ecal import (
    energy_bin_table,
    evaluate_cepc_ecal,
    longitudinal_separation_power,
)
from keras_fastsim.evaluation.showers import ShowerEvaluationError

GRID = (6, 6, 5)


def _showers(n, seed, depth=1.5):
    """Toy photon showers: E uniform 5-100 GeV, ~3 % resolution, exponential in depth."""
    rng = np.random.default_rng(seed)
    mom = rng.uniform(5.0, 100.0, n)
    energy = mom * (0.95 + 0.03 * rng.standard_normal(n))
    z, y, layer = np.meshgrid(*[np.arange(g, dtype=float) for g in GRID], indexing="ij")
    shape = np.exp(-((z - 3) ** 2 + (y - 3) ** 2) / 2.0 - layer / depth)
    shape = shape / shape.sum()
    hits = energy[:, None, None, None] * shape[None] * rng.uniform(0.9, 1.1, (n, *GRID))
    cond = pd.DataFrame({"Mom": mom, "theta": rng.uniform(50, 140, n),
                         "phi": rng.uniform(-15, 15, n), "dZ_Pos": rng.uniform(-0.5, 0.5, n),
                         "dY_Pos": rng.uniform(-0.5, 0.5, n), "Z": rng.uniform(-200, 200, n)})
    return hits, cond


def test_longitudinal_separation_power_limits():
    a = np.array([[1.0, 2.0, 0.0], [3.0, 0.0, 0.0]])
    assert longitudinal_separation_power(a, a * 7.0) == 0.0
    assert longitudinal_separation_power(a, np.array([[0.0, 0.0, 5.0]])) == pytest.approx(1.0)
    assert longitudinal_separation_power(np.zeros((2, 3)), np.zeros((1, 3))) == 0.0
    # h1 = (0.5, 0.5), h2 = (1, 0): 0.5 * (0.25 / 1.5 + 0.25 / 0.5) = 1 / 3
    assert longitudinal_separation_power([[1.0, 1.0]], [[2.0, 0.0]]) == pytest.approx(1 / 3)


def test_identical_samples_meet_every_target(tmp_path):
    hits, cond = _showers(600, 1)
    m = evaluate_cepc_ecal(hits, cond, hits.copy(), tmp_path, plots=False, seed=0)
    table = pd.read_csv(tmp_path / "energy_bins.csv")
    assert len(table) == 6 and (table["n_reference"] >= 10).all()
    np.testing.assert_allclose(table["mean_ratio"], 1.0)
    np.testing.assert_allclose(table["resolution_ratio"], 1.0)
    np.testing.assert_allclose(table["profile_separation_power"], 0.0, atol=1e-15)
    t = m["cepc"]["targets"]
    assert t["mean_ratio"]["met"] and t["resolution_ratio"]["met"]
    assert t["profile_separation_power"]["met"]
    assert t["high_level_auc"]["value"] < 0.65 and t["high_level_auc"]["met"]
    assert all(f["separation_power"] == 0.0 for f in m["features"].values())
    on_disk = json.loads((tmp_path / "metrics.json").read_text())
    assert on_disk["cepc"]["targets"]["mean_ratio"]["met"] is True
    report = (tmp_path / "report.md").read_text()
    assert report.count("**met**") == 4 and "not met" not in report.split("# Shower")[0]


def test_scaled_and_deeper_showers_fail_the_right_targets(tmp_path):
    hits, cond = _showers(600, 2)
    # 5 % more energy, same shapes: mean ratio 1.05 everywhere, resolution ratio 1
    table = energy_bin_table(hits.sum(axis=(1, 2)), cond["Mom"], 1.05 * hits.sum(axis=(1, 2)),
                             cond["Mom"])
    np.testing.assert_allclose(table["mean_ratio"], 1.05)
    np.testing.assert_allclose(table["resolution_ratio"], 1.0)
    assert not table["mean_met"].any() and table["resolution_met"].all()
    assert (table["mean_ratio_error"] > 0).all()
    # twice the resolution: sigma(E)/E ratio 2
    layers = hits.sum(axis=(1, 2))
    mean = layers.sum(axis=1, keepdims=True)
    wide = layers + (layers / mean) * (layers.sum(axis=1, keepdims=True)
                                       - 0.95 * cond["Mom"].to_numpy()[:, None])
    wide_table = energy_bin_table(layers, cond["Mom"], wide, cond["Mom"])
    np.testing.assert_allclose(wide_table["resolution_ratio"], 2.0, rtol=0.05)
    assert not wide_table["resolution_met"].any()
    # a deeper shower: separation power of the profiles above 0.05 in every bin
    deep, _ = _showers(600, 2, depth=6.0)
    m = evaluate_cepc_ecal(hits, cond, deep, tmp_path, plots=False, classifier=False)
    t = m["cepc"]["targets"]
    assert not t["profile_separation_power"]["met"]
    assert t["profile_separation_power"]["bins_met"] == 0
    assert m["classifier"] is None and not t["high_level_auc"]["met"]


def test_small_bins_and_bad_inputs(tmp_path):
    hits, cond = _showers(30, 3)
    table = energy_bin_table(hits.sum(axis=(1, 2)), cond["Mom"], hits.sum(axis=(1, 2)),
                             cond["Mom"], min_count=10)
    assert table["mean_ratio"].isna().any() and not table.loc[
        table["mean_ratio"].isna(), "mean_met"].any()
    with pytest.raises(ShowerEvaluationError, match="True energies must be > 0"):
        energy_bin_table(hits.sum(axis=(1, 2)), -cond["Mom"], hits.sum(axis=(1, 2)),
                         cond["Mom"])
    with pytest.raises(ShowerEvaluationError, match="'Mom' column"):
        evaluate_cepc_ecal(hits, cond.drop(columns="Mom"), hits, tmp_path, plots=False)
    with pytest.raises(ShowerEvaluationError, match=r"\(n, n_z, n_y, n_layers\)"):
        evaluate_cepc_ecal(hits[..., 0], cond, hits[..., 0], tmp_path, plots=False)
    bad = hits.copy()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(ShowerEvaluationError, match="NaN"):
        evaluate_cepc_ecal(hits, cond, bad, tmp_path, plots=False)
