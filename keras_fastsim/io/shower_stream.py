"""Streaming calorimeter showers from HDF5 without loading the file (CEPC ECAL training).

A CEPC ECAL training file of 100,000 showers holds 100,000 x 30 x 30 x 29 x 4 B = 10.4 GB of
voxels: more than fits beside a training step in 24 GiB (a GAN step needs ~23.6 MiB per
shower, see ``docs/cepc_ecal.md``). :class:`HDF5ShowerDataset` reads the showers batch by
batch from the file (``Barrel_Hit`` / ``MC_info``, the layout of
:mod:`keras_fastsim.io.showers`); only the conditions (N x 6 floats) are kept in memory.

Shuffling by blocks
===================
Random single rows of a compressed, chunked HDF5 dataset are slow to read (every row
decompresses a whole chunk). The rows to serve (``indices``, e.g. a training split) are
therefore cut, in file order, into *blocks* of ``block_rows`` consecutive rows (default: the
dataset's HDF5 chunk rows, at least 16). Every epoch the blocks are permuted; consecutive
blocks are grouped into *windows* of ``window_blocks`` blocks and the rows are permuted
inside each window; the batches are consecutive slices of that order. A batch therefore
reads a few windows' worth of chunks, which h5py's chunk cache (sized to hold a window)
keeps between the batches of the window. The order of epoch ``e`` is a pure function of
``(seed, e)``; every row is served exactly once per epoch (with ``drop_remainder``, the
last incomplete batch is dropped, as in the package's in-memory pipelines).

Every call of :meth:`HDF5ShowerDataset.on_epoch_end` advances the epoch counter;
:meth:`HDF5ShowerDataset.set_epoch` sets it explicitly. Keras 3.15 (TensorFlow backend) reads
two batches to infer the dataset's specs and calls ``on_epoch_end`` once before the first
epoch, so ``fit`` serves the orders of counter values 1, 2, 3, ... (deterministic for a seed;
tested: with ``fit`` every epoch serves each row exactly once). A resumed training
(``BackupAndRestore``) restarts the counter.

Example:
    >>> ds = HDF5ShowerDataset("train.h5", batch_size=64, seed=1)
    >>> hits, conditions = ds[0]          # (64, 30, 30, 29) float32, (64, 6) float32
    >>> gan.fit(ds, epochs=2)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from keras_fastsim.io.showers import (
    CONDITIONS_DATASET,
    HITS_DATASET,
    ShowerFileError,
    check_energies,
)

__all__ = ["HDF5ShowerDataset", "shower_file_info"]

MIN_BLOCK_ROWS = 16
"""Smallest shuffling block (rows)."""


def shower_file_info(path: str | os.PathLike) -> dict[str, Any]:
    """Shape, dtype and chunking of a shower file's datasets, without reading the showers.

    Args:
        path: HDF5 file with ``Barrel_Hit`` ``(N, a, b, c)`` and ``MC_info`` ``(N, 6 or 7)``.

    Returns:
        ``{"n": N, "cell_shape": (a, b, c), "row_bytes": bytes per shower (float32),
        "chunk_rows": rows per HDF5 chunk or None, "compression": filter or None}``.

    Raises:
        FileNotFoundError: if the file does not exist.
        ShowerFileError: for a file that is not HDF5, lacks a dataset, or has bad shapes.
    """
    import h5py

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such shower file")
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise ShowerFileError(f"{path}: not a readable HDF5 file ({err})") from err
    with f:
        for name in (HITS_DATASET, CONDITIONS_DATASET):
            if name not in f or not isinstance(f[name], h5py.Dataset):
                raise ShowerFileError(
                    f"{path}: no dataset {name!r}; the file holds {sorted(f.keys()) or 'nothing'}"
                )
        hits, info = f[HITS_DATASET], f[CONDITIONS_DATASET]
        if hits.ndim != 4:
            raise ShowerFileError(
                f"{path}: {HITS_DATASET} must have 4 dimensions (N, a, b, c). "
                f"Received shape {hits.shape}"
            )
        if not np.issubdtype(hits.dtype, np.number):
            raise ShowerFileError(
                f"{path}: {HITS_DATASET} must be numeric. Received dtype {hits.dtype}"
            )
        if info.ndim != 2 or info.shape[1] not in (6, 7):
            raise ShowerFileError(
                f"{path}: {CONDITIONS_DATASET} must have shape (N, 6 or 7). "
                f"Received shape {info.shape}"
            )
        if info.shape[0] != hits.shape[0]:
            raise ShowerFileError(
                f"{path}: {HITS_DATASET} has {hits.shape[0]} showers but "
                f"{CONDITIONS_DATASET} has {info.shape[0]} rows"
            )
        return {
            "n": int(hits.shape[0]),
            "cell_shape": tuple(int(s) for s in hits.shape[1:]),
            "row_bytes": int(np.prod(hits.shape[1:])) * 4,
            "chunk_rows": int(hits.chunks[0]) if hits.chunks else None,
            "compression": hits.compression,
        }


class HDF5ShowerDataset(keras.utils.PyDataset):
    """Batches ``(hits, conditions)`` read from an HDF5 shower file, shuffled by blocks.

    Args:
        path: HDF5 file with ``Barrel_Hit`` ``(N, a, b, c)`` and ``MC_info`` ``(N, 6 or 7)``
            in physical units (the CEPC layout of :func:`keras_fastsim.io.showers.write_cepc_ecal`;
            a 7th condition column is dropped).
        batch_size: Showers per batch.
        indices: Rows of the file to serve (e.g. a training split); default all rows.
        shuffle: Shuffle by blocks every epoch (see the module docstring). ``False`` serves
            ``indices`` in increasing row order.
        seed: Seed of the shuffling; the order of epoch ``e`` depends only on ``(seed, e)``.
        block_rows: Rows per shuffling block (default: the HDF5 chunk rows, at least 16).
        window_blocks: Blocks whose rows are mixed together (default 8).
        drop_remainder: Drop the last incomplete batch (default ``True``).
        structure: Maps ``(hits, conditions)`` (float32 arrays) to what a batch is, e.g.
            ``lambda x, y: ((x, y[:, 3:]), y[:, :3])`` for a regressor. Default: the pair.
        check: Check each batch for NaN/inf and negative energies (default ``True``).
        **kwargs: ``workers``, ``use_multiprocessing``, ``max_queue_size`` of
            ``keras.utils.PyDataset``.

    Raises:
        FileNotFoundError, ShowerFileError: for a missing or unusable file (at construction,
            or when a batch holds bad energies).
        ValueError: for bad arguments.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        batch_size: int,
        *,
        indices: Sequence[int] | np.ndarray | None = None,
        shuffle: bool = True,
        seed: int = 0,
        block_rows: int | None = None,
        window_blocks: int = 8,
        drop_remainder: bool = True,
        structure: Callable[[np.ndarray, np.ndarray], Any] | None = None,
        check: bool = True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(batch_size) < 1:
            raise ValueError(f"`batch_size` must be >= 1. Received: batch_size={batch_size}")
        if int(window_blocks) < 1:
            raise ValueError(
                f"`window_blocks` must be >= 1. Received: window_blocks={window_blocks}"
            )
        if block_rows is not None and int(block_rows) < 1:
            raise ValueError(f"`block_rows` must be >= 1. Received: block_rows={block_rows}")
        self.path = Path(path)
        self.info = shower_file_info(self.path)
        n = self.info["n"]
        if indices is None:
            rows = np.arange(n, dtype=np.int64)
        else:
            rows = np.asarray(indices)
            if rows.ndim != 1 or not np.issubdtype(rows.dtype, np.integer):
                raise ValueError(
                    f"`indices` must be a 1-D sequence of integers. Received: shape {rows.shape}, "
                    f"dtype {rows.dtype}"
                )
            rows = np.unique(rows.astype(np.int64))
            if len(rows) != len(indices):
                raise ValueError("`indices` must not repeat rows. Received repeated rows")
            if len(rows) and (rows[0] < 0 or rows[-1] >= n):
                raise ValueError(
                    f"`indices` must lie in [0, {n}) for {self.path}. "
                    f"Received: min {rows[0]}, max {rows[-1]}"
                )
        self.rows = rows
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        chunk = self.info["chunk_rows"] or MIN_BLOCK_ROWS
        self.block_rows = int(block_rows) if block_rows is not None else max(chunk, MIN_BLOCK_ROWS)
        self.window_blocks = int(window_blocks)
        self.drop_remainder = bool(drop_remainder)
        self.structure = structure
        self.check = bool(check)
        if self.drop_remainder and len(rows) < self.batch_size:
            raise ValueError(
                f"{self.path}: {len(rows)} showers to serve < batch_size, so no full batch. "
                f"Received: batch_size={batch_size}"
            )
        self.conditions = self._read_conditions()
        self.epoch = 0
        self._order = self.epoch_order(0)
        self._file = None
        self._pid = None

    # ------------------------------------------------------------------ order

    def _read_conditions(self) -> np.ndarray:
        import h5py

        with h5py.File(self.path, "r") as f:
            info = np.asarray(f[CONDITIONS_DATASET][()])
        if not np.issubdtype(info.dtype, np.number):
            raise ShowerFileError(
                f"{self.path}: {CONDITIONS_DATASET} must be numeric. Received dtype {info.dtype}"
            )
        info = info[:, :6].astype(np.float32)
        bad = ~np.isfinite(info[self.rows])
        if bad.any():
            row = int(self.rows[np.argwhere(bad)[0][0]])
            raise ShowerFileError(
                f"{self.path}: {CONDITIONS_DATASET} holds {int(bad.sum())} NaN/inf values "
                f"(first at row {row})"
            )
        return info

    def epoch_order(self, epoch: int) -> np.ndarray:
        """The file rows in the order served in ``epoch`` (all rows, before batching)."""
        if not self.shuffle:
            return self.rows.copy()
        rng = np.random.default_rng([self.seed, int(epoch)])
        blocks = [self.rows[i:i + self.block_rows]
                  for i in range(0, len(self.rows), self.block_rows)]
        blocks = [blocks[i] for i in rng.permutation(len(blocks))]
        out = []
        for start in range(0, len(blocks), self.window_blocks):
            window = np.concatenate(blocks[start:start + self.window_blocks])
            out.append(window[rng.permutation(len(window))])
        return np.concatenate(out) if out else self.rows.copy()

    def set_epoch(self, epoch: int) -> None:
        """Serves the order of ``epoch`` from now on."""
        if int(epoch) < 0:
            raise ValueError(f"`epoch` must be >= 0. Received: epoch={epoch}")
        self.epoch = int(epoch)
        self._order = self.epoch_order(self.epoch)

    def on_epoch_end(self):
        self.set_epoch(self.epoch + 1)

    # ------------------------------------------------------------------ reading

    @property
    def num_batches(self) -> int:
        n = len(self.rows)
        return n // self.batch_size if self.drop_remainder else -(-n // self.batch_size)

    def __len__(self) -> int:
        return self.num_batches

    def _dataset(self):
        import h5py

        if self._file is None or self._pid != os.getpid():
            window_bytes = self.block_rows * self.window_blocks * self.info["row_bytes"]
            # h5py caches decompressed chunks per dataset; hold a window (+ margin).
            self._file = h5py.File(self.path, "r", rdcc_nbytes=int(1.25 * window_bytes) + (1 << 20),
                                   rdcc_nslots=10007)
            self._pid = os.getpid()
        return self._file[HITS_DATASET]

    def rows_of_batch(self, index: int) -> np.ndarray:
        """File rows of batch ``index`` of the current epoch."""
        if not 0 <= int(index) < len(self):
            raise IndexError(f"Batch index out of range [0, {len(self)}). Received: {index}")
        start = int(index) * self.batch_size
        return self._order[start:start + self.batch_size]

    def read(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Showers and conditions of the file ``rows`` (any order), float32."""
        rows = np.asarray(rows, np.int64)
        order = np.argsort(rows, kind="stable")
        sorted_rows = rows[order]
        hits = np.asarray(self._dataset()[sorted_rows], dtype=np.float32)
        inverse = np.empty_like(order)
        inverse[order] = np.arange(len(order))
        hits = hits[inverse]
        if self.check:
            try:
                check_energies(hits, what=f"{self.path}: {HITS_DATASET} (rows of this batch)")
            except ShowerFileError as err:
                raise ShowerFileError(f"{err}; batch rows {rows[:8].tolist()}...") from None
        return hits, self.conditions[rows]

    def __getitem__(self, index):
        hits, conditions = self.read(self.rows_of_batch(index))
        if self.structure is not None:
            return self.structure(hits, conditions)
        return hits, conditions

    def close(self) -> None:
        """Closes the HDF5 file (reopened on the next read)."""
        if self._file is not None:
            self._file.close()
        self._file = None

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_file"] = None
        state["_pid"] = None
        return state
