"""Reading and writing models: the native file format (more formats join here).

Every reader keeps the contract of :mod:`clearconv.io.errors` (a working model
or a :class:`ModelFileError`) and reads through :mod:`clearconv.io.archive`.
"""

from .errors import ModelFileError
from .native import load_model, load_weights, restore_global_rng, save_model, save_weights

__all__ = ["ModelFileError", "load_model", "load_weights", "restore_global_rng", "save_model", "save_weights"]
