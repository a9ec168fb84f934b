"""Run directories: what training writes, and loading a trained simulator from it.

A run directory holds ``run.json``, a manifest naming the kind of model and where its
parts are::

    {"kind": "dedx-flow", "version": "0.1.0", "species": {"K+": "K+", "pi-": "pi-"}}
    {"kind": "dedx-histogram", "version": "0.1.0", "file": "histogram.json"}
    {"kind": "dedx-knn", "version": "0.1.0", "model": "model.keras", "species": [...]}

``generate``, ``evaluate`` and ``export`` dispatch on ``kind``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from keras_fastsim import __version__
from keras_fastsim.io.atomic import atomic_path
from keras_fastsim.io.tables import validate_tracks

RUN_FILE = "run.json"
DEDX_KINDS: tuple[str, ...] = ("dedx-flow", "dedx-histogram", "dedx-knn")


class RunError(ValueError):
    """A run directory that cannot be used."""


def read_manifest(run_dir: str | os.PathLike) -> dict[str, Any]:
    """Reads ``run_dir/run.json``.

    Raises:
        RunError: if the directory or its manifest is missing or malformed.
    """
    path = Path(run_dir) / RUN_FILE
    if not path.is_file():
        raise RunError(f"{run_dir}: not a run directory (no {RUN_FILE}); train a model into it first")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise RunError(f"{path}: malformed manifest ({err})") from None
    if "kind" not in manifest:
        raise RunError(f"{path}: manifest has no 'kind'")
    return manifest


def update_manifest(run_dir: str | os.PathLike, kind: str, **entries: Any) -> dict[str, Any]:
    """Creates or updates ``run.json`` atomically; dict entries are merged.

    Raises:
        RunError: if the directory already holds a run of another kind.
    """
    run_dir = Path(run_dir)
    path = run_dir / RUN_FILE
    manifest = read_manifest(run_dir) if path.exists() else {"kind": kind}
    if manifest["kind"] != kind:
        raise RunError(f"{run_dir}: holds a {manifest['kind']!r} run, cannot add a {kind!r} model")
    for key, value in entries.items():
        if isinstance(value, dict) and isinstance(manifest.get(key), dict):
            manifest[key] = manifest[key] | value
        else:
            manifest[key] = value
    manifest["version"] = __version__
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return manifest


class DedxSimulator(Protocol):
    """Anything that simulates dE/dx for a track table."""

    def simulate(self, tracks: pd.DataFrame, seed: int) -> np.ndarray: ...


def _seed(*parts: int) -> int:
    return int(np.random.SeedSequence(list(parts)).generate_state(1, dtype=np.uint32)[0] >> 1)


class FlowRun:
    """The per-species flows of a ``dedx-flow`` run, loaded on first use.

    Sampling runs as a graph traced once per species; with ``jit_compile`` it is also
    XLA-compiled, which costs a compilation per species but samples ~1.7x faster
    (worth it for tables of millions of tracks; see ``benchmarks/bench_dedx_flow.py``).

    Args:
        run_dir: The run directory.
        batch_size: Tracks sampled per call (bounds memory).
        jit_compile: XLA-compile the sampler.
    """

    def __init__(
        self, run_dir: str | os.PathLike, batch_size: int = 262144, jit_compile: bool = False
    ):
        if int(batch_size) < 1:
            raise ValueError(f"`batch_size` must be >= 1. Received: batch_size={batch_size}")
        self.run_dir = Path(run_dir)
        self.manifest = read_manifest(run_dir)
        self.batch_size = int(batch_size)
        self.jit_compile = bool(jit_compile)
        self._models: dict[str, Any] = {}
        self._samplers: dict[str, Any] = {}

    @property
    def species(self) -> list[str]:
        return sorted(self.manifest.get("species", {}))

    def model(self, species: str):
        """The trained flow of ``species``."""
        if species not in self.manifest.get("species", {}):
            raise RunError(
                f"{self.run_dir}: no model for species {species!r}; the run has {self.species}"
            )
        if species not in self._models:
            import keras

            from keras_fastsim.models.dedx_flow import ConditionalDedxFlow  # noqa: F401 registers
            from keras_fastsim.training.dedx_flow import MODEL_FILE

            path = self.run_dir / self.manifest["species"][species] / MODEL_FILE
            self._models[species] = keras.models.load_model(path)
        return self._models[species]

    def simulate(self, tracks: pd.DataFrame, seed: int) -> np.ndarray:
        from keras_fastsim.models.dedx_flow import CONDITION_COLUMNS

        tracks = validate_tracks(tracks, require_dedx=False, source="conditions")
        missing = sorted(set(tracks["species"]) - set(self.species))
        if missing:
            raise RunError(
                f"{self.run_dir}: no model for species {missing}; the run has {self.species}"
            )
        out = np.empty(len(tracks), dtype=np.float64)
        for s_index, species in enumerate(sorted(set(tracks["species"]))):
            rows = np.flatnonzero(tracks["species"].to_numpy() == species)
            cond = tracks[list(CONDITION_COLUMNS)].to_numpy(np.float32)[rows]
            if species not in self._samplers:
                self._samplers[species] = self.model(species).sample_function(self.jit_compile)
            sample = self._samplers[species]
            for c_index, start in enumerate(range(0, len(rows), self.batch_size)):
                chunk = cond[start : start + self.batch_size]
                out[rows[start : start + len(chunk)]] = np.asarray(
                    sample(chunk, np.int64(_seed(seed, s_index, c_index)))
                )
        return out


def load_dedx_simulator(run_dir: str | os.PathLike) -> DedxSimulator:
    """Loads the dE/dx simulator of a run directory, whatever its kind."""
    manifest = read_manifest(run_dir)
    kind = manifest["kind"]
    if kind == "dedx-flow":
        return FlowRun(run_dir)
    if kind == "dedx-histogram":
        from keras_fastsim.models.histogram_sampling import HistogramSampler

        return HistogramSampler.load(Path(run_dir) / manifest["file"])
    if kind == "dedx-knn":
        from keras_fastsim.training.dedx_knn import KnnRun

        return KnnRun(run_dir)
    raise RunError(f"{run_dir}: kind {kind!r} is not a dE/dx simulator; expected one of {DEDX_KINDS}")


def simulate_tracks(run_dir: str | os.PathLike, tracks: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Returns ``tracks`` with ``dedx`` simulated by the run's model."""
    tracks = validate_tracks(tracks, require_dedx=False, source="conditions")
    out = tracks.copy()
    out["dedx"] = load_dedx_simulator(run_dir).simulate(tracks, seed=seed)
    return out
