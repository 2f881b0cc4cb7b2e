"""Sequential and functional models: building, summary counts, training, saving, bad input.

Parameter counts below are worked out by hand from Keras's formulas
(conv: k*k*in*out + out; BatchNormalization: 4*C, half non-trainable;
dense: in*out + out; Conv2DTranspose: k*k*out*in + out).
"""

import os

import numpy as np
import pytest

from clearconv import layers as L
from clearconv import optimizers, utils, zoo
from clearconv.models import Model, Sequential, load_model

rng = np.random.default_rng(0)


def small_classifier():
    return Sequential([
        L.Conv2D(4, 3, activation="relu", input_shape=(8, 8, 1)),
        L.MaxPooling2D(),
        L.Flatten(),
        L.Dense(3, activation="softmax"),
    ])


def toy_data(count=64, seed=0):
    """Three classes told apart by where the bright square sits (the same data for the same seed)."""
    local = np.random.default_rng(seed)
    x = local.random((count, 8, 8, 1), dtype=np.float32) * 0.1
    y = local.integers(0, 3, count)
    for i, label in enumerate(y):
        x[i, 2 * label:2 * label + 3, 2:5, 0] += 1.0
    return x, y


# --- building and summary -----------------------------------------------------------

def test_keras_tutorial_model_counts_and_summary(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # a wide console: Keras cuts the table at its width
    model = Sequential([
        L.Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)),
        L.MaxPooling2D((2, 2)),
        L.Conv2D(64, (3, 3), activation="relu"),
        L.MaxPooling2D((2, 2)),
        L.Flatten(),
        L.Dense(10, activation="softmax"),
    ])
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    # 320 + 18,496 + (5*5*64 = 1,600) * 10 + 10 = 34,826
    assert model.count_params() == 34_826
    assert "Total params: 34,826 (136.04 KB)" in text
    assert "Non-trainable params: 0 (0.00 B)" in text
    assert "(None, 26, 26, 32)" in text and "(None, 1600)" in text and "18,496" in text
    assert len(lines) == 1  # Keras passes print_fn the whole summary at once
    assert all(len(line) == 88 for line in text.splitlines()[1:-3])


def test_batchnorm_counts_as_non_trainable_in_summary():
    model = Sequential([L.Conv2D(32, 3, input_shape=(8, 8, 3)), L.BatchNormalization()])
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    # conv 3*3*3*32 + 32 = 896; BN 4*32 = 128, of which 64 non-trainable
    assert "Total params: 1,024" in text and "Trainable params: 960" in text
    assert "Non-trainable params: 64 (256.00 B)" in text


def unet_like():
    inputs = L.Input(shape=(16, 16, 1))
    c1 = L.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    c1 = L.BatchNormalization()(c1)
    p1 = L.MaxPooling2D()(c1)
    c2 = L.Conv2D(16, 3, padding="same", activation="relu")(p1)
    u1 = L.Conv2DTranspose(8, 2, strides=2)(c2)
    merged = L.Concatenate()([u1, c1])
    c3 = L.Conv2D(8, 3, padding="same", activation="relu")(merged)
    outputs = L.Conv2D(1, 1, activation="sigmoid")(c3)
    return Model(inputs, outputs, name="unet_like")


