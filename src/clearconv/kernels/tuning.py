"""Every speed threshold of the convolution kernels, with where it was measured.

These numbers only choose between ways of computing the same result (a
faster path, a chunk size, an algorithm); none changes what is computed
beyond float rounding. They were measured on one machine and are kept here,
in one place, so that another machine can re-derive them:

    python benchmarks/tuning.py                    # every threshold
    python benchmarks/tuning.py --only col2im_channels --threads 2 --rounds 11

prints, for each threshold, the timings of both sides at shapes around it
and the crossover it measured; copy the crossovers here.

The machine (:data:`MEASURED_ON`): a 2-vCPU VM, /proc/cpuinfo "AMD EPYC" at
2.6 GHz, 64 KiB L1d and 1 MiB L2 per core, 32 MiB L3; NumPy 2.4 with
OpenBLAS 0.3.31 (scipy-openblas), numba, float32. "2026-12" marks the values
re-derived on 2026-12-07 with ``benchmarks/tuning.py --threads 1 --rounds 7``
(and ``--rounds 11`` for a second run of the close ones): the machine was
shared with other work then (load average 7 to 8 on 2 cores), so both sides
ran interleaved in one process and medians were taken, and a special path
was kept only where it gained clearly, 15% or more, in both runs. Values
without that mark are older measurements (2 BLAS threads, a quiet machine)
that the 2026-12 runs did not contradict.

Each module imports the names it uses from here (``from ..tuning import
...``), so a test or the benchmark can monkeypatch the module's own name.
"""

from __future__ import annotations

MEASURED_ON = ("2-vCPU AMD EPYC VM (1 MiB L2/core, 32 MiB L3), OpenBLAS 0.3.31; "
               "2026-12 values: 1 BLAS thread, shared machine")

# --------------------------------------------------------------------------- the dispatcher's choice
# "auto" takes Winograd F(2x2, 3x3) for a 2D 3x3 stride-1 layer with at least this many input
# channels and filters, whether or not a backward follows. 2026-12 (`--only winograd_min_channels`,
# 8x32x32 and 16x14x14 maps): against im2col, forward 61-82% and forward+backward 37-71% faster from
# 16 channels up; at 8, +28..68% forward but -13..+62% forward+backward; at 4 it lost (to -241%).
# F(4x4, 3x3) was -18..+45% against F(2x2, 3x3), so "auto" loses little by keeping the tile whose
# float32 error stays under 1e-5 (clearconv.kernels.conv.choice).
WINOGRAD_MIN_CHANNELS = 16

# --------------------------------------------------------------------------- the conv output pass
# Below this many filters the bias is added along whole output rows (np.tile of the bias) instead
# of NumPy's broadcast over F values at a time. 2026-12 (`--only bias_rows`, (64, 24, 24, F)):
# F = 6 74%, 16 58%, 32 20%, 64 17%, 128 3% faster.
BIAS_ROWS_MAX_FILTERS = 64

# --------------------------------------------------------------------------- im2col
# Row blocking (im2col.row_blocking): b outputs of a row per column row while b*F stays at most
# ROW_BLOCK_MAX_WIDTH, F at most ROW_BLOCK_MAX_FILTERS, and the widened kernel row spans at most
# ROW_BLOCK_MAX_SPAN times the kernel row's extent. 2026-12 (`--only row_blocking`, forward+backward,
# (64, 12, 12, 6) 5x5 and (32, 16, 16, 8) 3x3): F = 4 43-61%, 8 29-57%, 16 20-33% faster; F = 24
# (b*F = 48) -14% and -4%, F = 32 and 48 (no block fits 48) -15..+8% when forced. Older: LeNet's
# conv1 input gradient (F = 6, b = 4) 1.57 -> 0.52 ms.
ROW_BLOCK_MAX_WIDTH = 48
ROW_BLOCK_MAX_FILTERS = 16
ROW_BLOCK_MAX_SPAN = 2

# A one-channel forward (conv/im2col.py, the tap-major gather) gathers and multiplies its columns
# this many bytes of them at a time, so that each chunk is still in cache for its GEMM. Older, quiet
# machine, 2 threads: LeNet's conv1 forward 0.74 -> 0.65 ms; chunks of 8 to 32 images measured alike.
TAP_MAJOR_CHUNK_BYTES = 2**20

