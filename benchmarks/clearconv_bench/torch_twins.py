"""PyTorch's side of a case: the twin module, in each memory format, with the same weights.

Weights convert from Keras's layouts: a Conv kernel ``(*k, C_in, F)`` ->
``(F, C_in, *k)``; a Conv2DTranspose kernel ``(*k, F, C_in)`` ->
ConvTranspose2d's ``(C_in, F, *k)`` (the same permutation of axes), so
``Conv2DTranspose(32, 2, strides=2)`` is exactly
``nn.ConvTranspose2d(64, 32, 2, stride=2)``.

Each memory format gets its own copy of the module (``module.to(memory_format=
...)``) and its own input and upstream gradient in that format, made once
before timing: a user who picks channels_last keeps the whole network in it,
so no conversion is timed. An explicit pad (``Case.torch_pads``) is timed,
since a PyTorch user has to do the same.
"""

from __future__ import annotations

import copy
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as torch_functional

from .cases import Case


def memory_format(name: str) -> torch.memory_format:
    """``torch.memory_format`` of a name of :data:`.cases.MEMORY_FORMATS`."""
    formats = {"contiguous": torch.contiguous_format, "channels_last": torch.channels_last,
               "channels_last_3d": torch.channels_last_3d}
    if name not in formats:
        raise ValueError(f"memory format: expected one of {', '.join(formats)}; received {name!r}")
    return formats[name]


def to_channels_first(array: np.ndarray) -> np.ndarray:
    """channels_last (N, *S, C) -> channels_first (N, C, *S), contiguous."""
    return np.ascontiguousarray(np.moveaxis(array, -1, 1))


def twin_module(case: Case, layer) -> torch.nn.Module:
    """PyTorch's module computing what ``layer`` (built) computes, weights copied."""
    rank = case.rank
    if case.kind == "pool":
        return getattr(torch.nn, f"MaxPool{rank}d")(layer.pool_size, stride=layer.strides)
    kernel = layer.kernel.data                 # conv (*k, C_in, F); transposed (*k, F, C_in)
    if case.kind == "transposed":
        module = getattr(torch.nn, f"ConvTranspose{rank}d")(kernel.shape[-1], kernel.shape[-2], kernel.shape[:-2],
                                                             stride=layer.strides)
    else:
        module = getattr(torch.nn, f"Conv{rank}d")(kernel.shape[-2], kernel.shape[-1], kernel.shape[:-2],
                                                   **case.torch_options)
    axes = (rank + 1, rank, *range(rank))      # (*k, A, B) -> (B, A, *k)
    with torch.no_grad():
        module.weight.copy_(torch.from_numpy(np.ascontiguousarray(kernel.transpose(axes))))
        module.bias.copy_(torch.from_numpy(layer.bias.data))
    return module


class TorchSide:
    """The twin of a built clearconv layer, one module per memory format of the case."""

    def __init__(self, case: Case, layer):
        self.case = case
        module = twin_module(case, layer)
        self.modules = {name: copy.deepcopy(module).to(memory_format=memory_format(name))
                        for name in case.torch_formats}

    def call(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """The module of memory format ``name`` on ``x`` (after the explicit pad, if any)."""
        if self.case.torch_pads is not None:
            x = torch_functional.pad(x, self.case.torch_pads)
        return self.modules[name](x)

    def input_tensor(self, array: np.ndarray, name: str, requires_grad: bool = False) -> torch.Tensor:
        """A channels_last NumPy array as a PyTorch (N, C, *S) tensor stored in memory format ``name``."""
        tensor = torch.from_numpy(to_channels_first(array)).contiguous(memory_format=memory_format(name))
        return tensor.requires_grad_(requires_grad)

    def callables(self, x: np.ndarray, grad: np.ndarray, name: str) -> tuple[Callable, Callable]:
        """(forward, forward+backward) in memory format ``name`` on fixed data; gradients cleared after each."""
        module = self.modules[name]
        x_plain = self.input_tensor(x, name)
        x_grad = self.input_tensor(x, name, requires_grad=True)
        upstream = self.input_tensor(grad, name)
        parameters = list(module.parameters())

        def forward():
            with torch.no_grad():
                return self.call(name, x_plain)

        def forward_backward():
            out = self.call(name, x_grad)
            out.backward(upstream)
            x_grad.grad = None
            for parameter in parameters:
                parameter.grad = None

        return forward, forward_backward

    def reference(self, x: np.ndarray, grad: np.ndarray, name: str) -> list[np.ndarray]:
        """Output, input gradient and weight gradients in memory format ``name``, in clearconv's layouts."""
        module = self.modules[name]
        tensor = self.input_tensor(x, name, requires_grad=True)
        out = self.call(name, tensor)
        out.backward(self.input_tensor(grad, name))
        arrays = [np.moveaxis(out.detach().numpy(), 1, -1).copy(), np.moveaxis(tensor.grad.numpy(), 1, -1).copy()]
        rank = self.case.rank
        for parameter in module.parameters():
            theirs = parameter.grad.numpy().copy()
            if theirs.ndim == rank + 2:                              # (B, A, *k) -> Keras (*k, A, B)
                theirs = theirs.transpose(*range(2, rank + 2), 1, 0)
            arrays.append(np.ascontiguousarray(theirs))
            parameter.grad = None
        return arrays
