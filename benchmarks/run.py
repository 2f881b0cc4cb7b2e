#!/usr/bin/env python
"""Time clearconv against PyTorch, side by side, in one process.

    python benchmarks/run.py [--rounds 5] [--cases vgg-3x3,strided] [--threads 2] [--json out.json]

The standard cases are those of DESIGN.md (section Benchmarks), in float32.
Each case is timed for the forward pass and for forward+backward (gradients
with respect to the input and to every weight, for a fixed random upstream
gradient).

Timing rules (DESIGN.md):

- NumPy's BLAS (OpenBLAS) and PyTorch use the same number of threads
  (``--threads``). The BLAS thread count is read from the environment when
  NumPy is imported, so the arguments are parsed and the environment set
  *before* ``import numpy``.
- The two libraries are never alternated call by call: each one is timed in
  its own block of repeats (a block lasts about a quarter of a second) after
  an untimed warm-up call, with a short pause between blocks so the other
  library's BLAS threads stop spinning.
- Several rounds of blocks run in the same process; the table reports the
  median over rounds. The ratio is the median over rounds of
  (clearconv block / PyTorch block of the same round), which cancels the slow
  drifts of a noisy machine better than a ratio of two medians.
- Each block records how much CPU other processes used meanwhile (/proc/stat).
  A contended pair of blocks is measured again (a few times, early in the run);
  the medians use only quiet rounds, and a case with none is reported as
  inconclusive. See docs/performance.md.

Layouts: clearconv runs channels_last (NHWC), its internal layout; PyTorch
runs NCHW, its native layout, with the same weights converted. Where Keras
'same' padding is asymmetric (the strided case), the PyTorch side pads
explicitly with ``F.pad`` and that pad is counted in its time, since a
PyTorch user has to do the same.
"""

from __future__ import annotations

import argparse
import os
import sys

DEFAULT_ROUNDS = 5
DEFAULT_THREADS = 2
BLOCK_SECONDS = 0.25      # target duration of one timed block
MAX_REPEATS = 1000        # cap on the calls in one block
PAUSE_SECONDS = 0.05      # between blocks: lets idle BLAS/OpenMP threads stop spinning
PARITY_TOLERANCE = 1e-4   # max |clearconv - torch| / max |torch|, per array, float32
BUSY_CORES = 0.15         # other processes using more CPU than this during a block: measure it again
BLOCK_LIMIT = 1.0         # a block stops early past this (a busy machine would otherwise stretch it)
MAX_ATTEMPTS = 3          # per pair of blocks (clearconv, torch) of a round
RETRY_PAUSE = 0.5         # seconds to wait before measuring a contended pair again
RETRY_DEADLINE = 150.0    # seconds into the run after which contended pairs are kept as they are

# name -> (input shape NHWC or NLC, layer description), DESIGN.md "Benchmarks".
CASE_NAMES = ("lenet-conv1", "lenet-conv2", "vgg-3x3", "deep-3x3", "pointwise", "strided", "conv1d",
              "transposed", "maxpool", "lenet-epoch")
UNAVAILABLE = {"lenet-epoch": "not yet available (needs the training loop and the Fashion-MNIST loader)"}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="clearconv vs PyTorch timings on the DESIGN.md standard cases.")
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS,
                        help=f"rounds of timed blocks per case and mode (default {DEFAULT_ROUNDS})")
    parser.add_argument("--cases", default=",".join(CASE_NAMES),
                        help="comma-separated case names (default: all): " + ", ".join(CASE_NAMES))
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS,
                        help=f"threads for both NumPy's BLAS and PyTorch (default {DEFAULT_THREADS})")
    parser.add_argument("--json", metavar="PATH", default=None,
                        help="also write every block time (seconds per call) to this JSON file")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error(f"--rounds must be a positive integer; received {args.rounds}")
    if args.threads < 1:
        parser.error(f"--threads must be a positive integer; received {args.threads}")
    cases = [name.strip() for name in args.cases.split(",") if name.strip()]
    unknown = [name for name in cases if name not in CASE_NAMES]
    if unknown or not cases:
        parser.error(f"--cases: unknown case(s) {unknown or args.cases!r}; accepted: {', '.join(CASE_NAMES)}")
    args.cases = cases
    return args


