"""What a classifier AUC means: reference samples that differ from the reference in known ways.

A classifier test (reference vs generated, :func:`keras_fastsim.evaluation.showers.classifier_scores`)
returns one number whose scale depends on the data: how large a mistake does an AUC of 0.85
stand for? :func:`classifier_sensitivity` answers it by scoring, with the same paired
classifier as the evaluation, samples of *reference* showers for the same conditions that
differ in a known way: an independent seed (the null test, AUC ~0.5), a shifted or smeared
energy scale (:func:`rescaled_showers`; the E5x5 targets' edges), or a simulation with other
settings (a wider Moliere radius, finer energy spots;
:func:`keras_fastsim.reference.calorimeter.simulate_besiii_emc`).

References:
    C. Krause et al., "CaloChallenge 2022: A Community Challenge for Fast Calorimeter
    Simulation", arXiv:2410.21611 (classifier AUC as the fidelity metric).
    D. Lopez-Paz, M. Oquab, "Revisiting Classifier Two-Sample Tests", ICLR 2017,
    arXiv:1610.06545.

Example:
    >>> from keras_fastsim.reference.calorimeter import generate_besiii_emc, simulate_besiii_emc
    >>> hits, cond = generate_besiii_emc(2000, seed=1)
    >>> table = classifier_sensitivity(hits, cond, {
    ...     "independent seed": simulate_besiii_emc(cond, seed=2),
    ...     "energy +1 %": rescaled_showers(hits, scale=1.01),
    ... }, momentum_bins=[1.0, 1.5, 2.0])
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from keras_fastsim.evaluation import metrics
from keras_fastsim.evaluation.showers import (
    as_grid,
    classifier_scores,
    feature_groups,
    momentum_bin_table,
    shower_features,
    with_conditions,
)

__all__ = ["classifier_sensitivity", "rescaled_showers"]


def rescaled_showers(hits, *, scale: float = 1.0, smear: float = 0.0, seed=None) -> np.ndarray:
    """Showers with every cell of shower ``i`` multiplied by ``scale * (1 + smear * g_i)``.

    ``g_i`` is a standard normal draw per shower, so the shape of each shower is kept and
    only its energy scale (``scale``) or resolution (``smear``: an extra relative width added
    in quadrature) changes; factors below 0 (``smear`` > ~0.2) are clipped to 0.

    Args:
        hits: Showers ``(n, ...)``, energies >= 0.
        scale: Energy scale factor, > 0.
        smear: Relative Gaussian smearing of each shower's energy, >= 0.
        seed: Seed of the smearing draws.

    Returns:
        float32 array of the shape of ``hits``.

    Raises:
        ValueError: on a scale <= 0, a negative smear, or NaN/inf/negative energies.
    """
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be positive and finite. Received: scale={scale}")
    if not (math.isfinite(smear) and smear >= 0):
        raise ValueError(f"smear must be >= 0 and finite. Received: smear={smear}")
    x = np.asarray(hits, dtype=np.float32)
    if x.ndim < 2:
        raise ValueError(f"hits must have shape (n, ...cells). Received: shape {x.shape}")
    if not np.isfinite(x).all() or (x < 0).any():
        raise ValueError("hits must be finite and >= 0")
    factor = np.full(len(x), scale, np.float64)
    if smear > 0:
        factor *= 1.0 + smear * np.random.default_rng(seed).standard_normal(len(x))
    factor = np.clip(factor, 0.0, None).reshape((-1,) + (1,) * (x.ndim - 1))
    return (x * factor).astype(np.float32)


def classifier_sensitivity(
    reference,
    conditions: pd.DataFrame,
    variants: Mapping[str, Any],
    *,
    momentum_column: str = "Mom",
    momentum_bins: Sequence[float] | None = None,
    feature: str = "E5x5",
    seed: int = 0,
    max_samples: int = 100_000,
) -> pd.DataFrame:
    """The evaluation's classifier AUCs for samples that differ from the reference in known ways.

    Every variant simulates ``conditions`` row by row, as a generator evaluated with
    :func:`keras_fastsim.evaluation.showers.evaluate_showers` does, and is scored with the same
    paired gradient-boosted classifier on :func:`shower_features` with the conditions. A
    generator's AUC can then be read against the table ("as distinguishable as a 5 % wider
    shower").

    Args:
        reference: Reference showers ``(n, a, b[, 1])`` or ``(n, a, b, c)``.
        conditions: Their conditions (DataFrame, ``n`` rows, numeric).
        variants: Name -> showers of the reference's shape, row ``i`` for ``conditions`` row ``i``.
        momentum_column: Condition column binned for the ``feature`` per momentum bin.
        momentum_bins: Bin edges (``None``: no per-bin columns).
        feature: Feature of the per-bin mean and width (default ``E5x5``).
        seed: Seed of the classifiers.
        max_samples: At most this many shower pairs train/test a classifier.

    Returns:
        One row per variant (index: its name): ``high_level_auc`` (features + conditions, the
        evaluation's headline), ``auc_without_conditions``, ``auc_without_hit_count`` (all
        but ``n_hit`` and ``sparsity``, with the conditions), ``auc_<group>`` per feature group
        with the conditions (``auc_energies``, ``auc_centroids``, ``auc_widths``,
        ``auc_hit_count``), ``n_hit_reference``/``n_hit_variant`` (mean hit cells) and, with
        ``momentum_bins``, ``<feature>_mean_rel_min``/``_max`` and ``<feature>_width_rel_min``/
        ``_max`` over the bins (variant / reference - 1).

    Raises:
        ValueError: on no variants, a variant or condition table of another shape, non-numeric
            or non-finite conditions, an unknown ``feature`` or ``momentum_column``.
    """
    ref = as_grid(reference, "reference")
    if not isinstance(conditions, pd.DataFrame) or len(conditions) != len(ref):
        length = len(conditions) if hasattr(conditions, "__len__") else None
        raise ValueError(
            f"conditions must be a DataFrame with one row per reference shower ({len(ref)}). "
            f"Received: {type(conditions).__name__} of length {length}"
        )
    cond = conditions.reset_index(drop=True).astype(np.float64)
    if not np.isfinite(cond.to_numpy()).all():
        raise ValueError("conditions hold NaN or infinite values")
    if not variants:
        raise ValueError("variants must name at least one sample. Received: {}")
    ref_f = shower_features(ref)
    if feature not in ref_f.columns:
        raise ValueError(f"Unknown feature. Received: feature={feature!r}; "
                         f"known: {list(ref_f.columns)}")
    momentum = None
    if momentum_bins is not None:
        if momentum_column not in cond.columns:
            raise ValueError(f"conditions lack momentum_column={momentum_column!r}. Received "
                             f"columns: {list(cond.columns)}")
        momentum = cond[momentum_column].to_numpy()
    ref_fc = with_conditions(ref_f, cond)
    hit_count = feature_groups(list(ref_f.columns)).get("hit count", [])
    no_hit_count = [c for c in ref_fc.columns if c not in hit_count] if hit_count else []
    rows = {}
    for name, showers in variants.items():
        var = as_grid(showers, f"variants[{name!r}]")
        if var.shape != ref.shape:
            raise ValueError(f"variants[{name!r}] must have the reference's shape {ref.shape}. "
                             f"Received: {var.shape}")
        var_f = shower_features(var)
        var_fc = with_conditions(var_f, cond)
        scores = classifier_scores(ref_fc, var_fc, paired=True, seed=seed,
                                   max_samples=max_samples)
        row = {"high_level_auc": scores["high_level_auc"],
               "auc_without_conditions": scores["high_level_auc_without_conditions"]}
        if no_hit_count:
            row["auc_without_hit_count"] = metrics.classifier_auc(
                ref_fc[no_hit_count], var_fc[no_hit_count], seed=seed, paired=True,
                max_samples=max_samples)
        for group, values in scores["groups"].items():
            row[f"auc_{group.replace(' ', '_')}"] = values["auc_with_conditions"]
        row["n_hit_reference"] = float(ref_f["n_hit"].mean())
        row["n_hit_variant"] = float(var_f["n_hit"].mean())
        if momentum is not None:
            table = momentum_bin_table(ref_f[feature], momentum, var_f[feature], momentum,
                                       momentum_bins)
            for column in ("mean_rel", "width_rel"):
                row[f"{feature}_{column}_min"] = float(table[column].min())
                row[f"{feature}_{column}_max"] = float(table[column].max())
        rows[name] = row
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("variant")
