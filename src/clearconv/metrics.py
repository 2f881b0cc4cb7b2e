"""Stateful metrics with Keras 3's names, formulas and accumulation, on NumPy arrays.

Every metric has ``update_state(y_true, y_pred, sample_weight=None)``
(``Mean`` takes ``update_state(values, sample_weight=None)``), ``result()``,
``reset_state()``, ``name`` and ``get_config()``/``from_config()``; calling a
metric updates it and returns the result. Inputs are NumPy arrays (a Tensor
is read as its array); nothing here records gradients. Sums are kept in
float64 (Keras keeps float32 variables), so long runs do not drift.

Mean-based metrics (accuracies, MeanSquaredError, ...)
------------------------------------------------------
A per-sample function gives one value per sample (or per position), and
:class:`Mean` averages them as Keras's ``reduce_to_samplewise_values`` does:
values with more axes than ``sample_weight`` are first averaged over the
extra trailing axes; then ``total += sum(w * value)`` and
``count += sum(w)``. So a weighted metric is divided by the **sum of the
weights** (unlike a loss, which divides by the batch size), and an
unweighted one by the number of samples.

Confusion-matrix metrics (Precision, Recall, AUC)
-------------------------------------------------
A prediction counts as positive at threshold t when ``y_pred > t``
(strictly), ``y_true`` is read as a boolean (non-zero = positive), and all
elements are pooled (no per-sample averaging). Predictions are compared in
float32, as Keras's float32 variables do. With evenly spaced thresholds (the
AUC default) a prediction p passes ``ceil(p (T - 1))`` of them, Keras's
bucket formula, computed the same way.

AUC(num_thresholds=200) approximates the area with T = num_thresholds
thresholds ``[-1e-7, 1/(T-1), ..., (T-2)/(T-1), 1 + 1e-7]``. For the ROC
curve with the default ``summation_method="interpolation"`` it sums
trapezoids between consecutive (false positive rate, recall) points. That
is exactly the Mann-Whitney statistic of the predictions *rounded up to
their bucket*: a positive and a negative in the same bucket count as a tie
(1/2). It therefore differs from the exact AUC (sklearn's roc_auc_score) by
at most half the fraction of (positive, negative) pairs that share a bucket
of width 1/(T-1). For the PR curve, "interpolation" is Davis & Goadrich's
interpolation of the true and false positives, as Keras.

Where this module differs from Keras, on purpose
------------------------------------------------
* Rank-1 ``y_true`` and ``y_pred`` (shape (N,)) are read as one value per
  sample, as if shaped (N, 1). Keras averages them over the last axis into
  one value per *batch*, so batches of different sizes weigh the same.
* ``CategoricalAccuracy`` raises ValueError when y_true and y_pred differ in
  their class axis (e.g. integer labels): Keras silently compares argmax of
  a (N, 1) array, which is always 0.
* Default names are the snake_case class names, not made unique with a
  suffix ("precision", never "precision_1").
* ``get("accuracy", loss=...)``: see :func:`get`.
"""

from __future__ import annotations

import inspect
from typing import Callable, Mapping

import numpy as np

from . import losses as losses_module
from . import utils
from .autograd import data_of, no_grad
from .kernels import activations as activation_ops

NEG_INF = -1e10  # Keras's stand-in score for predictions outside the top k
EPSILON = 1e-7


# --- helpers ----------------------------------------------------------------------------


def _array(value) -> np.ndarray:
    return np.asarray(data_of(value))


def _divide_no_nan(numerator, denominator) -> np.ndarray:
    """numerator / denominator, 0 where the denominator is 0."""
    numerator, denominator = np.broadcast_arrays(np.asarray(numerator, np.float64),
                                                 np.asarray(denominator, np.float64))
    return np.divide(numerator, denominator, out=np.zeros(numerator.shape), where=denominator != 0)


