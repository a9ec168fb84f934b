"""Classifier-test calibration: reference samples with known differences."""

from __future__ import annotations

import numpy as np
import pytest

from keras_fastsim.evaluation.calibration import (
    classifier_sensitivity,
    rescaled_showers,
)
from keras_fastsim.evaluation.showers import ShowerEvaluationError
from keras_fastsim.plotting.showers import plot_classifier_sensitivity
from keras_fastsim.reference.calorimeter import generate_besiii_emc, simulate_besiii_emc


@pytest.fixture(scope="module")
def sample():
    return generate_besiii_emc(1500, seed=11)


def test_rescaled_showers_scale_and_smear(sample):
    hits, _ = sample
    total = hits.sum((1, 2, 3))
    scaled = rescaled_showers(hits, scale=1.02)
    np.testing.assert_allclose(scaled.sum((1, 2, 3)), 1.02 * total, rtol=1e-5)
    smeared = rescaled_showers(hits, smear=0.05, seed=3)
    ratio = smeared.sum((1, 2, 3)) / total
    assert 0.045 < ratio.std() < 0.055 and abs(ratio.mean() - 1) < 0.005
    # the shape of each shower is kept
    np.testing.assert_allclose(smeared / ratio[:, None, None, None], hits, rtol=1e-4, atol=1e-9)
    np.testing.assert_array_equal(smeared, rescaled_showers(hits, smear=0.05, seed=3))
    assert not np.array_equal(smeared, rescaled_showers(hits, smear=0.05, seed=4))
    assert (rescaled_showers(hits, smear=2.0, seed=1) >= 0).all()


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"scale": 0.0}, "scale"), ({"scale": float("nan")}, "scale"), ({"smear": -0.1}, "smear"),
])
def test_rescaled_showers_rejects_bad_arguments(sample, kwargs, match):
    with pytest.raises(ValueError, match=match):
        rescaled_showers(sample[0], **kwargs)


def test_rescaled_showers_rejects_bad_energies(sample):
    hits = sample[0].copy()
    hits[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        rescaled_showers(hits)
    with pytest.raises(ValueError, match="shape"):
        rescaled_showers(np.ones(5))


def test_classifier_sensitivity_null_and_known_differences(sample, tmp_path):
    hits, cond = sample
    table = classifier_sensitivity(hits, cond, {
        "independent seed": simulate_besiii_emc(cond, seed=12),
        "energy x 1.1": rescaled_showers(hits, scale=1.1),
        "energy spots x 3": simulate_besiii_emc(cond, seed=13, spot_factor=3.0),
    }, momentum_bins=[1.0, 1.5, 2.0])
    assert list(table.index) == ["independent seed", "energy x 1.1", "energy spots x 3"]
    for column in ("high_level_auc", "auc_without_conditions", "auc_energies",
                   "auc_centroids", "auc_widths", "auc_hit_count", "n_hit_variant",
                   "E5x5_mean_rel_min", "E5x5_width_rel_max"):
        assert column in table.columns
    null, scale, spots = (table.loc[name] for name in table.index)
    assert abs(null["high_level_auc"] - 0.5) < 0.06
    assert abs(null["E5x5_mean_rel_max"]) < 0.01
    # a 10 % energy scale is seen through the energies given the momentum, not the shape
    assert scale["high_level_auc"] > 0.9 and scale["auc_energies"] > 0.9
    assert abs(scale["auc_widths"] - 0.5) < 0.06
    np.testing.assert_allclose(scale[["E5x5_mean_rel_min", "E5x5_mean_rel_max"]], 0.1, atol=1e-6)
    # finer energy spots: more hit crystals, seen by the hit count
    assert spots["n_hit_variant"] > 1.3 * spots["n_hit_reference"]
    assert spots["auc_hit_count"] > 0.9
    assert scale["auc_without_hit_count"] > 0.9
    path = plot_classifier_sensitivity(table, tmp_path / "auc.png", marks={"GAN": 0.85})
    assert path.stat().st_size > 10_000


def test_classifier_sensitivity_rejects_bad_input(sample):
    hits, cond = sample
    good = {"same": hits}
    with pytest.raises(ValueError, match="one row per reference shower"):
        classifier_sensitivity(hits, cond.iloc[:10], good)
    with pytest.raises(ValueError, match="DataFrame"):
        classifier_sensitivity(hits, None, good)
    with pytest.raises(ValueError, match="NaN"):
        classifier_sensitivity(hits, cond.assign(Z=np.inf), good)
    with pytest.raises(ValueError, match="at least one"):
        classifier_sensitivity(hits, cond, {})
    with pytest.raises(ValueError, match="reference's shape"):
        classifier_sensitivity(hits, cond, {"short": hits[:100]})
    with pytest.raises(ValueError, match="Unknown feature"):
        classifier_sensitivity(hits, cond, good, feature="E7x7x7")
    with pytest.raises(ValueError, match="momentum_column"):
        classifier_sensitivity(hits, cond, good, momentum_bins=[1, 2], momentum_column="p")
    with pytest.raises(ShowerEvaluationError):
        classifier_sensitivity(hits, cond, {"negative": -hits})
    with pytest.raises(ValueError, match="high_level_auc"):
        plot_classifier_sensitivity(cond, "unused.png")
