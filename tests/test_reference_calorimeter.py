"""Physics of the GFLASH-style reference showers (BESIII EMC, CEPC ECAL)."""

from __future__ import annotations

import tracemalloc
import warnings

import numpy as np
import pytest

from keras_fastsim.reference.calorimeter import (
    BESIII_CONDITION_COLUMNS,
    CEPC_CONDITION_COLUMNS,
    CSI,
    CalorimeterGeometry,
    ShowerSimulator,
    Spots,
    besiii_emc_conditions,
    besiii_emc_geometry,
    cepc_ecal_geometry,
    direction_from_angles,
    generate_besiii_emc,
    generate_cepc_ecal,
    simulate_besiii_emc,
)


@pytest.fixture(scope="module")
def besiii():
    return ShowerSimulator(besiii_emc_geometry())


@pytest.fixture(scope="module")
def cepc():
    return ShowerSimulator(cepc_ecal_geometry())


def _centroid(cells, axis):
    """Energy-weighted cell index along ``axis`` (1 = u, 2 = v) of (n, n_u, n_v, n_l)."""
    other = tuple(a for a in (1, 2, 3) if a != axis)
    profile = cells.sum(axis=other)
    idx = np.arange(profile.shape[1])
    return (profile * idx).sum(1) / profile.sum(1)


# --- geometry ---------------------------------------------------------------------------


def test_geometries_match_the_detectors():
    b = besiii_emc_geometry()
    assert b.grid == (11, 11, 1)
    assert b.depth_x0 == pytest.approx(28.0 / 1.86)
    assert b.x0_cm == pytest.approx(1.86) and b.moliere_cm == pytest.approx(3.57)
    assert not b.is_sampling

    c = cepc_ecal_geometry()
    assert c.grid == (30, 30, 29) and c.n_layers == 29 and c.is_sampling
    assert 21.0 < c.depth_x0 < 25.0          # ~23 X0 of CEPC_v4
    assert 15.0 < c.depth_cm < 18.0          # 1850 -> 2018 mm in the CEPC_v4 simulation
    thin, thick = c.layer_x0[0], c.layer_x0[-1]
    assert thick == pytest.approx(2 * thin, rel=0.05)   # 2.1 mm vs 4.2 mm W
    assert all(0.01 < f < 0.05 for f in c.sampling_fraction)
    assert c.sampling_fraction[0] > c.sampling_fraction[-1]
    assert 8.0 < c.critical_mev < 10.0 and 60 < c.z_eff < 74

    assert cepc_ecal_geometry((31, 31, 29)).grid == (31, 31, 29)
    with pytest.raises(ValueError, match="layers"):
        cepc_ecal_geometry((30, 30, 30))
    with pytest.raises(ValueError, match="layer_x0"):
        CalorimeterGeometry("bad", (3, 3, 2), (1.0, 1.0), (1.0, 1.0), (1.0,), (1.0, 1.0), 10, 50)


# --- BESIII containment ------------------------------------------------------------------


def test_besiii_containment_at_1p8_gev(besiii):
    cells = besiii.simulate(np.full(600, 1.8), seed=11)[..., 0]
    total = cells.sum((1, 2))
    e5 = cells[:, 3:8, 3:8].sum((1, 2))
    e3 = cells[:, 4:7, 4:7].sum((1, 2))
    assert cells.shape == (600, 11, 11) and cells.dtype == np.float32
    assert (cells >= 0).all()
    # longitudinal leakage behind 15 X0 is a few percent at 1.8 GeV
    assert 0.94 < total.mean() / 1.8 < 0.99
    assert total.max() <= 1.8 * (1 + 1e-5)
    assert 0.015 < total.std() / total.mean() < 0.06
    assert 0.975 < np.mean(e5 / total) < 0.999
    assert 0.93 < np.mean(e3 / total) < 0.99
    assert 0.75 < np.mean(cells[:, 5, 5] / total) < 0.92


def test_moliere_radius_contains_about_90_percent(besiii):
    spots = besiii.sample_spots(np.full(200, 1.8), seed=3)
    inside = (spots.w_x0 >= 0) & (spots.w_x0 < besiii.geometry.depth_x0)
    e = spots.energy[inside]
    r = spots.r_rm[inside]
    assert 0.84 < e[r < 1].sum() / e.sum() < 0.94
    assert e[r < 2].sum() / e.sum() > 0.93
    assert e[r < 3.5].sum() / e.sum() > 0.96


def test_energy_is_conserved_without_leakage():
    big = CalorimeterGeometry(
        "csi_block", (301, 301, 1), (5.0, 5.0), (372.0,), (200.0,), (CSI.moliere_cm,),
        CSI.critical_mev, CSI.z,
    )
    cells = ShowerSimulator(big, block_size=8).simulate([0.5, 1.8, 3.0], seed=0)
    np.testing.assert_allclose(cells.sum((1, 2, 3)), [0.5, 1.8, 3.0], rtol=2e-3)


