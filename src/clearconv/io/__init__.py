"""Reading and writing models: the native file format (more formats join here)."""

from .native import load_model, load_weights, save_model, save_weights
