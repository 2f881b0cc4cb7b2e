"""CallbackList: one object that calls every hook of the user's callbacks, then History's and the progress bar's."""

from __future__ import annotations

from collections.abc import Iterable

from .callback import Callback, Logs
from .history import History
from .progbar_logger import ProgbarLogger


def _as_callback_list(callbacks) -> list[Callback]:
    """None, one Callback or a (nested) iterable of them -> a flat list; anything else is a TypeError."""
    if callbacks is None:
        return []
    if isinstance(callbacks, Callback):
        return [callbacks]
    if not isinstance(callbacks, Iterable) or isinstance(callbacks, (str, bytes)):
        raise TypeError(f"CallbackList: `callbacks` must be a list of clearconv.callbacks.Callback instances; "
                        f"received {callbacks!r}")
    flat: list[Callback] = []
    for position, item in enumerate(callbacks):
        if isinstance(item, Callback):
            flat.append(item)
        elif isinstance(item, Iterable) and not isinstance(item, (str, bytes)):
            flat.extend(_as_callback_list(item))
        else:
            raise TypeError(f"CallbackList: callbacks[{position}] must be a clearconv.callbacks.Callback "
                            f"instance; received {item!r} of type {type(item).__name__}")
    return flat


class CallbackList(Callback):
    """Calls every hook on each callback in order: the user's, then History, then the progress bar.

    Args:
        callbacks: a Callback, a list of them, or None.
        add_history: append a :class:`History` unless one is already in the list.
        add_progbar: append a :class:`ProgbarLogger` unless one is already in the list.
        model: the model, handed to every callback (and ``model.history`` is set to the History).
        **params: training parameters (``verbose``, ``epochs``, ``steps``), handed to every callback.

    The same ``logs`` dict goes to each callback in turn.
    """

    def __init__(self, callbacks=None, add_history: bool = False, add_progbar: bool = False, model=None,
                 **params) -> None:
        super().__init__()
        self.callbacks = _as_callback_list(callbacks)
        self._history = next((cb for cb in self.callbacks if isinstance(cb, History)), None)
        self._progbar = next((cb for cb in self.callbacks if isinstance(cb, ProgbarLogger)), None)
        if self._history is None and add_history:
            self._history = History()
            self.callbacks.append(self._history)
        if self._progbar is None and add_progbar:
            self._progbar = ProgbarLogger()
            self.callbacks.append(self._progbar)
        if model is not None:
            self.set_model(model)
        if params:
            self.set_params(params)

    @property
    def history(self) -> History | None:
        """The History callback in this list (None when there is none)."""
        return self._history

    def append(self, callback: Callback) -> None:
        self.callbacks.extend(_as_callback_list(callback))

    def __iter__(self):
        return iter(self.callbacks)

    def __len__(self) -> int:
        return len(self.callbacks)

    def set_params(self, params: dict) -> None:
        self.params = params
        for callback in self.callbacks:
            callback.set_params(params)

    def set_model(self, model) -> None:
        self.model = model
        if self._history is not None:
            model.history = self._history
        for callback in self.callbacks:
            callback.set_model(model)

    # Batch hooks pass logs by keyword, epoch and begin/end hooks positionally, as Keras does
    # (LambdaCallback functions written for Keras rely on it).
    def on_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        logs = logs or {}
        for callback in self.callbacks:
            callback.on_batch_begin(batch, logs=logs)

    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        logs = logs or {}
        for callback in self.callbacks:
            callback.on_batch_end(batch, logs=logs)

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        logs = logs or {}
        for callback in self.callbacks:
            callback.on_epoch_begin(epoch, logs)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        logs = logs or {}
        for callback in self.callbacks:
            callback.on_epoch_end(epoch, logs)

    def on_train_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        logs = logs or {}
        for callback in self.callbacks:
            callback.on_train_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        logs = logs or {}
        for callback in self.callbacks:
            callback.on_train_batch_end(batch, logs=logs)

    def on_test_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        logs = logs or {}
        for callback in self.callbacks:
            callback.on_test_batch_begin(batch, logs=logs)

    def on_test_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        logs = logs or {}
        for callback in self.callbacks:
            callback.on_test_batch_end(batch, logs=logs)

    def on_predict_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        logs = logs or {}
        for callback in self.callbacks:
            callback.on_predict_batch_begin(batch, logs=logs)

    def on_predict_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        logs = logs or {}
        for callback in self.callbacks:
            callback.on_predict_batch_end(batch, logs=logs)

    def on_train_begin(self, logs: Logs | None = None) -> None:
        logs = logs or {}
        for callback in self.callbacks:
            callback.on_train_begin(logs)

    def on_train_end(self, logs: Logs | None = None) -> None:
        logs = logs or {}
        for callback in self.callbacks:
            callback.on_train_end(logs)

    def on_test_begin(self, logs: Logs | None = None) -> None:
        logs = logs or {}
        for callback in self.callbacks:
            callback.on_test_begin(logs)

    def on_test_end(self, logs: Logs | None = None) -> None:
        logs = logs or {}
        for callback in self.callbacks:
            callback.on_test_end(logs)

    def on_predict_begin(self, logs: Logs | None = None) -> None:
        logs = logs or {}
        for callback in self.callbacks:
            callback.on_predict_begin(logs)

    def on_predict_end(self, logs: Logs | None = None) -> None:
        logs = logs or {}
        for callback in self.callbacks:
            callback.on_predict_end(logs)
