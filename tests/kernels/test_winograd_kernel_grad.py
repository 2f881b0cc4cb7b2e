"""The kernel gradient of Winograd F(2x2, 3x3) and F(4x4, 3x3) (winograd.correlate_kernel_grad), against
the direct loops' backward: equal to float64 rounding, within a stated bound in float32, with the compiled
transforms and without; and the conv backward taking it after a Winograd forward."""

import numpy as np
import pytest

from clearconv.kernels import blas, compiled
from clearconv.kernels.conv import conv, conv_backward, convolution, winograd
from clearconv.kernels.conv.reference import conv_reference_backward

EPS32 = np.finfo(np.float32).eps
# Tested float32 bound: max |dkernel - reference| <= c * eps32 * max over entries of sum |x| |grad|
# (the kernel gradient of the absolute values). Measured up to 1.2 (tile 2) and 4.6 (tile 4) on
# uniform and ReLU'd inputs, 1 to 32 channels, maps of 10x10 to 28x28, both transform paths.
FLOAT32_BOUND = {2: 4, 4: 16}
COMPILED = [False, True] if compiled.AVAILABLE else [False]

# (N, output height, output width, C, F): sizes a multiple of the tile or not, smaller than one tile,
# channels below and above the compiled transforms' threshold.
SHAPES = [(1, 1, 1, 1, 1), (2, 1, 3, 2, 3), (3, 3, 1, 1, 2), (1, 3, 3, 4, 5), (2, 4, 4, 3, 2), (1, 5, 7, 8, 4),
          (2, 8, 8, 5, 5), (2, 7, 10, 16, 3), (1, 12, 11, 2, 5)]


@pytest.fixture(params=COMPILED, ids=lambda on: "compiled" if on else "numpy")
def transforms(request):
    """Run the test with the compiled kernels on, then off; restore the switch."""
    before = compiled.enabled()
    compiled.set_enabled(request.param)
    yield request.param
    compiled.set_enabled(before)


def reference_kernel_grad(xp, grad):
    """The direct loops' dL/dkernel of the valid 3x3 correlation of xp (N, Hp, Wp, C)."""
    kernel = np.zeros((3, 3, xp.shape[-1], grad.shape[-1]), dtype=np.float64)
    return conv_reference_backward(grad, xp, kernel, (1, 1), ((0, 0), (0, 0)), (1, 1))[1]


def windowed_kernel_grad(xp, grad):
    """The same sum in float64 over sliding windows, dkernel[a, b, c, f] = sum over n, i, j of
    xp[n, i + a, j + b, c] grad[n, i, j, f]: the float32 tests' larger shapes, quickly."""
    windows = np.lib.stride_tricks.sliding_window_view(xp.astype(np.float64), (3, 3), axis=(1, 2))
    return np.einsum("nijcab,nijf->abcf", windows, grad.astype(np.float64))   # windows (N, H, W, C, 3, 3)


def test_the_windowed_sum_is_the_direct_loops():
    rng = np.random.default_rng(5)
    xp, grad = rng.uniform(-1, 1, (2, 7, 6, 3)), rng.uniform(-1, 1, (2, 5, 4, 2))
    np.testing.assert_allclose(windowed_kernel_grad(xp, grad), reference_kernel_grad(xp, grad), rtol=1e-12)


@pytest.mark.parametrize("tile", winograd.TILES)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_float64_matches_the_direct_loops(transforms, tile, shape):
    batch, out_h, out_w, channels, filters = shape
    rng = np.random.default_rng(sum(shape) + tile)
    xp = rng.uniform(-1, 1, (batch, out_h + 2, out_w + 2, channels))
    grad = rng.uniform(-1, 1, (batch, out_h, out_w, filters))
    expected = reference_kernel_grad(xp, grad)
    dkernel = winograd.correlate_kernel_grad(xp, grad, tile)
    assert dkernel.shape == (3, 3, channels, filters) and dkernel.dtype == np.float64
    np.testing.assert_allclose(dkernel, expected, rtol=1e-10, atol=1e-10 * np.abs(expected).max())


@pytest.mark.parametrize("tile", winograd.TILES)
@pytest.mark.parametrize("chunk_elements", [1, 40, 200])
def test_chunks_of_tile_rows_and_of_images_sum_to_the_whole(monkeypatch, transforms, tile, chunk_elements):
    # 1: one tile row per chunk; 40: several rows of one image; 200: several images per chunk.
    monkeypatch.setattr(winograd, "WINOGRAD_CHUNK_ELEMENTS", chunk_elements)
    rng = np.random.default_rng(tile * chunk_elements)
    xp = rng.uniform(-1, 1, (5, 11, 9, 4))
    grad = rng.uniform(-1, 1, (5, 9, 7, 2))
    expected = reference_kernel_grad(xp, grad)
    np.testing.assert_allclose(winograd.correlate_kernel_grad(xp, grad, tile), expected, rtol=1e-10,
                               atol=1e-10 * np.abs(expected).max())


