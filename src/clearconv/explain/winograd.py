"""Winograd's minimal filtering F(m, 3) and F(m x m, 3 x 3), worked out tile by tile as the tutorials do.

    steps = winograd(np.arange(16.0).reshape(4, 4), np.ones((3, 3)), tile=2)
    steps.tiles[0].d, steps.tiles[0].V, steps.tiles[0].M, steps.tiles[0].Y
    print(steps)                       # the matrices, the kernel transform, each tile, the counts

One channel, stride 1, no padding: the 'valid' cross-correlation (the kernel
is not flipped) of ``x`` (n,) with a 3-tap kernel ``g`` (3,), output (n - 2,),
or of ``x`` (h, w) with a 3x3 kernel, output (h - 2, w - 2). The output is cut
into tiles of ``m`` cells (``m x m`` in 2D, ``m = tile``, 2 or 4); output tile
``Y`` starting at cell ``s`` needs the ``m + 2`` input cells ``d`` from ``s`` on
(``(m+2) x (m+2)`` in 2D), and::

    1D   U = G g          V = B^T d        M = U * V    Y = A^T M
    2D   U = G g G^T      V = B^T d B      M = U * V    Y = A^T M A      (* element-wise)

with the matrices (B^T, G, A^T) of the library's own Winograd kernel,
:func:`clearconv.kernels.conv.winograd.matrices` (Lavin & Gray, 2016), so the
numbers shown are the ones that kernel multiplies. ``U`` depends on the kernel
only and is computed once; each tile costs the ``P = (m+2)**rank`` element-wise
multiplications of ``M``, against ``m**rank * 3**rank`` for the direct method
(``3**rank`` per output cell): 4 against 6 for F(2, 3), 6 against 12 for F(4, 3),
16 against 36 for F(2x2, 3x3), 36 against 144 for F(4x4, 3x3). The transforms of
``d`` and ``M`` add, subtract and multiply by the matrices' small constants; the
count of the tutorials (and of this module) leaves them out.

Where an output size is not a multiple of ``m``, the last tiles reach beyond
``x``: their ``d`` is extended with zeros (``extended`` marks those cells) and
their ``Y`` is cropped to the cells inside the output, as the library's kernel
does. Everything is computed in float64; ``direct`` is the same correlation by
plain loops over the taps, and ``output`` equals it to rounding (exactly for
small integers with m = 2, whose matrices hold only halves).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..kernels.conv.winograd import KERNEL_SIZE, TILES, matrices

__all__ = ["WinogradSteps", "WinogradTile", "winograd"]

EXTENDED = "0*"   # how format() shows a cell of d added beyond the input


@dataclass(frozen=True, eq=False)
class WinogradTile:
    """One output tile of :func:`winograd`, in float64 (read-only arrays; ``s = m + 2``, ``r`` the rank).

    index: the tile's place in the grid of tiles, (i,) or (i, j).
    position: its first output cell, (i*m,) or (i*m, j*m), which is also the first cell of ``d`` in ``x``.
    d: the input tile, (s,) or (s, s), cut from ``x``; cells beyond ``x`` hold 0.
    extended: boolean, d's shape: True where the cell lies beyond ``x`` (zero-extended).
    V: B^T d (1D) or B^T d B (2D), d's shape.
    M: U * V element-wise, d's shape.
    Y: A^T M (1D) or A^T M A (2D), (m,) or (m, m), cropped to the cells inside the output.
    """

    index: tuple
    position: tuple
    d: np.ndarray
    extended: np.ndarray
    V: np.ndarray
    M: np.ndarray
    Y: np.ndarray


@dataclass(frozen=True, eq=False)
class WinogradSteps:
    """Every step of F(m, 3) or F(m x m, 3 x 3) on one input; see the module docstring. float64, read-only.

    tile: m (2 or 4). rank: 1 or 2.
    BT (s, s), G (s, 3), AT (m, s): the transform matrices B^T, G, A^T, ``s = m + 2``.
    x: the input, (n,) or (h, w). kernel: g, (3,) or (3, 3).
    U: the transformed kernel G g (s,) or G g G^T (s, s).
    tiles: one :class:`WinogradTile` per output tile, row by row.
    output: the Winograd result, (n - 2,) or (h - 2, w - 2). direct: the direct correlation, the same shape.
    tile_multiplications: element-wise multiplications per tile, ``P = s**rank``.
    tile_direct_multiplications: the direct method's for the tile's ``m**rank`` cells, ``m**rank * 3**rank``.
    multiplications: Winograd's for the whole input, ``len(tiles) * P`` (cropped cells included).
    direct_multiplications: the direct method's, ``output.size * 3**rank``.
    """

    tile: int
    rank: int
    BT: np.ndarray
    G: np.ndarray
    AT: np.ndarray
    x: np.ndarray
    kernel: np.ndarray
    U: np.ndarray
    tiles: tuple
    output: np.ndarray
    direct: np.ndarray
    tile_multiplications: int
    tile_direct_multiplications: int
    multiplications: int
    direct_multiplications: int

    @property
    def name(self) -> str:
        """'F(2, 3)', 'F(4, 3)', 'F(2x2, 3x3)' or 'F(4x4, 3x3)'."""
        m = self.tile
        return f"F({m}, 3)" if self.rank == 1 else f"F({m}x{m}, 3x3)"

    @property
    def max_difference(self) -> float:
        """max |output - direct| (0 for an empty output)."""
        return float(np.max(np.abs(self.output - self.direct), initial=0.0))

    def format(self, max_tiles: int = 3, max_cells: int = 144) -> str:
        """The steps as a tutorial prints them: the first ``max_tiles`` tiles in full (the number left out
        said), output and direct grids of at most ``max_cells`` cells (their first rows and columns)."""
        return "\n".join(_format_lines(self, max_tiles, max_cells))

    def __str__(self) -> str:
        return self.format()


def winograd(x, kernel, tile: int = 2) -> WinogradSteps:
    """The valid cross-correlation of ``x`` with ``kernel`` by Winograd's F(tile, 3) or F(tile x tile, 3 x 3).

    x: (n,) with n >= 3, or (h, w) with h, w >= 3; real numbers, finite. kernel: (3,) for a 1D ``x``,
    (3, 3) for a 2D one. tile: 2 or 4. Returns every step in float64 (:class:`WinogradSteps`); its
    ``output`` has shape (n - 2,) or (h - 2, w - 2).
    """
    if isinstance(tile, bool) or tile not in TILES:
        raise ValueError(f"tile must be one of {', '.join(map(str, TILES))}; received tile={tile!r}")
    x = _real_array(x, "x")
    if x.ndim not in (1, 2) or min(x.shape, default=0) < KERNEL_SIZE:
        raise ValueError(f"x must be a 1D array (n,) with n >= 3 or a 2D array (h, w) with h, w >= 3; "
                         f"received shape {x.shape}")
    rank = x.ndim
    kernel = _real_array(kernel, "kernel")
    if kernel.shape != (KERNEL_SIZE,) * rank:
        expected = "(3,)" if rank == 1 else "(3, 3)"
        raise ValueError(f"kernel must have shape {expected} for a {rank}D x of shape {x.shape}; "
                         f"received shape {kernel.shape}")
    BT, G, AT = (_frozen(matrix) for matrix in matrices(tile))
    m, side = tile, tile + 2
    out_shape = tuple(n - (KERNEL_SIZE - 1) for n in x.shape)
    counts = tuple(-(-n // m) for n in out_shape)              # tiles per axis, the last may be cropped
    # x zero-extended at the end of each axis so that every tile's d is whole: (counts*m + 2, ...)
    extended_shape = tuple(count * m + KERNEL_SIZE - 1 for count in counts)
    padded = np.zeros(extended_shape)
    padded[tuple(slice(0, n) for n in x.shape)] = x
    beyond = np.ones(extended_shape, dtype=bool)
    beyond[tuple(slice(0, n) for n in x.shape)] = False

    if rank == 1:
        U = G @ kernel                                          # (s, 3) @ (3,) -> (s,)
    else:
        U = G @ kernel @ G.T                                    # (s, 3) @ (3, 3) @ (3, s) -> (s, s)
    output = np.zeros(out_shape)
    tiles = []
    for index in np.ndindex(*counts):
        position = tuple(i * m for i in index)
        window = tuple(slice(p, p + side) for p in position)
        d = padded[window]                                      # (s,) or (s, s)
        if rank == 1:
            V = BT @ d                                          # (s, s) @ (s,) -> (s,)
            M = U * V
            Y = AT @ M                                          # (m, s) @ (s,) -> (m,)
        else:
            V = BT @ d @ BT.T                                   # (s, s) @ (s, s) @ (s, s) -> (s, s)
            M = U * V
            Y = AT @ M @ AT.T                                   # (m, s) @ (s, s) @ (s, m) -> (m, m)
        # the output cells of this tile that lie inside the output
        inside = tuple(slice(0, min(m, n - p)) for p, n in zip(position, out_shape))
        Y = Y[inside]
        output[tuple(slice(p, p + cells.stop) for p, cells in zip(position, inside))] = Y
        tiles.append(WinogradTile(index=index, position=position, d=_frozen(d), extended=_frozen(beyond[window]),
                                  V=_frozen(V), M=_frozen(M), Y=_frozen(Y)))
    points = side ** rank
    return WinogradSteps(
        tile=m, rank=rank, BT=BT, G=G, AT=AT, x=_frozen(x), kernel=_frozen(kernel), U=_frozen(U),
        tiles=tuple(tiles), output=_frozen(output), direct=_frozen(direct_correlation(x, kernel)),
        tile_multiplications=points, tile_direct_multiplications=m ** rank * KERNEL_SIZE ** rank,
        multiplications=len(tiles) * points, direct_multiplications=math.prod(out_shape) * KERNEL_SIZE ** rank)


def direct_correlation(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Valid cross-correlation by plain loops over the taps, float64: (n,), (k,) -> (n - k + 1,); 2D alike.

    ``out[i, j] = sum over a, b of x[i + a, j + b] * kernel[a, b]``: each tap adds its weight times the
    input shifted by the tap's offset, one multiplication per output cell and tap.
    """
    x = np.asarray(x, dtype=np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)
    out_shape = tuple(n - k + 1 for n, k in zip(x.shape, kernel.shape))
    out = np.zeros(out_shape)
    for tap in np.ndindex(*kernel.shape):
        out += kernel[tap] * x[tuple(slice(t, t + n) for t, n in zip(tap, out_shape))]
    return out