def test_shower_maximum_moves_like_ln_e(besiii, cepc):
    rng = np.random.default_rng(0)
    energies = np.array([0.5, 5.0, 50.0])
    t_mean = [besiii.profile_parameters(np.full(4000, e), rng)[0].mean() for e in energies]
    slope = np.polyfit(np.log(energies), t_mean, 1)[0]
    assert 0.85 < slope < 1.15                       # T ~ ln y + const
    y = 1.8e3 / besiii.geometry.critical_mev         # GFLASH T_hom = ln y - 0.858
    assert besiii.profile_parameters(np.full(4000, 1.8), rng)[0].mean() == pytest.approx(
        np.log(y) - 0.858, abs=0.3
    )
    # measured in the CEPC layers: the mean shower depth moves by ~ ln(10) X0
    centres = cepc.geometry.layer_centers_x0
    depth = []
    for e in (2.0, 20.0):
        v = cepc.simulate(np.full(150, e), particle="gamma", seed=5)
        prof = v.sum((1, 2))
        depth.append(np.mean(prof @ centres / prof.sum(1)))
    assert 1.8 < depth[1] - depth[0] < 2.8


def test_photons_shower_later_than_electrons(cepc):
    centres = cepc.geometry.layer_centers_x0
    mean = {}
    for particle in ("e-", "gamma"):
        prof = cepc.simulate(np.full(200, 5.0), particle=particle, seed=7).sum((1, 2))
        mean[particle] = np.mean(prof @ centres / prof.sum(1))
    assert 0.7 < mean["gamma"] - mean["e-"] < 1.8     # 9/7 X0 conversion length


def test_tilt_moves_the_centroid(besiii):
    energy = np.full(300, 1.8)
    straight = besiii.simulate(energy, seed=1)
    theta_tilt = besiii.simulate(energy, direction_from_angles(20.0, 0.0), seed=1)
    phi_tilt = besiii.simulate(energy, direction_from_angles(0.0, -20.0), seed=1)
    c0u, c0v = _centroid(straight, 1).mean(), _centroid(straight, 2).mean()
    assert c0u == pytest.approx(5.0, abs=0.05) and c0v == pytest.approx(5.0, abs=0.05)
    # +dTheta points towards -Z (u); the shift is ~ depth * tan(20 deg) / 5.2 cm
    assert _centroid(theta_tilt, 1).mean() < c0u - 0.25
    assert _centroid(theta_tilt, 2).mean() == pytest.approx(c0v, abs=0.05)
    assert _centroid(phi_tilt, 2).mean() < c0v - 0.25
    # an entry offset moves the shower with it
    offset = besiii.simulate(energy, offset=(0.0, 5.2), seed=1)
    assert _centroid(offset, 2).mean() == pytest.approx(c0v + 1.0, abs=0.05)


def test_cepc_oblique_incidence_shifts_along_z(cepc):
    energy = np.full(100, 10.0)
    th = np.radians(50.0)
    oblique = cepc.simulate(energy, (np.cos(th), 0.0, np.sin(th)), particle="gamma", seed=2)
    normal = cepc.simulate(energy, particle="gamma", seed=2)
    # the shower maximum (~8 X0 ~ 6 cm deep) moves by ~ 6 cm * cot(50 deg) ~ 5 cells
    shift = _centroid(oblique, 1).mean() - _centroid(normal, 1).mean()
    assert 3.0 < shift < 8.0


# --- CEPC sampling ----------------------------------------------------------------------


def test_cepc_sampling_resolution(cepc):
    for energy in (2.0, 10.0):
        v = cepc.simulate(np.full(400, energy), particle="gamma", seed=int(energy))
        total = v.sum((1, 2, 3))
        assert 0.95 < total.mean() / energy < 1.0                # calibrated to deposited
        stochastic = total.std() / total.mean() * np.sqrt(energy)
        assert 0.14 < stochastic < 0.19, (energy, stochastic)  # ~16 %/sqrt(E)
    visible = cepc.simulate(np.full(50, 10.0), particle="gamma", seed=1, visible=True)
    fraction = visible.sum((1, 2, 3)).mean() / 10.0
    assert 0.015 < fraction < 0.04                               # 0.5 mm Si in W


def test_homogeneous_has_no_sampling_term(besiii):
    cells = besiii.simulate(np.full(20, 1.8), offset=(0, 0), seed=0)
    with pytest.raises(ValueError, match="sampling"):
        besiii.simulate(np.full(2, 1.8), seed=0, visible=True)
    assert cells.shape == (20, 11, 11, 1)


