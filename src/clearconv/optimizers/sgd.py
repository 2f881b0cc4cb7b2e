"""SGD: gradient descent with optional (Nesterov) momentum, Keras form."""

from __future__ import annotations

from ..utils import check_flag
from .optimizer import Optimizer, check_range


class SGD(Optimizer):
    """Gradient descent with optional (Nesterov) momentum, Keras form.

    momentum 0: w -= lr*g. Otherwise m = momentum*m - lr*g, then w += m, or with
    ``nesterov`` w += momentum*m - lr*g. Slot: ``momentum`` (only when momentum != 0).
    """

    _state_prefix = "sgd"

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None, clipnorm=None,
                 clipvalue=None, global_clipnorm=None, name="SGD", **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name, **kwargs)
        check_range("SGD", "momentum", momentum, 0.0, 1.0)
        nesterov = check_flag("SGD", "nesterov", nesterov)
        self.momentum = momentum
        self.nesterov = bool(nesterov)

    def _slot_names(self):
        return ("momentum",) if self.momentum != 0 else ()

    def _update_step(self, value, gradient, slots, learning_rate):
        cast = value.dtype.type
        lr = cast(learning_rate)
        if self.momentum == 0:
            value -= gradient * lr
            return
        m, momentum = slots["momentum"], cast(self.momentum)
        m *= momentum
        m -= gradient * lr                          # m = momentum*m - lr*g
        if self.nesterov:
            value += m * momentum - gradient * lr
        else:
            value += m

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}
