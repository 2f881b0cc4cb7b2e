"""The accuracies: Keras's per-sample functions and their metric classes (Keras 3's ``accuracy_metrics.py``)."""

from __future__ import annotations

from typing import Callable

import numpy as np

from .. import losses as losses_module
from ..autograd import data_of
from .metrics_utils import as_array, check_k, result_dtype
from .reduction_metrics import FixedFunctionMetric, Mean, MeanMetricWrapper


def _paired(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    """Arrays of equal rank: rank-1 pairs read as (N, 1); then Keras's squeeze/expand of a unit axis."""
    y_true, y_pred = as_array(y_true), as_array(y_pred)
    if y_pred.ndim <= 1 and y_true.ndim <= 1:
        y_true, y_pred = y_true.reshape(-1, 1), y_pred.reshape(-1, 1)
    true_shape, pred_shape = losses_module.same_rank_shapes(y_true.shape, y_pred.shape)
    return y_true.reshape(true_shape), y_pred.reshape(pred_shape)


def _check_broadcast(y_true: np.ndarray, y_pred: np.ndarray, name: str, shapes) -> None:
    try:
        np.broadcast_shapes(y_true.shape, y_pred.shape)
    except ValueError:
        raise ValueError(f"{name}: y_true of shape {shapes[0]} does not match y_pred of shape {shapes[1]}") from None


# Every function below gives one value per sample in the prediction's float dtype (float32 for integer
# predictions), as Keras's metric functions give floatx; Mean accumulates them in float64.


def accuracy(y_true, y_pred) -> np.ndarray:
    """Per-sample fraction of entries where y_pred == y_true (last axis averaged)."""
    shapes = (np.shape(data_of(y_true)), np.shape(data_of(y_pred)))
    y_true, y_pred = _paired(y_true, y_pred)
    _check_broadcast(y_true, y_pred, "accuracy", shapes)
    if np.issubdtype(y_pred.dtype, np.number):
        y_true = y_true.astype(y_pred.dtype, copy=False)  # Keras compares in y_pred's dtype
    return np.mean(y_true == y_pred, axis=-1, dtype=result_dtype(y_pred))


def binary_accuracy(y_true, y_pred, threshold: float = 0.5) -> np.ndarray:
    """Per-sample fraction of entries where (y_pred > threshold) == y_true."""
    shapes = (np.shape(data_of(y_true)), np.shape(data_of(y_pred)))
    y_true, y_pred = _paired(y_true, y_pred)
    _check_broadcast(y_true, y_pred, "binary_accuracy", shapes)
    predicted = (y_pred > threshold).astype(y_true.dtype)
    return np.mean(y_true == predicted, axis=-1, dtype=result_dtype(y_pred))


def categorical_accuracy(y_true, y_pred) -> np.ndarray:
    """1.0 where argmax(y_true) == argmax(y_pred) over the last axis, per sample (ties: first index)."""
    y_true, y_pred = as_array(y_true), as_array(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"categorical_accuracy: y_true of shape {y_true.shape} does not match y_pred of shape "
                         f"{y_pred.shape}; one-hot targets are expected (use sparse_categorical_accuracy for "
                         f"integer labels)")
    return (np.argmax(y_true, axis=-1) == np.argmax(y_pred, axis=-1)).astype(result_dtype(y_pred))


def _sparse_targets(y_true, y_pred: np.ndarray, name: str) -> np.ndarray:
    """Integer-valued labels of shape y_pred.shape[:-1] (a trailing unit axis is dropped)."""
    labels = as_array(y_true)
    if labels.ndim == y_pred.ndim and labels.shape[-1] == 1:
        labels = labels.reshape(labels.shape[:-1])
    if labels.shape != y_pred.shape[:-1]:
        raise ValueError(f"{name}: y_true of shape {as_array(y_true).shape} does not match y_pred of shape "
                         f"{y_pred.shape}; expected labels of shape {y_pred.shape[:-1]} "
                         f"(or {y_pred.shape[:-1] + (1,)})")
    return labels


def sparse_categorical_accuracy(y_true, y_pred) -> np.ndarray:
    """1.0 where the integer label equals argmax(y_pred) over the last axis."""
    y_pred = as_array(y_pred)
    labels = _sparse_targets(y_true, y_pred, "sparse_categorical_accuracy")
    return (labels == np.argmax(y_pred, axis=-1)).astype(result_dtype(y_pred))


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
    y_true, y_pred = as_array(y_true), as_array(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"top_k_categorical_accuracy: y_true of shape {y_true.shape} does not match y_pred of "
                         f"shape {y_pred.shape}; one-hot targets are expected")
    return _in_top_k(np.argmax(y_true, axis=-1), y_pred, k).astype(result_dtype(y_pred))


def sparse_top_k_categorical_accuracy(y_true, y_pred, k: int = 5) -> np.ndarray:
    """1.0 where the integer label is among the k highest scores of y_pred."""
    y_pred = as_array(y_pred)
    labels = _sparse_targets(y_true, y_pred, "sparse_top_k_categorical_accuracy")
    return _in_top_k(labels, y_pred, k).astype(result_dtype(y_pred))


class Accuracy(FixedFunctionMetric):
    """How often y_pred equals y_true exactly."""

    _direction = "up"
    _function = staticmethod(accuracy)

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(name=name, dtype=dtype)


class BinaryAccuracy(FixedFunctionMetric):
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


class CategoricalAccuracy(FixedFunctionMetric):
    """How often argmax(y_pred) equals argmax of the one-hot y_true."""

    _direction = "up"
    _function = staticmethod(categorical_accuracy)

    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(name=name, dtype=dtype)


class SparseCategoricalAccuracy(FixedFunctionMetric):
    """How often argmax(y_pred) equals the integer label."""

    _direction = "up"
    _function = staticmethod(sparse_categorical_accuracy)

    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(name=name, dtype=dtype)


class TopKCategoricalAccuracy(FixedFunctionMetric):
    """How often the one-hot target is among the k highest scores."""

    _direction = "up"
    _function = staticmethod(top_k_categorical_accuracy)

    def __init__(self, k=5, name="top_k_categorical_accuracy", dtype=None):
        super().__init__(name=name, dtype=dtype, k=check_k(k, "TopKCategoricalAccuracy"))
        self.k = int(k)


class SparseTopKCategoricalAccuracy(FixedFunctionMetric):
    """How often the integer label is among the k highest scores."""

    _direction = "up"
    _function = staticmethod(sparse_top_k_categorical_accuracy)

    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy", dtype=None):
        super().__init__(name=name, dtype=dtype, k=check_k(k, "SparseTopKCategoricalAccuracy"))
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

    def as_wrapper(self) -> MeanMetricWrapper:
        """The MeanMetricWrapper of the chosen function, which is how this metric is serialized."""
        if self.resolved is None:
            raise ValueError(f"{self.name}: this accuracy is chosen from the shapes of the first batch; "
                             f"serialize it after one update_state, or give an explicit accuracy class")
        return MeanMetricWrapper(self.resolved, name=self.name, dtype=self.dtype)
