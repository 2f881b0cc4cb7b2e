#!/usr/bin/env python
"""Where clearconv's time goes on the standard cases: cProfile of forward+backward.

    python benchmarks/profile_conv.py [--cases vgg-3x3,strided] [--threads 1] [--calls 5] [--top 8]

For each case it runs the clearconv layer's forward+backward ``--calls``
times under cProfile and prints the functions that take the most time of
their own ("own ms per call": time inside the function itself, NumPy and
BLAS calls included, excluding the Python functions it calls). With the
ops written as short functions (pad, im2col, GEMM, col2im, crop), this splits
a layer's time into its pieces without assuming how they are implemented.

Use ``--threads 1`` on a busy machine: with one thread the pieces are
stable; with several, a descheduled BLAS thread stalls a GEMM at random.
PyTorch is not needed.
"""

from __future__ import annotations

import argparse
import os
import sys

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", default=None, help="comma-separated case names (default: all conv cases)")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1)")
    parser.add_argument("--calls", type=int, default=5, help="profiled calls per case (default 5)")
    parser.add_argument("--top", type=int, default=8, help="functions shown per case (default 8)")
    ARGS = parser.parse_args()
    from clearconv_bench.threads import set_thread_environment  # benchmarks/ is this script's directory
    set_thread_environment(ARGS.threads)                             # before NumPy: OpenBLAS reads it at load time

import cProfile  # noqa: E402
import pstats  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from clearconv_bench.checkout import use_this_checkout  # noqa: E402

use_this_checkout()
from clearconv import Tensor  # noqa: E402
from clearconv_bench.cases import standard_cases  # noqa: E402

CASES = standard_cases()


def profile_case(name: str, calls: int, top: int) -> None:
    case = CASES[name]
    rng = np.random.default_rng(0)
    layer = case.make_clearconv()
    x = rng.standard_normal(case.input_shape, dtype=np.float32)
    grad = rng.standard_normal(layer(x).shape, dtype=np.float32)
    tensor = Tensor(x, requires_grad=True)

    def forward_backward():
        out = layer(tensor)
        out.backward(grad)
        tensor.grad = None
        for weight in layer.weights:
            weight.grad = None

    forward_backward()                                               # warm-up
    start = time.perf_counter()
    for _ in range(calls):
        forward_backward()
    plain = (time.perf_counter() - start) / calls
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        forward_backward()
    profiler.disable()
    stats = pstats.Stats(profiler).stats                              # {(file, line, fn): (cc, nc, tt, ct, callers)}
    rows = sorted(((tt, ct, nc, func) for func, (cc, nc, tt, ct, callers) in stats.items()), reverse=True)
    total = sum(tt for tt, *_ in rows)
    print(f"\n{name}: forward+backward {1e3 * plain:.2f} ms per call unprofiled "
          f"({1e3 * total / calls:.2f} ms profiled)")
    print(f"  {'own ms':>8} {'share':>6} {'calls':>6}  function")
    for tt, ct, nc, (path, line, function) in rows[:top]:
        where = function if path == "~" else f"{function} ({_short(path)}:{line})"
        print(f"  {1e3 * tt / calls:8.2f} {tt / total:6.1%} {nc // calls:6d}  {where}")


def _short(path: str) -> str:
    marker = os.sep + "clearconv" + os.sep
    return path.split(marker, 1)[1] if marker in path else os.path.basename(path)


if __name__ == "__main__":
    names = ARGS.cases.split(",") if ARGS.cases else list(CASES)
    unknown = [name for name in names if name not in CASES]
    if unknown:
        sys.exit(f"--cases: unknown case(s) {unknown}; accepted: {', '.join(CASES)}")
    print(f"clearconv forward+backward, cProfile, BLAS threads {ARGS.threads}, {ARGS.calls} calls per case")
    for case_name in names:
        profile_case(case_name, ARGS.calls, ARGS.top)
