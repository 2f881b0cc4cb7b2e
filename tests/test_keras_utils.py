"""Keras's utilities in clearconv.utils, compared with real Keras 3 (jax backend) and hand computations."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import random
import shutil
import sys
import tarfile
import zipfile

import numpy as np
import pytest

from clearconv import config, utils
from clearconv.autograd import Tensor
from clearconv.layers import Add, Dense, Input
from clearconv.models import Model, Sequential
from gradcheck import assert_vjp_matches
from keras_oracle import import_keras

keras = import_keras()

has_pydot = importlib.util.find_spec("pydot") is not None
has_dot = shutil.which("dot") is not None


# ---- to_categorical --------------------------------------------------------------------------------

@pytest.mark.parametrize("x, num_classes", [
    ([0, 1, 2, 3], None),
    ([0, 1, 2, 3], 6),
    (np.array([[1], [2], [0]]), 4),                 # (N, 1) -> (N, C)
    (np.array([[1, 2], [0, 3]]), None),            # (2, 2) -> (2, 2, C)
    (np.array([[[1], [2]]]), 3),                    # (1, 2, 1) -> (1, 2, C)
    (np.array(3), 5),                               # scalar -> (C,)
    (np.array([2.0, 0.0]), None),                   # integral floats
    (np.array([1, 2], dtype=np.uint8), 0),          # 0 means "infer", as in Keras
    (np.array([], dtype=np.int64), 3),
])
def test_to_categorical_as_keras(x, num_classes):
    expected = keras.utils.to_categorical(x, num_classes)
    got = utils.to_categorical(x, num_classes)
    assert type(got) is np.ndarray and got.dtype == expected.dtype == np.float64
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


def test_to_categorical_tensor_gives_floatx_tensor_as_keras_tensor_path():
    import jax.numpy as jnp
    labels = np.array([[1], [2], [0]])
    expected = keras.utils.to_categorical(jnp.asarray(labels), 3)
    got = utils.to_categorical(Tensor(labels), 3)
    assert isinstance(got, Tensor) and got.dtype == np.dtype(expected.dtype) == np.float32
    np.testing.assert_array_equal(got.data, np.asarray(expected))


@pytest.mark.parametrize("x, num_classes, message", [
    ([0, 4], 4, r"class index 4 is outside \[0, 4\)"),
    ([-1, 2], 4, r"class index -1 is outside \[0, 4\)"),
    ([0.5, 1.0], None, "non-integer values"),
    ([np.nan], 3, "non-integer values"),
    (["a", "b"], None, "must hold integer class indices"),
    ([], None, "cannot infer `num_classes` from an empty `x`"),
    ([1, 2], -2, "`num_classes` must be None or a positive integer"),
    ([1, 2], 2.5, "`num_classes` must be None or a positive integer"),
])
def test_to_categorical_errors(x, num_classes, message):
    with pytest.raises(ValueError, match=message):
        utils.to_categorical(x, num_classes)


# ---- normalize ---------------------------------------------------------------------------------------

MATRIX = np.array([[3.0, 4.0, 0.0], [0.0, 0.0, 0.0], [1.0, -2.0, 2.0], [0.5, 0.25, -4.0]])


@pytest.mark.parametrize("x, axis, order", [
    (MATRIX, -1, 2), (MATRIX, 1, 2), (MATRIX, -1, 1), (MATRIX, -1, 3), (MATRIX.astype(np.float32), -1, 2),
    (np.arange(12, dtype=np.int64).reshape(3, 4), -1, 2), (MATRIX.reshape(2, 2, 3), -1, 2),
    (MATRIX.reshape(2, 2, 3), 1, 2),
])
def test_normalize_as_keras(x, axis, order):
    expected = keras.utils.normalize(x, axis=axis, order=order)
    got = utils.normalize(x, axis=axis, order=order)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-15 if got.dtype == np.float64 else 1e-6)


@pytest.mark.parametrize("x, axis", [(MATRIX, 0), (np.array([3.0, 4.0]), -1), (np.array([3.0, 4.0]), 0),
                                     (np.array([3.0, 4.0]), None), (MATRIX[:, :1], 0)])
def test_normalize_cases_keras_3_15_gets_wrong(x, axis):
    # Keras's NumPy path mishandles axis=0 and 1-D inputs in 3.15 (fixed upstream); the hand computation:
    norm = np.sqrt(np.sum(x * x, axis=axis, keepdims=True))
    expected = x / np.where(norm == 0, 1, norm)
    got = utils.normalize(x, axis=axis)
    assert got.shape == x.shape
    np.testing.assert_allclose(got, expected, rtol=1e-15)


def test_normalize_axis_none_on_a_matrix_is_the_matrix_norm_as_keras():
    expected = keras.utils.normalize(MATRIX, axis=None)
    np.testing.assert_allclose(utils.normalize(MATRIX, axis=None), expected, rtol=1e-14)


@pytest.mark.parametrize("axis, order", [(-1, 2), (0, 2), (1, 1), (-1, 3), (None, 2)])
def test_normalize_tensor_as_keras_ops_normalize(axis, order):
    x = MATRIX.astype(np.float32)
    expected = np.asarray(keras.ops.normalize(x, axis=axis, order=order))
    got = utils.normalize(Tensor(x), axis=axis, order=order)
    assert isinstance(got, Tensor) and got.dtype == np.float32
    np.testing.assert_allclose(got.data, expected, rtol=2e-6, atol=1e-7)


@pytest.mark.parametrize("axis, order", [(-1, 2), (0, 1), (-1, 3), (None, 2)])
def test_normalize_tensor_gradient(axis, order):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 4)) + 1.0
    if axis is not None:
        x[1] = 0.01 * x[1]                       # a norm below epsilon: the x / epsilon branch
    config.set_epsilon(0.25)                     # far from every norm, so finite differences stay in one branch

    def forward(a):
        return utils.normalize(Tensor(a), axis=axis, order=order).data

    def backward(g, a):
        t = Tensor(a, requires_grad=True)
        (utils.normalize(t, axis=axis, order=order) * g).sum().backward()
        return (t.grad,)
    try:
        assert_vjp_matches(forward, backward, [x], rtol=1e-5)
    finally:
        config.set_epsilon(1e-7)


def test_normalize_errors():
    with pytest.raises(ValueError, match="`order` must be a number > 0"):
        utils.normalize(MATRIX, order=0)
    with pytest.raises(ValueError, match="`order` must be an int >= 1 for a Tensor"):
        utils.normalize(Tensor(MATRIX), order=1.5)
    with pytest.raises(ValueError, match=r"`axis` must be in \[-2, 2\)"):
        utils.normalize(MATRIX, axis=2)
    with pytest.raises(ValueError, match="`axis` must be an integer or None"):
        utils.normalize(MATRIX, axis=(0, 1))
    with pytest.raises(ValueError, match="With axis=None, x must be 1-D or 2-D"):
        utils.normalize(np.ones((2, 2, 2)), axis=None)


# ---- set_random_seed ---------------------------------------------------------------------------------

def test_set_random_seed_seeds_python_numpy_and_clearconv():
    utils.set_random_seed(1234)
    got = (random.random(), np.random.rand(), utils.global_rng().random())
    expected = (random.Random(1234).random(), np.random.RandomState(1234).rand(),
                np.random.default_rng(1234).random())
    assert got == expected


@pytest.mark.parametrize("seed, message", [(1.0, "expected `seed` argument to be an integer"),
                                           ("3", "expected `seed` argument to be an integer"),
                                           (-1, r"`seed` must be in \[0, 2\*\*32\)"),
                                           (2**32, r"`seed` must be in \[0, 2\*\*32\)")])
def test_set_random_seed_errors(seed, message):
    with pytest.raises(ValueError, match=message):
        utils.set_random_seed(seed)


# ---- pack / unpack -------------------------------------------------------------------------------------

X, Y, W = np.ones((2, 3)), np.zeros(2), np.full(2, 0.5)


@pytest.mark.parametrize("args", [(X,), (X, Y), (X, Y, W), (X, None, W), ([X, X],), ((X,), Y)])
def test_pack_as_keras(args):
    expected = keras.utils.pack_x_y_sample_weight(*args)
    got = utils.pack_x_y_sample_weight(*args)
    assert type(got) is type(expected)
    if isinstance(expected, tuple):
        assert len(got) == len(expected) and all(a is b for a, b in zip(got, expected))
    else:
        assert got is expected


@pytest.mark.parametrize("data", [X, (X,), (X, Y), (X, Y, W), [X, Y]])
def test_unpack_as_keras(data):
    expected = keras.utils.unpack_x_y_sample_weight(data)
    got = utils.unpack_x_y_sample_weight(data)
    assert len(got) == 3 and all(a is b for a, b in zip(got, expected))


def test_unpack_error():
    with pytest.raises(ValueError, match="Data is expected to be in format"):
        utils.unpack_x_y_sample_weight((X, Y, W, W))


# ---- get_file ----------------------------------------------------------------------------------------

URL = "https://example.com/files/data.bin"


def test_get_file_missing_says_where_to_put_it(tmp_path):
    with pytest.raises(FileNotFoundError) as error:
        utils.get_file("data.bin", origin=URL, cache_dir=tmp_path)
    message = str(error.value)
    assert str(tmp_path / "datasets" / "data.bin") in message and "never downloads" in message and URL in message
    with pytest.raises(FileNotFoundError, match="force_download=True"):
        utils.get_file(origin=URL, cache_dir=tmp_path, force_download=True)


def test_get_file_finds_the_cached_file_where_keras_does(tmp_path):
    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets" / "data.bin").write_bytes(b"payload")
    # with the file in its cache, Keras returns the path without a download
    expected = keras.utils.get_file("data.bin", origin=URL, cache_dir=str(tmp_path))
    assert utils.get_file("data.bin", origin=URL, cache_dir=tmp_path) == expected
    assert utils.get_file(origin=URL, cache_dir=tmp_path) == expected                  # name from the URL
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "data.bin").write_bytes(b"payload")
    assert utils.get_file("data.bin", URL, cache_subdir=str(tmp_path / "sub")) == str(tmp_path / "sub" / "data.bin")


def test_get_file_checks_the_hash(tmp_path):
    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets" / "data.bin").write_bytes(b"payload")
    sha256, md5 = hashlib.sha256(b"payload").hexdigest(), hashlib.md5(b"payload").hexdigest()
    assert utils.get_file("data.bin", URL, file_hash=sha256, cache_dir=tmp_path).endswith("data.bin")
    assert utils.get_file("data.bin", URL, md5_hash=md5, cache_dir=tmp_path).endswith("data.bin")
    with pytest.raises(ValueError, match="does not match the expected sha256 hash"):
        utils.get_file("data.bin", URL, file_hash="0" * 64, cache_dir=tmp_path)


def _tar_gz(path, members: dict):
    with tarfile.open(path, "w:gz") as archive:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))


def test_get_file_extracts_as_keras(tmp_path):
    for cache in ("ours", "keras"):
        (tmp_path / cache / "datasets").mkdir(parents=True)
        _tar_gz(tmp_path / cache / "datasets" / "pack.tar.gz", {"pack/a.txt": b"A", "pack/b/c.txt": b"C"})
    expected = keras.utils.get_file("pack.tar.gz", origin="https://example.com/pack.tar.gz", extract=True,
                                    cache_dir=str(tmp_path / "keras"))
    got = utils.get_file("pack.tar.gz", origin="https://example.com/pack.tar.gz", extract=True,
                         cache_dir=tmp_path / "ours")
    assert got.replace(str(tmp_path / "ours"), "") == expected.replace(str(tmp_path / "keras"), "")
    assert (tmp_path / "ours" / "datasets" / "pack_extracted" / "pack" / "b" / "c.txt").read_bytes() == b"C"


def test_get_file_refuses_unsafe_archives(tmp_path):
    (tmp_path / "datasets").mkdir()
    with zipfile.ZipFile(tmp_path / "datasets" / "evil.zip", "w") as archive:
        archive.writestr("../outside.txt", b"x")
    with pytest.raises(ValueError, match="outside"):
        utils.get_file("evil.zip", URL, extract=True, cache_dir=tmp_path)
    assert not (tmp_path / "datasets" / "outside.txt").exists()
    _tar_gz(tmp_path / "datasets" / "evil.tar.gz", {"../escape.txt": b"x"})
    with pytest.raises(tarfile.TarError):
        utils.get_file("evil.tar.gz", URL, extract=True, cache_dir=tmp_path)
    assert not (tmp_path / "datasets" / "escape.txt").exists()
    (tmp_path / "datasets" / "plain.txt").write_bytes(b"not an archive")
    with pytest.raises(ValueError, match="is not a tar or zip archive"):
        utils.get_file("plain.txt", URL, extract=True, cache_dir=tmp_path)


def test_get_file_argument_errors(tmp_path):
    with pytest.raises(ValueError, match="give `fname` or `origin`"):
        utils.get_file()
    with pytest.raises(ValueError, match="must be a file name, not a path"):
        utils.get_file("a/b.txt", URL, cache_dir=tmp_path)
    with pytest.raises(ValueError, match="`hash_algorithm` must be"):
        utils.get_file("b.txt", URL, hash_algorithm="sha1", cache_dir=tmp_path)


# ---- small wrappers of clearconv.backend -------------------------------------------------------------

def test_utils_exports_the_backend_helpers():
    assert utils.is_keras_tensor(Input((2,))) and not utils.is_keras_tensor(np.ones(2))
    assert utils.standardize_dtype(np.float64) == keras.utils.standardize_dtype(np.float64) == "float64"
    utils.clear_session()
    assert Dense(1).name == "dense"


# ---- model_to_dot / plot_model -------------------------------------------------------------------------

def _branching_model(layers_module, input_function, model_class):
    """inp -> (a, b) -> add -> out, with the same names in either library."""
    inputs = input_function((8,), name="inp")
    a = layers_module.Dense(4, activation="relu", name="a")(inputs)
    b = layers_module.Dense(4, name="b")(inputs)
    added = layers_module.Add(name="add")([a, b])
    return model_class(inputs, layers_module.Dense(2, name="out")(added))


class _Layers:
    Dense, Add = Dense, Add


def _graph_by_name(*graphs):
    """({node name}, {(source name, destination name)}) of pydot graphs (a graph and its clusters),
    each node's name read from the bold text of its label."""
    import re
    names = {}
    for graph in graphs:
        for node in graph.get_nodes():
            match = re.search(r"<b>([^<]+)</b>", node.get("label") or "")
            if match:
                names[node.get_name().strip('"')] = match.group(1)
    edges = {(names[e.get_source().strip('"')], names[e.get_destination().strip('"')])
             for graph in graphs for e in graph.get_edges()}
    return set(names.values()), edges


