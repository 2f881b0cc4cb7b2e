"""CNN code as Keras's examples and the common tutorials write it, run with ``import clearconv as
keras``: the "Simple MNIST convnet" example on Fashion-MNIST, a U-Net, and the "feature maps of
every layer" visualisation.

Each piece of code is written once, as a function of the module, and run against clearconv and
against real Keras 3 (``clear_session()`` first in both, so the automatic names agree). Every model
gets Keras's initial weights; predictions, summaries, histories, evaluations and the weights after
training must then agree to float32 rounding.
"""

from pathlib import Path

import numpy as np
import pytest
import keras_oracle
from keras_oracle import (assert_same_history, assert_same_numbers, assert_same_weights_after_adaptive_steps,
                          copy_weights, import_keras, summary_text)

import clearconv

keras = import_keras()

LIBRARIES = (clearconv, keras)
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                       "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


@pytest.fixture(autouse=True)
def console_width(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")


def in_both(code, *args):
    return keras_oracle.in_both(code, *args, libraries=LIBRARIES)


# === "Simple MNIST convnet" (keras.io/examples/vision/mnist_convnet), on Fashion-MNIST =============

@pytest.fixture
def fashion_mnist(monkeypatch):
    """Both libraries' fashion_mnist.load_data() read Debian's dataset-fashion-mnist files: clearconv
    finds them itself; Keras's get_file is pointed at them, so nothing is downloaded."""
    if not all((FASHION_MNIST_DIR / name).exists() for name in FASHION_MNIST_FILES):
        pytest.skip(f"Fashion-MNIST is not in {FASHION_MNIST_DIR} (apt-get install dataset-fashion-mnist)")
    for name in ("CLEARCONV_FASHION_MNIST", "KERAS_HOME"):
        monkeypatch.delenv(name, raising=False)
    import importlib
    keras_loader = importlib.import_module("keras.src.datasets.fashion_mnist")
    monkeypatch.setattr(keras_loader, "get_file", lambda fname, origin, **kwargs: str(FASHION_MNIST_DIR / fname))


def mnist_convnet_data(keras, n_train=512, n_test=256):
    """The example's "Prepare the data", on the first n_train training and n_test test images."""
    # Model / data parameters
    num_classes = 10

    # Load the data and split it between train and test sets
    (x_train, y_train), (x_test, y_test) = keras.datasets.fashion_mnist.load_data()
    x_train, y_train, x_test, y_test = x_train[:n_train], y_train[:n_train], x_test[:n_test], y_test[:n_test]

    # Scale images to the [0, 1] range
    x_train = x_train.astype("float32") / 255
    x_test = x_test.astype("float32") / 255
    # Make sure images have shape (28, 28, 1)
    x_train = np.expand_dims(x_train, -1)
    x_test = np.expand_dims(x_test, -1)

    # convert class vectors to binary class matrices
    y_train = keras.utils.to_categorical(y_train, num_classes)
    y_test = keras.utils.to_categorical(y_test, num_classes)
    return (x_train, y_train), (x_test, y_test)


def mnist_convnet_model(keras):
    """The example's "Build the model"."""
    layers = keras.layers
    num_classes = 10
    input_shape = (28, 28, 1)
    model = keras.Sequential(
        [
            keras.Input(shape=input_shape),
            layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Flatten(),
            layers.Dropout(0.5),
            layers.Dense(num_classes, activation="softmax"),
        ]
    )
    return model


def mnist_convnet_training(keras, model, data, epochs=1):
    """The example's "Train the model" and "Evaluate the trained model", shuffle=False."""
    (x_train, y_train), (x_test, y_test) = data
    batch_size = 128
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    history = model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, validation_split=0.1,
                        shuffle=False, verbose=0)
    score = model.evaluate(x_test, y_test, verbose=0)
    return history, score


def test_mnist_convnet_data_preparation_as_keras(fashion_mnist):
    ((x_train, y_train), (x_test, y_test)), expected = in_both(mnist_convnet_data)
    for got, want in zip((x_train, y_train, x_test, y_test), (*expected[0], *expected[1])):
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)
    assert x_train.shape == (512, 28, 28, 1) and x_train.dtype == np.float32
    assert y_train.shape == (512, 10) and 0.0 <= x_train.min() and x_train.max() <= 1.0


def test_mnist_convnet_model_summary_as_keras():
    ours, theirs = in_both(mnist_convnet_model)
    assert summary_text(ours) == summary_text(theirs)
    assert ours.count_params() == theirs.count_params() == 34_826


