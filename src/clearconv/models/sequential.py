"""``Sequential``: a stack of layers, each feeding the next.

    model = Sequential([
        Conv2D(32, 3, activation="relu", input_shape=(28, 28, 1)),
        MaxPooling2D(),
        Flatten(),
        Dense(10, activation="softmax"),
    ])

The input shape comes from the first layer's ``input_shape``, an ``Input``
placed first, or the first call; from then on it is a functional graph.
"""

from __future__ import annotations

from ..layers.base import Layer, SymbolicTensor, name_scope
from ..layers.core import Input, InputLayer
from .functional import Model


class Sequential(Model):
    """Keras's ``Sequential(layers=None, trainable=True, name=None)``."""

    def __init__(self, layers=None, trainable=True, name=None, **kwargs):
        super().__init__(name=name, trainable=trainable, **kwargs)
        self._stack: list[Layer] = []
        self._input_shape = None  # batch shape, (batch or None, ...)
        self._input_tensor = None  # the Input the graph starts from, kept across rebuilds as Keras keeps it
        if isinstance(layers, (str, bytes, Layer)) or (layers is not None and not hasattr(layers, "__iter__")):
            raise TypeError(f"{self.name}: `layers` must be a list of Layer objects (or None); "
                            f"received layers={layers!r}")
        for layer in layers or []:
            self.add(layer, rebuild=False)
        self._maybe_rebuild()

    def add(self, layer, rebuild: bool = True) -> None:
        """Append a layer (or set the input with an ``Input``/``InputLayer`` placed first).

        ``rebuild=False`` (Keras's argument) defers building the graph while the model has none
        yet, so a stack of n layers (the constructor's list, a config) is built once, not n times;
        a model that has a graph rebuilds it at once, so its inputs, outputs and summary are never
        those of a previous stack.
        """
        if isinstance(layer, InputLayer):
            layer = SymbolicTensor(layer.batch_input_shape, layer.dtype, layer, [])
        if isinstance(layer, SymbolicTensor) and isinstance(layer.layer, InputLayer):
            if self._stack:
                raise ValueError(f"{self.name}: an Input must come before the other layers")
            self._input_shape, self._input_tensor = layer.shape, layer
        elif isinstance(layer, Layer):
            if not self._stack and self._input_shape is None:
                self._input_shape = _declared_input_shape(layer)
            self._stack.append(layer)
        else:
            raise TypeError(f"{self.name}: add() takes a Layer; received layer={layer!r}")
        self.built = False
        if rebuild or self._graph:
            self._maybe_rebuild()

    def _maybe_rebuild(self) -> None:
        if self._input_shape is not None and self._stack:
            self._build_graph()

    def pop(self) -> Layer:
        """Remove and return the last layer."""
        if not self._stack:
            raise ValueError(f"{self.name}: pop() on an empty model")
        layer = self._stack.pop()
        self.built = False
        if self._stack and self._input_shape is not None:
            self._build_graph()
        return layer

    def _build_graph(self) -> None:
        # Each rebuild calls every layer again: drop the calls of the previous graph, so that a
        # layer's `input`/`output` (its first call) belong to the current one.
        stale = {id(node) for node in self._nodes}
        for layer in self._stack:
            layer._inbound_nodes = [node for node in layer._inbound_nodes if id(node) not in stale]
        if self._input_tensor is None or self._input_tensor.shape != tuple(self._input_shape):
            self._input_tensor = Input(batch_shape=self._input_shape)
        inputs = x = self._input_tensor
        with name_scope(self.name):  # the layers' weights are sequential/dense/kernel, as in Keras
            for layer in self._stack:
                x = layer(x)
        self._init_graph(inputs, x)

    def build(self, input_shape=None) -> None:
        if input_shape is not None:
            # Keras keeps the batch size it is built with (a first call on one sample shows (1, ...)).
            self._input_shape = tuple(input_shape)
        if self._input_shape is None:
            raise ValueError(f"{self.name}: build() needs an input shape: give the first layer `input_shape`, "
                             f"start with Input(shape), or call build((None, ...))")
        if not self._stack:
            raise ValueError(f"{self.name}: the model has no layers")
        self._build_graph()

    @property
    def layers(self) -> list[Layer]:
        """The stacked layers (the input is not a layer here, as in Keras)."""
        return list(self._stack)

    def get_config(self) -> dict:
        from .serialization import layer_config
        config = {"name": self.name, "trainable": self.trainable, "layers": [layer_config(l) for l in self._stack]}
        if self._input_shape is not None:
            config["batch_input_shape"] = list(self._input_shape)
        return config

    @classmethod
    def from_config(cls, config: dict):
        from .serialization import layer_from_config
        model = cls(name=config.get("name"), trainable=config.get("trainable", True))
        if config.get("batch_input_shape") is not None:
            model._input_shape = tuple(config["batch_input_shape"])
        for entry in config["layers"]:
            model.add(layer_from_config(entry), rebuild=False)
        model._maybe_rebuild()
        return model


def _declared_input_shape(layer: Layer):
    """The batch input shape a first layer declares: ``input_shape=`` or, for a built functional
    model placed first (a base model for transfer learning), its single input's shape."""
    if layer.batch_input_shape is not None:
        return layer.batch_input_shape
    inputs = getattr(layer, "inputs", None) if getattr(layer, "_graph", False) else None
    return inputs[0].shape if inputs and len(inputs) == 1 else None
