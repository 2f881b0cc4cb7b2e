"""Weight initializers with Keras 3's names, arguments and formulas.

An initializer is called as ``init(shape, dtype="float32") -> np.ndarray``.

Fans (:func:`compute_fans`) follow Keras: a kernel of shape
``(*receptive_field, in, out)`` has ``fan_in = in * prod(receptive_field)`` and
``fan_out = out * prod(receptive_field)``. For a transposed convolution the
Keras kernel is ``(*k, filters, in)``, so there "in" and "out" swap roles.

Seeding: ``seed=int`` makes an initializer deterministic, and every call
returns the same values (as a seeded Keras initializer does). ``seed=None``
draws from :func:`clearconv.utils.global_rng`, so successive calls differ and
:func:`clearconv.utils.set_seed` makes the whole sequence reproducible.
Samples are drawn in float64 and rounded to ``dtype``, so one seed gives the
same values (up to rounding) in float32 and float64.
"""

from __future__ import annotations

import math

import numpy as np

from . import utils
from .serialization_lib import Catalog

# Standard deviation of a unit normal truncated to [-2, 2]. VarianceScaling
# divides by it so that the *truncated* samples have the requested variance.
TRUNCATED_STDDEV_FACTOR = 0.87962566103423978


def compute_fans(shape) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight shape, exactly as Keras computes them.

    () -> (1, 1); (n,) -> (n, n); (in, out) -> (in, out);
    (*k, in, out) -> (in * prod(k), out * prod(k)).
    """
    shape = tuple(shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return int(shape[0]), int(shape[0])
    receptive_field = math.prod(shape[:-2])
    return int(shape[-2] * receptive_field), int(shape[-1] * receptive_field)


def _shape_tuple(shape) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)):
        return (int(shape),)
    return tuple(int(dim) for dim in shape)


def _float_dtype(dtype, name: str) -> np.dtype:
    """The requested dtype (None means float32), which a random initializer needs floating."""
    dtype = np.dtype("float32" if dtype is None else dtype)
    if not np.issubdtype(dtype, np.floating):
        raise ValueError(f"{name}: `dtype` must be a floating dtype; received {dtype}")
    return dtype


def _truncated_normal(rng: np.random.Generator, shape, mean: float, stddev: float) -> np.ndarray:
    """Normal samples with every value outside mean +- 2 stddev drawn again (float64)."""
    values = rng.normal(mean, stddev, size=shape)
    outside = np.abs(values - mean) > 2 * stddev
    while np.any(outside):
        values[outside] = rng.normal(mean, stddev, size=int(np.count_nonzero(outside)))
        outside = np.abs(values - mean) > 2 * stddev
    return values


class Initializer(utils.Configurable):
    """Base class: ``__call__(shape, dtype) -> array``, ``get_config``/``from_config``."""

    def __call__(self, shape, dtype="float32") -> np.ndarray:
        raise NotImplementedError


# --- constants ----------------------------------------------------------------


class Zeros(Initializer):
    """All zeros."""

    def __call__(self, shape, dtype="float32") -> np.ndarray:
        return np.zeros(_shape_tuple(shape), dtype=dtype or "float32")


class Ones(Initializer):
    """All ones."""

    def __call__(self, shape, dtype="float32") -> np.ndarray:
        return np.ones(_shape_tuple(shape), dtype=dtype or "float32")


class Constant(Initializer):
    """Every entry equal to the scalar ``value``."""

    def __init__(self, value=0.0):
        self.value = value

    def __call__(self, shape, dtype="float32") -> np.ndarray:
        return np.full(_shape_tuple(shape), self.value, dtype=dtype or "float32")

    def get_config(self) -> dict:
        return {"value": self.value}


class Identity(Initializer):
    """``gain`` times the identity matrix; 2-D shapes only (rectangular allowed)."""

    def __init__(self, gain=1.0):
        self.gain = gain

    def __call__(self, shape, dtype="float32") -> np.ndarray:
        shape = _shape_tuple(shape)
        if len(shape) != 2:
            raise ValueError(f"Identity: the initializer only makes 2D matrices; "
                             f"received shape={shape} of rank {len(shape)}")
        return (self.gain * np.eye(*shape)).astype(dtype or "float32")

    def get_config(self) -> dict:
        return {"gain": self.gain}


# --- random -------------------------------------------------------------------


class RandomInitializer(Initializer):
    """Holds the seed; :meth:`_rng` gives the generator for one call."""

    def __init__(self, seed=None):
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise ValueError(f"{type(self).__name__}: `seed` must be an integer or None; received {seed!r}")
        self.seed = seed

    def _rng(self) -> np.random.Generator:
        # A fresh generator per call: a seeded initializer returns the same values every time.
        return utils.global_rng() if self.seed is None else np.random.default_rng(self.seed)

    def get_config(self) -> dict:
        return {"seed": self.seed}


class RandomNormal(RandomInitializer):
    """Normal samples N(mean, stddev^2)."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev = mean, stddev
        super().__init__(seed)

    def __call__(self, shape, dtype="float32") -> np.ndarray:
        dtype = _float_dtype(dtype, type(self).__name__)
        return self._rng().normal(self.mean, self.stddev, size=_shape_tuple(shape)).astype(dtype)

    def get_config(self) -> dict:
        return {**super().get_config(), "mean": self.mean, "stddev": self.stddev}