def _paired(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    """Arrays of equal rank: rank-1 pairs read as (N, 1); then Keras's squeeze/expand of a unit axis."""
    y_true, y_pred = _array(y_true), _array(y_pred)
    if y_pred.ndim <= 1 and y_true.ndim <= 1:
        y_true, y_pred = y_true.reshape(-1, 1), y_pred.reshape(-1, 1)
    true_shape, pred_shape = losses_module.same_rank_shapes(y_true.shape, y_pred.shape)
    return y_true.reshape(true_shape), y_pred.reshape(pred_shape)


def _check_broadcast(y_true: np.ndarray, y_pred: np.ndarray, name: str, shapes) -> None:
    try:
        np.broadcast_shapes(y_true.shape, y_pred.shape)
    except ValueError:
        raise ValueError(f"{name}: y_true of shape {shapes[0]} does not match y_pred of shape {shapes[1]}") from None


# --- per-sample functions (Keras's metric functions) ------------------------------------


def accuracy(y_true, y_pred) -> np.ndarray:
    """Per-sample fraction of entries where y_pred == y_true (last axis averaged)."""
    shapes = (np.shape(data_of(y_true)), np.shape(data_of(y_pred)))
    y_true, y_pred = _paired(y_true, y_pred)
    _check_broadcast(y_true, y_pred, "accuracy", shapes)
    if np.issubdtype(y_pred.dtype, np.number):
        y_true = y_true.astype(y_pred.dtype, copy=False)  # Keras compares in y_pred's dtype
    return np.mean(y_true == y_pred, axis=-1)


def binary_accuracy(y_true, y_pred, threshold: float = 0.5) -> np.ndarray:
    """Per-sample fraction of entries where (y_pred > threshold) == y_true."""
    shapes = (np.shape(data_of(y_true)), np.shape(data_of(y_pred)))
    y_true, y_pred = _paired(y_true, y_pred)
    _check_broadcast(y_true, y_pred, "binary_accuracy", shapes)
    predicted = (y_pred > threshold).astype(y_true.dtype)
    return np.mean(y_true == predicted, axis=-1)


def categorical_accuracy(y_true, y_pred) -> np.ndarray:
    """1.0 where argmax(y_true) == argmax(y_pred) over the last axis, per sample (ties: first index)."""
    y_true, y_pred = _array(y_true), _array(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"categorical_accuracy: y_true of shape {y_true.shape} does not match y_pred of shape "
                         f"{y_pred.shape}; one-hot targets are expected (use sparse_categorical_accuracy for "
                         f"integer labels)")
    return (np.argmax(y_true, axis=-1) == np.argmax(y_pred, axis=-1)).astype(np.float64)


def _sparse_targets(y_true, y_pred: np.ndarray, name: str) -> np.ndarray:
    """Integer-valued labels of shape y_pred.shape[:-1] (a trailing unit axis is dropped)."""
    labels = _array(y_true)
    if labels.ndim == y_pred.ndim and labels.shape[-1] == 1:
        labels = labels.reshape(labels.shape[:-1])
    if labels.shape != y_pred.shape[:-1]:
        raise ValueError(f"{name}: y_true of shape {_array(y_true).shape} does not match y_pred of shape "
                         f"{y_pred.shape}; expected labels of shape {y_pred.shape[:-1]} "
                         f"(or {y_pred.shape[:-1] + (1,)})")
    return labels


def sparse_categorical_accuracy(y_true, y_pred) -> np.ndarray:
    """1.0 where the integer label equals argmax(y_pred) over the last axis."""
    y_pred = _array(y_pred)
    labels = _sparse_targets(y_true, y_pred, "sparse_categorical_accuracy")
    return (labels == np.argmax(y_pred, axis=-1)).astype(np.float64)


def _in_top_k(labels: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
    """True where the label's score is >= the k-th largest score (ties count as in; TF's in_top_k)."""
    num_classes = scores.shape[-1]
    flat_scores = scores.reshape(-1, num_classes)  # (N, ..., C) -> (M, C)
    flat_labels = labels.reshape(-1).astype(np.int64)
    valid = (flat_labels >= 0) & (flat_labels < num_classes)
    target = np.take_along_axis(flat_scores, np.where(valid, flat_labels, 0)[:, None], axis=1)[:, 0]
    if k >= num_classes:
        kth = flat_scores.min(axis=1)
    else:
        kth = np.partition(flat_scores, num_classes - k, axis=1)[:, num_classes - k]
    return (valid & (target >= kth)).reshape(labels.shape)


def top_k_categorical_accuracy(y_true, y_pred, k: int = 5) -> np.ndarray:
    """1.0 where argmax(y_true) is among the k highest scores of y_pred."""
    y_true, y_pred = _array(y_true), _array(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"top_k_categorical_accuracy: y_true of shape {y_true.shape} does not match y_pred of "
                         f"shape {y_pred.shape}; one-hot targets are expected")
    return _in_top_k(np.argmax(y_true, axis=-1), y_pred, k).astype(np.float64)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k: int = 5) -> np.ndarray:
    """1.0 where the integer label is among the k highest scores of y_pred."""
    y_pred = _array(y_pred)
    labels = _sparse_targets(y_true, y_pred, "sparse_top_k_categorical_accuracy")
    return _in_top_k(labels, y_pred, k).astype(np.float64)


def _without_tape(loss_function: Callable) -> Callable:
    """A per-sample loss of :mod:`clearconv.losses` as a NumPy metric function."""
    def metric_function(y_true, y_pred, **kwargs):
        with no_grad():
            return loss_function(_array(y_true), _array(y_pred), **kwargs).data
    metric_function.__name__ = loss_function.__name__
    metric_function.__doc__ = loss_function.__doc__
    return metric_function


mean_squared_error = _without_tape(losses_module.mean_squared_error)
mean_absolute_error = _without_tape(losses_module.mean_absolute_error)
binary_crossentropy = _without_tape(losses_module.binary_crossentropy)
categorical_crossentropy = _without_tape(losses_module.categorical_crossentropy)
sparse_categorical_crossentropy = _without_tape(losses_module.sparse_categorical_crossentropy)
mse = mean_squared_error
mae = mean_absolute_error
_LOSS_FUNCTIONS = (mean_squared_error, mean_absolute_error, binary_crossentropy, categorical_crossentropy,
                   sparse_categorical_crossentropy, losses_module.mean_squared_error,
                   losses_module.mean_absolute_error, losses_module.huber, losses_module.binary_crossentropy,
                   losses_module.categorical_crossentropy, losses_module.sparse_categorical_crossentropy)


# --- base classes ------------------------------------------------------------------------


class Metric:
    """Base class: ``update_state``, ``result``, ``reset_state``; ``metric(...)`` does update + result.

    ``_direction`` ("up", "down" or None), as in Keras, tells callbacks in
    mode "auto" whether a larger value is better.
    """

    _direction: str | None = None

    def __init__(self, name: str | None = None, dtype=None):
        if name is not None and not isinstance(name, str):
            raise TypeError(f"{type(self).__name__}: name must be a string; received {name!r}")
        self.name = name or utils.snake_case(type(self).__name__)
        self.dtype = dtype

    def update_state(self, *args, **kwargs) -> None:
        raise NotImplementedError

    def result(self):
        raise NotImplementedError

    def reset_state(self) -> None:
        raise NotImplementedError

    def __call__(self, *args, **kwargs):
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r}>"


