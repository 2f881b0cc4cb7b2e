"""ZeroPadding, Cropping and UpSampling in 1D, 2D and 3D (Keras arguments)."""

from __future__ import annotations

import numpy as np

from .. import functional as F
from ..kernels import shapes
from .conv import _check_choice, _SpatialLayer


def _pairs(value, rank: int, name: str, owner: str) -> tuple:
    """Keras's forms: int (same on every side), one int per axis, or (before, after) per axis."""
    def is_int(v):
        return isinstance(v, (int, np.integer)) and not isinstance(v, bool)

    received = value
    pairs = None
    if is_int(value):
        pairs = ((value, value),) * rank
    elif isinstance(value, (tuple, list)):
        if rank == 1 and len(value) == 2 and all(is_int(v) for v in value):
            pairs = (tuple(value),)
        elif all(is_int(v) or (isinstance(v, (tuple, list)) and len(v) == 2 and all(is_int(w) for w in v))
                 for v in value):
            pairs = tuple((v, v) if is_int(v) else tuple(v) for v in value)
    if pairs is None or len(pairs) != rank or any(min(p) < 0 for p in pairs):
        raise ValueError(f"{owner}: `{name}` must be an int, {rank} ints, or {rank} (before, after) pairs of "
                         f"non-negative ints; received {name}={received!r}")
    return tuple((int(a), int(b)) for a, b in pairs)


class _ZeroPadding(_SpatialLayer):
    """Add rows/columns of zeros around the spatial axes."""

    def __init__(self, rank, padding, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.rank = rank
        self.padding = _pairs(padding, rank, "padding", self.name)
        self._init_spatial(data_format)

    def compute_output_shape(self, input_shape) -> tuple:
        self._check_rank(input_shape)
        spatial = tuple(None if n is None else n + a + b for n, (a, b) in zip(self._spatial(input_shape), self.padding))
        return self._with_spatial(input_shape[0], spatial, input_shape[self._channel_axis()])

    def _check_input(self, input_shape) -> None:
        self._check_rank(input_shape)

    def call(self, inputs, training=None):
        return self._from_channels_last(F.zero_pad(self._to_channels_last(inputs), self.padding))

    def get_config(self) -> dict:
        return {**super().get_config(), "padding": self.padding, "data_format": self.data_format}


class ZeroPadding1D(_ZeroPadding):
    def __init__(self, padding=1, data_format=None, **kwargs):
        super().__init__(1, padding, data_format, **kwargs)


class ZeroPadding2D(_ZeroPadding):
    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(2, padding, data_format, **kwargs)


class ZeroPadding3D(_ZeroPadding):
    def __init__(self, padding=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        super().__init__(3, padding, data_format, **kwargs)


class _Cropping(_SpatialLayer):
    """Remove rows/columns from the borders of the spatial axes."""

    def __init__(self, rank, cropping, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.rank = rank
        self.cropping = _pairs(cropping, rank, "cropping", self.name)
        self._init_spatial(data_format)

    def compute_output_shape(self, input_shape) -> tuple:
        self._check_rank(input_shape)
        spatial = tuple(None if n is None else n - a - b for n, (a, b) in zip(self._spatial(input_shape), self.cropping))
        if any(n is not None and n <= 0 for n in spatial):
            raise ValueError(f"{self.name}: cropping={self.cropping} removes everything from an input of shape "
                             f"{tuple(input_shape)}")
        return self._with_spatial(input_shape[0], spatial, input_shape[self._channel_axis()])

    def _check_input(self, input_shape) -> None:
        self.compute_output_shape(input_shape)

    def call(self, inputs, training=None):
        return self._from_channels_last(F.crop(self._to_channels_last(inputs), self.cropping))

    def get_config(self) -> dict:
        return {**super().get_config(), "cropping": self.cropping, "data_format": self.data_format}


class Cropping1D(_Cropping):
    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(1, cropping, **kwargs)


class Cropping2D(_Cropping):
    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(2, cropping, data_format, **kwargs)


class Cropping3D(_Cropping):
    def __init__(self, cropping=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        super().__init__(3, cropping, data_format, **kwargs)


class _UpSampling(_SpatialLayer):
    """Repeat (``nearest``) or interpolate (``bilinear``, 1D/2D) each spatial axis by an integer factor."""

    def __init__(self, rank, size, data_format=None, interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        self.rank = rank
        self.size = shapes.normalize_tuple(size, rank, "size", self.name)
        self._init_spatial(data_format)
        accepted = ("nearest", "bilinear") if rank == 2 else ("nearest",)
        self.interpolation = _check_choice(self.name, "interpolation", interpolation, accepted)

    def compute_output_shape(self, input_shape) -> tuple:
        self._check_rank(input_shape)
        spatial = tuple(None if n is None else n * s for n, s in zip(self._spatial(input_shape), self.size))
        return self._with_spatial(input_shape[0], spatial, input_shape[self._channel_axis()])

    def _check_input(self, input_shape) -> None:
        self._check_rank(input_shape)

    def call(self, inputs, training=None):
        x = self._to_channels_last(inputs)
        upsample = F.upsample_bilinear if self.interpolation == "bilinear" else F.upsample_nearest
        return self._from_channels_last(upsample(x, self.size))

    def get_config(self) -> dict:
        return {**super().get_config(), "size": self.size, "data_format": self.data_format,
                "interpolation": self.interpolation}


class UpSampling1D(_UpSampling):
    def __init__(self, size=2, **kwargs):
        super().__init__(1, size, **kwargs)


class UpSampling2D(_UpSampling):
    """Nearest (default) or bilinear (half-pixel centres, as Keras and PyTorch align_corners=False)."""

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(2, size, data_format, interpolation, **kwargs)


class UpSampling3D(_UpSampling):
    def __init__(self, size=(2, 2, 2), data_format=None, **kwargs):
        super().__init__(3, size, data_format, **kwargs)
