"""The compiled per-channel passes (kernels/normalization_compiled.py) against the NumPy path and exact sums.

Oracles: math.fsum for every float64-accumulated sum (within half an ulp of
the result's dtype plus ``M * 2**-53 * sum|terms|``, the bound of
:func:`clearconv.kernels.normalization.channel_sum`), and NumPy's own
element-wise formulas, which the kernels must reproduce bit for bit given the
same per-channel values. Whole BatchNormalization passes with the kernels on
and off then agree to a few ulps (their sums may round one step apart).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("numba", reason="numba is not installed (the `fast` extra): only the NumPy paths exist")

from clearconv.kernels import compiled, normalization, normalization_compiled  # noqa: E402

SHAPES = ((64, 7, 7, 32), (3, 5, 1), (2, 4, 4, 3, 6), (1000, 3), (2, 2, 2, 1))


@pytest.fixture(autouse=True)
def compiled_on():
    """The kernels on for each test, the switch restored after (CI runs this file with CLEARCONV_COMPILED=0)."""
    before = compiled.enabled()
    compiled.set_enabled(True)
    yield
    compiled.set_enabled(before)


def data(shape, dtype, seed, offset=3.0):
    """Values with a nonzero mean per channel, so that long float32 sums would drift without float64."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) * rng.uniform(0.5, 2.0, shape[-1]) + offset).astype(dtype)


def assert_float64_sum(result, terms: np.ndarray) -> None:
    """result (C,) float64 against the exact sums of terms (M, C) (float64): within M * 2**-53 * sum|terms|."""
    exact = np.array([math.fsum(column) for column in terms.T])
    magnitude = np.abs(terms).sum(axis=0)
    error = np.abs(result - exact)
    assert result.dtype == np.float64
    assert np.all(error <= terms.shape[0] * 2.0**-53 * magnitude), (error, magnitude)


def rows(a):
    return a.reshape(-1, a.shape[-1]).astype(np.float64)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", (np.float32, np.float64))
def test_sums_are_float64_sums_of_the_rounded_terms(shape, dtype):
    x, grad = data(shape, dtype, 0), data(shape, dtype, 1, offset=-0.5)
    assert_float64_sum(normalization_compiled.channel_sum(x), rows(x))
    mean = x.mean(axis=tuple(range(x.ndim - 1))).astype(dtype)
    deviation = x - mean                                      # rounded to dtype, as the kernel's terms are
    assert_float64_sum(normalization_compiled.centered_square_sum(x, mean), rows(deviation * deviation))
    sum_g, sum_g_x = normalization_compiled.gradient_sums(grad, x)
    assert_float64_sum(sum_g, rows(grad))
    assert_float64_sum(sum_g_x, rows(grad * x))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", (np.float32, np.float64))
@pytest.mark.parametrize("gamma_on, beta_on", [(True, True), (True, False), (False, True), (False, False)])
def test_element_wise_passes_equal_numpy_bit_for_bit(shape, dtype, gamma_on, beta_on):
    rng = np.random.default_rng(2)
    x, grad = data(shape, dtype, 3), data(shape, dtype, 4, offset=0.0)
    channels = shape[-1]
    mean, inv_std, gamma, beta, mean_g, mean_gx, scale = (rng.standard_normal(channels).astype(dtype)
                                                          for _ in range(7))
    x_hat, y = normalization_compiled.normalize(x, mean, inv_std, gamma if gamma_on else None,
                                                beta if beta_on else None)
    want_hat = (x - mean) * inv_std
    want_y = want_hat * gamma if gamma_on else want_hat.copy()
    if beta_on:
        want_y += beta
    np.testing.assert_array_equal(x_hat, want_hat)
    np.testing.assert_array_equal(y, want_y)
    assert x_hat.dtype == y.dtype == dtype
    np.testing.assert_array_equal(normalization_compiled.affine(x, inv_std, beta), x * inv_std + beta)
    dx = normalization_compiled.input_grad(grad, x_hat, mean_g, mean_gx, scale)
    want_dx = grad - mean_g
    want_dx -= x_hat * mean_gx
    want_dx *= scale
    np.testing.assert_array_equal(dx, want_dx)


def test_non_finite_values_propagate_as_in_numpy():
    x = data((4, 3, 3, 5), np.float32, 5)
    x[0, 0, 0, 1], x[1, 2, 2, 3] = np.nan, np.inf
    on = normalization.batch_norm_train(x, None, None, -1, 1e-3)
    compiled.set_enabled(False)
    with np.errstate(invalid="ignore"):  # NumPy's inf - inf
        off = normalization.batch_norm_train(x, None, None, -1, 1e-3)
    for a, b in zip(on[:3], off[:3]):
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
    assert np.isnan(on[0][..., 1]).all() and np.isnan(on[0][..., 3]).all() and np.isfinite(on[0][..., 0]).all()


def numpy_path(function, *args):
    compiled.set_enabled(False)
    try:
        return function(*args)
    finally:
        compiled.set_enabled(True)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype, ulps", [(np.float32, 8), (np.float64, 8)])
