#!/usr/bin/env python
"""LeNet-5 on Fashion-MNIST, one recipe in clearconv and in PyTorch: do the two end at the same accuracy?

    python benchmarks/recipes/lenet5_fashion.py [--seeds 0,1,2] [--epochs 10] [--threads 2]

The recipe is `clearconv train lenet5 --data fashion-mnist` (src/clearconv/cli/train.py): Adam at 1e-3
(Keras's epsilon 1e-7), batch 32, 10 epochs, sparse categorical cross-entropy, the last 10% of the 60,000
training images held out (Keras's ``validation_split``, taken before shuffling: 54,000 are trained on),
the 54,000 reshuffled every epoch, Keras's default initialisers (glorot_uniform kernels, zero biases).

- clearconv: the command itself, ``clearconv.cli.main(["train", "lenet5", ...])``, once per seed; its
  printed test accuracy is read back.
- PyTorch: the NCHW twin of ``zoo.lenet5`` (conv 6@5x5 'same' -> pool -> conv 16@5x5 -> pool -> 120 ->
  84 -> 10), its kernels drawn glorot-uniform with torch's generator seeded by the seed (fan_in and fan_out
  counted as Keras counts them: receptive field x channels), biases zero, the epoch order drawn with the
  same generator. The logits go through log-softmax (PyTorch's CrossEntropyLoss), the same loss as
  Keras's softmax followed by the cross-entropy of probabilities, up to Keras's 1e-7 clipping.

The two draw different initial weights and batch orders from the same seed: the comparison is of the
recipes, so the script prints each seed's test accuracy (10,000 test images), the median over the seeds
of each library and the difference of the medians.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import re
import statistics
import sys
import tempfile
import time

import numpy as np

VALIDATION_SPLIT, BATCH_SIZE, LEARNING_RATE, EPSILON = 0.1, 32, 1e-3, 1e-7


def clearconv_accuracy(seed: int, epochs: int) -> float:
    """The test accuracy printed by `clearconv train lenet5 --data fashion-mnist --seed SEED`."""
    from clearconv import cli
    output, printed = os.path.join(tempfile.mkdtemp(), "lenet5.clearconv"), io.StringIO()
    with contextlib.redirect_stdout(printed):
        status = cli.main(["train", "lenet5", "--data", "fashion-mnist", "--seed", str(seed), "--epochs",
                           str(epochs), "--quiet", "--output", output])
    if status != 0:
        raise SystemExit(f"clearconv train failed with status {status}:\n{printed.getvalue()}")
    return float(re.search(r"test accuracy ([0-9.]+)", printed.getvalue()).group(1))


def torch_lenet5(torch, generator):
    """zoo.lenet5 in NCHW, kernels glorot-uniform from ``generator``, biases zero."""
    nn = torch.nn
    model = nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),       # (N, 1, 28, 28) -> (N, 6, 14, 14)
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),                 # -> (N, 16, 5, 5)
        nn.Flatten(),                                                     # -> (N, 400)
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
    with torch.no_grad():
        for layer in model:
            if isinstance(layer, (nn.Conv2d, nn.Linear)):
                weight = layer.weight                 # (out, in, kh, kw) or (out, in)
                receptive_field = math.prod(weight.shape[2:])
                fan_in, fan_out = weight.shape[1] * receptive_field, weight.shape[0] * receptive_field
                limit = math.sqrt(6.0 / (fan_in + fan_out))
                weight.uniform_(-limit, limit, generator=generator)
                layer.bias.zero_()
    return model


def torch_accuracy(seed: int, epochs: int, data) -> float:
    import torch
    (x_train, y_train), (x_test, y_test) = data
    kept = len(x_train) - int(len(x_train) * VALIDATION_SPLIT)            # Keras keeps the first 90%
    to_nchw = lambda x: torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))   # NHWC -> NCHW
    x, y = to_nchw(x_train[:kept]), torch.from_numpy(y_train[:kept].astype(np.int64))
    generator = torch.Generator().manual_seed(seed)
    model = torch_lenet5(torch, generator)
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE, eps=EPSILON)
    loss_function = torch.nn.CrossEntropyLoss()
    model.train()
    for _ in range(epochs):
        order = torch.randperm(kept, generator=generator)
        for first in range(0, kept, BATCH_SIZE):
            index = order[first:first + BATCH_SIZE]
            optimizer.zero_grad()
            loss_function(model(x[index]), y[index]).backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        predicted = model(to_nchw(x_test)).argmax(1).numpy()
    return float(np.mean(predicted == y_test))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="0,1,2", help="seeds, separated by commas (default 0,1,2)")
    parser.add_argument("--epochs", type=int, default=10, help="epochs (default 10, the recipe's)")
    parser.add_argument("--threads", type=int, default=2, help="PyTorch's intra-op threads (default 2)")
    args = parser.parse_args(argv)
    seeds = [int(seed) for seed in args.seeds.split(",")]
    try:
        import torch
    except ImportError:
        print("needs PyTorch (pip install torch)", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    from clearconv.data import load
    data = load("fashion-mnist", seed=0)      # the same arrays the command reads (no seed-dependent split)
    results = {"clearconv": [], "pytorch": []}
    for seed in seeds:
        for library, run in (("clearconv", lambda: clearconv_accuracy(seed, args.epochs)),
                             ("pytorch", lambda: torch_accuracy(seed, args.epochs, data))):
            start = time.perf_counter()
            accuracy = run()
            results[library].append(accuracy)
            print(f"seed {seed} {library:9s} test accuracy {accuracy:.4f} ({time.perf_counter() - start:.0f} s)",
                  flush=True)
    medians = {library: statistics.median(values) for library, values in results.items()}
    print(f"median over seeds {args.seeds}: clearconv {medians['clearconv']:.4f}, "
          f"pytorch {medians['pytorch']:.4f}; difference (clearconv - pytorch) "
          f"{100 * (medians['clearconv'] - medians['pytorch']):+.2f} points")
    return 0


if __name__ == "__main__":
    sys.exit(main())
