"""Which format a model file is in, and the one place that sends each file to its reader or writer.

``load_model``, ``load_weights``, ``save_model`` and ``save_weights`` (what ``Model.save``,
``Model.save_weights``, ``Model.load_weights``, ``clearconv.models.load_model`` and the command line call)
pick the format here:

* reading, by the file's first bytes (its name is only a hint, as files get renamed):

  ================================  =================================================  ==========================
  first bytes                       format                                             reader
  ================================  =================================================  ==========================
  zip holding ``weights.npz``       clearconv's own (``.clearconv``)                   :mod:`.native`
  zip holding ``model.weights.h5``  Keras 3 (``.keras``)                               :mod:`.keras`
  zip holding ``data.pkl``          a ``torch.save`` state_dict (weights only)         :mod:`.torch`
  ``\\x89HDF\\r\\n\\x1a\\n``             Keras HDF5: legacy ``.h5`` model, ``.weights.h5``  :mod:`.keras`
  8-byte length, then ``{``         safetensors (weights only)                         :mod:`.torch`
  a name ending in ``.onnx``        ONNX (protobuf has no signature of its own)        :mod:`.onnx`
  ================================  =================================================  ==========================

* writing, by the name's extension: ``.keras`` Keras 3, ``.weights.h5`` Keras's weights layout, ``.onnx`` ONNX
  (``save_model`` only), anything else clearconv's own format.

Every reader keeps the contract of :mod:`clearconv.io.errors`: a working model, or a
:class:`~clearconv.io.errors.ModelFileError` (or the OS's own error when the file cannot be opened).
"""

from __future__ import annotations

import os
import struct

from .archive import open_regular_file
from .errors import ModelFileError
from .writing import check_overwrite

NATIVE, KERAS, KERAS_H5, TORCH, SAFETENSORS, ONNX = "clearconv", "keras", "keras-h5", "torch", "safetensors", "onnx"
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06")
_SAFETENSORS_MAX_HEADER = 100 * 1024 * 1024   # a header of this many bytes would list millions of tensors
WEIGHTS_ONLY = (TORCH, SAFETENSORS)
_EXPECTED = ("expected clearconv's own format (a zip holding weights.npz), a Keras .keras (a zip holding "
             "model.weights.h5) or .h5 file, an ONNX file (named .onnx), a torch.save state_dict or a safetensors file")


def _zip_kind(path):
    """(format, members) of a zip archive by the members it holds: format None when they match no format,
    members None when the archive cannot be listed (the format's reader then says what is wrong)."""
    import zipfile
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError):
        return None, None
    if "weights.npz" in names or "metadata.json" in names and "model.weights.h5" not in names:
        return NATIVE, names
    if "model.weights.h5" in names:
        return KERAS, names
    if any(name == "data.pkl" or name.endswith("/data.pkl") for name in names):
        return TORCH, names
    return None, names


def file_format(path) -> str:
    """The format of the model or weights file ``path`` (see the module docstring); ModelFileError when the
    first bytes match none of them."""
    with open_regular_file(path) as file:
        head = file.read(16)
    name = os.fspath(path)
    if head.startswith(_ZIP_SIGNATURES):
        kind, members = _zip_kind(path)
        if kind is not None:
            return kind
        if members is None:   # a damaged archive: the reader its name points to says what is wrong
            return KERAS if name.lower().endswith(".keras") else NATIVE
        raise ModelFileError(path, "", f"a zip archive of {', '.join(sorted(members)[:8]) or 'no members'}: "
                                       f"{_EXPECTED}")
    if head.startswith(_HDF5_SIGNATURE):
        return KERAS_H5
    if name.lower().endswith(".onnx"):   # protobuf has no signature: the name says it
        return ONNX
    if len(head) >= 9 and head[8:9] == b"{":
        (length,) = struct.unpack("<Q", head[:8])
        if 2 <= length <= _SAFETENSORS_MAX_HEADER:
            return SAFETENSORS
    raise ModelFileError(path, "", f"not a model file clearconv reads: {_EXPECTED}")


def _refuse_weights_only(path, kind: str):
    raise ModelFileError(path, "", f"a {'torch.save state_dict' if kind == TORCH else 'safetensors file'} holds "
                                   f"weights without an architecture: build the model, then "
                                   f"clearconv.io.load_torch_state_dict(model, path) (or model.load_weights(path))")


