"""Track tables: the user-facing format of the dE/dx models.

A track table has one row per track and the columns

========== ========================================================
species    ``pi+``, ``pi-``, ``K+``, ``K-``, ``p``, ``pbar`` (or ``e+``/``e-``);
           integer PDG codes are accepted and converted
p          momentum in GeV/c
theta      polar angle in rad
nhits      number of good hits used for dE/dx (integer >= 1)
dedx       truncated-mean dE/dx in calibrated units (MIP ~ 550)
========== ========================================================

Parquet (``.parquet``/``.pq``), CSV (``.csv``) and ROOT TTrees (``.root``, via uproot)
are read and written. Writes are atomic.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from keras_fastsim.io.atomic import atomic_path
from keras_fastsim.physics.species import SPECIES, species_from_pdg

TRACK_COLUMNS: tuple[str, ...] = ("species", "p", "theta", "nhits", "dedx")
"""Columns of a complete track table; ``dedx`` is optional for condition tables."""

_PARQUET = (".parquet", ".pq")
_CSV = (".csv",)
_ROOT = (".root",)
DEFAULT_TREE = "tracks"


class TableError(ValueError):
    """A track table that cannot be used, with the file and the problem named."""


def _format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in _PARQUET:
        return "parquet"
    if suffix in _CSV:
        return "csv"
    if suffix in _ROOT:
        return "root"
    raise TableError(
        f"{path}: unknown table format. Expected a suffix in "
        f"{list(_PARQUET + _CSV + _ROOT)}. Received: suffix={suffix!r}"
    )


def _read_root(path: Path, tree: str | None, branches: Mapping[str, str]) -> pd.DataFrame:
    import uproot

    with uproot.open(path) as file:
        trees = [k.split(";")[0] for k, cls in file.classnames().items() if cls == "TTree"]
        if tree is None:
            if len(trees) != 1:
                raise TableError(
                    f"{path}: name the TTree to read (--tree); the file holds {trees or 'none'}"
                )
            tree = trees[0]
        if tree not in trees:
            raise TableError(f"{path}: no TTree {tree!r}; the file holds {trees or 'none'}")
        ttree = file[tree]
        available = set(ttree.keys())
        wanted = {col: branches.get(col, col) for col in TRACK_COLUMNS}
        present = {col: br for col, br in wanted.items() if br in available}
        return ttree.arrays(list(present.values()), library="pd").rename(
            columns={br: col for col, br in present.items()}
        )


def validate_tracks(
    table: pd.DataFrame, *, require_dedx: bool = True, source: str = "table"
) -> pd.DataFrame:
    """Checks a track table and returns it with canonical dtypes.

    Args:
        table: The table to check.
        require_dedx: Whether the ``dedx`` column must be present.
        source: Name of the table's origin, used in error messages.

    Returns:
        A new DataFrame with ``species`` as strings, ``nhits`` as int64 and the
        float columns as float64, index reset.

    Raises:
        TableError: on a missing column, an empty table, NaN/inf values, an unknown
            species, ``nhits < 1``, ``p <= 0`` or ``theta`` outside ``[0, pi]``.
    """
    required = TRACK_COLUMNS if require_dedx else TRACK_COLUMNS[:-1]
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise TableError(f"{source}: missing column(s) {missing}; found {list(table.columns)}")
    if len(table) == 0:
        raise TableError(f"{source}: the table is empty")
    out = table.reset_index(drop=True).copy()

    species = out["species"]
    if pd.api.types.is_integer_dtype(species):
        try:
            mapping = {code: species_from_pdg(int(code)).name for code in np.unique(species)}
        except ValueError as err:
            raise TableError(f"{source}: {err}") from None
        out["species"] = species.map(mapping)
    else:
        out["species"] = species.astype(str)
    unknown = sorted(set(out["species"].unique()) - set(SPECIES))
    if unknown:
        raise TableError(
            f"{source}: unknown species {unknown}; expected names from {sorted(SPECIES)}"
        )

    float_columns = ["p", "theta"] + (["dedx"] if "dedx" in out.columns else [])
    for col in float_columns + ["nhits"]:
        try:
            values = pd.to_numeric(out[col], errors="raise").to_numpy(dtype=np.float64)
        except (ValueError, TypeError):
            raise TableError(f"{source}: column {col!r} is not numeric") from None
        bad = ~np.isfinite(values)
        if bad.any():
            raise TableError(
                f"{source}: column {col!r} has {int(bad.sum())} NaN/inf value(s), "
                f"first at row {int(np.flatnonzero(bad)[0])}"
            )
        out[col] = values
    nhits = out["nhits"].to_numpy()
    if (nhits < 1).any() or (nhits != np.round(nhits)).any():
        raise TableError(f"{source}: column 'nhits' must hold integers >= 1")
    out["nhits"] = nhits.astype(np.int64)
    if (out["p"] <= 0).any():
        raise TableError(f"{source}: column 'p' must be > 0 GeV/c")
    theta = out["theta"].to_numpy()
    if ((theta < 0) | (theta > np.pi)).any():
        raise TableError(f"{source}: column 'theta' must be in [0, pi] rad")
    return out


def read_tracks(
    path: str | os.PathLike,
    *,
    require_dedx: bool = True,
    tree: str | None = None,
    branches: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Reads and validates a track table.

    Args:
        path: A ``.parquet``/``.pq``, ``.csv`` or ``.root`` file.
        require_dedx: Whether the table must contain ``dedx``.
        tree: ROOT only: the TTree name (default: the file's only TTree).
        branches: ROOT only: map from canonical column to branch name, e.g.
            ``{"p": "mom", "dedx": "dEdx_meas"}``.

    Returns:
        The validated table (see :func:`validate_tracks`).

    Raises:
        TableError: if the file is missing, unreadable or fails validation.
    """
    path = Path(path)
    if not path.is_file():
        raise TableError(f"{path}: no such file")
    fmt = _format(path)
    try:
        if fmt == "parquet":
            table = pd.read_parquet(path)
        elif fmt == "csv":
            table = pd.read_csv(path)
        else:
            table = _read_root(path, tree, branches or {})
    except TableError:
        raise
    except Exception as err:
        raise TableError(f"{path}: cannot read {fmt} file ({type(err).__name__}: {err})") from err
    return validate_tracks(table, require_dedx=require_dedx, source=str(path))


def write_tracks(table: pd.DataFrame, path: str | os.PathLike, *, tree: str = DEFAULT_TREE) -> Path:
    """Writes a track table atomically in the format given by the suffix.

    ROOT files store ``species`` as the integer PDG code (branch ``species``).

    Returns:
        The path written.
    """
    path = Path(path)
    fmt = _format(path)
    with atomic_path(path) as tmp:
        if fmt == "parquet":
            table.to_parquet(tmp, index=False)
        elif fmt == "csv":
            table.to_csv(tmp, index=False)
        else:
            import uproot

            columns = {}
            for col in table.columns:
                if col == "species":
                    columns[col] = np.array(
                        [SPECIES[s].pdg for s in table[col]], dtype=np.int32
                    )
                else:
                    columns[col] = table[col].to_numpy()
            with uproot.recreate(tmp) as file:
                ttree = file.mktree(tree, {k: v.dtype for k, v in columns.items()})
                ttree.extend(columns)
    return path
