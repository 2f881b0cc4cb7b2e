#!/usr/bin/env python
"""Re-derive the thresholds of clearconv.kernels.tuning on this machine.

    python benchmarks/tuning.py [--only NAME,NAME] [--threads 2] [--rounds 7] [--quick]

Each probe times the two sides of one threshold (a fast path and the path it
replaces, or two settings) at shapes around it and prints, per shape, the
median milliseconds of each side, their ratio, and the crossover it
measured, next to the value tuning.py holds. A special path is worth keeping
where it gains about 15% or more (``GAIN``); the printed crossover is where
that starts. ``--quick`` runs the smallest shapes once (a smoke test, its
timings mean nothing); ``--list`` names the probes.

How it times: both sides run in the same process, in alternating order
within each round (A B, then B A, ...), after an untimed warm-up call each;
one sample is the mean of as many calls as fill ``BLOCK_SECONDS``; the
median over ``--rounds`` rounds is reported. On a machine other work shares,
use ``--threads 1`` and more rounds, and trust only clear gains.

``float32_bounds`` is not a speed threshold: it measures each algorithm's
float32 error against the float64 direct loops, next to the bounds of
clearconv.kernels.conv.choice.FLOAT32_BOUNDS (the README states the same).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time

if __name__ == "__main__":
    PARSER = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    PARSER.add_argument("--only", default=None, help="comma-separated probe names (default: all)")
    PARSER.add_argument("--threads", type=int, default=2, help="BLAS threads (default 2)")
    PARSER.add_argument("--rounds", type=int, default=7, help="timed rounds per shape (default 7)")
    PARSER.add_argument("--quick", action="store_true", help="smallest shapes, one round: a smoke test")
    PARSER.add_argument("--list", action="store_true", help="list the probes and exit")
    ARGS = PARSER.parse_args()
    from clearconv_bench.threads import set_thread_environment  # benchmarks/ is this script's directory
    set_thread_environment(ARGS.threads)                             # before NumPy: OpenBLAS reads it at load time

import numpy as np  # noqa: E402

from clearconv_bench.checkout import use_this_checkout  # noqa: E402

use_this_checkout()                                                  # this checkout, not another installed copy
from clearconv.kernels import compiled, pooling, pooling_compiled, tuning  # noqa: E402
from clearconv.kernels.conv import (choice, convolution, fft, im2col, output, reference,  # noqa: E402
                                    winograd, winograd_compiled)

GAIN = 0.15            # a special path must save at least this share of the time it replaces
BLOCK_SECONDS = 0.05   # one timing sample lasts about this long
QUICK = False
ROUNDS = 7


# --------------------------------------------------------------------------- timing

def interleaved(sides: dict) -> dict:
    """Median seconds per call of each side, {label: callable}, timed in alternating order round by round."""
    labels = list(sides)
    calls = {}
    for label in labels:  # warm-up, and how many calls fill one block
        start = time.perf_counter()
        sides[label]()
        once = max(time.perf_counter() - start, 1e-6)
        calls[label] = 1 if QUICK else max(1, int(BLOCK_SECONDS / once))
    samples = {label: [] for label in labels}
    for round_index in range(1 if QUICK else ROUNDS):
        for label in (labels if round_index % 2 == 0 else labels[::-1]):
            function, count = sides[label], calls[label]
            start = time.perf_counter()
            for _ in range(count):
                function()
            samples[label].append((time.perf_counter() - start) / count)
    return {label: float(np.median(times)) for label, times in samples.items()}


@contextlib.contextmanager
def patched(module, name, value):
    """Set ``module.name`` to ``value`` for the duration (how a probe picks one side of a threshold)."""
    saved = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, saved)


@contextlib.contextmanager
def compiled_kernels(flag: bool):
    before = compiled.enabled()
    compiled.set_enabled(flag)
    try:
        yield
    finally:
        compiled.set_enabled(before)


def with_patch(function, module, name, value):
    def run():
        with patched(module, name, value):
            return function()
    return run


def with_compiled(function, flag):
    def run():
        with compiled_kernels(flag):
            return function()
    return run


def report(label: str, times: dict, base: str, fast: str) -> float:
    """Print one shape's row; returns the fast side's gain, 1 - fast / base."""
    gain = 1 - times[fast] / times[base]
    cells = "  ".join(f"{name} {1e3 * seconds:8.3f} ms" for name, seconds in times.items())
    print(f"  {label:<34} {cells}  gain {100 * gain:+5.0f}%", flush=True)
    return gain


def verdict(name: str, measured, current) -> None:
    print(f"  -> measured {name} = {measured}   (tuning.py: {current})\n", flush=True)


def rng_array(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def pick(full, quick):
    return quick if QUICK else full


# --------------------------------------------------------------------------- conv helpers

def conv_forward(x, kernel, strides, pads, algorithm):
    return lambda: convolution.conv(x, kernel, None, strides, pads, (1,) * len(strides), algorithm=algorithm)


def conv_training(x, kernel, strides, pads, algorithm, grad):
    def run():
        _, ctx = convolution.conv(x, kernel, None, strides, pads, (1,) * len(strides), algorithm=algorithm,
                                  keep_for_backward=True)
        convolution.conv_backward(grad, ctx)
    return run


def same_case(batch, size, channels, filters, kernel, rank=2, stride=1):
    """x (N, *S, C), kernel, strides, 'same' pads and an output-shaped gradient."""
    x = rng_array((batch, *(size,) * rank, channels))
    weights = rng_array((*(kernel,) * rank, channels, filters), 1) / np.sqrt(kernel ** rank * channels)
    pads = [((kernel - 1) // 2, kernel // 2)] * rank
    y, _ = convolution.conv(x, weights, None, (stride,) * rank, pads, (1,) * rank, algorithm="im2col")
    return x, weights, (stride,) * rank, pads, rng_array(y.shape, 2)


# --------------------------------------------------------------------------- probes

def probe_float32_bounds():
    """max |y - float64 reference| / max |reference| of each algorithm on 3x3 layers, 16 to 512 channels."""
    names = ("im2col", "winograd2", "winograd4", "fft")
    worst_of = {name: 0.0 for name in names}
    for channels in pick((16, 64, 128, 256, 512), (16,)):
        worst = {name: 0.0 for name in names}
        for seed in range(pick(3, 1)):
            rng = np.random.default_rng(seed)
            x = rng.standard_normal((2, 8, 8, channels))
            kernel = rng.standard_normal((3, 3, channels, 32))
            expected = reference.conv_reference(x, kernel, None, (1, 1), ((1, 1), (1, 1)), (1, 1))
            for name in names:
                y, _ = convolution.conv(x.astype(np.float32), kernel.astype(np.float32), None, (1, 1),
                                        ((1, 1), (1, 1)), (1, 1), algorithm=name)
                worst[name] = max(worst[name], np.abs(y - expected).max() / np.abs(expected).max())
        print(f"  C = {channels:<4} " + "  ".join(f"{name} {error:.1e}" for name, error in worst.items()))
        worst_of = {name: max(worst_of[name], worst[name]) for name in names}
    verdict("float32 error (max over channels)", {n: f"{e:.1e}" for n, e in worst_of.items()},
            "conv.choice.FLOAT32_BOUNDS: " + ", ".join(f"{n} {choice.float32_bound(n, 2):g}" for n in names))


def probe_winograd_min_channels():
    """auto's Winograd F(2x2, 3x3) against im2col on 3x3 'same' layers: forward, and forward+backward."""
    threshold = None
    for channels in pick((4, 8, 16, 32, 64, 128), (8,)):
        gains = []
        for batch, size in pick(((8, 32), (16, 14)), ((2, 8),)):
            x, kernel, strides, pads, grad = same_case(batch, size, channels, channels, 3)
            for mode, make in (("fwd", lambda a: conv_forward(x, kernel, strides, pads, a)),
                               ("fwd+bwd", lambda a: conv_training(x, kernel, strides, pads, a, grad))):
                times = interleaved({"im2col": make("im2col"), "winograd2": make("winograd2"),
                                     "winograd4": make("winograd4")})
                gains.append(report(f"C=F={channels} {batch}x{size}x{size} {mode}", times, "im2col", "winograd2"))
                tile_gain = 1 - times["winograd4"] / times["winograd2"]
                print(f"  {'':<34} winograd4 over winograd2: {100 * tile_gain:+.0f}%")
        if threshold is None and min(gains) >= GAIN:
            threshold = channels
    verdict("WINOGRAD_MIN_CHANNELS", threshold, tuning.WINOGRAD_MIN_CHANNELS)


