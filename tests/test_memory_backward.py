"""``Tensor.backward(retain_graph=False)`` drops each op's record once its vjp has run: the same
gradients, the saved activations freed during the walk, and a clear error on a second walk."""

import tracemalloc

import numpy as np
import pytest

from clearconv import Tensor

SIZE, DEPTH = 64 * 1024, 6          # activations of 256 KiB (float32)


def chain(x: Tensor, weights: list) -> Tensor:
    """((x * w0) * w1) ... summed: every product an intermediate the tape holds."""
    h = x
    for w in weights:
        h = h * w
    return h.sum()


def make(seed=0):
    rng = np.random.default_rng(seed)
    x = Tensor(rng.standard_normal(SIZE).astype(np.float32), requires_grad=True)
    weights = [Tensor(rng.uniform(0.5, 1.5, SIZE).astype(np.float32), requires_grad=True) for _ in range(DEPTH)]
    return x, weights


def test_the_same_gradients_as_a_retained_graph():
    x, weights = make()
    chain(x, weights).backward()
    kept = [x.grad] + [w.grad for w in weights]
    x2, weights2 = make()
    chain(x2, weights2).backward(retain_graph=False)
    for got, want in zip([x2.grad] + [w.grad for w in weights2], kept):
        np.testing.assert_array_equal(got, want)
    # and the product rule by hand: d/dx = prod(w), d/dw0 = x * prod(w[1:])
    np.testing.assert_allclose(x2.grad, np.prod([w.data for w in weights2], axis=0), rtol=1e-5)
    np.testing.assert_allclose(weights2[0].grad, x2.data * np.prod([w.data for w in weights2[1:]], axis=0),
                               rtol=1e-5)


def test_the_activations_are_freed_during_the_walk():
    activation = SIZE * 4
    for retain in (True, False):
        x, weights = make()
        tracemalloc.start()
        try:
            loss = chain(x, weights)                     # DEPTH intermediates of one activation each
            before = tracemalloc.get_traced_memory()[0]
            loss.backward(retain_graph=retain)
            after = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
        grads = (DEPTH + 1) * activation                 # x.grad and every w.grad, kept by the leaves
        if retain:   # loss still holds the graph: every intermediate is alive next to the gradients
            assert after - before >= grads - activation
        else:        # the intermediates went: what remains is about the gradients minus the activations
            assert after - before <= grads - (DEPTH - 1) * activation + 64 * 2**10, (after - before) / activation


def test_a_second_walk_through_a_freed_graph_raises():
    x, weights = make()
    loss = chain(x, weights)
    loss.backward(retain_graph=False)
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        loss.backward()
