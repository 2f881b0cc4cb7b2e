"""import_onnx on hostile ONNX files that once broke the loader contract: each must give a working model or a
ModelFileError, within a second, without allocating far beyond what the file's size justifies.

The files that made the reader allocate gigabytes are loaded in one child process whose address space is
capped (RLIMIT_AS), so a regression fails the test instead of exhausting the machine that runs it."""

import math
import time
from fractions import Fraction

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper

from clearconv.io import ModelFileError
from clearconv.io import onnx as onnx_io
from clearconv.io.onnx import import_onnx
from hostile_loads import load_in_child

CHILD_MEMORY = 3 * 2**30     # address space of the child process that loads the hostile files
GROWTH_LIMIT_MIB = 64        # peak of the memory the child allocates while one hostile file is read


def model_bytes(nodes, initializers=(), input_dims=("N", 4), output="y"):
    """A ModelProto (opset 18) with float input x of ``input_dims`` and output ``output``, as bytes."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, list(input_dims))
    y = helper.make_tensor_value_info(output, TensorProto.FLOAT, None)
    graph = helper.make_graph(nodes, "g", [x], [y], list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]).SerializeToString()


def ints(name, values):
    return helper.make_tensor(name, TensorProto.INT64, [len(values)], list(values))


def constant_of_shape(shape_name, output, dtype=TensorProto.FLOAT, fill=1):
    return helper.make_node("ConstantOfShape", [shape_name], [output],
                            value=helper.make_tensor("v", dtype, [1], [fill]))


def relu():
    return helper.make_node("Relu", ["x"], ["y"])


def concat_bomb(copies, length=2**24):
    """The smallest such file (with the default ``length``): one ConstantOfShape of ``length`` floats read
    ``copies`` times by one Concat (185 bytes for 8 copies: 512 MiB of float32 once concatenated)."""
    return model_bytes([constant_of_shape("s", "c"), helper.make_node("Concat", ["c"] * copies, ["big"], axis=0),
                        relu()], [ints("s", [length])])


def gather_bomb():
    """A 16 KiB row gathered 8192 times by indices that are zeros of ConstantOfShape: 32 Mi floats."""
    row = numpy_helper.from_array(np.ones((1, 4096), np.float32), "row")
    return model_bytes([constant_of_shape("n", "i", TensorProto.INT64, fill=0),
                        helper.make_node("Gather", ["row", "i"], ["big"], axis=0), relu()],
                       [row, ints("n", [8192])])


def many_constants(count, length=2**18):
    """``count`` ConstantOfShape nodes of ``length`` floats each: every one within what the file may fold,
    their sum ``count`` times more."""
    return model_bytes([constant_of_shape("s", f"c{i}") for i in range(count)] + [relu()], [ints("s", [length])])


def resize_by(scale, sizes=False):
    """Nearest Resize of an (N, 1, 64, 64) input by ``scale`` on both spatial axes (or to that many times the
    size through ``sizes``)."""
    if sizes:
        target = ints("target", [1, 1, int(64 * scale), int(64 * scale)])
        node = helper.make_node("Resize", ["x", "", "", "target"], ["y"], mode="nearest")
    else:
        target = helper.make_tensor("target", TensorProto.FLOAT, [4], [1, 1, scale, scale])
        node = helper.make_node("Resize", ["x", "", "target"], ["y"], mode="nearest")
    return model_bytes([node], [target], input_dims=("N", 1, 64, 64))


HOSTILE = {
    "concat_8": lambda: concat_bomb(8),
    "concat_2000": lambda: concat_bomb(2000),
    "concat_2000_small": lambda: concat_bomb(2000, 2**12),
    "gather": gather_bomb,
    "many_constants": lambda: many_constants(40),
    "constant_of_shape_16_mib": lambda: model_bytes([constant_of_shape("s", "c"), relu()], [ints("s", [2**22])]),
    "resize_1e5": lambda: resize_by(1e5),
    "resize_1e7": lambda: resize_by(1e7),
    "resize_1e12": lambda: resize_by(1e12),
    "resize_sizes_1e7": lambda: resize_by(1e7, sizes=True),
}



@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """{name: outcome} of import_onnx on each file of HOSTILE, read in one memory-capped child process."""
    folder = tmp_path_factory.mktemp("hostile_onnx")
    valid = folder / "valid.onnx"
    valid.write_bytes(model_bytes([relu()]))
    paths = {}
    for name, build in HOSTILE.items():
        paths[name] = str(folder / f"{name}.onnx")
        with open(paths[name], "wb") as file:
            file.write(build())
    return load_in_child("clearconv.io.onnx.import_onnx", paths, CHILD_MEMORY, memory="traced",
                         warm_up=[str(valid)], timeout=120)


def assert_refused(outcome, member, *words):
    assert outcome["error"] == "ModelFileError", outcome
    assert outcome["member"] == member, outcome
    assert all(word in outcome["reason"] for word in words), outcome
    assert outcome["seconds"] < 1.0, outcome
    assert outcome["grown_mib"] < GROWTH_LIMIT_MIB, outcome


# --------------------------------------------------------------------------------------------------
# Constant folding: each result's size is checked before it is built, and their sum against the file
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["concat_8", "concat_2000"])
def test_concat_bombs_are_refused_before_they_are_built(hostile, name):
    """The 2**24 floats of the ConstantOfShape alone are more than a file of 185 bytes may fold."""
    assert_refused(hostile[name], "graph.node[0]", "ConstantOfShape", "elements")


def test_a_concat_of_small_constants_is_refused_before_it_is_built(hostile):
    """2000 copies of 4096 floats: each part folds, the 8 Mi floats of the Concat are refused unbuilt."""
    assert_refused(hostile["concat_2000_small"], "graph.node[1]", "Concat", "8,192,000 elements")


def test_a_gather_repeating_a_row_is_refused_before_it_is_built(hostile):
    assert_refused(hostile["gather"], "graph.node[1]", "Gather", "elements")


def test_constants_adding_up_beyond_the_file_are_refused(hostile):
    """Four ConstantOfShape nodes of 2**18 floats fill the 2**20 elements a small file may fold: the fifth is
    refused."""
    assert_refused(hostile["many_constants"], "graph.node[4]", "ConstantOfShape", "262,144 elements")


def test_a_constant_of_shape_is_bounded_by_the_file_size(hostile):
    """16 MiB of floats out of a file of about 100 bytes."""
    assert_refused(hostile["constant_of_shape_16_mib"], "graph.node[0]", "ConstantOfShape", "elements")


def test_a_small_constant_of_shape_still_folds(tmp_path):
    """ConstantOfShape -> Add to a weight -> MatMul: the folded weight is 2 + 1 everywhere (hand-computed)."""
    weight = numpy_helper.from_array(np.full((4, 3), 2.0, np.float32), "w")
    path = tmp_path / "small.onnx"
    path.write_bytes(model_bytes([constant_of_shape("s", "ones"), helper.make_node("Add", ["w", "ones"], ["w3"]),
                                  helper.make_node("MatMul", ["x", "w3"], ["y"])], [weight, ints("s", [4, 3])]))
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    np.testing.assert_allclose(import_onnx(path).predict(x, verbose=0), x.sum(axis=1, keepdims=True) * 3 * [[1, 1, 1]])


@pytest.mark.parametrize("failure", [MemoryError, RecursionError])
def test_memory_and_recursion_errors_while_building_become_model_file_errors(tmp_path, monkeypatch, failure):
    """Whatever a node exhausts while it is read, the caller gets a ModelFileError naming the node."""
    path = tmp_path / "relu.onnx"
    path.write_bytes(model_bytes([relu()]))

    def exhausted(*args, **kwargs):
        raise failure("exhausted")

    monkeypatch.setattr(onnx_io, "_import_node", exhausted)
    with pytest.raises(ModelFileError) as error:
        import_onnx(path)
    assert error.value.member == "graph.node[0]" and failure.__name__ in error.value.reason


# --------------------------------------------------------------------------------------------------
# Resize by a huge factor, and tensors too large to compute
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["resize_1e5", "resize_1e7", "resize_1e12", "resize_sizes_1e7"])
def test_a_resize_by_a_huge_factor_is_refused_before_it_is_checked(hostile, name):
    assert_refused(hostile[name], "graph.node[0]", "Resize", "elements per sample")


def _reference_is_repeat(mode, rounding, scale, length):
    """ONNX's nearest Resize, cell by cell in exact arithmetic: does output cell i read input cell i // scale?"""
    for i in range(length * scale):
        source = {"asymmetric": Fraction(i, scale), "half_pixel": Fraction(2 * i + 1, 2 * scale) - Fraction(1, 2),
                  "pytorch_half_pixel": Fraction(2 * i + 1, 2 * scale) - Fraction(1, 2),
                  "tf_half_pixel_for_nn": Fraction(2 * i + 1, 2 * scale)}[mode]
        index = {"floor": math.floor(source), "ceil": math.ceil(source),
                 "round_prefer_ceil": math.floor(source + Fraction(1, 2)),
                 "round_prefer_floor": math.ceil(source - Fraction(1, 2))}[rounding]
        if min(max(index, 0), length - 1) != i // scale:
            return False
    return True


