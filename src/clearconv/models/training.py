"""compile / fit / evaluate / predict, with Keras's arguments and logs.

One training step: forward with ``training=True`` on a batch, loss plus the
layers' regularisation losses, ``backward()``, one optimizer step on the
trainable weights. Nothing is lost on the way out:

* a non-finite loss stops training *before* its update is applied, with a
  message naming the epoch and batch;
* Ctrl-C (SIGINT) during ``fit`` finishes the current batch, then returns
  the History so far with the weights trained up to that batch.
"""

from __future__ import annotations

import signal
import threading
import warnings

import numpy as np

from .. import callbacks as callbacks_module
from .. import losses as losses_module
from .. import metrics as metrics_module
from .. import optimizers as optimizers_module
from .. import utils
from ..autograd import Tensor, no_grad
from ..data.batches import batch_indices, validation_split_index


def _as_list(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _take(arrays: list, index) -> list:
    return [a[index] for a in arrays]


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


class Trainer:
    """Mixed into :class:`~clearconv.models.Model`."""

    def __init__(self):
        self.optimizer = None
        self.compiled = False
        self.stop_training = False
        self.history = None

    # --- compile -------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None, **kwargs) -> None:
        """Set the optimizer, loss(es) and metrics, as Keras's ``compile``.

        ``loss`` and ``metrics`` may be per-output lists for multi-output models.
        Keras arguments without a meaning here (run_eagerly, jit_compile,
        steps_per_execution, ...) are accepted and ignored.
        """
        outputs = len(self.outputs)
        self.optimizer = optimizers_module.get(optimizer)
        loss_list = _as_list(loss) if isinstance(loss, (list, tuple)) else [loss] * outputs
        if len(loss_list) != outputs:
            raise ValueError(f"{self.name}: compile got {len(loss_list)} losses for {outputs} outputs")
        if any(l is None for l in loss_list):
            raise ValueError(f"{self.name}: compile needs a `loss` (e.g. 'sparse_categorical_crossentropy')")
        self._loss_identifiers = loss_list
        self._losses = [losses_module.get(l) for l in loss_list]
        self._loss_weights = list(loss_weights) if loss_weights is not None else [1.0] * outputs
        per_output = metrics if (metrics and outputs > 1 and isinstance(metrics[0], (list, tuple))) \
            else [metrics or []] * outputs
        self._metrics = [[metrics_module.get(m, loss=loss_id) for m in output_metrics]
                         for output_metrics, loss_id in zip(per_output, loss_list)]
        self._compile_config = {"optimizer": optimizers_module.serialize(self.optimizer),
                                "loss": [losses_module.serialize(l) for l in self._losses],
                                "metrics": metrics, "loss_weights": self._loss_weights}
        self.compiled = True

    def _require_compiled(self, what: str) -> None:
        if not self.compiled:
            raise RuntimeError(f"{self.name}: call compile(optimizer, loss, metrics) before {what}()")

    # --- data checks -----------------------------------------------------------
    def _standardize(self, x, y=None, sample_weight=None):
        xs = [np.asarray(a) for a in _as_list(x)]
        if len(xs) != len(self.inputs):
            raise ValueError(f"{self.name}: expects {len(self.inputs)} input array(s); received {len(xs)}")
        for symbol, array in zip(self.inputs, xs):
            expected = symbol.shape
            if array.ndim != len(expected) or any(e is not None and e != s
                                                  for e, s in zip(expected[1:], array.shape[1:])):
                raise ValueError(f"{self.name}: input '{symbol.layer.name}' expects arrays of shape "
                                 f"{expected}; received {array.shape}")
        count = len(xs[0])
        ys = None
        if y is not None:
            ys = [np.asarray(a) for a in _as_list(y)]
            if len(ys) != len(self.outputs):
                raise ValueError(f"{self.name}: expects {len(self.outputs)} target array(s); received {len(ys)}")
        for name, arrays in (("x", xs), ("y", ys or [])):
            for array in arrays:
                if len(array) != count:
                    raise ValueError(f"{self.name}: x and y must have the same number of samples; received "
                                     f"x with {count} and {name} with {len(array)}")
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight, dtype=np.float32)
            if sample_weight.shape != (count,):
                raise ValueError(f"{self.name}: sample_weight must have shape ({count},); "
                                 f"received {sample_weight.shape}")
        return xs, ys, sample_weight

    @staticmethod
    def _class_weights(ys, class_weight):
        """Per-sample weights from a {class: weight} dict (integer or one-hot labels)."""
        labels = ys[0]
        labels = labels.argmax(axis=-1) if labels.ndim > 1 and labels.shape[-1] > 1 else labels.reshape(-1)
        return np.array([class_weight.get(int(label), 1.0) for label in labels], dtype=np.float32)

    # --- one step --------------------------------------------------------------
    def _forward_loss(self, xs, ys, sample_weight, training: bool):
        inputs = [Tensor(a) for a in xs]
        outputs = _as_list(self(inputs if len(inputs) > 1 else inputs[0], training=training))
        total = 0.0
        for output, target, loss_fn, weight in zip(outputs, ys, self._losses, self._loss_weights):
            total = total + weight * loss_fn(target, output, sample_weight)
        for penalty in self.losses:
            total = total + penalty
        return total, [o.data for o in outputs]

    def _update_metrics(self, ys, predictions, sample_weight) -> None:
        for target, prediction, output_metrics in zip(ys, predictions, self._metrics):
            for metric in output_metrics:
                metric.update_state(target, prediction, sample_weight)

    def _logs(self, loss_mean) -> dict:
        logs = {"loss": loss_mean.result()}
        prefix = len(self.outputs) > 1
        for output, output_metrics in zip(self.outputs, self._metrics):
            for metric in output_metrics:
                key = f"{output.layer.name}_{metric.name}" if prefix else metric.name
                logs[key] = float(metric.result())
        return logs

    def _reset_metrics(self):
        loss_mean = metrics_module.Mean(name="loss")
        for output_metrics in self._metrics:
            for metric in output_metrics:
                metric.reset_state()
        return loss_mean

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        """One optimizer step on one batch; returns the loss (and metrics) of that batch."""
        self._require_compiled("train_on_batch")
        xs, ys, sample_weight = self._standardize(x, y, sample_weight)
        if class_weight is not None:
            sample_weight = self._class_weights(ys, class_weight)
        loss_mean = self._reset_metrics()
        loss = self._train_step(xs, ys, sample_weight, loss_mean)
        if not np.isfinite(loss):
            raise FloatingPointError(f"{self.name}: the loss is {loss}; the update was not applied")
        return self._result(self._logs(loss_mean), return_dict)

    def _train_step(self, xs, ys, sample_weight, loss_mean) -> float:
        """Forward, backward and update; returns the batch loss (no update when it is not finite)."""
        total, predictions = self._forward_loss(xs, ys, sample_weight, training=True)
        loss = float(total.data)
        if not np.isfinite(loss):
            return loss
        variables = self.trainable_weights
        for variable in variables:
            variable.grad = None
        total.backward()
        self.optimizer.step(variables)
        loss_mean.update_state(loss, sample_weight=len(xs[0]))
        self._update_metrics(ys, predictions, sample_weight)
        return loss

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        self._require_compiled("test_on_batch")
        xs, ys, sample_weight = self._standardize(x, y, sample_weight)
        loss_mean = self._reset_metrics()
        self._test_step(xs, ys, sample_weight, loss_mean)
        return self._result(self._logs(loss_mean), return_dict)

    def _test_step(self, xs, ys, sample_weight, loss_mean) -> None:
        with no_grad():
            total, predictions = self._forward_loss(xs, ys, sample_weight, training=False)
        loss_mean.update_state(float(total.data), sample_weight=len(xs[0]))
        self._update_metrics(ys, predictions, sample_weight)

    def predict_on_batch(self, x):
        xs, _, _ = self._standardize(x)
        return self(xs if len(xs) > 1 else xs[0])

    @staticmethod
    def _result(logs: dict, return_dict: bool):
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    # --- fit / evaluate / predict ---------------------------------------------
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None, sample_weight=None,
            initial_epoch=0, steps_per_epoch=None, validation_batch_size=None, validation_freq=1):
        """Train for ``epochs`` epochs; returns a ``History`` (``history.history[name]`` per epoch)."""
        self._require_compiled("fit")
        batch_size = self._check_batch_size(batch_size)
        xs, ys, sample_weight = self._standardize(x, y, sample_weight)
        if ys is None:
            raise ValueError(f"{self.name}: fit needs targets `y`")
        if class_weight is not None:
            sample_weight = self._class_weights(ys, class_weight)
        if validation_data is None and validation_split:
            if not 0.0 < validation_split < 1.0:
                raise ValueError(f"{self.name}: validation_split must be in (0, 1); received {validation_split}")
            # Keras's rule: the last fraction of the arrays, taken before any shuffling.
            split = validation_split_index(len(xs[0]), validation_split, f"{self.name}: fit")
            validation_data = ([a[split:] for a in xs], [a[split:] for a in ys])
            xs, ys = [a[:split] for a in xs], [a[:split] for a in ys]
            sample_weight = None if sample_weight is None else sample_weight[:split]
        count = len(xs[0])
        steps = -(-count // batch_size)
        verbose = 1 if verbose == "auto" else int(verbose)
        callback_list = callbacks_module.CallbackList(callbacks, model=self, add_history=True,
                                                      add_progbar=verbose != 0, verbose=verbose,
                                                      epochs=epochs, steps=steps)
        self.stop_training = False
        callback_list.on_train_begin()
        with _Interrupt() as interrupt:
            for epoch in range(initial_epoch, epochs):
                callback_list.on_epoch_begin(epoch)
                logs = self._fit_epoch(epoch, xs, ys, sample_weight, batch_size, shuffle, callback_list, interrupt)
                if validation_data is not None and (epoch + 1) % validation_freq == 0 and not interrupt.requested:
                    val_x, val_y = validation_data[0], validation_data[1]
                    val_logs = self.evaluate(val_x, val_y, batch_size=validation_batch_size or batch_size,
                                             verbose=0, return_dict=True)
                    logs.update({f"val_{k}": v for k, v in val_logs.items()})
                callback_list.on_epoch_end(epoch, logs)
                if interrupt.requested:
                    warnings.warn(f"{self.name}: training interrupted during epoch {epoch + 1}; "
                                  f"the weights trained so far are kept", stacklevel=2)
                if self.stop_training or interrupt.requested:
                    break
        callback_list.on_train_end()
        self.history = callback_list.history
        return self.history

    def _fit_epoch(self, epoch, xs, ys, sample_weight, batch_size, shuffle, callback_list, interrupt) -> dict:
        loss_mean = self._reset_metrics()
        rng = utils.global_rng()
        logs = {}
        for step, index in enumerate(batch_indices(len(xs[0]), batch_size, shuffle, rng)):
            callback_list.on_train_batch_begin(step)
            weights = None if sample_weight is None else sample_weight[index]
            loss = self._train_step(_take(xs, index), _take(ys, index), weights, loss_mean)
            if not np.isfinite(loss):
                print(f"{self.name}: the loss became {loss} at epoch {epoch + 1}, batch {step + 1}; "
                      f"training stopped before that update, so the weights are those of the previous batch")
                self.stop_training = True
                callback_list.on_train_batch_end(step, {"loss": loss})
                return logs
            logs = self._logs(loss_mean)
            callback_list.on_train_batch_end(step, logs)
            if self.stop_training or interrupt.requested:
                break
        return logs

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict=False):
        """Loss and metrics over the whole data, computed batch by batch in inference mode."""
        self._require_compiled("evaluate")
        batch_size = self._check_batch_size(batch_size)
        xs, ys, sample_weight = self._standardize(x, y, sample_weight)
        if ys is None:
            raise ValueError(f"{self.name}: evaluate needs targets `y`")
        loss_mean = self._reset_metrics()
        for index in batch_indices(len(xs[0]), batch_size, False, None):
            weights = None if sample_weight is None else sample_weight[index]
            self._test_step(_take(xs, index), _take(ys, index), weights, loss_mean)
        return self._result(self._logs(loss_mean), return_dict)

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """Outputs for every sample, computed in batches without recording gradients."""
        batch_size = self._check_batch_size(batch_size)
        xs, _, _ = self._standardize(x)
        chunks = []
        for index in batch_indices(len(xs[0]), batch_size, False, None):
            batch = _take(xs, index)
            chunks.append(_as_list(self(batch if len(batch) > 1 else batch[0])))
        if not chunks:
            raise ValueError(f"{self.name}: predict got no samples")
        outputs = [np.concatenate(parts) for parts in zip(*chunks)]
        return outputs[0] if len(outputs) == 1 else outputs

    def _check_batch_size(self, batch_size) -> int:
        if batch_size is None:
            return 32
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
            raise ValueError(f"{self.name}: batch_size must be a positive integer; received {batch_size!r}")
        return int(batch_size)

    # --- saving ----------------------------------------------------------------
    def save(self, filepath, overwrite: bool = True, include_optimizer: bool = True) -> None:
        """Save architecture, weights and optimizer state to one file (see :mod:`clearconv.io.native`)."""
        from ..io.native import save_model
        save_model(self, filepath, overwrite=overwrite, include_optimizer=include_optimizer)

    def save_weights(self, filepath, overwrite: bool = True) -> None:
        from ..io.native import save_weights
        save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath) -> None:
        from ..io.native import load_weights
        load_weights(self, filepath)
