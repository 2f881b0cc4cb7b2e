"""clearconv.explain.plot: the files are PNGs of the stated size, panels show their own channel, the counts
are a direct count's and scikit-learn's."""

import csv
import os

import numpy as np
import pytest

from clearconv import layers as L
from clearconv.callbacks import CSVLogger
from clearconv.explain import plot
from clearconv.models import Sequential
from explain_models import stacked_model

matplotlib = pytest.importorskip("matplotlib")
from matplotlib import image as mpimg  # noqa: E402  (after the skip)

RNG = np.random.default_rng(7)


def _read(path):
    """The PNG at ``path`` as (height, width, 4) floats in [0, 1]."""
    with open(path, "rb") as file:
        assert file.read(8) == b"\x89PNG\r\n\x1a\n"          # the PNG signature
    return mpimg.imread(path)


def _box(figure, pixels, label):
    """(top, bottom, left, right) in image rows and columns of the axes labelled ``label``."""
    [ax] = [ax for ax in figure.axes if ax.get_label() == label]
    box = ax.get_window_extent()
    # display coordinates start at the bottom left, image rows at the top: flip y
    return pixels.shape[0] - box.y1, pixels.shape[0] - box.y0, box.x0, box.x1


def _panel(figure, pixels, label):
    """The RGB pixels inside the frame of the axes labelled ``label`` (2 pixels in, past the frame)."""
    top, bottom, left, right = _box(figure, pixels, label)
    return pixels[int(np.ceil(top)) + 2:int(np.floor(bottom)) - 2, int(np.ceil(left)) + 2:int(np.floor(right)) - 2,
                  :3]


def _cells(figure, pixels, label, rows, columns):
    """(rows, columns, 3): the colour at the centre of each cell of a rows x columns picture drawn in the
    axes labelled ``label`` (centres, so that where a panel's edges fall between pixels does not matter)."""
    top, bottom, left, right = _box(figure, pixels, label)
    ys = (top + (np.arange(rows) + 0.5) * (bottom - top) / rows).astype(int)
    xs = (left + (np.arange(columns) + 0.5) * (right - left) / columns).astype(int)
    return pixels[ys[:, np.newaxis], xs[np.newaxis, :], :3]


def _drawn(make_figure, save, path):
    """(figure, pixels): the figure as ``save`` wrote it at ``path``, its layout fixed by a draw."""
    save(path)
    figure = make_figure()
    # the size as the save sets it at 100 dpi (a quarter pixel over), so the layout is the saved picture's
    width, height = np.round(figure.get_size_inches() * 100)
    figure.set_size_inches((width + 0.25) / 100, (height + 0.25) / 100)
    figure.canvas.draw()
    return figure, _read(path)


# --- kernels -----------------------------------------------------------------------

def _conv_with_kernel(kernel):
    """A Conv2D on (6, 6, C) inputs whose kernel is ``kernel`` (kh, kw, C, F)."""
    layer = L.Conv2D(kernel.shape[-1], kernel.shape[:2])
    stacked_model((6, 6, kernel.shape[2]), layer)
    layer.kernel.assign(kernel.astype("float32"))
    return layer


def test_kernels_png_size_and_panels(tmp_path):
    kernel = np.zeros((3, 3, 2, 3))
    kernel[..., 0, 0] = [[1, 0, -1], [2, 0, -2], [1, 0, -1]]   # Sobel
    kernel[..., 1, 0] = kernel[..., 0, 0]                      # the same taps again
    kernel[..., 0, 1] = -kernel[..., 0, 0]                     # the opposite sign
    layer = _conv_with_kernel(kernel)
    path = str(tmp_path / "k.png")
    figure, pixels = _drawn(lambda: plot._kernels_figure(layer), lambda p: plot.kernels(layer, p), path)
    # the stated default size: (max(4, columns * 0.8 + 1.2), rows * 0.8 + 1.0) inches at 100 dpi
    assert pixels.shape[:2] == (round((3 * 0.8 + 1.0) * 100), 400)
    assert pixels[..., :3].std() > 0.1
    same_a, same_b, opposite = (_cells(figure, pixels, label, 3, 3) for label in
                                ("filter 0, channel 0", "filter 0, channel 1", "filter 1, channel 0"))
    np.testing.assert_array_equal(same_a, same_b)               # equal taps, equal cells (one shared scale)
    assert np.abs(same_a - opposite).max() > 0.3                 # opposite taps: red and blue swap
    # one scale centred on 0, [-2, 2]: each tap w has the colour map's colour at (w + 2) / 4
    colormap = matplotlib.colormaps[plot.KERNEL_CMAP]
    np.testing.assert_allclose(same_a, colormap((kernel[..., 0, 0] + 2) / 4)[..., :3], atol=0.01)
    np.testing.assert_allclose(opposite, colormap((-kernel[..., 0, 0] + 2) / 4)[..., :3], atol=0.01)
    zero = _cells(figure, pixels, "filter 2, channel 1", 3, 3)   # an all-zero cell: the map's middle
    np.testing.assert_allclose(zero, np.broadcast_to(colormap(0.5)[:3], zero.shape), atol=0.01)


