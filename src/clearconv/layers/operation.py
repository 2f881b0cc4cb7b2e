"""``Operation``: one :mod:`clearconv.ops` call as a node of a functional graph.

    inputs = Input((32, 32, 3))
    x = ops.relu(inputs)          # an Operation node named "relu"
    y = x[:, 1:] + 1.0            # two more: get_item, add

The node keeps the op's registered name and its arguments with a slot where
each symbolic tensor went; replaying it calls the op with the real tensors
in those slots. The config holds the same in JSON (slices, Ellipsis, tuples
and arrays encoded), and loading looks the op up in the registry of
:mod:`clearconv.ops.dispatch`: a model file names ops, it never carries code.
"""

from __future__ import annotations

import numpy as np

from ..autograd import Tensor
from .base import Layer, SymbolicTensor, probe_output_shape, probe_output_spec, unique_name


class _Slot:
    """Where the ``index``-th symbolic tensor goes in an op's arguments."""

    def __init__(self, index: int):
        self.index = index


def _template(value, tensors: list):
    """``value`` with every symbolic tensor replaced by a :class:`_Slot` (appending it to ``tensors``);
    lists, tuples and dicts keep their type, since ``x[a, b]`` and ``x[[a, b]]`` differ."""
    if isinstance(value, SymbolicTensor):
        tensors.append(value)
        return _Slot(len(tensors) - 1)
    if isinstance(value, (list, tuple)):
        return type(value)(_template(v, tensors) for v in value)
    if isinstance(value, dict):
        return {k: _template(v, tensors) for k, v in value.items()}
    return value


def _fill(template, values: list):
    """The arguments with each slot replaced by its value."""
    if isinstance(template, _Slot):
        return values[template.index]
    if isinstance(template, (list, tuple)):
        return type(template)(_fill(v, values) for v in template)
    if isinstance(template, dict):
        return {k: _fill(v, values) for k, v in template.items()}
    return template


def encode(value):
    """JSON-ready form of an op's constant arguments."""
    if isinstance(value, _Slot):
        return {"__tensor__": value.index}
    if isinstance(value, slice):
        return {"__slice__": [encode(value.start), encode(value.stop), encode(value.step)]}
    if value is Ellipsis:
        return {"__ellipsis__": True}
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v) for v in value]}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {"__dict__": {k: encode(v) for k, v in value.items()}}
    if isinstance(value, (np.ndarray, np.generic)):
        return {"__array__": np.asarray(value).tolist(), "dtype": str(np.asarray(value).dtype)}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot save the op argument {value!r} ({type(value).__name__}) in a model config")


def decode(value):
    """The inverse of :func:`encode`."""
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "__tensor__" in value:
        return _Slot(int(value["__tensor__"]))
    if "__slice__" in value:
        return slice(*[decode(v) for v in value["__slice__"]])
    if "__ellipsis__" in value:
        return Ellipsis
    if "__tuple__" in value:
        return tuple(decode(v) for v in value["__tuple__"])
    if "__dict__" in value:
        return {k: decode(v) for k, v in value["__dict__"].items()}
    if "__array__" in value:
        return np.asarray(value["__array__"], dtype=np.dtype(value["dtype"]))
    raise ValueError(f"unknown encoded op argument {value!r}")


class Operation(Layer):
    """A registered op (``op``, e.g. ``"numpy.add"``) with its constant ``arguments`` (args, kwargs)."""

    def __init__(self, op: str, arguments=None, name=None, **kwargs):
        from ..ops import dispatch
        self.function = dispatch.lookup(op)
        super().__init__(name=name or unique_name(op.split(".")[-1]), **kwargs)
        self.op = op
        self.arguments = arguments if arguments is not None else ((), {})
        self.built = True

    @classmethod
    def apply(cls, op: str, args, kwargs) -> SymbolicTensor:
        """Add ``op(*args, **kwargs)`` to the graph of the symbolic tensors among its arguments."""
        tensors: list = []
        arguments = (_template(tuple(args), tensors), _template(dict(kwargs), tensors))
        return cls(op, arguments)(tensors)

    def _run(self, tensors):
        args, kwargs = _fill(self.arguments, list(tensors))
        return self.function(*args, **kwargs)

    def call(self, inputs, training=None):
        return self._run(inputs)

    def _as_tensor(self, value) -> Tensor:
        return value if isinstance(value, Tensor) else Tensor(np.asarray(value))  # ops take any dtype

    def _call_symbolic(self, inputs, extra=(), kwargs=None):
        shapes, dtypes = [t.shape for t in inputs], [t.dtype for t in inputs]
        output_shape, dtype = probe_output_spec(lambda *tensors: self._run(tensors), shapes, dtypes,
                                                owner=self.name)
        output = SymbolicTensor(tuple(output_shape), dtype, self, inputs)
        self._inbound_nodes.append(output)
        return output

    def compute_output_shape(self, input_shape):
        return probe_output_shape(lambda *tensors: self._run(tensors), list(input_shape),
                                  [self.dtype] * len(input_shape), owner=self.name)

    def get_config(self) -> dict:
        return {"name": self.name, "op": self.op, "arguments": encode(self.arguments)}

    @classmethod
    def from_config(cls, config: dict):
        return cls(config["op"], decode(config["arguments"]), name=config.get("name"))
