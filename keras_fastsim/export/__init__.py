"""SavedModel export of trained simulators."""

from keras_fastsim.export.saved_model import (
    export_besiii_emc_generator,
    export_cepc_ecal_generator,
    export_conditional_generator,
    export_dedx_flow,
    export_dedx_knn,
    export_run,
)

__all__ = ["export_besiii_emc_generator", "export_cepc_ecal_generator",
           "export_conditional_generator", "export_dedx_flow", "export_dedx_knn", "export_run"]
