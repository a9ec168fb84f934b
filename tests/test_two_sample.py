"""Tests of the two-sample losses (keras_fastsim.losses.two_sample)."""

from __future__ import annotations

import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_fastsim.losses import (
    EnergyLoss,
    MMDLoss,
    SmoothKNNLoss,
    TwoSampleLoss,
    energy_distance,
    get_two_sample_loss,
    mmd_unbiased,
    permutation_null_moments,
    smooth_knn_statistic,
    smooth_knn_weights,
)


# ---------------------------------------------------------------------------------------------
# Straightforward float64 NumPy implementations of the documented formulas
# ---------------------------------------------------------------------------------------------
def np_dist(a, b, norm="l2"):
    diff = a[:, None, :] - b[None, :, :]
    return np.abs(diff).sum(-1) if norm == "l1" else np.sqrt((diff**2).sum(-1))


def np_soft_knn(d, k, alpha):
    """Rows sigmoid(alpha (tau_i - d_ij)) summing to k, tau_i by plain bisection."""
    n = d.shape[0]
    off = ~np.eye(n, dtype=bool)
    w = np.zeros_like(d)
    for i in range(n):
        di = d[i, off[i]]
        lo, hi = di.min() - 50.0 / alpha, di.max() + 50.0 / alpha
        for _ in range(200):
            tau = 0.5 * (lo + hi)
            if (1.0 / (1.0 + np.exp(-alpha * (tau - di)))).sum() < k:
                lo = tau
            else:
                hi = tau
        w[i, off[i]] = 1.0 / (1.0 + np.exp(-alpha * (tau - di)))
    return w


def np_null_moments(a, n1):
    """Raw (uncentred) permutation moments of T = sum_{i<j} a_ij z_ij; a symmetric, 0 diag."""
    n = a.shape[0]
    n2 = n - n1
    p1 = 2.0 * n1 * n2 / (n * (n - 1))
    p2 = n1 * n2 / (n * (n - 1))
    p3 = 4.0 * n1 * (n1 - 1) * n2 * (n2 - 1) / (n * (n - 1) * (n - 2) * (n - 3))
    big_a = a.sum() / 2
    s1 = (a**2).sum() / 2
    s2 = (a.sum(1) ** 2).sum() - 2 * s1
    s3 = big_a**2 - s1 - s2
    mean = p1 * big_a
    var = p1 * s1 + p2 * s2 + p3 * s3 - mean**2
    return mean, var


def np_smooth_knn(x, y, k, alphas, norm="l2", standardize=True, normalize_distances=True):
    z = np.concatenate([x, y]).astype(np.float64)
    n1 = len(x)
    d = np_dist(z, z, norm)
    n = len(z)
    if normalize_distances:
        d = d / (d.sum() / (n * (n - 1)))
    w = np.mean([np_soft_knn(d, k, a) for a in alphas], axis=0)
    a = w + w.T
    t = a[:n1, n1:].sum()
    mean, var = np_null_moments(a, n1)
    return (mean - t) / np.sqrt(var) if standardize else mean - t


def np_mmd(x, y, bandwidths):
    def kern(a, b):
        sq = ((a[:, None] - b[None]) ** 2).sum(-1)
        return np.mean([np.exp(-sq / (2 * s * s)) for s in bandwidths], axis=0)

    n1, n2 = len(x), len(y)
    kxx, kyy = kern(x, x), kern(y, y)
    return (
        (kxx.sum() - np.trace(kxx)) / (n1 * (n1 - 1))
        + (kyy.sum() - np.trace(kyy)) / (n2 * (n2 - 1))
        - 2 * kern(x, y).mean()
    )


def np_energy(x, y, norm="l2"):
    n1, n2 = len(x), len(y)
    return (
        2 * np_dist(x, y, norm).mean()
        - np_dist(x, x, norm).sum() / (n1 * (n1 - 1))
        - np_dist(y, y, norm).sum() / (n2 * (n2 - 1))
    )


