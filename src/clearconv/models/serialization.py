"""Architectures as plain JSON-ready dicts, and back, with no code execution.

A layer is ``{"class_name": ..., "config": layer.get_config()}``; the class is
looked up in a fixed registry (every layer in :mod:`clearconv.layers` plus the
model classes), never imported by name from the file. A functional model
lists its layers and, for each layer call, the tensors it was called on.
"""

from __future__ import annotations

from .. import layers as layers_module
from ..layers.base import Layer, SymbolicTensor


def registry() -> dict:
    """Every class a saved architecture may name."""
    from . import functional, sequential
    classes = {name: obj for name, obj in vars(layers_module).items()
               if isinstance(obj, type) and issubclass(obj, Layer)}
    classes.update(Model=functional.Model, Functional=functional.Model, Sequential=sequential.Sequential)
    return classes


def layer_config(layer: Layer) -> dict:
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def layer_from_config(entry: dict) -> Layer:
    classes = registry()
    name = entry.get("class_name")
    if name not in classes:
        raise ValueError(f"Unknown layer class {name!r} in the model file; known: {', '.join(sorted(classes))}")
    return classes[name].from_config(dict(entry.get("config", {})))


def functional_config(model) -> dict:
    """Layers, and each call as (layer name, argument structure of tensor indices)."""
    index = {id(t): i for i, t in enumerate(model.inputs)}
    calls = []
    for node in model._nodes:
        index[id(node)] = len(model.inputs) + len(calls)
        calls.append({"layer": node.layer.name, "args": _refs(node.call_inputs, index)})
    return {
        "name": model.name,
        "trainable": model.trainable,
        "layers": [layer_config(layer) for layer in model.layers],
        "calls": calls,
        "inputs": _refs(model.inputs if not model._single_input else model.inputs[0], index),
        "outputs": _refs(model.outputs if not model._single_output else model.outputs[0], index),
    }


def functional_from_config(cls, config: dict):
    layers = {}
    for entry in config["layers"]:
        layer = layer_from_config(entry)
        layers[layer.name] = layer
    from ..layers.core import InputLayer
    inputs = [SymbolicTensor(layer.batch_input_shape, layer.dtype, layer, [])
              for layer in layers.values() if isinstance(layer, InputLayer)]
    tensors = list(inputs)
    for call in config["calls"]:
        if call["layer"] not in layers:
            raise ValueError(f"The model file calls an unknown layer {call['layer']!r}")
        tensors.append(layers[call["layer"]](_resolve(call["args"], tensors)))
    return cls(_resolve(config["inputs"], tensors), _resolve(config["outputs"], tensors),
               name=config.get("name"), trainable=config.get("trainable", True))


def _refs(structure, index):
    if isinstance(structure, (list, tuple)):
        return [_refs(s, index) for s in structure]
    return index[id(structure)]


def _resolve(structure, tensors):
    if isinstance(structure, list):
        return [_resolve(s, tensors) for s in structure]
    return tensors[structure]
