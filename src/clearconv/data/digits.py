"""The "digits" dataset: scikit-learn's 1,797 handwritten digits, 8x8 pixels, values 0..16.

scikit-learn ships the data inside its package (a small CSV file), so
loading needs no network. It has no official train/test split; this module
makes a seeded, stratified one: for each digit, a random ``test_fraction``
of its images (rounded to the nearest integer) goes to the test set.
"""

from __future__ import annotations

import numpy as np

from ._optional import import_optional

DIGITS_MAX_VALUE = 16.0


def load_digits(seed: int = 0, test_fraction: float = 0.2,
                ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``(x_train, y_train), (x_test, y_test)``: x float32 (N, 8, 8, 1) in [0, 1], y int64 in 0..9.

    With the default ``test_fraction=0.2``: 1,438 training and 359 test
    images. The same seed gives the same split and the same order.
    Needs scikit-learn (``pip install "clearconv[data]"``).
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"load_digits: `test_fraction` must be strictly between 0 and 1; "
                         f"received {test_fraction!r}")
    datasets = import_optional("sklearn.datasets", "scikit-learn", "data", "The 'digits' dataset")
    pixels, labels = datasets.load_digits(return_X_y=True)             # (1797, 64) float64 0..16, (1797,)
    images = (pixels / DIGITS_MAX_VALUE).astype(np.float32).reshape(-1, 8, 8, 1)  # (N, 64) -> (N, 8, 8, 1)
    labels = labels.astype(np.int64)
    train_index, test_index = stratified_split_indices(labels, test_fraction, seed)
    return (images[train_index], labels[train_index]), (images[test_index], labels[test_index])


def stratified_split_indices(labels: np.ndarray, test_fraction: float, seed: int,
                             ) -> tuple[np.ndarray, np.ndarray]:
    """Seeded stratified split: per class, round(test_fraction * count) random examples go to test.

    Returns (train_index, test_index), each in a seeded random order.
    """
    rng = np.random.default_rng(seed)
    train_parts, test_parts = [], []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        test_count = int(round(test_fraction * members.size))
        test_parts.append(members[:test_count])
        train_parts.append(members[test_count:])
    return rng.permutation(np.concatenate(train_parts)), rng.permutation(np.concatenate(test_parts))
