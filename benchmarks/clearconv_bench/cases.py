"""The standard cases: a clearconv layer, its input, and what PyTorch's twin of it needs.

PyTorch's side is described here as data (options of its module, an explicit
pad) and built in :mod:`.torch_twins`, so this module needs no PyTorch
(``benchmarks/profile_conv.py`` uses it alone).

Layouts: clearconv runs channels_last (NHWC), its internal layout. PyTorch
runs in each of its memory formats for the case's rank (:data:`MEMORY_FORMATS`:
contiguous NCHW, and channels_last for 2D; 1D tensors have no such choice),
with the same weights converted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from clearconv import layers as cc_layers

# PyTorch's memory formats per number of spatial axes, contiguous first. torch has no channels_last for 3D tensors.
MEMORY_FORMATS = {1: ("contiguous",), 2: ("contiguous", "channels_last"), 3: ("contiguous", "channels_last_3d")}


@dataclass(frozen=True)
class Case:
    """One benchmark case: a clearconv layer and the description of the equivalent PyTorch computation."""

    name: str
    description: str
    input_shape: tuple                 # channels_last (N, *spatial, C)
    make_clearconv: Callable           # (**options) -> clearconv layer; options: algorithm= for kind "conv"
    kind: str                          # "conv" (through the dispatcher), "transposed" or "pool"
    is_2d: bool                        # counts for the 2D targets
    is_conv: bool                      # counts for the median over conv cases
    torch_options: dict = field(default_factory=dict)   # keyword arguments of PyTorch's conv module
    torch_pads: tuple | None = None    # F.pad before PyTorch's module (Keras 'same' padding it cannot express)

    @property
    def rank(self) -> int:
        """Number of spatial axes."""
        return len(self.input_shape) - 2

    @property
    def torch_formats(self) -> tuple:
        """PyTorch memory formats timed for this case, contiguous first."""
        return MEMORY_FORMATS[self.rank]


def standard_cases() -> dict[str, Case]:
    """The standard cases, in the order of :data:`.names.CASE_NAMES` (lenet-epoch, which trains, is :mod:`.epoch`)."""
    L = cc_layers
    cases = [
        Case("lenet-conv1", "N=64, 28x28x1, Conv2D 6, 5x5, valid", (64, 28, 28, 1),
             lambda **o: L.Conv2D(6, 5, **o), "conv", True, True),
        Case("lenet-conv2", "N=64, 12x12x6, Conv2D 16, 5x5, valid", (64, 12, 12, 6),
             lambda **o: L.Conv2D(16, 5, **o), "conv", True, True),
        Case("vgg-3x3", "N=8, 56x56x64, Conv2D 64, 3x3, same", (8, 56, 56, 64),
             lambda **o: L.Conv2D(64, 3, padding="same", **o), "conv", True, True, {"padding": 1}),
        Case("deep-3x3", "N=16, 28x28x128, Conv2D 128, 3x3, same", (16, 28, 28, 128),
             lambda **o: L.Conv2D(128, 3, padding="same", **o), "conv", True, True, {"padding": 1}),
        Case("pointwise", "N=16, 14x14x256, Conv2D 64, 1x1", (16, 14, 14, 256),
             lambda **o: L.Conv2D(64, 1, **o), "conv", True, True),
        # Keras 'same', k3 s2 on 56: output 28, total pad (28-1)*2+3-56 = 1 -> (0 before, 1 after).
        # torch padding=1 would pad (1, 1) and read other cells, so pad explicitly (counted in torch's time).
        Case("strided", "N=16, 56x56x64, Conv2D 128, 3x3, stride 2, same", (16, 56, 56, 64),
             lambda **o: L.Conv2D(128, 3, strides=2, padding="same", **o), "conv", True, True,
             {"stride": 2}, (0, 1, 0, 1)),
        Case("conv1d", "N=32, 1024x16, Conv1D 32, 9, same", (32, 1024, 16),
             lambda **o: L.Conv1D(32, 9, padding="same", **o), "conv", False, False, {"padding": 4}),
        Case("transposed", "N=16, 14x14x64, Conv2DTranspose 32, 2x2, stride 2", (16, 14, 14, 64),
             lambda: L.Conv2DTranspose(32, 2, strides=2), "transposed", True, True),
        Case("maxpool", "N=64, 28x28x32, MaxPooling2D 2x2", (64, 28, 28, 32),
             lambda: L.MaxPooling2D((2, 2)), "pool", True, False),
    ]
    return {case.name: case for case in cases}
