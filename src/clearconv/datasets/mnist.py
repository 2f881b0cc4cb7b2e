"""MNIST handwritten digits, as Keras 3's ``keras.datasets.mnist``; nothing is ever downloaded.

    import clearconv as keras
    (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    # x: uint8 (60000, 28, 28) and (10000, 28, 28), pixels 0..255; y: uint8 (N,), digits 0..9

The arrays come from a file you have, in this order:

1. ``path``, when it names a location (an absolute path, or one with a
   directory part such as ``./data/mnist.npz``): an ``.npz`` file in Keras's
   format or a directory of the four MNIST IDX files.
2. The environment variable ``CLEARCONV_MNIST``: such a file or directory.
3. Keras's cache: ``$KERAS_HOME/datasets/<path>`` or
   ``~/.keras/datasets/<path>`` (``path`` defaults to ``mnist.npz``, the file
   ``keras.datasets.mnist.load_data()`` saves there).

The first of these that is given is the one used; if it lacks the data that
is an error, not a reason to look further. Keras's ``.npz`` holds the arrays
``x_train``, ``y_train``, ``x_test``, ``y_test``; it is read without pickle and
every array's header (dtype uint8, shape (N, 28, 28) or (N,)) is checked
before its data is read.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from ..config import keras_home
from ..data.idx_datasets import MNIST_ENV, TEST_FILES, TRAIN_FILES, _find, load_idx_dir

IMAGE_SHAPE = (28, 28)
NUM_CLASSES = 10
# A bound on the examples of one split read from an .npz (MNIST has 60,000): 10**6 images are 784 MB.
MAX_EXAMPLES = 10**6
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
KERAS_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"

_IDX_NAMES = ", ".join(f"{stem}.gz" for stem in TRAIN_FILES + TEST_FILES)
_HELP = (
    "clearconv never downloads. To provide MNIST, either save Keras's file mnist.npz (the one "
    f"keras.datasets.mnist.load_data() downloads, from {KERAS_URL}) as ~/.keras/datasets/mnist.npz, or put "
    f"the four IDX files ({_IDX_NAMES}; gzip-compressed or not) in a directory DIR and call "
    f"load_data(path=DIR) or set {MNIST_ENV}=DIR.")


def load_data(path="mnist.npz"):
    """Load MNIST: ``(x_train, y_train), (x_test, y_test)``, Keras's arrays.

    x_train: uint8 (60000, 28, 28), x_test: uint8 (10000, 28, 28), pixels
    0..255; y_train, y_test: uint8 (N,), digits 0..9 (the numbers of
    examples are those of the files read).

    path: a file name in Keras's cache (default ``"mnist.npz"``), or the path
    of an ``.npz`` file or of a directory of IDX files; see the module
    docstring for the order in which places are tried. Raises
    FileNotFoundError naming every place looked in and how to provide the
    data, ValueError for a file that does not hold MNIST-shaped arrays.
    """
    location, source = _locate(path)
    if location.is_dir():
        return _load_idx_directory(location, source)
    return _load_npz(location)


def _locate(path) -> tuple[Path, str]:
    """The file or directory to read and where it came from; FileNotFoundError when there is none."""
    try:
        name = os.fspath(path)
    except TypeError:
        name = None
    if not isinstance(name, str) or not name:
        raise ValueError(f"mnist.load_data: `path` must be a file name or a path; received path={path!r}")
    if os.path.isabs(name) or os.path.dirname(name) or name.startswith("~"):
        location = Path(name).expanduser()
        if not location.exists():
            raise FileNotFoundError(f"MNIST not found: {location} (the `path` argument) does not exist. {_HELP}")
        return location, "the `path` argument"
    if os.environ.get(MNIST_ENV):
        location = Path(os.environ[MNIST_ENV]).expanduser()
        if not location.exists():
            raise FileNotFoundError(f"MNIST not found: {location} (from the environment variable {MNIST_ENV}) "
                                    f"does not exist. {_HELP}")
        return location, f"the environment variable {MNIST_ENV}"
    cached = Path(keras_home()) / "datasets" / name
    if cached.is_file():
        return cached, "Keras's cache"
    raise FileNotFoundError(f"MNIST not found. Looked in: the `path` argument ({name!r} is a file name, not a "
                            f"location); the environment variable {MNIST_ENV} (not set); Keras's cache {cached} "
                            f"(no such file). {_HELP}")


def _load_idx_directory(directory: Path, source: str):
    # Keras's load_data returns both sets, so a directory with only the test files is not enough.
    missing = [stem for stem in TRAIN_FILES + TEST_FILES if _find(directory, stem) is None]
    if missing:
        raise FileNotFoundError(f"MNIST: {directory} (from {source}) lacks the IDX file(s) {', '.join(missing)} "
                                f"(looked for NAME.gz, NAME and the dotted NAME variants); load_data needs the "
                                f"train and the test files. {_HELP}")
    (x_train, y_train), (x_test, y_test) = load_idx_dir(directory)
    for split, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        check_split(x, y, f"{directory} ({split} files)")
    return (x_train, y_train), (x_test, y_test)


def check_split(x: np.ndarray, y: np.ndarray, origin: str) -> None:
    """ValueError unless x is uint8 (N, 28, 28) and y uint8 (N,) with labels 0..9."""
    if x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != IMAGE_SHAPE:
        raise ValueError(f"{origin}: expected uint8 images of shape (N, 28, 28); found {x.dtype} {x.shape}")
    if y.dtype != np.uint8 or y.ndim != 1 or len(y) != len(x):
        raise ValueError(f"{origin}: expected uint8 labels of shape ({len(x)},); found {y.dtype} {y.shape}")
    if y.size and y.max() >= NUM_CLASSES:
        raise ValueError(f"{origin}: labels must be 0..{NUM_CLASSES - 1}; found {int(y.max())}")


def _load_npz(path: Path):
    """The four arrays of a Keras-format ``mnist.npz``, each header checked before its data is read."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        raise ValueError(f"{path}: not an .npz file (a zip archive of .npy arrays): {error}") from None
    with archive:
        members = set(archive.namelist())
        missing = [key for key in NPZ_KEYS if f"{key}.npy" not in members]
        if missing:
            raise ValueError(f"{path}: missing the array(s) {', '.join(missing)}; Keras's mnist.npz holds "
                             f"{', '.join(NPZ_KEYS)} (found {', '.join(sorted(members)) or 'nothing'})")
        arrays = {key: _read_member(archive, key, path) for key in NPZ_KEYS}
    x_train, y_train, x_test, y_test = (arrays[key] for key in NPZ_KEYS)
    check_split(x_train, y_train, f"{path} (x_train, y_train)")
    check_split(x_test, y_test, f"{path} (x_test, y_test)")
    return (x_train, y_train), (x_test, y_test)