def probe_bias_rows():
    """The bias added along whole output rows against NumPy's broadcast (NumPy path, compiled off)."""
    smallest_loss = None
    for filters in pick((6, 16, 32, 64, 128), (6,)):
        y = rng_array((pick(64, 2), 24, 24, filters))
        bias = rng_array((filters,), 1)
        add = lambda: output.add_bias_and_activate(y, bias, None)  # noqa: E731
        times = interleaved({"broadcast": with_compiled(with_patch(add, output, "BIAS_ROWS_MAX_FILTERS", 0), False),
                             "rows": with_compiled(with_patch(add, output, "BIAS_ROWS_MAX_FILTERS", 10**9), False)})
        if report(f"F={filters}", times, "broadcast", "rows") < GAIN and smallest_loss is None:
            smallest_loss = filters
    verdict("BIAS_ROWS_MAX_FILTERS (rows below it: the smallest F that did not gain)", smallest_loss,
            tuning.BIAS_ROWS_MAX_FILTERS)


def probe_fused_output():
    """The compiled bias + ReLU pass over a conv output against NumPy's two passes."""
    gains = []
    for shape in pick(((64, 28, 28, 6), (32, 32, 32, 32), (16, 16, 16, 128)), ((2, 8, 8, 6),)):
        y, bias = rng_array(shape), rng_array(shape[-1:], 1)
        target = np.empty_like(y)

        def forward():
            np.copyto(target, y)
            output.add_bias_and_activate(target, bias, "relu")

        times = interleaved({"numpy": with_compiled(forward, False), "compiled": with_compiled(forward, True)})
        gains.append(report(f"{shape}", times, "numpy", "compiled"))
    verdict("fused bias + ReLU pass: smallest gain", f"{100 * min(gains):.0f}%", "kept where >= 15%")


