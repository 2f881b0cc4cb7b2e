"""clearconv.initializers: Keras formulas checked by statistics on large samples."""

from __future__ import annotations

import math

import numpy as np
import pytest

from clearconv import initializers as I
from clearconv import utils

# 0.8796...: the standard deviation of N(0, 1) truncated to [-2, 2], from its closed form
# var = 1 - 2 * 2 * pdf(2) / (2 * cdf(2) - 1), computed here independently of the module.
_PDF2 = math.exp(-2.0) / math.sqrt(2 * math.pi)
_MASS = math.erf(2 / math.sqrt(2))
TRUNCATED_STD = math.sqrt(1 - 4 * _PDF2 / _MASS)

CONV_SHAPE = (3, 3, 64, 128)  # fan_in 576, fan_out 1152; 73,728 samples


# --- fans -----------------------------------------------------------------------


@pytest.mark.parametrize("shape, fans", [
    ((), (1, 1)),
    ((7,), (7, 7)),
    ((20, 30), (20, 30)),
    ((5, 8, 16), (40, 80)),  # Conv1D kernel (k, in, out)
    ((3, 3, 64, 128), (576, 1152)),  # Conv2D kernel (kh, kw, in, out)
    ((2, 3, 4, 5, 6), (2 * 3 * 4 * 5, 2 * 3 * 4 * 6)),  # Conv3D kernel
])
def test_compute_fans(shape, fans):
    assert I.compute_fans(shape) == fans


def test_truncation_constant_matches_closed_form():
    assert I.TRUNCATED_STDDEV_FACTOR == pytest.approx(TRUNCATED_STD, rel=1e-15)


# --- variance-scaling family -----------------------------------------------------


def _uniform_limit(scale: float, fan: float) -> float:
    return math.sqrt(3 * scale / fan)


UNIFORM_CASES = [
    (I.GlorotUniform, math.sqrt(6 / (576 + 1152))),
    (I.HeUniform, math.sqrt(6 / 576)),
    (I.LecunUniform, math.sqrt(3 / 576)),
    (lambda seed: I.VarianceScaling(0.5, "fan_out", "uniform", seed=seed), math.sqrt(1.5 / 1152)),
]


@pytest.mark.parametrize("make, limit", UNIFORM_CASES)
def test_uniform_family_bounds_and_std(make, limit):
    values = make(seed=1)(CONV_SHAPE, dtype="float64")
    assert np.max(np.abs(values)) <= limit
    assert np.max(values) > 0.999 * limit and np.min(values) < -0.999 * limit  # the bound is reached
    assert np.std(values) == pytest.approx(limit / math.sqrt(3), rel=0.01)
    assert abs(np.mean(values)) < 0.01 * limit


NORMAL_CASES = [  # (initializer, target standard deviation of the samples)
    (I.GlorotNormal, math.sqrt(2 / (576 + 1152))),
    (I.HeNormal, math.sqrt(2 / 576)),
    (I.LecunNormal, math.sqrt(1 / 576)),
    (lambda seed: I.VarianceScaling(3.0, "fan_avg", "normal", seed=seed), math.sqrt(3 / 864)),
]


@pytest.mark.parametrize("make, target_std", NORMAL_CASES)
def test_truncated_normal_family_has_the_target_std_and_cut(make, target_std):
    values = make(seed=2)(CONV_SHAPE, dtype="float64")
    untruncated_std = target_std / TRUNCATED_STD  # Keras divides by 0.8796 before truncating
    assert np.max(np.abs(values)) <= 2 * untruncated_std
    assert np.max(np.abs(values)) > 1.99 * untruncated_std
    assert np.std(values) == pytest.approx(target_std, rel=0.01)


def test_untruncated_normal_is_not_cut():
    values = I.VarianceScaling(2.0, "fan_in", "untruncated_normal", seed=3)(CONV_SHAPE, dtype="float64")
    std = math.sqrt(2 / 576)
    assert np.std(values) == pytest.approx(std, rel=0.01)
    # P(|z| > 2) = 4.55%: about 3,350 of 73,728 samples lie beyond 2 std.
    assert np.mean(np.abs(values) > 2 * std) == pytest.approx(1 - math.erf(2 / math.sqrt(2)), abs=0.004)


def test_variance_scaling_uses_at_least_one_as_the_fan():
    values = I.VarianceScaling(1.0, "fan_in", "uniform", seed=4)((0, 5), dtype="float64")
    assert values.shape == (0, 5)
    values = I.VarianceScaling(1.0, "fan_in", "uniform", seed=4)((), dtype="float64")
    assert abs(float(values)) <= math.sqrt(3.0)