class TruncatedNormal(RandomInitializer):
    """N(mean, stddev^2) with values beyond mean +- 2 stddev re-drawn.

    The samples' own standard deviation is therefore 0.8796 * stddev.
    """

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev = mean, stddev
        super().__init__(seed)

    def __call__(self, shape, dtype="float32") -> np.ndarray:
        dtype = _float_dtype(dtype, type(self).__name__)
        return _truncated_normal(self._rng(), _shape_tuple(shape), self.mean, self.stddev).astype(dtype)

    def get_config(self) -> dict:
        return {**super().get_config(), "mean": self.mean, "stddev": self.stddev}


class RandomUniform(RandomInitializer):
    """Uniform samples in [minval, maxval)."""

    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval, self.maxval = minval, maxval
        super().__init__(seed)

    def __call__(self, shape, dtype="float32") -> np.ndarray:
        dtype = _float_dtype(dtype, type(self).__name__)
        return self._rng().uniform(self.minval, self.maxval, size=_shape_tuple(shape)).astype(dtype)

    def get_config(self) -> dict:
        return {**super().get_config(), "minval": self.minval, "maxval": self.maxval}


_MODES = ("fan_in", "fan_out", "fan_avg")
_DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")


class VarianceScaling(RandomInitializer):
    """Samples whose variance is ``scale / n``, n = fan_in, fan_out or their mean (``mode``).

    distribution "truncated_normal" (alias "normal"): stddev sqrt(scale/n) / 0.8796,
    cut at +-2 stddev; "untruncated_normal": stddev sqrt(scale/n);
    "uniform": U(-limit, limit) with limit = sqrt(3 scale / n). n is at least 1.
    """

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        name = type(self).__name__
        if scale <= 0.0:
            raise ValueError(f"{name}: `scale` must be a positive float; received scale={scale!r}")
        if mode not in _MODES:
            raise ValueError(f"{name}: `mode` must be one of {', '.join(_MODES)}; received mode={mode!r}")
        distribution = str(distribution).lower()
        if distribution == "normal":
            distribution = "truncated_normal"
        if distribution not in _DISTRIBUTIONS:
            raise ValueError(f"{name}: `distribution` must be one of {', '.join(_DISTRIBUTIONS)} "
                             f"(or 'normal'); received distribution={distribution!r}")
        self.scale, self.mode, self.distribution = scale, mode, distribution
        super().__init__(seed)

    def _variance(self, shape) -> float:
        fan_in, fan_out = compute_fans(shape)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        return self.scale / max(1.0, fan)

    def __call__(self, shape, dtype="float32") -> np.ndarray:
        dtype = _float_dtype(dtype, type(self).__name__)
        shape = _shape_tuple(shape)
        variance, rng = self._variance(shape), self._rng()
        if self.distribution == "truncated_normal":
            values = _truncated_normal(rng, shape, 0.0, math.sqrt(variance) / TRUNCATED_STDDEV_FACTOR)
        elif self.distribution == "untruncated_normal":
            values = rng.normal(0.0, math.sqrt(variance), size=shape)
        else:
            limit = math.sqrt(3.0 * variance)
            values = rng.uniform(-limit, limit, size=shape)
        return values.astype(dtype)

    def get_config(self) -> dict:
        return {**super().get_config(), "scale": self.scale, "mode": self.mode,
                "distribution": self.distribution}


class _FixedVarianceScaling(VarianceScaling):
    """A named VarianceScaling setting; its config holds only the seed."""

    _setting: tuple[float, str, str]

    def __init__(self, seed=None):
        scale, mode, distribution = self._setting
        super().__init__(scale=scale, mode=mode, distribution=distribution, seed=seed)

    def get_config(self) -> dict:
        return {"seed": self.seed}


class GlorotUniform(_FixedVarianceScaling):
    """U(-limit, limit), limit = sqrt(6 / (fan_in + fan_out)). Keras's default kernel initializer."""

    _setting = (1.0, "fan_avg", "uniform")


