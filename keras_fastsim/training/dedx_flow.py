"""Training the per-species dE/dx normalizing flows."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
import yaml

from keras_fastsim.io.atomic import atomic_path
from keras_fastsim.io.tables import validate_tracks
from keras_fastsim.models.dedx_flow import CONDITION_COLUMNS, ConditionalDedxFlow
from keras_fastsim.physics.species import get_species
from keras_fastsim.training.fit import fit_with_checkpoints
from keras_fastsim.training.strategy import get_strategy

MODEL_FILE = "model.keras"
CONFIG_FILE = "config.yaml"


def split_train_validation(
    table: pd.DataFrame, validation_fraction: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Splits a table at random into training and validation parts."""
    if not 0.0 <= validation_fraction < 1.0:
        raise ValueError(
            "`validation_fraction` must be in [0, 1). "
            f"Received: validation_fraction={validation_fraction}"
        )
    order = np.random.default_rng(seed).permutation(len(table))
    n_val = int(round(validation_fraction * len(table)))
    return table.iloc[order[n_val:]], table.iloc[order[:n_val]]


def track_dataset(
    table: pd.DataFrame, batch_size: int, *, shuffle: bool, seed: int
) -> tf.data.Dataset:
    """A ``tf.data`` pipeline of ``{"conditions", "dedx"}`` batches from a track table."""
    data = {
        "conditions": table[list(CONDITION_COLUMNS)].to_numpy(np.float32),
        "dedx": table["dedx"].to_numpy(np.float32),
    }
    ds = tf.data.Dataset.from_tensor_slices(data)
    if shuffle:
        ds = ds.shuffle(len(table), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size, drop_remainder=shuffle).prefetch(tf.data.AUTOTUNE)


