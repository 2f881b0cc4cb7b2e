"""Compiled Winograd transforms (numba): B^T d B, A^T M A and its adjoint A dY A^T, one pass per chunk.

Its kernels release the GIL (:func:`clearconv.kernels.compiled.kernel`), so that the batch parts
of :mod:`clearconv.kernels.parallel` run them on several threads at once.

Beside :mod:`.winograd`, whose NumPy path gathers the tiles and applies each
2D transform as one Kronecker matmul. Here :func:`winograd_input` reads each
tile where it lies in the padded input and writes its transform where the
batched matmul wants it, and :func:`winograd_output` writes A^T M A straight
into the output; :func:`winograd_output_adjoint`, for the kernel gradient,
reads the output gradient's tiles and writes A dY A^T. They compute the same
transforms with fewer, differently ordered additions (separable, with the
common terms of the matrices' rows), so results agree within
:mod:`.winograd`'s float32 bound, not exactly. Taken from
:data:`clearconv.kernels.tuning.WINOGRAD_COMPILED_MIN_CHANNELS` input channels
up; :mod:`clearconv.kernels.compiled` switches them on and off.
"""

from __future__ import annotations

import numpy as np

from .. import compiled
from ..tuning import WINOGRAD_COMPILED_MIN_CHANNELS


def use_winograd_transforms(channels: int) -> bool:
    """Whether Winograd should take :func:`winograd_input` and :func:`winograd_output`: enabled and measured faster."""
    return compiled.enabled() and channels >= WINOGRAD_COMPILED_MIN_CHANNELS


def winograd_input(xp: np.ndarray, tile: int, images: slice, rows: slice, transformed: np.ndarray) -> None:
    """B^T d B of every tile and channel of one chunk, read straight from the padded input.

    xp (N, Hp, Wp, C) is padded to whole tiles (``Hp = tiles_h*tile + 2``);
    the chunk is tile rows ``rows`` of images ``images``, tiles in row-major
    (image, tile row, tile column) order. Writes ``transformed`` (P, T, C),
    ``P = (tile+2)**2``, point ``p*(tile+2) + q`` = entry (p, q), as the NumPy
    path of :mod:`clearconv.kernels.conv.winograd` lays it out. The same transform
    as that path's Kronecker matmul, computed separably (d B, then B^T (.))
    with the common subexpressions of B^T's rows, so it rounds differently.
    """
    side = tile + 2
    # (P, T, C) as (side, side, T, C), a view: with a point indexed as p*side + q in the kernel,
    # numba left the loop unvectorized (measured 5x slower).
    _winograd_input(xp, tile, images.start, images.stop, rows.start, rows.stop,
                    transformed.reshape(side, side, *transformed.shape[1:]))


def winograd_output(products: np.ndarray, tile: int, images: slice, rows: slice, y: np.ndarray) -> None:
    """A^T M A of every tile and filter of one chunk, written straight into the output tiles.

    products (P, T, F) are the chunk's tiles as :func:`winograd_input` orders
    them; y (N, tiles_h*tile, tiles_w*tile, F) is the whole uncropped output,
    of which the chunk's tiles (tile rows ``rows`` of images ``images``) are
    written. Separable (A^T M, then (.) A), like :func:`winograd_input`.
    """
    side = tile + 2
    _winograd_output(products.reshape(side, side, *products.shape[1:]), tile, images.start, images.stop,
                     rows.start, rows.stop, y)


def winograd_output_adjoint(grad: np.ndarray, tile: int, images: slice, rows: slice, dproducts: np.ndarray) -> None:
    """A dY A^T of every tile and filter of one chunk: the adjoint of :func:`winograd_output`.

    grad (N, tiles_h*tile, tiles_w*tile, F) is the gradient of the whole uncropped output; writes
    ``dproducts`` (P, T, F), the gradient of the chunk's products in :func:`winograd_input`'s tile
    order, read straight from the output tiles (tile rows ``rows`` of images ``images``).
    Separable (dY A^T, then A (.)), with sums for the small multiples, like the forward transforms.
    """
    side = tile + 2
    _winograd_output_adjoint(grad, tile, images.start, images.stop, rows.start, rows.stop,
                             dproducts.reshape(side, side, *dproducts.shape[1:]))


# B^T and A^T of F(4, 3) and F(2, 3) applied to one column of a tile, one channel: scalars in,
# a tuple out, inlined into loops over the channels that numba vectorizes. Multiples are sums
# (x + x, exact), not products with literals, which numba would type as float64 and so leave
# float32 unvectorized. The common terms of F(4, 3)'s rows (Lavin & Gray's B^T has 22
# non-zeros, these 6 rows take 20 additions) are computed once.

