"""Trace one output value of one layer back to the numbers it was computed from.

    t = trace(model, x, "conv2d", (3, 4, 0))     # row 3, column 4, filter 0 of example 0
    t.patch, t.kernel, t.products, t.bias         # sum(products) + bias == pre_activation
    t.value                                       # the layer's output in the model's forward pass
    t.receptive_field                             # ((start, stop), ...) per spatial axis of the input

The layer's input and output for ``x`` come from replaying the model's graph
node by node with ``training=False`` (as :meth:`Model.call` does), so ``value``
is the model's own output, bit for bit. The arithmetic (``products``, ``bias``,
``pre_activation``) is recomputed in float64 from the stored float32 arrays, so
``sum(products) + bias == pre_activation`` holds in float64 and
``activation(pre_activation)`` equals ``value`` within float32 rounding.
Nothing is written to the model or its weights.

Shared layers and nested models: ``layer`` may name a layer inside a nested
model, by its path ("encoder/conv2d") or its bare name when that is unique. A
layer that the model calls more than once (a shared layer, or one inside a
nested model called on several inputs, as in a siamese network) has one output
per call; ``call=k`` picks the k-th in graph order (without it, such a layer is
refused, as Keras refuses ``layer.output``), and the trace's ``path``, ``call``
and ``calls`` say which. The receptive field follows the call out through each
nested model's call to the model's own inputs. :class:`Tracer` runs the forward
pass once for any number of traces of one input.

Supported layer kinds (:data:`SUPPORTED_LAYERS`; any other raises NotImplementedError):

* Conv1D, Conv2D, Conv3D: strides, dilation, groups, 'valid'/'same'/'causal'
  padding, channels_last and channels_first. ``patch`` has the kernel's shape
  ``(*kernel_size, in_channels // groups)``; padded cells hold 0 and are True
  in the boolean ``padding`` mask.
* DepthwiseConv1D, DepthwiseConv2D: the same options; ``patch`` is the window of
  one input channel, ``kernel`` that channel's filter for the output's multiplier.
* SeparableConv1D, SeparableConv2D: the same options. The top level is the
  pointwise stage: ``patch`` holds the depthwise outputs at the position (one
  per depthwise channel ``c * depth_multiplier + m``, recomputed in float64),
  ``kernel`` the pointwise kernel's column for the filter, ``bias`` the layer's
  bias. ``stages`` holds, per depthwise channel in that order, a dict with
  ``channel``, ``input_channel`` (c), ``multiplier`` (m), ``patch`` (the window
  of input channel c, kernel-shaped), ``padding``, ``kernel`` (the depthwise
  filter), ``products`` and ``value`` == sum(products) == ``patch`` of the top
  level at that channel (the depthwise stage has no bias).
* Conv1DTranspose, Conv2DTranspose, Conv3DTranspose: 'valid'/'same' padding,
  ``output_padding``, strides, dilation, both data formats. Input cell ``i``
  scatters through tap ``j`` into output cell ``o`` when
  ``o + crop == i * stride + j * dilation`` per axis (``crop`` from
  :func:`~clearconv.kernels.shapes.conv_transpose_crop`). ``patch`` is aligned
  with the taps, shape ``(*kernel_size, in_channels)``: at tap j, the input cell
  that reaches ``o`` through j (every channel); taps that no input cell reaches
  through hold 0 and are True in ``padding``. ``kernel`` is ``kernel[..., filter, :]``
  (same shape). ``input_index`` is a tuple of integer arrays, one per spatial
  axis, of the kernel's spatial shape: the input position each tap reads, -1
  where no cell is reached. A cell that no tap reaches holds only the bias.
* Dense: ``patch`` is the input vector, ``kernel`` the kernel's column.
* MaxPooling1D/2D/3D: ``patch`` is the window, ``input_index`` the winner.
* AveragePooling1D/2D/3D: ``kernel`` is 1/count on the window's data cells and 0
  on padded cells (which Keras leaves out of the mean).
* GlobalMaxPooling1D/2D/3D, GlobalAveragePooling1D/2D/3D.
* BatchNormalization (inference): ``kernel`` the channel's scale
  gamma / sqrt(moving_variance + epsilon), ``bias`` its shift beta - moving_mean * scale.
* Activation, ReLU, LeakyReLU, ELU (element-wise): ``pre_activation`` is the input cell.
* Flatten, Reshape, Dropout, InputLayer: ``input_index`` is where the value was before.
* Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate: ``source``
  is the input the value came from (Concatenate; the winner for Maximum and
  Minimum), else every input; ``patch`` holds the inputs' cells that were combined.

``receptive_field``: for each spatial axis of the model's input, the half-open
range ``(start, stop)`` from the first to the last input cell the value depends
on (dilation may leave cells inside it unread). Each layer's
(kernel, stride, dilation, padding before) is composed back to the model's input
along every graph path (the union over a merge's inputs). Ranges at the model's
input keep the cells that the first layer's padding adds (start may be negative,
stop may pass the input's size). Padding of inner layers reads no input, so
ranges are clipped to each inner tensor. A layer kind on the path whose geometry
is not modelled (say ZeroPadding2D) counts as reading all of its input: a bound
that holds, not the least one. Layers that mix every position (Flatten
then Dense, global pooling) give the whole input. A transposed convolution maps
an output cell ``o`` back to the input cells ``i`` with ``o = i * stride - crop
+ j * dilation`` for some tap ``j``; a value that depends on no input cell (an
output cell that only the bias reaches) gives ``()`` for a single-input model. A model whose input has no
spatial axes gives ``()``; a model of several inputs gives one entry per input
(None for an input the value does not depend on).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import activations
from ..config import image_data_format
from ..kernels.shapes import conv_transpose_crop, pool_padding
from ..layers import conv as conv_layers
from ..layers import core, merge, normalization, pooling, regularization
from ..layers.core import InputLayer
from ..models.functional import Model
from ..nested import flatten, map_structure

_CONV = (conv_layers.Conv1D, conv_layers.Conv2D, conv_layers.Conv3D)
_ELEMENTWISE_ACTIVATIONS = (core.Activation, core.ReLU, core.LeakyReLU, core.ELU)
_PASS_THROUGH = (core.Dropout, InputLayer, regularization.GaussianNoise, regularization.GaussianDropout,
                 regularization.SpatialDropout1D, regularization.SpatialDropout2D, regularization.SpatialDropout3D)
_DEPTHWISE = conv_layers._DepthwiseConv
_SEPARABLE = conv_layers._SeparableConv
_TRANSPOSE = conv_layers._ConvTranspose
_ARITHMETIC_MERGE = (merge.Add, merge.Subtract, merge.Multiply, merge.Average, merge.Maximum, merge.Minimum)
_ELEMENTWISE = (normalization.BatchNormalization, core.PReLU) + _ELEMENTWISE_ACTIVATIONS + _PASS_THROUGH

SUPPORTED_LAYERS = (
    "Conv1D", "Conv2D", "Conv3D", "DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D",
    "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose", "Dense",
    "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D", "AveragePooling3D",
    "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D",
    "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D",
    "BatchNormalization", "Activation", "ReLU", "LeakyReLU", "ELU", "Flatten", "Reshape", "Dropout",
    "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate",
)


@dataclass(frozen=True, eq=False)
class Trace:
    """How one value of one layer's output (example 0) was computed; see the module docstring.

    Arithmetic layers fill ``patch``, ``kernel``, ``products`` and ``bias`` with
    ``sum(products) + bias == pre_activation`` in float64; the others leave what
    does not apply as None.
    """

    layer: Any
    index: tuple
    value: Any
    rule: str
    inputs: Any                 # the layer's input for example 0 (a list for a merge layer)
    receptive_field: tuple
    pre_activation: Any = None
    bias: Any = None
    patch: Any = None
    padding: Any = None         # boolean mask, the shape of `patch`: True where the cell is padding
    kernel: Any = None
    products: Any = None
    input_index: Any = None     # where in `inputs` the patch (or the copied value / the winner) lies
    source: Any = None          # for merges: the input(s) the value came from
    stages: Any = None          # SeparableConv: the depthwise trace (a dict) of each channel of `patch`
    path: str = ""              # the layer's name, after the nested models it sits in: "encoder/conv2d"
    call: int = 0               # which call of the layer (0-based, graph order) this value belongs to
    calls: int = 1              # how many times the model calls the layer (a shared layer or nested model)


# --- the forward pass and the layer's calls ---------------------------------------

def _forward(model, inputs) -> dict:
    """Every graph tensor's value for ``inputs``, keyed by id of its SymbolicTensor: the layer calls of
    :meth:`Model.call`, replayed in the same order with training=False, keeping each output."""
    if not _is_graph_model(model):
        raise ValueError(f"{model.name}: trace needs a model built from symbolic tensors (functional, or "
                         f"Sequential with a known input shape)")
    values = model.run_graph(inputs, training=False, force_training=True)
    return {key: np.asarray(value) for key, value in values.items()}


def _is_graph_model(layer) -> bool:
    return isinstance(layer, Model) and bool(getattr(layer, "_graph", False))


def _calls(model, layer) -> list:
    """Every call of ``layer`` in ``model``, in graph order, as a chain of graph nodes: (node,) for a call in
    ``model``'s own graph, (node of a nested model, ..., node) for a call inside nested models."""
    chains = [(symbol,) for symbol in model.inputs if symbol.layer is layer]
    for node in model._nodes:
        if node.layer is layer:
            chains.append((node,))
        elif _is_graph_model(node.layer):
            chains.extend((node, *inner) for inner in _calls(node.layer, layer))
    return chains


