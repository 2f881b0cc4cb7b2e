"""Fashion-MNIST, as Keras 3's ``keras.datasets.fashion_mnist``; nothing is ever downloaded.

    import clearconv as keras
    (x_train, y_train), (x_test, y_test) = keras.datasets.fashion_mnist.load_data()
    # x: uint8 (60000, 28, 28) and (10000, 28, 28), pixels 0..255; y: uint8 (N,), classes 0..9

Labels: 0 T-shirt/top, 1 Trouser, 2 Pullover, 3 Dress, 4 Coat, 5 Sandal,
6 Shirt, 7 Sneaker, 8 Bag, 9 Ankle boot.

The four IDX files are read from the first of these places:

1. the directory in the environment variable ``CLEARCONV_FASHION_MNIST``
   (when it is set it must hold the files);
2. ``/usr/share/datasets/fashion-mnist``, where Debian's package
   ``dataset-fashion-mnist`` installs them;
3. Keras's cache, ``$KERAS_HOME/datasets/fashion-mnist`` or
   ``~/.keras/datasets/fashion-mnist``, where ``keras.datasets.fashion_mnist``
   saves them.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..config import keras_home
from ..data.idx_datasets import (FASHION_MNIST_ENV, FASHION_MNIST_SYSTEM_DIR, TEST_FILES, TRAIN_FILES, _find,
                                 load_idx_dir)
from .mnist import check_split

CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
               "Ankle boot")
_FILES = TRAIN_FILES + TEST_FILES
_HELP = (
    "clearconv never downloads. To provide Fashion-MNIST: on Debian, `apt-get install dataset-fashion-mnist` "
    f"(it installs the four files in {FASHION_MNIST_SYSTEM_DIR}); or put the four IDX files "
    f"({', '.join(f'{stem}.gz' for stem in _FILES)}; gzip-compressed or not) in a directory DIR and set "
    f"{FASHION_MNIST_ENV}=DIR, or in ~/.keras/datasets/fashion-mnist/ as Keras keeps them.")


def load_data():
    """Load Fashion-MNIST: ``(x_train, y_train), (x_test, y_test)``, Keras's arrays.

    x_train: uint8 (60000, 28, 28), x_test: uint8 (10000, 28, 28), pixels
    0..255; y_train, y_test: uint8 (N,), classes 0..9 (see ``CLASS_NAMES``).
    Raises FileNotFoundError naming every place looked in and how to get the
    files, ValueError for damaged files.
    """
    directory = _locate()
    (x_train, y_train), (x_test, y_test) = load_idx_dir(directory)
    check_split(x_train, y_train, f"{directory} (train files)")
    check_split(x_test, y_test, f"{directory} (test files)")
    return (x_train, y_train), (x_test, y_test)


def _missing(directory: Path) -> list[str]:
    return [stem for stem in _FILES if _find(directory, stem) is None]


def _locate() -> Path:
    """The directory holding the four files; FileNotFoundError saying where it looked."""
    if os.environ.get(FASHION_MNIST_ENV):
        directory = Path(os.environ[FASHION_MNIST_ENV]).expanduser()
        if not directory.is_dir():
            raise FileNotFoundError(f"Fashion-MNIST not found: {directory} (from the environment variable "
                                    f"{FASHION_MNIST_ENV}) is not a directory. {_HELP}")
        missing = _missing(directory)
        if missing:
            raise FileNotFoundError(f"Fashion-MNIST: {directory} (from the environment variable {FASHION_MNIST_ENV}) "
                                    f"lacks the IDX file(s) {', '.join(missing)}. {_HELP}")
        return directory
    looked = [f"the environment variable {FASHION_MNIST_ENV} (not set)"]
    for directory in (FASHION_MNIST_SYSTEM_DIR, Path(keras_home()) / "datasets" / "fashion-mnist"):
        if not directory.is_dir():
            looked.append(f"{directory} (does not exist)")
            continue
        missing = _missing(directory)
        if not missing:
            return directory
        looked.append(f"{directory} (lacks {', '.join(missing)})")
    raise FileNotFoundError(f"Fashion-MNIST not found. Looked in: {'; '.join(looked)}. {_HELP}")
