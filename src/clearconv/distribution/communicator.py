"""The one module of clearconv that imports mpi4py: MPI_COMM_WORLD with a clock on every collective.

Every call is a collective: each process of the launch must make the same
calls in the same order, or the job waits forever (which is why the training
loop aborts the whole job when one process raises, see
:func:`clearconv.distribution.data_parallel.abort_on_error`).

Buffers are NumPy arrays, C-contiguous, of a dtype MPI knows (float32,
float64, int64...): mpi4py passes their memory to MPI without a copy.

Instrumentation: ``seconds`` adds up the wall time spent inside collectives
and ``calls`` / ``bytes`` count them, so a benchmark can read the share of a
step spent communicating (:meth:`Communicator.counters`, :meth:`reset_counters`).
"""

from __future__ import annotations

import sys
import time

import numpy as np

# Elements per Allreduce call of a large buffer: 4 MiB of the buffer's dtype. A bounded message keeps MPI's
# internal copies small and lets a slow link overlap the next bucket's transfer with this one's reduction.
BUCKET_BYTES = 4 * 2**20


def import_mpi():
    """mpi4py's ``MPI`` module; ImportError saying how to install it when it is missing."""
    try:
        from mpi4py import MPI
    except ImportError as error:
        raise ImportError("clearconv.distribution: this process was launched by MPI with more than one process, "
                          "which needs mpi4py: pip install 'clearconv[mpi]' (mpi4py and the mpich wheel)") from error
    return MPI


class Communicator:
    """MPI_COMM_WORLD: ``rank``, ``size`` and the collectives the training loop needs, each timed."""

    def __init__(self):
        MPI = import_mpi()
        self._mpi = MPI
        self._comm = MPI.COMM_WORLD
        self.rank = self._comm.Get_rank()
        self.size = self._comm.Get_size()
        self.reset_counters()

    # --- instrumentation ----------------------------------------------------------------------------
    def reset_counters(self) -> None:
        """Zero the time, call and byte counters."""
        self.seconds = 0.0
        self.calls = 0
        self.bytes = 0

    def counters(self) -> dict:
        """``{"seconds": s, "calls": n, "bytes": b}`` spent in collectives since the last reset."""
        return {"seconds": self.seconds, "calls": self.calls, "bytes": self.bytes}

    def _count(self, started: float, nbytes: int) -> None:
        self.seconds += time.perf_counter() - started
        self.calls += 1
        self.bytes += int(nbytes)

    # --- collectives ----------------------------------------------------------------------------------
    def allreduce_sum(self, buffer: np.ndarray, bucket_bytes: int = BUCKET_BYTES) -> np.ndarray:
        """Sum ``buffer`` (any shape, C-contiguous) over every process, in place; returns it.

        A buffer larger than ``bucket_bytes`` is reduced in consecutive
        slices of that size (each a contiguous view of the flat buffer).
        """
        if not buffer.flags.c_contiguous:
            raise ValueError("allreduce_sum: the buffer must be C-contiguous (it is reduced in place)")
        flat = buffer.reshape(-1)  # (...) -> (size,), a view
        step = max(1, bucket_bytes // max(1, flat.itemsize))
        for start in range(0, flat.size, step):
            part = flat[start:start + step]
            started = time.perf_counter()
            self._comm.Allreduce(self._mpi.IN_PLACE, part, op=self._mpi.SUM)
            self._count(started, part.nbytes)
        return buffer

    def broadcast(self, buffer: np.ndarray, root: int = 0) -> np.ndarray:
        """Overwrite ``buffer`` (C-contiguous, the same shape and dtype everywhere) with root's, in place."""
        if not buffer.flags.c_contiguous:
            raise ValueError("broadcast: the buffer must be C-contiguous (it is overwritten in place)")
        started = time.perf_counter()
        self._comm.Bcast(buffer, root=root)
        self._count(started, buffer.nbytes)
        return buffer

    def broadcast_object(self, value, root: int = 0):
        """Root's ``value`` on every process, pickled by mpi4py: only for small values the library builds
        (a random generator's state, the layout of the optimizer's arrays, which go by :meth:`broadcast`)."""
        started = time.perf_counter()
        value = self._comm.bcast(value, root=root)
        self._count(started, 0)
        return value

    def gather_rows(self, rows: np.ndarray, root: int = 0, every_rank: bool = False) -> np.ndarray | None:
        """Concatenate each process's ``rows`` (n_p, ...) in rank order -> (sum n_p, ...) with Gatherv.

        The trailing shape and the dtype must be the same on every process
        (n_p may be 0). Returns the whole array on ``root`` (on every process
        with ``every_rank``), None elsewhere.
        """
        rows = np.ascontiguousarray(rows)
        row_size = int(np.prod(rows.shape[1:], dtype=np.int64))
        started = time.perf_counter()
        counts = np.array(self._comm.allgather(rows.shape[0]), dtype=np.int64)
        sizes = counts * row_size
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        result = None
        if every_rank or self.rank == root:
            result = np.empty((int(counts.sum()), *rows.shape[1:]), dtype=rows.dtype)
        send = rows.reshape(-1)  # (n_p, ...) -> (n_p * row_size,)
        layout = (sizes.tolist(), offsets.tolist())  # elements from each process, and where they go
        if every_rank:
            self._comm.Allgatherv(send, [result.reshape(-1), layout])
        else:
            receive = [result.reshape(-1), layout] if self.rank == root else None
            self._comm.Gatherv(send, receive, root=root)
        self._count(started, rows.nbytes)
        return result

    def barrier(self) -> None:
        started = time.perf_counter()
        self._comm.Barrier()
        self._count(started, 0)

    def abort(self, code: int = 1) -> None:
        """End every process of the launch now (MPI_Abort): used when one process raised."""
        sys.stdout.flush()
        sys.stderr.flush()
        self._comm.Abort(code)
