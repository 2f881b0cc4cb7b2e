"""Random image augmentation inside the model: RandomFlip, RandomCrop and RandomContrast (Keras's layers).

Inputs are images of rank 4, (batch, height, width, channels), or rank 3, one
image (height, width, channels); ``channels_first`` puts the channels before
height and width. The layers augment when ``training`` is True: under ``fit``,
and, as in Keras, in a call that neither gives nor inherits ``training`` (their
``call`` defaults to True); with ``training=False`` (``predict``, ``evaluate``)
RandomFlip and RandomContrast return the input and RandomCrop returns its
deterministic central crop (see the class).

Each layer draws from a :class:`clearconv.random.SeedGenerator` of its own,
made from ``seed``: two layers with the same seed augment alike, call after
call. Without a seed the generator's seed comes from clearconv's global
generator (:func:`clearconv.utils.set_random_seed`). The draws are NumPy's,
so they differ from Keras's (JAX or TensorFlow generators); what is done with
a draw is Keras's:

* RandomFlip: one uniform draw ``u`` per image; the image is flipped when
  ``u <= 0.5``. ``"horizontal_and_vertical"`` uses the same draw for both
  axes, so an image is either flipped on both (a half turn) or left as it is.
* RandomCrop: one window position per call, shared by the whole batch,
  ``start = floor(uniform(0, size - target + 1))`` on each axis.
* RandomContrast: one factor ``f`` per image, uniform in
  ``[1 - lower, 1 + upper]``, applied to every channel:
  ``clip((x - mean) * f + mean, *value_range)`` with ``mean`` the mean of the
  channel over height and width.

The drawn flip, window and factor are constants of the call: a Tensor input
gets its gradient through the indexing and arithmetic (the layers usually sit
before any weight, where no gradient is needed).
"""

from __future__ import annotations

import numbers

import numpy as np

from .. import random as cc_random
from ..autograd import Tensor
from ..ops import image as image_ops
from ..ops import numpy as cnp
from .conv import _check_choice
from .image_preprocessing import _check_size, _ImageLayer

FLIP_MODES = ("horizontal", "vertical", "horizontal_and_vertical")


def _check_seed(owner: str, seed):
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0):
        raise ValueError(f"{owner}: `seed` must be None or a non-negative integer; received seed={seed!r}")
    return None if seed is None else int(seed)


def _as_tensor_or_array(inputs):
    """Tensors stay Tensors (their gradient is kept); anything else becomes an ndarray."""
    return inputs if isinstance(inputs, Tensor) else np.asarray(inputs)


class _AugmentationLayer(_ImageLayer):
    """Shared handling of ``seed`` (this layer's own generator), ``data_format`` and the rank of the images
    (:class:`~clearconv.layers.image_preprocessing._ImageLayer`'s checks)."""

    def _init_augmentation(self, seed, data_format) -> None:
        self.seed = _check_seed(self.name, seed)
        self.generator = cc_random.SeedGenerator(self.seed)
        self._init_format(data_format)

    def _per_image_shape(self, shape) -> tuple:
        """(N, 1, 1, 1) for a batch, (1, 1, 1) for one image: one draw per image, broadcast over it."""
        return (shape[0], 1, 1, 1) if len(shape) == 4 else (1, 1, 1)

    def _uniform(self, shape, low: float, high: float) -> np.ndarray:
        """float64 draws in [low, high) of ``shape`` from this layer's generator."""
        return cc_random.uniform(shape, minval=low, maxval=high, dtype="float64", seed=self.generator).data

    def compute_output_shape(self, input_shape) -> tuple:
        self._check_input(input_shape)
        return tuple(input_shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "seed": self.seed, "data_format": self.data_format}


