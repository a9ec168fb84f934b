"""Training the calorimeter GANs: regressor pretraining, GAN training, KS epoch selection.

Experiment-independent: the BESIII EMC and CEPC ECAL GANs differ only in the networks handed
in (:mod:`keras_fastsim.models.besiii_emc`). Showers are arrays ``(n, ...)``; conditions are a
DataFrame or an ``(n, n_conditions)`` array in the units the networks take (physical units
for the BESIII networks).

Output directory of :func:`train_conditional_gan`::

    checkpoints/epoch_NNN.keras   the whole GAN after every epoch
    history.csv, history.png      d_loss, g_loss, reg_loss (and val_*) per epoch
    ks_scores.csv                 KS distances per epoch (E, E3x3, E5x5, phi and Z profiles),
                                  and the classifier or momentum-bin score when it selects
    best_epoch.yaml               the epoch with the smallest selection score, and its scores
    best_model.keras              copy of that epoch's checkpoint
    model.keras, generator.keras  the GAN and its generator after the last epoch
    config.yaml                   training settings

Rerunning an interrupted call with the same ``out_dir`` resumes from the last finished epoch
(``BackupAndRestore``, see :func:`keras_fastsim.training.fit.fit_with_checkpoints`). The backup
is kept when training completes, so a rerun with a larger ``epochs`` continues a finished run
for the extra epochs (weights, optimizer states, warm-up schedules and the epoch scores of the
earlier epochs carried on; the noise and the shuffling of the training showers continue from
streams seeded by ``seed`` and the epoch, not replaying those of the first epochs) and a rerun
with the same ``epochs`` only rewrites the outputs.
A rerun must keep every other setting of the run's ``config.yaml`` (a ``ValueError`` names
those that differ); a directory without ``backup/`` starts a new training.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd
import yaml

from keras_fastsim.io.atomic import atomic_path
from keras_fastsim.models.conditional_gan import ConditionalGAN
from keras_fastsim.training.fit import (
    BACKUP_DIR,
    CHECKPOINT_DIR,
    finished_epochs,
    fit_with_checkpoints,
)
from keras_fastsim.training.strategy import get_strategy

MODEL_FILE = "model.keras"
GENERATOR_FILE = "generator.keras"
BEST_MODEL_FILE = "best_model.keras"
REGRESSOR_FILE = "regressor.keras"
CONFIG_FILE = "config.yaml"
KS_CSV = "ks_scores.csv"
BEST_EPOCH_FILE = "best_epoch.yaml"
RESOLUTION_CSV = "resolution.csv"
KS_FEATURES: tuple[str, ...] = ("E_total", "E3x3", "E5x5", "profile_phi", "profile_z")
"""Features of the KS score, in order (``profile_phi``: rows, ``profile_z``: columns)."""

KS_FEATURES_3D: tuple[str, ...] = (*KS_FEATURES, "profile_layer")
"""Features of the KS score of 3D grids ``(n, H, W, L)``: plus the longitudinal profile."""

SELECTION_CRITERIA: tuple[str, ...] = ("ks_score", "classifier_auc", "momentum_bins")
"""Scores an epoch can be selected by (smallest wins), named like their ``ks_scores.csv``
columns: the sum of the KS distances, the AUC of :func:`epoch_classifier_auc`, or the
per-momentum-bin target score of :func:`epoch_momentum_bin_score`."""


# ------------------------------------------------------------------------------------------
# data
# ------------------------------------------------------------------------------------------


def _as_arrays(hits, conditions) -> tuple[np.ndarray, np.ndarray]:
    hits = np.asarray(hits, dtype=np.float32)
    cond = np.asarray(conditions.to_numpy() if isinstance(conditions, pd.DataFrame) else conditions,
                      dtype=np.float32)
    if hits.ndim < 3:
        raise ValueError(f"`hits` must be (n, ...) images. Received: hits.shape={hits.shape}")
    if cond.ndim != 2 or len(cond) != len(hits):
        raise ValueError(
            "`conditions` must be (n, n_conditions) with one row per shower. "
            f"Received: conditions.shape={cond.shape}, hits.shape={hits.shape}"
        )
    if not (np.isfinite(hits).all() and np.isfinite(cond).all()):
        raise ValueError("`hits` and `conditions` must be finite (found NaN or inf).")
    return hits, cond


def split_train_validation(
    n: int, validation_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Random train/validation indices of ``n`` examples."""
    if not 0.0 <= validation_fraction < 1.0:
        raise ValueError(
            "`validation_fraction` must be in [0, 1). "
            f"Received: validation_fraction={validation_fraction}"
        )
    order = np.random.default_rng(seed).permutation(n)
    n_val = round(validation_fraction * n)
    return order[n_val:], order[:n_val]


class ShowerBatches(keras.utils.PyDataset):
    """In-memory batches of arrays for backends without ``tf.data`` (e.g. JAX).

    Every epoch visits the rows in a new order drawn from ``seed`` and the epoch number
    (or in order, ``shuffle=False``).

    Args:
        arrays: Arrays (or a nested tuple of arrays) with the same number of rows.
        batch_size: Rows per batch.
        shuffle: Reshuffle the rows every epoch.
        seed: Seed of the shuffling.
        drop_remainder: Drop the last incomplete batch.
    """

    def __init__(self, arrays, *, batch_size: int, shuffle: bool, seed: int = 0,
                 drop_remainder: bool = True):
        super().__init__()
        self.arrays = arrays
        self.batch_size = int(batch_size)
        if self.batch_size < 1:
            raise ValueError(f"`batch_size` must be >= 1. Received: batch_size={batch_size}")
        self.n = len(keras.tree.flatten(arrays)[0])
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.drop_remainder = bool(drop_remainder)
        self._epoch = 0
        self._order = self._draw_order()

    def _draw_order(self) -> np.ndarray:
        if not self.shuffle:
            return np.arange(self.n)
        return np.random.default_rng([self.seed, self._epoch]).permutation(self.n)

    def __len__(self) -> int:
        full, rest = divmod(self.n, self.batch_size)
        return full if self.drop_remainder or not rest else full + 1

    def __getitem__(self, index: int):
        rows = np.sort(self._order[index * self.batch_size:(index + 1) * self.batch_size])
        return keras.tree.map_structure(lambda a: a[rows], self.arrays)

    def on_epoch_end(self) -> None:
        self._epoch += 1
        self._order = self._draw_order()


