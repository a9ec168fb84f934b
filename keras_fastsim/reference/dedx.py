"""Reference BESIII drift-chamber dE/dx: the stand-in for "experiment data" (SPEC 1.1).

A track crosses up to 43 drift-cell layers of the BESIII MDC (He/C3H8 60:40, 1 T). Each
good hit measures an energy loss per unit length that fluctuates with a Landau distribution
about the track's mean; the track's dE/dx is the truncated mean of its hits (BESIII keeps
the middle 70%: the lowest 5% and the highest 25% are dropped), in calibrated units in
which a minimum-ionising particle reads 550.

Model, per track with n good hits at polar angle theta:

    hit_i = E(beta*gamma) * g * (1 + w(theta) * (L_i - t(n)))        i = 1..n
    dedx  = truncated_mean(hit_1..hit_n)

- ``E`` is the restricted Bethe–Bloch energy loss of PDG 2024 eq. 34.7 with the density
  effect (:func:`keras_fastsim.physics.dedx_curve.bethe_bloch`, ``T_cut`` = 10 keV) in
  He/C3H8 60:40, scaled to 550 at its minimum (beta*gamma = 4.15). A truncated mean
  estimates the restricted loss: delta electrons above ~10 keV (range ~3 mm in the gas)
  leave the cell or fall in the dropped tail. It reaches a Fermi plateau 1.31 times the
  minimum.
- ``L_i`` are standard Landau variates (``scipy.stats.landau``); ``t(n)`` is the expected
  truncated mean of n of them, so the expected track dE/dx is exactly ``E`` whatever n and
  theta (the calibrations of BESIII remove the path-length and nHits dependence of the mean).
- ``w(theta) = w0 * (l / l0)^-0.32`` with the path length ``l = cell / sin(theta)``: the
  relative width of a single-cell signal shrinks with the sampled thickness like the
  empirical (x P)^-0.32 law of gaseous dE/dx (Allison & Cobb 1980; PDG 2024 Sec. 35.9.4
  "dE/dx resolution"). Landau theory with the PDG width xi is far too narrow for ~1 cm of
  gas, so ``w0`` is tuned to BESIII's ~6% resolution for Bhabha electrons.
- ``g`` is an optional per-track gain fluctuation ``1 + gain_sigma * N(0, 1)``.

The relative resolution is therefore ``sqrt((w(theta) s(n))^2 + gain_sigma^2)`` with
``s(n)`` the standard deviation of the truncated mean of n standard Landau variates; it
falls like nHits^-0.6 (fewer than 20 hits: the truncation keeps relatively more of the
Landau tail) and improves at small sin(theta) (longer path per cell).

Kinematics follow the BESIII J/psi control samples (see :class:`DedxReferenceConfig`):
momentum spectra per species, |cos(theta)| < 0.93 flat, and nHits from the layers crossed
(endplate acceptance shrinking from |cos(theta)| < 0.93 for the innermost to 0.83 for the
outermost layer; low-p_T tracks curl before the outer layers) times a hit efficiency.
Only tracks with nHits >= 5 (the PID requirement) are generated.

References:
    - PDG 2024, "Passage of particles through matter", eqs. 34.5–34.7 and Sec. 34.2.9
      (energy-loss fluctuations, Landau distribution).
    - PDG 2024, "Particle detectors at accelerators", Sec. 35.9.4 (dE/dx resolution).
    - W. W. M. Allison and J. H. Cobb, Ann. Rev. Nucl. Part. Sci. 30 (1980) 253.
    - M. Ablikim et al. (BESIII), "Design and construction of the BESIII detector",
      Nucl. Instrum. Meth. A 614 (2010) 345 (MDC: 43 layers, 59–810 mm, He/C3H8 60:40,
      1 T, dE/dx resolution ~6% for Bhabha electrons).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from keras_fastsim.io.tables import validate_tracks
from keras_fastsim.physics.dedx_curve import (
    HE_C3H8_60_40,
    bethe_bloch,
    bethe_bloch_minimum,
)
from keras_fastsim.physics.species import HADRON_SPECIES, SPECIES, get_species

_MIN_PID_HITS = 5
_TABLE_REPLICAS = 20_000
_TABLE_SEED = 20240601


@dataclass(frozen=True)
class MomentumSpectrum:
    """A truncated Gamma momentum density ``f(p) ~ p^(shape-1) exp(-p / scale)``.

    Attributes:
        shape: Gamma shape (> 0).
        scale: Gamma scale in GeV/c (> 0).
        p_min: Lower momentum bound in GeV/c.
        p_max: Upper momentum bound in GeV/c.
    """

    shape: float
    scale: float
    p_min: float
    p_max: float

    def __post_init__(self):
        if not (self.shape > 0 and self.scale > 0 and 0 < self.p_min < self.p_max):
            raise ValueError(
                "MomentumSpectrum needs shape > 0, scale > 0 and 0 < p_min < p_max. "
                f"Received: {self!r}"
            )

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Draws ``n`` momenta by inverse CDF."""
        dist = stats.gamma(self.shape, scale=self.scale)
        lo, hi = dist.cdf(self.p_min), dist.cdf(self.p_max)
        return dist.ppf(rng.uniform(lo, hi, size=n))


