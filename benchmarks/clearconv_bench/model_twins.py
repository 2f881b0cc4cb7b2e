"""The zoo's whole models written in PyTorch, and clearconv's weights copied into them.

Each twin computes what its zoo model computes (read from
``src/clearconv/zoo.py``), in PyTorch's channels-first layout, as a PyTorch
user would write it:

- ``forward`` returns the scores before the last activation (logits), which
  PyTorch's losses take (``cross_entropy``, ``binary_cross_entropy_with_logits``);
  :meth:`Twin.predict` applies the last activation (softmax or sigmoid), so
  its output is what clearconv's ``predict`` returns;
- Keras's ``same`` padding at stride 2 pads (0 before, 1 after) on these
  sizes (28 -> 14 -> 7 with a 3x3 kernel), which PyTorch's symmetric
  ``padding=1`` does not: the twin pads explicitly with ``F.pad`` and runs the
  convolution unpadded, a cost a PyTorch user pays as well;
- BatchNormalization: Keras's ``momentum=0.99`` is PyTorch's ``momentum=0.01``
  (PyTorch weighs the new batch, Keras the old average), epsilon 1e-3.

:func:`copy_weights` copies a clearconv model's weights into its twin, layer
by layer in the order both create them: conv kernels ``(*k, C_in, F)`` ->
``(F, C_in, *k)``; Conv2DTranspose ``(kh, kw, F, C_in)`` -> ConvTranspose2d's
``(C_in, F, kh, kw)`` (the same permutation of axes); Dense ``(in, out)`` ->
Linear's ``(out, in)``, with the rows of a Dense that follows a Flatten
reordered from channels-last (h, w, c) order to PyTorch's (c, h, w), so the
twin flattens its NCHW maps with ``torch.flatten`` and no permute;
BatchNormalization's gamma, beta, moving mean and moving variance into
weight, bias, running_mean and running_var.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

BATCHNORM_MOMENTUM = 1 - 0.99     # Keras momentum 0.99 in PyTorch's convention
BATCHNORM_EPSILON = 1e-3          # Keras's default


def batchnorm(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BATCHNORM_EPSILON, momentum=BATCHNORM_MOMENTUM)


def same_pad_stride2(x: torch.Tensor) -> torch.Tensor:
    """Keras ``same`` for a 3x3 kernel at stride 2 on an even size: no row/column before, one after.

    (N, C, H, W) -> (N, C, H + 1, W + 1).
    """
    return F.pad(x, (0, 1, 0, 1))


class Twin(nn.Module):
    """Base of the twins: ``forward`` gives logits, :meth:`predict` the last activation on them."""

    last_activation = "softmax"

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        logits = self(x)
        return torch.sigmoid(logits) if self.last_activation == "sigmoid" else torch.softmax(logits, dim=1)


class LeNet5(Twin):
    """zoo.lenet5: conv 6@5x5 same, pool, conv 16@5x5, pool, dense 120-84-10, ReLU. (N, 1, 28, 28) -> (N, 10)."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1, self.fc2, self.fc3 = nn.Linear(400, 120), nn.Linear(120, 84), nn.Linear(84, num_classes)

    def forward(self, x):
        x = F.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = F.max_pool2d(torch.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)                                      # (N, 16, 5, 5) -> (N, 400), (c, h, w) order
        return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))


class SmallVGG(Twin):
    """zoo.small_vgg: two blocks of two (3x3 conv, no bias) + BN + ReLU, pool, dropout 0.25; dense 128,
    dropout 0.5, dense 10. (N, 1, 28, 28) -> (N, 10). ``dropout`` scales both rates (0 for parity checks)."""

    def __init__(self, num_classes: int = 10, dropout: float = 1.0):
        super().__init__()
        layers, channels = [], 1
        for filters in (32, 64):
            for _ in range(2):
                layers += [nn.Conv2d(channels, filters, 3, padding=1, bias=False), batchnorm(filters), nn.ReLU()]
                channels = filters
            layers += [nn.MaxPool2d(2), nn.Dropout(0.25 * dropout)]
        self.features = nn.Sequential(*layers)
        self.fc1 = nn.Linear(7 * 7 * 64, 128)
        self.drop = nn.Dropout(0.5 * dropout)
        self.fc2 = nn.Linear(128, num_classes)

    def forward(self, x):
        x = torch.flatten(self.features(x), 1)                       # (N, 64, 7, 7) -> (N, 3136), (c, h, w) order
        return self.fc2(self.drop(torch.relu(self.fc1(x))))


