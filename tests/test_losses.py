"""Losses: Keras 3's documented values, PyTorch parity (values and gradients),
finite-difference gradients, numerical stability, label checks, reductions, lookup."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from gradcheck import assert_vjp_matches

from clearconv import losses
from clearconv.autograd import Tensor

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # the parity tests skip; everything else still runs
    torch = None

requires_torch = pytest.mark.skipif(torch is None, reason="torch is not installed: PyTorch parity skipped")

EPS = 1e-7  # Keras 3's default backend.epsilon()
RNG = np.random.default_rng(20240611)


def ours(loss, y_true, y_pred, sample_weight=None):
    """(loss value, d loss / d y_pred) through clearconv's tape."""
    prediction = Tensor(np.array(y_pred), requires_grad=True)
    value = loss(y_true, prediction, sample_weight)
    value.backward()
    return value.data, prediction.grad


def theirs(per_sample, y_pred, sample_weight=None):
    """The same through torch: ``per_sample(prediction)`` gives torch's per-sample losses,
    reduced as Keras's sum_over_batch_size: sum(w * loss) / number of loss values."""
    prediction = torch.tensor(np.array(y_pred), requires_grad=True)
    values = per_sample(prediction)
    if sample_weight is not None:
        weight = torch.tensor(np.asarray(sample_weight, dtype=np.array(y_pred).dtype))
        values = values * weight.reshape(weight.shape + (1,) * (values.dim() - weight.dim()))
    total = values.sum() / values.numel()
    total.backward()
    return total.detach().numpy(), prediction.grad.numpy()


def assert_matches_torch(loss, y_true, y_pred, per_sample, sample_weight=None, rtol=1e-10, atol=1e-12):
    value, grad = ours(loss, y_true, y_pred, sample_weight)
    expected_value, expected_grad = theirs(per_sample, y_pred, sample_weight)
    assert value.dtype == np.asarray(y_pred).dtype and grad.dtype == np.asarray(y_pred).dtype
    np.testing.assert_allclose(value, expected_value, rtol=rtol, atol=atol, err_msg=f"value of {loss!r}")
    np.testing.assert_allclose(grad, expected_grad, rtol=rtol, atol=atol, err_msg=f"gradient of {loss!r}")


def one_hot(labels, num_classes):
    return np.eye(num_classes)[labels]


# --- Keras's documented examples (keras/src/losses/losses.py docstrings) -------------------

CCE_TRUE = np.array([[0, 1, 0], [0, 0, 1]])
CCE_PRED = np.array([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]])
BCE_TRUE = np.array([[0, 1], [0, 0]])
BCE_LOGITS = np.array([[-18.6, 0.51], [2.94, -12.8]])


@pytest.mark.parametrize("loss, y_true, y_pred, sample_weight, expected", [
    (losses.CategoricalCrossentropy(), CCE_TRUE, CCE_PRED, None, 1.177),
    (losses.CategoricalCrossentropy(), CCE_TRUE, CCE_PRED, [0.3, 0.7], 0.814),
    (losses.CategoricalCrossentropy(reduction="sum"), CCE_TRUE, CCE_PRED, None, 2.354),
    (losses.CategoricalCrossentropy(reduction=None), CCE_TRUE, CCE_PRED, None, [0.0513, 2.303]),
    (losses.SparseCategoricalCrossentropy(), [1, 2], CCE_PRED, None, 1.177),
    (losses.SparseCategoricalCrossentropy(), [1, 2], CCE_PRED, [0.3, 0.7], 0.814),
    (losses.SparseCategoricalCrossentropy(reduction="sum"), [1, 2], CCE_PRED, None, 2.354),
    (losses.SparseCategoricalCrossentropy(reduction=None), [1, 2], CCE_PRED, None, [0.0513, 2.303]),
    (losses.BinaryCrossentropy(from_logits=True), [0, 1, 0, 0], [-18.6, 0.51, 2.94, -12.8], None, 0.8654),
    (losses.BinaryCrossentropy(from_logits=True), BCE_TRUE, BCE_LOGITS, None, 0.8654),
    (losses.BinaryCrossentropy(from_logits=True), BCE_TRUE, BCE_LOGITS, [0.8, 0.2], 0.243),
    (losses.BinaryCrossentropy(from_logits=True, reduction="sum"), BCE_TRUE, BCE_LOGITS, None, 1.730),
    (losses.BinaryCrossentropy(from_logits=True, reduction=None), BCE_TRUE, BCE_LOGITS, None, [0.235, 1.496]),
    (losses.BinaryCrossentropy(reduction=None), BCE_TRUE, [[0.6, 0.4], [0.4, 0.6]], None, [0.916, 0.714]),
    (losses.Huber(), BCE_TRUE, [[0.6, 0.4], [0.4, 0.6]], None, 0.155),
])
def test_keras_documented_values(loss, y_true, y_pred, sample_weight, expected):
    value = loss(np.array(y_true), np.array(y_pred, dtype=np.float32), sample_weight)
    assert value.dtype == np.float32
    np.testing.assert_allclose(value.data, expected, atol=1e-3)


