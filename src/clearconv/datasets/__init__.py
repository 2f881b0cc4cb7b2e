"""Keras 3's ``keras.datasets``: ``mnist.load_data()`` and ``fashion_mnist.load_data()``.

    import clearconv as keras
    (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()

They return Keras's arrays (uint8 images (N, 28, 28), uint8 labels (N,))
from files you have: Keras's own cache, an installed package, or a path or
environment variable you give. Nothing is ever downloaded; when the data are
missing, FileNotFoundError says where clearconv looked and how to provide
them. (:func:`clearconv.data.load` gives the same datasets as float32 images
in [0, 1], ready for training.)
"""

from . import fashion_mnist, mnist

__all__ = ["fashion_mnist", "mnist"]
