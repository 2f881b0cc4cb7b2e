"""Keras's files both ways, with real Keras 3 (jax on CPU) as the oracle.

Keras writes ``.keras`` and legacy ``.h5`` files of five small models (a CNN with batch normalization
whose moving statistics were trained, a functional U-Net, a Conv1D model, a SeparableConv2D model, a
siamese model with a shared Conv2D and a nested Sequential called twice); clearconv loads each and
predicts as Keras does; clearconv writes each back and Keras loads it (safe mode) and predicts alike;
weights files go both ways. Keras builds each model once per module.
"""

import io
import json
import os
import zipfile

import numpy as np
import pytest
from keras_oracle import import_keras

h5py = pytest.importorskip("h5py")
keras = import_keras()

import clearconv  # noqa: E402
from clearconv.io.errors import ModelFileError  # noqa: E402
from clearconv.io.keras import (config_from_keras, config_to_keras, keras_layer_order, load_keras,  # noqa: E402
                                load_keras_weights, model_from_keras_json, save_keras, save_keras_weights)

TOLERANCE = dict(rtol=1e-5, atol=1e-5)
rng = np.random.default_rng(0)


def cnn():
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3, activation="relu"),
                              keras.layers.BatchNormalization(), keras.layers.MaxPooling2D(),
                              keras.layers.Flatten(), keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    # Training moves the moving mean and variance away from 0 and 1.
    model.fit(rng.random((8, 8, 8, 3)), np.arange(8) % 3, epochs=2, verbose=0)
    return model, rng.random((2, 8, 8, 3)).astype("float32")


def unet():
    inputs = keras.Input((8, 8, 1))
    down = keras.layers.Conv2D(2, 3, padding="same", activation="relu")(inputs)
    bottom = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(keras.layers.MaxPooling2D()(down))
    up = keras.layers.Conv2DTranspose(2, 2, strides=2, padding="same")(bottom)
    merged = keras.layers.concatenate([up, down])
    outputs = keras.layers.Conv2D(1, 1, activation="sigmoid")(merged)
    return keras.Model(inputs, outputs), rng.random((2, 8, 8, 1)).astype("float32")


def conv1d():
    model = keras.Sequential([keras.Input((10, 2)), keras.layers.Conv1D(3, 3, strides=2, kernel_regularizer="l2"),
                              keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(2)])
    return model, rng.random((2, 10, 2)).astype("float32")


def separable():
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.SeparableConv2D(4, 3, depth_multiplier=2,
                                                                                   bias_initializer="ones"),
                              keras.layers.GlobalMaxPooling2D(), keras.layers.Dense(2, activation="tanh")])
    return model, rng.random((2, 8, 8, 3)).astype("float32")


def siamese():
    tower = keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Conv2D(2, 3),
                              keras.layers.BatchNormalization(moving_mean_initializer="ones",
                                                              moving_variance_initializer=keras.initializers.
                                                              Constant(2.0))], name="tower")
    left, right = keras.Input((6, 6, 1), name="left"), keras.Input((6, 6, 1), name="right")
    shared = keras.layers.Conv2D(2, 3, name="shared")
    joined = keras.layers.concatenate([shared(left), shared(right)])
    difference = keras.layers.Flatten()(keras.layers.subtract([tower(left), tower(right)]))
    model = keras.Model([left, right], [joined, difference])
    return model, [rng.random((2, 6, 6, 1)).astype("float32") for _ in range(2)]


BUILDERS = {"cnn": cnn, "unet": unet, "conv1d": conv1d, "separable": separable, "siamese": siamese}


def as_list(outputs):
    return [np.asarray(o) for o in outputs] if isinstance(outputs, (list, tuple)) else [np.asarray(outputs)]


def assert_same(ours, theirs):
    ours, theirs = as_list(ours), as_list(theirs)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, **TOLERANCE)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """name -> (Keras model, input, Keras's prediction, .keras path, .h5 path, .weights.h5 path)."""
    folder = tmp_path_factory.mktemp("keras_files")
    keras.utils.set_random_seed(5)
    result = {}
    for name, build in BUILDERS.items():
        model, x = build()
        paths = [str(folder / f"{name}{suffix}") for suffix in (".keras", ".h5", ".weights.h5")]
        model.save(paths[0])
        model.save(paths[1])
        model.save_weights(paths[2])
        result[name] = (model, x, model.predict(x, verbose=0), *paths)
    return result


