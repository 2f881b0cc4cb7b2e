"""export_onnx: every zoo model, and models of most exportable layers in both data formats, run in
onnxruntime (an independent implementation of every op) and give clearconv's predictions within 1e-5 of
the output's magnitude, at batch sizes other than the one checked (the batch axis is dynamic)."""

import os

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import clearconv
from clearconv import layers as L
from clearconv import zoo
from clearconv.io.onnx import DEFAULT_OPSET, export_onnx

# Small inputs where the zoo builder takes input_shape: each model exports and runs in well under a second.
ZOO_SHAPES = {"digits_cnn": (8, 8, 1), "lenet5": (28, 28, 1), "small_vgg": (16, 16, 1), "small_resnet": (16, 16, 1),
              "unet": (16, 16, 1), "signal1d": (64, 1), "mnist1d_cnn": (40, 1), "siamese": (16, 16, 1),
              "augmented_vgg": (16, 16, 1)}


def randomise_statistics(model, seed=0):
    """Batch-norm statistics away from (0, 1), so that a mistake in their export would show."""
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        name = weight.path.rsplit("/", 1)[-1]
        if name in ("moving_variance", "gamma"):
            weight.assign(rng.uniform(0.5, 1.5, weight.shape))
        elif name in ("moving_mean", "beta"):
            weight.assign(rng.normal(0, 0.2, weight.shape))


def run_onnx(path, arrays):
    session = ort.InferenceSession(os.fspath(path), providers=["CPUExecutionProvider"])
    return session.run(None, {i.name: a for i, a in zip(session.get_inputs(), arrays)})


def assert_close(actual, expected):
    """Within 1e-5 of the largest magnitude of the expected output (float32 sums differ in their order)."""
    assert actual.shape == expected.shape
    scale = max(float(np.abs(expected).max()), 1e-6)
    assert float(np.abs(actual - expected).max()) <= 1e-5 * scale


def check_export(model, path, input_shapes, batches=(2,), **kwargs):
    export_onnx(model, path, **kwargs)
    proto = onnx.load(os.fspath(path))
    onnx.checker.check_model(proto, full_check=True)
    rng = np.random.default_rng(1)
    for batch in batches:
        arrays = [rng.normal(size=(batch, *shape)).astype(np.float32) for shape in input_shapes]
        expected = model.predict(arrays if len(arrays) > 1 else arrays[0], verbose=0)
        outputs = run_onnx(path, arrays)
        expected = expected if isinstance(expected, list) else [expected]
        for actual, wanted in zip(outputs, expected):
            assert_close(actual, np.asarray(wanted))
    return proto


@pytest.mark.parametrize("name", sorted(zoo.MODELS))
@pytest.mark.parametrize("fold", [False, True])
def test_zoo_model_matches_onnxruntime(name, fold, tmp_path):
    model = zoo.get(name, input_shape=ZOO_SHAPES[name])
    randomise_statistics(model)
    proto = check_export(model, tmp_path / f"{name}.onnx", [ZOO_SHAPES[name]] * len(model.inputs),
                         fold_batchnorm=fold)
    ops = {node.op_type for node in proto.graph.node}
    has_batchnorm = any(isinstance(layer, L.BatchNormalization) for layer in model.layers)
    assert ("BatchNormalization" in ops) == (has_batchnorm and not fold)
    assert proto.opset_import[0].version == DEFAULT_OPSET


def test_batch_axis_is_dynamic(tmp_path):
    model = zoo.lenet5()
    proto = check_export(model, tmp_path / "lenet.onnx", [(28, 28, 1)], batches=(1, 3))
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and [d.dim_value for d in dims[1:]] == [28, 28, 1]


