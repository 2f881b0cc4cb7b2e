"""Fuzzing every model-file format clearconv reads: any bytes give a working model or a ModelFileError.

Valid files of one small model (conv, batch norm, dense; see tests/io_fuzz_files.py) in each format
(Keras 3 ``.keras``, Keras ``.weights.h5``, legacy Keras ``.h5``, ONNX, ``torch.save`` state_dict,
safetensors) are mutated, half the time byte by byte (flips, truncation, runs inserted or deleted, two
files spliced), half the time inside the format (JSON fields of config.json, metadata.json and the
safetensors header; HDF5 datasets, groups, links and attributes through h5py; ONNX nodes, attributes,
initializers and opset through the onnx API; the fields and globals of a state_dict pickle).
``load_model`` (and ``load_weights`` into a fresh model of the architecture, for files that hold weights)
must then either give a model that predicts finite numbers of the shape it declares, or raise
:class:`clearconv.io.ModelFileError`; a refused ``load_weights`` leaves the model's weights as they were.
Every load takes under a second and its peak of traced memory stays under 64 MiB plus ten times the
file's size (the growth of the process's resident peak counts too, for what C libraries allocate).

CI runs ``CLEARCONV_FUZZ_EXAMPLES`` (default 50) examples per format; the long campaign whose figures
docs/io.md reports is ``CLEARCONV_FUZZ_EXAMPLES=2000 python -m pytest -q tests/io/test_fuzz_formats.py``.
"""

import io
import os
import pickletools
import subprocess
import sys
import zipfile
import tempfile
import time
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import io_fuzz_files as files
from clearconv.io import ModelFileError, load_model, load_weights

pytest.importorskip("h5py")

EXAMPLES = int(os.environ.get("CLEARCONV_FUZZ_EXAMPLES", "50"))
SECONDS = 1.0                      # every load, refused or not
MEMORY_BASE = 64 * 1024 * 1024     # peak traced bytes of one load: this plus MEMORY_PER_BYTE x the file's size
MEMORY_PER_BYTE = 10
MARKER = os.path.join(tempfile.gettempdir(), "clearconv-fuzz-global-was-called")

# format -> (file name, loaded by load_model, loaded by load_weights)
FORMATS = {
    "keras": ("model.keras", True, False),
    "weights_h5": ("model.weights.h5", False, True),
    "legacy_h5": ("model.h5", True, True),
    "onnx": ("model.onnx", True, False),
    "torch": ("model.pt", False, True),
    "safetensors": ("model.safetensors", False, True),
}


@pytest.fixture(scope="module")
def originals():
    """format -> the bytes of a valid file of :func:`io_fuzz_files.trained_like` (formats whose package is
    missing are left out)."""
    from clearconv.io.keras import save_keras, save_keras_weights
    model = files.trained_like()
    arrays = files.torch_arrays(model)
    found = {"legacy_h5": files.legacy_h5_bytes(model), "torch": files.torch_bytes(arrays),
             "safetensors": files.safetensors_bytes(arrays)}
    with tempfile.TemporaryDirectory() as folder:
        save_keras(model, os.path.join(folder, "a.keras"))
        save_keras_weights(model, os.path.join(folder, "a.weights.h5"))
        found["keras"] = open(os.path.join(folder, "a.keras"), "rb").read()
        found["weights_h5"] = open(os.path.join(folder, "a.weights.h5"), "rb").read()
        try:
            import onnx  # noqa: F401
        except ImportError:
            pass
        else:
            from clearconv.io.onnx import export_onnx
            export_onnx(model, os.path.join(folder, "a.onnx"))
            found["onnx"] = open(os.path.join(folder, "a.onnx"), "rb").read()
    return _Files(found)


@pytest.fixture(scope="module")
def reference():
    """(inputs (2, 6, 6, 2), the source model's predictions (2, 3)) for checking the unmutated files."""
    x = np.random.default_rng(1).normal(size=(2, *files.INPUT_SHAPE)).astype(np.float32)
    return x, files.trained_like().predict(x, verbose=0)


# ==================================================================================================
# The contract
# ==================================================================================================

def _resident_peak() -> int:
    """The process's peak resident memory in bytes (0 where the platform does not say): it also counts what C
    libraries (HDF5, protobuf) allocate, which tracemalloc does not see."""
    try:
        import resource
    except ImportError:
        return 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024   # Linux reports KiB, macOS bytes


def _timed_load(load, size: int):
    """``load()`` under tracemalloc: (its result or the ModelFileError it raised, seconds, peak bytes: the
    traced peak, or the growth of the process's resident peak if larger). A load slower than SECONDS under
    tracing (which slows Python code) is timed again untraced."""
    resident = _resident_peak()
    tracemalloc.start()
    start = time.perf_counter()
    try:
        result = load()
    except ModelFileError as error:
        result = error
    finally:
        seconds = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        peak = max(peak, _resident_peak() - resident)
    if seconds > SECONDS:
        start = time.perf_counter()
        try:
            load()
        except ModelFileError:
            pass
        seconds = time.perf_counter() - start
    return result, seconds, peak


