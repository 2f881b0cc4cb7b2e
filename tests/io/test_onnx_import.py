"""import_onnx: networks exported by torch.onnx.export (TorchScript-based and dynamo exporters, weights
inline or in an external data file) predict as PyTorch does within 1e-5; the imported model summarises,
saves and loads through clearconv's own format, and trains; clearconv's own exports read back."""

import os
import warnings

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
torch = pytest.importorskip("torch")
nn = torch.nn

import clearconv
from clearconv import zoo
from clearconv.io.onnx import export_onnx, import_onnx


class SmallVGG(nn.Module):
    """Conv + BN + ReLU + MaxPool twice, Flatten, Linear: (N, 3, 16, 16) -> (N, 10)."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Linear(16 * 4 * 4, 10)

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


class BasicBlock(nn.Module):
    """ResNet's basic block, strided: two 3x3 convs with BN, a 1x1 stride-2 projection, Add, ReLU."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(4, 8, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(8)
        self.downsample = nn.Sequential(nn.Conv2d(4, 8, 1, stride=2, bias=False), nn.BatchNorm2d(8))

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(y)) + self.downsample(x))


class Decoder(nn.Module):
    """Transposed convolutions: stride 2 with padding and output_padding, then a 2x2 stride-2 one."""

    def __init__(self):
        super().__init__()
        self.up = nn.Sequential(nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
                                nn.ConvTranspose2d(4, 2, 2, stride=2), nn.Sigmoid())

    def forward(self, x):
        return self.up(x)


NETWORKS = {"vgg": (SmallVGG, (3, 16, 16)), "resnet_block": (BasicBlock, (4, 8, 8)), "decoder": (Decoder, (8, 5, 5))}


def trained_statistics(module, seed):
    """Random weights and batch-norm statistics away from (0, 1), in eval mode."""
    torch.manual_seed(seed)
    for child in module.modules():
        if isinstance(child, nn.BatchNorm2d):
            child.running_mean.uniform_(-0.5, 0.5)
            child.running_var.uniform_(0.5, 2.0)
            child.weight.data.uniform_(0.5, 1.5)
            child.bias.data.uniform_(-0.2, 0.2)
    return module.eval()


