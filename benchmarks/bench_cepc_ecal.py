"""Cost of the CEPC ECAL 3D GAN (SPEC 2.5): parameters, FLOPs, showers/s, training memory.

Usage (CPU, TensorFlow backend)::

    python benchmarks/bench_cepc_ecal.py [--batches 1 16 64] [--reference-n 200]
        [--train-batches 2 4 8] [--repeats 3] [--json out.json]

It prints

1. parameters and analytic FLOPs per shower (2 per multiply-add of every Dense/Conv3D,
   :func:`keras_fastsim.models.cepc_ecal.count_flops`) of the slide generator,
   discriminator and regressor; on TensorFlow also the TF profiler's float-operation count of
   the generator graph as a cross-check (where the profiler knows the ops);
2. generator showers/s (wall clock and per CPU-second, the latter robust on a shared machine)
   at each batch size, and the reference generator
   :func:`keras_fastsim.reference.calorimeter.generate_cepc_ecal` in the same run;
3. peak memory of one GAN training step (discriminator step + 2 generator steps with the
   frozen regressor, the default discriminator, ``ConditionalGAN``'s compiled train
   function) at each training batch size, each in a fresh subprocess: the peak resident set
   size sampled during the step (a thread reading ``/proc/self/statm``) minus the resident
   size just before it, for the first step (which allocates; tracing included) and the
   second (the allocator reuses the first step's memory, so it grows little), plus a linear
   fit ``a + b * batch`` of the first-step growth and the largest batch that fits 24 GiB
   (process baseline included) by that fit; and, as a cross-check, the analytic size of the
   layer outputs per shower of each network (float32).

GPU timing (documented path; no GPU on the development machine): the throughput part is
backend-agnostic. Under JAX the generator runs as one ``jax.jit`` of
``model.stateless_call`` (XLA-compiled); mixed precision by a Keras dtype policy::

    KERAS_BACKEND=jax python benchmarks/bench_cepc_ecal.py --batches 1024 4096 16384 \\
        --repeats 20 --skip-train --reference-n 0 [--precision mixed_bfloat16]

(``--precision mixed_float16`` or ``mixed_bfloat16`` computes in 16 bits with float32
weights; the architecture is unchanged.) On TensorFlow ``--xla`` compiles the forward pass
with ``jit_compile=True``. The slide generator ran ~6k showers/s on an H100 in fp32 (SPEC 4);
the issue's goal is >= 30k showers/s.

References:
    SPEC 2.5 and 4; W. Fang et al., wenxingfang/GANforCEPC.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

GIB = 2**30
MEMORY_BUDGET_GIB = 24.0


def _rss_peak_bytes() -> int:
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _rss_bytes() -> int:
    """Current resident set size (Linux ``/proc/self/statm``)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class _RssSampler:
    """Samples the current RSS in a thread; ``peak`` is the largest value seen.

    TensorFlow releases the GIL while ops run, so the thread samples during a step.
    ``ru_maxrss`` alone cannot be used: its high-water mark is often set by imports and
    model building, before the step.
    """

    def __init__(self, interval_s: float = 0.005):
        import threading

        self.interval_s = interval_s
        self.peak = _rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss_bytes())
            self._stop.wait(self.interval_s)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_bytes())


def _conditions(n: int, seed: int) -> np.ndarray:
    from keras_fastsim.reference.calorimeter import cepc_ecal_conditions

    return cepc_ecal_conditions(n, seed).to_numpy(np.float32)


# ------------------------------------------------------------------------------------------
# FLOPs
# ------------------------------------------------------------------------------------------


def _tf_profiler_flops(generator) -> float | None:
    """Float operations of the generator graph for one shower by the TF profiler."""
    try:
        import tensorflow as tf
        from tensorflow.python.framework.convert_to_constants import (
            convert_variables_to_constants_v2,
        )

        fn = tf.function(lambda z, y: generator([z, y], training=False))
        concrete = fn.get_concrete_function(
            tf.TensorSpec((1, generator.inputs[0].shape[-1]), tf.float32),
            tf.TensorSpec((1, generator.inputs[1].shape[-1]), tf.float32),
        )
        frozen = convert_variables_to_constants_v2(concrete)
        opts = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
        opts["output"] = "none"
        info = tf.compat.v1.profiler.profile(graph=frozen.graph, options=opts)
        return float(info.total_float_ops) if info.total_float_ops else None
    except Exception as err:  # the profiler is an optional cross-check
        print(f"  (TF profiler unavailable: {type(err).__name__}: {err})")
        return None


# ------------------------------------------------------------------------------------------
# throughput
# ------------------------------------------------------------------------------------------


