"""`clearconv plot`: kernels, feature maps, training curves or a confusion matrix, drawn into a PNG.

    clearconv plot kernels lenet5 --layer conv2d            -> lenet5-conv2d-kernels.png
    clearconv plot features digits_cnn --data digits        -> digits_cnn-conv2d-features.png
    clearconv plot history training.csv                      -> history.png
    clearconv plot confusion model.clearconv --data digits   -> MODEL-digits-confusion.png

The pictures are those of :mod:`clearconv.explain.plot`. ``--layer`` defaults to the first convolution
layer; ``confusion`` scores the test split exactly as ``clearconv evaluate`` does (same checks, same
``--seed``). ``-o`` names the picture (its ending picks the format: .png, .pdf, .svg, ...); without it,
a name made of the arguments in the current folder. Each prints one line: what was drawn, and where.
Needs matplotlib (``pip install "clearconv[plot]"``).
"""

from __future__ import annotations

import os
import re

import numpy as np

from .errors import FileError, UsageError, one_line
from .files import (check_output_path, dataset_name, example_input, input_source, load_dataset, load_model_file,
                    model_or_zoo, pick_layer)

DIGITS = tuple(str(k) for k in range(10))


def _class_names(name: str) -> tuple | None:
    """The class names of dataset ``name`` where known (labels 0, 1, ... in order)."""
    if name == "fashion-mnist":
        from ..datasets.fashion_mnist import CLASS_NAMES
        return CLASS_NAMES
    if name == "signals":
        return ("healthy", "faulty")
    if name in ("digits", "mnist", "mnist1d"):
        return DIGITS
    return None


def _file_part(text: str) -> str:
    """``text`` fit for a file name: anything but letters, digits, '-', '_' and '.' becomes '_'."""
    return re.sub(r"[^\w.-]", "_", text) or "model"


def _output(args, default: str) -> str:
    """The picture's path: -o, else ``default``; checked before any work."""
    from ..explain.plot import check_path
    path = args.output if args.output is not None else default
    check_output_path(path)
    try:
        check_path(path)
    except ValueError as error:
        raise UsageError(f"--output {path} ends in {one_line(error).split(' ends in ', 1)[-1]}") from None
    return path


def _untrained(untrained: bool) -> str:
    return " (zoo model, untrained: random weights)" if untrained else ""


def _kernels(args) -> str:
    from ..explain import plot
    from ..layers import conv
    model, untrained = model_or_zoo(args.target)
    layer = pick_layer(args.layer, model)
    if not isinstance(layer, (conv._Conv, conv._ConvTranspose, conv._DepthwiseConv)):
        raise UsageError(f"--layer {layer.name}: {type(layer).__name__} layers have no convolution kernel; name "
                         f"a Conv1D/2D/3D, DepthwiseConv1D/2D, SeparableConv1D/2D or Conv1D/2D/3DTranspose layer")
    path = _output(args, f"{_file_part(model.name)}-{_file_part(layer.name)}-kernels.png")
    plot.kernels(layer, path)
    return f"drew the kernels of layer {layer.name} ({type(layer).__name__}) of {model.name}{_untrained(untrained)} " \
           f"in {path}"


def _features(args) -> str:
    from ..explain import plot
    model, untrained = model_or_zoo(args.target)
    if len(model.inputs) != 1:
        raise FileError(f"{args.target}: plot features takes models of one input; this one has "
                        f"{len(model.inputs)}")
    layer = pick_layer(args.layer, model)
    path = _output(args, f"{_file_part(model.name)}-{_file_part(layer.name)}-features.png")
    x = example_input(args, model, "plot")
    plot.features(model, x, layer, path)
    return f"drew the feature maps of layer {layer.name} ({type(layer).__name__}) of {model.name}" \
           f"{_untrained(untrained)} for {input_source(args)} in {path}"


def _history(args) -> str:
    from ..explain import plot
    source = args.csv
    if not os.path.exists(source):
        raise FileError(f"{source}: no such file")
    if os.path.isdir(source):
        raise FileError(f"{source}: is a folder, not a CSV file")
    path = _output(args, "history.png")
    try:
        epochs, _ = plot.read_csv_log(source)
        plot.history(source, path)
    except (ValueError, UnicodeDecodeError, OSError) as error:
        message = one_line(error)
        raise FileError(message if source in message else f"{source}: {message}") from error
    return f"drew the training curves of {len(epochs)} epochs from {source} in {path}"


def _confusion(args) -> str:
    from ..explain import plot
    from .evaluate import check_fits
    model = load_model_file(args.target, compile=False)
    name = dataset_name(args.data)
    path = _output(args, f"{_file_part(model.name)}-{_file_part(name)}-confusion.png")
    _, (x_test, y_test) = load_dataset(args.data, args.seed)
    check_fits(model, args.target, name, x_test, y_test)
    scores = np.asarray(model.predict(x_test, batch_size=args.batch_size, verbose=0))
    classes = scores.shape[1]
    names = _class_names(name)
    if names is not None and len(names) != classes:     # the model scores more classes than the data has
        names = None
    plot.confusion(y_test, scores, path, class_names=names, num_classes=classes,
                   title=f"{model.name} on the {name} test split")
    correct = int(np.sum(np.argmax(scores, axis=1) == y_test))
    return f"drew the confusion matrix of {model.name} on the {len(y_test)} test samples of {name} (accuracy " \
           f"{correct / len(y_test):.4f}) in {path}"


def run(args) -> int:
    from ..data._optional import import_optional
    import_optional("matplotlib", "matplotlib", "plot", f"clearconv plot {args.picture}")
    pictures = {"kernels": _kernels, "features": _features, "history": _history, "confusion": _confusion}
    print(pictures[args.picture](args))
    return 0