def _named(model, name: str) -> list:
    """The layers named ``name`` in ``model`` and the models nested in it; a path "outer/inner" walks down."""
    head, _, rest = name.partition("/")
    found = []
    for layer in model.layers:
        if rest:
            if layer.name == head and _is_graph_model(layer):
                found.extend(_named(layer, rest))
            continue
        if layer.name == name:
            found.append(layer)
        elif _is_graph_model(layer):
            found.extend(_named(layer, name))
    return list({id(layer): layer for layer in found}.values())


def find_layer(model, layer):
    """The layer object ``layer`` names (a name, a path through nested models, or the layer itself)."""
    if not isinstance(layer, str):
        return layer
    found = _named(model, layer)
    if len(found) == 1:
        return found[0]
    if not found:
        raise ValueError(f"{model.name}: no layer named {layer!r} (its layers: "
                         f"{', '.join(l.name for l in model.layers)}; name a layer inside a nested model "
                         f"as 'nested_model/layer')")
    raise ValueError(f"{model.name}: {len(found)} layers are named {layer!r} in different nested models; "
                     f"name one by its path, such as 'nested_model/{layer}'")


def _find_node(model, layer):
    """The graph node of ``layer``'s single call in ``model`` itself (a layer name or object)."""
    layer = find_layer(model, layer)
    chains = [chain for chain in _calls(model, layer) if len(chain) == 1]
    if not chains:
        raise ValueError(f"{model.name}: layer {getattr(layer, 'name', layer)!r} is not in this model")
    return chains[0][0]