def export(module, shape, path, dynamo, **kwargs):
    example = (torch.randn(2, *shape),)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dynamo:
            torch.onnx.export(module, example, os.fspath(path), dynamo=True, input_names=["x"], output_names=["y"],
                              verbose=False, **kwargs)
        else:
            torch.onnx.export(module, example, os.fspath(path), dynamo=False, input_names=["x"], output_names=["y"],
                              dynamic_axes={"x": {0: "N"}, "y": {0: "N"}}, **kwargs)
    return path


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Every network, exported by both exporters: (name, dynamo) -> (module, input shape, path)."""
    folder = tmp_path_factory.mktemp("torch_onnx")
    files = {}
    for seed, (name, (kind, shape)) in enumerate(NETWORKS.items()):
        module = trained_statistics(kind(), seed)
        for dynamo in (False, True):
            files[name, dynamo] = (module, shape, export(module, shape, folder / f"{name}_{dynamo}.onnx", dynamo))
    return files


def torch_output(module, x):
    with torch.no_grad():
        return module(torch.from_numpy(x)).numpy()


def assert_close(actual, expected):
    assert actual.shape == expected.shape
    assert float(np.abs(actual - expected).max()) <= 1e-5 * max(float(np.abs(expected).max()), 1e-6)


@pytest.mark.parametrize("dynamo", [False, True], ids=["torchscript", "dynamo"])
@pytest.mark.parametrize("name", list(NETWORKS))
def test_torch_export_matches_pytorch(exported, name, dynamo):
    module, shape, path = exported[name, dynamo]
    model = import_onnx(path)
    assert model.input_shape == (None, *shape)   # ONNX's own NCHW layout, batch free
    for batch in (2, 3):   # 3: not the batch size the dynamo exporter fixed
        x = np.random.default_rng(batch).normal(size=(batch, *shape)).astype(np.float32)
        assert_close(model.predict(x, verbose=0), torch_output(module, x))


def test_batchnorm_kept_by_the_exporter(tmp_path):
    """Without constant folding TorchScript keeps BatchNormalization nodes: they become BN layers."""
    module = trained_statistics(SmallVGG(), 7)
    path = export(module, (3, 16, 16), tmp_path / "vgg_bn.onnx", False, do_constant_folding=False,
                  training=torch.onnx.TrainingMode.EVAL)
    assert "BatchNormalization" in {node.op_type for node in onnx.load(os.fspath(path)).graph.node}
    model = import_onnx(path)
    assert sum(isinstance(layer, clearconv.layers.BatchNormalization) for layer in model.layers) == 2
    x = np.random.default_rng(0).normal(size=(2, 3, 16, 16)).astype(np.float32)
    assert_close(model.predict(x, verbose=0), torch_output(module, x))


def test_external_data_beside_the_model(exported, tmp_path):
    module, shape, path = exported["vgg", True]
    proto = onnx.load(os.fspath(path))
    target = tmp_path / "external.onnx"
    onnx.save(proto, os.fspath(target), save_as_external_data=True, all_tensors_to_one_file=True,
              location="external.onnx.data", size_threshold=0)
    stored = onnx.load(os.fspath(target), load_external_data=False).graph.initializer
    assert stored and all(tensor.data_location == onnx.TensorProto.EXTERNAL for tensor in stored)
    x = np.random.default_rng(4).normal(size=(2, *shape)).astype(np.float32)
    assert_close(import_onnx(target).predict(x, verbose=0), torch_output(module, x))


def test_imported_model_summarises_saves_and_trains(exported, tmp_path):
    module, shape, path = exported["resnet_block", False]
    model = import_onnx(path)
    lines = []
    model.summary(print_fn=lines.append)
    assert any("Conv2D" in line for line in lines)
    x = np.random.default_rng(5).normal(size=(4, *shape)).astype(np.float32)
    before = model.predict(x, verbose=0)
    model.save(tmp_path / "block.clearconv")
    reloaded = clearconv.models.load_model(tmp_path / "block.clearconv")
    np.testing.assert_array_equal(reloaded.predict(x, verbose=0), before)
    model.compile(optimizer="sgd", loss="mse")
    kernel = model.get_layer(index=2).weights[0].data.copy()
    history = model.fit(x, np.zeros_like(before), epochs=1, batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert not np.array_equal(model.get_layer(index=2).weights[0].data, kernel)


@pytest.mark.parametrize("name", ["small_resnet", "unet", "signal1d", "siamese"])
def test_clearconv_export_reads_back(name, tmp_path):
    """clearconv -> ONNX -> clearconv: the same predictions (the imported model is channels_first, but
    takes the exported file's NHWC arrays since its first node is that file's Transpose)."""
    shapes = {"small_resnet": (16, 16, 1), "unet": (16, 16, 1), "signal1d": (64, 1), "siamese": (16, 16, 1)}
    model = zoo.get(name, input_shape=shapes[name])
    rng = np.random.default_rng(6)
    for weight in model.weights:
        if weight.path.endswith("moving_variance"):
            weight.assign(rng.uniform(0.5, 1.5, weight.shape))
    path = export_onnx(model, tmp_path / f"{name}.onnx")
    arrays = [rng.normal(size=(2, *shapes[name])).astype(np.float32) for _ in model.inputs]
    imported = import_onnx(path)
    inputs = arrays if len(arrays) > 1 else arrays[0]
    assert_close(imported.predict(inputs, verbose=0), model.predict(inputs, verbose=0))


def test_trace_explains_an_imported_convolution(exported):
    """trace on the imported block's first convolution (PyTorch's conv1 with bn1 folded in by the exporter,
    after an explicit ZeroPadding for PyTorch's symmetric padding of a strided convolution): the traced value
    is PyTorch's, and its products and bias add up to it."""
    from clearconv.explain.trace import trace
    module, shape, path = exported["resnet_block", False]
    model = import_onnx(path)
    conv = next(layer for layer in model.layers if isinstance(layer, clearconv.layers.Conv2D))
    x = np.random.default_rng(8).normal(size=(1, *shape)).astype(np.float32)
    explained = trace(model, x, conv, (3, 1, 2))   # channels_first: channel 3, row 1, column 2
    with torch.no_grad():
        expected = module.bn1(module.conv1(torch.from_numpy(x)))[0, 3, 1, 2].item()
    assert abs(float(explained.value) - expected) <= 1e-5 * max(abs(expected), 1.0)
    assert abs(float(np.sum(explained.products) + explained.bias) - float(explained.pre_activation)) <= 1e-5
