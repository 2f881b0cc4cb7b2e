"""A convolution's output pass: the bias and a fused activation, forward and backward, in place.

y (N, *out, F) += bias (F,), then ReLU when fused; the backward masks the
gradient by the ReLU's active units and sums it per filter for the bias.
With :mod:`clearconv.kernels.compiled` switched on, :mod:`.output_compiled`
does the forward in one pass, with equal values.
"""

from __future__ import annotations

import numpy as np

from .. import compiled
from ..normalization import channel_sum
from ..tuning import BIAS_ROWS_MAX_FILTERS
from .output_compiled import add_bias_and_relu

FUSED_ACTIVATIONS = (None, "linear", "relu")


def check_activation(activation) -> None:
    if activation not in FUSED_ACTIVATIONS:
        raise ValueError(f"activation must be one of {FUSED_ACTIVATIONS}; received {activation!r}")


def add_bias_and_activate(y: np.ndarray, bias, activation) -> None:
    """y (N, *out, F) += bias (F,) (None: no bias), then the fused activation, in place."""
    if (bias is not None or activation == "relu") and compiled.enabled() and y.ndim > 2 and y.flags.c_contiguous:
        add_bias_and_relu(y, bias, activation == "relu")  # one pass instead of two
        return
    if bias is not None:
        width = y.shape[-2] * y.shape[-1] if y.ndim > 2 else 0
        if y.shape[-1] < BIAS_ROWS_MAX_FILTERS and width and y.strides[-2:] == (y.shape[-1] * y.itemsize, y.itemsize):
            # NumPy's broadcast loop runs over F values at a time; with few filters adding the bias
            # repeated along whole output rows is faster, and needs only each row to be contiguous
            # (a 1D im2col output is a view with gaps between samples).
            rows = y.reshape(*y.shape[:-2], width)  # a view: only the contiguous last two axes merge
            rows += np.tile(bias, y.shape[-2])
        else:
            y += bias
    if activation == "relu":
        np.maximum(y, 0, out=y)


def activation_grad(grad: np.ndarray, output: np.ndarray | None) -> np.ndarray:
    """The gradient (N, *out, F) before the fused activation; ``output`` is the activated output of a fused
    ReLU, None otherwise. The product by the 0/1 mask, so a NaN or inf gradient where a unit is off gives NaN."""
    return grad if output is None else grad * (output > 0)


def bias_grad(grad: np.ndarray) -> np.ndarray:
    """Sum of grad (N, *out, F) over every axis but the last -> (F,)."""
    return channel_sum(grad, grad.ndim - 1)  # the one per-channel sum, so every path rounds alike
