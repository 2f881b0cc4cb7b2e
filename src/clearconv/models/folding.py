"""Fold BatchNormalization into the layer before it, for inference.

In inference mode BatchNormalization is an affine map per channel c:

    y[..., c] = x[..., c] * scale[c] + shift[c]
    scale = gamma / sqrt(moving_variance + epsilon)      (gamma = 1 when scale=False)
    shift = beta - moving_mean * scale                   (beta = 0 when center=False)

When x is the output of a convolution or Dense layer with no activation, each
output channel c of that layer is ``kernel[..., c] (*) input + bias[c]``, so
the map moves into its weights:

    kernel'[..., c] = kernel[..., c] * scale[c]
    bias'[c]        = bias[c] * scale[c] + shift[c] = (bias[c] - moving_mean[c]) * scale[c] + beta[c]

(bias = 0 when the layer had none), and the BatchNormalization call disappears. A plain ReLU that alone reads the
BatchNormalization's output becomes the folded layer's activation, so a
convolution applies it in the same pass as its bias.
Which kernel axis holds the output channel depends on the Keras layout:

    Dense                   (in, units)                       last axis
    Conv1D/2D/3D            (*k, in // groups, filters)       last axis
    SeparableConv1D/2D      pointwise (1.., in*dm, filters)   last axis (the depthwise kernel is kept)
    Conv1D/2D/3DTranspose   (*k, filters, in)                 axis -2
    DepthwiseConv1D/2D      (*k, in, depth_multiplier)        output channel c*dm + m is kernel[..., c, m]
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from .. import activations
from .. import layers as L
from ..layers.base import Layer, SymbolicTensor
from ..nested import map_structure
from .functional import Model
from .sequential import Sequential

_LAST_AXIS_KINDS = (L.Dense, L.Conv1D, L.Conv2D, L.Conv3D, L.SeparableConv1D, L.SeparableConv2D)
_TRANSPOSED_KINDS = (L.Conv1DTranspose, L.Conv2DTranspose, L.Conv3DTranspose)
_DEPTHWISE_KINDS = (L.DepthwiseConv1D, L.DepthwiseConv2D)
FOLDABLE_KINDS = _LAST_AXIS_KINDS + _TRANSPOSED_KINDS + _DEPTHWISE_KINDS


def fold_batchnorm(model: Model) -> Model:
    """A new model computing ``model.predict`` with BatchNormalization folded away.

    Each BatchNormalization call whose input is the output of a Dense,
    Conv1D/2D/3D, Conv1D/2D/3DTranspose, DepthwiseConv1D/2D or
    SeparableConv1D/2D call is merged into that layer (same class, now with
    ``use_bias=True``; see the module docstring for the maths) when the merge
    is exact:

    * the layer's activation is linear (an activation after the
      BatchNormalization is fine: it stays where it is);
    * BatchNormalization normalises the layer's channel axis (the last axis,
      or axis 1 for ``data_format="channels_first"``) and has the layer's dtype;
    * the layer is called once in the model, and its output feeds only that
      BatchNormalization (no other layer, not a model output).

    Every other layer is copied as it is, with its weights copied, not shared:
    the original model is untouched. Layers are copied through their config,
    as for saving, so a model that cannot be saved (a lambda activation)
    cannot be folded either. Nested models are folded the same way.
    A Sequential gives a Sequential, a functional Model a Model with the same
    inputs and outputs. The result is uncompiled and meant for inference: its
    weights hold the moving statistics, so training it is not training the
    original. Raises ValueError for a model that is not built yet.
    """
    if not model.built:
        raise ValueError(f"{model.name}: fold_batchnorm() needs a built model; give it an input shape "
                         f"(Input(...), `input_shape=` on the first layer, or model.build(...)) first")
    folds = _foldable_pairs(model)
    relus = _relus_after(model, folds)
    removed = {id(batchnorm_call) for batchnorm_call in folds.values()} | {id(relu) for relu in relus.values()}
    replacements: dict[int, Layer] = {}
    new_weights: list[tuple[Layer, list[np.ndarray]]] = []
    for call in model._nodes:
        if id(call) in removed or id(call.layer) in replacements:
            continue
        layer = call.layer
        if id(call) in folds:
            replacement = _with_bias(layer, activation="relu" if id(call) in relus else "linear")
            new_weights.append((replacement, _folded_weights(layer, folds[id(call)].layer)))
        elif isinstance(layer, Model):
            replacement = fold_batchnorm(layer)  # built, its weights already copied
        else:
            replacement = type(layer).from_config(layer.get_config())
            new_weights.append((replacement, layer.get_weights()))
        replacements[id(layer)] = replacement
    folded = _rebuild(model, replacements, removed)
    # Weights are set once the rebuilt graph has built every layer from its input shape.
    for layer, weights in new_weights:
        layer.set_weights(weights)
    return folded


def _foldable_pairs(model: Model) -> dict[int, SymbolicTensor]:
    """The BatchNormalization calls to fold, keyed by ``id`` of the layer call they normalise."""
    consumers = Counter(id(parent) for call in model._nodes for parent in call.inputs)
    consumers.update(id(output) for output in model.outputs)
    calls_per_layer = Counter(id(call.layer) for call in model._nodes)
    folds = {}
    for call in model._nodes:
        if not isinstance(call.layer, L.BatchNormalization):
            continue
        producer = call.inputs[0]
        if (isinstance(producer.layer, FOLDABLE_KINDS) and calls_per_layer[id(producer.layer)] == 1
                and consumers[id(producer)] == 1 and _exact(producer, call.layer)):
            folds[id(producer)] = call
    return folds


def _relus_after(model: Model, folds: dict[int, SymbolicTensor]) -> dict[int, SymbolicTensor]:
    """Plain ReLU calls that alone read a folded BatchNormalization, keyed like ``folds``.

    Such a ReLU becomes the folded layer's own activation, which a convolution
    applies in its output pass (:func:`clearconv.kernels.conv.conv`).
    """
    consumers: dict[int, list[SymbolicTensor]] = {}
    for call in model._nodes:
        for parent in call.inputs:
            consumers.setdefault(id(parent), []).append(call)
    outputs = {id(output) for output in model.outputs}
    calls_per_layer = Counter(id(call.layer) for call in model._nodes)
    relus = {}
    for producer_id, batchnorm_call in folds.items():
        readers = consumers.get(id(batchnorm_call), [])
        if (len(readers) == 1 and id(batchnorm_call) not in outputs and _plain_relu(readers[0].layer)
                and calls_per_layer[id(readers[0].layer)] == 1):
            relus[producer_id] = readers[0]
    return relus


def _plain_relu(layer: Layer) -> bool:
    """max(x, 0) exactly: a default ReLU layer or Activation("relu")."""
    if isinstance(layer, L.ReLU):
        return layer.max_value is None and layer.negative_slope == 0 and layer.threshold == 0
    return isinstance(layer, L.Activation) and activations.builtin_name(layer.activation) == "relu"


def _exact(producer: SymbolicTensor, batchnorm: L.BatchNormalization) -> bool:
    """Whether folding ``batchnorm`` into the layer that made ``producer`` changes no output."""
    layer, rank = producer.layer, len(producer.shape)
    channel_axis = 1 if getattr(layer, "data_format", "channels_last") == "channels_first" else rank - 1
    # A user's callable may be linear, but only the built-in name proves it.
    return (activations.builtin_name(layer.activation) == "linear"
            and batchnorm.axis % rank == channel_axis
            and batchnorm.dtype == layer.dtype)


def _batchnorm_affine(batchnorm: L.BatchNormalization) -> tuple[np.ndarray, np.ndarray]:
    """(scale, shift), each (C,) float64, of the inference map ``y = x * scale + shift``."""
    scale = 1.0 / np.sqrt(batchnorm.moving_variance.data.astype(np.float64) + batchnorm.epsilon)
    if batchnorm.gamma is not None:
        scale = scale * batchnorm.gamma.data
    shift = -batchnorm.moving_mean.data * scale
    if batchnorm.beta is not None:
        shift = shift + batchnorm.beta.data
    return scale, shift


def _scale_output_channels(layer: Layer, kernel: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``kernel`` with every weight of output channel c multiplied by ``scale[c]``."""
    if isinstance(layer, _TRANSPOSED_KINDS):
        return kernel * scale[:, None]  # (*k, F, Cin): F on axis -2
    if isinstance(layer, _DEPTHWISE_KINDS):
        return kernel * scale.reshape(kernel.shape[-2:])  # (C*dm,) -> (C, dm): channel c*dm + m
    return kernel * scale