if __name__ == "__main__":
    ARGS = parse_args()
    # Before NumPy (and torch) are imported: OpenBLAS reads these once, at load time.
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = str(ARGS.threads)

import ctypes  # noqa: E402
import gc  # noqa: E402
import glob  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Callable  # noqa: E402

import numpy as np  # noqa: E402

# Time the checkout this script belongs to (the same code as an editable install), not some other copy.
_SOURCE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")
if os.path.isdir(os.path.join(_SOURCE, "clearconv")):
    sys.path.insert(0, _SOURCE)
import clearconv  # noqa: E402
from clearconv import Tensor  # noqa: E402
from clearconv import layers as cc_layers  # noqa: E402

try:
    import torch  # noqa: E402
    import torch.nn.functional as torch_functional  # noqa: E402
except ImportError:  # pragma: no cover - the bench extra installs it
    sys.exit("benchmarks/run.py needs PyTorch (pip install 'clearconv[bench]', torch==2.13.0 CPU)")


# --------------------------------------------------------------------------- the cases

@dataclass
class Case:
    """One benchmark case: a clearconv layer and the equivalent PyTorch computation."""

    name: str
    description: str
    input_shape: tuple                 # channels_last
    make_clearconv: Callable           # () -> clearconv layer
    make_torch: Callable               # (clearconv layer) -> (torch module, forward(x) -> y)
    is_2d: bool                        # counts for the 2D target
    is_conv: bool                      # counts for the median over conv cases
    flops_forward: Callable = None     # (input shape, output shape) -> float
    layer: object = None
    extra: dict = field(default_factory=dict)


def _to_torch_layout(array: np.ndarray) -> np.ndarray:
    """channels_last (N, *S, C) -> channels_first (N, C, *S), contiguous."""
    return np.ascontiguousarray(np.moveaxis(array, -1, 1))


def _conv_flops(kernel_size: int):
    """2 * multiply-adds of a convolution: per output cell, kernel taps * C_in * 2 per filter."""
    def flops(input_shape, output_shape):
        return 2.0 * np.prod(output_shape) * kernel_size * input_shape[-1]
    return flops


def _transposed_flops(kernel_size: int):
    """A transposed convolution scatters each input cell through every tap to every filter."""
    def flops(input_shape, output_shape):
        return 2.0 * np.prod(input_shape) * kernel_size * output_shape[-1]
    return flops


def _torch_conv(module_class, rank: int, torch_pads=None, **options):
    """Build the PyTorch twin of a clearconv Conv layer, weights copied (Keras -> torch layout)."""
    def make(layer):
        kernel = layer.kernel.data                                   # (*k, C_in, F)
        module = module_class(kernel.shape[-2], kernel.shape[-1], kernel.shape[:-2], **options)
        axes = (rank + 1, rank, *range(rank))                        # -> (F, C_in, *k)
        with torch.no_grad():
            module.weight.copy_(torch.from_numpy(np.ascontiguousarray(kernel.transpose(axes))))
            module.bias.copy_(torch.from_numpy(layer.bias.data))
        if torch_pads is None:
            return module, module
        return module, lambda x: module(torch_functional.pad(x, torch_pads))
    return make


def _torch_conv_transpose(layer):
    """Conv2DTranspose(F, k, strides=s) -> nn.ConvTranspose2d(C_in, F, k, stride=s), kernel (*k, F, C_in)."""
    kernel = layer.kernel.data
    module = torch.nn.ConvTranspose2d(kernel.shape[-1], kernel.shape[-2], kernel.shape[:-2],
                                      stride=layer.strides)
    with torch.no_grad():
        module.weight.copy_(torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1))))  # (C_in, F, *k)
        module.bias.copy_(torch.from_numpy(layer.bias.data))
    return module, module


def _torch_maxpool(layer):
    module = torch.nn.MaxPool2d(layer.pool_size, stride=layer.strides)
    return module, module


