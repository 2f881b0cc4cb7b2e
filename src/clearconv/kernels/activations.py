"""Element-wise activations (and softmax) on NumPy arrays: forward and backward.

Every activation ``name`` has

* ``name(x, **params) -> y``, the Keras 3 function with Keras's defaults, and
* ``name_backward(grad, x, y, **params) -> dx``, the vector-Jacobian product
  ``dx = grad * dy/dx`` (softmax: ``grad @ J``). It reads whichever of the
  input ``x`` and the output ``y`` gives the cheaper formula.

All arrays share one shape, any shape. Softmax and log_softmax normalise along
``axis``; everything else is element-wise. The dtype is kept: float32 in gives
float32 out (constants are Python floats, which NumPy does not let upcast an
array). NaN in gives NaN out at the same place.

At a kink (relu at 0, relu6 at 0 and 6, ...) the derivative taken is 0 on the
flat side, as PyTorch does.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

# --- helpers ------------------------------------------------------------------


def _float_array(x) -> np.ndarray:
    """x as a floating array; integers become float32 (Keras's floatx)."""
    x = np.asarray(x)
    return x if np.issubdtype(x.dtype, np.floating) else x.astype(np.float32)


def _as(condition: np.ndarray, like: np.ndarray) -> np.ndarray:
    """A boolean mask as 0/1 in ``like``'s dtype (a bare bool * float would upcast)."""
    return condition.astype(like.dtype)


def _horner(z: np.ndarray, coefficients) -> np.ndarray:
    """sum_k c_k z^(n-k) with the coefficients given from the highest degree down."""
    result = np.full_like(z, coefficients[0])
    for coefficient in coefficients[1:]:
        result = result * z + coefficient
    return result


# --- erf and erfc ---------------------------------------------------------------
# Rational approximations of S. L. Moshier's Cephes library (ndtr.c), chosen
# for double precision: erf(x) = x T(x^2) / U(x^2) for |x| < 1, and
# erfc(a) = exp(-a^2) P(a) / Q(a) for 1 <= a < 8, exp(-a^2) R(a) / S(a) beyond.
# The leading 1.0 of U, Q and S is written out.
_ERF_T = (9.60497373987051638749e0, 9.00260197203842689217e1, 2.23200534594684319226e3,
          7.00332514112805075473e3, 5.55923013010394962768e4)
_ERF_U = (1.0, 3.35617141647503099647e1, 5.21357949780152679795e2, 4.59432382970980127987e3,
          2.26290000613890934246e4, 4.92673942608635921086e4)
_ERFC_P = (2.46196981473530512524e-10, 5.64189564831068821977e-1, 7.46321056442269912687e0,
           4.86371970985681366614e1, 1.96520832956077098242e2, 5.26445194995477358631e2,
           9.34528527171957607540e2, 1.02755188689515710272e3, 5.57535335369399327526e2)
_ERFC_Q = (1.0, 1.32281951154744992508e1, 8.67072140885989742329e1, 3.54937778887819891062e2,
           9.75708501743205489753e2, 1.82390916687909736289e3, 2.24633760818710981792e3,
           1.65666309194161350182e3, 5.57535340817727675546e2)
_ERFC_R = (5.64189583547755073984e-1, 1.27536670759978104416e0, 5.01905042251180477414e0,
           6.16021097993053585195e0, 7.40974269950448939160e0, 2.97886665372100240670e0)
_ERFC_S = (1.0, 2.26052863220117276590e0, 9.39603524938001434673e0, 1.20489539808096656605e1,
           1.70814450747565897222e1, 9.60896809063285878019e0, 3.36907645100081516050e0)
# erfc(a) underflows to 0 in double for a > 27.3; capping there keeps R/S away from inf/inf.
_ERFC_CAP = 30.0


def _piecewise(x: np.ndarray, condition: np.ndarray, when_true, when_false) -> np.ndarray:
    """when_true(x) where condition holds, when_false(x) elsewhere; each is evaluated only where used."""
    result = np.empty_like(x)
    result[condition] = when_true(x[condition])
    result[~condition] = when_false(x[~condition])
    return result


def _erf_near_zero(x: np.ndarray) -> np.ndarray:
    """erf for |x| < 1."""
    squared = x * x
    return x * _horner(squared, _ERF_T) / _horner(squared, _ERF_U)


def _erfc_tail(a: np.ndarray) -> np.ndarray:
    """erfc for a >= 1 (or NaN), with relative accuracy: no 1 - erf cancellation."""
    a = np.minimum(a, _ERFC_CAP)
    ratio = _piecewise(a, a < 8.0, lambda t: _horner(t, _ERFC_P) / _horner(t, _ERFC_Q),
                       lambda t: _horner(t, _ERFC_R) / _horner(t, _ERFC_S))
    return np.exp(-a * a) * ratio


def erf(x) -> np.ndarray:
    """The error function 2/sqrt(pi) * integral_0^x exp(-t^2) dt, element-wise.

    Any shape; keeps float32/float64. Absolute error below 1e-15 in float64.
    """
    x = _float_array(x)
    # NaN fails |x| < 1 and goes to the tail branch, which returns NaN.
    return _piecewise(x, np.abs(x) < 1.0, _erf_near_zero,
                      lambda t: np.sign(t) * (1.0 - _erfc_tail(np.abs(t))))


def erfc(x) -> np.ndarray:
    """The complementary error function 1 - erf(x), accurate relative to its value for large x.

    Any shape; keeps float32/float64. Relative error below 1e-13 in float64
    while erfc(x) is a normal number (x < 26.5); it comes from rounding x^2
    inside exp(-x^2).
    """
    x = _float_array(x)

    def outside(t):
        tail = _erfc_tail(np.abs(t))
        return np.where(t > 0, tail, 2.0 - tail)  # erfc(-a) = 2 - erfc(a)
    return _piecewise(x, np.abs(x) < 1.0, lambda t: 1.0 - _erf_near_zero(t), outside)


# --- piecewise-linear ---------------------------------------------------------


def linear(x) -> np.ndarray:
    """Identity: y = x."""
    return _float_array(x)


def linear_backward(grad, x, y) -> np.ndarray:
    return grad


def relu(x, max_value: float | None = None, negative_slope: float = 0.0, threshold: float = 0.0) -> np.ndarray:
    """Keras ``activations.relu`` / ``layers.ReLU``.

    With the ReLU layer's valid arguments (threshold >= 0, max_value >= 0):
    y = min(x, max_value) for x > threshold, else negative_slope * (x - threshold).
    Written in the same steps as Keras (keep x above the threshold, clip to
    [0, max_value], subtract the negative part) so that every argument,
    including a negative threshold, gives Keras's value.
    """
    x = _float_array(x)
    # Constants in x's dtype: before NumPy 2 (NEP 50), a 0-d float32 array met with a Python float became float64.
    zero, threshold = x.dtype.type(0), x.dtype.type(threshold)
    if threshold != 0:
        y = x * _as(x > threshold, x)  # multiply, not where: NaN * 0 stays NaN
    else:
        y = np.maximum(x, zero)
    if max_value is not None:
        y = np.clip(y, zero, x.dtype.type(max_value))
    if negative_slope != 0:
        y = y - x.dtype.type(negative_slope) * np.maximum(threshold - x, zero)
    return y


def relu_backward(grad, x, y, max_value: float | None = None, negative_slope: float = 0.0,
                  threshold: float = 0.0) -> np.ndarray:
    """dy/dx is 1 where x passes unchanged, negative_slope below the threshold, 0 elsewhere."""
    if threshold == 0 and max_value is None and negative_slope == 0 and grad.dtype == x.dtype:
        # the plain ReLU: one mask and one product, True and False taken as 1 and 0 in grad's dtype
        return grad * (x > 0)
    passes = x > threshold
    if threshold == 0 or max_value is not None:
        passes &= x > 0  # the relu, or the lower end of the clip
    if max_value is not None:
        passes &= x < max_value
    slope = _as(passes, x)
    if negative_slope != 0:
        slope = slope + negative_slope * _as(x < threshold, x)
    return grad * slope


def relu6(x) -> np.ndarray:
    """y = min(max(x, 0), 6)."""
    return np.clip(_float_array(x), 0, 6)


def relu6_backward(grad, x, y) -> np.ndarray:
    return grad * _as((x > 0) & (x < 6), x)


def leaky_relu(x, negative_slope: float = 0.2) -> np.ndarray:
    """y = x for x >= 0, negative_slope * x otherwise (Keras function default 0.2;
    the LeakyReLU *layer* passes 0.3)."""
    x = _float_array(x)
    return np.where(x >= 0, x, negative_slope * x)


def leaky_relu_backward(grad, x, y, negative_slope: float = 0.2) -> np.ndarray:
    return np.where(x > 0, grad, negative_slope * grad)


def hard_sigmoid(x) -> np.ndarray:
    """Keras 3: y = relu6(x + 3) / 6, i.e. clip(x/6 + 1/2, 0, 1) (not Keras 2's 0.2x + 0.5)."""
    return np.clip(_float_array(x) + 3, 0, 6) / 6


def hard_sigmoid_backward(grad, x, y) -> np.ndarray:
    return grad * _as((x > -3) & (x < 3), x) / 6


# --- exponential family -------------------------------------------------------


def elu(x, alpha: float = 1.0) -> np.ndarray:
    """y = x for x > 0, alpha * (exp(x) - 1) otherwise."""
    x = _float_array(x)
    # expm1 of min(x, 0): accurate near 0 and never overflows on the unused side.
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


def elu_backward(grad, x, y, alpha: float = 1.0) -> np.ndarray:
    """For x <= 0, dy/dx = alpha * exp(x) = y + alpha."""
    return np.where(x > 0, grad, grad * (y + alpha))


# Keras's SELU constants (Klambauer et al. 2017), to double precision.
SELU_ALPHA = 1.67326324235437728481
SELU_SCALE = 1.05070098735548049342


def selu(x) -> np.ndarray:
    """y = SELU_SCALE * elu(x, SELU_ALPHA)."""
    return SELU_SCALE * elu(x, SELU_ALPHA)


def selu_backward(grad, x, y) -> np.ndarray:
    """For x <= 0, dy/dx = scale * alpha * exp(x) = y + scale * alpha."""
    return np.where(x > 0, SELU_SCALE * grad, grad * (y + SELU_SCALE * SELU_ALPHA))


def sigmoid(x) -> np.ndarray:
    """y = 1 / (1 + exp(-x)), evaluated through exp(-|x|) <= 1 so it never overflows."""
    x = _float_array(x)
    decay = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + decay), decay / (1 + decay))