class RandomFlip(_AugmentationLayer):
    """Flip images at random while training.

    Input (batch, H, W, C) or (H, W, C) (``channels_last``), or (batch, C, H, W)
    or (C, H, W) (``channels_first``); output the same shape. ``mode`` is
    ``"horizontal"`` (left-right, the width axis reversed), ``"vertical"``
    (top-bottom, the height axis reversed) or ``"horizontal_and_vertical"``
    (default: both reversed together). Each image is flipped with probability
    1/2 (one draw per image; see the module docstring). With
    ``training=False`` the input is returned unchanged.
    """

    def __init__(self, mode="horizontal_and_vertical", seed=None, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.mode = _check_choice(self.name, "mode", mode, FLIP_MODES)
        self._init_augmentation(seed, data_format)

    def call(self, inputs, training=True):
        x = _as_tensor_or_array(inputs)
        self._check_input(x.shape)
        if not training:
            return inputs
        flips = self._uniform(self._per_image_shape(x.shape), 0.0, 1.0) <= 0.5    # (N, 1, 1, 1) or (1, 1, 1)
        height_axis, width_axis = self._spatial_axes(x.ndim)
        axes = {"horizontal": (width_axis,), "vertical": (height_axis,),
                "horizontal_and_vertical": (height_axis, width_axis)}[self.mode]
        reverse = [slice(None)] * x.ndim
        for axis in axes:
            reverse[axis] = slice(None, None, -1)
        return cnp.where(flips, x[tuple(reverse)], x)

    def get_config(self) -> dict:
        return {**super().get_config(), "mode": self.mode}


class RandomCrop(_AugmentationLayer):
    """Cut a random (``height``, ``width``) window of images while training.

    Input (batch, H, W, C) or (H, W, C) (``channels_last``), or (batch, C, H, W)
    or (C, H, W) (``channels_first``); output the same with H, W replaced by
    ``height``, ``width``.

    With ``training=True`` and an image larger than the target on both axes
    (``H > height`` and ``W > width``), the window starts at a random
    ``(i, j)``, ``0 <= i <= H - height``, ``0 <= j <= W - width``, the same for
    the whole batch. Otherwise, as Keras computes it, the window starts at
    ``(int((H - ch) / 2), int((W - cw) / 2))`` with ``ch = clip(int(W * height
    / width), 1, H)`` and ``cw = clip(int(H * width / height), 1, W)``; the
    ``height`` x ``width`` slice from there (cut short by the image's edge) is
    resized bilinearly to the target when it falls short of it.

    With ``training=False`` the output is the largest central window of the
    target's aspect ratio resized bilinearly to the target (Keras's documented
    inference behaviour, :class:`Resizing` with ``crop_to_aspect_ratio=True``),
    so a model's output shape does not depend on ``training``.
    """

    def __init__(self, height, width, seed=None, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.height = _check_size(self.name, "height", height)
        self.width = _check_size(self.name, "width", width)
        self._init_augmentation(seed, data_format)

    def compute_output_shape(self, input_shape) -> tuple:
        return _ImageLayer.compute_output_shape(self, input_shape)   # the target's height and width, as Resizing

    def window_start(self, image_height: int, image_width: int, training: bool) -> tuple:
        """The (row, column) where the training window starts: random when the image is larger
        than the target on both axes, else Keras's central start (see the class docstring)."""
        if training and image_height > self.height and image_width > self.width:
            row, column = (int(np.floor(self._uniform((), 0.0, float(size - target + 1))))
                           for size, target in ((image_height, self.height), (image_width, self.width)))
            # uniform(0, n) may round up to n in float arithmetic; n - 1 is the last valid start.
            return min(row, image_height - self.height), min(column, image_width - self.width)
        crop_height = max(min(image_height, int(image_width * self.height / self.width)), 1)
        crop_width = max(min(image_width, int(image_height * self.width / self.height)), 1)
        return int((image_height - crop_height) / 2), int((image_width - crop_width) / 2)

    def call(self, inputs, training=True):
        x = _as_tensor_or_array(inputs)
        self._check_input(x.shape)
        if not training:
            return image_ops.resize(x, (self.height, self.width), interpolation="bilinear",
                                    crop_to_aspect_ratio=True, data_format=self.data_format)
        height_axis, width_axis = self._spatial_axes(x.ndim)
        row, column = self.window_start(x.shape[height_axis], x.shape[width_axis], training=True)
        index = [slice(None)] * x.ndim
        index[height_axis] = slice(row, row + self.height)
        index[width_axis] = slice(column, column + self.width)
        window = x[tuple(index)]
        if window.shape[height_axis] != self.height or window.shape[width_axis] != self.width:
            window = image_ops.resize(window, (self.height, self.width), interpolation="bilinear",
                                      data_format=self.data_format)
        return window

    def get_config(self) -> dict:
        return {**super().get_config(), "height": self.height, "width": self.width}


def _check_contrast_factor(owner: str, factor) -> tuple:
    """(lower, upper) with the contrast factor drawn from [1 - lower, 1 + upper]."""
    message = (f"{owner}: `factor` must be a number in [0, 1] or a pair (lower, upper) with lower <= 1 and "
               f"upper >= 0 (the factor is drawn from [1 - lower, 1 + upper]); received factor={factor!r}")

    def real(value):
        return not isinstance(value, bool) and isinstance(value, numbers.Real) and np.isfinite(value)

    if isinstance(factor, (tuple, list)):
        if len(factor) != 2 or not all(real(v) for v in factor) or factor[0] > 1 or factor[1] < 0:
            raise ValueError(message)
        lower, upper = sorted(float(v) for v in factor)
        return lower, upper
    if not real(factor) or not 0 <= factor <= 1:
        raise ValueError(message)
    return float(factor), float(factor)


def _check_value_range(owner: str, value_range) -> tuple:
    if not isinstance(value_range, (tuple, list)) or len(value_range) != 2 \
            or any(isinstance(v, bool) or not isinstance(v, numbers.Real) for v in value_range) \
            or not value_range[0] < value_range[1]:
        raise ValueError(f"{owner}: `value_range` must be a pair of numbers (low, high) with low < high, "
                         f"e.g. (0, 255) or (0, 1); received value_range={value_range!r}")
    return float(value_range[0]), float(value_range[1])


class RandomContrast(_AugmentationLayer):
    """Scale the contrast of images by a random factor while training.

    Input (batch, H, W, C) or (H, W, C) (``channels_last``), or (batch, C, H, W)
    or (C, H, W) (``channels_first``); output the same shape, floating point.
    Each image draws a factor ``f`` uniformly in ``[1 - lower, 1 + upper]``;
    each channel ``x`` of it becomes ``clip((x - mean) * f + mean, low, high)``,
    ``mean`` the channel's mean over height and width and ``(low, high) =
    value_range``.

    ``factor``: a number ``a`` in [0, 1] (``lower = upper = a``), or a pair,
    sorted into ``(lower, upper)``, whose first entry is at most 1 and second
    at least 0; e.g. ``(-0.5, 0.5)`` always scales by 1.5. With
    ``training=False`` the input is returned unchanged.
    """

    def __init__(self, factor, value_range=(0, 255), seed=None, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.factor = _check_contrast_factor(self.name, factor)
        self.value_range = _check_value_range(self.name, value_range)
        self._init_augmentation(seed, data_format)

    def call(self, inputs, training=True):
        x = _as_tensor_or_array(inputs)
        self._check_input(x.shape)
        if not training:
            return inputs
        lower, upper = self.factor
        # One factor per image, drawn in float64 and rounded to the image's dtype: (N, 1, 1, 1) or (1, 1, 1).
        factor = self._uniform(self._per_image_shape(x.shape), 1.0 - lower, 1.0 + upper).astype(x.dtype)
        height_axis, width_axis = self._spatial_axes(x.ndim)
        mean = cnp.mean(x, axis=(height_axis, width_axis), keepdims=True)    # (N, 1, 1, C) or (N, C, 1, 1)
        low, high = (np.asarray(v, dtype=x.dtype) for v in self.value_range)
        return cnp.clip((x - mean) * factor + mean, low, high)

    def get_config(self) -> dict:
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range}