def _real_array(values, name: str) -> np.ndarray:
    """``values`` as float64; a ValueError naming ``name`` for non-numbers, complex numbers, nan or inf."""
    array = np.asarray(values)
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool) \
            or np.issubdtype(array.dtype, np.complexfloating):
        raise ValueError(f"{name} must hold real numbers; received dtype {array.dtype}")
    array = array.astype(np.float64)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must hold finite numbers; received nan or inf")
    return array


def _frozen(array: np.ndarray) -> np.ndarray:
    array = np.array(array, dtype=np.float64 if array.dtype != bool else bool)
    array.flags.writeable = False
    return array


# --- text -----------------------------------------------------------------------

def number_text(value: float) -> str:
    """An exact fraction such as 1/6 or -2 where one of denominator <= 1000 equals ``value``, else 4 digits."""
    value = float(value)
    fraction = Fraction(value).limit_denominator(1000)
    if float(fraction) == value:
        return str(fraction)
    return f"{value:.4g}"


def _grid(values: np.ndarray, mask=None, max_cells: int = 10**9, indent: str = "    ") -> list[str]:
    """A 1D or 2D array as aligned rows of :func:`number_text` cells; ``mask`` cells shown as EXTENDED.

    More than ``max_cells`` cells: the first rows and columns, and a line saying how many there are.
    """
    values = np.atleast_2d(values)
    mask = np.zeros(values.shape, dtype=bool) if mask is None else np.atleast_2d(mask)
    rows, cols = values.shape
    shown_cols = min(cols, max(1, max_cells if rows == 1 else math.isqrt(max_cells)))
    shown_rows = min(rows, max(1, max_cells // shown_cols))
    texts = [[EXTENDED if mask[r, c] else number_text(values[r, c]) for c in range(shown_cols)]
             for r in range(shown_rows)]
    width = max(len(text) for row in texts for text in row)
    more = " ..." if shown_cols < cols else ""
    lines = [f"{indent}[{' '.join(text.rjust(width) for text in row)}{more}]" for row in texts]
    if (shown_rows, shown_cols) != (rows, cols):
        lines.append(f"{indent}... {rows} x {cols} = {rows * cols} cells, first {shown_rows} rows and "
                     f"{shown_cols} columns shown")
    return lines


def _size(shape: tuple) -> str:
    """'4 cells' for a 1D shape, '4 x 4' for a 2D one."""
    if len(shape) == 1:
        return _plural(shape[0], "cell")
    return " x ".join(map(str, shape))


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _where(position: tuple, shape: tuple, axes: tuple) -> str:
    """'rows 0-1, column 2' for a block of ``shape`` at ``position`` (axes: singular names)."""
    spans = []
    for axis, start, count in zip(axes, position, shape):
        spans.append(f"{axis} {start}" if count == 1 else f"{axis}s {start}-{start + count - 1}")
    return ", ".join(spans)


def _ratio(direct: int, winograd: int) -> str:
    return f"{direct / winograd:.3g}x fewer" if winograd else "none"


def _format_lines(steps: WinogradSteps, max_tiles: int, max_cells: int) -> list[str]:
    m, rank, side = steps.tile, steps.rank, steps.tile + 2
    axes = ("cell",) if rank == 1 else ("row", "column")
    tile_shape, input_shape = (m,) * rank, (side,) * rank
    grid_tiles = tuple(-(-n // m) for n in steps.output.shape)
    lines = [f"Winograd {steps.name}: output tiles of {_size(tile_shape)} from input tiles d of "
             f"{_size(input_shape)}, {steps.tile_multiplications} element-wise multiplications per tile",
             f"x: {_size(steps.x.shape)}, kernel g: {_size(steps.kernel.shape)}; valid cross-correlation "
             f"(no kernel flip, stride 1), output {_size(steps.output.shape)} in "
             f"{_plural(len(steps.tiles), 'tile')}" + ("" if rank == 1 else f" ({_size(grid_tiles)})")]
    if rank == 1:
        lines += ["", "  U = G g       V = B^T d       M = U * V       Y = A^T M       (* element-wise)"]
    else:
        lines += ["", "  U = G g G^T   V = B^T d B     M = U * V       Y = A^T M A     (* element-wise)"]
    for label, matrix in (("B^T", steps.BT), ("G", steps.G), ("A^T", steps.AT)):
        lines += ["", f"{label} ({_size(matrix.shape)}):", *_grid(matrix)]
    transform = "G g" if rank == 1 else "G g G^T"
    lines += ["", f"kernel g ({_size(steps.kernel.shape)}):", *_grid(steps.kernel),
              f"U = {transform} ({_size(steps.U.shape)}), once per kernel:", *_grid(steps.U)]
    product = "A^T M" if rank == 1 else "A^T M A"
    for tile in steps.tiles[:max(0, max_tiles)]:
        label = tile.index[0] if rank == 1 else tile.index
        lines += ["", f"tile {label}: output {_where(tile.position, tile.Y.shape, axes)}; "
                      f"input {_where(tile.position, tile.d.shape, axes)}"]
        note = ""
        if tile.extended.any():
            note = f", {EXTENDED}: a zero beyond x, so that the tile is whole"
        lines += [f"  d ({_size(tile.d.shape)}{note}):", *_grid(tile.d, tile.extended),
                  f"  V = {'B^T d' if rank == 1 else 'B^T d B'}:", *_grid(tile.V),
                  f"  M = U * V ({tile.M.size} multiplications):", *_grid(tile.M)]
        cropped = "" if tile.Y.shape == tile_shape else \
            f", cropped to {_size(tile.Y.shape)}: the rest lies beyond the output"
        lines += [f"  Y = {product}{cropped}:", *_grid(tile.Y)]
    left_out = len(steps.tiles) - max(0, min(max_tiles, len(steps.tiles)))
    if left_out:
        lines += ["", f"... {left_out} more tile{'s' if left_out != 1 else ''} not shown (computed alike; "
                      f"all are in .tiles)"]
    difference = steps.max_difference
    agree = "agree" if difference <= 1e-9 * max(1.0, float(np.max(np.abs(steps.direct), initial=0.0))) \
        else "DISAGREE"
    per_cell = KERNEL_SIZE ** rank
    cells = m ** rank
    lines += ["", f"output, Winograd ({_size(steps.output.shape)}):", *_grid(steps.output, max_cells=max_cells),
              f"direct cross-correlation, plain loops ({_size(steps.direct.shape)}):",
              *_grid(steps.direct, max_cells=max_cells),
              f"they {agree}: max |Winograd - direct| = {difference:.3g}"
              + ("" if difference == 0 else " (float64 rounding: fractions such as 1/6 and most decimals are not "
                                            "exact in binary)"),
              "",
              f"multiplications per tile: Winograd {steps.tile_multiplications} (the element-wise U * V), "
              f"direct {steps.tile_direct_multiplications} ({cells} cells x {per_cell}): "
              f"{_ratio(steps.tile_direct_multiplications, steps.tile_multiplications)}",
              f"whole input: Winograd {_plural(len(steps.tiles), 'tile')} x {steps.tile_multiplications} = "
              f"{steps.multiplications}, direct {steps.output.size} cells x {per_cell} = "
              f"{steps.direct_multiplications}: {_ratio(steps.direct_multiplications, steps.multiplications)}",
              "(U is computed once per kernel; the transforms of d and M add and multiply by the small constants "
              "of B^T and A^T, left out of the count as in the tutorials)"]
    return lines
