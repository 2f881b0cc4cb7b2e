"""Keras's ``keras.saving``: custom objects, whole-model files and weights files.

    @register_keras_serializable(package="my_package")
    class Scale(Layer):
        ...

A registered class (or function) is saved under its registered name,
``"my_package>Scale"``, and found again by that name when a model is loaded.
Loading never imports or runs anything named by the file: a name resolves
only to a clearconv class or to an object registered here or passed as
``custom_objects``.
"""

from __future__ import annotations

import contextlib

_REGISTERED: dict = {}        # registered name -> object
_NAMES: dict = {}             # id(object) -> registered name
_SCOPES: list[dict] = []      # custom_object_scope / load_model(custom_objects=...) in force


def register_keras_serializable(package: str = "Custom", name: str | None = None):
    """Class or function decorator: save the object as ``"package>name"`` and find it on load.

    A class must have ``get_config`` (and ``from_config`` when its config is not its
    constructor's arguments), as in Keras.
    """
    if not isinstance(package, str) or ">" in package:
        raise ValueError(f"register_keras_serializable: `package` must be a string without '>'; received "
                         f"{package!r}")

    def decorate(obj):
        registered = f"{package}>{name or obj.__name__}"
        if isinstance(obj, type) and not hasattr(obj, "get_config"):
            raise ValueError(f"register_keras_serializable: {obj.__name__} has no get_config(); a class needs one "
                             f"to be serialized")
        _REGISTERED[registered] = obj
        _NAMES[id(obj)] = registered
        return obj
    return decorate


def get_registered_name(obj) -> str:
    """The name ``obj`` is saved under: its registered name, else its own ``__name__``."""
    return _NAMES.get(id(obj), getattr(obj, "__name__", type(obj).__name__))


def get_registered_object(name: str, custom_objects=None, module_objects=None):
    """The object saved as ``name``: from ``custom_objects``, an open scope, the registry, then
    ``module_objects``; None when none has it."""
    for table in (custom_objects or {}, *reversed(_SCOPES), _REGISTERED, module_objects or {}):
        if name in table:
            return table[name]
    return None


def get_custom_objects() -> dict:
    """The global registry (registered name -> object); entries added here are found on load."""
    return _REGISTERED


@contextlib.contextmanager
def custom_object_scope(custom_objects: dict):
    """Within the block, names in ``custom_objects`` resolve to its objects when loading."""
    if not isinstance(custom_objects, dict):
        raise TypeError(f"custom_object_scope: `custom_objects` must be a dict of name -> object; received "
                        f"{type(custom_objects).__name__}")
    _SCOPES.append(dict(custom_objects))
    try:
        yield
    finally:
        _SCOPES.pop()


CustomObjectScope = custom_object_scope


def save_model(model, filepath, overwrite: bool = True, **kwargs) -> None:
    """``model.save(filepath)``: see :meth:`clearconv.models.Model.save`."""
    model.save(filepath, overwrite=overwrite, **kwargs)


def load_model(filepath, custom_objects=None, compile: bool = True, safe_mode: bool = True):
    """Rebuild a saved model (clearconv's, Keras's or ONNX; see :func:`clearconv.io.load_model`). A file it
    cannot load raises :class:`clearconv.io.ModelFileError` (a ValueError naming the file, the member and the
    reason)."""
    from .io import load_model as load
    return load(filepath, custom_objects=custom_objects, compile=compile, safe_mode=safe_mode)


def save_weights(model, filepath, overwrite: bool = True) -> None:
    """``model.save_weights(filepath)``: ``.weights.h5`` in Keras 3's layout, other names clearconv's own."""
    model.save_weights(filepath, overwrite=overwrite)


def load_weights(model, filepath) -> None:
    """``model.load_weights(filepath)``: Keras, clearconv and PyTorch weights files (see
    :func:`clearconv.io.load_weights`)."""
    model.load_weights(filepath)
