"""Keras's own files: ``.keras`` (Keras 3), legacy ``.h5`` models, ``.weights.h5``, and ``to_json`` JSON.

Reading and writing go through one translation:

* :func:`config_from_keras` turns a Keras layer entry (Keras 3's
  ``{"module", "class_name", "config", "registered_name", "build_config"}``,
  or tf.keras 2's ``{"class_name", "config"}``) into clearconv's entry
  (``{"class_name", "config", "name"}``, functional calls as ``calls``);
* :func:`config_to_keras` turns a clearconv model into the Keras 3 entry
  Keras's ``model.to_json()`` writes, functional layers with Keras's
  ``inbound_nodes`` and in the order Keras lists them.

Files:

    x.keras              zip: metadata.json {"keras_version": "3.x", ...}, config.json (the entry above,
                         with "compile_config" when compiled), model.weights.h5
    x.weights.h5         HDF5: layers/<path>/vars/0, 1, ... per layer (nested models as
                         layers/<path>/layers/...), where <path> is the snake-case name of the layer's
                         class, numbered in the model's layer order (conv2d, conv2d_1, ...), as Keras
                         names them; the layer's own weights in Keras's order
    x.h5 (legacy)        HDF5: attributes model_config (JSON), training_config, keras_version, backend;
                         group model_weights/<layer name> with attribute weight_names (trainable
                         weights first, then the others) and a dataset for each

Nothing in a file is executed: a ``Lambda`` layer (which holds code: marshalled
bytecode or a function's name) is refused, whatever ``safe_mode`` says, and so
is any class the file names that clearconv does not have, unless it is passed
in ``custom_objects``. Every dataset's shape and dtype is checked against the
weight the architecture implies before its data is read, and the HDF5 bytes
read are bounded by the size of those weights (see :func:`_hdf5_limit`).
Failures are :class:`~clearconv.io.errors.ModelFileError` (see
:mod:`clearconv.io.errors`).
"""

from __future__ import annotations

import contextlib
import datetime
import io
import json
import os
import re
import zipfile

import numpy as np

from . import validation
from .archive import (MAX_JSON_BYTES, MAX_JSON_DEPTH, RATIO_ALLOWANCE_BYTES, WEIGHTS_MAX_RATIO, ZipArchive,
                      _depth_exceeds, open_regular_file)
from ..models.summary import keras_layer_order
from .errors import ModelFileError

KERAS_VERSION = "3.5.0"      # written to metadata.json: a Keras 3 version whose format this module writes
CONFIG_MEMBER, METADATA_MEMBER, WEIGHTS_MEMBER = "config.json", "metadata.json", "model.weights.h5"
HDF5_OVERHEAD_BYTES = 64 * 1024      # an HDF5 file's superblock, heaps and B-trees, besides object headers
HDF5_BYTES_PER_DATASET = 4 * 1024    # headers of one group or dataset (a few hundred bytes in h5py's files)
OPTIMIZER_SLOTS = 4                  # a Keras file also holds the optimizer's slots (Adam: 2, plus AMSGrad's)
# Layers that hold code: refused whatever the file says (clearconv never runs a file's code).
_CODE_LAYERS = ("Lambda", "TFOpLambda", "SlicingOpLambda")
# Keras's model classes and clearconv's names for them.
_MODELS = {"Sequential": "Sequential", "Functional": "Functional", "Model": "Functional"}
# Keras options clearconv's layers lack, accepted at these values (their Keras defaults) and dropped.
_KERAS_ONLY_NEUTRAL = {"sparse": False, "ragged": False, "optional": False, "synchronized": False,
                       "renorm": False, "renorm_clipping": None, "quantization_config": None, "lora_rank": None,
                       "autocast": True, "input_tensor": None, "mean": None, "variance": None}
# ... and these only when their owner option is off (renorm_momentum means nothing without renorm).
_KERAS_ONLY_IGNORED = ("renorm_momentum", "lora_alpha")
# Keys of Keras's initializer configs that clearconv's initializers lack, accepted when None.
_OBJECT_KEYS_NONE = ("input_axes", "output_axes")
# clearconv options that Keras's layer of the same class lacks: written only at these values (dropped).
_CLEARCONV_ONLY_DEFAULTS = {("Cropping1D", "data_format"): "channels_last",
                            ("UpSampling1D", "data_format"): "channels_last",
                            ("UpSampling1D", "interpolation"): "nearest",
                            ("UpSampling3D", "interpolation"): "nearest"}
_KERAS_MODULES = {"initializer": "keras.initializers", "regularizer": "keras.regularizers",
                  "constraint": "keras.constraints"}


def _hdf5():
    from ..data._optional import import_optional
    return import_optional("h5py", "h5py", "interop", "reading and writing Keras's .keras and .h5 files")


# ==================================================================================================
# Keras config -> clearconv config
# ==================================================================================================

class _Translation:
    """State of one :func:`config_from_keras`: the custom objects the caller allows, the layers and calls counted."""

    def __init__(self, custom_objects):
        self.custom = dict(custom_objects or {})
        self.layers = 0
        self.calls = 0   # layer calls of every functional model read so far, bounded by MAX_CALLS


def _label(entry: dict) -> str:
    config = entry.get("config") if isinstance(entry.get("config"), dict) else {}
    name = entry.get("name", config.get("name"))
    return f"{entry.get('class_name')!r}" + (f" ({name!r})" if isinstance(name, str) else "")


def _is_custom(entry: dict) -> bool:
    """Whether a Keras 3 entry names a class registered outside Keras (``registered_name`` "pkg>Name",
    or a module other than Keras's)."""
    module, registered = entry.get("module"), entry.get("registered_name")
    if registered is not None and registered != entry.get("class_name"):
        return True
    return isinstance(module, str) and not (module == "keras" or module.startswith("keras."))


def _dtype_name(value):
    """A DTypePolicy dict (Keras 3) or a dtype string (tf.keras 2) -> the dtype's name."""
    if isinstance(value, dict):
        if value.get("class_name") not in ("DTypePolicy", "Policy"):
            raise ValueError(f"dtype policy {value.get('class_name')!r}: clearconv has no dtype policies or mixed "
                             f"precision; accepted: a DTypePolicy of float16, float32 or float64")
        config = value.get("config")
        return config.get("name") if isinstance(config, dict) else None
    return value


def _object_from_keras(value, where: str, state: _Translation):
    """A Keras-serialized initializer, regularizer, constraint, activation or loss as clearconv reads it:
    names stay names; ``{"module", "class_name", "config", "registered_name"}`` -> ``{"class_name", "config"}``."""
    if not isinstance(value, dict):
        return value
    name = value.get("class_name")
    if not isinstance(name, str):
        raise ValueError(f"{where}: a serialized object needs a `class_name`; received {value!r}"[:300])
    if name == "function" or name == "__lambda__" or _is_custom(value):
        registered = value.get("registered_name") or (value.get("config") if isinstance(value.get("config"), str)
                                                      else name)
        if isinstance(registered, str) and (registered in state.custom or name in state.custom):
            return registered if registered in state.custom else name
        raise ValueError(f"{where}: {registered!r} is a function or class of your own (module "
                         f"{value.get('module')!r}); clearconv never imports or runs code named by a file: pass "
                         f"it in custom_objects")
    config = value.get("config", {})
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise ValueError(f"{where}: the config of {name!r} must be an object; received {config!r}"[:300])
    config = {key: item for key, item in config.items() if not (key in _OBJECT_KEYS_NONE and item is None)}
    return {"class_name": name, "config": config}