def standard_cases() -> dict[str, Case]:
    """The DESIGN.md standard cases (except lenet-epoch, which needs training)."""
    L = cc_layers
    cases = [
        Case("lenet-conv1", "N=64, 28x28x1, Conv2D 6, 5x5, valid", (64, 28, 28, 1),
             lambda: L.Conv2D(6, 5), _torch_conv(torch.nn.Conv2d, 2), True, True, _conv_flops(25)),
        Case("lenet-conv2", "N=64, 12x12x6, Conv2D 16, 5x5, valid", (64, 12, 12, 6),
             lambda: L.Conv2D(16, 5), _torch_conv(torch.nn.Conv2d, 2), True, True, _conv_flops(25)),
        Case("vgg-3x3", "N=8, 56x56x64, Conv2D 64, 3x3, same", (8, 56, 56, 64),
             lambda: L.Conv2D(64, 3, padding="same"), _torch_conv(torch.nn.Conv2d, 2, padding=1),
             True, True, _conv_flops(9)),
        Case("deep-3x3", "N=16, 28x28x128, Conv2D 128, 3x3, same", (16, 28, 28, 128),
             lambda: L.Conv2D(128, 3, padding="same"), _torch_conv(torch.nn.Conv2d, 2, padding=1),
             True, True, _conv_flops(9)),
        Case("pointwise", "N=16, 14x14x256, Conv2D 64, 1x1", (16, 14, 14, 256),
             lambda: L.Conv2D(64, 1), _torch_conv(torch.nn.Conv2d, 2), True, True, _conv_flops(1)),
        # Keras 'same', k3 s2 on 56: output 28, total pad (28-1)*2+3-56 = 1 -> (0 before, 1 after).
        # torch padding=1 would pad (1, 1) and read other cells, so pad explicitly (counted in torch's time).
        Case("strided", "N=16, 56x56x64, Conv2D 128, 3x3, stride 2, same", (16, 56, 56, 64),
             lambda: L.Conv2D(128, 3, strides=2, padding="same"),
             _torch_conv(torch.nn.Conv2d, 2, torch_pads=(0, 1, 0, 1), stride=2), True, True, _conv_flops(9)),
        Case("conv1d", "N=32, 1024x16, Conv1D 32, 9, same", (32, 1024, 16),
             lambda: L.Conv1D(32, 9, padding="same"), _torch_conv(torch.nn.Conv1d, 1, padding=4),
             False, False, _conv_flops(9)),
        Case("transposed", "N=16, 14x14x64, Conv2DTranspose 32, 2x2, stride 2", (16, 14, 14, 64),
             lambda: L.Conv2DTranspose(32, 2, strides=2), _torch_conv_transpose, True, True, _transposed_flops(4)),
        Case("maxpool", "N=64, 28x28x32, MaxPooling2D 2x2", (64, 28, 28, 32),
             lambda: L.MaxPooling2D((2, 2)), _torch_maxpool, True, False, None),
    ]
    return {case.name: case for case in cases}


# --------------------------------------------------------------------------- the callables timed

def prepare(case: Case, rng: np.random.Generator) -> dict[str, Callable]:
    """Build both sides of a case with the same weights and data; return the four timed callables."""
    layer = case.make_clearconv()
    x = rng.standard_normal(case.input_shape, dtype=np.float32)
    y = layer(x)                                                     # builds the layer
    layer.set_weights([rng.standard_normal(w.shape, dtype=np.float32) * np.float32(0.1) for w in layer.weights])
    grad = rng.standard_normal(y.shape, dtype=np.float32)
    case.layer = layer
    case.extra.update(output_shape=y.shape)

    cc_input = Tensor(x, requires_grad=True)
    cc_weights = layer.weights

    def cc_forward():
        return layer(x)

    def cc_forward_backward():
        out = layer(cc_input)
        out.backward(grad)
        cc_input.grad = None
        for weight in cc_weights:
            weight.grad = None

    module, torch_call = case.make_torch(layer)
    torch_x = torch.from_numpy(_to_torch_layout(x))
    torch_x_grad = torch.from_numpy(_to_torch_layout(x)).requires_grad_(True)
    torch_grad = torch.from_numpy(_to_torch_layout(grad))
    torch_params = list(module.parameters())

    def torch_forward():
        with torch.no_grad():
            return torch_call(torch_x)

    def torch_forward_backward():
        out = torch_call(torch_x_grad)
        out.backward(torch_grad)
        torch_x_grad.grad = None
        for parameter in torch_params:
            parameter.grad = None

    case.extra["parity"] = _parity(layer, x, grad, torch_call, module)
    return {("forward", "clearconv"): cc_forward, ("forward", "torch"): torch_forward,
            ("forward+backward", "clearconv"): cc_forward_backward,
            ("forward+backward", "torch"): torch_forward_backward}


