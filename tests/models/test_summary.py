"""``model.summary()`` against real Keras 3: the same models built in both libraries must print
the same text, character for character (table, wrapping, columns, counts and sizes).

Every layer gets an explicit name so Keras's automatic numbering plays no part. The console
width (``COLUMNS``) is fixed, since both Keras and clearconv cut lines at it.
"""

import io
import sys
from types import SimpleNamespace

import numpy as np
import pytest
from keras_oracle import import_keras

import clearconv as cc
from clearconv import optimizers
from clearconv.layers import Input
from clearconv.models import Model, Sequential
from clearconv.models.summary import print_summary

keras = import_keras()

CLEARCONV = SimpleNamespace(layers=cc.layers, Input=Input, Model=Model, Sequential=Sequential,
                            optimizers=optimizers)
KERAS = SimpleNamespace(layers=keras.layers, Input=keras.Input, Model=keras.Model, Sequential=keras.Sequential,
                        optimizers=keras.optimizers)


@pytest.fixture(autouse=True)
def console_width(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")


# --- the same models in both libraries -------------------------------------------------------------

def sequential_cnn(lib):
    L = lib.layers
    return lib.Sequential([
        lib.Input((28, 28, 1)),
        L.Conv2D(32, 3, activation="relu", name="conv1"),
        L.MaxPooling2D(2, name="pool1"),
        L.Conv2D(64, 3, activation="relu", name="conv2"),
        L.MaxPooling2D(2, name="pool2"),
        L.Flatten(name="flatten"),
        L.Dense(10, activation="softmax", name="classifier"),
    ], name="mnist_cnn")


def residual(lib):
    """A residual Add and a Concatenate: needs the Connected to column."""
    L = lib.layers
    inputs = lib.Input((16, 16, 3), name="image")
    stem = L.Conv2D(8, 3, padding="same", activation="relu", name="stem")(inputs)
    branch = L.Conv2D(8, 3, padding="same", name="branch")(stem)
    added = L.Add(name="residual_add")([stem, branch])
    joined = L.Concatenate(name="concat")([added, stem, inputs])
    pooled = L.GlobalAveragePooling2D(name="gap")(joined)
    outputs = L.Dense(4, name="logits")(pooled)
    return lib.Model(inputs, outputs, name="residual_net")


def batchnorm(lib):
    L = lib.layers
    return lib.Sequential([
        lib.Input((8, 8, 3)),
        L.Conv2D(16, 3, name="conv"),
        L.BatchNormalization(name="bn"),
        L.ReLU(name="relu"),
        L.GlobalMaxPooling2D(name="gmp"),
        L.Dense(2, name="out"),
    ], name="with_batchnorm")


def nested(lib):
    """A Sequential block and a functional block inside a functional model; one block frozen."""
    L = lib.layers
    block = lib.Sequential([
        lib.Input((8, 8, 4)),
        L.Conv2D(4, 3, padding="same", name="block_conv"),
        L.BatchNormalization(name="block_bn"),
    ], name="seq_block")
    inner_in = lib.Input((8, 8, 4), name="inner_in")
    inner_out = L.Conv2D(6, 1, name="inner_conv")(inner_in)
    functional_block = lib.Model(inner_in, inner_out, name="fn_block")
    functional_block.trainable = False
    inputs = lib.Input((8, 8, 3), name="x")
    x = L.Conv2D(4, 3, padding="same", name="entry")(inputs)
    x = block(x)
    x = functional_block(x)
    x = L.Flatten(name="flat")(x)
    return lib.Model(inputs, L.Dense(3, name="head")(x), name="outer")


def long_names(lib):
    L = lib.layers
    inputs = lib.Input((12, 12, 2), name="input_with_a_rather_long_name")
    x = L.Conv2D(3, 3, name="a_convolution_layer_with_an_extremely_long_name_that_cannot_fit")(inputs)
    x = L.Conv2D(3, 3, name="a name with several words that wraps over lines")(x)
    return lib.Model(inputs, x, name="model_whose_name_is_fairly_long_too")


def chain(lib):
    """A functional model that is a plain chain: Keras drops the Connected to column."""
    L = lib.layers
    inputs = lib.Input((10,), name="features")
    hidden = L.Dense(6, activation="relu", name="hidden")(inputs)
    return lib.Model(inputs, L.Dense(1, name="score")(hidden), name="chain")


def two_outputs(lib):
    """One input feeding two heads: two calls at the same depth, so Connected to."""
    L = lib.layers
    inputs = lib.Input((5,), name="features")
    return lib.Model(inputs, [L.Dense(2, name="left")(inputs), L.Dense(3, name="right")(inputs)], name="heads")


def shared(lib):
    """One Dense called on two inputs: node indices [0] and [1]."""
    L = lib.layers
    first, second = lib.Input((4,), name="first"), lib.Input((4,), name="second")
    dense = L.Dense(3, name="shared_dense")
    merged = L.Subtract(name="difference")([dense(first), dense(second)])
    return lib.Model([first, second], merged, name="siamese")


def twice(lib):
    """One Dense applied to its own output: a layer at two depths, Connected to lists both calls."""
    L = lib.layers
    inputs = lib.Input((3,), name="features")
    dense = L.Dense(3, name="dense")
    return lib.Model(inputs, dense(dense(inputs)), name="twice")


def unbuilt(lib):
    return lib.Sequential([lib.layers.Dense(3, name="first"), lib.layers.Dense(2, name="second")], name="lazy")


BUILDERS = [sequential_cnn, residual, batchnorm, nested, long_names, chain, two_outputs, shared, twice, unbuilt]


@pytest.fixture(scope="module")
def models():
    """Each builder's model in (clearconv, keras), built once for the module."""
    return {build.__name__: (build(CLEARCONV), build(KERAS)) for build in BUILDERS}


def texts(pair, **kwargs):
    """The summary each library hands to print_fn, with the number of print_fn calls."""
    printed = []
    for model in pair:
        calls = []
        model.summary(print_fn=calls.append, **kwargs)
        printed.append((len(calls), "".join(calls)))
    return printed


def assert_same(pair, **kwargs):
    ours, theirs = texts(pair, **kwargs)
    assert ours == theirs, f"{kwargs}\n--- clearconv ---\n{ours[1]}\n--- keras ---\n{theirs[1]}"
    return ours[1]


# --- identical text --------------------------------------------------------------------------------

@pytest.mark.parametrize("name", [build.__name__ for build in BUILDERS])
def test_default_summary_matches_keras(models, name):
    assert_same(models[name])


@pytest.mark.parametrize("name", ["sequential_cnn", "residual", "nested", "shared"])
def test_show_trainable_matches_keras(models, name):
    assert_same(models[name], show_trainable=True)


@pytest.mark.parametrize("name", ["nested", "sequential_cnn"])
def test_expand_nested_matches_keras(models, name):
    text = assert_same(models[name], expand_nested=True, show_trainable=True)
    if name == "nested":
        assert "│    └ block_conv (Conv2D)" in text and "│    └ inner_in (InputLayer)" in text


@pytest.mark.parametrize("line_length", [40, 60, 100, 150, 250])
@pytest.mark.parametrize("name", ["residual", "long_names", "batchnorm"])
def test_line_length_wraps_cells_as_keras(models, name, line_length):
    assert_same(models[name], line_length=line_length)


@pytest.mark.parametrize("positions", [[0.3, 0.7, 1.0], [0.5, 0.6, 0.9], [0.2, 0.5, 0.7, 1.0],
                                       [0.4, 0.6, 0.7, 0.8, 1.0], [30, 60, 88]])
def test_positions_match_keras(models, positions):
    assert_same(models["sequential_cnn"], positions=positions, line_length=90)


def test_four_positions_for_a_connected_table_match_keras(models):
    assert_same(models["residual"], positions=[0.25, 0.5, 0.6, 1.0], line_length=100, show_trainable=True)


@pytest.mark.parametrize("layer_range", [("conv2", "flatten"), ("pool", "pool"), ("classifier", "conv1")])
def test_layer_range_matches_keras(models, layer_range):
    assert_same(models["sequential_cnn"], layer_range=layer_range)


def test_layer_range_in_a_functional_model_matches_keras(models):
    assert_same(models["residual"], layer_range=["stem", "residual_add"])


@pytest.mark.parametrize("columns", ["60", "100", "7"])
def test_lines_are_cut_at_the_console_width_as_keras(models, monkeypatch, columns):
    monkeypatch.setenv("COLUMNS", columns)
    assert_same(models["long_names"], line_length=110)
    if columns == "7":
        # The default width, COLUMNS - 4, leaves columns under 4 characters: both refuse.
        for model in models["residual"]:
            with pytest.raises(ValueError):
                model.summary(print_fn=print)
    else:
        assert_same(models["residual"])


def test_ascii_borders_when_the_output_is_not_utf(models, monkeypatch):
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(io.BytesIO(), encoding="ascii"))
    text = assert_same(models["residual"], line_length=70)
    assert text.splitlines()[1].startswith("+----")