class Tracer:
    """One inference pass of ``model`` on ``x``, traced at as many values as wanted.

    ``Tracer(model, x).trace(layer, index)`` equals ``trace(model, x, layer, index)``; the forward pass
    (and that of each nested model a traced call sits in) runs once, not once per value.
    """

    def __init__(self, model, x):
        self.model = model
        self._graphs = {(): _forward(model, x)}   # chain prefix (ids of nested-model nodes) -> values

    def _values(self, prefix: tuple) -> dict:
        """The values of the graph that the nested-model nodes ``prefix`` lead into."""
        key = tuple(id(node) for node in prefix)
        if key not in self._graphs:
            outer = self._values(prefix[:-1])
            node = prefix[-1]
            inputs = [outer[id(parent)] for parent in flatten(node.call_inputs)]
            self._graphs[key] = _forward(node.layer, inputs)
        return self._graphs[key]

    def calls(self, layer) -> list:
        """Every call of ``layer`` (a name, a path such as "encoder/conv2d", or the layer), in graph order."""
        layer = find_layer(self.model, layer)
        chains = _calls(self.model, layer)
        if not chains:
            raise ValueError(f"{self.model.name}: layer {getattr(layer, 'name', layer)!r} is not in this model")
        return chains

    def _chain(self, layer, call):
        chains = self.calls(layer)
        if call is None:
            if len(chains) > 1:
                raise ValueError(f"layer {chains[0][-1].layer.name!r} is called {len(chains)} times in "
                                 f"{self.model.name} (a shared layer, or one inside a model called more than "
                                 f"once): say which with call=0..{len(chains) - 1}")
            call = 0
        if isinstance(call, bool) or not isinstance(call, (int, np.integer)) or not 0 <= call < len(chains):
            raise ValueError(f"call must be an integer from 0 to {len(chains) - 1} (layer "
                             f"{chains[0][-1].layer.name!r} has {len(chains)} call(s)); received {call!r}")
        return chains[int(call)], int(call), len(chains)

    def output(self, layer, call=None) -> np.ndarray:
        """The layer's output for example 0 of ``x`` (no batch axis), in the model's own forward pass."""
        chain, _, _ = self._chain(layer, call)
        return self._values(chain[:-1])[id(chain[-1])][0]

    def inputs(self, layer, call=None) -> list:
        """The values the layer's call read, example 0 each (no batch axis); [] for a model input."""
        chain, _, _ = self._chain(layer, call)
        node = chain[-1]
        if isinstance(node.layer, InputLayer):
            return []
        values = self._values(chain[:-1])
        return [values[id(parent)][0] for parent in flatten(node.call_inputs)]

    def model_outputs(self) -> list:
        """The model's outputs for example 0 (no batch axis), in the order of ``model.outputs``."""
        return [self._graphs[()][id(symbol)][0] for symbol in self.model.outputs]

    def data_format(self, layer, call=None) -> str:
        """"channels_last" or "channels_first": where the channels are in the layer's output. A layer
        without a data_format of its own (an activation, BatchNormalization, a merge) keeps the layout of
        the nearest layer before it that has one; a model input takes that of the layers reading it."""
        chain, _, _ = self._chain(layer, call)
        return _output_format(self.model, chain)

    def trace(self, layer, index, call=None) -> Trace:
        """How ``layer``'s output at ``index`` (no batch axis; example 0) was computed: see :func:`trace`."""
        chain, call, calls = self._chain(layer, call)
        return _trace_node(self, chain, index, call, calls)


def _weight(variable):
    return None if variable is None else np.asarray(variable.data, dtype=np.float64)


def _activation_name(function) -> str:
    return activations.builtin_name(function) or getattr(function, "__name__", repr(function))


def _then(function) -> str:
    name = _activation_name(function)
    return "" if name == "linear" else f", then {name}"


# --- per-layer rules ------------------------------------------------------------

def _check_index(index, shape, layer) -> tuple:
    index = tuple(int(i) for i in (index if isinstance(index, (tuple, list)) else (index,)))
    if len(index) != len(shape) or any(not 0 <= i < n for i, n in zip(index, shape)):
        raise IndexError(f"{layer.name}: index {index} is not in the layer's output of shape {tuple(shape)} "
                         f"(batch axis left out)")
    return index


def _split(layer, index):
    """(spatial index, channel) of an index into a spatial layer's output, whatever the data_format."""
    if layer.data_format == "channels_first":
        return index[1:], index[0]
    return index[:-1], index[-1]


def _channels_last(layer, x):
    return np.moveaxis(x, 0, -1) if layer.data_format == "channels_first" else x


def _window(x_last, starts, size, dilation):
    """Cells of x_last (*S, C) at starts + k * dilation: values (0 where padded), padding mask, indices."""
    spatial = x_last.shape[:-1]
    positions = [s + np.arange(k) * d for s, k, d in zip(starts, size, dilation)]
    grids = np.meshgrid(*positions, indexing="ij")
    inside = np.ones(tuple(size), dtype=bool)
    for grid, n in zip(grids, spatial):
        inside &= (grid >= 0) & (grid < n)
    patch = np.zeros((*size, x_last.shape[-1]), dtype=np.float64)
    clipped = tuple(np.clip(g, 0, n - 1) for g, n in zip(grids, spatial))
    patch[inside] = x_last[clipped][inside].astype(np.float64)
    padding = np.broadcast_to(~inside[..., None], patch.shape).copy()
    return patch, padding, grids


