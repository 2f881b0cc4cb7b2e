"""FFT convolution against the direct loops (clearconv.kernels.conv.reference).

Tolerances are relative to the largest magnitude of the expected output:
float64 1e-10 (measured < 2e-15 on this grid); float32 1e-5 (measured < 6e-7
on this grid; the FFT's rounding grows with log2 of the transform length, see
the module docstring for the benchmark shapes).
"""

import numpy as np
import pytest

from clearconv.kernels.conv import fft
from clearconv.kernels.conv.reference import conv_reference

FLOAT64_TOLERANCE = 1e-10
FLOAT32_TOLERANCE = 1e-5


KERNEL_SIZES = {1: range(1, 8), 2: range(1, 8), 3: range(1, 5)}  # 3D kept small: the oracle loops


def grid():
    """Seeded cases (rank, kernel_size, extra, dilation, batch, channels, filters).

    The padded input is ``extra`` cells longer than the dilated kernel per axis:
    extra 0 (a kernel as large as the input) and 1..5 - rank, so lengths of
    both parities occur. In 2D and 3D the kernel is often not square.
    """
    rng = np.random.default_rng(1234)
    for rank in (1, 2, 3):
        for size in KERNEL_SIZES[rank]:
            for as_large_as_input in (True, False):
                kernel_size = (size,) + tuple(int(k) for k in rng.integers(max(1, size - 1), size + 1, rank - 1))
                if as_large_as_input:
                    extra, dilation = (0,) * rank, (1,) * rank
                else:
                    extra = tuple(int(e) for e in rng.integers(1, 6 - rank, rank))
                    dilation = tuple(int(d) for d in rng.integers(1, 3, rank))
                batch, channels, filters = (int(v) for v in rng.integers(1, (4, 5, 5)))
                yield rank, kernel_size, extra, dilation, batch, channels, filters


def make_case(kernel_size, extra, dilation, batch, channels, filters, seed):
    rng = np.random.default_rng(seed)
    padded = tuple(d * (k - 1) + 1 + e for k, e, d in zip(kernel_size, extra, dilation))
    xp = rng.standard_normal((batch, *padded, channels))
    kernel = rng.standard_normal((*kernel_size, channels, filters))
    return xp, kernel


def expected_output(xp, kernel, dilation):
    rank = xp.ndim - 2
    return conv_reference(xp, kernel, None, (1,) * rank, [(0, 0)] * rank, dilation)


CASES = list(grid())


@pytest.mark.parametrize("index", range(len(CASES)), ids=lambda i: "-".join(map(str, CASES[i])))
def test_correlate_matches_reference(index):
    rank, kernel_size, extra, dilation, batch, channels, filters = CASES[index]
    xp, kernel = make_case(kernel_size, extra, dilation, batch, channels, filters, seed=index)
    expected = expected_output(xp, kernel, dilation)
    scale = np.abs(expected).max()

    y64 = fft.correlate(xp, kernel, dilation)
    assert y64.dtype == np.float64 and y64.shape == expected.shape
    np.testing.assert_allclose(y64, expected, rtol=0, atol=FLOAT64_TOLERANCE * scale)

    y32 = fft.correlate(xp.astype(np.float32), kernel.astype(np.float32), dilation)
    assert y32.dtype == np.float32 and y32.shape == expected.shape
    np.testing.assert_allclose(y32, expected, rtol=0, atol=FLOAT32_TOLERANCE * scale)


def test_dilation_defaults_to_one():
    xp, kernel = make_case((3, 2), (2, 3), (1, 1), 2, 3, 2, seed=0)
    np.testing.assert_array_equal(fft.correlate(xp, kernel), fft.correlate(xp, kernel, (1, 1)))


def test_batch_chunks_give_the_same_result(monkeypatch):
    """One-sample chunks, and chunks sized by the large-kernel-spectrum rule, compute what one chunk does."""
    xp, kernel = make_case((3, 3), (4, 5), (1, 1), 3, 4, 3, seed=1)
    whole = fft.correlate(xp, kernel)
    np.testing.assert_allclose(whole, expected_output(xp, kernel, (1, 1)), rtol=0,
                               atol=FLOAT64_TOLERANCE * np.abs(whole).max())
    monkeypatch.setattr(fft, "CHUNK_BYTES", 1)
    assert fft._chunk_rows(10, 4, 3, 32, 16) == 1
    np.testing.assert_allclose(fft.correlate(xp, kernel), whole, rtol=0, atol=1e-14 * np.abs(whole).max())
    monkeypatch.setattr(fft, "KERNEL_CACHED_BYTES", 0)
    # 1000 frequencies, 32 -> 32 channels: kernel spectrum 8 192 000 bytes, 768 000 per sample -> 5 rows.
    assert fft._chunk_rows(1000, 32, 32, 2000, 8) == 5
    np.testing.assert_allclose(fft.correlate(xp, kernel), whole, rtol=0, atol=1e-14 * np.abs(whole).max())