def probe_row_blocking():
    """im2col row-blocked (b outputs per column row) against plain, forward+backward, by filters."""
    largest_width = largest_filters = None
    for filters in pick((4, 8, 16, 24, 32, 48), (8,)):
        for batch, size, channels, kernel in pick(((64, 12, 6, 5), (32, 16, 8, 3)), ((2, 8, 6, 5),)):
            x, weights, strides, pads, grad = same_case(batch, size, channels, filters, kernel)
            run = conv_training(x, weights, strides, pads, "im2col", grad)
            blocked = with_patch(with_patch(run, im2col, "ROW_BLOCK_MAX_WIDTH", 10**6), im2col,
                                 "ROW_BLOCK_MAX_FILTERS", 10**6)
            times = interleaved({"plain": with_patch(run, im2col, "ROW_BLOCK_MAX_WIDTH", 0), "blocked": blocked})
            with patched(im2col, "ROW_BLOCK_MAX_FILTERS", 10**6):
                block = im2col.row_blocking(weights, strides, (1, 1), size)  # under ROW_BLOCK_MAX_WIDTH
            width = block.block * filters if block is not None else None
            if report(f"F={filters} {batch}x{size}x{size}x{channels} k{kernel} b*F={width}", times, "plain",
                      "blocked") >= GAIN:
                largest_filters = max(largest_filters or 0, filters)
                if width is not None:
                    largest_width = max(largest_width or 0, width)
    verdict("ROW_BLOCK_MAX_FILTERS / ROW_BLOCK_MAX_WIDTH (largest F / b*F that gained)",
            (largest_filters, largest_width), (tuning.ROW_BLOCK_MAX_FILTERS, tuning.ROW_BLOCK_MAX_WIDTH))


