"""How much CPU *other* processes used while a block ran, in cores.

On a 2-core machine another process using one core wrecks a 2-thread
measurement: a BLAS or OpenMP team waits at every barrier for its descheduled
thread, and PyTorch suffers more than OpenBLAS, so a busy machine flatters
clearconv. Each block therefore records the load, and :mod:`.timing`
measures a contended turn again.
"""

from __future__ import annotations

import os
import time

BUSY_CORES = 0.15         # other processes using more than this during a block: the block is contended


class CpuMeter:
    """CPU used by other processes (and stolen by the hypervisor), from /proc/stat.

    Linux only; elsewhere it reports 0 and nothing is measured again.
    Busy time of the whole machine minus this process's own user+system time.
    """

    def __init__(self, stat_path: str = "/proc/stat"):
        self.tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self.stat_path = stat_path
        self.available = os.path.exists(stat_path)

    def read(self) -> tuple[float, float]:
        """(seconds of CPU used by others so far, wall clock)."""
        own = os.times()
        if not self.available:
            return 0.0, time.perf_counter()
        with open(self.stat_path) as stat:
            values = [int(v) for v in stat.readline().split()[1:]]
        # user nice system idle iowait irq softirq steal ...
        busy = sum(values[i] for i in (0, 1, 2, 5, 6)) / self.tick
        steal = values[7] / self.tick if len(values) > 7 else 0.0
        return busy - (own.user + own.system) + steal, time.perf_counter()

    @staticmethod
    def cores(before: tuple[float, float], after: tuple[float, float]) -> float:
        """Cores used by others between two :meth:`read` results."""
        wall = after[1] - before[1]
        return max(0.0, after[0] - before[0]) / wall if wall > 0 else 0.0


METER = CpuMeter()
