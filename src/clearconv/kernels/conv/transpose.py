"""Transposed convolution (Keras semantics), forward and backward.

A transposed convolution is the input gradient of a convolution (and its
input gradient a convolution), so both run on the primitives of :mod:`.im2col`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..shapes import transposed_buffer_length
from ..windows import crop_spatial, pad_spatial
from . import im2col
from .output import add_bias_and_activate, bias_grad


@dataclass
class TransposeContext:
    """What :func:`conv_transpose_backward` needs from the forward pass."""

    x: np.ndarray
    kernel: np.ndarray
    strides: tuple
    dilation: tuple
    pads: tuple


def _transpose_pads(buffer_shape, crops, output_shape) -> tuple:
    """(before, after) that cut the output window out of the scatter buffer."""
    return tuple((crop, buffer - crop - out)
                 for buffer, crop, out in zip(buffer_shape, crops, output_shape))


def conv_transpose(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray | None, strides, dilation,
                   crops, output_shape, keep_for_backward: bool = False):
    """Transposed convolution (Keras semantics): (N, *L, Cin) -> (N, *out, F).

    ``kernel`` has the Keras transposed layout ``(*k, F, Cin)``. Input cell
    ``i`` scatters through tap ``j`` into buffer cell ``i*s + j*d``; the output
    is the buffer window starting at ``crops`` (one int per axis) of size
    ``output_shape``. Read as a convolution, the kernel maps F channels to
    Cin, and this is exactly that convolution's input gradient.
    """
    kernel_size = kernel.shape[:-2]
    buffer_shape = tuple(
        transposed_buffer_length(length, k, s, d, crop, out)
        for length, k, s, d, crop, out in zip(x.shape[1:-1], kernel_size, strides, dilation, crops, output_shape))
    buffer = im2col.correlate_input_grad(x, kernel, buffer_shape, strides, dilation, groups=1)
    pads = _transpose_pads(buffer_shape, crops, output_shape)
    y = np.ascontiguousarray(crop_spatial(buffer, pads))
    add_bias_and_activate(y, bias, None)
    ctx = TransposeContext(x, kernel, tuple(strides), tuple(dilation), pads) if keep_for_backward else None
    return y, ctx


def conv_transpose_backward(grad: np.ndarray, ctx: TransposeContext, need_input: bool = True):
    """Gradients of :func:`conv_transpose`: grad (N, *out, F) -> (dx, dkernel, dbias)."""
    # Put grad back into the buffer it was cut from; the forward's adjoint is then a correlation.
    buffer = pad_spatial(grad, ctx.pads)
    dx, cols = im2col.correlate(buffer, ctx.kernel, ctx.strides, ctx.dilation, groups=1, keep_columns=True)
    dkernel = im2col.correlate_kernel_grad(cols, ctx.x, ctx.kernel.shape, groups=1)
    return (dx if need_input else None), dkernel, bias_grad(grad)
