"""Loss functions with Keras 3's names, formulas and reductions.

Two forms, as in Keras:

* functions ``mean_squared_error(y_true, y_pred) -> Tensor`` (aliases ``mse``,
  ``mae``, ...) return the **per-sample** losses, unreduced;
* classes ``MeanSquaredError()(y_true, y_pred, sample_weight=None) -> Tensor``
  return one scalar, reduced the Keras way (below).

``y_true`` is a NumPy array (a Tensor is read as its array: no gradient goes
to the targets). ``y_pred`` is the model's output Tensor (an array is wrapped
as a constant); the result is a Tensor on the tape, so ``loss.backward()``
fills the weights' ``.grad``. Everything is computed in ``y_pred``'s dtype
(float32 stays float32, float64 stays float64); ``y_true`` is cast to it.

Per-sample losses (the ``call`` of each class)
-----------------------------------------------
With ``e = y_pred - y_true`` and means taken over the last axis:

=========================  ==============================================================
MeanSquaredError           mean(e^2)
MeanAbsoluteError          mean(|e|)
Huber(delta)               mean(0.5 e^2 if |e| <= delta else delta |e| - 0.5 delta^2)
BinaryCrossentropy         mean over ``axis`` of -(y log p + (1 - y) log(1 - p))
CategoricalCrossentropy    -sum over ``axis`` of y log p
SparseCategorical...       -log p[label] (the class axis is the last one)
=========================  ==============================================================

Before that, ``y_true`` and ``y_pred`` are brought to the same rank the way
Keras's ``squeeze_or_expand_to_same_rank`` does: labels of shape (N,) against
predictions (N, 1) become (N, 1).

Numerical care (EPSILON is ``clearconv.config.epsilon()``, 1e-7 unless set, read at each call as Keras does):

* ``from_logits=True``: binary uses ``max(x, 0) - x y + log1p(exp(-|x|))``
  (the softplus form, exact like Keras's JAX backend's log_sigmoid) with
  gradient ``sigmoid(x) - y``; categorical uses
  ``log_softmax`` with gradient ``softmax(x) * sum(y) - y``. Logits of 1e4
  give finite losses and gradients, without warnings.
* probabilities: binary clips p to [EPSILON, 1 - EPSILON] before the log;
  categorical first divides p by its sum over the class axis (Keras does,
  so rows that do not sum to one are renormalised), then clips. The
  gradient is zero where the clip is active, as for a clip op.

Reduction (Keras 3 ``reduce_weighted_values``)
----------------------------------------------
``sample_weight`` multiplies the per-sample losses, then:

* ``"sum_over_batch_size"`` (default) and ``"mean"``: ``sum(w * loss) / n``
  where n is the **number of per-sample loss values** (the batch size for
  (N,) losses, N*H*W for a segmentation loss of shape (N, H, W)). It is not
  divided by ``sum(w)``: weights [0.3, 0.7] on two samples give
  ``(0.3 l1 + 0.7 l2) / 2``.
* ``"sum"``: ``sum(w * loss)``.
* ``"mean_with_sample_weight"``: ``sum(w * loss) / sum(w)`` (w broadcast to
  the loss's shape, so (N,) weights on (N, H, W) losses give a weighted mean
  per position; Keras sums the weights before broadcasting; 0 when the
  weights sum to 0).
* ``"none"`` / ``None``: the weighted per-sample losses.

Shapes of ``sample_weight``: a scalar, or an array whose shape either
starts the per-sample loss's shape (``(N,)`` against losses ``(N, H, W)``:
one weight per sample, broadcast over the trailing axes) or broadcasts to it
by NumPy's trailing-axis rule. Keras 3 only applies the trailing rule plus a
squeeze/expand of one unit axis, so there ``(N,)`` weights against
``(N, H, W)`` losses fail (or, when W == N, silently weigh the last axis);
here they mean one weight per sample.

Where this module differs from Keras, on purpose
------------------------------------------------
* Predictions of rank 1 (shape ``(N,)``) for the element-wise losses (MSE,
  MAE, Huber, binary crossentropy) are read as one value per sample, as if
  they had shape ``(N, 1)``. Keras averages them over the last axis into
  *one* scalar for the whole batch, so that a sample weight then scales the
  batch mean instead of each sample. Unweighted values are identical.
* Sparse labels are checked: a label outside ``[0, num_classes)`` or a
  non-integral float raises ValueError (Keras's backends either fail deep in
  the backend or silently produce a zero one-hot row).
* Label smoothing for ``CategoricalCrossentropy(axis=k)`` divides by the size
  of the class axis k; Keras divides by the size of the last axis whatever
  ``axis`` is (the same thing for the default ``axis=-1``).
* ``Huber.get_config()`` includes ``delta`` (Keras 3 leaves it out, so its
  ``from_config`` restores delta = 1).
"""

