"""Training runs that tests/distribution/test_mpi.py launches under ``mpirun -n P`` and repeats in one process.

    mpirun -n 3 python mpi_cases.py OUT_DIR CASE [CASE ...]

Each case builds its model and data from fixed seeds, trains under
``DataParallel()`` (with P processes) or without a distribution (the
single-process oracle, called from the test), and writes what it observed to
``OUT_DIR/<case>_rank<r>.npz``: the weights (``w0``, ``w1``...), the History
(``h_<name>``) and case-specific values. A case never reads another process's
file; the test compares them.
"""

from __future__ import annotations

import os
import signal
import sys

import numpy as np

import clearconv as keras
from clearconv import distribution, zoo

SAMPLES = 23  # batches of 10: 10, 10, 3 (the last is partial; 3 over 3 processes is 1, 1, 1)
BATCH = 10


def data(dtype, samples=SAMPLES, seed=7, classes=3):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(samples, 10, 10, 1)).astype(dtype)
    y = rng.integers(0, classes, size=samples)
    return x, y


def lenet(dtype):
    """A LeNet-5-like model, small enough for a few milliseconds per step."""
    keras.utils.set_random_seed(11)
    return keras.Sequential([
        keras.Input((10, 10, 1), dtype=dtype),
        keras.layers.Conv2D(4, 3, activation="relu", dtype=dtype),
        keras.layers.MaxPooling2D(2, dtype=dtype),
        keras.layers.Conv2D(6, 2, activation="relu", dtype=dtype),
        keras.layers.Flatten(dtype=dtype),
        keras.layers.Dense(8, activation="relu", kernel_regularizer="l2", dtype=dtype),
        keras.layers.Dense(3, activation="softmax", dtype=dtype),
    ])


def batchnorm(dtype):
    keras.utils.set_random_seed(12)
    return keras.Sequential([
        keras.Input((10, 10, 1), dtype=dtype),
        keras.layers.Conv2D(5, 3, use_bias=False, dtype=dtype),  # a bias before BN has no gradient but noise
        keras.layers.BatchNormalization(momentum=0.8, dtype=dtype),
        keras.layers.Activation("relu", dtype=dtype),
        keras.layers.GlobalAveragePooling2D(dtype=dtype),
        keras.layers.Dense(6, use_bias=False, dtype=dtype),
        keras.layers.BatchNormalization(dtype=dtype),
        keras.layers.Dense(3, activation="softmax", dtype=dtype),
    ])


def record(model, history=None, **extra) -> dict:
    values = {f"w{i}": np.array(w) for i, w in enumerate(model.get_weights())}
    for name, series in (history.history.items() if history is not None else ()):
        values[f"h_{name}"] = np.array(series, dtype=np.float64)
    values.update(extra)
    return values


def train(build, dtype, *, epochs=2, shuffle=True, weighted=False, optimizer="adam"):
    """Fit with validation data, shuffling, sample weights (``weighted``), then evaluate."""
    keras.config.set_floatx(dtype)
    try:
        model = build(dtype)
        weighted_metrics = ["accuracy", "sparse_categorical_crossentropy"] if weighted else None
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                      weighted_metrics=weighted_metrics)
        x, y = data(dtype)
        x_val, y_val = data(dtype, samples=7, seed=8)
        sample_weight = np.linspace(0.5, 2.0, SAMPLES) if weighted else None
        keras.utils.set_random_seed(5)  # the sample order of every epoch
        history = model.fit(x, y, batch_size=BATCH, epochs=epochs, shuffle=shuffle, verbose=0,
                            sample_weight=sample_weight, validation_data=(x_val, y_val))
        evaluated = np.array(model.evaluate(x_val, y_val, batch_size=4, verbose=0), dtype=np.float64)
        return record(model, history, evaluated=evaluated)
    finally:
        keras.config.set_floatx("float32")


def case_lenet32():
    return train(lenet, "float32")


def case_lenet64():
    return train(lenet, "float64", weighted=True)


