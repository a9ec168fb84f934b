"""Fidelity metrics and particle identification."""

from keras_fastsim.evaluation.pid import PID_HYPOTHESES, PidCalibration, pid_rates

__all__ = ["PID_HYPOTHESES", "PidCalibration", "pid_rates"]
