"""Nadam: Adam with Nesterov momentum, Keras form."""

from __future__ import annotations

import numpy as np

from .optimizer import Optimizer, check_range


class Nadam(Optimizer):
    """Adam with Nesterov momentum (Dozat 2015), Keras form.

    u_t = b1*(1 - 0.5*0.96^t); U_t = u_1*...*u_t (state ``nadam/u_product``);
    m, v as Adam; m_hat = u_{t+1}*m/(1 - U_t*u_{t+1}) + (1 - u_t)*g/(1 - U_t);
    v_hat = v/(1 - b2^t); w -= lr*m_hat/(sqrt(v_hat) + eps). Slots: ``m``, ``v``.
    Equal to torch.optim.NAdam(momentum_decay=1.0); torch's default 0.004 differs.
    """

    _state_prefix = "nadam"

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, name="nadam", **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name, **kwargs)
        check_range("Nadam", "beta_1", beta_1, 0.0, 1.0, high_open=True)
        check_range("Nadam", "beta_2", beta_2, 0.0, 1.0, high_open=True)
        check_range("Nadam", "epsilon", epsilon, 0.0)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self._u_product = 1.0

    def _slot_names(self):
        return ("m", "v")

    def _momentum_cache(self, t: int) -> float:
        return self.beta_1 * (1.0 - 0.5 * 0.96 ** t)

    def _begin_update(self):
        self._u_product *= self._momentum_cache(self.iterations + 1)

    def _update_step(self, value, gradient, slots, learning_rate):
        cast = value.dtype.type
        t = self.iterations + 1
        u_t, u_next = self._momentum_cache(t), self._momentum_cache(t + 1)
        u_product, u_product_next = self._u_product, self._u_product * u_next
        m, v = slots["m"], slots["v"]
        m += (gradient - m) * cast(1 - self.beta_1)
        v += (np.square(gradient) - v) * cast(1 - self.beta_2)
        m_hat = m * cast(u_next / (1 - u_product_next)) + gradient * cast((1 - u_t) / (1 - u_product))
        v_hat = v / cast(1 - self.beta_2 ** t)
        value -= m_hat * cast(learning_rate) / (np.sqrt(v_hat) + cast(self.epsilon))

    def _extra_state(self):
        return {"nadam/u_product": np.array(self._u_product, dtype=np.float64)}

    def _set_extra_state(self, state):
        self._u_product = float(np.asarray(state["nadam/u_product"]))

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}
