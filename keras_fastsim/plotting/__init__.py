"""Validation figures of the package's models.

- :mod:`keras_fastsim.plotting.style`: the shared HEP style context manager and the
  atomic PNG writer used by every plotting module.
- :mod:`keras_fastsim.plotting.dedx`: BESIII dE/dx figures (arXiv:2401.02692).
- :mod:`keras_fastsim.plotting.history`: training curves.

All functions write PNG files and return their paths; nothing is shown on screen and the
global matplotlib state is left as found.
"""

from keras_fastsim.plotting.style import hep_style, new_figure, save_figure

__all__ = ["hep_style", "new_figure", "save_figure"]
