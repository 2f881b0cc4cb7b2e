"""Merging layers (Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Dot) and their
functional forms.

Oracles, all independent of the code under test:
* real Keras 3 (jax backend): outputs, symbolic output shapes, which inputs are
  refused, config keys, functional models; and jax's gradient through the Keras
  layer where finite differences cannot be used (the clamp of Dot's normalize);
* float64 central finite differences for every gradient;
* torch.maximum / torch.minimum for the gradient on ties, where finite
  differences are undefined.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from clearconv import Tensor
from clearconv.layers import Input, merge
from clearconv.models import Model
from gradcheck import assert_vjp_matches, numerical_vjp
from keras_oracle import import_keras

keras = import_keras()
torch = pytest.importorskip("torch", reason="torch is the oracle of the tie-gradient tests")

ELEMENTWISE = ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"]
FUNCTIONS = {"Add": "add", "Subtract": "subtract", "Multiply": "multiply", "Average": "average",
             "Maximum": "maximum", "Minimum": "minimum", "Concatenate": "concatenate", "Dot": "dot"}


def rand(shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def inputs_for(shapes, seed=0, dtype=np.float32):
    return [rand(shape, seed + i, dtype) for i, shape in enumerate(shapes)]


def both(class_name, /, **kwargs):
    """The clearconv layer and the Keras layer of the same class and arguments."""
    return getattr(merge, class_name)(**kwargs), getattr(keras.layers, class_name)(**kwargs)


# =========================================================================== outputs against Keras
# (layer, constructor arguments, input shapes). Shapes cover broadcasting of size-1
# axes, inputs of different ranks (Keras inserts axes after the batch axis), one input.

ELEMENTWISE_SHAPES = [
    [(2, 4, 3), (2, 4, 3)],
    [(2, 4, 3), (2, 4, 3), (2, 4, 3)],
    [(2, 1, 3), (2, 4, 1)],
    [(2, 4, 3), (2, 3)],
    [(2, 3), (2, 5, 4, 3)],
    [(2,), (2, 4, 3)],
    [(3, 2, 4)],
]
OUTPUT_CASES = [(name, {}, shapes) for name in ELEMENTWISE for shapes in ELEMENTWISE_SHAPES
                if name != "Subtract" or len(shapes) == 2]
OUTPUT_CASES += [
    ("Concatenate", {}, [(2, 4, 3), (2, 4, 5)]),
    ("Concatenate", {"axis": 1}, [(2, 4, 3), (2, 2, 3), (2, 1, 3)]),
    ("Concatenate", {"axis": -2}, [(2, 3, 5, 2), (2, 3, 1, 2)]),
    ("Concatenate", {"axis": 0}, [(2, 3), (4, 3)]),
    ("Concatenate", {}, [(2, 3)]),
]
DOT_CASES = [
    ({"axes": 1}, [(3, 4), (3, 4)]),
    ({"axes": -1}, [(3, 4), (3, 4)]),
    ({"axes": (2, 1)}, [(3, 5, 4), (3, 4)]),
    ({"axes": (1, 2)}, [(3, 4), (3, 5, 4)]),
    ({"axes": -1}, [(3, 5, 4), (3, 6, 4)]),
    ({"axes": 1}, [(3, 4, 5), (3, 4, 6)]),
    ({"axes": (1, 2)}, [(3, 4, 2), (3, 5, 4, 6)]),
    ({"axes": (-3, -1)}, [(2, 4, 3, 5), (2, 6, 2, 4)]),
    ({"axes": [2, 1]}, [(2, 3, 4, 5), (2, 4, 3)]),
]
OUTPUT_CASES += [("Dot", {**kwargs, "normalize": normalize}, shapes)
                 for kwargs, shapes in DOT_CASES for normalize in (False, True)]


def case_id(case):
    name, kwargs, shapes = case
    return f"{name}-{kwargs}-{shapes}"


@pytest.mark.parametrize("case", OUTPUT_CASES, ids=case_id)
def test_output_matches_keras(case):
    name, kwargs, shapes = case
    ours, theirs = both(name, **kwargs)
    xs = inputs_for(shapes, seed=len(shapes))
    got = ours(xs)
    expected = np.asarray(theirs(xs))
    assert isinstance(got, np.ndarray) and got.dtype == np.float32
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=2e-6, atol=2e-6, err_msg=case_id(case))


@pytest.mark.parametrize("case", OUTPUT_CASES, ids=case_id)
def test_functional_form_matches_keras(case):
    """``merge.add(inputs)`` etc. eagerly on arrays, against ``keras.layers.add(inputs)``."""
    name, kwargs, shapes = case
    xs = inputs_for(shapes, seed=7)
    got = getattr(merge, FUNCTIONS[name])(xs, **kwargs)
    expected = np.asarray(getattr(keras.layers, FUNCTIONS[name])(xs, **kwargs))
    np.testing.assert_allclose(got, expected, rtol=2e-6, atol=2e-6, err_msg=case_id(case))


def test_dot_normalize_keeps_zero_and_tiny_vectors_as_keras_does():
    """Keras scales by min(1/||x||, 1/epsilon): a zero vector stays 0, a vector shorter than
    1e-7 is scaled by 1e7 rather than to unit length."""
    x = np.zeros((4, 3), np.float32)
    x[1] = 1e-9
    x[2] = [3.0, 0.0, 4.0]
    x[3] = [2e-8, -3e-8, 1e-8]
    y = np.flip(x, axis=0).copy()
    y[0] = [1.0, 2.0, 2.0]
    ours, theirs = both("Dot", axes=1, normalize=True)
    got = ours([x, y])
    np.testing.assert_allclose(got, np.asarray(theirs([x, y])), rtol=1e-6, atol=1e-9)
    assert got[0, 0] == 0.0  # zero vector: no NaN


def test_dot_without_normalize_is_numpy_einsum():
    x, y = rand((3, 4, 2, 5), 1, np.float64), rand((3, 6, 5, 7), 2, np.float64)
    got = merge.Dot(axes=(3, 2), dtype="float64")([x, y])
    np.testing.assert_allclose(got, np.einsum("nabk,nckd->nabcd", x, y), rtol=1e-12)


# =========================================================================== symbolic shapes against Keras

SYMBOLIC_CASES = [
    ("Add", {}, [(None, 3), (4, 3)]),
    ("Add", {}, [(4, 3), (3,)]),
    ("Add", {}, [(None, 3), (3,)]),
    ("Add", {}, [(1, 3), (None, 3)]),
    ("Multiply", {}, [(1, 1), (5, 3)]),
    ("Maximum", {}, [(2, 1, 3), (4, 1), (None,)]),
    ("Average", {}, [(None, None), (2, 1)]),
    ("Subtract", {}, [(4, None), (4, 1)]),
    ("Minimum", {}, [(7,)]),
    ("Concatenate", {"axis": 1}, [(None, 3), (4, 3)]),
    ("Concatenate", {}, [(None, 3), (4, 3)]),
    ("Concatenate", {}, [(4, 3), (None, 3)]),
    ("Concatenate", {"axis": 0}, [(4, 3), (4, 3)]),
    ("Dot", {"axes": (1, 2)}, [(4, 3), (5, 4, 6)]),
    ("Dot", {"axes": 1}, [(None,), (None,)]),
    ("Dot", {"axes": -1}, [(4,), (3, 4)]),
    ("Dot", {"axes": (-1, 1)}, [(None, 4), (4, None)]),
]


@pytest.mark.parametrize("case", SYMBOLIC_CASES, ids=case_id)
def test_symbolic_output_shape_matches_keras(case):
    name, kwargs, shapes = case
    ours, theirs = both(name, **kwargs)
    got = ours([Input(shape) for shape in shapes]).shape
    expected = tuple(theirs([keras.Input(shape) for shape in shapes]).shape)
    assert got == expected


def test_known_batch_sizes_carry_to_the_output_as_in_keras():
    ours = merge.Add()([Input((4, 3), batch_size=2), Input((4, 3))]).shape
    theirs = keras.layers.Add()([keras.Input((4, 3), batch_size=2), keras.Input((4, 3))]).shape
    assert ours == tuple(theirs) == (2, 4, 3)


# =========================================================================== refused inputs
# Every case here is refused by Keras too (checked below against it); clearconv's message
# names the layer and quotes the shapes.

REFUSED_CASES = [
    ("Add", {}, [(2, 5, 3), (2, 4, 3)], "incompatible shapes"),
    ("Multiply", {}, [(2, 4), (2, 4, 3)], "incompatible shapes"),
    ("Maximum", {}, [(1, 4, 3), (2, 4, 3)], "different batch sizes"),
    ("Subtract", {}, [(2, 3), (2, 3), (2, 3)], "exactly 2 inputs"),
    ("Subtract", {}, [(2, 3)], "exactly 2 inputs"),
    ("Concatenate", {}, [(2, 4, 3), (2, 3)], "matching shapes"),
    ("Concatenate", {"axis": 1}, [(2, 4, 3), (2, 4, 2)], "matching shapes"),
    ("Concatenate", {"axis": 1}, [(2, 4, 3), (3, 4, 3)], "matching shapes"),
    ("Concatenate", {"axis": -1}, [(2, 1, 3), (2, 4, 3)], "matching shapes"),
    ("Concatenate", {"axis": 3}, [(2, 4, 3), (2, 4, 3)], "out of range"),
    ("Concatenate", {"axis": -4}, [(2, 4, 3), (2, 4, 3)], "out of range"),
    ("Dot", {"axes": 0}, [(2, 3), (2, 3)], "batch axis"),
    ("Dot", {"axes": (0, 1)}, [(2, 3), (2, 2)], "batch axis"),
    ("Dot", {"axes": -2}, [(2, 3), (2, 3)], "batch axis"),
    ("Dot", {"axes": 1}, [(2, 3), (2, 4)], "incompatible input shapes"),
    ("Dot", {"axes": 1}, [(2, 3), (3, 3)], "different batch sizes"),
    ("Dot", {"axes": 1}, [(2, 3), (2, 3), (2, 3)], "exactly 2 inputs"),
    ("Dot", {"axes": 0}, [(3,), (3,)], "rank >= 2"),
    ("Dot", {"axes": 3}, [(2, 3), (2, 3)], "out of range"),
]


@pytest.mark.parametrize("case", REFUSED_CASES, ids=lambda case: case_id(case[:3]))
def test_refused_inputs_as_keras_refuses_them(case):
    name, kwargs, shapes, words = case
    ours, theirs = both(name, **kwargs)
    xs = inputs_for(shapes)
    with pytest.raises(Exception):
        theirs(xs)
    with pytest.raises(ValueError) as error:
        ours(xs)
    message = str(error.value)
    assert ours.name in message and words in message, message
    assert str(shapes[1] if len(shapes) > 1 else shapes[0]) in message, message


SYMBOLIC_REFUSED = [
    ("Concatenate", {}, [(5, 3), (4, 3)], "matching shapes"),
    ("Dot", {"axes": 1}, [(None,), (4,)], "incompatible input shapes"),  # Keras: None matches only None
    ("Add", {}, [(5, 3), (4, 3)], "incompatible shapes"),
]


@pytest.mark.parametrize("case", SYMBOLIC_REFUSED, ids=lambda case: case_id(case[:3]))
def test_refused_symbolic_inputs_as_keras_refuses_them(case):
    name, kwargs, shapes, words = case
    ours, theirs = both(name, **kwargs)
    with pytest.raises(ValueError):
        theirs([keras.Input(shape) for shape in shapes])
    with pytest.raises(ValueError, match=words) as error:
        ours([Input(shape) for shape in shapes])
    assert ours.name in str(error.value)


@pytest.mark.parametrize("name", ELEMENTWISE + ["Concatenate", "Dot"])
def test_a_single_tensor_is_refused(name):
    layer = merge.Dot(axes=1) if name == "Dot" else getattr(merge, name)()
    with pytest.raises(ValueError, match="should be called on a list of") as error:
        layer(rand((2, 3)))
    assert layer.name in str(error.value)
    with pytest.raises(ValueError, match="should be called on a list of"):
        layer([])


@pytest.mark.parametrize("axes, error", [("a", TypeError), (1.0, TypeError), ((1, 2, 3), ValueError),
                                         ((1, 2.0), ValueError), ([1], ValueError)])
def test_dot_refuses_bad_axes_as_keras_does(axes, error):
    with pytest.raises(error):
        keras.layers.Dot(axes=axes)
    with pytest.raises(error, match="`axes` must be an int or a pair of ints"):
        merge.Dot(axes=axes)


def test_bad_arguments_are_named():
    with pytest.raises(TypeError, match="`axes` must be an int or a pair of ints"):
        merge.Dot(axes=True)  # Keras takes a bool as an int; a bool axis is surely a mistake
    with pytest.raises(TypeError, match="`normalize` must be True or False"):
        merge.Dot(axes=1, normalize="yes")
    with pytest.raises(TypeError, match="`axis` must be an integer"):
        merge.Concatenate(axis=1.5)
    with pytest.raises(TypeError, match="unexpected keyword argument.*'axes'"):
        merge.Add(axes=1)
    with pytest.raises(TypeError, match="'axes' -> 'axis'"):
        merge.concatenate([rand((2, 3))] * 2, axes=1)


def test_integer_inputs_are_refused():
    with pytest.raises(TypeError, match="floating point"):
        merge.add([np.ones((2, 3), np.int64), np.ones((2, 3), np.int64)])


# =========================================================================== gradients
# Float64 layers against central finite differences: every input, broadcasting and rank
# changes included (their gradients are sums over the stretched axes).

GRADIENT_CASES = [c for c in OUTPUT_CASES if c[0] != "Dot"] + [
    ("Dot", {**kwargs, "normalize": normalize}, shapes)
    for kwargs, shapes in [DOT_CASES[0], DOT_CASES[2], DOT_CASES[3], DOT_CASES[6], DOT_CASES[7]]
    for normalize in (False, True)]


def tape_vjp(layer):
    """backward(grad_output, *inputs) of ``layer`` through clearconv's tape."""
    def backward(grad_output, *arrays):
        tensors = [Tensor(a.copy(), requires_grad=True) for a in arrays]
        output = layer(tensors)
        assert output.shape == grad_output.shape
        output.backward(grad_output)
        return tuple(t.grad for t in tensors)
    return backward


