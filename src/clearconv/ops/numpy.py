"""Keras 3's ``keras.ops.numpy``: NumPy-like functions on clearconv values, differentiable.

Every function takes Tensors, NumPy arrays or Python values and returns a
:class:`~clearconv.autograd.Tensor` (``shape``, ``ndim``, ``size`` return
Python values, as in Keras). When an input is a Tensor that needs a gradient,
the backward is recorded, so ``loss.backward()`` reaches it. Arguments and
defaults are Keras's; dtypes follow Keras's promotion (:mod:`.dtypes`).

Gradients follow JAX (Keras's reference backend) where a function has a kink:
``maximum``/``minimum`` (and so ``clip``) split the gradient equally between
tied arguments, a max/min reduction splits it equally among the tied cells,
``abs`` has slope 1 at 0, and piecewise-constant functions (``floor``,
``round``, ``sign``, comparisons...) record no gradient at all.
"""

from __future__ import annotations

import builtins
import math
import string

import numpy as np

from ..autograd import Tensor, unbroadcast
from .common import (check_int, constant, needs, normalize_axis, normalize_one_axis, record_op,
                     restore_reduced, to_array)
from .dispatch import keras_op
from ..config import floatx
from .dtypes import float_type, result_type, standardize_dtype


# --------------------------------------------------------------------------- helpers

def _unary(x, forward, derivative=None, dtype=None) -> Tensor:
    """An element-wise op: ``y = forward(x)``, ``dx = grad * derivative(x, y)``.

    ``dtype`` is the dtype x is computed in (default: its own); no
    ``derivative`` means the result is piecewise constant (no gradient).
    """
    a = to_array(x, dtype)
    with np.errstate(all="ignore"):  # log(0), sqrt(-1)...: inf and NaN, as in Keras, without warnings
        y = forward(a)
    if derivative is None:
        return constant(y)

    def vjp(g):
        with np.errstate(all="ignore"):
            return (g * derivative(a, y),)
    return record_op(y, (x,), vjp)


def _float_unary(x, forward, derivative=None) -> Tensor:
    """An element-wise op with a float result: integers and booleans are computed in float32."""
    return _unary(x, forward, derivative, dtype=float_type(x))


def _check_broadcast(op: str, shape1: tuple, shape2: tuple) -> None:
    """A ValueError naming both arguments when their shapes do not broadcast."""
    try:
        np.broadcast_shapes(shape1, shape2)
    except ValueError:
        raise ValueError(f"{op}: `x1` of shape {shape1} and `x2` of shape {shape2} cannot be broadcast together; "
                         f"sizes aligned from the right must be equal or 1") from None


def _binary(x1, x2, forward, derivatives=None, dtype=None) -> Tensor:
    """A broadcasting element-wise op of two arguments, computed in ``dtype``
    (default: Keras's promotion of the two).

    ``derivatives(g, a, b, y) -> (da, db)`` at the broadcast shape; each is
    summed back to its argument's shape. Only the gradients an input needs
    are asked for: an entry is called lazily.
    """
    dtype = dtype or result_type(x1, x2)
    a, b = to_array(x1, dtype), to_array(x2, dtype)
    with np.errstate(all="ignore"):
        try:
            y = forward(a, b)
        except ValueError:  # checked only on failure: the shapes are the usual cause, and checking is not free
            _check_broadcast(getattr(forward, "__name__", "op"), a.shape, b.shape)
            raise
    if derivatives is None:
        return constant(y)

    need1, need2 = needs(x1), needs(x2)

    def vjp(g):
        with np.errstate(all="ignore"):
            da, db = derivatives(g, a, b, y, need1, need2)
        return (None if da is None else unbroadcast(np.broadcast_to(da, y.shape), a.shape),
                None if db is None else unbroadcast(np.broadcast_to(db, y.shape), b.shape))
    return record_op(y, (x1, x2), vjp)


def _comparison(x1, x2, forward) -> Tensor:
    """A boolean element-wise op of two arguments, both read in their promoted dtype."""
    dtype = result_type(x1, x2)
    return constant(forward(to_array(x1, dtype), to_array(x2, dtype)))


def _sum_dtype(dtype) -> str:
    """What a sum or product accumulates in: booleans and narrow integers widen to 32 bits (as JAX)."""
    name = np.dtype(dtype).name
    if name in ("bool", "int8", "int16"):
        return "int32"
    if name in ("uint8", "uint16"):
        return "uint32"
    return name


def _reduced_shape(shape, axes, keepdims: bool) -> tuple:
    axes = range(len(shape)) if axes is None else axes
    if keepdims:
        return tuple(1 if i in axes else n for i, n in enumerate(shape))
    return tuple(n for i, n in enumerate(shape) if i not in axes)


def _shape_tuple(shape, name: str = "shape", minimum: int | None = None) -> tuple[int, ...]:
    """An int or a sequence of ints -> a tuple of ints."""
    if isinstance(shape, (Tensor, np.ndarray)):
        shape = to_array(shape).tolist()
    if isinstance(shape, (list, tuple)):
        return tuple(check_int(d, name, minimum) for d in shape)
    return (check_int(shape, name, minimum),)


# --------------------------------------------------------------------------- arithmetic

@keras_op("numpy")
def add(x1, x2):
    """``x1 + x2``, broadcasting."""
    return _binary(x1, x2, np.add, lambda g, a, b, y, *_: (g, g))


@keras_op("numpy")
def subtract(x1, x2):
    """``x1 - x2``, broadcasting."""
    return _binary(x1, x2, np.subtract, lambda g, a, b, y, *_: (g, -g))


@keras_op("numpy")
def multiply(x1, x2):
    """``x1 * x2``, broadcasting."""
    return _binary(x1, x2, np.multiply, lambda g, a, b, y, *_: (g * b, g * a))


def _divide_derivatives(g, a, b, y, want_a, want_b):
    return (g / b if want_a else None), (-g * y / b if want_b else None)


@keras_op("numpy")
def divide(x1, x2):
    """``x1 / x2`` (true division: integers give float32), broadcasting."""
    return _binary(x1, x2, np.true_divide, _divide_derivatives, dtype=float_type(x1, x2))


@keras_op("numpy")
def true_divide(x1, x2):
    """Alias of :func:`divide`."""
    return divide(x1, x2)


@keras_op("numpy")
def divide_no_nan(x1, x2):
    """``x1 / x2``, with 0 wherever ``x2 == 0``; no gradient flows through those cells."""
    def derivatives(g, a, b, y, want_a, want_b):
        safe = np.where(b == 0, 1, b)
        return (np.where(b == 0, 0, g / safe) if want_a else None,
                np.where(b == 0, 0, -g * y / safe) if want_b else None)
    return _binary(x1, x2, lambda a, b: np.where(b == 0, 0, a / np.where(b == 0, 1, b)).astype(a.dtype),
                   derivatives, dtype=float_type(x1, x2))


@keras_op("numpy")
def floor_divide(x1, x2):
    """``floor(x1 / x2)`` in the promoted dtype; piecewise constant (no gradient)."""
    return _binary(x1, x2, np.floor_divide)


@keras_op("numpy")
def mod(x1, x2):
    """``x1 - floor(x1 / x2) * x2`` (the sign of x2, as Python's ``%``)."""
    def derivatives(g, a, b, y, want_a, want_b):
        return g, (-g * np.floor_divide(a, b) if want_b else None)
    return _binary(x1, x2, np.mod, derivatives)


@keras_op("numpy")
def negative(x):
    """``-x``."""
    dtype = "int32" if to_array(x).dtype == np.bool_ else None
    return _unary(x, np.negative, lambda a, y: -1.0, dtype=dtype)


@keras_op("numpy")
def power(x1, x2):
    """``x1 ** x2``, broadcasting (integers stay integers).

    d/dx2 is ``y * log(x1)``, taken as 0 where x1 == 0 (as JAX).
    """
    def derivatives(g, a, b, y, want_a, want_b):
        da = g * b * np.power(a, b - 1) if want_a else None
        db = g * y * np.log(np.where(a == 0, 1, a)) if want_b else None
        return da, db
    return _binary(x1, x2, np.power, derivatives)


