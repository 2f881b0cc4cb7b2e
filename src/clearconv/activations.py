"""Keras 3's ``keras.activations``: the functions, and lookup by name.

Each activation is a function with Keras's signature and defaults
(``relu(x, negative_slope=0.0, max_value=None, threshold=0.0)``,
``gelu(x, approximate=False)``, ``leaky_relu(x, negative_slope=0.2)``...). It
takes a Tensor, an array or a Python value and returns a
:class:`~clearconv.autograd.Tensor`, recording its backward; the maths is in
:mod:`clearconv.ops` and :mod:`clearconv.kernels.activations`.

A layer's ``activation=`` may be a name or one of these functions: ``get("relu")``
returns :func:`relu` itself, so ``Conv2D(..., activation="relu")`` and
``Conv2D(..., activation=activations.relu)`` are the same layer (the convolution
fuses the relu in both cases, see :func:`builtin_name`). As in Keras,
``"swish"`` and ``"hard_swish"`` are other names of :func:`silu` and
:func:`hard_silu`, and a layer's config stores the function's own name.

Note the defaults that differ from the ops of the same name, as in Keras:
``activations.gelu`` is exact (``ops.gelu`` uses the tanh approximation), and
``activations.relu`` takes the ReLU layer's options.
"""

from __future__ import annotations

from . import config
from . import functional as F
from .ops import core as _core
from .ops import nn as _nn
from .ops import numpy as _numpy
from .ops.common import to_array
from .ops.dispatch import keras_op
from .serialization_lib import Catalog

# --------------------------------------------------------------------------- the functions


@keras_op("activations")
def relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """``min(x, max_value)`` above ``threshold``, ``negative_slope * (x - threshold)`` below
    (Keras's ``activations.relu``; with the defaults, ``max(x, 0)``)."""
    if negative_slope == 0.0 and max_value is None and threshold == 0.0:
        return _nn.relu(x)
    x = x if to_array(x).dtype.kind == "f" else _core.cast(x, config.floatx())
    return F.activation(x, "relu", negative_slope=negative_slope, max_value=max_value, threshold=threshold)


@keras_op("activations")
def leaky_relu(x, negative_slope=0.2):
    """x for x >= 0, ``negative_slope * x`` below (the LeakyReLU *layer*'s default is 0.3)."""
    return _nn.leaky_relu(x, negative_slope=negative_slope)


@keras_op("activations")
def relu6(x):
    """``min(max(x, 0), 6)``."""
    return _nn.relu6(x)


@keras_op("activations")
def softmax(x, axis=-1):
    """``exp(x) / sum(exp(x))`` along ``axis``."""
    return _nn.softmax(x, axis=axis)


@keras_op("activations")
def elu(x, alpha=1.0):
    """x for x > 0, ``alpha * (exp(x) - 1)`` otherwise."""
    return _nn.elu(x, alpha=alpha)


@keras_op("activations")
def selu(x):
    """Scaled ELU with Klambauer et al.'s constants (alpha 1.67326324, scale 1.05070098)."""
    return _nn.selu(x)


@keras_op("activations")
def softplus(x):
    """``log(exp(x) + 1)``."""
    return _nn.softplus(x)


@keras_op("activations")
def softsign(x):
    """``x / (|x| + 1)``."""
    return _nn.softsign(x)


@keras_op("activations")
def soft_shrink(x, threshold=0.5):
    """``x - threshold`` above ``threshold``, ``x + threshold`` below ``-threshold``, else 0."""
    return _nn.soft_shrink(x, threshold=threshold)


@keras_op("activations")
def sparse_plus(x):
    """0 for x <= -1, ``(x + 1)^2 / 4`` in between, x for x >= 1."""
    return _nn.sparse_plus(x)


@keras_op("activations")
def silu(x):
    """``x * sigmoid(x)`` (also called swish)."""
    return _nn.silu(x)


@keras_op("activations")
def squareplus(x, b=4):
    """``(x + sqrt(x^2 + b)) / 2``."""
    return _nn.squareplus(x, b=b)


@keras_op("activations")
def gelu(x, approximate=False):
    """``x * Phi(x)`` (exact by default; ``approximate=True`` uses the tanh formula)."""
    return _nn.gelu(x, approximate=approximate)


@keras_op("activations")
def celu(x, alpha=1.0):
    """x for x >= 0, ``alpha * (exp(x / alpha) - 1)`` below."""
    return _nn.celu(x, alpha=alpha)


@keras_op("activations")
def glu(x, axis=-1):
    """``a * sigmoid(b)`` with (a, b) the two halves of x along ``axis``."""
    return _nn.glu(x, axis=axis)


@keras_op("activations")
def tanh(x):
    """Hyperbolic tangent."""
    return _numpy.tanh(x)


@keras_op("activations")
def tanh_shrink(x):
    """``x - tanh(x)``."""
    return _nn.tanh_shrink(x)


