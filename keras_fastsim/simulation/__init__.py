"""Fast simulation engines built from the trained generative nets."""

from keras_fastsim.simulation.juno_fast import (
    JunoFastSimulator,
    JunoResponseTables,
    group_steps,
)

__all__ = ["JunoFastSimulator", "JunoResponseTables", "group_steps"]
