"""A case made ready to time: both sides built with the same weights and data, parity checked.

Implementations (the second half of a timing key ``(mode, implementation)``):

- ``"clearconv"`` (MAIN): the layer as built, running what the dispatcher
  picks (its ``algorithm_for``);
- ``"clearconv[<algorithm>]"``: every other algorithm of
  ``clearconv.kernels.conv.ALGORITHMS`` that ``supports`` the case, except
  SKIPPED_ALGORITHMS, through the layer's ``algorithm=`` argument, on the same
  input and weights;
- ``"torch:<format>"``: PyTorch in each memory format of the case.

Listed clearconv first, PyTorch last, so :func:`.turns.turn_order` runs
clearconv first on even rounds and PyTorch first on odd ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from clearconv import Tensor
from clearconv.kernels import conv as conv_ops

from .accounting import forward_macs, memory_floor, peak_bytes
from .cases import Case
from .names import MAIN, MODES
from .parity import layer_parity
from .torch_twins import TorchSide

SKIPPED_ALGORITHMS = ("direct",)         # never timed: the textbook loops are far too slow


def variant_key(algorithm: str) -> str:
    """Implementation key (and row suffix) of a clearconv row forced to ``algorithm``."""
    return f"{MAIN}[{algorithm}]"


def torch_key(memory_format: str) -> str:
    """Implementation key of PyTorch in ``memory_format``."""
    return f"torch:{memory_format}"


def other_algorithms(layer, main: str) -> list[str]:
    """Every algorithm of ALGORITHMS that supports the layer, except ``main`` and SKIPPED_ALGORITHMS."""
    return [name for name in conv_ops.ALGORITHMS
            if name != main and name not in SKIPPED_ALGORITHMS
            and conv_ops.supports(name, layer.kernel.shape, layer.strides, layer.dilation_rate, layer.groups)]


@dataclass
class PreparedCase:
    """A case's layers, figures known before timing, and its timed callables."""

    case: Case
    layer: object
    output_shape: tuple
    algorithms: dict                     # {implementation: algorithm or None}, clearconv only
    macs: float | None
    floor: dict
    parity: dict                         # {implementation: worst relative error against PyTorch}
    failed: dict                         # {row name: message}: supported algorithms that raised
    callables: dict                      # {(mode, implementation): callable}, clearconv first
    peak_bytes: dict = field(default_factory=dict)   # {implementation: tracemalloc peak of forward+backward}

    @property
    def torch_keys(self) -> dict:
        """{memory format: implementation key}."""
        return {name: torch_key(name) for name in self.case.torch_formats}

    def measure_memory(self) -> None:
        """tracemalloc's peak of one forward+backward of each clearconv implementation (untimed)."""
        self.peak_bytes = {implementation: peak_bytes(self.callables["forward+backward", implementation])
                           for implementation in self.algorithms}


def _clearconv_callables(layer, x: np.ndarray, grad: np.ndarray) -> tuple[Callable, Callable]:
    """(forward, forward+backward) of a clearconv layer on fixed data; gradients cleared after each call."""
    cc_input = Tensor(x, requires_grad=True)
    weights = layer.weights

    def forward():
        return layer(x)

    def forward_backward():
        out = layer(cc_input)
        out.backward(grad)
        cc_input.grad = None
        for weight in weights:
            weight.grad = None

    return forward, forward_backward


def prepare(case: Case, rng: np.random.Generator) -> PreparedCase:
    """Build both sides of ``case`` with the same random weights and data; check parity of every clearconv row."""
    layer = case.make_clearconv()
    x = rng.standard_normal(case.input_shape, dtype=np.float32)
    y = layer(x)                                                     # builds the layer
    layer.set_weights([rng.standard_normal(w.shape, dtype=np.float32) * np.float32(0.1) for w in layer.weights])
    grad = rng.standard_normal(y.shape, dtype=np.float32)
    main = layer.algorithm_for(x.shape) if case.kind == "conv" else None
    torch_side = TorchSide(case, layer)
    references = [torch_side.reference(x, grad, name) for name in case.torch_formats]
    layers, algorithms = {}, {}
    parity, failed = {MAIN: layer_parity(layer, x, grad, references)}, {}
    for algorithm in (other_algorithms(layer, main) if case.kind == "conv" else []):
        key = variant_key(algorithm)
        try:                                                         # one algorithm's bug must not stop the run
            variant = case.make_clearconv(algorithm=algorithm)
            variant(x)
            variant.set_weights(layer.get_weights())
            parity[key] = layer_parity(variant, x, grad, references)
        except Exception as error:                                  # noqa: BLE001 - reported, exit status 1
            failed[f"{case.name} [{algorithm}]"] = f"FAILED: {type(error).__name__}: {error}"
            continue
        layers[key], algorithms[key] = variant, algorithm
    layers[MAIN], algorithms[MAIN] = layer, main                     # variants first, then the main row
    kernel_shape = layer.kernel.shape if case.kind != "pool" else None

    callables = {}
    for mode_index, mode in enumerate(MODES):
        for key, each in layers.items():
            callables[mode, key] = _clearconv_callables(each, x, grad)[mode_index]
        for name in case.torch_formats:
            callables[mode, torch_key(name)] = torch_side.callables(x, grad, name)[mode_index]
    algorithms = {MAIN: main, **{key: value for key, value in algorithms.items() if key != MAIN}}
    return PreparedCase(case, layer, y.shape, algorithms, forward_macs(case.kind, kernel_shape, x.shape, y.shape),
                        memory_floor(case.kind, kernel_shape, x, y.shape), parity, failed, callables)
