"""TensorFlow-Probability bijectors driven by Keras 3 layers.

This subpackage is TensorFlow-specific (TFP); the Keras layers it drives are not.
"""

from keras_fastsim.flows.maf import conditional_maf
from keras_fastsim.flows.spline import spline_from_params, spline_params

__all__ = [
    "conditional_maf",
    "spline_from_params",
    "spline_params",
]
