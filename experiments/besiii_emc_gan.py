"""BESIII EMC 2D conditional GAN on reference showers: the whole chain, figures into docs/.

Steps (each kept when its output exists, so a rerun resumes):

1. reference showers (:func:`keras_fastsim.reference.calorimeter.generate_besiii_emc`): a
   training file and an independent held-out test file (HDF5, authors' layout);
2. regressor pretraining (``besiii-emc-regressor`` run, resolution plot);
3. GAN training with the frozen regressor, KS epoch selection (``besiii-emc-gan`` run); a
   finished run is continued when ``--epochs`` asks for more epochs than it has;
4. evaluation of the selected generator on the held-out showers' conditions
   (:func:`keras_fastsim.evaluation.showers.evaluate_showers`): metrics.json, report.md and
   the figures, written into ``--figures`` (default ``docs/besiii_emc``).

The defaults fit a 2-core CPU in ~30 minutes; ``--full`` uses the slides' sample (~450k
showers) and the authors' schedule (batch 512, 50 epochs), which needs a GPU.

Example:
    nice -n 10 python experiments/besiii_emc_gan.py
    python experiments/besiii_emc_gan.py --full --out runs/besiii_emc_full
    KERAS_BACKEND=jax python experiments/besiii_emc_gan.py --full --train-only  # GPU, JAX
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from keras_fastsim.evaluation.showers import evaluate_showers, headline
from keras_fastsim.io.showers import read_besiii_emc, write_besiii_emc
from keras_fastsim.reference.calorimeter import generate_besiii_emc
from keras_fastsim.runs import read_manifest
from keras_fastsim.training.besiii_emc import (
    generate_showers,
    load_besiii_generator,
    train_besiii_gan_run,
    train_besiii_regressor_run,
)
from keras_fastsim.training.config import load_config, merge_config
from keras_fastsim.training.shower_runs import trained_epochs


def _log(timings: dict, key: str, start: float, path: Path) -> None:
    timings[key] = round(time.time() - start, 1)
    path.write_text(json.dumps(timings, indent=2))
    print(f"[besiii_emc] {key}: {timings[key]} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="runs/besiii_emc")
    parser.add_argument("--figures", default="docs/besiii_emc")
    parser.add_argument("--full", action="store_true",
                        help="slides' sample (450k) and authors' schedule (needs a GPU)")
    parser.add_argument("--n-train", type=int, help="reference showers for training")
    parser.add_argument("--n-test", type=int, help="held-out reference showers")
    parser.add_argument("--regressor-epochs", type=int)
    parser.add_argument("--epochs", type=int, help="GAN epochs")
    parser.add_argument("--batch-size", type=int, help="GAN batch size")
    parser.add_argument("--config", default="besiii_emc")
    parser.add_argument("--strategy", choices=("default", "mirrored", "multiworker"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-only", action="store_true",
                        help="stop after step 3 (e.g. training under KERAS_BACKEND=jax on a GPU "
                             "machine without TensorFlow; evaluate later where TF is)")
    args = parser.parse_args()

    if args.full:
        sizes = {"n_train": 450_000, "n_test": 50_000, "regressor_epochs": None,
                 "epochs": None, "batch_size": None}
    else:  # fits a shared 2-core CPU in ~30 min (see docs/besiii_emc.md)
        sizes = {"n_train": 40_000, "n_test": 20_000, "regressor_epochs": 6, "epochs": 10,
                 "batch_size": 128}
    for key in sizes:
        if getattr(args, key) is not None:
            sizes[key] = getattr(args, key)
    config = merge_config(
        load_config(args.config),
        {"regressor": {"epochs": sizes["regressor_epochs"], "seed": args.seed},
         "training": {"epochs": sizes["epochs"], "batch_size": sizes["batch_size"],
                      "strategy": args.strategy, "seed": args.seed}},
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
            hits, cond = generate_besiii_emc(n, seed=seed)
            write_besiii_emc(path, hits, cond)
            _log(timings, f"reference_{path.stem}", start, timing_path)
    hits, cond = read_besiii_emc(train_file)

    # 2. regressor
    reg_dir = out / "regressor"
    if not (reg_dir / "run.json").exists():
        start = time.time()
        train_besiii_regressor_run(hits, cond, reg_dir, verbose=2, **config["regressor"])
        _log(timings, "regressor", start, timing_path)
    shutil.copyfile(reg_dir / "resolution.png", figures / "regressor_resolution.png")

    # 3. GAN
    gan_dir = out / "gan"
    done = trained_epochs(gan_dir)
    if done != config["training"]["epochs"]:  # new, or continued for more epochs
        start = time.time()
        train_besiii_gan_run(hits, cond, gan_dir, regressor=reg_dir, verbose=2,
                             **config["model"], **config["training"])
        _log(timings, "gan" if done is None else f"gan_epochs_{done}_to_"
             f"{config['training']['epochs']}", start, timing_path)
    for name in ("history.png", "ks_scores.csv", "best_epoch.yaml"):
        if (gan_dir / name).exists():
            shutil.copyfile(gan_dir / name, figures / f"gan_{name}")
    del hits, cond
    if args.train_only:
        return

    # 4. evaluation on held-out showers
    start = time.time()
    test_hits, test_cond = read_besiii_emc(test_file)
    generator = load_besiii_generator(gan_dir)
    fake = generate_showers(generator, test_cond, seed=args.seed + 17)
    metrics = evaluate_showers(test_hits, test_cond, fake, figures, seed=args.seed,
                               momentum_bins=[1.0, 1.2, 1.4, 1.6, 1.8, 2.0])
    _log(timings, "evaluation", start, timing_path)
    summary = {"sizes": sizes, "config": config, "timings": timings,
               "best_epoch": read_manifest(gan_dir).get("best_epoch"),
               "headline": headline(metrics)}
    (figures / "experiment.json").write_text(json.dumps(summary, indent=2, default=str))
    print(json.dumps(summary["headline"], indent=2))


if __name__ == "__main__":
    main()
