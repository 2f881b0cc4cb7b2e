"""RandomFlip, RandomCrop and RandomContrast.

Oracles, all independent of the code under test:
* hand computations: np.flip of each image, slices of every possible window,
  ``(x - mean) * f + mean`` clipped, written out here;
* real Keras 3 (jax backend) on the deterministic cases: a flip Keras made
  (compared image by image), RandomCrop's central path and its documented
  inference (Keras's Resizing with ``crop_to_aspect_ratio=True``), and
  RandomContrast with a zero-width factor range.
"""

from __future__ import annotations

import numpy as np
import pytest

from clearconv import Tensor
from clearconv.layers import RandomContrast, RandomCrop, RandomFlip
from keras_oracle import import_keras


@pytest.fixture(scope="module")
def keras():
    return import_keras()


def rand(shape, seed=0):
    return np.random.default_rng(seed).uniform(0.0, 1.0, size=shape).astype(np.float32)


def flip_axes(mode, data_format="channels_last"):
    """(height axis, width axis) of a (N, ...) batch, restricted to what ``mode`` reverses."""
    height, width = (1, 2) if data_format == "channels_last" else (2, 3)
    return {"horizontal": (width,), "vertical": (height,), "horizontal_and_vertical": (height, width)}[mode]


# --------------------------------------------------------------------------- RandomFlip


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("mode", ["horizontal", "vertical", "horizontal_and_vertical"])
def test_flip_gives_each_image_or_its_mirror(mode, data_format):
    x = rand((40, 3, 4, 2))
    y = RandomFlip(mode, seed=5, data_format=data_format)(x, training=True)
    # The image axes of one image are its batch axes minus one.
    mirrored = [np.flip(image, axis=tuple(a - 1 for a in flip_axes(mode, data_format))) for image in x]
    flipped = []
    for image, out, mirror in zip(x, y, mirrored):
        if np.array_equal(out, mirror):
            flipped.append(True)
        else:
            np.testing.assert_array_equal(out, image)
            flipped.append(False)
    assert 0 < sum(flipped) < len(x)     # P(all 40 alike) = 2**-39


def test_flip_single_image_and_by_hand():
    image = np.arange(6, dtype=np.float32).reshape(2, 3, 1)
    outs = {tuple(RandomFlip("horizontal", seed=s)(image, training=True)[..., 0].ravel()) for s in range(20)}
    assert outs == {(0, 1, 2, 3, 4, 5), (2, 1, 0, 5, 4, 3)}
    outs = {tuple(RandomFlip(seed=s)(image, training=True)[..., 0].ravel()) for s in range(20)}
    assert outs == {(0, 1, 2, 3, 4, 5), (5, 4, 3, 2, 1, 0)}   # both axes together, or none


@pytest.mark.parametrize("mode", ["horizontal", "vertical", "horizontal_and_vertical"])
def test_flip_matches_keras_where_keras_flips(keras, mode):
    x = rand((16, 4, 5, 3), seed=1)
    theirs = np.asarray(keras.layers.RandomFlip(mode, seed=3)(x, training=True))
    ours = RandomFlip(mode, seed=3)(x, training=True)
    axes = flip_axes(mode)
    for outputs in (theirs, ours):
        mirrored = np.flip(x, axis=axes)
        flipped = np.array([np.array_equal(o, m) for o, m in zip(outputs, mirrored)])
        kept = np.array([np.array_equal(o, i) for o, i in zip(outputs, x)])
        assert np.all(flipped | kept) and flipped.any()
    # An image both libraries flipped is the same image.
    both = [i for i in range(len(x)) if not np.array_equal(theirs[i], x[i]) and not np.array_equal(ours[i], x[i])]
    assert both
    np.testing.assert_array_equal(ours[both], theirs[both])


# --------------------------------------------------------------------------- shared behaviour


LAYERS = [lambda **k: RandomFlip(**k), lambda **k: RandomContrast(0.4, value_range=(0, 1), **k),
          lambda **k: RandomCrop(3, 2, **k)]


@pytest.mark.parametrize("make", LAYERS, ids=["flip", "contrast", "crop"])
def test_same_seed_same_augmentation(make):
    x = rand((4, 5, 6, 2), seed=2)
    first, second = make(seed=11), make(seed=11)
    runs_first = [np.asarray(first(x, training=True)) for _ in range(4)]
    runs_second = [np.asarray(second(x, training=True)) for _ in range(4)]
    for a, b in zip(runs_first, runs_second):
        np.testing.assert_array_equal(a, b)
    # The generator advances: the calls do not all repeat the first.
    assert any(not np.array_equal(runs_first[0], r) for r in runs_first[1:])


