"""Streaming showers from HDF5 (keras_fastsim.io.shower_stream.HDF5ShowerDataset)."""

import h5py
import numpy as np
import pandas as pd
import pytest

from keras_fastsim.io.shower_stream import HDF5ShowerDataset, shower_file_info
from keras_fastsim.io.showers import ShowerFileError, write_cepc_ecal

GRID = (6, 6, 5)


def _file(path, n=103, compression="lzf"):
    """Showers whose every voxel holds the row number (so a batch names its rows)."""
    hits = np.broadcast_to(np.arange(n, dtype=np.float32)[:, None, None, None], (n, *GRID))
    cond = pd.DataFrame({"Mom": np.arange(n) + 1.0, "theta": 90.0, "phi": 0.0,
                         "dZ_Pos": 0.0, "dY_Pos": 0.0, "Z": np.arange(n) * 0.5})
    write_cepc_ecal(path, np.ascontiguousarray(hits), cond, compression=compression)
    return path


@pytest.fixture(scope="module")
def shower_file(tmp_path_factory):
    return _file(tmp_path_factory.mktemp("stream") / "showers.h5")


def _epoch_rows(ds):
    return np.concatenate([ds.rows_of_batch(i) for i in range(len(ds))])


def test_batches_have_the_file_rows(shower_file):
    ds = HDF5ShowerDataset(shower_file, 16, seed=3)
    assert len(ds) == 103 // 16
    for i in (0, len(ds) - 1):
        hits, cond = ds[i]
        rows = ds.rows_of_batch(i)
        assert hits.shape == (16, *GRID) and hits.dtype == np.float32
        assert cond.shape == (16, 6) and cond.dtype == np.float32
        np.testing.assert_array_equal(hits[:, 0, 0, 0], rows)  # voxel value = row number
        np.testing.assert_array_equal(cond[:, 0], rows + 1.0)
        assert (hits == hits[:, :1, :1, :1]).all()


