"""compile / fit / evaluate / predict with Keras 3's arguments, log names and callback order.

One training step (:meth:`Trainer.train_step`): forward with
``training=True`` on a batch, :meth:`Trainer.compute_loss` (the compiled loss
plus the layers' regularisation losses), ``backward()``, one optimizer step on
the trainable weights, :meth:`Trainer.compute_metrics`. fit, evaluate, predict
and the ``*_on_batch`` methods always call ``self.train_step(data)``,
``self.test_step(data)`` and ``self.predict_step(data)``, so a subclass that
overrides them (or ``compute_loss`` / ``compute_metrics``) is used, as in
Keras's guide "Customizing what happens in fit()". ``data`` is the batch as
Keras passes it (``x``, ``(x, y)`` or ``(x, y, sample_weight)``), with the
numeric arrays of ``x`` as :class:`~clearconv.Tensor` so that
``self(x, training=True)`` records the operations for ``backward()``; ``y``
and ``sample_weight`` are NumPy arrays. Every ``.grad`` of the trainable
weights is None when ``train_step`` starts, so a custom step needs no
``zero_grad()``::

    def train_step(self, data):
        x, y = data
        y_pred = self(x, training=True)
        loss = self.compute_loss(y=y, y_pred=y_pred)
        loss.backward()
        self.optimizer.apply([v.grad for v in self.trainable_weights], self.trainable_weights)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics} The data (arrays, lists or dicts of arrays, a
generator, a :class:`~clearconv.data.py_dataset.PyDataset`) goes through
:mod:`clearconv.data.adapters`, which cuts it into batches and epochs exactly
as Keras 3 does (``steps_per_epoch`` continues one pass across epochs;
generators and PyDatasets as Keras reads them).

The per-output losses and metrics that ``compile`` sets up live in
:mod:`clearconv.models.compile_utils`. Outputs are named as Keras names them: by their keys when the model returns
a dict, else by the output layers' names. Logs are Keras 3's: ``loss`` (the
total, regularisation included, averaged over the samples of the epoch);
for each compiled metric its name, prefixed by the output's name on a
multi-output model (``"dense_1_mae"``);
``weighted_metrics`` that collide with a plain one get ``weighted_``
(``"weighted_mae"``); with more than one compiled loss, each output's
unweighted loss as ``"<output>_loss"``. Every logs dict is sorted by name, as
Keras's callback list sorts it, so the History and progress bar show the same
order as Keras. ``metrics`` see no sample weights; ``weighted_metrics`` see
``sample_weight`` / ``class_weight``.

Where this differs from Keras, on purpose (nothing is lost on the way out):

* a step whose loss, or the gradient of some weight, is not finite (NaN or
  infinite) is refused by the default ``train_step`` before its update: the
  weights (BatchNormalization's moving statistics included) and the
  optimizer's state stay those of the previous batch; ``fit`` stops with a
  message naming the epoch, the batch and the first weight whose gradient is
  not finite, ``train_on_batch`` raises FloatingPointError (Keras applies the
  update and goes on, so one such batch turns the weights into NaN for good).
  A custom ``train_step`` that calls the optimizer itself can call
  :func:`first_non_finite_gradient` before it;
* data with 0 samples (``x``, ``validation_data``, or one batch of a
  generator or PyDataset) raises ValueError naming it, in fit, evaluate,
  predict and the ``*_on_batch`` methods (Keras fails with StopIteration or
  an unrelated error); a layer or model *called* on 0 samples returns an
  empty output;
* ``sample_weight`` and ``class_weight`` must be finite and non-negative
  (Keras takes a negative weight, which rewards getting that sample wrong),
  and a negative ``epochs`` is refused (Keras trains no epoch);
* Ctrl-C (SIGINT) during ``fit`` finishes the current batch, then returns
  the History so far with the weights trained up to that batch.

Under an active :class:`~clearconv.distribution.DataParallel` (several MPI
processes) every step runs on this process's shard of the global batch, the
gradients and metric states are summed over the processes, and an exception
on one process ends them all; the semantics are in
:mod:`clearconv.distribution.data_parallel` and docs/distribution.md. With one
process nothing here changes.
"""

from __future__ import annotations

import contextlib
import functools
import signal
import threading
import warnings

import numpy as np

from .. import callbacks as callbacks_module
from .. import distribution as distribution_module
from .. import metrics as metrics_module
from .. import optimizers as optimizers_module
from ..autograd import Tensor, no_grad
from ..data import adapters
from ..kernels import normalization as norm_ops
from ..kernels import parallel
from .compile_utils import CompileLoss, CompileMetrics, serialize_metrics
from ..nested import flatten, is_nested, map_structure
from .. import utils
from ..losses import loss as loss_module


def _as_list(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _is_count(value, minimum: int = 1) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, np.integer)) and value >= minimum


def _check_optional_count(owner: str, argument: str, value):
    if value is not None and not _is_count(value):
        raise ValueError(f"{owner}: `{argument}` must be None or a positive integer; received {argument}={value!r}")
    return None if value is None else int(value)


def _check_verbose(owner: str, verbose):
    if verbose == "auto" or (not isinstance(verbose, bool) and verbose in (0, 1, 2)):
        return verbose
    raise ValueError(f"{owner}: `verbose` must be 'auto', 0, 1 or 2; received verbose={verbose!r}")


def _sorted_floats(logs: dict) -> dict:
    """Keras's ``pythonify_logs``: the logs sorted by name, a dict value (the ``compile_metrics``
    container's result, from a custom step) merged in, values as Python floats where they are scalars
    (a metric with several thresholds keeps its array)."""
    result = {}
    for key, value in sorted(logs.items()):
        if isinstance(value, dict):
            result.update(_sorted_floats(value))
            continue
        value = value.data if isinstance(value, Tensor) else value
        try:
            result[key] = float(value)
        except (TypeError, ValueError):
            result[key] = value
    return result


def _flat_arrays(outputs) -> list[np.ndarray]:
    """What predict_step returned, flattened to NumPy arrays (dicts by sorted key)."""
    return [np.asarray(leaf.data if isinstance(leaf, Tensor) else leaf) for leaf in flatten(outputs)]


class _RefusedUpdate(FloatingPointError):
    """The default train_step met a non-finite loss or gradient and applied no update; fit stops on it.

    ``reason`` says what was not finite; ``loss`` is the batch's loss (finite when a gradient was not).
    """

    def __init__(self, reason: str, loss: float):
        super().__init__(reason)
        self.reason = reason
        self.loss = loss


def first_non_finite_gradient(variables):
    """The first of ``variables`` whose ``.grad`` holds a NaN or an infinity, or None.

    One pass over each gradient ``g``: the BLAS dot product ``g . g`` reads
    it without a temporary (faster than ``np.sum`` or ``np.isfinite(g).all()``
    at every size of a CNN's weights), and is finite unless an entry is NaN
    or infinite or the sum of squares overflows (entries near 1.8e19 in
    float32); only then is the gradient tested entry by entry
    (``np.isfinite(g).all()``), so a finite gradient is never refused.
    Variables whose ``.grad`` is None are skipped.
    """
    with np.errstate(over="ignore", invalid="ignore"):  # an overflowing or NaN sum is the question asked
        for variable in variables:
            grad = variable.grad
            if grad is None:
                continue
            flat = np.ravel(grad.data if isinstance(grad, Tensor) else grad)  # (...) -> (size,), a view
            if not np.isfinite(np.dot(flat, flat)) and not np.isfinite(flat).all():
                return variable
    return None


