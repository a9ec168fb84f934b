"""HDF5 shower files in the authors' layouts: round trips and every error case."""

from __future__ import annotations

import h5py
import numpy as np
import pandas as pd
import pytest

from keras_fastsim.io.showers import (
    BESIII_COLUMNS,
    BESIII_NORMALISATION,
    CEPC_COLUMNS,
    ShowerFileError,
    read_besiii_emc,
    read_cepc_ecal,
    write_besiii_emc,
    write_cepc_ecal,
)


def _besiii(n=20, seed=0):
    rng = np.random.default_rng(seed)
    hits = rng.exponential(0.05, (n, 11, 11, 1)).astype(np.float32)
    conditions = pd.DataFrame(
        {"Mom": rng.uniform(1, 2, n), "dTheta_Mom": rng.normal(0, 2, n),
         "dPhi_Mom": rng.normal(0, 6, n), "dZ_Pos": rng.uniform(-2.6, 2.6, n),
         "dPhi_Pos": rng.uniform(-2.6, 2.6, n), "Z": rng.uniform(-140, 140, n)}
    )
    return hits, conditions


def _cepc(n=6, grid=(30, 30, 29), seed=0):
    rng = np.random.default_rng(seed)
    voxels = (rng.exponential(0.01, (n, *grid)) * (rng.random((n, *grid)) < 0.1)).astype(
        np.float32
    )
    conditions = pd.DataFrame(
        {"Mom": rng.uniform(1, 100, n), "theta": rng.uniform(50, 140, n),
         "phi": rng.uniform(-15, 15, n), "dZ_Pos": rng.uniform(-0.5, 0.5, n),
         "dY_Pos": rng.uniform(-0.5, 0.5, n), "Z": rng.uniform(-150, 150, n)}
    )
    return voxels, conditions


def test_besiii_round_trip_and_normalised_layout(tmp_path):
    hits, conditions = _besiii()
    path = write_besiii_emc(tmp_path / "bes.h5", hits, conditions)
    with h5py.File(path, "r") as f:
        assert f["Barrel_Hit"].shape == (20, 11, 11, 1)
        assert f["MC_info"].shape == (20, 6)
        stored = f["MC_info"][()]
    np.testing.assert_allclose(stored, conditions.to_numpy() / BESIII_NORMALISATION, rtol=1e-6)
    assert np.abs(stored[:, 5]).max() <= 1.0          # Z/150
    back_hits, back = read_besiii_emc(path)
    np.testing.assert_array_equal(back_hits, hits)
    assert list(back.columns) == list(BESIII_COLUMNS)
    np.testing.assert_allclose(back.to_numpy(), conditions.to_numpy(), rtol=1e-5, atol=1e-5)
    # an (N, 6) array in column order is accepted too; n_max reads a prefix
    write_besiii_emc(tmp_path / "arr.h5", hits, conditions.to_numpy(), compression=None)
    first, cond_first = read_besiii_emc(tmp_path / "arr.h5", n_max=5)
    assert first.shape == (5, 11, 11, 1) and len(cond_first) == 5


@pytest.mark.parametrize("stored_as", ["normalised", "physical"])
def test_besiii_reads_the_authors_files_without_attributes(tmp_path, stored_as):
    hits, conditions = _besiii()
    info = conditions.to_numpy()
    if stored_as == "normalised":
        info = info / BESIII_NORMALISATION
    path = tmp_path / "authors.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("Barrel_Hit", data=hits)
        f.create_dataset("MC_info", data=info.astype(np.float32))
    _, back = read_besiii_emc(path)   # auto-detected from the Z column
    np.testing.assert_allclose(back.to_numpy(), conditions.to_numpy(), rtol=1e-5, atol=1e-4)
    _, forced = read_besiii_emc(path, mc_info="physical")
    np.testing.assert_allclose(forced.to_numpy(), info, rtol=1e-5, atol=1e-6)