def test_categorical_and_sparse_agree_on_the_keras_example():
    dense = losses.categorical_crossentropy(CCE_TRUE, CCE_PRED).data
    sparse = losses.sparse_categorical_crossentropy(np.array([1, 2]), CCE_PRED).data
    np.testing.assert_allclose(dense, [-np.log(0.95), -np.log(0.1)], rtol=1e-12)
    np.testing.assert_allclose(sparse, dense, rtol=1e-12)


# --- PyTorch parity: values and gradients ----------------------------------------------------

BATCH, FEATURES, CLASSES = 6, 5, 4
TARGETS = RNG.standard_normal((BATCH, FEATURES))
PREDICTIONS = RNG.standard_normal((BATCH, FEATURES))
WEIGHTS = RNG.uniform(0.0, 2.0, BATCH)
BINARY = RNG.integers(0, 2, (BATCH, FEATURES)).astype(np.float64)
SOFT_BINARY = RNG.uniform(0, 1, (BATCH, FEATURES))
PROBABILITIES = RNG.uniform(0.02, 0.98, (BATCH, FEATURES))
LABELS = RNG.integers(0, CLASSES, BATCH)
LOGITS = RNG.standard_normal((BATCH, CLASSES)) * 3
SOFTMAXED = np.exp(LOGITS) / np.exp(LOGITS).sum(-1, keepdims=True)
UNNORMALISED = RNG.uniform(0.05, 2.0, (BATCH, CLASSES))  # rows that do not sum to 1: Keras renormalises


def smoothed_binary(targets, smoothing):
    return targets * (1 - smoothing) + 0.5 * smoothing


def torch_probability_crossentropy(targets):
    """Keras's probability crossentropy written with torch ops: renormalise, clamp, log."""
    def per_sample(p):
        normalised = torch.clamp(p / p.sum(-1, keepdim=True), EPS, 1 - EPS)
        return -(torch.tensor(targets) * torch.log(normalised)).sum(-1)
    return per_sample


@requires_torch
@pytest.mark.parametrize("weighted", [False, True])
def test_regression_losses_match_torch(weighted):
    weights = WEIGHTS if weighted else None
    target = torch.tensor(TARGETS)
    assert_matches_torch(losses.MeanSquaredError(), TARGETS, PREDICTIONS,
                         lambda p: F.mse_loss(p, target, reduction="none").mean(-1), weights)
    assert_matches_torch(losses.MeanAbsoluteError(), TARGETS, PREDICTIONS,
                         lambda p: F.l1_loss(p, target, reduction="none").mean(-1), weights)
    for delta in (1.0, 0.3, 2.5):
        assert_matches_torch(losses.Huber(delta=delta), TARGETS, PREDICTIONS,
                             lambda p: F.huber_loss(p, target, reduction="none", delta=delta).mean(-1), weights)


@requires_torch
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("targets", [BINARY, SOFT_BINARY], ids=["hard", "soft"])
def test_binary_crossentropy_matches_torch(weighted, smoothing, targets):
    weights = WEIGHTS if weighted else None
    smoothed = torch.tensor(smoothed_binary(targets, smoothing))
    assert_matches_torch(losses.BinaryCrossentropy(from_logits=True, label_smoothing=smoothing), targets,
                         PREDICTIONS * 4,
                         lambda x: F.binary_cross_entropy_with_logits(x, smoothed, reduction="none").mean(-1),
                         weights)
    # probabilities, with exact 0 and 1 among them: both sides clip to [1e-7, 1 - 1e-7] and pass no
    # gradient where the clip is active
    probabilities = PROBABILITIES.copy()
    probabilities[0, 0], probabilities[1, 1] = 0.0, 1.0
    assert_matches_torch(losses.BinaryCrossentropy(label_smoothing=smoothing), targets, probabilities,
                         lambda p: F.binary_cross_entropy(torch.clamp(p, EPS, 1 - EPS), smoothed,
                                                          reduction="none").mean(-1), weights)