@keras_op("numpy")
def square(x):
    """``x * x`` (booleans become int32)."""
    dtype = "int32" if to_array(x).dtype == np.bool_ else None
    return _unary(x, np.square, lambda a, y: 2 * a, dtype=dtype)


@keras_op("numpy")
def sqrt(x):
    """Square root; NaN for negative inputs; slope ``1 / (2 sqrt(x))`` (inf at 0)."""
    return _float_unary(x, np.sqrt, lambda a, y: 0.5 / y)


@keras_op("numpy")
def reciprocal(x):
    """``1 / x``."""
    return _float_unary(x, np.reciprocal, lambda a, y: -y * y)


@keras_op("numpy")
def exp(x):
    """``e ** x``."""
    return _float_unary(x, np.exp, lambda a, y: y)


@keras_op("numpy")
def exp2(x):
    """``2 ** x``."""
    return _float_unary(x, np.exp2, lambda a, y: y * math.log(2))


@keras_op("numpy")
def expm1(x):
    """``e ** x - 1``, accurate near 0."""
    return _float_unary(x, np.expm1, lambda a, y: y + 1)


@keras_op("numpy")
def log(x):
    """Natural logarithm (-inf at 0, NaN below)."""
    return _float_unary(x, np.log, lambda a, y: 1 / a)


@keras_op("numpy")
def log1p(x):
    """``log(1 + x)``, accurate near 0."""
    return _float_unary(x, np.log1p, lambda a, y: 1 / (1 + a))


@keras_op("numpy")
def log2(x):
    """Base-2 logarithm."""
    return _float_unary(x, np.log2, lambda a, y: 1 / (a * math.log(2)))


@keras_op("numpy")
def log10(x):
    """Base-10 logarithm."""
    return _float_unary(x, np.log10, lambda a, y: 1 / (a * math.log(10)))


@keras_op("numpy")
def logaddexp(x1, x2):
    """``log(exp(x1) + exp(x2))`` without overflow."""
    def derivatives(g, a, b, y, want_a, want_b):
        return g * np.exp(a - y), g * np.exp(b - y)
    return _binary(x1, x2, np.logaddexp, derivatives, dtype=float_type(x1, x2))


@keras_op("numpy")
def absolute(x):
    """``|x|``; slope -1 below 0 and 1 from 0 up (JAX's choice at the kink)."""
    return _unary(x, np.absolute, lambda a, y: np.where(a >= 0, 1, -1).astype(a.dtype))


@keras_op("numpy")
def abs(x):
    """Alias of :func:`absolute`."""
    return absolute(x)


@keras_op("numpy")
def sign(x):
    """-1, 0 or 1 (piecewise constant)."""
    return _unary(x, np.sign)


@keras_op("numpy")
def floor(x):
    """Round down (integers give float32, as in Keras)."""
    return _float_unary(x, np.floor)


@keras_op("numpy")
def ceil(x):
    """Round up (integers give float32, as in Keras)."""
    return _float_unary(x, np.ceil)


@keras_op("numpy")
def trunc(x):
    """Round toward zero (integers stay integers)."""
    return _unary(x, np.trunc)


@keras_op("numpy")
def round(x, decimals=0):
    """Round half to even to ``decimals`` places (integers stay integers)."""
    decimals = check_int(decimals, "decimals")
    return _unary(x, lambda a: np.round(a, decimals))


@keras_op("numpy")
def maximum(x1, x2):
    """Element-wise maximum; tied cells share the gradient equally (as JAX)."""
    def derivatives(g, a, b, y, *_):
        share = (a > b) + 0.5 * (a == b)
        return g * share, g * (1 - share)
    return _binary(x1, x2, np.maximum, derivatives)


@keras_op("numpy")
def minimum(x1, x2):
    """Element-wise minimum; tied cells share the gradient equally (as JAX)."""
    def derivatives(g, a, b, y, *_):
        share = (a < b) + 0.5 * (a == b)
        return g * share, g * (1 - share)
    return _binary(x1, x2, np.minimum, derivatives)


@keras_op("numpy")
def clip(x, x_min, x_max):
    """``minimum(maximum(x, x_min), x_max)``: the bounds may be arrays (and get gradients) or None (open).

    Booleans are clipped as int32; a Python-float bound with an integer x gives float32.
    """
    for name, bound in (("x_min", x_min), ("x_max", x_max)):
        if bound is not None and not isinstance(bound, Tensor) and np.asarray(bound).dtype.kind not in "biuf":
            raise TypeError(f"clip: `{name}` must be a number or a numeric array; received {name}={bound!r}")
    if to_array(x).dtype == np.bool_:
        x = cast_to(x, "int32")
    # A bound of None leaves that side open, as NumPy's clip and Keras's backends do.
    lower = x if x_min is None else maximum(x, x_min)
    return lower if x_max is None else minimum(lower, x_max)


def cast_to(x, dtype) -> Tensor:
    """``x`` in ``dtype``; float to float keeps the gradient (cast back on the way in)."""
    from .core import cast
    return cast(x, dtype)


# --------------------------------------------------------------------------- trigonometric and hyperbolic

@keras_op("numpy")
def sin(x):
    """Sine."""
    return _float_unary(x, np.sin, lambda a, y: np.cos(a))


@keras_op("numpy")
def cos(x):
    """Cosine."""
    return _float_unary(x, np.cos, lambda a, y: -np.sin(a))


@keras_op("numpy")
def tan(x):
    """Tangent."""
    return _float_unary(x, np.tan, lambda a, y: 1 + y * y)


@keras_op("numpy")
def arcsin(x):
    """Inverse sine."""
    return _float_unary(x, np.arcsin, lambda a, y: 1 / np.sqrt(1 - a * a))


@keras_op("numpy")
def arccos(x):
    """Inverse cosine."""
    return _float_unary(x, np.arccos, lambda a, y: -1 / np.sqrt(1 - a * a))


@keras_op("numpy")
def arctan(x):
    """Inverse tangent."""
    return _float_unary(x, np.arctan, lambda a, y: 1 / (1 + a * a))


@keras_op("numpy")
def arctan2(x1, x2):
    """The angle of the point (x2, x1), in (-pi, pi]."""
    def derivatives(g, a, b, y, *_):
        radius = a * a + b * b
        return g * b / radius, -g * a / radius
    return _binary(x1, x2, np.arctan2, derivatives, dtype=float_type(x1, x2))


@keras_op("numpy")
def sinh(x):
    """Hyperbolic sine."""
    return _float_unary(x, np.sinh, lambda a, y: np.cosh(a))


@keras_op("numpy")
def cosh(x):
    """Hyperbolic cosine."""
    return _float_unary(x, np.cosh, lambda a, y: np.sinh(a))


@keras_op("numpy")
def tanh(x):
    """Hyperbolic tangent."""
    return _float_unary(x, np.tanh, lambda a, y: 1 - y * y)


@keras_op("numpy")
def arcsinh(x):
    """Inverse hyperbolic sine."""
    return _float_unary(x, np.arcsinh, lambda a, y: 1 / np.sqrt(a * a + 1))


@keras_op("numpy")
def arccosh(x):
    """Inverse hyperbolic cosine."""
    return _float_unary(x, np.arccosh, lambda a, y: 1 / np.sqrt(a * a - 1))


@keras_op("numpy")
def arctanh(x):
    """Inverse hyperbolic tangent."""
    return _float_unary(x, np.arctanh, lambda a, y: 1 / (1 - a * a))


# --------------------------------------------------------------------------- comparisons and logic

@keras_op("numpy")
def equal(x1, x2):
    """``x1 == x2`` (bool)."""
    return _comparison(x1, x2, np.equal)


