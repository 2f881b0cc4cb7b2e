"""Metrics: Keras 3's documented values, hand/NumPy computations, accumulation over
batches, AUC against the exact Mann-Whitney statistic (and sklearn when installed), lookup."""

from __future__ import annotations

import numpy as np
import pytest

from clearconv import losses, metrics
from clearconv.autograd import Tensor

RNG = np.random.default_rng(7)


def batches(count, sizes):
    """Index arrays of consecutive batches of the given (unequal) sizes."""
    assert sum(sizes) == count
    edges = np.cumsum([0] + list(sizes))
    return [np.arange(start, stop) for start, stop in zip(edges[:-1], edges[1:])]


# --- Keras's documented examples (keras/src/metrics/*_test.py and docstrings) ----------------

@pytest.mark.parametrize("metric, y_true, y_pred, sample_weight, expected", [
    (metrics.Accuracy(), [[1], [2], [3], [4]], [[0], [2], [3], [4]], None, 0.75),
    (metrics.Accuracy(), [[1], [2], [3], [4]], [[0], [2], [3], [4]], [1, 1, 0, 0], 0.5),
    (metrics.BinaryAccuracy(), [[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]], None, 0.75),
    (metrics.BinaryAccuracy(), [1, 1, 0, 0], [[0.98], [1], [0], [0.6]], None, 0.75),
    (metrics.BinaryAccuracy(), [[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]], [1, 0, 0, 1], 0.5),
    (metrics.BinaryAccuracy(threshold=0.3), [[1], [1], [0], [0]], [[0.98], [0.5], [0.1], [0.2]], None, 1.0),
    (metrics.BinaryAccuracy(threshold=0.9), [[1], [1], [0], [0]], [[0.98], [0.5], [0.1], [0.2]], None, 0.75),
    (metrics.CategoricalAccuracy(), [[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]], None, 0.5),
    (metrics.CategoricalAccuracy(), [[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]], [0.7, 0.3], 0.3),
    (metrics.SparseCategoricalAccuracy(), [[2], [1]], [[0.1, 0.6, 0.3], [0.05, 0.95, 0]], None, 0.5),
    (metrics.SparseCategoricalAccuracy(), [[2], [1]], [[0.1, 0.6, 0.3], [0.05, 0.95, 0]], [0.7, 0.3], 0.3),
    (metrics.SparseCategoricalAccuracy(), [2, 1, 0], np.eye(3)[[2, 1, 0]], None, 1.0),
    (metrics.TopKCategoricalAccuracy(k=1), [[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]],
     [0.7, 0.3], 0.3),
    (metrics.SparseTopKCategoricalAccuracy(k=1), [2, 1], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]], None, 0.5),
    (metrics.SparseTopKCategoricalAccuracy(k=1), [2, 1], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]], [0.7, 0.3], 0.3),
    (metrics.SparseTopKCategoricalAccuracy(k=2), [2, 1], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]], None, 1.0),
    (metrics.Precision(), [0, 1, 1, 1], [1, 0, 1, 1], None, 2 / 3),
    (metrics.Precision(), [0, 1, 1, 1], [1, 0, 1, 1], [0, 0, 1, 0], 1.0),
    (metrics.Precision(top_k=2), [0, 0, 1, 1], [1, 1, 1, 1], None, 0.0),
    (metrics.Precision(top_k=4), [0, 0, 1, 1], [1, 1, 1, 1], None, 0.5),
    (metrics.Recall(), [0, 1, 1, 1], [1, 0, 1, 1], None, 2 / 3),
    (metrics.Recall(), [0, 1, 1, 1], [1, 0, 1, 1], [0, 0, 1, 0], 1.0),
    (metrics.Mean(), [1, 3, 5, 7], None, None, 4.0),
])
def test_keras_documented_values(metric, y_true, y_pred, sample_weight, expected):
    if isinstance(metric, metrics.Mean) and y_pred is None:
        metric.update_state(np.array(y_true), sample_weight=sample_weight)
        result = metric.result()
    else:
        result = metric(np.array(y_true), np.array(y_pred), sample_weight=sample_weight)
    assert isinstance(result, float)
    assert result == pytest.approx(expected, abs=1e-6)