def test_long_kernel_axis_uses_the_fft_path():
    """Axes with more than KERNEL_DFT_MAX_TAPS taps take the FFT branch of the kernel spectrum."""
    taps = fft.KERNEL_DFT_MAX_TAPS + 3
    xp, kernel = make_case((taps,), (9,), (2,), 1, 2, 2, seed=2)
    expected = expected_output(xp, kernel, (2,))
    np.testing.assert_allclose(fft.correlate(xp, kernel, (2,)), expected, rtol=0,
                               atol=FLOAT64_TOLERANCE * np.abs(expected).max())


def test_kernel_spectrum_is_the_conjugate_rfftn():
    rng = np.random.default_rng(3)
    kernel = rng.standard_normal((3, 5, 2, 4))
    fft_shape = (8, 12)
    expected = np.conj(np.fft.rfftn(kernel, s=fft_shape, axes=(0, 1))) * 7
    spectrum = fft.kernel_spectrum(kernel, fft_shape, (1, 1), scale=7)
    assert spectrum.shape == (8, 7, 2, 4)
    np.testing.assert_allclose(spectrum, expected, rtol=0, atol=1e-12 * np.abs(expected).max())
    assert fft.kernel_spectrum(kernel.astype(np.float32), fft_shape, (1, 1), 1).dtype == np.complex64


def test_kernel_larger_than_input_is_refused():
    with pytest.raises(ValueError, match="larger than the padded input"):
        fft.correlate(np.zeros((1, 4, 1)), np.zeros((3, 1, 1)), (2,))


@pytest.mark.parametrize("length, fast", [(1, 1), (2, 2), (7, 8), (11, 12), (13, 15), (64, 64), (66, 72),
                                          (97, 100), (1032, 1080)])
def test_fast_length_is_the_next_2_3_5_smooth_number(length, fast):
    assert fft.fast_length(length) == fast


@pytest.mark.parametrize("kernel_shape, strides, dilation, groups, supported", [
    ((3, 4, 8), (1,), (1,), 1, True),
    ((5, 5, 4, 8), (1, 1), (2, 1), 1, True),
    ((3, 3, 3, 4, 8), (1, 1, 1), (1, 1, 1), 1, True),
    ((3, 3, 4, 8), (2, 1), (1, 1), 1, False),
    ((3, 3, 4, 8), (1, 1), (1, 1), 2, False),
    ((3, 3, 3, 3, 4, 8), (1, 1, 1, 1), (1, 1, 1, 1), 1, False),
])
def test_supports(kernel_shape, strides, dilation, groups, supported):
    assert fft.supports(kernel_shape, strides, dilation, groups) is supported


@pytest.mark.parametrize("input_shape, kernel_shape, fft_wins", [
    # Measured winners far from a tie (ratio im2col / FFT < 0.6 or > 1.6, see fft.worthwhile).
    ((8, 64, 64, 16), (3, 3, 16, 16), False),
    ((8, 58, 58, 64), (3, 3, 64, 64), False),
    ((64, 28, 28, 1), (5, 5, 1, 6), False),
    ((32, 1032, 16), (9, 16, 32), False),
    ((32, 262, 8), (15, 8, 8), False),
    ((8, 64, 64, 16), (7, 7, 16, 16), True),
    ((8, 128, 128, 8), (15, 15, 8, 8), True),
    ((32, 1032, 16), (31, 16, 32), True),
    ((8, 4096, 16), (63, 16, 16), True),
    ((4, 24, 24, 24, 8), (5, 5, 5, 8, 8), True),
    # A kernel larger than the input has no output: nothing to win.
    ((1, 4, 4, 1), (5, 5, 1, 1), False),
])
def test_worthwhile_picks_the_measured_winner(input_shape, kernel_shape, fft_wins):
    assert fft.worthwhile(input_shape, kernel_shape) is fft_wins


# --------------------------------------------------------------------------- dilation

