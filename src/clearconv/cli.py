"""The ``clearconv`` command: train, evaluate, predict, summary.

Exit codes: 0 success, 2 usage error, 1 failure (a one-line message; the
traceback only with ``--debug``).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time

import numpy as np

# Default model, epochs and learning rate per dataset: recipes documented in docs/training.md.
RECIPES = {
    "digits": ("digits_cnn", 30, 1e-3),
    "fashion-mnist": ("lenet5", 10, 1e-3),
    "mnist": ("lenet5", 10, 1e-3),
    "mnist1d": ("mnist1d_cnn", 40, 1e-3),
    "signals": ("signal1d", 15, 1e-3),
}


class UsageError(Exception):
    """A mistake in the command line: exit code 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="clearconv", description="Train, evaluate and inspect CNNs in NumPy.")
    parser.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser("train", help="train a zoo model on a dataset and save it")
    train.add_argument("model", nargs="?", help="zoo model name (default: the dataset's recipe)")
    train.add_argument("--data", default="digits",
                       help="digits | fashion-mnist | mnist1d | signals | a folder of MNIST-style IDX files")
    train.add_argument("--epochs", type=int, help="number of epochs (default: the dataset's recipe)")
    train.add_argument("--batch-size", type=int, default=32)
    train.add_argument("--lr", type=float, help="Adam learning rate (default: the dataset's recipe)")
    train.add_argument("--lr-schedule", choices=("constant", "cosine"), default="constant",
                       help="constant: the learning rate throughout; cosine: CosineDecay from it to 0 "
                            "over all training steps")
    train.add_argument("--seed", type=int, default=0, help="seed for initialisation, shuffling and splits")
    train.add_argument("--validation-split", type=float, default=0.1)
    train.add_argument("--output", help="where to save the trained model (default: MODEL-DATA.clearconv)")
    train.add_argument("--quiet", action="store_true", help="no progress bar")

    evaluate = commands.add_parser("evaluate", help="loss and accuracy of a saved model on a dataset's test split")
    evaluate.add_argument("path", help="a model file written by `clearconv train` or model.save()")
    evaluate.add_argument("--data", required=True, help="dataset name or IDX folder, as for train")
    evaluate.add_argument("--batch-size", type=int, default=256)

    predict = commands.add_parser("predict", help="classify image files with a saved model")
    predict.add_argument("path", help="a model file")
    predict.add_argument("images", nargs="+", help="PNG or JPEG files")

    summary = commands.add_parser("summary", help="print the layer table of a model file or a zoo model")
    summary.add_argument("target", help="a model file or a zoo model name")
    return parser


def _load_data(spec: str, seed: int):
    """((x_train, y_train), (x_test, y_test), dataset name) for a name or an IDX folder."""
    from . import data
    if os.path.isdir(spec):
        return (*data.load("mnist", data_dir=spec, seed=seed), "mnist")
    if spec not in data.DATASETS:
        raise UsageError(f"unknown dataset {spec!r}; choose one of {', '.join(data.DATASETS)} or an IDX folder")
    return (*data.load(spec, seed=seed), spec)


def _train(args) -> int:
    from . import optimizers, utils, zoo
    from .data.batches import validation_split_index
    utils.set_seed(args.seed)
    (x_train, y_train), (x_test, y_test), name = _load_data(args.data, args.seed)
    model_name, epochs, learning_rate = RECIPES[name]
    model_name = args.model or model_name
    if model_name not in zoo.MODELS:
        raise UsageError(f"unknown zoo model {model_name!r}; choose one of {', '.join(sorted(zoo.MODELS))}")
    for option, value in (("--epochs", args.epochs), ("--batch-size", args.batch_size)):
        if value is not None and value <= 0:
            raise UsageError(f"{option} must be a positive integer; received {value}")
    if not 0.0 <= args.validation_split < 1.0:
        raise UsageError(f"--validation-split must be in [0, 1); received {args.validation_split}")
    epochs = args.epochs or epochs
    learning_rate = args.lr or learning_rate
    if args.lr_schedule == "cosine":
        fit_samples = len(x_train)
        if args.validation_split:
            fit_samples = validation_split_index(fit_samples, args.validation_split, "--validation-split")
        steps = epochs * math.ceil(fit_samples / args.batch_size)
        learning_rate = optimizers.CosineDecay(learning_rate, decay_steps=steps)
    model = zoo.get(model_name, input_shape=x_train.shape[1:], num_classes=int(y_train.max()) + 1)
    model.compile(optimizer=optimizers.Adam(learning_rate=learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    output = args.output or f"{model_name}-{name}.clearconv"
    start = time.perf_counter()
    history = model.fit(x_train, y_train, batch_size=args.batch_size, epochs=epochs,
                        validation_split=args.validation_split, verbose=0 if args.quiet else 1)
    seconds = time.perf_counter() - start
    loss, accuracy = model.evaluate(x_test, y_test, batch_size=256, verbose=0)
    model.save(output)
    epochs_run = len(history.epoch)
    print(f"{model_name} on {name}: {epochs_run} epochs in {seconds:.1f} s ({seconds / max(1, epochs_run):.1f} s/epoch)")
    print(f"test accuracy {accuracy:.4f} (loss {loss:.4f}) on {len(x_test)} held-out samples")
    print(f"saved to {output}")
    return 0


def _evaluate(args) -> int:
    from .models import load_model
    model = load_model(args.path)
    _, (x_test, y_test), _ = _load_data(args.data, 0)
    loss, accuracy = model.evaluate(x_test, y_test, batch_size=args.batch_size, verbose=0)
    print(f"test accuracy {accuracy:.4f} (loss {loss:.4f}) on {len(x_test)} samples")
    return 0


def _predict(args) -> int:
    from .data import load_image
    from .models import load_model
    model = load_model(args.path, compile=False)
    height, width, channels = model.inputs[0].shape[1:]
    images = np.stack([load_image(path, size=(height, width), grayscale=channels == 1) for path in args.images])
    probabilities = model.predict(images, verbose=0)
    for path, row in zip(args.images, probabilities):
        label = int(np.argmax(row))
        print(f"{path}: class {label} (probability {row[label]:.3f})")
    return 0


def _summary(args) -> int:
    from . import zoo
    from .models import load_model
    if os.path.exists(args.target):
        model = load_model(args.target, compile=False)
    elif args.target in zoo.MODELS:
        model = zoo.get(args.target)
    else:
        raise UsageError(f"{args.target!r} is neither a model file nor a zoo model "
                         f"({', '.join(sorted(zoo.MODELS))})")
    model.summary()
    return 0


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    handlers = {"train": _train, "evaluate": _evaluate, "predict": _predict, "summary": _summary}
    try:
        return handlers[args.command](args)
    except UsageError as error:
        if args.debug:
            raise
        print(f"clearconv {args.command}: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # one line for the user; --debug shows the traceback
        if args.debug:
            raise
        print(f"clearconv {args.command}: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
