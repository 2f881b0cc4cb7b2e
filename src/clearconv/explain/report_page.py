"""The explainer page's HTML, style and script (one template; :mod:`clearconv.explain.report` fills it in).

``__TITLE__`` receives the escaped title and ``__DATA__`` the page's data as JSON
(see :func:`clearconv.explain.report.report_data`), in a
``<script type="application/json">`` element with '<', '>' and '&' escaped.

The script is plain JavaScript, no framework and no build step. It decodes the
base64 arrays into typed arrays, draws every map and kernel on a <canvas>
(grayscale for maps with no negative value, blue-white-red otherwise), and on a
click shows the cell's numbers as the data hold them. Its only arithmetic on
the layer's numbers is the element-wise product patch * kernel, in float64 as
NumPy computes it. Numbers are printed with ``String(x)``, the shortest text that
parses back to the same float64 (grid cells rounded to 4 digits, the full
number in their title). Elements the tests read carry ids and data-* attributes:
``#detail`` (data-layer, data-index), ``#d-value``, ``#d-pre``, ``#d-bias``,
``#d-sum``, ``#d-products`` (data-products: every product as JSON),
``#d-field`` (data-receptive-field), ``#d-source``; canvases carry data-layer,
data-channel, data-sx and data-sy (the pixel size of one cell).
"""

PAGE = r"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy"
      content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<title>__TITLE__</title>