# A kernel gradient of at most SMALL_KERNEL_GRAD entries (K*Cg x F//G) sums its GEMM over blocks of
# REDUCTION_BLOCK rows: OpenBLAS runs such thin products over a long reduction slower in one call.
# 2026-12 (`--only reduction_block`, 50,176 rows): 150 entries 54%, 216 49-73%, 400 14%, 576 6%,
# 900 4% faster.
SMALL_KERNEL_GRAD = 224
REDUCTION_BLOCK = 4096

# The input gradient (col2im) takes every tap's contribution from ONE GEMM where a group has at
# most COL2IM_ONE_GEMM_MAX_CHANNELS channels at stride 1, or ..._STRIDED at a larger stride, and
# one GEMM per tap otherwise. Chosen by shape alone, so that the compiled scatter
# (conv/im2col_compiled.py) and NumPy's slice-adds add the same GEMM values in the same order:
# CLEARCONV_COMPILED=0 and =1 give equal input gradients. 2026-12 (`--only col2im_channels`,
# (32, 16, 16, C) 3x3 -> 32, two runs), one GEMM + compiled scatter against per-tap GEMMs: stride 1
# C = 1..8 49-66% faster, 16 -0% and +24%, 32 -19% and -22%; stride 2 C = 8 57%, 16 36-45%,
# 32 +9%, 64 -1% and -17%. Without numba the one-GEMM NumPy path was as fast or faster there too
# (C <= 8: 0.45-2.2 against 0.85-2.5 ms per tap).
COL2IM_ONE_GEMM_MAX_CHANNELS = 8
COL2IM_ONE_GEMM_MAX_CHANNELS_STRIDED = 16

# A convolution forward without backward (inference) by Winograd, or by im2col's one-channel
# tap-major gather, runs in batch chunks of about this many bytes of padded input and output
# (columns), written into one preallocated output: no padded copy of the whole batch, no whole-batch
# column buffer. Both already run in inner chunks of whole samples, and an outer chunk is made of
# whole inner ones, so the same GEMMs run: equal values, and no extra BLAS call. 2026-12 A/B (2 BLAS
# threads, shared machine, 21 alternations, this against one pass): a 3x3 32 -> 32 conv on
# 256 28x28 maps (Winograd) 409.9 -> 404.3 ms, LeNet's conv1 on 256 images (tap-major) 163.3 ->
# 158.3 ms; small_vgg's predict(256) peak 239 -> 87 MiB with the graph's early release. The other
# im2col forwards are not chunked (conv/convolution.py, _chunk_inference: 2-4x slower measured).
INFERENCE_CHUNK_BYTES = 8 * 2**20

# --------------------------------------------------------------------------- compiled kernels
# numba's Winograd transforms (conv/winograd_compiled.py) vectorize over the channels of a tile
# cell. 2026-12 (`--only winograd_transforms`, 8 34x34 maps, C = F, two runs): C = 1 -116..+37%,
# C = 2 -9..-3%, C = 4 17-25%, 16 43-88%, 64 25-47% faster than NumPy's Kronecker matmuls.
WINOGRAD_COMPILED_MIN_CHANNELS = 4

# The compiled max-pool backward (pooling_compiled.py; 3x3 windows at stride 2 here, unpadded 2x2
# windows at stride 2 take their own kernels at every width) vectorizes over the channels of one
# cell. 2026-12 (`--only max_pool_channels`, (32, 32, 32, C), two runs): C = 3 and 6 lost (-47..+81%,
# unstable), C = 8 59-73%, 16 65-69%, 32 64-68% faster.
MAX_POOL_BACKWARD_MIN_CHANNELS = 8

# --------------------------------------------------------------------------- Winograd
# Tiles per chunk = WINOGRAD_CHUNK_ELEMENTS // (C + F). Older (2 threads): chunks of 256 to 512 tiles
# were 10-50% faster than one pass over all tiles. 2026-12 (`--only winograd_chunk`, 1 thread):
# 39% faster at 8x34x34, C = F = 64, 12% at 8x18x18, C = F = 128 (2**14 was faster still at 64).
WINOGRAD_CHUNK_ELEMENTS = 2**16

