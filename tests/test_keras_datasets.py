"""clearconv.datasets: Keras's arrays from files the user has; the data files read independently here.

The oracles: the IDX files parsed by a few lines of struct/np.frombuffer in
this file, and real Keras's own ``load_data`` reading the same files (its
``get_file`` pointed at them, so nothing is downloaded).
"""

from __future__ import annotations

import gzip
import io
import os
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from clearconv.datasets import fashion_mnist, mnist

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
TEST_IMAGES, TEST_LABELS = "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"
ENVIRONMENT = ("CLEARCONV_MNIST", "CLEARCONV_FASHION_MNIST", "KERAS_HOME")


def _mnist_test_dir() -> Path:
    """A local copy of the MNIST test set (its two t10k IDX files): the folder CLEARCONV_MNIST names when
    it holds them (read here, before the fixture below clears the variable), else the default local copy."""
    named = os.environ.get("CLEARCONV_MNIST")
    if named and (Path(named) / TEST_IMAGES).is_file() and (Path(named) / TEST_LABELS).is_file():
        return Path(named)
    return Path("/work/shared/data/mnist")


MNIST_TEST_DIR = _mnist_test_dir()

needs_fashion = pytest.mark.skipif(not (FASHION_DIR / TEST_IMAGES).exists(),
                                   reason=f"Fashion-MNIST not installed in {FASHION_DIR} "
                                          "(apt-get install dataset-fashion-mnist)")
needs_mnist_test = pytest.mark.skipif(not (MNIST_TEST_DIR / TEST_IMAGES).exists(),
                                      reason=f"no local copy of the MNIST test set in {MNIST_TEST_DIR} "
                                             "(CLEARCONV_MNIST may name a folder holding its t10k files)")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path):
    """No data location leaks in from the machine: no variables set, Keras's cache an empty folder."""
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))


def read_idx_gz(path: Path) -> np.ndarray:
    """An IDX file parsed from its definition: 0x00 0x00, type 0x08 (uint8), ndim, big-endian sizes, data."""
    content = gzip.decompress(path.read_bytes())
    zero, code, ndim = struct.unpack(">HBB", content[:4])
    assert (zero, code) == (0, 0x08)
    sizes = struct.unpack(f">{ndim}I", content[4:4 + 4 * ndim])
    return np.frombuffer(content, dtype=np.uint8, offset=4 + 4 * ndim).reshape(sizes)


def assert_keras_arrays(splits, expected_splits):
    for (x, y), (x_expected, y_expected) in zip(splits, expected_splits):
        assert x.dtype == np.uint8 and y.dtype == np.uint8
        assert x.ndim == 3 and x.shape[1:] == (28, 28) and y.shape == (len(x),)
        np.testing.assert_array_equal(x, x_expected)
        np.testing.assert_array_equal(y, y_expected)


def keras_loader(monkeypatch, module_name: str, files: dict):
    """Real Keras's load_data of ``module_name`` with get_file answering from ``files`` (name -> path)."""
    from keras_oracle import import_keras
    import_keras()
    import importlib
    module = importlib.import_module(f"keras.src.datasets.{module_name}")
    monkeypatch.setattr(module, "get_file", lambda fname, origin, **kwargs: str(files[fname]))
    return module.load_data


# ---- Fashion-MNIST --------------------------------------------------------------------------------------

@needs_fashion
def test_fashion_mnist_is_the_debian_files_and_keras_load_data(monkeypatch):
    splits = fashion_mnist.load_data()
    (x_train, _), (x_test, _) = splits
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    read_independently = [(read_idx_gz(FASHION_DIR / "train-images-idx3-ubyte.gz"),
                           read_idx_gz(FASHION_DIR / "train-labels-idx1-ubyte.gz")),
                          (read_idx_gz(FASHION_DIR / TEST_IMAGES), read_idx_gz(FASHION_DIR / TEST_LABELS))]
    assert_keras_arrays(splits, read_independently)
    files = {path.name: path for path in FASHION_DIR.iterdir()}
    assert_keras_arrays(splits, keras_loader(monkeypatch, "fashion_mnist", files)())


def _link_fashion_files(directory: Path):
    directory.mkdir(parents=True)
    for path in FASHION_DIR.iterdir():
        (directory / path.name).symlink_to(path)


