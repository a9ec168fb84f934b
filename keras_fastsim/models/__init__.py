"""Generative models and baselines.

``ConditionalDedxFlow`` (TensorFlow Probability) is imported on first access, so the other
models import under any Keras backend (e.g. JAX on an accelerator without TensorFlow).
"""

from keras_fastsim.models.besiii_emc import (
    build_besiii_discriminator,
    build_besiii_gan,
    build_besiii_generator,
    build_besiii_regressor,
)
from keras_fastsim.models.cepc_ecal import (
    build_cepc_discriminator,
    build_cepc_gan,
    build_cepc_generator,
    build_cepc_regressor,
)
from keras_fastsim.models.conditional_gan import ConditionalGAN
from keras_fastsim.models.dedx_knn import DedxDenseGenerator
from keras_fastsim.models.histogram_sampling import HistogramSampler
from keras_fastsim.models.juno import JunoNpeNet, JunoTimeModel, JunoTimeNet

__all__ = [
    "ConditionalDedxFlow",
    "ConditionalGAN",
    "DedxDenseGenerator",
    "HistogramSampler",
    "JunoNpeNet",
    "JunoTimeModel",
    "JunoTimeNet",
    "build_besiii_discriminator",
    "build_besiii_gan",
    "build_besiii_generator",
    "build_besiii_regressor",
    "build_cepc_discriminator",
    "build_cepc_gan",
    "build_cepc_generator",
    "build_cepc_regressor",
]


def __getattr__(name: str):
    if name == "ConditionalDedxFlow":
        from keras_fastsim.models.dedx_flow import ConditionalDedxFlow

        return ConditionalDedxFlow
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
