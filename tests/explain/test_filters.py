"""The tutorial kernels, applied by DepthwiseConv2D, against a 2D correlation written here with loops (and
scipy's correlate2d on scikit-image's sample photographs, read from its package without any network)."""

import os
import socket

import numpy as np
import pytest

from clearconv.explain.filters import KERNELS, SAMPLE_FILES, apply_kernel, kernel, sample_image, sample_images


def correlate(channel, k, padding):
    """Plain 2D correlation (no flip) of one channel; 'same' pads zeros (k - 1) // 2 before, the rest after."""
    kh, kw = k.shape
    if padding == "same":
        channel = np.pad(channel, (((kh - 1) // 2, kh // 2), ((kw - 1) // 2, kw // 2)))
    out = np.zeros((channel.shape[0] - kh + 1, channel.shape[1] - kw + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = sum(channel[i + a, j + b] * k[a, b] for a in range(kh) for b in range(kw))
    return out


@pytest.mark.parametrize("name", list(KERNELS))
@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("channels", [0, 3])
def test_matches_loop_correlation(name, padding, channels):
    rng = np.random.default_rng(len(name) + channels)
    shape = (9, 11) if channels == 0 else (9, 11, channels)
    image = rng.random(shape).astype(np.float32)
    k = kernel(name)
    result = apply_kernel(image, k, padding)
    planes = [image] if channels == 0 else [image[:, :, c] for c in range(channels)]
    expected = np.stack([correlate(p.astype(np.float64), k.astype(np.float64), padding) for p in planes], -1)
    if channels == 0:
        expected = expected[:, :, 0]
    assert result.shape == expected.shape
    np.testing.assert_allclose(result, expected, atol=1e-5)


def test_tutorial_values():
    assert kernel("gaussian").tolist() == (np.outer([1, 2, 1], [1, 2, 1]) / 16).astype(np.float32).tolist()
    assert kernel("sharpen").shape == kernel("blur").shape == (5, 5)
    np.testing.assert_allclose(kernel("sharpen").sum(), 1, atol=1e-6)
    np.testing.assert_allclose(kernel("blur").sum(), 1, atol=1e-6)
    assert np.count_nonzero(kernel("blur")) == 13
    for name in ("edge", "laplacian", "sobel-x", "sobel-y"):
        assert kernel(name).sum() == 0
    np.testing.assert_allclose(kernel("box"), np.full((3, 3), 1 / 9), rtol=1e-6)
    for make in KERNELS.values():
        assert make.__doc__


def test_unknown_name_and_bad_inputs():
    with pytest.raises(ValueError, match="sobel-x"):
        kernel("nope")
    with pytest.raises(ValueError, match="does not fit"):
        apply_kernel(np.zeros((3, 3)), kernel("blur"), "valid")
    with pytest.raises(ValueError, match="padding"):
        apply_kernel(np.zeros((8, 8)), kernel("box"), "full")


# --- scikit-image's sample photographs ---------------------------------------------------------------------

def _bundled(file):
    """The file as scikit-image ships it, found from its package (not through clearconv)."""
    skimage_data = pytest.importorskip("skimage.data")
    return os.path.join(os.path.dirname(skimage_data.__file__), file)


@pytest.fixture
def offline(monkeypatch):
    """Any attempt to open a network connection fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("a network connection was attempted")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.mark.parametrize("name, file, channels", [
    ("camera", "camera.png", 0), ("coins", "coins.png", 0), ("astronaut", "astronaut.png", 3),
    ("chelsea", "chelsea.png", 3), ("logo", "logo.png", 4)])
def test_sample_is_the_bundled_file_scaled(offline, name, file, channels):
    Image = pytest.importorskip("PIL.Image")
    path = _bundled(file)
    assert os.path.isfile(path)                 # on disk before the call: nothing to download
    with Image.open(path) as image:
        pixels = np.asarray(image)
    assert pixels.ndim == (2 if channels == 0 else 3) and (channels == 0 or pixels.shape[2] == channels)
    expected = (pixels[..., :3] if channels == 4 else pixels).astype(np.float32) / 255    # alpha dropped
    result = sample_image(name)
    assert result.dtype == np.float32 and result.shape == expected.shape
    np.testing.assert_array_equal(result, expected)


@pytest.mark.parametrize("name", ["camera", "astronaut", "coffee"])
def test_sample_equals_scikit_image_loader(offline, name):
    skimage_data = pytest.importorskip("skimage.data")
    # scikit-image's own loader reads the same bundled file (with sockets refused, it cannot fetch one)
    np.testing.assert_array_equal(sample_image(name) * 255, getattr(skimage_data, name)().astype(np.float32))


def test_every_listed_sample_is_on_disk_and_loads_offline(offline):
    pytest.importorskip("PIL.Image")
    names = sample_images()
    assert {"camera", "astronaut", "coffee", "chelsea", "coins", "moon"} <= set(names)
    assert list(names) == sorted(names)
    for name in names:
        path = _bundled(SAMPLE_FILES[name])
        assert os.path.isfile(path), name
        pixels = sample_image(name)
        assert pixels.ndim == 2 or (pixels.ndim == 3 and pixels.shape[2] == 3), (name, pixels.shape)
        assert pixels.dtype == np.float32 and 0 <= pixels.min() <= pixels.max() <= 1, name


@pytest.mark.parametrize("name, kernel_name, padding", [
    ("camera", "sharpen", "same"), ("coins", "edge", "valid"), ("coffee", "sobel-x", "same"),
    ("astronaut", "blur", "valid")])
def test_filtered_sample_equals_correlate2d_per_channel(offline, name, kernel_name, padding):
    signal = pytest.importorskip("scipy.signal")
    pytest.importorskip("PIL.Image")
    image = sample_image(name)
    k = kernel(kernel_name)
    result = apply_kernel(image, k, padding)
    planes = [image] if image.ndim == 2 else [image[:, :, c] for c in range(image.shape[2])]
    # odd kernels: scipy's 'same' centres the kernel as Keras's 'same' does (zeros around)
    expected = np.stack([signal.correlate2d(p.astype(np.float64), k.astype(np.float64), mode=padding)
                         for p in planes], -1)
    if image.ndim == 2:
        expected = expected[:, :, 0]
    assert result.shape == expected.shape
    np.testing.assert_allclose(result, expected, atol=1e-5)


def test_unknown_sample_lists_the_names():
    pytest.importorskip("skimage")
    with pytest.raises(ValueError) as raised:
        sample_image("cameraa")
    message = str(raised.value)
    assert "cameraa" in message and all(name in message for name in sample_images())


def test_without_scikit_image(monkeypatch):
    from clearconv.explain import filters
    monkeypatch.setattr(filters, "_sample_folder", lambda: None)
    assert sample_images() == ()
    with pytest.raises(ImportError, match=r"scikit-image.*clearconv\[data\]"):
        sample_image("camera")
