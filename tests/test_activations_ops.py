"""clearconv.kernels.activations: forward vs PyTorch and hand oracles, backward vs finite differences."""

from __future__ import annotations

import math

import numpy as np
import pytest

from clearconv.kernels import activations as A
from gradcheck import assert_vjp_matches

# (activation name, params, PyTorch equivalent as a function of (F, torch, tensor), kinks to avoid
# in finite differences). A point where the function is not differentiable must stay out of the
# sampled inputs.
CASES = [
    ("linear", {}, lambda F, torch, t: t, []),
    ("relu", {}, lambda F, torch, t: F.relu(t), [0.0]),
    ("relu", {"max_value": 6.0}, lambda F, torch, t: F.relu6(t), [0.0, 6.0]),
    ("relu", {"negative_slope": 0.1}, lambda F, torch, t: F.leaky_relu(t, 0.1), [0.0]),
    ("relu", {"max_value": 2.5}, lambda F, torch, t: F.hardtanh(t, 0.0, 2.5), [0.0, 2.5]),
    ("relu6", {}, lambda F, torch, t: F.relu6(t), [0.0, 6.0]),
    ("leaky_relu", {}, lambda F, torch, t: F.leaky_relu(t, 0.2), [0.0]),
    ("leaky_relu", {"negative_slope": 0.3}, lambda F, torch, t: F.leaky_relu(t, 0.3), [0.0]),
    ("elu", {}, lambda F, torch, t: F.elu(t, 1.0), [0.0]),
    ("elu", {"alpha": 0.5}, lambda F, torch, t: F.elu(t, 0.5), [0.0]),
    ("selu", {}, lambda F, torch, t: F.selu(t), [0.0]),
    ("sigmoid", {}, lambda F, torch, t: torch.sigmoid(t), []),
    ("hard_sigmoid", {}, lambda F, torch, t: F.hardsigmoid(t), [-3.0, 3.0]),
    ("tanh", {}, lambda F, torch, t: torch.tanh(t), []),
    ("softmax", {}, lambda F, torch, t: F.softmax(t, dim=-1), []),
    ("softmax", {"axis": 0}, lambda F, torch, t: F.softmax(t, dim=0), []),
    ("log_softmax", {}, lambda F, torch, t: F.log_softmax(t, dim=-1), []),
    ("log_softmax", {"axis": 0}, lambda F, torch, t: F.log_softmax(t, dim=0), []),
    # torch returns x above `threshold`; raise it so both evaluate log(1 + e^x).
    ("softplus", {}, lambda F, torch, t: F.softplus(t, beta=1.0, threshold=100.0), []),
    ("softsign", {}, lambda F, torch, t: F.softsign(t), []),
    ("gelu", {}, lambda F, torch, t: F.gelu(t, approximate="none"), []),
    ("gelu", {"approximate": True}, lambda F, torch, t: F.gelu(t, approximate="tanh"), []),
    ("swish", {}, lambda F, torch, t: F.silu(t), []),
    ("silu", {}, lambda F, torch, t: F.silu(t), []),
]
CASE_IDS = [f"{name}-{params}" if params else name for name, params, _, _ in CASES]

# Keras ReLU arguments with no PyTorch counterpart; checked against a loop oracle and FD.
KERAS_RELU_PARAMS = [
    {"threshold": 0.5},
    {"threshold": 0.5, "negative_slope": 0.1},
    {"threshold": 0.5, "max_value": 2.0, "negative_slope": 0.1},
    {"max_value": 3.0, "negative_slope": 0.2},
    {"threshold": 1.0, "max_value": 6.0},
]


def _probe_values(seed: int = 0) -> np.ndarray:
    """(4, 9): random values plus large magnitudes, zero and the usual kinks."""
    rng = np.random.default_rng(seed)
    special = [-30.0, -6.0, -3.0, -1.0, 0.0, 1.0, 3.0, 6.0, 30.0]
    return np.concatenate([[special], rng.normal(0.0, 4.0, size=(3, 9))]).astype(np.float64)