@requires_torch
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_categorical_crossentropy_matches_torch(weighted, smoothing):
    weights = WEIGHTS if weighted else None
    targets = one_hot(LABELS, CLASSES)
    soft_targets = RNG.dirichlet(np.ones(CLASSES), BATCH)
    for y in (targets, soft_targets):
        # torch's label smoothing for probability targets is y (1 - s) + s / C, as Keras's
        assert_matches_torch(losses.CategoricalCrossentropy(from_logits=True, label_smoothing=smoothing), y,
                             LOGITS, lambda x: F.cross_entropy(x, torch.tensor(y), label_smoothing=smoothing,
                                                               reduction="none"), weights)
        smoothed = y * (1 - smoothing) + smoothing / CLASSES
        for probabilities in (SOFTMAXED, UNNORMALISED):
            assert_matches_torch(losses.CategoricalCrossentropy(label_smoothing=smoothing), y, probabilities,
                                 torch_probability_crossentropy(smoothed), weights)


@requires_torch
@pytest.mark.parametrize("weighted", [False, True])
def test_sparse_categorical_crossentropy_matches_torch(weighted):
    weights = WEIGHTS if weighted else None
    labels = torch.tensor(LABELS)
    assert_matches_torch(losses.SparseCategoricalCrossentropy(from_logits=True), LABELS, LOGITS,
                         lambda x: F.cross_entropy(x, labels, reduction="none"), weights)
    for probabilities in (SOFTMAXED, UNNORMALISED):
        assert_matches_torch(
            losses.SparseCategoricalCrossentropy(), LABELS[:, None], probabilities,
            lambda p: F.nll_loss(torch.log(torch.clamp(p / p.sum(-1, keepdim=True), EPS, 1 - EPS)), labels,
                                 reduction="none"), weights)


@requires_torch
def test_segmentation_crossentropy_matches_torch_with_per_sample_weights():
    """(N, H, W, C) logits: the per-position losses (N, H, W) are averaged over N*H*W, and
    a (N,) sample weight weighs every position of its sample."""
    logits = RNG.standard_normal((3, 4, 5, CLASSES))
    labels = RNG.integers(0, CLASSES, (3, 4, 5))
    weights = np.array([0.5, 2.0, 1.0])
    assert_matches_torch(losses.SparseCategoricalCrossentropy(from_logits=True), labels, logits,
                         lambda x: F.cross_entropy(x.permute(0, 3, 1, 2), torch.tensor(labels), reduction="none"),
                         weights)
    assert_matches_torch(losses.SparseCategoricalCrossentropy(from_logits=True), labels[..., None], logits,
                         lambda x: F.cross_entropy(x.permute(0, 3, 1, 2), torch.tensor(labels), reduction="none"))


@requires_torch
def test_categorical_crossentropy_along_axis_1_matches_torch():
    """axis=1: channels-first scores (N, C, L), torch's native layout."""
    logits = RNG.standard_normal((3, CLASSES, 7))
    labels = RNG.integers(0, CLASSES, (3, 7))
    targets = np.moveaxis(one_hot(labels, CLASSES), -1, 1)  # (N, L, C) -> (N, C, L)
    assert_matches_torch(losses.CategoricalCrossentropy(from_logits=True, axis=1, label_smoothing=0.1), targets,
                         logits, lambda x: F.cross_entropy(x, torch.tensor(labels), reduction="none",
                                                           label_smoothing=0.1))


@requires_torch
def test_ignore_class_matches_torch_ignore_index():
    """Keras divides by the number of kept positions, as torch's ignore_index with reduction='mean'."""
    labels = LABELS.copy()
    labels[[1, 4]] = 255
    value, grad = ours(losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=255), labels, LOGITS)
    x = torch.tensor(LOGITS, requires_grad=True)
    expected = F.cross_entropy(x, torch.tensor(labels), ignore_index=255)
    expected.backward()
    np.testing.assert_allclose(value, expected.item(), rtol=1e-12)
    np.testing.assert_allclose(grad, x.grad.numpy(), rtol=1e-12, atol=1e-15)
    assert np.all(grad[[1, 4]] == 0)


