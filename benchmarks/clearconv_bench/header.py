"""The header of a benchmark run: everything that changes its timings, printed before any figure.

- versions: Python, NumPy (and its BLAS), PyTorch, numba, clearconv;
- the CPU model and count;
- threads: ``torch.get_num_threads()`` and the thread pools NumPy's BLAS (and
  PyTorch's OpenMP) run, read through threadpoolctl when it is installed,
  else the environment variables OMP_NUM_THREADS / MKL_NUM_THREADS /
  OPENBLAS_NUM_THREADS;
- whether clearconv's compiled (numba) kernels are on, read from the public
  switch ``enabled()`` of the first module of COMPILED_MODULES that has one;
- the malloc setting: the benchmarks call
  ``clearconv.allocator.keep_freed_memory()`` themselves
  (:func:`apply_malloc_setting`) and print its ``describe()``, so a run never
  depends on whether importing clearconv changes the allocator.

Every probe is an argument, so the fields can be checked with fakes.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import platform
from typing import Callable

import numpy as np

from .threads import THREAD_VARIABLES

# Where clearconv's compiled-kernel switch (``enabled()``, ``AVAILABLE``) may live, first match wins.
COMPILED_MODULES = ("clearconv.kernels.compiled",)


def _threadpool_info():
    """threadpoolctl's list of thread pools, or None when threadpoolctl is not installed."""
    try:
        import threadpoolctl
    except ImportError:
        return None
    return threadpoolctl.threadpool_info()


def _distribution_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def blas_threads(threadpool_info: Callable = _threadpool_info, environ=os.environ) -> str:
    """The thread pools loaded in this process, or the thread variables of the environment."""
    info = threadpool_info()
    if info is None:
        values = ", ".join(f"{name}={environ[name]}" if name in environ else f"{name} unset"
                           for name in THREAD_VARIABLES)
        return f"{values} (environment; threadpoolctl not installed)"
    if not info:
        return "no thread pool loaded (threadpoolctl)"
    pools = ", ".join(f"{pool.get('prefix') or pool.get('internal_api')} ({pool.get('user_api')}): "
                      f"{pool.get('num_threads')}" for pool in info)
    return f"{pools} (threadpoolctl)"


def compiled_kernels(import_module: Callable = importlib.import_module, environ=os.environ) -> str:
    """on / off (and why) from clearconv's public switch; unknown, with what is known, where none is found."""
    for name in COMPILED_MODULES:
        try:
            module = import_module(name)
        except ImportError:
            continue
        switch = getattr(module, "enabled", None)
        if not callable(switch):
            continue
        if switch():
            return f"on ({name}.enabled())"
        if not getattr(module, "AVAILABLE", True):
            reason = "numba not installed"
        elif environ.get("CLEARCONV_COMPILED") == "0":
            reason = "CLEARCONV_COMPILED=0"
        else:
            reason = "switched off in the process"
        return f"off ({reason}; {name}.enabled())"
    numba = _distribution_version("numba")
    return (f"unknown (no enabled() switch in {', '.join(COMPILED_MODULES)}); "
            f"CLEARCONV_COMPILED={environ.get('CLEARCONV_COMPILED', 'unset')}, "
            f"numba {numba or 'not installed'}")


def batch_parts(import_module: Callable = importlib.import_module) -> str:
    """How clearconv splits convolutions' batches over its threads inside fit (clearconv.kernels.parallel), or
    unknown where that module is not found."""
    try:
        parallel = import_module("clearconv.kernels.parallel")
        count, threshold = parallel.threads(), parallel.SPLIT_MIN_PART_MACS
        settable = import_module("clearconv.kernels.blas").can_run_single_thread()
    except (ImportError, AttributeError):
        return "unknown (no clearconv.kernels.parallel)"
    if count < 2:
        return "off (1 thread)"
    if not settable:
        return "off (the BLAS's threads cannot be set: threadpoolctl not installed)"
    return (f"{count} parts on clearconv's threads inside fit (kernels.parallel.scope), for training "
            f"convolutions of >= {threshold:,} multiply-adds per part (the BLAS then on one thread)")


def apply_malloc_setting(allocator=None) -> str:
    """Call ``clearconv.allocator.keep_freed_memory()`` (a no-op under CLEARCONV_KEEP_FREED_MEMORY=0);
    what it did, in the allocator's own words (``describe()``)."""
    if allocator is None:
        from clearconv import allocator
    allocator.keep_freed_memory()
    return f"keep_freed_memory() called by the benchmark: {allocator.describe()}"


def cpu_model(cpuinfo_path: str = "/proc/cpuinfo") -> str:
    try:
        with open(cpuinfo_path) as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def numpy_blas() -> str:
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version')}"
    except Exception:                                                # older NumPy: no dict mode
        return "unknown"


def header_fields(threads: int, malloc: str, torch_module=None, threadpool_info: Callable = _threadpool_info,
                  import_module: Callable = importlib.import_module, environ=os.environ,
                  cpuinfo_path: str = "/proc/cpuinfo") -> dict[str, str]:
    """{field: text}. ``malloc``: what :func:`apply_malloc_setting` returned; ``threads``: the requested count."""
    try:
        clearconv_version = import_module("clearconv").__version__
    except (ImportError, AttributeError):
        clearconv_version = "unknown"
    torch_threads = f"torch {torch_module.get_num_threads()}" if torch_module is not None else "torch not imported"
    return {
        "python": platform.python_version(),
        "numpy": f"{np.__version__} (BLAS {numpy_blas()})",
        "torch": torch_module.__version__ if torch_module is not None else "not imported",
        "numba": _distribution_version("numba") or "not installed",
        "clearconv": clearconv_version,
        "cpu": f"{cpu_model(cpuinfo_path)}, {os.cpu_count()} CPUs",
        "threads": f"{torch_threads}; {blas_threads(threadpool_info, environ)}; requested --threads {threads}",
        "compiled kernels": compiled_kernels(import_module, environ),
        "batch parts": batch_parts(import_module),
        "malloc": malloc,
    }


def format_header(fields: dict[str, str]) -> str:
    """One ``field: text`` line per field."""
    return "\n".join(f"{name}: {value}" for name, value in fields.items())
