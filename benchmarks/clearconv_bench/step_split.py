"""Where a clearconv training step's time goes: forward, backward by layer kind, optimizer, bookkeeping.

A diagnostic, never a headline. :class:`StepSplit` times one ``fit`` call
of an already compiled model with timers put on that model instance only
(nothing in clearconv changes, and nothing costs anything when no split is
being measured):

- **forward**: the model's forward pass in training mode (``model._forward``)
  and the loss (``model.compute_loss``), recording the tape;
- **backward by kind**: after the loss is computed, every node of its tape
  gets a timer around its vector-Jacobian product, keyed by the clearconv
  operation that recorded it (the name of the ``clearconv.functional`` or
  ``clearconv.autograd`` function the VJP belongs to; :data:`OPERATION_KINDS`).
  An activation fused into a Conv2D or Dense layer (``activation="relu"``) is
  part of that layer's conv or dense node. "other" holds the nodes of no
  listed kind (reshape, flatten, dropout, add, concatenate, the loss) and
  the tape's own work between nodes (walking it, summing gradients that
  meet): the backward's total time minus its nodes' times;
- **optimizer**: ``model.optimizer.step``;
- **bookkeeping**: everything else in fit's step: slicing the batch, the
  data adapter, clearing gradients, the finite-gradient check, the loss and
  metric trackers, callbacks: fit's total time minus all the above and minus
  the time the timers themselves spend walking the tape.
"""

from __future__ import annotations

import time
from typing import Callable

from clearconv import autograd

KINDS = ("conv", "batchnorm", "activation", "pooling", "dense", "other")
PARTS = ("forward",) + tuple(f"backward {kind}" for kind in KINDS) + ("optimizer", "bookkeeping")
# The function that recorded a tape node (the first part of its VJP's qualified name) -> its kind.
OPERATION_KINDS = {
    "conv": "conv", "conv_transpose": "conv",
    "batch_norm_train": "batchnorm", "batch_norm_infer": "batchnorm",
    "activation": "activation",
    "max_pool": "pooling", "avg_pool": "pooling", "global_max_pool": "pooling", "global_avg_pool": "pooling",
    "dense": "dense", "matmul": "dense",
}


def node_kind(vjp: Callable) -> str:
    """The layer kind of a tape node, from the function that recorded it (see OPERATION_KINDS)."""
    name = getattr(vjp, "__qualname__", "")
    return OPERATION_KINDS.get(name.split(".", 1)[0], "other")


class StepSplit:
    """Timers on one compiled clearconv model; :meth:`fit` returns the split of its steps.

    ``clock`` is an argument so that the arithmetic can be checked with a fake.
    """

    def __init__(self, model, clock: Callable[[], float] = time.perf_counter):
        self.model, self.clock = model, clock
        self.seconds = dict.fromkeys(PARTS, 0.0)
        self.backward_total = 0.0
        self.overhead = 0.0               # the timers' own tape walks, taken off the bookkeeping

    def _timed(self, function: Callable, part: str) -> Callable:
        def timed(*args, **kwargs):
            start = self.clock()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[part] += self.clock() - start
        return timed

    def _time_vjp(self, vjp: Callable) -> Callable:
        part = f"backward {node_kind(vjp)}"

        def timed(grad):
            start = self.clock()
            try:
                return vjp(grad)
            finally:
                self.seconds[part] += self.clock() - start
        return timed

    def _time_loss(self, compute_loss: Callable) -> Callable:
        def timed(*args, **kwargs):
            start = self.clock()
            loss = compute_loss(*args, **kwargs)
            walk = self.clock()
            self.seconds["forward"] += walk - start
            if isinstance(loss, autograd.Tensor) and loss.requires_grad:
                for node in autograd._topological_order(loss):
                    if node._vjp is not None:
                        node._vjp = self._time_vjp(node._vjp)
                backward = loss.backward

                def timed_backward(*a, **k):
                    begin = self.clock()
                    try:
                        return backward(*a, **k)
                    finally:
                        self.backward_total += self.clock() - begin
                loss.backward = timed_backward                        # this loss tensor only
            self.overhead += self.clock() - walk
            return loss
        return timed

    def fit(self, x, y, batch_size: int) -> dict:
        """One ``fit`` epoch over ``x``, ``y`` (no shuffling), timed; {part: seconds per step}, plus totals."""
        model = self.model
        originals = {"_forward": model._forward, "compute_loss": model.compute_loss}
        model._forward = self._timed(model._forward, "forward")      # instance attributes shadow the methods
        model.compute_loss = self._time_loss(model.compute_loss)
        optimizer_step = model.optimizer.step
        model.optimizer.step = self._timed(optimizer_step, "optimizer")
        try:
            start = self.clock()
            model.fit(x, y, batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
            total = self.clock() - start
        finally:
            for name in originals:
                del model.__dict__[name]
            del model.optimizer.__dict__["step"]
        steps = -(-len(x) // batch_size)
        return split_figures(self.seconds, self.backward_total, total, self.overhead, steps)


def split_figures(seconds: dict, backward_total: float, total: float, overhead: float, steps: int) -> dict:
    """{"parts": {part: ms per step}, "step_ms": fit's ms per step (timers' overhead taken off), "steps"}.

    "backward other" gains the backward's time outside its nodes; "bookkeeping" is the rest of the step.
    """
    parts = dict(seconds)
    nodes = sum(parts[f"backward {kind}"] for kind in KINDS)
    parts["backward other"] += max(0.0, backward_total - nodes)
    step = total - overhead
    parts["bookkeeping"] = max(0.0, step - sum(value for name, value in parts.items() if name != "bookkeeping"))
    return {"parts": {name: 1e3 * value / steps for name, value in parts.items()}, "step_ms": 1e3 * step / steps,
            "steps": steps}
