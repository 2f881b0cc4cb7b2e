"""Learning-rate schedules, as Keras 3's ``keras.optimizers.schedules``.

A schedule is called with the optimizer's iteration count (the number of
updates applied so far) and returns the learning rate of the next update.
"""

from __future__ import annotations

import math
import numbers
from typing import Sequence

from .. import utils
from ..serialization_lib import Catalog


class LearningRateSchedule(utils.Configurable):
    """Base class: ``schedule(step) -> learning rate`` (a float), with ``get_config``/``from_config``.

    The optimizer calls it with its ``iterations`` counter (0 for the first update).
    ``from_config`` and the repr are :class:`clearconv.utils.Configurable`'s.
    """

    def __call__(self, step: int) -> float:
        raise NotImplementedError(f"Learning rate schedule '{type(self).__name__}' must override __call__(step)")

    def get_config(self) -> dict:
        raise NotImplementedError(f"Learning rate schedule '{type(self).__name__}' must override get_config() "
                                  f"to be serializable")


def _schedule_error(schedule: str, argument: str, value, accepted: str) -> ValueError:
    return ValueError(f"{schedule}: `{argument}` must be {accepted}; received {argument}={value!r}")


def is_number(value) -> bool:
    """A finite real number (not a bool)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


class ExponentialDecay(LearningRateSchedule):
    """initial_learning_rate * decay_rate ** (step / decay_steps); staircase floors the exponent."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase: bool = False,
                 name: str = "ExponentialDecay"):
        if not is_number(decay_steps) or decay_steps <= 0:
            raise _schedule_error("ExponentialDecay", "decay_steps", decay_steps, "a number > 0")
        if not is_number(initial_learning_rate):
            raise _schedule_error("ExponentialDecay", "initial_learning_rate", initial_learning_rate, "a number")
        if not is_number(decay_rate):
            raise _schedule_error("ExponentialDecay", "decay_rate", decay_rate, "a number")
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.decay_rate = decay_rate
        self.staircase = staircase
        self.name = name

    def __call__(self, step: int) -> float:
        exponent = step / self.decay_steps
        if self.staircase:
            exponent = math.floor(exponent)
        return float(self.initial_learning_rate * self.decay_rate ** exponent)

    def get_config(self) -> dict:
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase, "name": self.name}


class PiecewiseConstantDecay(LearningRateSchedule):
    """values[0] while step <= boundaries[0], values[i] while boundaries[i-1] < step <= boundaries[i],
    values[-1] once step > boundaries[-1]."""

    def __init__(self, boundaries: Sequence, values: Sequence, name: str = "PiecewiseConstant"):
        boundaries, values = list(boundaries), list(values)
        if len(boundaries) != len(values) - 1:
            raise ValueError(f"PiecewiseConstantDecay: the length of `boundaries` should be 1 less than the length "
                             f"of `values`; received boundaries={boundaries} of length {len(boundaries)} and "
                             f"values={values} of length {len(values)}")
        if any(b >= c for b, c in zip(boundaries, boundaries[1:])):
            raise _schedule_error("PiecewiseConstantDecay", "boundaries", boundaries, "strictly increasing")
        self.boundaries = boundaries
        self.values = values
        self.name = name

    def __call__(self, step: int) -> float:
        for boundary, value in zip(self.boundaries, self.values):
            if step <= boundary:
                return float(value)
        return float(self.values[-1])

    def get_config(self) -> dict:
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class CosineDecay(LearningRateSchedule):
    """Optional linear warmup, then cosine decay to ``alpha`` times the starting rate.

    Without ``warmup_target``: lr0 * ((1-alpha) * 0.5*(1 + cos(pi*min(step, decay_steps)/decay_steps)) + alpha)
    with lr0 = initial_learning_rate. With it: while step < warmup_steps the rate goes
    linearly from initial_learning_rate to warmup_target (initial + (target-initial)*step/warmup_steps),
    then decays as above from lr0 = warmup_target with step - warmup_steps.
    """

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name: str = "CosineDecay",
                 warmup_target=None, warmup_steps=0):
        if not is_number(decay_steps) or decay_steps <= 0:
            raise _schedule_error("CosineDecay", "decay_steps", decay_steps, "a number > 0")
        if not is_number(warmup_steps) or warmup_steps < 0:
            raise _schedule_error("CosineDecay", "warmup_steps", warmup_steps, "a number >= 0")
        if not is_number(initial_learning_rate):
            raise _schedule_error("CosineDecay", "initial_learning_rate", initial_learning_rate, "a number")
        if not is_number(alpha):
            raise _schedule_error("CosineDecay", "alpha", alpha, "a number")
        if warmup_target is not None and not is_number(warmup_target):
            raise _schedule_error("CosineDecay", "warmup_target", warmup_target, "a number or None")
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.alpha = alpha
        self.name = name
        self.warmup_target = warmup_target
        self.warmup_steps = warmup_steps

    def _decay(self, step: float, start_rate: float) -> float:
        cosine = 0.5 * (1.0 + math.cos(math.pi * step / self.decay_steps))
        return start_rate * ((1 - self.alpha) * cosine + self.alpha)

    def __call__(self, step: int) -> float:
        if self.warmup_target is None:
            return float(self._decay(min(step, self.decay_steps), self.initial_learning_rate))
        step = min(step, self.decay_steps + self.warmup_steps)
        if step < self.warmup_steps:
            fraction = step / self.warmup_steps
            return float((self.warmup_target - self.initial_learning_rate) * fraction + self.initial_learning_rate)
        return float(self._decay(step - self.warmup_steps, self.warmup_target))

    def get_config(self) -> dict:
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "alpha": self.alpha, "name": self.name, "warmup_target": self.warmup_target,
                "warmup_steps": self.warmup_steps}


_SCHEDULES: dict[str, type] = {cls.__name__: cls for cls in (ExponentialDecay, PiecewiseConstantDecay, CosineDecay)}

CATALOG = Catalog("learning-rate schedule", _SCHEDULES, base=LearningRateSchedule, callables=False)


def serialize_schedule(schedule: LearningRateSchedule) -> dict:
    """``{"class_name": ..., "config": ...}``."""
    return CATALOG.serialize(schedule)


def deserialize_schedule(config, custom_objects=None) -> LearningRateSchedule:
    """The schedule described by a :func:`serialize_schedule` dict (a schedule of your own is found
    when registered or passed in ``custom_objects``)."""
    return CATALOG.deserialize(config, custom_objects)


serialize = serialize_schedule
deserialize = deserialize_schedule