def test_batch_norm_train_with_and_without_the_kernels(shape, dtype, ulps):
    # The same statistics, output and gradients up to the sums' rounding: a few ulps of each value's scale.
    x, grad = data(shape, dtype, 6), data(shape, dtype, 7, offset=0.2)
    gamma, beta = data(shape[-1:], dtype, 8, offset=1.0), data(shape[-1:], dtype, 9, offset=0.0)
    assert normalization_compiled.use_compiled(x, x.ndim - 1)
    on = normalization.batch_norm_train(x, gamma, beta, -1, 1e-3)
    off = numpy_path(normalization.batch_norm_train, x, gamma, beta, -1, 1e-3)
    # Two float64 accumulations of the same M terms, in different orders, may differ by up to
    # 2 * M * 2**-53 * sum|terms| (each is within half of that of the exact sum): in float64 results this
    # gap shows, propagated below to mean, var and y; in float32 the rounding to float32 hides it.
    count = x.size // x.shape[-1]

    def gap(terms):
        return 2 * count * 2.0**-53 * rows(np.abs(terms)).sum(axis=0).max()

    eps = np.finfo(dtype).eps
    y, mean, var, ctx = off
    mean_tol = ulps * eps * np.abs(mean).max() + gap(x) / count
    var_tol = ulps * eps * np.abs(var).max() + gap((x - mean) ** 2) / count
    # x_hat = (x - mean) / sqrt(var + eps): the mean's and the variance's gaps, carried through
    hat_tol = ulps * eps * np.abs(ctx.x_hat).max() + (
        mean_tol / np.sqrt(var.min() + 1e-3) + np.abs(ctx.x_hat).max() * 0.5 * var_tol / (var.min() + 1e-3))
    y_tol = ulps * eps * np.abs(y).max() + np.abs(gamma).max() * hat_tol
    for name, a, b, atol in zip(("y", "mean", "var"), on[:3], off[:3], (y_tol, mean_tol, var_tol)):
        assert a.dtype == b.dtype == dtype, name
        np.testing.assert_allclose(a, b, rtol=0, atol=atol, err_msg=name)
    back_on = normalization.batch_norm_train_backward(grad, on[3])
    back_off = numpy_path(normalization.batch_norm_train_backward, grad, ctx)
    # dx's terms cancel: it is held to the scale of the gradient that flows in (and the forward's gaps)
    dx_tol = ulps * eps * np.abs(grad).max() * np.abs(gamma).max() / np.sqrt(var.min()) + y_tol
    # dgamma = sum(g * x_hat) also carries x_hat's gap, per channel; dbeta = sum(g) does not
    grad_per_channel = rows(np.abs(grad)).sum(axis=0).max()
    sum_tol = {"dgamma": gap(grad * ctx.x_hat) + grad_per_channel * hat_tol, "dbeta": gap(grad)}
    for name, a, b in zip(("dx", "dgamma", "dbeta"), back_on, back_off):
        assert a.dtype == b.dtype == dtype, name
        atol = dx_tol if name == "dx" else ulps * eps * np.abs(b).max() + sum_tol[name]
        np.testing.assert_allclose(a, b, rtol=0, atol=atol, err_msg=name)


@pytest.mark.parametrize("dtype", (np.float32, np.float64))
def test_batch_norm_infer_equals_numpy_bit_for_bit(dtype):
    x = data((4, 6, 6, 5), dtype, 11)
    mean, var, gamma, beta = (data((5,), dtype, seed, offset=2.0) for seed in (12, 13, 14, 15))
    for g, b in ((gamma, beta), (None, beta), (gamma, None)):
        got = normalization.batch_norm_infer(x, mean, var, g, b, -1, 1e-3)
        want = numpy_path(normalization.batch_norm_infer, x, mean, var, g, b, -1, 1e-3)
        assert got.dtype == want.dtype == dtype
        np.testing.assert_array_equal(got, want)


def test_parameters_of_another_dtype_keep_numpys_promotion():
    # float64 gamma and moving statistics on a float32 input: NumPy's path gives float64, as before
    x = data((4, 6, 6, 5), np.float32, 16)
    gamma, beta = data((5,), np.float64, 17, offset=1.0), data((5,), np.float64, 18)
    y, _, _, ctx = normalization.batch_norm_train(x, gamma, beta, -1, 1e-3)
    want = numpy_path(normalization.batch_norm_train, x, gamma, beta, -1, 1e-3)[0]
    assert y.dtype == want.dtype == np.float64
    np.testing.assert_array_equal(y, want)
    grad = data(x.shape, np.float32, 19)
    dx = normalization.batch_norm_train_backward(grad, ctx)[0]
    want_dx = numpy_path(normalization.batch_norm_train_backward, grad, ctx)[0]
    assert dx.dtype == want_dx.dtype
    np.testing.assert_array_equal(dx, want_dx)
    infer = normalization.batch_norm_infer(x, gamma, gamma, gamma, beta, -1, 1e-3)
    assert infer.dtype == np.float64


@pytest.mark.parametrize("case", ["channels first", "float16", "strided", "empty"])
def test_other_layouts_take_the_numpy_path(case):
    x = data((4, 5, 6, 3), np.float32, 10)
    axis = 3
    if case == "channels first":
        axis = 1
    elif case == "float16":
        x = x.astype(np.float16)
    elif case == "strided":
        x = data((4, 5, 6, 6), np.float32, 10)[..., ::2]
    else:
        x = x[:0]
    assert not normalization_compiled.use_compiled(x, axis)
    on = normalization.batch_norm_train(x, None, None, axis, 1e-3)
    off = numpy_path(normalization.batch_norm_train, x, None, None, axis, 1e-3)
    for a, b in zip(on[:3], off[:3]):
        np.testing.assert_array_equal(a, b)
