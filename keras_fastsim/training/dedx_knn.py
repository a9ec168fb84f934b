"""Training the BESIII dE/dx dense net with a two-sample loss, and its Bayesian search.

:func:`train_dedx_knn` trains one :class:`~keras_fastsim.models.dedx_knn.DedxDenseGenerator`
for all species and writes a ``dedx-knn`` run directory::

    run.json        {"kind": "dedx-knn", "model": "model.keras", ...}
    model.keras     the trained net (loads with keras.models.load_model)
    config.yaml     architecture, training settings and the validation distance
    history.csv/png per-epoch training / validation statistic
    checkpoints/    one .keras file per epoch
    tuning.json     (tune_dedx_knn only) search space, trial budget, trials, chosen architecture

Batch and block size: the SmoothKNN statistic builds dense ``N x N`` matrices of the pooled
sample of one block (``N = block_size`` tracks: half real, half generated), so a step costs
``O(N^2)`` time and memory per block and ``O(batch_size * block_size)`` per batch. Measured on
this 2-core CPU (``benchmarks/bench_two_sample_loss.py``, value + gradient): about 45 ms at
``N = 1024`` and 0.23 s at ``N = 2048`` — the cost per track grows linearly with ``N``. The
default ``block_size = batch_size = 512`` (256 real + 256 generated points per test) keeps a step
near 20-30 ms on CPU while giving the test enough points to resolve the dE/dx width; see
``docs/dedx_knn.md``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
import yaml

from keras_fastsim.io.atomic import atomic_path
from keras_fastsim.io.tables import validate_tracks
from keras_fastsim.models.dedx_knn import (
    CONDITION_COLUMNS,
    SPECIES_ORDER,
    DedxDenseGenerator,
    check_inputs,
)
from keras_fastsim.training.dedx_flow import split_train_validation
from keras_fastsim.training.fit import fit_with_checkpoints
from keras_fastsim.training.strategy import get_strategy

MODEL_FILE = "model.keras"
CONFIG_FILE = "config.yaml"
TUNING_FILE = "tuning.json"
KIND = "dedx-knn"

VALIDATION_COS_BINS: tuple[float, ...] = (-0.93, -0.465, 0.0, 0.465, 0.93)
"""cos(theta) bins of the validation distance (coarser than the evaluation's 16 bins so that a
validation split of ~10^4 tracks per species fills them)."""

_ARCH_KEYS = ("hidden_layers", "units", "activation", "noise_dim", "species_weight", "dedx_weight")


def knn_dataset(
    table: pd.DataFrame, batch_size: int, *, shuffle: bool, seed: int,
    repeat: bool = False,
) -> tf.data.Dataset:
    """``{"species", "conditions", "dedx"}`` batches (species as indices, full batches only)."""
    species, conditions, dedx = check_inputs(
        table["species"].to_numpy(), table[list(CONDITION_COLUMNS)].to_numpy(np.float32),
        table["dedx"].to_numpy(np.float32),
    )
    ds = tf.data.Dataset.from_tensor_slices(
        {"species": species, "conditions": conditions, "dedx": dedx}
    )
    if shuffle:
        ds = ds.shuffle(len(table), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    return ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def simulate_table(model: DedxDenseGenerator, tracks: pd.DataFrame, seed: int = 0,
                   batch_size: int = 65536) -> np.ndarray:
    """dE/dx simulated by ``model`` for a track table (in chunks of ``batch_size``)."""
    species, conditions, _ = check_inputs(
        tracks["species"].to_numpy(), tracks[list(CONDITION_COLUMNS)].to_numpy(np.float32)
    )
    out = np.empty(len(tracks), dtype=np.float64)
    for index, start in enumerate(range(0, len(tracks), batch_size)):
        sl = slice(start, start + batch_size)
        chunk_seed = int(np.random.SeedSequence([seed, index]).generate_state(1)[0] >> 1)
        out[sl] = np.asarray(model.sample(species[sl], conditions[sl], seed=chunk_seed))
    return out


def validation_distance(model: DedxDenseGenerator, table: pd.DataFrame, seed: int = 0,
                        min_count: int = 30) -> float:
    """Mean per-bin Wasserstein-1 of dE/dx between ``table`` and the model's simulation of it.

    Bins: species x the evaluation's 0.1 GeV/c momentum bins x :data:`VALIDATION_COS_BINS`,
    bins with fewer than ``min_count`` tracks skipped. This is the tuner's objective; the same
    quantity (with finer cos(theta) bins) is the headline number of ``evaluate dedx``.
    """
    from keras_fastsim.evaluation import metrics
    from keras_fastsim.evaluation.dedx_report import DEFAULT_P_BINS

    sim = table.copy()
    sim["dedx"] = simulate_table(model, table, seed=seed)
    binned = metrics.binned_distances(
        table, sim, p_bins=DEFAULT_P_BINS, cos_bins=VALIDATION_COS_BINS, min_count=min_count
    )
    value = metrics.summarize_distances(binned)["wasserstein_1"]["mean"]
    return float(value) if value is not None and np.isfinite(value) else float("inf")


def _check_training_args(batch_size, block_size, epochs, learning_rate, lr_halving_epochs,
                         steps_per_epoch) -> None:
    for name, value in (("batch_size", batch_size), ("epochs", epochs),
                        ("lr_halving_epochs", lr_halving_epochs)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"`{name}` must be an integer >= 1. Received: {name}={value!r}")
    if steps_per_epoch is not None and (not isinstance(steps_per_epoch, (int, np.integer))
                                        or steps_per_epoch < 1):
        raise ValueError(
            f"`steps_per_epoch` must be None or an integer >= 1. "
            f"Received: steps_per_epoch={steps_per_epoch!r}"
        )
    if block_size is not None and (batch_size % block_size):
        raise ValueError(
            "`batch_size` must be a multiple of `block_size`. "
            f"Received: batch_size={batch_size}, block_size={block_size}"
        )
    if not (isinstance(learning_rate, (int, float)) and learning_rate > 0):
        raise ValueError(f"`learning_rate` must be > 0. Received: learning_rate={learning_rate!r}")


def _fit_knn(
    train: pd.DataFrame,
    val: pd.DataFrame,
    out_dir: Path,
    *,
    architecture: dict[str, Any],
    loss: str,
    loss_config: dict[str, Any] | None,
    epochs: int,
    batch_size: int,
    block_size: int | None,
    learning_rate: float,
    lr_halving_epochs: int,
    steps_per_epoch: int | None,
    patience: int | None,
    strategy: str,
    seed: int,
    verbose: int | str,
) -> tuple[DedxDenseGenerator, pd.DataFrame]:
    from keras_fastsim.losses import get_two_sample_loss

    dist = get_strategy(strategy)
    replicas = dist.num_replicas_in_sync
    if block_size is not None and batch_size % (block_size * replicas):
        raise ValueError(
            f"`batch_size` must be a multiple of block_size x replicas = {block_size} x "
            f"{replicas}. Received: batch_size={batch_size}"
        )
    two_sample = get_two_sample_loss(loss, **(loss_config or {}))
    n_steps = steps_per_epoch or len(train) // batch_size
    if n_steps < 1:
        raise ValueError(
            f"Too few training tracks for one batch: {len(train)} < batch_size. "
            f"Received: batch_size={batch_size}"
        )
    train_ds = knn_dataset(train, batch_size, shuffle=True, seed=seed,
                           repeat=steps_per_epoch is not None)
    if steps_per_epoch is not None:  # every epoch: a fresh random subset of the tracks
        train_ds = train_ds.take(int(steps_per_epoch))
    val_batch = block_size * replicas if block_size is not None else batch_size
    val_ds = None
    if len(val) >= val_batch:
        val_ds = knn_dataset(val, val_batch, shuffle=False, seed=seed)

    keras.utils.set_random_seed(seed)
    with dist.scope():
        model = DedxDenseGenerator(**architecture)
        species, conditions, dedx = check_inputs(
            train["species"].to_numpy(), train[list(CONDITION_COLUMNS)].to_numpy(np.float32),
            train["dedx"].to_numpy(np.float32),
        )
        model.adapt(species, conditions, dedx)
        model.sample(species[:2], conditions[:2], seed=0)  # builds the weights
        schedule = keras.optimizers.schedules.ExponentialDecay(
            learning_rate, decay_steps=int(lr_halving_epochs) * n_steps, decay_rate=0.5,
            staircase=True,
        )
        optimizer = keras.optimizers.Adam(schedule)
        optimizer.build(model.trainable_variables)
        model.compile(optimizer=optimizer, two_sample_loss=two_sample, block_size=block_size,
                      noise_seed=seed, jit_compile=False)
    history = fit_with_checkpoints(model, train_ds, val_ds, out_dir, epochs=epochs,
                                   patience=patience, verbose=verbose)
    return model, history


def train_dedx_knn(
    table: pd.DataFrame,
    out_dir: str | os.PathLike,
    *,
    hidden_layers: int = 3,
    units: int = 64,
    activation: str = "relu",
    noise_dim: int = 1,
    species_weight: float = 3.0,
    dedx_weight: float = 1.0,
    loss: str = "smoothknn",
    loss_config: dict[str, Any] | None = None,
    epochs: int = 30,
    batch_size: int = 512,
    block_size: int | None = 512,
    learning_rate: float = 1e-3,
    lr_halving_epochs: int = 10,
    steps_per_epoch: int | None = None,
    validation_fraction: float = 0.1,
    patience: int | None = None,
    strategy: str = "default",
    seed: int = 0,
    verbose: int | str = "auto",
    tuning: dict[str, Any] | None = None,
) -> DedxDenseGenerator:
    """Trains the dE/dx dense net on a track table and writes a ``dedx-knn`` run.

    Args:
        table: Training track table (hadron species only; ``e+``/``e-`` rows are dropped).
        out_dir: The run directory.
        hidden_layers, units, activation, noise_dim, species_weight, dedx_weight: The
            architecture (:class:`DedxDenseGenerator`).
        loss: Two-sample loss: ``"smoothknn"`` (default), ``"mmd"`` or ``"energy"``.
        loss_config: Constructor arguments of the loss (e.g. ``{"k": 5}``).
        epochs: Epochs.
        batch_size: Global batch (tracks per step); a multiple of ``block_size`` x replicas.
        block_size: Tracks per evaluation of the statistic, half real, half generated (module
            docstring: cost ``O(block_size^2)``). ``None``: the whole per-replica batch.
        learning_rate: Initial Adam learning rate.
        lr_halving_epochs: The learning rate is halved every this many epochs.
        steps_per_epoch: Steps per epoch (default: one pass over the training split).
        validation_fraction: Fraction of ``table`` held out for the validation statistic
            (``val_loss``) and the validation distance written to ``config.yaml``.
        patience: Early-stopping patience on ``val_loss`` (``None``: off).
        strategy: ``tf.distribute`` strategy name (:func:`get_strategy`).
        seed: Seed of the split, shuffling, initialisation and training noise.
        verbose: Keras verbosity.
        tuning: Internal: the tuning summary recorded in ``config.yaml``.

    Returns:
        The trained model.

    Raises:
        ValueError: on invalid arguments or too few tracks.
    """
    _check_training_args(batch_size, block_size, epochs, learning_rate, lr_halving_epochs,
                         steps_per_epoch)
    architecture = dict(hidden_layers=hidden_layers, units=units, activation=activation,
                        noise_dim=noise_dim, species_weight=species_weight,
                        dedx_weight=dedx_weight)
    DedxDenseGenerator(**architecture)  # validates the architecture before any work
    train, val = _prepare(table, validation_fraction, seed, batch_size)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model, history = _fit_knn(
        train, val, out_dir, architecture=architecture, loss=loss, loss_config=loss_config,
        epochs=epochs, batch_size=batch_size, block_size=block_size,
        learning_rate=learning_rate, lr_halving_epochs=lr_halving_epochs,
        steps_per_epoch=steps_per_epoch, patience=patience, strategy=strategy, seed=seed,
        verbose=verbose,
    )
    val_w1 = validation_distance(model, val, seed=seed) if len(val) else None
    with atomic_path(out_dir / MODEL_FILE) as tmp:
        model.save(tmp)
    config = {
        "model": model.hyperparameters(),
        "loss": {"name": loss, **(loss_config or {})},
        "training": {
            "epochs": epochs, "batch_size": batch_size, "block_size": block_size,
            "learning_rate": learning_rate, "lr_halving_epochs": lr_halving_epochs,
            "steps_per_epoch": steps_per_epoch, "validation_fraction": validation_fraction,
            "patience": patience, "strategy": strategy, "seed": seed,
            "n_train": len(train), "n_validation": len(val),
        },
        "validation": {"mean_w1": val_w1, "cos_bins": list(VALIDATION_COS_BINS)},
        "species": list(SPECIES_ORDER),
    }
    if tuning:
        config["tuning"] = tuning
    with atomic_path(out_dir / CONFIG_FILE) as tmp:
        tmp.write_text(yaml.safe_dump(config, sort_keys=False))
    from keras_fastsim.runs import update_manifest

    update_manifest(out_dir, KIND, model=MODEL_FILE, species=list(SPECIES_ORDER))
    return model


def _prepare(table: pd.DataFrame, validation_fraction: float, seed: int, batch_size: int):
    table = validate_tracks(table, source="training table")
    table = table[table["species"].isin(SPECIES_ORDER)]
    if len(table) < 2 * batch_size:
        raise ValueError(
            f"Too few hadron tracks to train: {len(table)} (need >= 2 * batch_size). "
            f"Received: batch_size={batch_size}"
        )
    return split_train_validation(table, validation_fraction, seed)


def tune_dedx_knn(
    table: pd.DataFrame,
    out_dir: str | os.PathLike,
    *,
    trials: int = 10,
    hidden_layers_range: tuple[int, int] = (1, 6),
    units_choices: tuple[int, ...] = (16, 32, 64, 128, 256),
    learning_rate_choices: tuple[float, ...] = (3e-4, 1e-3, 3e-3),
    trial_epochs: int = 5,
    trial_steps_per_epoch: int | None = None,
    initial_points: int | None = None,
    seed: int = 0,
    verbose: int | str = 0,
    **train_kwargs: Any,
) -> DedxDenseGenerator:
    """Bayesian search of the architecture, then the final training of the best one.

    ``keras_tuner.BayesianOptimization`` (Gaussian-process surrogate) searches the number of
    hidden layers (integers in ``hidden_layers_range``), the units per layer
    (``units_choices``) and the learning rate (``learning_rate_choices``). Each trial trains
    for ``trial_epochs`` on the training split and is scored by the validation distance
    :func:`validation_distance` (mean per-bin Wasserstein-1 of dE/dx on the held-out
    validation split; lower is better). The best hyperparameters are then trained with
    ``train_kwargs`` (full ``epochs``) into ``out_dir``. ``out_dir/tuning.json`` records the
    search space, the trial budget, every trial and the chosen architecture; the tuner's own
    state is in ``out_dir/tuning/`` (an interrupted search resumes there).

    Args:
        table: Training track table.
        out_dir: The run directory.
        trials: Trial budget (``max_trials``).
        hidden_layers_range: Inclusive ``(min, max)`` number of hidden layers.
        units_choices: Candidate units per hidden layer.
        learning_rate_choices: Candidate learning rates.
        trial_epochs: Epochs of each trial.
        trial_steps_per_epoch: Steps per trial epoch (default: one pass).
        initial_points: Random trials before the Gaussian process (default ``min(3, trials)``).
        seed: Seed of the tuner, split and trainings.
        verbose: Verbosity of the trial trainings and of the final training.
        **train_kwargs: Other :func:`train_dedx_knn` arguments (``epochs``, ``batch_size``,
            ``block_size``, ``loss``, ``strategy``, ``activation``, ...).

    Returns:
        The final model trained with the chosen hyperparameters.

    Raises:
        ValueError: on an invalid search space or budget.
    """
    import keras_tuner as kt

    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise ValueError(f"`trials` must be an integer >= 1. Received: trials={trials!r}")
    lo, hi = (int(v) for v in hidden_layers_range)
    if not 1 <= lo <= hi:
        raise ValueError(
            "`hidden_layers_range` must be (min, max) with 1 <= min <= max. "
            f"Received: hidden_layers_range={hidden_layers_range!r}"
        )
    if not units_choices or any(int(u) < 1 for u in units_choices):
        raise ValueError(f"`units_choices` must be positive integers. Received: {units_choices!r}")
    if not learning_rate_choices or any(not lr > 0 for lr in learning_rate_choices):
        raise ValueError(
            f"`learning_rate_choices` must be positive. Received: {learning_rate_choices!r}"
        )
    tuned = {"hidden_layers", "units", "learning_rate", "tuning"}
    bad = (set(train_kwargs) - set(train_dedx_knn.__kwdefaults__)) | (tuned & set(train_kwargs))
    if bad:
        raise ValueError(
            f"Unknown or tuned argument(s) for the trainings. Received: {sorted(bad)}"
        )
    settings = {k: v for k, v in train_dedx_knn.__kwdefaults__.items() if k != "tuning"}
    settings.update(train_kwargs)
    batch_size = settings["batch_size"]
    train, val = _prepare(table, settings["validation_fraction"], seed, batch_size)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fixed_arch = {k: settings[k] for k in _ARCH_KEYS if k not in ("hidden_layers", "units")}

    hp = kt.HyperParameters()
    hp.Int("hidden_layers", lo, hi)
    hp.Choice("units", [int(u) for u in units_choices])
    hp.Choice("learning_rate", [float(v) for v in learning_rate_choices])

    trial_root = out_dir / "tuning" / "trials"

    class _Tuner(kt.BayesianOptimization):
        def run_trial(self, trial, *args, **kwargs):
            values = trial.hyperparameters.values
            trial_dir = trial_root / trial.trial_id
            shutil.rmtree(trial_dir, ignore_errors=True)
            keras.backend.clear_session()
            model, _ = _fit_knn(
                train, val, trial_dir,
                architecture=fixed_arch | {"hidden_layers": int(values["hidden_layers"]),
                                           "units": int(values["units"])},
                loss=settings["loss"], loss_config=settings["loss_config"],
                epochs=int(trial_epochs), batch_size=batch_size,
                block_size=settings["block_size"],
                learning_rate=float(values["learning_rate"]),
                lr_halving_epochs=settings["lr_halving_epochs"],
                steps_per_epoch=trial_steps_per_epoch, patience=None,
                strategy=settings["strategy"], seed=seed, verbose=verbose,
            )
            return {"val_w1": validation_distance(model, val, seed=seed)}

    tuner = _Tuner(
        hypermodel=None,
        objective=kt.Objective("val_w1", direction="min"),
        max_trials=trials,
        num_initial_points=initial_points if initial_points is not None else min(3, trials),
        hyperparameters=hp,
        seed=seed,
        directory=str(out_dir / "tuning"),
        project_name="bayesian",
        overwrite=False,
    )
    tuner.search()
    best = tuner.get_best_hyperparameters(1)[0].values
    trials_done = []
    for trial in tuner.oracle.trials.values():
        score = trial.score
        trials_done.append({
            "trial_id": trial.trial_id, "status": str(trial.status),
            "hyperparameters": dict(trial.hyperparameters.values),
            "val_w1": None if score is None else float(score),
        })
    trials_done.sort(key=lambda t: t["trial_id"])
    chosen = fixed_arch | {"hidden_layers": int(best["hidden_layers"]),
                           "units": int(best["units"])}
    summary = {
        "method": "keras_tuner.BayesianOptimization",
        "objective": {
            "name": "val_w1", "direction": "min",
            "description": "mean per-bin Wasserstein-1 of dE/dx on the validation split "
                           "(species x 0.1 GeV/c p bins x 4 cos(theta) bins, >= 30 tracks)",
        },
        "search_space": {
            "hidden_layers": {"type": "int", "min": lo, "max": hi},
            "units": {"type": "choice", "values": [int(u) for u in units_choices]},
            "learning_rate": {"type": "choice",
                              "values": [float(v) for v in learning_rate_choices]},
        },
        "trial_budget": trials,
        "initial_random_points": tuner.oracle.num_initial_points,
        "trial_epochs": trial_epochs,
        "trial_steps_per_epoch": trial_steps_per_epoch,
        "trials": trials_done,
        "best_hyperparameters": {k: (float(v) if k == "learning_rate" else int(v))
                                 for k, v in best.items()},
        "best_val_w1": min((t["val_w1"] for t in trials_done if t["val_w1"] is not None),
                           default=None),
        "chosen_architecture": chosen,
    }
    keras.backend.clear_session()
    final_kwargs = {k: v for k, v in settings.items() if k not in _ARCH_KEYS}
    final_kwargs |= {"learning_rate": float(best["learning_rate"]), "seed": seed,
                     "verbose": verbose}
    model = train_dedx_knn(
        table, out_dir, **chosen, **final_kwargs,
        tuning={"file": TUNING_FILE, "chosen_architecture": chosen,
                "learning_rate": float(best["learning_rate"])},
    )
    summary["final_validation_mean_w1"] = yaml.safe_load(
        (out_dir / CONFIG_FILE).read_text())["validation"]["mean_w1"]
    with atomic_path(out_dir / TUNING_FILE) as tmp:
        tmp.write_text(json.dumps(summary, indent=2))
    from keras_fastsim.runs import update_manifest

    update_manifest(out_dir, KIND, tuning=TUNING_FILE)
    return model


def load_dedx_knn(run_dir: str | os.PathLike) -> DedxDenseGenerator:
    """Loads the net of a ``dedx-knn`` run directory."""
    from keras_fastsim.runs import RunError, read_manifest

    manifest = read_manifest(run_dir)
    if manifest["kind"] != KIND:
        raise RunError(f"{run_dir}: a {manifest['kind']!r} run, not a {KIND!r} run")
    return keras.models.load_model(Path(run_dir) / manifest.get("model", MODEL_FILE))


class KnnRun:
    """The net of a ``dedx-knn`` run, as a dE/dx simulator (``simulate(tracks, seed)``).

    Args:
        run_dir: The run directory.
        batch_size: Tracks per call of the net (bounds memory).
    """

    def __init__(self, run_dir: str | os.PathLike, batch_size: int = 65536):
        self.run_dir = Path(run_dir)
        self.batch_size = int(batch_size)
        self.model = load_dedx_knn(run_dir)

    @property
    def species(self) -> list[str]:
        return list(SPECIES_ORDER)

    def simulate(self, tracks: pd.DataFrame, seed: int = 0) -> np.ndarray:
        """dE/dx for every track of ``tracks`` (any hadron species)."""
        tracks = validate_tracks(tracks, require_dedx=False, source="conditions")
        return simulate_table(self.model, tracks, seed=seed, batch_size=self.batch_size)
