"""Explanations of what a model computes, one value at a time.

:func:`trace` follows one output value of one layer back to the numbers it was
computed from, and :class:`Tracer` does so for many values of one input with a
single forward pass (:mod:`clearconv.explain.trace`); :func:`shape_table` gives
every layer's output shape, parameters, multiply-accumulates and receptive
field (:mod:`clearconv.explain.shapes`); :func:`apply_kernel` filters an image
with a named tutorial kernel, :func:`sample_image` reads one of scikit-image's
sample photographs (:mod:`clearconv.explain.filters`); :func:`winograd` works
Winograd's F(m, 3) and F(m x m, 3 x 3) out tile by tile
(:mod:`clearconv.explain.winograd`). :mod:`clearconv.explain.plot` draws kernels,
feature maps, training curves and confusion matrices (with matplotlib, the
``plot`` extra), laying kernels out as :func:`clearconv.explain.kernels.kernel_grid`
does; :mod:`clearconv.explain.report` writes the interactive
explainer page of ``clearconv report``. docs/explain.md walks through them all.
"""

from . import plot
from .filters import KERNELS, apply_kernel, kernel, sample_image, sample_images
from .shapes import LayerRow, format_shape_table, shape_table
from .trace import SUPPORTED_LAYERS, Trace, Tracer, trace
from .winograd import WinogradSteps, WinogradTile, winograd

__all__ = ["plot", "KERNELS", "LayerRow", "SUPPORTED_LAYERS", "Trace", "Tracer", "WinogradSteps", "WinogradTile",
           "apply_kernel", "format_shape_table", "kernel", "sample_image", "sample_images", "shape_table", "trace",
           "winograd"]