def _trace_conv(layer, x, index):
    spatial_index, f = _split(layer, index)
    x_last = _channels_last(layer, x)
    spatial = x_last.shape[:-1]
    pads = layer._pads(spatial)
    starts = [i * s - p[0] for i, s, p in zip(spatial_index, layer.strides, pads)]
    per_group = layer.kernel.shape[-2]
    group = f // (layer.filters // layer.groups)
    channels = slice(group * per_group, (group + 1) * per_group)
    patch, padding, _ = _window(x_last[..., channels], starts, layer.kernel_size, layer.dilation_rate)
    kernel = _weight(layer.kernel)[..., f]
    bias = 0.0 if layer.bias is None else float(_weight(layer.bias)[f])
    products = patch * kernel
    pre = float(products.sum() + bias)
    rule = "cross-correlation: sum of patch * kernel + bias" + _then(layer.activation)
    if layer.groups > 1:
        rule += f" (group {group}: input channels {channels.start}..{channels.stop - 1})"
    input_index = (tuple(starts), tuple(layer.dilation_rate), channels)
    return dict(rule=rule, pre_activation=pre, bias=bias, patch=patch, padding=padding, kernel=kernel,
                products=products, input_index=input_index)


def _is_depthwise(layer) -> bool:
    return isinstance(layer, _DEPTHWISE) and not isinstance(layer, conv_layers._SeparableConv)


def _trace_depthwise(layer, x, index):
    spatial_index, o = _split(layer, index)
    c, m = divmod(o, layer.depth_multiplier)
    x_last = _channels_last(layer, x)
    pads = layer._pads(x_last.shape[:-1])
    starts = [i * s - p[0] for i, s, p in zip(spatial_index, layer.strides, pads)]
    patch, padding, _ = _window(x_last[..., c:c + 1], starts, layer.kernel_size, layer.dilation_rate)
    patch, padding = patch[..., 0], padding[..., 0]
    kernel = _weight(layer.depthwise_kernel)[..., c, m]
    bias = 0.0 if layer.bias is None else float(_weight(layer.bias)[o])
    products = patch * kernel
    rule = (f"depthwise cross-correlation: sum of patch (input channel {c}) * kernel (multiplier {m}) + bias"
            + _then(layer.activation))
    return dict(rule=rule, pre_activation=float(products.sum() + bias), bias=bias, patch=patch, padding=padding,
                kernel=kernel, products=products, input_index=(tuple(starts), tuple(layer.dilation_rate), c))


def _trace_separable(layer, x, index):
    spatial_index, f = _split(layer, index)
    x_last = _channels_last(layer, x)
    pads = layer._pads(x_last.shape[:-1])
    starts = [i * s - p[0] for i, s, p in zip(spatial_index, layer.strides, pads)]
    depthwise = _weight(layer.depthwise_kernel)
    stages, middle = [], []
    for c in range(x_last.shape[-1]):
        window, padding, _ = _window(x_last[..., c:c + 1], starts, layer.kernel_size, layer.dilation_rate)
        window, padding = window[..., 0], padding[..., 0]
        for m in range(layer.depth_multiplier):
            kernel = depthwise[..., c, m]
            products = window * kernel
            value = float(products.sum())
            stages.append(dict(channel=c * layer.depth_multiplier + m, input_channel=c, multiplier=m,
                               patch=window, padding=padding, kernel=kernel, products=products, value=value))
            middle.append(value)
    patch = np.array(middle)
    kernel = _weight(layer.pointwise_kernel).reshape(-1, layer.filters)[:, f]
    bias = 0.0 if layer.bias is None else float(_weight(layer.bias)[f])
    products = patch * kernel
    rule = ("separable convolution: depthwise stage (per input channel c and multiplier m, sum of window * "
            "depthwise kernel, no bias; see stages), then pointwise: sum of depthwise outputs * pointwise "
            "kernel column + bias" + _then(layer.activation))
    return dict(rule=rule, pre_activation=float(products.sum() + bias), bias=bias, patch=patch,
                padding=np.zeros(patch.shape, dtype=bool), kernel=kernel, products=products,
                input_index=(tuple(starts), tuple(layer.dilation_rate), slice(None)), stages=tuple(stages))


def _transpose_crops(layer):
    return [conv_transpose_crop(k, s, d, layer.padding, p) for k, s, d, p in
            zip(layer.kernel_size, layer.strides, layer.dilation_rate, layer._output_paddings())]


