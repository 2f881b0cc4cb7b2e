"""What the metric modules share: reading inputs as arrays, the argument checks, losses as metric functions."""

from __future__ import annotations

import functools
from typing import Callable

import numpy as np

from ..autograd import data_of, no_grad


def as_array(value) -> np.ndarray:
    """A metric's input as an array (a Tensor is read as its array: metrics record no gradient)."""
    return np.asarray(data_of(value))


def result_dtype(y_pred: np.ndarray) -> np.dtype:
    """The dtype of a metric function's values: the prediction's float dtype, float32 for integers
    and booleans (Keras's floatx), so float32 predictions give float32 values."""
    return y_pred.dtype if np.issubdtype(y_pred.dtype, np.floating) else np.dtype(np.float32)


def check_k(k, name: str) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"{name}: k must be a positive integer; received k={k!r}")
    return int(k)


def without_tape(loss_function: Callable) -> Callable:
    """A per-sample loss of :mod:`clearconv.losses` as a NumPy metric function (``__wrapped__``: the loss)."""
    @functools.wraps(loss_function)
    def metric_function(y_true, y_pred, **kwargs):
        with no_grad():
            return loss_function(as_array(y_true), as_array(y_pred), **kwargs).data
    return metric_function
