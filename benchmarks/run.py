#!/usr/bin/env python
"""Time clearconv against PyTorch, side by side, in one process.

    python benchmarks/run.py [--rounds 5] [--cases vgg-3x3,strided] [--threads 2] [--json out.json]
                             [--skip-epoch] [--skip-zoo]

One command prints everything the performance figures need:

- the measured GEMM peak of this machine: NumPy float32 ``(2048, 2048) @
  (2048, 2048)``, median of several calls, in GFLOP/s (printed at the top);
- the standard cases of DESIGN.md (section Benchmarks), float32, each timed
  for the forward pass and for forward+backward (gradients with respect to the
  input and to every weight, for a fixed random upstream gradient), clearconv
  against PyTorch, with the ratio clearconv/PyTorch;
- for every case that goes through the convolution dispatcher
  (:mod:`clearconv.kernels.conv`), the automatic choice (the case's main row) and
  one row per other algorithm of ``ALGORITHMS`` that ``supports`` the case,
  except "direct" (the textbook loops, far too slow), e.g.
  ``vgg-3x3 [winograd]``: the same input and weights, through the layer's
  ``algorithm=`` argument (passed on to the dispatcher);
- per row, clearconv's GFLOP/s and its percentage of the GEMM peak, and the
  peak memory of one clearconv forward+backward next to its floor;
- lenet-epoch: three epochs of LeNet-5 on Fashion-MNIST in each library,
  taking turns ten times an epoch on the same batches
  (``benchmarks/lenet_epoch.py``), run before the other cases; the median
  epoch times, the per-epoch ratios, the median of the per-turn ratios and
  both test accuracies;
- zoo inference: images per second of ``clearconv.zoo.small_vgg`` and
  ``small_resnet`` predicting one batch of 256 random inputs, as built and
  after ``model.fold_batchnorm()``.

Conventions:

- **FLOPs** count the direct definition, 2 flops per multiply-add (MAC),
  whatever the algorithm actually does (so a Winograd or FFT row can pass the
  GEMM peak). A convolution has ``N * prod(out) * prod(k) * C_in / groups * F``
  MACs, i.e. N * prod(output spatial) * prod(kernel shape); a transposed
  convolution scatters every input cell through every tap to every filter,
  ``N * prod(input spatial) * prod(k) * F * C_in``. The backward (input
  gradient and kernel gradient) counts 2x the forward's MACs, so
  forward+backward counts 3x. GFLOP/s = flops / clearconv's median time;
  "% peak" = that over the GEMM peak. Pooling has no MACs: "-".
- **Peak memory** (forward+backward, clearconv only): tracemalloc's peak
  (NumPy reports its array allocations to it) over one forward+backward call,
  counting what the call allocates (the input, the upstream gradient and the
  weights exist before it). Measured in a separate, untimed call after the
  warm-up, so tracemalloc's overhead never touches a timing. **Floor**: input
  + output + kernel + one chunk's im2col column buffer, the column buffer of
  the whole batch being ``N * prod(out) * prod(k) * C_in * itemsize`` and a
  chunk as many samples of it as fit under ``column_buffer_limit()`` (at least
  one): what a forward+backward has to hold at once (dx, y, dkernel and the
  columns). For the transposed case the columns are those of its backward
  (``N * prod(in) * prod(k) * F``); pooling has no kernel and no columns.
  "peak/floor" is the ratio (target: at most 2x).

Timing rules (DESIGN.md):

- NumPy's BLAS (OpenBLAS) and PyTorch use the same number of threads
  (``--threads``). The BLAS thread count is read from the environment when
  NumPy is imported, so the arguments are parsed and the environment set
  *before* ``import numpy``.
- The libraries (and clearconv's algorithms) are never alternated call by
  call: each one is timed in its own block of repeats (a block lasts about a
  quarter of a second) after an untimed warm-up call, with a short pause
  between blocks so the other library's BLAS threads stop spinning. A group is
  one block per implementation of a case and mode (PyTorch, clearconv's
  automatic choice, then clearconv's other algorithms); the order reverses from
  round to round, so the main clearconv block always sits next to PyTorch's.
- Several rounds of groups run in the same process; the table reports the
  median over rounds. The ratio is the median over rounds of
  (clearconv block / PyTorch block of the same round), which cancels the slow
  drifts of a noisy machine better than a ratio of two medians.
- Each block records how much CPU other processes used meanwhile (/proc/stat).
  A contended group is measured again (a few times, early in the run); the
  medians use only quiet rounds, and a row with none is reported as
  inconclusive. See docs/performance.md.
- Before timing, each clearconv row is checked against PyTorch (output, input
  gradient, every weight gradient): max |diff| / max |torch| at most 1e-4, or
  1e-3 for "winograd" (F(4x4, 3x3) in float32 is less exact). A mismatch makes
  the exit status 1, and so does an algorithm that ``supports`` a case but
  raises when run (its row then shows the error instead of timings).

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
PARITY_TOLERANCES = {"winograd": 1e-3}  # per algorithm, where float32 rounding is known to be larger
SKIPPED_ALGORITHMS = ("direct",)        # never timed: the textbook loops are far too slow
BUSY_CORES = 0.15         # other processes using more CPU than this during a block: measure it again
BLOCK_LIMIT = 1.0         # a block stops early past this (a busy machine would otherwise stretch it)
MAX_ATTEMPTS = 3          # per group of blocks (one per implementation) of a round
RETRY_PAUSE = 0.5         # seconds to wait before measuring a contended group again
RETRY_DEADLINE = 150.0    # seconds into the run after which contended groups are kept as they are
GEMM_SIZE = 2048          # the peak: (GEMM_SIZE, GEMM_SIZE) @ (GEMM_SIZE, GEMM_SIZE), float32
GEMM_CALLS = 7            # median over this many quiet calls
MEMORY_TARGET = 2.0       # peak / floor
ZOO_BATCH = 256           # images per predict call
FOLD_TOLERANCE = 1e-4     # folded vs as-built predictions, relative to the largest

# DESIGN.md "Benchmarks" (lenet-epoch is timed apart), then the zoo inference rows.
CASE_NAMES = ("lenet-conv1", "lenet-conv2", "vgg-3x3", "deep-3x3", "pointwise", "strided", "conv1d",
              "transposed", "maxpool", "lenet-epoch")
ZOO_NAMES = ("small_vgg", "small_resnet")
ALL_NAMES = CASE_NAMES + ZOO_NAMES
EPOCH_CASE = "lenet-epoch"
EPOCHS = 3                # lenet-epoch: epochs per library (30 turns each, a median of 30 ratios)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="clearconv vs PyTorch timings on the DESIGN.md standard cases.")
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS,
                        help=f"rounds of timed blocks per case and mode (default {DEFAULT_ROUNDS})")
    parser.add_argument("--cases", default=",".join(ALL_NAMES),
                        help="comma-separated case names (default: all): " + ", ".join(ALL_NAMES))
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS,
                        help=f"threads for both NumPy's BLAS and PyTorch (default {DEFAULT_THREADS})")
    parser.add_argument("--json", metavar="PATH", default=None,
                        help="also write every block time (seconds per call) and every figure to this JSON file")
    parser.add_argument("--skip-epoch", action="store_true",
                        help=f"leave out {EPOCH_CASE} (the longest case: one training epoch per library)")
    parser.add_argument("--skip-zoo", action="store_true",
                        help="leave out the zoo inference rows (" + ", ".join(ZOO_NAMES) + ")")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error(f"--rounds must be a positive integer; received {args.rounds}")
    if args.threads < 1:
        parser.error(f"--threads must be a positive integer; received {args.threads}")
    cases = [name.strip() for name in args.cases.split(",") if name.strip()]
    unknown = [name for name in cases if name not in ALL_NAMES]
    if unknown or not cases:
        parser.error(f"--cases: unknown case(s) {unknown or args.cases!r}; accepted: {', '.join(ALL_NAMES)}")
    if args.skip_epoch:
        cases = [name for name in cases if name != EPOCH_CASE]
    if args.skip_zoo:
        cases = [name for name in cases if name not in ZOO_NAMES]
    if not cases:
        parser.error("nothing left to run after --skip-epoch / --skip-zoo")
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
import tracemalloc  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Callable  # noqa: E402

import numpy as np  # noqa: E402

# Time the checkout this script belongs to (the same code as an editable install), not some other copy.
_HERE = os.path.dirname(os.path.abspath(__file__))
_SOURCE = os.path.join(os.path.dirname(_HERE), "src")
if os.path.isdir(os.path.join(_SOURCE, "clearconv")):
    sys.path.insert(0, _SOURCE)
if _HERE not in sys.path:                                            # lenet_epoch.py, next to this file
    sys.path.insert(0, _HERE)
import clearconv  # noqa: E402
from clearconv import Tensor, utils, zoo  # noqa: E402
from clearconv import layers as cc_layers  # noqa: E402
from clearconv.kernels import conv as conv_ops  # noqa: E402

try:
    import torch  # noqa: E402
    import torch.nn.functional as torch_functional  # noqa: E402
except ImportError:  # pragma: no cover - the bench extra installs it
    sys.exit("benchmarks/run.py needs PyTorch (pip install 'clearconv[bench]', torch==2.13.0 CPU)")

import lenet_epoch  # noqa: E402  (after torch: it imports it)


# --------------------------------------------------------------------------- the cases

@dataclass
class Case:
    """One benchmark case: a clearconv layer and the equivalent PyTorch computation."""

    name: str
    description: str
    input_shape: tuple                 # channels_last
    make_clearconv: Callable           # (**options) -> clearconv layer; options: algorithm= for kind "conv"
    make_torch: Callable               # (clearconv layer) -> (torch module, forward(x) -> y)
    is_2d: bool                        # counts for the 2D target
    is_conv: bool                      # counts for the median over conv cases
    kind: str = "conv"                 # "conv" (through the dispatcher), "transposed" or "pool"
    layer: object = None
    extra: dict = field(default_factory=dict)


@dataclass
class ZooCase:
    """Inference of a zoo model, as built and with its BatchNormalization folded."""

    name: str
    make_model: Callable
    extra: dict = field(default_factory=dict)

    @property
    def description(self) -> str:
        return f"zoo.{self.name}, predict on a batch of {ZOO_BATCH}"


def _to_torch_layout(array: np.ndarray) -> np.ndarray:
    """channels_last (N, *S, C) -> channels_first (N, C, *S), contiguous."""
    return np.ascontiguousarray(np.moveaxis(array, -1, 1))


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
             lambda **o: L.Conv2D(6, 5, **o), _torch_conv(torch.nn.Conv2d, 2), True, True),
        Case("lenet-conv2", "N=64, 12x12x6, Conv2D 16, 5x5, valid", (64, 12, 12, 6),
             lambda **o: L.Conv2D(16, 5, **o), _torch_conv(torch.nn.Conv2d, 2), True, True),
        Case("vgg-3x3", "N=8, 56x56x64, Conv2D 64, 3x3, same", (8, 56, 56, 64),
             lambda **o: L.Conv2D(64, 3, padding="same", **o), _torch_conv(torch.nn.Conv2d, 2, padding=1),
             True, True),
        Case("deep-3x3", "N=16, 28x28x128, Conv2D 128, 3x3, same", (16, 28, 28, 128),
             lambda **o: L.Conv2D(128, 3, padding="same", **o), _torch_conv(torch.nn.Conv2d, 2, padding=1),
             True, True),
        Case("pointwise", "N=16, 14x14x256, Conv2D 64, 1x1", (16, 14, 14, 256),
             lambda **o: L.Conv2D(64, 1, **o), _torch_conv(torch.nn.Conv2d, 2), True, True),
        # Keras 'same', k3 s2 on 56: output 28, total pad (28-1)*2+3-56 = 1 -> (0 before, 1 after).
        # torch padding=1 would pad (1, 1) and read other cells, so pad explicitly (counted in torch's time).
        Case("strided", "N=16, 56x56x64, Conv2D 128, 3x3, stride 2, same", (16, 56, 56, 64),
             lambda **o: L.Conv2D(128, 3, strides=2, padding="same", **o),
             _torch_conv(torch.nn.Conv2d, 2, torch_pads=(0, 1, 0, 1), stride=2), True, True),
        Case("conv1d", "N=32, 1024x16, Conv1D 32, 9, same", (32, 1024, 16),
             lambda **o: L.Conv1D(32, 9, padding="same", **o), _torch_conv(torch.nn.Conv1d, 1, padding=4),
             False, False),
        Case("transposed", "N=16, 14x14x64, Conv2DTranspose 32, 2x2, stride 2", (16, 14, 14, 64),
             lambda: L.Conv2DTranspose(32, 2, strides=2), _torch_conv_transpose, True, True, kind="transposed"),
        Case("maxpool", "N=64, 28x28x32, MaxPooling2D 2x2", (64, 28, 28, 32),
             lambda: L.MaxPooling2D((2, 2)), _torch_maxpool, True, False, kind="pool"),
    ]
    return {case.name: case for case in cases}


def zoo_cases() -> dict[str, ZooCase]:
    return {name: ZooCase(name, getattr(zoo, name)) for name in ZOO_NAMES}


# --------------------------------------------------------------------------- algorithms, FLOPs, memory floor

MAIN = "clearconv"                   # implementation key of a case's main row (the automatic choice)


def variant_key(algorithm: str) -> str:
    """Implementation key (and row suffix) of a clearconv row forced to ``algorithm``."""
    return f"{MAIN}[{algorithm}]"


def automatic_algorithm(layer, x_shape) -> str:
    """The algorithm the dispatcher runs for this layer (its ``algorithm``, the default, or "auto"'s pick)."""
    return layer.algorithm_for(x_shape)


def other_algorithms(layer, main: str) -> list[str]:
    """Every algorithm of ALGORITHMS that supports the layer, except ``main`` and SKIPPED_ALGORITHMS."""
    return [name for name in conv_ops.ALGORITHMS
            if name != main and name not in SKIPPED_ALGORITHMS
            and conv_ops.supports(name, layer.kernel.shape, layer.strides, layer.dilation_rate, layer.groups)]


def tolerance(algorithm) -> float:
    return PARITY_TOLERANCES.get(algorithm, PARITY_TOLERANCE)


def forward_macs(case: Case, x_shape, y_shape) -> float | None:
    """Multiply-adds of the direct definition (see the module docstring); None for pooling."""
    if case.kind == "conv":                                          # kernel (*k, C_in / groups, F)
        return float(np.prod(y_shape[:-1], dtype=np.float64) * np.prod(case.layer.kernel.shape, dtype=np.float64))
    if case.kind == "transposed":                                    # kernel (*k, F, C_in)
        return float(np.prod(x_shape[:-1], dtype=np.float64) * np.prod(case.layer.kernel.shape, dtype=np.float64))
    return None


def _chunk_bytes(batch: int, bytes_per_sample: int) -> int:
    """One batch chunk's column buffer: as many samples as fit under the limit, at least one."""
    samples = min(batch, conv_ops.chunk_samples(bytes_per_sample))
    return samples * bytes_per_sample


def memory_floor(case: Case, x: np.ndarray, y_shape) -> dict:
    """input + output + kernel + one chunk's column buffer, in bytes (see the module docstring)."""
    itemsize = x.dtype.itemsize
    output = int(np.prod(y_shape)) * itemsize
    kernel, columns = 0, 0
    if case.kind in ("conv", "transposed"):
        kernel_shape = case.layer.kernel.shape
        kernel = int(np.prod(kernel_shape)) * itemsize
        taps = int(np.prod(kernel_shape[:-2]))
        if case.kind == "conv":                                      # prod(out) * prod(k) * C_in per sample
            per_sample = int(np.prod(y_shape[1:-1])) * taps * x.shape[-1] * itemsize
        else:                                                        # its backward's im2col: prod(in) * prod(k) * F
            per_sample = int(np.prod(x.shape[1:-1])) * taps * y_shape[-1] * itemsize
        columns = _chunk_bytes(x.shape[0], per_sample)
    parts = {"input": x.nbytes, "output": output, "kernel": kernel, "columns": columns}
    parts["floor"] = sum(parts.values())
    return parts


def peak_bytes(function: Callable) -> int:
    """tracemalloc's peak over one call of ``function``, counting what the call allocates (untimed)."""
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        function()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


# --------------------------------------------------------------------------- the callables timed

def _clearconv_callables(layer, x: np.ndarray, grad: np.ndarray):
    """(forward, forward+backward) of a clearconv layer on fixed data; gradients cleared after each call."""
    cc_input = Tensor(x, requires_grad=True)
    weights = layer.weights

    def forward():
        return layer(x)

    def forward_backward():
        out = layer(cc_input)
        out.backward(grad)
        cc_input.grad = None
        for weight in weights:
            weight.grad = None

    return forward, forward_backward


def prepare(case: Case, rng: np.random.Generator) -> dict[tuple, Callable]:
    """Build both sides of a case with the same weights and data; check parity; return the timed callables.

    Keys are (mode, implementation): "torch", "clearconv" (the automatic choice) and, for conv cases,
    ``variant_key(algorithm)`` for every other supported algorithm.
    """
    layer = case.make_clearconv()
    x = rng.standard_normal(case.input_shape, dtype=np.float32)
    y = layer(x)                                                     # builds the layer
    layer.set_weights([rng.standard_normal(w.shape, dtype=np.float32) * np.float32(0.1) for w in layer.weights])
    grad = rng.standard_normal(y.shape, dtype=np.float32)
    case.layer = layer
    main = automatic_algorithm(layer, x.shape) if case.kind == "conv" else None
    layers = {MAIN: layer}
    algorithms = {MAIN: main}
    module, torch_call = case.make_torch(layer)
    reference = _torch_reference(x, grad, torch_call, module)
    parity = {MAIN: _parity(layer, x, grad, reference)}
    failed = {}
    for algorithm in (other_algorithms(layer, main) if case.kind == "conv" else []):
        key = variant_key(algorithm)
        try:                                                         # one algorithm's bug must not stop the run
            variant = case.make_clearconv(algorithm=algorithm)
            variant(x)
            variant.set_weights(layer.get_weights())
            parity[key] = _parity(variant, x, grad, reference)
        except Exception as error:                                  # noqa: BLE001 - reported, exit status 1
            failed[f"{case.name} [{algorithm}]"] = f"FAILED: {type(error).__name__}: {error}"
            continue
        layers[key] = variant
        algorithms[key] = algorithm
    macs = forward_macs(case, x.shape, y.shape)
    case.extra.update(output_shape=y.shape, algorithms=algorithms, macs=macs, floor=memory_floor(case, x, y.shape),
                      parity=parity, failed=failed)

    callables = {}
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

    callables["forward", "torch"], callables["forward+backward", "torch"] = torch_forward, torch_forward_backward
    for key, variant in layers.items():
        callables["forward", key], callables["forward+backward", key] = _clearconv_callables(variant, x, grad)
    return callables


def _relative_error(ours: np.ndarray, theirs: np.ndarray) -> float:
    if ours.shape != theirs.shape:
        return float("inf")
    scale = float(np.max(np.abs(theirs))) or 1.0
    return float(np.max(np.abs(ours.astype(np.float64) - theirs.astype(np.float64)))) / scale


def _torch_reference(x, grad, torch_call, module) -> list[np.ndarray]:
    """PyTorch's output, input gradient and weight gradients, in clearconv's layouts."""
    torch_x = torch.from_numpy(_to_torch_layout(x)).requires_grad_(True)
    torch_out = torch_call(torch_x)
    torch_out.backward(torch.from_numpy(_to_torch_layout(grad)))
    arrays = [np.moveaxis(torch_out.detach().numpy(), 1, -1), np.moveaxis(torch_x.grad.numpy(), 1, -1)]
    rank = x.ndim - 2
    for parameter in module.parameters():
        theirs = parameter.grad.numpy().copy()
        if theirs.ndim == rank + 2:                                  # (A, B, *k) -> Keras (*k, B, A)
            theirs = theirs.transpose(*range(2, rank + 2), 1, 0)
        arrays.append(theirs)
        parameter.grad = None
    return arrays


def _parity(layer, x, grad, reference) -> float:
    """Worst relative error over output, input gradient and weight gradients (a sanity check of the twins)."""
    cc_input = Tensor(x, requires_grad=True)
    out = layer(cc_input)
    out.backward(grad)
    ours = [out.data, cc_input.grad] + [weight.grad for weight in layer.weights]
    errors = [_relative_error(a, b) for a, b in zip(ours, reference)]
    if len(ours) != len(reference):
        errors.append(float("inf"))
    for weight in layer.weights:
        weight.grad = None
    return max(errors)


def _randomize_batchnorm(model, rng: np.random.Generator) -> None:
    """Non-trivial BatchNormalization parameters and statistics, so folding them changes the kernels."""
    for layer in model.layers:
        if isinstance(layer, cc_layers.BatchNormalization):
            values = []
            for weight in layer.weights:
                role = weight.name.rsplit("/", 1)[-1]
                if role in ("gamma", "moving_variance"):
                    values.append(rng.uniform(0.5, 1.5, weight.shape).astype(np.float32))
                else:
                    values.append((rng.standard_normal(weight.shape) * 0.1).astype(np.float32))
            layer.set_weights(values)


def prepare_zoo(case: ZooCase, rng: np.random.Generator) -> dict[tuple, Callable]:
    """A zoo model (random weights) as built and folded, on one fixed random batch."""
    utils.set_seed(0)
    model = case.make_model()
    _randomize_batchnorm(model, rng)
    input_shape = tuple(model.inputs[0].shape[1:])
    x = rng.random((ZOO_BATCH, *input_shape), dtype=np.float32)
    folded = model.fold_batchnorm()
    built_output = model.predict(x, batch_size=ZOO_BATCH, verbose=0)
    folded_output = folded.predict(x, batch_size=ZOO_BATCH, verbose=0)
    case.extra.update(input_shape=input_shape, fold_error=_relative_error(folded_output, built_output))
    return {("predict", "built"): lambda: model.predict(x, batch_size=ZOO_BATCH, verbose=0),
            ("predict", "folded"): lambda: folded.predict(x, batch_size=ZOO_BATCH, verbose=0)}


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


def gemm_peak(rng: np.random.Generator, size: int = GEMM_SIZE, calls: int = GEMM_CALLS) -> dict:
    """NumPy float32 (size, size) @ (size, size): median GFLOP/s over ``calls`` quiet calls.

    A call during which other processes used more than BUSY_CORES is measured again (at most
    3 * ``calls`` calls in all); if too few stay quiet, the median is over every call.
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
        load = CpuMeter.cores(before, METER.read())
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


@dataclass
class Measurements:
    seconds: dict        # {case: {(mode, implementation): [seconds per call, one per round]}}
    contention: dict     # {case: {(mode, implementation): [cores used by others, one per round]}}
    repeats: dict = field(default_factory=dict)   # {(case, (mode, implementation)): calls per block}
    retries: int = 0


def warm_up(name: str, callables: dict, found: Measurements) -> None:
    """Untimed calls (allocator, caches, threads), then the calls per block of each implementation."""
    found.seconds[name] = {key: [] for key in callables}
    found.contention[name] = {key: [] for key in callables}
    for key, function in callables.items():
        function()
        function()
        found.repeats[name, key] = max(1, min(MAX_REPEATS, round(BLOCK_SECONDS / _call_seconds(function))))
        time.sleep(PAUSE_SECONDS)


def _groups(callables: dict) -> dict[str, list]:
    """{mode: [implementations, in order]}."""
    groups = {}
    for mode, implementation in callables:
        groups.setdefault(mode, []).append(implementation)
    return groups


def run_rounds(units: dict, rounds: int, found: Measurements, run_start: float, log=print) -> None:
    """Time every unit (a case: {(mode, implementation): callable}) in ``rounds`` rounds of groups.

    A group is one block per implementation of a case and mode, in the order given (reversed on odd
    rounds). A group measured while other processes used more than ``BUSY_CORES`` of a core during
    any of its blocks is measured again, after a pause, up to ``MAX_ATTEMPTS`` times and while the run
    is younger than ``RETRY_DEADLINE`` seconds; what stays contended is reported.
    """
    for round_index in range(rounds):
        start = time.perf_counter()
        for name, callables in units.items():
            for mode, implementations in _groups(callables).items():
                order = implementations if round_index % 2 == 0 else implementations[::-1]
                for attempt in range(MAX_ATTEMPTS):
                    group = {}
                    for implementation in order:
                        key = (mode, implementation)
                        group[key] = time_block(callables[key], found.repeats[name, key])
                        time.sleep(PAUSE_SECONDS)
                    busy = max(cores for _, cores in group.values())
                    if (busy <= BUSY_CORES or attempt == MAX_ATTEMPTS - 1
                            or time.perf_counter() - run_start > RETRY_DEADLINE):
                        break
                    found.retries += 1
                    time.sleep(RETRY_PAUSE)
                for key, (seconds, cores) in group.items():
                    found.seconds[name][key].append(seconds)
                    found.contention[name][key].append(cores)
        log(f"  round {round_index + 1}/{rounds} done in {time.perf_counter() - start:.1f} s")


def run_epoch(log=print) -> dict:
    """lenet-epoch: EPOCHS epochs of each library, taking turns; the loader's message if the data is missing."""
    log(f"  {EPOCH_CASE}: {EPOCHS} epochs of each library, clearconv and PyTorch taking turns")
    gc.collect()
    before = METER.read()
    try:
        result = lenet_epoch.compare(EPOCHS)
    except FileNotFoundError as error:
        return {"error": str(error)}
    result["other_processes_cores"] = CpuMeter.cores(before, METER.read())
    return result


# --------------------------------------------------------------------------- report

MODES = ("forward", "forward+backward")


def _pairs(found: Measurements, name: str, mode: str, implementation: str, reference: str) -> list[tuple]:
    return list(zip(found.contention[name][mode, implementation], found.contention[name][mode, reference]))


def _quiet_rounds(found: Measurements, name: str, mode: str, implementation: str = MAIN,
                  reference: str = "torch") -> list[int]:
    """Rounds whose two blocks ran while other processes stayed under BUSY_CORES (all rounds if none did)."""
    pairs = _pairs(found, name, mode, implementation, reference)
    quiet = [index for index, pair in enumerate(pairs) if max(pair) <= BUSY_CORES]
    return quiet or list(range(len(pairs)))


def _had_quiet_round(found: Measurements, name: str, mode: str, implementation: str = MAIN,
                     reference: str = "torch") -> bool:
    return any(max(pair) <= BUSY_CORES for pair in _pairs(found, name, mode, implementation, reference))


def _paired(found: Measurements, name: str, mode: str, implementation: str, reference: str) -> dict:
    """Medians (ms) of both implementations and the median per-round ratio, over the quiet rounds."""
    used = _quiet_rounds(found, name, mode, implementation, reference)
    ours = [found.seconds[name][mode, implementation][i] for i in used]
    theirs = [found.seconds[name][mode, reference][i] for i in used]
    ratios = [a / b for a, b in zip(ours, theirs)]
    return {"clearconv_ms": 1e3 * statistics.median(ours), "torch_ms": 1e3 * statistics.median(theirs),
            "ratio": statistics.median(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios),
            "rounds_used": used, "quiet": _had_quiet_round(found, name, mode, implementation, reference)}


def summarize(case: Case, found: Measurements, peak_gflops: float) -> list[dict]:
    """One row per clearconv implementation of the case: timings, ratios, GFLOP/s, % of peak, memory."""
    rows = []
    floor = case.extra["floor"]["floor"]
    for implementation, algorithm in case.extra["algorithms"].items():
        row = {"case": case.name, "implementation": implementation, "algorithm": algorithm,
               "row": case.name if implementation == MAIN else f"{case.name} [{algorithm}]",
               "label": ("-" if algorithm is None else f"auto={algorithm}") if implementation == MAIN else algorithm,
               "parity": case.extra["parity"][implementation], "tolerance": tolerance(algorithm)}
        for mode, factor in zip(MODES, (1.0, 3.0)):
            row[mode] = _paired(found, case.name, mode, implementation, "torch")
            gflops = None
            if case.extra["macs"] is not None:
                gflops = factor * 2.0 * case.extra["macs"] / (row[mode]["clearconv_ms"] * 1e-3) / 1e9
            row[mode]["gflops"] = gflops
            row[mode]["percent_of_peak"] = None if gflops is None else 100.0 * gflops / peak_gflops
        peak = case.extra["peak_bytes"][implementation]
        row["memory"] = {"peak_bytes": peak, "floor_bytes": floor, "ratio": peak / floor,
                         "floor_parts": case.extra["floor"]}
        rows.append(row)
    return rows


def summarize_zoo(case: ZooCase, found: Measurements) -> dict:
    paired = _paired(found, case.name, "predict", "folded", "built")   # ratio = folded / built
    return {"model": case.name, "input_shape": case.extra["input_shape"], "batch": ZOO_BATCH,
            "built_ms": paired["torch_ms"], "folded_ms": paired["clearconv_ms"],
            "built_images_per_s": ZOO_BATCH / (paired["torch_ms"] * 1e-3),
            "folded_images_per_s": ZOO_BATCH / (paired["clearconv_ms"] * 1e-3),
            "speedup": 1.0 / paired["ratio"], "fold_error": case.extra["fold_error"],
            "quiet": paired["quiet"], "rounds_used": paired["rounds_used"]}


def contention_note(found: Measurements, rows: list[dict], zoo_rows: list[dict]) -> str:
    """Say how busy the machine was: the medians are only as good as the quiet rounds."""
    if not METER.available:
        return "machine load: not measured (no /proc/stat)"
    everything = [cores for case in found.contention.values() for values in case.values() for cores in values]
    if not everything:
        return "machine load: nothing timed"
    busy, dropped = [], []
    checks = [(row["row"], row["case"], mode, row["implementation"], "torch") for row in rows for mode in MODES]
    checks += [(f"{row['model']} folded/built", row["model"], "predict", "folded", "built") for row in zoo_rows]
    for label, name, mode, implementation, reference in checks:
        pairs = _pairs(found, name, mode, implementation, reference)
        count = sum(max(pair) > BUSY_CORES for pair in pairs)
        if count == len(pairs):
            busy.append(f"{label} {mode} (all {count} rounds: medians over contended rounds)")
        elif count:
            dropped.append(f"{label} {mode} {count}/{len(pairs)}")
    line = (f"machine load: other processes used {statistics.median(everything):.2f} cores (median over blocks, "
            f"max {max(everything):.2f}); {found.retries} contended group(s) of blocks measured again")
    if dropped:
        line += ("\n  rounds left out of the medians (still contended, > "
                 f"{BUSY_CORES} core used by others): " + ", ".join(dropped))
    if busy:
        line += ("\n  NO quiet round, less trustworthy (rerun on a quiet machine): " + ", ".join(busy))
    return line


def _render(header: tuple, lines: list[tuple]) -> str:
    """A Markdown table: first two columns left-aligned, the others right-aligned.

    A line of two cells (name, text) is a free-text row: the text runs past the column bars.
    """
    full = [line for line in lines if len(line) == len(header)]
    widths = [max(len(header[i]), *(len(line[i]) for line in full)) if full else len(header[i])
              for i in range(len(header))]
    widths[0] = max([widths[0]] + [len(line[0]) for line in lines])
    out = ["| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |",
           "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    for line in lines:
        if len(line) != len(header):
            out.append(f"| {line[0].ljust(widths[0])} | {line[1]}")
            continue
        cells = [cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w) in enumerate(zip(line, widths))]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def _gflops_cell(stats: dict) -> str:
    if stats["gflops"] is None:
        return "-"
    return f"{stats['gflops']:.1f} ({stats['percent_of_peak']:.0f}%)"


def _mib(nbytes: float) -> str:
    return f"{nbytes / 2**20:.1f}"


def format_table(entries: list) -> str:
    """The main table; ``entries`` are row dicts (see :func:`summarize`) or (name, text) free-text rows."""
    header = ("case", "algorithm", "fwd clearconv ms", "fwd torch ms", "ratio", "fwd GFLOP/s (% peak)",
              "fwd+bwd clearconv ms", "fwd+bwd torch ms", "ratio", "fwd+bwd GFLOP/s (% peak)",
              "peak MiB", "floor MiB", "peak/floor")
    lines = []
    for row in entries:
        if isinstance(row, tuple):
            lines.append(row)
            continue
        forward, both, memory = row["forward"], row["forward+backward"], row["memory"]
        mark = "" if row["parity"] <= row["tolerance"] else " !"     # parity mismatch: see below the table
        lines.append((row["row"] + mark, row["label"], f"{forward['clearconv_ms']:.3f}", f"{forward['torch_ms']:.3f}",
                      f"{forward['ratio']:.2f}x", _gflops_cell(forward), f"{both['clearconv_ms']:.3f}",
                      f"{both['torch_ms']:.3f}", f"{both['ratio']:.2f}x", _gflops_cell(both),
                      _mib(memory["peak_bytes"]), _mib(memory["floor_bytes"]), f"{memory['ratio']:.2f}x"))
    return _render(header, lines)


def epoch_text(result: dict) -> str:
    if "error" in result:
        return result["error"]
    load = result["other_processes_cores"]
    busy = ", CONTENDED: rerun on a quiet machine" if load > BUSY_CORES else ""
    ratio = result["ratio"]
    return (f"{EPOCHS} epochs each, taking turns ({result['images']} images, batch {result['batch_size']}, Adam): "
            f"median clearconv {statistics.median(result['clearconv_seconds']):.2f} s, "
            f"torch {statistics.median(result['torch_seconds']):.2f} s; median of the per-turn ratios "
            f"{ratio:.2f}x (per turn {min(result['turn_ratios']):.2f}-{max(result['turn_ratios']):.2f}, per epoch "
            f"{', '.join(f'{r:.2f}' for r in result['ratios'])}; target <= {EPOCH_TARGET:g}x: "
            f"{'PASS' if ratio <= EPOCH_TARGET else 'FAIL'}); test accuracy clearconv "
            f"{result['clearconv_accuracy']:.4f}, torch {result['torch_accuracy']:.4f} "
            f"(other processes used {load:.2f} cores{busy})")


def format_zoo_table(zoo_rows: list[dict]) -> str:
    header = ("model", "input", "as built ms/batch", "as built img/s", "folded ms/batch", "folded img/s",
              "speed-up", "folded vs built")
    lines = [(row["model"], f"{ZOO_BATCH}x" + "x".join(str(n) for n in row["input_shape"]),
              f"{row['built_ms']:.1f}", f"{row['built_images_per_s']:.0f}", f"{row['folded_ms']:.1f}",
              f"{row['folded_images_per_s']:.0f}", f"{row['speedup']:.2f}x", f"{row['fold_error']:.1e}")
             for row in zoo_rows]
    return _render(header, lines)


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


# The performance targets: (description, case names or "2d", mode, limit on the ratio clearconv / PyTorch).
TARGETS = (
    ("no 2D case above 2x, forward+backward", "2d", "forward+backward", 2.0),
    ("conv1d and transposed at most 1.5x, forward+backward", ("conv1d", "transposed"), "forward+backward", 1.5),
    ("3x3 stride-1 forward at most 1.3x", ("vgg-3x3", "deep-3x3"), "forward", 1.3),
    ("pointwise and maxpool at most 1.0x, forward+backward", ("pointwise", "maxpool"), "forward+backward", 1.0),
)
MEDIAN_TARGET = 1.3       # forward+backward, median over the 2D conv cases
EPOCH_TARGET = 1.2        # LeNet-5 training epoch


def _verdict(failed: list, quiet: dict) -> str:
    """PASS / FAIL, or INCONCLUSIVE when a case that decides it had no quiet round."""
    if any(quiet[name] for name in failed):
        return "FAIL"
    if all(quiet.values()):
        return "FAIL" if failed else "PASS"
    return "INCONCLUSIVE (some cases had no quiet round: rerun on a quiet machine)"


def _print_checks(cases: list[Case], rows: list[dict]) -> None:
    """Median ratios, every target of TARGETS and the memory target, over the main rows."""
    main = {row["case"]: row for row in rows if row["implementation"] == MAIN}
    conv_2d = [case for case in cases if case.is_conv]
    if conv_2d:
        for mode in MODES:
            median = statistics.median(main[case.name][mode]["ratio"] for case in conv_2d)
            verdict = "" if mode != "forward+backward" else \
                f"; target <= {MEDIAN_TARGET:g}x: {'PASS' if median <= MEDIAN_TARGET else 'FAIL'}"
            print(f"median ratio over the 2D conv cases ({len(conv_2d)}: "
                  f"{', '.join(case.name for case in conv_2d)}), {mode}: {median:.2f}x{verdict}")
    for description, names, mode, limit in TARGETS:
        checked = [case for case in cases if (case.is_2d if names == "2d" else case.name in names)]
        if not checked:
            continue
        quiet = {case.name: main[case.name][mode]["quiet"] for case in checked}
        failed = [case.name for case in checked if main[case.name][mode]["ratio"] > limit]
        print(f"check, target \"{description}\": {_verdict(failed, quiet)}")
        for case in checked:
            result = main[case.name][mode]
            note = "" if quiet[case.name] else ", no quiet round: inconclusive"
            print(f"  {case.name} {mode}: {result['ratio']:.2f}x {'PASS' if result['ratio'] <= limit else 'FAIL'} "
                  f"(per-round ratios {result['ratio_min']:.2f}-{result['ratio_max']:.2f}{note})")
    if rows:
        over = [row for row in rows if row["memory"]["ratio"] > MEMORY_TARGET]
        verdict = "FAIL" if any(row["implementation"] == MAIN for row in over) else "PASS"
        print(f"check, target \"forward+backward peak memory <= {MEMORY_TARGET:g}x the floor\" (main rows; "
              f"column buffer limit {_mib(conv_ops.column_buffer_limit())} MiB): {verdict}")
        if over:
            print("  over the target: " + ", ".join(f"{row['row']} {row['memory']['ratio']:.2f}x" for row in over))


def main(args) -> int:
    torch.set_num_threads(args.threads)
    all_cases, all_zoo = standard_cases(), zoo_cases()
    cases = [all_cases[name] for name in args.cases if name in all_cases]
    zoo_models = [all_zoo[name] for name in args.cases if name in all_zoo]
    print("clearconv vs PyTorch, float32, one process")
    print(machine_description(args.threads))
    start = time.perf_counter()
    # The epoch runs first, in a process that has not yet held the other cases' large arrays, as in a
    # training process: run after them, the clearconv epoch once took 11.9 s against 8.5 s when run first.
    epoch = run_epoch() if EPOCH_CASE in args.cases else None
    rng = np.random.default_rng(20240601)
    peak = gemm_peak(rng)
    print(f"GEMM peak (NumPy float32 {GEMM_SIZE}x{GEMM_SIZE} @ {GEMM_SIZE}x{GEMM_SIZE}, median of "
          f"{GEMM_CALLS} calls{'' if peak['quiet'] else ', CONTENDED'}): {peak['gflops']:.1f} GFLOP/s")
    print(f"rounds: {args.rounds}, block ~{BLOCK_SECONDS} s per implementation, case and mode; times = median over "
          "quiet rounds; ratio = clearconv/PyTorch, median over quiet rounds of the per-round ratio; "
          "algorithms: " + ", ".join(conv_ops.ALGORITHMS) + f" (not timed: {', '.join(SKIPPED_ALGORITHMS)})")

    found = Measurements({}, {})
    units = {}
    for case in cases:
        units[case.name] = prepare(case, rng)
        warm_up(case.name, units[case.name], found)
        case.extra["peak_bytes"] = {implementation: peak_bytes(units[case.name]["forward+backward", implementation])
                                    for implementation in case.extra["algorithms"]}
        print(f"  warmed up {case.name} ({case.description}): calls per block "
              + "; ".join(f"{mode} " + ", ".join(f"{impl} {found.repeats[case.name, (m, impl)]}"
                                                  for m, impl in units[case.name] if m == mode)
                          for mode in MODES), flush=True)
    for model in zoo_models:
        units[model.name] = prepare_zoo(model, rng)
        warm_up(model.name, units[model.name], found)
        print(f"  warmed up {model.name} ({model.description}): calls per block "
              + ", ".join(f"{impl} {found.repeats[model.name, (mode, impl)]}" for mode, impl in units[model.name]),
              flush=True)
    run_rounds(units, args.rounds, found, start)

    entries = []                                                     # each case's rows, then its failed ones
    for case in cases:
        entries += summarize(case, found, peak["gflops"]) + list(case.extra["failed"].items())
    rows = [entry for entry in entries if isinstance(entry, dict)]
    failed = dict(entry for entry in entries if isinstance(entry, tuple))
    zoo_rows = [summarize_zoo(model, found) for model in zoo_models]
    print()
    print(format_table(entries + ([] if epoch is None else [(EPOCH_CASE, epoch_text(epoch))])))
    if zoo_rows:
        print(f"\nzoo inference (predict, one batch of {ZOO_BATCH} random inputs; speed-up = as built / folded, "
              "median over quiet rounds of the per-round ratio; folded vs built = max |diff| / max |as built|):")
        print(format_zoo_table(zoo_rows))
    print()
    print(contention_note(found, rows, zoo_rows))
    bad_parity = {row["row"]: (row["parity"], row["tolerance"]) for row in rows
                  if not row["parity"] <= row["tolerance"]}
    if bad_parity:
        print("PARITY MISMATCH (the two sides do not compute the same thing; their ratio means nothing), rows "
              "marked '!': " + ", ".join(f"{name} {error:.2e} > {limit:g}" for name, (error, limit)
                                         in bad_parity.items()))
    elif rows:
        by_algorithm = {}
        for row in rows:
            label = row["algorithm"] or row["case"]
            by_algorithm[label] = max(by_algorithm.get(label, 0.0), row["parity"])
        print("parity: outputs and all gradients agree with PyTorch on every row timed; worst relative error "
              + ", ".join(f"{label} {error:.1e} (<= {tolerance(label):g})" for label, error in by_algorithm.items()))
    if failed:
        print("ALGORITHM FAILED (it supports the case but raised; see its row): " + ", ".join(failed))
    bad_fold = {row["model"]: row["fold_error"] for row in zoo_rows if not row["fold_error"] <= FOLD_TOLERANCE}
    if bad_fold:
        print("FOLD MISMATCH (folded and as-built predictions differ): "
              + ", ".join(f"{name} {error:.2e} > {FOLD_TOLERANCE:g}" for name, error in bad_fold.items()))
    _print_checks(cases, rows)
    print(f"\ntotal {time.perf_counter() - start:.0f} s")
    if args.json:
        payload = {"machine": machine_description(args.threads), "rounds": args.rounds, "gemm_peak": peak,
                   "column_buffer_limit": conv_ops.column_buffer_limit(),
                   "rows": rows, "failed_rows": failed, "zoo": zoo_rows, "lenet_epoch": epoch,
                   "seconds_per_call": {name: {f"{mode}/{impl}": values for (mode, impl), values in table.items()}
                                        for name, table in found.seconds.items()},
                   "other_processes_cores": {name: {f"{mode}/{impl}": values for (mode, impl), values
                                                    in table.items()} for name, table in found.contention.items()}}
        with open(args.json, "w") as handle:
            json.dump(payload, handle, indent=2, default=str)
    return 1 if bad_parity or bad_fold or failed else 0


if __name__ == "__main__":
    sys.exit(main(ARGS))
