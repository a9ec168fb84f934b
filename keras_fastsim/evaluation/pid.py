"""BESIII dE/dx particle identification: calibration, chi values and PID rates (SPEC 1.1, 3).

BESIII identifies a track with the dE/dx chi of each hypothesis i in {pi, K, p}:

    chi_i = (dEdx_meas - dEdx_exp(beta*gamma_i)) / sigma_i,   beta*gamma_i = p / m_i,

with the expected curve ``dEdx_exp`` and the resolution ``sigma_i`` calibrated on data.
The track is identified as the hypothesis with the smallest |chi_i| if that |chi_i| is
below 4. :class:`PidCalibration` performs the calibration on a labelled table (control
samples) and :func:`pid_rates` tabulates the efficiency and mis-identification rates per
momentum or cos(theta) bin, the numbers compared between data and simulation.

References:
    - M. Ablikim et al. (BESIII), "Design and construction of the BESIII detector",
      Nucl. Instrum. Meth. A 614 (2010) 345 (dE/dx PID with chi_i and the MDC).
    - "A Data-driven dE/dx Simulation with Normalizing Flow", arXiv:2401.02692 (PID
      efficiency and mis-identification as the figure of merit of a dE/dx simulation).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from keras_fastsim.io.tables import validate_tracks
from keras_fastsim.physics.dedx_curve import DedxCurve, fit_dedx_curve
from keras_fastsim.physics.species import HYPOTHESIS_MASS, SPECIES

PID_HYPOTHESES: tuple[str, ...] = ("pi", "K", "p")
"""Hypotheses a track can be identified as."""

_DEFAULT_NHITS_EDGES = (5, 8, 11, 15, 20, 25, 30, 34, 38, 41, 44, 1000)


def _check_hypothesis(hypothesis: str) -> float:
    if hypothesis not in HYPOTHESIS_MASS:
        raise ValueError(
            f"`hypothesis` must be one of {sorted(HYPOTHESIS_MASS)}. Received: hypothesis={hypothesis!r}"
        )
    return HYPOTHESIS_MASS[hypothesis]


def _measurement_columns(table: pd.DataFrame) -> dict[str, np.ndarray]:
    missing = [c for c in ("p", "theta", "nhits", "dedx") if c not in table.columns]
    if missing:
        raise ValueError(
            f"The table needs columns p, theta, nhits, dedx. Received: table without {missing}"
        )
    out = {c: table[c].to_numpy(np.float64) for c in ("p", "theta", "nhits", "dedx")}
    if not all(np.all(np.isfinite(v)) for v in out.values()):
        raise ValueError("The table has NaN/inf values. Received: non-finite p/theta/nhits/dedx")
    if np.any(out["p"] <= 0) or np.any(out["nhits"] < 1):
        raise ValueError("The table needs p > 0 and nhits >= 1. Received: values outside")
    return out


@dataclass(frozen=True)
class PidCalibration:
    """dE/dx PID calibration: expected curve and parametric relative resolution.

    ``sigma / dEdx_exp = a * nHits^-b * sin(theta)^-c``. With a longer path per cell at
    small sin(theta) the resolution improves, so ``c`` comes out negative for BESIII-like
    data.

    Attributes:
        curve: Expected dE/dx versus beta*gamma.
        a: Resolution scale (relative).
        b: nHits exponent.
        c: sin(theta) exponent.
    """

    curve: DedxCurve
    a: float
    b: float
    c: float

    def __post_init__(self):
        if not isinstance(self.curve, DedxCurve):
            raise ValueError(f"`curve` must be a DedxCurve. Received: curve={self.curve!r}")
        if not (math.isfinite(self.a) and self.a > 0 and math.isfinite(self.b) and math.isfinite(self.c)):
            raise ValueError(
                "Resolution parameters must be finite with a > 0. "
                f"Received: a={self.a!r}, b={self.b!r}, c={self.c!r}"
            )

    @classmethod
    def fit(
        cls,
        table: pd.DataFrame,
        *,
        curve_bins: int = 40,
        nhits_edges: Sequence[int] = _DEFAULT_NHITS_EDGES,
        n_sin_theta_bins: int = 6,
        min_entries: int = 50,
    ) -> PidCalibration:
        """Fits the calibration on a labelled track table (e.g. control samples).

        1. The expected curve is fitted with :func:`fit_dedx_curve` to all tracks pooled
           over species, with beta*gamma = p / m of the true species (bin medians).
        2. The relative residuals ``dedx / expected - 1`` are binned in nHits x
           sin(theta) (``n_sin_theta_bins`` equal-population bins); in each bin with at
           least ``min_entries`` tracks the width is the half distance between the 15.87%
           and 84.13% quantiles (the Gaussian-core sigma, robust against the Landau tail).
           ``log sigma = log a - b log<nHits> - c log<sin theta>`` is then fitted by least
           squares weighted by the bin populations.

        Args:
            table: Track table with species, p, theta, nhits, dedx.
            curve_bins: beta*gamma bins of the curve fit.
            nhits_edges: Increasing integer nHits bin edges (lower edges inclusive).
            n_sin_theta_bins: Number of sin(theta) bins (>= 1).
            min_entries: Minimum tracks in a resolution bin (>= 10).

        Returns:
            The calibration.

        Raises:
            ValueError: on bad arguments or too few usable resolution bins.
        """
        table = validate_tracks(table, require_dedx=True, source="calibration table")
        edges = np.asarray(nhits_edges)
        if edges.ndim != 1 or len(edges) < 2 or np.any(np.diff(edges) <= 0):
            raise ValueError(f"`nhits_edges` must be increasing. Received: nhits_edges={nhits_edges!r}")
        if not isinstance(n_sin_theta_bins, (int, np.integer)) or n_sin_theta_bins < 1:
            raise ValueError(
                f"`n_sin_theta_bins` must be an integer >= 1. Received: n_sin_theta_bins={n_sin_theta_bins!r}"
            )
        if not isinstance(min_entries, (int, np.integer)) or min_entries < 10:
            raise ValueError(f"`min_entries` must be an integer >= 10. Received: min_entries={min_entries!r}")
        mass = table["species"].map({k: s.mass for k, s in SPECIES.items()}).to_numpy(np.float64)
        p = table["p"].to_numpy()
        bg = p / mass
        dedx = table["dedx"].to_numpy()
        curve = fit_dedx_curve(bg, dedx, bins=curve_bins)

        residual = dedx / curve(bg) - 1.0
        nhits = table["nhits"].to_numpy()
        sin_theta = np.clip(np.sin(table["theta"].to_numpy()), 1e-3, 1.0)
        i_n = np.searchsorted(edges, nhits, side="right") - 1
        sin_edges = np.unique(np.quantile(sin_theta, np.linspace(0, 1, n_sin_theta_bins + 1)))
        i_s = np.clip(np.searchsorted(sin_edges, sin_theta, side="right") - 1, 0, max(len(sin_edges) - 2, 0))
        valid = (i_n >= 0) & (i_n < len(edges) - 1)
        frame = pd.DataFrame(
            {
                "bin": (i_n * (len(sin_edges) + 1) + i_s)[valid],
                "r": residual[valid],
                "log_n": np.log(nhits[valid]),
                "log_s": np.log(sin_theta[valid]),
            }
        )
        grouped = frame.groupby("bin")
        stats = grouped.agg(n=("r", "size"), log_n=("log_n", "mean"), log_s=("log_s", "mean"))
        q = grouped["r"].quantile([0.1587, 0.8413]).unstack()
        stats["sigma"] = 0.5 * (q[0.8413] - q[0.1587])
        stats = stats[(stats["n"] >= min_entries) & (stats["sigma"] > 0)]
        if len(stats) < 3:
            raise ValueError(
                "Too few resolution bins with min_entries tracks to fit sigma(nHits, theta). "
                f"Received: {len(stats)} usable bins from {len(table)} tracks"
            )
        design = np.column_stack([np.ones(len(stats)), -stats["log_n"], -stats["log_s"]])
        target = np.log(stats["sigma"].to_numpy())
        w = np.sqrt(stats["n"].to_numpy(np.float64))
        has_theta_lever = np.ptp(stats["log_s"].to_numpy()) > 1e-6
        cols = [0, 1, 2] if has_theta_lever else [0, 1]
        coef, *_ = np.linalg.lstsq(design[:, cols] * w[:, None], target * w, rcond=None)
        log_a, b = coef[0], coef[1]
        c = coef[2] if has_theta_lever else 0.0
        return cls(curve=curve, a=float(math.exp(log_a)), b=float(b), c=float(c))

    # ------------------------------------------------------------------ evaluation
    def relative_sigma(self, nhits, theta) -> np.ndarray:
        """Relative resolution ``a nHits^-b sin(theta)^-c``."""
        nhits = np.asarray(nhits, dtype=np.float64)
        if np.any(nhits < 1):
            raise ValueError(f"`nhits` must be >= 1. Received: nhits={nhits!r}")
        sin_theta = np.clip(np.sin(np.asarray(theta, dtype=np.float64)), 1e-3, 1.0)
        return self.a * nhits ** (-self.b) * sin_theta ** (-self.c)

    def expected(self, p, hypothesis: str) -> np.ndarray:
        """Expected dE/dx for momentum ``p`` (GeV/c) under ``hypothesis``."""
        mass = _check_hypothesis(hypothesis)
        return self.curve(np.asarray(p, dtype=np.float64) / mass)

    def sigma(self, p, theta, nhits, hypothesis: str) -> np.ndarray:
        """Absolute dE/dx resolution under ``hypothesis``."""
        return self.expected(p, hypothesis) * self.relative_sigma(nhits, theta)

    def chi(self, table: pd.DataFrame, hypothesis: str) -> np.ndarray:
        """``(dedx - expected) / sigma`` of each track under ``hypothesis``.

        Args:
            table: Table with p, theta, nhits, dedx (species not needed).
            hypothesis: ``"pi"``, ``"K"``, ``"p"`` or ``"e"``.
        """
        _check_hypothesis(hypothesis)
        cols = _measurement_columns(table)
        expected = self.expected(cols["p"], hypothesis)
        return (cols["dedx"] - expected) / (expected * self.relative_sigma(cols["nhits"], cols["theta"]))

    def identify(self, table: pd.DataFrame, max_chi: float = 4.0) -> np.ndarray:
        """BESIII dE/dx PID decision per track.

        Returns:
            String array with ``"pi"``, ``"K"``, ``"p"`` (smallest |chi| among the three,
            if below ``max_chi``) or ``""`` (not identified).
        """
        if not (isinstance(max_chi, (int, float)) and max_chi > 0):
            raise ValueError(f"`max_chi` must be > 0. Received: max_chi={max_chi!r}")
        chis = np.abs(np.stack([self.chi(table, h) for h in PID_HYPOTHESES], axis=1))
        best = np.argmin(chis, axis=1)
        labels = np.asarray(PID_HYPOTHESES)[best]
        return np.where(chis[np.arange(len(best)), best] < max_chi, labels, "")

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict:
        """Returns a JSON-serialisable dict."""
        return {"curve": self.curve.to_dict(), "a": self.a, "b": self.b, "c": self.c}

    @classmethod
    def from_dict(cls, config: Mapping) -> PidCalibration:
        """Rebuilds a calibration from :meth:`to_dict` output."""
        missing = {"curve", "a", "b", "c"} - set(config)
        if missing:
            raise ValueError(f"Missing keys {sorted(missing)}. Received: config={dict(config)!r}")
        return cls(
            curve=DedxCurve.from_dict(config["curve"]),
            a=float(config["a"]),
            b=float(config["b"]),
            c=float(config["c"]),
        )


def pid_rates(
    table: pd.DataFrame,
    calibration: PidCalibration,
    *,
    variable: str = "p",
    bins: Sequence[float],
    max_chi: float = 4.0,
) -> pd.DataFrame:
    """PID efficiency and mis-identification rates per bin of p or cos(theta).

    For each true species in the table and each bin, the fraction of its tracks
    identified as pi, K and p. The efficiency is the row with ``identified_as`` equal to
    the species' own hypothesis; the others are mis-ID rates. Tracks outside the bins are
    ignored.

    Args:
        table: Labelled track table (species, p, theta, nhits, dedx).
        calibration: The PID calibration.
        variable: ``"p"`` (GeV/c) or ``"cos_theta"``.
        bins: Increasing bin edges (at least 2).
        max_chi: The |chi| limit of :meth:`PidCalibration.identify`.

    Returns:
        Long-format DataFrame with columns species, bin_lo, bin_hi, n, identified_as,
        rate, rate_err (binomial ``sqrt(rate (1 - rate) / n)``; NaN where n = 0).
    """
    if variable not in ("p", "cos_theta"):
        raise ValueError(f"`variable` must be 'p' or 'cos_theta'. Received: variable={variable!r}")
    if not isinstance(calibration, PidCalibration):
        raise ValueError(f"`calibration` must be a PidCalibration. Received: {type(calibration).__name__}")
    edges = np.asarray(bins, dtype=np.float64)
    if edges.ndim != 1 or len(edges) < 2 or not np.all(np.isfinite(edges)) or np.any(np.diff(edges) <= 0):
        raise ValueError(f"`bins` must be at least 2 increasing finite edges. Received: bins={bins!r}")
    table = validate_tracks(table, require_dedx=True, source="table")
    ident = calibration.identify(table, max_chi=max_chi)
    x = table["p"].to_numpy() if variable == "p" else np.cos(table["theta"].to_numpy())
    i_bin = np.searchsorted(edges, x, side="right") - 1
    i_bin[x == edges[-1]] = len(edges) - 2
    inside = (i_bin >= 0) & (i_bin < len(edges) - 1)
    order = [s for s in SPECIES if s in set(table["species"])]
    n_bins = len(edges) - 1
    frames = []
    for name in order:  # loop over species (<= 8), vectorised over tracks
        sel = inside & (table["species"].to_numpy() == name)
        n = np.bincount(i_bin[sel], minlength=n_bins)
        for hypothesis in PID_HYPOTHESES:
            k = np.bincount(i_bin[sel & (ident == hypothesis)], minlength=n_bins)
            with np.errstate(invalid="ignore", divide="ignore"):
                rate = np.where(n > 0, k / np.maximum(n, 1), np.nan)
                err = np.where(n > 0, np.sqrt(rate * (1 - rate) / np.maximum(n, 1)), np.nan)
            frames.append(
                pd.DataFrame(
                    {
                        "species": name,
                        "bin_lo": edges[:-1],
                        "bin_hi": edges[1:],
                        "n": n.astype(np.int64),
                        "identified_as": hypothesis,
                        "rate": rate,
                        "rate_err": err,
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)
