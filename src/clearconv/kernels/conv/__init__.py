"""N-d convolution and transposed convolution: the one dispatcher.

Contract (the same for every algorithm behind :func:`conv`):

    y[n, o, f] = bias[f] + sum_{tap j, channel c of f's group}
                 xpad[n, o*s + j*d, c] * kernel[j, c - group_start, f]

a cross-correlation (no kernel flip), channels_last, kernel in Keras layout
``(*k, C // groups, F)``. ``pads`` is one ``(before, after)`` pair per spatial
axis (see :mod:`clearconv.kernels.shapes`), so the output size per axis is
``(L + before + after - d*(k-1) - 1) // s + 1``. A batch of 0 gives empty
outputs and input gradients and zero weight gradients, as in PyTorch.

One concept per module:

* :mod:`.choice`: the algorithms (``"im2col"``, ``"winograd2"``,
  ``"winograd4"``, ``"fft"``, ``"direct"``; ``"winograd"`` = ``"winograd4"``),
  what each supports, their float32 bounds, and ``"auto"``'s choice, which
  depends on the shapes only;
* :mod:`.convolution`: running the forward and the backward by that
  algorithm, batch chunks under the column-buffer limit;
* :mod:`.output`: the bias and fused ReLU pass over the output, and its backward;
* :mod:`.transpose`: the transposed convolution (a convolution's input gradient);
* the algorithms: :mod:`.im2col`, :mod:`.winograd`, :mod:`.fft`, and
  :mod:`.reference` (the textbook loops, the oracle); beside two of them the
  optional compiled kernels, :mod:`.im2col_compiled`, :mod:`.winograd_compiled`
  (and :mod:`.output_compiled` beside :mod:`.output`).

Every algorithm computes the same function; they differ in speed and in float32
rounding. The speed thresholds behind ``"auto"`` and the fast paths are in
:mod:`clearconv.kernels.tuning`.
"""

from __future__ import annotations

from . import fft, im2col, reference, winograd
from .choice import (ACCEPTED, ALGORITHMS, ALIASES, canonical, check_algorithm, choose_algorithm,
                     default_algorithm, resolve_algorithm, set_default_algorithm, supports)
from .convolution import (ConvContext, chunk_samples, column_buffer_limit, conv, conv_backward,
                          set_column_buffer_limit)
from .output import FUSED_ACTIVATIONS, bias_grad
from .transpose import TransposeContext, conv_transpose, conv_transpose_backward

__all__ = ["ACCEPTED", "ALGORITHMS", "ALIASES", "FUSED_ACTIVATIONS", "ConvContext", "TransposeContext",
           "bias_grad", "canonical", "check_algorithm", "choose_algorithm", "chunk_samples", "column_buffer_limit",
           "conv", "conv_backward", "conv_transpose", "conv_transpose_backward", "default_algorithm", "fft", "im2col",
           "reference", "resolve_algorithm", "set_column_buffer_limit", "set_default_algorithm", "supports",
           "winograd"]
