"""The Loss base class and the reduction every loss shares (Keras 3's ``keras/src/losses/loss.py``).

A loss is called as ``loss(y_true, y_pred, sample_weight=None)``: its
``call`` gives the per-sample losses, which :func:`reduce_weighted_values`
weights and reduces; the rules are in :mod:`clearconv.losses`. Everything is
computed with :mod:`clearconv.ops`, in ``y_pred``'s float dtype (float32
stays float32 on every supported NumPy: the ops cast their operands to one
dtype first, so NumPy's own promotion of scalars never widens a result).
"""

from __future__ import annotations

import contextlib
from typing import Callable, Optional

import numpy as np

from .. import ops, utils
from ..autograd import Tensor, data_of


REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)


# --- inputs ---------------------------------------------------------------------------


def as_prediction(y_pred, dtype=None) -> Tensor:
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


def as_target(y_true, dtype) -> np.ndarray:
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


def reshaped(value, shape):
    """Reshape an array or a Tensor (keeping the tape) when its shape differs."""
    return value if value.shape == tuple(shape) else value.reshape(shape)


# --- reduction ------------------------------------------------------------------------

# Sums a list of arrays over the processes of a data-parallel step (None: one process); see count_reduction.
_reduce_counts: Optional[Callable[[list], list]] = None


@contextlib.contextmanager
def count_reduction(reduce_sums: Callable[[list], list]):
    """Within the block, a loss with ``ignore_class`` averages over the valid entries of the global batch.

    Each data-parallel process holds a shard of the batch and differentiates
    ``loss_r * n_r / n`` (:func:`clearconv.distribution.scale_loss`). The mean
    over the valid entries needs the global ``entries / valid`` factor, not
    the shard's: ``reduce_sums(list of arrays) -> list of arrays`` (summed
    over the processes) gives it, so the shares add up to one process's loss.
    Every process must call the same losses in the same order.
    """
    global _reduce_counts
    previous, _reduce_counts = _reduce_counts, reduce_sums
    try:
        yield
    finally:
        _reduce_counts = previous



def align_sample_weight(weights: np.ndarray, loss_shape: tuple, name: str) -> np.ndarray:
    """``weights`` reshaped so that they broadcast to ``loss_shape`` (see :mod:`clearconv.losses`).

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
    scaled by total/valid, so the mean is over the valid entries only (of the
    global batch inside :func:`count_reduction`). The
    weights and the divisor are arrays of the losses' dtype, so the result
    keeps that dtype.
    """
    dtype = values.dtype
    weights = None
    if sample_weight is not None:
        weights = np.asarray(data_of(sample_weight))
        if not (np.issubdtype(weights.dtype, np.number) or weights.dtype == np.bool_):
            raise TypeError(f"{name}: sample_weight must hold numbers; received dtype {weights.dtype}")
        weights = align_sample_weight(weights.astype(dtype, copy=False), values.shape, name)
    if mask is not None:
        mask_weights = mask.astype(dtype)
        if reduction in ("sum_over_batch_size", "mean"):
            entries, valid = float(mask_weights.size), float(mask_weights.sum())
            if _reduce_counts is not None:  # the global batch's counts: this shard's alone would skew the mean
                entries, valid = (float(v) for v in _reduce_counts([np.array([entries, valid])])[0])
            mask_weights = mask_weights * dtype.type(entries / valid if valid else 0.0)
        weights = mask_weights if weights is None else weights * mask_weights
    if weights is not None:
        values = ops.multiply(values, weights)
    if reduction is None or reduction == "none":
        return values
    total = ops.sum(values)
    if reduction == "sum":
        return total
    if reduction == "mean_with_sample_weight" and weights is not None:
        divisor = np.sum(np.broadcast_to(weights, values.shape), dtype=dtype)
    else:
        divisor = np.asarray(values.size, dtype=dtype)
    return ops.divide_no_nan(total, divisor)  # 0 when the weights sum to 0, as Keras


# --- the base class ---------------------------------------------------------------------


def _check_reduction(reduction, name: str):
    if reduction not in REDUCTIONS:
        raise ValueError(f"{name}: invalid value for argument `reduction`: {reduction!r}. Expected one of "
                         f"{', '.join(repr(r) for r in REDUCTIONS)}")
    return reduction


class Loss(utils.Configurable):
    """Base class: ``loss(y_true, y_pred, sample_weight=None) -> scalar Tensor``.

    Subclasses implement ``call(y_true, y_pred) -> per-sample losses`` with
    differentiable operations (:mod:`clearconv.ops`, Tensor arithmetic);
    ``y_true`` arrives as an array in ``y_pred``'s dtype, ``y_pred`` as a
    Tensor. ``dtype``: compute in that float dtype (None: ``y_pred``'s own).
    ``get_config``/``from_config`` and the repr are
    :class:`clearconv.utils.Configurable`'s.
    """

    def __init__(self, name: str | None = None, reduction="sum_over_batch_size", dtype=None):
        self.name = name or utils.snake_case(type(self).__name__)
        self.reduction = _check_reduction(reduction, self.name)
        self.dtype = None if dtype is None else np.dtype(dtype).name

    def __call__(self, y_true, y_pred, sample_weight=None) -> Tensor:
        y_pred = as_prediction(y_pred, self.dtype)
        values, mask = self._per_sample(y_true, y_pred)
        if not isinstance(values, Tensor):
            values = Tensor(np.asarray(values, dtype=y_pred.dtype))
        return reduce_weighted_values(values, sample_weight, self.reduction, mask, self.name)

    def _per_sample(self, y_true, y_pred: Tensor):
        """(per-sample losses, mask or None)."""
        return self.call(as_target(y_true, y_pred.dtype), y_pred), None

    def call(self, y_true, y_pred):
        raise NotImplementedError(f"{type(self).__name__} must implement call(y_true, y_pred)")

    def get_config(self) -> dict:
        config = {"name": self.name, "reduction": self.reduction}
        if self.dtype is not None:
            config["dtype"] = self.dtype
        return config
