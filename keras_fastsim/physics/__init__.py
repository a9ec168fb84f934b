"""Particle species and physical constants."""

from keras_fastsim.physics.species import (
    HADRON_SPECIES,
    HYPOTHESIS_MASS,
    SPECIES,
    Species,
    get_species,
    species_from_pdg,
)

__all__ = ["HADRON_SPECIES", "HYPOTHESIS_MASS", "SPECIES", "Species", "get_species", "species_from_pdg"]
