"""The explainer page: one self-contained file whose embedded numbers are the model's outputs and trace's."""

import json
import re

import numpy as np
import pytest

from clearconv import cli, zoo
from clearconv import layers as L
from clearconv.explain import report, trace
from clearconv.explain.kernels import kernel_grid
from clearconv.explain.report import build_report, decode, report_data, write_report
from clearconv.models import Sequential

RNG = np.random.default_rng(7)


def _small():
    """conv 'same' (with a bias) -> max pooling -> flatten -> dense: every kind the page draws in 2-D and 1-D."""
    model = Sequential([L.Conv2D(3, 3, padding="same", activation="relu", input_shape=(6, 6, 2)),
                        L.MaxPooling2D(), L.Flatten(), L.Dense(4, activation="softmax")])
    model.layers[0].bias.assign(RNG.normal(size=3).astype(np.float32))
    return model, RNG.random((1, 6, 6, 2)).astype(np.float32)


def _embedded(page: str) -> dict:
    match = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page, re.S)
    assert match, "no data block"
    return json.loads(match.group(1))


def _conv_loops(x, kernel, bias, pad):
    """Direct loops: cross-correlation of one example (H, W, C) with (k, k, C, F), zero padding ``pad``."""
    h, w, _ = x.shape
    k, f = kernel.shape[0], kernel.shape[-1]
    padded = np.zeros((h + 2 * pad, w + 2 * pad, x.shape[2]))
    padded[pad:pad + h, pad:pad + w] = x
    out = np.zeros((h + 2 * pad - k + 1, w + 2 * pad - k + 1, f))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            for c in range(f):
                out[i, j, c] = np.sum(padded[i:i + k, j:j + k] * kernel[..., c]) + bias[c]
    return out


def test_one_self_contained_document():
    model, x = _small()
    page = build_report(model, x)
    assert page.startswith("<!DOCTYPE html>") and page.count("<html") == 1 and page.rstrip().endswith("</html>")
    lowered = page.lower()
    for outside in ('src="http', "href=\"http", "src='http", "<link", "<script src", "url(", "@import", "<iframe",
                    "fetch(", "xmlhttprequest"):
        assert outside not in lowered, outside
    assert "default-src 'none'" in page          # the browser itself refuses any load from outside the file
    assert len(re.findall(r"<script", page)) == 2   # the data block and the script, both inline


def test_maps_are_the_model_outputs_and_the_first_conv_matches_direct_loops():
    model, x = _small()
    data = _embedded(build_report(model, x))
    assert [entry["name"] for entry in data["layers"]] == [layer.name for layer in model.layers]
    np.testing.assert_array_equal(decode(data["inputs"][0]["maps"]), np.moveaxis(x[0], -1, 0))
    conv = decode(data["layers"][0]["maps"])                       # (channels, H, W)
    expected = np.maximum(_conv_loops(x[0].astype(np.float64), model.layers[0].kernel.data.astype(np.float64),
                                      model.layers[0].bias.data.astype(np.float64), 1), 0)
    np.testing.assert_allclose(np.moveaxis(conv, 0, -1), expected, rtol=1e-5, atol=1e-6)
    pooled = decode(data["layers"][1]["maps"])
    np.testing.assert_array_equal(pooled, np.moveaxis(np.moveaxis(conv, 0, -1).reshape(3, 2, 3, 2, 3).max(axis=(1, 3)),
                                                      -1, 0))
    predicted = np.asarray(model.predict(x, verbose=0))[0]
    np.testing.assert_array_equal(decode(data["layers"][-1]["maps"]), predicted)
    assert data["prediction"][0]["what"].startswith("probabilities")
    np.testing.assert_array_equal(decode(data["prediction"][0]["values"]), predicted)
    np.testing.assert_allclose(predicted.sum(), 1.0, rtol=1e-5)


