"""Float64 finite-difference checks and a summation bound, shared by the op tests."""

from __future__ import annotations

import math

import numpy as np


def numerical_vjp(forward, inputs, grad_output, index, eps=1e-6):
    """d<grad_output, forward(*inputs)>/d inputs[index] by central differences (float64)."""
    x = inputs[index]
    result = np.zeros_like(x)
    flat = x.reshape(-1)
    out_flat = result.reshape(-1)
    for i in range(flat.size):
        saved = flat[i]
        flat[i] = saved + eps
        plus = np.sum(forward(*inputs) * grad_output)
        flat[i] = saved - eps
        minus = np.sum(forward(*inputs) * grad_output)
        flat[i] = saved
        out_flat[i] = (plus - minus) / (2 * eps)
    return result


def assert_vjp_matches(forward, backward, inputs, seed=0, rtol=1e-6, atol=1e-8, label=""):
    """Compare an explicit backward with finite differences for every input.

    forward(*inputs) -> output array; backward(grad_output, *inputs) -> tuple of
    gradients, one per input (None for an input without a gradient).
    """
    rng = np.random.default_rng(seed)
    inputs = [np.array(a, dtype=np.float64) for a in inputs]
    output = forward(*inputs)
    grad_output = rng.standard_normal(np.shape(output))
    analytic = backward(grad_output, *inputs)
    for index, grad in enumerate(analytic):
        if grad is None:
            continue
        expected = numerical_vjp(forward, inputs, grad_output, index)
        scale = max(1.0, float(np.max(np.abs(expected))))
        np.testing.assert_allclose(grad, expected, rtol=rtol, atol=atol * scale,
                                   err_msg=f"gradient of input {index} {label}")


def assert_sums_within_the_summation_bound(got, terms):
    """got (F,) against the exact sums of terms (..., F) over all but the last axis: within n * eps * sum |term|
    (recursive summation's a-priori bound) plus the final rounding."""
    eps = np.finfo(terms.dtype).eps
    columns = terms.reshape(-1, terms.shape[-1]).astype(np.float64)
    exact = np.array([math.fsum(column) for column in columns.T])
    bound = len(columns) * eps * np.abs(columns).sum(axis=0) + eps * np.abs(exact)
    assert (np.abs(got - exact) <= bound).all(), (got, exact, bound)
