"""Progbar: Keras's progress bar, and the number and time formats it prints."""

from __future__ import annotations

import math
import os
import re
import sys
import time
from collections.abc import Iterable
from typing import Any

import numpy as np

from .callback import print_message


def _now() -> float:
    """Seconds on a monotonic clock; the one clock the progress bar reads (tests replace it)."""
    return time.monotonic()


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
            print_message("\r" + line + padding, end="\n" if finalize else "")
            self._prev_total_width = width
        else:
            print_message(line)
        self._last_update = now

    def _draw_summary(self, current: int, now: float, time_per_unit: float) -> None:
        target = self.target if self._has_target() else max(current, 1)
        digits = int(math.log10(target)) + 1
        counter = f"%{digits}d/%d" % (current, target)
        print_message(f"{counter} - {now - self._start:.0f}s -{format_time_per_unit(time_per_unit, self.unit_name)}"
                      + self._metrics_text())
