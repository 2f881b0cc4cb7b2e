"""Keras 3's ``keras.ops.linalg``: vector and matrix norms."""

from __future__ import annotations

import numpy as np

from .common import normalize_axis, record_op, to_array
from .dispatch import keras_op
from .dtypes import float_type
from .numpy import (abs as absolute, cast_to, count_nonzero, expand_dims, max as maximum_of, min as minimum_of,
                    moveaxis, multiply, power, sqrt, sum as total)

_VECTOR_ORDERS = "None, inf, -inf, 0 or any number"


@keras_op("linalg")
def norm(x, ord=None, axis=None, keepdims=False):
    """Vector norm along one axis, or matrix norm over two, with NumPy's ``ord`` values.

    ``axis`` None means the whole input: a vector norm for 1-D, a matrix norm
    for 2-D, and the 2-norm of the flattened input (``ord=None`` only) beyond.
    Integers give float32. Vectors: None/2 -> sqrt(sum x^2), inf -> max|x|,
    -inf -> min|x|, 0 -> count of non-zeros, p -> sum(|x|^p)^(1/p). Matrices
    (last two of ``axis``): None/"fro" Frobenius, "nuc" sum of singular
    values, 1/-1 max/min column sum of |x|, inf/-inf max/min row sum,
    2/-2 largest/smallest singular value.
    """
    a = to_array(x)
    if a.dtype.kind != "f":
        x = cast_to(x, float_type(x))
    axes = normalize_axis(axis, a.ndim)
    if axes is None:
        if a.ndim > 2 and ord is not None:
            raise ValueError(f"norm: give `axis` (one axis or two) to take ord={ord!r} of an input of rank {a.ndim}")
        axes = tuple(range(a.ndim)) if a.ndim <= 2 else None
    if axes is None:
        result = sqrt(total(multiply(x, x)))
        return expand_dims(result, tuple(range(a.ndim))) if keepdims else result
    if len(axes) == 1:
        return _vector_norm(x, ord, axes[0], keepdims)
    if len(axes) == 2:
        return _matrix_norm(x, ord, axes, keepdims)
    raise ValueError(f"norm: `axis` must name one axis (vector norm) or two (matrix norm); received axis={axis!r}")


def _vector_norm(x, ord, axis: int, keepdims: bool):
    if isinstance(ord, str) or ord is not None and not isinstance(ord, (int, float, np.number)):
        raise ValueError(f"norm: a vector norm's `ord` must be {_VECTOR_ORDERS}; received ord={ord!r}")
    if ord is None or ord == 2:
        return sqrt(total(multiply(x, x), axis=axis, keepdims=keepdims))
    if ord == np.inf:
        return maximum_of(absolute(x), axis=axis, keepdims=keepdims)
    if ord == -np.inf:
        return minimum_of(absolute(x), axis=axis, keepdims=keepdims)
    if ord == 0:
        counts = count_nonzero(x, axis=axis)
        counts = expand_dims(counts, axis) if keepdims else counts
        return cast_to(counts, to_array(x).dtype)
    return power(total(power(absolute(x), ord), axis=axis, keepdims=keepdims), 1.0 / ord)


def _matrix_norm(x, ord, axes, keepdims: bool):
    accepted = ord in ("fro", "nuc") if isinstance(ord, str) else ord is None or ord in (np.inf, -np.inf, 1, -1, 2, -2)
    if not accepted:
        raise ValueError(f"norm: a matrix norm's `ord` must be one of None, 'fro', 'nuc', inf, -inf, 1, -1, 2, -2; "
                         f"received ord={ord!r}")
    row_axis, col_axis = axes
    if ord is None or ord == "fro":
        result = sqrt(total(multiply(x, x), axis=axes))
    elif ord in (1, -1):
        column_sums = total(absolute(x), axis=row_axis, keepdims=True)
        reduce = maximum_of if ord == 1 else minimum_of
        result = reduce(column_sums, axis=axes)
    elif ord in (np.inf, -np.inf):
        row_sums = total(absolute(x), axis=col_axis, keepdims=True)
        reduce = maximum_of if ord == np.inf else minimum_of
        result = reduce(row_sums, axis=axes)
    else:
        result = _singular_value_norm(moveaxis(x, axes, (-2, -1)), ord)
    return expand_dims(result, tuple(sorted(axes))) if keepdims else result


def _singular_value_norm(x, ord):
    """"nuc", 2 or -2 of the matrices in the last two axes of x (..., m, n) -> (...).

    With x = U diag(s) V^T, d s_i / d x = u_i v_i^T, so the nuclear norm's
    gradient is U V^T and the 2-norm's u_1 v_1^T (for distinct singular values).
    """
    a = to_array(x)
    u, s, vt = np.linalg.svd(a, full_matrices=False)  # (..., m, k), (..., k), (..., k, n)
    if ord == "nuc":
        y = np.sum(s, axis=-1)
        direction = u @ vt
    else:
        pick = 0 if ord == 2 else -1
        y = s[..., pick]
        direction = u[..., :, pick, None] * vt[..., pick, None, :]  # (..., m, 1) * (..., 1, n)
    return record_op(y.astype(a.dtype), (x,), lambda g: (g[..., None, None] * direction,))


# The public ops of this module: every function registered under "linalg.".
__all__ = [name for name, value in list(globals().items()) if getattr(value, "op_name", "").startswith("linalg.")]
