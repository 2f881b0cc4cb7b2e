"""clearconv's own model file: a zip archive of JSON and ``.npz`` arrays.

Contents of ``model.save(path)``:

    metadata.json        {"format": "clearconv-model", "format_version": 1, ...}
    config.json          the architecture ({"class_name", "config"}) and the compile settings
    weights.npz          one array per weight, "w0000", "w0001", ... in ``model.weights`` order
    optimizer.npz        the optimizer's state (iterations, slots), when saved with it

``save_weights(path)`` writes the same archive without the architecture and
the optimizer. Nothing in the file is executed on load: JSON is parsed,
arrays are read with ``allow_pickle=False`` and layer classes come from a
fixed registry. Every write goes to a temporary file in the target folder
and is renamed over the target only once complete, so an interrupted save
never replaces a good file with a broken one.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile

import numpy as np

FORMAT = "clearconv-model"
WEIGHTS_FORMAT = "clearconv-weights"
FORMAT_VERSION = 1


def _atomic_write(path, write_archive) -> None:
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".clearconv")
    try:
        with os.fdopen(handle, "wb") as file:
            with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_STORED) as archive:
                write_archive(archive)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def _check_overwrite(path, overwrite: bool) -> None:
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"{os.fspath(path)} exists; pass overwrite=True to replace it")


def _arrays_bytes(arrays: dict) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _weights_entry(model) -> dict:
    return {f"w{i:04d}": w.data for i, w in enumerate(model.weights)}


def _check_extension(path) -> None:
    """Refuse the extensions of Keras's own formats: writing clearconv's archive under them would
    give a file that Keras cannot open."""
    name = os.fspath(path).lower()
    for extension, what in ((".keras", "Keras 3's .keras format"), (".h5", "Keras's HDF5 format"),
                            (".hdf5", "Keras's HDF5 format")):
        if name.endswith(extension):
            raise ValueError(f"{os.fspath(path)}: clearconv does not write {what} yet; save to a .clearconv file "
                             f"(clearconv's own format) instead")


def save_model(model, filepath, overwrite: bool = True, include_optimizer: bool = True) -> None:
    """Write architecture, weights and (optionally) optimizer state to ``filepath``."""
    from ..models.serialization import layer_config
    from .. import __version__
    _check_extension(filepath)
    _check_overwrite(filepath, overwrite)
    config = {"model": layer_config(model), "compile": getattr(model, "_compile_config", None)}
    metadata = {"format": FORMAT, "format_version": FORMAT_VERSION, "clearconv_version": __version__,
                "weights": [[w.path, list(w.shape), str(w.dtype)] for w in model.weights]}
    optimizer = getattr(model, "optimizer", None) if include_optimizer else None

    def write(archive):
        archive.writestr("metadata.json", json.dumps(metadata, indent=1))
        archive.writestr("config.json", json.dumps(config, indent=1))
        archive.writestr("weights.npz", _arrays_bytes(_weights_entry(model)))
        if optimizer is not None and getattr(model, "compiled", False):
            archive.writestr("optimizer.npz", _arrays_bytes(optimizer.get_state()))
    _atomic_write(filepath, write)


def save_weights(model, filepath, overwrite: bool = True) -> None:
    """Write only the weights (in ``model.weights`` order) to ``filepath``."""
    _check_extension(filepath)
    _check_overwrite(filepath, overwrite)
    metadata = {"format": WEIGHTS_FORMAT, "format_version": FORMAT_VERSION,
                "weights": [[w.path, list(w.shape), str(w.dtype)] for w in model.weights]}

    def write(archive):
        archive.writestr("metadata.json", json.dumps(metadata, indent=1))
        archive.writestr("weights.npz", _arrays_bytes(_weights_entry(model)))
    _atomic_write(filepath, write)


class _Archive:
    """A validated, read-only view of a clearconv file; errors name the file and the problem."""

    def __init__(self, path, expected_formats):
        self.path = os.fspath(path)
        if not os.path.exists(self.path):
            raise FileNotFoundError(f"{self.path}: no such model file")
        try:
            self.zip = zipfile.ZipFile(self.path)
            self.names = set(self.zip.namelist())
            self.metadata = self.json("metadata.json")
        except (zipfile.BadZipFile, OSError, EOFError) as error:
            raise ValueError(f"{self.path}: not a clearconv model file, or it is truncated or corrupt ({error})") \
                from None
        if self.metadata.get("format") not in expected_formats and "model.weights.h5" in self.names:
            raise ValueError(f"{self.path}: a Keras 3 .keras file; clearconv does not read Keras's file formats "
                             f"yet, only its own .clearconv files")
        if self.metadata.get("format") not in expected_formats:
            raise ValueError(f"{self.path}: format {self.metadata.get('format')!r} is not one of {expected_formats}")
        if self.metadata.get("format_version", 0) > FORMAT_VERSION:
            raise ValueError(f"{self.path}: format version {self.metadata['format_version']} is newer than this "
                             f"clearconv reads ({FORMAT_VERSION}); upgrade clearconv")

    def json(self, name: str) -> dict:
        if name not in self.names:
            raise ValueError(f"{self.path}: corrupt model file: {name} is missing")
        try:
            return json.loads(self.zip.read(name).decode("utf-8"))
        except (ValueError, zipfile.BadZipFile, OSError, EOFError) as error:
            raise ValueError(f"{self.path}: corrupt model file: cannot read {name} ({error})") from None

    def arrays(self, name: str) -> dict:
        if name not in self.names:
            raise ValueError(f"{self.path}: corrupt model file: {name} is missing")
        try:
            with np.load(io.BytesIO(self.zip.read(name)), allow_pickle=False) as data:
                return {key: data[key] for key in data.files}
        except (ValueError, zipfile.BadZipFile, OSError, EOFError) as error:
            raise ValueError(f"{self.path}: corrupt model file: cannot read {name} ({error})") from None

    def weights(self) -> list:
        arrays = self.arrays("weights.npz")
        expected = self.metadata.get("weights", [])
        if len(arrays) != len(expected):
            raise ValueError(f"{self.path}: corrupt model file: {len(arrays)} weight arrays, metadata lists "
                             f"{len(expected)}")
        return [arrays[f"w{i:04d}"] for i in range(len(arrays))]


def _assign(model, weights, path) -> None:
    variables = model.weights
    if len(variables) != len(weights):
        raise ValueError(f"{path}: holds {len(weights)} weights; the model has {len(variables)}")
    for variable, value in zip(variables, weights):
        if tuple(variable.shape) != tuple(value.shape):
            raise ValueError(f"{path}: weight for {variable.path} has shape {value.shape}; the model expects "
                             f"{variable.shape}")
        variable.assign(value)


def load_model(filepath, custom_objects=None, compile: bool = True, safe_mode: bool = True):
    """Rebuild a model saved with ``model.save``: architecture, weights and, if saved, optimizer state.

    ``custom_objects``: name -> class (or function) for objects of your own that the file names
    (see :mod:`clearconv.saving`). ``safe_mode`` is accepted for Keras's signature; loading is
    always safe here, since a file never carries code.
    """
    from .. import saving
    from ..models.serialization import layer_from_config
    if custom_objects is not None and not isinstance(custom_objects, dict):
        raise TypeError(f"load_model: `custom_objects` must be a dict of name -> object; received "
                        f"{type(custom_objects).__name__}")
    archive = _Archive(filepath, (FORMAT,))
    config = archive.json("config.json")
    with saving.custom_object_scope(custom_objects or {}):
        model = layer_from_config(config["model"])
    _assign(model, archive.weights(), archive.path)
    compile_config = config.get("compile")
    if compile and compile_config:
        from .. import optimizers
        model.compile(optimizer=optimizers.deserialize(compile_config["optimizer"]),
                      loss=compile_config["loss"] if len(compile_config["loss"]) > 1 else compile_config["loss"][0],
                      metrics=compile_config.get("metrics"), loss_weights=compile_config.get("loss_weights"),
                      weighted_metrics=compile_config.get("weighted_metrics"))
        if "optimizer.npz" in archive.names:
            model.optimizer.set_state(archive.arrays("optimizer.npz"), model.trainable_weights)
    return model


def load_weights(model, filepath) -> None:
    """Load weights written by ``save_weights`` or ``save`` into a model of the same architecture."""
    archive = _Archive(filepath, (FORMAT, WEIGHTS_FORMAT))
    _assign(model, archive.weights(), archive.path)
