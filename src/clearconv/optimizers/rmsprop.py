"""RMSprop: steps divided by a running root-mean-square of the gradients, Keras form."""

from __future__ import annotations

import numpy as np

from ..utils import check_flag
from .optimizer import Optimizer, check_range


class RMSprop(Optimizer):
    """Divide the gradient by a running root-mean-square, Keras form (eps inside the square root).

    v = rho*v + (1-rho)*g^2; centered: a = rho*a + (1-rho)*g and d = v - a^2 + eps,
    else d = v + eps; step = lr*g/sqrt(d); with momentum b = momentum*b + step, w -= b;
    otherwise w -= step. Slots: ``velocity``, ``momentum`` (momentum > 0),
    ``average_gradient`` (centered).
    """

    _state_prefix = "rmsprop"

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None, name="rmsprop",
                 **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name, **kwargs)
        check_range("RMSprop", "rho", rho, 0.0, 1.0)
        check_range("RMSprop", "momentum", momentum, 0.0, 1.0)
        check_range("RMSprop", "epsilon", epsilon, 0.0)
        centered = check_flag("RMSprop", "centered", centered)
        self.rho = rho
        self.momentum = momentum
        self.epsilon = epsilon
        self.centered = bool(centered)

    def _slot_names(self):
        return ("velocity",) + (("momentum",) if self.momentum > 0 else ()) + \
            (("average_gradient",) if self.centered else ())

    def _update_step(self, value, gradient, slots, learning_rate):
        cast = value.dtype.type
        rho, one_minus_rho = cast(self.rho), cast(1 - self.rho)
        velocity = slots["velocity"]
        velocity *= rho
        velocity += one_minus_rho * np.square(gradient)
        if self.centered:
            average = slots["average_gradient"]
            average *= rho
            average += one_minus_rho * gradient
            denominator = velocity - np.square(average) + cast(self.epsilon)
        else:
            denominator = velocity + cast(self.epsilon)
        increment = cast(learning_rate) * gradient / np.sqrt(denominator)
        if self.momentum > 0:
            buffer = slots["momentum"]
            buffer *= cast(self.momentum)
            buffer += increment
            value -= buffer
        else:
            value -= increment

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon,
                "centered": self.centered}
