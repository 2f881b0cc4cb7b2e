"""`clearconv explain`: one output value of one layer, worked out as the tutorials write it.

The model is a model file or a zoo model (built untrained, which the output says); the input an image
file (``--input``, read as ``clearconv predict`` reads it) or example ``--index`` of a dataset's test
split (``--data``). ``--layer`` defaults to the first convolution layer, ``--at`` to index 0 on every axis.
"""

from __future__ import annotations

import os

import numpy as np

from .errors import FileError, UsageError, report
from .files import load_dataset, load_model_file


def _model(target: str):
    from .. import zoo
    if os.path.exists(target):
        return load_model_file(target, compile=False), False
    if target in zoo.MODELS:
        return zoo.get(target), True
    raise UsageError(f"{target!r} is neither a model file nor a zoo model ({', '.join(sorted(zoo.MODELS))})")


def _input(args, model) -> np.ndarray:
    shape = tuple(model.inputs[0].shape[1:])
    if args.input is not None:
        from .predict import prepare_image
        if len(shape) != 3 or shape[2] not in (1, 3):
            raise FileError(f"{args.target}: the model takes inputs of shape {shape}, not images")
        pixels, notes = prepare_image(args.input, shape)
        for note in notes:
            report("explain", "note", note)
        return pixels[np.newaxis]
    _, (x_test, _) = load_dataset(args.data, args.seed)
    if args.index >= len(x_test):
        raise UsageError(f"--index {args.index}: the test split of {args.data} has {len(x_test)} examples "
                         f"(0 to {len(x_test) - 1})")
    x = np.asarray(x_test[args.index:args.index + 1])
    if tuple(x.shape[1:]) != tuple(d if d is not None else n for d, n in zip(shape, x.shape[1:])) \
            or len(x.shape) - 1 != len(shape):
        raise FileError(f"{args.target}: the model takes inputs of shape {shape}; {args.data} examples have "
                        f"shape {tuple(x.shape[1:])}")
    return x


def _layer(args, model):
    from ..layers import conv
    if args.layer is not None:
        names = [layer.name for layer in model.layers]
        if args.layer not in names:
            raise UsageError(f"--layer {args.layer}: no such layer in {model.name} ({', '.join(names)})")
        return model.get_layer(args.layer)
    for layer in model.layers:
        if isinstance(layer, (conv._Conv, conv._DepthwiseConv)):
            return layer
    raise UsageError(f"{model.name} has no convolution layer: name one with --layer")


def _output_shape(model, layer, x) -> tuple:
    from ..explain.trace import _find_node
    values = model.run_graph(x, training=False, force_training=True)
    return tuple(np.asarray(values[id(_find_node(model, layer))]).shape[1:])


def run(args) -> int:
    from ..explain import SUPPORTED_LAYERS, trace
    from ..explain.worked import worked_example
    model, untrained = _model(args.target)
    if len(model.inputs) != 1:
        raise FileError(f"{args.target}: explain takes models of one input; this one has {len(model.inputs)}")
    layer = _layer(args, model)
    if type(layer).__name__ not in SUPPORTED_LAYERS:
        raise UsageError(f"--layer {layer.name}: {type(layer).__name__} layers cannot be explained; supported "
                         f"kinds: {', '.join(SUPPORTED_LAYERS)}")
    x = _input(args, model)
    shape = _output_shape(model, layer, x)
    at = (0,) * len(shape) if args.at is None else args.at
    if len(at) != len(shape) or any(not 0 <= i < n for i, n in zip(at, shape)):
        raise UsageError(f"--at {','.join(map(str, at))}: layer {layer.name}'s output has shape {shape} (batch "
                         f"axis left out); give {len(shape)} integers, each from 0 to its size - 1")
    source = args.input if args.input is not None else f"{args.data} test example {args.index}"
    print(f"model {model.name}{' (zoo model, untrained: random weights)' if untrained else ''}, input {source}")
    print(worked_example(trace(model, x, layer, at)))
    return 0
