"""CEPC ECAL 3D conditional GAN: the networks of the slides, layer for layer (SPEC 2.5).

Only networks live here; training is :class:`keras_fastsim.models.conditional_gan.ConditionalGAN`
and :mod:`keras_fastsim.training.gan` (the same machinery as the BESIII EMC GAN).

Grid and axes
=============
A shower is a voxel grid ``(n_z, n_y, n_layers)`` = ``(30, 30, 29)`` by default (the
generator slide; the authors' public code used 31 x 31 x 29): 1 x 1 cm^2 cells along the beam
(dZ) and along the module's y (dY) around the hit cell, times the 29 Si-W layers; the axis
order of ``Barrel_Hit`` (:func:`keras_fastsim.io.showers.read_cepc_ecal`,
:func:`keras_fastsim.reference.calorimeter.generate_cepc_ecal`). The grid is one parameter,
``grid``, of every builder; :func:`build_cepc_gan` checks that its three networks agree.
Networks take and return showers *without* a channel axis, ``(batch, *grid)``; they add and
drop the channel axis internally. Kernel sizes are given in grid axis order (dZ, dY, layer),
as listed on the slides (e.g. the generator's ``(6, 6, 8)`` is 8 layers deep).

Units and normalisation
=======================
All networks take showers and conditions in *physical* units: voxel energies in GeV
(calibrated), conditions ``(Mom, theta, phi, dZ_Pos, dY_Pos, Z)`` in GeV, deg, deg, cm, cm, cm
(:data:`keras_fastsim.reference.calorimeter.CEPC_CONDITION_COLUMNS`). The normalisation is
part of the models (a saved or exported generator needs no preprocessing):

- conditions are divided by :data:`CEPC_CONDITION_SCALE` ``(100, 90, 15, 0.5, 0.5, 200)``
  (layer ``normalise_conditions``; ``normalise_position`` in the regressor), i.e. roughly
  to [-1, 1.6] over the training sample (E 1-100 GeV, theta 50-140 deg, phi +-15 deg,
  dZ/dY in [-0.5, 0.5) cm, |Z| < 230 cm) — our choice, the slides give none;
- voxel energies entering a convolution are compressed by ``Log1pScaling``
  (``log1p(E / 1 MeV)``, layer ``normalise_energy``), as for BESIII; energy features are
  computed from the raw GeV energies (:class:`ShowerFeatures3D`, sums divided by 100 GeV);
- the generator outputs GeV directly (final ReLU, no rescaling);
- the regressor's ``Dense(3)`` predicts normalised ``(Mom/100, theta/90, phi/15)`` and a
  final ``Rescaling`` (``denormalise``) returns GeV, deg, deg.

Choices the slides leave open (ours, documented)
================================================
Generator: the conditions it sees are ``(Mom, theta, phi, Z)`` (columns
:data:`CEPC_GENERATOR_COLUMNS` of the 6 conditions, selected inside the model by
:class:`ConditionColumns`, so that it takes the same conditions as the discriminator and
:class:`ConditionalGAN`); ``Dense(6*6*6*8)`` is linear; every convolution is ``"same"``
(30^3 voxels through the whole stack, which is the ~3.3 GFLOP/shower quoted for the slide
generator, SPEC 4) and ``Cropping3D`` removes the last layer plane, 30 x 30 x 30 -> 30 x 30 x
29 (as in the authors' code). For another grid the seed cube of the ``Dense`` layer is
``ceil(grid / 5)`` per axis and ``Cropping3D`` removes ``5 * seed - grid`` planes per axis
(``k // 2`` in front, the rest behind); for the default grid this is exactly the slide.

Discriminator: the first ``Conv3D(16, (2, 2, 2))`` is ``"same"``, the four
``Conv3D(8, (3, 3, 3))`` are ``"valid"`` (30 x 30 x 29 -> 22 x 22 x 21, the authors' public
code), ``AveragePooling3D`` is 2 x 2 x 2, ``LeakyReLU`` has Keras' default slope 0.3, and
``Dense(1)`` has a sigmoid (a probability, ``ConditionalGAN(from_logits=False)``). Options
concatenated to the flattened features before ``Dense(1)``:

- ``minibatch_kernels`` (default 10 kernels of dimension 10, CaloGAN / BESIII): minibatch
  discrimination on the flattened features;
- ``energy_features`` (default on): :class:`ShowerFeatures3D` — E_total, E3x3, E5x5
  (transverse windows around the hit cell, all layers), sparsity (fraction of voxels > 0),
  E_total / Mom and the 29 per-layer energy fractions (the longitudinal profile);
- ``conditional`` (default off: the slide's discriminator sees the shower only; the
  conditions reach it through ``E_total / Mom``, and the regression term conditions the
  generator): the normalised conditions.

Default and why: minibatch discrimination *and* energy features on. The card asks for GANs
with minibatch discrimination (mode collapse is the failure the slides' validation shows
first), and the issue's fidelity targets are on exactly the quantities the energy features
expose — mean response and sigma(E)/E per energy (E_total / Mom), the longitudinal profile
(per-layer fractions) and the cell-occupancy / hit-energy spectrum (sparsity). This is a
choice by construction; the measurement of fidelity with each option on and off on held-out
reference showers is still to be done (a training run per variant).

Regressor: the first ``Conv3D(16, (5, 6, 6))`` is ``"same"``, the three ``Conv3D(8, (5, 6,
6))`` ``"valid"`` (30 x 30 x 29 -> 18 x 15 x 14, the authors' code), ``AveragePooling3D``
2 x 2 x 2, LeakyReLU slope 0.3; the head concatenates the flattened features, the normalised
position ``(dZ_Pos, dY_Pos, Z)`` and the calorimeter energy (``E_total / 100 GeV``, which
the log compression of the input hides) before ``Dense(3)``.

References:
    SPEC 2.5 (slides "generative networks in HEP simulation", IHEP); W. Fang et al.,
    wenxingfang/GANforCEPC; Paganini, de Oliveira, Nachman, "CaloGAN", PRD 97, 014021
    (2018); Salimans et al., "Improved Techniques for Training GANs", arXiv:1606.03498.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras
from keras import layers, ops

from keras_fastsim.layers.energy_features import Log1pScaling
from keras_fastsim.layers.minibatch_discrimination import MinibatchDiscrimination
from keras_fastsim.layers.shower_features_3d import ShowerFeatures3D
from keras_fastsim.models.conditional_gan import ConditionalGAN

CEPC_GRID: tuple[int, int, int] = (30, 30, 29)
"""Voxels (dZ, dY, layer) of a shower (the generator slide)."""
CEPC_CONDITION_SCALE: tuple[float, ...] = (100.0, 90.0, 15.0, 0.5, 0.5, 200.0)
"""Divisors normalising (Mom, theta, phi, dZ_Pos, dY_Pos, Z) in GeV, deg, deg, cm, cm, cm."""
CEPC_GENERATOR_COLUMNS: tuple[int, ...] = (0, 1, 2, 5)
"""Conditions of the generator: (Mom, theta, phi, Z)."""
CEPC_CONDITION_SPLIT: tuple[tuple[int, ...], tuple[int, ...]] = ((0, 1, 2), (3, 4, 5))
"""y1 = (Mom, theta, phi) regressed; y2 = (dZ_Pos, dY_Pos, Z) regressor inputs."""
CEPC_REGRESSION_SCALE: tuple[float, ...] = CEPC_CONDITION_SCALE[:3]
"""Scales of the y1 residuals in the regression loss (the normalisation of y1)."""
ENERGY_SCALE_GEV = 1e-3
"""Energy unit of the ``log1p`` compression of the voxel energies (1 MeV)."""
FEATURE_ENERGY_SCALE_GEV = 100.0
"""Divisor of the energy sums fed to dense layers (top of the 1-100 GeV training range)."""
UPSAMPLING = 5
"""The generator's UpSampling3D factor along every axis (slide)."""
GENERATOR_SEED_CHANNELS = 8
"""Channels of the generator's seed cube (Dense(6*6*6*8))."""


