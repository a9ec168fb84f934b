"""TensorFlow SavedModel export for use from C++ frameworks.

The exported graphs are self-contained: loading them needs TensorFlow only (no
keras_fastsim, no tensorflow-probability).
"""

from __future__ import annotations

import os
from pathlib import Path

import keras
import tensorflow as tf

from keras_fastsim.io.atomic import atomic_directory
from keras_fastsim.runs import FlowRun, RunError, read_manifest


def export_dedx_flow(model, path: str | os.PathLike) -> Path:
    """Exports a :class:`ConditionalDedxFlow` as a SavedModel.

    The endpoint ``simulate(p, theta, nhits, seed)`` takes float32 vectors ``p``
    [GeV/c], ``theta`` [rad], ``nhits`` and an int64 scalar ``seed``, and returns
    float32 dE/dx; the same seed gives the same output as ``model.sample``.

    Example:
        >>> export_dedx_flow(flow, "dedx_Kplus")
        >>> tf.saved_model.load("dedx_Kplus").simulate(p, theta, nhits, seed=1)
    """
    path = Path(path)
    archive = keras.export.ExportArchive()
    archive.track(model)

    def simulate(p, theta, nhits, seed):
        return model.sample(tf.stack([p, theta, nhits], axis=1), seed=seed)

    archive.add_endpoint(
        name="simulate",
        fn=simulate,
        input_signature=[
            tf.TensorSpec((None,), tf.float32, name="p"),
            tf.TensorSpec((None,), tf.float32, name="theta"),
            tf.TensorSpec((None,), tf.float32, name="nhits"),
            tf.TensorSpec((), tf.int64, name="seed"),
        ],
    )
    with atomic_directory(path) as tmp:
        archive.write_out(str(tmp), verbose=False)
    return path


def export_run(run_dir: str | os.PathLike, out_dir: str | os.PathLike) -> list[Path]:
    """Exports every model of a run directory; one SavedModel per species for flows.

    Raises:
        RunError: if the run's kind has no SavedModel export.
    """
    manifest = read_manifest(run_dir)
    out_dir = Path(out_dir)
    if manifest["kind"] == "dedx-flow":
        run = FlowRun(run_dir)
        return [export_dedx_flow(run.model(s), out_dir / s) for s in run.species]
    raise RunError(
        f"{run_dir}: a {manifest['kind']!r} run has no SavedModel export "
        "(a histogram sampler is a lookup table, not a graph)"
    )