@pytest.mark.parametrize("tile", winograd.TILES)
@pytest.mark.parametrize("batch, size, channels, filters, relu", [
    (4, 15, 1, 3, False), (2, 10, 24, 6, True), (16, 14, 32, 8, False), (8, 28, 16, 4, True)])
def test_float32_within_the_stated_bound(transforms, tile, batch, size, channels, filters, relu):
    rng = np.random.default_rng(channels + tile)
    xp = rng.uniform(-1, 1, (batch, size + 2, size + 2, channels))
    if relu:                                   # the input of a conv after a ReLU: half zeros
        xp = np.maximum(xp, 0)
    grad = rng.uniform(-1, 1, (batch, size, size, filters))
    expected = windowed_kernel_grad(xp, grad)
    scale = windowed_kernel_grad(np.abs(xp), np.abs(grad)).max()
    dkernel = winograd.correlate_kernel_grad(xp.astype(np.float32), grad.astype(np.float32), tile)
    assert dkernel.dtype == np.float32
    error = np.abs(dkernel - expected).max()
    assert error <= FLOAT32_BOUND[tile] * EPS32 * scale, error / (EPS32 * scale)


def test_empty_batch_gives_a_zero_gradient(transforms):
    dkernel = winograd.correlate_kernel_grad(np.zeros((0, 7, 6, 2), np.float32), np.zeros((0, 5, 4, 3), np.float32), 2)
    assert dkernel.dtype == np.float32
    np.testing.assert_array_equal(dkernel, np.zeros((3, 3, 2, 3), np.float32))


@pytest.mark.parametrize("xp_shape, grad_shape", [((2, 7, 6, 3), (2, 5, 5, 4)), ((2, 7, 6, 3), (1, 5, 4, 4)),
                                                  ((2, 7, 3), (2, 5, 3)), ((1, 2, 5, 3), (1, 0, 3, 2))])
def test_mismatched_shapes_raise(xp_shape, grad_shape):
    with pytest.raises(ValueError, match=r"padded input \(N, Hp, Wp, C\)"):
        winograd.correlate_kernel_grad(np.zeros(xp_shape), np.zeros(grad_shape), 2)


@pytest.mark.parametrize("blas_threads, max_channels, adjoint", [(1, 128, True), (2, 128, False), (1, 8, False)])
@pytest.mark.parametrize("algorithm", ["winograd2", "winograd4"])
def test_conv_backward_after_a_winograd_forward_gives_the_direct_gradient(monkeypatch, transforms, algorithm,
                                                                           blas_threads, max_channels, adjoint):
    # the adjoint on one BLAS thread up to a width, im2col columns otherwise (WINOGRAD_KERNEL_GRAD_MAX_*)
    monkeypatch.setattr(blas, "_threads", blas_threads)
    monkeypatch.setattr(convolution, "WINOGRAD_KERNEL_GRAD_MAX_CHANNELS", max_channels)
    calls = []
    real = winograd.correlate_kernel_grad
    monkeypatch.setattr(winograd, "correlate_kernel_grad", lambda *args: calls.append(1) or real(*args))
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 9, 8, 16))
    kernel = rng.standard_normal((3, 3, 16, 5))
    grad = rng.standard_normal((3, 9, 8, 5))
    pads = ((1, 1), (1, 1))
    _, ctx = conv(x, kernel, None, (1, 1), pads, (1, 1), algorithm=algorithm, keep_for_backward=True)
    assert ctx.algorithm == algorithm and ctx.columns is None
    _, dkernel, _ = conv_backward(grad, ctx)
    assert bool(calls) is adjoint
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    expected = reference_kernel_grad(xp, grad)
    np.testing.assert_allclose(dkernel, expected, rtol=1e-10, atol=1e-10 * np.abs(expected).max())


def test_the_blas_thread_count_comes_from_the_variables_openblas_reads(monkeypatch):
    monkeypatch.setattr(blas, "_cores", lambda: 8)
    assert blas._from_environment({}) == 8
    assert blas._from_environment({"OMP_NUM_THREADS": "2"}) == 2
    assert blas._from_environment({"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "4"}) == 1
    assert blas._from_environment({"OPENBLAS_NUM_THREADS": "x", "MKL_NUM_THREADS": "3"}) == 3
    assert blas._from_environment({"OMP_NUM_THREADS": "64"}) == 8
    before = blas.threads()
    try:
        blas.set_threads(3)
        assert blas.threads() == 3
    finally:
        blas.set_threads(before)
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="BLAS threads must be an int >= 1"):
            blas.set_threads(bad)
