"""Random tensors, as Keras 3's ``keras.random``.

    import clearconv as keras
    x = keras.random.normal((2, 3), seed=42)                  # Tensor (2, 3) float32, same on every call
    gen = keras.random.SeedGenerator(1337)
    a = keras.random.uniform((4,), seed=gen)                  # a and b differ; the pair is reproducible
    b = keras.random.uniform((4,), seed=gen)

Every function returns a :class:`~clearconv.autograd.Tensor`. Float results
default to :func:`clearconv.config.floatx` (float32).

The ``seed`` argument, as in Keras:

* ``None``: a draw from clearconv's global generator
  (:func:`clearconv.utils.global_rng`), so successive calls differ;
  :func:`clearconv.utils.set_random_seed` makes the whole sequence reproducible.
* an int ``s``: the same values on every call.
* a :class:`SeedGenerator`: a new seed per call, the sequence fixed by its seed.

An int seed ``s`` draws from ``np.random.default_rng([s mod 2**32, 0])`` and the
n-th call (from 0) with ``SeedGenerator(s)`` from ``np.random.default_rng([s mod
2**32, n])``; each function then makes the NumPy draws Keras's NumPy backend
makes, so with an explicit seed the values equal ``keras.random`` under
``KERAS_BACKEND="numpy"``. They differ from Keras's JAX or TensorFlow backends,
whose generators are other algorithms.
"""

from __future__ import annotations

import math

import numpy as np

from . import utils
from .autograd import Tensor, Variable, data_of, record
from .backend import is_float_dtype, is_int_dtype, standardize_dtype

_SEED_MASK = 0xFFFFFFFF  # Keras's seeds are 32-bit: larger or negative ints keep their low 32 bits


class SeedGenerator:
    """The state of a sequence of random draws: ``SeedGenerator(seed=None, name=None)``.

    Pass it as the ``seed`` of the functions of this module: each call takes
    the next seed, so the values differ from call to call while the whole
    sequence depends only on ``seed``. ``seed=None`` takes a seed from
    clearconv's global generator.

    ``state`` is a non-trainable uint32 Variable of shape (2,): ``[seed, n]``,
    n the number of seeds drawn so far.
    """

    def __init__(self, seed=None, name=None, **kwargs):
        if kwargs:
            raise ValueError(f"SeedGenerator: unrecognized keyword arguments {sorted(kwargs)}; accepted: seed, "
                             f"name (clearconv computes with NumPy only, so there is no `backend` to choose)")
        if name is None:
            from .layers.base import unique_name
            name = unique_name("seed_generator")
        self.name = name
        self._initial_seed = seed
        if seed is None:
            # Keras draws 1..1e9 from Python's generator; clearconv's own generator keeps set_seed in charge.
            seed = int(utils.global_rng().integers(1, 10**9, endpoint=True))
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise ValueError(f"Argument `seed` must be an integer. Received: seed={seed!r}")
        self.state = Variable(np.array([int(seed) & _SEED_MASK, 0], dtype=np.uint32),
                              name="seed_generator_state", trainable=False)

    def next(self, ordered: bool = True) -> np.ndarray:
        """The current state ``[seed, n]`` (uint32 (2,)), then advance it.

        ``ordered=True`` counts n up by one; ``ordered=False`` scrambles both
        entries as Keras does (``(state + 1) * 5387 % 933199``).
        """
        current = self.state.data.copy()
        if ordered:
            self.state.assign(current + np.array([0, 1], dtype=np.uint32))
        else:
            scrambled = (current.astype(np.uint64) + 1) * 5387 % 933199
            self.state.assign(scrambled.astype(np.uint32))
        return current

    def get_config(self) -> dict:
        return {"seed": self._initial_seed, "name": self.name}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self):
        return f"<SeedGenerator name={self.name}, state={self.state.data.tolist()}>"


def _generator(seed, function: str) -> np.random.Generator:
    """The NumPy generator of one call, following the rules of the module docstring."""
    if seed is None:
        return utils.global_rng()
    if isinstance(seed, SeedGenerator):
        return np.random.default_rng(seed.next().tolist())
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        return np.random.default_rng([int(seed) & _SEED_MASK, 0])
    raise ValueError(f"{function}: argument `seed` must be either an integer, None or an instance of "
                     f"`SeedGenerator`. Received: seed={seed!r} (of type {type(seed).__name__})")


def _shape(shape, function: str) -> tuple:
    """``shape`` as a tuple of non-negative ints (an int n stands for (n,))."""
    dims = (shape,) if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool) else shape
    try:
        dims = tuple(dims)
    except TypeError:
        dims = None
    if dims is None or any(isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 0 for d in dims):
        raise ValueError(f"{function}: `shape` must be a tuple of non-negative integers; received shape={shape!r}")
    return tuple(int(d) for d in dims)


