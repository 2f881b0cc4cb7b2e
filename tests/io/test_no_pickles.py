"""Saved files are never pickles, and the one reader that unpickles (torch.save state_dicts) does so
through its own restricted Unpickler: checked in the source and in the bytes every writer produces."""

import ast
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

from clearconv import layers as L
from clearconv.models import Sequential

SOURCE = Path(__file__).resolve().parents[2] / "src" / "clearconv"
PICKLE_HEADERS = tuple(bytes([0x80, protocol]) for protocol in range(2, 6))


def test_only_the_restricted_state_dict_reader_touches_pickle():
    importers, writers, loose_loads = [], [], []
    for path in SOURCE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [alias.name for alias in node.names] + ([node.module] if isinstance(node, ast.ImportFrom)
                                                               and node.module else [])
                if any(name in ("pickle", "cPickle", "dill", "cloudpickle", "joblib") for name in names):
                    importers.append(path.relative_to(SOURCE).as_posix())
            if isinstance(node, ast.Attribute) and node.attr in ("dump", "dumps", "Pickler") \
                    and isinstance(node.value, ast.Name) and node.value.id == "pickle":
                writers.append(path.relative_to(SOURCE).as_posix())
            if isinstance(node, ast.keyword) and node.arg == "allow_pickle" and \
                    not (isinstance(node.value, ast.Constant) and node.value.value is False):
                loose_loads.append(path.relative_to(SOURCE).as_posix())
    assert sorted(set(importers)) == ["io/torch.py"]
    assert writers == [] and loose_loads == []
    source = (SOURCE / "io" / "torch.py").read_text(encoding="utf-8")
    assert "pickle.load(" not in source and "pickle.loads(" not in source   # only its own Unpickler subclass


def _members(data: bytes):
    """(name, bytes) of the file and, for a zip, of every member (and every member of a member .npz)."""
    yield "", data
    if data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for name in archive.namelist():
                yield from ((f"{name}/{inner}", value) for inner, value in _members(archive.read(name)))


@pytest.mark.parametrize("name", ["m.clearconv", "w.weights.clearconv", "m.keras", "m.weights.h5", "m.onnx"])
def test_no_writer_writes_a_pickle(tmp_path, name):
    if name.endswith((".keras", ".h5")):
        pytest.importorskip("h5py")
    if name.endswith(".onnx"):
        pytest.importorskip("onnx")
    model = Sequential([L.Input((6, 6, 1)), L.Conv2D(2, 3), L.BatchNormalization(), L.Flatten(), L.Dense(3)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.ones((4, 6, 6, 1), "float32"), np.ones((4, 3), "float32"), epochs=1, verbose=0)
    path = tmp_path / name
    if ".weights." in name:
        model.save_weights(path)
    else:
        model.save(path)
    for member, data in _members(path.read_bytes()):
        assert not data.startswith(PICKLE_HEADERS), f"{name}: {member or 'the file'} is a pickle"
        if member.endswith(".npz"):
            with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
                assert all(arrays[key].dtype != object for key in arrays.files)
