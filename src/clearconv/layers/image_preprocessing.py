"""Image preprocessing inside the model: Resizing and CenterCrop (Keras's layers and arithmetic).

Inputs are images of rank 4, (batch, height, width, channels), or rank 3, one
image (height, width, channels); ``channels_first`` puts the channels before
height and width. Outputs keep the layout and the rank.

Resizing is separable: each spatial axis is resampled on its own by a small
matrix ``W`` of shape (out, in), ``y[.., o, ..] = sum_i W[o, i] x[.., i, ..]``,
so the backward of each axis is ``W^T``. The matrices are Keras's on the jax
backend (``jax.image.resize``), built in float64:

* ``"bilinear"``: half-pixel centres. Output cell o samples the input at
  ``s = (o + 0.5) * in / out - 0.5`` with the triangle kernel
  ``max(0, 1 - |s - i| / k)``, each row normalised to sum 1 (so samples
  before the first centre or after the last take the edge cell). ``k = 1``
  (``antialias=False``, PyTorch ``interpolate(mode="bilinear",
  align_corners=False)``); with ``antialias=True`` and downscaling,
  ``k = in / out`` widens the kernel into a low-pass filter.
* ``"nearest"``: output cell o copies input cell ``floor((o + 0.5) * in / out)``,
  computed in float32 as Keras does (PyTorch's ``"nearest-exact"``).

Keras computes the bilinear weights in float32: outputs agree to float32
rounding. Keras's other interpolations (bicubic, lanczos, area) are refused.
"""

from __future__ import annotations

import numbers

import numpy as np

from .. import config
from ..autograd import data_of, record
from .base import Layer
from .conv import DATA_FORMATS, _check_choice

INTERPOLATIONS = ("bilinear", "nearest")
# Keras accepts these too; clearconv names them in its refusal.
_OTHER_KERAS_INTERPOLATIONS = ("bicubic", "lanczos3", "lanczos5", "area")


# --------------------------------------------------------------------------- resampling matrices


def interpolation_matrix(length: int, size: int, interpolation: str, antialias: bool = False) -> np.ndarray:
    """The (size, length) float64 matrix that resamples an axis of ``length`` cells to ``size`` cells."""
    if interpolation == "nearest":
        matrix = np.zeros((size, length))
        matrix[np.arange(size), nearest_indices(length, size)] = 1.0
        return matrix
    scale = length / size                                          # input cells per output cell
    sample = (np.arange(size) + 0.5) * scale - 0.5                 # (size,) source position of each output
    width = max(scale, 1.0) if antialias else 1.0
    # (size, 1) - (1, length) -> (size, length): the triangle kernel at every (output, input) pair.
    weights = np.maximum(0.0, 1.0 - np.abs(sample[:, None] - np.arange(length)[None, :]) / width)
    # Every sample lies in [-0.5, length - 0.5], within 0.5 of a cell centre, so each row sum is >= 0.5.
    return weights / weights.sum(axis=1, keepdims=True)


def nearest_indices(length: int, size: int) -> np.ndarray:
    """(size,) input cell of each output cell: ``floor((o + 0.5) * length / size)`` in float32."""
    # The float32 arithmetic is Keras's (jax.image.resize); it decides the cells at exact ties.
    position = (np.arange(size, dtype=np.float32) + np.float32(0.5)) * np.float32(length) / np.float32(size)
    return np.minimum(np.floor(position).astype(np.intp), length - 1)


def _contract(matrix: np.ndarray, x: np.ndarray, axis: int) -> np.ndarray:
    """``matrix`` (out, in) applied to ``axis`` (length in) of ``x``: that axis becomes length out."""
    # (out, in) . (.., in, ..) -> (out, ..) -> (.., out, ..)
    y = np.tensordot(matrix.astype(x.dtype, copy=False), x, axes=([1], [axis]))
    return np.ascontiguousarray(np.moveaxis(y, 0, axis))


def resize_axis(x, axis: int, size: int, interpolation: str = "bilinear", antialias: bool = False):
    """Resample ``axis`` (non-negative) of ``x`` to ``size`` cells; differentiable.

    Forward ``W x`` along the axis (nearest: a gather of the chosen cells, so a
    NaN or inf stays in its cell); backward ``W^T g``.
    """
    data = data_of(x)
    length = data.shape[axis]
    if interpolation == "nearest":
        y = data.take(nearest_indices(length, size), axis=axis)
        # The matrix is only built if a backward pass asks for it.
        return record(y, (x,), lambda g: (_contract(interpolation_matrix(length, size, "nearest").T, g, axis),))
    matrix = interpolation_matrix(length, size, interpolation, antialias)
    return record(_contract(matrix, data, axis), (x,), lambda g: (_contract(matrix.T, g, axis),))