@pytest.mark.parametrize("mode", ["asymmetric", "half_pixel", "pytorch_half_pixel", "tf_half_pixel_for_nn"])
@pytest.mark.parametrize("rounding", ["floor", "ceil", "round_prefer_ceil", "round_prefer_floor"])
def test_the_repeat_check_agrees_with_every_cell(mode, rounding):
    """The check of one period against the cell-by-cell reference, for scales 1 to 9 and lengths 1 to 5."""
    attributes = {"coordinate_transformation_mode": mode, "nearest_mode": rounding}
    for scale in range(1, 10):
        for length in range(1, 6):
            assert onnx_io._nearest_is_repeat(attributes, scale, length) == \
                _reference_is_repeat(mode, rounding, scale, length), (mode, rounding, scale, length)


def test_the_repeat_check_of_a_huge_scale_is_immediate():
    start = time.perf_counter()
    assert onnx_io._nearest_is_repeat({"coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"},
                                      2**40, 2**20)
    assert not onnx_io._nearest_is_repeat({"coordinate_transformation_mode": "align_corners"}, 2**40, 3)
    assert time.perf_counter() - start < 0.1


def test_a_nearest_resize_by_two_still_loads(tmp_path):
    path = tmp_path / "resize.onnx"
    scales = helper.make_tensor("sc", TensorProto.FLOAT, [4], [1, 1, 2, 2])
    path.write_bytes(model_bytes([helper.make_node("Resize", ["x", "", "sc"], ["y"], mode="nearest",
                                                   coordinate_transformation_mode="asymmetric",
                                                   nearest_mode="floor")], [scales], input_dims=("N", 1, 3, 3)))
    x = np.arange(18, dtype=np.float32).reshape(2, 1, 3, 3)
    np.testing.assert_array_equal(import_onnx(path).predict(x, verbose=0), x.repeat(2, axis=2).repeat(2, axis=3))


