"""Image preprocessing inside the model: Resizing and CenterCrop (Keras's layers and arithmetic).

Inputs are images of rank 4, (batch, height, width, channels), or rank 3, one
image (height, width, channels); ``channels_first`` puts the channels before
height and width. Outputs keep the layout and the rank.

The resampling is :func:`clearconv.ops.image.resize`'s, as Keras's layers
call ``keras.ops.image.resize``: each spatial axis is resampled on its own by
a matrix ``W`` of shape (out, in), ``y[.., o, ..] = sum_i W[o, i] x[.., i, ..]``
(its backward is ``W^T``), with Keras's weights on the jax backend
(``jax.image.resize``), computed in float32 as there (float64 for float64
layers):

* ``"bilinear"``: half-pixel centres. Output cell o samples the input at
  ``s = (o + 0.5) * in / out - 0.5`` with the triangle kernel
  ``max(0, 1 - |s - i| / k)``, each row normalised to sum 1 (so samples
  before the first centre or after the last take the edge cell). ``k = 1``
  (``antialias=False``, PyTorch ``interpolate(mode="bilinear",
  align_corners=False)``); with ``antialias=True`` and downscaling,
  ``k = in / out`` widens the kernel into a low-pass filter.
* ``"nearest"``: output cell o copies input cell ``floor((o + 0.5) * in / out)``,
  computed in float32 as Keras does (PyTorch's ``"nearest-exact"``).

:func:`interpolation_matrix` writes ``W`` out. The crop and pad to the
target's aspect ratio are the op's too. Keras's other interpolations
(bicubic, lanczos, area) are refused by the layer.
"""

from __future__ import annotations

import numbers

import numpy as np

from .. import config
from ..ops import image as image_ops
from ..utils import check_flag
from .base import Layer
from .conv import DATA_FORMATS, _check_choice

INTERPOLATIONS = ("bilinear", "nearest")
# Keras accepts these too; clearconv names them in its refusal.
_OTHER_KERAS_INTERPOLATIONS = ("bicubic", "lanczos3", "lanczos5", "area")


def interpolation_matrix(length: int, size: int, interpolation: str, antialias: bool = False) -> np.ndarray:
    """The (size, length) float64 matrix that resamples an axis of ``length`` cells to ``size`` cells:
    the weights :func:`clearconv.ops.image.resize` applies, written out."""
    return image_ops.resize_weights(length, size, interpolation, antialias)


# --------------------------------------------------------------------------- layers


def _check_size(owner: str, name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 0 < value < 2**63:
        raise ValueError(f"{owner}: `{name}` must be a positive integer; received {name}={value!r}")
    return int(value)


class _ImageLayer(Layer):
    """Shared handling of a (batched or single) image and its target height and width."""

    def _init_image(self, height, width, data_format) -> None:
        self.height = _check_size(self.name, "height", height)
        self.width = _check_size(self.name, "width", width)
        self._init_format(data_format)

    def _init_format(self, data_format) -> None:
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
        self.crop_to_aspect_ratio = check_flag(self.name, "crop_to_aspect_ratio", crop_to_aspect_ratio)
        self.pad_to_aspect_ratio = check_flag(self.name, "pad_to_aspect_ratio", pad_to_aspect_ratio)
        if self.crop_to_aspect_ratio and self.pad_to_aspect_ratio:
            raise ValueError(f"{self.name}: only one of `crop_to_aspect_ratio` and `pad_to_aspect_ratio` can be "
                             f"True; received both True")
        if fill_mode != "constant":
            raise ValueError(f"{self.name}: `fill_mode` must be 'constant' (the padded cells take `fill_value`); "
                             f"received fill_mode={fill_mode!r}")
        if isinstance(fill_value, bool) or not isinstance(fill_value, numbers.Real):
            raise ValueError(f"{self.name}: `fill_value` must be a number; received fill_value={fill_value!r}")
        self.fill_mode, self.fill_value = fill_mode, float(fill_value)
        self.antialias = check_flag(self.name, "antialias", antialias)

    def call(self, inputs, training=None):
        return image_ops.resize(inputs, (self.height, self.width), interpolation=self.interpolation,
                                antialias=self.antialias, crop_to_aspect_ratio=self.crop_to_aspect_ratio,
                                pad_to_aspect_ratio=self.pad_to_aspect_ratio, fill_mode=self.fill_mode,
                                fill_value=self.fill_value, data_format=self.data_format)

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
        # Keras's smart_resize: the largest central window of the target's aspect ratio, resized.
        return image_ops.resize(inputs, (self.height, self.width), interpolation="bilinear",
                                crop_to_aspect_ratio=True, data_format=self.data_format)

    def get_config(self) -> dict:
        return {**super().get_config(), "height": self.height, "width": self.width,
                "data_format": self.data_format}
