"""compile/fit/evaluate/predict against real Keras 3: the same tiny models with the same weights, trained
with SGD without shuffling, must give the same history (names and values), weights, evaluation and
predictions, and call the callbacks (and a PyDataset) in the same order.

Every batch has 2 samples: Keras (jax) compiles each operation once per shape, so one shape keeps
the module fast."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from keras_oracle import import_keras

import clearconv as cc
from clearconv.callbacks import Callback
from clearconv.data.py_dataset import PyDataset
from clearconv.layers import Input
from clearconv.models import Model

keras = import_keras()

RTOL, ATOL = 1e-5, 1e-6
rng = np.random.default_rng(0)
X = rng.normal(size=(10, 3)).astype(np.float32)
Y = rng.normal(size=(10, 2)).astype(np.float32)
LABELS = rng.integers(0, 3, size=10)
WEIGHTS = rng.uniform(0.1, 1.0, size=10).astype(np.float32)


# --- twins --------------------------------------------------------------------------------------

def regressor(lib):
    """3 -> Dense(4, relu) 'h' -> Dense(2) 'out'."""
    inputs = lib.Input((3,), name="inp")
    hidden = lib.layers.Dense(4, activation="relu", name="h")(inputs)
    return lib.Model(inputs, lib.layers.Dense(2, name="out")(hidden))


def two_outputs(lib):
    """3 -> Dense(4, relu) 'h' -> Dense(2) 'reg' and Dense(3, softmax) 'cls'."""
    inputs = lib.Input((3,), name="inp")
    hidden = lib.layers.Dense(4, activation="relu", name="h")(inputs)
    return lib.Model(inputs, [lib.layers.Dense(2, name="reg")(hidden),
                              lib.layers.Dense(3, activation="softmax", name="cls")(hidden)])


def two_inputs(lib):
    """'a' (3,) and 'b' (2,) -> Concatenate -> Dense(2) 'out'."""
    a, b = lib.Input((3,), name="a"), lib.Input((2,), name="b")
    return lib.Model([a, b], lib.layers.Dense(2, name="out")(lib.layers.Concatenate(name="cat")([a, b])))


class _CC:
    """clearconv under the names the builders use."""
    Input = staticmethod(Input)
    layers = cc.layers
    Model = Model


def twins(builder):
    ours, theirs = builder(_CC), builder(keras)
    for layer in ours.layers:
        if layer.weights:
            theirs.get_layer(layer.name).set_weights(layer.get_weights())
    return ours, theirs


def compile_both(ours, theirs, **kwargs):
    ours.compile(optimizer=cc.optimizers.SGD(0.1), **kwargs)
    theirs.compile(optimizer=keras.optimizers.SGD(0.1), run_eagerly=True, **kwargs)


def assert_history_equal(ours, theirs):
    assert list(ours) == list(theirs)
    for name in theirs:
        np.testing.assert_allclose(ours[name], theirs[name], rtol=RTOL, atol=ATOL, err_msg=name)


def assert_weights_equal(ours, theirs):
    for layer in ours.layers:
        if not layer.weights:
            continue
        for a, b in zip(layer.get_weights(), theirs.get_layer(layer.name).get_weights()):
            np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL, err_msg=layer.name)


def assert_values_equal(ours, theirs):
    if isinstance(theirs, dict):
        assert list(ours) == list(theirs)
        ours, theirs = list(ours.values()), list(theirs.values())
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=ATOL)


def recorder(base):
    """A callback class (for either library) recording (hook, index, log names) of every hook."""
    hooks = ["on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end", "on_train_batch_begin",
             "on_train_batch_end", "on_test_begin", "on_test_end", "on_test_batch_begin", "on_test_batch_end",
             "on_predict_begin", "on_predict_end", "on_predict_batch_begin", "on_predict_batch_end"]

    class Recorder(base):
        def __init__(self):
            super().__init__()
            self.calls = []

    def make(hook):
        def method(self, *args, logs=None):
            if args and isinstance(args[-1], dict):
                args, logs = args[:-1], args[-1]
            self.calls.append((hook, *args, tuple(logs or ())))
        return method
    for hook in hooks:
        setattr(Recorder, hook, make(hook))
    return Recorder()


def counting_dataset(base, batches=3, size=2, with_weights=False):
    """A PyDataset (of either library) returning slices of X/Y and recording its calls."""
    class Slices(base):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.calls = []

        def __len__(self):
            return batches

        def __getitem__(self, index):
            self.calls.append(("get", index))
            part = slice(index * size, (index + 1) * size)
            if with_weights:
                return X[part], Y[part], WEIGHTS[part]
            return X[part], Y[part]

        def on_epoch_begin(self):
            self.calls.append("begin")

        def on_epoch_end(self):
            self.calls.append("end")
    return Slices


def generator(count, with_labels=True):
    for index in range(count):
        part = slice(2 * index, 2 * index + 2)
        yield (X[part], Y[part]) if with_labels else (X[part],)


def quiet(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return function(*args, **kwargs)


# --- fit ------------------------------------------------------------------------------------------

def test_finite_generator_epochs_validation_freq_and_hook_order():
    """A generator of 4 batches for 3 epochs: Keras trains on all 4, then replays its two peeked batches;
    validation every 2nd epoch from arrays; the hook order includes the begin of the batch that ran out."""
    ours, theirs = twins(regressor)
    compile_both(ours, theirs, loss="mse", metrics=["mae"])
    ours_calls, theirs_calls = recorder(Callback), recorder(keras.callbacks.Callback)
    kwargs = dict(epochs=3, verbose=0, validation_data=(X[6:], Y[6:]), validation_freq=2, validation_batch_size=2)
    theirs_history = quiet(theirs.fit, generator(4), callbacks=[theirs_calls], **kwargs).history
    with pytest.warns(UserWarning, match="ran out"):
        ours_history = ours.fit(generator(4), callbacks=[ours_calls], **kwargs).history
    assert_history_equal(ours_history, theirs_history)
    assert "val_loss" in ours_history and len(ours_history["val_loss"]) == 1
    assert_weights_equal(ours, theirs)
    assert ours_calls.calls == theirs_calls.calls

    ours_calls.calls.clear(), theirs_calls.calls.clear()
    assert_values_equal(ours.evaluate(X, Y, batch_size=2, callbacks=[ours_calls], verbose=0, return_dict=True),
                        theirs.evaluate(X, Y, batch_size=2, callbacks=[theirs_calls], verbose=0, return_dict=True))
    np.testing.assert_allclose(ours.predict(X, batch_size=2, callbacks=[ours_calls], verbose=0),
                               theirs.predict(X, batch_size=2, callbacks=[theirs_calls], verbose=0),
                               rtol=RTOL, atol=ATOL)
    assert ours_calls.calls == theirs_calls.calls


def test_steps_per_epoch_on_arrays_continues_across_epochs_and_batch_size_from_steps():
    ours, theirs = twins(regressor)
    compile_both(ours, theirs, loss="mse")
    kwargs = dict(batch_size=2, epochs=3, steps_per_epoch=2, shuffle=False, verbose=0)
    theirs_history = quiet(theirs.fit, X, Y, **kwargs).history
    with pytest.warns(UserWarning, match="ran out"):  # epoch 3 has only the fifth batch left
        ours_history = ours.fit(X, Y, **kwargs).history
    assert_history_equal(ours_history, theirs_history)
    assert_weights_equal(ours, theirs)
    # Without batch_size, steps_per_epoch=4 gives batches of ceil(8 / 4) = 2.
    assert_history_equal(ours.fit(X[:8], Y[:8], epochs=2, steps_per_epoch=4, shuffle=False, verbose=0).history,
                         quiet(theirs.fit, X[:8], Y[:8], epochs=2, steps_per_epoch=4, shuffle=False,
                               verbose=0).history)
    assert_weights_equal(ours, theirs)


def test_reiterable_loader_is_one_pass_per_epoch():
    """A loader with __iter__ and __len__ (as a torch DataLoader) against Keras on the same batches as arrays."""
    class Loader:
        def __iter__(self):
            return generator(4)

        def __len__(self):
            return 4

    ours, theirs = twins(regressor)
    compile_both(ours, theirs, loss="mse")
    assert_history_equal(ours.fit(Loader(), epochs=2, shuffle=False, verbose=0).history,
                         theirs.fit(X[:8], Y[:8], batch_size=2, epochs=2, shuffle=False, verbose=0).history)
    assert_weights_equal(ours, theirs)


def test_sequential_without_input_shape_is_built_by_fit():
    ours = cc.models.Sequential([cc.layers.Dense(4, activation="relu", name="h"), cc.layers.Dense(2, name="out")])
    theirs = keras.Sequential([keras.layers.Dense(4, activation="relu", name="h"), keras.layers.Dense(2, name="out")])
    compile_both(ours, theirs, loss="mse", metrics=["mae"])
    assert ours.fit(X, Y, epochs=0, verbose=0).history == theirs.fit(X, Y, epochs=0, verbose=0).history == {}
    for layer in ours.layers:  # both are built now: align the weights
        theirs.get_layer(layer.name).set_weights(layer.get_weights())
    assert_history_equal(ours.fit(X, Y, batch_size=2, epochs=2, shuffle=False, verbose=0).history,
                         theirs.fit(X, Y, batch_size=2, epochs=2, shuffle=False, verbose=0).history)
    assert_weights_equal(ours, theirs)


def test_infinite_generator_needs_steps_per_epoch():
    def forever():
        while True:
            yield from generator(5)

    ours, theirs = twins(regressor)
    compile_both(ours, theirs, loss="mse", metrics=["mae"])
    ours_history = ours.fit(forever(), epochs=2, steps_per_epoch=3, verbose=0).history
    theirs_history = quiet(theirs.fit, forever(), epochs=2, steps_per_epoch=3, verbose=0).history
    assert_history_equal(ours_history, theirs_history)
    assert_weights_equal(ours, theirs)
    assert_values_equal(ours.evaluate(forever(), steps=2, verbose=0), theirs.evaluate(forever(), steps=2, verbose=0))
    np.testing.assert_allclose(ours.predict(forever(), steps=3, verbose=0),
                               theirs.predict(forever(), steps=3, verbose=0), rtol=RTOL, atol=ATOL)


def test_pydataset_training_validation_and_calls_match_keras():
    ours, theirs = twins(regressor)
    compile_both(ours, theirs, loss="mse", weighted_metrics=["mae"])
    train_ours, train_theirs = counting_dataset(PyDataset, with_weights=True)(), \
        counting_dataset(keras.utils.PyDataset, with_weights=True)()
    val_ours, val_theirs = counting_dataset(PyDataset, batches=2)(), counting_dataset(keras.utils.PyDataset,
                                                                                         batches=2)()
    # validation_steps=1 of 2 batches: each validation starts again from batch 0.
    kwargs = dict(epochs=4, shuffle=False, verbose=0, validation_freq=2, validation_steps=1)
    theirs_history = quiet(theirs.fit, train_theirs, validation_data=val_theirs, **kwargs).history
    ours_history = ours.fit(train_ours, validation_data=val_ours, **kwargs).history
    assert_history_equal(ours_history, theirs_history)
    assert_weights_equal(ours, theirs)
    # Keras reads batch 0 once before training (to build its metrics) and ends an epoch at every start.
    assert train_ours.calls == train_theirs.calls
    assert val_ours.calls == val_theirs.calls

    for dataset in (train_ours, train_theirs):
        dataset.calls.clear()
    assert_values_equal(ours.evaluate(train_ours, verbose=0), quiet(theirs.evaluate, train_theirs, verbose=0))
    np.testing.assert_allclose(ours.predict(train_ours, verbose=0), theirs.predict(train_theirs, verbose=0),
                               rtol=RTOL, atol=ATOL)
    assert train_ours.calls == train_theirs.calls


def test_pydataset_read_by_threads_gives_the_same_training():
    single, threaded = twins(regressor)[0], None
    threaded = regressor(_CC)
    threaded.set_weights(single.get_weights())
    for model in (single, threaded):
        model.compile(optimizer=cc.optimizers.SGD(0.1), loss="mse")
    dataset = counting_dataset(PyDataset, batches=5)
    first = single.fit(dataset(), epochs=2, shuffle=False, verbose=0).history
    second = threaded.fit(dataset(workers=3, max_queue_size=2), epochs=2, shuffle=False, verbose=0).history
    assert first == second
    for a, b in zip(single.get_weights(), threaded.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_two_outputs_with_dict_losses_weights_metrics_and_sample_weight():
    ours, theirs = twins(two_outputs)
    compile_both(ours, theirs, loss={"reg": "mse", "cls": "sparse_categorical_crossentropy"},
                 loss_weights={"reg": 0.5, "cls": 2.0}, metrics={"reg": ["mae"], "cls": ["accuracy"]},
                 weighted_metrics={"cls": ["accuracy"], "reg": ["mae"]})
    kwargs = dict(batch_size=2, epochs=2, shuffle=False, verbose=0, sample_weight=WEIGHTS[:6],
                  validation_data=(X[6:], [Y[6:], LABELS[6:]], WEIGHTS[6:]))
    theirs_history = theirs.fit(X[:6], [Y[:6], LABELS[:6]], **kwargs).history
    ours_history = ours.fit(X[:6], [Y[:6], LABELS[:6]], **kwargs).history
    assert list(ours_history) == [
        "cls_accuracy", "cls_loss", "cls_weighted_accuracy", "loss", "reg_loss", "reg_mae", "reg_weighted_mae",
        "val_cls_accuracy", "val_cls_loss", "val_cls_weighted_accuracy", "val_loss", "val_reg_loss",
        "val_reg_mae", "val_reg_weighted_mae"]
    assert_history_equal(ours_history, theirs_history)
    assert_weights_equal(ours, theirs)
    # Targets as a dict keyed by output names.
    targets = {"reg": Y[:4], "cls": LABELS[:4]}
    assert_history_equal(ours.fit(X[:4], targets, batch_size=2, shuffle=False, verbose=0).history,
                         theirs.fit(X[:4], targets, batch_size=2, shuffle=False, verbose=0).history)
    # evaluate as a list in Keras's order, as a dict; the *_on_batch and predict outputs.
    assert_values_equal(ours.evaluate(X, [Y, LABELS], batch_size=2, verbose=0),
                        theirs.evaluate(X, [Y, LABELS], batch_size=2, verbose=0))
    assert_values_equal(
        ours.evaluate(X, [Y, LABELS], batch_size=2, verbose=0, return_dict=True, sample_weight=WEIGHTS),
        theirs.evaluate(X, [Y, LABELS], batch_size=2, verbose=0, return_dict=True, sample_weight=WEIGHTS))
    assert_values_equal(ours.train_on_batch(X[:2], [Y[:2], LABELS[:2]]),
                        theirs.train_on_batch(X[:2], [Y[:2], LABELS[:2]]))
    assert_values_equal(ours.test_on_batch(X[:2], [Y[:2], LABELS[:2]], return_dict=True),
                        theirs.test_on_batch(X[:2], [Y[:2], LABELS[:2]], return_dict=True))
    for ours_out, theirs_out in ((ours.predict(X, batch_size=2, verbose=0), theirs.predict(X, batch_size=2,
                                                                                            verbose=0)),
                                 (ours.predict_on_batch(X[:2]), theirs.predict_on_batch(X[:2]))):
        assert isinstance(ours_out, list) and len(ours_out) == 2
        for a, b in zip(ours_out, theirs_out):
            np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)


def test_dict_outputs_are_named_by_their_keys():
    def build(lib):
        inputs = lib.Input((3,), name="inp")
        hidden = lib.layers.Dense(4, activation="relu", name="h")(inputs)
        return lib.Model(inputs, {"score": lib.layers.Dense(2, name="s_layer")(hidden),
                                  "label": lib.layers.Dense(3, activation="softmax", name="l_layer")(hidden)})

    ours, theirs = twins(build)
    compile_both(ours, theirs, loss={"score": "mse", "label": "sparse_categorical_crossentropy"},
                 loss_weights={"label": 0.5, "score": 2.0}, metrics={"score": ["mae"], "label": ["accuracy"]})
    targets = {"score": Y[:4], "label": LABELS[:4]}
    ours_history = ours.fit(X[:4], targets, batch_size=2, shuffle=False, verbose=0).history
    assert list(ours_history) == ["label_accuracy", "label_loss", "loss", "score_loss", "score_mae"]
    assert_history_equal(ours_history, theirs.fit(X[:4], targets, batch_size=2, shuffle=False, verbose=0).history)
    assert_weights_equal(ours, theirs)
    assert_values_equal(ours.evaluate(X[:4], targets, batch_size=2, verbose=0),
                        theirs.evaluate(X[:4], targets, batch_size=2, verbose=0))
    ours_out, theirs_out = ours.predict(X[:4], batch_size=2, verbose=0), theirs.predict(X[:4], batch_size=2, verbose=0)
    assert isinstance(ours_out, dict) and set(ours_out) == set(theirs_out)
    for key in theirs_out:
        np.testing.assert_allclose(ours_out[key], theirs_out[key], rtol=RTOL, atol=ATOL)


def test_subclassed_model_trains_as_in_keras():
    def build(lib):
        class Twice(lib.Model):
            def __init__(self):
                super().__init__(name="twice")
                self.dense = lib.layers.Dense(2, name="d")

            def call(self, inputs, training=None):
                return {"a": self.dense(inputs), "b": self.dense(inputs) * 2.0}
        return Twice()

    ours, theirs = build(_CC), build(keras)
    ours(X[:2]), theirs(X[:2])  # build the weights, then align them
    theirs.dense.set_weights(ours.dense.get_weights())
    compile_both(ours, theirs, loss={"a": "mse", "b": "mae"}, metrics={"a": ["mae"]})
    targets = {"a": Y[:4], "b": Y[4:8]}
    ours_history = ours.fit(X[:4], targets, batch_size=2, shuffle=False, verbose=0).history
    assert list(ours_history) == ["a_loss", "a_mae", "b_loss", "loss"]
    assert_history_equal(ours_history, theirs.fit(X[:4], targets, batch_size=2, shuffle=False, verbose=0).history)
    np.testing.assert_allclose(ours.dense.get_weights()[0], theirs.dense.get_weights()[0], rtol=RTOL, atol=ATOL)


def test_list_metrics_per_output_duplicates_and_weighted_names():
    ours, theirs = twins(two_outputs)
    compile_both(ours, theirs, loss=["mse", "sparse_categorical_crossentropy"], metrics=[["mae", "mae"], None])
    assert_values_equal(ours.evaluate(X, [Y, LABELS], batch_size=2, verbose=0, return_dict=True),
                        theirs.evaluate(X, [Y, LABELS], batch_size=2, verbose=0, return_dict=True))
    single, single_keras = twins(regressor)
    compile_both(single, single_keras, loss="mse", metrics=["mae", "mse"], weighted_metrics=["mae"])
    kwargs = dict(batch_size=2, sample_weight=WEIGHTS, verbose=0)
    ours_logs = single.evaluate(X, Y, return_dict=True, **kwargs)
    assert list(ours_logs) == ["loss", "mae", "mse", "weighted_mae"]
    assert_values_equal(ours_logs, single_keras.evaluate(X, Y, return_dict=True, **kwargs))
    # The list form repeats what Keras repeats (its metric names, then the rest sorted).
    assert_values_equal(single.evaluate(X, Y, **kwargs), single_keras.evaluate(X, Y, **kwargs))


def test_class_weight_crossentropy_auto_and_shuffle_batch():
    ours, theirs = twins(two_outputs)
    classifier, classifier_keras = (Model(ours.inputs, ours.outputs[1]),
                                    keras.Model(theirs.inputs, theirs.outputs[1]))
    compile_both(classifier, classifier_keras, loss="crossentropy", weighted_metrics=["accuracy"])
    class_weight = {0: 0.5, 1: 2.0, 2: 1.5}
    # shuffle="batch" permutes inside each batch: the same gradients as no shuffling.
    ours_history = classifier.fit(X, LABELS, batch_size=2, epochs=2, shuffle="batch", class_weight=class_weight,
                                  verbose=0).history
    theirs_history = classifier_keras.fit(X, LABELS, batch_size=2, epochs=2, shuffle=False,
                                          class_weight=class_weight, verbose=0).history
    assert_history_equal(ours_history, theirs_history)
    assert_weights_equal(classifier, classifier_keras)
    assert_values_equal(classifier.train_on_batch(X[:2], LABELS[:2], class_weight=class_weight, return_dict=True),
                        classifier_keras.train_on_batch(X[:2], LABELS[:2], class_weight=class_weight,
                                                        return_dict=True))
    assert_weights_equal(classifier, classifier_keras)


def test_dict_inputs_initial_epoch_validation_split_and_steps_per_execution():
    ours, theirs = twins(two_inputs)
    compile_both(ours, theirs, loss="mse", metrics=["mae"])
    theirs.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse", metrics=["mae"], steps_per_execution=2,
                   run_eagerly=True)
    ours.compile(optimizer=cc.optimizers.SGD(0.1), loss="mse", metrics=["mae"], steps_per_execution=2)
    inputs = {"a": X, "b": Y}
    ours_calls, theirs_calls = recorder(Callback), recorder(keras.callbacks.Callback)
    kwargs = dict(batch_size=2, epochs=3, initial_epoch=1, validation_split=0.2, validation_freq=[2, 3],
                  shuffle=False, verbose=0)
    theirs_history = theirs.fit(inputs, Y, callbacks=[theirs_calls], **kwargs)
    ours_history = ours.fit(inputs, Y, callbacks=[ours_calls], **kwargs)
    assert ours_history.epoch == theirs_history.epoch == [1, 2]
    assert_history_equal(ours_history.history, theirs_history.history)
    assert_weights_equal(ours, theirs)
    assert ours_calls.calls == theirs_calls.calls  # batch hooks every 2 steps, with (first, last) indices
    np.testing.assert_allclose(ours.predict([X, Y], batch_size=2, verbose=0),
                               theirs.predict([X, Y], batch_size=2, verbose=0),
                               rtol=RTOL, atol=ATOL)


def test_evaluate_progress_bar_and_steps(capsys):
    ours, theirs = twins(regressor)
    compile_both(ours, theirs, loss="mse")
    loss = theirs.evaluate(X, Y, batch_size=2, steps=3, verbose=0)  # the first 6 samples only
    capsys.readouterr()
    assert ours.evaluate(X, Y, batch_size=2, steps=3, verbose=1) == pytest.approx(loss, rel=RTOL)
    final = capsys.readouterr().out.strip().splitlines()[-1]
    assert final.startswith("3/3") and final.endswith(f"loss: {loss:.4f}")
    ours.predict(X, batch_size=4, verbose=2)
    assert capsys.readouterr().out.startswith("3/3 - ")


def test_validation_steps_predict_steps_and_the_logs_of_on_train_end():
    """validation_steps: each validation reads the first batches of a new pass; predict(steps=): the
    outputs of the first batches only; on_train_end: the last epoch's logs, validation included."""
    ours, theirs = twins(regressor)
    compile_both(ours, theirs, loss="mse", metrics=["mae"])

    def end_logs(base):
        class EndLogs(base):
            def on_train_end(self, logs=None):
                self.logs = dict(logs)
        return EndLogs()
    ours_end, theirs_end = end_logs(Callback), end_logs(keras.callbacks.Callback)
    kwargs = dict(batch_size=2, epochs=2, steps_per_epoch=3, validation_data=(X[:6], Y[:6]), validation_steps=2,
                  shuffle=False, verbose=0)
    theirs_history = quiet(theirs.fit, X, Y, callbacks=[theirs_end], **kwargs).history
    ours_history = quiet(ours.fit, X, Y, callbacks=[ours_end], **kwargs).history
    assert_history_equal(ours_history, theirs_history)
    assert_values_equal(ours_end.logs, {name: float(value) for name, value in theirs_end.logs.items()})
    assert_values_equal(ours_end.logs, {name: values[-1] for name, values in ours_history.items()})
    ours_outputs = ours.predict(X, batch_size=2, steps=2, verbose=0)
    assert ours_outputs.shape == (4, 2)
    np.testing.assert_allclose(ours_outputs, theirs.predict(X, batch_size=2, steps=2, verbose=0), rtol=RTOL,
                               atol=ATOL)


