"""BESIII EMC 2D conditional GAN: the networks of the slides, layer for layer (SPEC 2.4).

Only networks live here; training is :class:`keras_fastsim.models.conditional_gan.ConditionalGAN`
and :mod:`keras_fastsim.training.gan`.

Units and normalisation
=======================
All three networks take the showers and conditions in *physical* units, as returned by
:func:`keras_fastsim.reference.calorimeter.generate_besiii_emc` and
:func:`keras_fastsim.io.showers.read_besiii_emc`: cell energies in GeV, conditions
``(Mom, dTheta_Mom, dPhi_Mom, dZ_Pos, dPhi_Pos, Z)`` in GeV/c, deg, deg, cm, cm, cm. The
normalisation is part of the models (so a saved or exported generator needs no
preprocessing):

- conditions are divided by the authors' constants (``MC_info`` layout of GANforBES3)
  ``(1, 5, 10, 2, 2, 150)`` — Mom, dTheta/5, dPhi/10, dZ/2, dPhi_pos/2, Z/150 — by a
  ``Rescaling`` layer named ``normalise_conditions`` (``normalise_position`` in the regressor);
- cell energies entering a convolution are compressed by ``Log1pScaling``
  (``log1p(E / 1 MeV)``, layer ``normalise_energy``); the discriminator's energy features
  (``ShowerFeatures``) are computed from the raw GeV energies;
- the generator outputs GeV directly (final ReLU, no rescaling);
- the regressor's ``Dense(3)`` predicts normalised ``(Mom, dTheta/5, dPhi/10)`` and a final
  ``Rescaling`` layer (``denormalise``) returns GeV/c, deg, deg.

Choices the slides leave open (ours): the generator's ``Dense(256)`` is linear; the
convolutions are ``"same"`` except the generator's last ``Conv2D(1, (2, 2))`` ("valid",
12 -> 11); ``LeakyReLU`` has Keras' default slope 0.3 (the authors' Keras 2 default);
``MaxPooling2D`` is 2 x 2; the discriminator concatenates the flattened convolution features
with the minibatch-discrimination features (10 kernels of dimension 10), the normalised
conditions and the :class:`~keras_fastsim.layers.energy_features.ShowerFeatures`
(E_total, E3x3, E5x5, sparsity = fraction of cells > 0, E_total / Mom); the regressor's
``Dense(100)`` and ``Dense(10)`` use ReLU and take the flattened features concatenated with
the normalised ``(dZ_Pos, dPhi_Pos, Z)``.

References:
    SPEC 2.4 (slides "generative networks in HEP simulation", IHEP); W. Fang et al.,
    wenxingfang/GANforBES3; Paganini, de Oliveira, Nachman, "CaloGAN", PRD 97, 014021 (2018).
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

from keras_fastsim.io.showers import BESIII_NORMALISATION
from keras_fastsim.layers.condition_projection import ConditionProjection
from keras_fastsim.layers.energy_ceiling import EnergyCeiling
from keras_fastsim.layers.energy_features import Log1pScaling, ShowerFeatures
from keras_fastsim.layers.minibatch_discrimination import MinibatchDiscrimination
from keras_fastsim.layers.moment_features import ShowerMomentFeatures
from keras_fastsim.layers.momentum_scaling import MomentumScaling
from keras_fastsim.layers.response_features import ResponseFeatures
from keras_fastsim.layers.track_coordinates import TrackCoordinates
from keras_fastsim.models.conditional_gan import ConditionalGAN

BESIII_WINDOW = 11
"""Crystals per side of the shower image."""
BESIII_CONDITION_SCALE: tuple[float, ...] = tuple(BESIII_NORMALISATION)
"""Authors' normalisation of (Mom, dTheta_Mom, dPhi_Mom, dZ_Pos, dPhi_Pos, Z)."""
BESIII_CONDITION_SPLIT: tuple[tuple[int, ...], tuple[int, ...]] = ((0, 1, 2), (3, 4, 5))
"""y1 = (Mom, dTheta_Mom, dPhi_Mom) regressed; y2 = (dZ_Pos, dPhi_Pos, Z) regressor inputs."""
BESIII_REGRESSION_SCALE: tuple[float, ...] = BESIII_CONDITION_SCALE[:3]
"""Scales of the y1 residuals in the regression loss (the normalisation of y1)."""
ENERGY_SCALE_GEV = 1e-3
"""Energy unit of the ``log1p`` compression of the cell energies (1 MeV)."""
BESIII_CONDITION_CENTER: tuple[float, ...] = (1.5, 0.0, 0.0, 0.0, 0.0, 0.0)
BESIII_CONDITION_SPREAD: tuple[float, ...] = (0.3, 2.5, 7.0, 1.5, 1.5, 60.0)
"""Centre and spread standardising the conditions in the discriminator's shower-moment
couplings: about the mean and standard deviation of the reference conditions (Mom uniform in
1-2 GeV/c; measured standard deviations 2.6 deg, 6.9 deg, 1.5 cm, 1.5 cm, 62 cm)."""