def _relative_error(ours: np.ndarray, theirs: np.ndarray) -> float:
    if ours.shape != theirs.shape:
        return float("inf")
    scale = float(np.max(np.abs(theirs))) or 1.0
    return float(np.max(np.abs(ours.astype(np.float64) - theirs.astype(np.float64)))) / scale


def _parity(layer, x, grad, torch_call, module) -> float:
    """Worst relative error over output, input gradient and weight gradients (a sanity check of the twins)."""
    cc_input = Tensor(x, requires_grad=True)
    out = layer(cc_input)
    out.backward(grad)
    torch_x = torch.from_numpy(_to_torch_layout(x)).requires_grad_(True)
    torch_out = torch_call(torch_x)
    torch_out.backward(torch.from_numpy(_to_torch_layout(grad)))
    errors = [_relative_error(out.data, np.moveaxis(torch_out.detach().numpy(), 1, -1)),
              _relative_error(cc_input.grad, np.moveaxis(torch_x.grad.numpy(), 1, -1))]
    rank = x.ndim - 2
    for weight, parameter in zip(layer.weights, module.parameters()):
        theirs = parameter.grad.numpy()
        if theirs.ndim == rank + 2:                                  # (A, B, *k) -> Keras (*k, B, A)
            theirs = theirs.transpose(*range(2, rank + 2), 1, 0)
        errors.append(_relative_error(weight.grad, theirs))
    for weight in layer.weights:
        weight.grad = None
    return max(errors)


# --------------------------------------------------------------------------- timing

def _call_seconds(function: Callable, minimum_seconds: float = 0.05) -> float:
    """Rough seconds per call, for choosing the block length."""
    calls, start = 0, time.perf_counter()
    while True:
        function()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= minimum_seconds or calls >= MAX_REPEATS:
            return elapsed / calls


class CpuMeter:
    """CPU used by *other* processes (and stolen by the hypervisor) while a block runs, in cores.

    Linux only (/proc/stat); elsewhere it reports 0 and nothing is retried.
    Busy time of the whole machine minus this process's own user+system time.
    """

    def __init__(self):
        self.tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self.available = os.path.exists("/proc/stat")

    def read(self) -> tuple[float, float]:
        """(seconds of CPU used by others so far, wall clock)."""
        own = os.times()
        if not self.available:
            return 0.0, time.perf_counter()
        with open("/proc/stat") as stat:
            values = [int(v) for v in stat.readline().split()[1:]]
        # user nice system idle iowait irq softirq steal ...
        busy = sum(values[i] for i in (0, 1, 2, 5, 6)) / self.tick
        steal = values[7] / self.tick if len(values) > 7 else 0.0
        return busy - (own.user + own.system) + steal, time.perf_counter()

    @staticmethod
    def cores(before: tuple[float, float], after: tuple[float, float]) -> float:
        wall = after[1] - before[1]
        return max(0.0, after[0] - before[0]) / wall if wall > 0 else 0.0


METER = CpuMeter()


def time_block(function: Callable, repeats: int) -> tuple[float, float]:
    """One block: an untimed warm-up call, then ``repeats`` timed calls (fewer past BLOCK_LIMIT seconds).

    Returns (seconds per call, cores used by other processes during the block).
    """
    function()
    gc.collect()
    gc.disable()
    try:
        before = METER.read()
        start = time.perf_counter()
        calls = 0
        while calls < repeats:
            function()
            calls += 1
            if time.perf_counter() - start > BLOCK_LIMIT:
                break
        elapsed = time.perf_counter() - start
        after = METER.read()
    finally:
        gc.enable()
    return elapsed / calls, CpuMeter.cores(before, after)


