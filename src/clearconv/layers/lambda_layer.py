"""``Lambda``: a Python function as a layer, for code that builds a model.

    x = Lambda(lambda t: t * 2.0)(inputs)

The function receives the layer's input tensors and returns tensors, so it
may use Tensor arithmetic and :mod:`clearconv.ops`; gradients flow through
it. A Lambda is saved by the registered name of its function
(:func:`clearconv.saving.register_keras_serializable`) and loaded by looking
that name up: clearconv never stores or runs code from a model file, so an
anonymous function cannot be saved (Keras would store its bytecode and run it
under ``safe_mode=False``).
"""

from __future__ import annotations

import inspect

from .. import saving
from .base import Layer, probe_output_shape


class Lambda(Layer):
    """Keras's ``Lambda(function, output_shape=None, mask=None, arguments=None)``.

    ``output_shape``: the output shape without the batch axis (or a function of the input
    shape returning the full shape); None runs the function once on zeros to find it.
    ``arguments``: keyword arguments passed to ``function``.
    """

    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        if not callable(function):
            raise TypeError(f"{self.name}: `function` must be callable; received {function!r}")
        if mask is not None:
            raise ValueError(f"{self.name}: `mask` is not supported: clearconv has no masking")
        if arguments is not None and not isinstance(arguments, dict):
            raise TypeError(f"{self.name}: `arguments` must be a dict of keyword arguments; received {arguments!r}")
        self.function, self.arguments = function, dict(arguments or {})
        self._output_shape = output_shape
        parameters = inspect.signature(function).parameters if _has_signature(function) else {}
        self._pass_training = "training" in parameters

    def call(self, inputs, training=None):
        kwargs = dict(self.arguments)
        if self._pass_training:
            kwargs["training"] = training
        return self.function(inputs, **kwargs)

    def compute_output_shape(self, input_shape):
        if callable(self._output_shape):
            return tuple(self._output_shape(input_shape))
        if self._output_shape is not None:
            batch = input_shape[0] if isinstance(input_shape, tuple) else input_shape[0][0]
            return (batch, *tuple(self._output_shape))
        shapes = [input_shape] if isinstance(input_shape, tuple) else list(input_shape)
        single = isinstance(input_shape, tuple)
        return probe_output_shape(lambda *t: self.call(t[0] if single else list(t), training=False), shapes,
                                  [self.dtype] * len(shapes), owner=self.name)

    def get_config(self) -> dict:
        name = saving.get_registered_name(self.function)
        if name == "<lambda>" or saving.get_registered_object(name) is not self.function:
            raise ValueError(f"{self.name}: cannot save a Lambda layer whose function ({name}) is not registered: "
                             f"clearconv saves functions by name and never stores code. Decorate the function with "
                             f"@clearconv.saving.register_keras_serializable() (a named def, not a lambda)")
        output_shape = self._output_shape
        if callable(output_shape):
            raise ValueError(f"{self.name}: cannot save a Lambda layer with a callable `output_shape`; give the shape "
                             f"as a tuple")
        return {**super().get_config(), "function": name, "output_shape": output_shape,
                "arguments": self.arguments}

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        name = config.pop("function")
        if not isinstance(name, str):
            raise ValueError(f"Lambda layer {config.get('name')!r}: the file stores its function as code "
                             f"({type(name).__name__}); clearconv never runs code from a file. Rebuild the model "
                             f"in Python and load its weights, or register the function by name")
        function = saving.get_registered_object(name)
        if function is None:
            raise ValueError(f"Lambda layer {config.get('name')!r}: its function {name!r} is not registered; "
                             f"register it with @clearconv.saving.register_keras_serializable() or pass "
                             f"custom_objects={{{name!r}: function}} when loading")
        output_shape = config.pop("output_shape", None)
        return cls(function, output_shape=tuple(output_shape) if output_shape is not None else None, **config)


def _has_signature(function) -> bool:
    try:
        inspect.signature(function)
    except (TypeError, ValueError):
        return False
    return True