@requires_torch
@pytest.mark.parametrize("name", ["mse", "mae", "huber", "bce_logits", "bce", "cce_logits", "scce_logits"])
def test_float32_matches_torch_float32(name):
    targets32 = TARGETS.astype(np.float32)
    predictions32 = PREDICTIONS.astype(np.float32)
    cases = {
        "mse": (losses.MeanSquaredError(), targets32, predictions32,
                lambda p: F.mse_loss(p, torch.tensor(targets32), reduction="none").mean(-1)),
        "mae": (losses.MeanAbsoluteError(), targets32, predictions32,
                lambda p: F.l1_loss(p, torch.tensor(targets32), reduction="none").mean(-1)),
        "huber": (losses.Huber(0.7), targets32, predictions32,
                  lambda p: F.huber_loss(p, torch.tensor(targets32), reduction="none", delta=0.7).mean(-1)),
        "bce_logits": (losses.BinaryCrossentropy(from_logits=True), BINARY, predictions32 * 4,
                       lambda x: F.binary_cross_entropy_with_logits(
                           x, torch.tensor(BINARY, dtype=torch.float32), reduction="none").mean(-1)),
        "bce": (losses.BinaryCrossentropy(), BINARY, PROBABILITIES.astype(np.float32),
                lambda p: F.binary_cross_entropy(p, torch.tensor(BINARY, dtype=torch.float32),
                                                 reduction="none").mean(-1)),
        "cce_logits": (losses.CategoricalCrossentropy(from_logits=True), one_hot(LABELS, CLASSES),
                       LOGITS.astype(np.float32),
                       lambda x: F.cross_entropy(x, torch.tensor(LABELS), reduction="none")),
        "scce_logits": (losses.SparseCategoricalCrossentropy(from_logits=True), LABELS, LOGITS.astype(np.float32),
                        lambda x: F.cross_entropy(x, torch.tensor(LABELS), reduction="none")),
    }
    loss, y_true, y_pred, per_sample = cases[name]
    assert_matches_torch(loss, y_true, y_pred, per_sample, WEIGHTS.astype(np.float32), rtol=2e-6, atol=1e-7)


@requires_torch
def test_gradient_reaches_weights_through_the_tape():
    """The loss is an op on the tape: weights that produced the logits receive their gradient."""
    inputs = RNG.standard_normal((BATCH, 3))
    kernel_value = RNG.standard_normal((3, CLASSES))
    kernel = Tensor(kernel_value.copy(), requires_grad=True)
    loss = losses.SparseCategoricalCrossentropy(from_logits=True)(LABELS, Tensor(inputs) @ kernel, WEIGHTS)
    loss.backward()
    torch_kernel = torch.tensor(kernel_value, requires_grad=True)
    per_sample = F.cross_entropy(torch.tensor(inputs) @ torch_kernel, torch.tensor(LABELS), reduction="none")
    (per_sample * torch.tensor(WEIGHTS)).mean().backward()
    np.testing.assert_allclose(kernel.grad, torch_kernel.grad.numpy(), rtol=1e-12)


@requires_torch
def test_gradients_at_the_kinks_match_torch():
    """Logits of exactly 0 (a zero-initialised last layer) and errors of exactly 0: the gradients are
    torch's, sigmoid(0) - y = 0.5 - y and sign(0) = 0. A composition through max(x, 0) and |x| would
    give -y at x = 0 (slopes 1/2 + 1/2 - 1)."""
    logits = np.array([[0.0, 0.0, 2.0], [0.0, -1.5, 0.0]])
    targets = np.array([[1.0, 0.0, 1.0], [0.3, 1.0, 0.0]])
    assert_matches_torch(losses.BinaryCrossentropy(from_logits=True), targets, logits,
                         lambda x: F.binary_cross_entropy_with_logits(x, torch.tensor(targets),
                                                                      reduction="none").mean(-1), rtol=1e-14)
    predictions = np.array([[0.5, -1.0, 2.0], [0.25, 3.0, -2.0]])
    exact = predictions.copy()
    exact[0, 1], exact[1, 0] = -1.5, 0.25  # two errors of exactly 0
    assert_matches_torch(losses.MeanAbsoluteError(), exact, predictions,
                         lambda p: F.l1_loss(p, torch.tensor(exact), reduction="none").mean(-1), rtol=1e-14)
    assert_matches_torch(losses.Huber(delta=0.5), exact, predictions,
                         lambda p: F.huber_loss(p, torch.tensor(exact), reduction="none", delta=0.5).mean(-1),
                         rtol=1e-14)


