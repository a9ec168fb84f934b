"""Reading and writing users' files."""

from keras_fastsim.io.atomic import atomic_directory, atomic_path
from keras_fastsim.io.tables import (
    TRACK_COLUMNS,
    TableError,
    read_tracks,
    validate_tracks,
    write_tracks,
)

__all__ = [
    "TRACK_COLUMNS",
    "TableError",
    "atomic_directory",
    "atomic_path",
    "read_tracks",
    "validate_tracks",
    "write_tracks",
]
