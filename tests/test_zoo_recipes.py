"""The zoo models behind the training recipes of docs/training.md: mnist1d_cnn (the published MNIST-1D
CNN) and augmented_vgg (augmentation at its input, under 1M parameters).

Shapes and counts are checked against hand arithmetic; the augmentation against its definition: the
identity in inference, a change of the input (and nothing but flips and whole-pixel shifts) in training.
"""

import numpy as np
import pytest

from clearconv import layers as L
from clearconv import optimizers, utils, zoo
from clearconv.models import load_model

rng = np.random.default_rng(0)


# --- mnist1d_cnn: the mnist1d repository's ConvBase ---------------------------------------------------
def conv_length(length: int, width: int, stride: int = 2, padding: int = 1) -> int:
    """PyTorch's Conv1d output length: floor((L + 2 p - w) / s) + 1."""
    return (length + 2 * padding - width) // stride + 1


def test_mnist1d_cnn_has_convbase_lengths_and_count():
    model = zoo.mnist1d_cnn()
    convs = [layer for layer in model.layers if isinstance(layer, L.Conv1D)]
    lengths, length = [], 40
    for width in (5, 3, 3):
        length = conv_length(length, width)
        lengths.append(length)
    assert lengths == [19, 10, 5]
    assert [tuple(conv.output.shape) for conv in convs] == [(None, n, 25) for n in lengths]
    by_hand = (5 * 1 * 25 + 25) + 2 * (3 * 25 * 25 + 25) + (5 * 25 * 10 + 10)
    assert model.count_params() == by_hand == 5_210


def test_mnist1d_cnn_kernels_are_drawn_as_pytorch_draws_them():
    """Uniform in +-1/sqrt(fan_in): the bound is nearly reached and never passed; biases start at zero."""
    utils.set_seed(0)
    model = zoo.mnist1d_cnn()
    for layer in model.layers:
        if isinstance(layer, (L.Conv1D, L.Dense)):
            kernel = np.asarray(layer.kernel.numpy())
            bound = 1 / np.sqrt(np.prod(kernel.shape[:-1]))          # fan_in: width x input channels
            assert np.abs(kernel).max() <= bound
            assert np.abs(kernel).max() > 0.9 * bound
            assert not np.any(np.asarray(layer.bias.numpy()))


# --- augmented_vgg ----------------------------------------------------------------------------------
def test_augmented_vgg_builds_under_a_million_parameters():
    model = zoo.augmented_vgg()
    assert tuple(model.outputs[0].shape) == (None, 10)
    # conv (9 C_in C_out) + BN (4 C) per block, dense 128 x 10 + 10
    blocks = [(1, 32), (32, 64), (64, 64), (64, 128), (128, 128)]
    by_hand = sum(9 * c_in * c_out + 4 * c_out for c_in, c_out in blocks) + 128 * 10 + 10
    assert model.count_params() == by_hand == 279_722 < 1_000_000
    kinds = [type(layer) for layer in model.layers[:2]]
    assert kinds == [L.RandomFlip, L.RandomTranslation]


def test_augmented_vgg_augmentation_is_inactive_in_predict():
    """predict and evaluate see the image as it is: the model equals the same weights without the two layers."""
    model = zoo.augmented_vgg()
    x = rng.random((6, 28, 28, 1), dtype=np.float32)
    first = model.predict(x, verbose=0)
    np.testing.assert_array_equal(model.predict(x, verbose=0), first)   # no draw in inference
    features = x
    for layer in model.layers[2:]:
        features = layer(features, training=False)
    np.testing.assert_allclose(first, np.asarray(features), rtol=1e-5, atol=1e-7)


def test_augmented_vgg_augmentation_flips_and_shifts_in_training():
    """In training each image comes out as itself flipped or not, shifted by whole pixels (nearest
    reading of a shift of at most 0.1 x 28 = 2.8, so at most 3), zeros brought in: found by trying every
    such placement."""
    utils.set_seed(3)
    model = zoo.augmented_vgg()
    x = rng.random((8, 28, 28, 1), dtype=np.float32) + 0.5          # no zero pixel of its own
    augmented = x
    for layer in model.layers[:2]:
        augmented = np.asarray(layer(augmented, training=True))
    assert not np.array_equal(augmented, x)

    def placements(image):
        for candidate in (image, image[:, ::-1]):
            for dy in range(-3, 4):
                for dx in range(-3, 4):
                    shifted = np.zeros_like(candidate)
                    shifted[max(dy, 0):28 + min(dy, 0), max(dx, 0):28 + min(dx, 0)] = \
                        candidate[max(-dy, 0):28 - max(dy, 0), max(-dx, 0):28 - max(dx, 0)]
                    yield shifted
    for image, out in zip(x, augmented):
        assert any(np.array_equal(out, placed) for placed in placements(image))


def test_augmented_vgg_trains_one_step():
    utils.set_seed(0)
    model = zoo.augmented_vgg()
    model.compile(optimizer=optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    x, y = rng.random((16, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, 16)
    before = [np.array(weight) for weight in model.get_weights()]
    loss = model.train_on_batch(x, y)
    assert np.isfinite(loss)
    assert all(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))   # kernels, BN stats too


def test_augmented_vgg_round_trips_through_a_file(tmp_path):
    model = zoo.augmented_vgg()
    x = rng.random((3, 28, 28, 1), dtype=np.float32)
    model.save(tmp_path / "m.clearconv")
    loaded = load_model(tmp_path / "m.clearconv")
    assert [type(layer) for layer in loaded.layers[:2]] == [L.RandomFlip, L.RandomTranslation]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize("shape", [(32, 32, 3), (28, 28, 1)])
def test_augmented_vgg_takes_other_image_shapes(shape):
    model = zoo.augmented_vgg(input_shape=shape, num_classes=5)
    assert tuple(model.outputs[0].shape) == (None, 5)
