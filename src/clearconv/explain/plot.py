"""Pictures of a model: its kernels, its feature maps, its training curves, its confusion matrix.

    plot.kernels(model.layers[0], "kernels.png")            # one cell per (filter, input channel)
    plot.features(model, x, "conv2d", "features.png")        # one panel per channel, example 0 of x
    plot.history(model.fit(...), "history.png")              # or a dict of lists, or a CSVLogger file
    plot.confusion(y_test, model.predict(x_test), "confusion.png", class_names=names)

Each function writes one picture at ``path`` and returns ``path``. The format is PNG, or the one the
file name's ending names when matplotlib writes it (.pdf, .svg, ...); a path without an ending gets PNG,
written at ``path`` itself. The figure is drawn with matplotlib's Agg canvas, never pyplot: no window
opens and matplotlib's global state (its backend, the current figure) is left alone.

Sizes are deterministic: a picture of ``figsize`` (width, height) inches at ``dpi`` is
``round(width * dpi)`` x ``round(height * dpi)`` pixels. Without ``figsize`` each function computes it
from the grid it draws (see each docstring).

Importing this module needs only NumPy; the functions need matplotlib
(``pip install "clearconv[plot]"``) and say so when it is missing.
"""

from __future__ import annotations

import csv
import math
import os
from typing import Union

import numpy as np

from ..data._optional import import_optional
from .kernels import kernel_grid

__all__ = ["kernels", "features", "history", "confusion", "confusion_matrix", "read_csv_log", "check_path"]

PathLike = Union[str, "os.PathLike[str]"]

KERNEL_CMAP = "RdBu_r"   # diverging: red positive, blue negative, white 0
FEATURE_CMAP = "viridis"
CONFUSION_CMAP = "Blues"


# --- figures ---------------------------------------------------------------------