# ------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="keras_fastsim")
class ConditionColumns(keras.layers.Layer):
    """Selects columns of a ``(batch, n)`` tensor: ``inputs[:, columns]``.

    Lets a network that uses some of the conditions take the full condition vector (the
    interface of :class:`ConditionalGAN`), e.g. the CEPC generator's ``(Mom, theta, phi, Z)``
    out of the six conditions.

    Args:
        columns: Distinct non-negative column indices, in output order.

    Call args:
        inputs: Tensor ``(batch, n)`` with ``n > max(columns)``.

    Returns:
        Tensor ``(batch, len(columns))``.
    """

    def __init__(self, columns: Sequence[int], **kwargs):
        super().__init__(**kwargs)
        try:
            columns = tuple(int(c) for c in columns)
        except TypeError as err:
            raise ValueError(
                f"`columns` must be a sequence of integers. Received: columns={columns}"
            ) from err
        if not columns or min(columns) < 0 or len(set(columns)) != len(columns):
            raise ValueError(
                f"`columns` must be distinct non-negative integers. Received: columns={columns}"
            )
        self.columns = columns

    def build(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(
                f"ConditionColumns expects (batch, n) inputs. Received: input_shape={input_shape}"
            )
        if input_shape[-1] is not None and max(self.columns) >= int(input_shape[-1]):
            raise ValueError(
                f"`columns` {self.columns} exceed the {input_shape[-1]} input columns. "
                f"Received: input_shape={input_shape}"
            )
        self.built = True

    def call(self, inputs):
        return ops.take(inputs, list(self.columns), axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], len(self.columns))

    def get_config(self):
        config = super().get_config()
        config["columns"] = list(self.columns)
        return config


