"""LeNet-5 on Fashion-MNIST: clearconv and PyTorch trained the same way, side by side.

Same data (the 60,000 training images, float32 in [0, 1]), same architecture
(zoo.lenet5: conv 6@5x5 same, pool, conv 16@5x5, pool, dense 120-84-10, ReLU),
same initialisation scheme (Glorot-uniform kernels, zero biases: Keras's
defaults, applied to both), same optimizer (Adam, lr 1e-3, Keras's epsilon
1e-7), batch 64, the same shuffling order per epoch. Prints each library's
time per epoch and test accuracy on the 10,000 test images.

    python benchmarks/lenet_epoch.py [--epochs 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--epochs", type=int, default=3)
parser.add_argument("--batch-size", type=int, default=64)
parser.add_argument("--threads", type=int, default=2)
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()
for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[variable] = str(args.threads)

import numpy as np  # noqa: E402  (after the thread settings)
import torch  # noqa: E402

from clearconv import data, optimizers, utils, zoo  # noqa: E402


def epoch_orders(count: int) -> list:
    rng = np.random.default_rng(args.seed)
    return [rng.permutation(count) for _ in range(args.epochs)]


def train_clearconv(x, y, x_test, y_test, orders):
    utils.set_seed(args.seed)
    model = zoo.lenet5()
    model.compile(optimizer=optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    initial = model.get_weights()
    times = []
    for order in orders:
        start = time.perf_counter()
        model.fit(x[order], y[order], batch_size=args.batch_size, epochs=1, shuffle=False, verbose=0)
        times.append(time.perf_counter() - start)
    return initial, times, model.evaluate(x_test, y_test, batch_size=1000, verbose=0)[1]


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


def train_torch(x, y, x_test, y_test, orders, initial):
    torch.manual_seed(args.seed)
    model = TorchLeNet()
    model.load_keras_weights(initial)  # the same Glorot-uniform draw as clearconv's
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    images = torch.tensor(x.transpose(0, 3, 1, 2).copy())
    labels = torch.tensor(y)
    times = []
    for order in orders:
        start = time.perf_counter()
        for first in range(0, len(order), args.batch_size):
            index = torch.tensor(order[first:first + args.batch_size])
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(images[index]), labels[index])
            loss.backward()
            optimizer.step()
        times.append(time.perf_counter() - start)
    with torch.no_grad():
        predicted = model(torch.tensor(x_test.transpose(0, 3, 1, 2).copy())).argmax(1).numpy()
    return times, float((predicted == y_test).mean())


def main() -> int:
    torch.set_num_threads(args.threads)
    try:
        (x, y), (x_test, y_test) = data.load("fashion-mnist")
    except FileNotFoundError as error:
        print(error)
        return 1
    orders = epoch_orders(len(x))
    initial, ours, our_accuracy = train_clearconv(x, y, x_test, y_test, orders)
    theirs, their_accuracy = train_torch(x, y, x_test, y_test, orders, initial)
    our_epoch, their_epoch = float(np.median(ours)), float(np.median(theirs))
    print(f"LeNet-5, Fashion-MNIST, {args.epochs} epochs, batch {args.batch_size}, Adam 1e-3, "
          f"{args.threads} threads")
    print(f"{'':12s} {'s/epoch (median)':>18s} {'test accuracy':>14s}")
    print(f"{'clearconv':12s} {our_epoch:18.2f} {our_accuracy:14.4f}")
    print(f"{'pytorch':12s} {their_epoch:18.2f} {their_accuracy:14.4f}")
    print(f"epoch time ratio clearconv/pytorch: {our_epoch / their_epoch:.2f}; "
          f"accuracy difference: {100 * (our_accuracy - their_accuracy):+.2f} points")
    return 0


if __name__ == "__main__":
    sys.exit(main())