def many_layers(data_format):
    """Most exportable layers, in one data format: (None, 3, 12, 10) or (None, 12, 10, 3) in, two outputs."""
    cf = data_format == "channels_first"
    shape = (3, 12, 10) if cf else (12, 10, 3)
    inputs = L.Input(shape)
    x = L.Conv2D(6, 3, strides=2, padding="same", activation="elu", data_format=data_format)(inputs)
    x = L.BatchNormalization(axis=1 if cf else -1)(x)
    a = L.DepthwiseConv2D(3, padding="same", depth_multiplier=2, data_format=data_format)(x)
    b = L.SeparableConv2D(4, 3, padding="same", dilation_rate=2, activation="tanh", data_format=data_format)(x)
    c = L.Conv2D(12, 1, groups=2, data_format=data_format)(x)
    x = L.Add()([a, c])
    x = L.LeakyReLU(0.1)(x)
    x = L.Concatenate(axis=1 if cf else -1)([x, b])
    x = L.ZeroPadding2D(((1, 0), (2, 1)), data_format=data_format)(x)
    x = L.AveragePooling2D(3, strides=2, padding="same", data_format=data_format)(x)
    x = L.Conv2DTranspose(5, 3, strides=2, padding="same", output_padding=1, data_format=data_format)(x)
    x = L.UpSampling2D(2, data_format=data_format)(x)
    x = L.Cropping2D(((1, 2), (0, 1)), data_format=data_format)(x)
    x = L.UpSampling2D(2, interpolation="bilinear", data_format=data_format)(x)
    x = L.MaxPooling2D(3, strides=2, padding="same", data_format=data_format)(x)
    x = L.ReLU(max_value=2.0)(x)
    pooled = L.GlobalMaxPooling2D(data_format=data_format, keepdims=True)(x)
    x = L.Multiply()([x, pooled])
    flat = L.Flatten(data_format=data_format)(x)
    dense = L.Dense(7, activation="relu")(L.Dropout(0.5)(flat))
    dense = L.BatchNormalization()(dense)
    scores = L.Dense(4, activation="softmax")(dense)
    grid = L.Reshape((2, 7))(L.Dense(14)(dense))
    grid = L.Permute((2, 1))(grid)
    grid = L.Dense(3)(grid)   # a Dense on rank 3: MatMul + Add
    grid = L.Softmax(axis=1)(L.PReLU()(grid))
    return clearconv.Model(inputs, [scores, grid]), shape


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_layers_in_both_data_formats(data_format, tmp_path):
    model, shape = many_layers(data_format)
    randomise_statistics(model, seed=3)
    proto = check_export(model, tmp_path / "many.onnx", [shape], batches=(1, 3))
    dims = [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim[1:]]
    assert dims == list(shape)   # the model's own layout: NHWC stays NHWC
    ops = {node.op_type for node in proto.graph.node}
    assert {"Conv", "ConvTranspose", "BatchNormalization", "AveragePool", "MaxPool", "GlobalMaxPool", "Resize",
            "Pad", "Slice", "Concat", "Gemm", "MatMul", "Softmax", "PRelu", "LeakyRelu", "Elu"} <= ops


def test_channels_last_convolutions_share_one_layout(tmp_path):
    """Between channels_last convolutions the graph stays NCHW: a Transpose at the input and one before
    Flatten (flattening in NHWC order, as clearconv does), none elsewhere."""
    proto = check_export(zoo.digits_cnn(), tmp_path / "digits.onnx", [(8, 8, 1)])
    assert [node.op_type for node in proto.graph.node].count("Transpose") == 2


def test_one_and_three_dimensional_convolutions(tmp_path):
    inputs = L.Input((16, 2))
    x = L.Conv1D(4, 3, padding="causal", dilation_rate=2, activation="sigmoid")(inputs)
    x = L.Conv1DTranspose(3, 4, strides=3)(x)
    x = L.UpSampling1D(2)(L.ZeroPadding1D((2, 1))(x))
    x = L.MaxPooling1D(3, padding="same")(x)
    one_d = clearconv.Model(inputs, L.GlobalAveragePooling1D()(x))
    check_export(one_d, tmp_path / "conv1d.onnx", [(16, 2)], batches=(2,))
    volumes = clearconv.Sequential([L.Input((6, 6, 6, 2)), L.Conv3D(3, 3, padding="same", activation="relu"),
                                    L.AveragePooling3D(2), L.Conv3DTranspose(2, 2, strides=2), L.Flatten(),
                                    L.Dense(3)])
    check_export(volumes, tmp_path / "conv3d.onnx", [(6, 6, 6, 2)], batches=(2,))


def test_opset_and_refusals(tmp_path):
    model = zoo.lenet5()
    check_export(model, tmp_path / "opset17.onnx", [(28, 28, 1)], opset=17)
    for opset in (12, 99, "18", True):
        with pytest.raises(ValueError, match="opset"):
            export_onnx(model, tmp_path / "x.onnx", opset=opset)
    with pytest.raises(ValueError, match="model"):
        export_onnx("not a model", tmp_path / "x.onnx")


def test_unsupported_layer_is_named_and_leaves_the_old_file(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"the old file")
    inputs = L.Input((4, 4, 2))
    model = clearconv.Model(inputs, L.Dense(2)(L.LayerNormalization()(inputs)))
    with pytest.raises(ValueError, match=r"layer_normalization.*\(LayerNormalization\)") as error:
        export_onnx(model, path)
    assert not isinstance(error.value, clearconv.io.ModelFileError)
    assert path.read_bytes() == b"the old file"
    assert sorted(os.listdir(tmp_path)) == ["model.onnx"]   # no temporary file left behind
