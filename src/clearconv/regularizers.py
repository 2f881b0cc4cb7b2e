"""Weight penalties with Keras 3's names and formulas.

``regularizer(x) -> scalar`` is added to the training loss. ``x`` may be a
NumPy array or a clearconv :class:`~clearconv.autograd.Tensor`: the penalties
use only ``abs(x)``, ``x * x``, ``.sum()`` and multiplication by a float, so on
a Tensor the result is a Tensor that carries the gradient.

L2 is ``l2 * sum(x^2)`` with **no** factor 1/2 (Keras's convention; PyTorch's
``weight_decay=wd`` corresponds to ``l2 = wd / 2``).

The penalty has x's float dtype: the factor is cast to it before it multiplies
the sum (NumPy < 2 computes a float32 scalar times a Python float in float64).
"""

from __future__ import annotations

import math

import numpy as np

from . import utils
from .serialization_lib import Catalog


def _penalty_factor(value, name: str, default: float) -> float:
    """A finite, non-negative float (None -> default), as Keras validates them."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) \
            or not math.isfinite(value) or value < 0:
        raise ValueError(f"Invalid value for argument {name}: expected a non-negative float; "
                         f"received {name}={value!r}")
    return float(value)


def _in_dtype_of(x, factor: float):
    """``factor`` as a scalar of x's float dtype (a Python float for other inputs)."""
    dtype = getattr(x, "dtype", None)
    return dtype.type(factor) if dtype is not None and np.issubdtype(dtype, np.floating) else factor


def _zero_like(x):
    """A constant 0 in x's dtype, for a regularizer with no active term."""
    return np.zeros((), dtype=getattr(x, "dtype", np.float64))


class Regularizer(utils.Configurable):
    """Base class: ``__call__(x) -> scalar penalty``, ``get_config``/``from_config``."""

    def __call__(self, x):
        return _zero_like(x)


class L1(Regularizer):
    """l1 * sum(|x|)."""

    def __init__(self, l1=0.01):
        self.l1 = _penalty_factor(l1, "l1", 0.01)

    def __call__(self, x):
        return abs(x).sum() * _in_dtype_of(x, self.l1)  # the Tensor (or array) on the left keeps the tape

    def get_config(self) -> dict:
        return {"l1": self.l1}


class L2(Regularizer):
    """l2 * sum(x^2)."""

    def __init__(self, l2=0.01):
        self.l2 = _penalty_factor(l2, "l2", 0.01)

    def __call__(self, x):
        return (x * x).sum() * _in_dtype_of(x, self.l2)

    def get_config(self) -> dict:
        return {"l2": self.l2}


class L1L2(Regularizer):
    """l1 * sum(|x|) + l2 * sum(x^2); a term whose factor is 0 is not computed.

    Defaults are l1 = l2 = 0.0, so ``L1L2()``, ``l1_l2()`` and the name "l1l2"
    give a zero penalty, as in Keras. The name "l1_l2" gives l1 = l2 = 0.01:
    Keras's L1L2 docstring promises that string with those values, although
    ``keras.regularizers.get("l1_l2")`` itself raises; we honour the docstring.
    """

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _penalty_factor(l1, "l1", 0.0)
        self.l2 = _penalty_factor(l2, "l2", 0.0)

    def __call__(self, x):
        terms = []
        if self.l1:
            terms.append(abs(x).sum() * _in_dtype_of(x, self.l1))
        if self.l2:
            terms.append((x * x).sum() * _in_dtype_of(x, self.l2))
        if not terms:
            return _zero_like(x)
        return terms[0] if len(terms) == 1 else terms[0] + terms[1]

    def get_config(self) -> dict:
        return {"l1": self.l1, "l2": self.l2}


# Keras exports the classes under lowercase names too: regularizers.l1_l2(l1=..., l2=...).
l1, l2, l1_l2 = L1, L2, L1L2

_CLASSES = (L1, L2, L1L2)

# Strings accepted by get: class names, their Keras snake_case forms ("l1l2"), and "l1_l2".
ALL_OBJECTS: dict[str, type] = {
    **{cls.__name__: cls for cls in _CLASSES},
    **{utils.snake_case(cls.__name__): cls for cls in _CLASSES},
    "l1_l2": L1L2,
}
_NAME_ARGUMENTS = {"l1_l2": {"l1": 0.01, "l2": 0.01}}


# Any class is instantiated (base None): Keras accepts a regularizer class of your own that does not
# derive from Regularizer.
CATALOG = Catalog("regularizer", ALL_OBJECTS, build=lambda name, cls: cls(**_NAME_ARGUMENTS.get(name, {})))


def get(identifier, custom_objects=None):
    """A regularizer from None, a name, a config dict, a class, an instance or a callable.

    Unknown names raise ValueError listing the valid ones.
    """
    return CATALOG.get(identifier, custom_objects)


def serialize(regularizer) -> dict | None:
    """``{"class_name": ..., "config": ...}`` (None for None)."""
    return CATALOG.serialize(regularizer)


def deserialize(config, custom_objects=None):
    """The regularizer described by a :func:`serialize` dict."""
    return CATALOG.deserialize(config, custom_objects)
