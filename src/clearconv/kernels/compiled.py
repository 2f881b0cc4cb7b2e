"""Optional numba compilation: the one switch every compiled kernel obeys, and how they are compiled.

The compiled kernels live beside the NumPy code they replace, one concept
per file:

* :mod:`clearconv.kernels.conv.im2col_compiled`: the col2im scatter of a
  convolution's input gradient;
* :mod:`clearconv.kernels.conv.winograd_compiled`: Winograd's input and output
  transforms;
* :mod:`clearconv.kernels.conv.output_compiled`: a convolution's bias and
  ReLU in one pass over its output;
* :mod:`clearconv.kernels.pooling_compiled`: 2x2 max pooling and the max-pool
  backward;
* :mod:`clearconv.kernels.normalization_compiled`: the per-channel sum and
  BatchNormalization's passes.

Each is a pure optimisation taken only where it measured faster
(:mod:`clearconv.kernels.tuning`). What ``CLEARCONV_COMPILED=0`` changes in the
results, exactly:

* nothing for im2col (forward, and the input gradient whose col2im scatter
  the compiled loop does: the GEMM that feeds it is chosen by shape alone,
  and both add the same values in the same order), nor for the bias + ReLU
  pass, nor for max pooling's values (the max-pool backward may give a zero
  gradient the other sign, never another value);
* Winograd's 2D transforms compute the same sums in another order, so
  ``"winograd2"`` / ``"winograd4"`` outputs and their stride-1 input gradients
  agree within that module's float32 bound, not bit for bit. ``"auto"``
  takes ``"winograd2"`` for wide 3x3 layers, so there too;
* the per-channel sums (every bias gradient, BatchNormalization's statistics
  and gradients) of channels-last arrays add in float64 row after row
  instead of in BLAS blocks: within the same bound of the exact sum, but a
  float32 sum may round one step apart, and so may the values computed
  from it.

numba comes with the ``fast`` extra. Without it :data:`AVAILABLE` is False,
:func:`enabled` stays False and the NumPy paths run. The environment variable
``CLEARCONV_COMPILED=0`` (read at import) or :func:`set_enabled` switches the
kernels off, so tests can run both paths. Compilation happens on first use,
once per dtype, and is cached on disk (``cache=True``).
"""

from __future__ import annotations

import os
from typing import Sequence

try:
    import numba
except ImportError:  # the `fast` extra is not installed: the NumPy paths run
    numba = None

AVAILABLE: bool = numba is not None
_switched_on = os.environ.get("CLEARCONV_COMPILED", "1") != "0"


def enabled() -> bool:
    """True when numba is installed and the kernels are not switched off."""
    return AVAILABLE and _switched_on


def set_enabled(flag: bool) -> None:
    """Switch the compiled kernels on or off (on has no effect without numba)."""
    global _switched_on
    _switched_on = bool(flag)


def kernel(function, **options):
    """numba.njit with an on-disk cache when numba is installed; otherwise the plain function, never called.

    The kernels release the GIL (they touch no Python object), so that
    :mod:`clearconv.kernels.parallel`'s threads run them at once. numba's
    on-disk cache is keyed by the function and its file's timestamp, not by
    these options: a change to them must come with a change to the kernel
    modules' files, or stale cached code would run.
    """
    if numba is None:
        return function
    try:
        return numba.njit(cache=True, nogil=True, **options)(function)
    except RuntimeError:  # no writable cache directory (read-only install): compile on each run instead
        return numba.njit(nogil=True, **options)(function)


def inline_kernel(function):
    """:func:`kernel` for a helper called per window: inlined, since a call there costs ~2x (measured)."""
    return kernel(function, inline="always")


def three_axes(values: Sequence[int], fill: int) -> tuple[int, int, int]:
    """One int per spatial axis -> three, ``fill`` for the unit axes put in front.

    Each kernel is written once for 3 spatial axes; 1D and 2D arrays get unit
    spatial axes in front (a view), which visit the same cells in the same order.
    """
    return (fill,) * (3 - len(values)) + tuple(int(v) for v in values)