def test_cepc_round_trip(tmp_path):
    voxels, conditions = _cepc()
    path = write_cepc_ecal(tmp_path / "cepc.h5", voxels, conditions, compression="gzip")
    with h5py.File(path, "r") as f:
        assert f["Barrel_Hit"].attrs["energy"] == "calibrated"
        np.testing.assert_allclose(f["MC_info"][()], conditions.to_numpy(), rtol=1e-6)
    back_voxels, back = read_cepc_ecal(path, grid=(30, 30, 29))
    np.testing.assert_array_equal(back_voxels, voxels)
    assert list(back.columns) == list(CEPC_COLUMNS)
    np.testing.assert_allclose(back.to_numpy(), conditions.to_numpy(), rtol=1e-5, atol=1e-5)
    # the authors' 31 x 31 x 29 files with a 7-column MC_info (7th = Y)
    v31, c31 = _cepc(grid=(31, 31, 29))
    authors = tmp_path / "authors.h5"
    with h5py.File(authors, "w") as f:
        f.create_dataset("Barrel_Hit", data=v31)
        f.create_dataset("MC_info", data=np.c_[c31.to_numpy(), np.ones(len(c31))])
    got, got_c = read_cepc_ecal(authors)
    assert got.shape == (6, 31, 31, 29) and got_c.shape == (6, 6)
    with pytest.raises(ShowerFileError, match=r"\(N, 30, 30, 29\)"):
        read_cepc_ecal(authors, grid=(30, 30, 29))


def test_reference_generators_round_trip(tmp_path):
    from keras_fastsim.reference.calorimeter import (
        generate_besiii_emc,
        generate_cepc_ecal,
    )

    hits, conditions = generate_besiii_emc(8, seed=1)
    back_hits, back = read_besiii_emc(write_besiii_emc(tmp_path / "b.h5", hits, conditions))
    np.testing.assert_array_equal(back_hits, hits)
    np.testing.assert_allclose(back.to_numpy(), conditions.to_numpy(), rtol=1e-5, atol=1e-4)
    voxels, cond = generate_cepc_ecal(3, seed=1)
    back_v, _ = read_cepc_ecal(write_cepc_ecal(tmp_path / "c.h5", voxels, cond))
    np.testing.assert_array_equal(back_v, voxels)


# --- errors ---------------------------------------------------------------------------------


def _raw(path, **datasets):
    with h5py.File(path, "w") as f:
        for name, data in datasets.items():
            f.create_dataset(name, data=data)
    return path