LIBRARIES = ("clearconv", "torch")
MODES = ("forward", "forward+backward")


@dataclass
class Measurements:
    seconds: dict        # {case: {(mode, library): [seconds per call, one per round]}}
    contention: dict     # {case: {(mode, library): [cores used by others, one per round]}}
    retries: int = 0


def run_benchmarks(cases: list[Case], rounds: int, log=print) -> Measurements:
    """Time every case and mode in ``rounds`` rounds of one block per library.

    A pair of blocks (clearconv, torch) measured while other processes used
    more than ``BUSY_CORES`` of a core is measured again, after a pause, up to
    ``MAX_ATTEMPTS`` times and while the run is younger than ``RETRY_DEADLINE``
    seconds; what stays contended is reported.
    """
    run_start = time.perf_counter()
    rng = np.random.default_rng(20240601)
    callables, repeats = {}, {}
    for case in cases:
        callables[case.name] = prepare(case, rng)
        for key, function in callables[case.name].items():
            function()                                               # warm-up (allocator, caches, threads)
            function()
            repeats[case.name, key] = max(1, min(MAX_REPEATS, round(BLOCK_SECONDS / _call_seconds(function))))
            time.sleep(PAUSE_SECONDS)
        log(f"  warmed up {case.name} ({case.description}): calls per block (clearconv/torch) "
            + ", ".join(f"{mode} {repeats[case.name, (mode, 'clearconv')]}/{repeats[case.name, (mode, 'torch')]}"
                        for mode in MODES))
    found = Measurements({case.name: {key: [] for key in callables[case.name]} for case in cases},
                         {case.name: {key: [] for key in callables[case.name]} for case in cases})
    for round_index in range(rounds):
        start = time.perf_counter()
        # Alternate which library goes first, so neither always follows the other's block.
        order = LIBRARIES if round_index % 2 == 0 else LIBRARIES[::-1]
        for case in cases:
            for mode in MODES:
                for attempt in range(MAX_ATTEMPTS):
                    pair = {}
                    for library in order:
                        key = (mode, library)
                        pair[key] = time_block(callables[case.name][key], repeats[case.name, key])
                        time.sleep(PAUSE_SECONDS)
                    busy = max(cores for _, cores in pair.values())
                    if (busy <= BUSY_CORES or attempt == MAX_ATTEMPTS - 1
                            or time.perf_counter() - run_start > RETRY_DEADLINE):
                        break
                    found.retries += 1
                    time.sleep(RETRY_PAUSE)
                for key, (seconds, cores) in pair.items():
                    found.seconds[case.name][key].append(seconds)
                    found.contention[case.name][key].append(cores)
        log(f"  round {round_index + 1}/{rounds} done in {time.perf_counter() - start:.1f} s")
    return found


# --------------------------------------------------------------------------- report

def _quiet_rounds(found: Measurements, name: str, mode: str) -> list[int]:
    """Rounds whose two blocks ran while other processes stayed under BUSY_CORES (all rounds if none did)."""
    pairs = list(zip(*(found.contention[name][mode, library] for library in LIBRARIES)))
    quiet = [index for index, pair in enumerate(pairs) if max(pair) <= BUSY_CORES]
    return quiet or list(range(len(pairs)))


def _had_quiet_round(found: Measurements, name: str, mode: str) -> bool:
    pairs = zip(*(found.contention[name][mode, library] for library in LIBRARIES))
    return any(max(pair) <= BUSY_CORES for pair in pairs)