def test_binary_crossentropy_of_confident_logits_keeps_full_precision():
    """Value and gradient of y = 1 at logit x are softplus(-x) and -sigmoid(-x): tiny numbers, which
    max(x, 0) - x y + log1p(exp(-|x|)) and sigmoid(x) - y would get from a cancellation (about 1e-7
    relative at x = 20 in float64). Oracle: the formulas in math's float64, term by term."""
    logits = np.array([[20.0, 30.0, -25.0]])
    targets = np.array([[1.0, 1.0, 0.0]])
    value, grad = ours(losses.BinaryCrossentropy(from_logits=True, reduction="sum"), targets, logits)
    tail = [math.exp(-20.0), math.exp(-30.0), math.exp(-25.0)]  # exp(-|x|) of each entry
    expected_value = sum(math.log1p(e) for e in tail) / 3
    expected_grad = np.array([[-tail[0] / (1 + tail[0]), -tail[1] / (1 + tail[1]), tail[2] / (1 + tail[2])]]) / 3
    np.testing.assert_allclose(value, expected_value, rtol=1e-14)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-14)


# --- finite differences (float64) --------------------------------------------------------------


def check_gradient(loss, y_true, y_pred, sample_weight=None):
    def forward(prediction):
        return np.asarray(loss(y_true, Tensor(prediction), sample_weight).data)

    def backward(grad_output, prediction):
        tensor = Tensor(prediction, requires_grad=True)
        loss(y_true, tensor, sample_weight).backward(grad_output)
        return (tensor.grad,)
    assert_vjp_matches(forward, backward, [y_pred], rtol=1e-6, label=repr(loss))


SMALL = np.array([[0.3, -1.2, 0.8], [1.5, 0.1, -0.4], [-0.7, 0.9, 2.1], [0.2, -0.3, 0.6]])
SMALL_TARGETS = np.array([[0.0, -0.5, 1.9], [0.4, 0.6, -0.1], [-0.2, 2.2, 0.5], [1.1, -0.9, 0.1]])
SMALL_WEIGHTS = np.array([0.5, 1.5, 0.0, 2.0])
SMALL_LABELS = np.array([2, 0, 1, 1])
SMALL_PROBABILITIES = np.array([[0.2, 0.5, 0.3], [0.6, 0.3, 0.1], [0.25, 0.25, 0.5], [0.1, 0.7, 0.2]])


@pytest.mark.parametrize("loss, y_true, y_pred", [
    (losses.MeanSquaredError(), SMALL_TARGETS, SMALL),
    (losses.MeanAbsoluteError(), SMALL_TARGETS, SMALL),
    (losses.Huber(delta=0.8), SMALL_TARGETS, SMALL),
    (losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1), (SMALL_TARGETS > 0) * 1.0, SMALL),
    (losses.BinaryCrossentropy(label_smoothing=0.2), (SMALL_TARGETS > 0) * 1.0, SMALL_PROBABILITIES),
    (losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1), one_hot(SMALL_LABELS, 3), SMALL),
    (losses.CategoricalCrossentropy(), one_hot(SMALL_LABELS, 3), SMALL_PROBABILITIES * 1.7),
    (losses.SparseCategoricalCrossentropy(from_logits=True), SMALL_LABELS, SMALL),
    (losses.SparseCategoricalCrossentropy(), SMALL_LABELS, SMALL_PROBABILITIES),
    (losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=1), SMALL_LABELS, SMALL),
    (losses.MeanSquaredError(reduction="mean_with_sample_weight"), SMALL_TARGETS, SMALL),
])
@pytest.mark.parametrize("weighted", [False, True])
def test_gradients_match_finite_differences(loss, y_true, y_pred, weighted):
    check_gradient(loss, y_true, y_pred, SMALL_WEIGHTS if weighted else None)


def test_binary_crossentropy_along_axis_0():
    """axis=0 averages over the first axis: the 'per-sample' losses then have shape (3,)."""
    loss = losses.BinaryCrossentropy(from_logits=True, axis=0, reduction="none")
    targets = (SMALL_TARGETS > 0) * 1.0
    expected = np.mean(np.maximum(SMALL, 0) - SMALL * targets + np.log1p(np.exp(-np.abs(SMALL))), axis=0)
    np.testing.assert_allclose(loss(targets, SMALL).data, expected, rtol=1e-14)
    check_gradient(losses.BinaryCrossentropy(from_logits=True, axis=0), targets, SMALL, np.array([0.5, 1.0, 2.0]))


def test_per_sample_function_gradient_matches_finite_differences():
    """reduction='none' returns per-sample losses; their VJP is checked with a random cotangent."""
    check_gradient(losses.CategoricalCrossentropy(reduction="none"), one_hot(SMALL_LABELS, 3),
                   SMALL_PROBABILITIES * 0.8)
    check_gradient(losses.Huber(reduction="none"), SMALL_TARGETS, SMALL)


