"""Precision, Recall and AUC: metrics of weighted confusion counts per threshold (Keras 3's ``confusion_metrics``)."""

from __future__ import annotations

import numpy as np

from .. import losses as losses_module
from ..autograd import data_of
from ..kernels import activations as activation_ops
from .metric import Metric
from .metrics_utils import as_array, check_k


NEG_INF = -1e10  # Keras's stand-in score for predictions outside the top k
EPSILON = 1e-7


def _divide_no_nan(numerator, denominator) -> np.ndarray:
    """numerator / denominator, 0 where the denominator is 0."""
    numerator, denominator = np.broadcast_arrays(np.asarray(numerator, np.float64),
                                                 np.asarray(denominator, np.float64))
    return np.divide(numerator, denominator, out=np.zeros(numerator.shape), where=denominator != 0)


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
    y_true, y_pred = as_array(y_true), as_array(y_pred).astype(np.float32)
    pred_shape, true_shape = losses_module.same_rank_shapes(y_pred.shape, y_true.shape)
    y_true, y_pred = y_true.reshape(true_shape), y_pred.reshape(pred_shape)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{name}: y_true of shape {received[0]} does not match y_pred of shape {received[1]}")
    weights = np.ones(y_pred.shape)
    if sample_weight is not None:
        aligned = losses_module.align_sample_weight(np.asarray(as_array(sample_weight), dtype=np.float64),
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
            check_k(top_k, type(self).__name__)
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
        y_pred = as_array(y_pred)
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