def _resolved(key: str, value, state: _Translation):
    """A ``{"class_name", "config"}`` initializer, regularizer or constraint as clearconv's object: layers
    keep such dicts as given and could not serialize them again, while objects serialize."""
    if not isinstance(value, dict):
        return value
    from .. import constraints, initializers, regularizers
    module = {"initializer": initializers, "regularizer": regularizers, "constraint": constraints}.get(
        key.rsplit("_", 1)[-1])
    if module is None:
        return value
    return module.get(value, state.custom) if state.custom else module.get(value)


def _layer_config_from_keras(name: str, config: dict, where: str, state: _Translation) -> dict:
    """A Keras layer's config with clearconv's keys: DTypePolicy -> dtype name, serialized objects
    translated, Keras-only options dropped at their neutral values and refused otherwise."""
    from ..layers.base import accepted_arguments
    from ..models.serialization import registry
    cls = state.custom.get(name) or registry().get(name)
    accepted = set(accepted_arguments(cls)) | {"name", "trainable", "dtype", "batch_input_shape", "input_shape",
                                               "batch_shape", "batch_size"}
    result = {}
    for key, value in config.items():
        if key == "dtype":
            result[key] = _dtype_name(value)
        elif key not in accepted and cls not in state.custom.values():
            if key in _KERAS_ONLY_IGNORED or (key in _KERAS_ONLY_NEUTRAL and value == _KERAS_ONLY_NEUTRAL[key]):
                continue
            raise ValueError(f"{where}: {key}={value!r} is a Keras option clearconv's {name} does not have"[:300])
        elif key == "activation" or key.endswith(("_initializer", "_regularizer", "_constraint")):
            result[key] = _resolved(key, _object_from_keras(value, f"{where}: {key}", state), state)
        else:
            result[key] = value
    if name == "InputLayer" and "batch_input_shape" in result:   # tf.keras 2's key for batch_shape
        result["batch_shape"] = result.pop("batch_input_shape")
    return result


def _history(value, where: str):
    """``[layer, node, tensor]`` from a Keras 3 ``__keras_tensor__`` or a tf.keras 2 inbound entry."""
    if not (isinstance(value, list) and len(value) >= 3 and isinstance(value[0], str)
            and all(validation._is_int(v) and v >= 0 for v in value[1:3])):
        raise ValueError(f"{where}: a tensor reference must be [layer name, node index, tensor index]; received "
                         f"{value!r}"[:300])
    if value[2] != 0:
        raise ValueError(f"{where}: refers to output {value[2]} of layer {value[0]!r}; clearconv's layers have "
                         f"one output each")
    return value[0], value[1]


def _keras3_arguments(node, where: str):
    """(inputs structure of (layer, node) pairs, kwargs) of a Keras 3 node {"args": [...], "kwargs": {...}}."""
    if not isinstance(node, dict) or not isinstance(node.get("args"), list) \
            or not isinstance(node.get("kwargs", {}), dict):
        raise ValueError(f"{where}: a node must be {{'args': [...], 'kwargs': {{...}}}}; received {node!r}"[:300])
    if len(node["args"]) != 1:
        raise ValueError(f"{where}: a layer call with {len(node['args'])} positional arguments; clearconv's layers "
                         f"take their inputs (a tensor, list or dict of tensors) as the one positional argument")

    def convert(item):
        if isinstance(item, dict) and item.get("class_name") == "__keras_tensor__":
            config = item.get("config")
            return _history(config.get("keras_history") if isinstance(config, dict) else None, where)
        if isinstance(item, list):
            return [convert(part) for part in item]
        if isinstance(item, dict):
            return {key: convert(part) for key, part in item.items()}
        raise ValueError(f"{where}: a layer's input must be tensors; received {item!r}"[:300])
    kwargs = {key: value for key, value in node.get("kwargs", {}).items() if not (key == "mask" and value is None)}
    return convert(node["args"][0]), kwargs


def _keras2_arguments(node, where: str):
    """The same for a tf.keras 2 node: [[layer, node, tensor, {kwargs}], ...]."""
    if not isinstance(node, list) or not node:
        raise ValueError(f"{where}: a node must be a list of [layer, node, tensor, kwargs]; received {node!r}"[:300])
    refs = [_history(entry, where) for entry in node]
    kwargs = node[0][3] if len(node[0]) > 3 and isinstance(node[0][3], dict) else {}
    return (refs[0] if len(refs) == 1 else refs), {k: v for k, v in kwargs.items() if not (k == "mask" and v is None)}


def _endpoints(value, where: str) -> list:
    """``input_layers``/``output_layers``: one [name, node, tensor] or a list (or dict) of them."""
    if isinstance(value, list) and len(value) == 3 and isinstance(value[0], str):
        return [_history(value, where)]
    if isinstance(value, dict):
        value = list(value.values())
    if not isinstance(value, list) or not value:
        raise ValueError(f"{where} must list [layer, node, tensor] triples; received {value!r}"[:300])
    return [_history(item, where) for item in value]


def _functional_from_keras(config: dict, where: str, state: _Translation) -> dict:
    """A Keras functional config (layers with inbound_nodes) -> clearconv's (layers and ordered calls)."""
    entries = config.get("layers")
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{where}: `layers` must be a non-empty list")
    layers, names = [], []
    nodes_of = {}   # layer name -> its calls in the file's order: [(arguments, kwargs)]; node k makes (name, k)
    for index, entry in enumerate(entries):
        layers.append(_entry_from_keras(entry, f"{where}: layers[{index}]", state))
        names.append(layers[-1]["name"])
        nodes = entry.get("inbound_nodes", []) if isinstance(entry, dict) else []
        if not isinstance(nodes, list):
            raise ValueError(f"{where}: layers[{index}]: `inbound_nodes` must be a list")
        state.calls += len(nodes)
        if state.calls > validation.MAX_CALLS:
            raise ValueError(f"the file describes more than {validation.MAX_CALLS} layer calls")
        if nodes and layers[-1]["class_name"] == "InputLayer":
            raise ValueError(f"{where}: layers[{index}] ({names[-1]!r}) is an InputLayer with inbound nodes; an "
                             f"input is called by nothing")
        for node in nodes:
            read = _keras3_arguments if isinstance(node, dict) else _keras2_arguments
            nodes_of.setdefault(names[-1], []).append(read(node, f"{where}: layers[{index}] ({names[-1]!r}) "
                                                                 f"inbound_nodes"))
    if len(set(names)) != len(names):
        raise ValueError(f"{where}: two layers share a name")
    tensor, calls = _schedule_calls(layers, nodes_of, where)
    result = {"name": config.get("name"), "trainable": config.get("trainable", True), "layers": layers,
              "calls": calls}
    for key, source in (("inputs", "input_layers"), ("outputs", "output_layers")):
        refs = _endpoints(config.get(source), f"{where}: {source}")
        for ref in refs:
            if ref not in tensor:
                raise ValueError(f"{where}: {source} names {list(ref)}, which no layer call makes")
        result[key] = tensor[refs[0]] if len(refs) == 1 else [tensor[ref] for ref in refs]
    return result


