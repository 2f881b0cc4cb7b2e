"""The tape: every Tensor operation against finite differences, and graph shapes
(shared weights, merging branches, reuse) that a tape can get wrong."""

import numpy as np
import pytest

from clearconv import Tensor, no_grad
from gradcheck import numerical_vjp

rng = np.random.default_rng(0)


def tape_grads(function, arrays):
    """Gradients of sum(function(*tensors) * w) for a fixed random w, through the tape."""
    tensors = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    out = function(*tensors)
    weight = np.random.default_rng(1).standard_normal(out.shape)
    (out * weight).sum().backward()
    return [t.grad for t in tensors], weight


def check(function, *arrays):
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    grads, weight = tape_grads(function, arrays)

    def forward(*plain):
        return function(*[Tensor(p) for p in plain]).data
    for index, grad in enumerate(grads):
        expected = numerical_vjp(forward, [a.copy() for a in arrays], weight, index)
        np.testing.assert_allclose(grad, expected, rtol=1e-6, atol=1e-8, err_msg=f"input {index}")


@pytest.mark.parametrize("name, function", [
    ("add broadcast", lambda a, b: a + b),
    ("sub broadcast", lambda a, b: a - b),
    ("mul broadcast", lambda a, b: a * b),
    ("div broadcast", lambda a, b: a / (b * b + 1.0)),
    ("rsub/rdiv", lambda a, b: 2.0 - a / (3.0 + b * b)),
])
def test_binary_ops_with_broadcasting(name, function):
    check(function, rng.standard_normal((3, 4, 5)), rng.standard_normal((4, 1)))


@pytest.mark.parametrize("name, function", [
    ("neg", lambda a: -a),
    ("pow", lambda a: a ** 3),
    ("abs", lambda a: abs(a)),
    ("exp", lambda a: a.exp()),
    ("log", lambda a: (a * a + 1.0).log()),
    ("sqrt", lambda a: (a * a + 1.0).sqrt()),
    ("sum axis", lambda a: a.sum(axis=1)),
    ("sum keepdims", lambda a: a.sum(axis=(0, 2), keepdims=True)),
    ("mean", lambda a: a.mean(axis=2)),
    ("reshape", lambda a: a.reshape(6, 5) * 2.0),
    ("transpose", lambda a: a.transpose(2, 0, 1)),
    ("getitem", lambda a: a[1:, ::2] * 3.0),
])
def test_unary_ops(name, function):
    check(function, rng.standard_normal((2, 3, 5)))


def test_matmul_batched_and_plain():
    check(lambda a, b: a @ b, rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 5)))
    check(lambda a, b: a @ b, rng.standard_normal((3, 4)), rng.standard_normal((4, 2)))


def test_shared_weight_used_twice_gets_both_gradients():
    # f(w) = sum((x @ w) @ w): d/dw has one term per use of w.
    x = rng.standard_normal((2, 3))
    w_value = rng.standard_normal((3, 3))
    w = Tensor(w_value, requires_grad=True)
    ((Tensor(x) @ w) @ w).sum().backward()
    ones = np.ones((2, 3))
    expected = x.T @ (ones @ w_value.T) + (x @ w_value).T @ ones
    np.testing.assert_allclose(w.grad, expected, rtol=1e-12)


def test_branches_that_merge():
    # y = a*b + a*a: dy/da = b + 2a, evaluated once through a diamond-shaped graph.
    a_value, b_value = rng.standard_normal(4), rng.standard_normal(4)
    a, b = Tensor(a_value, requires_grad=True), Tensor(b_value, requires_grad=True)
    (a * b + a * a).sum().backward()
    np.testing.assert_allclose(a.grad, b_value + 2 * a_value)
    np.testing.assert_allclose(b.grad, a_value)


def test_leaf_gradients_accumulate_until_cleared():
    a = Tensor(np.ones(3), requires_grad=True)
    (a * 2.0).sum().backward()
    (a * 3.0).sum().backward()
    np.testing.assert_allclose(a.grad, np.full(3, 5.0))
    a.grad = None
    (a * 1.0).sum().backward()
    np.testing.assert_allclose(a.grad, np.ones(3))


