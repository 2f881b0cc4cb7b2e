"""Optimizers and learning-rate schedules with Keras 3's names, arguments, defaults and update rules.

    opt = clearconv.optimizers.Adam(learning_rate=1e-3)
    loss.backward()
    opt.step(model.trainable_weights)      # uses each variable's .grad, skips None

One update (``apply``), in Keras's order (keras/src/optimizers/base_optimizer.py):

1. gradients are cast to their variable's dtype and clipped: ``clipnorm`` per
   variable (g * c / max(||g||, c)), ``global_clipnorm`` over all of them
   (g * c / max(||all g||, c)), ``clipvalue`` elementwise (clip(g, -c, c));
2. decoupled weight decay: ``w -= w * weight_decay * lr``, lr being the rate of
   the current iteration;
3. each optimizer's update rule (below), with t = iterations + 1;
4. ``iterations += 1``;
5. constraints: ``variable.assign(variable.constraint(variable.data))``.

Update rules (g: gradient, lr: learning rate; every slot starts at 0 except
Adagrad's accumulator):

* SGD: m = momentum*m - lr*g; w += m (nesterov: w += momentum*m - lr*g);
  momentum 0: w -= lr*g.
* RMSprop: v = rho*v + (1-rho)*g^2; centered: a = rho*a + (1-rho)*g,
  d = v - a^2 + eps, else d = v + eps; step = lr*g/sqrt(d);
  momentum > 0: b = momentum*b + step; w -= b, else w -= step.
* Adagrad: acc += g^2 (acc starts at initial_accumulator_value);
  w -= lr*g/sqrt(acc + eps).
* Adadelta: Eg = rho*Eg + (1-rho)*g^2; dx = -sqrt(Edx + eps)/sqrt(Eg + eps)*g;
  Edx = rho*Edx + (1-rho)*dx^2; w += lr*dx.
* Adam / AdamW: m += (g-m)(1-b1); v += (g^2-v)(1-b2); amsgrad: v_hat = max(v_hat, v),
  used for v; alpha = lr*sqrt(1-b2^t)/(1-b1^t); w -= alpha*m/(sqrt(v) + eps).
  AdamW is Adam with weight_decay=0.004 by default (step 2 above).
* Nadam: u_t = b1*(1 - 0.5*0.96^t), U_t = u_1*...*u_t; m, v as Adam;
  m_hat = u_{t+1}*m/(1 - U_t*u_{t+1}) + (1-u_t)*g/(1 - U_t);
  v_hat = v/(1-b2^t); w -= lr*m_hat/(sqrt(v_hat) + eps).

Where Keras and PyTorch differ, this module follows Keras:

* SGD momentum: Keras keeps m = momentum*m - lr*g, torch keeps b = momentum*b + g
  and steps -lr*b. For a constant lr, m = -lr*b and the trajectories are the
  same; when lr changes (a schedule) Keras's velocity keeps the old rates.
* Adam/AdamW epsilon: Keras adds eps to sqrt(v) before the bias correction,
  torch to sqrt(v)/sqrt(1-b2^t) after it; Keras's eps equals torch's
  eps*sqrt(1-b2^t), a step-dependent mapping. Nadam places eps as torch does.
* RMSprop and Adagrad put eps inside the square root (sqrt(v + eps)); torch
  adds it outside (sqrt(v) + eps). Adadelta puts it inside in both.
* ``weight_decay`` is decoupled in every Keras optimizer (w -= w*wd*lr); torch's
  SGD/Adam/RMSprop/Adagrad/Adadelta ``weight_decay`` adds wd*w to the gradient
  (L2). AdamW decays as torch.optim.AdamW does.
* Nadam's momentum schedule is 0.96^t; torch.optim.NAdam uses
  0.96^(t*momentum_decay) with momentum_decay=0.004 by default (1.0 gives Keras's).
* Defaults: Adagrad eps 1e-7 (torch 1e-10) and initial accumulator 0.1
  (torch 0); Adadelta lr 0.001 (torch 1.0); RMSprop rho 0.9 (torch alpha 0.99);
  eps 1e-7 everywhere (torch 1e-8, Adadelta 1e-6).

Scalars (lr, beta powers, ...) are computed in float64 and rounded to each
variable's dtype; slots have the variable's dtype (float32 stays float32).

State: slots are kept per variable, indexed by the order in which variables
were first passed (every variable passed is registered, even one without a
gradient). :meth:`Optimizer.get_state` names them ``"<prefix>/<slot>/<index>"``
(e.g. ``"adam/m/0"``) next to ``"iterations"`` and ``"learning_rate"``;
:meth:`Optimizer.set_state` restores them for the same variable order, so a
resumed run continues bit-identically.
"""