class Mean(Metric):
    """The (weighted) mean of the values given to ``update_state(values, sample_weight=None)``.

    Values (N, ...) with weights (N,): each sample's value is first averaged
    over its trailing axes; then result = sum(w * value) / sum(w). A scalar
    value with a scalar weight adds value * w to the total and w to the
    count (how the training loop averages batch losses, weighted by batch
    size). Without weights every sample counts 1.
    """

    def __init__(self, name: str = "mean", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.total = 0.0
        self.count = 0.0

    def update_state(self, values, sample_weight=None) -> None:
        values = np.asarray(_array(values), dtype=np.float64)
        if sample_weight is None:
            per_sample = values.mean(axis=tuple(range(1, values.ndim))) if values.ndim > 1 else values
            self.total += float(per_sample.sum())
            self.count += float(per_sample.shape[0]) if per_sample.ndim else 1.0
            return
        weights = np.asarray(_array(sample_weight), dtype=np.float64)
        received = (values.shape, weights.shape)
        values_shape, weights_shape = losses_module.same_rank_shapes(values.shape, weights.shape)
        values, weights = values.reshape(values_shape), weights.reshape(weights_shape)
        if values.ndim > weights.ndim:  # average each sample's value down to the weights' rank
            values = values.mean(axis=tuple(range(weights.ndim, values.ndim)))
        try:
            weights = np.broadcast_to(weights, values.shape)
        except ValueError:
            raise ValueError(f"{self.name}: sample_weight of shape {received[1]} does not match values of shape "
                             f"{received[0]}") from None
        values = values * weights
        if weights.ndim > 1:
            weights = weights.mean(axis=tuple(range(1, weights.ndim)))
        if values.ndim > 1:
            values = values.mean(axis=tuple(range(1, values.ndim)))
        self.total += float(values.sum())
        self.count += float(weights.sum())

    def result(self) -> float:
        return self.total / self.count if self.count else 0.0

    def reset_state(self) -> None:
        self.total = 0.0
        self.count = 0.0


class MeanMetricWrapper(Mean):
    """The mean of a per-sample function ``fn(y_true, y_pred, **kwargs)`` over all samples seen."""

    def __init__(self, fn: Callable, name: str | None = None, dtype=None, **kwargs):
        if not callable(fn):
            raise TypeError(f"MeanMetricWrapper: `fn` must be callable; received {fn!r}")
        super().__init__(name=name or getattr(fn, "__name__", None) or "mean_metric_wrapper", dtype=dtype)
        self._fn = fn
        self._fn_kwargs = kwargs
        if fn in _LOSS_FUNCTIONS or isinstance(fn, losses_module.Loss):
            self._direction = "down"  # a loss: smaller is better (Keras's rule)

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        values = self._fn(y_true, y_pred, **self._fn_kwargs)
        super().update_state(values, sample_weight=sample_weight)

    def get_config(self) -> dict:
        return {**super().get_config(), "fn": getattr(self._fn, "__name__", repr(self._fn)), **self._fn_kwargs}

    @classmethod
    def from_config(cls, config: dict, custom_objects: Mapping | None = None):
        return utils.rebuild_function_wrapper(cls, config, _FUNCTIONS, custom_objects, "metric")


# --- accuracies --------------------------------------------------------------------------


class _FixedFunctionMetric(MeanMetricWrapper):
    """A MeanMetricWrapper whose function is fixed by the class; config is name, dtype and the kwargs."""

    _function: Callable

    def __init__(self, name: str | None = None, dtype=None, **kwargs):
        super().__init__(type(self)._function, name=name, dtype=dtype, **kwargs)

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype, **self._fn_kwargs}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)


class Accuracy(_FixedFunctionMetric):
    """How often y_pred equals y_true exactly."""

    _direction = "up"
    _function = staticmethod(accuracy)

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(name=name, dtype=dtype)