def probe_reduction_block():
    """A thin kernel gradient over a long reduction: blocks of REDUCTION_BLOCK rows against one GEMM."""
    largest = None
    rows = pick(50_176, 9_000)
    for taps_channels, filters in pick(((25, 6), (27, 8), (54, 4), (25, 16), (72, 8), (150, 6)), ((25, 6),)):
        columns = rng_array((1, rows, taps_channels))
        grad = rng_array((rows, filters), 1).reshape(1, rows, 1, filters)
        shape = (taps_channels, 1, filters)
        run = lambda: im2col.correlate_kernel_grad(columns, grad, shape, 1)  # noqa: E731
        times = interleaved({"one GEMM": with_patch(run, im2col, "SMALL_KERNEL_GRAD", 0),
                             "blocks": with_patch(run, im2col, "SMALL_KERNEL_GRAD", 10**9)})
        if report(f"{taps_channels} x {filters} = {taps_channels * filters} entries", times, "one GEMM",
                  "blocks") >= GAIN:
            largest = max(largest or 0, taps_channels * filters)
    verdict("SMALL_KERNEL_GRAD (largest that gained)", largest, tuning.SMALL_KERNEL_GRAD)


def probe_col2im_channels():
    """Input gradient: every tap from one GEMM (compiled scatter, and NumPy's) against one GEMM per tap."""
    largest = None
    shapes = pick([(32, 16, c, 1) for c in (1, 2, 4, 6, 8, 16, 32)] + [(16, 32, c, 2) for c in (8, 16, 32, 64)],
                  [(2, 8, 4, 1)])
    for batch, size, channels, stride in shapes:
        x, weights, strides, pads, grad = same_case(batch, size, channels, 32, 3, stride=stride)
        padded = tuple(size + sum(pad) for pad in pads)
        run = lambda: im2col.correlate_input_grad(grad, weights, padded, strides, (1, 1), 1)  # noqa: E731
        one = with_patch(run, im2col, "one_gemm_input_grad", lambda *args: True)
        per_tap = with_patch(run, im2col, "one_gemm_input_grad", lambda *args: False)
        times = interleaved({"per tap": with_compiled(per_tap, False), "one GEMM numpy": with_compiled(one, False),
                             "one GEMM compiled": with_compiled(one, True)})
        gain = report(f"C={channels} stride {stride}", times, "per tap", "one GEMM compiled")
        if stride == 1 and gain >= GAIN:
            largest = max(largest or 0, channels)
    verdict("COL2IM_ONE_GEMM_MAX_CHANNELS (largest stride-1 C that gained)", largest,
            tuning.COL2IM_ONE_GEMM_MAX_CHANNELS)


def probe_max_pool_channels():
    """The compiled max-pool backward (3x3 windows, stride 2) against NumPy's, by channels."""
    smallest = None
    for channels in pick((3, 6, 8, 16, 32), (6,)):
        x = rng_array((pick(32, 2), 32, 32, channels))
        args = ((3, 3), (2, 2), ((0, 0), (0, 0)))
        out = pooling.max_pool(x, *args)
        grad = rng_array(out.shape, 1)
        times = interleaved({
            "numpy": with_compiled(lambda: pooling.max_pool_backward(grad, x, out, *args), False),
            "compiled": lambda: pooling_compiled.max_pool_backward(grad, x, out, *args)})
        if report(f"C={channels}", times, "numpy", "compiled") >= GAIN and smallest is None:
            smallest = channels
    verdict("MAX_POOL_BACKWARD_MIN_CHANNELS", smallest, tuning.MAX_POOL_BACKWARD_MIN_CHANNELS)