@keras_op("numpy")
def not_equal(x1, x2):
    """``x1 != x2`` (bool)."""
    return _comparison(x1, x2, np.not_equal)


@keras_op("numpy")
def greater(x1, x2):
    """``x1 > x2`` (bool)."""
    return _comparison(x1, x2, np.greater)


@keras_op("numpy")
def greater_equal(x1, x2):
    """``x1 >= x2`` (bool)."""
    return _comparison(x1, x2, np.greater_equal)


@keras_op("numpy")
def less(x1, x2):
    """``x1 < x2`` (bool)."""
    return _comparison(x1, x2, np.less)


@keras_op("numpy")
def less_equal(x1, x2):
    """``x1 <= x2`` (bool)."""
    return _comparison(x1, x2, np.less_equal)


@keras_op("numpy")
def logical_and(x1, x2):
    """Element-wise AND of the truth values (bool)."""
    return constant(np.logical_and(to_array(x1), to_array(x2)))


@keras_op("numpy")
def logical_or(x1, x2):
    """Element-wise OR of the truth values (bool)."""
    return constant(np.logical_or(to_array(x1), to_array(x2)))


@keras_op("numpy")
def logical_xor(x1, x2):
    """Element-wise XOR of the truth values (bool)."""
    return constant(np.logical_xor(to_array(x1), to_array(x2)))


@keras_op("numpy")
def logical_not(x):
    """Element-wise NOT of the truth values (bool)."""
    return constant(np.logical_not(to_array(x)))


@keras_op("numpy")
def isnan(x):
    """Where x is NaN (bool; always False for integers)."""
    return constant(np.isnan(to_array(x)) if to_array(x).dtype.kind == "f" else np.zeros(np.shape(to_array(x)), bool))


@keras_op("numpy")
def isinf(x):
    """Where x is +inf or -inf (bool)."""
    return constant(np.isinf(to_array(x)) if to_array(x).dtype.kind == "f" else np.zeros(np.shape(to_array(x)), bool))


@keras_op("numpy")
def isfinite(x):
    """Where x is neither inf nor NaN (bool)."""
    return constant(np.isfinite(to_array(x)) if to_array(x).dtype.kind == "f" else np.ones(np.shape(to_array(x)), bool))


@keras_op("numpy")
def nan_to_num(x, nan=0.0, posinf=None, neginf=None):
    """NaN -> ``nan``, +inf -> ``posinf`` (default: the dtype's largest), -inf -> ``neginf``
    (default: its lowest). The gradient passes only through the finite cells."""
    a = to_array(x)
    if a.dtype.kind != "f":
        return _unary(x, lambda v: v.copy(), lambda v, y: 1)
    y = np.nan_to_num(a, nan=nan, posinf=posinf, neginf=neginf)
    return record_op(y, (x,), lambda g: (np.where(np.isfinite(a), g, 0),))


@keras_op("numpy")
def where(condition, x1=None, x2=None):
    """``x1`` where ``condition`` holds, else ``x2`` (broadcasting); the gradient of each goes
    only to the cells it was picked for.

    With neither x1 nor x2: the indices of the true cells, one int32 Tensor per axis.
    """
    cond = to_array(condition).astype(bool)
    if x1 is None and x2 is None:
        return tuple(constant(index.astype("int32")) for index in np.nonzero(cond))
    if x1 is None or x2 is None:
        raise ValueError("where: give both `x1` and `x2`, or neither (to get the indices of the true cells); "
                         f"received x1={'None' if x1 is None else 'a value'}, x2={'None' if x2 is None else 'a value'}")
    dtype = result_type(x1, x2)
    a, b = to_array(x1, dtype), to_array(x2, dtype)
    y = np.where(cond, a, b)
    need1, need2 = needs(x1), needs(x2)

    def vjp(g):
        return (unbroadcast(np.where(cond, g, 0), a.shape) if need1 else None,
                unbroadcast(np.where(cond, 0, g), b.shape) if need2 else None)
    return record_op(y, (x1, x2), vjp)


# --------------------------------------------------------------------------- products

@keras_op("numpy")
def matmul(x1, x2):
    """Matrix product with NumPy's rules: (..., n, k) @ (..., k, m) -> (..., n, m), batch axes
    broadcast; a 1-D argument is a vector (its axis is dropped from the result)."""
    dtype = result_type(x1, x2)
    a, b = to_array(x1, dtype), to_array(x2, dtype)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: the arguments must have at least one axis; received shapes {a.shape} and {b.shape}")
    # A vector is a (1, k) row on the left, a (k, 1) column on the right; the added axes are dropped again.
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    if a2.shape[-1] != b2.shape[-2]:
        raise ValueError(f"matmul: the last axis of `x1` must match the {'first' if b.ndim == 1 else 'second-to-last'} "
                         f"axis of `x2`; received shapes {a.shape} and {b.shape}")
    try:
        y2 = np.matmul(a2, b2)
    except ValueError:
        raise ValueError(f"matmul: the batch axes of `x1` and `x2` cannot be broadcast together; "
                         f"received shapes {a.shape} and {b.shape}") from None
    squeeze = tuple(axis for axis, vector in ((-2, a.ndim == 1), (-1, b.ndim == 1)) if vector)
    y = y2.reshape(tuple(n for i, n in enumerate(y2.shape) if i - y2.ndim not in squeeze))
    need1, need2 = needs(x1), needs(x2)

    def vjp(g):
        g2 = g.reshape(y2.shape)
        ga = unbroadcast(np.matmul(g2, np.swapaxes(b2, -1, -2)), a2.shape).reshape(a.shape) if need1 else None
        gb = unbroadcast(np.matmul(np.swapaxes(a2, -1, -2), g2), b2.shape).reshape(b.shape) if need2 else None
        return ga, gb
    return record_op(y, (x1, x2), vjp)


_LETTERS = string.ascii_letters


def _parse_einsum(subscripts: str, ranks) -> tuple[list[str], str]:
    """Subscripts -> (one string of single letters per operand, output letters).

    An ellipsis becomes explicit letters (right-aligned across operands, as
    broadcasting is); without ``->`` the output is, as in NumPy, the ellipsis
    axes followed by the letters used once, in alphabetical order.
    """
    if not isinstance(subscripts, str):
        raise TypeError(f"einsum: `subscripts` must be a string such as 'ij,jk->ik'; received {subscripts!r}")
    spec = subscripts.replace(" ", "")
    inputs, arrow, output = spec.partition("->")
    terms = inputs.split(",")
    if len(terms) != len(ranks):
        raise ValueError(f"einsum: subscripts {subscripts!r} name {len(terms)} operands; received {len(ranks)}")
    used = set(spec) - set(".,->")
    spare = [c for c in _LETTERS if c not in used]
    ellipsis_rank = 0
    for term, rank in zip(terms, ranks):
        if "..." in term:
            ellipsis_rank = builtins.max(ellipsis_rank, rank - (len(term) - 3))
    ellipsis = "".join(spare[:ellipsis_rank])
    expanded = []
    for term, rank in zip(terms, ranks):
        if "..." in term:
            count = rank - (len(term) - 3)
            term = term.replace("...", ellipsis[ellipsis_rank - count:] if count else "")
        if len(term) != rank or not builtins.all(c in _LETTERS for c in term):
            raise ValueError(f"einsum: the term {term!r} of {subscripts!r} does not match an operand of rank {rank}")
        expanded.append(term)
    if arrow:
        output = output.replace("...", ellipsis)
    else:
        letters = "".join(expanded)
        output = ellipsis + "".join(sorted(c for c in set(letters) if letters.count(c) == 1 and c not in ellipsis))
    unknown = set(output) - set("".join(expanded))
    if unknown or len(set(output)) != len(output):
        raise ValueError(f"einsum: invalid output subscripts in {subscripts!r}")
    return expanded, output