def _check_runs(model, where: str) -> None:
    """A loaded model predicts on a batch of two: the shape its outputs declare, finite unless a weight is so
    large that float32 arithmetic overflows (a file may hold any finite weights)."""
    inputs = [np.random.default_rng(0).normal(size=(2, *[8 if d is None else d for d in t.shape[1:]]))
              .astype(t.dtype) for t in model.inputs]
    outputs = model.predict(inputs if len(inputs) > 1 else inputs[0], verbose=0)
    for output, tensor in zip(outputs if isinstance(outputs, list) else [outputs], model.outputs):
        declared = tuple(tensor.shape[1:])
        assert output.shape[0] == 2 and all(d is None or d == s for d, s in zip(declared, output.shape[1:])) \
            and output.ndim == len(declared) + 1, f"{where}: predict gave {output.shape}, the model declares {declared}"
        moderate = all(np.abs(np.asarray(w.data, np.float64)).max(initial=0) < 1e4 for w in model.weights)
        assert not moderate or np.isfinite(output).all(), f"{where}: non-finite predictions"


def check_file(kind: str, data: bytes) -> list:
    """Write ``data`` as a file of ``kind`` and load it every way its format is loaded; the outcomes
    ("loaded" or "refused"), or an AssertionError naming what broke the contract."""
    name, as_model, as_weights = FORMATS[kind]
    outcomes = []
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, name)
        with open(path, "wb") as file:
            file.write(data)
        limit = MEMORY_BASE + MEMORY_PER_BYTE * len(data)
        if as_model:
            result, seconds, peak = _timed_load(lambda: load_model(path), len(data))
            assert seconds < SECONDS, f"load_model took {seconds:.2f} s"
            assert peak < limit, f"load_model traced a peak of {peak:,} bytes for a file of {len(data):,}"
            if isinstance(result, ModelFileError):
                assert result.path == path, result
                outcomes.append("refused")
            else:
                _check_runs(result, "load_model")
                outcomes.append("loaded")
        if as_weights:
            model = files.build_model()
            before = [np.array(w.data, copy=True) for w in model.weights]
            result, seconds, peak = _timed_load(lambda: load_weights(model, path), len(data))
            assert seconds < SECONDS, f"load_weights took {seconds:.2f} s"
            assert peak < limit, f"load_weights traced a peak of {peak:,} bytes for a file of {len(data):,}"
            if isinstance(result, ModelFileError):
                after = [np.asarray(w.data) for w in model.weights]
                assert all(np.array_equal(a, b) for a, b in zip(before, after)), \
                    "a refused load_weights changed the model's weights"
                outcomes.append("refused")
            else:
                _check_runs(model, "load_weights")
                outcomes.append("loaded")
    assert not os.path.exists(MARKER), "a global named by the file was called"
    return outcomes


# ==================================================================================================
# Structured mutations per format
# ==================================================================================================

def _keras_zip(data, original: bytes) -> bytes:
    members = files.zip_members(original)
    names = [name for name, _ in members]
    member = data.draw(st.sampled_from(names), label="member")
    index = names.index(member)
    if member.endswith(".json"):
        members[index] = (member, files.mutate_json(data, members[index][1]))
    else:
        members[index] = (member, files.mutate_hdf5(data, members[index][1]))
    return files.zip_bytes(members)


def _safetensors(data, original: bytes) -> bytes:
    length = int.from_bytes(original[:8], "little")
    header = files.mutate_json(data, original[8:8 + length])
    if data.draw(st.booleans(), label="keep declared length"):
        # the length as it was: a header that grew or shrank leaves the length naming a wrong span
        return original[:8] + header + original[8 + length:]
    return len(header).to_bytes(8, "little") + header + original[8 + length:]


_HOSTILE_GLOBALS = [("os", "system"), ("posix", "system"), ("builtins", "eval"), ("builtins", "exec"),
                    ("builtins", "getattr"), ("builtins", "__import__"), ("subprocess", "Popen"),
                    ("torch.nn.modules.linear", "Linear"), ("__main__", "Net"), ("torch", "load"),
                    ("numpy.core.multiarray", "_reconstruct"), ("numpy", "frombuffer"),
                    ("collections", "defaultdict"), ("torch._utils", "_rebuild_tensor"), ("torch", "Tensor"),
                    ("torch", "FloatTensor"), ("torch._tensor", "_rebuild_from_type_v2"), ("io", "open")]
_TOUCH = f"touch {MARKER}"


