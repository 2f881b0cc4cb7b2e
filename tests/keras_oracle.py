"""Real Keras 3 (jax backend, CPU) as a test oracle.

``keras = import_keras()`` at the top of a test module skips that module with
a reason when Keras or its backend is not installed (they come with the
``test`` extra).
"""

import os

import pytest


def import_keras():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    keras = pytest.importorskip("keras", reason="real Keras 3 (the `test` extra) is the oracle of these tests")
    if not keras.__version__.startswith("3."):
        pytest.skip(f"these tests compare with Keras 3; found Keras {keras.__version__}")
    return keras
