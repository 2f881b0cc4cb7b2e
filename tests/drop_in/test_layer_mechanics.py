"""Keras 3's layer mechanics with the import changed: subclassed layers and models, add_weight,
tracking, add_loss, training propagation, variables; each compared with real Keras 3 running
the same code."""

import numpy as np
import pytest
from keras_oracle import import_keras

import clearconv
from clearconv import Tensor

keras = import_keras()


def define_guide_layers(k):
    """The "Making new layers and models via subclassing" guide's layers, written against ``k``."""

    class Linear(k.layers.Layer):
        def __init__(self, units=32, **kwargs):
            super().__init__(**kwargs)
            self.units = units

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal",
                                     trainable=True, name="w")
            self.b = self.add_weight(shape=(self.units,), initializer="zeros", trainable=True, name="b")

        def call(self, inputs):
            return k.ops.matmul(inputs, self.w) + self.b

    class ComputeSum(k.layers.Layer):
        def __init__(self, input_dim):
            super().__init__()
            self.total = self.add_weight(initializer="zeros", shape=(input_dim,), trainable=False, name="total")

        def call(self, inputs):
            self.total.assign_add(k.ops.sum(inputs, axis=0))
            return self.total

    class MLPBlock(k.layers.Layer):
        def __init__(self):
            super().__init__()
            self.linear_1 = Linear(32)
            self.linear_2 = Linear(32)
            self.linear_3 = Linear(1)

        def call(self, inputs):
            x = self.linear_1(inputs)
            x = k.activations.relu(x)
            x = self.linear_2(x)
            x = k.activations.relu(x)
            return self.linear_3(x)

    class ActivityRegularizationLayer(k.layers.Layer):
        def __init__(self, rate=1e-2):
            super().__init__()
            self.rate = rate

        def call(self, inputs):
            self.add_loss(self.rate * k.ops.mean(inputs))
            return inputs

    class OuterLayer(k.layers.Layer):
        def __init__(self):
            super().__init__()
            self.activity_reg = ActivityRegularizationLayer(1e-2)

        def call(self, inputs):
            return self.activity_reg(inputs)

    class CustomDropout(k.layers.Layer):
        def __init__(self, rate, **kwargs):
            super().__init__(**kwargs)
            self.rate = rate

        def call(self, inputs, training=None):
            if training:
                return inputs * 0.0
            return inputs

    return dict(Linear=Linear, ComputeSum=ComputeSum, MLPBlock=MLPBlock, OuterLayer=OuterLayer,
                CustomDropout=CustomDropout)


OURS, THEIRS = define_guide_layers(clearconv), define_guide_layers(keras)


