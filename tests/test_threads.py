"""Threads that share a process but not their state: a thread predicting while another trains, a
layer built or a random draw made while another thread loads a model file.

Each test interleaves two threads deterministically with Events: one thread pauses at a chosen
point (inside a layer call, inside a load) while the other runs, then resumes.
"""

import threading

import numpy as np
import pytest

import clearconv
from clearconv import Tensor, saving, utils
from clearconv import layers as L
from clearconv.layers.base import weights_from_file

TIMEOUT = 20


class Recorder(L.Layer):
    """Appends the `training` value it receives to ``log``, runs ``pause()`` when given, and with
    ``units`` multiplies by a kernel made in build (whose path shows the name scopes)."""

    def __init__(self, log, pause=None, units=None, **kwargs):
        super().__init__(**kwargs)
        self.log, self.pause, self.units = log, pause, units

    def build(self, input_shape):
        if self.units:
            self.kernel = self.add_weight(shape=(input_shape[-1], self.units), name="kernel")

    def call(self, inputs, training=None):
        self.log.append(training)
        if self.pause is not None:
            self.pause()
        return inputs @ self.kernel if self.units else inputs


class _Worker(threading.Thread):
    """A thread that keeps the exception its target raised, re-raised by ``finish()``."""

    def __init__(self, target):
        super().__init__(target=self._run, daemon=True)
        self._target_function, self.error = target, None

    def _run(self):
        try:
            self._target_function()
        except BaseException as error:  # noqa: BLE001 - reported by finish()
            self.error = error

    def finish(self):
        self.join(timeout=TIMEOUT)
        assert not self.is_alive(), "the worker thread did not finish"
        if self.error is not None:
            raise self.error


def test_a_thread_predicting_while_another_trains_sees_neither_its_training_flag_nor_its_name_scopes():
    a_paused, b_paused, a_resumed = threading.Event(), threading.Event(), threading.Event()
    a_first, a_second = [], []

    class Trained(clearconv.Model):
        """A subclassed model whose nested layers inherit the `training` of the model's call."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.first = Recorder(a_first)
            self.second = Recorder(a_second, units=2)  # built lazily, after thread B entered its calls

        def call(self, inputs, training=None):
            x = self.first(inputs)
            a_paused.set()
            assert b_paused.wait(TIMEOUT)
            return self.second(x)

    trained = Trained(name="trained")
    x = np.ones((4, 3), np.float32)

    def train():
        trained(Tensor(x), training=True)
        a_resumed.set()

    armed = []

    def pause_b():  # thread B, inside its predict, lets thread A run its nested call
        if armed and not b_paused.is_set():
            b_paused.set()
            assert a_resumed.wait(TIMEOUT)

    b_direct, b_predict = [], []
    direct = Recorder(b_direct)
    norm = L.BatchNormalization(momentum=0.5)
    norm.build((None, 3))
    moving = [w.data.copy() for w in norm.non_trainable_weights]
    predicted = clearconv.Sequential([L.Input((3,)), Recorder(b_predict, pause=pause_b)], name="predicted")

    worker = _Worker(train)
    worker.start()
    try:
        assert a_paused.wait(TIMEOUT)
        # Thread A is inside trained(..., training=True); this thread's calls have no outer call.
        direct(x * 3.0)
        norm(x * 3.0)
        b_predict.clear()  # building the Sequential ran its layers once, to learn the output shape
        armed.append(True)
        predicted.predict(x, verbose=0)
    finally:
        b_paused.set()
        a_resumed.set()
        worker.finish()

    assert a_first == [True] and a_second == [True]
    assert b_direct == [None]
    assert b_predict == [False]
    for before, weight in zip(moving, norm.non_trainable_weights):
        np.testing.assert_array_equal(weight.data, before, err_msg=f"{weight.path} moved during inference")
    assert trained.second.kernel.path == "trained/" + trained.second.name + "/kernel"


def test_a_layer_built_while_another_thread_loads_a_model_gets_initialised_weights():
    loading, built = threading.Event(), threading.Event()
    placeholder = []

    def load():
        with weights_from_file():
            loading.set()
            assert built.wait(TIMEOUT)
            layer = L.Dense(3)  # inside the block, in the loading thread: placeholders as before
            layer.build((None, 4))
            placeholder.append(layer.kernel.data.strides)

    worker = _Worker(load)
    worker.start()
    try:
        assert loading.wait(TIMEOUT)
        dense = L.Dense(5, bias_initializer="ones")
        dense.build((None, 4))
    finally:
        built.set()
        worker.finish()
    kernel, bias = dense.kernel.data, dense.bias.data
    assert 0 not in kernel.strides and 0 not in bias.strides
    assert np.unique(kernel).size == kernel.size  # glorot_uniform draws, not one repeated cell
    np.testing.assert_array_equal(bias, np.ones(5, np.float32))
    kernel[0, 0] = 7.0
    assert kernel[1, 1] != 7.0  # its own memory: no cell shared with the others
    assert placeholder == [(0, 0)]


@saving.register_keras_serializable(package="tests_threads")
class Jitter(L.Layer):
    """Holds a SeedGenerator made with seed=None, which draws its seed from the global generator;
    ``on_init`` (set by a test) runs at the end of the constructor."""

    on_init = None

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = clearconv.random.SeedGenerator()
        if Jitter.on_init is not None:
            Jitter.on_init()

    def call(self, inputs, training=None):
        return inputs + clearconv.random.normal(inputs.shape[1:], seed=self.seed_generator) if training \
            else inputs


def test_a_draw_made_by_another_thread_while_a_model_loads_is_not_repeated(tmp_path, monkeypatch):
    from clearconv.io import load_model
    inputs = clearconv.Input((3,))
    model = clearconv.Model(inputs, L.Dense(2)(Jitter()(inputs)))
    path = tmp_path / "jitter.clearconv"
    model.save(path)

    loading, drawn = threading.Event(), threading.Event()

    def pause_inside_the_load():  # the loading thread, while it builds the model from the file
        loading.set()
        assert drawn.wait(TIMEOUT)
    monkeypatch.setattr(Jitter, "on_init", staticmethod(pause_inside_the_load))

    other_draws = []

    def draw():
        assert loading.wait(TIMEOUT)
        other_draws.append(utils.global_rng().random(4))
        drawn.set()

    utils.set_seed(3)
    reference = np.random.default_rng(3)
    first, second = reference.random(4), reference.random(4)
    worker = _Worker(draw)
    worker.start()
    try:
        loaded = load_model(path)
    finally:
        drawn.set()
        worker.finish()
    next_draw = utils.global_rng().random(4)

    np.testing.assert_array_equal(other_draws[0], first)
    np.testing.assert_array_equal(next_draw, second)  # the other thread's draw is not handed out again
    saved, restored = (next(layer for layer in m.layers if isinstance(layer, Jitter)) for m in (model, loaded))
    np.testing.assert_array_equal(restored.seed_generator.state.data, saved.seed_generator.state.data)