from __future__ import annotations

import inspect
import math
from typing import Callable, Mapping

import numpy as np

from . import config, utils
from .autograd import Tensor, data_of, record
from .kernels import activations as activation_ops


REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)


# --- inputs -----------------------------------------------------------------------


def _as_prediction(y_pred, dtype=None) -> Tensor:
    """y_pred as a floating Tensor (an array becomes a constant; integers become float32)."""
    if not isinstance(y_pred, Tensor):
        y_pred = Tensor(np.asarray(y_pred))
    if not np.issubdtype(y_pred.dtype, np.floating):
        if not (np.issubdtype(y_pred.dtype, np.number) or y_pred.dtype == np.bool_):
            raise TypeError(f"y_pred must hold numbers; received dtype {y_pred.dtype}")
        y_pred = y_pred.astype(np.float32)
    if dtype is not None and y_pred.dtype != np.dtype(dtype):
        y_pred = y_pred.astype(np.dtype(dtype))
    return y_pred


def _as_target(y_true, dtype) -> np.ndarray:
    """y_true as an array of ``dtype`` (Keras casts the targets to the prediction's dtype)."""
    y_true = np.asarray(data_of(y_true))
    if not (np.issubdtype(y_true.dtype, np.number) or y_true.dtype == np.bool_):
        raise TypeError(f"y_true must hold numbers; received dtype {y_true.dtype}")
    return y_true.astype(dtype, copy=False)


def same_rank_shapes(shape_a: tuple, shape_b: tuple, expand_rank_1: bool = True) -> tuple[tuple, tuple]:
    """Keras's ``squeeze_or_expand_to_same_rank`` on shapes.

    When the ranks differ by one and the longer shape ends in 1: a rank-1
    partner gains a trailing 1 (if ``expand_rank_1``); otherwise the longer
    shape loses its trailing 1. Any other pair is returned unchanged.
    """
    shape_a, shape_b = tuple(shape_a), tuple(shape_b)
    if len(shape_a) == len(shape_b) + 1 and shape_a[-1] == 1:
        if len(shape_b) == 1 and expand_rank_1:
            return shape_a, shape_b + (1,)
        return shape_a[:-1], shape_b
    if len(shape_b) == len(shape_a) + 1 and shape_b[-1] == 1:
        if len(shape_a) == 1 and expand_rank_1:
            return shape_a + (1,), shape_b
        return shape_a, shape_b[:-1]
    return shape_a, shape_b


def _reshape(value, shape):
    """Reshape an array or a Tensor (keeping the tape) when its shape differs."""
    return value if value.shape == tuple(shape) else value.reshape(shape)


