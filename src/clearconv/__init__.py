"""clearconv: convolutional neural networks in NumPy, readable, checkable and Keras-compatible.

    import clearconv as keras
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(32, 3, activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(10, activation="softmax"),
    ])

The namespace is Keras 3's: ``layers``, ``models``, ``ops``, ``optimizers``,
``losses``, ``metrics``, ``callbacks``, ``activations``, ``initializers``,
``regularizers``, ``constraints``, ``utils``, ``datasets``, ``random``,
``backend``, ``config``, ``saving``, and ``Sequential``, ``Model``,
``Input``, ``Layer``, ``Variable`` (docs/keras.md lists every name).
Pass a :class:`Tensor` instead of an array to record the computation, then
call ``.backward()`` on a scalar result to fill every weight's ``.grad``.
"""

from . import allocator  # noqa: F401  (opt-in malloc setting: clearconv.allocator.keep_freed_memory())
from . import (activations, backend, callbacks, config, constraints, datasets, initializers, kernels, layers, losses,
               metrics, models, ops, optimizers, random, regularizers, saving, utils)
from . import distribution  # noqa: F401  (keras.distribution: data-parallel training over MPI)
from .autograd import Tensor, Variable, no_grad
from .initializers import Initializer
from .layers import Input, InputLayer, Layer
from .layers.base import SymbolicTensor as KerasTensor
from .losses import Loss
from .metrics import Metric
from .models import Model, Sequential
from .optimizers import Optimizer
from .regularizers import Regularizer

__version__ = "0.1.0"
version = lambda: __version__  # noqa: E731  (keras.version())
__all__ = ["Tensor", "Variable", "no_grad", "Input", "InputLayer", "Layer", "Model", "Sequential", "KerasTensor",
           "Initializer", "Loss", "Metric", "Optimizer", "Regularizer", "activations",
           "backend", "callbacks", "config", "constraints", "datasets", "initializers", "kernels", "layers", "losses",
           "metrics", "models", "ops", "optimizers", "random", "regularizers", "saving", "utils", "version"]
