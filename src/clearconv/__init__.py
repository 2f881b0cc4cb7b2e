"""clearconv: convolutional neural networks in NumPy, readable, checkable and Keras-compatible.

    import clearconv as cc
    layer = cc.layers.Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1))
    y = layer(x)                      # x: (N, 28, 28, 1) float32 -> (N, 26, 26, 32)

Pass a :class:`Tensor` instead of an array to record the computation, then
call ``.backward()`` on a scalar result to fill every weight's ``.grad``.
"""

from . import allocator  # noqa: F401  (applies the malloc setting; see clearconv.allocator)
from . import activations, constraints, functional, initializers, kernels, layers, regularizers, utils
from .autograd import Tensor, Variable, no_grad
from .layers import Input

__version__ = "0.1.0"
__all__ = ["Tensor", "Variable", "no_grad", "Input", "layers", "activations", "initializers", "regularizers",
           "constraints", "functional", "kernels", "utils"]
