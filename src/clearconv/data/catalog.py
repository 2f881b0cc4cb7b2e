"""``load(name)``: every dataset by name, and the list of names."""

from __future__ import annotations

import os
from typing import Callable, Union

import numpy as np

from .digits import load_digits
from .idx_datasets import load_fashion_mnist, load_mnist
from .mnist1d import load_mnist1d
from .signals import load_signals

PathLike = Union[str, "os.PathLike[str]"]
Split = tuple[np.ndarray, np.ndarray]


def _from_files(loader: Callable) -> Callable:
    """Adapt a file-based loader (takes data_dir, no seed) to load's signature."""
    def load_files(data_dir: PathLike | None, seed: int, **options):
        return loader(data_dir=data_dir, **options)
    return load_files


def _generated(loader: Callable, name: str) -> Callable:
    """Adapt a generated or packaged dataset (takes seed, no files) to load's signature."""
    def load_generated(data_dir: PathLike | None, seed: int, **options):
        if data_dir is not None:
            raise ValueError(f"load: the {name!r} dataset is generated or ships with a package; it reads no "
                             f"files, so `data_dir` must be None; received {data_dir!r}")
        return loader(seed=seed, **options)
    return load_generated


_LOADERS: dict[str, Callable] = {
    "digits": _generated(load_digits, "digits"),
    "fashion-mnist": _from_files(load_fashion_mnist),
    "mnist": _from_files(load_mnist),
    "mnist1d": _generated(load_mnist1d, "mnist1d"),
    "signals": _generated(load_signals, "signals"),
}
DATASETS: tuple[str, ...] = tuple(_LOADERS)


def load(name: str, data_dir: PathLike | None = None, seed: int = 0, **options) -> tuple[Split, Split]:
    """Load a dataset by name: ``(x_train, y_train), (x_test, y_test)``.

    Images are float32 (N, H, W, C) in [0, 1] (C = 1 for grayscale), 1-D
    signals float32 (N, length, 1); labels int64. Names (see DATASETS):

    - "digits": scikit-learn's 8x8 digits, seeded stratified 80/20 split
      (``test_fraction``); needs ``pip install "clearconv[data]"``.
    - "fashion-mnist": 60,000 + 10,000 28x28 images read from IDX files in
      ``data_dir``, $CLEARCONV_FASHION_MNIST or /usr/share/datasets/fashion-mnist.
    - "mnist": your own MNIST IDX files in ``data_dir`` or $CLEARCONV_MNIST
      (``test_only=True`` for just the t10k-* pair).
    - "mnist1d": MNIST-1D generated locally, x (N, 40, 1), standardised, not
      in [0, 1] (``num_samples``, ``train_split``, ``shuffle_seq``; seed=42
      reproduces the published dataset's arguments); needs "clearconv[mnist1d]".
    - "signals": synthetic healthy/faulty bearing vibrations, x (N, 512, 1)
      (``train_count``, ``test_count``, ``length``).

    seed: used by the generated and split datasets, ignored by the file
    datasets (their split is the published one). ``options`` go to the
    dataset's own loader (``clearconv.data.load_<name>``).
    """
    if name not in _LOADERS:
        raise ValueError(f"load: unknown dataset {name!r}; valid names: {', '.join(DATASETS)}")
    return _LOADERS[name](data_dir, seed, **options)
