"""Tests of the dE/dx physics curves and the reference BESIII dE/dx generator."""

import json

import numpy as np
import pandas as pd
import pytest

from keras_fastsim.io.tables import validate_tracks
from keras_fastsim.physics.dedx_curve import (
    HE_C3H8_60_40,
    DedxCurve,
    GasMixture,
    bethe_bloch,
    bethe_bloch_minimum,
    density_effect,
    fit_dedx_curve,
)
from keras_fastsim.physics.species import HYPOTHESIS_MASS
from keras_fastsim.reference import (
    DedxReference,
    DedxReferenceConfig,
    truncated_mean,
    truncation_bounds,
)

M_E = HYPOTHESIS_MASS["e"]


@pytest.fixture(scope="module")
def ref():
    return DedxReference()


def _fixed(species, p, theta, nhits, n):
    return pd.DataFrame({"species": species, "p": p, "theta": theta, "nhits": nhits}, index=range(n))


def _robust_sigma(x):
    return 0.5 * (np.quantile(x, 0.8413) - np.quantile(x, 0.1587))


# ---------------------------------------------------------------- Bethe–Bloch


def test_gas_mixture_constants():
    gas = HE_C3H8_60_40
    assert gas.z_over_a == pytest.approx(0.5788, abs=2e-4)
    assert gas.mean_excitation_ev == pytest.approx(46.5, abs=0.2)
    assert gas.density == pytest.approx(8.514e-4, rel=1e-3)
    assert (gas.x0, gas.x1, gas.k) == (1.6, 4.0, 3.0)


def test_bethe_bloch_helium_matches_pdg_table():
    # PDG atomic/nuclear properties: helium gas, minimum ionisation 1.937 MeV cm2/g,
    # Sternheimer -C = 11.139.
    helium = GasMixture.from_components("He", {"He": (1.0, 2.0, 4.002602, 41.8, 1.663e-4)})
    assert helium.c_bar == pytest.approx(11.139, abs=0.01)
    _, dedx_min = bethe_bloch_minimum(medium=helium)
    assert dedx_min == pytest.approx(1.937, rel=0.01)


def test_bethe_bloch_minimum_and_relativistic_rise():
    bg_min, dedx_min = bethe_bloch_minimum()  # eq. 34.5
    assert 3.0 < bg_min < 4.0
    assert 2.1 < dedx_min < 2.35  # between He (1.94) and propane (2.26)
    bg_min_r, dedx_min_r = bethe_bloch_minimum(t_cut_mev=0.01)  # eq. 34.7
    assert 3.5 < bg_min_r < 4.5
    plateau = bethe_bloch(1e4, t_cut_mev=0.01) / dedx_min_r
    assert 1.2 < plateau < 1.45
    # The restricted loss saturates (Fermi plateau), the mean keeps rising.
    assert bethe_bloch(1e5, t_cut_mev=0.01) / bethe_bloch(1e4, t_cut_mev=0.01) == pytest.approx(1, abs=2e-3)
    assert bethe_bloch(1e4, mass=M_E * 1e3) > 1.05 * bethe_bloch(1e3, mass=M_E * 1e3)
    # 1/beta^2 region: slow particles lose much more.
    assert bethe_bloch(0.3) > 5 * dedx_min


def test_density_effect_limits():
    assert np.all(density_effect([0.5, 10.0, 39.0]) == 0.0)  # below x0 = 1.6
    bg = 1e5
    assert density_effect(bg) == pytest.approx(2 * np.log(bg) - HE_C3H8_60_40.c_bar)
    x = np.linspace(1.6, 4.0, 50)
    delta = density_effect(10**x)
    assert np.all(np.diff(delta) > 0)


def test_bethe_bloch_bad_arguments():
    with pytest.raises(ValueError, match="beta_gamma"):
        bethe_bloch([1.0, -1.0])
    with pytest.raises(ValueError, match="mass"):
        bethe_bloch(1.0, mass=0.0)
    with pytest.raises(ValueError, match="t_cut_mev"):
        bethe_bloch(1.0, t_cut_mev=-1.0)
    with pytest.raises(ValueError, match="Volume fractions"):
        GasMixture.from_components("x", {"He": (0.5, 2.0, 4.0, 41.8, 1.6e-4)})


# ---------------------------------------------------------------- DedxCurve


def test_dedx_curve_round_trip_and_fit(ref):
    curve = DedxCurve()
    again = DedxCurve.from_dict(json.loads(json.dumps(curve.to_dict())))
    assert again == curve
    bg = np.geomspace(0.3, 20, 60)
    truth = ref.expected_dedx(bg)
    fitted = fit_dedx_curve(bg, truth, bins=None)
    np.testing.assert_allclose(fitted(bg), truth, rtol=0.008)
    # Binned robust fit of noisy tracks with 5% outliers.
    rng = np.random.default_rng(0)
    tracks = rng.uniform(np.log(0.3), np.log(20), 20000)
    y = ref.expected_dedx(np.exp(tracks)) * (1 + 0.06 * rng.standard_normal(20000))
    y[:1000] *= 3
    fitted = fit_dedx_curve(np.exp(tracks), y)
    np.testing.assert_allclose(fitted(bg), truth, rtol=0.015)


