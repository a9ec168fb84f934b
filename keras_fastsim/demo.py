"""The embedded default job: the whole dE/dx chain on a small reference sample."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from keras_fastsim.pipelines.dedx import run_dedx_pipeline

DEMO_SPECIES: tuple[str, ...] = ("pi+", "K+", "p")
"""Species of the demo: one of each PID hypothesis keeps it short."""


def run_dedx_demo(
    out_dir: str | os.PathLike,
    *,
    n_per_species: int = 20000,
    epochs: int = 4,
    species: Sequence[str] = DEMO_SPECIES,
    seed: int = 0,
) -> Path:
    """Makes reference tracks, trains flows and the baseline, simulates, evaluates, exports.

    Three quarters of the tracks train, one quarter is held out. The flows train for
    ``epochs`` epochs without XLA (compilation would cost more than it saves here).

    Returns:
        Path of the report (``out_dir/evaluation/report.md``).
    """
    if int(n_per_species) < 1000:
        raise ValueError(f"`n_per_species` must be >= 1000. Received: n_per_species={n_per_species}")
    n_test = int(n_per_species) // 4
    run_dedx_pipeline(
        out_dir,
        train_sizes={s: int(n_per_species) - n_test for s in species},
        test_sizes={s: n_test for s in species},
        flow_config={"epochs": int(epochs), "jit_compile": False, "patience": None},
        seed=seed,
    )
    return Path(out_dir) / "evaluation" / "report.md"
