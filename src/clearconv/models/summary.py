"""``model.summary()``: Keras 3's table of layers, output shapes and parameter counts.

The text is the one Keras 3 prints when its output goes to ``print_fn`` or to
a non-terminal: a box-drawn table (heavy header, a rule between rows), then
the parameter counts with their size in memory (here ``line_length=50``)::

    Model: "name"
    ┏━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━┳━━━━━━━━━┓
    ┃ Layer (type)        ┃ Output Shape   ┃ Param # ┃
    ┡━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━╇━━━━━━━━━┩
    │ conv (Conv2D)       │ (None, 6, 6,   │      40 │
    │                     │ 4)             │         │
    └─────────────────────┴────────────────┴─────────┘
     Total params: 40 (160.00 B)
     Trainable params: 40 (160.00 B)
     Non-trainable params: 0 (0.00 B)

Keras draws the table with the ``rich`` package; this module reproduces
rich's layout rules without depending on it:

* column widths: column ``i`` ends at ``int(positions[i] * line_length)``;
  rich then adds one space of padding on each side of every cell and takes
  the ``3 * columns + 1`` extra characters back evenly from the columns
  (rounding half to even), so the table is ``line_length`` characters wide;
* a cell's text wraps at spaces; a word longer than the cell is cut with
  ``…``. Parameter counts are right-aligned, the Trainable column centred;
  header cells sit at the bottom of the header row, other cells at the top;
* every printed line is cut at the console width (the ``COLUMNS``
  environment variable, else the terminal's width, else 80; 115 in Jupyter),
  and the title and count lines wrap there;
* an output stream whose encoding is not UTF gets ASCII borders.

Every character counts as one column: names in wide scripts (CJK) lay out
narrower than in Keras.
"""

from __future__ import annotations

import builtins
import math
import numbers
import os
import re
import shutil
import sys

import numpy as np

from ..autograd import data_of

# Border characters, rich's HEAVY_HEAD box and its ASCII stand-in. Each line is
# (left edge, fill, column divider, right edge) for: top, header row, rule under
# the header, body row, rule between rows, bottom.
_UNICODE_BOX = ("┏━┳┓", "┃ ┃┃", "┡━╇┩", "│ ││", "├─┼┤", "└─┴┘")
_ASCII_BOX = ("+--+", "| ||", "|-+|", "| ||", "|-+|", "+--+")
_TOP, _HEADER, _HEADER_RULE, _BODY, _ROW_RULE, _BOTTOM = range(6)

# Keras on JAX stores the optimizer's iteration counter as int32 and the learning
# rate as float32 (floatx): 4 bytes each in the "Optimizer params" size.
_ITERATION_BYTES = 4
_LEARNING_RATE_BYTES = 4

_WORD = re.compile(r"\s*\S+\s*")


# --------------------------------------------------------------------------- the graph, in Keras's order

class _Graph:
    """A model's layers in the order Keras lists them, and each layer's calls (graph nodes).

    For a functional model Keras orders layers by depth (the number of layer
    calls between a call and the outputs), deepest first, ties in the order a
    depth-first walk from the outputs meets them. ``calls[id(layer)]`` lists
    the layer's calls in that walk's post-order (inputs first), which is the
    order they were made in for graphs built in the usual way.
    """

    def __init__(self, layers, calls, sequential_like: bool):
        self.layers = layers
        self.calls = calls
        self.sequential_like = sequential_like
        self.call_index = {id(call): index for layer_calls in calls.values()
                           for index, call in enumerate(layer_calls)}
        self.nodes = {id(call) for layer_calls in calls.values() for call in layer_calls}


def _has_graph(model) -> bool:
    return bool(getattr(model, "built", False)) and getattr(model, "outputs", None) is not None


def _walk(model) -> tuple[list, dict]:
    """Depth-first walk from the outputs: calls in post-order, and each layer's first-visit rank."""
    order, rank, finished = [], {}, set()
    for output in model.outputs:
        stack = [(output, False)]
        while stack:
            tensor, expanded = stack.pop()
            if expanded:
                finished.add(id(tensor))
                order.append(tensor)
                continue
            if id(tensor) in finished:
                continue
            rank.setdefault(id(tensor.layer), len(rank))
            stack.append((tensor, True))
            # Reversed, so the first argument is walked first, as a recursive walk would.
            stack.extend((parent, False) for parent in reversed(tensor.inputs))
    return order, rank


