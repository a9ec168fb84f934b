"""Charged particle species known to the dE/dx models.

Masses are PDG 2024 values in GeV/c^2.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class Species:
    """A charged particle species.

    Attributes:
        name: Canonical name used in track tables (``"pi+"``, ``"pbar"``, ...).
        mass: Rest mass in GeV/c^2.
        charge: Electric charge in units of e.
        hypothesis: PID hypothesis the species belongs to (``"pi"``, ``"K"``, ``"p"``, ``"e"``).
        pdg: PDG Monte Carlo particle code (used where files store species as integers).
    """

    name: str
    mass: float
    charge: int
    hypothesis: str
    pdg: int


_M_PI = 0.13957039
_M_K = 0.493677
_M_P = 0.93827209
_M_E = 0.000510998950

SPECIES: MappingProxyType[str, Species] = MappingProxyType(
    {
        "pi+": Species("pi+", _M_PI, +1, "pi", 211),
        "pi-": Species("pi-", _M_PI, -1, "pi", -211),
        "K+": Species("K+", _M_K, +1, "K", 321),
        "K-": Species("K-", _M_K, -1, "K", -321),
        "p": Species("p", _M_P, +1, "p", 2212),
        "pbar": Species("pbar", _M_P, -1, "p", -2212),
        "e+": Species("e+", _M_E, +1, "e", -11),
        "e-": Species("e-", _M_E, -1, "e", 11),
    }
)
"""All species, by name. Read-only."""

HADRON_SPECIES: tuple[str, ...] = ("pi+", "pi-", "K+", "K-", "p", "pbar")
"""The six species of the BESIII dE/dx control samples."""

HYPOTHESIS_MASS: MappingProxyType[str, float] = MappingProxyType(
    {"pi": _M_PI, "K": _M_K, "p": _M_P, "e": _M_E}
)
"""Mass of each PID hypothesis in GeV/c^2."""


def get_species(name: str) -> Species:
    """Returns the species called ``name``.

    Raises:
        ValueError: if the name is not a known species.
    """
    try:
        return SPECIES[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"Unknown species. Expected one of {sorted(SPECIES)}. Received: species={name!r}"
        ) from None


def species_from_pdg(code: int) -> Species:
    """Returns the species with PDG code ``code``.

    Raises:
        ValueError: if no known species has that code.
    """
    for species in SPECIES.values():
        if species.pdg == code:
            return species
    raise ValueError(
        f"Unknown PDG code. Expected one of {sorted(s.pdg for s in SPECIES.values())}. "
        f"Received: pdg={code!r}"
    )