def _updated_by_forward(weights) -> list:
    """The weights a training forward pass may change: those a layer declared non-trainable (moving
    statistics). The weights of a frozen layer (``layer.trainable = False``) are left out: nothing
    changes them, and a frozen backbone's kernels would be a large copy per step."""
    return [variable for variable in weights if not getattr(variable, "_layer_trainable", variable.trainable)]


def _input_tensor(leaf):
    """A numeric array of ``x`` as a Tensor, as Keras hands its steps backend tensors: calling the model
    on it records the operations, so a custom train_step can call ``backward()``."""
    if isinstance(leaf, np.ndarray) and leaf.dtype.kind in "biuf":
        return Tensor(leaf)
    return leaf


def _step_data(data):
    """The batch handed to train_step/test_step/predict_step: ``x``'s arrays as Tensors, the rest as is."""
    x, y, sample_weight = utils.unpack_x_y_sample_weight(data)
    return utils.pack_x_y_sample_weight(map_structure(_input_tensor, x, none_is_leaf=False), y, sample_weight)


def _ends_every_process_on_error(method):
    """Under an active :class:`~clearconv.distribution.DataParallel`, an exception in ``method`` on one
    process ends every process of the launch with its traceback (see
    :func:`clearconv.distribution.data_parallel.abort_on_error`): the others may be waiting in a collective
    this one will never reach. One process: the exception propagates as usual."""
    @functools.wraps(method)
    def guarded(self, *args, **kwargs):
        with distribution_module.abort_on_error(distribution_module.active()):
            return method(self, *args, **kwargs)
    return guarded


def _batches_in_parts(method):
    """``method`` (fit) runs inside :func:`clearconv.kernels.parallel.scope`: large convolutions that keep
    what their backward needs split their batch over clearconv's threads, the BLAS then on one thread until
    ``method`` returns (validation and callbacks included: their convolutions split too, and their other
    NumPy products run on one BLAS thread). Not ``train_on_batch``: a scope per call set the BLAS's threads
    back and forth once per step, and small_vgg's step then took as long as without parts (113 against 112
    ms; 75-80 ms with one scope around the loop)."""
    @functools.wraps(method)
    def scoped(self, *args, **kwargs):
        with parallel.scope():
            return method(self, *args, **kwargs)
    return scoped


def _check_distributable_losses(name: str, compile_loss) -> None:
    """Under data parallelism each process differentiates ``loss * n_local / n_global``, exact for the
    reductions that divide by the number of samples: refuse the others with their names."""
    for loss in (compile_loss.losses if compile_loss is not None else []):
        reduction = getattr(loss, "reduction", "sum_over_batch_size")
        if loss is not None and reduction not in ("sum_over_batch_size", "mean"):
            raise ValueError(f"{name}: under DataParallel the compiled losses must average over the samples; "
                             f"loss {getattr(loss, 'name', loss)!r} has reduction={reduction!r}; accepted: "
                             f"'sum_over_batch_size' (the default) or 'mean'")


def _check_destination(method: str, filepath, what: str | None = None) -> None:
    """On a data-parallel process that does not write: raise what rank 0's save of ``filepath`` raises for a
    file name of another format (``what``: "model" or "weights") or a folder that is missing or not
    writable. ``overwrite=False`` is left to rank 0: the file it writes may appear before this one looks."""
    from ..io.formats import check_file_name
    from ..io.writing import check_folder
    if what is not None:
        check_file_name(filepath, what)
    check_folder(filepath, method)


def _any_process(parallel, *flags) -> list[bool]:
    """Each flag True on every process when it is True on any (one Allreduce): a callback's
    ``stop_training`` / ``stop_evaluating`` / ``stop_predicting``, or a Ctrl-C, on one process stops every
    process after the same batch."""
    counts = parallel.communicator.allreduce_sum(np.array([float(bool(flag)) for flag in flags]))
    return [bool(count > 0) for count in counts]