AUC_TRUE = np.array([0, 0, 1, 1])
AUC_PRED = np.array([0, 0.5, 0.3, 0.9], dtype=np.float32)
AUC_WEIGHTS = [1, 2, 3, 4]


@pytest.mark.parametrize("arguments, sample_weight, expected", [
    ({}, None, 0.75),
    ({}, [1, 0, 0, 1], 1.0),
    ({"thresholds": [0.5]}, None, 0.75),
    ({}, AUC_WEIGHTS, 0.5 * (1 + 4 / 7)),  # heights (1 + 4/7)/2 over a width of 1
    ({"summation_method": "majoring"}, AUC_WEIGHTS, 1.0),
    ({"summation_method": "minoring"}, AUC_WEIGHTS, 4 / 7),
    ({"curve": "PR", "summation_method": "majoring"}, AUC_WEIGHTS, 1.0),
    ({"curve": "PR", "summation_method": "minoring"}, AUC_WEIGHTS, 0.7 * 3 / 7),
    # Davis-Goadrich: (0.5 (3 + 2 log 2.5) + 4) / 7
    ({"curve": "PR"}, AUC_WEIGHTS, (0.5 * (3 + 2 * np.log(2.5)) + 4) / 7),
    ({"curve": "PR"}, [-1, -2, -3, -4], 0.0),
])
def test_auc_keras_documented_values(arguments, sample_weight, expected):
    auc = metrics.AUC(num_thresholds=3, **arguments)
    assert auc(AUC_TRUE, AUC_PRED, sample_weight=sample_weight) == pytest.approx(expected, abs=1e-9)
    np.testing.assert_allclose(auc.thresholds, [-1e-7, 0.5, 1 + 1e-7])


MULTI_PRED = np.array([[0, 0.5, 0.3, 0.9], [0.1, 0.2, 0.3, 0.4]], dtype=np.float32).T
MULTI_TRUE = np.array([[0, 0, 1, 1], [0, 0, 1, 1]]).T


@pytest.mark.parametrize("arguments, sample_weight, expected", [
    ({"multi_label": True}, None, (0.875 + 1.0) / 2),
    ({"multi_label": True, "label_weights": [0.75, 0.25]}, None, 0.875 * 0.75 + 1.0 * 0.25),
    ({}, None, 1 - 3 / 32),
    ({}, [1, 2, 3, 4], 1 - (1 / 3) * (1 - 2 / 7) / 2),
    ({}, np.arange(8).reshape(4, 2), 1 - (1 / 3) * (1 - 3 / 11) / 2),
    ({"label_weights": [0.75, 0.25]}, None, 1 - (1 - 0.375) * 0.375 / 2),
])
def test_auc_multi_label_keras_documented_values(arguments, sample_weight, expected):
    auc = metrics.AUC(num_thresholds=5, **arguments)
    assert auc(MULTI_TRUE, MULTI_PRED, sample_weight=sample_weight) == pytest.approx(expected, abs=1e-9)


def test_auc_from_logits_equals_auc_of_the_sigmoid():
    logits = RNG.standard_normal(50) * 3
    labels = RNG.integers(0, 2, 50)
    probabilities = 1 / (1 + np.exp(-logits))
    assert metrics.AUC(from_logits=True)(labels, logits) == metrics.AUC()(labels, probabilities)


# --- accumulation over batches ----------------------------------------------------------------

N, C = 23, 5
SCORES = RNG.standard_normal((N, C))
LABELS = RNG.integers(0, C, N)
SAMPLE_WEIGHTS = RNG.uniform(0, 2, N)
BATCHES = batches(N, [8, 8, 7])


