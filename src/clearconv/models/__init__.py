"""Models: ``Sequential``, the functional ``Model``, and ``load_model``."""

from ..io.native import load_model
from .functional import Model
from .sequential import Sequential

__all__ = ["Model", "Sequential", "load_model"]
