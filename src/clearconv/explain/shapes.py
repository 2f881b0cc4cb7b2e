"""Every layer's output shape, parameters, multiply-accumulates and receptive field.

The receptive field follows the standard arithmetic (Araujo et al., "Computing receptive fields of
convolutional neural networks", Distill 2019), per spatial axis, from the model input forwards::

    r_out     = r_in + (k_eff - 1) * j_in              size of the input window one output cell sees
    j_out     = j_in * s                               jump: input pixels between neighbouring output cells
    start_out = start_in + ((k_eff - 1)/2 - pad_before) * j_in
                                                       input coordinate of the centre of output cell 0

with ``k_eff = d * (k - 1) + 1`` and the padding from :mod:`clearconv.kernels.shapes`, the one place
for size arithmetic. Convolutions (also depthwise and separable) and poolings follow the recurrence;
activations, normalisation, dropout and merges keep the field (merges take the largest); Flatten,
Dense on a flat input and global poolings see the whole input. A layer the arithmetic does not cover
reports ``None``.

Multiply-accumulates (MACs) per sample: a convolution ``out_cells * prod(k) * (C_in / groups) * F``,
a depthwise convolution ``out_cells * prod(k) * C_in * depth_multiplier`` (plus the pointwise
``out_cells * C_in * depth_multiplier * F`` of a separable one), a transposed convolution
``in_cells * prod(k) * C_in * F``, a dense layer ``in * out`` per position. Other layers count 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Optional

from ..kernels import shapes as size

__all__ = ["LayerRow", "shape_table", "format_shape_table"]

_IDENTITY = {"InputLayer", "Activation", "ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax", "ThresholdedReLU",
             "BatchNormalization", "LayerNormalization", "GroupNormalization", "UnitNormalization",
             "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise",
             "GaussianDropout", "AlphaDropout", "ActivityRegularization", "Rescaling", "Normalization",
             "Identity", "Masking"}
_MERGE = {"Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate"}
_CONV = {"Conv1D", "Conv2D", "Conv3D", "DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D",
         "SeparableConv2D"}
_TRANSPOSE = {"Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose"}
_POOL = {"MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D",
         "AveragePooling3D"}
_WHOLE = {"Flatten", "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D",
          "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D"}


@dataclass(frozen=True)
class LayerRow:
    """One layer of :func:`shape_table`.

    receptive_field: input pixels one output cell sees, per spatial axis of the model input.
    jump: input pixels between neighbouring output cells, per axis (None once the spatial axes are gone).
    start: input coordinate of the centre of output cell 0, per axis (None once the spatial axes are gone).
    Any of the three is None where the arithmetic does not cover the layer.
    """

    name: str
    cls: str
    output_shape: tuple
    params: int
    macs: int
    receptive_field: Optional[tuple]
    jump: Optional[tuple]
    start: Optional[tuple]


@dataclass(frozen=True)
class _Field:
    size: tuple            # the model input's spatial size this tensor comes from
    r: Optional[tuple]
    j: Optional[tuple]
    start: Optional[tuple]


def _spatial(shape: tuple, channels_first: bool) -> tuple:
    return tuple(shape[2:]) if channels_first else tuple(shape[1:-1])


def _channels(shape: tuple, channels_first: bool) -> int:
    return int(shape[1] if channels_first else shape[-1])


def _seed(tensor) -> _Field:
    """A model input: every cell sees itself."""
    spatial = tuple(int(n) for n in tensor.shape[1:-1])
    rank = len(spatial)
    return _Field(spatial, (1,) * rank, (Fraction(1),) * rank, (Fraction(0),) * rank)


def _tuple(value, rank: int) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * rank


def _whole(field: _Field) -> _Field:
    return _Field(field.size, field.size, None, None)


def _windowed(field: _Field, in_spatial, kernel, strides, dilation, pads) -> _Field:
    """The recurrence through a window of ``kernel`` taps (pads: (before, after) per axis)."""
    if field.j is None or len(field.j) != len(kernel):
        return _Field(field.size, None, None, None)
    r, j, start = [], [], []
    for r_in, j_in, s_in, k, s, d, (before, _) in zip(field.r, field.j, field.start, kernel, strides, dilation,
                                                      pads):
        k_eff = size.effective_kernel(k, d)
        r.append(r_in + (k_eff - 1) * j_in)
        j.append(j_in * s)
        start.append(s_in + (Fraction(k_eff - 1, 2) - before) * j_in)
    return _Field(field.size, tuple(r), tuple(j), tuple(start))


def _transposed(field: _Field, layer, kernel, strides, dilation) -> _Field:
    """Output cell o sits in the scatter buffer at o + crop = i*s + t*d: centred on i = (o + crop - (k_eff-1)/2) / s."""
    if field.j is None or len(field.j) != len(kernel):
        return _Field(field.size, None, None, None)
    output_padding = _tuple(getattr(layer, "output_padding", None), len(kernel))
    r, j, start = [], [], []
    for r_in, j_in, s_in, k, s, d, p in zip(field.r, field.j, field.start, kernel, strides, dilation,
                                            output_padding):
        k_eff = size.effective_kernel(k, d)
        crop = size.conv_transpose_crop(k, s, d, layer.padding, p)
        r.append(r_in + (-(-k_eff // s) - 1) * j_in)
        j.append(j_in / s)
        start.append(s_in + (crop - Fraction(k_eff - 1, 2)) * j_in / s)
    return _Field(field.size, tuple(r), tuple(j), tuple(start))


def _merge(fields: list) -> _Field:
    known = [f for f in fields if f.r is not None]
    if not known or len(known) < len(fields):
        return _Field(fields[0].size, None, None, None)
    widest = max(known, key=lambda f: tuple(f.r))
    return widest


def _layer(layer, fields: list, in_shapes: list, out_shape: tuple) -> tuple:
    """(MACs, output field) of one layer."""
    kind = type(layer).__name__
    field = fields[0]
    channels_first = getattr(layer, "data_format", "channels_last") == "channels_first"
    in_shape = in_shapes[0]
    out_cells = math.prod(int(n) for n in _spatial(out_shape, channels_first)) if len(out_shape) > 2 else 1
    if hasattr(layer, "layers") and hasattr(layer, "inputs"):      # a model inside the model
        return sum(row.macs for row in shape_table(layer)), _Field(field.size, None, None, None)
    if kind in _IDENTITY:
        return 0, field
    if kind in _MERGE:
        return 0, _merge(fields)
    if kind in _WHOLE:
        return 0, _whole(field)
    if kind == "Dense":
        macs = math.prod(int(n) for n in in_shape[1:-1]) * int(in_shape[-1]) * int(out_shape[-1])
        return macs, (_whole(field) if len(in_shape) == 2 else field)
    spatial_in = _spatial(in_shape, channels_first)
    if kind in _CONV:
        kernel, strides, dilation = layer.kernel_size, layer.strides, layer.dilation_rate
        pads = [size.conv_padding(int(n), k, s, d, layer.padding)
                for n, k, s, d in zip(spatial_in, kernel, strides, dilation)]
        c_in = _channels(in_shape, channels_first)
        taps = math.prod(kernel)
        if kind.startswith("Depthwise") or kind.startswith("Separable"):
            multiplier = layer.depth_multiplier
            macs = out_cells * taps * c_in * multiplier
            if kind.startswith("Separable"):
                macs += out_cells * c_in * multiplier * int(layer.filters)
        else:
            macs = out_cells * taps * (c_in // layer.groups) * int(layer.filters)
        return macs, _windowed(field, spatial_in, kernel, strides, dilation, pads)
    if kind in _TRANSPOSE:
        kernel, strides, dilation = layer.kernel_size, layer.strides, layer.dilation_rate
        in_cells = math.prod(int(n) for n in spatial_in)
        macs = in_cells * math.prod(kernel) * _channels(in_shape, channels_first) * int(layer.filters)
        return macs, _transposed(field, layer, kernel, strides, dilation)
    if kind in _POOL:
        pool, strides = layer.pool_size, layer.strides
        pads = [size.pool_padding(int(n), p, s, layer.padding) for n, p, s in zip(spatial_in, pool, strides)]
        return 0, _windowed(field, spatial_in, pool, strides, (1,) * len(pool), pads)
    return 0, _Field(field.size, None, None, None)


def _exact(values):
    """Fractions as ints where whole, floats otherwise (None stays None)."""
    if values is None:
        return None
    return tuple(int(v) if Fraction(v).denominator == 1 else float(v) for v in values)


def shape_table(model) -> list:
    """One :class:`LayerRow` per layer of a built model, in the model's layer order."""
    fields: dict = {}
    rows = []
    for layer in model.layers:
        if type(layer).__name__ == "InputLayer":      # a model input: every cell sees itself
            shape = tuple(layer.batch_input_shape)
            rank = len(shape) - 2
            field = _Field(tuple(shape[1:-1]), (1,) * rank, (Fraction(1),) * rank, (Fraction(0),) * rank)
            macs = 0
        else:
            output = layer.output
            inputs = list(getattr(output, "inputs", []) or [])
            shape = tuple(output.shape)
            if inputs:
                in_fields = [fields.get(id(t)) or _seed(t) for t in inputs]
                macs, field = _layer(layer, in_fields, [tuple(t.shape) for t in inputs], shape)
            else:
                macs, field = 0, _seed(output)
            fields[id(output)] = field
        rows.append(LayerRow(layer.name, type(layer).__name__, shape, int(layer.count_params()),
                             int(macs), _exact(field.r), _exact(field.j), _exact(field.start)))
    return rows


def _cell(values) -> str:
    if not values:
        return "-"
    return "x".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values)


def format_shape_table(rows: list) -> str:
    """The rows as a text table with a totals line (parameters and MACs)."""
    header = ("layer", "class", "output shape", "params", "MACs", "receptive field", "jump", "start")
    body = [(r.name, r.cls, str(r.output_shape).replace("None", "?"), f"{r.params:,}", f"{r.macs:,}",
             _cell(r.receptive_field), _cell(r.jump), _cell(r.start)) for r in rows]
    total = ("total", "", "", f"{sum(r.params for r in rows):,}", f"{sum(r.macs for r in rows):,}", "", "", "")
    widths = [max(len(line[i]) for line in [header, *body, total]) for i in range(len(header))]
    numeric = {3, 4}

    def line(cells):
        return "  ".join(c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in
                         enumerate(zip(cells, widths))).rstrip()

    rule = "-" * len(line(header))
    return "\n".join([line(header), rule, *map(line, body), rule, line(total)])
