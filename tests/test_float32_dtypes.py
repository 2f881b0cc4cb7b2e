"""float32 in, float32 out: every loss, regularizer, constraint, metric function and optimizer update.

NumPy before 2.0 (NEP 50) promotes a float32 *scalar* (a 0-d array, what every
full reduction gives) combined with a Python float to float64, where NumPy 2
keeps float32. Code that mixes the two therefore returns float64 only on the
older NumPy; these checks run on every NumPy the project declares, and the
CI's oldest-NumPy leg is where they can fail.

The optimizers update in place, so an upcast does not change a variable's
dtype: it changes its rounding. A scalar (shape ()) variable is therefore
checked to follow, bit for bit, the trajectory of the same value held in a
one-element vector, whose arithmetic stays float32 on every NumPy.
"""

from __future__ import annotations

import numpy as np
import pytest

from clearconv import constraints, losses, metrics, optimizers, regularizers
from clearconv.autograd import Tensor, Variable

RNG = np.random.default_rng(50)
N, C = 4, 3
TARGETS = RNG.standard_normal((N, C)).astype(np.float32)
PREDICTIONS = RNG.standard_normal((N, C)).astype(np.float32)
PROBABILITIES = RNG.uniform(0.05, 0.95, (N, C)).astype(np.float32)
LABELS = np.array([2, 0, 1, 1])
ONE_HOT = np.eye(C, dtype=np.float32)[LABELS]
BINARY = (TARGETS > 0).astype(np.float32)
WEIGHTS = np.array([0.5, 1.5, 0.0, 2.0], dtype=np.float32)

# (loss, y_true, y_pred): every loss class, and each form of it (logits, probabilities, masks)
LOSS_CASES = {
    "mse": (losses.MeanSquaredError, TARGETS, PREDICTIONS),
    "mae": (losses.MeanAbsoluteError, TARGETS, PREDICTIONS),
    "huber": (lambda **kw: losses.Huber(delta=0.7, **kw), TARGETS, PREDICTIONS),
    "bce": (losses.BinaryCrossentropy, BINARY, PROBABILITIES),
    "bce_logits_smoothed": (lambda **kw: losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1, **kw),
                            BINARY, PREDICTIONS),
    "cce": (losses.CategoricalCrossentropy, ONE_HOT, PROBABILITIES),
    "cce_logits_smoothed": (lambda **kw: losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1, **kw),
                            ONE_HOT, PREDICTIONS),
    "scce": (losses.SparseCategoricalCrossentropy, LABELS, PROBABILITIES),
    "scce_logits_ignore": (lambda **kw: losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=1, **kw),
                           LABELS, PREDICTIONS),
    "wrapped_function": (lambda **kw: losses.LossFunctionWrapper(losses.mean_squared_error, **kw), TARGETS,
                         PREDICTIONS),
}
REDUCTIONS = ("sum_over_batch_size", "sum", "mean_with_sample_weight", "none")


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("case", sorted(LOSS_CASES))
def test_every_loss_keeps_float32_value_and_gradient(case, weighted, reduction):
    make, y_true, y_pred = LOSS_CASES[case]
    prediction = Tensor(y_pred.copy(), requires_grad=True)
    value = make(reduction=reduction)(y_true, prediction, WEIGHTS if weighted else None)
    assert value.dtype == np.float32, f"{case}, {reduction}: value is {value.dtype}"
    value.backward(np.ones(value.shape, dtype=np.float32))
    assert prediction.grad.dtype == np.float32, f"{case}, {reduction}: gradient is {prediction.grad.dtype}"


@pytest.mark.parametrize("function, y_true, y_pred", [
    (losses.mean_squared_error, TARGETS[0], PREDICTIONS[0]),        # one sample of rank 1: per-element values
    (losses.binary_crossentropy, BINARY[:, :1], PREDICTIONS[:, :1]),
    (losses.categorical_crossentropy, ONE_HOT[0], PROBABILITIES[0]),  # one sample: a scalar loss
    (losses.sparse_categorical_crossentropy, LABELS[:1], PREDICTIONS[:1]),
])
def test_per_sample_loss_functions_keep_float32(function, y_true, y_pred):
    values = function(y_true, Tensor(y_pred, requires_grad=True))
    assert values.dtype == np.float32


@pytest.mark.parametrize("regularizer", [regularizers.L1(0.3), regularizers.L2(0.2), regularizers.L1L2(0.1, 0.05),
                                         regularizers.L1L2(0.0, 0.0)], ids=repr)
def test_every_regularizer_keeps_float32(regularizer):
    weights = PREDICTIONS.copy()
    assert np.asarray(regularizer(weights)).dtype == np.float32
    variable = Tensor(weights, requires_grad=True)
    penalty = regularizer(variable)
    assert penalty.dtype == np.float32
    if isinstance(penalty, Tensor) and penalty.requires_grad:
        penalty.backward()
        assert variable.grad.dtype == np.float32


@pytest.mark.parametrize("constraint", [constraints.MaxNorm(1.0), constraints.NonNeg(), constraints.UnitNorm(),
                                        constraints.MinMaxNorm(0.5, 1.0, rate=0.5)], ids=repr)