<style>
body { font-family: system-ui, sans-serif; margin: 0; color: #222; background: #fafafa; }
header { padding: 0.5em 1em; background: #264653; color: #fff; }
header h1 { margin: 0.2em 0; font-size: 1.4em; }
#page { display: flex; align-items: flex-start; }
main { flex: 1 1 auto; padding: 0 1em 2em 1em; min-width: 0; }
aside { flex: 0 0 34em; position: sticky; top: 0; max-height: 100vh; overflow: auto;
        padding: 0 1em; background: #fff; border-left: 1px solid #ccc; font-size: 0.9em; }
section { margin-top: 1em; }
h2 { border-bottom: 1px solid #ccc; }
pre { font-size: 0.8em; overflow-x: auto; background: #fff; padding: 0.5em; }
.layer, .kernel-layer, .input { margin: 0.8em 0; padding: 0.4em; background: #fff; border: 1px solid #e4e4e4; }
.layer h3, .kernel-layer h3, .input h3 { margin: 0 0 0.3em 0; font-size: 1em; }
.note { color: #8a4b00; margin: 0.2em 0; font-size: 0.9em; }
.maps { display: flex; flex-wrap: wrap; gap: 6px; }
figure { margin: 0; text-align: center; font-size: 0.75em; color: #555; }
canvas { display: block; image-rendering: pixelated; cursor: crosshair; }
.kernel-row { display: flex; gap: 4px; align-items: center; margin: 2px 0; font-size: 0.75em; }
.kernel-row span { width: 6.5em; }
table.grid { border-collapse: collapse; font-family: monospace; font-size: 0.8em; margin: 0.2em 0.4em 0.2em 0; }
table.grid td { border: 1px solid #ddd; padding: 1px 3px; text-align: right; }
table.grid td.pad { color: #aaa; }
table.grid td.win { background: #ffe08a; font-weight: bold; }
table.grid caption { font-size: 0.85em; text-align: left; }
.grids { display: flex; flex-wrap: wrap; align-items: flex-start; }
.numbers div { font-family: monospace; margin: 0.15em 0; word-break: break-all; }
.prediction td { padding: 1px 6px; font-family: monospace; }
.prediction tr.top { font-weight: bold; background: #e9f5ee; }
.bar { display: inline-block; height: 0.8em; background: #2a9d8f; }
</style>
</head>
<body>
<header><h1 id="title"></h1><div id="about"></div></header>
<div id="page">
<main>
<section id="summary-section"><h2>Summary</h2><pre id="summary"></pre></section>
<section id="input-section"><h2>Input</h2><div id="inputs"></div></section>
<section id="layers-section"><h2>Feature maps</h2>
<p>Each layer's output for this input, one picture per channel (grayscale: no negative values, black is the
smallest; otherwise blue is negative, white zero, red positive). Click a cell to see how it was computed.</p>
<div id="layers"></div></section>
<section id="kernels-section"><h2>Kernels</h2><div id="kernels"></div></section>
<section id="prediction-section"><h2>Prediction</h2><div id="prediction" class="prediction"></div></section>
</main>
<aside id="detail" data-layer="" data-index="">
<h2>How this value was computed</h2>
<div id="detail-body"><p>Click a cell of any feature map.</p></div>
</aside>
</div>
<script type="application/json" id="report-data">__DATA__</script>
<script>
"use strict";
const DATA = JSON.parse(document.getElementById("report-data").textContent);
const TYPES = {float32: Float32Array, float64: Float64Array, int32: Int32Array};

function decode(entry) {
  const text = atob(entry.b64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return new TYPES[entry.dtype](bytes.buffer);
}

function el(tag, attributes, text) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes || {})) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

const product = (list) => list.reduce((a, b) => a * b, 1);
const full = (x) => Number.isNaN(x) ? "none" : String(x);          // shortest round-trip text of the float64
const brief = (x) => Number.isNaN(x) ? "pad" : String(Number(x.toPrecision(4)));

// One map's cells on a canvas: a vector wraps in rows of 32, 1-D is a strip, 2-D a grid,
// 3-D (and deeper) its slices side by side with one empty column between them.
function layout(spatial, count) {
  if (spatial.length === 0) {
    const cols = Math.max(1, Math.min(count, 32));
    return {rows: Math.ceil(count / cols), cols: cols, pos: (i) => [i % cols, Math.floor(i / cols)],
            at: (x, y) => (x < cols && y * cols + x < count ? y * cols + x : -1)};
  }
  if (spatial.length === 1) {
    const n = spatial[0];
    return {rows: 1, cols: n, pos: (i) => [i, 0], at: (x, y) => (x < n && y === 0 ? x : -1)};
  }
  const H = spatial[spatial.length - 2], W = spatial[spatial.length - 1];
  const D = product(spatial.slice(0, -2));
  return {rows: H, cols: D * (W + 1) - 1,
          pos: (i) => { const d = Math.floor(i / (H * W)), r = i % (H * W); return [d * (W + 1) + r % W, Math.floor(r / W)]; },
          at: (x, y) => { const d = Math.floor(x / (W + 1)), w = x % (W + 1);
                          return (w === W || d >= D || y >= H) ? -1 : d * H * W + y * W + w; }};
}

function cellSize(grid) {
  const s = Math.max(2, Math.min(16, Math.floor(196 / Math.max(grid.rows, grid.cols))));
  return {sx: s, sy: grid.rows === 1 ? Math.max(s, 12) : s};
}

function colour(v, lo, hi) {
  if (!Number.isFinite(v)) return [255, 0, 255];
  if (lo >= 0) { const g = Math.round(255 * (hi > lo ? (v - lo) / (hi - lo) : 0)); return [g, g, g]; }
  const m = Math.max(-lo, hi) || 1, t = Math.max(-1, Math.min(1, v / m));
  return t < 0 ? [Math.round(255 * (1 + t)), Math.round(255 * (1 + t)), 255]
               : [255, Math.round(255 * (1 - t)), Math.round(255 * (1 - t))];
}

// Draw count cells, cell i coloured by pixel(i) -> [r, g, b]; boxes: [x0, y0, x1, y1] in cells, outlined.
function paint(canvas, grid, count, pixel, boxes) {
  const {sx, sy} = cellSize(grid);
  const small = el("canvas");
  small.width = grid.cols; small.height = grid.rows;
  const context = small.getContext("2d");
  const image = context.createImageData(grid.cols, grid.rows);
  image.data.fill(230);                   // light gray between 3-D slices; every pixel opaque
  for (let k = 3; k < image.data.length; k += 4) image.data[k] = 255;
  for (let i = 0; i < count; i++) {
    const [x, y] = grid.pos(i), rgb = pixel(i), k = 4 * (y * grid.cols + x);
    image.data[k] = rgb[0]; image.data[k + 1] = rgb[1]; image.data[k + 2] = rgb[2];
  }
  context.putImageData(image, 0, 0);
  canvas.width = grid.cols * sx; canvas.height = grid.rows * sy;
  canvas.style.width = canvas.width + "px"; canvas.style.height = canvas.height + "px";
  canvas.dataset.sx = sx; canvas.dataset.sy = sy;
  const target = canvas.getContext("2d");
  target.imageSmoothingEnabled = false;
  target.drawImage(small, 0, 0, canvas.width, canvas.height);
  for (const [x0, y0, x1, y1] of boxes || []) {
    target.fillStyle = "rgba(255, 200, 0, 0.25)";
    target.fillRect(x0 * sx, y0 * sy, (x1 - x0) * sx, (y1 - y0) * sy);
    target.strokeStyle = "#ffb000"; target.lineWidth = 2;
    target.strokeRect(x0 * sx + 1, y0 * sy + 1, (x1 - x0) * sx - 2, (y1 - y0) * sy - 2);
  }
}

function mapPixel(values, offset, range) {
  return (i) => colour(values[offset + i], range[0], range[1]);
}

// --- the input ---------------------------------------------------------------------
const inputs = DATA.inputs.map((entry) => Object.assign({values: decode(entry.maps)}, entry));

// The cells of one input map inside ranges ([start, stop) per spatial axis), as boxes in canvas cells.
function fieldBoxes(entry, ranges) {
  if (!ranges) return [];
  const S = entry.spatial, clip = ranges.map(([a, b], k) => [Math.max(0, a), Math.min(S[k], b)]);
  if (clip.some(([a, b]) => b <= a)) return [];
  if (S.length === 1) return [[clip[0][0], 0, clip[0][1], 1]];
  if (S.length === 2) return [[clip[1][0], clip[0][0], clip[1][1], clip[0][1]]];
  const boxes = [], [H, W] = S.slice(-2), lead = clip.slice(0, -2);
  const depth = S.slice(0, -2);
  const walk = (k, flat) => {
    if (k === lead.length) {
      boxes.push([flat * (W + 1) + clip[clip.length - 1][0], clip[clip.length - 2][0],
                  flat * (W + 1) + clip[clip.length - 1][1], clip[clip.length - 2][1]]);
      return;
    }
    for (let d = lead[k][0]; d < lead[k][1]; d++) walk(k + 1, flat * depth[k] + d);
  };
  walk(0, 0);
  return boxes;
}

function drawInput(k, canvas, ranges, channel) {
  const entry = inputs[k], per = product(entry.spatial);
  const grid = layout(entry.spatial, entry.vector ? entry.shown : per);
  const [lo, hi] = entry.range, unit = lo >= 0 && hi <= 1;
  const level = (v) => Math.round(255 * (unit ? v : (hi > lo ? (v - lo) / (hi - lo) : 0)));
  let pixel;
  if (channel === undefined) {            // the picture: gray, or RGB from 3 channels
    pixel = entry.channels === 3
      ? (i) => [level(entry.values[i]), level(entry.values[per + i]), level(entry.values[2 * per + i])]
      : (i) => { const g = level(entry.values[i]); return [g, g, g]; };
  } else {
    pixel = mapPixel(entry.values, channel * per, entry.range);
  }
  paint(canvas, grid, entry.spatial.length ? per : entry.shown, pixel, fieldBoxes(entry, ranges));
}

const inputCanvases = [];
function renderInputs() {
  const holder = document.getElementById("inputs");
  inputs.forEach((entry, k) => {
    const box = el("div", {class: "input", id: "input-" + k});
    box.appendChild(el("h3", {}, `${entry.name}: shape (${entry.shape.join(", ")}), example 0`));
    const row = el("div", {class: "maps"});
    const channels = entry.image ? [undefined] : [...Array(entry.spatial.length ? entry.shown : 1).keys()];
    for (const c of channels) {
      const canvas = el("canvas", {class: "input-map", "data-input": k, "data-channel": c === undefined ? "picture" : c});
      drawInput(k, canvas, null, c);
      inputCanvases.push([canvas, k, c]);
      const figure = el("figure"); figure.appendChild(canvas);
      figure.appendChild(el("figcaption", {}, c === undefined ? (entry.channels === 3 ? "RGB" : "grayscale") : "channel " + c));
      row.appendChild(figure);
    }
    box.appendChild(row);
    if (entry.shown < entry.channels && !entry.image)
      box.appendChild(el("p", {class: "note"}, `summarized: the first ${entry.shown} of ${entry.channels} channels are drawn`));
    holder.appendChild(box);
  });
}

function highlightInputs(fields) {
  document.getElementById("inputs").dataset.receptiveField = JSON.stringify(fields);
  for (const [canvas, k, c] of inputCanvases) drawInput(k, canvas, fields ? fields[k] : null, c);
}

// --- the layers --------------------------------------------------------------------
const layers = DATA.layers.map((entry) => Object.assign({values: decode(entry.maps)}, entry));
let selected = null;

function drawLayerMap(L, canvas, channel, mark) {
  const per = L.vector ? 1 : product(L.spatial);
  const count = L.vector ? L.shown : per;
  const grid = layout(L.vector ? [] : L.spatial, count);
  const boxes = mark === undefined ? [] : [(([x, y]) => [x, y, x + 1, y + 1])(grid.pos(mark))];
  paint(canvas, grid, count, mapPixel(L.values, L.vector ? 0 : channel * per, L.range), boxes);
  canvas._grid = grid;
}

function renderLayers() {
  const holder = document.getElementById("layers");
  layers.forEach((L, li) => {
    const box = el("div", {class: "layer", id: "layer-" + li, "data-name": L.name});
    const activation = L.activation && L.activation !== "linear" ? `, activation ${L.activation}` : "";
    box.appendChild(el("h3", {}, `${L.name} (${L.kind}): output (${L.shape.join(", ")})${activation}`));
    for (const note of L.notes) box.appendChild(el("p", {class: "note"}, note));
    const row = el("div", {class: "maps"});
    const channels = L.vector ? (L.shown ? [0] : []) : [...Array(L.shown).keys()];
    for (const c of channels) {
      const canvas = el("canvas", {class: "map", "data-layer": li, "data-channel": L.vector ? -1 : c});
      drawLayerMap(L, canvas, c);
      canvas.addEventListener("click", onMapClick);
      const figure = el("figure"); figure.appendChild(canvas);
      figure.appendChild(el("figcaption", {}, L.vector ? `units 0..${L.shown - 1}` : "channel " + c));
      row.appendChild(figure);
    }
    box.appendChild(row);
    holder.appendChild(box);
  });
}

function onMapClick(event) {
  const canvas = event.currentTarget, L = layers[+canvas.dataset.layer];
  const box = canvas.getBoundingClientRect();
  const x = Math.floor((event.clientX - box.left) / +canvas.dataset.sx);
  const y = Math.floor((event.clientY - box.top) / +canvas.dataset.sy);
  const spot = canvas._grid.at(x, y);
  if (spot < 0) return;
  const channel = +canvas.dataset.channel;
  const cell = L.vector ? spot : channel * product(L.spatial) + spot;
  if (selected) drawLayerMap(selected[0], selected[1], selected[2]);
  drawLayerMap(L, canvas, channel, spot);
  selected = [L, canvas, channel];
  showCell(+canvas.dataset.layer, cell);
}

function indexOf(L, cell) {
  if (L.vector) return [cell];
  const per = product(L.spatial), channel = Math.floor(cell / per), where = [];
  let rest = cell % per;
  for (let k = L.spatial.length - 1; k >= 0; k--) { where.unshift(rest % L.spatial[k]); rest = Math.floor(rest / L.spatial[k]); }
  return L.channels_last ? [...where, channel] : [channel, ...where];
}

function unravel(flat, shape) {
  const out = [];
  for (let k = shape.length - 1; k >= 0; k--) { out.unshift(flat % shape[k]); flat = Math.floor(flat / shape[k]); }
  return out;
}

function cellsOf(L) {
  if (!L._cells) {
    const C = L.cells, out = {rules: C.rules};
    for (const key of ["patch", "kernels", "kernel_id", "pre_activation", "bias", "sum", "rule_id", "source", "mark", "field"])
      out[key] = decode(C[key]);
    out.size = C.patch.shape[1];            // 0 where the rule reads no patch (moved or copied values)
    L._cells = out;
  }
  return L._cells;
}

// Patch, kernel and products as tables: one set per channel for conv patches (spatial..., channels).
function gridTables(L, lists, mark) {
  const shape = L.cells.patch_shape, channelled = L.cells.patch_channels;
  const nch = channelled ? shape[shape.length - 1] : 1, spatial = channelled ? shape.slice(0, -1) : shape;
  const n = product(spatial);
  const cols = spatial.length >= 2 ? spatial[spatial.length - 1] : Math.max(1, Math.min(n, 16));
  const rows = Math.ceil(n / cols), shownRows = Math.min(rows, 16), shownCols = Math.min(cols, 16);
  const holder = el("div");
  const shownChannels = Math.min(nch, 8);
  for (let g = 0; g < shownChannels; g++) {
    const line = el("div", {class: "grids"});
    for (const [what, values] of lists) {
      const table = el("table", {class: "grid", "data-what": what, "data-channel": g});
      table.appendChild(el("caption", {}, nch > 1 ? `${what}, channel ${g}` : what));
      for (let r = 0; r < shownRows; r++) {
        const tr = el("tr");
        for (let c = 0; c < shownCols; c++) {
          const s = r * cols + c;
          if (s >= n) break;
          const i = s * nch + g, v = values[i];
          const td = el("td", {title: full(v)}, what === "patch" ? brief(v) : brief(v === undefined ? NaN : v));
          if (what === "patch" && Number.isNaN(v)) td.className = "pad";
          if (i === mark) td.className = "win";
          tr.appendChild(td);
        }
        table.appendChild(tr);
      }
      line.appendChild(table);
    }
    holder.appendChild(line);
  }
  if (shownChannels < nch || shownRows < rows || shownCols < cols)
    holder.appendChild(el("p", {class: "note"}, `tables show the first ${shownChannels} of ${nch} channel(s), ` +
      `${shownRows} of ${rows} rows and ${shownCols} of ${cols} columns; #d-products holds every product`));
  return holder;
}

function line(parent, id, label, text, attributes) {
  const row = el("div", Object.assign({id: id}, attributes || {}));
  row.appendChild(el("span", {}, label + " "));
  row.appendChild(el("span", {class: "number"}, text));
  parent.appendChild(row);
  return row;
}

function showCell(li, cell) {
  const L = layers[li], index = indexOf(L, cell), value = L.values[cell];
  const detail = document.getElementById("detail"), body = document.getElementById("detail-body");
  detail.dataset.layer = L.name; detail.dataset.index = JSON.stringify(index);
  body.textContent = "";
  body.appendChild(el("h3", {}, `${L.name} (${L.kind}) at (${index.join(", ")})`));
  const numbers = el("div", {class: "numbers"});
  if (cell >= L.traced_cells) {          // the traced cells are the first ones, channel-major
    body.appendChild(numbers);
    line(numbers, "d-value", "value =", full(value), {"data-value": full(value)});
    body.appendChild(el("p", {class: "note"}, L.notes.length ? L.notes.join("; ") : "this cell is not traced"));
    highlightInputs(null);
    return;
  }
  const T = cellsOf(L), P = T.size;
  const rule = T.rules[T.rule_id[cell]];
  body.appendChild(el("p", {id: "d-rule"}, rule));
  const patch = T.patch.slice(cell * P, cell * P + P), k = T.kernel_id[cell];
  const lists = P ? [["patch", patch]] : [];
  let products = null;
  if (k >= 0) {
    const kernel = T.kernels.slice(k * P, k * P + P);
    // the one arithmetic done here: NumPy's float64 element-wise product (padding cells hold 0)
    products = Array.from(patch, (v, i) => (Number.isNaN(v) ? 0 : v) * kernel[i]);
    lists.push(["kernel", kernel], ["products", products]);
  }
  if (P) body.appendChild(gridTables(L, lists, T.mark[cell]));
  body.appendChild(numbers);
  if (products) {
    line(numbers, "d-products", "products:", `${P} values (patch x kernel, element by element)`,
         {"data-products": JSON.stringify(products)});
  }
  const sum = T.sum[cell], bias = T.bias[cell], pre = T.pre_activation[cell];
  if (!Number.isNaN(sum)) line(numbers, "d-sum", "sum of products =", full(sum), {"data-sum": full(sum)});
  if (!Number.isNaN(bias)) line(numbers, "d-bias", "bias =", full(bias), {"data-bias": full(bias)});
  line(numbers, "d-pre", Number.isNaN(sum) ? "value the rule gives =" : "pre-activation = sum + bias =", full(pre),
       {"data-pre-activation": full(pre)});
  if (L.activation && L.activation !== "linear") numbers.appendChild(el("div", {id: "d-activation"}, `activation: ${L.activation}(pre-activation)`));
  line(numbers, "d-value", "value (the layer's output in the model's forward pass) =", full(value), {"data-value": full(value)});
  const [source, flat] = [T.source[2 * cell], T.source[2 * cell + 1]];
  if (source >= 0) {
    const where = unravel(flat, L.inputs[source]);
    line(numbers, "d-source", "read from:", `input ${source} of the layer, cell (${where.join(", ")})`,
         {"data-source": JSON.stringify([source, where])});
  } else if (L.cells.merge_sources) {
    line(numbers, "d-source", "read from:", "every input of the layer (patch: one cell of each)", {"data-source": "all"});
  }
  // receptive field: per model input, [start, stop) per spatial axis, or null
  const F = T.field, width = F.length / L.cells.count, fields = [];
  let column = 0;
  for (const entry of inputs) {
    const axes = entry.field_axes, ranges = [];
    for (let a = 0; a < axes; a++) ranges.push([F[cell * width + column + 2 * a], F[cell * width + column + 2 * a + 1]]);
    fields.push(axes && ranges[0][0] === -2147483648 ? null : ranges);
    column += 2 * axes;
  }
  const described = fields.map((ranges, k) => ranges === null ? `input ${k}: none`
    : `input ${k}: ` + (ranges.length ? ranges.map(([a, b]) => `${a}..${b - 1}`).join(" x ") : "no spatial axes"));
  line(numbers, "d-field", "receptive field (input cells, padding included):", described.join("; "),
       {"data-receptive-field": JSON.stringify(fields)});
  const picture = el("div", {class: "maps"});
  inputs.forEach((entry, k) => {
    const canvas = el("canvas", {id: "d-input-" + k});
    drawInput(k, canvas, fields[k], entry.image ? undefined : 0);
    picture.appendChild(canvas);
  });
  body.appendChild(picture);
  highlightInputs(fields);
}

// --- kernels and prediction ---------------------------------------------------------
function renderKernels() {
  const holder = document.getElementById("kernels");
  let any = false;
  layers.forEach((L, li) => {
    if (!L.kernel_grid) return;
    any = true;
    // the grid is (rows, columns, *kernel_size); K.row_name and K.column_name say what they are
    const K = L.kernel_grid, values = decode(K.kernels), [filters, channels, ...spatial] = K.kernels.shape;
    const box = el("div", {class: "kernel-layer", id: "kernels-" + li});
    box.appendChild(el("h3", {}, `${L.name} (${L.kind}): kernels ${spatial.join("x")}`));
    if (K.note) box.appendChild(el("p", {class: "note"}, K.note));
    let m = 0;
    for (const v of values) m = Math.max(m, Math.abs(v));
    const per = product(spatial), grid = layout(spatial, per);
    for (let f = 0; f < filters; f++) {
      const row = el("div", {class: "kernel-row"});
      row.appendChild(el("span", {}, `${K.row_name} ${f}`));
      for (let c = 0; c < channels; c++) {
        const canvas = el("canvas", {class: "kernel", "data-layer": li, "data-filter": f, "data-channel": c,
                                     title: `${K.row_name} ${f}, ${K.column_name} ${c}`});
        paint(canvas, grid, per, mapPixel(values, (f * channels + c) * per, [-m, m]));
        row.appendChild(canvas);
      }
      box.appendChild(row);
    }
    holder.appendChild(box);
  });
  if (!any) holder.appendChild(el("p", {}, "This model has no convolution layer."));
}

function renderPrediction() {
  const holder = document.getElementById("prediction");
  for (const output of DATA.prediction) {
    const values = decode(output.values);
    holder.appendChild(el("h3", {}, `${output.name}: ${output.what}`));
    if (!output.vector) {
      holder.appendChild(el("p", {}, `The output has shape (${output.shape.join(", ")}): see the last layer's maps.`));
      continue;
    }
    let top = 0, m = 0;
    values.forEach((v, i) => { if (v > values[top]) top = i; m = Math.max(m, Math.abs(v)); });
    holder.appendChild(el("p", {id: "predicted"}, `predicted class: ${top}`));
    const table = el("table", {class: "prediction-table"});
    table.appendChild(el("tr")).append(el("th", {}, "class"), el("th", {}, "value"), el("th"));
    values.forEach((v, i) => {
      const tr = el("tr", {"data-class": i, "data-value": full(v), class: i === top ? "top" : ""});
      const bar = el("span", {class: "bar"});
      bar.style.width = (m ? Math.round(200 * Math.abs(v) / m) : 0) + "px";
      const cell = el("td"); cell.appendChild(bar);
      tr.append(el("td", {}, String(i)), el("td", {}, full(v)), cell);
      table.appendChild(tr);
    });
    holder.appendChild(table);
    if (output.size > values.length) holder.appendChild(el("p", {class: "note"}, `the first ${values.length} of ${output.size} values are shown`));
  }
}

document.getElementById("title").textContent = DATA.title;
document.getElementById("about").textContent =
  `model ${DATA.model}; built in ${DATA.seconds} s. Large layers are summarized: at most ${DATA.bounds.max_channels} ` +
  `channels (${DATA.bounds.max_units} units) per layer are drawn, and at most ${DATA.bounds.trace_budget.toLocaleString("en")} ` +
  `traced numbers are embedded; each layer says what it leaves out.`;
document.getElementById("summary").textContent = DATA.summary;
renderInputs();
renderLayers();
renderKernels();
renderPrediction();
</script>
</body>
</html>
"""
