"""Throughput of the BESIII EMC GAN generator vs the reference shower generator (same run).

Measures generated showers per second of the slide-spec generator (a trained run's
``selected_generator.keras`` with ``--run``, else freshly initialised weights: the cost does not
depend on the weights) at each ``--batch-sizes`` and of
:func:`keras_fastsim.reference.calorimeter.generate_besiii_emc` (GFLASH-style reference, the
"full simulation" stand-in) in the same process, and prints/writes the ratios.

The generator is called through a compiled function (``tf.function`` under TensorFlow,
``jax.jit`` of ``stateless_call`` under JAX) on pre-drawn noise and conditions; the timing
includes the device-to-host copy of the showers. Each measurement repeats the call for at
least ``--min-seconds`` after one warm-up call.

CPU (this machine)::

    nice -n 10 python benchmarks/bench_besiii_emc.py --batch-sizes 1 1024

GPU (e.g. an NVIDIA H100), JAX backend (``jax[cuda12]`` installed; the backend must be chosen
before Keras is imported, which ``--backend`` does by setting ``KERAS_BACKEND``)::

    KERAS_BACKEND=jax python benchmarks/bench_besiii_emc.py --backend jax \\
        --batch-sizes 1024 16384 65536 --out bench_h100.json

SPEC 4 records ~1.7M showers/s for this generator under JAX on an H100 at batch 16k.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=("tensorflow", "jax"), default=None,
                        help="Keras backend (default: $KERAS_BACKEND, else tensorflow)")
    parser.add_argument("--run", help="besiii-emc-gan run directory (default: untrained generator)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 1024])
    parser.add_argument("--n-reference", type=int, default=4000,
                        help="showers of the reference generator timed")
    parser.add_argument("--min-seconds", type=float, default=3.0)
    parser.add_argument("--out", help="write the results as JSON here")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def main() -> None:
    args = _parse()
    if args.backend:
        os.environ["KERAS_BACKEND"] = args.backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np

    from keras_fastsim.reference.calorimeter import (
        besiii_emc_conditions,
        generate_besiii_emc,
    )

    backend = keras.backend.backend()
    if args.run:
        from keras_fastsim.training.besiii_emc import load_besiii_generator

        generator = load_besiii_generator(args.run)
    else:
        from keras_fastsim.models.besiii_emc import build_besiii_generator

        generator = build_besiii_generator()
    noise_dim = int(generator.inputs[0].shape[-1])

    if backend == "jax":
        import jax

        @jax.jit
        def call(tv, ntv, z, y):
            return generator.stateless_call(tv, ntv, [z, y], training=False)[0]

        tv = [v.value for v in generator.trainable_variables]
        ntv = [v.value for v in generator.non_trainable_variables]

        def run(z, y):
            return np.asarray(call(tv, ntv, z, y))
        devices = [str(d) for d in jax.devices()]
    elif backend == "tensorflow":
        import tensorflow as tf

        @tf.function(reduce_retracing=True)
        def call(z, y):
            return generator([z, y], training=False)

        def run(z, y):
            return call(z, y).numpy()
        devices = [d.name for d in tf.config.list_logical_devices()]
    else:
        raise SystemExit(f"backend {backend!r} is not supported by this benchmark")

    # reference generator
    generate_besiii_emc(200, seed=args.seed)  # warm-up
    start = time.perf_counter()
    generate_besiii_emc(args.n_reference, seed=args.seed + 1)
    ref_rate = args.n_reference / (time.perf_counter() - start)

    cond_all, _ = besiii_emc_conditions(max(args.batch_sizes), seed=args.seed)
    rng = np.random.default_rng(args.seed)
    results = []
    for batch in args.batch_sizes:
        y = cond_all.to_numpy(np.float32)[:batch]
        if len(y) < batch:
            y = np.resize(y, (batch, y.shape[1]))
        z = rng.standard_normal((batch, noise_dim), dtype=np.float32)
        if backend == "tensorflow":
            z, y = tf.constant(z), tf.constant(y)
        run(z, y)  # warm-up / compile
        calls, start = 0, time.perf_counter()
        while True:
            out = run(z, y)
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed >= args.min_seconds:
                break
        rate = calls * batch / elapsed
        assert out.shape == (batch, 11, 11, 1)
        results.append({"batch_size": batch, "showers_per_s": rate,
                        "ms_per_call": 1e3 * elapsed / calls,
                        "ratio_to_reference": rate / ref_rate})
        print(f"generator batch {batch:>6}: {rate:12.0f} showers/s  "
              f"({1e3 * elapsed / calls:.3f} ms/call)  = {rate / ref_rate:8.1f} x reference",
              flush=True)
    print(f"reference generator      : {ref_rate:12.0f} showers/s ({args.n_reference} showers)")
    summary = {
        "backend": backend, "devices": devices, "machine": platform.machine(),
        "processor": platform.processor(), "cpu_count": os.cpu_count(),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "python": sys.version.split()[0], "keras": keras.__version__,
        "generator_model": args.run or "untrained slide-spec generator",
        "reference_showers_per_s": ref_rate, "generator": results,
    }
    if args.out:
        with open(args.out, "w") as f:
            json.dump(summary, f, indent=2)


if __name__ == "__main__":
    main()