def _away_from(x: np.ndarray, kinks) -> np.ndarray:
    """Shift entries closer than 0.05 to a kink by 0.1 so finite differences see one branch."""
    for kink in kinks:
        x = np.where(np.abs(x - kink) < 0.05, x + 0.1, x)
    return x


def _check_backward(name: str, params: dict, x: np.ndarray) -> None:
    forward, backward = A.get(name)
    assert_vjp_matches(lambda a: forward(a, **params),
                       lambda g, a: (backward(g, a, forward(a, **params), **params),),
                       [x], label=f"{name} {params}")


# --- forward vs PyTorch --------------------------------------------------------


@pytest.mark.parametrize("name, params, torch_fn, kinks", CASES, ids=CASE_IDS)
def test_forward_matches_torch_float64(name, params, torch_fn, kinks):
    torch = pytest.importorskip("torch")
    x = _probe_values()
    expected = torch_fn(torch.nn.functional, torch, torch.from_numpy(x)).numpy()
    actual = A.get(name)[0](x, **params)
    np.testing.assert_allclose(actual, expected, rtol=1e-13, atol=1e-15, err_msg=f"{name} {params}")


@pytest.mark.parametrize("name, params, torch_fn, kinks", CASES, ids=CASE_IDS)
def test_float32_forward_is_accurate(name, params, torch_fn, kinks):
    # The oracle is torch in float64 on the same float32 inputs: torch's own float32 gelu loses
    # ~1e-4 relative accuracy for x < -2 (1 + erf(x) cancels), ours keeps it (erfc).
    torch = pytest.importorskip("torch")
    x = _probe_values(seed=1).astype(np.float32)
    expected = torch_fn(torch.nn.functional, torch, torch.from_numpy(x.astype(np.float64))).numpy()
    actual = A.get(name)[0](x, **params)
    assert actual.dtype == np.float32
    np.testing.assert_allclose(actual, expected, rtol=2e-6, atol=2e-7, err_msg=f"{name} {params}")


@pytest.mark.parametrize("name, params, torch_fn, kinks", CASES, ids=CASE_IDS)
def test_backward_matches_torch_autograd(name, params, torch_fn, kinks):
    torch = pytest.importorskip("torch")
    x = _away_from(_probe_values(seed=2), kinks)
    grad = np.random.default_rng(3).standard_normal(x.shape)
    x_torch = torch.from_numpy(x).requires_grad_(True)
    torch_fn(torch.nn.functional, torch, x_torch).backward(torch.from_numpy(grad))
    forward, backward = A.get(name)
    actual = backward(grad, x, forward(x, **params), **params)
    # torch's float64 hardsigmoid backward multiplies by 1/6 rounded to float32 (3e-8 relative).
    rtol = 1e-7 if name == "hard_sigmoid" else 1e-12
    np.testing.assert_allclose(actual, x_torch.grad.numpy(), rtol=rtol, atol=1e-14,
                               err_msg=f"{name} {params}")


# --- backward vs finite differences -------------------------------------------


@pytest.mark.parametrize("name, params, torch_fn, kinks", CASES, ids=CASE_IDS)
def test_backward_matches_finite_differences(name, params, torch_fn, kinks):
    x = np.random.default_rng(4).uniform(-4.0, 4.0, size=(3, 5))
    if name == "relu" and params.get("max_value") == 6.0:
        x = x + 3.0  # cover the upper clip at 6 as well
    _check_backward(name, params, _away_from(x, kinks))


@pytest.mark.parametrize("params", KERAS_RELU_PARAMS, ids=str)
def test_keras_relu_backward_matches_finite_differences(params):
    x = np.random.default_rng(5).uniform(-3.0, 7.0, size=(4, 5))
    kinks = [0.0, params.get("threshold", 0.0), params.get("max_value") or 0.0]
    _check_backward("relu", params, _away_from(x, kinks))