def _trace_transpose(layer, x, index):
    spatial_index, f = _split(layer, index)
    x_last = _channels_last(layer, x)
    spatial = x_last.shape[:-1]
    crops = _transpose_crops(layer)
    # tap j of input cell i lands on output cell o when o + crop == i * s + j * d
    taps = [np.arange(k) for k in layer.kernel_size]
    grids = np.meshgrid(*taps, indexing="ij")
    reached = np.ones(tuple(layer.kernel_size), dtype=bool)
    cells = []
    for grid, o, s, d, crop, n in zip(grids, spatial_index, layer.strides, layer.dilation_rate, crops, spatial):
        offset = o + crop - grid * d
        cell = np.floor_divide(offset, s)
        reached &= (offset % s == 0) & (cell >= 0) & (cell < n)
        cells.append(cell)
    patch = np.zeros((*layer.kernel_size, x_last.shape[-1]), dtype=np.float64)
    clipped = tuple(np.clip(c, 0, n - 1) for c, n in zip(cells, spatial))
    patch[reached] = x_last[clipped][reached].astype(np.float64)
    padding = np.broadcast_to(~reached[..., None], patch.shape).copy()
    kernel = _weight(layer.kernel)[..., f, :]
    bias = 0.0 if layer.bias is None else float(_weight(layer.bias)[f])
    products = patch * kernel
    input_index = tuple(np.where(reached, c, -1) for c in cells)
    rule = ("transposed convolution: sum over the input cells that scatter into this cell, each through its tap, "
            "of input * kernel tap + bias" + _then(layer.activation))
    return dict(rule=rule, pre_activation=float(products.sum() + bias), bias=bias, patch=patch, padding=padding,
                kernel=kernel, products=products, input_index=input_index)


def _trace_dense(layer, x, index):
    vector = x[index[:-1]].astype(np.float64)
    kernel = _weight(layer.kernel)[:, index[-1]]
    bias = 0.0 if layer.bias is None else float(_weight(layer.bias)[index[-1]])
    products = vector * kernel
    return dict(rule="dense: sum of inputs * kernel column + bias" + _then(layer.activation),
                pre_activation=float(products.sum() + bias), bias=bias, patch=vector,
                padding=np.zeros(vector.shape, dtype=bool), kernel=kernel, products=products,
                input_index=(*index[:-1], slice(None)))


def _trace_pool(layer, x, index):
    spatial_index, c = _split(layer, index)
    x_last = _channels_last(layer, x)[..., c:c + 1]
    pads = [pool_padding(n, p, s, layer.padding) for n, p, s in zip(x_last.shape[:-1], layer.pool_size, layer.strides)]
    starts = [i * s - p[0] for i, s, p in zip(spatial_index, layer.strides, pads)]
    patch, padding, grids = _window(x_last, starts, layer.pool_size, (1,) * layer.rank)
    patch, padding = patch[..., 0], padding[..., 0]
    if isinstance(layer, pooling._MaxPooling):
        masked = np.where(padding, -np.inf, patch)
        winner = np.unravel_index(int(np.argmax(masked)), patch.shape)
        spot = tuple(int(g[winner]) for g in grids)
        where = (c, *spot) if layer.data_format == "channels_first" else (*spot, c)
        return dict(rule="max pooling: the largest data cell of the window (padding never wins)",
                    pre_activation=float(masked[winner]), patch=patch, padding=padding, input_index=where)
    count = int((~padding).sum())
    kernel = np.where(padding, 0.0, 1.0 / count)
    products = patch * kernel
    return dict(rule=f"average pooling: mean of the window's {count} data cells (padding left out)",
                pre_activation=float(products.sum()), bias=0.0, patch=patch, padding=padding, kernel=kernel,
                products=products)


def _trace_global_pool(layer, x, index):
    c = index[0] if layer.data_format == "channels_first" else index[-1]
    patch = _channels_last(layer, x)[..., c].astype(np.float64)
    padding = np.zeros(patch.shape, dtype=bool)
    if isinstance(layer, pooling._GlobalMax):
        winner = np.unravel_index(int(np.argmax(patch)), patch.shape)
        where = (c, *winner) if layer.data_format == "channels_first" else (*winner, c)
        return dict(rule="global max pooling: the largest cell of the channel", pre_activation=float(patch[winner]),
                    patch=patch, padding=padding, input_index=tuple(int(i) for i in where))
    kernel = np.full(patch.shape, 1.0 / patch.size)
    products = patch * kernel
    return dict(rule="global average pooling: mean of the channel's cells", pre_activation=float(products.sum()),
                bias=0.0, patch=patch, padding=padding, kernel=kernel, products=products)


def _trace_batch_norm(layer, x, index):
    axis = layer._resolved_axis((None, *x.shape)) - 1
    c = index[axis]
    mean, var = _weight(layer.moving_mean)[c], _weight(layer.moving_variance)[c]
    gamma = 1.0 if layer.gamma is None else _weight(layer.gamma)[c]
    beta = 0.0 if layer.beta is None else _weight(layer.beta)[c]
    scale = gamma / np.sqrt(var + layer.epsilon)
    shift = float(beta - mean * scale)
    patch = np.array([float(x[index])])
    kernel = np.array([scale])
    products = patch * kernel
    return dict(rule="batch normalization (inference): input * scale + shift, scale = gamma / sqrt(moving_variance"
                     " + epsilon), shift = beta - moving_mean * scale",
                pre_activation=float(products.sum() + shift), bias=shift, patch=patch,
                padding=np.zeros(1, dtype=bool), kernel=kernel, products=products, input_index=index)


def _trace_activation(layer, x, index):
    name = _activation_name(layer.activation) if isinstance(layer, core.Activation) else type(layer).__name__
    return dict(rule=f"element-wise activation: {name} of the input cell", pre_activation=float(x[index]),
                input_index=index)


