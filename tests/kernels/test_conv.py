"""im2col convolution and transposed convolution against the direct loops
(forward) and float64 finite differences (backward)."""

import itertools

import numpy as np
import pytest

from clearconv.kernels import conv as conv_ops
from clearconv.kernels import shapes
from clearconv.kernels.conv import convolution
from clearconv.kernels.conv.reference import conv_reference, conv_transpose_reference
from gradcheck import assert_vjp_matches


def conv_cases():
    """Seeded grid over rank, kernel, stride, dilation, padding and groups; invalid combinations skipped."""
    for rank, kernel, stride, dilation, padding, groups in itertools.product(
            (1, 2, 3), (1, 2, 3), (1, 2, 3), (1, 2), ("valid", "same", "causal", "explicit"), (1, 2)):
        if padding == "causal" and rank != 1:
            continue
        if rank == 3 and (kernel == 3 or stride == 3):
            continue  # keep the 3D part of the grid small
        yield rank, kernel, stride, dilation, padding, groups


def make_conv(rank, kernel, stride, dilation, padding, groups, dtype, seed=0):
    rng = np.random.default_rng(seed)
    length = 7 if rank < 3 else 5
    x = rng.standard_normal((2, *(length,) * rank, 4)).astype(dtype)
    weights = rng.standard_normal((*(kernel,) * rank, 4 // groups, 6)).astype(dtype)
    bias = rng.standard_normal(6).astype(dtype)
    spec = (1, 2) if padding == "explicit" else padding
    pads = [shapes.conv_padding(length, kernel, stride, dilation, spec)] * rank
    return x, weights, bias, (stride,) * rank, pads, (dilation,) * rank


@pytest.mark.parametrize("case", list(conv_cases()), ids=lambda c: "-".join(map(str, c)))
def test_conv_matches_reference(case):
    x, weights, bias, strides, pads, dilation = make_conv(*case, dtype=np.float64)
    groups = case[-1]
    y, _ = conv_ops.conv(x, weights, bias, strides, pads, dilation, groups)
    expected = conv_reference(x, weights, bias, strides, pads, dilation, groups)
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12, err_msg=str(case))


def test_conv_float32_matches_reference_and_stays_float32():
    x, weights, bias, strides, pads, dilation = make_conv(2, 3, 2, 1, "same", 2, dtype=np.float32)
    y, _ = conv_ops.conv(x, weights, bias, strides, pads, dilation, 2)
    assert y.dtype == np.float32
    expected = conv_reference(x, weights, bias, strides, pads, dilation, 2)
    np.testing.assert_allclose(y, expected, atol=1e-5 * np.abs(expected).max())


GRADIENT_CASES = [
    (1, 3, 2, 1, "causal", 1), (1, 2, 1, 2, "same", 2), (2, 3, 1, 1, "same", 1), (2, 2, 2, 1, "valid", 2),
    (2, 3, 1, 2, "explicit", 1), (2, 1, 3, 1, "same", 1), (3, 2, 1, 1, "same", 2), (3, 2, 2, 1, "valid", 1),
    (2, 1, 1, 1, "valid", 1), (2, 1, 1, 1, "valid", 2), (1, 1, 1, 1, "same", 2),  # 1x1: the input gradient is one GEMM
]


@pytest.mark.parametrize("case", GRADIENT_CASES, ids=lambda c: "-".join(map(str, c)))
def test_conv_backward_matches_finite_differences(case):
    x, weights, bias, strides, pads, dilation = make_conv(*case, dtype=np.float64)
    x = x[:1, ..., :]  # one sample keeps the finite differences quick
    groups = case[-1]

    def forward(x, weights, bias):
        return conv_ops.conv(x, weights, bias, strides, pads, dilation, groups)[0]

    def backward(grad, x, weights, bias):
        _, ctx = conv_ops.conv(x, weights, bias, strides, pads, dilation, groups, keep_for_backward=True)
        return conv_ops.conv_backward(grad, ctx)

    assert_vjp_matches(forward, backward, [x, weights, bias], label=str(case))


def transpose_cases():
    for rank, kernel, stride, dilation, padding, output_padding in itertools.product(
            (1, 2), (1, 2, 3, 4), (1, 2, 3), (1, 2), ("valid", "same"), (None, 0, 1, 2)):
        if (output_padding is not None and output_padding >= stride) or (stride > 1 and dilation > 1):
            continue
        yield rank, kernel, stride, dilation, padding, output_padding


def make_transpose(rank, kernel, stride, dilation, padding, output_padding, seed=0):
    rng = np.random.default_rng(seed)
    length = 4
    x = rng.standard_normal((2, *(length,) * rank, 3))
    weights = rng.standard_normal((*(kernel,) * rank, 5, 3))
    bias = rng.standard_normal(5)
    out = shapes.conv_transpose_output_length(length, kernel, stride, dilation, padding, output_padding)
    crop = shapes.conv_transpose_crop(kernel, stride, dilation, padding, output_padding)
    return x, weights, bias, (stride,) * rank, (dilation,) * rank, (crop,) * rank, (out,) * rank


@pytest.mark.parametrize("case", list(transpose_cases()), ids=lambda c: "-".join(map(str, c)))
def test_conv_transpose_matches_reference(case):
    x, weights, bias, strides, dilation, crops, out = make_transpose(*case)
    y, _ = conv_ops.conv_transpose(x, weights, bias, strides, dilation, crops, out)
    expected = conv_transpose_reference(x, weights, bias, strides, dilation, crops, out)
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12, err_msg=str(case))