def per_sample_accuracy(name):
    """The per-sample hit (0/1) of each accuracy, written directly with NumPy."""
    predicted = SCORES.argmax(-1)
    kth_largest = np.sort(SCORES, axis=-1)[:, -3]
    binary_truth = (LABELS % 2).astype(float)[:, None]
    return {
        "sparse": predicted == LABELS,
        "categorical": predicted == LABELS,
        "top3": SCORES[np.arange(N), LABELS] >= kth_largest,
        "binary": ((SCORES[:, :1] > 0.5) == binary_truth)[:, 0],
        "exact": np.round(SCORES[:, 0]) == (LABELS - 2),
    }[name].astype(float)


ACCURACY_CASES = {
    "sparse": (metrics.SparseCategoricalAccuracy, lambda idx: (LABELS[idx], SCORES[idx])),
    "categorical": (metrics.CategoricalAccuracy, lambda idx: (np.eye(C)[LABELS[idx]], SCORES[idx])),
    "top3": (lambda: metrics.SparseTopKCategoricalAccuracy(k=3), lambda idx: (LABELS[idx, None], SCORES[idx])),
    "binary": (metrics.BinaryAccuracy, lambda idx: ((LABELS[idx] % 2)[:, None], SCORES[idx, :1])),
    "exact": (metrics.Accuracy, lambda idx: (LABELS[idx] - 2, np.round(SCORES[idx, 0]))),
}


@pytest.mark.parametrize("name", sorted(ACCURACY_CASES))
@pytest.mark.parametrize("weighted", [False, True])
def test_accuracy_accumulates_over_unequal_batches(name, weighted):
    """The result over batches of 8, 8 and 7 samples is the (weighted) mean over all 23 samples."""
    factory, batch = ACCURACY_CASES[name]
    metric = factory()
    for index in BATCHES:
        metric.update_state(*batch(index), sample_weight=SAMPLE_WEIGHTS[index] if weighted else None)
    hits = per_sample_accuracy(name)
    weights = SAMPLE_WEIGHTS if weighted else np.ones(N)
    assert 0 < hits.sum() < N  # the data exercise both outcomes
    assert metric.result() == pytest.approx(np.sum(weights * hits) / weights.sum(), rel=1e-12)
    metric.reset_state()
    assert metric.result() == 0.0


def test_top_k_counts_ties_as_in():
    """TF's in_top_k: a label whose score ties the k-th largest is in the top k."""
    scores = np.array([[0.5, 0.5, 0.5, 0.1]])
    assert metrics.SparseTopKCategoricalAccuracy(k=1)([2], scores) == 1.0
    assert metrics.SparseTopKCategoricalAccuracy(k=1)([3], scores) == 0.0
    assert metrics.SparseTopKCategoricalAccuracy(k=9)([3], scores) == 1.0  # k >= classes: always in


@pytest.mark.parametrize("weighted", [False, True])
def test_regression_metrics_accumulate(weighted):
    targets, predictions = RNG.standard_normal((N, 3)), RNG.standard_normal((N, 3))
    weights = SAMPLE_WEIGHTS if weighted else np.ones(N)
    squared, absolute = metrics.MeanSquaredError(), metrics.MeanAbsoluteError()
    for index in BATCHES:
        for metric in (squared, absolute):
            metric.update_state(targets[index], predictions[index],
                                sample_weight=SAMPLE_WEIGHTS[index] if weighted else None)
    per_sample_squared = np.mean((targets - predictions) ** 2, axis=-1)
    per_sample_absolute = np.mean(np.abs(targets - predictions), axis=-1)
    assert squared.result() == pytest.approx(np.sum(weights * per_sample_squared) / weights.sum(), rel=1e-12)
    assert absolute.result() == pytest.approx(np.sum(weights * per_sample_absolute) / weights.sum(), rel=1e-12)


