"""The numba kernels (conv/im2col_compiled.py, conv/winograd_compiled.py, conv/output_compiled.py,
pooling_compiled.py, switched by clearconv.kernels.compiled) against the NumPy paths they replace.

Each scatter comparison is exact (assert_array_equal): the kernels add the
same float values in the same order per cell as NumPy does.
assert_array_equal treats 0.0 and -0.0 as equal, which the max-pool
comparison relies on (see pooling_compiled.max_pool_backward). The Winograd
transforms compute the same sums in another order, so they are held to the
Winograd module's error bound instead.
"""

from __future__ import annotations

import importlib
import itertools
import math
import sys

import numpy as np
import pytest

pytest.importorskip("numba", reason="numba is not installed (the `fast` extra): only the NumPy paths exist")

from clearconv.kernels import compiled, pooling, pooling_compiled, shapes  # noqa: E402
from clearconv.kernels.conv import im2col, im2col_compiled, output, output_compiled, winograd  # noqa: E402
from clearconv.kernels.conv import winograd_compiled  # noqa: E402
from clearconv.kernels.conv.reference import conv_reference  # noqa: E402
from clearconv.kernels.windows import window_slices  # noqa: E402


@pytest.fixture(autouse=True)
def restore_switch():
    """Leave the on/off switch as the test found it (CI may run the suite with CLEARCONV_COMPILED=0)."""
    before = compiled.enabled()
    yield
    compiled.set_enabled(before)


def numpy_path(function, *args, **kwargs):
    """Call a clearconv function with the compiled kernels switched off."""
    compiled.set_enabled(False)
    try:
        return function(*args, **kwargs)
    finally:
        compiled.set_enabled(True)


# --------------------------------------------------------------------------- switch

def test_switch_turns_the_kernels_off_and_on():
    compiled.set_enabled(False)
    assert not compiled.enabled()
    compiled.set_enabled(True)
    assert compiled.enabled() and compiled.AVAILABLE


@pytest.mark.parametrize("value, expected", [("0", False), ("1", True)])
def test_environment_variable_read_at_import(monkeypatch, value, expected):
    monkeypatch.setenv("CLEARCONV_COMPILED", value)
    try:
        assert importlib.reload(compiled).enabled() is expected
    finally:
        monkeypatch.undo()  # the environment as it was, then the module as that environment makes it
        importlib.reload(compiled)


def test_without_numba_nothing_is_enabled(monkeypatch):
    monkeypatch.setitem(sys.modules, "numba", None)  # makes `import numba` raise ImportError
    try:
        reloaded = importlib.reload(compiled)
        reloaded.set_enabled(True)
        assert not reloaded.AVAILABLE and not reloaded.enabled()
    finally:
        monkeypatch.undo()
        importlib.reload(compiled)


# --------------------------------------------------------------------------- col2im

def slice_add_col2im(contributions, padded_shape, kernel_size, strides, dilation):
    """The NumPy col2im of im2col.correlate_input_grad: one slice-add per tap, in row-major tap order."""
    batch, *out, _, channels = contributions.shape
    dxp = np.zeros((batch, *padded_shape, channels), dtype=contributions.dtype)
    for tap, offset in enumerate(np.ndindex(*kernel_size)):
        dxp[(slice(None), *window_slices(offset, strides, dilation, out))] += contributions[..., tap, :]
    return dxp


COL2IM_GRID = [case for case in itertools.product((1, 2, 3), (1, 2, 3), (1, 2, 3), (1, 2), (1, 5))
               if case[0] < 3 or case[1] < 3]  # rank, kernel, stride, dilation, channels


