"""The Keras-shaped ``Layer``: build from the input shape, call, weights, config.

A layer called on a NumPy array computes without recording and returns a
NumPy array; called on a :class:`~clearconv.autograd.Tensor` it records the
computation so ``loss.backward()`` fills every weight's ``.grad``.

Inputs: floating arrays are cast to the layer's dtype (float32 by default),
as Keras autocasts. Integer and boolean arrays are refused with a TypeError:
pixel values need an explicit ``x.astype("float32") / 255``, and a silent
cast would hide that choice.
"""

from __future__ import annotations

import difflib
import inspect
from collections import defaultdict

import numpy as np

from .. import constraints as constraints_module
from .. import initializers as initializers_module
from .. import regularizers as regularizers_module
from ..autograd import Tensor, Variable, no_grad
from ..utils import serialize_object, snake_case

_name_counts: defaultdict = defaultdict(int)
_FLOAT_DTYPES = ("float16", "float32", "float64")


def resolve_identifier(owner: str, argument: str, getter, identifier):
    """``getter(identifier)`` (an activation, initializer, ... lookup); a failure is
    re-raised with the layer and the argument named, e.g. ``conv2d: `kernel_initializer`: ...``."""
    try:
        return getter(identifier)
    except (ValueError, TypeError) as error:
        kind = TypeError if isinstance(error, TypeError) else ValueError
        raise kind(f"{owner}: `{argument}`: {error}") from None


def accepted_arguments(cls) -> list[str]:
    """Keyword arguments a layer class takes: its own, its private base's, then Layer's.

    A private base (``_Conv``, ``_Pooling``...) receives its arguments from the
    public class and passes its own base's on explicitly, so the walk stops after it.
    """
    names: list[str] = []
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if klass is Layer or init is None:
            continue
        for parameter in inspect.signature(init).parameters.values():
            if parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY) \
                    and parameter.name not in ("self", "rank", *names):
                names.append(parameter.name)
        if klass.__name__.startswith("_"):
            break
    for parameter in inspect.signature(Layer.__init__).parameters.values():
        if parameter.kind is parameter.POSITIONAL_OR_KEYWORD and parameter.name not in ("self", *names):
            names.append(parameter.name)
    return names


def unique_name(base: str) -> str:
    """Keras-style automatic names: conv2d, conv2d_1, conv2d_2, ..."""
    count = _name_counts[base]
    _name_counts[base] += 1
    return base if count == 0 else f"{base}_{count}"


