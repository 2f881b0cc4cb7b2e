"""EarlyStopping: stop training when a monitored value stops improving."""

from __future__ import annotations

import warnings

from .callback import Logs, print_message
from .monitor_callback import MonitorCallback


class EarlyStopping(MonitorCallback):
    """Stop training when the monitored quantity stops improving (Keras 3 semantics).

    At each epoch end from ``start_from_epoch`` on: ``wait`` grows by one; an
    improvement on the best so far (by more than ``min_delta``) records the new
    best (and its weights when ``restore_best_weights``) and resets ``wait`` to
    0, but only if the value also beats ``baseline`` when one is given.
    Otherwise, once ``wait >= patience`` (and not on epoch 0), training stops.
    With ``restore_best_weights`` the best epoch's weights are put back at the
    end of training, whether it stopped early or ran all its epochs.

    Args:
        monitor: log name to watch. min_delta: least change that counts (absolute value taken).
        patience: epochs without improvement before stopping. verbose: 1 prints what it does.
        mode: 'auto', 'min' or 'max' (see :func:`infer_mode`).
        baseline: value the monitor must beat for ``wait`` to reset.
        restore_best_weights: put back the best epoch's weights at the end of training.
        start_from_epoch: epochs to ignore before watching (warm-up).
    """

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0, patience: int = 0, verbose: int = 0,
                 mode: str = "auto", baseline: float | None = None, restore_best_weights: bool = False,
                 start_from_epoch: int = 0) -> None:
        super().__init__(monitor, mode, min_delta)
        self.patience = patience
        self.verbose = verbose
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        self._reset()

    def _reset(self) -> None:
        self.wait = 0
        self.stopped_epoch = 0
        self.best: float | None = None
        self.best_weights: list | None = None
        self.best_epoch = 0

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self._reset()  # the same instance may serve several fits

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if self.monitor_op is None:
            self._set_monitor_op()
        current = self.get_monitor_value(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs: Logs | None = None) -> None:
        if self.stopped_epoch > 0 and self.verbose > 0:
            print_message(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print_message(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)

    def get_monitor_value(self, logs: Logs | None) -> float | None:
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None:
            warnings.warn(f"Early stopping conditioned on metric `{self.monitor}` which is not available. "
                          f"Available metrics are: {','.join(logs.keys())}", stacklevel=3)
        return value
