"""The Optimizer base class: one update in Keras's order, slots, state, config (Keras 3's ``base_optimizer.py``)."""

from __future__ import annotations

import copy
import math
import warnings
from typing import Iterable, Mapping, Sequence

import numpy as np

from .. import utils
from ..autograd import data_of
from .schedules import LearningRateSchedule, deserialize_schedule, is_number, serialize_schedule


def check_range(owner: str, argument: str, value, low: float, high: float = math.inf, *,
                low_open: bool = False, high_open: bool = False) -> None:
    """Raise ValueError unless ``value`` is a finite real number in the interval."""
    inside = is_number(value) and (value > low if low_open else value >= low) and \
        (value < high if high_open else value <= high)
    if inside:
        return
    if high == math.inf:
        accepted = f"a number {'>' if low_open else '>='} {low:g}"
    else:
        accepted = f"a number in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    raise ValueError(f"{owner}: `{argument}` must be {accepted}; received {argument}={value!r}")


# Keras arguments clearconv does not implement, with the value that means "off".
_KERAS_ONLY_NEUTRAL = {"use_ema": False, "ema_overwrite_frequency": None, "loss_scale_factor": None,
                       "gradient_accumulation_steps": None}


class Optimizer(utils.Configurable):
    """Base class. Subclasses set ``_state_prefix``, ``_slot_names()``, ``_update_step()``.

    Arguments common to every optimizer: ``learning_rate`` (a float >= 0, a
    :class:`LearningRateSchedule` called with ``iterations``, or a callable with
    no argument), ``weight_decay`` (decoupled: w -= w*wd*lr before the update),
    ``clipnorm`` / ``clipvalue`` / ``global_clipnorm`` (at most one), ``name``.
    Keras's ``use_ema``, ``loss_scale_factor`` and ``gradient_accumulation_steps``
    are accepted only at their "off" values; ``ema_momentum`` is ignored.
    """

    _state_prefix = "optimizer"

    def __init__(self, learning_rate, weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 name: str | None = None, **kwargs):
        owner = type(self).__name__
        self._check_keras_only(kwargs)
        for argument, value in (("clipnorm", clipnorm), ("clipvalue", clipvalue),
                                ("global_clipnorm", global_clipnorm)):
            if value is not None:
                check_range(owner, argument, value, 0.0, low_open=True)
        if sum(value is not None for value in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError(f"{owner}: only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set; "
                             f"received clipnorm={clipnorm}, clipvalue={clipvalue}, "
                             f"global_clipnorm={global_clipnorm}")
        if weight_decay is not None:
            check_range(owner, "weight_decay", weight_decay, 0.0)
        if name is not None and not isinstance(name, str):
            raise ValueError(f"{owner}: `name` must be a string or None; received name={name!r}")
        self.name = name if name is not None else self._default_name()
        self.weight_decay = weight_decay
        self.clipnorm = clipnorm
        self.clipvalue = clipvalue
        self.global_clipnorm = global_clipnorm
        self._learning_rate = self._checked_learning_rate(learning_rate)
        self.iterations = 0
        self._variables: list = []           # registered variables, in order of first appearance
        self._index: dict[int, int] = {}     # id(variable) -> position in _variables
        self._slots: list[dict[str, np.ndarray]] = []
        self._exclude_ids: set[int] = set()
        self._exclude_names: tuple[str, ...] = ()

    # --- hooks for subclasses -----------------------------------------------------------------------
    def _slot_names(self) -> tuple[str, ...]:
        """Names of the per-variable slots, in the order Keras creates them."""
        return ()

    def _new_slot(self, slot: str, value: np.ndarray) -> np.ndarray:
        return np.zeros_like(value)

    def _begin_update(self) -> None:
        """Runs once per update, after weight decay and before the per-variable steps."""

    def _update_step(self, value: np.ndarray, gradient: np.ndarray, slots: dict, learning_rate: float) -> None:
        """Update ``value`` (the variable's array) in place."""
        raise NotImplementedError

    def _extra_state(self) -> dict[str, np.ndarray]:
        """Optimizer-wide state besides ``iterations`` (e.g. Nadam's momentum product)."""
        return {}

    def _set_extra_state(self, state: Mapping[str, np.ndarray]) -> None:
        pass

    @classmethod
    def _default_name(cls) -> str:
        return cls._state_prefix

    # --- learning rate ------------------------------------------------------------------------------
    def _checked_learning_rate(self, learning_rate):
        if isinstance(learning_rate, LearningRateSchedule) or callable(learning_rate):
            return learning_rate
        check_range(type(self).__name__, "learning_rate", learning_rate, 0.0)
        return float(learning_rate)

    @property
    def learning_rate(self):
        """The float learning rate, or the schedule / callable given. Settable."""
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, learning_rate) -> None:
        if isinstance(self._learning_rate, LearningRateSchedule) and \
                not (isinstance(learning_rate, LearningRateSchedule) or callable(learning_rate)):
            raise TypeError(f"{type(self).__name__}: this optimizer was created with a LearningRateSchedule "
                            f"({type(self._learning_rate).__name__}), so its learning rate cannot be set to a "
                            f"number; create the optimizer with a float learning_rate to change it "
                            f"(received learning_rate={learning_rate!r})")
        self._learning_rate = self._checked_learning_rate(learning_rate)

    def current_learning_rate(self) -> float:
        """The learning rate used by the next update (a schedule is evaluated at ``iterations``)."""
        if isinstance(self._learning_rate, LearningRateSchedule):
            return float(self._learning_rate(self.iterations))
        if callable(self._learning_rate):
            return float(self._learning_rate())
        return self._learning_rate

    # --- variables and slots ------------------------------------------------------------------------
    def build(self, variables: Iterable) -> None:
        """Create the slots of every variable not seen yet, in the order given."""
        for variable in variables:
            self._register(variable)

    def _register(self, variable) -> int:
        key = id(variable)
        if key not in self._index:
            value = _array_of(variable)
            if not np.issubdtype(value.dtype, np.floating):
                raise ValueError(f"{type(self).__name__}: can only update floating-point variables; "
                                 f"{_name_of(variable)} has dtype {value.dtype}")
            self._index[key] = len(self._variables)
            self._variables.append(variable)
            self._slots.append({slot: self._new_slot(slot, value) for slot in self._slot_names()})
        return self._index[key]

    def exclude_from_weight_decay(self, var_list: Iterable | None = None,
                                  var_names: Iterable[str] | None = None) -> None:
        """Exempt the given variables, or those whose name contains one of ``var_names``, from weight decay."""
        self._exclude_ids = {id(variable) for variable in (var_list or ())}
        self._exclude_names = tuple(var_names or ())

    def _uses_weight_decay(self, variable) -> bool:
        if id(variable) in self._exclude_ids:
            return False
        name = getattr(variable, "name", "")
        return not any(part in name for part in self._exclude_names)

    @property
    def variables(self) -> list[np.ndarray]:
        """The optimizer's own state as Keras lists it: iterations, the learning rate (unless it is a
        schedule), then every slot (slot by slot, each over all variables), then optimizer-wide extras."""
        return list(self.get_state().values())

    # --- updates ------------------------------------------------------------------------------------
    def apply_gradients(self, grads_and_vars: Iterable) -> int:
        """Apply a list of ``(gradient, variable)`` pairs; returns ``iterations``."""
        pairs = list(grads_and_vars)
        self.apply([g for g, _ in pairs], [v for _, v in pairs])
        return self.iterations

    def apply(self, grads: Sequence, variables: Sequence | None = None) -> None:
        """One update of ``variables`` from ``grads`` (same order; a None gradient skips its variable
        with a warning). ``variables`` may be left out once the optimizer is built: the registered
        variables are used."""
        self._apply(grads, variables, warn_missing=True)

    def step(self, variables: Iterable) -> None:
        """One update from each variable's ``.grad``; variables whose ``.grad`` is None are left alone."""
        variables = list(variables)
        self._apply([getattr(v, "grad", None) for v in variables], variables, warn_missing=False)

    def _apply(self, grads, variables, warn_missing: bool) -> None:
        grads = list(grads)
        if variables is None:
            if len(grads) != len(self._variables):
                raise ValueError(f"{type(self).__name__}: without `variables`, `grads` must match the "
                                 f"{len(self._variables)} registered variables one-to-one; "
                                 f"received {len(grads)} gradients")
            variables = self._variables
        variables = list(variables)
        if len(grads) != len(variables):
            raise ValueError(f"{type(self).__name__}: received {len(grads)} gradients for "
                             f"{len(variables)} variables")
        if not variables:
            return
        indices = [self._register(v) for v in variables]
        kept = [(g, v, i) for g, v, i in zip(grads, variables, indices) if g is not None]
        if not kept:
            raise ValueError(f"{type(self).__name__}: no gradients provided for any variable "
                             f"({', '.join(_name_of(v) for v in variables)})")
        if warn_missing and len(kept) < len(variables):
            missing = [_name_of(v) for g, v in zip(grads, variables) if g is None]
            warnings.warn(f"Gradients do not exist for variables {missing} when minimizing the loss.",
                          stacklevel=3)
        values = [_array_of(v) for _, v, _ in kept]
        gradients = self._clip([_as_gradient(g, value, v, type(self).__name__)
                                for (g, v, _), value in zip(kept, values)])
        learning_rate = self.current_learning_rate()
        self._apply_weight_decay([v for _, v, _ in kept], values, learning_rate)
        self._begin_update()
        for (_, _, index), value, gradient in zip(kept, values, gradients):
            self._update_step(value, gradient, self._slots[index], learning_rate)
        self.iterations += 1
        for _, variable, _ in kept:
            constraint = getattr(variable, "constraint", None)
            if constraint is not None:
                _assign(variable, constraint(_array_of(variable)))

    def _clip(self, gradients: list[np.ndarray]) -> list[np.ndarray]:
        # Every factor and bound is cast to the gradient's dtype first: NumPy < 2 would compute a
        # scalar (shape ()) gradient times a Python float in float64.
        if self.clipnorm is not None:
            return [g * g.dtype.type(self.clipnorm / max(float(np.sqrt(np.sum(g * g))), self.clipnorm))
                    for g in gradients]
        if self.global_clipnorm is not None:
            norm = math.sqrt(sum(float(np.sum(g * g)) for g in gradients))
            # Keras makes the scale NaN when the norm is inf or NaN.
            scale = self.global_clipnorm / max(norm, self.global_clipnorm) if math.isfinite(norm) else math.nan
            return [g * g.dtype.type(scale) for g in gradients]
        if self.clipvalue is not None:
            return [np.clip(g, g.dtype.type(-self.clipvalue), g.dtype.type(self.clipvalue)) for g in gradients]
        return gradients

    def _apply_weight_decay(self, variables: list, values: list[np.ndarray], learning_rate: float) -> None:
        if self.weight_decay is None:
            return
        for variable, value in zip(variables, values):
            if self._uses_weight_decay(variable):
                decay = value.dtype.type(self.weight_decay * learning_rate)
                value -= value * decay  # in place: w -= w * wd * lr

    # --- state --------------------------------------------------------------------------------------
    def get_state(self) -> dict[str, np.ndarray]:
        """Copies of the state: ``"iterations"``, ``"learning_rate"`` (when a float), every slot as
        ``"<prefix>/<slot>/<variable index>"``, and optimizer-wide extras."""
        state = {"iterations": np.array(self.iterations, dtype=np.int64)}
        if isinstance(self._learning_rate, float):
            state["learning_rate"] = np.array(self._learning_rate, dtype=np.float64)
        for slot in self._slot_names():
            for index, slots in enumerate(self._slots):
                state[f"{self._state_prefix}/{slot}/{index}"] = slots[slot].copy()
        state.update({key: np.array(value, copy=True) for key, value in self._extra_state().items()})
        return state

    def set_state(self, state: Mapping[str, np.ndarray], variables: Sequence) -> None:
        """Restore a :meth:`get_state` dict for ``variables`` given in the order they had when it was saved.

        Replaces the registered variables and all slots. Raises ValueError when a key is missing or
        unexpected, or a shape differs; nothing changes then.
        """
        owner = type(self).__name__
        variables = list(variables)
        fresh = copy.copy(self)  # built aside, so a failure leaves self untouched
        fresh._variables, fresh._index, fresh._slots = [], {}, []
        fresh.build(variables)
        expected = fresh.get_state()
        if int(np.asarray(state.get("iterations", -1))) == 0 and \
                not any(key.startswith(f"{self._state_prefix}/") for key in state):
            # Saved before its first update (compiled, never fitted): the optimizer was not built, so the
            # state holds no slots; they are the initial ones a first step would have built.
            state = {**expected, **state}
        missing = sorted(set(expected) - set(state) - {"learning_rate"})
        unexpected = sorted(set(state) - set(expected) - {"learning_rate"})
        if missing or unexpected:
            raise ValueError(f"{owner}.set_state: the state does not fit {len(variables)} variables; "
                             f"missing keys {missing}, unexpected keys {unexpected}")
        for slot in fresh._slot_names():
            for index, slots in enumerate(fresh._slots):
                key = f"{fresh._state_prefix}/{slot}/{index}"
                saved = np.asarray(state[key])
                if saved.shape != slots[slot].shape:
                    raise ValueError(f"{owner}.set_state: {key!r} has shape {saved.shape} but variable "
                                     f"{_name_of(variables[index])} has shape {slots[slot].shape}")
                slots[slot][...] = saved
        fresh._set_extra_state(state)
        fresh.iterations = int(np.asarray(state["iterations"]))
        if "learning_rate" in state and isinstance(fresh._learning_rate, float):
            fresh._learning_rate = float(np.asarray(state["learning_rate"]))
        self.__dict__.update(fresh.__dict__)

    # --- config -------------------------------------------------------------------------------------
    def get_config(self) -> dict:
        """Constructor arguments; a schedule becomes ``{"class_name", "config"}``."""
        if isinstance(self._learning_rate, LearningRateSchedule):
            learning_rate = serialize_schedule(self._learning_rate)
        elif callable(self._learning_rate):
            raise ValueError(f"{type(self).__name__}: cannot serialize the learning rate "
                             f"{self._learning_rate!r}; use a float or a LearningRateSchedule")
        else:
            learning_rate = self._learning_rate
        return {"name": self.name, "learning_rate": learning_rate, "weight_decay": self.weight_decay,
                "clipnorm": self.clipnorm, "global_clipnorm": self.global_clipnorm, "clipvalue": self.clipvalue}

    @classmethod
    def from_config(cls, config: Mapping):
        config = dict(config)
        if isinstance(config.get("learning_rate"), Mapping):
            config["learning_rate"] = deserialize_schedule(config["learning_rate"])
        return cls(**config)

    def _check_keras_only(self, kwargs: dict) -> None:
        owner = type(self).__name__
        kwargs = dict(kwargs)
        kwargs.pop("ema_momentum", None)  # only read when use_ema=True
        if kwargs.pop("decay", None) is not None:
            warnings.warn(f"{owner}: argument `decay` is no longer supported (as in Keras 3) and is ignored; "
                          f"use a learning-rate schedule", stacklevel=3)
        for argument, neutral in _KERAS_ONLY_NEUTRAL.items():
            if argument in kwargs and kwargs.pop(argument) != neutral:
                raise ValueError(f"{owner}: `{argument}` is not supported by clearconv; "
                                 f"only {argument}={neutral!r} is accepted")
        if kwargs:
            raise ValueError(f"{owner}: argument(s) not recognized: {kwargs}")

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r} learning_rate={self._learning_rate!r} " \
               f"iterations={self.iterations}>"


def _array_of(variable) -> np.ndarray:
    return variable if isinstance(variable, np.ndarray) else variable.data


def _name_of(variable) -> str:
    return repr(getattr(variable, "path", f"<array shape={np.shape(_array_of(variable))}>"))


def _assign(variable, value) -> None:
    if hasattr(variable, "assign"):
        variable.assign(value)
    else:
        _array_of(variable)[...] = value


def _as_gradient(gradient, value: np.ndarray, variable, owner: str) -> np.ndarray:
    """The gradient as an array of the variable's dtype (never modified in place afterwards)."""
    gradient = np.asarray(data_of(gradient), dtype=value.dtype)
    if gradient.shape != value.shape:
        raise ValueError(f"{owner}: the gradient for variable {_name_of(variable)} has shape {gradient.shape}, "
                         f"but the variable has shape {value.shape}")
    return gradient