class _Interrupt:
    """Turn SIGINT into a flag checked between batches (main thread only)."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:  # a second Ctrl-C: stop at once
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False


# --------------------------------------------------------------------------------------------------
# The Trainer
# --------------------------------------------------------------------------------------------------

class Trainer:
    """Mixed into :class:`~clearconv.models.Model`: compile, fit, evaluate, predict and the ``*_on_batch``."""

    def __init__(self):
        self.optimizer = None
        self.compiled = False
        self.loss = None
        self.stop_training = False
        self.stop_evaluating = False
        self.stop_predicting = False
        self.history = None
        self.run_eagerly = False
        self.jit_compile = False
        self.steps_per_execution = 1
        self._initial_epoch = None  # a callback may set it in on_train_begin (resuming), as in Keras
        self._compile_loss = None
        self._compile_metrics = None
        self._loss_tracker = None
        self._compile_built = False
        self._pending_compile = None  # compile() on a model without inputs yet: finished at the first batch
        self._called_output_names = None  # a subclassed model's outputs, learnt from its first call
        self._called_output_structure = None

    # --- compile -------------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None, weighted_metrics=None,
                run_eagerly=False, steps_per_execution=1, jit_compile="auto", auto_scale_loss=True) -> None:
        """Set the optimizer, the loss(es) and the metrics, with Keras 3's arguments.

        Args:
            optimizer: a name or an optimizer instance.
            loss: a loss (name, Loss, function), or per output a list or a
                dict keyed by output names (the output layers' names); None
                for an output means no loss there. "crossentropy"/"ce" pick the
                crossentropy from the shapes.
            loss_weights: a number (single output), a list or a dict of
                per-output factors of the total loss.
            metrics: metrics computed without sample weights: a list, or per
                output a list of lists or a dict keyed by output names.
            weighted_metrics: the same, computed with ``sample_weight`` /
                ``class_weight``.
            steps_per_execution: batches per call of the batch callbacks
                (``on_train_batch_begin`` with the first batch index,
                ``on_train_batch_end`` with the last), as in Keras; the
                weights and logs do not depend on it.
            run_eagerly, jit_compile, auto_scale_loss: accepted for Keras code;
                every step runs eagerly in NumPy here, in the model's dtype
                (``jit_compile=True`` warns and falls back, as Keras does
                for a model that cannot be compiled).

        A ``Sequential`` given no input shape is built from the first batch
        that fit/evaluate/predict or a ``*_on_batch`` receives, as in Keras;
        the losses and metrics are then checked against its outputs.
        """
        owner = f"{self.name}: compile"
        if not _is_count(steps_per_execution):
            raise ValueError(f"{owner}: `steps_per_execution` must be a positive integer; received "
                             f"{steps_per_execution!r}")
        if jit_compile != "auto" and not isinstance(jit_compile, (bool, np.bool_)):
            raise ValueError(f"{owner}: `jit_compile` must be True, False or 'auto'; received {jit_compile!r}")
        for argument, value in (("run_eagerly", run_eagerly), ("auto_scale_loss", auto_scale_loss)):
            if not isinstance(value, (bool, np.bool_)):
                raise ValueError(f"{owner}: `{argument}` must be True or False; received {value!r}")
        if jit_compile is True and not run_eagerly:
            warnings.warn(f"{self.name}: jit_compile=True: clearconv runs every step eagerly in NumPy; "
                          f"proceeding with jit_compile=False", stacklevel=2)
        self.optimizer = optimizers_module.get(optimizer)
        self.loss = loss
        self._loss_tracker = metrics_module.Mean(name="loss")
        self.steps_per_execution = int(steps_per_execution)
        self.run_eagerly = bool(run_eagerly)
        self.jit_compile = False  # nothing is compiled: every step runs eagerly
        self.stop_training = False
        self._compile_built = False
        # A new optimizer: the next train_on_batch broadcasts rank 0's weights and its state again.
        self._synchronised_by = None
        self._compile_loss = self._compile_metrics = None
        self._compile_config = None
        self._pending_compile = (loss, loss_weights, metrics, weighted_metrics, owner)
        self._finish_compile()
        self.compiled = True

    def _has_graph(self) -> bool:
        return bool(getattr(self, "_graph", True)) and bool(getattr(self, "outputs", None))

    def _finish_compile(self, inputs=None) -> None:
        """Build the compiled losses and metrics for the model's outputs (once it has them)."""
        if self._pending_compile is None:
            return
        if not self._has_graph() and self._called_output_names is None:
            if inputs is None:
                return
            with no_grad():  # a subclassed model: one inference call tells its output structure
                self._forward(inputs, training=False)
        loss, loss_weights, metrics, weighted_metrics, owner = self._pending_compile
        output_names = self._output_names()
        structure = (getattr(self, "_output_structure", None) if self._has_graph()
                     else self._called_output_structure)
        order = None
        if isinstance(structure, dict) and sorted(structure) == output_names:
            order = [key for key in loss if key in output_names] if isinstance(loss, dict) else list(structure)
        compile_loss = CompileLoss(loss, loss_weights, output_names, owner, order)
        compile_metrics = None
        if metrics is not None or weighted_metrics is not None:
            compile_metrics = CompileMetrics(metrics, weighted_metrics, output_names, compile_loss.losses, owner)
        self._compile_loss, self._compile_metrics = compile_loss, compile_metrics
        self._pending_compile = None
        weights = compile_loss.weights
        self._compile_config = {"optimizer": optimizers_module.serialize(self.optimizer),
                                "loss": compile_loss.config(),
                                "metrics": serialize_metrics(metrics),
                                "weighted_metrics": serialize_metrics(weighted_metrics),
                                "loss_weights": None if all(w is None for w in weights) else weights}

    def _build_graph_from(self, x) -> None:
        """A Sequential declared without an input shape is built from the first batch's ``x`` (as Keras)."""
        from .sequential import Sequential
        if self._has_graph() or not isinstance(self, Sequential) or not self.layers:
            return
        first = flatten(x)[0]
        self.build((None, *np.shape(first)[1:]))

    def _assert_compiled(self, method: str) -> None:
        if not self.compiled:
            raise ValueError(f"{self.name}: call compile(optimizer, loss, ...) before {method}()")

    # --- names and metrics --------------------------------------------------------------------
    def _output_names(self) -> list[str]:
        """One name per flat output: the keys of dict outputs (in the model's flat order, sorted as Keras
        flattens dicts), else the output layers' names; a subclassed model's come from its first call."""
        if not self._has_graph():
            if self._called_output_names is None:
                raise ValueError(f"{self.name}: the model's outputs are not known before its first call")
            return self._called_output_names
        structure = getattr(self, "_output_structure", None)
        if isinstance(structure, dict) and len(structure) == len(self.outputs):
            return sorted(structure)
        return [tensor.layer.name for tensor in self.outputs]

    def _input_names(self) -> list[str]:
        structure = getattr(self, "_input_structure", None)
        if isinstance(structure, dict) and len(structure) == len(self.inputs):
            return sorted(structure)
        return [tensor.layer.name for tensor in self.inputs]

    @property
    def metrics(self) -> list:
        """Keras's order: the loss tracker, the compiled metrics (a container), each output's loss tracker."""
        if not self.compiled:
            return []
        found = [self._loss_tracker]
        if self._compile_metrics is not None:
            found.append(self._compile_metrics)
        if self._compile_loss is not None:
            found.extend(self._compile_loss.trackers.values())
        return found

    @property
    def metrics_names(self) -> list[str]:
        return [metric.name for metric in self.metrics]

    def reset_metrics(self) -> None:
        for metric in self.metrics:
            metric.reset_state()

    def get_metrics_result(self) -> dict:
        """Every metric's current value by log name, sorted by name (as Keras's callbacks receive them)."""
        results = {}
        for metric in self.metrics:
            value = metric.result()
            if isinstance(value, dict):
                results.update(value)
            else:
                results[metric.name] = value
        return _sorted_floats(results)

    def _flatten_metrics_in_order(self, logs: dict):
        """The list form of logs: Keras's metric order first, then the other names sorted; one value alone
        is returned as a scalar."""
        names = []
        for metric in self.metrics:
            if isinstance(metric, CompileMetrics):
                names.extend(sub_metric.name for sub_metric in metric.metrics)
            else:
                names.append(metric.name)
        values = [logs[name] for name in names if name in logs]
        values += [logs[key] for key in sorted(logs) if key not in names]
        return values[0] if len(values) == 1 else values

    # --- one batch -----------------------------------------------------------------------------
    def _batch_inputs(self, x):
        """``(value to call the model with, batch size)`` from one batch's ``x``.

        For a model with a graph: an array, a list/tuple in input order, or a
        dict keyed by input names (the dict keys the model was built with,
        else the Input layers' names), checked against the input shapes. A
        subclassed model receives ``x`` as it is.
        """
        if x is None:
            raise ValueError(f"{self.name}: the data has no inputs `x`")
        self._build_graph_from(x)
        if not self._has_graph():
            value = adapters.to_numpy(x)
            return value, int(np.shape(flatten(value)[0])[0])
        names = self._input_names()
        if isinstance(x, dict):
            layer_names = [symbol.layer.name for symbol in self.inputs]
            if any(name not in x for name in names) and all(name in x for name in layer_names):
                names = layer_names
            missing = [name for name in names if name not in x]
            if missing:
                raise ValueError(f"{self.name}: x is a dict without the input(s) {missing}; its keys must be "
                                 f"the Input names {names}; received keys {list(x)}")
            extra = [key for key in x if key not in names]
            if extra:
                warnings.warn(f"{self.name}: the input dict holds keys {extra} that match no model input "
                              f"({names}); they are ignored", stacklevel=4)
            arrays = [x[name] for name in names]
        else:
            arrays = _as_list(x)
        if len(arrays) != len(names):
            raise ValueError(f"{self.name}: expects {len(names)} input array(s); received {len(arrays)}")
        arrays = [np.asarray(array) for array in arrays]
        for symbol, array in zip(self.inputs, arrays):
            expected = symbol.shape
            if array.ndim != len(expected) or any(e is not None and e != s
                                                  for e, s in zip(expected[1:], array.shape[1:])):
                raise ValueError(f"{self.name}: input '{symbol.layer.name}' expects arrays of shape "
                                 f"{expected}; received {array.shape}")
        counts = {len(array) for array in arrays}
        if len(counts) > 1:
            raise ValueError(f"{self.name}: the input arrays must have the same number of samples; received "
                             f"{[len(a) for a in arrays]}")
        return (arrays if len(arrays) > 1 else arrays[0]), len(arrays[0])

    def _batch_targets(self, y) -> list:
        """One target (or None) per output, from an array, a list/tuple or a dict keyed by output names."""
        names = self._output_names()
        count = len(names)
        if y is None:
            return [None] * count
        if isinstance(y, dict):
            unknown = [key for key in y if key not in names]
            if unknown:
                raise ValueError(f"{self.name}: y is a dict with keys {unknown} that are not output names; "
                                 f"the output names are {names}")
            targets = [y.get(name) for name in names]
        elif isinstance(y, (list, tuple)):
            targets = list(y)
            active = self._compile_loss.active_outputs if self._compile_loss is not None else []
            if len(targets) != count and len(targets) == len(active):
                # Targets only for the outputs that have a loss (Keras accepts this too).
                spread = [None] * count
                for index, target in zip(active, targets):
                    spread[index] = target
                targets = spread
            if len(targets) != count:
                raise ValueError(f"{self.name}: expects {count} target array(s), one per output {names}; "
                                 f"received {len(targets)}")
        else:
            if count != 1:
                raise ValueError(f"{self.name}: the model has {count} outputs {names}: give y as a list with "
                                 f"one array per output or a dict keyed by the output names; received one array")
            targets = [y]
        return [None if target is None else np.asarray(target) for target in targets]

    def _batch_sample_weights(self, sample_weight, count: int) -> list:
        """One sample-weight array (or None) per output; one array for a multi-output model is shared."""
        names = self._output_names()
        if sample_weight is None:
            return [None] * len(names)
        if isinstance(sample_weight, dict):
            unknown = [key for key in sample_weight if key not in names]
            if unknown:
                raise ValueError(f"{self.name}: sample_weight is a dict with keys {unknown} that are not "
                                 f"output names; the output names are {names}")
            weights = [sample_weight.get(name) for name in names]
        elif isinstance(sample_weight, (list, tuple)) and (len(sample_weight) == len(names) or len(names) == 1):
            if len(sample_weight) != len(names):
                weights = [sample_weight]
            else:
                weights = list(sample_weight)
        else:
            array = np.asarray(sample_weight)
            if len(names) > 1 and not (array.ndim == 1 or (array.ndim == 2 and array.shape[1] == 1)):
                raise ValueError(f"{self.name}: one sample_weight array for a model with several outputs must "
                                 f"hold one weight per sample, shape ({count},); received {array.shape}. Give "
                                 f"one array per output for other shapes.")
            weights = [array] * len(names)
        weights = [None if weight is None else np.asarray(weight, dtype=np.float32) for weight in weights]
        try:  # batches from a generator or PyDataset are seen here only (arrays are checked when fit starts)
            adapters.check_sample_weight(weights)
        except ValueError as error:
            raise ValueError(f"{self.name}: {error}") from None
        for name, weight in zip(names, weights):
            if weight is not None and (weight.ndim == 0 or weight.shape[0] != count):
                raise ValueError(f"{self.name}: sample_weight for output '{name}' must have {count} rows, one per "
                                 f"sample of the batch; received shape {weight.shape}")
        return weights

    def _unpack(self, data, need_targets: bool | None = None):
        """``(model inputs, targets per output, sample weights per output, batch size)`` of one batch.

        need_targets None: targets are needed when some output has a loss.
        """
        x, y, sample_weight = utils.unpack_x_y_sample_weight(data)
        inputs, count = self._batch_inputs(x)
        self._finish_compile(inputs)
        ys = self._batch_targets(y)
        if need_targets is None:
            need_targets = bool(self._compile_loss.active_outputs)
        if need_targets and y is None:
            raise ValueError(f"{self.name}: the data has no targets `y`; give y, or batches `(x, y)` from a "
                             f"generator or PyDataset")
        for name, target in zip(self._output_names(), ys):
            if target is not None and len(target) != count:
                raise ValueError(f"{self.name}: x and y must have the same number of samples; received x with "
                                 f"{count} and y for '{name}' with {len(target)}")
        return inputs, ys, self._batch_sample_weights(sample_weight, count), count

    def _forward(self, inputs, training: bool):
        """The model's outputs on ``inputs`` (arrays or Tensors), in the model's output structure."""
        result = self(map_structure(Tensor, inputs, none_is_leaf=False), training=training)
        if not self._has_graph() and self._called_output_names is None:
            flat = flatten(result)
            self._called_output_structure = map_structure(lambda _: None, result) if is_nested(result) else None
            self._called_output_names = (sorted(result) if isinstance(result, dict) else
                                         [f"output_{index + 1}" for index in range(len(flat))] if len(flat) > 1
                                         else [self.name])
        return result

    def _pack_outputs(self, flat: list, structure=None):
        """Flat per-output arrays back in ``structure`` (default: the model's output structure): one array,
        a list, a dict."""
        if structure is None:
            structure = (getattr(self, "_output_structure", None) if self._has_graph()
                         else self._called_output_structure)
        if structure is None or not is_nested(structure):
            return flat[0]
        leaves = iter(flat)

        def pack(node):
            if isinstance(node, dict):
                return {key: pack(node[key]) for key in sorted(node)}
            if isinstance(node, (list, tuple)):
                return [pack(item) for item in node]
            return next(leaves)
        return pack(structure)

    # --- the steps (public, as in Keras: a subclass may override any of them) ---------------------
    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The total loss Tensor: the compiled loss(es) of ``y`` and ``y_pred`` plus ``self.losses``.

        ``y``, ``y_pred`` and ``sample_weight`` in the model's structure (one
        array or Tensor, a list per output, a dict keyed by output names).
        Updates the per-output loss trackers (``"<output>_loss"``), as Keras's
        compiled loss does; a non-finite training loss records nothing, since
        its update is not applied. Returns None when there is no loss at all.
        ``x`` is not used by this default.
        """
        del x
        total = None
        predictions = flatten(y_pred)
        if self._compile_loss is not None and predictions:
            count = int(np.shape(predictions[0])[0])
            sample_weights = self._batch_sample_weights(sample_weight, count)
            per_output = self._compile_loss.per_output(self._batch_targets(y), predictions, sample_weights,
                                                       self.name)
            for index, value in per_output:
                weight = self._compile_loss.weights[index]
                term = value if weight is None else value * weight
                total = term if total is None else total + term
        else:
            per_output, count = [], 0
        for penalty in self.losses:
            total = penalty if total is None else total + penalty
        if per_output and (not training or np.isfinite(float(total.data))):
            for index, value in per_output:
                tracker = self._compile_loss.trackers.get(index)
                if tracker is not None:
                    tracker.update_state(float(value.data), sample_weight=count)
        return total

    def compute_metrics(self, x, y, y_pred, sample_weight=None) -> dict:
        """Update the compiled metrics with the batch; returns every metric's result by log name."""
        del x
        if self._compile_metrics is not None:
            predictions = flatten(y_pred)
            sample_weights = self._batch_sample_weights(sample_weight, int(np.shape(predictions[0])[0]))
            self._compile_metrics.update_state(self._batch_targets(y), predictions, sample_weights)
        return self.get_metrics_result()

    def train_step(self, data) -> dict:
        """One update on one batch; returns the logs.

        A loss that is not finite, or a gradient with a NaN or an infinity
        (a finite loss can have one: an input of -inf behind a ReLU that
        zeroes it gives 0 * inf), raises FloatingPointError before the
        optimizer is called, so the weights and the optimizer's state do not
        change; fit stops on it, with a message naming the batch and the
        weight (see :func:`first_non_finite_gradient`).

        Under an active :class:`~clearconv.distribution.DataParallel`,
        ``data`` is this process's shard: it differentiates its share of the
        global batch's loss (:func:`clearconv.distribution.scale_loss`), the
        gradients and the loss shares are summed over the processes in one
        Allreduce, and the loss and gradients are judged after it, on the
        global values, so every process refuses or applies the same step.
        """
        x, y, sample_weight = utils.unpack_x_y_sample_weight(data)
        inputs, _, _, count = self._unpack(data)
        y_pred = self._forward(inputs, training=True)
        loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True)
        if loss is None:
            raise ValueError(f"{self.name}: no loss to compute: give a `loss` to compile() (or add losses to "
                             f"the model with add_loss)")
        value = float(np.asarray(loss.data if isinstance(loss, Tensor) else loss))
        variables = self.trainable_weights
        parallel = distribution_module.active()
        if parallel is None:
            if not np.isfinite(value):
                raise _RefusedUpdate(f"the loss became {value}", value)
            loss.backward()
            reported = value
        else:
            # Every process must reach the Allreduce whatever its own loss (a NaN in one shard is a NaN in
            # the sum, so the check after it decides alike everywhere).
            with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
                distribution_module.scale_loss(loss).backward()
            reported = float(parallel.all_reduce_gradients(variables, [value * parallel.share])[0])
            if not np.isfinite(reported):
                raise _RefusedUpdate(f"the loss became {reported}", reported)
        variable = first_non_finite_gradient(variables)
        if variable is not None:
            raise _RefusedUpdate(f"the gradient of '{variable.path}' holds NaN or infinite values (the loss is "
                                 f"{reported})", reported)
        self._loss_tracker.update_state(value, sample_weight=count)
        self.optimizer.step(variables)
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def test_step(self, data) -> dict:
        """Loss and metrics of one batch in inference mode, without recording; returns the logs."""
        x, y, sample_weight = utils.unpack_x_y_sample_weight(data)
        inputs, _, _, count = self._unpack(data)
        with no_grad():
            y_pred = self._forward(inputs, training=False)
            loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=False)
        value = 0.0 if loss is None else float(np.asarray(loss.data if isinstance(loss, Tensor) else loss))
        self._loss_tracker.update_state(value, sample_weight=count)
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def predict_step(self, data):
        """The model's outputs on one batch's ``x`` in inference mode, without recording."""
        x, _, _ = utils.unpack_x_y_sample_weight(data)
        inputs, _ = self._batch_inputs(x)
        with no_grad():
            return self._forward(inputs, training=False)

    def _step_logs(self, logs, method: str) -> dict:
        if not isinstance(logs, dict):
            raise TypeError(f"{self.name}: {method}() must return a dict of logs (metric name -> value), e.g. "
                            f"{{m.name: m.result() for m in self.metrics}}; received {type(logs).__name__}")
        return logs

    def _train_function(self, data):
        """fit's and train_on_batch's call of ``train_step``: its logs, or the :class:`_RefusedUpdate` of a
        step the default train_step refused to apply, after putting back the weights the forward pass
        changed (BatchNormalization's moving statistics)."""
        weights = self.weights  # gathered once: walking the layers costs more than the check itself
        # backward() accumulates into .grad: starting each step from None spares custom steps a zero_grad().
        for variable in weights:
            variable.grad = None
        # Weights declared non-trainable (BatchNormalization's moving statistics) are updated by the forward
        # pass, before the loss and the gradients are known to be finite: a copy (a few numbers per channel)
        # lets a refused step leave them as they were.
        saved = [(variable, variable.data.copy()) for variable in _updated_by_forward(weights)]
        parallel = distribution_module.active()
        try:
            with contextlib.ExitStack() as stack:
                if parallel is not None:  # per-process random streams; BatchNormalization on the global batch
                    stack.enter_context(parallel.random_stream())
                    stack.enter_context(norm_ops.statistics_reduction(parallel.sum_arrays))
                logs = self.train_step(data)
        except _RefusedUpdate as refused:
            for variable, value in saved:
                variable.data[...] = value
            return refused
        self._compile_built = True
        return self._step_logs(logs, "train_step")

    def _metrics_result_or_logs(self, logs) -> dict:
        """Keras's rule at the end of an epoch or evaluation: the metrics' results when the step's logs have
        the same names, else the last step's logs (a custom step may log other names). Under an active
        DataParallel the results are those of the metrics' states summed over the processes."""
        results = self._global_metrics_result()
        return results if set(logs) == set(results) else _sorted_floats(logs)

    def _global_metrics_result(self) -> dict:
        """``get_metrics_result()`` over every process: the metrics' states are summed before the results
        are read (one Allreduce). One process: the local results."""
        parallel = distribution_module.active()
        if parallel is None:
            return self.get_metrics_result()
        return parallel.global_results(self.metrics, self.get_metrics_result)[0]

    def _agree_to_stop(self, parallel, requested: bool) -> bool:
        """Whether any process had a Ctrl-C ``requested``; sets ``stop_training`` when any process's is set.

        A callback may set ``stop_training`` on one process only (it read a
        file, a clock, its own rank): acting on the local flag would leave
        the others waiting in the next step's collectives. One Allreduce of
        the two flags after the batch's (or the epoch's) callbacks lets every
        process stop after the same batch, the one a single process would
        stop after.
        """
        requested, self.stop_training = _any_process(parallel, requested, self.stop_training)
        return requested

    def _global_step_logs(self, logs: dict) -> dict:
        """A step's logs as every process reports them (see :meth:`_global_metrics_result`): the summed
        metrics' results when the step logged the metrics' names, else its own logs."""
        if distribution_module.active() is None:
            return logs
        results = self._global_metrics_result()
        return results if set(logs) == set(results) else logs

    def _build_from(self, epoch_iterator) -> None:
        """First fit/evaluate after compile: check the first batch's structure and resolve the losses.

        Keras reads one batch here to build its compiled losses and metrics;
        reading it the same way keeps a PyDataset's calls and a generator's
        batches as in Keras (the caller resets the iterator afterwards).
        """
        if self._compile_built:
            return
        adapter = epoch_iterator.data_adapter
        if isinstance(adapter, adapters.ArrayDataAdapter):
            # Reading arrays has no side effect to reproduce: take the first samples, draw no permutation.
            self._build_from_batch(adapter.first_batch())
        else:
            with epoch_iterator.catch_stop_iteration():
                for _, _, iterator in epoch_iterator:
                    self._build_from_batch(next(iterator))
                    break
        self._compile_built = True

    def _build_once_from(self, data) -> None:
        """The ``*_on_batch`` methods' :meth:`_build_from`: compile is finished before a custom step runs."""
        if not self._compile_built:
            self._build_from_batch(data)
            self._compile_built = True

    def _build_from_batch(self, data) -> None:
        _, ys, _, _ = self._unpack(data, need_targets=False)
        if self._has_graph():  # a subclassed model's losses are resolved at the first step
            self._compile_loss.resolve(ys, [symbol.shape for symbol in self.outputs])

    # --- fit -----------------------------------------------------------------------------------
    @_ends_every_process_on_error
    @_batches_in_parts
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None, sample_weight=None,
            initial_epoch=0, steps_per_epoch=None, validation_steps=None, validation_batch_size=None,
            validation_freq=1):
        """Train for ``epochs`` epochs (from ``initial_epoch``); returns the ``History``.

        Args:
            x: arrays ``(N, ...)``; a list of them or a dict keyed by Input
                names for several inputs; a generator/iterator of batches
                ``(x, y)`` / ``(x, y, sample_weight)``; or a PyDataset.
            y: targets ``(N, ...)``; a list or a dict keyed by output names for
                several outputs. Not with a generator or PyDataset.
            batch_size: samples per step for arrays (default 32, or
                ceil(N / steps_per_epoch) when that is given).
            shuffle: True (a new sample order each pass), False, or "batch"
                (shuffle inside each batch); a PyDataset shuffles its batch
                order; ignored for generators.
            class_weight: ``{class index: weight}``, a sample weight from the
                targets (single output; training data only); a list is
                refused, as Keras 3 requires a dict.
            sample_weight: ``(N,)`` (or per output, or ``(N, T)`` temporal);
                weighs the loss and the ``weighted_metrics``. Weights (and
                class weights) must be finite and non-negative.
            steps_per_epoch: steps per epoch; one pass over the data continues
                across epochs (see :mod:`clearconv.data.adapters`).
            validation_data: ``(x, y)``, ``(x, y, sample_weight)``, a
                generator or a PyDataset; overrides ``validation_split``.
            validation_split: the last fraction of the arrays, held out.
            validation_steps, validation_batch_size: as ``steps`` and
                ``batch_size`` of the validation's evaluate.
            validation_freq: validate every n-th epoch (int) or after the
                listed 1-based epochs (list).

        Data with 0 samples (``x``, ``validation_data``, or one batch that a
        generator or PyDataset yields) raises ValueError naming it, before
        any step for arrays; so do ``evaluate``, ``predict`` and the
        ``*_on_batch`` methods. A step whose loss or some weight's gradient is
        not finite is not applied: fit prints which, at which epoch and batch,
        and stops with the weights and the optimizer's state of the previous
        batch (see :meth:`train_step`).
        """
        self._assert_compiled("fit")
        owner = f"{self.name}: fit"
        verbose = _check_verbose(owner, verbose)
        batch_size = _check_optional_count(owner, "batch_size", batch_size)
        steps_per_epoch = _check_optional_count(owner, "steps_per_epoch", steps_per_epoch)
        validation_steps = _check_optional_count(owner, "validation_steps", validation_steps)
        validation_batch_size = _check_optional_count(owner, "validation_batch_size", validation_batch_size)
        if not _is_count(epochs, 0):
            raise ValueError(f"{owner}: `epochs` must be a non-negative integer; received epochs={epochs!r}")
        if not _is_count(initial_epoch, 0):
            raise ValueError(f"{owner}: `initial_epoch` must be a non-negative integer; received "
                             f"initial_epoch={initial_epoch!r}")
        if not (isinstance(shuffle, (bool, np.bool_)) or (isinstance(shuffle, str) and shuffle == "batch")):
            raise ValueError(f"{owner}: `shuffle` must be True, False or 'batch'; received shuffle={shuffle!r}")
        shuffle = shuffle if isinstance(shuffle, str) else bool(shuffle)
        self._check_validation_freq(owner, validation_freq)
        if validation_split and validation_data is None:
            (x, y, sample_weight), validation_data = adapters.train_validation_split(
                (x, y, sample_weight), validation_split)
        if validation_data is not None:
            if isinstance(validation_data, (tuple, list)) and len(validation_data) not in (2, 3):
                raise ValueError(f"{owner}: `validation_data` must be (x, y) or (x, y, sample_weight); received a "
                                 f"{type(validation_data).__name__} of length {len(validation_data)}")
            if not isinstance(validation_data, (tuple, list)) and (
                    isinstance(validation_data, (np.ndarray, str, bytes, dict))
                    or not (hasattr(validation_data, "__iter__") or hasattr(validation_data, "__getitem__"))):
                raise TypeError(f"{owner}: `validation_data` must be (x, y), (x, y, sample_weight), a generator "
                                f"or a PyDataset; received validation_data of type {type(validation_data).__name__}")
            val_x, val_y, val_sample_weight = utils.unpack_x_y_sample_weight(validation_data)
            if adapters.can_convert_arrays((val_x, val_y, val_sample_weight)):
                # Refused now rather than after the first epoch (the iterator is made when first needed).
                adapters.check_data_cardinality(adapters.to_numpy((val_x, val_y, val_sample_weight)),
                                                "validation_data")
                adapters.check_sample_weight(val_sample_weight)

        epoch_iterator = adapters.EpochIterator(x, y, sample_weight=sample_weight, batch_size=batch_size,
                                                steps_per_epoch=steps_per_epoch, shuffle=shuffle,
                                                class_weight=class_weight,
                                                steps_per_execution=self.steps_per_execution)
        self._build_from(epoch_iterator)
        epoch_iterator.reset()
        parallel = distribution_module.active()
        if parallel is not None:
            _check_distributable_losses(owner, self._compile_loss)
            # Every process starts from rank 0's weights, optimizer state and sample order.
            parallel.synchronise(self)
            verbose = verbose if parallel.is_main else 0
        if not isinstance(callbacks, callbacks_module.CallbackList):
            callbacks = callbacks_module.CallbackList(callbacks, add_history=True, add_progbar=verbose != 0,
                                                      verbose=verbose, epochs=epochs,
                                                      steps=epoch_iterator.num_batches, model=self)
        self.stop_training = False
        eval_iterator = None
        logs = {}  # the last step's logs
        training_logs = {}
        callbacks.on_train_begin()
        initial_epoch = self._initial_epoch or initial_epoch
        with _Interrupt() as interrupt:
            stop_all = False  # under DataParallel: some process asked to stop (the same on every process)

            def interrupted() -> bool:
                # One process reads its own Ctrl-C flag; several act on the decision reduced after each step,
                # never on their flag, which a signal may set between two processes' checks.
                return interrupt.requested if parallel is None else stop_all

            for epoch in range(initial_epoch, epochs):
                # refused: a step of this epoch was refused; refused_logs: the logs after the last step the
                # epoch applied (None when it applied none).
                logs_of_epoch, refused, refused_logs = False, False, None
                self.reset_metrics()
                callbacks.on_epoch_begin(epoch)
                with epoch_iterator.catch_stop_iteration():
                    for begin_step, end_step, iterator in epoch_iterator:
                        callbacks.on_train_batch_begin(begin_step)
                        results = self._run_execution(iterator, self._train_function,
                                                      stop=lambda result: isinstance(result, _RefusedUpdate))
                        step_logs = results[-1]
                        if isinstance(step_logs, _RefusedUpdate):  # no update was applied, nothing changed
                            if distribution_module.is_main():
                                print(f"{self.name}: {step_logs.reason} at epoch {epoch + 1}, batch "
                                      f"{begin_step + len(results)}; training stopped before that update, so "
                                      f"the weights are those of the previous batch")
                            self.stop_training = refused = True
                            accepted = results[:-1] or ([logs] if logs_of_epoch else [])
                            refused_logs = _sorted_floats(accepted[-1]) if accepted else None
                            callbacks.on_train_batch_end(end_step, {"loss": step_logs.loss})
                            break
                        logs = step_logs
                        if parallel is not None:
                            logs = self._global_step_logs(logs)
                        logs_of_epoch = True
                        callbacks.on_train_batch_end(end_step, _sorted_floats(logs))
                        if parallel is not None:  # after the callbacks, which may set stop_training
                            stop_all = self._agree_to_stop(parallel, interrupt.requested)
                        if self.stop_training or interrupted():
                            break
                if refused and refused_logs is None:
                    # The epoch's first step was refused: it trained nothing, so it has no end (and the
                    # History no entry without values); on_train_end gets the previous epoch's logs.
                    break
                if refused:
                    # The per-output loss trackers saw the refused batch: the logs after the last step
                    # applied are the epoch's.
                    epoch_logs = refused_logs
                else:
                    epoch_logs = self._metrics_result_or_logs(logs) if logs else {}
                if validation_data is not None and not interrupted() \
                        and self._should_eval(epoch, validation_freq):
                    if eval_iterator is None:
                        eval_iterator = adapters.EpochIterator(
                            val_x, val_y, sample_weight=val_sample_weight,
                            batch_size=validation_batch_size or batch_size, steps_per_epoch=validation_steps,
                            shuffle=False, steps_per_execution=self.steps_per_execution,
                            argument="validation_data")
                    val_logs = self._evaluate_iterator(eval_iterator, callbacks)
                    epoch_logs.update({f"val_{name}": value for name, value in val_logs.items()})
                epoch_logs = _sorted_floats(epoch_logs)
                callbacks.on_epoch_end(epoch, epoch_logs)
                training_logs = epoch_logs
                if parallel is not None:  # on_epoch_end (EarlyStopping...) may have set stop_training
                    stop_all = self._agree_to_stop(parallel, interrupt.requested)
                if interrupted() and distribution_module.is_main():
                    warnings.warn(f"{self.name}: training interrupted during epoch {epoch + 1}; "
                                  f"the weights trained so far are kept", stacklevel=2)
                if self.stop_training or interrupted():
                    break
        callbacks.on_train_end(training_logs)
        return self.history

    @staticmethod
    def _check_validation_freq(owner: str, validation_freq) -> None:
        if _is_count(validation_freq):
            return
        if isinstance(validation_freq, (list, tuple)) and all(_is_count(e) for e in validation_freq):
            return
        raise ValueError(f"{owner}: `validation_freq` must be a positive integer (validate every n epochs) or a "
                         f"list of 1-based epoch numbers; received validation_freq={validation_freq!r}")

    @staticmethod
    def _should_eval(epoch: int, validation_freq) -> bool:
        if isinstance(validation_freq, (list, tuple)):
            return epoch + 1 in validation_freq
        return (epoch + 1) % validation_freq == 0

    def _run_execution(self, iterator, step_function, stop=None) -> list:
        """The results of up to ``steps_per_execution`` steps (Keras runs them as one call).

        The first draw may raise StopIteration (the data ran out: no step);
        a later one ends the execution early. ``stop(result)`` true ends it at once.
        """
        results = [self._run_step(step_function, next(iterator))]
        while len(results) < self.steps_per_execution and not (stop and stop(results[-1])):
            try:
                data = next(iterator)
            except StopIteration:
                break
            results.append(self._run_step(step_function, data))
        return results

    @staticmethod
    def _run_step(step_function, data):
        """One step on a global batch: under an active DataParallel on this process's shard of it."""
        parallel = distribution_module.active()
        if parallel is None:
            return step_function(_step_data(data))
        data, n_local, n_global = parallel.shard(data)
        parallel.begin_step(n_local, n_global)
        with loss_module.count_reduction(parallel.sum_arrays):  # ignore_class: the global valid count
            return step_function(_step_data(data))

    # --- evaluate ------------------------------------------------------------------------------
    @_ends_every_process_on_error
    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict=False, **kwargs):
        """Loss and metrics over the data in inference mode, batch by batch.

        ``x``/``y``/``sample_weight`` as in :meth:`fit`; ``steps`` batches at
        most (default: the whole data). Returns the loss alone when there is
        nothing else, else a list in Keras's order, or a dict by name with
        ``return_dict=True``.

        Under an active :class:`~clearconv.distribution.DataParallel` each
        process evaluates its shard of every batch and the metrics' states
        are summed over the processes: every process returns the values of
        the whole data.
        """
        if kwargs:
            raise ValueError(f"{self.name}: evaluate got unknown arguments {sorted(kwargs)}; accepted: x, y, "
                             f"batch_size, verbose, sample_weight, steps, callbacks, return_dict")
        self._assert_compiled("evaluate")
        owner = f"{self.name}: evaluate"
        verbose = _check_verbose(owner, verbose)
        if not distribution_module.is_main():
            verbose = 0  # only rank 0 prints
        batch_size = _check_optional_count(owner, "batch_size", batch_size)
        steps = _check_optional_count(owner, "steps", steps)
        epoch_iterator = adapters.EpochIterator(x, y, sample_weight=sample_weight, batch_size=batch_size,
                                                steps_per_epoch=steps, shuffle=False,
                                                steps_per_execution=self.steps_per_execution)
        if not isinstance(callbacks, callbacks_module.CallbackList):
            callbacks = callbacks_module.CallbackList(callbacks, add_progbar=verbose != 0, verbose=verbose,
                                                      epochs=1, steps=epoch_iterator.num_batches, model=self)
        logs = self._evaluate_iterator(epoch_iterator, callbacks)
        return logs if return_dict else self._flatten_metrics_in_order(logs)

    def _evaluate_iterator(self, epoch_iterator, callbacks) -> dict:
        """One evaluation pass from a new pass of the data, with ``callbacks`` (fit's own list when
        validating); returns the sorted logs."""
        self._build_from(epoch_iterator)
        epoch_iterator.reset()
        self.stop_evaluating = False
        parallel = distribution_module.active()
        callbacks.on_test_begin()
        self.reset_metrics()
        logs = {}
        with epoch_iterator.catch_stop_iteration():
            for begin_step, end_step, iterator in epoch_iterator:
                callbacks.on_test_batch_begin(begin_step)
                logs = self._step_logs(self._run_execution(iterator, self.test_step)[-1], "test_step")
                logs = self._global_step_logs(logs)
                callbacks.on_test_batch_end(end_step, _sorted_floats(logs))
                if parallel is not None:
                    self.stop_evaluating = _any_process(parallel, self.stop_evaluating)[0]
                if self.stop_evaluating:
                    break
        logs = self._metrics_result_or_logs(logs) if logs else {}
        callbacks.on_test_end(logs)
        return logs

    # --- predict -------------------------------------------------------------------------------
    @_ends_every_process_on_error
    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None, every_rank=False):
        """Outputs for every sample, in inference mode, batch by batch without recording gradients.

        ``x``: arrays as in :meth:`fit`, or a generator / PyDataset yielding
        ``x``, ``(x,)`` or ``(x, y)`` batches (y is not used). ``steps``:
        batches at most. Returns an array ``(N, ...)``, or a list of them for
        a multi-output model.

        Under an active :class:`~clearconv.distribution.DataParallel` each
        process predicts its shard of every batch and the rows are gathered
        (MPI Gatherv) in the order of the samples: rank 0 returns the whole
        ``(N, ...)`` result and the other processes None, or every process
        the whole result with ``every_rank=True`` (an Allgatherv).
        ``every_rank`` changes nothing on one process. The batch callbacks
        receive the gathered outputs where they are gathered, the shard's
        elsewhere.
        """
        owner = f"{self.name}: predict"
        verbose = _check_verbose(owner, verbose)
        every_rank = utils.check_flag(owner, "every_rank", every_rank)
        parallel = distribution_module.active()
        if not distribution_module.is_main():
            verbose = 0  # only rank 0 prints
        batch_size = _check_optional_count(owner, "batch_size", batch_size)
        steps = _check_optional_count(owner, "steps", steps)
        epoch_iterator = adapters.EpochIterator(x, batch_size=batch_size, steps_per_epoch=steps, shuffle=False,
                                                steps_per_execution=self.steps_per_execution)
        if not isinstance(callbacks, callbacks_module.CallbackList):
            callbacks = callbacks_module.CallbackList(callbacks, add_progbar=verbose != 0, verbose=verbose,
                                                      epochs=1, steps=epoch_iterator.num_batches, model=self)
        self.stop_predicting = False
        callbacks.on_predict_begin()
        chunks = []  # one list of per-output arrays per batch
        structure = None  # of what predict_step returns (the model's outputs by default)
        with epoch_iterator.catch_stop_iteration():
            for begin_step, end_step, iterator in epoch_iterator:
                callbacks.on_predict_batch_begin(begin_step)
                execution = self._run_execution(iterator, self.predict_step)
                structure = execution[0]
                flat = list(map(_flat_arrays, execution))
                if parallel is not None:  # one gather per step keeps the rows in the samples' order
                    gathered = [parallel.gather(arrays, every_rank=every_rank) for arrays in flat]
                    flat = gathered if gathered[0] is not None else flat
                outputs = [np.concatenate(parts) for parts in zip(*flat)]
                chunks.append(outputs)
                batch_outputs = self._pack_outputs(outputs, structure)
                callbacks.on_predict_batch_end(end_step, {"outputs": batch_outputs})
                if parallel is not None:
                    self.stop_predicting = _any_process(parallel, self.stop_predicting)[0]
                if self.stop_predicting:
                    break
        callbacks.on_predict_end()
        if not chunks:
            raise ValueError(f"{owner}: the data yielded no batch")
        if parallel is not None and not (every_rank or parallel.is_main):
            return None  # this process's chunks are its shards only
        outputs = [np.concatenate(parts) for parts in zip(*chunks)]
        return self._pack_outputs(outputs, structure)

    # --- single batches ------------------------------------------------------------------------
    @_ends_every_process_on_error
    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        """One optimizer step on one batch; its loss (and metrics) as a scalar, a list or a dict.

        A loss or a gradient that is not finite raises FloatingPointError
        naming it; the update is not applied and the weights and the
        optimizer's state stay as they were (see :meth:`train_step`). A batch
        of 0 samples raises ValueError.

        Under an active :class:`~clearconv.distribution.DataParallel`, ``x``
        is the global batch (the same on every process): each process trains
        on its shard, as in :meth:`fit`; the first call after ``compile``
        broadcasts rank 0's weights and optimizer state. The logs are the
        global batch's on every process.
        """
        self._assert_compiled("train_on_batch")
        x, y, sample_weight = self._checked_batch("train_on_batch", x, y, sample_weight)
        if class_weight is not None:
            if sample_weight is not None:
                raise ValueError(f"{self.name}: train_on_batch: `class_weight` and `sample_weight` cannot be "
                                 f"given together: give one of them")
            self._finish_compile(self._batch_inputs(x)[0])
            targets = [t for t in self._batch_targets(y) if t is not None]
            if len(targets) != 1:
                raise ValueError(f"{self.name}: `class_weight` is only supported for models with a single output")
            sample_weight = adapters.class_weight_to_sample_weights(targets[0], class_weight)
        self.reset_metrics()
        data = utils.pack_x_y_sample_weight(x, y, sample_weight)
        self._build_once_from(data)
        parallel = distribution_module.active()
        if parallel is not None and getattr(self, "_synchronised_by", None) is not parallel:
            _check_distributable_losses(f"{self.name}: train_on_batch", self._compile_loss)
            parallel.synchronise(self)
            self._synchronised_by = parallel
        logs = self._run_step(self._train_function, data)
        if isinstance(logs, _RefusedUpdate):
            raise FloatingPointError(f"{self.name}: train_on_batch: {logs.reason}; the update was not applied, "
                                     f"so the weights are those before this batch")
        logs = _sorted_floats(self._global_step_logs(logs))
        return logs if return_dict else self._flatten_metrics_in_order(logs)

    def _checked_batch(self, method: str, x, y=None, sample_weight=None):
        """``x``, ``y`` and ``sample_weight`` of a ``*_on_batch`` call as NumPy structures, after refusing an
        ``x`` of 0 samples and weights that are negative or not finite (as fit does for its data)."""
        x, y, sample_weight = adapters.to_numpy((x, y, sample_weight))
        try:
            adapters.check_has_samples(x)
            adapters.check_sample_weight(sample_weight)
        except ValueError as error:
            raise ValueError(f"{self.name}: {method}: {error}") from None
        return x, y, sample_weight

    @_ends_every_process_on_error
    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        """Loss (and metrics) of one batch in inference mode, as a scalar, a list or a dict (under an active
        DataParallel: each process evaluates its shard, every process returns the whole batch's values)."""
        self._assert_compiled("test_on_batch")
        x, y, sample_weight = self._checked_batch("test_on_batch", x, y, sample_weight)
        self.reset_metrics()
        data = utils.pack_x_y_sample_weight(x, y, sample_weight)
        self._build_once_from(data)
        logs = self._step_logs(self._run_step(self.test_step, data), "test_step")
        logs = _sorted_floats(self._global_step_logs(logs))
        return logs if return_dict else self._flatten_metrics_in_order(logs)

    def predict_on_batch(self, x):
        """The outputs for one batch as NumPy arrays (a list for a multi-output model); every process computes
        the whole batch, even under DataParallel (no communication)."""
        x, _, _ = self._checked_batch("predict_on_batch", x)
        outputs = self.predict_step(_step_data((x,)))
        return self._pack_outputs(_flat_arrays(outputs), outputs)

    # --- saving --------------------------------------------------------------------------------
    def save(self, filepath, overwrite: bool = True, include_optimizer: bool = True) -> None:
        """Save the model to one file, in the format of its extension: ``.keras`` (Keras 3), ``.onnx``, or
        clearconv's own (architecture, weights, optimizer and random state); see :mod:`clearconv.io.formats`.

        Under a :class:`~clearconv.distribution.DataParallel` of several processes only rank 0 writes (the
        weights are the same on every process); the others check the file name and the folder as rank 0's
        write would, so a bad destination raises on every process, and return without waiting for the file."""
        if not distribution_module.is_main():
            _check_destination("save", filepath, "model")
            return
        from ..io import save_model
        save_model(self, filepath, overwrite=overwrite, include_optimizer=include_optimizer)

    def export(self, filepath, format: str = "tf_saved_model", verbose=None, input_signature=None, **kwargs):
        """Keras's ``model.export``: ``format="onnx"`` writes an ONNX file for inference runtimes
        (:func:`clearconv.io.onnx.export_onnx`; ``opset=`` may be given); TensorFlow's and OpenVINO's formats
        are not written. ``input_signature`` is refused: the model's own input shapes are exported, with a
        dynamic batch axis."""
        if format != "onnx":
            raise ValueError(f"export: format={format!r} is not written by clearconv; accepted: 'onnx' "
                             f"(TensorFlow SavedModel and OpenVINO need their own libraries)")
        if input_signature is not None:
            raise ValueError("export: input_signature is not supported; the model's input shapes are exported, "
                             "with a dynamic batch axis")
        unknown = set(kwargs) - {"opset"}
        if unknown:
            raise TypeError(f"export: unexpected keyword argument(s) {sorted(unknown)}; accepted for ONNX: opset")
        from ..io.onnx import export_onnx
        if not distribution_module.is_main():  # one writer under DataParallel; the path it would write
            _check_destination("export", filepath)
            return str(filepath)
        path = export_onnx(self, filepath, opset=kwargs.get("opset"))
        if verbose:
            print(f"Saved artifact at '{path}'.")
        return path

    def save_weights(self, filepath, overwrite: bool = True) -> None:
        """Save the weights: ``.weights.h5`` in Keras 3's layout, any other name in clearconv's own format.

        Under a :class:`~clearconv.distribution.DataParallel` of several processes only rank 0 writes; the
        others check the file name and the folder as its write would, then return. Every process may then load the file: fit broadcasts rank 0's weights."""
        if not distribution_module.is_main():
            _check_destination("save_weights", filepath, "weights")
            return
        from ..io import save_weights
        save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath) -> None:
        """Load weights saved by clearconv or Keras, or a PyTorch state_dict or safetensors file (converting
        PyTorch's layouts); every array is checked before any weight changes."""
        from ..io import load_weights
        load_weights(self, filepath)
