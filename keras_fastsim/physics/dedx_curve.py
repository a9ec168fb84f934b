"""Expected dE/dx curves: Bethe–Bloch in the BESIII drift-chamber gas and a fitted curve.

Two tools shared by the dE/dx reference generator, the histogram-sampling baseline and
particle identification:

- :func:`bethe_bloch`: the mean (or restricted) energy loss of PDG 2024 eq. 34.5 (34.7),
  with the Sternheimer density effect, in a :class:`GasMixture` (default
  :data:`HE_C3H8_60_40`, the BESIII MDC gas).
- :class:`DedxCurve` and :func:`fit_dedx_curve`: the smooth 5-parameter "ALEPH"
  parametrisation of dE/dx versus beta*gamma and its robust fit to measured tracks, which is
  what a dE/dx calibration does on data.

References:
    - R. L. Workman et al. (Particle Data Group), "Passage of particles through matter",
      Review of Particle Physics (2024 update), Sec. 34.2, eqs. 34.5–34.7.
    - PDG "Atomic and nuclear properties of materials" tables
      (https://pdg.lbl.gov/2024/AtomicNuclearProperties): helium gas (I = 41.8 eV,
      rho = 1.663e-4 g/cm^3) and propane gas C3H8 (I = 47.1 eV, rho = 1.879e-3 g/cm^3),
      both at 20 C and 1 atm.
    - R. M. Sternheimer and R. F. Peierls, "General expression for the density effect for
      the ionization loss of charged particles", Phys. Rev. B 3 (1971) 3681.
    - R. M. Sternheimer, M. J. Berger, S. M. Seltzer, "Density effect for the ionization
      loss of charged particles in various substances", At. Data Nucl. Data Tables 30
      (1984) 261.
    - W. Blum, W. Riegler, L. Rolandi, "Particle Detection with Drift Chambers", Springer
      (2008), Sec. 9.5 (the ALEPH parametrisation of the dE/dx curve).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy import optimize

K_BETHE = 0.307075
"""4 pi N_A r_e^2 m_e c^2 in MeV mol^-1 cm^2 (PDG 2024 Table 34.1)."""

M_ELECTRON_MEV = 0.51099895
"""Electron mass in MeV/c^2."""

_LN10 = math.log(10.0)


@dataclass(frozen=True)
class GasMixture:
    """Stopping-power constants of a (gas) medium.

    Attributes:
        name: Human-readable name.
        z_over_a: Mean <Z/A> in mol/g.
        mean_excitation_ev: Mean excitation energy I in eV.
        density: Density in g/cm^3.
        c_bar: Sternheimer -C (the density-effect constant, dimensionless).
        x0: Sternheimer x0 (x = log10(beta*gamma)); no density effect below it.
        x1: Sternheimer x1; above it delta = 2 ln(10) x - c_bar.
        a: Sternheimer a.
        k: Sternheimer k (the exponent m_s).
    """

    name: str
    z_over_a: float
    mean_excitation_ev: float
    density: float
    c_bar: float
    x0: float
    x1: float
    a: float
    k: float

    @classmethod
    def from_components(
        cls,
        name: str,
        components: Mapping[str, tuple[float, float, float, float, float]],
    ) -> GasMixture:
        """Builds an ideal-gas mixture from components given by volume fraction.

        The mixture follows Bragg additivity (PDG 2024 Sec. 34.2.3): <Z/A> is the
        mass-weighted mean, ``ln I = sum_j w_j (Z/A)_j ln I_j / <Z/A>`` and the density is
        the volume-weighted mean. The density-effect parameters follow the general
        prescription for gases of Sternheimer & Peierls (1971): ``c_bar = 2 ln(I / h nu_p)
        + 1`` with the plasma energy ``h nu_p = 28.816 sqrt(rho <Z/A>) eV``, ``k = 3``,
        ``x0``/``x1`` from the tabulated c_bar intervals and ``a`` from continuity at x0.

        Args:
            name: Name of the mixture.
            components: ``{name: (volume_fraction, Z, A, I_eV, density_g_cm3)}`` per
                molecule, with Z and A summed over the molecule's atoms.

        Returns:
            The mixture.

        Raises:
            ValueError: if the volume fractions are not positive or do not sum to 1.
        """
        fractions = np.array([c[0] for c in components.values()], dtype=np.float64)
        if len(fractions) == 0 or (fractions <= 0).any() or abs(fractions.sum() - 1) > 1e-6:
            raise ValueError(
                "Volume fractions must be positive and sum to 1. "
                f"Received: components={dict(components)!r}"
            )
        z = np.array([c[1] for c in components.values()], dtype=np.float64)
        a = np.array([c[2] for c in components.values()], dtype=np.float64)
        i_ev = np.array([c[3] for c in components.values()], dtype=np.float64)
        rho = np.array([c[4] for c in components.values()], dtype=np.float64)
        mass_weights = fractions * a / np.sum(fractions * a)
        za = z / a
        z_over_a = float(np.sum(mass_weights * za))
        ln_i = float(np.sum(mass_weights * za * np.log(i_ev)) / z_over_a)
        density = float(np.sum(fractions * rho))
        plasma_ev = 28.816 * math.sqrt(density * z_over_a)
        c_bar = 2.0 * (ln_i - math.log(plasma_ev)) + 1.0
        # Sternheimer & Peierls (1971), gases (I < 100 eV).
        if c_bar < 10.0:
            x0, x1 = 1.6, 4.0
        elif c_bar < 10.5:
            x0, x1 = 1.7, 4.0
        elif c_bar < 11.0:
            x0, x1 = 1.8, 4.0
        elif c_bar < 11.5:
            x0, x1 = 1.9, 4.0
        elif c_bar < 12.25:
            x0, x1 = 2.0, 4.0
        elif c_bar < 13.804:
            x0, x1 = 2.0, 5.0
        else:
            x0, x1 = 0.326 * c_bar - 2.5, 5.0
        k = 3.0
        a_param = (c_bar - 2.0 * _LN10 * x0) / (x1 - x0) ** k
        return cls(
            name=name,
            z_over_a=z_over_a,
            mean_excitation_ev=math.exp(ln_i),
            density=density,
            c_bar=c_bar,
            x0=x0,
            x1=x1,
            a=a_param,
            k=k,
        )


HE_C3H8_60_40: GasMixture = GasMixture.from_components(
    "He/C3H8 60:40",
    {
        # volume fraction, Z, A [g/mol], I [eV], density [g/cm^3] (PDG tables, 20 C, 1 atm)
        "He": (0.6, 2.0, 4.002602, 41.8, 1.663e-4),
        "C3H8": (0.4, 26.0, 3 * 12.011 + 8 * 1.008, 47.1, 1.879e-3),
    },
)
"""The BESIII MDC gas, helium/propane 60:40 by volume (<Z/A> = 0.5788 mol/g,
I = 46.5 eV, rho = 8.51e-4 g/cm^3, c_bar = 9.57, x0 = 1.6, x1 = 4.0)."""


def _as_positive_array(values, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(array)) or np.any(array <= 0):
        raise ValueError(f"`{name}` must be finite and > 0. Received: {name}={values!r}")
    return array


def density_effect(beta_gamma, medium: GasMixture = HE_C3H8_60_40) -> np.ndarray:
    """Sternheimer density-effect correction delta(beta*gamma).

    ``delta = 2 ln(10) x - c_bar + a (x1 - x)^k`` for ``x0 <= x < x1``,
    ``2 ln(10) x - c_bar`` above ``x1`` and 0 below ``x0`` (an insulator/gas),
    with ``x = log10(beta*gamma)`` (PDG 2024 eq. 34.7 footnote / Sternheimer 1984).

    Args:
        beta_gamma: beta*gamma (> 0), any shape.
        medium: The medium.

    Returns:
        delta, same shape as ``beta_gamma``.
    """
    x = np.log10(_as_positive_array(beta_gamma, "beta_gamma"))
    full = 2.0 * _LN10 * x - medium.c_bar
    middle = full + medium.a * np.clip(medium.x1 - x, 0.0, None) ** medium.k
    return np.where(x >= medium.x1, full, np.where(x >= medium.x0, middle, 0.0))


def max_energy_transfer(beta_gamma, mass: float) -> np.ndarray:
    """Maximum kinetic energy W_max in MeV given to a free electron (PDG 2024 eq. 34.4).

    Args:
        beta_gamma: beta*gamma of the projectile.
        mass: Projectile mass in GeV/c^2.
    """
    bg = _as_positive_array(beta_gamma, "beta_gamma")
    gamma = np.sqrt(1.0 + bg**2)
    ratio = M_ELECTRON_MEV / (1000.0 * mass)
    return 2.0 * M_ELECTRON_MEV * bg**2 / (1.0 + 2.0 * gamma * ratio + ratio**2)


def bethe_bloch(
    beta_gamma,
    *,
    mass: float = 0.13957039,
    charge: float = 1.0,
    medium: GasMixture = HE_C3H8_60_40,
    t_cut_mev: float | None = None,
) -> np.ndarray:
    """Mean (or restricted) mass stopping power <-dE/dx> in MeV cm^2/g.

    With ``t_cut_mev=None`` this is PDG 2024 eq. 34.5 (Bethe equation with the density
    effect correction, no shell correction):

        -dE/dx = K z^2 (Z/A) / beta^2 [ 1/2 ln(2 m_e c^2 beta^2 gamma^2 W_max / I^2)
                 - beta^2 - delta(beta*gamma)/2 ]

    With a cut, the restricted energy loss of PDG eq. 34.7, which counts only energy
    transfers below ``T_up = min(t_cut, W_max)``; it rises to the Fermi plateau instead of
    growing like ln(gamma) and is the quantity a truncated mean of drift-cell signals
    estimates (delta electrons above a few keV leave the cell or land in the truncated tail).

    Args:
        beta_gamma: beta*gamma (> 0), any shape.
        mass: Projectile mass in GeV/c^2 (enters only through W_max).
        charge: Projectile charge z in units of e.
        medium: The medium.
        t_cut_mev: Optional energy-transfer cut in MeV (> 0).

    Returns:
        The stopping power in MeV cm^2/g, same shape as ``beta_gamma``.

    Raises:
        ValueError: on non-positive ``beta_gamma``, ``mass`` or ``t_cut_mev``.
    """
    bg = _as_positive_array(beta_gamma, "beta_gamma")
    if not mass > 0:
        raise ValueError(f"`mass` must be > 0 GeV. Received: mass={mass!r}")
    if t_cut_mev is not None and not t_cut_mev > 0:
        raise ValueError(f"`t_cut_mev` must be > 0 or None. Received: t_cut_mev={t_cut_mev!r}")
    beta2 = bg**2 / (1.0 + bg**2)
    w_max = max_energy_transfer(bg, mass)
    i_mev = medium.mean_excitation_ev * 1e-6
    delta = density_effect(bg, medium)
    prefactor = K_BETHE * charge**2 * medium.z_over_a / beta2
    if t_cut_mev is None:
        bracket = (
            0.5 * np.log(2.0 * M_ELECTRON_MEV * bg**2 * w_max / i_mev**2) - beta2 - 0.5 * delta
        )
    else:
        t_up = np.minimum(t_cut_mev, w_max)
        bracket = (
            0.5 * np.log(2.0 * M_ELECTRON_MEV * bg**2 * t_up / i_mev**2)
            - 0.5 * beta2 * (1.0 + t_up / w_max)
            - 0.5 * delta
        )
    return prefactor * bracket


def bethe_bloch_minimum(
    *,
    mass: float = 0.13957039,
    medium: GasMixture = HE_C3H8_60_40,
    t_cut_mev: float | None = None,
) -> tuple[float, float]:
    """Position and value of the minimum of :func:`bethe_bloch`.

    Returns:
        ``(beta_gamma_min, dedx_min)`` with dedx in MeV cm^2/g.
    """
    result = optimize.minimize_scalar(
        lambda log_bg: float(
            bethe_bloch(np.exp(log_bg), mass=mass, medium=medium, t_cut_mev=t_cut_mev)
        ),
        bounds=(math.log(0.5), math.log(50.0)),
        method="bounded",
        options={"xatol": 1e-7},
    )
    return float(math.exp(result.x)), float(result.fun)


# ----------------------------------------------------------------------------------------
# The fitted curve.

_PARAM_NAMES = ("p1", "p2", "p3", "p4", "p5")

DEFAULT_CURVE_PARAMS: tuple[float, float, float, float, float] = (
    0.113058,
    7.79150,
    8.1854e-3,
    1.97971,
    1.09421,
)
"""ALEPH shape parameters fitted to the He/C3H8 60:40 restricted Bethe–Bloch curve
(T_cut = 10 keV) over 0.2 < beta*gamma < 1e4, normalised to 1 at the minimum (the fit
agrees with it to 0.7% above beta*gamma = 0.3); the start of :func:`fit_dedx_curve`."""


@dataclass(frozen=True)
class DedxCurve:
    """Smooth expected dE/dx versus beta*gamma, the ALEPH parametrisation.

        f(beta*gamma) = scale * p1 / beta^p4 * (p2 - beta^p4 - ln(p3 + (beta*gamma)^-p5))

    The five shape parameters are those of the ALEPH TPC (Blum, Riegler & Rolandi 2008,
    Sec. 9.5); ``scale`` carries the calibrated units (e.g. 550 at the minimum).

    Attributes:
        p1, p2, p3, p4, p5: Shape parameters; ``p3 > 0``.
        scale: Overall scale in dE/dx units.
    """

    p1: float = DEFAULT_CURVE_PARAMS[0]
    p2: float = DEFAULT_CURVE_PARAMS[1]
    p3: float = DEFAULT_CURVE_PARAMS[2]
    p4: float = DEFAULT_CURVE_PARAMS[3]
    p5: float = DEFAULT_CURVE_PARAMS[4]
    scale: float = 550.0

    def __post_init__(self):
        values = self.to_dict()
        if not all(math.isfinite(v) for v in values.values()):
            raise ValueError(f"DedxCurve parameters must be finite. Received: {values}")
        if not self.p3 > 0:
            raise ValueError(f"`p3` must be > 0. Received: p3={self.p3!r}")

    def __call__(self, beta_gamma) -> np.ndarray:
        """Evaluates the curve at ``beta_gamma`` (> 0, any shape)."""
        bg = _as_positive_array(beta_gamma, "beta_gamma")
        return _aleph(bg, self.p1, self.p2, self.p3, self.p4, self.p5) * self.scale

    def to_dict(self) -> dict[str, float]:
        """Returns the parameters as a JSON-serialisable dict."""
        return {
            "p1": float(self.p1),
            "p2": float(self.p2),
            "p3": float(self.p3),
            "p4": float(self.p4),
            "p5": float(self.p5),
            "scale": float(self.scale),
        }

    @classmethod
    def from_dict(cls, config: Mapping[str, float]) -> DedxCurve:
        """Rebuilds a curve from :meth:`to_dict` output.

        Raises:
            ValueError: on missing or unknown keys.
        """
        keys = set(_PARAM_NAMES) | {"scale"}
        if set(config) != keys:
            raise ValueError(
                f"Expected exactly the keys {sorted(keys)}. Received: config={dict(config)!r}"
            )
        return cls(**{k: float(v) for k, v in config.items()})


def _aleph(bg, p1, p2, p3, p4, p5):
    beta = bg / np.sqrt(1.0 + bg**2)
    beta_p4 = beta**p4
    return p1 / beta_p4 * (p2 - beta_p4 - np.log(p3 + bg ** (-p5)))


def binned_dedx_points(
    beta_gamma,
    dedx,
    *,
    weights=None,
    bins: int = 40,
    min_count: int = 20,
    statistic: str = "median",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Summarises tracks as one point per beta*gamma bin.

    Bins are quantiles of log(beta*gamma) (equal populations), merged so that each holds
    at least ``min_count`` tracks.

    Args:
        beta_gamma: beta*gamma per track.
        dedx: dE/dx per track.
        weights: Optional non-negative weights per track (weighted quantiles/means).
        bins: Number of beta*gamma bins (>= 1).
        min_count: Minimum number of tracks in a bin (>= 3).
        statistic: ``"median"`` or ``"core_mean"`` (the mean of the Gaussian core: an
            iterated mean within +-2.5 robust sigma).

    Returns:
        ``(beta_gamma, value, error)``: the weighted mean beta*gamma of each bin (geometric),
        the statistic and its standard error.
    """
    bg, y, w = _validate_points(beta_gamma, dedx, weights)
    if not (isinstance(bins, (int, np.integer)) and bins >= 1):
        raise ValueError(f"`bins` must be an integer >= 1. Received: bins={bins!r}")
    if not (isinstance(min_count, (int, np.integer)) and min_count >= 3):
        raise ValueError(f"`min_count` must be an integer >= 3. Received: min_count={min_count!r}")
    if statistic not in ("median", "core_mean"):
        raise ValueError(
            f"`statistic` must be 'median' or 'core_mean'. Received: statistic={statistic!r}"
        )
    keep = w > 0
    bg, y, w = bg[keep], y[keep], w[keep]
    order = np.argsort(bg, kind="stable")
    bg, y, w = bg[order], y[order], w[order]
    n = len(bg)
    n_bins = max(1, min(int(bins), n // min_count))
    if n < min_count:
        raise ValueError(
            f"Need at least min_count={min_count} tracks with weight > 0. Received: {n} tracks"
        )
    # Equal-population bins in sorted order (ties in beta*gamma do not matter here).
    bounds = np.linspace(0, n, n_bins + 1).round().astype(np.int64)
    x_out, v_out, e_out = [], [], []
    for lo, hi in zip(bounds[:-1], bounds[1:]):  # loop over bins (<= `bins`), not tracks
        yb, wb, lb = y[lo:hi], w[lo:hi], np.log(bg[lo:hi])
        x_out.append(math.exp(np.average(lb, weights=wb)))
        n_eff = wb.sum() ** 2 / np.sum(wb**2)
        med = _weighted_quantile(yb, wb, 0.5)
        robust_sigma = 0.5 * (_weighted_quantile(yb, wb, 0.8413) - _weighted_quantile(yb, wb, 0.1587))
        if statistic == "median":
            value = med
            error = 1.2533 * robust_sigma / math.sqrt(n_eff)
        else:
            value, sigma = med, robust_sigma
            for _ in range(5):
                core = np.abs(yb - value) < 2.5 * max(sigma, 1e-12)
                if core.sum() < 3:
                    break
                value = np.average(yb[core], weights=wb[core])
                sigma = math.sqrt(np.average((yb[core] - value) ** 2, weights=wb[core])) * 1.0
            error = sigma / math.sqrt(n_eff)
        v_out.append(value)
        e_out.append(max(error, 1e-12 * abs(value) + 1e-12))
    return np.array(x_out), np.array(v_out), np.array(e_out)


def _weighted_quantile(values, weights, q):
    order = np.argsort(values)
    v, w = values[order], weights[order]
    cw = np.cumsum(w) - 0.5 * w
    return float(np.interp(q * w.sum(), cw, v))


def _validate_points(beta_gamma, dedx, weights):
    bg = np.asarray(beta_gamma, dtype=np.float64).ravel()
    y = np.asarray(dedx, dtype=np.float64).ravel()
    if bg.shape != y.shape or bg.size == 0:
        raise ValueError(
            "`beta_gamma` and `dedx` must be non-empty and of equal length. "
            f"Received: len(beta_gamma)={bg.size}, len(dedx)={y.size}"
        )
    if not (np.all(np.isfinite(bg)) and np.all(bg > 0)):
        raise ValueError("`beta_gamma` must be finite and > 0. Received: beta_gamma with bad values")
    if not np.all(np.isfinite(y)):
        raise ValueError("`dedx` must be finite. Received: dedx with NaN/inf values")
    if weights is None:
        w = np.ones_like(y)
    else:
        w = np.asarray(weights, dtype=np.float64).ravel()
        if w.shape != y.shape or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise ValueError(
                "`weights` must be finite, >= 0, not all 0 and as long as `dedx`. "
                f"Received: weights of length {w.size}"
            )
    return bg, y, w


def fit_dedx_curve(
    beta_gamma,
    dedx,
    *,
    weights=None,
    bins: int | None = 40,
    min_count: int = 20,
    statistic: str = "median",
    initial: DedxCurve | None = None,
) -> DedxCurve:
    """Fits a :class:`DedxCurve` to measured dE/dx, robustly.

    With ``bins`` set (the default), the tracks are first summarised per beta*gamma bin by
    their median (or Gaussian-core mean, see :func:`binned_dedx_points`), and the curve is
    fitted to these points weighted by their standard errors. This is the calibration of
    the expected curve done on data. With ``bins=None`` the inputs are taken as points
    already (e.g. a curve sampled on a grid) and ``weights`` are least-squares weights
    (1/sigma^2).

    The fit is a ``scipy.optimize.least_squares`` trust-region fit with a soft-L1 loss
    (robust against outlying bins) in the parameters (log scale, p1, p2, log p3, p4, p5),
    started from :data:`DEFAULT_CURVE_PARAMS` (or ``initial``) with the scale set from the
    data.

    Args:
        beta_gamma: beta*gamma per track (or per point).
        dedx: dE/dx per track (or per point).
        weights: Optional non-negative weights (see above).
        bins: Number of beta*gamma bins, or None to fit the points directly.
        min_count: Minimum tracks per bin (binned mode).
        statistic: ``"median"`` or ``"core_mean"`` (binned mode).
        initial: Optional starting curve.

    Returns:
        The fitted curve.

    Raises:
        ValueError: on bad inputs, or fewer than 3 points to fit.
    """
    if bins is None:
        x, y, w = _validate_points(beta_gamma, dedx, weights)
        sigma = 1.0 / np.sqrt(np.where(w > 0, w, np.inf))
        keep = w > 0
        x, y, sigma = x[keep], y[keep], sigma[keep]
    else:
        x, y, sigma = binned_dedx_points(
            beta_gamma, dedx, weights=weights, bins=bins, min_count=min_count, statistic=statistic
        )
    if len(x) < 3:
        raise ValueError(f"Need at least 3 points to fit a dE/dx curve. Received: {len(x)} points")
    start = initial if initial is not None else DedxCurve(scale=1.0)
    shape0 = np.array([start.p1, start.p2, start.p3, start.p4, start.p5])
    # Scale from the data at the starting shape (weighted least squares, closed form).
    f0 = _aleph(x, *shape0)
    w_ls = 1.0 / sigma**2
    scale0 = float(np.sum(w_ls * f0 * y) / np.sum(w_ls * f0 * f0))
    if not scale0 > 0:
        scale0 = float(np.median(y) / np.median(f0))

    def residuals(theta):
        log_scale, p1, p2, log_p3, p4, p5 = theta
        model = np.exp(log_scale) * _aleph(x, p1, p2, np.exp(log_p3), p4, p5)
        return (model - y) / sigma

    theta0 = np.array(
        [math.log(scale0), shape0[0], shape0[1], math.log(shape0[2]), shape0[3], shape0[4]]
    )
    n_free = min(6, len(x))
    if n_free < 6:
        # Too few points for all parameters: fit the scale only.
        def residuals_scale(t):
            return residuals(np.concatenate([t, theta0[1:]]))

        result = optimize.least_squares(residuals_scale, theta0[:1], method="trf")
        theta = np.concatenate([result.x, theta0[1:]])
    else:
        result = optimize.least_squares(
            residuals,
            theta0,
            method="trf",
            loss="soft_l1",
            f_scale=3.0,
            x_scale="jac",
            bounds=(
                [-np.inf, 1e-6, -np.inf, math.log(1e-30), 0.1, 0.1],
                [np.inf, np.inf, np.inf, math.log(1e3), 10.0, 10.0],
            ),
            max_nfev=2000,
        )
        theta = result.x
    log_scale, p1, p2, log_p3, p4, p5 = (float(v) for v in theta)
    # Normalise p1 so that `scale` reads the curve's minimum value (a readable convention).
    curve = DedxCurve(p1=p1, p2=p2, p3=math.exp(log_p3), p4=p4, p5=p5, scale=math.exp(log_scale))
    grid = np.geomspace(0.5, 50.0, 400)
    unit_min = float(np.min(_aleph(grid, curve.p1, curve.p2, curve.p3, curve.p4, curve.p5)))
    if unit_min > 0:
        curve = DedxCurve(
            p1=curve.p1 / unit_min,
            p2=curve.p2,
            p3=curve.p3,
            p4=curve.p4,
            p5=curve.p5,
            scale=curve.scale * unit_min,
        )
    return curve