def test_a_model_whose_tensors_are_too_large_to_compute_is_refused(tmp_path):
    """A ConvTranspose whose stride makes its output 3 * 2**31 cells long: built, then refused by the same
    check the other loaders run on the built model."""
    weight = numpy_helper.from_array(np.ones((1, 1, 1), np.float32), "w")
    path = tmp_path / "stride.onnx"
    path.write_bytes(model_bytes([helper.make_node("ConvTranspose", ["x", "w"], ["y"], strides=[2**31])], [weight],
                                 input_dims=("N", 1, 4)))
    start = time.perf_counter()
    with pytest.raises(ModelFileError) as error:
        import_onnx(path)
    assert time.perf_counter() - start < 1.0
    assert error.value.member == "graph" and "elements per sample" in error.value.reason


# --------------------------------------------------------------------------------------------------
# Long graphs and odd external-data locations
# --------------------------------------------------------------------------------------------------

def test_a_chain_of_3000_relu_nodes_loads_and_computes_relu(tmp_path):
    count = 3000
    nodes = [helper.make_node("Relu", ["x" if i == 0 else f"t{i - 1}"], [f"t{i}"]) for i in range(count)]
    path = tmp_path / "chain.onnx"
    path.write_bytes(model_bytes(nodes, output=f"t{count - 1}"))
    model = import_onnx(path)
    assert len(model.layers) == count + 1    # the input and one ReLU per node
    x = np.linspace(-2, 2, 12, dtype=np.float32).reshape(3, 4)
    np.testing.assert_array_equal(model.predict(x, verbose=0), np.maximum(x, 0))


