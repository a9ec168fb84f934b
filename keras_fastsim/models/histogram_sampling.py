"""Histogram sampling: the traditional BESIII dE/dx simulation the flow replaces (SPEC 1.1).

Training tracks are binned in beta*gamma x cos(theta) x charge; each bin keeps a histogram
of its dE/dx values. A track is simulated by drawing a value from its bin's histogram
(inverse CDF of the piecewise-linear cumulative histogram) and shifting it by
``curve(beta*gamma_track) - curve(bin centre)``, where ``curve`` is a :class:`DedxCurve`
fitted to the training tracks, which moves the value along the expected curve to the
track's own beta*gamma.

References:
    - "A Data-driven dE/dx Simulation with Normalizing Flow", arXiv:2401.02692, which
      describes this BESIII histogram-sampling method as the baseline it replaces.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from keras_fastsim.io.atomic import atomic_path
from keras_fastsim.io.tables import validate_tracks
from keras_fastsim.physics.dedx_curve import DedxCurve, fit_dedx_curve
from keras_fastsim.physics.species import SPECIES

_FORMAT = "keras_fastsim.HistogramSampler"
_VERSION = 1


def _species_arrays(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    mass = table["species"].map({k: s.mass for k, s in SPECIES.items()}).to_numpy(np.float64)
    charge = table["species"].map({k: s.charge for k, s in SPECIES.items()}).to_numpy(np.int64)
    return table["p"].to_numpy(np.float64) / mass, (charge > 0).astype(np.int64)


class HistogramSampler:
    """Histogram-sampling dE/dx simulation in beta*gamma x cos(theta) x charge bins.

    Binning: beta*gamma in ``n_beta_gamma_bins`` log-spaced bins over the training range
    (or explicit ``beta_gamma_edges``), cos(theta) in ``n_cos_theta_bins`` equal bins over
    ``cos_theta_range``, and the sign of the charge. Tracks outside the beta*gamma or
    cos(theta) range use the first/last bin (the curve shift still follows their own
    beta*gamma). Each bin's histogram has ``n_dedx_bins`` equal bins between the bin's
    ``dedx_quantiles`` widened by 10% of their distance on each side; training values
    outside are not histogrammed.

    The "bin centre" of the shift is the mean of ``curve(beta*gamma)`` over the bin's
    training tracks, so the shift is unbiased for any beta*gamma distribution inside the
    bin. Bins with fewer than ``min_entries`` training tracks are empty and fall back to
    the nearest filled beta*gamma bin with the same charge and cos(theta) bin (if none, to
    the nearest filled cell in cos(theta), then in charge); the shift then uses the centre
    of the bin actually sampled.

    Known weakness (why the flow replaces it): the histograms are not binned in nHits, so
    the simulated resolution does not depend on a track's number of hits, and it has the
    resolution of the bin's nHits mix; tails and correlations inside a bin are averaged.

    Args:
        beta_gamma_edges: Optional increasing beta*gamma bin edges (> 0). Default: log
            spaced over the training range.
        n_beta_gamma_bins: Number of beta*gamma bins when the edges are not given (30).
        n_cos_theta_bins: Number of cos(theta) bins (16).
        cos_theta_range: cos(theta) range of the bins ((-0.93, 0.93)).
        n_dedx_bins: Number of bins of each dE/dx histogram (200).
        dedx_quantiles: Quantiles that define a histogram's range ((0.001, 0.999)).
        min_entries: Minimum training tracks for a bin to be filled (10).
        seed: Default seed of :meth:`simulate` when it is given none.
    """

    def __init__(
        self,
        *,
        beta_gamma_edges: Sequence[float] | None = None,
        n_beta_gamma_bins: int = 30,
        n_cos_theta_bins: int = 16,
        cos_theta_range: tuple[float, float] = (-0.93, 0.93),
        n_dedx_bins: int = 200,
        dedx_quantiles: tuple[float, float] = (0.001, 0.999),
        min_entries: int = 10,
        seed: int | None = None,
    ):
        if beta_gamma_edges is not None:
            edges = np.asarray(beta_gamma_edges, dtype=np.float64)
            if edges.ndim != 1 or len(edges) < 2 or np.any(edges <= 0) or np.any(np.diff(edges) <= 0):
                raise ValueError(
                    "`beta_gamma_edges` must be at least 2 increasing values > 0. "
                    f"Received: beta_gamma_edges={beta_gamma_edges!r}"
                )
            beta_gamma_edges = [float(e) for e in edges]
            n_beta_gamma_bins = len(edges) - 1
        for name, value, minimum in (
            ("n_beta_gamma_bins", n_beta_gamma_bins, 1),
            ("n_cos_theta_bins", n_cos_theta_bins, 1),
            ("n_dedx_bins", n_dedx_bins, 2),
            ("min_entries", min_entries, 1),
        ):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
                raise ValueError(
                    f"`{name}` must be an integer >= {minimum}. Received: {name}={value!r}"
                )
        lo, hi = (float(v) for v in cos_theta_range)
        if not -1.0 <= lo < hi <= 1.0:
            raise ValueError(
                "`cos_theta_range` must satisfy -1 <= lo < hi <= 1. "
                f"Received: cos_theta_range={cos_theta_range!r}"
            )
        q_lo, q_hi = (float(v) for v in dedx_quantiles)
        if not 0.0 <= q_lo < q_hi <= 1.0:
            raise ValueError(
                "`dedx_quantiles` must satisfy 0 <= lo < hi <= 1. "
                f"Received: dedx_quantiles={dedx_quantiles!r}"
            )
        if seed is not None and (not isinstance(seed, (int, np.integer)) or seed < 0):
            raise ValueError(f"`seed` must be a non-negative integer or None. Received: seed={seed!r}")
        self.beta_gamma_edges = beta_gamma_edges
        self.n_beta_gamma_bins = int(n_beta_gamma_bins)
        self.n_cos_theta_bins = int(n_cos_theta_bins)
        self.cos_theta_range = (lo, hi)
        self.n_dedx_bins = int(n_dedx_bins)
        self.dedx_quantiles = (q_lo, q_hi)
        self.min_entries = int(min_entries)
        self.seed = None if seed is None else int(seed)
        self._state: dict | None = None

    # ----------------------------------------------------------------------- config
    def get_config(self) -> dict:
        """Returns the constructor arguments (JSON-serialisable)."""
        return {
            "beta_gamma_edges": self.beta_gamma_edges,
            "n_beta_gamma_bins": self.n_beta_gamma_bins,
            "n_cos_theta_bins": self.n_cos_theta_bins,
            "cos_theta_range": list(self.cos_theta_range),
            "n_dedx_bins": self.n_dedx_bins,
            "dedx_quantiles": list(self.dedx_quantiles),
            "min_entries": self.min_entries,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config: dict) -> HistogramSampler:
        """Builds an unfitted sampler from :meth:`get_config` output."""
        config = dict(config)
        for key in ("cos_theta_range", "dedx_quantiles"):
            if key in config:
                config[key] = tuple(config[key])
        return cls(**config)

    @property
    def fitted(self) -> bool:
        """Whether :meth:`fit` (or :meth:`load`) has run."""
        return self._state is not None

    @property
    def curve(self) -> DedxCurve:
        """The expected curve fitted to the training tracks."""
        return self._require_state()["curve"]

    def _require_state(self) -> dict:
        if self._state is None:
            raise ValueError("The HistogramSampler is not fitted; call fit(table) first.")
        return self._state

    # ----------------------------------------------------------------------- binning
    def _cells(self, beta_gamma, cos_theta, positive, bg_edges) -> np.ndarray:
        n_bg, n_cos = len(bg_edges) - 1, self.n_cos_theta_bins
        i_bg = np.clip(np.searchsorted(bg_edges, beta_gamma, side="right") - 1, 0, n_bg - 1)
        lo, hi = self.cos_theta_range
        i_cos = np.clip(np.floor((cos_theta - lo) / (hi - lo) * n_cos).astype(np.int64), 0, n_cos - 1)
        return (positive * n_bg + i_bg) * n_cos + i_cos

    def fit(self, table: pd.DataFrame) -> HistogramSampler:
        """Builds the per-bin histograms and fits the expected curve.

        Args:
            table: Training track table (species, p, theta, nhits, dedx).

        Returns:
            ``self``.
        """
        table = validate_tracks(table, require_dedx=True, source="training table")
        bg, positive = _species_arrays(table)
        dedx = table["dedx"].to_numpy(np.float64)
        cos_theta = np.cos(table["theta"].to_numpy(np.float64))
        if self.beta_gamma_edges is not None:
            bg_edges = np.asarray(self.beta_gamma_edges, dtype=np.float64)
        else:
            lo, hi = float(bg.min()), float(bg.max())
            if hi <= lo:
                hi = lo * 1.01
            bg_edges = np.geomspace(lo, hi * (1 + 1e-9), self.n_beta_gamma_bins + 1)
        curve = fit_dedx_curve(bg, dedx)

        n_bg, n_cos, n_h = len(bg_edges) - 1, self.n_cos_theta_bins, self.n_dedx_bins
        n_cells = 2 * n_bg * n_cos
        cell = self._cells(bg, cos_theta, positive, bg_edges)
        counts = np.bincount(cell, minlength=n_cells)

        # Per-cell quantiles, vectorised: sort by (cell, dedx) and index into each block.
        order = np.lexsort((dedx, cell))
        sorted_dedx = dedx[order]
        offsets = np.concatenate([[0], np.cumsum(counts)])
        q_lo, q_hi = self.dedx_quantiles
        safe = np.maximum(counts, 1)
        low = _block_quantile(sorted_dedx, offsets[:-1], safe, q_lo)
        high = _block_quantile(sorted_dedx, offsets[:-1], safe, q_hi)
        pad = 0.1 * (high - low) + 1e-6 * np.maximum(np.abs(high), 1.0)
        low, high = low - pad, high + pad
        low[counts == 0], high[counts == 0] = 0.0, 1.0

        width = (high - low) / n_h
        k = np.floor((dedx - low[cell]) / width[cell]).astype(np.int64)
        inside = (k >= 0) & (k < n_h)
        hist = np.bincount(cell[inside] * n_h + k[inside], minlength=n_cells * n_h).reshape(n_cells, n_h)

        centre = np.bincount(cell, weights=curve(bg), minlength=n_cells) / safe
        filled = counts >= self.min_entries
        if not filled.any():
            raise ValueError(
                f"No bin has min_entries={self.min_entries} training tracks. "
                f"Received: a table of {len(table)} tracks"
            )
        self._state = {
            "curve": curve,
            "beta_gamma_edges": bg_edges,
            "counts": counts,
            "low": low,
            "high": high,
            "hist": hist,
            "centre": centre,
            "source": _nearest_filled(filled, n_bg, n_cos),
        }
        return self

    # ----------------------------------------------------------------------- sampling
    def simulate(self, tracks: pd.DataFrame, seed=None) -> np.ndarray:
        """Draws one dE/dx per track (nHits is ignored).

        Args:
            tracks: Track table with species, p, theta (nhits is required by the table
                format but not used).
            seed: Seed or ``np.random.Generator``; default the constructor's ``seed``.

        Returns:
            ``(len(tracks),)`` simulated dE/dx.
        """
        state = self._require_state()
        table = validate_tracks(tracks, require_dedx=False, source="tracks")
        if seed is None:
            seed = self.seed
        if isinstance(seed, (int, np.integer)) and seed < 0:
            raise ValueError(f"`seed` must be a non-negative integer. Received: seed={seed!r}")
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        bg, positive = _species_arrays(table)
        cos_theta = np.cos(table["theta"].to_numpy(np.float64))
        cell = self._cells(bg, cos_theta, positive, state["beta_gamma_edges"])
        src = state["source"][cell]

        hist = state["hist"].astype(np.float64)
        totals = hist.sum(axis=1, keepdims=True)
        cdf = np.divide(np.cumsum(hist, axis=1), totals, out=np.zeros_like(hist), where=totals > 0)
        n_cells, n_h = cdf.shape
        # Rows offset by their index form one globally sorted array (each row lies in [r, r+1]).
        flat = (cdf + np.arange(n_cells)[:, None]).ravel()
        u = rng.uniform(size=len(src))
        j = np.searchsorted(flat, src + u, side="right") - src * n_h
        j = np.clip(j, 0, n_h - 1)
        upper = cdf[src, j]
        lower = np.where(j > 0, cdf[src, np.maximum(j - 1, 0)], 0.0)
        frac = np.clip(np.divide(u - lower, upper - lower, out=np.full_like(u, 0.5), where=upper > lower), 0, 1)
        width = (state["high"] - state["low"]) / n_h
        value = state["low"][src] + (j + frac) * width[src]
        return value + state["curve"](bg) - state["centre"][src]

    # ----------------------------------------------------------------------- persistence
    def save(self, path: str | os.PathLike) -> Path:
        """Writes config and fitted state as one JSON file (atomic write)."""
        state = self._require_state()
        payload = {
            "format": _FORMAT,
            "version": _VERSION,
            "config": self.get_config(),
            "state": {
                "curve": state["curve"].to_dict(),
                "beta_gamma_edges": state["beta_gamma_edges"].tolist(),
                "counts": state["counts"].tolist(),
                "low": state["low"].tolist(),
                "high": state["high"].tolist(),
                "centre": state["centre"].tolist(),
                "source": state["source"].tolist(),
                "hist": state["hist"].tolist(),
            },
        }
        path = Path(path)
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(payload, allow_nan=False))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> HistogramSampler:
        """Reads a sampler written by :meth:`save`.

        Raises:
            ValueError: if the file is not a saved HistogramSampler.
        """
        path = Path(path)
        try:
            payload = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise ValueError(f"Cannot read a HistogramSampler. Received: path={str(path)!r} ({err})") from err
        if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
            raise ValueError(f"Not a saved HistogramSampler. Received: path={str(path)!r}")
        if payload.get("version") != _VERSION:
            raise ValueError(
                f"Unsupported HistogramSampler file version. Received: version={payload.get('version')!r}"
            )
        sampler = cls.from_config(payload["config"])
        s = payload["state"]
        sampler._state = {
            "curve": DedxCurve.from_dict(s["curve"]),
            "beta_gamma_edges": np.asarray(s["beta_gamma_edges"], dtype=np.float64),
            "counts": np.asarray(s["counts"], dtype=np.int64),
            "low": np.asarray(s["low"], dtype=np.float64),
            "high": np.asarray(s["high"], dtype=np.float64),
            "centre": np.asarray(s["centre"], dtype=np.float64),
            "source": np.asarray(s["source"], dtype=np.int64),
            "hist": np.asarray(s["hist"], dtype=np.int64),
        }
        return sampler


def _block_quantile(sorted_values, starts, counts, q):
    """Linear-interpolated quantile ``q`` of each block ``sorted_values[start:start+count]``."""
    if len(sorted_values) == 0:
        return np.zeros(len(starts))
    pos = q * (counts - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, counts - 1)
    frac = pos - lo
    last = len(sorted_values) - 1
    a = sorted_values[np.minimum(starts + lo, last)]
    b = sorted_values[np.minimum(starts + hi, last)]
    return a + frac * (b - a)


def _nearest_filled(filled: np.ndarray, n_bg: int, n_cos: int) -> np.ndarray:
    """Index of the cell to sample for each cell: itself if filled, else the nearest filled.

    Distance: beta*gamma bins first, then cos(theta) bins, then charge (lexicographic),
    ties towards the lower index.
    """
    n_cells = len(filled)
    idx = np.arange(n_cells)
    q, rest = np.divmod(idx, n_bg * n_cos)
    i_bg, i_cos = np.divmod(rest, n_cos)
    big = float(n_bg + 1)
    distance = (
        np.abs(i_bg[:, None] - i_bg[None, :])
        + big * np.abs(i_cos[:, None] - i_cos[None, :])
        + big * big * np.abs(q[:, None] - q[None, :])
    ).astype(np.float64)
    distance[:, ~filled] = math.inf
    return np.argmin(distance, axis=1)