from __future__ import annotations

import copy
import math
import warnings
from typing import Iterable, Mapping, Sequence

import numpy as np

from ..autograd import data_of
from . import schedules  # noqa: F401  (keras.optimizers.schedules)
from .schedules import (  # noqa: F401  (the schedules are also optimizers.<Name>)
    CosineDecay, ExponentialDecay, LearningRateSchedule, PiecewiseConstantDecay, _is_number, deserialize_schedule,
    serialize_schedule)


# ============================================================================
# Argument checks
# ============================================================================


def _check_range(owner: str, argument: str, value, low: float, high: float = math.inf, *,
                 low_open: bool = False, high_open: bool = False) -> None:
    """Raise ValueError unless ``value`` is a finite real number in the interval."""
    inside = _is_number(value) and (value > low if low_open else value >= low) and \
        (value < high if high_open else value <= high)
    if inside:
        return
    if high == math.inf:
        accepted = f"a number {'>' if low_open else '>='} {low:g}"
    else:
        accepted = f"a number in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    raise ValueError(f"{owner}: `{argument}` must be {accepted}; received {argument}={value!r}")


def _check_bool(owner: str, argument: str, value) -> None:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{owner}: `{argument}` must be True or False; received {argument}={value!r}")


# Keras arguments clearconv does not implement, with the value that means "off".
_KERAS_ONLY_NEUTRAL = {"use_ema": False, "ema_overwrite_frequency": None, "loss_scale_factor": None,
                       "gradient_accumulation_steps": None}


# ============================================================================
# Base optimizer
# ============================================================================


