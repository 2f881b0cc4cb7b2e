"""CSVLogger: one CSV row per epoch."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable

import numpy as np

from .. import distribution
from .callback import Callback, Logs


class CSVLogger(Callback):
    """Stream one CSV row per epoch: column ``epoch`` (0-based) then the log names sorted.

    The columns are fixed at the first epoch. As in Keras, when those logs hold
    no ``val_*`` name, a ``val_`` column is added for each (written ``NA`` while
    absent), so a later validation run still fits. Rows end in ``\\r\\n`` (the
    csv module's Excel dialect) and the file is flushed after each. With
    ``append=True`` an existing non-empty file is continued without a new header.

    Under a :class:`~clearconv.distribution.DataParallel` of several processes only rank 0 opens and writes
    the file (the logs are the global ones on every process); the others skip each write and return.
    """

    def __init__(self, filename: str | os.PathLike, separator: str = ",", append: bool = False) -> None:
        super().__init__()
        self.sep = separator
        self.filename = os.fspath(filename)
        self.append = append
        self.keys: list[str] | None = None
        self.writer = None
        self.csv_file = None
        self.append_header = True

    def on_train_begin(self, logs: Logs | None = None) -> None:
        if not distribution.is_main():  # one writer under DataParallel: every process has the same logs
            return
        self.append_header = True
        if self.append and os.path.exists(self.filename):
            with open(self.filename, encoding="utf-8") as existing:
                self.append_header = not existing.readline()
        self._close()
        self.csv_file = open(self.filename, "a" if self.append else "w", newline="", encoding="utf-8")
        self.writer = None
        self.keys = None

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        logs = logs or {}
        if not distribution.is_main():
            return
        if self.csv_file is None:  # used without on_train_begin
            self.on_train_begin()
        if self.keys is None:
            self.keys = sorted(logs)
            if self.keys and not any(key.startswith("val_") for key in self.keys):
                self.keys += ["val_" + key for key in self.keys]
        if self.writer is None:
            self.writer = csv.DictWriter(self.csv_file, fieldnames=["epoch"] + self.keys, delimiter=self.sep)
            if self.append_header:
                self.writer.writeheader()
        row = {"epoch": epoch}
        row.update((key, _csv_value(logs.get(key, "NA"))) for key in self.keys)
        self.writer.writerow(row)
        self.csv_file.flush()

    def on_train_end(self, logs: Logs | None = None) -> None:
        self._close()
        self.writer = None

    def _close(self) -> None:
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()


def _csv_value(value):
    """A CSV cell: strings and scalars as they are, a 1-D iterable as "[a, b, ...]"."""
    if isinstance(value, str) or (isinstance(value, np.ndarray) and value.ndim == 0):
        return value
    if isinstance(value, Iterable):
        return f'"[{", ".join(map(str, value))}]"'
    return value