@pytest.mark.parametrize("case", GRADIENT_CASES, ids=case_id)
def test_gradients_match_finite_differences(case):
    name, kwargs, shapes = case
    layer = getattr(merge, name)(dtype="float64", **kwargs)
    xs = inputs_for(shapes, seed=11, dtype=np.float64)
    assert_vjp_matches(lambda *arrays: layer(list(arrays)), tape_vjp(layer), xs, rtol=1e-6, atol=1e-8,
                       label=case_id(case))


@pytest.mark.parametrize("name, torch_op", [("Maximum", torch.maximum), ("Minimum", torch.minimum)])
def test_tie_gradients_match_pytorch(name, torch_op):
    """Ties everywhere (values from {-1, 0, 1}), three inputs, one broadcast: the pairwise
    fold of torch.maximum / torch.minimum is the oracle."""
    rng = np.random.default_rng(5)
    shapes = [(3, 4, 5), (3, 4, 5), (3, 1, 5)]
    xs = [rng.integers(-1, 2, shape).astype(np.float64) for shape in shapes]
    grad_output = rng.standard_normal((3, 4, 5))
    ours = tape_vjp(getattr(merge, name)(dtype="float64"))(grad_output, *xs)
    tensors = [torch.tensor(x, requires_grad=True) for x in xs]
    output = torch_op(torch_op(tensors[0], tensors[1]), tensors[2])
    output.backward(torch.tensor(grad_output))
    for index, (got, tensor) in enumerate(zip(ours, tensors)):
        np.testing.assert_allclose(got, tensor.grad.numpy(), rtol=1e-12, atol=1e-12, err_msg=f"input {index}")
    assert (xs[0] == xs[1]).any() and (xs[0] == xs[2]).any()  # the case really has ties


