"""BESIII dE/dx: SmoothKNN dense net vs normalizing flow vs histogram sampling, on reference data.

Trains the SmoothKNN dense net (one net, six species; optionally after a Bayesian search of its
hidden layers / units / learning rate with ``--trials``) on the reference training tracks,
simulates the held-out tracks, and runs ``evaluate_dedx`` with data, flow, SmoothKNN net and
histogram sampling side by side; figures, ``metrics.json`` and ``report.md`` go to
``docs/dedx_knn/``.

Data, flow and baseline are reused from the flow experiment's run directory
(``experiments/dedx_flow_paper.py``, default ``runs/dedx_flow_paper``): its
``data/{train,test}.parquet``, and its simulated held-out tables ``sim/flow.parquet`` /
``sim/histogram.parquet`` when they exist. Missing pieces are made here: reference tables with
``--train-per-species`` / ``--test-per-species`` tracks, the histogram baseline fitted on the
same training tracks; without a finished flow the comparison is data vs net vs histogram (the
report says so). ``--test-fraction`` evaluates on a random subset of the held-out tracks.
Rerunning resumes: a trained net in ``OUT/knn`` is reused.

Example:
    python experiments/dedx_knn_comparison.py --trials 4 --epochs 20 --steps-per-epoch 400
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--flow-run", default="runs/dedx_flow_paper",
                        help="run directory of the flow experiment (data and simulations reused)")
    parser.add_argument("--out", default="runs/dedx_knn_comparison")
    parser.add_argument("--figures", default="docs/dedx_knn")
    parser.add_argument("--config", default="dedx_knn", help="net config (YAML or packaged name)")
    parser.add_argument("--trials", type=int, default=0,
                        help="Bayesian-search trial budget (0: train the config's architecture)")
    parser.add_argument("--trial-epochs", type=int, default=2)
    parser.add_argument("--trial-steps-per-epoch", type=int, default=150)
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--steps-per-epoch", type=int)
    parser.add_argument("--train-per-species", type=int, default=100_000,
                        help="reference training tracks per species when there is no flow run")
    parser.add_argument("--test-per-species", type=int, default=50_000,
                        help="reference test tracks per species when there is no flow run")
    parser.add_argument("--test-fraction", type=float, default=0.1,
                        help="fraction of the held-out tracks evaluated (random subset)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from keras_fastsim.evaluation.dedx_report import evaluate_dedx, headline
    from keras_fastsim.io.tables import read_tracks, write_tracks
    from keras_fastsim.physics.species import HADRON_SPECIES
    from keras_fastsim.pipelines.dedx import make_reference_split
    from keras_fastsim.runs import simulate_tracks
    from keras_fastsim.training.config import load_config, merge_config
    from keras_fastsim.training.dedx_histogram import train_histogram_run
    from keras_fastsim.training.dedx_knn import train_dedx_knn, tune_dedx_knn

    flow_run, out = Path(args.flow_run), Path(args.out)
    t_start = time.time()
    flow_data = flow_run / "data"
    if (flow_data / "train.parquet").exists() and (flow_data / "test.parquet").exists():
        print("[1/5] reusing the reference tracks of", flow_run / "data")
        train = read_tracks(flow_run / "data" / "train.parquet")
        test = read_tracks(flow_run / "data" / "test.parquet")
        data_source = str(flow_run / "data")
    else:
        print("[1/5] making reference tracks")
        train, test = make_reference_split(
            {s: args.train_per_species for s in HADRON_SPECIES},
            {s: args.test_per_species for s in HADRON_SPECIES}, seed=args.seed,
        )
        write_tracks(train, out / "data" / "train.parquet")
        write_tracks(test, out / "data" / "test.parquet")
        data_source = str(out / "data")
    n_full = len(test)
    rows = np.sort(np.random.default_rng(args.seed).permutation(len(test))[
        : max(1, round(args.test_fraction * len(test)))])
    test = test.iloc[rows].reset_index(drop=True)
    conditions = test.drop(columns="dedx")

    config = load_config(args.config)
    config = merge_config(config, {"training": {"epochs": args.epochs,
                                                "steps_per_epoch": args.steps_per_epoch,
                                                "seed": args.seed}})
    kwargs = config.get("model", {}) | config.get("training", {})
    loss = dict(config.get("loss", {}))
    kwargs["loss"] = loss.pop("name", "smoothknn")
    kwargs["loss_config"] = loss or None
    knn_dir = out / "knn"
    if (knn_dir / "model.keras").exists() and (knn_dir / "run.json").exists():
        print("[2/5] reusing the trained net in", knn_dir)
    elif args.trials > 0:
        print(f"[2/5] Bayesian search ({args.trials} trials) + training of the SmoothKNN net")
        tuning = dict(config.get("tuning", {})) | {
            "trials": args.trials, "trial_epochs": args.trial_epochs,
            "trial_steps_per_epoch": args.trial_steps_per_epoch,
        }
        for key in ("hidden_layers", "units", "learning_rate"):
            kwargs.pop(key, None)
        tune_dedx_knn(train, knn_dir, **tuning, **kwargs, verbose=2)
    else:
        print("[2/5] training the SmoothKNN net")
        train_dedx_knn(train, knn_dir, **kwargs, verbose=2)
    t_trained = time.time()

    print("[3/5] histogram-sampling baseline")
    hist_dir = flow_run / "histogram"
    if not (hist_dir / "run.json").exists():
        hist_dir = out / "histogram"
        if not (hist_dir / "run.json").exists():
            train_histogram_run(train, hist_dir)

    print("[4/5] simulating the held-out tracks")
    sims = {}
    flow_sim = flow_run / "sim" / "flow.parquet"
    if flow_sim.exists():
        flow = read_tracks(flow_sim)
        if len(flow) != n_full:
            print("  the flow simulation does not match the held-out table; flow left out")
        else:
            sims["flow"] = flow.iloc[rows].reset_index(drop=True)
    else:
        print(f"  no {flow_sim}: the flow is left out of the comparison")
    sims["smoothknn"] = simulate_tracks(knn_dir, conditions, seed=args.seed + 1)
    sims["histogram"] = simulate_tracks(hist_dir, conditions, seed=args.seed + 1)
    for name, table in sims.items():
        write_tracks(table, out / "sim" / f"{name}.parquet")

    print("[5/5] evaluating")
    metrics = evaluate_dedx(test, sims, args.figures, seed=args.seed)
    summary = {
        "data": data_source, "n_train": len(train), "n_test_evaluated": len(test),
        "test_fraction": args.test_fraction, "simulations": list(sims),
        "flow_included": "flow" in sims, "trials": args.trials,
        "train_seconds": round(t_trained - t_start, 1),
        "total_seconds": round(time.time() - t_start, 1),
        "headline": headline(metrics),
    }
    (Path(args.figures) / "experiment.json").write_text(json.dumps(summary, indent=2, default=str))
    for name, numbers in headline(metrics).items():
        print(name, numbers)


if __name__ == "__main__":
    main()
