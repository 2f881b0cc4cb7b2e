"""ops.image.affine_transform and RandomTranslation / RandomRotation / RandomZoom.

Oracles: a per-pixel loop over an image padded by ``np.pad`` (whose modes are
the fill modes written independently), hand-computed small images, and real
Keras 3 (jax backend) on random transforms and on factor ranges of zero width,
where the random draw no longer matters.
"""

import numpy as np
import pytest

import clearconv
from clearconv import layers
from clearconv.ops import image as image_ops

FILL_MODES = ("constant", "nearest", "wrap", "mirror", "reflect")
# fill_mode -> np.pad's mode for the same extension of the image beyond its edges.
NP_PAD_MODES = {"nearest": "edge", "wrap": "wrap", "mirror": "reflect", "reflect": "symmetric"}


def loop_affine_transform(image, transform, interpolation, fill_mode, fill_value):
    """One (H, W, C) image through the 8-parameter map, pixel by pixel, in float64."""
    height, width, _ = image.shape
    margin = 4 * (height + width)
    padding = ((margin, margin), (margin, margin), (0, 0))
    if fill_mode == "constant":
        padded = np.pad(image.astype(np.float64), padding, constant_values=fill_value)
    else:
        padded = np.pad(image.astype(np.float64), padding, mode=NP_PAD_MODES[fill_mode])
    a0, a1, a2, b0, b1, b2, c0, c1 = np.asarray(transform, np.float64)
    out = np.zeros(image.shape)
    for y in range(height):
        for x in range(width):
            k = c0 * x + c1 * y + 1
            sx, sy = (a0 * x + a1 * y + a2) / k + margin, (b0 * x + b1 * y + b2) / k + margin
            if interpolation == "nearest":
                rx = int(np.floor(sx + 0.5)) if sx >= 0 else -int(np.floor(-sx + 0.5))
                ry = int(np.floor(sy + 0.5)) if sy >= 0 else -int(np.floor(-sy + 0.5))
                out[y, x] = padded[ry, rx]
            else:
                x0, y0 = int(np.floor(sx)), int(np.floor(sy))
                dx, dy = sx - x0, sy - y0
                out[y, x] = ((1 - dy) * ((1 - dx) * padded[y0, x0] + dx * padded[y0, x0 + 1])
                             + dy * ((1 - dx) * padded[y0 + 1, x0] + dx * padded[y0 + 1, x0 + 1]))
    return out


def random_affine(rng, batch, projective=False):
    """(batch, 8) float32 maps: rotations, shears, scales and shifts of a few pixels."""
    rows = np.concatenate([rng.uniform(-1.5, 1.5, (batch, 2)), rng.uniform(-4, 4, (batch, 1)),
                           rng.uniform(-1.5, 1.5, (batch, 2)), rng.uniform(-4, 4, (batch, 1)),
                           rng.uniform(-0.05, 0.05, (batch, 2)) if projective else np.zeros((batch, 2))], axis=1)
    return rows.astype(np.float32)


# --------------------------------------------------------------------------- affine_transform


@pytest.mark.parametrize("fill_mode", FILL_MODES)
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_affine_transform_matches_a_loop_over_the_padded_image(fill_mode, interpolation):
    rng = np.random.default_rng(3)
    images = rng.normal(size=(3, 5, 7, 2)).astype(np.float32)
    transforms = random_affine(rng, 3, projective=True)
    got = image_ops.affine_transform(images, transforms, interpolation, fill_mode, fill_value=0.7).data
    assert got.shape == images.shape and got.dtype == np.float32
    for image, transform, result in zip(images, transforms, got):
        expected = loop_affine_transform(image, transform, interpolation, fill_mode, 0.7)
        np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-5,
                                   err_msg=f"fill_mode={fill_mode} interpolation={interpolation} T={transform}")


