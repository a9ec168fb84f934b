"""The dE/dx chain: reference tracks, flows and baseline, held-out simulation, evaluation."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from keras_fastsim.io.tables import read_tracks, write_tracks
from keras_fastsim.physics.species import get_species
from keras_fastsim.training.fit import HISTORY_PNG


def make_reference_split(
    train_sizes: Mapping[str, int], test_sizes: Mapping[str, int], seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Generates independent reference training and test tables with per-species sizes.

    Args:
        train_sizes: Tracks per species for training, e.g. ``{"K+": 500000}``.
        test_sizes: Tracks per species for the held-out test.
        seed: Seed; every (split, species) gets its own stream.
    """
    from keras_fastsim.reference.dedx import DedxReference

    reference = DedxReference()
    tables = []
    for split, sizes in enumerate((train_sizes, test_sizes)):
        parts = []
        for index, (species, n) in enumerate(sorted(sizes.items())):
            get_species(species)
            if int(n) < 1:
                raise ValueError(f"Sample sizes must be >= 1. Received: {species}={n}")
            parts.append(
                reference.generate(
                    int(n), species=species, seed=np.random.SeedSequence([seed, split, index])
                )
            )
        tables.append(pd.concat(parts, ignore_index=True))
    return tables[0], tables[1]


def run_dedx_pipeline(
    out_dir: str | os.PathLike,
    *,
    train_sizes: Mapping[str, int],
    test_sizes: Mapping[str, int],
    flow_config: Mapping[str, Any] | None = None,
    model_config: Mapping[str, Any] | None = None,
    species: Sequence[str] | None = None,
    figures_dir: str | os.PathLike | None = None,
    export: bool = True,
    truth_control: bool = True,
    seed: int = 0,
) -> dict:
    """Runs the whole dE/dx comparison and returns the metrics.

    Steps are skipped when their output already exists, so an interrupted run resumes:
    reference tables in ``out_dir/data``, flows in ``out_dir/flow`` (one per species,
    see :func:`train_dedx_flow_run`), the baseline in ``out_dir/histogram``, simulated
    held-out tables in ``out_dir/sim``, metrics/figures/report in ``figures_dir``
    (default ``out_dir/evaluation``) and SavedModels in ``out_dir/saved_model``.

    Args:
        out_dir: Output directory.
        train_sizes: Training tracks per species.
        test_sizes: Held-out tracks per species.
        flow_config: Arguments of :func:`train_dedx_flow` (epochs, batch_size, ...).
        model_config: Arguments of :class:`ConditionalDedxFlow`.
        species: Species to train and simulate (default: those of ``train_sizes``).
        figures_dir: Where the evaluation writes metrics, figures and report.
        export: Whether to export the flows as SavedModels.
        truth_control: Also evaluate the reference simulator itself re-run on the
            held-out conditions with another seed (``"reference"``): a perfect
            simulation, whose scores are the statistical floor of every metric.
        seed: Seed of every step.
    """
    from keras_fastsim.evaluation.dedx_report import evaluate_dedx
    from keras_fastsim.export import export_run
    from keras_fastsim.runs import simulate_tracks
    from keras_fastsim.training.dedx_flow import train_dedx_flow_run
    from keras_fastsim.training.dedx_histogram import train_histogram_run

    out = Path(out_dir)
    species = list(species or sorted(train_sizes))
    data = out / "data"
    if (data / "train.parquet").exists() and (data / "test.parquet").exists():
        print("[1/6] reusing reference tracks in", data)
        train, test = read_tracks(data / "train.parquet"), read_tracks(data / "test.parquet")
    else:
        print(f"[1/6] reference tracks: train {dict(train_sizes)}, test {dict(test_sizes)}")
        train, test = make_reference_split(train_sizes, test_sizes, seed=seed)
        write_tracks(train, data / "train.parquet")
        write_tracks(test, data / "test.parquet")
    test = test[test["species"].isin(species)].reset_index(drop=True)

    print(f"[2/6] training flows for {species}")
    train_dedx_flow_run(
        train, out / "flow", species, model_config=dict(model_config or {}),
        skip_trained=True, **({"seed": seed} | dict(flow_config or {})),
    )
    print("[3/6] fitting the histogram-sampling baseline")
    if not (out / "histogram" / "run.json").exists():
        train_histogram_run(train, out / "histogram")

    print("[4/6] simulating the held-out tracks")
    sims = {}
    conditions = test.drop(columns="dedx")
    for name in ("flow", "histogram"):
        sims[name] = simulate_tracks(out / name, conditions, seed=seed + 1)
        write_tracks(sims[name], out / "sim" / f"{name}.parquet")
    if truth_control:
        from keras_fastsim.reference.dedx import DedxReference

        sims["reference"] = conditions.assign(
            dedx=DedxReference().simulate(conditions, seed=np.random.SeedSequence([seed, 2]))
        )

    print("[5/6] evaluating")
    figures = Path(figures_dir or out / "evaluation")
    metrics = evaluate_dedx(test, sims, figures, seed=seed)
    for name in species:
        history = out / "flow" / name / HISTORY_PNG
        if history.exists():
            shutil.copyfile(history, figures / f"history_{name}.png")
    if export:
        print("[6/6] exporting SavedModels")
        export_run(out / "flow", out / "saved_model")
    return metrics
