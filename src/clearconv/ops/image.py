"""Keras 3's ``keras.ops.image.resize`` (differentiable) and ``affine_transform``.

Pixels have half-integer centres: output pixel ``o`` of an axis resized from
``L_in`` to ``L_out`` samples the input at ``s(o) = (o + 0.5) * L_in / L_out - 0.5``.

* ``"nearest"`` copies input pixel ``floor((o + 0.5) * L_in / L_out)``.
* ``"bilinear"``, ``"bicubic"``, ``"lanczos3"``, ``"lanczos5"`` weigh each
  input pixel i by a kernel of the distance ``|s(o) - i|`` (triangle, Keys
  cubic with a = -0.5, Lanczos with 3 or 5 lobes), dropping pixels outside
  the image and dividing by the weights' sum. With ``antialias=True`` a
  downsampling stretches the kernel by ``L_in / L_out`` so every input pixel
  contributes (a low-pass filter); upsampling is unchanged.

Both are what JAX's ``jax.image.resize`` computes (Keras's reference backend);
bilinear without antialiasing is also TensorFlow's and PyTorch's
``align_corners=False`` resize. Each axis is one matrix product with an
(L_out, L_in) weight matrix, so the backward is the product with its transpose.

:func:`affine_transform` resamples images through an 8-parameter map from
output to input coordinates (nearest or bilinear, five ways to extend the
image beyond its edges), as Keras's augmentation layers use it. It is a
forward op only: its result is a constant Tensor.
"""

from __future__ import annotations

import numpy as np

from .common import check_int, to_array
from .core import cast, convert_to_tensor, saturate_cast
from .dispatch import keras_op
from .. import config
from .numpy import expand_dims, get_item, matmul, moveaxis, pad, round as round_half_even, squeeze, take, transpose

INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "lanczos3", "lanczos5")


def _triangle(distance: np.ndarray) -> np.ndarray:
    return np.maximum(0.0, 1.0 - distance)