def probe_winograd_transforms():
    """Winograd with the compiled transforms against the NumPy Kronecker matmuls, by channels."""
    smallest = None
    for channels in pick((1, 2, 4, 16, 64), (2,)):
        xp = rng_array((pick(8, 1), 34, 34, channels))
        kernel = rng_array((3, 3, channels, channels), 1)
        for tile in (2, 4):
            run = lambda: winograd.correlate(xp, kernel, tile)  # noqa: E731
            times = interleaved({
                "numpy": with_patch(run, winograd_compiled, "WINOGRAD_COMPILED_MIN_CHANNELS", 10**9),
                "compiled": with_patch(run, winograd_compiled, "WINOGRAD_COMPILED_MIN_CHANNELS", 1)})
            if report(f"C=F={channels} tile {tile}", times, "numpy", "compiled") >= GAIN and tile == 2 \
                    and smallest is None:
                smallest = channels
    verdict("WINOGRAD_COMPILED_MIN_CHANNELS", smallest, tuning.WINOGRAD_COMPILED_MIN_CHANNELS)


def probe_winograd_chunk():
    """Winograd's tiles in chunks of WINOGRAD_CHUNK_ELEMENTS // (C + F) against one pass over all tiles."""
    gains = []
    for batch, size, channels in pick(((8, 34, 64), (8, 18, 128)), ((1, 10, 8),)):
        xp, kernel = rng_array((batch, size, size, channels)), rng_array((3, 3, channels, channels), 1)
        run = lambda: winograd.correlate(xp, kernel, 2)  # noqa: E731
        sides = {f"2**{p}": with_patch(run, winograd, "WINOGRAD_CHUNK_ELEMENTS", 2**p) for p in (14, 16, 18)}
        sides["one pass"] = with_patch(run, winograd, "WINOGRAD_CHUNK_ELEMENTS", 2**62)
        times = interleaved(sides)
        gains.append(report(f"{batch}x{size}x{size} C=F={channels}", times, "one pass", "2**16"))
    verdict("WINOGRAD_CHUNK_ELEMENTS = 2**16: smallest gain", f"{100 * min(gains):.0f}%", "kept where >= 15%")


def probe_fft_kernel_dft():
    """The kernel spectrum from a DFT matrix product against a zero-padded FFT, by taps."""
    largest = None
    for taps in pick((3, 9, 31, 63, 127), (9,)):
        kernel = rng_array((taps, 16, 32))
        run = lambda: fft.kernel_spectrum(kernel, (1080,), (1,), 1.0)  # noqa: E731
        times = interleaved({"fft": with_patch(run, fft, "KERNEL_DFT_MAX_TAPS", 0),
                             "dft matrix": with_patch(run, fft, "KERNEL_DFT_MAX_TAPS", 10**6)})
        if report(f"taps={taps} L=1080 16->32", times, "fft", "dft matrix") >= GAIN:
            largest = taps
    verdict("FFT_KERNEL_DFT_MAX_TAPS (largest that gained)", largest, tuning.FFT_KERNEL_DFT_MAX_TAPS)


def probe_fft_chunks():
    """FFT batch chunks of FFT_CHUNK_BYTES against the whole batch at once; the kernel-spectrum rule."""
    gains = []
    for shape, kernel_shape in pick((((8, 72, 72, 16), (9, 9, 16, 16)), ((32, 1062, 16), (31, 16, 32)),
                                     ((8, 58, 58, 64), (3, 3, 64, 64))), (((2, 20, 20, 4), (5, 5, 4, 4)),)):
        xp, kernel = rng_array(shape), rng_array(kernel_shape, 1)
        run = lambda: fft.correlate(xp, kernel)  # noqa: E731
        whole = with_patch(with_patch(run, fft, "CHUNK_BYTES", 2**62), fft, "KERNEL_CACHED_BYTES", 2**62)
        no_rule = with_patch(run, fft, "KERNEL_CACHED_BYTES", 2**62)
        times = interleaved({"whole batch": whole, "chunks only": no_rule, "chunks + rule": run})
        gains.append(report(f"{shape} {kernel_shape[:-2]}", times, "whole batch", "chunks + rule"))
    verdict("FFT_CHUNK_BYTES / FFT_KERNEL_CACHED_BYTES: smallest gain", f"{100 * min(gains):.0f}%",
            (tuning.FFT_CHUNK_BYTES, tuning.FFT_KERNEL_CACHED_BYTES))


