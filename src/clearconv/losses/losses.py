"""Keras 3's loss functions and loss classes (``keras/src/losses/losses.py``), built from :mod:`clearconv.ops`.

Each per-sample function (``mean_squared_error(y_true, y_pred) -> (N, ...)``)
is a composition of differentiable ops, so its gradient is the ops' own
chain rule; the formulas, shapes and reductions are in
:mod:`clearconv.losses`. The crossentropies are those of
:mod:`clearconv.ops.nn` (Keras's ``keras.ops.binary_crossentropy``, ...), so a
loss class and the op of the same name are one computation. No loss needs a
hand-written backward:

* from logits, binary crossentropy is ``t softplus(-x) + (1 - t) softplus(x)``
  (``-t log_sigmoid(x) - (1 - t) log_sigmoid(-x)``), whose gradient
  ``(1 - t) sigmoid(x) - t sigmoid(-x)`` is ``sigmoid(x) - t`` without the
  cancellation of that form near a confident prediction (and 1/2 - t at
  x = 0, where a composition through ``max(x, 0)`` and ``|x|`` would be
  wrong); categorical crossentropy goes through ``log_softmax``, whose
  backward is ``g - softmax(x) sum(g)``;
* from probabilities, the clip to [EPSILON, 1 - EPSILON] is ``ops.clip``:
  no gradient where it is active (and half at a bound, as Keras's JAX backend).

The one choice of slope: ``mean_absolute_error`` takes ``|e|`` as
``e * sign(e)`` with ``sign`` a constant, so its slope at e = 0 is 0, as
``torch.nn.functional.l1_loss`` (``ops.absolute`` has JAX's slope 1 there).
"""

from __future__ import annotations

import math
from typing import Callable, Mapping

import numpy as np

from .. import ops, serialization_lib
from ..autograd import Tensor, data_of
from ..utils import check_flag
from .loss import Loss, as_prediction, as_target, reshaped, same_rank_shapes


# --- inputs and argument checks ---------------------------------------------------------


def _matched_pair(y_true, y_pred, name: str, elementwise: bool):
    """(targets array, prediction Tensor) of one shape, as the element-wise losses need.

    ``elementwise``: rank-0/1 predictions are read as one value per sample,
    shape (N, 1) (see :mod:`clearconv.losses`).
    """
    y_pred = as_prediction(y_pred)
    y_true = as_target(y_true, y_pred.dtype)
    received = (y_true.shape, y_pred.shape)
    if elementwise and y_pred.ndim <= 1:
        y_pred = reshaped(y_pred, (-1, 1))
        if y_true.ndim <= 1 and y_true.size == y_pred.shape[0]:
            y_true = y_true.reshape(-1, 1)
    true_shape, pred_shape = same_rank_shapes(y_true.shape, y_pred.shape)
    y_true, y_pred = reshaped(y_true, true_shape), reshaped(y_pred, pred_shape)
    try:
        compatible = np.broadcast_shapes(y_true.shape, y_pred.shape) == y_pred.shape
    except ValueError:
        compatible = False
    if not compatible:
        raise ValueError(f"{name}: y_true of shape {received[0]} does not match y_pred of shape "
                         f"{received[1]}; y_true must have y_pred's shape (or broadcast to it)")
    return np.broadcast_to(y_true, y_pred.shape), y_pred


def _smoothed(y_true: np.ndarray, smoothing: float, share: float) -> np.ndarray:
    """Label smoothing ``y (1 - s) + s * share``, with both factors in y_true's dtype."""
    cast = y_true.dtype.type
    return y_true * cast(1.0 - smoothing) + cast(smoothing * share)


def _check_label_smoothing(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) \
            or not (0.0 <= float(value) <= 1.0):
        raise ValueError(f"{name}: label_smoothing must be a float in [0, 1]; received {value!r}")
    return float(value)


def _check_axis(axis, name: str) -> int:
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise ValueError(f"{name}: `axis` must be an int; received axis={axis!r}")
    return int(axis)


def _normalise_axis(axis: int, ndim: int, name: str) -> int:
    if not -ndim <= axis < ndim:
        raise ValueError(f"{name}: axis={axis} is out of range for y_pred of rank {ndim}")
    return axis % ndim


def _check_delta(delta) -> float:
    if isinstance(delta, bool) or not isinstance(delta, (int, float, np.number)) \
            or not math.isfinite(delta) or delta <= 0:
        raise ValueError(f"huber: delta must be a positive finite float; received delta={delta!r}")
    return float(delta)


