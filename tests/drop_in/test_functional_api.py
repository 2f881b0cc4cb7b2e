"""The functional API as Keras code uses it: symbolic arithmetic and slicing, layer.input/output,
feature-map models, model shapes, get_layer, dict inputs and outputs, clone_model, JSON, custom
objects. Each model is built by the same code against clearconv and against real Keras 3, with
the same weights, and must give the same numbers."""

import json

import numpy as np
import pytest
from keras_oracle import import_keras

import clearconv

keras = import_keras()


def rng_array(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


def same_weights(ours, theirs):
    """Give ``ours`` Keras's (random) initial weights, layer by layer."""
    ours.set_weights([np.asarray(w) for w in theirs.get_weights()])


def residual_block_model(k):
    """A residual CNN written the way the Keras guides write it: `x += residual`, scalar arithmetic,
    slicing, ops and the lowercase merge functions."""
    inputs = k.Input((8, 8, 3), name="image")
    x = k.layers.Conv2D(4, 3, padding="same", name="conv_a")(inputs)
    residual = x
    x = k.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv_b")(x)
    x += residual
    x = x * 0.5 - 1.0
    x = k.ops.relu(-x[:, 1:, :, :])
    skip = k.layers.Conv2D(2, 1, name="skip")(inputs[:, 1:])
    x = k.layers.concatenate([x, skip], name="concat")
    x = k.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = k.layers.Dense(3, name="head")(x / 2.0)
    return k.Model(inputs, outputs, name="residual")


def test_symbolic_arithmetic_slicing_and_ops_give_keras_results():
    ours, theirs = residual_block_model(clearconv), residual_block_model(keras)
    assert ours.output_shape == theirs.output_shape == (None, 3)
    assert [l.name for l in ours.layers] == [l.name for l in theirs.layers]
    same_weights(ours, theirs)
    x = rng_array((4, 8, 8, 3))
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-5, atol=1e-5)


def test_symbolic_model_trains_through_its_op_nodes():
    """One SGD step through the op nodes moves the weights as Keras's step does."""
    ours, theirs = residual_block_model(clearconv), residual_block_model(keras)
    same_weights(ours, theirs)
    x, y = rng_array((4, 8, 8, 3), seed=1), rng_array((4, 3), seed=2)
    for model in (ours, theirs):
        model.compile(optimizer=type(model).__module__.startswith("clearconv") and clearconv.optimizers.SGD(0.1)
                      or keras.optimizers.SGD(0.1), loss="mse")
        model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    for w_ours, w_theirs in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(w_ours, np.asarray(w_theirs), rtol=1e-4, atol=1e-6)


def sequential_cnn(k):
    return k.Sequential([
        k.Input((12, 12, 1), name="pixels"),
        k.layers.Conv2D(4, 3, activation="relu", name="conv1"),
        k.layers.MaxPooling2D(name="pool1"),
        k.layers.Conv2D(6, 3, activation="relu", name="conv2"),
        k.layers.Flatten(name="flatten"),
        k.layers.Dense(5, activation="softmax", name="probs"),
    ], name="cnn")


def test_feature_maps_of_every_layer_as_the_tutorials_extract_them():
    ours, theirs = sequential_cnn(clearconv), sequential_cnn(keras)
    same_weights(ours, theirs)
    extractors = [k.Model(inputs=m.inputs, outputs=[layer.output for layer in m.layers])
                  for k, m in ((clearconv, ours), (keras, theirs))]
    x = rng_array((2, 12, 12, 1), seed=3)
    maps_ours, maps_theirs = (e.predict(x, verbose=0) for e in extractors)
    assert len(maps_ours) == len(maps_theirs) == 5
    for a, b in zip(maps_ours, maps_theirs):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_model_and_layer_attributes_match_keras():
    ours, theirs = sequential_cnn(clearconv), sequential_cnn(keras)
    assert ours.input_shape == theirs.input_shape
    assert ours.output_shape == theirs.output_shape
    assert [t.shape for t in ours.inputs] == [tuple(t.shape) for t in theirs.inputs]
    assert ours.get_layer(index=2).name == theirs.get_layer(index=2).name == "conv2"
    assert ours.get_layer("flatten").output.shape == tuple(theirs.get_layer("flatten").output.shape)
    assert ours.get_layer("conv1").input.shape == tuple(theirs.get_layer("conv1").input.shape)
    with pytest.raises(ValueError, match="no layer named 'nope'"):
        ours.get_layer("nope")
    with pytest.raises(ValueError, match="not both"):
        ours.get_layer("conv1", index=0)
    with pytest.raises(AttributeError, match="never been called"):
        clearconv.layers.Dense(3).output


