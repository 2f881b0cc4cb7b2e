"""Checks of a model file's contents, before and after the model is built from them.

Loading (:mod:`clearconv.io.native`) runs them in this order, and each raises
:class:`~clearconv.io.errors.ModelFileError` naming the file, the member and
the field (``layer 'conv2d_1' (Conv2D): dilation_rate[0]``):

1. :func:`check_numbers` on every JSON member: no NaN or infinity, no
   integer beyond ``MAX_SIZE`` (2**31 - 1: no size, count or hyper-parameter
   of a model is larger; seeds may reach 2**64).
2. :func:`check_metadata` and :func:`check_config`: the structure of the
   metadata, of every (nested) model and layer entry, of the functional
   calls, of the op nodes' arguments and of the compile settings, and every
   declared shape (sizes from 1 to MAX_SIZE, at most MAX_SIZE elements).
   The values of a layer's arguments are then checked by its constructor,
   whose ValueError or TypeError the loader reports as a ModelFileError.
3. :func:`check_weight_specs`: the stored arrays' declared shapes and dtypes
   against the weights the built model has (and the metadata lists), before
   any array is read.
4. :func:`check_weight_values`: finite values, non-negative variances.
5. :func:`check_optimizer_specs` / :func:`check_optimizer_values`: the
   optimizer state's dtypes, shapes and values.
6. :func:`check_runnable`: every tensor the model computes (and every input
   a convolution or pooling pads) holds at most MAX_SIZE elements per sample,
   with every size positive, so ``predict`` can run.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .errors import ModelFileError

MAX_SIZE = 2**31 - 1          # largest size, count or integer argument; most elements in one sample's tensor
MAX_SEED = 2**64              # seeds are unsigned 64-bit at most
MAX_TRIAL_ELEMENTS = 2**28   # elements of the zeros an op node is run on to infer its output (1 GiB float32)
MAX_LAYERS = 4096             # layer entries in one file (ResNet-152 has about 520): bounds what a file builds
MAX_CALLS = 4 * MAX_LAYERS    # layer calls of the functional models in one file
FLOAT_DTYPES = ("float16", "float32", "float64")
_SHAPE_KEYS = ("batch_shape", "batch_input_shape", "input_shape")
_MODEL_CLASSES = ("Sequential", "Functional", "Model")


# --------------------------------------------------------------------------------------------------
# Field locations and the shape of JSON values
# --------------------------------------------------------------------------------------------------

def _where(context: str, steps: tuple) -> str:
    """``layer 'dense' (Dense): units`` or ``compile.optimizer.config.learning_rate``."""
    text = ""
    for step in steps:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else str(step))
    return f"{context}: {text}" if context and text else context or text or "the top level"


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_numbers(path: str, member: str, tree) -> None:
    """Every float finite and every integer within MAX_SIZE (a key ``seed``: within MAX_SEED)."""
    stack = [(tree, "", ())]
    while stack:
        value, context, steps = stack.pop()
        if isinstance(value, dict):
            name = value.get("class_name")
            if isinstance(name, str) and isinstance(value.get("config"), dict):
                label = value.get("name", value["config"].get("name"))
                context, steps = (f"{name} {label!r}" if isinstance(label, str) else name), ()
            stack.extend((item, context, steps + (key,)) for key, item in value.items())
        elif isinstance(value, list):
            stack.extend((item, context, steps + (index,)) for index, item in enumerate(value))
        elif isinstance(value, float) and not math.isfinite(value):
            raise ModelFileError(path, member, f"{_where(context, steps)} is {value}; every number in a model "
                                               f"file is finite")
        elif _is_int(value):
            seed = bool(steps) and steps[-1] == "seed"
            if abs(value) > (MAX_SEED if seed else MAX_SIZE):
                bound = "2**64 for a seed" if seed else "2**31 - 1, the largest size or count a model holds"
                raise ModelFileError(path, member, f"{_where(context, steps)} is {value}, beyond {bound}")


# --------------------------------------------------------------------------------------------------
# metadata.json
# --------------------------------------------------------------------------------------------------

def check_metadata(path: str, metadata, formats: tuple, format_version: int) -> list:
    """The metadata's weight list as ``[(path, shape, dtype name)]``, after checking every field."""
    def error(reason):
        return ModelFileError(path, "metadata.json", reason)
    if not isinstance(metadata, dict):
        raise error(f"holds a {type(metadata).__name__}; expected an object")
    kind = metadata.get("format")
    if kind not in formats:
        raise error(f"format {kind!r} is not one of {formats}")
    version = metadata.get("format_version")
    if not _is_int(version) or not 1 <= version <= format_version:
        newer = _is_int(version) and version > format_version
        raise error(f"format_version {version!r} is " + ("newer than this clearconv reads "
                    f"({format_version}); upgrade clearconv" if newer else f"not an integer from 1 to "
                                                                       f"{format_version}"))
    if not isinstance(metadata.get("clearconv_version", ""), str):
        raise error(f"clearconv_version must be a string; received {metadata['clearconv_version']!r}")
    weights = metadata.get("weights")
    if not isinstance(weights, list):
        raise error(f"weights must be a list of [path, shape, dtype]; received {type(weights).__name__}")
    listed = []
    for index, entry in enumerate(weights):
        if not (isinstance(entry, list) and len(entry) == 3 and isinstance(entry[0], str)
                and isinstance(entry[1], list) and all(_is_int(d) and d >= 0 for d in entry[1])
                and entry[2] in FLOAT_DTYPES):
            raise error(f"weights[{index}] must be [path, shape of sizes >= 0, one of {FLOAT_DTYPES}]; "
                        f"received {entry!r}")
        listed.append((entry[0], tuple(entry[1]), entry[2]))
    return listed


