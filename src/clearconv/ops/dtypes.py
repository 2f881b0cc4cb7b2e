"""Which dtype an op returns: Keras 3's promotion rules, keeping 64-bit types.

Keras (like JAX) promotes along a lattice rather than NumPy's table, so

* an integer array with a float array gives that float (int64 + float32 is
  float32, where NumPy says float64);
* Python numbers are *weak*: they take the other operand's kind and width
  (float16 array + 2.5 is float16, int8 array + 3 is int8), and on their own
  an int is int32 and a float is ``floatx()`` (float32 unless
  :func:`clearconv.config.set_floatx` changed it);
* an integer array with a Python float gives ``floatx()``;
* uint64 with a signed integer has no integer able to hold both: float32.

One difference from Keras's JAX and NumPy backends, which map every 64-bit
result to 32 bits: int64 and float64 stay 64-bit here (as in Keras's
TensorFlow backend), so float64 computations, and gradient checks in float64,
keep their precision.
"""

from __future__ import annotations

import functools

import numpy as np

from ..config import floatx

DEFAULT_INT = "int32"

# The promotion lattice: each type points at the types directly above it. "int" and
# "float" stand for Python's weak int and float. Every type reaches "float64".
_ABOVE = {
    "bool": ("int",),
    "int": ("uint8", "int8"),
    "uint8": ("uint16", "int16"),
    "uint16": ("uint32", "int32"),
    "uint32": ("uint64", "int64"),
    "uint64": ("float",),
    "int8": ("int16",),
    "int16": ("int32",),
    "int32": ("int64",),
    "int64": ("float",),
    "float": ("float16",),
    "float16": ("float32",),
    "float32": ("float64",),
    "float64": (),
}


def _reachable(node: str) -> frozenset:
    """Every type at or above ``node`` on the lattice."""
    seen, stack = {node}, [node]
    while stack:
        for parent in _ABOVE[stack.pop()]:
            if parent not in seen:
                seen.add(parent)
                stack.append(parent)
    return frozenset(seen)


_UPPER = {node: _reachable(node) for node in _ABOVE}


@functools.lru_cache(maxsize=512)
def _join(nodes: frozenset) -> str:
    """The least upper bound of ``nodes``: the common upper bound below every other one."""
    common = frozenset.intersection(*(_UPPER[n] for n in nodes))
    return next(c for c in common if common <= _UPPER[c])


def standardize_dtype(dtype) -> str:
    """A dtype's name ("float32", "int64", "bool"); Python's int/float give "int32"/"float32".

    Raises ValueError naming the accepted dtypes for anything else.
    """
    if dtype is None:
        return floatx()
    if dtype is int:
        return DEFAULT_INT
    if dtype is float:
        return floatx()
    if dtype is bool:
        return "bool"
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = None
    if name not in _ABOVE or name in ("int", "float"):
        raise ValueError(f"dtype must be one of {sorted(n for n in _ABOVE if n not in ('int', 'float'))}; "
                         f"received dtype={dtype!r}")
    return name


def _node(value) -> str:
    """The lattice node of a value: a Python number is weak; an array or Tensor has its dtype."""
    if value is int or value is float:  # Python's number types stand for weak values, as in Keras
        return value.__name__
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, (np.dtype, str, type)):
        return standardize_dtype(value)
    dtype = getattr(value, "dtype", None)
    if dtype is None:
        dtype = python_dtype(value)
    return standardize_dtype(dtype)


def result_type(*values) -> str:
    """The dtype of an op combining ``values`` (arrays, Tensors, Python numbers or dtypes;
    the types ``int`` and ``float`` stand for weak Python numbers).

    A lone weak type resolves to int32/floatx; no values gives floatx.
    """
    if not values:
        return floatx()
    joined = _join(frozenset(_node(v) for v in values))
    return {"int": DEFAULT_INT, "float": floatx()}.get(joined, joined)


def float_type(*values) -> str:
    """The dtype of a float-valued op (sqrt, mean, divide...): the promoted type if it is
    floating, else floatx (integers and booleans give float32 by default)."""
    joined = result_type(*values)
    return joined if joined.startswith("float") else floatx()


def is_float(dtype) -> bool:
    return np.dtype(dtype).kind == "f"


def is_int(dtype) -> bool:
    return np.dtype(dtype).kind in "iu"


def python_dtype(value) -> str:
    """Keras's dtype for a Python value (number or nested list): bool, int32 or floatx."""
    array = np.asarray(value)
    if array.dtype.kind == "b":
        return "bool"
    if array.dtype.kind in "iu":
        info = np.iinfo(DEFAULT_INT)  # values too large for int32 keep NumPy's 64-bit type
        fits = array.size == 0 or (info.min <= array.min() and array.max() <= info.max)
        return DEFAULT_INT if fits else array.dtype.name
    if array.dtype.kind == "f":
        return floatx()
    raise TypeError(f"expected numbers (or nested lists of numbers); received {value!r} of dtype {array.dtype}")
