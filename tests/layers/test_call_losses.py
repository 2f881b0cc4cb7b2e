"""Loss terms of a call (add_loss, activity penalties): an outermost call replaces the previous call's terms,
as in Keras, whichever layers hold them: nested layers, a copied layer, a layer class without a hash."""

import copy

import numpy as np

import clearconv
from clearconv import layers


class Penalty(layers.Layer):
    """Adds rate * mean(inputs) as a loss term on every call."""

    def __init__(self, rate=0.5, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate

    def call(self, inputs):
        self.add_loss(self.rate * clearconv.ops.mean(inputs))
        return inputs


class Outer(layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.inner = Penalty(0.25)

    def call(self, inputs):
        return self.inner(self.inner(inputs))      # the inner layer twice in one outermost call


class Unhashable(Penalty):
    def __eq__(self, other):                        # defines __eq__ without __hash__: instances have no hash
        return isinstance(other, Unhashable) and other.rate == self.rate


X = np.arange(6, dtype=np.float32).reshape(2, 3)    # mean 2.5


def values(layer):
    return [float(np.asarray(loss)) for loss in layer.losses]


def test_each_outermost_call_replaces_the_terms_of_the_last():
    layer = Penalty()
    layer(X)
    layer(X * 2)
    assert values(layer) == [0.5 * 5.0]


def test_nested_calls_add_their_terms_within_one_outermost_call():
    outer = Outer()
    outer(X)
    outer(X)
    assert values(outer) == [0.25 * 2.5, 0.25 * 2.5]


def test_a_layer_class_without_a_hash_adds_and_replaces_terms():
    layer = Unhashable()
    layer(X)
    layer(X)
    assert values(layer) == [1.25]


def test_a_copied_layer_replaces_the_terms_it_was_copied_with():
    layer = Penalty()
    layer(X)
    twin = copy.deepcopy(layer)
    layer._clear_losses()                           # the original no longer holds any term
    twin(X * 4)
    assert values(twin) == [0.5 * 10.0]


def test_a_model_without_loss_terms_has_none_after_calls():
    model = clearconv.Sequential([clearconv.Input((3,)), layers.Dense(2)])
    model(X)
    model(X)
    assert model.losses == []