def summarize(case: Case, found: Measurements) -> dict:
    """Medians (ms) and paired ratios over the quiet rounds, and GFLOP/s, for one case."""
    row = {}
    for mode in MODES:
        used = _quiet_rounds(found, case.name, mode)
        ours = [found.seconds[case.name][mode, "clearconv"][i] for i in used]
        theirs = [found.seconds[case.name][mode, "torch"][i] for i in used]
        ratios = [a / b for a, b in zip(ours, theirs)]
        row[mode] = {
            "clearconv_ms": 1e3 * statistics.median(ours),
            "torch_ms": 1e3 * statistics.median(theirs),
            "ratio": statistics.median(ratios),
            "ratio_min": min(ratios),
            "ratio_max": max(ratios),
            "rounds_used": used,
        }
    row["gflops"] = None
    if case.flops_forward is not None:
        # Backward = input gradient + kernel gradient, each as many multiply-adds as the forward.
        flops = 3.0 * case.flops_forward(case.input_shape, case.extra["output_shape"])
        row["gflops"] = flops / (row["forward+backward"]["clearconv_ms"] * 1e-3) / 1e9
    return row


def contention_note(cases: list[Case], found: Measurements) -> str:
    """Say how busy the machine was: the medians are only as good as the quiet rounds."""
    if not METER.available:
        return "machine load: not measured (no /proc/stat)"
    everything = [cores for case in cases for values in found.contention[case.name].values() for cores in values]
    busy, dropped = [], []
    for case in cases:
        for mode in MODES:
            rounds = zip(*(found.contention[case.name][mode, library] for library in LIBRARIES))
            count = sum(max(pair) > BUSY_CORES for pair in rounds)
            total = len(found.contention[case.name][mode, "torch"])
            if count == total:
                busy.append(f"{case.name} {mode} (all {total} rounds: medians over contended rounds)")
            elif count:
                dropped.append(f"{case.name} {mode} {count}/{total}")
    line = (f"machine load: other processes used {statistics.median(everything):.2f} cores (median over blocks, "
            f"max {max(everything):.2f}); {found.retries} contended pair(s) of blocks measured again")
    if dropped:
        line += ("\n  rounds left out of the medians (still contended, > "
                 f"{BUSY_CORES} core used by others): " + ", ".join(dropped))
    if busy:
        line += ("\n  NO quiet round, less trustworthy (rerun on a quiet machine): " + ", ".join(busy))
    return line


