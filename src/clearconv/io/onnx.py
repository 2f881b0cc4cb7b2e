"""ONNX files: :func:`export_onnx` writes a clearconv model as ONNX, :func:`import_onnx` reads one back.

Both need the ``onnx`` package (``pip install "clearconv[interop]"``); nothing
else of clearconv does.

Export
------
Any clearconv model, functional or Sequential (nested models inlined), becomes
one ONNX graph of the default domain at opset :data:`DEFAULT_OPSET` (18; any of
:data:`EXPORT_OPSETS` on request), float32, with a dynamic batch axis named
``"batch"``. The file keeps the model's own layout: a channels_last model takes
NHWC arrays in ONNX as it does in clearconv.

ONNX's Conv, ConvTranspose, pooling and BatchNormalization read channels on
axis 1 (NCHW). Each value of the graph is therefore tracked with the axis
permutation that turns clearconv's tensor into the ONNX one
(``onnx_tensor = clearconv_tensor.transpose(perm)``): a channels_last
convolution takes its input as NCHW and leaves its output NCHW, element-wise
layers keep whatever layout they receive, and a Transpose node is emitted only
where a layer needs clearconv's own order (Flatten, Dense, Reshape, the
model's outputs). Between two channels_last convolutions there is no
Transpose at all, and Flatten after convolutions flattens in NHWC order, as
clearconv does.

Import
------
ONNX graphs of the same op set (such as ``torch.onnx.export`` writes for CNNs,
with either exporter) become a functional clearconv model whose layers use
``data_format="channels_first"``: the model takes and returns the very arrays
the ONNX graph does (NCHW in, the same layout out), Flatten and Reshape keep
ONNX's row-major order without any transpose, and every weight keeps its
meaning (a Conv kernel (F, C/g, *k) becomes Keras's (*k, C/g, F)). Transposing
the model to channels_last instead would change the arrays its users pass in.

Loading keeps the contract of :mod:`clearconv.io.errors`: a working model or a
:class:`~clearconv.io.errors.ModelFileError` naming the file, the part of it
(``"graph.node[3]"``, ``"graph.initializer[conv.weight]"``, ``"opset_import"``)
and what is wrong. The file is read by clearconv within :data:`MAX_MODEL_BYTES`
and parsed without loading external data; each initializer's declared dims
are checked against the bytes that hold it (in the file, or in an external
data file inside the model's folder, read by clearconv within its size)
before an array is made; the graph is sorted and checked for cycles and for
inputs that no node, initializer or graph input produces. Constants the graph
computes (shape arithmetic) have their size checked before they are built:
each at most 2**24 elements, and all together at most 4 elements per byte of
the file (2**20 for any file). Every tensor of the built model must hold at
most :data:`MAX_ELEMENTS` per sample (a Resize is checked before it is built).
Nothing in the file is executed.
"""

from __future__ import annotations

import io
import math
import os
import re

import numpy as np

from . import validation
from .archive import open_regular_file
from .errors import ModelFileError
from .writing import atomic_file

DEFAULT_OPSET = 18
EXPORT_OPSETS = range(17, 24)     # opsets whose definitions of every op written here are the same
IMPORT_OPSETS = range(13, 24)     # opsets whose semantics of every op read here were checked
MAX_MODEL_BYTES = 2**31 - 1       # protobuf's own limit on one message: larger models use external data
MAX_NODES = 20_000                # nodes of one graph (a ResNet-152 has about 500)
MAX_RANK = 8                      # dims of one tensor
MAX_ELEMENTS = 2**31 - 1          # elements of one tensor, the same bound as clearconv's own loader
_ONNX_DOMAINS = ("", "ai.onnx")


def _onnx(feature: str):
    from ..data._optional import import_optional
    return import_optional("onnx", "onnx", "interop", feature)


# ==================================================================================================
# Export
# ==================================================================================================

def _identity(rank: int) -> tuple:
    return tuple(range(rank))


def _channels_first_perm(rank: int) -> tuple:
    """(N, *spatial, C) -> (N, C, *spatial): the permutation a channels_last tensor takes for ONNX."""
    return (0, rank - 1, *range(1, rank - 1))


def _unique(base: str, used: set) -> str:
    """``base``, or ``base_2``, ``base_3``, ... : the first not in ``used`` (which then holds it)."""
    name, count = base, 1
    while name in used:
        count += 1
        name = f"{base}_{count}"
    used.add(name)
    return name


class _Value:
    """One tensor of the ONNX graph: ``name``, the rank, and ``perm`` such that the ONNX tensor is
    ``clearconv_tensor.transpose(perm)``."""

    def __init__(self, name: str, rank: int, perm=None):
        self.name, self.rank = name, rank
        self.perm = tuple(perm) if perm is not None else _identity(rank)

    def onnx_axis(self, axis: int) -> int:
        """The ONNX axis holding clearconv axis ``axis`` (negative counts from the end)."""
        return self.perm.index(axis % self.rank)


_FLOAT_TYPES = {np.dtype("float32"): 1, np.dtype("float16"): 10, np.dtype("float64"): 11}