# --------------------------------------------------------------------------- FFT (conv/fft.py)
# Kernel axes with at most this many taps get their spectrum from a DFT matrix product (BLAS).
# Older: 1.6-5x faster than a zero-padded FFT of the kernel for 3 to 63 taps (0.9 ms vs 4.6 ms for a
# (9, 16, 32) kernel at L = 1080, 2.9 vs 4.7 for (63, 16, 32)), slower only for a kernel as large as
# a small input (64x64 taps at L = 64: 1.3 vs 0.4 ms). 2026-12 (`--only fft_kernel_dft`, L = 1080,
# 16 -> 32): 3 taps 94%, 63 taps 69%, 127 taps 44% faster.
FFT_KERNEL_DFT_MAX_TAPS = 64
# Target size of one batch chunk's spectra and output: within the 1 MiB L2 with room to spare.
# Older: one sample at a time (0.3-1.6 MiB each) 1.3-1.9x faster than the whole batch at once on
# the 1D and 2D benchmark shapes. 2026-12 (`--only fft_chunks`): 35-38% faster on (8, 72, 72, 16)
# 9x9 and (32, 1062, 16) 31 taps.
FFT_CHUNK_BYTES = 256 * 2**10
# Beyond this the kernel spectrum no longer stays in the 32 MiB L3 between chunks, so chunks then
# hold at least half its size. Older: 2.8x faster for 64 -> 64 channels (a 21 MiB kernel spectrum).
# 2026-12: 7% faster than chunks without the rule, and 7% slower than the whole batch at once, on
# (8, 58, 58, 64) 3x3 (a shape "auto" gives to Winograd).
FFT_KERNEL_CACHED_BYTES = 12 * 2**20
# The cost models of fft.worthwhile, ns per unit of work, fitted by non-negative least squares on
# relative error to medians of the 34 shapes of fft.worthwhile's table (2 threads, quiet);
# `--only fft_cost_model` times those shapes again and refits them.
FFT_FIXED_NS = 690_000        # per call: kernel phases, chunk loop, small allocations
FFT_TRANSFORM_NS = 0.21       # per real value transformed, per log2 of the transform size
FFT_PASS_NS = 1.9             # per real value transformed, per spatial axis (one memory pass each)
FFT_PRODUCT_NS = 0.26         # per complex multiply-add of the channel matmul
FFT_KERNEL_NS = 0.10          # per complex multiply-add of the kernel's DFT matrices
IM2COL_GATHER_NS = 0.70       # per column element gathered
IM2COL_PRODUCT_NS = 0.0135    # per multiply-add of the GEMM

# --------------------------------------------------------------------------- Winograd's kernel gradient
# After a 2D Winograd forward the kernel gradient is the transforms' adjoint (winograd.correlate_kernel_grad)
# when the BLAS runs at most this many threads (kernels/blas.py), else im2col columns and one GEMM: the
# adjoint's many small per-point products do not use a second BLAS thread, the one large GEMM does.
# 2026-12-07, quiet machine (`--only winograd_kernel_grad`, and the same shapes alone, 7 calls each),
# against im2col: 1 BLAS thread, (64, 14x14, 32 -> 64) 7.8 -> 4.3 ms, (64, 14x14, 64 -> 64) 15.0 -> 6.9,
# (64, 7x7, 64 -> 128) 5.9 -> 4.6, (128, 28x28, 32 -> 32) 50.6 -> 19.7, (128, 14x14, 64 -> 64) 34.4 -> 13.9,
# (128, 7x7, 128 -> 128) 25.0 -> 19.5 ms (22-61% faster); 2 BLAS threads, the same shapes: -61% to +33%.
# And only up to WINOGRAD_KERNEL_GRAD_MAX_CHANNELS input channels and filters: wider, the chunks hold few
# tiles (WINOGRAD_CHUNK_ELEMENTS // (C + F)) and each rewrites a (P, C, F) product. 1 BLAS thread, a
# machine shared with a 2-thread job, 3 x 5 calls: (16, 14x14, 256 -> 256) 174-181 against 150-175 ms
# (under 15%), (8, 7x7, 512 -> 512) 82-85 against 214-254 ms.
WINOGRAD_KERNEL_GRAD_MAX_BLAS_THREADS = 1
WINOGRAD_KERNEL_GRAD_MAX_CHANNELS = 128

# --------------------------------------------------------------------------- batch parts on threads
# Inside kernels/parallel.scope (fit) a training convolution splits its batch into parts on
# threads of its own only when each part has at least this many multiply-adds (its backward splits as
# its forward did); the first split holds the BLAS on one thread until the scope ends. 2026-12 (2 cores,
# quiet machine, `fit` of 24 batches of 64 after a warm-up, fresh processes alternating with
# parallel.set_threads(1), 4 turns each): at 10M small_vgg +8%, small_resnet +21%, unet +16% faster,
# lenet5 +2% and signal1d +5% (noise: none of their convolutions splits); at 4M, LeNet-5's conv2 (4.9M
# per part) split and the whole step took 20% longer (its other products then ran on one BLAS thread).
SPLIT_MIN_PART_MACS = 10_000_000