@pytest.mark.parametrize("make", LAYERS[:2], ids=["flip", "contrast"])
def test_inference_is_identity(make):
    x = rand((2, 5, 6, 2))
    np.testing.assert_array_equal(make(seed=1)(x, training=False), x)


@pytest.mark.parametrize("make", [RandomFlip, lambda seed: RandomContrast(0.5, seed=seed),
                                  lambda seed: RandomCrop(3, 4, seed=seed)], ids=["flip", "contrast", "crop"])
def test_a_bare_call_augments_as_in_keras(make):
    """Keras's augmentation layers default to training=True: a call that neither gives nor inherits it
    augments, drawing as a call with training=True does; inside predict it is inference."""
    x = rand((6, 5, 6, 2))
    np.testing.assert_array_equal(make(seed=3)(x), make(seed=3)(x, training=True))
    from clearconv.models import Sequential
    from clearconv import layers as L
    model = Sequential([L.Input((5, 6, 2)), make(seed=3)])
    np.testing.assert_array_equal(model.predict(x, verbose=0), make(seed=3)(x, training=False))


# --------------------------------------------------------------------------- RandomCrop


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_crop_training_is_a_window_shared_by_the_batch(data_format):
    x = rand((3, 5, 6, 2)) if data_format == "channels_last" else rand((3, 2, 5, 6))
    layer = RandomCrop(3, 4, seed=0, data_format=data_format)
    starts = set()
    for _ in range(120):
        y = layer(x, training=True)
        found = [(i, j) for i in range(5 - 3 + 1) for j in range(6 - 4 + 1)
                 if np.array_equal(y, x[:, i:i + 3, j:j + 4] if data_format == "channels_last"
                                   else x[:, :, i:i + 3, j:j + 4])]
        assert len(found) == 1
        starts |= set(found)
    assert starts == {(i, j) for i in range(3) for j in range(3)}   # every window is drawn


def test_crop_gradient_reaches_the_window_only():
    x = Tensor(rand((1, 4, 4, 1)), requires_grad=True)
    y = RandomCrop(2, 2, seed=4)(x, training=True)
    y.sum().backward()
    rows, cols = np.nonzero(x.grad[0, ..., 0])
    assert x.grad.sum() == 4 and np.ptp(rows) == 1 and np.ptp(cols) == 1
    np.testing.assert_array_equal(y.data[0, ..., 0], x.data[0, rows.min():rows.min() + 2, cols.min():cols.min() + 2, 0])


@pytest.mark.parametrize("shape,height,width,kwargs", [
    ((2, 6, 8, 2), 4, 4, {}),
    ((2, 10, 6, 1), 4, 8, {}),
    ((2, 4, 4, 3), 5, 5, {}),
    ((7, 5, 2), 3, 3, {}),
    ((2, 2, 9, 6), 4, 3, {"data_format": "channels_first"}),
])
def test_crop_inference_matches_keras_documented(keras, shape, height, width, kwargs):
    x = rand(shape, seed=3)
    ours = RandomCrop(height, width, seed=1, **kwargs)
    expected = np.asarray(keras.layers.Resizing(height, width, crop_to_aspect_ratio=True, **kwargs)(x))
    np.testing.assert_allclose(ours(x, training=False), expected, rtol=1e-5, atol=1e-6)
    assert ours.compute_output_shape(shape) == tuple(keras.layers.RandomCrop(height, width, **kwargs)
                                                      .compute_output_shape(shape))


@pytest.mark.parametrize("shape,height,width,kwargs", [
    ((2, 6, 8, 2), 6, 4, {}),                          # equal height: Keras's central slice, no draw
    ((2, 4, 4, 1), 5, 5, {}),                          # smaller: the image resized
    ((2, 10, 6, 1), 4, 8, {}),                         # narrower: a 4x6 slice resized to 4x8
    ((2, 3, 5, 9), 5, 4, {"data_format": "channels_first"}),
])
def test_crop_training_central_path_matches_keras(keras, shape, height, width, kwargs):
    x = rand(shape, seed=4)
    expected = np.asarray(keras.layers.RandomCrop(height, width, seed=1, **kwargs)(x, training=True))
    ours = RandomCrop(height, width, seed=1, **kwargs)(x, training=True)
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-6)


def test_crop_training_central_slice_by_hand():
    x = rand((1, 6, 8, 1))
    # Target 6x4: ch = min(6, int(8 * 6 / 4)) = 6, cw = min(8, int(6 * 4 / 6)) = 4, start (0, 2).
    np.testing.assert_array_equal(RandomCrop(6, 4)(x, training=True), x[:, :, 2:6])


# --------------------------------------------------------------------------- RandomContrast


