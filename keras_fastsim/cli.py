"""The ``keras-fastsim`` command line.

Verbs: ``reference``, ``train``, ``generate``, ``evaluate``, ``export``, ``demo``.
Heavy imports (TensorFlow) happen inside the handlers so that ``--help`` is instant.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from keras_fastsim import __version__
from keras_fastsim.physics.species import HADRON_SPECIES, SPECIES


def _branches(items: Sequence[str] | None) -> dict[str, str]:
    out = {}
    for item in items or []:
        column, sep, branch = item.partition("=")
        if not sep or not column or not branch:
            raise ValueError(f"--branch takes COLUMN=BRANCH. Received: {item!r}")
        out[column] = branch
    return out


def _add_table_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tree", help="ROOT input: TTree name (default: the file's only TTree)")
    parser.add_argument(
        "--branch", action="append", metavar="COLUMN=BRANCH",
        help="ROOT input: branch holding a column, e.g. --branch p=mom (repeatable)",
    )


def _read(path: str, args: argparse.Namespace, require_dedx: bool = True):
    from keras_fastsim.io.tables import read_tracks

    return read_tracks(
        path, require_dedx=require_dedx, tree=args.tree, branches=_branches(args.branch)
    )


# -- reference ---------------------------------------------------------------------
def _reference_dedx(args: argparse.Namespace) -> None:
    from keras_fastsim.io.tables import write_tracks
    from keras_fastsim.reference.dedx import DedxReference

    table = DedxReference().generate(args.n, species=args.species or HADRON_SPECIES, seed=args.seed)
    write_tracks(table, args.out)
    print(f"wrote {len(table)} tracks to {args.out}")


def _reference_besiii_emc(args: argparse.Namespace) -> None:
    from keras_fastsim.io.showers import write_besiii_emc
    from keras_fastsim.reference.calorimeter import generate_besiii_emc

    hits, conditions = generate_besiii_emc(args.n, seed=args.seed, progress=True)
    write_besiii_emc(args.out, hits, conditions)
    print(f"wrote {len(hits)} BESIII EMC showers to {args.out}")


def _reference_cepc_ecal(args: argparse.Namespace) -> None:
    from keras_fastsim.io.showers import write_cepc_ecal
    from keras_fastsim.reference.calorimeter import generate_cepc_ecal

    voxels, conditions = generate_cepc_ecal(
        args.n, seed=args.seed, grid=tuple(args.grid), progress=True
    )
    write_cepc_ecal(args.out, voxels, conditions)
    print(f"wrote {len(voxels)} CEPC ECAL showers to {args.out}")


def _reference_juno(args: argparse.Namespace) -> None:
    from keras_fastsim.io.atomic import atomic_path
    from keras_fastsim.reference.juno import make_training_samples

    samples = make_training_samples(
        args.n, args.seed, energy_mev=args.energy, progress=True
    )
    out = Path(args.out)
    for name, table in (("npe", samples.npe), ("time", samples.time)):
        with atomic_path(out.with_name(f"{out.stem}_{name}.parquet")) as tmp:
            table.to_parquet(tmp, index=False)
    print(f"wrote {len(samples.npe)} n_pe rows and {len(samples.time)} hit-time rows "
          f"to {out.stem}_npe.parquet / {out.stem}_time.parquet")


# -- train -------------------------------------------------------------------------
def _train_dedx_flow(args: argparse.Namespace) -> None:
    from keras_fastsim.training.config import load_config, merge_config
    from keras_fastsim.training.dedx_flow import train_dedx_flow_run

    config = load_config(args.config or "dedx_flow")
    config = merge_config(
        config,
        {"training": {"epochs": args.epochs, "batch_size": args.batch_size,
                      "strategy": args.strategy, "seed": args.seed}},
    )
    table = _read(args.data, args)
    species = args.species or sorted(set(table["species"]) & set(HADRON_SPECIES))
    train_dedx_flow_run(
        table, args.out, species, model_config=config.get("model", {}),
        **config.get("training", {}),
    )
    print(f"trained {species} into {args.out}")


def _train_dedx_hist(args: argparse.Namespace) -> None:
    from keras_fastsim.training.dedx_histogram import train_histogram_run

    train_histogram_run(_read(args.data, args), args.out, seed=args.seed)
    print(f"fitted the histogram-sampling baseline into {args.out}")


# -- generate / evaluate / export ----------------------------------------------------
def _generate(args: argparse.Namespace) -> None:
    from keras_fastsim.io.tables import write_tracks
    from keras_fastsim.runs import simulate_tracks

    tracks = _read(args.conditions, args, require_dedx=False)
    write_tracks(simulate_tracks(args.run_dir, tracks, seed=args.seed), args.out)
    print(f"wrote {len(tracks)} simulated tracks to {args.out}")


def _evaluate_dedx(args: argparse.Namespace) -> None:
    from keras_fastsim.evaluation.dedx_report import evaluate_dedx, headline

    data = _read(args.data, args)
    sims = {}
    for item in args.sim:
        name, sep, path = item.partition("=")
        if not sep:
            name, path = Path(item).stem, item
        if name in sims:
            raise ValueError(f"two simulations named {name!r}; use --sim NAME=FILE")
        sims[name] = _read(path, args)
    metrics = evaluate_dedx(data, sims, args.out, seed=args.seed)
    print(f"wrote metrics, figures and report to {args.out}")
    for name, numbers in headline(metrics).items():
        print(f"  {name}: " + ", ".join(f"{k}={v:.4g}" if v is not None else f"{k}=-"
                                        for k, v in numbers.items()))


def _export(args: argparse.Namespace) -> None:
    from keras_fastsim.export import export_run

    for path in export_run(args.run_dir, args.out):
        print(f"exported {path}")


def _demo(args: argparse.Namespace) -> None:
    from keras_fastsim.demo import run_dedx_demo

    report = run_dedx_demo(args.out, n_per_species=args.n, epochs=args.epochs, seed=args.seed)
    print(f"demo finished: report at {report}")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``keras-fastsim``."""
    parser = argparse.ArgumentParser(
        prog="keras-fastsim",
        description="Generative fast simulation for HEP detectors (JUNO, BESIII, CEPC).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    ref = verbs.add_parser("reference", help="make reference ('full simulation') samples")
    ref_kinds = ref.add_subparsers(dest="kind", required=True, metavar="KIND")
    p = ref_kinds.add_parser("dedx", help="BESIII drift-chamber tracks with dE/dx")
    p.add_argument("--n", type=int, required=True, help="tracks per species")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--species", action="append", choices=sorted(SPECIES),
                   help="species to make (repeatable; default: the six hadrons)")
    p.add_argument("--out", required=True, help="output table (.parquet, .csv or .root)")
    p.set_defaults(func=_reference_dedx)

    p = ref_kinds.add_parser("besiii-emc", help="BESIII EMC 11x11 e+/e- showers (HDF5)")
    p.add_argument("--n", type=int, required=True, help="number of showers")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output .h5 (Barrel_Hit, MC_info)")
    p.set_defaults(func=_reference_besiii_emc)
    p = ref_kinds.add_parser("cepc-ecal", help="CEPC ECAL Si-W photon showers (HDF5)")
    p.add_argument("--n", type=int, required=True, help="number of showers")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--grid", type=int, nargs=3, default=(30, 30, 29), metavar=("NZ", "NY", "NL"),
                   help="voxel grid (default 30 30 29)")
    p.add_argument("--out", required=True, help="output .h5")
    p.set_defaults(func=_reference_cepc_ecal)
    p = ref_kinds.add_parser("juno", help="JUNO (R, theta) -> (n_pe, hit time) training samples")
    p.add_argument("--n", type=int, required=True, help="number of point deposits")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--energy", type=float, default=1.0, help="deposit energy in MeV (default 1)")
    p.add_argument("--out", required=True,
                   help="output stem: writes STEM_npe.parquet and STEM_time.parquet")
    p.set_defaults(func=_reference_juno)

    train = verbs.add_parser("train", help="train a model into a run directory")
    train_kinds = train.add_subparsers(dest="kind", required=True, metavar="MODEL")
    p = train_kinds.add_parser("dedx-flow", help="per-species dE/dx normalizing flows")
    p.add_argument("--data", required=True, help="training track table")
    p.add_argument("--species", action="append", choices=HADRON_SPECIES,
                   help="species to train (repeatable; default: all in the table)")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--epochs", type=int, help="override the config's epochs (paper: 100)")
    p.add_argument("--batch-size", type=int, help="override the config's batch size (paper: 128)")
    p.add_argument("--config", help="YAML config (default: the packaged dedx_flow.yaml)")
    p.add_argument("--strategy", choices=("default", "mirrored", "multiworker"),
                   help="tf.distribute strategy (default: from the config, else 'default')")
    p.add_argument("--seed", type=int, help="override the config's seed")
    _add_table_options(p)
    p.set_defaults(func=_train_dedx_flow)
    p = train_kinds.add_parser("dedx-hist", help="histogram-sampling baseline (traditional method)")
    p.add_argument("--data", required=True, help="training track table")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--seed", type=int, default=0)
    _add_table_options(p)
    p.set_defaults(func=_train_dedx_hist)

    p = verbs.add_parser("generate", help="simulate with a trained run")
    p.add_argument("run_dir", help="run directory written by 'train'")
    p.add_argument("--conditions", required=True,
                   help="track table with species, p, theta, nhits (dedx, if present, is replaced)")
    p.add_argument("--out", required=True, help="output table")
    p.add_argument("--seed", type=int, default=0)
    _add_table_options(p)
    p.set_defaults(func=_generate)

    ev = verbs.add_parser("evaluate", help="compare simulation with reference data")
    ev_kinds = ev.add_subparsers(dest="kind", required=True, metavar="KIND")
    p = ev_kinds.add_parser("dedx", help="dE/dx distributions, PID efficiency and mis-ID")
    p.add_argument("--data", required=True, help="held-out data table")
    p.add_argument("--sim", required=True, action="append", metavar="[NAME=]FILE",
                   help="simulated table of the same tracks (repeatable)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--seed", type=int, default=0)
    _add_table_options(p)
    p.set_defaults(func=_evaluate_dedx)

    p = verbs.add_parser("export", help="export a run as TensorFlow SavedModel(s)")
    p.add_argument("run_dir")
    p.add_argument("--out", required=True, help="output directory")
    p.set_defaults(func=_export)

    p = verbs.add_parser("demo", help="the whole chain on a small embedded default")
    p.add_argument("--out", default="runs/demo", help="output directory (default: runs/demo)")
    p.add_argument("--n", type=int, default=20000, help="reference tracks per species")
    p.add_argument("--epochs", type=int, default=4, help="training epochs")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the CLI; returns the exit code."""
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        args.func(args)
    except KeyboardInterrupt:
        print("interrupted; no partial output was written", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError) as err:
        print(f"keras-fastsim: error: {err}", file=sys.stderr)
        return 2
    return 0
