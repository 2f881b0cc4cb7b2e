"""shape_table: LeNet-5 against counts made by hand, and the receptive field against a perturbation oracle."""

import numpy as np
import pytest

from clearconv import layers as L
from clearconv import zoo
from clearconv.explain.shapes import format_shape_table, shape_table
from clearconv.models import Sequential


def test_lenet5_matches_hand_counts():
    rows = shape_table(zoo.lenet5())
    # 28x28x1 -> conv 6@5x5 same -> pool 2 -> conv 16@5x5 valid -> pool 2 -> flatten -> 120 -> 84 -> 10
    expected = [
        # class, output shape, params, MACs, receptive field, jump, start
        ("Conv2D", (None, 28, 28, 6), 5 * 5 * 1 * 6 + 6, 28 * 28 * 5 * 5 * 1 * 6, 5, 1, 2 - 2),
        ("MaxPooling2D", (None, 14, 14, 6), 0, 0, 5 + 1 * 1, 1 * 2, 0 + 0.5 * 1),
        ("Conv2D", (None, 10, 10, 16), 5 * 5 * 6 * 16 + 16, 10 * 10 * 5 * 5 * 6 * 16, 6 + 4 * 2, 2 * 1, 0.5 + 2 * 2),
        ("MaxPooling2D", (None, 5, 5, 16), 0, 0, 14 + 1 * 2, 2 * 2, 4.5 + 0.5 * 2),
        ("Flatten", (None, 400), 0, 0, 28, None, None),
        ("Dense", (None, 120), 400 * 120 + 120, 400 * 120, 28, None, None),
        ("Dense", (None, 84), 120 * 84 + 84, 120 * 84, 28, None, None),
        ("Dense", (None, 10), 84 * 10 + 10, 84 * 10, 28, None, None),
    ]
    assert len(rows) == len(expected)
    for row, (cls, shape, params, macs, field, jump, start) in zip(rows, expected):
        assert (row.cls, row.output_shape, row.params, row.macs) == (cls, shape, params, macs), row
        assert row.receptive_field == (field, field), row
        assert row.jump == (None if jump is None else (jump, jump)), row
        assert row.start == (None if start is None else (start, start)), row
    assert sum(row.params for row in rows) == 61_706           # the zoo docstring's count
    assert sum(row.macs for row in rows) == 117_600 + 240_000 + 48_000 + 10_080 + 840


def test_format_has_totals():
    text = format_shape_table(shape_table(zoo.lenet5()))
    last = text.splitlines()[-1]
    assert last.startswith("total") and "61,706" in last and "416,520" in last


def _random_stack():
    model = Sequential([
        L.Input(shape=(31, 29, 1)),
        L.Conv2D(2, 3, strides=2, padding="same"),
        L.Conv2D(2, (3, 2), dilation_rate=2),
        L.AveragePooling2D(2),
        L.ReLU(),
        L.Conv2D(1, 3, padding="same"),
    ])
    rng = np.random.default_rng(0)
    model.set_weights([rng.uniform(0.5, 1.5, w.shape).astype(np.float32) for w in model.get_weights()])
    return model


def test_receptive_field_matches_perturbation_oracle():
    model = _random_stack()
    row = shape_table(model)[-1]
    out_h, out_w = row.output_shape[1:3]
    centre = (out_h // 2, out_w // 2)
    x = np.random.default_rng(1).uniform(0.1, 1.0, (1, 31, 29, 1)).astype(np.float32)
    base = np.asarray(model(x))[0, centre[0], centre[1], 0]
    spans = []
    for axis in range(2):
        middle = row.start[axis] + centre[axis] * row.jump[axis]
        half = (row.receptive_field[axis] - 1) / 2
        spans.append((middle - half, middle + half))

    def changed(i, j):
        y = x.copy()
        y[0, i, j, 0] += 5.0
        return not np.isclose(np.asarray(model(y))[0, centre[0], centre[1], 0], base, rtol=0, atol=1e-5)

    inside = [[spans[0][0] <= i <= spans[0][1] and spans[1][0] <= j <= spans[1][1] for j in range(29)]
              for i in range(31)]
    for i in range(31):
        for j in range(29):
            if not inside[i][j]:
                assert not changed(i, j), (i, j)
    # the field is tight: its extreme cells (all positive weights, ReLU of a positive sum) do change the output
    mid_i, mid_j = round(sum(spans[0]) / 2), round(sum(spans[1]) / 2)
    for i, j in [(int(np.ceil(spans[0][0])), mid_j), (int(np.floor(spans[0][1])), mid_j),
                 (mid_i, int(np.ceil(spans[1][0]))), (mid_i, int(np.floor(spans[1][1])))]:
        assert 0 <= i < 31 and 0 <= j < 29
        assert changed(i, j), (i, j)


@pytest.mark.parametrize("name", sorted(zoo.MODELS))
def test_every_zoo_model_has_a_row_per_layer_and_the_model_totals(name):
    model = zoo.get(name)
    rows = shape_table(model)
    assert [row.name for row in rows] == [layer.name for layer in model.layers]
    assert sum(row.params for row in rows) == model.count_params()