def _schedule_calls(layers: list, nodes_of: dict, where: str):
    """(tensor numbers, calls): the layer calls of a functional config in an order where each call comes after
    the calls making the tensors it reads, and each layer's calls in their node order (Keras numbers a layer's
    outputs by its calls, so call k of a layer makes tensor (layer, k)).

    Kahn's algorithm over the calls, linear in their number and their references: each call counts the
    distinct tensors it still lacks; a call is queued once it lacks none and is its layer's next call. Tensors
    are numbered as clearconv numbers them: the inputs first (InputLayer entries in order), then each call's
    output in the order made. ValueError names the missing tensors of a dangling or cyclic graph."""
    from collections import deque
    tensor = {(layer["name"], 0): i for i, layer in enumerate(l for l in layers if l["class_name"] == "InputLayer")}
    missing, waiters, ready = {}, {}, deque()
    for name, nodes in nodes_of.items():
        for k, (arguments, _) in enumerate(nodes):
            lacking = {ref for ref in _flat_refs(arguments) if ref not in tensor}
            missing[(name, k)] = len(lacking)
            for ref in lacking:
                waiters.setdefault(ref, []).append((name, k))
        if nodes and not missing[(name, 0)]:
            ready.append((name, 0))
    made = {name: 0 for name in nodes_of}   # calls made so far per layer: the next call's node index
    calls = []
    while ready:
        name, k = ready.popleft()
        arguments, kwargs = nodes_of[name][k]
        tensor[(name, k)] = len(tensor)
        made[name] = k + 1
        calls.append({"layer": name, "args": _map_refs(arguments, tensor), **({"kwargs": kwargs} if kwargs else {})})
        # The layer's next call may go now, if it lacks no tensor; one that reads this call's output waits for
        # the loop below, so that no call is queued twice.
        if k + 1 < len(nodes_of[name]) and not missing[(name, k + 1)]:
            ready.append((name, k + 1))
        for waiter in waiters.pop((name, k), ()):
            missing[waiter] -= 1
            if not missing[waiter] and made[waiter[0]] == waiter[1]:
                ready.append(waiter)
    if len(calls) < len(missing):
        lacking = sorted({ref for name, nodes in nodes_of.items() for arguments, _ in nodes[made[name]:]
                          for ref in _flat_refs(arguments) if ref not in tensor}, key=repr)
        raise ValueError(f"{where}: the layer calls refer to tensors no call makes (a dangling or cyclic graph): "
                         f"{lacking[:5]}")
    return tensor, calls


def _flat_refs(structure) -> list:
    if isinstance(structure, tuple):
        return [structure]
    if isinstance(structure, list):
        return [ref for part in structure for ref in _flat_refs(part)]
    return [ref for part in structure.values() for ref in _flat_refs(part)]


def _map_refs(structure, tensor):
    if isinstance(structure, tuple):
        return tensor[structure]
    if isinstance(structure, list):
        return [_map_refs(part, tensor) for part in structure]
    return {key: _map_refs(part, tensor) for key, part in structure.items()}


def _sequential_from_keras(config: dict, where: str, state: _Translation) -> dict:
    entries = config.get("layers")
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{where}: `layers` must be a non-empty list")
    result = {"name": config.get("name"), "trainable": config.get("trainable", True), "layers": []}
    shape = config.get("build_input_shape")
    for index, entry in enumerate(entries):
        layer = _entry_from_keras(entry, f"{where}: layers[{index}]", state)
        if layer["class_name"] == "InputLayer":
            if index:
                raise ValueError(f"{where}: layers[{index}]: an InputLayer can only come first")
            shape = layer["config"].get("batch_shape")
            continue
        result["layers"].append(layer)
    if not result["layers"]:
        raise ValueError(f"{where}: the Sequential model has no layers besides its input")
    if shape is not None:
        result["batch_input_shape"] = shape
    return result


def _entry_from_keras(entry, where: str, state: _Translation) -> dict:
    """One Keras layer entry -> ``{"class_name", "config", "name"}``."""
    from ..models.serialization import registry
    state.layers += 1
    validation.check_layer_entry(entry, where, state.layers)
    name, config = entry["class_name"], entry["config"]
    where = f"{where} {_label(entry)}"
    if name in _CODE_LAYERS:
        raise ValueError(f"{where}: a {name} layer holds Python code (a function or its bytecode); clearconv never "
                         f"runs code from a file, in safe mode or not. Rebuild the model with the layer replaced "
                         f"by built-in layers, or build the model in code and load only its weights")
    if _is_custom(entry) and name not in state.custom and entry.get("registered_name") not in state.custom:
        raise ValueError(f"{where}: a class of your own (registered as {entry.get('registered_name')!r}, module "
                         f"{entry.get('module')!r}); clearconv imports nothing a file names: pass the class in "
                         f"custom_objects")
    if entry.get("registered_name") in state.custom:
        name = entry["registered_name"]
    layer_name = config.get("name", entry.get("name"))
    if name in _MODELS:
        translate = _sequential_from_keras if _MODELS[name] == "Sequential" else _functional_from_keras
        return {"class_name": _MODELS[name], "config": translate(config, where, state), "name": layer_name}
    if name not in state.custom and name not in registry():
        supported = sorted(n for n in registry() if n not in ("Layer", "Operation", "Lambda", "Model"))
        raise ValueError(f"{where}: clearconv has no layer {name!r}; supported: {', '.join(supported)}")
    return {"class_name": name, "config": _layer_config_from_keras(name, config, where, state), "name": layer_name}


def config_from_keras(entry: dict, custom_objects=None) -> dict:
    """clearconv's ``{"class_name", "config", "name"}`` entry for a Keras model or layer entry, Keras 3's
    form or tf.keras 2's. ValueError names the layer and what clearconv lacks (a Lambda layer, a class
    of your own not in ``custom_objects``, an unknown class, a Keras option clearconv has not)."""
    return _entry_from_keras(entry, "model", _Translation(custom_objects))


# ==================================================================================================
# clearconv model -> Keras 3 config
# ==================================================================================================

_POLICY = {"module": "keras", "class_name": "DTypePolicy", "registered_name": None}


def _object_to_keras(value, kind: str):
    if isinstance(value, dict) and isinstance(value.get("class_name"), str):
        return {"module": _KERAS_MODULES[kind], "class_name": value["class_name"],
                "config": value.get("config", {}), "registered_name": None}
    return value


def _keras_class_name(layer) -> str:
    from .. import saving
    from ..layers.operation import Operation
    from ..models.functional import Model
    from ..models.sequential import Sequential
    from ..models.serialization import registry
    if isinstance(layer, Operation):
        raise ValueError(f"layer '{layer.name}': an op node ({layer.op}) on symbolic tensors cannot be written in "
                         f"Keras's format; use the matching layer (Add, Multiply, ...) in the model")
    if isinstance(layer, Sequential):
        return "Sequential"
    if isinstance(layer, Model):
        if not layer._graph:
            raise ValueError(f"model '{layer.name}': a subclassed model cannot be written in Keras's format")
        return "Functional"
    name = saving.get_registered_name(type(layer))
    if name in _CODE_LAYERS or registry().get(name) is not type(layer):
        raise ValueError(f"layer '{layer.name}' ({name}): Keras's format only holds Keras's built-in layers "
                         + ("(a Lambda holds code, which clearconv never writes)" if name in _CODE_LAYERS else
                            "(a class of your own)"))
    return name


def _layer_entry(layer, input_shape) -> dict:
    class_name = _keras_class_name(layer)
    if class_name == "Sequential":
        config = _sequential_to_keras(layer)
    elif class_name == "Functional":
        config = _functional_to_keras(layer)
    else:
        config = {}
        for key, value in layer.get_config().items():
            default = _CLEARCONV_ONLY_DEFAULTS.get((class_name, key), KeyError)
            if default is not KeyError:
                if value != default:
                    raise ValueError(f"layer '{layer.name}' ({class_name}): {key}={value!r} has no equivalent in "
                                     f"Keras's {class_name}")
                continue
            kind = key.rsplit("_", 1)[-1]
            config[key] = _object_to_keras(value, kind) if kind in _KERAS_MODULES else value
        if class_name == "InputLayer":
            config = {"batch_shape": list(layer.batch_input_shape), "dtype": layer.dtype, "sparse": False,
                      "ragged": False, "name": layer.name}
    if class_name != "InputLayer":
        config["dtype"] = {**_POLICY, "config": {"name": layer.dtype}}
    # Keras writes its Functional class by module and registered name; the others by the public module.
    entry = {"module": {"Sequential": "keras", "Functional": "keras.src.models.functional"}.get(class_name,
                                                                                              "keras.layers"),
             "class_name": class_name, "config": config,
             "registered_name": "Functional" if class_name == "Functional" else None}
    if input_shape is not None and class_name != "InputLayer":
        entry["build_config"] = {"input_shape": input_shape}
    return entry


