"""Generative models and baselines."""

from keras_fastsim.models.dedx_flow import ConditionalDedxFlow
from keras_fastsim.models.histogram_sampling import HistogramSampler

__all__ = ["ConditionalDedxFlow", "HistogramSampler"]
