"""A convolution forward without backward by Winograd or by the one-channel im2col gather runs in
batch chunks (clearconv.kernels.conv.convolution): the same values as one pass over the batch, bit
for bit, and a peak that stays near the output's size instead of holding the whole batch's padded
copy (and columns). Every other forward must give the one-pass values too."""

import tracemalloc

import numpy as np
import pytest

from clearconv.kernels import conv as conv_ops
from clearconv.kernels import shapes
from clearconv.kernels.conv import convolution
from clearconv.kernels.conv.choice import float32_bound
from clearconv.kernels.conv.reference import conv_reference

# (rank, kernel, stride, dilation, padding, groups, channels, filters, length)
CASES = [(2, 3, 1, 1, "same", 1, 8, 8, 24),       # row-blocked im2col (few filters); Winograd
         (2, 3, 1, 1, "same", 1, 16, 24, 16),     # plain im2col; Winograd
         (2, 5, 1, 1, "same", 1, 1, 6, 28),       # one channel: the tap-major gather
         (2, 3, 2, 1, "same", 1, 8, 32, 24),      # strided
         (2, 3, 1, 2, "same", 1, 8, 32, 16),      # dilated
         (2, 3, 1, 1, "same", 2, 16, 32, 16),     # grouped
         (1, 9, 1, 1, "same", 1, 8, 16, 256),     # 1D, columns as views, padded
         (1, 3, 1, 1, "same", 1, 16, 16, 128),    # 1D Winograd
         (1, 5, 1, 1, "same", 1, 1, 8, 256),      # 1D one channel, columns as views
         (1, 5, 2, 1, "same", 1, 1, 8, 2048),     # 1D one channel strided: tap-major, cut
         (3, 3, 1, 1, "same", 1, 8, 16, 8)]


def make_case(rank, kernel, stride, dilation, padding, groups, channels, filters, length, batch=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, *(length,) * rank, channels)).astype(np.float32)
    weights = rng.standard_normal((*(kernel,) * rank, channels // groups, filters)).astype(np.float32)
    bias = rng.standard_normal(filters).astype(np.float32)
    pads = [shapes.conv_padding(length, kernel, stride, dilation, padding)] * rank
    return x, weights, bias, (stride,) * rank, pads, (dilation,) * rank


def algorithms_for(case):
    rank, kernel, stride, dilation, _, groups, channels, filters, _ = case
    kernel_shape = (kernel,) * rank + (channels // groups, filters)
    return [name for name in conv_ops.ALGORITHMS if name not in ("direct", "fft")   # those two never chunk
            and conv_ops.supports(name, kernel_shape, (stride,) * rank, (dilation,) * rank, groups)]


@pytest.mark.parametrize("case,algorithm", [(case, name) for case in CASES for name in algorithms_for(case)], ids=str)
def test_chunked_inference_equals_one_pass_bit_for_bit(case, algorithm, monkeypatch):
    x, weights, bias, strides, pads, dilations = make_case(*case)
    groups = case[5]
    # keep_for_backward=True never chunks: it is the one-pass forward over the whole batch.
    whole, _ = conv_ops.conv(x, weights, bias, strides, pads, dilations, groups, algorithm=algorithm,
                             activation="relu", keep_for_backward=True)
    monkeypatch.setattr(convolution, "INFERENCE_CHUNK_BYTES", 1)     # the smallest chunks the rules allow
    padded = (x.shape[0], *(n + a + b for n, (a, b) in zip(x.shape[1:-1], pads)), x.shape[-1])
    if case[:3] == (2, 5, 1) and algorithm == "im2col":        # the 2D tap-major case is cut: 13 samples a chunk
        chunks, _ = convolution._inference_chunks(algorithm, padded, weights.shape, strides, dilations, 4)
        assert len(chunks) == 5
    chunked, ctx = conv_ops.conv(x, weights, bias, strides, pads, dilations, groups, algorithm=algorithm,
                                 activation="relu")
    assert ctx is None and chunked.dtype == whole.dtype and chunked.shape == whole.shape
    np.testing.assert_array_equal(chunked, whole)
    # and both are the convolution: the direct loops (float64 accumulation) within the algorithm's
    # float32 bound (of the largest value), checked on the first and last samples (the loops are slow)
    ends = x[[0, -1]]
    want = np.maximum(conv_reference(ends, weights, bias, strides, pads, dilations, groups), 0)
    bound = float32_bound(algorithm, case[0]) * float(np.max(np.abs(want)))
    np.testing.assert_allclose(chunked[[0, -1]], want, rtol=0, atol=bound)


def test_chunks_are_whole_inner_chunks_and_cover_the_batch(monkeypatch):
    monkeypatch.setattr(convolution, "INFERENCE_CHUNK_BYTES", 1)
    # Winograd F(2x2, 3x3) on 16x16 maps: 64 tiles an image, 2**16 // (16 + 24) = 1638 tiles a chunk:
    # 25 whole images, split evenly over a batch of 64 (3 chunks of 22, 22, 20): 22 images
    step = convolution.winograd.batch_step((64, 18, 18, 16), 24, 2)
    assert step == 22
    chunks, got = convolution._inference_chunks("winograd2", (64, 18, 18, 16), (3, 3, 16, 24), (1, 1), (1, 1), 4)
    assert got == step and [c.start for c in chunks] == [0, 22, 44]
    # tap-major: 2**20 // (25 taps * 28*28 cells * 4 B) = 13 samples an inner chunk
    chunks, got = convolution._inference_chunks("im2col", (30, 32, 32, 1), (5, 5, 1, 6), (1, 1), (1, 1), 4)
    assert got is None and [(c.start, c.stop) for c in chunks] == [(0, 13), (13, 26), (26, 39)]
    # the other im2col forwards run in one pass, a 1D one-channel stride-1 one too (its columns are views)
    assert not convolution._chunk_inference("im2col", (64, 18, 18, 16), (3, 3, 16, 24), (1, 1), (1, 1), 1)
    assert not convolution._chunk_inference("im2col", (300, 260, 1), (5, 1, 8), (1,), (1,), 1)
    assert convolution._chunk_inference("im2col", (300, 260, 1), (5, 1, 8), (2,), (1,), 1)   # strided: gathered


def test_the_peak_stays_near_the_output(monkeypatch):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 24, 24, 16)).astype(np.float32)
    weights = rng.standard_normal((3, 3, 16, 16)).astype(np.float32)
    budget = 2**20
    monkeypatch.setattr(convolution, "INFERENCE_CHUNK_BYTES", budget)
    output_bytes = x.nbytes
    padded_bytes = 64 * 26 * 26 * 16 * 4                       # the one pass's padded copy: 2.8 MB
    tracemalloc.start()
    try:
        y, _ = conv_ops.conv(x, weights, None, (1, 1), [(1, 1), (1, 1)], (1, 1), algorithm="winograd2")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert y.nbytes == output_bytes
    # the output; one chunk's padded input and result, within the budget plus one inner chunk of
    # images (26*26*16 + 24*24*16 floats each); Winograd's tile buffers (4 of 16 points * 2**16 // 32
    # tiles * 16 channels, at most); small change
    image = (26 * 26 * 16 + 24 * 24 * 16) * 4
    step = convolution.winograd.batch_step((64, 26, 26, 16), 16, 2)
    tiles = 4 * 16 * (2**16 // 32) * 16 * 4
    bound = output_bytes + budget + step * image + tiles + 64 * 2**10
    assert peak <= bound, (peak, bound)
    assert bound < output_bytes + padded_bytes + tiles           # below the one pass's