# --- numerical stability --------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_extreme_logits_give_exact_finite_values_without_warnings(dtype):
    """No overflow, division or invalid operation (exp(-1e4) underflowing to 0 is exact enough and,
    as in NumPy's defaults, not an error)."""
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 5.0]], dtype=dtype)
    with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise"):
        warnings.simplefilter("error")
        binary_value, binary_grad = ours(losses.BinaryCrossentropy(from_logits=True),
                                         np.array([[0, 1, 1], [0, 1, 0]]), logits)
        cce_value, cce_grad = ours(losses.CategoricalCrossentropy(from_logits=True),
                                   np.array([[0, 1, 0], [1, 0, 0]]), logits)
        scce_value, scce_grad = ours(losses.SparseCategoricalCrossentropy(from_logits=True),
                                     np.array([1, 0]), logits)
    # binary, row 1: 1e4 (x = 1e4, y = 0), 1e4 (x = -1e4, y = 1), log 2; row 2: 0, 0, softplus(5)
    expected_binary = ((2e4 + np.log(2)) / 3 + (5 + np.log1p(np.exp(-5))) / 3) / 2
    np.testing.assert_allclose(binary_value, expected_binary, rtol=1e-6)
    np.testing.assert_allclose(cce_value, 2e4, rtol=1e-6)  # both rows: logsumexp - chosen = 1e4 - (-1e4)
    np.testing.assert_allclose(scce_value, cce_value, rtol=1e-6)
    # the gradient of a crossentropy from logits is softmax - one_hot: exactly +-1 / N here
    np.testing.assert_allclose(cce_grad, np.array([[1, -1, 0], [-1, 1, 0]]) / 2, atol=1e-6)
    np.testing.assert_allclose(scce_grad, cce_grad, atol=1e-6)
    np.testing.assert_allclose(binary_grad[0], np.array([1, -1, -0.5]) / 6, atol=1e-6)
    for array in (binary_value, binary_grad, cce_value, cce_grad, scce_value, scce_grad):
        assert np.all(np.isfinite(array)) and array.dtype == dtype


def test_probabilities_of_exactly_zero_and_one_are_clipped():
    with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise"):
        warnings.simplefilter("error")
        value, grad = ours(losses.BinaryCrossentropy(reduction="none"), np.array([[1.0, 0.0]]),
                           np.array([[0.0, 1.0]]))
        cce_value, cce_grad = ours(losses.CategoricalCrossentropy(), np.array([[0.0, 1.0]]), np.array([[1.0, 0.0]]))
    np.testing.assert_allclose(value, [-np.log(EPS)], rtol=1e-6)  # about 16.118, not inf
    assert np.all(grad == 0)  # the clip is active at both entries
    np.testing.assert_allclose(cce_value, -np.log(EPS), rtol=1e-6)
    assert np.all(np.isfinite(cce_grad))


# --- labels ------------------------------------------------------------------------------------


@pytest.mark.parametrize("labels, bad", [([0, 3], "3"), ([-1, 0], "-1"), ([[0], [7]], "7")])
def test_out_of_range_labels_raise_with_value_and_range(labels, bad):
    loss = losses.SparseCategoricalCrossentropy(from_logits=True)
    with pytest.raises(ValueError, match=rf"label {bad} is out of range.*3 classes.*\[0, 2\]"):
        loss(np.array(labels), np.zeros((2, 3)))


def test_integral_float_labels_are_accepted_and_others_rejected():
    loss = losses.SparseCategoricalCrossentropy(from_logits=True)
    as_int = loss(np.array([2, 0, 1, 1]), SMALL).data
    np.testing.assert_allclose(loss(np.array([2.0, 0.0, 1.0, 1.0]), SMALL).data, as_int, rtol=0)
    np.testing.assert_allclose(loss(np.array([[2], [0], [1], [1]]), SMALL).data, as_int, rtol=0)
    with pytest.raises(ValueError, match="integer class ids.*0.5"):
        loss(np.array([2.0, 0.5, 1.0, 1.0]), SMALL)
    with pytest.raises(ValueError, match="integer class ids.*nan"):
        loss(np.array([2.0, np.nan, 1.0, 1.0]), SMALL)


