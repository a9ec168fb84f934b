"""Shared figure style and saving for every plotting module of the package.

All figures of ``keras_fastsim`` are drawn inside :func:`hep_style` (the neutral ROOT-like
style of ``mplhep``, applied through a context manager so the caller's global matplotlib
state is never changed) and written with :func:`save_figure` (PNG, atomic, figure closed).

Figures are built as ``matplotlib.figure.Figure`` objects, never through ``pyplot``'s
state machine, so the code runs with any backend (including ``Agg``) and never shows
windows.

Example:
    >>> with hep_style():
    ...     fig = new_figure(figsize=(6, 4))
    ...     ax = fig.add_subplot()
    ...     ax.plot([0, 1], [0, 1])
    ...     save_figure(fig, "line.png")
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.style
from matplotlib.figure import Figure

from keras_fastsim.io.atomic import atomic_path

DEFAULT_DPI = 120
"""Resolution of saved PNG figures."""

_SIM_COLORS = ("#e42536", "#5790fc", "#f89c20", "#964a8b", "#7a21dd", "#9c9ca1")
_SIM_LINESTYLES = ("-", "--", "-.", ":")


def _base_style() -> dict[str, Any]:
    import mplhep

    style = dict(mplhep.style.ROOT)
    # The ROOT style is tuned for single 10 x 10 inch panels; multi-panel validation
    # figures need smaller type.
    style.update({"font.size": 14, "xtick.major.size": 7, "xtick.minor.size": 3.5,
                  "ytick.major.size": 7, "ytick.minor.size": 3.5, "axes.linewidth": 1.2})
    return style


@contextlib.contextmanager
def hep_style(**overrides: Any) -> Iterator[None]:
    """Applies the package's HEP plot style for the duration of the block.

    The style is ``mplhep.style.ROOT`` with a smaller base font, updated with
    ``overrides`` (matplotlib rcParams). Global rcParams are restored on exit.

    Args:
        **overrides: rcParams to set on top of the style, e.g. ``{"font.size": 12}``
            passed as ``hep_style(**{"font.size": 12})``.

    Yields:
        None.
    """
    style = _base_style()
    style.update(overrides)
    with matplotlib.style.context(style), matplotlib.rc_context({"savefig.dpi": DEFAULT_DPI}):
        yield


def new_figure(**kwargs: Any) -> Figure:
    """Creates a figure that is not registered with ``pyplot`` (nothing to show or leak).

    Args:
        **kwargs: Passed to ``matplotlib.figure.Figure`` (``figsize``, ``layout``, ...).

    Returns:
        The new figure.
    """
    kwargs.setdefault("layout", "constrained")
    return Figure(**kwargs)


def save_figure(fig: Figure, path: str | os.PathLike, *, dpi: int = DEFAULT_DPI) -> Path:
    """Saves ``fig`` as a PNG atomically and closes it.

    The file appears whole or not at all; the figure is closed (released) even when
    saving fails.

    Args:
        fig: The figure to save.
        path: Output path; must end with ``.png``. Parent directories are created.
        dpi: Resolution in dots per inch.

    Returns:
        The output path.

    Raises:
        ValueError: if ``path`` does not end with ``.png`` or ``dpi`` is not positive.
    """
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(
            "Figures are saved as PNG; the path must end with '.png'. "
            f"Received: path={str(path)!r}"
        )
    if dpi <= 0:
        raise ValueError(f"`dpi` must be positive. Received: dpi={dpi}")
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=dpi)
    finally:
        close_figure(fig)
    return path


def close_figure(fig: Figure) -> None:
    """Releases a figure, whether or not it was created through ``pyplot``."""
    import sys

    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close(fig)
    fig.clear()


def sim_style(index: int) -> dict[str, Any]:
    """Line style of the ``index``-th simulation in a comparison (data is black points).

    Args:
        index: Position of the simulation in the ``sims`` mapping (0 for the first).

    Returns:
        A dict with ``color`` and ``linestyle`` for matplotlib.
    """
    if index < 0:
        raise ValueError(f"`index` must be >= 0. Received: index={index}")
    return {
        "color": _SIM_COLORS[index % len(_SIM_COLORS)],
        "linestyle": _SIM_LINESTYLES[index % len(_SIM_LINESTYLES)],
    }


def data_style() -> dict[str, Any]:
    """Marker style of the reference data in comparisons (black points with errors)."""
    return {"color": "black", "marker": "o", "markersize": 4, "linestyle": "none"}