def _read_member(archive: zipfile.ZipFile, key: str, path: Path) -> np.ndarray:
    """One uint8 array of the archive; its .npy header is checked before any data is read."""
    expected = "(N, 28, 28)" if key.startswith("x") else "(N,)"
    with archive.open(f"{key}.npy") as stream:
        try:
            version = np.lib.format.read_magic(stream)
            if version == (1, 0):
                shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(stream)
            elif version == (2, 0):
                shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(stream)
            else:
                raise ValueError(f"unsupported .npy format version {version}")
        except ValueError as error:
            raise ValueError(f"{path}: {key} is not a readable .npy array: {error}") from None
        # uint8 only: no object arrays, so nothing can be unpickled
        if key.startswith("x"):
            good_shape = len(shape) == 3 and tuple(shape[1:]) == IMAGE_SHAPE
        else:
            good_shape = len(shape) == 1
        if dtype != np.uint8 or not good_shape:
            raise ValueError(f"{path}: {key} must be a uint8 array of shape {expected}; found {dtype} {shape}")
        if shape[0] > MAX_EXAMPLES:
            raise ValueError(f"{path}: {key} claims {shape[0]} examples, more than the {MAX_EXAMPLES} accepted")
        count = int(np.prod(shape))
        data = stream.read(count)
    if len(data) != count:
        raise ValueError(f"{path}: {key} is truncated: its header promises {count} bytes, found {len(data)}")
    return np.frombuffer(data, dtype=np.uint8).reshape(shape, order="F" if fortran_order else "C").copy()
