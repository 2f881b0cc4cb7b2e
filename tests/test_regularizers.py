"""clearconv.regularizers: Keras penalties on arrays and on Tensors (value and gradient)."""

from __future__ import annotations

import numpy as np
import pytest

from clearconv import regularizers as R
from clearconv.autograd import Tensor

W = np.array([[1.0, -2.0, 0.5], [0.0, -0.25, 3.0]])
SUM_ABS = 1.0 + 2.0 + 0.5 + 0.0 + 0.25 + 3.0  # 6.75
SUM_SQUARES = 1.0 + 4.0 + 0.25 + 0.0 + 0.0625 + 9.0  # 14.3125


def test_penalties_on_arrays_match_hand_sums():
    assert R.L1(0.1)(W) == pytest.approx(0.1 * SUM_ABS, rel=1e-15)
    assert R.L2(0.1)(W) == pytest.approx(0.1 * SUM_SQUARES, rel=1e-15)  # no factor 1/2
    assert R.L1L2(l1=0.1, l2=0.02)(W) == pytest.approx(0.1 * SUM_ABS + 0.02 * SUM_SQUARES, rel=1e-15)
    assert R.L1L2(l1=0.0, l2=0.02)(W) == pytest.approx(0.02 * SUM_SQUARES, rel=1e-15)


def test_keras_defaults():
    assert R.L1().l1 == 0.01 and R.L2().l2 == 0.01
    assert (R.L1L2().l1, R.L1L2().l2) == (0.0, 0.0)
    assert R.L1L2()(W) == 0.0


def test_penalty_keeps_float32():
    w32 = W.astype(np.float32)
    for regularizer in (R.L1(0.1), R.L2(0.1), R.L1L2(0.1, 0.1), R.L1L2()):
        assert np.asarray(regularizer(w32)).dtype == np.float32


@pytest.mark.parametrize("regularizer, expected_grad", [
    (R.L1(0.1), 0.1 * np.sign(W)),
    (R.L2(0.1), 0.2 * W),
    (R.L1L2(0.1, 0.02), 0.1 * np.sign(W) + 0.04 * W),
])
def test_penalty_on_tensor_gives_value_and_gradient(regularizer, expected_grad):
    weight = Tensor(W.copy(), requires_grad=True)
    loss = regularizer(weight)
    assert isinstance(loss, Tensor)
    assert loss.item() == pytest.approx(regularizer(W), rel=1e-15)
    loss.backward()
    np.testing.assert_allclose(weight.grad, expected_grad, rtol=1e-15)


@pytest.mark.parametrize("name, cls, l1, l2", [
    ("l1", R.L1, 0.01, None), ("L1", R.L1, 0.01, None),
    ("l2", R.L2, None, 0.01), ("L2", R.L2, None, 0.01),
    ("l1l2", R.L1L2, 0.0, 0.0), ("L1L2", R.L1L2, 0.0, 0.0),
    ("l1_l2", R.L1L2, 0.01, 0.01),  # the L1L2 docstring's promise (Keras's own get raises)
])
def test_get_by_name(name, cls, l1, l2):
    regularizer = R.get(name)
    assert type(regularizer) is cls
    assert getattr(regularizer, "l1", None) == l1 and getattr(regularizer, "l2", None) == l2


def test_lowercase_aliases_are_the_classes():
    assert R.l1_l2 is R.L1L2 and R.l1 is R.L1 and R.l2 is R.L2
    regularizer = R.l1_l2(l1=0.3, l2=0.4)
    assert (regularizer.l1, regularizer.l2) == (0.3, 0.4)
    assert (R.l1_l2().l1, R.l1_l2().l2) == (0.0, 0.0)


def test_get_other_identifiers_and_errors():
    assert R.get(None) is None
    instance = R.L2(0.5)
    assert R.get(instance) is instance
    assert type(R.get(R.L1)) is R.L1
    restored = R.get({"class_name": "L1L2", "config": {"l1": 0.1, "l2": 0.2}})
    assert (restored.l1, restored.l2) == (0.1, 0.2)
    with pytest.raises(ValueError, match=r"Unknown regularizer 'l3'\. Valid: L1, l1, l1_l2, L1L2, l1l2, L2, l2"):
        R.get("l3")


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf"), "0.1"])
def test_invalid_factors_are_rejected(bad):
    with pytest.raises(ValueError, match="l1"):
        R.L1(bad)
    with pytest.raises(ValueError, match="l2"):
        R.L1L2(l1=0.0, l2=bad)


@pytest.mark.parametrize("regularizer", [R.L1(0.3), R.L2(0.2), R.L1L2(0.1, 0.05)])
def test_serialize_round_trip(regularizer):
    config = R.serialize(regularizer)
    assert config["class_name"] == type(regularizer).__name__
    restored = R.get(config)
    assert type(restored) is type(regularizer) and restored.get_config() == regularizer.get_config()
    assert restored(W) == regularizer(W)