def _default_spectra() -> dict[str, MomentumSpectrum]:
    return {
        # Pions: soft, from multi-pion J/psi decays (mean ~0.6 GeV/c).
        "pi": MomentumSpectrum(shape=2.0, scale=0.30, p_min=0.10, p_max=2.0),
        # Kaons: from J/psi -> K K pi, phi X (mean ~0.9 GeV/c).
        "K": MomentumSpectrum(shape=3.0, scale=0.30, p_min=0.20, p_max=2.0),
        # Protons: from J/psi -> p pbar pi(+pi-); below ~0.25 GeV/c they stop before the MDC.
        "p": MomentumSpectrum(shape=3.5, scale=0.30, p_min=0.25, p_max=2.0),
        # Bhabha electrons at the J/psi: E_beam = 1.548 GeV (+- 0.5% resolution).
        "e": MomentumSpectrum(shape=40000.0, scale=1.548 / 40000.0, p_min=1.45, p_max=1.65),
    }


@dataclass(frozen=True)
class DedxReferenceConfig:
    """Parameters of :class:`DedxReference` (defaults: BESIII MDC at the J/psi).

    Attributes:
        mip_dedx: dE/dx of a minimum-ionising particle in calibrated units (550).
        t_cut_mev: Energy-transfer cut of the restricted Bethe–Bloch truth curve, MeV
            (10 keV). ``None`` uses the full mean loss of PDG eq. 34.5 with the pion mass
            in W_max.
        n_layers: Number of sense-wire layers (43).
        r_first_m, r_last_m: Radii of the first and last layer, m (0.078, 0.763).
        cos_acceptance_inner, cos_acceptance_outer: |cos(theta)| acceptance of the first
            and the last layer (0.93, 0.83), linear in between (stepped endplates).
        b_field_t: Solenoid field, T (1.0); a track reaches radius 2 p_T / (0.3 B).
        hit_efficiency: Probability that a crossed layer gives a good dE/dx hit (0.92).
        cell_size_cm: Mean radial cell size, cm (1.5; inner 1.2, outer 1.62).
        width: Relative Landau width w0 of one hit at normal incidence (0.20, tuned to
            a 6% resolution for 1.55 GeV Bhabha electrons).
        path_exponent: Exponent of the path-length scaling of the width (0.32).
        gain_sigma: Relative per-track gain fluctuation (0.0: off).
        truncation_low: Fraction of lowest hits dropped (0.05).
        truncation_high: Fraction of sorted hits up to which hits are kept (0.75).
        cos_theta_max: Generated |cos(theta)| range (0.93).
        min_hits: Minimum nHits of generated tracks (5, BESIII PID requirement).
        spectra: Momentum spectrum per hypothesis ``"pi"``, ``"K"``, ``"p"``, ``"e"``.
        chunk_size: Tracks per vectorised chunk (bounds memory; 100000).
    """

    mip_dedx: float = 550.0
    t_cut_mev: float | None = 0.01
    n_layers: int = 43
    r_first_m: float = 0.078
    r_last_m: float = 0.763
    cos_acceptance_inner: float = 0.93
    cos_acceptance_outer: float = 0.83
    b_field_t: float = 1.0
    hit_efficiency: float = 0.92
    cell_size_cm: float = 1.5
    width: float = 0.20
    path_exponent: float = 0.32
    gain_sigma: float = 0.0
    truncation_low: float = 0.05
    truncation_high: float = 0.75
    cos_theta_max: float = 0.93
    min_hits: int = _MIN_PID_HITS
    spectra: dict[str, MomentumSpectrum] = field(default_factory=_default_spectra)

    chunk_size: int = 100_000

    def __post_init__(self):
        checks = {
            "mip_dedx": self.mip_dedx > 0,
            "t_cut_mev": self.t_cut_mev is None or self.t_cut_mev > 0,
            "n_layers": isinstance(self.n_layers, (int, np.integer)) and self.n_layers >= 1,
            "r_first_m": 0 < self.r_first_m < self.r_last_m,
            "cos_acceptance_inner": 0 < self.cos_acceptance_inner <= 1,
            "cos_acceptance_outer": 0 < self.cos_acceptance_outer <= self.cos_acceptance_inner,
            "b_field_t": self.b_field_t > 0,
            "hit_efficiency": 0 < self.hit_efficiency <= 1,
            "cell_size_cm": self.cell_size_cm > 0,
            "width": self.width > 0,
            "path_exponent": self.path_exponent >= 0,
            "gain_sigma": self.gain_sigma >= 0,
            "truncation_low": 0 <= self.truncation_low < self.truncation_high,
            "truncation_high": self.truncation_low < self.truncation_high <= 1,
            "cos_theta_max": 0 < self.cos_theta_max < 1,
            "min_hits": isinstance(self.min_hits, (int, np.integer))
            and 1 <= self.min_hits <= self.n_layers,
            "chunk_size": isinstance(self.chunk_size, (int, np.integer)) and self.chunk_size >= 1,
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(
                    f"Invalid DedxReferenceConfig.{name}. Received: {name}={getattr(self, name)!r}"
                )
        missing = {"pi", "K", "p", "e"} - set(self.spectra)
        if missing:
            raise ValueError(
                "DedxReferenceConfig.spectra needs an entry for each hypothesis. "
                f"Received: spectra without {sorted(missing)}"
            )


def truncation_bounds(nhits, low: float = 0.05, high: float = 0.75) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the kept hits of a truncated mean, in the ascending-sorted hit list.

    The ``floor(low * n)`` lowest hits are dropped and the sorted hits up to index
    ``round(high * n)`` (exclusive) are kept, at least one hit. For 43 hits this keeps
    hits 2..31 (30 hits, 70%); for 100 hits 70 hits.

    Args:
        nhits: Number of hits per track (integers >= 1).
        low: Fraction dropped at the low end.
        high: Fraction of sorted hits up to which hits are kept.

    Returns:
        ``(start, stop)`` integer arrays: hits ``start <= k < stop`` are kept.
    """
    n = np.asarray(nhits)
    if np.any(n < 1):
        raise ValueError(f"`nhits` must be >= 1. Received: nhits with min {n.min()!r}")
    if not 0 <= low < high <= 1:
        raise ValueError(f"Need 0 <= low < high <= 1. Received: low={low!r}, high={high!r}")
    start = np.floor(low * n + 1e-9).astype(np.int64)
    stop = np.maximum(start + 1, np.floor(high * n + 0.5).astype(np.int64))
    return start, np.minimum(stop, n)


def truncated_mean(
    hits: np.ndarray, nhits, *, low: float = 0.05, high: float = 0.75
) -> np.ndarray:
    """Truncated mean of each row's first ``nhits`` values (vectorised).

    Args:
        hits: ``(n_tracks, max_hits)`` hit values; entries beyond a row's ``nhits`` are
            ignored.
        nhits: ``(n_tracks,)`` number of valid hits per row (1..max_hits).
        low: Fraction of lowest hits dropped.
        high: Fraction of the sorted hits up to which hits are kept.

    Returns:
        ``(n_tracks,)`` truncated means.

    Raises:
        ValueError: on shape mismatch or ``nhits`` outside ``[1, max_hits]``.
    """
    hits = np.asarray(hits, dtype=np.float64)
    n = np.asarray(nhits, dtype=np.int64)
    if hits.ndim != 2 or n.shape != (hits.shape[0],):
        raise ValueError(
            "`hits` must be 2-D with one `nhits` per row. "
            f"Received: hits.shape={hits.shape}, nhits.shape={n.shape}"
        )
    if n.size and (n.min() < 1 or n.max() > hits.shape[1]):
        raise ValueError(
            f"`nhits` must be in [1, {hits.shape[1]}]. Received: nhits in [{n.min()}, {n.max()}]"
        )
    column = np.arange(hits.shape[1])
    ordered = np.sort(np.where(column < n[:, None], hits, np.inf), axis=1)
    start, stop = truncation_bounds(n, low, high)
    keep = (column >= start[:, None]) & (column < stop[:, None])
    return np.where(keep, ordered, 0.0).sum(axis=1) / (stop - start)


def _check_seed(seed):
    if seed is None or isinstance(seed, (int, np.integer, np.random.SeedSequence)):
        if isinstance(seed, (int, np.integer)) and seed < 0:
            raise ValueError(f"`seed` must be a non-negative integer. Received: seed={seed!r}")
        return np.random.default_rng(seed)
    if isinstance(seed, np.random.Generator):
        return seed
    raise ValueError(
        f"`seed` must be an int, a SeedSequence, a numpy Generator or None. Received: seed={seed!r}"
    )


class DedxReference:
    """Reference BESIII dE/dx generator (the "experiment data" of SPEC 1.1).

    See the module docstring for the physics model. All draws are vectorised over tracks
    and processed in chunks of ``config.chunk_size`` tracks; every random method takes a
    ``seed``.

    Args:
        config: The parameters (default: :class:`DedxReferenceConfig`).

    Example:
        >>> ref = DedxReference()
        >>> table = ref.generate(10_000, species=("pi+", "K+"), seed=1)
        >>> table.columns.tolist()
        ['species', 'p', 'theta', 'nhits', 'dedx']
    """

    def __init__(self, config: DedxReferenceConfig | None = None):
        if config is None:
            config = DedxReferenceConfig()
        if not isinstance(config, DedxReferenceConfig):
            raise ValueError(f"`config` must be a DedxReferenceConfig. Received: config={config!r}")
        self.config = config
        bg_min, dedx_min = bethe_bloch_minimum(
            medium=HE_C3H8_60_40, t_cut_mev=config.t_cut_mev
        )
        self._bg_min = bg_min
        self._norm = config.mip_dedx / dedx_min
        self._tables: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def get_config(self) -> dict:
        """Returns the configuration as a plain dict."""
        return asdict(self.config)

    # ------------------------------------------------------------------ truth functions
    @property
    def beta_gamma_min(self) -> float:
        """beta*gamma at the minimum of the truth curve."""
        return self._bg_min

    def expected_dedx(self, beta_gamma) -> np.ndarray:
        """Truth curve: the mean truncated dE/dx (calibrated units) at ``beta_gamma``."""
        return self._norm * bethe_bloch(
            beta_gamma,
            mass=SPECIES["pi+"].mass,
            medium=HE_C3H8_60_40,
            t_cut_mev=self.config.t_cut_mev,
        )

    def hit_width(self, theta) -> np.ndarray:
        """Relative Landau width w(theta) of one hit (path length cell / sin(theta))."""
        theta = np.asarray(theta, dtype=np.float64)
        sin_theta = np.clip(np.sin(theta), 1e-3, 1.0)
        return self.config.width * sin_theta**self.config.path_exponent

    def resolution(self, nhits, theta) -> np.ndarray:
        """Truth relative resolution sigma/dE/dx for ``nhits`` good hits at ``theta``.

        Args:
            nhits: Number of hits (integers >= 1), broadcastable with ``theta``.
            theta: Polar angle in rad.

        Returns:
            The relative standard deviation of the track dE/dx.
        """
        n = np.asarray(nhits)
        if np.any(n < 1) or np.any(n != np.round(n)):
            raise ValueError(f"`nhits` must be integers >= 1. Received: nhits={nhits!r}")
        n = n.astype(np.int64)
        _, spread = self._truncation_table(int(max(self.config.n_layers, n.max(initial=1))))
        stat = self.hit_width(theta) * spread[n]
        return np.sqrt(stat**2 + self.config.gain_sigma**2)

    def _truncation_table(self, n_max: int) -> tuple[np.ndarray, np.ndarray]:
        """Mean t(n) and std s(n) of the truncated mean of n standard Landau variates.

        Estimated once per instance with a fixed seed from 20000 replicas (relative
        precision of the mean ~1e-4 of dE/dx, of the std 0.5%) and cached on the instance.
        Index 0 is unused.
        """
        n_max = max(n_max, self.config.n_layers)
        cached = self._tables.get(n_max)
        if cached is None:
            cached = self._compute_truncation_table(n_max)
            self._tables[n_max] = cached
        return cached

    def _compute_truncation_table(self, n_max: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(_TABLE_SEED)
        # Column-major draw so that the first n rows do not depend on n_max.
        draws = stats.landau.rvs(size=(n_max, _TABLE_REPLICAS), random_state=rng).T
        mean = np.full(n_max + 1, np.nan)
        std = np.full(n_max + 1, np.nan)
        low, high = self.config.truncation_low, self.config.truncation_high
        for n in range(1, n_max + 1):  # loop over hit multiplicities, not tracks
            tm = truncated_mean(draws[:, :n], np.full(_TABLE_REPLICAS, n), low=low, high=high)
            mean[n], std[n] = tm.mean(), tm.std()
        return mean, std

    # ------------------------------------------------------------------ kinematics
    def layer_radii(self) -> np.ndarray:
        """Radii of the sense-wire layers in m."""
        c = self.config
        return np.linspace(c.r_first_m, c.r_last_m, c.n_layers)

    def layers_crossed(self, p, theta) -> np.ndarray:
        """Number of layers a track crosses (endplate acceptance and curling).

        Layer j is crossed when ``|cos(theta)|`` is inside its acceptance and its radius
        is below the largest radius of the helix, ``2 p_T / (0.3 B)``.
        """
        c = self.config
        p = np.asarray(p, dtype=np.float64)
        theta = np.asarray(theta, dtype=np.float64)
        reach = 2.0 * p * np.sin(theta) / (0.3 * c.b_field_t)
        radii = self.layer_radii()
        acceptance = np.linspace(c.cos_acceptance_inner, c.cos_acceptance_outer, c.n_layers)
        by_radius = np.searchsorted(radii, reach, side="left")
        # acceptance decreases with layer index: count layers with acceptance > |cos|.
        by_angle = np.searchsorted(-acceptance, -np.abs(np.cos(theta)), side="left")
        return np.minimum(by_radius, by_angle)

    def sample_kinematics(self, species: str, n: int, seed=None) -> pd.DataFrame:
        """Draws control-sample kinematics for one species.

        Momentum from the species' :class:`MomentumSpectrum`, cos(theta) flat in
        ``[-cos_theta_max, cos_theta_max]``, nHits ~ Binomial(layers crossed, hit
        efficiency); tracks with nHits < ``min_hits`` are rejected and redrawn.

        Args:
            species: A name in ``SPECIES``.
            n: Number of tracks (>= 0).
            seed: Seed or ``np.random.Generator``.

        Returns:
            DataFrame with columns species, p [GeV/c], theta [rad], nhits (int64).
        """
        sp = get_species(species)
        if not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"`n` must be a non-negative integer. Received: n={n!r}")
        rng = _check_seed(seed)
        c = self.config
        spectrum = c.spectra[sp.hypothesis]
        parts_p, parts_t, parts_n = [], [], []
        remaining, acceptance = int(n), 1.0
        for _ in range(100):  # rejection rounds, each vectorised
            if remaining == 0:
                break
            m = int(math.ceil(remaining / max(acceptance, 0.05) * 1.1)) + 16
            p = spectrum.sample(m, rng)
            theta = np.arccos(rng.uniform(-c.cos_theta_max, c.cos_theta_max, size=m))
            nhits = rng.binomial(self.layers_crossed(p, theta), c.hit_efficiency)
            ok = nhits >= c.min_hits
            acceptance = max(ok.mean(), 1e-3)
            take = np.flatnonzero(ok)[:remaining]
            parts_p.append(p[take])
            parts_t.append(theta[take])
            parts_n.append(nhits[take])
            remaining -= len(take)
        if remaining:
            raise RuntimeError(
                f"Could not generate {n} {species} tracks with nhits >= {c.min_hits}; "
                "check the acceptance parameters."
            )
        return pd.DataFrame(
            {
                "species": np.full(int(n), sp.name, dtype=object),
                "p": np.concatenate(parts_p) if parts_p else np.empty(0),
                "theta": np.concatenate(parts_t) if parts_t else np.empty(0),
                "nhits": (np.concatenate(parts_n) if parts_n else np.empty(0)).astype(np.int64),
            }
        )

    # ------------------------------------------------------------------ dE/dx
    def simulate(self, tracks: pd.DataFrame, seed=None) -> np.ndarray:
        """Simulates the truncated-mean dE/dx for given track conditions.

        Args:
            tracks: Track table with at least species, p, theta, nhits (any species in
                ``SPECIES``; ``nhits >= 1``).
            seed: Seed or ``np.random.Generator``.

        Returns:
            ``(len(tracks),)`` dE/dx in calibrated units.
        """
        table = validate_tracks(tracks, require_dedx=False, source="tracks")
        rng = _check_seed(seed)
        c = self.config
        mass = table["species"].map({k: s.mass for k, s in SPECIES.items()}).to_numpy(float)
        bg = table["p"].to_numpy() / mass
        theta = table["theta"].to_numpy()
        nhits = table["nhits"].to_numpy()
        mean_t, _ = self._truncation_table(int(max(c.n_layers, nhits.max())))
        out = np.empty(len(table))
        for lo in range(0, len(table), c.chunk_size):  # chunks bound memory
            sl = slice(lo, lo + c.chunk_size)
            n = nhits[sl]
            landau = stats.landau.rvs(size=(len(n), int(n.max())), random_state=rng)
            width = self.hit_width(theta[sl])[:, None]
            hits = 1.0 + width * (landau - mean_t[n][:, None])
            out[sl] = truncated_mean(hits, n, low=c.truncation_low, high=c.truncation_high)
            if c.gain_sigma > 0:
                out[sl] *= 1.0 + c.gain_sigma * rng.standard_normal(len(n))
        return out * self.expected_dedx(bg)

    def generate(
        self, n: int, species: str | Sequence[str] = HADRON_SPECIES, seed=None
    ) -> pd.DataFrame:
        """Generates a complete track table: ``n`` tracks of each species.

        Args:
            n: Tracks per species (>= 1).
            species: One species name or a sequence of names.
            seed: Seed or ``np.random.Generator``.

        Returns:
            DataFrame with columns species, p, theta, nhits, dedx.
        """
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"`n` must be a positive integer. Received: n={n!r}")
        names = (species,) if isinstance(species, str) else tuple(species)
        if not names:
            raise ValueError(f"`species` must name at least one species. Received: species={species!r}")
        for name in names:
            get_species(name)
        rng = _check_seed(seed)
        table = pd.concat(
            [self.sample_kinematics(name, int(n), seed=rng) for name in names], ignore_index=True
        )
        table["dedx"] = self.simulate(table, seed=rng)
        return table
