"""The loader's error contract: a working model, or ModelFileError naming the file, the member and what is
wrong (OS-level problems stay FileNotFoundError, IsADirectoryError, PermissionError: test_limits.py).

Each case below is a file the old loader either accepted (and the model then
failed or computed NaN) or refused with a raw TypeError, KeyError,
AttributeError, IndexError or OverflowError.
"""

import io
import json
import math
import zipfile

import numpy as np
import pytest

from clearconv.io import ModelFileError, load_model, load_weights


def _members(path) -> dict:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _npz(arrays: dict) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _arrays(data: bytes) -> dict:
    with np.load(io.BytesIO(data), allow_pickle=False) as stored:
        return {key: stored[key] for key in stored.files}


def mutated(source, target, config=None, metadata=None, weights=None, optimizer=None, members=None):
    """A copy of the model file ``source`` with its parts edited in place by the given functions
    (``config(dict)``, ``metadata(dict)``, ``weights(dict of arrays)``, ``optimizer(...)``,
    ``members(dict of bytes)``), written to ``target``."""
    parts = _members(source)
    for name, edit in (("config.json", config), ("metadata.json", metadata)):
        if edit is not None:
            value = json.loads(parts[name])
            value = edit(value) or value
            parts[name] = json.dumps(value).encode()
    for name, edit in (("weights.npz", weights), ("optimizer.npz", optimizer)):
        if edit is not None:
            value = _arrays(parts[name])
            edit(value)
            parts[name] = _npz(value)
    if members is not None:
        members(parts)
    with zipfile.ZipFile(target, "w") as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return target


def _layer(config, class_name, index=0):
    return [entry for entry in config["model"]["config"]["layers"] if entry["class_name"] == class_name][index]


def _refused(path, *words, function=load_model):
    with pytest.raises(ModelFileError) as caught:
        function(path)
    message = str(caught.value)
    for word in (path.name, *words):
        assert word in message, message
    assert caught.value.path == str(path)
    return caught.value


def test_model_file_error_names_the_file_the_member_and_the_reason():
    error = ModelFileError("/data/m.clearconv", "config.json", "layer 'dense': `units` must be positive")
    assert isinstance(error, ValueError)
    assert (error.path, error.member, error.reason) == ("/data/m.clearconv", "config.json",
                                                        "layer 'dense': `units` must be positive")
    assert str(error) == "/data/m.clearconv: config.json: layer 'dense': `units` must be positive"


def _set_learning_rate(value):
    def edit(config):
        config["compile"]["optimizer"]["config"]["learning_rate"] = value
    return edit


@pytest.mark.parametrize("value", [math.nan, -0.1, math.inf, "fast", None, [0.1]])
def test_a_learning_rate_that_is_not_a_finite_non_negative_number_is_refused(model_files, tmp_path, value):
    path = mutated(model_files["sequential"], tmp_path / "lr.clearconv", config=_set_learning_rate(value))
    _refused(path, "config.json", "learning_rate")


def test_a_negative_moving_variance_is_refused(model_files, tmp_path):
    def edit(arrays):
        arrays["w0005"] = -np.abs(arrays["w0005"]) - 1    # batch_normalization/moving_variance
    path = mutated(model_files["sequential"], tmp_path / "variance.clearconv", weights=edit)
    _refused(path, "weights.npz", "moving_variance", "negative")


def test_non_finite_weights_are_refused(model_files, tmp_path):
    def edit(arrays):
        arrays["w0000"] = arrays["w0000"].copy()
        arrays["w0000"].flat[3] = np.nan
    path = mutated(model_files["sequential"], tmp_path / "nan.clearconv", weights=edit)
    _refused(path, "weights.npz", "conv2d", "NaN")


@pytest.mark.parametrize("dtype", ["int32", "float64", "complex64", "bool"])
def test_a_weight_of_another_dtype_is_refused(model_files, tmp_path, dtype):
    def edit(arrays):
        arrays["w0000"] = arrays["w0000"].astype(dtype)
    path = mutated(model_files["sequential"], tmp_path / "dtype.clearconv", weights=edit)
    _refused(path, "weights.npz", "dtype", dtype)


def test_a_pickled_array_is_refused_without_being_unpickled(model_files, tmp_path):
    def edit(arrays):
        arrays["w0000"] = np.array([{"a": 1}], dtype=object)
    path = mutated(model_files["sequential"], tmp_path / "object.clearconv", weights=edit)
    _refused(path, "weights.npz", "object")


