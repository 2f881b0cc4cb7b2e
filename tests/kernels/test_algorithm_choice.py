"""The conv dispatcher's choice of algorithm: the names a layer accepts, the
float32 bound of each algorithm and of "auto", and a forward that does not
depend on whether a backward pass follows."""

import numpy as np
import pytest

from clearconv import Tensor, layers
from clearconv.kernels import conv as conv_ops
from clearconv.kernels.conv.choice import AUTO_CHOICES, FLOAT32_BOUNDS, float32_bound
from clearconv.kernels.conv.reference import conv_reference


def wide_3x3_case(channels, filters=32, seed=0, dtype=np.float64):
    """A 3x3 'same' convolution of (2, 8, 8, channels), standard-normal data; pads and float64 reference."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 8, 8, channels))
    kernel = rng.standard_normal((3, 3, channels, filters))
    pads = ((1, 1), (1, 1))
    reference = conv_reference(x, kernel, None, (1, 1), pads, (1, 1))
    return x.astype(dtype), kernel.astype(dtype), pads, reference


@pytest.mark.parametrize("channels", [64, 128, 256, 512])
@pytest.mark.parametrize("algorithm", ["auto", "im2col", "fft", "winograd2", "winograd4"])
def test_every_algorithm_keeps_its_float32_bound_on_wide_3x3_layers(algorithm, channels):
    worst = 0.0
    for seed in range(3):
        x, kernel, pads, reference = wide_3x3_case(channels, seed=seed, dtype=np.float32)
        y, _ = conv_ops.conv(x, kernel, None, (1, 1), pads, (1, 1), algorithm=algorithm)
        assert y.dtype == np.float32
        worst = max(worst, np.abs(y - reference).max() / np.abs(reference).max())
    chosen = conv_ops.resolve_algorithm(algorithm, (2, 10, 10, channels), kernel.shape, (1, 1), (1, 1), 1)
    assert worst <= float32_bound(algorithm, 2), f"{algorithm} ({chosen}) at {channels} channels: {worst:.2e}"


def test_the_float32_bounds_by_algorithm_and_rank():
    assert set(FLOAT32_BOUNDS) == set(conv_ops.ALGORITHMS)
    for rank in (1, 2, 3):
        for name in ("im2col", "fft", "direct", "auto"):
            assert float32_bound(name, rank) == 1e-5, (name, rank)
    assert float32_bound("winograd2", 1) == float32_bound("winograd2", 2) == 1e-5
    assert float32_bound("winograd4", 1) == 1e-5 and float32_bound("winograd4", 2) == 3e-5
    assert float32_bound("winograd", 2) == float32_bound("winograd4", 2)  # the alias
    with pytest.raises(ValueError, match="3 spatial axes"):
        float32_bound("winograd4", 3)
    with pytest.raises(ValueError, match="`algorithm` must be one of"):
        float32_bound("winograd8", 2)


def test_auto_picks_winograd_only_with_the_small_tile():
    for channels in (16, 64, 512):
        chosen = conv_ops.choose_algorithm((8, 34, 34, channels), (3, 3, channels, channels), (1, 1), (1, 1), 1)
        assert chosen in ("im2col", "winograd2"), (channels, chosen)
        assert chosen in AUTO_CHOICES  # whose bounds float32_bound("auto", rank) keeps
    assert conv_ops.choose_algorithm((8, 34, 34, 512), (3, 3, 512, 512), (1, 1), (1, 1), 1) == "winograd2"


# --- a forward that does not depend on the backward ----------------------------------------------


@pytest.mark.parametrize("channels", [16, 32, 64])
def test_a_layer_gives_the_same_output_for_a_numpy_and_a_tensor_input(channels):
    """At these widths "auto" used to take Winograd at inference and im2col when a backward followed."""
    x = np.random.default_rng(channels).standard_normal((2, 12, 12, channels)).astype(np.float32)
    layer = layers.Conv2D(channels, 3, padding="same")
    plain = layer(x)
    assert isinstance(plain, np.ndarray)
    recorded = layer(Tensor(x.copy(), requires_grad=True))
    np.testing.assert_array_equal(recorded.data, plain)
    np.testing.assert_array_equal(layer(Tensor(x.copy())).data, plain)  # a tensor that needs no gradient


def test_the_choice_takes_no_account_of_a_following_backward():
    x = np.random.default_rng(0).standard_normal((1, 6, 6, 32)).astype(np.float32)
    kernel = np.random.default_rng(1).standard_normal((3, 3, 32, 32)).astype(np.float32)
    args = (x, kernel, None, (1, 1), ((1, 1), (1, 1)), (1, 1))
    y_inference, _ = conv_ops.conv(*args)
    y_training, ctx = conv_ops.conv(*args, keep_for_backward=True)
    np.testing.assert_array_equal(y_training, y_inference)
    assert ctx.algorithm == layers.Conv2D(32, 3, padding="same").algorithm_for(x.shape)


# --- names ----------------------------------------------------------------------------------------


def test_the_algorithms_and_the_winograd_alias():
    assert set(conv_ops.ALGORITHMS) == {"im2col", "winograd2", "winograd4", "fft", "direct"}
    shape = ((1, 6, 6, 2), (3, 3, 2, 2), (1, 1), (1, 1), 1)
    assert conv_ops.resolve_algorithm("winograd", *shape) == "winograd4"  # the tile "winograd" always meant
    for name in ("winograd2", "winograd4"):
        assert conv_ops.resolve_algorithm(name, *shape) == name
        assert conv_ops.resolve_algorithm(name, (1, 8, 2), (3, 2, 2), (1,), (1,), 1) == name  # Conv1D too


@pytest.mark.parametrize("layer_class, shape", [(layers.Conv1D, (2, 11, 3)), (layers.Conv2D, (2, 9, 8, 3))])
@pytest.mark.parametrize("algorithm", ["auto", "im2col", "winograd", "winograd2", "winograd4", "fft", "direct"])
def test_layer_accepts_each_algorithm_and_its_config_round_trips(layer_class, shape, algorithm):
    x = np.random.default_rng(3).standard_normal(shape)
    layer = layer_class(4, 3, padding="same", algorithm=algorithm, dtype="float64")
    y = layer(x)
    clone = layer_class.from_config(layer.get_config())
    assert clone.algorithm == algorithm and clone.get_config()["algorithm"] == algorithm
    rank = len(shape) - 2
    reference = conv_reference(x, layer.kernel.data, layer.bias.data, (1,) * rank, [(1, 1)] * rank, (1,) * rank)
    np.testing.assert_allclose(y, reference, rtol=1e-10, atol=1e-10 * np.abs(reference).max())


def test_bad_algorithm_names_the_argument_and_lists_the_accepted_values():
    with pytest.raises(ValueError, match=r"`algorithm` must be one of .*'winograd2'.*'winograd4'.*received "
                                         r"algorithm='winograd8'"):
        layers.Conv2D(2, 3, algorithm="winograd8")
    with pytest.raises(ValueError, match="'winograd2' cannot compute"):
        layers.Conv3D(2, 3, algorithm="winograd2")(np.zeros((1, 4, 4, 4, 1)))
