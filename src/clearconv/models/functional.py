"""The functional ``Model``: a graph of layer calls on symbolic tensors.

    inputs = Input((28, 28, 1))
    x = Conv2D(32, 3, activation="relu")(inputs)
    outputs = Dense(10, activation="softmax")(Flatten()(x))
    model = Model(inputs, outputs)

Calling a layer on a :class:`SymbolicTensor` records the call; ``Model``
replays the recorded calls in order on real data. A layer called twice (a
siamese tower) appears once in ``model.layers`` and shares its weights. A
model is itself a layer, so it can be called inside another model.
"""

from __future__ import annotations

from ..layers.base import Layer, SymbolicTensor, _map
from ..layers.core import InputLayer
from .training import Trainer


def _as_list(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


class Model(Trainer, Layer):
    """Keras's ``Model(inputs, outputs, name=None)``, with compile/fit/evaluate/predict."""

    def __init__(self, inputs=None, outputs=None, name=None, trainable=True, **kwargs):
        Layer.__init__(self, name=name, trainable=trainable, **kwargs)
        Trainer.__init__(self)
        self._nodes: list[SymbolicTensor] = []
        self._layers: list[Layer] = []
        if inputs is not None or outputs is not None:
            if inputs is None or outputs is None:
                raise ValueError(f"{self.name}: a functional Model needs both `inputs` and `outputs`")
            self._init_graph(inputs, outputs)

    # --- the graph -----------------------------------------------------------
    def _init_graph(self, inputs, outputs) -> None:
        self._single_input = not isinstance(inputs, (list, tuple))
        self._single_output = not isinstance(outputs, (list, tuple))
        self.inputs, self.outputs = _as_list(inputs), _as_list(outputs)
        for tensor in self.inputs + self.outputs:
            if not isinstance(tensor, SymbolicTensor):
                raise TypeError(f"{self.name}: `inputs` and `outputs` must be symbolic tensors from Input() and "
                                f"layer calls; received {tensor!r}")
        for tensor in self.inputs:
            if not isinstance(tensor.layer, InputLayer):
                raise ValueError(f"{self.name}: every entry of `inputs` must come from Input(); received {tensor!r}")
        self._nodes = self._order_nodes()
        layers = [t.layer for t in self.inputs] + [node.layer for node in self._nodes]
        self._layers = list({id(layer): layer for layer in layers}.values())
        self.built = True

    def _order_nodes(self) -> list[SymbolicTensor]:
        """Layer calls between inputs and outputs, each after the calls it depends on."""
        known = {id(t) for t in self.inputs}
        order, visiting, done = [], set(), set(known)

        def visit(tensor):
            if id(tensor) in done:
                return
            if isinstance(tensor.layer, InputLayer):
                raise ValueError(f"{self.name}: graph disconnected: output depends on input "
                                 f"'{tensor.layer.name}', which is not in `inputs`")
            if id(tensor) in visiting:
                raise ValueError(f"{self.name}: the layer graph has a cycle at '{tensor.layer.name}'")
            visiting.add(id(tensor))
            for parent in tensor.inputs:
                visit(parent)
            done.add(id(tensor))
            order.append(tensor)
        for output in self.outputs:
            visit(output)
        return order

    @property
    def layers(self) -> list[Layer]:
        return list(self._layers)

    def get_layer(self, name: str) -> Layer:
        for layer in self._layers:
            if layer.name == name:
                return layer
        raise ValueError(f"{self.name}: no layer named {name!r}; layers: {[l.name for l in self._layers]}")

    def call(self, inputs, training=None):
        flat = _as_list(inputs)
        if len(flat) != len(self.inputs):
            raise ValueError(f"{self.name}: expects {len(self.inputs)} input(s); received {len(flat)}")
        values = {id(symbol): value for symbol, value in zip(self.inputs, flat)}
        for node in self._nodes:
            arguments = _map(lambda symbol: values[id(symbol)], node.call_inputs)
            values[id(node)] = node.layer(arguments, training=training)
        outputs = [values[id(output)] for output in self.outputs]
        return outputs[0] if self._single_output else outputs

    def _check_input(self, input_shape) -> None:
        shapes = [input_shape] if self._single_input else _as_list(input_shape)
        if len(shapes) != len(self.inputs):
            raise ValueError(f"{self.name}: expects {len(self.inputs)} input(s); received {len(shapes)}")
        for symbol, shape in zip(self.inputs, shapes):
            expected = symbol.shape
            if len(shape) != len(expected) or any(e is not None and e != s for e, s in zip(expected[1:], shape[1:])):
                raise ValueError(f"{self.name}: input '{symbol.layer.name}' expects shape {expected}; "
                                 f"received {tuple(shape)}")

    def compute_output_shape(self, input_shape):
        shapes = {id(s): tuple(shape) for s, shape in
                  zip(self.inputs, [input_shape] if self._single_input else input_shape)}
        for node in self._nodes:
            shapes[id(node)] = node.layer.compute_output_shape(_map(lambda s: shapes[id(s)], node.call_inputs))
        outputs = [shapes[id(o)] for o in self.outputs]
        return outputs[0] if self._single_output else outputs

    def _call_symbolic(self, inputs):
        self._check_input(_map(lambda t: t.shape, inputs))
        return SymbolicTensor(self.compute_output_shape(_map(lambda t: t.shape, inputs)), self.dtype, self, inputs)

    # --- weights gathered from the layers -------------------------------------
    @property
    def weights(self) -> list:
        seen = {}
        for layer in self._layers:
            for weight in layer.weights:
                seen.setdefault(id(weight), weight)
        return list(seen.values())

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)
        for layer in getattr(self, "_layers", []):
            layer.trainable = value

    @property
    def losses(self) -> list:
        return [loss for layer in self._layers for loss in layer.losses]

    # --- config --------------------------------------------------------------
    def get_config(self) -> dict:
        from .serialization import functional_config
        return functional_config(self)

    @classmethod
    def from_config(cls, config: dict):
        from .serialization import functional_from_config
        return functional_from_config(cls, config)

    def fold_batchnorm(self) -> Model:
        """A new inference model with BatchNormalization folded into the layers before it (see
        :func:`clearconv.models.folding.fold_batchnorm`); this model is left unchanged."""
        from .folding import fold_batchnorm
        return fold_batchnorm(self)

    def summary(self, line_length=None, print_fn=None) -> None:
        """Print Keras's table: layers, output shapes, parameter counts (and connections)."""
        from .summary import print_summary
        print_summary(self, line_length=line_length, print_fn=print_fn)