def test_label_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(4, 2\).*\(4, 3\)"):
        losses.SparseCategoricalCrossentropy()(np.zeros((4, 2), dtype=int), SMALL_PROBABILITIES)
    with pytest.raises(ValueError, match=r"\(4, 2\).*\(4, 3\)"):
        losses.CategoricalCrossentropy()(np.zeros((4, 2)), SMALL_PROBABILITIES)
    with pytest.raises(ValueError, match=r"\(4,\).*\(4, 3\)"):
        losses.MeanSquaredError()(np.zeros(4), SMALL)


def test_ignore_class_is_exempt_from_the_range_check():
    loss = losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1)
    kept = losses.SparseCategoricalCrossentropy(from_logits=True)(np.array([2, 1]), SMALL[[0, 3]]).data
    np.testing.assert_allclose(loss(np.array([2, -1, -1, 1]), SMALL).data, kept, rtol=1e-12)
    with pytest.raises(ValueError, match="label 5"):
        loss(np.array([2, -1, 5, 1]), SMALL)


# --- reductions and sample weights -----------------------------------------------------------------


def test_sum_over_batch_size_divides_by_the_batch_not_the_weights():
    per_sample = losses.mean_squared_error(SMALL_TARGETS, SMALL).data
    weights = SMALL_WEIGHTS
    value = losses.MeanSquaredError()(SMALL_TARGETS, SMALL, weights).data
    np.testing.assert_allclose(value, np.sum(weights * per_sample) / 4, rtol=1e-14)
    np.testing.assert_allclose(losses.MeanSquaredError(reduction="sum")(SMALL_TARGETS, SMALL, weights).data,
                               np.sum(weights * per_sample), rtol=1e-14)
    np.testing.assert_allclose(
        losses.MeanSquaredError(reduction="mean_with_sample_weight")(SMALL_TARGETS, SMALL, weights).data,
        np.sum(weights * per_sample) / weights.sum(), rtol=1e-14)
    np.testing.assert_allclose(losses.MeanSquaredError(reduction="none")(SMALL_TARGETS, SMALL, weights).data,
                               weights * per_sample, rtol=1e-14)
    np.testing.assert_allclose(losses.MeanSquaredError()(SMALL_TARGETS, SMALL, 3.0).data,
                               3.0 * per_sample.mean(), rtol=1e-14)


def test_zero_weights_give_zero_not_nan():
    for reduction in ("sum_over_batch_size", "mean_with_sample_weight"):
        value, grad = ours(losses.MeanSquaredError(reduction=reduction), SMALL_TARGETS, SMALL, np.zeros(4))
        assert value == 0 and np.all(grad == 0)


def test_rank_one_predictions_are_one_value_per_sample():
    """(N,) against (N,): each element is a sample (Keras would average the batch first)."""
    targets, predictions = SMALL_TARGETS[:, 0], SMALL[:, 0]
    value = losses.MeanSquaredError()(targets, predictions, SMALL_WEIGHTS).data
    np.testing.assert_allclose(value, np.mean(SMALL_WEIGHTS * (targets - predictions) ** 2), rtol=1e-14)
    per_sample = losses.BinaryCrossentropy(from_logits=True, reduction="none")(targets > 0, predictions)
    assert per_sample.shape == (4,)
    # labels (N,) against predictions (N, 1), the usual sigmoid output, give the same
    np.testing.assert_allclose(losses.BinaryCrossentropy(from_logits=True)(targets > 0, predictions[:, None]).data,
                               per_sample.data.mean(), rtol=1e-14)


def test_sample_weight_of_the_wrong_shape_is_rejected():
    with pytest.raises(ValueError, match=r"sample_weight of shape \(3,\).*\(4,\)"):
        losses.MeanSquaredError()(SMALL_TARGETS, SMALL, np.ones(3))


def test_invalid_arguments_are_rejected():
    with pytest.raises(ValueError, match="reduction"):
        losses.MeanSquaredError(reduction="average")
    with pytest.raises(ValueError, match="label_smoothing"):
        losses.BinaryCrossentropy(label_smoothing=1.5)
    with pytest.raises(ValueError, match="delta"):
        losses.Huber(delta=-1.0)
    with pytest.raises(ValueError, match="axis"):
        losses.CategoricalCrossentropy(axis=True)


# --- dtypes -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("loss, y_true, y_pred", [
    (losses.MeanSquaredError(), SMALL_TARGETS, SMALL),
    (losses.Huber(), SMALL_TARGETS, SMALL),
    (losses.BinaryCrossentropy(), SMALL_TARGETS > 0, SMALL_PROBABILITIES),
    (losses.CategoricalCrossentropy(from_logits=True), one_hot(SMALL_LABELS, 3), SMALL),
    (losses.SparseCategoricalCrossentropy(), SMALL_LABELS.astype(np.int64), SMALL_PROBABILITIES),
])
def test_float32_stays_float32(loss, y_true, y_pred):
    value, grad = ours(loss, y_true, np.asarray(y_pred, dtype=np.float32), np.ones(4))
    assert value.dtype == np.float32 and grad.dtype == np.float32
    np.testing.assert_allclose(value, ours(loss, y_true, y_pred)[0], rtol=1e-5)


