"""Two-sample losses for training generators by distribution matching.

See :mod:`keras_fastsim.losses.two_sample` for the formulas (smoothed k-NN graph test, unbiased
MMD, energy distance) and their references.
"""

from keras_fastsim.losses.two_sample import (
    EnergyLoss,
    MMDLoss,
    SmoothKNNLoss,
    TwoSampleLoss,
    energy_distance,
    get_two_sample_loss,
    mmd_unbiased,
    permutation_null_moments,
    smooth_knn_statistic,
    smooth_knn_weights,
)

__all__ = [
    "EnergyLoss",
    "MMDLoss",
    "SmoothKNNLoss",
    "TwoSampleLoss",
    "energy_distance",
    "get_two_sample_loss",
    "mmd_unbiased",
    "permutation_null_moments",
    "smooth_knn_statistic",
    "smooth_knn_weights",
]