def sparse_labels(y_true, pred_shape: tuple, axis: int, name: str, ignore_class=None) -> np.ndarray:
    """Integer labels of shape ``pred_shape`` without ``axis``, validated against the class count."""
    labels = np.asarray(data_of(y_true))
    expected = tuple(np.delete(np.array(pred_shape, dtype=np.int64), axis))
    if labels.ndim == len(pred_shape) and labels.shape[-1] == 1:
        labels = labels.reshape(labels.shape[:-1])
    if labels.shape != expected:
        raise ValueError(f"{name}: y_true of shape {np.shape(data_of(y_true))} does not match y_pred of "
                         f"shape {tuple(pred_shape)}; expected integer labels of shape {expected} "
                         f"(or {expected + (1,)})")
    if labels.dtype == np.bool_ or not np.issubdtype(labels.dtype, np.number):
        raise ValueError(f"{name}: labels must be integer class ids; received dtype {labels.dtype}")
    if not np.issubdtype(labels.dtype, np.integer):
        integral = np.isfinite(labels) & (labels == np.round(labels))
        if not np.all(integral):
            bad = labels[~integral].flat[0]
            raise ValueError(f"{name}: labels must be integer class ids; received the value {bad!r}")
    labels = labels.astype(np.int64)
    num_classes = pred_shape[axis]
    checked = labels if ignore_class is None else labels[labels != ignore_class]
    outside = (checked < 0) | (checked >= num_classes)
    if np.any(outside):
        bad = checked[outside].flat[0]
        raise ValueError(f"{name}: label {bad} is out of range; y_pred has {num_classes} classes, so labels "
                         f"must be in [0, {num_classes - 1}]")
    return labels


# --- per-sample loss functions (Keras's functional API) -----------------------------------


def mean_squared_error(y_true, y_pred) -> Tensor:
    """Per-sample mean((y_true - y_pred)^2) over the last axis: (N, ..., d) -> (N, ...)."""
    y_true, y_pred = _matched_pair(y_true, y_pred, "mean_squared_error", elementwise=True)
    return ops.mean(ops.square(ops.subtract(y_pred, y_true)), axis=-1)


def mean_absolute_error(y_true, y_pred) -> Tensor:
    """Per-sample mean(|y_true - y_pred|) over the last axis (gradient sign(e), 0 at e = 0)."""
    y_true, y_pred = _matched_pair(y_true, y_pred, "mean_absolute_error", elementwise=True)
    error = ops.subtract(y_pred, y_true)
    # |e| = e * sign(e), sign a constant: the slope is sign(e), 0 at e = 0 as torch's l1_loss
    return ops.mean(ops.multiply(error, ops.sign(error)), axis=-1)


def huber(y_true, y_pred, delta: float = 1.0) -> Tensor:
    """Per-sample Huber loss, averaged over the last axis: (N, ..., d) -> (N, ...).

    Elements: 0.5 e^2 where |e| <= delta, delta |e| - 0.5 delta^2 elsewhere (slope e, or delta sign(e)).
    """
    delta = _check_delta(delta)
    y_true, y_pred = _matched_pair(y_true, y_pred, "huber", elementwise=True)
    error = ops.subtract(y_pred, y_true)
    size = ops.absolute(error)  # its kink at 0 lies in the quadratic branch, which does not use it
    elements = ops.where(ops.less_equal(size, delta), ops.multiply(0.5, ops.square(error)),
                         ops.subtract(ops.multiply(delta, size), 0.5 * delta * delta))
    return ops.mean(elements, axis=-1)


def binary_crossentropy(y_true, y_pred, from_logits: bool = False, label_smoothing: float = 0.0,
                        axis: int = -1) -> Tensor:
    """Per-sample binary crossentropy, averaged over ``axis``: (N, ..., d) -> (N, ...) for axis -1.

    Elements are :func:`clearconv.ops.binary_crossentropy`'s. label_smoothing s:
    targets become y (1 - s) + 0.5 s.
    """
    name = "binary_crossentropy"
    label_smoothing = _check_label_smoothing(label_smoothing, name)
    axis = _check_axis(axis, name)
    y_true, y_pred = _matched_pair(y_true, y_pred, name, elementwise=True)
    if label_smoothing:
        y_true = _smoothed(y_true, label_smoothing, 0.5)
    elements = ops.nn.binary_crossentropy(y_true, y_pred, from_logits=from_logits)
    return ops.mean(elements, axis=_normalise_axis(axis, elements.ndim, name))