@pytest.mark.parametrize("name", BUILDERS)
@pytest.mark.parametrize("kind", [".keras", ".h5"])
def test_keras_files_load_and_predict_as_keras(saved, name, kind):
    model, x, expected, keras_path, h5_path, _ = saved[name]
    ours = load_keras(keras_path if kind == ".keras" else h5_path)
    assert isinstance(ours, clearconv.Model)
    for layer in model.layers:   # each layer's weights, found by name (the models list them alike)
        for a, b in zip(ours.get_layer(layer.name).get_weights(), layer.get_weights(), strict=True):
            np.testing.assert_array_equal(a, np.asarray(b))
    assert_same(ours.predict(x, verbose=0), expected)


def test_trained_moving_statistics_are_loaded(saved):
    model, *_, keras_path, _, _ = saved["cnn"]
    ours = load_keras(keras_path)
    batchnorm = [layer for layer in ours.layers if isinstance(layer, clearconv.layers.BatchNormalization)][0]
    theirs = model.get_layer(index=1)
    assert not np.allclose(np.asarray(theirs.moving_mean), 0.0)      # the fixture trained them
    np.testing.assert_array_equal(batchnorm.moving_mean.numpy(), np.asarray(theirs.moving_mean))
    np.testing.assert_array_equal(batchnorm.moving_variance.numpy(), np.asarray(theirs.moving_variance))


@pytest.mark.parametrize("name", BUILDERS)
def test_save_keras_is_loaded_by_keras_in_safe_mode(saved, name, tmp_path):
    _, x, expected, keras_path, _, _ = saved[name]
    target = str(tmp_path / "back.keras")
    save_keras(load_keras(keras_path), target)
    with zipfile.ZipFile(target) as archive:
        assert json.loads(archive.read("metadata.json"))["keras_version"].startswith("3.")
    theirs = keras.saving.load_model(target, safe_mode=True, compile=False)
    assert_same(theirs.predict(x, verbose=0), expected)


@pytest.mark.parametrize("name", ["cnn", "siamese"])
def test_weights_files_both_ways(saved, name, tmp_path):
    model, x, expected, keras_path, _, keras_weights = saved[name]
    # Keras's weights into a clearconv model of the same architecture (fresh weights first).
    ours = model_from_keras_json(model.to_json())
    load_keras_weights(ours, keras_weights)
    assert_same(ours.predict(x, verbose=0), expected)
    # clearconv's weights into a fresh Keras model.
    target = str(tmp_path / "ours.weights.h5")
    save_keras_weights(ours, target)
    theirs = keras.models.model_from_json(model.to_json())
    theirs.load_weights(target)
    assert_same(theirs.predict(x, verbose=0), expected)


def test_model_from_keras_json_reads_keras3_json(saved):
    model, x, expected, *_ = saved["unet"]
    ours = model_from_keras_json(model.to_json())
    assert [layer.name for layer in ours.layers] == [layer.name for layer in model.layers]
    for layer in model.layers:
        ours.get_layer(layer.name).set_weights([np.asarray(w) for w in layer.get_weights()])
    assert_same(ours.predict(x, verbose=0), expected)


def test_clearconv_json_is_read_by_keras(saved):
    model, x, expected, keras_path, _, _ = saved["siamese"]
    ours = load_keras(keras_path)
    theirs = keras.models.model_from_json(json.dumps(config_to_keras(ours)))
    for layer in theirs.layers:
        layer.set_weights(ours.get_layer(layer.name).get_weights())
    assert_same(theirs.predict(x, verbose=0), expected)


def test_layer_order_is_keras_order(saved):
    """The weights file names its groups by the model's layer order, which must be Keras's own."""
    model, *_, keras_path, _, _ = saved["siamese"]
    assert [layer.name for layer in keras_layer_order(load_keras(keras_path))] == \
        [layer.name for layer in model.layers]


TF_KERAS_2_JSON = {
    "class_name": "Functional", "keras_version": "2.15.0", "backend": "tensorflow",
    "config": {
        "name": "model", "trainable": True,
        "layers": [
            {"class_name": "InputLayer", "name": "x", "inbound_nodes": [],
             "config": {"batch_input_shape": [None, 3], "dtype": "float32", "sparse": False, "ragged": False,
                        "name": "x"}},
            {"class_name": "Dense", "name": "a", "inbound_nodes": [[["x", 0, 0, {}]]],
             "config": {"name": "a", "trainable": True, "dtype": "float32", "units": 2, "activation": "relu",
                        "use_bias": True,
                        "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
                        "bias_initializer": {"class_name": "Zeros", "config": {}},
                        "kernel_regularizer": None, "bias_regularizer": None, "activity_regularizer": None,
                        "kernel_constraint": {"class_name": "MaxNorm", "config": {"max_value": 2, "axis": 0}},
                        "bias_constraint": None}},
            {"class_name": "Dense", "name": "b", "inbound_nodes": [[["x", 0, 0, {}]]],
             "config": {"name": "b", "trainable": True, "dtype": "float32", "units": 1, "activation": "linear",
                        "use_bias": False}},
            {"class_name": "Concatenate", "name": "joined", "inbound_nodes": [[["a", 0, 0, {}], ["b", 0, 0, {}]]],
             "config": {"name": "joined", "trainable": True, "dtype": "float32", "axis": -1}},
        ],
        "input_layers": [["x", 0, 0]], "output_layers": [["joined", 0, 0], ["b", 0, 0]],
    },
}