# --- Keras ReLU semantics -----------------------------------------------------


def _keras_relu_oracle(value: float, max_value=None, negative_slope=0.0, threshold=0.0) -> float:
    """The ReLU layer's documented pieces (threshold >= 0), one scalar at a time."""
    if value > threshold:
        return value if max_value is None else min(value, max_value)
    return negative_slope * (value - threshold)


@pytest.mark.parametrize("params", KERAS_RELU_PARAMS, ids=str)
def test_keras_relu_matches_piecewise_oracle(params):
    x = np.concatenate([np.linspace(-4.0, 8.0, 97), [0.5, 1.0, 2.0, 3.0, 6.0]])
    expected = np.array([_keras_relu_oracle(float(v), **params) for v in x])
    np.testing.assert_allclose(A.relu(x, **params), expected, rtol=0, atol=1e-15)


def test_keras_relu_is_zero_at_the_threshold_and_x_just_above():
    # Keras keeps x only where x > threshold, so the output jumps from 0 to ~threshold.
    y = A.relu(np.array([1.0, 1.0 + 1e-9]), threshold=1.0)
    np.testing.assert_array_equal(y, [0.0, 1.0 + 1e-9])


def test_keras_relu_negative_threshold_follows_keras_steps():
    # Keras: x * (x > threshold) with no relu when threshold != 0, then clip to [0, max_value].
    x = np.array([-2.0, -0.5, 0.5, 3.0])
    np.testing.assert_array_equal(A.relu(x, threshold=-1.0), [0.0, -0.5, 0.5, 3.0])
    np.testing.assert_array_equal(A.relu(x, threshold=-1.0, max_value=1.0), [0.0, 0.0, 0.5, 1.0])


def test_hand_values_of_the_keras_specific_functions():
    x = np.array([-4.0, -1.5, 0.0, 1.5, 4.0])
    np.testing.assert_allclose(A.hard_sigmoid(x), [0.0, 0.25, 0.5, 0.75, 1.0], rtol=0, atol=1e-16)
    np.testing.assert_allclose(A.leaky_relu(x), [-0.8, -0.3, 0.0, 1.5, 4.0], rtol=1e-15)
    alpha, scale = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
    np.testing.assert_allclose(A.selu(x), [scale * alpha * math.expm1(v) if v <= 0 else scale * v for v in x],
                               rtol=1e-15)


def test_softmax_over_several_axes_sums_to_one():
    x = np.random.default_rng(6).normal(size=(2, 3, 4))
    y = A.softmax(x, axis=(1, 2))
    np.testing.assert_allclose(y.sum(axis=(1, 2)), 1.0, rtol=1e-15)
    np.testing.assert_allclose(A.log_softmax(x, axis=(1, 2)), np.log(y), rtol=1e-13)


# --- erf ------------------------------------------------------------------------


def test_erf_matches_math_erf_on_a_dense_grid():
    x = np.concatenate([np.linspace(-10.0, 10.0, 200_001), np.linspace(-1e-3, 1e-3, 2_001),
                        [0.999999999, 1.0, 1.000000001, 7.99, 8.0, 8.01, 1e-300, 40.0, -40.0]])
    expected = np.array([math.erf(v) for v in x])
    assert np.max(np.abs(A.erf(x) - expected)) < 1e-14


def test_erf_is_relatively_accurate_near_zero_and_odd():
    x = np.geomspace(1e-12, 0.9, 500)
    expected = np.array([math.erf(v) for v in x])
    np.testing.assert_allclose(A.erf(x), expected, rtol=1e-15)
    np.testing.assert_array_equal(A.erf(-x), -A.erf(x))


def test_erfc_is_relatively_accurate_in_the_tail():
    x = np.linspace(-6.0, 26.0, 20_001)
    expected = np.array([math.erfc(v) for v in x])
    np.testing.assert_allclose(A.erfc(x), expected, rtol=1e-13)
    np.testing.assert_array_equal(A.erfc(np.array([np.inf, -np.inf, 40.0])), [0.0, 2.0, 0.0])


