#!/usr/bin/env python
"""LeNet-5 on Fashion-MNIST: clearconv and PyTorch trained the same way, side by side.

Same data (the 60,000 training images, float32 in [0, 1]), same architecture
(zoo.lenet5: conv 6@5x5 same, pool, conv 16@5x5, pool, dense 120-84-10, ReLU),
same initialisation scheme (Glorot-uniform kernels, zero biases: Keras's
defaults, applied to both), same optimizer (Adam, lr 1e-3, Keras's epsilon
1e-7), batch 64, the same shuffling order per epoch. Prints each library's
time per epoch and test accuracy on the 10,000 test images.

    python benchmarks/lenet_epoch.py [--epochs 3] [--threads 2]

The two libraries take turns, a tenth of an epoch each (the same batches,
clearconv first, a pause before each turn, so that neither one's idle worker
threads still spin during the other's turn), and the ratio is the median of
the per-turn ratios: this machine's speed drifts by up to 1.7x over minutes,
and all of one library's epochs followed by all of the other's measured that
drift, not the code; with whole epochs as turns the per-epoch ratios of one
run still spread over 0.97-1.50. The epoch times are the sums of the turns.
The function :func:`compare` is also ``benchmarks/run.py``'s lenet-epoch case. The
thread settings are the caller's job (the environment variables before NumPy
is imported, ``torch.set_num_threads``); run as a script, this file does them
from ``--threads``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

DEFAULT_BATCH_SIZE = 64
DEFAULT_SEED = 0
PAUSE_SECONDS = 0.5  # before each turn: the other library's idle OpenMP/BLAS worker threads stop spinning
TURNS_PER_EPOCH = 10


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    for name in ("epochs", "batch_size", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive integer; received {getattr(args, name)}")
    return args


if __name__ == "__main__":
    ARGS = parse_args()
    # Before NumPy (and torch) are imported: OpenBLAS reads these once, at load time.
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = str(ARGS.threads)

import numpy as np  # noqa: E402  (after the thread settings)
import torch  # noqa: E402

# Time the checkout this script belongs to (the same code as an editable install), not some other copy.
_SOURCE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")
if os.path.isdir(os.path.join(_SOURCE, "clearconv")) and _SOURCE not in sys.path:
    sys.path.insert(0, _SOURCE)
from clearconv import data, optimizers, utils, zoo  # noqa: E402


def load_fashion_mnist(data_dir=None):
    """``(x, y), (x_test, y_test)``; FileNotFoundError (with the loader's message) if the files are missing."""
    return data.load("fashion-mnist", data_dir=data_dir)


def epoch_orders(count: int, epochs: int, seed: int = DEFAULT_SEED) -> list:
    """One shuffling order per epoch, shared by both libraries."""
    rng = np.random.default_rng(seed)
    return [rng.permutation(count) for _ in range(epochs)]


class ClearconvTrainer:
    """zoo.lenet5 compiled with Adam 1e-3 (Keras's defaults), trained one epoch at a time."""

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
    """zoo.lenet5 in PyTorch, NCHW."""

    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = torch.nn.Conv2d(6, 16, 5)
        self.fc1, self.fc2, self.fc3 = torch.nn.Linear(400, 120), torch.nn.Linear(120, 84), torch.nn.Linear(84, 10)

    def forward(self, x):
        x = torch.nn.functional.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = torch.nn.functional.max_pool2d(torch.relu(self.conv2(x)), 2)
        # Flatten in NHWC order, as the Keras-layout model does, so the dense weights carry over unchanged.
        x = x.permute(0, 2, 3, 1).reshape(len(x), -1)
        return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))

    def load_keras_weights(self, weights):
        """Keras kernels (kh, kw, in, out) and dense (in, out) -> torch layouts."""
        layers = [self.conv1, self.conv2, self.fc1, self.fc2, self.fc3]
        for layer, (kernel, bias) in zip(layers, zip(weights[::2], weights[1::2])):
            kernel = kernel.transpose(3, 2, 0, 1) if kernel.ndim == 4 else kernel.T
            layer.weight.data = torch.tensor(np.ascontiguousarray(kernel))
            layer.bias.data = torch.tensor(bias)


