"""Splitting arrays into train/validation parts and an epoch into mini-batches.

:func:`train_val_split` is Keras's ``fit(validation_split=...)``: the LAST
fraction of the arrays, in their given order, becomes the validation set;
nothing is shuffled (shuffle your data first if its order is not random).
:func:`shuffle_split` is the seeded, shuffled alternative.

:func:`batch_indices` yields index arrays; the training loop takes
``x[index]``, which copies one batch, never the whole dataset per epoch.
"""

from __future__ import annotations

import math
from typing import Iterator

import numpy as np

from ..utils import global_rng


def check_validation_split(validation_split, caller: str = "validation_split") -> None:
    """Raise ValueError (naming ``caller``) unless ``validation_split`` is a number strictly between 0 and 1."""
    if isinstance(validation_split, bool) or not isinstance(validation_split, (int, float, np.floating)) \
            or not 0.0 < validation_split < 1.0:
        raise ValueError(f"{caller}: `validation_split` must be a number strictly between 0 and 1; "
                         f"received validation_split={validation_split!r}")


def validation_split_index(count: int, validation_split: float, caller: str = "validation_split") -> int:
    """Where Keras's ``validation_split`` cuts ``count`` samples: floor(N * (1 - split)), computed
    as Keras does; the samples before the cut train, those from it on validate.

    Raises ValueError when either part would be empty.
    """
    split_at = int(math.floor(count * (1.0 - validation_split)))
    if split_at == 0 or split_at == count:
        raise ValueError(f"{caller}: the data has {count} samples, not enough to split into a training "
                         f"and a validation set with validation_split={validation_split}. Provide more data or "
                         f"a different validation_split.")
    return split_at


def train_val_split(x, y=None, validation_split: float = 0.0):
    """Keras's ``validation_split``: ``(x_train, y_train), (x_val, y_val)``, the validation part LAST.

    split_at is :func:`validation_split_index`'s (the cut ``fit`` makes);
    train = [:split_at], validation = [split_at:]. The parts are views
    (slices), not copies. ``y`` may be None (then both y parts are None).
    Raises ValueError if ``validation_split`` is not strictly between 0 and 1,
    if x and y differ in length, or if either part would be empty.
    """
    count = _check_split_arguments("train_val_split", x, y, validation_split)
    split_at = validation_split_index(count, validation_split, "train_val_split")
    return (x[:split_at], _slice(y, 0, split_at)), (x[split_at:], _slice(y, split_at, count))


def shuffle_split(x, y=None, validation_split: float = 0.2, seed: int | np.random.Generator | None = 0):
    """A seeded random split: ``(x_train, y_train), (x_val, y_val)``, copies in a random order.

    The validation set gets round(N * validation_split) samples chosen by a
    random permutation from ``seed`` (an int, a Generator, or None for
    clearconv's global generator, see :func:`clearconv.utils.set_seed`).
    """
    count = _check_split_arguments("shuffle_split", x, y, validation_split)
    validation_count = int(round(count * validation_split))
    if validation_count == 0 or validation_count == count:
        raise ValueError(f"shuffle_split: the data has {count} samples, not enough to split into a training "
                         f"and a validation set with validation_split={validation_split}.")
    order = _generator(seed).permutation(count)
    train_index, validation_index = order[validation_count:], order[:validation_count]
    return ((x[train_index], None if y is None else y[train_index]),
            (x[validation_index], None if y is None else y[validation_index]))


def batch_indices(count: int, batch_size: int, shuffle: bool = True,
                  rng: int | np.random.Generator | None = None) -> Iterator[np.ndarray]:
    """One epoch of mini-batch index arrays covering 0..count-1 exactly once.

    Batches hold ``batch_size`` indices, the last one the remainder (as
    Keras: no sample is dropped). ``shuffle``: a fresh permutation from
    ``rng`` (an int seed, a Generator, or None for clearconv's global
    generator) for each call; otherwise 0..count-1 in order.
    """
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 0:
        raise ValueError(f"batch_indices: `count` must be a non-negative integer; received {count!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_indices: `batch_size` must be a positive integer; received {batch_size!r}")
    order = _generator(rng).permutation(count) if shuffle else np.arange(count)
    for start in range(0, count, batch_size):
        yield order[start:start + batch_size]


def _check_split_arguments(caller: str, x, y, validation_split: float) -> int:
    check_validation_split(validation_split, caller)
    count = len(x)
    if y is not None and len(y) != count:
        raise ValueError(f"{caller}: x has {count} samples but y has {len(y)}; they must have the same length")
    return count


def _slice(array, start: int, stop: int):
    return None if array is None else array[start:stop]


def _generator(seed: int | np.random.Generator | None) -> np.random.Generator:
    if seed is None:
        return global_rng()
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)