def test_an_external_data_location_with_a_nul_byte_is_refused(tmp_path):
    weight = numpy_helper.from_array(np.ones((4, 4), np.float32), "w")
    weight.ClearField("raw_data")
    weight.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "weights\0.bin"), ("offset", "0"), ("length", "64")):
        entry = weight.external_data.add()
        entry.key, entry.value = key, value
    path = tmp_path / "nul.onnx"
    path.write_bytes(model_bytes([helper.make_node("MatMul", ["x", "w"], ["y"])], [weight]))
    with pytest.raises(ModelFileError) as error:
        import_onnx(path)
    assert error.value.member == "graph.initializer[w]" and "NUL" in error.value.reason


@pytest.mark.parametrize("op, inputs", [("Add", ["w", ""]), ("Cast", ["", "w"]), ("Slice", ["w", "w"])])
def test_a_constant_op_missing_an_input_is_refused(tmp_path, op, inputs):
    """An empty input name where the op needs a value: named, not an AttributeError on a missing array."""
    weight = numpy_helper.from_array(np.ones(3, np.float32), "w")
    path = tmp_path / "missing.onnx"
    path.write_bytes(model_bytes([helper.make_node(op, inputs, ["c"], **({"to": 1} if op == "Cast" else {})),
                                  relu()], [weight]))
    with pytest.raises(ModelFileError) as error:
        import_onnx(path)
    assert error.value.member == "graph.node[0]" and "is missing" in error.value.reason


def test_a_weight_larger_than_the_folding_cap_passes_through_view_ops(tmp_path, monkeypatch):
    """Exporters pass weights through Identity, Transpose or Reshape: a view is no larger than the weight the
    file holds, so the cap on computed constants does not apply (here made 10 elements, the weight 12)."""
    monkeypatch.setattr(onnx_io, "_MAX_FOLDED", 10)
    weight = numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(3, 4), "w")
    path = tmp_path / "view.onnx"
    path.write_bytes(model_bytes([helper.make_node("Identity", ["w"], ["w1"]),
                                  helper.make_node("Transpose", ["w1"], ["w2"], perm=[1, 0]),
                                  helper.make_node("MatMul", ["x", "w2"], ["y"])], [weight]))
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    np.testing.assert_allclose(import_onnx(path).predict(x, verbose=0), x @ np.arange(12).reshape(3, 4).T)


def test_copies_made_by_view_ops_are_charged_to_the_file(tmp_path, monkeypatch):
    """Transpose then Reshape copies the weight; a chain of such copies stops when the file's allowance is
    spent (an allowance of 60 elements holds the four 12-element copies, one of 30 two of them)."""
    monkeypatch.setattr(onnx_io, "_FOLD_PER_BYTE", 0)
    weight = numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(3, 4), "w0")
    nodes = []
    for i in range(4):   # flattening a transposed view copies its 12 elements; the reshape back is a view
        nodes += [helper.make_node("Transpose", [f"w{i}"], [f"t{i}"], perm=[1, 0]),
                  helper.make_node("Reshape", [f"t{i}", "flat"], [f"f{i}"]),
                  helper.make_node("Reshape", [f"f{i}", "shape"], [f"w{i + 1}"])]
    nodes += [helper.make_node("Transpose", ["w4"], ["t4"], perm=[1, 0]),
              helper.make_node("MatMul", ["x", "t4"], ["y"])]
    path = tmp_path / "copies.onnx"
    path.write_bytes(model_bytes(nodes, [weight, ints("flat", [12]), ints("shape", [3, 4])]))
    monkeypatch.setattr(onnx_io, "_FOLD_FLOOR", 60)    # room for four copies: the model loads
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    expected = np.arange(12, dtype=np.float32).reshape(3, 4)
    for _ in range(4):
        expected = expected.T.reshape(12).reshape(3, 4)
    np.testing.assert_allclose(import_onnx(path).predict(x, verbose=0), x @ expected.T)
    monkeypatch.setattr(onnx_io, "_FOLD_FLOOR", 30)    # room for two
    with pytest.raises(ModelFileError, match="a constant of 12 elements"):
        import_onnx(path)