def _matched_pair(y_true, y_pred, name: str, elementwise: bool):
    """(targets array, prediction Tensor) of one shape, as the element-wise losses need.

    ``elementwise``: rank-0/1 predictions are read as one value per sample,
    shape (N, 1) (see the module docstring).
    """
    y_pred = _as_prediction(y_pred)
    y_true = _as_target(y_true, y_pred.dtype)
    received = (y_true.shape, y_pred.shape)
    if elementwise and y_pred.ndim <= 1:
        y_pred = _reshape(y_pred, (-1, 1))
        if y_true.ndim <= 1 and y_true.size == y_pred.shape[0]:
            y_true = y_true.reshape(-1, 1)
    true_shape, pred_shape = same_rank_shapes(y_true.shape, y_pred.shape)
    y_true, y_pred = _reshape(y_true, true_shape), _reshape(y_pred, pred_shape)
    try:
        compatible = np.broadcast_shapes(y_true.shape, y_pred.shape) == y_pred.shape
    except ValueError:
        compatible = False
    if not compatible:
        raise ValueError(f"{name}: y_true of shape {received[0]} does not match y_pred of shape "
                         f"{received[1]}; y_true must have y_pred's shape (or broadcast to it)")
    return np.broadcast_to(y_true, y_pred.shape), y_pred


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


# --- fused element-wise kernels (forward + exact VJP) ------------------------------


def _huber_elements(error: Tensor, delta: float) -> Tensor:
    """0.5 e^2 where |e| <= delta, delta |e| - 0.5 delta^2 elsewhere; d/de = e or delta sign(e)."""
    e = error.data
    quadratic = np.abs(e) <= delta
    value = np.where(quadratic, 0.5 * e * e, delta * np.abs(e) - 0.5 * delta * delta)
    slope = np.where(quadratic, e, delta * np.sign(e))
    return record(value, (error,), lambda g: (g * slope,))


def _binary_crossentropy_logits(targets: np.ndarray, logits: Tensor) -> Tensor:
    """-(y log s(x) + (1-y) log(1-s(x))) = max(x, 0) - x y + log1p(exp(-|x|)); d/dx = s(x) - y."""
    x = logits.data
    value = np.maximum(x, 0) - x * targets + np.log1p(np.exp(-np.abs(x)))
    return record(value, (logits,), lambda g: (g * (activation_ops.sigmoid(x) - targets),))


def _binary_crossentropy_probabilities(targets: np.ndarray, probabilities: Tensor) -> Tensor:
    """-(y log p + (1-y) log(1-p)) with p clipped to [EPSILON, 1-EPSILON]; d/dp = (p-y) / (p(1-p))."""
    p = probabilities.data
    epsilon = config.epsilon()
    clipped = np.clip(p, epsilon, 1 - epsilon)
    value = -(targets * np.log(clipped) + (1 - targets) * np.log1p(-clipped))
    passes = (clipped == p).astype(p.dtype)  # the clip's own gradient: 0 where it is active
    slope = passes * (clipped - targets) / (clipped * (1 - clipped))
    return record(value, (probabilities,), lambda g: (g * slope,))


def _categorical_crossentropy_logits(targets: np.ndarray, logits: Tensor, axis: int) -> Tensor:
    """-sum_c y_c log_softmax(x)_c along ``axis``; d/dx = softmax(x) * sum_c y_c - y."""
    x = logits.data
    log_probabilities = activation_ops.log_softmax(x, axis=axis)
    value = -np.sum(targets * log_probabilities, axis=axis)

    def vjp(g):
        g = np.expand_dims(g, axis)  # (..., ) -> (..., 1, ...) at the class axis
        probabilities = np.exp(log_probabilities)
        return (g * (probabilities * np.sum(targets, axis=axis, keepdims=True) - targets),)
    return record(value, (logits,), vjp)


