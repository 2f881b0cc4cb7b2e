"""The "mnist1d" dataset: MNIST-1D (Greydanus, 2020), generated here with the mnist1d package.

Each example is one of ten 1-D digit templates, padded, stretched, shifted,
sheared and noised, then resampled to 40 points; the package then centres
the whole dataset and scales it to standard deviation 1 (so values are not
in [0, 1]). It is generated locally by ``mnist1d.data.make_dataset``; the
package's ``get_dataset`` (which downloads a pickle) is never called.

``make_dataset`` seeds NumPy's legacy global generator (``np.random.seed``)
and Python's ``random``; this module saves both states before the call and
restores them after it, so clearconv leaves global random state untouched.
With ``seed=42`` and the other defaults, the arguments are those of the
package's published dataset (4,000 training and 1,000 test examples).
"""

from __future__ import annotations

import random
from contextlib import contextmanager

import numpy as np

from ._optional import import_optional

MNIST1D_LENGTH = 40
MNIST1D_CANONICAL_SEED = 42


def load_mnist1d(seed: int = 0, num_samples: int = 5000, train_split: float = 0.8, shuffle_seq: bool = False,
                 ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``(x_train, y_train), (x_test, y_test)``: x float32 (N, 40, 1), y int64 in 0..9.

    num_samples: total number of examples (num_samples // 10 per digit);
    train_split: the fraction that goes to training (the first part of the
    package's shuffled order); shuffle_seq: permute the 40 positions (the
    package's spatial-bias experiment). The same seed gives the same arrays.
    Needs the mnist1d package (``pip install "clearconv[mnist1d]"``).
    """
    if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) or num_samples < 10:
        raise ValueError(f"load_mnist1d: `num_samples` must be an integer >= 10 (one per digit at least); "
                         f"received {num_samples!r}")
    if not 0.0 < train_split < 1.0:
        raise ValueError(f"load_mnist1d: `train_split` must be strictly between 0 and 1; received {train_split!r}")
    package = import_optional("mnist1d.data", "mnist1d", "mnist1d", "The 'mnist1d' dataset")
    args = package.get_dataset_args()          # a fresh ObjectView of the package's defaults
    args.seed = int(seed)
    args.num_samples = int(num_samples)
    args.train_split = float(train_split)
    args.shuffle_seq = bool(shuffle_seq)
    with _global_random_state_preserved():
        dataset = package.make_dataset(args)
    x_train = dataset["x"].astype(np.float32)[:, :, np.newaxis]          # (N, 40) -> (N, 40, 1)
    x_test = dataset["x_test"].astype(np.float32)[:, :, np.newaxis]      # (N, 40) -> (N, 40, 1)
    return (x_train, dataset["y"].astype(np.int64)), (x_test, dataset["y_test"].astype(np.int64))


@contextmanager
def _global_random_state_preserved():
    """Restore NumPy's legacy global generator and Python's ``random`` on exit."""
    numpy_state = np.random.get_state()
    python_state = random.getstate()
    try:
        yield
    finally:
        np.random.set_state(numpy_state)
        random.setstate(python_state)