def _float_dtype(dtype, function: str) -> np.dtype:
    """``dtype`` (None: floatx) as a NumPy float dtype; ValueError for other kinds."""
    name = standardize_dtype(dtype)
    if not is_float_dtype(name):
        raise ValueError(f"`keras.random.{function}` requires a floating point `dtype`. Received: dtype={dtype}")
    if name == "bfloat16":
        raise ValueError(f"{function}: NumPy has no bfloat16; use float16, float32 or float64")
    return np.dtype(name)


def _int_dtype(dtype, function: str) -> np.dtype:
    name = standardize_dtype("int32" if dtype is None else dtype)
    if not is_int_dtype(name):
        raise ValueError(f"`keras.random.{function}` requires an integer `dtype`. Received: dtype={dtype}")
    return np.dtype(name)


def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None) -> Tensor:
    """Samples of N(mean, stddev**2): Tensor of ``shape``, ``dtype`` (default floatx).

    Drawn in float64 and rounded to ``dtype``.
    """
    dtype = _float_dtype(dtype, "normal")
    rng = _generator(seed, "normal")
    return Tensor(rng.normal(size=_shape(shape, "normal"), loc=mean, scale=stddev).astype(dtype))


def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None) -> Tensor:
    """Samples of the uniform distribution on [minval, maxval): Tensor of ``shape``, float ``dtype``
    (default floatx). Drawn in float64 and rounded to ``dtype`` (so float16/32 may round up to maxval)."""
    dtype = _float_dtype(dtype, "uniform")
    rng = _generator(seed, "uniform")
    return Tensor(rng.uniform(size=_shape(shape, "uniform"), low=minval, high=maxval).astype(dtype))


def randint(shape, minval, maxval, dtype="int32", seed=None) -> Tensor:
    """Integers drawn uniformly from [minval, maxval): Tensor of ``shape``, integer ``dtype`` (int32)."""
    dtype = _int_dtype(dtype, "randint")
    rng = _generator(seed, "randint")
    return Tensor(rng.integers(low=minval, high=maxval, size=_shape(shape, "randint"), dtype=dtype))


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None) -> Tensor:
    """Samples of N(mean, stddev**2) restricted to [mean - 2 stddev, mean + 2 stddev]: Tensor of
    ``shape``, ``dtype`` (default floatx).

    Out-of-range samples are discarded: batches of prod(shape) normal draws
    are made until enough fall in the interval, and the first prod(shape) of
    those kept, in drawing order, are the result.
    """
    dtype = _float_dtype(dtype, "truncated_normal")
    shape = _shape(shape, "truncated_normal")
    rng = _generator(seed, "truncated_normal")
    low, high = mean - 2 * stddev, mean + 2 * stddev
    count = math.prod(shape)
    kept, total = [], 0
    while total < count:
        batch = rng.normal(loc=mean, scale=stddev, size=count)
        inside = batch[(batch >= low) & (batch <= high)]
        kept.append(inside)
        total += inside.size
    values = np.concatenate(kept)[:count] if kept else np.empty(0)
    return Tensor(values.astype(dtype).reshape(shape))      # (count,) -> shape


def dropout(inputs, rate, noise_shape=None, seed=None) -> Tensor:
    """Inverted dropout: each entry is zeroed with probability ``rate``, the others divided by 1 - rate.

    inputs: float array or Tensor of any shape; the result has its shape and
    dtype, and a Tensor input gets its gradient (the same mask, scaled).
    noise_shape: the shape of the keep/drop mask, broadcast to the input's
    (None entries take the input's size), e.g. (batch, 1, 1, channels) to
    drop whole feature maps. ``rate`` 0 returns the input, 1 zeros.
    """
    if isinstance(rate, bool) or not isinstance(rate, (int, float, np.floating, np.integer)) or not 0 <= rate <= 1:
        raise ValueError(f"dropout: `rate` must be a number in [0, 1]; received rate={rate!r}")
    x = inputs if isinstance(inputs, Tensor) else Tensor(np.asarray(inputs))
    data = x.data
    if data.dtype.kind != "f":
        raise TypeError(f"dropout: `inputs` must be floating point; received dtype {data.dtype}")
    if rate == 0:
        return x
    if rate == 1:
        return record(np.zeros_like(data), (x,), lambda g: (np.zeros_like(g),))
    mask_shape = _noise_shape(noise_shape, data.shape)
    keep = 1.0 - rate
    rng = _generator(seed, "dropout")
    mask = np.broadcast_to(rng.uniform(size=mask_shape) < keep, data.shape)   # mask_shape -> input shape
    kept = (data / keep).astype(data.dtype)
    return record(np.where(mask, kept, np.zeros_like(data)), (x,),
                  lambda g: (np.where(mask, g / keep, 0).astype(g.dtype),))