def _functional_graph(model) -> _Graph:
    order, rank = _walk(model)
    node_depth, layer_depth = {}, {}
    for tensor in reversed(order):
        # A layer called at several depths sits at its deepest call.
        depth = max(node_depth.setdefault(id(tensor), 0), layer_depth.get(id(tensor.layer), 0))
        layer_depth[id(tensor.layer)] = depth
        node_depth[id(tensor)] = depth
        for parent in tensor.inputs:
            node_depth[id(parent)] = max(depth + 1, node_depth.get(id(parent), 0))
    by_id = {id(tensor.layer): tensor.layer for tensor in order}
    for tensor in model.inputs:
        # An input no output depends on is still listed, at depth 0.
        if id(tensor.layer) not in layer_depth:
            layer_depth[id(tensor.layer)], rank[id(tensor.layer)] = 0, -1
            node_depth[id(tensor)] = 0
            by_id[id(tensor.layer)] = tensor.layer
            order.append(tensor)
    layers = sorted(by_id.values(), key=lambda layer: (-layer_depth[id(layer)], rank[id(layer)]))
    calls: dict[int, list] = {}
    for tensor in order:
        calls.setdefault(id(tensor.layer), []).append(tensor)
    # Keras's rule for dropping "Connected to": one call per depth, each on at most
    # one tensor, and no layer called twice.
    per_depth: dict[int, int] = {}
    for depth in node_depth.values():
        per_depth[depth] = per_depth.get(depth, 0) + 1
    sequential_like = (all(count == 1 for count in per_depth.values())
                       and all(len(tensor.inputs) <= 1 for tensor in order)
                       and all(len(layer_calls) == 1 for layer_calls in calls.values()))
    return _Graph(layers, calls, sequential_like)


def keras_layer_order(model) -> list:
    """The layers of a functional ``model`` in the order Keras lists them (its ``map_graph``: deepest from the
    outputs first, ties by first visit in a depth-first walk from the outputs). The summary prints them in
    this order, and Keras names the groups of its weights files by it (:mod:`clearconv.io.keras`)."""
    return _functional_graph(model).layers


def _graph(model) -> _Graph:
    """The rows' layers and their calls; Sequential models list their stack (no input row)."""
    from .sequential import Sequential
    if isinstance(model, Sequential):
        graph = _functional_graph(model) if _has_graph(model) else _Graph([], {}, True)
        return _Graph(model.layers, graph.calls, True)
    if _has_graph(model):
        return _functional_graph(model)
    # A model without a recorded graph is listed as a plain sequence of layers, as Keras does.
    return _Graph(list(getattr(model, "layers", [])), {}, True)


# --------------------------------------------------------------------------- cell contents

def _format_shape(shape) -> str:
    """``(None, 26, 26, 32)``: Keras writes a rank-1 shape as ``(10)`` and several outputs as a list."""
    if len(shape) and all(isinstance(item, (tuple, list)) for item in shape):
        return "[" + ", ".join(_format_shape(item) for item in shape) + "]"
    return "(" + ", ".join(str(dim) for dim in shape) + ")"


def _class_name(layer) -> str:
    """The class Keras names: ``Model(inputs, outputs)`` makes a ``Functional`` there."""
    from ..layers.operation import Operation
    from .functional import Model
    if isinstance(layer, Operation):  # Keras names an op node by its op's class: get_item -> GetItem
        return "".join(part.capitalize() for part in layer.op.split(".")[-1].split("_"))
    return "Functional" if type(layer) is Model else type(layer).__name__


