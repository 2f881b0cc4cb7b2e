"""N-d convolution and transposed convolution: the one dispatcher.

Contract (the same for every algorithm behind :func:`conv`):

    y[n, o, f] = bias[f] + sum_{tap j, channel c of f's group}
                 xpad[n, o*s + j*d, c] * kernel[j, c - group_start, f]

a cross-correlation (no kernel flip), channels_last, kernel in Keras layout
``(*k, C // groups, F)``. ``pads`` is one ``(before, after)`` pair per spatial
axis (see :mod:`clearconv.ops.shapes`), so the output size per axis is
``(L + before + after - d*(k-1) - 1) // s + 1``.

A transposed convolution is the input gradient of a convolution (and its
input gradient a convolution), so both share the primitives of
:mod:`clearconv.ops.conv.im2col`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..shapes import transposed_buffer_length
from ..windows import crop_spatial, pad_spatial
from . import im2col

ALGORITHMS = ("im2col",)


def _check_algorithm(algorithm: str) -> None:
    if algorithm not in ("auto",) + ALGORITHMS:
        raise ValueError(f"algorithm must be one of {('auto',) + ALGORITHMS}; received {algorithm!r}")


@dataclass
class ConvContext:
    """What :func:`conv_backward` needs from the forward pass."""

    input_shape: tuple
    pads: tuple
    kernel: np.ndarray
    strides: tuple
    dilation: tuple
    groups: int
    columns: np.ndarray | None


def conv(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray | None, strides, pads, dilation,
         groups: int = 1, algorithm: str = "auto", keep_for_backward: bool = False):
    """Convolution forward: (N, *S, C) -> ``(y (N, *out, F), ctx)``.

    ``ctx`` is None unless ``keep_for_backward``; with it, the column buffer
    is kept for the kernel gradient.
    """
    _check_algorithm(algorithm)
    xp = pad_spatial(x, pads)
    y, cols = im2col.correlate(xp, kernel, strides, dilation, groups, keep_columns=keep_for_backward)
    if bias is not None:
        y += bias
    if not keep_for_backward:
        return y, None
    return y, ConvContext(x.shape, tuple(pads), kernel, tuple(strides), tuple(dilation), groups, cols)


def conv_backward(grad: np.ndarray, ctx: ConvContext, need_input: bool = True):
    """Gradients of :func:`conv`: grad (N, *out, F) -> (dx, dkernel, dbias)."""
    dkernel = im2col.correlate_kernel_grad(ctx.columns, grad, ctx.kernel.shape, ctx.groups)
    dbias = grad.reshape(-1, grad.shape[-1]).sum(axis=0)
    dx = None
    if need_input:
        padded = tuple(length + before + after
                       for length, (before, after) in zip(ctx.input_shape[1:-1], ctx.pads))
        dxp = im2col.correlate_input_grad(grad, ctx.kernel, padded, ctx.strides, ctx.dilation, ctx.groups)
        dx = crop_spatial(dxp, ctx.pads)
    return dx, dkernel, dbias


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
    if bias is not None:
        y += bias
    ctx = TransposeContext(x, kernel, tuple(strides), tuple(dilation), pads) if keep_for_backward else None
    return y, ctx


def conv_transpose_backward(grad: np.ndarray, ctx: TransposeContext, need_input: bool = True):
    """Gradients of :func:`conv_transpose`: grad (N, *out, F) -> (dx, dkernel, dbias)."""
    # Put grad back into the buffer it was cut from; the forward's adjoint is then a correlation.
    buffer = pad_spatial(grad, ctx.pads)
    dx, cols = im2col.correlate(buffer, ctx.kernel, ctx.strides, ctx.dilation, groups=1, keep_columns=True)
    dkernel = im2col.correlate_kernel_grad(cols, ctx.x, ctx.kernel.shape, groups=1)
    dbias = grad.reshape(-1, grad.shape[-1]).sum(axis=0)
    return (dx if need_input else None), dkernel, dbias
