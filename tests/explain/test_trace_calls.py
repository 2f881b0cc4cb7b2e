"""trace on shared layers and inside nested models: which call is explained, and the receptive field
followed out through the nested model's call, checked against direct computations and hand geometry."""

import numpy as np
import pytest

from clearconv import layers as L
from clearconv.explain import Tracer, trace
from clearconv.models import Model, Sequential


def _images(shape, seed):
    return np.random.default_rng(seed).standard_normal((2, *shape)).astype("float32")


@pytest.fixture(scope="module")
def siamese():
    """A siamese pair: one encoder model (3x3 'same' conv + relu) called on two inputs, then Subtract."""
    image = L.Input((8, 8, 1))
    encoder = Model(image, L.Conv2D(3, 3, padding="same", activation="relu", name="conv")(image), name="encoder")
    a, b = L.Input((8, 8, 1), name="a"), L.Input((8, 8, 1), name="b")
    model = Model([a, b], L.Subtract(name="difference")([encoder(a), encoder(b)]))
    return model, encoder, [_images((8, 8, 1), 1), _images((8, 8, 1), 2)]


def test_a_layer_called_twice_needs_call(siamese):
    model, _, xs = siamese
    with pytest.raises(ValueError, match=r"called 2 times .*call=0\.\.1"):
        trace(model, xs, "conv", (0, 0, 0))
    for bad in (2, -1, True, "0"):
        with pytest.raises(ValueError, match="call must be an integer from 0 to 1"):
            trace(model, xs, "conv", (0, 0, 0), call=bad)


@pytest.mark.parametrize("call", [0, 1])
def test_each_call_of_a_nested_model_is_its_own_input(siamese, call):
    model, encoder, xs = siamese
    i, j, f = 3, 7, 2
    t = trace(model, xs, "conv", (i, j, f), call=call)
    x = xs[call]
    # the value: the encoder run on this call's input, directly
    assert t.value == np.asarray(encoder(x))[0, i, j, f]
    assert (t.path, t.call, t.calls) == ("encoder/conv", call, 2)
    # the patch: the 3x3 window of this call's input around (i, j); column j + 1 = 8 is padding
    window = np.zeros((3, 3))
    for di in range(3):
        for dj in range(3):
            r, c = i - 1 + di, j - 1 + dj
            if 0 <= r < 8 and 0 <= c < 8:
                window[di, dj] = x[0, r, c, 0]
    np.testing.assert_array_equal(t.patch[..., 0], window)
    assert t.padding[:, 2, 0].all() and not t.padding[:, :2, 0].any()
    kernel = np.asarray(encoder.get_layer("conv").kernel.data, dtype=np.float64)[..., 0, f]
    bias = float(np.asarray(encoder.get_layer("conv").bias.data)[f])
    assert np.isclose(t.pre_activation, np.sum(window * kernel) + bias, rtol=1e-12)
    # the receptive field: this call's input only
    field = ((i - 1, i + 2), (j - 1, j + 2))
    assert t.receptive_field == ((field, None) if call == 0 else (None, field))


def test_the_merge_after_the_calls_reads_both_inputs(siamese):
    model, _, xs = siamese
    t = trace(model, xs, "difference", (2, 2, 1))
    assert t.receptive_field == (((1, 4), (1, 4)), ((1, 4), (1, 4)))
    assert t.value == np.asarray(model(xs))[0, 2, 2, 1]


def test_a_shared_layer_in_one_graph():
    a, b = L.Input((4,)), L.Input((4,))
    dense = L.Dense(3, name="shared")
    model = Model([a, b], L.Add()([dense(a), dense(b)]))
    xs = [_images((4,), 3), _images((4,), 4)]
    kernel, bias = (np.asarray(w, dtype=np.float64) for w in dense.get_weights())
    for call, x in enumerate(xs):
        t = trace(model, xs, dense, (1,), call=call)
        assert t.value == np.asarray(dense(x))[0, 1]
        assert np.isclose(t.pre_activation, x[0].astype(np.float64) @ kernel[:, 1] + bias[1], rtol=1e-12)
        assert (t.path, t.call, t.calls) == ("shared", call, 2)


@pytest.fixture(scope="module")
def nested():
    """pre (3x3) -> a nested Sequential [c1 (3x3, stride 2), c2 (3x3)] -> post (1x1)."""
    inner = Sequential([L.Input((10, 10, 2)), L.Conv2D(4, 3, strides=2, name="c1"), L.Conv2D(2, 3, name="c2")],
                       name="inner")
    inputs = L.Input((12, 12, 2))
    outputs = L.Conv2D(1, 1, name="post")(inner(L.Conv2D(2, 3, name="pre")(inputs)))
    model = Model(inputs, outputs)
    return model, inner, _images((12, 12, 2), 5)