class Optimizer:
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
                _check_range(owner, argument, value, 0.0, low_open=True)
        if sum(value is not None for value in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError(f"{owner}: only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set; "
                             f"received clipnorm={clipnorm}, clipvalue={clipvalue}, "
                             f"global_clipnorm={global_clipnorm}")
        if weight_decay is not None:
            _check_range(owner, "weight_decay", weight_decay, 0.0)
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
        _check_range(type(self).__name__, "learning_rate", learning_rate, 0.0)
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
        if self.clipnorm is not None:
            return [g * (self.clipnorm / max(float(np.sqrt(np.sum(g * g))), self.clipnorm)) for g in gradients]
        if self.global_clipnorm is not None:
            norm = math.sqrt(sum(float(np.sum(g * g)) for g in gradients))
            # Keras makes the scale NaN when the norm is inf or NaN.
            scale = self.global_clipnorm / max(norm, self.global_clipnorm) if math.isfinite(norm) else math.nan
            return [g * scale for g in gradients]
        if self.clipvalue is not None:
            return [np.clip(g, -self.clipvalue, self.clipvalue) for g in gradients]
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


# ============================================================================
# The optimizers
# ============================================================================


class SGD(Optimizer):
    """Gradient descent with optional (Nesterov) momentum, Keras form.

    momentum 0: w -= lr*g. Otherwise m = momentum*m - lr*g, then w += m, or with
    ``nesterov`` w += momentum*m - lr*g. Slot: ``momentum`` (only when momentum != 0).
    """

    _state_prefix = "sgd"

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None, clipnorm=None,
                 clipvalue=None, global_clipnorm=None, name="SGD", **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name, **kwargs)
        _check_range("SGD", "momentum", momentum, 0.0, 1.0)
        _check_bool("SGD", "nesterov", nesterov)
        self.momentum = momentum
        self.nesterov = bool(nesterov)

    def _slot_names(self):
        return ("momentum",) if self.momentum != 0 else ()

    def _update_step(self, value, gradient, slots, learning_rate):
        cast = value.dtype.type
        lr = cast(learning_rate)
        if self.momentum == 0:
            value -= gradient * lr
            return
        m, momentum = slots["momentum"], cast(self.momentum)
        m *= momentum
        m -= gradient * lr                          # m = momentum*m - lr*g
        if self.nesterov:
            value += m * momentum - gradient * lr
        else:
            value += m

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class RMSprop(Optimizer):
    """Divide the gradient by a running root-mean-square, Keras form (eps inside the square root).

    v = rho*v + (1-rho)*g^2; centered: a = rho*a + (1-rho)*g and d = v - a^2 + eps,
    else d = v + eps; step = lr*g/sqrt(d); with momentum b = momentum*b + step, w -= b;
    otherwise w -= step. Slots: ``velocity``, ``momentum`` (momentum > 0),
    ``average_gradient`` (centered).
    """

    _state_prefix = "rmsprop"

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None, name="rmsprop",
                 **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name, **kwargs)
        _check_range("RMSprop", "rho", rho, 0.0, 1.0)
        _check_range("RMSprop", "momentum", momentum, 0.0, 1.0)
        _check_range("RMSprop", "epsilon", epsilon, 0.0)
        _check_bool("RMSprop", "centered", centered)
        self.rho = rho
        self.momentum = momentum
        self.epsilon = epsilon
        self.centered = bool(centered)

    def _slot_names(self):
        return ("velocity",) + (("momentum",) if self.momentum > 0 else ()) + \
            (("average_gradient",) if self.centered else ())

    def _update_step(self, value, gradient, slots, learning_rate):
        cast = value.dtype.type
        rho, one_minus_rho = cast(self.rho), cast(1 - self.rho)
        velocity = slots["velocity"]
        velocity *= rho
        velocity += one_minus_rho * np.square(gradient)
        if self.centered:
            average = slots["average_gradient"]
            average *= rho
            average += one_minus_rho * gradient
            denominator = velocity - np.square(average) + cast(self.epsilon)
        else:
            denominator = velocity + cast(self.epsilon)
        increment = cast(learning_rate) * gradient / np.sqrt(denominator)
        if self.momentum > 0:
            buffer = slots["momentum"]
            buffer *= cast(self.momentum)
            buffer += increment
            value -= buffer
        else:
            value -= increment

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon,
                "centered": self.centered}