@keras_op("activations")
def hard_tanh(x):
    """-1 below -1, x in [-1, 1], 1 above."""
    return _nn.hard_tanh(x)


@keras_op("activations")
def hard_shrink(x, threshold=0.5):
    """x where ``|x| > threshold``, else 0."""
    return _nn.hard_shrink(x, threshold=threshold)


@keras_op("activations")
def threshold(x, threshold, default_value):
    """x where ``x > threshold``, else ``default_value`` (both required, as in Keras)."""
    return _nn.threshold(x, threshold, default_value)


@keras_op("activations")
def sigmoid(x):
    """``1 / (1 + exp(-x))``."""
    return _nn.sigmoid(x)


@keras_op("activations")
def sparse_sigmoid(x):
    """0 for x <= -1, ``(x + 1) / 2`` in between, 1 for x >= 1."""
    return _nn.sparse_sigmoid(x)


@keras_op("activations")
def exponential(x):
    """``exp(x)``."""
    return _numpy.exp(x)


@keras_op("activations")
def hard_sigmoid(x):
    """``relu6(x + 3) / 6``: 0 below -3, 1 above 3, ``x / 6 + 1/2`` in between."""
    return _nn.hard_sigmoid(x)


@keras_op("activations")
def log_sigmoid(x):
    """``log(sigmoid(x))``."""
    return _nn.log_sigmoid(x)


@keras_op("activations")
def hard_silu(x):
    """``x * hard_sigmoid(x)`` (also called hard swish)."""
    return _nn.hard_silu(x)


@keras_op("activations")
def linear(x):
    """The identity: a Tensor is returned as it is, anything else as a Tensor of its values."""
    return _core.convert_to_tensor(x)


@keras_op("activations")
def mish(x):
    """``x * tanh(softplus(x))``."""
    return _numpy.multiply(x, _numpy.tanh(_nn.softplus(x)))


@keras_op("activations")
def log_softmax(x, axis=-1):
    """``x - log(sum(exp(x)))`` along ``axis``."""
    return _nn.log_softmax(x, axis=axis)


@keras_op("activations")
def sparsemax(x, axis=-1):
    """The projection of x onto the probability simplex along ``axis`` (sparse probabilities)."""
    return _nn.sparsemax(x, axis=axis)


swish = silu
hard_swish = hard_silu

# --------------------------------------------------------------------------- lookup

_BUILTINS = (relu, leaky_relu, relu6, softmax, celu, elu, selu, softplus, softsign, squareplus, soft_shrink,
             sparse_plus, silu, gelu, glu, tanh, tanh_shrink, threshold, sigmoid, sparse_sigmoid, exponential,
             hard_sigmoid, hard_silu, hard_tanh, hard_shrink, linear, mish, log_softmax, log_sigmoid, sparsemax)
# name -> function, every name get() accepts; the function's own name is the one a config stores.
ACTIVATIONS = {function.__name__: function for function in _BUILTINS}
ACTIVATIONS.update(swish=silu, hard_swish=hard_silu)
_NAMES = {id(function): function.__name__ for function in _BUILTINS}


# A name gives the function itself; a callable is itself; None is the identity (linear).
CATALOG = Catalog("activation", ACTIVATIONS, build=lambda name, function: function, default=linear, error=TypeError)


def get(identifier, custom_objects=None):
    """None -> :func:`linear`; a name -> that function; a config dict -> :func:`deserialize`;
    a callable -> itself.

    An unknown name is a ValueError listing the accepted ones; anything else a TypeError.
    """
    if isinstance(identifier, dict):
        return deserialize(identifier, custom_objects)
    return CATALOG.get(identifier, custom_objects)


def builtin_name(activation) -> str | None:
    """The Keras name of a built-in activation function ("relu", "silu"...), else None (a user's callable).

    Layers use it to recognise an activation they can fuse (a convolution's relu)
    or prove linear, whether it was given by name or as the function.
    """
    return _NAMES.get(id(activation)) if callable(activation) else None


def serialize(activation) -> str:
    """The name stored in a layer config: the function's name (``swish`` is stored as "silu", as in Keras)."""
    name = builtin_name(activation) or getattr(activation, "__name__", None)
    if name is None or name == "<lambda>":
        raise ValueError(f"cannot serialize the activation {activation!r}: give it by name or as a named function")
    return name


def deserialize(config, custom_objects=None):
    """The activation a config names: a name, or Keras's ``{"class_name": "function", "config": name}``.

    The name is looked up as by :func:`get`: ``custom_objects`` (name -> callable) and the
    registered objects first, then the built-ins.
    """
    name = config
    if isinstance(config, dict):
        name = config.get("config")
        if not isinstance(name, str):
            raise ValueError(f"cannot deserialize the activation config {config!r}: expected "
                             f"{{'class_name': 'function', 'config': <name>}}")
    if not isinstance(name, str):
        raise TypeError(f"activation config must be a name or a dict; received {config!r}")
    return CATALOG.get(name, custom_objects)
