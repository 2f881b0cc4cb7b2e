"""clearconv.data.load: every dataset's shapes, ranges, labels, determinism, and the errors for missing data."""

from __future__ import annotations

import importlib.util
import random

import numpy as np
import pytest

from clearconv.data import DATASETS, idx_datasets, load, load_image, load_signals, make_signals

has_sklearn = importlib.util.find_spec("sklearn") is not None
has_mnist1d = importlib.util.find_spec("mnist1d") is not None
has_pillow = importlib.util.find_spec("PIL") is not None
FASHION_DIR = idx_datasets.FASHION_MNIST_SYSTEM_DIR


def test_dataset_names():
    assert DATASETS == ("digits", "fashion-mnist", "mnist", "mnist1d", "signals")


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown dataset 'cifar10'; valid names: digits, fashion-mnist, mnist, "
                                         "mnist1d, signals"):
        load("cifar10")


def test_generated_dataset_rejects_data_dir(tmp_path):
    with pytest.raises(ValueError, match="'signals' dataset .* `data_dir` must be None"):
        load("signals", data_dir=tmp_path)


# ---- digits -------------------------------------------------------------------------------------------

@pytest.mark.skipif(not has_sklearn, reason="scikit-learn not installed (pip install \"clearconv[data]\")")
def test_digits_shapes_ranges_and_stratified_split():
    from sklearn.datasets import load_digits as sklearn_digits
    (x_train, y_train), (x_test, y_test) = load("digits")
    assert x_train.shape == (1438, 8, 8, 1) and x_test.shape == (359, 8, 8, 1)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int64
    assert x_train.min() == 0.0 and x_train.max() == 1.0
    np.testing.assert_array_equal(x_train * 16, np.round(x_train * 16))          # values are k / 16
    all_counts = np.bincount(sklearn_digits().target, minlength=10)
    np.testing.assert_array_equal(np.bincount(y_train, minlength=10) + np.bincount(y_test, minlength=10),
                                  all_counts)
    np.testing.assert_array_equal(np.bincount(y_test, minlength=10), np.round(0.2 * all_counts))
    # every image is in exactly one part: the multisets of flattened images add up to the original
    original = sklearn_digits().data.astype(np.float32) / 16
    together = np.concatenate([x_train, x_test]).reshape(-1, 64)
    order = lambda a: a[np.lexsort(a.T[::-1])]
    np.testing.assert_array_equal(order(together), order(original))


@pytest.mark.skipif(not has_sklearn, reason="scikit-learn not installed (pip install \"clearconv[data]\")")
def test_digits_deterministic_by_seed():
    first, again, other = load("digits", seed=3), load("digits", seed=3), load("digits", seed=4)
    for (a, b) in zip(first, again):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(first[1][1], other[1][1])


# ---- fashion-mnist ------------------------------------------------------------------------------------

@pytest.mark.skipif(not FASHION_DIR.is_dir(),
                    reason=f"Fashion-MNIST not installed in {FASHION_DIR} (apt-get install dataset-fashion-mnist)")
def test_fashion_mnist_from_the_debian_package(monkeypatch):
    monkeypatch.delenv("CLEARCONV_FASHION_MNIST", raising=False)
    (x_train, y_train), (x_test, y_test) = load("fashion-mnist")
    assert x_train.shape == (60000, 28, 28, 1) and x_test.shape == (10000, 28, 28, 1)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int64
    assert x_train.min() == 0.0 and x_train.max() == 1.0
    assert np.bincount(y_train).tolist() == [6000] * 10 and np.bincount(y_test).tolist() == [1000] * 10
    assert y_train[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]     # the published first training labels


def _no_fashion_anywhere(monkeypatch, tmp_path):
    monkeypatch.delenv("CLEARCONV_FASHION_MNIST", raising=False)
    monkeypatch.setattr(idx_datasets, "FASHION_MNIST_SYSTEM_DIR", tmp_path / "not-installed")


def _assert_says_how_to_get_fashion(message: str):
    assert "apt-get install dataset-fashion-mnist" in message
    assert "--data DIR" in message and "CLEARCONV_FASHION_MNIST=DIR" in message
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        assert name in message


