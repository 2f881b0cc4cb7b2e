"""LeNet-5 on Fashion-MNIST, trained the same way by clearconv and by PyTorch (in either memory format).

Same data (the training images, float32 in [0, 1]), same architecture
(zoo.lenet5: conv 6@5x5 same, pool, conv 16@5x5, pool, dense 120-84-10,
ReLU; its twin :class:`.model_twins.LeNet5`), same initial weights, same
optimizer, the same batches in the same order: the trainers of
:mod:`.trainers`, which the whole-model rows use as well. This module adds
the data and the epoch orders.
"""

from __future__ import annotations

import numpy as np

from clearconv import data, zoo

from .trainers import DEFAULT_BATCH_SIZE, DEFAULT_SEED, ClearconvTrainer, torch_trainer

LOSS = "sparse_categorical_crossentropy"


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


def clearconv_trainer(x, y, batch_size: int = DEFAULT_BATCH_SIZE, seed: int = DEFAULT_SEED) -> ClearconvTrainer:
    """zoo.lenet5 compiled with Adam 1e-3, sparse categorical cross-entropy and accuracy."""
    return ClearconvTrainer(x, y, zoo.lenet5, LOSS, ["accuracy"], batch_size, seed)


def torch_lenet_trainer(x, y, ours: ClearconvTrainer, batch_size: int = DEFAULT_BATCH_SIZE,
                        seed: int = DEFAULT_SEED, memory_format_name: str = "contiguous"):
    """The PyTorch twin of ``ours``'s LeNet-5, from its current (initial) weights."""
    return torch_trainer("lenet5", ours.model, x, y, LOSS, batch_size, seed, memory_format_name)