def test_affine_transform_hand_computed_shifts():
    row = np.arange(4, dtype=np.float32).reshape(1, 4, 1)  # one row 0 1 2 3
    shift_right_2 = [1, 0, -2, 0, 1, 0, 0, 0]  # output x reads input x - 2
    expected = {"constant": [9, 9, 0, 1], "nearest": [0, 0, 0, 1], "wrap": [2, 3, 0, 1],
                "mirror": [2, 1, 0, 1], "reflect": [1, 0, 0, 1]}
    for mode, values in expected.items():
        got = image_ops.affine_transform(row, shift_right_2, "nearest", mode, fill_value=9).data
        np.testing.assert_array_equal(got[0, :, 0], values, err_msg=mode)
    # Half a pixel to the left, bilinear: averages of neighbours; the last one with the fill (constant).
    got = image_ops.affine_transform(row, [1, 0, 0.5, 0, 1, 0, 0, 0], "bilinear", "constant", fill_value=5).data
    np.testing.assert_allclose(got[0, :, 0], [0.5, 1.5, 2.5, 4.0])
    # Nearest rounds halves away from zero: output x reads x - 0.5, i.e. pixel x for x > 0 and -1 at 0.
    got = image_ops.affine_transform(row, [1, 0, -0.5, 0, 1, 0, 0, 0], "nearest", "constant", fill_value=7).data
    np.testing.assert_array_equal(got[0, :, 0], [7, 1, 2, 3])


def test_affine_transform_layouts_ranks_and_integers():
    rng = np.random.default_rng(5)
    images = rng.normal(size=(2, 6, 5, 3)).astype(np.float32)
    transform = random_affine(rng, 1)[0]
    batched = image_ops.affine_transform(images, transform, fill_mode="wrap").data  # one row for all images
    single = image_ops.affine_transform(images[1], transform, fill_mode="wrap").data
    np.testing.assert_allclose(batched[1], single, rtol=1e-6, atol=1e-6)
    first = image_ops.affine_transform(images.transpose(0, 3, 1, 2), transform[None], fill_mode="wrap",
                                       data_format="channels_first").data
    np.testing.assert_allclose(first, batched.transpose(0, 3, 1, 2), rtol=1e-6, atol=1e-6)
    ints = np.array([[[0], [10], [20], [30]]], dtype=np.uint8)  # (1, 4, 1)
    got = image_ops.affine_transform(ints, [1, 0, 0.25, 0, 1, 0, 0, 0], fill_mode="nearest").data
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got[0, :, 0], [3, 13, 23, 30])  # 2.5 rounds away from zero


def test_affine_transform_refuses_bad_arguments():
    images = np.zeros((2, 4, 4, 1), np.float32)
    identity = [1, 0, 0, 0, 1, 0, 0, 0]
    with pytest.raises(ValueError, match="interpolation"):
        image_ops.affine_transform(images, identity, interpolation="bicubic")
    with pytest.raises(ValueError, match="fill_mode"):
        image_ops.affine_transform(images, identity, fill_mode="edge")
    with pytest.raises(ValueError, match="images"):
        image_ops.affine_transform(np.zeros((4, 4)), identity)
    with pytest.raises(ValueError, match="transform"):
        image_ops.affine_transform(images, identity[:6])
    with pytest.raises(ValueError, match="transform"):
        image_ops.affine_transform(images, np.tile(identity, (3, 1)))


# --------------------------------------------------------------------------- layers, by hand

