"""Winograd F(2x2, 3x3) and F(4x4, 3x3), and in 1D F(2, 3) and F(4, 3), against the direct
loops: exact in float64, within the documented bound in float32; the kernel-transform cache;
the API checks."""

import numpy as np
import pytest

from clearconv.kernels.conv import winograd
from clearconv.kernels.conv.choice import float32_bound
from clearconv.kernels.conv.reference import conv_reference

EPS32 = np.finfo(np.float32).eps
# Tested float32 bound: max |y - reference| <= c * eps32 * max over cells of sum |x| |w| (module docstring).
FLOAT32_BOUND = {2: 6, 4: 128}


def reference(xp, kernel):
    return conv_reference(xp, kernel, None, (1, 1), ((0, 0), (0, 0)), (1, 1))


def uniform(rng, shape, dtype=np.float64):
    return rng.uniform(-1, 1, shape).astype(dtype)


# (N, output height, output width, C, F): odd and even sizes, multiples of 2 and 4 or neither,
# outputs smaller than one tile in either direction.
SHAPES = [
    (1, 1, 1, 1, 1), (2, 1, 3, 2, 3), (1, 2, 2, 5, 1), (3, 3, 1, 1, 2), (1, 3, 3, 4, 5), (2, 4, 4, 3, 2),
    (1, 5, 7, 2, 4), (3, 6, 5, 1, 1), (2, 8, 8, 5, 5), (1, 9, 4, 3, 3), (2, 7, 10, 4, 1), (1, 12, 11, 2, 5),
]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_float64_matches_reference_for_both_tiles(shape):
    batch, out_h, out_w, channels, filters = shape
    rng = np.random.default_rng(sum(shape))
    xp = uniform(rng, (batch, out_h + 2, out_w + 2, channels))
    kernel = uniform(rng, (3, 3, channels, filters))
    assert_both_tiles_match(xp, kernel, reference(xp, kernel))


def assert_both_tiles_match(xp, kernel, expected):
    """Every tile's float64 result: the reference's shape, contiguous, equal to 1e-10 of its magnitude."""
    for tile in winograd.TILES:
        y = winograd.correlate(xp, kernel, tile)
        assert y.shape == expected.shape and y.dtype == np.float64 and y.flags.c_contiguous
        np.testing.assert_allclose(y, expected, rtol=1e-10, atol=1e-10 * np.abs(expected).max(),
                                   err_msg=f"tile {tile}")


@pytest.mark.parametrize("tile", winograd.TILES)
@pytest.mark.parametrize("chunk_elements", [1, 40, 200])
def test_chunks_of_tile_rows_and_of_images_cover_the_output(monkeypatch, tile, chunk_elements):
    # 1: one tile row per chunk; 40: several rows of one image; 200: several images per chunk.
    monkeypatch.setattr(winograd, "WINOGRAD_CHUNK_ELEMENTS", chunk_elements)
    rng = np.random.default_rng(tile * chunk_elements)
    xp = uniform(rng, (5, 11, 9, 3))
    kernel = uniform(rng, (3, 3, 3, 2))
    expected = reference(xp, kernel)
    np.testing.assert_allclose(winograd.correlate(xp, kernel, tile), expected, rtol=1e-10,
                               atol=1e-10 * np.abs(expected).max())


def test_non_contiguous_input():
    rng = np.random.default_rng(7)
    base = uniform(rng, (2, 12, 14, 6))
    xp = base[:, 1:, ::2, 1::2]  # (2, 11, 7, 3), strided on every axis but the batch
    kernel = uniform(rng, (3, 3, 3, 4))
    expected = reference(xp, kernel)
    for tile in winograd.TILES:
        np.testing.assert_allclose(winograd.correlate(xp, kernel, tile), expected, rtol=1e-10,
                                   atol=1e-10 * np.abs(expected).max())


def test_empty_batch_gives_empty_output():
    y = winograd.correlate(np.zeros((0, 7, 6, 2), np.float32), np.zeros((3, 3, 2, 3), np.float32))
    assert y.shape == (0, 5, 4, 3) and y.dtype == np.float32


@pytest.mark.parametrize("tile", winograd.TILES)
@pytest.mark.parametrize("batch, size, channels, filters", [(4, 15, 1, 3), (2, 10, 24, 6)])
def test_float32_within_documented_bound(tile, batch, size, channels, filters):
    rng = np.random.default_rng(channels + tile)
    xp = uniform(rng, (batch, size + 2, size + 2, channels))
    kernel = uniform(rng, (3, 3, channels, filters))
    expected = reference(xp, kernel)
    scale = reference(np.abs(xp), np.abs(kernel)).max()
    y = winograd.correlate(xp.astype(np.float32), kernel.astype(np.float32), tile)
    assert y.dtype == np.float32
    error = np.abs(y - expected).max()
    assert error <= FLOAT32_BOUND[tile] * EPS32 * scale, error / (EPS32 * scale)