def _noise_shape(noise_shape, shape: tuple) -> tuple:
    if noise_shape is None:
        return shape
    dims = tuple(noise_shape)
    if len(dims) != len(shape):
        raise ValueError(f"dropout: `noise_shape` must have one entry per input axis ({len(shape)}); "
                         f"received noise_shape={noise_shape!r} for inputs of shape {shape}")
    dims = tuple(size if d is None else d for d, size in zip(dims, shape))
    if any(d not in (1, size) for d, size in zip(dims, shape)):
        raise ValueError(f"dropout: each entry of `noise_shape` must be 1, None or the input's size; "
                         f"received noise_shape={noise_shape!r} for inputs of shape {shape}")
    return dims


def shuffle(x, axis=0, seed=None) -> Tensor:
    """Shuffle the entries of ``x`` along ``axis``: each 1-D slice along ``axis`` gets its own random order.

    This is Keras's shuffle on its JAX and NumPy backends: for ``axis=0`` each
    column ``x[:, j]`` is shuffled on its own, so rows do not stay whole (to
    reorder whole rows, index with a permutation:
    ``x[np.random.default_rng(seed).permutation(len(x))]``). A Tensor input
    gets its gradient (the inverse permutation).
    """
    x = x if isinstance(x, Tensor) else Tensor(np.asarray(x))
    data = x.data
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or not -data.ndim <= axis < data.ndim:
        raise ValueError(f"shuffle: `axis` must be an integer in [{-data.ndim}, {data.ndim}) for an input of "
                         f"shape {data.shape}; received axis={axis!r}")
    axis = int(axis) % data.ndim
    rng = _generator(seed, "shuffle")
    # Shuffle positions rather than values: the same draws (Generator.permuted shuffles each slice in turn,
    # its swaps depending only on the slice length), and the positions give the backward.
    positions_shape = [1] * data.ndim
    positions_shape[axis] = data.shape[axis]
    positions = np.broadcast_to(np.arange(data.shape[axis]).reshape(positions_shape), data.shape)
    order = rng.permuted(positions, axis=axis)        # (..., n, ...): source index of each output entry

    def vjp(g):
        grad = np.empty_like(g)
        np.put_along_axis(grad, order, g, axis=axis)
        return (grad,)
    return record(np.take_along_axis(data, order, axis=axis), (x,), vjp)


def categorical(logits, num_samples, dtype="int32", seed=None) -> Tensor:
    """Class indices drawn from softmax(logits) row by row: (batch, classes) -> (batch, num_samples).

    logits: 2-D array or Tensor of unnormalised log-probabilities (-inf for
    an impossible class). Returns an integer Tensor (``dtype``, int32).
    """
    values = np.asarray(data_of(logits))
    if values.ndim != 2:
        raise ValueError(f"`logits` should be a 2-D tensor with shape [batch_size, num_classes]. Received: "
                         f"logits of shape {values.shape}")
    if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) or num_samples < 0:
        raise ValueError(f"categorical: `num_samples` must be a non-negative integer; received {num_samples!r}")
    dtype = _int_dtype(dtype, "categorical")
    rng = _generator(seed, "categorical")
    classes = np.arange(values.shape[-1])
    rows = []
    for row in values:
        shifted = np.exp(row - np.max(row))
        rows.append(rng.choice(classes, size=num_samples, p=shifted / np.sum(shifted)))
    samples = np.array(rows).reshape(values.shape[0], num_samples)
    return Tensor(samples.astype(dtype))


def gamma(shape, alpha, dtype=None, seed=None) -> Tensor:
    """Samples of the Gamma(alpha, scale 1) distribution: Tensor of ``shape``, ``dtype`` (floatx)."""
    dtype = _float_dtype(dtype, "gamma")
    rng = _generator(seed, "gamma")
    return Tensor(rng.gamma(alpha, scale=1.0, size=_shape(shape, "gamma")).astype(dtype))


def binomial(shape, counts, probabilities, dtype=None, seed=None) -> Tensor:
    """Numbers of successes in ``counts`` trials of probability ``probabilities`` (broadcast against
    ``shape``): Tensor of ``shape``, float ``dtype`` (floatx), as Keras returns them."""
    dtype = _float_dtype(dtype, "binomial")
    rng = _generator(seed, "binomial")
    return Tensor(rng.binomial(n=data_of(counts), p=data_of(probabilities),
                               size=_shape(shape, "binomial")).astype(dtype))


def beta(shape, alpha, beta, dtype=None, seed=None) -> Tensor:
    """Samples of the Beta(alpha, beta) distribution: Tensor of ``shape``, ``dtype`` (floatx)."""
    dtype = _float_dtype(dtype, "beta")
    rng = _generator(seed, "beta")
    return Tensor(rng.beta(a=data_of(alpha), b=data_of(beta), size=_shape(shape, "beta")).astype(dtype))


__all__ = ["SeedGenerator", "normal", "uniform", "randint", "truncated_normal", "dropout", "shuffle",
           "categorical", "gamma", "binomial", "beta"]
