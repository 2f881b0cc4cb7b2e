"""`clearconv convert`: model files between formats, each read back and compared by predictions."""

import numpy as np
import pytest

from clearconv import cli
from clearconv import layers as L
from clearconv.models import Sequential, load_model


@pytest.fixture(autouse=True)
def in_process(monkeypatch):
    monkeypatch.setenv("CLEARCONV_KEEP_FREED_MEMORY", "0")


@pytest.fixture(scope="module")
def cnn_file(tmp_path_factory):
    """A small CNN with non-trivial BatchNormalization statistics, saved in clearconv's format."""
    rng = np.random.default_rng(0)
    model = Sequential([L.Input((8, 8, 1)), L.Conv2D(3, 3, padding="same", name="conv"),
                        L.BatchNormalization(name="bn"), L.ReLU(), L.MaxPooling2D(), L.Flatten(),
                        L.Dense(4, activation="softmax", name="head")], name="cnn")
    bn = model.get_layer("bn")
    bn.set_weights([rng.uniform(0.5, 2, 3), rng.normal(size=3), rng.normal(size=3), rng.uniform(0.5, 2, 3)])
    path = tmp_path_factory.mktemp("convert") / "cnn.clearconv"
    model.save(path)
    return model, path


def _same_predictions(model, path):
    x = np.random.default_rng(1).standard_normal((3, 8, 8, 1)).astype("float32")
    np.testing.assert_allclose(np.asarray(load_model(path).predict(x, verbose=0)),
                               np.asarray(model.predict(x, verbose=0)), rtol=1e-5, atol=1e-6)


def test_native_to_native_is_exact(cnn_file, tmp_path, capsys):
    model, path = cnn_file
    out = tmp_path / "copy.clearconv"
    assert cli.main(["convert", str(path), str(out)]) == 0
    printed = capsys.readouterr().out
    assert "clearconv's own format" in printed and "differ by at most 0" in printed
    assert f"{sum(int(np.prod(w.shape)) for w in model.weights):,} parameters" in printed
    _same_predictions(model, out)


@pytest.mark.parametrize("argv, code, words", [
    (["convert", "missing.clearconv", "out.clearconv"], 1, ["missing.clearconv", "no such file"]),
    (["convert", "{path}", "{folder}"], 2, ["is a folder", "model.keras"]),
    (["convert", "{path}", "out.clearconv", "--like", "lenet5"], 2, ["--like", "whole model"]),
])
def test_refusals(cnn_file, tmp_path, capsys, monkeypatch, argv, code, words):
    monkeypatch.chdir(tmp_path)
    _, path = cnn_file
    argv = [a.format(path=path, folder=tmp_path) for a in argv]
    assert cli.main(argv) == code
    err = capsys.readouterr().err
    for word in words:
        assert word in err, err


def test_random_bytes_are_not_a_model(tmp_path, capsys):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(np.random.default_rng(2).bytes(256))
    assert cli.main(["convert", str(junk), str(tmp_path / "out.clearconv")]) == 1
    assert "not a model file clearconv reads" in capsys.readouterr().err
    assert not (tmp_path / "out.clearconv").exists()


def test_to_keras_and_onnx_and_back(cnn_file, tmp_path, capsys):
    pytest.importorskip("h5py")
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    model, path = cnn_file
    for name, words in (("m.keras", "Keras 3"), ("m.onnx", "ONNX")):
        assert cli.main(["convert", str(path), str(tmp_path / name)]) == 0
        difference = float(capsys.readouterr().out.split("differ by at most ")[1].split()[0])
        assert difference < 1e-5
        assert cli.main(["convert", str(tmp_path / name), str(tmp_path / f"{name}.clearconv")]) == 0
        assert f"({words}" in capsys.readouterr().out
        _same_predictions(model, tmp_path / f"{name}.clearconv")


def test_a_torch_state_dict_needs_like_and_loads_into_it(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    pytest.importorskip("h5py")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 3, padding=1), torch.nn.BatchNorm2d(3), torch.nn.ReLU(),
                              torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(3 * 4 * 4, 4))
    net.train()
    net(torch.randn(16, 1, 8, 8))            # moving statistics of its own
    net.eval()
    torch.save(net.state_dict(), tmp_path / "net.pt")
    like = Sequential([L.Input((8, 8, 1)), L.Conv2D(3, 3, padding="same"), L.BatchNormalization(epsilon=1e-5),
                       L.ReLU(), L.MaxPooling2D(), L.Flatten(), L.Dense(4)])
    like.save(tmp_path / "like.clearconv")
    assert cli.main(["convert", str(tmp_path / "net.pt"), str(tmp_path / "net.keras")]) == 2
    assert "--like" in capsys.readouterr().err
    argv = ["convert", str(tmp_path / "net.pt"), str(tmp_path / "net.keras"), "--like", str(tmp_path / "like.clearconv")]
    assert cli.main(argv) == 0
    assert "a torch.save state_dict" in capsys.readouterr().out
    x = torch.randn(3, 1, 8, 8)
    ours = load_model(tmp_path / "net.keras").predict(x.numpy().transpose(0, 2, 3, 1), verbose=0)
    np.testing.assert_allclose(ours, net(x).detach().numpy(), rtol=1e-5, atol=1e-5)


def test_the_format_is_read_from_the_bytes_and_a_foreign_zip_is_named(cnn_file, tmp_path):
    import shutil
    import zipfile
    from clearconv.io import ModelFileError, file_format
    _, path = cnn_file
    renamed = tmp_path / "model.onnx"            # a clearconv file under an ONNX name is still clearconv's
    shutil.copy(path, renamed)
    assert file_format(renamed) == "clearconv"
    foreign = tmp_path / "photos.zip"
    with zipfile.ZipFile(foreign, "w") as archive:
        archive.writestr("cat.jpg", b"not a model")
    with pytest.raises(ModelFileError, match="a zip archive of cat.jpg: expected clearconv's own format"):
        file_format(foreign)


def test_the_read_back_check_is_skipped_for_huge_tensors(cnn_file, tmp_path, capsys, monkeypatch):
    from clearconv.cli import convert
    monkeypatch.setattr(convert, "PROBE_VALUES", 10)
    model, path = cnn_file
    assert cli.main(["convert", str(path), str(tmp_path / "copy.clearconv")]) == 0
    assert "not compared (one sample's tensors hold" in capsys.readouterr().out
    _same_predictions(model, tmp_path / "copy.clearconv")
