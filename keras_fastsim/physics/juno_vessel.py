"""Optics of the JUNO acrylic vessel and the PMT acceptance, in ``keras.ops`` (and numpy tables).

Light leaving the liquid scintillator (LS) crosses the 12 cm acrylic shell into the water. At
the acrylic/water interface it is totally reflected when its impact parameter ``b`` (the
distance of its line from the centre) exceeds ``b_t = n_water R_outer / n_LS`` (~16.06 m), and
the Fresnel reflectance already rises steeply as ``b`` approaches ``b_t``. A deposit at radius
``R`` therefore sends back into the LS a fraction of its light that grows steeply near
``R ~ 16 m`` (0.017 at 15 m, 0.086 at 16 m, 0.15 at 16.1 m, 0.44 at 17.6 m); the reflected
light arrives later. These functions give the NN_time / NN_npe nets that shape as condition
features (``condition_features="position_vessel"`` in :mod:`keras_fastsim.models.juno`),
because a smooth net cannot place the kink itself from ``(R, theta)`` alone.

Refraction also moves the direct light on the PMT sphere: :class:`DirectLightTable` traces the
unscattered rays through the vessel and tabulates the direct light a PMT receives relative to
the straight-line solid angle. Beyond ``R ~ 16.06 m`` the trapped rays leave a band of PMTs at
~40-60 deg without direct light (``condition_features="position_optics"``). The table is relative
to :func:`acceptance_factor`, the straight-line solid angle of a PMT (also NN_npe's output prior).

They are written with ``keras.ops`` (any backend, numpy inputs too) and use the same optics as
:func:`keras_fastsim.reference.juno.shell_exit_probability` (the reference simulator's numpy
version, which a test compares them with); the defaults are those of
:class:`keras_fastsim.reference.juno.JunoOpticsConfig`.

References:
    M. Born and E. Wolf, "Principles of Optics", 7th ed., Sec. 1.5 (Fresnel formulae, total
    internal reflection); JUNO collaboration, "JUNO physics and detector", Prog. Part. Nucl.
    Phys. 123 (2022) 103927, arXiv:2104.02565 (central detector geometry).

Example:
    >>> import numpy as np
    >>> reflected_fraction(np.array([[15.0], [16.0], [17.6]]))   # ~0.017, 0.086, 0.44
"""

from __future__ import annotations

import dataclasses

import numpy as np
from keras import ops

__all__ = [
    "PMT_RADIUS_M",
    "VESSEL_OPTICS",
    "DirectLightTable",
    "acceptance_factor",
    "direct_reflectance",
    "pmt_distance_squared",
    "reflected_fraction",
    "vessel_exit_probability",
]

VESSEL_OPTICS: dict[str, float] = {
    "n_ls": 1.485, "n_acrylic": 1.50, "n_water": 1.338, "ls_radius_m": 17.7, "outer_radius_m": 17.82,
}
"""Refractive indices and vessel radii of the reference detector (the keyword defaults below)."""

PMT_RADIUS_M = 19.5
"""Radius of the reference detector's PMT sphere [m] (the ``pmt_radius_m`` defaults)."""

_NODES = 64  # cos(psi) midpoints of the isotropic average in reflected_fraction


def pmt_distance_squared(r, cos_theta, pmt_radius_m: float = PMT_RADIUS_M):
    """Squared deposit-PMT distance (law of cosines), floored at 1e-6 m^2; ``keras.ops``."""
    return ops.maximum(r * r + pmt_radius_m**2 - 2.0 * pmt_radius_m * r * cos_theta, 1e-6)