def test_model_from_keras_json_reads_tf_keras_2_json():
    model = model_from_keras_json(json.dumps(TF_KERAS_2_JSON))
    assert [layer.name for layer in model.layers] == ["x", "a", "b", "joined"]
    # The wiring the JSON's inbound_nodes describe: layer -> the layers feeding its one call.
    assert {node.layer.name: [parent.layer.name for parent in node.inputs] for node in model._nodes} == \
        {"a": ["x"], "b": ["x"], "joined": ["a", "b"]}
    assert [tensor.layer.name for tensor in model.outputs] == ["joined", "b"]
    assert model.output_shape == [(None, 3), (None, 1)]
    constraint = model.get_layer("a").kernel_constraint
    assert type(constraint).__name__ == "MaxNorm" and constraint.get_config() == {"max_value": 2, "axis": 0}
    # The graph, checked by hand: joined = [relu(x Wa + ba), x Wb], b = x Wb.
    wa, ba, wb = rng.random((3, 2)) - 0.5, rng.random(2), rng.random((3, 1))
    model.set_weights([wa, ba, wb])
    x = rng.random((4, 3)).astype("float32")
    joined, b = model.predict(x, verbose=0)
    np.testing.assert_allclose(b, x @ wb, **TOLERANCE)
    np.testing.assert_allclose(joined, np.concatenate([np.maximum(x @ wa + ba, 0), x @ wb], axis=1), **TOLERANCE)


def test_tf_keras_2_sequential_json():
    entry = {"class_name": "Sequential", "config": {"name": "seq", "layers": [
        {"class_name": "Conv2D", "config": {"name": "c", "filters": 2, "kernel_size": [3, 3], "strides": [1, 1],
                                            "padding": "same", "batch_input_shape": [None, 5, 5, 1],
                                            "dtype": "float32", "activation": "relu"}},
        {"class_name": "GlobalAveragePooling2D", "config": {"name": "g"}}]}}
    model = model_from_keras_json(json.dumps(entry))
    assert model.output_shape == (None, 2)
    assert config_from_keras(entry)["config"]["layers"][0]["config"]["padding"] == "same"


def test_compile_config_is_restored_and_fit_continues(saved):
    *_, keras_path, h5_path, _ = saved["cnn"]
    for path in (keras_path, h5_path):
        ours = load_keras(path)
        assert type(ours.optimizer).__name__ == "Adam"
        assert ours.optimizer.learning_rate == pytest.approx(0.01)
        history = ours.fit(rng.random((4, 8, 8, 3)), np.arange(4) % 3, epochs=1, verbose=0)
        assert set(history.history) == {"loss", "accuracy"}
        assert np.isfinite(history.history["loss"][0])
    assert not getattr(load_keras(keras_path, compile=False), "compiled", False)


def test_compile_config_is_written_for_keras(saved, tmp_path):
    *_, keras_path, _, _ = saved["cnn"]
    target = str(tmp_path / "compiled.keras")
    save_keras(load_keras(keras_path), target)
    theirs = keras.saving.load_model(target, safe_mode=True)
    assert type(theirs.optimizer).__name__ == "Adam"
    assert float(theirs.optimizer.learning_rate) == pytest.approx(0.01)
    theirs.fit(rng.random((4, 8, 8, 3)), np.arange(4) % 3, epochs=1, verbose=0)


# --- refusals -----------------------------------------------------------------------------------

def rewrite(source, target, config=None, weights=None):
    """A copy of the .keras file ``source`` with config.json and/or model.weights.h5 replaced."""
    with zipfile.ZipFile(source) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    if config is not None:
        members["config.json"] = json.dumps(config).encode()
    if weights is not None:
        members["model.weights.h5"] = weights
    with zipfile.ZipFile(target, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return str(target)


def keras_config(path):
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("config.json"))


def edited_weights(path, edit):
    """The model.weights.h5 of ``path`` after ``edit(h5file)``."""
    with zipfile.ZipFile(path) as archive:
        buffer = io.BytesIO(archive.read("model.weights.h5"))
    with h5py.File(buffer, "r+") as h5file:
        edit(h5file)
    return buffer.getvalue()


