"""Benchmark of the JUNO reference optical Monte Carlo (keras_fastsim.reference.juno).

Prints the photon throughput and the light yield (p.e./MeV) of a deposit at the centre, the time
and peak memory of a short muon track (default 1 m, ~200 MeV, ~2e6 photons) and the
extrapolation of that time to a full ~35 m muon chord (time scales with the number of photons).

    .venv/bin/python benchmarks/bench_reference_juno.py [--energy-mev 50] [--track-length-m 1]
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc

import numpy as np

from keras_fastsim.reference.juno import JunoOpticalSimulator, sample_muon_tracks


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--energy-mev", type=float, default=50.0, help="central deposit energy [MeV]")
    parser.add_argument("--track-length-m", type=float, default=1.0, help="length of the muon piece [m]")
    parser.add_argument("--full-length-m", type=float, default=35.0, help="length to extrapolate to [m]")
    parser.add_argument("--chunk-size", type=int, default=262_144, help="photons per chunk")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--progress", action="store_true", help="tqdm progress bar for the track")
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    sim = JunoOpticalSimulator()
    print(f"setup (17,612 PMTs, cKDTree): {time.perf_counter() - t0:.2f} s; "
          f"geometric coverage {sim.geometric_coverage():.4f}")
    sim.simulate_deposit([0.0, 0.0, 0.0], 0.1, seed=0)  # warm-up

    t0 = time.perf_counter()
    npe, (pmt, t) = sim.simulate_deposit([0.0, 0.0, 0.0], args.energy_mev, seed=args.seed,
                                         chunk_size=args.chunk_size)
    dt = time.perf_counter() - t0
    st = sim.last_stats
    pe_per_mev = npe.sum() / args.energy_mev
    err = np.sqrt(npe.sum()) / args.energy_mev
    print(f"centre deposit {args.energy_mev:g} MeV: {st['photons']:,} photons in {dt:.2f} s "
          f"-> {st['photons'] / dt:,.0f} photons/s")
    print(f"  p.e./MeV at the centre: {pe_per_mev:.1f} +- {err:.1f} (stat); "
          f"exited to water {st['exited'] / st['photons']:.3f}, killed {st['killed']}")
    print(f"  hit time: min {t.min():.1f} ns, median {np.median(t):.1f} ns")

    # a muon piece through the centre region, deposits every 1 cm at 0.2 MeV/mm
    track = sample_muon_tracks(1, seed=args.seed)[0]
    keep = track.times_ns * 0.299792458 <= args.track_length_m
    pts, en, tms = track.points[keep], track.energies_mev[keep], track.times_ns[keep]
    t0 = time.perf_counter()
    npe, _, first = sim.simulate_track(pts, en, seed=args.seed, times=tms, chunk_size=args.chunk_size,
                                       keep_hits=False, progress=args.progress)
    dt = time.perf_counter() - t0
    st = sim.last_stats
    print(f"muon piece: {args.track_length_m:g} m, {len(pts)} steps, {en.sum():.0f} MeV, "
          f"{st['photons']:,} photons -> {npe.sum():,} p.e. on {(npe > 0).sum():,} PMTs "
          f"in {dt:.2f} s ({st['photons'] / dt:,.0f} photons/s, max {st['steps']} steps, "
          f"killed {st['killed']})")
    full_photons = st["photons"] * args.full_length_m / args.track_length_m
    print(f"  extrapolated full muon ({args.full_length_m:g} m, {en.sum() * args.full_length_m / args.track_length_m / 1e3:.1f} GeV, "
          f"{full_photons:.2e} photons): {dt * args.full_length_m / args.track_length_m:.0f} s on one core")
    print(f"  (this muon: {track.energy_gev:.0f} GeV, chord {track.length_m:.1f} m)")

    for keep_hits in (False, True):
        tracemalloc.start()
        sim.simulate_track(pts, en, seed=args.seed, times=tms, chunk_size=args.chunk_size, keep_hits=keep_hits)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"  peak traced memory, keep_hits={keep_hits}: {peak / 2**20:.0f} MiB "
              f"(chunk_size={args.chunk_size:,})")
    print(f"max RSS of the process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
