"""One training mechanism for every model compared: a clearconv model and its PyTorch twin, trained the same way.

Same data, same architecture (:mod:`.model_twins`), same initial weights
(clearconv's draw, copied into the twin), same optimizer (Adam, lr 1e-3,
Keras's epsilon 1e-7), the loss the model needs, the same batches in the same
order. Each trainer trains on whatever samples it is given (an index array)
and returns the seconds it took, so :func:`.turns.take_turns` can time them
turn by turn. LeNet-5 on Fashion-MNIST (:mod:`.epoch`) and the whole-model
rows (:mod:`.whole_models`) both train through these classes.
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F

from clearconv import optimizers, utils

from .model_twins import copy_weights, make_twin
from .torch_twins import memory_format

DEFAULT_BATCH_SIZE = 64
DEFAULT_SEED = 0
LEARNING_RATE = 1e-3
ADAM_EPSILON = 1e-7       # Keras's default (PyTorch's is 1e-8)

# clearconv loss name -> PyTorch's loss on the twin's logits and the targets
TORCH_LOSSES = {
    "sparse_categorical_crossentropy": F.cross_entropy,
    "binary_crossentropy": F.binary_cross_entropy_with_logits,
}


class ClearconvTrainer:
    """``make_model()`` compiled with Adam 1e-3 (Keras's defaults) and ``loss``, trained by ``fit``."""

    def __init__(self, x, y, make_model, loss: str = "sparse_categorical_crossentropy", metrics=None,
                 batch_size: int = DEFAULT_BATCH_SIZE, seed: int = DEFAULT_SEED):
        utils.set_seed(seed)
        self.model = make_model()
        self.model.compile(optimizer=optimizers.Adam(LEARNING_RATE), loss=loss, metrics=metrics)
        self.initial = self.model.get_weights()
        self.x, self.y, self.batch_size = x, y, batch_size

    def train(self, order) -> float:
        """Train on the samples in ``order``, in batches in that order; the seconds it took."""
        start = time.perf_counter()
        self.model.fit(self.x[order], self.y[order], batch_size=self.batch_size, epochs=1, shuffle=False, verbose=0)
        return time.perf_counter() - start

    def accuracy(self, x_test, y_test) -> float:
        """The compiled metric (accuracy) on a test set."""
        return float(self.model.evaluate(x_test, y_test, batch_size=1000, verbose=0)[1])


class TorchTrainer:
    """The twin of a clearconv model, its weights copied in, trained with Adam 1e-3 (Keras's epsilon) and the
    PyTorch form of ``loss``, in memory format ``memory_format_name``.

    In channels_last the images are converted once, and every batch stays
    channels_last; in contiguous they are copied to channels-first once.
    Either way no per-batch conversion is timed. Targets with the images'
    rank (per-pixel masks) are converted the same way; class labels become
    int64.
    """

    def __init__(self, x, y, module: torch.nn.Module, loss: str = "sparse_categorical_crossentropy",
                 batch_size: int = DEFAULT_BATCH_SIZE, seed: int = DEFAULT_SEED,
                 memory_format_name: str = "contiguous"):
        if loss not in TORCH_LOSSES:
            raise ValueError(f"TorchTrainer: loss {loss!r} has no PyTorch form here; accepted: "
                             f"{', '.join(TORCH_LOSSES)}")
        torch.manual_seed(seed)
        self.format = memory_format(memory_format_name)
        self.model = module.to(memory_format=self.format)
        self.model.train()
        self.loss = TORCH_LOSSES[loss]
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=LEARNING_RATE, eps=ADAM_EPSILON)
        self.images = self.as_images(x)
        self.labels = self.as_images(y) if np.ndim(y) == np.ndim(x) else torch.tensor(np.asarray(y, dtype=np.int64))
        self.batch_size = batch_size

    def as_images(self, x) -> torch.Tensor:
        """(N, *S, C) NumPy -> (N, C, *S) tensor in this trainer's memory format."""
        tensor = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).movedim(-1, 1)
        return tensor.contiguous(memory_format=self.format)

    def step(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """One update on one batch; the loss (a scalar tensor, detached)."""
        self.optimizer.zero_grad()
        loss = self.loss(self.model(images), labels)
        loss.backward()
        self.optimizer.step()
        return loss.detach()

    def train(self, order) -> float:
        """Train on the samples in ``order``, in batches in that order; the seconds it took."""
        start = time.perf_counter()
        for first in range(0, len(order), self.batch_size):
            index = torch.tensor(order[first:first + self.batch_size])
            self.step(self.images[index], self.labels[index])
        return time.perf_counter() - start

    def accuracy(self, x_test, y_test) -> float:
        self.model.eval()
        with torch.no_grad():
            predicted = self.model(self.as_images(x_test)).argmax(1).numpy()
        self.model.train()
        return float((predicted == y_test).mean())


def torch_trainer(name: str, clearconv_model, x, y, loss: str, batch_size: int = DEFAULT_BATCH_SIZE,
                  seed: int = DEFAULT_SEED, memory_format_name: str = "contiguous") -> TorchTrainer:
    """A :class:`TorchTrainer` of the twin of zoo model ``name``, from ``clearconv_model``'s current weights."""
    module = make_twin(name)
    copy_weights(clearconv_model, module)
    return TorchTrainer(x, y, module, loss, batch_size, seed, memory_format_name)