def _layer_fields(layer, graph: _Graph, outer: _Graph, prefix: str, connected: bool,
                  show_trainable: bool) -> list[str]:
    """One row: name (type), output shape, parameter count, [connected to], [trainable]."""
    calls = graph.calls.get(id(layer), [])
    # Keras shows the output of the layer's latest call.
    shape = _format_shape(calls[-1].shape) if calls else "?"
    params = f"{layer.count_params():,}" if layer.built else "0 (unbuilt)"
    fields = [f"{prefix}{layer.name} ({_class_name(layer)})", shape, params]
    if connected:
        sources = [f"{parent.layer.name}[{outer.call_index[id(parent)]}][0]"
                   for call in calls if id(call) in outer.nodes for parent in call.inputs]
        fields.append(", ".join(sources) or "-")
    if show_trainable:
        fields.append(("Y" if layer.trainable else "N") if layer.weights else "-")
    return fields


def _layer_rows(layer, graph: _Graph, outer: _Graph, connected: bool, show_trainable: bool,
                expand_nested: bool, level: int = 0) -> list[list[str]]:
    """The layer's row, then (with ``expand_nested``) its own layers' rows, indented under it."""
    prefix = "   " * level + "└ " if level else ""
    rows = [_layer_fields(layer, graph, outer, prefix, connected, show_trainable)]
    inner_layers = getattr(layer, "layers", None) if expand_nested else None
    if inner_layers:
        inner = _graph(layer)
        for inner_layer in inner.layers:
            rows.extend(_layer_rows(inner_layer, inner, outer, connected, show_trainable, True, level + 1))
    return rows


def _layer_slice(layers, layer_range) -> slice:
    """Keras's ``layer_range``: from the first layer whose name matches ``layer_range[0]`` (a regular
    expression, matched at the start) to the last one matching ``layer_range[1]``, both included."""
    if layer_range is None:
        return slice(0, len(layers))
    if not isinstance(layer_range, (list, tuple)) or len(layer_range) != 2 \
            or not all(isinstance(name, str) for name in layer_range):
        raise ValueError(f"`layer_range` must be a list or tuple of two layer names (strings or regular "
                         f"expressions); received layer_range={layer_range!r}")
    first = [i for i, layer in enumerate(layers) if re.match(layer_range[0], layer.name)]
    last = [i for i, layer in enumerate(layers) if re.match(layer_range[1], layer.name)]
    if not first or not last:
        missing = layer_range[0] if not first else layer_range[1]
        raise ValueError(f"`layer_range`: no layer name matches {missing!r}; received layer_range="
                         f"{list(layer_range)!r}, layers: {[layer.name for layer in layers]}")
    if min(first) > max(last):
        return slice(min(last), max(first) + 1)
    return slice(min(first), max(last) + 1)


# --------------------------------------------------------------------------- text layout (rich's rules)

def _fit(text: str, width: int) -> str:
    """Crop or pad ``text`` with spaces to ``width`` characters."""
    return text + " " * (width - len(text)) if len(text) < width else text[:width]


def _truncate(text: str, width: int, ellipsis: bool) -> str:
    if len(text) <= width:
        return text
    return _fit(text, width - 1) + "…" if ellipsis else _fit(text, width)


def _break_offsets(text: str, width: int, fold: bool) -> list[int]:
    """Where the line breaks go: before a word that does not fit the rest of the line. A word
    wider than the whole line is folded into pieces (``fold``) or left whole, to be cut later."""
    breaks, offset = [], 0
    for match in _WORD.finditer(text):
        start, word = match.start(), match.group(0)
        length = len(word.rstrip())
        if width - offset >= length:
            offset += len(word)
        elif length > width:
            if fold:
                pieces = [word[i:i + width] for i in range(0, len(word), width)]
                for number, piece in enumerate(pieces):
                    if start:
                        breaks.append(start)
                    if number == len(pieces) - 1:
                        offset = len(piece)
                    else:
                        start += len(piece)
            else:
                if start:
                    breaks.append(start)
                offset = len(word)
        elif offset and start:
            breaks.append(start)
            offset = len(word)
    return breaks