def categorical_crossentropy(y_true, y_pred, from_logits: bool = False, label_smoothing: float = 0.0,
                             axis: int = -1) -> Tensor:
    """Per-sample crossentropy of one-hot (or soft) targets, summed over the class ``axis``.

    y_true and y_pred: (N, ..., C) (C at ``axis``) -> (N, ...); the values are
    :func:`clearconv.ops.categorical_crossentropy`'s (probabilities are
    renormalised along ``axis`` and clipped; logits go through log_softmax).
    label_smoothing s: targets become y (1 - s) + s / C.
    """
    name = "categorical_crossentropy"
    label_smoothing = _check_label_smoothing(label_smoothing, name)
    axis = _check_axis(axis, name)
    y_true, y_pred = _matched_pair(y_true, y_pred, name, elementwise=False)
    if y_pred.ndim == 0:
        raise ValueError(f"{name}: y_pred must have a class axis; received a scalar")
    axis = _normalise_axis(axis, y_pred.ndim, name)
    if label_smoothing:
        y_true = _smoothed(y_true, label_smoothing, 1.0 / y_pred.shape[axis])
    return ops.nn.categorical_crossentropy(y_true, y_pred, from_logits=from_logits, axis=axis)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits: bool = False, ignore_class=None,
                                    axis: int = -1) -> Tensor:
    """Per-sample crossentropy of integer class labels.

    y_pred: (N, ..., C) scores with the classes at ``axis``; y_true: the same
    shape without that axis, (N, ...), or with a trailing 1, (N, ..., 1).
    Labels are integers in [0, C) (floats with integral values are accepted);
    anything else raises ValueError. ``ignore_class``: positions with that
    label get loss 0 (and the class's reduction counts only the others).
    """
    values, _ = _sparse_crossentropy_with_mask(y_true, y_pred, from_logits, ignore_class, axis)
    return values


def _sparse_crossentropy_with_mask(y_true, y_pred, from_logits, ignore_class, axis):
    """(per-sample losses (N, ...), the kept positions or None): categorical crossentropy of the one-hot labels."""
    name = "sparse_categorical_crossentropy"
    axis = _check_axis(axis, name)
    y_pred = as_prediction(y_pred)
    if y_pred.ndim == 0:
        raise ValueError(f"{name}: y_pred must have a class axis; received a scalar")
    axis = _normalise_axis(axis, y_pred.ndim, name)
    labels = sparse_labels(y_true, y_pred.shape, axis, name, ignore_class)
    keep = None if ignore_class is None else labels != ignore_class
    if keep is not None:
        labels = np.where(keep, labels, 0)
    # (N, ...) integer labels -> (N, ..., C, ...) one-hot with the classes at `axis`
    one_hot = ops.one_hot(labels, y_pred.shape[axis], axis=axis, dtype=y_pred.dtype.name)
    values = ops.nn.categorical_crossentropy(one_hot, y_pred, from_logits=from_logits, axis=axis)
    if keep is not None:
        values = ops.where(keep, values, 0.0)  # no gradient reaches the ignored positions
    return values, keep


# Keras's short names.
mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
bce = BCE = binary_crossentropy


# --- loss classes -------------------------------------------------------------------------


class LossFunctionWrapper(Loss):
    """A per-sample loss function ``fn(y_true, y_pred, **kwargs)`` made into a reducing Loss.

    As Keras, y_true and y_pred are first brought to the same rank. The config
    names the function (``"fn"``); a function of your own is found again when
    registered or passed in ``custom_objects``.
    """

    def __init__(self, fn: Callable, reduction="sum_over_batch_size", name: str | None = None, dtype=None,
                 **kwargs):
        if not callable(fn):
            raise TypeError(f"LossFunctionWrapper: `fn` must be callable; received {fn!r}")
        super().__init__(name=name or getattr(fn, "__name__", None) or "loss", reduction=reduction, dtype=dtype)
        self.fn = fn
        self._fn_kwargs = kwargs

    def call(self, y_true, y_pred):
        true_shape, pred_shape = same_rank_shapes(y_true.shape, y_pred.shape)
        return self.fn(reshaped(y_true, true_shape), reshaped(y_pred, pred_shape), **self._fn_kwargs)

    def get_config(self) -> dict:
        return {**super().get_config(), "fn": serialization_lib.function_name(self.fn), **self._fn_kwargs}

    @classmethod
    def from_config(cls, config: dict, custom_objects: Mapping | None = None):
        return serialization_lib.rebuild_function_wrapper(cls, config, FUNCTIONS, custom_objects, "loss")


