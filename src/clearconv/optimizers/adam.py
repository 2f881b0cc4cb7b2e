"""Adam: adaptive moment estimation, Keras form."""

from __future__ import annotations

import math

import numpy as np

from ..utils import check_flag
from .optimizer import Optimizer, check_range


class Adam(Optimizer):
    """Adaptive moments (Kingma & Ba), Keras form: eps added to sqrt(v) before bias correction.

    m += (g - m)(1 - b1); v += (g^2 - v)(1 - b2); amsgrad: v_hat = max(v_hat, v) replaces v;
    alpha = lr*sqrt(1 - b2^t)/(1 - b1^t); w -= alpha*m/(sqrt(v) + eps), t = iterations + 1.
    Slots: ``m``, ``v``, ``v_hat`` (amsgrad).
    """

    _state_prefix = "adam"

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None, name="adam", **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name, **kwargs)
        owner = type(self).__name__
        check_range(owner, "beta_1", beta_1, 0.0, 1.0, high_open=True)
        check_range(owner, "beta_2", beta_2, 0.0, 1.0, high_open=True)
        check_range(owner, "epsilon", epsilon, 0.0)
        amsgrad = check_flag(owner, "amsgrad", amsgrad)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.amsgrad = bool(amsgrad)

    def _slot_names(self):
        return ("m", "v", "v_hat") if self.amsgrad else ("m", "v")

    def _update_step(self, value, gradient, slots, learning_rate):
        cast = value.dtype.type
        t = self.iterations + 1
        alpha = learning_rate * math.sqrt(1 - self.beta_2 ** t) / (1 - self.beta_1 ** t)
        m, v = slots["m"], slots["v"]
        m += (gradient - m) * cast(1 - self.beta_1)
        v += (np.square(gradient) - v) * cast(1 - self.beta_2)
        if self.amsgrad:
            v = np.maximum(slots["v_hat"], v, out=slots["v_hat"])
        value -= m * cast(alpha) / (np.sqrt(v) + cast(self.epsilon))

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "amsgrad": self.amsgrad}