def _check_scale(scale: Sequence[float], size: int, name: str) -> tuple[float, ...]:
    scale = tuple(float(s) for s in scale)
    if len(scale) != size or min(scale) <= 0:
        raise ValueError(
            f"`{name}` must hold {size} positive numbers. Received: {name}={scale}"
        )
    return scale


def _inverse(scale: Sequence[float]) -> list[float]:
    return [1.0 / s for s in scale]


def build_besiii_generator(
    noise_dim: int = 512,
    condition_dim: int = 6,
    *,
    condition_scale: Sequence[float] = BESIII_CONDITION_SCALE,
    momentum_scaling: float | None = None,
    energy_ceiling: float | None = None,
    ceiling_sharpness: float = 20.0,
    ceiling_penalty_weight: float = 0.0,
    track_coordinates: bool = False,
    name: str = "besiii_generator",
) -> keras.Model:
    """The slides' generator: ``[noise, conditions] -> (batch, 11, 11, 1)`` energies in GeV.

    Noise(``noise_dim``) + normalised y -> Dense(16*4*4) -> Reshape(4, 4, 16) ->
    UpSampling2D(3, 3) [-> TrackCoordinates] -> Conv2D(16, (4, 4)) + ReLU ->
    2 x {Conv2D(16, (3, 3)) + ReLU} ->
    Conv2D(8, (3, 3)) + ReLU -> Conv2D(1, (2, 2), "valid") + ReLU -> 11 x 11 x 1
    [-> MomentumScaling] [-> EnergyCeiling].

    Args:
        noise_dim: Size of the noise vector (512 in the slides).
        condition_dim: Number of conditions (6).
        condition_scale: Divisors normalising the conditions (authors' constants).
        momentum_scaling: If given, a :class:`MomentumScaling` after the last ReLU multiplies
            the shower by ``Mom / momentum_scaling`` (GeV/c), so that the convolutions make
            the shower in units of the momentum and the response ``E_total / Mom`` and its
            spread need not be learned as functions of ``Mom``. Default ``None`` (the
            slides' generator).
        energy_ceiling: If given, an :class:`EnergyCeiling` after the last ReLU keeps the
            shower's summed energy smoothly below ``energy_ceiling * Mom`` (energy
            conservation: the reference's E_total / Mom has an edge just below 1 and a
            leakage tail). Default ``None`` (the slides' generator).
        ceiling_sharpness, ceiling_penalty_weight: ``sharpness`` and ``penalty_weight`` of
            the :class:`EnergyCeiling`. Defaults ``20.0`` and ``0.0``.
        track_coordinates: Whether a :class:`TrackCoordinates` layer appends each cell's
            distance from the track's entry point (``dZ_Pos``, ``dPhi_Pos``) to the 12 x 12
            map after the upsampling, so that the convolutions can place the shower in the
            crystal (CoordConv). Default ``False`` (the slides' generator).
        name: Model name.
    """
    if int(noise_dim) < 1:
        raise ValueError(f"`noise_dim` must be >= 1. Received: noise_dim={noise_dim}")
    if int(condition_dim) < 1:
        raise ValueError(f"`condition_dim` must be >= 1. Received: condition_dim={condition_dim}")
    scale = _check_scale(condition_scale, int(condition_dim), "condition_scale")
    noise = keras.Input((int(noise_dim),), name="noise")
    conditions = keras.Input((int(condition_dim),), name="conditions")
    y = layers.Rescaling(_inverse(scale), name="normalise_conditions")(conditions)
    x = layers.Concatenate(name="noise_and_conditions")([noise, y])
    x = layers.Dense(16 * 4 * 4, name="dense")(x)
    x = layers.Reshape((4, 4, 16), name="reshape")(x)
    x = layers.UpSampling2D((3, 3), name="upsampling")(x)
    if track_coordinates:
        x = TrackCoordinates(name="track_coordinates")(x, conditions)
    x = layers.Conv2D(16, (4, 4), padding="same", name="conv_1")(x)
    x = layers.ReLU(name="relu_1")(x)
    x = layers.Conv2D(16, (3, 3), padding="same", name="conv_2")(x)
    x = layers.ReLU(name="relu_2")(x)
    x = layers.Conv2D(16, (3, 3), padding="same", name="conv_3")(x)
    x = layers.ReLU(name="relu_3")(x)
    x = layers.Conv2D(8, (3, 3), padding="same", name="conv_4")(x)
    x = layers.ReLU(name="relu_4")(x)
    x = layers.Conv2D(1, (2, 2), padding="valid", name="conv_5")(x)
    showers = layers.ReLU(name="energy")(x)
    if momentum_scaling is not None:
        showers = MomentumScaling(momentum_scaling, momentum_index=0,
                                  name="momentum_scaling")(showers, conditions)
    if energy_ceiling is not None:
        showers = EnergyCeiling(
            energy_ceiling, ceiling_sharpness, ceiling_penalty_weight, momentum_index=0,
            name="energy_ceiling",
        )(showers, conditions)
    return keras.Model([noise, conditions], showers, name=name)