class MeanSquaredError(Loss):
    """mean((y_true - y_pred)^2) over the last axis, then reduced."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_error", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true, y_pred):
        return mean_squared_error(y_true, y_pred)


class MeanAbsoluteError(Loss):
    """mean(|y_true - y_pred|) over the last axis, then reduced."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_error", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true, y_pred):
        return mean_absolute_error(y_true, y_pred)


class Huber(Loss):
    """Huber loss with threshold ``delta`` (> 0), averaged over the last axis, then reduced."""

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name="huber_loss", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.delta = _check_delta(delta)

    def call(self, y_true, y_pred):
        return huber(y_true, y_pred, delta=self.delta)

    def get_config(self) -> dict:
        return {**super().get_config(), "delta": self.delta}


class BinaryCrossentropy(Loss):
    """Binary crossentropy of targets in [0, 1], averaged over ``axis``, then reduced.

    from_logits: y_pred holds logits (recommended: exact and stable);
    otherwise probabilities, clipped to [1e-7, 1 - 1e-7].
    """

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="binary_crossentropy", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.from_logits = check_flag(self.name, "from_logits", from_logits)
        self.label_smoothing = _check_label_smoothing(label_smoothing, self.name)
        self.axis = _check_axis(axis, self.name)

    def call(self, y_true, y_pred):
        return binary_crossentropy(y_true, y_pred, self.from_logits, self.label_smoothing, self.axis)

    def get_config(self) -> dict:
        return {**super().get_config(), "from_logits": self.from_logits, "label_smoothing": self.label_smoothing,
                "axis": self.axis}


class CategoricalCrossentropy(Loss):
    """Crossentropy of one-hot targets, summed over the class ``axis``, then reduced."""

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="categorical_crossentropy", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.from_logits = check_flag(self.name, "from_logits", from_logits)
        self.label_smoothing = _check_label_smoothing(label_smoothing, self.name)
        self.axis = _check_axis(axis, self.name)

    def call(self, y_true, y_pred):
        return categorical_crossentropy(y_true, y_pred, self.from_logits, self.label_smoothing, self.axis)

    def get_config(self) -> dict:
        return {**super().get_config(), "from_logits": self.from_logits, "label_smoothing": self.label_smoothing,
                "axis": self.axis}


class SparseCategoricalCrossentropy(Loss):
    """Crossentropy of integer labels against scores (N, ..., C), then reduced.

    ignore_class: a label value whose positions are left out; with the
    default reduction the mean is then over the other positions only.
    """

    def __init__(self, from_logits=False, ignore_class=None, reduction="sum_over_batch_size",
                 name="sparse_categorical_crossentropy", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.from_logits = check_flag(self.name, "from_logits", from_logits)
        if ignore_class is not None and (isinstance(ignore_class, bool)
                                         or not isinstance(ignore_class, (int, np.integer))):
            raise ValueError(f"{self.name}: ignore_class must be an int or None; received {ignore_class!r}")
        self.ignore_class = None if ignore_class is None else int(ignore_class)

    def _per_sample(self, y_true, y_pred: Tensor):
        return _sparse_crossentropy_with_mask(y_true, y_pred, self.from_logits, self.ignore_class, -1)

    def call(self, y_true, y_pred):
        return sparse_categorical_crossentropy(y_true, y_pred, self.from_logits, self.ignore_class)

    def get_config(self) -> dict:
        return {**super().get_config(), "from_logits": self.from_logits, "ignore_class": self.ignore_class}


CLASSES = (MeanSquaredError, MeanAbsoluteError, Huber, BinaryCrossentropy, CategoricalCrossentropy,
           SparseCategoricalCrossentropy)

# per-sample function -> the class that reduces it
FUNCTION_CLASSES: dict[Callable, type] = {
    mean_squared_error: MeanSquaredError,
    mean_absolute_error: MeanAbsoluteError,
    huber: Huber,
    binary_crossentropy: BinaryCrossentropy,
    categorical_crossentropy: CategoricalCrossentropy,
    sparse_categorical_crossentropy: SparseCategoricalCrossentropy,
}
# function name -> function: what a LossFunctionWrapper's config may name
FUNCTIONS: dict[str, Callable] = {fn.__name__: fn for fn in FUNCTION_CLASSES}
