"""Keep freed memory in the process for reuse: a glibc malloc setting, opt-in.

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
the next batch. The cost: the process keeps up to 512 MiB of freed memory
instead of returning it at once, and the setting is process-wide and cannot
be undone, which is why importing clearconv never applies it: a program that
wants it calls ``clearconv.allocator.keep_freed_memory()``. The ``clearconv``
command and ``benchmarks/run.py`` call it and say so in their output.

The environment variable ``CLEARCONV_KEEP_FREED_MEMORY=0`` turns the call into
a no-op, so a user can opt out of it in the command and the benchmarks.
Where the C library has no ``mallopt`` (macOS, Windows, musl) the call is a
no-op too.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

MMAP_THRESHOLD = 256 * 2**20
TRIM_THRESHOLD = 512 * 2**20
TOP_PAD = 64 * 2**20
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3   # glibc's mallopt parameter numbers (malloc.h)
OPT_OUT_VARIABLE = "CLEARCONV_KEEP_FREED_MEMORY"

# What the last keep_freed_memory() call did: None (never called), "applied", "opted-out", "unsupported".
_state: str | None = None


def _opted_out() -> bool:
    return os.environ.get(OPT_OUT_VARIABLE, "1") == "0"


def keep_freed_memory() -> bool:
    """Apply the settings above to this process; True when the C library accepted them.

    False, changing nothing, when ``CLEARCONV_KEEP_FREED_MEMORY=0`` is set or the
    C library has no ``mallopt``. Calling it again is harmless.
    """
    global _state
    if _opted_out():
        _state = "opted-out"
        return False
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c")).mallopt
    except (OSError, AttributeError, TypeError):
        _state = "unsupported"
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    settings = ((_M_MMAP_THRESHOLD, MMAP_THRESHOLD), (_M_TRIM_THRESHOLD, TRIM_THRESHOLD), (_M_TOP_PAD, TOP_PAD))
    accepted = all([bool(mallopt(parameter, value)) for parameter, value in settings])
    _state = "applied" if accepted else "unsupported"
    return accepted


def is_applied() -> bool:
    """True once :func:`keep_freed_memory` has applied the setting in this process."""
    return _state == "applied"


def describe() -> str:
    """One line for a program's output: whether this process keeps freed memory, and how to change it."""
    if _state == "applied":
        return (f"malloc keeps freed memory for reuse (up to {TRIM_THRESHOLD // 2**20} MiB; "
                f"{OPT_OUT_VARIABLE}=0 turns this off)")
    if _state == "opted-out":
        return f"malloc setting not applied ({OPT_OUT_VARIABLE}=0)"
    if _state == "unsupported":
        return "malloc setting not applied (this C library has no glibc mallopt)"
    return "malloc setting not applied (clearconv.allocator.keep_freed_memory() was not called)"
