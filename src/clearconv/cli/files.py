"""The files the commands read and write: model files, datasets, and the trained model's destination.

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


def _check_readable(path: str, what: str) -> None:
    if not os.path.exists(path):
        raise FileError(f"{path}: no such file")
    if os.path.isdir(path):
        raise FileError(f"{path}: is a folder, not {what}")
    if os.path.getsize(path) == 0:
        raise FileError(f"{path}: the file is empty, not {what}")


def load_model_file(path: str, compile: bool):
    """The model saved at ``path``; a FileError naming it when it cannot be read."""
    from ..models import load_model
    _check_readable(path, "a model file")
    try:
        return load_model(path, compile=compile)
    except Exception as error:  # the loader's errors (ValueError, OSError, ...) all mean: this file is unusable
        raise FileError(_naming(path, error)) from error


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


def check_output_path(path: str) -> None:
    """Refuse, before any work, an --output that is a folder or whose folder is missing."""
    if os.path.isdir(path) or not os.path.basename(path):     # a folder, or a path ending in a separator
        raise UsageError(f"--output {path} is a folder; give a file path such as "
                         f"{os.path.join(path, 'model.clearconv')}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.exists(folder):
        raise UsageError(f"--output {path}: the folder {folder} does not exist")
    if not os.path.isdir(folder):
        raise UsageError(f"--output {path}: {folder} is not a folder")


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
