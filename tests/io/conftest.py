"""Small models of every family the model file stores, and their saved files.

The fixture ``build`` hands the builders below to the tests (a tests/io module
cannot be imported by name: the folder's name is the standard library's ``io``).

``model_files`` saves each model once per test session: a trained, compiled
Sequential CNN (its file holds optimizer state), a functional model with
merges, an op node and seeded noise, a functional model of most other layers
(uncompiled), and a weights-only file.
"""

import types

import numpy as np
import pytest

import clearconv
from clearconv import layers as L
from clearconv import utils


def sequential_cnn():
    """Conv, batch norm, pooling, seeded and unseeded dropout, dense: (None, 8, 8, 1) -> (None, 3)."""
    return clearconv.Sequential([
        L.Input((8, 8, 1)),
        L.Conv2D(4, 3, padding="same", activation="relu"),
        L.BatchNormalization(),
        L.MaxPooling2D(),
        L.Dropout(0.25),
        L.Conv2D(6, 3, dilation_rate=2, padding="same"),
        L.Flatten(),
        L.Dropout(0.5, seed=7),
        L.Dense(3, activation="softmax"),
    ])


def functional_model():
    """Two branches merged by Add and Concatenate, an op node, depthwise and transposed convolutions,
    layer normalisation and a Normalization layer with its statistics: (None, 8, 8, 2) -> (None, 4)."""
    inputs = clearconv.Input((8, 8, 2))
    x = L.Normalization(mean=[0.5, 0.25], variance=[2.0, 4.0])(inputs)
    a = L.Conv2D(4, 3, padding="same")(x)
    b = L.DepthwiseConv2D(3, padding="same", depth_multiplier=2)(x)
    x = L.Add()([a, b]) * 0.5
    x = L.LayerNormalization()(x)
    x = L.Conv2DTranspose(3, 2, strides=2)(x)
    x = L.AveragePooling2D(2)(x)
    x = L.Concatenate()([x, L.SeparableConv2D(2, 3, padding="same")(x)])
    x = L.GlobalAveragePooling2D()(x)
    x = L.GaussianNoise(0.1, seed=3)(x)
    outputs = L.Dense(4)(x)
    return clearconv.Model(inputs, outputs)


def wide_model():
    """One of most other layers: padding, cropping, merges, group and unit normalisation, activations as
    layers, resizing, a nested Sequential, permute and reshape into a 1-D convolution, a dot product:
    (None, 8, 8, 3) -> (None, 2)."""
    inputs = clearconv.Input((8, 8, 3))
    x = L.Rescaling(1 / 255.0, offset=-0.5)(inputs)
    x = L.Cropping2D(((1, 1), (1, 1)))(L.ZeroPadding2D(1)(x))
    a = L.GroupNormalization(groups=2)(L.Conv2D(4, 3, padding="same", activation="relu")(x))
    b = L.UnitNormalization()(L.Conv2D(4, 1)(x))
    x = L.Subtract()([a, b])
    x = L.Maximum()([x, L.PReLU()(x)])
    x = L.Multiply()([x, L.LeakyReLU(0.2)(x)])
    x = L.GaussianDropout(0.1)(L.SpatialDropout2D(0.2, seed=1)(x))
    x = L.UpSampling2D(2)(L.MaxPooling2D(2, padding="same")(x))
    x = L.ActivityRegularization(l2=0.01)(L.CenterCrop(4, 4)(L.Resizing(6, 6)(x)))
    x = clearconv.Sequential([L.Conv2D(3, 2), L.ELU(), L.ReLU(max_value=6.0)], name="inner")(x)
    x = L.Reshape((9, 3))(L.Permute((2, 1, 3))(x))
    y = L.GlobalMaxPooling1D()(L.Conv1D(2, 3, padding="causal")(x))
    z = L.Dense(2)(L.Flatten()(x))
    x = L.Flatten()(L.RepeatVector(2)(L.Dot(axes=1)([y, z])))
    outputs = L.Softmax()(L.Identity()(L.Activation("tanh")(x)))
    return clearconv.Model(inputs, outputs)


def toy_data(count, shape, classes, seed=0):
    local = np.random.default_rng(seed)
    return local.random((count, *shape), dtype=np.float32), local.integers(0, classes, count)


@pytest.fixture(scope="session")
def build():
    """The builders: ``build.sequential_cnn()``, ``build.functional_model()``, ``build.toy_data(...)``."""
    return types.SimpleNamespace(sequential_cnn=sequential_cnn, functional_model=functional_model,
                                 wide_model=wide_model, toy_data=toy_data)


@pytest.fixture(scope="session")
def model_files(tmp_path_factory):
    """{"sequential", "functional", "wide", "weights"}: paths of valid files (read-only by convention: copy to
    mutate); the wide model is saved uncompiled."""
    folder = tmp_path_factory.mktemp("model_files")
    utils.set_seed(0)
    sequential = sequential_cnn()
    sequential.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = toy_data(16, (8, 8, 1), 3)
    sequential.fit(x, y, epochs=1, batch_size=8, verbose=0)
    functional = functional_model()
    functional.compile(optimizer=clearconv.optimizers.SGD(0.01, momentum=0.9), loss="mse")
    x, _ = toy_data(8, (8, 8, 2), 1)
    functional.fit(x, np.zeros((8, 4), np.float32), epochs=1, batch_size=4, verbose=0)
    paths = {"sequential": folder / "sequential.clearconv", "functional": folder / "functional.clearconv",
             "wide": folder / "wide.clearconv", "weights": folder / "weights.clearconv"}
    sequential.save(paths["sequential"])
    functional.save(paths["functional"])
    wide_model().save(paths["wide"])
    sequential.save_weights(paths["weights"])
    return paths