def _sequential_to_keras(model) -> dict:
    shape = list(model._input_shape) if model._input_shape is not None else None
    layers = []
    if shape is not None:
        layers.append({"module": "keras.layers", "class_name": "InputLayer", "registered_name": None,
                       "config": {"batch_shape": shape, "dtype": model.dtype, "sparse": False, "ragged": False,
                                  "name": model._input_tensor.layer.name if model._input_tensor is not None
                                  else f"{model.name}_input"}})
    for layer in model.layers:
        first = next((n for n in model._nodes if n.layer is layer), None)
        layers.append(_layer_entry(layer, _shapes(first.call_inputs) if first is not None else None))
    config = {"name": model.name, "trainable": model.trainable, "layers": layers}
    if shape is not None:
        config["build_input_shape"] = shape
    return config


def _shapes(structure):
    if isinstance(structure, (list, tuple)):
        return [_shapes(part) for part in structure]
    if isinstance(structure, dict):
        return {key: _shapes(part) for key, part in structure.items()}
    return list(structure.shape)


def _functional_to_keras(model) -> dict:
    order = keras_layer_order(model)
    calls = {id(layer): [] for layer in order}
    node_of = {}
    for tensor in model.inputs:
        node_of[id(tensor)] = (tensor.layer.name, 0, 0)
    for node in model._nodes:   # graph order: each call after those it reads
        node_of[id(node)] = (node.layer.name, len(calls[id(node.layer)]), 0)
        calls[id(node.layer)].append(node)

    def reference(tensor):
        return {"class_name": "__keras_tensor__", "config": {"shape": list(tensor.shape), "dtype": tensor.dtype,
                                                             "keras_history": list(node_of[id(tensor)])}}

    def structure(value):
        if isinstance(value, (list, tuple)):
            return [structure(part) for part in value]
        if isinstance(value, dict):
            return {key: structure(part) for key, part in value.items()}
        return reference(value)
    layers = []
    for layer in order:
        first = calls[id(layer)][0] if calls[id(layer)] else None
        entry = _layer_entry(layer, _shapes(first.call_inputs) if first is not None else None)
        entry["name"] = layer.name
        if first is not None and (first.call_args or any(n.call_args for n in calls[id(layer)])):
            raise ValueError(f"layer '{layer.name}': a call with positional constants cannot be written")
        entry["inbound_nodes"] = [{"args": [structure(node.call_inputs)], "kwargs": dict(node.call_kwargs)}
                                  for node in calls[id(layer)]]
        layers.append(entry)
    return {"name": model.name, "trainable": model.trainable, "layers": layers,
            "input_layers": [list(node_of[id(t)]) for t in model.inputs],
            "output_layers": [list(node_of[id(t)]) for t in model.outputs]}


def _compile_to_keras(compile_config) -> dict | None:
    """clearconv's compile settings as Keras's ``compile_config``."""
    if not compile_config:
        return None
    optimizer = compile_config["optimizer"]
    losses = [None if loss is None else loss if isinstance(loss, str) else
              {"module": "keras.losses", "class_name": loss["class_name"], "config": loss.get("config", {}),
               "registered_name": None} for loss in compile_config["loss"]]
    return {"optimizer": {"module": "keras.optimizers", "class_name": optimizer["class_name"],
                          "config": optimizer.get("config", {}), "registered_name": None},
            "loss": losses[0] if len(losses) == 1 else losses, "loss_weights": compile_config.get("loss_weights"),
            "metrics": compile_config.get("metrics"), "weighted_metrics": compile_config.get("weighted_metrics"),
            "run_eagerly": False, "steps_per_execution": 1, "jit_compile": False}


def config_to_keras(model) -> dict:
    """The Keras 3 entry of ``model`` (what Keras's ``model.to_json()`` writes, parsed), which
    ``keras.models.model_from_json`` and Keras's ``.keras`` loader read. ValueError for what Keras's
    format cannot hold: a Lambda layer, a layer class of your own, an op node, a subclassed model."""
    entry = _layer_entry(model, _shapes(model.input) if getattr(model, "_graph", False) else None)
    entry.pop("name", None)
    return entry


# ==================================================================================================
# Weights in Keras's HDF5 layouts
# ==================================================================================================