class _Exporter:
    """Builds the nodes and initializers of one ONNX graph from a clearconv model."""

    def __init__(self, onnx, opset: int):
        self.onnx, self.helper, self.opset = onnx, onnx.helper, opset
        self.nodes, self.initializers, self.used = [], [], set()
        self._weights = {}   # (id(variable), transform) -> initializer name: shared layers written once

    # --- names, constants, nodes ---------------------------------------------------------------
    def fresh(self, hint: str) -> str:
        return _unique(re.sub(r"[^A-Za-z0-9_./:-]", "_", hint) or "value", self.used)

    def constant(self, array, hint: str) -> str:
        name = self.fresh(hint)
        self.initializers.append(self.onnx.numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def weight(self, variable, hint: str, transform=None, key="") -> str:
        """The initializer of ``transform(variable)`` as float32, written once per variable and transform."""
        cache = (id(variable), key)
        if cache not in self._weights:
            data = np.asarray(variable.data if hasattr(variable, "data") else variable, dtype=np.float32)
            self._weights[cache] = self.constant(transform(data) if transform else data, hint)
        return self._weights[cache]

    def ints(self, values, hint: str) -> str:
        return self.constant(np.asarray(values, dtype=np.int64), hint)

    def node(self, op: str, inputs, hint: str, **attributes) -> str:
        output = self.fresh(hint)
        self.nodes.append(self.helper.make_node(op, list(inputs), [output], name=self.fresh(f"{hint}/{op}"),
                                                **attributes))
        return output

    # --- layouts -------------------------------------------------------------------------------
    def with_perm(self, value: _Value, perm, hint: str) -> _Value:
        """``value`` laid out as ``clearconv_tensor.transpose(perm)``: a Transpose node if it is not."""
        perm = tuple(perm)
        if value.perm == perm:
            return value
        # onnx axis i of the result is clearconv axis perm[i], held by axis value.perm.index(perm[i]) now.
        order = [value.perm.index(axis) for axis in perm]
        return _Value(self.node("Transpose", [value.name], f"{hint}/transpose", perm=order), value.rank, perm)

    def as_is(self, value: _Value, hint: str) -> _Value:
        return self.with_perm(value, _identity(value.rank), hint)

    def channels_first(self, value: _Value, layer, hint: str) -> _Value:
        """``value`` as ONNX's (N, C, *spatial) for a layer of ``layer.data_format``."""
        if getattr(layer, "data_format", "channels_last") == "channels_first":
            return self.as_is(value, hint)
        return self.with_perm(value, _channels_first_perm(value.rank), hint)

    @staticmethod
    def spatial_output(layer, name: str, rank: int) -> _Value:
        """A spatial layer's output, NCHW in ONNX, tagged with the clearconv layout it stands for."""
        if getattr(layer, "data_format", "channels_last") == "channels_first":
            return _Value(name, rank)
        return _Value(name, rank, _channels_first_perm(rank))


def _unsupported(layer, why: str = "") -> ValueError:
    kinds = ("Conv1D/2D/3D, Conv1D/2D/3DTranspose, DepthwiseConv1D/2D, SeparableConv1D/2D, Dense, "
             "BatchNormalization, Max/AveragePooling1D/2D/3D, GlobalMax/AveragePooling1D/2D/3D, Flatten, "
             "Reshape, Permute, ZeroPadding1D/2D/3D, Cropping1D/2D/3D, UpSampling1D/2D/3D, Add, Subtract, "
             "Multiply, Average, Maximum, Minimum, Concatenate, Activation, ReLU, LeakyReLU, ELU, PReLU, "
             "Softmax, Dropout and the other noise layers, Identity, nested models")
    return ValueError(f"export_onnx: layer {layer.name!r} ({type(layer).__name__}) cannot be exported to ONNX"
                      f"{': ' + why if why else ''}; exportable layers: {kinds}")


# Activations ONNX has as one op (name -> (op, attributes)); the others are composed in _activation.
_ACTIVATION_OPS = {"relu": ("Relu", {}), "sigmoid": ("Sigmoid", {}), "tanh": ("Tanh", {}),
                   "elu": ("Elu", {"alpha": 1.0}), "softplus": ("Softplus", {}), "softsign": ("Softsign", {}),
                   "exponential": ("Exp", {}), "leaky_relu": ("LeakyRelu", {"alpha": 0.2}),
                   "selu": ("Selu", {"alpha": 1.6732632423543772, "gamma": 1.0507009873554805}),
                   "hard_sigmoid": ("HardSigmoid", {"alpha": 1 / 6, "beta": 0.5}),
                   "hard_silu": ("HardSwish", {})}
_SOFTMAX_OPS = {"softmax": "Softmax", "log_softmax": "LogSoftmax"}


def _activation(exporter: _Exporter, function, value: _Value, layer, hint: str) -> _Value:
    """``function`` (a clearconv activation, applied on the last axis where it has one) on ``value``."""
    from .. import activations
    name = activations.builtin_name(function)
    if name in (None,) or (name not in _ACTIVATION_OPS and name not in _SOFTMAX_OPS and
                           name not in ("linear", "relu6", "silu", "gelu", "mish")):
        raise _unsupported(layer, f"its activation {getattr(function, '__name__', function)!r} has no ONNX "
                                  f"equivalent here")
    if name == "linear":
        return value
    if name in _ACTIVATION_OPS:
        op, attributes = _ACTIVATION_OPS[name]
        return _Value(exporter.node(op, [value.name], f"{hint}/{name}", **attributes), value.rank, value.perm)
    if name in _SOFTMAX_OPS:
        return _Value(exporter.node(_SOFTMAX_OPS[name], [value.name], f"{hint}/{name}",
                                    axis=value.onnx_axis(-1)), value.rank, value.perm)
    x = value.name
    if name == "relu6":
        out = exporter.node("Clip", [x, exporter.constant(np.float32(0), f"{hint}/zero"),
                                     exporter.constant(np.float32(6), f"{hint}/six")], f"{hint}/relu6")
    elif name == "silu":       # x * sigmoid(x)
        out = exporter.node("Mul", [x, exporter.node("Sigmoid", [x], f"{hint}/sigmoid")], f"{hint}/silu")
    elif name == "mish":       # x * tanh(softplus(x))
        soft = exporter.node("Softplus", [x], f"{hint}/softplus")
        out = exporter.node("Mul", [x, exporter.node("Tanh", [soft], f"{hint}/tanh")], f"{hint}/mish")
    else:                      # gelu, exact: x * (1 + erf(x / sqrt(2))) / 2 (Gelu is an op from opset 20 only)
        scaled = exporter.node("Mul", [x, exporter.constant(np.float32(1 / math.sqrt(2)), f"{hint}/c")], f"{hint}/s")
        erf = exporter.node("Erf", [scaled], f"{hint}/erf")
        one = exporter.node("Add", [erf, exporter.constant(np.float32(1), f"{hint}/one")], f"{hint}/p")
        half = exporter.node("Mul", [x, exporter.constant(np.float32(0.5), f"{hint}/half")], f"{hint}/h")
        out = exporter.node("Mul", [half, one], f"{hint}/gelu")
    return _Value(out, value.rank, value.perm)


def _conv_attributes(layer, spatial) -> dict:
    """kernel_shape, strides, dilations and explicit pads (or SAME_UPPER when sizes are unknown)."""
    attributes = {"kernel_shape": list(layer.kernel_size), "strides": list(layer.strides),
                  "dilations": list(layer.dilation_rate)}
    if all(size is not None for size in spatial):
        pads = layer._pads(spatial)
        attributes["pads"] = [p[0] for p in pads] + [p[1] for p in pads]   # ONNX: all begins, then all ends
    elif layer.padding == "same":   # Keras puts the odd cell at the end, as SAME_UPPER does
        attributes["auto_pad"] = "SAME_UPPER"
    elif layer.padding == "causal":
        raise _unsupported(layer, "causal padding needs the input's length")
    return attributes


def _kernel_to_onnx(rank: int):
    """Keras (*k, in, out) -> ONNX (out, in, *k)."""
    return lambda kernel: kernel.transpose(rank + 1, rank, *range(rank))


def _export_conv(ex: _Exporter, layer, value: _Value, input_shape) -> _Value:
    from ..layers import conv as C
    rank, hint = layer.rank, layer.name
    spatial = layer._spatial(input_shape)
    x = ex.channels_first(value, layer, hint)
    if isinstance(layer, C._ConvTranspose):
        return _export_conv_transpose(ex, layer, x, spatial)
    attributes = _conv_attributes(layer, spatial)
    bias = [ex.weight(layer.bias, f"{hint}.bias")] if layer.bias is not None else []
    if isinstance(layer, C._DepthwiseConv):
        channels, multiplier = layer.input_channels, layer.depth_multiplier
        # (*k, C, dm) -> (*k, 1, C*dm) -> (C*dm, 1, *k): one group per input channel, output c*dm + m.
        depthwise = ex.weight(layer.depthwise_kernel, f"{hint}.depthwise_kernel", lambda k: _kernel_to_onnx(rank)(
            k.reshape(*layer.kernel_size, 1, channels * multiplier)), "depthwise")
        if isinstance(layer, C._SeparableConv):
            middle = ex.node("Conv", [x.name, depthwise], f"{hint}/depthwise", group=channels, **attributes)
            pointwise = ex.weight(layer.pointwise_kernel, f"{hint}.pointwise_kernel", _kernel_to_onnx(rank))
            out = ex.node("Conv", [middle, pointwise, *bias], f"{hint}/pointwise",
                          kernel_shape=[1] * rank)
        else:
            out = ex.node("Conv", [x.name, depthwise, *bias], hint, group=channels, **attributes)
    else:
        kernel = ex.weight(layer.kernel, f"{hint}.kernel", _kernel_to_onnx(rank))
        out = ex.node("Conv", [x.name, kernel, *bias], hint, group=layer.groups, **attributes)
    return _activation(ex, layer.activation, ex.spatial_output(layer, out, rank + 2), layer, hint)


def _export_conv_transpose(ex: _Exporter, layer, x: _Value, spatial) -> _Value:
    from ..kernels import shapes
    rank, hint = layer.rank, layer.name
    if any(size is None for size in spatial):
        raise _unsupported(layer, "a transposed convolution is exported for inputs of known spatial size")
    begins, ends, extra = [], [], []
    for length, k, s, d, p, out in zip(spatial, layer.kernel_size, layer.strides, layer.dilation_rate,
                                       layer._output_paddings(), layer._spatial_output(spatial)):
        # clearconv's output is the window [crop, crop + out) of the scatter buffer of length (L-1)*s + k_eff;
        # ONNX's is [pad_begin, buffer + output_padding - pad_end): output_padding covers a window that
        # overhangs the buffer (those cells get the bias only, in both).
        crop, full = shapes.conv_transpose_crop(k, s, d, layer.padding, p), (length - 1) * s + (k - 1) * d + 1
        end = max(full - crop - out, 0)
        begins.append(crop)
        ends.append(end)
        extra.append(out - (full - crop - end))
    # Keras (*k, filters, in) -> ONNX ConvTranspose (in, filters, *k)
    kernel = ex.weight(layer.kernel, f"{hint}.kernel", lambda k: k.transpose(rank + 1, rank, *range(rank)))
    bias = [ex.weight(layer.bias, f"{hint}.bias")] if layer.bias is not None else []
    out = ex.node("ConvTranspose", [x.name, kernel, *bias], hint, kernel_shape=list(layer.kernel_size),
                  strides=list(layer.strides), dilations=list(layer.dilation_rate), pads=begins + ends,
                  output_padding=extra)
    return _activation(ex, layer.activation, ex.spatial_output(layer, out, rank + 2), layer, hint)


def _export_pooling(ex: _Exporter, layer, value: _Value, input_shape) -> _Value:
    from ..kernels import shapes
    from ..layers import pooling as P
    hint, rank = layer.name, value.rank
    x = ex.channels_first(value, layer, hint)
    if isinstance(layer, P._GlobalPooling):
        op = "GlobalMaxPool" if isinstance(layer, P._GlobalMax) else "GlobalAveragePool"
        out = ex.node(op, [x.name], hint)   # (N, C, *spatial) -> (N, C, 1, .., 1)
        if layer.keepdims:
            return ex.spatial_output(layer, out, rank)
        return _Value(ex.node("Flatten", [out], f"{hint}/flatten", axis=1), 2)   # (N, C, 1, ..) -> (N, C)
    spatial = layer._spatial(input_shape)
    attributes = {"kernel_shape": list(layer.pool_size), "strides": list(layer.strides)}
    if all(size is not None for size in spatial):
        pads = [shapes.pool_padding(n, p, s, layer.padding) for n, p, s in zip(spatial, layer.pool_size,
                                                                                 layer.strides)]
        attributes["pads"] = [p[0] for p in pads] + [p[1] for p in pads]
    elif layer.padding == "same":
        attributes["auto_pad"] = "SAME_UPPER"
    if isinstance(layer, P._MaxPooling):
        out = ex.node("MaxPool", [x.name], hint, **attributes)
    else:   # Keras averages over the cells inside the input only
        out = ex.node("AveragePool", [x.name], hint, count_include_pad=0, **attributes)
    return ex.spatial_output(layer, out, rank)


def _export_batchnorm(ex: _Exporter, layer, value: _Value) -> _Value:
    hint, channels = layer.name, layer.channels
    ones, zeros = np.ones(channels, np.float32), np.zeros(channels, np.float32)
    axis = value.onnx_axis(layer.axis)
    if axis == 1:
        gamma = ex.weight(layer.gamma, f"{hint}.gamma") if layer.gamma is not None else ex.constant(ones, hint)
        beta = ex.weight(layer.beta, f"{hint}.beta") if layer.beta is not None else ex.constant(zeros, hint)
        out = ex.node("BatchNormalization", [value.name, gamma, beta, ex.weight(layer.moving_mean, f"{hint}.mean"),
                                             ex.weight(layer.moving_variance, f"{hint}.variance")], hint,
                      epsilon=layer.epsilon, momentum=layer.momentum)
        return _Value(out, value.rank, value.perm)
    # The channels are not on ONNX's axis 1 (a Dense's features, channels_last without a convolution before):
    # the same affine map per channel, x * scale + shift, broadcast along that axis.
    variance = layer.moving_variance.data.astype(np.float64)
    scale = (layer.gamma.data if layer.gamma is not None else ones) / np.sqrt(variance + layer.epsilon)
    shift = (layer.beta.data if layer.beta is not None else zeros) - layer.moving_mean.data * scale
    shape = (channels,) + (1,) * (value.rank - 1 - axis)   # broadcast from the right onto `axis`
    scaled = ex.node("Mul", [value.name, ex.constant(scale.astype(np.float32).reshape(shape), f"{hint}.scale")],
                     f"{hint}/scale")
    out = ex.node("Add", [scaled, ex.constant(shift.astype(np.float32).reshape(shape), f"{hint}.shift")], hint)
    return _Value(out, value.rank, value.perm)


def _export_dense(ex: _Exporter, layer, value: _Value) -> _Value:
    hint = layer.name
    x = ex.as_is(value, hint)
    kernel = ex.weight(layer.kernel, f"{hint}.kernel")   # (in, units), as ONNX's B
    if x.rank == 2:
        bias = [ex.weight(layer.bias, f"{hint}.bias")] if layer.bias is not None else []
        out = ex.node("Gemm", [x.name, kernel, *bias], hint)
    else:   # (N, ..., in) @ (in, units): MatMul broadcasts over the leading axes
        out = ex.node("MatMul", [x.name, kernel], f"{hint}/matmul")
        if layer.bias is not None:
            out = ex.node("Add", [out, ex.weight(layer.bias, f"{hint}.bias")], hint)
    return _activation(ex, layer.activation, _Value(out, x.rank), layer, hint)


def _export_merge(ex: _Exporter, layer, values: list) -> _Value:
    from ..layers import merge as M
    hint = layer.name
    if isinstance(layer, M.Concatenate):
        rank = values[0].rank
        if any(v.perm != values[0].perm for v in values):
            values = [ex.as_is(v, hint) for v in values]
        return _Value(ex.node("Concat", [v.name for v in values], hint, axis=values[0].onnx_axis(layer.axis)),
                      rank, values[0].perm)
    ops = {M.Add: "Sum", M.Subtract: "Sub", M.Multiply: "Mul", M.Average: "Mean", M.Maximum: "Max",
           M.Minimum: "Min"}
    op = next((o for kind, o in ops.items() if type(layer) is kind), None)
    if op is None:
        raise _unsupported(layer)
    rank = max(v.rank for v in values)
    if any(v.rank != rank or v.perm != values[0].perm for v in values):
        values = [ex.as_is(v, hint) for v in values]
        # (N, *s) -> (N, 1, .., 1, *s): Keras aligns the axes after the batch axis from the right
        values = [v if v.rank == rank else _Value(ex.node("Unsqueeze", [v.name, ex.ints(
            list(range(1, rank - v.rank + 1)), f"{hint}/axes")], f"{hint}/unsqueeze"), rank) for v in values]
    names = [v.name for v in values]
    if len(names) == 1:
        out = ex.node("Identity", names, hint)
    elif op == "Mul":   # Mul is binary: a chain, as Keras multiplies pairwise
        out = names[0]
        for other in names[1:]:
            out = ex.node("Mul", [out, other], hint)
    else:
        out = ex.node(op, names, hint)
    return _Value(out, rank, values[0].perm)


def _export_spatial_resize(ex: _Exporter, layer, value: _Value, input_shape) -> _Value:
    """ZeroPadding (Pad), Cropping (Slice), UpSampling (Resize): per-axis amounts in the value's layout."""
    from ..layers import reshaping as R
    hint, rank = layer.name, value.rank
    first = 1 if layer.data_format == "channels_last" else 2   # clearconv axis of the first spatial axis
    if isinstance(layer, R._UpSampling) and layer.interpolation == "bilinear":
        value = ex.channels_first(value, layer, hint)   # ONNX's linear Resize is for (N, C, H, W)
    per_axis = {first + i: amount for i, amount in
                enumerate(layer.padding if isinstance(layer, R._ZeroPadding) else
                          layer.cropping if isinstance(layer, R._Cropping) else layer.size)}
    onnx_axes = [value.perm[i] for i in range(rank)]   # clearconv axis at each ONNX axis
    if isinstance(layer, R._ZeroPadding):
        pads = [per_axis.get(a, (0, 0))[0] for a in onnx_axes] + [per_axis.get(a, (0, 0))[1] for a in onnx_axes]
        out = ex.node("Pad", [value.name, ex.ints(pads, f"{hint}/pads")], hint, mode="constant")
    elif isinstance(layer, R._Cropping):
        axes = [i for i, a in enumerate(onnx_axes) if a in per_axis]
        starts = [per_axis[onnx_axes[i]][0] for i in axes]
        ends = [input_shape[onnx_axes[i]] - per_axis[onnx_axes[i]][1] if input_shape[onnx_axes[i]] is not None
                else -per_axis[onnx_axes[i]][1] or np.iinfo(np.int64).max for i in axes]
        out = ex.node("Slice", [value.name, ex.ints(starts, f"{hint}/starts"), ex.ints(ends, f"{hint}/ends"),
                                ex.ints(axes, f"{hint}/axes")], hint)
    else:
        scales = np.asarray([per_axis.get(a, 1) for a in onnx_axes], dtype=np.float32)
        if layer.interpolation == "bilinear":   # half-pixel centres, as clearconv and Keras
            attributes = {"mode": "linear", "coordinate_transformation_mode": "half_pixel"}
        else:   # output cell i reads input cell floor(i / size): each cell repeated
            attributes = {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}
        out = ex.node("Resize", [value.name, "", ex.constant(scales, f"{hint}/scales")], hint, **attributes)
    return _Value(out, rank, value.perm)


def _export_activation_layer(ex: _Exporter, layer, value: _Value) -> _Value:
    from ..layers import core as K
    hint = layer.name
    if isinstance(layer, K.Activation):
        return _activation(ex, layer.activation, value, layer, hint)
    if isinstance(layer, K.Softmax):
        axis = layer.axis if isinstance(layer.axis, int) else None
        if axis is None:
            raise _unsupported(layer, f"softmax over several axes {layer.axis}")
        return _Value(ex.node("Softmax", [value.name], hint, axis=value.onnx_axis(axis)), value.rank, value.perm)
    if isinstance(layer, K.LeakyReLU):
        return _Value(ex.node("LeakyRelu", [value.name], hint, alpha=layer.negative_slope), value.rank, value.perm)
    if isinstance(layer, K.ELU):
        return _Value(ex.node("Elu", [value.name], hint, alpha=layer.alpha), value.rank, value.perm)
    if isinstance(layer, K.PReLU):
        # alpha has the sample's shape (1 on shared axes): laid out as the value, with a batch axis of 1
        alpha = ex.weight(layer.alpha, f"{hint}.alpha", lambda a: a.reshape(1, *a.shape).transpose(value.perm),
                          f"prelu{value.perm}")
        return _Value(ex.node("PRelu", [value.name, alpha], hint), value.rank, value.perm)
    # ReLU: max_value caps, negative_slope below the threshold
    if layer.threshold != 0:
        raise _unsupported(layer, f"a ReLU with threshold={layer.threshold}")
    out = value.name
    if layer.negative_slope:
        out = ex.node("LeakyRelu", [out], hint, alpha=layer.negative_slope)
    else:
        out = ex.node("Relu", [out], hint)
    if layer.max_value is not None:
        out = ex.node("Min", [out, ex.constant(np.float32(layer.max_value), f"{hint}/max_value")], f"{hint}/cap")
    return _Value(out, value.rank, value.perm)


def _export_layer(ex: _Exporter, layer, values: list, input_shapes: list) -> _Value:
    """The ONNX value of ``layer`` called on ``values`` (its inputs' ONNX values, in call order)."""
    from .. import layers as L
    from ..layers import conv as C
    from ..layers import merge as M
    from ..layers import pooling as P
    from ..layers import regularization as G
    from ..layers import reshaping as R
    value, hint = values[0], layer.name
    if isinstance(layer, M._Merge):
        if isinstance(layer, M.Dot):
            raise _unsupported(layer)
        return _export_merge(ex, layer, values)
    if isinstance(layer, C._BaseConv):
        return _export_conv(ex, layer, value, input_shapes[0])
    if isinstance(layer, (P._Pooling, P._GlobalPooling)):
        return _export_pooling(ex, layer, value, input_shapes[0])
    if isinstance(layer, L.BatchNormalization):
        return _export_batchnorm(ex, layer, value)
    if isinstance(layer, L.Dense):
        return _export_dense(ex, layer, value)
    if isinstance(layer, (L.Dropout, L.Identity, G.GaussianNoise, G.GaussianDropout, G.ActivityRegularization,
                          L.RandomFlip, L.RandomTranslation, L.RandomRotation, L.RandomZoom, L.RandomContrast)):
        return value   # inference: the identity (RandomCrop is not: it crops the centre at inference)
    if isinstance(layer, L.Flatten):
        if layer.data_format == "channels_first" and value.rank > 2:   # Keras flattens channels-last order
            x = ex.with_perm(value, (0, *range(2, value.rank), 1), hint)
        else:
            x = ex.as_is(value, hint)
        return _Value(ex.node("Flatten", [x.name], hint, axis=1), 2)
    if isinstance(layer, L.Reshape):
        x = ex.as_is(value, hint)
        # 0 copies the batch size from the input (allowzero=0): the batch axis stays dynamic
        shape = ex.ints([0, *layer.target_shape], f"{hint}/shape")
        return _Value(ex.node("Reshape", [x.name, shape], hint), len(layer.target_shape) + 1)
    if isinstance(layer, L.Permute):
        # clearconv's output is input.transpose(d), d = (0, *dims): the same ONNX tensor, another perm
        order = (0, *layer.dims)
        return _Value(value.name, value.rank, [order.index(axis) for axis in value.perm])
    if isinstance(layer, (R._ZeroPadding, R._Cropping, R._UpSampling)):
        return _export_spatial_resize(ex, layer, value, input_shapes[0])
    if isinstance(layer, (L.Activation, L.ReLU, L.LeakyReLU, L.ELU, L.Softmax, L.PReLU)):
        return _export_activation_layer(ex, layer, value)
    raise _unsupported(layer)


def _export_graph(ex: _Exporter, model, values: dict) -> None:
    """Emit every layer call of ``model``'s graph; ``values`` maps id(symbolic tensor) -> _Value and
    holds the model's inputs. Nested models are inlined, once per call."""
    from ..layers.operation import Operation
    from ..models.functional import Model
    from ..nested import flatten
    for node in model._nodes:
        layer = node.layer
        inputs = [values[id(symbol)] for symbol in flatten(node.call_inputs)]
        if isinstance(layer, Operation):
            raise ValueError(f"export_onnx: op node {layer.name!r} ({layer.op}) cannot be exported to ONNX; use "
                             f"layers (Add, Multiply, Activation, ...) instead of ops on symbolic tensors")
        if isinstance(layer, Model):
            if not layer._graph or len(layer.outputs) != 1:
                raise _unsupported(layer, "a nested model is exported when it is functional or Sequential with "
                                          "one output")
            inner = {id(symbol): value for symbol, value in zip(layer.inputs, inputs)}
            _export_graph(ex, layer, inner)
            values[id(node)] = inner[id(layer.outputs[0])]
            continue
        shapes = [symbol.shape for symbol in flatten(node.call_inputs)]
        values[id(node)] = _export_layer(ex, layer, inputs, shapes)


def _dims(shape) -> list:
    return ["batch" if i == 0 else (f"dim{i}" if d is None else int(d)) for i, d in enumerate(shape)]


def export_onnx(model, path, opset=None, fold_batchnorm=False):
    """Write ``model`` to ``path`` as an ONNX file; returns ``path``.

    model: a clearconv functional or Sequential model (built: its input shape
    known). opset: an ONNX opset of :data:`EXPORT_OPSETS` (default
    :data:`DEFAULT_OPSET`, 18). fold_batchnorm: fold BatchNormalization into
    the convolution or Dense before it
    (:func:`clearconv.models.folding.fold_batchnorm`); otherwise each is an
    ONNX BatchNormalization node (or its affine map when the channels are
    not on ONNX's axis 1).

    The graph computes ``model.predict`` in float32: each model input is an
    ONNX input of the same name and shape, axis 0 dynamic (``"batch"``), each
    output an ONNX output named after its layer. Dropout and noise layers are
    the identity (inference). The file passes ``onnx.checker.check_model(...,
    full_check=True)``; it is written to a temporary file in the same folder
    and renamed over ``path`` only when complete.

    A layer without an ONNX translation here (Dot, LayerNormalization, Lambda,
    op nodes, a user's activation function...) raises ValueError naming it and
    its class.
    """
    from ..models.functional import Model
    onnx = _onnx("export_onnx")
    if not isinstance(model, Model) or not getattr(model, "_graph", False):
        raise ValueError(f"export_onnx: `model` must be a built clearconv functional or Sequential model (with "
                         f"a known input shape); received {model!r}")
    if opset is None:
        opset = DEFAULT_OPSET
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)) or opset not in EXPORT_OPSETS:
        raise ValueError(f"export_onnx: `opset` must be an int from {EXPORT_OPSETS.start} to "
                         f"{EXPORT_OPSETS.stop - 1}; received opset={opset!r}")
    if fold_batchnorm not in (True, False):
        raise ValueError(f"export_onnx: `fold_batchnorm` must be True or False; received {fold_batchnorm!r}")
    if fold_batchnorm:
        model = model.fold_batchnorm()
    ex = _Exporter(onnx, int(opset))
    helper, values, inputs = onnx.helper, {}, []
    for symbol in model.inputs:
        name = ex.fresh(symbol.layer.name)
        inputs.append(helper.make_tensor_value_info(name, 1, _dims(symbol.shape)))
        values[id(symbol)] = _Value(name, len(symbol.shape))
    _export_graph(ex, model, values)
    outputs = []
    for symbol, label in zip(model.outputs, model.output_names):
        value = ex.as_is(values[id(symbol)], label)
        name = ex.fresh(label)
        ex.nodes.append(helper.make_node("Identity", [value.name], [name], name=ex.fresh(f"{label}/output")))
        outputs.append(helper.make_tensor_value_info(name, 1, _dims(symbol.shape)))
    graph = helper.make_graph(ex.nodes, model.name, inputs, outputs, ex.initializers)
    opsets = [helper.make_opsetid("", int(opset))]
    proto = helper.make_model(graph, opset_imports=opsets, producer_name="clearconv",
                              ir_version=helper.find_min_ir_version_for(opsets))
    onnx.checker.check_model(proto, full_check=True)
    data = proto.SerializeToString()
    with atomic_file(path) as file:   # never a half-written file in place of a good one
        file.write(data)
    return path