def test_functional_unet_counts_connections_and_training(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    model = unet_like()
    # 80 + BN 32 + 1,168 + transposed 2*2*8*16 + 8 = 520 + 3*3*16*8 + 8 = 1,160 + 9 = 2,969
    assert model.count_params() == 2_969
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "input_layer" in text and "Connected to" in text
    assert "conv2d_transpose" in text and "batch_normalization" in text
    assert "Non-trainable params: 16" in text
    local = np.random.default_rng(7)
    x = local.random((8, 16, 16, 1), dtype=np.float32)
    y = (x > 0.5).astype(np.float32)
    model.compile(optimizer=optimizers.Adam(0.01), loss="binary_crossentropy")
    # Training-mode losses: in 10 steps BatchNormalization's moving statistics (momentum 0.99)
    # hardly move, so an inference-mode evaluate says little about what was learned.
    losses = model.fit(x, y, epochs=8, batch_size=4, shuffle=False, verbose=0).history["loss"]
    assert losses[-1] < 0.8 * losses[0]


def test_siamese_shares_one_tower_and_learns():
    model = zoo.siamese(input_shape=(8, 8, 1), embedding_size=8)
    tower = model.get_layer("tower")
    # The tower appears once: its weights are counted once although it is called twice.
    # tower: 160 + 4,640 + 32*8 + 8 = 5,064; head: 8 + 1 = 9
    assert model.count_params() == 5_073
    assert sum(layer is tower for layer in model.layers) == 1
    left = rng.random((16, 8, 8, 1), dtype=np.float32)
    same = rng.integers(0, 2, 16)
    right = np.where(same[:, None, None, None] == 1, left, rng.random((16, 8, 8, 1), dtype=np.float32))
    model.compile(optimizer=optimizers.Adam(0.01), loss="binary_crossentropy")
    before = model.evaluate([left, right], same.astype(np.float32), verbose=0)
    model.fit([left, right], same.astype(np.float32), epochs=5, batch_size=8, verbose=0)
    assert model.evaluate([left, right], same.astype(np.float32), verbose=0) < before
    kernel = tower.layers[0].kernel
    assert kernel.grad is not None  # trained through both branches


def test_submodel_used_as_a_layer():
    inner = small_classifier()
    inputs = L.Input(shape=(8, 8, 1))
    outer = Model(inputs, L.Dense(2)(inner(inputs)))
    x = rng.random((3, 8, 8, 1), dtype=np.float32)
    expected = outer.layers[-1](inner(x))
    np.testing.assert_allclose(outer.predict(x, verbose=0), expected, rtol=1e-6)


@pytest.mark.parametrize("name, count", [
    ("digits_cnn", 151_306), ("lenet5", 61_706), ("small_vgg", 468_394), ("small_resnet", 78_426),
    ("unet", 29_801), ("signal1d", 14_114), ("mnist1d_cnn", 5_210), ("augmented_vgg", 279_722), ("siamese", 5_889),
])
def test_zoo_parameter_counts_match_the_documented_hand_counts(name, count):
    assert zoo.get(name).count_params() == count


def test_unknown_zoo_name():
    with pytest.raises(ValueError, match="Unknown zoo model 'lenet6'.*lenet5"):
        zoo.get("lenet6")


# --- training -------------------------------------------------------------------------

def test_fit_learns_and_history_records_each_epoch():
    utils.set_seed(1)
    x, y = toy_data()
    model = small_classifier()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=8, batch_size=16, validation_split=0.25, verbose=0)
    assert history.epoch == list(range(8))
    assert set(history.history) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert history.history["loss"][-1] < history.history["loss"][0]
    loss, accuracy = model.evaluate(x, y, verbose=0)
    assert accuracy > 0.8


def test_same_seed_gives_bit_identical_weights():
    def train():
        utils.set_seed(7)
        x, y = toy_data(32)
        model = small_classifier()
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        model.fit(x, y, epochs=2, batch_size=8, verbose=0)
        return model.get_weights()
    first = train()
    second = train()
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


def test_nan_loss_stops_before_the_update(capsys):
    x, y = toy_data(32)
    model = small_classifier()
    model.compile(optimizer="sgd", loss="mse")
    before = model.get_weights()
    y_bad = np.eye(3, dtype=np.float32)[y]
    y_bad[5] = np.nan
    model.fit(x, y_bad, epochs=3, batch_size=32, verbose=0)
    message = capsys.readouterr().out
    assert "epoch 1, batch 1" in message and "nan" in message
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_x_and_y_of_different_lengths():
    model = small_classifier()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="same number of samples.*10.*9"):
        model.fit(np.zeros((10, 8, 8, 1), np.float32), np.zeros(9), verbose=0)


def test_input_shape_different_from_the_model():
    model = small_classifier()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"expects arrays of shape \(None, 8, 8, 1\); received \(4, 9, 9, 1\)"):
        model.fit(np.zeros((4, 9, 9, 1), np.float32), np.zeros(4), verbose=0)


def test_labels_out_of_range_for_sparse_crossentropy():
    model = small_classifier()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="7"):
        model.fit(np.zeros((4, 8, 8, 1), np.float32), np.array([0, 1, 7, 2]), verbose=0)


# --- saving ---------------------------------------------------------------------------