# --------------------------------------------------------------------------------------------------
# config.json: the structure of models, layers, calls and op arguments
# --------------------------------------------------------------------------------------------------

def check_shape(shape, what: str) -> tuple:
    """``shape`` (a batch shape: sizes or None) as a tuple; ValueError unless every known size is from 1
    to MAX_SIZE and the known sizes multiply to at most MAX_SIZE."""
    if not isinstance(shape, (list, tuple)) or not 1 <= len(shape) <= 8 \
            or not all(d is None or (_is_int(d) and 1 <= d <= MAX_SIZE) for d in shape):
        raise ValueError(f"{what} must be a list of 1 to 8 sizes, each None or an integer from 1 to {MAX_SIZE}; "
                         f"received {shape!r}")
    if math.prod(d for d in shape if d is not None) > MAX_SIZE:
        raise ValueError(f"{what} {tuple(shape)} holds more than {MAX_SIZE} elements")
    return tuple(shape)


def check_trial_run(shapes: list, what: str) -> None:
    """ValueError when a trial run on zeros of ``shapes`` (unknown sizes taken as 3, as
    :func:`clearconv.layers.base.probe_output_spec` takes them at most) would allocate more than
    MAX_TRIAL_ELEMENTS elements: loading must not cost more than the model it loads."""
    elements = sum(math.prod(3 if d is None else d for d in shape) for shape in shapes)
    if elements > MAX_TRIAL_ELEMENTS:
        raise ValueError(f"{what} infers its output by running on zeros of shape(s) {shapes}: {elements:,} "
                         f"elements, more than the {MAX_TRIAL_ELEMENTS:,} loading allocates for a trial run")