# ==================================================================================================
# Import
# ==================================================================================================

# ONNX TensorProto data types clearconv reads: number -> (NumPy dtype, the typed field that may hold the data)
_DATA_TYPES = {1: (np.float32, "float_data"), 2: (np.uint8, "int32_data"), 3: (np.int8, "int32_data"),
               5: (np.int16, "int32_data"), 6: (np.int32, "int32_data"), 7: (np.int64, "int64_data"),
               9: (np.bool_, "int32_data"), 10: (np.float16, "int32_data"), 11: (np.float64, "double_data"),
               12: (np.uint32, "uint64_data"), 13: (np.uint64, "uint64_data")}
# Graph ops that become layers (_LAYER_OPS) and ops computed on constants while reading (shape arithmetic
# such as TorchScript's Shape -> Gather -> Unsqueeze -> Concat -> Reshape for ``x.view(x.size(0), -1)``).
_LAYER_OPS = ("Conv", "ConvTranspose", "BatchNormalization", "Relu", "LeakyRelu", "Elu", "Sigmoid", "Tanh",
              "Softmax", "LogSoftmax", "Softplus", "Softsign", "Exp", "HardSigmoid", "HardSwish", "Selu", "Clip",
              "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "Flatten", "Reshape", "Squeeze",
              "Unsqueeze", "Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "Sum", "Max", "Min", "Mean", "Concat",
              "Pad", "Resize", "Dropout", "Identity", "Transpose")
