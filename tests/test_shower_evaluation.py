"""Shower features, fidelity metrics and the evaluation report (keras_fastsim.evaluation.showers)."""

import json

import numpy as np
import pandas as pd
import pytest

from keras_fastsim.evaluation.showers import (
    ShowerEvaluationError,
    as_grid,
    cell_energies,
    compare_features,
    evaluate_showers,
    feature_groups,
    momentum_bin_table,
    profiles,
    response_summary,
    shower_features,
)


def _toy_showers(rng, n, scale=1.0, shape=(11, 11), mom=None):
    """Gaussian blobs around the centre with a momentum-dependent total energy."""
    mom = rng.uniform(1.0, 2.0, n) if mom is None else np.asarray(mom)
    grids = np.meshgrid(*[np.arange(s) - s // 2 for s in shape], indexing="ij")
    r2 = sum(g.astype(float) ** 2 for g in grids)
    width = rng.uniform(0.8, 1.2, n)[(slice(None),) + (None,) * len(shape)]
    blob = np.exp(-r2[None] / (2 * width**2))
    blob /= blob.sum(axis=tuple(range(1, len(shape) + 1)), keepdims=True)
    energy = scale * mom * (0.95 + 0.02 * rng.standard_normal(n))
    hits = blob * energy[(slice(None),) + (None,) * len(shape)]
    hits[hits < 1e-4] = 0.0
    cond = pd.DataFrame({"Mom": mom, "dTheta_Mom": rng.normal(0, 3, n),
                         "dPhi_Mom": rng.normal(0, 5, n), "dZ_Pos": rng.uniform(-2, 2, n),
                         "dPhi_Pos": rng.uniform(-2, 2, n), "Z": rng.uniform(-100, 100, n)})
    return hits[..., None].astype(np.float32) if len(shape) == 2 else hits, cond


def test_features_match_numpy(rng):
    hits = rng.exponential(0.01, (50, 11, 11, 1)) * (rng.random((50, 11, 11, 1)) < 0.4)
    hits[3] = 0.0  # an empty shower
    f = shower_features(hits)
    img = hits[..., 0]
    np.testing.assert_allclose(f["E_total"], img.sum(axis=(1, 2)))
    np.testing.assert_allclose(f["E3x3"], img[:, 4:7, 4:7].sum(axis=(1, 2)))
    np.testing.assert_allclose(f["E5x5"], img[:, 3:8, 3:8].sum(axis=(1, 2)))
    ok = f["E5x5"] > 0
    np.testing.assert_allclose(f["E3x3_over_E5x5"][ok], (f["E3x3"] / f["E5x5"])[ok])
    np.testing.assert_allclose(f["E_max"], img.reshape(50, -1).max(axis=1))
    np.testing.assert_allclose(f["n_hit"], (img > 0).reshape(50, -1).sum(axis=1))
    np.testing.assert_allclose(f["sparsity"], 1 - (img > 0).reshape(50, -1).mean(axis=1))
    i = 7
    x = np.arange(11) - 5
    w_phi, w_z = img[i].sum(axis=1), img[i].sum(axis=0)
    c_phi, c_z = (w_phi * x).sum() / w_phi.sum(), (w_z * x).sum() / w_z.sum()
    v_phi = (w_phi * (x - c_phi) ** 2).sum() / w_phi.sum()
    v_z = (w_z * (x - c_z) ** 2).sum() / w_z.sum()
    assert f["centroid_phi"][i] == pytest.approx(c_phi)
    assert f["centroid_z"][i] == pytest.approx(c_z)
    assert f["rms_phi"][i] == pytest.approx(np.sqrt(v_phi))
    assert f["rms_z"][i] == pytest.approx(np.sqrt(v_z))
    # second moment = sum E r^2 / sum E about the centroid
    pp, zz = np.meshgrid(x, x, indexing="ij")
    r2 = (pp - c_phi) ** 2 + (zz - c_z) ** 2
    assert f["second_moment"][i] == pytest.approx((img[i] * r2).sum() / img[i].sum())
    # the empty shower: finite zeros
    assert f.loc[3, ["E_total", "centroid_phi", "rms_z", "second_moment"]].tolist() == [0] * 4
    assert np.isfinite(f.to_numpy()).all()
    # spectrum and profiles
    np.testing.assert_allclose(np.sort(cell_energies(hits)), np.sort(img[img > 0]))
    prof = profiles(hits)
    np.testing.assert_allclose(prof["phi"], img.sum(axis=2))
    np.testing.assert_allclose(prof["z"], img.sum(axis=1))


def test_features_of_3d_grids(rng):
    grid = rng.exponential(0.01, (20, 8, 8, 6))
    f = shower_features(grid)
    assert {"centroid_layer", "rms_layer", "centroid_y"} <= set(f.columns)
    np.testing.assert_allclose(f["E3x3"], grid[:, 3:6, 3:6, :].sum(axis=(1, 2, 3)))
    np.testing.assert_allclose(f["E_total"], grid.sum(axis=(1, 2, 3)))
    assert as_grid(grid).shape == (20, 8, 8, 6)
    assert as_grid(grid[..., None]).shape == (20, 8, 8, 6)
    names = shower_features(grid, axis_names=("a", "b", "c"))
    assert "rms_c" in names.columns


def test_metrics_identical_vs_shifted(rng):
    ref, cond = _toy_showers(rng, 3000)
    same, cond_s = _toy_showers(np.random.default_rng(7), 3000)
    shifted, _ = _toy_showers(np.random.default_rng(7), 3000, scale=1.1)  # same conditions
    fr, fs, fx = shower_features(ref), shower_features(same), shower_features(shifted)
    d_same, d_shift = compare_features(fr, fs), compare_features(fr, fx)
    assert d_same.loc["E_total", "separation_power"] < 0.02
    assert d_shift.loc["E_total", "separation_power"] > 3 * d_same.loc["E_total", "separation_power"]
    assert d_shift.loc["E5x5", "wasserstein_1"] > 5 * d_same.loc["E5x5", "wasserstein_1"]
    # the ratio E3x3/E5x5 does not move with the energy scale
    assert d_shift.loc["E3x3_over_E5x5", "ks"] < 0.1
    edges = [1.0, 1.5, 2.0]
    t_same = momentum_bin_table(fr["E5x5"], cond["Mom"], fs["E5x5"], cond_s["Mom"], edges)
    t_shift = momentum_bin_table(fs["E5x5"], cond_s["Mom"], fx["E5x5"], cond_s["Mom"], edges)
    assert (t_same["mean_rel"].abs() < 0.02).all()
    np.testing.assert_allclose(t_shift["mean_rel"], 0.10, atol=0.02)
    np.testing.assert_allclose(t_shift["width_rel"], 0.10, atol=0.08)
    assert list(t_same["n_reference"]) == [int((cond["Mom"] < 1.5).sum()),
                                           int((cond["Mom"] >= 1.5).sum())]


def test_momentum_bin_errors_match_the_scatter_of_repeated_samples():
    """The stated errors of the mean and width differences are the spread over repetitions,
    for a tailed (gamma, skewness 2) distribution where 1/sqrt(2n) would understate the width's."""
    rng = np.random.default_rng(11)
    n, edges = 2000, [1.0, 2.0]
    tables = [momentum_bin_table(rng.gamma(1.0, 1.0, n), np.full(n, 1.5),
                                 rng.gamma(1.0, 1.0, n), np.full(n, 1.5), edges)
              for _ in range(300)]
    table = pd.concat(tables)
    np.testing.assert_allclose(table["width_rel_error"].mean(), table["width_rel"].std(),
                               rtol=0.15)
    np.testing.assert_allclose(table["mean_rel_error"].mean(), table["mean_rel"].std(), rtol=0.15)
    assert table["width_rel_error"].mean() > 1.5 / np.sqrt(n)  # Gaussian: 1/sqrt(n) for a ratio


def test_evaluate_writes_files_and_separates(tmp_path, rng):
    ref, cond = _toy_showers(rng, 1500)
    good = _toy_showers(np.random.default_rng(3), 1500, mom=cond["Mom"])[0]  # same conditions
    bad = good * 1.2
    m_good = evaluate_showers(ref, cond, good, tmp_path / "good", seed=1, n_displays=2)
    m_bad = evaluate_showers(ref, cond, bad, tmp_path / "bad", seed=1, plots=False)
    for name in ("metrics.json", "report.md", "features.csv", "momentum_bins.csv",
                 "shower_displays.png", "energy_features.png", "shape_features.png",
                 "cell_spectrum.png", "profiles.png", "momentum_bins.png", "response.png"):
        assert (tmp_path / "good" / name).stat().st_size > 0, name
    assert not (tmp_path / "bad" / "profiles.png").exists()
    on_disk = json.loads((tmp_path / "good" / "metrics.json").read_text())
    assert on_disk["classifier"]["high_level_auc"] == pytest.approx(
        m_good["classifier"]["high_level_auc"])
    assert m_good["paired_conditions"] is True
    assert m_good["classifier"]["high_level_auc"] < 0.65
    assert m_bad["classifier"]["high_level_auc"] > 0.9
    assert m_bad["classifier"]["cells_auc"] > 0.7
    assert m_bad["momentum_bins"]["max_abs_mean_rel"] > 0.15
    assert m_good["momentum_bins"]["max_abs_mean_rel"] < 0.03
    # toy response 0.95 +- 0.02 (times the blob's cells above threshold)
    assert m_good["response"]["ks"] < 0.06 and m_bad["response"]["ks"] > 0.9
    assert m_bad["response"]["generated"]["mean"] == pytest.approx(
        1.2 * m_good["response"]["generated"]["mean"], rel=1e-5)
    report = (tmp_path / "good" / "report.md").read_text()
    assert "Energy response E_total / p" in report
    assert "E5x5 per Mom bin" in report and "![shower_displays](shower_displays.png)" in report


def test_response_summary_sees_the_edge_and_the_tail(rng):
    # a calorimeter-like response (edge below 1, leakage tail) vs a symmetric one with the
    # same mean and std
    real = 1.0 - rng.gamma(1.5, 0.02, 20_000)
    fake = rng.normal(real.mean(), real.std(), 20_000)
    out = response_summary(real, fake)
    ref, gen = out["reference"], out["generated"]
    assert ref["mean"] == pytest.approx(gen["mean"], abs=1e-3)
    assert ref["std"] == pytest.approx(gen["std"], rel=0.03)
    assert ref["fraction_above_1"] == 0.0 and gen["fraction_above_1"] > 0.05
    assert ref["skewness"] < -1.0 and abs(gen["skewness"]) < 0.1
    assert ref["q01"] < gen["q01"] and ref["q95"] > gen["q95"] - 0.02
    assert 0.05 < out["ks"] < 0.2 and out["wasserstein_1"] > 0
    assert set(ref) == {"mean", "std", "skewness", "q01", "q05", "q50", "q95", "q99",
                        "fraction_above_1"}
    with pytest.raises(ShowerEvaluationError, match="finite 1D"):
        response_summary(real, np.array([0.9, np.nan]))


def test_evaluate_unpaired_and_without_conditions(tmp_path, rng):
    ref, cond = _toy_showers(rng, 400)
    gen, gen_cond = _toy_showers(np.random.default_rng(5), 300)
    m = evaluate_showers(ref, cond, gen, tmp_path / "a", gen_conditions=gen_cond, plots=False)
    assert m["paired_conditions"] is False and m["n_generated"] == 300
    m = evaluate_showers(ref, None, gen, tmp_path / "b", plots=False, classifier=False)
    assert m["momentum_bins"] is None and m["classifier"] is None and m["response"] is None


def test_bad_inputs(tmp_path, rng):
    ref, cond = _toy_showers(rng, 100)
    with pytest.raises(ShowerEvaluationError, match="same cell shape"):
        evaluate_showers(ref, cond, ref[:, :9, :9], tmp_path)
    nan = ref.copy()
    nan[4, 5, 5, 0] = np.nan
    with pytest.raises(ShowerEvaluationError, match="NaN/inf energies .first in shower 4"):
        evaluate_showers(ref, cond, nan, tmp_path)
    neg = ref.copy()
    neg[2, 0, 0, 0] = -1.0
    with pytest.raises(ShowerEvaluationError, match="negative energies"):
        evaluate_showers(ref, cond, neg, tmp_path)
    with pytest.raises(ShowerEvaluationError, match="row by row"):
        evaluate_showers(ref, cond, ref[:50], tmp_path)
    with pytest.raises(ShowerEvaluationError, match="rows"):
        evaluate_showers(ref, cond[:10], ref, tmp_path)
    with pytest.raises(ShowerEvaluationError, match="must be"):
        shower_features(np.zeros((5, 11)))
    with pytest.raises(ShowerEvaluationError, match="no showers"):
        shower_features(np.zeros((0, 11, 11, 1)))
    assert not (tmp_path / "metrics.json").exists()


def test_feature_groups_of_2d_and_3d_features(rng):
    groups = feature_groups(shower_features(_toy_showers(rng, 5)[0]).columns)
    assert groups == {"energies": ["E_total", "E3x3", "E5x5", "E_max"],
                      "centroids": ["centroid_phi", "centroid_z"],
                      "widths": ["E3x3_over_E5x5", "rms_phi", "rms_z", "second_moment"],
                      "hit count": ["n_hit", "sparsity"]}
    columns = shower_features(rng.random((4, 7, 7, 5))).columns
    assert feature_groups(["cond_Mom", *columns])["centroids"] == [
        "centroid_z", "centroid_y", "centroid_layer"]
    grouped = [c for cols in feature_groups(["cond_Mom", *columns]).values() for c in cols]
    assert "cond_Mom" not in grouped and len(grouped) == len(columns)


def test_group_aucs_see_features_assigned_to_the_wrong_conditions(tmp_path, rng):
    """The reference showers themselves, shuffled against their conditions: every feature's
    distribution is exact, only its dependence on the momentum is lost."""
    ref, cond = _toy_showers(rng, 1500)
    shuffled = ref[np.random.default_rng(4).permutation(len(ref))]
    m = evaluate_showers(ref, cond, shuffled, tmp_path, seed=1, plots=False)
    clf = m["classifier"]
    assert clf["high_level_auc"] > 0.8  # the energy no longer follows Mom
    assert clf["high_level_auc_without_conditions"] < 0.6
    energies = clf["groups"]["energies"]
    assert energies["auc_with_conditions"] > 0.8 and energies["auc_without_conditions"] < 0.6
    assert clf["groups"]["widths"]["auc_with_conditions"] < 0.6  # widths do not depend on Mom
    report = (tmp_path / "report.md").read_text()
    assert "| energies | E_total, E3x3, E5x5, E_max |" in report
