"""``model.summary()``: Keras's table of layers, output shapes and parameter counts.

Sequential models get the columns Layer (type) | Output Shape | Param #
(88 characters); functional models add Connected to (108 characters) and an
InputLayer row. The footer counts parameters as Keras does, with their size
in bytes.
"""

from __future__ import annotations

from ..layers.core import InputLayer


def _format_shape(shape) -> str:
    if isinstance(shape, list):
        return ", ".join(_format_shape(s) for s in shape)
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + (",)" if len(shape) == 1 else ")")


def _format_size(count: int, itemsize: int) -> str:
    size, units = float(count * itemsize), ("B", "KB", "MB", "GB", "TB", "PB")
    unit = 0
    while size >= 1024 and unit < len(units) - 1:
        size /= 1024
        unit += 1
    return f"{size:.2f} {units[unit]}"


def _layer_rows(model, sequential: bool) -> list[list[str]]:
    """One row per layer: name (type), output shape(s), parameter count, inbound tensors."""
    calls_by_layer, call_index, tensor_name = {}, {}, {}
    for tensor in model.inputs:
        tensor_name[id(tensor)] = f"{tensor.layer.name}[0][0]"
        calls_by_layer.setdefault(id(tensor.layer), []).append(tensor)
    for node in model._nodes:
        calls = calls_by_layer.setdefault(id(node.layer), [])
        call_index[id(node)] = len(calls)
        calls.append(node)
        tensor_name[id(node)] = f"{node.layer.name}[{call_index[id(node)]}][0]"
    rows = []
    for layer in model.layers:
        if sequential and isinstance(layer, InputLayer):
            continue
        calls = calls_by_layer.get(id(layer), [])
        shape = _format_shape(calls[0].shape) if calls else "?"
        params = f"{layer.count_params():,}" if layer.built else "0 (unbuilt)"
        inbound = [tensor_name[id(parent)] for call in calls for parent in call.inputs]
        rows.append([f"{layer.name} ({type(layer).__name__})", shape, params, ", ".join(inbound) or "-"])
    return rows


def _cell(text: str, width: int, right: bool = False) -> str:
    text = text if len(text) <= width - 2 else text[: width - 3] + "…"
    return " " + (text.rjust(width - 2) if right else text.ljust(width - 2)) + " "


def print_summary(model, line_length=None, print_fn=None) -> None:
    """Print (or pass each line to ``print_fn``) the summary of a built model."""
    print_fn = print_fn or print
    if not model.built:
        raise ValueError(f"{model.name}: the model has not been built yet; give the first layer `input_shape`, "
                         f"start with Input(shape), or call the model on data first")
    from .sequential import Sequential
    sequential = isinstance(model, Sequential)
    line_length = line_length or (88 if sequential else 108)
    positions = [0.45, 0.80, 1.0] if sequential else [0.3, 0.56, 0.74, 1.0]
    bounds = [int(line_length * p) for p in positions]
    # Column i spans (bounds[i-1], bounds[i]]; one border character per column plus the closing one.
    widths = [b - a - 1 for a, b in zip([0] + bounds[:-1], bounds)]
    widths[-1] -= 1
    headers = ["Layer (type)", "Output Shape", "Param #", "Connected to"][: len(widths)]

    def line(cells, left, middle, right):
        return left + middle.join(cells) + right

    def row(values, edge="│"):
        cells = [_cell(v, w, right=(i == 2)) for i, (v, w) in enumerate(zip(values, widths))]
        return line(cells, edge, edge, edge)

    print_fn(f'Model: "{model.name}"')
    print_fn(line(["━" * w for w in widths], "┏", "┳", "┓"))
    print_fn(row(headers, "┃"))
    print_fn(line(["━" * w for w in widths], "┡", "╇", "┩"))
    rows = _layer_rows(model, sequential)
    for i, values in enumerate(rows):
        print_fn(row(values[: len(widths)]))
        if i < len(rows) - 1:
            print_fn(line(["─" * w for w in widths], "├", "┼", "┤"))
    print_fn(line(["─" * w for w in widths], "└", "┴", "┘"))
    itemsize = 8 if model.dtype == "float64" else 4
    trainable = sum(w.size for w in model.trainable_weights)
    non_trainable = sum(w.size for w in model.non_trainable_weights)
    total = trainable + non_trainable
    print_fn(f" Total params: {total:,} ({_format_size(total, itemsize)})")
    print_fn(f" Trainable params: {trainable:,} ({_format_size(trainable, itemsize)})")
    print_fn(f" Non-trainable params: {non_trainable:,} ({_format_size(non_trainable, itemsize)})")
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and hasattr(optimizer, "get_state"):
        state = optimizer.get_state()
        count = sum(int(v.size) for name, v in state.items() if name != "iterations")
        if count:
            print_fn(f" Optimizer params: {count:,} ({_format_size(count, itemsize)})")
