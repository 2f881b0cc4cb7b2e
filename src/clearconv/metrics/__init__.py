"""Stateful metrics with Keras 3's names, formulas and accumulation, on NumPy arrays.

Every metric has ``update_state(y_true, y_pred, sample_weight=None)``
(``Mean`` takes ``update_state(values, sample_weight=None)``), ``result()``,
``reset_state()``, ``name`` and ``get_config()``/``from_config()``; calling a
metric updates it and returns the result. Inputs are NumPy arrays (a Tensor
is read as its array); nothing here records gradients. Sums are kept in
float64 (Keras keeps float32 variables), so long runs do not drift, and
``result()`` is a Python float (an array of float64 for several thresholds).
Keras's metric functions (``accuracy``, ``mean_squared_error``, ...) give
their per-sample values in the prediction's float dtype (float32 for
integer predictions), as Keras's give floatx.

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

Layout, one concept per module as Keras 3's ``keras/src/metrics/``:
``metric`` (the base class), ``reduction_metrics`` (Mean, MeanMetricWrapper),
``accuracy_metrics``, ``regression_metrics``, ``probabilistic_metrics``,
``confusion_metrics`` (Precision, Recall, AUC) and ``metrics_utils``;
``get``/``serialize``/``deserialize`` are this package's
:class:`~clearconv.serialization_lib.Catalog`.
"""

from __future__ import annotations

from typing import Callable

from .. import losses as losses_module
from .. import utils
from ..serialization_lib import Catalog
from .accuracy_metrics import (  # noqa: F401
    Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy, SparseTopKCategoricalAccuracy,
    TopKCategoricalAccuracy, _AccuracyFromShapes, accuracy, binary_accuracy, categorical_accuracy,
    sparse_categorical_accuracy, sparse_top_k_categorical_accuracy, top_k_categorical_accuracy)
from .confusion_metrics import AUC, EPSILON, NEG_INF, Precision, Recall  # noqa: F401
from .metric import Metric
from .probabilistic_metrics import (  # noqa: F401
    BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy, binary_crossentropy,
    categorical_crossentropy, sparse_categorical_crossentropy)
from .reduction_metrics import Mean, MeanMetricWrapper
from .regression_metrics import (  # noqa: F401
    MeanAbsoluteError, MeanSquaredError, mae, mean_absolute_error, mean_squared_error, mse)

CLASSES = (Mean, Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
           TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy, MeanSquaredError, MeanAbsoluteError,
           BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy, Precision, Recall, AUC)

# function name -> function: what a MeanMetricWrapper's config may name
FUNCTIONS: dict[str, Callable] = {fn.__name__: fn for fn in (
    accuracy, binary_accuracy, categorical_accuracy, sparse_categorical_accuracy, top_k_categorical_accuracy,
    sparse_top_k_categorical_accuracy, mean_squared_error, mean_absolute_error, binary_crossentropy,
    categorical_crossentropy, sparse_categorical_crossentropy)}

# Names accepted by get(): class names, their snake_case forms and Keras's short aliases.
ALL_OBJECTS: dict[str, type] = {
    **{cls.__name__: cls for cls in CLASSES},
    **{utils.snake_case(cls.__name__): cls for cls in CLASSES},
    "mse": MeanSquaredError, "MSE": MeanSquaredError,
    "mae": MeanAbsoluteError, "MAE": MeanAbsoluteError,
    "bce": BinaryCrossentropy, "BCE": BinaryCrossentropy,
    "acc": Accuracy,  # "accuracy"/"acc" are resolved by get(); listed so that error messages show them
}

# A name gives its class named by the string, as Keras's compile names it (get("mse").name == "mse").
CATALOG = Catalog("metric", ALL_OBJECTS, base=Metric,
                  classes={cls.__name__: cls for cls in CLASSES + (MeanMetricWrapper,)},
                  build=lambda name, cls: cls(name=name),
                  wrap=lambda fn: MeanMetricWrapper(fn, name=getattr(fn, "__name__", None)))


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
    if isinstance(identifier, str) and identifier.lower() in ("accuracy", "acc"):
        return _accuracy_for(identifier, loss)
    return CATALOG.get(identifier)


def serialize(metric) -> dict | None:
    """``{"class_name": ..., "config": ...}`` of a Metric (None stays None).

    An accuracy chosen from the shapes is saved as the MeanMetricWrapper of the function it chose.
    """
    if isinstance(metric, _AccuracyFromShapes):
        metric = metric.as_wrapper()
    return CATALOG.serialize(metric)


def deserialize(config, custom_objects=None) -> Metric:
    """The Metric described by a :func:`serialize` dict (``custom_objects``: user classes/functions)."""
    return CATALOG.deserialize(config, custom_objects)
