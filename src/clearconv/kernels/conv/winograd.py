"""Winograd minimal filtering F(m x m, 3 x 3) and F(m, 3) (Lavin & Gray, 2016): 3x3 and 3-tap correlation, stride 1.

Everything here works on an input that is *already padded* (a "valid"
cross-correlation, no kernel flip: the contract of :func:`.im2col.correlate`
with strides 1, dilation 1 and one group); ``clearconv.kernels.conv`` adds the
padding. The output is cut into tiles of ``m x m`` cells (``m = tile``, 2 or
4); output tile ``Y`` needs the ``(m+2) x (m+2)`` input tile ``d`` under it,
and for one channel and one filter ``g``::

    Y = A^T [ (G g G^T) * (B^T d B) ] A        (* elementwise)

with the matrices of Lavin & Gray (interpolation points 0, 1, -1 for F(2, 3);
0, 1, -1, 2, -2 for F(4, 3); plus the point at infinity). Summing over
channels commutes with ``A^T . A``, so at each of the ``P = (m+2)**2``
transform points the sum over channels of the elementwise products is a matrix
product, and the elementwise stage is ONE batched matmul. Multiplications per
output cell and channel pair: ``P / m**2`` = 4 (m = 2) or 2.25 (m = 4),
against 9 for im2col; the transforms add memory traffic instead.

Shapes (``T`` tiles, ``P = (m+2)**2`` transform points):

    padded input        xp   (N, Hp, Wp, C)
    kernel              g    (3, 3, C, F)               Keras layout
    input tiles              (N, tiles_h, tiles_w, m+2, m+2, C)   strided view
    transformed input   V    (P, T, C)       B^T d B of every tile and channel
    transformed kernel  U    (P, C, F)       G g G^T, cached (:func:`transform_kernel`)
    products            M    (P, T, F)       V @ U, one matmul per point
    output tiles             (m, m, T, F)    A^T M A of every tile and filter
    output              y    (N, Hp - 2, Wp - 2, F)

Both 2D transforms are one dense matmul each over every tile and channel of a
chunk: ``B^T d B`` is ``(B^T kron B^T) @ vec(d)``, a (P, P) matrix times the
gathered tiles (P, T*C); ``A^T M A`` is ``(A^T kron A^T) @ M``. Measured on
the benchmark cases, this beat the separable form (two (m+2, m+2) matmuls
per transform, fewer flops but two passes over memory) by 10 to 30 %.
Output sizes that are not a multiple of ``m`` are computed on a zero-padded
input and cropped.

The kernel gradient of a 2D Winograd forward (:func:`correlate_kernel_grad`)
is the adjoint of the same computation: ``dM = A dY A^T`` per output tile,
``dU[p] = sum over tiles of V[p]^T @ dM[p]`` (one (C, T) @ (T, F) matmul per
point and chunk), then ``dg = G^T dU G``; again 4 or 2.25 multiplications per
output cell and channel pair instead of im2col's 9, and no column buffer.
:mod:`.convolution` takes it on one BLAS thread, where it measured faster
(:data:`clearconv.kernels.tuning.WINOGRAD_KERNEL_GRAD_MAX_BLAS_THREADS`).

1D (Conv1D, kernel (3, C, F)): the same with one transform per side, ``y =
A^T [(G g) * (B^T d)]`` over tiles of ``m`` outputs from ``m + 2`` inputs,
``P = m + 2`` points (:func:`_correlate_1d`; NumPy only, no compiled path).

With numba (:mod:`.winograd_compiled`, where ``use_winograd_transforms`` says
it measured faster: from WINOGRAD_COMPILED_MIN_CHANNELS input channels up,
:mod:`clearconv.kernels.tuning`) both 2D transforms are compiled loops instead: the input stage
reads each tile straight from the padded input (no gathered copy) and writes
V, the output stage writes A^T M A straight into y, both separable with the
common terms of the matrices' rows. Same V and y up to rounding (sums in
another order, within the PRECISION bounds below). On the benchmark cases
(float32, 2 BLAS threads, medians of two runs) the whole call took 0.7 to
0.8x the NumPy path's time at m = 4 (vgg-3x3 7.3 against 10.6 ms, deep-3x3
10.2 to 11.3 against 12.9 to 15.7 ms) and 0.75 to 0.9x at m = 2; the
batched matmul is then most of it.

Tiles are processed in chunks of about ``WINOGRAD_CHUNK_ELEMENTS / (C + F)`` tiles
(whole tile rows): the chunk's buffers stay small, allocated once per call and
hot in cache, and the batched matmul still gets a few hundred rows (on the
2-thread benchmark machine, chunks of 256 to 512 tiles were 10 to 50 %
faster than one pass over all tiles, whose buffers are 2-4x the input).

SPEED (float32, 2 BLAS threads, the 2-core benchmark machine, medians): F(4x4)
took about 0.5x the time of im2col on vgg-3x3 and deep-3x3, close to PyTorch
(0.8x to 1.2x); F(2x2) about 0.6x im2col. On narrow layers it loses: 5x
im2col at C = 1 (the (T, 1) @ (1, F) products are slow BLAS calls), 1.3x at
C = 6. A call makes (P + 2) BLAS calls per chunk, 150 to 300 on the benchmark
cases, so it suffers more than im2col's single GEMM when other processes
take the cores.

PRECISION (float32). The transforms add rounding that im2col's plain sum does
not have; F(4x4, 3x3) loses more than F(2x2, 3x3) because its matrices hold
larger entries (up to 5 in B^T, 8 in A^T) whose products cancel. With inputs
and weights uniform in [-1, 1] and ``S = max over output cells of the sum of
|x| |w|`` over the cell's 9 C terms (the scale of the result), about 900
seeded runs (C = 1 to 512, F = 1 to 128) measured::

    max |y - reference| / (eps32 * S)    im2col  <= 2.1
                                         m = 2   <= 2.4
                                         m = 4   <= 61 (C = 1), <= 34 (C = 2 to 4), <= 20 (C >= 8)

Relative to max |reference| (which grows like sqrt(C), slower than S), m = 4
reached 160 eps32 = 1.9e-5 at C = 512 in those runs (uniform inputs), m = 2
reached 8 eps32 ~ 1e-6, im2col 5.5 eps32: all within the stated bounds
below, which the table under them measured on other input distributions. The tests assert ``max |y - reference| <= c * eps32 * S`` with
c = 6 for m = 2 and c = 128 for m = 4. In float64 the error is ~1e-14
relative to max |reference|.

The stated float32 bounds, max |y - reference| / max |reference| up to 512
input channels (standard-normal, uniform and ReLU'd inputs, 3 seeds each,
with and without the compiled transforms; ``benchmarks/tuning.py --only
float32_bounds``):

    F(2x2, 3x3)   1e-5   measured <= 9.2e-7 at C = 512, 3.5e-7 at C = 64
    F(4x4, 3x3)   3e-5   measured <= 1.6e-5 at C = 512, 4.9e-6 at C = 64, 2.8e-6 at C = 16
    F(2, 3)       1e-5   measured <= 6.2e-7 at C = 512
    F(4, 3)       1e-5   measured <= 2.5e-6 at C = 512

so F(4x4, 3x3) alone can pass the 1e-5 every other algorithm keeps (from
about 256 channels); the automatic choice of :mod:`.choice` never takes it.
In 1D the tested constants are c = 3 (m = 2) and c = 16 (m = 4), measured
1.3 and 7.3 at one channel, below 3 and 4 from 8 channels up.

The kernel gradient's float32 error, max |dg - reference| / (eps32 * max over
entries of sum |x| |dy|), measured up to 1.2 (tile 2) and 4.6 (tile 4) on the
cases of tests/kernels/test_winograd_kernel_grad.py, which holds it to 4 and 16.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from functools import lru_cache

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..shapes import conv_output_shape
from ..tuning import WINOGRAD_CHUNK_ELEMENTS
from .winograd_compiled import use_winograd_transforms, winograd_input, winograd_output, winograd_output_adjoint

TILES = (2, 4)
KERNEL_SIZE = 3
CACHE_ENTRIES = 32
CACHE_BYTES = 256 * 2**20

# F(2, 3): interpolation points 0, 1, -1 and infinity.
_F2_INPUT = [[1, 0, -1, 0],
             [0, 1, 1, 0],
             [0, -1, 1, 0],
             [0, 1, 0, -1]]
_F2_KERNEL = [[1, 0, 0],
              [1 / 2, 1 / 2, 1 / 2],
              [1 / 2, -1 / 2, 1 / 2],
              [0, 0, 1]]
_F2_OUTPUT = [[1, 1, 1, 0],
              [0, 1, -1, -1]]

# F(4, 3): interpolation points 0, 1, -1, 2, -2 and infinity.
_F4_INPUT = [[4, 0, -5, 0, 1, 0],
             [0, -4, -4, 1, 1, 0],
             [0, 4, -4, -1, 1, 0],
             [0, -2, -1, 2, 1, 0],
             [0, 2, -1, -2, 1, 0],
             [0, 4, 0, -5, 0, 1]]
_F4_KERNEL = [[1 / 4, 0, 0],
              [-1 / 6, -1 / 6, -1 / 6],
              [-1 / 6, 1 / 6, -1 / 6],
              [1 / 24, 1 / 12, 1 / 6],
              [1 / 24, -1 / 12, 1 / 6],
              [0, 0, 1]]
_F4_OUTPUT = [[1, 1, 1, 1, 1, 0],
              [0, 1, -1, 2, -2, 0],
              [0, 1, 1, 4, 4, 0],
              [0, 1, -1, 8, -8, 1]]

# tile m -> (B^T (m+2, m+2), G (m+2, 3), A^T (m, m+2)), float64
_MATRICES = {tile: tuple(np.array(matrix, dtype=np.float64) for matrix in matrices)
             for tile, matrices in ((2, (_F2_INPUT, _F2_KERNEL, _F2_OUTPUT)),
                                    (4, (_F4_INPUT, _F4_KERNEL, _F4_OUTPUT)))}


def matrices(tile: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(B^T (m+2, m+2), G (m+2, 3), A^T (m, m+2)) of F(m, 3) for ``tile`` m = 2 or 4, float64, read-only:
    the matrices every Winograd path here uses (and :func:`clearconv.explain.winograd` shows)."""
    _check_tile(tile)
    frozen = []
    for matrix in _MATRICES[tile]:
        view = matrix.view()
        view.flags.writeable = False
        frozen.append(view)
    return tuple(frozen)