def test_kernels_given_size_and_dpi(tmp_path):
    layer = _conv_with_kernel(RNG.standard_normal((3, 3, 1, 2)))
    pixels = _read(plot.kernels(layer, str(tmp_path / "k.png"), figsize=(2.9, 2.3), dpi=50))
    assert pixels.shape[:2] == (round(2.3 * 50), round(2.9 * 50))


def test_kernels_summarised_and_rgb(tmp_path):
    layer = _conv_with_kernel(RNG.standard_normal((3, 3, 3, 40)))
    figure = plot._kernels_figure(layer, max_filters=5)
    assert "showing 5 of 40 filters x 3 of 3 input channels" in figure.get_suptitle()
    cells = [ax.get_label() for ax in figure.axes if ax.get_label().startswith("filter")]
    assert len(cells) == 5 * 4 and "filter 4, rgb" in cells      # 3 channels and the RGB view


@pytest.mark.parametrize("make, shape, words", [
    (lambda: L.Conv1D(4, 5), (20, 2), ["kernel (5, 2, 4)"]),
    (lambda: L.Conv3D(2, 3), (5, 5, 5, 2), ["middle depth slice 1 of 3"]),
    (lambda: L.DepthwiseConv2D(3, depth_multiplier=2), (6, 6, 3), ["2 of 2 multipliers x 3 of 3 input channels"]),
    (lambda: L.SeparableConv2D(4, 3), (6, 6, 2), ["depthwise kernel (3, 3, 2, 1)"]),
    (lambda: L.Conv2DTranspose(5, 3), (4, 4, 2), ["5 of 5 filters x 2 of 2 input channels"]),
])
def test_kernels_of_every_convolution(make, shape, words, tmp_path):
    layer = make()
    stacked_model(shape, layer)
    figure = plot._kernels_figure(layer)
    assert all(word in figure.get_suptitle() for word in words), figure.get_suptitle()
    pixels = _read(plot.kernels(layer, str(tmp_path / "k.png")))
    assert pixels[..., :3].std() > 0.05


def test_kernels_of_a_transposed_convolution_are_kernel_f_c(tmp_path):
    """Conv2DTranspose stores (kh, kw, F, C): the cell of filter f and input channel c draws kernel[..., f, c]."""
    layer = L.Conv2DTranspose(2, 3, use_bias=False)
    stacked_model((4, 4, 3), layer)
    kernel = np.zeros((3, 3, 2, 3))
    kernel[0, 0, 1, 2] = 1.0                                     # filter 1, input channel 2: top-left tap
    kernel[2, 1, 0, 1] = -1.0                                    # filter 0, input channel 1: bottom-middle tap
    layer.kernel.assign(kernel.astype("float32"))
    figure, pixels = _drawn(lambda: plot._kernels_figure(layer), lambda p: plot.kernels(layer, p),
                            str(tmp_path / "t.png"))
    colormap = matplotlib.colormaps[plot.KERNEL_CMAP]
    for f in range(2):
        for c in range(3):
            expected = colormap((kernel[..., f, c] + 1) / 2)[..., :3]    # one scale, [-1, 1]
            np.testing.assert_allclose(_cells(figure, pixels, f"filter {f}, channel {c}", 3, 3), expected, atol=0.01)


def test_kernels_refuses_other_layers():
    layer = L.Dense(3)
    stacked_model((4,), layer)
    with pytest.raises(TypeError, match="`layer` must be a convolution layer"):
        plot._kernels_figure(layer)
    with pytest.raises(ValueError, match="not built"):
        plot._kernels_figure(L.Conv2D(2, 3))


def test_unknown_file_ending(tmp_path):
    layer = _conv_with_kernel(RNG.standard_normal((3, 3, 1, 2)))
    with pytest.raises(ValueError, match=r"\.xyz.*\.png"):
        plot.kernels(layer, str(tmp_path / "k.xyz"))
    written = plot.kernels(layer, str(tmp_path / "no-ending"))   # PNG, at the path as given
    assert written == str(tmp_path / "no-ending") and _read(written).shape[0] > 0