class BinaryAccuracy(_FixedFunctionMetric):
    """How often (y_pred > threshold) equals the 0/1 label; threshold in (0, 1)."""

    _direction = "up"
    _function = staticmethod(binary_accuracy)

    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        if threshold is None or isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.number)) \
                or not 0 < threshold < 1:
            raise ValueError(f"BinaryAccuracy: invalid value for argument `threshold`. Expected a value in "
                             f"interval (0, 1). Received: threshold={threshold!r}")
        super().__init__(name=name, dtype=dtype, threshold=float(threshold))
        self.threshold = float(threshold)


class CategoricalAccuracy(_FixedFunctionMetric):
    """How often argmax(y_pred) equals argmax of the one-hot y_true."""

    _direction = "up"
    _function = staticmethod(categorical_accuracy)

    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(name=name, dtype=dtype)


class SparseCategoricalAccuracy(_FixedFunctionMetric):
    """How often argmax(y_pred) equals the integer label."""

    _direction = "up"
    _function = staticmethod(sparse_categorical_accuracy)

    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(name=name, dtype=dtype)


def _check_k(k, name: str) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"{name}: k must be a positive integer; received k={k!r}")
    return int(k)


class TopKCategoricalAccuracy(_FixedFunctionMetric):
    """How often the one-hot target is among the k highest scores."""

    _direction = "up"
    _function = staticmethod(top_k_categorical_accuracy)

    def __init__(self, k=5, name="top_k_categorical_accuracy", dtype=None):
        super().__init__(name=name, dtype=dtype, k=_check_k(k, "TopKCategoricalAccuracy"))
        self.k = int(k)


class SparseTopKCategoricalAccuracy(_FixedFunctionMetric):
    """How often the integer label is among the k highest scores."""

    _direction = "up"
    _function = staticmethod(sparse_top_k_categorical_accuracy)

    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy", dtype=None):
        super().__init__(name=name, dtype=dtype, k=_check_k(k, "SparseTopKCategoricalAccuracy"))
        self.k = int(k)


class _AccuracyFromShapes(Mean):
    """'accuracy' resolved from the first batch's shapes, as Keras 3's ``compile`` does.

    y_pred's last axis of size 1 (or rank-1 y_pred): binary accuracy; y_true
    of lower rank, or a last axis of 1 against several classes: sparse
    categorical accuracy; otherwise categorical accuracy. ``resolved`` holds
    the chosen function after the first update.
    """

    _direction = "up"

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.resolved: Callable | None = None

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        if self.resolved is None:
            true_shape, pred_shape = np.shape(data_of(y_true)), np.shape(data_of(y_pred))
            if len(pred_shape) <= 1 or pred_shape[-1] == 1:
                self.resolved = binary_accuracy
            elif len(true_shape) < len(pred_shape) or true_shape[-1] == 1:
                self.resolved = sparse_categorical_accuracy
            else:
                self.resolved = categorical_accuracy
        super().update_state(self.resolved(y_true, y_pred), sample_weight=sample_weight)


# --- regression and probabilistic --------------------------------------------------------


class MeanSquaredError(_FixedFunctionMetric):
    """Mean over samples of mean((y_true - y_pred)^2) over the last axis."""

    _direction = "down"
    _function = staticmethod(mean_squared_error)

    def __init__(self, name="mean_squared_error", dtype=None):
        super().__init__(name=name, dtype=dtype)


class MeanAbsoluteError(_FixedFunctionMetric):
    """Mean over samples of mean(|y_true - y_pred|) over the last axis."""

    _direction = "down"
    _function = staticmethod(mean_absolute_error)

    def __init__(self, name="mean_absolute_error", dtype=None):
        super().__init__(name=name, dtype=dtype)


class BinaryCrossentropy(_FixedFunctionMetric):
    """Mean binary crossentropy (see :func:`clearconv.losses.binary_crossentropy`)."""

    _direction = "down"
    _function = staticmethod(binary_crossentropy)

    def __init__(self, name="binary_crossentropy", dtype=None, from_logits=False, label_smoothing=0.0):
        super().__init__(name=name, dtype=dtype, from_logits=bool(from_logits),
                         label_smoothing=float(label_smoothing))


class CategoricalCrossentropy(_FixedFunctionMetric):
    """Mean categorical crossentropy (see :func:`clearconv.losses.categorical_crossentropy`)."""

    _direction = "down"
    _function = staticmethod(categorical_crossentropy)

    def __init__(self, name="categorical_crossentropy", dtype=None, from_logits=False, label_smoothing=0.0,
                 axis=-1):
        super().__init__(name=name, dtype=dtype, from_logits=bool(from_logits),
                         label_smoothing=float(label_smoothing), axis=axis)


class SparseCategoricalCrossentropy(_FixedFunctionMetric):
    """Mean sparse categorical crossentropy (see :func:`clearconv.losses.sparse_categorical_crossentropy`)."""

    _direction = "down"
    _function = staticmethod(sparse_categorical_crossentropy)

    def __init__(self, name="sparse_categorical_crossentropy", dtype=None, from_logits=False, axis=-1):
        super().__init__(name=name, dtype=dtype, from_logits=bool(from_logits), axis=axis)