def supports(kernel_shape, strides, dilation, groups: int) -> bool:
    """Whether Winograd computes this convolution: a 3-tap 1D or 3x3 2D kernel, stride 1, dilation 1, one group."""
    rank = len(kernel_shape) - 2
    return (rank in (1, 2) and tuple(kernel_shape[:rank]) == (KERNEL_SIZE,) * rank
            and tuple(strides) == (1,) * rank and tuple(dilation) == (1,) * rank and groups == 1)


def _check_tile(tile) -> None:
    if isinstance(tile, bool) or tile not in TILES:
        raise ValueError(f"winograd tile must be one of {TILES}; received tile={tile!r}")


def _check_shapes(xp: np.ndarray, kernel: np.ndarray) -> None:
    if xp.ndim not in (3, 4) or min(xp.shape[1:-1]) < KERNEL_SIZE:
        raise ValueError(f"winograd input must be a padded (N, Lp, C) or (N, Hp, Wp, C) array with every "
                         f"spatial size >= 3; received shape {xp.shape}")
    rank = xp.ndim - 2
    if kernel.ndim != xp.ndim or kernel.shape[:-1] != (KERNEL_SIZE,) * rank + (xp.shape[-1],):
        taps = ", ".join(["3"] * rank)
        raise ValueError(f"winograd kernel must have shape ({taps}, {xp.shape[-1]}, F) for an input of shape "
                         f"{xp.shape}; received {kernel.shape}")