# ---------------------------------------------------------------------------------------------
# SmoothKNN
# ---------------------------------------------------------------------------------------------
def test_null_moments_match_exhaustive_permutations(rng):
    """Closed-form moments == exact enumeration of all C(9, 4) labellings of a random graph."""
    n, n1 = 9, 4
    w = rng.uniform(0, 1, size=(n, n))
    np.fill_diagonal(w, 0.0)
    a = w + w.T
    ts = []
    for idx in itertools.combinations(range(n), n1):
        lab = np.zeros(n, bool)
        lab[list(idx)] = True
        ts.append(a[np.ix_(lab, ~lab)].sum())
    ts = np.asarray(ts)
    mean, var = permutation_null_moments(tf.constant(w), n1)
    np.testing.assert_allclose(float(mean), ts.mean(), rtol=1e-10)
    np.testing.assert_allclose(float(var), ts.var(), rtol=1e-8)
    np.testing.assert_allclose(np_null_moments(a, n1), (ts.mean(), ts.var()), rtol=1e-8)


def test_soft_knn_weights_rows_sum_to_k_and_harden(rng):
    z = rng.normal(size=(60, 3)).astype("float32")
    soft, hard = smooth_knn_weights(z, k=4, alphas=(1.0, 1e4))
    soft, hard = np.asarray(soft), np.asarray(hard)
    for w in (soft, hard):
        np.testing.assert_allclose(w.sum(1), 4.0, atol=1e-3)
        assert np.all(np.diag(w) == 0) and w.min() >= 0 and w.max() <= 1
    d = np_dist(z, z)
    np.fill_diagonal(d, np.inf)
    knn = np.zeros_like(d)
    np.put_along_axis(knn, np.argsort(d, 1)[:, :4], 1.0, axis=1)
    # Large alpha: the hard 4-NN graph, except in rows whose 4th and 5th neighbours are nearly
    # tied (within a few 1/alpha of the normalised distance).
    assert np.mean(np.abs(hard - knn).sum(1) < 0.05) > 0.9
    assert np.abs(hard - knn).sum() / knn.sum() < 0.05
    assert soft.max() < 0.9  # small alpha: spread out


@pytest.mark.parametrize("norm", ["l2", "l1"])
def test_smooth_knn_matches_numpy(rng, norm):
    x = rng.normal(size=(13, 2))
    y = rng.normal(0.7, 1.3, size=(11, 2))
    kw = dict(k=3, alphas=(2.0, 15.0), norm=norm)
    want = np_smooth_knn(x, y, **kw)
    got = float(smooth_knn_statistic(x.astype("float32"), y.astype("float32"), **kw))
    np.testing.assert_allclose(got, want, rtol=2e-3, atol=2e-3)
    raw = float(smooth_knn_statistic(x, y, standardize=False, **kw))
    np.testing.assert_allclose(raw, np_smooth_knn(x, y, standardize=False, **kw), rtol=2e-3)


def test_smooth_knn_gradient_matches_finite_differences(rng):
    """Implicit-function gradient (float64) == central differences of the NumPy statistic.

    Distances are not normalised here: the normalisation by the mean distance is deliberately
    gradient-stopped in the implementation, which the NumPy statistic cannot mimic.
    """
    x = rng.normal(size=(10, 2))
    y = rng.normal(0.5, 1.0, size=(9, 2))
    kw = dict(k=3, alphas=(1.0, 6.0), normalize_distances=False)
    yv = tf.Variable(y)
    with tf.GradientTape() as tape:
        value = smooth_knn_statistic(tf.constant(x), yv, **kw)
    grad = tape.gradient(value, yv).numpy()
    eps = 1e-5
    fd = np.zeros_like(y)
    for idx in np.ndindex(*y.shape):
        yp, ym = y.copy(), y.copy()
        yp[idx] += eps
        ym[idx] -= eps
        fd[idx] = (np_smooth_knn(x, yp, **kw) - np_smooth_knn(x, ym, **kw)) / (2 * eps)
    np.testing.assert_allclose(grad, fd, rtol=1e-4, atol=1e-6)