# --- confusion-matrix metrics ---------------------------------------------------------------


def _parse_thresholds(thresholds, default: float, name: str) -> list[float]:
    if thresholds is None:
        return [default]
    values = list(thresholds) if isinstance(thresholds, (list, tuple, np.ndarray)) else [thresholds]
    invalid = [t for t in values if t is None or isinstance(t, bool) or not isinstance(t, (int, float, np.number))
               or not 0 <= t <= 1]
    if invalid or not values:
        raise ValueError(f"{name}: threshold values must be in [0, 1]. Received: {thresholds!r}")
    return [float(t) for t in values]


def _is_evenly_distributed(thresholds) -> bool:
    """Keras's test for the bucket fast path: >= 3 values within 1e-7 of [0, 1/(n-1), ..., 1]."""
    count = len(thresholds)
    if count < 3:
        return False
    even = np.arange(count, dtype=np.float32) / (count - 1)
    return bool(np.allclose(thresholds, even, atol=EPSILON))


def _thresholds_passed(predictions: np.ndarray, thresholds: np.ndarray, evenly: bool) -> np.ndarray:
    """For each prediction p, how many of the ascending ``thresholds`` satisfy p > t (NaN passes none)."""
    predictions = predictions.astype(np.float32, copy=False)
    if evenly:
        # Keras's bucket index ceil(p (T-1)) - 1, plus one; the endpoint below 0 is passed by every p in [0, 1].
        passed = np.ceil(np.clip(predictions, 0, 1) * np.float32(len(thresholds) - 1))
        if thresholds[0] < 0 or thresholds[-1] > 1:
            passed = np.maximum(passed, 1)
    else:
        passed = np.searchsorted(thresholds.astype(np.float32), predictions, side="left")
    return np.where(np.isnan(predictions), 0, passed).astype(np.int64)


def _confusion_counts(labels: np.ndarray, predictions: np.ndarray, weights: np.ndarray, thresholds,
                      evenly: bool) -> dict[str, np.ndarray]:
    """Weighted tp, fp, tn, fn per threshold (in the given order) over flat arrays of one length."""
    thresholds = np.asarray(thresholds, dtype=np.float64)
    order = np.argsort(thresholds, kind="stable")
    count = len(thresholds)
    passed = _thresholds_passed(predictions, thresholds[order], evenly)
    positive_weight = np.where(labels, weights, 0.0)
    negative_weight = np.where(labels, 0.0, weights)

    def passing(weight):  # (weight summed over the predictions passing each sorted threshold)
        by_passed = np.bincount(passed, weights=weight, minlength=count + 1)  # (T+1,)
        at_least = np.cumsum(by_passed[::-1])[::-1]  # at_least[m] = weight with passed >= m
        in_order = np.empty(count)
        in_order[order] = at_least[1:]
        return in_order

    true_positives, false_positives = passing(positive_weight), passing(negative_weight)
    return {"tp": true_positives, "fp": false_positives,
            "fn": positive_weight.sum() - true_positives, "tn": negative_weight.sum() - false_positives}


def _filter_top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Scores outside the k highest of the last axis replaced by NEG_INF (ties: lower index first)."""
    top = np.argsort(-scores, axis=-1, kind="stable")[..., :k]
    keep = np.zeros(scores.shape, dtype=bool)
    np.put_along_axis(keep, top, True, axis=-1)
    return np.where(keep, scores, np.float32(NEG_INF))


def _confusion_inputs(y_true, y_pred, sample_weight, name: str, top_k=None, class_id=None):
    """(boolean labels, float32 predictions, float64 weights), all of y_pred's shape."""
    received = (np.shape(data_of(y_true)), np.shape(data_of(y_pred)))
    y_true, y_pred = _array(y_true), _array(y_pred).astype(np.float32)
    pred_shape, true_shape = losses_module.same_rank_shapes(y_pred.shape, y_true.shape)
    y_true, y_pred = y_true.reshape(true_shape), y_pred.reshape(pred_shape)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{name}: y_true of shape {received[0]} does not match y_pred of shape {received[1]}")
    weights = np.ones(y_pred.shape)
    if sample_weight is not None:
        aligned = losses_module.align_sample_weight(np.asarray(_array(sample_weight), dtype=np.float64),
                                                    y_pred.shape, name)
        weights = np.broadcast_to(aligned, y_pred.shape)
    if top_k is not None:
        y_pred = _filter_top_k(y_pred, top_k)
    if class_id is not None:
        if y_pred.ndim < 2 or not 0 <= class_id < y_pred.shape[-1]:
            raise ValueError(f"{name}: class_id={class_id} needs y_pred of shape (num_samples, num_classes) with "
                             f"class_id < num_classes; received y_pred of shape {received[1]}")
        y_true, y_pred, weights = y_true[..., class_id], y_pred[..., class_id], weights[..., class_id]
    return y_true != 0, y_pred, weights