@compiled.inline_kernel
def _input_column_4(d0, d1, d2, d3, d4, d5):
    """B^T d for F(4, 3): a column of 6 values -> 6 values."""
    first, last = d0 - d2, d1 - d3
    near = d4 - d2
    quad2, quad1 = d2 + d2, d1 + d1
    far = d4 - (quad2 + quad2)  # d4 - 4 d2
    cross = d3 - (quad1 + quad1)  # d3 - 4 d1
    twice = (d3 - d1) + (d3 - d1)  # 2 (d3 - d1)
    return ((first + first) + (first + first) + near, far + cross, far - cross, near + twice, near - twice,
            (d5 - d3) + ((last + last) + (last + last)))


@compiled.inline_kernel
def _input_column_2(d0, d1, d2, d3):
    """B^T d for F(2, 3): a column of 4 values -> 4 values."""
    return d0 - d2, d1 + d2, d2 - d1, d1 - d3


@compiled.inline_kernel
def _output_column_4(m0, m1, m2, m3, m4, m5):
    """A^T m for F(4, 3): a column of 6 values -> 4 values."""
    plus_near, minus_near = m1 + m2, m1 - m2
    plus_far, minus_far = m3 + m4, m3 - m4
    twice_plus, twice_minus = plus_far + plus_far, minus_far + minus_far
    four_minus = twice_minus + twice_minus
    return (m0 + plus_near + plus_far, minus_near + twice_minus, plus_near + (twice_plus + twice_plus),
            minus_near + (four_minus + four_minus) + m5)


@compiled.inline_kernel
def _output_column_2(m0, m1, m2, m3):
    """A^T m for F(2, 3): a column of 4 values -> 2 values."""
    return m0 + m1 + m2, m1 - m2 - m3


@compiled.inline_kernel
def _output_adjoint_column_4(y0, y1, y2, y3):
    """A y for F(4, 3) (A^T's transpose): a column of 4 values -> 6 values."""
    even, odd = y0 + y2, y1 + y3
    quad2, quad3 = y2 + y2, y3 + y3
    far_even = y0 + (quad2 + quad2)             # y0 + 4 y2
    half_far_odd = y1 + (quad3 + quad3)         # y1 + 4 y3
    far_odd = half_far_odd + half_far_odd       # 2 y1 + 8 y3
    return y0, even + odd, even - odd, far_even + far_odd, far_even - far_odd, y3


@compiled.inline_kernel
def _output_adjoint_column_2(y0, y1):
    """A y for F(2, 3): a column of 2 values -> 4 values."""
    return y0, y0 + y1, y0 - y1, -y1


@compiled.kernel
def _winograd_input(xp, tile, first_image, stop_image, first_row, stop_row, transformed):
    """:func:`winograd_input` on xp (N, Hp, Wp, C) into transformed (side, side, T, C)."""
    side = tile + 2
    tiles_w, channels = (xp.shape[2] - 2) // tile, xp.shape[3]
    # d B transposed: [q, a] = (d B)[a, q]. Every store below has a constant leading index and a
    # loop variable after it; with the loop variable leading, numba's loops ran 3-5x slower.
    columns_of_b = np.empty((side, side, channels), dtype=transformed.dtype)
    t = 0
    for n in range(first_image, stop_image):
        for i in range(first_row, stop_row):
            for j in range(tiles_w):
                left = j * tile
                for a in range(side):  # d B, one tile row at a time: B^T applied to the row
                    row = i * tile + a
                    if tile == 4:
                        for c in range(channels):
                            (columns_of_b[0, a, c], columns_of_b[1, a, c], columns_of_b[2, a, c],
                             columns_of_b[3, a, c], columns_of_b[4, a, c], columns_of_b[5, a, c]) = _input_column_4(
                                xp[n, row, left, c], xp[n, row, left + 1, c], xp[n, row, left + 2, c],
                                xp[n, row, left + 3, c], xp[n, row, left + 4, c], xp[n, row, left + 5, c])
                    else:
                        for c in range(channels):
                            (columns_of_b[0, a, c], columns_of_b[1, a, c], columns_of_b[2, a, c],
                             columns_of_b[3, a, c]) = _input_column_2(
                                xp[n, row, left, c], xp[n, row, left + 1, c], xp[n, row, left + 2, c],
                                xp[n, row, left + 3, c])
                for q in range(side):  # B^T (d B), one column q at a time
                    if tile == 4:
                        for c in range(channels):
                            (transformed[0, q, t, c], transformed[1, q, t, c], transformed[2, q, t, c],
                             transformed[3, q, t, c], transformed[4, q, t, c],
                             transformed[5, q, t, c]) = _input_column_4(
                                columns_of_b[q, 0, c], columns_of_b[q, 1, c], columns_of_b[q, 2, c],
                                columns_of_b[q, 3, c], columns_of_b[q, 4, c], columns_of_b[q, 5, c])
                    else:
                        for c in range(channels):
                            (transformed[0, q, t, c], transformed[1, q, t, c], transformed[2, q, t, c],
                             transformed[3, q, t, c]) = _input_column_2(
                                columns_of_b[q, 0, c], columns_of_b[q, 1, c], columns_of_b[q, 2, c],
                                columns_of_b[q, 3, c])
                t += 1

