"""BESIII EMC GAN runs: regressor pretraining, GAN training, generation (run directories).

The run-directory layer over :mod:`keras_fastsim.training.gan` used by the CLI
(``train besiii-emc-regressor``, ``train besiii-emc``, ``generate``, ``export``) and by
``experiments/besiii_emc_gan.py``.

Run kinds (``run.json``, :func:`keras_fastsim.runs.update_manifest`):

- ``besiii-emc-regressor``: ``regressor.keras`` (``[showers, (dZ_Pos, dPhi_Pos, Z)] ->
  (Mom, dTheta_Mom, dPhi_Mom)``), ``resolution.csv``, ``resolution.png``, history;
- ``besiii-emc-gan``: everything :func:`~keras_fastsim.training.gan.train_conditional_gan`
  writes, plus ``selected_generator.keras`` (the generator of the epoch chosen by the KS
  distances, else of the last epoch), which ``generate`` and ``export`` use.

Generation noise
================
:func:`generate_showers` uses :func:`keras_fastsim.training.shower_runs.generate_seeded`:
chunk ``c`` of ``chunk_size`` showers gets ``tf.random.stateless_normal`` noise with the seed
``(seed, c)``. The exported SavedModel
(:func:`keras_fastsim.export.saved_model.export_besiii_emc_generator`) draws its noise with the
seed ``(seed, 0)``, so for up to ``chunk_size`` showers it reproduces :func:`generate_showers`
exactly (same conditions, same seed).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd

from keras_fastsim.runs import RunError, read_manifest, update_manifest
from keras_fastsim.training.shower_runs import (
    GENERATION_CHUNK,
    SELECTED_GENERATOR_FILE,
    condition_array,
    generate_seeded,
    load_generator,
    read_condition_table,
    save_selected_generator,
)

REGRESSOR_KIND = "besiii-emc-regressor"
GAN_KIND = "besiii-emc-gan"
RESOLUTION_PNG = "resolution.png"


def _register_layers() -> None:
    # Importing the model module registers the custom layers (Log1pScaling, ShowerFeatures,
    # ShowerMomentFeatures, ConditionProjection, MinibatchDiscrimination) and ConditionalGAN
    # for loading.
    import keras_fastsim.models.besiii_emc  # noqa: F401


def _condition_array(conditions) -> np.ndarray:
    from keras_fastsim.io.showers import BESIII_COLUMNS

    return condition_array(conditions, BESIII_COLUMNS)


# ------------------------------------------------------------------------------------------
# regressor
# ------------------------------------------------------------------------------------------


def train_besiii_regressor_run(
    hits,
    conditions,
    out_dir: str | os.PathLike,
    *,
    epochs: int = 50,
    batch_size: int = 512,
    learning_rate: float = 1e-3,
    validation_fraction: float = 0.1,
    patience: int | None = 10,
    strategy: str = "default",
    seed: int = 0,
    verbose: int | str = "auto",
) -> keras.Model:
    """Pretrains the slides' regressor into a ``besiii-emc-regressor`` run directory.

    Calls :func:`keras_fastsim.training.gan.pretrain_regressor` with the BESIII split
    (y1 = Mom, dTheta_Mom, dPhi_Mom regressed from the shower and y2 = dZ_Pos, dPhi_Pos, Z),
    then draws ``resolution.png`` on the validation showers and records the run.

    Returns:
        The trained regressor.
    """
    from keras_fastsim.models.besiii_emc import (
        BESIII_CONDITION_SPLIT,
        BESIII_REGRESSION_SCALE,
        build_besiii_regressor,
    )
    from keras_fastsim.plotting.showers import plot_regressor_resolution
    from keras_fastsim.training.gan import (
        REGRESSOR_FILE,
        RESOLUTION_CSV,
        pretrain_regressor,
        regress,
        split_train_validation,
    )

    hits = np.asarray(hits, np.float32)
    cond = _condition_array(conditions)
    out_dir = Path(out_dir)
    keras.utils.set_random_seed(int(seed))
    regressor = pretrain_regressor(
        build_besiii_regressor(), hits, cond, out_dir,
        condition_split=BESIII_CONDITION_SPLIT, target_scale=BESIII_REGRESSION_SCALE,
        epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
        validation_fraction=validation_fraction, patience=patience, strategy=strategy,
        seed=seed, verbose=verbose,
    )
    _, val = split_train_validation(len(hits), validation_fraction, seed)
    entries: dict[str, Any] = {"model": REGRESSOR_FILE, "n_showers": len(hits),
                               "epochs": int(epochs), "seed": int(seed)}
    if len(val):
        y1, y2 = (list(c) for c in BESIII_CONDITION_SPLIT)
        estimate = regress(regressor, hits[val], cond[val], y2)
        plot_regressor_resolution(cond[val][:, y1], estimate, out_dir / RESOLUTION_PNG)
        entries.update(resolution=RESOLUTION_CSV, resolution_plot=RESOLUTION_PNG)
    update_manifest(out_dir, REGRESSOR_KIND, **entries)
    return regressor


def load_regressor(run_dir: str | os.PathLike) -> keras.Model:
    """The regressor of a ``besiii-emc-regressor`` run (``trainable = False``)."""
    manifest = read_manifest(run_dir)
    if manifest["kind"] != REGRESSOR_KIND:
        raise RunError(
            f"{run_dir}: a {manifest['kind']!r} run, expected a {REGRESSOR_KIND!r} run "
            "(train one with 'keras-fastsim train besiii-emc-regressor')"
        )
    _register_layers()
    regressor = keras.saving.load_model(Path(run_dir) / manifest["model"], compile=False)
    regressor.trainable = False
    return regressor


# ------------------------------------------------------------------------------------------
# GAN
# ------------------------------------------------------------------------------------------


def train_besiii_gan_run(
    hits,
    conditions,
    out_dir: str | os.PathLike,
    *,
    regressor: str | os.PathLike | keras.Model | None,
    noise_dim: int = 512,
    generator_steps: int = 2,
    regression_weight: float = 1.0,
    matching_weight: float = 0.0,
    matching_loss: str = "energy",
    matching_momentum_scale: float = 0.3,
    matching_warmup_epochs: int = 0,
    minibatch_reduction: str = "mean",
    response_center: float = 0.0,
    response_scale: float = 1.0,
    response_powers: int = 1,
    response_clip: float | None = None,
    momentum_terms: int = 0,
    momentum_center: float = 1.5,
    momentum_scale: float = 0.3,
    moment_features: bool = False,
    condition_projection: int = 0,
    projection_warmup_epochs: int = 0,
    momentum_scaling: float | None = None,
    energy_ceiling: float | None = None,
    ceiling_sharpness: float = 20.0,
    ceiling_penalty_weight: float = 0.0,
    ceiling_warmup_epochs: int = 2,
    track_coordinates: bool = False,
    epochs: int = 50,
    batch_size: int = 512,
    d_learning_rate: float = 2e-5,
    g_learning_rate: float = 2e-4,
    beta_1: float = 0.5,
    validation_fraction: float = 0.1,
    ks_samples: int | None = 10_000,
    selection_criterion: str = "ks_score",
    strategy: str = "default",
    seed: int = 0,
    verbose: int | str = "auto",
):
    """Trains the BESIII EMC GAN into a ``besiii-emc-gan`` run directory.

    The argument defaults are the slides' and authors' setup (plain ``E_total / Mom`` feature,
    discriminator learning rate 2e-5). The packaged ``configs/besiii_emc.yaml``, which the CLI
    uses, sets the standardised response with its square and a discriminator learning rate of
    1e-4, measured better on held-out showers (docs/besiii_emc.md).

    Args:
        hits: Showers ``(n, 11, 11, 1)`` in GeV.
        conditions: DataFrame with the six BESIII columns (physical units) or ``(n, 6)``.
        out_dir: Run directory.
        regressor: A ``besiii-emc-regressor`` run directory, a regressor model, or
            ``None`` (no regression term).
        noise_dim, generator_steps, regression_weight, matching_weight, matching_loss,
            matching_momentum_scale: See :func:`keras_fastsim.models.besiii_emc.build_besiii_gan`.
        matching_warmup_epochs: Epochs trained with the two-sample term switched off (see
            :class:`keras_fastsim.training.gan.MatchingWarmup`); used only with
            ``matching_weight > 0``. Default ``0``.
        minibatch_reduction: ``"mean"`` or ``"sum"`` (discriminator's minibatch discrimination).
        response_center, response_scale, response_powers, response_clip, momentum_terms,
            momentum_center, momentum_scale: The discriminator's energy-vs-momentum
            features (see
            :func:`keras_fastsim.models.besiii_emc.build_besiii_discriminator`).
        moment_features: Whether the discriminator also sees the shower's centroid and
            width and their couplings to the conditions (same function). Default ``False``.
        condition_projection: Width of the conditions' embedding in the discriminator's
            projection term (same function; ``0``: none). Default ``0``.
        projection_warmup_epochs: Epochs trained with the projection term switched off (see
            :class:`keras_fastsim.training.gan.ProjectionWarmup`); used only with
            ``condition_projection > 0``. Default ``0``.
        momentum_scaling: Generator output in units of ``Mom / momentum_scaling``
            (``None``: the slides' generator; see
            :func:`keras_fastsim.models.besiii_emc.build_besiii_generator`).
        energy_ceiling, ceiling_sharpness, ceiling_penalty_weight: Smooth cap of the
            generated E_total / Mom
            (``None``: none, the slides' generator; see
            :func:`keras_fastsim.models.besiii_emc.build_besiii_generator`).
        ceiling_warmup_epochs: Epochs trained with the ceiling switched off (see
            :class:`keras_fastsim.training.gan.EnergyCeilingWarmup`); used only with
            ``energy_ceiling``.
        track_coordinates: Whether the generator sees each cell's distance from the track's
            entry point (same function). Default ``False``.
        epochs, batch_size, d_learning_rate, g_learning_rate, beta_1, validation_fraction,
            ks_samples, selection_criterion, strategy, seed, verbose: See
            :func:`keras_fastsim.training.gan.train_conditional_gan`.

    Returns:
        The trained :class:`~keras_fastsim.models.conditional_gan.ConditionalGAN`.
    """
    from keras_fastsim.models.besiii_emc import build_besiii_gan
    from keras_fastsim.training.gan import (
        BEST_MODEL_FILE,
        GENERATOR_FILE,
        MODEL_FILE,
        EnergyCeilingWarmup,
        MatchingWarmup,
        ProjectionWarmup,
        train_conditional_gan,
    )

    for name, value in (("matching_warmup_epochs", matching_warmup_epochs),
                        ("projection_warmup_epochs", projection_warmup_epochs)):
        if int(value) < 0:
            raise ValueError(f"`{name}` must be >= 0. Received: {name}={value}")
    hits = np.asarray(hits, np.float32)
    cond = _condition_array(conditions)
    out_dir = Path(out_dir)
    regressor_run = None
    if isinstance(regressor, (str, os.PathLike)):
        regressor_run = str(regressor)
        regressor = load_regressor(regressor)
    keras.utils.set_random_seed(int(seed))
    gan = build_besiii_gan(
        regressor, noise_dim=noise_dim, regression_weight=regression_weight,
        generator_steps=generator_steps, matching_weight=matching_weight,
        matching_loss=matching_loss, matching_momentum_scale=matching_momentum_scale, seed=seed,
        generator_kwargs={"momentum_scaling": momentum_scaling,
                          "energy_ceiling": energy_ceiling, "ceiling_sharpness": ceiling_sharpness,
                          "ceiling_penalty_weight": ceiling_penalty_weight,
                          "track_coordinates": bool(track_coordinates)},
        discriminator_kwargs={
            "minibatch_reduction": minibatch_reduction, "response_center": response_center,
            "response_scale": response_scale, "response_powers": response_powers,
            "response_clip": response_clip, "momentum_terms": momentum_terms,
            "momentum_center": momentum_center, "momentum_scale": momentum_scale,
            "moment_features": bool(moment_features),
            "condition_projection": int(condition_projection),
        },
    )
    schedules = []
    if energy_ceiling is not None:
        schedules.append(EnergyCeilingWarmup(ceiling_warmup_epochs))
    if matching_weight > 0 and int(matching_warmup_epochs) > 0:
        schedules.append(MatchingWarmup(matching_warmup_epochs))
    if int(condition_projection) > 0 and int(projection_warmup_epochs) > 0:
        schedules.append(ProjectionWarmup(projection_warmup_epochs))
    gan = train_conditional_gan(
        gan, hits, cond, out_dir, epochs=epochs, batch_size=batch_size,
        d_learning_rate=d_learning_rate, g_learning_rate=g_learning_rate, beta_1=beta_1,
        validation_fraction=validation_fraction, ks_samples=ks_samples,
        selection_criterion=selection_criterion, strategy=strategy, seed=seed, verbose=verbose,
        extra_callbacks=schedules or None,
        model_settings={
            "matching_weight": float(matching_weight), "matching_loss": matching_loss,
            "matching_momentum_scale": float(matching_momentum_scale),
            "matching_warmup_epochs": int(matching_warmup_epochs),
            "minibatch_reduction": minibatch_reduction,
            "response_center": float(response_center), "response_scale": float(response_scale),
            "response_powers": int(response_powers), "response_clip": response_clip,
            "momentum_terms": int(momentum_terms), "momentum_center": float(momentum_center),
            "momentum_scale": float(momentum_scale), "moment_features": bool(moment_features),
            "condition_projection": int(condition_projection),
            "projection_warmup_epochs": int(projection_warmup_epochs),
            "momentum_scaling": momentum_scaling,
            "energy_ceiling": energy_ceiling, "ceiling_sharpness": float(ceiling_sharpness),
            "ceiling_penalty_weight": float(ceiling_penalty_weight),
            "ceiling_warmup_epochs": int(ceiling_warmup_epochs),
            "track_coordinates": bool(track_coordinates),
        },
    )
    best_epoch = save_selected_generator(gan, out_dir, _register_layers)
    update_manifest(
        out_dir, GAN_KIND,
        generator=SELECTED_GENERATOR_FILE, model=MODEL_FILE, last_generator=GENERATOR_FILE,
        best_model=BEST_MODEL_FILE if best_epoch is not None else None,
        best_epoch=best_epoch, selection_criterion=selection_criterion, epochs=int(epochs),
        noise_dim=int(noise_dim), regressor_run=regressor_run,
        minibatch_reduction=minibatch_reduction,
        matching_weight=float(matching_weight), matching_warmup_epochs=(
            int(matching_warmup_epochs) if matching_weight > 0 else None),
        momentum_scaling=momentum_scaling, energy_ceiling=energy_ceiling, ceiling_warmup_epochs=(
            int(ceiling_warmup_epochs) if energy_ceiling is not None else None),
        n_showers=len(hits), seed=int(seed),
        conditions=["Mom", "dTheta_Mom", "dPhi_Mom", "dZ_Pos", "dPhi_Pos", "Z"],
    )
    return gan


def load_besiii_generator(source: str | os.PathLike | keras.Model) -> keras.Model:
    """The generator ``[noise, conditions] -> (n, 11, 11, 1)`` of a GAN run, file or model.

    ``source``: a ``besiii-emc-gan`` run directory (its selected generator), a generator or
    whole-GAN ``.keras`` file, or a model (see
    :func:`keras_fastsim.training.shower_runs.load_generator`).
    """
    return load_generator(source, GAN_KIND, _register_layers)


def generate_showers(
    generator: keras.Model | str | os.PathLike,
    conditions,
    seed: int = 0,
    *,
    chunk_size: int = GENERATION_CHUNK,
) -> np.ndarray:
    """One shower per row of ``conditions`` (GeV), reproducible from ``seed``.

    Args:
        generator: The generator model, or a ``besiii-emc-gan`` run directory.
        conditions: DataFrame with the six BESIII columns or an ``(n, 6)`` array, physical
            units (GeV/c, deg, deg, cm, cm, cm).
        seed: Noise seed (see the module docstring; matches the SavedModel for
            ``n <= chunk_size``).
        chunk_size: Showers per generator call / noise chunk.

    Returns:
        float32 ``(n, 11, 11, 1)``.
    """
    generator = load_besiii_generator(generator)
    return generate_seeded(generator, _condition_array(conditions), seed, chunk_size=chunk_size)


def read_besiii_conditions(path: str | os.PathLike) -> pd.DataFrame:
    """Conditions to generate showers for, in physical units.

    Reads the ``MC_info`` dataset of an HDF5 file (``Barrel_Hit`` is not needed; normalised
    or physical as for :func:`keras_fastsim.io.showers.read_besiii_emc`: the ``normalised``
    attribute, else normalised when ``max |Z| <= 1.5``), or a ``.parquet`` / ``.csv`` table
    with the six columns Mom, dTheta_Mom, dPhi_Mom, dZ_Pos, dPhi_Pos, Z (physical units).
    """
    from keras_fastsim.io.showers import BESIII_COLUMNS, BESIII_NORMALISATION

    return read_condition_table(
        path, BESIII_COLUMNS, normalisation=BESIII_NORMALISATION,
        normalised_if=lambda info: not len(info) or float(np.abs(info[:, 5]).max()) <= 1.5,
    )
