"""clearconv.constraints: Keras formulas against explicit per-slice loops."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from clearconv import constraints as C

EPSILON = 1e-7  # Keras 3's default backend.epsilon()


def _slices(shape, axis):
    """Index tuples, one per slice reduced by ``axis``, each selecting that slice's entries."""
    axes = {a % len(shape) for a in ((axis,) if isinstance(axis, int) else axis)}
    kept = [range(n) if a not in axes else [slice(None)] for a, n in enumerate(shape)]
    return list(itertools.product(*kept))


def _rescale_by_loop(w, axis, desired_norm):
    """For each slice: norm = sqrt(sum of squares) by a Python loop, then w * desired(norm) / (eps + norm)."""
    out = np.empty_like(w)
    for index in _slices(w.shape, axis):
        block = w[index]
        norm = math.sqrt(sum(float(v) ** 2 for v in block.ravel()))
        out[index] = block * (desired_norm(norm) / (EPSILON + norm))
    return out


WEIGHTS = np.random.default_rng(0).normal(0.0, 1.0, size=(3, 3, 4, 5))


@pytest.mark.parametrize("axis", [0, 1, -1, (0, 1, 2), [0, 1, 2]])
@pytest.mark.parametrize("max_value", [0.5, 2, 100.0])
def test_max_norm_matches_loop(axis, max_value):
    expected = _rescale_by_loop(WEIGHTS, axis, lambda norm: min(norm, max_value))
    np.testing.assert_allclose(C.MaxNorm(max_value, axis)(WEIGHTS), expected, rtol=1e-13)


@pytest.mark.parametrize("axis", [0, (0, 1, 2)])
def test_unit_norm_matches_loop(axis):
    expected = _rescale_by_loop(WEIGHTS, axis, lambda norm: 1.0)
    np.testing.assert_allclose(C.UnitNorm(axis)(WEIGHTS), expected, rtol=1e-13)


@pytest.mark.parametrize("min_value, max_value, rate, axis", [
    (0.0, 1.0, 1.0, 0), (2.5, 3.0, 1.0, (0, 1, 2)), (1.0, 1.5, 0.3, -1), (0.5, 4.0, 0.0, 1)])
def test_min_max_norm_matches_loop(min_value, max_value, rate, axis):
    def desired(norm):
        return rate * min(max(norm, min_value), max_value) + (1 - rate) * norm
    expected = _rescale_by_loop(WEIGHTS, axis, desired)
    np.testing.assert_allclose(C.MinMaxNorm(min_value, max_value, rate, axis)(WEIGHTS), expected, rtol=1e-13)


def test_dense_kernel_hand_example():
    w = np.array([[3.0, 0.3], [4.0, 0.4]])  # column norms 5 and 0.5
    np.testing.assert_allclose(C.MaxNorm(2.0)(w), [[1.2, 0.3], [1.6, 0.4]], rtol=1e-6)
    np.testing.assert_allclose(C.UnitNorm()(w), [[0.6, 0.6], [0.8, 0.8]], rtol=1e-6)
    np.testing.assert_allclose(C.MinMaxNorm(1.0, 2.0)(w), [[1.2, 0.6], [1.6, 0.8]], rtol=1e-6)


def test_zero_column_stays_zero():
    w = np.array([[0.0, 1.0], [0.0, 1.0]])
    for constraint in (C.MaxNorm(1.0), C.UnitNorm(), C.MinMaxNorm(0.5, 1.0)):
        assert np.all(constraint(w)[:, 0] == 0.0)


def test_non_neg():
    np.testing.assert_array_equal(C.NonNeg()(np.array([-1.0, 0.0, 2.0, -0.5])), [0.0, 0.0, 2.0, 0.0])


@pytest.mark.parametrize("constraint", [C.MaxNorm(), C.NonNeg(), C.UnitNorm(), C.MinMaxNorm()])
def test_float32_is_kept(constraint):
    assert constraint(WEIGHTS.astype(np.float32)).dtype == np.float32


def test_keras_defaults():
    assert C.MaxNorm().get_config() == {"max_value": 2, "axis": 0}
    assert C.UnitNorm().get_config() == {"axis": 0}
    assert C.MinMaxNorm().get_config() == {"min_value": 0.0, "max_value": 1.0, "rate": 1.0, "axis": 0}
    assert C.NonNeg().get_config() == {}


@pytest.mark.parametrize("name, cls", [
    ("max_norm", C.MaxNorm), ("MaxNorm", C.MaxNorm), ("non_neg", C.NonNeg), ("NonNeg", C.NonNeg),
    ("unit_norm", C.UnitNorm), ("UnitNorm", C.UnitNorm), ("min_max_norm", C.MinMaxNorm),
    ("MinMaxNorm", C.MinMaxNorm)])
def test_get_by_name(name, cls):
    assert type(C.get(name)) is cls


def test_get_other_identifiers_and_errors():
    assert C.get(None) is None
    instance = C.MaxNorm(3.0)
    assert C.get(instance) is instance
    assert C.max_norm is C.MaxNorm
    restored = C.get({"class_name": "MaxNorm", "config": {"max_value": 3.0, "axis": [0, 1, 2]}})
    np.testing.assert_allclose(restored(WEIGHTS), C.MaxNorm(3.0, (0, 1, 2))(WEIGHTS))
    with pytest.raises(ValueError, match=r"Unknown constraint 'maxnorm'\. Valid: max_norm, MaxNorm, "):
        C.get("maxnorm")


@pytest.mark.parametrize("constraint", [C.MaxNorm(1.5, axis=1), C.NonNeg(), C.UnitNorm(axis=-1),
                                        C.MinMaxNorm(0.2, 0.9, 0.5, axis=0)])
def test_serialize_round_trip(constraint):
    config = C.serialize(constraint)
    restored = C.get(config)
    assert type(restored) is type(constraint) and restored.get_config() == constraint.get_config()
    np.testing.assert_array_equal(restored(WEIGHTS), constraint(WEIGHTS))
