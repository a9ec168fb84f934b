"""Tests of the plotting helpers and the dE/dx validation figures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from keras_fastsim.physics.species import HADRON_SPECIES, SPECIES
from keras_fastsim.plotting import dedx as dedx_plots
from keras_fastsim.plotting.history import plot_history
from keras_fastsim.plotting.style import hep_style, new_figure, save_figure


def _tracks(rng, n):
    species = rng.choice(HADRON_SPECIES, size=n)
    p = rng.uniform(0.2, 1.6, size=n)
    mass = np.array([SPECIES[s].mass for s in species])
    beta2 = p**2 / (p**2 + mass**2)
    mean = 550.0 * np.clip(1.0 / beta2, 1.0, None) ** 0.85
    return pd.DataFrame(
        {
            "species": species,
            "p": p,
            "theta": np.arccos(rng.uniform(-0.9, 0.9, size=n)),
            "nhits": rng.integers(10, 40, size=n),
            "dedx": rng.normal(mean, 0.07 * mean),
        }
    )


def _is_png(path):
    with open(path, "rb") as f:
        return f.read(8) == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 1000


@pytest.fixture
def tables(rng):
    data = _tracks(rng, 3000)
    flow = data.assign(dedx=data["dedx"] * rng.normal(1.0, 0.02, size=len(data)))
    hist = data.assign(dedx=data["dedx"] + 15.0)
    return data, {"flow": flow, "histogram": hist}


def test_style_is_scoped_and_save_is_atomic(tmp_path):
    import matplotlib

    before = dict(matplotlib.rcParams)
    with hep_style():
        assert matplotlib.rcParams["font.size"] == 14
        fig = new_figure(figsize=(3, 2))
        fig.add_subplot().plot([0, 1], [1, 0])
        out = save_figure(fig, tmp_path / "sub" / "line.png")
    assert matplotlib.rcParams["font.size"] == before["font.size"]
    assert _is_png(out)
    assert [p.name for p in out.parent.iterdir()] == ["line.png"]  # no temporary left
    with pytest.raises(ValueError, match="png"):
        save_figure(new_figure(), tmp_path / "x.pdf")


def test_dedx_distribution_figures(tables, tmp_path):
    data, sims = tables
    outputs = [
        dedx_plots.plot_dedx_vs_p(data, sims, tmp_path / "vs_p.png", species="K"),
        dedx_plots.plot_dedx_vs_theta(data, sims, tmp_path / "vs_theta.png", dedx_bins=40),
        dedx_plots.plot_dedx_in_p_bins(data, sims, tmp_path / "p_slices.png", species="K+"),
        dedx_plots.plot_dedx_in_theta_bins(
            data, sims, tmp_path / "theta_slices.png", species=None, theta_ranges=[(30, 40)]
        ),
    ]
    assert all(_is_png(p) for p in outputs)


def test_dedx_figures_validate_arguments(tables, tmp_path):
    data, sims = tables
    with pytest.raises(ValueError, match="species"):
        dedx_plots.plot_dedx_vs_p(data, sims, tmp_path / "a.png", species="muon")
    with pytest.raises(ValueError, match="lacks column"):
        dedx_plots.plot_dedx_vs_p(data, {"flow": data.drop(columns="dedx")}, tmp_path / "a.png")
    with pytest.raises(ValueError, match="p_ranges"):
        dedx_plots.plot_dedx_in_p_bins(data, sims, tmp_path / "a.png", p_ranges=[(1.0, 0.5)])
    with pytest.raises(ValueError, match="png"):
        dedx_plots.plot_dedx_vs_p(data, sims, tmp_path / "a.jpg")


def _fake_rates(rng, species, edges, efficiency):
    """A stand-in for evaluation.pid.pid_rates output (long format)."""
    rows = []
    for s in species:
        own = SPECIES[s].hypothesis
        for lo, hi in zip(edges[:-1], edges[1:]):
            eff = float(np.clip(efficiency + rng.normal(0, 0.01), 0, 1))
            for h in ("pi", "K", "p"):
                rate = eff if h == own else (1 - eff) / 2
                rows.append((s, lo, hi, 2000, h, rate, np.sqrt(rate * (1 - rate) / 2000)))
    return pd.DataFrame(
        rows, columns=["species", "bin_lo", "bin_hi", "n", "identified_as", "rate", "rate_err"]
    )


def test_pid_rate_figures_from_rate_tables(rng, tmp_path):
    edges = np.linspace(0.2, 1.6, 8)
    species = ["pi+", "K-", "p"]
    data_rates = _fake_rates(rng, species, edges, 0.95)
    sim_rates = {"flow": _fake_rates(rng, species, edges, 0.94),
                 "histogram": _fake_rates(rng, species, edges, 0.9)}
    eff = dedx_plots.plot_pid_rates(data_rates, sim_rates, tmp_path / "eff.png")
    mis = dedx_plots.plot_pid_rates(data_rates, sim_rates, tmp_path / "mis.png", kind="misid",
                                    variable="cos_theta", species="K")
    assert _is_png(eff) and _is_png(mis)
    with pytest.raises(ValueError, match="kind"):
        dedx_plots.plot_pid_rates(data_rates, sim_rates, tmp_path / "x.png", kind="purity")
    with pytest.raises(ValueError, match="lack column"):
        dedx_plots.plot_pid_rates(data_rates.drop(columns="rate"), sim_rates, tmp_path / "x.png")


def test_plot_history(tmp_path):
    history = {"loss": [3.0, 2.0, 1.5], "val_loss": [3.2, 2.2, 1.8],
               "learning_rate": [1e-3, 5e-4, 2.5e-4]}
    assert _is_png(plot_history(history, tmp_path / "h.png", title="flow"))
    # Negative losses (e.g. a flow's NLL): linear axis, no learning rate.
    assert _is_png(plot_history({"loss": [0.5, -1.0, -2.0]}, tmp_path / "nll.png"))
    with pytest.raises(ValueError, match="besides the learning rate"):
        plot_history({"lr": [1e-3]}, tmp_path / "x.png")
    with pytest.raises(ValueError, match="non-empty"):
        plot_history({}, tmp_path / "x.png")