def _check_leaves(value, accept, complaint: str) -> None:
    """Walk lists and dict values down to the leaves (everything else); a ValueError, ``complaint`` followed
    by the leaf's repr, at the first leaf ``accept`` refuses."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif not accept(item):
            raise ValueError(f"{complaint}{item!r}")


def _check_refs(refs, where: str) -> None:
    """A structure of tensor indices (ints >= 0 in lists and string-keyed dicts)."""
    _check_leaves(refs, lambda item: _is_int(item) and item >= 0,
                  f"{where} must name tensors by their index (integers >= 0); received ")


def _check_plain(value, where: str) -> None:
    """A structure of plain JSON values (None, bools, numbers, strings) in lists and dicts."""
    _check_leaves(value, lambda item: item is None or isinstance(item, (bool, int, float, str)),
                  f"{where} must hold plain values; received ")


def _check_op_argument(value, where: str) -> int:
    """An encoded op argument (see clearconv.layers.operation.encode); returns the largest tensor slot + 1."""
    slots = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
            continue
        if not isinstance(item, dict):
            if not (item is None or isinstance(item, (bool, int, float, str))):
                raise ValueError(f"{where}: an op argument of type {type(item).__name__}")
            continue
        keys = set(item)
        if keys == {"__tensor__"} and _is_int(item["__tensor__"]) and item["__tensor__"] >= 0:
            slots = max(slots, item["__tensor__"] + 1)
        elif keys == {"__slice__"} and isinstance(item["__slice__"], list) and len(item["__slice__"]) == 3 \
                and all(v is None or _is_int(v) for v in item["__slice__"]) and item["__slice__"][2] != 0:
            pass
        elif keys == {"__ellipsis__"} and item["__ellipsis__"] is True:
            pass
        elif keys == {"__tuple__"} and isinstance(item["__tuple__"], list):
            stack.extend(item["__tuple__"])
        elif keys == {"__dict__"} and isinstance(item["__dict__"], dict):
            stack.extend(item["__dict__"].values())
        elif keys == {"__array__", "dtype"} and item["dtype"] in ("bool", "int32", "int64", *FLOAT_DTYPES):
            _check_plain(item["__array__"], where)
            try:
                np.asarray(item["__array__"], dtype=item["dtype"])
            except (ValueError, TypeError, OverflowError) as error:
                raise ValueError(f"{where}: an array constant that is not an array of {item['dtype']} "
                                 f"({error})") from None
        else:
            raise ValueError(f"{where}: not an encoded op argument (a tensor slot, slice, tuple, dict, "
                             f"ellipsis, array of numbers or plain value): {item!r}"[:300])
    return slots


def _operation_arguments(config: dict, where: str) -> int:
    """The op node's arguments are ((args...), {kwargs}); returns how many tensors they take."""
    arguments = config.get("arguments")
    if not (isinstance(arguments, dict) and set(arguments) == {"__tuple__"}
            and isinstance(arguments["__tuple__"], list) and len(arguments["__tuple__"]) == 2
            and isinstance(arguments["__tuple__"][0], dict) and set(arguments["__tuple__"][0]) == {"__tuple__"}
            and isinstance(arguments["__tuple__"][1], dict) and set(arguments["__tuple__"][1]) == {"__dict__"}):
        raise ValueError(f"{where}: `arguments` must encode ((args...), {{kwargs}}); received {arguments!r}"[:300])
    if not isinstance(config.get("op"), str):
        raise ValueError(f"{where}: `op` must be the name of a registered op; received {config.get('op')!r}")
    return _check_op_argument(arguments, where)


def _layer_name(entry: dict, where: str) -> str:
    name = entry.get("name", entry["config"].get("name"))
    if not isinstance(name, str) or not name:
        raise ValueError(f"{where}: a layer's `name` must be a non-empty string; received {name!r}")
    return name


def check_layer_entry(entry, where: str, layers: int) -> None:
    """The form every layer entry of every format's config has, ``{"class_name": str, "config": {...}}``, and
    ``layers`` (the entries counted so far, this one included) within MAX_LAYERS; ValueError otherwise."""
    if layers > MAX_LAYERS:
        raise ValueError(f"the file describes more than {MAX_LAYERS} layers")
    if not isinstance(entry, dict) or not isinstance(entry.get("class_name"), str) \
            or not isinstance(entry.get("config"), dict):
        raise ValueError(f"{where} must be {{'class_name': str, 'config': {{...}}}}; received {entry!r}"[:300])


