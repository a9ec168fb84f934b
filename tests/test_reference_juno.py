"""Tests of the JUNO reference optical Monte Carlo (keras_fastsim.reference.juno)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from keras_fastsim.reference.juno import (
    C_M_PER_NS,
    JunoOpticalSimulator,
    JunoOpticsConfig,
    first_hit_times,
    fresnel_reflectance,
    juno_pmt_positions,
    juno_pmt_types,
    make_training_samples,
    muon_energy_spectrum_mean,
    sample_muon_tracks,
    shell_exit_probability,
)


@pytest.fixture(scope="module")
def sim():
    return JunoOpticalSimulator()


@pytest.fixture(scope="module")
def sim_no_tts():
    return JunoOpticalSimulator(
        JunoOpticsConfig(tts_sigma_hamamatsu_ns=0.0, tts_sigma_nnvt_ns=0.0)
    )


def _theta_profile(sim, npe, edges):
    theta = np.arccos(np.clip(sim.pmt_unit[:, 2], -1, 1))
    return np.histogram(theta, edges, weights=npe)[0] / np.histogram(theta, edges)[0]


# ------------------------------------------------------------------ geometry


def test_pmt_positions_fibonacci_sphere(sim):
    pos = juno_pmt_positions()
    assert pos.shape == (17612, 3)
    np.testing.assert_allclose(np.linalg.norm(pos, axis=1), 19.5)
    # quasi-uniform: the centroid is at the origin, every octant has ~1/8 of the PMTs
    np.testing.assert_allclose(pos.mean(axis=0), 0.0, atol=0.01)
    octant = (pos[:, 0] > 0) * 4 + (pos[:, 1] > 0) * 2 + (pos[:, 2] > 0)
    counts = np.bincount(octant, minlength=8)
    assert np.all(np.abs(counts - 17612 / 8) < 0.01 * 17612 / 8)
    # 20-inch cathodes (r = 0.254 m) barely overlap: nearest neighbours ~0.45-0.5 m apart
    from scipy.spatial import cKDTree

    d, _ = cKDTree(pos).query(pos, k=2)
    assert d[:, 1].min() > 0.4 and 0.45 < np.median(d[:, 1]) < 0.56
    assert 0.70 < sim.geometric_coverage(n_points=100_000) < 0.78
    types = juno_pmt_types()
    assert types.sum() == 5000 and np.array_equal(types, juno_pmt_types())


def test_fresnel_and_total_internal_reflection():
    cfg = JunoOpticsConfig()
    # normal incidence: ((n1 - n2) / (n1 + n2))^2 for both polarisations
    rs, rp = fresnel_reflectance(1.0, cfg.n_acrylic, cfg.n_water)
    expected = ((cfg.n_acrylic - cfg.n_water) / (cfg.n_acrylic + cfg.n_water)) ** 2
    np.testing.assert_allclose([rs, rp], expected, rtol=1e-12)
    # beyond the critical angle acrylic -> water everything is reflected
    crit = np.arcsin(cfg.n_water / cfg.n_acrylic)
    rs, rp = fresnel_reflectance(np.cos([crit + 0.01, crit + 0.3]), cfg.n_acrylic, cfg.n_water)
    np.testing.assert_array_equal(rs, 1.0)
    np.testing.assert_array_equal(rp, 1.0)
    rs, rp = fresnel_reflectance(np.cos(crit - 0.05), cfg.n_acrylic, cfg.n_water)
    assert rs < 1 and rp < rs  # p-polarisation reflects less (Brewster side)
    # the shell: photons with impact parameter above n_w R2 / n_ls are trapped
    b_crit = cfg.trapping_impact_parameter_m
    assert 15.8 < b_crit < 16.3
    b = np.array([0.0, 8.0, b_crit - 0.05, b_crit + 0.05, 17.6])
    cos_i = np.sqrt(1 - (b / cfg.ls_radius_m) ** 2)
    p = shell_exit_probability(cos_i, cfg)
    assert 0.9 < p[0] < 1.0 and 0.9 < p[1] < 1.0
    assert p[2] > 0.0
    np.testing.assert_array_equal(p[3:], 0.0)


# ------------------------------------------------------------------ light yield and shape


def test_pe_per_mev_at_centre(sim):
    npe, (pmt, t) = sim.simulate_deposit([0.0, 0.0, 0.0], 5.0, seed=11)
    pe_per_mev = npe.sum() / 5.0
    assert 1300 < pe_per_mev < 1600
    assert len(pmt) == len(t) == npe.sum()
    assert np.array_equal(np.bincount(pmt, minlength=sim.n_pmt), npe)
    assert sim.last_stats["killed"] == 0


def test_central_deposit_isotropic(sim):
    npe, _ = sim.simulate_deposit([0.0, 0.0, 0.0], 20.0, seed=5)
    pos = sim.pmt_positions
    octant = (pos[:, 0] > 0) * 4 + (pos[:, 1] > 0) * 2 + (pos[:, 2] > 0)
    per_octant = np.bincount(octant, weights=npe, minlength=8)
    assert np.all(np.abs(per_octant / per_octant.mean() - 1) < 0.06)
    # per-PMT counts are Poisson around a common mean: variance / mean ~ 1
    dispersion = npe.var() / npe.mean()
    assert 0.9 < dispersion < 1.1


def test_off_centre_near_pmts_see_more_light(sim):
    npe, (pmt, t) = sim.simulate_deposit([0.0, 0.0, 10.0], 20.0, seed=6)
    profile = _theta_profile(sim, npe, np.array([0.0, 0.5, 1.0, 1.5, 2.0, 2.5, np.pi]))
    assert np.all(np.diff(profile) < 0), profile
    assert profile[0] > 3 * profile[-1]


def test_hit_times_respect_time_of_flight(sim_no_tts, sim):
    cfg = sim_no_tts.config
    v_ls, v_ac, v_w = (C_M_PER_NS / n for n in (cfg.ng_ls, cfg.ng_acrylic, cfg.ng_water))
    water = cfg.pmt_radius_m - cfg.acrylic_outer_radius_m
    for r in (0.0, 10.0):
        # the radial path is the fastest way to the PMT sphere (it is the shortest in every shell)
        t_min = (cfg.ls_radius_m - r) / v_ls + cfg.acrylic_thickness_m / v_ac + water / v_w
        npe, (pmt, t) = sim_no_tts.simulate_deposit([0.0, 0.0, r], 5.0, seed=7)
        assert t.min() >= t_min - 1e-9
        assert t.min() < t_min + 2.0  # with thousands of p.e. some come out promptly
    # a central deposit: all PMTs are equally far; the spread is the LS time profile
    npe, (pmt, t) = sim_no_tts.simulate_deposit([0.0, 0.0, 0.0], 5.0, seed=8)
    assert 100.0 < np.median(t) < 120.0
    # off centre: first hits arrive earlier on the near side
    npe, (pmt, t) = sim_no_tts.simulate_deposit([0.0, 0.0, 12.0], 10.0, seed=9)
    theta = np.arccos(sim_no_tts.pmt_unit[pmt, 2])
    assert np.median(t[theta < 0.4]) + 40 < np.median(t[theta > 2.6])
    # the transit-time spread broadens the earliest hits but not beyond a few sigma
    npe, (pmt, t2) = sim.simulate_deposit([0.0, 0.0, 0.0], 5.0, seed=8)
    t_centre = cfg.ls_radius_m / v_ls + cfg.acrylic_thickness_m / v_ac + water / v_w
    assert t_centre - 6 * sim.config.tts_sigma_nnvt_ns < t2.min() < t_centre
    first = first_hit_times(pmt, t2, sim.n_pmt)
    assert np.all(np.isnan(first) == (npe == 0))


def test_total_internal_reflection_traps_light_near_the_wall():
    base = JunoOpticsConfig()
    # index-matched detector: no refraction, no Fresnel, no total internal reflection
    matched = dataclasses.replace(
        base, n_acrylic=base.n_ls, n_water=base.n_ls, ng_acrylic=base.ng_ls, ng_water=base.ng_ls
    )
    edges = np.array([0.0, 0.15, 0.3, 0.6, 1.0, np.pi])
    res = {}
    for name, cfg in (("base", base), ("matched", matched)):
        sim = JunoOpticalSimulator(cfg)
        for r in (10.0, 17.3):
            npe, _ = sim.simulate_deposit([0.0, 0.0, r], 10.0, seed=3)
            res[name, r] = (npe.sum(), _theta_profile(sim, npe, edges))
    # far from the wall the interfaces cost only a few per cent (Fresnel)
    assert 0.93 < res["base", 10.0][0] / res["matched", 10.0][0] < 1.03
    # at R = 17.3 m the PMTs at 0.3-0.6 rad are reached directly only beyond the critical angle:
    # their light is trapped (and leaks out later via scattering), unlike the near pole
    ratio = res["base", 17.3][1] / res["matched", 17.3][1]
    assert ratio[2] < 0.6, ratio
    assert ratio[0] > 0.7, ratio
    assert res["base", 17.3][0] < 0.95 * res["matched", 17.3][0]


# ------------------------------------------------------------------ seeds and chunking


def test_seed_reproducible_and_chunk_independent():
    sim = JunoOpticalSimulator(JunoOpticsConfig(rng_block_size=1024))
    args = ([3.0, -4.0, 9.0], 2.0)
    a = sim.simulate_deposit(*args, seed=21, chunk_size=10**6)
    b = sim.simulate_deposit(*args, seed=21, chunk_size=10**6)
    c = sim.simulate_deposit(*args, seed=21, chunk_size=1000)  # rounded up to one block
    d = sim.simulate_deposit(*args, seed=22)
    for other in (b, c):
        np.testing.assert_array_equal(a[0], other[0])
        np.testing.assert_array_equal(a[1][0], other[1][0])
        np.testing.assert_array_equal(a[1][1], other[1][1])
    assert not np.array_equal(a[0], d[0])
    # keep_hits=False gives the same counts and first hits in bounded memory
    npe, hits, first = sim.simulate_track(
        np.array([args[0]]), np.array([2.0]), seed=21, chunk_size=3000, keep_hits=False
    )
    np.testing.assert_array_equal(npe, a[0])
    assert len(hits[0]) == 0
    np.testing.assert_array_equal(first, first_hit_times(a[1][0], a[1][1], sim.n_pmt))
    seq = np.random.SeedSequence(21)
    np.testing.assert_array_equal(sim.simulate_deposit(*args, seed=seq)[0], a[0])


def test_track_sums_deposits(sim):
    points = np.array([[0.0, 0.0, -1.0], [0.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    energies = np.array([1.0, 1.0, 1.0])
    times = np.array([0.0, 1.0 / C_M_PER_NS, 2.0 / C_M_PER_NS])
    npe, (pmt, t), first = sim.simulate_track(points, energies, seed=4, times=times)
    assert 3 * 1300 < npe.sum() < 3 * 1600
    assert sim.last_stats["photons"] > 25_000
    np.testing.assert_array_equal(first, first_hit_times(pmt, t, sim.n_pmt))
    # the late deposit shifts the time distribution: later than a single deposit at t = 0
    _, (_, t0) = sim.simulate_deposit([0.0, 0.0, 0.0], 3.0, seed=4)
    assert np.median(t) > np.median(t0)


# ------------------------------------------------------------------ muons and training data


def test_sample_muon_tracks():
    assert abs(muon_energy_spectrum_mean() - 215.0) < 1.0
    tracks = sample_muon_tracks(4000, seed=1, step_m=0.5)
    energy = np.array([tr.energy_gev for tr in tracks])
    assert 190 < energy.mean() < 240 and energy.min() >= 0
    cos_zenith = np.array([-tr.direction[2] for tr in tracks])
    assert np.all(cos_zenith >= 0)
    assert abs(cos_zenith.mean() - 0.75) < 0.02  # cos^2 intensity: <cos> = 3/4
    lengths = np.array([tr.length_m for tr in tracks])
    assert lengths.max() <= 2 * 17.7 + 1e-9
    assert abs(lengths.mean() - 4 / 3 * 17.7) < 0.5  # mean chord of a sphere, uniform disc
    tr = sample_muon_tracks(1, seed=2)[0]  # default 1 cm steps, 0.2 MeV/mm
    assert np.all(np.linalg.norm(tr.points, axis=1) <= 17.7)
    np.testing.assert_allclose(tr.energies_mev.sum(), 200.0 * tr.length_m, rtol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(tr.entry), 17.7)
    np.testing.assert_allclose(np.linalg.norm(tr.exit), 17.7)
    assert np.all(np.diff(tr.times_ns) > 0)
    t2 = sample_muon_tracks(1, seed=2)[0]
    np.testing.assert_array_equal(tr.points, t2.points)


def test_make_training_samples(sim):
    samples = make_training_samples(2, seed=3, energy_mev=0.5, simulator=sim)
    npe, time = samples.npe, samples.time
    assert list(npe.columns) == ["event", "R", "theta", "npe"]
    assert list(time.columns) == ["event", "R", "theta", "pmt", "t"]
    assert len(npe) == 2 * sim.n_pmt  # zeros included
    assert (npe.npe == 0).mean() > 0.5
    assert npe.npe.sum() == len(time)  # one time row per p.e.
    assert npe.theta.between(0, np.pi).all() and npe.R.between(0, 17.7).all()
    for ev in (0, 1):
        assert npe[npe.event == ev].R.nunique() == 1
    small = make_training_samples(3, seed=3, energy_mev=0.2, simulator=sim, pmt_fraction=0.01,
                                  radius_sampling="radius")
    assert len(small.npe) == 3 * round(0.01 * sim.n_pmt)
    again = make_training_samples(3, seed=3, energy_mev=0.2, simulator=sim, pmt_fraction=0.01,
                                  radius_sampling="radius", progress=True)
    assert small.npe.equals(again.npe) and small.time.equals(again.time)


# ------------------------------------------------------------------ argument checking


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.simulate_deposit([0, 0, 18.0], 1.0, seed=0),
        lambda s: s.simulate_deposit([0, 0], 1.0, seed=0),
        lambda s: s.simulate_deposit([0, 0, 0], -1.0, seed=0),
        lambda s: s.simulate_deposit([0, 0, 0], [1.0, 2.0], seed=0),
        lambda s: s.simulate_deposit([0, 0, 0], float("nan"), seed=0),
        lambda s: s.simulate_deposit([0, 0, 0], 1.0, seed=-3),
        lambda s: s.simulate_deposit([0, 0, 0], 1.0, seed=1.5),
        lambda s: s.simulate_deposit([0, 0, 0], 1.0, seed=0, chunk_size=0),
        lambda s: s.simulate_track(np.zeros((2, 3)), np.ones(3), seed=0),
        lambda s: s.simulate_track(np.zeros((2, 3)), np.ones(2), seed=0, times=np.zeros(3)),
        lambda s: JunoOpticsConfig(quantum_efficiency=1.5),
        lambda s: JunoOpticsConfig(decay_times_ns=(1.0, 2.0), decay_weights=(1.0,)),
        lambda s: JunoOpticsConfig(pmt_radius_m=17.0),
        lambda s: JunoOpticalSimulator(pmt_positions=np.ones((5, 3))),
        lambda s: juno_pmt_positions(0),
        lambda s: sample_muon_tracks(0, seed=1),
        lambda s: sample_muon_tracks(2, seed=1, step_m=-0.1),
        lambda s: make_training_samples(1, seed=1, radius_sampling="cube", simulator=s),
        lambda s: make_training_samples(1, seed=1, pmt_fraction=0.0, simulator=s),
    ],
)
def test_bad_arguments_raise(sim, call):
    with pytest.raises(ValueError, match="Received:"):
        call(sim)
