"""N-d convolution and transposed convolution: the one dispatcher.

Contract (the same for every algorithm behind :func:`conv`):

    y[n, o, f] = bias[f] + sum_{tap j, channel c of f's group}
                 xpad[n, o*s + j*d, c] * kernel[j, c - group_start, f]

a cross-correlation (no kernel flip), channels_last, kernel in Keras layout
``(*k, C // groups, F)``. ``pads`` is one ``(before, after)`` pair per spatial
axis (see :mod:`clearconv.kernels.shapes`), so the output size per axis is
``(L + before + after - d*(k-1) - 1) // s + 1``.

Algorithms (``algorithm=``; ``"auto"`` picks one per shape, see :func:`choose_algorithm`):

* ``"im2col"``: columns of every receptive field times the kernel, one GEMM
  (:mod:`.im2col`); every shape.
* ``"winograd"``: F(4x4, 3x3) minimal filtering (:mod:`.winograd`); 2D 3x3,
  stride 1, dilation 1, one group.
* ``"fft"``: products of Fourier transforms (:mod:`.fft`); stride 1, one group.
* ``"direct"``: the textbook loops of :mod:`.reference`; every shape, tiny
  inputs only (it is the oracle, readable, not fast).

Every algorithm computes the same function; they differ in speed and in float32
rounding (documented in each module). The backward pass takes the kernel
gradient from im2col columns (kept from the forward when they fit under the
column-buffer limit, rebuilt batch chunk by batch chunk otherwise) and the
input gradient from col2im, or, at stride 1, as the "full" correlation of the
gradient with the flipped kernel by the forward's algorithm.

A transposed convolution is the input gradient of a convolution (and its
input gradient a convolution), so both share the primitives of :mod:`.im2col`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import compiled
from ..shapes import transposed_buffer_length
from ..windows import crop_spatial, pad_spatial
from . import fft, im2col, reference, winograd

ALGORITHMS = ("im2col", "winograd", "fft", "direct")
FUSED_ACTIVATIONS = (None, "linear", "relu")
WINOGRAD_MIN_CHANNELS = 16             # inference
WINOGRAD_MIN_CHANNELS_BACKWARD = 64    # training: see choose_algorithm

_settings = {"algorithm": "auto", "column_buffer_limit": 256 * 2**20}


def set_default_algorithm(algorithm: str) -> None:
    """The algorithm every convolution uses unless its layer names one (initially ``"auto"``)."""
    _settings["algorithm"] = check_algorithm(algorithm)


def default_algorithm() -> str:
    return _settings["algorithm"]


def set_column_buffer_limit(nbytes: int) -> None:
    """Cap (bytes) on one im2col column buffer; larger batches run in chunks (default 256 MiB)."""
    if isinstance(nbytes, bool) or not isinstance(nbytes, (int, np.integer)) or nbytes <= 0:
        raise ValueError(f"column buffer limit must be a positive number of bytes; received {nbytes!r}")
    _settings["column_buffer_limit"] = int(nbytes)


def column_buffer_limit() -> int:
    return _settings["column_buffer_limit"]


def check_algorithm(algorithm, argument: str = "algorithm") -> str:
    """``algorithm`` if it is "auto" or one of :data:`ALGORITHMS`; else a ValueError naming ``argument``."""
    accepted = ("auto",) + ALGORITHMS
    if algorithm not in accepted:
        raise ValueError(f"{argument} must be one of {accepted}; received {algorithm!r}")
    return algorithm


def supports(algorithm: str, kernel_shape, strides, dilation, groups: int) -> bool:
    """Whether ``algorithm`` can compute a convolution of this kernel, stride, dilation and grouping."""
    check_algorithm(algorithm)
    if algorithm in _STRIDE_ONE:
        return _STRIDE_ONE[algorithm][0](kernel_shape, strides, dilation, groups)
    return True


def choose_algorithm(input_shape, kernel_shape, strides, dilation, groups: int, backward: bool = False) -> str:
    """The automatic choice for a padded input (N, *P, C) and a kernel (*k, Cg, F).

    Winograd F(4x4, 3x3) for 3x3 stride-1 layers at least
    WINOGRAD_MIN_CHANNELS wide in and out, or WINOGRAD_MIN_CHANNELS_BACKWARD
    when the backward pass follows: its forward takes 0.5-0.7x im2col's time
    from 16 channels (docs/performance.md), but the kernel gradient then has
    to rebuild the im2col columns that an im2col forward keeps, which measured
    a net loss on the zoo's 16- and 32-channel layers and mostly a gain from 64
    (not on 7x7 maps: docs/performance.md).
    Narrower layers make its per-point products too thin for BLAS (5x slower
    than im2col at one channel). FFT where :func:`.fft.worthwhile` says it
    wins (large kernels). Everything else runs im2col + GEMM.
    """
    *_, group_channels, filters = kernel_shape
    if fft.supports(kernel_shape, strides, dilation, groups) and fft.worthwhile(input_shape, kernel_shape):
        return "fft"
    narrowest = WINOGRAD_MIN_CHANNELS_BACKWARD if backward else WINOGRAD_MIN_CHANNELS
    if winograd.supports(kernel_shape, strides, dilation, groups) and min(group_channels, filters) >= narrowest:
        return "winograd"
    return "im2col"


def resolve_algorithm(algorithm: str, input_shape, kernel_shape, strides, dilation, groups: int,
                      backward: bool = False) -> str:
    """``algorithm`` itself, the global default for None, or the automatic choice for "auto"."""
    algorithm = check_algorithm(_settings["algorithm"] if algorithm is None else algorithm)
    if algorithm == "auto":
        return choose_algorithm(input_shape, kernel_shape, strides, dilation, groups, backward)
    if not supports(algorithm, kernel_shape, strides, dilation, groups):
        raise ValueError(f"algorithm {algorithm!r} cannot compute this convolution (kernel {tuple(kernel_shape)}, "
                         f"strides {tuple(strides)}, dilation {tuple(dilation)}, groups {groups}); "
                         f"use 'im2col' or 'auto'")
    return algorithm


def chunk_samples(bytes_per_sample: int) -> int:
    """How many samples one batch chunk holds: as many as stay under the column-buffer limit, at least one."""
    return max(1, _settings["column_buffer_limit"] // max(1, bytes_per_sample))


def _batch_chunks(batch: int, bytes_per_sample: int) -> list[slice]:
    """Slices of the batch whose buffers of ``bytes_per_sample`` each stay under the column-buffer limit."""
    size = chunk_samples(bytes_per_sample)
    return [slice(start, start + size) for start in range(0, batch, size)]


def _column_bytes(xp: np.ndarray, kernel_shape, strides, dilation) -> int:
    """Bytes of one sample's im2col columns: prod(out) * K * C."""
    out = im2col.output_shape(xp.shape[1:-1], kernel_shape[:-2], strides, dilation)
    return int(np.prod(out)) * int(np.prod(kernel_shape[:-2])) * xp.shape[-1] * xp.itemsize


