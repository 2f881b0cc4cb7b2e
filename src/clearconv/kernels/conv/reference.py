"""Direct-loop convolution and pooling: the textbook definitions, the oracle.

Every fast op in clearconv is tested against these functions. They loop over
output positions with ``np.ndindex`` and write each output cell as the small
sum its definition states; speed is irrelevant, only use them on tiny arrays.
Sums are accumulated in float64 and the result is returned in the inputs'
dtype, so the oracle itself adds no float32 rounding error.

Layout: channels_last, ``x`` has shape ``(N, *S, C)`` with 1, 2 or 3 spatial
axes; ``pads`` is one ``(before, after)`` pair per spatial axis (compute it
with :func:`clearconv.kernels.shapes.conv_padding` / ``pool_padding``).
"""

from __future__ import annotations

import numpy as np

from ..shapes import conv_output_shape, pool_output_shape, transposed_buffer_length
from ..windows import crop_spatial, pad_spatial


def conv_reference(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray | None,
                   strides, pads, dilation, groups: int = 1) -> np.ndarray:
    """Grouped, strided, dilated N-d cross-correlation (no kernel flip).

    x (N, *S, C), kernel (*k, C // groups, F) in Keras layout, bias (F,) or
    None -> out (N, *out, F) with ``out = (S + before + after - d*(k-1) - 1) // s + 1``::

        out[n, o, f] = bias[f] + sum_{tap j} sum_{c in group(f)}
                       xpad[n, o*s + j*d, c] * kernel[j, c - group_start, f]

    Output channel ``f`` belongs to group ``g = f // (F // groups)``, which
    reads input channels ``[g*C/groups, (g+1)*C/groups)``.
    """
    dtype = np.result_type(x, kernel)
    xpad = pad_spatial(x.astype(np.float64), pads)
    weights = kernel.astype(np.float64)
    *kernel_size, group_channels, filters = kernel.shape
    filters_per_group = filters // groups
    output_shape = conv_output_shape(x.shape[1:-1], kernel_size, strides, dilation, pads)
    out = np.zeros((x.shape[0], *output_shape, filters))
    for n in range(x.shape[0]):
        for o in np.ndindex(*output_shape):
            for f in range(filters):
                group_start = (f // filters_per_group) * group_channels
                group = slice(group_start, group_start + group_channels)
                total = 0.0 if bias is None else float(bias[f])
                for j in np.ndindex(*kernel_size):
                    position = tuple(oi * s + ji * d for oi, ji, s, d in zip(o, j, strides, dilation))
                    # sum over the group's channels c of xpad[n, pos, c] * kernel[j, c - start, f]
                    total += np.dot(xpad[(n, *position, group)], weights[(*j, slice(None), f)])
                out[(n, *o, f)] = total
    return out.astype(dtype)


def conv_reference_backward(grad: np.ndarray, x: np.ndarray, kernel: np.ndarray, strides, pads,
                            dilation, groups: int = 1):
    """Gradients of :func:`conv_reference` by the same loops: -> (dx, dkernel, dbias).

    grad has the output's shape (N, *out, F). Every term
    ``xpad[n, o*s + j*d, c] * kernel[j, c - start, f]`` of output cell
    ``(n, o, f)`` sends ``grad[n, o, f] * kernel[...]`` to the input cell and
    ``grad[n, o, f] * xpad[...]`` to the kernel tap; dx is dxpad without the
    padding, dbias the sum of grad over every cell.
    """
    dtype = np.result_type(x, kernel)
    xpad = pad_spatial(x.astype(np.float64), pads)
    weights = kernel.astype(np.float64)
    upstream = grad.astype(np.float64)
    *kernel_size, group_channels, filters = kernel.shape
    filters_per_group = filters // groups
    dxpad = np.zeros_like(xpad)
    dkernel = np.zeros_like(weights)
    for n in range(x.shape[0]):
        for o in np.ndindex(*grad.shape[1:-1]):
            for f in range(filters):
                group_start = (f // filters_per_group) * group_channels
                group = slice(group_start, group_start + group_channels)
                g = upstream[(n, *o, f)]
                for j in np.ndindex(*kernel_size):
                    position = tuple(oi * s + ji * d for oi, ji, s, d in zip(o, j, strides, dilation))
                    dxpad[(n, *position, group)] += g * weights[(*j, slice(None), f)]
                    dkernel[(*j, slice(None), f)] += g * xpad[(n, *position, group)]
    dx = crop_spatial(dxpad, pads)
    dbias = upstream.reshape(-1, filters).sum(axis=0)
    return dx.astype(dtype), dkernel.astype(dtype), dbias.astype(dtype)


def conv_transpose_reference(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray | None,
                             strides, dilation, crops, output_shape) -> np.ndarray:
    """Keras transposed convolution by scattering: (N, *L, Cin) -> (N, *output_shape, F).

    ``kernel`` has the Keras transposed layout ``(*k, F, Cin)``. Every input
    cell ``i`` adds ``kernel[j] @ x[n, i]`` (an F-vector) into buffer cell
    ``i*s + j*d`` for every tap ``j``; the output is the buffer window
    ``[crops, crops + output_shape)`` per axis plus the bias. Buffer cells
    that no tap reaches stay 0, so such outputs equal the bias.
    """
    dtype = np.result_type(x, kernel)
    *kernel_size, filters, _ = kernel.shape
    input_shape = x.shape[1:-1]
    buffer_shape = tuple(transposed_buffer_length(length, k, s, d, crop, out) for length, k, s, d, crop, out
                         in zip(input_shape, kernel_size, strides, dilation, crops, output_shape))
    buffer = np.zeros((x.shape[0], *buffer_shape, filters))
    for n in range(x.shape[0]):
        for i in np.ndindex(*input_shape):
            for j in np.ndindex(*kernel_size):
                position = tuple(ii * s + ji * d for ii, ji, s, d in zip(i, j, strides, dilation))
                # (F, Cin) @ (Cin,) -> (F,)
                buffer[(n, *position)] += kernel[j].astype(np.float64) @ x[(n, *i)].astype(np.float64)
    window = tuple(slice(crop, crop + out) for crop, out in zip(crops, output_shape))
    out = buffer[(slice(None), *window)]
    if bias is not None:
        out = out + bias
    return out.astype(dtype)


def _pool_windows(x: np.ndarray, pool_size, strides, pads):
    """Yield ``(n, o, cells)``: each output position and the real (unpadded) input cells of its window.

    ``cells`` is a list of spatial index tuples into the *unpadded* ``x``;
    window cells that fall in the padding are left out.
    """
    spatial = x.shape[1:-1]
    for n in range(x.shape[0]):
        for o in np.ndindex(*pool_output_shape(spatial, pool_size, strides, pads)):
            cells = []
            for j in np.ndindex(*pool_size):
                # padded position o*s + j, shifted back by the padding before
                position = tuple(oi * s + ji - before for oi, ji, s, (before, _)
                                 in zip(o, j, strides, pads))
                if all(0 <= coordinate < length for coordinate, length in zip(position, spatial)):
                    cells.append(position)
            yield n, o, cells


def _pool_output(x: np.ndarray, pool_size, strides, pads) -> np.ndarray:
    """A zero output array (N, *out, C) in float64."""
    return np.zeros((x.shape[0], *pool_output_shape(x.shape[1:-1], pool_size, strides, pads), x.shape[-1]))


def max_pool_reference(x: np.ndarray, pool_size, strides, pads) -> np.ndarray:
    """Max pooling: (N, *S, C) -> (N, *out, C), ``out = (S + before + after - p) // s + 1``.

    ``out[n, o, c] = max over real cells of the window`` (padded cells act as
    -inf, so they never win). A NaN in the window gives NaN.
    """
    out = _pool_output(x, pool_size, strides, pads)
    for n, o, cells in _pool_windows(x, pool_size, strides, pads):
        best = np.full(x.shape[-1], -np.inf)
        for cell in cells:
            best = np.maximum(best, x[(n, *cell)])  # np.maximum propagates NaN
        out[(n, *o)] = best
    return out.astype(x.dtype)


def avg_pool_reference(x: np.ndarray, pool_size, strides, pads) -> np.ndarray:
    """Average pooling over real cells only (Keras): (N, *S, C) -> (N, *out, C).

    ``out[n, o, c] = sum of the window's real cells / their count``; padded
    cells count neither in the sum nor in the divisor.
    """
    out = _pool_output(x, pool_size, strides, pads)
    for n, o, cells in _pool_windows(x, pool_size, strides, pads):
        total = np.zeros(x.shape[-1])
        for cell in cells:
            total += x[(n, *cell)]
        out[(n, *o)] = total / len(cells)
    return out.astype(x.dtype)
