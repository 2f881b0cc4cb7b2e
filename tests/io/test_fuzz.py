"""Fuzzing the loader's contract: any bytes give a working model or a ModelFileError.

Valid files (a trained Sequential CNN with optimizer state, a functional model
with merges and an op node, a model of most other layers with a nested
Sequential, a weights-only file) are mutated: byte flips,
truncation, JSON fields replaced (wrong types, huge, negative and non-finite
numbers, deep nesting, unknown class names, keys removed or added), arrays
replaced (other dtypes and shapes, NaN, pickled objects, missing or extra
arrays) and zip members renamed, dropped, duplicated or compressed.
``load_model`` (and ``load_weights`` into a model of the file's architecture)
must then either return a model whose ``predict`` runs on zeros of its input
shape, or raise :class:`clearconv.io.ModelFileError`; anything else fails.

CI runs a bounded number of examples; ``CLEARCONV_FUZZ_EXAMPLES=20000`` runs
the long campaign whose figures docs/io.md reports.
"""

import io
import math
import os
import tempfile
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import io_fuzz_files as files

from clearconv.io import ModelFileError, load_model, load_weights

EXAMPLES = int(os.environ.get("CLEARCONV_FUZZ_EXAMPLES", "120"))

# Values a JSON field is replaced with: wrong types, boundary and absurd numbers, names that do not exist.
REPLACEMENTS = [2**31, 2**31 - 1, 2**63, -2**63, 10**30, -1, 0, 1, 2, 3, 7, 65536, 0.5, -0.5, 1e308, -1e-300,
                math.nan, math.inf, -math.inf, "", "x", "relu", "same", "valid", "channels_first", "float64",
                "int32", "NoSuchLayer", "Dense", "Model", "Sequential", "numpy.tile", None, True, False, [], {},
                [None], [1, 2], [2**40, 2**40], [-1, 3], {"class_name": "NoSuchLayer", "config": {}},
                {"class_name": "Dense", "config": {"units": 2**40}}, {"__tensor__": 99}, {"__slice__": [0, 2**63, 0]},
                {"__array__": [[1]], "dtype": "object"}, {"__array__": [1], "dtype": "V99999999999"}, "a" * 10_000,
                "Conv2DTranspose", "Lambda", "Operation", "InputLayer", "BatchNormalization", "Normalization",
                "Reshape", "Concatenate", "GlobalAveragePooling2D", "numpy.reshape", "numpy.zeros", "__DEEP__"]
DEEP = 50_000   # "__DEEP__" becomes this many nested lists in the JSON text


def _members(data: bytes) -> list:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return [(info.filename, archive.read(info.filename)) for info in archive.infolist()]


def _zip(members, deflated=()) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, value in members:
            method = zipfile.ZIP_DEFLATED if name in deflated else zipfile.ZIP_STORED
            archive.writestr(zipfile.ZipInfo(name), value, compress_type=method)
    return buffer.getvalue()


def _mutate_json(data, raw: bytes) -> bytes:
    return files.mutate_json(data, raw, keys=["unknown", "name", "config", "class_name", "units", "calls"],
                             replacements=REPLACEMENTS)


def _npz(arrays: dict) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _mutate_arrays(data, raw: bytes) -> bytes:
    with np.load(io.BytesIO(raw), allow_pickle=False) as stored:
        arrays = {key: stored[key] for key in stored.files}
    key = data.draw(st.sampled_from(sorted(arrays)), label="array")
    value = arrays[key]
    action = data.draw(st.sampled_from(["dtype", "shape", "fill", "scalar", "empty", "delete", "extra", "rename",
                                        "object", "fortran"]), label="array action")
    if action == "dtype":
        arrays[key] = value.astype(data.draw(st.sampled_from(["int32", "int64", "float16", "float64", "bool",
                                                              "complex64", "uint8"]), label="dtype"))
    elif action == "shape":
        arrays[key] = np.zeros(data.draw(st.sampled_from([(1,), (0,), (value.size + 1,), (*value.shape, 1),
                                                          value.shape[:-1], (2, 2, 2, 2, 2)]), label="shape"),
                               value.dtype)
    elif action == "fill":
        arrays[key] = np.full_like(value, data.draw(st.sampled_from([math.nan, math.inf, -1.0, 1e30, 0.0]),
                                                    label="fill"))
    elif action == "scalar":
        arrays[key] = value.dtype.type(1)
    elif action == "empty":
        arrays[key] = np.zeros((0,), value.dtype)
    elif action == "delete":
        del arrays[key]
    elif action == "extra":
        arrays["w9999" if key.startswith("w") else "extra"] = value
    elif action == "rename":
        arrays[key + "x"] = arrays.pop(key)
    elif action == "fortran" and value.ndim > 1:
        arrays[key] = np.asfortranarray(value.T)
    elif action == "object":
        buffer = io.BytesIO()
        np.savez(buffer, **{**arrays, key: np.array([None, {"a": 1}], dtype=object)})  # pickled by np.save
        return buffer.getvalue()
    return _npz(arrays)


