"""The explainer page: one self-contained HTML file that shows a model at work on one input.

    write_report(model, x, "report.html")        # x: the model's input, batch axis first (example 0 is shown)
    html = build_report(model, x)                # the same page as a string
    data = report_data(model, x)                 # what the page embeds, as a JSON-ready dict

The page holds the model's summary table, the input, every layer's feature maps
for that input, every convolution layer's kernels, and the prediction. A click
on a feature-map cell shows how that value was computed, with the numbers of
:func:`clearconv.explain.trace` for that cell: the patch, the kernel, their
element-wise products, their sum, the bias, the pre-activation, the rule, the
value, the source cell (max pooling's winner, a moved or merged value) and the
receptive field, drawn on the input picture. Everything is embedded (data,
style, script): the file opens from disk with no network access.

Numbers come from one :class:`~clearconv.explain.trace.Tracer` (one forward
pass, ``training=False``): feature maps are the layers' own float32 outputs;
for each clickable cell the page holds trace's ``pre_activation``, ``bias``,
the sum of ``products`` (summed in float64 by NumPy, as trace sums them),
``rule`` and ``receptive_field``, the ``patch`` (padding stored as NaN) and
the ``kernel``. The script computes nothing of the layer's arithmetic: it
shows the products as patch * kernel, the float64 multiplication NumPy does,
so they equal trace's ``products`` bit for bit, and prints every number with
JavaScript's shortest round-trip text (the float64 itself, as Python's repr).

Arrays are embedded as base64 of little-endian bytes (``{"dtype", "shape",
"b64"}``): feature maps and inputs as float32 (their dtype), traced numbers as
float64 (float32 where every value is exactly a float32: patches read from
float32 tensors, float32 kernels), indices as int32.

Size bounds, so a large model still gives a page a browser opens:

* feature maps: a layer shows its first :data:`MAX_CHANNELS` channels (a 1-D
  output, such as Dense's, its first :data:`MAX_UNITS` units) and at most
  :data:`MAX_MAP_VALUES` values; the page says what it left out;
* traced cells: the whole page holds at most :data:`TRACE_BUDGET` entries,
  a cell costing its patch size + :data:`CELL_COST`, and at least
  TRACE_BUDGET / :data:`MAX_TRACED_CELLS` (so at most that many cells are traced). Layers that fit their
  share are traced whole; the share left is split evenly among the others,
  each tracing as many cells as fit, the first ones in channel-major order
  (channel 0's first rows first), and saying which; a layer's ``traced_cells``
  counts them, so its cells 0 to traced_cells - 1 of (channels, *spatial) click.
  So the traced data take at most about 8 bytes x 4/3 (base64) x TRACE_BUDGET,
  21 MB, and the feature maps at most 4 x 4/3 x MAX_MAP_VALUES, 5.6 MB, per layer.

Layer kinds that trace does not support (:data:`~clearconv.explain.SUPPORTED_LAYERS`)
show their maps without clicks, with a note. A layer called more than once (a
shared layer, a nested model called twice) shows its first call, with a note.
Nested models are opened: their layers appear as "model/layer".
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
import time

import numpy as np

from .. import activations
from ..layers import conv as conv_layers
from ..layers.core import InputLayer
from ..models import Model
from .kernels import is_convolution, kernel_grid
from .trace import Tracer

MAX_CHANNELS = 32          # channels of a layer's maps drawn (and embedded) on the page
MAX_UNITS = 4096           # cells of a 1-D output (Dense, Flatten) drawn on the page
MAX_MAP_VALUES = 1 << 20   # values of one layer's maps embedded at most
TRACE_BUDGET = 2_000_000   # traced entries on the page: per traced cell, its patch size + CELL_COST
CELL_COST = 16             # the per-cell numbers (pre-activation, bias, sum, field, ...) counted as entries
MAX_TRACED_CELLS = 20_000  # traced cells on the page (each costs at least TRACE_BUDGET / MAX_TRACED_CELLS entries)
KERNEL_FILTERS = 32        # kernels drawn per conv layer: the first filters ...
KERNEL_CHANNELS = 8        # ... and, for each, its first input channels
_NONE = np.iinfo(np.int32).min  # an int32 field entry for "no cell": the value reads none of that input


# --- encoding ----------------------------------------------------------------------

def encode(array, dtype) -> dict:
    """``{"dtype", "shape", "b64"}``: the array's little-endian bytes in base64 (decoded exactly by the page)."""
    array = np.ascontiguousarray(np.asarray(array, dtype=np.dtype(dtype).newbyteorder("<")))
    return {"dtype": np.dtype(dtype).name, "shape": list(array.shape),
            "b64": base64.b64encode(array.tobytes()).decode("ascii")}


