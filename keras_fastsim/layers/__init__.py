"""Custom Keras layers."""

from keras_fastsim.layers.condition_projection import ConditionProjection
from keras_fastsim.layers.energy_ceiling import EnergyCeiling
from keras_fastsim.layers.energy_features import Log1pScaling, ShowerFeatures
from keras_fastsim.layers.made import MADE
from keras_fastsim.layers.minibatch_discrimination import MinibatchDiscrimination
from keras_fastsim.layers.moment_features import ShowerMomentFeatures
from keras_fastsim.layers.momentum_scaling import MomentumScaling
from keras_fastsim.layers.response_features import ResponseFeatures
from keras_fastsim.layers.shower_features_3d import ShowerFeatures3D
from keras_fastsim.layers.track_coordinates import TrackCoordinates

__all__ = [
    "MADE", "ConditionProjection", "EnergyCeiling", "Log1pScaling", "MinibatchDiscrimination",
    "MomentumScaling", "ResponseFeatures", "ShowerFeatures", "ShowerFeatures3D",
    "ShowerMomentFeatures", "TrackCoordinates",
]