def pad_constant(x, pads: dict, value: float):
    """Add ``(before, after)`` cells of ``value`` on the axes of ``pads`` ({axis: (before, after)});
    the backward crops the gradient back."""
    data = data_of(x)
    shape, inside = list(data.shape), [slice(None)] * data.ndim
    for axis, (before, after) in pads.items():
        shape[axis] += before + after
        inside[axis] = slice(before, before + data.shape[axis])
    inside = tuple(inside)
    y = np.full(shape, value, dtype=data.dtype)
    y[inside] = data
    return record(y, (x,), lambda g: (np.ascontiguousarray(g[inside]),))


# --------------------------------------------------------------------------- aspect-ratio windows


def crop_to_aspect_ratio(x, axes: tuple, height: int, width: int):
    """The largest central window of ``x`` with the aspect ratio height:width (Keras's arithmetic,
    including its truncations); ``x`` itself when no cell is cut."""
    h, w = x.shape[axes[0]], x.shape[axes[1]]
    crop_h = max(min(h, int(float(w * height) / width)), 1)
    crop_w = max(min(w, int(float(h * width) / height)), 1)
    if (crop_h, crop_w) == (h, w):
        return x
    top, left = int(float(h - crop_h) / 2), int(float(w - crop_w) / 2)
    index = [slice(None)] * x.ndim
    index[axes[0]], index[axes[1]] = slice(top, top + crop_h), slice(left, left + crop_w)
    return x[tuple(index)]


def pad_to_aspect_ratio(x, axes: tuple, height: int, width: int, fill_value: float):
    """Pad the short side of ``x`` evenly with ``fill_value`` towards the aspect ratio height:width.

    Keras's arithmetic: the padding on each side is ``int((padded - h) / 2)``,
    the same before and after, so an odd difference leaves the ratio one cell off.
    """
    h, w = x.shape[axes[0]], x.shape[axes[1]]
    padded_h = max(h, int(float(w * height) / width))
    padded_w = max(w, int(float(h * width) / height))
    top, left = int(float(padded_h - h) / 2), int(float(padded_w - w) / 2)
    if top > 0:
        return pad_constant(x, {axes[0]: (top, top)}, fill_value)
    if left > 0:
        return pad_constant(x, {axes[1]: (left, left)}, fill_value)
    return x


def resize(x, axes: tuple, size: tuple, interpolation: str, antialias: bool = False):
    """Resample the two spatial ``axes`` of ``x`` to ``size`` (height, width), one axis at a time."""
    for axis, length in zip(axes, size):
        if x.shape[axis] != length:  # an axis kept at its size is left exactly as it is
            x = resize_axis(x, axis, length, interpolation, antialias)
    return x


# --------------------------------------------------------------------------- layers


