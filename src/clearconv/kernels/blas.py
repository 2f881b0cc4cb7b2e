"""How many threads NumPy's BLAS runs, for the choices that depend on it.

OpenBLAS reads ``OPENBLAS_NUM_THREADS``, then ``OMP_NUM_THREADS`` (and MKL
``MKL_NUM_THREADS``) once, when NumPy loads it, and otherwise runs one thread
per core the process may use. :func:`threads` reads the same variables, in the
same order, when this module is imported; a process that changes the count
later (threadpoolctl) can say so with :func:`set_threads`.

A choice depends on it where one algorithm's GEMMs use several threads well
and the other's do not (:data:`clearconv.kernels.tuning.WINOGRAD_KERNEL_GRAD_MAX_BLAS_THREADS`).
"""

from __future__ import annotations

import os

# The environment variables that set the BLAS's thread count, in the order OpenBLAS reads them.
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _from_environment(environ=os.environ) -> int:
    """The BLAS's thread count the environment gives, at most the cores; the cores when none is set."""
    for variable in THREAD_VARIABLES:
        value = environ.get(variable, "").strip()
        if value:
            try:
                return max(1, min(_cores(), int(value)))
            except ValueError:  # OpenBLAS too ignores a value it cannot parse
                continue
    return max(1, _cores())


_threads = _from_environment()


def threads() -> int:
    """The BLAS's thread count (see the module docstring)."""
    return _threads


def set_threads(count: int) -> None:
    """Tell clearconv the BLAS now runs ``count`` threads (an int >= 1), after changing it at run time."""
    global _threads
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"BLAS threads must be an int >= 1; received {count!r}")
    _threads = count