@needs_fashion
def test_fashion_mnist_from_the_environment_variable_and_keras_cache(monkeypatch, tmp_path):
    expected_test_labels = read_idx_gz(FASHION_DIR / TEST_LABELS)
    _link_fashion_files(tmp_path / "mine")
    monkeypatch.setenv("CLEARCONV_FASHION_MNIST", str(tmp_path / "mine"))
    np.testing.assert_array_equal(fashion_mnist.load_data()[1][1], expected_test_labels)
    # Keras's cache, when neither the variable nor the Debian directory is there
    monkeypatch.delenv("CLEARCONV_FASHION_MNIST")
    monkeypatch.setattr(fashion_mnist, "FASHION_MNIST_SYSTEM_DIR", tmp_path / "absent")
    _link_fashion_files(tmp_path / "keras_home" / "datasets" / "fashion-mnist")
    np.testing.assert_array_equal(fashion_mnist.load_data()[1][1], expected_test_labels)


def test_fashion_mnist_missing_names_every_place(monkeypatch, tmp_path):
    monkeypatch.setattr(fashion_mnist, "FASHION_MNIST_SYSTEM_DIR", tmp_path / "absent")
    with pytest.raises(FileNotFoundError) as error:
        fashion_mnist.load_data()
    message = str(error.value)
    for piece in ("CLEARCONV_FASHION_MNIST (not set)", f"{tmp_path / 'absent'} (does not exist)",
                  str(tmp_path / "keras_home" / "datasets" / "fashion-mnist"), "never downloads",
                  "apt-get install dataset-fashion-mnist"):
        assert piece in message
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("CLEARCONV_FASHION_MNIST", str(tmp_path / "empty"))
    with pytest.raises(FileNotFoundError, match="lacks the IDX file\\(s\\) train-images-idx3-ubyte"):
        fashion_mnist.load_data()


# ---- MNIST from IDX files ----------------------------------------------------------------------------------

def _idx_directory(directory: Path) -> Path:
    """The official test files, linked in as the test set and (standing in for it) as the train set."""
    directory.mkdir()
    for split in ("train", "t10k"):
        (directory / f"{split}-images-idx3-ubyte.gz").symlink_to(MNIST_TEST_DIR / TEST_IMAGES)
        (directory / f"{split}-labels-idx1-ubyte.gz").symlink_to(MNIST_TEST_DIR / TEST_LABELS)
    return directory


@needs_mnist_test
def test_mnist_from_an_idx_directory(monkeypatch, tmp_path):
    expected = (read_idx_gz(MNIST_TEST_DIR / TEST_IMAGES), read_idx_gz(MNIST_TEST_DIR / TEST_LABELS))
    assert expected[0].shape == (10000, 28, 28)
    directory = _idx_directory(tmp_path / "idx")
    assert_keras_arrays(mnist.load_data(path=str(directory)), [expected, expected])
    monkeypatch.setenv("CLEARCONV_MNIST", str(directory))
    assert_keras_arrays(mnist.load_data(), [expected, expected])


@needs_mnist_test
def test_mnist_directory_without_train_files_is_an_error(tmp_path):
    directory = tmp_path / "test_only"
    directory.mkdir()
    for name in (TEST_IMAGES, TEST_LABELS):
        (directory / name).symlink_to(MNIST_TEST_DIR / name)
    with pytest.raises(FileNotFoundError, match="lacks the IDX file\\(s\\) train-images-idx3-ubyte, "
                                                "train-labels-idx1-ubyte.*needs the train and the test files"):
        mnist.load_data(path=str(directory))


# ---- MNIST from Keras's mnist.npz --------------------------------------------------------------------------

def _small_arrays(seed=0):
    rng = np.random.default_rng(seed)
    return {"x_train": rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
            "y_train": rng.integers(0, 10, 5, dtype=np.uint8),
            "x_test": rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
            "y_test": rng.integers(0, 10, 3, dtype=np.uint8)}


def test_mnist_npz_by_absolute_path_and_in_keras_cache(monkeypatch, tmp_path):
    arrays = _small_arrays()
    path = tmp_path / "mine.npz"
    np.savez_compressed(path, **arrays)
    expected = [(arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])]
    assert_keras_arrays(mnist.load_data(path=str(path)), expected)
    assert_keras_arrays(mnist.load_data(path=path), expected)
    cache = tmp_path / "keras_home" / "datasets"
    cache.mkdir(parents=True)
    np.savez(cache / "mnist.npz", **arrays)                       # uncompressed, as Keras's file is
    assert_keras_arrays(mnist.load_data(), expected)
    # real Keras reading the same file gives the same arrays
    expected_by_keras = keras_loader(monkeypatch, "mnist", {"mnist.npz": cache / "mnist.npz"})()
    assert_keras_arrays(mnist.load_data(), expected_by_keras)