def _wrap(text: str, width: int, justify: str, ellipsis: bool) -> list[str]:
    """Word-wrap ``text`` into lines of at most ``width`` characters.

    ``justify``: "left" pads each line to ``width``; "right" and "center" strip its
    trailing spaces and pad it on the left (on both sides for "center"); "default"
    leaves lines as they are.
    """
    width = max(width, 1)
    lines = []
    for paragraph in text.split("\n"):
        cuts = [0, *_break_offsets(paragraph, width, fold=not ellipsis), len(paragraph)]
        for begin, end in zip(cuts, cuts[1:]):
            line = paragraph[begin:end]
            if len(line) > width:
                # Trailing spaces past the width are dropped, the others kept.
                spaces = len(line) - len(line.rstrip())
                line = line[:len(line) - min(spaces, len(line) - width)]
            if justify == "left":
                line = _fit(_truncate(line, width, ellipsis), width)
            elif justify in ("right", "center"):
                line = _truncate(line.rstrip(), width, ellipsis)
                left = width - len(line) if justify == "right" else (width - len(line)) // 2
                line = _fit(" " * left + line, width)
            lines.append(_truncate(line, width, ellipsis))
    return lines


def _ratio_reduce(total: int, ratios: list[int], maximums: list[int], values: list[int]) -> list[int]:
    """Take ``total`` away from ``values`` in proportion to ``ratios`` (each by at most its maximum)."""
    ratios = [ratio if maximum else 0 for ratio, maximum in zip(ratios, maximums)]
    total_ratio = sum(ratios)
    if not total_ratio:
        return list(values)
    result = []
    for ratio, maximum, value in zip(ratios, maximums, values):
        if ratio and total_ratio > 0:
            # Python's round (half to even) on the float quotient, as rich computes it.
            taken = min(maximum, round(ratio * total / total_ratio))
            result.append(value - taken)
            total -= taken
            total_ratio -= ratio
        else:
            result.append(value)
    return result


def _ratio_distribute(total: int, ratios: list[int]) -> list[int]:
    """Share ``total`` out in proportion to ``ratios``, rounding each share up."""
    total_ratio, shares = sum(ratios), []
    for ratio in ratios:
        share = math.ceil(ratio * total / total_ratio) if total_ratio > 0 else total
        shares.append(share)
        total_ratio -= ratio
        total -= share
    return shares


def _table_widths(column_widths: list[int], line_length: int) -> list[int]:
    """Each column's width between its borders, padding included, for a table ``line_length`` wide."""
    room = line_length - (len(column_widths) + 1)  # minus the vertical borders
    if room < 1:
        return [0] * len(column_widths)
    widths = [min(width + 2, room) or 1 for width in column_widths]
    total = sum(widths)
    if total > room:
        widths = _ratio_reduce(total - room, [1] * len(widths), widths, widths)
        total = sum(widths)
        widths = [max(width, 0) for width in widths]
    if 0 < total < room:
        # More positions than columns leaves room over: shared out in proportion to width.
        widths = [width + extra for width, extra in zip(widths, _ratio_distribute(room - total, widths))]
    return widths


def _render_table(header: list[str], rows: list[list[str]], widths: list[int], justify: list[str],
                  box: tuple[str, ...]) -> list[str]:
    """The table's lines: the header row, then each row, with a rule between rows."""

    def rule(kind: int) -> str:
        left, fill, divider, right = box[kind]
        return left + divider.join(fill * width for width in widths) + right

    def row_lines(cells: list[str], kind: int, bottom_aligned: bool) -> list[str]:
        rendered = []
        for text, width, how in zip(cells, widths, justify):
            # One space of padding each side of the text.
            content = width - 2
            lines = [_fit(" " + _fit(line, content) + " ", width) for line in _wrap(text, content, how, True)] \
                if content > 0 else [_fit("  ", width)]
            rendered.append(lines)
        height = max(len(lines) for lines in rendered)
        for lines, width in zip(rendered, widths):
            blank = [" " * width] * (height - len(lines))
            lines[:] = blank + lines if bottom_aligned else lines + blank
        left, _, divider, right = box[kind]
        return [left + divider.join(lines[i] for lines in rendered) + right for i in range(height)]

    lines = [rule(_TOP), *row_lines(header, _HEADER, True), rule(_HEADER_RULE)]
    for number, cells in enumerate(rows):
        lines.extend(row_lines(cells, _BODY, False))
        if number < len(rows) - 1:
            lines.append(rule(_ROW_RULE))
    lines.append(rule(_BOTTOM))
    return lines