# --- feature maps ----------------------------------------------------------------

def _identity_conv(channels_first):
    """A 1x1 Conv2D copying input channel c to output channel c: its feature maps are the input's."""
    data_format = "channels_first" if channels_first else "channels_last"
    layer = L.Conv2D(3, 1, use_bias=False, data_format=data_format)
    model = stacked_model((3, 8, 8) if channels_first else (8, 8, 3), layer)
    layer.kernel.assign(np.eye(3, dtype="float32").reshape(1, 1, 3, 3))
    return model, layer


@pytest.mark.parametrize("channels_first", [False, True])
@pytest.mark.parametrize("shared", [False, True])
def test_features_panels_show_their_channel(channels_first, shared, tmp_path):
    model, layer = _identity_conv(channels_first)
    ramp = np.add.outer(np.arange(8.0), np.arange(8.0)) / 14    # (8, 8)
    maps = np.stack([ramp, ramp, ramp[::-1]])                    # channels 0 and 1 equal, 2 flipped
    x = (maps if channels_first else np.moveaxis(maps, 0, -1))[np.newaxis].astype("float32")
    path = str(tmp_path / "f.png")
    figure, pixels = _drawn(lambda: plot._features_figure(model, x, layer, shared_scale=shared),
                            lambda p: plot.features(model, x, layer, p, shared_scale=shared), path)
    # (columns * 1.2 + 0.4 (+ 0.6 for the colour bar), rows * 1.2 + 0.8) inches: 2 x 2 panels
    assert pixels.shape[:2] == (320, 340 if shared else 280)
    panels = [_panel(figure, pixels, f"channel {c}") for c in range(3)]
    cells = [_cells(figure, pixels, f"channel {c}", 8, 8) for c in range(3)]
    np.testing.assert_array_equal(cells[0], cells[1])           # equal channels, equal pictures
    np.testing.assert_array_equal(cells[2], cells[0][::-1])     # the flipped channel, flipped
    assert np.abs(cells[0] - cells[2]).max() > 0.3
    assert all(panel.std() > 0.05 for panel in panels)
    # the ramp's low corner (top left) has the colour map's low end, its high corner the high end
    viridis = matplotlib.colormaps[plot.FEATURE_CMAP]
    np.testing.assert_allclose(cells[0][0, 0], viridis(0.0)[:3], atol=0.01)
    np.testing.assert_allclose(cells[0][-1, -1], viridis(1.0)[:3], atol=0.01)


def test_features_of_a_layer_without_data_format_in_a_channels_first_model(tmp_path):
    """A ReLU has no data_format: after a channels_first conv its (C, H, W) output is drawn channels first,
    whatever the global image_data_format says; C panels, each its own channel."""
    _, layer = _identity_conv(channels_first=True)
    relu = L.ReLU()
    model = stacked_model((3, 8, 8), layer, relu)
    ramp = np.add.outer(np.arange(8.0), np.arange(8.0)) / 14 - 0.25     # (8, 8), negative at the top left
    x = np.stack([ramp, ramp, ramp[::-1]])[np.newaxis].astype("float32")  # (1, C=3, H=8, W=8)
    path = str(tmp_path / "relu.png")
    figure, pixels = _drawn(lambda: plot._features_figure(model, x, relu),
                            lambda p: plot.features(model, x, relu, p), path)
    assert "channels 0-2 of 3 (channels_first)" in figure.get_suptitle(), figure.get_suptitle()
    assert sorted(ax.get_label() for ax in figure.axes if ax.get_label().startswith("channel")) == \
        ["channel 0", "channel 1", "channel 2"]
    cells = [_cells(figure, pixels, f"channel {c}", 8, 8) for c in range(3)]
    np.testing.assert_array_equal(cells[0], cells[1])           # equal channels, equal pictures
    np.testing.assert_array_equal(cells[2], cells[0][::-1])     # the flipped channel, flipped
    # the ReLU zeroed the ramp's negative corner: every cell at or below 0 has the low end of the colour map
    viridis = matplotlib.colormaps[plot.FEATURE_CMAP]
    np.testing.assert_allclose(cells[0][0, 0], viridis(0.0)[:3], atol=0.01)
    np.testing.assert_array_equal(cells[0][ramp <= 0], np.broadcast_to(cells[0][0, 0], cells[0][ramp <= 0].shape))


