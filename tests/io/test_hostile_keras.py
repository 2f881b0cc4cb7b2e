"""Hostile Keras files that once broke the loader contract (a working model or a ModelFileError, within a
second, never allocating far beyond what the file's size justifies, never running code): each is built
here, small, from a valid one."""

import io
import json
import threading
import time
import zipfile
import zlib

import numpy as np
import pytest

import clearconv
from clearconv import layers as L
from clearconv.io import ModelFileError
from clearconv.io.archive import ZipArchive

h5py = pytest.importorskip("h5py")

from clearconv.io.keras import (_read_in_child, config_from_keras, config_to_keras, load_keras,  # noqa: E402
                                load_keras_weights, save_keras, save_keras_weights)

rng = np.random.default_rng(0)


def _refused(call, match, seconds=1.0):
    start = time.perf_counter()
    with pytest.raises(ModelFileError, match=match):
        call()
    assert time.perf_counter() - start < seconds


def _keras_file(path, config, weights: bytes, level=6):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as archive:
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.5.0"}))
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("model.weights.h5", weights)
    return str(path)


# --- functional configs: calls scheduled in linear time ----------------------------------------------

def _chain_config(n):
    """tf.keras 2 JSON of two Dense layers called alternately: in -> a -> b -> a -> b ... (2n calls)."""
    def layer(name, cls, config, nodes):
        return {"class_name": cls, "name": name, "config": dict(config, name=name), "inbound_nodes": nodes}
    a_nodes = [[["in", 0, 0, {}]]] + [[["b", k - 1, 0, {}]] for k in range(1, n)]
    b_nodes = [[["a", k, 0, {}]] for k in range(n)]
    return {"class_name": "Functional", "config": {"name": "m", "layers": [
        layer("in", "InputLayer", {"batch_input_shape": [None, 4], "dtype": "float32"}, []),
        layer("a", "Dense", {"units": 4}, a_nodes), layer("b", "Dense", {"units": 4}, b_nodes)],
        "input_layers": [["in", 0, 0]], "output_layers": [["b", n - 1, 0]]}}


def test_a_long_chain_of_shared_layer_calls_translates_in_linear_time():
    """Two shared layers called alternately 4000 times took seconds (quadratic scheduling)."""
    n = 2000
    start = time.perf_counter()
    config = config_from_keras(_chain_config(n))["config"]
    assert time.perf_counter() - start < 0.5
    calls = config["calls"]
    assert [call["layer"] for call in calls] == ["a", "b"] * n
    # tensor 0 is the input, call i makes tensor i + 1 and reads the tensor made just before it
    assert [call["args"] for call in calls] == list(range(2 * n))
    assert config["outputs"] == 2 * n


def test_a_chain_of_shared_layers_loads_and_predicts_as_computed_by_hand(tmp_path):
    n = 150
    x = L.Input((4,))
    a, b = L.Dense(4, name="a"), L.Dense(4, name="b")
    y = x
    for _ in range(n):
        y = b(a(y))
    model = clearconv.Model(x, y)
    wa, wb = rng.standard_normal((4, 4)) * 0.5, rng.standard_normal((4, 4)) * 0.5
    ba, bb = rng.standard_normal(4) * 0.1, rng.standard_normal(4) * 0.1
    model.set_weights([wa, ba, wb, bb])
    path = str(tmp_path / "chain.keras")
    save_keras(model, path)
    start = time.perf_counter()
    loaded = load_keras(path)
    assert time.perf_counter() - start < 2.0
    data = rng.standard_normal((3, 4)).astype("float32")
    expected = data.astype(np.float64)
    for _ in range(n):
        expected = (expected @ wa + ba) @ wb + bb
    np.testing.assert_allclose(loaded.predict(data, verbose=0), expected, rtol=1e-4, atol=1e-4)