def _folded_weights(layer: Layer, batchnorm: L.BatchNormalization) -> list[np.ndarray]:
    """``layer``'s weights with ``batchnorm`` folded in, in Keras order, always with a bias."""
    scale, shift = _batchnorm_affine(batchnorm)
    weights = [w.astype(np.float64) for w in layer.get_weights()]
    bias = weights.pop() if layer.use_bias else np.zeros_like(scale)
    # The last kernel makes the output channels (the pointwise one of a separable conv).
    *kept, kernel = weights
    folded = [*kept, _scale_output_channels(layer, kernel, scale), bias * scale + shift]
    return [w.astype(layer.dtype) for w in folded]


def _with_bias(layer: Layer, activation: str) -> Layer:
    config = layer.get_config()
    config.update(use_bias=True, activation=activation)
    return type(layer).from_config(config)


def _rebuild(model: Model, replacements: dict[int, Layer], removed: set[int]) -> Model:
    """``model``'s graph with each layer replaced and each removed call passing its input through."""
    if isinstance(model, Sequential):
        stack = [replacements[id(call.layer)] for call in model._nodes if id(call) not in removed]
        return Sequential([L.InputLayer(batch_shape=model._input_shape), *stack], name=model.name,
                          trainable=model.trainable)
    tensors = {id(symbol): L.Input(batch_shape=symbol.shape, dtype=symbol.dtype, name=symbol.layer.name)
               for symbol in model.inputs}
    for call in model._nodes:
        if id(call) in removed:
            tensors[id(call)] = tensors[id(call.inputs[0])]
        else:
            arguments = map_structure(lambda symbol: tensors[id(symbol)], call.call_inputs)
            tensors[id(call)] = replacements[id(call.layer)](arguments)
    inputs = [tensors[id(symbol)] for symbol in model.inputs]
    outputs = [tensors[id(symbol)] for symbol in model.outputs]
    return Model(inputs[0] if model._single_input else inputs, outputs[0] if model._single_output else outputs,
                 name=model.name, trainable=model.trainable)
