"""What ``compile`` builds: the loss and the metrics of every output.

``CompileLoss`` resolves ``loss`` and ``loss_weights`` (one value, a list per
output, or a dict keyed by output names) into one loss per output and sums
them, weighted, into the training loss; ``CompileMetrics`` does the same for
``metrics`` (unweighted) and ``weighted_metrics`` (given the sample weights),
naming each log entry as Keras 3 does (``dense_1_accuracy``, ``_1`` for
repeats). The Trainer (:mod:`clearconv.models.training`) owns one of each.
"""

from __future__ import annotations

import numpy as np

from .. import losses as losses_module
from .. import metrics as metrics_module
from ..autograd import Tensor
from ..nested import flatten

_AUTO_CROSSENTROPY = ("crossentropy", "ce")


def _is_config(value, output_names: list[str]) -> bool:
    """A serialised object ``{"class_name": ..., "config": ...}`` rather than a dict keyed by output names."""
    return isinstance(value, dict) and "class_name" in value and "class_name" not in output_names


def _per_output_entries(value, output_names: list[str], argument: str, owner: str) -> list:
    """``loss``/``loss_weights``-style argument -> one entry per output (None where absent).

    A dict must be keyed by output names (the output layers' names); a
    list/tuple must have one entry per output; anything else applies to
    every output.
    """
    count = len(output_names)
    if _is_config(value, output_names):
        return [value] * count
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(output_names))
        missing = [name for name in output_names if name not in value]
        if unknown or missing:
            raise ValueError(f"{owner}: `{argument}` as a dict must have one key per output, the output layers' "
                             f"names {output_names}; received keys {list(value)}")
        return [value[name] for name in output_names]
    if isinstance(value, (list, tuple)):
        if len(value) != count:
            raise ValueError(f"{owner}: `{argument}` as a list must have one entry per output ({count}: "
                             f"{output_names}); received {len(value)} entries. A dict keyed by output names "
                             f"is also accepted.")
        return list(value)
    return [value] * count


class CompileLoss:
    """The compiled loss: ``sum_i weight_i * loss_i(y_i, y_pred_i, sample_weight_i)`` over the outputs.

    Outputs whose loss is None contribute nothing. The strings "crossentropy"
    and "ce" pick binary, sparse or categorical crossentropy from the first
    batch's shapes, as Keras does. With more than one loss, ``trackers``
    average each output's unweighted loss over the samples (``<output>_loss``).
    """

    def __init__(self, loss, loss_weights, output_names: list[str], owner: str, order: list[str] | None = None):
        self.output_names = output_names
        self.identifiers = _per_output_entries(loss, output_names, "loss", owner)
        self.losses = [None if self._is_auto(identifier) else losses_module.get(identifier)
                       for identifier in self.identifiers]
        self.weights = self._check_weights(loss_weights, output_names, owner)
        active = self.active_outputs
        if order is not None:  # dict outputs: Keras tracks the losses in the loss dict's (or outputs') order
            active = sorted(active, key=lambda index: order.index(output_names[index]))
        self.trackers = ({index: metrics_module.Mean(name=f"{output_names[index]}_loss") for index in active}
                         if len(active) > 1 else {})

    @staticmethod
    def _is_auto(identifier) -> bool:
        return isinstance(identifier, str) and identifier.lower() in _AUTO_CROSSENTROPY

    @staticmethod
    def _check_weights(loss_weights, output_names, owner) -> list:
        if loss_weights is None:
            return [None] * len(output_names)
        if not isinstance(loss_weights, (list, tuple, dict)):
            if len(output_names) != 1 or isinstance(loss_weights, bool) \
                    or not isinstance(loss_weights, (int, float, np.number)):
                raise ValueError(f"{owner}: `loss_weights` must be a number (single output), or a list or a dict "
                                 f"keyed by the output names {output_names}; received {loss_weights!r}")
            return [float(loss_weights)]
        weights = _per_output_entries(loss_weights, output_names, "loss_weights", owner)
        for name, weight in zip(output_names, weights):
            if weight is not None and (isinstance(weight, bool) or not isinstance(weight, (int, float, np.number))):
                raise ValueError(f"{owner}: the loss weight of output '{name}' must be a number; received "
                                 f"{weight!r}")
        return [None if weight is None else float(weight) for weight in weights]

    @property
    def active_outputs(self) -> list[int]:
        return [index for index, identifier in enumerate(self.identifiers) if identifier is not None]

    def resolve(self, ys, prediction_shapes) -> None:
        """Choose the crossentropy of each "crossentropy"/"ce" output from the shapes (Keras's rule)."""
        for index, identifier in enumerate(self.identifiers):
            if self.losses[index] is not None or not self._is_auto(identifier) or ys[index] is None:
                continue
            true_shape, pred_shape = np.shape(ys[index]), tuple(prediction_shapes[index])
            is_binary = pred_shape[-1] == 1
            is_sparse = len(true_shape) < len(pred_shape) or (true_shape[-1] == 1 and pred_shape[-1] > 1)
            name = ("binary_crossentropy" if is_binary else
                    "sparse_categorical_crossentropy" if is_sparse else "categorical_crossentropy")
            self.losses[index] = losses_module.get(name)

    def per_output(self, ys, predictions, sample_weights, owner: str) -> list[tuple[int, Tensor]]:
        """``[(output index, unweighted loss Tensor)]`` for the outputs that have a loss."""
        self.resolve(ys, [prediction.shape for prediction in predictions])
        values = []
        for index in self.active_outputs:
            if ys[index] is None:
                raise ValueError(f"{owner}: output '{self.output_names[index]}' has a loss but the data has no "
                                 f"target for it")
            values.append((index, self.losses[index](ys[index], predictions[index], sample_weights[index])))
        return values

    def config(self) -> list:
        """Per-output serialised losses (a "crossentropy"/"ce" string stays as given)."""
        return [identifier if self._is_auto(identifier) else losses_module.serialize(loss)
                for identifier, loss in zip(self.identifiers, self.losses)]


