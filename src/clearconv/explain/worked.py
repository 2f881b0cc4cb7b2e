"""A traced value written out as a worked example, the way the tutorials write it.

    print(worked_example(trace(model, x, "conv2d", (3, 4, 0))))

For a convolution: the patch, the kernel and their products as small aligned
grids (one set per input channel; padded cells shown as ``pad``), the sum, the
bias, the pre-activation, the activation, and the value the model itself
computed; then the output-size formula with this layer's numbers, and a note
that the operation is a cross-correlation (the kernel is not flipped) with the
value a flipped kernel would give. Other layer kinds print what their trace
holds (the window and its winner for max pooling, ...) in the same style.

The sum, bias, pre-activation and values are printed with Python's shortest
round-trip float text, so they parse back to the exact float64 (float32 for the
model's value) the trace holds. Grid cells are rounded for reading. A grid of
more than ``max_cells`` cells shows its first rows and columns and says how many
there are; more than ``max_channels`` input channels show the first ones and
the sum of the rest.
"""

from __future__ import annotations

import math

import numpy as np

from .. import activations
from ..kernels.shapes import conv_padding, conv_output_length, pool_padding
from ..layers import conv as conv_layers
from ..layers import pooling

PAD = "pad"
# Activations that act on one value alone; others (softmax) need the whole output row.
_ELEMENTWISE_NAMES = ("linear", "relu", "relu6", "sigmoid", "hard_sigmoid", "tanh", "elu", "selu", "softplus",
                      "softsign", "silu", "swish", "gelu", "exponential", "leaky_relu", "mish", "hard_silu",
                      "hard_swish")


def _num(value) -> str:
    """Shortest text that parses back to the same float."""
    return repr(float(value))


def _cell(value, padded: bool) -> str:
    return PAD if padded else f"{float(value):.4g}"