class ResidualBlock(nn.Module):
    """conv-BN-ReLU-conv-BN plus the shortcut (1x1 conv + BN when the shape changes), then ReLU."""

    def __init__(self, channels: int, filters: int, stride: int):
        super().__init__()
        self.stride = stride
        self.conv1 = nn.Conv2d(channels, filters, 3, stride=stride, padding=1 if stride == 1 else 0, bias=False)
        self.bn1 = batchnorm(filters)
        self.conv2 = nn.Conv2d(filters, filters, 3, padding=1, bias=False)
        self.bn2 = batchnorm(filters)
        self.project = stride != 1 or channels != filters
        if self.project:
            self.shortcut_conv = nn.Conv2d(channels, filters, 1, stride=stride, bias=False)
            self.shortcut_bn = batchnorm(filters)

    def forward(self, x):
        y = self.conv1(x if self.stride == 1 else same_pad_stride2(x))
        y = self.bn2(self.conv2(torch.relu(self.bn1(y))))
        shortcut = self.shortcut_bn(self.shortcut_conv(x)) if self.project else x
        return torch.relu(y + shortcut)


class SmallResNet(Twin):
    """zoo.small_resnet: 3x3 stem (16) + BN + ReLU, residual blocks of 16, 32 (stride 2), 64 (stride 2),
    global average pooling, dense 10. (N, 1, 28, 28) -> (N, 10)."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.stem = nn.Conv2d(1, 16, 3, padding=1, bias=False)
        self.stem_bn = batchnorm(16)
        self.blocks = nn.Sequential(ResidualBlock(16, 16, 1), ResidualBlock(16, 32, 2), ResidualBlock(32, 64, 2))
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        x = self.blocks(torch.relu(self.stem_bn(self.stem(x))))
        return self.fc(x.mean(dim=(2, 3)))                          # (N, 64, 7, 7) -> (N, 64)


class DoubleConv(nn.Sequential):
    """Two (3x3 conv, no bias) + BN + ReLU."""

    def __init__(self, channels: int, filters: int):
        super().__init__(nn.Conv2d(channels, filters, 3, padding=1, bias=False), batchnorm(filters), nn.ReLU(),
                         nn.Conv2d(filters, filters, 3, padding=1, bias=False), batchnorm(filters), nn.ReLU())


class UNet(Twin):
    """zoo.unet with its defaults (base 8 filters, depth 2, one class): (N, 1, 32, 32) -> (N, 1, 32, 32) scores."""

    last_activation = "sigmoid"

    def __init__(self, base_filters: int = 8):
        super().__init__()
        b = base_filters
        self.down0, self.down1, self.bottom = DoubleConv(1, b), DoubleConv(b, 2 * b), DoubleConv(2 * b, 4 * b)
        self.up1 = nn.ConvTranspose2d(4 * b, 2 * b, 2, stride=2)
        self.dec1 = DoubleConv(4 * b, 2 * b)
        self.up0 = nn.ConvTranspose2d(2 * b, b, 2, stride=2)
        self.dec0 = DoubleConv(2 * b, b)
        self.head = nn.Conv2d(b, 1, 1)

    def forward(self, x):
        skip0 = self.down0(x)
        skip1 = self.down1(F.max_pool2d(skip0, 2))
        x = self.bottom(F.max_pool2d(skip1, 2))
        x = self.dec1(torch.cat([self.up1(x), skip1], dim=1))       # Concatenate()([upsampled, skip]): channels
        x = self.dec0(torch.cat([self.up0(x), skip0], dim=1))
        return self.head(x)


class Signal1D(Twin):
    """zoo.signal1d: three Conv1D width 9 same (16, 32, 32) + ReLU + max pool 2, global average pooling,
    dense 2. (N, 1, 512) -> (N, 2)."""

    def __init__(self, num_classes: int = 2):
        super().__init__()
        self.convs = nn.ModuleList([nn.Conv1d(1, 16, 9, padding=4), nn.Conv1d(16, 32, 9, padding=4),
                                    nn.Conv1d(32, 32, 9, padding=4)])
        self.fc = nn.Linear(32, num_classes)

    def forward(self, x):
        for conv in self.convs:
            x = F.max_pool1d(torch.relu(conv(x)), 2)
        return self.fc(x.mean(dim=2))                                # (N, 32, 64) -> (N, 32)


TWINS = {"lenet5": LeNet5, "small_vgg": SmallVGG, "small_resnet": SmallResNet, "unet": UNet, "signal1d": Signal1D}


def make_twin(name: str, **kwargs) -> Twin:
    """The twin of zoo model ``name`` (one of TWINS), freshly initialised (copy weights in next)."""
    if name not in TWINS:
        raise ValueError(f"make_twin: no PyTorch twin for {name!r}; accepted: {', '.join(TWINS)}")
    return TWINS[name](**kwargs)


def _layers_with_weights(model) -> list:
    return [layer for layer in model.layers if layer.weights]


def _torch_layers(module: nn.Module) -> list:
    return [m for m in module.modules()
            if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.BatchNorm2d))]


def _flatten_rows(kernel: np.ndarray, feature_shape: tuple) -> np.ndarray:
    """A Dense kernel after Flatten, rows in (h, w, c) order -> rows in PyTorch's (c, h, w) order."""
    h, w, c = feature_shape
    # (h*w*c, out) -> (h, w, c, out) -> (c, h, w, out) -> (c*h*w, out)
    return kernel.reshape(h, w, c, -1).transpose(2, 0, 1, 3).reshape(h * w * c, -1)


