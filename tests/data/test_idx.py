"""clearconv.data.idx: the IDX reader on the real MNIST test set, round trips, and damaged files."""

from __future__ import annotations

import gzip
import hashlib
import struct
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from clearconv.data import load, load_idx_dir, load_idx_pair, read_idx, write_idx

MNIST_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "mnist"
IMAGES = MNIST_DIR / "t10k-images-idx3-ubyte.gz"
LABELS = MNIST_DIR / "t10k-labels-idx1-ubyte.gz"
needs_mnist = pytest.mark.skipif(not (IMAGES.is_file() and LABELS.is_file()),
                                 reason=f"MNIST test set not found in {MNIST_DIR}")

# The published class counts of the MNIST test set (digits 0..9).
MNIST_TEST_LABEL_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def _hand_parse(path: Path) -> tuple[int, tuple[int, ...], bytes]:
    """A minimal independent parser: (magic as one big-endian int, dimensions, payload)."""
    content = gzip.decompress(path.read_bytes())
    magic = struct.unpack(">I", content[:4])[0]
    ndim = content[3]
    dimensions = struct.unpack(f">{ndim}I", content[4:4 + 4 * ndim])
    return magic, dimensions, content[4 + 4 * ndim:]


@needs_mnist
def test_mnist_files_are_the_published_ones():
    expected = {}
    for line in (MNIST_DIR / "MD5SUMS").read_text().splitlines():
        digest, name = line.split()
        expected[name] = digest
    assert set(expected) == {IMAGES.name, LABELS.name}
    for name, digest in expected.items():
        assert hashlib.md5((MNIST_DIR / name).read_bytes()).hexdigest() == digest, name


@needs_mnist
def test_read_real_mnist_test_set_matches_a_hand_parser():
    images, labels = read_idx(IMAGES), read_idx(LABELS)
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,) and labels.dtype == np.uint8
    assert labels.min() == 0 and labels.max() == 9

    label_magic, label_dims, label_bytes = _hand_parse(LABELS)
    assert (label_magic, label_dims) == (2049, (10000,))
    counts = Counter(label_bytes)
    assert [counts[digit] for digit in range(10)] == MNIST_TEST_LABEL_COUNTS
    assert np.bincount(labels, minlength=10).tolist() == MNIST_TEST_LABEL_COUNTS
    assert labels[:10].tolist() == list(label_bytes[:10]) == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]

    image_magic, image_dims, pixel_bytes = _hand_parse(IMAGES)
    assert (image_magic, image_dims) == (2051, (10000, 28, 28))
    assert int(images.sum(dtype=np.int64)) == sum(pixel_bytes)
    # row-major: pixel (i, r, c) is byte i*784 + r*28 + c
    for i, r, c in [(0, 14, 14), (1, 7, 20), (9999, 27, 27), (1234, 10, 5)]:
        assert images[i, r, c] == pixel_bytes[i * 784 + r * 28 + c]


@needs_mnist
def test_load_mnist_test_only_from_the_real_files(monkeypatch):
    monkeypatch.setenv("CLEARCONV_MNIST", str(MNIST_DIR))
    (x_train, y_train), (x_test, y_test) = load("mnist", test_only=True)
    assert x_train.shape == (0, 28, 28, 1) and y_train.shape == (0,)
    assert x_test.shape == (10000, 28, 28, 1) and x_test.dtype == np.float32
    assert y_test.dtype == np.int64 and np.bincount(y_test).tolist() == MNIST_TEST_LABEL_COUNTS
    np.testing.assert_array_equal(x_test[..., 0] * 255, read_idx(IMAGES).astype(np.float32))
    assert x_test.min() == 0.0 and x_test.max() == 1.0


@needs_mnist
def test_mnist_without_train_files_says_so():
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte.*test_only=True"):
        load("mnist", data_dir=MNIST_DIR)


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "float32", "float64"])
@pytest.mark.parametrize("name", ["array.idx", "array.idx.gz"])
def test_write_read_round_trip(tmp_path, dtype, name):
    rng = np.random.default_rng(0)
    array = (rng.standard_normal((3, 4, 5)) * 100).astype(dtype)
    path = tmp_path / name
    write_idx(path, array)
    assert path.read_bytes().startswith(b"\x1f\x8b") == name.endswith(".gz")
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.dtype.isnative
    np.testing.assert_array_equal(back, array)


def test_written_bytes_are_big_endian_idx(tmp_path):
    write_idx(tmp_path / "a.idx", np.array([[1, -2]], dtype=np.int32))
    assert (tmp_path / "a.idx").read_bytes() == (bytes([0, 0, 0x0C, 2]) + struct.pack(">II", 1, 2)
                                                 + struct.pack(">ii", 1, -2))


def test_gzip_detected_by_content_not_name(tmp_path):
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    write_idx(tmp_path / "plain.gz", array, compress=False)
    write_idx(tmp_path / "packed", array, compress=True)
    np.testing.assert_array_equal(read_idx(tmp_path / "plain.gz"), array)
    np.testing.assert_array_equal(read_idx(tmp_path / "packed"), array)