# --- lookup and config ---------------------------------------------------------------------------------


def test_get_resolves_keras_names_aliases_and_objects():
    assert isinstance(losses.get("mse"), losses.MeanSquaredError)
    assert isinstance(losses.get("MAE"), losses.MeanAbsoluteError)
    assert isinstance(losses.get("bce"), losses.BinaryCrossentropy)
    assert isinstance(losses.get("categorical_crossentropy"), losses.CategoricalCrossentropy)
    assert isinstance(losses.get("SparseCategoricalCrossentropy"), losses.SparseCategoricalCrossentropy)
    assert isinstance(losses.get("huber"), losses.Huber)
    assert isinstance(losses.get(losses.Huber), losses.Huber)
    assert isinstance(losses.get(losses.binary_crossentropy), losses.BinaryCrossentropy)
    assert losses.get(None) is None
    instance = losses.CategoricalCrossentropy(from_logits=True)
    assert losses.get(instance) is instance
    assert losses.mse is losses.mean_squared_error and losses.mae is losses.mean_absolute_error


def test_get_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="Unknown loss 'cross_entropy'.*categorical_crossentropy.*mse"):
        losses.get("cross_entropy")
    with pytest.raises(ValueError, match="Could not interpret loss identifier"):
        losses.get(42)


def test_a_custom_function_is_wrapped_and_reduced():
    def cubed_error(y_true, y_pred):
        error = y_pred - y_true
        return (error * error * error).mean(axis=-1)
    loss = losses.get(cubed_error)
    value, grad = ours(loss, SMALL_TARGETS, SMALL, SMALL_WEIGHTS)
    error = SMALL - SMALL_TARGETS
    np.testing.assert_allclose(value, np.mean(SMALL_WEIGHTS * np.mean(error ** 3, axis=-1)), rtol=1e-14)
    np.testing.assert_allclose(grad, SMALL_WEIGHTS[:, None] * 3 * error ** 2 / 3 / 4, rtol=1e-12)
    config = losses.serialize(loss)
    assert config["config"]["fn"] == "cubed_error"
    rebuilt = losses.deserialize(config, custom_objects={"cubed_error": cubed_error})
    np.testing.assert_allclose(rebuilt(SMALL_TARGETS, SMALL).data, loss(SMALL_TARGETS, SMALL).data, rtol=0)
    with pytest.raises(ValueError, match="custom_objects"):
        losses.deserialize(config)


@pytest.mark.parametrize("loss", [
    losses.MeanSquaredError(reduction="sum"),
    losses.MeanAbsoluteError(name="l1"),
    losses.Huber(delta=0.4),
    losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1, axis=-1),
    losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.2, reduction="none"),
    losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=1, dtype="float64"),
])
def test_config_round_trip_gives_the_same_loss(loss):
    rebuilt = losses.deserialize(losses.serialize(loss))
    assert type(rebuilt) is type(loss) and rebuilt.get_config() == loss.get_config()
    assert losses.get(losses.serialize(loss)).get_config() == loss.get_config()
    labels = SMALL_LABELS if isinstance(loss, losses.SparseCategoricalCrossentropy) else one_hot(SMALL_LABELS, 3)
    np.testing.assert_array_equal(rebuilt(labels, SMALL_PROBABILITIES).data, loss(labels, SMALL_PROBABILITIES).data)


def test_huber_config_keeps_delta():
    assert losses.Huber(delta=0.25).get_config() == {"name": "huber_loss", "reduction": "sum_over_batch_size",
                                                     "delta": 0.25}


def test_set_epsilon_changes_the_probability_clip_as_keras():
    """Keras reads backend.epsilon() at each call: with 0.1, p = 0.99 is clipped to 0.9."""
    from clearconv import config
    previous = config.epsilon()
    try:
        config.set_epsilon(0.1)
        value = float(np.asarray(losses.binary_crossentropy(np.array([[1.0]]), np.array([[0.99]])).data)[0])
    finally:
        config.set_epsilon(previous)
    np.testing.assert_allclose(value, -np.log(0.9), rtol=1e-6)
