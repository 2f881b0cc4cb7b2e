"""clearconv.activations (Keras 3's keras.activations) against real Keras 3 (jax backend).

* Every Keras activation exists here with the same parameters and defaults,
  and computes Keras's values (float32 tolerance).
* Gradients: float64 central finite differences.
* Lookup: get / serialize / deserialize agree with Keras's for every name, and a
  layer given the function fuses and serializes exactly as when given the name.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from keras_oracle import import_keras

keras = import_keras()

from clearconv import Tensor, activations, layers, ops  # noqa: E402
from gradcheck import numerical_vjp  # noqa: E402

RNG = np.random.default_rng(7)
X = (RNG.standard_normal((3, 6)) * 2).astype(np.float32)  # even last axis for glu

KERAS_NAMES = sorted(keras.src.activations.ALL_OBJECTS_DICT)

# (name, kwargs) pairs: every activation with its defaults, and the parameters that change it.
CASES = [(name, {}) for name in KERAS_NAMES if name != "threshold"] + [
    ("relu", {"negative_slope": 0.1}), ("relu", {"max_value": 1.5}), ("relu", {"threshold": 0.5}),
    ("relu", {"threshold": -0.5, "negative_slope": 0.2, "max_value": 2.0}), ("relu", {"max_value": 6.0}),
    ("leaky_relu", {"negative_slope": 0.5}), ("elu", {"alpha": 0.3}), ("gelu", {"approximate": True}),
    ("celu", {"alpha": 0.5}), ("softmax", {"axis": 0}), ("log_softmax", {"axis": 0}), ("glu", {"axis": 0}),
    ("sparse_plus", {}), ("squareplus", {"b": 1.0}), ("soft_shrink", {"threshold": 1.0}),
    ("hard_shrink", {"threshold": 1.0}), ("threshold", {"threshold": 0.3, "default_value": -2.0}),
]
# Keras 3.15's sparsemax keeps the wrong threshold when two or more values survive (its outputs
# stop summing to 1; see tests/test_ops_api.py): it is compared there with the definition.
KERAS_DIFFERS = {"sparsemax"}


def case_id(case):
    name, kwargs = case
    return name + "".join(f"-{k}={v}" for k, v in kwargs.items())


def test_every_keras_activation_exists_with_keras_signature():
    for name in KERAS_NAMES + ["swish", "hard_swish"]:
        ours, theirs = getattr(activations, name), getattr(keras.activations, name)
        assert inspect.signature(ours) == inspect.signature(theirs), name


@pytest.mark.parametrize("case", [c for c in CASES if c[0] not in KERAS_DIFFERS], ids=case_id)
def test_values_match_keras(case):
    name, kwargs = case
    x = X if name != "glu" or kwargs.get("axis") != 0 else X[:2]
    got = getattr(activations, name)(x, **kwargs)
    expected = np.asarray(getattr(keras.activations, name)(x, **kwargs))
    assert isinstance(got, Tensor) and got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_allclose(got.data, expected, rtol=2e-6, atol=2e-6, err_msg=case_id(case))


def test_sparsemax_is_the_simplex_projection():
    y = activations.sparsemax(X).data
    np.testing.assert_allclose(y.sum(axis=-1), 1.0, rtol=1e-6)
    # The projection keeps the differences of the kept values: y_i - y_j = x_i - x_j where both are > 0.
    for row_y, row_x in zip(y, X):
        kept = row_y > 0
        np.testing.assert_allclose(row_y[kept] - row_x[kept], (row_y[kept] - row_x[kept])[0], atol=1e-6)
        assert (row_x[~kept] <= (row_x[kept] - row_y[kept])[0] + 1e-6).all()


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_gradient_matches_finite_differences(case):
    name, kwargs = case
    function = getattr(activations, name)
    x = (X[:2] if name == "glu" and kwargs.get("axis") == 0 else X).astype(np.float64)
    # Keep finite differences off the kinks (0, +-1, +-3, 6, the thresholds): they are where a
    # one-sided slope is chosen, not a derivative.
    x = np.where(np.abs(x - np.round(x * 2) / 2) < 1e-3, x + 0.01, x)
    upstream = np.random.default_rng(3).standard_normal(function(x, **kwargs).shape)
    leaf = Tensor(x.copy(), requires_grad=True)
    ops.sum(ops.multiply(function(leaf, **kwargs), upstream)).backward()
    expected = numerical_vjp(lambda v: np.asarray(function(v, **kwargs)), [x.copy()], upstream, 0)
    np.testing.assert_allclose(leaf.grad, expected, rtol=1e-6, atol=1e-7, err_msg=case_id(case))


# --- lookup ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", KERAS_NAMES + ["swish", "hard_swish"])
def test_get_and_serialize_agree_with_keras(name):
    function = activations.get(name)
    assert function is getattr(activations, name)
    keras_function = keras.activations.get(name)
    assert activations.serialize(function) == keras.activations.serialize(keras_function)
    assert activations.builtin_name(function) == keras_function.__name__
    assert activations.deserialize(activations.serialize(function)) is function


def test_aliases_are_the_same_functions_as_in_keras():
    assert activations.swish is activations.silu and activations.hard_swish is activations.hard_silu
    assert activations.serialize(activations.swish) == "silu"


def test_get_none_callable_and_errors():
    assert activations.get(None) is activations.linear

    def custom(x):
        return x

    assert activations.get(custom) is custom
    assert activations.builtin_name(custom) is None and activations.builtin_name(lambda x: x) is None
    assert activations.serialize(custom) == "custom"
    with pytest.raises(ValueError, match=r"Unknown activation 'rellu'\. Valid: .*\brelu\b"):
        activations.get("rellu")
    with pytest.raises(TypeError, match="activation must be a name"):
        activations.get(3)
    with pytest.raises(ValueError, match="cannot serialize"):
        activations.serialize(lambda x: x)


def test_deserialize_keras_configs_and_custom_objects():
    config = keras.saving.serialize_keras_object(keras.activations.relu)  # Keras's own form of a built-in
    assert activations.deserialize(config) is activations.relu
    assert activations.deserialize({"class_name": "function", "config": "gelu"}) is activations.gelu

    def mine(x):
        return x

    assert activations.deserialize("mine", custom_objects={"mine": mine}) is mine
    with pytest.raises(ValueError, match="Unknown activation"):
        activations.deserialize("mine")


def test_linear_returns_its_tensor_and_wraps_arrays():
    t = Tensor(X)
    assert activations.linear(t) is t
    assert isinstance(activations.linear(X), Tensor)


def test_keras_string_and_function_defaults_differ_from_the_ops_as_in_keras():
    """activations.gelu is exact while ops.gelu is approximate; leaky_relu's slope is 0.2 both ways."""
    exact = np.asarray(keras.activations.gelu(X))
    np.testing.assert_allclose(activations.get("gelu")(X).data, exact, rtol=2e-6, atol=2e-6)
    np.testing.assert_allclose(ops.gelu(X).data, np.asarray(keras.ops.gelu(X)), rtol=2e-6, atol=2e-6)
    assert np.abs(ops.gelu(X).data - exact).max() > 1e-5  # the two really differ
    np.testing.assert_allclose(activations.get("leaky_relu")(X).data, np.asarray(keras.activations.leaky_relu(X)),
                               rtol=1e-6)