@pytest.mark.parametrize("case", COL2IM_GRID, ids=lambda c: "{}d-k{}-s{}-d{}-c{}".format(*c))
def test_col2im_matches_the_slice_adds(case):
    rank, kernel, stride, dilation, channels = case
    rng = np.random.default_rng(COL2IM_GRID.index(case))
    out = tuple(int(n) for n in rng.integers(1, 5, size=rank))
    kernel_size, strides, dilations = (kernel,) * rank, (stride,) * rank, (dilation,) * rank
    # the smallest padded input these outputs need, plus up to stride - 1 cells no window reads
    padded = tuple(o * stride + (kernel - 1) * dilation + 1 - stride + int(rng.integers(0, stride))
                   for o in out)
    dtype = np.float32 if sum(case) % 2 else np.float64
    contributions = rng.standard_normal((2, *out, kernel ** rank, channels)).astype(dtype)
    label = f"out={out} padded={padded} dtype={np.dtype(dtype)}"

    dxp = im2col_compiled.col2im(contributions, padded, kernel_size, strides, dilations)
    assert dxp.dtype == dtype, label
    np.testing.assert_array_equal(dxp, slice_add_col2im(contributions, padded, kernel_size, strides, dilations),
                                  err_msg=label)


@pytest.mark.parametrize("rank, stride, dilation, groups", [
    (1, 2, 2, 1), (2, 1, 1, 1), (2, 2, 1, 2), (2, 1, 1, 6), (3, 1, 2, 1), (3, 2, 1, 3)])
