"""clearconv's own model file: a zip archive of JSON and ``.npz`` arrays.

Contents of ``model.save(path)``:

    metadata.json        {"format": "clearconv-model", "format_version": 1, "weights": [[path, shape, dtype]...]}
    config.json          the architecture ({"class_name", "config"}) and the compile settings
    weights.npz          one array per weight, "w0000", "w0001", ... in ``model.weights`` order
    optimizer.npz        the optimizer's state (iterations, slots), when saved with it
    random_state.json    the generators training draws from (see :mod:`clearconv.io.random_state`)

``save_weights(path)`` writes metadata and weights only. Nothing in the file
is executed on load: JSON is parsed, arrays of numbers are read (never
pickles) and layer classes come from a fixed registry. Every write goes to a
temporary file in the target folder, gets the file mode a plain write would
give (the mode of the file it replaces, else 0o666 less the umask), and is
renamed over the target only once complete, so an interrupted save never
replaces a good file with a broken one; on any failure (Ctrl-C included) the
temporary file is removed, and an OSError names the target.

Loading keeps the contract of :mod:`clearconv.io.errors`: a working model, or
a ModelFileError naming the file, the member and what is wrong (or the OS's
FileNotFoundError, IsADirectoryError, PermissionError when the file cannot be
opened). In order, it reads (:mod:`clearconv.io.archive`) and checks
(:mod:`clearconv.io.validation`) the metadata and the config, builds the model
without initialising or allocating its weights
(:func:`clearconv.layers.base.weights_from_file`), checks that every tensor of
the model has a size ``predict`` can run, checks the stored arrays' declared
shapes and dtypes against the model's weights before reading them, then their
values (finite, no negative variance), then the optimizer state. Loading
draws nothing from the global generator and leaves it as it was.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import zipfile

import numpy as np

from . import random_state, validation
from .archive import NPY_HEADER_BYTES, NPY_OVERHEAD_BYTES, WEIGHTS_MAX_RATIO, ZipArchive, open_regular_file
from .errors import ModelFileError
from .writing import atomic_file, check_overwrite

FORMAT = "clearconv-model"
WEIGHTS_FORMAT = "clearconv-weights"
FORMAT_VERSION = 1
OPTIMIZER_SLOTS = 4   # the most per-variable slots an optimizer keeps (Adam with amsgrad has 3)


# --------------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------------

def _atomic_write(path, write_archive) -> None:
    """Write a zip archive (stored members) at ``path`` through :func:`.writing.atomic_file`."""
    with atomic_file(path) as file:
        with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_STORED) as archive:
            write_archive(archive)


def _arrays_bytes(arrays: dict) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _weights_entry(model) -> dict:
    return {f"w{i:04d}": w.data for i, w in enumerate(model.weights)}


def _check_extension(path) -> None:
    """Refuse the extensions of other formats: clearconv's archive under those names would be a file that
    the other library cannot open (:mod:`.formats` sends such names to their own writers)."""
    name = os.fspath(path).lower()
    for extension, what in ((".keras", "Keras 3's .keras format"), (".h5", "Keras's HDF5 format"),
                            (".hdf5", "Keras's HDF5 format"), (".onnx", "ONNX")):
        if name.endswith(extension):
            raise ValueError(f"{os.fspath(path)}: the name of {what}, not of clearconv's own format; "
                             f"model.save() and model.save_weights() write each format by its extension")


def save_model(model, filepath, overwrite: bool = True, include_optimizer: bool = True) -> None:
    """Write architecture, weights, (optionally) optimizer state and the random state to ``filepath``."""
    from ..models.serialization import layer_config
    from .. import __version__
    _check_extension(filepath)
    check_overwrite(filepath, overwrite)
    config = {"model": layer_config(model), "compile": getattr(model, "_compile_config", None)}
    metadata = {"format": FORMAT, "format_version": FORMAT_VERSION, "clearconv_version": __version__,
                "weights": [[w.path, list(w.shape), str(w.dtype)] for w in model.weights]}
    optimizer = getattr(model, "optimizer", None) if include_optimizer else None
    randomness = random_state.capture(model)

    def write(archive):
        archive.writestr("metadata.json", json.dumps(metadata, indent=1))
        archive.writestr("config.json", json.dumps(config, indent=1))
        archive.writestr("weights.npz", _arrays_bytes(_weights_entry(model)))
        if optimizer is not None and getattr(model, "compiled", False):
            archive.writestr("optimizer.npz", _arrays_bytes(optimizer.get_state()))
        archive.writestr(random_state.MEMBER, json.dumps(randomness))
    _atomic_write(filepath, write)


def save_weights(model, filepath, overwrite: bool = True) -> None:
    """Write only the weights (in ``model.weights`` order) to ``filepath``."""
    _check_extension(filepath)
    check_overwrite(filepath, overwrite)
    metadata = {"format": WEIGHTS_FORMAT, "format_version": FORMAT_VERSION,
                "weights": [[w.path, list(w.shape), str(w.dtype)] for w in model.weights]}

    def write(archive):
        archive.writestr("metadata.json", json.dumps(metadata, indent=1))
        archive.writestr("weights.npz", _arrays_bytes(_weights_entry(model)))
    _atomic_write(filepath, write)


# --------------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------------

def _array_allowance(count: int) -> int:
    """Bytes an .npz may hold beyond its arrays' data: one .npy header and zip entry per array."""
    return (count + 1) * (NPY_HEADER_BYTES + NPY_OVERHEAD_BYTES)


