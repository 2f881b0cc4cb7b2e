"""What the commands read and write: model files (or zoo models), datasets, the one example that
``explain``, ``plot features`` and ``report`` feed a model (``--input IMAGE | --data NAME --index K``), the
layer ``--layer`` names, and the trained model's destination.

Every failure becomes a UsageError (exit 2) or FileError (exit 1) whose message names the file.
"""

from __future__ import annotations

import os
import tempfile
import time

from .errors import FileError, UsageError, one_line


def _naming(path: str, error: BaseException) -> str:
    """The error's message, prefixed with the path unless it names it already."""
    message = one_line(error)
    return message if path in message else f"{path}: {message}"


def check_readable(path: str, what: str) -> None:
    if not os.path.exists(path):
        raise FileError(f"{path}: no such file")
    if os.path.isdir(path):
        raise FileError(f"{path}: is a folder, not {what}")
    if os.path.getsize(path) == 0:
        raise FileError(f"{path}: the file is empty, not {what}")


def load_model_file(path: str, compile: bool):
    """The model saved at ``path``; a FileError naming it when it cannot be read."""
    from ..models import load_model
    check_readable(path, "a model file")
    try:
        return load_model(path, compile=compile)
    except Exception as error:  # the loader's errors (ValueError, OSError, ...) all mean: this file is unusable
        raise FileError(_naming(path, error)) from error


def model_or_zoo(target: str):
    """(model, untrained) for a model file or a zoo model's name (built with random weights)."""
    from .. import zoo
    if os.path.exists(target):
        return load_model_file(target, compile=False), False
    if target in zoo.MODELS:
        return zoo.get(target), True
    raise UsageError(f"{target!r} is neither a model file nor a zoo model ({', '.join(sorted(zoo.MODELS))})")


def example_input(args, model, command: str):
    """One example for ``model``, shape (1, *input shape): the image ``args.input`` (read as ``predict``
    reads it, notes on stderr) or example ``args.index`` of ``args.data``'s test split (drawn with
    ``args.seed``). Used by the commands that take ``--input IMAGE | --data NAME --index K``."""
    import numpy as np
    from .errors import report
    shape = tuple(model.inputs[0].shape[1:])
    if args.input is not None:
        from .predict import prepare_image
        if len(shape) != 3 or shape[2] not in (1, 3):
            raise FileError(f"{args.target}: the model takes inputs of shape {shape}, not images")
        pixels, notes = prepare_image(args.input, shape)
        for note in notes:
            report(command, "note", note)
        return pixels[np.newaxis]
    _, (x_test, _) = load_dataset(args.data, args.seed)
    if args.index >= len(x_test):
        raise UsageError(f"--index {args.index}: the test split of {args.data} has {len(x_test)} examples "
                         f"(0 to {len(x_test) - 1})")
    x = np.asarray(x_test[args.index:args.index + 1])
    if len(x.shape) - 1 != len(shape) \
            or tuple(x.shape[1:]) != tuple(d if d is not None else n for d, n in zip(shape, x.shape[1:])):
        raise FileError(f"{args.target}: the model takes inputs of shape {shape}; {args.data} examples have "
                        f"shape {tuple(x.shape[1:])}")
    return x


def input_source(args) -> str:
    """How :func:`example_input` names its input: the image file, or the dataset and index."""
    return args.input if args.input is not None else f"{args.data} test example {args.index}"


def pick_layer(name, model):
    """The layer ``--layer name`` names in ``model`` (a name, or a path such as encoder/conv2d for a layer
    inside a nested model); without a name, the first convolution layer."""
    from ..explain.trace import find_layer
    from ..layers import conv
    if name is not None:
        try:
            return find_layer(model, name)
        except ValueError as error:
            raise UsageError(f"--layer {name}: {one_line(error)}") from error
    for layer in model.layers:
        if isinstance(layer, (conv._Conv, conv._DepthwiseConv)):
            return layer
    raise UsageError(f"{model.name} has no convolution layer: name one with --layer")


def dataset_name(spec: str) -> str:
    """The dataset --data names: the name itself, or "mnist" for a folder of IDX files."""
    from ..data import DATASETS
    return spec if spec in DATASETS else "mnist"


def load_dataset(spec: str, seed: int):
    """((x_train, y_train), (x_test, y_test)) for a dataset name or an IDX folder (see arguments.dataset)."""
    from .. import data
    name = dataset_name(spec)
    try:
        if spec in data.DATASETS:
            return data.load(name, seed=seed)
        return data.load(name, data_dir=spec, seed=seed)
    except Exception as error:  # missing files or packages, unreadable IDX files: the data cannot be used
        raise FileError(_naming(spec, error)) from error


def check_output_path(path: str, example: str = "model.clearconv", option: str = "--output") -> None:
    """Refuse, before any work, an --output that is a folder or whose folder is missing (``example``: a file
    name to suggest in that folder; ``option``: how the command line names the path)."""
    if os.path.isdir(path) or not os.path.basename(path):     # a folder, or a path ending in a separator
        raise UsageError(f"{option} {path} is a folder; give a file path such as {os.path.join(path, example)}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.exists(folder):
        raise UsageError(f"{option} {path}: the folder {folder} does not exist")
    if not os.path.isdir(folder):
        raise UsageError(f"{option} {path}: {folder} is not a folder")


def check_model_saves(model, path: str) -> None:
    """Save the untrained model beside ``path`` and delete it: the save after training then meets the same
    folder, the same file name ending (extension) and the same model, so whatever would fail there
    (an unwritable folder, a format clearconv cannot write, a model that cannot be saved) fails now."""
    folder = os.path.dirname(os.path.abspath(path))
    probe = os.path.join(folder, f".probe-{os.getpid()}-{os.path.basename(path)}")
    try:
        model.save(probe)
    except OSError as error:
        raise UsageError(f"cannot write the model to {path} (--output): {error.strerror or one_line(error)}")
    except ValueError as error:    # a file name ending the saver refuses (.keras, .h5)
        raise UsageError(f"--output {one_line(error).replace(probe, path)}")
    except Exception as error:
        raise FileError(f"{model.name} cannot be saved, so its training would be lost: {one_line(error)}") \
            from error
    finally:
        if os.path.exists(probe):
            os.remove(probe)


def _fallback_folders() -> list[str]:
    """The current folder, then the temporary one: those of them that exist."""
    folders = []
    for where in (os.getcwd, tempfile.gettempdir):
        try:
            folders.append(where())
        except OSError:   # the current folder was deleted; no temporary folder is usable
            pass
    return folders


def save_with_fallback(model, path: str) -> tuple[str, str | None]:
    """Save to ``path``; if that fails, to a timestamped file in the current folder or the temporary one.

    Returns (where the model is, why ``path`` failed or None). Raises FileError, listing every
    attempt, only when no copy could be written.
    """
    try:
        model.save(path)
        return path, None
    except Exception as error:  # any failure here would throw the training away: try elsewhere
        reason = one_line(error)
    stem = os.path.splitext(os.path.basename(path))[0] or model.name
    stamp = time.strftime("%Y%m%d-%H%M%S")
    attempts = [f"{path} ({reason})"]
    for folder in _fallback_folders():
        candidate, number = os.path.join(folder, f"{stem}-{stamp}.clearconv"), 1
        while os.path.exists(candidate):
            number += 1
            candidate = os.path.join(folder, f"{stem}-{stamp}-{number}.clearconv")
        try:
            model.save(candidate)
            return candidate, reason
        except Exception as error:
            attempts.append(f"{candidate} ({one_line(error)})")
    raise FileError(f"could not save the trained model: {'; '.join(attempts)}")