@pytest.mark.parametrize("case", [(1, 3, 2, 1, "same", None), (2, 2, 2, 1, "valid", None),
                                  (2, 3, 2, 1, "same", 1), (2, 3, 1, 2, "valid", 0), (1, 2, 3, 1, "valid", None)],
                         ids=lambda c: "-".join(map(str, c)))
def test_conv_transpose_backward_matches_finite_differences(case):
    x, weights, bias, strides, dilation, crops, out = make_transpose(*case)
    x = x[:1]

    def forward(x, weights, bias):
        return conv_ops.conv_transpose(x, weights, bias, strides, dilation, crops, out)[0]

    def backward(grad, x, weights, bias):
        _, ctx = conv_ops.conv_transpose(x, weights, bias, strides, dilation, crops, out, keep_for_backward=True)
        return conv_ops.conv_transpose_backward(grad, ctx)

    assert_vjp_matches(forward, backward, [x, weights, bias], label=str(case))


def test_pointwise_conv_uses_the_input_without_copy():
    # A 1x1 stride-1 convolution is a plain GEMM: the column matrix is a view of the input.
    from clearconv.kernels.conv.im2col import im2col
    x = np.ones((2, 5, 5, 8), dtype=np.float32)
    cols = im2col(x, (1, 1), (1, 1), (1, 1), 1)
    assert np.shares_memory(cols, x)


def test_unknown_algorithm_is_refused():
    x, weights, bias, strides, pads, dilation = make_conv(2, 3, 1, 1, "same", 1, dtype=np.float32)
    with pytest.raises(ValueError, match="algorithm"):
        conv_ops.conv(x, weights, bias, strides, pads, dilation, 1, algorithm="magic")


def test_nan_and_inf_propagate():
    x, weights, bias, strides, pads, dilation = make_conv(2, 3, 1, 1, "valid", 1, dtype=np.float32)
    x[0, 3, 3, 0] = np.nan
    x[1, 0, 0, 1] = np.inf
    y, _ = conv_ops.conv(x, weights, bias, strides, pads, dilation, 1)
    assert np.isnan(y[0, 1:4, 1:4]).all()
    assert not np.isfinite(y[1, 0, 0]).any()
    assert np.isfinite(y[0, 4:, 4:]).all()


@pytest.mark.parametrize("threshold", [0, 10**6], ids=["one-gemm-per-tap", "one-gemm-for-all-taps"])
@pytest.mark.parametrize("case", GRADIENT_CASES, ids=lambda c: "-".join(map(str, c)))
def test_both_numpy_col2im_paths_give_the_input_gradient(case, threshold, monkeypatch):
    # The input gradient is the adjoint of the forward (checked against the direct loops above):
    # <conv(x), g> == <x, dx(g)> for every x and g. The compiled col2im is off: this is about NumPy's.
    from clearconv.kernels import compiled
    from clearconv.kernels.conv import im2col
    monkeypatch.setattr(im2col, "COL2IM_ONE_GEMM_MAX_CHANNELS", threshold)
    monkeypatch.setattr(compiled, "_switched_on", False)
    x, weights, bias, strides, pads, dilation = make_conv(*case, dtype=np.float64)
    groups = case[-1]
    y, ctx = conv_ops.conv(x, weights, None, strides, pads, dilation, groups, keep_for_backward=True)
    grad = np.random.default_rng(1).standard_normal(y.shape)
    dx, _, _ = conv_ops.conv_backward(grad, ctx)
    np.testing.assert_allclose(np.sum(y * grad), np.sum(x * dx), rtol=1e-12)