@keras_op("numpy")
def einsum(subscripts, *operands, **kwargs):
    """Einstein summation (NumPy's notation, ellipsis included), differentiable in every operand.

    The gradient of an operand is the einsum of the output gradient with the
    other operands, producing that operand's subscripts; letters of that
    operand found nowhere else are broadcast back, and a repeated letter
    (a diagonal) is written back onto the diagonal.
    """
    unknown = set(kwargs) - {"optimize"}
    if unknown:
        raise TypeError(f"einsum: unexpected keyword arguments {sorted(unknown)}; accepted: optimize")
    if not operands:
        raise ValueError("einsum: give at least one operand")
    dtype = result_type(*operands)
    terms, output = _parse_einsum(subscripts, [to_array(o).ndim for o in operands])
    sizes: dict[str, int] = {}
    for term, operand in zip(terms, operands):
        for letter, size in zip(term, to_array(operand).shape):
            if size != 1 and sizes.get(letter, 1) not in (1, size):
                raise ValueError(f"einsum: the axis '{letter}' has sizes {sizes[letter]} and {size} in {subscripts!r}")
            sizes[letter] = builtins.max(size, sizes.get(letter, 1))
    # Stretch the length-1 axes that broadcast, so that the core sees one size per letter.
    operands = [broadcast_to(o, tuple(sizes[c] for c in term)) if to_array(o).shape != tuple(sizes[c] for c in term)
                else o for term, o in zip(terms, operands)]
    return _einsum(terms, output, [o if isinstance(o, Tensor) else to_array(o, dtype) for o in operands], dtype)


def _einsum(terms, output, operands, dtype) -> Tensor:
    arrays = [to_array(o, dtype) for o in operands]
    spec = ",".join(terms) + "->" + output
    # With optimize, NumPy contracts pairs through BLAS (tensordot) instead of its plain loops.
    optimize = len(arrays) > 1
    y = np.asarray(np.einsum(spec, *arrays, optimize=optimize)).astype(dtype, copy=False)

    def operand_grad(g, i):
        term = terms[i]
        unique = "".join(dict.fromkeys(term))
        others = [t for j, t in enumerate(terms) if j != i]
        available = set(output).union(*others)
        present = "".join(c for c in unique if c in available)
        grad = np.einsum(",".join([output] + others) + "->" + present, g,
                         *(arrays[j] for j in range(len(arrays)) if j != i), optimize=optimize)
        # Letters only in this operand were summed over in the forward: each cell gets the gradient.
        missing = [k for k, c in enumerate(unique) if c not in available]
        if missing:
            grad = np.broadcast_to(np.expand_dims(grad, missing), tuple(arrays[i].shape[term.index(c)] for c in unique))
        if len(unique) == len(term):
            return np.ascontiguousarray(grad)
        full = np.zeros(arrays[i].shape, dtype)
        np.einsum(term + "->" + unique, full)[...] = grad  # the diagonal view of `full` takes the gradient
        return full

    wanted = [needs(o) for o in operands]
    return record_op(y, tuple(operands),
                     lambda g: tuple(operand_grad(g, i) if want else None for i, want in enumerate(wanted)))


def _axes_letters(rank_a: int, rank_b: int, axes_a, axes_b) -> tuple[str, str, str]:
    """einsum terms of a tensordot contracting axes_a of a with axes_b of b."""
    letters = iter(_LETTERS)
    term_a = [next(letters) for _ in range(rank_a)]
    term_b = [next(letters) for _ in range(rank_b)]
    for i, j in zip(axes_a, axes_b):
        term_b[j] = term_a[i]
    out = [c for k, c in enumerate(term_a) if k not in axes_a] + [c for k, c in enumerate(term_b) if k not in axes_b]
    return "".join(term_a), "".join(term_b), "".join(out)


@keras_op("numpy")
def tensordot(x1, x2, axes=2):
    """Sum of products over ``axes``: an int n (the last n of x1 with the first n of x2) or a
    pair of axis lists."""
    ra, rb = to_array(x1).ndim, to_array(x2).ndim
    if isinstance(axes, (list, tuple)):
        if len(axes) != 2:
            raise ValueError(f"tensordot: `axes` must be an int or a pair of axis lists; received axes={axes!r}")
        axes_a = normalize_axis(axes[0], ra, "axes")
        axes_b = normalize_axis(axes[1], rb, "axes")
    else:
        n = check_int(axes, "axes", minimum=0)
        if n > builtins.min(ra, rb):
            raise ValueError(f"tensordot: axes={n} is more than the ranks {ra} and {rb} allow")
        axes_a, axes_b = tuple(range(ra - n, ra)), tuple(range(n))
    if len(axes_a) != len(axes_b):
        raise ValueError(f"tensordot: the two axis lists must have the same length; received axes={axes!r}")
    term_a, term_b, out = _axes_letters(ra, rb, axes_a, axes_b)
    return einsum(f"{term_a},{term_b}->{out}", x1, x2)


@keras_op("numpy")
def dot(x1, x2):
    """NumPy's dot: a product with a scalar; vectors' inner product; otherwise the sum over the
    last axis of x1 and the second-to-last of x2 (the last if x2 is 1-D)."""
    ra, rb = to_array(x1).ndim, to_array(x2).ndim
    if ra == 0 or rb == 0:
        return multiply(x1, x2)
    return tensordot(x1, x2, axes=((ra - 1,), (builtins.max(rb - 2, 0),)))


@keras_op("numpy")
def inner(x1, x2):
    """Sum of products over the last axes of x1 and x2 (a product with a scalar)."""
    ra, rb = to_array(x1).ndim, to_array(x2).ndim
    if ra == 0 or rb == 0:
        return multiply(x1, x2)
    return tensordot(x1, x2, axes=((ra - 1,), (rb - 1,)))


@keras_op("numpy")
def outer(x1, x2):
    """Outer product of the flattened arguments: (n,), (m,) -> (n, m)."""
    return multiply(reshape(x1, (-1, 1)), reshape(x2, (1, -1)))


@keras_op("numpy")
def vdot(x1, x2):
    """Sum of products of the flattened arguments."""
    return sum(multiply(ravel(x1), ravel(x2)))


# --------------------------------------------------------------------------- reductions

@keras_op("numpy")
def sum(x, axis=None, keepdims=False):
    """Sum over ``axis`` (None: every axis); booleans and narrow integers sum in int32."""
    a = to_array(x)
    axes = normalize_axis(axis, a.ndim)
    y = np.sum(a, axis=axes, keepdims=keepdims, dtype=_sum_dtype(a.dtype))
    return record_op(y, (x,), lambda g: (np.broadcast_to(restore_reduced(g, axes, a.ndim, keepdims), a.shape),))


@keras_op("numpy")
def mean(x, axis=None, keepdims=False):
    """Mean over ``axis`` (None: every axis); integers give floatx."""
    a = to_array(x)
    axes = normalize_axis(axis, a.ndim)
    dtype = float_type(x)
    count = a.size if axes is None else int(np.prod([a.shape[i] for i in axes]))
    with np.errstate(all="ignore"):  # the mean of nothing is NaN, as in Keras
        y = np.mean(a.astype(dtype, copy=False), axis=axes, keepdims=keepdims)
    return record_op(y.astype(dtype, copy=False), (x,),
                     lambda g: (np.broadcast_to(restore_reduced(g, axes, a.ndim, keepdims) / count, a.shape),))


def _extremum(x, axis, keepdims, initial, reduce):
    """max or min over ``axis``; the gradient is split equally among the cells equal to the result."""
    a = to_array(x)
    axes = normalize_axis(axis, a.ndim)
    kwargs = {} if initial is None else {"initial": initial}
    y = reduce(a, axis=axes, keepdims=keepdims, **kwargs)

    def vjp(g):
        winners = a == restore_reduced(y, axes, a.ndim, keepdims)  # (a.shape) the cells tied for the result
        # At least 1: a result that came from ``initial`` matches no cell and sends nothing back.
        ties = np.maximum(np.sum(winners, axis=axes, keepdims=True), 1)
        with np.errstate(all="ignore"):
            return (winners * (restore_reduced(g, axes, a.ndim, keepdims) / ties),)
    return record_op(y, (x,), vjp)


