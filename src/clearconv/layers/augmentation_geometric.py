"""Geometric image augmentation: RandomTranslation, RandomRotation, RandomZoom (Keras's layers).

Inputs are images of rank 4, (batch, height, width, channels), or rank 3, one
image (height, width, channels); ``channels_first`` puts the channels before
height and width. Outputs have the input's shape.

With ``training=True`` each image of the batch gets its own random map,
applied by :func:`clearconv.ops.image.affine_transform` as Keras applies it
(``keras.ops.image.affine_transform``): output pixel (x, y) (x the column, y
the row, pixel centres at integers) reads the input at

* RandomTranslation: ``(x - dx, y - dy)`` with ``dx = f_w * W``, ``dy = f_h * H``,
  ``f_h`` drawn uniformly from ``height_factor``'s range and ``f_w`` from
  ``width_factor``'s (a positive factor moves the content down or right);
* RandomRotation: ``(x, y)`` turned by ``-theta`` about the centre
  ``((W - 1) / 2, (H - 1) / 2)``, ``theta = 360 f`` degrees, ``f`` drawn from
  ``factor``'s range (a positive ``f`` turns the content counter-clockwise as
  displayed, rows downward);
* RandomZoom: ``(c_x + z_w (x - c_x), c_y + z_h (y - c_y))`` about the same
  centre, ``z_h = 1 + f_h`` and ``z_w = 1 + f_w`` (``z_w = z_h`` when
  ``width_factor`` is None): a positive factor zooms out, a negative one in.

A factor given as one number ``f`` is the range ``[-|f|, |f|]``; a pair is the
range between its two numbers. Pixels read outside the image follow
``fill_mode`` (``"reflect"`` by default; ``"constant"`` reads ``fill_value``) and
``interpolation`` (``"bilinear"`` or ``"nearest"``).

With ``training=False`` (``predict``, ``evaluate``) the layers return their input unchanged; a call
that neither gives nor inherits ``training`` augments, as in Keras (their ``call`` defaults to True). The draws come
from each layer's :class:`clearconv.random.SeedGenerator`, seeded by ``seed``:
two layers with the same seed make the same sequence of maps. The maps are
constants of each call and the resampling is not differentiable: these layers
belong before the first layer with weights.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .. import random as clearconv_random
from ..autograd import data_of
from ..ops import image as image_ops
from .augmentation import _AugmentationLayer
from .conv import _check_choice

FILL_MODES = ("reflect", "wrap", "constant", "nearest")
INTERPOLATIONS = ("nearest", "bilinear")


def _check_factor(owner: str, name: str, factor, lower_open: bool = False) -> tuple:
    """``factor`` (a number f, or a pair) as the sorted range (lower, upper), each end in
    [-1, 1] ((-1, 1] when ``lower_open``); ValueError naming ``name`` otherwise."""
    bounds = "(-1.0, 1.0]" if lower_open else "[-1.0, 1.0]"
    message = (f"{owner}: `{name}` must be a number or a pair of numbers in the range {bounds}; "
               f"received {name}={factor!r}")

    def valid(value) -> bool:
        return (not isinstance(value, bool) and isinstance(value, numbers.Real) and
                (-1.0 < value if lower_open else -1.0 <= value) and value <= 1.0)

    if isinstance(factor, (tuple, list)):
        if len(factor) != 2 or not all(valid(v) for v in factor):
            raise ValueError(message)
        lower, upper = sorted(float(v) for v in factor)
        return lower, upper
    if not valid(factor):
        raise ValueError(message)
    return -abs(float(factor)), abs(float(factor))


class _GeometricAugmentation(_AugmentationLayer):
    """Shared arguments and the training-only resampling of the three layers."""

    def __init__(self, fill_mode, interpolation, seed, fill_value, data_format, **kwargs):
        super().__init__(**kwargs)
        self.fill_mode = _check_choice(self.name, "fill_mode", fill_mode, FILL_MODES)
        self.interpolation = _check_choice(self.name, "interpolation", interpolation, INTERPOLATIONS)
        if isinstance(fill_value, bool) or not isinstance(fill_value, numbers.Real):
            raise ValueError(f"{self.name}: `fill_value` must be a number; received fill_value={fill_value!r}")
        self.fill_value = float(fill_value)
        self._init_augmentation(seed, data_format)

    def _draws(self, lower: float, upper: float, count: int) -> np.ndarray:
        """(count,) float32 draws from [lower, upper) (exactly ``lower`` when the range is empty)."""
        return clearconv_random.uniform((count,), lower, upper, dtype="float32", seed=self.generator).data

    def _transforms(self, batch: int, height: int, width: int) -> np.ndarray:
        """(batch, 8) float32 rows for :func:`clearconv.ops.image.affine_transform`."""
        raise NotImplementedError

    def call(self, inputs, training=True):
        if not training:
            return inputs
        images = data_of(inputs)
        self.compute_output_shape(images.shape)
        if images.dtype.kind != "f":
            images = images.astype(np.float32)  # Keras computes integer images in float32 too
        batch = images.shape[0] if images.ndim == 4 else 1
        spatial = images.shape[-3:-1] if self.data_format == "channels_last" else images.shape[-2:]
        transforms = self._transforms(batch, *spatial)
        if images.ndim == 3:
            transforms = transforms[0]
        return image_ops.affine_transform(images, transforms, interpolation=self.interpolation,
                                          fill_mode=self.fill_mode, fill_value=self.fill_value,
                                          data_format=self.data_format)

    def get_config(self) -> dict:
        return {**super().get_config(), "fill_mode": self.fill_mode, "interpolation": self.interpolation,
                "fill_value": self.fill_value}


class RandomTranslation(_GeometricAugmentation):
    """Shift each image by a random fraction of its height and width while training.

    Input and output (batch, H, W, C) or (H, W, C) (``channels_last``), or
    (batch, C, H, W) or (C, H, W). ``height_factor`` and ``width_factor``: a
    number f in [-1, 1] (the range [-|f|, |f|]) or a pair (the range between
    them), fractions of H and W; a positive shift moves the content down
    (right). See the module docstring for the exact map and the fill.
    """

    def __init__(self, height_factor, width_factor, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.height_lower, self.height_upper = _check_factor(self.name, "height_factor", height_factor)
        self.width_lower, self.width_upper = _check_factor(self.name, "width_factor", width_factor)
        self.height_factor, self.width_factor = height_factor, width_factor

    def _transforms(self, batch, height, width):
        # Drawn in Keras's order: every image's vertical shift, then every horizontal one.
        shift_y = self._draws(self.height_lower, self.height_upper, batch) * np.float32(height)
        shift_x = self._draws(self.width_lower, self.width_upper, batch) * np.float32(width)
        rows = np.zeros((batch, 8), np.float32)
        rows[:, 0], rows[:, 2], rows[:, 4], rows[:, 5] = 1, -shift_x, 1, -shift_y
        return rows

    def get_config(self) -> dict:
        return {**super().get_config(), "height_factor": self.height_factor, "width_factor": self.width_factor}


class RandomRotation(_GeometricAugmentation):
    """Rotate each image by a random angle about its centre while training.

    Input and output (batch, H, W, C) or (H, W, C) (``channels_last``), or
    (batch, C, H, W) or (C, H, W). ``factor``: a number f (the range
    [-|f|, |f|]) or a pair, in fractions of a full turn (0.25 is 90 degrees);
    Keras's bounds: a number in [-1, 1], a pair whose lower end is at most 1
    and upper end at least -1. See the module docstring for the exact map.
    """

    def __init__(self, factor, fill_mode="reflect", interpolation="bilinear", seed=None, fill_value=0.0,
                 data_format=None, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        message = (f"{self.name}: `factor` must be a number in [-1.0, 1.0] or a pair of numbers (lower <= 1.0, "
                   f"upper >= -1.0); received factor={factor!r}")

        def number(value) -> bool:
            return not isinstance(value, bool) and isinstance(value, numbers.Real) and math.isfinite(value)

        if isinstance(factor, (tuple, list)):
            if len(factor) != 2 or not all(number(v) for v in factor) or factor[0] > 1 or factor[1] < -1:
                raise ValueError(message)
            self.factor = tuple(sorted(float(v) for v in factor))
        elif number(factor) and -1 <= factor <= 1:
            self.factor = (-abs(float(factor)), abs(float(factor)))
        else:
            raise ValueError(message)

    def _transforms(self, batch, height, width):
        angle = self._draws(self.factor[0] * 360.0, self.factor[1] * 360.0, batch) \
            * np.float32(math.pi / 180.0)  # (batch,) radians, float32 as Keras
        cos, sin = np.cos(angle), np.sin(angle)
        centre_x, centre_y = np.float32(0.5 * (width - 1)), np.float32(0.5 * (height - 1))
        rows = np.zeros((batch, 8), np.float32)
        # Input point = R(theta) (output point - centre) + centre.
        rows[:, 0], rows[:, 1], rows[:, 3], rows[:, 4] = cos, -sin, sin, cos
        rows[:, 2] = centre_x - centre_x * cos + centre_y * sin
        rows[:, 5] = centre_y - centre_x * sin - centre_y * cos
        return rows

    def get_config(self) -> dict:
        return {**super().get_config(), "factor": self.factor}


class RandomZoom(_GeometricAugmentation):
    """Zoom each image in or out about its centre by a random factor while training.

    Input and output (batch, H, W, C) or (H, W, C) (``channels_last``), or
    (batch, C, H, W) or (C, H, W). ``height_factor`` and ``width_factor``: a
    number f in (-1, 1] (the range [-|f|, |f|]) or a pair; the image is read
    at ``1 + f`` times the output's spacing, so a positive factor zooms out.
    ``width_factor=None`` uses the vertical draw for both axes (the aspect
    ratio is kept). See the module docstring for the exact map.
    """

    def __init__(self, height_factor, width_factor=None, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.height_lower, self.height_upper = _check_factor(self.name, "height_factor", height_factor,
                                                             lower_open=True)
        if width_factor is not None:
            self.width_lower, self.width_upper = _check_factor(self.name, "width_factor", width_factor,
                                                               lower_open=True)
        self.height_factor, self.width_factor = height_factor, width_factor

    def _transforms(self, batch, height, width):
        zoom_y = self._draws(1.0 + self.height_lower, 1.0 + self.height_upper, batch)
        zoom_x = zoom_y if self.width_factor is None else \
            self._draws(1.0 + self.width_lower, 1.0 + self.width_upper, batch)
        rows = np.zeros((batch, 8), np.float32)
        rows[:, 0], rows[:, 4] = zoom_x, zoom_y
        rows[:, 2] = np.float32((width - 1) / 2) * (1 - zoom_x)
        rows[:, 5] = np.float32((height - 1) / 2) * (1 - zoom_y)
        return rows

    def get_config(self) -> dict:
        return {**super().get_config(), "height_factor": self.height_factor, "width_factor": self.width_factor}