def test_features_summarised_1d_3d_and_dense(tmp_path):
    conv1d = L.Conv1D(40, 3)
    model = stacked_model((30, 2), conv1d, L.Flatten(), L.Dense(7))
    x = RNG.standard_normal((2, 30, 2)).astype("float32")
    figure = plot._features_figure(model, x, conv1d, max_channels=6)
    assert "channels 0-5 of 40" in figure.get_suptitle()
    assert len([ax for ax in figure.axes if ax.get_label().startswith("channel")]) == 6
    assert figure.axes[0].get_lines()                            # line plots for 1D maps
    dense = model.layers[-1]
    figure = plot._features_figure(model, x, dense)
    [bars] = [ax for ax in figure.axes if ax.get_label() == "units"]
    heights = [patch.get_height() for patch in bars.patches]
    np.testing.assert_allclose(heights, np.asarray(model(x))[0], rtol=1e-6, atol=1e-6)
    conv3d = L.Conv3D(2, 3, padding="same")
    model = stacked_model((5, 4, 4, 1), conv3d)
    figure = plot._features_figure(model, RNG.standard_normal((1, 5, 4, 4, 1)).astype("float32"), conv3d)
    assert "middle depth slice 2 of 5" in figure.get_suptitle()
    assert _read(plot.features(model, RNG.standard_normal((1, 5, 4, 4, 1)).astype("float32"), conv3d,
                               str(tmp_path / "f.png"))).std() > 0.05


# --- training curves ---------------------------------------------------------------

