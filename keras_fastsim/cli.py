"""The ``keras-fastsim`` command line.

Verbs: ``reference``, ``train``, ``simulate``, ``generate``, ``evaluate``, ``export``, ``demo``.
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


def _add_training_options(
    parser: argparse.ArgumentParser,
    config: str,
    epochs: str = "override the config's epochs",
    batch_size: str = "override the config's batch size",
) -> None:
    """``--epochs``, ``--batch-size``, ``--config``, ``--strategy``, ``--seed`` of a train verb."""
    parser.add_argument("--epochs", type=int, help=epochs)
    parser.add_argument("--batch-size", type=int, help=batch_size)
    parser.add_argument("--config", help=f"YAML config (default: the packaged {config}.yaml)")
    parser.add_argument("--strategy", choices=("default", "mirrored", "multiworker"),
                        help="tf.distribute strategy (default: from the config, else 'default')")
    parser.add_argument("--seed", type=int, help="override the config's seed")


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
    from keras_fastsim.reference.calorimeter import (
        generate_besiii_emc,
        simulate_besiii_emc,
    )
    from keras_fastsim.training.besiii_emc import read_besiii_conditions

    if args.conditions is not None:
        conditions = read_besiii_conditions(args.conditions)
        hits = simulate_besiii_emc(conditions, seed=args.seed, progress=True)
    else:
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
def _training_config(
    args: argparse.Namespace, default: str, section: str = "training", **extra: dict
) -> dict:
    """The YAML config (``--config`` or the packaged ``default``) with the CLI overrides.

    ``--epochs``, ``--batch-size``, ``--strategy`` and ``--seed`` go into ``section``;
    ``extra`` maps further sections to overrides. Unset flags keep the config's values.
    """
    from keras_fastsim.training.config import load_config, merge_config

    overrides = {section: {"epochs": args.epochs, "batch_size": args.batch_size,
                           "strategy": args.strategy, "seed": args.seed}}
    return merge_config(load_config(args.config or default), overrides | extra)


def _train_dedx_flow(args: argparse.Namespace) -> None:
    from keras_fastsim.training.dedx_flow import train_dedx_flow_run

    config = _training_config(args, "dedx_flow")
    table = _read(args.data, args)
    species = args.species or sorted(set(table["species"]) & set(HADRON_SPECIES))
    train_dedx_flow_run(
        table, args.out, species, model_config=config.get("model", {}),
        **config.get("training", {}),
    )
    print(f"trained {species} into {args.out}")


def _train_dedx_knn(args: argparse.Namespace) -> None:
    from keras_fastsim.training.dedx_knn import train_dedx_knn, tune_dedx_knn

    config = _training_config(args, "dedx_knn", tuning={"trials": args.trials})
    table = _read(args.data, args)
    kwargs = config.get("model", {}) | config.get("training", {})
    if config.get("loss"):
        loss = dict(config["loss"])
        kwargs["loss"] = loss.pop("name", "smoothknn")
        kwargs["loss_config"] = loss or None
    if args.tune:
        tuning = dict(config.get("tuning", {}))
        for key in ("hidden_layers", "units", "learning_rate"):
            kwargs.pop(key, None)
        tune_dedx_knn(table, args.out, **tuning, **kwargs)
        print(f"tuned ({tuning.get('trials')} trials) and trained the dE/dx net into {args.out}")
    else:
        train_dedx_knn(table, args.out, **kwargs)
        print(f"trained the dE/dx net into {args.out}")


def _train_dedx_hist(args: argparse.Namespace) -> None:
    from keras_fastsim.training.dedx_histogram import train_histogram_run

    train_histogram_run(_read(args.data, args), args.out, seed=args.seed)
    print(f"fitted the histogram-sampling baseline into {args.out}")


def _train_juno(args: argparse.Namespace) -> None:
    from keras_fastsim.training.juno import train_juno_npe, train_juno_time

    name = "npe" if args.kind == "juno-npe" else "time"
    config = _training_config(args, f"juno_{name}")
    train = train_juno_npe if name == "npe" else train_juno_time
    train(args.data, args.out, model_config=config.get("model", {}), **config.get("training", {}))
    print(f"trained NN_{name} into {args.out}")


def _train_besiii_emc_regressor(args: argparse.Namespace) -> None:
    from keras_fastsim.io.showers import read_besiii_emc
    from keras_fastsim.training.besiii_emc import train_besiii_regressor_run

    config = _training_config(args, "besiii_emc", "regressor")
    hits, conditions = read_besiii_emc(args.data)
    train_besiii_regressor_run(hits, conditions, args.out, **config.get("regressor", {}))
    print(f"trained the BESIII EMC regressor on {len(hits)} showers into {args.out}")


def _train_besiii_emc(args: argparse.Namespace) -> None:
    from keras_fastsim.io.showers import read_besiii_emc
    from keras_fastsim.training.besiii_emc import train_besiii_gan_run

    config = _training_config(args, "besiii_emc")
    hits, conditions = read_besiii_emc(args.data)
    train_besiii_gan_run(
        hits, conditions, args.out, regressor=args.regressor,
        **config.get("model", {}), **config.get("training", {}),
    )
    print(f"trained the BESIII EMC GAN on {len(hits)} showers into {args.out}")


def _train_cepc_ecal_regressor(args: argparse.Namespace) -> None:
    from keras_fastsim.training.cepc_ecal import train_cepc_regressor_run

    config = _training_config(args, "cepc_ecal", "regressor")
    options = dict(config.get("regressor", {}))
    if args.max_showers is not None:
        options["max_showers"] = args.max_showers
    train_cepc_regressor_run(args.data, args.out, **options)
    print(f"trained the CEPC ECAL regressor on {args.data} into {args.out}")


def _train_cepc_ecal(args: argparse.Namespace) -> None:
    from keras_fastsim.training.cepc_ecal import train_cepc_gan_run

    config = _training_config(args, "cepc_ecal")
    options = dict(config.get("training", {}))
    if args.max_showers is not None:
        options["max_showers"] = args.max_showers
    train_cepc_gan_run(args.data, args.out, regressor=args.regressor,
                       **config.get("model", {}), **options)
    print(f"trained the CEPC ECAL GAN on {args.data} into {args.out}")


# -- simulate ----------------------------------------------------------------------
def _simulate_juno_muon(args: argparse.Namespace) -> None:
    from keras_fastsim.evaluation.juno import simulate_fast_muons, simulate_full_muons

    if args.n < 1:
        raise ValueError(f"--n must be >= 1. Received: {args.n}")
    if args.mode == "full":
        from keras_fastsim.reference.juno import JunoOpticalSimulator

        arrays = simulate_full_muons(JunoOpticalSimulator(), args.n, args.seed, path=args.out)
    else:
        if not args.npe_run or not args.time_run:
            raise ValueError("--mode fast needs --npe-run and --time-run (run directories of 'train')")
        from keras_fastsim.simulation import JunoFastSimulator

        fast = JunoFastSimulator.from_runs(args.npe_run, args.time_run, segment_m=args.segment_m)
        print(f"built the response tables from the nets in {fast.tables.build_seconds:.1f} s (once)")
        arrays = simulate_fast_muons(fast, args.seed, args.n, seed=args.seed, path=args.out)
    print(f"wrote {args.n} {args.mode}-simulation muon events to {args.out} "
          f"({arrays['seconds'].mean():.2f} s per event; keys npe, first, seconds, track parameters)")


# -- generate / evaluate / export ----------------------------------------------------
def _run_kind(run_dir: str) -> str | None:
    from keras_fastsim.runs import RUN_FILE, read_manifest

    return read_manifest(run_dir)["kind"] if (Path(run_dir) / RUN_FILE).is_file() else None


def _generate_besiii_emc(args: argparse.Namespace) -> None:
    from keras_fastsim.io.showers import write_besiii_emc
    from keras_fastsim.training.besiii_emc import (
        generate_showers,
        read_besiii_conditions,
    )

    conditions = read_besiii_conditions(args.conditions)
    hits = generate_showers(args.run_dir, conditions, seed=args.seed)
    write_besiii_emc(args.out, hits, conditions)
    print(f"wrote {len(hits)} generated BESIII EMC showers (Barrel_Hit, MC_info) to {args.out}")


def _evaluate_besiii_emc(args: argparse.Namespace) -> None:
    import numpy as np

    from keras_fastsim.evaluation.showers import evaluate_showers, headline
    from keras_fastsim.io.showers import read_besiii_emc

    hits, conditions = read_besiii_emc(args.data)
    sim_hits, sim_conditions = read_besiii_emc(args.sim)
    same = len(sim_hits) == len(hits) and np.allclose(
        sim_conditions.to_numpy(), conditions.to_numpy(), rtol=1e-5, atol=1e-5
    )
    metrics = evaluate_showers(
        hits, conditions, sim_hits, args.out, gen_conditions=None if same else sim_conditions,
        seed=args.seed, classifier=not args.no_classifier, name=args.name,
    )
    print(f"wrote metrics, figures and report to {args.out}")
    print("  " + ", ".join(f"{k}={v:.4g}" if v is not None else f"{k}=-"
                           for k, v in headline(metrics).items()))


def _generate_cepc_ecal(args: argparse.Namespace) -> None:
    from keras_fastsim.io.showers import write_cepc_ecal
    from keras_fastsim.training.cepc_ecal import (
        generate_cepc_showers,
        read_cepc_conditions,
    )

    conditions = read_cepc_conditions(args.conditions)
    hits = generate_cepc_showers(args.run_dir, conditions, seed=args.seed, progress=True)
    write_cepc_ecal(args.out, hits, conditions)
    print(f"wrote {len(hits)} generated CEPC ECAL showers (Barrel_Hit, MC_info) to {args.out}")


def _evaluate_cepc_ecal(args: argparse.Namespace) -> None:
    import numpy as np

    from keras_fastsim.evaluation.cepc_ecal import (
        evaluate_cepc_ecal,
        evaluate_cepc_run,
        headline,
    )
    from keras_fastsim.io.showers import read_cepc_ecal

    options = {"seed": args.seed, "classifier": not args.no_classifier, "name": args.name,
               "plots": not args.no_plots}
    if args.energy_bins:
        options["energy_bins"] = args.energy_bins
    if args.sim:
        hits, conditions = read_cepc_ecal(args.data, n_max=args.n_max)
        sim_hits, sim_conditions = read_cepc_ecal(args.sim, n_max=args.n_max)
        same = len(sim_hits) == len(hits) and np.allclose(
            sim_conditions.to_numpy(), conditions.to_numpy(), rtol=1e-5, atol=1e-5
        )
        metrics = evaluate_cepc_ecal(
            hits, conditions, sim_hits, args.out, gen_conditions=None if same else sim_conditions,
            regressor=args.regressor, **options,
        )
    else:
        metrics = evaluate_cepc_run(args.generator, args.data, args.out, regressor=args.regressor,
                                    n_max=args.n_max, generation_seed=args.generation_seed,
                                    **options)
    print(f"wrote metrics, figures and report to {args.out}")
    print("  " + ", ".join(f"{k}={v:.4g}" if v is not None else f"{k}=-"
                           for k, v in headline(metrics).items()))


def _generate(args: argparse.Namespace) -> None:
    if Path(args.run_dir).is_file():
        raise ValueError(
            f"{args.run_dir}: not a run directory of 'train' but a file. 'generate' takes the "
            "run directory; a bare generator .keras file is read by "
            "keras_fastsim.training.besiii_emc.generate_showers / "
            "keras_fastsim.training.cepc_ecal.generate_cepc_showers."
        )
    if _run_kind(args.run_dir) == "besiii-emc-gan":
        return _generate_besiii_emc(args)
    if _run_kind(args.run_dir) == "cepc-ecal-gan":
        return _generate_cepc_ecal(args)
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
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--n", type=int, help="number of showers (Bhabha-like conditions)")
    what.add_argument("--conditions", help="simulate these tracks instead: an HDF5 with MC_info "
                                           "(e.g. another sample's) or a .parquet/.csv table")
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
    _add_training_options(p, "dedx_flow", epochs="override the config's epochs (paper: 100)",
                          batch_size="override the config's batch size (paper: 128)")
    _add_table_options(p)
    p.set_defaults(func=_train_dedx_flow)
    p = train_kinds.add_parser(
        "dedx-knn", help="one dense dE/dx net for all species, SmoothKNN two-sample loss"
    )
    p.add_argument("--data", required=True, help="training track table")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--tune", action="store_true",
                   help="Bayesian search of hidden layers / units / learning rate first")
    p.add_argument("--trials", type=int, help="trial budget of --tune (default: the config's)")
    _add_training_options(
        p, "dedx_knn",
        batch_size="override the config's batch size (a multiple of block_size)",
    )
    _add_table_options(p)
    p.set_defaults(func=_train_dedx_knn)
    p = train_kinds.add_parser("dedx-hist", help="histogram-sampling baseline (traditional method)")
    p.add_argument("--data", required=True, help="training track table")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--seed", type=int, default=0)
    _add_table_options(p)
    p.set_defaults(func=_train_dedx_hist)

    for kind, what in (("juno-npe", "JUNO NN_npe (n_pe per PMT)"),
                       ("juno-time", "JUNO NN_time (hit times; R < 15 m and R >= 15 m nets)")):
        p = train_kinds.add_parser(kind, help=what)
        p.add_argument("--data", required=True,
                       help=f"parquet from 'reference juno' (STEM_{kind[5:]}.parquet)")
        p.add_argument("--out", required=True, help="run directory")
        _add_training_options(p, f"juno_{kind[5:]}")
        p.set_defaults(func=_train_juno)

    p = train_kinds.add_parser(
        "besiii-emc-regressor", help="BESIII EMC regressor (shower -> Mom, dTheta, dPhi), pretrained"
    )
    p.add_argument("--data", required=True, help="showers .h5 (Barrel_Hit, MC_info)")
    p.add_argument("--out", required=True, help="run directory")
    _add_training_options(p, "besiii_emc", epochs="override the config's regressor epochs",
                          batch_size="override the config's regressor batch size")
    p.set_defaults(func=_train_besiii_emc_regressor)
    p = train_kinds.add_parser(
        "besiii-emc", help="BESIII EMC 2D conditional GAN with the frozen pretrained regressor"
    )
    p.add_argument("--data", required=True, help="showers .h5 (Barrel_Hit, MC_info)")
    p.add_argument("--regressor", help="run directory of 'train besiii-emc-regressor' "
                   "(omit: no regression term)")
    p.add_argument("--out", required=True, help="run directory")
    _add_training_options(p, "besiii_emc", epochs="override the config's GAN epochs (authors: 50)",
                          batch_size="override the config's batch size (authors: 512)")
    p.set_defaults(func=_train_besiii_emc)

    p = train_kinds.add_parser(
        "cepc-ecal-regressor", help="CEPC ECAL regressor (3D shower -> Mom, theta, phi), pretrained"
    )
    p.add_argument("--data", required=True, help="showers .h5 (Barrel_Hit, MC_info)")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--max-showers", type=int, help="use only the first N showers of --data")
    _add_training_options(p, "cepc_ecal", epochs="override the config's regressor epochs",
                          batch_size="override the config's regressor batch size")
    p.set_defaults(func=_train_cepc_ecal_regressor)
    p = train_kinds.add_parser(
        "cepc-ecal", help="CEPC ECAL 3D conditional GAN with the frozen pretrained regressor"
    )
    p.add_argument("--data", required=True, help="showers .h5 (Barrel_Hit, MC_info)")
    p.add_argument("--regressor", help="run directory of 'train cepc-ecal-regressor' "
                   "(omit: no regression term)")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--max-showers", type=int, help="use only the first N showers of --data")
    _add_training_options(p, "cepc_ecal", epochs="override the config's GAN epochs",
                          batch_size="override the config's batch size (CPU default 64)")
    p.set_defaults(func=_train_cepc_ecal)

    sim = verbs.add_parser("simulate", help="simulate whole events")
    sim_kinds = sim.add_subparsers(dest="kind", required=True, metavar="KIND")
    p = sim_kinds.add_parser("juno-muon", help="JUNO cosmic-muon events: per-PMT n_pe and first-hit time")
    p.add_argument("--mode", choices=("full", "fast"), required=True,
                   help="full: reference optical Monte Carlo; fast: NN_npe + NN_time")
    p.add_argument("--n", type=int, required=True, help="number of muon events")
    p.add_argument("--out", required=True, help="output .npz")
    p.add_argument("--npe-run", help="--mode fast: run directory of 'train juno-npe'")
    p.add_argument("--time-run", help="--mode fast: run directory of 'train juno-time'")
    p.add_argument("--segment-m", type=float, default=0.2,
                   help="--mode fast: step grouping length in m (default 0.2)")
    p.add_argument("--seed", type=int, default=0, help="seed of the tracks and of the simulation")
    p.set_defaults(func=_simulate_juno_muon)

    p = verbs.add_parser("generate", help="simulate with a trained run")
    p.add_argument("run_dir", help="run directory written by 'train'")
    p.add_argument("--conditions", required=True,
                   help="track table with species, p, theta, nhits (dedx, if present, is replaced); "
                   "besiii-emc-gan / cepc-ecal-gan runs: .h5 with MC_info or a table of the "
                   "6 conditions")
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

    p = ev_kinds.add_parser("besiii-emc", help="BESIII EMC showers: features, AUC, E5x5 per momentum")
    p.add_argument("--data", required=True, help="held-out reference showers .h5")
    p.add_argument("--sim", required=True, help="generated showers .h5 (e.g. from 'generate')")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--name", default="GAN", help="label of the simulation in figures")
    p.add_argument("--no-classifier", action="store_true", help="skip the classifier AUCs")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_evaluate_besiii_emc)

    p = ev_kinds.add_parser(
        "cepc-ecal", help="CEPC ECAL showers: response, sigma(E)/E, profiles per energy, AUC"
    )
    p.add_argument("--data", required=True, help="held-out reference showers .h5")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--sim", help="generated showers .h5 (e.g. from 'generate')")
    source.add_argument("--generator", help="cepc-ecal-gan run directory or generator .keras "
                        "file: generate for the conditions of --data, then evaluate")
    p.add_argument("--regressor", help="cepc-ecal-regressor run (or .keras) for the regressed "
                   "(Mom, theta, phi) comparison; with --generator default: the run's regressor")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--n-max", type=int, help="use the first N showers of --data (and --sim)")
    p.add_argument("--energy-bins", type=float, nargs="+", metavar="E",
                   help="true-energy bin edges in GeV (default 5 10 20 40 60 80 100)")
    p.add_argument("--generation-seed", type=int, default=1, help="noise seed with --generator")
    p.add_argument("--name", default="GAN", help="label of the simulation in figures")
    p.add_argument("--no-classifier", action="store_true", help="skip the classifier AUCs")
    p.add_argument("--no-plots", action="store_true", help="numbers and report only")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_evaluate_cepc_ecal)

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
    except RuntimeError as err:
        # imported here: the handler that raised has loaded the training modules already
        from keras_fastsim.training.gan import DeadGeneratorError

        if not isinstance(err, DeadGeneratorError):
            raise
        print(f"keras-fastsim: error: {err}", file=sys.stderr)
        return 3
    return 0