# --- refused arguments ----------------------------------------------------------------------------

@pytest.fixture
def compiled():
    model = regressor(_CC)
    model.compile(optimizer=cc.optimizers.SGD(0.1), loss="mse")
    return model


@pytest.mark.parametrize("kwargs, message", [
    (dict(x=generator(2), y=Y), "`y` must not be given"),
    (dict(x=generator(2), class_weight={0: 1.0}), "class_weight"),
    (dict(x=counting_dataset(PyDataset)(), sample_weight=WEIGHTS), "`sample_weight` must not be given"),
    (dict(x=generator(2), validation_split=0.5), "validation_split"),
    (dict(x=X, y=Y, validation_freq=0), "validation_freq"),
    (dict(x=X, y=Y, epochs=-1), r"`epochs` must be a non-negative integer.*-1"),
    (dict(x=X, y=LABELS, class_weight=[1.0, 2.0, 0.5]), r"`class_weight` must be a dict"),
    (dict(x=X, y=Y, sample_weight=-WEIGHTS), r"`sample_weight` must hold finite, non-negative"),
    (dict(x=X, y=Y, shuffle="yes"), "shuffle"),
    (dict(x=X, y=Y, steps_per_epoch=0), "steps_per_epoch"),
    (dict(x=X, y=Y, sample_weight=WEIGHTS, class_weight={0: 1.0}), "class_weight"),
    (dict(x=X, y=Y[:5]), "same number of samples.*10.*5"),
    (dict(x=X), "no targets"),
    (dict(x="images"), "Unrecognized data type"),
])
def test_fit_refuses_arguments_it_cannot_honour(compiled, kwargs, message):
    with pytest.raises(ValueError, match=message):
        compiled.fit(verbose=0, **kwargs)


