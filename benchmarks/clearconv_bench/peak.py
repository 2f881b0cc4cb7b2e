"""The NumPy float32 GEMM peak of this machine: the yardstick of the "% peak" columns."""

from __future__ import annotations

import statistics
import time

import numpy as np

from .load import BUSY_CORES, METER
from .timing import PAUSE_SECONDS

GEMM_SIZE = 2048          # (GEMM_SIZE, GEMM_SIZE) @ (GEMM_SIZE, GEMM_SIZE), float32
GEMM_CALLS = 7            # median over this many quiet calls


def gemm_peak(rng: np.random.Generator, size: int = GEMM_SIZE, calls: int = GEMM_CALLS) -> dict:
    """NumPy float32 (size, size) @ (size, size): median GFLOP/s over ``calls`` quiet calls.

    A yardstick, not a comparison, so a median of quiet calls is its figure.
    A call during which other processes used more than BUSY_CORES is measured
    again (at most 3 * ``calls`` calls in all); if too few stay quiet, the
    median is over every call and ``quiet`` is False.
    """
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    out = np.empty((size, size), dtype=np.float32)
    np.matmul(a, b, out=out)                                         # warm-up
    np.matmul(a, b, out=out)
    quiet, every, loads = [], [], []
    for _ in range(3 * calls):
        before = METER.read()
        start = time.perf_counter()
        np.matmul(a, b, out=out)
        seconds = time.perf_counter() - start
        load = METER.cores(before, METER.read())
        every.append(seconds)
        loads.append(load)
        if load <= BUSY_CORES:
            quiet.append(seconds)
        if len(quiet) >= calls:
            break
        time.sleep(PAUSE_SECONDS)
    used = quiet if len(quiet) >= calls else every
    seconds = statistics.median(used)
    return {"size": size, "gflops": 2.0 * size ** 3 / seconds / 1e9, "seconds": seconds, "calls": every,
            "other_processes_cores": loads, "quiet": len(used) == len(quiet)}