def acceptance_factor(conditions, pmt_radius_m: float = PMT_RADIUS_M):
    """Projected solid angle of a PMT seen from the deposit, relative to that from the centre.

    A photocathode of area ``A`` on the sphere of radius ``R_pmt``, facing the centre, subtends
    ``A cos(eta) / d^2`` from a deposit at distance ``d``, with ``cos(eta) = (R_pmt - R cos theta) / d``
    the cosine of the angle between the line of sight and the PMT's axis. Relative to the centre
    (``d = R_pmt``, ``eta = 0``) this is ``R_pmt^2 (R_pmt - R cos theta) / d^3``: 1 at ``R = 0``,
    ~0.3 on the far side and ~120 at the wall in front of the PMT. Refraction at the acrylic
    vessel, attenuation and scattering are left to the net. Written with ``keras.ops``.

    Args:
        conditions: ``(N, 2)`` conditions ``(R [m], theta [rad])``.
        pmt_radius_m: Radius of the PMT sphere [m].

    Returns:
        ``(N, 1)`` factors.
    """
    cond = ops.cast(conditions, "float32")
    r, cos = cond[:, 0:1], ops.cos(cond[:, 1:2])
    d2 = pmt_distance_squared(r, cos, pmt_radius_m)
    return pmt_radius_m**2 * (pmt_radius_m - r * cos) / (d2 * ops.sqrt(d2))


def _fresnel_transmittances(cos_i, n1: float, n2: float):
    """``(T_s, T_p) = 1 - (R_s, R_p)`` from index ``n1`` into ``n2``; 0 beyond the critical angle."""
    c1 = ops.clip(ops.abs(cos_i), 0.0, 1.0)
    sin_t2 = (n1 / n2) ** 2 * (1.0 - c1 * c1)
    c2 = ops.sqrt(ops.maximum(1.0 - sin_t2, 0.0))
    # T = 1 - R = 4 a b / (a + b)^2 for R = ((a - b) / (a + b))^2: exact 0 at grazing or TIR.
    ts = 4.0 * n1 * c1 * n2 * c2 / ops.maximum((n1 * c1 + n2 * c2) ** 2, 1e-12)
    tp = 4.0 * n2 * c1 * n1 * c2 / ops.maximum((n2 * c1 + n1 * c2) ** 2, 1e-12)
    return ts, tp


def vessel_exit_probability(
    cos_i,
    n_ls: float = VESSEL_OPTICS["n_ls"],
    n_acrylic: float = VESSEL_OPTICS["n_acrylic"],
    n_water: float = VESSEL_OPTICS["n_water"],
    ls_radius_m: float = VESSEL_OPTICS["ls_radius_m"],
    outer_radius_m: float = VESSEL_OPTICS["outer_radius_m"],
):
    """Probability that light hitting the vessel from the LS exits into the water.

    Args:
        cos_i: Cosine of the incidence angle at the LS/acrylic interface (any shape).
        n_ls, n_acrylic, n_water: Refractive indices.
        ls_radius_m, outer_radius_m: Inner and outer radius of the acrylic shell [m].

    Returns:
        ``1/2 sum_{s,p} T1 T2 / (1 - R1 R2)`` (multiple reflections inside the shell summed per
        polarisation), the shape of ``cos_i``.
    """
    c1 = ops.clip(ops.abs(ops.cast(cos_i, "float32")), 0.0, 1.0)
    t1s, t1p = _fresnel_transmittances(c1, n_ls, n_acrylic)
    sin_t1 = n_ls / n_acrylic * ops.sqrt(ops.maximum(1.0 - c1 * c1, 0.0))
    sin_2 = ops.clip(ls_radius_m / outer_radius_m * sin_t1, 0.0, 1.0)
    t2s, t2p = _fresnel_transmittances(ops.sqrt(1.0 - sin_2 * sin_2), n_acrylic, n_water)

    def shell(t1, t2):
        # 1 - R1 R2 = t1 + t2 - t1 t2; 0 only where t1 = t2 = 0 (then no light exits).
        return t1 * t2 / ops.maximum(t1 + t2 - t1 * t2, 1e-12)

    return 0.5 * (shell(t1s, t2s) + shell(t1p, t2p))


def _exit_at_impact(impact, ls_radius_m: float, optics: dict):
    ratio = ops.clip(impact / ls_radius_m, 0.0, 1.0)
    return vessel_exit_probability(ops.sqrt(1.0 - ratio * ratio), ls_radius_m=ls_radius_m, **optics)


