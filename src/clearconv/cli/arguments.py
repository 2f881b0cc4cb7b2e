"""The command line: subcommands, options, and the checks on every value.

Every value is checked as it is parsed, before any data is read or any model built, so a mistake costs
nothing and its message names the option, the value received and what is accepted.
"""

from __future__ import annotations

import argparse
import math
import os

from .errors import UsageError

SEED_MAX = 2**32 - 1   # NumPy's legacy seeding (and so Keras's set_random_seed) takes [0, 2**32)
MALLOC_NOTE = ("The command keeps freed memory in the process for reuse, a glibc malloc setting that speeds up "
               "training (clearconv.allocator); CLEARCONV_KEEP_FREED_MEMORY=0 turns it off.")


class Parser(argparse.ArgumentParser):
    """argparse, with its errors raised as UsageError (one line, exit 2) instead of printed with the usage."""

    def error(self, message):
        error = UsageError(message)
        error.prog = self.prog
        raise error


def _received(text: str, accepted: str) -> argparse.ArgumentTypeError:
    return argparse.ArgumentTypeError(f"must be {accepted}; received {text!r}")


def _integer(text: str, low: int, high: float, accepted: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise _received(text, accepted) from None
    if not low <= value <= high:
        raise _received(text, accepted)
    return value


def positive_integer(text: str) -> int:
    """--epochs, --batch-size: an integer >= 1."""
    return _integer(text, 1, math.inf, "an integer >= 1")


def non_negative_integer(text: str) -> int:
    """--index: an integer >= 0."""
    return _integer(text, 0, math.inf, "an integer >= 0")


def integers(text: str) -> tuple:
    """--at: integers separated by commas, such as 3,4,0."""
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise _received(text, "integers separated by commas, such as 3,4,0") from None


def seed(text: str) -> int:
    """--seed: an integer in [0, 2**32 - 1]."""
    return _integer(text, 0, SEED_MAX, f"an integer in [0, {SEED_MAX}]")


def _number(text: str, accepted: str, valid) -> float:
    """``float(text)`` when ``valid(value)``, else the error saying what is ``accepted``."""
    try:
        value = float(text)
    except ValueError:
        raise _received(text, accepted) from None
    if not valid(value):
        raise _received(text, accepted)
    return value


def learning_rate(text: str) -> float:
    """--lr: a finite number > 0 (0, negative, nan and inf are refused, never replaced by the default)."""
    return _number(text, "a finite number > 0", lambda value: math.isfinite(value) and value > 0)


def fraction(text: str) -> float:
    """--validation-split, --label-smoothing: a number in [0, 1) (a smoothing of 1 would make every target
    uniform: nothing left to learn)."""
    return _number(text, "a number in [0, 1)", lambda value: 0.0 <= value < 1.0)  # also refuses nan


def weight_decay(text: str) -> float:
    """--weight-decay: a finite number >= 0 (0: Adam; more: AdamW with that decay)."""
    return _number(text, "a finite number >= 0", lambda value: math.isfinite(value) and value >= 0)


def model_name(text: str) -> str:
    """A zoo model's name."""
    from .. import zoo
    if text not in zoo.MODELS:
        what = "the model name is empty" if not text else f"unknown zoo model {text!r}"
        raise argparse.ArgumentTypeError(f"{what}; choose one of {', '.join(sorted(zoo.MODELS))}")
    return text


def dataset(text: str) -> str:
    """--data: a dataset's name, or a folder of MNIST-style IDX files (a name wins over a folder of that name)."""
    from ..data import DATASETS
    if text in DATASETS or os.path.isdir(text):
        return text
    names = ", ".join(DATASETS)
    if os.path.exists(text):
        raise argparse.ArgumentTypeError(f"{text!r} is a file; give a dataset name ({names}) or a folder of "
                                         f"MNIST-style IDX files")
    raise argparse.ArgumentTypeError(f"unknown dataset {text!r}: neither a dataset name ({names}) nor a folder")


def file_path(text: str) -> str:
    """--output: a path, not empty."""
    if not text:
        raise argparse.ArgumentTypeError("must be a file path such as model.clearconv; received ''")
    return text


def input_shape(text: str) -> tuple:
    """--input-shape: positive integers separated by commas or x, such as 32,32,3."""
    accepted = "positive integers separated by commas, such as 32,32,3"
    parts = text.replace("x", ",").split(",")
    try:
        values = tuple(int(part) for part in parts)
    except ValueError:
        raise _received(text, accepted) from None
    if not values or any(value < 1 for value in values):
        raise _received(text, accepted)
    return values


def filter_kernel(text: str) -> str:
    """--kernel: a kernel name or a .npy file holding a 2D array."""
    from ..explain.filters import KERNELS
    if text in KERNELS or text.endswith(".npy"):
        return text
    raise _received(text, f"one of {', '.join(KERNELS)}, or a FILE.npy holding a 2D kernel")


def _example_options(command, required: bool, seed_note: str = "") -> None:
    """--input IMAGE | --data NAME [--index K] [--seed S]: the one example a command feeds its model
    (read by :func:`clearconv.cli.files.example_input`)."""
    source = command.add_mutually_exclusive_group(required=required)
    source.add_argument("--input", help="a PNG, JPEG, BMP, ... file to feed the model")
    source.add_argument("--data", type=dataset, help="a dataset name or IDX folder; its test split, with --index")
    command.add_argument("--index", type=non_negative_integer, default=0,
                         help="which test example of --data (default 0)")
    command.add_argument("--seed", type=seed, default=0,
                         help=f"the seed the test split is drawn with{seed_note} (default 0)")


def parser() -> Parser:
    from .. import __version__
    top = Parser(prog="clearconv", description="Train, evaluate and inspect CNNs in NumPy.", epilog=MALLOC_NOTE)
    top.add_argument("--version", action="version", version=f"clearconv {__version__}")
    top.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser("train", help="train a zoo model on a dataset and save it", epilog=MALLOC_NOTE)
    train.add_argument("model", nargs="?", type=model_name, help="zoo model name (default: the dataset's recipe)")
    train.add_argument("--data", default="digits", type=dataset,
                       help="digits | fashion-mnist | mnist | mnist1d | signals | a folder of MNIST-style IDX "
                            "files (write ./NAME for a folder named like a dataset)")
    train.add_argument("--epochs", type=positive_integer, help="number of epochs, >= 1 (default: the dataset's recipe)")
    train.add_argument("--batch-size", type=positive_integer,
                       help="samples per step, >= 1 (default: the dataset's recipe, 32 for most)")
    train.add_argument("--lr", type=learning_rate,
                       help="Adam learning rate, a finite number > 0 (default: the dataset's recipe)")
    train.add_argument("--lr-schedule", choices=("constant", "cosine"),
                       help="constant: the learning rate throughout; cosine: CosineDecay from it to 0 "
                            "over all training steps (default: the recipe's, constant for most)")
    train.add_argument("--label-smoothing", type=fraction,
                       help="Keras's label_smoothing, in [0, 1): targets become (1 - s) one-hot + s / classes, "
                            "with CategoricalCrossentropy on one-hot labels (default: the recipe's, 0 for most)")
    train.add_argument("--weight-decay", type=weight_decay,
                       help="decoupled weight decay, a finite number >= 0: > 0 trains with AdamW instead of Adam "
                            "(default: the recipe's, 0 for most)")
    train.add_argument("--seed", type=seed, default=0,
                       help=f"seed for initialisation, shuffling and splits, in [0, {SEED_MAX}] (default 0)")
    train.add_argument("--validation-split", type=fraction,
                       help="fraction of the training data held out for validation (its last part, as Keras), "
                            "in [0, 1) (default: the recipe's, 0.1 for most)")
    train.add_argument("--validate-on-test", action="store_true",
                       help="evaluate the test split after every epoch and report it as val_loss and "
                            "val_accuracy (Keras's validation_data): a curve to watch, nothing is chosen by it; "
                            "needs --validation-split 0 or a recipe without one")
    train.add_argument("--log", type=file_path, metavar="CSV",
                       help="write each epoch's logs to this CSV file (Keras's CSVLogger), for "
                            "`clearconv plot history CSV`")
    train.add_argument("--output", type=file_path,
                       help="where to save the trained model (default: MODEL-DATA.clearconv); checked before "
                            "training; if the save fails after training, the model goes to a timestamped file "
                            "in the current folder (or the temporary folder) and the command says where")
    train.add_argument("--quiet", action="store_true", help="no progress bar")

    evaluate = commands.add_parser("evaluate", help="loss and accuracy of a saved model on a dataset's test split")
    evaluate.add_argument("path", help="a model file written by `clearconv train` or model.save()")
    evaluate.add_argument("--data", required=True, type=dataset, help="dataset name or IDX folder, as for train")
    evaluate.add_argument("--batch-size", type=positive_integer, default=256, help="samples per step (default 256)")
    evaluate.add_argument("--seed", type=seed, default=0,
                          help="the --seed the model was trained with: digits and signals draw their test split "
                               "from it, so another seed would score training samples (default 0)")

    predict = commands.add_parser(
        "predict", help="classify image files with a saved model",
        description="Classify image files. Colour images are converted to grayscale for a one-channel model "
                    "(and the reverse), with a note; an image of another size than the model's is refused "
                    "unless --resize is given; an image with a light border (a dark drawing on light paper, "
                    "the opposite of the training images) is reported, and inverted only with --invert.")
    predict.add_argument("path", help="a model file")
    predict.add_argument("images", nargs="+", help="PNG, JPEG, BMP, ... files")
    predict.add_argument("--resize", action="store_true",
                         help="resize images of another size to the model's (bilinear), with a note")
    predict.add_argument("--invert", action="store_true",
                         help="invert the images (1 - pixel): for dark drawings on light paper")

    summary = commands.add_parser("summary", help="print the layer table of a model file or a zoo model")
    summary.add_argument("target", help="a model file or a zoo model name")

    shapes = commands.add_parser("shapes", help="per layer: output shape, parameters, MACs and receptive field")
    shapes.add_argument("target", help="a model file or a zoo model name")
    shapes.add_argument("--input-shape", type=input_shape,
                        help="build the zoo model for this input shape, without the batch axis (e.g. 32,32,3)")

    filtering = commands.add_parser("filter", help="apply a classic image kernel with a depthwise Conv2D")
    filtering.add_argument("image", help="a PNG, JPEG, BMP, ... file, or one of scikit-image's sample photographs "
                                         "(camera, astronaut, coffee, ...; read from the installed package)")
    filtering.add_argument("--kernel", required=True, type=filter_kernel,
                           help="sharpen | blur | box | gaussian | edge | sobel-x | sobel-y | emboss | laplacian "
                                "| a FILE.npy holding a 2D kernel")
    filtering.add_argument("--padding", choices=("same", "valid"), default="same",
                           help="same: output as large as the image (zeros around); valid: no padding")
    filtering.add_argument("-o", "--output", type=file_path,
                           help="the image to write (default: IMAGE-KERNEL.png in the current folder); a .npy "
                                "path gets the unclipped float result for pixels in [0, 1]")

    explain = commands.add_parser(
        "explain", help="one output value of one layer, or Winograd's algorithm, worked out as the tutorials do",
        description="Either TARGET with --input or --data: one output value of one layer, worked out; or "
                    "--winograd 1d|2d: Winograd's F(m, 3) or F(m x m, 3 x 3) step by step on a seeded example "
                    "of small integers (--seed) or on --signal and --kernel files.")
    explain.add_argument("target", nargs="?", help="a model file or a zoo model name (a zoo model is untrained)")
    _example_options(explain, required=False, seed_note=" (with --winograd: the example's seed)")
    explain.add_argument("--layer", help="the layer's name, or nested_model/layer for a layer inside a nested "
                                         "model (default: the first convolution layer)")
    explain.add_argument("--call", type=non_negative_integer,
                         help="for a layer the model calls more than once (shared, or in a nested model called "
                              "on several inputs): which call, 0 for the first in graph order")
    explain.add_argument("--at", type=integers, help="the output index without the batch axis, such as 3,4,0 "
                                                     "(default: all zeros)")
    explain.add_argument("--winograd", choices=("1d", "2d"),
                         help="instead of a model: Winograd's minimal filtering, 1d F(m, 3) or 2d F(m x m, 3 x 3), "
                              "shown step by step (the example drawn with --seed, or --signal and --kernel)")
    explain.add_argument("--tile", type=int, choices=(2, 4),
                         help="with --winograd: the output tile m, 2 or 4 (default 2)")
    explain.add_argument("--signal", help="with --winograd: a FILE.npy holding the input, 1D (n >= 3) or 2D "
                                          "(h, w >= 3) as --winograd says")
    explain.add_argument("--kernel", help="with --winograd: a FILE.npy holding the kernel, (3,) or (3, 3)")

    plot = commands.add_parser("plot", help="draw kernels, feature maps, training curves or a confusion matrix "
                                            "into a PNG (needs matplotlib: the plot extra)")
    pictures = plot.add_subparsers(dest="picture", required=True, metavar="PICTURE")
    kernels = pictures.add_parser("kernels", help="the kernels of a convolution layer as a grid")
    kernels.add_argument("target", help="a model file or a zoo model name (a zoo model is untrained)")
    kernels.add_argument("--layer", help="the layer's name (default: the first convolution layer)")
    features = pictures.add_parser("features", help="the feature maps of a layer for one input")
    features.add_argument("target", help="a model file or a zoo model name (a zoo model is untrained)")
    _example_options(features, required=True)
    features.add_argument("--layer", help="the layer's name (default: the first convolution layer)")
    history = pictures.add_parser("history", help="training curves from a CSVLogger file")
    history.add_argument("csv", help="a CSV file written by the CSVLogger callback")
    confusion = pictures.add_parser("confusion", help="the confusion matrix of a model on a dataset's test split")
    confusion.add_argument("target", help="a model file written by `clearconv train` or model.save()")
    confusion.add_argument("--data", required=True, type=dataset, help="dataset name or IDX folder, as for train")
    confusion.add_argument("--batch-size", type=positive_integer, default=256, help="samples per step (default 256)")
    confusion.add_argument("--seed", type=seed, default=0,
                           help="the --seed the model was trained with, as for evaluate (default 0)")
    for picture in (kernels, features, history, confusion):
        picture.add_argument("-o", "--output", type=file_path,
                             help="the PNG to write (default: a name made of the command's arguments)")

    convert = commands.add_parser(
        "convert", help="convert a model between clearconv's format, Keras (.keras, .h5), ONNX and PyTorch weights",
        description="Read IN (clearconv's own file, a Keras .keras or .h5 file, an ONNX file, or with --like a "
                    "PyTorch state_dict or safetensors file) and write OUT in the format of its extension: "
                    ".keras, .onnx, .weights.h5 (weights in Keras's layout), anything else clearconv's own. OUT "
                    "is read back and its predictions compared with the model's.")
    convert.add_argument("source", metavar="IN", help="the model (or weights) file to read")
    convert.add_argument("output", metavar="OUT", type=file_path, help="the file to write")
    convert.add_argument("--like", help="for weights-only IN files: the architecture, a model file or a zoo model "
                                        "name, whose layers the weights are loaded into in order")

    report = commands.add_parser("report", help="one self-contained HTML page that explains a model on an input: "
                                                "click any feature-map cell to see how it was computed")
    report.add_argument("target", help="a model file or a zoo model name (a zoo model is untrained)")
    _example_options(report, required=True)
    report.add_argument("-o", "--output", type=file_path, default="report.html",
                        help="the HTML file to write (default report.html)")
    return top
