"""Fitting the histogram-sampling baseline into a run directory."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd

from keras_fastsim.io.tables import validate_tracks
from keras_fastsim.models.histogram_sampling import HistogramSampler

HISTOGRAM_FILE = "histogram.json"


def train_histogram_run(table: pd.DataFrame, run_dir: str | os.PathLike, **kwargs: Any) -> Path:
    """Fits :class:`HistogramSampler` to ``table`` and saves it as a ``dedx-histogram`` run.

    Args:
        table: Training track table.
        run_dir: The run directory.
        **kwargs: Arguments of :class:`HistogramSampler`.
    """
    from keras_fastsim.runs import update_manifest

    table = validate_tracks(table, source="training table")
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    sampler = HistogramSampler(**kwargs)
    sampler.fit(table)
    sampler.save(run_dir / HISTOGRAM_FILE)
    update_manifest(run_dir, "dedx-histogram", file=HISTOGRAM_FILE)
    return run_dir
