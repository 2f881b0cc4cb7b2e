"""Ready architectures from the tutorials, built from clearconv layers.

Each function returns an uncompiled model; its docstring names the source and
the parameter count for the default arguments (tests check the counts).
Image models take float32 images in [0, 1] of shape (N, H, W, C).
"""

from __future__ import annotations

from . import layers as L
from .models import Model, Sequential


def digits_cnn(input_shape=(8, 8, 1), num_classes=10) -> Sequential:
    """A small CNN for scikit-learn's 8x8 digits; the default of ``clearconv train``.

    Two 3x3 'same' convolutions (32 and 64 filters), 2x2 max pooling, dropout,
    dense 128, dropout, softmax: 151,306 parameters for 8x8x1 inputs and 10
    classes (320 + 18,496 + 131,200 + 1,290).
    """
    return Sequential([
        L.Conv2D(32, 3, padding="same", activation="relu", input_shape=input_shape),
        L.Conv2D(64, 3, padding="same", activation="relu"),
        L.MaxPooling2D(),
        L.Flatten(),
        L.Dropout(0.3),
        L.Dense(128, activation="relu"),
        L.Dropout(0.3),
        L.Dense(num_classes, activation="softmax"),
    ], name="digits_cnn")


def lenet5(input_shape=(28, 28, 1), num_classes=10) -> Sequential:
    """LeNet-5 (LeCun et al., 1998) with ReLU and max pooling, as in most tutorials.

    conv 6@5x5 'same' -> pool -> conv 16@5x5 -> pool -> dense 120 -> 84 -> 10:
    61,706 parameters on 28x28x1 inputs (156 + 2,416 + 48,120 + 10,164 + 850).
    """
    return Sequential([
        L.Conv2D(6, 5, padding="same", activation="relu", input_shape=input_shape),
        L.MaxPooling2D(),
        L.Conv2D(16, 5, activation="relu"),
        L.MaxPooling2D(),
        L.Flatten(),
        L.Dense(120, activation="relu"),
        L.Dense(84, activation="relu"),
        L.Dense(num_classes, activation="softmax"),
    ], name="lenet5")


def _conv_bn_relu(filters: int) -> list:
    return [L.Conv2D(filters, 3, padding="same", use_bias=False), L.BatchNormalization(), L.ReLU()]


def small_vgg(input_shape=(28, 28, 1), num_classes=10) -> Sequential:
    """A small VGG (Simonyan & Zisserman, 2014): two blocks of two 3x3 conv + BN + ReLU,
    max pooling and dropout, then dense 128 with dropout.

    468,394 parameters on 28x28x1 inputs (384 of them the BN moving statistics).
    """
    stack = [L.InputLayer(shape=input_shape)]
    for filters, rate in ((32, 0.25), (64, 0.25)):
        stack += _conv_bn_relu(filters) + _conv_bn_relu(filters) + [L.MaxPooling2D(), L.Dropout(rate)]
    stack += [L.Flatten(), L.Dense(128, activation="relu"), L.Dropout(0.5),
              L.Dense(num_classes, activation="softmax")]
    return Sequential(stack, name="small_vgg")