def _torch(data, original: bytes, arrays: dict) -> bytes:
    """A state_dict zip whose pickle is assembled with one field of one tensor drawn, a hostile global
    called, or the archive's own members changed."""
    specs = files.tensor_specs(arrays)
    storages = {spec["key"]: payload for _, spec, payload in specs}
    entries = [[key, files.tensor_pickle(spec)] for key, spec, _ in specs]
    prefix, byteorder = "archive", b"little"
    index = data.draw(st.integers(0, len(specs) - 1), label="tensor")
    key, spec, _ = specs[index]
    action = data.draw(st.sampled_from(["storage", "key", "numel", "offset", "size", "stride", "rebuild",
                                        "hostile", "hostile", "value", "memo", "member", "byteorder", "prefix",
                                        "duplicate_key"]), label="torch action")
    if action in ("storage", "key", "numel", "offset", "size", "stride", "rebuild"):
        choices = {
            "storage": ["DoubleStorage", "HalfStorage", "BFloat16Storage", "LongStorage", "BoolStorage",
                        "ByteStorage", "ComplexFloatStorage", "UntypedStorage", "NoSuchStorage"],
            "key": ["nowhere", "../../etc/hostname", "", str((index + 1) % len(specs)), "0" * 300],
            "numel": [0, -1, spec["numel"] + 1, spec["numel"] - 1, 2**31, 2**62, 2**70, True, 1.5, "9"],
            "offset": [-1, 1, spec["numel"], 2**62, -2**63, None, 0.5],
            "size": [[], [0], [-1], [2**31, 2**31], [2**62], [1] * 40, [*spec["size"], 1], spec["size"][::-1],
                     [spec["numel"] + 1], "4"],
            "stride": [[0] * len(spec["stride"]), [-1] * len(spec["stride"]), [2**62] * len(spec["stride"]),
                       spec["stride"][::-1], [], [1] * (len(spec["stride"]) + 1)],
            "rebuild": _HOSTILE_GLOBALS,
        }[action]
        spec = dict(spec, **{action: data.draw(st.sampled_from(choices), label=action)})
        entries[index][1] = files.tensor_pickle(spec)
    elif action == "hostile":   # the tensor replaced by a call of a global no state_dict names
        module, name = data.draw(st.sampled_from(_HOSTILE_GLOBALS), label="global")
        entries[index][1] = files._p_call(module, name, [files._p_str(_TOUCH)])
    elif action == "value":     # a value no state_dict holds in place of the tensor
        entries[index][1] = data.draw(st.sampled_from([b"N", files._p_int(3), files._p_str("x"), b"}", b"]",
                                                       files._p_call("collections", "OrderedDict", [])]),
                                      label="value")
    elif action == "memo":      # a memo index far beyond the opcodes read (the unpickler would grow its memo)
        entries[index][1] += data.draw(st.sampled_from([b"r\xff\xff\xff\x7f", b"q\xff", b"h\x05", b"j\xff\xff\xff\x7f"]),
                                       label="memo op")
    elif action == "member":
        what = data.draw(st.sampled_from(["drop", "short", "long", "compress"]), label="member action")
        if what == "drop":
            del storages[spec["key"]]
        elif what == "short":
            storages[spec["key"]] = storages[spec["key"]][:-1]
        elif what == "long":
            storages[spec["key"]] += b"\0" * 4
        else:
            members = files.zip_members(files.torch_zip(files.state_dict_pickle(entries), storages))
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w") as archive:
                for member, value in members:
                    archive.writestr(zipfile.ZipInfo(member), value, compress_type=zipfile.ZIP_DEFLATED)
            return buffer.getvalue()
    elif action == "byteorder":
        byteorder = data.draw(st.sampled_from([b"big", b"middle", b"", None, b"little" * 1000]), label="byteorder")
    elif action == "prefix":
        prefix = data.draw(st.sampled_from(["", "a/b", "../x", "archive/"]), label="prefix")
    elif action == "duplicate_key":
        entries.append([key, entries[(index + 1) % len(entries)][1]])
    return files.torch_zip(files.state_dict_pickle([tuple(e) for e in entries]), storages, prefix=prefix,
                           byteorder=byteorder)


def mutate_structured(data, kind: str, original: bytes, arrays: dict) -> bytes:
    if kind == "keras":
        return _keras_zip(data, original)
    if kind in ("weights_h5", "legacy_h5"):
        return files.mutate_hdf5(data, original)
    if kind == "onnx":
        return files.mutate_onnx(data, original)
    if kind == "torch":
        return _torch(data, original, arrays)
    return _safetensors(data, original)


# ==================================================================================================
# Tests
# ==================================================================================================

class _Arrays(dict):
    """The state_dict's arrays, shown by their names in hypothesis's report of a failing example."""

    def __repr__(self):
        return f"<state_dict {list(self)}>"


