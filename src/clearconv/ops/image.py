"""Keras 3's ``keras.ops.image.resize``, differentiable.

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


# The public ops of this module: every function registered under "image.".
__all__ = [name for name, value in list(globals().items()) if getattr(value, "op_name", "").startswith("image.")]
