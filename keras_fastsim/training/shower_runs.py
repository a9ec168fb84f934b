"""Run-directory pieces shared by the calorimeter GANs (BESIII EMC 2D, CEPC ECAL 3D).

The experiment modules (:mod:`keras_fastsim.training.besiii_emc`,
:mod:`keras_fastsim.training.cepc_ecal`) pass their condition columns, run kinds and chunk
sizes; everything here is experiment-independent:

- :func:`condition_array`: a DataFrame or array of conditions as a checked float32 array;
- :func:`read_condition_table`: conditions to generate for, from an HDF5 ``MC_info`` or a
  ``.parquet`` / ``.csv`` table;
- :func:`generate_seeded`: one shower per condition row, reproducible from a seed;
- :func:`save_selected_generator`: after :func:`keras_fastsim.training.gan.train_conditional_gan`,
  the generator of the epoch chosen by the KS distances (else of the last epoch);
- :func:`trained_epochs`: the epochs a finished GAN run was trained for (to continue it).

Generation noise
================
:func:`generate_seeded` draws the generator's noise with TensorFlow's counter-based
``tf.random.stateless_normal`` (Philox): chunk ``c`` of ``chunk_size`` showers gets the noise
of shape ``(len(chunk), noise_dim)`` with the seed ``(seed, c)``. The noise of a chunk is then
fed to the generator ``batch_size`` rows at a time (bounding memory: a CEPC shower's
activations take ~7 MiB), which does not change the showers. The SavedModels draw their
noise with the seed ``(seed, 0)``, so for up to ``chunk_size`` showers one call reproduces
:func:`generate_seeded` exactly (same conditions, same seed).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from keras_fastsim.io.atomic import atomic_path

SELECTED_GENERATOR_FILE = "selected_generator.keras"
GENERATION_CHUNK = 65536
"""Showers per noise chunk of :func:`generate_seeded` (the SavedModels' one chunk)."""


def condition_array(conditions, columns: Sequence[str]) -> np.ndarray:
    """Conditions as a finite float32 ``(n, len(columns))`` array.

    Args:
        conditions: DataFrame holding ``columns`` (other columns ignored), or an array
            whose columns are ``columns`` in order.
        columns: The condition columns of the experiment.

    Raises:
        ValueError: on missing columns, a wrong shape or NaN/inf values.
    """
    columns = list(columns)
    if isinstance(conditions, pd.DataFrame):
        missing = [c for c in columns if c not in conditions.columns]
        if missing:
            raise ValueError(
                f"Conditions lack the columns {missing}; expected {columns}. "
                f"Received columns {list(conditions.columns)}"
            )
        conditions = conditions[columns].to_numpy()
    cond = np.asarray(conditions, dtype=np.float32)
    if cond.ndim != 2 or cond.shape[1] != len(columns):
        raise ValueError(
            f"Conditions must be (n, {len(columns)}) ({', '.join(columns)}). "
            f"Received shape {cond.shape}"
        )
    if not np.isfinite(cond).all():
        raise ValueError("Conditions hold NaN/inf values")
    return cond


def read_condition_table(
    path: str | os.PathLike,
    columns: Sequence[str],
    *,
    normalisation: Sequence[float] | None = None,
    normalised_if: Callable[[np.ndarray], bool] | None = None,
) -> pd.DataFrame:
    """Conditions to generate showers for, in physical units.

    Reads the ``MC_info`` dataset of an HDF5 file (``Barrel_Hit`` is not needed; a 7th
    column beyond ``len(columns)`` is dropped), or a ``.parquet`` / ``.csv`` table with the
    ``columns`` (physical units).

    Args:
        path: ``.h5``/``.hdf5``/``.hdf``, ``.parquet`` or ``.csv`` file.
        columns: The condition columns.
        normalisation: Divisors of normalised HDF5 ``MC_info`` (BESIII); ``None``: HDF5
            conditions are in physical units.
        normalised_if: With ``normalisation``: decides from the values whether a file
            without the ``normalised`` attribute is normalised.

    Raises:
        FileNotFoundError, ShowerFileError, ValueError: for missing or unusable files.
    """
    from keras_fastsim.io.showers import CONDITIONS_DATASET, ShowerFileError

    columns = list(columns)
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.suffix.lower() in (".h5", ".hdf5", ".hdf"):
        import h5py

        try:
            f = h5py.File(path, "r")
        except OSError as err:
            raise ShowerFileError(f"{path}: not a readable HDF5 file ({err})") from err
        with f:
            if CONDITIONS_DATASET not in f:
                raise ShowerFileError(
                    f"{path}: no dataset {CONDITIONS_DATASET!r}; the file holds {sorted(f.keys())}"
                )
            info = np.asarray(f[CONDITIONS_DATASET][()], dtype=np.float64)
            attrs = dict(f[CONDITIONS_DATASET].attrs)
        width = len(columns)
        if info.ndim != 2 or info.shape[1] not in (width, width + 1):
            raise ShowerFileError(
                f"{path}: {CONDITIONS_DATASET} must have shape (N, {width}). Received {info.shape}"
            )
        info = info[:, :width]
        if not np.isfinite(info).all():
            raise ShowerFileError(f"{path}: {CONDITIONS_DATASET} holds NaN/inf values")
        if normalisation is not None:
            if "normalised" in attrs:
                normalised = bool(attrs["normalised"])
            else:
                normalised = bool(normalised_if(info)) if normalised_if is not None else True
            if normalised:
                info = info * np.asarray(normalisation)
        return pd.DataFrame(info, columns=columns)
    if path.suffix.lower() == ".parquet":
        table = pd.read_parquet(path)
    elif path.suffix.lower() == ".csv":
        table = pd.read_csv(path)
    else:
        raise ValueError(
            f"{path}: conditions must be an HDF5 file with MC_info, a .parquet or a .csv table"
        )
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: the table lacks the condition columns {missing}")
    frame = table[columns].astype(np.float64).reset_index(drop=True)
    if not np.isfinite(frame.to_numpy()).all():
        raise ValueError(f"{path}: the conditions hold NaN/inf values")
    return frame


def generate_seeded(
    generator: keras.Model,
    conditions: np.ndarray,
    seed: int = 0,
    *,
    chunk_size: int = GENERATION_CHUNK,
    batch_size: int | None = None,
    progress: bool = False,
) -> np.ndarray:
    """One shower per row of ``conditions``, reproducible from ``seed`` (module docstring).

    Args:
        generator: Model ``[noise (n, noise_dim), conditions] -> showers``.
        conditions: float32 ``(n, n_conditions)`` in the generator's units.
        seed: Noise seed.
        chunk_size: Showers per noise chunk (seed ``(seed, chunk)``).
        batch_size: Showers per generator call (default ``chunk_size``); does not change
            the showers.
        progress: Show a progress bar (showers).

    Returns:
        float32 ``(n, *generator output shape)``.
    """
    import tensorflow as tf

    if int(chunk_size) < 1:
        raise ValueError(f"`chunk_size` must be >= 1. Received: chunk_size={chunk_size}")
    batch = int(chunk_size) if batch_size is None else int(batch_size)
    if batch < 1:
        raise ValueError(f"`batch_size` must be >= 1. Received: batch_size={batch_size}")
    cond = np.asarray(conditions, np.float32)
    noise_dim = int(generator.inputs[0].shape[-1])
    bar = keras.utils.Progbar(len(cond), unit_name="shower") if progress and len(cond) else None
    out = []
    for c, start in enumerate(range(0, len(cond), int(chunk_size))):
        y = cond[start:start + int(chunk_size)]
        z = tf.random.stateless_normal((len(y), noise_dim),
                                       seed=tf.constant([int(seed), c], tf.int64))
        for b in range(0, len(y), batch):
            out.append(keras.ops.convert_to_numpy(
                generator([z[b:b + batch], tf.convert_to_tensor(y[b:b + batch])],
                          training=False)))
            if bar is not None:
                bar.add(len(out[-1]))
    if not out:
        return np.zeros((0, *generator.output_shape[1:]), np.float32)
    return np.concatenate(out).astype(np.float32, copy=False)


def save_selected_generator(
    gan, out_dir: str | os.PathLike, register: Callable[[], None] | None = None
) -> int | None:
    """Saves the generator of the KS-selected epoch (else the last) as ``selected_generator.keras``.

    Args:
        gan: The GAN returned by :func:`keras_fastsim.training.gan.train_conditional_gan`.
        out_dir: Its output directory (``best_model.keras``, ``best_epoch.yaml``).
        register: Imports the experiment's custom layers before loading ``best_model.keras``.

    Returns:
        The selected epoch (1-based), or ``None`` when the last epoch's generator was saved.
    """
    from keras_fastsim.training.gan import BEST_EPOCH_FILE, BEST_MODEL_FILE

    out_dir = Path(out_dir)
    best_epoch = None
    if (out_dir / BEST_MODEL_FILE).exists() and (out_dir / BEST_EPOCH_FILE).exists():
        import yaml

        if register is not None:
            register()
        best_epoch = int(yaml.safe_load((out_dir / BEST_EPOCH_FILE).read_text())["epoch"])
        generator = keras.saving.load_model(out_dir / BEST_MODEL_FILE, compile=False).generator
    else:
        generator = gan.generator
    with atomic_path(out_dir / SELECTED_GENERATOR_FILE) as tmp:
        generator.save(tmp)
    return best_epoch


def trained_epochs(run_dir: str | os.PathLike) -> int | None:
    """The epochs of the finished GAN run in ``run_dir`` (its ``run.json``), ``None`` if none.

    A run asked for more epochs than this is continued by rerunning its training into the
    same directory (:func:`keras_fastsim.training.gan.train_conditional_gan`).
    """
    from keras_fastsim.runs import RUN_FILE, read_manifest

    if not (Path(run_dir) / RUN_FILE).is_file():
        return None
    epochs = read_manifest(run_dir).get("epochs")
    return None if epochs is None else int(epochs)


def load_generator(
    source, kind: str, register: Callable[[], None] | None = None
) -> keras.Model:
    """The generator of a GAN run directory, a ``.keras`` file or a model.

    Args:
        source: A run directory of ``kind`` (its selected generator, see
            :func:`save_selected_generator`), a generator ``.keras`` file, a whole-GAN
            ``.keras`` file (e.g. a checkpoint; its generator is taken), or a model
            (returned as is).
        kind: The run kind a directory must have (e.g. ``"besiii-emc-gan"``).
        register: Imports the experiment's custom layers before loading.

    Raises:
        keras_fastsim.runs.RunError: a directory of another kind, or without its generator.
        FileNotFoundError: a missing ``.keras`` file.
    """
    from keras_fastsim.runs import RunError, read_manifest

    if isinstance(source, keras.Model):
        return source
    if register is not None:
        register()
    path = Path(source)
    if path.suffix == ".keras":
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such model file")
        model = keras.saving.load_model(path, compile=False)
        return getattr(model, "generator", model)
    manifest = read_manifest(source)
    if manifest["kind"] != kind:
        raise RunError(f"{source}: a {manifest['kind']!r} run, expected a {kind!r} run")
    gen_path = path / manifest.get("generator", SELECTED_GENERATOR_FILE)
    if not gen_path.is_file():
        raise RunError(f"{source}: the generator {gen_path.name} is missing")
    return keras.saving.load_model(gen_path, compile=False)
