"""explain.winograd: the Winograd result against a direct correlation written here, the per-tile algebra,
the multiplication counts of the tutorials, the printed steps and the refusals."""

import numpy as np
import pytest

from clearconv.explain import WinogradSteps, winograd
from clearconv.kernels.conv.winograd import matrices


def correlate(x, g):
    """Valid cross-correlation (no flip) by loops over every output cell and tap, float64; 1D or 2D."""
    x, g = np.asarray(x, dtype=np.float64), np.asarray(g, dtype=np.float64)
    out = np.zeros(tuple(n - k + 1 for n, k in zip(x.shape, g.shape)))
    for cell in np.ndindex(*out.shape):
        out[cell] = sum(x[tuple(c + t for c, t in zip(cell, tap))] * g[tap] for tap in np.ndindex(*g.shape))
    return out


# output sizes that are multiples of both tiles (4, 8), of 2 only (6), of neither (5, 7, 1)
SIZES_1D = [3, 6, 7, 8, 9, 10, 12]
SIZES_2D = [(3, 3), (6, 6), (7, 9), (10, 8), (9, 12), (10, 10)]


@pytest.mark.parametrize("tile", [2, 4])
@pytest.mark.parametrize("n", SIZES_1D)
def test_1d_equals_direct_correlation(tile, n):
    rng = np.random.default_rng(n + 10 * tile)
    x, g = rng.normal(size=n), rng.normal(size=3)
    steps = winograd(x, g, tile=tile)
    expected = correlate(x, g)
    assert steps.output.shape == expected.shape == (n - 2,)
    np.testing.assert_allclose(steps.output, expected, rtol=0, atol=1e-12 * np.abs(expected).max())
    np.testing.assert_allclose(steps.direct, expected, rtol=0, atol=1e-13 * np.abs(expected).max())
    # np.correlate is a second, unrelated oracle in 1D
    np.testing.assert_allclose(steps.output, np.correlate(x, g, mode="valid"), rtol=0,
                               atol=1e-12 * np.abs(expected).max())


@pytest.mark.parametrize("tile", [2, 4])
@pytest.mark.parametrize("shape", SIZES_2D)
def test_2d_equals_direct_correlation(tile, shape):
    rng = np.random.default_rng(sum(shape) + 10 * tile)
    x, g = rng.normal(size=shape), rng.normal(size=(3, 3))
    steps = winograd(x, g, tile=tile)
    expected = correlate(x, g)
    assert steps.output.shape == expected.shape == (shape[0] - 2, shape[1] - 2)
    np.testing.assert_allclose(steps.output, expected, rtol=0, atol=1e-12 * np.abs(expected).max())
    np.testing.assert_allclose(steps.direct, expected, rtol=0, atol=1e-13 * np.abs(expected).max())


def test_2d_equals_scipy_correlate2d():
    signal = pytest.importorskip("scipy.signal")
    rng = np.random.default_rng(5)
    x, g = rng.normal(size=(11, 13)), rng.normal(size=(3, 3))
    expected = signal.correlate2d(x, g, mode="valid")
    for tile in (2, 4):
        np.testing.assert_allclose(winograd(x, g, tile).output, expected, rtol=0,
                                   atol=1e-12 * np.abs(expected).max())


def test_tutorial_example_f23_is_exact():
    # by hand: y0 = 1*1 + 2*0 + 3*(-1) = -2, y1 = 2*1 + 3*0 + 4*(-1) = -2
    steps = winograd([1, 2, 3, 4], [1, 0, -1], tile=2)
    assert steps.output.tolist() == [-2.0, -2.0]
    tile = steps.tiles[0]
    # B^T d = (d0 - d2, d1 + d2, d2 - d1, d1 - d3), G g = (g0, (g0+g1+g2)/2, (g0-g1+g2)/2, g2)
    assert tile.V.tolist() == [-2, 5, 1, -2]
    assert steps.U.tolist() == [1, 0, 0, -1]
    assert tile.M.tolist() == [-2, 0, 0, 2]
    assert tile.Y.tolist() == [-2, -2]


