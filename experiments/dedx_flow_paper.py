"""BESIII dE/dx normalizing flows at the paper's settings, on reference data.

Trains one flow per species (pi+-, K+-, p, pbar) with the architecture and schedule of
arXiv:2401.02692, fits the histogram-sampling baseline on the same training tracks,
simulates the held-out tracks with both and writes the paper's figures and the metrics
into ``docs/dedx_flow/``. Sample sizes are the paper's Table 1 times ``--train-scale`` /
``--test-scale``. Rerunning resumes: finished steps are kept.

Example:
    python experiments/dedx_flow_paper.py --train-scale 0.1 --epochs 20 --lr-halving-epochs 5
"""

from __future__ import annotations

import argparse

from keras_fastsim.evaluation.dedx_report import headline
from keras_fastsim.physics.species import HADRON_SPECIES
from keras_fastsim.pipelines.dedx import run_dedx_pipeline
from keras_fastsim.training.config import load_config, merge_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="runs/dedx_flow_paper")
    parser.add_argument("--figures", default="docs/dedx_flow")
    parser.add_argument("--train-scale", type=float, default=1.0,
                        help="fraction of the paper's training sizes (default 1)")
    parser.add_argument("--test-scale", type=float, default=1.0,
                        help="fraction of the paper's test sizes (default 1)")
    parser.add_argument("--species", action="append", choices=HADRON_SPECIES)
    parser.add_argument("--config", default="dedx_flow", help="flow config (YAML or packaged name)")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--lr-halving-epochs", type=int)
    parser.add_argument("--patience", type=int)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    sizes = load_config("dedx_paper_samples")
    species = args.species or list(HADRON_SPECIES)
    config = merge_config(
        load_config(args.config),
        {"training": {"epochs": args.epochs, "lr_halving_epochs": args.lr_halving_epochs,
                      "patience": args.patience}},
    )
    metrics = run_dedx_pipeline(
        args.out,
        train_sizes={s: max(1000, round(sizes["train"][s] * args.train_scale)) for s in species},
        test_sizes={s: max(1000, round(sizes["test"][s] * args.test_scale)) for s in species},
        flow_config=config["training"],
        model_config=config["model"],
        species=species,
        figures_dir=args.figures,
        seed=args.seed,
    )
    for name, numbers in headline(metrics).items():
        print(name, numbers)


if __name__ == "__main__":
    main()
