"""Models: ``Sequential``, the functional ``Model``, and their files and copies."""

from .cloning import clone_model
from .functional import Model
from .sequential import Sequential


def load_model(filepath, custom_objects=None, compile: bool = True, safe_mode: bool = True):
    """The model in ``filepath``: clearconv's own files, Keras ``.keras`` and legacy ``.h5`` files and ONNX
    files alike (see :func:`clearconv.io.load_model`). Nothing in a file is ever executed."""
    from ..io import load_model as load
    return load(filepath, custom_objects=custom_objects, compile=compile, safe_mode=safe_mode)


def save_model(model, filepath, overwrite: bool = True, include_optimizer: bool = True) -> None:
    """``model.save(filepath)``: the format by the extension (see :func:`clearconv.io.save_model`)."""
    model.save(filepath, overwrite=overwrite, include_optimizer=include_optimizer)


def model_from_json(json_string: str, custom_objects=None):
    """Rebuild an architecture from ``model.to_json()``, clearconv's or Keras's (Keras 3 and tf.keras 2 forms),
    with new, freshly initialised weights.

    ``custom_objects``: name -> class for layers of your own (see :mod:`clearconv.saving`).
    """
    import json

    from .. import saving
    from .serialization import layer_from_config
    try:
        entry = json.loads(json_string)
    except (TypeError, ValueError) as error:
        raise ValueError(f"model_from_json: `json_string` is not valid JSON ({error})") from None
    if not isinstance(entry, dict) or "class_name" not in entry:
        raise ValueError("model_from_json: the JSON must be an object with 'class_name' and 'config', as written "
                         "by model.to_json()")
    if "clearconv_version" not in entry:   # Keras's form (Keras 3 or tf.keras 2), which to_json also writes
        from ..io.keras import model_from_keras_json
        return model_from_keras_json(json_string, custom_objects)
    with saving.custom_object_scope(custom_objects or {}):
        return layer_from_config(entry)


__all__ = ["Model", "Sequential", "load_model", "save_model", "clone_model", "model_from_json"]
