"""Tests of the BESIII dE/dx PID calibration and rates."""

import json

import numpy as np
import pandas as pd
import pytest

from keras_fastsim.evaluation import PidCalibration, pid_rates
from keras_fastsim.reference import DedxReference


@pytest.fixture(scope="module")
def ref():
    return DedxReference()


@pytest.fixture(scope="module")
def calibration(ref):
    return PidCalibration.fit(ref.generate(4000, seed=21))


@pytest.fixture(scope="module")
def test_table(ref):
    return ref.generate(2000, seed=22)


def test_calibration_recovers_truth(ref, calibration):
    # The fit goes through bin medians; the truth is the mean of the slightly right-skewed
    # truncated-mean distribution (median ~0.6% below the mean).
    bg = np.geomspace(0.4, 12.0, 30)
    deviation = calibration.curve(bg) / ref.expected_dedx(bg) - 1
    assert np.mean(np.abs(deviation)) < 0.01
    assert np.max(np.abs(deviation)) < 0.015
    # Resolution at typical nHits, central and forward.
    for theta in (np.pi / 2, 0.6):
        assert calibration.relative_sigma(38, theta) == pytest.approx(ref.resolution(38, theta), rel=0.1)
    assert 0.3 < calibration.b < 0.95
    assert calibration.c < 0  # longer path per cell at small sin(theta)


def test_chi_and_identify(calibration, test_table):
    pions = test_table[test_table["species"] == "pi+"]
    chi = calibration.chi(pions, "pi")
    assert abs(np.median(chi)) < 0.2 and 0.8 < 0.5 * np.subtract(*np.quantile(chi, [0.8413, 0.1587])) < 1.2
    assert np.median(calibration.chi(pions[pions["p"] < 0.6], "p")) < -4
    one = pd.DataFrame({"p": [0.5, 0.5], "theta": [1.5, 1.5], "nhits": [30, 30], "dedx": [0.0, 0.0]})
    one.loc[0, "dedx"] = calibration.expected(0.5, "K")
    one.loc[1, "dedx"] = 1e5
    np.testing.assert_array_equal(calibration.identify(one), ["K", ""])
    sigma = calibration.sigma(0.5, 1.5, 30, "K")
    assert calibration.chi(one.iloc[:1], "K")[0] == pytest.approx(0.0)
    assert sigma == pytest.approx(calibration.expected(0.5, "K") * calibration.relative_sigma(30, 1.5))


def test_pid_rates(calibration, test_table):
    rates = pid_rates(test_table, calibration, variable="p", bins=[0.3, 0.6, 0.9])
    assert list(rates.columns) == ["species", "bin_lo", "bin_hi", "n", "identified_as", "rate", "rate_err"]
    eff = rates[(rates["identified_as"] == "pi") & rates["species"].isin(["pi+", "pi-"]) & (rates["bin_lo"] == 0.3)]
    assert (eff["rate"] > 0.9).all()
    total = rates.groupby(["species", "bin_lo"])["rate"].sum()
    assert (total <= 1 + 1e-12).all()
    row = rates.iloc[0]
    assert row["rate_err"] == pytest.approx(np.sqrt(row["rate"] * (1 - row["rate"]) / row["n"]))
    by_cos = pid_rates(test_table, calibration, variable="cos_theta", bins=np.linspace(-0.93, 0.93, 5))
    assert by_cos.groupby(["species", "identified_as"])["n"].sum().groupby("species").first().sum() == len(test_table)


def test_round_trip(calibration, test_table):
    again = PidCalibration.from_dict(json.loads(json.dumps(calibration.to_dict())))
    assert again == calibration
    np.testing.assert_array_equal(again.identify(test_table), calibration.identify(test_table))


def test_bad_arguments(calibration, test_table):
    with pytest.raises(ValueError, match="hypothesis"):
        calibration.expected(1.0, "mu")
    with pytest.raises(ValueError, match="variable"):
        pid_rates(test_table, calibration, variable="theta", bins=[0, 1])
    with pytest.raises(ValueError, match="bins"):
        pid_rates(test_table, calibration, bins=[1.0, 0.5])
    with pytest.raises(ValueError, match="max_chi"):
        calibration.identify(test_table, max_chi=-1)
    with pytest.raises(ValueError, match="columns"):
        calibration.chi(test_table.drop(columns="dedx"), "pi")
    with pytest.raises(ValueError, match="Missing keys"):
        PidCalibration.from_dict({"a": 1.0})
