"""Training curves: losses (and metrics) per epoch, learning rate on a twin axis."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.ticker import MaxNLocator

from keras_fastsim.plotting.style import hep_style, new_figure, save_figure, sim_style

LEARNING_RATE_KEYS: tuple[str, ...] = ("learning_rate", "lr")
"""History keys drawn as the learning rate (twin axis, log scale)."""


def plot_history(
    history: Mapping[str, Sequence[float]],
    path: str | os.PathLike,
    *,
    title: str | None = None,
) -> Path:
    """Plots training curves vs epoch.

    Every key except the learning rate (``"learning_rate"`` or ``"lr"``) is drawn on the
    left axis (``val_*`` keys dashed, in the colour of their training key); the y axis is
    logarithmic when all drawn values are positive. The learning rate, if present, is
    drawn on a twin right axis (log scale).

    Args:
        history: ``{name: values per epoch}``, e.g. ``keras.callbacks.History.history``
            (a ``History`` object itself is accepted too).
        path: Output PNG path.
        title: Optional figure title.

    Returns:
        The output path.

    Raises:
        ValueError: if the history is empty, holds no curve besides the learning rate,
            or has non-numeric values.
    """
    history = getattr(history, "history", history)
    if not isinstance(history, Mapping) or not history:
        raise ValueError(
            f"`history` must be a non-empty mapping of curves. Received: history={history!r}"
        )
    curves: dict[str, np.ndarray] = {}
    for key, values in history.items():
        try:
            arr = np.asarray(values, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise ValueError(
                f"History values must be numbers per epoch. Received: {key!r}={values!r}"
            ) from None
        if arr.size:
            curves[str(key)] = arr
    lr_key = next((k for k in LEARNING_RATE_KEYS if k in curves), None)
    losses = {k: v for k, v in curves.items() if k not in LEARNING_RATE_KEYS}
    if not losses:
        raise ValueError(
            f"`history` holds no curve besides the learning rate. Received: keys={list(history)}"
        )
    drawn = np.concatenate(list(losses.values()))
    drawn = drawn[np.isfinite(drawn)]
    log_y = drawn.size > 0 and bool(np.all(drawn > 0))

    train_keys = [k for k in losses if not k.startswith("val_")]
    colour_of = {k: sim_style(i)["color"] for i, k in enumerate(train_keys)}
    with hep_style():
        fig = new_figure(figsize=(7.5, 5.0))
        ax = fig.add_subplot()
        extra = len(train_keys)
        for key, values in losses.items():
            base = key.removeprefix("val_")
            if base not in colour_of:
                colour_of[base] = sim_style(extra)["color"]
                extra += 1
            epochs = np.arange(1, values.size + 1)
            ax.plot(epochs, values, color=colour_of[base],
                    linestyle="--" if key.startswith("val_") else "-", label=key,
                    marker="o" if values.size < 30 else None, markersize=3)
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        if log_y:
            ax.set_yscale("log")
        handles, labels = ax.get_legend_handles_labels()
        if lr_key is not None:
            lr = curves[lr_key]
            ax_lr = ax.twinx()
            ax_lr.plot(np.arange(1, lr.size + 1), lr, color="0.4", linestyle=":", label=lr_key)
            finite = lr[np.isfinite(lr)]
            if finite.size and np.all(finite > 0):
                ax_lr.set_yscale("log")
            ax_lr.set_ylabel("learning rate")
            h, lab = ax_lr.get_legend_handles_labels()
            handles += h
            labels += lab
        ax.legend(handles, labels, fontsize="x-small")
        if title:
            ax.set_title(title, fontsize="small")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        return save_figure(fig, path)
