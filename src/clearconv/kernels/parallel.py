"""Running parts of a batch on threads of clearconv's own, one BLAS thread each.

A convolution's training step is its GEMMs and the work between them (im2col
gathers, Winograd's transforms, the bias and ReLU pass, col2im). A BLAS on two
threads runs the GEMMs on both cores and everything between them on one, while
its second thread spins. Here each of ``threads()`` threads takes whole
samples of the batch through every step of the convolution, forward and
backward, with the BLAS on one thread, so both cores do all of it.

Within :func:`scope` :func:`split` cuts large batches into parts, and the
first split holds the BLAS on one thread
(:func:`clearconv.kernels.blas.hold_single_thread`) until the scope ends. ``fit``
runs inside it (:mod:`clearconv.models.training`); a loop of
``train_on_batch`` calls gets the same by running inside one::

    with clearconv.kernels.parallel.scope():
        for x, y in batches:
            model.train_on_batch(x, y)

Outside it, and outside the main thread, nothing is split: changing the
BLAS's thread count around each convolution made whole training steps 8-29%
slower than not splitting, and once per ``train_on_batch`` call still cost
what the parts gained, while one change per ``fit`` made them faster. Only a
convolution that keeps what its
backward needs begins the holding; a forward without backward splits only
once it is held (``fit``'s validation): in ``predict`` of 256 samples parts
gained 17-33% on lenet5, small_vgg and small_resnet but lost 21% on unet
(its Conv2D layers took 104-112 ms in parts against 97-101 ms whole, though
the same layers alone, their input in cache, gained 16-47%).

``threads()`` is the BLAS's configured thread count (so
``OPENBLAS_NUM_THREADS=1``, one thread per process as in data-parallel
training, splits nothing); :func:`set_threads` changes it (``0``: back to the
default; ``1``: no splitting). Batches split only into parts of at least
:data:`clearconv.kernels.tuning.SPLIT_MIN_PART_MACS` multiply-adds, and only
where threadpoolctl (the `fast` extra) can hold the BLAS to one thread or it
runs one already. The compiled kernels release the GIL
(:func:`clearconv.kernels.compiled.kernel`), as NumPy's array passes and
GEMMs do, so the threads run at once.
"""

from __future__ import annotations

import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Sequence

from . import blas
from .tuning import SPLIT_MIN_PART_MACS

_settings = {"threads": 0}               # 0: the BLAS's configured count
# the main thread's open scopes; whether they hold the BLAS; how many times this process was forked in one
_scopes = {"open": 0, "holding": False, "forks": 0}
_pool: dict = {"executor": None, "pid": None, "workers": 0}
_pool_lock = threading.Lock()
_inside = threading.local()              # .part: this thread is running a part


def set_threads(count: int) -> None:
    """Split large batches into ``count`` parts on as many threads (an int >= 0; 0: the BLAS's thread count,
    the default; 1: no splitting)."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValueError(f"threads must be an int >= 0 (0: the BLAS's thread count); received {count!r}")
    _settings["threads"] = count


def threads() -> int:
    """How many parts a large batch is split into inside :func:`scope` (1: none)."""
    return _settings["threads"] or blas.configured_threads()


@contextlib.contextmanager
def scope():
    """Within the block, large batches split into :func:`threads` parts. The first split sets the BLAS to
    one thread for the rest of the block (so a model whose convolutions are all too small to split keeps
    the BLAS's threads). Nests. Only the main thread's scopes split: the BLAS's thread count belongs to the
    whole process, and OpenBLAS ignored a count set back from another thread after the main thread had set
    one, which would leave every later product on one core. Elsewhere, where :func:`threads` is 1 or the
    BLAS's threads cannot be set, a no-op."""
    if threading.current_thread() is not threading.main_thread() or threads() < 2 \
            or not blas.can_run_single_thread():
        yield
        return
    _scopes["open"] += 1
    forks = _scopes["forks"]
    try:
        yield
    finally:
        if _scopes["forks"] == forks:       # a child forked inside the block left it already
            _scopes["open"] -= 1
        if _scopes["open"] == 0 and _scopes["holding"]:
            _scopes["holding"] = False
            blas.release_single_thread()


def splitting() -> bool:
    """Whether :func:`split` may cut a batch here: inside :func:`scope`, in the main thread, not in a part."""
    return (bool(_scopes["open"]) and threading.current_thread() is threading.main_thread()
            and not getattr(_inside, "part", False))


def split(batch: int, macs_per_sample: int, hold: bool = True) -> list[slice]:
    """Contiguous slices of a batch of ``batch`` samples, one per part, or ``[slice(0, batch)]`` where the
    work (``macs_per_sample`` multiply-adds a sample) does not pay for threads; the larger parts first.

    Only in the main thread, inside :func:`scope`, and not within a part. ``hold=False``: split only where
    the scope already holds the BLAS on one thread (a forward without backward inside ``fit``'s
    validation), never begin holding it.
    """
    count = min(threads(), batch, max(1, batch * macs_per_sample // SPLIT_MIN_PART_MACS))
    if count < 2 or not splitting() or not (hold or _scopes["holding"]):
        return [slice(0, batch)]
    if not _scopes["holding"]:
        _scopes["holding"] = True
        blas.hold_single_thread()
    base, extra = divmod(batch, count)
    bounds = [0]
    for index in range(count):
        bounds.append(bounds[-1] + base + (1 if index < extra else 0))
    return [slice(start, stop) for start, stop in zip(bounds, bounds[1:])]


def run(function: Callable, parts: Sequence) -> list:
    """``[function(part) for part in parts]``, the first on the calling thread and the others on the pool's;
    returns when every part is done, raising the first failed part's error (in the order of ``parts``).
    The BLAS's threads are :func:`scope`'s business: outside one, each part's products use them all."""
    if len(parts) == 1:
        return [function(parts[0])]

    def as_part(part):
        _inside.part = True
        try:
            return function(part)
        finally:
            _inside.part = False

    try:
        executor = _executor(len(parts) - 1)
    except RuntimeError:                    # the interpreter is shutting down: no new threads
        return [as_part(part) for part in parts]
    futures = []
    try:
        for part in parts[1:]:
            try:
                futures.append(executor.submit(as_part, part))
            except RuntimeError:            # shutdown began meanwhile: the parts left run on this thread
                break
        mine = [as_part(parts[0])] + [as_part(part) for part in parts[1 + len(futures):]]
    finally:
        errors = [future.exception() for future in futures]  # wait for every submitted part before raising
    for error in errors:
        if error is not None:
            raise error
    return mine[:1] + [future.result() for future in futures] + mine[1:]


def _after_fork_in_child() -> None:
    """A child forked inside a scope starts outside any, with the BLAS's threads restored."""
    if _scopes["holding"]:
        blas.release_single_thread()
    _scopes.update(open=0, holding=False, forks=_scopes["forks"] + 1)
    global _pool_lock
    _pool_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _executor(workers: int) -> ThreadPoolExecutor:
    """The pool, with at least ``workers`` threads, made again in a forked child (whose copy has no threads)."""
    with _pool_lock:
        if _pool["executor"] is None or _pool["pid"] != os.getpid() or _pool["workers"] < workers:
            if _pool["executor"] is not None and _pool["pid"] == os.getpid():
                _pool["executor"].shutdown(wait=False)   # its threads end once idle
            _pool["executor"] = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="clearconv-part")
            _pool["pid"], _pool["workers"] = os.getpid(), workers
        return _pool["executor"]