def test_rebuilding_a_sequential_model_keeps_layer_outputs_on_its_current_graph():
    model = clearconv.Sequential([clearconv.layers.Dense(3, name="d1")])
    model.add(clearconv.layers.Dense(2, name="d2"))
    model.build((None, 4))
    model.add(clearconv.layers.Dense(1, name="d3"))
    first = model.layers[0]
    assert first.input is model.inputs[0]
    assert len(first._inbound_nodes) == 1


def two_headed_model(k):
    image = k.Input((6, 6, 1), name="image")
    meta = k.Input((2,), name="meta")
    x = k.layers.Flatten(name="flat")(k.layers.Conv2D(2, 3, name="conv")(image))
    x = k.layers.concatenate([x, meta], name="join")
    return k.Model(inputs={"image": image, "meta": meta},
                   outputs={"score": k.layers.Dense(1, name="score")(x),
                            "label": k.layers.Dense(3, activation="softmax", name="label")(x)})


def test_dict_inputs_and_outputs_as_keras():
    ours, theirs = two_headed_model(clearconv), two_headed_model(keras)
    same_weights(ours, theirs)
    x = {"image": rng_array((3, 6, 6, 1), seed=4), "meta": rng_array((3, 2), seed=5)}
    got, expected = ours.predict(x, verbose=0), theirs.predict(x, verbose=0)
    assert isinstance(got, dict) and set(got) == set(expected) == {"score", "label"}
    for key in expected:
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-5, atol=1e-6)
    assert set(ours.output) == {"score", "label"} and set(ours.input) == {"image", "meta"}


def test_clone_model_makes_new_layers_with_the_same_architecture():
    model = residual_block_model(clearconv)
    clone = clearconv.models.clone_model(model)
    assert [l.name for l in clone.layers] == [l.name for l in model.layers]
    assert not set(map(id, clone.weights)) & set(map(id, model.weights))
    clone.set_weights(model.get_weights())
    x = rng_array((2, 8, 8, 3), seed=6)
    np.testing.assert_array_equal(clone.predict(x, verbose=0), model.predict(x, verbose=0))
    seq = sequential_cnn(clearconv)
    seq_clone = clearconv.models.clone_model(
        seq, clone_function=lambda layer: type(layer).from_config({**layer.get_config(), "name": layer.name + "_c"}))
    assert [l.name for l in seq_clone.layers] == [l.name + "_c" for l in seq.layers]


def test_to_json_and_model_from_json_rebuild_the_architecture():
    model = residual_block_model(clearconv)
    text = model.to_json()
    assert json.loads(text)["class_name"] == "Model"
    rebuilt = clearconv.models.model_from_json(text)
    rebuilt.set_weights(model.get_weights())
    x = rng_array((2, 8, 8, 3), seed=7)
    np.testing.assert_array_equal(rebuilt.predict(x, verbose=0), model.predict(x, verbose=0))
    with pytest.raises(ValueError, match="not valid JSON"):
        clearconv.models.model_from_json("{nope")


@clearconv.saving.register_keras_serializable(package="drop_in")
class Scale(clearconv.layers.Layer):
    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def build(self, input_shape):
        self.gain = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="gain")

    def call(self, inputs):
        return inputs * self.gain * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


@clearconv.saving.register_keras_serializable(package="drop_in")
def halve(x):
    return x * 0.5


class Unregistered(clearconv.layers.Layer):
    def call(self, inputs):
        return inputs