class Layer:
    """Base class of every layer.

    Arguments common to all layers: ``name``, ``trainable``, ``dtype``
    (``"float32"`` default, ``"float64"`` for exact work), ``input_shape``
    (the shape of one sample, without the batch axis) or ``batch_input_shape``.
    """

    def __init__(self, name: str | None = None, trainable: bool = True, dtype=None,
                 input_shape=None, batch_input_shape=None, input_dim=None, **kwargs):
        if kwargs:
            accepted = accepted_arguments(type(self))
            hints = [f"{key!r} -> {close[0]!r}?" for key in sorted(kwargs)
                     for close in [difflib.get_close_matches(key, accepted, n=1)] if close]
            raise TypeError(f"{type(self).__name__}: unexpected keyword argument(s) {sorted(kwargs)}"
                            f"{' (did you mean ' + ', '.join(hints) + ')' if hints else ''}; "
                            f"accepted: {', '.join(accepted)}")
        self.name = name or unique_name(snake_case(type(self).__name__))
        dtype = np.dtype(dtype or "float32").name
        if dtype not in _FLOAT_DTYPES:
            raise ValueError(f"{self.name}: `dtype` must be one of {_FLOAT_DTYPES}; received {dtype!r}")
        self.dtype = dtype
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        if input_shape is not None and batch_input_shape is None:
            batch_input_shape = (None, *tuple(input_shape))
        self.batch_input_shape = tuple(batch_input_shape) if batch_input_shape is not None else None
        self._trainable = trainable
        self._weights: list[Variable] = []
        self._regularizers: list[tuple[Variable, object]] = []
        self._activity_losses: list = []
        self.activity_regularizer = None
        self.built = False

    # --- construction --------------------------------------------------------
    def add_weight(self, name: str, shape, initializer="zeros", trainable: bool = True,
                   regularizer=None, constraint=None) -> Variable:
        """Create, initialise and track one weight (a :class:`Variable`)."""
        value = initializers_module.get(initializer)(tuple(shape), dtype=self.dtype)
        variable = Variable(np.asarray(value, dtype=self.dtype), name=f"{self.name}/{name}",
                            trainable=trainable and self._trainable,
                            constraint=constraints_module.get(constraint))
        variable._layer_trainable = trainable
        self._weights.append(variable)
        regularizer = regularizers_module.get(regularizer)
        if regularizer is not None:
            self._regularizers.append((variable, regularizer))
        return variable

    def build(self, input_shape) -> None:
        """Create the weights for inputs of ``input_shape`` (batch axis included)."""
        self.built = True

    def call(self, inputs, training=None):
        """The computation on tensors; subclasses override."""
        raise NotImplementedError

    def compute_output_shape(self, input_shape):
        """Output shape for ``input_shape`` (batch axis included, may be None)."""
        raise NotImplementedError

    # --- calling -------------------------------------------------------------
    def __call__(self, inputs, training=None, **kwargs):
        if any(isinstance(x, SymbolicTensor) for x in _flatten(inputs)):
            return self._call_symbolic(inputs)
        symbolic = any(isinstance(x, Tensor) for x in _flatten(inputs))
        tensors = _map(self._as_tensor, inputs)
        if not self.built:
            self.build(_map(lambda t: t.shape, tensors))
            self.built = True
        self._check_input(_map(lambda t: t.shape, tensors))
        if symbolic:
            outputs = self.call(tensors, training=training, **kwargs)
        else:
            with no_grad():
                outputs = self.call(tensors, training=training, **kwargs)
        self._activity_losses = []
        if self.activity_regularizer is not None:
            self._activity_losses = [self.activity_regularizer(outputs)]
        return outputs if symbolic else _map(lambda t: t.data, outputs)

    def _call_symbolic(self, inputs):
        """Shape inference only: record this call for a functional model."""
        shapes = _map(lambda t: t.shape, inputs)
        if not self.built:
            self.build(shapes)
            self.built = True
        self._check_input(shapes)
        output_shape = self.compute_output_shape(shapes)
        return SymbolicTensor(tuple(output_shape), self.dtype, self, inputs)

    def _as_tensor(self, value) -> Tensor:
        if isinstance(value, Tensor):
            data = value.data
        else:
            data = np.asarray(value)
        if data.dtype.kind in "biu" or data.dtype == bool:
            raise TypeError(f"{self.name}: inputs must be floating point; received dtype {data.dtype}. "
                            f"Convert explicitly, e.g. x.astype('float32') (and / 255 for pixels).")
        if data.dtype.kind != "f":
            raise TypeError(f"{self.name}: inputs must be floating point arrays; received dtype {data.dtype}")
        if isinstance(value, Tensor):
            return value if data.dtype == self.dtype else value.astype(self.dtype)
        return Tensor(data.astype(self.dtype, copy=False))

    def _check_input(self, input_shape) -> None:
        """Raise a clear error for inputs the built layer cannot take."""

    # --- weights -------------------------------------------------------------
    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)
        for variable in self._weights:
            variable.trainable = self._trainable and variable._layer_trainable

    @property
    def weights(self) -> list[Variable]:
        return list(self._weights)

    @property
    def trainable_weights(self) -> list[Variable]:
        return [w for w in self.weights if w.trainable]

    @property
    def non_trainable_weights(self) -> list[Variable]:
        return [w for w in self.weights if not w.trainable]

    def get_weights(self) -> list[np.ndarray]:
        """Copies of the weights, in Keras order."""
        return [w.data.copy() for w in self.weights]

    def set_weights(self, weights) -> None:
        """Load a list of arrays in Keras order (shapes must match)."""
        weights = list(weights)
        if len(weights) != len(self.weights):
            raise ValueError(f"{self.name}: set_weights expects {len(self.weights)} arrays "
                             f"{[w.shape for w in self.weights]}; received {len(weights)}")
        for variable, value in zip(self.weights, weights):
            variable.assign(value)

    def count_params(self) -> int:
        if not self.built:
            raise ValueError(f"{self.name}: count_params() needs a built layer; call build(input_shape) first")
        return int(sum(w.size for w in self.weights))

    @property
    def losses(self) -> list:
        """Regularisation terms: weight penalties (on the current weights) and
        the activity penalty of the last call. Tensors, so they backpropagate."""
        return [regularizer(variable) for variable, regularizer in self._regularizers] + self._activity_losses

    # --- config --------------------------------------------------------------
    def get_config(self) -> dict:
        config = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype}
        if self.batch_input_shape is not None:
            config["batch_input_shape"] = self.batch_input_shape
        return config

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


class SymbolicTensor:
    """A placeholder with a shape (batch axis None) and the layer call that produced it.

    ``call_inputs`` keeps the structure the layer was called with (one
    tensor or a list), so a functional model can replay the call.
    """

    def __init__(self, shape: tuple, dtype: str, layer: Layer, call_inputs):
        self.shape, self.dtype, self.layer = tuple(shape), dtype, layer
        self.call_inputs = call_inputs
        self.inputs = _flatten(call_inputs)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self):
        return f"<SymbolicTensor shape={self.shape} dtype={self.dtype} from '{self.layer.name}'>"


def _flatten(structure):
    if isinstance(structure, (list, tuple)):
        return [item for element in structure for item in _flatten(element)]
    return [structure]


def _map(function, structure):
    """Apply ``function`` to every leaf of a value or a (nested) list of values."""
    if isinstance(structure, (list, tuple)):
        return [_map(function, element) for element in structure]
    return function(structure)


def serialize(obj):
    """A layer-config entry for an initializer/regularizer/constraint: names stay names."""
    return obj if isinstance(obj, str) else serialize_object(obj)
