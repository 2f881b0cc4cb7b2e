"""Datasets and the plumbing to feed them to a model.

    from clearconv.data import load
    (x_train, y_train), (x_test, y_test) = load("fashion-mnist")   # x: (N, 28, 28, 1) float32 in [0, 1]

Nothing here downloads. File datasets read IDX files you have (see
``idx_datasets``); generated ones ("signals", "mnist1d") and "digits" are made
or read from an installed package, seeded.
"""

from .batches import batch_indices, shuffle_split, train_val_split
from .catalog import DATASETS, load
from .digits import load_digits
from .idx import load_idx_pair, read_idx, write_idx
from .idx_datasets import load_fashion_mnist, load_idx_dir, load_mnist
from .images import load_image
from .mnist1d import load_mnist1d
from .signals import load_signals, make_signals

__all__ = ["load", "DATASETS", "read_idx", "write_idx", "load_idx_pair", "load_idx_dir", "load_image",
           "load_digits", "load_fashion_mnist", "load_mnist", "load_mnist1d", "load_signals", "make_signals",
           "train_val_split", "shuffle_split", "batch_indices"]
