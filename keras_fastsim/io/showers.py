"""Calorimeter shower files (HDF5) in the layout of the original authors' code.

BESIII EMC (wenxingfang/GANforBES3 layout)
------------------------------------------
``Barrel_Hit``  float32 ``(N, 11, 11, 1)``: deposited energy (GeV) of the 11 x 11 crystals
                around the track hit, row = phi, column = Z; the hit crystal is ``[5, 5]``.
``MC_info``     float32 ``(N, 6)``: Mom, dTheta_Mom, dPhi_Mom, dZ_Pos, dPhi_Pos, Z *normalised*
                as Mom/1, dTheta/5, dPhi/10, dZ/2, dPhi_pos/2, Z/150 (physical units GeV/c, deg,
                deg, cm, cm, cm before dividing).

The authors' ``root2hdf5`` scripts stored ``MC_info`` in physical units and normalised in the
training code; both variants are read. Files written here carry the attribute
``MC_info.attrs["normalised"]``; without it (users' files), ``mc_info="auto"`` decides by the Z
column: ``max |Z| <= 1.5`` means normalised (physical |Z| reaches ~140 cm).

CEPC ECAL (wenxingfang/GANforCEPC layout)
-----------------------------------------
``Barrel_Hit``  float32 ``(N, n_z, n_y, n_layers)`` e.g. ``(N, 30, 30, 29)``: energy in GeV
                (calibrated or visible, recorded in ``Barrel_Hit.attrs["energy"]``), axes
                (dZ, dY, layer).
``MC_info``     float32 ``(N, 6)``: Mom (GeV), theta (deg), phi (deg), dZ_Pos, dY_Pos, Z (cm),
                physical units. The authors' 7-column files (a 7th column Y) are read with the
                7th column dropped.

Writes are atomic (:func:`keras_fastsim.io.atomic.atomic_path`). Every problem with a file is a
:class:`ShowerFileError` naming the file and the problem.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from keras_fastsim.io.atomic import atomic_path

__all__ = [
    "BESIII_COLUMNS",
    "BESIII_NORMALISATION",
    "CEPC_COLUMNS",
    "CONDITIONS_DATASET",
    "HITS_DATASET",
    "ShowerFileError",
    "read_besiii_emc",
    "read_cepc_ecal",
    "write_besiii_emc",
    "write_cepc_ecal",
]

HITS_DATASET = "Barrel_Hit"
CONDITIONS_DATASET = "MC_info"
BESIII_COLUMNS: tuple[str, ...] = ("Mom", "dTheta_Mom", "dPhi_Mom", "dZ_Pos", "dPhi_Pos", "Z")
BESIII_NORMALISATION: tuple[float, ...] = (1.0, 5.0, 10.0, 2.0, 2.0, 150.0)
"""``MC_info`` = physical / normalisation, column by column."""
CEPC_COLUMNS: tuple[str, ...] = ("Mom", "theta", "phi", "dZ_Pos", "dY_Pos", "Z")
CEPC_UNITS: tuple[str, ...] = ("GeV", "deg", "deg", "cm", "cm", "cm")
BESIII_UNITS: tuple[str, ...] = ("GeV/c", "deg", "deg", "cm", "cm", "cm")


class ShowerFileError(ValueError):
    """A shower file (or the arrays meant for one) that cannot be used; names file and problem."""


# ------------------------------------------------------------------------------------------
# checks shared by readers and writers
# ------------------------------------------------------------------------------------------


def check_energies(hits: np.ndarray, *, what: str, error: type[ValueError] = ShowerFileError,
                   unit: str = " GeV") -> None:
    """Raises ``error`` naming the first bad shower if ``hits`` holds NaN/inf or negative values.

    Args:
        hits: ``(n, ...)`` array of cell energies.
        what: How the array is named in the message (file and dataset, or argument).
        error: The exception class to raise.
        unit: Unit printed after the minimum energy.
    """
    bad = ~np.isfinite(hits)
    if bad.any():
        first = int(np.argwhere(bad)[0][0])
        raise error(f"{what} holds {int(bad.sum())} NaN/inf energies (first in shower {first})")
    if (hits < 0).any():
        first = int(np.argwhere(hits < 0)[0][0])
        raise error(
            f"{what} holds {int((hits < 0).sum())} negative energies "
            f"(first in shower {first}, min {float(hits.min()):.4g}{unit})"
        )


def _check_hits(path, hits: np.ndarray, *, trailing: tuple | None, what: str) -> np.ndarray:
    hits = np.asarray(hits)
    if hits.ndim != 4:
        raise ShowerFileError(
            f"{path}: {what} must have 4 dimensions (N, a, b, c). Received shape {hits.shape}"
        )
    if trailing is not None:
        for got, want in zip(hits.shape[1:], trailing):
            if want is not None and got != want:
                raise ShowerFileError(
                    f"{path}: {what} must have shape (N, {', '.join(map(str, trailing))}). "
                    f"Received shape {hits.shape}"
                )
    if not np.issubdtype(hits.dtype, np.number):
        raise ShowerFileError(f"{path}: {what} must be numeric. Received dtype {hits.dtype}")
    hits = hits.astype(np.float32, copy=False)
    check_energies(hits, what=f"{path}: {what}")
    return hits


def _check_info(path, info: np.ndarray, n: int, *, widths: tuple[int, ...], what: str):
    info = np.asarray(info)
    if info.ndim != 2 or info.shape[1] not in widths:
        raise ShowerFileError(
            f"{path}: {what} must have shape (N, {' or '.join(map(str, widths))}). "
            f"Received shape {info.shape}"
        )
    if info.shape[0] != n:
        raise ShowerFileError(
            f"{path}: {HITS_DATASET} has {n} showers but {what} has {info.shape[0]} rows"
        )
    if not np.issubdtype(info.dtype, np.number):
        raise ShowerFileError(f"{path}: {what} must be numeric. Received dtype {info.dtype}")
    info = info.astype(np.float64, copy=False)
    bad = ~np.isfinite(info)
    if bad.any():
        row, col = (int(x) for x in np.argwhere(bad)[0])
        raise ShowerFileError(
            f"{path}: {what} holds {int(bad.sum())} NaN/inf values (first at row {row}, "
            f"column {col})"
        )
    return info


def _conditions_array(path, conditions, columns: tuple[str, ...]) -> np.ndarray:
    if isinstance(conditions, pd.DataFrame):
        missing = [c for c in columns if c not in conditions.columns]
        if missing:
            raise ShowerFileError(
                f"{path}: conditions lack the columns {missing}; expected {list(columns)}. "
                f"Received columns {list(conditions.columns)}"
            )
        conditions = conditions[list(columns)].to_numpy()
    return np.asarray(conditions)


def _open_read(path):
    import h5py

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such shower file")
    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise ShowerFileError(f"{path}: not a readable HDF5 file ({err})") from err


def _dataset(path, f, name: str, n_max: int | None):
    import h5py

    if name not in f or not isinstance(f[name], h5py.Dataset):
        raise ShowerFileError(
            f"{path}: no dataset {name!r}; the file holds {sorted(f.keys()) or 'nothing'}"
        )
    ds = f[name]
    data = ds[:n_max] if (n_max is not None and ds.ndim > 0) else ds[()]
    return data, dict(ds.attrs)


def _write(path, datasets: dict, file_attrs: dict, compression: str | None) -> None:
    import h5py

    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            for key, value in file_attrs.items():
                f.attrs[key] = value
            for name, (data, attrs) in datasets.items():
                kwargs = {}
                if compression is not None and data.size and data.ndim > 1:
                    chunk_rows = max(1, min(data.shape[0], (1 << 20) // max(1, data[0].nbytes)))
                    kwargs = {"compression": compression, "chunks": (chunk_rows, *data.shape[1:])}
                ds = f.create_dataset(name, data=data, **kwargs)
                for key, value in attrs.items():
                    ds.attrs[key] = value


# ------------------------------------------------------------------------------------------
# BESIII EMC
# ------------------------------------------------------------------------------------------


def write_besiii_emc(
    path: str | os.PathLike, hits, conditions, *, window: int = 11,
    compression: str | None = "lzf",
) -> Path:
    """Writes BESIII EMC showers: ``Barrel_Hit`` (N, 11, 11, 1) and normalised ``MC_info``.

    Args:
        path: destination ``.h5`` file (replaced atomically).
        hits: ``(N, window, window, 1)`` deposited energies (GeV), finite and >= 0.
        conditions: DataFrame with :data:`BESIII_COLUMNS` in physical units (GeV/c, deg, deg,
            cm, cm, cm), or an ``(N, 6)`` array in that column order.
        compression: h5py filter (``"lzf"``, ``"gzip"`` or ``None``).
    """
    path = Path(path)
    hits = _check_hits(path, hits, trailing=(window, window, 1), what=HITS_DATASET)
    info = _check_info(path, _conditions_array(path, conditions, BESIII_COLUMNS), hits.shape[0],
                       widths=(6,), what="conditions")
    normalised = (info / np.asarray(BESIII_NORMALISATION)).astype(np.float32)
    info_attrs = {
        "columns": list(BESIII_COLUMNS),
        "units": list(BESIII_UNITS),
        "normalisation": np.asarray(BESIII_NORMALISATION),
        "normalised": True,
    }
    _write(
        path,
        {HITS_DATASET: (hits, {"units": "GeV", "axes": "N, phi, Z, 1"}),
         CONDITIONS_DATASET: (normalised, info_attrs)},
        {"format": "keras_fastsim.besiii_emc", "version": 1},
        compression,
    )
    return path


def read_besiii_emc(
    path: str | os.PathLike, *, mc_info: str = "auto", window: int = 11,
    n_max: int | None = None,
) -> tuple[np.ndarray, pd.DataFrame]:
    """Reads a BESIII EMC shower file; returns ``(hits, conditions)`` in physical units.

    Args:
        path: HDF5 file with ``Barrel_Hit`` and ``MC_info``.
        mc_info: ``"normalised"`` (Mom, dTheta/5, dPhi/10, dZ/2, dPhi_pos/2, Z/150),
            ``"physical"``, or ``"auto"`` (the file's ``normalised`` attribute, else
            normalised when ``max |Z column| <= 1.5``).
        window: expected crystal window (11).
        n_max: read at most this many showers.

    Returns:
        ``hits`` float32 ``(N, window, window, 1)`` in GeV and a DataFrame with
        :data:`BESIII_COLUMNS` (GeV/c, deg, deg, cm, cm, cm).
    """
    if mc_info not in ("auto", "normalised", "physical"):
        raise ValueError(f"mc_info must be 'auto', 'normalised' or 'physical'. Got {mc_info!r}")
    path = Path(path)
    with _open_read(path) as f:
        hits, _ = _dataset(path, f, HITS_DATASET, n_max)
        info, attrs = _dataset(path, f, CONDITIONS_DATASET, n_max)
    hits = _check_hits(path, hits, trailing=(window, window, 1), what=HITS_DATASET)
    info = _check_info(path, info, hits.shape[0], widths=(6,), what=CONDITIONS_DATASET)
    if mc_info == "auto":
        if "normalised" in attrs:
            normalised = bool(attrs["normalised"])
        else:
            normalised = info.shape[0] == 0 or float(np.abs(info[:, 5]).max()) <= 1.5
    else:
        normalised = mc_info == "normalised"
    if normalised:
        info = info * np.asarray(BESIII_NORMALISATION)
    return hits, pd.DataFrame(info, columns=list(BESIII_COLUMNS))


# ------------------------------------------------------------------------------------------
# CEPC ECAL
# ------------------------------------------------------------------------------------------


def write_cepc_ecal(
    path: str | os.PathLike, voxels, conditions, *, energy: str = "calibrated",
    compression: str | None = "lzf",
) -> Path:
    """Writes CEPC ECAL showers: ``Barrel_Hit`` (N, n_z, n_y, n_layers), ``MC_info`` (N, 6).

    Args:
        path: destination ``.h5`` file (replaced atomically).
        voxels: ``(N, n_z, n_y, n_layers)`` energies in GeV, finite and >= 0.
        conditions: DataFrame with :data:`CEPC_COLUMNS` (GeV, deg, deg, cm, cm, cm) or an
            ``(N, 6)`` array in that order; stored in physical units.
        energy: what the voxel energy is, ``"calibrated"`` or ``"visible"`` (a file attribute).
        compression: h5py filter (``"lzf"``, ``"gzip"`` or ``None``).
    """
    if energy not in ("calibrated", "visible"):
        raise ValueError(f"energy must be 'calibrated' or 'visible'. Received {energy!r}")
    path = Path(path)
    voxels = _check_hits(path, voxels, trailing=None, what=HITS_DATASET)
    info = _check_info(path, _conditions_array(path, conditions, CEPC_COLUMNS), voxels.shape[0],
                       widths=(6,), what="conditions")
    _write(
        path,
        {HITS_DATASET: (voxels, {"units": "GeV", "energy": energy, "axes": "N, Z, Y, layer"}),
         CONDITIONS_DATASET: (info.astype(np.float32),
                              {"columns": list(CEPC_COLUMNS), "units": list(CEPC_UNITS),
                               "normalised": False})},
        {"format": "keras_fastsim.cepc_ecal", "version": 1},
        compression,
    )
    return path


def read_cepc_ecal(
    path: str | os.PathLike, *, grid: tuple[int, int, int] | None = None,
    n_max: int | None = None,
) -> tuple[np.ndarray, pd.DataFrame]:
    """Reads a CEPC ECAL shower file; returns ``(voxels, conditions)``.

    Args:
        path: HDF5 file with ``Barrel_Hit`` (N, n_z, n_y, n_layers) and ``MC_info`` (N, 6 or 7;
            a 7th column, the authors' Y, is dropped).
        grid: expected ``(n_z, n_y, n_layers)``; ``None`` accepts any.
        n_max: read at most this many showers.

    Returns:
        ``voxels`` float32 in GeV and a DataFrame with :data:`CEPC_COLUMNS`.
    """
    path = Path(path)
    with _open_read(path) as f:
        voxels, _ = _dataset(path, f, HITS_DATASET, n_max)
        info, _ = _dataset(path, f, CONDITIONS_DATASET, n_max)
    voxels = _check_hits(path, voxels, trailing=tuple(grid) if grid else None, what=HITS_DATASET)
    info = _check_info(path, info, voxels.shape[0], widths=(6, 7), what=CONDITIONS_DATASET)
    return voxels, pd.DataFrame(info[:, :6], columns=list(CEPC_COLUMNS))
