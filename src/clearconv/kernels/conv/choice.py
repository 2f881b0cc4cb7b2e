"""Which algorithm computes a convolution: the names, what each supports, and ``"auto"``'s choice.

The algorithms (``algorithm=`` of :func:`clearconv.kernels.conv.conv` and of the
Conv layers), and their float32 error, max |y - float64 reference| / max
|reference|, measured on 3x3 layers of 16 to 512 input channels with
standard-normal, uniform and ReLU'd inputs (``benchmarks/tuning.py --only
float32_bounds``); the bound each keeps is :data:`FLOAT32_BOUNDS`, the one
place it is written (:func:`float32_bound` reads it by algorithm and rank):

==============  ===========================================  ============================
name            computes                                     float32 error (measured)
==============  ===========================================  ============================
``im2col``      every shape: columns + one GEMM              6e-7
``winograd2``   F(2x2, 3x3) / F(2, 3): 3x3 2D or 3-tap 1D,   9.2e-7 at 512 ch.
                stride 1, dilation 1, one group
``winograd4``   F(4x4, 3x3): the same 2D shapes              1.6e-5 at 512 ch.
                F(4, 3): the same 1D shapes                  2.5e-6 at 512 ch.
``fft``         stride 1, one group, any dilation            3.3e-7
``direct``      every shape: the textbook loops, the oracle  float64 sums, then rounded
==============  ===========================================  ============================

``"winograd"`` is accepted as another name of ``"winograd4"`` (the only tile
there was). Winograd's error grows like sqrt(C) with the C input channels, the
other algorithms' much more slowly; :mod:`.winograd`'s docstring details it.
``"auto"`` keeps the bound of every algorithm it chooses
(``float32_bound("auto", rank)``): it never takes ``winograd4``, whose 2D
error passes that bound from about 256 channels.

The choice depends only on the shapes, never on whether a backward pass
follows, so a layer computes the same float32 output for a NumPy input and
for a Tensor that records its gradient.
"""

from __future__ import annotations

from . import fft, winograd
from ..tuning import WINOGRAD_MIN_CHANNELS

ALGORITHMS = ("im2col", "winograd2", "winograd4", "fft", "direct")
ALIASES = {"winograd": "winograd4"}
ACCEPTED = ("auto",) + ALGORITHMS + tuple(ALIASES)
# name -> the Winograd tile it computes with
WINOGRAD_TILES = {"winograd2": 2, "winograd4": 4}

# Each algorithm's float32 bound, max |y - float64 reference| / max |reference| up to 512 input channels
# (the table above), by number of spatial axes where it differs. Read it with float32_bound.
FLOAT32_BOUNDS = {
    "im2col": 1e-5,
    "winograd2": {1: 1e-5, 2: 1e-5},   # Winograd computes 1D and 2D convolutions only
    "winograd4": {1: 1e-5, 2: 3e-5},   # F(4, 3) in 1D; F(4x4, 3x3), larger transforms, in 2D
    "fft": 1e-5,
    "direct": 1e-5,                    # float64 sums rounded once: far inside it
}
# What choose_algorithm can return: "auto" keeps the loosest of their bounds.
AUTO_CHOICES = ("im2col", "winograd2", "fft")

_settings = {"algorithm": "auto"}


def check_algorithm(algorithm, owner: str | None = None) -> str:
    """``algorithm`` itself if it is one of :data:`ACCEPTED`; else a ValueError naming ``algorithm``.

    ``owner`` (a layer's name) starts the message when given.
    """
    if not isinstance(algorithm, str) or algorithm not in ACCEPTED:
        where = f"{owner}: " if owner else ""
        raise ValueError(f"{where}`algorithm` must be one of {ACCEPTED}; received algorithm={algorithm!r}")
    return algorithm


def canonical(algorithm: str) -> str:
    """The name :data:`ALGORITHMS` gives an accepted ``algorithm`` (``"winograd"`` -> ``"winograd4"``)."""
    return ALIASES.get(check_algorithm(algorithm), algorithm)


