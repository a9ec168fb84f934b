"""The embedded default job: the whole dE/dx chain on a small reference sample."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from keras_fastsim.io.tables import write_tracks
from keras_fastsim.physics.species import get_species
from keras_fastsim.training.dedx_flow import split_train_validation

DEMO_SPECIES: tuple[str, ...] = ("pi+", "K+", "p")
"""Species of the demo: one of each PID hypothesis keeps it short."""


def run_dedx_demo(
    out_dir: str | os.PathLike,
    *,
    n_per_species: int = 20000,
    epochs: int = 4,
    species: Sequence[str] = DEMO_SPECIES,
    test_fraction: float = 0.25,
    seed: int = 0,
) -> Path:
    """Makes reference tracks, trains flows and the baseline, simulates, evaluates, exports.

    Layout of ``out_dir``: ``data/{train,test}.parquet``, ``flow/`` and ``histogram/``
    run directories, ``sim/{flow,histogram}.parquet``, ``evaluation/`` (metrics.json,
    figures, report.md) and ``saved_model/``.

    Args:
        out_dir: Output directory.
        n_per_species: Reference tracks per species (training + test).
        epochs: Flow training epochs (the paper uses 100).
        species: Species to simulate.
        test_fraction: Held-out fraction of the reference sample.
        seed: Seed of every step.

    Returns:
        Path of the report (``evaluation/report.md``).
    """
    from keras_fastsim.evaluation.dedx_report import evaluate_dedx
    from keras_fastsim.export import export_run
    from keras_fastsim.reference.dedx import DedxReference
    from keras_fastsim.runs import simulate_tracks
    from keras_fastsim.training.dedx_flow import train_dedx_flow_run
    from keras_fastsim.training.dedx_histogram import train_histogram_run

    for name in species:
        get_species(name)
    if int(n_per_species) < 1000:
        raise ValueError(f"`n_per_species` must be >= 1000. Received: n_per_species={n_per_species}")
    out = Path(out_dir)
    print(f"[1/6] reference tracks: {n_per_species} per species for {list(species)}")
    table = DedxReference().generate(int(n_per_species), species=tuple(species), seed=seed)
    train, test = split_train_validation(table, test_fraction, seed)
    write_tracks(train, out / "data" / "train.parquet")
    write_tracks(test, out / "data" / "test.parquet")

    print(f"[2/6] training flows ({epochs} epochs)")
    train_dedx_flow_run(
        train, out / "flow", list(species), epochs=epochs, jit_compile=False, seed=seed,
        patience=None,
    )
    print("[3/6] fitting the histogram-sampling baseline")
    train_histogram_run(train, out / "histogram")

    print("[4/6] simulating the held-out tracks")
    sims = {}
    for name in ("flow", "histogram"):
        sims[name] = simulate_tracks(out / name, test.drop(columns="dedx"), seed=seed + 1)
        write_tracks(sims[name], out / "sim" / f"{name}.parquet")

    print("[5/6] evaluating")
    evaluate_dedx(test, sims, out / "evaluation", seed=seed)
    print("[6/6] exporting SavedModels")
    export_run(out / "flow", out / "saved_model")
    return out / "evaluation" / "report.md"
