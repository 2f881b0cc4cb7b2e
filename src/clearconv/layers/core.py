"""Core layers: Input, Dense, Flatten, Reshape, Dropout and the activation layers."""

from __future__ import annotations

import numbers

import numpy as np

from .. import activations, constraints, initializers, regularizers, utils
from .. import functional as F
from ..config import image_data_format
from .base import Layer, SymbolicTensor, resolve_identifier, serialize


class InputLayer(Layer):
    """Marks a model's input: identity on data of the declared shape."""

    def __init__(self, shape=None, batch_size=None, dtype=None, batch_shape=None, name=None, **kwargs):
        if batch_shape is None:
            if shape is None:
                raise ValueError("Input: give `shape` (one sample's shape, without the batch axis) or `batch_shape`")
            if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
                shape = (shape,)
            if not isinstance(shape, (tuple, list)):
                raise TypeError(f"Input: `shape` must be a tuple of non-negative integers (or None); "
                                f"received shape={shape!r}")
            batch_shape = (batch_size, *tuple(shape))
        name_arg = "shape" if shape is not None else "batch_shape"
        if not isinstance(batch_shape, (tuple, list)) or any(
                d is not None and (isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 0)
                for d in batch_shape):
            raise ValueError(f"Input: `{name_arg}` must hold non-negative integers or None; "
                             f"received {name_arg}={shape if shape is not None else batch_shape!r}")
        batch_shape = tuple(None if d is None else int(d) for d in batch_shape)  # NumPy ints -> JSON-ready ints
        super().__init__(name=name, dtype=dtype, batch_input_shape=batch_shape, **kwargs)
        self.built = True

    def compute_output_shape(self, input_shape) -> tuple:
        return tuple(input_shape)

    def call(self, inputs, training=None):
        return inputs

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype, "batch_shape": self.batch_input_shape}


def Input(shape=None, batch_size=None, dtype=None, batch_shape=None, name=None) -> SymbolicTensor:
    """A symbolic input of shape ``(batch_size, *shape)`` to start a functional model."""
    layer = InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, batch_shape=batch_shape, name=name)
    return SymbolicTensor(layer.batch_input_shape, layer.dtype, layer, [])