def _check_entry(entry, where: str, counts: dict) -> None:
    """One ``{"class_name", "config", "name"}`` entry; models nested in it are checked in turn.
    ``counts`` tallies the layers and calls seen, refused beyond MAX_LAYERS and MAX_CALLS."""
    counts["layers"] += 1
    check_layer_entry(entry, where, counts["layers"])
    config, name = entry["config"], entry["class_name"]
    where = f"{where} ({name} {entry.get('name', config.get('name'))!r})"
    if "name" in entry or "name" in config:
        _layer_name(entry, where)
    if "trainable" in config and not isinstance(config["trainable"], bool):
        raise ValueError(f"{where}: `trainable` must be true or false; received {config['trainable']!r}")
    for key in _SHAPE_KEYS:
        if config.get(key) is not None:
            check_shape(config[key], f"{where}: `{key}`")
    if name == "Operation":
        _operation_arguments(config, where)
    elif name == "Lambda" and "function" not in config:
        raise ValueError(f"{where}: a Lambda layer's config names its `function` (a registered function)")
    elif name == "Sequential":
        _check_sequential(config, where, counts)
    elif name in ("Functional", "Model"):
        if "calls" not in config:   # Model.from_config would make a subclassed model with no call()
            raise ValueError(f"{where}: a functional model's config needs its `calls`; a subclassed model is "
                             f"saved under its own registered class name")
        _check_functional(config, where, counts)


def _check_sequential(config: dict, where: str, counts: dict) -> None:
    if not isinstance(config.get("layers"), list) or not config["layers"]:
        raise ValueError(f"{where}: `layers` must be a non-empty list of layer entries; received "
                         f"{config.get('layers')!r}"[:300])
    for index, entry in enumerate(config["layers"]):
        _check_entry(entry, f"{where}: layers[{index}]", counts)


def _check_functional(config: dict, where: str, counts: dict) -> None:
    layers, calls = config.get("layers"), config.get("calls")
    if not isinstance(layers, list) or not isinstance(calls, list):
        raise ValueError(f"{where}: a functional model needs `layers` and `calls` lists")
    counts["calls"] += len(calls)
    if counts["calls"] > MAX_CALLS:
        raise ValueError(f"the file describes more than {MAX_CALLS} layer calls")
    names = set()
    for index, entry in enumerate(layers):
        _check_entry(entry, f"{where}: layers[{index}]", counts)
        name = _layer_name(entry, f"{where}: layers[{index}]")
        if name in names:
            raise ValueError(f"{where}: two layers are named {name!r}")
        names.add(name)
    for index, call in enumerate(calls):
        at = f"{where}: calls[{index}]"
        if not isinstance(call, dict) or not set(call) <= {"layer", "args", "kwargs"} or "args" not in call:
            raise ValueError(f"{at} must be {{'layer', 'args', 'kwargs'}}; received {call!r}"[:300])
        if not isinstance(call.get("layer"), str) or call["layer"] not in names:
            raise ValueError(f"{at} calls the layer {call.get('layer')!r}, which the model does not have")
        _check_refs(call["args"], f"{at}: args")
        if not isinstance(call.get("kwargs", {}), dict):
            raise ValueError(f"{at}: kwargs must be an object of constant arguments")
        _check_plain(call.get("kwargs", {}), f"{at}: kwargs")
    for key in ("inputs", "outputs"):
        _check_refs(config.get(key), f"{where}: {key}")