@keras_op("numpy")
def max(x, axis=None, keepdims=False, initial=None):
    """Maximum over ``axis`` (None: every axis), starting from ``initial`` if given."""
    return _extremum(x, axis, keepdims, initial, np.max)


@keras_op("numpy")
def amax(x, axis=None, keepdims=False):
    """Alias of :func:`max` without ``initial``."""
    return max(x, axis=axis, keepdims=keepdims)


@keras_op("numpy")
def min(x, axis=None, keepdims=False, initial=None):
    """Minimum over ``axis`` (None: every axis), starting from ``initial`` if given."""
    return _extremum(x, axis, keepdims, initial, np.min)


@keras_op("numpy")
def amin(x, axis=None, keepdims=False):
    """Alias of :func:`min` without ``initial``."""
    return min(x, axis=axis, keepdims=keepdims)


@keras_op("numpy")
def prod(x, axis=None, keepdims=False, dtype=None):
    """Product over ``axis`` (None: every axis); booleans and narrow integers multiply in int32.

    The gradient of a cell is the product of the *other* cells, built from
    prefix and suffix products, so it is exact where some cells are 0.
    """
    a = to_array(x)
    axes = normalize_axis(axis, a.ndim)
    out_dtype = standardize_dtype(dtype) if dtype is not None else _sum_dtype(a.dtype)
    a = a.astype(out_dtype, copy=False)
    y = np.prod(a, axis=axes, keepdims=keepdims)

    def vjp(g):
        reduced = tuple(range(a.ndim)) if axes is None else axes
        kept = [i for i in range(a.ndim) if i not in reduced]
        # (a.shape) -> (*kept sizes, n): the reduced axes last, flattened.
        moved = np.transpose(a, kept + list(reduced))
        lanes = moved.reshape(*moved.shape[:len(kept)], -1)
        ones = np.ones(lanes.shape[:-1] + (1,), a.dtype)
        before = np.cumprod(np.concatenate([ones, lanes[..., :-1]], axis=-1), axis=-1)
        after = np.flip(np.cumprod(np.concatenate([ones, np.flip(lanes, -1)[..., :-1]], axis=-1), axis=-1), -1)
        others = (before * after).reshape(moved.shape)
        grad_kept = restore_reduced(g, axes, a.ndim, keepdims).reshape(
            tuple(a.shape[i] for i in kept) + (1,) * len(reduced))
        return (np.transpose(others * grad_kept, np.argsort(kept + list(reduced))),)
    return record_op(y, (x,), vjp)


@keras_op("numpy")
def var(x, axis=None, keepdims=False):
    """Population variance (divisor n) over ``axis``; integers give float32."""
    x = _as_float(x)
    centred = subtract(x, mean(x, axis=axis, keepdims=True))
    return mean(multiply(centred, centred), axis=axis, keepdims=keepdims)


@keras_op("numpy")
def std(x, axis=None, keepdims=False):
    """Population standard deviation over ``axis``; integers give float32."""
    return sqrt(var(x, axis=axis, keepdims=keepdims))


@keras_op("numpy")
def average(x, axis=None, weights=None):
    """Mean over ``axis`` weighted by ``weights`` (of x's shape, or 1-D along ``axis``)."""
    if weights is None:
        return mean(x, axis=axis)
    x = _as_float(x)
    w = to_array(weights)
    if w.ndim == 1 and to_array(x).ndim > 1:
        if axis is None or isinstance(axis, (list, tuple)):
            raise ValueError("average: 1-D `weights` need a single int `axis` to lie along; received "
                             f"axis={axis!r} for an input of rank {to_array(x).ndim}")
        shape = [1] * to_array(x).ndim
        shape[normalize_one_axis(axis, len(shape))] = w.shape[0]
        weights = reshape(weights, shape)
    return divide(sum(multiply(x, weights), axis=axis), sum(multiply(ones_like(x), weights), axis=axis))


def _as_float(x):
    """x unchanged if floating, else cast to float32 (statistics of integers are float32)."""
    return x if to_array(x).dtype.kind == "f" else cast_to(x, floatx())


@keras_op("numpy")
def all(x, axis=None, keepdims=False):
    """Whether every value along ``axis`` is true (bool)."""
    a = to_array(x)
    return constant(np.all(a, axis=normalize_axis(axis, a.ndim), keepdims=keepdims))


@keras_op("numpy")
def any(x, axis=None, keepdims=False):
    """Whether some value along ``axis`` is true (bool)."""
    a = to_array(x)
    return constant(np.any(a, axis=normalize_axis(axis, a.ndim), keepdims=keepdims))


@keras_op("numpy")
def count_nonzero(x, axis=None):
    """Number of non-zero values along ``axis`` (int32)."""
    a = to_array(x)
    return constant(np.asarray(np.count_nonzero(a, axis=normalize_axis(axis, a.ndim))).astype("int32"))


@keras_op("numpy")
def argmax(x, axis=None, keepdims=False):
    """Index of the first maximum along ``axis`` (None: of the flattened input), int32."""
    a = to_array(x)
    if axis is not None:
        axis = normalize_one_axis(axis, a.ndim)
    return constant(np.argmax(a, axis=axis, keepdims=keepdims).astype("int32"))


@keras_op("numpy")
def argmin(x, axis=None, keepdims=False):
    """Index of the first minimum along ``axis`` (None: of the flattened input), int32."""
    a = to_array(x)
    if axis is not None:
        axis = normalize_one_axis(axis, a.ndim)
    return constant(np.argmin(a, axis=axis, keepdims=keepdims).astype("int32"))


@keras_op("numpy")
def argsort(x, axis=-1):
    """Indices that sort ``x`` along ``axis`` (None: flattened), stable, int32."""
    a = to_array(x)
    if axis is None:
        a, axis = a.reshape(-1), 0
    return constant(np.argsort(a, axis=normalize_one_axis(axis, a.ndim), kind="stable").astype("int32"))


@keras_op("numpy")
def sort(x, axis=-1):
    """``x`` sorted along ``axis`` (None: flattened); each value's gradient goes back to where it came from."""
    if axis is None:
        x, axis = ravel(x), 0
    axis = normalize_one_axis(axis, to_array(x).ndim)
    order = np.argsort(to_array(x), axis=axis, kind="stable")  # (x.shape) source index of each sorted cell
    return take_along_axis(x, order, axis=axis)


@keras_op("numpy")
def cumsum(x, axis=None, dtype=None):
    """Running sum along ``axis`` (None: of the flattened input); booleans sum in int32."""
    a = to_array(x)
    out_dtype = standardize_dtype(dtype) if dtype is not None else ("int32" if a.dtype == np.bool_ else a.dtype.name)
    flat = axis is None
    axis = 0 if flat else normalize_one_axis(axis, a.ndim)
    source = a.reshape(-1) if flat else a
    y = np.cumsum(source, axis=axis, dtype=out_dtype)

    def vjp(g):
        # Each input cell feeds every later output cell: a running sum from the end.
        grad = np.flip(np.cumsum(np.flip(g, axis), axis=axis), axis)
        return (grad.reshape(a.shape),)
    return record_op(y, (x,), vjp)


# --------------------------------------------------------------------------- shapes and movements

def _shape_op(x, y: np.ndarray, backward) -> Tensor:
    """An op that only moves values: ``backward(g)`` moves the gradient back."""
    return record_op(y, (x,), lambda g: (backward(g),))


@keras_op("numpy")
def reshape(x, newshape):
    """``x`` with shape ``newshape`` (one entry may be -1)."""
    a = to_array(x)
    newshape = _shape_tuple(newshape, "newshape")
    try:
        y = a.reshape(newshape)
    except ValueError:
        raise ValueError(f"reshape: cannot reshape an input of shape {a.shape} ({a.size} values) to "
                         f"newshape={newshape}") from None
    return _shape_op(x, y, lambda g: g.reshape(a.shape))


