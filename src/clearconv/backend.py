"""Keras 3's ``keras.backend``: global settings, session state and dtype rules.

    import clearconv as keras
    keras.backend.clear_session()           # layer names start again at dense, conv2d, ...
    keras.backend.result_type("int32", "float32")   # 'float32'

The settings (:func:`floatx`, :func:`epsilon`, :func:`image_data_format` and
their setters) live in :mod:`clearconv.config`; they are the same functions
here, so there is one value of each.

:func:`standardize_dtype` and :func:`result_type` answer as Keras does on its
JAX and NumPy backends: Python ``int`` is ``"int32"``, and a promotion that
lands on a 64-bit type reports its 32-bit counterpart (``result_type("float64")``
is ``"float32"``, as with JAX's default 32-bit mode). These functions only
name dtypes; clearconv's layers compute in their own ``dtype``, float64
included.
"""

from __future__ import annotations

import gc

from .config import (backend, epsilon, floatx, image_data_format, set_epsilon, set_floatx,
                     set_image_data_format)

# Every dtype name Keras accepts (strings included; NumPy cannot hold every one, e.g. bfloat16).
ALLOWED_DTYPES = ("float16", "float32", "float64", "uint8", "uint16", "uint32", "uint64", "int8", "int16",
                  "int32", "int64", "bfloat16", "bool", "string", "float8_e4m3fn", "float8_e5m2",
                  "complex64", "complex128")
FLOAT8_TYPES = ("float8_e4m3fn", "float8_e5m2")

# Python's types as Keras names them on its non-TensorFlow backends.
_PYTHON_DTYPES = {bool: "bool", int: "int32", float: "float32", str: "string", complex: "complex64",
                  "int": "int32"}


def clear_session(free_memory: bool = True) -> None:
    """Reset clearconv's global state: the counters behind automatic layer names.

    After it, the next ``Dense`` is named ``dense`` again, as in Keras.
    ``free_memory=True`` also runs Python's garbage collector (clearconv holds
    no device memory to release). The random generator and the settings of
    :mod:`clearconv.config` are left as they are.
    """
    from .layers import base
    base._name_counts.clear()
    if free_memory:
        gc.collect()


def get_uid(prefix: str = "") -> int:
    """1, 2, 3, ... for successive calls with the same ``prefix``.

    The counters are those of automatic layer names: after ``get_uid("dense")``
    returned n, the next ``Dense()`` is named ``dense_n``. :func:`clear_session`
    resets them.
    """
    from .layers import base
    base._name_counts[prefix] += 1
    return base._name_counts[prefix]


def is_keras_tensor(x) -> bool:
    """True for a symbolic tensor (from ``Input`` or a layer called on one), False for data."""
    from .layers.base import SymbolicTensor
    return isinstance(x, SymbolicTensor)


def standardize_dtype(dtype) -> str:
    """Keras's name of ``dtype``: None -> :func:`floatx`; ``np.float32``, ``np.dtype("float32")`` and
    ``"float32"`` -> ``"float32"``; Python ``int`` -> ``"int32"``, ``float`` -> ``"float32"``,
    ``bool`` -> ``"bool"``, ``str`` -> ``"string"``.

    Raises ValueError for a name outside Keras's dtypes (``ALLOWED_DTYPES``).
    """
    if dtype is None:
        return floatx()
    name = dtype
    try:
        name = _PYTHON_DTYPES.get(dtype, dtype)
    except TypeError:               # an unhashable value; refused below
        pass
    if hasattr(name, "name") and isinstance(name.name, str):          # np.dtype, torch-like objects
        name = name.name
    elif hasattr(name, "__name__"):                                     # np.float32 and other types
        name = name.__name__
    elif not isinstance(name, str) and ("torch" in str(name) or "jax.numpy" in str(name)):
        name = str(name).split(".")[-1]                                  # "torch.float32" -> "float32"
    if not isinstance(name, str) or name not in ALLOWED_DTYPES:
        raise ValueError(f"Invalid dtype: {dtype!r}. Expected one of {', '.join(ALLOWED_DTYPES)} "
                         f"(or a NumPy dtype, or Python's bool, int, float, str)")
    return name