def _limits(rows: int, cols: int, max_cells: int) -> tuple[int, int]:
    """How many rows and columns of a rows x cols grid to show within max_cells."""
    if rows * cols <= max_cells:
        return rows, cols
    if rows == 1:
        return 1, max(1, max_cells)
    side = max(1, int(math.isqrt(max_cells)))
    shown_cols = min(cols, side)
    shown_rows = min(rows, max(1, max_cells // shown_cols))
    return shown_rows, shown_cols


def _grid(values, padding, max_cells: int, indent: str = "    ") -> list[str]:
    """A 0-, 1- or 2-D array as aligned rows of text (padding: a boolean mask or None)."""
    values = np.asarray(values, dtype=np.float64)
    mask = np.zeros(values.shape, dtype=bool) if padding is None else np.asarray(padding, dtype=bool)
    if values.ndim == 0:
        values, mask = values.reshape(1, 1), mask.reshape(1, 1)
    elif values.ndim == 1:
        values, mask = values.reshape(1, -1), mask.reshape(1, -1)
    rows, cols = values.shape
    shown_rows, shown_cols = _limits(rows, cols, max_cells)
    texts = [[_cell(values[r, c], mask[r, c]) for c in range(shown_cols)] for r in range(shown_rows)]
    width = max(len(t) for row in texts for t in row)
    lines = [indent + "[" + " ".join(t.rjust(width) for t in row) + (" ..." if shown_cols < cols else "") + "]"
             for row in texts]
    if (shown_rows, shown_cols) != (rows, cols):
        lines.append(f"{indent}... {rows} x {cols} = {rows * cols} cells, first {shown_rows} rows and "
                     f"{shown_cols} columns shown")
    return lines


def _slices(shape):
    """Index tuples over the leading axes of an array of spatial rank > 2, so each slice is 2-D."""
    if len(shape) <= 2:
        yield (), ""
        return
    for lead in np.ndindex(*shape[:-2]):
        yield lead, f" [{', '.join(map(str, lead))}, :, :]"


def _named_grids(name_arrays, padding, max_cells) -> list[str]:
    """Each (name, array) as a grid; arrays of more than 2 axes split into 2-D slices."""
    lines = []
    for name, array in name_arrays:
        array = np.asarray(array)
        for lead, label in _slices(array.shape):
            lines.append(f"  {name}{label}:")
            lines.extend(_grid(array[lead], None if padding is None or name != "patch" else padding[lead],
                               max_cells))
    return lines


def _activation_lines(layer, pre: float, value) -> list[str]:
    function = getattr(layer, "activation", None)
    name = (activations.builtin_name(function) or getattr(function, "__name__", "activation")) \
        if function is not None else "linear"
    if name == "linear":
        return [f"linear (no activation): value = {_num(pre)}"]
    if name in _ELEMENTWISE_NAMES:
        computed = float(np.asarray(function(np.array([pre], dtype=np.float64))).ravel()[0])
        return [f"{name}({_num(pre)}) = {_num(computed)}"]
    return [f"{name} of the whole output row (it needs every pre-activation of the row, not this one alone): "
            f"see the model's output"]


def _spatial_shape(layer, x) -> tuple:
    x = np.asarray(x)
    return tuple(x.shape[1:]) if getattr(layer, "data_format", "channels_last") == "channels_first" \
        else tuple(x.shape[:-1])


def output_size_lines(layer, x) -> list[str]:
    """The output-size formula per spatial axis with this layer's numbers, for conv and pooling layers."""
    spatial = _spatial_shape(layer, x)
    if isinstance(layer, pooling._Pooling):
        kernel, dilation = layer.pool_size, (1,) * len(spatial)
        pads = [pool_padding(n, k, s, layer.padding) for n, k, s in zip(spatial, kernel, layer.strides)]
    else:
        kernel, dilation = layer.kernel_size, layer.dilation_rate
        pads = [conv_padding(n, k, s, d, layer.padding)
                for n, k, s, d in zip(spatial, kernel, layer.strides, dilation)]
    lines = [f"output size per spatial axis ({layer.padding!r} padding): "
             f"(L + pad_before + pad_after - d*(k-1) - 1) // s + 1"]
    for axis, (n, k, s, d, (before, after)) in enumerate(zip(spatial, kernel, layer.strides, dilation, pads)):
        out = conv_output_length(n, k, s, d, (before, after))
        lines.append(f"  axis {axis}: ({n} + {before} + {after} - {d}*({k}-1) - 1) // {s} + 1 = {out}")
    return lines


def flipped_value(trace) -> float:
    """sum(patch * kernel flipped along its spatial axes) + bias, in float64 (a true convolution)."""
    kernel = np.asarray(trace.kernel, dtype=np.float64)
    spatial_axes = tuple(range(kernel.ndim - 1)) if isinstance(trace.layer, _CONV) else tuple(range(kernel.ndim))
    return float((np.asarray(trace.patch, dtype=np.float64) * np.flip(kernel, axis=spatial_axes)).sum()
                 + float(trace.bias))


_CONV = (conv_layers.Conv1D, conv_layers.Conv2D, conv_layers.Conv3D)


def _is_conv(layer) -> bool:
    return isinstance(layer, _CONV) or (isinstance(layer, conv_layers._DepthwiseConv)
                                        and not isinstance(layer, conv_layers._SeparableConv))


def _header(trace) -> list[str]:
    layer = trace.layer
    name = trace.path or layer.name
    call = f", call {trace.call + 1} of {trace.calls}" if trace.calls > 1 else ""
    return [f"layer {name} ({type(layer).__name__}{call}), output index {list(trace.index)} (batch axis left out)",
            f"rule: {trace.rule}"]


def _conv_lines(trace, max_cells: int, max_channels: int) -> list[str]:
    layer = trace.layer
    patch, kernel, products = (np.asarray(a, dtype=np.float64) for a in (trace.patch, trace.kernel, trace.products))
    padding = np.asarray(trace.padding, dtype=bool)
    lines = []
    if isinstance(layer, _CONV):
        channels = patch.shape[-1]
        first = trace.input_index[2].start if isinstance(trace.input_index[2], slice) else 0
        for c in range(min(channels, max_channels)):
            lines.append(f"input channel {first + c}" + (f" ({c + 1} of {channels})" if channels > 1 else "")
                         + ":")
            lines.extend(_named_grids([("patch", patch[..., c]), ("kernel", kernel[..., c]),
                                       ("products", products[..., c])], padding[..., c], max_cells))
            lines.append(f"  channel sum = {_num(products[..., c].sum())}")
        if channels > max_channels:
            rest = products[..., max_channels:].sum()
            lines.append(f"... {channels - max_channels} more input channels ({channels} in all), "
                         f"their products sum to {_num(rest)}")
    else:  # depthwise: one input channel
        lines.append(f"input channel {trace.input_index[2]}:")
        lines.extend(_named_grids([("patch", patch), ("kernel", kernel), ("products", products)], padding,
                                  max_cells))
    total = float(products.sum())
    lines += [f"sum = {_num(total)}", f"+ bias {_num(trace.bias)}", f"= pre-activation {_num(trace.pre_activation)}"]
    lines += _activation_lines(layer, float(trace.pre_activation), trace.value)
    lines.append(f"model output at {list(trace.index)} = {_num(trace.value)}")
    lines += output_size_lines(layer, trace.inputs)
    flipped = flipped_value(trace)
    lines.append("this is a cross-correlation: the kernel is applied as stored, not flipped (as in Keras, "
                 "PyTorch and every deep-learning library)")
    lines.append(f"a true convolution (kernel flipped along its spatial axes) would give: "
                 f"sum(patch * flipped kernel) + bias = {_num(flipped)}"
                 + (" (the same: the kernel is symmetric here)" if np.isclose(flipped, trace.pre_activation,
                                                                          rtol=0, atol=1e-12) else ""))
    return lines


def _other_lines(trace, max_cells: int) -> list[str]:
    layer = trace.layer
    lines = []
    if trace.patch is not None:
        patch = np.asarray(trace.patch, dtype=np.float64)
        padding = None if trace.padding is None else np.asarray(trace.padding, dtype=bool)
        arrays = [("patch" if trace.kernel is not None else "window", patch)]
        if trace.kernel is not None:
            arrays += [("kernel", trace.kernel), ("products", trace.products)]
        for name, array in arrays:
            array = np.asarray(array, dtype=np.float64)
            for lead, label in _slices(array.shape):
                lines.append(f"  {name}{label}:")
                lines.extend(_grid(array[lead], None if padding is None or name not in ("patch", "window")
                                   else padding[lead], max_cells))
    if isinstance(layer, pooling._Pooling):
        lines += output_size_lines(layer, trace.inputs)
    if trace.products is not None:
        lines.append(f"sum = {_num(np.asarray(trace.products, dtype=np.float64).sum())}")
        if trace.bias is not None:
            lines.append(f"+ bias {_num(trace.bias)}")
        lines.append(f"= pre-activation {_num(trace.pre_activation)}")
        if getattr(layer, "activation", None) is not None and not isinstance(layer, pooling._Pooling):
            lines += _activation_lines(layer, float(trace.pre_activation), trace.value)
    else:
        if trace.input_index is not None:
            lines.append(f"from input cell {trace.input_index}"
                         + (" (the winner)" if "max" in type(layer).__name__.lower() else ""))
        if trace.source is not None:
            lines.append(f"input(s): {trace.source}")
        lines.append(f"= {_num(trace.pre_activation)}")
    lines.append(f"model output at {list(trace.index)} = {_num(trace.value)}")
    return lines


def worked_example(trace, max_cells: int = 49, max_channels: int = 4) -> str:
    """``trace`` (a :class:`clearconv.explain.trace.Trace`) as a worked example; see the module docstring."""
    lines = _header(trace)
    if _is_conv(trace.layer) and trace.kernel is not None:
        lines += _conv_lines(trace, max_cells, max_channels)
    else:
        lines += _other_lines(trace, max_cells)
    return "\n".join(lines)
