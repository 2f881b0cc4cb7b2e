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

* ``from_logits=True``: binary is ``y softplus(-x) + (1 - y) softplus(x)``
  with softplus ``max(x, 0) + log1p(exp(-|x|))`` (Keras's JAX backend's
  log_sigmoid form), gradient ``sigmoid(x) - y``; categorical uses
  ``log_softmax``, gradient ``softmax(x) * sum(y) - y``. Logits of 1e4
  give finite losses and gradients, without warnings.
* probabilities: binary clips p to [EPSILON, 1 - EPSILON] before the log;
  categorical first divides p by its sum over the class axis (Keras does,
  so rows that do not sum to one are renormalised), then clips. The
  gradient is zero where the clip is active, as for a clip op.
* every loss is a composition of :mod:`clearconv.ops` (see
  :mod:`clearconv.losses.losses`): no hand-written backward, and float32
  stays float32 on every NumPy the project supports.

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

Layout, as Keras 3's ``keras/src/losses/``: :mod:`clearconv.losses.loss` holds
the Loss base class and the reduction, :mod:`clearconv.losses.losses` the
functions and classes; ``get``/``serialize``/``deserialize`` are this
package's :class:`~clearconv.serialization_lib.Catalog`.
"""

from __future__ import annotations

from ..serialization_lib import Catalog
from .loss import REDUCTIONS, Loss, align_sample_weight, reduce_weighted_values, same_rank_shapes  # noqa: F401
from .losses import (  # noqa: F401
    BCE, CLASSES, FUNCTION_CLASSES, FUNCTIONS, MAE, MSE, BinaryCrossentropy, CategoricalCrossentropy, Huber,
    LossFunctionWrapper, MeanAbsoluteError, MeanSquaredError, SparseCategoricalCrossentropy, bce,
    binary_crossentropy, categorical_crossentropy, huber, mae, mean_absolute_error, mean_squared_error, mse,
    sparse_categorical_crossentropy, sparse_labels)

# Names accepted by get(): Keras's class names, function names and short aliases.
ALL_OBJECTS: dict[str, type] = {
    **{cls.__name__: cls for cls in CLASSES},
    **{name: FUNCTION_CLASSES[fn] for name, fn in FUNCTIONS.items()},
    "mse": MeanSquaredError, "MSE": MeanSquaredError,
    "mae": MeanAbsoluteError, "MAE": MeanAbsoluteError,
    "bce": BinaryCrossentropy, "BCE": BinaryCrossentropy,
}


def _wrap(function):
    """One of this package's per-sample functions gives its class; any other is reduced by a wrapper."""
    loss_class = FUNCTION_CLASSES.get(function)
    return loss_class() if loss_class is not None else LossFunctionWrapper(function)


CATALOG = Catalog("loss", ALL_OBJECTS, base=Loss,
                  classes={cls.__name__: cls for cls in CLASSES + (LossFunctionWrapper,)}, wrap=_wrap)


def get(identifier, custom_objects=None) -> Loss | None:
    """A Loss from None, a name, a config dict, a Loss class or instance, or a callable.

    Names are Keras's ("categorical_crossentropy", "CategoricalCrossentropy",
    "mse", ...) and give a default instance of the class. One of this
    package's per-sample functions gives its class; any other callable
    ``fn(y_true, y_pred)`` returning per-sample losses is wrapped in a
    :class:`LossFunctionWrapper` so that it is reduced like the built-ins.
    Unknown names raise ValueError listing the valid ones.
    """
    return CATALOG.get(identifier, custom_objects)


def serialize(loss) -> dict | None:
    """``{"class_name": ..., "config": ...}`` of a Loss (None stays None)."""
    return CATALOG.serialize(loss)


def deserialize(config, custom_objects=None) -> Loss:
    """The Loss described by a :func:`serialize` dict.

    ``custom_objects`` maps names to user Loss classes or loss functions. A name
    (``"mse"``) gives that loss, as :func:`get` does.
    """
    return CATALOG.deserialize(config, custom_objects)
