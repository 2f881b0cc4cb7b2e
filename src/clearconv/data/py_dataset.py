"""``PyDataset``: Keras's base class for a dataset written in Python, one batch per index.

    class Pairs(PyDataset):
        def __init__(self, x, y, batch_size, **kwargs):
            super().__init__(**kwargs)              # workers, use_multiprocessing, max_queue_size
            self.x, self.y, self.batch_size = x, y, batch_size

        def __len__(self):                          # number of batches, not of samples
            return math.ceil(len(self.x) / self.batch_size)

        def __getitem__(self, index):               # batch `index`: (x, y) or (x, y, sample_weight)
            part = slice(index * self.batch_size, (index + 1) * self.batch_size)
            return self.x[part], self.y[part]

    model.fit(Pairs(x, y, 32, workers=4), epochs=3)

``fit``/``evaluate``/``predict`` read batches ``dataset[i]`` for i in
``range(len(dataset))`` (``fit`` shuffles that order unless ``shuffle=False``),
and call ``on_epoch_begin()`` / ``on_epoch_end()`` around each pass, as Keras 3
does. A ``num_batches`` property returning None makes the dataset infinite:
indices 0, 1, 2, ... until ``steps_per_epoch`` (or ``steps``) batches.

``workers > 1`` reads batches ahead in that many threads, at most
``max_queue_size`` of them in flight, and hands them over in index order (see
:mod:`clearconv.data.adapters`). ``use_multiprocessing=True`` (Keras's forked
worker processes) is not available here and is refused when given.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np

__all__ = ["PyDataset"]


def _check_count(value, argument: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        kind = "a positive integer" if minimum == 1 else "a non-negative integer"
        raise ValueError(f"PyDataset: `{argument}` must be {kind}; received {argument}={value!r}")
    return int(value)


def _check_multiprocessing(value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"PyDataset: `use_multiprocessing` must be True or False; received {value!r}")
    if value:
        raise ValueError("PyDataset: use_multiprocessing=True is not supported in clearconv (batches are not "
                         "read in forked processes). Use `workers=N` with use_multiprocessing=False to read "
                         "batches ahead in N threads.")
    return False


class PyDataset:
    """Base class of a dataset that returns whole batches by index (Keras's ``keras.utils.PyDataset``).

    Subclasses implement ``__getitem__(index)`` returning batch ``index`` and
    ``__len__()`` returning the number of batches (or a ``num_batches``
    property, None for an infinite dataset), and may override
    ``on_epoch_begin()`` / ``on_epoch_end()``.

    A batch is ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``, where
    ``x`` is an array ``(batch, ...)``, a list of arrays (one per model input)
    or a dict keyed by input names; ``y`` likewise per output.

    Args:
        workers: threads reading batches ahead; 0 or 1 read them in the
            calling thread when they are needed.
        use_multiprocessing: must be False (forked worker processes are not
            supported; ``workers`` gives threads).
        max_queue_size: most batches read ahead at any time when ``workers > 1``.
    """

    def __init__(self, workers: int = 1, use_multiprocessing: bool = False, max_queue_size: int = 10):
        self._workers = _check_count(workers, "workers", 0)
        self._use_multiprocessing = _check_multiprocessing(use_multiprocessing)
        self._max_queue_size = _check_count(max_queue_size, "max_queue_size", 1)

    def _warn_if_super_not_called(self) -> None:
        # A subclass whose __init__ forgot super().__init__(): default settings, and a hint (as Keras gives).
        missing = [name for name in ("_workers", "_use_multiprocessing", "_max_queue_size")
                   if not hasattr(self, name)]
        if not missing:
            return
        self.__dict__.setdefault("_workers", 1)
        self.__dict__.setdefault("_use_multiprocessing", False)
        self.__dict__.setdefault("_max_queue_size", 10)
        warnings.warn(f"{type(self).__name__} should call `super().__init__(**kwargs)` in its constructor "
                      f"(kwargs may hold `workers`, `use_multiprocessing`, `max_queue_size`); using the "
                      f"defaults workers=1, max_queue_size=10.", stacklevel=3)

    @property
    def workers(self) -> int:
        self._warn_if_super_not_called()
        return self._workers

    @workers.setter
    def workers(self, value: int) -> None:
        self._workers = _check_count(value, "workers", 0)

    @property
    def use_multiprocessing(self) -> bool:
        self._warn_if_super_not_called()
        return self._use_multiprocessing

    @use_multiprocessing.setter
    def use_multiprocessing(self, value: bool) -> None:
        self._use_multiprocessing = _check_multiprocessing(value)

    @property
    def max_queue_size(self) -> int:
        self._warn_if_super_not_called()
        return self._max_queue_size

    @max_queue_size.setter
    def max_queue_size(self, value: int) -> None:
        self._max_queue_size = _check_count(value, "max_queue_size", 1)

    def __getitem__(self, index: int):
        """Batch number ``index`` (0-based): ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``."""
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__(index) returning a batch")

    @property
    def num_batches(self) -> int | None:
        """Number of batches, ``len(self)`` by default; a subclass returns None for an infinite dataset."""
        if hasattr(self, "__len__"):
            return len(self)
        raise NotImplementedError(f"{type(self).__name__} must implement __len__() (the number of batches) or "
                                  f"a `num_batches` property (None for an infinite dataset)")

    def __iter__(self):
        """Batches 0, 1, ... in order, read in this thread (no workers, no shuffling)."""
        try:
            count = self.num_batches
        except NotImplementedError:
            count = None
        indices = itertools.count() if count is None else range(count)
        for index in indices:
            yield self[index]

    def on_epoch_begin(self) -> None:
        """Called before each pass over the data."""

    def on_epoch_end(self) -> None:
        """Called after each pass over the data (and once when fit/evaluate starts, as in Keras)."""