def _bound_at(name: str, rank: int) -> float | None:
    """FLOAT32_BOUNDS of a canonical name at ``rank`` spatial axes; None where it computes none."""
    bound = FLOAT32_BOUNDS[name]
    return bound.get(rank) if isinstance(bound, dict) else bound


def float32_bound(algorithm: str, rank: int) -> float:
    """The float32 bound of ``algorithm`` (an accepted name, ``"auto"`` included) on ``rank`` spatial axes:
    max |y - float64 reference| / max |reference| (:data:`FLOAT32_BOUNDS`). ``"auto"``: the loosest bound
    of what it can choose at that rank."""
    name = canonical(algorithm)
    if name == "auto":
        return max(bound for choice in AUTO_CHOICES if (bound := _bound_at(choice, rank)) is not None)
    bound = _bound_at(name, rank)
    if bound is None:
        raise ValueError(f"algorithm {algorithm!r} computes no convolution of {rank} spatial axes; "
                         f"it has a float32 bound for {sorted(FLOAT32_BOUNDS[name])} axes")
    return bound


def set_default_algorithm(algorithm: str) -> None:
    """The algorithm every convolution uses unless its layer names one (initially ``"auto"``)."""
    _settings["algorithm"] = check_algorithm(algorithm)


def default_algorithm() -> str:
    return _settings["algorithm"]


def supports(algorithm: str, kernel_shape, strides, dilation, groups: int) -> bool:
    """Whether ``algorithm`` can compute a convolution of this kernel, stride, dilation and grouping."""
    name = canonical(algorithm)
    if name in WINOGRAD_TILES:
        return winograd.supports(kernel_shape, strides, dilation, groups)
    if name == "fft":
        return fft.supports(kernel_shape, strides, dilation, groups)
    return True


def choose_algorithm(input_shape, kernel_shape, strides, dilation, groups: int) -> str:
    """The automatic choice for a padded input (N, *P, C) and a kernel (*k, Cg, F).

    FFT where :func:`.fft.worthwhile` says it wins (large kernels). Winograd
    F(2x2, 3x3) for 2D 3x3 stride-1 layers at least WINOGRAD_MIN_CHANNELS wide
    in and out (:mod:`clearconv.kernels.tuning`): narrower layers make its
    per-point products too thin for BLAS. Never F(4x4, 3x3), whose 2D float32
    error passes the bound every automatic choice keeps; never Winograd in 1D,
    where im2col reads its columns as views of the input. Everything else runs
    im2col + GEMM.
    """
    *_, group_channels, filters = kernel_shape
    if fft.supports(kernel_shape, strides, dilation, groups) and fft.worthwhile(input_shape, kernel_shape, dilation):
        return "fft"
    if (len(kernel_shape) == 4 and winograd.supports(kernel_shape, strides, dilation, groups)
            and min(group_channels, filters) >= WINOGRAD_MIN_CHANNELS):
        return "winograd2"
    return "im2col"


def resolve_algorithm(algorithm, input_shape, kernel_shape, strides, dilation, groups: int) -> str:
    """The algorithm of :data:`ALGORITHMS` that runs: ``algorithm``'s, the global default's for None, or
    the automatic choice for "auto"; a ValueError where the named one cannot compute this convolution."""
    algorithm = check_algorithm(_settings["algorithm"] if algorithm is None else algorithm)
    if algorithm == "auto":
        return choose_algorithm(input_shape, kernel_shape, strides, dilation, groups)
    if not supports(algorithm, kernel_shape, strides, dilation, groups):
        raise ValueError(f"algorithm {algorithm!r} cannot compute this convolution (kernel {tuple(kernel_shape)}, "
                         f"strides {tuple(strides)}, dilation {tuple(dilation)}, groups {groups}); "
                         f"use 'im2col' or 'auto'")
    return canonical(algorithm)
