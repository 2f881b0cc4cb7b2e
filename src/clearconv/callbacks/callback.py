"""The base class of every callback, its hook names, and the console writer the callbacks share."""

from __future__ import annotations

import sys
from typing import Any

from .. import distribution


Logs = dict[str, Any]


def print_message(message: str, end: str = "\n") -> None:
    """Write to the current sys.stdout and flush, so progress shows up at once.

    Under a :class:`~clearconv.distribution.DataParallel` of several processes only rank 0 writes: the
    callbacks run alike on every process with the same logs, so one copy of each line is all there is."""
    if not distribution.is_main():
        return
    sys.stdout.write(message + end)
    sys.stdout.flush()


class Callback:
    """Base class for callbacks: every hook is a no-op; override the ones you need.

    Attributes:
        model: the model being trained (set by :meth:`set_model`).
        params: dict of training parameters (``verbose``, ``epochs``, ``steps``).

    Hook arguments follow Keras: ``epoch`` and ``batch`` are 0-based indices;
    ``logs`` is a dict of floats (running means within the epoch for batch
    hooks, epoch results plus ``val_*`` for ``on_epoch_end``).
    ``on_train_batch_begin/end`` call the legacy aliases ``on_batch_begin/end``.
    """

    def __init__(self) -> None:
        self.model = None
        self.params = None

    def set_params(self, params: dict) -> None:
        self.params = params

    def set_model(self, model) -> None:
        self.model = model

    def on_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        """Legacy alias of :meth:`on_train_batch_begin`."""

    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        """Legacy alias of :meth:`on_train_batch_end`."""

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        """Called at the start of each training epoch."""

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        """Called at the end of each training epoch; logs hold the epoch's results and ``val_*``."""

    def on_train_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        self.on_batch_end(batch, logs=logs)

    def on_test_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        """Called before each evaluation (or validation) batch."""

    def on_test_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        """Called after each evaluation (or validation) batch with the running means."""

    def on_predict_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        """Called before each prediction batch."""

    def on_predict_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        """Called after each prediction batch."""

    def on_train_begin(self, logs: Logs | None = None) -> None:
        """Called once when fit starts."""

    def on_train_end(self, logs: Logs | None = None) -> None:
        """Called once when fit ends (also after an early stop)."""

    def on_test_begin(self, logs: Logs | None = None) -> None:
        """Called when evaluation (or validation inside fit) starts."""

    def on_test_end(self, logs: Logs | None = None) -> None:
        """Called when evaluation (or validation inside fit) ends."""

    def on_predict_begin(self, logs: Logs | None = None) -> None:
        """Called when prediction starts."""

    def on_predict_end(self, logs: Logs | None = None) -> None:
        """Called when prediction ends."""