def sigmoid_backward(grad, x, y) -> np.ndarray:
    return grad * y * (1 - y)


def tanh(x) -> np.ndarray:
    """y = tanh(x)."""
    return np.tanh(_float_array(x))


def tanh_backward(grad, x, y) -> np.ndarray:
    return grad * (1 - y * y)


def softplus(x) -> np.ndarray:
    """y = log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)): no overflow, no cancellation."""
    x = _float_array(x)
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def softplus_backward(grad, x, y) -> np.ndarray:
    return grad * sigmoid(x)


def softsign(x) -> np.ndarray:
    """y = x / (1 + |x|)."""
    x = _float_array(x)
    return x / (1 + np.abs(x))


def softsign_backward(grad, x, y) -> np.ndarray:
    denominator = 1 + np.abs(x)
    return grad / (denominator * denominator)


def silu(x) -> np.ndarray:
    """Swish / SiLU: y = x * sigmoid(x)."""
    x = _float_array(x)
    return x * sigmoid(x)


def silu_backward(grad, x, y) -> np.ndarray:
    """dy/dx = s + x s (1 - s) with s = sigmoid(x)."""
    s = sigmoid(x)
    return grad * s * (1 + x * (1 - s))


swish, swish_backward = silu, silu_backward


# --- gelu ---------------------------------------------------------------------
_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_TANH_SCALE = math.sqrt(2.0 / math.pi)
_TANH_CUBIC = 0.044715