def test_missing_fashion_mnist_says_how_to_get_it(monkeypatch, tmp_path):
    _no_fashion_anywhere(monkeypatch, tmp_path)
    with pytest.raises(FileNotFoundError) as error:
        load("fashion-mnist")
    assert "CLEARCONV_FASHION_MNIST is not set" in str(error.value)
    assert f"{tmp_path / 'not-installed'} does not exist" in str(error.value)
    _assert_says_how_to_get_fashion(str(error.value))


def test_fashion_mnist_env_dir_without_files(monkeypatch, tmp_path):
    _no_fashion_anywhere(monkeypatch, tmp_path)
    monkeypatch.setenv("CLEARCONV_FASHION_MNIST", str(tmp_path))
    with pytest.raises(FileNotFoundError) as error:
        load("fashion-mnist")
    assert str(error.value).startswith(f"{tmp_path}: missing IDX file(s) train-images-idx3-ubyte")
    _assert_says_how_to_get_fashion(str(error.value))


def test_data_dir_that_does_not_exist(monkeypatch, tmp_path):
    _no_fashion_anywhere(monkeypatch, tmp_path)
    with pytest.raises(FileNotFoundError, match="nowhere .from data_dir. is not a directory"):
        load("fashion-mnist", data_dir=tmp_path / "nowhere")


def test_data_dir_takes_precedence_over_the_environment(monkeypatch, tmp_path):
    from clearconv.data import write_idx
    monkeypatch.setenv("CLEARCONV_FASHION_MNIST", str(tmp_path / "elsewhere"))
    for stem, array in [("train-images-idx3-ubyte", np.full((2, 3, 3), 255, np.uint8)),
                        ("train-labels-idx1-ubyte", np.array([1, 2], np.uint8)),
                        ("t10k-images-idx3-ubyte", np.zeros((1, 3, 3), np.uint8)),
                        ("t10k-labels-idx1-ubyte", np.array([7], np.uint8))]:
        write_idx(tmp_path / stem, array)
    (x_train, y_train), (x_test, y_test) = load("fashion-mnist", data_dir=tmp_path)
    assert x_train.shape == (2, 3, 3, 1) and np.all(x_train == 1.0) and y_test.tolist() == [7]


def test_missing_mnist_says_how_to_get_it(monkeypatch):
    monkeypatch.delenv("CLEARCONV_MNIST", raising=False)
    with pytest.raises(FileNotFoundError, match="MNIST not found.*CLEARCONV_MNIST=DIR.*test_only=True"):
        load("mnist")


# ---- mnist1d ------------------------------------------------------------------------------------------

@pytest.mark.skipif(not has_mnist1d, reason="mnist1d not installed (pip install \"clearconv[mnist1d]\")")
def test_mnist1d_shapes_determinism_and_untouched_global_state():
    np.random.seed(123)
    random.seed(123)
    numpy_before, python_before = np.random.random(), random.random()
    np.random.seed(123)
    random.seed(123)
    (x_train, y_train), (x_test, y_test) = load("mnist1d", seed=5, num_samples=200)
    assert np.random.random() == numpy_before and random.random() == python_before
    assert x_train.shape == (160, 40, 1) and x_test.shape == (40, 40, 1)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int64
    assert np.bincount(np.concatenate([y_train, y_test])).tolist() == [20] * 10
    everything = np.concatenate([x_train, x_test])
    assert abs(float(everything.mean())) < 1e-5 and abs(float(everything.std()) - 1) < 1e-5   # standardised
    (again_train, _), _ = load("mnist1d", seed=5, num_samples=200)
    (other_train, _), _ = load("mnist1d", seed=6, num_samples=200)
    np.testing.assert_array_equal(x_train, again_train)
    assert not np.allclose(x_train, other_train)


# ---- signals ------------------------------------------------------------------------------------------

def _excess_kurtosis(x: np.ndarray) -> np.ndarray:
    centred = x - x.mean(axis=1, keepdims=True)
    return (centred ** 4).mean(axis=1) / (centred ** 2).mean(axis=1) ** 2 - 3.0


def _best_threshold_accuracy(feature: np.ndarray, labels: np.ndarray) -> float:
    """Accuracy of the best rule 'faulty if feature > t', over every t."""
    order = np.argsort(feature)
    sorted_labels = labels[order]
    # predicting 'faulty' for everything after position k: correct = healthy before k + faulty after k
    healthy_before = np.concatenate([[0], np.cumsum(sorted_labels == 0)])
    faulty_after = np.concatenate([[0], np.cumsum(sorted_labels[::-1] == 1)])[::-1]
    return float(np.max(healthy_before + faulty_after) / labels.size)