def _check_scale(scale: Sequence[float], size: int, name: str) -> tuple[float, ...]:
    scale = tuple(float(s) for s in scale)
    if len(scale) != size or min(scale) <= 0:
        raise ValueError(
            f"`{name}` must hold {size} positive numbers. Received: {name}={scale}"
        )
    return scale


def _check_grid(grid: Sequence[int], minimum: Sequence[int] = (1, 1, 1)) -> tuple[int, int, int]:
    try:
        out = tuple(int(g) for g in grid)
    except TypeError as err:
        raise ValueError(
            f"`grid` must be 3 positive integers (n_z, n_y, n_layers). Received: grid={grid}"
        ) from err
    if len(out) != 3 or any(g < m for g, m in zip(out, minimum)):
        raise ValueError(
            f"`grid` must be 3 integers (n_z, n_y, n_layers) of at least {tuple(minimum)} "
            f"for this network. Received: grid={grid}"
        )
    return out  # type: ignore[return-value]


def _check_dropout(dropout: float) -> float:
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"`dropout` must be in [0, 1). Received: dropout={dropout}")
    return float(dropout)


def _inverse(scale: Sequence[float]) -> list[float]:
    return [1.0 / s for s in scale]


def generator_seed_shape(grid: Sequence[int]) -> tuple[int, int, int]:
    """The generator's seed cube ``ceil(grid / 5)`` per axis: ``(6, 6, 6)`` for 30x30x29."""
    return tuple(math.ceil(g / UPSAMPLING) for g in _check_grid(grid))  # type: ignore[return-value]


# ------------------------------------------------------------------------------------------
# networks
# ------------------------------------------------------------------------------------------

_GENERATOR_CONVS: tuple[tuple[int, tuple[int, int, int]], ...] = (
    (8, (6, 6, 8)), (8, (6, 6, 8)), (8, (6, 6, 8)), (6, (4, 4, 6)), (6, (3, 3, 5)), (1, (2, 2, 2)),
)
_DISCRIMINATOR_CONVS: tuple[tuple[int, tuple[int, int, int], str], ...] = (
    (16, (2, 2, 2), "same"), *((8, (3, 3, 3), "valid"),) * 4,
)
_REGRESSOR_CONVS: tuple[tuple[int, tuple[int, int, int], str], ...] = (
    (16, (5, 6, 6), "same"), *((8, (5, 6, 6), "valid"),) * 3,
)
DISCRIMINATOR_MIN_GRID: tuple[int, int, int] = (10, 10, 10)
"""Smallest grid the discriminator takes (four valid 3x3x3 convolutions, then pooling by 2)."""
REGRESSOR_MIN_GRID: tuple[int, int, int] = (14, 17, 17)
"""Smallest grid the regressor takes (three valid (5, 6, 6) convolutions, then pooling by 2)."""