# The shapes of fft.worthwhile's table (padded input, kernel); --quick takes the first two.
FFT_SHAPES = [((8, 64, 64, 16), (k, k, 16, 16)) for k in (3, 5, 7, 9, 11, 15)] + \
    [((8, 128, 128, 8), (k, k, 8, 8)) for k in (3, 5, 7, 9)] + \
    [((16, 34, 34, 32), (3, 3, 32, 32)), ((16, 36, 36, 32), (5, 5, 32, 32)), ((8, 58, 58, 64), (3, 3, 64, 64)),
     ((8, 36, 36, 64), (5, 5, 64, 64)), ((64, 28, 28, 1), (5, 5, 1, 6)), ((64, 12, 12, 6), (5, 5, 6, 16))] + \
    [((32, 1032, 16), (k, 16, 32)) for k in (9, 15, 31, 63)] + [((8, 4096, 16), (31, 16, 16)),
                                                                 ((32, 262, 8), (7, 8, 8)),
                                                                 ((4, 24, 24, 24, 8), (3, 3, 3, 8, 8)),
                                                                 ((4, 24, 24, 24, 8), (5, 5, 5, 8, 8))]


def probe_fft_cost_model():
    """Time im2col and FFT on fft.worthwhile's shapes, refit the cost constants (NNLS), check the choices."""
    rows = []
    for shape, kernel_shape in pick(FFT_SHAPES, FFT_SHAPES[:2]):
        xp, kernel = rng_array(shape), rng_array(kernel_shape, 1)
        rank = len(shape) - 2
        times = interleaved({
            "im2col": lambda: convolution.conv(xp, kernel, None, (1,) * rank, [(0, 0)] * rank, (1,) * rank,
                                               algorithm="im2col"),
            "fft": lambda: fft.correlate(xp, kernel)})
        picked = "fft" if fft.worthwhile(shape, kernel_shape) else "im2col"
        faster = min(times, key=times.get)
        report(f"{shape} {kernel_shape[:-2]} model: {picked}{'' if picked == faster else ' (WRONG)'}", times,
               "im2col", "fft")
        rows.append((shape, kernel_shape, times["im2col"], times["fft"]))
    try:
        from scipy.optimize import nnls
    except ImportError:
        print("  (scipy is not installed: no refit)\n")
        return
    fft_features, im2col_features, fft_times, im2col_times = [], [], [], []
    for shape, kernel_shape, im2col_seconds, fft_seconds in rows:
        batch, *padded, channels = shape
        *kernel_size, _, filters = kernel_shape
        out = [p - k + 1 for p, k in zip(padded, kernel_size)]
        lengths = [fft.fast_length(p) for p in padded]
        size = int(np.prod(lengths))
        frequencies = size // lengths[-1] * (lengths[-1] // 2 + 1)
        transformed = batch * size * (channels + filters)
        fft_features.append([1.0, transformed * np.log2(size), transformed * len(padded),
                             frequencies * channels * filters * batch,
                             frequencies * channels * filters * sum(kernel_size)])
        gathered = batch * int(np.prod(out)) * int(np.prod(kernel_size)) * channels
        im2col_features.append([gathered, gathered * filters])
        fft_times.append(fft_seconds * 1e9)
        im2col_times.append(im2col_seconds * 1e9)
    for name, features, measured, names in (
            ("FFT", fft_features, fft_times,
             ("FFT_FIXED_NS", "FFT_TRANSFORM_NS", "FFT_PASS_NS", "FFT_PRODUCT_NS", "FFT_KERNEL_NS")),
            ("im2col", im2col_features, im2col_times, ("IM2COL_GATHER_NS", "IM2COL_PRODUCT_NS"))):
        features, measured = np.array(features), np.array(measured)
        # relative error: each row divided by its measured time
        fitted, _ = nnls(features / measured[:, None], np.ones(len(measured)))
        print("  " + ", ".join(f"{n} = {v:.4g} (tuning.py: {getattr(tuning, n)})" for n, v in zip(names, fitted)))
    print()