def test_mnist_convnet_training_and_evaluation_as_keras(fashion_mnist):
    ours, theirs = in_both(mnist_convnet_model)
    copy_weights(theirs, ours)
    # Dropout's masks come from each library's own generator: with rate 0 both take the same Adam
    # steps from the same start on the same batches, and every number can be compared.
    for model in (ours, theirs):
        model.get_layer("dropout").rate = 0.0
    data = mnist_convnet_data(clearconv)
    (our_history, our_score), (their_history, their_score) = \
        (mnist_convnet_training(library, model, data) for library, model in zip(LIBRARIES, (ours, theirs)))
    assert sorted(our_history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert_same_history(our_history, their_history, rtol=1e-5)
    np.testing.assert_allclose(our_score, their_score, rtol=1e-5)
    assert_same_weights_after_adaptive_steps(ours, theirs, learning_rate=1e-3)
    # validation_split=0.1 holds out Keras's last 52 of the 512 samples: 461 train in 4 batches.
    assert our_history.params["steps"] == 4


def test_mnist_convnet_example_runs_unchanged(fashion_mnist, capsys):
    """The whole example as written (Dropout 0.5, model.summary() to stdout), in clearconv."""
    model = mnist_convnet_model(clearconv)
    model.summary()
    assert "Total params: 34,826" in capsys.readouterr().out
    history, score = mnist_convnet_training(clearconv, model, mnist_convnet_data(clearconv), epochs=2)
    assert sorted(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert all(len(values) == 2 and np.all(np.isfinite(values)) for values in history.history.values())
    assert history.history["loss"][1] < history.history["loss"][0]
    test_loss, test_accuracy = score
    assert np.isfinite(test_loss) and 0.0 <= test_accuracy <= 1.0


# === A U-Net as the segmentation tutorials write it ================================================

def unet(keras, input_shape=(32, 32, 1), list_io=False):
    """Conv blocks down, MaxPooling2D, a bottleneck, Conv2DTranspose up with skip concatenations, and a
    1x1 sigmoid convolution for the mask. ``list_io``: ``Model(inputs=[inputs], outputs=[outputs])``,
    as many tutorials write it."""
    layers = keras.layers

    def conv_block(x, filters):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        return x

    inputs = keras.Input(input_shape)
    c1 = conv_block(inputs, 8)
    p1 = layers.MaxPooling2D((2, 2))(c1)
    c2 = conv_block(p1, 16)
    p2 = layers.MaxPooling2D((2, 2))(c2)

    b = conv_block(p2, 32)

    u2 = layers.Conv2DTranspose(16, (2, 2), strides=(2, 2), padding="same")(b)
    u2 = layers.concatenate([u2, c2])
    c3 = conv_block(u2, 16)
    u1 = layers.Conv2DTranspose(8, (2, 2), strides=(2, 2), padding="same")(c3)
    u1 = layers.concatenate([u1, c1])
    c4 = conv_block(u1, 8)

    outputs = layers.Conv2D(1, (1, 1), activation="sigmoid")(c4)
    if list_io:
        return keras.Model(inputs=[inputs], outputs=[outputs], name="unet")
    return keras.Model(inputs, outputs, name="unet")


def segmentation_batch(n=8, size=32):
    rng = np.random.default_rng(20)
    images = rng.random((n, size, size, 1), dtype="float32")
    masks = (images > 0.5).astype("float32")
    return images, masks


def test_unet_summary_predictions_and_one_training_step_as_keras():
    ours, theirs = in_both(unet)
    assert summary_text(ours) == summary_text(theirs)
    assert ours.output_shape == theirs.output_shape == (None, 32, 32, 1)
    copy_weights(theirs, ours)
    images, masks = segmentation_batch()
    assert_same_numbers(ours.predict(images, verbose=0), theirs.predict(images, verbose=0))
    histories = []
    for model in (ours, theirs):
        model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
        histories.append(model.fit(images, masks, batch_size=8, epochs=1, shuffle=False, verbose=0))
    assert_same_history(*histories)
    assert_same_weights_after_adaptive_steps(ours, theirs, learning_rate=1e-3)


def test_unet_with_list_inputs_and_outputs_predicts_one_array_as_keras():
    ours, theirs = in_both(unet, (32, 32, 1), True)
    copy_weights(theirs, ours)
    images, _ = segmentation_batch(n=2)
    expected = theirs.predict(images, verbose=0)
    assert isinstance(expected, np.ndarray)
    got = ours.predict(images, verbose=0)
    assert isinstance(got, np.ndarray) and got.shape == expected.shape == (2, 32, 32, 1)
    assert ours.input_shape == theirs.input_shape == (None, 32, 32, 1)
    assert ours.output_shape == theirs.output_shape == (None, 32, 32, 1)


# === "Feature maps of every layer", as the visualisation tutorials write it ======================

def vgg_like(keras):
    layers = keras.layers
    return keras.Sequential([
        keras.Input(shape=(32, 32, 3)),
        layers.Conv2D(16, 3, activation="relu", padding="same"),
        layers.Conv2D(16, 3, activation="relu", padding="same"),
        layers.MaxPooling2D(2),
        layers.Conv2D(32, 3, activation="relu", padding="same"),
        layers.Conv2D(32, 3, activation="relu", padding="same"),
        layers.MaxPooling2D(2),
        layers.Flatten(),
        layers.Dense(64, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])


def functional_cnn(keras):
    """The cats-vs-dogs tutorials' functional CNN, whose model.layers[0] is the InputLayer."""
    layers = keras.layers
    img_input = layers.Input(shape=(32, 32, 3))
    x = layers.Conv2D(16, 3, activation="relu")(img_input)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(32, 3, activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(32, activation="relu")(x)
    output = layers.Dense(1, activation="sigmoid")(x)
    return keras.Model(img_input, output)


def feature_maps(keras, model, img):
    """The tutorials' visualisation: a model whose outputs are the outputs of every layer after the
    first, its predictions, and for each convolutional map a display grid of its channels side by side."""
    successive_outputs = [layer.output for layer in model.layers[1:]]
    visualization_model = keras.Model(inputs=model.inputs, outputs=successive_outputs)
    successive_feature_maps = visualization_model.predict(img, verbose=0)

    layer_names = [layer.name for layer in model.layers[1:]]
    shown = []
    for layer_name, feature_map in zip(layer_names, successive_feature_maps):
        if len(feature_map.shape) == 4:
            # Just do this for the conv / maxpool layers, not the fully-connected layers
            n_features = feature_map.shape[-1]  # number of features in feature map
            size = feature_map.shape[1]  # feature map has shape (1, size, size, n_features)
            # Tile the images in this matrix
            display_grid = np.zeros((size, size * n_features))
            for i in range(n_features):
                # Postprocess the feature to make it visually palatable
                x = feature_map[0, :, :, i].copy()
                x -= x.mean()
                x /= x.std() + 1e-5
                x *= 64
                x += 128
                x = np.clip(x, 0, 255).astype("uint8")
                display_grid[:, i * size: (i + 1) * size] = x
            shown.append((layer_name, feature_map.shape, display_grid))
        else:
            shown.append((layer_name, feature_map.shape, None))
    return successive_feature_maps, shown


@pytest.mark.parametrize("architecture", [vgg_like, functional_cnn])
def test_feature_maps_of_every_layer_as_keras(architecture):
    ours, theirs = in_both(architecture)
    copy_weights(theirs, ours)
    img = np.random.default_rng(21).random((1, 32, 32, 3), dtype="float32")
    (our_maps, our_shown), (their_maps, their_shown) = (
        feature_maps(library, model, img) for library, model in zip(LIBRARIES, (ours, theirs)))
    assert isinstance(our_maps, list) and len(our_maps) == len(their_maps) == len(ours.layers) - 1
    assert [(name, shape) for name, shape, _ in our_shown] == [(name, shape) for name, shape, _ in their_shown]
    for got, want in zip(our_maps, their_maps):
        assert_same_numbers(got, want, rtol=1e-4, atol=1e-6)
    grids = [(ours_grid, theirs_grid) for (_, _, ours_grid), (_, _, theirs_grid) in zip(our_shown, their_shown)
             if ours_grid is not None]
    assert grids
    for got, want in grids:  # uint8 pixels: float32 rounding may move a value across a step
        np.testing.assert_allclose(got, want, atol=1)


def test_feature_map_shapes_of_the_vgg_like_model():
    model = vgg_like(clearconv)
    _, shown = feature_maps(clearconv, model, np.zeros((1, 32, 32, 3), "float32"))
    assert [shape for _, shape, _ in shown] == [
        (1, 32, 32, 16), (1, 16, 16, 16), (1, 16, 16, 32), (1, 16, 16, 32), (1, 8, 8, 32), (1, 2048), (1, 64),
        (1, 10)]
    assert [grid.shape for _, _, grid in shown if grid is not None] == [(32, 512), (16, 256), (16, 512), (16, 512),
                                                                      (8, 256)]
