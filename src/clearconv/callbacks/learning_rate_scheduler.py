"""LearningRateScheduler: set the learning rate before each epoch from a function of the epoch."""

from __future__ import annotations

import inspect
from typing import Callable

import numpy as np

from .callback import Callback, Logs, print_message


class LearningRateScheduler(Callback):
    """Before each epoch set ``optimizer.learning_rate = schedule(epoch, lr)`` (epoch 0-based).

    A one-argument ``schedule(epoch)`` is also accepted, as in Keras. The result
    must be a float. The rate in force is added to the logs as ``learning_rate``
    at each epoch end.
    """

    def __init__(self, schedule: Callable[..., float], verbose: int = 0) -> None:
        super().__init__()
        if not callable(schedule):
            raise TypeError(f"LearningRateScheduler: `schedule` must be callable as schedule(epoch, lr); "
                            f"received {schedule!r}")
        self.schedule = schedule
        self.verbose = verbose

    def _takes_learning_rate(self) -> bool:
        try:
            inspect.signature(self.schedule).bind(0, 0.0)
        except TypeError:
            return False
        except ValueError:  # no signature available (some builtins): assume the two-argument form
            return True
        return True

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        optimizer = self.model.optimizer
        if not hasattr(optimizer, "learning_rate"):
            raise ValueError('Optimizer must have a "learning_rate" attribute.')
        if self._takes_learning_rate():
            learning_rate = self.schedule(epoch, float(optimizer.learning_rate))
        else:
            learning_rate = self.schedule(epoch)
        if isinstance(learning_rate, bool) or not isinstance(learning_rate, (float, np.floating)):
            raise ValueError(f"The output of the `schedule` function should be a float. Got: {learning_rate!r}")
        optimizer.learning_rate = float(learning_rate)
        if self.verbose > 0:
            print_message(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {learning_rate}.")

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.current_learning_rate())