def test_write_rejects_unsupported_dtype(tmp_path):
    with pytest.raises(TypeError, match="int64.*0x08 \\(uint8\\)"):
        write_idx(tmp_path / "x.idx", np.zeros(3, dtype=np.int64))


def _damaged(tmp_path, transform, gz=False) -> Path:
    """An IDX file of a (10, 28, 28) uint8 array, rewritten by transform(raw bytes) -> bytes."""
    path = tmp_path / ("damaged.idx.gz" if gz else "damaged.idx")
    write_idx(tmp_path / "good.idx", np.ones((10, 28, 28), dtype=np.uint8))
    content = transform((tmp_path / "good.idx").read_bytes())
    path.write_bytes(gzip.compress(content) if gz else content)
    return path


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("transform, message", [
    (lambda b: b"\x08\x03" + b[2:], "magic number must start with 0x00 0x00, found 0x08 0x03"),
    (lambda b: b[:2] + b"\x0A" + b[3:], "unknown IDX dtype code 0x0A"),
    (lambda b: b[:-1000], "truncated: header promises 10x28x28 = 7840 bytes, found 6840"),
    (lambda b: b + b"\x00" * 3, "extra bytes after the data: header promises 10x28x28 = 7840 bytes, found 7843"),
    (lambda b: b[:10], "truncated header: the magic number announces 3 dimensions"),
    (lambda b: b[:3], "truncated: 3 bytes"),
])
def test_damaged_files_raise_clear_errors(tmp_path, gz, transform, message):
    path = _damaged(tmp_path, transform, gz)
    with pytest.raises(ValueError) as error:
        read_idx(path)
    assert str(error.value).startswith(f"{path}: ")
    assert message in str(error.value)


def test_truncated_wide_dtype_names_the_value_type(tmp_path):
    write_idx(tmp_path / "w.idx", np.zeros((10, 3), dtype=np.int32))
    (tmp_path / "w.idx").write_bytes((tmp_path / "w.idx").read_bytes()[:-4])
    with pytest.raises(ValueError, match="header promises 10x3 int32 values = 120 bytes, found 116"):
        read_idx(tmp_path / "w.idx")


def test_cut_gzip_stream_is_a_clear_error(tmp_path):
    write_idx(tmp_path / "c.idx.gz", np.arange(5000, dtype=np.int32))
    path = tmp_path / "c.idx.gz"
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match="corrupt gzip stream"):
        read_idx(path)


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nothing.idx")


def test_pair_count_mismatch(tmp_path):
    write_idx(tmp_path / "images.idx", np.zeros((5, 2, 2), dtype=np.uint8))
    write_idx(tmp_path / "labels.idx", np.zeros(4, dtype=np.uint8))
    with pytest.raises(ValueError, match="holds 5 images but .*labels.idx holds 4 labels"):
        load_idx_pair(tmp_path / "images.idx", tmp_path / "labels.idx")


def test_pair_rejects_non_label_file(tmp_path):
    write_idx(tmp_path / "images.idx", np.zeros((5, 2, 2), dtype=np.uint8))
    write_idx(tmp_path / "labels.idx", np.zeros((5, 2), dtype=np.uint8))
    with pytest.raises(ValueError, match="labels must be a 1-D integer array"):
        load_idx_pair(tmp_path / "images.idx", tmp_path / "labels.idx")


def _write_small_set(directory: Path, gz: bool, train: int = 6, test: int = 4) -> dict:
    rng = np.random.default_rng(1)
    arrays = {"train-images-idx3-ubyte": rng.integers(0, 256, (train, 5, 3), dtype=np.uint8),
              "train-labels-idx1-ubyte": rng.integers(0, 10, train, dtype=np.uint8),
              "t10k-images-idx3-ubyte": rng.integers(0, 256, (test, 5, 3), dtype=np.uint8),
              "t10k-labels-idx1-ubyte": rng.integers(0, 10, test, dtype=np.uint8)}
    for stem, array in arrays.items():
        write_idx(directory / (stem + (".gz" if gz else "")), array)
    return arrays


@pytest.mark.parametrize("gz", [False, True])
def test_load_idx_dir_and_mnist_from_a_directory(tmp_path, gz):
    arrays = _write_small_set(tmp_path, gz)
    (train_images, train_labels), (test_images, test_labels) = load_idx_dir(tmp_path)
    np.testing.assert_array_equal(train_images, arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(test_labels, arrays["t10k-labels-idx1-ubyte"])

    (x_train, y_train), (x_test, y_test) = load("mnist", data_dir=tmp_path)
    assert x_train.shape == (6, 5, 3, 1) and x_train.dtype == np.float32 and y_train.dtype == np.int64
    np.testing.assert_array_equal(x_train[..., 0], arrays["train-images-idx3-ubyte"] / np.float32(255))
    np.testing.assert_array_equal(y_test, arrays["t10k-labels-idx1-ubyte"])


def test_count_mismatch_inside_a_directory(tmp_path):
    _write_small_set(tmp_path, gz=True)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(3, dtype=np.uint8))
    with pytest.raises(ValueError, match="holds 4 images but .*holds 3 labels"):
        load("mnist", data_dir=tmp_path)