LAYERS = {
    "RandomTranslation": dict(height_factor=0.2, width_factor=0.2),
    "RandomRotation": dict(factor=0.2),
    "RandomZoom": dict(height_factor=0.2),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_inference_is_the_identity(name):
    x = clearconv.ops.convert_to_tensor(np.random.default_rng(0).normal(size=(2, 5, 5, 1)).astype(np.float32))
    layer = getattr(layers, name)(**LAYERS[name], seed=1)
    assert layer(x, training=False) is x
    assert not np.array_equal(layer(x, training=True).data, x.data)
    # Keras's default: a call that neither gives nor inherits `training` augments, as training=True does
    fresh, again = (getattr(layers, name)(**LAYERS[name], seed=2) for _ in range(2))
    np.testing.assert_array_equal(fresh(x).data, again(x, training=True).data)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_same_seed_same_augmentations(name):
    x = np.random.default_rng(1).normal(size=(4, 6, 6, 2)).astype(np.float32)
    first, second = (getattr(layers, name)(**LAYERS[name], seed=7) for _ in range(2))
    a1, a2 = first(x, training=True), first(x, training=True)
    np.testing.assert_array_equal(a1, second(x, training=True))
    np.testing.assert_array_equal(a2, second(x, training=True))
    assert not np.array_equal(a1, a2)  # a new draw per call
    assert not np.array_equal(a1[0], a1[1])  # and per image


def test_translation_by_whole_pixels():
    x = np.arange(16, dtype=np.float32).reshape(4, 4, 1)
    down_one = layers.RandomTranslation((0.25, 0.25), (0.0, 0.0), fill_mode="constant", fill_value=-1)
    expected = np.concatenate([np.full((1, 4, 1), -1.0), x[:3]])
    np.testing.assert_array_equal(down_one(x, training=True), expected)
    left_two = layers.RandomTranslation(0.0, (-0.5, -0.5), fill_mode="wrap", interpolation="nearest")
    np.testing.assert_array_equal(left_two(x, training=True), np.roll(x, -2, axis=1))


def test_rotation_by_a_quarter_turn_is_rot90_counter_clockwise():
    x = np.random.default_rng(2).normal(size=(2, 5, 5, 3)).astype(np.float32)
    got = layers.RandomRotation((0.25, 0.25), interpolation="nearest")(x, training=True)
    np.testing.assert_array_equal(got, np.rot90(x, k=1, axes=(1, 2)))
    half = layers.RandomRotation((-0.5, -0.5), data_format="channels_first")(x.transpose(0, 3, 1, 2),
                                                                               training=True)
    np.testing.assert_allclose(half, x[:, ::-1, ::-1].transpose(0, 3, 1, 2), atol=1e-5)


def test_zoom_in_by_two_about_the_centre():
    x = np.arange(25, dtype=np.float32).reshape(5, 5, 1)  # value 5 y + x
    got = layers.RandomZoom((-0.5, -0.5), fill_mode="constant")(x, training=True)
    # Output (x, y) reads (2 + (x - 2) / 2, 2 + (y - 2) / 2): inside the image, and the image is linear.
    half_steps = 2 + (np.arange(5) - 2) / 2
    np.testing.assert_allclose(got[:, :, 0], 5 * half_steps[:, None] + half_steps[None, :], atol=1e-5)
    wide = layers.RandomZoom((0.0, 0.0), width_factor=(1.0, 1.0), fill_mode="constant", fill_value=-1,
                             interpolation="nearest")(x, training=True)
    # Twice as wide a view horizontally: x reads 2 x - 2, columns 0 and 4 fall outside.
    np.testing.assert_array_equal(wide[:, :, 0], np.stack([np.full(5, -1.0), x[:, 0, 0], x[:, 2, 0], x[:, 4, 0],
                                                            np.full(5, -1.0)], axis=1))


def test_layers_refuse_bad_arguments():
    with pytest.raises(ValueError, match="height_factor"):
        layers.RandomTranslation(1.5, 0.1)
    with pytest.raises(ValueError, match="width_factor"):
        layers.RandomTranslation(0.1, (0.1, 0.2, 0.3))
    with pytest.raises(ValueError, match="height_factor"):
        layers.RandomZoom(-1.0)
    with pytest.raises(ValueError, match="width_factor"):
        layers.RandomZoom(0.1, width_factor="wide")
    with pytest.raises(ValueError, match="factor"):
        layers.RandomRotation(2.0)
    with pytest.raises(ValueError, match="fill_mode"):
        layers.RandomRotation(0.1, fill_mode="mirror")  # Keras's layers take four of the op's five
    with pytest.raises(ValueError, match="interpolation"):
        layers.RandomZoom(0.1, interpolation="bicubic")
    with pytest.raises(ValueError, match="fill_value"):
        layers.RandomZoom(0.1, fill_value="black")
    with pytest.raises(ValueError, match="seed"):
        layers.RandomRotation(0.1, seed=1.5)
    with pytest.raises(ValueError, match="data_format"):
        layers.RandomRotation(0.1, data_format="nhwc")
    with pytest.raises(ValueError, match="rank"):
        layers.RandomRotation(0.1)(np.zeros((4, 4), np.float32), training=True)


def test_config_round_trip():
    layer = layers.RandomZoom((-0.2, 0.1), width_factor=0.3, fill_mode="constant", interpolation="nearest",
                              seed=3, fill_value=0.5, data_format="channels_first")
    clone = layers.RandomZoom.from_config(layer.get_config())
    x = np.random.default_rng(4).normal(size=(2, 1, 6, 6)).astype(np.float32)
    np.testing.assert_array_equal(clone(x, training=True), layer(x, training=True))


# --------------------------------------------------------------------------- against Keras


def test_affine_transform_matches_keras():
    from keras_oracle import import_keras
    keras = import_keras()
    rng = np.random.default_rng(0)
    images = rng.normal(size=(3, 7, 9, 2)).astype(np.float32)
    for trial in range(2):
        transforms = random_affine(rng, 3)  # Keras's backends ignore c0, c1: affine maps only
        for interpolation in ("nearest", "bilinear"):
            for fill_mode in FILL_MODES:
                ours = image_ops.affine_transform(images, transforms, interpolation, fill_mode, 0.7).data
                theirs = keras.ops.image.affine_transform(images, transforms, interpolation, fill_mode, 0.7)
                np.testing.assert_allclose(ours, np.asarray(theirs), rtol=1e-5, atol=1e-5,
                                           err_msg=f"{interpolation} {fill_mode} T={transforms}")


KERAS_CASES = [
    ("RandomTranslation", dict(height_factor=(0.2, 0.2), width_factor=(-0.3, -0.3))),
    ("RandomRotation", dict(factor=(0.25, 0.25))),
    ("RandomRotation", dict(factor=(-0.1, -0.1))),
    ("RandomZoom", dict(height_factor=(0.5, 0.5))),
    ("RandomZoom", dict(height_factor=(-0.3, -0.3), width_factor=(0.4, 0.4))),
]


@pytest.mark.parametrize("name, factors", KERAS_CASES)
def test_layers_match_keras_on_fixed_factors(name, factors):
    from keras_oracle import import_keras
    keras = import_keras()
    x = np.random.default_rng(6).normal(size=(2, 6, 8, 3)).astype(np.float32)
    for fill_mode in ("reflect", "wrap", "constant", "nearest"):
        for interpolation in ("bilinear", "nearest"):
            for data_format, images in (("channels_last", x), ("channels_first", x.transpose(0, 3, 1, 2))):
                arguments = dict(factors, fill_mode=fill_mode, interpolation=interpolation, fill_value=0.5,
                                 data_format=data_format)
                ours = getattr(layers, name)(**arguments)(images, training=True)
                theirs = getattr(keras.layers, name)(**arguments)(images, training=True)
                np.testing.assert_allclose(ours, np.asarray(theirs), rtol=1e-5, atol=1e-5,
                                           err_msg=f"{name} {arguments}")
                if data_format == "channels_last":  # one image of rank 3
                    ours = getattr(layers, name)(**arguments)(images[0], training=True)
                    np.testing.assert_allclose(ours, np.asarray(theirs)[0], rtol=1e-5, atol=1e-5)