class TorchTrainer:
    """TorchLeNet from clearconv's ``initial`` weights, Adam 1e-3 with Keras's epsilon, one epoch at a time."""

    def __init__(self, x, y, initial, batch_size: int = DEFAULT_BATCH_SIZE, seed: int = DEFAULT_SEED):
        torch.manual_seed(seed)
        self.model = TorchLeNet()
        self.model.load_keras_weights(initial)  # the same Glorot-uniform draw as clearconv's
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3, eps=1e-7)
        self.images = torch.tensor(x.transpose(0, 3, 1, 2).copy())
        self.labels = torch.tensor(y)
        self.batch_size = batch_size

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
            predicted = self.model(torch.tensor(x_test.transpose(0, 3, 1, 2).copy())).argmax(1).numpy()
        return float((predicted == y_test).mean())


def turns(order, batch_size: int, count: int = TURNS_PER_EPOCH) -> list:
    """``order`` cut into ``count`` runs of whole batches (the last may end in a partial batch)."""
    batches = -(-len(order) // batch_size)
    return [order[part[0] * batch_size:(part[-1] + 1) * batch_size]
            for part in np.array_split(np.arange(batches), count) if len(part)]


def compare(epochs: int = 1, batch_size: int = DEFAULT_BATCH_SIZE, seed: int = DEFAULT_SEED, data_dir=None) -> dict:
    """Load Fashion-MNIST and train both libraries on the same batches, taking turns TURNS_PER_EPOCH times an epoch.

    Returns the images, epochs and batch size, each library's seconds per
    epoch, the per-epoch ratios clearconv / PyTorch, the per-turn ratios and
    their median (the ratio), and both test accuracies. Raises
    FileNotFoundError (the loader's message) when the dataset is missing.
    """
    (x, y), (x_test, y_test) = load_fashion_mnist(data_dir)
    ours = ClearconvTrainer(x, y, batch_size, seed)
    theirs = TorchTrainer(x, y, ours.initial, batch_size, seed)
    our_seconds, their_seconds, turn_ratios = [], [], []
    for order in epoch_orders(len(x), epochs, seed):
        our_seconds.append(0.0)
        their_seconds.append(0.0)
        for samples in turns(order, batch_size):
            time.sleep(PAUSE_SECONDS)
            our_turn = ours.train(samples)
            time.sleep(PAUSE_SECONDS)
            their_turn = theirs.train(samples)
            our_seconds[-1] += our_turn
            their_seconds[-1] += their_turn
            turn_ratios.append(our_turn / their_turn)
    return {"images": len(x), "epochs": epochs, "batch_size": batch_size,
            "clearconv_seconds": our_seconds, "torch_seconds": their_seconds,
            "ratios": [a / b for a, b in zip(our_seconds, their_seconds)],
            "turn_ratios": turn_ratios, "ratio": float(np.median(turn_ratios)),
            "clearconv_accuracy": ours.accuracy(x_test, y_test), "torch_accuracy": theirs.accuracy(x_test, y_test)}


def main(args) -> int:
    torch.set_num_threads(args.threads)
    try:
        result = compare(args.epochs, args.batch_size, args.seed)
    except FileNotFoundError as error:
        print(error)
        return 1
    our_epoch, their_epoch = float(np.median(result["clearconv_seconds"])), float(np.median(result["torch_seconds"]))
    our_accuracy, their_accuracy = result["clearconv_accuracy"], result["torch_accuracy"]
    print(f"LeNet-5, Fashion-MNIST, {args.epochs} epochs, batch {args.batch_size}, Adam 1e-3, "
          f"{args.threads} threads")
    print(f"{'':12s} {'s/epoch (median)':>18s} {'test accuracy':>14s}")
    print(f"{'clearconv':12s} {our_epoch:18.2f} {our_accuracy:14.4f}")
    print(f"{'pytorch':12s} {their_epoch:18.2f} {their_accuracy:14.4f}")
    print("per-epoch ratios: " + ", ".join(f"{ratio:.2f}" for ratio in result["ratios"]))
    turn_ratios = result["turn_ratios"]
    print(f"per-turn ratios: {min(turn_ratios):.2f} to {max(turn_ratios):.2f} over {len(turn_ratios)} turns")
    print(f"epoch time ratio clearconv/pytorch (median of the per-turn ratios): {result['ratio']:.2f}; "
          f"accuracy difference: {100 * (our_accuracy - their_accuracy):+.2f} points")
    return 0


if __name__ == "__main__":
    sys.exit(main(ARGS))
