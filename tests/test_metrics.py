"""Tests of the generic fidelity metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from keras_fastsim.evaluation import metrics


def test_wasserstein_of_shifted_sample_is_the_shift(rng):
    a = rng.normal(size=2000)
    assert metrics.wasserstein_1(a, a + 3.5) == pytest.approx(3.5, abs=1e-9)
    assert metrics.wasserstein_1(a, a) == 0.0


def test_ks_distance_known_values(rng):
    a = rng.normal(size=1000)
    assert metrics.ks_distance(a, a) == 0.0
    assert metrics.ks_distance([0.0, 1.0], [2.0, 3.0]) == 1.0
    assert 0.0 < metrics.ks_distance(a, rng.normal(0.5, 1.0, size=1000)) < 1.0


@pytest.mark.parametrize("fn", [metrics.wasserstein_1, metrics.ks_distance])
def test_one_dimensional_metrics_reject_bad_input(fn):
    with pytest.raises(ValueError, match="finite"):
        fn([1.0, np.nan], [1.0, 2.0])
    with pytest.raises(ValueError, match="empty"):
        fn([], [1.0])
    with pytest.raises(ValueError, match="one-dimensional"):
        fn(np.ones((3, 2)), [1.0])


def test_separation_power_identical_and_disjoint(rng):
    a = rng.uniform(0, 1, size=5000)
    assert metrics.separation_power(a, a, bins=20) == 0.0
    assert metrics.separation_power(a, a + 2.0, bins=30) == pytest.approx(1.0)
    assert metrics.separation_power_from_histograms([1, 2, 0, 0], [0, 0, 5, 1]) == pytest.approx(1.0)
    # Normalisation: the same shape with another number of entries is identical.
    assert metrics.separation_power_from_histograms([1, 2, 3], [10, 20, 30]) == pytest.approx(0.0)
    partial = metrics.separation_power(a, a + 0.5, bins=np.linspace(0, 1.5, 31))
    assert 0.3 < partial < 0.7


def test_separation_power_rejects_bad_histograms():
    with pytest.raises(ValueError, match="same binning"):
        metrics.separation_power_from_histograms([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="empty"):
        metrics.separation_power_from_histograms([0, 0], [1, 2])
    with pytest.raises(ValueError, match="increasing"):
        metrics.separation_power([1.0], [2.0], bins=[0.0, 2.0, 1.0])


def test_classifier_auc_same_and_separated(rng):
    ref = rng.normal(size=(1500, 2))
    same = rng.normal(size=(1500, 2))
    far = rng.normal(size=(1500, 2)) + np.array([3.0, 0.0])
    auc_same = metrics.classifier_auc(ref, same, seed=1, max_iter=50)
    auc_far = metrics.classifier_auc(ref, far, seed=1, max_iter=50)
    assert abs(auc_same - 0.5) < 0.07
    assert auc_far > 0.9
    # Seeded: the same seed gives the same AUC.
    assert metrics.classifier_auc(ref, same, seed=1, max_iter=50) == auc_same


def test_classifier_auc_dataframes_and_validation(rng):
    ref = pd.DataFrame({"x": rng.normal(size=200), "y": rng.normal(size=200)})
    gen = ref[["y", "x"]] + 0.0  # same columns, another order: matched by name
    auc = metrics.classifier_auc(ref, gen, seed=0, max_iter=20, max_samples=150)
    assert 0.0 <= auc <= 1.0
    with pytest.raises(ValueError, match="test_fraction"):
        metrics.classifier_auc(ref, gen, test_fraction=1.5)
    with pytest.raises(ValueError, match="same number of features"):
        metrics.classifier_auc(ref.to_numpy(), gen.to_numpy()[:, :1])
    with pytest.raises(ValueError, match="at least 10"):
        metrics.classifier_auc(ref.to_numpy()[:5], gen.to_numpy())


def _tracks(rng, n, shift=0.0):
    return pd.DataFrame(
        {
            "species": rng.choice(["pi+", "K-"], size=n),
            "p": rng.uniform(0.2, 1.0, size=n),
            "theta": np.arccos(rng.uniform(-0.9, 0.9, size=n)),
            "dedx": rng.normal(550.0 + shift, 30.0, size=n),
        }
    )


def test_binned_distances_shape_and_min_count(rng):
    data = _tracks(rng, 4000)
    sim = data.assign(dedx=data["dedx"] + 20.0)
    table = metrics.binned_distances(
        data, sim, p_bins=[0.2, 0.6, 1.0], cos_bins=[-0.9, 0.0, 0.9], min_count=50
    )
    assert list(table.columns) == list(metrics.BINNED_COLUMNS)
    assert len(table) == 2 * 2 * 2
    assert list(table["species"].unique()) == ["pi+", "K-"]  # canonical order
    assert table["n_data"].sum() == len(data)
    assert np.allclose(table["wasserstein_1"], 20.0)  # a pure shift in every bin
    assert (table["ks"] > 0).all()

    sparse = metrics.binned_distances(
        data, sim, p_bins=[0.2, 0.6, 1.0], cos_bins=[-0.9, 0.0, 0.9], min_count=500
    )
    below = (sparse["n_data"] < 500) | (sparse["n_sim"] < 500)
    assert below.any() and not below.all()
    assert sparse.loc[below, "wasserstein_1"].isna().all()
    assert sparse.loc[~below, "ks"].notna().all()

    pooled = metrics.binned_distances(
        data, sim, species_col=None, p_bins=[0.0, 2.0], cos_bins=[-1.0, 1.0]
    )
    assert list(pooled["species"]) == ["all"] and pooled["n_sim"].iloc[0] == len(sim)
    summary = metrics.summarize_distances(table)
    assert summary["wasserstein_1"]["mean"] == pytest.approx(20.0)
    assert summary["ks"]["n_bins"] == 8


def test_binned_distances_validation(rng):
    data = _tracks(rng, 100)
    with pytest.raises(ValueError, match="lacks column"):
        metrics.binned_distances(data, data.drop(columns="dedx"), p_bins=[0, 1], cos_bins=[-1, 1])
    with pytest.raises(ValueError, match="min_count"):
        metrics.binned_distances(data, data, p_bins=[0, 1], cos_bins=[-1, 1], min_count=0)
    with pytest.raises(ValueError, match="p_bins"):
        metrics.binned_distances(data, data, p_bins=[1.0], cos_bins=[-1, 1])
    bad = data.assign(dedx=np.where(np.arange(100) == 3, np.nan, data["dedx"]))
    with pytest.raises(ValueError, match="NaN"):
        metrics.binned_distances(data, bad, p_bins=[0, 1], cos_bins=[-1, 1])


def test_bin_index_edges():
    idx = metrics.bin_index([-1.0, 0.0, 0.5, 1.0, 2.0, 3.0], [0.0, 1.0, 2.0])
    assert idx.tolist() == [-1, 0, 0, 1, 1, -1]


def test_classifier_auc_paired_avoids_condition_leakage(rng):
    # A perfect simulation of the same conditions: only the last feature is resampled.
    conditions = rng.uniform(size=(1500, 2))
    ref = np.column_stack([conditions, rng.normal(size=1500)])
    gen = np.column_stack([conditions, rng.normal(size=1500)])
    assert abs(metrics.classifier_auc(ref, gen, seed=0, max_iter=40, paired=True) - 0.5) < 0.07
    shifted = gen + np.array([0.0, 0.0, 2.0])
    assert metrics.classifier_auc(ref, shifted, seed=0, max_iter=40, paired=True) > 0.8
    with pytest.raises(ValueError, match="equal length"):
        metrics.classifier_auc(ref, gen[:-1], paired=True)