@pytest.mark.parametrize("rank,stride,dilation", [(1, 1, 2), (2, 1, 1), (2, 2, 1), (3, 1, 1)])
def test_single_channel_columns_match_the_direct_loops(rank, stride, dilation):
    """One input channel (the gather's unit channel axis dropped): forward and both gradients against the loops."""
    from clearconv.kernels.conv.reference import conv_reference_backward
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, *(7,) * rank, 1))
    weights = rng.standard_normal((*(3,) * rank, 1, 4))
    strides, dilations, pads = (stride,) * rank, (dilation,) * rank, [(1, 2)] * rank
    y, ctx = conv_ops.conv(x, weights, None, strides, pads, dilations, keep_for_backward=True)
    np.testing.assert_allclose(y, conv_reference(x, weights, None, strides, pads, dilations), rtol=1e-12)
    grad = rng.standard_normal(y.shape)
    dx, dkernel, _ = conv_ops.conv_backward(grad, ctx)
    want_dx, want_dkernel, _ = conv_reference_backward(grad, x, weights, strides, pads, dilations)
    np.testing.assert_allclose(dx, want_dx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dkernel, want_dkernel, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("samples_per_chunk", [1, 2, 5])
def test_one_channel_forward_in_batch_chunks_matches_the_direct_loops(samples_per_chunk, monkeypatch):
    """The tap-major forward gathers and multiplies a few samples at a time, and keeps every sample's columns."""
    from clearconv.kernels.conv import im2col
    from clearconv.kernels.conv.reference import conv_reference_backward
    rng = np.random.default_rng(8)
    x = rng.standard_normal((5, 9, 9, 1))
    weights = rng.standard_normal((3, 3, 1, 4))
    strides, dilation, pads = (1, 1), (1, 1), [(1, 1), (1, 1)]
    monkeypatch.setattr(im2col, "TAP_MAJOR_CHUNK_BYTES", samples_per_chunk * 9 * 81 * x.itemsize)  # K * cells
    taken = []
    original = im2col._correlate_tap_major
    monkeypatch.setattr(im2col, "_correlate_tap_major", lambda *args: taken.append(1) or original(*args))
    y, ctx = conv_ops.conv(x, weights, None, strides, pads, dilation, keep_for_backward=True)
    assert taken, "a one-channel input must take the tap-major path"
    assert ctx.columns is not None and ctx.blocking is None
    np.testing.assert_allclose(y, conv_reference(x, weights, None, strides, pads, dilation), rtol=1e-12, atol=1e-12)
    grad = rng.standard_normal(y.shape)
    _, dkernel, _ = conv_ops.conv_backward(grad, ctx, need_input=False)  # from the kept columns
    want = conv_reference_backward(grad, x, weights, strides, pads, dilation)[1]
    np.testing.assert_allclose(dkernel, want, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------- row blocking

def test_row_blocking_takes_the_largest_block_that_fits():
    from clearconv.kernels.conv import im2col
    one, two = (1, 1), (2, 2)
    assert im2col.row_blocking(np.ones((5, 5, 1, 6)), one, one, 28).block == 4  # 7 would span 11 > 2 * 5
    assert im2col.row_blocking(np.ones((5, 5, 6, 16)), one, one, 10).block == 2  # 3 * 16 > 48
    assert im2col.row_blocking(np.ones((3, 3, 1, 4)), two, one, 8).block == 2  # stride 2: span 5; 4 would be 9
    assert im2col.row_blocking(np.ones((3, 3, 8, 32)), one, one, 28) is None  # 2 * 32 > 48: the GEMM is not thin
    assert im2col.row_blocking(np.ones((3, 3, 8, 24)), one, one, 28) is None  # 24 > 16 filters, though 2 * 24 <= 48
    assert im2col.row_blocking(np.ones((3, 1, 8, 4)), one, one, 28) is None  # one tap per row: nothing shared
    assert im2col.row_blocking(np.ones((3, 3, 1, 4)), one, one, 13) is None  # no divisor of 13 fits


def test_widened_kernel_holds_shifted_copies_and_folds_back():
    from clearconv.kernels.conv import im2col
    kernel = np.random.default_rng(0).uniform(1, 2, (2, 3, 2, 4))  # no zeros: every nonzero below is a copy
    blocking = im2col.row_blocking(kernel, (1, 2), (1, 2), 6)  # row extent 5: a block of 3 spans 9
    assert blocking.block == 3 and blocking.strides == (1, 6) and blocking.dilation == (1, 1)
    assert blocking.kernel.shape == (2, 9, 2, 12)
    for i, start in enumerate((0, 2, 4)):
        np.testing.assert_array_equal(blocking.kernel[:, start:start + 5:2, :, 4 * i:4 * i + 4], kernel)
    assert np.count_nonzero(blocking.kernel) == 3 * kernel.size
    np.testing.assert_array_equal(blocking.fold_kernel_grad(blocking.kernel), 3 * kernel)


ROW_BLOCK_CASES = [  # rank, kernel, stride, dilation, channels, filters, padding
    (2, 5, 1, 1, 1, 6, "same"), (2, 5, 1, 1, 6, 16, "valid"), (2, 3, 2, 1, 3, 8, "same"),
    (2, 3, 1, 2, 2, 5, "same"), (3, 2, 1, 1, 2, 4, "valid"), (1, 3, 2, 1, 1, 4, "same"), (1, 3, 1, 2, 3, 4, "same"),
]


@pytest.mark.parametrize("chunked", [False, True], ids=["kept-columns", "rebuilt-columns"])
@pytest.mark.parametrize("case", ROW_BLOCK_CASES, ids=lambda c: "-".join(map(str, c)))
def test_row_blocked_conv_matches_the_direct_loops(case, chunked, monkeypatch):
    """Forward, input and kernel gradients of convolutions that take the row blocking, against the loops.

    A one-channel input keeps its own gather in the forward (and so the kernel
    gradient); its input gradient is row-blocked all the same.
    """
    from clearconv.kernels.conv import im2col
    from clearconv.kernels.conv.reference import conv_reference_backward
    rank, kernel, stride, dilation, channels, filters, padding = case
    rng = np.random.default_rng(6)
    length = 12 if rank < 3 else 7
    x = rng.standard_normal((3, *(length,) * rank, channels))
    weights = rng.standard_normal((*(kernel,) * rank, channels, filters))
    strides, dilations = (stride,) * rank, (dilation,) * rank
    pads = [shapes.conv_padding(length, kernel, stride, dilation, padding)] * rank
    if chunked:
        monkeypatch.setitem(convolution._settings, "column_buffer_limit", 1)  # one sample per chunk
    y, ctx = conv_ops.conv(x, weights, None, strides, pads, dilations, keep_for_backward=True)
    assert (ctx.blocking is not None) == (channels > 1) and (ctx.columns is None) == chunked
    np.testing.assert_allclose(y, conv_reference(x, weights, None, strides, pads, dilations), rtol=1e-12, atol=1e-12)
    grad = rng.standard_normal(y.shape)
    widths, plain = [], im2col.correlate_input_grad

    def recording(grad, kernel, *rest):
        widths.append(kernel.shape[-1])
        return plain(grad, kernel, *rest)

    monkeypatch.setattr(im2col, "correlate_input_grad", recording)
    dx, dkernel, _ = conv_ops.conv_backward(grad, ctx)
    assert widths and all(width > filters for width in widths)  # the widened kernel's b * F
    want_dx, want_dkernel, _ = conv_reference_backward(grad, x, weights, strides, pads, dilations)
    np.testing.assert_allclose(dx, want_dx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dkernel, want_dkernel, rtol=1e-12, atol=1e-12)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # inf * 0 = NaN, as intended
def test_row_blocking_leaves_inf_and_nan_where_the_plain_convolution_puts_them():
    """The widened kernel's zeros times an inf would be NaN in neighbouring outputs: such values skip the blocking."""
    from clearconv.kernels.conv.reference import conv_reference_backward
    rng = np.random.default_rng(7)
    x, weights = rng.standard_normal((2, 12, 12, 2)), rng.standard_normal((5, 5, 2, 6))
    pads, one = [(2, 2)] * 2, (1, 1)
    y, ctx = conv_ops.conv(x, weights, None, one, pads, one, keep_for_backward=True)
    assert ctx.blocking is not None
    grad = rng.standard_normal(y.shape)
    grad[0, 5, 5, 2], grad[1, 0, 7, 0] = np.inf, np.nan
    dx, dkernel, _ = conv_ops.conv_backward(grad, ctx)
    want_dx, want_dkernel, _ = conv_reference_backward(grad, x, weights, one, pads, one)
    np.testing.assert_allclose(dx, want_dx, rtol=1e-12, atol=1e-12)  # equal NaN positions, equal infinities
    np.testing.assert_allclose(dkernel, want_dkernel, rtol=1e-12, atol=1e-12)
    x[0, 3, 3, 0], x[1, 8, 2, 0] = np.inf, np.nan
    y, ctx = conv_ops.conv(x, weights, None, one, pads, one, keep_for_backward=True)
    assert ctx.blocking is None
    np.testing.assert_allclose(y, conv_reference(x, weights, None, one, pads, one), rtol=1e-12, atol=1e-12)
