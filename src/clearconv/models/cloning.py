"""``clone_model``: the same architecture with new layers (and new, freshly initialised weights)."""

from __future__ import annotations

from ..layers.base import Layer
from ..layers.core import Input, InputLayer
from ..nested import map_structure


def _default_clone(layer: Layer) -> Layer:
    return type(layer).from_config(layer.get_config())


def clone_model(model, input_tensors=None, clone_function=None, call_function=None, recursive=False, **kwargs):
    """A copy of ``model``'s architecture whose layers are new (``clone_function(layer)``, by default
    ``layer.__class__.from_config(layer.get_config())``), as Keras's ``clone_model``.

    Weights are not copied: call ``clone.set_weights(model.get_weights())`` for that.
    ``input_tensors``: symbolic tensors to build the clone on (functional and Sequential models).
    ``call_function(layer, *args, **kwargs)`` replaces each layer call when given.
    ``recursive``: also clone the layers of nested models (else nested models go through
    ``clone_function`` whole).
    """
    from .functional import Model
    from .sequential import Sequential
    if kwargs:
        raise TypeError(f"clone_model: unexpected keyword argument(s) {sorted(kwargs)}; accepted: input_tensors, "
                        f"clone_function, call_function, recursive")
    if not isinstance(model, Model):
        raise TypeError(f"clone_model: `model` must be a clearconv Model; received {type(model).__name__}")
    clone_function = clone_function or _default_clone
    if recursive:
        inner = clone_function

        def clone_function(layer):
            if isinstance(layer, Model) and layer._graph:
                return clone_model(layer, clone_function=inner, call_function=call_function, recursive=True)
            return inner(layer)
    call = call_function or (lambda layer, *args, **kw: layer(*args, **kw))
    if isinstance(model, Sequential):
        if input_tensors is None:
            if not model._graph:
                return Sequential([clone_function(layer) for layer in model.layers], name=model.name)
            input_tensors = Input(batch_shape=model._input_shape, dtype=model.inputs[0].dtype,
                                  name=model.inputs[0].layer.name)
        x = input_tensors[0] if isinstance(input_tensors, (list, tuple)) else input_tensors
        clone = Sequential(name=model.name)
        clone._input_shape, clone._input_tensor = x.shape, x
        clone._stack = [clone_function(layer) for layer in model.layers]
        for layer in clone._stack:
            x = call(layer, x)
        clone._init_graph(input_tensors, x)
        return clone
    if not model._graph:
        return clone_function(model)
    return _clone_functional(model, input_tensors, clone_function, call)


def _clone_functional(model, input_tensors, clone_function, call):
    from .functional import Model
    if input_tensors is None:
        new_inputs = [Input(batch_shape=s.shape, dtype=s.dtype, name=s.layer.name) for s in model.inputs]
    else:
        new_inputs = list(input_tensors) if isinstance(input_tensors, (list, tuple)) else [input_tensors]
        if len(new_inputs) != len(model.inputs):
            raise ValueError(f"clone_model: `input_tensors` has {len(new_inputs)} tensors; {model.name} has "
                             f"{len(model.inputs)} inputs")
    tensors = {id(old): new for old, new in zip(model.inputs, new_inputs)}
    clones = {}
    for node in model._nodes:
        layer = node.layer
        if id(layer) not in clones:
            clones[id(layer)] = layer if isinstance(layer, InputLayer) else clone_function(layer)
        arguments = map_structure(lambda symbol: tensors[id(symbol)], node.call_inputs)
        tensors[id(node)] = call(clones[id(layer)], arguments, *node.call_args, **node.call_kwargs)
    outputs = [tensors[id(o)] for o in model.outputs]
    inputs = Model._as_given(new_inputs, model._input_structure)
    return Model(inputs, Model._as_given(outputs, model._output_structure), name=model.name,
                 trainable=model.trainable)