@pytest.mark.skipif(not has_pydot, reason="pydot not installed (pip install pydot)")
def test_model_to_dot_graph_as_keras():
    expected = _graph_by_name(keras.utils.model_to_dot(_branching_model(keras.layers, keras.Input, keras.Model)))
    got = _graph_by_name(utils.model_to_dot(_branching_model(_Layers, Input, Model)))
    assert got == expected
    assert got[1] == {("inp", "a"), ("inp", "b"), ("a", "add"), ("b", "add"), ("add", "out")}


@pytest.mark.skipif(not has_pydot, reason="pydot not installed (pip install pydot)")
def test_model_to_dot_sequential_and_labels():
    def stack(layers_module):
        return [layers_module.Dense(3, name="s1"), layers_module.Dense(2, activation="softmax", name="s2")]
    ours = Sequential([Input((4,))] + stack(_Layers))
    theirs = keras.Sequential([keras.Input((4,))] + stack(keras.layers))
    assert _graph_by_name(utils.model_to_dot(ours)) == _graph_by_name(keras.utils.model_to_dot(theirs))
    labels = [n.get("label") for n in utils.model_to_dot(ours, show_shapes=True, show_dtype=True,
                                                         show_layer_activations=True, show_trainable=True,
                                                         show_layer_names=False).get_nodes() if n.get("label")]
    text = "".join(labels)
    for piece in ("<b>Dense</b>", "Input shape: <b>(None, 4)</b>", "Output shape: <b>(None, 2)</b>",
                  "Output dtype: <b>float32</b>", "Activation: <b>softmax</b>", "Trainable"):
        assert piece in text
    assert "s1" not in text