def format_table(cases: list[Case], rows: dict, unavailable: list[str]) -> str:
    header = ("case", "fwd clearconv ms", "fwd torch ms", "ratio", "fwd+bwd clearconv ms", "fwd+bwd torch ms",
              "ratio", "GFLOP/s clearconv fwd+bwd")
    lines = []
    for case in cases:
        row = rows[case.name]
        forward, both = row["forward"], row["forward+backward"]
        lines.append((case.name, f"{forward['clearconv_ms']:.3f}", f"{forward['torch_ms']:.3f}",
                      f"{forward['ratio']:.2f}x", f"{both['clearconv_ms']:.3f}", f"{both['torch_ms']:.3f}",
                      f"{both['ratio']:.2f}x", "-" if row["gflops"] is None else f"{row['gflops']:.1f}"))
    widths = [max(len(header[i]), *(len(line[i]) for line in lines)) if lines else len(header[i])
              for i in range(len(header))]
    out = ["| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |",
           "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    for line in lines:
        out.append("| " + " | ".join([line[0].ljust(widths[0])] + [cell.rjust(w) for cell, w
                                                                    in zip(line[1:], widths[1:])]) + " |")
    for name in unavailable:
        out.append(f"| {name.ljust(widths[0])} | {UNAVAILABLE[name]}")
    return "\n".join(out)


def _openblas_threads() -> str:
    """Threads OpenBLAS will use, read back from the library NumPy loaded (best effort)."""
    base = os.path.dirname(os.path.dirname(np.__file__))
    for path in glob.glob(os.path.join(base, "numpy.libs", "*openblas*")) + \
            glob.glob(os.path.join(base, "scipy_openblas*", "lib", "*openblas*.so*")):
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for symbol in ("scipy_openblas_get_num_threads64_", "scipy_openblas_get_num_threads",
                       "openblas_get_num_threads64_", "openblas_get_num_threads"):
            function = getattr(library, symbol, None)
            if function is not None:
                return str(function())
    return "unknown"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _blas() -> str:
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version')}"
    except Exception:                                                # older NumPy: no dict mode
        return "unknown"


def machine_description(threads: int) -> str:
    return (f"machine: {os.cpu_count()} CPUs ({_cpu_model()}), Python {platform.python_version()}, "
            f"NumPy {np.__version__} (BLAS {_blas()}), torch {torch.__version__}, clearconv {clearconv.__version__}\n"
            f"threads: torch {torch.get_num_threads()}, OpenBLAS {_openblas_threads()} (--threads {threads})")


def main(args) -> int:
    torch.set_num_threads(args.threads)
    all_cases = standard_cases()
    cases = [all_cases[name] for name in args.cases if name in all_cases]
    unavailable = [name for name in args.cases if name in UNAVAILABLE]
    print("clearconv vs PyTorch, float32, one process")
    print(machine_description(args.threads))
    print(f"rounds: {args.rounds}, block ~{BLOCK_SECONDS} s per library, case and mode; times = median over "
          "quiet rounds; ratio = clearconv/PyTorch, median over quiet rounds of the per-round ratio")
    start = time.perf_counter()
    found = run_benchmarks(cases, args.rounds)
    rows = {case.name: summarize(case, found) for case in cases}
    print()
    print(format_table(cases, rows, unavailable))
    print()
    print(contention_note(cases, found))
    bad_parity = {case.name: case.extra["parity"] for case in cases if not case.extra["parity"] <= PARITY_TOLERANCE}
    worst = max((case.extra["parity"] for case in cases), default=0.0)
    if bad_parity:
        print("PARITY MISMATCH (the two sides do not compute the same thing; their ratio means nothing): "
              + ", ".join(f"{name} {error:.2e}" for name, error in bad_parity.items()))
    elif cases:
        print(f"parity: outputs and all gradients agree with PyTorch on every case "
              f"(worst relative error {worst:.1e})")
    conv_2d = [case for case in cases if case.is_conv]
    if conv_2d:
        for mode in MODES:
            median = statistics.median(rows[case.name][mode]["ratio"] for case in conv_2d)
            print(f"median ratio over the 2D conv cases ({len(conv_2d)}: "
                  f"{', '.join(case.name for case in conv_2d)}), {mode}: {median:.2f}x")
    checked = [case for case in cases if case.is_2d]
    if checked:
        quiet = {case.name: _had_quiet_round(found, case.name, "forward+backward") for case in checked}
        failed = [case.name for case in checked if rows[case.name]["forward+backward"]["ratio"] > 3.0]
        if any(quiet[name] for name in failed):
            verdict = "FAIL"
        elif all(quiet.values()):
            verdict = "FAIL" if failed else "PASS"
        else:
            verdict = "INCONCLUSIVE (some cases had no quiet round: rerun on a quiet machine)"
        print(f"check, target \"forward+backward <= 3x PyTorch on every 2D case\": {verdict}")
        for case in checked:
            both = rows[case.name]["forward+backward"]
            note = "" if quiet[case.name] else ", no quiet round: inconclusive"
            print(f"  {case.name}: {both['ratio']:.2f}x {'PASS' if both['ratio'] <= 3.0 else 'FAIL'} "
                  f"(per-round ratios {both['ratio_min']:.2f}-{both['ratio_max']:.2f}{note})")
    print(f"\ntotal {time.perf_counter() - start:.0f} s")
    if args.json:
        payload = {"machine": machine_description(args.threads), "rounds": args.rounds,
                   "cases": {name: {"summary": rows[name],
                                    "parity_relative_error": all_cases[name].extra["parity"],
                                    "seconds_per_call": {f"{mode}/{library}": values for (mode, library), values
                                                         in found.seconds[name].items()},
                                    "other_processes_cores": {f"{mode}/{library}": values for (mode, library), values
                                                              in found.contention[name].items()}}
                             for name in rows},
                   "unavailable": {name: UNAVAILABLE[name] for name in unavailable}}
        with open(args.json, "w") as handle:
            json.dump(payload, handle, indent=2)
    return 1 if bad_parity else 0


if __name__ == "__main__":
    sys.exit(main(ARGS))
