"""clearconv.config, clearconv.backend and clearconv.random against real Keras 3 and hand computations.

Settings and dtype rules are compared with Keras's answers. Random draws are
checked by their moments and bounds, by their reproducibility, and by the
documented seeding contract (an int seed s draws from
np.random.default_rng([s, 0]), the n-th call with SeedGenerator(s) from
default_rng([s, n])), computed here with NumPy directly.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from clearconv import backend, config, utils
from clearconv import random as cr
from clearconv.autograd import Tensor
from clearconv.layers import Conv2D, Dense, Input
from gradcheck import assert_vjp_matches
from keras_oracle import import_keras

keras = import_keras()


@pytest.fixture(autouse=True)
def restore_settings():
    """Every test starts from the defaults, in clearconv and in the Keras oracle."""
    _forget_keras_dtype_policy()
    yield
    _forget_keras_dtype_policy()
    for module in (config, keras.config):
        module.set_floatx("float32")
        module.set_epsilon(1e-7)
        module.set_image_data_format("channels_last")


def _forget_keras_dtype_policy():
    """Keras fixes its global dtype policy from floatx when it builds its first layer, after which
    set_floatx no longer reaches new layers; clearing it lets Keras read floatx afresh."""
    from keras.src.backend.common import global_state
    global_state.set_global_attribute("dtype_policy", None)


# ---- config and backend: settings ----------------------------------------------------------------

def test_defaults_are_keras_defaults():
    assert config.floatx() == keras.config.floatx() == "float32"
    assert config.epsilon() == keras.config.epsilon() == 1e-7
    assert config.image_data_format() == keras.config.image_data_format() == "channels_last"
    assert config.backend() == backend.backend() == "numpy"


def test_config_and_backend_share_one_state():
    for name in ("floatx", "set_floatx", "epsilon", "set_epsilon", "image_data_format", "set_image_data_format",
                 "backend"):
        assert getattr(backend, name) is getattr(config, name)
    backend.set_floatx("float64")
    assert config.floatx() == "float64"
    config.set_epsilon(1e-5)
    assert backend.epsilon() == 1e-5


@pytest.mark.parametrize("value", ["float16", "float32", "float64"])
def test_set_floatx_accepts_what_keras_accepts(value):
    config.set_floatx(value)
    keras.config.set_floatx(value)
    assert config.floatx() == keras.config.floatx() == value


@pytest.mark.parametrize("value", ["int32", "float", "float8_e4m3fn", None, 32])
def test_set_floatx_refuses_what_keras_refuses(value):
    with pytest.raises(ValueError):
        keras.config.set_floatx(value)
    with pytest.raises(ValueError, match=r"Unknown `floatx` value.*Expected one of"):
        config.set_floatx(value)
    assert config.floatx() == "float32"


def test_bfloat16_is_refused_with_the_reason():
    with pytest.raises(ValueError, match="no bfloat16"):
        config.set_floatx("bfloat16")


def test_epsilon_set_and_refused():
    config.set_epsilon(1e-5)
    assert config.epsilon() == 1e-5
    for bad in (-1.0, math.nan, math.inf, "1e-5", None, True):
        with pytest.raises(ValueError, match="`value` must be a finite number >= 0"):
            config.set_epsilon(bad)
    assert config.epsilon() == 1e-5


@pytest.mark.parametrize("value, expected", [("channels_first", "channels_first"),
                                             ("Channels_Last", "channels_last")])
def test_set_image_data_format_as_keras(value, expected):
    config.set_image_data_format(value)
    keras.config.set_image_data_format(value)
    assert config.image_data_format() == keras.config.image_data_format() == expected


def test_set_image_data_format_error_is_keras_error():
    with pytest.raises(ValueError) as keras_error:
        keras.config.set_image_data_format("nhwc")
    with pytest.raises(ValueError) as ours:
        config.set_image_data_format("nhwc")
    assert str(ours.value) == str(keras_error.value)


def test_unsafe_deserialization_flag():
    assert config.in_safe_mode()
    config.enable_unsafe_deserialization()
    try:
        assert not config.in_safe_mode()
    finally:
        config._safe_mode = True


# The two settings reach the layers once layers/base.py reads floatx() and layers/conv.py
# reads image_data_format() for their None defaults.
@pytest.mark.filterwarnings("ignore:Explicitly requested dtype float64")     # JAX stores Keras's weights in float32
def test_set_floatx_changes_new_layers_and_weights():
    keras.config.set_floatx("float64")
    config.set_floatx("float64")
    expected = keras.layers.Dense(2)
    expected.build((None, 3))
    layer = Dense(2)
    layer.build((None, 3))
    assert layer.dtype == expected.dtype_policy.name == "float64"
    assert layer.kernel.dtype == np.dtype(expected.kernel.dtype) == np.float64
    assert Input((3,)).dtype == keras.Input((3,)).dtype == "float64"


def test_set_image_data_format_changes_new_conv_layers():
    keras.config.set_image_data_format("channels_first")
    config.set_image_data_format("channels_first")
    assert Conv2D(2, 3).data_format == keras.layers.Conv2D(2, 3).data_format == "channels_first"


# ---- backend: session state ------------------------------------------------------------------------

def test_clear_session_restarts_layer_names_as_keras():
    for module_clear, make in ((keras.backend.clear_session, keras.layers.Dense), (backend.clear_session, Dense)):
        module_clear()
        names = [make(1).name for _ in range(3)]
        module_clear(free_memory=False)
        names.append(make(1).name)
        assert names == ["dense", "dense_1", "dense_2", "dense"]


def test_get_uid_shares_the_name_counters_as_keras():
    keras.backend.clear_session()
    expected = [keras.backend.get_uid("dense"), keras.backend.get_uid("dense"), keras.layers.Dense(1).name,
                keras.backend.get_uid("other")]
    backend.clear_session()
    got = [backend.get_uid("dense"), backend.get_uid("dense"), Dense(1).name, backend.get_uid("other")]
    assert got == expected == [1, 2, "dense_2", 1]


def test_is_keras_tensor():
    assert backend.is_keras_tensor(Input((3,))) and keras.backend.is_keras_tensor(keras.Input((3,)))
    for value in (np.ones(3), Tensor(np.ones(3)), 1.0):
        assert not backend.is_keras_tensor(value)
        assert not keras.backend.is_keras_tensor(np.asarray(value))


# ---- backend: dtypes ---------------------------------------------------------------------------------

DTYPE_FORMS = [None, "float32", "float16", "float64", "int8", "uint16", "int64", "bool", "bfloat16", "string",
               "complex64", np.float32, np.int16, np.dtype("float64"), np.dtype("uint8"), np.bool_, float, int,
               bool, str, "int"]


@pytest.mark.parametrize("dtype", DTYPE_FORMS, ids=str)
def test_standardize_dtype_as_keras(dtype):
    assert backend.standardize_dtype(dtype) == keras.backend.standardize_dtype(dtype)
    assert utils.standardize_dtype(dtype) == keras.backend.standardize_dtype(dtype)
    assert backend.is_float_dtype(dtype) == keras.backend.is_float_dtype(dtype)
    assert backend.is_int_dtype(dtype) == keras.backend.is_int_dtype(dtype)


@pytest.mark.parametrize("dtype", ["float", "f4", "float128", "foo", 3])
def test_standardize_dtype_refuses_as_keras(dtype):
    with pytest.raises(ValueError):
        keras.backend.standardize_dtype(dtype)
    with pytest.raises(ValueError, match="Invalid dtype"):
        backend.standardize_dtype(dtype)


PROMOTED = ["bool", "uint8", "uint32", "uint64", "int8", "int16", "int32", "int64", "bfloat16", "float16",
            "float32", "float64", "complex64", "complex128", int, float, None]


def _answer(function, args):
    try:
        return function(*args)
    except ValueError:
        return "error"


@pytest.mark.parametrize("floatx", ["float32", "float16", "float64"])
def test_result_type_as_keras(floatx):
    config.set_floatx(floatx)
    keras.config.set_floatx(floatx)
    cases = [()] + [(a,) for a in PROMOTED] + list(itertools.product(PROMOTED, repeat=2))
    cases += [("uint8", "int8", float), (int, float, "int16"), ("float8_e4m3fn", "float32"),
              ("string", "int32")]
    mismatches = [(args, _answer(backend.result_type, args), _answer(keras.backend.result_type, args))
                  for args in cases]
    mismatches = [m for m in mismatches if m[1] != m[2]]
    assert not mismatches, mismatches[:10]


# ---- random: seeds ---------------------------------------------------------------------------------

def test_int_seed_follows_the_documented_generator():
    got = cr.normal((3, 4), mean=1.0, stddev=2.0, seed=42)
    expected = np.random.default_rng([42, 0]).normal(loc=1.0, scale=2.0, size=(3, 4)).astype(np.float32)
    assert isinstance(got, Tensor) and got.dtype == np.float32
    np.testing.assert_array_equal(got.data, expected)
    np.testing.assert_array_equal(cr.normal((3, 4), 1.0, 2.0, seed=42).data, expected)    # same on every call
    # seeds are 32-bit, as in Keras: -1 and 2**32 - 1 are the same seed
    np.testing.assert_array_equal(cr.uniform((5,), seed=-1).data, cr.uniform((5,), seed=2**32 - 1).data)


def test_seed_generator_advances_and_replays():
    generator = cr.SeedGenerator(7)
    draws = [cr.uniform((4,), seed=generator).data for _ in range(3)]
    for n, draw in enumerate(draws):
        np.testing.assert_array_equal(draw, np.random.default_rng([7, n]).uniform(size=4).astype(np.float32))
    assert generator.state.data.tolist() == [7, 3] and generator.state.dtype == np.uint32
    replay = cr.SeedGenerator(7)
    np.testing.assert_array_equal(cr.uniform((4,), seed=replay).data, draws[0])
    # the first draw of SeedGenerator(s) is the draw of seed=s, as in Keras
    np.testing.assert_array_equal(cr.uniform((4,), seed=7).data, draws[0])
    assert cr.SeedGenerator.from_config(generator.get_config()).state.data.tolist() == [7, 0]


def test_seed_generator_unordered_step_is_keras_step():
    ours, theirs = cr.SeedGenerator(11), keras.random.SeedGenerator(11)
    for _ in range(3):
        ours.next(ordered=False)
        theirs.next(ordered=False)
        assert ours.state.data.tolist() == np.asarray(theirs.state.value).tolist()


def test_seed_none_draws_from_the_global_generator():
    utils.set_seed(5)
    first = cr.normal((6,)).data
    second = cr.normal((6,)).data
    assert not np.array_equal(first, second)
    reference = np.random.default_rng(5)
    np.testing.assert_array_equal(first, reference.normal(size=6).astype(np.float32))
    np.testing.assert_array_equal(second, reference.normal(size=6).astype(np.float32))


def test_seed_generator_without_seed_is_reproducible_under_set_seed():
    utils.set_seed(9)
    a = cr.SeedGenerator().state.data.copy()
    utils.set_seed(9)
    b = cr.SeedGenerator().state.data.copy()
    np.testing.assert_array_equal(a, b)
    assert 1 <= a[0] <= 10**9 and a[1] == 0


@pytest.mark.parametrize("seed", [1.5, "3", [1, 2], True])
def test_bad_seeds_are_refused(seed):
    with pytest.raises(ValueError, match="`seed` must be either an integer"):
        cr.normal((2,), seed=seed)


def test_seed_generator_bad_arguments():
    with pytest.raises(ValueError, match="must be an integer"):
        cr.SeedGenerator(seed=1.5)
    with pytest.raises(ValueError, match="unrecognized keyword arguments \\['backend'\\]"):
        cr.SeedGenerator(1, backend="jax")


# ---- random: distributions ----------------------------------------------------------------------------

N = 200_000


def test_normal_moments_and_dtype():
    x = cr.normal((N,), mean=3.0, stddev=2.0, dtype="float64", seed=1).data
    assert x.dtype == np.float64
    assert abs(x.mean() - 3.0) < 5 * 2.0 / math.sqrt(N)
    assert abs(x.std() - 2.0) < 0.02


def test_uniform_bounds_and_moments():
    x = cr.uniform((N,), minval=-2.0, maxval=4.0, seed=2).data
    assert x.dtype == np.float32 and x.min() >= -2.0 and x.max() < 4.0
    assert abs(x.mean() - 1.0) < 5 * 6 / math.sqrt(12 * N)
    assert abs(x.var() - 36 / 12) < 0.05


def test_randint_bounds_and_frequencies():
    x = cr.randint((N,), 3, 8, seed=3).data
    assert x.dtype == np.int32 and x.min() == 3 and x.max() == 7
    np.testing.assert_allclose(np.bincount(x - 3) / N, 0.2, atol=0.01)
    assert cr.randint((4,), 0, 5, dtype="uint8", seed=1).dtype == np.uint8


def test_truncated_normal_bounds_and_std():
    x = cr.truncated_normal((400, 500), mean=1.0, stddev=0.5, seed=4).data
    assert x.shape == (400, 500) and x.dtype == np.float32
    assert x.min() >= 1.0 - 1.0 and x.max() <= 1.0 + 1.0
    # std of N(0, 1) truncated to [-2, 2], from its closed form
    pdf2 = math.exp(-2.0) / math.sqrt(2 * math.pi)
    truncated_std = math.sqrt(1 - 4 * pdf2 / math.erf(2 / math.sqrt(2)))
    assert abs(x.std() - 0.5 * truncated_std) < 0.005
    assert abs(x.mean() - 1.0) < 0.005
    assert cr.truncated_normal((0, 3), seed=1).shape == (0, 3)


def test_gamma_beta_binomial_moments():
    g = cr.gamma((N,), alpha=3.0, seed=5).data
    assert abs(g.mean() - 3.0) < 0.03 and abs(g.var() - 3.0) < 0.1
    b = cr.beta((N,), alpha=2.0, beta=3.0, seed=6).data
    assert b.min() >= 0 and b.max() <= 1 and abs(b.mean() - 0.4) < 0.005
    k = cr.binomial((N,), counts=10, probabilities=0.3, seed=7).data
    assert k.dtype == np.float32 and abs(k.mean() - 3.0) < 0.02 and abs(k.var() - 2.1) < 0.05


def test_dtype_errors_as_keras():
    with pytest.raises(ValueError, match="requires a floating point `dtype`"):
        cr.uniform((2,), dtype="int32")
    with pytest.raises(ValueError, match="requires an integer `dtype`"):
        cr.randint((2,), 0, 3, dtype="float32")
    with pytest.raises(ValueError, match="no bfloat16"):
        cr.normal((2,), dtype="bfloat16")
    with pytest.raises(ValueError, match="`shape` must be a tuple of non-negative integers"):
        cr.normal((2, -1))
    for function in (lambda: keras.random.uniform((2,), dtype="int32"),
                     lambda: keras.random.randint((2,), 0, 3, dtype="float32")):
        with pytest.raises(ValueError):
            function()


def test_floatx_is_the_default_dtype():
    config.set_floatx("float64")
    assert cr.normal((2,), seed=1).dtype == np.float64
    assert cr.uniform((2,), seed=1).dtype == np.float64


# ---- random: dropout, shuffle, categorical --------------------------------------------------------

def test_dropout_rate_scale_and_mask():
    x = np.full((400, 500), 2.0, dtype=np.float32)
    y = cr.dropout(x, 0.3, seed=8).data
    assert y.dtype == np.float32 and set(np.unique(y)) <= {0.0, np.float32(2.0) / np.float32(0.7)}
    assert abs((y == 0).mean() - 0.3) < 0.005
    # the documented mask: uniform draws of the noise shape below 1 - rate
    keep = np.random.default_rng([8, 0]).uniform(size=x.shape) < 0.7
    np.testing.assert_array_equal(y != 0, keep)


def test_dropout_noise_shape_drops_whole_slices():
    x = np.ones((4, 5, 6), dtype=np.float32)
    y = cr.dropout(x, 0.5, noise_shape=(None, 1, 6), seed=9).data
    assert (y == y[:, :1, :]).all()
    with pytest.raises(ValueError, match="`noise_shape`"):
        cr.dropout(x, 0.5, noise_shape=(4, 2, 6))


def test_dropout_edges_and_errors():
    x = Tensor(np.ones((2, 3), dtype=np.float32))
    assert cr.dropout(x, 0.0) is x
    assert not cr.dropout(x, 1.0).data.any()
    for rate in (-0.1, 1.5, "0.5"):
        with pytest.raises(ValueError, match="`rate` must be a number in \\[0, 1\\]"):
            cr.dropout(x, rate)
    with pytest.raises(TypeError, match="floating point"):
        cr.dropout(np.ones(3, dtype=np.int32), 0.5)


def test_dropout_and_shuffle_gradients():
    x = np.random.default_rng(0).normal(size=(3, 4))

    def dropout_forward(a):
        return cr.dropout(a, 0.4, seed=3).data

    def dropout_backward(g, a):
        t = Tensor(a, requires_grad=True)
        (cr.dropout(t, 0.4, seed=3) * g).sum().backward()
        return (t.grad,)
    assert_vjp_matches(dropout_forward, dropout_backward, [x])

    def shuffle_forward(a):
        return cr.shuffle(a, axis=1, seed=4).data

    def shuffle_backward(g, a):
        t = Tensor(a, requires_grad=True)
        (cr.shuffle(t, axis=1, seed=4) * g).sum().backward()
        return (t.grad,)
    assert_vjp_matches(shuffle_forward, shuffle_backward, [x])


def test_shuffle_permutes_each_slice_along_the_axis():
    x = np.arange(60, dtype=np.float32).reshape(6, 10)
    y = cr.shuffle(x, seed=5).data                        # axis 0: each column on its own, as Keras on JAX
    np.testing.assert_array_equal(np.sort(y, axis=0), x)
    # the documented draws: Generator.permuted along the axis
    np.testing.assert_array_equal(y, np.random.default_rng([5, 0]).permuted(x, axis=0))
    y1 = cr.shuffle(x, axis=-1, seed=5).data
    np.testing.assert_array_equal(np.sort(y1, axis=1), x)
    with pytest.raises(ValueError, match="`axis` must be an integer in \\[-2, 2\\)"):
        cr.shuffle(x, axis=2)


def test_categorical_frequencies_and_shape():
    # -inf logits: impossible classes
    logits = np.array([[np.log(0.2), np.log(0.5), np.log(0.3)], [-np.inf, -np.inf, 0.0]], dtype=np.float32)
    samples = cr.categorical(logits, 50_000, seed=6).data
    assert samples.shape == (2, 50_000) and samples.dtype == np.int32
    np.testing.assert_allclose(np.bincount(samples[0], minlength=3) / 50_000, [0.2, 0.5, 0.3], atol=0.01)
    assert (samples[1] == 2).all()
    with pytest.raises(ValueError, match="`logits` should be a 2-D tensor"):
        cr.categorical(np.zeros(3), 2)


# ---- random: Keras's NumPy backend gives the same values --------------------------------------------

@pytest.fixture
def keras_numpy_random(monkeypatch):
    """Keras's NumPy-backend random module, run inside this JAX-backend process.

    Importing it rebinds ``keras.src.backend.numpy`` (the JAX backend's op
    module) to the NumPy backend package, so the binding is put back at
    once; its seeds, drawn by the active (JAX) backend, are handed over as
    NumPy arrays, which is what they are under KERAS_BACKEND=numpy.
    """
    import importlib

    import keras.src.backend as keras_backend
    active_ops = keras_backend.numpy
    module = importlib.import_module("keras.src.backend.numpy.random")
    keras_backend.numpy = active_ops
    draw_seed = module.draw_seed
    monkeypatch.setattr(module, "draw_seed", lambda seed: np.asarray(draw_seed(seed)))
    return module


def test_draws_equal_keras_numpy_backend(keras_numpy_random):
    theirs = keras_numpy_random
    x = np.arange(1, 25, dtype="float32").reshape(2, 3, 4)
    logits = np.log(np.array([[0.2, 0.5, 0.3], [0.6, 0.1, 0.3]], dtype="float32"))
    their_generator, our_generator = keras.random.SeedGenerator(11), cr.SeedGenerator(11)
    pairs = {
        "normal": (theirs.normal((3, 4), 1.0, 2.0, seed=42), cr.normal((3, 4), 1.0, 2.0, seed=42)),
        "uniform": (theirs.uniform((3, 4), 2.0, 5.0, dtype="float64", seed=7),
                    cr.uniform((3, 4), 2.0, 5.0, dtype="float64", seed=7)),
        "randint": (theirs.randint((3, 4), 2, 50, seed=7), cr.randint((3, 4), 2, 50, seed=7)),
        "truncated_normal": (theirs.truncated_normal((5, 6), 1.0, 3.0, seed=7),
                             cr.truncated_normal((5, 6), 1.0, 3.0, seed=7)),
        "dropout": (theirs.dropout(x, 0.4, noise_shape=(None, 1, 4), seed=3),
                    cr.dropout(x, 0.4, noise_shape=(None, 1, 4), seed=3)),
        "shuffle": (theirs.shuffle(x, axis=1, seed=3), cr.shuffle(x, axis=1, seed=3)),
        "categorical": (theirs.categorical(logits, 20, dtype="int32", seed=5), cr.categorical(logits, 20, seed=5)),
        "gamma": (theirs.gamma((4,), 2.0, seed=4), cr.gamma((4,), 2.0, seed=4)),
        "binomial": (theirs.binomial((4,), 10, 0.3, seed=4), cr.binomial((4,), 10, 0.3, seed=4)),
        "beta": (theirs.beta((4,), 2.0, 3.0, seed=4), cr.beta((4,), 2.0, 3.0, seed=4)),
    }
    for n in range(3):
        pairs[f"generator draw {n}"] = (theirs.normal((5,), seed=their_generator),
                                        cr.normal((5,), seed=our_generator))
    for name, (expected, got) in pairs.items():
        expected = np.asarray(expected)
        assert got.dtype == expected.dtype, name
        np.testing.assert_array_equal(got.data, expected, err_msg=name)
