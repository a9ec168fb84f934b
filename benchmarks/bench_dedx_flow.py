"""Throughput of the BESIII dE/dx flow (paper architecture) on this machine.

Prints training steps/s at batch 128 with and without XLA (and their ratio, measured in
the same run), and sampling throughput in tracks/s at large batch, eager and compiled.

Example:
    python benchmarks/bench_dedx_flow.py --steps 2000 --sample-size 1000000
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import tensorflow as tf

from keras_fastsim.models.dedx_flow import CONDITION_COLUMNS, ConditionalDedxFlow
from keras_fastsim.reference.dedx import DedxReference


def _data(n: int, seed: int):
    table = DedxReference().generate(n, species="K+", seed=seed)
    return table[list(CONDITION_COLUMNS)].to_numpy(np.float32), table["dedx"].to_numpy(np.float32)


def train_rate(cond, dedx, *, jit: bool, steps: int, batch: int, spe: int) -> tuple[float, float]:
    """Returns (first-epoch seconds incl. compilation, steady-state steps/s)."""
    keras.utils.set_random_seed(0)
    flow = ConditionalDedxFlow()
    flow.adapt(cond, dedx)
    flow({"conditions": cond[:2], "dedx": dedx[:2]})
    flow.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=jit, steps_per_execution=spe)
    ds = tf.data.Dataset.from_tensor_slices({"conditions": cond, "dedx": dedx})
    ds = ds.shuffle(len(dedx), seed=0).repeat().batch(batch, drop_remainder=True).prefetch(2)
    start = time.perf_counter()
    flow.fit(ds, steps_per_epoch=spe * 4, epochs=1, verbose=0)
    warm = time.perf_counter() - start
    steps = max(spe, steps // spe * spe)
    start = time.perf_counter()
    flow.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0)
    return warm, steps / (time.perf_counter() - start)


def sample_rate(flow, cond, *, batch: int, mode: str) -> float:
    """Tracks/s of ``flow.sample`` run eagerly, as a graph, or XLA-compiled."""
    if mode == "eager":
        fn = flow.sample
    else:
        fn = flow.sample_function(jit_compile=mode == "xla")
    fn(cond[:batch], np.int64(0))  # warm-up / tracing
    start = time.perf_counter()
    for i, s in enumerate(range(0, len(cond), batch)):
        np.asarray(fn(cond[s : s + batch], np.int64(i)))
    return len(cond) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=2000, help="timed training steps")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps-per-execution", type=int, default=32)
    parser.add_argument("--sample-size", type=int, default=2_097_152)
    parser.add_argument("--sample-batch", type=int, default=262_144)
    parser.add_argument("--skip-train", action="store_true", help="time sampling only")
    args = parser.parse_args()

    cond, dedx = _data(200_000, seed=1)
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, "
          f"{os.cpu_count()} CPU cores, intra-op threads {tf.config.threading.get_intra_op_parallelism_threads()}")
    if not args.skip_train:
        print(f"training, paper architecture, batch {args.batch_size}:")
        rates = {}
        for jit in (True, False):
            for spe in (args.steps_per_execution, 1):
                warm, rate = train_rate(cond, dedx, jit=jit, steps=args.steps,
                                        batch=args.batch_size, spe=spe)
                rates[(jit, spe)] = rate
                print(f"  jit_compile={jit!s:5} steps_per_execution={spe:3d}: "
                      f"{rate:8.1f} steps/s  (first call incl. tracing/compilation {warm:5.1f} s)")
        spe = args.steps_per_execution
        print(f"  XLA speed-up: {rates[(True, spe)] / rates[(False, spe)]:.2f}x at "
              f"steps_per_execution={spe}, {rates[(True, 1)] / rates[(False, 1)]:.2f}x at 1")

    flow = ConditionalDedxFlow()
    flow.adapt(cond, dedx)
    big = np.resize(cond, (args.sample_size, cond.shape[1]))
    for mode in ("eager", "graph", "xla"):
        rate = sample_rate(flow, big, batch=args.sample_batch, mode=mode)
        print(f"sampling {args.sample_size} tracks, batch {args.sample_batch}, {mode}: "
              f"{rate:,.0f} tracks/s")


if __name__ == "__main__":
    main()