def _trace_reshape(layer, x, index, out_shape):
    flat = int(np.ravel_multi_index(index, out_shape))
    if isinstance(layer, core.Flatten) and layer.data_format == "channels_first" and x.ndim > 1:
        last = np.moveaxis(x, 0, -1)
        where = np.unravel_index(flat, last.shape)
        where = (where[-1], *where[:-1])
    else:
        where = np.unravel_index(flat, x.shape)
    where = tuple(int(i) for i in where)
    return dict(rule=f"{type(layer).__name__.lower()}: the value of input cell {where}, moved",
                pre_activation=float(x[where]), input_index=where)


def _trace_concatenate(layer, xs, index):
    axis = layer.axis % (xs[0].ndim + 1) - 1
    if axis < 0:
        raise NotImplementedError(f"{layer.name}: tracing a Concatenate along the batch axis")
    offset = index[axis]
    for k, x in enumerate(xs):
        if offset < x.shape[axis]:
            where = (*index[:axis], offset, *index[axis + 1:])
            return dict(rule=f"concatenate: the value of input {k} at {where}", pre_activation=float(x[where]),
                        input_index=where, source=k)
        offset -= x.shape[axis]
    raise AssertionError("index outside the concatenation")


def _trace_merge(layer, xs, index, out_shape):
    spots = []
    for x in xs:  # broadcasting: an axis of size 1 is read at 0
        pad = (1,) * (len(out_shape) - x.ndim)
        full = x.reshape(pad + x.shape)
        spots.append(tuple(0 if n == 1 else i for i, n in zip(index, full.shape)))
    cells = np.array([float(x.reshape((1,) * (len(out_shape) - x.ndim) + x.shape)[s]) for x, s in zip(xs, spots)])
    kind = type(layer).__name__.lower()
    combine = {"add": np.sum, "multiply": np.prod, "average": np.mean, "maximum": np.max, "minimum": np.min,
               "subtract": lambda v: v[0] - v[1]}[kind]
    source = int(np.argmax(cells)) if kind == "maximum" else int(np.argmin(cells)) if kind == "minimum" else None
    return dict(rule=f"{kind} of the inputs' cells", pre_activation=float(combine(cells)), patch=cells,
                input_index=spots, source=source if source is not None else tuple(range(len(xs))))


# --- receptive field --------------------------------------------------------------

def _spatial_axes(shape, data_format) -> list:
    """The (non-batch) spatial axes of a tensor of rank len(shape) + 1."""
    rank = len(shape)
    if rank < 2:
        return []
    return list(range(1, rank)) if data_format == "channels_first" else list(range(rank - 1))


def _own_format(layer):
    """The layer's data_format when it has one (conv, pooling, Flatten, ...), else None."""
    fmt = getattr(layer, "data_format", None)
    return fmt if fmt in ("channels_first", "channels_last") and not _is_graph_model(layer) else None


def _input_format(model, symbol) -> str:
    """The layout of a model input: the data_format of the first layers that read it, looking past layers
    without one (activations, Dropout, ...) and into nested models; the global default if none has one."""
    return _reading_format(model, symbol) or image_data_format()


def _reading_format(model, symbol):
    """The data_format of the nearest layers that read ``symbol`` (breadth first), or None."""
    frontier, seen = [symbol], set()
    while frontier:
        current = frontier.pop(0)
        for node in model._nodes:
            if id(node) in seen or not any(s is current for s in flatten(node.call_inputs)):
                continue
            seen.add(id(node))
            if _is_graph_model(node.layer):
                position = [s is current for s in flatten(node.call_inputs)].index(True)
                fmt = _reading_format(node.layer, node.layer.inputs[position])
            else:
                fmt = _own_format(node.layer)
            if fmt:
                return fmt
            frontier.append(node)
    return None


def _output_format(model, chain) -> str:
    """The layout of the output of the call ``chain``: its layer's data_format, or for a layer without one
    (activations, BatchNormalization, merges, Dropout, ...) that of the nearest layer before it with one,
    followed out of and into nested models; for a model input, :func:`_input_format`."""
    outer, symbol = list(chain[:-1]), chain[-1]
    while True:
        layer = symbol.layer
        if isinstance(layer, InputLayer):
            if not outer:
                return _input_format(model, symbol)
            node = outer.pop()      # a nested model's input: what the call fed it
            position = [s is symbol for s in node.layer.inputs].index(True)
            symbol = flatten(node.call_inputs)[position]
        elif _is_graph_model(layer):
            outer.append(symbol)    # a nested model's output: its own last layer
            symbol = layer.outputs[0]
        elif _own_format(layer):
            return _own_format(layer)
        else:
            symbol = flatten(symbol.call_inputs)[0]


def _full(shape):
    return tuple(np.arange(n) for n in shape)


def _clip(region, shape):
    return tuple(cells[(cells >= 0) & (cells < n)] for cells, n in zip(region, shape))


def _cells_of(region, out_shape, in_shape, channels_first_flatten=False):
    """Per input axis, the positions of the cells that ``region`` of a reshaped tensor holds."""
    flat = np.ravel_multi_index(np.meshgrid(*region, indexing="ij"), out_shape)
    if channels_first_flatten:
        cells = np.unravel_index(flat.ravel(), (*in_shape[1:], in_shape[0]))
        cells = (cells[-1], *cells[:-1])
    else:
        cells = np.unravel_index(flat.ravel(), in_shape)
    return tuple(np.unique(c) for c in cells)