@pytest.mark.parametrize("value", [2**63, 2**31, 0, -3, 2.5, "2", None, True])
def test_a_dilation_rate_out_of_range_or_of_the_wrong_type_is_refused(model_files, tmp_path, value):
    def edit(config):
        _layer(config, "Conv2D", 1)["config"]["dilation_rate"] = [value, value]
    path = mutated(model_files["sequential"], tmp_path / "dilation.clearconv", config=edit)
    _refused(path, "config.json", "dilation_rate")


def test_a_dilation_that_only_pads_is_refused_at_load_time(model_files, tmp_path):
    """2**20 is a valid integer, but a 'same' convolution on 4x4 maps would pad each to 2 million rows:
    predict could never run, so the file is refused when loaded."""
    def edit(config):
        _layer(config, "Conv2D", 1)["config"]["dilation_rate"] = [2**20, 2**20]
    path = mutated(model_files["sequential"], tmp_path / "dilation.clearconv", config=edit)
    _refused(path, "config.json", "conv2d", "padded")


@pytest.mark.parametrize("shape", [[None, 0, 8, 1], [None, -8, 8, 1], [None, 2**30, 8, 1], [None, 8, 8],
                                   [None, 8.5, 8, 1], "8x8", [None, 1, 1, 1]])
@pytest.mark.parametrize("kind", ["sequential", "functional"])
def test_an_input_shape_the_model_cannot_run_on_is_refused(model_files, tmp_path, shape, kind):
    def edit(config):
        if kind == "sequential":
            config["model"]["config"]["batch_input_shape"] = shape
        else:
            _layer(config, "InputLayer")["config"]["batch_shape"] = shape
    path = mutated(model_files[kind], tmp_path / "shape.clearconv", config=edit)
    _refused(path, "config.json")


def test_a_different_input_shape_the_weights_fit_loads_and_runs(model_files, tmp_path):
    """9x9 inputs give the same weight shapes as 8x8 ones (the dense layer sees 4x4x6 either way): a valid
    model, loaded as such."""
    def edit(config):
        config["model"]["config"]["batch_input_shape"] = [None, 9, 9, 1]
    path = mutated(model_files["sequential"], tmp_path / "nine.clearconv", config=edit)
    model = load_model(path)
    assert model.predict(np.zeros((2, 9, 9, 1), np.float32), verbose=0).shape == (2, 3)


def test_an_unknown_layer_class_is_refused_with_its_name(model_files, tmp_path):
    def edit(config):
        config["model"]["config"]["layers"][2]["class_name"] = "NoSuchLayer"
    path = mutated(model_files["sequential"], tmp_path / "class.clearconv", config=edit)
    _refused(path, "config.json", "NoSuchLayer")


def test_deeply_nested_json_is_refused(model_files, tmp_path):
    def edit(parts):
        parts["config.json"] = b'{"model": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    path = mutated(model_files["sequential"], tmp_path / "deep.clearconv", members=edit)
    _refused(path, "config.json", "nest")


