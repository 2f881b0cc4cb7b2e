"""clearconv.ops (Keras 3's keras.ops) against real Keras 3 (jax backend), and its gradients.

* Forward: each case runs the clearconv op and ``keras.ops`` on the same NumPy
  inputs and compares shape, dtype (Keras's jax backend maps 64-bit results to
  32 bits; clearconv keeps them, so dtypes are compared after that map) and
  values (exact for integer and boolean results, float32 tolerance otherwise).
* Backward: every differentiable case is rerun in float64 and its gradient
  (through ``Tensor.backward``) compared with central finite differences.
* Kinks and ties (max with ties, maximum of equal values, clip at a bound):
  compared with ``jax.grad`` through keras.ops, which fixes the convention.
"""

from __future__ import annotations

import numpy as np
import pytest

from keras_oracle import import_keras

keras = import_keras()
import jax  # noqa: E402  (installed with keras's jax backend)
import jax.numpy as jnp  # noqa: E402

from clearconv import Tensor, ops  # noqa: E402
from clearconv.ops import dispatch, dtypes  # noqa: E402
from gradcheck import numerical_vjp  # noqa: E402

RNG = np.random.default_rng(20240611)


def normal(*shape, scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def uniform(low, high, *shape):
    return RNG.uniform(low, high, shape).astype(np.float32)


def ints(low, high, *shape, dtype=np.int32):
    return RNG.integers(low, high, shape).astype(dtype)


class Case:
    """One op call: ``module.name(*args, **kwargs)`` in clearconv and in keras.ops.

    ``grad``: the arguments to differentiate (an index, or a path (i, j) into a list argument);
    ``keras``: a different Keras call when names or arguments differ.
    """

    def __init__(self, module, name, *args, grad=(), rtol=2e-5, atol=2e-6, keras_call=None, label="", **kwargs):
        self.module, self.name, self.args, self.kwargs = module, name, args, kwargs
        self.grad, self.rtol, self.atol, self.keras_call, self.label = grad, rtol, atol, keras_call, label

    @property
    def id(self):
        return f"{self.module}.{self.name}{'-' + self.label if self.label else ''}"

    def ours(self, args=None):
        return getattr(getattr(ops, self.module), self.name)(*(self.args if args is None else args), **self.kwargs)

    def theirs(self):
        if self.keras_call is not None:
            return self.keras_call(*self.args, **self.kwargs)
        return getattr(_keras_namespace(self.module), self.name)(*self.args, **self.kwargs)


def _keras_namespace(module):
    """keras.ops.numpy, .nn, .linalg and .image exist; core and math functions are only top-level."""
    return getattr(keras.ops, module) if module in ("numpy", "nn", "linalg", "image") else keras.ops


def _keras_pool(name):
    """keras.ops pooling with ``strides`` spelled out: Keras 3.15's jax backend fails on strides=None
    with an int pool_size (it converts the pool size to a full window twice)."""
    def call(inputs, pool_size, strides=None, **kwargs):
        return getattr(keras.ops, name)(inputs, pool_size, pool_size if strides is None else strides, **kwargs)
    return call


def _sparsemax_reference(x, axis=-1):
    """Sparsemax by bisection on the threshold tau (sum max(x - tau, 0) = 1), slice by slice.

    The oracle is the definition, not Keras: Keras 3.15's sparsemax sums the running sums over the
    support instead of taking the one at its end, so its outputs do not sum to 1 once two or more
    values are kept (e.g. [0.286, 0, 0.647, 0] for a row whose projection is [0.315, 0.009, 0.676, 0]).
    """
    z = np.moveaxis(np.asarray(x, np.float64), axis, -1)
    low, high = z.max(axis=-1, keepdims=True) - 1.0, z.max(axis=-1, keepdims=True)
    for _ in range(200):
        middle = (low + high) / 2
        above = np.maximum(z - middle, 0).sum(axis=-1, keepdims=True) > 1
        low, high = np.where(above, middle, low), np.where(above, high, middle)
    return np.moveaxis(np.maximum(z - (low + high) / 2, 0), -1, axis).astype(np.asarray(x).dtype)


def N(name, *args, **kwargs):
    return Case("numpy", name, *args, **kwargs)


def NN(name, *args, **kwargs):
    return Case("nn", name, *args, **kwargs)


def C(name, *args, **kwargs):
    return Case("core", name, *args, **kwargs)


a34, b4, c31 = normal(3, 4), normal(4), normal(3, 1)
a234 = normal(2, 3, 4)
pos34 = uniform(0.2, 3.0, 3, 4)
unit34 = uniform(-0.9, 0.9, 3, 4)
i34 = ints(-5, 6, 3, 4)
bool34 = normal(3, 4) > 0
with_ties = np.array([[1.0, 3.0, 3.0, -1.0], [2.0, 2.0, 0.5, 2.0]], np.float32)
specials = np.array([[np.nan, np.inf, -np.inf, 1.5]], np.float32)
mixed = np.concatenate([specials, a34 * 3])  # (4, 4): non-finite values and values to round
images = normal(2, 5, 6, 3)

UNARY_FLOAT = ["negative", "square", "exp", "expm1", "abs", "absolute", "sin", "cos", "tan", "sinh", "cosh", "tanh",
               "arctan", "arcsinh", "reciprocal", "exp2"]
UNARY_POSITIVE = ["sqrt", "log", "log1p", "log2", "log10"]
UNARY_CONSTANT = ["sign", "floor", "ceil", "trunc", "round", "isnan", "isinf", "isfinite", "logical_not"]
BINARY = ["add", "subtract", "multiply", "divide", "true_divide", "maximum", "minimum", "arctan2", "logaddexp"]
COMPARISONS = ["equal", "not_equal", "greater", "greater_equal", "less", "less_equal", "logical_and", "logical_or",
               "logical_xor"]
ACTIVATIONS = ["relu", "relu6", "sigmoid", "sparse_sigmoid", "softplus", "softsign", "soft_shrink", "sparse_plus",
               "silu", "swish", "squareplus", "log_sigmoid", "leaky_relu", "hard_sigmoid", "hard_silu", "hard_swish",
               "elu", "selu", "gelu", "celu", "glu", "tanh_shrink", "hard_tanh", "hard_shrink", "softmax",
               "log_softmax"]

CASES = (
    [N(name, a34, grad=(0,)) for name in UNARY_FLOAT]
    + [N(name, pos34, grad=(0,)) for name in UNARY_POSITIVE]
    + [N(name, unit34, grad=(0,)) for name in ("arcsin", "arccos", "arctanh")]
    + [N("arccosh", pos34 + 1.0, grad=(0,))]
    + [N(name, mixed) for name in UNARY_CONSTANT]
    + [N(name, i34, label="int") for name in ["sqrt", "floor", "round", "abs", "square", "isnan"]]
    + [N("square", bool34, label="bool"), N("round", a34 * 10, decimals=1, label="decimals")]
    + [N(name, a34, b4, grad=(0, 1), label="row") for name in BINARY]
    + [N(name, a34, c31, grad=(0, 1), label="column") for name in ("add", "multiply", "divide", "maximum")]
    + [N(name, a34, 1.5, grad=(0,), label="scalar") for name in ("add", "divide", "minimum")]
    + [N(name, 2.5, a34, grad=(1,), label="scalar_first") for name in ("subtract", "divide", "maximum")]
    + [N(name, i34, ints(1, 4, 4), label="int") for name in ("add", "divide", "floor_divide", "mod", "power")]
    + [N("add", i34, 1.5, label="int_pyfloat"), N("add", i34, 2, label="int_pyint"),
       N("add", a34.astype(np.float16), 2.5, label="f16_pyfloat", rtol=1e-3),
       N("multiply", i34.astype(np.int8), 3, label="int8_pyint")]
    + [N("power", pos34, b4, grad=(0, 1)), N("power", a34, 2.0, grad=(0,), label="square"),
       N("mod", a34, uniform(0.5, 2.0, 4), grad=(0, 1)), N("floor_divide", a34, uniform(0.5, 2.0, 4)),
       # The quotient jumps to 0 where x2 == 0: finite differences in x2 only make sense elsewhere.
       N("divide_no_nan", a34, np.array([0.0, 1.5, -2.0, 0.0], np.float32), grad=(0,)),
       N("divide_no_nan", a34, uniform(0.5, 2.0, 4), grad=(0, 1), label="nonzero")]
    + [N(name, a34, b4) for name in COMPARISONS] + [N("equal", i34, 1.0, label="int_float")]
    + [N("clip", a34, -0.5, 0.5, grad=(0,)), N("clip", a34, c31 - 0.2, 0.7, grad=(0, 1), label="array_bound"),
       N("clip", i34, 0.5, 2.5, label="int"), N("clip", bool34, 0, 1, label="bool")]
    + [N("where", bool34, a34, b4, grad=(1, 2)), N("where", bool34, a34, 0.5, grad=(1,), label="scalar"),
       N("where", bool34, label="indices")]
    + [N("nan_to_num", specials), N("nan_to_num", specials, nan=1.0, posinf=9.0, neginf=-9.0, label="values")]
    # products
    + [N("matmul", a34, normal(4, 5), grad=(0, 1)), N("matmul", b4, normal(4, 5), grad=(0, 1), label="vector_left"),
       N("matmul", a34, b4, grad=(0, 1), label="vector_right"), N("matmul", b4, b4, grad=(0, 1), label="vectors"),
       N("matmul", normal(2, 1, 3, 4), normal(5, 4, 2), grad=(0, 1), label="batch_broadcast"),
       N("matmul", i34, ints(-3, 3, 4, 2), label="int")]
    + [N("dot", a34, normal(4, 5), grad=(0, 1)), N("dot", b4, b4, grad=(0, 1), label="vectors"),
       N("dot", a234, b4, grad=(0, 1), label="nd_vector"), N("dot", a234, normal(2, 4, 3), grad=(0, 1), label="nd_nd"),
       N("dot", 2.0, a34, grad=(1,), label="scalar")]
    + [N("tensordot", a234, normal(3, 4, 2), grad=(0, 1)),
       N("tensordot", a234, normal(4, 5), axes=1, grad=(0, 1), label="axes1"),
       N("tensordot", a234, normal(2, 5), axes=([0], [0]), grad=(0, 1), label="pairs"),
       N("tensordot", b4, normal(3), axes=0, grad=(0, 1), label="outer")]
    + [N("einsum", spec, *operands, grad=tuple(range(1, len(operands) + 1)), label=spec.replace("->", "_to_").replace(",", "_").replace("...", "E"))
       for spec, operands in [("ij,jk->ik", (a34, normal(4, 2))), ("ii->i", (normal(3, 3),)), ("ii", (normal(3, 3),)),
                              ("ij->", (a34,)), ("ij->ji", (a34,)), ("...ij,...jk->...ik", (a234, normal(4, 2))),
                              ("bij,bjk->bik", (a234, normal(2, 4, 2))), ("i,i", (b4, b4)), ("i,j->ij", (b4, normal(3))),
                              ("ij,jk", (a34, normal(4, 2))), ("ijk->kij", (a234,)), ("ij,jk,kl->il", (a34, normal(4, 2), normal(2, 3))),
                              ("iij->j", (normal(3, 3, 2),)), ("ij,j->i", (a34, b4)), ("bj,bj->bj", (normal(1, 3), normal(5, 3)))]]
    + [N("outer", a34, normal(2), grad=(0, 1)), N("inner", a34, b4, grad=(0, 1)), N("vdot", a34, normal(4, 3), grad=(0, 1))]
    # reductions
    + [N(name, a234, grad=(0,), **kw, label=str(kw)) for name in ("sum", "mean", "max", "min", "prod", "var", "std")
       for kw in ({}, {"axis": (0, 2), "keepdims": True})]
    + [N(name, a234, axis=-1, grad=(0,), label="axis") for name in ("sum", "amax", "amin", "var")]
    + [N("max", a34, initial=0.5, grad=(0,), label="initial"), N("min", a34, axis=0, initial=-0.2, label="initial")]
    + [N("prod", np.array([[1.5, 0.0, -2.0], [0.5, 0.0, 0.0], [1.0, 2.0, 3.0]], np.float32), axis=1, grad=(0,), label="zeros")]
    + [N(name, i34, label="int") for name in ("sum", "mean", "var")]
    + [N(name, bool34, label="bool") for name in ("sum", "prod", "max")]
    + [N("sum", i34.astype(np.int8), label="int8"), N("mean", a34.astype(np.float16), rtol=1e-3, label="f16")]
    + [N(name, bool34, **kw, label=str(kw)) for name in ("all", "any") for kw in ({}, {"axis": 0, "keepdims": True})]
    + [N("count_nonzero", i34), N("count_nonzero", i34, axis=1, label="axis")]
    + [N(name, with_ties, **kw, label=str(kw)) for name in ("argmax", "argmin")
       for kw in ({}, {"axis": 1, "keepdims": True})]
    + [N("argsort", with_ties), N("argsort", with_ties, axis=0, label="axis0"), N("argsort", with_ties, axis=None, label="flat"),
       N("sort", a34, grad=(0,)), N("sort", a34, axis=0, grad=(0,), label="axis0")]
    + [N("cumsum", a34, grad=(0,)), N("cumsum", a34, axis=1, grad=(0,), label="axis1"), N("cumsum", bool34, label="bool")]
    + [N("average", a34, grad=(0,)), N("average", a34, axis=1, weights=uniform(0.5, 2, 4), grad=(0, 2), label="weights")]
    + [Case("math", "logsumexp", a234, grad=(0,), **kw, label=str(kw)) for kw in ({}, {"axis": 1}, {"axis": (0, 2), "keepdims": True})]
    + [Case("math", "logsumexp", np.array([[-np.inf, -np.inf], [1.0, -np.inf]], np.float32), axis=1, label="neginf"),
       Case("math", "logsumexp", i34, label="int")]
    + [Case("math", name, a34, grad=(0,)) for name in ("erf", "erfc")] + [Case("math", "rsqrt", pos34, grad=(0,))]
    + [Case("math", "top_k", with_ties, 2), Case("math", "top_k", a34, 3, grad=(0,), label="grad")]
    + [Case("math", "in_top_k", np.array([1, 0, 3], np.int32), normal(3, 5), 2)]
    + [Case("linalg", "norm", x, grad=(0,), **kw, label=f"{x.ndim}d-{kw}") for x, kw in [
        (b4, {}), (b4, {"ord": 1}), (b4, {"ord": np.inf}), (b4, {"ord": -np.inf}), (b4, {"ord": 3}), (b4, {"ord": 0.5}),
        (a34, {}), (a34, {"ord": "fro"}), (a34, {"ord": 1}), (a34, {"ord": -1}), (a34, {"ord": np.inf}),
        (a34, {"ord": "nuc"}), (a34, {"ord": 2}), (a34, {"ord": -2}), (a34, {"axis": 1}), (a34, {"axis": 0, "ord": 1}),
        (a234, {}), (a234, {"axis": (0, 2), "keepdims": True}), (a234, {"axis": -1, "keepdims": True, "ord": 2})]]
    + [Case("linalg", "norm", b4, ord=0, label="ord0")]
    # shapes and movements
    + [N("reshape", a234, (-1, 2), grad=(0,)), N("ravel", a234, grad=(0,)), N("transpose", a234, grad=(0,)),
       N("transpose", a234, (1, 0, 2), grad=(0,), label="axes"), N("swapaxes", a234, 0, 2, grad=(0,)),
       N("moveaxis", a234, 0, -1, grad=(0,)), N("moveaxis", a234, (0, 1), (2, 0), grad=(0,), label="several"),
       N("expand_dims", a34, 1, grad=(0,)), N("expand_dims", a34, (0, 2), grad=(0,), label="tuple"),
       N("squeeze", normal(3, 1, 4, 1), grad=(0,)), N("squeeze", normal(3, 1, 4, 1), axis=1, grad=(0,), label="axis"),
       N("broadcast_to", c31, (2, 3, 4), grad=(0,)),
       N("concatenate", [a34, normal(3, 2)], axis=1, grad=((0, 0), (0, 1))),
       N("concatenate", [a34, i34], label="mixed_dtypes"),
       N("stack", [a34, a34 * 2, a34 + 1], axis=1, grad=((0, 0), (0, 1))), N("hstack", [a34, normal(3, 1)], grad=((0, 0),)),
       N("vstack", [b4, a34], grad=((0, 0), (0, 1))),
       N("split", normal(6, 2), 3, grad=(0,)), N("split", normal(2, 7), [1, 4], axis=1, grad=(0,), label="indices"),
       N("array_split", normal(7, 2), 3, grad=(0,)),
       N("tile", a34, (2, 1), grad=(0,)), N("tile", a34, 2, grad=(0,), label="int"), N("tile", b4, (2, 1, 3), grad=(0,), label="rank_up"),
       N("repeat", a34, 2, axis=1, grad=(0,)), N("repeat", a34, np.array([1, 0, 3]), axis=0, grad=(0,), label="counts"),
       N("repeat", a34, 2, grad=(0,), label="flat"),
       N("flip", a234, grad=(0,)), N("flip", a234, axis=1, grad=(0,), label="axis"),
       N("roll", a34, 2, axis=1, grad=(0,)), N("roll", a34, -3, grad=(0,), label="flat"),
       N("take", a34, np.array([0, 2, 2, -1]), axis=1, grad=(0,)), N("take", a34, np.array([[1, 5], [5, 0]]), grad=(0,), label="flat"),
       N("take_along_axis", a34, np.array([[0, 0, 3]] * 3), axis=1, grad=(0,)),
       N("take_along_axis", a34, np.array([[2, 0, 1, 1]]), axis=0, grad=(0,), label="broadcast_rows"),
       N("tril", a34, grad=(0,)), N("triu", a34, k=1, grad=(0,)), N("diagonal", a234, 1, 1, 2, grad=(0,)),
       N("trace", normal(3, 3), grad=(0,)), N("copy", a34, grad=(0,))]
    + [N("pad", a34, width, grad=(0,), **kw, label=f"{width}-{kw}") for width, kw in [
        (1, {}), (((1, 0), (0, 2)), {}), ((2, 1), {}), (((1, 2),), {}), (1, {"constant_values": 3.0}),
        (((2, 1), (1, 2)), {"mode": "reflect"}), (((2, 1), (1, 3)), {"mode": "symmetric"}),
        (((2, 0), (3, 1)), {"mode": "edge"}), (((4, 1), (2, 5)), {"mode": "wrap"})]]
    + [N("get_item", a34, (slice(None), 1), grad=(0,), keras_call=lambda x, key: x[key]),
       N("get_item", a34, (np.array([0, 0, 2]), slice(1, 3)), grad=(0,), label="repeated", keras_call=lambda x, key: jnp.asarray(x)[key])]
    # creation
    + [N("zeros", (2, 3)), N("ones", (2,), dtype="int32"), N("full", (2, 3), 3), N("full", (2, 2), 1.5, dtype="float64"),
       N("zeros_like", i34), N("ones_like", a34, dtype="bool"), N("full_like", i34, 2.5), N("full_like", a34, 7),
       N("arange", 3), N("arange", 0, 1, 0.25), N("arange", 1, 10, 3), N("arange", 2.0, label="float"),
       N("linspace", 0, 1, 5), N("linspace", 0, 1, 5, endpoint=False, label="open"), N("eye", 3), N("eye", 3, 4, 1),
       N("identity", 3), N("tri", 3, 4, -1)]
    # core
    + [C("cast", a34, "int32"), C("cast", a34, "float16", rtol=1e-3), C("convert_to_tensor", [1, 2]),
       C("convert_to_tensor", 1.5), C("convert_to_tensor", [[1.0, 2.0]]), C("stop_gradient", a34),
       C("slice", a34, (1, 1), (2, 2), grad=(0,)), C("slice", a34, (2, 3), (2, 2), grad=(0,), label="clamped"),
       C("slice", a34, (1, 0), (-1, 3), grad=(0,), label="rest"),
       C("slice_update", a34, (1, 2), normal(2, 2), grad=(0, 2)),
       C("scatter", np.array([[0, 1], [1, 1], [0, 1]]), normal(3), (2, 2), grad=(1,)),
       C("scatter", np.array([[1], [0]]), normal(2, 3), (3, 3), grad=(1,), label="rows"),
       C("scatter_update", a34, np.array([[0, 1], [2, 3]]), normal(2), grad=(0, 2)),
       C("scatter_update", a34, np.array([[1], [1], [0]]), normal(3, 4), reduction="add", grad=(0, 2), label="add"),
       C("unstack", a234, axis=1, grad=(0,)), C("saturate_cast", normal(3, 4, scale=300), "uint8"),
       C("saturate_cast", np.array([1e5, -1e5, 3.7], np.float32), "int16", label="int16")]
    # nn
    + [NN(name, a34, grad=(0,)) for name in ACTIVATIONS]
    + [NN("leaky_relu", a34, negative_slope=0.05, grad=(0,), label="slope"), NN("elu", a34, alpha=0.5, grad=(0,), label="alpha"),
       NN("gelu", a34, approximate=False, grad=(0,), label="exact"), NN("celu", a34, alpha=2.0, grad=(0,), label="alpha"),
       NN("glu", normal(4, 3), axis=0, grad=(0,), label="axis0"), NN("softmax", a234, axis=(0, 2), grad=(0,), label="axes"),
       NN("log_softmax", a234, axis=1, grad=(0,), label="axis1"),
       NN("sparsemax", a34 * 2, grad=(0,), keras_call=_sparsemax_reference),
       NN("sparsemax", a234 * 3, axis=1, grad=(0,), label="axis1", keras_call=_sparsemax_reference),
       NN("soft_shrink", a34, threshold=0.3, grad=(0,), label="threshold"),
       NN("hard_shrink", a34, threshold=0.3, grad=(0,), label="threshold"), NN("squareplus", a34, b=1.0, grad=(0,), label="b"),
       NN("threshold", a34, 0.2, -1.0, grad=(0,)), NN("relu", i34, label="int")]
    + [NN("one_hot", np.array([0, 2, -1, 5]), 3), NN("one_hot", ints(0, 4, 2, 3), 4, axis=1, dtype="int32", label="axis1"),
       NN("multi_hot", np.array([[0, 2], [1, 1]]), 3), NN("multi_hot", np.array([0, 2]), 4, label="single")]
    + [NN("binary_crossentropy", uniform(0, 1, 3, 4), uniform(0.05, 0.95, 3, 4), grad=(0, 1)),
       NN("binary_crossentropy", uniform(0, 1, 3, 4), a34, from_logits=True, grad=(0, 1), label="logits"),
       NN("categorical_crossentropy", uniform(0, 1, 3, 4), uniform(0.1, 1.0, 3, 4), grad=(0, 1)),
       NN("categorical_crossentropy", uniform(0, 1, 3, 4), a34, from_logits=True, grad=(0, 1), label="logits"),
       NN("categorical_crossentropy", uniform(0, 1, 3, 4), a34, from_logits=True, axis=0, grad=(0, 1), label="axis0"),
       NN("sparse_categorical_crossentropy", np.array([0, 3, 1]), uniform(0.1, 1.0, 3, 4), grad=(1,)),
       NN("sparse_categorical_crossentropy", np.array([[0], [3], [1]]), a34, from_logits=True, grad=(1,), label="logits")]
    + [NN("moments", a234, (0, 1), grad=(0,)), NN("moments", a234, 2, keepdims=True, grad=(0,), label="keepdims"),
       NN("batch_normalization", a234, normal(4), uniform(0.5, 2, 4), -1, grad=(0, 1, 2)),
       NN("batch_normalization", a234, normal(3), uniform(0.5, 2, 3), 1, offset=normal(3), scale=normal(3),
          epsilon=0.01, grad=(0, 1, 2, 4, 5), label="affine"),
       NN("normalize", a34, grad=(0,)), NN("normalize", a34, axis=0, order=1, grad=(0,), label="l1")]
    + [NN("conv", normal(2, *spatial, cin), normal(*kernel, cin // groups, 4), grad=(0, 1), rtol=1e-4, atol=1e-5,
          label=f"{spatial}-{kernel}-{kw}-g{groups}", **kw)
       for spatial, kernel, cin, groups, kw in [
           ((7,), (3,), 2, 1, {}), ((7,), (3,), 2, 1, {"padding": "same", "strides": 2}),
           ((6, 5), (3, 2), 2, 1, {}), ((6, 5), (3, 3), 2, 1, {"padding": "same", "strides": (2, 1)}),
           ((7, 7), (3, 3), 2, 1, {"dilation_rate": 2, "padding": "same"}), ((6, 6), (3, 3), 4, 2, {}),
           ((4, 4, 3), (2, 2, 2), 2, 1, {"padding": "SAME"})]]
    + [NN("conv", normal(2, 3, 6, 5), normal(3, 3, 3, 2), data_format="channels_first", grad=(0, 1), rtol=1e-4,
          atol=1e-5, label="channels_first")]
    + [NN("depthwise_conv", normal(2, 6, 5, 3), normal(3, 3, 3, 2), grad=(0, 1), rtol=1e-4, atol=1e-5),
       NN("depthwise_conv", normal(2, 7, 3), normal(3, 3, 1), strides=2, padding="same", grad=(0, 1), rtol=1e-4,
          atol=1e-5, label="1d"),
       NN("separable_conv", normal(2, 6, 5, 3), normal(3, 3, 3, 2), normal(1, 1, 6, 4), padding="same", grad=(0, 1, 2),
          rtol=1e-4, atol=1e-5)]
    + [NN("conv_transpose", normal(2, *spatial, 3), normal(*kernel, 2, 3), grad=(0, 1), rtol=1e-4, atol=1e-5,
          label=f"{spatial}-{kernel}-{kw}", **kw)
       for spatial, kernel, kw in [
           ((4,), (3,), {}), ((4,), (3,), {"strides": 2}), ((4, 3), (3, 3), {"strides": 2, "padding": "same"}),
           ((4, 3), (2, 3), {"strides": (2, 3), "output_padding": 1}), ((3, 3), (3, 3), {"dilation_rate": 2}),
           ((4, 4), (3, 3), {"strides": 2, "padding": "same", "output_padding": 0})]]
    + [NN("conv_transpose", normal(2, 3, 4, 4), normal(3, 3, 2, 3), strides=2, data_format="channels_first",
          grad=(0, 1), rtol=1e-4, atol=1e-5, label="channels_first")]
    + [NN(name, x, pool, grad=(0,), label=f"{x.shape}-{pool}-{kw}", keras_call=_keras_pool(name), **kw)
       for name in ("max_pool", "average_pool")
       for x, pool, kw in [(normal(2, 7, 3), 2, {}), (normal(2, 7, 3), 3, {"strides": 2, "padding": "same"}),
                           (normal(2, 6, 5, 2), (2, 2), {}), (normal(2, 6, 5, 2), (3, 2), {"strides": 1, "padding": "same"}),
                           (normal(2, 2, 6, 5), 2, {"data_format": "channels_first", "padding": "same"}),
                           (normal(1, 4, 4, 3, 2), 2, {})]]
    # image
    + [Case("image", "resize", x, size, grad=(0,), rtol=1e-4, atol=1e-5, label=f"{x.shape}-{size}-{kw}", **kw)
       for x, size, kw in [
           (images, (10, 12), {}), (images, (3, 4), {}), (images, (7, 4), {}), (images, (3, 2), {"antialias": True}),
           (images, (10, 9), {"interpolation": "nearest"}), (images, (3, 4), {"interpolation": "nearest"}),
           (images, (9, 8), {"interpolation": "bicubic"}), (images, (4, 3), {"interpolation": "bicubic", "antialias": True}),
           (images, (8, 9), {"interpolation": "lanczos3"}), (images, (7, 11), {"interpolation": "lanczos5"}),
           (images[0], (8, 4), {}), (normal(2, 3, 5, 6), (4, 8), {"data_format": "channels_first"}),
           (images, (4, 4), {"crop_to_aspect_ratio": True}), (images, (4, 8), {"pad_to_aspect_ratio": True, "fill_value": 0.5}),
           (images, (8, 4), {"pad_to_aspect_ratio": True})]]
    + [Case("image", "resize", (uniform(0, 255, 5, 6, 3)).astype(np.uint8), (7, 9), label="uint8"),
       Case("image", "resize", (uniform(0, 255, 5, 6, 3)).astype(np.uint8), (3, 4), interpolation="bicubic",
            label="uint8_bicubic")]
)


def _keras_dtype(dtype) -> str:
    """The dtype Keras's jax backend gives for a result clearconv computes in ``dtype``."""
    name = np.dtype(dtype).name
    return {"int64": "int32", "float64": "float32", "uint64": "uint32"}.get(name, name)


def assert_same(ours, theirs, case, where="output"):
    if isinstance(theirs, (list, tuple)):
        assert isinstance(ours, (list, tuple)) and len(ours) == len(theirs), f"{case.id}: {where}: {ours!r} vs {theirs!r}"
        for k, (o, t) in enumerate(zip(ours, theirs)):
            assert_same(o, t, case, f"{where}[{k}]")
        return
    if not hasattr(theirs, "shape"):  # a Python value (shape, ndim, size)
        assert ours == theirs, f"{case.id}: {where}: {ours!r} != {theirs!r}"
        return
    assert isinstance(ours, Tensor), f"{case.id}: {where}: expected a Tensor, received {type(ours).__name__}"
    got, expected = np.asarray(ours), np.asarray(theirs)
    assert got.shape == expected.shape, f"{case.id}: {where}: shape {got.shape} != Keras's {expected.shape}"
    assert _keras_dtype(got.dtype) == expected.dtype.name, \
        f"{case.id}: {where}: dtype {got.dtype} != Keras's {expected.dtype}"
    if got.dtype.kind in "biu":
        np.testing.assert_array_equal(got, expected, err_msg=f"{case.id}: {where}")
    else:
        scale = np.max(np.abs(expected[np.isfinite(expected)]), initial=1.0)
        np.testing.assert_allclose(got, expected, rtol=case.rtol, atol=case.atol * scale, err_msg=f"{case.id}: {where}")


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_forward_matches_keras(case):
    with np.errstate(all="ignore"):
        expected = case.theirs()
    assert_same(case.ours(), expected, case)


# --- gradients ---------------------------------------------------------------------


def _get(args, path):
    path = (path,) if isinstance(path, int) else path
    value = args
    for step in path:
        value = value[step]
    return value


def _replace(args, path, new):
    """A copy of ``args`` (tuple of values and lists) with the value at ``path`` replaced."""
    path = (path,) if isinstance(path, int) else path
    args = list(args)
    if len(path) == 1:
        args[path[0]] = new
    else:
        args[path[0]] = _replace(args[path[0]], path[1:], new)
    return args


def _flatten_outputs(result):
    return list(result) if isinstance(result, (list, tuple)) else [result]


def _to64(value):
    if isinstance(value, np.ndarray) and value.dtype == np.float32:
        return value.astype(np.float64)
    if isinstance(value, list):
        return [_to64(v) for v in value]
    return value


GRAD_CASES = [case for case in CASES if case.grad]


@pytest.mark.parametrize("case", GRAD_CASES, ids=lambda case: case.id)
def test_gradient_matches_finite_differences(case):
    args = [_to64(a) for a in case.args]
    kwargs = {k: _to64(v) for k, v in case.kwargs.items()}
    arg_paths = [p for p in case.grad if not isinstance(p, int) or p < len(args)]
    # Keyword arguments to differentiate are named by their position after the positional ones.
    names = list(kwargs)
    kw_paths = [p - len(args) for p in case.grad if isinstance(p, int) and p >= len(args)]
    rng = np.random.default_rng(1)
    call = getattr(getattr(ops, case.module), case.name)

    def run(a, kw):
        return _flatten_outputs(call(*a, **kw))
    outputs = run(args, kwargs)
    upstream = [rng.standard_normal(np.shape(np.asarray(o))) for o in outputs]

    # Analytic: one scalar <upstream, outputs>, backpropagated into leaf Tensors.
    leaves_args, leaves_kw = list(args), dict(kwargs)
    leaves = []
    for path in arg_paths:
        leaf = Tensor(np.array(_get(args, path)), requires_grad=True)
        leaves_args = _replace(leaves_args, path, leaf)
        leaves.append(leaf)
    for index in kw_paths:
        leaf = Tensor(np.array(kwargs[names[index]]), requires_grad=True)
        leaves_kw[names[index]] = leaf
        leaves.append(leaf)
    results = run(leaves_args, leaves_kw)
    loss = sum((ops.sum(ops.multiply(r, g)) for r, g in zip(results, upstream)), Tensor(np.zeros(())))
    loss.backward()

    def scalar(a, kw):
        return sum(float(np.sum(np.asarray(o) * g)) for o, g in zip(run(a, kw), upstream))

    targets = [("arg", p) for p in arg_paths] + [("kw", names[i]) for i in kw_paths]
    for leaf, (kind, key) in zip(leaves, targets):
        base = np.array(_get(args, key) if kind == "arg" else kwargs[key])

        def forward(value, kind=kind, key=key):
            if kind == "arg":
                return np.asarray(scalar(_replace(args, key, value), kwargs))
            return np.asarray(scalar(args, {**kwargs, key: value}))
        expected = numerical_vjp(forward, [base], np.ones(()), 0)
        assert leaf.grad is not None, f"{case.id}: no gradient reached argument {key}"
        assert leaf.grad.dtype == np.float64 and leaf.grad.shape == base.shape
        scale = max(1.0, float(np.max(np.abs(expected))))
        np.testing.assert_allclose(leaf.grad, expected, rtol=1e-6, atol=1e-7 * scale,
                                   err_msg=f"{case.id}: gradient of argument {key}")


# --- kinks and ties: jax's convention ------------------------------------------------

TIE_CASES = [
    ("max", (with_ties,), {"axis": 1}), ("max", (with_ties,), {}), ("min", (with_ties,), {"axis": 0}),
    ("amax", (with_ties,), {"axis": 1, "keepdims": True}),
    ("maximum", (with_ties, np.full((2, 4), 2.0, np.float32)), {}),
    ("minimum", (with_ties, np.float32(2.0)), {}),
    ("clip", (with_ties, 0.5, 2.0), {}), ("abs", (np.array([-1.0, 0.0, 2.0], np.float32),), {}),
    ("relu", (np.array([-1.0, 0.0, 2.0], np.float32),), {}),
    ("hard_tanh", (np.array([-1.0, 1.0, 0.5, 2.0], np.float32),), {}),
    ("sort", (with_ties,), {}),
]


@pytest.mark.parametrize("name, args, kwargs", TIE_CASES, ids=[c[0] + str(i) for i, c in enumerate(TIE_CASES)])
def test_gradient_at_ties_matches_jax(name, args, kwargs):
    upstream = np.random.default_rng(2).standard_normal(np.shape(np.asarray(getattr(ops, name)(*args, **kwargs))))
    expected = jax.grad(lambda x: jnp.sum(getattr(keras.ops, name)(x, *args[1:], **kwargs) * upstream))(args[0])
    x = Tensor(args[0].copy(), requires_grad=True)
    ops.sum(ops.multiply(getattr(ops, name)(x, *args[1:], **kwargs), upstream.astype(np.float32))).backward()
    np.testing.assert_allclose(x.grad, np.asarray(expected), rtol=1e-6, atol=1e-6)


# --- the API's shape ------------------------------------------------------------------


def test_namespaces_and_top_level_are_the_same_functions():
    assert ops.add is ops.numpy.add and ops.relu is ops.nn.relu and ops.logsumexp is ops.math.logsumexp
    assert ops.norm is ops.linalg.norm and ops.cast is ops.core.cast
    assert ops.image.resize.op_name == "image.resize" and not hasattr(ops, "resize")  # as keras.ops


def test_every_op_is_registered_under_its_namespace():
    for module in ("numpy", "nn", "core", "math", "linalg", "image"):
        for name in getattr(ops, module).__all__:
            function = getattr(getattr(ops, module), name)
            assert function.op_name == f"{module}.{name}"
            assert dispatch.lookup(f"{module}.{name}") is function.__wrapped__


def test_names_exist_in_keras_ops():
    """Every clearconv op is a keras.ops function of the same namespace (no invented names)."""
    for module in ("numpy", "nn", "core", "math", "linalg", "image"):
        missing = [name for name in getattr(ops, module).__all__ if not hasattr(_keras_namespace(module), name)]
        assert not missing, f"ops.{module}: not in keras.ops.{module}: {missing}"


def test_python_values_take_keras_dtypes_and_arrays_keep_64_bits():
    assert ops.convert_to_tensor(3).dtype == np.int32
    assert ops.convert_to_tensor([1.0, 2.0]).dtype == np.float32
    assert ops.add(np.ones(2, np.float64), 1.5).dtype == np.float64
    assert ops.add(np.ones(2, np.int64), np.ones(2, np.float32)).dtype == np.float32  # NumPy would say float64


@pytest.mark.parametrize("first", ["bool", "uint8", "uint16", "uint32", "int8", "int16", "int32", "int64",
                                   "float16", "float32", "float64", int, float])
@pytest.mark.parametrize("second", ["bool", "uint8", "int8", "int16", "int32", "uint32", "uint64", "float16",
                                    "float32", int, float])
def test_promotion_matches_keras(first, second):
    ours = dtypes.result_type(first, second)
    assert _keras_dtype(ours) == keras.backend.result_type(first, second)


def test_global_settings_are_read_at_each_call():
    """config.floatx, epsilon and image_data_format change the ops' defaults, as in Keras."""
    from clearconv import config
    try:
        config.set_floatx("float64")
        assert ops.zeros(2).dtype == np.float64 and ops.divide(np.arange(3), 2).dtype == np.float64
        assert ops.convert_to_tensor(1.5).dtype == np.float64 and ops.add(np.ones(2, np.float32), 1.5).dtype == np.float32
        config.set_floatx("float32")
        config.set_epsilon(0.1)
        np.testing.assert_allclose(ops.binary_crossentropy(np.ones(1), np.zeros(1)).data, -np.log(0.1), rtol=1e-6)
        config.set_epsilon(1e-7)
        config.set_image_data_format("channels_first")
        x, kernel = normal(1, 2, 5, 5), normal(3, 3, 2, 4)
        np.testing.assert_allclose(ops.conv(x, kernel).data, ops.conv(x, kernel, data_format="channels_first").data)
        assert ops.max_pool(x, 2).shape == (1, 2, 2, 2)
    finally:
        config.set_floatx("float32")
        config.set_epsilon(1e-7)
        config.set_image_data_format("channels_last")


def test_results_are_tensors_and_record_only_when_needed():
    y = ops.exp(np.ones(3, np.float32))
    assert isinstance(y, Tensor) and not y.requires_grad
    x = Tensor(np.ones(3, np.float32), requires_grad=True)
    assert ops.exp(x).requires_grad
    assert not ops.greater(x, 0).requires_grad  # boolean results take no gradient


def test_gradient_keeps_the_input_dtype_when_promoted():
    x = Tensor(np.ones(3, np.float32), requires_grad=True)
    ops.sum(ops.multiply(x, np.arange(3, dtype=np.float64))).backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad, [0.0, 1.0, 2.0])


def test_shape_size_ndim_dtype_are_python_values():
    assert ops.shape(a234) == (2, 3, 4) and ops.size(a234) == 24 and ops.ndim(a234) == 3
    assert ops.dtype(a234) == "float32" and isinstance(ops.convert_to_numpy(Tensor(a34)), np.ndarray)


def test_split_sort_and_unstack_outputs_are_separate_tensors_sharing_the_gradient():
    x = Tensor(np.arange(6, dtype=np.float64), requires_grad=True)
    first, second = ops.split(x, 2)
    ops.sum(ops.add(ops.multiply(first, 2.0), ops.multiply(second, 3.0))).backward()
    np.testing.assert_array_equal(x.grad, [2, 2, 2, 3, 3, 3])


@pytest.mark.parametrize("call, message", [
    (lambda: ops.sum(a34, axis=2), r"`axis`=2 is out of range for an input of rank 2"),
    (lambda: ops.reshape(a34, (5, 5)), r"cannot reshape an input of shape \(3, 4\).*newshape"),
    (lambda: ops.pad(a34, 1, mode="maximum"), r"`mode` must be one of"),
    (lambda: ops.pad(a34, 1, mode="edge", constant_values=1), r"`constant_values` can only be given"),
    (lambda: ops.where(bool34, a34), r"give both `x1` and `x2`"),
    (lambda: ops.conv(normal(1, 5, 5, 3), normal(3, 3, 2, 4)), r"input channels \(3\).*multiple"),
    (lambda: ops.conv(normal(1, 5, 5, 2), normal(3, 3, 2, 4), padding="causal"), r"`padding` must be 'valid' or 'same'"),
    (lambda: ops.conv(normal(1, 2, 2, 2), normal(3, 3, 2, 4)), r"output would be empty"),
    (lambda: ops.max_pool(normal(1, 4, 4, 2), 2, data_format="NHWC"), r"`data_format` argument must be one of"),
    (lambda: ops.image.resize(images, (4, 4), interpolation="area"), r"`interpolation` must be one of"),
    (lambda: ops.image.resize(images, (4,)), r"`size` must be \(height, width\)"),
    (lambda: ops.one_hot(np.array([1]), 3, sparse=True), r"sparse=True is not supported"),
    (lambda: ops.scatter_update(a34, np.array([[0, 0]]), np.ones(1), reduction="max"), r"`reduction` must be one of"),
    (lambda: ops.einsum("ij,jk->ik", a34), r"name 2 operands; received 1"),
    (lambda: ops.norm(a234, ord=1), r"give `axis`"),
    (lambda: ops.norm(a34, ord=3), r"matrix norm's `ord`"),
    (lambda: ops.cast(a34, "complex64"), r"dtype must be one of"),
    (lambda: ops.split(normal(5), 2), r"2 sections do not divide the length 5"),
    (lambda: ops.glu(normal(3, 5)), r"must be even"),
    (lambda: ops.binary_crossentropy(np.ones((2, 3)), np.ones((3, 2))), r"same shape"),
])
def test_bad_arguments_are_named(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()
