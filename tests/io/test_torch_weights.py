"""clearconv.io.torch: PyTorch state_dicts (torch.save and safetensors) read without torch, loaded into
clearconv models that then predict as PyTorch does; hostile files refused without running anything.

PyTorch serves only to write the files and to give the reference outputs.
"""

import io as _io
import json
import os
import pickle
import struct
import subprocess
import time
import zipfile

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import clearconv  # noqa: E402
from clearconv import layers as L  # noqa: E402
from clearconv.io import torch as torch_io  # noqa: E402
from clearconv.io.errors import ModelFileError  # noqa: E402

nn = torch.nn


# --------------------------------------------------------------------------------------------------
# Networks trained a few steps in PyTorch, and their clearconv twins
# --------------------------------------------------------------------------------------------------

def _train(net, shape, classes, steps=5, seed=0):
    """A few SGD steps on random data in training mode (so batch norm statistics move), then eval mode."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    net.train()
    for _ in range(steps):
        x = torch.randn(8, *shape, generator=generator)
        y = torch.randint(0, classes, (8,), generator=generator)
        optimizer.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        optimizer.step()
    return net.eval()


def _lenet_torch():
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.AvgPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
    return _train(net, (1, 28, 28), 10)


def _lenet(data_format="channels_last", first_units=120):
    shape = (28, 28, 1) if data_format == "channels_last" else (1, 28, 28)
    return clearconv.Sequential([
        L.Input(shape),
        L.Conv2D(6, 5, padding="same", activation="relu", data_format=data_format),
        L.AveragePooling2D(2, data_format=data_format),
        L.Conv2D(16, 5, activation="relu", data_format=data_format),
        L.AveragePooling2D(2, data_format=data_format),
        L.Flatten(data_format=data_format),
        L.Dense(first_units, activation="relu"), L.Dense(84, activation="relu"), L.Dense(10)])


class _ConvBN(nn.Module):
    """Conv + BN, a depthwise conv + BN, global average pooling, Linear; modules named as attributes."""

    def __init__(self):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8)
        self.dw, self.bn2 = nn.Conv2d(8, 16, 3, groups=8, bias=False), nn.BatchNorm2d(16)
        self.fc = nn.Linear(16, 5)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.bn2(self.dw(x)))
        return self.fc(x.mean(dim=(2, 3)))


def _conv_bn_torch():
    torch.manual_seed(1)
    return _train(_ConvBN(), (3, 12, 12), 5)


def _conv_bn():
    return clearconv.Sequential([
        L.Input((12, 12, 3)),
        L.Conv2D(8, 3, padding="same"), L.BatchNormalization(epsilon=1e-5, momentum=0.9), L.ReLU(),
        L.DepthwiseConv2D(3, depth_multiplier=2, use_bias=False), L.BatchNormalization(epsilon=1e-5), L.ReLU(),
        L.GlobalAveragePooling2D(), L.Dense(5)])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The two trained networks, saved with torch.save and as safetensors: {name: (net, .pt, .safetensors)}."""
    folder = tmp_path_factory.mktemp("torch")
    nets = {"lenet": _lenet_torch(), "conv_bn": _conv_bn_torch()}
    files = {}
    for name, net in nets.items():
        state = net.state_dict()
        torch.save(state, folder / f"{name}.pt")
        write_safetensors(folder / f"{name}.safetensors", {k: v.numpy() for k, v in state.items()})
        files[name] = (net, folder / f"{name}.pt", folder / f"{name}.safetensors")
    return files


_SAFETENSORS_NAMES = {np.dtype("float32"): "F32", np.dtype("float64"): "F64", np.dtype("float16"): "F16",
                      np.dtype("int64"): "I64"}