def gelu(x, approximate: bool = False) -> np.ndarray:
    """y = x * Phi(x), Phi the standard normal CDF.

    approximate=False: Phi(x) = (1 + erf(x / sqrt 2)) / 2, evaluated as
    erfc(-x / sqrt 2) / 2 so that it keeps its relative accuracy for x < 0.
    approximate=True:  Phi(x) ~ (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2.
    """
    x = _float_array(x)
    if approximate:
        return 0.5 * x * (1 + np.tanh(_TANH_SCALE * (x + _TANH_CUBIC * x * x * x)))
    return 0.5 * x * erfc(-_SQRT_HALF * x)


def gelu_backward(grad, x, y, approximate: bool = False) -> np.ndarray:
    if approximate:
        t = np.tanh(_TANH_SCALE * (x + _TANH_CUBIC * x * x * x))
        inner_slope = _TANH_SCALE * (1 + 3 * _TANH_CUBIC * x * x)
        return grad * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * inner_slope)
    cdf = 0.5 * erfc(-_SQRT_HALF * x)
    pdf = _INV_SQRT_2PI * np.exp(-0.5 * x * x)
    return grad * (cdf + x * pdf)


# --- normalising --------------------------------------------------------------


def softmax(x, axis=-1) -> np.ndarray:
    """y = exp(x) / sum(exp(x)) along ``axis`` (an int or a tuple of ints).

    The max is subtracted first, so no exp overflows. An empty ``x`` gives an
    empty result, as in PyTorch, also along an empty ``axis`` (which has no max).
    """
    x = _float_array(x)
    if x.size == 0:
        return x.copy()
    exps = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return exps / np.sum(exps, axis=axis, keepdims=True)