def test_dedx_curve_bad_arguments():
    with pytest.raises(ValueError, match="p3"):
        DedxCurve(p3=-1.0)
    with pytest.raises(ValueError, match="keys"):
        DedxCurve.from_dict({"p1": 1.0})
    with pytest.raises(ValueError, match="equal length"):
        fit_dedx_curve([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="statistic"):
        fit_dedx_curve(np.ones(100), np.ones(100), statistic="mode")
    with pytest.raises(ValueError, match="weights"):
        fit_dedx_curve(np.ones(100), np.ones(100), weights=-np.ones(100))


# ---------------------------------------------------------------- truncated mean


def test_truncation_keeps_middle_70_percent():
    start, stop = truncation_bounds(np.array([5, 20, 43, 100]))
    np.testing.assert_array_equal(start, [0, 1, 2, 5])
    np.testing.assert_array_equal(stop, [4, 15, 32, 75])
    assert (stop - start)[-1] / 100 == 0.70
    assert 0.68 < (stop - start)[2] / 43 < 0.72


def test_truncated_mean_is_masked_and_sorted():
    rng = np.random.default_rng(1)
    hits = rng.permuted(np.tile(np.arange(100.0), (3, 1)), axis=1)
    hits = np.concatenate([hits, np.full((3, 20), 1e9)], axis=1)  # beyond nhits: ignored
    out = truncated_mean(hits, np.array([100, 100, 100]))
    np.testing.assert_allclose(out, np.arange(5.0, 75.0).mean())
    with pytest.raises(ValueError, match="nhits"):
        truncated_mean(hits, np.array([0, 5, 5]))


# ---------------------------------------------------------------- generator


def test_truth_curve_normalisation_and_ordering(ref):
    assert ref.expected_dedx(ref.beta_gamma_min) == pytest.approx(550.0)
    p = 0.5
    pi, k, prot = (ref.expected_dedx(p / HYPOTHESIS_MASS[h]) for h in ("pi", "K", "p"))
    assert pi < k < prot
    assert 1.0 < pi / 550 < 1.3 and prot / pi > 3


def test_electron_resolution_is_six_percent(ref):
    table = ref.generate(4000, species="e-", seed=3)
    r = table["dedx"] / ref.expected_dedx(table["p"] / M_E) - 1
    assert abs(np.median(r)) < 0.01
    assert 0.052 < _robust_sigma(r) < 0.068
    assert 33 < table["nhits"].mean() < 41


def test_resolution_scaling_with_nhits_and_theta(ref):
    widths = []
    for n in (10, 40):
        d = ref.simulate(_fixed("pi+", 0.5, np.pi / 2, n, 4000), seed=n)
        r = d / ref.expected_dedx(0.5 / HYPOTHESIS_MASS["pi"]) - 1
        assert abs(r.mean()) < 0.005  # calibrated: unbiased for any nHits
        assert np.std(r) == pytest.approx(ref.resolution(n, np.pi / 2), rel=0.1)
        widths.append(np.std(r))
    exponent = np.log(widths[0] / widths[1]) / np.log(4)
    assert 0.5 <= exponent <= 0.95
    assert ref.resolution(38, 0.5) < 0.9 * ref.resolution(38, np.pi / 2)


def test_generate_table_and_kinematics(ref):
    table = ref.generate(300, seed=5)
    assert list(table.columns) == ["species", "p", "theta", "nhits", "dedx"]
    assert len(table) == 6 * 300
    validate_tracks(table)
    assert table["nhits"].min() >= 5 and table["nhits"].max() <= 43
    assert np.all(np.abs(np.cos(table["theta"])) < 0.93)
    assert table["p"].between(0.1, 2.0).all()
    assert table["nhits"].dtype == np.int64
    # Curling (low p_T) and the endplates (forward) reduce the layers crossed.
    crossed = ref.layers_crossed(np.array([1.0, 0.06, 1.0]), np.array([np.pi / 2, np.pi / 2, 0.4]))
    assert crossed[0] == 43 and crossed[1] < 25 and crossed[2] < 10


def test_seeds_reproducible_and_different(ref):
    a = ref.generate(200, species=("pi+", "K-"), seed=7)
    b = ref.generate(200, species=("pi+", "K-"), seed=7)
    c = ref.generate(200, species=("pi+", "K-"), seed=8)
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["dedx"], c["dedx"])
    tracks = a.drop(columns="dedx")
    assert np.array_equal(ref.simulate(tracks, seed=1), ref.simulate(tracks, seed=1))
    assert not np.array_equal(ref.simulate(tracks, seed=1), ref.simulate(tracks, seed=2))


def test_chunking_does_not_change_results():
    tracks = DedxReference().sample_kinematics("p", 500, seed=2)
    small = DedxReference(DedxReferenceConfig(chunk_size=64))
    out = small.simulate(tracks, seed=4)
    assert out.shape == (500,) and np.all(np.isfinite(out)) and np.all(out > 0)


def test_generator_bad_arguments(ref):
    with pytest.raises(ValueError, match="species"):
        ref.generate(10, species="muon")
    with pytest.raises(ValueError, match="n"):
        ref.generate(0)
    with pytest.raises(ValueError, match="n"):
        ref.sample_kinematics("pi+", -1, seed=0)
    with pytest.raises(ValueError, match="seed"):
        ref.generate(10, seed="abc")
    with pytest.raises(ValueError, match="hit_efficiency"):
        DedxReferenceConfig(hit_efficiency=1.5)
    with pytest.raises(ValueError, match="nhits"):
        ref.resolution(0, 1.0)
    with pytest.raises(ValueError):
        ref.simulate(pd.DataFrame({"species": ["pi+"], "p": [-1.0], "theta": [1.0], "nhits": [10]}))