def shower_dataset(
    inputs, targets=None, *, batch_size: int, shuffle: bool, seed: int = 0,
    drop_remainder: bool = True,
):
    """Batches of ``(inputs, targets)`` (or ``inputs``) for ``model.fit``.

    A ``tf.data`` pipeline under the TensorFlow backend (``tf.distribute`` splits it over
    replicas), a :class:`ShowerBatches` under any other.
    """
    data = inputs if targets is None else (inputs, targets)
    if keras.backend.backend() != "tensorflow":
        return ShowerBatches(data, batch_size=batch_size, shuffle=shuffle, seed=seed,
                             drop_remainder=drop_remainder)
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices(data)
    if shuffle:
        n = len(targets if targets is not None else inputs[0])
        ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)
    return ds.batch(int(batch_size), drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)


def _in_scope(model: keras.Model, strategy: str, dist) -> keras.Model:
    """The model itself (default strategy) or a copy whose variables live in ``dist``."""
    if strategy == "default":
        return model
    with dist.scope():
        copy = model.__class__.from_config(model.get_config())
        copy.set_weights(model.get_weights())
    return copy


def _check_enough(n_train: int, batch_size: int) -> None:
    if n_train < int(batch_size):
        raise ValueError(
            f"Too few showers to train: {n_train} training showers < batch_size. "
            f"Received: batch_size={batch_size}"
        )


def _check_positive(**values) -> None:
    for name, value in values.items():
        if not value > 0:
            raise ValueError(f"`{name}` must be > 0. Received: {name}={value}")


# ------------------------------------------------------------------------------------------
# regressor
# ------------------------------------------------------------------------------------------


def pretrain_regressor(
    regressor: keras.Model,
    hits,
    conditions,
    out_dir: str | os.PathLike,
    *,
    condition_split: Sequence[Sequence[int]] = ((0, 1, 2), (3, 4, 5)),
    target_scale: Sequence[float] | None = (1.0, 5.0, 10.0),
    epochs: int = 50,
    batch_size: int = 512,
    learning_rate: float = 1e-3,
    validation_fraction: float = 0.1,
    patience: int | None = 10,
    strategy: str = "default",
    seed: int = 0,
    verbose: int | str = "auto",
    train_data=None,
) -> keras.Model:
    """Trains the auxiliary regressor ``[showers, y2] -> y1`` and saves it.

    The loss is the mean absolute error of ``y1 / target_scale`` (the authors' normalised
    units for BESIII: Mom, dTheta/5, dPhi/10), Adam. Writes ``regressor.keras`` (the
    regressor, outputs in the units of the conditions), ``resolution.csv`` (per ``y1``
    column on the validation sample: mean and standard deviation of estimate - true, and
    the mean absolute error), checkpoints and the loss history.

    Args:
        regressor: Model ``[showers, conditions[:, y2]] -> conditions[:, y1]``.
        hits: Showers ``(n, ...)``.
        conditions: DataFrame or ``(n, n_conditions)`` array.
        out_dir: Output directory.
        condition_split: ``(y1_columns, y2_columns)``.
        target_scale: Per-``y1`` divisors of the loss residuals (``None``: ones).
        epochs: Maximum number of epochs.
        batch_size: Global batch size.
        learning_rate: Adam learning rate.
        validation_fraction: Held-out fraction (validation loss, early stopping, resolution).
        patience: Early-stopping patience on the validation loss (``None``: off).
        strategy: ``tf.distribute`` strategy name (:func:`get_strategy`).
        seed: Seed of the split, shuffling and weight initialisation of copies.
        verbose: Keras verbosity.
        train_data: Optional training batches ``((showers, y2), y1 / target_scale)`` that
            ``model.fit`` takes (e.g. a ``keras.utils.PyDataset`` streaming a file,
            :class:`keras_fastsim.io.shower_stream.HDF5ShowerDataset`). With it, ``hits``
            and ``conditions`` are the validation showers only and ``validation_fraction``
            is not used.

    Returns:
        The trained regressor (a copy living in the strategy's scope when ``strategy`` is
        not ``"default"``).
    """
    if int(batch_size) < 1:
        raise ValueError(f"`batch_size` must be >= 1. Received: batch_size={batch_size}")
    _check_positive(learning_rate=learning_rate)
    hits, cond = _as_arrays(hits, conditions)
    y1_cols, y2_cols = ([int(i) for i in cols] for cols in condition_split)
    scale = np.ones(len(y1_cols), np.float32) if target_scale is None else \
        np.asarray(target_scale, np.float32)
    if scale.shape != (len(y1_cols),) or np.any(scale <= 0):
        raise ValueError(
            f"`target_scale` must hold one positive number per y1 column. "
            f"Received: target_scale={target_scale}"
        )
    if train_data is None:
        train, val = split_train_validation(len(hits), validation_fraction, seed)
        _check_enough(len(train), batch_size)
    else:
        train, val = None, np.arange(len(hits))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    def data(idx):
        return (hits[idx], cond[idx][:, y2_cols]), cond[idx][:, y1_cols] / scale

    keras.utils.set_random_seed(seed)
    dist = get_strategy(strategy)
    with dist.scope():
        regressor = _in_scope(regressor, strategy, dist)
        regressor.trainable = True
        scaled = keras.layers.Rescaling((1.0 / scale).tolist(), name="normalise_targets")(
            regressor.output
        )
        wrapper = keras.Model(regressor.inputs, scaled, name=f"{regressor.name}_normalised")
        optimizer = keras.optimizers.Adam(learning_rate)
        optimizer.build(wrapper.trainable_variables)
        wrapper.compile(optimizer=optimizer, loss="mae")
    train_ds = (train_data if train_data is not None else
                shower_dataset(*data(train), batch_size=batch_size, shuffle=True, seed=seed))
    val_ds = (shower_dataset(*data(val), batch_size=batch_size, shuffle=False,
                             drop_remainder=False) if len(val) else None)
    fit_with_checkpoints(wrapper, train_ds, val_ds, out_dir, epochs=epochs, patience=patience,
                         monitor="val_loss", verbose=verbose)
    with atomic_path(out_dir / REGRESSOR_FILE) as tmp:
        regressor.save(tmp)
    if len(val):
        residual = regress(regressor, hits[val], cond[val], y2_cols) - cond[val][:, y1_cols]
        resolution = pd.DataFrame(
            {
                "column": y1_cols,
                "bias": residual.mean(axis=0),
                "std": residual.std(axis=0),
                "mae": np.abs(residual).mean(axis=0),
            }
        )
        with atomic_path(out_dir / RESOLUTION_CSV) as tmp:
            resolution.to_csv(tmp, index=False)
    return regressor


