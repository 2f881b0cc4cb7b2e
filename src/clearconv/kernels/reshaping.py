"""Up-sampling and dropout masks, channels_last.

Layout: ``x`` has shape ``(N, *spatial, C)`` with any number of spatial axes.
Each op is a forward/backward pair whose backward is the inverse movement:

* nearest up-sampling repeats cells; its backward sums each block back.
* linear up-sampling (1D linear, 2D bilinear, 3D trilinear, applied one axis
  at a time) gathers two neighbours per output cell; its backward sends each
  output gradient back to those two neighbours.
* dropout is ``x * mask``, and its backward is ``grad * mask`` with the same
  mask, so only the mask needs a function here.

Zero padding and cropping, each the other's backward, are
:func:`clearconv.kernels.windows.pad_spatial` and ``crop_spatial``.
"""

from __future__ import annotations

from typing import Sequence, Union

import numpy as np

SizeSpec = Union[int, Sequence[int]]


def _spatial_sizes(x_ndim: int, size: SizeSpec, name: str) -> tuple[int, ...]:
    """One positive int factor per spatial axis of an (N, *spatial, C) array."""
    spatial = x_ndim - 2
    sizes = (size,) * spatial if isinstance(size, (int, np.integer)) else tuple(size)
    if len(sizes) != spatial or not all(isinstance(s, (int, np.integer)) and s > 0 for s in sizes):
        raise ValueError(f"{name} must be a positive int or {spatial} positive ints for an input "
                         f"with {spatial} spatial axes; received {size!r}")
    return tuple(int(s) for s in sizes)


# --------------------------------------------------------------------------- nearest

def upsample_nearest(x: np.ndarray, size: SizeSpec) -> np.ndarray:
    """Repeat every cell ``size[i]`` times along spatial axis i (Keras UpSampling, nearest).

    (N, *S, C) -> (N, *(S * size), C); output cell o copies input cell o // size.
    """
    sizes = _spatial_sizes(x.ndim, size, "size")
    batch, *spatial, channels = x.shape
    # (N, L1, 1, L2, 1, ..., C): a length-1 slot after every spatial axis to broadcast into.
    slotted = x.reshape(batch, *_interleave(spatial, (1,) * len(spatial)), channels)
    # (N, L1, s1, L2, s2, ..., C) -> (N, L1*s1, L2*s2, ..., C)
    repeated = np.broadcast_to(slotted, (batch, *_interleave(spatial, sizes), channels))
    return repeated.reshape(batch, *(length * s for length, s in zip(spatial, sizes)), channels)