def test_registered_layers_and_lambdas_are_saved_by_name_and_loaded(tmp_path):
    inputs = clearconv.Input((3,))
    x = Scale(3.0, name="scale")(inputs)
    outputs = clearconv.layers.Lambda(halve, name="halve")(x)
    model = clearconv.Model(inputs, outputs)
    model.get_layer("scale").gain.assign(np.array([1.0, 2.0, 3.0], "float32"))
    path = tmp_path / "m.clearconv"
    model.save(path)
    loaded = clearconv.models.load_model(path)
    x = np.ones((1, 3), "float32")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), [[1.5, 3.0, 4.5]])  # x * gain * 3 / 2
    assert type(loaded.get_layer("scale")) is Scale


def test_unknown_classes_and_anonymous_lambdas_are_refused_with_their_names(tmp_path):
    inputs = clearconv.Input((3,))
    model = clearconv.Model(inputs, Unregistered(name="mine")(inputs))
    model.save(tmp_path / "u.clearconv")
    with pytest.raises(ValueError, match="Unknown layer class 'Unregistered'"):
        clearconv.models.load_model(tmp_path / "u.clearconv")
    loaded = clearconv.models.load_model(tmp_path / "u.clearconv", custom_objects={"Unregistered": Unregistered})
    assert type(loaded.get_layer("mine")) is Unregistered
    lambda_model = clearconv.Model(inputs, clearconv.layers.Lambda(lambda t: t + 1.0)(inputs))
    np.testing.assert_array_equal(lambda_model.predict(np.zeros((1, 3), "float32"), verbose=0), np.ones((1, 3)))
    with pytest.raises(ValueError, match="cannot save a Lambda layer"):
        lambda_model.save(tmp_path / "l.clearconv")


def test_keras_file_formats_are_written_as_keras_reads_them(tmp_path):
    """model.save("m.keras") and save_weights("m.weights.h5") write Keras's formats, which Keras loads with
    equal predictions; Keras's legacy HDF5 model format is read but not written, and says so."""
    ours, theirs = sequential_cnn(clearconv), sequential_cnn(keras)
    ours.set_weights([rng_array(w.shape, seed=i) * 0.3 for i, w in enumerate(ours.get_weights())])
    x = rng_array((2, *ours.input_shape[1:]), seed=9)
    ours.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_allclose(np.asarray(reloaded.predict(x, verbose=0)), ours.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)
    ours.save_weights(tmp_path / "m.weights.h5")
    theirs.load_weights(tmp_path / "m.weights.h5")
    np.testing.assert_allclose(np.asarray(theirs.predict(x, verbose=0)), ours.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="legacy HDF5 model format is read, not written"):
        ours.save(tmp_path / "m.h5")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.keras", "m.weights.h5"]


def test_missing_keras_layers_are_named():
    with pytest.raises(AttributeError, match="clearconv has no layer LSTM"):
        clearconv.layers.LSTM(8)
    with pytest.raises(AttributeError, match="clearconv has no layer RandomThing"):
        clearconv.layers.RandomThing()


def test_keras_argument_names_of_saving_functions(tmp_path):
    model = sequential_cnn(clearconv)
    clearconv.models.save_model(model, filepath=tmp_path / "m.clearconv")
    loaded = clearconv.models.load_model(filepath=tmp_path / "m.clearconv", compile=False)
    assert [w.shape for w in loaded.weights] == [w.shape for w in model.weights]


def test_a_keras_file_loads_with_keras_predictions(tmp_path):
    theirs = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    theirs.save(tmp_path / "k.keras")
    ours = clearconv.models.load_model(tmp_path / "k.keras")
    x = rng_array((4, 3))
    np.testing.assert_allclose(ours.predict(x, verbose=0), np.asarray(theirs.predict(x, verbose=0)), rtol=1e-5)


def test_losses_deserialize_takes_a_name_as_keras_does():
    y_true, y_pred = np.array([[1.0, 0.0]]), np.array([[0.5, 0.5]])
    for name in ("mean_squared_error", "MeanSquaredError", "categorical_crossentropy"):
        ours = clearconv.losses.deserialize(name)(y_true, y_pred)
        theirs = keras.losses.deserialize(name)(y_true, y_pred)
        np.testing.assert_allclose(float(np.mean(np.asarray(ours.data))), float(np.mean(np.asarray(theirs))),
                                   rtol=1e-6)