def _fit(tmp_path, epochs=2):
    """A real short fit: (its History, the CSVLogger file it wrote)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 6, 6, 1)).astype("float32")
    y = rng.integers(0, 3, 32)
    model = Sequential([L.Conv2D(2, 3, activation="relu", input_shape=(6, 6, 1)), L.Flatten(),
                        L.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    path = str(tmp_path / "log.csv")
    history = model.fit(x, y, epochs=epochs, batch_size=16, validation_split=0.25, verbose=0,
                        callbacks=[CSVLogger(path)])
    return history, path


def _curves(figure):
    """{panel: {curve label: (x, y)}} of a history figure."""
    return {ax.get_label(): {line.get_label(): (list(line.get_xdata()), list(line.get_ydata()))
                             for line in ax.get_lines()}
            for ax in figure.axes if ax.get_lines()}


def test_history_from_fit_dict_and_csv(tmp_path):
    history, log = _fit(tmp_path)
    with open(log, newline="") as file:
        rows = list(csv.DictReader(file))
    expected = {name: [float(row[name]) for row in rows] for name in ("loss", "val_loss", "accuracy",
                                                                      "val_accuracy")}
    for source in (history, dict(history.history), log):
        curves = _curves(plot._history_figure(source))
        assert set(curves) == {"loss", "accuracy"}
        assert set(curves["loss"]) == {"loss", "val_loss"} and set(curves["accuracy"]) == {"accuracy",
                                                                                            "val_accuracy"}
        for panel, lines in curves.items():
            for name, (epochs, values) in lines.items():
                assert epochs == [1, 2]                          # epochs from 1
                np.testing.assert_allclose(values, expected[name], rtol=1e-5)
    pixels = _read(plot.history(log, str(tmp_path / "h.png")))
    assert pixels.shape[:2] == (340, 800) and pixels[..., :3].std() > 0.05   # (4 * 2, 3 + 0.4) inches


def test_history_csv_na_and_appended_runs(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("epoch,loss,val_loss\r\n0,1.5,NA\r\n1,1.0,NA\r\n0,0.8,0.9\r\n")
    epochs, series = plot.read_csv_log(str(path))
    assert epochs == [1, 2, 3]                                   # an appended run restarts the epoch column
    assert series["loss"] == [1.5, 1.0, 0.8] and np.isnan(series["val_loss"][:2]).all()


@pytest.mark.parametrize("text, words", [
    ("", ["empty"]),
    ("loss,val_loss\n1,2\n", ["'epoch'"]),
    ("epoch,loss\n", ["no epoch lines"]),
    ("epoch,loss\n0,abc\n", ["line 2", "'loss'", "'abc'"]),
    ("epoch,loss\n0,1,2\n", ["line 2", "3 cells"]),
])
def test_history_bad_csv(text, words, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ValueError) as error:
        plot.history(str(path), str(tmp_path / "h.png"))
    assert str(path) in str(error.value) and all(word in str(error.value) for word in words)


def test_history_bad_sources(tmp_path):
    with pytest.raises(TypeError, match="`source` must be a History"):
        plot.history([1, 2], str(tmp_path / "h.png"))
    with pytest.raises(ValueError, match="no log values"):
        plot.history({}, str(tmp_path / "h.png"))
    with pytest.raises(FileNotFoundError):
        plot.history(str(tmp_path / "missing.csv"), str(tmp_path / "h.png"))


# --- confusion matrix --------------------------------------------------------------

def _direct_count(true, predicted, k):
    matrix = np.zeros((k, k), dtype=int)
    for t, p in zip(true, predicted):
        matrix[t, p] += 1
    return matrix


def test_confusion_matrix_against_direct_count_and_sklearn():
    true = RNG.integers(0, 5, 200)
    scores = RNG.random((200, 5))
    predicted = scores.argmax(axis=1)
    matrix = plot.confusion_matrix(true, scores)
    np.testing.assert_array_equal(matrix, _direct_count(true, predicted, 5))
    assert matrix.sum() == 200 and matrix.dtype == np.int64
    metrics = pytest.importorskip("sklearn.metrics")
    np.testing.assert_array_equal(matrix, metrics.confusion_matrix(true, predicted, labels=range(5)))
    one_hot = np.eye(5)[true]                                     # one-hot rows mean their argmax
    np.testing.assert_array_equal(plot.confusion_matrix(one_hot, predicted), matrix)
    # hand-computed: class 2 never occurs, num_classes widens the matrix
    np.testing.assert_array_equal(plot.confusion_matrix([0, 1, 1], [0, 0, 1], num_classes=3),
                                  [[1, 0, 0], [1, 1, 0], [0, 0, 0]])


@pytest.mark.parametrize("true, predicted, options, words", [
    ([0, 1], [0], {}, ["as many samples"]),
    ([0, -1], [0, 1], {}, ["`y_true`", "negative"]),
    ([0, 3], [0, 1], {"num_classes": 3}, ["`y_true`", "label 3"]),
    ([0, 1.5], [0, 1], {}, ["`y_true`", "integer"]),
    ([0, 1], [0, 1], {"num_classes": 0}, ["`num_classes`"]),
    ([[[0]]], [0], {}, ["`y_true`", "(N,)"]),
])
def test_confusion_matrix_errors(true, predicted, options, words):
    with pytest.raises(ValueError) as error:
        plot.confusion_matrix(true, predicted, **options)
    assert all(word in str(error.value) for word in words), str(error.value)


def test_confusion_picture_counts(tmp_path):
    true = RNG.integers(0, 4, 90)
    predicted = np.where(RNG.random(90) < 0.7, true, RNG.integers(0, 4, 90))
    names = ["cat", "dog", "cow", "hen"]
    figure = plot._confusion_figure(true, predicted, names)
    [ax] = [ax for ax in figure.axes if ax.get_label() == "matrix"]
    cells = {(round(text.get_position()[1]), round(text.get_position()[0])): int(text.get_text())
             for text in ax.texts if text.get_gid() == "count"}
    written = np.zeros((4, 4), dtype=int)
    for (row, column), count in cells.items():
        written[row, column] = count
    np.testing.assert_array_equal(written, _direct_count(true, predicted, 4))   # rows true, columns predicted
    assert written.sum() == 90
    assert [label.get_text() for label in ax.get_yticklabels()] == names
    accuracy = np.mean(true == predicted)
    assert f"90 samples, accuracy {accuracy:.3f}" in ax.get_title()
    pixels = _read(plot.confusion(true, predicted, str(tmp_path / "c.png"), class_names=names))
    assert pixels.shape[:2] == (430, 510) and pixels[..., :3].std() > 0.1       # side max(4, 0.45 * 4 + 2.5)
    with pytest.raises(ValueError, match="`class_names` must name the 4 classes"):
        plot.confusion(true, predicted, str(tmp_path / "c.png"), class_names=names[:3])


def test_module_imports_without_touching_matplotlib():
    """The module's import does not import matplotlib (checked in a fresh interpreter)."""
    import subprocess
    import sys
    code = "import sys, clearconv.explain.plot; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "CLEARCONV_KEEP_FREED_MEMORY": "0"})
    assert out.stdout.strip() == "False"


def test_missing_matplotlib_names_the_extra(monkeypatch, tmp_path):
    import sys
    monkeypatch.setitem(sys.modules, "matplotlib", None)         # import matplotlib now raises ImportError
    with pytest.raises(ImportError, match=r'pip install "clearconv\[plot\]"'):
        plot.confusion([0, 1], [0, 1], str(tmp_path / "c.png"))