def test_compile_and_other_refusals(compiled):
    outputs = two_outputs(_CC)
    with pytest.raises(ValueError, match=r"one key per output.*\['reg', 'cls'\]"):
        outputs.compile(loss={"reg": "mse"})
    with pytest.raises(ValueError, match="one entry per output"):
        outputs.compile(loss="mse", metrics=["mae"])
    with pytest.raises(ValueError, match="loss_weights"):
        outputs.compile(loss="mse", loss_weights=[1.0])
    with pytest.raises(ValueError, match="steps_per_execution"):
        compiled.compile(loss="mse", steps_per_execution=0)
    with pytest.raises(TypeError):
        compiled.compile(loss="mse", sample_weight_mode="temporal")
    with pytest.raises(TypeError):
        compiled.fit(X, Y, workers=2)
    with pytest.raises(ValueError, match="unknown arguments.*workers"):
        compiled.evaluate(X, Y, workers=2)
    with pytest.raises(ValueError, match="compile"):
        regressor(_CC).fit(X, Y)
    with pytest.raises(ValueError, match="use_multiprocessing"):
        counting_dataset(PyDataset)(workers=2, use_multiprocessing=True)
    with pytest.raises(ValueError, match="workers"):
        counting_dataset(PyDataset)(workers=-1)
    with pytest.raises(ValueError, match=r"Input names \['inp'\]"):
        compiled.predict({"x": X}, verbose=0)