def _console_width() -> int:
    """The width Keras's console cuts lines at: Jupyter's, ``COLUMNS``, the terminal's, or 80."""
    get_ipython = getattr(builtins, "get_ipython", None)
    if get_ipython is not None:
        shell = get_ipython()
        if "google.colab" in str(type(shell)) or os.getenv("DATABRICKS_RUNTIME_VERSION") \
                or type(shell).__name__ == "ZMQInteractiveShell":
            columns = os.environ.get("JUPYTER_COLUMNS", "")
            return int(columns) if columns.isdigit() else 115
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit():
        return int(columns)
    for descriptor in (0, 1, 2):
        try:
            return os.get_terminal_size(descriptor).columns or 80
        except (AttributeError, ValueError, OSError):
            continue
    return 80


# --------------------------------------------------------------------------- parameter counts

def _readable_size(size: float) -> str:
    """``846.29 KB``: bytes in the largest unit (of 1024) that keeps the number under 1024."""
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if size / 1024 < 1:
            return f"{size:.2f} {unit}"
        size /= 1024
    # Keras divides once more before falling back on PB.
    return f"{size:.2f} PB"


def _weights_count_and_bytes(weights) -> tuple[int, int]:
    arrays = {id(weight): np.asarray(data_of(weight)) for weight in weights}
    return (sum(int(array.size) for array in arrays.values()),
            sum(int(array.nbytes) for array in arrays.values()))


def _optimizer_count_and_bytes(model) -> tuple[int, int] | None:
    """The optimizer's variables as Keras counts them, once it has some (after the first update):
    the iteration counter, the learning rate (unless a schedule), the slots, optimizer-wide extras."""
    optimizer = getattr(model, "optimizer", None)
    if not getattr(model, "compiled", False) or optimizer is None or not getattr(optimizer, "_variables", None):
        return None
    variable_bytes = np.asarray(data_of(optimizer._variables[0])).dtype.itemsize
    extras = set(optimizer._extra_state())
    count = size = 0
    for key, value in optimizer.get_state().items():
        value = np.asarray(value)
        count += int(value.size)
        if key == "iterations":
            size += _ITERATION_BYTES * int(value.size)
        elif key == "learning_rate":
            size += _LEARNING_RATE_BYTES * int(value.size)
        elif key in extras:
            # Keras keeps these scalars in the dtype of the first variable.
            size += variable_bytes * int(value.size)
        else:
            size += int(value.nbytes)
    return count, size


# --------------------------------------------------------------------------- the summary

def _check_arguments(line_length, positions) -> None:
    if line_length is not None and (isinstance(line_length, bool) or not isinstance(line_length, numbers.Integral)
                                    or line_length <= 0):
        raise ValueError(f"`line_length` must be a positive integer (the width of the table in characters) or "
                         f"None; received line_length={line_length!r}")
    if positions is not None and (not isinstance(positions, (list, tuple)) or not all(
            isinstance(p, numbers.Real) and not isinstance(p, bool) for p in positions)):
        raise ValueError(f"`positions` must be a list of numbers (where each column ends, as fractions of "
                         f"`line_length`) or None; received positions={positions!r}")


