"""`clearconv explain`: the printed value is the trace's, and the usage errors."""

import re

import numpy as np
import pytest

from clearconv import cli, data, zoo
from clearconv import layers as L
from clearconv.explain import trace
from clearconv.models import Sequential

pytest.importorskip("sklearn", reason="the digits dataset needs scikit-learn (the 'data' extra)")


@pytest.fixture(autouse=True)
def in_process(monkeypatch):
    monkeypatch.setenv("CLEARCONV_KEEP_FREED_MEMORY", "0")


def _printed_value(out, index):
    match = re.search(re.escape(f"model output at {list(index)} = ") + r"(\S+)", out)
    assert match, out
    return float(match.group(1))


def test_zoo_model_on_digits(capsys, monkeypatch):
    model = zoo.get("digits_cnn")   # the command builds this very model: its random weights are known here
    monkeypatch.setitem(zoo.MODELS, "digits_cnn", lambda **options: model)
    assert cli.main(["explain", "digits_cnn", "--data", "digits", "--index", "0", "--at", "3,4,5"]) == 0
    out = capsys.readouterr().out
    assert "untrained" in out and f"layer {model.layers[0].name} (Conv2D)" in out
    _, (x_test, _) = data.load("digits", seed=0)
    expected = trace(model, x_test[:1], model.layers[0].name, (3, 4, 5))
    assert _printed_value(out, (3, 4, 5)) == float(expected.value)


def test_saved_model_value_equals_trace(tmp_path, capsys):
    (x, y), (x_test, _) = data.load("digits", seed=0)
    model = Sequential([L.Conv2D(2, 3, activation="relu", input_shape=(8, 8, 1)), L.Flatten(),
                        L.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x[:64], y[:64], epochs=1, batch_size=32, verbose=0)
    path = str(tmp_path / "tiny.clearconv")
    model.save(path)
    argv = ["explain", path, "--data", "digits", "--index", "2", "--layer", model.layers[0].name, "--at", "1,5,1"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    expected = trace(model, x_test[2:3], model.layers[0].name, (1, 5, 1))
    assert _printed_value(out, (1, 5, 1)) == float(expected.value)
    assert "untrained" not in out and "// 1 + 1 = 6" in out


@pytest.mark.parametrize("argv, words", [
    (["explain", "digits_cnn", "--data", "digits", "--at", "8,0,0"], ["--at", "(8, 8, 32)"]),
    (["explain", "digits_cnn", "--data", "digits", "--at", "1,2"], ["--at", "(8, 8, 32)"]),
    (["explain", "digits_cnn", "--data", "digits", "--at", "a,b"], ["--at"]),
    (["explain", "digits_cnn", "--data", "digits", "--layer", "nope"], ["--layer", "nope"]),
    (["explain", "digits_cnn"], ["--input", "--data"]),
    (["explain", "nope", "--data", "digits"], ["nope", "digits_cnn"]),
])
def test_usage_errors(argv, words, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert all(word in err for word in words), err


def test_missing_image_is_a_file_error(tmp_path, capsys):
    assert cli.main(["explain", "digits_cnn", "--input", str(tmp_path / "none.png")]) == 1
    assert "none.png" in capsys.readouterr().err


def test_a_shared_layer_and_a_nested_model_by_call_and_path(tmp_path, capsys):
    """--call picks the call of a layer applied twice; nested_model/layer reaches inside a nested model."""
    from clearconv.models import Model
    inner = Sequential([L.Input((8, 8, 1)), L.Conv2D(2, 3, padding="same", name="c1")], name="inner")
    inputs = L.Input((8, 8, 1))
    shared = L.Conv2D(1, 3, padding="same", name="shared")
    model = Model(inputs, inner(shared(shared(inputs))))
    path = str(tmp_path / "nested.clearconv")
    model.save(path)
    _, (x_test, _) = data.load("digits", seed=0)
    common = ["explain", path, "--data", "digits", "--index", "1"]
    assert cli.main([*common, "--layer", "shared", "--at", "2,3,0"]) == 2
    assert "called 2 times" in capsys.readouterr().err
    assert cli.main([*common, "--layer", "shared", "--call", "2"]) == 2
    assert "--call must be an integer from 0 to 1" in capsys.readouterr().err
    assert cli.main([*common, "--layer", "shared", "--call", "1", "--at", "2,3,0"]) == 0
    out = capsys.readouterr().out
    assert "layer shared (Conv2D, call 2 of 2)" in out
    expected = trace(model, x_test[1:2], "shared", (2, 3, 0), call=1)
    assert _printed_value(out, (2, 3, 0)) == float(expected.value)
    assert cli.main([*common, "--layer", "inner/c1", "--at", "4,4,1"]) == 0
    out = capsys.readouterr().out
    assert "layer inner/c1 (Conv2D)" in out
    assert _printed_value(out, (4, 4, 1)) == float(np.asarray(model(x_test[1:2]))[0, 4, 4, 1])