def case_bn32():
    return train(batchnorm, "float32")


def case_bn64():
    return train(batchnorm, "float64", weighted=True, optimizer="sgd")


def case_zoo_lenet5():
    """The zoo's LeNet-5 on 28x28 inputs in float64: 23 samples in batches of 10, 2 epochs, Adam."""
    keras.config.set_floatx("float64")
    try:
        keras.utils.set_random_seed(13)
        model = zoo.lenet5()
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        rng = np.random.default_rng(9)
        x, y = rng.random((SAMPLES, 28, 28, 1)), rng.integers(0, 10, size=SAMPLES)
        keras.utils.set_random_seed(5)  # the sample order of every epoch
        history = model.fit(x, y, batch_size=BATCH, epochs=2, verbose=0)
        return record(model, history)
    finally:
        keras.config.set_floatx("float32")


def case_on_batch():
    """train_on_batch on uneven global batches (10 and 7 samples), then test_on_batch."""
    keras.config.set_floatx("float64")
    try:
        model = batchnorm("float64")
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        x, y = data("float64")
        losses = [model.train_on_batch(x[:10], y[:10]), model.train_on_batch(x[10:17], y[10:17])]
        tested = model.test_on_batch(x[17:], y[17:])
        return record(model, train_losses=np.array(losses, dtype=np.float64),
                      tested=np.array(tested, dtype=np.float64))
    finally:
        keras.config.set_floatx("float32")


def case_predict():
    """predict over 11 samples in batches of 4 (4, 4, 3): rank 0 gets every row in order."""
    model = lenet("float32")
    x, _ = data("float32", samples=11)
    gathered = model.predict(x, batch_size=4, verbose=0)
    everywhere = model.predict(x, batch_size=4, verbose=0, every_rank=True)
    return {"is_none": np.array(gathered is None), "gathered": np.zeros(0) if gathered is None else gathered,
            "everywhere": everywhere}


def case_files(out_dir):
    """ModelCheckpoint, CSVLogger (appending, so a second writer would add rows) and model.save: every call
    of the writers is counted on each process."""
    import clearconv.io as io
    calls = {"save_model": 0, "save_weights": 0}

    def counting(name, function):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return function(*args, **kwargs)
        return wrapper
    io.save_model = counting("save_model", io.save_model)
    io.save_weights = counting("save_weights", io.save_weights)
    model = lenet("float32")
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = data("float32")
    callbacks = [keras.callbacks.ModelCheckpoint(os.path.join(out_dir, "ckpt", "epoch{epoch}.keras")),
                 keras.callbacks.ModelCheckpoint(os.path.join(out_dir, "best.weights.h5"), monitor="loss",
                                                 save_weights_only=True, save_best_only=True),
                 keras.callbacks.CSVLogger(os.path.join(out_dir, "log.csv"), append=True)]
    history = model.fit(x, y, batch_size=BATCH, epochs=2, verbose=0, callbacks=callbacks)
    model.save(os.path.join(out_dir, "final.keras"))
    return record(model, history, save_model=np.array(calls["save_model"]),
                  save_weights=np.array(calls["save_weights"]))


def case_checkpoint(out_dir):
    """One epoch, then a checkpoint with the optimizer's state (rank 0 writes it)."""
    model = lenet("float32")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = data("float32")
    keras.utils.set_random_seed(5)
    model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0,
              callbacks=[keras.callbacks.ModelCheckpoint(os.path.join(out_dir, "resume.keras"))])
    return record(model)


def case_resume(out_dir):
    """Load the checkpoint written by case_checkpoint (on any number of processes) and train one more epoch."""
    model = keras.saving.load_model(os.path.join(out_dir, "resume.keras"))
    x, y = data("float32")
    keras.utils.set_random_seed(6)
    history = model.fit(x, y, batch_size=BATCH, epochs=2, initial_epoch=1, verbose=0)
    return record(model, history)