_CONSTANT_OPS = ("Constant", "Shape", "Gather", "Cast", "Slice", "ConstantOfShape")
SUPPORTED_OPS = tuple(sorted(set(_LAYER_OPS + _CONSTANT_OPS)))
# Shape gives this in place of the batch size, which the imported model leaves free (any positive size).
_BATCH = -(2**40) + 7


class _Const:
    """A value the graph computes from initializers and constants alone: ``array``."""

    def __init__(self, array):
        self.array = np.asarray(array)


class _Reader:
    """The state of one import: the file, its bytes and folder, the values of the graph so far."""

    def __init__(self, path: str, onnx, size: int = 0):
        self.path, self.onnx = path, onnx
        # elements the constant folding may still allocate: the file's size bounds what its constants become
        self.fold_left = max(_FOLD_FLOOR, _FOLD_PER_BYTE * size)
        self.folder = os.path.dirname(os.path.abspath(path))
        self.values: dict = {}     # ONNX value name -> SymbolicTensor or _Const
        self.assign = []           # (variable, array, member): weights set once the graph is built
        self.layer_names: set = set()
        self.static_batch = None   # the batch size a graph input declares (a dynamo export fixes it)
        self.nonnegative: set = set()   # id() of symbolic tensors known >= 0 (ReLU outputs)

    def error(self, member: str, reason: str) -> ModelFileError:
        return ModelFileError(self.path, member, reason)

    def layer_name(self, hint: str, op: str) -> str:
        return _unique(re.sub(r"[^A-Za-z0-9_.-]", "_", hint).strip("_.") or op.lower(), self.layer_names)

    # --- tensors ---------------------------------------------------------------------------------
    def tensor(self, proto, member: str) -> np.ndarray:
        """The array of a TensorProto, its declared dims checked against the bytes that hold it first."""
        if proto.data_type not in _DATA_TYPES:
            raise self.error(member, f"data type {proto.data_type} (clearconv reads float, double, float16 and "
                                     f"integer tensors)")
        dtype, field = _DATA_TYPES[proto.data_type]
        dtype = np.dtype(dtype)
        dims = [int(d) for d in proto.dims]
        if len(dims) > MAX_RANK or any(d < 0 for d in dims):
            raise self.error(member, f"declares the dims {dims}: at most {MAX_RANK} non-negative sizes")
        count = math.prod(dims)   # Python ints: no overflow
        if count > MAX_ELEMENTS:
            raise self.error(member, f"declares {count:,} elements (dims {dims}), more than {MAX_ELEMENTS:,}: "
                                     f"refused before reading")
        if proto.data_location == 1:   # EXTERNAL
            data = self.external(proto, member, count * dtype.itemsize)
        elif proto.HasField("raw_data"):
            data = proto.raw_data
        else:
            typed = getattr(proto, field)
            if len(typed) != count:
                raise self.error(member, f"declares dims {dims} ({count:,} elements) but holds {len(typed):,}")
            if proto.data_type == 10:   # float16 values travel as their bit patterns in int32_data
                return np.asarray(typed, dtype=np.uint16).view(np.float16).reshape(dims)
            return np.asarray(typed, dtype=dtype).reshape(dims)
        if len(data) != count * dtype.itemsize:
            raise self.error(member, f"declares dims {dims} of {dtype} ({count * dtype.itemsize:,} bytes) but "
                                     f"holds {len(data):,} bytes")
        return np.frombuffer(data, dtype=dtype.newbyteorder("<")).astype(dtype).reshape(dims)

    def external(self, proto, member: str, nbytes: int) -> bytes:
        """``nbytes`` of external data: from a regular file inside the model's folder, within its size."""
        entries = {entry.key: entry.value for entry in proto.external_data}
        location = entries.get("location", "")
        if not isinstance(location, str) or "\0" in location:   # the OS refuses such a path with a bare ValueError
            raise self.error(member, f"external data at {location!r}: a location that is not text or holds a NUL "
                                     f"byte names no file")
        if not location or os.path.isabs(location) or "\\" in location or \
                any(part == ".." for part in location.split("/")):
            raise self.error(member, f"external data at {location!r}: clearconv reads external data only from a "
                                     f"relative path inside the model's folder")
        target = os.path.realpath(os.path.join(self.folder, location))
        if os.path.commonpath([target, os.path.realpath(self.folder)]) != os.path.realpath(self.folder):
            raise self.error(member, f"external data at {location!r} leaves the model's folder (through a "
                                     f"symbolic link)")
        try:
            offset = int(entries.get("offset", "0"))
            length = int(entries["length"]) if "length" in entries else None
        except ValueError:
            raise self.error(member, f"external data offset or length is not an integer: {entries}") from None
        if offset < 0 or (length is not None and length != nbytes):
            raise self.error(member, f"external data of {length} bytes at offset {offset}: the dims declare "
                                     f"{nbytes:,} bytes")
        try:
            file = open_regular_file(target)
        except ModelFileError as error:
            raise self.error(member, f"external data {location!r}: {error.reason}") from None
        except OSError as error:
            raise self.error(member, f"external data {location!r} cannot be opened ({error.strerror or error})") \
                from None
        with file:
            size = os.fstat(file.fileno()).st_size
            if offset + nbytes > size:
                raise self.error(member, f"external data {location!r} holds {size:,} bytes; the tensor needs "
                                         f"{nbytes:,} from offset {offset:,}")
            file.seek(offset)
            data = file.read(nbytes)
        if len(data) != nbytes:
            raise self.error(member, f"external data {location!r} is truncated")
        return data

    def attributes(self, node, member: str) -> dict:
        """The node's attributes as Python values (tensors read through :meth:`tensor`)."""
        result = {}
        for attribute in node.attribute:
            kind = attribute.type
            if kind == 1:
                result[attribute.name] = float(attribute.f)
            elif kind == 2:
                result[attribute.name] = int(attribute.i)
            elif kind == 3:
                result[attribute.name] = attribute.s.decode("utf-8", "replace")
            elif kind == 4:
                result[attribute.name] = self.tensor(attribute.t, f"{member}.{attribute.name}")
            elif kind == 6:
                result[attribute.name] = [float(v) for v in attribute.floats]
            elif kind == 7:
                result[attribute.name] = [int(v) for v in attribute.ints]
            else:
                raise self.error(member, f"attribute {attribute.name!r} of type {kind} (graphs, strings lists "
                                         f"and sparse tensors are not read)")
        return result


def _read_model(path, onnx):
    """(the parsed ModelProto of ``path``, read within MAX_MODEL_BYTES, external data not loaded; the number of
    bytes read)."""
    with open_regular_file(path) as file:
        size = os.fstat(file.fileno()).st_size
        if size > MAX_MODEL_BYTES:
            raise ModelFileError(path, "", f"{size:,} bytes, more than a protobuf message holds "
                                           f"({MAX_MODEL_BYTES:,}): refused before reading")
        try:
            # read(n) allocates n bytes before reading: ask for what the file holds, not for the limit
            data = file.read(size + 1)
        except OSError as error:
            raise ModelFileError(path, "", f"cannot be read ({error})") from None
    if not data:
        raise ModelFileError(path, "", "empty file; an ONNX model is a protobuf ModelProto")
    if len(data) > MAX_MODEL_BYTES:   # the file grew while it was read
        raise ModelFileError(path, "", f"more than {MAX_MODEL_BYTES:,} bytes: refused")
    try:
        model = onnx.load(io.BytesIO(data), load_external_data=False)
    except Exception as error:   # protobuf's DecodeError, and whatever a damaged message provokes
        raise ModelFileError(path, "", f"not an ONNX model, or a truncated or corrupt one "
                                       f"({type(error).__name__}: {error})") from None
    if not model.HasField("graph") or not model.graph.node or not model.graph.output:
        raise ModelFileError(path, "graph", "no graph with nodes and outputs: not an ONNX model, or a truncated "
                                            "one")
    _check_names(path, model.graph)
    return model, len(data)


def _check_names(path, graph) -> None:
    """Every name and op type of the graph is text: protobuf hands back a string field that is not valid
    UTF-8 as bytes, which no later comparison expects."""
    named = [("graph.name", graph.name)]
    named += [(f"graph.{kind}[{i}]", value.name) for kind in ("input", "output", "initializer", "value_info")
              for i, value in enumerate(getattr(graph, kind))]
    for i, node in enumerate(graph.node):
        named += [(f"graph.node[{i}]", text) for text in (node.op_type, node.domain, node.name, *node.input,
                                                          *node.output)]
        named += [(f"graph.node[{i}]", attribute.name) for attribute in node.attribute]
    for where, text in named:
        if not isinstance(text, str):
            raise ModelFileError(path, where, f"a name or op type that is not valid UTF-8 text ({text[:40]!r})")


def _opset(path, model) -> int:
    versions = {entry.domain: int(entry.version) for entry in model.opset_import}
    default = [versions[d] for d in _ONNX_DOMAINS if d in versions]
    if not default:
        raise ModelFileError(path, "opset_import", f"no opset of the default ONNX domain; found {versions}")
    if default[0] not in IMPORT_OPSETS:
        raise ModelFileError(path, "opset_import", f"opset {default[0]} of the default domain; clearconv reads "
                                                   f"opsets {IMPORT_OPSETS.start} to {IMPORT_OPSETS.stop - 1}")
    return default[0]


