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

Layout, one optimizer per module as Keras 3's ``keras/src/optimizers/``:
``optimizer`` (the base class: clipping, weight decay, slots, state, config),
``sgd``, ``rmsprop``, ``adagrad``, ``adadelta``, ``adam``, ``adamw``,
``nadam``, and ``schedules``; ``get``/``serialize``/``deserialize`` are this
package's :class:`~clearconv.serialization_lib.Catalog`.
"""

from __future__ import annotations

from ..serialization_lib import REQUIRED, Catalog
from . import schedules  # noqa: F401  (keras.optimizers.schedules)
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam
from .adamw import AdamW
from .nadam import Nadam
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .schedules import (  # noqa: F401  (the schedules are also optimizers.<Name>)
    CosineDecay, ExponentialDecay, LearningRateSchedule, PiecewiseConstantDecay, deserialize_schedule,
    serialize_schedule)
from .sgd import SGD

CLASSES = (SGD, RMSprop, Adagrad, Adadelta, Adam, AdamW, Nadam)

# Names accepted by get: the class names and their lowercase forms (any other case folds to those).
ALL_OBJECTS: dict[str, type] = {**{cls.__name__: cls for cls in CLASSES},
                                **{cls.__name__.lower(): cls for cls in CLASSES}}

CATALOG = Catalog("optimizer", ALL_OBJECTS, base=Optimizer, classes=ALL_OBJECTS, callables=False,
                  default=REQUIRED, fold_case=True)


def get(identifier, custom_objects=None) -> Optimizer:
    """An optimizer from a name ("adam", "Adam", ...), a config dict, a class or an instance.

    Unknown names raise ValueError listing the valid ones; None is not an optimizer.
    """
    return CATALOG.get(identifier, custom_objects)


def serialize(optimizer: Optimizer) -> dict:
    """``{"class_name": ..., "config": ...}`` (the state is not part of it: see :meth:`Optimizer.get_state`)."""
    return CATALOG.serialize(optimizer)


def deserialize(config, custom_objects=None) -> Optimizer:
    """The optimizer described by a :func:`serialize` dict (state not included)."""
    return CATALOG.deserialize(config, custom_objects)