def write_safetensors(path, arrays, header_length=None, entries=None):
    """The safetensors format by hand: u64 header length, JSON header, data. Tensors are laid out sorted by
    name, as the safetensors package lays them (so the header does not keep the modules' order)."""
    header, chunks, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name in sorted(arrays):
        data = np.ascontiguousarray(arrays[name]).astype(arrays[name].dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": _SAFETENSORS_NAMES[arrays[name].dtype], "shape": list(arrays[name].shape),
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    header.update(entries or {})
    text = json.dumps(header).encode()
    with open(path, "wb") as file:
        file.write(struct.pack("<Q", len(text) if header_length is None else header_length) + text + b"".join(chunks))
    return path


def _nchw(x):
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def _assert_predicts_as_torch(model, net, x_torch_layout, x_model_layout):
    with torch.no_grad():
        expected = net(torch.from_numpy(x_torch_layout)).numpy()
    np.testing.assert_allclose(model.predict(x_model_layout, verbose=0), expected, rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------------

def test_read_state_dict_equals_torch_load_for_every_dtype_and_view(tmp_path):
    torch.manual_seed(2)
    base = torch.randn(4, 6)
    state = {"f32": torch.randn(2, 3, 4), "f64": torch.randn(5, dtype=torch.float64),
             "f16": torch.randn(3, 2).half(), "i64": torch.tensor(7), "view": base[1:, 2:5],
             "transposed": base.t(), "empty": torch.zeros(0, 3), "bf16": torch.randn(4).bfloat16()}
    torch.save(state, tmp_path / "s.pt")
    arrays = torch_io.read_state_dict(tmp_path / "s.pt")
    assert list(arrays) == list(state)
    for key, tensor in state.items():
        expected = tensor.float().numpy() if tensor.dtype == torch.bfloat16 else tensor.numpy()
        assert arrays[key].dtype == expected.dtype, key
        np.testing.assert_array_equal(arrays[key], expected, err_msg=key)
        assert not arrays[key].flags.writeable
    # bfloat16 is the upper half of a float32: widening is exact.
    assert arrays["bf16"].dtype == np.float32


def test_read_safetensors_round_trip(tmp_path):
    rng = np.random.default_rng(3)
    arrays = {"b": rng.standard_normal((2, 3)).astype("float32"), "a": np.arange(4, dtype="int64"),
              "c": rng.standard_normal(3).astype("float16"), "d": np.zeros((0, 2), "float64")}
    read = torch_io.read_safetensors(write_safetensors(tmp_path / "x.safetensors", arrays))
    assert set(read) == set(arrays)
    for name, array in arrays.items():
        assert read[name].dtype == array.dtype and read[name].shape == array.shape
        np.testing.assert_array_equal(read[name], array)


def test_big_endian_storage_is_read_in_the_right_order(tmp_path):
    values = np.array([1.5, -2.25, 3.0], dtype="<f4")
    path = _torch_zip(tmp_path / "be.pt", _pickle_of({"w": (3, 0, (3,), (1,))}),
                      {"0": values.astype(">f4").tobytes()}, byteorder=b"big")
    np.testing.assert_array_equal(torch_io.read_state_dict(path)["w"], values)


# --------------------------------------------------------------------------------------------------
# Loading into clearconv models
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["pt", "safetensors"])
def test_lenet_predicts_as_pytorch(trained, kind):
    net, pt, safetensors = trained["lenet"]
    model = _lenet()
    torch_io.load_torch_state_dict(model, pt if kind == "pt" else safetensors)
    x = np.random.default_rng(4).standard_normal((4, 28, 28, 1)).astype("float32")
    _assert_predicts_as_torch(model, net, _nchw(x), x)


def test_lenet_channels_first_predicts_as_pytorch(trained):
    # Flatten(data_format="channels_first") flattens (H, W, C) as Keras does: the rows are permuted too.
    net, pt, _ = trained["lenet"]
    model = _lenet("channels_first")
    torch_io.load_torch_state_dict(model, pt)
    x = np.random.default_rng(5).standard_normal((3, 1, 28, 28)).astype("float32")
    _assert_predicts_as_torch(model, net, x, x)


def test_conv_bn_pooling_predicts_as_pytorch(trained):
    net, pt, safetensors = trained["conv_bn"]
    assert not torch.allclose(net.bn1.running_var, torch.ones(8))  # the statistics did move
    x = np.random.default_rng(6).standard_normal((4, 12, 12, 3)).astype("float32")
    model = _conv_bn()
    torch_io.load_torch_state_dict(model, pt)
    _assert_predicts_as_torch(model, net, _nchw(x), x)
    # safetensors sorts the modules by name (bn1, bn2, conv1, dw, fc): their order is given.
    model = _conv_bn()
    torch_io.load_torch_state_dict(model, safetensors, modules=["conv1", "bn1", "dw", "bn2", "fc"])
    _assert_predicts_as_torch(model, net, _nchw(x), x)
    with pytest.raises(ModelFileError, match="conv2d"):   # in name order, bn1 meets the first Conv2D
        torch_io.load_torch_state_dict(_conv_bn(), safetensors)


def test_transposed_separable_1d_3d_and_reshape_predict_as_pytorch(tmp_path):
    torch.manual_seed(7)
    # Linear -> view(N, C, H, W) is Dense -> Reshape((H, W, C)) in a channels_last model.
    net = nn.Sequential(nn.Linear(6, 4 * 3 * 3), nn.Unflatten(1, (4, 3, 3)),
                        nn.ConvTranspose2d(4, 5, 3, stride=2), nn.Tanh(),
                        nn.Conv2d(5, 10, 3, groups=5, bias=False), nn.Conv2d(10, 3, 1))
    torch.save(net.state_dict(), tmp_path / "decoder.pt")
    model = clearconv.Sequential([L.Input((6,)), L.Dense(36), L.Reshape((3, 3, 4)),
                                  L.Conv2DTranspose(5, 3, strides=2, activation="tanh"),
                                  L.SeparableConv2D(3, 3, depth_multiplier=2)])
    torch_io.load_torch_state_dict(model, tmp_path / "decoder.pt")
    x = np.random.default_rng(8).standard_normal((2, 6)).astype("float32")
    with torch.no_grad():
        expected = net(torch.from_numpy(x)).numpy().transpose(0, 2, 3, 1)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-5)

    net = nn.Sequential(nn.Conv1d(2, 4, 3), nn.ConvTranspose1d(4, 3, 2, stride=2))
    torch.save(net.state_dict(), tmp_path / "seq.pt")
    model = clearconv.Sequential([L.Input((9, 2)), L.Conv1D(4, 3), L.Conv1DTranspose(3, 2, strides=2)])
    torch_io.load_torch_state_dict(model, tmp_path / "seq.pt")
    x = np.random.default_rng(9).standard_normal((2, 9, 2)).astype("float32")
    with torch.no_grad():
        expected = net(torch.from_numpy(x.transpose(0, 2, 1).copy())).numpy().transpose(0, 2, 1)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-5)

    net = nn.Conv3d(2, 3, (2, 3, 2))
    torch.save(net.state_dict(), tmp_path / "c3.pt")
    model = clearconv.Sequential([L.Input((4, 5, 3, 2)), L.Conv3D(3, (2, 3, 2))])
    torch_io.load_torch_state_dict(model, tmp_path / "c3.pt")
    x = np.random.default_rng(10).standard_normal((1, 4, 5, 3, 2)).astype("float32")
    with torch.no_grad():
        expected = net(torch.from_numpy(x.transpose(0, 4, 1, 2, 3).copy())).numpy().transpose(0, 2, 3, 4, 1)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-5)