# --- layers -----------------------------------------------------------------------------


def _conv_with(activation, weights=None):
    """A Conv2D with ``activation`` and fixed weights."""
    layer = layers.Conv2D(4, 3, activation=activation)
    layer.build((2, 6, 6, 3))
    layer.set_weights(weights or [RNG.standard_normal((3, 3, 3, 4)).astype(np.float32),
                                  RNG.standard_normal(4).astype(np.float32)])
    return layer


def test_conv_fuses_the_relu_function_as_the_name(monkeypatch):
    from clearconv.layers import conv as conv_module
    fused = []
    original = conv_module.F.conv

    def spy(*args, **kwargs):  # records the activation each convolution call fuses
        fused.append(kwargs.get("activation"))
        return original(*args, **kwargs)
    monkeypatch.setattr(conv_module.F, "conv", spy)
    x = RNG.standard_normal((2, 6, 6, 3)).astype(np.float32)
    by_name = _conv_with("relu")
    by_function = _conv_with(activations.relu, by_name.get_weights())
    linear = _conv_with(None, by_name.get_weights())
    expected = by_name(x)
    np.testing.assert_array_equal(by_function(x), expected)
    np.testing.assert_array_equal(expected, np.maximum(linear(x), 0))  # fused = relu after the conv
    assert fused == ["relu", "relu", None]
    assert by_function.get_config()["activation"] == by_name.get_config()["activation"] == "relu"


@pytest.mark.parametrize("identifier", ["swish", activations.gelu, "hard_swish", activations.mish])
def test_layer_configs_store_keras_names(identifier):
    """A layer config stores what Keras's layers store: keras.activations.serialize of the function.

    (Compared through keras.activations rather than by building Keras layers, which would fix
    Keras's global dtype policy for the rest of the process.)"""
    keras_identifier = identifier if isinstance(identifier, str) else getattr(keras.activations, identifier.__name__)
    ours = layers.Dense(3, activation=identifier).get_config()["activation"]
    assert ours == keras.activations.serialize(keras.activations.get(keras_identifier))


def test_activation_layer_with_a_function_matches_keras():
    layer = layers.Activation(activations.selu)
    np.testing.assert_allclose(layer(X), np.asarray(keras.activations.selu(X)), rtol=2e-6, atol=2e-6)