def test_missing_file_and_not_hdf5(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.h5"):
        read_besiii_emc(tmp_path / "nope.h5")
    junk = tmp_path / "junk.h5"
    junk.write_text("not hdf5")
    with pytest.raises(ShowerFileError, match="junk.h5.*HDF5"):
        read_cepc_ecal(junk)


def test_missing_datasets(tmp_path):
    hits, conditions = _besiii()
    path = _raw(tmp_path / "nohits.h5", MC_info=conditions.to_numpy())
    with pytest.raises(ShowerFileError, match="nohits.h5.*'Barrel_Hit'.*MC_info"):
        read_besiii_emc(path)
    path = _raw(tmp_path / "noinfo.h5", Barrel_Hit=hits)
    with pytest.raises(ShowerFileError, match="noinfo.h5.*'MC_info'"):
        read_besiii_emc(path)
    voxels, _ = _cepc(n=2)
    with pytest.raises(ShowerFileError, match="'MC_info'"):
        read_cepc_ecal(_raw(tmp_path / "c.h5", Barrel_Hit=voxels))


def test_wrong_shapes(tmp_path):
    hits, conditions = _besiii()
    with pytest.raises(ShowerFileError, match=r"w.h5.*\(N, 11, 11, 1\)"):
        write_besiii_emc(tmp_path / "w.h5", hits[:, :10], conditions)
    with pytest.raises(ShowerFileError, match="4 dimensions"):
        write_besiii_emc(tmp_path / "w.h5", hits[..., 0], conditions)
    with pytest.raises(ShowerFileError, match=r"\(N, 6\)"):
        write_besiii_emc(tmp_path / "w.h5", hits, conditions.to_numpy()[:, :5])
    with pytest.raises(ShowerFileError, match="lack the columns.*dPhi_Pos"):
        write_besiii_emc(tmp_path / "w.h5", hits, conditions.drop(columns="dPhi_Pos"))
    path = _raw(tmp_path / "r.h5", Barrel_Hit=hits[:, :, :9], MC_info=conditions.to_numpy())
    with pytest.raises(ShowerFileError, match="r.h5.*shape"):
        read_besiii_emc(path)
    path = _raw(tmp_path / "i.h5", Barrel_Hit=hits, MC_info=conditions.to_numpy()[:, :4])
    with pytest.raises(ShowerFileError, match="i.h5.*MC_info.*shape"):
        read_besiii_emc(path)
    voxels, cond = _cepc(n=2)
    with pytest.raises(ShowerFileError, match="4 dimensions"):
        write_cepc_ecal(tmp_path / "c.h5", voxels[0], cond)
    assert not (tmp_path / "w.h5").exists() and not (tmp_path / "c.h5").exists()


def test_mismatched_n(tmp_path):
    hits, conditions = _besiii()
    with pytest.raises(ShowerFileError, match="20 showers but conditions has 19 rows"):
        write_besiii_emc(tmp_path / "m.h5", hits, conditions.iloc[:19])
    path = _raw(tmp_path / "m.h5", Barrel_Hit=hits, MC_info=conditions.to_numpy()[:3])
    with pytest.raises(ShowerFileError, match="m.h5.*20 showers but MC_info has 3 rows"):
        read_besiii_emc(path)
    voxels, cond = _cepc(n=3)
    with pytest.raises(ShowerFileError, match="3 showers but conditions has 2"):
        write_cepc_ecal(tmp_path / "c.h5", voxels, cond.iloc[:2])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values(tmp_path, bad):
    hits, conditions = _besiii()
    broken = hits.copy()
    broken[3, 5, 5, 0] = bad
    with pytest.raises(ShowerFileError, match="NaN/inf.*shower 3"):
        write_besiii_emc(tmp_path / "n.h5", broken, conditions)
    info = conditions.to_numpy().copy()
    info[4, 2] = bad
    with pytest.raises(ShowerFileError, match="NaN/inf.*row 4, column 2"):
        write_besiii_emc(tmp_path / "n.h5", hits, info)
    path = _raw(tmp_path / "f.h5", Barrel_Hit=broken, MC_info=conditions.to_numpy())
    with pytest.raises(ShowerFileError, match="f.h5.*NaN/inf"):
        read_besiii_emc(path)
    voxels, cond = _cepc(n=2)
    voxels[1, 0, 0, 0] = bad
    path = _raw(tmp_path / "cf.h5", Barrel_Hit=voxels, MC_info=cond.to_numpy())
    with pytest.raises(ShowerFileError, match="cf.h5.*NaN/inf.*shower 1"):
        read_cepc_ecal(path)


def test_negative_energies(tmp_path):
    hits, conditions = _besiii()
    hits[7, 0, 0, 0] = -0.01
    with pytest.raises(ShowerFileError, match="negative energies.*shower 7"):
        write_besiii_emc(tmp_path / "neg.h5", hits, conditions)
    path = _raw(tmp_path / "neg.h5", Barrel_Hit=hits, MC_info=conditions.to_numpy())
    with pytest.raises(ShowerFileError, match="neg.h5.*negative"):
        read_besiii_emc(path)
    voxels, cond = _cepc(n=2)
    voxels[0, 1, 2, 3] = -1.0
    with pytest.raises(ShowerFileError, match="negative"):
        write_cepc_ecal(tmp_path / "cneg.h5", voxels, cond)


def test_failed_write_keeps_the_old_file(tmp_path):
    hits, conditions = _besiii()
    path = write_besiii_emc(tmp_path / "keep.h5", hits, conditions)
    before = path.read_bytes()
    with pytest.raises(ShowerFileError):
        write_besiii_emc(path, hits[:, :3], conditions)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.h5"]
    with pytest.raises(ValueError, match="mc_info"):
        read_besiii_emc(path, mc_info="raw")