def _sorted_nodes(reader: _Reader, graph, known: set) -> list:
    """(index, node) in an order where each node follows the producers of its inputs; a cycle or an input
    nothing produces is a ModelFileError naming the node."""
    nodes = list(graph.node)
    if len(nodes) > MAX_NODES:
        raise reader.error("graph.node", f"{len(nodes):,} nodes; clearconv reads at most {MAX_NODES:,}")
    producer = {}
    for index, node in enumerate(nodes):
        for output in node.output:
            if output in producer or output in known:
                raise reader.error(f"graph.node[{index}]", f"{node.op_type} node {node.name!r}: output {output!r} "
                                                            f"is produced twice")
            if output:
                producer[output] = index
    for index, node in enumerate(nodes):
        for name in node.input:
            if name and name not in known and name not in producer:
                raise reader.error(f"graph.node[{index}]", f"{node.op_type} node {node.name!r}: input {name!r} is "
                                                            f"produced by no node, initializer or graph input "
                                                            f"(a dangling input)")
    # Kahn's algorithm: a node is ready when every input it reads from another node is done.
    waiting = [sum(1 for name in node.input if name in producer) for node in nodes]
    readers = {}
    for index, node in enumerate(nodes):
        for name in node.input:
            if name in producer:
                readers.setdefault(producer[name], []).append(index)
    ready = [i for i, count in enumerate(waiting) if count == 0][::-1]
    order = []
    while ready:
        index = ready.pop()
        order.append(index)
        for reader_index in readers.get(index, ()):
            waiting[reader_index] -= 1
            if waiting[reader_index] == 0:
                ready.append(reader_index)
    if len(order) < len(nodes):
        stuck = min(set(range(len(nodes))) - set(order))
        raise reader.error(f"graph.node[{stuck}]", f"{nodes[stuck].op_type} node {nodes[stuck].name!r} is on a "
                                                   f"cycle of the graph (or reads from one)")
    return [(index, nodes[index]) for index in order]


def _check_ops(reader: _Reader, graph) -> None:
    """Every op clearconv cannot read, with its count, in one error."""
    from collections import Counter
    unknown = Counter(node.op_type if node.domain in _ONNX_DOMAINS else f"{node.domain}.{node.op_type}"
                      for node in graph.node
                      if node.domain not in _ONNX_DOMAINS or node.op_type not in SUPPORTED_OPS)
    if unknown:
        first = next(i for i, node in enumerate(graph.node)
                     if node.domain not in _ONNX_DOMAINS or node.op_type not in SUPPORTED_OPS)
        listed = ", ".join(f"{op} (x{count})" for op, count in sorted(unknown.items()))
        raise reader.error(f"graph.node[{first}]", f"ops clearconv does not import: {listed}; it imports "
                                                   f"{', '.join(SUPPORTED_OPS)}")


def import_onnx(path):
    """The ONNX model at ``path`` as a clearconv functional :class:`~clearconv.models.Model`.

    Reads graphs of the default ONNX domain at opsets :data:`IMPORT_OPSETS`
    (13 to 23) made of :data:`SUPPORTED_OPS`, such as ``torch.onnx.export``
    writes for CNNs with either exporter. Layers are channels_first, so the
    model takes the ONNX inputs' arrays as they are (NCHW) and returns the ONNX
    outputs' arrays; the batch axis is left free whatever the file declares.
    Weights may lie in external data files in the model's folder
    (``onnx.save(..., save_as_external_data=True)``).

    Raises :class:`~clearconv.io.errors.ModelFileError` for any file it cannot
    read (``member`` names the part: ``"opset_import"``, ``"graph.node[i]"``,
    ``"graph.initializer[name]"``...): not ONNX, truncated, an op clearconv
    lacks (every one named, with its count), a future opset, a cycle, an input
    nothing produces, dims that disagree with the data, external data outside
    the folder, constants or tensors larger than the file justifies or than
    ``predict`` could compute; the OS's own error when ``path`` cannot be opened.
    """
    from ..models.functional import Model
    onnx = _onnx("import_onnx")
    path = os.fspath(path)
    model, size = _read_model(path, onnx)
    _opset(path, model)
    graph = model.graph
    reader = _Reader(path, onnx, size)
    _check_ops(reader, graph)
    for initializer in graph.initializer:
        member = f"graph.initializer[{initializer.name}]"
        if initializer.name in reader.values:
            raise reader.error(member, "two initializers of this name")
        reader.values[initializer.name] = _Const(reader.tensor(initializer, member))
    inputs = [_graph_input(reader, value) for value in graph.input if value.name not in reader.values]
    if not inputs:
        raise reader.error("graph.input", "the graph has no input besides its initializers")
    order = _sorted_nodes(reader, graph, set(reader.values))
    consumers = {}
    for index, node in order:
        for name in node.input:
            consumers.setdefault(name, []).append(index)
    outputs_named = {value.name for value in graph.output}
    skip: set = set()
    for index, node in order:
        if index in skip:
            continue
        member = f"graph.node[{index}]"
        try:
            _import_node(reader, node, member, consumers, outputs_named, skip, graph.node)
        except ModelFileError:
            raise
        except (ValueError, TypeError, KeyError, IndexError, ZeroDivisionError, OverflowError) as error:
            raise reader.error(member, f"{node.op_type} node {node.name!r}: {error}") from None
        except (MemoryError, RecursionError) as error:   # what the file asks for exceeds this machine
            raise reader.error(member, f"{node.op_type} node {node.name!r}: {type(error).__name__} while reading "
                                       f"it ({error})") from None
    outputs = []
    for index, value in enumerate(graph.output):
        symbol = reader.values.get(value.name)
        if symbol is None or isinstance(symbol, _Const):
            raise reader.error(f"graph.output[{index}]", f"output {value.name!r} is not computed from the graph's "
                                                         f"inputs")
        outputs.append(symbol)
    try:
        result = Model(inputs, outputs if len(outputs) > 1 else outputs[0],
                       name=reader.layer_name(graph.name or "onnx_model", "model"))
    except ValueError as error:
        raise reader.error("graph", f"the graph does not form a model: {error}") from None
    except (MemoryError, RecursionError) as error:
        raise reader.error("graph", f"{type(error).__name__} while building the model ({error})") from None
    try:   # every tensor small enough for predict to run, as the other loaders check
        validation.check_runnable(path, result)
    except ModelFileError as error:   # it names the member of a clearconv file: here the part is the graph
        raise reader.error("graph", error.reason) from None
    for variable, array, member in reader.assign:
        if tuple(array.shape) != tuple(variable.shape):
            raise reader.error(member, f"holds shape {array.shape}; the layer's weight has {variable.shape}")
        if not np.all(np.isfinite(array)):
            raise reader.error(member, "holds NaN or infinite values")
        variable.assign(array.astype(variable.dtype))
    return result


def _graph_input(reader: _Reader, value):
    from ..layers import Input
    tensor_type = value.type.tensor_type
    member = f"graph.input[{value.name}]"
    if not value.type.HasField("tensor_type") or tensor_type.elem_type not in (1, 10, 11):
        raise reader.error(member, "clearconv imports graphs whose inputs are float tensors")
    dims = []
    for i, dim in enumerate(tensor_type.shape.dim):
        if dim.HasField("dim_value") and dim.dim_value > 0:
            dims.append(int(dim.dim_value))
        elif i == 0:
            dims.append(None)
        else:
            raise reader.error(member, f"axis {i} has no fixed size ({dim.dim_param or 'unknown'}); clearconv "
                                       f"imports inputs whose axes after the batch axis are known")
    if len(dims) < 2 or len(dims) > MAX_RANK or math.prod(dims[1:]) > MAX_ELEMENTS:
        raise reader.error(member, f"shape {dims}: expected a batch axis and up to {MAX_RANK - 1} more, at most "
                                   f"{MAX_ELEMENTS:,} elements per sample")
    if dims[0] is not None:
        reader.static_batch = dims[0]
    symbol = Input(shape=tuple(dims[1:]), name=reader.layer_name(value.name, "input"))
    reader.values[value.name] = symbol
    return symbol


# --- nodes -------------------------------------------------------------------------------------------

_CAST_TYPES = {1: np.float32, 6: np.int32, 7: np.int64, 9: np.bool_, 10: np.float16, 11: np.float64}
_MAX_FOLDED = 2**24   # elements of a value computed while reading (shapes, small constants)
# Ops computed on constants: those whose result is (most often) a view of their first input, at most its size,
# and those that allocate a new array, which the file's size bounds in all (Reader.fold_left).
_VIEW_OPS = ("Identity", "Unsqueeze", "Squeeze", "Slice", "Reshape", "Transpose")
_COMPUTED_OPS = ("Gather", "Concat", "Cast", "Add", "Sub", "Mul", "Div", "ConstantOfShape")
_FOLD_FLOOR = 2**20     # elements every file may fold in all (shape arithmetic needs tens)
_FOLD_PER_BYTE = 4      # and elements per byte of the file beyond that
_MAX_SHAPE_LENGTH = 64  # entries of a shape, axes or slice argument: NumPy's own limit on dimensions


def _too_large(size: int, reader) -> str:
    return (f"a constant of {size:,} elements; clearconv computes constants of at most {_MAX_FOLDED:,} elements, "
            f"and at most {max(reader.fold_left, 0):,} more for this file ({_FOLD_PER_BYTE} per byte of the file, "
            f"{_FOLD_FLOOR:,} for any file)")


def _small_ints(array, what: str) -> list:
    """``array``'s entries as Python ints: a shape, axes or slice bounds, at most _MAX_SHAPE_LENGTH of them."""
    if array.size > _MAX_SHAPE_LENGTH:
        raise ValueError(f"{what} of {array.size:,} entries; at most {_MAX_SHAPE_LENGTH}")
    return [int(v) for v in array.ravel()]


def _folded_size(op: str, arrays: list, attributes: dict) -> int:
    """Elements of ``op``'s result on the constant inputs ``arrays``, from their shapes alone (an upper bound
    for Slice), so that a result too large is refused before it is allocated."""
    needed = {"Gather": 2, "Add": 2, "Sub": 2, "Mul": 2, "Div": 2, "Reshape": 2, "Unsqueeze": 2, "Slice": 3}.get(op, 1)
    missing = [i for i in range(needed) if i >= len(arrays) or arrays[i] is None]
    if missing:
        raise ValueError(f"input {missing[0]} is missing; {op} reads inputs 0 to {needed - 1}")
    if op in _VIEW_OPS or op == "Cast":
        return arrays[0].size
    if op == "Concat":
        return sum(a.size for a in arrays if a is not None)
    if op == "Gather":
        data, indices = arrays[0], arrays[1]
        axis = attributes.get("axis", 0)
        if not -data.ndim <= axis < data.ndim:
            raise ValueError(f"Gather axis={axis} of data of shape {data.shape}")
        # (*data[:axis], *indices, *data[axis+1:])
        return indices.size * math.prod(d for i, d in enumerate(data.shape) if i != axis % data.ndim)
    if op in ("Add", "Sub", "Mul", "Div"):
        return math.prod(np.broadcast_shapes(arrays[0].shape, arrays[1].shape))
    # ConstantOfShape
    shape = _small_ints(arrays[0], "a shape")
    if any(d < 0 for d in shape):
        raise ValueError(f"ConstantOfShape of shape {shape}")
    return math.prod(shape)


