"""Pooling layers (Keras names and defaults).

``strides=None`` means ``strides = pool_size``. ``same`` lets windows overhang
the input; padded cells never win a max and are not counted in an average.
"""

from __future__ import annotations

from .. import functional as F
from ..kernels import shapes
from ..utils import check_flag
from .conv import _check_choice, _SpatialLayer


class _Pooling(_SpatialLayer):
    """N-d max or average pooling."""

    _function = None  # F.max_pool or F.avg_pool

    def __init__(self, rank, pool_size, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.rank = rank
        self.pool_size = shapes.normalize_tuple(pool_size, rank, "pool_size", self.name)
        self.strides = shapes.normalize_tuple(strides if strides is not None else self.pool_size, rank,
                                              "strides", self.name)
        self.padding = _check_choice(self.name, "padding", padding, ("valid", "same"))
        self._init_spatial(data_format)

    def _spatial_output(self, spatial) -> tuple:
        return tuple(None if length is None else shapes.pool_output_length(length, p, s, self.padding)
                     for length, p, s in zip(spatial, self.pool_size, self.strides))

    def compute_output_shape(self, input_shape) -> tuple:
        self._check_rank(input_shape)
        spatial = self._spatial_output(self._spatial(input_shape))
        if any(size is not None and size <= 0 for size in spatial):
            raise ValueError(f"{self.name}: pool_size {self.pool_size} is larger than the input of shape "
                             f"{tuple(input_shape)} with padding='{self.padding}'")
        return self._with_spatial(input_shape[0], spatial, input_shape[self._channel_axis()])

    def _check_input(self, input_shape) -> None:
        self.compute_output_shape(input_shape)

    def call(self, inputs, training=None):
        x = self._to_channels_last(inputs)
        pads = [shapes.pool_padding(length, p, s, self.padding)
                for length, p, s in zip(x.shape[1:-1], self.pool_size, self.strides)]
        return self._from_channels_last(type(self)._function(x, self.pool_size, self.strides, pads))

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(pool_size=self.pool_size, strides=self.strides, padding=self.padding,
                      data_format=self.data_format)
        return config


class _MaxPooling(_Pooling):
    _function = staticmethod(F.max_pool)


class _AveragePooling(_Pooling):
    _function = staticmethod(F.avg_pool)


class MaxPooling1D(_MaxPooling):
    """Max over windows of ``pool_size`` steps."""

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(1, pool_size, strides, padding, data_format, **kwargs)


class MaxPooling2D(_MaxPooling):
    """Max over ``pool_size`` windows; (N, 28, 28, C) -> (N, 14, 14, C) with the default 2x2."""

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(2, pool_size, strides, padding, data_format, **kwargs)


class MaxPooling3D(_MaxPooling):
    def __init__(self, pool_size=(2, 2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(3, pool_size, strides, padding, data_format, **kwargs)


class AveragePooling1D(_AveragePooling):
    """Mean over windows; ``pool_size`` is required, as in Keras."""

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(1, pool_size, strides, padding, data_format, **kwargs)


class AveragePooling2D(_AveragePooling):
    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(2, pool_size, strides, padding, data_format, **kwargs)


class AveragePooling3D(_AveragePooling):
    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(3, pool_size, strides, padding, data_format, **kwargs)


class _GlobalPooling(_SpatialLayer):
    """Reduce every spatial axis: (N, *S, C) -> (N, C), or (N, 1, .., 1, C) with keepdims."""

    _function = None

    def __init__(self, rank, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.rank = rank
        self._init_spatial(data_format)
        self.keepdims = check_flag(self.name, "keepdims", keepdims)

    def compute_output_shape(self, input_shape) -> tuple:
        self._check_rank(input_shape)
        channels = input_shape[self._channel_axis()]
        if self.keepdims:
            return self._with_spatial(input_shape[0], (1,) * self.rank, channels)
        return (input_shape[0], channels)

    def _check_input(self, input_shape) -> None:
        self._check_rank(input_shape)

    def call(self, inputs, training=None):
        y = type(self)._function(self._to_channels_last(inputs), self.keepdims)
        return self._from_channels_last(y) if self.keepdims else y

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(data_format=self.data_format, keepdims=self.keepdims)
        return config


class _GlobalMax(_GlobalPooling):
    _function = staticmethod(F.global_max_pool)


class _GlobalAverage(_GlobalPooling):
    _function = staticmethod(F.global_avg_pool)


class GlobalMaxPooling1D(_GlobalMax):
    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(1, data_format, keepdims, **kwargs)


class GlobalMaxPooling2D(_GlobalMax):
    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(2, data_format, keepdims, **kwargs)


class GlobalMaxPooling3D(_GlobalMax):
    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(3, data_format, keepdims, **kwargs)


class GlobalAveragePooling1D(_GlobalAverage):
    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(1, data_format, keepdims, **kwargs)


class GlobalAveragePooling2D(_GlobalAverage):
    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(2, data_format, keepdims, **kwargs)


class GlobalAveragePooling3D(_GlobalAverage):
    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(3, data_format, keepdims, **kwargs)


MaxPool1D, MaxPool2D, MaxPool3D = MaxPooling1D, MaxPooling2D, MaxPooling3D
AvgPool1D, AvgPool2D, AvgPool3D = AveragePooling1D, AveragePooling2D, AveragePooling3D
GlobalMaxPool1D, GlobalMaxPool2D, GlobalMaxPool3D = GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalMaxPooling3D
GlobalAvgPool1D, GlobalAvgPool2D, GlobalAvgPool3D = (GlobalAveragePooling1D, GlobalAveragePooling2D,
                                                     GlobalAveragePooling3D)
