"""The tutorial kernels, applied by DepthwiseConv2D, against a 2D correlation written here with loops."""

import numpy as np
import pytest

from clearconv.explain.filters import KERNELS, apply_kernel, kernel


def correlate(channel, k, padding):
    """Plain 2D correlation (no flip) of one channel; 'same' pads zeros (k - 1) // 2 before, the rest after."""
    kh, kw = k.shape
    if padding == "same":
        channel = np.pad(channel, (((kh - 1) // 2, kh // 2), ((kw - 1) // 2, kw // 2)))
    out = np.zeros((channel.shape[0] - kh + 1, channel.shape[1] - kw + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = sum(channel[i + a, j + b] * k[a, b] for a in range(kh) for b in range(kw))
    return out


@pytest.mark.parametrize("name", list(KERNELS))
@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("channels", [0, 3])
def test_matches_loop_correlation(name, padding, channels):
    rng = np.random.default_rng(len(name) + channels)
    shape = (9, 11) if channels == 0 else (9, 11, channels)
    image = rng.random(shape).astype(np.float32)
    k = kernel(name)
    result = apply_kernel(image, k, padding)
    planes = [image] if channels == 0 else [image[:, :, c] for c in range(channels)]
    expected = np.stack([correlate(p.astype(np.float64), k.astype(np.float64), padding) for p in planes], -1)
    if channels == 0:
        expected = expected[:, :, 0]
    assert result.shape == expected.shape
    np.testing.assert_allclose(result, expected, atol=1e-5)


def test_tutorial_values():
    assert kernel("gaussian").tolist() == (np.outer([1, 2, 1], [1, 2, 1]) / 16).astype(np.float32).tolist()
    assert kernel("sharpen").shape == kernel("blur").shape == (5, 5)
    np.testing.assert_allclose(kernel("sharpen").sum(), 1, atol=1e-6)
    np.testing.assert_allclose(kernel("blur").sum(), 1, atol=1e-6)
    assert np.count_nonzero(kernel("blur")) == 13
    for name in ("edge", "laplacian", "sobel-x", "sobel-y"):
        assert kernel(name).sum() == 0
    np.testing.assert_allclose(kernel("box"), np.full((3, 3), 1 / 9), rtol=1e-6)
    for make in KERNELS.values():
        assert make.__doc__


def test_unknown_name_and_bad_inputs():
    with pytest.raises(ValueError, match="sobel-x"):
        kernel("nope")
    with pytest.raises(ValueError, match="does not fit"):
        apply_kernel(np.zeros((3, 3)), kernel("blur"), "valid")
    with pytest.raises(ValueError, match="padding"):
        apply_kernel(np.zeros((8, 8)), kernel("box"), "full")
