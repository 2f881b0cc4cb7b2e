"""Activation kernels on empty batches, against PyTorch's behaviour: empty outputs and gradients, no warnings."""

from __future__ import annotations

import numpy as np
import pytest

from clearconv.kernels import activations

# The torch function each activation is compared with (the shapes only: the values are tested elsewhere).
TORCH_NAMES = {
    "linear": None, "relu": "relu", "relu6": "relu6", "leaky_relu": "leaky_relu", "elu": "elu", "selu": "selu",
    "sigmoid": "sigmoid", "hard_sigmoid": "hardsigmoid", "tanh": "tanh", "softmax": "softmax",
    "log_softmax": "log_softmax", "softplus": "softplus", "softsign": "softsign", "gelu": "gelu",
    "swish": "silu", "silu": "silu",
}
NORMALISING = ("softmax", "log_softmax")


def test_every_activation_is_covered():
    assert set(TORCH_NAMES) == set(activations.ACTIVATIONS)


def torch_forward_backward(torch, name, shape, axis):
    """torch's output and input gradient shapes on an empty float32 tensor."""
    x = torch.zeros(shape, requires_grad=True)
    torch_name = TORCH_NAMES[name]
    if torch_name is None:
        y = x * 1
    elif name in NORMALISING:
        y = getattr(torch.nn.functional, torch_name)(x, dim=axis)
    else:
        y = getattr(torch.nn.functional, torch_name)(x)
    y.sum().backward()
    return tuple(y.shape), tuple(x.grad.shape)


def run_empty(name, shape, dtype, **params):
    forward, backward = activations.get(name)
    x = np.zeros(shape, dtype)
    with np.errstate(all="raise"):
        y = forward(x, **params)
        dx = backward(np.zeros_like(y), x, y, **params)
    assert y.dtype == dx.dtype == dtype
    return y.shape, dx.shape


@pytest.mark.parametrize("name", sorted(set(TORCH_NAMES) - set(NORMALISING)))
@pytest.mark.parametrize("shape", [(0, 5), (0, 4, 4, 3)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_empty_batch_element_wise_as_torch(name, shape, dtype):
    torch = pytest.importorskip("torch")
    assert run_empty(name, shape, dtype) == torch_forward_backward(torch, name, shape, None)


@pytest.mark.parametrize("name", NORMALISING)
@pytest.mark.parametrize("shape, axis", [((0, 5), -1), ((0, 4, 4, 3), -1), ((0, 3), 0), ((0, 2, 3), 1)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_empty_batch_softmax_as_torch(name, shape, axis, dtype):
    """N = 0, also where softmax normalises along the empty batch axis itself."""
    torch = pytest.importorskip("torch")
    assert run_empty(name, shape, dtype, axis=axis) == torch_forward_backward(torch, name, shape, axis)


@pytest.mark.parametrize("name", NORMALISING)
def test_empty_batch_softmax_over_several_axes_keeps_the_shape(name):
    """Keras lets softmax normalise over a tuple of axes (torch takes one): the empty shapes stay the input's."""
    assert run_empty(name, (0, 2, 3), np.float32, axis=(0, 1)) == ((0, 2, 3), (0, 2, 3))