def regress(regressor: keras.Model, hits, conditions, y2_columns: Sequence[int], *,
            batch_size: int = 4096) -> np.ndarray:
    """The regressor's estimates ``regressor([showers, conditions[:, y2]])`` in batches.

    Args:
        regressor: Model ``[showers, conditions[:, y2]] -> y1``.
        hits: Showers ``(n, ...)``.
        conditions: ``(n, n_conditions)`` array.
        y2_columns: The condition columns the regressor takes.
        batch_size: Showers per call (bounds the memory).

    Returns:
        float32 ``(n, len(y1))``.
    """
    if int(batch_size) < 1:
        raise ValueError(f"`batch_size` must be >= 1. Received: batch_size={batch_size}")
    hits = np.asarray(hits, np.float32)
    cond = np.asarray(conditions, np.float32)
    y2 = [int(c) for c in y2_columns]
    # Direct calls, not ``predict``: under MirroredStrategy ``predict`` of Keras 3.15
    # returned extra rows for a batch that does not split evenly over the replicas.
    out = [keras.ops.convert_to_numpy(regressor([hits[i:i + batch_size],
                                                 cond[i:i + batch_size][:, y2]], training=False))
           for i in range(0, len(hits), int(batch_size))]
    if not out:
        return np.zeros((0, int(regressor.output_shape[-1])), np.float32)
    return np.concatenate(out).astype(np.float32, copy=False)


# ------------------------------------------------------------------------------------------
# KS epoch selection
# ------------------------------------------------------------------------------------------


def _images(hits: np.ndarray) -> np.ndarray:
    """``(n, H, W)`` images from ``(n, H, W)`` or ``(n, H, W, C)`` (channels summed)."""
    hits = np.asarray(hits, dtype=np.float64)
    if hits.ndim == 4:
        hits = hits.sum(axis=-1)
    if hits.ndim != 3:
        raise ValueError(f"Expected (n, H, W[, C]) showers. Received: shape={hits.shape}")
    return hits


