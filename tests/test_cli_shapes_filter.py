"""`clearconv shapes` and `clearconv filter`: results, exit codes and messages."""

import os
import socket

import numpy as np
import pytest

from clearconv import cli
from clearconv.explain.filters import KERNELS

Image = pytest.importorskip("PIL.Image", reason="the filter command reads images with Pillow")


@pytest.fixture(autouse=True)
def in_process(monkeypatch):
    monkeypatch.setenv("CLEARCONV_KEEP_FREED_MEMORY", "0")


@pytest.fixture
def pictures(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    Image.fromarray((rng.random((12, 10)) * 255).astype(np.uint8)).save("gray.png")
    Image.fromarray((rng.random((12, 10, 3)) * 255).astype(np.uint8)).save("rgb.png")
    return tmp_path


def test_shapes_zoo_model_with_totals(capsys):
    assert cli.main(["shapes", "lenet5"]) == 0
    out = capsys.readouterr().out
    assert "receptive field" in out and "61,706" in out and "416,520" in out


def test_shapes_input_shape(capsys):
    assert cli.main(["shapes", "lenet5", "--input-shape", "32,32,1"]) == 0
    assert "(?, 32, 32, 6)" in capsys.readouterr().out


@pytest.mark.parametrize("argv, words", [
    (["shapes", "nope"], ["nope", "lenet5"]),
    (["shapes", "lenet5", "--input-shape", "0,3"], ["--input-shape"]),
    (["shapes", "lenet5", "--input-shape", "2,2,1"], ["--input-shape", "lenet5"]),
])
def test_shapes_usage_errors(argv, words, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert all(word in err for word in words)


@pytest.mark.parametrize("picture, shape", [("gray.png", (12, 10)), ("rgb.png", (12, 10, 3))])
@pytest.mark.parametrize("padding, size", [("same", (12, 10)), ("valid", (8, 6))])
def test_filter_npy_is_raw_result_on_unit_pixels(pictures, capsys, picture, shape, padding, size):
    from clearconv.explain.filters import apply_kernel, kernel
    assert cli.main(["filter", picture, "--kernel", "sharpen", "--padding", padding, "-o", "out.npy"]) == 0
    result = np.load("out.npy")
    assert result.shape == size + shape[2:]
    pixels = np.asarray(Image.open(picture), dtype=np.float32) / 255
    np.testing.assert_allclose(result, apply_kernel(pixels, kernel("sharpen"), padding), atol=1e-6)
    out = capsys.readouterr().out
    assert "sharpen" in out and "out.npy" in out and padding in out


def test_filter_writes_png_by_default(pictures, capsys):
    assert cli.main(["filter", "rgb.png", "--kernel", "box"]) == 0
    with Image.open("rgb-box.png") as written:
        assert written.size == (10, 12) and written.mode == "RGB"
    assert "wrote rgb-box.png" in capsys.readouterr().out


def test_filter_kernel_from_npy(pictures):
    np.save("k.npy", np.array([[0, 0, 0], [0, 1, 0], [0, 0, 0]], dtype=np.float32))
    assert cli.main(["filter", "gray.png", "--kernel", "k.npy", "-o", "same.npy"]) == 0
    np.testing.assert_allclose(np.load("same.npy"), np.asarray(Image.open("gray.png")) / 255, atol=1e-6)


def test_bad_kernel_name_exits_2_listing_names(pictures, capsys):
    assert cli.main(["filter", "gray.png", "--kernel", "sharpest"]) == 2
    err = capsys.readouterr().err
    assert "--kernel" in err and "sharpest" in err and all(name in err for name in KERNELS)


@pytest.mark.parametrize("argv, name", [
    (["filter", "missing.png", "--kernel", "blur"], "missing.png"),
    (["filter", "gray.png", "--kernel", "missing.npy"], "missing.npy"),
])
def test_missing_files_exit_1_naming_them(pictures, capsys, argv, name):
    assert cli.main(argv) == 1
    assert name in capsys.readouterr().err


@pytest.fixture
def samples(tmp_path, monkeypatch):
    """scikit-image installed, the current folder empty, and no network connection possible."""
    pytest.importorskip("skimage")
    monkeypatch.chdir(tmp_path)

    def refuse(*args, **kwargs):
        raise AssertionError("a network connection was attempted")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.mark.parametrize("name, size, mode", [("camera", (512, 512), "L"), ("chelsea", (451, 300), "RGB")])
def test_filter_sample_photograph_writes_png(samples, capsys, name, size, mode):
    assert cli.main(["filter", name, "--kernel", "sharpen"]) == 0
    with Image.open(f"{name}-sharpen.png") as written:
        assert written.size == size and written.mode == mode
    out = capsys.readouterr().out
    assert f"scikit-image's sample '{name}'" in out and f"wrote {name}-sharpen.png" in out


def test_filter_sample_npy_is_the_correlation_of_the_bundled_file(samples):
    signal = pytest.importorskip("scipy.signal")
    import skimage.data
    assert cli.main(["filter", "coffee", "--kernel", "emboss", "--padding", "valid", "-o", "coffee.npy"]) == 0
    result = np.load("coffee.npy")
    # the oracle reads the file from scikit-image's folder itself and correlates each channel with scipy
    path = os.path.join(os.path.dirname(skimage.data.__file__), "coffee.png")
    pixels = np.asarray(Image.open(path), dtype=np.float64) / 255
    k = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]], dtype=np.float64)
    expected = np.stack([signal.correlate2d(pixels[:, :, c], k, mode="valid") for c in range(3)], -1)
    assert result.shape == expected.shape == (398, 598, 3)
    np.testing.assert_allclose(result, expected, atol=1e-5)


def test_a_file_wins_over_a_sample_name(samples, capsys):
    Image.fromarray(np.full((6, 5), 128, dtype=np.uint8)).save("camera", format="PNG")
    assert cli.main(["filter", "camera", "--kernel", "box", "-o", "out.npy"]) == 0
    assert np.load("out.npy").shape == (6, 5)
    assert "filtered camera (6x5 grayscale" in capsys.readouterr().out


@pytest.mark.parametrize("image", ["cameraa", "missing.png"])
def test_unknown_sample_name_exits_1_listing_samples(samples, capsys, image):
    from clearconv.explain.filters import sample_images
    assert cli.main(["filter", image, "--kernel", "blur"]) == 1
    err = capsys.readouterr().err
    assert image in err and "no such file" in err and all(name in err for name in sample_images())
