"""The conv dispatcher: every algorithm computes the same function (forward and
backward, against the direct loops), overrides per call / layer / globally,
batch chunking under the column-buffer limit, and the fused bias + relu."""

import numpy as np
import pytest

from clearconv import layers
from clearconv.kernels import conv as conv_ops
from clearconv.kernels import shapes
from clearconv.kernels.conv import convolution
from clearconv.kernels.conv.reference import conv_reference, conv_reference_backward


def make_case(rank, kernel, stride, dilation, padding, channels=3, filters=4, groups=1, batch=2,
              length=9, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, *(length,) * rank, channels)).astype(dtype)
    weights = rng.standard_normal((*(kernel,) * rank, channels // groups, filters)).astype(dtype)
    bias = rng.standard_normal(filters).astype(dtype)
    pads = [shapes.conv_padding(length, kernel, stride, dilation, padding)] * rank
    return x, weights, bias, (stride,) * rank, pads, (dilation,) * rank


# (rank, kernel, stride, dilation, padding, groups): shapes every algorithm is asked about.
CASES = [(2, 3, 1, 1, "same", 1), (2, 3, 1, 1, "valid", 1), (2, 5, 1, 1, "same", 1), (2, 3, 2, 1, "same", 1),
         (1, 9, 1, 1, "same", 1), (1, 3, 1, 2, "causal", 1), (3, 3, 1, 1, "same", 1), (2, 3, 1, 1, "same", 3),
         (1, 3, 1, 1, "same", 1), (1, 3, 1, 1, "valid", 1)]


def supported_cases():
    for algorithm in conv_ops.ALGORITHMS:
        for case in CASES:
            rank, kernel, stride, dilation, _, groups = case
            kernel_shape = (kernel,) * rank + (3 // groups, 6)
            if conv_ops.supports(algorithm, kernel_shape, (stride,) * rank, (dilation,) * rank, groups):
                yield algorithm, case


@pytest.mark.parametrize("algorithm,case", list(supported_cases()), ids=str)
def test_every_algorithm_matches_the_direct_loops_forward_and_backward(algorithm, case):
    rank, kernel, stride, dilation, padding, groups = case
    x, weights, bias, strides, pads, dilations = make_case(rank, kernel, stride, dilation, padding,
                                                          filters=6, groups=groups, length=7 if rank == 3 else 9)
    y, ctx = conv_ops.conv(x, weights, bias, strides, pads, dilations, groups, algorithm=algorithm,
                           keep_for_backward=True)
    np.testing.assert_allclose(y, conv_reference(x, weights, bias, strides, pads, dilations, groups),
                               rtol=1e-9, atol=1e-9)
    grad = np.random.default_rng(1).standard_normal(y.shape)
    expected = conv_reference_backward(grad, x, weights, strides, pads, dilations, groups)
    for got, want, name in zip(conv_ops.conv_backward(grad, ctx), expected, ("dx", "dkernel", "dbias")):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9, err_msg=f"{algorithm} {name}")


def test_reference_backward_matches_finite_differences():
    from gradcheck import assert_vjp_matches
    x, weights, bias, strides, pads, dilation = make_case(2, 3, 2, 1, "same", groups=1, batch=1, length=5)

    def forward(x, weights, bias):
        return conv_reference(x, weights, bias, strides, pads, dilation)

    def backward(grad, x, weights, bias):
        return conv_reference_backward(grad, x, weights, strides, pads, dilation)

    assert_vjp_matches(forward, backward, [x, weights, bias])


def test_unknown_and_unsupported_algorithms_are_refused_by_name():
    x, weights, bias, strides, pads, dilation = make_case(2, 3, 2, 1, "same")
    with pytest.raises(ValueError, match="`algorithm` must be one of"):
        conv_ops.conv(x, weights, bias, strides, pads, dilation, algorithm="magic")
    with pytest.raises(ValueError, match="`algorithm` must be one of"):
        conv_ops.set_default_algorithm("magic")
    with pytest.raises(ValueError, match="`algorithm` must be one of"):
        layers.Conv2D(2, 3, algorithm="fastest")
    for name in ("winograd", "winograd2", "winograd4"):  # Winograd is 3x3 stride 1 only
        with pytest.raises(ValueError, match=f"'{name}' cannot compute"):
            conv_ops.conv(x, weights, bias, strides, pads, dilation, algorithm=name)


def test_global_default_applies_unless_the_layer_names_its_algorithm(monkeypatch):
    calls = []
    original = conv_ops.reference.conv_reference

    def spy(*args, **kwargs):
        calls.append("direct")
        return original(*args, **kwargs)

    monkeypatch.setattr(conv_ops.reference, "conv_reference", spy)
    x = np.random.default_rng(0).random((1, 5, 5, 2)).astype(np.float32)
    follows, pinned = layers.Conv2D(3, 3), layers.Conv2D(3, 3, algorithm="im2col")
    y_default = follows(x)
    try:
        conv_ops.set_default_algorithm("direct")
        assert conv_ops.default_algorithm() == "direct"
        y_direct = follows(x)
        assert calls == ["direct"]
        pinned(x)
        assert calls == ["direct"]  # the layer's own choice wins over the global one
    finally:
        conv_ops.set_default_algorithm("auto")
    np.testing.assert_allclose(y_direct, y_default, rtol=1e-5, atol=1e-6)


def test_layer_reports_the_algorithm_it_runs():
    assert layers.Conv2D(2, 3, algorithm="direct").algorithm_for((1, 8, 8, 3)) == "direct"
    automatic = layers.Conv2D(2, 3, strides=2, padding="same")
    assert automatic.algorithm_for((1, 8, 8, 3)) == conv_ops.choose_algorithm((1, 9, 9, 3), (3, 3, 3, 2), (2, 2),
                                                                              (1, 1), 1)


def test_layer_algorithm_is_in_its_config_only_when_set():
    assert "algorithm" not in layers.Conv2D(2, 3).get_config()
    layer = layers.Conv2D.from_config(layers.Conv2D(2, 3, algorithm="direct").get_config())
    assert layer.algorithm == "direct"


@pytest.mark.parametrize("case", [(2, 5, 1, 1, "same", 1), (2, 3, 2, 1, "same", 2), (1, 9, 2, 1, "same", 1)],
                         ids=str)
def test_chunked_batches_give_the_unchunked_result(case, monkeypatch):
    rank, kernel, stride, dilation, padding, groups = case
    x, weights, bias, strides, pads, dilations = make_case(rank, kernel, stride, dilation, padding,
                                                          channels=4, groups=groups, batch=5)
    y, ctx = conv_ops.conv(x, weights, bias, strides, pads, dilations, groups, keep_for_backward=True)
    grad = np.random.default_rng(2).standard_normal(y.shape)
    whole = conv_ops.conv_backward(grad, ctx)
    assert ctx.columns is not None
    blocking = ctx.blocking  # the columns are those of the row-blocked convolution where there is one
    geometry = (blocking.kernel.shape, blocking.strides, blocking.dilation) if blocking else (weights.shape, strides,
                                                                                             dilations)
    one_sample = convolution.column_bytes(ctx.padded_input, *geometry)
    monkeypatch.setitem(convolution._settings, "column_buffer_limit", 2 * one_sample)  # chunks of 2 samples
    y_chunked, ctx = conv_ops.conv(x, weights, bias, strides, pads, dilations, groups, keep_for_backward=True)
    assert ctx.columns is None  # too big to keep: rebuilt chunk by chunk in the backward
    np.testing.assert_allclose(y_chunked, y, rtol=1e-12, atol=1e-12)
    for got, want in zip(conv_ops.conv_backward(grad, ctx), whole):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_column_buffer_limit_is_validated():
    with pytest.raises(ValueError, match="positive number of bytes"):
        conv_ops.set_column_buffer_limit(0)


def test_fused_relu_equals_relu_after_the_conv_forward_and_backward():
    x, weights, bias, strides, pads, dilation = make_case(2, 3, 1, 1, "same")
    y, ctx = conv_ops.conv(x, weights, bias, strides, pads, dilation, activation="relu", keep_for_backward=True)
    plain, plain_ctx = conv_ops.conv(x, weights, bias, strides, pads, dilation, keep_for_backward=True)
    np.testing.assert_array_equal(y, np.maximum(plain, 0))
    grad = np.random.default_rng(3).standard_normal(y.shape)
    (dx, dkernel, dbias), want = conv_ops.conv_backward(grad, ctx), conv_ops.conv_backward(grad * (plain > 0), plain_ctx)
    np.testing.assert_array_equal(dx, want[0])
    np.testing.assert_array_equal(dkernel, want[1])
    np.testing.assert_array_equal(dbias, want[2])
    with pytest.raises(ValueError, match="activation must be one of"):
        conv_ops.conv(x, weights, bias, strides, pads, dilation, activation="tanh")


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_conv_layer_with_relu_fuses_it_and_keeps_keras_results(data_format):
    from clearconv.autograd import Tensor
    x = np.random.default_rng(4).standard_normal((2, 6, 6, 3)).astype(np.float32)
    if data_format == "channels_first":
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    fused = layers.Conv2D(4, 3, padding="same", activation="relu", data_format=data_format)
    plain = layers.Conv2D(4, 3, padding="same", data_format=data_format)
    fused.build(x.shape)
    plain.build(x.shape)
    plain.set_weights(fused.get_weights())
    np.testing.assert_array_equal(fused(x), np.maximum(plain(x), 0))
    fused_input, plain_input = Tensor(x, requires_grad=True), Tensor(x, requires_grad=True)
    fused(fused_input).sum().backward()
    out = plain(plain_input)
    (out * (out.data > 0).astype(np.float32)).sum().backward()  # d relu = the mask of positive outputs
    np.testing.assert_allclose(fused_input.grad, plain_input.grad, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(fused.kernel.grad, plain.kernel.grad, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("length,kernel,batch,padding", [(9, 9, 2, "same"), (5, 5, 3, "valid"), (12, 2, 1, "causal"),
                                                         (7, 4, 4, "same")])
def test_1d_stride_1_columns_as_views_match_the_direct_loops(length, kernel, batch, padding):
    """1D stride-1 convolutions read their columns as strided views of the input (no column buffer)."""
    x, weights, bias, strides, pads, dilation = make_case(1, kernel, 1, 1, padding, batch=batch, length=length)
    y, ctx = conv_ops.conv(x, weights, bias, strides, pads, dilation, keep_for_backward=True)
    assert ctx.columns is None
    np.testing.assert_allclose(y, conv_reference(x, weights, bias, strides, pads, dilation), rtol=1e-12, atol=1e-12)
    grad = np.random.default_rng(6).standard_normal(y.shape)
    expected = conv_reference_backward(grad, x, weights, strides, pads, dilation)
    for got, want in zip(conv_ops.conv_backward(grad, ctx), expected):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("channels,expected", [(8, "im2col"), (16, "winograd2"), (64, "winograd2")])
def test_auto_takes_winograd_from_the_tuned_width_with_or_without_a_backward(channels, expected, monkeypatch):
    monkeypatch.setattr(conv_ops.choice, "WINOGRAD_MIN_CHANNELS", 16)
    kernel_shape = (3, 3, channels, channels)
    assert conv_ops.choose_algorithm((2, 10, 10, channels), kernel_shape, (1, 1), (1, 1), 1) == expected
    x, weights, bias, strides, pads, dilation = make_case(2, 3, 1, 1, "same", channels=channels, filters=channels,
                                                          batch=1, length=6, dtype=np.float32)
    _, ctx = conv_ops.conv(x, weights, bias, strides, pads, dilation, keep_for_backward=True)
    assert ctx.algorithm == expected
    assert layers.Conv2D(channels, 3, padding="same").algorithm_for(x.shape) == expected


@pytest.mark.parametrize("channels,filters,kernel,block", [(1, 6, 5, None), (3, 8, 3, 64), (2, 3, 3, 100)])
def test_thin_kernel_gradients_summed_over_row_blocks_match_the_direct_loops(channels, filters, kernel, block,
                                                                             monkeypatch):
    """A kernel gradient of <= SMALL_KERNEL_GRAD entries sums its GEMM over blocks of rows."""
    from clearconv.kernels.conv import im2col
    assert kernel ** 2 * channels * filters <= im2col.SMALL_KERNEL_GRAD
    if block is not None:
        monkeypatch.setattr(im2col, "REDUCTION_BLOCK", block)
    batch, length = (16, 28) if block is None else (2, 13)   # 9,216 rows: LeNet's conv1 at batch 16
    x, weights, bias, strides, pads, dilation = make_case(2, kernel, 1, 1, "valid", channels=channels,
                                                          filters=filters, batch=batch, length=length)
    y, ctx = conv_ops.conv(x, weights, bias, strides, pads, dilation, algorithm="im2col", keep_for_backward=True)
    rows = y.size // filters
    assert rows > 2 * im2col.REDUCTION_BLOCK and rows % im2col.REDUCTION_BLOCK  # several blocks, a partial last one
    grad = np.random.default_rng(7).standard_normal(y.shape)
    # The definition, one tap at a time: dkernel[i, j] = sum over n, o of x[n, o + (i, j)] (x) grad[n, o].
    out = y.shape[1]
    expected = np.array([[np.tensordot(x[:, i:i + out, j:j + out], grad, axes=([0, 1, 2], [0, 1, 2]))
                          for j in range(kernel)] for i in range(kernel)])
    np.testing.assert_allclose(conv_ops.conv_backward(grad, ctx)[1], expected, rtol=1e-10, atol=1e-10)


# (rank, kernel, stride, channels, filters): each algorithm's shapes (1x1, one channel, strided, 1D views, 3D).
EMPTY_BATCH_CASES = [(2, 3, 1, 3, 4), (2, 5, 1, 1, 6), (2, 3, 2, 3, 4), (2, 1, 1, 8, 4), (1, 3, 1, 3, 4),
                     (1, 3, 2, 3, 4), (3, 2, 1, 2, 3), (2, 3, 1, 64, 64)]


def empty_batch_cases():
    for algorithm in conv_ops.ALGORITHMS:
        for case in EMPTY_BATCH_CASES:
            rank, kernel, stride, channels, filters = case
            if conv_ops.supports(algorithm, (kernel,) * rank + (channels, filters), (stride,) * rank,
                                 (1,) * rank, 1):
                yield algorithm, case
    for case in EMPTY_BATCH_CASES:
        yield None, case  # the automatic choice


@pytest.mark.parametrize("algorithm,case", list(empty_batch_cases()), ids=str)
def test_an_empty_batch_gives_empty_outputs_and_zero_weight_gradients_as_torch(algorithm, case):
    torch = pytest.importorskip("torch")
    rank, kernel, stride, channels, filters = case
    x = np.zeros((0, *(7,) * rank, channels), np.float32)
    rng = np.random.default_rng(0)
    weights = rng.standard_normal((*(kernel,) * rank, channels, filters)).astype(np.float32)
    bias = rng.standard_normal(filters).astype(np.float32)
    pads = [shapes.conv_padding(7, kernel, stride, 1, "same")] * rank
    for activation in (None, "relu"):
        y, ctx = conv_ops.conv(x, weights, bias, (stride,) * rank, pads, (1,) * rank, algorithm=algorithm,
                               activation=activation, keep_for_backward=True)
        dx, dkernel, dbias = conv_ops.conv_backward(np.zeros(y.shape, np.float32), ctx)

        # torch, channels_first, the same padding written out
        torch_x = torch.zeros((0, channels, *(7,) * rank), requires_grad=True)
        torch_w = torch.tensor(np.moveaxis(weights, (-1, -2), (0, 1)).copy(), requires_grad=True)
        torch_b = torch.tensor(bias, requires_grad=True)
        padded = torch.nn.functional.pad(torch_x, [p for pair in reversed(pads) for p in pair])
        torch_y = {1: torch.nn.functional.conv1d, 2: torch.nn.functional.conv2d,
                   3: torch.nn.functional.conv3d}[rank](padded, torch_w, torch_b, stride=stride)
        torch_y.sum().backward()
        label = f"{algorithm} {case} {activation}"
        assert y.shape == tuple(np.moveaxis(torch_y.detach().numpy(), 1, -1).shape) and y.dtype == np.float32, label
        assert dx.shape == x.shape and dx.dtype == np.float32, label
        np.testing.assert_array_equal(dkernel, np.moveaxis(torch_w.grad.numpy(), (0, 1), (-1, -2)), err_msg=label)
        np.testing.assert_array_equal(dbias, torch_b.grad.numpy(), err_msg=label)
        assert dkernel.dtype == dbias.dtype == np.float32, label


@pytest.mark.parametrize("layer_class, shape", [
    (layers.Conv1D, (0, 9, 3)), (layers.Conv2D, (0, 9, 8, 3)), (layers.Conv3D, (0, 5, 4, 5, 2)),
    (layers.DepthwiseConv2D, (0, 6, 6, 3)), (layers.Conv2DTranspose, (0, 4, 5, 3))])
def test_layers_on_an_empty_batch(layer_class, shape):
    from clearconv.autograd import Tensor
    layer = layer_class(3, strides=2, padding="same") if layer_class is layers.DepthwiseConv2D else \
        layer_class(4, 3, strides=2, padding="same")
    x = Tensor(np.zeros(shape, np.float32), requires_grad=True)
    y = layer(x)
    assert y.shape == layer.compute_output_shape(shape) and y.shape[0] == 0
    y.sum().backward()
    assert x.grad.shape == shape
    for weight in layer.weights:
        np.testing.assert_array_equal(weight.grad, np.zeros(weight.shape, np.float32))
