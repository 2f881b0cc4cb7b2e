"""ProgbarLogger: the callback that shows a Progbar per epoch, evaluation or prediction."""

from __future__ import annotations

from .callback import Callback, Logs, print_message
from .progbar import Progbar


class ProgbarLogger(Callback):
    """Prints ``Epoch e/E`` (when E > 1) and a :class:`Progbar` per epoch, evaluation or prediction.

    Reads ``verbose`` ("auto" means 1), ``epochs`` and ``steps`` from the params.
    Inside fit, validation batches stay silent; the epoch's final line shows the
    epoch logs, ``val_*`` included. The logs are already running means, so the
    bar shows them as given (it does not average them again).
    """

    def __init__(self) -> None:
        super().__init__()
        self.seen = 0
        self.progbar: Progbar | None = None
        self.target: int | None = None
        self.verbose = 1
        self.epochs = 1
        self._called_in_fit = False

    def set_params(self, params: dict) -> None:
        super().set_params(params)
        verbose = params.get("verbose", 1)
        self.verbose = 1 if verbose == "auto" else verbose
        self.epochs = params.get("epochs", 1)
        self.target = params.get("steps")

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self._called_in_fit = True

    def on_train_end(self, logs: Logs | None = None) -> None:
        self._called_in_fit = False

    def on_test_begin(self, logs: Logs | None = None) -> None:
        if not self._called_in_fit:
            self._new_progbar()

    def on_predict_begin(self, logs: Logs | None = None) -> None:
        self._new_progbar()

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        self._new_progbar()
        if self.verbose and self.epochs > 1:
            print_message(f"Epoch {epoch + 1}/{self.epochs}")

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        self._update_progbar(batch, logs)

    def on_test_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        if not self._called_in_fit:
            self._update_progbar(batch, logs)

    def on_predict_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        self._update_progbar(batch, None)  # predictions are not metrics

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        self._finalize_progbar(logs)

    def on_test_end(self, logs: Logs | None = None) -> None:
        if not self._called_in_fit:
            self._finalize_progbar(logs)

    def on_predict_end(self, logs: Logs | None = None) -> None:
        self._finalize_progbar(logs)

    def _new_progbar(self) -> None:
        self.seen = 0
        self.progbar = Progbar(target=self.target, verbose=self.verbose, stateless_metrics=(), unit_name="step")

    def _update_progbar(self, batch: int, logs: Logs | None) -> None:
        if self.progbar is None:
            self._new_progbar()
        self.seen = batch + 1  # batches are 0-based, the counter 1-based
        if self.verbose == 1:
            self.progbar.update(self.seen, list((logs or {}).items()), finalize=False)

    def _finalize_progbar(self, logs: Logs | None) -> None:
        if self.progbar is None:
            self._new_progbar()
        if self.target is None:  # unknown length: the first epoch tells it
            self.target = self.seen
            self.progbar.target = self.seen
        self.progbar.update(self.target, list((logs or {}).items()), finalize=True)
