"""`clearconv plot`: each picture on a zoo model or a saved one, its default name, its line, and the errors."""

import os

import numpy as np
import pytest

from clearconv import cli, data, zoo
from clearconv import layers as L
from clearconv.callbacks import CSVLogger
from clearconv.models import Sequential

pytest.importorskip("matplotlib")
pytest.importorskip("sklearn", reason="the digits dataset needs scikit-learn (the 'data' extra)")
from matplotlib import image as mpimg  # noqa: E402  (after the skips)


@pytest.fixture(autouse=True)
def in_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("CLEARCONV_KEEP_FREED_MEMORY", "0")
    monkeypatch.chdir(tmp_path)                                  # default names land in the test's folder


def _png(path):
    """The picture at ``path``, checked to be a PNG with something drawn in it."""
    with open(path, "rb") as file:
        assert file.read(8) == b"\x89PNG\r\n\x1a\n"
    pixels = mpimg.imread(path)
    assert pixels.ndim == 3 and pixels[..., :3].std() > 0.05
    return pixels


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny model fitted on 64 digits, saved; and the CSVLogger file of its 2 epochs."""
    folder = tmp_path_factory.mktemp("trained")
    (x, y), _ = data.load("digits", seed=0)
    model = Sequential([L.Conv2D(3, 3, activation="relu", input_shape=(8, 8, 1)), L.Flatten(),
                        L.Dense(10, activation="softmax")], name="tiny")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    log = str(folder / "log.csv")
    model.fit(x[:64], y[:64], epochs=2, batch_size=32, validation_split=0.25, verbose=0, callbacks=[CSVLogger(log)])
    path = str(folder / "tiny.clearconv")
    model.save(path)
    return model, path, log


@pytest.fixture
def digits_cnn(monkeypatch):
    """The digits_cnn the command builds (layer names count up from model to model: this one's are known)."""
    model = zoo.get("digits_cnn")
    monkeypatch.setitem(zoo.MODELS, "digits_cnn", lambda **options: model)
    return model


def test_kernels_of_a_zoo_model(capsys, digits_cnn):
    assert cli.main(["plot", "kernels", "digits_cnn"]) == 0
    out = capsys.readouterr().out
    name = f"digits_cnn-{digits_cnn.layers[0].name}-kernels.png"
    assert out == f"drew the kernels of layer {digits_cnn.layers[0].name} (Conv2D) of digits_cnn (zoo model, " \
                  f"untrained: random weights) in {name}\n"
    _png(name)


def test_kernels_of_a_named_layer_to_output(tmp_path, capsys):
    """--layer picks a layer other than the first conv, -o names the picture. The model is a saved one of two
    small convs: digits_cnn's second conv (64 x 32 kernels) would draw 16 x 8 = 128 cells, each its own
    matplotlib Axes placed by the constrained layout (3 s), where this one draws 2 x 3."""
    model = Sequential([L.Conv2D(3, 3, input_shape=(8, 8, 1), name="first"), L.Conv2D(2, 3, name="second"),
                        L.Flatten(), L.Dense(10)], name="two_convs")
    model.save(str(tmp_path / "two.clearconv"))
    out_path = str(tmp_path / "second.png")
    assert cli.main(["plot", "kernels", str(tmp_path / "two.clearconv"), "--layer", "second", "-o", out_path]) == 0
    assert capsys.readouterr().out == f"drew the kernels of layer second (Conv2D) of two_convs in {out_path}\n"
    # the named layer's grid, not the first conv's: 2 filter rows x (3 channels + the RGB view) at 0.8 inch
    assert _png(out_path).shape[:2] == (round((2 * 0.8 + 1.0) * 100), round((4 * 0.8 + 1.2) * 100))


def test_kernels_refuses_a_dense_layer(capsys, digits_cnn):
    dense = digits_cnn.layers[5].name
    assert cli.main(["plot", "kernels", "digits_cnn", "--layer", dense]) == 2
    err = capsys.readouterr().err
    assert f"--layer {dense}: Dense layers have no convolution kernel" in err, err
    assert not os.listdir(".")


def test_features_on_digits(capsys, trained, digits_cnn):
    _, path, _ = trained
    assert cli.main(["plot", "features", path, "--data", "digits", "--index", "3", "-o", "f.png"]) == 0
    out = capsys.readouterr().out
    assert "digits test example 3" in out and "f.png" in out and "untrained" not in out
    _png("f.png")
    assert cli.main(["plot", "features", "digits_cnn", "--data", "digits"]) == 0
    _png(f"digits_cnn-{digits_cnn.layers[0].name}-features.png")


def test_history_from_a_real_fit(capsys, trained):
    _, _, log = trained
    assert cli.main(["plot", "history", log]) == 0
    out = capsys.readouterr().out
    assert "2 epochs" in out and out.strip().endswith("history.png")
    assert _png("history.png").shape[:2] == (340, 800)          # loss and accuracy panels: (8, 3.4) inches


def test_confusion_on_digits(capsys, trained):
    model, path, _ = trained
    assert cli.main(["plot", "confusion", path, "--data", "digits"]) == 0
    out = capsys.readouterr().out
    _, (x_test, y_test) = data.load("digits", seed=0)
    accuracy = np.mean(np.argmax(np.asarray(model.predict(x_test, verbose=0)), axis=1) == y_test)
    assert f"{len(y_test)} test samples of digits (accuracy {accuracy:.4f})" in out
    assert out.strip().endswith("tiny-digits-confusion.png")
    _png("tiny-digits-confusion.png")


@pytest.mark.parametrize("argv, code, words", [
    (["plot", "kernels", "digits_cnn", "--layer", "nope"], 2, ["--layer", "nope"]),
    (["plot", "kernels", "digits_cnn", "-o", "k.xyz"], 2, ["--output k.xyz", ".png"]),
    (["plot", "kernels", "digits_cnn", "-o", "missing/k.png"], 2, ["--output", "does not exist"]),
    (["plot", "kernels", "nope"], 2, ["nope", "digits_cnn"]),
    (["plot", "features", "digits_cnn"], 2, ["--input", "--data"]),
    (["plot", "history", "missing.csv"], 1, ["missing.csv", "no such file"]),
    (["plot", "confusion", "missing.clearconv", "--data", "digits"], 1, ["missing.clearconv"]),
    (["plot"], 2, ["PICTURE"]),
])
def test_errors(argv, code, words, capsys):
    assert cli.main(argv) == code
    err = capsys.readouterr().err
    assert all(word in err for word in words), err
    assert not any(name.endswith(".png") for name in os.listdir("."))   # nothing written on an error


@pytest.mark.parametrize("text, words", [
    ("", ["empty"]),
    ("loss,val_loss\n0.5,0.6\n", ["'epoch'"]),
    ("epoch,loss\n0,oops\n", ["line 2", "'oops'"]),
])
def test_bad_csv(text, words, capsys, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    assert cli.main(["plot", "history", str(path)]) == 1
    err = capsys.readouterr().err
    assert str(path) in err and all(word in err for word in words), err
    assert not os.path.exists("history.png")


def test_confusion_refuses_a_model_unfit_for_the_data(tmp_path, capsys):
    model = Sequential([L.Conv2D(2, 3, input_shape=(28, 28, 1)), L.Flatten(), L.Dense(10)])
    path = str(tmp_path / "wide.clearconv")
    model.save(path)
    assert cli.main(["plot", "confusion", path, "--data", "digits"]) == 1
    assert "(28, 28, 1)" in capsys.readouterr().err


def test_without_matplotlib(monkeypatch, capsys):
    import sys
    monkeypatch.setitem(sys.modules, "matplotlib", None)         # import matplotlib now raises ImportError
    assert cli.main(["plot", "kernels", "digits_cnn"]) == 1
    assert 'pip install "clearconv[plot]"' in capsys.readouterr().err