def test_worthwhile_counts_the_outputs_a_dilated_kernel_leaves():
    """9x9 at dilation 8 spans 65 cells of a 64-cell input: no output, so FFT must not be picked."""
    from clearconv.kernels.conv import choose_algorithm
    assert fft.worthwhile((8, 64, 64, 16), (9, 9, 16, 16)) is True     # undilated: a measured FFT win
    assert fft.worthwhile((8, 64, 64, 16), (9, 9, 16, 16), (8, 8)) is False
    assert choose_algorithm((8, 64, 64, 16), (9, 9, 16, 16), (1, 1), (8, 8), 1) != "fft"


def test_a_dilated_kernel_is_no_more_worthwhile_than_an_undilated_one_on_its_output():
    """5x5 at dilation 8 on 64x64 leaves 32x32 outputs: im2col gathers exactly what a 5x5 on 36x36 gathers,
    while FFT transforms the larger 64x64 input. So FFT cannot win here where it loses on 36x36."""
    assert fft.worthwhile((8, 36, 36, 16), (5, 5, 16, 16)) is False
    assert fft.worthwhile((8, 64, 64, 16), (5, 5, 16, 16), (8, 8)) is False


# (x shape (N, *S, C), kernel size, dilation, padding)
TORCH_DILATED = [
    ((2, 40, 3), (5,), (4,), "same"),
    ((2, 13, 15, 2), (3, 4), (2, 3), "valid"),
    ((1, 19, 17, 3), (5, 5), (3, 2), "same"),
    ((1, 9, 10, 8, 2), (3, 2, 3), (2, 3, 2), "same"),
]


@pytest.mark.parametrize("shape, kernel_size, dilation, padding", TORCH_DILATED)
def test_dilated_fft_forward_and_backward_match_torch(shape, kernel_size, dilation, padding):
    """The dispatcher with algorithm="fft" at dilation > 1 against torch's convNd, output and all gradients."""
    torch = pytest.importorskip("torch")
    from clearconv.kernels import conv, shapes
    rank = len(kernel_size)
    rng = np.random.default_rng(7)
    x = rng.standard_normal(shape)
    kernel = rng.standard_normal((*kernel_size, shape[-1], 4))
    bias = rng.standard_normal(4)
    pads = tuple(shapes.conv_padding(length, k, 1, d, padding)
                 for length, k, d in zip(shape[1:-1], kernel_size, dilation))
    y, ctx = conv.conv(x, kernel, bias, (1,) * rank, pads, dilation, algorithm="fft", keep_for_backward=True)
    assert ctx.algorithm == "fft"
    grad = rng.standard_normal(y.shape)
    dx, dkernel, dbias = conv.conv_backward(grad, ctx)

    tx = torch.tensor(np.moveaxis(x, -1, 1), requires_grad=True)
    tk = torch.tensor(np.moveaxis(kernel, (-1, -2), (0, 1)).copy(), requires_grad=True)  # (F, C, *k)
    tb = torch.tensor(bias, requires_grad=True)
    padded = torch.nn.functional.pad(tx, [side for pair in reversed(pads) for side in pair])
    ty = getattr(torch.nn.functional, f"conv{rank}d")(padded, tk, tb, dilation=dilation)
    ty.backward(torch.tensor(np.moveaxis(grad, -1, 1)))
    scale = np.abs(ty.detach().numpy()).max()
    np.testing.assert_allclose(y, np.moveaxis(ty.detach().numpy(), 1, -1), rtol=0, atol=FLOAT64_TOLERANCE * scale)
    for ours, theirs, name in ((dx, np.moveaxis(tx.grad.numpy(), 1, -1), "dx"),
                               (dkernel, np.moveaxis(tk.grad.numpy(), (0, 1), (-1, -2)), "dkernel"),
                               (dbias, tb.grad.numpy(), "dbias")):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=FLOAT64_TOLERANCE * np.abs(theirs).max(), err_msg=name)


@pytest.mark.parametrize("dilation", [(2, 3), (3, 1)])
def test_dilated_fft_correlate_matches_the_direct_loops_in_float32(dilation):
    xp, kernel = make_case((3, 3), (4, 5), dilation, 2, 3, 5, seed=11)
    expected = expected_output(xp, kernel, dilation)
    y = fft.correlate(xp.astype(np.float32), kernel.astype(np.float32), dilation)
    assert y.dtype == np.float32 and y.shape == expected.shape
    np.testing.assert_allclose(y, expected, rtol=0, atol=FLOAT32_TOLERANCE * np.abs(expected).max())