def upsample_nearest_backward(grad: np.ndarray, size: SizeSpec) -> np.ndarray:
    """VJP of :func:`upsample_nearest`: (N, *(S * size), C) -> (N, *S, C), each block summed."""
    sizes = _spatial_sizes(grad.ndim, size, "size")
    batch, *spatial_out, channels = grad.shape
    spatial = [length // s for length, s in zip(spatial_out, sizes)]
    # (N, L1*s1, L2*s2, ..., C) -> (N, L1, s1, L2, s2, ..., C), then sum the s axes.
    blocks = grad.reshape(batch, *_interleave(spatial, sizes), channels)
    return blocks.sum(axis=tuple(2 + 2 * i for i in range(len(sizes))))


def _interleave(first: Sequence[int], second: Sequence[int]) -> tuple[int, ...]:
    """(a1, a2, ...), (b1, b2, ...) -> (a1, b1, a2, b2, ...)."""
    return tuple(value for pair in zip(first, second) for value in pair)


# --------------------------------------------------------------------------- (bi)linear

def linear_taps(length: int, scale: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Neighbours and weight of each output cell of a linear up-sampling of one axis.

    Half-pixel centres (PyTorch ``align_corners=False``, TensorFlow/Keras
    ``half_pixel_centers``): output cell o samples the input at
    ``source = (o + 0.5) / scale - 0.5`` clamped to >= 0, so

        i0 = floor(source), i1 = min(i0 + 1, L - 1), w = source - i0
        y[o] = (1 - w) * x[i0] + w * x[i1]

    Returns ``(i0, i1, w)``, each of shape (L * scale,), w in float64.
    """
    output = np.arange(length * scale, dtype=np.float64)
    source = np.maximum((output + 0.5) / scale - 0.5, 0.0)
    # The clamp keeps source >= 0 and source <= L - 1/2 - 1/(2 scale) < L, so i0 is in range.
    lower = np.floor(source).astype(np.intp)
    upper = np.minimum(lower + 1, length - 1)
    return lower, upper, source - lower


def _along(values: np.ndarray, ndim: int, axis: int) -> np.ndarray:
    """(L,) -> shape (1, .., L, .., 1) that broadcasts along ``axis`` of an ndim array."""
    shape = [1] * ndim
    shape[axis] = values.shape[0]
    return values.reshape(shape)


def _interpolate_axis(x: np.ndarray, axis: int, scale: int) -> np.ndarray:
    """Linear up-sampling of one array axis: length L -> L * scale."""
    lower, upper, weight = linear_taps(x.shape[axis], scale)
    weight = _along(weight.astype(x.dtype), x.ndim, axis)
    below = x.take(lower, axis=axis)
    # x0 + w * (x1 - x0), i.e. (1 - w) * x0 + w * x1, built in place in one output buffer.
    result = x.take(upper, axis=axis)
    result -= below
    result *= weight
    result += below
    return result


def _interpolate_axis_backward(grad: np.ndarray, axis: int, length: int, scale: int) -> np.ndarray:
    """VJP of :func:`_interpolate_axis`: axis of length L * scale -> L.

    Each output cell o sends ``(1 - w[o]) * g[o]`` to i0[o] and ``w[o] * g[o]``
    to i1[o]. List those 2 * L * scale contributions sorted by the input cell
    they reach; since i0 and i1 are monotone in o, each input cell receives
    from a short run of them (about 2 * scale). Filling "slot k of every
    input cell" is one gather, so a loop over the few slots adds everything
    exactly, with no scatter (np.add.at) and no loop over cells.
    """
    lower, upper, weight = linear_taps(length, scale)
    outputs = np.arange(lower.size)
    targets = np.concatenate([lower, upper])
    order = np.argsort(targets, kind="stable")
    sources = np.concatenate([outputs, outputs])[order]           # (2 * L * scale,)
    weights = np.concatenate([1 - weight, weight])[order].astype(grad.dtype)
    counts = np.bincount(targets, minlength=length)               # (L,) contributions per input cell
    starts = np.cumsum(counts) - counts                           # (L,) first contribution of each

    shape = list(grad.shape)
    shape[axis] = length
    result = np.zeros(shape, dtype=grad.dtype)
    for slot in range(int(counts.max())):
        present = slot < counts
        # Cells with fewer contributions read a valid index but get weight 0.
        index = np.minimum(starts + slot, sources.size - 1)
        slot_weight = np.where(present, weights[index], 0).astype(grad.dtype)
        result += grad.take(sources[index], axis=axis) * _along(slot_weight, grad.ndim, axis)
    return result


def upsample_bilinear(x: np.ndarray, size: SizeSpec) -> np.ndarray:
    """Linear interpolation by integer factors, separable over the spatial axes.

    (N, *S, C) -> (N, *(S * size), C). With 2 spatial axes this is Keras
    ``UpSampling2D(interpolation='bilinear')`` and PyTorch
    ``F.interpolate(mode='bilinear', align_corners=False)``; with 1 or 3 it is
    ``'linear'``/``'trilinear'``. See :func:`linear_taps` for the sampling.
    """
    sizes = _spatial_sizes(x.ndim, size, "size")
    for spatial_axis, scale in enumerate(sizes):
        if scale != 1:
            x = _interpolate_axis(x, 1 + spatial_axis, scale)
    return x


def upsample_bilinear_backward(grad: np.ndarray, input_shape: Sequence[int], size: SizeSpec) -> np.ndarray:
    """VJP of :func:`upsample_bilinear`: (N, *(S * size), C) -> input_shape (N, *S, C).

    The forward applies the axes in order 1, 2, ..., so the backward undoes
    them in reverse order.
    """
    sizes = _spatial_sizes(grad.ndim, size, "size")
    for spatial_axis in reversed(range(len(sizes))):
        if sizes[spatial_axis] != 1:
            grad = _interpolate_axis_backward(grad, 1 + spatial_axis,
                                              input_shape[1 + spatial_axis], sizes[spatial_axis])
    return grad


# --------------------------------------------------------------------------- dropout

def dropout_mask(shape: Sequence[int], rate: float, rng, noise_shape=None,
                 dtype=np.float32) -> np.ndarray:
    """Inverted-dropout mask: each entry is 0 with probability ``rate``, else 1 / (1 - rate).

    Forward ``y = x * mask``; backward ``dx = grad * mask`` (the same mask).
    The mask has shape ``noise_shape`` (Keras convention: None entries take
    the input's size, 1 entries share one draw along that axis, e.g.
    ``(N, 1, 1, C)`` drops whole channels) and broadcasts against ``shape``.
    ``rng`` is a ``np.random.Generator`` or an int seed. rate 0 gives ones
    without drawing; rate 1 gives zeros (no division by zero).
    """
    if not 0 <= rate <= 1:
        raise ValueError(f"dropout rate must be in [0, 1]; received rate={rate!r}")
    mask_shape = _noise_shape(tuple(shape), noise_shape)
    if rate == 0:
        return np.ones(mask_shape, dtype=dtype)
    if rate == 1:
        return np.zeros(mask_shape, dtype=dtype)
    keep = 1 - rate
    kept = np.random.default_rng(rng).random(mask_shape) < keep
    return kept.astype(dtype) * np.asarray(1 / keep, dtype=dtype)


def _noise_shape(shape: tuple, noise_shape) -> tuple:
    """Resolve Keras's noise_shape: None -> shape; None entries -> the input's size."""
    if noise_shape is None:
        return shape
    if len(noise_shape) != len(shape):
        raise ValueError(f"noise_shape must have {len(shape)} entries for an input of shape "
                         f"{shape}; received {noise_shape!r}")
    resolved = tuple(size if entry is None else int(entry) for size, entry in zip(shape, noise_shape))
    if any(entry not in (1, size) for size, entry in zip(shape, resolved)):
        raise ValueError(f"noise_shape entries must be 1, None or the input's size for an input "
                         f"of shape {shape}; received {noise_shape!r}")
    return resolved