def build_cepc_generator(
    noise_dim: int = 512,
    *,
    grid: Sequence[int] = CEPC_GRID,
    condition_dim: int = 6,
    condition_columns: Sequence[int] = CEPC_GENERATOR_COLUMNS,
    condition_scale: Sequence[float] = CEPC_CONDITION_SCALE,
    name: str = "cepc_generator",
) -> keras.Model:
    """The slides' generator: ``[noise, conditions] -> (batch, *grid)`` energies in GeV.

    Noise(512) + normalised (Mom, theta, phi, Z) -> Dense(6*6*6*8) -> Reshape(6, 6, 6, 8) ->
    UpSampling3D(5, 5, 5) + ReLU -> 3 x {Conv3D(8, (6, 6, 8)) + ReLU} -> Conv3D(6, (4, 4, 6))
    + ReLU -> Conv3D(6, (3, 3, 5)) + ReLU -> Conv3D(1, (2, 2, 2)) + ReLU -> Cropping3D ->
    30 x 30 x 29 (all convolutions "same"; see the module docstring for other grids).

    Args:
        noise_dim: Size of the noise vector (512 in the slides).
        grid: Output voxels ``(n_z, n_y, n_layers)``.
        condition_dim: Number of conditions the model takes (6).
        condition_columns: The columns of the conditions the generator uses
            (``(0, 1, 2, 5)`` = Mom, theta, phi, Z).
        condition_scale: Divisors normalising all ``condition_dim`` conditions.
        name: Model name.

    Returns:
        A functional ``keras.Model``.
    """
    if int(noise_dim) < 1:
        raise ValueError(f"`noise_dim` must be >= 1. Received: noise_dim={noise_dim}")
    if int(condition_dim) < 1:
        raise ValueError(f"`condition_dim` must be >= 1. Received: condition_dim={condition_dim}")
    grid = _check_grid(grid)
    scale = _check_scale(condition_scale, int(condition_dim), "condition_scale")
    columns = ConditionColumns(condition_columns, name="generator_conditions")
    if max(columns.columns) >= int(condition_dim):
        raise ValueError(
            f"`condition_columns` must be < condition_dim={condition_dim}. "
            f"Received: condition_columns={condition_columns}"
        )
    seed = generator_seed_shape(grid)
    crop = tuple(UPSAMPLING * s - g for s, g in zip(seed, grid))

    noise = keras.Input((int(noise_dim),), name="noise")
    conditions = keras.Input((int(condition_dim),), name="conditions")
    y = columns(conditions)
    y = layers.Rescaling(
        _inverse([scale[c] for c in columns.columns]), name="normalise_conditions"
    )(y)
    x = layers.Concatenate(name="noise_and_conditions")([noise, y])
    x = layers.Dense(math.prod(seed) * GENERATOR_SEED_CHANNELS, name="dense")(x)
    x = layers.Reshape((*seed, GENERATOR_SEED_CHANNELS), name="reshape")(x)
    x = layers.UpSampling3D((UPSAMPLING,) * 3, name="upsampling")(x)
    x = layers.ReLU(name="relu_0")(x)
    for i, (filters, kernel) in enumerate(_GENERATOR_CONVS, start=1):
        x = layers.Conv3D(filters, kernel, padding="same", name=f"conv_{i}")(x)
        x = layers.ReLU(name=f"relu_{i}")(x)
    x = layers.Cropping3D(tuple((k // 2, k - k // 2) for k in crop), name="cropping")(x)
    showers = layers.Reshape(grid, name="energy")(x)
    return keras.Model([noise, conditions], showers, name=name)


def build_cepc_discriminator(
    condition_dim: int = 6,
    *,
    grid: Sequence[int] = CEPC_GRID,
    minibatch_kernels: int = 10,
    minibatch_kernel_dim: int = 10,
    minibatch_reduction: str = "sum",
    energy_features: bool = True,
    conditional: bool = False,
    dropout: float = 0.1,
    energy_scale: float = ENERGY_SCALE_GEV,
    feature_energy_scale: float = FEATURE_ENERGY_SCALE_GEV,
    condition_scale: Sequence[float] = CEPC_CONDITION_SCALE,
    name: str = "cepc_discriminator",
) -> keras.Model:
    """The slides' discriminator: ``[showers (GeV), conditions] -> P(real)``, shape (batch, 1).

    Input(30 x 30 x 29) -> log1p(E / 1 MeV) -> Conv3D(16, (2, 2, 2)) + LeakyReLU ->
    4 x {Conv3D(8, (3, 3, 3)) + LeakyReLU + Dropout(0.1)} -> AveragePooling3D + Flatten ->
    [concatenate the options] -> Dense(1, sigmoid).

    Args:
        condition_dim: Number of conditions (6; the momentum is column 0).
        grid: Shower voxels ``(n_z, n_y, n_layers)``, at least ``(10, 10, 10)``.
        minibatch_kernels: Kernels of the minibatch discrimination on the flattened
            features; 0 disables it. Default 10.
        minibatch_kernel_dim: Dimension of each minibatch-discrimination kernel (10).
        minibatch_reduction: ``"sum"`` (CaloGAN, default) or ``"mean"`` over the batch.
        energy_features: Concatenate :class:`ShowerFeatures3D` (E_total, E3x3, E5x5,
            sparsity, E_total / Mom, per-layer energy fractions). Default ``True``.
        conditional: Concatenate the normalised conditions. Default ``False`` (slide).
        dropout: Dropout rate after each ``Conv3D(8, ...)`` (0.1).
        energy_scale: Energy unit (GeV) of the log1p input compression.
        feature_energy_scale: Divisor (GeV) of the energy sums among the energy features.
        condition_scale: Divisors normalising the conditions (used with ``conditional``).
        name: Model name.

    Returns:
        A functional ``keras.Model``. With neither ``energy_features`` nor ``conditional``
        the conditions input is accepted and unused (the interface of ConditionalGAN).
    """
    if int(minibatch_kernels) < 0:
        raise ValueError(
            f"`minibatch_kernels` must be >= 0. Received: minibatch_kernels={minibatch_kernels}"
        )
    if int(condition_dim) < 1:
        raise ValueError(f"`condition_dim` must be >= 1. Received: condition_dim={condition_dim}")
    dropout = _check_dropout(dropout)
    grid = _check_grid(grid, DISCRIMINATOR_MIN_GRID)
    scale = _check_scale(condition_scale, int(condition_dim), "condition_scale")
    showers = keras.Input(grid, name="showers")
    conditions = keras.Input((int(condition_dim),), name="conditions")
    x = layers.Reshape((*grid, 1), name="add_channel")(showers)
    x = Log1pScaling(energy_scale, name="normalise_energy")(x)
    for i, (filters, kernel, padding) in enumerate(_DISCRIMINATOR_CONVS, start=1):
        x = layers.Conv3D(filters, kernel, padding=padding, name=f"conv_{i}")(x)
        x = layers.LeakyReLU(name=f"leaky_relu_{i}")(x)
        if i > 1:
            x = layers.Dropout(dropout, name=f"dropout_{i}")(x)
    x = layers.AveragePooling3D((2, 2, 2), name="average_pooling")(x)
    features = layers.Flatten(name="flatten")(x)
    parts = [features]
    if int(minibatch_kernels) > 0:
        parts.append(
            MinibatchDiscrimination(
                int(minibatch_kernels), int(minibatch_kernel_dim),
                reduction=minibatch_reduction, name="minibatch_discrimination",
            )(features)
        )
    if conditional:
        parts.append(layers.Rescaling(_inverse(scale), name="normalise_conditions")(conditions))
    if energy_features:
        parts.append(
            ShowerFeatures3D(
                windows=(3, 5), momentum_index=0, energy_scale=feature_energy_scale,
                name="energies",
            )(showers, conditions)
        )
    x = layers.Concatenate(name="concatenate")(parts) if len(parts) > 1 else features
    p_real = layers.Dense(1, activation="sigmoid", name="p_real")(x)
    return keras.Model([showers, conditions], p_real, name=name)


def build_cepc_regressor(
    *,
    grid: Sequence[int] = CEPC_GRID,
    dropout: float = 0.1,
    energy_scale: float = ENERGY_SCALE_GEV,
    calo_energy_scale: float = FEATURE_ENERGY_SCALE_GEV,
    position_scale: Sequence[float] = CEPC_CONDITION_SCALE[3:],
    output_scale: Sequence[float] = CEPC_REGRESSION_SCALE,
    name: str = "cepc_regressor",
) -> keras.Model:
    """The slides' regressor: ``[showers (GeV), (dZ_Pos, dY_Pos, Z)] -> (Mom, theta, phi)``.

    Input(grid) + (dZ_Pos, dY_Pos, Z) -> normalise -> Conv3D(16, (5, 6, 6)) + LeakyReLU ->
    3 x {Conv3D(8, (5, 6, 6)) + LeakyReLU + Dropout(0.1)} -> AveragePooling3D + Flatten ->
    Concatenate(normalised position, calo energy) + Dense(3) -> GeV, deg, deg.

    Args:
        grid: Shower voxels ``(n_z, n_y, n_layers)``, at least ``(14, 17, 17)``.
        dropout: Dropout rate after each ``Conv3D(8, ...)`` (0.1).
        energy_scale: Energy unit (GeV) of the log1p input compression.
        calo_energy_scale: Divisor (GeV) of the calorimeter energy fed to ``Dense(3)``.
        position_scale: Divisors of (dZ_Pos, dY_Pos, Z) (0.5, 0.5, 200).
        output_scale: Units of the Dense(3) outputs (100 GeV, 90 deg, 15 deg).
        name: Model name.

    Returns:
        A functional ``keras.Model``.
    """
    dropout = _check_dropout(dropout)
    grid = _check_grid(grid, REGRESSOR_MIN_GRID)
    pos_scale = _check_scale(position_scale, 3, "position_scale")
    out_scale = _check_scale(output_scale, 3, "output_scale")
    if not calo_energy_scale > 0:
        raise ValueError(
            f"`calo_energy_scale` must be > 0. Received: calo_energy_scale={calo_energy_scale}"
        )
    showers = keras.Input(grid, name="showers")
    position = keras.Input((3,), name="position")
    x = layers.Reshape((*grid, 1), name="add_channel")(showers)
    x = Log1pScaling(energy_scale, name="normalise_energy")(x)
    for i, (filters, kernel, padding) in enumerate(_REGRESSOR_CONVS, start=1):
        x = layers.Conv3D(filters, kernel, padding=padding, name=f"conv_{i}")(x)
        x = layers.LeakyReLU(name=f"leaky_relu_{i}")(x)
        if i > 1:
            x = layers.Dropout(dropout, name=f"dropout_{i}")(x)
    x = layers.AveragePooling3D((2, 2, 2), name="average_pooling")(x)
    x = layers.Flatten(name="flatten")(x)
    y2 = layers.Rescaling(_inverse(pos_scale), name="normalise_position")(position)
    energy = ShowerFeatures3D(
        windows=(), sparsity=False, longitudinal=False, momentum_index=None,
        energy_scale=calo_energy_scale, name="calo_energy",
    )(showers)
    x = layers.Concatenate(name="concatenate")([x, y2, energy])
    x = layers.Dense(3, name="dense_3")(x)
    y1 = layers.Rescaling(list(out_scale), name="denormalise")(x)
    return keras.Model([showers, position], y1, name=name)


def build_cepc_gan(
    regressor: keras.Model | None = None,
    *,
    grid: Sequence[int] = CEPC_GRID,
    noise_dim: int = 512,
    regression_weight: float = 1.0,
    generator_steps: int = 2,
    regression_scale: Sequence[float] = CEPC_REGRESSION_SCALE,
    seed: int | None = None,
    discriminator_kwargs: dict | None = None,
) -> ConditionalGAN:
    """The CEPC ECAL conditional GAN: slide networks in :class:`ConditionalGAN`.

    Conditions are the six :data:`~keras_fastsim.reference.calorimeter.CEPC_CONDITION_COLUMNS`
    in physical units; y1 = (Mom, theta, phi) is regressed by the frozen regressor from the
    generated shower and y2 = (dZ_Pos, dY_Pos, Z).

    Args:
        regressor: The pretrained regressor (:func:`build_cepc_regressor` on the same
            ``grid``), or ``None`` for a GAN without the regression term.
        grid: Shower voxels ``(n_z, n_y, n_layers)``.
        noise_dim: Generator noise size (512).
        regression_weight: Weight of the regression term.
        generator_steps: Generator updates per discriminator update (2).
        regression_scale: Divisors of the (Mom, theta, phi) residuals of the regression
            term (default: their normalisation, 100 GeV, 90 deg, 15 deg).
        seed: Seed of the training noise and shuffling.
        discriminator_kwargs: More arguments of :func:`build_cepc_discriminator`.

    Returns:
        A :class:`ConditionalGAN` (compile it with ``d_optimizer`` and ``g_optimizer``).
    """
    grid = _check_grid(grid)
    if regressor is not None:
        expected = (None, *grid)
        shape = tuple(regressor.inputs[0].shape)
        if shape != expected:
            raise ValueError(
                f"The regressor's showers must have shape {expected} (grid={grid}). "
                f"Received: regressor input shape={shape}"
            )
    kwargs = dict(discriminator_kwargs or {})
    if "grid" in kwargs and tuple(kwargs["grid"]) != grid:
        raise ValueError(
            f"`discriminator_kwargs['grid']` must equal grid={grid}. "
            f"Received: {tuple(kwargs['grid'])}"
        )
    kwargs["grid"] = grid
    return ConditionalGAN(
        build_cepc_generator(noise_dim, grid=grid),
        build_cepc_discriminator(**kwargs),
        regressor,
        noise_dim=noise_dim,
        regression_weight=regression_weight,
        generator_steps=generator_steps,
        condition_split=CEPC_CONDITION_SPLIT if regressor is not None else None,
        regression_scale=tuple(regression_scale) if regressor is not None else None,
        seed=seed,
        name="cepc_ecal_gan",
    )


# ------------------------------------------------------------------------------------------
# cost
# ------------------------------------------------------------------------------------------


def count_flops(model: keras.Model) -> int:
    """Analytic floating-point operations of one sample's forward pass (2 per multiply-add).

    Counts the multiply-adds of ``Dense`` and ``Conv1D/2D/3D`` layers (``2 * inputs *
    outputs`` per output position, ``+ 1`` per output for the bias) — the layers that
    dominate these networks; activations, pooling, upsampling and normalisation are
    ignored (< 1% here). Nested models are counted through.

    Args:
        model: A built functional model.

    Returns:
        FLOPs per sample.
    """
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            total += count_flops(layer)
        elif isinstance(layer, layers.Dense):
            n_in = int(layer.input.shape[-1])
            total += 2 * n_in * layer.units + (layer.units if layer.use_bias else 0)
        elif isinstance(layer, (layers.Conv1D, layers.Conv2D, layers.Conv3D)):
            out_shape = layer.output.shape[1:]
            positions = math.prod(int(d) for d in out_shape[:-1])
            n_in = int(layer.input.shape[-1]) // layer.groups
            per_output = 2 * math.prod(layer.kernel_size) * n_in + (1 if layer.use_bias else 0)
            total += positions * layer.filters * per_output
    return int(total)