def _forward_fn(generator, xla: bool):
    """A compiled ``(noise, conditions) -> showers`` function that blocks until done."""
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        trainable = [v.value for v in generator.trainable_variables]
        non_trainable = [v.value for v in generator.non_trainable_variables]

        @jax.jit
        def run(z, y):
            out, _ = generator.stateless_call(trainable, non_trainable, [z, y], training=False)
            return out

        return lambda z, y: run(z, y).block_until_ready()
    if backend == "tensorflow":
        import tensorflow as tf

        run = tf.function(lambda z, y: generator([z, y], training=False), jit_compile=xla,
                          reduce_retracing=True)
        return lambda z, y: run(z, y).numpy()
    return lambda z, y: keras.ops.convert_to_numpy(generator([z, y], training=False))


def _time(fn, repeats: int) -> tuple[float, float]:
    """Best wall time and the CPU time of that run, of ``repeats`` calls after a warm-up."""
    fn()
    best = (float("inf"), float("inf"))
    for _ in range(max(1, repeats)):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        if wall < best[0]:
            best = (wall, cpu)
    return best


def throughput(generator, batches, repeats: int, xla: bool, seed: int) -> list[dict]:
    forward = _forward_fn(generator, xla)
    noise_dim = int(generator.inputs[0].shape[-1])
    rows = []
    for b in batches:
        rng = np.random.default_rng(seed)
        z = rng.standard_normal((b, noise_dim), dtype=np.float32)
        y = _conditions(b, seed)
        wall, cpu = _time(lambda: forward(z, y), repeats)
        rows.append({"what": "GAN generator", "batch": b, "showers_per_s": b / wall,
                     "showers_per_cpu_s": b / max(cpu, 1e-9), "ms_per_batch": 1e3 * wall})
    return rows


def reference_throughput(n: int, seed: int) -> dict:
    from keras_fastsim.reference.calorimeter import generate_cepc_ecal

    generate_cepc_ecal(8, seed)  # warm-up
    w0, c0 = time.perf_counter(), time.process_time()
    generate_cepc_ecal(n, seed)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    return {"what": "reference generate_cepc_ecal", "batch": n, "showers_per_s": n / wall,
            "showers_per_cpu_s": n / max(cpu, 1e-9), "ms_per_batch": 1e3 * wall}


# ------------------------------------------------------------------------------------------
# training memory (one subprocess per batch size)
# ------------------------------------------------------------------------------------------


def _train_memory_child(batch: int, seed: int) -> None:
    """Runs in a fresh process: one compiled training step; prints a JSON line."""
    import keras

    from keras_fastsim.models.cepc_ecal import build_cepc_gan, build_cepc_regressor
    from keras_fastsim.reference.calorimeter import generate_cepc_ecal

    hits, conditions = generate_cepc_ecal(batch, seed)
    cond = conditions.to_numpy(np.float32)
    gan = build_cepc_gan(build_cepc_regressor(), seed=seed)
    gan.compile(keras.optimizers.Adam(2e-5, beta_1=0.5), keras.optimizers.Adam(2e-4, beta_1=0.5))
    before = _rss_bytes()
    w0 = time.perf_counter()
    with _RssSampler() as first_step:  # includes tracing the train function
        logs = gan.train_on_batch(hits, cond, return_dict=True)
    first = time.perf_counter() - w0
    between = _rss_bytes()
    w0 = time.perf_counter()
    with _RssSampler() as second_step:
        gan.train_on_batch(hits, cond, return_dict=True)
    second = time.perf_counter() - w0
    print(json.dumps({
        "batch": batch, "rss_before_gib": before / GIB,
        "rss_peak_gib": max(first_step.peak, second_step.peak) / GIB,
        "rss_peak_maxrss_gib": _rss_peak_bytes() / GIB,
        "step_growth_gib": (second_step.peak - between) / GIB,
        "first_step_growth_gib": (first_step.peak - before) / GIB,
        "retained_after_first_gib": (between - before) / GIB,
        "first_step_s": first, "step_s": second,
        "losses_finite": bool(all(np.isfinite(float(v)) for v in logs.values())),
    }))


def train_memory(batches, seed: int) -> list[dict]:
    rows = []
    for b in batches:
        out = subprocess.run(
            [sys.executable, os.path.abspath(__file__), "--_train-memory-child", str(b),
             "--seed", str(seed)],
            capture_output=True, text=True, check=False,
        )
        lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
        if out.returncode or not lines:
            print(f"  batch {b}: failed (rc={out.returncode}): {out.stderr[-2000:]}")
            continue
        rows.append(json.loads(lines[-1]))
    return rows