# --- 1D: F(2, 3) and F(4, 3) ------------------------------------------------------------------

# Tested float32 bound in 1D, the same measure as FLOAT32_BOUND (module docstring).
FLOAT32_BOUND_1D = {2: 3, 4: 16}

# (N, output length, C, F): lengths a multiple of 2 and 4 or neither, shorter than one tile.
SHAPES_1D = [(1, 1, 1, 1), (2, 2, 3, 2), (1, 3, 2, 5), (3, 4, 1, 1), (2, 5, 4, 3), (1, 8, 6, 2), (2, 11, 3, 7),
             (4, 30, 5, 4)]


def reference_1d(xp, kernel):
    return conv_reference(xp, kernel, None, (1,), ((0, 0),), (1,))


@pytest.mark.parametrize("shape", SHAPES_1D, ids=lambda s: "x".join(map(str, s)))
def test_1d_float64_matches_reference_for_both_tiles(shape):
    batch, length, channels, filters = shape
    rng = np.random.default_rng(sum(shape))
    xp = uniform(rng, (batch, length + 2, channels))
    kernel = uniform(rng, (3, channels, filters))
    assert_both_tiles_match(xp, kernel, reference_1d(xp, kernel))


@pytest.mark.parametrize("tile", winograd.TILES)
@pytest.mark.parametrize("chunk_elements", [1, 30, 400])
def test_1d_chunks_of_tiles_and_of_signals_cover_the_output(monkeypatch, tile, chunk_elements):
    # 1: one tile per chunk; 30: runs of one signal's tiles; 400: several signals per chunk.
    monkeypatch.setattr(winograd, "WINOGRAD_CHUNK_ELEMENTS", chunk_elements)
    rng = np.random.default_rng(tile + chunk_elements)
    xp = uniform(rng, (5, 23, 3))[:, :, ::-1]  # a strided view
    kernel = uniform(rng, (3, 3, 2))
    expected = reference_1d(xp, kernel)
    np.testing.assert_allclose(winograd.correlate(xp, kernel, tile), expected, rtol=1e-10,
                               atol=1e-10 * np.abs(expected).max())


@pytest.mark.parametrize("tile", winograd.TILES)
@pytest.mark.parametrize("channels", [1, 8, 512])
def test_1d_float32_within_documented_bound(tile, channels):
    rng = np.random.default_rng(channels + tile)
    xp = uniform(rng, (4, 66, channels))
    kernel = uniform(rng, (3, channels, 16))
    expected = reference_1d(xp, kernel)
    scale = reference_1d(np.abs(xp), np.abs(kernel)).max()
    y = winograd.correlate(xp.astype(np.float32), kernel.astype(np.float32), tile)
    assert y.dtype == np.float32
    error = np.abs(y - expected).max()
    assert error <= FLOAT32_BOUND_1D[tile] * EPS32 * scale, error / (EPS32 * scale)
    assert error <= float32_bound(f"winograd{tile}", 1) * np.abs(expected).max()  # relative to the result


def test_1d_empty_batch_gives_empty_output():
    y = winograd.correlate(np.zeros((0, 9, 2), np.float32), np.zeros((3, 2, 3), np.float32), 4)
    assert y.shape == (0, 7, 3) and y.dtype == np.float32


@pytest.mark.parametrize("tile", winograd.TILES)
@pytest.mark.parametrize("channels", [64, 512])
def test_2d_float32_relative_to_the_result_within_the_documented_bound(tile, channels):
    """max |y - reference| / max |reference| within the algorithm's 2D bound (choice.FLOAT32_BOUNDS), up to
    512 channels."""
    worst = 0.0
    for seed in range(3):
        rng = np.random.default_rng(seed)
        xp = rng.standard_normal((2, 10, 10, channels))
        kernel = rng.standard_normal((3, 3, channels, 32))
        expected = reference(xp, kernel)
        y = winograd.correlate(xp.astype(np.float32), kernel.astype(np.float32), tile)
        worst = max(worst, np.abs(y - expected).max() / np.abs(expected).max())
    assert worst <= float32_bound(f"winograd{tile}", 2), worst


def correlate_1d(signal, taps):
    return np.array([signal[i:i + len(taps)] @ taps for i in range(len(signal) - len(taps) + 1)])


