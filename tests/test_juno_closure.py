"""NN_npe closure test on (R, theta) cells (``evaluation.juno.npe_closure``) and its figure."""

from __future__ import annotations

import numpy as np
import pytest

from keras_fastsim.evaluation.juno import npe_closure
from keras_fastsim.plotting.juno import plot_npe_closure


def _true_mean(cond: np.ndarray) -> np.ndarray:
    r, theta = cond[:, 0], cond[:, 1]
    return 0.05 + 0.02 * r * np.cos(theta) ** 2


class _ScaledNet:
    """Stands in for a JunoNpeNet whose mean is the true mean times a factor per R half."""

    def __init__(self, inner: float, outer: float):
        self.inner, self.outer = inner, outer
        self.calls = 0

    def mean_npe(self, conditions, num_nodes: int = 32):
        self.calls += 1
        cond = np.asarray(conditions, np.float64)
        return _true_mean(cond) * np.where(cond[:, 0] < 10.0, self.inner, self.outer)


@pytest.fixture(scope="module")
def rows():
    rng = np.random.default_rng(3)
    n = 400_000
    cond = np.column_stack([17.7 * rng.random(n) ** (1 / 3), np.arccos(rng.uniform(-1, 1, n))]).astype(np.float32)
    return cond, rng.poisson(_true_mean(cond.astype(np.float64))).astype(np.float64)


def test_closure_finds_the_mismodelled_cells(rows):
    cond, y = rows
    res = npe_closure(_ScaledNet(1.0, 1.3), cond, y, r_edges=[0, 5, 10, 15, 17.7],
                      theta_edges=np.radians([0, 60, 120, 180]), max_rows_per_cell=20_000, seed=1)
    assert res["ratio"].shape == res["error"].shape == res["rows"].shape == (4, 3)
    assert res["rows"].max() == 20_000
    pull_in = (res["ratio"][:2] - 1.0) / res["error"][:2]
    pull_out = (res["ratio"][2:] - 1.3) / res["error"][2:]
    assert np.all(np.abs(pull_in) < 5) and np.all(np.abs(pull_out) < 5)
    assert np.all(np.abs(res["ratio"][2:] - 1.0) / res["error"][2:] > 6)
    # the same seed draws the same rows
    again = npe_closure(_ScaledNet(1.0, 1.3), cond, y, r_edges=[0, 5, 10, 15, 17.7],
                        theta_edges=np.radians([0, 60, 120, 180]), max_rows_per_cell=20_000, seed=1)
    np.testing.assert_array_equal(res["ratio"], again["ratio"])


def test_closure_empty_cells_are_nan_and_figure_is_written(rows, tmp_path):
    cond, y = rows
    keep = cond[:, 0] < 12.0
    res = npe_closure(_ScaledNet(0.9, 1.0), cond[keep], y[keep], max_rows_per_cell=500)
    assert np.all(np.isnan(res["ratio"][-1])) and np.all(res["rows"][-1] == 0)
    assert np.all(np.isfinite(res["ratio"][0]))
    path = plot_npe_closure(res, tmp_path / "closure.png")
    assert path.exists() and path.stat().st_size > 10_000


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"npe": np.full(10, np.nan)}, "finite and non-negative"),
        ({"npe": -np.ones(10)}, "finite and non-negative"),
        ({"npe": np.ones(9)}, "shape"),
        ({"conditions": np.ones((10, 3))}, "shape"),
        ({"r_edges": [0, 5, 5, 10]}, "strictly increasing"),
        ({"r_edges": [0, 20]}, "must lie in"),
        ({"theta_edges": [0.0]}, "at least 2 bin edges"),
        ({"max_rows_per_cell": 0}, "positive integer"),
    ],
)
def test_closure_rejects_bad_input(kwargs, match):
    args = {"conditions": np.column_stack([np.linspace(0, 17, 10), np.linspace(0, 3, 10)]), "npe": np.ones(10)}
    args.update(kwargs)
    net = _ScaledNet(1.0, 1.0)
    with pytest.raises(ValueError, match=match):
        npe_closure(net, args.pop("conditions"), args.pop("npe"), **args)
    assert net.calls == 0
