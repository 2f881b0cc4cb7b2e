"""Real Keras 3 (jax backend, CPU) as a test oracle.

``keras = import_keras()`` at the top of a test module skips that module with
a reason when Keras or its backend is not installed (they come with the
``test`` extra). ``in_both`` runs the same code against clearconv and Keras;
the ``assert_same_*`` helpers compare what the two computed.
"""

import os

import numpy as np
import pytest


def import_keras():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    keras = pytest.importorskip("keras", reason="real Keras 3 (the `test` extra) is the oracle of these tests")
    if not keras.__version__.startswith("3."):
        pytest.skip(f"these tests compare with Keras 3; found Keras {keras.__version__}")
    return keras


SEED = 1337


def in_both(code, *args, libraries):
    """``code(library, *args)`` for each library (clearconv, then Keras), each after clear_session()
    and set_random_seed(SEED), so automatic names and random draws start alike in both."""
    results = []
    for library in libraries:
        library.backend.clear_session()
        library.utils.set_random_seed(SEED)  # the same initial weights and data from run to run
        results.append(code(library, *args))
    return results


def copy_weights(source, target):
    target.set_weights([np.asarray(w) for w in source.get_weights()])


def summary_text(model):
    printed = []
    model.summary(print_fn=printed.append)
    return "".join(printed)


def assert_same_numbers(ours, theirs, rtol=1e-5, atol=1e-6):
    np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=rtol, atol=atol)


def assert_same_weights(ours, theirs, rtol=1e-5, atol=1e-6):
    got, expected = ours.get_weights(), theirs.get_weights()
    assert [w.shape for w in got] == [tuple(w.shape) for w in expected]
    for a, b in zip(got, expected):
        assert_same_numbers(a, b, rtol=rtol, atol=atol)


def assert_same_weights_after_adaptive_steps(ours, theirs, learning_rate):
    """The weights after Adam or RMSprop steps from the same start. These optimizers divide each
    gradient by its running root mean square, so a weight whose gradient is near epsilon (1e-7) moves
    by an amount that depends on the float32 rounding of that gradient, which differs between any two
    implementations: up to a fraction of the learning rate per step, where SGD steps agree to 1e-8.
    The weights are compared to half a step; the losses, which depend on all of them, to 1e-5."""
    assert_same_weights(ours, theirs, rtol=0.0, atol=learning_rate / 2)


def assert_same_history(ours, theirs, rtol=1e-5, atol=1e-6):
    assert sorted(ours.history) == sorted(theirs.history)
    for key, values in theirs.history.items():
        np.testing.assert_allclose(ours.history[key], values, rtol=rtol, atol=atol, err_msg=key)