def decode(entry: dict) -> np.ndarray:
    """The array :func:`encode` wrote."""
    raw = base64.b64decode(entry["b64"])
    return np.frombuffer(raw, dtype=np.dtype(entry["dtype"]).newbyteorder("<")).reshape(entry["shape"])


def _narrow(array: np.ndarray) -> str:
    """float32 when every value (NaN aside) is exactly a float32, else float64."""
    with np.errstate(over="ignore", invalid="ignore"):
        return "float32" if np.array_equal(array.astype(np.float32).astype(np.float64), array,
                                           equal_nan=True) else "float64"


# --- layers and their maps --------------------------------------------------------

def _is_nested_model(layer) -> bool:
    """A model built from symbolic tensors, used as a layer: the page opens it and shows its layers."""
    return isinstance(layer, Model) and bool(getattr(layer, "_graph", False))


def _layers(model, prefix: str = "") -> list:
    """(path, layer) for every layer of ``model`` in order, nested graph models opened in place."""
    found = []
    for layer in model.layers:
        if isinstance(layer, InputLayer):
            continue
        if _is_nested_model(layer):
            found.extend(_layers(layer, f"{prefix}{layer.name}/"))
        else:
            found.append((f"{prefix}{layer.name}", layer))
    return found


def _channel_major(output: np.ndarray, channels_last: bool) -> np.ndarray:
    """A layer's output (no batch axis) as (channels, *spatial); a 1-D output is (units,), each unit a channel."""
    if output.ndim <= 1:
        return output.reshape(-1)
    return np.moveaxis(output, -1, 0) if channels_last else output