def load_model(filepath, custom_objects=None, compile: bool = True, safe_mode: bool = True):
    """The model in ``filepath``, whatever its format (see the module docstring).

    ``custom_objects``: name -> class (or function) for objects of your own that the file names (see
    :mod:`clearconv.saving`). ``safe_mode`` is accepted for Keras's signature: loading never runs code from
    a file, whatever its format. ``compile``: restore the optimizer, loss and metrics the file holds.
    """
    kind = file_format(filepath)
    if kind == NATIVE:
        from .native import load_model as load
        return load(filepath, custom_objects=custom_objects, compile=compile, safe_mode=safe_mode)
    if kind in (KERAS, KERAS_H5):
        from .keras import load_keras
        return load_keras(filepath, custom_objects=custom_objects, compile=compile, safe_mode=safe_mode)
    if kind == ONNX:
        from .onnx import import_onnx
        return import_onnx(filepath)
    _refuse_weights_only(filepath, kind)


def load_weights(model, filepath) -> None:
    """Load the weights in ``filepath`` into ``model`` (clearconv's own files, Keras ``.weights.h5`` and
    ``.keras`` files, ``torch.save`` state_dicts and safetensors files, converting PyTorch's layouts).
    Every array is checked before any weight changes."""
    kind = file_format(filepath)
    if kind == NATIVE:
        from .native import load_weights as load
        load(model, filepath)
    elif kind in (KERAS, KERAS_H5):
        from .keras import load_keras_weights
        load_keras_weights(model, filepath)
    elif kind in WEIGHTS_ONLY:
        from .torch import load_torch_state_dict
        load_torch_state_dict(model, filepath)
    else:
        raise ModelFileError(filepath, "", "an ONNX file holds a whole model: clearconv.io.import_onnx(path) or "
                                           "clearconv.models.load_model(path) reads it")


def _extension(filepath) -> str:
    name = os.fspath(filepath).lower()
    for extension in (".weights.h5", ".keras", ".h5", ".hdf5", ".onnx"):
        if name.endswith(extension):
            return extension
    return ""


def check_file_name(filepath, what: str) -> str:
    """The extension of ``filepath`` (see :func:`_extension`) if a save of ``what`` (``"model"`` or
    ``"weights"``) writes that format, else ValueError saying what it writes. :func:`save_model` and
    :func:`save_weights` check this first; a data-parallel process that leaves the write to rank 0 checks
    it alone, so a wrong name fails on every process."""
    extension = _extension(filepath)
    if what == "model" and extension in (".weights.h5", ".h5", ".hdf5"):
        raise ValueError(f"{os.fspath(filepath)}: model.save writes whole models as .keras (Keras 3), .onnx or "
                         f".clearconv files; Keras's legacy HDF5 model format is read, not written "
                         f"(model.save_weights writes .weights.h5)")
    if what == "weights" and extension in (".keras", ".h5", ".hdf5", ".onnx"):
        raise ValueError(f"{os.fspath(filepath)}: save_weights writes .weights.h5 (Keras's layout) or clearconv's "
                         f"own format (such as .weights.clearconv); model.save writes .keras and .onnx files")
    return extension


def save_model(model, filepath, overwrite: bool = True, include_optimizer: bool = True) -> None:
    """Write ``model`` to ``filepath`` in the format its extension names: ``.keras`` a Keras 3 file that Keras
    loads, ``.onnx`` an ONNX graph (:func:`clearconv.io.onnx.export_onnx`), anything else clearconv's own
    format (architecture, weights, optimizer state, random state: :mod:`.native`)."""
    extension = check_file_name(filepath, "model")
    check_overwrite(filepath, overwrite)
    if extension == ".keras":
        from .keras import save_keras
        save_keras(model, filepath)
    elif extension == ".onnx":
        from .onnx import export_onnx
        export_onnx(model, filepath)
    else:
        from .native import save_model as save
        save(model, filepath, overwrite=overwrite, include_optimizer=include_optimizer)


def save_weights(model, filepath, overwrite: bool = True) -> None:
    """Write ``model``'s weights: ``.weights.h5`` in Keras 3's layout (Keras's ``load_weights`` reads it),
    anything else in clearconv's own format."""
    extension = check_file_name(filepath, "weights")
    check_overwrite(filepath, overwrite)
    if extension == ".weights.h5":
        from .keras import save_keras_weights
        save_keras_weights(model, filepath)
    else:
        from .native import save_weights as save
        save(model, filepath, overwrite=overwrite)
