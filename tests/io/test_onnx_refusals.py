"""import_onnx on files it must refuse: every one gives a ModelFileError naming the file and the part of it
(the node, the initializer, the opset), within a second, and never the array a file merely declares."""

import os
import time
import tracemalloc

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper

from clearconv import zoo
from clearconv.io import ModelFileError
from clearconv.io import onnx as onnx_io
from clearconv.io.onnx import export_onnx, import_onnx


def graph_bytes(nodes, initializers=(), opset=18, output="y"):
    """A ModelProto with input x (N, 2, 4, 4), output ``output``; written as bytes, no checks."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 4, 4])
    y = helper.make_tensor_value_info(output, TensorProto.FLOAT, None)
    graph = helper.make_graph(nodes, "g", [x], [y], list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]).SerializeToString()


def refused(path, member=None, match=None):
    """The ModelFileError of import_onnx(path), checked to come within a second."""
    start = time.perf_counter()
    with pytest.raises(ModelFileError) as error:
        import_onnx(path)
    assert time.perf_counter() - start < 1.0
    assert error.value.path == os.fspath(path)
    if member is not None:
        assert error.value.member == member
    if match is not None:
        assert match in error.value.reason, error.value.reason
    return error.value


def write(tmp_path, data, name="model.onnx"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def conv_weight(dims=(3, 2, 3, 3), raw=None):
    tensor = numpy_helper.from_array(np.ones((3, 2, 3, 3), np.float32), "w")
    del tensor.dims[:]
    tensor.dims.extend(dims)
    if raw is not None:
        tensor.raw_data = raw
    return tensor


def test_a_valid_hand_built_graph_loads(tmp_path):
    """The graph the refusals below damage, undamaged: Conv then Relu."""
    data = graph_bytes([helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
                        helper.make_node("Relu", ["c"], ["y"])], [conv_weight()])
    model = import_onnx(write(tmp_path, data))
    x = np.ones((1, 2, 4, 4), np.float32)
    # all-ones 3x3 kernel over 2 channels of ones, zero padding 1: 18 inside, 12 on an edge, 8 in a corner
    expected = np.array([[8, 12, 12, 8], [12, 18, 18, 12], [12, 18, 18, 12], [8, 12, 12, 8]], np.float32)
    np.testing.assert_array_equal(model.predict(x, verbose=0)[0], np.stack([expected] * 3))


def test_unknown_ops_are_all_named_with_their_counts(tmp_path):
    data = graph_bytes([helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Frobnicate", ["a"], ["b"]),
                        helper.make_node("Frobnicate", ["b"], ["c"]), helper.make_node("LSTM", ["c"], ["y"])])
    error = refused(write(tmp_path, data), member="graph.node[1]")
    assert "Frobnicate (x2)" in error.reason and "LSTM (x1)" in error.reason and "Conv" in error.reason


def test_op_of_another_domain_is_named(tmp_path):
    data = graph_bytes([helper.make_node("FusedConv", ["x"], ["y"], domain="com.microsoft")])
    refused(write(tmp_path, data), match="com.microsoft.FusedConv (x1)")


def test_cyclic_graph(tmp_path):
    data = graph_bytes([helper.make_node("Add", ["x", "b"], ["a"], name="first"),
                        helper.make_node("Relu", ["a"], ["b"], name="second"),
                        helper.make_node("Relu", ["b"], ["y"], name="third")])
    refused(write(tmp_path, data), member="graph.node[0]", match="cycle")


def test_dangling_input(tmp_path):
    data = graph_bytes([helper.make_node("Relu", ["x"], ["a"]),
                        helper.make_node("Add", ["a", "nowhere"], ["y"], name="adder")])
    error = refused(write(tmp_path, data), member="graph.node[1]", match="dangling")
    assert "'nowhere'" in error.reason and "'adder'" in error.reason


def test_future_opset(tmp_path):
    data = graph_bytes([helper.make_node("Relu", ["x"], ["y"])], opset=onnx_io.IMPORT_OPSETS.stop)
    refused(write(tmp_path, data), member="opset_import", match=f"opset {onnx_io.IMPORT_OPSETS.stop}")


def external_conv_graph(location: str, **fields) -> bytes:
    """A Conv graph whose weight w lies in the external data file ``location`` (plus ``fields`` such as
    offset and length)."""
    tensor = conv_weight()
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), *fields.items()):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    return graph_bytes([helper.make_node("Conv", ["x", "w"], ["y"])], [tensor])


@pytest.mark.parametrize("location", ["../weights.bin", "/etc/hostname", "sub/../../weights.bin"])
def test_external_data_leaving_the_folder(tmp_path, location):
    (tmp_path / "weights.bin").write_bytes(np.ones(54, np.float32).tobytes())
    folder = tmp_path / "model"
    folder.mkdir()
    data = external_conv_graph(location, offset="0", length=str(54 * 4))
    refused(write(folder, data), member="graph.initializer[w]", match="folder")


def test_external_data_through_a_symbolic_link_out_of_the_folder(tmp_path):
    (tmp_path / "weights.bin").write_bytes(np.ones(54, np.float32).tobytes())
    folder = tmp_path / "model"
    folder.mkdir()
    os.symlink(tmp_path / "weights.bin", folder / "weights.bin")
    refused(write(folder, external_conv_graph("weights.bin")), member="graph.initializer[w]",
            match="symbolic link")


def test_external_data_shorter_than_declared(tmp_path):
    (tmp_path / "weights.bin").write_bytes(np.ones(50, np.float32).tobytes())
    refused(write(tmp_path, external_conv_graph("weights.bin")), member="graph.initializer[w]",
            match="200 bytes")


def test_dims_disagreeing_with_raw_data(tmp_path):
    data = graph_bytes([helper.make_node("Conv", ["x", "w"], ["y"])], [conv_weight(dims=(3, 2, 3, 4))])
    error = refused(write(tmp_path, data), member="graph.initializer[w]")
    assert "[3, 2, 3, 4]" in error.reason and "216 bytes" in error.reason


def test_absurd_dims_refused_before_allocating(tmp_path):
    data = graph_bytes([helper.make_node("Conv", ["x", "w"], ["y"])],
                       [conv_weight(dims=(2**20, 2**20, 2**10, 1))])
    tracemalloc.start()
    try:
        refused(write(tmp_path, data), member="graph.initializer[w]", match="refused before reading")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20


def test_weight_computed_at_run_time_is_named(tmp_path):
    data = graph_bytes([helper.make_node("Relu", ["x"], ["r"]),
                        helper.make_node("Conv", ["x", "r"], ["y"], name="odd_conv")])
    refused(write(tmp_path, data), member="graph.node[1]", match="odd_conv")


def test_max_pool_with_pads_keras_lacks_on_a_signed_input(tmp_path):
    data = graph_bytes([helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2],
                                         pads=[1, 1, 1, 1], name="pool")])
    refused(write(tmp_path, data), member="graph.node[0]", match="MaxPool pads")


def test_truncated_files(tmp_path):
    data = open(export_onnx(zoo.lenet5(), tmp_path / "whole.onnx"), "rb").read()
    for cut in (1, 10, len(data) // 3, len(data) // 2, len(data) - 7):
        refused(write(tmp_path, data[:cut], f"cut{cut}.onnx"))


@pytest.mark.parametrize("seed", range(8))
def test_random_bytes(tmp_path, seed):
    data = np.random.default_rng(seed).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    refused(write(tmp_path, data))


def test_empty_file_and_oversized_file(tmp_path, monkeypatch):
    refused(write(tmp_path, b""), member="", match="empty")
    path = export_onnx(zoo.lenet5(), tmp_path / "lenet.onnx")
    monkeypatch.setattr(onnx_io, "MAX_MODEL_BYTES", 1000)
    refused(path, member="", match="refused before reading")


def test_not_a_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        import_onnx(tmp_path / "missing.onnx")
    with pytest.raises(IsADirectoryError):
        import_onnx(tmp_path)
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "pipe.onnx")
        refused(tmp_path / "pipe.onnx", match="FIFO")