def _shown_channels(channels: int, per_channel: int, vector: bool) -> int:
    """How many channels (units) of a layer the page draws."""
    if vector:
        return min(channels, MAX_UNITS)
    return min(channels, MAX_CHANNELS, MAX_MAP_VALUES // max(per_channel, 1))


def _range(values) -> list:
    """[min, max] of the finite values (the colour scale of a layer's maps); [0, 0] when there are none."""
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    return [float(finite.min()), float(finite.max())] if finite.size else [0.0, 0.0]


def _activation_name(layer):
    function = getattr(layer, "activation", None)
    if function is None:
        return None
    return activations.builtin_name(function) or getattr(function, "__name__", "activation")


# --- traced cells -----------------------------------------------------------------

def _index_of(flat_cell: int, channels_last: bool, spatial: tuple, rank: int) -> tuple:
    """The output index (no batch axis) of cell ``flat_cell`` of the channel-major layout (channels, *spatial)."""
    if rank <= 1:
        return (flat_cell,)
    channel, rest = divmod(flat_cell, int(np.prod(spatial)))
    where = tuple(int(i) for i in np.unravel_index(rest, spatial))
    return (*where, channel) if channels_last else (channel, *where)


def _flat_source(input_index, inputs_shapes, source) -> tuple:
    """(input number, flat index into that input) of the single cell a value was read from, or (-1, -1)."""
    if not isinstance(input_index, tuple) or not all(isinstance(i, (int, np.integer)) for i in input_index):
        return -1, -1
    k = source if isinstance(source, (int, np.integer)) else 0
    shape = inputs_shapes[k]
    if len(input_index) != len(shape):
        return -1, -1
    return int(k), int(np.ravel_multi_index(input_index, shape))


def _fields(field, model_inputs: int) -> list:
    """trace's receptive_field as one entry per model input: ranges, or None where no cell is read."""
    if model_inputs == 1:
        return [field if field != () else None]
    return list(field)


def _trace_cells(tracer, layer, cells: int, meta: dict, field_axes: list) -> dict:
    """trace's numbers for the first ``cells`` cells (channel-major order) of ``layer``'s first call."""
    channels_last, spatial, rank = meta["channels_last"], tuple(meta["spatial"]), len(meta["shape"])
    inputs_shapes = [tuple(s) for s in meta["inputs"]]
    first = tracer.trace(layer, _index_of(0, channels_last, spatial, rank), call=0)
    patch_shape = () if first.patch is None else np.shape(first.patch)
    size = int(np.prod(patch_shape)) if first.patch is not None else 0
    patch = np.full((cells, size), np.nan)
    kernel_ids = np.full(cells, -1, dtype=np.int64)
    kernels, kernel_keys = [], {}
    pre, bias, total = (np.full(cells, np.nan) for _ in range(3))
    rules, rule_ids = {}, np.zeros(cells, dtype=np.int64)
    source = np.full((cells, 2), -1, dtype=np.int64)
    mark = np.full(cells, -1, dtype=np.int64)
    field = np.full((cells, 2 * sum(field_axes)), _NONE, dtype=np.int64)
    for cell in range(cells):
        t = first if cell == 0 else tracer.trace(layer, _index_of(cell, channels_last, spatial, rank), call=0)
        pre[cell] = t.pre_activation
        if t.bias is not None:
            bias[cell] = t.bias
        if t.patch is not None:
            values = np.asarray(t.patch, dtype=np.float64).reshape(-1)
            padded = np.zeros(values.shape, dtype=bool) if t.padding is None else np.asarray(t.padding).reshape(-1)
            patch[cell] = np.where(padded, np.nan, values)
        if t.kernel is not None:
            kernel = np.asarray(t.kernel, dtype=np.float64).reshape(-1)
            key = kernel.tobytes()
            if key not in kernel_keys:
                kernel_keys[key] = len(kernels)
                kernels.append(kernel)
            kernel_ids[cell] = kernel_keys[key]
        if t.products is not None:
            total[cell] = float(np.asarray(t.products).sum())
        rule_ids[cell] = rules.setdefault(t.rule, len(rules))
        source[cell] = _flat_source(t.input_index, inputs_shapes, t.source)
        if t.patch is not None and t.kernel is None and t.padding is not None and source[cell, 0] >= 0:
            # max pooling: the winner is the window's first data cell holding the value (np.argmax's choice)
            hits = np.flatnonzero(patch[cell] == t.pre_activation)
            mark[cell] = hits[0] if hits.size else -1
        column = 0
        for ranges, axes in zip(_fields(t.receptive_field, len(field_axes)), field_axes):
            if ranges is not None:
                field[cell, column:column + 2 * axes] = np.asarray(ranges, dtype=np.int64).reshape(-1)
            column += 2 * axes
    merged = isinstance(first.source, tuple)
    return {
        "count": cells, "patch_shape": list(patch_shape), "patch": encode(patch, _narrow(patch)),
        # conv-like patches (spatial..., channels) are drawn as one grid per channel
        "patch_channels": bool(getattr(layer, "kernel_size", None) is not None
                               and len(patch_shape) == len(layer.kernel_size) + 1),
        "kernels": encode(np.array(kernels) if kernels else np.zeros((0, size)),
                          _narrow(np.array(kernels)) if kernels else "float64"),
        "kernel_id": encode(kernel_ids, "int32"), "pre_activation": encode(pre, "float64"),
        "bias": encode(bias, "float64"), "sum": encode(total, "float64"), "rules": list(rules),
        "rule_id": encode(rule_ids, "int32"), "source": encode(source, "int32"), "mark": encode(mark, "int32"),
        "field": encode(field, "int32"), "merge_sources": merged,
    }


def _cells_named(count: int, spatial: list, vector: bool) -> str:
    """Where the first ``count`` cells of the channel-major layout (channels, *spatial) lie, in words:
    "channels 0-1 and channel 2's rows 0-4", "channel 0's rows 0-88 and row 89's columns 0-63"; count >= 1."""
    if vector or not spatial:
        return f"units 0-{count - 1}"
    per_channel = int(np.prod(spatial))
    whole, rest = divmod(count, per_channel)
    parts = [] if not whole else ["channel 0" if whole == 1 else f"channels 0-{whole - 1}"]
    if rest:
        if len(spatial) == 1:
            parts.append(f"channel {whole}'s positions 0-{rest - 1}")
        else:
            row = int(np.prod(spatial[1:]))           # cells of one row (one index along the first spatial axis)
            rows, left = divmod(rest, row)
            axis = "row" if len(spatial) == 2 else "slice"
            text = f"channel {whole}'s " + (f"{axis}s 0-{rows - 1}" if rows > 1 else f"{axis} 0" if rows else "")
            if left:
                cells = (f"first {left} cells" if len(spatial) > 2 else "column 0" if left == 1
                         else f"columns 0-{left - 1}")
                text += (" and " if rows else "") + f"{axis} {rows}'s {cells}"
            parts.append(text)
    return " and ".join(parts)


def _cell_cost(patch_size: int) -> int:
    """A traced cell's share of TRACE_BUDGET: its patch and per-cell numbers, and at least the share that keeps
    the page within MAX_TRACED_CELLS cells (tracing a cell takes time: it follows the whole graph back)."""
    return max(patch_size + CELL_COST, -(-TRACE_BUDGET // MAX_TRACED_CELLS))


def _split_budget(costs: list, budget: int) -> list:
    """Each layer's share of ``budget``: its whole cost where that fits an even share, the rest split evenly."""
    shares = [0] * len(costs)
    left, open_ = budget, sorted(range(len(costs)), key=lambda i: costs[i])
    while open_:
        even = left // len(open_)
        i = open_[0]
        if costs[i] > even:
            for j in open_:
                shares[j] = even
            break
        shares[i] = costs[i]
        left -= costs[i]
        open_.pop(0)
    return shares


# --- kernels ----------------------------------------------------------------------

def _kernel_entry(layer):
    """A conv layer's kernels for the page: :func:`~clearconv.explain.kernels.kernel_grid`'s grid
    (rows, columns, *kernel_size), cut to its first KERNEL_FILTERS rows and KERNEL_CHANNELS columns, as
    float32, with what a row and a column are; None for a layer of another kind."""
    if not is_convolution(layer):
        return None
    grid, row_name, column_name, note = kernel_grid(layer)
    shown = grid[:KERNEL_FILTERS, :KERNEL_CHANNELS]
    if shown.shape[:2] != grid.shape[:2]:
        note = (note + "; " if note else "") + (f"first {shown.shape[0]} of {grid.shape[0]} {row_name}s and "
                                                f"{shown.shape[1]} of {grid.shape[1]} {column_name}s shown")
    return {"kernels": encode(shown, "float32"), "rank": grid.ndim - 2, "row_name": row_name,
            "column_name": column_name, "note": note}


# --- the page's data --------------------------------------------------------------

def _as_inputs(model, x) -> list:
    xs = list(x) if isinstance(x, (list, tuple)) else [x]
    if len(xs) != len(model.inputs):
        raise ValueError(f"x must hold one array per model input ({len(model.inputs)}); received {len(xs)}")
    arrays = []
    for k, (array, symbol) in enumerate(zip(xs, model.inputs)):
        array = np.asarray(array)
        expected = tuple(symbol.shape[1:])
        if array.ndim != len(expected) + 1 or len(array) < 1 or any(
                e is not None and e != n for e, n in zip(expected, array.shape[1:])):
            raise ValueError(f"x{'' if len(xs) == 1 else f'[{k}]'} must have shape (batch >= 1, "
                             f"{', '.join('?' if e is None else str(e) for e in expected)}) for model "
                             f"{model.name}; received shape {array.shape}")
        arrays.append(array)
    return arrays


def _input_entry(tracer, symbol, value) -> dict:
    """One model input, example 0: its maps (channel-major) and, for an image, the picture's layout."""
    shape = tuple(value.shape)
    # the layout of the layers reading the input; an input of rank r (no batch axis) has r - 1 spatial axes
    channels_last = tracer.data_format(symbol.layer) == "channels_last"
    field_axes = len(shape) - 1 if len(shape) >= 2 else 0
    maps = _channel_major(value, channels_last)
    vector = maps.ndim == 1
    spatial = [] if vector else list(maps.shape[1:])
    shown = _shown_channels(maps.shape[0], int(np.prod(spatial)) if spatial else 1, vector)
    image = len(shape) == 3 and maps.shape[0] in (1, 3)
    return {"name": symbol.name, "shape": list(shape), "channels_last": channels_last, "spatial": spatial,
            "channels": int(maps.shape[0]), "shown": int(shown), "maps": encode(maps[:shown], "float32"),
            "vector": vector, "image": image, "field_axes": field_axes, "range": _range(value)}


def _prediction(model, tracer) -> list:
    """Per model output: example 0's values and what they are (probabilities after softmax, or raw)."""
    entries = []
    for symbol, output in zip(model.outputs, tracer.model_outputs()):
        output = np.asarray(output)
        layer = symbol.layer
        name = _activation_name(layer)
        if type(layer).__name__ == "Softmax":
            name = "softmax"
        what = {"softmax": "probabilities (the last layer applies softmax)",
                "sigmoid": "sigmoid outputs (each in [0, 1])"}.get(
            name, f"raw outputs (the last layer's activation is {name or 'none'}, not softmax)")
        entries.append({"name": symbol.name, "shape": list(output.shape), "what": what,
                        "values": encode(output.reshape(-1)[:MAX_UNITS], "float32"),
                        "vector": output.ndim == 1, "size": int(output.size)})
    return entries


def report_data(model, x) -> dict:
    """What the page embeds for ``model`` on example 0 of ``x`` (a batch, or a list of batches for a model
    of several inputs): a JSON-ready dict; see the module docstring."""
    from ..models.summary import summary_text
    arrays = _as_inputs(model, x)
    started = time.perf_counter()
    tracer = Tracer(model, [a[:1] for a in arrays] if len(arrays) > 1 else arrays[0][:1])
    inputs = [_input_entry(tracer, symbol, a[0]) for symbol, a in zip(model.inputs, arrays)]
    field_axes = [entry["field_axes"] for entry in inputs]
    layers, costs, traceable = [], [], []
    found = _layers(model)
    for path, layer in found:
        calls = tracer.calls(layer)
        output = tracer.output(layer, call=0)
        in_shapes = [list(np.shape(value)) for value in tracer.inputs(layer, call=0)]
        # a layer without a data_format (ReLU, BatchNormalization, Add, ...) keeps its input's layout
        channels_last = tracer.data_format(layer, call=0) == "channels_last"
        maps = _channel_major(output, channels_last)
        vector = maps.ndim == 1
        spatial = [] if vector else list(maps.shape[1:])
        per_channel = int(np.prod(spatial)) if spatial else 1
        shown = _shown_channels(maps.shape[0], per_channel, vector)
        notes = []
        if len(calls) > 1:
            notes.append(f"the model calls this layer {len(calls)} times (a shared layer or nested model); "
                         f"the maps and numbers are those of its first call")
        if shown < maps.shape[0]:
            notes.append(f"summarized: the first {shown} of {maps.shape[0]} {'units' if vector else 'channels'} "
                         f"are drawn" + (" (no channel fits the page's size bound)" if shown == 0 else ""))
        entry = {"name": path, "kind": type(layer).__name__, "shape": list(output.shape), "vector": vector,
                 "channels_last": channels_last, "spatial": spatial, "channels": int(maps.shape[0]),
                 "shown": int(shown), "maps": encode(maps[:shown], "float32"), "inputs": in_shapes,
                 "range": _range(maps[:shown]),
                 "activation": _activation_name(layer), "notes": notes, "traced_cells": 0}
        if isinstance(layer, conv_layers._SeparableConv):
            notes.append("the patch holds the depthwise stage's outputs at the position (recomputed in float64); "
                         "the depthwise windows behind them are not drawn")
        kernels = _kernel_entry(layer)
        if kernels is not None:
            entry["kernel_grid"] = kernels
        patch_size = None
        if shown:
            try:
                first = tracer.trace(layer, _index_of(0, channels_last, tuple(spatial), output.ndim), call=0)
                patch_size = 0 if first.patch is None else int(np.size(first.patch))
            except NotImplementedError:
                notes.append(f"not clickable: trace does not explain {type(layer).__name__} layers")
        layers.append(entry)
        traceable.append(patch_size)
        costs.append(0 if patch_size is None else shown * per_channel * _cell_cost(patch_size))
    shares = _split_budget(costs, TRACE_BUDGET)
    for entry, (path, layer), patch_size, cost, share in zip(layers, found, traceable, costs, shares):
        if patch_size is None:
            continue
        per_channel = int(np.prod(entry["spatial"])) if entry["spatial"] else 1
        drawn = entry["shown"] * per_channel
        # the budget counts cells, not channels: a layer whose one channel outgrows its share still
        # traces the first cells of channel 0, in the page's channel-major order
        cells = drawn if cost <= share else min(drawn, share // _cell_cost(patch_size))
        if cells < drawn:
            which = (f"the first {cells:,} of {drawn:,} drawn cells are clickable, "
                     f"{_cells_named(cells, entry['spatial'], entry['vector'])}" if cells else "no cell is clickable")
            entry["notes"].append(f"summarized: {which} (the page traces at most {MAX_TRACED_CELLS:,} cells and "
                                  f"{TRACE_BUDGET:,} numbers)")
        entry["traced_cells"] = int(cells)
        if cells:
            entry["cells"] = _trace_cells(tracer, layer, cells, entry, field_axes)
    return {
        "model": model.name, "summary": summary_text(model, line_length=80),
        "inputs": inputs, "layers": layers, "prediction": _prediction(model, tracer),
        "bounds": {"max_channels": MAX_CHANNELS, "max_units": MAX_UNITS, "trace_budget": TRACE_BUDGET},
        "seconds": round(time.perf_counter() - started, 3),
    }


def _script_json(data) -> str:
    """JSON safe inside <script type="application/json">: no '<', '>' or '&' left to end the element."""
    text = json.dumps(data, allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def build_report(model, x, title=None) -> str:
    """The explainer page for ``model`` on example 0 of ``x``, as one HTML string (see the module docstring)."""
    from .report_page import PAGE
    if title is not None and not isinstance(title, str):
        raise ValueError(f"title must be a string or None; received {type(title).__name__}")
    data = report_data(model, x)
    data["title"] = title if title is not None else f"clearconv: inside {model.name}"
    filled = {"__TITLE__": html.escape(data["title"]), "__DATA__": _script_json(data)}
    # one pass over the template: a title or a name holding "__DATA__" or "__TITLE__" is left as it is
    return re.sub("__TITLE__|__DATA__", lambda marker: filled[marker.group(0)], PAGE)


def write_report(model, x, path, title=None) -> str:
    """Write the explainer page for ``model`` on example 0 of ``x`` to ``path`` (UTF-8); returns ``path``.

    The file is written whole or not at all (a temporary file beside it, then renamed).
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path) or not os.path.isdir(folder):
        raise ValueError(f"path must be a file path in an existing folder; received {path!r}")
    page = build_report(model, x, title)
    temporary = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    try:
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(page)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return path


__all__ = ["build_report", "decode", "encode", "report_data", "write_report"]