class _PrecisionRecall(Metric):
    """Shared state of Precision and Recall: tp, fp, fn per threshold."""

    _direction = "up"

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        if top_k is not None:
            _check_k(top_k, type(self).__name__)
        self.init_thresholds = thresholds
        self.top_k = top_k
        self.class_id = class_id
        default = 0.5 if top_k is None else NEG_INF
        self.thresholds = _parse_thresholds(thresholds, default, type(self).__name__)
        self._evenly = _is_evenly_distributed(self.thresholds)
        self.reset_state()

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        labels, predictions, weights = _confusion_inputs(y_true, y_pred, sample_weight, self.name,
                                                         self.top_k, self.class_id)
        counts = _confusion_counts(labels.ravel(), predictions.ravel(), weights.ravel(), self.thresholds,
                                   self._evenly)
        self.true_positives += counts["tp"]
        self.false_positives += counts["fp"]
        self.false_negatives += counts["fn"]

    def reset_state(self) -> None:
        self.true_positives = np.zeros(len(self.thresholds))
        self.false_positives = np.zeros(len(self.thresholds))
        self.false_negatives = np.zeros(len(self.thresholds))

    def _single(self, values: np.ndarray):
        """A float for one threshold, the array (one value per threshold) for several."""
        return float(values[0]) if len(self.thresholds) == 1 else values

    def get_config(self) -> dict:
        return {**super().get_config(), "thresholds": self.init_thresholds, "top_k": self.top_k,
                "class_id": self.class_id}


class Precision(_PrecisionRecall):
    """tp / (tp + fp), with a prediction positive when y_pred > threshold (default 0.5).

    thresholds: a float or a list (result: one value per threshold); top_k:
    only the k highest scores of each sample can be positive; class_id: only
    that column of (N, C) predictions is scored.
    """

    def result(self):
        return self._single(_divide_no_nan(self.true_positives, self.true_positives + self.false_positives))


class Recall(_PrecisionRecall):
    """tp / (tp + fn), with a prediction positive when y_pred > threshold (default 0.5)."""

    def result(self):
        return self._single(_divide_no_nan(self.true_positives, self.true_positives + self.false_negatives))


# the spellings Keras accepts
_CURVES = {"ROC": "ROC", "roc": "ROC", "PR": "PR", "pr": "PR"}
_SUMMATIONS = {name: name.lower() for name in ("interpolation", "Interpolation", "majoring", "Majoring",
                                              "minoring", "Minoring")}