def build_besiii_discriminator(
    condition_dim: int = 6,
    *,
    window: int = BESIII_WINDOW,
    minibatch_kernels: int = 10,
    minibatch_kernel_dim: int = 10,
    minibatch_reduction: str = "sum",
    dropout: float = 0.1,
    energy_scale: float = ENERGY_SCALE_GEV,
    condition_scale: Sequence[float] = BESIII_CONDITION_SCALE,
    response_center: float = 0.0,
    response_scale: float = 1.0,
    response_powers: int = 1,
    response_clip: float | None = None,
    momentum_terms: int = 0,
    momentum_center: float = 1.5,
    momentum_scale: float = 0.3,
    moment_features: bool = False,
    condition_projection: int = 0,
    name: str = "besiii_discriminator",
) -> keras.Model:
    """The slides' discriminator: ``[showers (GeV), conditions] -> P(real)``, shape (batch, 1).

    Input(11 x 11) -> log1p(E / 1 MeV) -> Conv2D(16, (2, 2)) + LeakyReLU + Dropout(0.1) ->
    Conv2D(32, (3, 3)) + LeakyReLU + Dropout(0.1) -> Conv2D(64, (3, 3)) + LeakyReLU +
    Dropout(0.1) -> MaxPooling2D + Flatten -> concatenate(features, minibatch
    discrimination, normalised y, ShowerFeatures(E_total, E3x3, E5x5, sparsity,
    response E_total / Mom and its powers)[, ShowerMomentFeatures]) -> Dense(1, sigmoid);
    with ``condition_projection`` the logit of ``Dense(1)`` plus the projection of the
    flattened convolution features onto the embedded conditions, then the sigmoid.

    Args:
        condition_dim: Number of conditions (6; the momentum is column 0).
        window: Crystals per side (11).
        minibatch_kernels: Kernels of the minibatch discrimination (0 disables it, e.g.
            for tests that compare distribution strategies).
        minibatch_kernel_dim: Dimension of each minibatch-discrimination kernel.
        minibatch_reduction: ``"sum"`` over the other samples (CaloGAN, default) or
            ``"mean"`` (batch-size independent; see :class:`MinibatchDiscrimination`).
        dropout: Dropout rate after each convolution (0.1).
        energy_scale: Energy unit (GeV) of the log1p input compression.
        condition_scale: Divisors normalising the conditions.
        response_center, response_scale, response_powers, response_clip: The
            energy-vs-momentum features ``r ** k``, ``k = 1..powers``, of the response
            ``r = (E_total / Mom - center) / scale``, soft-clipped at ``clip`` (see
            :class:`ShowerFeatures`). The defaults ``(0, 1, 1, None)`` give the plain
            ``E_total / Mom``; ``(0.97, 0.03, 2, 4)`` standardises it to the reference
            response (0.970 +- 0.033 at 1-2 GeV/c) and adds its square, so that the last
            logistic unit can see a too narrow or too wide response.
        momentum_terms, momentum_center, momentum_scale: The couplings ``r ** k * q``,
            ``k = 1..terms``, with ``q = (Mom - center) / scale``, so that the logistic unit
            can also see how the response's mean and width change with ``Mom`` (see
            :class:`ShowerFeatures`). Default ``0`` terms (none), ``q`` centred on 1.5 GeV/c
            with scale 0.3.
        moment_features: Whether to add the shower's centroid and width along phi and Z
            and their products with the standardised conditions
            (:class:`~keras_fastsim.layers.moment_features.ShowerMomentFeatures`, layer
            ``moments``; conditions standardised by ``BESIII_CONDITION_CENTER`` and
            ``BESIII_CONDITION_SPREAD``), so that the last logistic unit can see a shower
            placed or shaped wrongly for its track. Default ``False`` (the slides' layers).
        condition_projection: Width of the conditions' embedding in a projection term
            ``<V(y), h>`` added to the logit, with ``h`` the flattened convolution features
            (:class:`~keras_fastsim.layers.condition_projection.ConditionProjection`, layer
            ``condition_projection``), so that the learned features can depend on the
            conditions; ``0`` for none. Default ``0`` (the slides' layers).
        name: Model name.
    """
    if int(minibatch_kernels) < 0:
        raise ValueError(
            f"`minibatch_kernels` must be >= 0. Received: minibatch_kernels={minibatch_kernels}"
        )
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"`dropout` must be in [0, 1). Received: dropout={dropout}")
    if int(window) < 1 or int(window) % 2 == 0:
        raise ValueError(f"`window` must be an odd positive integer. Received: window={window}")
    if int(condition_projection) < 0:
        raise ValueError("`condition_projection` must be >= 0. "
                         f"Received: condition_projection={condition_projection}")
    scale = _check_scale(condition_scale, int(condition_dim), "condition_scale")
    showers = keras.Input((int(window), int(window), 1), name="showers")
    conditions = keras.Input((int(condition_dim),), name="conditions")
    x = Log1pScaling(energy_scale, name="normalise_energy")(showers)
    for i, (filters, kernel) in enumerate(((16, (2, 2)), (32, (3, 3)), (64, (3, 3))), start=1):
        x = layers.Conv2D(filters, kernel, padding="same", name=f"conv_{i}")(x)
        x = layers.LeakyReLU(name=f"leaky_relu_{i}")(x)
        x = layers.Dropout(dropout, name=f"dropout_{i}")(x)
    x = layers.MaxPooling2D(name="max_pooling")(x)
    features = layers.Flatten(name="flatten")(x)
    parts = [features]
    if int(minibatch_kernels) > 0:
        parts.append(
            MinibatchDiscrimination(
                int(minibatch_kernels), int(minibatch_kernel_dim),
                reduction=minibatch_reduction, name="minibatch_discrimination",
            )(features)
        )
    normalised = layers.Rescaling(_inverse(scale), name="normalise_conditions")(conditions)
    parts.append(normalised)
    energies = ShowerFeatures(
        windows=(3, 5), momentum_index=0, response_center=response_center,
        response_scale=response_scale, response_powers=response_powers, response_clip=response_clip,
        momentum_terms=momentum_terms, momentum_center=momentum_center,
        momentum_scale=momentum_scale, name="energies",
    )
    parts.append(energies(showers, conditions))
    if moment_features:
        moments = ShowerMomentFeatures(
            condition_center=BESIII_CONDITION_CENTER[: int(condition_dim)],
            condition_scale=BESIII_CONDITION_SPREAD[: int(condition_dim)], name="moments",
        )
        parts.append(moments(showers, conditions))
    x = layers.Concatenate(name="concatenate")(parts)
    if int(condition_projection) == 0:
        p_real = layers.Dense(1, activation="sigmoid", name="p_real")(x)
        return keras.Model([showers, conditions], p_real, name=name)
    logit = layers.Dense(1, name="logit")(x)
    projection = ConditionProjection(int(condition_projection), name="condition_projection")
    logit = layers.Add(name="add_projection")([logit, projection(features, normalised)])
    p_real = layers.Activation("sigmoid", name="p_real")(logit)
    return keras.Model([showers, conditions], p_real, name=name)