def _snake_case(name: str) -> str:
    """Keras's ``to_snake_case``: the group name of a layer of class ``name`` in a weights file."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _own_weights(layer) -> list:
    """The weights Keras 3 stores under a layer's ``vars``: its own (trainable then the others, in the
    order they were made), none for a model (its layers hold them)."""
    if getattr(layer, "_graph", False):
        return []
    return list(layer.weights)


def _weight_groups(model, keras_entry: dict, prefix: str = "") -> list:
    """``[(group path, layer, weights)]`` for every layer of ``model``, nested models recursed, named as
    Keras names them from ``keras_entry`` (the model's Keras config: its layer order and classes)."""
    from ..models.sequential import Sequential
    groups = [((prefix + "/vars").lstrip("/"), model, [])]
    entries = keras_entry["config"]["layers"]
    if isinstance(model, Sequential):
        entries = [e for e in entries if e["class_name"] != "InputLayer"]
        layers = model.layers
    else:
        by_name = {layer.name: layer for layer in model._layers}
        layers = [by_name[entry["config"].get("name", entry.get("name"))] if entry["class_name"] != "InputLayer"
                  else by_name[entry["config"]["name"]] for entry in entries]
    used = {}
    for entry, layer in zip(entries, layers):
        base = _snake_case(entry["class_name"])
        used[base] = used.get(base, -1) + 1
        path = f"{prefix}/layers/{base}" + (f"_{used[base]}" if used[base] else "")
        if entry["class_name"] in ("Sequential", "Functional"):
            groups.extend(_weight_groups(layer, entry, path))
        else:
            groups.append((f"{path}/vars".lstrip("/"), layer, _own_weights(layer)))
    return groups


def _write_groups(h5file, model, keras_entry: dict) -> None:
    for path, layer, weights in _weight_groups(model, keras_entry):
        group = h5file.require_group(path)
        group.attrs["name"] = layer.name
        for index, weight in enumerate(weights):
            group.create_dataset(str(index), data=np.asarray(weight.data))


def _weights_bytes(model, keras_entry: dict) -> bytes:
    h5py = _hdf5()
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as h5file:
        _write_groups(h5file, model, keras_entry)
    return buffer.getvalue()


def _hdf5_limit(variables: list, slots: int) -> int:
    """Bytes a Keras weights file of these variables may hold: their data (times ``slots`` for the optimizer's
    copies a Keras file keeps beside them), plus headers per dataset and the file's own structures."""
    data = sum(int(v.size) * np.dtype(v.dtype).itemsize for v in variables)
    return slots * data + HDF5_OVERHEAD_BYTES + HDF5_BYTES_PER_DATASET * (slots * len(variables) + 64)


# HDF5 filters a weights dataset may be stored through (Keras writes none): their codes and h5py's names.
_READABLE_FILTERS = {1: "gzip", 2: "shuffle", 3: "fletcher32"}
MAX_CHUNKS = 65536   # chunks of one dataset (h5py's automatic chunks hold 8 KiB to 1 MiB each)


def _open_hdf5(path: str, member: str, file):
    h5py = _hdf5()
    try:
        return h5py.File(file, "r")
    except _h5_errors() as error:
        raise ModelFileError(path, member, f"not an HDF5 file, or a truncated or corrupt one ({error})") from None


def _h5_errors():
    return (OSError, ValueError, RuntimeError, KeyError, TypeError, IndexError, AttributeError, OverflowError)


def _read_dataset(path: str, member: str, where: str, dataset, variable, nonnegative: dict) -> np.ndarray:
    """The data of ``dataset`` for ``variable``: shape and dtype checked from the header before reading."""
    h5py = _hdf5()
    if not isinstance(dataset, h5py.Dataset):
        raise ModelFileError(path, member, f"{where} is not a dataset")
    try:
        elsewhere = dataset.external is not None or dataset.is_virtual
    except _h5_errors() as error:
        raise ModelFileError(path, member, f"{where} is unreadable ({error})") from None
    if elsewhere:   # HDF5 would read another file on this machine (or crash on a virtual dataset's source)
        raise ModelFileError(path, member, f"{where} keeps its data outside the file (external storage or a "
                                           f"virtual dataset); weights must be inside it")
    shape, dtype = tuple(dataset.shape or ()), dataset.dtype
    if shape != tuple(variable.shape):
        raise ModelFileError(path, member, f"{where} ({variable.path}) has shape {shape}; the model's weight has "
                                           f"shape {tuple(variable.shape)} (refused before reading)")
    if dtype.kind != "f":
        raise ModelFileError(path, member, f"{where} ({variable.path}) holds {dtype}; weights are floats")
    try:
        value = _dataset_values(path, member, f"{where} ({variable.path})", dataset)
        value = np.asarray(value, dtype=variable.dtype).reshape(variable.shape)
    except ModelFileError:
        raise
    except _h5_errors() as error:
        raise ModelFileError(path, member, f"{where} is truncated or corrupt ({error})") from None
    validation.check_weight_values(path, member, where, variable, value, nonnegative)
    return value


def _dataset_values(path: str, member: str, where: str, dataset) -> np.ndarray:
    """The array of ``dataset`` (shape and float dtype already checked), read so that HDF5 never inflates more
    than the dataset's own size: chunks no larger than the dataset, only the filters
    :data:`_READABLE_FILTERS`, every byte stored (HDF5 returns its fill value for storage never written:
    gigabytes from nothing). HDF5's deflate filter inflates a chunk's whole stream, whatever the chunk's size
    (a 4x4 chunk can hold a stream of 256 MB of zeros), so filtered chunks are read raw and inflated here,
    at most a chunk's bytes each."""
    shape, dtype = tuple(dataset.shape or ()), dataset.dtype
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    plist = dataset.id.get_create_plist()
    filters = [plist.get_filter(index)[0] for index in range(plist.get_nfilters())]
    unknown = [code for code in filters if code not in _READABLE_FILTERS]
    if unknown:
        raise ModelFileError(path, member, f"{where} is stored through HDF5 filter(s) {unknown}; clearconv reads "
                                           f"weights stored plain or through "
                                           f"{', '.join(_READABLE_FILTERS.values())}")
    chunks = dataset.chunks
    if chunks is None:
        stored = dataset.id.get_storage_size()
        if stored != nbytes:
            raise ModelFileError(path, member, f"{where} declares {nbytes:,} bytes and stores {stored:,}")
        return dataset[()]
    if any(c > max(n, 1) for c, n in zip(chunks, shape)):
        raise ModelFileError(path, member, f"{where}: chunks of shape {tuple(chunks)} exceed the dataset's shape "
                                           f"{shape} (HDF5 would inflate whole chunks): refused before reading")
    grid = [-(-n // c) for n, c in zip(shape, chunks)]   # chunks along each axis
    count = int(np.prod(grid, dtype=np.int64))
    if count > MAX_CHUNKS:
        raise ModelFileError(path, member, f"{where} is stored in {count:,} chunks; at most {MAX_CHUNKS:,}")
    if dataset.id.get_num_chunks() != count:
        raise ModelFileError(path, member, f"{where} stores {dataset.id.get_num_chunks():,} of its {count:,} "
                                           f"chunks")
    if not filters:
        return dataset[()]   # plain chunks, all stored, each within the dataset's shape
    chunk_bytes = int(np.prod(chunks, dtype=np.int64)) * dtype.itemsize
    file_size = dataset.file.id.get_filesize()
    value = np.empty(shape, dtype=dtype)
    for index in np.ndindex(*grid):
        offset = tuple(i * c for i, c in zip(index, chunks))
        stored = dataset.id.get_chunk_info_by_coord(offset).size
        if stored is None or stored > file_size:   # h5py allocates what the chunk's index entry declares
            raise ModelFileError(path, member, f"{where}: chunk {offset} declares {stored} stored bytes; the file "
                                               f"holds {file_size:,}")
        mask, raw = dataset.id.read_direct_chunk(offset)
        for position in reversed(range(len(filters))):   # filters run in reverse order on reading
            if mask & (1 << position):                    # HDF5 skipped this filter when writing the chunk
                continue
            raw = _unfilter(path, member, where, filters[position], raw, chunk_bytes, dtype.itemsize)
        if len(raw) != chunk_bytes:
            raise ModelFileError(path, member, f"{where}: chunk {offset} holds {len(raw):,} bytes; a chunk of "
                                               f"shape {tuple(chunks)} holds {chunk_bytes:,}")
        block = np.frombuffer(raw, dtype=dtype).reshape(chunks)
        region = tuple(slice(o, min(o + c, n)) for o, c, n in zip(offset, chunks, shape))
        value[region] = block[tuple(slice(0, r.stop - r.start) for r in region)]   # edge chunks: their part
    return value


def _unfilter(path: str, member: str, where: str, code: int, raw: bytes, chunk_bytes: int, itemsize: int) -> bytes:
    """One HDF5 filter undone on a chunk's bytes: deflate (inflating at most ``chunk_bytes``), shuffle
    (bytes grouped by their place in the element, regrouped by element), fletcher32 (its 4-byte checksum
    dropped: the values are checked afterwards)."""
    import zlib
    if code == 1:
        inflater = zlib.decompressobj()
        try:
            out = inflater.decompress(raw, chunk_bytes + 1)
        except zlib.error as error:
            raise ModelFileError(path, member, f"{where}: a chunk is corrupt ({error})") from None
        if len(out) > chunk_bytes or inflater.unconsumed_tail:
            raise ModelFileError(path, member, f"{where}: a chunk inflates beyond its {chunk_bytes:,} bytes: "
                                               f"refused while inflating it")
        return out
    if code == 2:
        if len(raw) != chunk_bytes:
            return raw   # the length check after the filters names the problem
        # (itemsize, elements): byte b of every element together -> (elements, itemsize)
        return np.frombuffer(raw, dtype=np.uint8).reshape(itemsize, -1).T.tobytes()
    return raw[:-4]   # fletcher32


def _check_weights_fit(path: str, member: str, h5file, variables: list) -> None:
    """Refuse, before reading any data, an HDF5 file too small for the weights the model (that is, the
    config) declares: at most :data:`WEIGHTS_MAX_RATIO` times its size plus a MiB is read from it, so that a
    compressed dataset of zeros cannot stand for a layer of 10^8 weights declared in a line of JSON."""
    size = h5file.id.get_filesize()
    needed = sum(int(v.size) * np.dtype(v.dtype).itemsize for v in variables)
    if needed > WEIGHTS_MAX_RATIO * size + RATIO_ALLOWANCE_BYTES:
        raise ModelFileError(path, member, f"holds {size:,} bytes for weights of {needed:,} bytes: more than "
                                           f"{WEIGHTS_MAX_RATIO} times as many, refused before reading them")


def _read_keras3_weights(path: str, member: str, h5file, model, keras_entry: dict) -> list:
    """``[(variable, value)]`` for every weight of ``model`` from a Keras 3 weights file (all read and
    checked before any is assigned)."""
    h5py = _hdf5()
    nonnegative = validation.nonnegative_weights(model)
    _check_weights_fit(path, member, h5file, model.weights)
    pairs = []
    try:
        for group_path, layer, weights in _weight_groups(model, keras_entry):
            group = h5file.get(group_path) if weights else None
            if weights and not isinstance(group, h5py.Group):
                raise ModelFileError(path, member, f"group {group_path} (layer '{layer.name}') is missing")
            if weights and len(group) != len(weights):
                raise ModelFileError(path, member, f"{group_path} (layer '{layer.name}') holds {len(group)} "
                                                   f"weights; the layer has {len(weights)}")
            for index, variable in enumerate(weights):
                where = f"{group_path}/{index}"
                if str(index) not in group:
                    raise ModelFileError(path, member, f"{where} (layer '{layer.name}') is missing")
                pairs.append((variable, _read_dataset(path, member, where, group[str(index)], variable,
                                                      nonnegative)))
    except ModelFileError:
        raise
    except _h5_errors() as error:
        raise ModelFileError(path, member, f"truncated or corrupt ({type(error).__name__}: {error})") from None
    return pairs


def _assign(pairs: list, fresh: bool = False) -> None:
    """Give each variable its value: a model just built from a file holds placeholders
    (:func:`clearconv.layers.base.weights_from_file`), replaced; an existing model's weights are assigned."""
    for variable, value in pairs:
        if fresh:
            variable.data = value
        else:
            variable.assign(value)


# ==================================================================================================
# Building from a Keras config, and the compile settings
# ==================================================================================================

def _without_object_ids(tree):
    """``tree`` without Keras's ``shared_object_id`` keys (Python object ids, beyond the bounds that
    :func:`clearconv.io.validation.check_numbers` sets for every other number; clearconv ignores them)."""
    if isinstance(tree, dict):
        return {key: _without_object_ids(value) for key, value in tree.items() if key != "shared_object_id"}
    if isinstance(tree, list):
        return [_without_object_ids(value) for value in tree]
    return tree


def _build(path: str, member: str, entry, custom_objects, placeholders: bool = True):
    """The model of a Keras entry; ``placeholders``: weights left as placeholders, for a loader that
    replaces each by the file's array (see :func:`clearconv.layers.base.weights_from_file`), else
    initialised as a new model's."""
    from .. import saving
    from ..layers.base import weights_from_file
    from ..models.functional import Model
    from ..models.serialization import layer_from_config
    if not isinstance(entry, dict):
        raise ModelFileError(path, member, f"holds a {type(entry).__name__}; expected a model entry")
    validation.check_numbers(path, member, _without_object_ids({k: v for k, v in entry.items()
                                                                if k != "compile_config"}))
    try:
        config = config_from_keras(entry, custom_objects)
        validation.check_config(path, {"model": config})
        with saving.custom_object_scope(custom_objects or {}), \
                (weights_from_file() if placeholders else contextlib.nullcontext()):
            model = layer_from_config(config)
    except ModelFileError:
        raise
    except (ValueError, TypeError) as error:
        raise ModelFileError(path, member, f"cannot build the model: {error}") from error
    except RecursionError:   # a graph or nesting deeper than the interpreter's stack
        raise ModelFileError(path, member, "cannot build the model: its layers nest or chain deeper than "
                                           "clearconv can follow") from None
    except MemoryError:
        raise ModelFileError(path, member, "cannot build the model: it needs more memory than there is") from None
    if not isinstance(model, Model):
        raise ModelFileError(path, member, f"the architecture is a {type(model).__name__} layer, not a model")
    validation.check_runnable(path, model)
    return model


def _compile_from_keras(path: str, member: str, model, compile_config: dict) -> None:
    """``model.compile`` with Keras's compile settings (``.keras``'s compile_config, or a legacy file's
    training_config, whose optimizer is under ``optimizer_config``)."""
    from .. import optimizers
    state = _Translation(None)
    try:
        if not isinstance(compile_config, dict):
            raise ValueError(f"must be an object; received {compile_config!r}"[:200])
        validation.check_numbers(path, member, compile_config)
        optimizer = compile_config.get("optimizer", compile_config.get("optimizer_config"))
        optimizer = _object_from_keras(optimizer, "optimizer", state)
        if isinstance(optimizer, dict):
            config = dict(optimizer["config"])
            config.pop("is_legacy_optimizer", None)
            config.pop("jit_compile", None)
            if isinstance(config.get("learning_rate"), dict):
                config["learning_rate"] = _object_from_keras(config["learning_rate"], "learning_rate", state)
            optimizer = optimizers.deserialize({"class_name": optimizer["class_name"], "config": config})

        def objects(value, where):
            if isinstance(value, list):
                return [objects(item, where) for item in value]
            if isinstance(value, dict) and "class_name" not in value:
                return {key: objects(item, where) for key, item in value.items()}
            return _object_from_keras(value, where, state)
        model.compile(optimizer=optimizer, loss=objects(compile_config.get("loss"), "loss"),
                      metrics=objects(compile_config.get("metrics"), "metrics"),
                      loss_weights=compile_config.get("loss_weights"),
                      weighted_metrics=objects(compile_config.get("weighted_metrics"), "weighted_metrics"))
    except (ValueError, TypeError, KeyError) as error:
        raise ModelFileError(path, member, f"compile settings: {error}") from None


# ==================================================================================================
# Public functions
# ==================================================================================================

def model_from_keras_json(json_string, custom_objects=None):
    """The model (freshly initialised weights) of the JSON Keras's ``model.to_json()`` writes, Keras 3's
    form or tf.keras 2's. ValueError for invalid JSON or what clearconv lacks (named)."""
    if not isinstance(json_string, (str, bytes)):
        raise TypeError(f"model_from_keras_json: `json_string` must be a str; received {type(json_string).__name__}")
    if len(json_string) > MAX_JSON_BYTES:
        raise ValueError(f"model_from_keras_json: the JSON holds {len(json_string):,} characters; at most "
                         f"{MAX_JSON_BYTES:,}")
    try:
        entry = json.loads(json_string)
    except (ValueError, RecursionError) as error:
        raise ValueError(f"model_from_keras_json: `json_string` is not valid JSON ({error})") from None
    if _depth_exceeds(entry, MAX_JSON_DEPTH):
        raise ValueError(f"model_from_keras_json: lists or objects nest more than {MAX_JSON_DEPTH} deep")
    try:
        return _build("<json>", "json", entry, custom_objects, placeholders=False)
    except ModelFileError as error:
        raise ValueError(f"model_from_keras_json: {error.reason}") from None


def _check_weights_member(archive: ZipArchive) -> None:
    """Refuse a ``model.weights.h5`` member that does not start with HDF5's signature (reading its first bytes
    only), before the model its config declares is built and before the member is inflated."""
    head = archive.head(WEIGHTS_MEMBER, len(_HDF5_SIGNATURE))
    if head != _HDF5_SIGNATURE:
        raise ModelFileError(archive.path, WEIGHTS_MEMBER, f"not an HDF5 file: it starts with {head!r}, not HDF5's "
                                                           f"signature")


def _read_weights_member(archive: ZipArchive, limit: int) -> bytes:
    """The bytes of ``model.weights.h5``: HDF5 by its signature, at most ``limit`` bytes and at most
    :data:`WEIGHTS_MAX_RATIO` times its compressed size plus a MiB. ``limit`` comes from the weights the
    config declares, which cost a file nothing to declare (a Dense layer of 10^8 weights is a line of
    JSON); the ratio bounds what the member's own size justifies (weights, trained floats, barely
    compress: a zip bomb of zeros inflates a thousandfold)."""
    _check_weights_member(archive)
    return archive.read(WEIGHTS_MEMBER, limit, WEIGHTS_MAX_RATIO)


def _load_keras_zip(path: str, file, custom_objects, compile: bool):
    archive = ZipArchive(path, file)
    if WEIGHTS_MEMBER not in archive.names or CONFIG_MEMBER not in archive.names:
        raise ModelFileError(path, "", f"not a Keras 3 .keras file (it lacks {CONFIG_MEMBER} or {WEIGHTS_MEMBER})")
    if METADATA_MEMBER in archive.names:
        metadata = archive.json(METADATA_MEMBER)
        version = metadata.get("keras_version") if isinstance(metadata, dict) else None
        if not isinstance(version, str) or not version.startswith("3."):
            raise ModelFileError(path, METADATA_MEMBER, f"keras_version {version!r}: a .keras file is written by "
                                                        f"Keras 3 ('3.x')")
    _check_weights_member(archive)   # before building what the config declares
    entry = archive.json(CONFIG_MEMBER)
    model = _build(path, CONFIG_MEMBER, entry, custom_objects)
    data = _read_weights_member(archive, _hdf5_limit(model.weights, 1 + OPTIMIZER_SLOTS))
    keras_entry = config_to_keras(model)
    with _open_hdf5(path, WEIGHTS_MEMBER, io.BytesIO(data)) as h5file:
        _assign(_read_keras3_weights(path, WEIGHTS_MEMBER, h5file, model, keras_entry), fresh=True)
    if compile and entry.get("compile_config"):
        _compile_from_keras(path, CONFIG_MEMBER, model, entry["compile_config"])
    return model


_ATTRIBUTE_ALLOWANCE = 64 * 1024 * 1024   # memory a child reading a variable-length attribute may add
CHILD_TIMEOUT_SECONDS = 5.0               # time it may take (a config attribute reads in milliseconds)


def _is_variable_length(dtype) -> bool:
    """Whether HDF5 reads ``dtype`` by allocating what each element declares (vlen strings and sequences)."""
    h5py = _hdf5()
    string = h5py.check_string_dtype(dtype)
    if (string is not None and string.length is None) or h5py.check_vlen_dtype(dtype) is not None:
        return True
    return dtype.fields is not None and any(_is_variable_length(field[0]) for field in dtype.fields.values())


def _address_space() -> int:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def _read_in_child(read, timeout: float = CHILD_TIMEOUT_SECONDS):
    """``read()``'s value (JSON-able), computed in a forked child whose address space may grow by at most
    :data:`_ATTRIBUTE_ALLOWANCE`: HDF5 allocates the length a variable-length element declares before it
    checks it against the file (an 18 KB file can declare 4 GiB), so the read runs where such an allocation
    fails instead of succeeding. A child still running after ``timeout`` seconds is killed (SIGKILL).
    Raises RuntimeError with the child's error.

    Why forking here is safe enough: the child only reads the HDF5 file, which the loaders hold in memory
    (no file offset shared with the parent), writes one message to a pipe and leaves with ``os._exit``, so
    no Python cleanup, atexit handler or buffered output of the parent runs twice. The one hazard of fork
    in a threaded process, a lock held by another thread at the moment of the fork (such as h5py's global
    lock), would leave the child waiting forever: the timeout ends such a child and the file is refused."""
    import faulthandler
    import resource
    import select
    import signal
    import time
    receive, send = os.pipe()
    pid = os.fork()
    if pid == 0:   # the child: no Python cleanup, no return
        code = 1
        try:
            faulthandler.disable()   # a crash of HDF5 in here is reported by the parent, as a refused file
            os.close(receive)
            limit = _address_space() + _ATTRIBUTE_ALLOWANCE
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
            try:
                message = json.dumps({"value": read()}).encode("utf-8")
            except BaseException as error:   # noqa: BLE001 - any failure goes back as text
                message = json.dumps({"error": f"{type(error).__name__}: {error}"}).encode("utf-8")
            with os.fdopen(send, "wb") as pipe:
                pipe.write(message)
            code = 0
        finally:
            os._exit(code)
    os.close(send)
    deadline, parts, ended = time.monotonic() + timeout, [], False
    try:
        while True:   # at most what the child could hold: its allowance bounds the message
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([receive], [], [], left)[0]:
                break
            part = os.read(receive, 1 << 16)
            if not part:
                ended = True
                break
            parts.append(part)
    finally:
        os.close(receive)
        if not ended:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
    if not ended:
        raise RuntimeError(f"the reader did not finish within {timeout:g} s and was stopped")
    if os.WIFSIGNALED(status):
        raise RuntimeError(f"reading it ended the reader (signal {signal.Signals(os.WTERMSIG(status)).name})")
    try:
        result = json.loads(b"".join(parts))
    except ValueError:
        raise RuntimeError("the reader gave no value (it ran out of its memory allowance)") from None
    if "error" in result:
        raise RuntimeError(result["error"])
    return result["value"]


def _plain(value):
    """An attribute's value as JSON-able Python: text for strings and bytes, lists for arrays."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, np.ndarray):
        return [_plain(item) for item in value.tolist()] if value.dtype.kind in "OSU" else value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _attribute(path: str, member: str, obj, name: str, default=None):
    """Attribute ``name`` of the HDF5 object ``obj`` (text, numbers, or lists of them), or ``default`` when it
    is absent; a ModelFileError when it is larger than a config may be or cannot be read. Fixed-size data is
    checked by its storage size before it is read; variable-length data (whose declared lengths HDF5 trusts)
    is read in a child process with a memory allowance where the platform can fork (Linux, macOS)."""
    try:
        if name not in obj.attrs:
            return default
        attribute = obj.attrs.get_id(name)
        # HDF5 reports an error, not 0, for the storage of an attribute without elements
        size = attribute.get_storage_size() if int(np.prod(attribute.shape or ())) else 0
        if size > MAX_JSON_BYTES:
            raise ModelFileError(path, member or name, f"attribute {name} declares {size:,} bytes, more than the "
                                                       f"{MAX_JSON_BYTES:,} a config may hold: refused before "
                                                       f"reading it")
        if _is_variable_length(attribute.dtype) and hasattr(os, "fork") and os.path.exists("/proc/self/statm"):
            return _read_in_child(lambda: _plain(obj.attrs[name]))
        return _plain(obj.attrs[name])
    except ModelFileError:
        raise
    except _h5_errors() + (OverflowError,) as error:
        raise ModelFileError(path, member or name, f"attribute {name} is unreadable ({error})") from None


def _attribute_text(path: str, h5file, name: str):
    """A string attribute of the file's root, or None when it is absent."""
    value = _attribute(path, "", h5file, name)
    if value is not None and not isinstance(value, str):
        raise ModelFileError(path, name, f"must be a JSON string; holds {type(value).__name__}")
    if value is not None and len(value) > MAX_JSON_BYTES:
        raise ModelFileError(path, name, f"holds {len(value):,} characters, more than the {MAX_JSON_BYTES:,} a "
                                         f"config may hold")
    return value


def _json_attribute(path: str, h5file, name: str):
    text = _attribute_text(path, h5file, name)
    if text is None:
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise ModelFileError(path, name, f"not valid JSON ({error})") from None
    if _depth_exceeds(value, MAX_JSON_DEPTH):
        raise ModelFileError(path, name, f"lists or objects nest more than {MAX_JSON_DEPTH} deep")
    return value


def _names(path: str, member: str, group, key: str) -> list:
    value = _attribute(path, member, group, key, default=[])
    value = value if isinstance(value, list) else [value]
    if len(value) > validation.MAX_LAYERS:
        raise ModelFileError(path, member, f"{key} lists {len(value)} names; at most {validation.MAX_LAYERS}")
    return [str(item) for item in value]


def _legacy_order(layer) -> list:
    """The weights of a layer in a legacy HDF5 file's order: trainable ones, then the others."""
    return list(layer.trainable_weights) + list(layer.non_trainable_weights)


def _read_legacy_weights(path: str, h5file, model) -> list:
    h5py = _hdf5()
    member = "model_weights"
    group = h5file.get(member, h5file) if member in h5file else h5file
    if not isinstance(group, h5py.Group):
        raise ModelFileError(path, member, "not a group")
    nonnegative = validation.nonnegative_weights(model)
    _check_weights_fit(path, member, h5file, model.weights)
    stored = _names(path, member, group, "layer_names")
    layers = [layer for layer in model.layers if _legacy_order(layer)]
    if not stored and layers:
        raise ModelFileError(path, member, "lists no layers (attribute layer_names)")
    stored_with_weights = [name for name in stored
                           if isinstance(group.get(name), h5py.Group) and _names(path, member, group[name],
                                                                                "weight_names")]
    if sorted(layer.name for layer in layers) != sorted(stored_with_weights):
        raise ModelFileError(path, member, f"holds weights of layers {stored_with_weights[:8]}; the model's layers "
                                           f"with weights are {[layer.name for layer in layers][:8]}")
    pairs = []
    for layer in layers:
        names = _names(path, member, group[layer.name], "weight_names")
        variables = _legacy_order(layer)
        if len(names) != len(variables):
            raise ModelFileError(path, member, f"{layer.name} holds {len(names)} weights; the layer has "
                                               f"{len(variables)}")
        for name, variable in zip(names, variables):
            where = f"{layer.name}/{name}"
            if name not in group[layer.name]:
                raise ModelFileError(path, member, f"{where} is missing")
            pairs.append((variable, _read_dataset(path, member, where, group[layer.name][name], variable,
                                                  nonnegative)))
    return pairs


def _load_legacy_h5(path: str, file, custom_objects, compile: bool):
    # Read in memory: the file is the model, and a child process reading an attribute (see _read_in_child)
    # must not move the offset of a file descriptor it shares with this process.
    file.seek(0)
    with _open_hdf5(path, "", io.BytesIO(file.read())) as h5file:
        try:
            entry = _json_attribute(path, h5file, "model_config")
            if entry is None:
                raise ModelFileError(path, "model_config", "missing: this HDF5 file holds weights only (load them "
                                                           "into a model with load_keras_weights)")
            model = _build(path, "model_config", entry, custom_objects)
            _assign(_read_legacy_weights(path, h5file, model), fresh=True)
            training = _json_attribute(path, h5file, "training_config") if compile else None
        except ModelFileError:
            raise
        except _h5_errors() as error:
            raise ModelFileError(path, "", f"truncated or corrupt ({type(error).__name__}: {error})") from None
    if training:
        _compile_from_keras(path, "training_config", model, training)
    return model


_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def load_keras(filepath, custom_objects=None, compile: bool = True, safe_mode: bool = True):
    """A clearconv model from a Keras 3 ``.keras`` file or a legacy Keras ``.h5`` model file (told apart by
    their bytes: a zip archive or HDF5's signature).

    Architecture (Sequential and functional models of clearconv's layers, nested models, shared layers),
    weights and, unless ``compile=False``, the compile settings (optimizer, loss, metrics). The optimizer's
    state is not read: ``fit`` continues from a fresh optimizer. ``custom_objects``: name -> class or
    function for objects of your own the file names. ``safe_mode`` is Keras's argument; clearconv is
    always safe: a Lambda layer (code) is refused whatever its value. Raises ModelFileError (see
    :mod:`clearconv.io.errors`).
    """
    if custom_objects is not None and not isinstance(custom_objects, dict):
        raise TypeError(f"load_keras: `custom_objects` must be a dict of name -> object; received "
                        f"{type(custom_objects).__name__}")
    path = os.fspath(filepath)
    with open_regular_file(path) as file:
        head = file.read(8)
        file.seek(0)
        if head == _HDF5_SIGNATURE:
            return _load_legacy_h5(path, file, custom_objects, compile)
        return _load_keras_zip(path, file, custom_objects, compile)


def save_keras(model, filepath) -> None:
    """Write ``model`` as a Keras 3 ``.keras`` file that ``keras.saving.load_model(path, safe_mode=True)``
    loads: metadata.json, config.json (with compile_config when compiled), model.weights.h5 (no optimizer
    state). Atomic: a failure leaves any previous file in place. ValueError for what Keras's format cannot
    hold (see :func:`config_to_keras`)."""
    from .writing import atomic_file
    entry = config_to_keras(model)
    compile_config = _compile_to_keras(getattr(model, "_compile_config", None))
    if compile_config:
        entry["compile_config"] = compile_config
    metadata = {"keras_version": KERAS_VERSION, "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")}
    weights = _weights_bytes(model, entry)

    with atomic_file(filepath) as file:
        with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_STORED) as archive:
            archive.writestr(METADATA_MEMBER, json.dumps(metadata))
            archive.writestr(CONFIG_MEMBER, json.dumps(entry))
            archive.writestr(WEIGHTS_MEMBER, weights)


def save_keras_weights(model, filepath) -> None:
    """Write ``model``'s weights as a Keras 3 ``.weights.h5`` file (Keras's ``model.load_weights`` reads it).
    Atomic, as :func:`save_keras`."""
    from .writing import atomic_file
    data = _weights_bytes(model, config_to_keras(model))
    with atomic_file(filepath) as file:
        file.write(data)


def load_keras_weights(model, filepath) -> None:
    """Load a Keras 3 ``.weights.h5`` file (Keras's ``model.save_weights``), or the weights of a ``.keras``
    file, into ``model``, a model of the same architecture; a legacy HDF5 weights (or model) file is read
    by layer name. Every dataset is read
    and checked before any weight changes. Raises ModelFileError."""
    path = os.fspath(filepath)
    limit = _hdf5_limit(model.weights, 1 + OPTIMIZER_SLOTS)
    member = ""
    with open_regular_file(path) as file:
        if file.read(4) == b"PK\x03\x04":     # a .keras file: its weights member
            file.seek(0)
            archive = ZipArchive(path, file)
            try:
                if WEIGHTS_MEMBER not in archive.names:
                    raise ModelFileError(path, "", f"not a Keras 3 .keras file (it lacks {WEIGHTS_MEMBER})")
                member, data = WEIGHTS_MEMBER, _read_weights_member(archive, limit)
            finally:
                archive.close()
        else:
            size = os.fstat(file.fileno()).st_size
            if size > limit:
                raise ModelFileError(path, "", f"holds {size:,} bytes, more than the {limit:,} a weights file of "
                                               f"this model can hold")
            file.seek(0)
            data = file.read(limit + 1)
    with _open_hdf5(path, member, io.BytesIO(data)) as h5file:
        try:
            if "layers" in h5file or "vars" in h5file:
                pairs = _read_keras3_weights(path, "", h5file, model, config_to_keras(model))
            else:
                pairs = _read_legacy_weights(path, h5file, model)
        except ModelFileError:
            raise
        except _h5_errors() as error:
            raise ModelFileError(path, "", f"truncated or corrupt ({type(error).__name__}: {error})") from None
    _assign(pairs)
