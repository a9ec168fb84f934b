"""Reference "full simulation" of electromagnetic showers in the BESIII EMC and the CEPC ECAL.

One GFLASH-style parametrisation engine (:class:`ShowerSimulator`) is driven by a geometry
description (:class:`CalorimeterGeometry`); the two detectors are two geometry instances,
:func:`besiii_emc_geometry` (CsI(Tl), homogeneous) and :func:`cepc_ecal_geometry` (Si-W,
sampling). :func:`generate_besiii_emc` and :func:`generate_cepc_ecal` draw the conditions of the
training samples of the slides and simulate the showers.

Physics
=======
References: G. Grindhammer, M. Rudowicz, S. Peters, NIM A290 (1990) 469 ("GFLASH");
G. Grindhammer, S. Peters, hep-ex/0001020 ("The parameterized simulation of electromagnetic
showers in homogeneous and sampling calorimeters"); material constants from the PDG Review,
"Atomic and nuclear properties of materials" and section "Passage of particles through matter".
The constants below are those of hep-ex/0001020 for homogeneous media (they are also the
defaults of Geant4's ``GFlashHomoShowerParameterisation``); E in GeV, y = E / E_c, Z = Z_eff.

Longitudinal profile (per shower, t in radiation lengths along the shower axis)::

    dE/dt = E * (beta t)^(alpha - 1) beta exp(-beta t) / Gamma(alpha),  beta = (alpha - 1) / T

The average profile has T_hom = ln y - 0.858 and alpha_hom = 0.21 + (0.492 + 2.38/Z) ln y.
Individual showers fluctuate: (ln T, ln alpha) is a correlated bivariate normal with

    <ln T>       = ln(ln y - 0.812)           sigma(ln T)     = 1 / (-1.4 + 1.26 ln y)
    <ln alpha>   = ln(0.81 + (0.458 + 2.26/Z) ln y)
                                              sigma(ln alpha) = 1 / (-0.58 + 0.86 ln y)
    rho(ln T, ln alpha) = 0.705 - 0.023 ln y

Radial profile (r in Moliere radii, tau = t / T of the individual shower)::

    f(r) = p 2 r R_C^2 / (r^2 + R_C^2)^2 + (1 - p) 2 r R_T^2 / (r^2 + R_T^2)^2
    R_C = z1 + z2 tau,           z1 = 0.0251 + 0.00319 ln E,  z2 = 0.1162 - 0.000381 Z
    R_T = k1 [exp(k3 (tau - k2)) + exp(k4 (tau - k2))],
                                  k1 = 0.659 - 0.00309 Z, k2 = 0.645, k3 = -2.59,
                                  k4 = 0.3585 + 0.0421 ln E
    p   = p1 exp[(p2 - tau)/p3 - exp((p2 - tau)/p3)],
                                  p1 = 2.632 - 0.00094 Z, p2 = 0.401 + 0.00187 Z,
                                  p3 = 1.313 - 0.0686 ln E

Energy spots: N_spot = 93 ln(Z) E^0.876 (GFLASH), capped at ``max_spots``; every spot carries
E / N_spot, so the sum over spots is exactly E before leakage. Spot depths follow the shower's
own gamma profile, radii the two-component profile (inverse CDF r = R sqrt(u / (1 - u))) and
azimuths are uniform around the shower axis. The axis starts at the entry point on the front
face and is tilted by the incident direction; spots are summed into cells. Energy behind the
last layer, in front of the first or outside the cell window is lost (leakage).

Photons convert at a depth t0 ~ Exp(9/7 X0) (the pair-production mean free path) and then
shower like an electron of the same energy; this reproduces the ~1 X0 deeper shower maximum
of photons (PDG: C_gamma - C_e = 1) with its fluctuations.

Sampling calorimeters (GFLASH-style, simplified): the layered stack is an effective medium
whose X0, R_M, E_c and Z_eff are the thickness-weighted mixture values (PDG mixture rule
1/X0 = sum phi_j / X0_j and 1/R_M = sum phi_j / R_M_j with volume fractions phi_j;
E_c = E_s X0 / R_M with E_s = 21.2 MeV; Z_eff mass weighted). Depths are tracked in X0 units,
so each layer receives the energy of its own X0 content, and the lateral spread at a depth uses
that layer's R_M. Sampling fluctuations: the calibrated energy of each cell is drawn from a
gamma distribution with mean E_cell and variance c^2 E_cell (c = ``stochastic_term``, in
sqrt(GeV)); gammas with a common scale add up, so each layer fluctuates with
sigma = c sqrt(E_layer) (Gaussian-like for E_layer >> c^2, never negative) and the shower total
with sigma/E = c / sqrt(E), plus leakage fluctuations. The visible energy in the silicon is the
calibrated energy times the layer's sampling fraction (MIP sampling fraction,
dE/dx|_Si t_Si / sum_j dE/dx|_j t_j; the e/mip ratio is taken as 1).

Simplifications (documented, deliberate): no material in front of the calorimeter, no
magnetic-field bending inside the calorimeter, no photostatistics/electronic noise, no gaps or
wrapping between crystals; the BESIII crystals (projective, tapered from 5.2 cm at the front to
6.4 cm at the back) are a locally flat array whose cell pitch grows linearly with depth.

Coordinates
===========
The engine works in the local frame of the hit cell: ``u`` along the beam (global +Z) on the
front face, ``v`` along +phi (BESIII) or +y (CEPC module), ``w`` the depth along the crystal
axis / module normal. ``direction`` is a unit vector (d_u, d_v, d_w), d_w > 0; ``offset`` is
the entry point (u, v) in cm relative to the centre of the hit cell, which is cell index
``n // 2`` along each transverse axis. :meth:`ShowerSimulator.simulate` returns
``(n, n_u, n_v, n_layers)``; the convenience generators reorder to the authors' file layouts
(BESIII ``(n, phi, z, 1)``, CEPC ``(n, z, y, layer)``).

Reproducibility and memory
==========================
Showers are processed in blocks of ``block_size`` showers; block ``b`` draws from its own
generator ``default_rng(SeedSequence(seed).spawn(n_blocks)[b])``. The same seed and inputs give
identical output, and the first ``k * block_size`` showers do not depend on how many showers
follow. Temporary memory is bounded by ``block_size * max_spots`` spots and
``block_size * n_cells`` cells whatever ``n`` is; use :meth:`ShowerSimulator.iter_simulate` to
stream blocks (e.g. into an HDF5 file) without holding all showers.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = [
    "AIR",
    "BESIII_CONDITION_COLUMNS",
    "CEPC_CONDITION_COLUMNS",
    "CSI",
    "G10",
    "SILICON",
    "TUNGSTEN",
    "CalorimeterGeometry",
    "GflashParameters",
    "Material",
    "ShowerSimulator",
    "Spots",
    "besiii_emc_conditions",
    "besiii_emc_geometry",
    "cepc_ecal_conditions",
    "cepc_ecal_geometry",
    "direction_from_angles",
    "generate_besiii_emc",
    "generate_cepc_ecal",
    "simulate_besiii_emc",
]

BESIII_CONDITION_COLUMNS: tuple[str, ...] = (
    "Mom", "dTheta_Mom", "dPhi_Mom", "dZ_Pos", "dPhi_Pos", "Z",
)
"""BESIII EMC conditions: GeV/c, deg, deg, cm, cm, cm."""

CEPC_CONDITION_COLUMNS: tuple[str, ...] = ("Mom", "theta", "phi", "dZ_Pos", "dY_Pos", "Z")
"""CEPC ECAL conditions: GeV, deg, deg (relative to the module normal), cm, cm, cm."""

E_S_MEV = 21.2052  # scale energy of the Moliere radius, sqrt(4 pi / alpha) m_e c^2 (PDG)


# --------------------------------------------------------------------------------------------
# Materials and geometry
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Material:
    """A material's electromagnetic constants (PDG).

    Attributes:
        name: human-readable name.
        x0_cm: radiation length in cm (``math.inf`` for vacuum/air gaps).
        moliere_cm: Moliere radius in cm.
        critical_mev: critical energy (electrons) in MeV.
        z: (effective) atomic number.
        density: g/cm^3.
        dedx_mip_mev_cm: minimum-ionising dE/dx in MeV/cm.
    """

    name: str
    x0_cm: float
    moliere_cm: float
    critical_mev: float
    z: float
    density: float
    dedx_mip_mev_cm: float


CSI = Material("CsI(Tl)", 1.86, 3.57, 11.17, 54.0, 4.51, 5.61)
TUNGSTEN = Material("W", 0.3504, 0.9327, 7.97, 74.0, 19.30, 22.10)
SILICON = Material("Si", 9.370, 4.944, 40.19, 14.0, 2.329, 3.876)
G10 = Material("G10/PCB", 19.4, 6.9, 60.0, 10.0, 1.70, 3.18)
AIR = Material("air gap", math.inf, math.inf, 87.9, 7.3, 0.0012, 0.0)


@dataclass(frozen=True)
class CalorimeterGeometry:
    """A calorimeter as seen by :class:`ShowerSimulator`.

    Attributes:
        name: identifier.
        grid: ``(n_u, n_v, n_layers)`` cells along z (beam), phi/y, depth.
        cell_size_cm: ``(u, v)`` cell pitch at the front face, cm.
        layer_thickness_cm: thickness of each longitudinal layer (cm), ``n_layers`` entries.
        layer_x0: thickness of each layer in radiation lengths.
        layer_moliere_cm: effective Moliere radius of each layer (cm).
        critical_mev: effective critical energy of the medium (MeV), y = E / E_c.
        z_eff: effective atomic number.
        sampling_fraction: per-layer visible/deposited energy (MIP), ``None`` if homogeneous.
        stochastic_term: sampling term c in sqrt(GeV) (sigma/E = c/sqrt(E)); 0 if homogeneous.
        back_cell_size_cm: ``(u, v)`` pitch at the back face for tapered (projective) cells;
            ``None`` for constant pitch. The pitch grows linearly with depth.
        description: what the layout is, with its sources.
    """

    name: str
    grid: tuple[int, int, int]
    cell_size_cm: tuple[float, float]
    layer_thickness_cm: tuple[float, ...]
    layer_x0: tuple[float, ...]
    layer_moliere_cm: tuple[float, ...]
    critical_mev: float
    z_eff: float
    sampling_fraction: tuple[float, ...] | None = None
    stochastic_term: float = 0.0
    back_cell_size_cm: tuple[float, float] | None = None
    description: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        grid = tuple(int(g) for g in self.grid)
        if len(grid) != 3 or min(grid) < 1:
            raise ValueError(
                f"{self.name}: grid must be 3 positive integers. Received: {self.grid}"
            )
        object.__setattr__(self, "grid", grid)
        n_layers = grid[2]
        for attr in ("layer_thickness_cm", "layer_x0", "layer_moliere_cm"):
            values = tuple(float(v) for v in getattr(self, attr))
            if len(values) != n_layers:
                raise ValueError(
                    f"{self.name}: {attr} has {len(values)} entries but grid has {n_layers} layers"
                )
            if not all(v > 0 and math.isfinite(v) for v in values):
                raise ValueError(f"{self.name}: {attr} must be positive and finite: {values}")
            object.__setattr__(self, attr, values)
        if self.sampling_fraction is not None:
            fractions = tuple(float(v) for v in self.sampling_fraction)
            if len(fractions) != n_layers or not all(0 < f <= 1 for f in fractions):
                raise ValueError(
                    f"{self.name}: sampling_fraction needs {n_layers} values in (0, 1]: {fractions}"
                )
            object.__setattr__(self, "sampling_fraction", fractions)
        if self.stochastic_term < 0:
            raise ValueError(f"{self.name}: stochastic_term must be >= 0: {self.stochastic_term}")
        if min(self.cell_size_cm) <= 0 or len(self.cell_size_cm) != 2:
            raise ValueError(f"{self.name}: cell_size_cm must be 2 positive numbers")
        if self.critical_mev <= 0 or self.z_eff <= 1:
            raise ValueError(f"{self.name}: critical_mev > 0 and z_eff > 1 are required")

    # derived quantities -------------------------------------------------------------------
    @property
    def n_layers(self) -> int:
        return self.grid[2]

    @property
    def n_cells(self) -> int:
        return self.grid[0] * self.grid[1] * self.grid[2]

    @property
    def is_sampling(self) -> bool:
        return self.sampling_fraction is not None

    @property
    def boundaries_x0(self) -> np.ndarray:
        """Layer boundaries in X0 from the front face, ``n_layers + 1`` values."""
        return np.concatenate([[0.0], np.cumsum(self.layer_x0)])

    @property
    def boundaries_cm(self) -> np.ndarray:
        """Layer boundaries in cm from the front face, ``n_layers + 1`` values."""
        return np.concatenate([[0.0], np.cumsum(self.layer_thickness_cm)])

    @property
    def layer_centers_x0(self) -> np.ndarray:
        b = self.boundaries_x0
        return 0.5 * (b[1:] + b[:-1])

    @property
    def depth_x0(self) -> float:
        return float(sum(self.layer_x0))

    @property
    def depth_cm(self) -> float:
        return float(sum(self.layer_thickness_cm))

    @property
    def x0_cm(self) -> float:
        """Effective radiation length of the whole depth (cm)."""
        return self.depth_cm / self.depth_x0

    @property
    def moliere_cm(self) -> float:
        """Effective Moliere radius of the whole depth (cm), thickness-weighted harmonic mean."""
        t = np.asarray(self.layer_thickness_cm)
        return float(t.sum() / np.sum(t / np.asarray(self.layer_moliere_cm)))


def _mixture(parts: Sequence[tuple[Material, float]]) -> dict[str, float]:
    """Effective constants of a layer made of ``(material, thickness_cm)`` slabs (PDG rules)."""
    total = sum(t for _, t in parts)
    inv_x0 = sum(t / m.x0_cm for m, t in parts) / total
    inv_rm = sum(t / m.moliere_cm for m, t in parts) / total
    mass = sum(m.density * t for m, t in parts)
    z_eff = sum(m.density * t * m.z for m, t in parts) / mass
    dedx = {m.name: m.dedx_mip_mev_cm * t for m, t in parts}
    return {
        "thickness_cm": total,
        "x0": total * inv_x0,
        "moliere_cm": 1.0 / inv_rm,
        "critical_mev": E_S_MEV * inv_rm / inv_x0,
        "z_eff": z_eff,
        "mass": mass,
        "mip_deposit": sum(dedx.values()),
        "dedx": dedx,
    }


def besiii_emc_geometry(
    window: int = 11, *, crystal_front_cm: float = 5.2, crystal_back_cm: float = 6.4,
    crystal_length_cm: float = 28.0, moliere_cm: float | None = None,
) -> CalorimeterGeometry:
    """The BESIII EMC barrel around the track hit: ``window x window`` CsI(Tl) crystals.

    44 rings x 120 crystals in the barrel; crystals 5.2 x 5.2 cm^2 at the front, 6.4 x 6.4 at
    the back, 28 cm (15.05 X0) long. CsI: X0 = 1.86 cm, R_M = 3.57 cm, E_c = 11.17 MeV,
    Z_eff = 54 (PDG). The projective crystals are a locally flat array whose pitch grows
    linearly from front to back (one longitudinal layer: the crystal is read out as a whole).
    ``moliere_cm`` overrides CsI's Moliere radius (``None``: 3.57 cm), e.g. for a reference
    sample with a known lateral difference.
    """
    if window < 1:
        raise ValueError(f"window must be >= 1. Received: {window}")
    if moliere_cm is None:
        moliere_cm = CSI.moliere_cm
    elif not (math.isfinite(moliere_cm) and moliere_cm > 0):
        raise ValueError(f"moliere_cm must be positive and finite. Received: {moliere_cm}")
    return CalorimeterGeometry(
        name="besiii_emc",
        grid=(window, window, 1),
        cell_size_cm=(crystal_front_cm, crystal_front_cm),
        layer_thickness_cm=(crystal_length_cm,),
        layer_x0=(crystal_length_cm / CSI.x0_cm,),
        layer_moliere_cm=(moliere_cm,),
        critical_mev=CSI.critical_mev,
        z_eff=CSI.z,
        back_cell_size_cm=(crystal_back_cm, crystal_back_cm),
        description=(
            f"BESIII EMC barrel, CsI(Tl), {window}x{window} crystals, {crystal_front_cm} cm "
            f"front / {crystal_back_cm} cm back pitch, {crystal_length_cm} cm = "
            f"{crystal_length_cm / CSI.x0_cm:.2f} X0 deep (locally flat array)"
        ),
    )


CEPC_V4_TUNGSTEN_MM: tuple[tuple[int, float], ...] = ((20, 2.1), (9, 4.2))
"""CEPC_v4 ECAL absorber sections used here: 20 layers of 2.1 mm W then 9 of 4.2 mm W."""


def cepc_ecal_geometry(
    grid: tuple[int, int, int] = (30, 30, 29),
    *,
    tungsten_mm: Sequence[tuple[int, float]] = CEPC_V4_TUNGSTEN_MM,
    silicon_mm: float = 0.5,
    pcb_mm: float = 1.0,
    gap_mm: float = 1.5,
    cell_cm: float = 1.0,
    stochastic_term: float = 0.16,
) -> CalorimeterGeometry:
    """The CEPC ECAL barrel (Si-W sampling, CEPC_v4-like), ``grid = (n_z, n_y, n_layers)``.

    Each layer is tungsten + 0.5 mm silicon (active) + 1.0 mm PCB (G10) + 1.5 mm air/glue gap:
    a 5.1 mm pitch in the thin section and 7.2 mm in the thick one, 16.7 cm in all, close to the
    layer positions of the CEPC_v4 simulation (1850 -> 2018 mm). Defaults: 20 x 2.1 mm W +
    9 x 4.2 mm W = 29 layers, ~23 X0. Cells 1 x 1 cm^2. ``grid[2]`` must equal the number of
    layers in ``tungsten_mm``. The stochastic term (default 16 %/sqrt(E)) is the CEPC CDR's
    Si-W ECAL design value.
    """
    grid = tuple(int(g) for g in grid)
    if len(grid) != 3:
        raise ValueError(f"grid must be (n_z, n_y, n_layers). Received: {grid}")
    absorbers = [mm for count, mm in tungsten_mm for _ in range(int(count))]
    if len(absorbers) != grid[2]:
        raise ValueError(
            f"cepc_ecal_geometry: grid has {grid[2]} layers but tungsten_mm describes "
            f"{len(absorbers)} ({list(tungsten_mm)}); pass a matching tungsten_mm"
        )
    layers = [
        _mixture([(TUNGSTEN, w / 10), (SILICON, silicon_mm / 10), (G10, pcb_mm / 10),
                  (AIR, gap_mm / 10)])
        for w in absorbers
    ]
    thickness = tuple(m["thickness_cm"] for m in layers)
    x0 = tuple(m["x0"] for m in layers)
    inv_x0 = sum(x0) / sum(thickness)
    inv_rm = sum(t / m["moliere_cm"] for t, m in zip(thickness, layers)) / sum(thickness)
    z_eff = sum(m["z_eff"] * m["mass"] for m in layers) / sum(m["mass"] for m in layers)
    fractions = tuple(m["dedx"][SILICON.name] / m["mip_deposit"] for m in layers)
    return CalorimeterGeometry(
        name="cepc_ecal",
        grid=grid,  # type: ignore[arg-type]
        cell_size_cm=(cell_cm, cell_cm),
        layer_thickness_cm=thickness,
        layer_x0=x0,
        layer_moliere_cm=tuple(m["moliere_cm"] for m in layers),
        critical_mev=E_S_MEV * inv_rm / inv_x0,
        z_eff=z_eff,
        sampling_fraction=fractions,
        stochastic_term=stochastic_term,
        description=(
            f"CEPC ECAL barrel (CEPC_v4-like) Si-W: {list(tungsten_mm)} (layers, mm W), "
            f"{silicon_mm} mm Si + {pcb_mm} mm PCB + {gap_mm} mm gap per layer, "
            f"{sum(x0):.1f} X0 in {sum(thickness):.1f} cm, {cell_cm} cm cells, grid {grid}"
        ),
    )


# --------------------------------------------------------------------------------------------
# The engine
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GflashParameters:
    """Constants of the GFLASH homogeneous-media parametrisation (hep-ex/0001020).

    Names follow the paper (and Geant4's ``GFlashHomoShowerParameterisation``).
    """

    # average profile (documentation; the fluctuated profile below is what is sampled)
    t_hom_offset: float = -0.858          # T_hom = ln y - 0.858
    # fluctuated profile: <ln T> = ln(ln y - t1), <ln a> = ln(a1 + (a2 + a3/Z) ln y)
    t1: float = 0.812
    a1: float = 0.81
    a2: float = 0.458
    a3: float = 2.26
    sig_lnt: tuple[float, float] = (-1.4, 1.26)    # 1/sigma(ln T) = s0 + s1 ln y
    sig_lna: tuple[float, float] = (-0.58, 0.86)   # 1/sigma(ln a) = s0 + s1 ln y
    rho: tuple[float, float] = (0.705, -0.023)     # rho = r0 + r1 ln y
    # radial profile
    rc: tuple[float, float, float, float] = (0.0251, 0.00319, 0.1162, -0.000381)
    rt: tuple[float, float, float, float, float, float] = (0.659, -0.00309, 0.645, -2.59,
                                                           0.3585, 0.0421)
    wc: tuple[float, float, float, float, float, float] = (2.632, -0.00094, 0.401, 0.00187,
                                                           1.313, -0.0686)
    # spots: N = n1 ln(Z) E^n2
    spot_n1: float = 93.0
    spot_n2: float = 0.876
    # photon conversion mean free path in X0
    photon_mfp_x0: float = 9.0 / 7.0


@dataclass
class Spots:
    """Energy spots of a block of showers (all arrays have one entry per spot).

    Attributes:
        shower: index of the shower in the block.
        energy: spot energy in GeV (deposited, before sampling).
        t_x0: depth along the shower axis from the entry point (X0).
        r_rm: radial distance from the axis (Moliere radii of the local layer).
        u, v: transverse position on the front-face frame (cm).
        w_x0: depth perpendicular to the front face (X0).
        T, alpha: per-shower profile parameters (one entry per shower).
    """

    shower: np.ndarray
    energy: np.ndarray
    t_x0: np.ndarray
    r_rm: np.ndarray
    u: np.ndarray
    v: np.ndarray
    w_x0: np.ndarray
    T: np.ndarray
    alpha: np.ndarray


def direction_from_angles(d_theta_deg, d_phi_deg) -> np.ndarray:
    """Unit direction (d_u, d_v, d_w) for angles to the cell axis, BESIII convention.

    ``d_theta`` is the particle's polar angle minus the crystal axis' polar angle (a positive
    value points towards -Z, i.e. -u on a barrel), ``d_phi`` the azimuth difference (positive
    towards +phi = +v). Returns an array of shape ``(n, 3)``.
    """
    dt = np.radians(np.atleast_1d(np.asarray(d_theta_deg, dtype=float)))
    dp = np.radians(np.atleast_1d(np.asarray(d_phi_deg, dtype=float)))
    dt, dp = np.broadcast_arrays(dt, dp)
    d = np.stack([-np.tan(dt), np.tan(dp), np.ones_like(dt)], axis=-1)
    return d / np.linalg.norm(d, axis=-1, keepdims=True)


def _seed_sequence(seed) -> np.random.SeedSequence:
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, np.random.Generator):
        return np.random.SeedSequence(int(seed.integers(2**63)))
    return np.random.SeedSequence(seed)


class ShowerSimulator:
    """GFLASH-style electromagnetic shower simulation in a :class:`CalorimeterGeometry`.

    Args:
        geometry: the calorimeter.
        params: parametrisation constants (default: hep-ex/0001020).
        max_spots: cap on the number of energy spots per shower (GFLASH gives ~620 at 1.8 GeV
            in CsI and ~2.2e4 at 100 GeV in W); spot energies are E / N_spot either way.
        spot_factor: multiplies the GFLASH spot number before the cap.
        block_size: showers per block (memory and the reproducibility unit, see module doc).
        cell_threshold_gev: cells below this (calibrated) energy are set to 0.

    Example:
        >>> sim = ShowerSimulator(besiii_emc_geometry())
        >>> cells = sim.simulate(np.full(100, 1.8), seed=1)   # (100, 11, 11, 1), GeV
    """

    def __init__(
        self,
        geometry: CalorimeterGeometry,
        params: GflashParameters | None = None,
        *,
        max_spots: int = 4000,
        spot_factor: float = 1.0,
        block_size: int = 64,
        cell_threshold_gev: float = 0.0,
    ) -> None:
        if max_spots < 1 or block_size < 1 or spot_factor <= 0 or cell_threshold_gev < 0:
            raise ValueError(
                "max_spots >= 1, block_size >= 1, spot_factor > 0 and cell_threshold_gev >= 0 "
                f"are required. Received: {max_spots}, {block_size}, {spot_factor}, "
                f"{cell_threshold_gev}"
            )
        self.geometry = geometry
        self.params = params or GflashParameters()
        self.max_spots = int(max_spots)
        self.spot_factor = float(spot_factor)
        self.block_size = int(block_size)
        self.cell_threshold_gev = float(cell_threshold_gev)
        g = geometry
        self._bx0 = g.boundaries_x0
        self._bcm = g.boundaries_cm
        self._x0cm = np.asarray(g.layer_thickness_cm) / np.asarray(g.layer_x0)
        self._rm = np.asarray(g.layer_moliere_cm)
        back = g.back_cell_size_cm or g.cell_size_cm
        self._taper = np.array([back[0] / g.cell_size_cm[0] - 1, back[1] / g.cell_size_cm[1] - 1])

    # ------------------------------------------------------------------------------------
    def n_spots(self, energy) -> np.ndarray:
        """Number of spots per shower: min(max_spots, spot_factor * 93 ln(Z) E^0.876)."""
        p = self.params
        e = np.asarray(energy, dtype=float)
        n = self.spot_factor * p.spot_n1 * math.log(self.geometry.z_eff) * e**p.spot_n2
        return np.clip(np.rint(n), 1, self.max_spots).astype(np.int64)

    def profile_parameters(self, energy, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Per-shower (T, alpha) with the correlated GFLASH fluctuations."""
        p = self.params
        z = self.geometry.z_eff
        e = np.asarray(energy, dtype=float)
        ln_y = np.log(np.maximum(e * 1e3 / self.geometry.critical_mev, 3.0))
        mu_t = np.log(np.maximum(ln_y - p.t1, 0.1))
        mu_a = np.log(p.a1 + (p.a2 + p.a3 / z) * ln_y)
        s_t = 1.0 / np.maximum(p.sig_lnt[0] + p.sig_lnt[1] * ln_y, 0.5)
        s_a = 1.0 / np.maximum(p.sig_lna[0] + p.sig_lna[1] * ln_y, 0.5)
        rho = np.clip(p.rho[0] + p.rho[1] * ln_y, -0.99, 0.99)
        z1 = rng.standard_normal(e.shape)
        z2 = rng.standard_normal(e.shape)
        t = np.exp(mu_t + s_t * z1)
        alpha = np.exp(mu_a + s_a * (rho * z1 + np.sqrt(1 - rho**2) * z2))
        return t, np.maximum(alpha, 1.05)  # alpha > 1: the profile has a maximum

    def _radial(self, tau, ln_e, rng: np.random.Generator) -> np.ndarray:
        p = self.params
        z = self.geometry.z_eff
        r_c = p.rc[0] + p.rc[1] * ln_e + (p.rc[2] + p.rc[3] * z) * tau
        k1 = p.rt[0] + p.rt[1] * z
        k4 = p.rt[4] + p.rt[5] * ln_e
        r_t = k1 * (np.exp(p.rt[3] * (tau - p.rt[2])) + np.exp(k4 * (tau - p.rt[2])))
        p1 = p.wc[0] + p.wc[1] * z
        p2 = p.wc[2] + p.wc[3] * z
        p3 = np.maximum(p.wc[4] + p.wc[5] * ln_e, 0.1)
        x = (p2 - tau) / p3
        core_weight = np.clip(p1 * np.exp(x - np.exp(x)), 0.0, 1.0)
        radius = np.where(rng.random(tau.shape) < core_weight, r_c, r_t)
        u = np.minimum(rng.random(tau.shape), 1.0 - 1e-12)
        return np.maximum(radius, 1e-4) * np.sqrt(u / (1.0 - u))

    # ------------------------------------------------------------------------------------
    def sample_spots(
        self, energy, direction=None, offset=None, *, particle: str = "e-",
        rng: np.random.Generator | None = None, seed=None,
    ) -> Spots:
        """Energy spots of ``len(energy)`` showers in one block (no chunking: keep n modest).

        Args:
            energy: incident energies in GeV, shape ``(n,)``.
            direction: ``(n, 3)`` or ``(3,)`` unit vectors (d_u, d_v, d_w); default normal.
            offset: ``(n, 2)`` or ``(2,)`` entry point (u, v) in cm from the hit-cell centre.
            particle: ``"e-"``, ``"e+"`` (electron showers) or ``"gamma"``.
            rng / seed: random source.
        """
        energy, direction, offset = self._inputs(energy, direction, offset)
        if particle not in ("e-", "e+", "gamma"):
            raise ValueError(f"particle must be 'e-', 'e+' or 'gamma'. Received: {particle!r}")
        rng = rng if rng is not None else np.random.default_rng(_seed_sequence(seed))
        return self._spots(energy, direction, offset, particle, rng)

    def _inputs(self, energy, direction, offset):
        energy = np.atleast_1d(np.asarray(energy, dtype=float))
        if energy.ndim != 1:
            raise ValueError(f"energy must be 1-D. Received shape {energy.shape}")
        if not np.all(np.isfinite(energy)) or np.any(energy <= 0):
            raise ValueError("energy must be finite and > 0 (GeV)")
        n = energy.shape[0]
        direction = np.array([0.0, 0.0, 1.0]) if direction is None else np.asarray(direction, float)
        direction = np.broadcast_to(direction, (n, 3)).astype(float)
        norm = np.linalg.norm(direction, axis=1, keepdims=True)
        if not np.all(np.isfinite(norm)) or np.any(norm == 0):
            raise ValueError("direction must be finite and non-zero")
        direction = direction / norm
        if np.any(direction[:, 2] < 0.1) or np.any(np.abs(direction[:, 1]) > 0.99):
            raise ValueError("direction must enter the calorimeter: d_w >= 0.1 and |d_v| <= 0.99")
        offset = np.zeros(2) if offset is None else np.asarray(offset, dtype=float)
        offset = np.broadcast_to(offset, (n, 2)).astype(float)
        if not np.all(np.isfinite(offset)):
            raise ValueError("offset must be finite")
        return energy, direction, offset

    def _spots(self, energy, direction, offset, particle, rng) -> Spots:
        p = self.params
        nb = energy.shape[0]
        t_par, alpha = self.profile_parameters(energy, rng)
        beta = (alpha - 1.0) / t_par
        if particle == "gamma":
            t0 = rng.exponential(p.photon_mfp_x0, nb)
        else:
            t0 = np.zeros(nb)
        counts = self.n_spots(energy)
        idx = np.repeat(np.arange(nb), counts)
        t_rel = rng.gamma(alpha[idx]) / beta[idx]
        t = t_rel + t0[idx]
        r = self._radial(t_rel / t_par[idx], np.log(energy)[idx], rng)
        phi = rng.random(idx.shape[0], dtype=np.float32) * np.float32(2 * np.pi)
        cos_phi, sin_phi = np.cos(phi).astype(float), np.sin(phi).astype(float)  # SIMD float32

        d = direction[idx]
        du, dv, dw = d[:, 0], d[:, 1], d[:, 2]
        w_axis = t * dw
        layer = np.clip(np.searchsorted(self._bx0, w_axis, side="right") - 1, 0,
                        self.geometry.n_layers - 1)
        r_cm = r * self._rm[layer]
        w_axis_cm = np.interp(w_axis, self._bx0, self._bcm)
        beyond = w_axis > self._bx0[-1]  # continue linearly behind the last layer
        w_axis_cm[beyond] += (w_axis[beyond] - self._bx0[-1]) * self._x0cm[-1]
        # orthonormal basis perpendicular to the axis: e1 = d x v_hat / |.|, e2 = d x e1
        h = np.sqrt(du**2 + dw**2)
        e1 = (-dw / h, 0.0, du / h)
        e2 = (dv * e1[2], dw * e1[0] - du * e1[2], -dv * e1[0])
        c, s = r_cm * cos_phi, r_cm * sin_phi
        u = offset[idx, 0] + w_axis_cm * du / dw + c * e1[0] + s * e2[0]
        v = offset[idx, 1] + w_axis_cm * dv / dw + s * e2[1]
        w = w_axis + (c * e1[2] + s * e2[2]) / self._x0cm[layer]
        return Spots(
            shower=idx, energy=(energy / counts)[idx], t_x0=t, r_rm=r, u=u, v=v, w_x0=w,
            T=t_par, alpha=alpha,
        )

    def _deposit(self, spots: Spots, nb: int, rng: np.random.Generator,
                 visible: bool) -> np.ndarray:
        g = self.geometry
        n_u, n_v, n_l = g.grid
        w = spots.w_x0
        inside = (w >= 0) & (w < self._bx0[-1])
        layer = np.searchsorted(self._bx0, w, side="right") - 1
        depth_frac = np.interp(w, self._bx0, self._bcm) / self._bcm[-1]
        pitch_u = g.cell_size_cm[0] * (1 + self._taper[0] * depth_frac)
        pitch_v = g.cell_size_cm[1] * (1 + self._taper[1] * depth_frac)
        # Window test on the float indices, before the cast: spots of the far longitudinal
        # tail (t ~ 170-300 X0, far behind the crystals) get exponentially large tail radii,
        # |u| up to ~1e24 cm, which do not fit an int64.
        fu = np.floor(spots.u / pitch_u + 0.5) + n_u // 2
        fv = np.floor(spots.v / pitch_v + 0.5) + n_v // 2
        ok = inside & (fu >= 0) & (fu < n_u) & (fv >= 0) & (fv < n_v)
        iu = np.where(ok, fu, 0).astype(np.int64)
        iv = np.where(ok, fv, 0).astype(np.int64)
        flat = ((spots.shower * n_u + iu) * n_v + iv) * n_l + layer
        cells = np.bincount(flat[ok], weights=spots.energy[ok], minlength=nb * g.n_cells)
        cells = cells.reshape(nb, n_u, n_v, n_l)
        c = g.stochastic_term
        if c > 0:
            hit = cells > 0
            cells[hit] = rng.gamma(cells[hit] / c**2, c**2)
        if self.cell_threshold_gev > 0:
            cells[cells < self.cell_threshold_gev] = 0.0
        if visible:
            if g.sampling_fraction is None:
                raise ValueError(f"{g.name}: visible=True needs a sampling calorimeter")
            cells *= np.asarray(g.sampling_fraction)
        return cells

    # ------------------------------------------------------------------------------------
    def iter_simulate(
        self, energy, direction=None, offset=None, *, particle: str = "e-", seed=None,
        visible: bool = False, progress: bool = False,
    ) -> Iterator[tuple[int, int, np.ndarray]]:
        """Yields ``(start, stop, cells)`` block by block; ``cells`` is float32 in GeV.

        Memory stays bounded by one block whatever the number of showers.
        """
        energy, direction, offset = self._inputs(energy, direction, offset)
        if particle not in ("e-", "e+", "gamma"):
            raise ValueError(f"particle must be 'e-', 'e+' or 'gamma'. Received: {particle!r}")
        n = energy.shape[0]
        starts = range(0, n, self.block_size)
        children = _seed_sequence(seed).spawn(len(starts))
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=n, unit="shower", desc=f"{self.geometry.name} showers")
        try:
            for start, child in zip(starts, children):
                stop = min(start + self.block_size, n)
                rng = np.random.default_rng(child)
                spots = self._spots(energy[start:stop], direction[start:stop],
                                    offset[start:stop], particle, rng)
                cells = self._deposit(spots, stop - start, rng, visible)
                del spots
                if bar is not None:
                    bar.update(stop - start)
                yield start, stop, cells.astype(np.float32)
        finally:
            if bar is not None:
                bar.close()

    def simulate(
        self, energy, direction=None, offset=None, *, particle: str = "e-", seed=None,
        visible: bool = False, progress: bool = False,
    ) -> np.ndarray:
        """Cell energies of ``len(energy)`` showers, float32 ``(n, n_u, n_v, n_layers)`` in GeV.

        Args:
            energy: incident energies (GeV), ``(n,)``.
            direction: unit vectors (d_u, d_v, d_w), ``(n, 3)`` or ``(3,)``; default normal.
            offset: entry points (u, v) in cm from the hit-cell centre, ``(n, 2)`` or ``(2,)``.
            particle: ``"e-"``, ``"e+"`` or ``"gamma"``.
            seed: int, ``SeedSequence``, ``Generator`` or ``None`` (fresh entropy).
            visible: sampling calorimeters only: energy seen in the active layers instead of
                the calibrated (deposited-equivalent) energy.
            progress: show a ``tqdm`` progress bar.
        """
        energy = np.atleast_1d(np.asarray(energy, dtype=float))
        out = np.empty((energy.shape[0], *self.geometry.grid), dtype=np.float32)
        for start, stop, cells in self.iter_simulate(
            energy, direction, offset, particle=particle, seed=seed, visible=visible,
            progress=progress,
        ):
            out[start:stop] = cells
        return out