def build_besiii_regressor(
    *,
    window: int = BESIII_WINDOW,
    energy_scale: float = ENERGY_SCALE_GEV,
    position_scale: Sequence[float] = BESIII_CONDITION_SCALE[3:],
    output_scale: Sequence[float] = BESIII_REGRESSION_SCALE,
    name: str = "besiii_regressor",
) -> keras.Model:
    """The slides' regressor: ``[showers (GeV), (dZ_Pos, dPhi_Pos, Z)] -> (Mom, dTheta, dPhi)``.

    Input(11 x 11) -> log1p(E / 1 MeV) -> Conv2D(64, (2, 2)) + ReLU + MaxPooling ->
    Conv2D(128, (2, 2)) + ReLU + MaxPooling -> Flatten, concatenated with the normalised
    position -> Dense(100) + Dense(10) + Dense(3) -> denormalised to GeV/c, deg, deg.

    Args:
        window: Crystals per side (11).
        energy_scale: Energy unit (GeV) of the log1p input compression.
        position_scale: Divisors of (dZ_Pos, dPhi_Pos, Z) (authors' 2, 2, 150).
        output_scale: Units of the Dense(3) outputs (authors' 1, 5, 10).
        name: Model name.
    """
    if int(window) < 4:
        raise ValueError(f"`window` must be >= 4. Received: window={window}")
    pos_scale = _check_scale(position_scale, 3, "position_scale")
    out_scale = _check_scale(output_scale, 3, "output_scale")
    showers = keras.Input((int(window), int(window), 1), name="showers")
    position = keras.Input((3,), name="position")
    x = Log1pScaling(energy_scale, name="normalise_energy")(showers)
    x = layers.Conv2D(64, (2, 2), padding="same", name="conv_1")(x)
    x = layers.ReLU(name="relu_1")(x)
    x = layers.MaxPooling2D(name="max_pooling_1")(x)
    x = layers.Conv2D(128, (2, 2), padding="same", name="conv_2")(x)
    x = layers.ReLU(name="relu_2")(x)
    x = layers.MaxPooling2D(name="max_pooling_2")(x)
    x = layers.Flatten(name="flatten")(x)
    y2 = layers.Rescaling(_inverse(pos_scale), name="normalise_position")(position)
    x = layers.Concatenate(name="concatenate")([x, y2])
    x = layers.Dense(100, activation="relu", name="dense_100")(x)
    x = layers.Dense(10, activation="relu", name="dense_10")(x)
    x = layers.Dense(3, name="dense_3")(x)
    y1 = layers.Rescaling(list(out_scale), name="denormalise")(x)
    return keras.Model([showers, position], y1, name=name)