@pytest.mark.parametrize("kwargs, match", [
    ({"scale": 0.0}, "scale"),
    ({"mode": "fan_sum"}, "mode"),
    ({"distribution": "cauchy"}, "distribution"),
    ({"seed": 1.5}, "seed"),
])
def test_variance_scaling_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        I.VarianceScaling(**kwargs)


# --- plain random ------------------------------------------------------------------


def test_random_normal_moments():
    values = I.RandomNormal(mean=1.5, stddev=0.3, seed=5)((200_000,), dtype="float64")
    assert np.mean(values) == pytest.approx(1.5, abs=0.003)
    assert np.std(values) == pytest.approx(0.3, rel=0.01)


def test_random_uniform_range_and_moments():
    values = I.RandomUniform(minval=-1.0, maxval=3.0, seed=6)((200_000,), dtype="float64")
    assert values.min() >= -1.0 and values.max() < 3.0
    assert np.mean(values) == pytest.approx(1.0, abs=0.01)
    assert np.std(values) == pytest.approx(4 / math.sqrt(12), rel=0.01)


def test_truncated_normal_never_exceeds_two_stddev():
    values = I.TruncatedNormal(mean=-2.0, stddev=0.5, seed=7)((200_000,), dtype="float64")
    assert np.all(np.abs(values + 2.0) <= 1.0)
    assert np.std(values) == pytest.approx(0.5 * TRUNCATED_STD, rel=0.01)
    assert np.mean(values) == pytest.approx(-2.0, abs=0.003)


def test_keras_defaults():
    assert I.RandomNormal().get_config() == {"seed": None, "mean": 0.0, "stddev": 0.05}
    assert I.RandomUniform().get_config() == {"seed": None, "minval": -0.05, "maxval": 0.05}
    assert I.TruncatedNormal().get_config() == {"seed": None, "mean": 0.0, "stddev": 0.05}
    assert I.VarianceScaling().get_config() == {"seed": None, "scale": 1.0, "mode": "fan_in",
                                                "distribution": "truncated_normal"}
    assert I.Orthogonal().get_config() == {"seed": None, "gain": 1.0}
    assert I.GlorotUniform(seed=3).get_config() == {"seed": 3}


# --- orthogonal and identity -----------------------------------------------------------


@pytest.mark.parametrize("shape", [(64, 32), (32, 64), (40, 40), (3, 3, 4, 16), (3, 3, 16, 200)])
def test_orthogonal_gives_orthonormal_rows_or_columns(shape):
    values = I.Orthogonal(gain=1.0, seed=8)(shape, dtype="float64")
    assert values.shape == shape
    matrix = values.reshape(-1, shape[-1])  # (prod(shape[:-1]), shape[-1])
    rows, cols = matrix.shape
    gram = matrix.T @ matrix if rows >= cols else matrix @ matrix.T
    np.testing.assert_allclose(gram, np.eye(min(rows, cols)), atol=1e-12)


def test_orthogonal_gain_scales_and_rank_one_is_rejected():
    values = I.Orthogonal(gain=2.5, seed=9)((10, 10), dtype="float64")
    np.testing.assert_allclose(values.T @ values, 6.25 * np.eye(10), atol=1e-12)
    with pytest.raises(ValueError, match="rank"):
        I.Orthogonal()((5,))


def test_identity():
    np.testing.assert_array_equal(I.Identity(gain=3.0)((2, 3)), [[3, 0, 0], [0, 3, 0]])
    assert I.Identity()((4, 4)).dtype == np.float32
    with pytest.raises(ValueError, match="2D"):
        I.Identity()((2, 2, 2))


def test_constants():
    np.testing.assert_array_equal(I.Zeros()((2, 3)), np.zeros((2, 3)))
    np.testing.assert_array_equal(I.Ones()((2,)), [1.0, 1.0])
    np.testing.assert_array_equal(I.Constant(0.25)((3,), dtype="float64"), [0.25] * 3)
    assert I.Constant()((2,)).tolist() == [0.0, 0.0]


# --- dtype and seeding --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["glorot_uniform", "he_normal", "random_normal", "random_uniform",
                                  "truncated_normal", "orthogonal", "zeros", "ones", "constant", "identity"])
def test_dtype(name):
    init = I.get(name)
    assert init((4, 4)).dtype == np.float32
    assert init((4, 4), dtype="float64").dtype == np.float64