def softmax_backward(grad, x, y, axis=-1) -> np.ndarray:
    """dx = y * (grad - <grad, y>), the inner product taken along ``axis``."""
    return y * (grad - np.sum(grad * y, axis=axis, keepdims=True))


def log_softmax(x, axis=-1) -> np.ndarray:
    """y = x - log(sum(exp(x))) along ``axis``, computed from x - max(x); empty for an empty ``x``."""
    x = _float_array(x)
    if x.size == 0:
        return x.copy()
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def log_softmax_backward(grad, x, y, axis=-1) -> np.ndarray:
    """dx = grad - softmax(x) * sum(grad), with softmax(x) = exp(y)."""
    return grad - np.exp(y) * np.sum(grad, axis=axis, keepdims=True)


# --- registry -----------------------------------------------------------------
Forward = Callable[..., np.ndarray]
Backward = Callable[..., np.ndarray]

ACTIVATIONS: dict[str, tuple[Forward, Backward]] = {
    "linear": (linear, linear_backward),
    "relu": (relu, relu_backward),
    "relu6": (relu6, relu6_backward),
    "leaky_relu": (leaky_relu, leaky_relu_backward),
    "elu": (elu, elu_backward),
    "selu": (selu, selu_backward),
    "sigmoid": (sigmoid, sigmoid_backward),
    "hard_sigmoid": (hard_sigmoid, hard_sigmoid_backward),
    "tanh": (tanh, tanh_backward),
    "softmax": (softmax, softmax_backward),
    "log_softmax": (log_softmax, log_softmax_backward),
    "softplus": (softplus, softplus_backward),
    "softsign": (softsign, softsign_backward),
    "gelu": (gelu, gelu_backward),
    "swish": (swish, swish_backward),
    "silu": (silu, silu_backward),
}


def get(name: str) -> tuple[Forward, Backward]:
    """(forward, backward) of the activation called ``name`` (a Keras name)."""
    if not isinstance(name, str):
        raise TypeError(f"activation name must be a string; received {name!r}")
    if name not in ACTIVATIONS:
        raise ValueError(f"Unknown activation {name!r}. Valid: {', '.join(sorted(ACTIVATIONS))}")
    return ACTIVATIONS[name]