def test_lambda_layer_is_refused_and_its_code_never_runs(tmp_path):
    marker = tmp_path / "ran"
    os.environ["CLEARCONV_TEST_LAMBDA_MARKER"] = str(marker)   # a global name: the bytecode holds no path
    model = keras.Sequential([keras.Input((3,)), keras.layers.Lambda(
        lambda x: (open(os.environ["CLEARCONV_TEST_LAMBDA_MARKER"], "w").close(), x)[1], output_shape=(3,))])
    path = str(tmp_path / "lambda.keras")
    model.save(path)
    marker.unlink(missing_ok=True)   # should building the model in Keras have run it; loading must not
    with zipfile.ZipFile(path) as archive:
        assert "__lambda__" in archive.read("config.json").decode()   # marshalled bytecode
    for safe_mode in (True, False):
        with pytest.raises(ModelFileError, match="Lambda.*never runs code"):
            load_keras(path, safe_mode=safe_mode)
    assert not marker.exists()


def test_unknown_and_custom_classes_are_refused(saved, tmp_path):
    *_, keras_path, _, _ = saved["cnn"]
    config = keras_config(keras_path)
    config["config"]["layers"][2]["class_name"] = "FancyNormalization"
    with pytest.raises(ModelFileError, match="no layer 'FancyNormalization'; supported: .*Conv2D"):
        load_keras(rewrite(keras_path, tmp_path / "unknown.keras", config=config))
    config = keras_config(keras_path)
    config["config"]["layers"][2].update(module="my_package.layers", registered_name="my_package>MyNorm")
    with pytest.raises(ModelFileError, match="my_package>MyNorm.*custom_objects"):
        load_keras(rewrite(keras_path, tmp_path / "custom.keras", config=config))
    config = keras_config(keras_path)
    config["config"]["layers"][2]["config"]["renorm"] = True
    with pytest.raises(ModelFileError, match="renorm=True"):
        load_keras(rewrite(keras_path, tmp_path / "renorm.keras", config=config))


@pytest.mark.parametrize("edit, message", [
    (lambda f: (f["layers/dense/vars"].__delitem__("0"), f["layers/dense/vars"].create_dataset(
        "0", data=np.zeros((35, 3), "float32"))), r"shape \(35, 3\).*\(36, 3\)"),
    (lambda f: f["layers"].__delitem__("conv2d"), "layers/conv2d/vars.*missing"),
    (lambda f: f["layers/batch_normalization/vars/2"].__setitem__((), np.full(4, np.nan, "float32")),
     "NaN"),
    (lambda f: f["layers/batch_normalization/vars/3"].__setitem__((), -np.ones(4, "float32")), "negative"),
    (lambda f: (f["layers/dense/vars"].__delitem__("0"), f["layers/dense/vars"].create_dataset(
        "0", shape=(2**40, 2**20), dtype="float32", chunks=(1, 1024))), r"shape \(1099511627776"),
])
def test_bad_weights_are_refused(saved, tmp_path, edit, message):
    *_, keras_path, _, _ = saved["cnn"]
    path = rewrite(keras_path, tmp_path / "bad.keras", weights=edited_weights(keras_path, edit))
    with pytest.raises(ModelFileError, match=message) as caught:
        load_keras(path)
    assert caught.value.member == "model.weights.h5"


def test_truncated_and_random_files_are_refused(saved, tmp_path):
    *_, keras_path, h5_path, weights_path = saved["cnn"]
    with zipfile.ZipFile(keras_path) as archive:
        data = archive.read("model.weights.h5")
    with pytest.raises(ModelFileError, match="HDF5"):
        load_keras(rewrite(keras_path, tmp_path / "short.keras", weights=data[: len(data) // 2]))
    random_file = tmp_path / "random.keras"
    random_file.write_bytes(np.random.default_rng(1).bytes(4096))
    with pytest.raises(ModelFileError):
        load_keras(random_file)
    truncated = tmp_path / "short.h5"
    truncated.write_bytes(open(h5_path, "rb").read()[:3000])
    with pytest.raises(ModelFileError):
        load_keras(truncated)
    model = load_keras(keras_path)
    before = model.get_weights()
    short_weights = tmp_path / "short.weights.h5"
    short_weights.write_bytes(open(weights_path, "rb").read()[:2000])
    with pytest.raises(ModelFileError):
        load_keras_weights(model, short_weights)
    for a, b in zip(model.get_weights(), before):    # a refused file changes nothing
        np.testing.assert_array_equal(a, b)


def test_save_refuses_what_keras_cannot_hold(tmp_path):
    inputs = clearconv.Input((3,))
    model = clearconv.Model(inputs, inputs * 2.0)
    with pytest.raises(ValueError, match="op node"):
        save_keras(model, str(tmp_path / "op.keras"))
    assert not os.path.exists(tmp_path / "op.keras")