def test_smooth_knn_null_standardised_and_power(rng):
    """200 null draws of n = 100 vs 100 (d = 3), batched: mean 0 and sd 1 within tolerances.

    The standardisation is exact under the permutation null, so the mean of 200 draws has a
    standard error of 1/sqrt(200) = 0.07 (tolerance 0.25, ~3.5 se) and the sample sd ~0.05
    (tolerance [0.8, 1.2]).
    """
    draws, n, d = 200, 100, 3
    x = rng.normal(size=(draws, n, d)).astype("float32")
    y = rng.normal(size=(draws, n, d)).astype("float32")
    null = np.asarray(smooth_knn_statistic(x, y))
    assert null.shape == (draws,)
    assert abs(null.mean()) < 0.25, null.mean()
    assert 0.8 < null.std() < 1.2, null.std()
    shifted = np.asarray(smooth_knn_statistic(x[:20], y[:20] + 1.0))
    wider = np.asarray(smooth_knn_statistic(x[:20], 2.0 * y[:20]))
    slightly = np.asarray(smooth_knn_statistic(x[:20], y[:20] + 0.5))
    assert shifted.min() > 5.0, shifted
    assert wider.min() > 5.0, wider
    assert slightly.mean() > 4.0, slightly


@pytest.mark.parametrize("combine", ["sum", "max"])
def test_smooth_knn_combine_modes(rng, combine):
    x = rng.normal(size=(64, 2)).astype("float32")
    y = rng.normal(size=(64, 2)).astype("float32")
    per = [float(smooth_knn_statistic(x, y + 1, alphas=(a,))) for a in (1.0, 10.0)]
    got = float(smooth_knn_statistic(x, y + 1, alphas=(1.0, 10.0), combine=combine))
    np.testing.assert_allclose(got, sum(per) if combine == "sum" else max(per), rtol=1e-4)


def test_smooth_knn_gradient_descent_moves_sample_to_data(rng):
    data = rng.normal(size=(64, 2)).astype("float32")
    gen = tf.Variable(rng.normal(size=(64, 2)).astype("float32") + np.float32([2.0, -1.0]))
    loss_fn = SmoothKNNLoss(k=5)
    opt = keras.optimizers.Adam(learning_rate=0.1)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = loss_fn(data, gen)
        grad = tape.gradient(loss, gen)
        opt.apply_gradients([(grad, gen)])
        return loss, grad

    first, grad = step()
    assert np.all(np.isfinite(grad.numpy())) and np.abs(grad.numpy()).max() > 0
    dist0 = np.linalg.norm(gen.numpy().mean(0) - data.mean(0))
    for _ in range(30):
        loss, grad = step()
        assert np.all(np.isfinite(grad.numpy()))
    assert float(loss_fn(data, gen)) < float(first) - 3.0
    assert np.linalg.norm(gen.numpy().mean(0) - data.mean(0)) < 0.5 * dist0


def test_smooth_knn_loss_in_fit_with_dynamic_batch(rng):
    """Inside `fit` the batch size is dynamic; the loss must still trace and train."""
    inp = keras.Input((2,))
    model = keras.Model(inp, keras.layers.Dense(2)(inp))
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss=SmoothKNNLoss(k=3))
    noise = rng.normal(size=(256, 2)).astype("float32")
    target = (rng.normal(size=(256, 2)) * 0.5 + 1.0).astype("float32")
    hist = model.fit(noise, target, batch_size=64, epochs=3, verbose=0, shuffle=True)
    losses = hist.history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]


# ---------------------------------------------------------------------------------------------
# MMD and energy distance
# ---------------------------------------------------------------------------------------------
def test_mmd_and_energy_match_numpy(rng):
    x = rng.normal(size=(17, 3))
    y = rng.normal(0.3, 1.2, size=(12, 3))
    bw = (0.5, 1.0, 3.0)
    np.testing.assert_allclose(float(mmd_unbiased(x, y, bandwidths=bw)), np_mmd(x, y, bw), 1e-4)
    for norm in ("l2", "l1"):
        got = float(energy_distance(x.astype("float32"), y.astype("float32"), norm=norm))
        np.testing.assert_allclose(got, np_energy(x, y, norm), rtol=1e-4)
    np.testing.assert_allclose(float(MMDLoss(bandwidths=bw)(x, y)), np_mmd(x, y, bw), 1e-4)
    np.testing.assert_allclose(float(EnergyLoss()(x, y)), np_energy(x, y), rtol=1e-4)


def test_mmd_and_energy_null_and_alternative(rng):
    x = rng.normal(size=(20, 300, 2)).astype("float32")
    y = rng.normal(size=(20, 300, 2)).astype("float32")
    for fn, big in ((mmd_unbiased, 0.05), (energy_distance, 0.2)):
        null = np.asarray(fn(x, y))
        assert null.shape == (20,)
        assert abs(null.mean()) < 3 * null.std() / np.sqrt(20) + 1e-3  # unbiased
        assert np.abs(null).max() < big / 2
        assert np.asarray(fn(x, y + 1.0)).min() > big
        assert np.asarray(fn(x, 2.0 * y)).min() > big / 4


