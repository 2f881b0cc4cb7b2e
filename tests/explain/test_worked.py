"""worked_example: the printed numbers are the trace's, the grids the kernel's shape, summaries over the limit."""

import re

import numpy as np
import pytest

from clearconv import layers as L
from clearconv.explain import trace
from clearconv.explain.worked import flipped_value, worked_example
from clearconv.models import Sequential


def _model(channels=2, kernel=3, padding="same"):
    model = Sequential([L.Conv2D(3, kernel, padding=padding, activation="relu", input_shape=(6, 6, channels)),
                        L.MaxPooling2D(), L.Flatten(), L.Dense(4)])
    rng = np.random.default_rng(0)
    model.layers[0].bias.assign(rng.normal(size=3).astype(np.float32))
    return model, rng.random((1, 6, 6, channels)).astype(np.float32)


def _number(text, prefix, line_start=True):
    match = re.search(("^" if line_start else "") + re.escape(prefix) + r"\s*(\S+)", text, re.M)
    assert match, prefix
    return float(match.group(1))


def _grid_rows(text, name):
    lines = text.splitlines()
    start = lines.index(f"  {name}:") + 1
    rows = []
    while start < len(lines) and lines[start].startswith("    ["):
        rows.append(lines[start].strip("[] ").split())
        start += 1
    return rows


def test_numbers_parse_back_and_grids_have_the_kernel_shape():
    model, x = _model()
    t = trace(model, x, model.layers[0].name, (0, 1, 2))
    text = worked_example(t)
    assert _number(text, "sum =") == float(np.sum(t.products))
    assert _number(text, "+ bias") == t.bias
    assert _number(text, "= pre-activation") == t.pre_activation
    assert _number(text, f"model output at {list(t.index)} =") == float(t.value)
    assert _number(text, f"relu({t.pre_activation!r}) =") == pytest.approx(float(t.value), abs=1e-6)
    for name in ("patch", "kernel", "products"):
        rows = _grid_rows(text, name)
        assert (len(rows), len(rows[0])) == t.kernel.shape[:2]
    assert text.count("input channel") == 2
    assert "pad" in _grid_rows(text, "patch")[0]           # row 0 reads the 'same' padding
    assert "cross-correlation" in text and "flipped" in text
    assert "(6 + 1 + 1 - 1*(3-1) - 1) // 1 + 1 = 6" in text


def test_flipped_value_is_an_independent_flip():
    model, x = _model()
    t = trace(model, x, model.layers[0].name, (2, 3, 1))
    expected = float((t.patch * np.flip(t.kernel, axis=(0, 1))).sum() + t.bias)
    assert flipped_value(t) == pytest.approx(expected, rel=1e-12, abs=1e-12)
    assert _number(worked_example(t), "flipped kernel) + bias =", line_start=False) == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_large_grids_and_many_channels_are_summarized():
    model, x = _model(channels=6, kernel=5)
    t = trace(model, x, model.layers[0].name, (2, 2, 0))
    text = worked_example(t, max_cells=9, max_channels=2)
    rows = _grid_rows(text, "kernel")
    assert len(rows) == 3 and rows[0][-1] == "..."
    assert "5 x 5 = 25 cells" in text and "4 more input channels" in text
    assert "25 cells" not in worked_example(t, max_cells=25)


def test_max_pooling_and_dense():
    model, x = _model()
    t = trace(model, x, model.layers[1].name, (1, 1, 0))
    text = worked_example(t)
    assert "window" in text and "winner" in text and _number(text, "model output at [1, 1, 0] =") == float(t.value)
    t = trace(model, x, model.layers[3].name, (2,))
    text = worked_example(t)
    assert _number(text, "= pre-activation") == t.pre_activation and "linear" in text
