import numpy as np
import pandas as pd
import pytest

from keras_fastsim.io import (
    TableError,
    atomic_path,
    read_tracks,
    validate_tracks,
    write_tracks,
)
from keras_fastsim.physics import get_species, species_from_pdg


def _table(n=5):
    return pd.DataFrame(
        {
            "species": ["pi+", "pi-", "K+", "K-", "p"][:n],
            "p": np.linspace(0.2, 1.8, n),
            "theta": np.linspace(0.5, 2.5, n),
            "nhits": np.arange(10, 10 + n),
            "dedx": np.linspace(500, 900, n),
        }
    )


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".root"])
def test_round_trip(tmp_path, suffix):
    path = write_tracks(_table(), tmp_path / f"tracks{suffix}")
    back = read_tracks(path)
    pd.testing.assert_frame_equal(back, validate_tracks(_table()), check_dtype=False)
    assert list(tmp_path.iterdir()) == [path]  # no temporary files left


def test_root_custom_tree_and_branches(tmp_path):
    import uproot

    t = _table()
    with uproot.recreate(tmp_path / "x.root") as f:
        f.mktree("dedx_tree", {"pdg": np.int32, "mom": np.float64, "theta": np.float64,
                               "nhits": np.int32, "dEdx": np.float64, "extra": np.float64})
        f["dedx_tree"].extend({"pdg": np.array([211, -211, 321, -321, 2212], np.int32),
                               "mom": t.p.to_numpy(), "theta": t.theta.to_numpy(),
                               "nhits": t.nhits.to_numpy(np.int32), "dEdx": t.dedx.to_numpy(),
                               "extra": np.zeros(5)})
    back = read_tracks(tmp_path / "x.root", tree="dedx_tree",
                       branches={"species": "pdg", "p": "mom", "dedx": "dEdx"})
    assert list(back.species) == list(t.species)
    np.testing.assert_allclose(back.p, t.p)
    with pytest.raises(TableError, match="no TTree 'nope'"):
        read_tracks(tmp_path / "x.root", tree="nope")
    with pytest.raises(TableError, match="missing column"):
        read_tracks(tmp_path / "x.root", tree="dedx_tree")


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda t: t.drop(columns="nhits"), "missing column"),
        (lambda t: t.iloc[:0], "empty"),
        (lambda t: t.assign(dedx=[np.nan, 1, 2, 3, 4]), "NaN/inf"),
        (lambda t: t.assign(p=[np.inf, 1, 2, 3, 4]), "NaN/inf"),
        (lambda t: t.assign(species=["pi+", "mu+", "K+", "K-", "p"]), "unknown species"),
        (lambda t: t.assign(nhits=[0, 1, 2, 3, 4]), "nhits"),
        (lambda t: t.assign(p=[-1.0, 1, 2, 3, 4]), "'p'"),
        (lambda t: t.assign(theta=[4.0, 1, 2, 3, 2]), "theta"),
    ],
)
def test_bad_tables_are_named(tmp_path, change, message):
    path = tmp_path / "bad.csv"
    change(_table()).to_csv(path, index=False)
    with pytest.raises(TableError, match=message) as info:
        read_tracks(path)
    assert str(path) in str(info.value)


def test_conditions_table_without_dedx(tmp_path):
    path = write_tracks(_table().drop(columns="dedx"), tmp_path / "c.parquet")
    assert "dedx" not in read_tracks(path, require_dedx=False)
    with pytest.raises(TableError, match="dedx"):
        read_tracks(path)


def test_missing_file_and_unknown_format(tmp_path):
    with pytest.raises(TableError, match="no such file"):
        read_tracks(tmp_path / "none.parquet")
    (tmp_path / "x.txt").write_text("a")
    with pytest.raises(TableError, match="unknown table format"):
        read_tracks(tmp_path / "x.txt")


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash")
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]


def test_species_lookup():
    assert get_species("K-").charge == -1
    assert species_from_pdg(-2212).name == "pbar"
    with pytest.raises(ValueError, match="Received: species='mu'"):
        get_species("mu")