def test_calls_listed_out_of_order_and_a_layer_fed_its_own_output_are_scheduled():
    """Keras 3 JSON: d(d(x)) (a layer reading its own first output) listed before the input layer."""
    def ref(name, node):
        return {"class_name": "__keras_tensor__", "config": {"shape": [None, 2], "dtype": "float32",
                                                             "keras_history": [name, node, 0]}}
    config = {"class_name": "Functional", "config": {"name": "m", "layers": [
        {"class_name": "Dense", "name": "d", "config": {"name": "d", "units": 2},
         "inbound_nodes": [{"args": [ref("x", 0)], "kwargs": {}}, {"args": [ref("d", 0)], "kwargs": {}}]},
        {"class_name": "InputLayer", "name": "x", "config": {"name": "x", "batch_shape": [None, 2]},
         "inbound_nodes": []}],
        "input_layers": [["x", 0, 0]], "output_layers": [["d", 1, 0]]}}
    model = clearconv.models.model_from_json(json.dumps(config))
    w, bias = rng.standard_normal((2, 2)), rng.standard_normal(2)
    model.set_weights([w, bias])
    data = rng.standard_normal((5, 2)).astype("float32")
    np.testing.assert_allclose(model.predict(data, verbose=0), (data @ w + bias) @ w + bias, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("edit", ["dangling", "cycle"])
def test_dangling_or_cyclic_calls_are_named(edit):
    config = _chain_config(3)
    layers = config["config"]["layers"]
    if edit == "dangling":
        layers[2]["inbound_nodes"][1] = [["a", 7, 0, {}]]
    else:   # a's first call reads b's first output, which reads a's first output
        layers[1]["inbound_nodes"][0] = [["b", 0, 0, {}]]
    with pytest.raises(ValueError, match="dangling or cyclic") as error:
        config_from_keras(config)
    assert ("'a', 7" if edit == "dangling" else "'b', 0") in str(error.value)


def test_calls_beyond_the_limit_are_refused_before_scheduling():
    from clearconv.io import validation
    start = time.perf_counter()
    with pytest.raises(ValueError, match=f"more than {validation.MAX_CALLS} layer calls"):
        config_from_keras(_chain_config(validation.MAX_CALLS // 2 + 1))
    assert time.perf_counter() - start < 1.0


# --- zip bombs through model.weights.h5 -------------------------------------------------------------

def _huge_config():
    """The Keras config of a Dense layer of 10^8 weights (a loader leaves them placeholders until read): the
    config of a small model with the units changed."""
    config = config_to_keras(clearconv.Sequential([L.Input((1000,)), L.Dense(1, name="d")]))
    config["config"]["layers"][1]["config"]["units"] = 100_000
    return config


@pytest.mark.parametrize("head", [b"", b"\x89HDF\r\n\x1a\n"], ids=["zeros", "hdf5-signature"])
def test_a_weights_member_inflating_far_beyond_its_compressed_size_is_refused(tmp_path, head):
    """32 MiB of zeros deflate to 32 KiB; the config declares weights for which 2 GB would be allowed."""
    path = _keras_file(tmp_path / "bomb.keras", _huge_config(), head + bytes(32 << 20), level=1)
    match = "zip bomb" if head else "not an HDF5 file"
    _refused(lambda: load_keras(path), match)
    # load_weights into a model of 4 MB of weights (a limit of 20 MB): 4 MiB from 4 KiB is refused all the same
    path = _keras_file(tmp_path / "bomb2.keras", _huge_config(), head + bytes(4 << 20), level=1)
    model = clearconv.Sequential([L.Input((100,)), L.Dense(10_000, name="d")])
    _refused(lambda: load_keras_weights(model, path), match)


def test_zip_archive_head_and_ratio_bound(tmp_path):
    noise = rng.bytes(1 << 16)
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("noise", noise)
        archive.writestr("zeros", bytes(4 << 20))
    with open(path, "rb") as file:
        archive = ZipArchive(str(path), file)
        assert archive.head("noise", 8) == noise[:8] and archive.head("zeros", 1 << 30) == bytes(4 << 20)
        assert archive.read("noise", 1 << 20, max_ratio=1.0) == noise   # incompressible: ratio about 1
        with pytest.raises(ModelFileError, match="zip bomb"):
            archive.read("zeros", 8 << 20, max_ratio=1.0)   # 4 MiB from a few KiB: beyond 1x + 1 MiB
        assert archive.read("zeros", 8 << 20) == bytes(4 << 20)   # no ratio asked: the limit alone


# --- HDF5 datasets that would inflate beyond their size ---------------------------------------------

@pytest.fixture()
def small(tmp_path):
    """A model with a (6, 5) kernel, and its weights file."""
    model = clearconv.Sequential([L.Input((6,)), L.Dense(5, name="d")], name="s")
    path = str(tmp_path / "w.weights.h5")
    save_keras_weights(model, path)
    return model, path


def _replace_kernel(path, **create):
    with h5py.File(path, "r+") as h5file:
        name = h5file.visit(lambda n: n if n.endswith("vars/0") else None)
        del h5file[name]
        return h5file.create_dataset(name, **create)


def test_chunks_larger_than_the_dataset_are_refused(small):
    model, path = small
    _replace_kernel(path, data=np.ones((6, 5), "f4"), maxshape=(None, None), chunks=(512, 512),
                    compression="gzip")
    _refused(lambda: load_keras_weights(model, path), "exceed the dataset's shape")


def test_a_chunk_whose_stream_inflates_beyond_the_chunk_is_refused(small):
    """HDF5's deflate filter inflates a chunk's whole stream: 64 MiB from a 64 KiB chunk of 120 bytes."""
    model, path = small
    with h5py.File(path, "r+") as h5file:
        name = h5file.visit(lambda n: n if n.endswith("vars/0") else None)
        del h5file[name]
        dataset = h5file.create_dataset(name, shape=(6, 5), dtype="f4", chunks=(6, 5), compression="gzip")
        dataset.id.write_direct_chunk((0, 0), zlib.compress(bytes(64 << 20), 1))
    _refused(lambda: load_keras_weights(model, path), "inflates beyond")


@pytest.mark.parametrize("options", [dict(compression="gzip"), dict(compression="gzip", shuffle=True),
                                     dict(compression="gzip", shuffle=True, fletcher32=True),
                                     dict(shuffle=True), dict()], ids=["gzip", "shuffle+gzip", "all", "shuffle",
                                                                       "plain"])
def test_chunked_and_filtered_weights_read_as_h5py_reads_them(small, options):
    """Filtered chunks are inflated by clearconv itself; h5py's own reading is the oracle (edge chunks too)."""
    model, path = small
    kernel = rng.standard_normal((6, 5)).astype(">f8")   # another byte order and width than the model's
    _replace_kernel(path, data=kernel, chunks=(4, 3), **options)
    load_keras_weights(model, path)
    with h5py.File(path, "r") as h5file:
        expected = h5file[h5file.visit(lambda n: n if n.endswith("vars/0") else None)][()]
    np.testing.assert_array_equal(model.get_layer("d").kernel.numpy(), expected.astype("f4"))


def test_an_unknown_filter_is_refused(small):
    model, path = small
    _replace_kernel(path, data=np.ones((6, 5), "f4"), chunks=(6, 5), scaleoffset=4)
    _refused(lambda: load_keras_weights(model, path), r"filter\(s\) \[6\]")


def test_storage_never_written_is_refused(small):
    """HDF5 returns the fill value for data never written: a layer's weights from nothing."""
    model, path = small
    _replace_kernel(path, shape=(6, 5), dtype="f4")
    _refused(lambda: load_keras_weights(model, path), "stores 0")
    model, path = small
    _replace_kernel(path, shape=(6, 5), dtype="f4", chunks=(3, 5))
    _refused(lambda: load_keras_weights(model, path), "stores 0 of its 2 chunks")


def test_a_legacy_file_too_small_for_the_weights_its_config_declares_is_refused(tmp_path):
    """A legacy .h5 model whose config declares 4 MB of weights, in a file of a few KB (datasets shrunk to
    chunked gzip of zeros): refused before any dataset is read."""
    model = clearconv.Sequential([L.Input((1000,)), L.Dense(1000, name="d")], name="s")
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as h5file:
        h5file.attrs["model_config"] = json.dumps(config_to_keras(model))
        h5file.attrs["keras_version"] = "2.15.0"
        group = h5file.create_group("model_weights")
        group.attrs["layer_names"] = [b"d"]
        layer = group.create_group("d")
        layer.attrs["weight_names"] = [b"d/kernel:0", b"d/bias:0"]
        layer.create_dataset("d/kernel:0", data=np.zeros((1000, 1000), "f4"), chunks=(1000, 1000),
                             compression="gzip", compression_opts=9)
        layer.create_dataset("d/bias:0", data=np.zeros(1000, "f4"))
    path = tmp_path / "legacy.h5"
    path.write_bytes(buffer.getvalue())
    assert path.stat().st_size < 64 * 1024
    with pytest.MonkeyPatch.context() as patch:   # a 4 MB model stands for a 400 MB one: the MiB allowance
        patch.setattr("clearconv.io.keras.RATIO_ALLOWANCE_BYTES", 0)
        _refused(lambda: load_keras(str(path)), "refused before reading them")


# --- the forked reader of variable-length attributes -------------------------------------------------

def test_the_attribute_reader_stops_a_child_that_hangs():
    """A lock held by another thread at the fork stays held in the child forever (h5py's global lock can be
    such a lock): the child is killed after the timeout and the read refused."""
    lock, release = threading.Lock(), threading.Event()

    def hold():
        with lock:
            release.wait(10)
    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    try:
        start = time.perf_counter()
        with pytest.raises(RuntimeError, match="did not finish within 0.5 s"):
            _read_in_child(lambda: lock.acquire() and "never", timeout=0.5)
        assert time.perf_counter() - start < 2.0
    finally:
        release.set()
        holder.join()
    assert _read_in_child(lambda: {"value": [1, "two"]}, timeout=5) == {"value": [1, "two"]}