def check_config(path: str, config) -> None:
    """The structure of config.json: ``{"model": entry, "compile": null or {...}}``."""
    def error(reason):
        return ModelFileError(path, "config.json", reason)
    if not isinstance(config, dict) or not isinstance(config.get("model"), dict):
        raise error("must be an object with the architecture under 'model'")
    try:
        _check_entry(config["model"], "model", {"layers": 0, "calls": 0})
    except ValueError as problem:
        raise error(str(problem)) from None
    compile_config = config.get("compile")
    if compile_config is None:
        return
    if not isinstance(compile_config, dict):
        raise error(f"compile must be null or an object; received {compile_config!r}"[:300])
    optimizer = compile_config.get("optimizer")
    if not (isinstance(optimizer, dict) and isinstance(optimizer.get("class_name"), str)
            and isinstance(optimizer.get("config", {}), (dict, type(None)))):
        raise error(f"compile.optimizer must be {{'class_name': str, 'config': {{...}}}}; received "
                    f"{optimizer!r}"[:300])
    loss = compile_config.get("loss")
    if not (isinstance(loss, list) and loss and all(item is None or isinstance(item, (str, dict)) for item in loss)):
        raise error(f"compile.loss must be a non-empty list of losses (names, configs or null); received "
                    f"{loss!r}"[:300])
    for key in ("metrics", "weighted_metrics"):
        if not isinstance(compile_config.get(key), (list, dict, str, type(None))):
            raise error(f"compile.{key} must be null, a list or an object; received {compile_config.get(key)!r}")
    weights = compile_config.get("loss_weights")
    if weights is not None and not (isinstance(weights, list) and len(weights) == len(loss)
                                    and all(w is None or (_is_number(w) and w >= 0) for w in weights)):
        raise error(f"compile.loss_weights must be null or one number >= 0 (or null) per loss; received "
                    f"{weights!r}"[:300])


# --------------------------------------------------------------------------------------------------
# Weights and optimizer state
# --------------------------------------------------------------------------------------------------

def check_weight_specs(path: str, member: str, variables: list, specs: dict, listed: list) -> list:
    """The array keys in ``variables`` order (``w0000``, ...) once the stored arrays' declared shapes and
    dtypes (``specs``) and the metadata's list (``listed``) match the model's weights."""
    keys = [f"w{index:04d}" for index in range(len(variables))]
    if sorted(specs) != keys or len(listed) != len(variables):
        raise ModelFileError(path, member, f"holds {len(specs)} arrays ({', '.join(sorted(specs)[:6])}"
                                           f"{', ...' if len(specs) > 6 else ''}) and metadata lists "
                                           f"{len(listed)}; the model has {len(variables)} weights")
    for key, variable, (_, shape, dtype) in zip(keys, variables, listed):
        stored_shape, stored_dtype = specs[key]
        expected = (tuple(variable.shape), np.dtype(variable.dtype))
        if stored_shape != expected[0] or stored_shape != shape:
            raise ModelFileError(path, member, f"{key} ({variable.path}) has shape {stored_shape}, metadata lists "
                                               f"{shape}; the model's weight has shape {expected[0]}")
        if stored_dtype.newbyteorder("=") != expected[1] or dtype != expected[1].name:
            raise ModelFileError(path, member, f"{key} ({variable.path}) has dtype {stored_dtype}, metadata lists "
                                               f"{dtype}; the model's weight is {expected[1]}")
    return keys


def nonnegative_weights(model) -> dict:
    """id(variable) -> description, for the weights that must hold no negative value (variances)."""
    from ..layers.normalization import BatchNormalization
    from ..layers.preprocessing import Normalization
    from .random_state import walk_layers
    found = {}
    for _, layer in walk_layers(model):
        if isinstance(layer, BatchNormalization) and getattr(layer, "moving_variance", None) is not None:
            found[id(layer.moving_variance)] = "a moving_variance"
        if isinstance(layer, Normalization) and getattr(layer, "variance", None) is not None:
            found[id(layer.variance)] = "a variance"
    return found


def check_weight_values(path: str, member: str, key: str, variable, value: np.ndarray, nonnegative: dict) -> None:
    if not np.isfinite(value).all():
        raise ModelFileError(path, member, f"{key} ({variable.path}) holds NaN or infinite values")
    what = nonnegative.get(id(variable))
    if what is not None and (value < 0).any():
        raise ModelFileError(path, member, f"{key} ({variable.path}) is {what} and holds negative values "
                                           f"(e.g. {value[value < 0].flat[0]})")