def _fold(reader: _Reader, op: str, node, arrays: list, attributes: dict, member: str):
    """``op`` computed on constant inputs (shape arithmetic and constant expressions)."""
    if op == "Identity":
        return arrays[0]
    if op == "Gather":
        return np.take(arrays[0], arrays[1].astype(np.int64), axis=attributes.get("axis", 0))
    if op == "Unsqueeze":
        result = arrays[0]
        axes = _small_ints(arrays[1], "axes")
        for axis in sorted(a % (result.ndim + len(axes)) for a in axes):
            result = np.expand_dims(result, axis)
        return result
    if op == "Squeeze":
        axes = tuple(_small_ints(arrays[1], "axes")) if len(arrays) > 1 and arrays[1] is not None else None
        return np.squeeze(arrays[0], axis=axes)
    if op == "Concat":
        return np.concatenate(arrays, axis=attributes["axis"])
    if op == "Cast":
        if attributes.get("to") not in _CAST_TYPES:
            raise ValueError(f"a Cast to data type {attributes.get('to')}")
        return arrays[0].astype(_CAST_TYPES[attributes["to"]])
    if op == "Slice":
        data, starts, ends = arrays[0], _small_ints(arrays[1], "starts"), _small_ints(arrays[2], "ends")
        axes = _small_ints(arrays[3], "axes") if len(arrays) > 3 and arrays[3] is not None else range(len(starts))
        steps = _small_ints(arrays[4], "steps") if len(arrays) > 4 and arrays[4] is not None else [1] * len(starts)
        index = [slice(None)] * data.ndim
        for axis, start, end, step in zip(axes, starts, ends, steps):
            big = 2**62   # ONNX's "to the end" is INT64_MAX; Python slices clamp any large bound
            index[int(axis)] = slice(int(max(min(start, big), -big)), int(max(min(end, big), -big)), int(step))
        return data[tuple(index)]
    if op == "Reshape":
        shape = _small_ints(arrays[1], "a shape")
        if not attributes.get("allowzero", 0):
            shape = [arrays[0].shape[i] if d == 0 else d for i, d in enumerate(shape)]
        return arrays[0].reshape(shape)
    if op == "Transpose":
        return arrays[0].transpose(attributes.get("perm"))
    if op in ("Add", "Sub", "Mul", "Div"):   # the result's size is checked by the caller (_folded_size)
        a, b = arrays
        if op == "Div" and a.dtype.kind in "iu":
            return np.trunc(a / b).astype(a.dtype)   # ONNX integer division truncates
        return {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}[op](a, b)
    if op == "ConstantOfShape":   # the shape is checked by the caller (_folded_size)
        shape = _small_ints(arrays[0], "a shape")
        value = attributes.get("value", np.zeros(1, np.float32))
        return np.full(shape, value.ravel()[0], dtype=value.dtype)
    raise ValueError(f"{op} on constant inputs is not computed by clearconv")


def _constant(reader: _Reader, attributes: dict, member: str):
    for key, dtype in (("value", None), ("value_float", np.float32), ("value_floats", np.float32),
                       ("value_int", np.int64), ("value_ints", np.int64)):
        if key in attributes:
            return np.asarray(attributes[key], dtype=dtype)
    raise reader.error(member, f"a Constant with none of value, value_float(s), value_int(s): {sorted(attributes)}")


def _symbolic(reader: _Reader, node, value, position: int = 0):
    if value is None or isinstance(value, _Const):
        raise ValueError(f"input {position} ({node.input[position]!r}) must be computed from the graph's inputs")
    return value


def _const_input(node, values: list, position: int, what: str, required: bool = True):
    value = values[position] if position < len(values) else None
    if value is None:
        if required:
            raise ValueError(f"its {what} (input {position}) is missing")
        return None
    if not isinstance(value, _Const):
        raise ValueError(f"its {what} (input {position}) must be an initializer or a constant; clearconv imports "
                         f"weights that are not computed at run time")
    return value.array


def _call(reader: _Reader, layer, inputs, weights: dict, member: str):
    """``layer(inputs)``, with ``weights`` (attribute -> array) set once the model is built."""
    output = layer(inputs)
    for attribute, array in weights.items():
        reader.assign.append((getattr(layer, attribute), np.asarray(array, dtype=np.float32), member))
    return output


def _pads_of(attributes: dict, spatial, kernels, strides, dilations, name: str) -> list:
    """[(before, after)] per spatial axis from ``pads`` or ``auto_pad``."""
    from ..kernels import shapes
    rank = len(spatial)
    auto = attributes.get("auto_pad", "NOTSET")
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        pads = [shapes.conv_padding(n, k, s, d, "same") for n, k, s, d in zip(spatial, kernels, strides, dilations)]
        return [(a, b) if auto == "SAME_UPPER" else (b, a) for a, b in pads]
    if auto == "VALID":
        return [(0, 0)] * rank
    if auto != "NOTSET":
        raise ValueError(f"auto_pad={auto!r}")
    pads = attributes.get("pads", [0] * 2 * rank)
    if len(pads) != 2 * rank or any(p < 0 for p in pads):
        raise ValueError(f"{name} pads {pads}: expected {2 * rank} non-negative numbers")
    return list(zip(pads[:rank], pads[rank:]))


def _keras_padding(pads, spatial, kernels, strides, dilations, allow_causal: bool):
    """'valid', 'same' or 'causal' when the pads are Keras's for that mode, else None."""
    from ..kernels import shapes
    if all(p == (0, 0) for p in pads):
        return "valid"
    for mode in ("same", "causal") if allow_causal and len(pads) == 1 else ("same",):
        if all(tuple(p) == shapes.conv_padding(n, k, s, d, mode)
               for p, n, k, s, d in zip(pads, spatial, kernels, strides, dilations)):
            return mode
    return None


def _zero_padding(reader: _Reader, x, pads, name: str):
    from .. import layers as L
    kind = {1: L.ZeroPadding1D, 2: L.ZeroPadding2D, 3: L.ZeroPadding3D}[len(pads)]
    out = kind(padding=tuple(tuple(p) for p in pads), data_format="channels_first",
               name=reader.layer_name(f"{name}_pad", "pad"))(x)
    return out


def _import_conv(reader: _Reader, node, values, attributes, member, name):
    from .. import layers as L
    x = _symbolic(reader, node, values[0])
    weight = _const_input(node, values, 1, "weight")
    bias = _const_input(node, values, 2, "bias", required=False)
    rank = weight.ndim - 2
    if rank not in (1, 2, 3) or len(x.shape) != rank + 2:
        raise ValueError(f"weight of shape {weight.shape} on an input of shape {x.shape}: clearconv imports 1D, 2D "
                         f"and 3D convolutions")
    kernels = tuple(int(k) for k in weight.shape[2:])
    if attributes.get("kernel_shape", list(kernels)) != list(kernels):
        raise ValueError(f"kernel_shape {attributes['kernel_shape']} disagrees with the weight's shape {weight.shape}")
    strides = tuple(attributes.get("strides", [1] * rank))
    dilations = tuple(attributes.get("dilations", [1] * rank))
    group = attributes.get("group", 1)
    spatial = x.shape[2:]
    if node.op_type == "ConvTranspose":
        return _import_conv_transpose(reader, node, x, weight, bias, attributes, member, name, kernels, strides,
                                      dilations, group)
    if group < 1 or x.shape[1] != weight.shape[1] * group:
        raise ValueError(f"group={group} and weight {weight.shape} do not fit an input of {x.shape[1]} channels")
    pads = _pads_of(attributes, spatial, kernels, strides, dilations, "Conv")
    padding = _keras_padding(pads, spatial, kernels, strides, dilations, allow_causal=True)
    if padding is None:   # pads Keras has no mode for: explicit zeros, then a 'valid' convolution
        x, padding = _zero_padding(reader, x, pads, name), "valid"
    kind = {1: L.Conv1D, 2: L.Conv2D, 3: L.Conv3D}[rank]
    layer = kind(int(weight.shape[0]), kernels, strides=strides, padding=padding, data_format="channels_first",
                 dilation_rate=dilations, groups=group, use_bias=bias is not None, name=name)
    # ONNX (F, C/g, *k) -> Keras (*k, C/g, F)
    weights = {"kernel": weight.transpose(*range(2, rank + 2), 1, 0)}
    if bias is not None:
        weights["bias"] = bias.reshape(-1)
    return _call(reader, layer, x, weights, member)


def _import_conv_transpose(reader, node, x, weight, bias, attributes, member, name, kernels, strides, dilations,
                           group):
    from .. import layers as L
    rank = len(kernels)
    if group != 1:
        raise ValueError(f"group={group}: clearconv's transposed convolutions are not grouped")
    if "output_shape" in attributes:
        raise ValueError("output_shape is given: clearconv imports a ConvTranspose described by pads and "
                         "output_padding (as torch.onnx.export writes)")
    if attributes.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
        raise ValueError(f"auto_pad={attributes['auto_pad']!r}; clearconv imports explicit pads")
    if x.shape[1] != weight.shape[0]:
        raise ValueError(f"weight {weight.shape} does not fit an input of {x.shape[1]} channels")
    pads = _pads_of({**attributes, "auto_pad": "NOTSET"}, x.shape[2:], kernels, strides, dilations, "ConvTranspose")
    extra = attributes.get("output_padding", [0] * rank)
    # ONNX's output is the scatter buffer of length (L-1)*s + k_eff, less pads, plus output_padding cells at the
    # end (bias only). Keras's 'valid' one with output_padding q is the buffer plus q cells: crop the rest.
    paddings = tuple(max(p - e, 0) for p, (_, e) in zip(extra, pads))
    crops = tuple((b, max(e - p, 0)) for p, (b, e) in zip(extra, pads))
    kind = {1: L.Conv1DTranspose, 2: L.Conv2DTranspose, 3: L.Conv3DTranspose}[rank]
    layer = kind(int(weight.shape[1]), kernels, strides=strides, padding="valid", output_padding=paddings,
                 data_format="channels_first", dilation_rate=dilations, use_bias=bias is not None, name=name)
    # ONNX (C_in, F, *k) -> Keras (*k, F, C_in)
    weights = {"kernel": weight.transpose(*range(2, rank + 2), 1, 0)}
    if bias is not None:
        weights["bias"] = bias.reshape(-1)
    y = _call(reader, layer, x, weights, member)
    if any(c != (0, 0) for c in crops):
        cropping = {1: L.Cropping1D, 2: L.Cropping2D, 3: L.Cropping3D}[rank]
        arguments = {} if rank == 1 else {"data_format": "channels_first"}
        if rank == 1:   # Cropping1D is (N, steps, C) only: crop the channels_first output through Permute
            y = L.Permute((2, 1), name=reader.layer_name(f"{name}_nlc", "permute"))(y)
            y = cropping(crops[0], name=reader.layer_name(f"{name}_crop", "crop"))(y)
            return L.Permute((2, 1), name=reader.layer_name(f"{name}_ncl", "permute"))(y)
        y = cropping(crops, name=reader.layer_name(f"{name}_crop", "crop"), **arguments)(y)
    return y


