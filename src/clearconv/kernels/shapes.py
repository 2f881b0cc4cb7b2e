"""The one place for output sizes and padding amounts.

Every convolution, transposed convolution and pooling in clearconv asks this
module how large its output is and where its padding goes, so the arithmetic
is written (and tested) once. Conventions follow Keras/TensorFlow:

* ``valid``: no padding, ``out = floor((L - k_eff) / s) + 1`` with the
  effective kernel ``k_eff = d * (k - 1) + 1``.
* ``same``: ``out = ceil(L / s)``; the total padding
  ``max(0, (out - 1) * s + k_eff - L)`` is split with the odd extra cell
  *after* (bottom/right), as TensorFlow does. PyTorch instead refuses
  ``same`` with strides > 1.
* ``causal`` (1D only): ``k_eff - 1`` zeros before, none after.
* explicit: an int ``p`` (``p`` on both sides, PyTorch's convention) or a
  pair ``(before, after)`` per spatial dimension.
"""

from __future__ import annotations

import numbers
from typing import Sequence, Union

PaddingSpec = Union[str, int, Sequence]
PADDING_MODES = ("valid", "same", "causal")
MAX_SIZE = 2**63 - 1  # the largest array dimension NumPy accepts (np.intp on 64-bit)


def effective_kernel(kernel: int, dilation: int) -> int:
    """Span of a dilated kernel: ``d * (k - 1) + 1``."""
    return dilation * (kernel - 1) + 1