def test_scalars_are_accepted():
    assert float(A.erf(0.5)) == pytest.approx(math.erf(0.5), rel=1e-15)
    assert float(A.gelu(np.float64(-1.0))) == pytest.approx(-0.5 * math.erfc(1 / math.sqrt(2)), rel=1e-14)
    assert A.relu(3).dtype == np.float32  # integers become floatx


def test_erf_special_values_and_dtype():
    y = A.erf(np.array([np.nan, np.inf, -np.inf, 0.0]))
    assert np.isnan(y[0]) and list(y[1:]) == [1.0, -1.0, 0.0]
    x32 = np.linspace(-5, 5, 1001, dtype=np.float32)
    y32 = A.erf(x32)
    assert y32.dtype == np.float32
    expected = np.array([math.erf(v) for v in x32.astype(np.float64)])
    assert np.max(np.abs(y32 - expected)) < 3e-7


# --- dtype, NaN, overflow -------------------------------------------------------

ALL_NAMES = sorted(A.ACTIVATIONS)


@pytest.mark.parametrize("name", ALL_NAMES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_preserved_forward_and_backward(name, dtype):
    forward, backward = A.get(name)
    x = np.linspace(-5, 5, 12, dtype=dtype).reshape(3, 4)
    y = forward(x)
    dx = backward(np.ones_like(x), x, y)
    assert y.dtype == dtype and dx.dtype == dtype


@pytest.mark.parametrize("params", KERAS_RELU_PARAMS, ids=str)
def test_keras_relu_keeps_float32(params):
    x = np.linspace(-5, 5, 12, dtype=np.float32)
    y = A.relu(x, **params)
    assert y.dtype == np.float32
    assert A.relu_backward(np.ones_like(x), x, y, **params).dtype == np.float32


@pytest.mark.parametrize("name", ALL_NAMES)
def test_nan_propagates(name):
    x = np.array([[-2.0, np.nan, 0.5], [1.0, 2.0, 3.0]])
    y = A.get(name)[0](x)
    if name in ("softmax", "log_softmax"):
        assert np.all(np.isnan(y[0])) and not np.any(np.isnan(y[1]))  # NaN spreads along its row only
    else:
        assert np.isnan(y[0, 1]) and np.count_nonzero(np.isnan(y)) == 1


@pytest.mark.parametrize("name", ALL_NAMES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_large_inputs_do_not_overflow(name, dtype):
    x = np.array([[-1e4, -500.0, -90.0, 0.0, 90.0, 500.0, 1e4]], dtype=dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y = A.get(name)[0](x)
    assert np.all(np.isfinite(y))


def test_stable_functions_saturate_exactly():
    x = np.array([-1e4, 1e4])
    np.testing.assert_array_equal(A.sigmoid(x), [0.0, 1.0])
    np.testing.assert_array_equal(A.softplus(x), [0.0, 1e4])
    np.testing.assert_array_equal(A.gelu(x), [-0.0, 1e4])
    np.testing.assert_allclose(A.softmax(np.array([1000.0, 1000.0])), [0.5, 0.5])


# --- registry -------------------------------------------------------------------


def test_registry_holds_every_keras_name():
    keras_names = {"linear", "relu", "relu6", "leaky_relu", "elu", "selu", "sigmoid", "hard_sigmoid", "tanh",
                   "softmax", "log_softmax", "softplus", "softsign", "gelu", "swish", "silu"}
    assert set(A.ACTIVATIONS) == keras_names
    for name in keras_names:
        forward, backward = A.get(name)
        assert callable(forward) and callable(backward)


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"Unknown activation 'relux'\. Valid: elu, gelu, hard_sigmoid, "):
        A.get("relux")
    with pytest.raises(TypeError):
        A.get(3)
