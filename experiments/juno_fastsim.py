"""JUNO muon fast simulation end to end: reference samples, NN_npe / NN_time, validation, speed.

Stages (each resumable: finished outputs under ``--out`` are kept and reused):

``data``
    Reference training samples (``--n-train`` 1 MeV deposits uniform in the LS volume, a quarter
    of the PMTs per deposit in the n_pe table) and the full-simulation validation sets: 1 MeV
    gammas at the centre, on the Z axis at z = 10 m and at R = 16 m, and full muon events.
``loss-choice``
    The measurement behind the loss choice: the R < 15 m time net trained for the same number
    of steps with the MMD and the SmoothKNN two-sample losses and with the quantile (pinball)
    loss; time per step and hit-time W1 on held-out deposits.
``train``
    NN_npe and NN_time (both nets) with the packaged configs.
``validate``
    Fast vs full: the slides' validation figures and metrics (``docs/juno/``), muon timing.

Example:
    python experiments/juno_fastsim.py --stage all
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from keras_fastsim.io.atomic import atomic_path

STAGES = ("data", "loss-choice", "train", "validate")


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def stage_data(out: Path, n_train: int, n_gamma: int, n_muons: int, seed: int) -> None:
    from keras_fastsim.evaluation.juno import (
        CONTROL_SEED,
        VALIDATION_POSITIONS,
        simulate_full_gammas,
        simulate_full_muons,
    )
    from keras_fastsim.reference.juno import JunoOpticalSimulator, make_training_samples

    data = out / "data"
    data.mkdir(parents=True, exist_ok=True)
    sim = JunoOpticalSimulator()
    if not (data / "train_time.parquet").exists():
        _log(f"reference training samples: {n_train} deposits")
        s = make_training_samples(n_train, seed + 1, pmt_fraction=0.25, simulator=sim, progress=True)
        for name, table in (("npe", s.npe), ("time", s.time)):
            with atomic_path(data / f"train_{name}.parquet") as tmp:
                table.to_parquet(tmp, index=False)
    if not (data / "train2_time.parquet").exists():
        _log("reference training samples: 800 deposits uniform in R")
        s = make_training_samples(800, 7, radius_sampling="radius", pmt_fraction=0.25, simulator=sim,
                                  progress=True)
        for name, table in (("npe", s.npe), ("time", s.time)):
            table["event"] += 100000
            with atomic_path(data / f"train2_{name}.parquet") as tmp:
                table.to_parquet(tmp, index=False)
    for name, pos in VALIDATION_POSITIONS.items():
        path = data / f"full_gamma_{name}.npz"
        if not path.exists():
            _log(f"full simulation: {n_gamma} x 1 MeV gamma at {name} {pos}")
            simulate_full_gammas(sim, pos, n_gamma, seed=seed + 10, path=path)
        path = data / f"full_gamma_{name}_control.npz"  # full vs full: the metrics' noise floor
        if not path.exists():
            _log(f"control full simulation (seed {CONTROL_SEED}): {n_gamma} x 1 MeV gamma at {name}")
            simulate_full_gammas(sim, pos, n_gamma, seed=CONTROL_SEED, path=path)
    path = data / "full_muons.npz"
    if not path.exists() and n_muons > 0:
        _log(f"full simulation: {n_muons} muon events (minutes each)")
        simulate_full_muons(sim, n_muons, seed=seed + 20, path=path)


def stage_loss_choice(out: Path, steps: int, seed: int) -> dict:
    from keras_fastsim.evaluation.metrics import wasserstein_1
    from keras_fastsim.models.juno import JunoTimeNet
    from keras_fastsim.training.juno import _split_events, fit_generator

    path = out / "loss_choice.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    if "quantile_position_equal_time" in results:
        return results
    table = pd.read_parquet(out / "data" / "train_time.parquet")
    table = table[table.R < 15.0]
    cond = table[["R", "theta"]].to_numpy(np.float32)
    t = np.maximum(table["t"].to_numpy(np.float32), 0.1)
    val = _split_events(table["event"].to_numpy(), 0.1, seed)
    runs = [("mmd", "mmd", True, steps), ("smoothknn", "smoothknn", False, steps)]
    if "smoothknn" in results:  # MMD again, for the wall time SmoothKNN needed
        ratio = results["smoothknn"]["s_per_step"] / results["mmd"]["s_per_step"]
        runs.append(("mmd_equal_time", "mmd", True, round(steps * ratio / 100.0) * 100))
    runs.append(("mmd_moments", "mmd", True, steps))  # + the local-moment term (moment_weight=1)
    # with the learning rate halved every 100 steps (the trials above keep 1e-3)
    runs += [("mmd_annealed", "mmd", True, steps), ("smoothknn_annealed", "smoothknn", False, steps)]
    # the per-row quantile (pinball) loss of QuantileTrainer, same batches and steps
    runs.append(("quantile", "quantile", True, steps))
    if "smoothknn" in results:  # quantile for the wall time SmoothKNN needed, without / with
        # the position features (R cos th, R sin th, d, log d) inside the net
        ratio = results["smoothknn"]["s_per_step"] / results["mmd"]["s_per_step"]
        n_equal = round(steps * ratio / 100.0) * 100
        runs += [("quantile_equal_time", "quantile", True, n_equal),
                 ("quantile_position_equal_time", "quantile", True, n_equal)]
    for key, loss, jit, n_steps in runs:
        if key in results:
            continue
        net = JunoTimeNet(201, 2, condition_features="position" if "position" in key else "r_theta")
        net.adapt(cond[~val], t[~val])
        t0 = time.perf_counter()
        hist = fit_generator(
            net, cond, t, val, out / "loss_choice" / key, loss=loss, loss_config=None,
            output_transform="tof_residual", output_weight=2.0, epochs=n_steps // 100,
            steps_per_epoch=100, validation_steps=5, batch_size=512, learning_rate=1e-3,
            lr_halving_epochs=1 if key.endswith("annealed") else 1000, patience=None, strategy="default", jit_compile=jit,
            seed=seed, verbose=0, moment_weight=1.0 if key == "mmd_moments" else 0.0,
            num_levels=1,  # quantile only: one level per row, as many generator calls as the others
        )
        wall = time.perf_counter() - t0
        gen = net.sample(cond[val], seed=seed + 5)
        real = t[val]
        r_bins = np.digitize(cond[val, 0], [5.0, 10.0])
        results[key] = {
            "loss": loss, "steps": int(n_steps), "batch_size": 512, "wall_s": wall,
            "s_per_step": wall / n_steps,
            "w1_ns": wasserstein_1(gen, real),
            "w1_ns_per_R_bin": [wasserstein_1(gen[r_bins == b], real[r_bins == b]) for b in range(3)],
            "mean_diff_ns": float(gen.mean() - real.mean()),
            "final_val_loss": float(hist["val_loss"].iloc[-1]) if "val_loss" in hist else None,
        }
        _log(f"loss {key}: {results[key]}")
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(results, indent=2))
    return results


def _training_table(out: Path, kind: str) -> pd.DataFrame:
    """The volume-sampled deposits plus, when made, the extra deposits uniform in R."""
    parts = [pd.read_parquet(out / "data" / f"train_{kind}.parquet")]
    extra = out / "data" / f"train2_{kind}.parquet"
    if extra.exists():
        parts.append(pd.read_parquet(extra))
    return pd.concat(parts, ignore_index=True)


def stage_train(out: Path, scale: float, seed: int, kinds: tuple[str, ...] = ("npe", "time"),
                configs: dict[str, str] | None = None) -> None:
    from keras_fastsim.training.config import load_config
    from keras_fastsim.training.juno import train_juno_npe, train_juno_time

    for kind, func in (("npe", train_juno_npe), ("time", train_juno_time)):
        run = out / f"run_{kind}"
        if kind not in kinds or (run / "model.keras").exists():
            continue
        config = load_config((configs or {}).get(kind) or f"juno_{kind}")
        training = dict(config.get("training", {}))
        training["epochs"] = max(1, round(training.get("epochs", 20) * scale))
        training["seed"] = seed
        _log(f"training NN_{kind}: {training}")
        t0 = time.perf_counter()
        func(_training_table(out, kind), run, model_config=config.get("model", {}), verbose=2, **training)
        _log(f"NN_{kind} trained in {time.perf_counter() - t0:.0f} s")


def stage_validate(out: Path, figures: Path, seed: int) -> dict:
    from keras_fastsim.evaluation.juno import evaluate_juno

    return evaluate_juno(out, figures, seed=seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="runs/juno_fastsim")
    parser.add_argument("--figures", default="docs/juno")
    parser.add_argument("--stage", choices=STAGES + ("all",), action="append")
    parser.add_argument("--n-train", type=int, default=2400, help="reference training deposits")
    parser.add_argument("--n-gamma", type=int, default=400, help="1 MeV gammas per validation position")
    parser.add_argument("--n-muons", type=int, default=2, help="full-simulation muon events")
    parser.add_argument("--loss-steps", type=int, default=600, help="steps per loss in loss-choice")
    parser.add_argument("--train-scale", type=float, default=1.0, help="scales the configs' epochs")
    parser.add_argument("--train-kind", choices=("npe", "time"), action="append",
                        help="train only this net (repeatable; default both)")
    parser.add_argument("--npe-config", help="YAML config of NN_npe (default: packaged juno_npe)")
    parser.add_argument("--time-config", help="YAML config of NN_time (default: packaged juno_time)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    stages = STAGES if not args.stage or "all" in args.stage else tuple(args.stage)
    out = Path(args.out)
    if "data" in stages:
        stage_data(out, args.n_train, args.n_gamma, args.n_muons, args.seed)
    if "loss-choice" in stages:
        stage_loss_choice(out, args.loss_steps, args.seed)
    if "train" in stages:
        stage_train(out, args.train_scale, args.seed, tuple(args.train_kind or ("npe", "time")),
                    {"npe": args.npe_config, "time": args.time_config})
    if "validate" in stages:
        metrics = stage_validate(out, Path(args.figures), args.seed)
        print(json.dumps(metrics.get("summary", metrics), indent=2))


if __name__ == "__main__":
    main()