def check_optimizer_specs(path: str, member: str, specs: dict) -> None:
    """``iterations`` an integer scalar, ``learning_rate`` a float scalar, every other array floats."""
    if "iterations" not in specs:
        raise ModelFileError(path, member, "iterations is missing")
    for key, (shape, dtype) in specs.items():
        if key == "iterations":
            fits = shape == () and dtype.kind in "iu"
        elif key == "learning_rate":
            fits = shape == () and dtype.kind == "f"
        else:
            fits = dtype.kind == "f"
        if not fits:
            raise ModelFileError(path, member, f"{key} has shape {shape} and dtype {dtype}; expected "
                                               + ("an integer scalar" if key == "iterations" else
                                                  "a float scalar" if key == "learning_rate" else "floats"))


def check_optimizer_values(path: str, member: str, state: dict) -> None:
    for key, value in state.items():
        if key == "iterations":
            if not 0 <= int(value) <= MAX_SIZE:
                raise ModelFileError(path, member, f"iterations is {int(value)}; expected 0 to {MAX_SIZE}")
        elif not np.isfinite(value).all():
            raise ModelFileError(path, member, f"{key} holds NaN or infinite values")
        elif key == "learning_rate" and value < 0:
            raise ModelFileError(path, member, f"learning_rate is {float(value)}; expected a number >= 0")


# --------------------------------------------------------------------------------------------------
# The built model can run
# --------------------------------------------------------------------------------------------------

def _padded_input(layer, shape):
    """The per-sample shape a convolution or pooling pads its input to, or None when no padding applies
    (transposed convolutions pad their output, which the output's shape already shows)."""
    from ..kernels import shapes
    from ..layers.conv import _BaseConv, _ConvTranspose
    from ..layers.pooling import _Pooling
    if isinstance(layer, _ConvTranspose) or not isinstance(layer, (_BaseConv, _Pooling)):
        return None
    spatial = layer._spatial(shape)
    if isinstance(layer, _Pooling):
        pads = [shapes.pool_padding(n, p, s, layer.padding) if n is not None else (0, 0)
                for n, p, s in zip(spatial, layer.pool_size, layer.strides)]
    else:
        pads = [shapes.conv_padding(n, k, s, d, layer.padding) if n is not None else (0, 0)
                for n, k, s, d in zip(spatial, layer.kernel_size, layer.strides, layer.dilation_rate)]
    padded = tuple(None if n is None else n + before + after for n, (before, after) in zip(spatial, pads))
    return padded, shape[layer._channel_axis()]


def _tensor_problem(shape) -> str | None:
    if not all(d is None or (_is_int(d) and d >= 1) for d in shape):
        return f"has the shape {tuple(shape)}: every size must be a positive integer"
    elements = math.prod(d for d in shape[1:] if d is not None)
    if elements > MAX_SIZE:
        return f"has the shape {tuple(shape)}: {elements:,} elements per sample, more than {MAX_SIZE:,}"
    return None


def check_runnable(path: str, model) -> None:
    """Every tensor of the model's graph (nested graphs included) has positive sizes and at most MAX_SIZE
    elements per sample, and so has every input a convolution or pooling pads."""
    pending = [model]
    while pending:
        graph = pending.pop()
        if not getattr(graph, "_graph", False):
            continue
        for tensor in list(graph.inputs) + list(graph._nodes):
            problem = _tensor_problem(tensor.shape)
            if problem:
                raise ModelFileError(path, "config.json", f"the output of layer '{tensor.layer.name}' {problem}")
        for node in graph._nodes:
            layer = node.layer
            if getattr(layer, "_graph", False):
                pending.append(layer)
            inputs = node.inputs
            if len(inputs) != 1:
                continue
            padded = _padded_input(layer, inputs[0].shape)
            if padded is None:
                continue
            spatial, channels = padded
            elements = math.prod(d for d in (*spatial, channels) if d is not None)
            if elements > MAX_SIZE:
                raise ModelFileError(path, "config.json", f"layer '{layer.name}': for inputs of shape "
                                                          f"{tuple(inputs[0].shape)} its padded input would be "
                                                          f"{spatial} x {channels} ({elements:,} elements per "
                                                          f"sample, more than {MAX_SIZE:,}): predict could not run")
