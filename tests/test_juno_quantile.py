"""JUNO nets: the quantile (pinball) + mean-term training, position features, R-balanced and near-PMT batches."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_fastsim.models.juno import (
    JunoNpeNet,
    JunoTimeModel,
    JunoTimeNet,
    acceptance_factor,
    condition_feature_values,
)
from keras_fastsim.physics.juno_vessel import (
    VESSEL_OPTICS,
    direct_reflectance,
    reflected_fraction,
    vessel_exit_probability,
)
from keras_fastsim.training.juno import (
    QuantileTrainer,
    _split_events,
    fit_generator,
    pinball_loss,
    pmt_distance,
    poisson_deviance,
    random_batches,
)


# -- the loss terms --------------------------------------------------------------------
def test_pinball_gradient_sign_and_minimiser():
    y = tf.constant(np.random.default_rng(0).exponential(2.0, 20000).astype(np.float32))
    for u in (0.1, 0.5, 0.9):
        g = tf.Variable(1.0)
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(pinball_loss(y, g, u))
        # d/dg E[rho] = F(g) - u: negative where g is below the u-quantile
        q = float(np.quantile(y.numpy(), u))
        assert float(tape.gradient(loss, g)) == pytest.approx(float(np.mean(y.numpy() < 1.0)) - u, abs=1e-3)
        grid = np.linspace(0.0, 8.0, 801).astype(np.float32)
        values = [float(tf.reduce_mean(pinball_loss(y, float(v), u))) for v in grid]
        assert grid[int(np.argmin(values))] == pytest.approx(q, abs=0.02)
    # at y == g the gradient pushes g up (by u): a dead relu output can recover
    g = tf.Variable(0.0)
    with tf.GradientTape() as tape:
        loss = pinball_loss(tf.constant(0.0), g, 0.3)
    assert float(tape.gradient(loss, g)) == pytest.approx(-0.3)


def test_poisson_deviance_gradient_sign_and_minimiser():
    rng = np.random.default_rng(1)
    y = tf.constant(rng.poisson(0.08, 50000).astype(np.float32))
    mean = float(tf.reduce_mean(y))
    for mu0, sign in ((0.04, -1.0), (0.2, 1.0)):
        mu = tf.Variable(mu0)
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(poisson_deviance(y, mu))
        assert np.sign(float(tape.gradient(loss, mu))) == sign
    grid = np.linspace(0.02, 0.2, 181).astype(np.float32)
    values = [float(tf.reduce_mean(poisson_deviance(y, float(v)))) for v in grid]
    assert grid[int(np.argmin(values))] == pytest.approx(mean, abs=0.0011)
    assert float(tf.reduce_min(poisson_deviance(tf.constant([0.0, 2.0]), tf.constant([0.0, 2.0])))) >= -1e-3
    # a noisy unbiased estimate s * X (E X = 1) of the mean: the optimal scale is still E[y]
    x = tf.constant(rng.choice([0.5, 1.5], y.shape[0]).astype(np.float32))
    scales = np.linspace(0.04, 0.12, 161).astype(np.float32)
    values = [float(tf.reduce_mean(poisson_deviance(y, float(v) * x))) for v in scales]
    assert scales[int(np.argmin(values))] == pytest.approx(mean, abs=0.002)


# -- the trainer on toys ---------------------------------------------------------------
def _toy_npe(n, seed):
    rng = np.random.default_rng(seed)
    r = rng.uniform(0, 17, n)
    theta = np.arccos(rng.uniform(-1, 1, n))
    mu = 0.3 + 1.2 * np.exp(-((r / 17.0) * (1 - np.cos(theta))) * 3.0) * (r / 17.0)
    return np.column_stack([r, theta]).astype(np.float32), rng.poisson(mu).astype(np.float32), mu


def test_quantile_trainer_learns_poisson_mean(tmp_path):
    cond, y, mu = _toy_npe(60000, 0)
    keras.utils.set_random_seed(0)
    net = JunoNpeNet(units=32, num_layers=2, condition_features="position")
    net.adapt(cond)
    net.build((None, 3))
    before = net.mean_npe(cond[:3000], num_nodes=16)
    val = np.zeros(len(cond), bool)
    fit_generator(
        net, cond, y, val, tmp_path / "npe", loss="quantile", loss_config=None, output_transform="identity",
        output_weight=1.0, epochs=3, steps_per_epoch=100, validation_steps=1, batch_size=512,
        learning_rate=3e-3, lr_halving_epochs=2, patience=None, strategy="default", jit_compile=False,
        seed=0, verbose=0, num_levels=4, mean_weight=1.0, relu_leak=0.01, r_balance=0.5,
    )
    after = net.mean_npe(cond[:3000], num_nodes=16)
    err_before = np.mean(np.abs(before - mu[:3000]) / mu[:3000])
    err_after = np.mean(np.abs(after - mu[:3000]) / mu[:3000])
    assert err_after < 0.15 < err_before
    # a generator of counts: stochastic rounding of its draws has the mean, and more spread than
    # a noise-free net (Bernoulli, var mu (1 - mu)); short training leaves it below Poisson's mu
    counts = net.sample_counts(np.repeat(cond[:1], 40000, axis=0), seed=3)
    assert counts.mean() == pytest.approx(mu[0], rel=0.15)
    assert 1.2 * mu[0] * (1 - mu[0]) < counts.var() < 1.2 * mu[0]


def test_quantile_trainer_learns_quantile_function(tmp_path):
    rng = np.random.default_rng(2)
    n = 40000
    cond = np.column_stack([rng.uniform(0, 14.9, n), np.arccos(rng.uniform(-1, 1, n))]).astype(np.float32)
    t = (30.0 + 20.0 * cond[:, 1] + rng.exponential(8.0, n)).astype(np.float32)
    keras.utils.set_random_seed(0)
    net = JunoTimeNet(32, 2, condition_features="position")
    net.adapt(cond, t)
    net.build((None, 3))
    fit_generator(
        net, cond, t, np.zeros(n, bool), tmp_path / "time", loss="quantile", loss_config=None,
        output_transform="identity", output_weight=1.0, epochs=4, steps_per_epoch=100, validation_steps=1,
        batch_size=512, learning_rate=3e-3, lr_halving_epochs=2, patience=None, strategy="default",
        jit_compile=False, seed=0, verbose=0, num_levels=2,
    )
    c = np.array([[5.0, 1.0]], np.float32)
    z = np.linspace(-1.5, 1.5, 7).astype(np.float32)
    g = net.generate(np.repeat(c, len(z), axis=0), z)
    assert np.all(np.diff(g) > 0)  # a quantile function: increasing in the noise
    from scipy.stats import norm

    truth = 30.0 + 20.0 + 8.0 * -np.log1p(-norm.cdf(z))
    np.testing.assert_allclose(g, truth, atol=4.0)


def test_relu_leak_keeps_values_and_revives_gradient():
    keras.utils.set_random_seed(0)
    net = JunoNpeNet(units=8, num_layers=1)
    net.adapt(np.array([[1.0, 0.1], [10.0, 2.0]], np.float32))
    net.build((None, 3))
    net.out.bias.assign([-100.0])  # dead output everywhere
    x = tf.constant([[3.0, 0.5]], tf.float32)
    for leak, expect_grad in ((0.0, False), (0.05, True)):
        trainer = QuantileTrainer(net, num_levels=4, mean_weight=1.0, relu_leak=leak)
        trainer.build((None, 2))
        with tf.GradientTape() as tape:
            out = trainer(x, training=True)
            loss = trainer.compute_loss(x, tf.constant([[1.0]]), out)
        np.testing.assert_array_equal(out.numpy()[:, :4], 0.0)
        grad = tape.gradient(loss, net.out.bias)
        assert (grad is not None and float(tf.reduce_sum(tf.abs(grad))) > 0) == expect_grad
    cfg = trainer.get_config()
    again = QuantileTrainer.from_config(cfg)
    assert again.relu_leak == 0.05 and again.num_levels == 4 and again.mean_weight == 1.0


def test_quantile_trainer_rejects_bad_arguments():
    with pytest.raises(ValueError, match="num_levels"):
        QuantileTrainer(JunoTimeNet(8, 1), num_levels=0)
    with pytest.raises(ValueError, match="mean_weight"):
        QuantileTrainer(JunoTimeNet(8, 1), mean_weight=-1.0)
    with pytest.raises(ValueError, match="relu_leak"):
        QuantileTrainer(JunoTimeNet(8, 1), relu_leak=0.1)
    with pytest.raises(ValueError, match="loss_scale"):
        QuantileTrainer(JunoTimeNet(8, 1), loss_scale=0.0)


# -- features and sampling -------------------------------------------------------------
def test_position_features_are_theta_free_at_centre_and_serialise(tmp_path):
    rng = np.random.default_rng(0)
    cond = np.column_stack([rng.uniform(0, 17.7, 500), rng.uniform(0, np.pi, 500)]).astype(np.float32)
    feats = np.asarray(condition_feature_values(cond, "position", 19.5))
    d = np.sqrt(cond[:, 0] ** 2 + 19.5**2 - 2 * 19.5 * cond[:, 0] * np.cos(cond[:, 1]))
    np.testing.assert_allclose(feats[:, 2], d, rtol=1e-5)
    np.testing.assert_allclose(feats[:, 0], cond[:, 0] * np.cos(cond[:, 1]), atol=1e-5)
    net = JunoNpeNet(units=16, num_layers=2, condition_features="position")
    net.adapt(cond)
    net.build((None, 3))
    assert net.hidden[0].kernel.shape == (5, 16)  # 4 position features + noise
    centre = np.column_stack([np.zeros(5), np.linspace(0, np.pi, 5)]).astype(np.float32)
    out = net.generate(centre, np.full(5, 0.7))
    np.testing.assert_allclose(out, out[0], rtol=1e-6)
    net.save(tmp_path / "npe.keras")
    loaded = keras.models.load_model(tmp_path / "npe.keras")
    assert loaded.get_config() == net.get_config()
    np.testing.assert_array_equal(loaded.sample(cond[:20], seed=1), net.sample(cond[:20], seed=1))
    model = JunoTimeModel(8, 1, 8, 1, condition_features="position")
    assert model.near.condition_features == model.far.condition_features == "position"
    assert JunoTimeModel.from_config(model.get_config()).hyperparameters() == model.hyperparameters()
    with pytest.raises(ValueError, match="condition_features"):
        JunoNpeNet(condition_features="xyz")
    with pytest.raises(ValueError, match="pmt_radius_m"):
        JunoTimeNet(condition_features="position", pmt_radius_m=10.0)


def test_acceptance_factor_is_the_relative_projected_solid_angle():
    r_pmt = 19.5
    cond = np.array([[0.0, 0.0], [0.0, 2.0], [15.0, 0.0], [15.0, np.pi], [17.7, 0.0]], np.float32)
    f = np.asarray(acceptance_factor(cond, r_pmt))[:, 0]
    expect = [1.0, 1.0, (r_pmt / (r_pmt - 15.0)) ** 2, (r_pmt / (r_pmt + 15.0)) ** 2, (r_pmt / 1.8) ** 2]
    np.testing.assert_allclose(f, expect, rtol=1e-5)
    # Monte Carlo: isotropic straight lines from the deposit, hits on a small cap of the PMT
    # sphere around the PMT's centre, relative to the same count from the centre.
    rng = np.random.default_rng(5)
    cap = 0.4 / r_pmt  # chord on the unit sphere

    def hits(r, theta, n=4_000_000):
        pos = np.array([r * np.sin(theta), 0.0, r * np.cos(theta)])
        u = rng.normal(size=(n, 3))
        u /= np.linalg.norm(u, axis=1, keepdims=True)
        b = u @ pos
        t = -b + np.sqrt(b * b - (pos @ pos - r_pmt**2))
        h = (pos + t[:, None] * u) / r_pmt
        return np.count_nonzero(np.linalg.norm(h - [0.0, 0.0, 1.0], axis=1) < cap)

    centre = hits(0.0, 0.0)
    for r, theta in ((12.0, 0.3), (16.0, 0.15)):
        mc = hits(r, theta) / centre
        exact = float(np.asarray(acceptance_factor(np.array([[r, theta]], np.float32), r_pmt))[0, 0])
        assert mc == pytest.approx(exact, rel=0.1), (r, theta, mc, exact)


def test_npe_output_prior_scales_the_relu_output_and_serialises(tmp_path):
    rng = np.random.default_rng(1)
    cond = np.column_stack([rng.uniform(0, 17.7, 300), rng.uniform(0, np.pi, 300)]).astype(np.float32)
    keras.utils.set_random_seed(0)
    plain = JunoNpeNet(units=16, num_layers=2, condition_features="position")
    prior = JunoNpeNet(units=16, num_layers=2, condition_features="position", output_prior="acceptance")
    for net in (plain, prior):
        net.adapt(cond)
        net.build((None, 3))
    prior.set_weights(plain.get_weights())
    x = np.column_stack([cond, rng.standard_normal(300)]).astype(np.float32)
    factor = np.asarray(acceptance_factor(cond))
    np.testing.assert_allclose(np.asarray(prior(x)), np.asarray(plain(x)) * factor, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(np.asarray(prior(x)), np.maximum(np.asarray(prior.npe_preactivation(x)), 0.0),
                               rtol=1e-6, atol=1e-7)
    prior.save(tmp_path / "npe.keras")
    loaded = keras.models.load_model(tmp_path / "npe.keras")
    assert loaded.output_prior == "acceptance" and loaded.get_config() == prior.get_config()
    np.testing.assert_array_equal(loaded.mean_npe(cond[:20]), prior.mean_npe(cond[:20]))
    with pytest.raises(ValueError, match="output_prior"):
        JunoNpeNet(output_prior="solid")


def test_vessel_reflection_matches_reference_optics():
    from keras_fastsim.reference.juno import JunoOpticsConfig, shell_exit_probability

    cfg = JunoOpticsConfig()
    assert VESSEL_OPTICS == {"n_ls": cfg.n_ls, "n_acrylic": cfg.n_acrylic, "n_water": cfg.n_water,
                             "ls_radius_m": cfg.ls_radius_m, "outer_radius_m": cfg.acrylic_outer_radius_m}
    cos_i = np.linspace(0.0, 1.0, 5001)
    np.testing.assert_allclose(np.asarray(vessel_exit_probability(cos_i)), shell_exit_probability(cos_i), atol=5e-4)
    # Isotropic average by Monte Carlo with the reference's numpy optics: deposit on the z axis.
    rng = np.random.default_rng(3)
    u = rng.standard_normal((400000, 3))
    sin_psi = np.sqrt(1.0 - (u[:, 2] / np.linalg.norm(u, axis=1)) ** 2)
    radii = np.array([[0.0], [15.0], [16.0], [16.1], [17.5]], np.float32)
    frac = np.asarray(reflected_fraction(radii))[:, 0]
    for radius, value in zip(radii[:, 0], frac):
        cos_i = np.sqrt(1.0 - (radius * sin_psi / cfg.ls_radius_m) ** 2)
        assert value == pytest.approx(1.0 - shell_exit_probability(cos_i).mean(), abs=3e-3)
    assert np.all(np.diff(frac) > 0) and frac[2] > 3 * frac[1]  # steep rise around 16 m
    # Direct reflectance: the line to the PMT; beyond b_t = n_water R_outer / n_LS it is 1 (trapped).
    r, th = np.array([[16.0], [17.5], [17.5]], np.float32), np.array([[3.0], [0.62], [3.0]], np.float32)
    d = np.sqrt(r**2 + 19.5**2 - 2 * 19.5 * r * np.cos(th))
    impact = r * 19.5 * np.sin(th) / d
    expected = 1.0 - shell_exit_probability(np.sqrt(1.0 - (impact / cfg.ls_radius_m) ** 2))
    np.testing.assert_allclose(np.asarray(direct_reflectance(r, th)), expected, atol=5e-4)
    assert impact[1, 0] > cfg.trapping_impact_parameter_m and expected[1, 0] == 1.0


def test_vessel_features_on_the_far_net_only(tmp_path):
    rng = np.random.default_rng(1)
    cond = np.column_stack([rng.uniform(0, 17.7, 2000), rng.uniform(0, np.pi, 2000)]).astype(np.float32)
    feats = np.asarray(condition_feature_values(cond, "position_vessel", 19.5))
    assert feats.shape == (2000, 6) and np.all(np.isfinite(feats))
    np.testing.assert_allclose(feats[:, :4], np.asarray(condition_feature_values(cond, "position", 19.5)))
    assert np.all((feats[:, 4:] >= 0) & (feats[:, 4:] <= 1))
    model = JunoTimeModel(near_units=8, near_layers=1, far_units=8, far_layers=1, condition_features="position",
                          far_condition_features="position_vessel")
    model.adapt(cond, rng.exponential(100.0, len(cond)))
    model.build((None, 3))
    assert (model.near.condition_features, model.far.condition_features) == ("position", "position_vessel")
    assert model.near.hidden[0].kernel.shape == (5, 8) and model.far.hidden[0].kernel.shape == (7, 8)
    model.save(tmp_path / "time.keras")
    loaded = keras.models.load_model(tmp_path / "time.keras")
    assert loaded.hyperparameters() == model.hyperparameters()
    np.testing.assert_array_equal(loaded.sample(cond[:50], seed=2), model.sample(cond[:50], seed=2))
    assert JunoTimeModel().far.condition_features == "r_theta"  # None: the same as condition_features
    with pytest.raises(ValueError, match="condition_features"):
        JunoTimeModel(far_condition_features="vessel")


def _fit_two_sample(cond, y, **batches):
    """One tiny MMD (two-sample) fit: the batch options of the quantile loss must be refused."""
    return fit_generator(JunoTimeNet(8, 1), cond, y, _split_events(np.arange(len(cond)) // 10, 0.1, 0),
                         "unused", loss="mmd", loss_config=None, output_transform="identity",
                         output_weight=1.0, epochs=1, steps_per_epoch=1, validation_steps=1, batch_size=64,
                         learning_rate=1e-3, lr_halving_epochs=1, patience=None, strategy="default",
                         jit_compile=False, seed=0, verbose=0, **batches)


def test_r_balance_flattens_radius_distribution():
    rng = np.random.default_rng(0)
    r = (17.5 * np.cbrt(rng.random(100000))).astype(np.float32)  # volume-like: few rows at small R
    cond = np.column_stack([r, rng.uniform(0, np.pi, len(r))]).astype(np.float32)
    y = np.arange(len(r), dtype=np.float32)  # row id, to check the pairing of x and y
    frac = {}
    for balance in (0.0, 1.0):
        x, yy = next(iter(random_batches(cond, y, 20000, 1, seed=3, paired=False, r_balance=balance)))
        x, yy = x.numpy(), yy.numpy()[:, 0].astype(np.int64)
        np.testing.assert_array_equal(x, cond[yy])
        frac[balance] = float(np.mean(x[:, 0] < 3.5))
    assert frac[0.0] == pytest.approx((3.5 / 17.5) ** 3, abs=0.01)
    assert frac[1.0] == pytest.approx(0.2, abs=0.02)  # 7 of 35 equally likely bins
    with pytest.raises(ValueError, match="r_balance"):
        random_batches(cond, y, 10, 1, seed=0, r_balance=1.5)
    with pytest.raises(ValueError, match="r_balance"):
        _fit_two_sample(cond, y, r_balance=0.5)


def test_near_fraction_fills_batches_with_near_pmt_rows():
    rng = np.random.default_rng(1)
    r = (17.5 * np.cbrt(rng.random(100000))).astype(np.float32)
    cond = np.column_stack([r, np.arccos(rng.uniform(-1, 1, len(r)))]).astype(np.float32)
    y = np.arange(len(r), dtype=np.float32)
    dist = pmt_distance(cond)
    np.testing.assert_allclose(dist[:50], np.asarray(condition_feature_values(cond[:50], "position"))[:, 2],
                               rtol=1e-5)
    near = dist < 10.0
    assert 0.0 < near.mean() < 0.05  # rare: PMTs within ~30 deg of a deposit near the wall
    plain = random_batches(cond, y, 4000, 2, seed=5, paired=False, r_balance=0.5)
    off = random_batches(cond, y, 4000, 2, seed=5, paired=False, r_balance=0.5, near_fraction=0.0)
    for (xa, ya), (xb, yb) in zip(plain, off):  # near_fraction=0: the same batches as without it
        np.testing.assert_array_equal(ya.numpy(), yb.numpy())
    batches = [b for b in random_batches(cond, y, 4000, 2, seed=5, paired=False, r_balance=0.5,
                                         near_fraction=0.25, near_distance_m=10.0)]
    x, yy = batches[0][0].numpy(), batches[0][1].numpy()[:, 0].astype(np.int64)
    np.testing.assert_array_equal(x, cond[yy])
    assert near[yy[:1000]].all()  # the first round(0.25 * B) rows are near-PMT rows
    assert near[yy[1000:]].mean() < 0.1  # the rest as without the option
    expected = near.sum() * (1.0 - np.exp(-1000 / near.sum()))  # distinct rows of 1000 uniform draws
    assert len(np.unique(yy[:1000])) > 0.9 * expected  # drawn among all near rows, not a fixed few
    again = next(iter(random_batches(cond, y, 4000, 1, seed=5, paired=False, r_balance=0.5,
                                     near_fraction=0.25, near_distance_m=10.0)))
    np.testing.assert_array_equal(again[1].numpy(), batches[0][1].numpy())  # seeded
    assert not np.array_equal(batches[1][1].numpy(), batches[0][1].numpy())
    for kwargs, match in (({"near_fraction": 1.0}, "near_fraction"), ({"near_fraction": -0.1}, "near_fraction"),
                          ({"near_fraction": 0.1, "near_distance_m": 0.0}, "near_distance_m"),
                          ({"near_fraction": 0.1, "near_distance_m": 1.0}, "closer"),
                          ({"near_fraction": 0.1, "paired": True}, "paired")):
        with pytest.raises(ValueError, match=match):
            random_batches(cond, y, 100, 1, seed=0, **({"paired": False} | kwargs))
    with pytest.raises(ValueError, match="near_fraction"):
        _fit_two_sample(cond, y, near_fraction=0.2)


def test_average_epochs_is_mean_of_last_checkpoints(tmp_path):
    from keras_fastsim.training.juno import average_checkpoint_weights

    rng = np.random.default_rng(4)
    cond = np.column_stack([rng.uniform(0, 14, 4000), rng.uniform(0, np.pi, 4000)]).astype(np.float32)
    t = (50.0 + 10.0 * cond[:, 1] + rng.exponential(5.0, 4000)).astype(np.float32)
    net = JunoTimeNet(8, 1)
    net.adapt(cond, t)
    net.build((None, 3))
    fit_generator(
        net, cond, t, np.zeros(len(t), bool), tmp_path / "run", loss="quantile", loss_config=None,
        output_transform="identity", output_weight=1.0, epochs=3, steps_per_epoch=5, validation_steps=1,
        batch_size=256, learning_rate=1e-2, lr_halving_epochs=1, patience=None, strategy="default",
        jit_compile=False, seed=0, verbose=0, num_levels=1, average_epochs=2,
    )
    ckpts = [keras.models.load_model(tmp_path / "run" / "checkpoints" / f"epoch_{e:03d}.keras").generator
             for e in (2, 3)]
    for got, a, b in zip(net.get_weights(), ckpts[0].get_weights(), ckpts[1].get_weights()):
        np.testing.assert_allclose(got, 0.5 * (a + b), rtol=1e-6, atol=1e-7)
    assert not np.allclose(np.asarray(net.hidden[0].kernel), np.asarray(ckpts[1].hidden[0].kernel))
    with pytest.raises(ValueError, match="average_epochs"):
        average_checkpoint_weights(net, tmp_path / "run", 4)


def test_ema_momentum_saves_the_moving_average(tmp_path):
    rng = np.random.default_rng(5)
    cond = np.column_stack([rng.uniform(0, 14, 4000), rng.uniform(0, np.pi, 4000)]).astype(np.float32)
    t = (50.0 + 10.0 * cond[:, 1] + rng.exponential(5.0, 4000)).astype(np.float32)
    weights = {}
    for momentum in (None, 0.0, 0.9):
        keras.utils.set_random_seed(0)
        net = JunoTimeNet(8, 1)
        net.adapt(cond, t)
        net.build((None, 3))
        run = tmp_path / f"run_{momentum}"
        fit_generator(
            net, cond, t, np.zeros(len(t), bool), run, loss="quantile", loss_config=None,
            output_transform="identity", output_weight=1.0, epochs=2, steps_per_epoch=10, validation_steps=1,
            batch_size=256, learning_rate=1e-2, lr_halving_epochs=1, patience=None, strategy="default",
            jit_compile=False, seed=0, verbose=0, num_levels=1, ema_momentum=momentum,
        )
        last = keras.models.load_model(run / "checkpoints" / "epoch_002.keras").generator.get_weights()
        weights[momentum] = (net.get_weights(), last)
    for got, last in zip(*weights[None]):  # no EMA: the saved net is the last step's
        np.testing.assert_array_equal(got, last)
    for got, plain in zip(weights[0.0][0], weights[None][0]):  # momentum 0: the average is the last step
        np.testing.assert_allclose(got, plain, rtol=1e-6, atol=1e-7)
    ema, last = weights[0.9]
    differ = [not np.allclose(a, b) for a, b in zip(ema, last)]
    assert sum(differ) == len(net.trainable_weights)  # the saved trainable weights are the average
    for bad, average in ((1.0, 1), (-0.1, 1), (True, 1), (0.99, 3)):
        with pytest.raises(ValueError, match="ema_momentum"):
            fit_generator(
                net, cond, t, np.zeros(len(t), bool), tmp_path / "bad", loss="quantile", loss_config=None,
                output_transform="identity", output_weight=1.0, epochs=1, steps_per_epoch=1, validation_steps=1,
                batch_size=256, learning_rate=1e-2, lr_halving_epochs=1, patience=None, strategy="default",
                jit_compile=False, seed=0, verbose=0, ema_momentum=bad, average_epochs=average,
            )