@compiled.kernel
def _winograd_output(products, tile, first_image, stop_image, first_row, stop_row, y):
    """:func:`winograd_output` from products (side, side, T, F) into y (N, tiles_h*tile, tiles_w*tile, F)."""
    side = tile + 2
    tiles_w, filters = y.shape[2] // tile, y.shape[3]
    rows_of_a = np.empty((tile, side, filters), dtype=y.dtype)  # [a, q] = (A^T M)[a, q]
    t = 0
    for n in range(first_image, stop_image):
        for i in range(first_row, stop_row):
            for j in range(tiles_w):
                for q in range(side):  # A^T M, one column of transform points at a time
                    if tile == 4:
                        for f in range(filters):
                            rows_of_a[0, q, f], rows_of_a[1, q, f], rows_of_a[2, q, f], rows_of_a[3, q, f] = \
                                _output_column_4(products[0, q, t, f], products[1, q, t, f], products[2, q, t, f],
                                                 products[3, q, t, f], products[4, q, t, f], products[5, q, t, f])
                    else:
                        for f in range(filters):
                            rows_of_a[0, q, f], rows_of_a[1, q, f] = _output_column_2(
                                products[0, q, t, f], products[1, q, t, f], products[2, q, t, f],
                                products[3, q, t, f])
                for a in range(tile):  # (A^T M) A: output row i*tile + a
                    row, left = i * tile + a, j * tile
                    if tile == 4:
                        for f in range(filters):
                            y[n, row, left, f], y[n, row, left + 1, f], y[n, row, left + 2, f], \
                                y[n, row, left + 3, f] = _output_column_4(
                                    rows_of_a[a, 0, f], rows_of_a[a, 1, f], rows_of_a[a, 2, f], rows_of_a[a, 3, f],
                                    rows_of_a[a, 4, f], rows_of_a[a, 5, f])
                    else:
                        for f in range(filters):
                            y[n, row, left, f], y[n, row, left + 1, f] = _output_column_2(
                                rows_of_a[a, 0, f], rows_of_a[a, 1, f], rows_of_a[a, 2, f], rows_of_a[a, 3, f])
                t += 1


@compiled.kernel
def _winograd_output_adjoint(grad, tile, first_image, stop_image, first_row, stop_row, dproducts):
    """:func:`winograd_output_adjoint` from grad (N, tiles_h*tile, tiles_w*tile, F) into dproducts (side, side, T, F)."""
    side = tile + 2
    tiles_w, filters = grad.shape[2] // tile, grad.shape[3]
    rows_of_a = np.empty((side, tile, filters), dtype=dproducts.dtype)  # [q, a] = (dY A^T)[a, q]
    t = 0
    for n in range(first_image, stop_image):
        for i in range(first_row, stop_row):
            for j in range(tiles_w):
                for a in range(tile):  # dY A^T, one output row of the tile at a time: A applied to the row
                    row, left = i * tile + a, j * tile
                    if tile == 4:
                        for f in range(filters):
                            (rows_of_a[0, a, f], rows_of_a[1, a, f], rows_of_a[2, a, f], rows_of_a[3, a, f],
                             rows_of_a[4, a, f], rows_of_a[5, a, f]) = _output_adjoint_column_4(
                                grad[n, row, left, f], grad[n, row, left + 1, f], grad[n, row, left + 2, f],
                                grad[n, row, left + 3, f])
                    else:
                        for f in range(filters):
                            rows_of_a[0, a, f], rows_of_a[1, a, f], rows_of_a[2, a, f], rows_of_a[3, a, f] = \
                                _output_adjoint_column_2(grad[n, row, left, f], grad[n, row, left + 1, f])
                for q in range(side):  # A (dY A^T), one column q at a time
                    if tile == 4:
                        for f in range(filters):
                            (dproducts[0, q, t, f], dproducts[1, q, t, f], dproducts[2, q, t, f],
                             dproducts[3, q, t, f], dproducts[4, q, t, f],
                             dproducts[5, q, t, f]) = _output_adjoint_column_4(
                                rows_of_a[q, 0, f], rows_of_a[q, 1, f], rows_of_a[q, 2, f], rows_of_a[q, 3, f])
                    else:
                        for f in range(filters):
                            (dproducts[0, q, t, f], dproducts[1, q, t, f], dproducts[2, q, t, f],
                             dproducts[3, q, t, f]) = _output_adjoint_column_2(rows_of_a[q, 0, f],
                                                                               rows_of_a[q, 1, f])
                t += 1
