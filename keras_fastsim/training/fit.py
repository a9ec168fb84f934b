"""Fitting with checkpoints, resume, early stopping and a history plot."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import keras
import pandas as pd

HISTORY_CSV = "history.csv"
HISTORY_PNG = "history.png"
CHECKPOINT_DIR = "checkpoints"
BACKUP_DIR = "backup"
BACKUP_METADATA = "training_metadata.json"  # written by keras.callbacks.BackupAndRestore


def finished_epochs(out_dir: str | os.PathLike) -> int:
    """Epochs a training into ``out_dir`` has finished, by its ``BackupAndRestore`` backup.

    0 when there is no backup (no training yet, or a finished one whose backup was deleted).
    """
    path = Path(out_dir) / BACKUP_DIR / BACKUP_METADATA
    if not path.is_file():
        return 0
    return int(json.loads(path.read_text())["epoch"])


def fit_with_checkpoints(
    model: keras.Model,
    train: Any,
    validation: Any | None,
    out_dir: str | os.PathLike,
    *,
    epochs: int,
    patience: int | None = 10,
    monitor: str = "val_loss",
    extra_callbacks: list[keras.callbacks.Callback] | None = None,
    verbose: int | str = "auto",
    keep_backup: bool = False,
) -> pd.DataFrame:
    """Runs ``model.fit`` with the package's standard callbacks.

    - a ``.keras`` checkpoint after every epoch in ``out_dir/checkpoints``;
    - ``BackupAndRestore`` in ``out_dir/backup``: rerunning the same training after an
      interruption resumes from the last finished epoch (the backup is deleted when
      training completes, unless ``keep_backup``);
    - ``EarlyStopping`` on ``monitor`` with ``patience`` (``None`` disables it), restoring
      the best weights;
    - the per-epoch history appended to ``out_dir/history.csv`` and plotted to
      ``out_dir/history.png``.

    Args:
        model: A compiled model.
        train: Training batches: a ``tf.data.Dataset`` or a ``keras.utils.PyDataset``
            (any input ``model.fit`` takes without ``batch_size``).
        validation: Validation batches of the same kind, or ``None``.
        out_dir: Directory for checkpoints and history.
        epochs: Number of epochs.
        patience: Early-stopping patience in epochs, or ``None``.
        monitor: Quantity for early stopping.
        extra_callbacks: More callbacks (e.g. a learning-rate logger).
        verbose: Keras verbosity; ``"auto"`` shows a progress bar.
        keep_backup: Keep the backup when training completes, so that a rerun with a larger
            ``epochs`` continues the training for the extra epochs (optimizer state
            included) and a rerun with the same ``epochs`` trains no further.

    Returns:
        The history table (one row per epoch, including earlier resumed epochs).
    """
    if int(epochs) < 1:
        raise ValueError(f"`epochs` must be >= 1. Received: epochs={epochs}")
    if patience is not None and int(patience) < 1:
        raise ValueError(f"`patience` must be >= 1 or None. Received: patience={patience}")
    out_dir = Path(out_dir)
    (out_dir / CHECKPOINT_DIR).mkdir(parents=True, exist_ok=True)
    history_csv = out_dir / HISTORY_CSV
    resuming = (out_dir / BACKUP_DIR).exists()
    if not resuming:
        history_csv.unlink(missing_ok=True)
    done = finished_epochs(out_dir)
    if done > int(epochs):
        raise ValueError(
            f"{out_dir} holds a training that has finished {done} epochs, more than asked for; "
            f"give `epochs` >= {done} to continue it, or train into a new directory. "
            f"Received: epochs={epochs}"
        )
    callbacks: list[keras.callbacks.Callback] = [
        keras.callbacks.BackupAndRestore(str(out_dir / BACKUP_DIR),
                                         delete_checkpoint=not keep_backup),
        keras.callbacks.ModelCheckpoint(str(out_dir / CHECKPOINT_DIR / "epoch_{epoch:03d}.keras")),
        keras.callbacks.CSVLogger(str(history_csv), append=True),
    ]
    if patience is not None and validation is not None:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor=monitor, patience=int(patience), restore_best_weights=True
            )
        )
    callbacks.extend(extra_callbacks or [])
    model.fit(
        train, validation_data=validation, epochs=int(epochs), callbacks=callbacks, verbose=verbose
    )
    history = pd.read_csv(history_csv) if history_csv.exists() else pd.DataFrame()
    if not history.empty:
        from keras_fastsim.plotting.history import plot_history

        plot_history({k: history[k].tolist() for k in history.columns if k != "epoch"},
                     out_dir / HISTORY_PNG)
    return history