def _centred_sum(images: np.ndarray, window: int) -> np.ndarray:
    h, w = images.shape[1:]
    ch, cw = h // 2, w // 2
    hh, hw = min(window // 2, ch), min(window // 2, cw)
    return images[:, ch - hh:ch + hh + 1, cw - hw:cw + hw + 1].sum(axis=(1, 2))


def _profile_ks(reference: np.ndarray, generated: np.ndarray) -> float:
    """KS distance of two energy-weighted position distributions (summed profiles)."""
    a, b = reference.sum(axis=0), generated.sum(axis=0)
    if a.sum() <= 0 or b.sum() <= 0:
        return 1.0 if (a.sum() > 0) != (b.sum() > 0) else 0.0
    return float(np.abs(np.cumsum(a) / a.sum() - np.cumsum(b) / b.sum()).max())


def shower_ks_distances(reference, generated, energies=None) -> dict[str, float]:
    """KS distances between reference and generated showers, per :data:`KS_FEATURES`.

    ``E_total``, ``E3x3`` and ``E5x5`` (centred on the centre cell): the two-sample KS
    statistic of the per-shower values (``scipy.stats.ks_2samp``). ``profile_phi`` /
    ``profile_z``: the KS distance (largest difference of the cumulative distributions) of
    the energy deposited vs row (phi) / column (Z) summed over all showers, i.e. of the
    energy-weighted position distributions. For 3D grids ``(n, H, W, L)`` with ``L > 1``
    (the CEPC ECAL's layers) the planar features use the layer sums and ``profile_layer``
    compares the longitudinal profiles likewise.

    With ``energies`` (the true energy or momentum of each shower, when reference and
    generated showers share their conditions row by row) ``response`` adds the KS distance of
    ``E_total / energy``: the marginal energy distributions are dominated by the spread of
    the true energies, the response shows the resolution at fixed energy.

    Args:
        reference: ``(n, H, W[, C])`` showers or ``(n, H, W, L)`` grids.
        generated: ``(m, H, W[, C])`` showers or grids of the same shape.
        energies: Optional ``(n,)`` positive true energies, shared by both samples
            (``m == n``).

    Returns:
        ``{feature: distance}`` for every feature of :data:`KS_FEATURES` (images) or
        :data:`KS_FEATURES_3D` (grids), plus ``response`` with ``energies``.
    """
    from scipy.stats import ks_2samp

    raw_ref, raw_gen = np.asarray(reference), np.asarray(generated)
    ref, gen = _images(raw_ref), _images(raw_gen)
    if ref.shape[1:] != gen.shape[1:] or not len(ref) or not len(gen):
        raise ValueError(
            "Need non-empty reference and generated showers of the same image shape. "
            f"Received: {ref.shape} and {gen.shape}"
        )
    out = {}
    for name, f in (("E_total", lambda x: x.sum(axis=(1, 2))),
                    ("E3x3", lambda x: _centred_sum(x, 3)),
                    ("E5x5", lambda x: _centred_sum(x, 5))):
        out[name] = float(ks_2samp(f(ref), f(gen)).statistic)
    if energies is not None:
        energies = np.asarray(energies, dtype=np.float64)
        if energies.shape != (len(ref),) or len(gen) != len(ref) or not np.all(energies > 0):
            raise ValueError(
                "`energies` must hold one positive value per shower of both samples. "
                f"Received: energies.shape={energies.shape}, {len(ref)} and {len(gen)} showers"
            )
        out["response"] = float(ks_2samp(ref.sum(axis=(1, 2)) / energies,
                                         gen.sum(axis=(1, 2)) / energies).statistic)
    out["profile_phi"] = _profile_ks(ref.sum(axis=2), gen.sum(axis=2))
    out["profile_z"] = _profile_ks(ref.sum(axis=1), gen.sum(axis=1))
    if raw_ref.ndim == 4 and raw_ref.shape[-1] > 1:
        out["profile_layer"] = _profile_ks(
            raw_ref.sum(axis=(1, 2), dtype=np.float64), raw_gen.sum(axis=(1, 2), dtype=np.float64)
        )
    return out


def _paired_features(reference, generated, score: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``shower_features`` of both samples, which must pair up row by row."""
    from keras_fastsim.evaluation.showers import shower_features

    reference, generated = np.asarray(reference), np.asarray(generated)
    if reference.shape != generated.shape:
        raise ValueError(
            f"The {score} score needs reference and generated showers of the same shape "
            f"(one generated shower per reference condition). Received: {reference.shape} "
            f"and {generated.shape}"
        )
    return shower_features(reference), shower_features(generated)


def epoch_classifier_auc(reference, generated, conditions=None, *, seed: int = 0) -> float:
    """AUC of a classifier telling generated from reference showers on high-level features.

    The features are those of :func:`keras_fastsim.evaluation.showers.shower_features`
    (energies in windows, hottest cell, hit count, centroids, widths, second moment), with
    the conditions beside them when given; :func:`keras_fastsim.evaluation.metrics.classifier_auc`
    trains the classifier, keeping row ``i`` of both samples (the same conditions) on one
    side of its split. This is the evaluation's high-level classifier AUC, on validation
    showers: an epoch score that sees the joint distribution of the features, where the KS
    distances see marginals only.

    Args:
        reference: ``(n, H, W[, C])`` showers or ``(n, H, W, L)`` grids.
        generated: Showers of the same shape generated for the same conditions, row by row.
        conditions: Optional ``(n, n_conditions)`` conditions shared by both samples.
        seed: Seed of the classifier's split and training.

    Returns:
        The ROC AUC (0.5: indistinguishable).
    """
    from keras_fastsim.evaluation.metrics import classifier_auc

    ref_f, gen_f = _paired_features(reference, generated, "classifier")
    if conditions is not None:
        conditions = np.asarray(conditions, dtype=np.float64).reshape(len(reference), -1)
        cond = pd.DataFrame(conditions, columns=[f"cond_{i}" for i in range(conditions.shape[1])])
        ref_f, gen_f = pd.concat([cond, ref_f], axis=1), pd.concat([cond, gen_f], axis=1)
    return float(classifier_auc(ref_f, gen_f, seed=seed, paired=True))


def epoch_momentum_bin_score(reference, generated, momentum, *, feature: str = "E5x5") -> float:
    """How far the per-momentum-bin mean and width of a feature are from the targets.

    The feature (default ``E5x5``, of
    :func:`keras_fastsim.evaluation.showers.shower_features`) is compared per momentum bin
    (:func:`keras_fastsim.evaluation.showers.momentum_bin_table`, five equal bins over the
    momentum range); the score is the largest of ``|mean_rel| / 0.01`` and
    ``|width_rel| / 0.10`` over the bins (the issue's targets,
    :data:`keras_fastsim.evaluation.showers.TARGETS`): at most 1 when every bin is within
    both. With 10,000 validation showers the per-bin width has a statistical error of ~3 %,
    so the score is noisy at the 0.3 level.

    Args:
        reference: ``(n, H, W[, C])`` showers or ``(n, H, W, L)`` grids.
        generated: Showers of the same shape generated for the same momenta, row by row.
        momentum: ``(n,)`` momenta of both samples.
        feature: Feature of ``shower_features`` compared per bin.

    Returns:
        The score (0: the reference's means and widths in every bin).
    """
    from keras_fastsim.evaluation.showers import (
        TARGETS,
        default_momentum_edges,
        momentum_bin_table,
    )

    ref_f, gen_f = _paired_features(reference, generated, "momentum-bin")
    momentum = np.asarray(momentum, np.float64)
    if momentum.shape != (len(ref_f),):
        raise ValueError(f"`momentum` must hold one value per shower ({len(ref_f)}). "
                         f"Received: momentum.shape={momentum.shape}")
    if feature not in ref_f.columns:
        raise ValueError(f"Unknown `feature`; the features are {list(ref_f.columns)}. "
                         f"Received: feature={feature!r}")
    table = momentum_bin_table(ref_f[feature], momentum, gen_f[feature], momentum,
                               default_momentum_edges(momentum))
    table = table.dropna(subset=["mean_rel", "width_rel"])
    if table.empty:
        raise ValueError("No momentum bin has enough showers for the momentum-bin score. "
                         f"Received: {len(momentum)} showers")
    return float(max((table["mean_rel"].abs() / TARGETS["mean_rel"]).max(),
                     (table["width_rel"].abs() / TARGETS["width_rel"]).max()))


def _check_criterion(criterion: str, energy_column: int | None,
                     name: str = "criterion") -> str:
    if criterion not in SELECTION_CRITERIA:
        raise ValueError(f"`{name}` must be one of {SELECTION_CRITERIA}. "
                         f"Received: {name}={criterion!r}")
    if criterion == "momentum_bins" and energy_column is None:
        raise ValueError(f"`{name}='momentum_bins'` needs the momentum column of the "
                         "conditions (the energy column). Received: energy_column=None")
    return criterion


def _score_row(epoch: int, reference, generated, energies=None, conditions=None,
               criterion: str = "ks_score", seed: int = 0) -> dict[str, float]:
    distances = shower_ks_distances(reference, generated, energies)
    row = {"epoch": int(epoch), **distances, "ks_score": float(sum(distances.values()))}
    if criterion == "classifier_auc":
        row["classifier_auc"] = epoch_classifier_auc(reference, generated, conditions, seed=seed)
    elif criterion == "momentum_bins":
        row["momentum_bins"] = epoch_momentum_bin_score(reference, generated, energies)
    return row


def _write_best(table: pd.DataFrame, out_dir: Path, criterion: str = "ks_score") -> dict[str, Any]:
    best = table.loc[table[criterion].idxmin()]
    record = {"epoch": int(best["epoch"]), "criterion": criterion,
              **{k: float(best[k]) for k in (*KS_FEATURES_3D, "response", *SELECTION_CRITERIA)
                 if k in best.index}}
    with atomic_path(out_dir / BEST_EPOCH_FILE) as tmp:
        tmp.write_text(yaml.safe_dump(record, sort_keys=False))
    return record


def _subsample(*arrays: np.ndarray, n_max: int | None, seed: int) -> tuple[np.ndarray, ...]:
    """The same random ``n_max`` rows (in their order) of each array; all rows if fewer."""
    n = len(arrays[0])
    if n_max is not None and n > int(n_max):
        idx = np.sort(np.random.default_rng(seed).choice(n, int(n_max), replace=False))
        return tuple(a[idx] for a in arrays)
    return arrays


def select_epoch_by_ks(
    checkpoints: str | os.PathLike | Sequence[str | os.PathLike],
    hits,
    conditions,
    *,
    seed: int = 0,
    n_max: int | None = 10_000,
    out_dir: str | os.PathLike | None = None,
    energy_column: int | None = 0,
    criterion: str = "ks_score",
) -> tuple[int, pd.DataFrame]:
    """Scores GAN checkpoints against validation showers and picks the best.

    Every checkpoint (a saved :class:`ConditionalGAN`) generates one shower per validation
    condition with the same ``seed``; its score is the sum of the KS distances of
    :func:`shower_ks_distances` (E_total, E3x3, E5x5, phi and Z profiles), or with
    ``criterion="classifier_auc"`` the AUC of :func:`epoch_classifier_auc`, with
    ``"momentum_bins"`` :func:`epoch_momentum_bin_score`. The best epoch has the smallest
    score.

    Args:
        checkpoints: A directory of ``epoch_NNN.keras`` files or a list of ``.keras``
            files (the epoch is read from ``epoch_NNN`` in the name, else the list position,
            1-based).
        hits: Validation showers ``(n, H, W[, C])``.
        conditions: Their conditions (DataFrame or array).
        seed: Generation seed.
        n_max: Use at most this many validation showers (random subset).
        out_dir: If given, write ``ks_scores.csv`` and ``best_epoch.yaml`` there.
        energy_column: Column of the conditions holding the true energy/momentum (adds
            the ``response`` distance, see :func:`shower_ks_distances`); ``None``: none.
        criterion: One of :data:`SELECTION_CRITERIA`. Default ``"ks_score"``.

    Returns:
        ``(best_epoch, table)``; the table has one row per checkpoint: ``epoch``,
        ``path``, the KS distances, ``ks_score`` and (with those criteria)
        ``classifier_auc`` or ``momentum_bins``.
    """
    _check_criterion(criterion, energy_column)
    if isinstance(checkpoints, (str, os.PathLike)):
        paths = sorted(Path(checkpoints).glob("epoch_*.keras"))
    else:
        paths = [Path(p) for p in checkpoints]
    if not paths:
        raise ValueError(f"No checkpoints to score. Received: checkpoints={checkpoints!r}")
    hits, cond = _subsample(*_as_arrays(hits, conditions), n_max=n_max, seed=seed)
    rows = []
    for i, path in enumerate(paths, start=1):
        match = re.search(r"epoch_(\d+)", path.name)
        epoch = int(match.group(1)) if match else i
        gan = keras.saving.load_model(path, compile=False)
        row = _score_row(epoch, hits, gan.generate(cond, seed=seed),
                         _energies(cond, energy_column), cond, criterion, seed)
        rows.append({"epoch": epoch, "path": str(path), **{k: v for k, v in row.items()
                                                            if k != "epoch"}})
        del gan
    table = pd.DataFrame(rows).sort_values("epoch").reset_index(drop=True)
    best = int(table.loc[table[criterion].idxmin(), "epoch"])
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        with atomic_path(out_dir / KS_CSV) as tmp:
            table.to_csv(tmp, index=False)
        _write_best(table, out_dir, criterion)
    return best, table


def _energies(conditions: np.ndarray, column: int | None) -> np.ndarray | None:
    if column is None:
        return None
    if not 0 <= int(column) < conditions.shape[1]:
        raise ValueError(
            f"`energy_column` must index the {conditions.shape[1]} condition columns. "
            f"Received: energy_column={column}"
        )
    return conditions[:, int(column)]


class KSEpochSelection(keras.callbacks.Callback):
    """Scores the GAN after every epoch against validation showers; records the best epoch.

    At the end of each epoch the model's ``generate`` makes one shower per validation
    condition (same ``seed`` every epoch) and :func:`shower_ks_distances` compares them to
    the validation showers. A row is appended to ``out_dir/ks_scores.csv`` (rows of earlier,
    resumed epochs are kept) and ``ks_score`` is added to the epoch's logs;
    ``out_dir/best_epoch.yaml`` is rewritten with the best epoch so far (1-based, the
    numbering of the ``epoch_NNN.keras`` checkpoints) by ``criterion``. With
    ``criterion="classifier_auc"`` the row and the logs also get the high-level classifier
    AUC of :func:`epoch_classifier_auc` (a few seconds per epoch for 10,000 showers), and
    the epoch with the smallest AUC is the best; likewise ``"momentum_bins"`` with
    :func:`epoch_momentum_bin_score` (momentum from ``energy_column``).

    Args:
        hits: Validation showers.
        conditions: Their conditions.
        out_dir: Output directory.
        seed: Generation seed.
        n_max: Use at most this many validation showers.
        energy_column: Column of the conditions holding the true energy/momentum (adds
            the ``response`` distance, see :func:`shower_ks_distances`); ``None``: none.
        batch_size: Generator batch size of the scoring (bounds its memory: ~9 MiB per
            shower for the CEPC 3D generator on CPU).
        criterion: One of :data:`SELECTION_CRITERIA`. Default ``"ks_score"``.
    """

    def __init__(self, hits, conditions, out_dir: str | os.PathLike, *, seed: int = 0,
                 n_max: int | None = 10_000, energy_column: int | None = 0,
                 batch_size: int = 4096, criterion: str = "ks_score"):
        super().__init__()
        if int(batch_size) < 1:
            raise ValueError(f"`batch_size` must be >= 1. Received: batch_size={batch_size}")
        self.criterion = _check_criterion(criterion, energy_column)
        self.batch_size = int(batch_size)
        self.hits, self.conditions = _subsample(*_as_arrays(hits, conditions), n_max=n_max,
                                                seed=seed)
        self.energies = _energies(self.conditions, energy_column)
        self.out_dir = Path(out_dir)
        self.seed = int(seed)
        self.best: dict[str, Any] | None = None

    def on_epoch_end(self, epoch, logs=None):
        generated = self.model.generate(self.conditions, seed=self.seed,
                                        batch_size=self.batch_size)
        row = _score_row(epoch + 1, self.hits, generated, self.energies, self.conditions,
                         self.criterion, self.seed)
        path = self.out_dir / KS_CSV
        table = pd.read_csv(path) if path.exists() else pd.DataFrame()
        if not table.empty:
            table = table[table["epoch"] < row["epoch"]]
        if not table.empty and self.criterion not in table:
            raise ValueError(
                f"{path} has no {self.criterion!r} column for its earlier epochs: the run was "
                "started with another selection criterion. Resume it with the same one."
            )
        table = pd.concat([table, pd.DataFrame([row])], ignore_index=True)
        with atomic_path(path) as tmp:
            table.to_csv(tmp, index=False)
        self.best = _write_best(table, self.out_dir, self.criterion)
        if logs is not None:
            logs.update({k: row[k] for k in SELECTION_CRITERIA if k in row})


class DeadGeneratorError(RuntimeError):
    """The generator stopped making energy: (almost) every shower it made was empty."""


class DeadGeneratorStop(keras.callbacks.Callback):
    """Stops a GAN training whose generator makes only empty showers, epoch after epoch.

    The calorimeter generators end in a ReLU. When the discriminator wins early, the last
    convolution can be pushed below zero for every noise and condition: the generator then
    outputs zeros, and no loss has a gradient left to revive it (a BESIII training with the
    projection discriminator, seed 2: 1 of 5,000 showers non-empty after epochs 1 and 2,
    discriminator loss 3e-4; docs/besiii_emc.md). An epoch counts as dead when at most
    ``max_alive_fraction`` of the showers generated for ``conditions`` hold any energy; after
    ``patience`` dead epochs in a row training stops and :attr:`stopped_epoch` is set
    (:func:`train_conditional_gan` then raises :class:`DeadGeneratorError`). A generator can
    come back from one empty epoch (the same seed without the projection did), hence the
    patience.

    Args:
        conditions: Conditions to generate for, ``(n, n_conditions)``.
        patience: Dead epochs in a row before stopping (>= 1). Default 3.
        max_alive_fraction: Largest share of non-empty showers of a dead epoch, in [0, 1).
            Default 0.001.
        n_max: Use at most this many conditions. Default 1,000.
        seed: Generation seed (and of the choice of conditions).
        batch_size: Generator batch size.

    Example:
        >>> stop = DeadGeneratorStop(conditions, patience=3)
        >>> gan.fit(batches, epochs=50, callbacks=[stop])  # doctest: +SKIP
    """

    def __init__(self, conditions, *, patience: int = 3, max_alive_fraction: float = 0.001,
                 n_max: int | None = 1_000, seed: int = 0, batch_size: int = 4096):
        super().__init__()
        if int(patience) < 1:
            raise ValueError(f"`patience` must be >= 1. Received: patience={patience}")
        if not 0.0 <= float(max_alive_fraction) < 1.0:
            raise ValueError("`max_alive_fraction` must be in [0, 1). "
                             f"Received: max_alive_fraction={max_alive_fraction}")
        if int(batch_size) < 1:
            raise ValueError(f"`batch_size` must be >= 1. Received: batch_size={batch_size}")
        conditions = np.asarray(conditions, dtype=np.float32)
        if conditions.ndim != 2 or not len(conditions):
            raise ValueError("`conditions` must be a non-empty (n, n_conditions) array. "
                             f"Received: shape={conditions.shape}")
        (self.conditions,) = _subsample(conditions, n_max=n_max, seed=seed)
        self.patience = int(patience)
        self.max_alive_fraction = float(max_alive_fraction)
        self.seed = int(seed)
        self.batch_size = int(batch_size)
        self.dead_epochs = 0
        self.alive_fraction: float | None = None
        self.stopped_epoch: int | None = None

    def on_train_begin(self, logs=None):
        self.dead_epochs = 0
        self.stopped_epoch = None

    def on_epoch_end(self, epoch, logs=None):
        showers = np.asarray(self.model.generate(self.conditions, seed=self.seed,
                                                 batch_size=self.batch_size))
        alive = showers.reshape(len(showers), -1).max(axis=1) > 0
        self.alive_fraction = float(alive.mean())
        self.dead_epochs = self.dead_epochs + 1 if self.alive_fraction <= \
            self.max_alive_fraction else 0
        if self.dead_epochs >= self.patience:
            self.stopped_epoch = int(epoch) + 1
            self.model.stop_training = True

    def error(self, out_dir: str | os.PathLike) -> DeadGeneratorError:
        """The error describing the stop (after training stopped)."""
        return DeadGeneratorError(
            f"The generator made only empty showers for {self.dead_epochs} epochs in a row "
            f"(non-empty: {self.alive_fraction:.2%} of {len(self.conditions)}); its output "
            f"ReLU is dead and no loss can revive it. Training stopped after epoch "
            f"{self.stopped_epoch}; its checkpoints are in {out_dir}. Train again into a new "
            "directory with another seed or a lower discriminator learning rate."
        )


def _nested_layers(layer):
    """The layer and, recursively, the layers of the models inside it."""
    yield layer
    for sub in getattr(layer, "layers", ()):
        yield from _nested_layers(sub)


class _Warmup(keras.callbacks.Callback):
    """Sets switch variables of the model to 0 for the first ``warmup_epochs`` epochs and to
    1 afterwards. The switches are set at the start of every epoch from the epoch index, so a
    resumed training gets the same schedule."""

    _missing = "the model has no switch to set."  # the error when there is none

    def __init__(self, warmup_epochs: int = 2):
        super().__init__()
        if int(warmup_epochs) < 0:
            raise ValueError(
                f"`warmup_epochs` must be >= 0. Received: warmup_epochs={warmup_epochs}"
            )
        self.warmup_epochs = int(warmup_epochs)

    def _switches(self) -> list:
        """The model's switch variables (an empty list when it has none)."""
        raise NotImplementedError

    def on_train_begin(self, logs=None):
        if not self._switches():
            raise ValueError(f"{type(self).__name__}: {self._missing}")

    def on_epoch_begin(self, epoch, logs=None):
        for switch in self._switches():
            switch.assign(1.0 if epoch >= self.warmup_epochs else 0.0)


class EnergyCeilingWarmup(_Warmup):
    """Switches the generator's :class:`~keras_fastsim.layers.energy_ceiling.EnergyCeiling`
    layers off for the first ``warmup_epochs`` epochs and on afterwards.

    An untrained generator's summed energy is far above the ceiling, where the ceiling gives
    the total no gradient; without it the generator first learns totals of the right size.

    Args:
        warmup_epochs: Epochs without the ceiling (>= 0; 0 keeps it on throughout).
    """

    _missing = "the generator has no EnergyCeiling layer."

    def _switches(self) -> list:
        from keras_fastsim.layers.energy_ceiling import EnergyCeiling

        return [layer.active for layer in _nested_layers(self.model.generator)
                if isinstance(layer, EnergyCeiling)]


class ProjectionWarmup(_Warmup):
    """Switches the discriminator's
    :class:`~keras_fastsim.layers.condition_projection.ConditionProjection` terms off for the
    first ``warmup_epochs`` epochs and on afterwards.

    With the projection from the first step the BESIII discriminator won the first epoch in
    two of four seeds and the generator's output ReLU died (docs/besiii_emc.md); without it
    the adversarial game first forms the showers, and the projection, starting at zero,
    then refines how they follow the conditions.

    Args:
        warmup_epochs: Epochs without the projection (>= 0; 0 keeps it on throughout).
    """

    _missing = "the discriminator has no ConditionProjection layer."

    def _switches(self) -> list:
        from keras_fastsim.layers.condition_projection import ConditionProjection

        return [layer.active for layer in _nested_layers(self.model.discriminator)
                if isinstance(layer, ConditionProjection)]


class MatchingWarmup(_Warmup):
    """Switches the two-sample term of a
    :class:`~keras_fastsim.models.conditional_gan.ConditionalGAN` off for the first
    ``warmup_epochs`` epochs and on afterwards (its ``matching_active``).

    The adversarial game first forms the showers' shape; the two-sample term, which sees only
    a few summary features, then corrects their distribution without steering the first
    epochs (with it on from the start, the BESIII GAN's lateral shape came out narrower;
    docs/besiii_emc.md).

    Args:
        warmup_epochs: Epochs without the term (>= 0; 0 keeps it on throughout).
    """

    _missing = "the GAN has no two-sample term (`matching_weight` > 0 and `matching_features`)."

    def _switches(self) -> list:
        active = getattr(self.model, "matching_active", None)
        return [] if active is None else [active]


# ------------------------------------------------------------------------------------------
# GAN
# ------------------------------------------------------------------------------------------

_RERUN_MAY_CHANGE = frozenset({"epochs", "best_epoch", "strategy"})


def _resumed_seed(seed: int, epoch: int) -> int:
    """The seed of a random stream restarted after ``epoch`` finished epochs (``seed`` at 0)."""
    if not epoch:
        return int(seed)
    return int(np.random.SeedSequence([int(seed) % 2**32, int(epoch)]).generate_state(1)[0]
               % 2**31)


class _ResumedNoise(keras.callbacks.Callback):
    """Reseeds the GAN's noise ``SeedGenerator``s of a resumed training by its start epoch.

    Their states are not in the ``BackupAndRestore`` backup: restored as built, a resumed
    training would draw the noise of its first epochs again.
    """

    def __init__(self, start_epoch: int):
        super().__init__()
        self.start_epoch = int(start_epoch)

    def on_train_begin(self, logs=None):
        if not self.start_epoch:
            return
        for generator in (self.model.seed_generator, self.model.val_seed_generator):
            state = keras.ops.convert_to_numpy(generator.state)
            generator.state.assign(np.array(
                [_resumed_seed(int(state[0]), self.start_epoch), 0], dtype=state.dtype))


def _run_config(gan: ConditionalGAN, model_settings: Mapping[str, Any] | None,
                training: dict[str, Any]) -> dict[str, Any]:
    """The ``config.yaml`` content, as it reads back from YAML."""
    model = {"noise_dim": gan.noise_dim, "generator_steps": gan.generator_steps,
             "regression_weight": gan.regression_weight, "regressor": gan.regressor is not None}
    config = {"model": model | dict(model_settings or {}), "training": training}
    try:
        return yaml.safe_load(yaml.safe_dump(config, sort_keys=False))
    except yaml.YAMLError as err:
        raise ValueError(f"`model_settings` must hold plain values. Received: {model_settings}"
                         ) from err


def _write_config(out_dir: Path, config: dict[str, Any]) -> None:
    with atomic_path(out_dir / CONFIG_FILE) as tmp:
        tmp.write_text(yaml.safe_dump(config, sort_keys=False))


def _check_same_run(out_dir: Path, config: dict[str, Any]) -> None:
    """Refuses to resume or continue the run in ``out_dir`` with other settings."""
    path = out_dir / CONFIG_FILE
    if not path.is_file():  # interrupted before its settings were written
        return
    old = yaml.safe_load(path.read_text()) or {}
    changed = [
        f"{section}.{key}: {earlier[key]!r} -> {value!r}"
        for section, values in config.items()
        for earlier in [old.get(section) or {}]
        for key, value in values.items()
        if key not in _RERUN_MAY_CHANGE and key in earlier and earlier[key] != value
    ]
    if changed:
        raise ValueError(
            f"{out_dir} holds a training with other settings ({'; '.join(changed)}). A rerun "
            "into it resumes or continues that training, where only `epochs` may grow; train "
            "into a new directory instead."
        )


def train_conditional_gan(
    gan: ConditionalGAN,
    hits,
    conditions,
    out_dir: str | os.PathLike,
    *,
    epochs: int = 50,
    batch_size: int = 512,
    d_learning_rate: float = 2e-5,
    g_learning_rate: float = 2e-4,
    beta_1: float = 0.5,
    validation_fraction: float = 0.1,
    ks_samples: int | None = 10_000,
    ks_energy_column: int | None = 0,
    ks_batch_size: int = 4096,
    selection_criterion: str = "ks_score",
    select_epoch: bool = True,
    dead_generator_patience: int | None = 3,
    strategy: str = "default",
    seed: int = 0,
    extra_callbacks: list[keras.callbacks.Callback] | None = None,
    verbose: int | str = "auto",
    train_data=None,
    model_settings: Mapping[str, Any] | None = None,
) -> ConditionalGAN:
    """Trains a :class:`ConditionalGAN` with checkpoints, resume and KS epoch selection.

    The authors' settings by default: Adam for both networks (D 2e-5, G 2e-4, beta_1 0.5),
    batch 512, the GAN's ``generator_steps`` generator updates per discriminator update.
    Both optimizers are built inside the strategy's scope. The last incomplete batch of an
    epoch is dropped (every step sees a full global batch, split evenly over replicas).

    Args:
        gan: The GAN (its regressor, if any, pretrained; it stays frozen).
        hits: Showers ``(n, ...)`` in the generator's output units.
        conditions: DataFrame or ``(n, n_conditions)`` array.
        out_dir: Output directory (layout in the module docstring).
        epochs: Number of epochs (no early stopping: GAN losses do not measure quality).
        batch_size: Global batch size; a multiple of the number of replicas.
        d_learning_rate: Discriminator Adam learning rate.
        g_learning_rate: Generator Adam learning rate.
        beta_1: Adam beta_1 of both optimizers.
        validation_fraction: Held-out fraction for validation losses and the KS scores.
        ks_samples: Validation showers used by the KS scoring per epoch (``None``: all).
        ks_energy_column: Column of the conditions holding the true energy/momentum for
            the ``response`` KS distance (``None``: leave it out of the score).
        ks_batch_size: Generator batch size of the per-epoch KS scoring.
        selection_criterion: The epoch score that selects the best epoch, one of
            :data:`SELECTION_CRITERIA`: ``"ks_score"`` (default, the sum of the KS
            distances), ``"classifier_auc"`` (the high-level classifier AUC on the
            validation showers, :func:`epoch_classifier_auc`) or ``"momentum_bins"`` (the
            E5x5 targets per momentum bin, :func:`epoch_momentum_bin_score`; needs
            ``ks_energy_column``).
        select_epoch: Score every epoch (:class:`KSEpochSelection`) and copy the best
            checkpoint to ``best_model.keras``.
        dead_generator_patience: Stop with :class:`DeadGeneratorError` after this many
            epochs in a row in which the generator made only empty showers for the validation
            conditions (:class:`DeadGeneratorStop`; ``None``: never). Default 3.
        strategy: ``tf.distribute`` strategy name (:func:`get_strategy`).
        seed: Seed of the split, the shuffling and Keras' global random state.
        extra_callbacks: More Keras callbacks (run after the checkpointing and KS ones).
        verbose: Keras verbosity (``"auto"``: progress bar).
        train_data: Optional training batches ``(showers, conditions)`` of ``batch_size``
            that ``model.fit`` takes (e.g. a ``keras.utils.PyDataset`` streaming a file,
            :class:`keras_fastsim.io.shower_stream.HDF5ShowerDataset`). With it, ``hits``
            and ``conditions`` are the validation showers only (validation losses and KS
            scores) and ``validation_fraction`` is not used.
        model_settings: Settings the GAN was built with (plain values), recorded in the
            ``model`` section of ``config.yaml`` beside the GAN's own and checked on a rerun.

    Returns:
        The GAN after the last epoch (a copy living in the strategy's scope when
        ``strategy`` is not ``"default"``).

    Raises:
        DeadGeneratorError: when :class:`DeadGeneratorStop` stopped the training (the
            checkpoints and backup of the epochs run stay in ``out_dir``).
    """
    if int(batch_size) < 1:
        raise ValueError(f"`batch_size` must be >= 1. Received: batch_size={batch_size}")
    _check_positive(d_learning_rate=d_learning_rate, g_learning_rate=g_learning_rate)
    if not 0.0 <= beta_1 < 1.0:
        raise ValueError(f"`beta_1` must be in [0, 1). Received: beta_1={beta_1}")
    if not isinstance(gan, ConditionalGAN):
        raise TypeError(f"`gan` must be a ConditionalGAN. Received: gan={type(gan).__name__}")
    _check_criterion(selection_criterion, ks_energy_column, "selection_criterion")
    hits, cond = _as_arrays(hits, conditions)
    if train_data is None:
        train, val = split_train_validation(len(hits), validation_fraction, seed)
        _check_enough(len(train), batch_size)
        n_train = len(train)
    else:
        train, val = None, np.arange(len(hits))
        n_train = len(train_data) * int(batch_size) if hasattr(train_data, "__len__") else None
    dist = get_strategy(strategy)
    replicas = dist.num_replicas_in_sync
    if int(batch_size) % replicas:
        raise ValueError(
            f"`batch_size` must be a multiple of the {replicas} replicas. "
            f"Received: batch_size={batch_size}"
        )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    config = _run_config(gan, model_settings, {
        "epochs": int(epochs), "batch_size": int(batch_size),
        "d_learning_rate": float(d_learning_rate), "g_learning_rate": float(g_learning_rate),
        "beta_1": float(beta_1), "validation_fraction": float(validation_fraction),
        "ks_samples": ks_samples, "selection_criterion": selection_criterion,
        "strategy": strategy, "seed": int(seed), "n_train": n_train, "n_validation": len(val),
        "best_epoch": None,
    })
    start_epoch = finished_epochs(out_dir)
    if (out_dir / BACKUP_DIR).exists():
        _check_same_run(out_dir, config)
    else:
        (out_dir / KS_CSV).unlink(missing_ok=True)
        (out_dir / BEST_EPOCH_FILE).unlink(missing_ok=True)
    _write_config(out_dir, config)

    keras.utils.set_random_seed(seed)
    with dist.scope():
        gan = _in_scope(gan, strategy, dist)
        gan.compile(
            d_optimizer=keras.optimizers.Adam(d_learning_rate, beta_1=beta_1),
            g_optimizer=keras.optimizers.Adam(g_learning_rate, beta_1=beta_1),
        )
    train_ds = (train_data if train_data is not None else
                shower_dataset((hits[train], cond[train]), batch_size=batch_size, shuffle=True,
                               seed=_resumed_seed(seed, start_epoch)))
    val_batch = min(int(batch_size), len(val) // replicas * replicas)
    val_ds = (shower_dataset((hits[val], cond[val]), batch_size=val_batch, shuffle=False)
              if val_batch > 0 else None)
    callbacks: list[keras.callbacks.Callback] = [_ResumedNoise(start_epoch)]
    selector = None
    if select_epoch and len(val):
        selector = KSEpochSelection(hits[val], cond[val], out_dir, seed=seed, n_max=ks_samples,
                                    energy_column=ks_energy_column, batch_size=ks_batch_size,
                                    criterion=selection_criterion)
        callbacks.append(selector)
    dead_stop = None
    if dead_generator_patience is not None and len(val):
        dead_stop = DeadGeneratorStop(cond[val], patience=dead_generator_patience, seed=seed,
                                      batch_size=ks_batch_size)
        callbacks.append(dead_stop)
    callbacks.extend(extra_callbacks or [])
    fit_with_checkpoints(gan, train_ds, val_ds, out_dir, epochs=epochs, patience=None,
                         extra_callbacks=callbacks, verbose=verbose, keep_backup=True)
    if dead_stop is not None and dead_stop.stopped_epoch is not None:
        raise dead_stop.error(out_dir)
    with atomic_path(out_dir / MODEL_FILE) as tmp:
        gan.save(tmp)
    with atomic_path(out_dir / GENERATOR_FILE) as tmp:
        gan.generator.save(tmp)
    best_epoch = None
    if selector is not None and (out_dir / BEST_EPOCH_FILE).exists():
        best_epoch = int(yaml.safe_load((out_dir / BEST_EPOCH_FILE).read_text())["epoch"])
        best_path = out_dir / CHECKPOINT_DIR / f"epoch_{best_epoch:03d}.keras"
        if best_path.exists():
            with atomic_path(out_dir / BEST_MODEL_FILE) as tmp:
                shutil.copyfile(best_path, tmp)
    config["training"]["best_epoch"] = best_epoch
    _write_config(out_dir, config)
    return gan
