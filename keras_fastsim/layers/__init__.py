"""Custom Keras layers."""

from keras_fastsim.layers.made import MADE

__all__ = ["MADE"]
