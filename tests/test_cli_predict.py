"""`clearconv predict`: images of another mode, size or polarity than the model's are converted with a
note, refused, or flagged, and every error names its file.

Oracles: the pixel arithmetic written out in NumPy (ITU-R 601-2 luma, alpha compositing onto white,
inversion, 16-bit scaling), and, for the probabilities printed, the model's own predict on those arrays.
"""

import re

import numpy as np
import pytest

from clearconv import cli, zoo

Image = pytest.importorskip("PIL.Image", reason="predict reads images with Pillow (the 'data' extra)")
from clearconv.cli.predict import prepare_image  # noqa: E402
from clearconv.cli.errors import FileError  # noqa: E402

GRAY = (8, 8, 1)


@pytest.fixture(autouse=True)
def in_process(monkeypatch):
    monkeypatch.setenv("CLEARCONV_KEEP_FREED_MEMORY", "0")   # cli.main runs in the test process


def digit(light_on_dark=True) -> np.ndarray:
    """An 8x8 uint8 '1'-like stroke: 230 on 10 (as the training data), or the reverse."""
    pixels = np.full((8, 8), 10, np.uint8)
    pixels[1:7, 3:5] = 230
    pixels[2, 2] = 180
    return pixels if light_on_dark else 255 - pixels


def save(tmp_path, name, array, mode=None):
    path = tmp_path / name
    Image.fromarray(array, mode=mode).save(path)
    return str(path)


def luma(rgb: np.ndarray) -> np.ndarray:
    """ITU-R 601-2 luma in [0, 1], float64, from uint8 (H, W, 3)."""
    return (rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])) / 255.0


def luma_8bit(rgb: np.ndarray) -> np.ndarray:
    """The same luma rounded to 8 bits as Pillow stores mode "L": (19595 R + 38470 G + 7471 B + 2**15) >> 16."""
    weights = np.array([19595, 38470, 7471], np.int64)
    return ((rgb.astype(np.int64) @ weights + 2**15) >> 16) / 255.0


def test_a_grayscale_image_of_the_right_size_passes_unchanged(tmp_path):
    path = save(tmp_path, "one.png", digit())
    pixels, notes = prepare_image(path, GRAY)
    assert notes == []
    assert pixels.dtype == np.float32 and pixels.shape == GRAY
    np.testing.assert_array_equal(pixels[:, :, 0], digit() / np.float32(255))


def test_a_colour_image_is_converted_to_grayscale_with_a_note(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 128, (8, 8, 3), dtype=np.uint8)   # dark: no polarity note
    path = save(tmp_path, "colour.png", rgb)
    pixels, notes = prepare_image(path, GRAY)
    np.testing.assert_allclose(pixels[:, :, 0], luma(rgb), atol=0.6 / 255)
    assert len(notes) == 1 and "colour.png" in notes[0] and "grayscale" in notes[0]


def test_a_gray_image_stored_as_rgb_converts_without_a_note(tmp_path):
    path = save(tmp_path, "gray-rgb.png", np.repeat(digit()[:, :, None], 3, axis=2))
    pixels, notes = prepare_image(path, GRAY)
    assert notes == []
    np.testing.assert_array_equal(pixels[:, :, 0], digit() / np.float32(255))


def test_a_grayscale_image_fills_the_three_channels_of_a_colour_model(tmp_path):
    path = save(tmp_path, "one.png", digit())
    pixels, notes = prepare_image(path, (8, 8, 3))
    assert pixels.shape == (8, 8, 3)
    for channel in range(3):
        np.testing.assert_array_equal(pixels[:, :, channel], digit() / np.float32(255))
    assert len(notes) == 1 and "one.png" in notes[0] and "3 channels" in notes[0]


def test_transparency_is_flattened_onto_white(tmp_path):
    """A drawing from a canvas: black strokes on a transparent background (whose colour is black)."""
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[1:7, 3:5, 3] = 255                   # opaque black stroke
    rgba[2, 2, 3] = 128                       # half-transparent black
    path = save(tmp_path, "canvas.png", rgba)
    pixels, notes = prepare_image(path, GRAY)
    alpha = rgba[:, :, 3:] / 255.0
    expected = luma(np.round(alpha * rgba[:, :, :3] + (1 - alpha) * 255).astype(np.uint8))
    np.testing.assert_allclose(pixels[:, :, 0], expected, atol=1.0 / 255)
    assert any("transparent" in note and "white" in note and "canvas.png" in note for note in notes)
    assert any("--invert" in note for note in notes)   # and so it is dark on light


def test_sixteen_bit_grayscale_is_scaled_by_65535(tmp_path):
    deep = (digit().astype(np.uint16) * 257 + 3)            # spans the 16-bit range
    path = tmp_path / "deep.png"
    Image.fromarray(deep).save(path)
    pixels, notes = prepare_image(str(path), GRAY)
    np.testing.assert_allclose(pixels[:, :, 0], deep / 65535.0, rtol=1e-6)
    assert notes == []


def test_a_wrong_size_is_refused_with_the_expected_size(tmp_path):
    path = save(tmp_path, "big.png", np.kron(digit(), np.ones((2, 3), np.uint8)))   # 16 high, 24 wide
    with pytest.raises(FileError) as error:
        prepare_image(path, GRAY)
    message = str(error.value)
    assert "big.png" in message and "16x24" in message and "8x8" in message and "--resize" in message