def test_every_constraint_keeps_float32(constraint):
    assert constraint(PREDICTIONS.copy()).dtype == np.float32


METRIC_FUNCTIONS = {
    "accuracy": (metrics.accuracy, np.round(TARGETS), np.round(PREDICTIONS)),
    "binary_accuracy": (metrics.binary_accuracy, BINARY, PROBABILITIES),
    "categorical_accuracy": (metrics.categorical_accuracy, ONE_HOT, PROBABILITIES),
    "sparse_categorical_accuracy": (metrics.sparse_categorical_accuracy, LABELS, PROBABILITIES),
    "top_k_categorical_accuracy": (metrics.top_k_categorical_accuracy, ONE_HOT, PROBABILITIES),
    "sparse_top_k_categorical_accuracy": (metrics.sparse_top_k_categorical_accuracy, LABELS, PROBABILITIES),
    "mean_squared_error": (metrics.mean_squared_error, TARGETS, PREDICTIONS),
    "mean_absolute_error": (metrics.mean_absolute_error, TARGETS, PREDICTIONS),
    "binary_crossentropy": (metrics.binary_crossentropy, BINARY, PROBABILITIES),
    "categorical_crossentropy": (metrics.categorical_crossentropy, ONE_HOT, PROBABILITIES),
    "sparse_categorical_crossentropy": (metrics.sparse_categorical_crossentropy, LABELS, PROBABILITIES),
}


@pytest.mark.parametrize("name", sorted(METRIC_FUNCTIONS))
def test_every_metric_function_keeps_float32(name):
    """Keras's metric functions give per-sample values in the prediction's float dtype."""
    function, y_true, y_pred = METRIC_FUNCTIONS[name]
    assert np.asarray(function(y_true, y_pred)).dtype == np.float32


@pytest.mark.parametrize("name", ["accuracy", "binary_accuracy", "precision", "recall", "auc", "mse",
                                  "categorical_crossentropy"])
def test_metric_results_are_floats_whatever_the_input_dtype(name):
    """A metric accumulates in float64 and ``result()`` is a Python float (see clearconv.metrics)."""
    y_true, y_pred = {"accuracy": (ONE_HOT, PROBABILITIES), "categorical_crossentropy": (ONE_HOT, PROBABILITIES),
                      "mse": (TARGETS, PREDICTIONS)}.get(name, (BINARY, PROBABILITIES))
    results = []
    for dtype in (np.float32, np.float64):
        metric = metrics.get(name, loss="categorical_crossentropy")
        metric.update_state(y_true, y_pred.astype(dtype), sample_weight=WEIGHTS)
        results.append(metric.result())
    assert all(type(result) is float for result in results)
    assert results[0] == pytest.approx(results[1], rel=1e-6)


OPTIMIZERS = {
    "sgd": lambda: optimizers.SGD(0.1),
    "sgd_nesterov": lambda: optimizers.SGD(0.1, momentum=0.9, nesterov=True),
    "rmsprop_centered": lambda: optimizers.RMSprop(0.01, momentum=0.5, centered=True),
    "adagrad": lambda: optimizers.Adagrad(0.1),
    "adadelta": lambda: optimizers.Adadelta(1.0),
    "adam_amsgrad": lambda: optimizers.Adam(0.01, amsgrad=True),
    "adamw": lambda: optimizers.AdamW(0.01, weight_decay=0.1),
    "nadam": lambda: optimizers.Nadam(0.01),
    "sgd_clipnorm": lambda: optimizers.SGD(0.1, momentum=0.9, clipnorm=0.3),
    "adam_global_clipnorm": lambda: optimizers.Adam(0.01, global_clipnorm=0.3),
    "rmsprop_clipvalue": lambda: optimizers.RMSprop(0.01, clipvalue=0.2),
    "sgd_weight_decay": lambda: optimizers.SGD(0.1, weight_decay=0.05),
    "sgd_schedule": lambda: optimizers.SGD(optimizers.ExponentialDecay(0.1, decay_steps=2, decay_rate=0.7)),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_every_optimizer_update_stays_float32(name):
    values = RNG.standard_normal(5).astype(np.float32)
    gradients = RNG.standard_normal((6, 5)).astype(np.float32)
    scalars = [Variable(np.array(value, dtype=np.float32), name=f"scalar_{i}") for i, value in enumerate(values)]
    vectors = [Variable(np.array([value], dtype=np.float32), name=f"vector_{i}") for i, value in enumerate(values)]
    on_scalars, on_vectors = OPTIMIZERS[name](), OPTIMIZERS[name]()
    for step in gradients:
        on_scalars.apply([np.array(g, dtype=np.float32) for g in step], scalars)
        on_vectors.apply([np.array([g], dtype=np.float32) for g in step], vectors)
    for scalar, vector in zip(scalars, vectors):
        assert scalar.dtype == np.float32 and scalar.shape == ()
        assert scalar.data.tobytes() == vector.data.tobytes(), (
            f"{name}: the scalar variable ended at {scalar.data!r}, the one-element vector at {vector.data!r}")
    for key, state in on_scalars.get_state().items():
        if key not in ("iterations", "learning_rate", "nadam/u_product"):
            assert state.dtype == np.float32, f"{name}: slot {key} is {state.dtype}"
