"""How a public op meets symbolic tensors.

Every function of :mod:`clearconv.ops` is wrapped by :func:`keras_op`. Called
on arrays or :class:`~clearconv.autograd.Tensor` values it computes (and
records its backward). Called with a symbolic tensor anywhere in its
arguments (``Input(...)``, a layer's output) it adds an
:class:`~clearconv.layers.operation.Operation` node to the functional graph
instead, as Keras does: ``x = ops.relu(inputs)``, ``x + y`` and ``x[:, 1:]``
all become layers of the model.

Ops are registered by name (``"numpy.add"``, ``"nn.relu"``) so a saved model
names the op and loading looks it up here: nothing from the file is executed.
"""

from __future__ import annotations

import functools

REGISTRY: dict = {}


def keras_op(namespace: str):
    """Register ``function`` as ``"{namespace}.{name}"`` and make it accept symbolic tensors."""
    def decorate(function):
        name = f"{namespace}.{function.__name__}"

        @functools.wraps(function)
        def op(*args, **kwargs):
            from ..layers.base import contains_symbolic
            if contains_symbolic((args, kwargs)):
                from ..layers.operation import Operation
                return Operation.apply(name, args, kwargs)
            return function(*args, **kwargs)
        op.op_name = name
        REGISTRY[name] = function
        return op
    return decorate


def lookup(name: str):
    """The registered function ``name`` (a saved model's op); ValueError for an unknown name."""
    if name not in REGISTRY:
        raise ValueError(f"unknown op {name!r}: clearconv.ops has no such function ({len(REGISTRY)} ops are registered)")
    return REGISTRY[name]
