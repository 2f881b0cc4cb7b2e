"""Running a convolution, forward and backward, by the algorithm :mod:`.choice` names.

The forward pads the input, runs the algorithm (im2col in batch chunks under
the column-buffer limit, row-blocked where its GEMM would be thin), then the
output pass of :mod:`.output`. The backward takes the kernel gradient from
im2col columns (kept from the forward when they fit under the column-buffer
limit, rebuilt batch chunk by batch chunk otherwise; after a 2D Winograd
forward on one BLAS thread, by the adjoint of the same Winograd transforms)
and the input gradient
from col2im, or, at stride 1, as the "full" correlation of the gradient with
the flipped kernel by the forward's algorithm. Inside
:func:`clearconv.kernels.parallel.scope` (``fit``) a large batch runs as
parts on threads, each part all of the above (:class:`SplitContext`). Shapes
and the contract: :mod:`clearconv.kernels.conv`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import blas, compiled, parallel
from ..tuning import (INFERENCE_CHUNK_BYTES, TAP_MAJOR_CHUNK_BYTES, WINOGRAD_KERNEL_GRAD_MAX_BLAS_THREADS,
                      WINOGRAD_KERNEL_GRAD_MAX_CHANNELS)
from ..windows import crop_spatial, pad_spatial
from . import fft, im2col, reference, winograd
from .choice import WINOGRAD_TILES, resolve_algorithm
from .output import activation_grad, add_bias_and_activate, bias_grad, check_activation

_settings = {"column_buffer_limit": 256 * 2**20}


def set_column_buffer_limit(nbytes: int) -> None:
    """Cap (bytes) on one im2col column buffer; larger batches run in chunks (default 256 MiB)."""
    if isinstance(nbytes, bool) or not isinstance(nbytes, (int, np.integer)) or nbytes <= 0:
        raise ValueError(f"column buffer limit must be a positive number of bytes; received {nbytes!r}")
    _settings["column_buffer_limit"] = int(nbytes)


def column_buffer_limit() -> int:
    return _settings["column_buffer_limit"]


def chunk_samples(bytes_per_sample: int) -> int:
    """How many samples one batch chunk holds: as many as stay under the column-buffer limit, at least one."""
    return max(1, _settings["column_buffer_limit"] // max(1, bytes_per_sample))


def batch_chunks(batch: int, bytes_per_sample: int) -> list[slice]:
    """Slices of the batch whose buffers of ``bytes_per_sample`` each stay under the column-buffer limit.

    At least one slice, so that an empty batch runs once, on its empty arrays.
    """
    size = chunk_samples(bytes_per_sample)
    return [slice(start, start + size) for start in range(0, batch, size)] or [slice(0, 0)]


def column_bytes(xp: np.ndarray, kernel_shape, strides, dilation) -> int:
    """Bytes of one sample's im2col columns: prod(out) * K * C."""
    out = im2col.output_shape(xp.shape[1:-1], kernel_shape[:-2], strides, dilation)
    return int(np.prod(out)) * int(np.prod(kernel_shape[:-2])) * xp.shape[-1] * xp.itemsize


# Algorithms for stride-1, single-group correlations: name -> correlate(padded input (N, *P, C),
# kernel (*k, C, F), dilation) -> output (N, *out, F).
_STRIDE_ONE = {
    "winograd2": lambda xp, kernel, dilation: winograd.correlate(xp, kernel, WINOGRAD_TILES["winograd2"]),
    "winograd4": lambda xp, kernel, dilation: winograd.correlate(xp, kernel, WINOGRAD_TILES["winograd4"]),
    "fft": fft.correlate,
}