def _categorical_crossentropy_probabilities(targets: np.ndarray, probabilities: Tensor, axis: int) -> Tensor:
    """-sum_c y_c log(clip(q_c)) with q = p / sum(p) along ``axis`` (Keras renormalises first).

    VJP: with G = dL/dq (zero where the clip is active) and s = sum(p),
    dL/dp_j = (G_j - sum_i G_i q_i) / s, the inverse movement of the division.
    """
    p = probabilities.data
    total = np.sum(p, axis=axis, keepdims=True)
    normalised = p / total
    epsilon = config.epsilon()
    clipped = np.clip(normalised, epsilon, 1 - epsilon)
    value = -np.sum(targets * np.log(clipped), axis=axis)

    def vjp(g):
        g = np.expand_dims(g, axis)
        grad_normalised = -g * targets / clipped * (clipped == normalised)
        inner = np.sum(grad_normalised * normalised, axis=axis, keepdims=True)
        return ((grad_normalised - inner) / total,)
    return record(value, (probabilities,), vjp)


def _mask_entries(values: Tensor, keep: np.ndarray) -> Tensor:
    """values where ``keep``, 0 elsewhere (no gradient through the dropped entries)."""
    kept = keep.astype(values.dtype)
    return record(np.where(keep, values.data, 0), (values,), lambda g: (g * kept,))


# --- per-sample loss functions (Keras's functional API) -----------------------------


def mean_squared_error(y_true, y_pred) -> Tensor:
    """Per-sample mean((y_true - y_pred)^2) over the last axis: (N, ..., d) -> (N, ...)."""
    y_true, y_pred = _matched_pair(y_true, y_pred, "mean_squared_error", elementwise=True)
    error = y_pred - y_true
    return (error * error).mean(axis=-1)


def mean_absolute_error(y_true, y_pred) -> Tensor:
    """Per-sample mean(|y_true - y_pred|) over the last axis (gradient sign(e), 0 at e = 0)."""
    y_true, y_pred = _matched_pair(y_true, y_pred, "mean_absolute_error", elementwise=True)
    return abs(y_pred - y_true).mean(axis=-1)


def huber(y_true, y_pred, delta: float = 1.0) -> Tensor:
    """Per-sample Huber loss, averaged over the last axis."""
    delta = _check_delta(delta)
    y_true, y_pred = _matched_pair(y_true, y_pred, "huber", elementwise=True)
    return _huber_elements(y_pred - y_true, delta).mean(axis=-1)


def binary_crossentropy(y_true, y_pred, from_logits: bool = False, label_smoothing: float = 0.0,
                        axis: int = -1) -> Tensor:
    """Per-sample binary crossentropy, averaged over ``axis``.

    label_smoothing s: targets become y (1 - s) + 0.5 s.
    """
    label_smoothing = _check_label_smoothing(label_smoothing, "binary_crossentropy")
    axis = _check_axis(axis, "binary_crossentropy")
    y_true, y_pred = _matched_pair(y_true, y_pred, "binary_crossentropy", elementwise=True)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    kernel = _binary_crossentropy_logits if from_logits else _binary_crossentropy_probabilities
    elements = kernel(y_true, y_pred)
    return elements.mean(axis=_normalise_axis(axis, elements.ndim, "binary_crossentropy"))


