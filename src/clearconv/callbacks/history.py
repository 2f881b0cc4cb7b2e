"""History: the record of every epoch's logs that ``fit`` returns."""

from __future__ import annotations

from .callback import Callback, Logs


class History(Callback):
    """Records epoch logs: ``history[name]`` is the list of that log's values, ``epoch`` the epoch indices.

    ``history`` is kept across fits with the same instance (Keras does the
    same); ``epoch`` restarts at each ``on_train_begin``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list] = {}
        self.epoch: list[int] = []

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.epoch = []

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        self.epoch.append(epoch)
        for name, value in (logs or {}).items():
            self.history.setdefault(name, []).append(value)
        if self.model is not None:
            self.model.history = self
