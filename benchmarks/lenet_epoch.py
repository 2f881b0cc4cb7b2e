#!/usr/bin/env python
"""LeNet-5 on Fashion-MNIST: clearconv and PyTorch (NCHW and channels_last) trained the same way, taking turns.

    python benchmarks/lenet_epoch.py [--epochs 3] [--threads 2] [--batch-size 64] [--seed 0] [--images N]

The three players train on the same batches, a tenth of an epoch per turn,
clearconv first on even turns and PyTorch first on odd ones
(:mod:`clearconv_bench.epoch`; :mod:`clearconv_bench.lenet` holds the
trainers). The headline is total clearconv time / total time of PyTorch's
faster memory format over every turn; the per-turn and per-epoch ratios are
printed as a noise diagnostic. ``--images`` trains on the first N training
images only (a quick check; the figures need all 60,000). The same
functions give ``benchmarks/run.py``'s lenet-epoch row.
"""

from __future__ import annotations

import argparse
import sys

# benchmarks/ is this script's directory, first on sys.path: its package clearconv_bench imports from here.
from clearconv_bench.threads import set_thread_environment

DEFAULT_EPOCHS = 3
DEFAULT_THREADS = 2


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--images", type=int, default=None, help="train on the first N training images only")
    args = parser.parse_args(argv)
    for name in ("epochs", "batch_size", "threads", "images"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive integer; received {value}")
    return args


if __name__ == "__main__":
    ARGS = parse_args()
    set_thread_environment(ARGS.threads)                             # before NumPy: OpenBLAS reads it at load time
    from clearconv_bench.checkout import use_this_checkout
    use_this_checkout()

import torch  # noqa: E402

from clearconv_bench import epoch, header  # noqa: E402
from clearconv_bench.targets import EPOCH_TARGET  # noqa: E402


def main(args) -> int:
    malloc = header.apply_malloc_setting()                           # before the first large allocation
    torch.set_num_threads(args.threads)
    print(header.format_header(header.header_fields(args.threads, malloc, torch_module=torch)))
    try:
        result = epoch.compare(args.epochs, args.batch_size, args.seed, images=args.images)
    except FileNotFoundError as error:
        print(error)
        return 1
    print(f"LeNet-5, Fashion-MNIST ({result['images']} images), {args.epochs} epochs, batch {args.batch_size}, "
          f"Adam 1e-3, {args.threads} threads, {result['turns']} turns")
    print(f"{'':22s} {'s/epoch (total/epochs)':>23s} {'test accuracy':>14s}")
    for player in epoch.PLAYERS:
        seconds = sum(result["seconds"][player]) / args.epochs
        print(f"{player:22s} {seconds:23.2f} {result['accuracy'][player]:14.4f}")
    contended = result["contended_turns"]
    outcome = ("PASS" if result["ratio"] <= EPOCH_TARGET else "FAIL") if not contended else \
        f"INCONCLUSIVE ({len(contended)} contended turn(s): rerun on a quiet machine)"
    print(f"headline: total clearconv / total torch {result['torch_format']} (the faster format) = "
          f"{result['ratio']:.2f}x; target <= {EPOCH_TARGET:g}x: {outcome}")
    print(f"noise diagnostic: per-turn ratios median {result['turn_ratio_median']:.2f}, range "
          f"{result['turn_ratio_min']:.2f}-{result['turn_ratio_max']:.2f} over {result['turns']} turns; per-epoch "
          "ratios " + ", ".join(f"{ratio:.2f}" for ratio in result["epoch_ratios"]))
    print(f"untimed start-up, {epoch.WARM_UP_BATCHES} batches on a throwaway model before the turns: "
          + ", ".join(f"{player} {seconds:.2f} s" for player, seconds in result["start_up_seconds"].items()))
    accuracy = result["accuracy"]
    best = accuracy["torch:" + result["torch_format"]]
    print(f"accuracy difference clearconv - torch {result['torch_format']}: "
          f"{100 * (accuracy['clearconv'] - best):+.2f} points")
    return 0


if __name__ == "__main__":
    sys.exit(main(ARGS))