def mutate(data, original: bytes) -> bytes:
    """One random mutation of the model file ``original`` (drawn through hypothesis's ``data``)."""
    kind = data.draw(st.sampled_from(["flip", "truncate", "json", "json", "json", "arrays", "arrays", "member"]),
                     label="kind")
    if kind == "flip":
        mutated = bytearray(original)
        for _ in range(data.draw(st.integers(1, 8), label="flips")):
            position = data.draw(st.integers(0, len(mutated) - 1), label="position")
            mutated[position] ^= data.draw(st.integers(1, 255), label="mask")
        return bytes(mutated)
    if kind == "truncate":
        return original[:data.draw(st.integers(0, len(original) - 1), label="length")]
    members = _members(original)
    names = [name for name, _ in members]
    if kind == "json":
        index = names.index(data.draw(st.sampled_from([n for n in names if n.endswith(".json")]), label="member"))
        members[index] = (names[index], _mutate_json(data, members[index][1]))
        return _zip(members)
    if kind == "arrays":
        index = names.index(data.draw(st.sampled_from([n for n in names if n.endswith(".npz")]), label="member"))
        members[index] = (names[index], _mutate_arrays(data, members[index][1]))
        return _zip(members)
    action = data.draw(st.sampled_from(["drop", "rename", "duplicate", "deflate", "garbage", "extra"]),
                       label="member action")
    index = data.draw(st.integers(0, len(members) - 1), label="member index")
    name, value = members[index]
    if action == "drop":
        del members[index]
    elif action == "rename":
        members[index] = (name.upper(), value)
    elif action == "duplicate":
        members.append((name, value[: len(value) // 2]))
    elif action == "deflate":
        return _zip(members, deflated={name})
    elif action == "garbage":
        members[index] = (name, data.draw(st.binary(max_size=64), label="garbage"))
    elif action == "extra":
        members.append(("../../etc/passwd", b"x"))
    return _zip(members)


def _input_sizes(shape):
    return [8 if d is None else d for d in shape[1:]]


def check_contract(path, kind, build) -> str:
    """Load the file as its kind is loaded; 'refused', 'loaded' or an AssertionError."""
    try:
        if kind == "weights":
            model = build.sequential_cnn()
            load_weights(model, path)
        else:
            model = load_model(path)
    except ModelFileError:
        return "refused"
    inputs = [np.zeros((2, *_input_sizes(tensor.shape)), tensor.dtype) for tensor in model.inputs]
    model.predict(inputs if len(inputs) > 1 else inputs[0], verbose=0)   # a loaded model must be usable
    return "loaded"


@pytest.fixture(scope="module")
def originals(model_files):
    return {kind: path.read_bytes() for kind, path in model_files.items()}


@pytest.mark.filterwarnings("ignore:Duplicate name")   # the "duplicate member" mutation, on purpose
@settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=EXAMPLES <= 1000,
          suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_any_mutation_loads_a_working_model_or_raises_model_file_error(originals, build, data):
    kind = data.draw(st.sampled_from(sorted(originals)), label="file")
    mutated = mutate(data, originals[kind])
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, f"{kind}.clearconv")
        with open(path, "wb") as file:
            file.write(mutated)
        check_contract(path, kind, build)


def test_the_unmutated_files_load_and_run(model_files, build):
    for kind, path in model_files.items():
        assert check_contract(path, kind, build) == "loaded"