class Adagrad(Optimizer):
    """Per-coordinate rates from the sum of squared gradients, Keras form.

    acc += g^2 (acc starts at ``initial_accumulator_value``); w -= lr*g/sqrt(acc + eps).
    Slot: ``accumulator``.
    """

    _state_prefix = "adagrad"

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, name=None, **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name, **kwargs)
        _check_range("Adagrad", "initial_accumulator_value", initial_accumulator_value, 0.0)
        _check_range("Adagrad", "epsilon", epsilon, 0.0)
        self.initial_accumulator_value = initial_accumulator_value
        self.epsilon = epsilon

    def _slot_names(self):
        return ("accumulator",)

    def _new_slot(self, slot, value):
        return np.full_like(value, self.initial_accumulator_value)

    def _update_step(self, value, gradient, slots, learning_rate):
        cast = value.dtype.type
        accumulator = slots["accumulator"]
        accumulator += np.square(gradient)
        value -= cast(learning_rate) * gradient / np.sqrt(accumulator + cast(self.epsilon))

    def get_config(self):
        return {**super().get_config(), "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}


class Adadelta(Optimizer):
    """Steps scaled by the ratio of running RMS of updates and of gradients (Zeiler 2012), Keras form.

    Eg = rho*Eg + (1-rho)*g^2; dx = -sqrt(Edx + eps)/sqrt(Eg + eps) * g;
    Edx = rho*Edx + (1-rho)*dx^2; w += lr*dx. Slots: ``accumulated_grad``, ``accumulated_delta_var``.
    Keras's default lr is 0.001; the paper (and torch) use 1.0.
    """

    _state_prefix = "adadelta"

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, weight_decay=None, clipnorm=None,
                 clipvalue=None, global_clipnorm=None, name="adadelta", **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name, **kwargs)
        _check_range("Adadelta", "rho", rho, 0.0, 1.0)
        _check_range("Adadelta", "epsilon", epsilon, 0.0)
        self.rho = rho
        self.epsilon = epsilon

    def _slot_names(self):
        return ("accumulated_grad", "accumulated_delta_var")

    def _update_step(self, value, gradient, slots, learning_rate):
        cast = value.dtype.type
        rho, one_minus_rho, eps = cast(self.rho), cast(1 - self.rho), cast(self.epsilon)
        grad_average, delta_average = slots["accumulated_grad"], slots["accumulated_delta_var"]
        grad_average *= rho
        grad_average += one_minus_rho * np.square(gradient)
        delta = -(np.sqrt(delta_average + eps) * gradient) / np.sqrt(grad_average + eps)
        delta_average *= rho
        delta_average += one_minus_rho * np.square(delta)
        value += cast(learning_rate) * delta

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}