def test_half_and_double_weights_are_cast_to_the_model_dtype(trained, tmp_path):
    net, _, _ = trained["lenet"]
    state = {k: (v.double() if k.endswith("weight") else v.half()) for k, v in net.state_dict().items()}
    torch.save(state, tmp_path / "mixed.pt")
    model = _lenet()
    torch_io.load_torch_state_dict(model, tmp_path / "mixed.pt")
    assert all(w.dtype == np.float32 for w in model.weights)
    np.testing.assert_array_equal(model.weights[1].numpy(), state["0.bias"].float().numpy())


def test_mismatching_architecture_names_the_first_mismatch_and_changes_nothing(trained):
    _, pt, _ = trained["lenet"]
    model = _lenet(first_units=100)
    before = model.get_weights()
    with pytest.raises(ModelFileError) as caught:
        torch_io.load_torch_state_dict(model, pt)
    error = caught.value
    assert error.member == "7.weight"
    assert model.layers[5].name in error.reason and "(100, 400)" in error.reason and "(120, 400)" in error.reason
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)


def test_strict_counts_modules(trained):
    _, pt, _ = trained["lenet"]
    shorter = clearconv.Sequential(_lenet().layers[:-1])  # no last Dense: one module left over
    with pytest.raises(ModelFileError, match="more module"):
        torch_io.load_torch_state_dict(shorter, pt)
    torch_io.load_torch_state_dict(shorter, pt, strict=False)
    longer = _lenet()
    longer.add(L.Dense(3))
    head = longer.layers[-1].kernel.numpy().copy()
    with pytest.raises(ModelFileError, match="expects one more"):
        torch_io.load_torch_state_dict(longer, pt)
    torch_io.load_torch_state_dict(longer, pt, strict=False)
    np.testing.assert_array_equal(longer.layers[-1].kernel.numpy(), head)