def test_col2im_of_the_gemm_equals_the_numpy_input_gradient(monkeypatch, rank, stride, dilation, groups):
    # Contributions from the same all-taps GEMM as the NumPy path's one-GEMM branch, which
    # COL2IM_ONE_GEMM_MAX_CHANNELS forces here; both then add the same values in the same order.
    monkeypatch.setattr(im2col, "COL2IM_ONE_GEMM_MAX_CHANNELS", 10**6)
    rng = np.random.default_rng(rank)
    group_channels, filters = 6 // groups, 6
    kernel = rng.standard_normal((*(3,) * rank, group_channels, filters)).astype(np.float32)  # (*k, Cg, F)
    strides, dilations = (stride,) * rank, (dilation,) * rank
    padded = (9,) * rank
    out = im2col.output_shape(padded, kernel.shape[:-2], strides, dilations)
    grad = rng.standard_normal((2, *out, filters)).astype(np.float32)
    expected = numpy_path(im2col.correlate_input_grad, grad, kernel, padded, strides, dilations, groups)

    taps = 3 ** rank
    # (K, Cg, G, F//G) -> (G, F//G, K*Cg): every tap's transposed kernel side by side
    right = kernel.reshape(taps, group_channels, groups, filters // groups).transpose(2, 3, 0, 1)
    every_tap = np.matmul(im2col.group_rows(grad, groups), right.reshape(groups, filters // groups, -1))
    # (G, M, K*Cg) -> (G, N, *out, K, Cg) -> (N, *out, K, G, Cg): a strided view when groups > 1
    every_tap = np.moveaxis(every_tap.reshape(groups, 2, *out, taps, group_channels), 0, -2)
    contributions = every_tap.reshape(2, *out, taps, 6)  # (N, *out, K, C)
    np.testing.assert_array_equal(im2col_compiled.col2im(contributions, padded, kernel.shape[:-2], strides, dilations),
                                  expected)


# --------------------------------------------------------------------------- max-pool backward

def pool_input(kind, shape, rng):
    """A seeded input (N, *S, C) of one kind: random, many ties, -inf cells or NaN cells."""
    if kind == "normal":
        return rng.standard_normal(shape)
    x = rng.integers(0, 3, size=shape).astype(np.float64)  # ties in most windows
    if kind == "neg-inf":
        x[rng.random(shape) < 0.5] = -np.inf  # with padding, whole windows of -inf tie with it
    if kind == "nan":
        x[rng.random(shape) < 0.2] = np.nan
    return x


POOL_GRID = list(itertools.product((1, 2, 3), (1, 2, 3), (1, 2, 3), ("valid", "same")))
POOL_KINDS = ("normal", "ties", "neg-inf", "nan")


@pytest.mark.parametrize("case", POOL_GRID, ids=lambda c: "{}d-p{}-s{}-{}".format(*c))
def test_max_pool_backward_matches_numpy(case):
    rank, pool, stride, padding = case
    rng = np.random.default_rng(POOL_GRID.index(case))
    pool_size, strides = (pool,) * rank, (stride,) * rank
    for kind, channels, dtype, grad_kind in itertools.product(
            POOL_KINDS, (3, 9), (np.float32, np.float64), ("finite", "non-finite")):
        spatial = tuple(int(n) for n in rng.integers(pool, {1: 9, 2: 6, 3: 4}[rank] + 1, size=rank))
        pads = tuple(shapes.pool_padding(length, pool, stride, padding) for length in spatial)
        x = pool_input(kind, (2, *spatial, channels), rng).astype(dtype)
        out = pooling.max_pool(x, pool_size, strides, pads)
        grad = rng.standard_normal(out.shape).astype(dtype)
        if grad_kind == "non-finite":  # NumPy takes its np.where branch: inf/NaN must reach only the winners
            grad.flat[rng.choice(grad.size, 2, replace=False)] = (np.inf, np.nan)
        label = f"{kind} x={x.shape} pads={pads} {np.dtype(dtype)} {grad_kind} grad"

        dx = pooling_compiled.max_pool_backward(grad, x, out, pool_size, strides, pads)
        assert dx.dtype == dtype, label
        np.testing.assert_array_equal(
            dx, numpy_path(pooling.max_pool_backward, grad, x, out, pool_size, strides, pads), err_msg=label)


# Inputs (N, *S, C) of the pair-window kernels: 2D 2x2 windows at even and odd sizes (an odd edge row or
# column belongs to no window), and 1D windows of 2 (MaxPooling1D(2)) at even and odd lengths.
PAIR_WINDOW_SHAPES = {2: ((2, 4, 6, 3), (2, 5, 7, 6), (2, 6, 4, 12), (2, 3, 2, 1)),
                      1: ((2, 8, 3), (2, 9, 6), (2, 2, 1), (2, 3, 16))}


@pytest.mark.parametrize("rank", [1, 2])
@pytest.mark.parametrize("kind", POOL_KINDS)
@pytest.mark.parametrize("dtype", (np.float32, np.float64))
def test_pair_window_max_pool_matches_numpy(rank, kind, dtype):
    # Few and many channels, a strided channel slice; the backward with finite and non-finite gradients.
    rng = np.random.default_rng(10 * rank + POOL_KINDS.index(kind))
    pool = ((2,) * rank, (2,) * rank, ((0, 0),) * rank)
    compiled.set_enabled(True)  # the leg with CLEARCONV_COMPILED=0 runs this file too
    assert pooling_compiled.use_max_pool_2x2(*pool, dtype)
    for shape in PAIR_WINDOW_SHAPES[rank]:
        x = pool_input(kind, (*shape[:-1], 2 * shape[-1]), rng).astype(dtype)[..., ::2]
        out, winners = pooling_compiled.max_pool_2x2(x)
        np.testing.assert_array_equal(out, numpy_path(pooling.max_pool, x, *pool), err_msg=f"{kind} {x.shape}")
        assert out.dtype == dtype and winners.dtype == np.uint8 and winners.shape == out.shape
        for grad_kind in ("finite", "non-finite"):
            grad = rng.standard_normal(out.shape).astype(dtype)
            if grad_kind == "non-finite":
                grad.flat[rng.choice(grad.size, 2, replace=False)] = (np.inf, np.nan)
            want = numpy_path(pooling.max_pool_backward, grad, x, out, *pool)
            label = f"{kind} {x.shape} {grad_kind}"
            np.testing.assert_array_equal(pooling_compiled.route_2x2(grad, winners, x.shape), want, err_msg=label)
            np.testing.assert_array_equal(pooling_compiled.max_pool_backward(grad, x, out, *pool), want, err_msg=label)


@pytest.mark.parametrize("pool_size", [(2,), (2, 2), (3, 3)])
def test_float16_pooling_takes_the_numpy_path(pool_size):
    # numba has no float16: the compiled kernels are not taken, and the NumPy path's values come back
    assert not pooling_compiled.use_max_pool_2x2(pool_size, pool_size, ((0, 0),) * len(pool_size), np.float16)
    assert not pooling_compiled.use_max_pool_backward(16, pool_size, pool_size, ((0, 0),) * len(pool_size),
                                                      np.float16)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, *([6] * len(pool_size)), 16)).astype(np.float16)
    args = (pool_size, pool_size, ((0, 0),) * len(pool_size))
    out = pooling.max_pool(x, *args)
    want = pooling.max_pool(x.astype(np.float32), *args).astype(np.float16)  # a max is exact in any float
    assert out.dtype == np.float16
    np.testing.assert_array_equal(out, want)
    grad = rng.standard_normal(out.shape).astype(np.float16)
    dx = pooling.max_pool_backward(grad, x, out, *args)
    assert dx.dtype == np.float16 and dx.sum(dtype=np.float64) == pytest.approx(grad.sum(dtype=np.float64))


def test_max_pool_2x2_by_hand():
    # Window [[1, 3], [3, 2]]: the max 3 goes to the first 3 in row-major order; a NaN propagates.
    x = np.array([[1.0, 3.0], [3.0, 2.0]]).reshape(1, 2, 2, 1)
    out, winners = pooling_compiled.max_pool_2x2(x)
    assert out.ravel().tolist() == [3.0] and winners.ravel().tolist() == [1]
    dx = pooling_compiled.max_pool_backward(np.array([5.0]).reshape(1, 1, 1, 1), x, out, (2, 2), (2, 2), ((0, 0), (0, 0)))
    np.testing.assert_array_equal(dx.ravel(), [0, 5, 0, 0])
    # A NaN propagates to the output and the gradient goes to the window's last NaN.
    out, winners = pooling_compiled.max_pool_2x2(np.array([[1.0, np.nan], [3.0, np.nan]]).reshape(1, 2, 2, 1))
    assert np.isnan(out).all() and winners.ravel().tolist() == [3]
    np.testing.assert_array_equal(pooling_compiled.route_2x2(np.full((1, 1, 1, 1), 5.0), winners, (1, 2, 2, 1)).ravel(),
                                  [0, 0, 0, 5])


def test_max_pool_hands_its_winners_to_the_backward_only_from_the_2x2_kernel():
    rng = np.random.default_rng(8)
    x = np.maximum(rng.standard_normal((2, 6, 4, 5)), 0)  # ties at zero, as after a ReLU
    tiles, overlapping = ((2, 2), (2, 2), ((0, 0), (0, 0))), ((3, 3), (2, 2), ((0, 0), (0, 0)))
    out, winners = pooling.max_pool(x, *tiles, return_winners=True)
    grad = rng.standard_normal(out.shape)
    np.testing.assert_array_equal(pooling.max_pool_backward(grad, x, out, *tiles, winners),
                                  numpy_path(pooling.max_pool_backward, grad, x, out, *tiles))
    assert pooling.max_pool(x, *overlapping, return_winners=True)[1] is None
    assert numpy_path(pooling.max_pool, x, *tiles, return_winners=True)[1] is None


def test_max_pool_backward_by_hand():
    # The hand cases of test_pooling, through the kernel. pool 2, stride 1 on [1, 3, 3, 2]: the tie
    # goes to the first 3, and overlapping windows accumulate.
    x = np.array([1.0, 3.0, 3.0, 2.0]).reshape(1, 4, 1)
    dx = pooling_compiled.max_pool_backward(np.array([10.0, 200.0, 3000.0]).reshape(1, 3, 1), x,
                                    pooling.max_pool(x, (2,), (1,), ((0, 0),)), (2,), (1,), ((0, 0),))
    np.testing.assert_array_equal(dx.ravel(), [0, 210, 3000, 0])
    # all -inf, pool 3, stride 1, pads (1, 1): padding never takes the gradient.
    x = np.full((1, 4, 1), -np.inf)
    dx = pooling_compiled.max_pool_backward(np.array([1.0, 2.0, 3.0, 4.0]).reshape(1, 4, 1), x,
                                    pooling.max_pool(x, (3,), (1,), ((1, 1),)), (3,), (1,), ((1, 1),))
    np.testing.assert_array_equal(dx.ravel(), [3, 3, 4, 0])
    # NaN windows, pool 3, stride 1 on [1, nan, 3, nan, 2]: each window's LAST NaN wins.
    x = np.array([1.0, np.nan, 3.0, np.nan, 2.0]).reshape(1, 5, 1)
    out = pooling.max_pool(x, (3,), (1,), ((0, 0),))
    dx = pooling_compiled.max_pool_backward(np.ones_like(out), x, out, (3,), (1,), ((0, 0),))
    np.testing.assert_array_equal(dx.ravel(), [0, 1, 0, 2, 0])


def test_max_pool_backward_non_contiguous_input():
    # A channels slice is a strided view; the kernel must read it as it is.
    x = np.random.default_rng(3).standard_normal((2, 6, 6, 12))[..., ::2]
    out = pooling.max_pool(x, (2, 2), (2, 2), ((0, 0), (0, 0)))
    grad = np.random.default_rng(4).standard_normal(out.shape)
    np.testing.assert_array_equal(
        pooling_compiled.max_pool_backward(grad, x, out, (2, 2), (2, 2), ((0, 0), (0, 0))),
        numpy_path(pooling.max_pool_backward, grad, x, out, (2, 2), (2, 2), ((0, 0), (0, 0))))


# --------------------------------------------------------------------------- Winograd transforms

EPS32 = np.finfo(np.float32).eps
# The float32 bound of test_winograd: max |y - reference| <= c * eps32 * max over cells of sum |x| |w|.
WINOGRAD_FLOAT32_BOUND = {2: 6, 4: 128}

# (N, output height, output width, C, F): outputs not a multiple of either tile, smaller than a
# tile, and channel counts from 1 to 70 (runs shorter and longer than a vector, odd lengths).
WINOGRAD_SHAPES = [(1, 1, 1, 1, 1), (2, 3, 5, 2, 3), (1, 4, 4, 3, 2), (2, 5, 7, 7, 4), (1, 6, 9, 16, 5),
                   (3, 8, 8, 17, 8), (1, 7, 6, 33, 3), (1, 9, 5, 64, 2), (2, 4, 10, 70, 9)]


def scaled_error(y, xp, kernel):
    """max |y - float64 reference| and the result's scale max over cells of sum |x| |w|."""
    def correlate(inputs, weights):
        return conv_reference(inputs.astype(np.float64), weights.astype(np.float64), None, (1, 1),
                              ((0, 0), (0, 0)), (1, 1))
    return np.abs(y - correlate(xp, kernel)).max(), correlate(np.abs(xp), np.abs(kernel)).max()


@pytest.mark.parametrize("tile", winograd.TILES)
@pytest.mark.parametrize("shape", WINOGRAD_SHAPES, ids=lambda s: "n{}-{}x{}-c{}-f{}".format(*s))
def test_winograd_transforms_match_the_numpy_path_and_the_reference(monkeypatch, tile, shape):
    monkeypatch.setattr(winograd_compiled, "WINOGRAD_COMPILED_MIN_CHANNELS", 1)  # the kernels at every channel count
    compiled.set_enabled(True)
    batch, out_h, out_w, channels, filters = shape
    rng = np.random.default_rng(WINOGRAD_SHAPES.index(shape) + 10 * tile)
    for dtype in (np.float64, np.float32):
        xp = rng.uniform(-1, 1, (batch, out_h + 2, out_w + 2, channels)).astype(dtype)
        kernel = rng.uniform(-1, 1, (3, 3, channels, filters)).astype(dtype)
        label = f"tile={tile} shape={shape} {np.dtype(dtype)}"
        assert winograd_compiled.use_winograd_transforms(channels), label
        y = winograd.correlate(xp, kernel, tile)
        assert y.dtype == dtype and y.shape == (batch, out_h, out_w, filters), label
        error, scale = scaled_error(y, xp, kernel)
        numpy_error = np.abs(y - numpy_path(winograd.correlate, xp, kernel, tile)).max()
        if dtype == np.float64:
            assert error <= 1e-10 * scale and numpy_error <= 1e-10 * scale, (label, error, numpy_error)
        else:  # both paths within the bound of the reference, so within twice it of each other
            bound = WINOGRAD_FLOAT32_BOUND[tile] * EPS32 * scale
            assert error <= bound and numpy_error <= 2 * bound, (label, error / bound, numpy_error / bound)


@pytest.mark.parametrize("tile", winograd.TILES)
def test_winograd_transforms_over_chunks_and_strided_inputs(monkeypatch, tile):
    # Small chunks: runs of tile rows (CHUNK_ELEMENTS 64) and of whole images (4096); the input is
    # a channel slice, a view that is not contiguous.
    monkeypatch.setattr(winograd_compiled, "WINOGRAD_COMPILED_MIN_CHANNELS", 1)
    compiled.set_enabled(True)
    rng = np.random.default_rng(tile)
    xp = rng.uniform(-1, 1, (3, 13, 11, 10))[..., ::2]
    kernel = rng.uniform(-1, 1, (3, 3, 5, 6))
    expected = numpy_path(winograd.correlate, xp, kernel, tile)
    for chunk_elements in (64, 4096):
        monkeypatch.setattr(winograd, "WINOGRAD_CHUNK_ELEMENTS", chunk_elements)
        np.testing.assert_allclose(winograd.correlate(xp, kernel, tile), expected, rtol=0, atol=1e-12,
                                   err_msg=f"chunk_elements={chunk_elements}")


def test_winograd_takes_the_kernels_when_chosen(monkeypatch):
    calls = []

    def record_input(*args):
        calls.append(args[-1].shape)
        args[-1][...] = 0  # the real transform fills the buffer; left as allocated, the matmul may meet NaNs

    monkeypatch.setattr(winograd, "winograd_input", record_input)
    monkeypatch.setattr(winograd, "winograd_output", lambda *args: None)
    xp, kernel = np.zeros((1, 6, 6, 8), np.float32), np.zeros((3, 3, 8, 4), np.float32)
    compiled.set_enabled(True)
    winograd.correlate(xp, kernel, 4)
    assert calls == [(36, 1, 8)]  # (P, T, C): the one chunk's one tile
    calls.clear()
    numpy_path(winograd.correlate, xp, kernel, 4)
    assert calls == []


# --------------------------------------------------------------------------- where the kernels are used

def test_kernels_are_chosen_only_where_measured_faster():
    compiled.set_enabled(True)
    # The input gradient's GEMM layout depends on the shape alone; the compiled scatter takes every one-GEMM case.
    assert im2col.one_gemm_input_grad(8, (1, 1)) and im2col.one_gemm_input_grad(16, (2, 2))
    assert not im2col.one_gemm_input_grad(16, (1, 1)) and not im2col.one_gemm_input_grad(32, (1, 2))
    tiles = ((2, 2), (2, 2), ((0, 0), (0, 0)))
    overlapping = ((3, 3), (2, 2), ((0, 0), (0, 0)))
    assert pooling_compiled.use_max_pool_backward(8, *overlapping, np.float32)
    assert not pooling_compiled.use_max_pool_backward(6, *overlapping, np.float32)
    assert pooling_compiled.use_max_pool_2x2(*tiles, np.float32) and pooling_compiled.use_max_pool_backward(6, *tiles, np.float32)
    assert not pooling_compiled.use_max_pool_2x2((2, 2), (2, 2), ((0, 1), (0, 1)), np.float32)  # padded
    assert not pooling_compiled.use_max_pool_2x2((3, 3), (2, 2), ((0, 0), (0, 0)), np.float32)
    assert not pooling_compiled.use_max_pool_2x2((2, 2), (1, 1), ((0, 0), (0, 0)), np.float32)  # overlapping
    assert winograd_compiled.use_winograd_transforms(64) and winograd_compiled.use_winograd_transforms(4)
    assert not winograd_compiled.use_winograd_transforms(2)
    compiled.set_enabled(False)
    assert not pooling_compiled.use_max_pool_backward(16, *overlapping, np.float32)
    assert not pooling_compiled.use_max_pool_2x2(*tiles, np.float32) and not pooling_compiled.use_max_pool_backward(6, *tiles, np.float32)
    assert not winograd_compiled.use_winograd_transforms(64)


# --------------------------------------------------------------------------- conv output pass and its gradient

def special_values(shape, dtype, seed):
    """Random values with NaN, +-inf, -0.0 and exact zeros sprinkled in."""
    rng = np.random.default_rng(seed)
    values = rng.standard_normal(shape).astype(dtype)
    flat = values.reshape(-1)
    for value, start in ((np.nan, 0), (np.inf, 1), (-np.inf, 2), (-0.0, 3), (0.0, 4)):
        flat[start::11] = value
    return values


@pytest.mark.parametrize("dtype", (np.float32, np.float64))
@pytest.mark.parametrize("shape", [(3, 7, 5), (2, 5, 4, 6), (2, 3, 4, 2, 3)], ids=["1d", "2d", "3d"])
@pytest.mark.parametrize("with_bias, activation", [(True, "relu"), (True, None), (False, "relu")])
def test_bias_and_relu_pass_equals_numpy_bit_for_bit(dtype, shape, with_bias, activation):
    y = special_values(shape, dtype, 0)
    bias = np.random.default_rng(1).standard_normal(shape[-1]).astype(dtype) if with_bias else None
    want, got = y.copy(), y.copy()
    numpy_path(output.add_bias_and_activate, want, bias, activation)
    output.add_bias_and_activate(got, bias, activation)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(np.signbit(got), np.signbit(want))  # -0.0 -> 0.0 as np.maximum does


@pytest.mark.parametrize("dtype", (np.float32, np.float64))
def test_fused_relu_conv_forward_and_backward_equal_the_numpy_path(dtype):
    from clearconv.kernels import conv as conv_ops
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 9, 8, 2)).astype(dtype)
    kernel, bias = rng.standard_normal((3, 3, 2, 5)).astype(dtype), rng.standard_normal(5).astype(dtype)
    args = (x, kernel, bias, (1, 1), ((1, 1), (1, 1)), (1, 1))
    y, ctx = conv_ops.conv(*args, activation="relu", keep_for_backward=True)
    y_numpy, ctx_numpy = numpy_path(conv_ops.conv, *args, activation="relu", keep_for_backward=True)
    np.testing.assert_array_equal(y, y_numpy)
    grad = rng.standard_normal(y.shape).astype(dtype)
    (dx, dkernel, dbias), want = conv_ops.conv_backward(grad, ctx), numpy_path(conv_ops.conv_backward, grad, ctx_numpy)
    np.testing.assert_array_equal(dx, want[0])
    np.testing.assert_array_equal(dkernel, want[1])
    assert_bias_grads_are_the_channel_sums(dbias, want[2], grad * (y > 0))