@needs_mnist_test
def test_mnist_npz_of_the_real_test_set_equals_keras(monkeypatch, tmp_path):
    images, labels = read_idx_gz(MNIST_TEST_DIR / TEST_IMAGES), read_idx_gz(MNIST_TEST_DIR / TEST_LABELS)
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=images[:6000], y_train=labels[:6000], x_test=images, y_test=labels)
    expected = keras_loader(monkeypatch, "mnist", {str(path): path})(path=str(path))
    assert_keras_arrays(mnist.load_data(path=str(path)), expected)


def test_mnist_environment_variable_wins_over_keras_cache(monkeypatch, tmp_path):
    cache = tmp_path / "keras_home" / "datasets"
    cache.mkdir(parents=True)
    np.savez(cache / "mnist.npz", **_small_arrays(0))
    np.savez(tmp_path / "other.npz", **_small_arrays(1))
    monkeypatch.setenv("CLEARCONV_MNIST", str(tmp_path / "other.npz"))
    np.testing.assert_array_equal(mnist.load_data()[0][1], _small_arrays(1)["y_train"])
    monkeypatch.setenv("CLEARCONV_MNIST", str(tmp_path / "absent"))
    with pytest.raises(FileNotFoundError, match="from the environment variable CLEARCONV_MNIST"):
        mnist.load_data()


def test_mnist_missing_names_every_place_and_how_to_get_it(tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        mnist.load_data()
    message = str(error.value)
    for piece in ("CLEARCONV_MNIST (not set)", str(tmp_path / "keras_home" / "datasets" / "mnist.npz"),
                  "never downloads", "mnist.npz", "t10k-images-idx3-ubyte.gz", "load_data(path=DIR)"):
        assert piece in message
    with pytest.raises(FileNotFoundError, match="the `path` argument"):
        mnist.load_data(path=str(tmp_path / "nowhere.npz"))


def _npz_with(tmp_path, **changes) -> Path:
    arrays = {**_small_arrays(), **changes}
    path = tmp_path / "bad.npz"
    np.savez(path, **{key: value for key, value in arrays.items() if value is not None})
    return path


@pytest.mark.parametrize("changes, message", [
    ({"x_train": np.zeros((5, 28, 28), dtype=np.float32)}, "x_train must be a uint8 array of shape \\(N, 28, 28\\)"),
    ({"x_test": np.zeros((3, 32, 32), dtype=np.uint8)}, "x_test must be a uint8 array of shape \\(N, 28, 28\\)"),
    ({"y_train": np.zeros(5, dtype=np.int64)}, "y_train must be a uint8 array of shape \\(N,\\)"),
    ({"y_test": np.zeros(4, dtype=np.uint8)}, "expected uint8 labels of shape \\(3,\\)"),
    ({"y_test": np.full(3, 10, dtype=np.uint8)}, "labels must be 0..9"),
    ({"y_test": None}, "missing the array\\(s\\) y_test"),
    ({"x_train": np.array([None] * 5, dtype=object)}, "x_train must be a uint8 array"),
])
def test_mnist_npz_is_checked_before_it_is_trusted(tmp_path, changes, message):
    with pytest.raises(ValueError, match=message):
        mnist.load_data(path=str(_npz_with(tmp_path, **changes)))


def _npy_header(shape) -> bytes:
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False, "shape": shape})
    return header.getvalue()


def test_mnist_npz_header_is_read_before_the_data(tmp_path):
    path = tmp_path / "huge.npz"
    with zipfile.ZipFile(path, "w") as archive:
        for key, shape in (("x_train", (10**8, 28, 28)), ("y_train", (10**8,)), ("x_test", (1, 28, 28)),
                           ("y_test", (1,))):
            archive.writestr(f"{key}.npy", _npy_header(shape))        # a header promising 78 GB, no data
    with pytest.raises(ValueError, match="claims 100000000 examples, more than the 1000000 accepted"):
        mnist.load_data(path=str(path))
    with zipfile.ZipFile(path, "w") as archive:
        for key, shape in (("x_train", (2, 28, 28)), ("y_train", (2,)), ("x_test", (1, 28, 28)), ("y_test", (1,))):
            archive.writestr(f"{key}.npy", _npy_header(shape) + b"\x00" * 10)
    with pytest.raises(ValueError, match="x_train is truncated"):
        mnist.load_data(path=str(path))


def test_mnist_path_that_is_not_an_npz(tmp_path):
    (tmp_path / "text.npz").write_text("not a zip")
    with pytest.raises(ValueError, match="not an .npz file"):
        mnist.load_data(path=str(tmp_path / "text.npz"))
    with pytest.raises(ValueError, match="`path` must be a file name or a path"):
        mnist.load_data(path=3)
    assert os.environ["KERAS_HOME"].endswith("keras_home")
