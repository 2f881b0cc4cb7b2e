"""Keras-style activation lookup: ``activations.get("relu")`` -> a callable on tensors.

The maths (forward and backward of each function) is in
:mod:`clearconv.kernels.activations`; this module only resolves names.
"""

from __future__ import annotations

import functools

from . import functional as F
from .kernels import activations as activation_ops


def get(identifier):
    """None -> identity (``linear``); a name -> that activation; a callable -> itself.

    Raises ValueError listing the accepted names for an unknown string.
    """
    if identifier is None:
        identifier = "linear"
    if isinstance(identifier, str):
        activation_ops.get(identifier)  # validates the name with a message that lists the valid ones
        function = functools.partial(F.activation, name=identifier)
        function.__name__ = identifier
        return function
    if callable(identifier):
        return identifier
    raise TypeError(f"activation must be a name or a callable; received {identifier!r}")


def builtin_name(activation) -> str | None:
    """The name of an activation made by :func:`get` from a name, else None (a user's callable)."""
    if isinstance(activation, functools.partial) and activation.func is F.activation and not activation.args:
        return activation.keywords.get("name")
    return None


def serialize(activation) -> str:
    """The name stored in a layer config."""
    name = getattr(activation, "__name__", None)
    if name is None or name == "<lambda>":
        raise ValueError(f"cannot serialize the activation {activation!r}: give it by name")
    return name