def copy_weights(model, module: nn.Module) -> None:
    """Copy every weight of the clearconv ``model`` into its twin ``module`` (layouts in the module docstring).

    Raises ValueError when the two do not have the same layers with weights, in the same order and shapes.
    """
    ours, theirs = _layers_with_weights(model), _torch_layers(module)
    if len(ours) != len(theirs):
        raise ValueError(f"copy_weights: {model.name} has {len(ours)} layers with weights, the twin "
                         f"{type(module).__name__} {len(theirs)}")
    flatten_inputs = _flatten_input_shapes(model)
    with torch.no_grad():
        for layer, target in zip(ours, theirs):
            values = [w.data for w in layer.weights]
            kind = type(layer).__name__
            if isinstance(target, nn.BatchNorm2d):
                expected = "BatchNormalization"
                tensors = [target.weight, target.bias, target.running_mean, target.running_var]
            else:
                expected = {nn.Linear: "Dense", nn.Conv1d: "Conv1D", nn.Conv2d: "Conv2D",
                            nn.ConvTranspose2d: "Conv2DTranspose"}[type(target)]
                kernel = values[0]
                if isinstance(target, nn.Linear):
                    if layer.name in flatten_inputs:
                        kernel = _flatten_rows(kernel, flatten_inputs[layer.name])
                    kernel = kernel.T                                # (in, out) -> (out, in)
                else:
                    rank = kernel.ndim - 2
                    kernel = kernel.transpose(rank + 1, rank, *range(rank))   # (*k, A, B) -> (B, A, *k)
                values = [kernel] + values[1:]
                tensors = [target.weight] + ([target.bias] if target.bias is not None else [])
            if kind != expected or len(values) != len(tensors):
                raise ValueError(f"copy_weights: layer {layer.name} ({kind}) meets PyTorch's "
                                 f"{type(target).__name__}; expected {expected}")
            for tensor, value in zip(tensors, values):
                if tuple(tensor.shape) != value.shape:
                    raise ValueError(f"copy_weights: layer {layer.name}: shape {value.shape} does not fit "
                                     f"PyTorch's {tuple(tensor.shape)}")
                tensor.copy_(torch.from_numpy(np.ascontiguousarray(value)))


def _flatten_input_shapes(model) -> dict:
    """{name of a Dense layer right after a Flatten: the (h, w, c) shape the Flatten received}."""
    found, previous = {}, None
    for layer in model.layers:
        if type(layer).__name__ == "Dense" and previous is not None and type(previous).__name__ == "Flatten":
            shape = tuple(previous.input.shape[1:]) if hasattr(previous, "input") else None
            if shape is None or len(shape) != 3:
                raise ValueError(f"copy_weights: cannot read the input shape of {previous.name}")
            found[layer.name] = shape
        previous = layer
    return found


def to_channels_first(array: np.ndarray) -> np.ndarray:
    """channels_last (N, *S, C) NumPy -> channels-first (N, C, *S), contiguous."""
    return np.ascontiguousarray(np.moveaxis(array, -1, 1))


def from_channels_first(array: np.ndarray) -> np.ndarray:
    """channels-first (N, C, *S) -> channels_last (N, *S, C)."""
    return np.ascontiguousarray(np.moveaxis(array, 1, -1))


def keras_layout(parameter: np.ndarray, kind: str, flatten_shape: tuple | None = None) -> np.ndarray:
    """A PyTorch weight (or its gradient) in the layout of the clearconv weight it twins (inverse of copy)."""
    if kind == "Dense":
        kernel = parameter.T                                         # (out, in) -> (in, out)
        if flatten_shape is not None:
            h, w, c = flatten_shape
            # rows (c, h, w) -> (h, w, c): (c*h*w, out) -> (c, h, w, out) -> (h, w, c, out) -> (h*w*c, out)
            kernel = kernel.reshape(c, h, w, -1).transpose(1, 2, 0, 3).reshape(h * w * c, -1)
        return np.ascontiguousarray(kernel)
    if parameter.ndim >= 3:                                          # (B, A, *k) -> (*k, A, B)
        rank = parameter.ndim - 2
        return np.ascontiguousarray(parameter.transpose(*range(2, rank + 2), 1, 0))
    return parameter


def paired_parameters(model, module: nn.Module) -> list[tuple]:
    """[(clearconv trainable Variable, PyTorch parameter, its keras_layout function)] in the same order."""
    flatten_inputs = _flatten_input_shapes(model)
    pairs = []
    for layer, target in zip(_layers_with_weights(model), _torch_layers(module)):
        kind = type(layer).__name__
        trainable = [w for w in layer.weights if w.trainable]
        parameters = [p for p in (target.weight, target.bias) if p is not None]
        for index, (variable, parameter) in enumerate(zip(trainable, parameters)):
            shape = flatten_inputs.get(layer.name) if index == 0 else None
            pairs.append((variable, parameter,
                          (lambda array, kind=kind if index == 0 else "", shape=shape:
                           keras_layout(array, kind, shape))))
    return pairs
