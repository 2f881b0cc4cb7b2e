"""The explainer page in a real browser (headless Chromium): every section renders with no console error, and a
click on a conv cell and on a pooling cell shows trace's numbers for that cell."""

import json
import shutil

import numpy as np
import pytest

from clearconv import layers as L
from clearconv.explain import report, trace
from clearconv.explain.report import write_report
from clearconv.models import Sequential

sync_api = pytest.importorskip("playwright.sync_api", reason="the browser test needs Playwright (the `test` extra)")
CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (Debian's `chromium` package)")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


def _model():
    rng = np.random.default_rng(3)
    model = Sequential([L.Conv2D(4, 3, padding="same", activation="relu", input_shape=(10, 10, 1)),
                        L.MaxPooling2D(), L.Conv2D(3, 3), L.Flatten(), L.Dense(5, activation="softmax")])
    model.layers[0].bias.assign(rng.normal(scale=0.1, size=4).astype(np.float32))
    return model, rng.random((1, 10, 10, 1)).astype(np.float32)


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for the module's pages."""
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


def _open(browser, path):
    """(page, messages): the page at ``path`` opened from a file:// URL; messages collects console output and
    page errors."""
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    messages = []
    page.on("console", lambda message: messages.append((message.type, message.text)))
    page.on("pageerror", lambda error: messages.append(("pageerror", str(error))))
    page.goto(path.as_uri())
    page.wait_for_selector("#prediction h3")      # the last section the script draws
    return page, messages


@pytest.fixture(scope="module")
def session(browser, tmp_path_factory):
    """(page, messages, model, x): the page of _model() opened once."""
    model, x = _model()
    path = tmp_path_factory.mktemp("report") / "report.html"
    write_report(model, x, path)
    page, messages = _open(browser, path)
    yield page, messages, model, x
    page.close()


# Per canvas: its size, whether every pixel is drawn (opaque) and how many colours it holds.
CANVASES = """(selector) => Array.from(document.querySelectorAll(selector), (canvas) => {
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  const colours = new Set();
  let opaque = true;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i + 3] !== 255) opaque = false;
    colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
  }
  return {width: canvas.width, height: canvas.height, opaque: opaque, colours: colours.size};
})"""


def _drawn(page, selector, count=None):
    canvases = page.evaluate(CANVASES, selector)
    assert canvases, selector
    if count is not None:
        assert len(canvases) == count, selector
    assert all(c["width"] > 0 and c["height"] > 0 and c["opaque"] for c in canvases), selector
    assert any(c["colours"] > 1 for c in canvases), f"{selector}: every canvas is one flat colour"


def _errors(messages):
    return [m for m in messages if m[0] in ("error", "pageerror")]


def test_every_section_renders_without_errors(session):
    page, messages, model, x = session
    assert page.title().startswith("clearconv: inside")
    assert model.name in page.inner_text("#summary") and "Total params" in page.inner_text("#summary")
    _drawn(page, "#inputs canvas", 1)
    for number, layer in enumerate(model.layers):
        assert page.get_attribute(f"#layer-{number}", "data-name") == layer.name
        channels = model.layers[number].output.shape[-1] if number != 3 and number != 4 else None
        _drawn(page, f"#layer-{number} canvas", channels if channels is not None else 1)
    _drawn(page, "#kernels-0 canvas", 4 * 1)
    _drawn(page, "#kernels-2 canvas", 3 * 4)
    # the grid of clearconv.explain.kernels.kernel_grid: rows are filters, columns input channels
    assert page.get_attribute('#kernels-2 canvas[data-filter="2"][data-channel="3"]', "title") == \
        "filter 2, input channel 3"
    rows = page.query_selector_all("#prediction tr[data-class]")
    expected = np.asarray(model.predict(x, verbose=0))[0]
    assert [float(row.get_attribute("data-value")) for row in rows] == [float(v) for v in expected]
    assert page.inner_text("#predicted") == f"predicted class: {int(np.argmax(expected))}"
    assert _errors(messages) == []


def _click(page, layer, channel, row, column):
    canvas = page.locator(f'canvas.map[data-layer="{layer}"][data-channel="{channel}"]')
    sx, sy = float(canvas.get_attribute("data-sx")), float(canvas.get_attribute("data-sy"))
    canvas.click(position={"x": (column + 0.5) * sx, "y": (row + 0.5) * sy})
    assert json.loads(page.get_attribute("#detail", "data-index")) == [row, column, channel]


def _shown(page, element):
    """The number the page prints in ``element`` (its last span): the float64 it holds, as shortest text."""
    return float(page.inner_text(f"{element} .number"))


def _field(page, element):
    return [tuple(map(tuple, ranges)) for ranges in json.loads(page.get_attribute(element, "data-receptive-field"))]


def test_click_on_a_conv_cell_shows_trace_numbers(session):
    page, messages, model, x = session
    index = (0, 3, 2)                      # the first row: the 3x3 patch's top row is padding
    _click(page, 0, index[2], index[0], index[1])
    expected = trace(model, x, model.layers[0].name, index)
    assert page.inner_text("#d-rule") == expected.rule
    assert _shown(page, "#d-value") == float(expected.value)
    assert _shown(page, "#d-pre") == expected.pre_activation
    assert _shown(page, "#d-bias") == expected.bias
    assert _shown(page, "#d-sum") == float(expected.products.sum())
    products = json.loads(page.get_attribute("#d-products", "data-products"))
    assert products == [float(v) for v in np.asarray(expected.products).reshape(-1)]
    # the products table, rounded to 4 significant digits, one cell per kernel tap
    cells = [float(td.inner_text()) for td in page.query_selector_all('table[data-what="products"] td')]
    np.testing.assert_allclose(cells, np.asarray(expected.products)[..., 0].reshape(-1), rtol=5e-4, atol=1e-12)
    assert [td.inner_text() for td in page.query_selector_all('table[data-what="patch"] tr:first-of-type td')] \
        == ["pad"] * 3
    assert _field(page, "#d-field") == [expected.receptive_field]
    assert _field(page, "#inputs") == [expected.receptive_field]
    # the receptive field is outlined on the input picture: its corner cell (clipped to the picture) is amber
    (top, _), (left, _) = expected.receptive_field
    canvas = page.locator("#inputs canvas")
    sx = float(canvas.get_attribute("data-sx"))
    pixel = page.evaluate("([x, y]) => Array.from(document.querySelector('#inputs canvas').getContext('2d')"
                          ".getImageData(x, y, 1, 1).data)", [int(max(left, 0) * sx + 1), int(max(top, 0) * sx + 1)])
    assert pixel[0] > 200 and 120 < pixel[1] < 220 and pixel[2] < 80, pixel
    assert _errors(messages) == []


def test_click_on_a_pooling_cell_shows_the_window_and_winner(session):
    page, messages, model, x = session
    index = (3, 1, 1)
    _click(page, 1, index[2], index[0], index[1])
    expected = trace(model, x, model.layers[1].name, index)
    assert page.inner_text("#d-rule") == expected.rule
    assert _shown(page, "#d-value") == float(expected.value) == expected.pre_activation
    assert _shown(page, "#d-pre") == expected.pre_activation
    source = json.loads(page.get_attribute("#d-source", "data-source"))
    assert source == [0, list(expected.input_index)]
    window = [float(td.inner_text()) for td in page.query_selector_all('table[data-what="patch"] td')]
    np.testing.assert_allclose(window, np.asarray(expected.patch).reshape(-1), rtol=5e-4)
    winner = page.query_selector_all('table[data-what="patch"] td.win')
    assert len(winner) == 1 and float(winner[0].get_attribute("title")) == expected.pre_activation
    assert page.query_selector("#d-bias") is None and page.query_selector("#d-products") is None
    assert _field(page, "#d-field") == [expected.receptive_field]
    assert _errors(messages) == []


def test_a_partly_traced_layer_clicks_its_first_cells(browser, tmp_path):
    """A layer larger than its share of the budget: its first cells (channel 0, row by row) show trace's
    numbers; the next cell, and every cell of channel 1, show the value and say which cells click."""
    rng = np.random.default_rng(4)
    model = Sequential([L.Conv2D(2, 3, padding="same", input_shape=(12, 12, 1))])
    model.layers[0].bias.assign(rng.normal(scale=0.1, size=2).astype(np.float32))
    x = rng.random((1, 12, 12, 1)).astype(np.float32)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(report, "TRACE_BUDGET", 2000)
        patch.setattr(report, "MAX_TRACED_CELLS", 40)            # a cell costs max(9 + 16, 50) = 50: 40 cells
        write_report(model, x, tmp_path / "partial.html")
    page, messages = _open(browser, tmp_path / "partial.html")
    try:
        _click(page, 0, 0, 3, 3)                                  # cell 39 of channel 0: the last traced
        expected = trace(model, x, model.layers[0].name, (3, 3, 0))
        assert _shown(page, "#d-pre") == expected.pre_activation and _shown(page, "#d-bias") == expected.bias
        products = json.loads(page.get_attribute("#d-products", "data-products"))
        assert products == [float(v) for v in np.asarray(expected.products).reshape(-1)]
        assert _field(page, "#d-field") == [expected.receptive_field]
        for channel, row, column in ((0, 3, 4), (1, 0, 0)):       # cell 40, and channel 1: not traced
            _click(page, 0, channel, row, column)
            value = float(np.asarray(model(x))[0, row, column, channel])
            assert _shown(page, "#d-value") == value and page.query_selector("#d-pre") is None
            assert "the first 40 of 288 drawn cells are clickable, channel 0's rows 0-2 and row 3's columns 0-3" \
                in page.inner_text("#detail-body")
        assert _errors(messages) == []
    finally:
        page.close()
