"""End-to-end chains (reference data -> training -> simulation -> evaluation -> export).

The CLI's ``demo`` and the scripts in ``experiments/`` call these with different sizes.
"""

from keras_fastsim.pipelines.dedx import make_reference_split, run_dedx_pipeline

__all__ = ["make_reference_split", "run_dedx_pipeline"]
