"""Convolution layers with Keras's names, arguments, defaults and weight layouts.

One N-d implementation per family; Conv1D/2D/3D and friends only fix the rank.

Kernel layouts (Keras):
    ConvND            (*kernel_size, in_channels // groups, filters)
    ConvNDTranspose   (*kernel_size, filters, in_channels)
    DepthwiseConvND   (*kernel_size, in_channels, depth_multiplier)
    SeparableConvND   depthwise (*kernel_size, in, dm), pointwise (1,..,1, in*dm, filters)
"""

from __future__ import annotations

import numbers

from .. import activations
from .. import functional as F
from ..config import image_data_format
from ..kernels import conv as conv_ops
from ..kernels import shapes
from ..utils import check_flag
from .base import Layer, resolve_identifier, serialize

DATA_FORMATS = ("channels_last", "channels_first")


def _check_choice(owner: str, name: str, value, accepted) -> str:
    if not isinstance(value, str) or value.lower() not in accepted:
        raise ValueError(f"{owner}: `{name}` must be one of {tuple(accepted)}; received {name}={value!r}")
    return value.lower()


def _check_positive_int(owner: str, name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 0 < value <= shapes.MAX_SIZE:
        raise ValueError(f"{owner}: `{name}` must be a positive integer; received {name}={value!r}")
    return int(value)


class _SpatialLayer(Layer):
    """Shared input handling: rank, data_format, channel axis."""

    rank: int = 2

    def _init_spatial(self, data_format) -> None:
        self.data_format = _check_choice(self.name, "data_format", data_format or image_data_format(), DATA_FORMATS)

    def _channel_axis(self) -> int:
        return -1 if self.data_format == "channels_last" else 1

    def _spatial(self, shape) -> tuple:
        return tuple(shape[1:-1]) if self.data_format == "channels_last" else tuple(shape[2:])

    def _with_spatial(self, batch, spatial, channels) -> tuple:
        if self.data_format == "channels_last":
            return (batch, *spatial, channels)
        return (batch, channels, *spatial)

    def _check_rank(self, input_shape) -> None:
        if len(input_shape) != self.rank + 2:
            layout = "(batch, *spatial, channels)" if self.data_format == "channels_last" else "(batch, channels, *spatial)"
            raise ValueError(f"{self.name}: expected an input of rank {self.rank + 2} {layout}; "
                             f"received shape {tuple(input_shape)}")

    def _to_channels_last(self, x):
        if self.data_format == "channels_last":
            return x
        return x.transpose(0, *range(2, self.rank + 2), 1)

    def _from_channels_last(self, y):
        if self.data_format == "channels_last":
            return y
        return y.transpose(0, self.rank + 1, *range(1, self.rank + 1))


class _BaseConv(_SpatialLayer):
    """Arguments and checks shared by every convolution layer."""

    def __init__(self, rank, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.rank = rank
        owner = self.name
        self.filters = None if filters is None else _check_positive_int(owner, "filters", filters)
        self.kernel_size = shapes.normalize_tuple(kernel_size, rank, "kernel_size", owner)
        self.strides = shapes.normalize_tuple(strides, rank, "strides", owner)
        self.dilation_rate = shapes.normalize_tuple(dilation_rate, rank, "dilation_rate", owner)
        modes = ("valid", "same", "causal") if rank == 1 and self._allows_causal else ("valid", "same")
        self.padding = _check_choice(owner, "padding", padding, modes)
        self._init_spatial(data_format)
        self.groups = _check_positive_int(owner, "groups", groups)
        if self.filters is not None and self.filters % self.groups:
            raise ValueError(f"{owner}: the number of filters must be divisible by the number of groups; "
                             f"received groups={groups}, filters={filters}")
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(f"{owner}: `strides > 1` not supported in conjunction with `dilation_rate > 1`; "
                             f"received strides={self.strides} and dilation_rate={self.dilation_rate}")
        self.activation = resolve_identifier(owner, "activation", activations.get, activation)
        self.use_bias = check_flag(owner, "use_bias", use_bias)
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self.kernel_regularizer = kernel_regularizer
        self.bias_regularizer = bias_regularizer
        self.kernel_constraint = kernel_constraint
        self.bias_constraint = bias_constraint
        from .. import constraints, initializers, regularizers
        self.activity_regularizer = resolve_identifier(owner, "activity_regularizer", regularizers.get,
                                                       activity_regularizer)
        # Resolve names now so a typo fails at construction, not at the first call; errors
        # name the argument as the user spelled it (depthwise_* for depthwise layers).
        for kind, getter in (("initializer", initializers.get), ("regularizer", regularizers.get),
                             ("constraint", constraints.get)):
            resolve_identifier(owner, f"{self._kernel_argument}_{kind}", getter, getattr(self, f"kernel_{kind}"))
            resolve_identifier(owner, f"bias_{kind}", getter, getattr(self, f"bias_{kind}"))

    _allows_causal = True
    _kernel_argument = "kernel"

    def _input_channels(self, input_shape) -> int:
        self._check_rank(input_shape)
        channels = input_shape[self._channel_axis()]
        if channels is None:
            raise ValueError(f"{self.name}: the channel dimension of the inputs must be known; "
                             f"received shape {tuple(input_shape)}")
        if channels < 1:
            raise ValueError(f"{self.name}: the inputs must have at least 1 channel; "
                             f"received shape {tuple(input_shape)}")
        return int(channels)

    def _pads(self, spatial) -> list:
        return [shapes.conv_padding(length, k, s, d, self.padding)
                for length, k, s, d in zip(spatial, self.kernel_size, self.strides, self.dilation_rate)]

    def _conv_spatial_output(self, spatial) -> tuple:
        return tuple(None if length is None else shapes.conv_output_length(length, k, s, d, self.padding)
                     for length, k, s, d in zip(spatial, self.kernel_size, self.strides, self.dilation_rate))

    def _check_output_size(self, input_shape, spatial_output) -> None:
        if any(size is not None and size <= 0 for size in spatial_output):
            raise ValueError(f"{self.name}: computed output size would be zero or negative: the kernel "
                             f"{self.kernel_size} (dilation {self.dilation_rate}) is larger than the padded "
                             f"input of shape {tuple(input_shape)} with padding='{self.padding}'")

    def _add_bias(self, size: int) -> None:
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight((size,), self.bias_initializer, name="bias",
                                        regularizer=self.bias_regularizer, constraint=self.bias_constraint)

    def _finish(self, y):
        # The activation sees the output in the layer's data_format, as in Keras: softmax over the
        # last axis is over a spatial axis for channels_first, not over the channels.
        return self.activation(self._from_channels_last(y))

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            kernel_size=self.kernel_size, strides=self.strides, padding=self.padding,
            data_format=self.data_format, dilation_rate=self.dilation_rate,
            activation=activations.serialize(self.activation), use_bias=self.use_bias,
            bias_initializer=serialize(self.bias_initializer), bias_regularizer=serialize(self.bias_regularizer),
            activity_regularizer=serialize(self.activity_regularizer),
            bias_constraint=serialize(self.bias_constraint),
            kernel_initializer=serialize(self.kernel_initializer),
            kernel_regularizer=serialize(self.kernel_regularizer),
            kernel_constraint=serialize(self.kernel_constraint),
        )
        return config


class _Conv(_BaseConv):
    """N-d convolution layer (Conv1D, Conv2D, Conv3D).

    Beyond Keras's arguments, ``algorithm`` picks how the convolution is
    computed: "auto", "im2col", "winograd2" (F(2x2, 3x3), or F(2, 3) in 1D),
    "winograd4" (F(4x4, 3x3) / F(4, 3); "winograd" is another name for it),
    "fft" or "direct"; None follows
    :func:`clearconv.kernels.conv.set_default_algorithm`. The result is the same
    function whichever is used, up to float rounding, whose bound per algorithm
    :mod:`clearconv.kernels.conv.choice` states; "auto" keeps 1e-5 of the
    output's magnitude in float32, and picks by shape alone, so a NumPy input
    and a Tensor input give the same output.
    """

    def __init__(self, *args, algorithm=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.algorithm = None if algorithm is None else conv_ops.check_algorithm(algorithm, self.name)

    def build(self, input_shape) -> None:
        channels = self._input_channels(input_shape)
        if channels % self.groups:
            raise ValueError(f"{self.name}: the number of input channels must be divisible by groups; "
                             f"received groups={self.groups}, input channels={channels}")
        self.input_channels = channels
        self.kernel = self.add_weight((*self.kernel_size, channels // self.groups, self.filters),
                                      self.kernel_initializer, name="kernel", regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self._add_bias(self.filters)
        self.built = True

    def _check_input(self, input_shape) -> None:
        channels = self._input_channels(input_shape)
        if channels != self.input_channels:
            raise ValueError(f"{self.name}: expected {self.input_channels} input channels (the built kernel "
                             f"has shape {self.kernel.shape}); received an input of shape {tuple(input_shape)}")
        self._check_output_size(input_shape, self._conv_spatial_output(self._spatial(input_shape)))

    def compute_output_shape(self, input_shape) -> tuple:
        self._check_rank(input_shape)
        spatial = self._conv_spatial_output(self._spatial(input_shape))
        self._check_output_size(input_shape, spatial)
        return self._with_spatial(input_shape[0], spatial, self.filters)

    def algorithm_for(self, input_shape) -> str:
        """The algorithm this layer's convolution runs on inputs of ``input_shape`` (layer's data_format).

        The same whether or not a backward pass follows. A batch size of None
        (Keras's ``(None, ...)`` shapes) counts as one sample.
        """
        spatial = self._spatial(input_shape)
        padded = tuple(length + before + after for length, (before, after) in zip(spatial, self._pads(spatial)))
        channels = self._input_channels(input_shape)
        kernel_shape = (*self.kernel_size, channels // self.groups, self.filters)
        batch = 1 if input_shape[0] is None else input_shape[0]
        return conv_ops.resolve_algorithm(self.algorithm, (batch, *padded, channels), kernel_shape,
                                          self.strides, self.dilation_rate, self.groups)

    def call(self, inputs, training=None):
        x = self._to_channels_last(inputs)
        # relu is element-wise, so it can run inside the conv's output pass whatever the data_format.
        fused = "relu" if activations.builtin_name(self.activation) == "relu" else None
        y = F.conv(x, self.kernel, self.bias, self.strides, self._pads(x.shape[1:-1]),
                   self.dilation_rate, self.groups, algorithm=self.algorithm, activation=fused)
        return self._from_channels_last(y) if fused else self._finish(y)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(filters=self.filters, groups=self.groups)
        if self.algorithm is not None:  # not a Keras argument: only written when set
            config["algorithm"] = self.algorithm
        return config


class Conv1D(_Conv):
    """1D convolution over (batch, steps, channels); padding may also be ``"causal"``."""

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 groups=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(1, filters, kernel_size, strides, padding, data_format, dilation_rate, groups,
                         activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
                         bias_regularizer, activity_regularizer, kernel_constraint, bias_constraint, **kwargs)


class Conv2D(_Conv):
    """2D convolution over (batch, height, width, channels).

    Example: ``Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1))``
    maps (1, 28, 28, 1) to (1, 26, 26, 32) with 3*3*1*32 + 32 = 320 parameters.
    """

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, **kwargs):
        super().__init__(2, filters, kernel_size, strides, padding, data_format, dilation_rate, groups,
                         activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
                         bias_regularizer, activity_regularizer, kernel_constraint, bias_constraint, **kwargs)


class Conv3D(_Conv):
    """3D convolution over (batch, depth, height, width, channels), e.g. video clips."""

    def __init__(self, filters, kernel_size, strides=(1, 1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1, 1), groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, **kwargs):
        super().__init__(3, filters, kernel_size, strides, padding, data_format, dilation_rate, groups,
                         activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
                         bias_regularizer, activity_regularizer, kernel_constraint, bias_constraint, **kwargs)


class _ConvTranspose(_BaseConv):
    """N-d transposed convolution (the gradient of a convolution with respect to its input).

    Output size per axis (``k_eff = d*(k-1) + 1``): valid ``(L-1)*s + max(k_eff, s)``,
    same ``L*s``; with ``output_padding`` p: valid ``(L-1)*s + k_eff + p``,
    same ``(L-1)*s + k_eff % 2 + p``.
    """

    _allows_causal = False

    def __init__(self, rank, filters, kernel_size, strides=1, padding="valid", output_padding=None,
                 data_format=None, dilation_rate=1, **kwargs):
        super().__init__(rank, filters, kernel_size, strides, padding, data_format, dilation_rate, **kwargs)
        self.output_padding = None
        if output_padding is not None:
            self.output_padding = shapes.normalize_tuple(output_padding, rank, "output_padding", self.name,
                                                         allow_zero=True)
            if any(p >= s for p, s in zip(self.output_padding, self.strides)):
                raise ValueError(f"{self.name}: `output_padding` must be strictly less than `strides`; "
                                 f"received output_padding={self.output_padding}, strides={self.strides}")

    def _output_paddings(self):
        return self.output_padding or (None,) * self.rank

    def build(self, input_shape) -> None:
        channels = self._input_channels(input_shape)
        self.input_channels = channels
        self.kernel = self.add_weight((*self.kernel_size, self.filters, channels),
                                      self.kernel_initializer, name="kernel", regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self._add_bias(self.filters)
        self.built = True

    def _check_input(self, input_shape) -> None:
        channels = self._input_channels(input_shape)
        if channels != self.input_channels:
            raise ValueError(f"{self.name}: expected {self.input_channels} input channels (the built kernel "
                             f"has shape {self.kernel.shape}); received an input of shape {tuple(input_shape)}")

    def _spatial_output(self, spatial) -> tuple:
        return tuple(
            None if length is None else
            shapes.conv_transpose_output_length(length, k, s, d, self.padding, p)
            for length, k, s, d, p in zip(spatial, self.kernel_size, self.strides, self.dilation_rate,
                                          self._output_paddings()))

    def compute_output_shape(self, input_shape) -> tuple:
        self._check_rank(input_shape)
        return self._with_spatial(input_shape[0], self._spatial_output(self._spatial(input_shape)), self.filters)

    def call(self, inputs, training=None):
        x = self._to_channels_last(inputs)
        crops = [shapes.conv_transpose_crop(k, s, d, self.padding, p)
                 for k, s, d, p in zip(self.kernel_size, self.strides, self.dilation_rate, self._output_paddings())]
        y = F.conv_transpose(x, self.kernel, self.bias, self.strides, self.dilation_rate, crops,
                             self._spatial_output(x.shape[1:-1]))
        return self._finish(y)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(filters=self.filters, output_padding=self.output_padding)
        return config


class Conv1DTranspose(_ConvTranspose):
    """1D transposed convolution; kernel (k, filters, in_channels)."""

    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None, data_format=None,
                 dilation_rate=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(1, filters, kernel_size, strides, padding, output_padding, data_format, dilation_rate,
                         activation=activation, use_bias=use_bias, kernel_initializer=kernel_initializer,
                         bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
                         bias_regularizer=bias_regularizer, activity_regularizer=activity_regularizer,
                         kernel_constraint=kernel_constraint, bias_constraint=bias_constraint, **kwargs)


class Conv2DTranspose(_ConvTranspose):
    """2D transposed convolution; kernel (kh, kw, filters, in_channels).

    Example: ``Conv2DTranspose(32, 2, strides=2)`` doubles height and width (U-Net decoders).
    """

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", output_padding=None,
                 data_format=None, dilation_rate=(1, 1), activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, **kwargs):
        super().__init__(2, filters, kernel_size, strides, padding, output_padding, data_format, dilation_rate,
                         activation=activation, use_bias=use_bias, kernel_initializer=kernel_initializer,
                         bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
                         bias_regularizer=bias_regularizer, activity_regularizer=activity_regularizer,
                         kernel_constraint=kernel_constraint, bias_constraint=bias_constraint, **kwargs)


class Conv3DTranspose(_ConvTranspose):
    """3D transposed convolution; kernel (kd, kh, kw, filters, in_channels).

    Argument order as Keras's Conv3DTranspose: data_format comes before output_padding.
    """

    def __init__(self, filters, kernel_size, strides=(1, 1, 1), padding="valid", data_format=None,
                 output_padding=None, dilation_rate=(1, 1, 1), activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, **kwargs):
        super().__init__(3, filters, kernel_size, strides, padding, output_padding, data_format, dilation_rate,
                         activation=activation, use_bias=use_bias, kernel_initializer=kernel_initializer,
                         bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
                         bias_regularizer=bias_regularizer, activity_regularizer=activity_regularizer,
                         kernel_constraint=kernel_constraint, bias_constraint=bias_constraint, **kwargs)


class _DepthwiseConv(_BaseConv):
    """Each input channel convolved with its own ``depth_multiplier`` filters.

    Output channel ``c * depth_multiplier + m`` comes from input channel c and
    filter m, as in Keras. Computed as a grouped convolution with one group per
    input channel.
    """

    _kernel_argument = "depthwise"

    def __init__(self, rank, kernel_size, strides=1, padding="valid", depth_multiplier=1, data_format=None,
                 dilation_rate=1, activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, depthwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(rank, None, kernel_size, strides, padding, data_format, dilation_rate, 1, activation,
                         use_bias, depthwise_initializer, bias_initializer, depthwise_regularizer,
                         bias_regularizer, activity_regularizer, depthwise_constraint, bias_constraint, **kwargs)
        self.depth_multiplier = _check_positive_int(self.name, "depth_multiplier", depth_multiplier)

    def _build_depthwise(self, input_shape) -> int:
        channels = self._input_channels(input_shape)
        self.input_channels = channels
        self.depthwise_kernel = self.add_weight(
            (*self.kernel_size, channels, self.depth_multiplier), self.kernel_initializer, name="kernel",
            regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        return channels * self.depth_multiplier

    def build(self, input_shape) -> None:
        self._add_bias(self._build_depthwise(input_shape))
        self.built = True

    def _check_input(self, input_shape) -> None:
        channels = self._input_channels(input_shape)
        if channels != self.input_channels:
            raise ValueError(f"{self.name}: expected {self.input_channels} input channels; "
                             f"received an input of shape {tuple(input_shape)}")
        self._check_output_size(input_shape, self._conv_spatial_output(self._spatial(input_shape)))

    def _output_channels(self, input_shape) -> int:
        return int(input_shape[self._channel_axis()]) * self.depth_multiplier

    def compute_output_shape(self, input_shape) -> tuple:
        self._check_rank(input_shape)
        spatial = self._conv_spatial_output(self._spatial(input_shape))
        self._check_output_size(input_shape, spatial)
        return self._with_spatial(input_shape[0], spatial, self._output_channels(input_shape))

    def _depthwise(self, x, bias):
        channels = self.input_channels
        # (*k, C, dm) -> (*k, 1, C*dm): one group per input channel, outputs ordered c*dm + m.
        kernel = self.depthwise_kernel.reshape(*self.kernel_size, 1, channels * self.depth_multiplier)
        return F.conv(x, kernel, bias, self.strides, self._pads(x.shape[1:-1]), self.dilation_rate,
                      groups=channels)

    def call(self, inputs, training=None):
        return self._finish(self._depthwise(self._to_channels_last(inputs), self.bias))

    def get_config(self) -> dict:
        config = super().get_config()
        config["depth_multiplier"] = self.depth_multiplier
        for part in ("initializer", "regularizer", "constraint"):  # Keras names the kernel "depthwise" here
            config[f"depthwise_{part}"] = config.pop(f"kernel_{part}")
        return config


class DepthwiseConv1D(_DepthwiseConv):
    """Depthwise 1D convolution; kernel (k, in_channels, depth_multiplier)."""

    def __init__(self, kernel_size, strides=1, padding="valid", depth_multiplier=1, data_format=None,
                 dilation_rate=1, **kwargs):
        super().__init__(1, kernel_size, strides, padding, depth_multiplier, data_format, dilation_rate, **kwargs)


class DepthwiseConv2D(_DepthwiseConv):
    """Depthwise 2D convolution; kernel (kh, kw, in_channels, depth_multiplier)."""

    def __init__(self, kernel_size, strides=(1, 1), padding="valid", depth_multiplier=1, data_format=None,
                 dilation_rate=(1, 1), **kwargs):
        super().__init__(2, kernel_size, strides, padding, depth_multiplier, data_format, dilation_rate, **kwargs)


class _SeparableConv(_DepthwiseConv):
    """Depthwise convolution followed by a 1x1 (pointwise) convolution to ``filters`` channels."""

    def __init__(self, rank, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 depth_multiplier=1, activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 pointwise_initializer="glorot_uniform", bias_initializer="zeros", depthwise_regularizer=None,
                 pointwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, pointwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(rank, kernel_size, strides, padding, depth_multiplier, data_format, dilation_rate,
                         activation, use_bias, depthwise_initializer, bias_initializer, depthwise_regularizer,
                         bias_regularizer, activity_regularizer, depthwise_constraint, bias_constraint, **kwargs)
        self.filters = _check_positive_int(self.name, "filters", filters)
        self.pointwise_initializer = pointwise_initializer
        self.pointwise_regularizer = pointwise_regularizer
        self.pointwise_constraint = pointwise_constraint
        from .. import constraints, initializers, regularizers
        resolve_identifier(self.name, "pointwise_initializer", initializers.get, pointwise_initializer)
        resolve_identifier(self.name, "pointwise_regularizer", regularizers.get, pointwise_regularizer)
        resolve_identifier(self.name, "pointwise_constraint", constraints.get, pointwise_constraint)

    def build(self, input_shape) -> None:
        mid = self._build_depthwise(input_shape)
        self.pointwise_kernel = self.add_weight(
            (1,) * self.rank + (mid, self.filters), self.pointwise_initializer, name="pointwise_kernel",
            regularizer=self.pointwise_regularizer, constraint=self.pointwise_constraint)
        self._add_bias(self.filters)
        self.built = True

    def _output_channels(self, input_shape) -> int:
        return self.filters

    def call(self, inputs, training=None):
        middle = self._depthwise(self._to_channels_last(inputs), None)
        no_pad = [(0, 0)] * self.rank
        y = F.conv(middle, self.pointwise_kernel, self.bias, (1,) * self.rank, no_pad, (1,) * self.rank)
        return self._finish(y)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(filters=self.filters, pointwise_initializer=serialize(self.pointwise_initializer),
                      pointwise_regularizer=serialize(self.pointwise_regularizer),
                      pointwise_constraint=serialize(self.pointwise_constraint))
        return config


class SeparableConv1D(_SeparableConv):
    """Separable 1D convolution: depthwise (k, in, dm), then pointwise (1, in*dm, filters)."""

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 depth_multiplier=1, **kwargs):
        super().__init__(1, filters, kernel_size, strides, padding, data_format, dilation_rate, depth_multiplier,
                         **kwargs)


class SeparableConv2D(_SeparableConv):
    """Separable 2D convolution: depthwise (kh, kw, in, dm), then pointwise (1, 1, in*dm, filters)."""

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), depth_multiplier=1, **kwargs):
        super().__init__(2, filters, kernel_size, strides, padding, data_format, dilation_rate, depth_multiplier,
                         **kwargs)


Convolution1D, Convolution2D, Convolution3D = Conv1D, Conv2D, Conv3D
SeparableConvolution1D, SeparableConvolution2D = SeparableConv1D, SeparableConv2D
