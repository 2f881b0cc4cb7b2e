"""Keep freed memory in the process for reuse: a glibc malloc setting, applied at import.

A training step allocates and frees the same few large arrays (im2col columns,
outputs, gradients: 1 to 100 MiB each) every batch. By default glibc serves
such sizes with fresh ``mmap`` pages and hands heap space back to the kernel
as soon as it is freed, so every batch pays a page fault (and the kernel's
zeroing) per 4 KiB of every large array. On a LeNet-5 training step that was
half of the time: 16 ms per batch of 64 against 8 ms with the settings below
(benchmarks/run.py, lenet-epoch; docs/performance.md).

:func:`keep_freed_memory` raises glibc's ``mmap`` threshold to 256 MiB and its
trim threshold to 512 MiB, and grows the heap 64 MiB at a time (``mallopt``),
so arrays up to 256 MiB come from the heap and freed space stays there for
the next batch. The cost: the
process keeps up to 512 MiB of freed memory instead of returning it at once.
Process-wide; a no-op where the C library has no ``mallopt`` (macOS,
Windows). Set the environment variable ``CLEARCONV_KEEP_FREED_MEMORY=0``
before importing clearconv to leave the allocator as it is.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

MMAP_THRESHOLD = 256 * 2**20
TRIM_THRESHOLD = 512 * 2**20
TOP_PAD = 64 * 2**20
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3   # glibc's mallopt parameter numbers (malloc.h)


def keep_freed_memory() -> bool:
    """Apply the settings above; True when the C library accepted them."""
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    settings = ((_M_MMAP_THRESHOLD, MMAP_THRESHOLD), (_M_TRIM_THRESHOLD, TRIM_THRESHOLD), (_M_TOP_PAD, TOP_PAD))
    return all([bool(mallopt(parameter, value)) for parameter, value in settings])


APPLIED = os.environ.get("CLEARCONV_KEEP_FREED_MEMORY", "1") != "0" and keep_freed_memory()
