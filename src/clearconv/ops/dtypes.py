"""Dtype names and promotion: Keras 3's rules, in one place.

:func:`standardize_dtype` names a dtype as Keras does, and one promotion
lattice (Keras's, which is JAX's) decides the dtype of a result. Two kinds of
callers read them:

* the ops (:mod:`clearconv.ops`) compute in NumPy, so they take only the
  dtypes listed in :data:`OP_DTYPES`, and :func:`result_type` keeps 64-bit
  results (int64 and float64 stay 64-bit, as in Keras's TensorFlow backend),
  so float64 computations, and gradient checks in float64, keep their
  precision;
* :mod:`clearconv.backend` answers ``keras.backend.standardize_dtype`` (every
  name in :data:`ALLOWED_DTYPES`) and ``keras.backend.result_type``
  (:func:`keras_result_type`) as Keras's JAX backend does, which reports a
  64-bit result as its 32-bit counterpart (JAX's default 32-bit mode).

Keras promotes along a lattice rather than NumPy's table, so

* an integer array with a float array gives that float (int64 + float32 is
  float32, where NumPy says float64);
* Python numbers are *weak*: they take the other operand's kind and width
  (float16 array + 2.5 is float16, int8 array + 3 is int8);
* an integer array with a Python float gives ``floatx()``;
* uint64 with a signed integer has no integer able to hold both: float.

The two callers resolve a result that stays weak (Python numbers only)
differently, each as its Keras counterpart does: an op on Python ints gives
int32 and on Python floats ``floatx()`` (as ``keras.ops`` on JAX);
``keras.backend.result_type(int)`` gives the integer of ``floatx()``'s width
(int16 under float16).
"""

from __future__ import annotations

import functools

import numpy as np

from ..config import floatx

# Every dtype name Keras accepts (strings included; NumPy cannot hold every one, e.g. bfloat16).
ALLOWED_DTYPES = ("float16", "float32", "float64", "uint8", "uint16", "uint32", "uint64", "int8", "int16",
                  "int32", "int64", "bfloat16", "bool", "string", "float8_e4m3fn", "float8_e5m2",
                  "complex64", "complex128")
FLOAT8_TYPES = ("float8_e4m3fn", "float8_e5m2")
# The dtypes the ops compute in: NumPy has no bfloat16, float8 or string arrays, and the ops leave
# complex numbers out.
OP_DTYPES = ("bool", "uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64",
             "float16", "float32", "float64")
DEFAULT_INT = "int32"

# Python's types as Keras names them on its non-TensorFlow backends.
_PYTHON_DTYPES = {bool: "bool", int: DEFAULT_INT, float: "float32", str: "string", complex: "complex64",
                  "int": DEFAULT_INT}


def standardize_dtype(dtype, allowed: tuple = OP_DTYPES) -> str:
    """Keras's name of ``dtype``: None -> :func:`floatx`; ``np.float32``, ``np.dtype("float32")`` and
    ``"float32"`` -> ``"float32"``; Python ``int`` -> ``"int32"``, ``float`` -> ``"float32"``,
    ``bool`` -> ``"bool"``, ``str`` -> ``"string"``.

    The name must be one of ``allowed``: the ops' default :data:`OP_DTYPES`;
    ``keras.backend.standardize_dtype`` passes :data:`ALLOWED_DTYPES`.
    Raises ValueError ("Invalid dtype") for a name Keras does not know
    (NumPy's aliases such as "f4" or "float" included, as in Keras), and
    ValueError listing ``allowed`` for a Keras dtype outside it.
    """
    if dtype is None:
        return floatx()
    name = dtype
    try:
        name = _PYTHON_DTYPES.get(dtype, dtype)
    except TypeError:               # an unhashable value; refused below
        pass
    label = getattr(name, "name", None)  # read once: NumPy builds a dtype's name on each access
    if isinstance(label, str):                                          # np.dtype, torch-like objects
        name = label
    elif hasattr(name, "__name__"):                                     # np.float32 and other types
        name = name.__name__
    elif not isinstance(name, str) and ("torch" in str(name) or "jax.numpy" in str(name)):
        name = str(name).split(".")[-1]                                  # "torch.float32" -> "float32"
    if not isinstance(name, str) or name not in ALLOWED_DTYPES:
        raise ValueError(f"Invalid dtype: {dtype!r}. Expected one of {', '.join(ALLOWED_DTYPES)} "
                         f"(or a NumPy dtype, or Python's bool, int, float, str)")
    if name not in allowed:
        raise ValueError(f"dtype must be one of {list(allowed)}; received dtype={dtype!r}")
    return name


def is_float_dtype(dtype) -> bool:
    """True for float16/32/64 and bfloat16 (any form :func:`standardize_dtype` accepts)."""
    name = standardize_dtype(dtype, ALLOWED_DTYPES)
    return name.startswith("float") or name.startswith("bfloat")


def is_int_dtype(dtype) -> bool:
    """True for int8 ... int64 and uint8 ... uint64."""
    name = standardize_dtype(dtype, ALLOWED_DTYPES)
    return name.startswith("int") or name.startswith("uint")


# ----------------------------------------------------------------------------------------------
# The promotion lattice
# ----------------------------------------------------------------------------------------------

