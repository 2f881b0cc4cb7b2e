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
"""

from __future__ import annotations

import csv
import inspect
import math
import os
import re
import sys
import time
import warnings
from collections.abc import Iterable
from typing import Any, Callable

import numpy as np

__all__ = [
    "Callback", "CallbackList", "History", "Progbar", "ProgbarLogger", "EarlyStopping", "ModelCheckpoint",
    "ReduceLROnPlateau", "LearningRateScheduler", "CSVLogger", "TerminateOnNaN", "LambdaCallback",
]

Logs = dict[str, Any]


def _now() -> float:
    """Seconds on a monotonic clock; the one clock the progress bar reads (tests replace it)."""
    return time.monotonic()


def _print(message: str, end: str = "\n") -> None:
    """Write to the current sys.stdout and flush, so progress shows up at once."""
    sys.stdout.write(message + end)
    sys.stdout.flush()


# --------------------------------------------------------------------------------------------------
# Base class and container
# --------------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------------
# Progress bar
# --------------------------------------------------------------------------------------------------

# Without a live terminal (CI logs, files, pipes) every update is a new line, so the bar prints at
# most one line per this many seconds, plus the final line of each epoch.
LOG_INTERVAL_SECONDS = 1.0

_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
_BOLD, _GREEN, _WHITE, _RESET = "\x1b[1m", "\x1b[32m", "\x1b[37m", "\x1b[0m"


def _stdout_is_live() -> bool:
    """True when sys.stdout can rewrite its line with \\r: a terminal, a notebook, PyCharm's console.

    Keras also counts every POSIX system as live; we do not, so that CI logs
    and redirected output get whole lines.
    """
    is_tty = hasattr(sys.stdout, "isatty") and sys.stdout.isatty()
    return bool(is_tty or "ipykernel" in sys.modules or "PYCHARM_HOSTED" in os.environ)


def _bar_glyphs(coloured: bool) -> tuple[str, str]:
    """(done, rest) characters of the bar: both '━' when colour tells them apart, else '━' and '─'.

    Falls back to '=' and '.' when sys.stdout cannot encode the box-drawing characters.
    """
    done, rest = ("━", "━") if coloured else ("━", "─")
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    try:
        (done + rest).encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return "=", "."
    return done, rest


def format_metric_value(value: float) -> str:
    """Keras's number format in the bar: ``{:.4f}``, or ``{:.4e}`` when |value| <= 1e-3 (so 0 -> 0.0000e+00)."""
    return f"{value:.4f}" if abs(value) > 1e-3 else f"{value:.4e}"