def test_crossentropy_metrics_average_the_loss_functions():
    metric = metrics.SparseCategoricalCrossentropy(from_logits=True)
    for index in BATCHES:
        metric.update_state(LABELS[index], SCORES[index])
    expected = losses.SparseCategoricalCrossentropy(from_logits=True)(LABELS, SCORES).item()
    assert metric.result() == pytest.approx(expected, rel=1e-12)
    assert metrics.BinaryCrossentropy(from_logits=True)(LABELS[:, None] % 2, SCORES[:, :1]) == pytest.approx(
        losses.BinaryCrossentropy(from_logits=True)(LABELS[:, None] % 2, SCORES[:, :1]).item(), rel=1e-12)


def test_rank_one_inputs_are_one_value_per_sample():
    """(N,) labels and predictions: every element counts once, whatever the batch sizes."""
    metric = metrics.BinaryAccuracy()
    metric.update_state([1, 1, 1], [0.9, 0.8, 0.7])  # 3 hits
    metric.update_state([1], [0.1])  # 1 miss
    assert metric.result() == pytest.approx(0.75)


def test_segmentation_accuracy_averages_positions_then_weighs_samples():
    """(N, H, W) labels with (N,) weights: each sample's positions are averaged first (Keras's
    reduce_to_samplewise_values), then the samples are weighted."""
    scores = RNG.standard_normal((3, 4, 4, 3))
    labels = RNG.integers(0, 3, (3, 4, 4))
    weights = np.array([1.0, 0.0, 3.0])
    per_sample = (scores.argmax(-1) == labels).mean(axis=(1, 2))
    result = metrics.SparseCategoricalAccuracy()(labels, scores, sample_weight=weights)
    assert result == pytest.approx(np.sum(weights * per_sample) / weights.sum(), rel=1e-12)


def test_mean_weighs_batch_losses_by_batch_size():
    """What the training loop does: Mean(name="loss").update_state(batch_loss, sample_weight=batch_size)."""
    loss_mean = metrics.Mean(name="loss")
    for batch_loss, size in ((2.0, 32), (1.0, 32), (4.0, 8)):
        loss_mean.update_state(batch_loss, sample_weight=size)
    assert loss_mean.name == "loss"
    assert loss_mean.result() == pytest.approx((2.0 * 32 + 1.0 * 32 + 4.0 * 8) / 72)
    assert metrics.Mean().result() == 0.0  # nothing seen yet: 0, not NaN
    mean = metrics.Mean()
    mean.update_state(np.array([1.0, 3.0, 5.0, 7.0]), sample_weight=[1, 1, 0, 0])
    assert mean.result() == 2.0
    mean.update_state(Tensor(np.array([[4.0, 6.0]])))  # a (1, 2) value is one sample with value 5
    assert mean.result() == pytest.approx((1 + 3 + 5) / 3)


# --- precision and recall -------------------------------------------------------------------------


def confusion_by_hand(labels, scores, weights, threshold):
    positive = scores > threshold
    return (np.sum(weights * (positive & labels)), np.sum(weights * (positive & ~labels)),
            np.sum(weights * (~positive & labels)))


@pytest.mark.parametrize("thresholds", [None, 0.3, [0.7, 0.2, 0.5], [0.0, 0.5, 1.0]])
@pytest.mark.parametrize("weighted", [False, True])
def test_precision_and_recall_match_hand_counts(thresholds, weighted):
    """One value per threshold, in the given order; [0, 0.5, 1] takes Keras's evenly spaced fast path."""
    labels = RNG.integers(0, 2, (40, 3)).astype(bool)
    scores = RNG.uniform(0, 1, (40, 3)).astype(np.float32)
    scores[:3, 0] = [0.0, 0.5, 1.0]  # values on the thresholds: positive only when strictly above
    weights = RNG.uniform(0, 2, 40)
    precision, recall = metrics.Precision(thresholds=thresholds), metrics.Recall(thresholds=thresholds)
    for index in batches(40, [15, 25]):
        for metric in (precision, recall):
            metric.update_state(labels[index], scores[index], sample_weight=weights[index] if weighted else None)
    full_weights = np.broadcast_to((weights if weighted else np.ones(40))[:, None], scores.shape)
    threshold_list = [0.5] if thresholds is None else np.atleast_1d(thresholds)
    counts = [confusion_by_hand(labels, scores, full_weights, t) for t in threshold_list]
    # Keras's divide_no_nan: no prediction above threshold 1.0 gives precision 0
    expected_precision = [tp / (tp + fp) if tp + fp else 0.0 for tp, fp, fn in counts]
    expected_recall = [tp / (tp + fn) if tp + fn else 0.0 for tp, fp, fn in counts]
    if len(threshold_list) == 1:
        assert precision.result() == pytest.approx(expected_precision[0], rel=1e-12)
        assert recall.result() == pytest.approx(expected_recall[0], rel=1e-12)
    else:
        np.testing.assert_allclose(precision.result(), expected_precision, rtol=1e-12)
        np.testing.assert_allclose(recall.result(), expected_recall, rtol=1e-12)