class Dense(Layer):
    """``activation(x @ kernel + bias)`` on the last axis; kernel (in_features, units)."""

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or not 0 < units < 2**63:
            raise ValueError(f"{self.name}: `units` must be a positive integer; received units={units!r}")
        self.units = int(units)
        self.activation = resolve_identifier(self.name, "activation", activations.get, activation)
        self.use_bias = utils.check_flag(self.name, "use_bias", use_bias)
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer
        self.kernel_regularizer, self.bias_regularizer = kernel_regularizer, bias_regularizer
        self.kernel_constraint, self.bias_constraint = kernel_constraint, bias_constraint
        self.activity_regularizer = resolve_identifier(self.name, "activity_regularizer", regularizers.get,
                                                       activity_regularizer)
        for kind, getter in (("initializer", initializers.get), ("regularizer", regularizers.get),
                             ("constraint", constraints.get)):
            for argument in (f"kernel_{kind}", f"bias_{kind}"):
                resolve_identifier(self.name, argument, getter, getattr(self, argument))

    def build(self, input_shape) -> None:
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(f"{self.name}: expected an input of rank >= 2 with a known last axis; "
                             f"received shape {tuple(input_shape)}")
        self.kernel = self.add_weight((int(input_shape[-1]), self.units), self.kernel_initializer, name="kernel",
                                      regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight((self.units,), self.bias_initializer, name="bias",
                                        regularizer=self.bias_regularizer, constraint=self.bias_constraint)
        self.built = True

    def _check_input(self, input_shape) -> None:
        if len(input_shape) < 2 or input_shape[-1] != self.kernel.shape[0]:
            raise ValueError(f"{self.name}: expected inputs of shape (..., {self.kernel.shape[0]}); "
                             f"received shape {tuple(input_shape)}")

    def compute_output_shape(self, input_shape) -> tuple:
        return (*tuple(input_shape)[:-1], self.units)

    def call(self, inputs, training=None):
        return self.activation(F.dense(inputs, self.kernel, self.bias))

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(units=self.units, activation=activations.serialize(self.activation), use_bias=self.use_bias)
        for name in ("kernel_initializer", "bias_initializer", "kernel_regularizer", "bias_regularizer",
                     "activity_regularizer", "kernel_constraint", "bias_constraint"):
            config[name] = serialize(getattr(self, name))
        return config


class Flatten(Layer):
    """(N, d1, d2, ...) -> (N, d1*d2*...); channels_first inputs are made channels_last first, as Keras does."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        from .conv import DATA_FORMATS, _check_choice
        self.data_format = _check_choice(self.name, "data_format", data_format or image_data_format(), DATA_FORMATS)

    def compute_output_shape(self, input_shape) -> tuple:
        rest = input_shape[1:]
        size = None if any(d is None for d in rest) else int(np.prod(rest, dtype=np.int64))
        return (input_shape[0], size)

    def call(self, inputs, training=None):
        if self.data_format == "channels_first" and inputs.ndim > 2:
            inputs = inputs.transpose(0, *range(2, inputs.ndim), 1)
        # The size is spelled out: NumPy cannot infer -1 for a batch of 0 samples.
        return inputs.reshape(inputs.shape[0], int(np.prod(inputs.shape[1:], dtype=np.int64)))

    def get_config(self) -> dict:
        return {**super().get_config(), "data_format": self.data_format}


class Reshape(Layer):
    """Reshape each sample to ``target_shape`` (one entry may be -1)."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        entries = (target_shape,) if isinstance(target_shape, (int, np.integer)) else target_shape
        if not isinstance(entries, (tuple, list)) or any(isinstance(d, bool) or not isinstance(d, (int, np.integer))
                                                          for d in entries):
            raise TypeError(f"{self.name}: `target_shape` must be a tuple of integers; "
                            f"received target_shape={target_shape!r}")
        self.target_shape = tuple(int(d) for d in entries)
        if sum(d == -1 for d in self.target_shape) > 1 or any(d == 0 or d < -1 for d in self.target_shape):
            raise ValueError(f"{self.name}: `target_shape` takes positive sizes and at most one -1; "
                             f"received target_shape={target_shape!r}")

    def compute_output_shape(self, input_shape) -> tuple:
        rest = input_shape[1:]
        if any(d is None for d in rest):
            return (input_shape[0], *(None if d == -1 else d for d in self.target_shape))
        size = int(np.prod(rest, dtype=np.int64))
        known = int(np.prod([d for d in self.target_shape if d != -1], dtype=np.int64))
        if (-1 in self.target_shape and size % known) or (-1 not in self.target_shape and size != known):
            raise ValueError(f"{self.name}: cannot reshape a sample of shape {tuple(rest)} ({size} values) "
                             f"to target_shape={self.target_shape}")
        return (input_shape[0], *(size // known if d == -1 else d for d in self.target_shape))

    def _check_input(self, input_shape) -> None:
        self.compute_output_shape(input_shape)

    def call(self, inputs, training=None):
        # The -1 is resolved from one sample's size: NumPy cannot infer it for a batch of 0 samples.
        size = int(np.prod(inputs.shape[1:], dtype=np.int64))
        known = int(np.prod([d for d in self.target_shape if d != -1], dtype=np.int64))
        target = tuple(size // known if d == -1 else d for d in self.target_shape)  # (N, *target)
        return inputs.reshape(inputs.shape[0], *target)

    def get_config(self) -> dict:
        return {**super().get_config(), "target_shape": self.target_shape}


class Dropout(Layer):
    """Inverted dropout during training (``training=True``); identity otherwise.

    ``seed`` makes the masks reproducible; without it they come from
    :func:`clearconv.utils.set_seed`'s generator.
    """

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not 0 <= rate <= 1:
            raise ValueError(f"{self.name}: `rate` must be a number in [0, 1]; received rate={rate!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
            raise ValueError(f"{self.name}: `seed` must be None or a non-negative integer; received seed={seed!r}")
        if noise_shape is not None and (not isinstance(noise_shape, (tuple, list)) or not all(
                d is None or (isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d > 0)
                for d in noise_shape)):
            raise ValueError(f"{self.name}: `noise_shape` must be None or a tuple of positive integers (or None); "
                             f"received noise_shape={noise_shape!r}")
        self.rate, self.noise_shape, self.seed = float(rate), noise_shape, seed
        self._rng = np.random.default_rng(seed) if seed is not None else None

    def compute_output_shape(self, input_shape) -> tuple:
        return tuple(input_shape)

    def call(self, inputs, training=None):
        if not training or self.rate == 0:
            return inputs
        rng = self._rng if self._rng is not None else utils.global_rng()
        return F.dropout(inputs, self.rate, rng, self.noise_shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "rate": self.rate, "noise_shape": self.noise_shape, "seed": self.seed}


class _Elementwise(Layer):
    """A layer whose output has the input's shape."""

    def compute_output_shape(self, input_shape) -> tuple:
        return tuple(input_shape)


class Activation(_Elementwise):
    """Apply a named activation (``"relu"``, ``"softmax"``, ...) or a callable."""

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = resolve_identifier(self.name, "activation", activations.get, activation)

    def call(self, inputs, training=None):
        return self.activation(inputs)

    def get_config(self) -> dict:
        return {**super().get_config(), "activation": activations.serialize(self.activation)}


class ReLU(_Elementwise):
    """``max_value`` cap, ``negative_slope`` below ``threshold`` (Keras's ReLU layer)."""

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        if max_value is not None and max_value < 0:
            raise ValueError(f"{self.name}: `max_value` must be >= 0 or None; received max_value={max_value!r}")
        if negative_slope is None or negative_slope < 0:
            raise ValueError(f"{self.name}: `negative_slope` must be >= 0; received negative_slope={negative_slope!r}")
        if threshold is None:
            raise ValueError(f"{self.name}: `threshold` must be a number; received threshold=None")
        self.max_value, self.negative_slope, self.threshold = max_value, float(negative_slope), float(threshold)

    def call(self, inputs, training=None):
        return F.activation(inputs, "relu", negative_slope=self.negative_slope, max_value=self.max_value,
                            threshold=self.threshold)

    def get_config(self) -> dict:
        return {**super().get_config(), "max_value": self.max_value, "negative_slope": self.negative_slope,
                "threshold": self.threshold}


class LeakyReLU(_Elementwise):
    """``x`` for x >= 0, ``negative_slope * x`` otherwise (default 0.3, as the Keras layer)."""

    def __init__(self, negative_slope=0.3, **kwargs):
        if "alpha" in kwargs:  # Keras 2 name of the same argument
            negative_slope = kwargs.pop("alpha")
        super().__init__(**kwargs)
        if negative_slope is None or negative_slope < 0:
            raise ValueError(f"{self.name}: `negative_slope` must be >= 0; received negative_slope={negative_slope!r}")
        self.negative_slope = float(negative_slope)

    def call(self, inputs, training=None):
        return F.activation(inputs, "leaky_relu", negative_slope=self.negative_slope)

    def get_config(self) -> dict:
        return {**super().get_config(), "negative_slope": self.negative_slope}


class ELU(_Elementwise):
    """``x`` for x > 0, ``alpha * (exp(x) - 1)`` otherwise."""

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = float(alpha)

    def call(self, inputs, training=None):
        return F.activation(inputs, "elu", alpha=self.alpha)

    def get_config(self) -> dict:
        return {**super().get_config(), "alpha": self.alpha}


class Softmax(_Elementwise):
    """Softmax along ``axis`` (default last)."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def call(self, inputs, training=None):
        return F.activation(inputs, "softmax", axis=self.axis)

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}


class PReLU(_Elementwise):
    """``relu(x) - alpha * relu(-x)`` with a learned ``alpha`` of shape ``input_shape[1:]``
    (size 1 along ``shared_axes``)."""

    def __init__(self, alpha_initializer="zeros", alpha_regularizer=None, alpha_constraint=None,
                 shared_axes=None, **kwargs):
        super().__init__(**kwargs)
        self.alpha_initializer, self.alpha_regularizer = alpha_initializer, alpha_regularizer
        self.alpha_constraint = alpha_constraint
        resolve_identifier(self.name, "alpha_initializer", initializers.get, alpha_initializer)
        resolve_identifier(self.name, "alpha_regularizer", regularizers.get, alpha_regularizer)
        resolve_identifier(self.name, "alpha_constraint", constraints.get, alpha_constraint)
        if shared_axes is None:
            self.shared_axes = None
        else:
            self.shared_axes = tuple(shared_axes) if isinstance(shared_axes, (list, tuple)) else (shared_axes,)

    def build(self, input_shape) -> None:
        shape = list(input_shape[1:])
        for axis in self.shared_axes or ():
            if not 1 <= axis < len(input_shape):
                raise ValueError(f"{self.name}: `shared_axes` entries must be in [1, {len(input_shape) - 1}]; "
                                 f"received shared_axes={self.shared_axes}")
            shape[axis - 1] = 1
        if any(d is None for d in shape):
            raise ValueError(f"{self.name}: input dims not shared must be known; received {tuple(input_shape)}")
        self.alpha = self.add_weight(shape, self.alpha_initializer, name="alpha", regularizer=self.alpha_regularizer,
                                     constraint=self.alpha_constraint)
        self.built = True

    def call(self, inputs, training=None):
        return F.activation(inputs, "relu") - self.alpha * F.activation(-inputs, "relu")

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(alpha_initializer=serialize(self.alpha_initializer),
                      alpha_regularizer=serialize(self.alpha_regularizer),
                      alpha_constraint=serialize(self.alpha_constraint), shared_axes=self.shared_axes)
        return config
