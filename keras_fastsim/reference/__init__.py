"""Physics-based reference simulators standing in for Geant4 and detector data."""

from keras_fastsim.reference.calorimeter import (
    CalorimeterGeometry,
    GflashParameters,
    ShowerSimulator,
    besiii_emc_geometry,
    cepc_ecal_geometry,
    generate_besiii_emc,
    generate_cepc_ecal,
)
from keras_fastsim.reference.dedx import (
    DedxReference,
    DedxReferenceConfig,
    MomentumSpectrum,
    truncated_mean,
    truncation_bounds,
)
from keras_fastsim.reference.juno import (
    JunoOpticalSimulator,
    JunoOpticsConfig,
    juno_pmt_positions,
    make_training_samples,
    sample_muon_tracks,
)

__all__ = [
    "CalorimeterGeometry",
    "DedxReference",
    "DedxReferenceConfig",
    "GflashParameters",
    "JunoOpticalSimulator",
    "JunoOpticsConfig",
    "MomentumSpectrum",
    "ShowerSimulator",
    "besiii_emc_geometry",
    "cepc_ecal_geometry",
    "generate_besiii_emc",
    "generate_cepc_ecal",
    "juno_pmt_positions",
    "make_training_samples",
    "sample_muon_tracks",
    "truncated_mean",
    "truncation_bounds",
]
