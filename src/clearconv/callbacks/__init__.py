"""Training callbacks with Keras 3 semantics: hooks that fit/evaluate/predict call.

The training loop builds one :class:`CallbackList` per call::

    callbacks = CallbackList(user_callbacks, model=model, add_history=True,
                             add_progbar=verbose != 0, verbose=verbose,
                             epochs=epochs, steps=steps_per_epoch)
    callbacks.on_train_begin()
    for epoch in range(epochs):
        callbacks.on_epoch_begin(epoch)
        for batch in range(steps_per_epoch):
            callbacks.on_train_batch_begin(batch)
            ...                                          # one optimizer step
            callbacks.on_train_batch_end(batch, {"loss": running_mean_loss, ...})
        callbacks.on_epoch_end(epoch, {"loss": ..., "val_loss": ...})
        if model.stop_training:
            break
    callbacks.on_train_end(last_epoch_logs)
    return callbacks.history

Contract with the model (duck-typed): ``model.stop_training`` (bool, callbacks
may set it), ``get_weights()`` / ``set_weights(list)``,
``model.optimizer.learning_rate`` (float, settable), ``save(path)`` and
``save_weights(path)``.

``logs`` dicts hold floats. One dict is handed to every callback in turn, so a
callback that adds a key (ReduceLROnPlateau and LearningRateScheduler add
``learning_rate`` at epoch end) is seen by the ones after it; History and the
progress bar are appended after the user's callbacks, as in Keras.

Epoch and batch indices passed to the hooks are 0-based; everything printed or
formatted for the user (``Epoch 3/10``, ``{epoch:02d}`` in a checkpoint path)
is 1-based, as in Keras.

Layout, one concept per module as in Keras 3 (``keras/src/callbacks/``):
``callback`` (the base class), ``callback_list``, ``history``, ``progbar``
(the bar itself) and ``progbar_logger``, ``monitor_callback`` (what
EarlyStopping and ModelCheckpoint share), ``early_stopping``,
``model_checkpoint``, ``reduce_lr_on_plateau``, ``learning_rate_scheduler``,
``csv_logger``, ``terminate_on_nan``, ``lambda_callback``.
"""

from .callback import Callback, Logs  # noqa: F401  (Logs: the type of every hook's logs)
from .callback_list import CallbackList
from .csv_logger import CSVLogger
from .early_stopping import EarlyStopping
from .history import History
from .lambda_callback import LambdaCallback
from .learning_rate_scheduler import LearningRateScheduler
from .model_checkpoint import ModelCheckpoint
from .monitor_callback import infer_mode  # noqa: F401
from .progbar import (  # noqa: F401  (the formats are the bar's, importable from here as before)
    LOG_INTERVAL_SECONDS, Progbar, format_eta, format_metric_value, format_time_per_unit)
from .progbar_logger import ProgbarLogger
from .reduce_lr_on_plateau import ReduceLROnPlateau
from .terminate_on_nan import TerminateOnNaN


__all__ = [
    "Callback", "CallbackList", "History", "Progbar", "ProgbarLogger", "EarlyStopping", "ModelCheckpoint",
    "ReduceLROnPlateau", "LearningRateScheduler", "CSVLogger", "TerminateOnNaN", "LambdaCallback",
]