def reflected_fraction(r, **optics: float):
    """Fraction of a point deposit's isotropic light that the vessel reflects back into the LS.

    The average of ``1 - P_exit`` over isotropic directions: a ray at angle ``psi`` to the
    radius has the impact parameter ``b = R sin(psi)`` and hits the LS surface at
    ``cos_i = sqrt(1 - (b / R_LS)^2)``. Computed with 64 midpoints in ``cos(psi)``.

    Args:
        r: Deposit radii [m], shape ``(N, 1)``.
        **optics: Overrides of :data:`VESSEL_OPTICS`.

    Returns:
        ``(N, 1)`` fractions in ``[0, 1]``.
    """
    opt = VESSEL_OPTICS | optics
    ls_radius = opt.pop("ls_radius_m")
    mu = (ops.cast(ops.arange(_NODES), "float32") + 0.5) / _NODES
    impact = ops.cast(r, "float32") * ops.sqrt(1.0 - mu * mu)[None, :]
    return 1.0 - ops.mean(_exit_at_impact(impact, ls_radius, opt), axis=-1, keepdims=True)


def direct_reflectance(r, theta, pmt_radius_m: float = PMT_RADIUS_M, **optics: float):
    """``1 - P_exit`` along the straight line from a deposit at ``(R, theta)`` to the PMT.

    The line's impact parameter is ``b = R R_pmt sin(theta) / d`` (``d`` the distance to the
    PMT). Refraction bends the real path; this is the reflection of the light that heads for
    the PMT, which is what decides how much direct light the PMT sees.

    Args:
        r, theta: Deposit radius [m] and angle to the PMT [rad], shape ``(N, 1)`` each.
        pmt_radius_m: Radius of the PMT sphere [m].
        **optics: Overrides of :data:`VESSEL_OPTICS`.

    Returns:
        ``(N, 1)`` reflectances in ``[0, 1]``.
    """
    opt = VESSEL_OPTICS | optics
    ls_radius = opt.pop("ls_radius_m")
    r, theta = ops.cast(r, "float32"), ops.cast(theta, "float32")
    d = ops.sqrt(pmt_distance_squared(r, ops.cos(theta), pmt_radius_m))
    return 1.0 - _exit_at_impact(r * pmt_radius_m * ops.sin(theta) / d, ls_radius, opt)


def _arccos(x):
    return np.arccos(np.clip(x, -1.0, 1.0))


