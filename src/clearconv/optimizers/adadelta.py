"""Adadelta: steps from running averages of squared gradients and squared updates, Keras form."""

from __future__ import annotations

import numpy as np

from .optimizer import Optimizer, check_range


class Adadelta(Optimizer):
    """Steps scaled by the ratio of running RMS of updates and of gradients (Zeiler 2012), Keras form.

    Eg = rho*Eg + (1-rho)*g^2; dx = -sqrt(Edx + eps)/sqrt(Eg + eps) * g;
    Edx = rho*Edx + (1-rho)*dx^2; w += lr*dx. Slots: ``accumulated_grad``, ``accumulated_delta_var``.
    Keras's default lr is 0.001; the paper (and torch) use 1.0.
    """

    _state_prefix = "adadelta"

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, weight_decay=None, clipnorm=None,
                 clipvalue=None, global_clipnorm=None, name="adadelta", **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name, **kwargs)
        check_range("Adadelta", "rho", rho, 0.0, 1.0)
        check_range("Adadelta", "epsilon", epsilon, 0.0)
        self.rho = rho
        self.epsilon = epsilon

    def _slot_names(self):
        return ("accumulated_grad", "accumulated_delta_var")

    def _update_step(self, value, gradient, slots, learning_rate):
        cast = value.dtype.type
        rho, one_minus_rho, eps = cast(self.rho), cast(1 - self.rho), cast(self.epsilon)
        grad_average, delta_average = slots["accumulated_grad"], slots["accumulated_delta_var"]
        grad_average *= rho
        grad_average += one_minus_rho * np.square(gradient)
        delta = -(np.sqrt(delta_average + eps) * gradient) / np.sqrt(grad_average + eps)
        delta_average *= rho
        delta_average += one_minus_rho * np.square(delta)
        value += cast(learning_rate) * delta

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}