@keras_op("numpy")
def ravel(x):
    """``x`` flattened to 1-D."""
    return reshape(x, (-1,))


@keras_op("numpy")
def transpose(x, axes=None):
    """Axes permuted by ``axes`` (None: reversed)."""
    a = to_array(x)
    if axes is None:
        permutation = tuple(reversed(range(a.ndim)))
    else:
        permutation = normalize_axis(axes, a.ndim, "axes")
        if len(permutation) != a.ndim:
            raise ValueError(f"transpose: `axes` must list every axis of the rank-{a.ndim} input once; "
                             f"received axes={axes!r}")
    inverse = tuple(np.argsort(permutation))
    return _shape_op(x, a.transpose(permutation), lambda g: g.transpose(inverse))


@keras_op("numpy")
def swapaxes(x, axis1, axis2):
    """``x`` with two axes exchanged."""
    ndim = to_array(x).ndim
    i, j = normalize_one_axis(axis1, ndim, "axis1"), normalize_one_axis(axis2, ndim, "axis2")
    order = list(range(ndim))
    order[i], order[j] = order[j], order[i]
    return transpose(x, order)


@keras_op("numpy")
def moveaxis(x, source, destination):
    """``x`` with the axes ``source`` moved to the positions ``destination``."""
    ndim = to_array(x).ndim
    src = normalize_axis(source, ndim, "source")
    dst = normalize_axis(destination, ndim, "destination")
    if len(src) != len(dst):
        raise ValueError(f"moveaxis: `source` and `destination` must name as many axes; received "
                         f"source={source!r}, destination={destination!r}")
    order = [i for i in range(ndim) if i not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return transpose(x, order)


@keras_op("numpy")
def expand_dims(x, axis):
    """``x`` with new length-1 axes at ``axis`` (an int or a tuple), positions in the result."""
    a = to_array(x)
    axes = normalize_axis(axis, a.ndim + (len(axis) if isinstance(axis, (list, tuple)) else 1))
    return _shape_op(x, np.expand_dims(a, axes), lambda g: g.reshape(a.shape))


@keras_op("numpy")
def squeeze(x, axis=None):
    """``x`` without its length-1 axes (or only those in ``axis``, each of which must have length 1)."""
    a = to_array(x)
    axes = normalize_axis(axis, a.ndim)
    if axes is not None and builtins.any(a.shape[i] != 1 for i in axes):
        raise ValueError(f"squeeze: axis={axis!r} names an axis whose length is not 1 in shape {a.shape}")
    return _shape_op(x, np.squeeze(a, axis=axes), lambda g: g.reshape(a.shape))


@keras_op("numpy")
def broadcast_to(x, shape):
    """``x`` stretched to ``shape`` by broadcasting; the backward sums the copies."""
    a = to_array(x)
    shape = _shape_tuple(shape)
    try:
        y = np.broadcast_to(a, shape)
    except ValueError:
        raise ValueError(f"broadcast_to: an input of shape {a.shape} cannot broadcast to shape={shape}") from None
    return _shape_op(x, y, lambda g: unbroadcast(g, a.shape).reshape(a.shape))


@keras_op("numpy")
def concatenate(xs, axis=0):
    """Join a sequence of tensors along ``axis``; the backward splits at the same places."""
    if not isinstance(xs, (list, tuple)) or not xs:
        raise ValueError(f"concatenate: `xs` must be a non-empty list of tensors; received {type(xs).__name__}")
    dtype = result_type(*xs)
    arrays = [to_array(t, dtype) for t in xs]
    axis = normalize_one_axis(axis, arrays[0].ndim)
    try:
        y = np.concatenate(arrays, axis=axis)
    except ValueError as error:
        raise ValueError(f"concatenate: the inputs must match except along axis {axis}; received shapes "
                         f"{[a.shape for a in arrays]}") from error
    boundaries = np.cumsum([a.shape[axis] for a in arrays])[:-1]
    return record_op(y, tuple(xs), lambda g: tuple(np.split(g, boundaries, axis=axis)))


@keras_op("numpy")
def stack(x, axis=0):
    """Join a sequence of same-shape tensors along a new axis ``axis``."""
    if not isinstance(x, (list, tuple)) or not x:
        raise ValueError(f"stack: `x` must be a non-empty list of tensors; received {type(x).__name__}")
    ndim = to_array(x[0]).ndim
    axis = normalize_one_axis(axis, ndim + 1)
    return concatenate([expand_dims(t, axis) for t in x], axis=axis)


@keras_op("numpy")
def hstack(xs):
    """Concatenate along the second axis (the first for 1-D inputs)."""
    return concatenate(list(xs), axis=0 if builtins.all(to_array(t).ndim == 1 for t in xs) else 1)


@keras_op("numpy")
def vstack(xs):
    """Concatenate along the first axis, 1-D inputs becoming rows."""
    return concatenate([reshape(t, (1, -1)) if to_array(t).ndim == 1 else t for t in xs], axis=0)


def _piece(x, a: np.ndarray, index: tuple) -> Tensor:
    """``a[index]`` (a basic slice) as its own Tensor; its gradient fills the slice of a zero array."""
    def vjp(g):
        full = np.zeros(a.shape, g.dtype)
        full[index] = g
        return (full,)
    return record_op(a[index], (x,), vjp)


@keras_op("numpy")
def split(x, indices_or_sections, axis=0):
    """A list of pieces of ``x`` along ``axis``: ``indices_or_sections`` equal pieces (an int,
    which must divide the length) or the pieces between the given indices."""
    a = to_array(x)
    axis = normalize_one_axis(axis, a.ndim)
    length = a.shape[axis]
    if isinstance(indices_or_sections, (list, tuple, np.ndarray, Tensor)):
        cuts = [check_int(i, "indices_or_sections") for i in to_array(indices_or_sections).tolist()]
    else:
        sections = check_int(indices_or_sections, "indices_or_sections", minimum=1)
        if length % sections:
            raise ValueError(f"split: {sections} sections do not divide the length {length} of axis {axis} equally")
        cuts = [length // sections * k for k in range(1, sections)]
    bounds = [0] + [builtins.min(builtins.max(c if c >= 0 else c + length, 0), length) for c in cuts] + [length]
    pieces = []
    for start, stop in zip(bounds[:-1], bounds[1:]):
        index = (slice(None),) * axis + (slice(start, builtins.max(start, stop)),)
        pieces.append(_piece(x, a, index))
    return pieces


@keras_op("numpy")
def array_split(x, indices_or_sections, axis=0):
    """Like :func:`split`, but an int need not divide the length: the first pieces are one longer."""
    a = to_array(x)
    axis = normalize_one_axis(axis, a.ndim)
    if isinstance(indices_or_sections, (list, tuple, np.ndarray, Tensor)):
        return split(x, indices_or_sections, axis=axis)
    sections = check_int(indices_or_sections, "indices_or_sections", minimum=1)
    length = a.shape[axis]
    sizes = [length // sections + (1 if k < length % sections else 0) for k in range(sections)]
    return split(x, list(np.cumsum(sizes)[:-1]), axis=axis)


@keras_op("numpy")
def tile(x, repeats):
    """``x`` repeated ``repeats[i]`` times along axis i (NumPy's rules for unequal lengths)."""
    a = to_array(x)
    reps = _shape_tuple(repeats, "repeats")
    if builtins.any(r < 0 for r in reps):
        raise ValueError(f"tile: `repeats` must be non-negative; received repeats={repeats!r}")
    rank = builtins.max(a.ndim, len(reps))
    base = (1,) * (rank - a.ndim) + a.shape
    reps = (1,) * (rank - len(reps)) + reps
    y = np.tile(a.reshape(base), reps)

    def vjp(g):
        # (r0*s0, r1*s1, ...) -> (r0, s0, r1, s1, ...), summed over the copies.
        blocks = g.reshape(tuple(n for pair in zip(reps, base) for n in pair))
        return (blocks.sum(axis=tuple(range(0, 2 * rank, 2))).reshape(a.shape),)
    return record_op(y, (x,), vjp)


@keras_op("numpy")
def repeat(x, repeats, axis=None):
    """Each value of ``x`` repeated ``repeats`` times (an int, or one count per value) along
    ``axis`` (None: of the flattened input)."""
    a = to_array(x)
    if axis is None:
        source, axis = a.reshape(-1), 0
    else:
        source, axis = a, normalize_one_axis(axis, a.ndim)
    counts = to_array(repeats)
    if counts.dtype.kind not in "iu" or (counts < 0).any():
        raise ValueError(f"repeat: `repeats` must be non-negative integers; received repeats={repeats!r}")
    y = np.repeat(source, counts, axis=axis)
    length = source.shape[axis]

    def vjp(g):
        if counts.ndim == 0:
            # (.., n*r, ..) -> (.., n, r, ..) summed over the copies.
            blocks = g.reshape(source.shape[:axis] + (length, int(counts)) + source.shape[axis + 1:])
            return (blocks.sum(axis=axis + 1).reshape(a.shape),)
        per_value = np.broadcast_to(counts, (length,))
        grad = np.zeros(source.shape, g.dtype)
        nonempty = np.nonzero(per_value)[0]
        if nonempty.size:
            starts = (np.cumsum(per_value) - per_value)[nonempty]
            grad[(slice(None),) * axis + (nonempty,)] = np.add.reduceat(g, starts, axis=axis)
        return (grad.reshape(a.shape),)
    return record_op(y, (x,), vjp)


@keras_op("numpy")
def flip(x, axis=None):
    """``x`` reversed along ``axis`` (None: every axis)."""
    a = to_array(x)
    axes = normalize_axis(axis, a.ndim)
    return _shape_op(x, np.flip(a, axes).copy(), lambda g: np.flip(g, axes))


@keras_op("numpy")
def roll(x, shift, axis=None):
    """``x`` rotated by ``shift`` along ``axis`` (None: of the flattened input)."""
    a = to_array(x)
    axes = normalize_axis(axis, a.ndim)
    shifts = tuple(check_int(s, "shift") for s in shift) if isinstance(shift, (list, tuple)) else check_int(shift, "shift")
    negated = tuple(-s for s in shifts) if isinstance(shifts, tuple) else -shifts
    return _shape_op(x, np.roll(a, shifts, axis=axes), lambda g: np.roll(g, negated, axis=axes))


_PAD_MODES = ("constant", "edge", "reflect", "symmetric", "wrap")


def _pad_pairs(pad_width, ndim: int) -> tuple[tuple[int, int], ...]:
    """NumPy's pad_width forms (n, (n,), (before, after), one pair per axis) -> one pair per axis."""
    widths = to_array(pad_width)
    if widths.dtype.kind not in "iu" or (widths < 0).any() or widths.ndim > 2 \
            or (widths.ndim >= 1 and widths.shape[-1] not in (1, 2)) \
            or (widths.ndim == 2 and widths.shape[0] not in (1, ndim)):
        raise ValueError(f"pad: `pad_width` must be non-negative ints: n, (before, after) or one (before, after) "
                         f"pair per axis of the rank-{ndim} input; received pad_width={pad_width!r}")
    return tuple((int(b), int(e)) for b, e in np.broadcast_to(widths.reshape(-1, widths.shape[-1]) if widths.ndim
                                                               else widths, (ndim, 2)))


@keras_op("numpy")
def pad(x, pad_width, mode="constant", constant_values=None):
    """``x`` padded by ``pad_width`` cells (before, after) per axis.

    Modes: "constant" (``constant_values``, default 0), "edge", "reflect",
    "symmetric", "wrap", with NumPy's meaning. The gradient crops the
    padding off; for the copying modes each padded cell also sends its
    gradient to the cell it copies.
    """
    a = to_array(x)
    if mode not in _PAD_MODES:
        raise ValueError(f"pad: `mode` must be one of {_PAD_MODES}; received mode={mode!r}")
    if constant_values is not None and mode != "constant":
        raise ValueError(f"pad: `constant_values` can only be given with mode='constant'; received mode={mode!r}")
    pairs = _pad_pairs(pad_width, a.ndim)
    interior = tuple(slice(before, before + n) for (before, _), n in zip(pairs, a.shape))
    if mode == "constant":
        fill = 0 if constant_values is None else to_array(constant_values, a.dtype)
        y = np.pad(a, pairs, mode="constant", constant_values=fill)
        return _shape_op(x, y, lambda g: np.ascontiguousarray(g[interior]))
    if builtins.any(n == 0 and pair != (0, 0) for n, pair in zip(a.shape, pairs)):
        raise ValueError(f"pad: mode={mode!r} cannot pad an empty axis; received shape {a.shape}")
    # Which input cell each output cell copies, one axis at a time: pad the positions themselves.
    sources = [np.pad(np.arange(n), pair, mode=mode) for n, pair in zip(a.shape, pairs)]
    y = a
    for axis, source in enumerate(sources):
        y = np.take(y, source, axis=axis)

    def vjp(g):
        for axis in reversed(range(a.ndim)):
            grad = np.zeros(g.shape[:axis] + (a.shape[axis],) + g.shape[axis + 1:], g.dtype)
            np.add.at(grad, (slice(None),) * axis + (sources[axis],), g)
            g = grad
        return g
    return _shape_op(x, y, vjp)


@keras_op("numpy")
def take(x, indices, axis=None):
    """Values of ``x`` at ``indices`` along ``axis`` (None: of the flattened input).

    Negative indices count from the end; an index outside the axis is an
    IndexError. Repeated indices each receive their share of the gradient.
    """
    a = to_array(x)
    index = to_array(indices)
    if index.dtype.kind not in "iu":
        raise TypeError(f"take: `indices` must be integers; received dtype {index.dtype}")
    source = a.reshape(-1) if axis is None else a
    axis = 0 if axis is None else normalize_one_axis(axis, a.ndim)
    y = np.take(source, index, axis=axis)

    def vjp(g):
        grad = np.zeros(source.shape, g.dtype)
        np.add.at(grad, (slice(None),) * axis + (index,), g)
        return (grad.reshape(a.shape),)
    return record_op(y, (x,), vjp)


@keras_op("numpy")
def take_along_axis(x, indices, axis=None):
    """``x`` picked at ``indices`` along ``axis``, index i of the result reading index
    ``indices[i]`` (None: of the flattened input)."""
    a = to_array(x)
    index = to_array(indices)
    if index.dtype.kind not in "iu":
        raise TypeError(f"take_along_axis: `indices` must be integers; received dtype {index.dtype}")
    if axis is None:
        source, index, axis = a.reshape(-1), index.reshape(-1), 0
    else:
        source, axis = a, normalize_one_axis(axis, a.ndim)
    if index.ndim != source.ndim:
        raise ValueError(f"take_along_axis: `indices` must have the input's rank {source.ndim}; received "
                         f"indices of shape {index.shape}")
    # Broadcast the other axes as JAX does, so an index may stand for many rows.
    shape = list(np.broadcast_shapes(tuple(1 if i == axis else n for i, n in enumerate(source.shape)),
                                     tuple(1 if i == axis else n for i, n in enumerate(index.shape))))
    source_b = np.broadcast_to(source, tuple(shape[:axis] + [source.shape[axis]] + shape[axis + 1:]))
    index_b = np.broadcast_to(index, tuple(shape[:axis] + [index.shape[axis]] + shape[axis + 1:]))
    index_b = np.where(index_b < 0, index_b + source.shape[axis], index_b)
    y = np.take_along_axis(source_b, index_b, axis=axis)

    def vjp(g):
        grad = np.zeros(source_b.shape, g.dtype)
        grid = list(np.ix_(*(np.arange(n) for n in index_b.shape)))
        grid[axis] = index_b
        np.add.at(grad, tuple(grid), g)
        return (unbroadcast(grad, source.shape).reshape(a.shape),)
    return record_op(y, (x,), vjp)


def _is_basic_key(key) -> bool:
    """Whether an index uses only ints, slices, None and Ellipsis (so no cell is read twice)."""
    parts = key if isinstance(key, tuple) else (key,)
    return builtins.all(p is None or p is Ellipsis or isinstance(p, (slice, int, np.integer)) and not isinstance(p, bool)
                        for p in parts)


def _plain_key(key):
    """Tensors inside an index replaced by their arrays."""
    if isinstance(key, tuple):
        return tuple(_plain_key(k) for k in key)
    if isinstance(key, (Tensor, list)):
        return to_array(key)
    return key


@keras_op("numpy")
def get_item(x, key):
    """``x[key]`` with NumPy's indexing (slices, ints, None, Ellipsis, integer and boolean arrays).

    Cells read more than once (repeated integer indices) get every share of the gradient.
    """
    a = to_array(x)
    key = _plain_key(key)
    y = np.asarray(a[key])
    basic = _is_basic_key(key)

    def vjp(g):
        grad = np.zeros(a.shape, g.dtype)
        if basic:
            grad[key] = g
        else:
            np.add.at(grad, key, g)
        return (grad,)
    return record_op(y.copy() if basic else y, (x,), vjp)


@keras_op("numpy")
def tril(x, k=0):
    """``x`` with the cells above the k-th diagonal of the last two axes set to 0."""
    k = check_int(k, "k")
    return _shape_op(x, np.tril(to_array(x), k), lambda g: np.tril(g, k))


@keras_op("numpy")
def triu(x, k=0):
    """``x`` with the cells below the k-th diagonal of the last two axes set to 0."""
    k = check_int(k, "k")
    return _shape_op(x, np.triu(to_array(x), k), lambda g: np.triu(g, k))


@keras_op("numpy")
def diagonal(x, offset=0, axis1=0, axis2=1):
    """The ``offset``-th diagonal of the planes (axis1, axis2), as the last axis of the result."""
    a = to_array(x)
    offset = check_int(offset, "offset")
    axis1, axis2 = normalize_one_axis(axis1, a.ndim, "axis1"), normalize_one_axis(axis2, a.ndim, "axis2")
    y = np.diagonal(a, offset, axis1, axis2).copy()

    def vjp(g):
        grad = np.zeros(a.shape, g.dtype)
        # np.diagonal of a writeable array is a read-only view; write through the same cells' indices.
        rows = np.arange(g.shape[-1]) + builtins.max(-offset, 0)
        cols = np.arange(g.shape[-1]) + builtins.max(offset, 0)
        moved = np.moveaxis(grad, (axis1, axis2), (-2, -1))
        moved[..., rows, cols] = g
        return (grad,)
    return record_op(y, (x,), vjp)


@keras_op("numpy")
def trace(x, offset=0, axis1=0, axis2=1):
    """Sum of the ``offset``-th diagonal of the planes (axis1, axis2)."""
    return sum(diagonal(x, offset, axis1, axis2), axis=-1)


@keras_op("numpy")
def copy(x):
    """A copy of ``x`` (the gradient passes through)."""
    return _shape_op(x, to_array(x).copy(), lambda g: g)


# --------------------------------------------------------------------------- creation

def _dtype_or(dtype, default) -> str:
    return standardize_dtype(dtype) if dtype is not None else default


@keras_op("numpy")
def zeros(shape, dtype=None):
    """An array of zeros (default floatx)."""
    return constant(np.zeros(_shape_tuple(shape, minimum=0), _dtype_or(dtype, floatx())))


@keras_op("numpy")
def ones(shape, dtype=None):
    """An array of ones (default floatx)."""
    return constant(np.ones(_shape_tuple(shape, minimum=0), _dtype_or(dtype, floatx())))


@keras_op("numpy")
def empty(shape, dtype=None):
    """An array of the given shape (filled with zeros here; default float32)."""
    return zeros(shape, dtype)


@keras_op("numpy")
def full(shape, fill_value, dtype=None):
    """An array filled with ``fill_value`` (default floatx); the fill value's gradient is the sum."""
    dtype = _dtype_or(dtype, floatx())
    shape = _shape_tuple(shape, minimum=0)
    y = np.broadcast_to(to_array(fill_value, dtype), shape).copy()
    return record_op(y, (fill_value,), lambda g: (unbroadcast(g, to_array(fill_value).shape),))


@keras_op("numpy")
def zeros_like(x, dtype=None):
    """Zeros of x's shape (and dtype unless given)."""
    a = to_array(x)
    return constant(np.zeros(a.shape, _dtype_or(dtype, a.dtype.name)))


@keras_op("numpy")
def ones_like(x, dtype=None):
    """Ones of x's shape (and dtype unless given)."""
    a = to_array(x)
    return constant(np.ones(a.shape, _dtype_or(dtype, a.dtype.name)))


@keras_op("numpy")
def empty_like(x, dtype=None):
    """An array of x's shape (filled with zeros here)."""
    return zeros_like(x, dtype)


@keras_op("numpy")
def full_like(x, fill_value, dtype=None):
    """``fill_value`` in x's shape (and dtype unless given)."""
    a = to_array(x)
    return full(a.shape, fill_value, dtype=_dtype_or(dtype, a.dtype.name))


@keras_op("numpy")
def arange(start, stop=None, step=None, dtype=None):
    """Evenly spaced values in [start, stop); the dtype follows the arguments (ints give int32)."""
    values = [v for v in (start, stop, step) if v is not None]
    dtype = _dtype_or(dtype, result_type(*values))
    if stop is None:
        start, stop = 0, start
    step = 1 if step is None else step
    if step == 0:
        raise ValueError("arange: `step` must not be 0")
    return constant(np.arange(to_array(start).item(), to_array(stop).item(), to_array(step).item()).astype(dtype))


@keras_op("numpy")
def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    """``num`` evenly spaced values from start to stop (included if ``endpoint``), default float32.

    With ``retstep``, returns ``(values, step)``.
    """
    num = check_int(num, "num", minimum=0)
    dtype = _dtype_or(dtype, float_type(start, stop))
    values, step = np.linspace(to_array(start), to_array(stop), num, endpoint=endpoint, retstep=True, axis=axis)
    values = constant(values.astype(dtype))
    return (values, constant(np.asarray(step, dtype))) if retstep else values


@keras_op("numpy")
def eye(N, M=None, k=0, dtype=None):
    """An N x M matrix with ones on the k-th diagonal (default floatx)."""
    N = check_int(N, "N", minimum=0)
    M = N if M is None else check_int(M, "M", minimum=0)
    return constant(np.eye(N, M, check_int(k, "k"), dtype=_dtype_or(dtype, floatx())))


@keras_op("numpy")
def identity(n, dtype=None):
    """The n x n identity matrix (default floatx)."""
    return eye(n, dtype=dtype)


@keras_op("numpy")
def tri(N, M=None, k=0, dtype=None):
    """Ones at and below the k-th diagonal of an N x M matrix (default floatx)."""
    N = check_int(N, "N", minimum=0)
    M = N if M is None else check_int(M, "M", minimum=0)
    return constant(np.tri(N, M, check_int(k, "k"), dtype=_dtype_or(dtype, floatx())))


@keras_op("numpy")
def array(x, dtype=None):
    """``x`` as a Tensor (of ``dtype`` if given); the gradient passes through a float cast."""
    from .core import convert_to_tensor
    return convert_to_tensor(x, dtype=dtype)


# --------------------------------------------------------------------------- sizes

@keras_op("numpy")
def ndim(x):
    """Number of axes (a Python int)."""
    return to_array(x).ndim


@keras_op("numpy")
def size(x):
    """Number of values (a Python int)."""
    return int(to_array(x).size)


# The public ops of this module: every function registered under "numpy.".
__all__ = [name for name, value in list(globals().items()) if getattr(value, "op_name", "").startswith("numpy.")]