class Adam(Optimizer):
    """Adaptive moments (Kingma & Ba), Keras form: eps added to sqrt(v) before bias correction.

    m += (g - m)(1 - b1); v += (g^2 - v)(1 - b2); amsgrad: v_hat = max(v_hat, v) replaces v;
    alpha = lr*sqrt(1 - b2^t)/(1 - b1^t); w -= alpha*m/(sqrt(v) + eps), t = iterations + 1.
    Slots: ``m``, ``v``, ``v_hat`` (amsgrad).
    """

    _state_prefix = "adam"

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None, name="adam", **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name, **kwargs)
        owner = type(self).__name__
        _check_range(owner, "beta_1", beta_1, 0.0, 1.0, high_open=True)
        _check_range(owner, "beta_2", beta_2, 0.0, 1.0, high_open=True)
        _check_range(owner, "epsilon", epsilon, 0.0)
        _check_bool(owner, "amsgrad", amsgrad)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.amsgrad = bool(amsgrad)

    def _slot_names(self):
        return ("m", "v", "v_hat") if self.amsgrad else ("m", "v")

    def _update_step(self, value, gradient, slots, learning_rate):
        cast = value.dtype.type
        t = self.iterations + 1
        alpha = learning_rate * math.sqrt(1 - self.beta_2 ** t) / (1 - self.beta_1 ** t)
        m, v = slots["m"], slots["v"]
        m += (gradient - m) * cast(1 - self.beta_1)
        v += (np.square(gradient) - v) * cast(1 - self.beta_2)
        if self.amsgrad:
            v = np.maximum(slots["v_hat"], v, out=slots["v_hat"])
        value -= m * cast(alpha) / (np.sqrt(v) + cast(self.epsilon))

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "amsgrad": self.amsgrad}


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): w -= w*weight_decay*lr, then the Adam step.

    Same as torch.optim.AdamW's decay. ``weight_decay`` (default 0.004) may not be None.
    """

    _state_prefix = "adamw"

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, clipnorm=None, clipvalue=None, global_clipnorm=None, name="adamw", **kwargs):
        if weight_decay is None:
            raise ValueError("AdamW: `weight_decay` must be a number >= 0; received weight_decay=None")
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay, clipnorm, clipvalue,
                         global_clipnorm, name, **kwargs)


class Nadam(Optimizer):
    """Adam with Nesterov momentum (Dozat 2015), Keras form.

    u_t = b1*(1 - 0.5*0.96^t); U_t = u_1*...*u_t (state ``nadam/u_product``);
    m, v as Adam; m_hat = u_{t+1}*m/(1 - U_t*u_{t+1}) + (1 - u_t)*g/(1 - U_t);
    v_hat = v/(1 - b2^t); w -= lr*m_hat/(sqrt(v_hat) + eps). Slots: ``m``, ``v``.
    Equal to torch.optim.NAdam(momentum_decay=1.0); torch's default 0.004 differs.
    """

    _state_prefix = "nadam"

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, name="nadam", **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name, **kwargs)
        _check_range("Nadam", "beta_1", beta_1, 0.0, 1.0, high_open=True)
        _check_range("Nadam", "beta_2", beta_2, 0.0, 1.0, high_open=True)
        _check_range("Nadam", "epsilon", epsilon, 0.0)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self._u_product = 1.0

    def _slot_names(self):
        return ("m", "v")

    def _momentum_cache(self, t: int) -> float:
        return self.beta_1 * (1.0 - 0.5 * 0.96 ** t)

    def _begin_update(self):
        self._u_product *= self._momentum_cache(self.iterations + 1)

    def _update_step(self, value, gradient, slots, learning_rate):
        cast = value.dtype.type
        t = self.iterations + 1
        u_t, u_next = self._momentum_cache(t), self._momentum_cache(t + 1)
        u_product, u_product_next = self._u_product, self._u_product * u_next
        m, v = slots["m"], slots["v"]
        m += (gradient - m) * cast(1 - self.beta_1)
        v += (np.square(gradient) - v) * cast(1 - self.beta_2)
        m_hat = m * cast(u_next / (1 - u_product_next)) + gradient * cast((1 - u_t) / (1 - u_product))
        v_hat = v / cast(1 - self.beta_2 ** t)
        value -= m_hat * cast(learning_rate) / (np.sqrt(v_hat) + cast(self.epsilon))

    def _extra_state(self):
        return {"nadam/u_product": np.array(self._u_product, dtype=np.float64)}

    def _set_extra_state(self, state):
        self._u_product = float(np.asarray(state["nadam/u_product"]))

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


# ============================================================================
# Lookup
# ============================================================================

_CLASSES = (SGD, RMSprop, Adagrad, Adadelta, Adam, AdamW, Nadam)

# Names accepted by get: the class names and their lowercase forms.
ALL_OBJECTS: dict[str, type] = {**{cls.__name__: cls for cls in _CLASSES},
                                **{cls.__name__.lower(): cls for cls in _CLASSES}}


def get(identifier) -> Optimizer:
    """An optimizer from a name ("adam", "Adam", ...), a config dict, a class or an instance.

    Unknown names raise ValueError listing the valid ones.
    """
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        return _lookup(identifier)()
    if isinstance(identifier, Mapping):
        return deserialize(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Optimizer):
        return identifier()
    raise ValueError(f"Could not interpret optimizer identifier: {identifier!r}. Expected an Optimizer, a name "
                     f"({', '.join(sorted(ALL_OBJECTS, key=str.lower))}) or a dict with 'class_name' and 'config'.")


def serialize(optimizer: Optimizer) -> dict:
    """``{"class_name": ..., "config": ...}``."""
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


def deserialize(config: Mapping) -> Optimizer:
    """The optimizer described by a :func:`serialize` dict (state not included)."""
    if "class_name" not in config:
        raise ValueError(f"An optimizer config dict needs the keys 'class_name' and 'config'; "
                         f"received keys {sorted(config)}")
    return _lookup(config["class_name"]).from_config(dict(config.get("config") or {}))


def _lookup(name: str) -> type:
    cls = ALL_OBJECTS.get(name) or ALL_OBJECTS.get(name.lower())
    if cls is None:
        raise ValueError(f"Unknown optimizer {name!r}. Valid: {', '.join(sorted(ALL_OBJECTS, key=str.lower))}")
    return cls