def test_save_and_load_give_bit_identical_predictions_and_resume_training(tmp_path):
    x, y = toy_data(32)
    model = unet_like()
    model.compile(optimizer="adam", loss="mse")
    target = rng.random((32, 16, 16, 1), dtype=np.float32)
    xs = rng.random((32, 16, 16, 1), dtype=np.float32)
    model.fit(xs, target, epochs=1, batch_size=8, verbose=0)
    path = tmp_path / "model.clearconv"
    model.save(path)
    loaded = load_model(path)
    np.testing.assert_array_equal(model.predict(xs, verbose=0), loaded.predict(xs, verbose=0))
    # Training resumes from the saved optimizer state: one more identical step on both.
    utils.set_seed(3)
    model.fit(xs, target, epochs=1, batch_size=8, verbose=0, shuffle=False)
    utils.set_seed(3)
    loaded.fit(xs, target, epochs=1, batch_size=8, verbose=0, shuffle=False)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_save_weights_and_load_weights(tmp_path):
    model, other = small_classifier(), small_classifier()
    model.save_weights(tmp_path / "w.clearconv")
    other.load_weights(tmp_path / "w.clearconv")
    for a, b in zip(model.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_failed_save_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    model = small_classifier()
    path = tmp_path / "model.clearconv"
    model.save(path)
    good = path.read_bytes()
    from clearconv.io import native

    def broken(arrays):
        raise OSError("disk full")
    monkeypatch.setattr(native, "_arrays_bytes", broken)
    with pytest.raises(OSError, match="disk full"):
        model.save(path)
    assert path.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == ["model.clearconv"]


@pytest.mark.parametrize("damage", ["truncate", "garbage", "missing-weights"])
def test_corrupt_or_truncated_model_file(tmp_path, damage):
    path = tmp_path / "model.clearconv"
    small_classifier().save(path)
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(b"not a model" * 10)
    else:
        import zipfile
        with zipfile.ZipFile(path) as source, zipfile.ZipFile(tmp_path / "cut.clearconv", "w") as target:
            for item in source.namelist():
                if item != "weights.npz":
                    target.writestr(item, source.read(item))
        os.replace(tmp_path / "cut.clearconv", path)
    with pytest.raises(ValueError, match="model.clearconv"):
        load_model(path)


def test_ctrl_c_stops_after_the_current_batch_and_keeps_weights_and_history():
    import signal

    from clearconv.callbacks import Callback

    class PressCtrlC(Callback):
        def __init__(self):
            super().__init__()
            self.batches = 0

        def on_train_batch_end(self, batch, logs=None):
            self.batches += 1
            if self.batches == 3:
                os.kill(os.getpid(), signal.SIGINT)

    x, y = toy_data(64)
    model = small_classifier()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    before = model.get_weights()
    handler = signal.getsignal(signal.SIGINT)  # the default, or SIG_IGN when the tests run in the background
    presser = PressCtrlC()
    with pytest.warns(UserWarning, match="interrupted during epoch 1"):
        history = model.fit(x, y, epochs=5, batch_size=8, callbacks=[presser], verbose=0)
    assert presser.batches == 3                      # stopped right after the batch that was running
    assert history.epoch == [0] and len(history.history["loss"]) == 1
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    assert signal.getsignal(signal.SIGINT) is handler  # handler restored


def test_a_sequential_of_many_layers_builds_its_graph_once(monkeypatch):
    """Sequential(layers) and Sequential.from_config add every layer with rebuild=False, as Keras's
    constructor does, so a stack of n layers is built once, not n times (loading was quadratic)."""
    builds = []
    original = Sequential._build_graph
    monkeypatch.setattr(Sequential, "_build_graph", lambda self: (builds.append(self.name), original(self))[1])
    stack = [L.Input(shape=(4,))] + [L.Dense(4) for _ in range(30)]
    model = Sequential(stack)
    assert len(builds) == 1
    builds.clear()
    copy = Sequential.from_config(model.get_config())
    assert len(builds) == 1
    assert [layer.name for layer in copy.layers] == [layer.name for layer in model.layers]
    x = np.random.default_rng(0).random((2, 4), dtype=np.float32)
    copy.set_weights(model.get_weights())
    np.testing.assert_array_equal(copy.predict(x, verbose=0), model.predict(x, verbose=0))
    builds.clear()
    model.add(L.Dense(2))  # add() alone still rebuilds at once, as in Keras
    assert len(builds) == 1 and model.output_shape == (None, 2)


def test_a_model_saved_compiled_but_never_fitted_loads_and_fits_as_the_original(tmp_path):
    """Its optimizer was never built, so the file holds no slots: loading restores it unbuilt, and the first
    step of both models (from the same weights) gives the same weights."""
    utils.set_seed(0)
    model = Sequential([L.Input(shape=(4,)), L.Dense(2)])
    model.compile(optimizer=optimizers.Adam(learning_rate=0.01), loss="mse")
    model.save(tmp_path / "unfitted.clearconv")
    loaded = load_model(tmp_path / "unfitted.clearconv")
    x, y = np.ones((4, 4), np.float32), np.zeros((4, 2), np.float32)
    model.train_on_batch(x, y)
    loaded.train_on_batch(x, y)
    for want, got in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(got, want)
    assert loaded.optimizer.iterations == 1


def test_adding_to_a_built_sequential_updates_its_graph_even_with_rebuild_false():
    model = Sequential([L.Input(shape=(4,)), L.Dense(3)])
    model.add(L.Dense(2), rebuild=False)
    assert model.output_shape == (None, 2) and model.input_shape == (None, 4)
    assert [layer.name for layer in model.layers][-1] == model.outputs[0].layer.name


def test_a_chain_deeper_than_the_recursion_limit_builds_in_order():
    """The graph is ordered by an explicit stack: a chain of 5,000 calls (beyond Python's recursion limit)
    builds, with the calls in chain order, and runs."""
    import sys
    inputs = L.Input((3,))
    x, calls = inputs, []
    for _ in range(max(5000, sys.getrecursionlimit() + 100)):
        x = L.ReLU()(x)
        calls.append(x)
    model = Model(inputs, x)
    assert [id(node) for node in model._nodes] == [id(call) for call in calls]
    np.testing.assert_array_equal(model.predict(np.array([[1.0, -2.0, 3.0]], "float32"), verbose=0),
                                  [[1.0, 0.0, 3.0]])