def _keys_cubic(distance: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with a = -0.5 (Catmull-Rom), support [0, 2)."""
    near = ((1.5 * distance - 2.5) * distance) * distance + 1.0
    far = ((-0.5 * distance + 2.5) * distance - 4.0) * distance + 2.0
    return np.where(distance < 1.0, near, np.where(distance < 2.0, far, 0.0))


def _lanczos(lobes: int):
    def kernel(distance: np.ndarray) -> np.ndarray:
        # sinc(x) sinc(x / a) = a sin(pi x) sin(pi x / a) / (pi x)^2, which tends to 1 at x = 0.
        safe = np.where(distance > 1e-3, distance, 1.0)
        value = lobes * np.sin(np.pi * safe) * np.sin(np.pi * safe / lobes) / (np.pi * safe) ** 2
        return np.where(distance > lobes, 0.0, np.where(distance > 1e-3, value, 1.0))
    return kernel


_KERNELS = {"bilinear": _triangle, "bicubic": _keys_cubic, "lanczos3": _lanczos(3), "lanczos5": _lanczos(5)}


def resize_weights(input_length: int, output_length: int, interpolation: str, antialias: bool = False,
                   dtype=np.float64) -> np.ndarray:
    """(output_length, input_length) weights in ``dtype``: row o holds how much each input pixel
    contributes to output pixel o (see the module docstring); every row sums to 1. For
    ``"nearest"`` each row is one 1, at :func:`nearest_indices` (``resize`` gathers those
    pixels instead of multiplying by this matrix).

    Computed step by step as JAX does, in float32 (float64 for float64), so
    that float32 weights round the same way (an integer image's rounding to
    whole values can turn on the last bit); float16 weights are the float32
    ones rounded, as JAX casts them.
    """
    dtype = np.dtype(dtype)
    if interpolation == "nearest":
        weights = np.zeros((output_length, input_length), dtype)
        weights[np.arange(output_length), nearest_indices(input_length, output_length)] = 1
        return weights
    work = np.promote_types(dtype, np.float32).type
    inverse_scale = work(1) / work(output_length / input_length)
    stretch = max(inverse_scale, work(1)) if antialias else work(1)
    sample = (np.arange(output_length, dtype=work) + work(0.5)) * inverse_scale - work(0.5)  # (out,)
    distance = np.abs(sample[:, None] - np.arange(input_length, dtype=work)[None, :]) / stretch  # (out, in)
    weights = _KERNELS[interpolation](distance).astype(work, copy=False)
    total = weights.sum(axis=1, keepdims=True)
    # A row whose weights nearly cancel is left at 0 rather than blown up (as JAX).
    usable = np.abs(total) > 1000.0 * np.finfo(np.float32).eps
    weights = np.where(usable, weights / np.where(total != 0, total, work(1)), work(0))
    return weights.astype(dtype, copy=False)


def nearest_indices(input_length: int, output_length: int) -> np.ndarray:
    """(output_length,) input pixel copied by each output pixel: floor((o + 0.5) * L_in / L_out),
    evaluated in float32 as JAX does so the ties fall the same way."""
    centres = (np.arange(output_length, dtype=np.float32) + np.float32(0.5)) \
        * np.float32(input_length) / np.float32(output_length)
    return np.minimum(np.floor(centres).astype(np.int64), input_length - 1)


def _resize_axis(x, axis: int, length: int, interpolation: str, antialias: bool):
    """Resize one axis of x to ``length``."""
    source_length = to_array(x).shape[axis]
    if source_length == length:
        return x
    if interpolation == "nearest":
        return take(x, nearest_indices(source_length, length), axis=axis)
    weights = resize_weights(source_length, length, interpolation, antialias, to_array(x).dtype)
    # (..., L_in) @ (L_in, L_out) with the resized axis moved last and back.
    moved = moveaxis(x, axis, -1)
    return moveaxis(matmul(moved, weights.T), -1, axis)


@keras_op("image")
def resize(images, size, interpolation="bilinear", antialias=False, crop_to_aspect_ratio=False,
           pad_to_aspect_ratio=False, fill_mode="constant", fill_value=0.0, data_format=None):
    """Resize images (H, W, C) or (N, H, W, C) (channels_first: (C, H, W), (N, C, H, W)) to
    ``size = (height, width)``.

    ``crop_to_aspect_ratio`` first crops the largest centred window of the
    target aspect ratio; ``pad_to_aspect_ratio`` first pads the short side
    evenly with ``fill_value`` (``fill_mode`` must be "constant"). Integer
    images are resized in float32, rounded and saturated back to their dtype.
    ``data_format`` None is :func:`clearconv.config.image_data_format`.
    """
    if not isinstance(size, (list, tuple)) or len(size) != 2:
        raise ValueError(f"resize: `size` must be (height, width); received size={size!r}")
    height, width = (check_int(s, "size", minimum=1) for s in size)
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"resize: `interpolation` must be one of {INTERPOLATIONS}; received interpolation={interpolation!r}")
    if fill_mode != "constant":
        raise ValueError(f"resize: `fill_mode` must be 'constant'; received fill_mode={fill_mode!r}")
    if crop_to_aspect_ratio and pad_to_aspect_ratio:
        raise ValueError("resize: only one of `crop_to_aspect_ratio` and `pad_to_aspect_ratio` can be True")
    data_format = config.standardize_data_format(data_format)
    source = to_array(images)
    if source.ndim not in (3, 4):
        raise ValueError(f"resize: `images` must have rank 3 (one image) or 4 (a batch); received shape {source.shape}")

    x = images if source.ndim == 4 else expand_dims(images, 0)
    if data_format == "channels_first":
        x = transpose(x, (0, 2, 3, 1))  # (N, C, H, W) -> (N, H, W, C)
    integer = source.dtype.kind in "iub"
    if integer:
        x = cast(x, "float32")
    _, in_height, in_width, _ = to_array(x).shape

    if crop_to_aspect_ratio:
        crop_height = max(min(in_height, int(float(in_width * height) / width)), 1)
        crop_width = max(min(in_width, int(float(in_height * width) / height)), 1)
        top, left = int(float(in_height - crop_height) / 2), int(float(in_width - crop_width) / 2)
        x = get_item(x, (slice(None), slice(top, top + crop_height), slice(left, left + crop_width)))
    elif pad_to_aspect_ratio:
        padded_height = max(in_height, int(float(in_width * height) / width))
        padded_width = max(in_width, int(float(in_height * width) / height))
        top, left = int(float(padded_height - in_height) / 2), int(float(padded_width - in_width) / 2)
        # The same number of rows (or columns) on both sides, as Keras; only one side is padded.
        if top > 0:
            x = pad(x, ((0, 0), (top, top), (0, 0), (0, 0)), constant_values=fill_value)
        elif left > 0:
            x = pad(x, ((0, 0), (0, 0), (left, left), (0, 0)), constant_values=fill_value)

    y = _resize_axis(x, 1, height, interpolation, antialias)
    y = _resize_axis(y, 2, width, interpolation, antialias)
    if data_format == "channels_first":
        y = transpose(y, (0, 3, 1, 2))
    if source.ndim == 3:
        y = squeeze(y, 0)
    if integer:
        y = saturate_cast(round_half_even(y), source.dtype)
    return convert_to_tensor(y)  # a Tensor even when nothing was resized



# --------------------------------------------------------------------------- affine_transform

AFFINE_INTERPOLATIONS = ("nearest", "bilinear")
FILL_MODES = ("constant", "nearest", "wrap", "mirror", "reflect")


def _fix_indices(index: np.ndarray, size: int, fill_mode: str) -> np.ndarray:
    """Integer indices (any shape) moved inside [0, size) by ``fill_mode``'s extension of the axis.

    For an axis ``0 1 2 3`` (size 4) the extended axis reads, around it:
    ``"nearest"`` ``0 0 | 0 1 2 3 | 3 3``, ``"wrap"`` ``2 3 | 0 1 2 3 | 0 1``,
    ``"mirror"`` (about the edge pixels' centres) ``2 1 | 0 1 2 3 | 2 1``,
    ``"reflect"`` (about the edges) ``1 0 | 0 1 2 3 | 3 2``. ``"constant"``
    clips them as ``"nearest"`` (the caller replaces what they read by the fill value).
    """
    if fill_mode in ("nearest", "constant"):
        return np.clip(index, 0, size - 1)
    if fill_mode == "wrap":
        return index % size
    if fill_mode == "mirror":
        if size == 1:
            return np.zeros_like(index)
        period = 2 * (size - 1)  # a triangle wave of half-period size - 1
        return np.abs((index + size - 1) % period - (size - 1))
    if fill_mode == "reflect":
        # Mirroring about the edges is mirroring about the pixel centres of the axis with
        # every pixel doubled: index i of the axis is pixel 2i + 1 of one of 2 size + 1 cells.
        period = 2 * (2 * size)
        doubled = np.abs((2 * index + 1 + 2 * size) % period - 2 * size)
        return (doubled - 1) // 2
    raise ValueError(f"unknown fill_mode {fill_mode!r}")


def _round_half_away(values: np.ndarray) -> np.ndarray:
    """Round to the nearest integer, halves away from zero (exact: no ``x + 0.5`` rounding)."""
    whole = np.trunc(values)
    return whole + np.where(np.abs(values - whole) >= 0.5, np.sign(values), 0)


def _sample_nodes(coordinate: np.ndarray, interpolation: str) -> list:
    """[(integer index, weight)] of the input pixels that one axis' sample at ``coordinate`` reads."""
    if interpolation == "nearest":
        return [(_round_half_away(coordinate).astype(np.int64), None)]
    lower = np.floor(coordinate)
    upper_weight = coordinate - lower
    index = lower.astype(np.int64)
    return [(index, 1 - upper_weight), (index + 1, upper_weight)]


@keras_op("image")
def affine_transform(images, transform, interpolation="bilinear", fill_mode="constant", fill_value=0,
                     data_format=None):
    """Resample images (N, H, W, C) or (H, W, C) (channels_first: (N, C, H, W), (C, H, W)) through a
    projective map from output to input coordinates; output the input's shape and dtype.

    ``transform`` is (8,) or (N, 8) (one row per image, or one row for all):
    ``[a0, a1, a2, b0, b1, b2, c0, c1]`` sends output pixel (x, y) (x the
    column, y the row, pixel centres at integers) to the input point
    ``((a0 x + a1 y + a2) / k, (b0 x + b1 y + b2) / k)`` with
    ``k = c0 x + c1 y + 1``. ``[1, 0, 0, 0, 1, 0, 0, 0]`` is the identity.

    ``interpolation``: ``"bilinear"`` weighs the 2x2 pixels around the point
    by ``(1 - dx, dx) x (1 - dy, dy)``; ``"nearest"`` reads the pixel at the
    point's coordinates rounded half away from zero. Pixels outside the image
    come from ``fill_mode``: ``"constant"`` reads ``fill_value`` for every
    outside pixel (so bilinear samples near an edge mix it with the edge),
    ``"nearest"``, ``"wrap"``, ``"mirror"``, ``"reflect"`` extend the image as
    :func:`_fix_indices` shows. These are the rules of
    ``jax.scipy.ndimage.map_coordinates``, which Keras's JAX backend calls.

    Computed in float32 (float64 for float64 images); integer images are
    rounded half away from zero back to their dtype. Not differentiable: the
    result is a constant Tensor (augmentation runs before any weight).
    """
    if interpolation not in AFFINE_INTERPOLATIONS:
        raise ValueError(f"affine_transform: `interpolation` must be one of {AFFINE_INTERPOLATIONS}; "
                         f"received interpolation={interpolation!r}")
    if fill_mode not in FILL_MODES:
        raise ValueError(f"affine_transform: `fill_mode` must be one of {FILL_MODES}; received fill_mode={fill_mode!r}")
    data_format = config.standardize_data_format(data_format)
    source = to_array(images)
    if source.ndim not in (3, 4):
        raise ValueError(f"affine_transform: `images` must have rank 3 (one image) or 4 (a batch); "
                         f"received shape {source.shape}")
    work = np.promote_types(source.dtype, np.float32) if source.dtype.kind == "f" else np.dtype(np.float32)
    matrix = to_array(transform).astype(work)
    if matrix.ndim not in (1, 2) or matrix.shape[-1] != 8:
        raise ValueError(f"affine_transform: `transform` must have shape (8,) or (batch, 8); "
                         f"received shape {matrix.shape}")
    x = source if source.ndim == 4 else source[None]
    if data_format == "channels_first":
        x = np.transpose(x, (0, 2, 3, 1))  # (N, C, H, W) -> (N, H, W, C)
    batch, height, width, _ = x.shape
    matrix = matrix.reshape(-1, 8)
    if matrix.shape[0] not in (1, batch):
        raise ValueError(f"affine_transform: `transform` must have one row or one per image ({batch}); "
                         f"received shape {to_array(transform).shape}")
    x = x.astype(work, copy=False)

    a0, a1, a2, b0, b1, b2, c0, c1 = (matrix[:, i, None, None] for i in range(8))  # each (N or 1, 1, 1)
    rows = np.arange(height, dtype=work)[None, :, None]  # (1, H, 1): output y
    cols = np.arange(width, dtype=work)[None, None, :]  # (1, 1, W): output x
    k = c0 * cols + c1 * rows + 1
    source_x = np.broadcast_to((a0 * cols + a1 * rows + a2) / k, (batch, height, width))  # (N, H, W)
    source_y = np.broadcast_to((b0 * cols + b1 * rows + b2) / k, (batch, height, width))

    fill = np.asarray(fill_value, work)
    samples = np.arange(batch)[:, None, None]  # (N, 1, 1)
    output = np.zeros(x.shape, work)
    for row_index, row_weight in _sample_nodes(source_y, interpolation):
        for col_index, col_weight in _sample_nodes(source_x, interpolation):
            # (N, H, W, C): the input pixel each output pixel reads at this corner.
            values = x[samples, _fix_indices(row_index, height, fill_mode), _fix_indices(col_index, width, fill_mode)]
            if fill_mode == "constant":
                inside = (row_index >= 0) & (row_index < height) & (col_index >= 0) & (col_index < width)
                values = np.where(inside[..., None], values, fill)
            if row_weight is not None:
                values = values * (row_weight * col_weight)[..., None]
            output += values

    if data_format == "channels_first":
        output = np.transpose(output, (0, 3, 1, 2))  # (N, H, W, C) -> (N, C, H, W)
    if source.ndim == 3:
        output = output[0]
    if source.dtype.kind in "iub":
        output = _round_half_away(output)
    return convert_to_tensor(output.astype(source.dtype))


# The public ops of this module: every function registered under "image.".
__all__ = [name for name, value in list(globals().items()) if getattr(value, "op_name", "").startswith("image.")]