def test_precision_for_one_class():
    labels = np.eye(3)[[0, 1, 2, 1]]
    scores = np.array([[0.9, 0.6, 0.1], [0.2, 0.7, 0.3], [0.1, 0.8, 0.6], [0.3, 0.4, 0.2]])
    # class 1 predicted at rows 0, 1, 2 (> 0.5); truly class 1 at rows 1 and 3
    assert metrics.Precision(class_id=1)(labels, scores) == pytest.approx(1 / 3)
    assert metrics.Recall(class_id=1)(labels, scores) == pytest.approx(1 / 2)


def test_precision_without_positive_predictions_is_zero():
    assert metrics.Precision()([1, 1], [0.1, 0.2]) == 0.0


# --- AUC against the exact statistic --------------------------------------------------------------


def mann_whitney_auc(labels, scores, weights=None):
    """Exact ROC AUC: P(score of a positive > score of a negative), ties counting 1/2, pairs weighted."""
    weights = np.ones(len(scores)) if weights is None else weights
    positive, negative = labels == 1, labels == 0
    difference = scores[positive][:, None] - scores[negative][None, :]
    pair_weights = weights[positive][:, None] * weights[negative][None, :]
    wins = (difference > 0) + 0.5 * (difference == 0)
    return np.sum(pair_weights * wins) / np.sum(pair_weights)


def bucketed_scores(count, num_thresholds, rng):
    """Scores that sit inside buckets of width 1/(T-1), away from their edges, with their bucket index."""
    width = 1.0 / (num_thresholds - 1)
    bucket = rng.integers(0, num_thresholds - 1, count)
    scores = (bucket + rng.uniform(0.05, 0.95, count)) * width
    return scores.astype(np.float32), bucket


@pytest.mark.parametrize("num_thresholds", [200, 21])
@pytest.mark.parametrize("weighted", [False, True])
def test_auc_is_the_mann_whitney_statistic_of_the_buckets(num_thresholds, weighted):
    """Keras's trapezoidal ROC sum over T thresholds equals, exactly, the Mann-Whitney AUC of the
    scores replaced by their bucket (same bucket = tie = 1/2)."""
    scores, bucket = bucketed_scores(600, num_thresholds, RNG)
    labels = (RNG.uniform(0, 1, 600) < 0.25 + 0.5 * scores).astype(int)  # informative, not perfect
    weights = RNG.uniform(0, 2, 600) if weighted else None
    auc = metrics.AUC(num_thresholds=num_thresholds)
    for index in batches(600, [100, 250, 250]):
        auc.update_state(labels[index], scores[index], sample_weight=None if weights is None else weights[index])
    assert auc.result() == pytest.approx(mann_whitney_auc(labels, bucket.astype(float), weights), abs=1e-12)


def tie_bound(labels, bucket):
    """Half the fraction of (positive, negative) pairs sharing a bucket: the most the bucketing can move AUC."""
    same = bucket[labels == 1][:, None] == bucket[labels == 0][None, :]
    return 0.5 * same.mean()