def test_optimizer_params_after_compile_and_after_a_step_match_keras():
    x = np.random.default_rng(0).random((4, 16, 16, 3), dtype=np.float32)
    y = np.zeros((4, 4), dtype=np.float32)
    for optimizer in ("adam", "sgd", "nadam"):
        pair = (residual(CLEARCONV), residual(KERAS))
        pair[0].compile(optimizer=optimizer, loss="mse")
        pair[1].compile(optimizer=optimizer, loss="mse")
        assert "Optimizer params" not in assert_same(pair)  # no optimizer variables before the first step
        for model in pair:
            model.fit(x, y, batch_size=4, epochs=1, verbose=0)
        text = assert_same(pair)
        if optimizer == "adam":
            # weights: stem 3*3*3*8 + 8 = 224, branch 3*3*8*8 + 8 = 584, logits (8+8+3)*4 + 4 = 80: 888;
            # Adam: 2 slots per weight + iteration + learning rate = 1,778, 4 bytes each
            assert " Optimizer params: 1,778 (6.95 KB)" in text
            assert " Total params: 2,666 (10.41 KB)" in text


# --- hand-checked details --------------------------------------------------------------------------

def test_print_fn_gets_the_whole_summary_once(models):
    calls = []
    models["sequential_cnn"][0].summary(print_fn=calls.append)
    assert len(calls) == 1 and calls[0].startswith('Model: "mnist_cnn"\n') and calls[0].endswith("\n")
    # conv1 3*3*1*32 + 32 = 320; conv2 3*3*32*64 + 64 = 18,496; dense 1,600*10 + 10 = 16,010
    assert " Total params: 34,826 (136.04 KB)\n" in calls[0]


def test_without_print_fn_the_summary_goes_to_stdout_as_keras_prints_it(models, capsys):
    printed = []
    for model in models["batchnorm"]:
        model.summary()
        printed.append(capsys.readouterr().out)
    assert printed[0] == printed[1]
    # bn: 4 * 16, half of it the moving statistics
    assert " Non-trainable params: 32 (128.00 B)\n" in printed[0]


def test_bad_arguments_are_named():
    model = chain(CLEARCONV)
    with pytest.raises(ValueError, match="layer_range"):
        model.summary(layer_range=["hidden"])
    with pytest.raises(ValueError, match="no layer name matches 'nothing'"):
        model.summary(layer_range=["hidden", "nothing"])
    with pytest.raises(ValueError, match="line_length"):
        model.summary(line_length=-5)
    with pytest.raises(ValueError, match="positions"):
        model.summary(positions=[0.5, 1.0])
    with pytest.raises(ValueError, match="at least 4"):
        model.summary(line_length=10)
    with pytest.raises(TypeError, match="print_fn"):
        print_summary(model, print_fn="stdout")