def _figure(figsize, dpi, needed_for: str):
    """A matplotlib Figure on its own Agg canvas (no pyplot, so no window and no global state)."""
    import_optional("matplotlib", "matplotlib", "plot", needed_for)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    figure = Figure(figsize=figsize, dpi=dpi, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _check_size(figsize, dpi, caller: str):
    if figsize is not None:
        if (len(figsize) != 2 or any(isinstance(side, bool) or not isinstance(side, (int, float, np.number))
                                     or not math.isfinite(side) or side <= 0 for side in figsize)):
            raise ValueError(f"{caller}: `figsize` must be (width, height) in inches, two numbers > 0, or None; "
                             f"received {figsize!r}")
    if isinstance(dpi, bool) or not isinstance(dpi, (int, np.integer)) or dpi < 1:
        raise ValueError(f"{caller}: `dpi` must be an integer >= 1; received {dpi!r}")


def _file_format(path, caller: str) -> str:
    """The format matplotlib writes for ``path``'s ending ("png" without one); a ValueError naming the
    endings it accepts otherwise."""
    from matplotlib.backend_bases import FigureCanvasBase
    if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
        raise ValueError(f"{caller}: `path` must be a file path such as picture.png; received {path!r}")
    ending = os.path.splitext(os.fspath(path))[1].lower().lstrip(".")
    if not ending:
        return "png"
    supported = FigureCanvasBase.get_supported_filetypes()
    if ending not in supported:
        raise ValueError(f"{caller}: `path` {os.fspath(path)!r} ends in .{ending}, a format matplotlib cannot "
                         f"write; use .png (or one of {', '.join('.' + e for e in sorted(supported))})")
    return ending


def check_path(path: PathLike) -> str:
    """The format a picture written at ``path`` gets ("png", "pdf", ...); ValueError if matplotlib cannot
    write that file name's ending. Needs matplotlib."""
    import_optional("matplotlib", "matplotlib", "plot", "check_path")
    return _file_format(path, "check_path")


def _save(figure, path, dpi: int, caller: str):
    """Write ``figure`` at ``path``: round(width * dpi) x round(height * dpi) pixels."""
    file_format = _file_format(path, caller)
    width, height = figure.get_size_inches()
    pixels = round(width * dpi), round(height * dpi)
    # Agg truncates width * dpi to an integer: a quarter pixel more keeps float error (0.29 * 100 =
    # 28.999...) from losing a row, so the size is exactly the rounded one.
    figure.set_size_inches((pixels[0] + 0.25) / dpi, (pixels[1] + 0.25) / dpi)
    figure.savefig(path, dpi=dpi, format=file_format)
    return path


def _grid(count: int) -> tuple[int, int]:
    """(rows, columns) of a near-square grid holding ``count`` panels, wider than tall."""
    columns = max(1, math.ceil(math.sqrt(count)))
    return math.ceil(count / columns), columns


def _positive_int(value, name: str, caller: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{caller}: `{name}` must be an integer >= 1; received {value!r}")
    return int(value)


def _range(values) -> str:
    return f"[{float(np.min(values)):.3g}, {float(np.max(values)):.3g}]"


# --- kernels -----------------------------------------------------------------------

def _kernels_figure(layer, max_filters=16, max_channels=8, rgb=None, cell=0.8, figsize=None, dpi=100):
    """The kernels figure (see :func:`kernels`); its cell axes are labelled "filter F, channel C"."""
    caller = "kernels"
    max_filters = _positive_int(max_filters, "max_filters", caller)
    max_channels = _positive_int(max_channels, "max_channels", caller)
    _check_size(figsize, dpi, caller)
    grid, row_name, column_name, _ = kernel_grid(layer, caller)     # (rows, columns, *k)
    from ..layers import conv
    what = "depthwise kernel" if isinstance(layer, conv._SeparableConv) else "kernel"
    weight = layer.depthwise_kernel if isinstance(layer, conv._DepthwiseConv) else layer.kernel
    full_shape = tuple(weight.shape)                 # the layer's own weight, as it stores it
    rank = grid.ndim - 2
    depth_note = ""
    if rank == 3:
        middle = grid.shape[2] // 2
        depth_note = f"; middle depth slice {middle} of {grid.shape[2]} (kernel axis 0)"
        grid = grid[:, :, middle]                    # (rows, columns, d, kh, kw) -> (rows, columns, kh, kw)
    filters, channels = grid.shape[:2]
    shown_channels, shown_filters = min(channels, max_channels), min(filters, max_filters)
    grid = grid[:shown_filters, :shown_channels]
    if rgb is None:
        rgb = rank == 2 and channels == 3 and shown_channels == 3 and column_name == "input channel" \
            and row_name == "filter"
    elif rgb and not (rank == 2 and channels == 3 and shown_channels == 3):
        raise ValueError(f"kernels: rgb=True needs a 2D kernel of 3 input channels; {layer.name}'s kernel has "
                         f"shape {full_shape}")
    vmax = float(np.max(np.abs(grid))) or 1.0       # an all-zero kernel still gets a usable scale
    columns = shown_channels + bool(rgb)
    if figsize is None:
        figsize = (max(4.0, columns * cell + 1.2), shown_filters * cell + 1.0)
    figure = _figure(figsize, dpi, caller)
    shown = (f"showing {shown_filters} of {filters} {row_name}s x {shown_channels} of {channels} "
             f"{column_name}s{depth_note}")
    # three short lines: a one-channel layer's picture is only 4 inches wide
    figure.suptitle(f"{layer.name} ({type(layer).__name__}) {what} {full_shape}\n{shown}\n"
                    f"one colour scale, centred on 0", fontsize=8)
    axes = figure.subplots(shown_filters, columns, squeeze=False)
    from matplotlib import colors
    norm = colors.Normalize(-vmax, vmax)
    colormap = _colormap(KERNEL_CMAP)
    for f in range(shown_filters):
        for c in range(columns):
            ax = axes[f, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c == shown_channels:                  # the RGB view: 0 is grey, the shared scale per colour
                # (3, kh, kw) -> (kh, kw, 3): the three input channels as red, green, blue
                ax.imshow(np.clip(0.5 + np.moveaxis(grid[f], 0, -1) / (2 * vmax), 0, 1), interpolation="nearest")
                ax.set_label(f"filter {f}, rgb")
                if f == 0:
                    ax.set_title("RGB", fontsize=7)
                continue
            ax.set_label(f"filter {f}, channel {c}")
            taps = grid[f, c]
            if rank == 1:
                ax.bar(np.arange(taps.shape[0]), taps, color=colormap(norm(taps)), width=0.9)
                ax.axhline(0, color="black", linewidth=0.5)
                ax.set_ylim(-vmax, vmax)
                ax.set_xlim(-0.6, taps.shape[0] - 0.4)
            else:
                ax.imshow(taps, cmap=colormap, norm=norm, interpolation="nearest")
            if f == 0:
                ax.set_title(f"{column_name.split()[0][:2]} {c}", fontsize=7)
            if c == 0:
                ax.set_ylabel(f"{row_name[0]} {f}", fontsize=7)
    from matplotlib.cm import ScalarMappable
    figure.colorbar(ScalarMappable(norm=norm, cmap=colormap), ax=axes, shrink=0.8, aspect=30)
    return figure


def _colormap(name: str):
    import matplotlib
    return matplotlib.colormaps[name] if hasattr(matplotlib, "colormaps") else matplotlib.cm.get_cmap(name)


def kernels(layer, path: PathLike, max_filters: int = 16, max_channels: int = 8, rgb: bool | None = None,
            cell: float = 0.8, figsize=None, dpi: int = 100):
    """Draw the kernels of a convolution layer as a grid; returns ``path``.

    One cell per (filter, input channel) pair: rows filters, columns input channels, so a Conv2D kernel
    of shape (kh, kw, C, F) gives F x C cells of kh x kw pixels. Layer kinds:

    * Conv1D/2D/3D, kernel (*k, C/groups, F): columns the input channels of the filter's group.
    * Conv1D/2D/3DTranspose, kernel (*k, F, C): rows the F output channels, columns the C inputs.
    * DepthwiseConv1D/2D, kernel (*k, C, dm), and SeparableConv1D/2D's depthwise kernels: rows the
      multiplier m (output channel c * dm + m), columns the input channel c.

    The grid is :func:`clearconv.explain.kernels.kernel_grid`'s, the one the explainer page draws.

    1D kernels are bar charts of their taps; 3D kernels show their middle depth slice ``d // 2`` (the
    title says so). At most ``max_filters`` rows and ``max_channels`` columns are drawn (the first ones;
    the title says how many of how many). Every cell shares one colour scale centred on 0,
    [-max |w|, max |w|] over the cells drawn, in a diverging colour map (red positive, blue negative)
    shown by the colour bar. ``rgb`` adds a column with each filter of a 2D 3-channel kernel as an RGB
    picture (0.5 + w / (2 max |w|): grey is 0); None adds it for Conv layers of 3 input channels.

    Size: ``figsize`` inches, else (max(4, columns * cell + 1.2), rows * cell + 1.0), at ``dpi``.
    """
    return _save(_kernels_figure(layer, max_filters, max_channels, rgb, cell, figsize, dpi), path, dpi,
                 "kernels")


# --- feature maps ----------------------------------------------------------------

def _features_figure(model, x, layer, max_channels=32, shared_scale=False, data_format=None, call=None,
                     cell=1.2, figsize=None, dpi=100):
    """The feature-map figure (see :func:`features`); its panel axes are labelled "channel C"."""
    from .trace import Tracer
    caller = "features"
    max_channels = _positive_int(max_channels, "max_channels", caller)
    _check_size(figsize, dpi, caller)
    if data_format not in (None, "channels_last", "channels_first"):
        raise ValueError(f"features: `data_format` must be 'channels_last', 'channels_first' or None (the "
                         f"layer's own); received {data_format!r}")
    tracer = Tracer(model, x)
    output = np.asarray(tracer.output(layer, call=call), dtype=np.float64)
    found = tracer.calls(layer)[0][-1].layer
    # a layer without a data_format (ReLU, BatchNormalization, Add, ...) keeps its input's layout
    data_format = data_format or tracer.data_format(layer, call=call)
    title = f"{found.name} ({type(found).__name__}) output {tuple(output.shape)}, example 0"
    if output.ndim == 0:
        output = output.reshape(1)
    if output.ndim == 1:                             # Dense and other vector outputs: one bar per unit
        if figsize is None:
            figsize = (min(12.0, max(4.0, 0.15 * output.size + 1.5)), 3.0)
        figure = _figure(figsize, dpi, caller)
        ax = figure.subplots()
        ax.bar(np.arange(output.size), output, color="tab:blue")
        ax.axhline(0, color="black", linewidth=0.5)
        ax.set_xlabel("unit")
        ax.set_label("units")
        figure.suptitle(title, fontsize=8)
        return figure
    # channels to the front: (*spatial, C) or (C, *spatial) -> (C, *spatial)
    maps = output if data_format == "channels_first" else np.moveaxis(output, -1, 0)
    channels = maps.shape[0]
    depth_note = ""
    if maps.ndim == 4:                               # 3D outputs: the middle depth slice
        middle = maps.shape[1] // 2
        depth_note = f"; middle depth slice {middle} of {maps.shape[1]}"
        maps = maps[:, middle]                       # (C, D, H, W) -> (C, H, W)
    if maps.ndim not in (2, 3):
        raise ValueError(f"features: layer {found.name}'s output has shape {tuple(output.shape)}; drawn are "
                         f"vectors, 1D, 2D and 3D maps with a channel axis")
    shown = min(channels, max_channels)
    maps = maps[:shown]
    rows, columns = _grid(shown)
    if figsize is None:
        figsize = (columns * cell + (1.0 if shared_scale else 0.4), rows * cell + 0.8)
    figure = _figure(figsize, dpi, caller)
    scale = (f"one colour scale {_range(maps)} shared by every panel" if shared_scale
             else "each panel its own scale (its [min, max] under it)")
    if maps.ndim == 2:
        scale = scale.replace("colour scale", "y scale")
    figure.suptitle(f"{title}\nchannels 0-{shown - 1} of {channels} ({data_format}){depth_note}\n{scale}",
                    fontsize=8)
    axes = figure.subplots(rows, columns, squeeze=False)
    low, high = float(np.min(maps)), float(np.max(maps))
    image = None
    for index, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if index >= shown:
            ax.set_axis_off()
            continue
        values = maps[index]
        ax.set_label(f"channel {index}")
        ax.set_title(f"ch {index}", fontsize=7, pad=2)
        if values.ndim == 1:
            ax.plot(np.arange(values.size), values, linewidth=0.8)
            if shared_scale:
                margin = 0.05 * (high - low) or 0.5
                ax.set_ylim(low - margin, high + margin)
        else:
            limits = (low, high) if shared_scale else (float(values.min()), float(values.max()))
            image = ax.imshow(values, cmap=FEATURE_CMAP, vmin=limits[0], vmax=limits[1],
                              interpolation="nearest")
        if not shared_scale:
            ax.set_xlabel(_range(values), fontsize=6, labelpad=1)
    if shared_scale and image is not None:
        figure.colorbar(image, ax=axes, shrink=0.8, aspect=30)
    return figure


def features(model, x, layer, path: PathLike, max_channels: int = 32, shared_scale: bool = False,
             data_format: str | None = None, call: int | None = None, cell: float = 1.2, figsize=None,
             dpi: int = 100):
    """Draw the feature maps of ``layer``'s output for example 0 of ``x``; returns ``path``.

    x: a batch, shape (N, *model input shape); only x[0] is drawn. layer: a name, a path through nested
    models ("encoder/conv2d") or the layer; ``call`` picks one call of a layer called several times. The
    output comes from the model's own inference pass (:class:`clearconv.explain.trace.Tracer`).

    One panel per channel, channel index on each: 2D maps (H, W) as pictures, 1D maps (length,) as line
    plots, 3D maps (D, H, W) as their middle depth slice ``D // 2`` (the title says so). A vector output
    (Dense, Flatten, global pooling: shape (units,)) is one bar chart. The channel axis is the layer's
    ``data_format`` (channels_last: last; channels_first: first); a layer without one (an activation,
    BatchNormalization, a merge, Dropout) keeps the layout of the nearest layer before it that has one
    (:meth:`~clearconv.explain.trace.Tracer.data_format`); ``data_format``, when given, overrides both.
    At most ``max_channels`` panels (the first channels; the title says how many of how many).
    ``shared_scale``: one colour (or y) scale for every panel, with a colour bar; otherwise each panel its
    own, its [min, max] written under it.

    Size: ``figsize`` inches, else (columns * cell + 0.4, rows * cell + 0.8), + 0.6 inch in width for
    the colour bar of a shared scale, with columns = ceil(sqrt(panels)); a bar chart is
    (min(12, max(4, 0.15 * units + 1.5)), 3).
    """
    figure = _features_figure(model, x, layer, max_channels, shared_scale, data_format, call, cell, figsize, dpi)
    return _save(figure, path, dpi, "features")


# --- training curves ---------------------------------------------------------------

def _number(text: str):
    """A CSV cell as a float: NA (CSVLogger's absent value) and empty cells as nan; None if not a number."""
    if text is None or text.strip() in ("", "NA"):
        return math.nan
    try:
        return float(text)
    except ValueError:
        return None


def read_csv_log(path: PathLike, separator: str = ",") -> tuple[list, dict]:
    """(epochs, {name: values}) from a CSVLogger file: epochs 1-based from its ``epoch`` column (0-based);
    NA cells are nan; columns holding lists ("[a, b]") are left out. ValueError naming the file when it is
    not such a file (no header, no epoch column, a cell that is not a number)."""
    where = os.fspath(path)
    with open(where, newline="", encoding="utf-8") as file:
        rows = list(csv.reader(file, delimiter=separator))
    rows = [row for row in rows if row]
    if not rows:
        raise ValueError(f"{where}: the file is empty, not a CSVLogger file (a header line starting with "
                         f"'epoch', then one line per epoch)")
    header, body = rows[0], rows[1:]
    if not header or header[0] != "epoch":
        raise ValueError(f"{where}: not a CSVLogger file: its header must start with 'epoch'; it starts "
                         f"with {header[0] if header else ''!r}")
    if not body:
        raise ValueError(f"{where}: the CSVLogger file has a header but no epoch lines")
    epochs, columns = [], {name: [] for name in header[1:]}
    lists = set()
    for line, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise ValueError(f"{where}: line {line} has {len(row)} cells; the header has {len(header)}")
        epoch = _number(row[0])
        if epoch is None or not math.isfinite(epoch) or epoch != int(epoch) or epoch < 0:
            raise ValueError(f"{where}: line {line}: epoch {row[0]!r} is not an integer >= 0")
        epochs.append(int(epoch) + 1)
        for name, cell in zip(header[1:], row[1:]):
            if cell.strip().startswith("["):       # a vector log, written "[a, b, ...]": not a curve
                lists.add(name)
                continue
            value = _number(cell)
            if value is None:
                raise ValueError(f"{where}: line {line}, column {name!r}: {cell!r} is not a number")
            columns[name].append(value)
    series = {name: values for name, values in columns.items() if name not in lists}
    if all(np.all(np.isnan(values)) for values in series.values()):
        raise ValueError(f"{where}: the CSVLogger file holds no numeric log (columns: {', '.join(header)})")
    # appended runs restart the epoch column at 0: number the lines in order then
    if any(b <= a for a, b in zip(epochs, epochs[1:])):
        epochs = list(range(1, len(epochs) + 1))
    return epochs, series


def _history_series(source, separator: str) -> tuple[dict, dict]:
    """({name: values}, {name: epochs 1-based}) from a History, a dict of lists or a CSVLogger file."""
    from ..callbacks.history import History
    if isinstance(source, (str, os.PathLike)):
        epochs, series = read_csv_log(source, separator)
        return series, {name: epochs for name in series}
    if isinstance(source, History):
        logs, first = source.history, None
        # History keeps its logs across fits but restarts .epoch: its epochs only count when they match
        if source.epoch and all(len(values) == len(source.epoch) for values in logs.values()):
            first = [epoch + 1 for epoch in source.epoch]
    elif isinstance(source, dict):
        logs, first = source, None
    else:
        raise TypeError(f"history: `source` must be a History (model.fit's return value), a dict of lists "
                        f"or a CSVLogger file path; received {type(source).__name__}")
    series, epochs = {}, {}
    for name, values in logs.items():
        try:
            array = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"history: the log {name!r} must be a list of numbers; received {values!r}") from None
        if array.ndim != 1:
            continue                                 # vector logs (one value per class) are not curves
        series[str(name)] = list(array)
        epochs[str(name)] = first if first is not None else list(range(1, array.size + 1))
    if not any(len(values) for values in series.values()):
        raise ValueError("history: `source` holds no log values to draw")
    return series, epochs


def _panels(names) -> list[tuple[str, list[str]]]:
    """(panel title, curve names): loss first (with val_loss), then each metric with its val_ twin."""
    bases = []
    for name in names:
        base = name[4:] if name.startswith("val_") else name
        if base not in bases:
            bases.append(base)
    bases.sort(key=lambda base: base != "loss")      # stable: loss first, the rest in log order
    return [(base, [n for n in (base, "val_" + base) if n in names]) for base in bases]


def _history_figure(source, separator=",", figsize=None, dpi=100):
    """The training-curves figure (see :func:`history`); its panel axes are labelled with the panel's name."""
    _check_size(figsize, dpi, "history")
    series, epochs = _history_series(source, separator)
    panels = _panels(list(series))
    rows, columns = math.ceil(len(panels) / 3), min(3, len(panels))
    figure = _figure(figsize or (4.0 * columns, 3.0 * rows + 0.4), dpi, "history")
    axes = figure.subplots(rows, columns, squeeze=False)
    for ax, (base, names) in zip(axes.flat, panels):
        ax.set_label(base)
        for name in names:
            ax.plot(epochs[name], series[name], marker="o", markersize=3, linestyle="--" if name != base else "-",
                    label=name)
        ax.set_title(base, fontsize=9)
        ax.set_xlabel("epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_axis_off()
    count = max(len(values) for values in series.values())
    figure.suptitle(f"training curves, {count} epoch{'s' if count != 1 else ''}", fontsize=9)
    return figure


def history(source, path: PathLike, separator: str = ",", figsize=None, dpi: int = 100):
    """Draw training curves; returns ``path``.

    source: a :class:`clearconv.callbacks.History` (what ``model.fit`` returns), a dict {name: list of
    per-epoch values}, or the path of a file the CSVLogger callback wrote (``separator`` its separator;
    NA cells are gaps, vector logs written "[a, b]" are left out). Panels: loss with val_loss, then each
    other log with its val_ twin (validation dashed). Epochs on x start at 1 (a CSVLogger's ``epoch``
    column + 1; lines numbered in order when an appended file restarts it).

    Size: ``figsize`` inches, else (4 * columns, 3 * rows + 0.4) with up to 3 panels a row.
    """
    return _save(_history_figure(source, separator, figsize, dpi), path, dpi, "history")


# --- confusion matrix --------------------------------------------------------------

def _labels(values, name: str) -> np.ndarray:
    """Integer class labels (N,) from labels (N,) or scores / one-hot rows (N, K) (their argmax)."""
    array = np.asarray(values)
    if array.ndim == 2:
        if array.shape[1] == 0:
            raise ValueError(f"confusion_matrix: `{name}` of shape {array.shape} has no class column")
        return np.argmax(array, axis=1)             # (N, K) scores -> (N,) labels
    if array.ndim != 1:
        raise ValueError(f"confusion_matrix: `{name}` must be labels of shape (N,) or scores of shape (N, K); "
                         f"received shape {array.shape}")
    if array.dtype.kind == "b" or array.dtype.kind not in "iuf":
        raise ValueError(f"confusion_matrix: `{name}` must hold integer class labels; received dtype "
                         f"{array.dtype}")
    if array.dtype.kind == "f":
        wrong = ~np.isfinite(array) | (array != np.round(array))   # nan != nan, so nan counts too
        if np.any(wrong):
            raise ValueError(f"confusion_matrix: `{name}` must hold integer class labels; received "
                             f"non-integer values such as {float(array[wrong][0])!r}")
    labels = array.astype(np.int64)
    if labels.size and labels.min() < 0:
        raise ValueError(f"confusion_matrix: `{name}` holds the negative label {int(labels.min())}; labels "
                         f"are 0 to num_classes - 1")
    return labels


def confusion_matrix(y_true, y_pred, num_classes: int | None = None) -> np.ndarray:
    """The (K, K) int64 matrix whose cell [i, j] counts the samples of true class i predicted as j.

    y_true, y_pred: labels (N,), or scores / one-hot rows (N, K) whose argmax is the label. K is
    ``num_classes``, else the scores' width, else the largest label + 1. Rows sum to each class's
    sample count; the whole matrix sums to N.
    """
    true, predicted = _labels(y_true, "y_true"), _labels(y_pred, "y_pred")
    if true.shape != predicted.shape:
        raise ValueError(f"confusion_matrix: `y_true` and `y_pred` must hold as many samples; received "
                         f"{true.shape[0]} and {predicted.shape[0]}")
    if num_classes is None:
        widths = [np.shape(v)[1] for v in (y_true, y_pred) if np.ndim(v) == 2]
        largest = int(max(true.max(initial=-1), predicted.max(initial=-1))) + 1
        num_classes = max(widths + [largest, 1])
    num_classes = _positive_int(num_classes, "num_classes", "confusion_matrix")
    for labels, name in ((true, "y_true"), (predicted, "y_pred")):
        if labels.size and labels.max() >= num_classes:
            raise ValueError(f"confusion_matrix: `{name}` holds the label {int(labels.max())}, not below "
                             f"num_classes = {num_classes}")
    # cell index true * K + predicted, counted once each: (N,) -> (K*K,) -> (K, K)
    counts = np.bincount(true * num_classes + predicted, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes).astype(np.int64)


def _confusion_figure(y_true, y_pred, class_names=None, num_classes=None, annotate=None, title=None,
                      figsize=None, dpi=100):
    """The confusion-matrix figure (see :func:`confusion`); the matrix axes are labelled "matrix"."""
    _check_size(figsize, dpi, "confusion")
    matrix = confusion_matrix(y_true, y_pred, num_classes)
    classes = matrix.shape[0]
    if class_names is None:
        class_names = [str(k) for k in range(classes)]
    class_names = [str(name) for name in class_names]
    if len(class_names) != classes:
        raise ValueError(f"confusion: `class_names` must name the {classes} classes; received "
                         f"{len(class_names)} names")
    totals = matrix.sum(axis=1, keepdims=True)
    # row-normalised colour: each true class's row sums to 1, so rare classes read as well as common ones
    fractions = np.divide(matrix, totals, out=np.zeros(matrix.shape), where=totals > 0)
    annotate = classes <= 20 if annotate is None else annotate
    if figsize is None:
        side = max(4.0, 0.45 * classes + 2.5)
        figsize = (side + 0.8, side)
    figure = _figure(figsize, dpi, "confusion")
    ax = figure.subplots()
    ax.set_label("matrix")
    image = ax.imshow(fractions, cmap=CONFUSION_CMAP, vmin=0, vmax=1, interpolation="nearest")
    figure.colorbar(image, ax=ax, shrink=0.8, label="fraction of the true class")
    ax.set_xticks(np.arange(classes), class_names, rotation=45 if max(map(len, class_names)) > 2 else 0,
                  ha="right" if max(map(len, class_names)) > 2 else "center", fontsize=7)
    ax.set_yticks(np.arange(classes), class_names, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if annotate:
        for i in range(classes):
            for j in range(classes):
                ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if fractions[i, j] > 0.5 else "black", gid="count")
    total = int(matrix.sum())
    accuracy = np.trace(matrix) / total if total else math.nan
    heading = f"{title}\n" if title else ""
    ax.set_title(f"{heading}{total} samples, accuracy {accuracy:.3f}; counts in the cells, colour the row's "
                 f"fraction", fontsize=8)
    return figure


def confusion(y_true, y_pred, path: PathLike, class_names=None, num_classes: int | None = None,
              annotate: bool | None = None, title: str | None = None, figsize=None, dpi: int = 100):
    """Draw the confusion matrix of ``y_pred`` against ``y_true``; returns ``path``.

    Rows are the true classes, columns the predicted ones (see :func:`confusion_matrix` for the inputs).
    Each cell's colour is its count over its row's total (the fraction of that true class, 0 for an
    empty row); the counts are written in the cells when ``annotate`` (None: when K <= 20). class_names:
    K names for the ticks (default 0 to K - 1). The title gives N and the accuracy (trace / N).

    Size: ``figsize`` inches, else (side + 0.8, side) with side = max(4, 0.45 * K + 2.5).
    """
    figure = _confusion_figure(y_true, y_pred, class_names, num_classes, annotate, title, figsize, dpi)
    return _save(figure, path, dpi, "confusion")