# Each type and the types just above it. "int" and "float" are the weak types of Python numbers:
# they adopt the other operand's width (int8 + Python int is int8). Whatever reaches a common upper
# bound first is the result.
_JUST_ABOVE = {
    "bool": ("int",),
    "int": ("uint8", "int8", "complex64"),
    "uint8": ("int16", "uint16"), "uint16": ("int32", "uint32"), "uint32": ("int64", "uint64"),
    "uint64": ("float",),
    "int8": ("int16",), "int16": ("int32",), "int32": ("int64",), "int64": ("float",),
    "float": ("bfloat16", "float16"),
    "bfloat16": ("float32",), "float16": ("float32",),
    "float32": ("float64", "complex64"), "float64": ("complex128",),
    "complex64": ("complex128",), "complex128": (),
}
_WEAK_TYPES = ("int", "float")
_AS_32_BIT = {"int64": "int32", "uint64": "uint32", "float64": "float32", "complex128": "complex64"}


def _at_or_above(start: str) -> frozenset:
    """Every type at or above ``start`` in the lattice (the transitive closure of _JUST_ABOVE)."""
    seen, stack = {start}, [start]
    while stack:
        for above in _JUST_ABOVE[stack.pop()]:
            if above not in seen:
                seen.add(above)
                stack.append(above)
    return frozenset(seen)


_UPPER = {node: _at_or_above(node) for node in _JUST_ABOVE}


@functools.lru_cache(maxsize=512)
def _least_upper_bound(types: frozenset) -> str:
    """The lowest type at or above every type of ``types``."""
    unknown = [t for t in types if t not in _UPPER]
    if unknown:
        raise ValueError(f"result_type: dtype={unknown[0]!r} takes no part in Keras's type promotion")
    common = frozenset.intersection(*(_UPPER[t] for t in types))
    # the least common bound is the one every other common bound lies above
    least = [c for c in common if common <= _UPPER[c]]
    if len(least) != 1:
        raise ValueError(f"result_type: the dtypes {sorted(types)} have no implicit promotion; cast them "
                         f"explicitly to the type you want")
    return least[0]


def _weak_kind(name: str) -> str:
    """The weak type standing for a Python number of dtype ``name``."""
    if name == "bool":
        return name
    return "float" if "float" in name else "int"


def _promote(dtypes) -> tuple[str, bool]:
    """Keras's join of ``dtypes`` on the lattice: ``(dtype, weak)``, weak when the result still
    stands for a Python number (its width not yet chosen).

    ``dtypes`` are in any form :func:`standardize_dtype` takes; None stands
    for :func:`floatx`; the Python types ``int`` and ``float`` are weak.
    """
    names, weak = [], []
    for dtype in dtypes:
        if isinstance(dtype, str) and dtype in FLOAT8_TYPES:
            raise ValueError(f"result_type: float8 dtypes have no implicit conversion to other dtypes; cast "
                             f"explicitly. Received: {tuple(dtypes)}")
        # `is`, not `==`: some dtype objects compare equal to Python's float
        weak.append(dtype is int or dtype is float)
        names.append(standardize_dtype(dtype, ALLOWED_DTYPES))
    if len(names) == 1:
        return names[0], weak[0]
    if len(set(names)) == 1 and not all(weak):
        return names[0], False
    if all(weak):
        return _least_upper_bound(frozenset(names)), True
    result = _least_upper_bound(frozenset(_weak_kind(n) if w else n for n, w in zip(names, weak)))
    return result, result in _WEAK_TYPES


def keras_result_type(*dtypes) -> str:
    """``keras.backend.result_type``: the dtype of an operation on operands of ``dtypes``.

    Arguments are dtypes in any form :func:`standardize_dtype` takes (any of
    :data:`ALLOWED_DTYPES`); None stands for :func:`floatx`; the Python types
    ``int`` and ``float`` are weak. A result that stays weak takes
    :func:`floatx`'s width (``(int,)`` is int16 under float16), and a 64-bit
    result is reported as its 32-bit counterpart, as on Keras's JAX backend:
    ``("int32", "float32") -> "float32"``, ``("uint8", "int8") -> "int16"``,
    ``("int8", int) -> "int8"``, ``("float64",) -> "float32"``. No
    arguments: :func:`floatx`.
    """
    if not dtypes:
        return floatx()
    result, weak = _promote(dtypes)
    if weak and result != "bool":
        kind = "uint" if result.startswith("uint") else "int" if result.startswith("int") else "float"
        result = f"{kind}{floatx()[-2:]}"
    return _AS_32_BIT.get(result, result)


# ----------------------------------------------------------------------------------------------
# The ops' dtypes
# ----------------------------------------------------------------------------------------------

def _operand_dtype(value):
    """The dtype an op operand brings to the promotion: the Python types ``int``/``float`` for a
    weak Python number, else the name of its dtype (one of :data:`OP_DTYPES`)."""
    if value is int or value is float:  # Python's number types stand for weak values, as in Keras
        return value
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return int
    if isinstance(value, float):
        return float
    if isinstance(value, (np.dtype, str, type)):
        return standardize_dtype(value)
    dtype = getattr(value, "dtype", None)
    if dtype is None:
        dtype = python_dtype(value)
    return standardize_dtype(dtype)


def result_type(*values) -> str:
    """The dtype of an op combining ``values`` (arrays, Tensors, Python numbers or dtypes; the
    types ``int`` and ``float`` stand for weak Python numbers), by Keras's promotion with 64-bit
    results kept.

    A result that stays weak is int32 (Python ints) or :func:`floatx`
    (Python floats), as ``keras.ops`` gives; no values gives floatx.
    """
    if not values:
        return floatx()
    result, weak = _promote([_operand_dtype(v) for v in values])
    if weak and result != "bool":
        return floatx() if result.startswith("float") else DEFAULT_INT
    return result


def float_type(*values) -> str:
    """The dtype of a float-valued op (sqrt, mean, divide...): the promoted type if it is
    floating, else floatx (integers and booleans give float32 by default)."""
    joined = result_type(*values)
    return joined if joined.startswith("float") else floatx()


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