def _check_size(owner: str, name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{owner}: `{name}` must be a positive integer; received {name}={value!r}")
    return int(value)


def _check_flag(owner: str, name: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{owner}: `{name}` must be True or False; received {name}={value!r}")
    return bool(value)


class _ImageLayer(Layer):
    """Shared handling of a (batched or single) image and its target height and width."""

    def _init_image(self, height, width, data_format) -> None:
        self.height = _check_size(self.name, "height", height)
        self.width = _check_size(self.name, "width", width)
        self.data_format = _check_choice(self.name, "data_format", data_format or config.image_data_format(),
                                         DATA_FORMATS)

    def _spatial_axes(self, ndim: int) -> tuple:
        """(height axis, width axis), counted from the end as the batch axis is optional."""
        return (ndim - 3, ndim - 2) if self.data_format == "channels_last" else (ndim - 2, ndim - 1)

    def _check_input(self, input_shape) -> None:
        if len(input_shape) not in (3, 4):
            layout = "height, width, channels" if self.data_format == "channels_last" \
                else "channels, height, width"
            raise ValueError(f"{self.name}: expected images of rank 4 (batch, {layout}) or rank 3 ({layout}); "
                             f"received shape {tuple(input_shape)}")

    def compute_output_shape(self, input_shape) -> tuple:
        self._check_input(input_shape)
        shape = list(input_shape)
        height_axis, width_axis = self._spatial_axes(len(shape))
        shape[height_axis], shape[width_axis] = self.height, self.width
        return tuple(shape)


class Resizing(_ImageLayer):
    """Resize images to (``height``, ``width``).

    Input (batch, H, W, C) or (H, W, C) (``channels_last``), or (batch, C, H, W)
    or (C, H, W) (``channels_first``); output the same with H, W replaced by
    ``height``, ``width``. ``interpolation`` is ``"bilinear"`` (default) or
    ``"nearest"`` (see the module docstring for the exact sampling).

    ``crop_to_aspect_ratio=True`` first cuts the largest central window with
    the target's aspect ratio; ``pad_to_aspect_ratio=True`` first pads the short
    side evenly with ``fill_value`` (``fill_mode`` must be ``"constant"``, the
    only mode Keras has). Differentiable with respect to the input.
    """

    def __init__(self, height, width, interpolation="bilinear", crop_to_aspect_ratio=False,
                 pad_to_aspect_ratio=False, fill_mode="constant", fill_value=0.0, antialias=False,
                 data_format=None, **kwargs):
        super().__init__(**kwargs)
        self._init_image(height, width, data_format)
        if interpolation not in INTERPOLATIONS:
            known = f" ({interpolation!r} is a Keras interpolation that clearconv does not implement)" \
                if interpolation in _OTHER_KERAS_INTERPOLATIONS else ""
            raise ValueError(f"{self.name}: `interpolation` must be one of {INTERPOLATIONS}{known}; "
                             f"received interpolation={interpolation!r}")
        self.interpolation = interpolation
        self.crop_to_aspect_ratio = _check_flag(self.name, "crop_to_aspect_ratio", crop_to_aspect_ratio)
        self.pad_to_aspect_ratio = _check_flag(self.name, "pad_to_aspect_ratio", pad_to_aspect_ratio)
        if self.crop_to_aspect_ratio and self.pad_to_aspect_ratio:
            raise ValueError(f"{self.name}: only one of `crop_to_aspect_ratio` and `pad_to_aspect_ratio` can be "
                             f"True; received both True")
        if fill_mode != "constant":
            raise ValueError(f"{self.name}: `fill_mode` must be 'constant' (the padded cells take `fill_value`); "
                             f"received fill_mode={fill_mode!r}")
        if isinstance(fill_value, bool) or not isinstance(fill_value, numbers.Real):
            raise ValueError(f"{self.name}: `fill_value` must be a number; received fill_value={fill_value!r}")
        self.fill_mode, self.fill_value = fill_mode, float(fill_value)
        self.antialias = _check_flag(self.name, "antialias", antialias)

    def call(self, inputs, training=None):
        axes = self._spatial_axes(inputs.ndim)
        if self.crop_to_aspect_ratio:
            inputs = crop_to_aspect_ratio(inputs, axes, self.height, self.width)
        elif self.pad_to_aspect_ratio:
            inputs = pad_to_aspect_ratio(inputs, axes, self.height, self.width, self.fill_value)
        return resize(inputs, axes, (self.height, self.width), self.interpolation, self.antialias)

    def get_config(self) -> dict:
        return {**super().get_config(), "height": self.height, "width": self.width,
                "interpolation": self.interpolation, "crop_to_aspect_ratio": self.crop_to_aspect_ratio,
                "pad_to_aspect_ratio": self.pad_to_aspect_ratio, "fill_mode": self.fill_mode,
                "fill_value": self.fill_value, "antialias": self.antialias, "data_format": self.data_format}


class CenterCrop(_ImageLayer):
    """Cut the central (``height``, ``width``) window of images.

    Input (batch, H, W, C) or (H, W, C) (``channels_last``), or (batch, C, H, W)
    or (C, H, W) (``channels_first``); output the same with H, W replaced by
    ``height``, ``width``. The window starts at ``(H - height) // 2`` and
    ``(W - width) // 2``. An image smaller than the target on either axis is
    handled as Keras does: its largest central window with the target's aspect
    ratio is resized bilinearly to the target. Differentiable with respect to
    the input.
    """

    def __init__(self, height, width, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self._init_image(height, width, data_format)

    def call(self, inputs, training=None):
        axes = self._spatial_axes(inputs.ndim)
        extra_h = inputs.shape[axes[0]] - self.height
        extra_w = inputs.shape[axes[1]] - self.width
        if extra_h >= 0 and extra_w >= 0:
            index = [slice(None)] * inputs.ndim
            index[axes[0]] = slice(extra_h // 2, extra_h // 2 + self.height)
            index[axes[1]] = slice(extra_w // 2, extra_w // 2 + self.width)
            return inputs[tuple(index)]
        window = crop_to_aspect_ratio(inputs, axes, self.height, self.width)
        return resize(window, axes, (self.height, self.width), "bilinear")

    def get_config(self) -> dict:
        return {**super().get_config(), "height": self.height, "width": self.width,
                "data_format": self.data_format}