@dataclass
class ConvContext:
    """What :func:`conv_backward` needs from the forward pass."""

    padded_input: np.ndarray         # read-only, no memory of its own where ``columns`` is kept: see conv
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

    ``algorithm`` is one of :data:`.choice.ACCEPTED` or None for the global
    default (:func:`.choice.set_default_algorithm`); the algorithm that runs
    depends only on the shapes, not on ``keep_for_backward``. ``activation``
    (None, "linear" or "relu") is applied in place with the bias, in the same
    pass over the output. ``ctx`` is None unless ``keep_for_backward``.
    """
    check_activation(activation)
    strides, dilation, pads = tuple(strides), tuple(dilation), tuple(pads)
    padded_shape = _padded_shape(x.shape, pads)
    name = resolve_algorithm(algorithm, padded_shape, kernel.shape, strides, dilation, groups)
    if parallel.splitting() and name != "direct" and not _columns_as_views(kernel.shape, strides, dilation, groups):
        # not the reference loops (the oracle), nor 1D stride-1 columns read as views (two parts of
        # signal1d's predict(256) took 10-13 ms each where the whole batch took 7.7)
        out = im2col.output_shape(padded_shape[1:-1], kernel.shape[:-2], strides, dilation)
        parts = parallel.split(x.shape[0], int(np.prod(out)) * int(np.prod(kernel.shape)), hold=keep_for_backward)
        if len(parts) > 1:
            return _conv_parts(x, kernel, bias, strides, pads, dilation, groups, name, activation,
                               keep_for_backward, parts, out)
    return _conv_batch(x, kernel, bias, strides, pads, dilation, groups, name, activation, keep_for_backward)


def _padded_shape(shape, pads) -> tuple:
    """(N, *S, C) -> (N, *padded S, C)."""
    return (shape[0], *(length + before + after for length, (before, after) in zip(shape[1:-1], pads)), shape[-1])


def _conv_batch(x, kernel, bias, strides, pads, dilation, groups, name, activation, keep_for_backward):
    """:func:`conv` of one batch (or part of one) by the algorithm ``name``: -> (y, ctx or None)."""
    padded_shape = _padded_shape(x.shape, pads)
    if not keep_for_backward and _chunk_inference(name, padded_shape, kernel.shape, strides, dilation, groups):
        chunks, step = _inference_chunks(name, padded_shape, kernel.shape, strides, dilation, x.dtype.itemsize)
        if len(chunks) > 1:
            return _conv_in_chunks(x, kernel, bias, strides, pads, dilation, groups, name, activation, chunks,
                                   step), None
    xp = np.ascontiguousarray(pad_spatial(x, pads))
    columns = blocking = None
    if name == "direct":
        y = reference.conv_reference(x, kernel, None, strides, pads, dilation, groups)
    elif name == "im2col":
        y, columns, blocking = _im2col_forward(xp, kernel, strides, dilation, groups, keep_for_backward)
    else:
        y = _STRIDE_ONE[name](xp, kernel, dilation)
    add_bias_and_activate(y, bias, activation)
    if not keep_for_backward:
        return y, None
    output = y if activation == "relu" else None
    if columns is not None and not np.may_share_memory(columns, xp):
        # With the columns kept, the backward reads only the padded input's shape and dtype (the
        # kernel gradient comes from the columns, the input gradient from the kernel): a stand-in
        # of that shape that holds no memory lets the padded copy go.
        xp = np.broadcast_to(np.zeros((), dtype=xp.dtype), xp.shape)
    return y, ConvContext(xp, pads, kernel, strides, dilation, groups, name, columns, output, blocking)


@dataclass
class SplitContext:
    """What :func:`conv_backward` needs from a forward that ran in batch parts on threads (:func:`_conv_parts`)."""

    parts: list                     # the batch slices
    contexts: list                  # a ConvContext per part
    input_shape: tuple              # x's shape (N, *S, C)
    output: np.ndarray | None       # the whole activated output, for a fused relu's mask


def _conv_parts(x, kernel, bias, strides, pads, dilation, groups, name, activation, keep_for_backward, parts, out):
    """:func:`conv` with the batch cut into ``parts`` (slices), each run by :func:`_conv_batch` on a thread of
    :mod:`clearconv.kernels.parallel` and written into its rows of one output (N, *out, F). Every output row
    comes from its own sample's operations, as without parts, but for GEMMs that OpenBLAS may round
    differently at another row count."""
    y = np.empty((x.shape[0], *out, kernel.shape[-1]), dtype=np.result_type(x.dtype, kernel.dtype))

    def forward(part):
        part_y, ctx = _conv_batch(x[part], kernel, bias, strides, pads, dilation, groups, name, activation,
                                  keep_for_backward)
        y[part] = part_y
        if ctx is not None and ctx.output is not None:
            ctx.output = None               # the mask is read from the whole output (SplitContext.output)
        return ctx

    contexts = parallel.run(forward, parts)
    if not keep_for_backward:
        return y, None
    return y, SplitContext(parts, contexts, x.shape, y if activation == "relu" else None)


def _chunk_inference(name: str, padded_shape, kernel_shape, strides, dilation, groups: int) -> bool:
    """Whether a forward without backward runs in batch chunks (:func:`_conv_in_chunks`): where the
    algorithm already works in inner chunks of whole samples (Winograd with the compiled transforms;
    im2col's one-channel tap-major gather), so that outer chunks made of whole inner ones run the
    very same GEMMs.

    Not for the other im2col forwards, whose one GEMM over the batch would become several: each
    multithreaded GEMM call cost about 8 ms more on the shared 2-core machine of tuning.py (2 BLAS
    threads), so chunks of 1 to 8 MiB took 2-4x as long (LeNet's conv2 8.0 -> 16.0-64 ms, a 3x3
    8 -> 8 conv on 256 32x32 maps 34 -> 80-148 ms), and GEMMs of other sizes may round differently.
    """
    if kernel_shape[-1] // groups < 2 or _columns_as_views(kernel_shape, strides, dilation, groups):
        return False                        # matrix-vector products; 1D stride-1 columns read as views
    if name in WINOGRAD_TILES:
        # With the compiled transforms each inner chunk is its own products; NumPy's transforms are
        # products over every tile of the call, whose rounding (OpenBLAS picks kernels by size) a
        # chunk may change in the last bit: one value of 12,288 by 1.4e-4 at 16 -> 24 channels.
        return compiled.enabled()
    out = im2col.output_shape(padded_shape[1:-1], kernel_shape[:-2], strides, dilation)
    return name == "im2col" and im2col.tap_major(padded_shape[-1], kernel_shape[:-2], out)


def _inference_chunks(name: str, padded_shape, kernel_shape, strides, dilation, itemsize: int
                      ) -> tuple[list[slice], int | None]:
    """Batch slices for :func:`_conv_in_chunks`, and Winograd's images per inner chunk (else None).

    Each chunk's padded input and output (im2col: its columns) stay under INFERENCE_CHUNK_BYTES
    where whole inner chunks allow: a chunk is a multiple of the whole batch's inner chunk (at
    least one), so that the very same inner chunks run as in one pass over the batch.
    """
    batch, *padded, channels = padded_shape
    *kernel_size, _, filters = kernel_shape
    out = im2col.output_shape(padded, kernel_size, strides, dilation)
    cells, taps = int(np.prod(out)), int(np.prod(kernel_size))
    # im2col holds a chunk's columns (cells * K); Winograd its output (cells * F), its tiles' buffers
    # being capped on their own (WINOGRAD_CHUNK_ELEMENTS)
    per_sample = (int(np.prod(padded)) * channels + cells * (taps * channels if name == "im2col" else filters))
    size = max(1, INFERENCE_CHUNK_BYTES // max(1, per_sample * itemsize))
    if name in WINOGRAD_TILES:
        step = winograd.batch_step(padded_shape, filters, WINOGRAD_TILES[name])
    else:                                   # as _correlate_tap_major
        step = max(1, TAP_MAJOR_CHUNK_BYTES // max(1, taps * cells * itemsize))
    size = max(1, size // step) * step
    return [slice(start, start + size) for start in range(0, batch, size)], (step if name in WINOGRAD_TILES else None)


def _conv_in_chunks(x, kernel, bias, strides, pads, dilation, groups, name, activation, chunks,
                    step) -> np.ndarray:
    """The forward of :func:`conv` without backward, batch chunk by batch chunk: (N, *S, C) -> (N, *out, F).

    Each chunk is padded, correlated by ``name`` (chosen for the whole batch) and written into the
    preallocated output, so that neither a padded copy of the whole input nor whole-batch columns
    exist at once. Every output value comes from the same operations on the same values as in one
    pass over the batch (:func:`_inference_chunks`), so the result is the same, bit for bit.
    """
    y = None
    for chunk in chunks:
        xp = np.ascontiguousarray(pad_spatial(x[chunk], pads))
        if name == "im2col":                    # one channel: never row-blocked
            part = im2col.correlate(xp, kernel, strides, dilation, groups)[0]
        else:
            part = winograd.correlate(xp, kernel, WINOGRAD_TILES[name], images=step)
        del xp
        if y is None:
            y = np.empty((x.shape[0], *part.shape[1:]), dtype=part.dtype)
        y[chunk] = part                         # (n, *out, F): a contiguous slice of the first axis
        del part
    add_bias_and_activate(y, bias, activation)  # one pass over the whole output, as without chunks
    return y


def _columns_as_views(kernel_shape, strides, dilation, groups: int) -> bool:
    """1D, stride 1: im2col's columns are strided views of the input (:func:`.im2col.correlate_1d`)."""
    return len(kernel_shape) == 3 and kernel_shape[0] > 1 and strides == (1,) and dilation == (1,) and groups == 1


