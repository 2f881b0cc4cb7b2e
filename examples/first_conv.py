"""A first convolution: Keras's Conv2D on one 28x28 image, checked against the direct loops."""

import numpy as np

from clearconv.layers import Conv2D
from clearconv.kernels.conv.reference import conv_reference

rng = np.random.default_rng(0)
image = rng.random((1, 28, 28, 1), dtype=np.float32)

layer = Conv2D(filters=32, kernel_size=(3, 3), activation="relu", input_shape=(28, 28, 1))
output = layer(image)
print(f"Conv2D(32, (3, 3)) on {image.shape} -> {output.shape}, {layer.count_params()} parameters")

kernel, bias = layer.get_weights()
expected = np.maximum(conv_reference(image, kernel, bias, (1, 1), ((0, 0), (0, 0)), (1, 1), 1), 0)
print(f"largest difference from the textbook loops: {np.abs(output - expected).max():.2e}")