def categorical_crossentropy(y_true, y_pred, from_logits: bool = False, label_smoothing: float = 0.0,
                             axis: int = -1) -> Tensor:
    """Per-sample crossentropy of one-hot (or soft) targets, summed over the class ``axis``.

    y_true and y_pred: (N, ..., C) (C at ``axis``) -> (N, ...).
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
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / y_pred.shape[axis]
    kernel = _categorical_crossentropy_logits if from_logits else _categorical_crossentropy_probabilities
    return kernel(y_true, y_pred, axis)


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
    name = "sparse_categorical_crossentropy"
    axis = _check_axis(axis, name)
    y_pred = _as_prediction(y_pred)
    if y_pred.ndim == 0:
        raise ValueError(f"{name}: y_pred must have a class axis; received a scalar")
    axis = _normalise_axis(axis, y_pred.ndim, name)
    labels = sparse_labels(y_true, y_pred.shape, axis, name, ignore_class)
    keep = None if ignore_class is None else labels != ignore_class
    if keep is not None:
        labels = np.where(keep, labels, 0)
    num_classes = y_pred.shape[axis]
    # (N, ...) integer labels -> (N, ..., C) one-hot, then the class axis moved into place
    one_hot = (labels[..., None] == np.arange(num_classes)).astype(y_pred.dtype)
    one_hot = np.moveaxis(one_hot, -1, axis)
    kernel = _categorical_crossentropy_logits if from_logits else _categorical_crossentropy_probabilities
    values = kernel(one_hot, y_pred, axis)
    if keep is not None:
        values = _mask_entries(values, keep)
    return values, keep


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


def _check_delta(delta) -> float:
    if isinstance(delta, bool) or not isinstance(delta, (int, float, np.number)) \
            or not math.isfinite(delta) or delta <= 0:
        raise ValueError(f"huber: delta must be a positive finite float; received delta={delta!r}")
    return float(delta)


# Keras's short names.
mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
bce = BCE = binary_crossentropy


# --- reduction ------------------------------------------------------------------------


def align_sample_weight(weights: np.ndarray, loss_shape: tuple, name: str) -> np.ndarray:
    """``weights`` reshaped so that they broadcast to ``loss_shape`` (see the module docstring).

    Keras's squeeze/expand of one unit axis first; then weights whose shape
    starts ``loss_shape`` get trailing unit axes (one weight per sample);
    anything that still does not broadcast raises ValueError naming ``name``.
    """
    if weights.ndim == 0:
        return weights
    received, loss_shape = weights.shape, tuple(loss_shape)
    # Keras's squeeze/expand may reshape either side; express the same pairing as a reshape of the weights.
    loss_shape_matched, weight_shape = same_rank_shapes(loss_shape, weights.shape)
    if len(loss_shape_matched) < len(loss_shape):  # losses (..., 1) lost their unit axis: weights gain one
        weight_shape = weight_shape + (1,)
    elif len(loss_shape_matched) > len(loss_shape):  # losses (N,) gained a unit axis: weights lose theirs
        weight_shape = weight_shape[:-1]
    weights = weights.reshape(weight_shape)
    extra = len(loss_shape) - weights.ndim
    if extra > 0 and weights.shape == tuple(loss_shape[:weights.ndim]):
        weights = weights.reshape(weights.shape + (1,) * extra)  # one weight per sample
    try:
        compatible = np.broadcast_shapes(weights.shape, tuple(loss_shape)) == tuple(loss_shape)
    except ValueError:
        compatible = False
    if not compatible:
        raise ValueError(f"{name}: sample_weight of shape {received} does not match the per-sample losses of "
                         f"shape {tuple(loss_shape)}; give one weight per sample (shape "
                         f"{tuple(loss_shape[:1])}) or an array that broadcasts to {tuple(loss_shape)}")
    return weights


def reduce_weighted_values(values: Tensor, sample_weight=None, reduction="sum_over_batch_size",
                           mask: np.ndarray | None = None, name: str = "loss") -> Tensor:
    """Weight and reduce per-sample losses as Keras 3's ``reduce_weighted_values``.

    ``mask`` (booleans of the losses' shape, from ``ignore_class``): masked
    entries get weight 0, and for "sum_over_batch_size"/"mean" the others are
    scaled by total/valid, so the mean is over the valid entries only.
    """
    weights = None
    if sample_weight is not None:
        weights = np.asarray(data_of(sample_weight))
        if not (np.issubdtype(weights.dtype, np.number) or weights.dtype == np.bool_):
            raise TypeError(f"{name}: sample_weight must hold numbers; received dtype {weights.dtype}")
        weights = align_sample_weight(weights.astype(values.dtype, copy=False), values.shape, name)
    if mask is not None:
        mask_weights = mask.astype(values.dtype)
        if reduction in ("sum_over_batch_size", "mean"):
            valid = float(mask_weights.sum())
            mask_weights = mask_weights * (mask_weights.size / valid if valid else 0.0)
        weights = mask_weights if weights is None else weights * mask_weights
    if weights is not None:
        values = values * weights
    if reduction is None or reduction == "none":
        return values
    total = values.sum()
    if reduction == "sum":
        return total
    if reduction == "mean_with_sample_weight" and weights is not None:
        divisor = float(np.sum(np.broadcast_to(weights, values.shape)))
    else:
        divisor = float(values.size)
    return total * (1.0 / divisor) if divisor else total * 0.0  # Keras's divide_no_nan


# --- loss classes ---------------------------------------------------------------------


def _check_reduction(reduction, name: str):
    if reduction not in REDUCTIONS:
        raise ValueError(f"{name}: invalid value for argument `reduction`: {reduction!r}. Expected one of "
                         f"{', '.join(repr(r) for r in REDUCTIONS)}")
    return reduction


class Loss:
    """Base class: ``loss(y_true, y_pred, sample_weight=None) -> scalar Tensor``.

    Subclasses implement ``call(y_true, y_pred) -> per-sample losses`` with
    Tensor operations (or with ``autograd.record`` for a fused op); ``y_true``
    arrives as an array in ``y_pred``'s dtype, ``y_pred`` as a Tensor.
    ``dtype``: compute in that float dtype (None: ``y_pred``'s own).
    """

    def __init__(self, name: str | None = None, reduction="sum_over_batch_size", dtype=None):
        self.name = name or utils.snake_case(type(self).__name__)
        self.reduction = _check_reduction(reduction, self.name)
        self.dtype = None if dtype is None else np.dtype(dtype).name

    def __call__(self, y_true, y_pred, sample_weight=None) -> Tensor:
        y_pred = _as_prediction(y_pred, self.dtype)
        values, mask = self._per_sample(y_true, y_pred)
        if not isinstance(values, Tensor):
            values = Tensor(np.asarray(values, dtype=y_pred.dtype))
        return reduce_weighted_values(values, sample_weight, self.reduction, mask, self.name)

    def _per_sample(self, y_true, y_pred: Tensor):
        """(per-sample losses, mask or None)."""
        return self.call(_as_target(y_true, y_pred.dtype), y_pred), None

    def call(self, y_true, y_pred):
        raise NotImplementedError(f"{type(self).__name__} must implement call(y_true, y_pred)")

    def get_config(self) -> dict:
        config = {"name": self.name, "reduction": self.reduction}
        if self.dtype is not None:
            config["dtype"] = self.dtype
        return config

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self):
        arguments = ", ".join(f"{key}={value!r}" for key, value in self.get_config().items())
        return f"{type(self).__name__}({arguments})"


class LossFunctionWrapper(Loss):
    """A per-sample loss function ``fn(y_true, y_pred, **kwargs)`` made into a reducing Loss.

    As Keras, y_true and y_pred are first brought to the same rank.
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
        return self.fn(_reshape(y_true, true_shape), _reshape(y_pred, pred_shape), **self._fn_kwargs)

    def get_config(self) -> dict:
        return {**super().get_config(), "fn": getattr(self.fn, "__name__", repr(self.fn)), **self._fn_kwargs}

    @classmethod
    def from_config(cls, config: dict, custom_objects: Mapping | None = None):
        return utils.rebuild_function_wrapper(cls, config, _FUNCTIONS, custom_objects, "loss")


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
        self.from_logits = bool(from_logits)
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
        self.from_logits = bool(from_logits)
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
        self.from_logits = bool(from_logits)
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


# --- lookup -----------------------------------------------------------------------------

_CLASSES = (MeanSquaredError, MeanAbsoluteError, Huber, BinaryCrossentropy, CategoricalCrossentropy,
            SparseCategoricalCrossentropy)

# per-sample function -> the class that reduces it
_FUNCTION_CLASSES: dict[Callable, type] = {
    mean_squared_error: MeanSquaredError,
    mean_absolute_error: MeanAbsoluteError,
    huber: Huber,
    binary_crossentropy: BinaryCrossentropy,
    categorical_crossentropy: CategoricalCrossentropy,
    sparse_categorical_crossentropy: SparseCategoricalCrossentropy,
}
_FUNCTIONS: dict[str, Callable] = {fn.__name__: fn for fn in _FUNCTION_CLASSES}

# Names accepted by get(): Keras's class names, function names and short aliases.
ALL_OBJECTS: dict[str, type] = {
    **{cls.__name__: cls for cls in _CLASSES},
    **{name: _FUNCTION_CLASSES[fn] for name, fn in _FUNCTIONS.items()},
    "mse": MeanSquaredError, "MSE": MeanSquaredError,
    "mae": MeanAbsoluteError, "MAE": MeanAbsoluteError,
    "bce": BinaryCrossentropy, "BCE": BinaryCrossentropy,
}
_CONFIG_CLASSES: dict[str, type] = {cls.__name__: cls for cls in _CLASSES + (LossFunctionWrapper,)}


def get(identifier) -> Loss | None:
    """A Loss from None, a name, a config dict, a Loss class or instance, or a callable.

    Names are Keras's ("categorical_crossentropy", "CategoricalCrossentropy",
    "mse", ...) and give a default instance of the class. One of this
    module's per-sample functions gives its class; any other callable
    ``fn(y_true, y_pred)`` returning per-sample losses is wrapped in a
    :class:`LossFunctionWrapper` so that it is reduced like the built-ins.
    Unknown names raise ValueError listing the valid ones.
    """
    if identifier is None:
        return None
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        if identifier not in ALL_OBJECTS:
            raise ValueError(f"Unknown loss {identifier!r}. Valid names: {utils.valid_names(ALL_OBJECTS)}")
        return ALL_OBJECTS[identifier]()
    if isinstance(identifier, Mapping):
        return deserialize(identifier)
    if inspect.isclass(identifier) and issubclass(identifier, Loss):
        return identifier()
    if callable(identifier):
        if identifier in _FUNCTION_CLASSES:
            return _FUNCTION_CLASSES[identifier]()
        return LossFunctionWrapper(identifier)
    raise ValueError(f"Could not interpret loss identifier: {identifier!r}. Expected None, a name "
                     f"({utils.valid_names(ALL_OBJECTS)}), a config dict, a Loss or a callable.")


def serialize(loss) -> dict | None:
    """``{"class_name": ..., "config": ...}`` of a Loss (None stays None)."""
    if loss is None:
        return None
    loss = get(loss)
    return {"class_name": type(loss).__name__, "config": loss.get_config()}


def deserialize(config: Mapping, custom_objects: Mapping | None = None) -> Loss:
    """The Loss described by a :func:`serialize` dict.

    ``custom_objects`` maps names to user Loss classes or loss functions. A name
    (``"mse"``) gives that loss, as :func:`get` does.
    """
    if isinstance(config, str):
        custom = dict(custom_objects or {})
        return get(custom[config]) if config in custom else get(config)
    if not isinstance(config, Mapping) or "class_name" not in config:
        raise ValueError(f"A loss config must be a name or a dict with the keys 'class_name' and 'config'; "
                         f"received {config!r}")
    custom = dict(custom_objects or {})
    class_name, arguments = config["class_name"], dict(config.get("config") or {})
    cls = custom.get(class_name) or _CONFIG_CLASSES.get(class_name)
    if cls is None:
        raise ValueError(f"Unknown loss class {class_name!r}. Valid: {utils.valid_names(_CONFIG_CLASSES)}")
    if cls is LossFunctionWrapper:
        return LossFunctionWrapper.from_config(arguments, custom_objects=custom)
    return cls.from_config(arguments)
