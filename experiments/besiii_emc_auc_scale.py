"""What the BESIII EMC classifier AUC means: reference samples with known differences.

Scores, with the evaluation's paired high-level classifier, samples of reference showers for
the held-out conditions that differ from the held-out reference in known ways
(:func:`keras_fastsim.evaluation.calibration.classifier_sensitivity`):

- the null test: the same conditions simulated with other seeds (AUC ~0.5);
- the energy scale and resolution: every shower times 1.005-1.02, or smeared by 1-4 %
  (:func:`~keras_fastsim.evaluation.calibration.rescaled_showers`): the E5x5 targets' edges;
- the lateral shape: CsI's Moliere radius 5 % smaller, 5 % and 10 % larger;
- the energy granularity: 0.8-2 times GFLASH's number of energy spots (each cell's energy
  is a whole number of spots, E / N_spot each);
- optionally GAN generators (``--generator LABEL=PATH``), generated for the same conditions.

Writes ``sensitivity.csv`` and ``auc_scale.png`` into ``--out`` (default
``docs/besiii_emc/auc_scale``); ~70 s on a 2-core CPU at the default 20,000 showers.

Example:
    python experiments/besiii_emc_auc_scale.py --mark "GAN, best held-out=0.856"
    python experiments/besiii_emc_auc_scale.py --generator "run 1=runs/besiii_emc/gan"
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from keras_fastsim.evaluation.calibration import (
    classifier_sensitivity,
    rescaled_showers,
)
from keras_fastsim.io.atomic import atomic_path
from keras_fastsim.plotting.showers import plot_classifier_sensitivity
from keras_fastsim.reference.calorimeter import (
    CSI,
    besiii_emc_geometry,
    generate_besiii_emc,
    simulate_besiii_emc,
)
from keras_fastsim.training.besiii_emc import generate_showers, load_besiii_generator

MOMENTUM_BINS = [1.0, 1.2, 1.4, 1.6, 1.8, 2.0]


def _pair(text: str, kind=str) -> tuple[str, object]:
    label, sep, value = text.rpartition("=")
    if not sep or not label:
        raise argparse.ArgumentTypeError(f"expected LABEL=VALUE. Received: {text!r}")
    return label, kind(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20_000, help="reference showers")
    parser.add_argument("--seed", type=int, default=1_000_003,
                        help="seed of the reference (default: the GAN experiment's held-out)")
    parser.add_argument("--out", default="docs/besiii_emc/auc_scale")
    parser.add_argument("--generator", action="append", default=[], type=_pair,
                        help="LABEL=PATH of a GAN run or generator, scored beside the variants")
    parser.add_argument("--mark", action="append", default=[],
                        type=lambda t: _pair(t, float), help="LABEL=AUC drawn as a line")
    parser.add_argument("--generation-seed", type=int, default=17)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    start = time.time()
    hits, cond = generate_besiii_emc(args.n, seed=args.seed)
    s = args.seed
    variants = {f"independent seed {i}": simulate_besiii_emc(cond, seed=(s, i)) for i in (1, 2, 3)}
    for scale in (1.005, 1.01, 1.02):
        variants[f"energy x {scale:g}"] = rescaled_showers(hits, scale=scale)
    for i, smear in enumerate((0.01, 0.02, 0.04)):
        variants[f"energy smeared {100 * smear:g} %"] = rescaled_showers(
            hits, smear=smear, seed=(s, 10 + i))
    for i, factor in enumerate((0.95, 1.05, 1.10)):
        geometry = besiii_emc_geometry(moliere_cm=factor * CSI.moliere_cm)
        variants[f"Moliere radius x {factor:g}"] = simulate_besiii_emc(
            cond, seed=(s, 20 + i), geometry=geometry)
    for i, factor in enumerate((0.8, 0.9, 1.1, 1.25, 2.0)):
        variants[f"energy spots x {factor:g}"] = simulate_besiii_emc(
            cond, seed=(s, 30 + i), spot_factor=factor)
    for label, path in args.generator:
        variants[label] = generate_showers(load_besiii_generator(path), cond,
                                           seed=args.generation_seed)
    print(f"[auc_scale] {len(variants)} samples of {args.n} showers: "
          f"{time.time() - start:.0f} s", flush=True)

    table = classifier_sensitivity(hits, cond, variants, momentum_bins=MOMENTUM_BINS)
    with atomic_path(out / "sensitivity.csv") as tmp:
        table.to_csv(tmp, float_format="%.4f")
    plot_classifier_sensitivity(table, out / "auc_scale.png", marks=dict(args.mark))
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.round(3).to_string())
    print(f"[auc_scale] done in {time.time() - start:.0f} s; {out}", flush=True)


if __name__ == "__main__":
    main()