def build_besiii_gan(
    regressor: keras.Model | None = None,
    *,
    noise_dim: int = 512,
    regression_weight: float = 1.0,
    generator_steps: int = 2,
    matching_weight: float = 0.0,
    matching_loss: str = "energy",
    matching_momentum_scale: float = 0.3,
    seed: int | None = None,
    generator_kwargs: dict | None = None,
    discriminator_kwargs: dict | None = None,
) -> ConditionalGAN:
    """The BESIII EMC conditional GAN: slide networks in :class:`ConditionalGAN`.

    Args:
        regressor: The pretrained regressor (:func:`build_besiii_regressor`), or ``None``
            for a GAN without the regression term.
        noise_dim: Generator noise size (512).
        regression_weight: Weight of the regression term.
        generator_steps: Generator updates per discriminator update (2).
        matching_weight: Weight of a two-sample term between real and generated points
            :class:`ResponseFeatures` ``(E_total / Mom, E5x5 / Mom, Mom)``, standardised;
            ``0`` (default, the slides' GAN) switches it off.
        matching_loss: Its statistic (``"energy"``, ``"mmd"`` or ``"smoothknn"``).
        matching_momentum_scale: ``momentum_scale`` of the points' momentum coordinate (GeV/c;
            default ``0.3``). A smaller scale spreads the points in ``Mom``, so that a kernel
            statistic (``"mmd"``, bandwidths 0.2-5) compares showers of nearby momenta only.
        seed: Seed of the training noise and shuffling.
        generator_kwargs: More arguments of :func:`build_besiii_generator`.
        discriminator_kwargs: More arguments of :func:`build_besiii_discriminator`.
    """
    return ConditionalGAN(
        build_besiii_generator(noise_dim, **(generator_kwargs or {})),
        build_besiii_discriminator(**(discriminator_kwargs or {})),
        regressor,
        noise_dim=noise_dim,
        regression_weight=regression_weight,
        generator_steps=generator_steps,
        condition_split=BESIII_CONDITION_SPLIT if regressor is not None else None,
        regression_scale=BESIII_REGRESSION_SCALE if regressor is not None else None,
        matching_features=(
            ResponseFeatures(windows=(BESIII_WINDOW, 5), momentum_scale=matching_momentum_scale,
                             name="matching_features")
            if matching_weight > 0 else None
        ),
        matching_loss=matching_loss,
        matching_weight=matching_weight,
        seed=seed,
        name="besiii_emc_gan",
    )
