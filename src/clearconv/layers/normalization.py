"""BatchNormalization with Keras's arguments, defaults and update rule.

Training (``training=True`` and the layer trainable): normalise with the
batch mean and *biased* variance over every axis but ``axis``, then
``moving = moving * momentum + batch * (1 - momentum)``. Otherwise normalise
with the moving statistics. PyTorch's momentum is ``1 - momentum`` here, and
PyTorch stores the unbiased variance: the converters translate.
"""

from __future__ import annotations

from .. import functional as F
from .. import constraints, initializers, regularizers
from ..kernels import normalization as norm_ops
from .base import Layer, resolve_identifier, serialize


class BatchNormalization(Layer):
    """Per-channel normalisation; weights gamma, beta, moving_mean, moving_variance (Keras order)."""

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", moving_mean_initializer="zeros",
                 moving_variance_initializer="ones", beta_regularizer=None, gamma_regularizer=None,
                 beta_constraint=None, gamma_constraint=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise TypeError(f"{self.name}: `axis` must be an int; received axis={axis!r}")
        if not 0.0 <= float(momentum) <= 1.0:
            raise ValueError(f"{self.name}: `momentum` must be in [0, 1]; received momentum={momentum!r}")
        if float(epsilon) <= 0.0:
            raise ValueError(f"{self.name}: `epsilon` must be positive; received epsilon={epsilon!r}")
        self.axis, self.momentum, self.epsilon = axis, float(momentum), float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer, self.gamma_initializer = beta_initializer, gamma_initializer
        self.moving_mean_initializer = moving_mean_initializer
        self.moving_variance_initializer = moving_variance_initializer
        self.beta_regularizer, self.gamma_regularizer = beta_regularizer, gamma_regularizer
        self.beta_constraint, self.gamma_constraint = beta_constraint, gamma_constraint
        for name in ("beta_initializer", "gamma_initializer", "moving_mean_initializer",
                     "moving_variance_initializer"):
            resolve_identifier(self.name, name, initializers.get, getattr(self, name))
        for name in ("beta_regularizer", "gamma_regularizer"):
            resolve_identifier(self.name, name, regularizers.get, getattr(self, name))
        for name in ("beta_constraint", "gamma_constraint"):
            resolve_identifier(self.name, name, constraints.get, getattr(self, name))

    def _resolved_axis(self, input_shape) -> int:
        rank = len(input_shape)
        if not -rank <= self.axis < rank:
            raise ValueError(f"{self.name}: `axis`={self.axis} is out of range for an input of shape "
                             f"{tuple(input_shape)}")
        return self.axis % rank

    def build(self, input_shape) -> None:
        channels = input_shape[self._resolved_axis(input_shape)]
        if channels is None:
            raise ValueError(f"{self.name}: the normalised axis {self.axis} of input shape "
                             f"{tuple(input_shape)} must be known")
        self.channels = int(channels)
        shape = (self.channels,)
        self.gamma = self.add_weight(shape, self.gamma_initializer, name="gamma", regularizer=self.gamma_regularizer,
                                     constraint=self.gamma_constraint) if self.scale else None
        self.beta = self.add_weight(shape, self.beta_initializer, name="beta", regularizer=self.beta_regularizer,
                                    constraint=self.beta_constraint) if self.center else None
        self.moving_mean = self.add_weight(shape, self.moving_mean_initializer, name="moving_mean", trainable=False)
        self.moving_variance = self.add_weight(shape, self.moving_variance_initializer, name="moving_variance",
                                               trainable=False)
        self.built = True

    def _check_input(self, input_shape) -> None:
        size = input_shape[self._resolved_axis(input_shape)]
        if size != self.channels:
            raise ValueError(f"{self.name}: expected {self.channels} features on axis {self.axis}; "
                             f"received an input of shape {tuple(input_shape)}")

    def compute_output_shape(self, input_shape) -> tuple:
        return tuple(input_shape)

    def call(self, inputs, training=None):
        axis = self._resolved_axis(inputs.shape)
        if training and self.trainable:
            y, mean, var = F.batch_norm_train(inputs, self.gamma, self.beta, axis, self.epsilon)
            self.moving_mean.assign(norm_ops.update_moving(self.moving_mean.data, mean, self.momentum))
            self.moving_variance.assign(norm_ops.update_moving(self.moving_variance.data, var, self.momentum))
            return y
        return F.batch_norm_infer(inputs, self.moving_mean.data, self.moving_variance.data, self.gamma, self.beta,
                                  axis, self.epsilon)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(axis=self.axis, momentum=self.momentum, epsilon=self.epsilon, center=self.center,
                      scale=self.scale)
        for name in ("beta_initializer", "gamma_initializer", "moving_mean_initializer",
                     "moving_variance_initializer", "beta_regularizer", "gamma_regularizer",
                     "beta_constraint", "gamma_constraint"):
            config[name] = serialize(getattr(self, name))
        return config