def test_leaf_gradients_never_alias_the_seed_or_each_other():
    # A leaf may keep a vjp's fresh array instead of a copy; never one that someone else holds.
    from clearconv.autograd import record
    seed = np.ones(3)
    a, b = Tensor(np.zeros(3), requires_grad=True), Tensor(np.zeros(3), requires_grad=True)
    (a + b).backward(seed)                        # add's vjp hands the seed itself to both parents
    c, d = Tensor(np.zeros(3), requires_grad=True), Tensor(np.zeros(3), requires_grad=True)
    shared = np.full(3, 2.0)
    record(np.zeros(3), (c, d), lambda g: (shared, shared)).backward(seed)  # one fresh array, two parents
    leaf = Tensor(np.zeros(3), requires_grad=True)
    leaf.backward(seed)                           # the seed reaches a leaf directly
    grads = [a.grad, b.grad, c.grad, d.grad, leaf.grad]
    for i, grad in enumerate(grads):
        assert not np.shares_memory(grad, seed) and not np.shares_memory(grad, shared)
        assert not any(np.shares_memory(grad, other) for other in grads[i + 1:])
    a.grad *= 0                                   # an in-place change of one gradient touches nothing else
    np.testing.assert_array_equal(b.grad, np.ones(3))
    np.testing.assert_array_equal(seed, np.ones(3))


def test_a_leaf_keeps_the_fresh_gradient_its_op_built():
    from clearconv.autograd import record
    built = []
    x = Tensor(np.zeros(3), requires_grad=True)
    out = record(np.zeros(3), (x,), lambda g: (built.append(g * 2) or built[-1],))
    out.backward(np.ones(3))
    assert x.grad is built[0]
    np.testing.assert_array_equal(x.grad, np.full(3, 2.0))


def test_no_grad_records_nothing():
    a = Tensor(np.ones(3), requires_grad=True)
    with no_grad():
        out = a * 2.0
    assert not out.requires_grad and out._vjp is None


def test_backward_of_non_scalar_needs_grad():
    a = Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(ValueError, match="non-scalar"):
        (a * 2.0).backward()


def test_ndarray_on_the_left_defers_to_tensor():
    a = Tensor(np.arange(3.0), requires_grad=True)
    out = np.full(3, 2.0) * a
    assert isinstance(out, Tensor)
    out.sum().backward()
    np.testing.assert_allclose(a.grad, np.full(3, 2.0))


def test_float32_stays_float32():
    a = Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    out = (a * 2.0 + 1.0) / 3.0
    assert out.dtype == np.float32
    out.sum().backward()
    assert a.grad.dtype == np.float32


def test_getitem_with_a_repeated_index_array_sums_the_gradient():
    """x[[0, 0, 2]].sum(): cell 0 is read twice, so its gradient is 2 (as torch's index backward)."""
    x = Tensor(np.arange(4.0), requires_grad=True)
    x[np.array([0, 0, 2])].sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 0.0, 1.0, 0.0])


@pytest.mark.parametrize("index", [
    [0, 0, 1],                                   # the case: cell 0 read twice
    (np.array([2, 0, 2, 2]), slice(None)),       # repeated rows, basic slice beside them
    (slice(1, None), [1, 1, 0]),                 # advanced index after a basic slice
    ([0, 0, 2], [1, 1, 3]),                      # the same cell (0, 1) twice through paired arrays
    np.array([[True, False, True, False], [False] * 4, [True] * 4]),  # a boolean mask
    (1, slice(None, None, 2)),                   # basic indexing only: the assignment path
])
def test_getitem_gradient_matches_torch(index):
    """x[index] * w summed: every read of a cell adds its weight to that cell's gradient, as torch does."""
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(2).standard_normal((3, 4))
    ours = Tensor(x.copy(), requires_grad=True)
    picked = ours[index]
    weight = np.random.default_rng(3).standard_normal(picked.shape)
    (picked * weight).sum().backward()

    reference = torch.tensor(x, requires_grad=True)
    torch_index = tuple(torch.as_tensor(part) if isinstance(part, (list, np.ndarray)) else part
                        for part in (index if isinstance(index, tuple) else (index,)))
    (reference[torch_index] * torch.from_numpy(weight)).sum().backward()
    np.testing.assert_array_equal(picked.data, reference[torch_index].detach().numpy())
    np.testing.assert_allclose(ours.grad, reference.grad.numpy(), rtol=1e-15, atol=0)


def test_no_grad_in_one_thread_leaves_taping_on_in_another():
    """A thread inside ``no_grad`` must not switch recording off for the others (torch's grad mode is per thread)."""
    import threading

    from clearconv.autograd import is_grad_enabled
    inside, done = threading.Event(), threading.Event()
    seen_inside = []

    def infer():
        with no_grad():
            seen_inside.append(is_grad_enabled())
            inside.set()
            done.wait(timeout=10)

    worker = threading.Thread(target=infer)
    worker.start()
    try:
        assert inside.wait(timeout=10)
        a = Tensor(np.ones(3), requires_grad=True)
        out = a * 2.0
        enabled_here = is_grad_enabled()
    finally:
        done.set()
        worker.join(timeout=10)
    assert seen_inside == [False]
    assert enabled_here and out.requires_grad and out._vjp is not None
    out.sum().backward()
    np.testing.assert_array_equal(a.grad, np.full(3, 2.0))