# --------------------------------------------------------------------------------------------
# The two training samples
# --------------------------------------------------------------------------------------------

BESIII_EMC_RADIUS_CM = 94.3      # inner radius of the barrel crystals' front faces
BESIII_B_FIELD_T = 1.0           # solenoid field
BESIII_PHI_TILT_DEG = 1.5        # crystals tilted in phi to avoid projective gaps
BESIII_POINTING_Z_CM = 5.0       # crystals point this far off the IP along z (own side)
BESIII_VERTEX_SIGMA_Z_CM = 1.0   # luminous region length


def _range_or_value(rng, spec, n, name):
    if np.isscalar(spec):
        return np.full(n, float(spec))
    lo, hi = (float(x) for x in spec)
    if not lo <= hi:
        raise ValueError(f"{name}: need low <= high. Received: {spec}")
    return rng.uniform(lo, hi, n)


def besiii_emc_conditions(
    n: int, seed=None, *, momentum=(1.0, 2.0), charge: str = "both",
    cos_theta_max: float = 0.83,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Bhabha-like e+/e- conditions at the BESIII EMC barrel; returns (conditions, charge).

    ``momentum``: a value (GeV/c) or ``(low, high)`` uniform. e- are generated at Z < 0 and e+
    at Z > 0 (|cos(theta)| uniform in (0, ``cos_theta_max``), redrawn while the hit's Z has
    the wrong sign, as the authors' Z cut does). The track leaves a vertex
    z ~ N(0, 1 cm), bends in the 1 T field (transverse radius rho = p_T / (0.3 B)) and reaches
    the crystals at R = 94.3 cm, where its direction makes the angle
    psi = asin(R / (2 rho)) with the radial direction. The hit is uniform on the face of the
    hit crystal (dZ_Pos, dPhi_Pos in cm within +-2.6). The crystal axis is tilted by 1.5 deg in
    phi and points to z = +-5 cm (own side of the IP) in theta; dTheta_Mom and dPhi_Mom (deg)
    are the track's angles to that axis.
    """
    if charge not in ("both", "e-", "e+"):
        raise ValueError(f"charge must be 'both', 'e-' or 'e+'. Received: {charge!r}")
    if not 0 < cos_theta_max < 1:
        raise ValueError(f"cos_theta_max must be in (0, 1). Received: {cos_theta_max}")
    rng = np.random.default_rng(_seed_sequence(seed))
    p = _range_or_value(rng, momentum, n, "momentum")
    if np.any(p <= 0):
        raise ValueError("momentum must be > 0")
    if charge == "both":
        q = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    else:
        q = np.full(n, -1.0 if charge == "e-" else 1.0)
    # |cos theta| uniform, sign: e+ forward (Z > 0), e- backward (Z < 0)
    r = BESIII_EMC_RADIUS_CM
    cos_t = np.zeros(n)
    z_vtx = np.zeros(n)
    todo = np.arange(n)
    while todo.size:  # e- only at Z < 0, e+ only at Z > 0 (the authors' Z cut)
        cos_t[todo] = q[todo] * rng.uniform(0.0, cos_theta_max, todo.size)
        z_vtx[todo] = rng.normal(0.0, BESIII_VERTEX_SIGMA_Z_CM, todo.size)
        z_try = z_vtx[todo] + r * cos_t[todo] / np.sqrt(1 - cos_t[todo] ** 2)
        todo = todo[q[todo] * z_try <= 0]
    theta = np.arccos(cos_t)
    z_hit = z_vtx + r * cos_t / np.sin(theta)
    half = 0.5 * 5.2
    dz = rng.uniform(-half, half, n)
    dphi_pos = rng.uniform(-half, half, n)
    z_centre = z_hit - dz / np.sin(theta)
    z_point = BESIII_POINTING_Z_CM * np.sign(z_centre)
    theta_axis = np.arctan2(r, z_centre - z_point)
    d_theta = np.degrees(theta - theta_axis)
    rho_m = p * np.sin(theta) / (0.299792458 * BESIII_B_FIELD_T)
    psi = np.degrees(np.arcsin(np.clip(r / 100 / (2 * rho_m), -1, 1)))
    d_phi = -q * psi + np.degrees(dphi_pos / r) - BESIII_PHI_TILT_DEG
    conditions = pd.DataFrame(
        {"Mom": p, "dTheta_Mom": d_theta, "dPhi_Mom": d_phi, "dZ_Pos": dz,
         "dPhi_Pos": dphi_pos, "Z": z_hit}
    )
    return conditions, q


def generate_besiii_emc(
    n: int, seed=None, *, momentum=(1.0, 2.0), charge: str = "both",
    cos_theta_max: float = 0.83, window: int = 11, progress: bool = False, **simulator_kwargs,
) -> tuple[np.ndarray, pd.DataFrame]:
    """BESIII EMC reference showers and their conditions.

    Returns:
        ``hits``: float32 ``(n, window, window, 1)`` deposited energy in GeV, axes
        (phi, z) as in the authors' ``Barrel_Hit`` (row = phi, column = Z increasing); the hit
        crystal is ``[window // 2, window // 2]``.
        ``conditions``: DataFrame with :data:`BESIII_CONDITION_COLUMNS` (physical units: GeV/c,
        deg, deg, cm, cm, cm); see :func:`besiii_emc_conditions`.

    ``simulator_kwargs`` go to :class:`ShowerSimulator` (``max_spots``, ``block_size``, ...).
    """
    cond_seed, shower_seed = _seed_sequence(seed).spawn(2)
    conditions, _ = besiii_emc_conditions(
        n, cond_seed, momentum=momentum, charge=charge, cos_theta_max=cos_theta_max
    )
    hits = simulate_besiii_emc(conditions, shower_seed, geometry=besiii_emc_geometry(window),
                               progress=progress, **simulator_kwargs)
    return hits, conditions


def simulate_besiii_emc(
    conditions: pd.DataFrame, seed=None, *, geometry: CalorimeterGeometry | None = None,
    progress: bool = False, **simulator_kwargs,
) -> np.ndarray:
    """BESIII EMC reference showers for given conditions (e.g. another sample's tracks).

    With a geometry or simulator settings other than the defaults this makes reference
    samples that differ from the nominal one in a known way (a wider Moliere radius, finer
    energy spots), which calibrates what a test statistic such as the classifier AUC means.

    Args:
        conditions: DataFrame with the columns :data:`BESIII_CONDITION_COLUMNS` (physical
            units; ``Mom`` > 0); other columns are ignored.
        seed: Seed of the showers' random draws.
        geometry: The calorimeter (default :func:`besiii_emc_geometry`); its grid must be
            square with one layer.
        progress: Show a progress bar.
        **simulator_kwargs: Passed to :class:`ShowerSimulator` (``spot_factor``, ...).

    Returns:
        float32 ``(n, window, window, 1)`` deposited energies in GeV, axes (phi, z) as in
        the authors' ``Barrel_Hit``.

    Raises:
        TypeError: if ``conditions`` is not a DataFrame.
        ValueError: on missing columns, non-finite values, a momentum <= 0 or a geometry
            that is not a square single-layer window.

    Example:
        >>> cond, _ = besiii_emc_conditions(100, seed=1)
        >>> wide = besiii_emc_geometry(moliere_cm=1.1 * CSI.moliere_cm)
        >>> hits = simulate_besiii_emc(cond, seed=2, geometry=wide)
    """
    geometry = geometry or besiii_emc_geometry()
    n_u, n_v, n_l = geometry.grid
    if n_u != n_v or n_l != 1:
        raise ValueError(
            "geometry must be a square window of one layer (BESIII crystals). "
            f"Received: grid={geometry.grid}"
        )
    if not isinstance(conditions, pd.DataFrame):
        raise TypeError(
            "conditions must be a DataFrame with columns "
            f"{list(BESIII_CONDITION_COLUMNS)}. Received: {type(conditions).__name__}"
        )
    missing = [c for c in BESIII_CONDITION_COLUMNS if c not in conditions.columns]
    if missing:
        raise ValueError(f"conditions lack the columns {missing}. Received: "
                         f"{list(conditions.columns)}")
    values = conditions[list(BESIII_CONDITION_COLUMNS)].to_numpy(np.float64)
    if not np.isfinite(values).all():
        raise ValueError("conditions hold NaN or infinite values")
    if np.any(values[:, 0] <= 0):
        raise ValueError(f"Mom must be > 0. Received: min Mom={values[:, 0].min()}")
    if len(values) == 0:
        return np.zeros((0, n_u, n_u, 1), np.float32)
    sim = ShowerSimulator(geometry, **simulator_kwargs)
    m_e = 0.000511
    energy = np.sqrt(values[:, 0] ** 2 + m_e**2)
    direction = direction_from_angles(values[:, 1], values[:, 2])
    cells = sim.simulate(energy, direction, values[:, 3:5], particle="e-", seed=seed,
                         progress=progress)
    return np.ascontiguousarray(cells.transpose(0, 2, 1, 3))


CEPC_ECAL_RADIUS_CM = 184.7  # distance of the barrel module front plane from the beam axis


def cepc_ecal_conditions(
    n: int, seed=None, *, energy=(1.0, 100.0), theta_deg=(50.0, 140.0), phi_deg=(-15.0, 15.0),
) -> pd.DataFrame:
    """Single-photon conditions at the CEPC ECAL barrel.

    E and theta uniform; phi (deg) is measured from the normal of the hit barrel module
    (octagon, +-22.5 deg wide), so +-15 deg keeps the showers away from the module boundaries.
    The photon from the IP hits the module front plane (x = 184.7 cm) at y = R tan(phi),
    Z = R cot(theta) / cos(phi); cells are a 1 cm grid aligned with y = 0 and z = 0 edges, and
    dZ_Pos, dY_Pos (cm, in [-0.5, 0.5)) are the hit position relative to the centre of the hit
    cell.
    """
    rng = np.random.default_rng(_seed_sequence(seed))
    e = _range_or_value(rng, energy, n, "energy")
    if np.any(e <= 0):
        raise ValueError("energy must be > 0")
    theta = _range_or_value(rng, theta_deg, n, "theta_deg")
    phi = _range_or_value(rng, phi_deg, n, "phi_deg")
    if np.any((theta <= 10) | (theta >= 170)) or np.any(np.abs(phi) >= 60):
        raise ValueError("theta must be within (10, 170) deg and |phi| < 60 deg")
    r = CEPC_ECAL_RADIUS_CM
    th, ph = np.radians(theta), np.radians(phi)
    y = r * np.tan(ph)
    z = r / np.tan(th) / np.cos(ph)
    dz = z - (np.floor(z) + 0.5)
    dy = y - (np.floor(y) + 0.5)
    return pd.DataFrame({"Mom": e, "theta": theta, "phi": phi, "dZ_Pos": dz, "dY_Pos": dy,
                         "Z": z})


def generate_cepc_ecal(
    n: int, seed=None, *, energy=(1.0, 100.0), theta_deg=(50.0, 140.0), phi_deg=(-15.0, 15.0),
    grid: tuple[int, int, int] = (30, 30, 29), visible: bool = False, progress: bool = False,
    geometry: CalorimeterGeometry | None = None, **simulator_kwargs,
) -> tuple[np.ndarray, pd.DataFrame]:
    """CEPC ECAL reference photon showers and their conditions.

    Returns:
        ``voxels``: float32 ``(n, n_z, n_y, n_layers)`` in GeV, the authors' ``Barrel_Hit``
        axis order (dZ, dY, layer). By default the energy is *calibrated*: the silicon signal
        divided by each layer's sampling fraction, so the sum over voxels estimates the
        deposited energy (~E minus leakage) and sigma(E)/E can be read directly.
        ``visible=True`` returns the energy seen in the silicon instead.
        ``conditions``: DataFrame with :data:`CEPC_CONDITION_COLUMNS`; see
        :func:`cepc_ecal_conditions`.
    """
    cond_seed, shower_seed = _seed_sequence(seed).spawn(2)
    conditions = cepc_ecal_conditions(n, cond_seed, energy=energy, theta_deg=theta_deg,
                                      phi_deg=phi_deg)
    geometry = geometry or cepc_ecal_geometry(grid)
    if n == 0:
        return np.zeros((0, *geometry.grid), np.float32), conditions
    th = np.radians(conditions["theta"].to_numpy())
    ph = np.radians(conditions["phi"].to_numpy())
    direction = np.stack([np.cos(th), np.sin(th) * np.sin(ph), np.sin(th) * np.cos(ph)], axis=1)
    offset = conditions[["dZ_Pos", "dY_Pos"]].to_numpy()
    sim = ShowerSimulator(geometry, **simulator_kwargs)
    voxels = sim.simulate(conditions["Mom"].to_numpy(), direction, offset, particle="gamma",
                          seed=shower_seed, visible=visible, progress=progress)
    return voxels, conditions
