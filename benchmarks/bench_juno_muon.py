"""One JUNO muon event, full optical Monte Carlo vs fast simulation (NN_npe + NN_time), same run.

The fast simulation of the whole track is timed (median of ``--repeats``; the response tables are
built or loaded first and their one-off cost is printed separately). The full simulation of a
whole ~35 m muon takes minutes, so by default it simulates the first ``--full-piece-m`` metres of
the same track and extrapolates linearly in the number of photons (the cost of the photon
transport is proportional to it: the reference benchmark's photons/s is flat in the track
length); ``--full-piece-m 0`` simulates the whole track instead. The script says which it did.

    .venv/bin/python benchmarks/bench_juno_muon.py --npe-run runs/juno_fastsim/run_npe \\
        --time-run runs/juno_fastsim/run_time [--tables runs/juno_fastsim/tables.npz]

Target (the slides): fast >= 30x faster than full.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--npe-run", default="runs/juno_fastsim/run_npe")
    parser.add_argument("--time-run", default="runs/juno_fastsim/run_time")
    parser.add_argument("--tables", default=None, help="response tables .npz (built and not saved if absent)")
    parser.add_argument("--seed", type=int, default=0, help="track seed (sample_muon_tracks)")
    parser.add_argument("--min-length-m", type=float, default=30.0, help="take the first track at least this long")
    parser.add_argument("--segment-m", type=float, default=0.2)
    parser.add_argument("--full-piece-m", type=float, default=3.0, help="0: full simulation of the whole track")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    import keras

    from keras_fastsim.reference.juno import JunoOpticalSimulator, sample_muon_tracks
    from keras_fastsim.simulation.juno_fast import JunoFastSimulator, JunoResponseTables

    print(f"backend {keras.backend.backend()}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} logical CPUs, load average {os.getloadavg()[0]:.1f}")
    tracks = sample_muon_tracks(20, args.seed)
    track = next(t for t in tracks if t.length_m >= args.min_length_m)
    n_photons_track = track.energies_mev.sum() * 1.0e4
    print(f"muon: {track.energy_gev:.0f} GeV, chord {track.length_m:.1f} m, {len(track.points)} steps, "
          f"{track.energies_mev.sum():.0f} MeV deposited, ~{n_photons_track:.2e} photons")

    t0 = time.perf_counter()
    tables = JunoResponseTables.load(args.tables) if args.tables and os.path.exists(args.tables) else None
    fast = JunoFastSimulator.from_runs(args.npe_run, args.time_run, segment_m=args.segment_m, tables=tables)
    built = fast.tables
    print(f"fast: response tables {'loaded' if tables is not None else 'built'} in "
          f"{time.perf_counter() - t0:.1f} s (build cost {built.build_seconds:.1f} s, once per trained model)")
    fast.simulate_track(track.points[:200], track.energies_mev[:200], 0, times=track.times_ns[:200],
                        keep_hits=False)  # warm-up
    times = []
    for r in range(args.repeats):
        t0 = time.perf_counter()
        npe_f, _, first_f = fast.simulate_muon(track, seed=r, keep_hits=False)
        times.append(time.perf_counter() - t0)
    t_fast = float(np.median(times))
    print(f"fast: whole track {t_fast:.2f} s (median of {args.repeats}: {', '.join(f'{t:.2f}' for t in times)}), "
          f"{npe_f.sum():,} p.e., {fast.last_stats['segments']} segments of {args.segment_m} m")

    sim = JunoOpticalSimulator()
    sim.simulate_deposit([0.0, 0.0, 0.0], 0.1, seed=0)  # warm-up
    if args.full_piece_m > 0:
        keep = track.times_ns * 0.299792458 <= args.full_piece_m
        pts, en, tms = track.points[keep], track.energies_mev[keep], track.times_ns[keep]
    else:
        pts, en, tms = track.points, track.energies_mev, track.times_ns
    t0 = time.perf_counter()
    npe_full, _, _ = sim.simulate_track(pts, en, seed=1, times=tms, keep_hits=False)
    t_piece = time.perf_counter() - t0
    photons = sim.last_stats["photons"]
    t_full = t_piece * track.energies_mev.sum() / en.sum()
    if args.full_piece_m > 0:
        print(f"full: first {args.full_piece_m:g} m ({en.sum():.0f} MeV, {photons:.2e} photons) in {t_piece:.1f} s "
              f"({photons / t_piece:,.0f} photons/s) -> EXTRAPOLATED to the whole track: {t_full:.0f} s")
    else:
        print(f"full: whole track ({photons:.2e} photons) in {t_full:.0f} s ({photons / t_full:,.0f} photons/s)")
    ratio = t_full / t_fast
    ratio_with_build = t_full / (t_fast + built.build_seconds)
    print(f"speed-up full / fast: {ratio:.0f}x per event (target >= 30x: {'met' if ratio >= 30 else 'NOT met'}); "
          f"{ratio_with_build:.1f}x for a single event that also builds the tables")


if __name__ == "__main__":
    main()
