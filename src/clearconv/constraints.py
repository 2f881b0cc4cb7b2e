"""Weight constraints with Keras 3's names and formulas.

A constraint maps a weight array to its projection, ``constraint(w) -> w'``
(same shape and dtype); the optimizer applies it after each update.

The norm-based constraints take the L2 norm of ``w`` along ``axis`` (an int or
a tuple of ints): for a Dense kernel (in, out), ``axis=0`` is the norm of each
unit's incoming weights; for a Conv2D kernel (kh, kw, in, out), use
``axis=(0, 1, 2)`` for each filter. As in Keras, the rescaling divides by
``norm + epsilon`` (``clearconv.config.epsilon()``, 1e-7 unless set), so
results are off by a relative ~1e-7 from an exact projection and a zero
column stays zero.
"""

from __future__ import annotations

import numpy as np

from . import config, utils
from .serialization_lib import Catalog


def _axis(axis):
    """Keras allows a list of axes; NumPy reductions need a tuple."""
    return tuple(axis) if isinstance(axis, list) else axis


def _norms(w: np.ndarray, axis) -> np.ndarray:
    """sqrt(sum(w^2)) along ``axis``, kept as size-1 axes so it broadcasts against w."""
    return np.sqrt(np.sum(w * w, axis=_axis(axis), keepdims=True))


class Constraint(utils.Configurable):
    """Base class: ``__call__(w) -> w`` (identity), ``get_config``/``from_config``."""

    def __call__(self, w: np.ndarray) -> np.ndarray:
        return w


class MaxNorm(Constraint):
    """Rescale slices whose norm exceeds ``max_value``: w * min(norm, max_value) / (epsilon + norm)."""

    def __init__(self, max_value=2, axis=0):
        self.max_value = max_value
        self.axis = axis

    def __call__(self, w: np.ndarray) -> np.ndarray:
        w = np.asarray(w)
        norms = _norms(w, self.axis)
        return w * (np.clip(norms, 0, self.max_value) / (config.epsilon() + norms))

    def get_config(self) -> dict:
        return {"max_value": self.max_value, "axis": self.axis}


class NonNeg(Constraint):
    """max(w, 0)."""

    def __call__(self, w: np.ndarray) -> np.ndarray:
        return np.maximum(np.asarray(w), 0)


class UnitNorm(Constraint):
    """w / (epsilon + norm): each slice along ``axis`` gets (almost) unit norm."""

    def __init__(self, axis=0):
        self.axis = axis

    def __call__(self, w: np.ndarray) -> np.ndarray:
        w = np.asarray(w)
        return w / (config.epsilon() + _norms(w, self.axis))

    def get_config(self) -> dict:
        return {"axis": self.axis}


class MinMaxNorm(Constraint):
    """Move each slice's norm towards [min_value, max_value].

    desired = rate * clip(norm, min_value, max_value) + (1 - rate) * norm;
    w' = w * desired / (epsilon + norm). rate = 1 enforces the bounds strictly.
    """

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value = min_value
        self.max_value = max_value
        self.rate = rate
        self.axis = axis

    def __call__(self, w: np.ndarray) -> np.ndarray:
        w = np.asarray(w)
        norms = _norms(w, self.axis)
        desired = self.rate * np.clip(norms, self.min_value, self.max_value) + (1 - self.rate) * norms
        return w * (desired / (config.epsilon() + norms))

    def get_config(self) -> dict:
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate,
                "axis": self.axis}


# Keras exports the classes under snake_case names too (keras.constraints.max_norm).
max_norm, non_neg, unit_norm, min_max_norm = MaxNorm, NonNeg, UnitNorm, MinMaxNorm

_CLASSES = (MaxNorm, NonNeg, UnitNorm, MinMaxNorm)

# Strings accepted by get: the class names and their snake_case forms.
ALL_OBJECTS: dict[str, type] = {
    **{cls.__name__: cls for cls in _CLASSES},
    **{utils.snake_case(cls.__name__): cls for cls in _CLASSES},
}


# Any class is instantiated (base None): Keras accepts a class of your own that does not derive from the base.
CATALOG = Catalog("constraint", ALL_OBJECTS)


def get(identifier, custom_objects=None):
    """A constraint from None, a name, a config dict, a class, an instance or a callable.

    Unknown names raise ValueError listing the valid ones.
    """
    return CATALOG.get(identifier, custom_objects)


def serialize(constraint) -> dict | None:
    """``{"class_name": ..., "config": ...}`` (None for None)."""
    return CATALOG.serialize(constraint)


def deserialize(config, custom_objects=None):
    """The constraint described by a :func:`serialize` dict."""
    return CATALOG.deserialize(config, custom_objects)