def test_random_initializers_reject_integer_dtypes():
    with pytest.raises(ValueError, match="dtype"):
        I.GlorotUniform()((2, 2), dtype="int32")


def test_seeded_initializer_is_deterministic_and_repeats():
    first = I.HeNormal(seed=42)
    a, b = first((5, 7)), first((5, 7))
    np.testing.assert_array_equal(a, b)  # same values on every call, as in Keras
    np.testing.assert_array_equal(a, I.HeNormal(seed=42)((5, 7)))
    assert not np.array_equal(a, I.HeNormal(seed=43)((5, 7)))
    # the same draw rounded: float32 and float64 agree to float32 precision
    np.testing.assert_allclose(first((5, 7), dtype="float64"), a, rtol=1e-7)


def test_unseeded_initializers_follow_set_seed():
    init = I.GlorotUniform()
    utils.set_seed(123)
    a1, a2 = init((4, 4)), init((4, 4))
    assert not np.array_equal(a1, a2)  # unseeded: each call is a new draw
    utils.set_seed(123)
    np.testing.assert_array_equal(init((4, 4)), a1)
    np.testing.assert_array_equal(init((4, 4)), a2)


def test_set_seed_replaces_the_global_generator():
    utils.set_seed(7)
    first = utils.global_rng().random(3)
    utils.set_seed(7)
    np.testing.assert_array_equal(utils.global_rng().random(3), first)
    np.testing.assert_array_equal(first, np.random.default_rng(7).random(3))
    with pytest.raises(ValueError, match="seed"):
        utils.set_seed(-1)


# --- get / serialize -----------------------------------------------------------------------


@pytest.mark.parametrize("name, cls", [
    ("zeros", I.Zeros), ("zero", I.Zeros), ("Zeros", I.Zeros),
    ("ones", I.Ones), ("one", I.Ones), ("constant", I.Constant),
    ("random_normal", I.RandomNormal), ("normal", I.RandomNormal), ("RandomNormal", I.RandomNormal),
    ("random_uniform", I.RandomUniform), ("uniform", I.RandomUniform),
    ("truncated_normal", I.TruncatedNormal), ("variance_scaling", I.VarianceScaling),
    ("glorot_uniform", I.GlorotUniform), ("GlorotUniform", I.GlorotUniform),
    ("glorot_normal", I.GlorotNormal), ("he_normal", I.HeNormal), ("he_uniform", I.HeUniform),
    ("lecun_normal", I.LecunNormal), ("lecun_uniform", I.LecunUniform),
    ("orthogonal", I.Orthogonal), ("Orthogonal", I.Orthogonal), ("OrthogonalInitializer", I.Orthogonal),
    ("identity", I.Identity), ("Identity", I.Identity),
])
def test_get_by_name(name, cls):
    assert type(I.get(name)) is cls


def test_get_other_identifiers():
    assert I.get(None) is None
    instance = I.HeNormal(seed=1)
    assert I.get(instance) is instance
    assert type(I.get(I.LecunUniform)) is I.LecunUniform

    def function(shape, dtype=None):
        return np.full(shape, 7.0)
    assert I.get(function) is function
    restored = I.get({"class_name": "RandomUniform", "config": {"minval": 0.0, "maxval": 2.0, "seed": 3}})
    assert (restored.minval, restored.maxval, restored.seed) == (0.0, 2.0, 3)


def test_get_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match=r"Unknown initializer 'glorot_uniformm'\. Valid: .*glorot_uniform"):
        I.get("glorot_uniformm")
    with pytest.raises(ValueError, match="Unknown initializer 'Nope'"):
        I.get({"class_name": "Nope", "config": {}})
    with pytest.raises(ValueError, match="Could not interpret initializer identifier"):
        I.get(3)


@pytest.mark.parametrize("init", [I.Zeros(), I.Constant(2.0), I.Identity(0.5), I.RandomNormal(1.0, 2.0, seed=1),
                                  I.TruncatedNormal(seed=2), I.RandomUniform(-1.0, 1.0),
                                  I.VarianceScaling(2.0, "fan_out", "uniform", seed=4), I.GlorotUniform(seed=5),
                                  I.HeNormal(), I.Orthogonal(gain=2.0, seed=6)])
def test_serialize_round_trip(init):
    config = I.serialize(init)
    assert config["class_name"] == type(init).__name__
    restored = I.get(config)
    assert type(restored) is type(init) and restored.get_config() == init.get_config()
    if getattr(init, "seed", None) is not None:
        np.testing.assert_array_equal(restored((6, 6)), init((6, 6)))
    assert I.serialize(None) is None