@dataclass
class ConvContext:
    """What :func:`conv_backward` needs from the forward pass."""

    padded_input: np.ndarray
    pads: tuple
    kernel: np.ndarray
    strides: tuple
    dilation: tuple
    groups: int
    algorithm: str
    columns: np.ndarray | None      # the forward's im2col columns, when they fit the limit
    output: np.ndarray | None       # the activated output, for a fused relu's mask
    blocking: im2col.RowBlocking | None = None   # the im2col forward's row blocking, if it had one


def conv(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray | None, strides, pads, dilation,
         groups: int = 1, algorithm: str | None = None, activation: str | None = None,
         keep_for_backward: bool = False):
    """Convolution forward: (N, *S, C) -> ``(y (N, *out, F), ctx)``.

    ``algorithm`` is one of :data:`ALGORITHMS`, ``"auto"``, or None for the
    global default (:func:`set_default_algorithm`). ``activation`` (None,
    "linear" or "relu") is applied in place with the bias, in the same pass
    over the output. ``ctx`` is None unless ``keep_for_backward``.
    """
    if activation not in FUSED_ACTIVATIONS:
        raise ValueError(f"activation must be one of {FUSED_ACTIVATIONS}; received {activation!r}")
    strides, dilation, pads = tuple(strides), tuple(dilation), tuple(pads)
    xp = np.ascontiguousarray(pad_spatial(x, pads))
    name = resolve_algorithm(algorithm, xp.shape, kernel.shape, strides, dilation, groups, keep_for_backward)
    columns = blocking = None
    if name == "direct":
        y = reference.conv_reference(x, kernel, None, strides, pads, dilation, groups)
    elif name == "im2col":
        y, columns, blocking = _im2col_forward(xp, kernel, strides, dilation, groups, keep_for_backward)
    else:
        y = _STRIDE_ONE[name][1](xp, kernel, dilation)
    _add_bias_and_activate(y, bias, activation)
    if not keep_for_backward:
        return y, None
    output = y if activation == "relu" else None
    return y, ConvContext(xp, pads, kernel, strides, dilation, groups, name, columns, output, blocking)