@dataclasses.dataclass(frozen=True)
class DirectLightTable:
    """Unscattered light reaching a PMT, through the refracting vessel, over a grid of ``(R, theta)``.

    A ray leaving a deposit at radius ``R`` at angle ``psi`` to the outward radius keeps
    ``n r sin(angle to the radius)`` across the spherical interfaces, so its impact parameter is
    ``b = R sin(psi)`` in the LS, ``n_LS b / n_acrylic`` in the acrylic and ``n_LS b / n_water``
    in the water. Summing the polar angles swept in each medium gives the angle ``theta(psi)``
    at which it lands on the PMT sphere. The light per unit area of that sphere (which is what a
    PMT on it collects), relative to that of a deposit at the centre, is then
    ``P_exit(b) sin(psi) / (sin(theta) |dtheta/dpsi|)``, summed over the rays that reach the same
    ``theta``. Rays with ``b`` above the total-internal-reflection limit (~16.06 m) never leave
    the LS; for ``R`` beyond that limit they leave PMTs at ~40-60 deg without direct light.

    ``values`` holds that light divided by the straight-line :func:`acceptance_factor`
    ``R_pmt^2 (R_pmt - R cos theta) / d^3``:
    ``P_exit`` at normal incidence (0.997) at the centre, 0 in the shadow, and the refraction's
    spreading and focusing elsewhere (from ``R = 16 m``: 0.8 at 20 deg, 0.5 at 40 deg, 1.4 at
    50 deg). Attenuation is not included.

    Build it with :meth:`compute`; calling it interpolates bilinearly with ``keras.ops``.

    Attributes:
        values: ``(num_r, num_theta)`` float32 grid, ``R = i r_step_m``, ``theta = j theta_step``.
        r_step_m: Grid step in ``R`` [m].
        theta_step: Grid step in ``theta`` [rad].

    References:
        M. Born and E. Wolf, "Principles of Optics", 7th ed., Sec. 3.2 (rays in a spherically
        stratified medium: ``n r sin(phi)`` is constant, Bouguer's formula).

    Example:
        >>> table = DirectLightTable.compute()
        >>> table(np.array([[16.3]]), np.radians([[45.0]]))   # ~0: in the shadow of the vessel
    """

    values: np.ndarray
    r_step_m: float
    theta_step: float

    @classmethod
    def compute(
        cls,
        pmt_radius_m: float = PMT_RADIUS_M,
        r_step_m: float = 0.05,
        theta_step_deg: float = 0.25,
        num_rays: int = 8000,
        pmt_diameter_m: float = 0.508,
        **optics: float,
    ) -> DirectLightTable:
        """Traces ``num_rays`` rays from each grid radius (numpy, ~1 s).

        The light is averaged over the PMT's angular diameter (a running mean in ``theta``), as
        the photocathode does; this also bounds the caustics at the shadow's edges.

        Args:
            pmt_radius_m: Radius of the PMT sphere [m]; above the vessel's outer radius.
            r_step_m: Grid step in ``R`` [m]; the grid covers ``[0, R_LS]``.
            theta_step_deg: Grid step in ``theta`` [deg]; the grid covers ``[0, 180]``.
            num_rays: Rays per radius (equal intervals of the launch angle ``psi``).
            pmt_diameter_m: Photocathode diameter [m] (20-inch PMT: 0.508); 0 for no averaging.
            **optics: Overrides of :data:`VESSEL_OPTICS`.

        Raises:
            ValueError: a non-positive step, fewer than 100 rays, or a PMT radius inside the vessel.
        """
        opt = VESSEL_OPTICS | optics
        n_ls, n_ac, n_w = opt["n_ls"], opt["n_acrylic"], opt["n_water"]
        r_ls, r_out = opt["ls_radius_m"], opt["outer_radius_m"]
        if not (r_step_m > 0 and theta_step_deg > 0):
            raise ValueError(f"Grid steps must be positive. Received: r_step_m={r_step_m}, "
                             f"theta_step_deg={theta_step_deg}")
        if not pmt_diameter_m >= 0:
            raise ValueError(f"`pmt_diameter_m` must be >= 0. Received: pmt_diameter_m={pmt_diameter_m}")
        if not num_rays >= 100:
            raise ValueError(f"`num_rays` must be at least 100. Received: num_rays={num_rays}")
        if not pmt_radius_m > r_out:
            raise ValueError(f"`pmt_radius_m` must exceed the vessel's outer radius {r_out} m. "
                             f"Received: pmt_radius_m={pmt_radius_m}")
        num_r = int(np.ceil(r_ls / r_step_m - 1e-9)) + 1
        r_step_m = r_ls / (num_r - 1)  # the last row at R_LS exactly
        r = np.arange(num_r)[:, None] * r_step_m
        theta_grid = np.radians(np.arange(round(180.0 / theta_step_deg) + 1) * theta_step_deg)
        k_ac, k_w = n_ls / n_ac, n_ls / n_w

        def landing_angle(psi):
            b = r * np.sin(psi)
            # Polar angle swept from the deposit to the PMT sphere; in the LS psi - pi/2 + acos(b / R_LS)
            # holds for rays going out (psi < pi/2) and for rays crossing inwards first.
            return (psi - np.pi / 2 + _arccos(b / r_ls) + _arccos(k_ac * b / r_out) - _arccos(k_ac * b / r_ls)
                    + _arccos(k_w * b / pmt_radius_m) - _arccos(k_w * b / r_out))

        # Rays are the intervals between launch angles psi_k = k pi / num_rays; each carries the
        # exact solid angle of its interval times P_exit at its middle.
        psi_edges = np.arange(num_rays + 1)[None, :] * (np.pi / num_rays)
        # Edges beyond the trapping limit b_t bound a run only where it meets the trapped band:
        # moved onto the band's edge (R sin psi = b_t), they land where the last exiting ray does.
        b_t = r_out / k_w
        psi_t = np.arcsin(np.minimum(b_t / np.maximum(r, 1e-9), 1.0))
        trapped = r * np.sin(psi_edges) > b_t
        theta_edges = landing_angle(np.where(trapped, np.where(psi_edges < np.pi / 2, psi_t, np.pi - psi_t), psi_edges))
        b = r * np.sin(psi_edges[:, :-1] + 0.5 * np.pi / num_rays)
        exits = k_w * b < r_out * (1.0 - 1e-9)
        cos_i = np.sqrt(np.clip(1.0 - (b / r_ls) ** 2, 0.0, 1.0))
        p_exit = np.asarray(vessel_exit_probability(cos_i.astype(np.float32), n_ls, n_ac, n_w, r_ls, r_out))
        flux = p_exit * (np.cos(psi_edges[:, :-1]) - np.cos(psi_edges[:, 1:]))
        # Cell j of the grid spans theta_j +- step / 2. The rays are split into pieces on which
        # theta(psi) is monotonic (it folds back once on the inward rays beyond R ~ 16 m, a fold
        # caustic); along each piece the cumulative flux is interpolated linearly in cos(theta)
        # (exact for straight rays). This keeps the integrable caustics, which sampling
        # 1 / |dtheta/dpsi| at points would not.
        half = 0.5 * np.radians(theta_step_deg)
        cell_edges = np.clip(np.concatenate([theta_grid - half, [np.pi]]), 0.0, np.pi)
        cell_u = -np.cos(cell_edges)
        rising = np.diff(theta_edges, axis=1) >= 0
        label = np.where(exits, 1 + rising, 0).astype(np.int8)  # 0 trapped, 1 falling, 2 rising
        cumulative = np.zeros((len(r), len(cell_edges)))
        for i in range(len(r)):
            bounds = np.flatnonzero(np.diff(label[i])) + 1
            for start, stop in zip(np.concatenate([[0], bounds]), np.concatenate([bounds, [num_rays]])):
                if label[i, start] == 0:
                    continue
                u, fl = -np.cos(theta_edges[i, start : stop + 1]), flux[i, start:stop]
                if label[i, start] == 1:
                    u, fl = u[::-1], fl[::-1]
                cum = np.concatenate([[0.0], np.cumsum(fl)])
                cumulative[i] += np.interp(cell_u, u, cum, left=0.0, right=cum[-1])
        # Relative to the centre's 1 / (4 pi) per unit solid angle.
        values = np.diff(cumulative, axis=1) / (np.cos(cell_edges[:-1]) - np.cos(cell_edges[1:]))
        width = round(float(np.degrees(pmt_diameter_m / pmt_radius_m)) / theta_step_deg)
        if width > 1:
            # Running mean over the PMT, reflecting at theta = 0 and 180 deg (symmetric there).
            padded = np.concatenate([values[:, width:0:-1], values, values[:, -2:-width - 2:-1]], axis=1)
            kernel = np.ones(width + 1) / (width + 1)
            values = np.stack([np.convolve(row, kernel, mode="same")[width:-width] for row in padded])
        grid = np.column_stack([np.repeat(r[:, 0], len(theta_grid)), np.tile(theta_grid, len(r))])
        acceptance = np.asarray(acceptance_factor(grid, pmt_radius_m), np.float64).reshape(values.shape)
        return cls(values=(values / acceptance).astype(np.float32), r_step_m=float(r_step_m),
                   theta_step=float(np.radians(theta_step_deg)))

    def __call__(self, r, theta):
        """Bilinear interpolation at ``(N, 1)`` radii [m] and angles [rad]; ``keras.ops``."""
        num_r, num_theta = self.values.shape
        flat = ops.convert_to_tensor(self.values.reshape(-1))

        def cell(x, step, size):
            x = ops.clip(ops.cast(x, "float32") / step, 0.0, size - 1.0)
            lo = ops.minimum(ops.floor(x), size - 2.0)
            return ops.cast(lo, "int32"), x - lo

        i, fr = cell(r, self.r_step_m, num_r)
        j, ft = cell(theta, self.theta_step, num_theta)

        def at(di, dj):
            return ops.take(flat, (i + di) * num_theta + j + dj)

        return ((1.0 - fr) * ((1.0 - ft) * at(0, 0) + ft * at(0, 1))
                + fr * ((1.0 - ft) * at(1, 0) + ft * at(1, 1)))