def augmented_vgg(input_shape=(28, 28, 1), num_classes=10) -> Sequential:
    """A small VGG with BatchNormalization and augmentation at its input, for Fashion-MNIST's
    ``clearconv train augmented_vgg --data fashion-mnist`` recipe (docs/training.md).

    RandomFlip("horizontal") and RandomTranslation(0.1, 0.1, fill_mode="constant", interpolation="nearest")
    (shifts of up to 0.1 x 28 = 2.8 pixels read at the nearest pixel, so whole pixels up to 3, zeros
    brought in: the images' background), active only in training; then 3x3 conv + BN + ReLU blocks of
    32 filters at 28x28, 64 and 64 at 14x14, 128 and 128 at 7x7, with 2x2 max pooling between, global
    average pooling, dropout 0.3 and softmax. (N, 28, 28, 1) ->
    (N, 28, 28, 32) -> (N, 14, 14, 64) -> (N, 7, 7, 128) -> (N, 128) -> (N, 10). 279,722 parameters on
    28x28x1 inputs (832 of them the BN moving statistics).

    Why this shape: speed is the constraint on a 2-core CPU, and a 3x3 convolution costs
    H W 9 C_in C_out multiply-adds per image. One conv at 28x28 (0.2M) is enough to find edges; the
    capacity sits at 14x14 (3.6M + 7.2M) and 7x7 (3.6M + 7.2M), 21.9M multiply-adds per image forward in
    all, against small_vgg's 18.6M (two 32-filter convs at 28x28 cost it 7.4M), the 7x7 maps being the
    cheapest place for the second 128-filter conv. Fashion-MNIST's garments are centred and upright but
    left-right symmetric in meaning, so the flip and small shifts are label-preserving; they and the
    dropout keep 280K parameters from overfitting 60,000 images over 40 epochs. (With one 128-filter
    conv, 131,754 parameters, the recipe ended at 93.35%: docs/training.md.)
    """
    stack = [L.InputLayer(shape=input_shape), L.RandomFlip("horizontal"),
             L.RandomTranslation(0.1, 0.1, fill_mode="constant", interpolation="nearest")]
    stack += _conv_bn_relu(32) + [L.MaxPooling2D()]
    stack += _conv_bn_relu(64) + _conv_bn_relu(64) + [L.MaxPooling2D()]
    stack += _conv_bn_relu(128) + _conv_bn_relu(128)
    stack += [L.GlobalAveragePooling2D(), L.Dropout(0.3), L.Dense(num_classes, activation="softmax")]
    return Sequential(stack, name="augmented_vgg")


def _residual_block(x, filters: int, strides: int):
    """conv-BN-ReLU-conv-BN plus the shortcut (a 1x1 projection when the shape changes), then ReLU."""
    shortcut = x
    y = L.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False)(x)
    y = L.ReLU()(L.BatchNormalization()(y))
    y = L.BatchNormalization()(L.Conv2D(filters, 3, padding="same", use_bias=False)(y))
    if strides != 1 or x.shape[-1] != filters:
        shortcut = L.BatchNormalization()(L.Conv2D(filters, 1, strides=strides, use_bias=False)(x))
    return L.ReLU()(L.Add()([y, shortcut]))


def small_resnet(input_shape=(28, 28, 1), num_classes=10) -> Model:
    """A small ResNet (He et al., 2015): a 3x3 stem, three residual blocks of 16, 32
    and 64 filters (the last two strided, with 1x1 projections), global average
    pooling and softmax. 78,426 parameters on 28x28x1 inputs.
    """
    inputs = L.Input(shape=input_shape)
    x = L.ReLU()(L.BatchNormalization()(L.Conv2D(16, 3, padding="same", use_bias=False)(inputs)))
    for filters, strides in ((16, 1), (32, 2), (64, 2)):
        x = _residual_block(x, filters, strides)
    outputs = L.Dense(num_classes, activation="softmax")(L.GlobalAveragePooling2D()(x))
    return Model(inputs, outputs, name="small_resnet")


def _double_conv(x, filters: int):
    for _ in range(2):
        x = L.ReLU()(L.BatchNormalization()(L.Conv2D(filters, 3, padding="same", use_bias=False)(x)))
    return x


def unet(input_shape=(32, 32, 1), num_classes=1, base_filters=8, depth=2) -> Model:
    """U-Net (Ronneberger et al., 2015): an encoder of Conv2D/BatchNormalization/MaxPooling2D,
    a bottleneck, and a decoder of Conv2DTranspose (2x2, stride 2) + Concatenate skip
    connections; a 1x1 convolution gives per-pixel scores (sigmoid for one class,
    softmax otherwise). 29,801 parameters with the defaults.
    """
    inputs = L.Input(shape=input_shape)
    x, skips = inputs, []
    for level in range(depth):
        x = _double_conv(x, base_filters * 2 ** level)
        skips.append(x)
        x = L.MaxPooling2D()(x)
    x = _double_conv(x, base_filters * 2 ** depth)
    for level in reversed(range(depth)):
        x = L.Conv2DTranspose(base_filters * 2 ** level, 2, strides=2)(x)
        x = _double_conv(L.Concatenate()([x, skips[level]]), base_filters * 2 ** level)
    activation = "sigmoid" if num_classes == 1 else "softmax"
    outputs = L.Conv2D(num_classes, 1, activation=activation)(x)
    return Model(inputs, outputs, name="unet")