@lru_cache(maxsize=None)
def _transform_matrices(tile: int, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """(B^T kron B^T (P, P), A^T kron A^T (m*m, P)) in ``dtype``: each 2D transform as one matrix.

    Row ``p*(m+2) + q`` of the input matrix gives point (p, q) of B^T d B from
    d flattened row-major, the layout of the gathered tiles.
    """
    input_matrix, _, output_matrix = _MATRICES[tile]
    # Entries are small integers and their products: exact in any float dtype.
    return (np.kron(input_matrix, input_matrix).astype(dtype),
            np.kron(output_matrix, output_matrix).astype(dtype))


# (id(kernel), shape, dtype, tile) -> (copy of the kernel, its transform), least recently used first
_kernel_cache: OrderedDict = OrderedDict()
_kernel_cache_lock = threading.Lock()


def transform_kernel(kernel: np.ndarray, tile: int) -> np.ndarray:
    """G g G^T of every (channel, filter) pair: (3, 3, C, F) -> ((tile+2)**2, C, F), kernel's dtype.

    Point ``p*(tile+2) + q`` is entry (p, q) of G g G^T. A 1D kernel (3, C, F)
    gives G g, (tile+2, C, F). Computed in float64
    and rounded once. Cached until the weights change: optimizers update
    kernels in place, so an entry is found by the array's id but reused only
    while its stored copy still equals the kernel. The cache keeps the
    CACHE_ENTRIES most recently used transforms, CACHE_BYTES at most. The
    returned array is read-only (it is shared with later calls).
    """
    _check_tile(tile)
    key = (id(kernel), kernel.shape, kernel.dtype.str, tile)
    with _kernel_cache_lock:
        entry = _kernel_cache.get(key)
        if entry is not None and np.array_equal(entry[0], kernel):
            _kernel_cache.move_to_end(key)
            return entry[1]
    transformed = _transform(kernel, tile)
    with _kernel_cache_lock:
        _kernel_cache[key] = (kernel.copy(), transformed)
        _kernel_cache.move_to_end(key)
        _evict()
    return transformed


def _transform(kernel: np.ndarray, tile: int) -> np.ndarray:
    """The uncached G g G^T of :func:`transform_kernel`, read-only."""
    _, kernel_matrix, _ = _MATRICES[tile]
    side = tile + 2
    channels, filters = kernel.shape[-2:]
    # G g: (side, 3) @ (3, [3*]C*F) -> (side, [3,] C*F)
    left = kernel_matrix @ kernel.astype(np.float64).reshape(KERNEL_SIZE, -1)
    if kernel.ndim == 3:
        transformed = left.reshape(side, channels, filters).astype(kernel.dtype)
        transformed.flags.writeable = False
        return transformed
    # then (G g) G^T, one (side, 3) @ (3, C*F) per row p. Two matmuls: 20x faster than the same
    # contraction as one einsum at C = F = 128.
    both = np.matmul(kernel_matrix, left.reshape(side, KERNEL_SIZE, -1))  # (side p, side q, C*F)
    transformed = both.reshape(side * side, channels, filters).astype(kernel.dtype)
    transformed.flags.writeable = False
    return transformed


def _evict() -> None:
    """Drop least recently used entries beyond CACHE_ENTRIES or CACHE_BYTES, never the newest."""
    def cached_bytes():
        return sum(copy.nbytes + transformed.nbytes for copy, transformed in _kernel_cache.values())
    while len(_kernel_cache) > 1 and (len(_kernel_cache) > CACHE_ENTRIES or cached_bytes() > CACHE_BYTES):
        _kernel_cache.popitem(last=False)


def _pad_to_tiles(xp: np.ndarray, height: int, width: int) -> np.ndarray:
    """xp zero-padded at the bottom and right to (N, height, width, C); xp itself if already that size."""
    if xp.shape[1:3] == (height, width):
        return xp
    padded = np.zeros((xp.shape[0], height, width, xp.shape[3]), dtype=xp.dtype)
    padded[:, :xp.shape[1], :xp.shape[2]] = xp
    return padded


def _input_tiles(xp: np.ndarray, tile: int) -> np.ndarray:
    """Overlapping tiles as a view (no copy): (N, Hp, Wp, C) -> (N, tiles_h, tiles_w, tile+2, tile+2, C).

    Tile (i, j) starts at cell (i*tile, j*tile); neighbours share 2 rows or columns.
    """
    batch, height, width, channels = xp.shape
    step_n, step_h, step_w, step_c = xp.strides
    side = tile + 2
    return as_strided(xp, shape=(batch, (height - 2) // tile, (width - 2) // tile, side, side, channels),
                      strides=(step_n, tile * step_h, tile * step_w, step_h, step_w, step_c), writeable=False)


def _chunks(batch: int, tiles_h: int, tiles_w: int, tiles_per_chunk: int,
            images: int | None = None) -> list[tuple[slice, slice]]:
    """(images, tile rows) slice pairs covering all tiles in near-equal chunks of about tiles_per_chunk.

    A chunk is whole images when one image holds fewer tiles than a chunk,
    otherwise a run of one image's tile rows: either way a rectangle of the
    tile grid, which the strided tile view slices without a copy. ``images``
    (whole-image chunks only) fixes the images per chunk instead of splitting
    ``batch`` evenly: a batch cut into parts of a multiple of the whole
    batch's value then runs the very same chunks as the whole batch.
    """
    if batch == 0:
        return []
    rows = max(1, _ceil_div(tiles_per_chunk, tiles_w))
    if rows >= tiles_h:
        images = images or _even_split(batch, rows // tiles_h)
        return [(slice(start, min(start + images, batch)), slice(0, tiles_h)) for start in range(0, batch, images)]
    rows = _even_split(tiles_h, rows)
    return [(slice(image, image + 1), slice(start, min(start + rows, tiles_h)))
            for image in range(batch) for start in range(0, tiles_h, rows)]


def _chunk_plan(batch: int, tiles_h: int, tiles_w: int, width: int, images: int | None = None
                ) -> tuple[list[tuple[slice, slice]], int]:
    """The chunks of :func:`_chunks` for a layer of ``width`` = C + F channels and filters, and the tiles of
    the largest one (the size of the buffers every chunk reuses)."""
    chunks = _chunks(batch, tiles_h, tiles_w, max(1, WINOGRAD_CHUNK_ELEMENTS // width), images)
    largest = tiles_w * max(((part.stop - part.start) * (rows.stop - rows.start) for part, rows in chunks), default=0)
    return chunks, largest


def _ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


def _even_split(total: int, largest: int) -> int:
    """The part size that splits ``total`` into as few near-equal parts of at most ``largest`` as possible."""
    return _ceil_div(total, _ceil_div(total, largest))


def _take(buffer: np.ndarray, shape) -> np.ndarray:
    """The first prod(shape) elements of a flat buffer, as an array of ``shape`` (a view)."""
    return buffer[:int(np.prod(shape))].reshape(shape)


def batch_step(padded_shape, filters: int, tile: int) -> int:
    """Images per chunk of :func:`correlate` on a padded input of ``padded_shape`` (N, *P, C) with
    ``filters`` filters: the batch part size (1 where chunks lie within one image) whose multiples,
    passed as ``images``, make a part of the batch run the same chunks as the whole batch."""
    batch, *padded, channels = padded_shape
    tiles = [_ceil_div(length - 2, tile) for length in padded]
    tiles_h, tiles_w = (tiles[0], 1) if len(tiles) == 1 else tiles
    chunks, _ = _chunk_plan(batch, tiles_h, tiles_w, channels + filters)
    return max(1, chunks[0][0].stop - chunks[0][0].start) if chunks else 1


def correlate(xp: np.ndarray, kernel: np.ndarray, tile: int = 4, images: int | None = None) -> np.ndarray:
    """Valid 3x3 cross-correlation of a padded input: (N, Hp, Wp, C), (3, 3, C, F) -> (N, Hp-2, Wp-2, F).

    Computed by F(tile x tile, 3 x 3), tile 2 or 4, in xp's dtype. A 1D input
    (N, Lp, C) with a kernel (3, C, F) gives (N, Lp-2, F) by F(tile, 3)
    (:func:`_correlate_1d`). ``images``: the images per chunk where chunks
    are whole images (:func:`batch_step`); None splits the batch evenly.
    """
    _check_tile(tile)
    _check_shapes(xp, kernel)
    if xp.ndim == 3:
        return _correlate_1d(xp, kernel, tile, images)
    batch, height, width, channels = xp.shape
    filters = kernel.shape[-1]
    dtype = xp.dtype
    out_h, out_w = conv_output_shape((height, width), (3, 3), (1, 1), (1, 1))
    tiles_h, tiles_w = _ceil_div(out_h, tile), _ceil_div(out_w, tile)
    padded = _pad_to_tiles(xp, tiles_h * tile + 2, tiles_w * tile + 2)
    weights = transform_kernel(kernel, tile).astype(dtype, copy=False)
    y = np.empty((batch, tiles_h * tile, tiles_w * tile, filters), dtype=dtype)

    chunks, largest = _chunk_plan(batch, tiles_h, tiles_w, channels + filters, images)
    points = (tile + 2) ** 2
    if use_winograd_transforms(channels):
        # transformed input, products: allocated once, reused by every chunk.
        buffers = (np.empty(points * largest * channels, dtype), np.empty(points * largest * filters, dtype))
        for images, rows in chunks:
            _correlate_chunk_compiled(padded, tile, images, rows, weights, buffers, y)
    else:
        tiles = _input_tiles(padded, tile)
        matrices = _transform_matrices(tile, dtype)
        # gathered tiles, transformed input, products, output tiles: allocated once, reused by every chunk.
        buffers = (np.empty(points * largest * channels, dtype), np.empty(points * largest * channels, dtype),
                   np.empty(points * largest * filters, dtype), np.empty(tile * tile * largest * filters, dtype))
        for images, rows in chunks:
            _correlate_chunk(tiles[images, rows], weights, matrices, buffers,
                             y[images, rows.start * tile:rows.stop * tile])
    if y.shape[1:3] != (out_h, out_w):
        return np.ascontiguousarray(y[:, :out_h, :out_w])
    return y


def _correlate_chunk(tiles: np.ndarray, weights: np.ndarray, matrices, buffers, out: np.ndarray) -> None:
    """Write the output tiles of ``tiles`` (n, rows, tiles_w, m+2, m+2, C) into ``out`` (n, rows*m, tiles_w*m, F)."""
    input_matrix, output_matrix = matrices
    images, rows, tiles_w, side, _, channels = tiles.shape
    tile, points, filters = side - 2, side * side, weights.shape[-1]
    count = images * rows * tiles_w
    gathered_buffer, transformed_buffer, product_buffer, result_buffer = buffers
    transformed = _transform_tiles(tiles, input_matrix, gathered_buffer, transformed_buffer)
    products = _take(product_buffer, (points, count, filters))
    np.matmul(transformed, weights, out=products)
    result = _take(result_buffer, (tile, tile, images, rows, tiles_w, filters))
    np.matmul(output_matrix, products.reshape(points, -1), out=result.reshape(tile * tile, -1))
    # (a, b, n, row, column, F) -> cell (row*m + a, column*m + b) of image n.
    np.copyto(out.reshape(images, rows, tile, tiles_w, tile, filters), result.transpose(2, 3, 0, 4, 1, 5))


def _transform_tiles(tiles: np.ndarray, input_matrix: np.ndarray, gathered_buffer: np.ndarray,
                     transformed_buffer: np.ndarray) -> np.ndarray:
    """B^T d B of every tile and channel: tiles (n, rows, tiles_w, m+2, m+2, C) -> (P, n*rows*tiles_w, C)."""
    images, rows, tiles_w, side, _, channels = tiles.shape
    # Tile cells first, then tiles and channels: the input transform becomes a single (P, P) @ (P, T*C).
    gathered = _take(gathered_buffer, (side, side, images, rows, tiles_w, channels))
    np.copyto(gathered, tiles.transpose(3, 4, 0, 1, 2, 5))
    transformed = _take(transformed_buffer, (side * side, images * rows * tiles_w, channels))
    np.matmul(input_matrix, gathered.reshape(side * side, -1), out=transformed.reshape(side * side, -1))
    return transformed


def correlate_kernel_grad(xp: np.ndarray, grad: np.ndarray, tile: int) -> np.ndarray:
    """dL/dkernel of :func:`correlate` by the same F(tile x tile, 3 x 3): (N, Hp, Wp, C), (N, Hp-2, Wp-2, F)
    -> (3, 3, C, F), xp's dtype.

    The forward is, per tile t and point p, M_t[p] = V_t[p] @ U[p] with V_t = B^T d_t B (C values per
    point), U = G g G^T and Y_t = A^T M_t A. Its adjoint, exactly: dM_t = A dY_t A^T, then
    dU[p] = sum over t of V_t[p]^T @ dM_t[p] (one (C, T) @ (T, F) product per point and chunk), and
    dg = G^T dU G. Against im2col's (9C, N*H*W) @ (N*H*W, F) this is (tile+2)**2 / tile**2 = 4 (tile 2)
    or 2.25 (tile 4) multiply-adds per output cell instead of 9, and no column buffer: the transformed
    input and gradient of one chunk of tiles at a time. The chunks' products are summed in float64
    and G^T dU G computed in float64, rounded once to xp's dtype.
    """
    _check_tile(tile)
    if xp.ndim != 4 or min(xp.shape[1:3]) < KERNEL_SIZE or grad.ndim != 4 \
            or grad.shape != (xp.shape[0], xp.shape[1] - 2, xp.shape[2] - 2, grad.shape[-1]):
        raise ValueError(f"winograd kernel gradient needs a padded input (N, Hp, Wp, C) and the gradient of its "
                         f"valid 3x3 output (N, Hp-2, Wp-2, F); received {xp.shape} and {grad.shape}")
    batch, height, width, channels = xp.shape
    filters, dtype, side = grad.shape[-1], xp.dtype, tile + 2
    tiles_h, tiles_w = _ceil_div(height - 2, tile), _ceil_div(width - 2, tile)
    padded = _pad_to_tiles(xp, tiles_h * tile + 2, tiles_w * tile + 2)
    grad = _pad_to_tiles(np.ascontiguousarray(grad, dtype=dtype), tiles_h * tile, tiles_w * tile)
    chunks, largest = _chunk_plan(batch, tiles_h, tiles_w, channels + filters)
    points = side * side
    dpoints = np.zeros((points, channels, filters), dtype=np.float64)
    chunk_dpoints = np.empty((points, channels, filters), dtype=dtype)       # one chunk's share of dU
    transformed_buffer, dproduct_buffer = np.empty(points * largest * channels, dtype), np.empty(points * largest * filters, dtype)
    compiled = use_winograd_transforms(channels)
    if not compiled:
        tiles = _input_tiles(padded, tile)
        input_matrix, output_matrix = _transform_matrices(tile, dtype)
        adjoint_matrix = np.ascontiguousarray(output_matrix.T)           # (P, m*m)
        gathered_buffer = np.empty(points * largest * channels, dtype)
        gathered_grad_buffer = np.empty(tile * tile * largest * filters, dtype)
    for images, rows in chunks:
        count = (images.stop - images.start) * (rows.stop - rows.start) * tiles_w
        dproducts = _take(dproduct_buffer, (points, count, filters))
        if compiled:
            transformed = _take(transformed_buffer, (points, count, channels))
            winograd_input(padded, tile, images, rows, transformed)
            winograd_output_adjoint(grad, tile, images, rows, dproducts)
        else:
            transformed = _transform_tiles(tiles[images, rows], input_matrix, gathered_buffer, transformed_buffer)
            # the chunk's output tiles, cells first: (m, m, n, rows, tiles_w, F), then (P, m*m) @ (m*m, T*F)
            n, r = images.stop - images.start, rows.stop - rows.start
            cells = grad[images, rows.start * tile:rows.stop * tile].reshape(n, r, tile, tiles_w, tile, filters)
            gathered = _take(gathered_grad_buffer, (tile, tile, n, r, tiles_w, filters))
            np.copyto(gathered, cells.transpose(2, 4, 0, 1, 3, 5))
            np.matmul(adjoint_matrix, gathered.reshape(tile * tile, -1), out=dproducts.reshape(points, -1))
        np.matmul(transformed.transpose(0, 2, 1), dproducts, out=chunk_dpoints)   # (P, C, T) @ (P, T, F)
        dpoints += chunk_dpoints
    _, kernel_matrix, _ = _MATRICES[tile]
    # dg[a, b] = sum over p, q of G[p, a] dU[p, q] G[q, b]: two small matmuls in float64
    dpoints = dpoints.reshape(side, side, channels * filters)
    left = np.matmul(kernel_matrix.T, dpoints.transpose(1, 0, 2))            # (q, a, C*F)
    dkernel = np.matmul(kernel_matrix.T, left.transpose(1, 0, 2))            # (a, b, C*F)
    return dkernel.reshape(KERNEL_SIZE, KERNEL_SIZE, channels, filters).astype(dtype)


def _correlate_chunk_compiled(padded: np.ndarray, tile: int, images: slice, rows: slice, weights: np.ndarray,
                              buffers, y: np.ndarray) -> None:
    """:func:`_correlate_chunk` with both transforms compiled: tile rows ``rows`` of images ``images``.

    padded (N, tiles_h*m + 2, tiles_w*m + 2, C) -> its tiles' part of y (N, tiles_h*m, tiles_w*m, F).
    """
    channels, filters = padded.shape[3], weights.shape[-1]
    count = (images.stop - images.start) * (rows.stop - rows.start) * (y.shape[2] // tile)
    transformed_buffer, product_buffer = buffers
    transformed = _take(transformed_buffer, (weights.shape[0], count, channels))
    winograd_input(padded, tile, images, rows, transformed)
    products = _take(product_buffer, (weights.shape[0], count, filters))
    np.matmul(transformed, weights, out=products)
    winograd_output(products, tile, images, rows, y)


def _correlate_1d(xp: np.ndarray, kernel: np.ndarray, tile: int, images: int | None = None) -> np.ndarray:
    """Valid 3-tap correlation by F(tile, 3): (N, Lp, C), (3, C, F) -> (N, Lp-2, F).

    The 1D form of :func:`correlate`: each output tile of ``m`` cells needs
    the ``m+2`` input cells under it, ``y = A^T [(G g) * (B^T d)]``, and the
    channel sum at each of the ``P = m+2`` points is one batched matmul
    (P, T, C) @ (P, C, F). The transforms are (P, P) and (m, P) matmuls over
    every tile and channel of a chunk; there is no compiled path.
    """
    batch, length, channels = xp.shape
    filters = kernel.shape[-1]
    side = tile + 2
    tiles = _ceil_div(length - 2, tile)
    if length != tiles * tile + 2:  # zero cells at the end, so that the last tile is whole
        padded = np.zeros((batch, tiles * tile + 2, channels), dtype=xp.dtype)
        padded[:, :length] = xp
    else:
        padded = xp
    input_matrix, _, output_matrix = (matrix.astype(xp.dtype) for matrix in _MATRICES[tile])
    weights = transform_kernel(kernel, tile).astype(xp.dtype, copy=False)  # (P, C, F)
    step_n, step_l, step_c = padded.strides
    # (N, T, P, C), a view: tile t reads cells t*m .. t*m + m+1
    view = as_strided(padded, shape=(batch, tiles, side, channels), strides=(step_n, tile * step_l, step_l, step_c),
                      writeable=False)
    y = np.empty((batch, tiles * tile, filters), dtype=xp.dtype)
    # A chunk is a rectangle of the (images, tiles) grid: runs of one image's tiles, or whole images.
    for samples, runs in _chunks(batch, tiles, 1, max(1, WINOGRAD_CHUNK_ELEMENTS // (channels + filters)), images):
        part = view[samples, runs]                                          # (n, t, P, C)
        count, run = part.shape[:2]
        # (n, t, P, C) -> (P, n*t*C): B^T d of every tile and channel is one (P, P) @ (P, n*t*C)
        transformed = input_matrix @ part.transpose(2, 0, 1, 3).reshape(side, -1)
        products = np.matmul(transformed.reshape(side, count * run, channels), weights)  # (P, n*t, F)
        result = output_matrix @ products.reshape(side, -1)                 # (m, n*t*F)
        # (m, n, t, F) -> (n, t, m, F) -> cells t*m + a of each image
        y[samples, runs.start * tile:runs.stop * tile] = \
            result.reshape(tile, count, run, filters).transpose(1, 2, 0, 3).reshape(count, run * tile, filters)
    return np.ascontiguousarray(y[:, :length - 2]) if tiles * tile != length - 2 else y
