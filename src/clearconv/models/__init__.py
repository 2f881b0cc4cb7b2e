"""Models: ``Sequential``, the functional ``Model``, and their files and copies."""

from ..io.native import load_model, save_model
from .cloning import clone_model
from .functional import Model
from .sequential import Sequential


def model_from_json(json_string: str, custom_objects=None):
    """Rebuild an architecture from ``model.to_json()`` (new, freshly initialised weights).

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
    with saving.custom_object_scope(custom_objects or {}):
        return layer_from_config(entry)


__all__ = ["Model", "Sequential", "load_model", "save_model", "clone_model", "model_from_json"]