def test_dot_normalize_gradient_below_the_clamp():
    """Below norm 1e-7 Keras scales by the constant 1e7, so there the gradient is g * 1e7.

    Oracles: float64 finite differences with a step far below the clamp (so no step crosses
    it), and jax's gradient through the Keras layer on the rows it defines: for an exactly zero
    vector jax returns NaN (0 * inf in the chain rule of rsqrt), where the layer keeps the limit.
    """
    import jax
    import jax.numpy as jnp
    x = np.array([[1e-9, -2e-9, 3e-9], [0.0, 0.0, 0.0], [0.5, -1.0, 2.0]])
    y = np.array([[1.0, 2.0, -2.0], [0.3, 0.1, 0.2], [2e-9, 1e-9, 0.0]])
    grad_output = np.array([[0.7], [-1.3], [2.1]])
    layer = merge.Dot(axes=1, normalize=True, dtype="float64")
    got = tape_vjp(layer)(grad_output, x, y)
    for index in range(2):
        expected = numerical_vjp(lambda a, b: layer([a, b]), [x.copy(), y.copy()], grad_output, index, eps=1e-11)
        np.testing.assert_allclose(got[index], expected, rtol=1e-5, atol=1e-6, err_msg=f"input {index}")

    theirs = keras.layers.Dot(axes=1, normalize=True)
    x32, y32, g32 = x.astype(np.float32), y.astype(np.float32), grad_output.astype(np.float32)
    expected = jax.grad(lambda a, b: jnp.sum(theirs([a, b]) * g32), argnums=(0, 1))(x32, y32)
    got = tape_vjp(merge.Dot(axes=1, normalize=True))(g32, x32, y32)
    defined = [0, 2]  # row 1 of x is the zero vector
    for index in range(2):
        np.testing.assert_allclose(got[index][defined], np.asarray(expected[index])[defined], rtol=1e-5,
                                   atol=1e-3, err_msg=f"input {index}")
    assert np.isfinite(got[0]).all()