class _Files(dict):
    def __repr__(self):
        return f"<files {list(self)}>"


@pytest.fixture(scope="module")
def arrays():
    return _Arrays(files.torch_arrays(files.trained_like()))


@pytest.fixture(autouse=True)
def _no_marker():
    if os.path.exists(MARKER):
        os.remove(MARKER)
    yield


def test_the_unmutated_files_load_and_predict_as_the_source_model(originals, reference):
    x, expected = reference
    for kind, data in originals.items():
        assert set(check_file(kind, data)) == {"loaded"}, kind
        name, as_model, as_weights = FORMATS[kind]
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, name)
            with open(path, "wb") as file:
                file.write(data)
            models = [load_model(path)] if as_model else []
            if as_weights:
                models.append(files.build_model())
                load_weights(models[-1], path)
            for model in models:
                np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6,
                                           err_msg=kind)


def test_the_hand_written_state_dict_is_what_torch_reads(arrays):
    torch = pytest.importorskip("torch")
    loaded = torch.load(io.BytesIO(files.torch_bytes(arrays)), weights_only=True)
    assert list(loaded) == list(arrays)
    for key, value in arrays.items():
        np.testing.assert_array_equal(loaded[key].numpy(), value, err_msg=key)


@pytest.mark.parametrize("module,name", _HOSTILE_GLOBALS)
def test_a_state_dict_calling_a_global_outside_the_allowed_set_is_refused_without_calling_it(arrays, module, name):
    specs = files.tensor_specs(arrays)
    entries = [(key, files.tensor_pickle(spec)) for key, spec, _ in specs]
    entries[0] = (entries[0][0], files._p_call(module, name, [files._p_str(_TOUCH)]))
    data = files.torch_zip(files.state_dict_pickle(entries), {spec["key"]: p for _, spec, p in specs})
    # the pickle is well formed (read opcode by opcode, nothing called): a plain unpickler would call the global
    zipped = dict(files.zip_members(data))
    assert [op.name for op, _, _ in pickletools.genops(zipped["archive/data.pkl"])][-1] == "STOP"
    assert check_file("torch", data) == ["refused"]


@pytest.mark.filterwarnings("ignore:Duplicate name")
@pytest.mark.parametrize("kind", sorted(FORMATS))
@settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=EXAMPLES <= 1000,
          suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_any_mutation_loads_a_working_model_or_raises_model_file_error(originals, arrays, kind, data):
    if kind not in originals:
        pytest.skip(f"the package that writes {kind} files is not installed")
    original = originals[kind]
    if data.draw(st.booleans(), label="structured"):
        mutated = mutate_structured(data, kind, original, arrays)
    else:
        mutated = files.mutate_bytes(data, original, list(originals.values()))
    check_file(kind, mutated)


# A weights file whose dense kernel reads its data from another file of the disk: HDF5's external raw
# storage, or a virtual dataset mapping another HDF5 file (h5py crashes the interpreter reading one through
# a file object, hence a process of its own).
_OUTSIDE_DATA = """
import sys, h5py, numpy as np
sys.path.insert(0, {tests!r})
import io_fuzz_files as files
from clearconv.io import ModelFileError, load_weights
from clearconv.io.keras import save_keras_weights
folder, how = sys.argv[1], sys.argv[2]
secret = folder + "/outside/secret.weights.h5"
save_keras_weights(files.trained_like(seed=5), secret)
path = folder + "/model/model.weights.h5"
save_keras_weights(files.trained_like(), path)
with h5py.File(path, "r+") as h5file:
    del h5file["layers/dense/vars/0"]
    if how == "external":
        with h5py.File(secret, "r") as other:
            offset = other["layers/dense/vars/0"].id.get_offset()
        h5file.create_dataset("layers/dense/vars/0", shape=(64, 3), dtype="f4", external=[(secret, offset, 768)])
    else:
        layout = h5py.VirtualLayout(shape=(64, 3), dtype="f4")
        layout[:] = h5py.VirtualSource(secret, "layers/dense/vars/0", shape=(64, 3))
        h5file.create_virtual_dataset("layers/dense/vars/0", layout)
model = files.build_model()
try:
    load_weights(model, path)
except ModelFileError as error:
    print("refused:", error.reason)
else:
    print("loaded")
"""


@pytest.mark.parametrize("how", ["external", "virtual"])
def test_a_dataset_whose_data_lie_in_another_file_is_refused(tmp_path, how):
    (tmp_path / "outside").mkdir()
    (tmp_path / "model").mkdir()
    tests = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run([sys.executable, "-c", _OUTSIDE_DATA.format(tests=tests), str(tmp_path), how],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"the load ended the process ({done.returncode}): {done.stderr[-2000:]}"
    assert done.stdout.startswith("refused:"), done.stdout + done.stderr[-2000:]