def test_epsilon_mismatch_names_the_layer(trained):
    _, pt, _ = trained["conv_bn"]
    model = clearconv.Sequential([L.Input((12, 12, 3)), L.Conv2D(8, 3, padding="same"), L.BatchNormalization()])
    with pytest.raises(ValueError, match=f"{model.layers[1].name}: epsilon=0.001"):
        torch_io.load_torch_state_dict(model, pt)


def test_unsupported_layer_is_named():
    model = clearconv.Sequential([L.Input((4,)), L.PReLU()])
    with pytest.raises(ValueError, match="supported: Conv1D"):
        torch_io.load_torch_state_dict(model, "unused.pt")


# --------------------------------------------------------------------------------------------------
# Hostile files: refused without running anything, within a second
# --------------------------------------------------------------------------------------------------

def _protocol2(*parts) -> bytes:
    return b"\x80\x02" + b"".join(parts) + b"."


def _text(value: str) -> bytes:
    data = value.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def _int(value: int) -> bytes:
    data = value.to_bytes(max(1, (value.bit_length() + 8) // 8), "little", signed=True)
    return b"\x8a" + bytes([len(data)]) + data


def _tuple(values) -> bytes:
    return b"(" + b"".join(_int(v) for v in values) + b"t"


def _pickle_of(tensors: dict, storage_type="FloatStorage") -> bytes:
    """A state_dict pickle as torch writes it (written opcode by opcode): name -> (storage elements,
    offset, size, stride), each tensor on its own storage "0", "1", ..."""
    body = [b"ccollections\nOrderedDict\n)R("]
    for key, (name, (numel, offset, size, stride)) in enumerate(tensors.items()):
        storage = b"(" + _text("storage") + f"ctorch\n{storage_type}\n".encode() + _text(str(key)) + \
                  _text("cpu") + _int(numel) + b"tQ"
        body.append(_text(name) + b"ctorch._utils\n_rebuild_tensor_v2\n(" + storage + _int(offset) +
                    _tuple(size) + _tuple(stride) + b"\x89ccollections\nOrderedDict\n)RtR")
    return _protocol2(*body, b"u")


def _torch_zip(path, pickle_bytes: bytes, storages=None, byteorder=b"little"):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", pickle_bytes)
        archive.writestr("archive/byteorder", byteorder)
        for key, data in (storages or {}).items():
            archive.writestr(f"archive/data/{key}", data)
        archive.writestr("archive/version", b"3\n")
    return path


def _refused(path, match, reader=torch_io.read_state_dict):
    start = time.perf_counter()
    with pytest.raises(ModelFileError, match=match) as caught:
        reader(path)
    assert time.perf_counter() - start < 1.0
    return caught.value


class _Payload:
    """Pickles as a call of ``function(*arguments)``, as a hostile file would hold it."""

    def __init__(self, function, *arguments):
        self.function, self.arguments = function, arguments

    def __reduce__(self):
        return self.function, self.arguments


@pytest.mark.parametrize("kind", ["exec", "os.system", "subprocess", "eval"])
def test_code_in_the_pickle_is_refused_without_running_it(tmp_path, kind):
    marker = tmp_path / "ran"
    payload = {
        "exec": _Payload(exec, f"open({str(marker)!r}, 'w').write('x')"),
        "os.system": _Payload(os.system, f"touch {marker}"),
        "subprocess": _Payload(subprocess.call, ["touch", str(marker)]),
        "eval": _Payload(eval, f"open({str(marker)!r}, 'w')"),
    }[kind]
    for protocol in (2, 4):   # GLOBAL, and STACK_GLOBAL
        path = _torch_zip(tmp_path / f"{kind}.pt", pickle.dumps({"w": payload}, protocol=protocol))
        error = _refused(path, "refused without calling it")
        assert error.member == "archive/data.pkl"
        assert not marker.exists()


def test_a_function_reference_and_a_foreign_class_are_refused(tmp_path):
    _refused(_torch_zip(tmp_path / "f.pt", pickle.dumps({"w": os.path.join})), "posixpath.join|ntpath.join")
    _refused(_torch_zip(tmp_path / "c.pt", pickle.dumps({"w": _io.BytesIO}, protocol=2)), "BytesIO")
    error = _refused(_torch_zip(tmp_path / "m.pt", pickle.dumps(nn.Linear(2, 2))), "whole module")
    assert "state_dict()" in error.reason


def test_build_cannot_change_the_reader(tmp_path):
    # GLOBAL _rebuild_tensor_v2, then BUILD with {"__defaults__": ...}: executed, it would change the reader
    # of every later load.
    defaults = torch_io._rebuild_tensor.__defaults__
    data = _protocol2(b"ctorch._utils\n_rebuild_tensor_v2\n", b"N}", _text("__defaults__"), b"(", _int(1),
                      b"ts\x86b")   # BUILD (None, {"__defaults__": (1,)})
    _refused(_torch_zip(tmp_path / "b.pt", data), "BUILD|state")
    assert torch_io._rebuild_tensor.__defaults__ == defaults
    # BUILD of attributes other than _metadata on the state_dict itself.
    data = _protocol2(b"ccollections\nOrderedDict\n)R}", _text("extra"), _int(1), b"sb")
    _refused(_torch_zip(tmp_path / "o.pt", data), "_metadata")


def test_the_pickle_helper_writes_what_torch_reads(tmp_path):
    # The hostile files below differ from this valid one in a single number.
    values = np.arange(6, dtype="<f4")
    path = _torch_zip(tmp_path / "ok.pt", _pickle_of({"w": (6, 1, (2, 2), (1, 2))}), {"0": values.tobytes()})
    expected = torch.load(path, weights_only=True)["w"].numpy()
    np.testing.assert_array_equal(torch_io.read_state_dict(path)["w"], expected)
    np.testing.assert_array_equal(expected, [[1, 3], [2, 4]])


def test_storage_and_views_out_of_bounds_are_refused(tmp_path):
    data = np.zeros(6, "<f4").tobytes()
    _refused(_torch_zip(tmp_path / "huge.pt", _pickle_of({"w": (2 ** 40, 0, (2,), (1,))}), {"0": data}),
             "more than the file's")
    _refused(_torch_zip(tmp_path / "size.pt", _pickle_of({"w": (5, 0, (2,), (1,))}), {"0": data}),
             "declares 24 bytes")
    _refused(_torch_zip(tmp_path / "offset.pt", _pickle_of({"w": (6, 5, (2,), (1,))}), {"0": data}),
             "reads past")
    _refused(_torch_zip(tmp_path / "stride.pt", _pickle_of({"w": (6, 0, (2, 2), (5, 1))}), {"0": data}),
             "reads past")
    _refused(_torch_zip(tmp_path / "broadcast.pt", _pickle_of({"w": (6, 0, (10 ** 6, 10 ** 6), (0, 0))}),
                        {"0": data}), "reads past")
    _refused(_torch_zip(tmp_path / "missing.pt", _pickle_of({"w": (6, 0, (2,), (1,))})), "no member")
    _refused(_torch_zip(tmp_path / "negative.pt", _pickle_of({"w": (6, 0, (2,), (1,))}).replace(
        _int(2), _int(-2), 1), {"0": data}), "non-negative")


def test_damaged_and_foreign_files_are_refused(trained, tmp_path):
    _, pt, safetensors = trained["lenet"]
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(pt.read_bytes()[: pt.stat().st_size // 2])
    _refused(truncated, "zip")
    noise = tmp_path / "noise.pt"
    noise.write_bytes(np.random.default_rng(11).bytes(4096))
    _refused(noise, "neither")
    legacy = tmp_path / "legacy.pt"
    legacy.write_bytes(pickle.dumps({"w": 1}, protocol=2))
    _refused(legacy, "1.6")
    # LONG_BINPUT 2**31 - 1: the unpickler would grow its memo to gigabytes.
    _refused(_torch_zip(tmp_path / "memo.pt", _protocol2(b"N", b"r\xff\xff\xff\x7f")), "memo index")
    checkpoint = tmp_path / "checkpoint.pt"
    torch.save({"model": {"w": torch.zeros(2)}, "epoch": 3}, checkpoint)
    _refused(checkpoint, "checkpoint")
    for path in (truncated, noise, legacy):
        with pytest.raises(ModelFileError):
            torch_io.load_torch_state_dict(_lenet(), path)
    with pytest.raises(FileNotFoundError):
        torch_io.read_state_dict(tmp_path / "absent.pt")


def test_hostile_safetensors_are_refused(tmp_path):
    arrays = {"a": np.zeros((2, 3), "float32"), "b": np.ones(4, "float32")}
    read = torch_io.read_safetensors
    _refused(write_safetensors(tmp_path / "long.safetensors", arrays, header_length=2 ** 60), "header", read)
    _refused(write_safetensors(tmp_path / "overlap.safetensors", arrays, entries={
        "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}}), "overlap", read)
    _refused(write_safetensors(tmp_path / "shape.safetensors", arrays, entries={
        "b": {"dtype": "F32", "shape": [5], "data_offsets": [24, 40]}}), "span", read)
    _refused(write_safetensors(tmp_path / "outside.safetensors", arrays, entries={
        "b": {"dtype": "F32", "shape": [4], "data_offsets": [2 ** 62, 2 ** 62 + 16]}}), "inside", read)
    _refused(write_safetensors(tmp_path / "huge.safetensors", arrays, entries={
        "b": {"dtype": "F32", "shape": [2 ** 40, 2 ** 40], "data_offsets": [24, 40]}}), "span", read)
    _refused(write_safetensors(tmp_path / "dtype.safetensors", arrays, entries={
        "b": {"dtype": "object", "shape": [4], "data_offsets": [24, 40]}}), "dtype", read)
    deep = tmp_path / "deep.safetensors"
    text = b"[" * 100_000 + b"]" * 100_000
    deep.write_bytes(struct.pack("<Q", len(text)) + text)
    _refused(deep, "nest|JSON", read)
