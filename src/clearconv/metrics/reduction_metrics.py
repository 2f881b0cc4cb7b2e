"""Mean and the metrics that are the mean of a per-sample function (Keras 3's ``reduction_metrics.py``)."""

from __future__ import annotations

from typing import Callable, Mapping

import numpy as np

from .. import losses as losses_module
from .. import serialization_lib
from .metric import Metric
from .metrics_utils import as_array


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
        values = np.asarray(as_array(values), dtype=np.float64)
        if sample_weight is None:
            per_sample = values.mean(axis=tuple(range(1, values.ndim))) if values.ndim > 1 else values
            self.total += float(per_sample.sum())
            self.count += float(per_sample.shape[0]) if per_sample.ndim else 1.0
            return
        weights = np.asarray(as_array(sample_weight), dtype=np.float64)
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
        if _is_loss(fn):
            self._direction = "down"  # a loss: smaller is better (Keras's rule)

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        values = self._fn(y_true, y_pred, **self._fn_kwargs)
        super().update_state(values, sample_weight=sample_weight)

    def get_config(self) -> dict:
        return {**super().get_config(), "fn": serialization_lib.function_name(self._fn), **self._fn_kwargs}

    @classmethod
    def from_config(cls, config: dict, custom_objects: Mapping | None = None):
        from . import FUNCTIONS  # the package's table of metric functions, which imports this module first
        return serialization_lib.rebuild_function_wrapper(cls, config, FUNCTIONS, custom_objects, "metric")


def _is_loss(fn) -> bool:
    """Whether ``fn`` is a loss (a Loss, a loss function, or one as a metric function): smaller is better."""
    return isinstance(fn, losses_module.Loss) or getattr(fn, "__wrapped__", fn) in losses_module.FUNCTIONS.values()


class FixedFunctionMetric(MeanMetricWrapper):
    """A MeanMetricWrapper whose function is fixed by the class; config is name, dtype and the kwargs."""

    _function: Callable

    def __init__(self, name: str | None = None, dtype=None, **kwargs):
        super().__init__(type(self)._function, name=name, dtype=dtype, **kwargs)

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype, **self._fn_kwargs}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)  # the function is the class's own, so the config does not name it
