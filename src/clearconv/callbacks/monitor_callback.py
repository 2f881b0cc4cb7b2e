"""What the callbacks that watch a logged value share: the direction of improvement and the comparison."""

from __future__ import annotations

import math
import warnings
from typing import Callable

import numpy as np

from .callback import Callback


# Metric names (after removing "val_") that improve upwards, for mode="auto". Any name containing
# "acc" or "auc" also counts; every other name (losses, errors) is minimised.
_MAXIMIZED_METRICS = frozenset({
    "precision", "recall", "f1_score", "fbeta_score", "r2_score", "iou", "mean_iou", "binary_iou",
    "one_hot_iou", "one_hot_mean_iou", "true_positives", "true_negatives", "precision_at_recall",
    "recall_at_precision", "sensitivity_at_specificity", "specificity_at_sensitivity", "cosine_similarity",
})


def _direction_from_model(model, metric_name: str) -> str | None:
    """'max'/'min' from a metric object on ``model.metrics`` named ``metric_name`` that declares a direction."""
    candidates = list(getattr(model, "metrics", None) or [])
    for candidate in list(candidates):
        candidates.extend(getattr(candidate, "metrics", None) or [])  # one level of metric containers
    for metric in candidates:
        if getattr(metric, "name", None) != metric_name:
            continue
        direction = getattr(metric, "_direction", None) or getattr(metric, "direction", None)
        if direction in ("up", "max"):
            return "max"
        if direction in ("down", "min"):
            return "min"
    return None


def infer_mode(monitor: str, model=None) -> str:
    """'min' or 'max' for mode='auto'.

    ``loss``/``val_loss`` -> min; a metric on ``model.metrics`` with a declared
    direction -> that direction; a name containing 'acc' or 'auc', or a known
    score (precision, recall, f1_score, iou, ...) -> max; anything else -> min.
    """
    name = monitor.removeprefix("val_")
    if name == "loss":
        return "min"
    from_model = _direction_from_model(model, name) if model is not None else None
    if from_model is not None:
        return from_model
    if "acc" in name or "auc" in name or name in _MAXIMIZED_METRICS:
        return "max"
    return "min"


def checked_mode(mode: str, owner: str) -> str:
    if mode not in ("auto", "min", "max"):
        warnings.warn(f"{owner} mode '{mode}' is unknown, fallback to auto mode. Accepted: 'auto', 'min', 'max'.",
                      stacklevel=3)
        return "auto"
    return mode


class MonitorCallback(Callback):
    """Shared by callbacks that compare a monitored log value with the best so far.

    The direction is settled at the first ``on_epoch_end`` (when the model's
    metrics exist). An improvement is ``value + min_delta < reference`` in min
    mode and ``value - min_delta > reference`` in max mode; any value improves
    on a reference of None.
    """

    def __init__(self, monitor: str, mode: str, min_delta: float = 0.0) -> None:
        super().__init__()
        self.monitor = monitor
        self.mode = checked_mode(mode, type(self).__name__)
        self.min_delta = abs(min_delta)
        self.monitor_op: Callable | None = None
        self._direction: str | None = None

    def _set_monitor_op(self) -> None:
        self._direction = self.mode if self.mode != "auto" else infer_mode(self.monitor, self.model)
        self.monitor_op = np.less if self._direction == "min" else np.greater

    def _worst_value(self) -> float:
        return math.inf if self._direction == "min" else -math.inf

    def _is_improvement(self, value: float, reference: float | None) -> bool:
        if reference is None:
            return True
        if self._direction == "min":
            return bool(self.monitor_op(value + self.min_delta, reference))
        return bool(self.monitor_op(value - self.min_delta, reference))
