"""Adagrad: per-coordinate rates from the sum of squared gradients, Keras form."""

from __future__ import annotations

import numpy as np

from .optimizer import Optimizer, check_range


class Adagrad(Optimizer):
    """Per-coordinate rates from the sum of squared gradients, Keras form.

    acc += g^2 (acc starts at ``initial_accumulator_value``); w -= lr*g/sqrt(acc + eps).
    Slot: ``accumulator``.
    """

    _state_prefix = "adagrad"

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, name=None, **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name, **kwargs)
        check_range("Adagrad", "initial_accumulator_value", initial_accumulator_value, 0.0)
        check_range("Adagrad", "epsilon", epsilon, 0.0)
        self.initial_accumulator_value = initial_accumulator_value
        self.epsilon = epsilon

    def _slot_names(self):
        return ("accumulator",)

    def _new_slot(self, slot, value):
        return np.full_like(value, self.initial_accumulator_value)

    def _update_step(self, value, gradient, slots, learning_rate):
        cast = value.dtype.type
        accumulator = slots["accumulator"]
        accumulator += np.square(gradient)
        value -= cast(learning_rate) * gradient / np.sqrt(accumulator + cast(self.epsilon))

    def get_config(self):
        return {**super().get_config(), "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}