def contrast_by_hand(x, factor, low, high, spatial=(1, 2)):
    out = np.empty_like(x, dtype=np.float64)
    for n in range(x.shape[0]):
        image = x[n].astype(np.float64)
        mean = image.mean(axis=tuple(a - 1 for a in spatial), keepdims=True)
        out[n] = np.clip((image - mean) * factor + mean, low, high)
    return out


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("factor,value", [((-0.5, 0.5), 1.5), ((0.0, 0.0), 1.0), ((-0.25, 0.25), 1.25)])
def test_contrast_zero_width_matches_keras_and_hand(keras, factor, value, data_format):
    x = rand((3, 4, 5, 2), seed=6) if data_format == "channels_last" else rand((3, 2, 4, 5), seed=6)
    spatial = (1, 2) if data_format == "channels_last" else (2, 3)
    ours = RandomContrast(factor, value_range=(0, 1), seed=2, data_format=data_format)(x, training=True)
    np.testing.assert_allclose(ours, contrast_by_hand(x, value, 0, 1, spatial), rtol=1e-6, atol=1e-6)
    theirs = keras.layers.RandomContrast(factor, value_range=(0, 1), seed=2, data_format=data_format)(
        x, training=True)
    np.testing.assert_allclose(ours, np.asarray(theirs), rtol=1e-5, atol=1e-6)


def test_contrast_default_range_clips_to_255():
    x = np.array([[[0.0], [100.0]], [[200.0], [250.0]]], dtype=np.float32)   # (2, 2, 1), mean 137.5
    y = RandomContrast((-1.0, 1.0))(x, training=True)                         # factor exactly 2
    np.testing.assert_allclose(y[..., 0], [[0.0, 62.5], [255.0, 255.0]])


def test_contrast_draws_one_factor_per_image_in_range():
    x = rand((50, 4, 4, 3), seed=8)
    layer = RandomContrast(0.3, value_range=(-10, 10), seed=9)                # no clipping reached
    y = layer(x, training=True)
    mean = x.mean(axis=(1, 2), keepdims=True)
    # (50, 4, 4, 3) -> (50, 48): the factor, cell by cell; its median is the image's factor.
    factor = np.median(((y - mean) / (x - mean)).reshape(50, -1), axis=1)      # (50,)
    np.testing.assert_allclose(y, (x - mean) * factor[:, None, None, None] + mean, atol=1e-5)
    assert np.all((factor >= 0.7 - 1e-4) & (factor <= 1.3 + 1e-4))
    assert factor.min() < 0.9 and factor.max() > 1.1                            # both sides of 1 are drawn


# --------------------------------------------------------------------------- arguments and config


@pytest.mark.parametrize("make,argument", [
    (lambda: RandomFlip("diagonal"), "mode"),
    (lambda: RandomFlip(seed=-1), "seed"),
    (lambda: RandomFlip(seed=1.5), "seed"),
    (lambda: RandomFlip(data_format="nhwc"), "data_format"),
    (lambda: RandomCrop(0, 3), "height"),
    (lambda: RandomCrop(3, 2.5), "width"),
    (lambda: RandomContrast(1.5), "factor"),
    (lambda: RandomContrast(-0.1), "factor"),
    (lambda: RandomContrast((0.5, -0.1)), "factor"),
    (lambda: RandomContrast((1.5, 2.0)), "factor"),
    (lambda: RandomContrast((0.1, 0.2, 0.3)), "factor"),
    (lambda: RandomContrast("0.2"), "factor"),
    (lambda: RandomContrast(0.2, value_range=(1, 0)), "value_range"),
    (lambda: RandomContrast(0.2, value_range=255), "value_range"),
])
def test_bad_arguments_are_refused(make, argument):
    with pytest.raises(ValueError, match=f"`{argument}`"):
        make()


@pytest.mark.parametrize("layer", [RandomFlip(), RandomCrop(2, 2), RandomContrast(0.2)],
                         ids=["flip", "crop", "contrast"])
def test_rank_two_input_is_refused(layer):
    with pytest.raises(ValueError, match="rank 4"):
        layer(np.zeros((4, 4), np.float32), training=True)


def test_config_round_trip():
    for layer in (RandomFlip("vertical", seed=3), RandomCrop(4, 5, seed=2, data_format="channels_first"),
                  RandomContrast((0.1, 0.3), value_range=(0, 1), seed=7)):
        config = layer.get_config()
        rebuilt = type(layer).from_config(config)
        assert rebuilt.get_config() == config
        x = rand((2, 6, 6, 6), seed=1)
        np.testing.assert_array_equal(layer(x, training=True), rebuilt(x, training=True))