@pytest.mark.parametrize("edit", [
    lambda metadata: metadata.update(format_version="1"),
    lambda metadata: metadata.update(format_version=10**400 // 10**390),
    lambda metadata: metadata.pop("format"),
    lambda metadata: [metadata],
    lambda metadata: metadata.update(weights="all"),
    lambda metadata: metadata.update(weights=[["a", [-1], "float32"]]),
], ids=["version-string", "version-huge", "no-format", "a-list", "weights-string", "weights-negative"])
def test_malformed_metadata_is_refused(model_files, tmp_path, edit):
    path = mutated(model_files["sequential"], tmp_path / "metadata.clearconv", metadata=edit)
    _refused(path, "metadata.json")


@pytest.mark.parametrize("edit", [
    lambda config: config.pop("model"),
    lambda config: config["model"].pop("config"),
    lambda config: config["model"]["config"].update(layers={"a": 1}),
    lambda config: config["compile"].update(loss=[]),
    lambda config: config["compile"].update(loss=7),
    lambda config: config["compile"].update(optimizer="adam"),
    lambda config: config["compile"]["optimizer"].update(class_name="NoSuchOptimizer"),
    lambda config: _layer(config, "Dense")["config"].update(units=10**30),
    lambda config: _layer(config, "Dense")["config"].update(activation={"class_name": 3}),
    lambda config: _layer(config, "Dropout")["config"].update(rate=math.nan),
    lambda config: _layer(config, "BatchNormalization")["config"].update(epsilon=math.nan),
    lambda config: _layer(config, "BatchNormalization")["config"].update(epsilon=-1.0),
    lambda config: _layer(config, "MaxPooling2D")["config"].update(pool_size=[2**62, 2]),
    lambda config: _layer(config, "Conv2D")["config"].update(kernel_size=[3, 3, 3]),
    lambda config: _layer(config, "Conv2D")["config"].update(name=["conv"]),
    lambda config: _layer(config, "Conv2D")["config"].update(unknown_argument=1),
    lambda config: config["model"]["config"].update(layers=[]),
    lambda config: _layer(config, "Flatten").update(class_name="Lambda"),
    lambda config: config.update(model={"class_name": "Model", "config": {"name": "subclassed"}}),
], ids=["no-model", "no-config", "layers-dict", "loss-empty", "loss-int", "optimizer-string",
        "optimizer-unknown", "units-huge", "activation-malformed", "rate-nan", "epsilon-nan", "epsilon-negative",
        "pool-huge", "kernel-rank", "name-list", "unknown-argument", "layers-empty", "lambda-without-function", "model-without-calls"])
def test_malformed_config_is_refused(model_files, tmp_path, edit):
    path = mutated(model_files["sequential"], tmp_path / "config.clearconv", config=edit)
    _refused(path, "config.json")


def test_an_architecture_that_is_a_layer_and_not_a_model_is_refused(tmp_path):
    import clearconv
    path = tmp_path / "flatten.clearconv"
    clearconv.Sequential([clearconv.Input((2, 2)), clearconv.layers.Flatten()]).save(path)   # no weights

    def edit(config):
        config["model"] = config["model"]["config"]["layers"][0]
    _refused(mutated(path, tmp_path / "layer.clearconv", config=edit), "config.json", "Flatten", "not a model")


@pytest.mark.parametrize("layer", [["conv2d"], {"a": 1}, 3, None, "no_such_layer"])
def test_a_functional_call_of_a_layer_that_is_not_a_name_of_the_model_is_refused(model_files, tmp_path, layer):
    def edit(config):
        config["model"]["config"]["calls"][1]["layer"] = layer
    path = mutated(model_files["functional"], tmp_path / "call.clearconv", config=edit)
    _refused(path, "config.json", "calls[1]")


def test_a_functional_config_referring_to_missing_tensors_is_refused(model_files, tmp_path):
    def edit(config):
        config["model"]["config"]["calls"][3]["args"] = [[2, 999]]
    path = mutated(model_files["functional"], tmp_path / "calls.clearconv", config=edit)
    _refused(path, "config.json", "999")


@pytest.mark.parametrize("refs", [[[2, -1]], [[2, "x"]], [{"a": 2.0}], [[2, None]]])
def test_a_functional_call_naming_a_tensor_other_than_by_its_index_is_refused(model_files, tmp_path, refs):
    def edit(config):
        config["model"]["config"]["calls"][3]["args"] = refs
    path = mutated(model_files["functional"], tmp_path / "refs.clearconv", config=edit)
    _refused(path, "config.json", "calls[3]", "by their index")


def _operation(config):
    return _layer(config, "Operation")["config"]


@pytest.mark.parametrize("edit", [
    lambda config: _operation(config)["arguments"]["__tuple__"][0]["__tuple__"].append({"__tensor__": 5}),
    lambda config: _operation(config)["arguments"]["__tuple__"][0]["__tuple__"].append(3),
    lambda config: _operation(config).update(op="numpy.system"),
    lambda config: _operation(config).update(op="numpy.tile"),
    lambda config: _operation(config).update(arguments=[[], {}]),
    lambda config: _operation(config)["arguments"]["__tuple__"][0]["__tuple__"].__setitem__(
        1, {"__array__": [[1, 2]], "dtype": "object"}),
    lambda config: _operation(config)["arguments"]["__tuple__"][0]["__tuple__"].__setitem__(
        1, {"__slice__": [0, 2, 0]}),
], ids=["slot-out-of-range", "extra-argument", "unknown-op", "other-op", "not-encoded", "object-array",
        "zero-step-slice"])
def test_an_op_node_that_cannot_run_is_refused(model_files, tmp_path, edit):
    path = mutated(model_files["functional"], tmp_path / "op.clearconv", config=edit)
    _refused(path, "config.json")


@pytest.mark.parametrize("edit", [
    lambda arrays: arrays.pop("w0001"),
    lambda arrays: arrays.update(w0001=np.zeros((5,), np.float32)),
    lambda arrays: arrays.update(extra=np.zeros((2,), np.float32)),
    lambda arrays: arrays.update(w0001=np.float32(1.0)),
], ids=["missing", "shape", "extra", "scalar"])
def test_weights_that_do_not_fit_the_architecture_are_refused(model_files, tmp_path, edit):
    path = mutated(model_files["sequential"], tmp_path / "weights.clearconv", weights=edit)
    _refused(path, "weights.npz")


@pytest.mark.parametrize("edit", [
    lambda arrays: arrays.update(iterations=np.array(-1, np.int64)),
    lambda arrays: arrays.update(iterations=np.array([1, 2], np.int64)),
    lambda arrays: arrays.update(iterations=np.array(1.5)),
    lambda arrays: arrays.pop("iterations"),
    lambda arrays: arrays.update({key: np.full_like(value, np.nan) for key, value in arrays.items()
                                  if key.startswith("adam/m/")}),
], ids=["negative", "vector", "float", "missing", "nan-slot"])
def test_a_malformed_optimizer_state_is_refused(model_files, tmp_path, edit):
    path = mutated(model_files["sequential"], tmp_path / "optimizer.clearconv", optimizer=edit)
    _refused(path, "optimizer.npz")


def _central_entry(data: bytes, name: str) -> int:
    """Offset of the central-directory entry of member ``name`` (outer or inner archive) in ``data``."""
    offset = data.find(b"PK\x01\x02")
    while offset >= 0:
        length = int.from_bytes(data[offset + 28:offset + 30], "little")
        if data[offset + 46:offset + 46 + length] == name.encode():
            return offset
        offset = data.find(b"PK\x01\x02", offset + 4)
    raise AssertionError(f"no entry {name}")


@pytest.mark.parametrize("flag", [0x1, 0x20, 0x40])
@pytest.mark.parametrize("member", ["metadata.json", "w0000.npy"])
def test_zip_members_flagged_encrypted_or_patched_are_refused(model_files, tmp_path, build, flag, member):
    """zipfile raises NotImplementedError or RuntimeError for these flags: the reader refuses them first."""
    data = bytearray(model_files["weights"].read_bytes())
    data[_central_entry(data, member) + 8] |= flag       # the entry's general-purpose flags
    path = tmp_path / "flagged.clearconv"
    path.write_bytes(bytes(data))
    _refused(path, function=lambda p: load_weights(build.sequential_cnn(), p))


def test_a_member_needing_a_newer_zip_version_is_refused(model_files, tmp_path, build):
    data = bytearray(model_files["weights"].read_bytes())
    data[_central_entry(data, "metadata.json") + 6] = 84     # "version needed to extract": 8.4
    path = tmp_path / "version.clearconv"
    path.write_bytes(bytes(data))
    _refused(path, function=lambda p: load_weights(build.sequential_cnn(), p))


@pytest.mark.parametrize("cut", [0, 1, 22, 100, 1000, -100, -1])
def test_a_truncated_file_is_refused(model_files, tmp_path, build, cut):
    data = model_files["sequential"].read_bytes()
    path = tmp_path / "cut.clearconv"
    path.write_bytes(data[:cut])
    _refused(path)
    _refused(path, function=lambda p: load_weights(build.sequential_cnn(), p))


def test_load_weights_refuses_a_file_of_another_architecture_and_changes_nothing(model_files, build):
    model = build.functional_model()
    before = model.get_weights()
    error = _refused(model_files["weights"], "weights.npz", function=lambda p: load_weights(model, p))
    assert "holds" in str(error)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_load_weights_refuses_a_wrong_shape_before_assigning_any_weight(model_files, tmp_path, build):
    def edit(arrays):
        arrays["w0006"] = np.zeros((3, 3, 4, 7), np.float32)   # the second convolution's kernel
    path = mutated(model_files["weights"], tmp_path / "shape.clearconv", weights=edit)
    model = build.sequential_cnn()
    before = model.get_weights()
    _refused(path, "weights.npz", "(3, 3, 4, 7)", "(3, 3, 4, 6)", function=lambda p: load_weights(model, p))
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_load_weights_reads_weights_from_a_full_model_file(model_files, build):
    model = build.sequential_cnn()
    load_weights(model, model_files["sequential"])
    saved = load_model(model_files["sequential"])
    for a, b in zip(saved.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