def _back(layer, region, in_shapes, out_shape):
    """Per input of ``layer``, the cells (a sorted array of positions per axis, no batch axis) that
    ``region`` of its output reads, or None where it reads none of that input."""
    in_shape = in_shapes[0]
    if _is_graph_model(layer) and len(layer.outputs) == 1:
        shapes = _graph_shapes(layer, in_shapes)
        found = _regions(shapes, layer.outputs[0], region)
        return [found.get(id(symbol)) for symbol in layer.inputs]
    if isinstance(layer, _TRANSPOSE):
        out = list(_full(in_shape))
        spatial_axes = _spatial_axes(in_shape, layer.data_format)
        for axis, k, s, d, crop in zip(spatial_axes, layer.kernel_size, layer.strides, layer.dilation_rate,
                                       _transpose_crops(layer)):
            offsets = (region[axis][:, None] + crop - np.arange(k)[None, :] * d).ravel()
            cells = offsets[offsets % s == 0] // s
            out[axis] = np.unique(cells[(cells >= 0) & (cells < in_shape[axis])])
        # a cell that no tap reaches holds only the bias: it reads no input cell
        return [None if any(cells.size == 0 for cells in out) else tuple(out)]
    if isinstance(layer, (conv_layers._Conv, conv_layers._DepthwiseConv, pooling._Pooling)):
        spatial_axes = _spatial_axes(in_shape, layer.data_format)
        spatial = [in_shape[a] for a in spatial_axes]
        if not isinstance(layer, pooling._Pooling):
            kernel, dilation, pads = layer.kernel_size, layer.dilation_rate, layer._pads(spatial)
        else:
            kernel, dilation = layer.pool_size, (1,) * layer.rank
            pads = [pool_padding(n, p, s, layer.padding) for n, p, s in zip(spatial, layer.pool_size, layer.strides)]
        out = list(_full(in_shape))
        for axis, k, s, d, p in zip(spatial_axes, kernel, layer.strides, dilation, pads):
            out[axis] = np.unique((region[axis][:, None] * s - p[0] + np.arange(k)[None, :] * d).ravel())
        c = len(in_shape) - 1 if layer.data_format == "channels_last" else 0
        if isinstance(layer, pooling._Pooling):
            out[c] = region[c]
        elif isinstance(layer, conv_layers._DepthwiseConv) and not isinstance(layer, conv_layers._SeparableConv):
            out[c] = np.unique(region[c] // layer.depth_multiplier)
        return [tuple(out)]
    if isinstance(layer, pooling._GlobalPooling):
        out = list(_full(in_shape))
        c = len(in_shape) - 1 if layer.data_format == "channels_last" else 0
        out[c] = region[c] if layer.keepdims else region[0]
        return [tuple(out)]
    if isinstance(layer, core.Dense):
        return [(*region[:-1], np.arange(in_shape[-1]))]
    if isinstance(layer, (core.Flatten, core.Reshape)):
        cf = isinstance(layer, core.Flatten) and layer.data_format == "channels_first" and len(in_shape) > 1
        return [_cells_of(region, out_shape, in_shape, cf)]
    if isinstance(layer, merge.Concatenate):
        axis = layer.axis % (len(out_shape) + 1) - 1
        regions, offset = [], 0
        for shape in in_shapes:
            cells = region[axis] - offset
            cells = cells[(cells >= 0) & (cells < shape[axis])]
            regions.append((*region[:axis], cells, *region[axis + 1:]) if cells.size else None)
            offset += shape[axis]
        return regions
    if isinstance(layer, _ARITHMETIC_MERGE):
        regions = []
        for shape in in_shapes:
            lead = len(out_shape) - len(shape)
            regions.append(tuple(np.zeros(1, dtype=int) if n == 1 else r for r, n in zip(region[lead:], shape)))
        return regions
    if isinstance(layer, _ELEMENTWISE):
        return [region]
    # A layer kind whose geometry is not modelled here: every cell of its inputs, a bound that holds.
    return [_full(shape) for shape in in_shapes]


def _graph_shapes(model, in_shapes) -> dict:
    """The shape (no batch axis) of every tensor of ``model``'s graph for inputs of ``in_shapes``."""
    shapes = {id(symbol): (1, *shape) for symbol, shape in zip(model.inputs, in_shapes)}
    for node in model._nodes:
        shapes[id(node)] = tuple(node.layer.compute_output_shape(map_structure(lambda s: shapes[id(s)],
                                                                               node.call_inputs)))
    return {key: tuple(shape[1:]) for key, shape in shapes.items()}


def _union(found: dict, symbol, region) -> None:
    old = found.get(id(symbol))
    found[id(symbol)] = region if old is None else tuple(np.union1d(a, b) for a, b in zip(old, region))


def _visit(symbol, region, shapes, found) -> None:
    """Follow ``region`` of ``symbol``'s value back along every path to the graph's inputs, adding the cells
    each input gives to ``found`` (id of the input symbol -> region)."""
    if isinstance(symbol.layer, InputLayer):
        _union(found, symbol, region)
        return
    parents = flatten(symbol.call_inputs)
    in_shapes = [shapes[id(p)] for p in parents]
    for parent, sub in zip(parents, _back(symbol.layer, region, in_shapes, shapes[id(symbol)])):
        if sub is None:
            continue
        if not isinstance(parent.layer, InputLayer):
            sub = _clip(sub, shapes[id(parent)])
            if any(cells.size == 0 for cells in sub):
                continue  # only padding of this tensor is read
        _visit(parent, sub, shapes, found)


def _regions(shapes, symbol, region) -> dict:
    """The cells of each input of the graph ``symbol`` belongs to that ``region`` of its value reads."""
    found = {}
    _visit(symbol, region, shapes, found)
    return found


def _receptive_field(tracer, chain, region):
    """Over every path from the model's input, the first and last input cells per spatial axis that
    ``region`` of the call ``chain`` reads, as half-open ranges; a call inside nested models is followed out
    through each nested model's call."""
    def shapes_of(prefix):
        return {key: value.shape[1:] for key, value in tracer._values(prefix).items()}

    found = _regions(shapes_of(chain[:-1]), chain[-1], region)
    for depth in range(len(chain) - 2, -1, -1):   # out of each nested model, innermost first
        node, shapes, outer = chain[depth], shapes_of(chain[:depth]), {}
        for symbol, parent in zip(node.layer.inputs, flatten(node.call_inputs)):
            sub = found.get(id(symbol))
            if sub is None:
                continue
            if not isinstance(parent.layer, InputLayer):
                sub = _clip(sub, shapes[id(parent)])
                if any(cells.size == 0 for cells in sub):
                    continue
            _visit(parent, sub, shapes, outer)
        found = outer
    model, shapes = tracer.model, shapes_of(())
    fields = []
    for symbol in model.inputs:
        region = found.get(id(symbol))
        if region is None:
            fields.append(None)
            continue
        axes = _spatial_axes(shapes[id(symbol)], _input_format(model, symbol))
        fields.append(tuple((int(region[a].min()), int(region[a].max()) + 1) for a in axes))
    return fields[0] if len(model.inputs) == 1 and fields[0] is not None else () if len(model.inputs) == 1 \
        else tuple(fields)


# --- entry point ---------------------------------------------------------------

_SUPPORTED = _CONV + (_SEPARABLE, _TRANSPOSE, core.Dense, pooling._Pooling, pooling._GlobalPooling,
                     normalization.BatchNormalization, core.Flatten, core.Reshape, merge.Concatenate) \
    + _ELEMENTWISE_ACTIVATIONS + _PASS_THROUGH + _ARITHMETIC_MERGE


def trace(model, x, layer, index, call=None) -> Trace:
    """How ``layer``'s output at ``index`` (no batch axis; example 0 of ``x``) was computed.

    ``layer`` is a layer object of ``model``, its name, or for a layer inside a nested model its path
    ("encoder/conv2d", or the bare name when it is unique). A layer that the model calls more than once (a
    shared layer, or one inside a nested model called on several inputs, as in a siamese network) needs
    ``call``: 0 for its first call in graph order, and so on; the trace's ``call``, ``calls`` and ``path``
    name the call explained. Runs the model in inference mode (``training=False``) and changes neither the
    model nor its weights. To trace many values of one input, :class:`Tracer` runs the forward pass once.
    """
    return Tracer(model, x).trace(layer, index, call)


def _trace_node(tracer, chain, index, call, calls) -> Trace:
    node = chain[-1]
    layer = node.layer
    if not _is_depthwise(layer) and not isinstance(layer, _SUPPORTED):
        raise NotImplementedError(f"trace does not support {type(layer).__name__} layers (layer "
                                  f"'{layer.name}'); supported kinds: {', '.join(SUPPORTED_LAYERS)}")
    values = tracer._values(chain[:-1])
    output = values[id(node)][0]
    index = _check_index(index, output.shape, layer)
    parents = [] if isinstance(layer, InputLayer) else flatten(node.call_inputs)
    inputs = [values[id(p)][0] for p in parents]
    x0 = inputs[0] if inputs else output
    if isinstance(layer, _CONV):
        info = _trace_conv(layer, x0, index)
    elif _is_depthwise(layer):
        info = _trace_depthwise(layer, x0, index)
    elif isinstance(layer, _SEPARABLE):
        info = _trace_separable(layer, x0, index)
    elif isinstance(layer, _TRANSPOSE):
        info = _trace_transpose(layer, x0, index)
    elif isinstance(layer, core.Dense):
        info = _trace_dense(layer, x0, index)
    elif isinstance(layer, pooling._Pooling):
        info = _trace_pool(layer, x0, index)
    elif isinstance(layer, pooling._GlobalPooling):
        info = _trace_global_pool(layer, x0, index)
    elif isinstance(layer, normalization.BatchNormalization):
        info = _trace_batch_norm(layer, x0, index)
    elif isinstance(layer, _ELEMENTWISE_ACTIVATIONS):
        info = _trace_activation(layer, x0, index)
    elif isinstance(layer, (core.Flatten, core.Reshape)):
        info = _trace_reshape(layer, x0, index, output.shape)
    elif isinstance(layer, merge.Concatenate):
        info = _trace_concatenate(layer, inputs, index)
    elif isinstance(layer, _ARITHMETIC_MERGE):
        info = _trace_merge(layer, inputs, index, output.shape)
    else:  # pass-through: Dropout and noise in inference, InputLayer
        info = dict(rule=f"{type(layer).__name__.lower()} in inference: the input cell unchanged",
                    pre_activation=float(x0[index]), input_index=index)
    field = _receptive_field(tracer, chain, tuple(np.array([i]) for i in index))
    path = "/".join(n.layer.name for n in chain)
    return Trace(layer=layer, index=index, value=output[index], inputs=inputs if len(inputs) > 1 else x0,
                 receptive_field=field, path=path, call=call, calls=calls, **info)