def rng_array(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


def copy_weights(source, target):
    target.set_weights([np.asarray(w) for w in source.get_weights()])


def test_linear_layer_weights_and_output_match_keras():
    ours, theirs = OURS["Linear"](4), THEIRS["Linear"](4)
    x = rng_array((3, 5))
    theirs(x)
    ours(x)
    assert [(w.name, tuple(w.shape), w.trainable) for w in ours.weights] == \
        [(w.name, tuple(w.shape), w.trainable) for w in theirs.weights]
    assert [w.path for w in ours.weights] == [f"{ours.name}/w", f"{ours.name}/b"]
    copy_weights(theirs, ours)
    np.testing.assert_allclose(ours(x), np.asarray(theirs(x)), rtol=1e-6, atol=1e-6)


def test_non_trainable_weight_and_assign_add_match_keras():
    ours, theirs = OURS["ComputeSum"](2), THEIRS["ComputeSum"](2)
    x = np.ones((2, 2), dtype="float32")
    for _ in range(2):
        y_ours, y_theirs = ours(x), theirs(x)
    np.testing.assert_array_equal(np.asarray(y_ours), np.asarray(y_theirs))
    assert (len(ours.weights), len(ours.trainable_weights), len(ours.non_trainable_weights)) == \
        (len(theirs.weights), len(theirs.trainable_weights), len(theirs.non_trainable_weights)) == (1, 0, 1)


def test_nested_layers_are_tracked_in_keras_order():
    ours, theirs = OURS["MLPBlock"](), THEIRS["MLPBlock"]()
    x = rng_array((3, 64), seed=1)
    theirs(x)
    ours(x)
    assert [tuple(w.shape) for w in ours.weights] == [tuple(w.shape) for w in theirs.weights]
    assert len(ours.trainable_variables) == len(theirs.trainable_variables) == 6
    copy_weights(theirs, ours)
    np.testing.assert_allclose(ours(x), np.asarray(theirs(x)), rtol=1e-5, atol=1e-5)


def test_add_loss_is_collected_from_nested_layers_and_reset_per_call():
    ours, theirs = OURS["OuterLayer"](), THEIRS["OuterLayer"]()
    for x in (np.zeros((1, 1), "float32"), np.full((2, 3), 4.0, "float32")):
        ours(x)
        theirs(x)
        assert len(ours.losses) == len(theirs.losses) == 1
        np.testing.assert_allclose(float(np.asarray(ours.losses[0].data)), float(theirs.losses[0]), rtol=1e-6)


def test_training_flag_reaches_nested_layers_as_in_keras():
    for k, defined in ((clearconv, OURS), (keras, THEIRS)):
        inputs = k.Input((3,))
        outputs = defined["CustomDropout"](0.5)(k.layers.Dense(3, kernel_initializer="ones")(inputs))
        model = k.Model(inputs, outputs)
        x = np.ones((2, 3), "float32")
        assert np.all(np.asarray(model(x, training=True)) == 0.0)
        assert np.all(np.asarray(model(x, training=False)) == 3.0)


def define_cnn(k):
    """A subclassed CNN as in Keras's guides, its layers in attributes and in a list."""

    class SubclassedCNN(k.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.conv = k.layers.Conv2D(4, 3, activation="relu", name="conv")
            self.pool = k.layers.MaxPooling2D(name="pool")
            self.blocks = [k.layers.Dense(8, activation="relu", name="hidden"), k.layers.Dense(3, name="logits")]
            self.flatten = k.layers.Flatten(name="flatten")

        def call(self, inputs, training=False):
            x = self.flatten(self.pool(self.conv(inputs)))
            for layer in self.blocks:
                x = layer(x)
            return x

    return SubclassedCNN


SubclassedCNN = define_cnn(clearconv)


def test_subclassed_model_tracks_layers_in_lists_and_matches_keras():
    ours, theirs = SubclassedCNN(), define_cnn(keras)()
    x = rng_array((2, 8, 8, 1), seed=2)
    theirs(x)
    ours(x)
    assert [tuple(w.shape) for w in ours.weights] == [tuple(w.shape) for w in theirs.weights]
    assert sorted(l.name for l in ours.layers) == sorted(l.name for l in theirs.layers)
    copy_weights(theirs, ours)
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_subclassed_model_inside_a_functional_model_gets_its_output_shape_from_a_trial_run():
    inputs = clearconv.Input((8, 8, 1))
    model = clearconv.Model(inputs, SubclassedCNN()(inputs))
    assert model.output_shape == (None, 3)


def test_freezing_a_subclassed_layer_freezes_its_sublayers():
    block = OURS["MLPBlock"]()
    block(np.ones((1, 4), "float32"))
    block.trainable = False
    assert block.trainable_weights == [] and len(block.non_trainable_weights) == 6
    assert not block.linear_1.trainable


def test_gradients_flow_through_a_subclassed_layer():
    """d/dw of sum(x @ w + b) is x summed over the batch, for every column."""
    layer = OURS["Linear"](2)
    x = rng_array((3, 4), seed=3).astype("float32")
    layer(x)
    layer(Tensor(x)).sum().backward()
    np.testing.assert_allclose(layer.w.grad, np.repeat(x.sum(axis=0)[:, None], 2, axis=1), rtol=1e-6)
    np.testing.assert_allclose(layer.b.grad, [3.0, 3.0])


def test_add_weight_refuses_a_positional_name_as_keras_3_does():
    class Bad(clearconv.layers.Layer):
        def build(self, input_shape):
            self.add_weight("kernel", (2, 2))

    with pytest.raises(ValueError, match="`name` must be passed as a keyword argument"):
        Bad()(np.ones((1, 2), "float32"))


def test_variable_api_matches_keras():
    ours = clearconv.Variable(np.array([1.0, 2.0], "float32"), name="v")
    theirs = keras.Variable(np.array([1.0, 2.0], "float32"), name="v")
    for variable in (ours, theirs):
        variable.assign_add(np.array([0.5, 0.5], "float32"))
        variable.assign_sub(np.array([1.0, 0.0], "float32"))
    np.testing.assert_array_equal(ours.numpy(), np.asarray(theirs.value))
    assert ours.name == theirs.name and ours.trainable == theirs.trainable
    made = clearconv.Variable("ones", shape=(2, 3), dtype="float32", trainable=False)
    np.testing.assert_array_equal(made.numpy(), np.ones((2, 3)))
    assert not made.trainable
    with pytest.raises(ValueError, match="cannot assign a value of shape"):
        ours.assign(np.zeros(3))


def test_subclass_without_get_config_serializes_its_constructor_arguments():
    layer = OURS["Linear"](units=7, name="lin")
    config = layer.get_config()
    assert config["units"] == 7 and config["name"] == "lin"
    clone = type(layer).from_config(config)
    assert clone.units == 7


def test_weight_paths_name_the_calls_they_were_created_in_as_keras():
    """Keras 3 prefixes a weight's path with the layers being called when it was created."""

    def paths(k):
        k.backend.clear_session()
        layers = k.layers

        class Block(layers.Layer):
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.inner = layers.Dense(2)

            def call(self, x):
                return self.inner(x)

        class Net(k.Model):
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.block, self.head = Block(), layers.Dense(1)

            def call(self, x):
                return self.head(self.block(x))

        x = np.ones((1, 3), "float32")
        with_input = k.Sequential([k.Input((3,)), layers.Dense(2)])
        built_by_call = k.Sequential([layers.Dense(2)])
        built_by_call(x)
        net = Net()
        net(x)
        direct = layers.Dense(2)
        direct.build((None, 3))
        return [[w.path for w in model.weights] for model in (with_input, built_by_call, net, direct)]

    assert paths(clearconv) == paths(keras)


def test_a_shared_layer_adds_the_loss_terms_of_each_call_as_keras():
    """A siamese tower: the shared Dense's activity penalty counts once per call within a forward."""

    def losses(k):
        k.backend.clear_session()
        shared = k.layers.Dense(3, activity_regularizer="l2", kernel_initializer="ones", name="shared")
        left, right = k.Input((4,)), k.Input((4,))
        model = k.Model([left, right], k.layers.subtract([shared(left), shared(right)]))
        x = [np.full((2, 4), 0.5, "float32"), np.full((2, 4), -1.0, "float32")]
        model(x)
        first = sorted(float(np.asarray(getattr(loss, "data", loss))) for loss in model.losses)
        model(x)
        return first, len(model.losses)

    (ours, count_ours), (theirs, count_theirs) = losses(clearconv), losses(keras)
    assert count_ours == count_theirs == 2
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)
