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
    """The layer (or model) of a ``{"class_name", "config"}`` entry; ValueError for an unknown class or an
    entry of another shape, and the class's own ValueError or TypeError for arguments it refuses."""
    if not isinstance(entry, dict) or not isinstance(entry.get("config", {}), dict):
        raise ValueError(f"a layer entry must be {{'class_name': str, 'config': {{...}}}}; received "
                         f"{entry!r}"[:300])
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
    """Replay the calls of :func:`functional_config`. Before each call, the shapes of its inputs are
    checked (:func:`clearconv.io.validation.check_shape`), so that a layer inferring its output by a
    trial run (an op node) never runs on a tensor too large to compute; an op node that cannot run on
    its inputs is a ValueError naming it."""
    from ..io.validation import check_shape, check_trial_run
    from ..layers.core import InputLayer
    layers = {}
    for entry in config["layers"]:
        layer = layer_from_config(entry)
        layers[entry.get("name", layer.name)] = layer
    inputs = [SymbolicTensor(check_shape(layer.batch_input_shape, f"input '{layer.name}': shape"), layer.dtype,
                             layer, [])
              for layer in layers.values() if isinstance(layer, InputLayer)]
    tensors = list(inputs)
    for call in config["calls"]:
        if call["layer"] not in layers:
            raise ValueError(f"The model file calls an unknown layer {call['layer']!r}")
        layer, arguments = layers[call["layer"]], _resolve(call["args"], tensors)
        for tensor in _flat(arguments):
            check_shape(tensor.shape, f"the input of '{layer.name}' ({tensor.layer.name}'s output): shape")
        kwargs = dict(call.get("kwargs", {}))
        if isinstance(layer, Operation):
            check_trial_run([t.shape for t in _flat(arguments)], f"op node '{layer.name}' ({layer.op})")
            tensors.append(_call_operation(layer, arguments, kwargs))
        else:
            tensors.append(layer(arguments, **kwargs))
    return cls(_resolve(config["inputs"], tensors), _resolve(config["outputs"], tensors),
               name=config.get("name"), trainable=config.get("trainable", True))


def _flat(structure) -> list:
    if isinstance(structure, list):
        return [item for part in structure for item in _flat(part)]
    if isinstance(structure, dict):
        return [item for part in structure.values() for item in _flat(part)]
    return [structure]


def _call_operation(layer: Operation, arguments, kwargs: dict):
    """An op node's output, found by running the op on zeros of its inputs' shapes. The op and its
    constant arguments come from the file, and a registered op given arguments it does not take may fail
    with any exception (TypeError, IndexError, ...): each is reported as the ValueError of a file that
    describes an op that cannot run."""
    try:
        return layer(arguments, **kwargs)
    except Exception as error:  # noqa: BLE001 -- see the docstring: any failure of the op is the file's
        raise ValueError(f"op node '{layer.name}' ({layer.op}) cannot run on inputs of shape(s) "
                         f"{[t.shape for t in _flat(arguments)]} with the arguments the file gives it: "
                         f"{type(error).__name__}: {error}") from error


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
