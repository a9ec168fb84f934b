"""Throughput and peak memory of the reference shower generators (BESIII EMC, CEPC ECAL).

Usage:
    python benchmarks/bench_reference_showers.py [--n-besiii 20000] [--n-cepc 1000] ...

For each case it prints showers/s of the full generator (conditions + showers, timed without
tracemalloc; wall clock and per CPU-second, the latter robust on a shared machine) and the peak
Python-heap memory (tracemalloc, numpy buffers included) of
(a) ``generate_*`` holding all output and (b) streaming with ``ShowerSimulator.iter_simulate``
(the bounded working set).
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np

from keras_fastsim.reference.calorimeter import (
    ShowerSimulator,
    besiii_emc_geometry,
    cepc_ecal_geometry,
    generate_besiii_emc,
    generate_cepc_ecal,
)


def _peak(fn) -> float:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def _stream(sim: ShowerSimulator, n: int, energy: float, particle: str, seed: int) -> None:
    for _ in sim.iter_simulate(np.full(n, energy), particle=particle, seed=seed):
        pass


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-besiii", type=int, default=20000, help="BESIII showers")
    parser.add_argument("--n-cepc", type=int, default=1000, help="CEPC showers at 10 GeV")
    parser.add_argument("--n-cepc-100", type=int, default=300, help="CEPC showers at 100 GeV")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--block-size", type=int, default=64)
    parser.add_argument("--max-spots", type=int, default=4000)
    args = parser.parse_args(argv)
    kw = {"block_size": args.block_size, "max_spots": args.max_spots}

    cases = [
        ("BESIII EMC e, 1.8 GeV, 11x11", args.n_besiii,
         lambda n: generate_besiii_emc(n, args.seed, momentum=1.8, **kw),
         ShowerSimulator(besiii_emc_geometry(), **kw), 1.8, "e-"),
        ("CEPC ECAL gamma, 10 GeV, 30x30x29", args.n_cepc,
         lambda n: generate_cepc_ecal(n, args.seed, energy=10.0, **kw),
         ShowerSimulator(cepc_ecal_geometry(), **kw), 10.0, "gamma"),
        ("CEPC ECAL gamma, 100 GeV, 30x30x29", args.n_cepc_100,
         lambda n: generate_cepc_ecal(n, args.seed, energy=100.0, **kw),
         ShowerSimulator(cepc_ecal_geometry(), **kw), 100.0, "gamma"),
    ]
    print(f"block_size={args.block_size} max_spots={args.max_spots}")
    for name, n, generate, sim, energy, particle in cases:
        start, cpu = time.perf_counter(), time.process_time()
        showers, conditions = generate(n)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        total = showers.reshape(n, -1).sum(1) / conditions["Mom"].to_numpy()
        output_mb = showers.nbytes / 2**20
        del showers
        n_mem = max(1, min(n, 4 * args.block_size))
        peak_all = _peak(lambda: generate(n_mem))
        peak_stream = _peak(lambda: _stream(sim, n_mem, energy, particle, args.seed))
        print(
            f"{name}: {n / elapsed:,.0f} showers/s wall ({n} in {elapsed:.2f} s), "
            f"{n / cpu:,.0f} showers/CPU-s; "
            f"E_cells/E = {total.mean():.3f} +- {total.std():.3f}; output {output_mb:.1f} MiB; "
            f"peak memory (n={n_mem}) generate {peak_all:.1f} MiB, streaming "
            f"{peak_stream:.1f} MiB"
        )
        if name.startswith("BESIII"):
            hits, _ = generate(2000)
            cells = hits[..., 0]
            tot = cells.sum((1, 2))
            e5 = cells[:, 3:8, 3:8].sum((1, 2))
            e3 = cells[:, 4:7, 4:7].sum((1, 2))
            print(
                f"    E3x3/E11x11 = {np.mean(e3 / tot):.4f}, "
                f"E5x5/E11x11 = {np.mean(e5 / tot):.4f}"
            )


if __name__ == "__main__":
    main()
