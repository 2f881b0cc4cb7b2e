"""Mean squared and mean absolute error as metrics (Keras 3's ``regression_metrics.py``)."""

from __future__ import annotations

from .. import losses as losses_module
from .metrics_utils import without_tape
from .reduction_metrics import FixedFunctionMetric


mean_squared_error = without_tape(losses_module.mean_squared_error)
mean_absolute_error = without_tape(losses_module.mean_absolute_error)
mse = mean_squared_error
mae = mean_absolute_error


class MeanSquaredError(FixedFunctionMetric):
    """Mean over samples of mean((y_true - y_pred)^2) over the last axis."""

    _direction = "down"
    _function = staticmethod(mean_squared_error)

    def __init__(self, name="mean_squared_error", dtype=None):
        super().__init__(name=name, dtype=dtype)


class MeanAbsoluteError(FixedFunctionMetric):
    """Mean over samples of mean(|y_true - y_pred|) over the last axis."""

    _direction = "down"
    _function = staticmethod(mean_absolute_error)

    def __init__(self, name="mean_absolute_error", dtype=None):
        super().__init__(name=name, dtype=dtype)