def test_auc_is_within_the_bucketing_bound_of_the_exact_auc():
    """The honest tolerance: AUC(200) differs from the exact AUC only through pairs whose scores fall
    in the same bucket of width 1/199; each such pair moves the result by at most 1/2 pair."""
    scores, bucket = bucketed_scores(2000, 200, RNG)
    labels = (RNG.uniform(0, 1, 2000) < scores).astype(int)
    bound = tie_bound(labels, bucket)
    assert bound < 0.005  # the bound is tight enough to mean something
    exact = mann_whitney_auc(labels, scores.astype(float))
    assert abs(metrics.AUC()(labels, scores) - exact) <= bound


def test_auc_matches_sklearn_within_the_bucketing_bound():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    scores, bucket = bucketed_scores(2000, 200, RNG)
    labels = (RNG.uniform(0, 1, 2000) < scores).astype(int)
    weights = RNG.uniform(0, 2, 2000)
    for sample_weight in (None, weights):
        expected = sklearn_metrics.roc_auc_score(labels, scores, sample_weight=sample_weight)
        result = metrics.AUC()(labels, scores, sample_weight=sample_weight)
        assert abs(result - expected) <= tie_bound(labels, bucket)


def test_auc_of_perfect_and_reversed_rankings():
    labels = np.array([0, 0, 1, 1, 0, 1])
    scores = np.array([0.1, 0.2, 0.8, 0.9, 0.3, 0.7])
    assert metrics.AUC()(labels, scores) == pytest.approx(1.0)
    assert metrics.AUC()(labels, 1 - scores) == pytest.approx(0.0)
    assert metrics.AUC()(labels, labels) == 1.0  # exact 0 and 1 fall inside the endpoint thresholds


# --- lookup ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("loss, expected", [
    ("sparse_categorical_crossentropy", metrics.SparseCategoricalAccuracy),
    (losses.SparseCategoricalCrossentropy(from_logits=True), metrics.SparseCategoricalAccuracy),
    ("categorical_crossentropy", metrics.CategoricalAccuracy),
    (losses.CategoricalCrossentropy, metrics.CategoricalAccuracy),
    ("binary_crossentropy", metrics.BinaryAccuracy),
    ("bce", metrics.BinaryAccuracy),
    (losses.binary_crossentropy, metrics.BinaryAccuracy),
])
def test_accuracy_follows_the_crossentropy_loss(loss, expected):
    for identifier in ("accuracy", "acc", "Accuracy"):
        metric = metrics.get(identifier, loss=loss)
        assert type(metric) is expected and metric.name == identifier


@pytest.mark.parametrize("y_true, y_pred, expected", [
    (np.array([[1], [0]]), np.array([[0.7], [0.6]]), 0.5),  # y_pred (N, 1): binary accuracy
    (np.array([2, 1]), np.array([[0.1, 0.2, 0.7], [0.5, 0.4, 0.1]]), 0.5),  # lower rank: sparse
    (np.array([[2], [1]]), np.array([[0.1, 0.2, 0.7], [0.5, 0.4, 0.1]]), 0.5),  # (N, 1) labels: sparse
    (np.eye(3)[[2, 1]], np.array([[0.1, 0.2, 0.7], [0.5, 0.4, 0.1]]), 0.5),  # one-hot: categorical
])
def test_accuracy_without_a_crossentropy_is_chosen_from_shapes_like_keras_3(y_true, y_pred, expected):
    for loss in (None, "mse"):
        metric = metrics.get("accuracy", loss=loss)
        assert metric.name == "accuracy"
        assert metric(y_true, y_pred) == pytest.approx(expected)