# --- seeds, memory, inputs -----------------------------------------------------------------


def test_seeds_are_reproducible_and_blocks_independent():
    sim = ShowerSimulator(besiii_emc_geometry(), block_size=16)
    energy = np.linspace(1.0, 2.0, 50)
    a = sim.simulate(energy, seed=42)
    np.testing.assert_array_equal(a, sim.simulate(energy, seed=42))
    assert not np.array_equal(a, sim.simulate(energy, seed=43))
    # the first whole blocks do not depend on what follows
    np.testing.assert_array_equal(a[:32], sim.simulate(energy[:32], seed=42))
    h1, c1 = generate_besiii_emc(40, seed=5)
    h2, c2 = generate_besiii_emc(40, seed=5)
    np.testing.assert_array_equal(h1, h2)
    assert c1.equals(c2)


def test_blocks_stream_and_progress_bar(capsys):
    sim = ShowerSimulator(besiii_emc_geometry(), block_size=16)
    energy = np.full(40, 1.5)
    blocks = list(sim.iter_simulate(energy, seed=9))
    assert [(a, b) for a, b, _ in blocks] == [(0, 16), (16, 32), (32, 40)]
    assert all(c.dtype == np.float32 and c.shape == (b - a, 11, 11, 1) for a, b, c in blocks)
    with_bar = sim.simulate(energy, seed=9, progress=True)
    np.testing.assert_array_equal(np.concatenate([c for *_, c in blocks]), with_bar)
    assert "40/40" in capsys.readouterr().err


def test_memory_is_bounded_by_the_block():
    sim = ShowerSimulator(cepc_ecal_geometry(), block_size=16)

    def peak(n):
        tracemalloc.start()
        try:
            for _ in sim.iter_simulate(np.full(n, 100.0), particle="gamma", seed=0):
                pass
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small, large = peak(32), peak(128)
    assert large < 1.15 * small
    assert large < 60e6   # 16 showers x 4000 spots + 16 x 26100 cells, in bytes


