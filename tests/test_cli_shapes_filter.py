"""`clearconv shapes` and `clearconv filter`: results, exit codes and messages."""

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
