"""Custom Keras layers."""

from keras_fastsim.layers.energy_features import Log1pScaling, ShowerFeatures
from keras_fastsim.layers.made import MADE
from keras_fastsim.layers.minibatch_discrimination import MinibatchDiscrimination

__all__ = ["MADE", "Log1pScaling", "MinibatchDiscrimination", "ShowerFeatures"]