class _ModelFile:
    """An open clearconv file whose metadata has been checked; each part is read and checked on demand."""

    def __init__(self, path, formats: tuple):
        self.path = os.fspath(path)
        self._file = open_regular_file(self.path)
        try:
            self.archive = ZipArchive(self.path, self._file)
            if "model.weights.h5" in self.archive.names:
                raise ModelFileError(self.path, "", "a Keras 3 .keras file; clearconv does not read Keras's file "
                                                    "formats yet, only its own .clearconv files")
            metadata = self.json("metadata.json")
            if isinstance(metadata, dict) and metadata.get("format") == WEIGHTS_FORMAT and FORMAT in formats \
                    and WEIGHTS_FORMAT not in formats:
                raise ModelFileError(self.path, "metadata.json", "a weights-only file (save_weights): load it "
                                                                 "into a model with model.load_weights(path)")
            self.listed = validation.check_metadata(self.path, metadata, formats, FORMAT_VERSION)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self._file.close()

    def json(self, member: str):
        value = self.archive.json(member)
        if member != random_state.MEMBER:   # its states are 128-bit integers, checked by random_state
            validation.check_numbers(self.path, member, value)
        return value

    def config(self) -> dict:
        config = self.json("config.json")
        validation.check_config(self.path, config)
        return config

    def weights(self, model) -> list:
        """The stored arrays for ``model.weights`` (checked shapes, dtypes and values), in their order."""
        member = "weights.npz"
        variables = model.weights
        limit = sum(int(v.size) * v.dtype.itemsize for v in variables) + _array_allowance(len(variables))
        arrays = self.archive.npz(member, limit, max_arrays=len(variables), max_ratio=WEIGHTS_MAX_RATIO)
        keys = validation.check_weight_specs(self.path, member, variables, arrays.specs, self.listed)
        nonnegative = validation.nonnegative_weights(model)
        values = []
        for key, variable in zip(keys, variables):
            value = arrays.read(key)
            validation.check_weight_values(self.path, member, key, variable, value, nonnegative)
            values.append(value)
        return values

    def optimizer_state(self, trainable: list) -> dict:
        member = "optimizer.npz"
        count = OPTIMIZER_SLOTS * len(trainable) + 8
        limit = OPTIMIZER_SLOTS * sum(int(v.size) * v.dtype.itemsize for v in trainable) + _array_allowance(count)
        arrays = self.archive.npz(member, limit, max_arrays=count, max_ratio=WEIGHTS_MAX_RATIO)
        validation.check_optimizer_specs(self.path, member, arrays.specs)
        state = {key: arrays.read(key) for key in arrays.specs}
        validation.check_optimizer_values(self.path, member, state)
        return state


@contextlib.contextmanager
def _opened(path, formats: tuple):
    file = _ModelFile(path, formats)
    try:
        yield file
    finally:
        file.close()