@pytest.mark.parametrize("loss", [MMDLoss(), EnergyLoss()])
def test_mmd_energy_gradients_finite_with_duplicates(rng, loss):
    x = rng.normal(size=(32, 2)).astype("float32")
    y = tf.Variable(np.concatenate([x[:8], x[:8] + 1.0, x[:16]]))  # coincident points
    with tf.GradientTape() as tape:
        value = loss(x, y)
    grad = tape.gradient(value, y).numpy()
    assert np.all(np.isfinite(grad)) and np.isfinite(float(value))


# ---------------------------------------------------------------------------------------------
# Interface: config round trip, factory, validation
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "loss",
    [
        SmoothKNNLoss(k=3, alphas=(2.0, 8.0), norm="l1", combine="max", standardize=False),
        MMDLoss(bandwidths=(0.3, 3.0)),
        EnergyLoss(norm="l1"),
    ],
)
def test_get_config_round_trip(rng, loss):
    cfg = loss.get_config()
    clone = type(loss).from_config(cfg)
    assert clone.get_config() == cfg
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert type(restored) is type(loss) and restored.get_config() == cfg
    x = rng.normal(size=(20, 2)).astype("float32")
    y = rng.normal(size=(25, 2)).astype("float32")
    np.testing.assert_allclose(float(restored(x, y)), float(loss(x, y)), rtol=1e-6)


def test_factory():
    assert isinstance(get_two_sample_loss("smoothknn", k=2), SmoothKNNLoss)
    assert isinstance(get_two_sample_loss("Smooth_KNN"), SmoothKNNLoss)
    assert isinstance(get_two_sample_loss("mmd"), MMDLoss)
    assert isinstance(get_two_sample_loss("energy"), TwoSampleLoss)
    with pytest.raises(ValueError, match="Received: name='wasserstein'"):
        get_two_sample_loss("wasserstein")
    with pytest.raises(ValueError, match="Received: k=0"):
        get_two_sample_loss("smoothknn", k=0)


@pytest.mark.parametrize(
    "ctor, match",
    [
        (lambda: SmoothKNNLoss(k=0), "Received: k=0"),
        (lambda: SmoothKNNLoss(k=2.5), "Received: k=2.5"),
        (lambda: SmoothKNNLoss(alphas=()), "Received: alphas=()"),
        (lambda: SmoothKNNLoss(alphas=(1.0, -2.0)), "Received: alphas="),
        (lambda: SmoothKNNLoss(norm="l3"), "Received: norm='l3'"),
        (lambda: SmoothKNNLoss(combine="mean"), "Received: combine='mean'"),
        (lambda: MMDLoss(bandwidths=(0.0,)), "Received: bandwidths="),
        (lambda: EnergyLoss(norm="linf"), "Received: norm='linf'"),
    ],
)
def test_bad_constructor_args(ctor, match):
    with pytest.raises(ValueError, match=match):
        ctor()


@pytest.mark.parametrize(
    "fn", [smooth_knn_statistic, mmd_unbiased, energy_distance, SmoothKNNLoss(), MMDLoss()]
)
def test_bad_inputs(fn):
    x = np.zeros((10, 3), "float32")
    with pytest.raises(ValueError, match="same number of features"):
        fn(x, np.zeros((10, 2), "float32"))
    with pytest.raises(ValueError, match="rank"):
        fn(np.zeros(10, "float32"), np.zeros(10, "float32"))
    with pytest.raises(ValueError, match="at least 2 points"):
        fn(x, np.zeros((1, 3), "float32"))


def test_bad_inputs_smooth_knn_specific():
    x = np.random.default_rng(0).normal(size=(3, 2)).astype("float32")
    with pytest.raises(ValueError, match="k \\+ 2"):
        smooth_knn_statistic(x, x + 1.0, k=5)
    with pytest.raises(ValueError, match="same rank"):
        smooth_knn_statistic(x[None], x)
    with pytest.raises(ValueError, match="rank-2"):
        SmoothKNNLoss(k=1)(x[None], x[None] + 1.0)