@pytest.mark.skipif(not has_pydot, reason="pydot not installed (pip install pydot)")
def test_model_to_dot_expand_nested_connects_inner_layers():
    inner = Sequential([Input((4,)), Dense(3, name="s1"), Dense(2, name="s2")], name="inner")
    inputs = Input((4,), name="i")
    model = Model(inputs, Dense(1, name="o")(inner(inputs)))
    _, flat_edges = _graph_by_name(utils.model_to_dot(model))
    assert flat_edges == {("i", "inner"), ("inner", "o")}
    dot = utils.model_to_dot(model, expand_nested=True)
    (cluster,) = dot.get_subgraphs()
    assert cluster.get_name() == "cluster_inner"
    nodes, edges = _graph_by_name(dot, cluster)
    assert nodes == {"i", "s1", "s2", "o"}
    assert edges == {("i", "s1"), ("s1", "s2"), ("s2", "o")}


def test_model_to_dot_needs_a_built_model():
    with pytest.raises(ValueError, match="This model has not yet been built"):
        utils.model_to_dot(Sequential([Dense(2)]))


def test_plot_model_without_pydot_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pydot", None)            # import pydot now raises ImportError
    model = _branching_model(_Layers, Input, Model)
    with pytest.raises(ImportError, match=r"pip install pydot.*apt-get install graphviz"):
        utils.plot_model(model)
    with pytest.raises(ImportError, match="pip install pydot"):
        utils.model_to_dot(model)