def _cell(entry, cell):
    """The embedded numbers of one traced cell, decoded as the page's script reads them."""
    cells = entry["cells"]
    arrays = {key: decode(cells[key]) for key in ("patch", "kernels", "kernel_id", "pre_activation", "bias", "sum",
                                                  "rule_id", "source", "mark", "field")}
    k = arrays["kernel_id"][cell]
    return dict(patch=arrays["patch"][cell].astype(np.float64),
                kernel=None if k < 0 else arrays["kernels"][k].astype(np.float64),
                pre=arrays["pre_activation"][cell], bias=arrays["bias"][cell], sum=arrays["sum"][cell],
                rule=cells["rules"][arrays["rule_id"][cell]], source=tuple(arrays["source"][cell]),
                mark=arrays["mark"][cell], field=tuple(arrays["field"][cell]))


@pytest.mark.parametrize("layer_number, index", [(0, (0, 0, 1)), (0, (3, 5, 2)), (1, (1, 2, 0)), (3, (2,))])
def test_traced_numbers_equal_trace(layer_number, index):
    model, x = _small()
    data = report_data(model, x)
    entry = data["layers"][layer_number]
    layer = model.layers[layer_number]
    expected = trace(model, x, layer.name, index)
    if len(index) == 1:
        cell = index[0]
    else:   # channel-major: (channel, row, column)
        h, w = entry["spatial"]
        cell = (index[2] * h + index[0]) * w + index[1]
    got = _cell(entry, cell)
    value = decode(entry["maps"]).reshape(-1)[cell]
    assert value == expected.value                                     # float32, bit for bit
    assert got["pre"] == expected.pre_activation and got["rule"] == expected.rule
    padded = np.isnan(got["patch"])
    patch = np.where(padded, 0.0, got["patch"])
    np.testing.assert_array_equal(patch, np.asarray(expected.patch, dtype=np.float64).reshape(-1))
    np.testing.assert_array_equal(padded, np.asarray(expected.padding).reshape(-1))
    assert got["field"] == tuple(np.asarray(expected.receptive_field).reshape(-1))
    if expected.kernel is None:                                       # max pooling: the winner
        assert np.isnan(got["bias"]) and np.isnan(got["sum"])
        assert patch[got["mark"]] == expected.pre_activation
        winner = np.ravel_multi_index(expected.input_index, np.asarray(expected.inputs).shape)
        assert got["source"] == (0, winner)
        return
    products = patch * got["kernel"]                                   # what the page's script computes
    np.testing.assert_array_equal(products, np.asarray(expected.products).reshape(-1))
    assert got["bias"] == expected.bias
    assert got["sum"] == float(np.asarray(expected.products).sum())
    assert got["sum"] + got["bias"] == got["pre"]


def test_padding_cells_of_a_same_conv_are_marked():
    model, x = _small()
    entry = report_data(model, x)["layers"][0]
    corner = _cell(entry, 0)["patch"].reshape(3, 3, 2)                # output (0, 0): first row and column padded
    assert np.isnan(corner[0]).all() and np.isnan(corner[:, 0]).all() and not np.isnan(corner[1:, 1:]).any()


def test_big_layers_are_summarized_and_the_page_says_so(monkeypatch):
    monkeypatch.setattr(report, "MAX_CHANNELS", 2)
    monkeypatch.setattr(report, "TRACE_BUDGET", 3000)
    model, x = _small()
    data = report_data(model, x)
    conv, pool = data["layers"][0], data["layers"][1]
    assert conv["shown"] == 2 and decode(conv["maps"]).shape == (2, 6, 6)
    assert any("first 2 of 3 channels are drawn" in note for note in conv["notes"])
    total = 0
    for entry in data["layers"]:
        if entry.get("cells"):
            total += entry["cells"]["count"] * (int(np.prod(entry["cells"]["patch_shape"])) + report.CELL_COST)
            assert entry["cells"]["count"] * 3000 // report.MAX_TRACED_CELLS <= 3000
    assert total <= 3000
    # the conv layer, costliest, is cut to the cells that fit its share; the page says which cells click
    assert 0 < conv["traced_cells"] < conv["shown"] * 36 and conv["cells"]["count"] == conv["traced_cells"]
    assert any("clickable" in note for note in conv["notes"])
    assert pool["traced_cells"] == pool["shown"] * 9
    page = build_report(model, x)
    assert "are clickable" in page and "Large layers are summarized" in page