def test_every_row_once_per_epoch_and_seeded_order(shower_file):
    ds = HDF5ShowerDataset(shower_file, 10, seed=5, drop_remainder=False, block_rows=4,
                           window_blocks=3)
    assert len(ds) == 11
    first = _epoch_rows(ds)
    np.testing.assert_array_equal(np.sort(first), np.arange(103))
    assert not np.array_equal(first, np.arange(103))  # shuffled
    np.testing.assert_array_equal(first, _epoch_rows(HDF5ShowerDataset(
        shower_file, 10, seed=5, drop_remainder=False, block_rows=4, window_blocks=3)))
    ds.on_epoch_end()
    second = _epoch_rows(ds)
    np.testing.assert_array_equal(np.sort(second), np.arange(103))
    assert not np.array_equal(first, second)
    ds.set_epoch(0)
    np.testing.assert_array_equal(_epoch_rows(ds), first)
    other = HDF5ShowerDataset(shower_file, 10, seed=6, drop_remainder=False, block_rows=4,
                              window_blocks=3)
    assert not np.array_equal(_epoch_rows(other), first)
    # rows are mixed inside windows of 3 whole blocks of 4 consecutive file rows
    order = HDF5ShowerDataset(shower_file, 10, indices=np.arange(96), seed=5, block_rows=4,
                              window_blocks=3).epoch_order(0)
    for i in range(0, 96, 12):
        blocks, counts = np.unique(order[i:i + 12] // 4, return_counts=True)
        assert len(blocks) == 3 and (counts == 4).all()


def test_indices_drop_remainder_and_no_shuffle(shower_file):
    rows = np.arange(0, 103, 3)
    ds = HDF5ShowerDataset(shower_file, 8, indices=rows[::-1], shuffle=False)
    assert len(ds) == len(rows) // 8
    np.testing.assert_array_equal(_epoch_rows(ds), rows[:len(ds) * 8])
    hits, _ = ds[1]
    np.testing.assert_array_equal(hits[:, 0, 0, 0], rows[8:16])
    seen = _epoch_rows(HDF5ShowerDataset(shower_file, 8, indices=rows, seed=1))
    assert set(seen) <= set(rows) and len(set(seen)) == len(seen) == 32
    with pytest.raises(IndexError):
        ds[len(ds)]


def test_structure_maps_a_batch(shower_file):
    ds = HDF5ShowerDataset(shower_file, 4, shuffle=False,
                           structure=lambda x, y: ((x, y[:, 3:]), y[:, :3] / 100.0))
    (hits, y2), y1 = ds[0]
    assert hits.shape == (4, *GRID) and y2.shape == (4, 3)
    np.testing.assert_allclose(y1[:, 0], np.arange(1, 5) / 100.0)


def test_file_info(shower_file):
    info = shower_file_info(shower_file)
    assert info["n"] == 103 and info["cell_shape"] == GRID
    assert info["row_bytes"] == 180 * 4 and info["chunk_rows"] >= 1


def test_bad_files_and_arguments(shower_file, tmp_path):
    with pytest.raises(FileNotFoundError, match="no such shower file"):
        HDF5ShowerDataset(tmp_path / "none.h5", 4)
    text = tmp_path / "text.h5"
    text.write_text("not hdf5")
    with pytest.raises(ShowerFileError, match="not a readable HDF5"):
        HDF5ShowerDataset(text, 4)
    with h5py.File(tmp_path / "nohits.h5", "w") as f:
        f["MC_info"] = np.zeros((5, 6))
    with pytest.raises(ShowerFileError, match="no dataset 'Barrel_Hit'"):
        HDF5ShowerDataset(tmp_path / "nohits.h5", 4)
    with h5py.File(tmp_path / "flat.h5", "w") as f:
        f["Barrel_Hit"] = np.zeros((5, 6, 6))
        f["MC_info"] = np.zeros((5, 6))
    with pytest.raises(ShowerFileError, match="4 dimensions"):
        HDF5ShowerDataset(tmp_path / "flat.h5", 4)
    with h5py.File(tmp_path / "rows.h5", "w") as f:
        f["Barrel_Hit"] = np.zeros((5, *GRID))
        f["MC_info"] = np.zeros((4, 6))
    with pytest.raises(ShowerFileError, match="has 5 showers but MC_info has 4 rows"):
        HDF5ShowerDataset(tmp_path / "rows.h5", 4)
    with h5py.File(tmp_path / "nan.h5", "w") as f:
        hits = np.zeros((8, *GRID), np.float32)
        hits[6, 1, 1, 1] = np.nan
        f["Barrel_Hit"] = hits
        cond = np.ones((8, 6))
        f["MC_info"] = cond
    ds = HDF5ShowerDataset(tmp_path / "nan.h5", 4, shuffle=False)
    ds[0]  # rows 0-3 are fine
    with pytest.raises(ShowerFileError, match="NaN/inf energies"):
        ds[1]
    with h5py.File(tmp_path / "nancond.h5", "w") as f:
        f["Barrel_Hit"] = np.zeros((8, *GRID), np.float32)
        cond[2, 4] = np.inf
        f["MC_info"] = cond
    with pytest.raises(ShowerFileError, match="MC_info holds 1 NaN/inf"):
        HDF5ShowerDataset(tmp_path / "nancond.h5", 4)
    with pytest.raises(ValueError, match="no full batch"):
        HDF5ShowerDataset(shower_file, 200)
    with pytest.raises(ValueError, match="batch_size"):
        HDF5ShowerDataset(shower_file, 0)
    with pytest.raises(ValueError, match="must lie in"):
        HDF5ShowerDataset(shower_file, 4, indices=[0, 103])
    with pytest.raises(ValueError, match="must not repeat"):
        HDF5ShowerDataset(shower_file, 1, indices=[1, 1, 2])


class _Recording(HDF5ShowerDataset):
    """Records the file rows of the batches served in each epoch (Keras' epoch calls)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.epochs = []
        self.current = []  # batches Keras reads before the first epoch (to infer the specs)

    def on_epoch_begin(self):
        self.current = []
        self.epochs.append(self.current)

    def __getitem__(self, index):
        self.current.append(self.rows_of_batch(index))
        return super().__getitem__(index)


def test_keras_fit_serves_every_row_once_per_epoch(shower_file):
    import keras

    ds = _Recording(shower_file, 10, indices=np.arange(100), seed=2,
                    structure=lambda x, y: (x.reshape(len(x), -1), y[:, :1]))
    model = keras.Sequential([keras.Input((180,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    model.fit(ds, epochs=3, verbose=0)
    served = np.array([np.concatenate(batches) for batches in ds.epochs])
    assert served.shape == (3, 100)
    for epoch in served:
        np.testing.assert_array_equal(np.sort(epoch), np.arange(100))
    assert len({tuple(e) for e in served}) == 3  # a new order every epoch