def _import_pool(reader: _Reader, node, values, attributes, member, name):
    from .. import layers as L
    x = _symbolic(reader, node, values[0])
    rank = len(x.shape) - 2
    if rank not in (1, 2, 3):
        raise ValueError(f"pooling of an input of shape {x.shape}")
    kernels = tuple(attributes.get("kernel_shape", ()))
    if len(kernels) != rank:
        raise ValueError(f"kernel_shape {list(kernels)} for an input of shape {x.shape}")
    strides = tuple(attributes.get("strides", [1] * rank))
    if any(d != 1 for d in attributes.get("dilations", [1] * rank)):
        raise ValueError(f"dilations {attributes['dilations']}: clearconv pools without dilation")
    spatial = x.shape[2:]
    pads = _pads_of(attributes, spatial, kernels, strides, [1] * rank, node.op_type)
    if attributes.get("ceil_mode", 0):
        floor = [(n + a + b - k) // s + 1 for n, (a, b), k, s in zip(spatial, pads, kernels, strides)]
        ceil = [-(-(n + a + b - k) // s) + 1 for n, (a, b), k, s in zip(spatial, pads, kernels, strides)]
        if floor != ceil:
            raise ValueError(f"ceil_mode=1 gives other sizes ({ceil}) than clearconv's pooling ({floor})")
    padding = _keras_padding(pads, spatial, kernels, strides, [1] * rank, allow_causal=False)
    is_max = node.op_type == "MaxPool"
    if padding is None:
        if is_max and id(x) not in reader.nonnegative:
            raise ValueError(f"MaxPool pads {pads} are not Keras's 'same' and the input may be negative: clearconv "
                             f"pads a max pooling with zeros only where its input is known >= 0 (after a ReLU)")
        if not is_max and not attributes.get("count_include_pad", 0):
            raise ValueError(f"AveragePool pads {pads} with count_include_pad=0 are not Keras's 'same'")
        x, padding = _zero_padding(reader, x, pads, name), "valid"
    elif padding == "same" and not is_max and attributes.get("count_include_pad", 0):
        if any(p != (0, 0) for p in pads):
            x, padding = _zero_padding(reader, x, pads, name), "valid"   # padded zeros counted, as ONNX asks
    kinds = {True: (L.MaxPooling1D, L.MaxPooling2D, L.MaxPooling3D),
             False: (L.AveragePooling1D, L.AveragePooling2D, L.AveragePooling3D)}
    y = kinds[is_max][rank - 1](kernels, strides=strides, padding=padding, data_format="channels_first",
                                name=name)(x)
    if is_max and id(x) in reader.nonnegative:
        reader.nonnegative.add(id(y))
    return y


def _import_matmul(reader: _Reader, node, values, attributes, member, name, context):
    """Gemm, or MatMul by a constant (with the Add of a constant bias that follows it): a Dense layer."""
    from .. import layers as L
    x = _symbolic(reader, node, values[0])
    weight = _const_input(node, values, 1, "weight")
    bias, output = None, node.output[0]
    if node.op_type == "Gemm":
        if attributes.get("transA", 0) or len(x.shape) != 2:
            raise ValueError(f"Gemm with transA=1 or an input of shape {x.shape}: clearconv imports x @ W + b on "
                             f"(batch, features) inputs")
        kernel = (weight.T if attributes.get("transB", 0) else weight) * attributes.get("alpha", 1.0)
        bias = _const_input(node, values, 2, "bias", required=False)
        if bias is not None:
            bias = bias * attributes.get("beta", 1.0)
    else:
        kernel = weight
        consumers, outputs_named, skip, nodes = context
        readers = consumers.get(output, [])
        if len(readers) == 1 and output not in outputs_named:
            follower = nodes[readers[0]]
            other = [n for n in follower.input if n != output]
            if follower.op_type == "Add" and len(other) == 1 and isinstance(reader.values.get(other[0]), _Const) \
                    and reader.values[other[0]].array.size == kernel.shape[-1]:
                bias, output = reader.values[other[0]].array, follower.output[0]
                skip.add(readers[0])
    if kernel.ndim != 2 or x.shape[-1] != kernel.shape[0]:
        raise ValueError(f"weight of shape {weight.shape} on an input of shape {x.shape}")
    units = int(kernel.shape[1])
    weights = {"kernel": kernel}
    if bias is not None:
        if bias.size not in (1, units):
            raise ValueError(f"bias of shape {bias.shape} for {units} units")
        weights["bias"] = np.broadcast_to(bias.reshape(-1), (units,))
    y = _call(reader, L.Dense(units, use_bias=bias is not None, name=name), x, weights, member)
    return y, output


_ACTIVATIONS = {"Sigmoid": "sigmoid", "Tanh": "tanh", "Softplus": "softplus", "Softsign": "softsign",
                "Exp": "exponential", "HardSwish": "hard_silu"}


def _import_activation(reader: _Reader, node, values, attributes, name):
    from .. import layers as L
    x = _symbolic(reader, node, values[0])
    op = node.op_type
    if op == "Relu":
        y = L.ReLU(name=name)(x)
        reader.nonnegative.add(id(y))
        return y
    if op == "LeakyRelu":
        return L.LeakyReLU(negative_slope=attributes.get("alpha", 0.01), name=name)(x)
    if op == "Elu":
        return L.ELU(alpha=attributes.get("alpha", 1.0), name=name)(x)
    if op in ("Softmax", "LogSoftmax"):
        axis = attributes.get("axis", -1) % len(x.shape)
        if axis == 0:
            raise ValueError("softmax over the batch axis")
        if op == "Softmax":
            return L.Softmax(axis=axis, name=name)(x)
        if axis != len(x.shape) - 1:
            raise ValueError(f"LogSoftmax over axis {axis}: clearconv's log_softmax is over the last axis")
        return L.Activation("log_softmax", name=name)(x)
    if op == "HardSigmoid":
        if not (abs(attributes.get("alpha", 0.2) - 1 / 6) < 1e-6 and abs(attributes.get("beta", 0.5) - 0.5) < 1e-6):
            raise ValueError(f"HardSigmoid alpha={attributes.get('alpha', 0.2)}, beta={attributes.get('beta', 0.5)}: "
                             f"clearconv's hard_sigmoid is alpha=1/6, beta=0.5")
        return L.Activation("hard_sigmoid", name=name)(x)
    if op == "Selu":
        if abs(attributes.get("alpha", 1.67326319) - 1.6732632) > 1e-5 or \
                abs(attributes.get("gamma", 1.05070102) - 1.0507010) > 1e-5:
            raise ValueError("Selu with other constants than Klambauer et al.'s")
        return L.Activation("selu", name=name)(x)
    if op == "Clip":
        low = _const_input(node, values, 1, "min", required=False)
        high = _const_input(node, values, 2, "max", required=False)
        if low is None or float(low) != 0.0:
            raise ValueError("Clip whose min is not 0: clearconv imports Clip(0, max) as ReLU(max_value)")
        y = L.ReLU(max_value=None if high is None else float(high), name=name)(x)
        reader.nonnegative.add(id(y))
        return y
    y = L.Activation(_ACTIVATIONS[op], name=name)(x)
    if op in ("Sigmoid", "Softplus", "Exp"):
        reader.nonnegative.add(id(y))
    return y


def _import_reshape(reader: _Reader, node, x, target, name, allowzero: bool = False):
    """A Reshape keeping axis 0 as the batch axis: ``target`` the full ONNX shape (entry 0 the batch)."""
    from .. import layers as L
    target = [int(d) for d in target]
    if not target:
        raise ValueError("a reshape to a scalar")
    rest = [x.shape[i] if d == 0 and not allowzero and i < len(x.shape) else d for i, d in enumerate(target)][1:]
    first = target[0]
    sample = math.prod(x.shape[1:])
    if first == -1:
        if -1 in rest or math.prod(rest) != sample:
            raise ValueError(f"a reshape to {target} that changes the batch size")
    elif not (first == _BATCH or (first == 0 and not allowzero) or first == reader.static_batch):
        raise ValueError(f"a reshape to {target} whose first axis is not the batch axis")
    if any(d < -1 or d == 0 for d in rest) or rest.count(-1) > 1:
        raise ValueError(f"a reshape to {target}")
    if -1 in rest:
        known = math.prod(d for d in rest if d != -1)
        if sample % known:
            raise ValueError(f"cannot reshape {x.shape} to {target}")
        rest = [sample // known if d == -1 else d for d in rest]
    if math.prod(rest) != sample:
        raise ValueError(f"cannot reshape a sample of shape {x.shape[1:]} to {rest}")
    if tuple(rest) == tuple(x.shape[1:]):
        return x
    if len(rest) == 1 and len(x.shape) > 2:   # row-major flattening, as ONNX; no transpose to channels_last
        return L.Flatten(data_format="channels_last", name=name)(x)
    return L.Reshape(tuple(rest), name=name)(x)


def _import_merge(reader: _Reader, node, values, name):
    from .. import layers as L
    from ..layers.operation import Operation
    op = node.op_type
    symbolic = [v for v in values if v is not None and not isinstance(v, _Const)]
    if len(symbolic) == len(values):
        if len(values) == 1:
            return values[0]
        if op in ("Sub", "Div") and len(values) != 2:
            raise ValueError(f"{op} of {len(values)} inputs")
        if op == "Div":
            return Operation.apply("numpy.divide", (values[0], values[1]), {})
        if any(len(v.shape) != len(values[0].shape) for v in values):
            raise ValueError(f"inputs of ranks {[len(v.shape) for v in values]}: clearconv merges inputs of one rank")
        kind = {"Add": L.Add, "Sum": L.Add, "Sub": L.Subtract, "Mul": L.Multiply, "Max": L.Maximum,
                "Min": L.Minimum, "Mean": L.Average}[op]
        y = kind(name=name)(list(values))
        if op in ("Add", "Sum", "Max", "Mean") and all(id(v) in reader.nonnegative for v in values):
            reader.nonnegative.add(id(y))
        return y
    if op not in ("Add", "Sub", "Mul", "Div") or len(values) != 2:
        raise ValueError(f"{op} of a constant and {len(symbolic)} computed inputs")
    # One input is a constant (a normalisation's mean or scale): an op node holding it.
    functions = {"Add": "numpy.add", "Sub": "numpy.subtract", "Mul": "numpy.multiply", "Div": "numpy.divide"}
    args = [v.array.astype(np.float32) if isinstance(v, _Const) else v for v in values]
    constant = next(a for a in args if isinstance(a, np.ndarray))
    if constant.size > _MAX_FOLDED:
        raise ValueError(f"a constant operand of {constant.size:,} elements")
    return Operation(functions[op], (tuple(args), {}), name=name)(symbolic)


def _import_node(reader: _Reader, node, member: str, consumers: dict, outputs_named: set, skip: set, nodes):
    """Read one node: its output value(s) go to ``reader.values``."""
    from .. import layers as L
    op = node.op_type
    attributes = reader.attributes(node, member)
    values = [reader.values[n] if n else None for n in node.input]
    read_later = [o for o in node.output[1:] if o and (o in consumers or o in outputs_named)]
    if read_later:
        raise ValueError(f"its output {read_later[0]!r} is read; clearconv imports the first output of {op} only")
    name = reader.layer_name(node.name or node.output[0], op)
    output = node.output[0]
    if op == "Constant":
        reader.values[output] = _Const(_constant(reader, attributes, member))
        return
    if op == "Shape":
        x = values[0]
        shape = np.asarray(x.array.shape if isinstance(x, _Const) else [_BATCH, *x.shape[1:]], dtype=np.int64)
        reader.values[output] = _Const(shape[attributes.get("start", 0):attributes.get("end", len(shape))])
        return
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, _Const) for v in present) and op in _VIEW_OPS + _COMPUTED_OPS:
        arrays = [v.array if v is not None else None for v in values]
        # the result's size from the inputs' shapes, before anything is allocated
        size = _folded_size(op, arrays, attributes)
        # A view op's result is no larger than its input, a weight the file holds: no cap of its own (a large
        # weight passed through Identity, as some exporters write, loads); a copy it makes is charged below.
        limit = size if op in _VIEW_OPS else min(_MAX_FOLDED, reader.fold_left)
        if size > limit:
            raise ValueError(_too_large(size, reader))
        result = np.asarray(_fold(reader, op, node, arrays, attributes, member))
        if not any(a is not None and np.may_share_memory(result, a) for a in arrays):   # a new array
            if op in _VIEW_OPS and result.size > reader.fold_left:
                raise ValueError(_too_large(result.size, reader))
            reader.fold_left -= result.size
        reader.values[output] = _Const(result)
        return
    if op in _CONSTANT_OPS:
        raise ValueError(f"{op} of a value computed at run time: clearconv imports {op} on constants only")
    if op in ("Conv", "ConvTranspose"):
        y = _import_conv(reader, node, values, attributes, member, name)
    elif op == "BatchNormalization":
        if attributes.get("training_mode", 0):
            raise ValueError("training_mode=1: clearconv imports inference graphs")
        x = _symbolic(reader, node, values[0])
        scale, bias, mean, variance = (_const_input(node, values, i, what) for i, what in
                                       enumerate(("scale", "bias", "mean", "variance"), start=1))
        if np.any(variance < 0):
            raise ValueError("a negative variance")
        layer = L.BatchNormalization(axis=1, epsilon=attributes.get("epsilon", 1e-5),
                                     momentum=attributes.get("momentum", 0.9), name=name)
        y = _call(reader, layer, x, {"gamma": scale, "beta": bias, "moving_mean": mean, "moving_variance": variance},
                  member)
    elif op in ("MaxPool", "AveragePool"):
        y = _import_pool(reader, node, values, attributes, member, name)
    elif op in ("GlobalAveragePool", "GlobalMaxPool"):
        x = _symbolic(reader, node, values[0])
        rank = len(x.shape) - 2
        if rank not in (1, 2, 3):
            raise ValueError(f"global pooling of an input of shape {x.shape}")
        kinds = (L.GlobalMaxPooling1D, L.GlobalMaxPooling2D, L.GlobalMaxPooling3D) if op == "GlobalMaxPool" else \
            (L.GlobalAveragePooling1D, L.GlobalAveragePooling2D, L.GlobalAveragePooling3D)
        y = kinds[rank - 1](data_format="channels_first", keepdims=True, name=name)(x)   # (N, C, 1, .., 1)
    elif op == "Flatten":
        x = _symbolic(reader, node, values[0])
        if attributes.get("axis", 1) != 1:
            raise ValueError(f"Flatten axis={attributes['axis']}: clearconv keeps the batch axis (axis=1)")
        y = x if len(x.shape) == 2 else L.Flatten(data_format="channels_last", name=name)(x)
    elif op == "Reshape":
        x = _symbolic(reader, node, values[0])
        y = _import_reshape(reader, node, x, _const_input(node, values, 1, "shape").ravel(), name,
                            bool(attributes.get("allowzero", 0)))
    elif op in ("Squeeze", "Unsqueeze"):
        x = _symbolic(reader, node, values[0])
        axes = _const_input(node, values, 1, "axes", required=(op == "Unsqueeze"))
        shape = list(x.shape)
        if op == "Squeeze":
            chosen = {int(a) % len(shape) for a in axes.ravel()} if axes is not None else \
                {i for i, d in enumerate(shape) if d == 1 and i > 0}
            if 0 in chosen or any(shape[i] != 1 for i in chosen):
                raise ValueError(f"Squeeze of axes {sorted(chosen)} of a shape {x.shape}")
            shape = [d for i, d in enumerate(shape) if i not in chosen]
        else:
            for axis in sorted(int(a) % (len(shape) + axes.size) for a in axes.ravel()):
                if axis == 0:
                    raise ValueError("Unsqueeze before the batch axis")
                shape.insert(axis, 1)
        if len(shape) < 2:
            raise ValueError(f"a result of shape {shape}: clearconv keeps at least one axis after the batch axis")
        y = _import_reshape(reader, node, x, [_BATCH, *shape[1:]], name)
    elif op in ("Gemm", "MatMul"):
        y, output = _import_matmul(reader, node, values, attributes, member, name,
                                   (consumers, outputs_named, skip, nodes))
    elif op in ("Add", "Sub", "Mul", "Div", "Sum", "Max", "Min", "Mean"):
        y = _import_merge(reader, node, values, name)
    elif op == "Concat":
        if any(isinstance(v, _Const) for v in values):
            raise ValueError("Concat of constants and computed values")
        axis = attributes.get("axis", None)
        if axis is None or axis % len(values[0].shape) == 0:
            raise ValueError(f"Concat along axis {axis}: clearconv joins along an axis after the batch axis")
        y = values[0] if len(values) == 1 else L.Concatenate(axis=axis % len(values[0].shape), name=name)(values)
    elif op == "Pad":
        y = _import_pad(reader, node, values, attributes, name)
    elif op == "Resize":
        y = _import_resize(reader, node, values, attributes, name)
    elif op in ("Dropout", "Identity"):
        y = _symbolic(reader, node, values[0])   # inference: the identity
    elif op == "Transpose":
        x = _symbolic(reader, node, values[0])
        perm = attributes.get("perm", list(range(len(x.shape)))[::-1])
        if sorted(perm) != list(range(len(x.shape))) or perm[0] != 0:
            raise ValueError(f"Transpose perm={perm}: clearconv keeps the batch axis first")
        y = x if perm == sorted(perm) else L.Permute(tuple(perm[1:]), name=name)(x)
    else:
        y = _import_activation(reader, node, values, attributes, name)
    reader.values[output] = y


def _import_pad(reader: _Reader, node, values, attributes, name):
    x = _symbolic(reader, node, values[0])
    rank = len(x.shape)
    if attributes.get("mode", "constant") != "constant":
        raise ValueError(f"mode={attributes['mode']!r}: clearconv pads with zeros")
    pads = [int(p) for p in _const_input(node, values, 1, "pads").ravel()]
    fill = _const_input(node, values, 2, "constant_value", required=False)
    if fill is not None and fill.size and float(fill.ravel()[0]) != 0.0:
        raise ValueError(f"constant_value={float(fill.ravel()[0])}: clearconv pads with zeros")
    axes = _const_input(node, values, 3, "axes", required=False)
    axes = [int(a) % rank for a in axes.ravel()] if axes is not None else list(range(rank))
    if len(pads) != 2 * len(axes):
        raise ValueError(f"pads {pads} for axes {axes}")
    per_axis = {axis: (pads[i], pads[i + len(axes)]) for i, axis in enumerate(axes)}
    if any(b < 0 or a < 0 for b, a in per_axis.values()) or any(per_axis.get(a, (0, 0)) != (0, 0) for a in (0, 1)):
        raise ValueError(f"pads {pads}: clearconv pads the spatial axes (2 and after) by non-negative amounts")
    if not 3 <= rank <= 5:
        raise ValueError(f"Pad of an input of shape {x.shape}")
    return _zero_padding(reader, x, [per_axis.get(a, (0, 0)) for a in range(2, rank)], name)


def _nearest_is_repeat(attributes: dict, scale: int, length: int) -> bool:
    """Whether ONNX's nearest Resize by the integer ``scale`` (with these attributes) repeats each cell of an
    axis of ``length`` cells: output cell i must read input cell i // scale.

    In every coordinate mode below, output cell i + scale has the source coordinate of cell i plus one, and
    rounding commutes with adding an integer: output cell k * scale + j (0 <= j < scale) reads input cell
    r(j) + k clipped to [0, length - 1], r(j) the rounded source of cell j. That is k for every k when length
    is 1, and otherwise exactly when r(j) == 0 for every j of the first period; r does not decrease with j,
    so r(0) == r(scale - 1) == 0 decides. Exact rational arithmetic: no cost in the scale, no rounding error.
    """
    from fractions import Fraction
    mode = attributes.get("coordinate_transformation_mode", "half_pixel")
    rounding = attributes.get("nearest_mode", "round_prefer_floor")
    sources = {"asymmetric": lambda j: Fraction(j, scale),
               "half_pixel": lambda j: Fraction(2 * j + 1, 2 * scale) - Fraction(1, 2),
               "pytorch_half_pixel": lambda j: Fraction(2 * j + 1, 2 * scale) - Fraction(1, 2),
               "tf_half_pixel_for_nn": lambda j: Fraction(2 * j + 1, 2 * scale)}
    if mode not in sources:   # align_corners and the others do not repeat cells
        return False
    if length == 1:
        return True
    half = Fraction(1, 2)
    round_source = {"floor": math.floor, "ceil": math.ceil,
                    "round_prefer_ceil": lambda v: math.floor(v + half)}.get(rounding,
                                                                            lambda v: math.ceil(v - half))
    return all(round_source(sources[mode](j)) == 0 for j in (0, scale - 1))


def _import_resize(reader: _Reader, node, values, attributes, name):
    from .. import layers as L
    x = _symbolic(reader, node, values[0])
    rank = len(x.shape)
    scales = _const_input(node, values, 2, "scales", required=False)
    sizes = _const_input(node, values, 3, "sizes", required=False)
    for what, given in (("scales", scales), ("sizes", sizes)):
        if given is not None and given.size > rank:   # one entry per axis: refused before it is listed
            raise ValueError(f"{what} of {given.size:,} entries for an input of rank {rank}")
    if scales is not None and scales.size:
        factors = [float(s) for s in scales.ravel()]
    elif sizes is not None and sizes.size:
        factors = [float(s) / d if d else 0.0 for s, d in zip(sizes.ravel(), [1, *x.shape[1:]])]
        factors[0] = 1.0
    else:
        raise ValueError("neither scales nor sizes is given")
    if len(factors) != rank or factors[:2] != [1.0, 1.0] or \
            any(not math.isfinite(f) or f != int(f) or f < 1 for f in factors[2:]):
        raise ValueError(f"scales {factors}: clearconv upsamples the spatial axes by integer factors")
    size = tuple(int(f) for f in factors[2:])
    # (N, C, *spatial) -> (N, C, *spatial * size): refused before any layer or check works on that size
    elements = x.shape[1] * math.prod(n * s for n, s in zip(x.shape[2:], size))
    if elements > MAX_ELEMENTS:
        raise ValueError(f"scales {factors} make an output of {elements:,} elements per sample, more than "
                         f"{MAX_ELEMENTS:,}")
    mode = attributes.get("mode", "nearest")
    if mode == "nearest":
        if not all(_nearest_is_repeat(attributes, s, n) for s, n in zip(size, x.shape[2:])):
            raise ValueError(f"nearest resize with coordinate_transformation_mode="
                             f"{attributes.get('coordinate_transformation_mode', 'half_pixel')!r} and nearest_mode="
                             f"{attributes.get('nearest_mode', 'round_prefer_floor')!r} does not repeat each cell")
        kind = {3: L.UpSampling1D, 4: L.UpSampling2D, 5: L.UpSampling3D}.get(rank)
        if rank == 3:   # UpSampling1D is (N, steps, C): through Permute
            y = L.Permute((2, 1), name=reader.layer_name(f"{name}_nlc", "permute"))(x)
            y = L.UpSampling1D(size[0], name=name)(y)
            return L.Permute((2, 1), name=reader.layer_name(f"{name}_ncl", "permute"))(y)
        return kind(size, data_format="channels_first", name=name)(x)
    if mode == "linear" and rank == 4 and attributes.get("coordinate_transformation_mode", "half_pixel") in (
            "half_pixel", "pytorch_half_pixel") and not attributes.get("antialias", 0):
        return L.UpSampling2D(size, data_format="channels_first", interpolation="bilinear", name=name)(x)
    raise ValueError(f"mode={mode!r} with coordinate_transformation_mode="
                     f"{attributes.get('coordinate_transformation_mode', 'half_pixel')!r}: clearconv imports nearest "
                     f"upsampling by integer factors and bilinear (half-pixel) 2D upsampling")