def conv_padding(length: int, kernel: int, stride: int, dilation: int, padding) -> tuple[int, int]:
    """Zeros (before, after) that a convolution adds to one spatial axis.

    ``padding`` is ``"valid"``, ``"same"``, ``"causal"``, an int or a
    ``(before, after)`` pair.
    """
    k_eff = effective_kernel(kernel, dilation)
    if isinstance(padding, str):
        if padding == "valid":
            return 0, 0
        if padding == "causal":
            return k_eff - 1, 0
        if padding == "same":
            output = -(-length // stride)
            total = max(0, (output - 1) * stride + k_eff - length)
            return total // 2, total - total // 2
        raise ValueError(f"padding must be one of {PADDING_MODES}, an int or (before, after); received {padding!r}")
    if isinstance(padding, (int,)) and not isinstance(padding, bool):
        return int(padding), int(padding)
    before, after = padding
    return int(before), int(after)


def conv_output_length(length: int, kernel: int, stride: int, dilation: int, padding) -> int:
    """Output size of a convolution along one axis (may be <= 0: callers check)."""
    before, after = conv_padding(length, kernel, stride, dilation, padding)
    return (length + before + after - effective_kernel(kernel, dilation)) // stride + 1


def conv_output_shape(spatial: Sequence[int], kernel_size: Sequence[int], strides: Sequence[int],
                      dilation: Sequence[int], pads: PaddingSpec = "valid") -> tuple[int, ...]:
    """Spatial output shape of an N-d convolution: :func:`conv_output_length` per axis.

    ``pads`` is one padding per spatial axis (a ``(before, after)`` pair, an
    int or a mode) or one mode for every axis; the default ``"valid"`` is for
    an input that is already padded. Sizes may be <= 0: callers check.
    """
    rank = len(spatial)
    if isinstance(pads, str):
        pads = (pads,) * rank
    _check_rank(rank, kernel_size=kernel_size, strides=strides, dilation=dilation, pads=pads)
    return tuple(conv_output_length(length, k, s, d, pad)
                 for length, k, s, d, pad in zip(spatial, kernel_size, strides, dilation, pads))


def _check_rank(rank: int, **per_axis) -> None:
    """Every argument has one entry per spatial axis; a ValueError naming the first that does not."""
    for name, values in per_axis.items():
        if len(values) != rank:
            raise ValueError(f"`{name}` must have one entry per spatial axis ({rank}); received {name}={values!r}")


def conv_transpose_output_length(length: int, kernel: int, stride: int, dilation: int,
                                 padding: str, output_padding: int | None) -> int:
    """Output size of a Keras transposed convolution along one axis.

    valid: ``(L-1)*s + max(k_eff, s)`` (``(L-1)*s + k_eff + p`` with output padding p);
    same:  ``L*s`` (``(L-1)*s + k_eff % 2 + p`` with output padding p).
    """
    k_eff = effective_kernel(kernel, dilation)
    if padding == "valid":
        if output_padding is None:
            return (length - 1) * stride + max(k_eff, stride)
        return (length - 1) * stride + k_eff + output_padding
    if padding == "same":
        if output_padding is None:
            return length * stride
        return (length - 1) * stride + k_eff % 2 + output_padding
    raise ValueError(f"padding must be 'valid' or 'same' for a transposed convolution; received {padding!r}")


def conv_transpose_crop(kernel: int, stride: int, dilation: int, padding: str,
                        output_padding: int | None) -> int:
    """Where a Keras transposed convolution's output starts in the full scatter buffer.

    A transposed convolution scatters input cell ``i`` through kernel tap ``j``
    to buffer position ``i*s + j*d``; the output is the buffer window
    ``[crop, crop + out)``. ``crop`` is the left padding of the forward
    convolution this layer is the gradient of.
    """
    k_eff = effective_kernel(kernel, dilation)
    if padding == "valid":
        return 0
    if output_padding is None:
        pad_len = stride + k_eff - 2
    else:
        pad_len = k_eff + k_eff % 2 - 2 + output_padding
    left = min(pad_len // 2 + pad_len % 2, k_eff - 1)
    return k_eff - 1 - left


def transposed_buffer_length(length: int, kernel: int, stride: int, dilation: int,
                             crop: int, output: int) -> int:
    """Length of the scatter buffer that holds every output cell of a transposed conv.

    At least ``(L-1)*s + k_eff`` (where the last tap lands) and at least
    ``crop + out`` (cells past the last tap receive only the bias).
    """
    return max((length - 1) * stride + effective_kernel(kernel, dilation), crop + output)


def pool_padding(length: int, pool: int, stride: int, padding: str) -> tuple[int, int]:
    """Cells (before, after) a pooling window may overhang, as for convolution."""
    if padding not in ("valid", "same"):
        raise ValueError(f"padding must be 'valid' or 'same' for pooling; received {padding!r}")
    return conv_padding(length, pool, stride, 1, padding)


def pool_output_length(length: int, pool: int, stride: int, padding: str) -> int:
    """Output size of a pooling along one axis: a convolution of dilation 1."""
    return conv_output_length(length, pool, stride, 1, pool_padding(length, pool, stride, padding))


def pool_output_shape(spatial: Sequence[int], pool_size: Sequence[int], strides: Sequence[int],
                      pads: PaddingSpec) -> tuple[int, ...]:
    """Spatial output shape of an N-d pooling: a convolution of dilation 1 per axis.

    ``pads`` as for :func:`conv_output_shape` (the pairs of :func:`pool_padding`,
    or ``"valid"``/``"same"``): ``out = (L + before + after - p) // s + 1``.
    """
    return conv_output_shape(spatial, pool_size, strides, (1,) * len(spatial), pads)


def normalize_tuple(value, rank: int, name: str, owner: str = "", allow_zero: bool = False) -> tuple[int, ...]:
    """An int or a sequence of ``rank`` ints, returned as a tuple of positive ints.

    ``owner`` names the layer in the error message.
    """
    prefix = f"{owner}: " if owner else ""
    if isinstance(value, bool):
        raise TypeError(f"{prefix}`{name}` must be an int or a tuple of {rank} ints; received {value!r}")
    if isinstance(value, numbers.Integral):  # Python's and NumPy's integers, as Keras's int() takes them
        values = (int(value),) * rank
    else:
        try:
            values = tuple(value)
        except TypeError:
            raise TypeError(f"{prefix}`{name}` must be an int or a tuple of {rank} ints; received {value!r}") from None
        if len(values) != rank or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool)
                                          for v in values):
            raise ValueError(f"{prefix}`{name}` must be an int or a tuple of {rank} ints; received {value!r}")
        values = tuple(int(v) for v in values)
    lowest = 0 if allow_zero else 1
    if any(v < lowest for v in values):
        accepted = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{prefix}`{name}` must contain only {accepted} integers; received {name}={value!r}")
    if any(v > MAX_SIZE for v in values):
        raise ValueError(f"{prefix}`{name}` must contain integers of at most 2**63 - 1; received {name}={value!r}")
    return tuple(int(v) for v in values)
