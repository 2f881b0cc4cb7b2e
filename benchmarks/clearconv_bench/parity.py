"""Do clearconv and PyTorch compute the same thing? A ratio between two different computations means nothing.

Output, input gradient and every weight gradient must agree to
PARITY_TOLERANCE of the largest PyTorch value (PARITY_TOLERANCES per
algorithm where float32 rounding is known to be larger), against PyTorch in
every memory format timed.
"""

from __future__ import annotations

import numpy as np

from clearconv import Tensor

PARITY_TOLERANCE = 1e-4   # max |clearconv - torch| / max |torch|, per array, float32
PARITY_TOLERANCES = {"winograd": 1e-3}  # by name prefix: every Winograd tile rounds more in float32


def tolerance(algorithm) -> float:
    """The parity tolerance of a clearconv algorithm, matched by prefix ("winograd2", "winograd4"); None: no dispatcher."""
    for prefix, value in PARITY_TOLERANCES.items():
        if algorithm is not None and algorithm.startswith(prefix):
            return value
    return PARITY_TOLERANCE


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
