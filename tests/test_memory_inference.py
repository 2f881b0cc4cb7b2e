"""A functional model's inference forward drops each activation once the last layer reading it has
run (Model.run_graph(release=True)): the same outputs, a peak of a few activations instead of all."""

import tracemalloc

import numpy as np

from clearconv import layers
from clearconv.models import Model

WIDTH, BATCH, DEPTH = 256, 256, 8


def dense_chain():
    inputs = layers.Input((WIDTH,))
    x = inputs
    for _ in range(DEPTH):
        x = layers.Dense(WIDTH, use_bias=False)(x)
    return Model(inputs, x)


def test_the_peak_holds_a_few_activations_not_all():
    model = dense_chain()
    x = np.random.default_rng(0).standard_normal((BATCH, WIDTH)).astype(np.float32)
    model(x, training=False)                                  # builds, and pays one-time costs
    activation = BATCH * WIDTH * 4                            # 256 KiB
    tracemalloc.start()
    try:
        y = model(x, training=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert y.shape == (BATCH, WIDTH)
    # at most a layer's input, its output and one temporary of that size alive, plus small change;
    # keeping every activation would hold DEPTH of them
    assert peak <= 3 * activation + 64 * 2**10, peak / activation
    values = model.run_graph(x, training=False)               # the default keeps every value
    assert sum(isinstance(v, np.ndarray) and v.shape == (BATCH, WIDTH) for v in values.values()) == DEPTH + 1


def test_release_gives_the_same_outputs_with_branches_and_an_inner_output():
    inputs = layers.Input((6, 6, 3))
    a = layers.Conv2D(4, 3, padding="same")(inputs)
    b = layers.ReLU()(a)
    c = layers.Conv2D(4, 3, padding="same")(b)
    d = layers.Add()([a, c])                                  # a is read twice, the second time late
    e = layers.GlobalAveragePooling2D()(d)
    model = Model(inputs, [b, e])                             # b is an output and an intermediate
    x = np.random.default_rng(1).standard_normal((5, 6, 6, 3)).astype(np.float32)
    got_b, got_e = model(x, training=False)
    every = model.run_graph(x, training=False)
    np.testing.assert_array_equal(got_b, every[id(b)])
    np.testing.assert_array_equal(got_e, every[id(e)])
    # the graph by hand: a + conv(relu(a)), averaged
    first, second = model.layers[1], model.layers[3]
    hand_a = first(x)
    hand = (hand_a + second(np.maximum(hand_a, 0))).mean(axis=(1, 2))
    np.testing.assert_allclose(got_e, hand, rtol=1e-6, atol=1e-6)
    released = model.run_graph(x, training=False, release=True)
    assert set(released) == {id(inputs), id(b), id(e)}
