"""How many threads NumPy's BLAS runs, for the choices that depend on it, and running it on one.

OpenBLAS reads ``OPENBLAS_NUM_THREADS``, then ``OMP_NUM_THREADS`` (and MKL
``MKL_NUM_THREADS``) once, when NumPy loads it, and otherwise runs one thread
per core the process may use. :func:`threads` reads the same variables, in the
same order, when this module is imported; a process that changes the count
later (threadpoolctl) can say so with :func:`set_threads`.

A choice depends on it where one algorithm's GEMMs use several threads well
and the other's do not (:data:`clearconv.kernels.tuning.WINOGRAD_KERNEL_GRAD_MAX_BLAS_THREADS`).

:func:`single_thread` runs the BLAS on one thread for a while, through
threadpoolctl (the `fast` extra), so that :mod:`clearconv.kernels.parallel`
can run one GEMM per thread of its own: two threads calling a two-thread
OpenBLAS at once took about as long as calling it one after the other.
Inside it :func:`threads` says 1.
"""

from __future__ import annotations

import contextlib
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
    """The BLAS's thread count (see the module docstring); 1 inside :func:`single_thread`."""
    return 1 if _single["depth"] else _threads


def configured_threads() -> int:
    """The BLAS's thread count outside :func:`single_thread`: the environment's, or :func:`set_threads`'s."""
    return _threads


def set_threads(count: int) -> None:
    """Tell clearconv the BLAS now runs ``count`` threads (an int >= 1), after changing it at run time."""
    global _threads
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"BLAS threads must be an int >= 1; received {count!r}")
    _threads = count


# single_thread's state: how many callers are inside it, and the controllers that set the BLAS's threads.
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
    """The files of the BLAS libraries :func:`single_thread` sets (those loaded when it was first needed)."""
    return [controller.filepath for controller in _controllers()]


def can_run_single_thread() -> bool:
    """Whether :func:`single_thread` can hold the BLAS to one thread: it runs one already, or threadpoolctl
    can set it."""
    return _threads == 1 or bool(_controllers())


@contextlib.contextmanager
def single_thread():
    """Within the block the BLAS runs one thread; after the last caller leaves, the threads it ran before.

    Callers from several threads may nest and overlap: the first to enter
    sets one thread, the last to leave restores every library's count
    (:func:`hold_single_thread` and :func:`release_single_thread` are the
    two halves). Without threadpoolctl nothing changes (see
    :func:`can_run_single_thread`).
    """
    hold_single_thread()
    try:
        yield
    finally:
        release_single_thread()


def hold_single_thread() -> None:
    """Enter :func:`single_thread`'s state: the BLAS on one thread until the matching release."""
    with _single_lock:
        if _single["depth"] == 0:
            _single["before"] = [(controller, controller.get_num_threads()) for controller in _controllers()]
            for controller, count in _single["before"]:
                if count != 1:
                    controller.set_num_threads(1)
        _single["depth"] += 1


def release_single_thread() -> None:
    """Leave what :func:`hold_single_thread` entered; the last to leave restores the BLAS's threads."""
    with _single_lock:
        _single["depth"] -= 1
        if _single["depth"] == 0:
            for controller, count in _single.pop("before"):
                if count != 1:
                    controller.set_num_threads(count)
