"""Reflection of scintillation light at the JUNO acrylic vessel, in ``keras.ops``.

Light leaving the liquid scintillator (LS) crosses the 12 cm acrylic shell into the water. At
the acrylic/water interface it is totally reflected when its impact parameter ``b`` (the
distance of its line from the centre) exceeds ``b_t = n_water R_outer / n_LS`` (~16.06 m), and
the Fresnel reflectance already rises steeply as ``b`` approaches ``b_t``. A deposit at radius
``R`` therefore sends back into the LS a fraction of its light that grows steeply near
``R ~ 16 m`` (0.017 at 15 m, 0.086 at 16 m, 0.15 at 16.1 m, 0.44 at 17.6 m); the reflected
light arrives later. These functions give the NN_time / NN_npe nets that shape as condition
features (``condition_features="position_vessel"`` in :mod:`keras_fastsim.models.juno`),
because a smooth net cannot place the kink itself from ``(R, theta)`` alone.

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

from keras import ops

__all__ = ["VESSEL_OPTICS", "direct_reflectance", "reflected_fraction", "vessel_exit_probability"]

VESSEL_OPTICS: dict[str, float] = {
    "n_ls": 1.485, "n_acrylic": 1.50, "n_water": 1.338, "ls_radius_m": 17.7, "outer_radius_m": 17.82,
}
"""Refractive indices and vessel radii of the reference detector (the keyword defaults below)."""

_NODES = 64  # cos(psi) midpoints of the isotropic average in reflected_fraction


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


def direct_reflectance(r, theta, pmt_radius_m: float = 19.5, **optics: float):
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
    d = ops.sqrt(ops.maximum(r * r + pmt_radius_m**2 - 2.0 * pmt_radius_m * r * ops.cos(theta), 1e-6))
    return 1.0 - _exit_at_impact(r * pmt_radius_m * ops.sin(theta) / d, ls_radius, opt)