def summary_text(model, line_length=None, positions=None, expand_nested=False, show_trainable=False,
                 layer_range=None) -> str:
    """The summary Keras 3 prints for ``model``, as one string (each line ends with a newline).

    Arguments as in :func:`print_summary`.
    """
    _check_arguments(line_length, positions)
    graph = _graph(model)
    if graph.sequential_like:
        default_length, default_positions = 88, [0.45, 0.80, 1.0]
        header, justify = ["Layer (type)", "Output Shape", "Param #"], ["left", "left", "right"]
    else:
        default_length, default_positions = 108, [0.3, 0.56, 0.74, 1.0]
        header = ["Layer (type)", "Output Shape", "Param #", "Connected to"]
        justify = ["left", "left", "right", "left"]
    positions = list(positions or default_positions)
    if show_trainable:
        default_length += 12
        positions = [p * 0.90 for p in positions] + [1.0]
        header, justify = header + ["Trainable"], justify + ["center"]
    if len(positions) < len(header):
        raise ValueError(f"`positions` needs one entry per column ({len(header)}: {', '.join(header)}); "
                         f"received {len(positions)}: positions={positions!r}")
    line_length = line_length or min(default_length, shutil.get_terminal_size().columns - 4)
    column_widths, current = [], 0
    for position in positions:
        width = int(position * line_length) - current
        if width < 4:
            raise ValueError(f"`line_length`={line_length} with `positions`={positions} leaves a column "
                             f"{width} characters wide; each needs at least 4: give a larger `line_length`")
        column_widths.append(width)
        current += width

    rows = []
    for layer in graph.layers[_layer_slice(graph.layers, layer_range)]:
        rows.extend(_layer_rows(layer, graph, graph, not graph.sequential_like, show_trainable, expand_nested))
    encoding = (getattr(sys.stdout, "encoding", None) or "utf-8").lower()
    box = _UNICODE_BOX if encoding.startswith("utf") else _ASCII_BOX
    widths = _table_widths(column_widths[:len(header)], line_length)
    table = _render_table(header, rows, widths, justify, box)

    trainable, trainable_bytes = _weights_count_and_bytes(model.trainable_weights)
    frozen, frozen_bytes = _weights_count_and_bytes(model.non_trainable_weights)
    optimizer = _optimizer_count_and_bytes(model)
    total = trainable + frozen + (optimizer[0] if optimizer else 0)
    total_bytes = trainable_bytes + frozen_bytes + (optimizer[1] if optimizer else 0)
    counts = [f" Total params: {total:,} ({_readable_size(total_bytes)})",
              f" Trainable params: {trainable:,} ({_readable_size(trainable_bytes)})",
              f" Non-trainable params: {frozen:,} ({_readable_size(frozen_bytes)})"]
    if optimizer:
        counts.append(f" Optimizer params: {optimizer[0]:,} ({_readable_size(optimizer[1])})")

    console = _console_width()
    lines = _wrap(f'Model: "{model.name}"', console, "default", False)
    lines += table
    for line in counts:
        lines += _wrap(line, console, "default", False)
    return "".join(line[:console] + "\n" for line in lines)


def print_summary(model, line_length=None, positions=None, print_fn=None, expand_nested=False,
                  show_trainable=False, layer_range=None) -> None:
    """Print the summary of ``model`` as Keras 3 does; returns None.

    Args:
        line_length: width of the table in characters; default 88 (108 with the
            Connected to column, 12 more with ``show_trainable``), at most the
            terminal's width minus 4.
        positions: where each column ends, as fractions of ``line_length``;
            default ``[0.45, 0.80, 1.0]``, or ``[0.3, 0.56, 0.74, 1.0]`` with
            Connected to. Every entry is multiplied by ``line_length``, as
            Keras 3 does, entries above 1 too: those give columns wider than
            the table, which are then narrowed evenly to fit.
        print_fn: called once with the whole summary (a string ending with a
            newline), as Keras 3 calls it; default: written to standard output.
        expand_nested: also list the layers of nested models, indented under
            the model with ``└``.
        show_trainable: add a Trainable column: Y, N, or - for a layer without
            weights.
        layer_range: two layer names (regular expressions matched at the start
            of a name): the rows from the first layer matching the first to the
            last layer matching the second.

    A functional model lists its inputs as rows, and gets the Connected to
    column unless its graph is a plain chain: one call per depth, each on one
    tensor, no layer called twice.
    """
    if print_fn is not None and not callable(print_fn):
        raise TypeError(f"`print_fn` must be a callable taking a string, or None to print to standard "
                        f"output; received print_fn={print_fn!r}")
    text = summary_text(model, line_length=line_length, positions=positions, expand_nested=expand_nested,
                        show_trainable=show_trainable, layer_range=layer_range)
    if print_fn is None:
        sys.stdout.write(text)
    else:
        print_fn(text)
