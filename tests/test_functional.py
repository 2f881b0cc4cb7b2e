"""Differentiable wrappers: gradients through the tape against float64 finite differences."""

import numpy as np
import pytest

from clearconv import Tensor
from clearconv import functional as F
from gradcheck import numerical_vjp

rng = np.random.default_rng(3)


def assert_tape_matches_finite_differences(function, *arrays):
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    tensors = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    out = function(*tensors)
    weight = rng.standard_normal(out.shape)
    out.backward(weight)

    def forward(*plain):
        return function(*[Tensor(p) for p in plain]).data
    for index, tensor in enumerate(tensors):
        expected = numerical_vjp(forward, [a.copy() for a in arrays], weight, index)
        np.testing.assert_allclose(tensor.grad, expected, rtol=1e-6, atol=1e-8, err_msg=f"input {index}")


def test_dense_on_rank3_input():
    assert_tape_matches_finite_differences(F.dense, rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 5)),
                                           rng.standard_normal(5))


def test_concatenate_splits_the_gradient():
    assert_tape_matches_finite_differences(lambda a, b, c: F.concatenate([a, b, c], axis=1),
                                           rng.standard_normal((2, 1, 3)), rng.standard_normal((2, 4, 3)),
                                           rng.standard_normal((2, 2, 3)))


def test_zero_pad_and_crop_are_adjoint_movements():
    pads = ((1, 2), (0, 1))
    assert_tape_matches_finite_differences(lambda x: F.zero_pad(x, pads), rng.standard_normal((1, 3, 4, 2)))
    assert_tape_matches_finite_differences(lambda x: F.crop(x, pads), rng.standard_normal((1, 6, 5, 2)))


def test_dropout_gradient_uses_the_forward_mask():
    x = Tensor(np.ones((4, 50)), requires_grad=True)
    out = F.dropout(x, 0.5, np.random.default_rng(0))
    out.backward(np.ones(out.shape))
    # The gradient is the mask itself: 0 where dropped, 1/(1-rate) where kept, as the output.
    np.testing.assert_array_equal(x.grad, out.data)
    assert set(np.unique(out.data)) == {0.0, 2.0}


def test_grouped_conv_through_tape():
    kernel = rng.standard_normal((3, 3, 1, 4))

    def depthwise(x, k):
        return F.conv(x, k, None, (1, 1), ((1, 1), (1, 1)), (1, 1), groups=2)
    assert_tape_matches_finite_differences(depthwise, rng.standard_normal((1, 4, 4, 2)), kernel)


@pytest.mark.parametrize("name, params", [("relu", {}), ("softmax", {"axis": -1}), ("gelu", {}), ("elu", {"alpha": 0.5})])
def test_activation_through_tape(name, params):
    assert_tape_matches_finite_differences(lambda x: F.activation(x, name, **params), rng.standard_normal((3, 5)))


def test_batch_norm_train_through_tape():
    def bn(x, gamma, beta):
        return F.batch_norm_train(x, gamma, beta, axis=3, epsilon=1e-3)[0]
    assert_tape_matches_finite_differences(bn, rng.standard_normal((2, 3, 3, 4)), rng.standard_normal(4),
                                           rng.standard_normal(4))


def test_batch_norm_without_scale_keeps_gradients_aligned():
    # scale=False, center=True: beta must receive the beta gradient, not gamma's.
    def bn(x, beta):
        return F.batch_norm_train(x, None, beta, axis=1, epsilon=1e-3)[0]
    assert_tape_matches_finite_differences(bn, rng.standard_normal((5, 3)), rng.standard_normal(3))

    def bn_infer(x, beta):
        return F.batch_norm_infer(x, np.zeros(3), np.ones(3), None, beta, axis=1, epsilon=1e-3)
    assert_tape_matches_finite_differences(bn_infer, rng.standard_normal((5, 3)), rng.standard_normal(3))
