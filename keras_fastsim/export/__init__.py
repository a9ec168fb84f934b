"""SavedModel export of trained simulators."""

from keras_fastsim.export.saved_model import export_dedx_flow, export_run

__all__ = ["export_dedx_flow", "export_run"]
