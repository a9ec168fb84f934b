"""The refracted direct-light table of the JUNO vessel and the ``position_optics`` features."""

import itertools

import keras
import numpy as np
import pytest

from keras_fastsim.models.juno import (
    JunoNpeNet,
    acceptance_factor,
    condition_feature_values,
    export_generator,
)
from keras_fastsim.physics.juno_vessel import (
    VESSEL_OPTICS,
    DirectLightTable,
    vessel_exit_probability,
)

PMT_RADIUS = 19.5


def _refract(d, normal, cos_i, eta):
    """Vector Snell law (``normal`` outward, ``cos_i = d . normal > 0``); NaN rows where trapped."""
    cos_t = np.sqrt(1.0 - eta**2 * (1.0 - cos_i**2))
    return eta * d + (cos_t - eta * cos_i)[:, None] * normal


def _to_sphere(p, d, radius):
    pd = np.einsum("ij,ij->i", p, d)
    s = -pd + np.sqrt(pd**2 - (np.einsum("ij,ij->i", p, p) - radius**2))
    q = p + s[:, None] * d
    return q, q / radius


def _traced_light(radius_m, edges_deg, num_rays=1_000_000, seed=0):
    """Monte Carlo of isotropic rays from ``(0, 0, R)`` traced through the vessel with vectors.

    Returns the light per unit area of the PMT sphere in polar-angle bins, relative to that of a
    deposit at the centre, each ray weighted with its probability to leave the LS.
    """
    opt = VESSEL_OPTICS
    rng = np.random.default_rng(seed)
    d = rng.standard_normal((num_rays, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    p = np.tile([0.0, 0.0, radius_m], (num_rays, 1))
    p1, n1 = _to_sphere(p, d, opt["ls_radius_m"])
    c1 = np.einsum("ij,ij->i", d, n1)
    weight = np.asarray(vessel_exit_probability(c1.astype(np.float32)), np.float64)
    out = weight > 0
    d1 = _refract(d[out], n1[out], c1[out], opt["n_ls"] / opt["n_acrylic"])
    p2, n2 = _to_sphere(p1[out], d1, opt["outer_radius_m"])
    dw = _refract(d1, n2, np.einsum("ij,ij->i", d1, n2), opt["n_acrylic"] / opt["n_water"])
    hit, _ = _to_sphere(p2, dw, PMT_RADIUS)
    theta = np.degrees(np.arccos(np.clip(hit[:, 2] / PMT_RADIUS, -1.0, 1.0)))
    counts, _ = np.histogram(theta, bins=edges_deg, weights=weight[out])
    band = 0.5 * (np.cos(np.radians(edges_deg[:-1])) - np.cos(np.radians(edges_deg[1:])))
    sumw2, _ = np.histogram(theta, bins=edges_deg, weights=weight[out] ** 2)
    return counts / num_rays / band, np.sqrt(sumw2) / num_rays / band


def _table_light(table, radius_m, edges_deg, nodes=400):
    """The table times the straight-line acceptance, averaged over each bin's area."""
    out = []
    for lo, hi in itertools.pairwise(edges_deg):
        cos = np.linspace(np.cos(np.radians(lo)), np.cos(np.radians(hi)), nodes + 1)
        th = np.arccos(0.5 * (cos[1:] + cos[:-1]))[:, None].astype(np.float32)
        r = np.full_like(th, radius_m)
        acc = np.asarray(acceptance_factor(np.concatenate([r, th], axis=1), PMT_RADIUS))
        out.append(float(np.mean(np.asarray(table(r, th)) * acc)))
    return np.array(out)


@pytest.mark.parametrize("radius_m", [12.0, 16.0, 16.3, 17.2])
def test_table_matches_a_vector_ray_trace(radius_m):
    table = DirectLightTable.compute(PMT_RADIUS, pmt_diameter_m=0.0)
    edges = np.arange(0.0, 180.1, 5.0)
    traced, err = _traced_light(radius_m, edges)
    expected = _table_light(table, radius_m, edges)
    tol = 0.02 * expected + 5 * err + 2e-3
    assert np.all(np.abs(traced - expected) < tol), np.column_stack([edges[:-1], traced, expected])
    if radius_m > 16.1:  # trapped rays: a band without direct light
        assert traced.min() < 1e-3 and expected.min() < 1e-3


def test_table_limits_and_shadow():
    # Without index steps the rays are straight and never reflected: exactly the acceptance.
    flat = DirectLightTable.compute(n_ls=1.4, n_acrylic=1.4, n_water=1.4, pmt_diameter_m=0.0, r_step_m=0.5)
    np.testing.assert_allclose(flat.values, 1.0, atol=3e-3)
    table = DirectLightTable.compute()
    assert table.values.shape == (355, 721) and table.values.dtype == np.float32
    # At the centre every direction meets the vessel head-on.
    np.testing.assert_allclose(table.values[0], float(vessel_exit_probability(np.float32(1.0))), rtol=1e-3)
    th = np.radians(np.arange(0.0, 180.0, 1.0))[:, None].astype(np.float32)
    at = {r: np.asarray(table(np.full_like(th, r), th))[:, 0] for r in (15.0, 16.3)}
    assert at[15.0].min() > 0.3
    assert np.all(at[16.3][42:54] < 0.01) and at[16.3][60] > 1.0  # shadow, then the rays piled up
    # Finite everywhere: the fold caustic at the shadow's far edge is averaged over a PMT (~1.5 deg).
    assert np.all(np.isfinite(table.values)) and table.values.min() >= 0 and table.values.max() < 5


def test_table_interpolation_is_bilinear():
    table = DirectLightTable.compute(r_step_m=0.5, theta_step_deg=2.0, num_rays=400)
    i, j = np.array([3, 20, 35]), np.array([0, 40, 90])
    r, th = (i * table.r_step_m)[:, None], (j * table.theta_step)[:, None]
    np.testing.assert_allclose(np.asarray(table(r, th))[:, 0], table.values[i, j], rtol=1e-5)
    mid = np.asarray(table(r[:2] + 0.5 * table.r_step_m, th[:2] + 0.5 * table.theta_step))[:, 0]
    corners = [table.values[i[:2] + a, j[:2] + b] for a in (0, 1) for b in (0, 1)]
    np.testing.assert_allclose(mid, np.mean(corners, axis=0), rtol=1e-5)
    # Outside the grid (R_LS + 1 mm, theta = pi + 1e-4) it holds the edge value.
    edge = np.asarray(table(np.array([[17.701]]), np.array([[np.pi + 1e-4]])))[0, 0]
    assert edge == pytest.approx(table.values[-1, -1], rel=1e-5)


@pytest.mark.parametrize(
    "kwargs, match",
    [({"r_step_m": 0.0}, "steps"), ({"theta_step_deg": -1.0}, "steps"), ({"num_rays": 10}, "num_rays"),
     ({"pmt_diameter_m": -0.1}, "pmt_diameter_m"), ({"pmt_radius_m": 17.0}, "pmt_radius_m")],
)
def test_table_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DirectLightTable.compute(**kwargs)


def test_position_optics_net_round_trips(tmp_path):
    rng = np.random.default_rng(2)
    cond = np.column_stack([17.7 * rng.random(3000) ** (1 / 3), np.pi * rng.random(3000)]).astype(np.float32)
    feats = np.asarray(condition_feature_values(cond, "position_optics", PMT_RADIUS))
    assert feats.shape == (3000, 7) and np.all(np.isfinite(feats))
    np.testing.assert_allclose(feats[:, :6], np.asarray(condition_feature_values(cond, "position_vessel", PMT_RADIUS)))
    np.testing.assert_allclose(feats[:, 6], np.asarray(DirectLightTable.compute()(cond[:, :1], cond[:, 1:]))[:, 0])
    net = JunoNpeNet(units=8, num_layers=1, condition_features="position_optics", output_prior="acceptance")
    net.adapt(cond)
    x = np.column_stack([cond[:200], rng.standard_normal(200)]).astype(np.float32)
    before = np.asarray(net(x))
    assert net.hidden[0].kernel.shape == (8, 8)
    net.save(tmp_path / "npe.keras")
    loaded = keras.models.load_model(tmp_path / "npe.keras")
    assert loaded.hyperparameters()["condition_features"] == "position_optics"
    np.testing.assert_array_equal(np.asarray(loaded(x)), before)
    # The table is a constant of the exported graph (float32 sums in another order: 1e-4).
    import tensorflow as tf

    served = tf.saved_model.load(str(export_generator(net, tmp_path / "npe_saved")))
    np.testing.assert_allclose(served.serve(tf.constant(x)).numpy(), before, rtol=1e-4, atol=1e-6)


def test_direct_light_figure(tmp_path):
    from keras_fastsim.plotting.juno import plot_direct_light

    table = DirectLightTable.compute(r_step_m=0.1, theta_step_deg=0.5, num_rays=2000)
    rng = np.random.default_rng(4)
    r, th = rng.uniform(14.0, 17.7, 20000), rng.uniform(0.0, np.pi / 2, 20000)
    cond = np.column_stack([r, th]).astype(np.float32)
    npe = rng.poisson(0.2 * np.asarray(acceptance_factor(cond))[:, 0] * np.asarray(table(cond[:, :1], cond[:, 1:]))[:, 0])
    path = plot_direct_light(table, tmp_path / "direct_light.png", rows=(r, th, npe))
    assert path.exists() and path.stat().st_size > 20_000
    assert plot_direct_light(table, tmp_path / "table_only.png").exists()
    with pytest.raises(ValueError, match="one length"):
        plot_direct_light(table, tmp_path / "bad.png", rows=(r, th, npe[:-1]))