def case_nan():
    """A NaN in one sample of the second batch: the step is refused on every process, whatever shard holds
    it, and training stops with the weights of the first batch."""
    model = lenet("float32")
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    x, y = data("float32")
    x[15, 3, 3, 0] = np.nan  # batch 2 holds samples 10..19 (no shuffling): rank 1's shard on 2 or 3 processes
    history = model.fit(x, y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0)
    return record(model, history, steps=np.array(model.optimizer.iterations))


def case_random():
    """Random layers, seeded and not: each process draws its own masks, while the global generator (the
    sample order) stays the same on every process."""
    keras.utils.set_random_seed(13)
    model = keras.Sequential([keras.Input((10, 10, 1)), keras.layers.RandomFlip(seed=3),
                              keras.layers.Flatten(), keras.layers.Dropout(0.5), keras.layers.Dropout(0.5, seed=4),
                              keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    x, y = data("float32")
    model.fit(x, y, batch_size=BATCH, epochs=2, verbose=0)
    seeded = model.layers[3]
    with distribution.distribution().random_stream() if distribution.world_size() > 1 else _nothing():
        unseeded_draw = keras.utils.global_rng().random(4)
    return record(model, global_draw=keras.utils.global_rng().random(4), unseeded_draw=unseeded_draw,
                  seeded_draw=seeded._rng.random(4), flip_state=model.layers[0].generator.state.data.copy())


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class _InterruptAt(keras.callbacks.Callback):
    """Send this process SIGINT after ``batch`` (0-based) on ``rank``, as a Ctrl-C there would."""

    def __init__(self, batch, rank):
        super().__init__()
        self.batch, self.rank = batch, rank

    def on_train_batch_begin(self, batch, logs=None):
        if batch == self.batch and distribution.rank() == self.rank:
            os.kill(os.getpid(), signal.SIGINT)


def case_interrupt():
    """Ctrl-C on the last rank during the second batch: every process stops after that same step."""
    import warnings
    model = lenet("float32")
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    x, y = data("float32")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "training interrupted": the point of the case
        model.fit(x, y, batch_size=BATCH, epochs=3, shuffle=False, verbose=0,
                  callbacks=[_InterruptAt(1, distribution.world_size() - 1)])
    return record(model, steps=np.array(model.optimizer.iterations))


def case_raise():
    """Rank 1 raises between two steps (the others wait in the next step's collectives)."""
    class Boom(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 1 and distribution.rank() == 1:
                raise RuntimeError("boom on purpose")
    model = lenet("float32")
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    x, y = data("float32")
    model.fit(x, y, batch_size=BATCH, epochs=50, verbose=0, callbacks=[Boom()])
    return {}


def _flat_bn(dtype):
    """Conv, BatchNormalization and Flatten: the layers a shard of 0 samples trips up."""
    keras.utils.set_random_seed(14)
    return keras.Sequential([
        keras.Input((10, 10, 1), dtype=dtype),
        keras.layers.Conv2D(3, 3, use_bias=False, dtype=dtype),
        keras.layers.BatchNormalization(momentum=0.5, dtype=dtype),
        keras.layers.Activation("relu", dtype=dtype),
        keras.layers.MaxPooling2D(2, dtype=dtype),
        keras.layers.Flatten(dtype=dtype),
        keras.layers.Dense(3, activation="softmax", dtype=dtype),
    ])


def _empty_shard(samples):
    """Batches of 10 over ``samples``: the last one has fewer samples than there are processes, so a
    process's shard is empty (11 on 2 processes: 1 + 0; 12 on 3: 1 + 1 + 0). fit, evaluate and predict."""
    keras.config.set_floatx("float64")
    try:
        model = _flat_bn("float64")
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        x, y = data("float64", samples=samples)
        history = model.fit(x, y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0)
        evaluated = np.array(model.evaluate(x, y, batch_size=BATCH, verbose=0), dtype=np.float64)
        predicted = model.predict(x, batch_size=BATCH, verbose=0, every_rank=True)
        return record(model, history, evaluated=evaluated, predicted=predicted)
    finally:
        keras.config.set_floatx("float32")


def case_empty11():
    return _empty_shard(11)


def case_empty12():
    return _empty_shard(12)


def case_ignore_class():
    """SparseCategoricalCrossentropy(ignore_class=0) with the ignored labels spread unevenly over the shards:
    the mean is over the valid labels of the whole batch, as on one process."""
    keras.config.set_floatx("float64")
    try:
        model = lenet("float64")
        model.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(ignore_class=0))
        x, y = data("float64")
        y[:6] = 0  # batch 1: the first shard mostly ignored; the others not
        y[12] = 0
        history = model.fit(x, y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0)
        evaluated = np.array(model.evaluate(x, y, batch_size=8, verbose=0), dtype=np.float64)
        return record(model, history, evaluated=evaluated)
    finally:
        keras.config.set_floatx("float32")


class _StopOnLastRank(keras.callbacks.Callback):
    """Set ``stop_training`` (after train batch 1), ``stop_evaluating`` and ``stop_predicting`` (after batch 0)
    on the last process only (on rank 0 alone in one process)."""

    def _here(self):
        return distribution.rank() == distribution.world_size() - 1

    def on_train_batch_end(self, batch, logs=None):
        if batch == 1 and self._here():
            self.model.stop_training = True

    def on_test_batch_end(self, batch, logs=None):
        if self._here():
            self.model.stop_evaluating = True

    def on_predict_batch_end(self, batch, logs=None):
        if self._here():
            self.model.stop_predicting = True


def case_stop_one_rank():
    """A callback on one process asks to stop: every process stops after the same batch, as one would."""
    model = lenet("float32")
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = data("float32")
    history = model.fit(x, y, batch_size=BATCH, epochs=3, shuffle=False, verbose=0, callbacks=[_StopOnLastRank()])
    evaluated = np.array(model.evaluate(x, y, batch_size=4, verbose=0, callbacks=[_StopOnLastRank()]))
    predicted = model.predict(x, batch_size=4, verbose=0, every_rank=True, callbacks=[_StopOnLastRank()])
    return record(model, history, steps=np.array(model.optimizer.iterations), evaluated=evaluated,
                  predicted=predicted)


def _on_rank0_alone(function):
    """Run ``function`` on rank 0 only, without the distribution: rank 0's weights and optimizer state then
    differ from the others', which the next synchronisation must replace (the oracle, rank 0, runs it too)."""
    current = distribution.distribution()
    if distribution.rank() == 0:
        distribution.set_distribution(None)
        try:
            function()
        finally:
            distribution.set_distribution(current)


def case_synchronise():
    """fit and train_on_batch start from rank 0's weights and optimizer state (Adam's slots, sent as arrays),
    and train_on_batch after a new compile broadcasts them again."""
    model = lenet("float32")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x, y = data("float32")
    _on_rank0_alone(lambda: model.fit(x[:10], y[:10], batch_size=5, epochs=1, verbose=0))
    model.train_on_batch(x[:10], y[:10])
    model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    _on_rank0_alone(lambda: model.train_on_batch(x[10:20], y[10:20]))
    loss = model.train_on_batch(x[:7], y[:7])
    return record(model, loss=np.array(loss, dtype=np.float64))


CASES = {name[len("case_"):]: function for name, function in globals().items() if name.startswith("case_")}
NEEDS_DIR = {"files", "checkpoint", "resume"}


def run(name: str, out_dir: str) -> dict:
    function = CASES[name]
    return function(out_dir) if name in NEEDS_DIR else function()


def main(argv):
    out_dir, names = argv[0], argv[1:]
    distribution.set_distribution(distribution.DataParallel())
    for name in names:
        values = run(name, out_dir)
        np.savez(os.path.join(out_dir, f"{name}_rank{distribution.rank()}.npz"), **values)
    distribution.set_distribution(None)


if __name__ == "__main__":
    main(sys.argv[1:])