@pytest.mark.skipif(not has_pydot, reason="pydot not installed (pip install pydot)")
def test_plot_model_without_graphviz_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))                  # no `dot` program on the path
    with pytest.raises(ImportError, match="apt-get install graphviz"):
        utils.plot_model(_branching_model(_Layers, Input, Model), to_file=tmp_path / "m.png")
    assert not (tmp_path / "m.png").exists()


@pytest.mark.skipif(not (has_pydot and has_dot), reason="needs pydot (pip install pydot) and Graphviz's dot "
                                                        "(apt-get install graphviz)")
def test_plot_model_writes_the_graph(tmp_path):
    model = _branching_model(_Layers, Input, Model)
    assert utils.plot_model(model, to_file=tmp_path / "model.dot", show_layer_names=True) is None
    text = (tmp_path / "model.dot").read_text()
    assert text.startswith("digraph") and all(f"<b>{name}</b>" in text for name in ("inp", "a", "b", "add", "out"))
    utils.plot_model(model, to_file=tmp_path / "model.png")
    assert (tmp_path / "model.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="unrecognized keyword arguments"):
        utils.plot_model(model, to_file=tmp_path / "x.png", colour=True)


def test_floatx_for_to_categorical_tensor_follows_config():
    config.set_floatx("float64")
    try:
        assert utils.to_categorical(Tensor(np.array([0, 1])), 2).dtype == np.float64
    finally:
        config.set_floatx("float32")