def assert_bias_grads_are_the_channel_sums(compiled_dbias, numpy_dbias, grad):
    """Both settings' bias gradients are the exact per-filter sums of ``grad`` (N, *out, F), rounded once:
    within half an ulp of their dtype plus the float64 accumulation's M * 2**-53 * sum|grad|.

    The compiled sum accumulates in another order than NumPy's BLAS blocks, so the two may round apart.
    """
    terms = grad.reshape(-1, grad.shape[-1]).astype(np.float64)
    exact = np.array([math.fsum(column) for column in terms.T])
    bound = (0.5 * np.spacing(np.abs(exact).astype(grad.dtype)).astype(np.float64)
             + terms.shape[0] * 2.0**-53 * np.abs(terms).sum(axis=0))
    for name, dbias in (("compiled", compiled_dbias), ("numpy", numpy_dbias)):
        assert dbias.dtype == grad.dtype, name
        assert np.all(np.abs(dbias.astype(np.float64) - exact) <= bound), name


# --------------------------------------------------------------------------- CLEARCONV_COMPILED=0 and =1 agree

# (rank, kernel, stride, dilation, groups, channels, filters): the compiled col2im's shapes (at most 8
# channels per group at stride 1, 16 strided), the per-tap GEMMs' (16 at stride 1, 32 strided),
# groups, 1D and 3D; 64 filters keep the row blocking out of the way, 8 let it in.
BIT_IDENTICAL_CASES = [(2, 3, 1, 1, 1, 4, 64), (2, 3, 1, 1, 1, 6, 64), (2, 3, 1, 1, 1, 8, 64),
                       (2, 3, 1, 1, 1, 2, 64), (2, 3, 1, 1, 1, 16, 64), (2, 3, 2, 1, 1, 16, 64),
                       (2, 3, 2, 1, 1, 5, 8), (2, 3, 1, 2, 1, 6, 64), (2, 3, 1, 1, 2, 12, 64), (2, 3, 2, 1, 4, 16, 8),
                       (2, 3, 2, 1, 1, 32, 64),
                       (1, 5, 2, 1, 1, 6, 64), (3, 2, 1, 1, 1, 6, 16), (3, 3, 2, 1, 1, 4, 16), (2, 5, 1, 1, 1, 1, 6)]