def signal1d(input_shape=(512, 1), num_classes=2) -> Sequential:
    """A 1D CNN for vibration signals (healthy vs faulty bearing), after the 1D-CNN tutorials:
    three Conv1D layers of width 9 (16, 32, 32 filters) with ReLU and max pooling, global
    average pooling, a softmax. 14,114 parameters for (512, 1) inputs and 2 classes
    (160 + 4,640 + 9,248 + 66).
    """
    stack = [L.InputLayer(shape=input_shape)]
    for filters in (16, 32, 32):
        stack += [L.Conv1D(filters, 9, padding="same", activation="relu"), L.MaxPooling1D(2)]
    stack += [L.GlobalAveragePooling1D(), L.Dense(num_classes, activation="softmax")]
    return Sequential(stack, name="signal1d")


def mnist1d_cnn(input_shape=(40, 1), num_classes=10) -> Sequential:
    """The CNN of MNIST-1D (Greydanus, 2020; the mnist1d repository's ``ConvBase``): three Conv1D of 25
    channels, widths 5, 3, 3, stride 2, each after a zero padding of 1 on both sides (PyTorch's
    ``padding=1``), ReLU, flatten, dense softmax. (N, 40, 1) -> (N, 19, 25) -> (N, 10, 25) -> (N, 5, 25)
    -> (N, 10): 5,210 parameters (150 + 1,900 + 1,900 + 1,260).

    Kernels are drawn as PyTorch's default draws them (uniform in +-1/sqrt(fan_in): VarianceScaling of
    scale 1/3, fan_in, uniform), the initialisation of the published 94%. With Keras's glorot_uniform the
    same recipe (``clearconv train --data mnist1d``) ended at 93.0% and 92.4% instead of 95.7% and 94.7% on
    seeds 0 and 1 (93.8% against 93.0% on seed 2). Biases start at zero.
    """
    def conv(filters: int, width: int, **options):
        return L.Conv1D(filters, width, strides=2, activation="relu",
                        kernel_initializer=_pytorch_default_initializer(), **options)
    return Sequential([
        L.ZeroPadding1D(1, input_shape=input_shape), conv(25, 5),     # padding "same" would pad 40 to 20 outputs
        L.ZeroPadding1D(1), conv(25, 3),
        L.ZeroPadding1D(1), conv(25, 3),                               # "same" would pad 10 on the right only
        L.Flatten(),
        L.Dense(num_classes, activation="softmax", kernel_initializer=_pytorch_default_initializer()),
    ], name="mnist1d_cnn")


def _pytorch_default_initializer():
    """PyTorch's default kernel draw for Conv and Linear (kaiming_uniform with a = sqrt(5)): uniform in
    +-sqrt(6 / ((1 + 5) fan_in)) = +-1/sqrt(fan_in), which is VarianceScaling(1/3, "fan_in", "uniform")."""
    from .initializers import VarianceScaling
    return VarianceScaling(scale=1 / 3, mode="fan_in", distribution="uniform")


def siamese(input_shape=(28, 28, 1), embedding_size=32) -> Model:
    """A siamese network (Bromley et al., 1993; Koch et al., 2015): one convolutional tower
    applied to both inputs (shared weights), the squared difference of the two embeddings,
    and a sigmoid "same class" score. 5,889 parameters on 28x28x1 inputs.
    """
    tower = Sequential([
        L.Conv2D(16, 3, activation="relu", input_shape=input_shape),
        L.MaxPooling2D(),
        L.Conv2D(32, 3, activation="relu"),
        L.GlobalAveragePooling2D(),
        L.Dense(embedding_size, activation="relu"),
    ], name="tower")
    left, right = L.Input(shape=input_shape, name="left"), L.Input(shape=input_shape, name="right")
    difference = L.Subtract()([tower(left), tower(right)])
    score = L.Dense(1, activation="sigmoid")(L.Multiply()([difference, difference]))
    return Model([left, right], score, name="siamese")


MODELS = {"digits_cnn": digits_cnn, "lenet5": lenet5, "small_vgg": small_vgg, "small_resnet": small_resnet,
          "augmented_vgg": augmented_vgg,
          "unet": unet, "signal1d": signal1d, "mnist1d_cnn": mnist1d_cnn, "siamese": siamese}


def get(name: str, **kwargs):
    """Build a zoo model by name; unknown names raise ValueError listing the valid ones."""
    if name not in MODELS:
        raise ValueError(f"Unknown zoo model {name!r}. Valid: {', '.join(sorted(MODELS))}")
    return MODELS[name](**kwargs)