def test_a_new_thread_starts_with_taping_on_even_inside_no_grad():
    """Grad mode is not inherited by a thread started inside ``no_grad`` (as in torch)."""
    import threading

    from clearconv.autograd import is_grad_enabled
    seen = []
    with no_grad():
        worker = threading.Thread(target=lambda: seen.append(is_grad_enabled()))
        worker.start()
        worker.join(timeout=10)
        assert not is_grad_enabled()
    assert seen == [True] and is_grad_enabled()


def _conv_dense_loss_grads(backward_in):
    """Gradients of a conv + conv + dense graph under an ops-built loss, recorded with taping on and
    differentiated by ``backward_in(loss)`` (which may switch taping off or change thread first)."""
    import clearconv
    from clearconv import layers as L
    data = np.random.default_rng(2)
    x = Tensor(data.standard_normal((2, 5, 5, 2)), requires_grad=True)
    conv1 = L.Conv2D(3, 3, padding="same", activation="relu", dtype="float64")
    conv2 = L.Conv2DTranspose(2, 2, strides=2, dtype="float64")
    dense = L.Dense(4, dtype="float64")
    layers = (conv1, conv2, dense)
    for layer, shape in zip(layers, [(2, 5, 5, 2), (2, 5, 5, 3), (2, 200)]):
        layer.build(shape)
        layer.set_weights([data.standard_normal(w.shape) * 0.3 for w in layer.weights])
    loss_fn = clearconv.losses.SparseCategoricalCrossentropy(from_logits=True)
    logits = dense(conv2(conv1(x)).reshape(2, 200))
    loss = loss_fn(np.array([1, 3]), logits)
    backward_in(loss)
    return [x.grad] + [w.grad for layer in layers for w in layer.weights]


def _backward_in_thread(loss, taping):
    import threading

    def run():
        if taping:
            loss.backward()
        else:
            with no_grad():
                loss.backward()
    worker = threading.Thread(target=run)
    worker.start()
    worker.join(timeout=30)


@pytest.mark.parametrize("where", ["inside no_grad", "in another thread", "in another thread inside no_grad"])
def test_backward_gradients_do_not_depend_on_the_grad_mode_at_backward_time(where):
    """Whether an input takes a gradient is decided when the op is recorded (as in torch): calling
    ``backward()`` with taping off, here or in another thread, gives the same gradients."""
    def inside_no_grad(loss):
        with no_grad():
            loss.backward()
    backward_in = {"inside no_grad": inside_no_grad,
                   "in another thread": lambda loss: _backward_in_thread(loss, taping=True),
                   "in another thread inside no_grad": lambda loss: _backward_in_thread(loss, taping=False)}[where]
    expected = _conv_dense_loss_grads(lambda loss: loss.backward())
    actual = _conv_dense_loss_grads(backward_in)
    assert all(g is not None for g in expected)
    for index, (want, got) in enumerate(zip(expected, actual)):
        assert got is not None, f"gradient {index} is missing"
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14, err_msg=f"gradient {index}")


def test_backward_gradient_of_the_conv_graph_input_matches_finite_differences():
    """The reference of the test above: the input gradient of the same graph by central differences."""
    import clearconv
    from clearconv import layers as L
    data = np.random.default_rng(2)
    x = data.standard_normal((2, 5, 5, 2))
    conv1 = L.Conv2D(3, 3, padding="same", activation="tanh", dtype="float64")
    conv2 = L.Conv2DTranspose(2, 2, strides=2, dtype="float64")
    dense = L.Dense(4, dtype="float64")
    for layer, shape in zip((conv1, conv2, dense), [(2, 5, 5, 2), (2, 5, 5, 3), (2, 200)]):
        layer.build(shape)
        layer.set_weights([data.standard_normal(w.shape) * 0.3 for w in layer.weights])
    loss_fn = clearconv.losses.SparseCategoricalCrossentropy(from_logits=True)
    labels = np.array([1, 3])

    def forward(inputs):
        value = loss_fn(labels, dense(conv2(conv1(inputs)).reshape(2, 200)))
        return value.data if isinstance(value, Tensor) else np.asarray(value)
    tensor = Tensor(x.copy(), requires_grad=True)
    forward_tape = loss_fn(labels, dense(conv2(conv1(tensor)).reshape(2, 200)))
    with no_grad():
        forward_tape.backward()
    expected = numerical_vjp(forward, [x.copy()], np.ones(()), 0)
    np.testing.assert_allclose(tensor.grad, expected, rtol=1e-6, atol=1e-9)