class AUC(Metric):
    """Area under the ROC (default) or precision-recall curve, from bucketed confusion counts.

    See the module docstring for the approximation and its bound. ``thresholds``
    (a list in [0, 1]) replaces the evenly spaced ones; ``from_logits`` applies
    a sigmoid first; ``multi_label``: one AUC per column of (N, L)
    predictions, averaged (weighted by ``label_weights`` if given), instead of
    pooling all entries.
    """

    _direction = "up"

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation", name=None, dtype=None,
                 thresholds=None, multi_label=False, num_labels=None, label_weights=None, from_logits=False):
        super().__init__(name=name, dtype=dtype)
        if curve not in _CURVES:
            raise ValueError(f'{self.name}: invalid AUC curve value: "{curve}". Expected values are ["PR", "ROC"]')
        if summation_method not in _SUMMATIONS:
            raise ValueError(f'{self.name}: invalid AUC summation method value: "{summation_method}". Expected '
                             f'values are ["interpolation", "majoring", "minoring"]')
        self.curve = _CURVES[curve]
        self.summation_method = _SUMMATIONS[summation_method]
        self._init_from_thresholds = thresholds is not None
        if thresholds is not None:
            inner = sorted(_parse_thresholds(thresholds, 0.5, "AUC"))
            self.num_thresholds = len(inner) + 2
            self._evenly = _is_evenly_distributed(np.array([0.0] + inner + [1.0]))
        else:
            if isinstance(num_thresholds, bool) or not isinstance(num_thresholds, (int, np.integer)) \
                    or num_thresholds <= 1:
                raise ValueError(f"{self.name}: argument `num_thresholds` must be an integer > 1. "
                                 f"Received: num_thresholds={num_thresholds!r}")
            self.num_thresholds = int(num_thresholds)
            inner = [(i + 1) * 1.0 / (self.num_thresholds - 1) for i in range(self.num_thresholds - 2)]
            self._evenly = True
        # endpoints just outside [0, 1] so that predictions of exactly 0 or 1 are counted
        self._thresholds = np.array([0.0 - EPSILON] + inner + [1.0 + EPSILON])
        self.multi_label = bool(multi_label)
        if num_labels is not None and not self.multi_label:
            raise ValueError(f"{self.name}: `num_labels` is needed only when `multi_label` is True.")
        self.num_labels = num_labels
        self.label_weights = None if label_weights is None else np.asarray(label_weights, dtype=np.float64)
        self.from_logits = bool(from_logits)
        self._counts: dict[str, np.ndarray] | None = None
        if not self.multi_label or num_labels:
            self._allocate(num_labels if self.multi_label else None)

    @property
    def thresholds(self) -> list[float]:
        return [float(t) for t in self._thresholds]

    def _allocate(self, num_labels) -> None:
        shape = (self.num_thresholds,) if num_labels is None else (self.num_thresholds, int(num_labels))
        self._counts = {key: np.zeros(shape) for key in ("tp", "fp", "tn", "fn")}

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        y_pred = _array(y_pred)
        if self.from_logits:
            y_pred = activation_ops.sigmoid(y_pred)
        labels, predictions, weights = _confusion_inputs(y_true, y_pred, sample_weight, self.name)
        if self.multi_label:
            self._update_multi_label(labels, predictions, weights)
            return
        if self.label_weights is not None:
            weights = weights * np.broadcast_to(self.label_weights, predictions.shape)
        counts = _confusion_counts(labels.ravel(), predictions.ravel(), weights.ravel(), self._thresholds,
                                   self._evenly)
        for key in self._counts:
            self._counts[key] += counts[key]

    def _update_multi_label(self, labels, predictions, weights) -> None:
        if predictions.ndim != 2:
            raise ValueError(f"{self.name}: `y_pred` must have rank 2 when `multi_label=True`. Found rank "
                             f"{predictions.ndim}; full shape received for `y_pred`: {predictions.shape}")
        if self._counts is None:
            self._allocate(predictions.shape[1])
        expected = self._counts["tp"].shape[1]
        if predictions.shape[1] != expected:
            raise ValueError(f"{self.name}: y_pred has {predictions.shape[1]} labels; this metric was built "
                             f"for {expected}")
        for column in range(expected):
            counts = _confusion_counts(labels[:, column], predictions[:, column], weights[:, column],
                                       self._thresholds, self._evenly)
            for key in self._counts:
                self._counts[key][:, column] += counts[key]

    def reset_state(self) -> None:
        if self._counts is not None:
            for key in self._counts:
                self._counts[key][...] = 0.0

    # the four counts, one row per threshold (and a column per label when multi_label)
    true_positives = property(lambda self: self._counts["tp"])
    false_positives = property(lambda self: self._counts["fp"])
    true_negatives = property(lambda self: self._counts["tn"])
    false_negatives = property(lambda self: self._counts["fn"])

    def _interpolate_pr_auc(self) -> np.ndarray:
        """Davis & Goadrich: TP and P = TP + FP vary linearly between thresholds; integrate precision dR."""
        tp, fp, fn = self._counts["tp"], self._counts["fp"], self._counts["fn"]
        delta_tp = tp[:-1] - tp[1:]
        predicted = tp + fp
        delta_predicted = predicted[:-1] - predicted[1:]
        slope = _divide_no_nan(delta_tp, np.maximum(delta_predicted, 0))
        intercept = tp[1:] - slope * predicted[1:]
        both_positive = (predicted[:-1] > 0) & (predicted[1:] > 0)
        ratio = np.where(both_positive, _divide_no_nan(predicted[:-1], np.maximum(predicted[1:], 0)), 1.0)
        return _divide_no_nan(slope * (delta_tp + intercept * np.log(ratio)), np.maximum(tp[1:] + fn[1:], 0))

    def _average_labels(self, per_threshold: np.ndarray) -> float:
        """Sum over thresholds; for multi_label, the (weighted) mean of the per-label areas."""
        if not self.multi_label:
            return float(np.sum(per_threshold))
        by_label = np.sum(per_threshold, axis=0)
        if self.label_weights is None:
            return float(np.mean(by_label))
        return float(_divide_no_nan(np.sum(by_label * self.label_weights), np.sum(self.label_weights)))

    def result(self) -> float:
        if self._counts is None:
            return 0.0
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._average_labels(self._interpolate_pr_auc())
        tp, fp, tn, fn = (self._counts[key] for key in ("tp", "fp", "tn", "fn"))
        recall = _divide_no_nan(tp, tp + fn)
        if self.curve == "ROC":
            x, y = _divide_no_nan(fp, fp + tn), recall
        else:
            x, y = recall, _divide_no_nan(tp, tp + fp)
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = np.minimum(y[:-1], y[1:])
        else:
            heights = np.maximum(y[:-1], y[1:])
        return self._average_labels((x[:-1] - x[1:]) * heights)

    def get_config(self) -> dict:
        config = {**super().get_config(), "num_thresholds": self.num_thresholds, "curve": self.curve,
                  "summation_method": self.summation_method, "multi_label": self.multi_label,
                  "num_labels": self.num_labels,
                  "label_weights": None if self.label_weights is None else self.label_weights.tolist(),
                  "from_logits": self.from_logits}
        if self._init_from_thresholds:
            config["thresholds"] = [float(t) for t in self._thresholds[1:-1]]
        return config


# --- lookup ------------------------------------------------------------------------------------

_CLASSES = (Mean, Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
            TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy, MeanSquaredError, MeanAbsoluteError,
            BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy, Precision, Recall, AUC)

_FUNCTIONS: dict[str, Callable] = {fn.__name__: fn for fn in (
    accuracy, binary_accuracy, categorical_accuracy, sparse_categorical_accuracy, top_k_categorical_accuracy,
    sparse_top_k_categorical_accuracy, mean_squared_error, mean_absolute_error, binary_crossentropy,
    categorical_crossentropy, sparse_categorical_crossentropy)}

