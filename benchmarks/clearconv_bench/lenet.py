"""LeNet-5 on Fashion-MNIST, trained the same way by clearconv and by PyTorch (in either memory format).

Same data (the training images, float32 in [0, 1]), same architecture
(zoo.lenet5: conv 6@5x5 same, pool, conv 16@5x5, pool, dense 120-84-10,
ReLU), same initial weights (clearconv's Glorot-uniform draw, copied into
PyTorch's model), same optimizer (Adam, lr 1e-3, Keras's epsilon 1e-7), the
same batches in the same order. Each trainer trains on whatever samples it
is given and returns the seconds it took.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from clearconv import data, optimizers, utils, zoo

from .torch_twins import memory_format

DEFAULT_BATCH_SIZE = 64
DEFAULT_SEED = 0


def load_fashion_mnist(data_dir=None):
    """``(x, y), (x_test, y_test)``, x (N, 28, 28, 1); FileNotFoundError (the loader's message) if missing."""
    return data.load("fashion-mnist", data_dir=data_dir)


def epoch_orders(count: int, epochs: int, seed: int = DEFAULT_SEED) -> list:
    """One shuffling order per epoch, shared by every trainer."""
    rng = np.random.default_rng(seed)
    return [rng.permutation(count) for _ in range(epochs)]


def split_turns(order, batch_size: int, count: int) -> list:
    """``order`` cut into ``count`` runs of whole batches (the last may end in a partial batch)."""
    batches = -(-len(order) // batch_size)
    return [order[part[0] * batch_size:(part[-1] + 1) * batch_size]
            for part in np.array_split(np.arange(batches), count) if len(part)]


class ClearconvTrainer:
    """zoo.lenet5 compiled with Adam 1e-3 (Keras's defaults)."""

    def __init__(self, x, y, batch_size: int = DEFAULT_BATCH_SIZE, seed: int = DEFAULT_SEED):
        utils.set_seed(seed)
        self.model = zoo.lenet5()
        self.model.compile(optimizer=optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                           metrics=["accuracy"])
        self.initial = self.model.get_weights()
        self.x, self.y, self.batch_size = x, y, batch_size

    def train(self, order) -> float:
        """Train on the samples in ``order``, in batches in that order; the seconds it took."""
        start = time.perf_counter()
        self.model.fit(self.x[order], self.y[order], batch_size=self.batch_size, epochs=1, shuffle=False, verbose=0)
        return time.perf_counter() - start

    def accuracy(self, x_test, y_test) -> float:
        return float(self.model.evaluate(x_test, y_test, batch_size=1000, verbose=0)[1])


class TorchLeNet(torch.nn.Module):
    """zoo.lenet5 in PyTorch, (N, C, H, W) in either memory format."""

    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = torch.nn.Conv2d(6, 16, 5)
        self.fc1, self.fc2, self.fc3 = torch.nn.Linear(400, 120), torch.nn.Linear(120, 84), torch.nn.Linear(84, 10)

    def forward(self, x):
        x = torch.nn.functional.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = torch.nn.functional.max_pool2d(torch.relu(self.conv2(x)), 2)
        # Flatten in NHWC order, as the Keras-layout model does, so the dense weights carry over unchanged.
        x = x.permute(0, 2, 3, 1).reshape(len(x), -1)                # (N, 16, 5, 5) -> (N, 5*5*16)
        return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))

    def load_keras_weights(self, weights):
        """Keras kernels (kh, kw, in, out) and dense (in, out) -> torch (out, in, kh, kw) and (out, in)."""
        layers = [self.conv1, self.conv2, self.fc1, self.fc2, self.fc3]
        for layer, (kernel, bias) in zip(layers, zip(weights[::2], weights[1::2])):
            kernel = kernel.transpose(3, 2, 0, 1) if kernel.ndim == 4 else kernel.T
            layer.weight.data = torch.tensor(np.ascontiguousarray(kernel))
            layer.bias.data = torch.tensor(bias)


class TorchTrainer:
    """TorchLeNet from clearconv's ``initial`` weights, Adam 1e-3 with Keras's epsilon, in ``memory_format_name``.

    In channels_last the images are the NumPy (N, H, W, 1) array itself seen
    as (N, 1, H, W) (no copy), the model's weights are converted once, and
    every batch stays channels_last; in contiguous the images are copied to
    NCHW once. Either way no per-batch conversion is timed.
    """

    def __init__(self, x, y, initial, batch_size: int = DEFAULT_BATCH_SIZE, seed: int = DEFAULT_SEED,
                 memory_format_name: str = "contiguous"):
        torch.manual_seed(seed)
        self.format = memory_format(memory_format_name)
        self.model = TorchLeNet()
        self.model.load_keras_weights(initial)                       # the same Glorot-uniform draw as clearconv's
        self.model.to(memory_format=self.format)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3, eps=1e-7)
        self.images = self.as_images(x)
        self.labels = torch.tensor(y)
        self.batch_size = batch_size

    def as_images(self, x) -> torch.Tensor:
        """(N, H, W, C) NumPy -> (N, C, H, W) tensor in this trainer's memory format."""
        return torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(memory_format=self.format)

    def train(self, order) -> float:
        """Train on the samples in ``order``, in batches in that order; the seconds it took."""
        start = time.perf_counter()
        for first in range(0, len(order), self.batch_size):
            index = torch.tensor(order[first:first + self.batch_size])
            self.optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(self.model(self.images[index]), self.labels[index])
            loss.backward()
            self.optimizer.step()
        return time.perf_counter() - start

    def accuracy(self, x_test, y_test) -> float:
        with torch.no_grad():
            predicted = self.model(self.as_images(x_test)).argmax(1).numpy()
        return float((predicted == y_test).mean())
