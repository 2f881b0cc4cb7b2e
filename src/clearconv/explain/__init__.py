"""Explanations of what a model computes, one value at a time.

:func:`trace` follows one output value of one layer back to the numbers it was
computed from (see :mod:`clearconv.explain.trace`); :func:`shape_table` gives
every layer's output shape, parameters, multiply-accumulates and receptive
field (:mod:`clearconv.explain.shapes`); :func:`apply_kernel` filters an image
with a named tutorial kernel (:mod:`clearconv.explain.filters`).
"""

from .filters import KERNELS, apply_kernel, kernel
from .shapes import LayerRow, format_shape_table, shape_table
from .trace import SUPPORTED_LAYERS, Trace, Tracer, trace

__all__ = ["KERNELS", "LayerRow", "SUPPORTED_LAYERS", "Trace", "Tracer", "apply_kernel", "format_shape_table", "kernel",
           "shape_table", "trace"]
