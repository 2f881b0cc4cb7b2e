"""One test per way a hostile file once broke the loader contract (found by tests/io/test_fuzz_formats.py):
each file is built here from a valid one, and must give a ModelFileError, in time and memory bounds."""

import io
import json
import os
import struct
import subprocess
import sys
import time

import numpy as np
import pytest

import io_fuzz_files as files
from clearconv.io import ModelFileError, load_model, load_weights

h5py = pytest.importorskip("h5py")


@pytest.fixture(scope="module")
def model():
    return files.build_model()


def _refused(call, match):
    start = time.perf_counter()
    with pytest.raises(ModelFileError, match=match):
        call()
    assert time.perf_counter() - start < 1.0


def test_a_variable_length_attribute_declaring_4_gib_is_refused_within_bounds(model, tmp_path):
    """HDF5 allocates the length a vlen string declares before checking it against the file: the read runs
    in a child process with a memory allowance, so the 18 KB file costs this process nothing."""
    data = bytearray(files.legacy_h5_bytes(model))
    text = json.loads(h5py.File(io.BytesIO(bytes(data)), "r").attrs["training_config"])
    length = len(json.dumps(text))
    heap = data.find(b"GCOL")
    descriptor = struct.pack("<IQ", length, heap)
    assert data.count(descriptor) == 1, "the training_config descriptor (length, global heap address)"
    data[data.find(descriptor):data.find(descriptor) + 4] = struct.pack("<I", 0xFFFFFFF0)
    path = tmp_path / "vlen.h5"
    path.write_bytes(bytes(data))
    code = ("import resource, sys; from clearconv.io import load_model, ModelFileError\n"
            "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
            f"try:\n    load_model({str(path)!r})\nexcept ModelFileError as error:\n    print('refused:', error)\n"
            "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("refused:") and "training_config" in lines[0], result.stdout + result.stderr
    assert int(lines[-1]) < 256, f"the resident peak grew by {lines[-1]} MiB"


@pytest.mark.parametrize("where", ["external", "virtual"])
def test_weights_stored_in_another_file_are_refused(model, tmp_path, where):
    """HDF5's external storage would read any file on the machine; a virtual dataset's source crashed it."""
    from clearconv.io.keras import save_keras_weights
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.arange(12, dtype=np.float32).tobytes() * 100)
    path = tmp_path / "model.weights.h5"
    save_keras_weights(model, path)
    with h5py.File(path, "r+") as h5file:
        name = next(n for n in _datasets(h5file) if n.startswith("layers/dense/"))
        shape = h5file[name].shape
        del h5file[name]
        if where == "external":
            h5file.create_dataset(name, shape=shape, dtype="f4", external=[(str(secret), 0, h5py.h5f.UNLIMITED)])
        else:
            source = tmp_path / "source.h5"
            with h5py.File(source, "w") as other:
                other.create_dataset("x", data=np.zeros(shape, "f4"))
            layout = h5py.VirtualLayout(shape=shape, dtype="f4")
            layout[...] = h5py.VirtualSource(str(source), "x", shape=shape)
            h5file.create_virtual_dataset(name, layout)
    code = ("import sys; sys.path.insert(0, 'tests'); import io_fuzz_files as f\n"
            "from clearconv.io import load_weights, ModelFileError\n"
            f"try:\n    load_weights(f.build_model(), {str(path)!r})\n"
            "except ModelFileError as error:\n    print('refused:', error)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert result.returncode == 0 and "keeps its data outside the file" in result.stdout, result.stdout + result.stderr


def _datasets(group, prefix=""):
    for key, value in group.items():
        if isinstance(value, h5py.Dataset):
            yield prefix + key
        else:
            yield from _datasets(value, prefix + key + "/")


def test_an_hdf5_offset_beyond_an_integer_is_refused(model, tmp_path):
    from clearconv.io.keras import save_keras_weights
    path = tmp_path / "model.weights.h5"
    save_keras_weights(model, path)
    data = bytearray(path.read_bytes())
    data[40:48] = b"\xff" * 8          # the superblock's end-of-file address
    path.write_bytes(bytes(data))
    _refused(lambda: load_weights(files.build_model(), path), "")


def test_onnx_names_that_are_not_utf8_are_refused(model, tmp_path):
    onnx = pytest.importorskip("onnx")
    from clearconv.io.onnx import export_onnx
    path = tmp_path / "model.onnx"
    export_onnx(model, path)
    proto = onnx.load(str(path))
    for mutate, match in ((lambda p: setattr(p.graph, "name", "\u00e6uzzed"), "graph.name"),
                          (lambda p: setattr(p.graph.node[0], "op_type", "\u00d4ranspose"), r"graph.node\[0\]")):
        copy = onnx.ModelProto()
        copy.CopyFrom(proto)
        mutate(copy)
        data = copy.SerializeToString()
        # the first byte of the two-byte UTF-8 sequence becomes one that starts no valid sequence
        for original in ("\u00e6".encode(), "\u00d4".encode()):
            data = data.replace(original, b"\xff" + original[1:])
        path.write_bytes(data)
        _refused(lambda: load_model(path), match)


def test_a_safetensors_dtype_that_is_not_text_is_refused(model, tmp_path):
    data = files.safetensors_bytes(files.torch_arrays(model))
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    key = next(k for k in header if k != "__metadata__")
    header[key]["dtype"] = []
    text = json.dumps(header).encode()
    path = tmp_path / "model.safetensors"
    path.write_bytes(struct.pack("<Q", len(text)) + text + data[8 + length:])
    _refused(lambda: load_weights(files.build_model(), path), "dtype")


def test_load_weights_reads_a_keras_file(model, tmp_path):
    from clearconv.io.keras import save_keras
    path = tmp_path / "model.keras"
    save_keras(model, path)
    fresh = files.build_model()
    load_weights(fresh, path)
    for a, b in zip(fresh.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
