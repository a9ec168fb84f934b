"""Reading and writing users' files."""

from keras_fastsim.io.atomic import atomic_directory, atomic_path
from keras_fastsim.io.showers import (
    ShowerFileError,
    read_besiii_emc,
    read_cepc_ecal,
    write_besiii_emc,
    write_cepc_ecal,
)
from keras_fastsim.io.tables import (
    TRACK_COLUMNS,
    TableError,
    read_tracks,
    validate_tracks,
    write_tracks,
)

__all__ = [
    "TRACK_COLUMNS",
    "ShowerFileError",
    "TableError",
    "atomic_directory",
    "atomic_path",
    "read_besiii_emc",
    "read_cepc_ecal",
    "read_tracks",
    "validate_tracks",
    "write_besiii_emc",
    "write_cepc_ecal",
    "write_tracks",
]
