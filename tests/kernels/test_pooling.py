"""Fast N-d pooling against the direct-loop reference, finite differences and PyTorch."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from clearconv.kernels import pooling, shapes
from clearconv.kernels.conv.reference import avg_pool_reference, max_pool_reference
from gradcheck import assert_vjp_matches


def keras_pads(spatial, pool_size, strides, padding):
    """One (before, after) pair per spatial axis, as a Keras pooling layer pads."""
    return tuple(shapes.pool_padding(length, p, s, padding)
                 for length, p, s in zip(spatial, pool_size, strides))


def random_case(rank, pool, seed, batch=2, channels=3):
    """A seeded input whose every axis holds at least one window: (batch, *spatial, channels)."""
    rng = np.random.default_rng(seed)
    largest = {1: 8, 2: 6, 3: 4}[rank]
    spatial = tuple(int(rng.integers(pool, max(pool, largest) + 1)) for _ in range(rank))
    return rng.standard_normal((batch, *spatial, channels))


GRID = list(itertools.product((1, 2, 3), (1, 2, 3), (1, 2, 3), ("valid", "same")))


def grid_id(case):
    rank, pool, stride, padding = case
    return f"{rank}d-p{pool}-s{stride}-{padding}"


# --------------------------------------------------------------------------- forward vs reference

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", GRID, ids=grid_id)
def test_forward_matches_reference(case, dtype):
    rank, pool, stride, padding = case
    x = random_case(rank, pool, seed=GRID.index(case)).astype(dtype)
    pool_size, strides = (pool,) * rank, (stride,) * rank
    pads = keras_pads(x.shape[1:-1], pool_size, strides, padding)
    label = f"shape={x.shape} pool={pool_size} strides={strides} pads={pads} dtype={np.dtype(dtype)}"

    out_max = pooling.max_pool(x, pool_size, strides, pads)
    out_avg = pooling.avg_pool(x, pool_size, strides, pads)
    assert out_max.dtype == dtype and out_avg.dtype == dtype, label
    # max selects an input value: exact in any dtype
    np.testing.assert_array_equal(out_max, max_pool_reference(x, pool_size, strides, pads), err_msg=label)
    tolerance = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(out_avg, avg_pool_reference(x, pool_size, strides, pads),
                               rtol=tolerance, atol=tolerance, err_msg=label)


@pytest.mark.parametrize("pool_size, strides, pads", [
    ((3, 1), (1, 2), ((2, 0), (0, 0))),
    ((2, 3), (2, 1), ((0, 1), (1, 1))),
    ((1, 2, 3), (2, 1, 3), ((0, 0), (1, 0), (0, 2))),
])
def test_anisotropic_and_asymmetric_pads(pool_size, strides, pads):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, *((5,) * len(pool_size)), 2))
    np.testing.assert_array_equal(pooling.max_pool(x, pool_size, strides, pads),
                                  max_pool_reference(x, pool_size, strides, pads))
    np.testing.assert_allclose(pooling.avg_pool(x, pool_size, strides, pads),
                               avg_pool_reference(x, pool_size, strides, pads), rtol=1e-13)


def test_window_counts_by_hand():
    # axis 0: L=5, p=3, s=2, same -> pads (1, 1); windows cover padded [0,3), [2,5), [4,7),
    #         real cells are padded [1,6) -> counts 2, 3, 2
    # axis 1: L=4, p=2, s=1, same -> pads (0, 1); the last window overhangs -> 2, 2, 2, 1
    counts = pooling.window_counts((5, 4), (3, 2), (2, 1), ((1, 1), (0, 1)))
    np.testing.assert_array_equal(counts, np.outer([2, 3, 2], [2, 2, 2, 1]))


# --------------------------------------------------------------------------- backward

BACKWARD_CASES = [
    # rank, pool, stride, padding: overlapping windows (stride < pool) included
    (1, 3, 1, "same"), (1, 2, 2, "valid"), (1, 3, 2, "same"),
    (2, 2, 1, "valid"), (2, 3, 2, "same"), (2, 2, 3, "same"),
    (3, 2, 1, "same"), (3, 3, 2, "valid"),
]


@pytest.mark.parametrize("case", BACKWARD_CASES, ids=grid_id)
def test_max_pool_backward_finite_differences(case):
    rank, pool, stride, padding = case
    x = random_case(rank, pool, seed=7, batch=1, channels=2)
    pool_size, strides = (pool,) * rank, (stride,) * rank
    pads = keras_pads(x.shape[1:-1], pool_size, strides, padding)

    def forward(x):
        return pooling.max_pool(x, pool_size, strides, pads)

    def backward(grad, x):
        return (pooling.max_pool_backward(grad, x, forward(x), pool_size, strides, pads),)

    assert_vjp_matches(forward, backward, [x], label=f"{case} shape={x.shape} pads={pads}")


@pytest.mark.parametrize("case", BACKWARD_CASES, ids=grid_id)
def test_avg_pool_backward_finite_differences(case):
    rank, pool, stride, padding = case
    x = random_case(rank, pool, seed=8, batch=1, channels=2)
    pool_size, strides = (pool,) * rank, (stride,) * rank
    pads = keras_pads(x.shape[1:-1], pool_size, strides, padding)

    def forward(x):
        return pooling.avg_pool(x, pool_size, strides, pads)

    def backward(grad, x):
        return (pooling.avg_pool_backward(grad, x.shape, pool_size, strides, pads),)

    assert_vjp_matches(forward, backward, [x], label=f"{case} shape={x.shape} pads={pads}")


def test_max_pool_backward_first_max_wins_overlapping():
    # x = [1, 3, 3, 2], pool 2, stride 1: windows [1,3], [3,3], [3,2] all have max 3.
    # window 0 -> cell 1; window 1 ties, the first cell (1) wins; window 2 -> cell 2.
    x = np.array([1.0, 3.0, 3.0, 2.0]).reshape(1, 4, 1)
    grad = np.array([10.0, 200.0, 3000.0]).reshape(1, 3, 1)
    out = pooling.max_pool(x, (2,), (1,), ((0, 0),))
    dx = pooling.max_pool_backward(grad, x, out, (2,), (1,), ((0, 0),))
    np.testing.assert_array_equal(dx.ravel(), [0, 210, 3000, 0])


def test_max_pool_backward_all_neg_inf_skips_padding():
    # Every window's max is -inf, tying with the padding; like PyTorch, the gradient
    # goes to the first real cell. pool 3, stride 1, pads (1,1), grad [1,2,3,4]:
    # window 0 -> cell 0, window 1 -> cell 0, window 2 -> cell 1, window 3 -> cell 2.
    x = np.full((1, 4, 1), -np.inf)
    grad = np.array([1.0, 2.0, 3.0, 4.0]).reshape(1, 4, 1)
    out = pooling.max_pool(x, (3,), (1,), ((1, 1),))
    dx = pooling.max_pool_backward(grad, x, out, (3,), (1,), ((1, 1),))
    np.testing.assert_array_equal(dx.ravel(), [3, 3, 4, 0])


@pytest.mark.parametrize("pool, stride, padding", [(2, 1, "valid"), (3, 1, "same"), (3, 2, "same"), (2, 2, "valid")])
def test_max_pool_backward_ties_match_torch(pool, stride, padding):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(9)
    x = rng.integers(0, 3, size=(2, 5, 7, 2)).astype(np.float64)  # many ties
    pads = keras_pads(x.shape[1:-1], (pool, pool), (stride, stride), padding)
    assert all(before == after for before, after in pads)  # torch pads symmetrically only
    out = pooling.max_pool(x, (pool, pool), (stride, stride), pads)
    grad = rng.standard_normal(out.shape)
    dx = pooling.max_pool_backward(grad, x, out, (pool, pool), (stride, stride), pads)

    tx = torch.tensor(np.moveaxis(x, -1, 1), requires_grad=True)  # (N, C, H, W)
    ty = torch.nn.functional.max_pool2d(tx, pool, stride, padding=pads[0][0])
    ty.backward(torch.from_numpy(np.moveaxis(grad, -1, 1).copy()))
    np.testing.assert_array_equal(out, np.moveaxis(ty.detach().numpy(), 1, -1))
    np.testing.assert_allclose(dx, np.moveaxis(tx.grad.numpy(), 1, -1), rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------- NaN

def test_max_pool_nan_gradient_reaches_only_the_winner():
    # windows [4, 1] and [2, 8] (pool 2, stride 2); a NaN gradient for window 0 lands on
    # its max cell 0 and nowhere else, as in PyTorch.
    x = np.array([4.0, 1.0, 2.0, 8.0]).reshape(1, 4, 1)
    out = pooling.max_pool(x, (2,), (2,), ((0, 0),))
    grad = np.array([np.nan, 5.0]).reshape(1, 2, 1)
    dx = pooling.max_pool_backward(grad, x, out, (2,), (2,), ((0, 0),))
    np.testing.assert_array_equal(dx.ravel(), [np.nan, 0, 0, 5])


def test_max_pool_nan_window_beside_an_ordinary_one_keeps_both_gradients():
    # windows [4, nan] and [2, 8] (pool 2, stride 2, no overlap): the NaN window's gradient goes to
    # its NaN (cell 1), the other's to its max (cell 3); routing one must not erase the other.
    x = np.array([4.0, np.nan, 2.0, 8.0]).reshape(1, 4, 1)
    out = pooling.max_pool(x, (2,), (2,), ((0, 0),))
    grad = np.array([1.0, 5.0]).reshape(1, 2, 1)
    dx = pooling.max_pool_backward(grad, x, out, (2,), (2,), ((0, 0),))
    np.testing.assert_array_equal(dx.ravel(), [0, 1, 0, 5])


def test_max_pool_nan_propagates_forward_and_backward():
    # pool 3, stride 1 on [1, nan, 3, nan, 2]: every window holds a NaN.
    # Backward: each window's LAST NaN wins, as in PyTorch: window [1,nan,3] -> cell 1,
    # [nan,3,nan] -> cell 3, [3,nan,2] -> cell 3, so dx = [0, 1, 0, 2, 0].
    x = np.array([1.0, np.nan, 3.0, np.nan, 2.0]).reshape(1, 5, 1)
    out = pooling.max_pool(x, (3,), (1,), ((0, 0),))
    assert np.isnan(out).all()
    dx = pooling.max_pool_backward(np.ones_like(out), x, out, (3,), (1,), ((0, 0),))
    np.testing.assert_array_equal(dx.ravel(), [0, 1, 0, 2, 0])


def test_max_pool_nan_backward_2d_last_nan_in_row_major_order():
    # one (2, 3) window over [[nan, 3, nan], [1, nan, 2]]: PyTorch routes to (1, 1)
    x = np.array([[np.nan, 3.0, np.nan], [1.0, np.nan, 2.0]]).reshape(1, 2, 3, 1)
    out = pooling.max_pool(x, (2, 3), (1, 1), ((0, 0), (0, 0)))
    dx = pooling.max_pool_backward(np.ones_like(out), x, out, (2, 3), (1, 1), ((0, 0), (0, 0)))
    np.testing.assert_array_equal(dx[0, :, :, 0], [[0, 0, 0], [0, 1, 0]])


def test_max_pool_nan_stays_in_its_windows():
    x = np.arange(16.0).reshape(1, 4, 4, 1)
    x[0, 0, 0, 0] = np.nan
    out = pooling.max_pool(x, (2, 2), (2, 2), ((0, 0), (0, 0)))
    assert np.isnan(out[0, 0, 0, 0])
    np.testing.assert_array_equal(out[0, :, :, 0].ravel()[1:], [7, 13, 15])


# --------------------------------------------------------------------------- global pooling

@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_pooling_forward(rank, keepdims):
    x = np.random.default_rng(10).standard_normal((2, *((3,) * rank), 4))
    axes = tuple(range(1, rank + 1))
    expected_shape = (2, *((1,) * rank), 4) if keepdims else (2, 4)
    out_max = pooling.global_max_pool(x, keepdims)
    out_avg = pooling.global_avg_pool(x, keepdims)
    assert out_max.shape == out_avg.shape == expected_shape
    # one channel by hand: the max and the mean of all its spatial cells
    np.testing.assert_allclose(out_max.reshape(2, 4)[1, 2], x[1, ..., 2].max())
    np.testing.assert_allclose(out_avg.reshape(2, 4)[1, 2], x[1, ..., 2].sum() / 3**rank)
    np.testing.assert_allclose(out_avg.reshape(2, 4), x.mean(axis=axes))


@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_pooling_backward_finite_differences(rank, keepdims):
    x = np.random.default_rng(11).standard_normal((2, *((3,) * rank), 2))

    def forward_max(x):
        return pooling.global_max_pool(x, keepdims)

    def backward_max(grad, x):
        return (pooling.global_max_pool_backward(grad, x, forward_max(x), keepdims),)

    def forward_avg(x):
        return pooling.global_avg_pool(x, keepdims)

    def backward_avg(grad, x):
        return (pooling.global_avg_pool_backward(grad, x.shape, keepdims),)

    assert_vjp_matches(forward_max, backward_max, [x], label=f"global max rank={rank}")
    assert_vjp_matches(forward_avg, backward_avg, [x], label=f"global avg rank={rank}")


def test_global_max_backward_splits_ties():
    # channel 0 = [2, 5, 5, 1]: two cells tie for the max, each gets half of grad 6
    x = np.array([2.0, 5.0, 5.0, 1.0]).reshape(1, 4, 1)
    out = pooling.global_max_pool(x)
    dx = pooling.global_max_pool_backward(np.array([[6.0]]), x, out)
    np.testing.assert_array_equal(dx.ravel(), [0, 3, 3, 0])


def test_global_max_backward_ties_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(12)
    x = rng.integers(0, 3, size=(3, 4, 5, 2)).astype(np.float64)
    grad = rng.standard_normal((3, 2))
    dx = pooling.global_max_pool_backward(grad, x, pooling.global_max_pool(x))
    tx = torch.tensor(x, requires_grad=True)
    torch.amax(tx, dim=(1, 2)).backward(torch.from_numpy(grad))
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-12)


def test_global_max_nan():
    # A NaN max matches no cell; as in torch.amax its channel's gradient is NaN, the others are not.
    x = np.array([[1.0, 4.0], [np.nan, 2.0], [3.0, 0.0]]).reshape(1, 3, 2)
    out = pooling.global_max_pool(x)
    assert np.isnan(out[0, 0]) and out[0, 1] == 4
    dx = pooling.global_max_pool_backward(np.ones((1, 2)), x, out)
    assert np.isnan(dx[..., 0]).all()
    np.testing.assert_array_equal(dx[0, :, 1], [1, 0, 0])


# --------------------------------------------------------------------------- dtype

def test_float32_stays_float32():
    x = np.random.default_rng(13).standard_normal((2, 5, 5, 3)).astype(np.float32)
    pool_size, strides = (3, 3), (2, 2)
    pads = keras_pads(x.shape[1:-1], pool_size, strides, "same")
    out_max = pooling.max_pool(x, pool_size, strides, pads)
    out_avg = pooling.avg_pool(x, pool_size, strides, pads)
    grad = np.ones_like(out_max)
    results = [
        out_max, out_avg,
        pooling.max_pool_backward(grad, x, out_max, pool_size, strides, pads),
        pooling.avg_pool_backward(grad, x.shape, pool_size, strides, pads),
        pooling.global_max_pool(x), pooling.global_avg_pool(x),
        pooling.global_max_pool_backward(np.ones((2, 3), np.float32), x, pooling.global_max_pool(x)),
        pooling.global_avg_pool_backward(np.ones((2, 3), np.float32), x.shape),
    ]
    assert [r.dtype for r in results] == [np.float32] * len(results)


# --------------------------------------------------------------------------- empty batches

@pytest.fixture
def compiled_switch():
    """Set the compiled kernels on or off for one test, then restore the switch."""
    from clearconv.kernels import compiled
    before = compiled.enabled()
    yield compiled.set_enabled
    compiled.set_enabled(before)


EMPTY_CASES = [  # (spatial, channels, pool, stride, symmetric pad): compiled 2x2 and many-channel paths included
    ((6, 6), 8, 2, 2, 0),
    ((6, 6), 16, 3, 1, 1),
    ((7, 6), 3, 3, 2, 0),
    ((9,), 4, 3, 2, 1),
    ((4, 5, 4), 9, 2, 2, 1),
]


@pytest.mark.parametrize("compiled_on", [False, True])
@pytest.mark.parametrize("spatial, channels, pool, stride, pad", EMPTY_CASES)
def test_empty_batch_pools_as_torch(spatial, channels, pool, stride, pad, compiled_on, compiled_switch):
    """N = 0: outputs and gradients are empty arrays of torch's shapes, in x's dtype, with no warning."""
    torch = pytest.importorskip("torch")
    from clearconv.kernels import compiled
    if compiled_on and not compiled.AVAILABLE:
        pytest.skip("numba is not installed")
    compiled_switch(compiled_on)
    rank = len(spatial)
    x = np.zeros((0, *spatial, channels), np.float32)
    pool_size, strides, pads = (pool,) * rank, (stride,) * rank, ((pad, pad),) * rank
    with np.errstate(all="raise"):
        out_max, winners = pooling.max_pool(x, pool_size, strides, pads, return_winners=True)
        dx_max = pooling.max_pool_backward(np.zeros_like(out_max), x, out_max, pool_size, strides, pads, winners)
        out_avg = pooling.avg_pool(x, pool_size, strides, pads)
        dx_avg = pooling.avg_pool_backward(np.zeros_like(out_avg), x.shape, pool_size, strides, pads)

    functional = torch.nn.functional
    tx = torch.zeros((0, channels, *spatial), requires_grad=True)
    t_max = getattr(functional, f"max_pool{rank}d")(tx, pool, stride, pad)
    t_avg = getattr(functional, f"avg_pool{rank}d")(tx, pool, stride, pad, count_include_pad=False)
    (t_max.sum() + t_avg.sum()).backward()
    for ours, theirs in ((out_max, t_max), (out_avg, t_avg), (dx_max, tx.grad), (dx_avg, tx.grad)):
        assert ours.dtype == np.float32
        assert np.moveaxis(ours, -1, 1).shape == tuple(theirs.shape)


@pytest.mark.parametrize("keepdims", [False, True])
def test_empty_batch_global_pooling_as_torch(keepdims):
    torch = pytest.importorskip("torch")
    x = np.zeros((0, 5, 4, 3), np.float32)
    with np.errstate(all="raise"):
        out_max, out_avg = pooling.global_max_pool(x, keepdims), pooling.global_avg_pool(x, keepdims)
        dx_max = pooling.global_max_pool_backward(np.zeros_like(out_max), x, out_max, keepdims)
        dx_avg = pooling.global_avg_pool_backward(np.zeros_like(out_avg), x.shape, keepdims)
    tx = torch.zeros((0, 5, 4, 3), requires_grad=True)  # channels_last itself: reduce over axes 1 and 2
    t_max, t_avg = tx.amax(dim=(1, 2), keepdim=keepdims), tx.mean(dim=(1, 2), keepdim=keepdims)
    (t_max.sum() + t_avg.sum()).backward()
    assert out_max.shape == out_avg.shape == tuple(t_max.shape) == tuple(t_avg.shape)
    assert dx_max.shape == dx_avg.shape == tuple(tx.grad.shape)
    assert {a.dtype for a in (out_max, out_avg, dx_max, dx_avg)} == {np.dtype(np.float32)}