def test_one_input_returns_a_new_array_and_passes_the_gradient():
    x = rand((2, 3))
    y = merge.Add()([x])
    assert not np.shares_memory(x, y)
    np.testing.assert_array_equal(y, x)
    t = Tensor(x, requires_grad=True)
    merge.Maximum()([t]).backward(np.full((2, 3), 2.0, np.float32))
    np.testing.assert_array_equal(t.grad, np.full((2, 3), 2.0))


def test_weights_of_a_model_receive_gradients_through_a_merge():
    """A Tensor input records through the merge: backward reaches both branches."""
    a, b = Tensor(rand((2, 3), 1), requires_grad=True), Tensor(rand((2, 3), 2), requires_grad=True)
    merge.dot([a, b], axes=1).sum().backward()
    np.testing.assert_allclose(a.grad, b.data)
    np.testing.assert_allclose(b.grad, a.data)


# =========================================================================== functional models against Keras


def build_model(library, functions):
    """Three inputs; every functional form; one Dense so the graph has weights."""
    x = library.Input((4, 3))
    y = library.Input((4, 3))
    z = library.Input((3,))
    dense = functions.Dense(3, name="projection")
    projected = dense(y)
    outputs = [
        functions.add([x, projected, z]),
        functions.subtract([x, z]),
        functions.multiply([x, projected]),
        functions.average([x, y, z]),
        functions.maximum([x, projected]),
        functions.minimum([z, x, y]),
        functions.concatenate([x, projected], axis=1),
        functions.concatenate([x, y]),
        functions.dot([x, projected], axes=1),
        functions.dot([x, y], axes=-1, normalize=True),
        functions.dot([x, z], axes=(2, 1)),
    ]
    return [x, y, z], outputs, dense