class MetricsList:
    """The metrics of one output."""

    def __init__(self, metrics: list, output_name: str | None):
        self.metrics = metrics
        self.output_name = output_name


class CompileMetrics:
    """Keras's ``compile_metrics``: ``metrics`` (unweighted) and ``weighted_metrics`` per output.

    Each argument is None, a list (on a multi-output model: one entry per
    output, each a metric, a list of metrics or None) or a dict keyed by
    output names. On a single-output model every metric given applies to the
    one output and names are not prefixed.
    """

    name = "compile_metrics"

    def __init__(self, metrics, weighted_metrics, output_names: list[str], losses: list, owner: str):
        self.output_names = output_names
        self._plain = self._build(metrics, "metrics", losses, owner)
        self._weighted = self._build(weighted_metrics, "weighted_metrics", losses, owner)

    def _build(self, value, argument: str, losses: list, owner: str) -> list[MetricsList | None]:
        count = len(self.output_names)
        if not value:
            return [None] * count
        if _is_config(value, self.output_names):
            value = [value]
        if not isinstance(value, (list, tuple, dict)):
            raise ValueError(f"{owner}: `{argument}` must be a list, a tuple or a dict; received "
                             f"{argument}={value!r} of type {type(value).__name__}")
        if count == 1:
            identifiers = [flatten(value)]
        elif isinstance(value, (list, tuple)) and len(value) == count:
            identifiers = list(value)
        elif isinstance(value, dict) and set(value) <= set(self.output_names):
            identifiers = [value.get(name) for name in self.output_names]
        else:
            raise ValueError(f"{owner}: on a model with {count} outputs, `{argument}` must be a list with one "
                             f"entry per output (a metric, a list of metrics or None) or a dict keyed by the "
                             f"output names {self.output_names}; received {argument}={value!r}")
        built = []
        for index, entry in enumerate(identifiers):
            if entry is None:
                built.append(None)
                continue
            entries = entry if isinstance(entry, (list, tuple)) else [entry]
            metric_objects = []
            for identifier in entries:
                if identifier is None:
                    raise ValueError(f"{owner}: `{argument}` holds None among the metrics of output "
                                     f"'{self.output_names[index]}'")
                metric_objects.append(metrics_module.get(identifier, loss=losses[index]))
            built.append(MetricsList(metric_objects, self.output_names[index] if count > 1 else None))
        return built

    @property
    def metrics(self) -> list:
        """Every metric object: the unweighted ones, then the weighted ones."""
        return [metric for group in self._plain + self._weighted if group for metric in group.metrics]

    def _per_output(self, value) -> list:
        """One entry per output from a value in the model's structure: a dict keyed by output names, a
        list with one entry per output, or one value (shared by every output)."""
        count = len(self.output_names)
        if value is None:
            return [None] * count
        if isinstance(value, dict):
            return [value.get(name) for name in self.output_names]
        if isinstance(value, (list, tuple)) and len(value) == count:
            return list(value)
        return [value] * count

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        """Keras's signature, so a custom step's ``metric.update_state(y, y_pred)`` over ``self.metrics``
        updates the compiled metrics too."""
        ys, sample_weights = self._per_output(y_true), self._per_output(sample_weight)
        predictions = [None if p is None else np.asarray(p.data if isinstance(p, Tensor) else p)
                       for p in self._per_output(y_pred)]
        for group, y_true, y_pred in zip(self._plain, ys, predictions):
            if group:
                for metric in group.metrics:
                    metric.update_state(y_true, y_pred)
        for group, y_true, y_pred, weight in zip(self._weighted, ys, predictions, sample_weights):
            if group:
                for metric in group.metrics:
                    metric.update_state(y_true, y_pred, sample_weight=weight)

    def reset_state(self) -> None:
        for metric in self.metrics:
            metric.reset_state()

    def result(self) -> dict:
        """Results by log name: ``<output>_<metric>``; a repeated name gets ``_1``, ``_2``... and a weighted
        metric repeating a plain one becomes ``weighted_<metric>`` (Keras's rules)."""
        results, seen = {}, {}

        def unique(name):
            index = seen.get(name)
            if index is None:
                seen[name] = 1
                return name
            seen[name] = index + 1
            return f"{name}_{index}"

        for group in self._plain:
            for metric in group.metrics if group else ():
                name = f"{group.output_name}_{metric.name}" if group.output_name else metric.name
                results[unique(name)] = metric.result()
        for group in self._weighted:
            for metric in group.metrics if group else ():
                prefix = f"{group.output_name}_" if group.output_name else ""
                name = prefix + metric.name
                if name in seen:
                    name = unique(prefix + "weighted_" + metric.name)
                else:
                    seen[name] = 1
                results[name] = metric.result()
        return results


def serialize_metrics(value):
    """``metrics`` as JSON-ready data for the saved compile config (names stay names)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict):
        return {key: serialize_metrics(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [serialize_metrics(item) for item in value]
    if isinstance(value, metrics_module.Metric):
        return metrics_module.serialize(value)
    return getattr(value, "__name__", repr(value))