def _im2col_forward(xp, kernel, strides, dilation, groups, keep_columns):
    """im2col forward in batch chunks under the column-buffer limit -> (y, columns, blocking).

    The columns are kept if one chunk holds them. Where the GEMM would be thin
    (few filters), the forward runs row-blocked (:func:`.im2col.row_blocking`);
    not on an input with an inf or NaN, which the widened kernel's zeros would
    spread to neighbouring outputs (0 * inf is NaN), nor on a one-channel
    input (in LeNet-5's training step its conv1 took longer row-blocked, 7.7
    against 7.3 ms per step, measured when one-channel inputs had a gather of
    their own).
    """
    if _columns_as_views(kernel.shape, strides, dilation, groups):
        return im2col.correlate_1d(xp, kernel), None, None
    out = im2col.output_shape(xp.shape[1:-1], kernel.shape[:-2], strides, dilation)
    blocking = im2col.row_blocking(kernel, strides, dilation, out[-1]) if groups == 1 and xp.shape[-1] > 1 else None
    if blocking is not None and not _finite(xp):  # the input is summed only where the blocking would apply
        blocking = None
    if blocking is not None:
        kernel, strides, dilation = blocking.kernel, blocking.strides, blocking.dilation
    chunks = batch_chunks(xp.shape[0], column_bytes(xp, kernel.shape, strides, dilation))
    if len(chunks) == 1:
        y, columns = im2col.correlate(xp, kernel, strides, dilation, groups, keep_columns=keep_columns)
    else:
        y = np.concatenate([im2col.correlate(xp[chunk], kernel, strides, dilation, groups)[0] for chunk in chunks])
        columns = None
    if blocking is not None:  # (N, *out[:-1], out[-1] // b, b*F) -> (N, *out, F)
        y = y.reshape(*y.shape[:-2], out[-1], y.shape[-1] // blocking.block)
    return y, columns, blocking


def _finite(a: np.ndarray) -> bool:
    """Whether every value of ``a`` is finite (a sum that overflows says no: the safe answer)."""
    return bool(np.isfinite(np.sum(a)))


def conv_backward(grad: np.ndarray, ctx: ConvContext | SplitContext, need_input: bool = True):
    """Gradients of :func:`conv`: grad (N, *out, F) -> (dx, dkernel, dbias).

    After a forward in batch parts, each part's input and kernel gradients run
    on its thread again, and the parts' kernel gradients are added in order;
    the bias gradient is the one per-channel sum over the whole batch.
    """
    grad = activation_grad(grad, ctx.output)
    if isinstance(ctx, ConvContext) and ctx.algorithm == "direct":
        x = crop_spatial(ctx.padded_input, ctx.pads)
        dx, dkernel, dbias = reference.conv_reference_backward(grad, x, ctx.kernel, ctx.strides, ctx.pads,
                                                              ctx.dilation, ctx.groups)
        return (dx if need_input else None), dkernel, dbias
    dbias = bias_grad(grad)
    # dbias sums grad per filter: it is finite exactly when every grad value is (or the sum overflowed,
    # and then the input gradient merely takes the plain path), which the row blocking needs to know.
    finite_grad = bool(np.isfinite(dbias).all())
    if isinstance(ctx, ConvContext):
        return (*_input_and_kernel_grads(grad, ctx, need_input, finite_grad), dbias)
    dx = np.empty(ctx.input_shape, dtype=grad.dtype) if need_input else None

    def backward(index):
        part = ctx.parts[index]
        part_dx, dkernel = _input_and_kernel_grads(grad[part], ctx.contexts[index], need_input, finite_grad)
        if need_input:
            dx[part] = part_dx
        return dkernel

    dkernels = parallel.run(backward, range(len(ctx.parts)))
    dkernel = dkernels[0]
    for part_dkernel in dkernels[1:]:
        dkernel += part_dkernel
    return dx, dkernel, dbias


def _input_and_kernel_grads(grad: np.ndarray, ctx: ConvContext, need_input: bool, finite_grad: bool):
    """(dx or None, dkernel) of one batch (or part) from grad (N, *out, F), the activation's mask applied."""
    if _columns_as_views(ctx.kernel.shape, ctx.strides, ctx.dilation, ctx.groups):
        # Whatever the forward's algorithm, both passes read their columns as views, and the
        # gradient from one zero-framed copy (:func:`.im2col.gradient_layout_1d`).
        layout = im2col.gradient_layout_1d(grad, ctx.kernel.shape[0])
        xp = ctx.padded_input
        dx = crop_spatial(im2col.correlate_1d_input_grad(layout, ctx.kernel, xp.shape), ctx.pads) if need_input else None
        return dx, im2col.correlate_1d_kernel_grad(xp, layout, ctx.kernel.shape)
    dx = crop_spatial(_input_grad(grad, ctx, finite_grad), ctx.pads) if need_input else None
    return dx, _kernel_grad(grad, ctx)


def _kernel_grad(grad: np.ndarray, ctx: ConvContext) -> np.ndarray:
    """dL/dkernel (*k, C, F): after a 2D Winograd forward, by the transforms' adjoint (no columns) where
    :func:`_winograd_kernel_grad` says; otherwise from the kept columns, or columns rebuilt chunk by chunk,
    row-blocked as the forward."""
    xp, blocking = ctx.padded_input, ctx.blocking
    if ctx.algorithm in WINOGRAD_TILES and xp.ndim == 4 and _winograd_kernel_grad(ctx.kernel.shape):
        return winograd.correlate_kernel_grad(xp, grad, WINOGRAD_TILES[ctx.algorithm])
    kernel, strides, dilation = ctx.kernel, ctx.strides, ctx.dilation
    if blocking is not None:  # the gradient of the widened kernel, folded
        grad, kernel, strides, dilation = blocking.outputs(grad), blocking.kernel, blocking.strides, blocking.dilation
    if ctx.columns is not None:
        dkernel = im2col.correlate_kernel_grad(ctx.columns, grad, kernel.shape, ctx.groups)
    else:
        dkernel = np.zeros_like(kernel)
        for chunk in batch_chunks(xp.shape[0], column_bytes(xp, kernel.shape, strides, dilation)):
            columns = im2col.im2col(xp[chunk], kernel.shape[:-2], strides, dilation, ctx.groups)
            dkernel += im2col.correlate_kernel_grad(columns, grad[chunk], kernel.shape, ctx.groups)
    return dkernel if blocking is None else blocking.fold_kernel_grad(dkernel)


def _winograd_kernel_grad(kernel_shape) -> bool:
    """Whether a Winograd layer's kernel gradient should take the transforms' adjoint: measured faster on one
    BLAS thread and up to WINOGRAD_KERNEL_GRAD_MAX_CHANNELS channels and filters (kernels/tuning.py)."""
    return (blas.threads() <= WINOGRAD_KERNEL_GRAD_MAX_BLAS_THREADS
            and max(kernel_shape[-2:]) <= WINOGRAD_KERNEL_GRAD_MAX_CHANNELS)


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
        return _STRIDE_ONE[ctx.algorithm](pad_spatial(grad, full), flipped, ctx.dilation)
    padded_shape, strides, dilation = xp.shape[1:-1], ctx.strides, ctx.dilation
    blocking = None
    if finite_grad and ctx.groups == 1:  # an inf or NaN grad takes the plain kernel (0 * inf is NaN)
        blocking = ctx.blocking or im2col.row_blocking(kernel, strides, dilation, grad.shape[-2])
    if blocking is not None:
        grad, kernel, strides, dilation = blocking.outputs(grad), blocking.kernel, blocking.strides, blocking.dilation
    chunks = batch_chunks(xp.shape[0], column_bytes(xp, kernel.shape, strides, dilation))
    if len(chunks) == 1:
        return im2col.correlate_input_grad(grad, kernel, padded_shape, strides, dilation, ctx.groups)
    return np.concatenate([im2col.correlate_input_grad(grad[chunk], kernel, padded_shape, strides, dilation,
                                                       ctx.groups) for chunk in chunks])