def test_unsupported_layer_kinds_show_their_maps_without_clicks():
    model = Sequential([L.Conv2D(2, 3, input_shape=(5, 5, 1)), L.UpSampling2D()])
    x = RNG.random((1, 5, 5, 1)).astype(np.float32)
    data = report_data(model, x)
    up = data["layers"][1]
    assert up["traced_cells"] == 0 and "cells" not in up and any("not clickable" in note for note in up["notes"])
    conv = decode(data["layers"][0]["maps"])
    np.testing.assert_array_equal(decode(up["maps"]), conv.repeat(2, axis=1).repeat(2, axis=2))


def test_names_are_escaped():
    hostile = "</script><script>alert(1)</script>&"
    model = Sequential([L.Conv2D(2, 3, input_shape=(5, 5, 1), name=hostile), L.Flatten()])
    x = RNG.random((1, 5, 5, 1)).astype(np.float32)
    page = build_report(model, x, title=hostile)
    assert "alert(1)</script>" not in page and "<script>alert" not in page
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;&amp;" in page     # the <title>
    assert _embedded(page)["layers"][0]["name"] == hostile and _embedded(page)["title"] == hostile


def test_shared_nested_model_and_two_inputs():
    model = zoo.siamese(input_shape=(8, 8, 1), embedding_size=4)
    xs = [RNG.random((1, 8, 8, 1)).astype(np.float32) for _ in range(2)]
    data = report_data(model, xs)
    names = [entry["name"] for entry in data["layers"]]
    assert names[0].startswith("tower/") and len(data["inputs"]) == 2
    first = data["layers"][0]
    assert any("calls this layer 2 times" in note for note in first["notes"])
    # the first call reads the left input: its receptive field names input 0, not input 1
    field = _cell(first, 0)["field"]
    assert field[:4] == (0, 3, 0, 3) and field[4] == np.iinfo(np.int32).min
    expected = trace(model, xs, first["name"], (0, 0, 0), call=0)
    assert decode(first["maps"]).reshape(-1)[0] == expected.value
    np.testing.assert_array_equal(decode(data["prediction"][0]["values"]), np.asarray(model.predict(xs, verbose=0))[0])
    assert data["prediction"][0]["what"].startswith("sigmoid")


def test_bad_arguments_are_named():
    model, x = _small()
    with pytest.raises(ValueError, match=r"x must have shape \(batch >= 1, 6, 6, 2\).*\(1, 5, 6, 2\)"):
        build_report(model, x[:, :5])
    with pytest.raises(ValueError, match="one array per model input"):
        build_report(model, [x, x])
    with pytest.raises(ValueError, match="title must be a string"):
        build_report(model, x, title=3)
    with pytest.raises(ValueError, match="path must be a file path"):
        write_report(model, x, "/no/such/folder/report.html")


def test_write_report(tmp_path):
    model, x = _small()
    path = write_report(model, x, tmp_path / "page.html", title="small")
    assert path == str(tmp_path / "page.html")
    assert _embedded(open(path, encoding="utf-8").read())["title"] == "small"
    assert [p.name for p in tmp_path.iterdir()] == ["page.html"]        # no temporary file left behind