def train_dedx_flow(
    table: pd.DataFrame,
    species: str,
    out_dir: str | os.PathLike,
    *,
    model_config: dict[str, Any] | None = None,
    epochs: int = 100,
    batch_size: int = 128,
    learning_rate: float = 1e-3,
    lr_halving_epochs: int = 10,
    validation_fraction: float = 0.1,
    patience: int | None = 10,
    strategy: str = "default",
    jit_compile: bool = True,
    steps_per_execution: int = 32,
    seed: int = 0,
    verbose: int | str = "auto",
) -> ConditionalDedxFlow:
    """Trains the flow of one species and saves it to ``out_dir/model.keras``.

    Paper settings by default: 100 epochs, batch 128, Adam, the learning rate halved
    every 10 epochs. The initial learning rate of the paper is not legible; 1e-3 is our
    choice. Rerunning an interrupted call with the same ``out_dir`` resumes it.

    Args:
        table: Track table (all species allowed; rows of ``species`` are used).
        species: The species to train, e.g. ``"K+"``.
        out_dir: Output directory of this species' model.
        model_config: Keyword arguments of :class:`ConditionalDedxFlow`.
        epochs: Maximum number of epochs.
        batch_size: Global batch size (split across replicas).
        learning_rate: Initial Adam learning rate.
        lr_halving_epochs: The learning rate is halved every this many epochs.
        validation_fraction: Fraction held out for validation NLL and early stopping.
        patience: Early-stopping patience on validation NLL (``None``: off).
        strategy: ``tf.distribute`` strategy name (see :func:`get_strategy`).
        jit_compile: Compile the train step with XLA.
        steps_per_execution: Train steps per compiled call (amortises dispatch).
        seed: Seed of the split, the shuffling and the weight initialisation.
        verbose: Keras verbosity.

    Returns:
        The trained model (best validation weights when early stopping is on).
    """
    get_species(species)
    for name, value in (("batch_size", batch_size), ("lr_halving_epochs", lr_halving_epochs),
                        ("steps_per_execution", steps_per_execution)):
        if int(value) < 1:
            raise ValueError(f"`{name}` must be >= 1. Received: {name}={value}")
    if not learning_rate > 0:
        raise ValueError(f"`learning_rate` must be > 0. Received: learning_rate={learning_rate}")
    table = validate_tracks(table, source="training table")
    table = table[table["species"] == species]
    if len(table) < 2 * batch_size:
        raise ValueError(
            f"Too few {species} tracks to train: {len(table)} (need >= 2 * batch_size). "
            f"Received: species={species!r}"
        )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    train, val = split_train_validation(table, validation_fraction, seed)
    train_ds = track_dataset(train, batch_size, shuffle=True, seed=seed)
    val_ds = track_dataset(val, 4096, shuffle=False, seed=seed) if len(val) else None
    steps_per_epoch = len(train) // batch_size

    keras.utils.set_random_seed(seed)
    dist = get_strategy(strategy)
    with dist.scope():
        model = ConditionalDedxFlow(**(model_config or {}))
        cond = train[list(CONDITION_COLUMNS)].to_numpy(np.float32)
        model.adapt(cond, train["dedx"].to_numpy(np.float32))
        model({"conditions": cond[:2], "dedx": train["dedx"].to_numpy(np.float32)[:2]})
        schedule = keras.optimizers.schedules.ExponentialDecay(
            learning_rate, decay_steps=int(lr_halving_epochs) * steps_per_epoch,
            decay_rate=0.5, staircase=True,
        )
        optimizer = keras.optimizers.Adam(schedule)
        optimizer.build(model.trainable_variables)
        # Several steps per execution under a multi-replica strategy fail in Keras 3.15
        # ("You must feed a value for placeholder tensor" in the step loop): one step
        # per execution there.
        if dist.num_replicas_in_sync > 1:
            steps_per_execution = 1
        model.compile(
            optimizer=optimizer, jit_compile=jit_compile,
            steps_per_execution=min(int(steps_per_execution), steps_per_epoch),
        )
    fit_with_checkpoints(
        model, train_ds, val_ds, out_dir, epochs=epochs, patience=patience, verbose=verbose
    )
    with atomic_path(out_dir / MODEL_FILE) as tmp:
        model.save(tmp)
    with atomic_path(out_dir / CONFIG_FILE) as tmp:
        tmp.write_text(
            yaml.safe_dump(
                {
                    "species": species,
                    "model": model.hyperparameters(),
                    "training": {
                        "epochs": epochs, "batch_size": batch_size,
                        "learning_rate": learning_rate, "lr_halving_epochs": lr_halving_epochs,
                        "validation_fraction": validation_fraction, "patience": patience,
                        "strategy": strategy, "jit_compile": jit_compile,
                        "steps_per_execution": steps_per_execution, "seed": seed,
                        "n_train": len(train), "n_validation": len(val),
                    },
                },
                sort_keys=False,
            )
        )
    return model


def train_dedx_flow_run(
    table: pd.DataFrame,
    run_dir: str | os.PathLike,
    species: list[str] | tuple[str, ...],
    *,
    skip_trained: bool = False,
    **kwargs: Any,
) -> Path:
    """Trains one flow per species into ``run_dir/<species>/`` and records each in the manifest.

    Species already finished in ``run_dir`` are trained again (overwritten) unless
    ``skip_trained``; an interrupted species resumes from its last epoch.

    Args:
        table: Track table holding the species to train.
        run_dir: The run directory.
        species: Species names to train.
        skip_trained: Keep species whose model is already recorded in the manifest.
        **kwargs: Arguments of :func:`train_dedx_flow`.

    Returns:
        ``run_dir``.
    """
    from keras_fastsim.runs import RUN_FILE, read_manifest, update_manifest

    if not species:
        raise ValueError(f"Give at least one species. Received: species={species!r}")
    run_dir = Path(run_dir)
    done = read_manifest(run_dir).get("species", {}) if (run_dir / RUN_FILE).exists() else {}
    for name in species:
        if skip_trained and name in done and (run_dir / done[name] / MODEL_FILE).exists():
            print(f"{name}: already trained in {run_dir}, kept")
            continue
        train_dedx_flow(table, name, run_dir / name, **kwargs)
        update_manifest(run_dir, "dedx-flow", species={name: name})
    return run_dir
