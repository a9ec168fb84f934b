"""CEPC ECAL GAN runs: regressor pretraining, GAN training, generation (run directories).

The run-directory layer over :mod:`keras_fastsim.training.gan` for the slides' CEPC ECAL 3D
GAN (SPEC 2.5), used by the CLI (``train cepc-ecal-regressor``, ``train cepc-ecal``,
``generate``, ``evaluate cepc-ecal``, ``export``) and by ``experiments/cepc_ecal_gan.py``. The
twin of :mod:`keras_fastsim.training.besiii_emc`; what both share lives in
:mod:`keras_fastsim.training.shower_runs`.

Run kinds (``run.json``, :func:`keras_fastsim.runs.update_manifest`):

- ``cepc-ecal-regressor``: ``regressor.keras`` (``[showers, (dZ_Pos, dY_Pos, Z)] ->
  (Mom, theta, phi)``), ``resolution.csv``, ``resolution.png``, history;
- ``cepc-ecal-gan``: everything :func:`~keras_fastsim.training.gan.train_conditional_gan`
  writes, plus ``selected_generator.keras`` (the generator of the KS-selected epoch, else of
  the last), which ``generate`` and ``export`` use.

Training data and memory
========================
Showers are ``(n, 30, 30, 29)`` float32 = 104,400 B each: 100k showers are 10.4 GB. The run
functions take either arrays or the path of an HDF5 file (``Barrel_Hit``, ``MC_info``,
:func:`keras_fastsim.io.showers.write_cepc_ecal`). A file is loaded into memory when its
showers (after ``max_showers``) take at most ``in_memory_limit_gib`` (default 4 GiB, ~41k
showers of 30 x 30 x 29). The in-memory pipeline of
:func:`~keras_fastsim.training.gan.train_conditional_gan` holds the showers ~3.6 times
(measured: a 199 MiB file grew the process by 715 MiB: the array, its training split, the
``tf.data`` copy and the shuffle buffer), and a GAN step at batch ``B`` needs ~23.6 MiB x
``B`` (``benchmarks/bench_cepc_ecal.py``): 4 GiB x 3.6 + 64 x 23.6 MiB + ~2 GiB of process
(~18 GiB) stays under 24 GiB. Larger files are streamed batch by batch with
:class:`keras_fastsim.io.shower_stream.HDF5ShowerDataset` (the ``train_data`` argument of
:func:`~keras_fastsim.training.gan.pretrain_regressor` and
:func:`~keras_fastsim.training.gan.train_conditional_gan`); then only the validation showers
are held in memory.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd

from keras_fastsim.io.showers import CEPC_COLUMNS
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

REGRESSOR_KIND = "cepc-ecal-regressor"
GAN_KIND = "cepc-ecal-gan"
RESOLUTION_PNG = "resolution.png"
GENERATION_BATCH = 64
"""Showers per generator call of :func:`generate_cepc_showers` (~7 MiB of activations each)."""
TRAIN_STEP_MIB_PER_SHOWER = 23.6
"""Peak memory growth of one GAN training step per shower of the batch (30 x 30 x 29, CPU,
``benchmarks/bench_cepc_ecal.py``)."""
IN_MEMORY_LIMIT_GIB = 4.0
"""Default largest shower sample (GiB of float32 voxels) loaded into memory for training."""
REGRESSED_COLUMNS: tuple[str, ...] = ("Mom", "theta", "phi")
REGRESSED_UNITS: tuple[str, ...] = ("GeV", "deg", "deg")

__all__ = [
    "GAN_KIND",
    "REGRESSOR_KIND",
    "generate_cepc_showers",
    "load_cepc_generator",
    "load_cepc_regressor",
    "load_training_showers",
    "read_cepc_conditions",
    "regress_conditions",
    "train_cepc_gan_run",
    "train_cepc_regressor_run",
]


def _register_layers() -> None:
    # Importing the model module registers ConditionColumns, Log1pScaling,
    # ShowerFeatures3D, MinibatchDiscrimination and ConditionalGAN for loading.
    import keras_fastsim.models.cepc_ecal  # noqa: F401


def _condition_array(conditions) -> np.ndarray:
    return condition_array(conditions, CEPC_COLUMNS)


# ------------------------------------------------------------------------------------------
# training data
# ------------------------------------------------------------------------------------------


def load_training_showers(
    path: str | os.PathLike,
    *,
    max_showers: int | None = None,
    in_memory_limit_gib: float = IN_MEMORY_LIMIT_GIB,
) -> tuple[np.ndarray, pd.DataFrame]:
    """Reads a CEPC shower file into memory, refusing samples above ``in_memory_limit_gib``.

    Args:
        path: HDF5 file (``Barrel_Hit`` ``(N, a, b, c)``, ``MC_info``).
        max_showers: Read only the first ``max_showers`` showers.
        in_memory_limit_gib: Largest float32 shower array (GiB) to load.

    Returns:
        ``(voxels, conditions)`` as :func:`keras_fastsim.io.showers.read_cepc_ecal`.

    Raises:
        ValueError: when the showers exceed the limit (the message gives the largest
            ``max_showers`` that fits).
    """
    from keras_fastsim.io.shower_stream import shower_file_info
    from keras_fastsim.io.showers import read_cepc_ecal

    if max_showers is not None and int(max_showers) < 1:
        raise ValueError(f"`max_showers` must be >= 1. Received: max_showers={max_showers}")
    if not in_memory_limit_gib > 0:
        raise ValueError(
            f"`in_memory_limit_gib` must be > 0. Received: in_memory_limit_gib={in_memory_limit_gib}"
        )
    info = shower_file_info(path)
    n = info["n"] if max_showers is None else min(info["n"], int(max_showers))
    gib = n * info["row_bytes"] / 2**30
    if gib > in_memory_limit_gib:
        fits = int(in_memory_limit_gib * 2**30 // info["row_bytes"])
        raise ValueError(
            f"{path}: {n} showers take {gib:.2f} GiB, more than in_memory_limit_gib="
            f"{in_memory_limit_gib} (the in-memory pipeline holds them ~3.6 times). Train on the "
            f"first {fits} with max_showers={fits} (CLI --max-showers), raise the limit if "
            "the machine has the memory, or stream the file (the run functions of "
            "keras_fastsim.training.cepc_ecal do so above the limit)"
        )
    return read_cepc_ecal(path, n_max=n)


def _stream(path, *, indices, batch_size: int, seed: int, structure=None):
    from keras_fastsim.io.shower_stream import HDF5ShowerDataset

    return HDF5ShowerDataset(path, batch_size, indices=indices, shuffle=True, seed=seed,
                             structure=structure)


def _resolve_data(data, max_showers, in_memory_limit_gib):
    """``("memory", hits, cond)`` or ``("stream", path, n)`` for arrays or a file path."""
    if isinstance(data, (str, os.PathLike)):
        from keras_fastsim.io.shower_stream import shower_file_info

        info = shower_file_info(data)
        n = info["n"] if max_showers is None else min(info["n"], int(max_showers))
        if n * info["row_bytes"] <= in_memory_limit_gib * 2**30:
            hits, cond = load_training_showers(data, max_showers=max_showers,
                                               in_memory_limit_gib=in_memory_limit_gib)
            return "memory", hits, _condition_array(cond)
        return "stream", Path(data), n
    try:
        hits, conditions = data
    except (TypeError, ValueError):
        raise ValueError(
            "`data` must be an HDF5 path or a pair (showers, conditions). "
            f"Received: {type(data).__name__}"
        ) from None
    hits = np.asarray(hits, np.float32)
    cond = _condition_array(conditions)
    if max_showers is not None:
        hits, cond = hits[:int(max_showers)], cond[:int(max_showers)]
    return "memory", hits, cond


def _read_rows(path: Path, rows: np.ndarray, batch: int = 256) -> tuple[np.ndarray, np.ndarray]:
    from keras_fastsim.io.shower_stream import HDF5ShowerDataset

    reader = HDF5ShowerDataset(path, 1, indices=rows, shuffle=False, drop_remainder=False)
    parts = [reader.read(rows[i:i + batch]) for i in range(0, len(rows), batch)]
    reader.close()
    if not parts:
        return np.zeros((0, *reader.info["cell_shape"]), np.float32), np.zeros((0, 6), np.float32)
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


# ------------------------------------------------------------------------------------------
# regressor
# ------------------------------------------------------------------------------------------


def regress_conditions(
    regressor: keras.Model, hits, conditions, *, batch_size: int = 64
) -> np.ndarray:
    """The regressor's ``(Mom, theta, phi)`` for showers with conditions ``(n, 6)``.

    Args:
        regressor: ``[showers, (dZ_Pos, dY_Pos, Z)] -> (Mom, theta, phi)``.
        hits: Showers ``(n, *grid)``.
        conditions: DataFrame with the six CEPC columns or ``(n, 6)`` array.
        batch_size: Showers per call.

    Returns:
        float32 ``(n, 3)`` in GeV, deg, deg.
    """
    from keras_fastsim.models.cepc_ecal import CEPC_CONDITION_SPLIT
    from keras_fastsim.training.gan import regress

    return regress(regressor, hits, _condition_array(conditions), CEPC_CONDITION_SPLIT[1],
                   batch_size=batch_size)


def train_cepc_regressor_run(
    data,
    out_dir: str | os.PathLike,
    *,
    epochs: int = 30,
    batch_size: int = 128,
    learning_rate: float = 1e-3,
    validation_fraction: float = 0.1,
    patience: int | None = 5,
    max_showers: int | None = None,
    in_memory_limit_gib: float = IN_MEMORY_LIMIT_GIB,
    strategy: str = "default",
    seed: int = 0,
    verbose: int | str = "auto",
) -> keras.Model:
    """Pretrains the slides' CEPC regressor into a ``cepc-ecal-regressor`` run directory.

    Calls :func:`keras_fastsim.training.gan.pretrain_regressor` with the CEPC split (y1 =
    Mom, theta, phi regressed from the shower and y2 = dZ_Pos, dY_Pos, Z) and the loss scale
    (100 GeV, 90 deg, 15 deg), then draws ``resolution.png`` on the validation showers.

    Args:
        data: HDF5 path, or a pair ``(showers (n, *grid), conditions)``; the grid is read
            from the showers (at least 14 x 17 x 17 for the regressor).
        out_dir: Run directory.
        epochs, batch_size, learning_rate, validation_fraction, patience, strategy, seed,
            verbose: See :func:`keras_fastsim.training.gan.pretrain_regressor`.
        max_showers: Use only the first ``max_showers`` showers.
        in_memory_limit_gib: See the module docstring; a larger input is streamed.

    Returns:
        The trained regressor.
    """
    from keras_fastsim.models.cepc_ecal import (
        CEPC_CONDITION_SPLIT,
        CEPC_REGRESSION_SCALE,
        build_cepc_regressor,
    )
    from keras_fastsim.plotting.showers import plot_regressor_resolution
    from keras_fastsim.training.gan import (
        REGRESSOR_FILE,
        RESOLUTION_CSV,
        pretrain_regressor,
        split_train_validation,
    )

    mode, hits, cond = _resolve_data(data, max_showers, in_memory_limit_gib)
    out_dir = Path(out_dir)
    y1, y2 = (list(c) for c in CEPC_CONDITION_SPLIT)
    scale = np.asarray(CEPC_REGRESSION_SCALE, np.float32)
    kwargs = {"condition_split": CEPC_CONDITION_SPLIT, "target_scale": CEPC_REGRESSION_SCALE,
              "epochs": epochs, "batch_size": batch_size, "learning_rate": learning_rate,
              "validation_fraction": validation_fraction, "patience": patience,
              "strategy": strategy, "seed": seed, "verbose": verbose}
    keras.utils.set_random_seed(int(seed))
    if mode == "memory":
        n = len(hits)
        grid = hits.shape[1:]
        regressor = pretrain_regressor(build_cepc_regressor(grid=grid), hits, cond, out_dir,
                                       **kwargs)
        _, val = split_train_validation(n, validation_fraction, seed)
        val_hits, val_cond = hits[val], cond[val]
    else:
        path, n = hits, cond
        from keras_fastsim.io.shower_stream import shower_file_info

        grid = shower_file_info(path)["cell_shape"]
        train, val = split_train_validation(n, validation_fraction, seed)
        val_hits, val_cond = _read_rows(path, np.sort(val))
        stream = _stream(path, indices=train, batch_size=batch_size, seed=seed,
                         structure=lambda x, y: ((x, y[:, y2]), y[:, y1] / scale))
        regressor = pretrain_regressor(build_cepc_regressor(grid=grid), val_hits, val_cond,
                                       out_dir, train_data=stream, **kwargs)
    entries: dict[str, Any] = {"model": REGRESSOR_FILE, "n_showers": int(n),
                               "grid": list(grid), "epochs": int(epochs), "seed": int(seed),
                               "streamed": mode == "stream"}
    if len(val_hits):
        estimate = regress_conditions(regressor, val_hits, val_cond)
        plot_regressor_resolution(val_cond[:, y1], estimate, out_dir / RESOLUTION_PNG,
                                  columns=REGRESSED_COLUMNS, units=REGRESSED_UNITS)
        entries.update(resolution=RESOLUTION_CSV, resolution_plot=RESOLUTION_PNG)
    update_manifest(out_dir, REGRESSOR_KIND, **entries)
    return regressor


def load_cepc_regressor(run_dir: str | os.PathLike) -> keras.Model:
    """The regressor of a ``cepc-ecal-regressor`` run, or of a ``.keras`` file (frozen)."""
    _register_layers()
    path = Path(run_dir)
    if path.suffix == ".keras" and path.is_file():
        regressor = keras.saving.load_model(path, compile=False)
    else:
        manifest = read_manifest(run_dir)
        if manifest["kind"] != REGRESSOR_KIND:
            raise RunError(
                f"{run_dir}: a {manifest['kind']!r} run, expected a {REGRESSOR_KIND!r} run "
                "(train one with 'keras-fastsim train cepc-ecal-regressor')"
            )
        regressor = keras.saving.load_model(path / manifest["model"], compile=False)
    regressor.trainable = False
    return regressor


# ------------------------------------------------------------------------------------------
# GAN
# ------------------------------------------------------------------------------------------


def train_cepc_gan_run(
    data,
    out_dir: str | os.PathLike,
    *,
    regressor: str | os.PathLike | keras.Model | None,
    noise_dim: int = 512,
    generator_steps: int = 2,
    regression_weight: float = 1.0,
    minibatch_kernels: int = 10,
    minibatch_reduction: str = "mean",
    energy_features: bool = True,
    conditional: bool = False,
    epochs: int = 50,
    batch_size: int = 64,
    d_learning_rate: float = 2e-5,
    g_learning_rate: float = 2e-4,
    beta_1: float = 0.5,
    validation_fraction: float = 0.1,
    ks_samples: int | None = 2000,
    ks_energy_column: int | None = 0,
    ks_batch_size: int = 128,
    selection_criterion: str = "ks_score",
    max_showers: int | None = None,
    in_memory_limit_gib: float = IN_MEMORY_LIMIT_GIB,
    strategy: str = "default",
    seed: int = 0,
    verbose: int | str = "auto",
):
    """Trains the CEPC ECAL GAN into a ``cepc-ecal-gan`` run directory.

    Args:
        data: HDF5 path, or a pair ``(showers (n, *grid), conditions)`` (six CEPC columns,
            physical units); the grid is read from the showers (at least 10 x 10 x 10 for
            the discriminator).
        out_dir: Run directory.
        regressor: A ``cepc-ecal-regressor`` run directory, a regressor (``.keras`` file or
            model) on the same grid, or ``None`` (no regression term).
        noise_dim, generator_steps, regression_weight: See
            :func:`keras_fastsim.models.cepc_ecal.build_cepc_gan`.
        minibatch_kernels, minibatch_reduction, energy_features, conditional: The
            discriminator's options (:func:`keras_fastsim.models.cepc_ecal.build_cepc_discriminator`).
        epochs, batch_size, d_learning_rate, g_learning_rate, beta_1, validation_fraction,
            ks_samples, ks_energy_column, ks_batch_size, selection_criterion, strategy, seed,
            verbose: See
            :func:`keras_fastsim.training.gan.train_conditional_gan` (``ks_energy_column``
            0 = Mom: the KS score includes the response E_vis / E_true).
        max_showers: Use only the first ``max_showers`` showers.
        in_memory_limit_gib: See the module docstring; a larger input is streamed.

    Returns:
        The trained :class:`~keras_fastsim.models.conditional_gan.ConditionalGAN`.
    """
    from keras_fastsim.models.cepc_ecal import build_cepc_gan
    from keras_fastsim.training.gan import (
        BEST_MODEL_FILE,
        GENERATOR_FILE,
        MODEL_FILE,
        split_train_validation,
        train_conditional_gan,
    )

    mode, hits, cond = _resolve_data(data, max_showers, in_memory_limit_gib)
    out_dir = Path(out_dir)
    regressor_run = None
    if isinstance(regressor, (str, os.PathLike)):
        regressor_run = str(regressor)
        regressor = load_cepc_regressor(regressor)
    if mode == "memory":
        n, grid = len(hits), tuple(hits.shape[1:])
    else:
        from keras_fastsim.io.shower_stream import shower_file_info

        path, n = hits, cond
        grid = shower_file_info(path)["cell_shape"]
    keras.utils.set_random_seed(int(seed))
    gan = build_cepc_gan(
        regressor, grid=grid, noise_dim=noise_dim, regression_weight=regression_weight,
        generator_steps=generator_steps, seed=seed,
        discriminator_kwargs={"minibatch_kernels": minibatch_kernels,
                              "minibatch_reduction": minibatch_reduction,
                              "energy_features": energy_features, "conditional": conditional},
    )
    kwargs = {"epochs": epochs, "batch_size": batch_size, "d_learning_rate": d_learning_rate,
              "g_learning_rate": g_learning_rate, "beta_1": beta_1,
              "validation_fraction": validation_fraction, "ks_samples": ks_samples,
              "ks_energy_column": ks_energy_column, "ks_batch_size": ks_batch_size,
              "selection_criterion": selection_criterion, "strategy": strategy, "seed": seed,
              "verbose": verbose,
              "model_settings": {"grid": [int(g) for g in grid], "minibatch_kernels": int(minibatch_kernels),
                                 "minibatch_reduction": minibatch_reduction,
                                 "energy_features": bool(energy_features),
                                 "conditional": bool(conditional),
                                 "max_showers": None if max_showers is None else int(max_showers)}}
    if mode == "memory":
        gan = train_conditional_gan(gan, hits, cond, out_dir, **kwargs)
    else:
        train, val = split_train_validation(n, validation_fraction, seed)
        val_hits, val_cond = _read_rows(path, np.sort(val))
        stream = _stream(path, indices=train, batch_size=batch_size, seed=seed)
        gan = train_conditional_gan(gan, val_hits, val_cond, out_dir, train_data=stream,
                                    **kwargs)
    best_epoch = save_selected_generator(gan, out_dir, _register_layers)
    update_manifest(
        out_dir, GAN_KIND,
        generator=SELECTED_GENERATOR_FILE, model=MODEL_FILE, last_generator=GENERATOR_FILE,
        best_model=BEST_MODEL_FILE if best_epoch is not None else None,
        best_epoch=best_epoch, selection_criterion=selection_criterion, epochs=int(epochs),
        noise_dim=int(noise_dim), grid=list(grid), regressor_run=regressor_run,
        discriminator={"minibatch_kernels": int(minibatch_kernels),
                       "minibatch_reduction": minibatch_reduction,
                       "energy_features": bool(energy_features),
                       "conditional": bool(conditional)},
        n_showers=int(n), batch_size=int(batch_size), seed=int(seed),
        streamed=mode == "stream", conditions=list(CEPC_COLUMNS),
    )
    return gan


def load_cepc_generator(source: str | os.PathLike | keras.Model) -> keras.Model:
    """The generator ``[noise, conditions (n, 6)] -> (n, *grid)`` of a GAN run or file.

    Args:
        source: A ``cepc-ecal-gan`` run directory (its selected generator), a generator
            ``.keras`` file, a whole-GAN ``.keras`` file (e.g. a checkpoint; its generator
            is taken), or a model (returned as is).
    """
    return load_generator(source, GAN_KIND, _register_layers)


def generate_cepc_showers(
    generator: keras.Model | str | os.PathLike,
    conditions,
    seed: int = 0,
    *,
    chunk_size: int = GENERATION_CHUNK,
    batch_size: int = GENERATION_BATCH,
    progress: bool = False,
) -> np.ndarray:
    """One CEPC shower per row of ``conditions``, reproducible from ``seed``.

    Args:
        generator: A generator, a ``cepc-ecal-gan`` run directory or a ``.keras`` file
            (:func:`load_cepc_generator`).
        conditions: DataFrame with Mom, theta, phi, dZ_Pos, dY_Pos, Z (GeV, deg, deg, cm,
            cm, cm) or an ``(n, 6)`` array.
        seed: Noise seed (:func:`keras_fastsim.training.shower_runs.generate_seeded`;
            matches the SavedModel for ``n <= chunk_size``).
        chunk_size: Showers per noise chunk.
        batch_size: Showers per generator call (memory; does not change the showers).
        progress: Show a progress bar.

    Returns:
        float32 ``(n, *grid)`` voxel energies in GeV.
    """
    generator = load_cepc_generator(generator)
    return generate_seeded(generator, _condition_array(conditions), seed,
                           chunk_size=chunk_size, batch_size=batch_size, progress=progress)


def read_cepc_conditions(path: str | os.PathLike) -> pd.DataFrame:
    """Conditions to generate for: HDF5 ``MC_info`` (physical units) or a .parquet/.csv table.

    The table needs the columns Mom, theta, phi, dZ_Pos, dY_Pos, Z (GeV, deg, deg, cm, cm, cm);
    a 7th HDF5 column (the authors' Y) is dropped.
    """
    return read_condition_table(path, CEPC_COLUMNS)

