"""CEPC ECAL 3D conditional GAN on reference showers: the whole chain, figures into docs/.

Steps (each kept when its output exists, so a rerun resumes):

1. reference photon showers (:func:`keras_fastsim.reference.calorimeter.generate_cepc_ecal`):
   a training file and an independent held-out test file (HDF5, authors' layout);
2. regressor pretraining (``cepc-ecal-regressor`` run, resolution plot);
3. GAN training with the frozen regressor, KS epoch selection (``cepc-ecal-gan`` run); a
   finished run is continued when ``--epochs`` asks for more epochs than it has;
4. evaluation of the selected generator on the held-out showers' conditions
   (:func:`keras_fastsim.evaluation.cepc_ecal.evaluate_cepc_run`): metrics.json, report.md and
   the figures, written into ``--figures`` (default ``docs/cepc_ecal``);
5. with ``--compare-discriminator``: the same GAN training and evaluation for each
   discriminator variant of :data:`VARIANTS` (minibatch discrimination and energy features
   on/off), written to ``OUT/variants/NAME`` and summarised in
   ``FIGURES/discriminator_comparison.json`` (the measurement behind the default).

The defaults are a *tiny* CPU run (2,000 training showers, 2 GAN epochs: ~1 hour on a shared
2-core CPU, where a training step runs at ~1.5 showers/s); they show that the chain works,
not the model's fidelity. ``--full`` uses a slide-scale sample (100k training showers,
streamed from HDF5 when the training functions support it) and the configured schedule
(``keras_fastsim/configs/cepc_ecal.yaml``: 50 epochs); that needs a GPU.

Example:
    nice -n 10 python experiments/cepc_ecal_gan.py
    python experiments/cepc_ecal_gan.py --full --out runs/cepc_ecal_full --batch-size 512
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from keras_fastsim.io.showers import write_cepc_ecal
from keras_fastsim.reference.calorimeter import generate_cepc_ecal
from keras_fastsim.runs import read_manifest
from keras_fastsim.training.cepc_ecal import (
    train_cepc_gan_run,
    train_cepc_regressor_run,
)
from keras_fastsim.training.config import load_config, merge_config
from keras_fastsim.training.shower_runs import trained_epochs

TINY = {"n_train": 2000, "n_test": 600, "regressor_epochs": 3, "regressor_batch_size": 32,
        "epochs": 2, "batch_size": 32, "ks_samples": 200}
"""Defaults of the CPU run (see the module docstring)."""
VARIANTS: dict[str, dict] = {
    "minibatch+energy": {"minibatch_kernels": 10, "energy_features": True},
    "minibatch": {"minibatch_kernels": 10, "energy_features": False},
    "energy": {"minibatch_kernels": 0, "energy_features": True},
    "plain": {"minibatch_kernels": 0, "energy_features": False},
}
"""Discriminator options compared by ``--compare-discriminator``."""
FULL = {"n_train": 100_000, "n_test": 20_000, "regressor_epochs": None,
        "regressor_batch_size": None, "epochs": None, "batch_size": None, "ks_samples": None}


def _log(timings: dict, key: str, start: float, path: Path) -> None:
    timings[key] = round(time.time() - start, 1)
    path.write_text(json.dumps(timings, indent=2))
    print(f"[cepc_ecal] {key}: {timings[key]} s", flush=True)


def _write_reference(path: Path, n: int, seed: int, block: int = 5000) -> None:
    """Reference showers in blocks of ``block`` (bounded memory), one file."""
    import numpy as np
    import pandas as pd

    parts, conds = [], []
    for i, start in enumerate(range(0, n, block)):
        voxels, cond = generate_cepc_ecal(min(block, n - start), seed=[seed, i], progress=True)
        parts.append(voxels)
        conds.append(cond)
    write_cepc_ecal(path, np.concatenate(parts), pd.concat(conds, ignore_index=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="runs/cepc_ecal")
    parser.add_argument("--figures", default="docs/cepc_ecal")
    parser.add_argument("--full", action="store_true",
                        help="slide-scale sample (100k) and the configured schedule (GPU)")
    parser.add_argument("--n-train", type=int, help="reference showers for training")
    parser.add_argument("--n-test", type=int, help="held-out reference showers")
    parser.add_argument("--regressor-epochs", type=int)
    parser.add_argument("--epochs", type=int, help="GAN epochs")
    parser.add_argument("--batch-size", type=int, help="GAN batch size")
    parser.add_argument("--config", default="cepc_ecal")
    parser.add_argument("--strategy", choices=("default", "mirrored", "multiworker"))
    parser.add_argument("--skip-evaluation", action="store_true")
    parser.add_argument("--compare-discriminator", action="store_true",
                        help="also train and evaluate every discriminator variant (VARIANTS)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    sizes = dict(FULL if args.full else TINY)
    for key in ("n_train", "n_test", "regressor_epochs", "epochs", "batch_size"):
        if getattr(args, key) is not None:
            sizes[key] = getattr(args, key)
    config = merge_config(
        load_config(args.config),
        {"regressor": {"epochs": sizes["regressor_epochs"],
                       "batch_size": sizes["regressor_batch_size"], "seed": args.seed},
         "training": {"epochs": sizes["epochs"], "batch_size": sizes["batch_size"],
                      "ks_samples": sizes["ks_samples"], "strategy": args.strategy,
                      "seed": args.seed}},
    )
    out = Path(args.out)
    figures = Path(args.figures)
    out.mkdir(parents=True, exist_ok=True)
    figures.mkdir(parents=True, exist_ok=True)
    timing_path = out / "timings.json"
    timings = json.loads(timing_path.read_text()) if timing_path.exists() else {}

    # 1. reference showers
    train_file, test_file = out / "train.h5", out / "test.h5"
    for path, n, seed in ((train_file, sizes["n_train"], args.seed),
                          (test_file, sizes["n_test"], args.seed + 1_000_003)):
        if not path.exists():
            start = time.time()
            _write_reference(path, n, seed)
            _log(timings, f"reference_{path.stem}", start, timing_path)

    # 2. regressor
    reg_dir = out / "regressor"
    if not (reg_dir / "run.json").exists():
        start = time.time()
        train_cepc_regressor_run(train_file, reg_dir, verbose=2, **config["regressor"])
        _log(timings, "regressor", start, timing_path)
    shutil.copyfile(reg_dir / "resolution.png", figures / "regressor_resolution.png")

    # 3. GAN
    gan_dir = out / "gan"
    done = trained_epochs(gan_dir)
    if done != config["training"]["epochs"]:  # new, or continued for more epochs
        start = time.time()
        train_cepc_gan_run(train_file, gan_dir, regressor=reg_dir, verbose=2,
                           **config["model"], **config["training"])
        _log(timings, "gan" if done is None else f"gan_epochs_{done}_to_"
             f"{config['training']['epochs']}", start, timing_path)
    for name in ("history.png", "ks_scores.csv", "best_epoch.yaml"):
        if (gan_dir / name).exists():
            shutil.copyfile(gan_dir / name, figures / f"gan_{name}")
    if args.skip_evaluation:
        return

    # 4. evaluation on held-out showers
    from keras_fastsim.evaluation.cepc_ecal import evaluate_cepc_run, headline

    start = time.time()
    metrics = evaluate_cepc_run(gan_dir, test_file, figures, regressor=reg_dir,
                                seed=args.seed, generation_seed=args.seed + 17)
    _log(timings, "evaluation", start, timing_path)
    summary = {"sizes": sizes, "config": config, "timings": timings,
               "best_epoch": read_manifest(gan_dir).get("best_epoch"),
               "headline": headline(metrics)}
    (figures / "experiment.json").write_text(json.dumps(summary, indent=2, default=str))
    print(json.dumps(summary["headline"], indent=2))
    if args.compare_discriminator:
        _compare_discriminators(out, figures, train_file, test_file, reg_dir, config, args.seed)


def _compare_discriminators(out: Path, figures: Path, train_file: Path, test_file: Path,
                            reg_dir: Path, config: dict, seed: int) -> None:
    """Step 5: one GAN per discriminator variant, same data, schedule and seeds."""
    from keras_fastsim.evaluation.cepc_ecal import evaluate_cepc_run, headline

    results = {}
    for name, options in VARIANTS.items():
        run = out / "variants" / name
        if not (run / "run.json").exists():
            train_cepc_gan_run(train_file, run, regressor=reg_dir, verbose=2,
                               **{**config["model"], **options}, **config["training"])
        metrics = evaluate_cepc_run(run, test_file, run / "evaluation", regressor=reg_dir,
                                    seed=seed, generation_seed=seed + 17, plots=False)
        results[name] = {"options": options, "best_epoch": read_manifest(run).get("best_epoch"),
                         "headline": headline(metrics),
                         "targets": metrics["cepc"]["targets"]}
        print(f"[cepc_ecal] variant {name}: {results[name]['headline']}", flush=True)
    (figures / "discriminator_comparison.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
