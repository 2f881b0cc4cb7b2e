"""The crossentropies as metrics (Keras 3's ``probabilistic_metrics.py``)."""

from __future__ import annotations

from .. import losses as losses_module
from .metrics_utils import without_tape
from .reduction_metrics import FixedFunctionMetric


binary_crossentropy = without_tape(losses_module.binary_crossentropy)
categorical_crossentropy = without_tape(losses_module.categorical_crossentropy)
sparse_categorical_crossentropy = without_tape(losses_module.sparse_categorical_crossentropy)


class BinaryCrossentropy(FixedFunctionMetric):
    """Mean binary crossentropy (see :func:`clearconv.losses.binary_crossentropy`)."""

    _direction = "down"
    _function = staticmethod(binary_crossentropy)

    def __init__(self, name="binary_crossentropy", dtype=None, from_logits=False, label_smoothing=0.0):
        super().__init__(name=name, dtype=dtype, from_logits=bool(from_logits),
                         label_smoothing=float(label_smoothing))


class CategoricalCrossentropy(FixedFunctionMetric):
    """Mean categorical crossentropy (see :func:`clearconv.losses.categorical_crossentropy`)."""

    _direction = "down"
    _function = staticmethod(categorical_crossentropy)

    def __init__(self, name="categorical_crossentropy", dtype=None, from_logits=False, label_smoothing=0.0,
                 axis=-1):
        super().__init__(name=name, dtype=dtype, from_logits=bool(from_logits),
                         label_smoothing=float(label_smoothing), axis=axis)


class SparseCategoricalCrossentropy(FixedFunctionMetric):
    """Mean sparse categorical crossentropy (see :func:`clearconv.losses.sparse_categorical_crossentropy`)."""

    _direction = "down"
    _function = staticmethod(sparse_categorical_crossentropy)

    def __init__(self, name="sparse_categorical_crossentropy", dtype=None, from_logits=False, axis=-1):
        super().__init__(name=name, dtype=dtype, from_logits=bool(from_logits), axis=axis)