class _OurFunctions:
    """clearconv's functional forms with the names keras.layers gives them."""

    def __getattr__(self, name):
        if name == "Dense":
            from clearconv.layers import Dense
            return Dense
        return getattr(merge, name)


def test_functional_model_matches_keras():
    import clearconv
    their_inputs, their_outputs, their_dense = build_model(keras, keras.layers)
    our_inputs, our_outputs, our_dense = build_model(clearconv, _OurFunctions())
    assert [o.shape for o in our_outputs] == [tuple(o.shape) for o in their_outputs]
    theirs = keras.Model(their_inputs, their_outputs)
    ours = Model(our_inputs, our_outputs)
    our_dense.set_weights(their_dense.get_weights())
    data = inputs_for([(5, 4, 3), (5, 4, 3), (5, 3)], seed=21)
    expected = theirs.predict(data, verbose=0)
    got = ours.predict(data, batch_size=2)
    assert len(got) == len(expected) == 11
    for index, (g, e) in enumerate(zip(got, expected)):
        assert g.shape == e.shape, index
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6, err_msg=f"output {index}")


def test_functional_model_round_trips_through_its_config():
    x, y = Input((4, 3)), Input((4, 3))
    model = Model([x, y], [merge.dot([x, y], axes=[1, 1], normalize=True), merge.average([x, y])])
    data = inputs_for([(2, 4, 3), (2, 4, 3)], seed=4)
    config = json.loads(json.dumps(model.get_config()))
    from clearconv.models.serialization import registry
    if "Dot" not in registry():
        pytest.skip("Dot and Average are not exported from clearconv.layers yet")
    clone = Model.from_config(config)
    for got, expected in zip(clone.predict(data), model.predict(data)):
        np.testing.assert_array_equal(got, expected)


# =========================================================================== config


CONFIG_CASES = [(name, {}) for name in ELEMENTWISE] + [
    ("Concatenate", {"axis": 1}), ("Dot", {"axes": (1, 2), "normalize": True}), ("Dot", {"axes": [-1, 1]}),
    ("Dot", {"axes": 2})]


@pytest.mark.parametrize("name, kwargs", CONFIG_CASES)
def test_config_has_keras_keys_and_round_trips(name, kwargs):
    ours, theirs = both(name, **kwargs, name=f"merge_{name.lower()}")
    config = ours.get_config()
    assert set(config) == set(theirs.get_config())
    for key in set(config) - {"dtype"}:
        assert config[key] == theirs.get_config()[key], key
    clone = type(ours).from_config(json.loads(json.dumps(config)))
    assert json.loads(json.dumps(clone.get_config())) == json.loads(json.dumps(config))
    shapes = {"Concatenate": [(2, 3, 4), (2, 1, 4)], "Dot": [(2, 4, 5), (2, 5, 4)]}.get(name, [(2, 3), (2, 3)])
    if name == "Dot" and kwargs["axes"] == 2:
        shapes = [(2, 3, 4), (2, 5, 4)]
    xs = inputs_for(shapes)
    np.testing.assert_array_equal(clone(xs), ours(xs))