def test_cli_writes_the_page(tmp_path, capsys, monkeypatch):
    pytest.importorskip("sklearn", reason="the digits dataset needs scikit-learn (the 'data' extra)")
    from clearconv import data
    monkeypatch.setenv("CLEARCONV_KEEP_FREED_MEMORY", "0")
    model = zoo.get("digits_cnn")   # the command builds this very model: its random weights are known here
    monkeypatch.setitem(zoo.MODELS, "digits_cnn", lambda **options: model)
    out = tmp_path / "digits.html"
    assert cli.main(["report", "digits_cnn", "--data", "digits", "--index", "4", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}" in printed and "untrained" in printed and "digits test example 4" in printed
    embedded = _embedded(out.read_text(encoding="utf-8"))
    _, (x_test, _) = data.load("digits", seed=0)
    np.testing.assert_array_equal(decode(embedded["prediction"][0]["values"]),
                                  np.asarray(model.predict(x_test[4:5], verbose=0))[0])


@pytest.mark.parametrize("argv, words, code", [
    (["report", "digits_cnn", "--data", "digits", "-o", "/no/such/folder/r.html"], ["--output", "does not exist"], 2),
    (["report", "nope", "--data", "digits", "-o", "r.html"], ["nope", "digits_cnn"], 2),
    (["report", "digits_cnn", "-o", "r.html"], ["--input", "--data"], 2),
])
def test_cli_errors(argv, words, code, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(argv) == code
    err = capsys.readouterr().err
    assert all(word in err for word in words), err
    assert not (tmp_path / "r.html").exists()


def test_cli_folder_as_output(tmp_path, capsys):
    assert cli.main(["report", "digits_cnn", "--data", "digits", "-o", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err


def test_lenet5_builds_within_the_bounds():
    model = zoo.get("lenet5")
    x = RNG.random((1, 28, 28, 1)).astype(np.float32)
    data = report_data(model, x)
    for entry in data["layers"]:                                                 # all of LeNet-5 is clickable
        assert entry["traced_cells"] == entry["shown"] * int(np.prod(entry["spatial"])), entry["name"]
    assert data["seconds"] < 20


def test_a_layer_larger_than_its_share_traces_its_first_cells(monkeypatch):
    """One channel of a 224 x 224 conv outgrows the budget: the page still traces its first cells, channel 0's
    first rows, says which, and their numbers are trace's."""
    monkeypatch.setattr(report, "TRACE_BUDGET", 50_000)
    monkeypatch.setattr(report, "MAX_TRACED_CELLS", 500)         # a cell costs max(27 + 16, 100) = 100 entries
    model = Sequential([L.Conv2D(4, 3, padding="same", input_shape=(224, 224, 3))])
    x = RNG.random((1, 224, 224, 3)).astype(np.float32)
    entry = report_data(model, x)["layers"][0]
    assert entry["cells"]["count"] == entry["traced_cells"] == 500               # 50,000 // 100
    # 500 cells of channel 0, row by row: rows 0 and 1 (448 cells), then row 2's columns 0-51
    assert any("the first 500 of 200,704 drawn cells are clickable, channel 0's rows 0-1 and row 2's columns 0-51"
               in note for note in entry["notes"]), entry["notes"]
    for cell, index in ((0, (0, 0, 0)), (499, (2, 51, 0))):
        expected = trace(model, x, model.layers[0].name, index)
        got = _cell(entry, cell)
        assert decode(entry["maps"]).reshape(-1)[cell] == expected.value
        assert got["pre"] == expected.pre_activation and got["bias"] == expected.bias
        np.testing.assert_array_equal(np.where(np.isnan(got["patch"]), 0.0, got["patch"]) * got["kernel"],
                                      np.asarray(expected.products).reshape(-1))
        assert got["field"] == tuple(np.asarray(expected.receptive_field).reshape(-1))


def _batch_norm(x, layer, axis):
    """Inference batch normalization along ``axis`` of x, in float64: gamma (x - mean) / sqrt(var + eps) + beta."""
    shape = [1] * x.ndim
    shape[axis] = -1
    gamma, beta, mean, variance = (np.asarray(w, dtype=np.float64).reshape(shape) for w in layer.get_weights())
    return gamma * (x - mean) / np.sqrt(variance + layer.epsilon) + beta


def test_a_channels_first_model_is_drawn_channel_by_channel():
    """Conv2D channels_first -> ReLU -> BatchNormalization(axis=1): the ReLU and BN have no data_format, their
    (C, H, W) outputs are drawn as they are, channel by channel, whatever the global image_data_format."""
    rng = np.random.default_rng(11)
    conv = L.Conv2D(3, 3, data_format="channels_first", name="conv")
    norm = L.BatchNormalization(axis=1, name="bn")
    model = Sequential([L.Input((2, 7, 6)), conv, L.ReLU(name="relu"), norm])
    conv.bias.assign(rng.normal(size=3).astype(np.float32))
    norm.set_weights([rng.uniform(0.5, 2, 3), rng.normal(size=3), rng.normal(size=3) * 0.1, rng.uniform(0.5, 2, 3)])
    x = rng.standard_normal((1, 2, 7, 6)).astype(np.float32)                     # (N, C=2, H=7, W=6)
    data = report_data(model, x)
    assert not data["inputs"][0]["channels_last"]
    np.testing.assert_array_equal(decode(data["inputs"][0]["maps"]), x[0])
    # the oracle: direct loops on the channels_last view of the same numbers, moved back to (C, H, W)
    convolved = np.moveaxis(_conv_loops(np.moveaxis(x[0], 0, -1).astype(np.float64),
                                        conv.kernel.data.astype(np.float64), conv.bias.data.astype(np.float64), 0),
                            -1, 0)                                              # (3, 5, 4)
    relu = np.maximum(convolved, 0)
    expected = {"conv": convolved, "relu": relu, "bn": _batch_norm(relu, norm, axis=0)}
    for entry in data["layers"]:
        assert not entry["channels_last"] and entry["spatial"] == [5, 4] and entry["channels"] == 3, entry["name"]
        maps = decode(entry["maps"])
        assert maps.shape == (3, 5, 4)
        np.testing.assert_allclose(maps, expected[entry["name"]], rtol=1e-5, atol=1e-5)
    # a traced cell of the BN layer, channel-major: cell (c * 5 + i) * 4 + j is output index (c, i, j)
    bn = data["layers"][2]
    c, i, j = 2, 3, 1
    got, t = _cell(bn, (c * 5 + i) * 4 + j), trace(model, x, "bn", (c, i, j))
    assert got["pre"] == t.pre_activation and got["bias"] == t.bias and got["kernel"][0] == t.kernel
    assert got["field"] == (i, i + 3, j, j + 3)                                   # rows and columns of the input


def test_title_and_names_holding_the_markers():
    """The template's markers in a title or a name stay text: each marker is filled once, in one pass."""
    model = Sequential([L.Conv2D(2, 3, input_shape=(5, 5, 1), name="__DATA__"), L.Flatten()], name="__TITLE__")
    x = RNG.random((1, 5, 5, 1)).astype(np.float32)
    page = build_report(model, x, title="T __DATA__")
    assert re.search(r"<title>(.*?)</title>", page, re.S).group(1) == "T __DATA__"
    data = _embedded(page)
    assert data["title"] == "T __DATA__" and data["model"] == "__TITLE__" and data["layers"][0]["name"] == "__DATA__"
    assert page.count('id="report-data"') == 1


# --- kernels: one grid for the page and the pictures ---------------------------------

def _correlate(x, kernel):
    """'valid' cross-correlation of one 2-D map with one 2-D kernel, by loops (float64)."""
    kh, kw = kernel.shape
    out = np.zeros((x.shape[0] - kh + 1, x.shape[1] - kw + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = np.sum(x[i:i + kh, j:j + kw] * kernel)
    return out


def test_kernel_grid_rows_and_columns_are_what_the_layer_computes():
    """Each grid cell is the kernel the layer applies from that column's input channel to that row's output:
    checked on the layers' own outputs against direct loops (conv, depthwise) and an impulse (transposed)."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, 6, 7, 2)).astype(np.float32)
    conv = L.Conv2D(3, 3, use_bias=False)
    out = np.asarray(Sequential([L.Input((6, 7, 2)), conv])(x))[0]
    grid, rows, columns, _ = kernel_grid(conv)
    assert grid.shape == (3, 2, 3, 3) and (rows, columns) == ("filter", "input channel")
    for f in range(3):
        np.testing.assert_allclose(out[..., f], sum(_correlate(x[0, ..., c].astype(np.float64), grid[f, c])
                                                    for c in range(2)), rtol=1e-5, atol=1e-5)
    depthwise = L.DepthwiseConv2D(3, depth_multiplier=2, use_bias=False)
    out = np.asarray(Sequential([L.Input((6, 7, 2)), depthwise])(x))[0]
    grid, rows, columns, note = kernel_grid(depthwise)
    assert grid.shape == (2, 2, 3, 3) and (rows, columns) == ("multiplier", "input channel")
    assert "c * depth_multiplier + m" in note
    for m in range(2):
        for c in range(2):                                       # output channel c * dm + m
            np.testing.assert_allclose(out[..., c * 2 + m], _correlate(x[0, ..., c].astype(np.float64), grid[m, c]),
                                       rtol=1e-5, atol=1e-5)
    transposed = L.Conv2DTranspose(4, 3, use_bias=False)
    model = Sequential([L.Input((3, 3, 2)), transposed])
    grid, rows, columns, _ = kernel_grid(transposed)
    assert grid.shape == (4, 2, 3, 3) and (rows, columns) == ("filter", "input channel")
    impulse = np.zeros((1, 3, 3, 2), dtype=np.float32)
    impulse[0, 1, 1, 1] = 1.0                                    # one input cell of channel 1 scatters its kernel
    out = np.asarray(model(impulse))[0]                          # (5, 5, 4)
    for f in range(4):
        np.testing.assert_array_equal(out[1:4, 1:4, f], grid[f, 1])
    separable = L.SeparableConv2D(4, 3, depth_multiplier=3)
    Sequential([L.Input((6, 7, 2)), separable])
    grid, rows, _, note = kernel_grid(separable)
    assert grid.shape == (3, 2, 3, 3) and rows == "multiplier" and "pointwise" in note
    np.testing.assert_array_equal(grid[2, 1], np.asarray(separable.depthwise_kernel.data)[..., 1, 2])


def test_kernel_grid_refuses_other_layers():
    with pytest.raises(TypeError, match=r"kernel_grid: `layer` must be a convolution layer \(Conv1D.*\(Dense\)"):
        kernel_grid(Sequential([L.Input((4,)), L.Dense(2)]).layers[0])
    with pytest.raises(ValueError, match="not built"):
        kernel_grid(L.Conv2D(2, 3))


def test_the_page_draws_the_shared_kernel_grid(monkeypatch):
    monkeypatch.setattr(report, "KERNEL_FILTERS", 2)
    model = Sequential([L.Conv2D(3, 3, input_shape=(6, 6, 2)), L.DepthwiseConv2D(3, depth_multiplier=2)])
    data = report_data(model, RNG.random((1, 6, 6, 2)).astype(np.float32))
    conv, depthwise = (entry["kernel_grid"] for entry in data["layers"])
    np.testing.assert_array_equal(decode(conv["kernels"]), kernel_grid(model.layers[0])[0][:2])
    assert (conv["row_name"], conv["column_name"]) == ("filter", "input channel")
    assert "first 2 of 3 filters and 2 of 2 input channels shown" in conv["note"]
    np.testing.assert_array_equal(decode(depthwise["kernels"]), kernel_grid(model.layers[1])[0])
    assert depthwise["row_name"] == "multiplier" and decode(depthwise["kernels"]).shape == (2, 3, 3, 3)