def format_eta(seconds: float) -> str:
    """Remaining time: ``h:mm:ss`` above an hour, ``m:ss`` above a minute, else ``Ns`` (truncated)."""
    if seconds > 3600:
        return "%d:%02d:%02d" % (seconds // 3600, (seconds % 3600) // 60, seconds % 60)
    if seconds > 60:
        return "%d:%02d" % (seconds // 60, seconds % 60)
    return "%ds" % seconds


def format_time_per_unit(seconds: float, unit_name: str = "step") -> str:
    """Time per step with a leading space: `` 2s/step`` (>= 1 s or 0), `` 12ms/step``, `` 456us/step``."""
    if seconds >= 1 or seconds == 0:
        return f" {seconds:.0f}s/{unit_name}"
    if seconds >= 1e-3:
        return f" {seconds * 1e3:.0f}ms/{unit_name}"
    return f" {seconds * 1e6:.0f}us/{unit_name}"


class Progbar:
    """A Keras-style progress bar written to sys.stdout.

    verbose=1, one line rewritten in place::

        12/50 ━━━━━─────────────── 3s 81ms/step - loss: 0.4321 - accuracy: 0.8750

    counter ``%{nd}d/%d``, a ``width``-character bar, then the ETA while running
    (``h:mm:ss`` / ``m:ss`` / ``Ns``) or the elapsed time ``{:.0f}s`` once done,
    the time per step, and `` - name: value`` for each value (:func:`format_metric_value`).
    On a terminal the line is redrawn with ``\\r`` at most every ``interval``
    seconds, the done part green and the rest white as in Keras (no colour when
    ``NO_COLOR`` is set: then done is '━' and rest '─'). When stdout is not a
    terminal, whole lines without colour are printed at most every
    :data:`LOG_INTERVAL_SECONDS`, plus the final one.

    verbose=2 prints only the final line: ``50/50 - 4s - 81ms/step - loss: 0.4321``.

    Args:
        target: total number of steps, or None if unknown (the counter then reads ``N/Unknown``).
        width: characters in the bar.
        verbose: 0 silent, 1 live bar, 2 one line when finished.
        interval: least seconds between two redraws on a terminal.
        stateful_metrics: names shown as given; every other name is averaged over steps by the bar.
        stateless_metrics: alternatively, the names to average; every other name is shown as given
            (``stateless_metrics=()`` shows everything as given). Give at most one of the two.
        unit_name: the word after the time per unit.
    """

    def __init__(self, target: int | None, width: int = 20, verbose: int = 1, interval: float = 0.05,
                 stateful_metrics: Iterable[str] | None = None, stateless_metrics: Iterable[str] | None = None,
                 unit_name: str = "step") -> None:
        if stateful_metrics is not None and stateless_metrics is not None:
            raise ValueError("Progbar: give `stateful_metrics` or `stateless_metrics`, not both; received "
                             f"stateful_metrics={stateful_metrics!r}, stateless_metrics={stateless_metrics!r}")
        self.target = target
        self.width = width
        self.verbose = verbose
        self.interval = interval
        self.unit_name = unit_name
        self.stateful_metrics = set(stateful_metrics or ()) if stateless_metrics is None else None
        self.stateless_metrics = set(stateless_metrics) if stateless_metrics is not None else None
        self._dynamic_display = _stdout_is_live()
        self._colour = self._dynamic_display and not os.environ.get("NO_COLOR")
        self._done_char, self._rest_char = _bar_glyphs(self._colour)
        self._values: dict[str, list] = {}  # name -> [weighted sum, weight]
        self._values_order: list[str] = []
        self._seen_so_far = 0
        self._start = _now()
        # A terminal shows the first step at once; a log waits a full interval before its first line.
        self._last_update = -math.inf if self._dynamic_display else self._start
        self._time_after_first_step: float | None = None
        self._prev_total_width = 0

    def update(self, current: int, values: Iterable[tuple[str, Any]] | None = None,
               finalize: bool | None = None) -> None:
        """Record step ``current`` (1-based count of steps done) and redraw if it is time.

        values: ``(name, value)`` pairs for this step. finalize: whether this is
        the last update (default: ``current >= target``).
        """
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        self._record_values(current, values or [], finalize)
        self._seen_so_far = current
        now = _now()
        time_per_unit = self._estimate_step_duration(current, now)
        if self.verbose == 1:
            self._draw_live(current, now, time_per_unit, finalize)
        elif self.verbose == 2 and finalize:
            self._draw_summary(current, now, time_per_unit)

    def add(self, n: int, values: Iterable[tuple[str, Any]] | None = None) -> None:
        """Advance by ``n`` steps."""
        self.update(self._seen_so_far + n, values)

    def _is_stateless(self, name: str) -> bool:
        if self.stateful_metrics is not None:
            return name not in self.stateful_metrics
        return name in self.stateless_metrics

    def _record_values(self, current: int, values, finalize: bool) -> None:
        for name, value in values:
            if name not in self._values_order:
                self._values_order.append(name)
            if not self._is_stateless(name) or finalize:
                # Shown as given; the final update carries the epoch's own results.
                self._values[name] = [value, 1]
                continue
            steps_since_last = max(current - self._seen_so_far, 1)
            if name not in self._values:
                self._values[name] = [value * steps_since_last, steps_since_last]
            else:
                self._values[name][0] += value * steps_since_last
                self._values[name][1] += steps_since_last

    def _average(self, name: str) -> float:
        total, count = self._values[name]
        return float(np.mean(total)) / max(1, count)

    def _metrics_text(self) -> str:
        return "".join(f" - {name}: {format_metric_value(self._average(name))}" for name in self._values_order)

    def _estimate_step_duration(self, current: int, now: float) -> float:
        """Seconds per step, leaving out the first step (compilation, caches) once there are more."""
        if not current:
            return 0.0
        if self._time_after_first_step is not None and current > 1:
            time_per_unit = (now - self._time_after_first_step) / (current - 1)
        else:
            time_per_unit = (now - self._start) / current
        if current == 1:
            self._time_after_first_step = now
        return time_per_unit

    def _styled(self, text: str, style: str) -> str:
        return f"{style}{text}{_RESET}" if self._colour else text

    def _has_target(self) -> bool:
        return self.target is not None and self.target > 0

    def _counter_and_bar(self, current: int) -> str:
        if not self._has_target():
            return "%7d/Unknown" % current
        digits = int(math.log10(self.target)) + 1
        counter = self._styled(f"%{digits}d/%d" % (current, self.target), _BOLD)
        done_width = min(max(int(self.width * (float(current) / self.target)), 0), self.width)
        done = self._styled(self._done_char * done_width, _GREEN) if done_width else ""
        rest_width = self.width - done_width
        rest = self._styled(self._rest_char * rest_width, _WHITE) if rest_width else ""
        return f"{counter} {done}{rest}"

    def _timing_text(self, current: int, now: float, time_per_unit: float, finalize: bool) -> str:
        if self._has_target() and not finalize:
            clock = format_eta(time_per_unit * (self.target - current))
        else:
            clock = f"{now - self._start:.0f}s"
        return " " + self._styled(clock, _BOLD) + format_time_per_unit(time_per_unit, self.unit_name)

    def _draw_live(self, current: int, now: float, time_per_unit: float, finalize: bool) -> None:
        interval = self.interval if self._dynamic_display else LOG_INTERVAL_SECONDS
        if not finalize and now - self._last_update < interval:
            return
        line = (self._counter_and_bar(current) + self._timing_text(current, now, time_per_unit, finalize)
                + self._metrics_text())
        if self._dynamic_display:
            width = len(_ANSI_ESCAPE.sub("", line))
            padding = " " * max(self._prev_total_width - width, 0)  # wipe the tail of a longer previous line
            _print("\r" + line + padding, end="\n" if finalize else "")
            self._prev_total_width = width
        else:
            _print(line)
        self._last_update = now

    def _draw_summary(self, current: int, now: float, time_per_unit: float) -> None:
        target = self.target if self._has_target() else max(current, 1)
        digits = int(math.log10(target)) + 1
        counter = f"%{digits}d/%d" % (current, target)
        _print(f"{counter} - {now - self._start:.0f}s -{format_time_per_unit(time_per_unit, self.unit_name)}"
               + self._metrics_text())


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
            _print(f"Epoch {epoch + 1}/{self.epochs}")

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


# --------------------------------------------------------------------------------------------------
# Callbacks that watch a metric
# --------------------------------------------------------------------------------------------------

# Metric names (after removing "val_") that improve upwards, for mode="auto". Any name containing
# "acc" or "auc" also counts; every other name (losses, errors) is minimised.
_MAXIMIZED_METRICS = frozenset({
    "precision", "recall", "f1_score", "fbeta_score", "r2_score", "iou", "mean_iou", "binary_iou",
    "one_hot_iou", "one_hot_mean_iou", "true_positives", "true_negatives", "precision_at_recall",
    "recall_at_precision", "sensitivity_at_specificity", "specificity_at_sensitivity", "cosine_similarity",
})


def _direction_from_model(model, metric_name: str) -> str | None:
    """'max'/'min' from a metric object on ``model.metrics`` named ``metric_name`` that declares a direction."""
    candidates = list(getattr(model, "metrics", None) or [])
    for candidate in list(candidates):
        candidates.extend(getattr(candidate, "metrics", None) or [])  # one level of metric containers
    for metric in candidates:
        if getattr(metric, "name", None) != metric_name:
            continue
        direction = getattr(metric, "_direction", None) or getattr(metric, "direction", None)
        if direction in ("up", "max"):
            return "max"
        if direction in ("down", "min"):
            return "min"
    return None


def infer_mode(monitor: str, model=None) -> str:
    """'min' or 'max' for mode='auto'.

    ``loss``/``val_loss`` -> min; a metric on ``model.metrics`` with a declared
    direction -> that direction; a name containing 'acc' or 'auc', or a known
    score (precision, recall, f1_score, iou, ...) -> max; anything else -> min.
    """
    name = monitor.removeprefix("val_")
    if name == "loss":
        return "min"
    from_model = _direction_from_model(model, name) if model is not None else None
    if from_model is not None:
        return from_model
    if "acc" in name or "auc" in name or name in _MAXIMIZED_METRICS:
        return "max"
    return "min"


def _checked_mode(mode: str, owner: str) -> str:
    if mode not in ("auto", "min", "max"):
        warnings.warn(f"{owner} mode '{mode}' is unknown, fallback to auto mode. Accepted: 'auto', 'min', 'max'.",
                      stacklevel=3)
        return "auto"
    return mode


class _MonitorCallback(Callback):
    """Shared by callbacks that compare a monitored log value with the best so far.

    The direction is settled at the first ``on_epoch_end`` (when the model's
    metrics exist). An improvement is ``value + min_delta < reference`` in min
    mode and ``value - min_delta > reference`` in max mode; any value improves
    on a reference of None.
    """

    def __init__(self, monitor: str, mode: str, min_delta: float = 0.0) -> None:
        super().__init__()
        self.monitor = monitor
        self.mode = _checked_mode(mode, type(self).__name__)
        self.min_delta = abs(min_delta)
        self.monitor_op: Callable | None = None
        self._direction: str | None = None

    def _set_monitor_op(self) -> None:
        self._direction = self.mode if self.mode != "auto" else infer_mode(self.monitor, self.model)
        self.monitor_op = np.less if self._direction == "min" else np.greater

    def _worst_value(self) -> float:
        return math.inf if self._direction == "min" else -math.inf

    def _is_improvement(self, value: float, reference: float | None) -> bool:
        if reference is None:
            return True
        if self._direction == "min":
            return bool(self.monitor_op(value + self.min_delta, reference))
        return bool(self.monitor_op(value - self.min_delta, reference))


class EarlyStopping(_MonitorCallback):
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
            _print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                _print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)

    def get_monitor_value(self, logs: Logs | None) -> float | None:
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None:
            warnings.warn(f"Early stopping conditioned on metric `{self.monitor}` which is not available. "
                          f"Available metrics are: {','.join(logs.keys())}", stacklevel=3)
        return value


class ModelCheckpoint(_MonitorCallback):
    """Save the model (or its weights) every epoch, every ``save_freq`` batches, or only when it improves.

    ``filepath`` may hold ``str.format`` fields filled from ``epoch`` (1-based),
    ``batch`` (1-based, with an integer ``save_freq``) and the logs, e.g.
    ``"ckpt-{epoch:02d}-{val_loss:.2f}.keras"``. With ``save_best_only`` a file
    is written only when ``monitor`` improves on the best so far (which starts
    at ``initial_value_threshold`` when given); if ``monitor`` is missing from
    the logs it warns and saves anyway, as Keras does. Saving calls
    ``model.save_weights(path)`` when ``save_weights_only`` else ``model.save(path)``,
    after creating the folder.
    """

    def __init__(self, filepath: str | os.PathLike, monitor: str = "val_loss", verbose: int = 0,
                 save_best_only: bool = False, save_weights_only: bool = False, mode: str = "auto",
                 save_freq: str | int = "epoch", initial_value_threshold: float | None = None) -> None:
        super().__init__(monitor, mode)
        if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(save_freq, int) or save_freq < 1):
            raise ValueError(f"ModelCheckpoint: `save_freq` must be 'epoch' or a positive integer (a number of "
                             f"batches); received save_freq={save_freq!r}")
        self.filepath = os.fspath(filepath)
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.save_freq = save_freq
        self.best = initial_value_threshold
        self._batches_seen_since_last_saving = 0
        self._last_batch_seen = 0
        self._current_epoch = 0

    def _set_monitor_op(self) -> None:
        super()._set_monitor_op()
        if self.best is None:
            self.best = self._worst_value()

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        self._current_epoch = epoch

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        if self._should_save_on_batch(batch):
            self._save_model(self._current_epoch, batch, logs)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if self.save_freq == "epoch":
            self._save_model(epoch, None, logs)

    def _should_save_on_batch(self, batch: int) -> bool:
        if self.save_freq == "epoch":
            return False
        if batch <= self._last_batch_seen:  # a new epoch started: count from its first batch
            self._batches_seen_since_last_saving += batch + 1
        else:
            self._batches_seen_since_last_saving += batch - self._last_batch_seen
        self._last_batch_seen = batch
        if self._batches_seen_since_last_saving >= self.save_freq:
            self._batches_seen_since_last_saving = 0
            return True
        return False

    def _get_file_path(self, epoch: int, batch: int | None, logs: Logs) -> str:
        fields = dict(logs)
        fields["epoch"] = epoch + 1
        if batch is not None and "batch" not in logs:
            fields["batch"] = batch + 1
        try:
            return self.filepath.format(**fields)
        except (KeyError, IndexError) as error:
            raise KeyError(f'Failed to format this callback filepath: "{self.filepath}". Reason: {error!r}; '
                           f"available fields: {', '.join(fields)}") from None

    def _should_save_model(self, epoch: int, logs: Logs, filepath: str) -> bool:
        if not self.save_best_only:
            if self.verbose > 0:
                _print(f"\nEpoch {epoch + 1}: saving model to {filepath}")
            return True
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"Can save best model only with {self.monitor} available.", stacklevel=4)
            return True
        if self.monitor_op is None:
            self._set_monitor_op()
        best_text = f"{self.best:.5f}"
        if self._is_improvement(current, self.best):
            if self.verbose > 0:
                _print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {best_text} to {current:.5f}, "
                       f"saving model to {filepath}")
            self.best = current
            return True
        if self.verbose > 0:
            _print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best_text}")
        return False

    def _save_model(self, epoch: int, batch: int | None, logs: Logs | None) -> None:
        logs = logs or {}
        filepath = self._get_file_path(epoch, batch, logs)
        if not self._should_save_model(epoch, logs, filepath):
            return
        if os.path.isdir(filepath):
            raise IsADirectoryError(f"ModelCheckpoint: please give a file path, not an existing directory; "
                                    f"received filepath={filepath!r}")
        folder = os.path.dirname(filepath)
        if folder:
            os.makedirs(folder, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(filepath)
        else:
            self.model.save(filepath)


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` when ``monitor`` has not improved for ``patience`` epochs.

    Per epoch end (Keras 3 order): ``learning_rate`` is added to the logs; in
    cooldown the cooldown counter drops by one and ``wait`` resets; an
    improvement (``value < best - min_delta`` in min mode, ``value > best +
    min_delta`` in max mode) records the best and resets ``wait``; otherwise,
    when not (or no longer) in cooldown, ``wait`` grows and at ``patience`` the
    rate becomes ``max(lr * factor, min_lr)`` (only while ``lr > min_lr`` in float32),
    then cooldown starts and ``wait`` resets.
    """

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10, verbose: int = 0,
                 mode: str = "auto", min_delta: float = 1e-4, cooldown: int = 0, min_lr: float = 0.0,
                 **kwargs) -> None:
        super().__init__()
        if kwargs:
            raise TypeError(f"ReduceLROnPlateau: unexpected keyword arguments {sorted(kwargs)}")
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0. Received factor={factor}")
        self.monitor = monitor
        self.factor = factor
        self.min_lr = min_lr
        self.min_delta = min_delta
        self.patience = patience
        self.verbose = verbose
        self.cooldown = cooldown
        self.mode = _checked_mode(mode, "Learning rate reduction")
        self._reset()

    def _reset(self) -> None:
        direction = self.mode if self.mode != "auto" else infer_mode(self.monitor, self.model)
        if direction == "min":
            self.monitor_op = lambda value, best: np.less(value, best - self.min_delta)
            self.best = math.inf
        else:
            self.monitor_op = lambda value, best: np.greater(value, best + self.min_delta)
            self.best = -math.inf
        self.cooldown_counter = 0
        self.wait = 0

    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self._reset()

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        logs = logs if logs is not None else {}
        logs["learning_rate"] = float(self.model.optimizer.current_learning_rate())
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"Learning rate reduction is conditioned on metric `{self.monitor}` which is not "
                          f"available. Available metrics are: {','.join(logs.keys())}.", stacklevel=2)
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self.monitor_op(current, self.best):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience:
                self._reduce(epoch)

    def _reduce(self, epoch: int) -> None:
        old_lr = float(self.model.optimizer.learning_rate)
        if np.float32(old_lr) > np.float32(self.min_lr):  # float32, as Keras compares under NumPy 2
            new_lr = max(old_lr * self.factor, self.min_lr)
            self.model.optimizer.learning_rate = new_lr
            if self.verbose > 0:
                _print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}.")
            self.cooldown_counter = self.cooldown
            self.wait = 0


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
            _print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {learning_rate}.")

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.current_learning_rate())


class CSVLogger(Callback):
    """Stream one CSV row per epoch: column ``epoch`` (0-based) then the log names sorted.

    The columns are fixed at the first epoch. As in Keras, when those logs hold
    no ``val_*`` name, a ``val_`` column is added for each (written ``NA`` while
    absent), so a later validation run still fits. Rows end in ``\\r\\n`` (the
    csv module's Excel dialect) and the file is flushed after each. With
    ``append=True`` an existing non-empty file is continued without a new header.
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


class TerminateOnNaN(Callback):
    """Stop training when a batch's loss is NaN or infinite.

    Prints ``Batch {batch}: Invalid loss, terminating training`` and sets
    ``model.stop_training``; with ``raise_error=True`` raises RuntimeError instead.
    """

    def __init__(self, raise_error: bool = False) -> None:
        super().__init__()
        self.raise_error = raise_error

    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is None or np.all(np.isfinite(loss)):
            return
        if self.raise_error:
            raise RuntimeError(f"NaN or Inf loss encountered at batch {batch}. Loss value: {loss}. "
                               "Terminating training immediately.")
        _print(f"Batch {batch}: Invalid loss, terminating training")
        self.model.stop_training = True


_HOOK_NAMES = frozenset(name for name in vars(Callback) if name.startswith("on_"))


class LambdaCallback(Callback):
    """A callback made from functions, called with Keras's arguments.

    ``on_epoch_begin(epoch, logs)``, ``on_epoch_end(epoch, logs)``,
    ``on_train_begin(logs)``, ``on_train_end(logs)``,
    ``on_train_batch_begin(batch, logs)``, ``on_train_batch_end(batch, logs)``;
    any other hook (``on_test_end=...``, ...) may be given by keyword.
    """

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None, on_train_end=None,
                 on_train_batch_begin=None, on_train_batch_end=None, **kwargs) -> None:
        super().__init__()
        unknown = sorted(set(kwargs) - _HOOK_NAMES)
        if unknown:
            raise TypeError(f"LambdaCallback: unknown hook names {unknown}; accepted: {sorted(_HOOK_NAMES)}")
        hooks = dict(on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end, on_train_begin=on_train_begin,
                     on_train_end=on_train_end, on_train_batch_begin=on_train_batch_begin,
                     on_train_batch_end=on_train_batch_end, **kwargs)
        for name, function in hooks.items():
            if function is None:
                continue
            if not callable(function):
                raise TypeError(f"LambdaCallback: `{name}` must be callable; received {function!r}")
            setattr(self, name, function)
