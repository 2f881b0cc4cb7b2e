"""The one comparison helper of the PyTorch parity tests, and the conversions it needs.

``check_parity`` runs a clearconv layer and a PyTorch function on the same
inputs and weights, backpropagates the same random upstream gradient through
both, and compares the output, the gradient of every input and the gradient of
every trainable weight. A failure message lists every hyper-parameter of the
case, so it can be reproduced from the message alone.

Every parity test module imports this module before anything from torch: the
``importorskip`` below turns a missing torch into a visible skip of each module.

Conventions (every layout and padding conversion is made in these tests, never in clearconv):

* Weights are created in Keras layout as NumPy arrays and handed to
  ``layer.set_weights``; the same arrays become torch leaf tensors and each
  torch reference converts them itself (permute / reshape), so torch's
  gradients arrive back in Keras layout and compare one-to-one with
  ``layer.weights[i].grad``.
* Inputs are given in the layer's data_format; references that need
  channels_first permute inside torch (``to_torch_layout`` / ``from_torch_layout``).
* Keras 'same' padding (asymmetric, extra cell after) is computed here from
  the formula in the Keras source, independently of ``clearconv.kernels.shapes``.

Tolerances (never loosened to make a test pass):
* float32: max |clearconv - torch| <= 1e-5 * max |torch|
* float64: max |clearconv - torch| <= 1e-10 * max(1, max |torch|)
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

torch = pytest.importorskip(
    "torch", reason="PyTorch is not installed: the parity tests compare clearconv with torch "
                    "(pip install 'clearconv[test]' to run them)")
import torch.nn.functional as TF  # noqa: E402  (after the skip above)

from clearconv import Tensor  # noqa: E402

FLOAT32_RTOL = 1e-5
FLOAT64_RTOL = 1e-10

TORCH_DTYPES = {"float32": torch.float32, "float64": torch.float64}


# --- cases and ids ------------------------------------------------------------


def case_id(case: dict) -> str:
    """A short readable id: values joined by '-', keys only where a bare value would be ambiguous."""
    parts = []
    for key, value in case.items():
        if isinstance(value, bool):
            parts.append(key if value else f"no_{key}")
        elif isinstance(value, (tuple, list)):
            parts.append(f"{key}{'x'.join(map(str, value))}")
        elif value is None:
            parts.append(f"{key}None")
        else:
            parts.append(f"{key}{value}" if isinstance(value, (int, float)) else str(value))
    return "-".join(parts).replace(" ", "")


def with_dtypes(cases, float32_every: int = 3) -> list:
    """Every case in float64, and every ``float32_every``-th case (a spread subset) in float32 too.

    Returns ``pytest.param(case_dict_with_dtype, id=...)`` entries.
    """
    params = []
    for index, case in enumerate(cases):
        dtypes = ("float64", "float32") if index % float32_every == 0 else ("float64",)
        for dtype in dtypes:
            full = {**case, "dtype": dtype}
            params.append(pytest.param(full, id=case_id(full)))
    return params


def dtype_kwargs(case: dict) -> dict:
    """float32 cases build layers with the default dtype; float64 ones pass dtype="float64"."""
    return {} if case["dtype"] == "float32" else {"dtype": case["dtype"]}


def rng_for(case: dict) -> np.random.Generator:
    """A generator seeded from the case itself: every case has its own, reproducible, data."""
    return np.random.default_rng(zlib.crc32(repr(sorted(case.items(), key=str)).encode()))


def random_array(rng: np.random.Generator, shape, dtype: str, scale: float = 1.0) -> np.ndarray:
    return (scale * rng.standard_normal(shape)).astype(dtype)


# --- layout conversions ---------------------------------------------------------


def to_torch_layout(x: torch.Tensor, data_format: str) -> torch.Tensor:
    """(N, *S, C) -> (N, C, *S) for channels_last; channels_first passes through."""
    if data_format == "channels_first":
        return x
    return x.permute(0, x.ndim - 1, *range(1, x.ndim - 1))


def from_torch_layout(y: torch.Tensor, data_format: str) -> torch.Tensor:
    """(N, C, *S) -> (N, *S, C) for channels_last; channels_first passes through."""
    if data_format == "channels_first":
        return y
    return y.permute(0, *range(2, y.ndim), 1)


def keras_conv_kernel_to_torch(kernel: torch.Tensor) -> torch.Tensor:
    """Keras (*k, in/groups, out) -> torch Conv (out, in/groups, *k); 2D is permute(3, 2, 0, 1).

    The same permutation maps a Keras transposed kernel (*k, out, in) to torch's
    ConvTranspose layout (in, out, *k).
    """
    rank = kernel.ndim - 2
    return kernel.permute(rank + 1, rank, *range(rank))


def keras_depthwise_kernel_to_torch(kernel: torch.Tensor) -> torch.Tensor:
    """Keras depthwise (*k, in, dm) -> torch grouped-conv weight (in*dm, 1, *k), channel c*dm + m."""
    rank = kernel.ndim - 2
    channels, multiplier = kernel.shape[-2], kernel.shape[-1]
    merged = kernel.reshape(*kernel.shape[:rank], channels * multiplier)  # (*k, in, dm) -> (*k, in*dm)
    return merged.permute(rank, *range(rank)).unsqueeze(1)  # (*k, in*dm) -> (in*dm, 1, *k)


def keras_same_padding(length: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow/Keras 'same': out = ceil(L/s); total = max(0, (out-1)*s + k_eff - L); extra cell after.

    Written from the Keras source (backend/torch/nn.py ``_compute_padding_length``),
    not from clearconv.
    """
    k_eff = dilation * (kernel - 1) + 1
    output = -(-length // stride)
    total = max(0, (output - 1) * stride + k_eff - length)
    return total // 2, total - total // 2


def torch_pad_arg(pads) -> list:
    """[(before, after) per spatial axis, first to last] -> F.pad's flat list, last axis first."""
    flat = []
    for before, after in reversed(list(pads)):
        flat += [before, after]
    return flat


def conv_nd(rank: int):
    return {1: TF.conv1d, 2: TF.conv2d, 3: TF.conv3d}[rank]


def conv_transpose_nd(rank: int):
    return {1: TF.conv_transpose1d, 2: TF.conv_transpose2d, 3: TF.conv_transpose3d}[rank]


def max_pool_nd(rank: int):
    return {1: TF.max_pool1d, 2: TF.max_pool2d, 3: TF.max_pool3d}[rank]


def avg_pool_nd(rank: int):
    return {1: TF.avg_pool1d, 2: TF.avg_pool2d, 3: TF.avg_pool3d}[rank]


# --- the comparison -------------------------------------------------------------


def tolerance(reference: np.ndarray, dtype: str) -> float:
    magnitude = float(np.max(np.abs(reference))) if reference.size else 0.0
    if dtype == "float32":
        return FLOAT32_RTOL * magnitude
    return FLOAT64_RTOL * max(1.0, magnitude)


def describe(case: dict) -> str:
    return "\n".join(f"    {key} = {value!r}" for key, value in case.items())


def assert_close(what: str, actual, expected: np.ndarray, dtype: str, case: dict) -> None:
    """max |actual - expected| within the dtype's tolerance; the message names the case fully."""
    header = f"{what} differs from PyTorch for the case\n{describe(case)}\n"
    if actual is None:
        pytest.fail(header + "  clearconv gave no value (gradient missing?)")
    actual = np.asarray(actual)
    if actual.shape != expected.shape:
        pytest.fail(header + f"  shape: clearconv {actual.shape}, torch {expected.shape}")
    if actual.dtype != np.dtype(dtype):
        pytest.fail(header + f"  dtype: clearconv {actual.dtype}, expected {dtype} (no silent casts)")
    allowed = tolerance(expected, dtype)
    difference = np.abs(actual.astype(np.float64) - expected.astype(np.float64))
    worst = float(np.max(difference)) if difference.size else 0.0
    if not worst <= allowed:  # also catches NaN
        where = np.unravel_index(int(np.nanargmax(difference)), difference.shape) if difference.size else ()
        pytest.fail(header + f"  max abs difference {worst:.3e} > allowed {allowed:.3e} "
                             f"(max |torch| = {float(np.max(np.abs(expected))):.3e}) at index {where}: "
                             f"clearconv {actual[where]!r}, torch {expected[where]!r}")


def check_parity(layer, inputs, torch_function, case: dict, weights=(), training=None,
                 check_numpy_call: bool = True, rng: np.random.Generator | None = None):
    """Compare ``layer`` with ``torch_function`` forward and backward.

    layer          : an unbuilt clearconv layer of dtype ``case["dtype"]``.
    inputs         : a NumPy array, or a list of arrays for merge layers.
    torch_function : ``f(torch_inputs, torch_weights) -> torch output``; both
                     arguments are lists of leaf tensors (inputs in the layer's
                     layout, weights in Keras layout) that require a gradient,
                     except non-trainable weights.
    weights        : arrays in Keras order and layout, loaded with set_weights.
    training       : passed to the layer call (BatchNormalization, Dropout).

    Returns ``(clearconv_output, torch_output)`` as arrays for extra checks.
    """
    dtype = case["dtype"]
    as_list = isinstance(inputs, (list, tuple))
    arrays = [np.asarray(a, dtype=dtype) for a in (inputs if as_list else [inputs])]
    weights = [np.asarray(w, dtype=dtype) for w in weights]

    layer.build([a.shape for a in arrays] if as_list else arrays[0].shape)
    layer.built = True
    assert len(layer.weights) == len(weights), (
        f"the test gives {len(weights)} weights but {layer.name} has {[w.shape for w in layer.weights]}\n"
        f"{describe(case)}")
    if weights:
        layer.set_weights(weights)
    trainable = [variable.trainable for variable in layer.weights]

    # clearconv: forward on tensors, then d<g, y>/d(everything).
    input_tensors = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    output = layer(input_tensors if as_list else input_tensors[0], training=training)
    assert isinstance(output, Tensor), f"{layer.name} returned {type(output)} for a Tensor input"
    rng = rng or rng_for(case)
    upstream = random_array(rng, output.shape, dtype)
    (output * upstream).sum().backward()

    # torch: the same data, the same upstream gradient.
    torch_dtype = TORCH_DTYPES[dtype]
    torch_inputs = [torch.tensor(a, dtype=torch_dtype, requires_grad=True) for a in arrays]
    torch_weights = [torch.tensor(w, dtype=torch_dtype, requires_grad=flag) for w, flag in zip(weights, trainable)]
    expected = torch_function(torch_inputs, torch_weights)
    (expected * torch.tensor(upstream, dtype=torch_dtype)).sum().backward()

    expected_output = expected.detach().numpy()
    assert_close("output", output.data, expected_output, dtype, case)
    for index, (tensor, torch_tensor) in enumerate(zip(input_tensors, torch_inputs)):
        assert_close(f"gradient of input {index}", tensor.grad, torch_tensor.grad.numpy(), dtype, case)
    for variable, torch_weight, flag in zip(layer.weights, torch_weights, trainable):
        if flag:
            assert_close(f"gradient of weight '{variable.name}'", variable.grad, torch_weight.grad.numpy(),
                         dtype, case)
        else:
            assert variable.grad is None, f"non-trainable weight {variable.name} received a gradient"

    # The NumPy path (no tape) must give the same output; skipped where a call has side effects.
    if check_numpy_call and not training:
        plain = layer([a.copy() for a in arrays] if as_list else arrays[0].copy(), training=training)
        assert isinstance(plain, np.ndarray), f"{layer.name} returned {type(plain)} for a NumPy input"
        assert_close("output of the NumPy call", plain, expected_output, dtype, case)
    return output.data, expected_output