@pytest.mark.parametrize("name", ["c2", "inner/c2"])
def test_a_layer_inside_a_nested_model(nested, name):
    model, inner, x = nested
    t = trace(model, x, name, (1, 1, 0))
    # the value: pre, c1 and c2 called one after the other on x
    y = model.get_layer("pre")(x)
    expected = inner.get_layer("c2")(inner.get_layer("c1")(y))
    assert t.value == np.asarray(expected)[0, 1, 1, 0]
    assert (t.path, t.call, t.calls) == ("inner/c2", 0, 1)
    # by hand: c2 cell 1 reads c1 cells 1..3, which read pre cells 2..8, which read input cells 2..10
    assert t.receptive_field == ((2, 11), (2, 11))


def test_the_receptive_field_passes_through_a_nested_model(nested):
    model, _, x = nested
    t = trace(model, x, "post", (1, 1, 0))
    assert t.receptive_field == ((2, 11), (2, 11))
    assert t.value == np.asarray(model(x))[0, 1, 1, 0]


def test_same_names_in_two_nested_models_need_a_path():
    def block(name):
        image = L.Input((6, 6, 1))
        return Model(image, L.Conv2D(1, 3, padding="same", name="conv")(image), name=name)
    inputs = L.Input((6, 6, 1))
    first, second = block("first"), block("second")
    model = Model(inputs, second(first(inputs)))
    x = _images((6, 6, 1), 6)
    with pytest.raises(ValueError, match="2 layers are named 'conv'.*'nested_model/conv'"):
        trace(model, x, "conv", (0, 0, 0))
    t = trace(model, x, "second/conv", (2, 2, 0))
    assert t.value == np.asarray(model(x))[0, 2, 2, 0]
    assert t.receptive_field == ((0, 5), (0, 5))       # two 3x3 'same' convs: 5x5 around (2, 2)
    with pytest.raises(ValueError, match="no layer named 'third/conv'"):
        trace(model, x, "third/conv", (0, 0, 0))


def test_a_tracer_runs_once_and_traces_many_values(nested, monkeypatch):
    model, inner, x = nested
    runs = []
    for graph in (model, inner):
        run_graph = graph.run_graph
        monkeypatch.setattr(graph, "run_graph", lambda *a, _run=run_graph, **k: runs.append(1) or _run(*a, **k))
    tracer = Tracer(model, x)
    np.testing.assert_array_equal(tracer.output("c1"), np.asarray(model.get_layer("inner").get_layer("c1")(
        model.get_layer("pre")(x)))[0])
    traces = [tracer.trace("c2", (0, 0, 0))]
    first = len(runs)               # the model's pass (which calls the nested model) and the nested model's own
    traces += [tracer.trace("c2", index) for index in [(1, 0, 1), (1, 1, 1)]]
    assert len(runs) == first == 3
    for t in traces:
        again = trace(model, x, "c2", t.index)
        assert (t.value, t.pre_activation, t.receptive_field) == (again.value, again.pre_activation,
                                                                  again.receptive_field)


def test_the_worked_example_names_the_call(siamese):
    from clearconv.explain.worked import worked_example
    model, _, xs = siamese
    text = worked_example(trace(model, xs, "conv", (1, 1, 0), call=1))
    assert text.splitlines()[0].startswith("layer encoder/conv (Conv2D, call 2 of 2), output index [1, 1, 0]")


def test_the_layout_of_layers_without_a_data_format():
    """An activation or BatchNormalization after a channels_first conv keeps channels first; a model input
    takes the layout of the first layer that has one, past an activation and into a nested model."""
    inner_input = L.Input((3, 6, 8))
    inner = Model(inner_input, L.Conv2D(2, 3, data_format="channels_first", name="conv")(
        L.Activation("relu", name="act")(inner_input)), name="inner")
    inputs = L.Input((3, 6, 8))
    relu = L.ReLU(name="relu")(inputs)
    y = L.BatchNormalization(axis=1, name="bn")(L.ReLU(name="after")(inner(relu)))
    model = Model(inputs, y)
    tracer = Tracer(model, _images((3, 6, 8), 7))
    for name in ("bn", "after", "inner/conv"):
        assert tracer.data_format(name) == "channels_first", name
    assert tracer.data_format(model.layers[0].name) == "channels_first"
    assert tracer.data_format("relu") == "channels_first"      # an input's layout, found inside `inner`
    assert tracer.data_format("inner/act") == "channels_first"
    np.testing.assert_array_equal(tracer.inputs("bn")[0], tracer.output("after"))
    np.testing.assert_array_equal(tracer.model_outputs()[0], np.asarray(model(_images((3, 6, 8), 7)))[0])
    # the receptive field of a channels_first model: rows and columns, not channels and rows
    assert trace(model, _images((3, 6, 8), 7), "bn", (1, 2, 3)).receptive_field == ((2, 5), (3, 6))