def _build(file: _ModelFile, config: dict, custom_objects: dict):
    """The model of ``config``, its weights placeholders (see weights_from_file) until they are assigned."""
    from .. import saving
    from ..layers.base import weights_from_file
    from ..models.serialization import layer_from_config
    try:
        # weights_from_file also gives the constructors that draw (a SeedGenerator made with seed=None)
        # a private copy of the global generator: the global one is neither advanced nor rewound.
        with saving.custom_object_scope(custom_objects), weights_from_file():
            model = layer_from_config(config["model"])
    except (ValueError, TypeError) as error:   # the layers' own checks of their arguments
        raise ModelFileError(file.path, "config.json", f"cannot build the model: {error}") from error
    from ..models.functional import Model
    if not isinstance(model, Model):
        raise ModelFileError(file.path, "config.json", f"the architecture is a {type(model).__name__} layer, not "
                                                       f"a model")
    validation.check_runnable(file.path, model)
    return model


def _compile(file: _ModelFile, model, compile_config: dict) -> None:
    from .. import optimizers
    losses = compile_config["loss"]
    try:
        model.compile(optimizer=optimizers.deserialize(compile_config["optimizer"]),
                      loss=losses if len(losses) > 1 else losses[0], metrics=compile_config.get("metrics"),
                      loss_weights=compile_config.get("loss_weights"),
                      weighted_metrics=compile_config.get("weighted_metrics"))
    except (ValueError, TypeError) as error:   # the optimizer's, losses' and metrics' checks
        raise ModelFileError(file.path, "config.json", f"compile: {error}") from error
    if "optimizer.npz" in file.archive.names:
        state = file.optimizer_state(model.trainable_weights)
        try:
            model.optimizer.set_state(state, model.trainable_weights)
        except ValueError as error:     # keys or shapes that do not fit the model's trainable weights
            raise ModelFileError(file.path, "optimizer.npz", str(error)) from error


def load_model(filepath, custom_objects=None, compile: bool = True, safe_mode: bool = True):
    """Rebuild a model saved with ``model.save``: architecture, weights, the seeded layers' generators and,
    if saved, the optimizer state.

    ``custom_objects``: name -> class (or function) for objects of your own that the file names
    (see :mod:`clearconv.saving`). ``safe_mode`` is accepted for Keras's signature; loading is
    always safe here, since a file never carries code. Raises ModelFileError for a file it cannot
    load (see :mod:`clearconv.io.errors`); the global generator is left as it was (see
    :func:`restore_global_rng` to resume a training in a new process).
    """
    if custom_objects is not None and not isinstance(custom_objects, dict):
        raise TypeError(f"load_model: `custom_objects` must be a dict of name -> object; received "
                        f"{type(custom_objects).__name__}")
    with _opened(filepath, (FORMAT,)) as file:
        config = file.config()
        model = _build(file, config, custom_objects or {})
        for variable, value in zip(model.weights, file.weights(model)):
            variable.data = value   # replaces the placeholder: nothing was allocated for it
        if random_state.MEMBER in file.archive.names:
            pairs = random_state.check(file.path, file.json(random_state.MEMBER), model)
            random_state.restore_layers(pairs)
        if compile and config.get("compile"):
            _compile(file, model, config["compile"])
    return model


def load_weights(model, filepath) -> None:
    """Load weights written by ``save_weights`` or ``save`` into a model of the same architecture.

    Every array is read and checked before any weight changes, so a refused file leaves the model as
    it was. Raises ModelFileError as :func:`load_model` does.
    """
    with _opened(filepath, (FORMAT, WEIGHTS_FORMAT)) as file:
        values = file.weights(model)
    for variable, value in zip(model.weights, values):
        variable.assign(value)


def restore_global_rng(filepath) -> None:
    """Set clearconv's global generator to its state when ``filepath`` was saved by ``model.save``.

    For a training resumed in a new process: ``model = load_model(path)``, ``restore_global_rng(path)``,
    then ``model.fit(...)`` shuffles and drops out exactly as the uninterrupted training would have.
    """
    with _opened(filepath, (FORMAT,)) as file:
        if random_state.MEMBER not in file.archive.names:
            raise ModelFileError(file.path, random_state.MEMBER, "missing: the file was written before clearconv "
                                                                 "saved the random state")
        random_state.restore_global(file.path, file.json(random_state.MEMBER))