def test_resize_resizes_with_a_note(tmp_path):
    big = np.kron(digit(), np.ones((2, 3), np.uint8))
    path = save(tmp_path, "big.png", big)
    pixels, notes = prepare_image(path, GRAY, resize=True)
    expected = np.asarray(Image.fromarray(big.astype(np.float32) / 255, mode="F")
                          .resize((8, 8), Image.Resampling.BILINEAR))
    np.testing.assert_allclose(pixels[:, :, 0], expected, atol=1e-6)
    assert len(notes) == 1 and "big.png" in notes[0] and "16x24 to 8x8" in notes[0]
    assert "aspect ratio" in notes[0]


def test_a_dark_on_light_image_is_flagged_not_inverted(tmp_path):
    path = save(tmp_path, "paper.png", digit(light_on_dark=False))
    pixels, notes = prepare_image(path, GRAY)
    np.testing.assert_array_equal(pixels[:, :, 0], digit(light_on_dark=False) / np.float32(255))
    assert len(notes) == 1 and "paper.png" in notes[0] and "dark on light" in notes[0] and "--invert" in notes[0]


def test_invert_inverts(tmp_path):
    path = save(tmp_path, "paper.png", digit(light_on_dark=False))
    pixels, notes = prepare_image(path, GRAY, invert=True)
    np.testing.assert_allclose(pixels[:, :, 0], 1.0 - digit(light_on_dark=False) / 255.0, atol=1e-7)
    assert notes == []


def test_invert_on_a_light_on_dark_image_is_flagged(tmp_path):
    path = save(tmp_path, "one.png", digit())
    _, notes = prepare_image(path, GRAY, invert=True)
    assert len(notes) == 1 and "one.png" in notes[0] and "--invert" in notes[0]


def test_the_polarity_test_accepts_every_training_image_and_flags_every_inverted_one():
    """The border test on the data the image models learn from: digits (and Fashion-MNIST when
    installed) are light on dark; none may be flagged, and all of their negatives must be."""
    from clearconv.cli.predict import looks_dark_on_light
    from clearconv.data import load
    (x_train, _), (x_test, _) = load("digits", seed=0)
    images = np.concatenate([x_train, x_test])[:, :, :, 0]
    assert not any(looks_dark_on_light(image) for image in images)
    assert all(looks_dark_on_light(1.0 - image) for image in images)


@pytest.mark.parametrize("name, content, says", [
    ("missing.png", None, "no such file"),
    ("folder.png", "folder", "a folder"),
    ("empty.png", b"", "empty"),
    ("notes.png", b"these are words, not pixels\n", "not an image"),
    ("cut.png", "truncated", "truncated"),
])
def test_unreadable_images_are_refused_naming_the_file(tmp_path, name, content, says):
    path = tmp_path / name
    if content == "folder":
        path.mkdir()
    elif content == "truncated":
        save(tmp_path, "whole.png", np.random.default_rng(1).integers(0, 256, (64, 64), dtype=np.uint8))
        path.write_bytes((tmp_path / "whole.png").read_bytes()[:200])
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(FileError) as error:
        prepare_image(str(path), GRAY)
    assert str(path) in str(error.value) and says in str(error.value)


# --- the command -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "digits.clearconv"
    zoo.get("digits_cnn").save(path)
    return str(path)


def printed_probabilities(out: str) -> dict:
    return {path: (int(label), float(p)) for path, label, p in
            re.findall(r"^(.+): class (\d+) \(probability ([0-9.]+)\)$", out, flags=re.M)}


def test_predict_notes_go_to_stderr_and_the_probabilities_match_the_model(model_file, tmp_path, capsys):
    from clearconv.models import load_model
    good = save(tmp_path, "one.png", digit())
    paper = save(tmp_path, "paper.png", digit(light_on_dark=False))
    colour = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    rgb = save(tmp_path, "colour.png", colour)
    assert cli.main(["predict", model_file, good, paper, rgb, "--invert"]) == 0
    captured = capsys.readouterr()
    notes = captured.err.splitlines()
    assert all(line.startswith("clearconv predict: note: ") for line in notes)
    assert any("one.png" in line and "--invert" in line for line in notes)
    assert any("colour.png" in line and "grayscale" in line for line in notes)
    probabilities = printed_probabilities(captured.out)
    oracle = np.stack([1.0 - digit() / 255.0, 1.0 - digit(light_on_dark=False) / 255.0, 1.0 - luma_8bit(colour)])
    expected = load_model(model_file, compile=False).predict(oracle[..., None].astype(np.float32), verbose=0)
    for path, row in zip((good, paper, rgb), expected):
        label, probability = probabilities[path]
        assert label == int(np.argmax(row)) and abs(probability - row[label]) <= 0.0005 + 1e-6   # printed to 3 places


def test_predict_reports_each_bad_image_and_classifies_the_rest(model_file, tmp_path, capsys):
    good = save(tmp_path, "one.png", digit())
    big = save(tmp_path, "big.png", np.zeros((16, 16), np.uint8))
    missing = str(tmp_path / "missing.png")
    assert cli.main(["predict", model_file, big, good, missing]) == 1
    captured = capsys.readouterr()
    assert list(printed_probabilities(captured.out)) == [good]
    errors = captured.err.splitlines()
    assert len(errors) == 2 and "Traceback" not in captured.err
    assert "big.png" in errors[0] and "8x8" in errors[0] and "missing.png" in errors[1]


def test_predict_refuses_a_model_that_does_not_take_images(tmp_path, capsys):
    path = tmp_path / "signal.clearconv"
    zoo.get("mnist1d_cnn").save(path)
    assert cli.main(["predict", str(path), save(tmp_path, "one.png", digit())]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "signal.clearconv" in error and "(40, 1)" in error
