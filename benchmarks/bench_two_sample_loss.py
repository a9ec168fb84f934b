"""Time the two-sample losses (value + gradient) and their peak memory versus sample size.

For every pooled size ``N = n1 + n2`` (``n1 = n2 = N / 2``, ``d`` features) and every loss the
script times ``loss(x, y)`` plus its gradient with respect to ``y`` inside ``tf.function``, once
without and once with ``jit_compile=True`` (XLA), and reports the median of ``--repeats`` calls
after one warm-up (tracing/compilation) call.

Memory: on a GPU the peak of TensorFlow's allocator is read with
``tf.config.experimental.get_memory_info`` after ``reset_memory_stats`` ("tf-peak"). On a CPU
TensorFlow exposes no allocator statistics, so the resident set size of the process is sampled
every 2 ms during the calls and the peak increase over the value just before is reported
("rss-delta"; approximate: the allocator keeps freed blocks, so earlier, smaller runs can hide
part of a later run's footprint). The column ``4N^2 MiB`` is the analytic size of one dense
float32 ``N x N`` matrix, the unit in which all three losses scale.

Usage::

    python benchmarks/bench_two_sample_loss.py                      # all losses, N = 256 .. 4096
    python benchmarks/bench_two_sample_loss.py --losses smoothknn --sizes 256 1024 --repeats 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class _RssSampler:
    """Peak resident set size (bytes) seen by a background thread while active."""

    def __init__(self, interval: float = 0.002) -> None:
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss_bytes())
            time.sleep(self.interval)

    def __enter__(self) -> _RssSampler:
        self.peak = _rss_bytes()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_bytes())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024, 2048, 4096])
    parser.add_argument("--dim", type=int, default=5)
    parser.add_argument(
        "--losses", nargs="+", default=["smoothknn", "mmd", "energy"],
        choices=["smoothknn", "mmd", "energy"],
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-jit", action="store_true", help="skip the jit_compile=True runs")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import numpy as np
    import tensorflow as tf

    from keras_fastsim.losses import get_two_sample_loss

    tf.get_logger().setLevel("ERROR")  # one tf.function per configuration: retracing is intended
    gpus = tf.config.list_physical_devices("GPU")
    device = "GPU:0" if gpus else "CPU:0"
    mem_kind = "tf-peak" if gpus else "rss-delta"
    print(f"device={device} TF={tf.__version__} d={args.dim} repeats={args.repeats} "
          f"threads(intra)={tf.config.threading.get_intra_op_parallelism_threads() or 'auto'} "
          f"cpus={os.cpu_count()}")
    header = (f"{'loss':<10}{'N':>6}{'jit':>5}{'first call s':>14}{'median ms':>11}"
              f"{'4N^2 MiB':>10}{'peak MiB':>10}  memory")
    print(header)
    print("-" * len(header))
    rng = np.random.default_rng(args.seed)
    modes = [False] if args.no_jit else [False, True]
    losses = {name: get_two_sample_loss(name) for name in args.losses}
    for n in sorted(args.sizes):  # ascending, so cached allocations hide little of larger runs
        x = tf.constant(rng.normal(size=(n // 2, args.dim)).astype("float32"))
        y = tf.constant(rng.normal(size=(n - n // 2, args.dim)).astype("float32") + 0.1)
        for name, loss_fn in losses.items():
            for jit in modes:

                @tf.function(jit_compile=jit)
                def value_and_grad(x, y):
                    with tf.GradientTape() as tape:
                        tape.watch(y)
                        value = loss_fn(x, y)
                    return value, tape.gradient(value, y)

                if gpus:
                    tf.config.experimental.reset_memory_stats(device)
                base = _rss_bytes()
                with _RssSampler() as sampler:
                    t0 = time.perf_counter()
                    value, grad = value_and_grad(x, y)
                    _ = grad.numpy()
                    first = time.perf_counter() - t0
                    times = []
                    for _ in range(args.repeats):
                        t0 = time.perf_counter()
                        value, grad = value_and_grad(x, y)
                        _ = grad.numpy()
                        times.append(time.perf_counter() - t0)
                if gpus:
                    peak = tf.config.experimental.get_memory_info(device)["peak"]
                else:
                    peak = max(0, sampler.peak - base)
                assert np.isfinite(float(value)) and np.all(np.isfinite(grad.numpy()))
                print(f"{name:<10}{n:>6}{'yes' if jit else 'no':>5}{first:>14.2f}"
                      f"{1e3 * statistics.median(times):>11.1f}{4 * n * n / 2**20:>10.1f}"
                      f"{peak / 2**20:>10.0f}  {mem_kind}", flush=True)


if __name__ == "__main__":
    main()