# Algorithms for stride-1, single-group correlations: name -> (supports, correlate), where
# correlate(padded input (N, *P, C), kernel (*k, C, F), dilation) -> output (N, *out, F).
_STRIDE_ONE = {
    "winograd": (winograd.supports, lambda xp, kernel, dilation: winograd.correlate(xp, kernel)),  # dilation 1
    "fft": (fft.supports, fft.correlate),
}


def _columns_as_views(kernel_shape, strides, dilation, groups: int) -> bool:
    """1D, stride 1: im2col's columns are strided views of the input (:func:`.im2col.correlate_1d`)."""
    return len(kernel_shape) == 3 and kernel_shape[0] > 1 and strides == (1,) and dilation == (1,) and groups == 1


def _im2col_forward(xp, kernel, strides, dilation, groups, keep_columns):
    """im2col forward in batch chunks under the column-buffer limit -> (y, columns, blocking).

    The columns are kept if one chunk holds them. Where the GEMM would be thin
    (few filters), the forward runs row-blocked (:func:`.im2col.row_blocking`);
    not on an input with an inf or NaN, which the widened kernel's zeros would
    spread to neighbouring outputs (0 * inf is NaN), nor on a one-channel
    input: its tap-major gather copies whole output rows, where the blocked
    columns would copy runs of one kernel row (in LeNet-5's training step its
    conv1 took longer row-blocked, 7.7 against 7.3 ms per step).
    """
    if _columns_as_views(kernel.shape, strides, dilation, groups):
        return im2col.correlate_1d(xp, kernel), None, None
    out = im2col.output_shape(xp.shape[1:-1], kernel.shape[:-2], strides, dilation)
    blocking = im2col.row_blocking(kernel, strides, dilation, out[-1]) if groups == 1 and xp.shape[-1] > 1 else None
    if blocking is not None and not _finite(xp):  # the input is summed only where the blocking would apply
        blocking = None
    if blocking is not None:
        kernel, strides, dilation = blocking.kernel, blocking.strides, blocking.dilation
    chunks = _batch_chunks(xp.shape[0], _column_bytes(xp, kernel.shape, strides, dilation))
    if len(chunks) == 1:
        y, columns = im2col.correlate(xp, kernel, strides, dilation, groups, keep_columns=keep_columns)
    else:
        y = np.concatenate([im2col.correlate(xp[chunk], kernel, strides, dilation, groups)[0] for chunk in chunks])
        columns = None
    if blocking is not None:
        y = y.reshape(*y.shape[:-2], -1, y.shape[-1] // blocking.block)
    return y, columns, blocking


def _finite(a: np.ndarray) -> bool:
    """Whether every value of ``a`` is finite (a sum that overflows says no: the safe answer)."""
    return bool(np.isfinite(np.sum(a)))


def _add_bias_and_activate(y: np.ndarray, bias, activation) -> None:
    """y (N, *out, F) += bias (F,), then the fused activation, in place."""
    if (bias is not None or activation == "relu") and compiled.enabled() and y.ndim > 2 and y.flags.c_contiguous:
        # One pass instead of two (LeNet's conv1 output: 0.18 -> 0.03 ms).
        compiled.add_bias_and_relu(y, bias, activation == "relu")
        return
    if bias is not None:
        width = y.shape[-2] * y.shape[-1] if y.ndim > 2 else 0
        if y.shape[-1] < 64 and width and y.strides[-2:] == (y.shape[-1] * y.itemsize, y.itemsize):
            # NumPy's broadcast loop runs over F values at a time; with few filters that is ~5x slower
            # (LeNet's 6: 0.38 ms against 0.07 ms) than adding the bias repeated along whole output
            # rows, which needs only each row to be contiguous (a 1D im2col output is a view with gaps
            # between samples: conv1d's 0.24 -> 0.10 ms).
            rows = y.reshape(*y.shape[:-2], width)  # a view: only the contiguous last two axes merge
            rows += np.tile(bias, y.shape[-2])
        else:
            y += bias
    if activation == "relu":
        np.maximum(y, 0, out=y)


def conv_backward(grad: np.ndarray, ctx: ConvContext, need_input: bool = True):
    """Gradients of :func:`conv`: grad (N, *out, F) -> (dx, dkernel, dbias)."""
    dbias = None
    if ctx.output is not None and compiled.enabled() and ctx.output.ndim > 2:
        grad, dbias = compiled.relu_and_bias_grad(grad, ctx.output)  # one pass instead of three
    elif ctx.output is not None:
        grad = grad * (ctx.output > 0)
    if ctx.algorithm == "direct":
        x = crop_spatial(ctx.padded_input, ctx.pads)
        dx, dkernel, dbias = reference.conv_reference_backward(grad, x, ctx.kernel, ctx.strides, ctx.pads,
                                                              ctx.dilation, ctx.groups)
        return (dx if need_input else None), dkernel, dbias
    dbias = bias_grad(grad) if dbias is None else dbias
    if _columns_as_views(ctx.kernel.shape, ctx.strides, ctx.dilation, ctx.groups):
        # Whatever the forward's algorithm, both passes read their columns as views, and the
        # gradient from one zero-framed copy (:func:`.im2col.gradient_layout_1d`).
        layout = im2col.gradient_layout_1d(grad, ctx.kernel.shape[0])
        xp = ctx.padded_input
        dx = crop_spatial(im2col.correlate_1d_input_grad(layout, ctx.kernel, xp.shape), ctx.pads) if need_input else None
        return dx, im2col.correlate_1d_kernel_grad(xp, layout, ctx.kernel.shape), dbias
    # dbias sums grad per filter: it is finite exactly when every grad value is (or the sum overflowed,
    # and then the input gradient merely takes the plain path), which the row blocking needs to know.
    dx = crop_spatial(_input_grad(grad, ctx, bool(np.isfinite(dbias).all())), ctx.pads) if need_input else None
    return dx, _kernel_grad(grad, ctx), dbias


def bias_grad(grad: np.ndarray) -> np.ndarray:
    """Sum of grad (N, *out, F) over every axis but the last -> (F,)."""
    rows = grad.reshape(-1, grad.shape[-1])
    # ones @ rows is one BLAS call, several times faster than rows.sum(axis=0) on tall, narrow rows.
    return np.ones(rows.shape[0], dtype=rows.dtype) @ rows


def _kernel_grad(grad: np.ndarray, ctx: ConvContext) -> np.ndarray:
    """dL/dkernel (*k, C, F): from the kept columns, or columns rebuilt chunk by chunk; row-blocked as the forward."""
    xp, blocking = ctx.padded_input, ctx.blocking
    kernel, strides, dilation = ctx.kernel, ctx.strides, ctx.dilation
    if blocking is not None:  # the gradient of the widened kernel, folded
        grad, kernel, strides, dilation = blocking.outputs(grad), blocking.kernel, blocking.strides, blocking.dilation
    if ctx.columns is not None:
        dkernel = im2col.correlate_kernel_grad(ctx.columns, grad, kernel.shape, ctx.groups)
    else:
        dkernel = np.zeros_like(kernel)
        for chunk in _batch_chunks(xp.shape[0], _column_bytes(xp, kernel.shape, strides, dilation)):
            columns = im2col.im2col(xp[chunk], kernel.shape[:-2], strides, dilation, ctx.groups)
            dkernel += im2col.correlate_kernel_grad(columns, grad[chunk], kernel.shape, ctx.groups)
    return dkernel if blocking is None else blocking.fold_kernel_grad(dkernel)


def _input_grad(grad: np.ndarray, ctx: ConvContext, finite_grad: bool) -> np.ndarray:
    """dL/dxpad (N, *P, C): col2im in batch chunks under the column-buffer limit, or a full correlation.

    At stride 1, xpad cell p receives grad[o] * kernel[j] from every o + j*d = p:
    that is the correlation of grad, padded by d*(k-1) on both sides, with the
    kernel flipped along every spatial axis and its channel axes swapped,
    (*k, F, C). The stride-1 algorithms compute it like their forward (and
    :func:`conv_backward` so computes it where 1D columns are strided views).
    col2im is row-blocked (:func:`.im2col.row_blocking`) when ``finite_grad``,
    whether or not the forward was: it needs only the kernel.
    """
    xp, kernel = ctx.padded_input, ctx.kernel
    if ctx.algorithm in _STRIDE_ONE:
        rank = kernel.ndim - 2
        full = [(d * (k - 1),) * 2 for k, d in zip(kernel.shape[:-2], ctx.dilation)]
        flipped = np.ascontiguousarray(kernel[(slice(None, None, -1),) * rank].swapaxes(-1, -2))
        return _STRIDE_ONE[ctx.algorithm][1](pad_spatial(grad, full), flipped, ctx.dilation)
    padded_shape, strides, dilation = xp.shape[1:-1], ctx.strides, ctx.dilation
    blocking = None
    if finite_grad and ctx.groups == 1:  # an inf or NaN grad takes the plain kernel (0 * inf is NaN)
        blocking = ctx.blocking or im2col.row_blocking(kernel, strides, dilation, grad.shape[-2])
    if blocking is not None:
        grad, kernel, strides, dilation = blocking.outputs(grad), blocking.kernel, blocking.strides, blocking.dilation
    chunks = _batch_chunks(xp.shape[0], _column_bytes(xp, kernel.shape, strides, dilation))
    if len(chunks) == 1:
        return im2col.correlate_input_grad(grad, kernel, padded_shape, strides, dilation, ctx.groups)
    return np.concatenate([im2col.correlate_input_grad(grad[chunk], kernel, padded_shape, strides, dilation,
                                                       ctx.groups) for chunk in chunks])


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
    _add_bias_and_activate(y, bias, None)
    ctx = TransposeContext(x, kernel, tuple(strides), tuple(dilation), pads) if keep_for_backward else None
    return y, ctx


def conv_transpose_backward(grad: np.ndarray, ctx: TransposeContext, need_input: bool = True):
    """Gradients of :func:`conv_transpose`: grad (N, *out, F) -> (dx, dkernel, dbias)."""
    # Put grad back into the buffer it was cut from; the forward's adjoint is then a correlation.
    buffer = pad_spatial(grad, ctx.pads)
    dx, cols = im2col.correlate(buffer, ctx.kernel, ctx.strides, ctx.dilation, groups=1, keep_columns=True)
    dkernel = im2col.correlate_kernel_grad(cols, ctx.x, ctx.kernel.shape, groups=1)
    return (dx if need_input else None), dkernel, bias_grad(grad)