@pytest.mark.parametrize("shape", [(4,), (9,), (4, 4), (7, 8), (10, 10)])
def test_small_integers_are_exact_with_tile_2(shape):
    # F(2, 3)'s matrices hold 0, +-1 and +-1/2 only: every step is exact in float64 for small integers
    rng = np.random.default_rng(len(shape) * 100 + shape[-1])
    x = rng.integers(-3, 4, size=shape)
    g = rng.integers(-3, 4, size=(3,) * len(shape))
    steps = winograd(x, g, tile=2)
    assert np.array_equal(steps.output, correlate(x, g))
    assert np.array_equal(steps.direct, correlate(x, g))


@pytest.mark.parametrize("tile", [2, 4])
@pytest.mark.parametrize("shape", [(9,), (7, 9)])
def test_every_tile_follows_the_formulas(tile, shape):
    rng = np.random.default_rng(tile)
    x, g = rng.normal(size=shape), rng.normal(size=(3,) * len(shape))
    steps = winograd(x, g, tile)
    BT, G, AT = matrices(tile)
    B, A = BT.T, AT.T
    side = tile + 2
    if len(shape) == 1:
        np.testing.assert_allclose(steps.U, G @ g, rtol=1e-15, atol=1e-15)
    else:
        np.testing.assert_allclose(steps.U, G @ g @ G.T, rtol=1e-15, atol=1e-15)
    counts = [-(-(n - 2) // tile) for n in shape]
    assert len(steps.tiles) == np.prod(counts)
    extended = np.zeros([c * tile + 2 for c in counts])
    extended[tuple(slice(0, n) for n in shape)] = x
    for t in steps.tiles:
        window = tuple(slice(p, p + side) for p in t.position)
        assert t.position == tuple(i * tile for i in t.index)
        assert np.array_equal(t.d, extended[window])
        # the marked cells are exactly those beyond x, and they hold 0
        beyond = np.ones_like(extended, dtype=bool)
        beyond[tuple(slice(0, n) for n in shape)] = False
        assert np.array_equal(t.extended, beyond[window]) and not t.d[t.extended].any()
        if len(shape) == 1:
            np.testing.assert_array_equal(t.V, BT @ t.d)
            full = AT @ t.M
        else:
            np.testing.assert_allclose(t.V, BT @ t.d @ B, rtol=1e-15, atol=1e-14)
            full = AT @ t.M @ A
        np.testing.assert_array_equal(t.M, steps.U * t.V)
        # Y == A^T M (A), cropped to the output cells of the tile
        inside = tuple(slice(0, min(tile, n - 2 - p)) for p, n in zip(t.position, shape))
        np.testing.assert_allclose(t.Y, full[inside], rtol=1e-15, atol=1e-14)
        placed = tuple(slice(p, p + s.stop) for p, s in zip(t.position, inside))
        np.testing.assert_array_equal(steps.output[placed], t.Y)


@pytest.mark.parametrize("x, tile, per_tile, direct", [
    (np.ones(4), 2, 4, 6),            # F(2, 3)
    (np.ones(6), 4, 6, 12),           # F(4, 3)
    (np.ones((4, 4)), 2, 16, 36),     # F(2x2, 3x3)
    (np.ones((6, 6)), 4, 36, 144),    # F(4x4, 3x3)
])
def test_multiplication_counts_of_one_tile(x, tile, per_tile, direct):
    steps = winograd(x, np.ones((3,) * x.ndim), tile)
    assert len(steps.tiles) == 1
    assert steps.tile_multiplications == steps.multiplications == per_tile
    assert steps.tile_direct_multiplications == steps.direct_multiplications == direct
    assert steps.tiles[0].M.size == per_tile


def test_multiplication_counts_of_a_whole_input():
    # output 5 x 7: 3 x 4 tiles of 2 x 2 (some cropped) and 35 cells of 9 products
    steps = winograd(np.zeros((7, 9)), np.zeros((3, 3)), 2)
    assert (steps.multiplications, steps.direct_multiplications) == (12 * 16, 35 * 9)


@pytest.mark.parametrize("tile", [2, 4])
def test_matrices_are_the_kernels(tile):
    steps = winograd(np.zeros(6), np.zeros(3), tile)
    for ours, library in zip((steps.BT, steps.G, steps.AT), matrices(tile)):
        assert ours.dtype == np.float64 and np.array_equal(ours, library)
    assert (steps.BT.shape, steps.G.shape, steps.AT.shape) == ((tile + 2,) * 2, (tile + 2, 3), (tile, tile + 2))


def test_results_are_read_only():
    steps = winograd(np.arange(16.0).reshape(4, 4), np.ones((3, 3)))
    for array in (steps.output, steps.direct, steps.U, steps.tiles[0].d, steps.tiles[0].M, steps.BT):
        with pytest.raises(ValueError):
            array[(0,) * array.ndim] = 1.0


def test_format_shows_every_section():
    steps = winograd(np.arange(16.0).reshape(4, 4), np.ones((3, 3)), tile=2)
    text = str(steps)
    assert text == steps.format() and isinstance(steps, WinogradSteps)
    for section in ("F(2x2, 3x3)", "B^T (4 x 4)", "G (4 x 3)", "A^T (2 x 4)", "U = G g G^T", "tile (0, 0)",
                    "d (4 x 4", "V = B^T d B", "M = U * V", "Y = A^T M A", "output, Winograd", "direct",
                    "they agree", "2.25x fewer", "16", "36"):
        assert section in text, section
    # G's halves are printed as fractions; the direct result of arange(16) with ones is 45, 54, 81, 90
    assert "1/2" in text and "-1/2" in text
    assert "[45 54]" in text and "[81 90]" in text


def test_format_fractions_and_ratios_for_tile_4():
    text = winograd(np.zeros((6, 6)), np.eye(3), tile=4).format()
    assert "1/6" in text and "-1/6" in text and "1/24" in text and "1/12" in text and "1/4" in text
    assert "4x fewer" in text and "F(4x4, 3x3)" in text
    assert "1.5x fewer" in str(winograd(np.zeros(4), np.ones(3), 2))
    assert "2x fewer" in str(winograd(np.zeros(6), np.ones(3), 4))


def test_format_marks_extension_and_crops():
    text = winograd([1, 2, 3, 4, 5], [1, 0, -1], tile=2).format()
    assert "[ 3  4  5 0*]" in text            # the 4th cell of tile 1 lies beyond x
    assert "cropped to 1 cell" in text
    assert "output cell 2" in text


def test_format_summarises_many_tiles():
    steps = winograd(np.zeros((20, 20)), np.zeros((3, 3)), tile=2)   # 9 x 9 = 81 tiles
    text = steps.format(max_tiles=2)
    assert "tile (0, 1)" in text and "tile (0, 2)" not in text
    assert "79 more tiles not shown" in text
    assert "18 x 18 = 324 cells" in text and str(steps).count("tile (") == 3


@pytest.mark.parametrize("x, kernel, tile, words", [
    (np.zeros(4), np.zeros(3), 3, ["tile", "3", "2, 4"]),
    (np.zeros(4), np.zeros(3), True, ["tile", "True"]),
    (np.zeros(2), np.zeros(3), 2, ["x", "(2,)", "n >= 3"]),
    (np.zeros((3, 2)), np.zeros((3, 3)), 2, ["x", "(3, 2)"]),
    (np.zeros((3, 3, 3)), np.zeros((3, 3)), 2, ["x", "(3, 3, 3)", "1D", "2D"]),
    (np.zeros(5), np.zeros((3, 3)), 2, ["kernel", "(3,)", "(3, 3)"]),
    (np.zeros((5, 5)), np.zeros(3), 2, ["kernel", "(3, 3)", "(3,)"]),
    (np.zeros((5, 5)), np.zeros((5, 5)), 2, ["kernel", "(5, 5)"]),
    (np.array(["a", "b", "c"]), np.zeros(3), 2, ["x", "real numbers"]),
    (np.zeros(4), np.array([1, np.nan, 0]), 2, ["kernel", "finite"]),
    (np.zeros(4, dtype=complex), np.zeros(3), 2, ["x", "complex"]),
])
def test_bad_inputs_are_refused(x, kernel, tile, words):
    with pytest.raises(ValueError) as raised:
        winograd(x, kernel, tile)
    assert all(word in str(raised.value) for word in words), str(raised.value)