class GlorotNormal(_FixedVarianceScaling):
    """Truncated normal, stddev sqrt(2 / (fan_in + fan_out)) / 0.8796, cut at +-2 stddev."""

    _setting = (1.0, "fan_avg", "truncated_normal")


class HeNormal(_FixedVarianceScaling):
    """Truncated normal, stddev sqrt(2 / fan_in) / 0.8796, cut at +-2 stddev."""

    _setting = (2.0, "fan_in", "truncated_normal")


class HeUniform(_FixedVarianceScaling):
    """U(-limit, limit), limit = sqrt(6 / fan_in)."""

    _setting = (2.0, "fan_in", "uniform")


class LecunNormal(_FixedVarianceScaling):
    """Truncated normal, stddev sqrt(1 / fan_in) / 0.8796, cut at +-2 stddev."""

    _setting = (1.0, "fan_in", "truncated_normal")


class LecunUniform(_FixedVarianceScaling):
    """U(-limit, limit), limit = sqrt(3 / fan_in)."""

    _setting = (1.0, "fan_in", "uniform")


class Orthogonal(RandomInitializer):
    """``gain`` times a random orthogonal matrix, reshaped to ``shape`` (rank >= 2).

    The shape is flattened to rows = prod(shape[:-1]), cols = shape[-1]. A
    normal matrix of shape (max, min) of those is QR-factored; Q's columns are
    orthonormal and their signs are fixed by diag(R) so Q is uniformly
    distributed. When rows < cols Q is transposed, giving orthonormal rows.
    """

    def __init__(self, gain=1.0, seed=None):
        self.gain = gain
        super().__init__(seed)

    def __call__(self, shape, dtype="float32") -> np.ndarray:
        dtype = _float_dtype(dtype, type(self).__name__)
        shape = _shape_tuple(shape)
        if len(shape) < 2:
            raise ValueError(f"Orthogonal: the shape must have rank >= 2; received shape={shape} "
                             f"of rank {len(shape)}")
        rows, cols = math.prod(shape[:-1]), shape[-1]
        normal = self._rng().standard_normal((max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(normal)  # q: (max, min) orthonormal columns, r: (min, min)
        q *= np.sign(np.diag(r))  # scale column j by sign(r_jj)
        if rows < cols:
            q = q.T  # (min, max) = (rows, cols)
        return (self.gain * q.reshape(shape)).astype(dtype)  # (rows, cols) -> shape

    def get_config(self) -> dict:
        return {**super().get_config(), "gain": self.gain}


# Keras exports each class under its snake_case name too (keras.initializers.he_normal).
zeros, ones, constant, identity = Zeros, Ones, Constant, Identity
random_normal, random_uniform, truncated_normal = RandomNormal, RandomUniform, TruncatedNormal
variance_scaling, orthogonal = VarianceScaling, Orthogonal
glorot_uniform, glorot_normal, he_normal, he_uniform = GlorotUniform, GlorotNormal, HeNormal, HeUniform
lecun_normal, lecun_uniform = LecunNormal, LecunUniform
OrthogonalInitializer, IdentityInitializer = Orthogonal, Identity

_CLASSES = (Zeros, Ones, Constant, Identity, RandomNormal, RandomUniform, TruncatedNormal,
            VarianceScaling, GlorotUniform, GlorotNormal, HeNormal, HeUniform, LecunNormal,
            LecunUniform, Orthogonal)

# Every string keras.initializers.get accepts: class names, snake_case names, aliases.
ALL_OBJECTS: dict[str, type] = {
    **{cls.__name__: cls for cls in _CLASSES},
    **{utils.snake_case(cls.__name__): cls for cls in _CLASSES},
    "OrthogonalInitializer": Orthogonal, "orthogonal_initializer": Orthogonal,
    "IdentityInitializer": Identity,
    "normal": RandomNormal, "uniform": RandomUniform, "zero": Zeros, "one": Ones,
}


# Any class is instantiated (base None): Keras accepts a class of your own that does not derive from the base.
CATALOG = Catalog("initializer", ALL_OBJECTS)


def get(identifier, custom_objects=None):
    """An initializer from None, a name, a config dict, a class, an instance or a callable.

    Unknown names raise ValueError listing the valid ones.
    """
    return CATALOG.get(identifier, custom_objects)


def serialize(initializer) -> dict | None:
    """``{"class_name": ..., "config": ...}`` (None for None)."""
    return CATALOG.serialize(initializer)


def deserialize(config, custom_objects=None):
    """The initializer described by a :func:`serialize` dict."""
    return CATALOG.deserialize(config, custom_objects)