def is_float_dtype(dtype) -> bool:
    """True for float16/32/64 and bfloat16 (any form :func:`standardize_dtype` accepts)."""
    name = standardize_dtype(dtype)
    return name.startswith("float") or name.startswith("bfloat")


def is_int_dtype(dtype) -> bool:
    """True for int8 ... int64 and uint8 ... uint64."""
    name = standardize_dtype(dtype)
    return name.startswith("int") or name.startswith("uint")


# ----------------------------------------------------------------------------------------------
# Type promotion
# ----------------------------------------------------------------------------------------------

# Keras's promotion lattice (JAX's): each type and the types just above it. "int" and "float" are
# the weak types of Python scalars: they adopt the other operand's width (int8 + Python int is
# int8). Whatever reaches a common upper bound first is the result.
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


def _upper_sets() -> dict[str, frozenset]:
    """Each type -> every type at or above it in the lattice (transitive closure of _JUST_ABOVE)."""
    closure = {}
    for start in _JUST_ABOVE:
        seen, stack = {start}, [start]
        while stack:
            for above in _JUST_ABOVE[stack.pop()]:
                if above not in seen:
                    seen.add(above)
                    stack.append(above)
        closure[start] = frozenset(seen)
    return closure


_UPPER = _upper_sets()


def _least_upper_bound(types: set) -> str:
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
    """The weak type standing for a Python scalar of dtype ``name``."""
    if name == "bool":
        return name
    return "float" if "float" in name else "int"


def result_type(*dtypes) -> str:
    """The dtype of an operation on operands of ``dtypes``, by Keras's promotion rules.

    Arguments are dtypes in any form :func:`standardize_dtype` takes; None
    stands for :func:`floatx`; the Python types ``int`` and ``float`` are weak
    (they take the width of the other operands). Examples, as Keras answers:
    ``("int32", "float32") -> "float32"``, ``("uint8", "int8") -> "int16"``,
    ``("int8", int) -> "int8"``, ``("float64",) -> "float32"`` (64-bit types
    are reported as their 32-bit counterparts, as on Keras's JAX and NumPy
    backends). No arguments: :func:`floatx`.
    """
    if not dtypes:
        return floatx()
    names, weak = [], []
    for dtype in dtypes:
        if isinstance(dtype, str) and dtype in FLOAT8_TYPES:
            raise ValueError(f"result_type: float8 dtypes have no implicit conversion to other dtypes; cast "
                             f"explicitly. Received: {dtypes}")
        # `is`, not `==`: some dtype objects compare equal to Python's float
        weak.append(dtype is int or dtype is float)
        names.append(standardize_dtype(floatx() if dtype is None else dtype))
    if len(names) == 1:
        result, result_weak = names[0], weak[0]
    elif len(set(names)) == 1 and not all(weak):
        result, result_weak = names[0], False
    elif all(weak):
        result, result_weak = _least_upper_bound(set(names)), True
    else:
        result = _least_upper_bound({_weak_kind(n) if w else n for n, w in zip(names, weak)})
        result_weak = result in _WEAK_TYPES
    if result_weak and result != "bool":
        # a weak result takes floatx's width: Python int alone is int32 under float32, int16 under float16
        width = floatx()[-2:]
        kind = "uint" if result.startswith("uint") else "int" if result.startswith("int") else "float"
        result = f"{kind}{width}"
    return _AS_32_BIT.get(result, result)


__all__ = ["backend", "clear_session", "epsilon", "floatx", "get_uid", "image_data_format", "is_float_dtype",
           "is_int_dtype", "is_keras_tensor", "result_type", "set_epsilon", "set_floatx",
           "set_image_data_format", "standardize_dtype"]