# Names accepted by get(): class names, their snake_case forms and Keras's short aliases.
ALL_OBJECTS: dict[str, type] = {
    **{cls.__name__: cls for cls in _CLASSES},
    **{utils.snake_case(cls.__name__): cls for cls in _CLASSES},
    "mse": MeanSquaredError, "MSE": MeanSquaredError,
    "mae": MeanAbsoluteError, "MAE": MeanAbsoluteError,
    "bce": BinaryCrossentropy, "BCE": BinaryCrossentropy,
    "acc": Accuracy,  # "accuracy"/"acc" are resolved by get(); listed so that error messages show them
}
_CONFIG_CLASSES: dict[str, type] = {cls.__name__: cls for cls in _CLASSES + (MeanMetricWrapper,)}


def _accuracy_for(identifier: str, loss) -> Metric:
    """The accuracy that suits ``loss``, named ``identifier`` (see :func:`get`)."""
    try:
        loss_object = losses_module.get(loss)
    except (ValueError, TypeError):
        loss_object = None
    if isinstance(loss_object, losses_module.SparseCategoricalCrossentropy):
        return SparseCategoricalAccuracy(name=identifier)
    if isinstance(loss_object, losses_module.CategoricalCrossentropy):
        return CategoricalAccuracy(name=identifier)
    if isinstance(loss_object, losses_module.BinaryCrossentropy):
        return BinaryAccuracy(name=identifier)
    return _AccuracyFromShapes(name=identifier)


def get(identifier, loss=None) -> Metric | None:
    """A Metric from None, a name, a config dict, a Metric class or instance, or a function.

    Strings are Keras's names, and the metric is **named by the string**, as
    Keras's ``compile`` names it (``get("mse").name == "mse"``, the key in the
    History). "accuracy" and "acc" (any case) depend on the compiled ``loss``:

    * sparse_categorical_crossentropy -> SparseCategoricalAccuracy
    * categorical_crossentropy        -> CategoricalAccuracy
    * binary_crossentropy             -> BinaryAccuracy (also multi-label outputs)
    * any other loss, or none         -> chosen from the first batch's shapes as
      Keras 3 does: binary if y_pred's last axis is 1, sparse if y_true has a
      lower rank or a last axis of 1, categorical otherwise.

    (Keras 3 itself always decides from the shapes; for the three
    crossentropies with their usual shapes that is the same choice. It
    differs for binary_crossentropy on (N, L) multi-label outputs, where
    Keras 3 picks CategoricalAccuracy.) A plain function ``fn(y_true,
    y_pred) -> per-sample values`` is wrapped in a :class:`MeanMetricWrapper`.
    Unknown names raise ValueError listing the valid ones.
    """
    if identifier is None:
        return None
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str):
        if identifier.lower() in ("accuracy", "acc"):
            return _accuracy_for(identifier, loss)
        if identifier not in ALL_OBJECTS:
            raise ValueError(f"Unknown metric {identifier!r}. Valid names: {utils.valid_names(ALL_OBJECTS)}")
        return ALL_OBJECTS[identifier](name=identifier)
    if isinstance(identifier, Mapping):
        return deserialize(identifier)
    if inspect.isclass(identifier) and issubclass(identifier, Metric):
        return identifier()
    if callable(identifier):
        return MeanMetricWrapper(identifier, name=getattr(identifier, "__name__", None))
    raise ValueError(f"Could not interpret metric identifier: {identifier!r}. Expected None, a name "
                     f"({utils.valid_names(ALL_OBJECTS)}), a config dict, a Metric or a function.")


def serialize(metric) -> dict | None:
    """``{"class_name": ..., "config": ...}`` of a Metric (None stays None)."""
    if metric is None:
        return None
    metric = get(metric)
    class_name = "MeanMetricWrapper" if isinstance(metric, _AccuracyFromShapes) else type(metric).__name__
    config = metric.get_config()
    if isinstance(metric, _AccuracyFromShapes):
        if metric.resolved is None:
            raise ValueError(f"{metric.name}: this accuracy is chosen from the shapes of the first batch; "
                             f"serialize it after one update_state, or give an explicit accuracy class")
        config["fn"] = metric.resolved.__name__
    return {"class_name": class_name, "config": config}


def deserialize(config: Mapping, custom_objects: Mapping | None = None) -> Metric:
    """The Metric described by a :func:`serialize` dict (``custom_objects``: user classes/functions)."""
    if "class_name" not in config:
        raise ValueError(f"A metric config dict needs the keys 'class_name' and 'config'; received keys "
                         f"{sorted(config)}")
    custom = dict(custom_objects or {})
    class_name, arguments = config["class_name"], dict(config.get("config") or {})
    cls = custom.get(class_name) or _CONFIG_CLASSES.get(class_name)
    if cls is None:
        raise ValueError(f"Unknown metric class {class_name!r}. Valid: {utils.valid_names(_CONFIG_CLASSES)}")
    if cls is MeanMetricWrapper:
        return MeanMetricWrapper.from_config(arguments, custom_objects=custom)
    return cls.from_config(arguments)
