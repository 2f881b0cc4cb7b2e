"""Strided window slices, padding and cropping over the spatial axes.

Pooling and convolution (col2im) both visit a sliding window one *offset* at
a time: for a fixed offset inside the window, the cells it reads for every
output position form one strided slice of the padded input. Padding and
cropping are the forward/backward pair that moves between the input and its
padded version.

Layout: channels_last, ``x`` has shape ``(N, *spatial, C)``; ``pads`` is one
``(before, after)`` pair per spatial axis.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def window_slices(offset: Sequence[int], strides: Sequence[int], dilation: Sequence[int],
                  output_shape: Sequence[int]) -> tuple[slice, ...]:
    """Slices (spatial axes only) of the cells at window ``offset`` for every output position.

    Output position ``o`` reads padded cell ``o*s + offset*d``, so along each
    axis the cells are ``offset*d, offset*d + s, ..., offset*d + s*(out-1)``.
    Prepend ``slice(None)`` for the batch axis before indexing an array.
    """
    return tuple(slice(j * d, j * d + s * (out - 1) + 1, s)
                 for j, s, d, out in zip(offset, strides, dilation, output_shape))


def no_padding(pads: Sequence[tuple[int, int]]) -> bool:
    """Whether every ``(before, after)`` pair is (0, 0)."""
    return all(before == 0 and after == 0 for before, after in pads)


def pad_spatial(x: np.ndarray, pads: Sequence[tuple[int, int]], value: float = 0) -> np.ndarray:
    """Pad the spatial axes: (N, *S, C) -> (N, *(S + before + after), C).

    Returns ``x`` itself (no copy) when every pad is zero, so callers must
    not write into the result.
    """
    if no_padding(pads):
        return x
    batch, *spatial, channels = x.shape
    padded_shape = tuple(length + before + after for length, (before, after) in zip(spatial, pads))
    padded = np.empty((batch, *padded_shape, channels), dtype=x.dtype)
    padded[(slice(None), *_interior(spatial, pads))] = x
    # Fill only the borders: filling the whole array first would write every cell twice.
    for axis, (length, (before, _)) in enumerate(zip(spatial, pads), start=1):
        border = [slice(None)] * padded.ndim
        border[axis] = slice(0, before)
        padded[tuple(border)] = value
        border[axis] = slice(before + length, None)
        padded[tuple(border)] = value
    return padded


def crop_spatial(x: np.ndarray, pads: Sequence[tuple[int, int]]) -> np.ndarray:
    """Inverse of :func:`pad_spatial`: drop ``before``/``after`` cells per spatial axis (a view).

    Returns ``x`` itself when every pad is zero: a gradient that owns its
    memory then still does, and autograd hands it to a leaf without a copy.
    """
    if no_padding(pads):
        return x
    spatial = tuple(length - before - after for length, (before, after) in zip(x.shape[1:-1], pads))
    return x[(slice(None), *_interior(spatial, pads))]


def _interior(spatial: Sequence[int], pads: Sequence[tuple[int, int]]) -> tuple[slice, ...]:
    """Where the unpadded cells sit in the padded array (spatial axes only)."""
    # Stop at before + length rather than -after, which would be wrong for after == 0.
    return tuple(slice(before, before + length) for length, (before, _) in zip(spatial, pads))