def _fit_memory(rows: list[dict]) -> dict | None:
    if len(rows) < 2:
        return None
    b = np.array([r["batch"] for r in rows], float)
    m = np.array([r["first_step_growth_gib"] for r in rows], float)
    slope, intercept = np.polyfit(b, m, 1)
    base = float(np.mean([r["rss_before_gib"] for r in rows]))
    fit = {"gib_per_shower": float(slope), "intercept_gib": float(intercept),
           "process_baseline_gib": base}
    if slope > 0:
        fit["max_batch_24gib"] = int((MEMORY_BUDGET_GIB - base - intercept) / slope)
    return fit


def activation_mib(model) -> float:
    """Sum of all layer outputs of one sample (float32), MiB: what a backward pass keeps."""
    import math

    total = 0
    for layer in model.layers:
        for out in (layer.output if isinstance(layer.output, (list, tuple)) else [layer.output]):
            if layer.__class__.__name__ != "InputLayer":
                total += math.prod(int(d) for d in out.shape[1:])
    return total * 4 / 2**20


# ------------------------------------------------------------------------------------------


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--reference-n", type=int, default=200,
                        help="reference showers to time (0: skip)")
    parser.add_argument("--train-batches", type=int, nargs="+", default=[2, 4, 8])
    parser.add_argument("--skip-train", action="store_true", help="skip the training memory")
    parser.add_argument("--precision", default="float32",
                        choices=["float32", "mixed_float16", "mixed_bfloat16"])
    parser.add_argument("--xla", action="store_true", help="TF: jit_compile the forward pass")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--_train-memory-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._train_memory_child:
        _train_memory_child(args._train_memory_child, args.seed)
        return {}

    import keras

    from keras_fastsim.models.cepc_ecal import (
        build_cepc_discriminator,
        build_cepc_generator,
        build_cepc_regressor,
        count_flops,
    )

    backend = keras.backend.backend()
    keras.mixed_precision.set_global_policy(args.precision)
    print(f"backend {backend}, precision {args.precision}, xla {args.xla}, "
          f"CPUs {os.cpu_count()}, load {os.getloadavg()[0]:.1f}")
    generator = build_cepc_generator()
    results: dict = {"backend": backend, "precision": args.precision, "xla": args.xla,
                     "load_average": os.getloadavg()[0], "models": {}}
    print("\n== networks (per shower)")
    for model in (generator, build_cepc_discriminator(), build_cepc_regressor()):
        row = {"parameters": int(model.count_params()), "gflop": count_flops(model) / 1e9,
               "activation_mib": activation_mib(model)}
        results["models"][model.name] = row
        print(f"  {model.name:20s} {row['parameters']:>10,d} parameters  "
              f"{row['gflop']:.3f} GFLOP (analytic)  {row['activation_mib']:.1f} MiB of "
              "layer outputs")
    if backend == "tensorflow":
        flops = _tf_profiler_flops(generator)
        results["models"][generator.name]["gflop_tf_profiler"] = (
            None if flops is None else flops / 1e9
        )
        if flops:
            print(f"  {generator.name:20s} {flops / 1e9:.3f} GFLOP (TF profiler)")

    print("\n== showers/s (best of repeats; CPU-s includes all threads)")
    rows = throughput(generator, args.batches, args.repeats, args.xla, args.seed)
    if args.reference_n > 0:
        rows.append(reference_throughput(args.reference_n, args.seed))
    for r in rows:
        print(f"  {r['what']:30s} batch {r['batch']:>6d}: {r['showers_per_s']:10.1f} /s wall, "
              f"{r['showers_per_cpu_s']:10.1f} /CPU-s, {r['ms_per_batch']:9.1f} ms/batch")
    results["throughput"] = rows

    if not args.skip_train and backend == "tensorflow" and args.train_batches:
        print("\n== one training step (D step + 2 G steps, frozen regressor), fresh process each")
        mem = train_memory(args.train_batches, args.seed)
        for r in mem:
            print(f"  batch {r['batch']:>4d}: peak RSS {r['rss_peak_gib']:.2f} GiB; step growth "
                  f"{r['step_growth_gib']:.3f} GiB (first step {r['first_step_growth_gib']:.3f}, "
                  f"retained {r['retained_after_first_gib']:.3f}); step {r['step_s']:.1f} s "
                  f"(first {r['first_step_s']:.1f} s); losses finite {r['losses_finite']}")
        fit = _fit_memory(mem)
        if fit:
            print(f"  fit: {fit['gib_per_shower'] * 1024:.1f} MiB/shower + "
                  f"{fit['intercept_gib']:.2f} GiB, process {fit['process_baseline_gib']:.2f} "
                  f"GiB -> largest batch in {MEMORY_BUDGET_GIB:.0f} GiB: "
                  f"{fit.get('max_batch_24gib')}")
        results["train_memory"] = {"rows": mem, "fit": fit}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return results


if __name__ == "__main__":
    main()
