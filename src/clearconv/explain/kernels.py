"""A convolution layer's kernels as one grid of 1-, 2- or 3-D kernels: rows by columns.

    grid, row_name, column_name, note = kernel_grid(layer)
    grid[r, c]                                  # one kernel, shape kernel_size: row r, column c

Both pictures of kernels, :func:`clearconv.explain.plot.kernels` and the explainer page of
:mod:`clearconv.explain.report`, draw this grid, so they lay the kernels out alike. The layout per
layer kind (``k`` is ``kernel_size``, the weight's shape in brackets):

* Conv1D/2D/3D, kernel (*k, C / groups, F): row f is filter f (output channel f), column c the
  input channel c of the filter's group: ``grid[f, c] = kernel[..., c, f]``, shape (F, C / groups, *k).
* Conv1D/2D/3DTranspose, kernel (*k, F, C): row f is filter f, column c input channel c:
  ``grid[f, c] = kernel[..., f, c]``, shape (F, C, *k).
* DepthwiseConv1D/2D, depthwise kernel (*k, C, dm), and SeparableConv1D/2D's depthwise stage (its
  pointwise 1x1 kernel is not in the grid): row m is the multiplier m, column c the input channel c,
  the kernel of output channel c * dm + m of the depthwise stage: ``grid[m, c] = kernel[..., c, m]``,
  shape (dm, C, *k).

Every grid is (rows, columns, *k): the kernel's taps keep their order along each spatial axis, a
cross-correlation's taps (no flip), as the layers apply them.
"""

from __future__ import annotations

import numpy as np

__all__ = ["CONVOLUTION_KINDS", "is_convolution", "kernel_grid"]

CONVOLUTION_KINDS = ("Conv1D, Conv2D, Conv3D, DepthwiseConv1D, DepthwiseConv2D, SeparableConv1D, SeparableConv2D, "
                     "Conv1DTranspose, Conv2DTranspose, Conv3DTranspose")


def _kinds():
    from ..layers import conv
    return conv._Conv, conv._ConvTranspose, conv._DepthwiseConv


def is_convolution(layer) -> bool:
    """Whether :func:`kernel_grid` takes ``layer``: a layer of one of :data:`CONVOLUTION_KINDS`."""
    return isinstance(layer, _kinds())


def kernel_grid(layer, caller: str = "kernel_grid"):
    """(grid, row_name, column_name, note) of a convolution layer's kernels; see the module docstring.

    grid: float64 array (rows, columns, *kernel_size), the layer's weights exactly (a copy). row_name and
    column_name say what a row and a column are ("filter" and "input channel", "multiplier" and "input
    channel", ...); note says what the grid leaves out or how its cells map to output channels ("" when
    a row is simply an output channel). ``caller`` starts the error messages.

    TypeError for a layer of another kind; ValueError for a layer not built yet (it has no kernel).
    """
    from ..layers import conv
    kind = type(layer).__name__
    if not is_convolution(layer):
        raise TypeError(f"{caller}: `layer` must be a convolution layer ({CONVOLUTION_KINDS}); received "
                        f"{getattr(layer, 'name', layer)!r} ({kind})")
    if not layer.built:
        raise ValueError(f"{caller}: layer {layer.name!r} ({kind}) is not built yet, so it has no kernel: "
                         f"build it (call it on an input, or build the model) first")
    if isinstance(layer, conv._DepthwiseConv):        # SeparableConv included: its depthwise stage
        weights = np.array(layer.depthwise_kernel.data, dtype=np.float64)     # (*k, C, dm)
        note = "row m, column c: the kernel of output channel c * depth_multiplier + m of the depthwise stage"
        if isinstance(layer, conv._SeparableConv):
            note += " (the pointwise 1x1 kernel is not drawn)"
        return np.moveaxis(weights, (-1, -2), (0, 1)), "multiplier", "input channel", note  # -> (dm, C, *k)
    if isinstance(layer, conv._ConvTranspose):
        weights = np.array(layer.kernel.data, dtype=np.float64)               # (*k, F, C)
        note = "transposed-convolution kernels: filter f scatters each input cell through kernel[..., f, :]"
        return np.moveaxis(weights, (-2, -1), (0, 1)), "filter", "input channel", note      # -> (F, C, *k)
    weights = np.array(layer.kernel.data, dtype=np.float64)                   # (*k, C / groups, F)
    column = "input channel" if layer.groups == 1 else "channel of its group"
    note = "" if layer.groups == 1 else (f"{layer.groups} groups: filter f reads the input channels of group "
                                         f"f // {weights.shape[-1] // layer.groups}")
    return np.moveaxis(weights, (-1, -2), (0, 1)), "filter", column, note                   # -> (F, C / groups, *k)
