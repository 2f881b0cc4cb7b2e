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
included. Their rules and the promotion lattice live in
:mod:`clearconv.ops.dtypes`, shared with the ops (which keep 64-bit results).
"""

from __future__ import annotations

import gc

from .config import (backend, epsilon, floatx, image_data_format, set_epsilon, set_floatx,
                     set_image_data_format)
from .ops import dtypes as _dtypes
from .ops.dtypes import ALLOWED_DTYPES, FLOAT8_TYPES, is_float_dtype, is_int_dtype  # noqa: F401
# The ops' promotion lattice, in the variant that answers as Keras's JAX backend (64-bit results
# reported as 32-bit); the ops themselves keep 64-bit results.
from .ops.dtypes import keras_result_type as result_type


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
    The rules are :func:`clearconv.ops.dtypes.standardize_dtype`'s, which the
    ops call with the narrower set of dtypes they compute in.
    """
    return _dtypes.standardize_dtype(dtype, ALLOWED_DTYPES)


__all__ = ["backend", "clear_session", "epsilon", "floatx", "get_uid", "image_data_format", "is_float_dtype",
           "is_int_dtype", "is_keras_tensor", "result_type", "set_epsilon", "set_floatx",
           "set_image_data_format", "standardize_dtype"]
