"""Saving and loading in the middle of training changes nothing: fit 2 epochs == fit 1, save, load, fit 1.

The oracle is the same program without the save and load: every weight, the
optimizer state and every random draw (shuffling, unseeded and seeded dropout,
Gaussian noise) must come out bit-identical.
"""

import numpy as np

import clearconv
from clearconv import initializers, saving, utils
from clearconv import layers as L
from clearconv.io import load_model


def _compiled(build, optimizer):
    model = build()
    model.compile(optimizer=optimizer, loss="mse")
    return model


def _data(model, build):
    x, _ = build.toy_data(24, model.input_shape[1:], 1, seed=5)
    return x, np.random.default_rng(6).random((24, *model.output_shape[1:]), dtype=np.float32)


def _assert_same_weights(expected, actual):
    assert len(expected.weights) == len(actual.weights)
    for a, b in zip(expected.weights, actual.weights):  # the same layers, named apart by the builds
        np.testing.assert_array_equal(a.data, b.data, err_msg=a.path)


def _check_resume(build, which, optimizer, tmp_path, across_processes=False):
    utils.set_seed(11)
    uninterrupted = _compiled(getattr(build, which), optimizer)
    x, y = _data(uninterrupted, build)
    uninterrupted.fit(x, y, epochs=2, batch_size=5, shuffle=True, verbose=0)

    utils.set_seed(11)
    first = _compiled(getattr(build, which), optimizer)
    first.fit(x, y, epochs=1, batch_size=5, shuffle=True, verbose=0)
    path = tmp_path / "checkpoint.clearconv"
    first.save(path)
    if across_processes:
        # A new process starts with another global generator: only the file can restore it.
        utils.set_seed(12345)
    resumed = load_model(path)
    if across_processes:
        from clearconv.io import restore_global_rng
        restore_global_rng(path)
    resumed.fit(x, y, epochs=1, batch_size=5, shuffle=True, verbose=0)
    _assert_same_weights(uninterrupted, resumed)
    assert resumed.optimizer.iterations == uninterrupted.optimizer.iterations
    for (key, a), (other, b) in zip(uninterrupted.optimizer.get_state().items(),
                                    resumed.optimizer.get_state().items()):
        assert key == other
        np.testing.assert_array_equal(a, b, err_msg=key)


def test_resume_in_the_same_process_is_bit_identical(build, tmp_path):
    _check_resume(build, "sequential_cnn", "adam", tmp_path)


def test_resume_of_a_functional_model_with_seeded_noise_is_bit_identical(build, tmp_path):
    _check_resume(build, "functional_model", "rmsprop", tmp_path)


def test_resume_in_a_new_process_restores_the_global_generator(build, tmp_path):
    _check_resume(build, "sequential_cnn", "adam", tmp_path, across_processes=True)


def test_load_model_leaves_the_global_generator_unchanged(model_files):
    utils.set_seed(3)
    before = utils.global_rng().bit_generator.state
    load_model(model_files["sequential"])
    load_model(model_files["functional"])
    assert utils.global_rng().bit_generator.state == before


def test_load_model_leaves_the_global_generator_unchanged_even_when_a_layer_draws_in_its_constructor(tmp_path):
    @saving.register_keras_serializable(package="tests_io")
    class Jitter(L.Layer):
        """Holds a SeedGenerator made with seed=None, which draws its seed from the global generator."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.seed_generator = clearconv.random.SeedGenerator()

        def call(self, inputs, training=None):
            return inputs + clearconv.random.normal(inputs.shape[1:], seed=self.seed_generator) if training \
                else inputs

    inputs = clearconv.Input((3,))
    model = clearconv.Model(inputs, L.Dense(2)(Jitter()(inputs)))
    path = tmp_path / "jitter.clearconv"
    model.save(path)
    utils.set_seed(3)
    before = utils.global_rng().bit_generator.state
    load_model(path)
    assert utils.global_rng().bit_generator.state == before


def test_seed_generator_state_of_a_layer_is_restored(tmp_path):
    @saving.register_keras_serializable(package="tests_io")
    class Noisy(L.Layer):
        def __init__(self, seed=None, **kwargs):
            super().__init__(**kwargs)
            self.seed = seed
            self.seed_generator = clearconv.random.SeedGenerator(seed)

        def call(self, inputs, training=None):
            return inputs + clearconv.random.normal(inputs.shape[1:], seed=self.seed_generator)

        def get_config(self):
            return {**super().get_config(), "seed": self.seed}

    inputs = clearconv.Input((3,))
    model = clearconv.Model(inputs, Noisy(seed=4)(inputs))
    x = np.zeros((1, 3), np.float32)
    model.predict(x, verbose=0)
    model.predict(x, verbose=0)  # the generator has advanced twice
    path = tmp_path / "noisy.clearconv"
    model.save(path)
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_loading_calls_no_initializer(build, tmp_path, monkeypatch):
    model = build.sequential_cnn()
    path = tmp_path / "model.clearconv"
    model.save(path)
    calls = []
    for name in ("GlorotUniform", "Zeros", "Ones"):
        cls = getattr(initializers, name)
        original = cls.__call__

        def counting(self, shape, dtype=None, _original=original, **kwargs):
            calls.append((type(self).__name__, tuple(shape)))
            return _original(self, shape, dtype=dtype, **kwargs)
        monkeypatch.setattr(cls, "__call__", counting)
    loaded = load_model(path)
    assert calls == []
    _assert_same_weights(model, loaded)
