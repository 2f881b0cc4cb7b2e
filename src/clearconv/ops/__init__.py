"""Keras 3's ``keras.ops`` on clearconv values: ``from clearconv import ops; ops.relu(x)``.

The functions live in namespaces as in Keras (``ops.numpy``, ``ops.nn``,
``ops.core``, ``ops.math``, ``ops.linalg``, ``ops.image``); all but the image
ops are also here at the top level. Each takes Tensors, NumPy arrays or
Python values, returns a :class:`~clearconv.autograd.Tensor` and records its
backward, so ``loss.backward()`` reaches every input that needs a gradient.
Called with a symbolic tensor (a functional model's ``Input`` or a layer's
output), an op becomes a node of the model instead (see :mod:`.dispatch`).
"""

from . import core, image, linalg, math, nn, numpy
from .core import *  # noqa: F401,F403
from .linalg import *  # noqa: F401,F403
from .math import *  # noqa: F401,F403
from .nn import *  # noqa: F401,F403
from .numpy import *  # noqa: F401,F403

__all__ = sorted({*core.__all__, *linalg.__all__, *math.__all__, *nn.__all__, *numpy.__all__}) + [
    "core", "image", "linalg", "math", "nn", "numpy"]
