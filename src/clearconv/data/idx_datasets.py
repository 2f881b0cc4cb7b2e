"""Datasets stored as four IDX files in one directory: MNIST, Fashion-MNIST, and any other in that layout.

The four files, gzip-compressed (``.gz``) or not (the reader checks the
content, not the name)::

    train-images-idx3-ubyte   train-labels-idx1-ubyte
    t10k-images-idx3-ubyte    t10k-labels-idx1-ubyte

The variants with a dot (``train-images.idx3-ubyte``, as some mirrors name
them) are accepted too. Nothing is ever downloaded: the directory is taken,
in this order, from the ``data_dir`` argument, the dataset's environment
variable, then (Fashion-MNIST only) the directory where Debian's package
``dataset-fashion-mnist`` installs the files. The first of these that is
given is the one used; a directory that lacks the files is an error, never
a reason to look elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Union

import numpy as np

from .idx import load_idx_pair

PathLike = Union[str, "os.PathLike[str]"]
Split = tuple[np.ndarray, np.ndarray]

TRAIN_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
TEST_FILES = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
FASHION_MNIST_ENV = "CLEARCONV_FASHION_MNIST"
MNIST_ENV = "CLEARCONV_MNIST"
FASHION_MNIST_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")

_FILE_LIST = ", ".join(f"{stem}.gz" for stem in TRAIN_FILES + TEST_FILES)
_FASHION_MNIST_HELP = (
    "To get Fashion-MNIST: on Debian, `apt-get install dataset-fashion-mnist` (it installs the four files "
    f"in {FASHION_MNIST_SYSTEM_DIR}); or put the four IDX files ({_FILE_LIST}; gzip-compressed or not) in a "
    f"directory DIR and pass data_dir=DIR (on the command line: --data DIR) or set {FASHION_MNIST_ENV}=DIR.")
_MNIST_HELP = (
    f"clearconv does not download MNIST. Put the four IDX files ({_FILE_LIST}; gzip-compressed or not) in a "
    f"directory DIR and pass data_dir=DIR (on the command line: --data DIR) or set {MNIST_ENV}=DIR. With only "
    "the two t10k-* files, pass test_only=True.")


def load_idx_dir(path: PathLike, test_only: bool = False) -> tuple[Split, Split]:
    """Read the four IDX files of ``path``: ``(train_images, train_labels), (test_images, test_labels)``.

    Arrays are returned as stored (MNIST: uint8 (N, 28, 28) images, uint8
    (N,) labels). With ``test_only=True`` the train files are not needed and
    the train arrays are empty (0 examples, same trailing shape and dtype).
    Raises FileNotFoundError naming the missing files, ValueError for a
    damaged file or a count mismatch between images and labels.
    """
    return _load_from(Path(path), test_only, help_text="")


def load_mnist(data_dir: PathLike | None = None, test_only: bool = False) -> tuple[Split, Split]:
    """MNIST from your own IDX files: x float32 (N, 28, 28, 1) in [0, 1], y int64 in 0..9.

    The directory: ``data_dir``, else the environment variable
    CLEARCONV_MNIST. ``test_only=True`` reads only the t10k-* pair (the
    train arrays are then empty); otherwise missing train files are an error.
    """
    directory = _choose_directory("MNIST", data_dir, MNIST_ENV, None, _MNIST_HELP)
    return _as_float_images(_load_from(directory, test_only, _MNIST_HELP))


def load_fashion_mnist(data_dir: PathLike | None = None) -> tuple[Split, Split]:
    """Fashion-MNIST: x float32 (N, 28, 28, 1) in [0, 1], y int64 in 0..9; 60,000 train, 10,000 test.

    The directory: ``data_dir``, else the environment variable
    CLEARCONV_FASHION_MNIST, else /usr/share/datasets/fashion-mnist (Debian
    package dataset-fashion-mnist). Raises FileNotFoundError saying how to
    get the files when none of these holds them.
    """
    directory = _choose_directory("Fashion-MNIST", data_dir, FASHION_MNIST_ENV, FASHION_MNIST_SYSTEM_DIR,
                                  _FASHION_MNIST_HELP)
    return _as_float_images(_load_from(directory, False, _FASHION_MNIST_HELP))


def idx_images_to_float(images: np.ndarray) -> np.ndarray:
    """uint8 (N, H, W) or (N, H, W, C) -> float32 (N, H, W, C) in [0, 1] (pixel / 255)."""
    if images.dtype != np.uint8:
        raise ValueError(f"expected uint8 pixels in the IDX images file; found {images.dtype}")
    pixels = images.astype(np.float32)
    pixels /= np.float32(255.0)
    return pixels[..., np.newaxis] if pixels.ndim == 3 else pixels     # (N, H, W) -> (N, H, W, 1)


def _as_float_images(splits: tuple[Split, Split]) -> tuple[Split, Split]:
    return tuple((idx_images_to_float(images), labels.astype(np.int64)) for images, labels in splits)


def _choose_directory(dataset: str, data_dir: PathLike | None, env_name: str, system_dir: Path | None,
                      help_text: str) -> Path:
    """The first of data_dir, $env_name, system_dir that is given; FileNotFoundError if none."""
    if data_dir is not None:
        source, directory = "data_dir", Path(data_dir)
    elif os.environ.get(env_name):
        source, directory = f"the environment variable {env_name}", Path(os.environ[env_name])
    elif system_dir is not None and system_dir.is_dir():
        return system_dir
    else:
        searched = f"data_dir was not given, {env_name} is not set"
        if system_dir is not None:
            searched += f", and {system_dir} does not exist"
        raise FileNotFoundError(f"{dataset} not found: {searched}. {help_text}")
    if not directory.is_dir():
        raise FileNotFoundError(f"{dataset} not found: {directory} (from {source}) is not a directory. "
                                f"{help_text}")
    return directory


def _load_from(directory: Path, test_only: bool, help_text: str) -> tuple[Split, Split]:
    needed = TEST_FILES if test_only else TRAIN_FILES + TEST_FILES
    found = {stem: _find(directory, stem) for stem in needed}
    missing = [stem for stem, path in found.items() if path is None]
    if missing:
        hint = (" (the t10k-* test files are there: pass test_only=True to load only them)"
                if set(missing) <= set(TRAIN_FILES) else "")
        raise FileNotFoundError(f"{directory}: missing IDX file(s) {', '.join(missing)} "
                                f"(looked for NAME.gz, NAME and the dotted NAME variants){hint}. {help_text}".rstrip())
    test = load_idx_pair(found[TEST_FILES[0]], found[TEST_FILES[1]])
    if test_only:
        empty_images = np.empty((0,) + test[0].shape[1:], dtype=test[0].dtype)
        return (empty_images, np.empty((0,), dtype=test[1].dtype)), test
    return load_idx_pair(found[TRAIN_FILES[0]], found[TRAIN_FILES[1]]), test


def _find(directory: Path, stem: str) -> Path | None:
    """directory/stem.gz, directory/stem, or the dotted variant (train-images.idx3-ubyte), if one exists."""
    dotted = stem.replace("-idx", ".idx")
    for name in (f"{stem}.gz", stem, f"{dotted}.gz", dotted):
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None