@pytest.mark.parametrize("tile", winograd.TILES)
def test_matrices_compute_1d_minimal_filtering(tile):
    input_matrix, kernel_matrix, output_matrix = winograd._MATRICES[tile]
    rng = np.random.default_rng(tile)
    signal, taps = rng.standard_normal(tile + 2), rng.standard_normal(3)
    # m outputs of a 3-tap correlation from m + 2 products
    y = output_matrix @ ((kernel_matrix @ taps) * (input_matrix @ signal))
    np.testing.assert_allclose(y, correlate_1d(signal, taps), rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("tile", winograd.TILES)
def test_kernel_transform_is_g_kernel_g_transposed(tile):
    rng = np.random.default_rng(3)
    kernel = rng.standard_normal((3, 3, 2, 3))
    _, kernel_matrix, _ = winograd._MATRICES[tile]
    transformed = winograd.transform_kernel(kernel, tile)
    side = tile + 2
    for c in range(2):
        for f in range(3):
            expected = kernel_matrix @ kernel[:, :, c, f] @ kernel_matrix.T
            np.testing.assert_allclose(transformed[:, c, f].reshape(side, side), expected, rtol=1e-14, atol=1e-14)


def test_kernel_transform_is_cached_until_the_kernel_changes_in_place():
    rng = np.random.default_rng(11)
    kernel = rng.standard_normal((3, 3, 4, 2))
    first = winograd.transform_kernel(kernel, 4)
    assert winograd.transform_kernel(kernel, 4) is first  # unchanged weights: the cached array
    assert not first.flags.writeable
    # An optimizer step writes into the same array (same id, shape and dtype); one weight is enough.
    kernel[1, 2, 3, 0] += 0.5
    second = winograd.transform_kernel(kernel, 4)
    np.testing.assert_array_equal(second, winograd.transform_kernel(kernel.copy(), 4))
    assert not np.array_equal(second, first)
    xp = rng.standard_normal((1, 6, 6, 4))
    np.testing.assert_allclose(winograd.correlate(xp, kernel, 4), reference(xp, kernel), rtol=1e-10, atol=1e-12)


def test_kernel_transform_cache_is_keyed_by_tile_and_dtype():
    kernel = np.random.default_rng(5).standard_normal((3, 3, 2, 2))
    assert winograd.transform_kernel(kernel, 2).shape == (16, 2, 2)
    assert winograd.transform_kernel(kernel, 4).shape == (36, 2, 2)
    as_float32 = kernel.astype(np.float32)
    assert winograd.transform_kernel(as_float32, 4).dtype == np.float32


def test_kernel_transform_cache_is_bounded():
    rng = np.random.default_rng(13)
    kernels = [rng.standard_normal((3, 3, 1, 1)) for _ in range(winograd.CACHE_ENTRIES + 5)]
    for kernel in kernels:
        winograd.transform_kernel(kernel, 2)
    assert len(winograd._kernel_cache) <= winograd.CACHE_ENTRIES


def test_supports():
    assert winograd.supports((3, 3, 8, 16), (1, 1), (1, 1), 1)
    assert winograd.supports([3, 3, 1, 1], [1, 1], [1, 1], 1)
    assert not winograd.supports((5, 5, 8, 16), (1, 1), (1, 1), 1)
    assert not winograd.supports((3, 1, 8, 16), (1, 1), (1, 1), 1)
    assert winograd.supports((3, 8, 16), (1,), (1,), 1)  # 1D: F(m, 3)
    assert not winograd.supports((5, 8, 16), (1,), (1,), 1)
    assert not winograd.supports((3, 8, 16), (2,), (1,), 1)
    assert not winograd.supports((3, 8, 16), (1,), (2,), 1)
    assert not winograd.supports((3, 4, 16), (1,), (1,), 2)
    assert not winograd.supports((3, 3, 3, 8, 16), (1, 1, 1), (1, 1, 1), 1)  # 3D
    assert not winograd.supports((3, 3, 8, 16), (2, 2), (1, 1), 1)
    assert not winograd.supports((3, 3, 8, 16), (1, 2), (1, 1), 1)
    assert not winograd.supports((3, 3, 8, 16), (1, 1), (2, 2), 1)
    assert not winograd.supports((3, 3, 4, 16), (1, 1), (1, 1), 2)


@pytest.mark.parametrize("tile", [0, 1, 3, 6, 8, True, 4.5, "4", None])
def test_bad_tile_raises(tile):
    xp = np.zeros((1, 6, 6, 2))
    kernel = np.zeros((3, 3, 2, 1))
    with pytest.raises(ValueError, match="tile"):
        winograd.correlate(xp, kernel, tile)
    with pytest.raises(ValueError, match="tile"):
        winograd.transform_kernel(kernel, tile)


@pytest.mark.parametrize("xp_shape, kernel_shape", [
    ((1, 6, 6, 2), (3, 3, 3, 1)),      # channels disagree
    ((1, 6, 6, 2), (5, 5, 2, 1)),      # not 3x3
    ((1, 2, 6, 2), (3, 3, 2, 1)),      # smaller than the kernel
    ((6, 6, 2), (3, 3, 2, 1)),         # a 1D input with a 2D kernel
    ((1, 6, 2), (3, 3, 1)),            # 1D, channels disagree
    ((1, 2, 2), (3, 2, 1)),            # 1D, shorter than the kernel
    ((6, 2), (3, 2, 1)),               # no batch axis
])
def test_bad_shapes_raise(xp_shape, kernel_shape):
    with pytest.raises(ValueError, match="winograd"):
        winograd.correlate(np.zeros(xp_shape), np.zeros(kernel_shape))