def test_far_tail_spots_are_dropped_without_overflow(besiii):
    # The GFLASH tail radius grows like exp(tau): spots of the far longitudinal tail land at
    # |u| ~ 1e24 cm (seen about once in 20k BESIII showers); they must leak, not wrap.
    n = 4
    spots = Spots(
        shower=np.zeros(n, dtype=np.int64), energy=np.array([0.5, 0.2, 0.2, 0.2]),
        t_x0=np.full(n, 5.0), r_rm=np.ones(n), u=np.array([0.0, 1e24, -1e24, np.nan]),
        v=np.array([0.0, 0.0, 1e30, 0.0]), w_x0=np.full(n, 5.0),
        T=np.array([5.0]), alpha=np.array([3.0]),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cells = besiii._deposit(spots, 1, np.random.default_rng(0), visible=False)
    assert cells.sum() == pytest.approx(0.5, rel=0.05)  # the in-window spot, smeared
    assert cells[0, 5, 5].sum() == cells.sum()

def test_invalid_inputs_are_rejected(besiii):
    with pytest.raises(ValueError, match="energy"):
        besiii.simulate([1.0, -1.0])
    with pytest.raises(ValueError, match="direction"):
        besiii.simulate([1.0], direction=(0.0, 0.0, -1.0))
    with pytest.raises(ValueError, match="particle"):
        besiii.simulate([1.0], particle="pi+")
    with pytest.raises(ValueError):
        ShowerSimulator(besiii_emc_geometry(), max_spots=0)


# --- the training samples ---------------------------------------------------------------


def test_besiii_sample_conditions_and_charge_sign():
    conditions, q = besiii_emc_conditions(2000, seed=1)
    assert list(conditions.columns) == list(BESIII_CONDITION_COLUMNS)
    assert set(np.unique(q)) == {-1.0, 1.0}
    assert np.all((conditions["Z"] < 0) == (q < 0))            # e- at Z < 0, e+ at Z > 0
    assert conditions["Mom"].between(1.0, 2.0).all()
    assert conditions["dZ_Pos"].abs().max() <= 2.6
    assert conditions["dPhi_Pos"].abs().max() <= 2.6
    assert conditions["dTheta_Mom"].abs().max() < 10
    assert conditions["dPhi_Mom"].abs().max() < 20
    assert conditions["Z"].abs().max() < 150                    # |cos theta| < 0.83 at R=94 cm
    # the magnetic field bends e+ and e- opposite ways in phi
    assert conditions["dPhi_Mom"][q > 0].mean() < conditions["dPhi_Mom"][q < 0].mean() - 5
    only_em, q_em = besiii_emc_conditions(100, seed=2, charge="e-", momentum=1.8)
    assert (only_em["Z"] < 0).all() and (q_em == -1).all() and (only_em["Mom"] == 1.8).all()


def test_generate_besiii_emc_layout():
    hits, conditions = generate_besiii_emc(200, seed=3, momentum=1.8)
    assert hits.shape == (200, 11, 11, 1) and hits.dtype == np.float32
    assert len(conditions) == 200
    total = hits.sum((1, 2, 3))
    assert 0.92 < total.mean() / 1.8 < 0.99
    # rows are phi, columns Z (the authors' Barrel_Hit layout): dZ_Pos moves the columns
    col = (hits[..., 0].sum(1) * np.arange(11)).sum(1) / total
    row = (hits[..., 0].sum(2) * np.arange(11)).sum(1) / total
    assert np.corrcoef(col, conditions["dZ_Pos"])[0, 1] > 0.5
    assert np.corrcoef(row, conditions["dPhi_Pos"])[0, 1] > 0.5


def test_simulate_besiii_emc_for_given_conditions():
    hits, conditions = generate_besiii_emc(300, seed=5)
    # generate_besiii_emc is simulate_besiii_emc with the second child of its seed
    _, shower_seed = np.random.SeedSequence(5).spawn(2)
    np.testing.assert_array_equal(simulate_besiii_emc(conditions, shower_seed), hits)
    # extra columns are ignored; another seed gives other showers of the same kind
    other = simulate_besiii_emc(conditions.assign(charge=1.0), seed=6)
    assert other.shape == hits.shape and not np.array_equal(other, hits)
    np.testing.assert_allclose(other.sum((1, 2, 3)).mean(), hits.sum((1, 2, 3)).mean(), rtol=0.01)
    # a wider Moliere radius spreads the shower: less energy in the hit crystal
    wide = simulate_besiii_emc(conditions, seed=6,
                               geometry=besiii_emc_geometry(moliere_cm=1.3 * CSI.moliere_cm))
    assert wide[:, 5, 5].sum() < 0.97 * other[:, 5, 5].sum()
    # more, smaller energy spots: more hit crystals
    fine = simulate_besiii_emc(conditions, seed=6, spot_factor=2.0)
    assert (fine > 0).sum() > 1.2 * (other > 0).sum()
    assert simulate_besiii_emc(conditions.iloc[:0], seed=1).shape == (0, 11, 11, 1)


def test_simulate_besiii_emc_rejects_bad_conditions():
    _, conditions = generate_besiii_emc(20, seed=5)
    with pytest.raises(ValueError, match="lack the columns"):
        simulate_besiii_emc(conditions.drop(columns="dZ_Pos"))
    with pytest.raises(ValueError, match="NaN"):
        simulate_besiii_emc(conditions.assign(Z=np.nan))
    with pytest.raises(ValueError, match="Mom must be > 0"):
        simulate_besiii_emc(conditions.assign(Mom=-1.0))
    with pytest.raises(TypeError, match="DataFrame"):
        simulate_besiii_emc(conditions.to_numpy())
    with pytest.raises(ValueError, match="square window"):
        simulate_besiii_emc(conditions, geometry=cepc_ecal_geometry())
    with pytest.raises(ValueError, match="moliere_cm"):
        besiii_emc_geometry(moliere_cm=0.0)


def test_generate_cepc_ecal_layout():
    voxels, conditions = generate_cepc_ecal(30, seed=4, grid=(31, 31, 29))
    assert voxels.shape == (30, 31, 31, 29) and voxels.dtype == np.float32
    assert list(conditions.columns) == list(CEPC_CONDITION_COLUMNS)
    assert conditions["Mom"].between(1, 100).all()
    assert conditions["theta"].between(50, 140).all()
    assert conditions["phi"].abs().max() <= 15
    assert conditions["dZ_Pos"].abs().max() <= 0.5 and conditions["dY_Pos"].abs().max() <= 0.5
    ratio = voxels.sum((1, 2, 3)) / conditions["Mom"].to_numpy()
    assert 0.85 < ratio.mean() < 1.02
    # theta < 90 deg showers drift to +Z (axis 1) with depth
    early = voxels[..., :5].sum((2, 3))
    late = voxels[..., 12:20].sum((2, 3))
    z = np.arange(31)
    seen = (late.sum(1) > 0) & (early.sum(1) > 0)
    drift = (late[seen] @ z) / late[seen].sum(1) - (early[seen] @ z) / early[seen].sum(1)
    forward = conditions["theta"].to_numpy()[seen] < 80
    backward = conditions["theta"].to_numpy()[seen] > 100
    assert drift[forward].mean() > 1.0 and drift[backward].mean() < -1.0
