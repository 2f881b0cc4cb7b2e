"""Architectures as plain JSON-ready dicts, and back, with no code execution.

A layer is ``{"class_name": ..., "config": layer.get_config()}``; the class is
looked up in a fixed registry (every layer in :mod:`clearconv.layers`, the
model classes, op nodes) or among the classes registered with
:func:`clearconv.saving.register_keras_serializable` or passed as
``custom_objects``; nothing is imported by name from the file. A functional
model lists its layers and, for each layer call, the tensors it was called on
(and its constant keyword arguments, such as ``training=False``).
"""

from __future__ import annotations

from .. import layers as layers_module
from .. import saving
from ..layers.base import Layer, SymbolicTensor, _is_plain
from ..layers.operation import Operation


def registry() -> dict:
    """Every built-in class a saved architecture may name."""
    from . import functional, sequential
    classes = {name: obj for name, obj in vars(layers_module).items()
               if isinstance(obj, type) and issubclass(obj, Layer)}
    classes.update(Model=functional.Model, Functional=functional.Model, Sequential=sequential.Sequential,
                   Operation=Operation)
    return classes


def layer_config(layer: Layer) -> dict:
    """``{"class_name", "config", "name"}``: the name beside the config, as Keras writes it, since a
    layer of your own may leave its name out of get_config and the model's calls refer to it."""
    return {"class_name": saving.get_registered_name(type(layer)), "config": layer.get_config(), "name": layer.name}


def layer_from_config(entry: dict) -> Layer:
    classes = registry()
    name = entry.get("class_name")
    cls = saving.get_registered_object(name, module_objects=classes) if isinstance(name, str) else None
    if not (isinstance(cls, type) and issubclass(cls, Layer)):
        raise ValueError(f"Unknown layer class {name!r} in the model file: clearconv has no such layer. A class of "
                         f"your own must be registered (@clearconv.saving.register_keras_serializable) or passed as "
                         f"custom_objects; clearconv's layers: {', '.join(sorted(classes))}")
    return cls.from_config(dict(entry.get("config", {})))


def functional_config(model) -> dict:
    """Layers, and each call as (layer name, argument structure of tensor indices)."""
    index = {id(t): i for i, t in enumerate(model.inputs)}
    calls = []
    for node in model._nodes:
        index[id(node)] = len(model.inputs) + len(calls)
        call = {"layer": node.layer.name, "args": _refs(node.call_inputs, index)}
        if node.call_args or node.call_kwargs:
            if node.call_args or not _is_plain(node.call_kwargs):
                raise ValueError(f"{model.name}: cannot save the call of '{node.layer.name}': only constant keyword "
                                 f"arguments (numbers, strings, booleans) can be saved; received "
                                 f"{node.call_args}, {node.call_kwargs}")
            call["kwargs"] = node.call_kwargs
        calls.append(call)
    return {
        "name": model.name,
        "trainable": model.trainable,
        "layers": [layer_config(layer) for layer in model._layers],
        "calls": calls,
        "inputs": _refs(model.input, index),
        "outputs": _refs(model.output, index),
    }


def functional_from_config(cls, config: dict):
    layers = {}
    for entry in config["layers"]:
        layer = layer_from_config(entry)
        layers[entry.get("name", layer.name)] = layer
    from ..layers.core import InputLayer
    inputs = [SymbolicTensor(layer.batch_input_shape, layer.dtype, layer, [])
              for layer in layers.values() if isinstance(layer, InputLayer)]
    tensors = list(inputs)
    for call in config["calls"]:
        if call["layer"] not in layers:
            raise ValueError(f"The model file calls an unknown layer {call['layer']!r}")
        tensors.append(layers[call["layer"]](_resolve(call["args"], tensors), **dict(call.get("kwargs", {}))))
    return cls(_resolve(config["inputs"], tensors), _resolve(config["outputs"], tensors),
               name=config.get("name"), trainable=config.get("trainable", True))


def _refs(structure, index):
    """The structure with each symbolic tensor replaced by its position in the config's tensor list."""
    if isinstance(structure, (list, tuple)):
        return [_refs(s, index) for s in structure]
    if isinstance(structure, dict):
        return {key: _refs(s, index) for key, s in structure.items()}
    return index[id(structure)]


def _resolve(structure, tensors):
    if isinstance(structure, list):
        return [_resolve(s, tensors) for s in structure]
    if isinstance(structure, dict):
        return {key: _resolve(s, tensors) for key, s in structure.items()}
    if isinstance(structure, bool) or not isinstance(structure, int) or not 0 <= structure < len(tensors):
        raise ValueError(f"the model file refers to tensor {structure!r}, which is not among the "
                         f"{len(tensors)} tensors made so far")
    return tensors[structure]
