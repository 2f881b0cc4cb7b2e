"""One lookup for every module that names objects (clearconv.serialization_lib.Catalog).

Losses, metrics, optimizers, schedules, activations, initializers, regularizers
and constraints resolve names, config dicts and the user's objects the same
way: ``custom_objects``, then ``clearconv.saving``'s scopes and registry, then
the module's own table; and they serialize a registered class under its
registered name, as Keras does.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from clearconv import (activations, constraints, initializers, losses, metrics, optimizers, regularizers, saving,
                       serialization_lib)
from clearconv.autograd import Tensor
from clearconv.optimizers import schedules

MODULES = {"loss": losses, "metric": metrics, "optimizer": optimizers, "initializer": initializers,
           "regularizer": regularizers, "constraint": constraints, "learning-rate schedule": schedules}

BUILT_INS = [
    ("loss", losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1)),
    ("loss", losses.LossFunctionWrapper(losses.huber, delta=0.5)),
    ("metric", metrics.AUC(num_thresholds=7, curve="PR")),
    ("metric", metrics.MeanMetricWrapper(metrics.top_k_categorical_accuracy, k=2)),
    ("optimizer", optimizers.Adam(0.01, amsgrad=True)),
    ("optimizer", optimizers.SGD(optimizers.CosineDecay(0.1, decay_steps=10))),
    ("initializer", initializers.VarianceScaling(2.0, "fan_out", "uniform", seed=3)),
    ("regularizer", regularizers.L1L2(0.1, 0.2)),
    ("constraint", constraints.MinMaxNorm(0.5, 2.0, rate=0.5, axis=[0, 1])),
    ("learning-rate schedule", schedules.PiecewiseConstantDecay([2, 5], [0.1, 0.05, 0.01])),
]


@pytest.fixture
def empty_registry(monkeypatch):
    """The registry of clearconv.saving, empty for one test and restored after it."""
    monkeypatch.setattr(saving, "_REGISTERED", {})
    monkeypatch.setattr(saving, "_NAMES", {})


@pytest.mark.parametrize("kind, obj", BUILT_INS, ids=lambda value: value if isinstance(value, str) else
                         type(value).__name__)
def test_every_module_round_trips_its_objects_through_json(kind, obj):
    module = MODULES[kind]
    config = json.loads(json.dumps(module.serialize(obj)))
    assert config["class_name"] == type(obj).__name__
    rebuilt = module.deserialize(config)
    assert type(rebuilt) is type(obj) and rebuilt.get_config() == obj.get_config()
    if module is not schedules:  # keras.optimizers.schedules has no get(), only (de)serialize
        assert type(module.get(config)) is type(obj)


@pytest.mark.parametrize("kind", sorted(MODULES))
def test_every_module_names_the_unknown_name_and_the_valid_ones(kind):
    with pytest.raises(ValueError, match=rf"Unknown {kind} 'no_such_name'\. Valid: "):
        MODULES[kind].deserialize({"class_name": "no_such_name", "config": {}})
    with pytest.raises(ValueError, match=rf"A {kind} config must be a name or a dict with the keys 'class_name'"):
        MODULES[kind].deserialize({"config": {}})


def test_a_registered_loss_class_is_saved_under_its_registered_name(empty_registry):
    @saving.register_keras_serializable(package="tests")
    class ScaledSquaredError(losses.Loss):
        def __init__(self, scale=1.0, **kwargs):
            super().__init__(**kwargs)
            self.scale = scale

        def call(self, y_true, y_pred):
            error = y_pred - y_true
            return (error * error).mean(axis=-1) * self.scale

        def get_config(self):
            return {**super().get_config(), "scale": self.scale}

    loss = ScaledSquaredError(scale=3.0, name="scaled")
    config = losses.serialize(loss)
    assert config["class_name"] == "tests>ScaledSquaredError"
    rebuilt = losses.deserialize(json.loads(json.dumps(config)))  # found in the registry: no custom_objects
    assert type(rebuilt) is ScaledSquaredError and rebuilt.get_config() == loss.get_config()
    y_true, y_pred = np.zeros((2, 3)), np.ones((2, 3))
    assert float(rebuilt(y_true, y_pred).data) == 3.0
    assert type(losses.get("tests>ScaledSquaredError")) is ScaledSquaredError


def test_a_metric_function_of_your_own_is_found_by_name_in_a_scope_or_the_registry(empty_registry):
    def within_half(y_true, y_pred):
        return (np.abs(np.asarray(y_true) - np.asarray(y_pred)) < 0.5).mean(axis=-1)

    config = json.loads(json.dumps(metrics.serialize(metrics.get(within_half))))
    assert config == {"class_name": "MeanMetricWrapper", "config": {"name": "within_half", "dtype": None,
                                                                   "fn": "within_half"}}
    with pytest.raises(ValueError, match="cannot rebuild the metric function 'within_half'.*custom_objects"):
        metrics.deserialize(config)
    with saving.custom_object_scope({"within_half": within_half}):
        assert metrics.deserialize(config)._fn is within_half
    assert metrics.deserialize(config, custom_objects={"within_half": within_half})._fn is within_half
    # registered, the function is saved under its registered name and found without custom_objects
    saving.register_keras_serializable(package="tests")(within_half)
    config = json.loads(json.dumps(metrics.serialize(metrics.get(within_half))))
    assert config["config"]["fn"] == "tests>within_half"
    assert metrics.deserialize(config)._fn is within_half


def test_custom_objects_come_before_the_built_in_names():
    def relu(x):  # a user's function under a built-in name
        return Tensor(np.zeros_like(np.asarray(x)))

    assert activations.get("relu", custom_objects={"relu": relu}) is relu
    assert activations.deserialize({"class_name": "function", "config": "relu"}, {"relu": relu}) is relu
    assert activations.get("relu") is activations.relu


def test_what_each_kind_does_with_none_and_with_a_callable():
    def function(*args):
        return args

    assert losses.get(None) is None and metrics.get(None) is None and regularizers.get(None) is None
    assert activations.get(None) is activations.linear
    with pytest.raises(ValueError, match="Could not interpret optimizer identifier None"):
        optimizers.get(None)
    assert isinstance(losses.get(function), losses.LossFunctionWrapper)
    assert isinstance(metrics.get(function), metrics.MeanMetricWrapper)
    assert initializers.get(function) is function and activations.get(function) is function
    with pytest.raises(ValueError, match="Could not interpret optimizer identifier"):
        optimizers.get(function)
    with pytest.raises(TypeError, match="an activation must be a name"):
        activations.get(3)


def test_catalog_rules_on_a_small_table():
    class Base:
        def __init__(self, size=1):
            self.size = size

        def get_config(self):
            return {"size": self.size}

        @classmethod
        def from_config(cls, config):
            return cls(**config)

    class Small(Base):
        pass

    catalog = serialization_lib.Catalog("thing", {"Small": Small, "small": Small, "big": Small}, base=Base,
                                        build=lambda name, cls: cls(size=10) if name == "big" else cls(),
                                        fold_case=True)
    assert catalog.get("small").size == 1 and catalog.get("BIG").size == 10  # case folds to "big"
    assert catalog.get(Small).size == 1 and catalog.get({"class_name": "Small", "config": {"size": 4}}).size == 4
    instance = Small(7)
    assert catalog.get(instance) is instance
    assert catalog.serialize(instance) == {"class_name": "Small", "config": {"size": 7}}
    with pytest.raises(ValueError, match=r"Unknown thing 'huge'\. Valid: big, Small, small"):
        catalog.get("huge")
