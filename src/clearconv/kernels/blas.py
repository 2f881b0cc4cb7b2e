"""How many threads NumPy's BLAS runs, for the choices that depend on it, and running it on one.

OpenBLAS reads ``OPENBLAS_NUM_THREADS``, then ``OMP_NUM_THREADS`` (and MKL
``MKL_NUM_THREADS``) once, when NumPy loads it, and otherwise runs one thread
per core the process may use. :func:`threads` reads the same variables, in the
same order, when this module is imported; a process that changes the count
later (threadpoolctl) can say so with :func:`set_threads`.

A choice depends on it where one algorithm's GEMMs use several threads well
and the other's do not (:data:`clearconv.kernels.tuning.WINOGRAD_KERNEL_GRAD_MAX_BLAS_THREADS`).

:func:`hold_single_thread` runs the BLAS on one thread until
:func:`release_single_thread`, through threadpoolctl (the `fast` extra), so
that :mod:`clearconv.kernels.parallel` can run one GEMM per thread of its
own: two threads calling a two-thread OpenBLAS at once took about as long as
calling it one after the other. Meanwhile :func:`threads` says 1.
"""

from __future__ import annotations

import os
import threading

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
    """The BLAS's thread count (see the module docstring); 1 while :func:`hold_single_thread` holds it."""
    return 1 if _single["depth"] else _threads


def configured_threads() -> int:
    """The BLAS's thread count when not held on one: the environment's, or :func:`set_threads`'s."""
    return _threads


def set_threads(count: int) -> None:
    """Tell clearconv the BLAS now runs ``count`` threads (an int >= 1), after changing it at run time."""
    global _threads
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"BLAS threads must be an int >= 1; received {count!r}")
    _threads = count


# The holds' state: how many are held, and the controllers that set the BLAS's threads.
_single = {"depth": 0, "controllers": None}
_single_lock = threading.Lock()


def _controllers():
    """threadpoolctl's controllers of the loaded BLAS libraries; () without threadpoolctl or without any."""
    if _single["controllers"] is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _single["controllers"] = ()
        else:
            _single["controllers"] = tuple(ThreadpoolController().select(user_api="blas").lib_controllers)
    return _single["controllers"]


def controlled_libraries() -> list[str]:
    """The files of the BLAS libraries :func:`hold_single_thread` sets (those loaded when first needed)."""
    return [controller.filepath for controller in _controllers()]


def can_run_single_thread() -> bool:
    """Whether :func:`hold_single_thread` can hold the BLAS to one thread: it runs one already, or
    threadpoolctl can set it."""
    return _threads == 1 or bool(_controllers())


def hold_single_thread() -> None:
    """The BLAS on one thread until the matching :func:`release_single_thread`; holds nest, and the last
    release restores every library's count. Without threadpoolctl nothing changes (see
    :func:`can_run_single_thread`). :mod:`clearconv.kernels.parallel` calls both from the main thread only:
    OpenBLAS ignored a count set back from another thread after the main thread had set one."""
    with _single_lock:
        if _single["depth"] == 0:
            _single["before"] = [(controller, controller.get_num_threads()) for controller in _controllers()]
            for controller, count in _single["before"]:
                if count != 1:
                    controller.set_num_threads(1)
        _single["depth"] += 1


def release_single_thread() -> None:
    """End one :func:`hold_single_thread`; the last restores the BLAS's threads."""
    with _single_lock:
        _single["depth"] -= 1
        if _single["depth"] == 0:
            for controller, count in _single.pop("before"):
                if count != 1:
                    controller.set_num_threads(count)


def _after_fork_in_child() -> None:
    # a lock another thread held at the fork would never be released in the child
    global _single_lock
    _single_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
