"""Do clearconv and PyTorch compute the same thing? A ratio between two different computations means nothing.

Output, input gradient and every weight gradient must agree to
:func:`tolerance` of the largest PyTorch value, against PyTorch in every
memory format timed.
"""

from __future__ import annotations

import numpy as np

from clearconv import Tensor
from clearconv.kernels.conv.choice import float32_bound

# The bounds of clearconv.kernels.conv.choice hold against the exact (float64) result. PyTorch's float32
# result is no exact one: it carries its own rounding error, up to about the same bound, so the two may
# differ by both errors together: at most twice the bound.
TORCH_ROUNDING_FACTOR = 2
# Rows without a dispatcher (a transposed convolution, pooling) run GEMMs and col2im sums, or exact maxima.
NO_DISPATCHER = "im2col"


def tolerance(algorithm, rank: int) -> float:
    """The parity tolerance of a clearconv row: TORCH_ROUNDING_FACTOR x the float32 bound of its
    ``algorithm`` ("auto" and aliases included; None: no dispatcher) on ``rank`` spatial axes."""
    return TORCH_ROUNDING_FACTOR * float32_bound(NO_DISPATCHER if algorithm is None else algorithm, rank)


def relative_error(ours: np.ndarray, theirs: np.ndarray) -> float:
    """max |ours - theirs| / max |theirs| in float64; inf when the shapes differ."""
    if ours.shape != theirs.shape:
        return float("inf")
    scale = float(np.max(np.abs(theirs))) or 1.0
    return float(np.max(np.abs(ours.astype(np.float64) - theirs.astype(np.float64)))) / scale


def layer_parity(layer, x: np.ndarray, grad: np.ndarray, references: list[list[np.ndarray]]) -> float:
    """Worst relative error of the layer's output, input gradient and weight gradients over ``references``.

    Each reference is [output, input gradient, *weight gradients] in clearconv's layouts.
    """
    cc_input = Tensor(x, requires_grad=True)
    out = layer(cc_input)
    out.backward(grad)
    ours = [out.data, cc_input.grad] + [weight.grad for weight in layer.weights]
    errors = []
    for reference in references:
        errors += [relative_error(a, b) for a, b in zip(ours, reference)]
        if len(ours) != len(reference):
            errors.append(float("inf"))
    for weight in layer.weights:
        weight.grad = None
    return max(errors)