@pytest.mark.parametrize("case", BIT_IDENTICAL_CASES, ids=lambda c: "{}d-k{}-s{}-d{}-g{}-c{}-f{}".format(*c))
@pytest.mark.parametrize("dtype", (np.float32, np.float64))
def test_im2col_forward_and_backward_are_bit_identical_with_and_without_the_kernels(case, dtype):
    """The compiled col2im only replaces the scatter: the GEMM that feeds it is the same either way."""
    from clearconv.kernels import conv as conv_ops
    rank, kernel, stride, dilation, groups, channels, filters = case
    rng = np.random.default_rng(BIT_IDENTICAL_CASES.index(case))
    x = rng.standard_normal((2, *(9 if rank < 3 else 6,) * rank, channels)).astype(dtype)
    weights = rng.standard_normal((*(kernel,) * rank, channels // groups, filters)).astype(dtype)
    bias = rng.standard_normal(filters).astype(dtype)
    args = (x, weights, bias, (stride,) * rank, [(1, 1)] * rank, (dilation,) * rank, groups)
    y, ctx = conv_ops.conv(*args, algorithm="im2col", keep_for_backward=True)
    y_numpy, ctx_numpy = numpy_path(conv_ops.conv, *args, algorithm="im2col", keep_for_backward=True)
    np.testing.assert_array_equal(y, y_numpy)
    grad = rng.standard_normal(y.shape).astype(dtype)
    got, want = conv_ops.conv_backward(grad, ctx), numpy_path(conv_ops.conv_backward, grad, ctx_numpy)
    for name, a, b in zip(("dx", "dkernel"), got, want):
        np.testing.assert_array_equal(a, b, err_msg=name)
    assert_bias_grads_are_the_channel_sums(got[2], want[2], grad)