def probe_conv1d_views():
    """1D stride-1 convolution reading its columns as views against the general im2col, forward+backward."""
    for batch, length, channels, filters, kernel in pick(((32, 1024, 16, 32, 9), (32, 256, 64, 64, 3)),
                                                         ((2, 64, 4, 4, 3),)):
        x, weights, strides, pads, grad = same_case(batch, length, channels, filters, kernel, rank=1)
        run = conv_training(x, weights, strides, pads, "im2col", grad)
        times = interleaved({"general": with_patch(run, convolution, "_columns_as_views", lambda *args: False),
                             "views": run})
        report(f"{batch}x{length}x{channels} k{kernel} -> {filters}", times, "general", "views")
    print()


def probe_winograd_kernel_grad():
    """The kernel gradient after a Winograd forward: the transforms' adjoint against im2col columns + one GEMM
    (run at --threads 1 and 2: WINOGRAD_KERNEL_GRAD_MAX_BLAS_THREADS is the largest count where it gains,
    WINOGRAD_KERNEL_GRAD_MAX_CHANNELS the widest layer)."""
    gains = []
    for batch, size, channels, filters in pick(((64, 14, 32, 64), (64, 14, 64, 64), (64, 7, 64, 128),
                                                (128, 28, 32, 32), (128, 14, 64, 64), (128, 7, 128, 128),
                                                (16, 14, 256, 256), (8, 7, 512, 512)),
                                               ((2, 6, 8, 8),)):
        xp = rng_array((batch, size + 2, size + 2, channels)).astype(np.float32)
        grad = rng_array((batch, size, size, filters), 1).astype(np.float32)

        def columns():
            cols = im2col.im2col(xp, (3, 3), (1, 1), (1, 1), 1)
            return im2col.correlate_kernel_grad(cols, grad, (3, 3, channels, filters), 1)
        times = interleaved({"im2col": columns, "winograd": lambda: winograd.correlate_kernel_grad(xp, grad, 2)})
        gains.append(report(f"{batch}x{size}x{size} {channels}->{filters}", times, "im2col", "winograd"))
    verdict(f"Winograd kernel gradient at {ARGS.threads} BLAS thread(s): smallest gain", f"{100 * min(gains):.0f}%",
            f"taken up to {tuning.WINOGRAD_KERNEL_GRAD_MAX_BLAS_THREADS} BLAS thread(s)")


PROBES = {name[len("probe_"):]: function for name, function in globals().items() if name.startswith("probe_")}


def main() -> None:
    global QUICK, ROUNDS
    QUICK, ROUNDS = ARGS.quick, ARGS.rounds
    if ARGS.list:
        for name, function in PROBES.items():
            print(f"{name:<24} {function.__doc__}")
        return
    names = ARGS.only.split(",") if ARGS.only else list(PROBES)
    unknown = [name for name in names if name not in PROBES]
    if unknown:
        sys.exit(f"--only: unknown probe(s) {unknown}; known: {', '.join(PROBES)}")
    print(f"threads {ARGS.threads}, rounds {1 if QUICK else ROUNDS}, compiled kernels "
          f"{'on' if compiled.enabled() else 'off'}; tuning.py measured on: {tuning.MEASURED_ON}\n")
    for name in names:
        print(f"{name}: {PROBES[name].__doc__}")
        PROBES[name]()


if __name__ == "__main__":
    main()
