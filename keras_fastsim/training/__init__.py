"""Training: ``tf.distribute`` strategies, fitting loops, callbacks."""

from keras_fastsim.training.strategy import STRATEGIES, get_strategy

__all__ = ["STRATEGIES", "get_strategy"]