def test_signals_default_shapes_and_balance():
    (x_train, y_train), (x_test, y_test) = load("signals")
    assert x_train.shape == (2000, 512, 1) and x_test.shape == (500, 512, 1)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int64
    assert np.bincount(y_train).tolist() == [1000, 1000] and np.bincount(y_test).tolist() == [250, 250]
    assert 0.5 < float(x_train.std()) < 2.0 and np.all(np.isfinite(x_train))


def test_signals_deterministic_and_test_set_independent_of_train_count():
    (x_a, y_a), (t_a, u_a) = load_signals(seed=7, train_count=50, test_count=30)
    (x_b, y_b), (t_b, u_b) = load_signals(seed=7, train_count=50, test_count=30)
    (_, _), (t_c, u_c) = load_signals(seed=7, train_count=10, test_count=30)
    np.testing.assert_array_equal(x_a, x_b)
    np.testing.assert_array_equal(y_a, y_b)
    np.testing.assert_array_equal(t_a, t_c)
    np.testing.assert_array_equal(u_a, u_c)
    (x_d, _), _ = load_signals(seed=8, train_count=50, test_count=30)
    assert not np.allclose(x_a, x_d)


def test_signals_odd_count_balance():
    _, labels = make_signals(7, length=64, seed=0)
    assert np.bincount(labels).tolist() == [3, 4]


def test_kurtosis_separates_signals_above_chance_but_not_perfectly():
    x, y = make_signals(1000, seed=11)
    accuracy = _best_threshold_accuracy(_excess_kurtosis(x[:, :, 0]), y)
    assert 0.62 < accuracy < 0.9, accuracy


def test_faulty_signals_carry_more_energy_at_the_resonance():
    x, y = make_signals(400, seed=12)
    spectrum = np.abs(np.fft.rfft(x[:, :, 0], axis=1)) ** 2
    frequency = np.fft.rfftfreq(x.shape[1], d=1 / 5000.0)
    band = spectrum[:, (frequency > 800) & (frequency < 1800)].sum(axis=1) / spectrum.sum(axis=1)
    assert np.median(band[y == 1]) > 2 * np.median(band[y == 0])


@pytest.mark.parametrize("kwargs, message", [({"count": -1}, "`count` must be an integer >= 0"),
                                             ({"count": 4, "length": 0}, "`length` must be an integer >= 1")])
def test_signals_argument_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_signals(**kwargs)


# ---- load_image ---------------------------------------------------------------------------------------

@pytest.mark.skipif(not has_pillow, reason="Pillow not installed (pip install \"clearconv[data]\")")
def test_load_image_grayscale_rgb_and_resize(tmp_path):
    from PIL import Image
    pixels = np.array([[0, 51, 255], [255, 0, 0]], dtype=np.uint8)
    Image.fromarray(pixels, mode="L").save(tmp_path / "gray.png")
    gray = load_image(tmp_path / "gray.png")
    assert gray.shape == (2, 3, 1) and gray.dtype == np.float32
    np.testing.assert_array_equal(gray[:, :, 0], pixels / np.float32(255))

    red = np.zeros((4, 6, 3), dtype=np.uint8)
    red[..., 0] = 255
    Image.fromarray(red, mode="RGB").save(tmp_path / "red.png")
    as_rgb = load_image(tmp_path / "red.png", grayscale=False)
    assert as_rgb.shape == (4, 6, 3) and np.all(as_rgb[..., 0] == 1.0) and np.all(as_rgb[..., 1:] == 0.0)
    as_gray = load_image(tmp_path / "red.png")
    np.testing.assert_allclose(as_gray, 76 / 255, rtol=1e-6)        # ITU-R 601-2 luma: 0.299 * 255 -> 76
    assert load_image(tmp_path / "red.png", size=(8, 3)).shape == (8, 3, 1)


@pytest.mark.skipif(not has_pillow, reason="Pillow not installed (pip install \"clearconv[data]\")")
def test_load_image_rejects_bad_size(tmp_path):
    from PIL import Image
    Image.fromarray(np.zeros((2, 2), np.uint8)).save(tmp_path / "a.png")
    with pytest.raises(ValueError, match="`size` must be \\(height, width\\)"):
        load_image(tmp_path / "a.png", size=(0, 4))