def test_get_names_metrics_by_their_identifier():
    assert isinstance(metrics.get("mse"), metrics.MeanSquaredError) and metrics.get("mse").name == "mse"
    assert isinstance(metrics.get("mae"), metrics.MeanAbsoluteError)
    assert metrics.get("mean_squared_error").name == "mean_squared_error"
    assert metrics.get("top_k_categorical_accuracy").k == 5
    assert metrics.get("sparse_top_k_categorical_accuracy").name == "sparse_top_k_categorical_accuracy"
    assert isinstance(metrics.get("precision"), metrics.Precision)
    assert isinstance(metrics.get("recall"), metrics.Recall)
    assert isinstance(metrics.get("auc"), metrics.AUC) and metrics.get("auc").num_thresholds == 200
    assert metrics.get(None) is None
    instance = metrics.AUC(curve="PR", name="pr_auc")
    assert metrics.get(instance) is instance
    assert isinstance(metrics.get(metrics.Recall), metrics.Recall)
    assert metrics.AUC().name == "auc" and metrics.Precision().name == "precision"


def test_metrics_declare_their_direction_for_callbacks():
    """Keras's ``_direction``: callbacks in mode "auto" maximise "up" metrics and minimise "down" ones."""
    for name in ("accuracy", "binary_accuracy", "sparse_top_k_categorical_accuracy", "precision", "recall", "auc"):
        assert metrics.get(name, loss="mse")._direction == "up", name
    for name in ("mse", "mae", "binary_crossentropy", "sparse_categorical_crossentropy"):
        assert metrics.get(name)._direction == "down", name
    assert metrics.get(losses.huber)._direction == "down"
    assert metrics.Mean()._direction is None and metrics.get(lambda t, p: p)._direction is None


def test_get_wraps_a_function_in_a_mean():
    def within_half(y_true, y_pred):
        return (np.abs(np.asarray(y_true) - np.asarray(y_pred)) < 0.5).mean(axis=-1)
    metric = metrics.get(within_half)
    assert metric.name == "within_half"
    assert metric(np.zeros((4, 1)), np.array([[0.1], [0.7], [0.2], [-0.9]])) == 0.5


def test_get_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="Unknown metric 'f1'.*accuracy.*auc.*mse.*precision.*recall"):
        metrics.get("f1")
    with pytest.raises(ValueError, match="Could not interpret metric identifier"):
        metrics.get(3.5)


@pytest.mark.parametrize("metric", [
    metrics.Accuracy(), metrics.BinaryAccuracy(threshold=0.7, name="ba"), metrics.CategoricalAccuracy(),
    metrics.SparseCategoricalAccuracy(), metrics.TopKCategoricalAccuracy(k=2),
    metrics.SparseTopKCategoricalAccuracy(k=3), metrics.MeanSquaredError(), metrics.MeanAbsoluteError(),
    metrics.Precision(thresholds=[0.2, 0.6], name="p"), metrics.Recall(class_id=1),
    metrics.AUC(num_thresholds=50, curve="PR", summation_method="minoring"), metrics.AUC(thresholds=[0.3, 0.6]),
    metrics.Mean(name="loss"), metrics.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
])
def test_config_round_trip(metric):
    rebuilt = metrics.deserialize(metrics.serialize(metric))
    assert type(rebuilt) is type(metric) and rebuilt.get_config() == metric.get_config()


def test_invalid_arguments_raise():
    with pytest.raises(ValueError, match="threshold"):
        metrics.BinaryAccuracy(threshold=1.5)
    with pytest.raises(ValueError, match=r"threshold values must be in \[0, 1\]"):
        metrics.Precision(thresholds=[0.5, 2.0])
    with pytest.raises(ValueError, match='curve value: "Invalid"'):
        metrics.AUC(curve="Invalid")
    with pytest.raises(ValueError, match='summation method value: "Invalid"'):
        metrics.AUC(summation_method="Invalid")
    with pytest.raises(ValueError, match="num_thresholds"):
        metrics.AUC(num_thresholds=1)
    with pytest.raises(ValueError, match="integer labels|one-hot"):
        metrics.CategoricalAccuracy()(np.array([[1], [2]]), np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"sample_weight of shape \(3,\)"):
        metrics.Mean()(np.ones(4), sample_weight=np.ones(3))
    with pytest.raises(ValueError, match=r"\(2, 2\).*\(2, 3\)"):
        metrics.SparseCategoricalAccuracy()(np.zeros((2, 2)), np.zeros((2, 3)))
