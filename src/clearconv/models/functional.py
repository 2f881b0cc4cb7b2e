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

from ..layers.base import Layer, SymbolicTensor, unique_name
from ..layers.core import InputLayer
from ..layers.operation import Operation
from ..nested import flatten, map_structure, pack_sequence_as
from .training import Trainer


def _as_list(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _is_shape(value) -> bool:
    """Whether ``value`` is one shape (a tuple of sizes), not a structure of shapes."""
    return isinstance(value, tuple) and all(d is None or isinstance(d, int) for d in value)


def _structure_of(value):
    """How ``inputs``/``outputs`` were given: a single tensor, a list, or a dict (kept to return alike).
    A list of one tensor counts as that tensor, as in Keras."""
    if isinstance(value, (list, tuple)) and len(value) == 1 and isinstance(value[0], SymbolicTensor):
        return None
    return dict(value) if isinstance(value, dict) else list(value) if isinstance(value, (list, tuple)) else None


class Model(Trainer, Layer):
    """Keras's ``Model(inputs, outputs, name=None)``, with compile/fit/evaluate/predict."""

    def __init__(self, inputs=None, outputs=None, name=None, trainable=True, **kwargs):
        if name is None and type(self) is Model and inputs is not None:
            name = unique_name("functional")  # Keras 3 makes a Functional of Model(inputs, outputs)
        Layer.__init__(self, name=name, trainable=trainable, **kwargs)
        Trainer.__init__(self)
        self._nodes: list[SymbolicTensor] = []
        self._layers: list[Layer] = []
        self._graph = False
        if inputs is not None or outputs is not None:
            if inputs is None or outputs is None:
                raise ValueError(f"{self.name}: a functional Model needs both `inputs` and `outputs`")
            self._init_graph(inputs, outputs)

    # --- the graph -----------------------------------------------------------
    def _init_graph(self, inputs, outputs) -> None:
        self._input_structure, self._output_structure = _structure_of(inputs), _structure_of(outputs)
        self._single_input = self._input_structure is None
        self._single_output = self._output_structure is None
        self.inputs, self.outputs = flatten(inputs), flatten(outputs)
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
        self._graph = True
        self.built = True

    def _order_nodes(self) -> list[SymbolicTensor]:
        """Layer calls between inputs and outputs, each after the calls it depends on: a depth-first walk from
        the outputs, parents in order (an explicit stack, so a chain of any length fits)."""
        known = {id(t) for t in self.inputs}
        order, visiting, done = [], set(), set(known)
        for output in self.outputs:
            stack = [(output, 0)]     # (tensor, index of the next parent to visit)
            while stack:
                tensor, next_parent = stack.pop()
                if next_parent == 0:
                    if id(tensor) in done:
                        continue
                    if isinstance(tensor.layer, InputLayer):
                        raise ValueError(f"{self.name}: graph disconnected: output depends on input "
                                         f"'{tensor.layer.name}', which is not in `inputs`")
                    if id(tensor) in visiting:
                        raise ValueError(f"{self.name}: the layer graph has a cycle at '{tensor.layer.name}'")
                    visiting.add(id(tensor))
                parents = tensor.inputs
                while next_parent < len(parents) and id(parents[next_parent]) in done:
                    next_parent += 1
                if next_parent < len(parents):
                    stack.append((tensor, next_parent + 1))
                    stack.append((parents[next_parent], 0))
                else:
                    done.add(id(tensor))
                    order.append(tensor)
        return order

    @property
    def layers(self) -> list[Layer]:
        """The layers of the graph (inputs first; op nodes such as ``x + y`` are not layers, as in
        Keras), or of a subclassed model the layers it tracks."""
        if not self._graph:
            return self._sublayers
        return [layer for layer in self._layers if not isinstance(layer, Operation)]

    @property
    def input(self):
        """The symbolic input(s), in the structure given to ``Model`` (as Keras's ``model.input``)."""
        self._require_graph("input")
        return self._as_given(self.inputs, self._input_structure)

    @property
    def output(self):
        """The symbolic output(s), in the structure given to ``Model``."""
        self._require_graph("output")
        return self._as_given(self.outputs, self._output_structure)

    @property
    def output_names(self) -> list[str]:
        """The names of the output layers (the keys, for a model given a dict of outputs)."""
        self._require_graph("output_names")
        if isinstance(self._output_structure, dict):
            return sorted(self._output_structure)
        return [t.layer.name for t in self.outputs]

    @property
    def input_shape(self):
        """The input shape (batch axis None), or a list of them for several inputs."""
        self._require_graph("input_shape")
        shapes = [t.shape for t in self.inputs]
        return shapes[0] if self._single_input else shapes

    @property
    def output_shape(self):
        """The output shape (batch axis None), or a list of them for several outputs."""
        self._require_graph("output_shape")
        shapes = [t.shape for t in self.outputs]
        return shapes[0] if self._single_output else shapes

    def _require_graph(self, attribute: str) -> None:
        if not self._graph:
            raise AttributeError(f"{self.name}: `{attribute}` is defined for a model built from symbolic tensors "
                                 f"(functional or Sequential with a known input shape); this model has no graph")

    @staticmethod
    def _as_given(tensors: list, structure):
        if structure is None:
            return tensors[0]
        return pack_sequence_as(structure, tensors)

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        """The layer named ``name``, or at position ``index`` of ``layers`` (Keras's ``get_layer``)."""
        if name is not None and index is not None:
            raise ValueError(f"{self.name}: get_layer takes a layer name or a layer index, not both; received "
                             f"name={name!r}, index={index!r}")
        layers = self.layers
        if index is not None:
            if not -len(layers) <= index < len(layers):
                raise ValueError(f"{self.name}: get_layer(index={index}): the model has {len(layers)} layers")
            return layers[index]
        if name is None:
            raise ValueError(f"{self.name}: get_layer needs a layer `name` or `index`")
        for layer in layers:
            if layer.name == name:
                return layer
        raise ValueError(f"{self.name}: no layer named {name!r}; layers: {[l.name for l in layers]}")

    def call(self, inputs, training=None):
        """Replay the graph's layer calls on ``inputs`` (structured as the model's inputs)."""
        if not self._graph:
            raise NotImplementedError(f"{type(self).__name__} ({self.name}): a subclassed Model defines "
                                      f"call(self, inputs, training=None)")
        values = self.run_graph(inputs, training, release=True)
        return self._as_given([values[id(output)] for output in self.outputs], self._output_structure)

    def run_graph(self, inputs, training=None, force_training: bool = False, release: bool = False) -> dict:
        """Every graph tensor's value for ``inputs``, keyed by ``id`` of its symbolic tensor: the layer
        calls in graph order. ``training`` is what a call that sets none receives; ``force_training``
        gives it to every call (clearconv.explain replays a model in inference this way).

        ``release=True`` drops each intermediate value from the mapping once the last call that reads
        it has run, so that only the outputs (and the inputs) remain: an inference forward then holds
        one layer's input and output at a time instead of every activation (a training forward keeps
        what its backward needs on the tape regardless)."""
        values = {id(symbol): value for symbol, value in zip(self.inputs, self._flat_inputs(inputs))}
        releases = self._release_plan() if release else None
        for index, node in enumerate(self._nodes):
            arguments = map_structure(lambda symbol: values[id(symbol)], node.call_inputs)
            kwargs = {**node.call_kwargs, "training": training} if force_training else \
                {"training": training, **node.call_kwargs}
            values[id(node)] = node.layer(arguments, *node.call_args, **kwargs)
            if releases is not None:
                del arguments
                for key in releases[index]:
                    del values[key]
        return values

    def _release_plan(self) -> list[list[int]]:
        """For each node of ``self._nodes``, the ids of the intermediate tensors that no later node
        reads (outputs and inputs excluded): what :meth:`run_graph` may drop after that node. Cached
        per node list (a Sequential rebuild replaces the list)."""
        cached = getattr(self, "_release_cache", None)
        if cached is not None and cached[0] is self._nodes and cached[1] == len(self._nodes):
            return cached[2]
        kept = {id(symbol) for symbol in self.inputs + self.outputs}
        last_use = {}
        for index, node in enumerate(self._nodes):
            for symbol in flatten(node.call_inputs):
                if isinstance(symbol, SymbolicTensor):
                    last_use[id(symbol)] = index
        plan = [[] for _ in self._nodes]
        for key, index in last_use.items():
            if key not in kept:
                plan[index].append(key)
        self._release_cache = (self._nodes, len(self._nodes), plan)
        return plan

    def _flat_inputs(self, inputs) -> list:
        """The input values in ``self.inputs`` order: from one value, a list, or a dict keyed by input name."""
        if isinstance(inputs, dict):
            names = [symbol.layer.name for symbol in self.inputs]
            if isinstance(self._input_structure, dict):
                keys = sorted(self._input_structure)
                missing = [k for k in keys if k not in inputs]
                if not missing:
                    return [inputs[k] for k in keys]
            missing = [n for n in names if n not in inputs]
            if missing:
                raise ValueError(f"{self.name}: the input dict lacks {missing}; the model's inputs are {names}")
            return [inputs[n] for n in names]
        flat = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        if len(flat) != len(self.inputs):
            raise ValueError(f"{self.name}: expects {len(self.inputs)} input(s); received {len(flat)}")
        return flat

    def _check_input(self, input_shape) -> None:
        if not self._graph:
            return
        shapes = [input_shape] if _is_shape(input_shape) else self._flat_inputs(input_shape)
        for symbol, shape in zip(self.inputs, shapes):
            expected = symbol.shape
            if len(shape) != len(expected) or any(e is not None and e != s for e, s in zip(expected[1:], shape[1:])):
                raise ValueError(f"{self.name}: input '{symbol.layer.name}' expects shape {expected}; "
                                 f"received {tuple(shape)}")

    def compute_output_shape(self, input_shape):
        if not self._graph:
            return Layer.compute_output_shape(self, input_shape)
        shapes = {id(s): tuple(shape) for s, shape in
                  zip(self.inputs, [input_shape] if _is_shape(input_shape) else self._flat_inputs(input_shape))}
        for node in self._nodes:
            shapes[id(node)] = node.layer.compute_output_shape(map_structure(lambda s: shapes[id(s)], node.call_inputs))
        return self._as_given([shapes[id(o)] for o in self.outputs], self._output_structure)

    def _call_symbolic(self, inputs, extra=(), kwargs=None):
        if not self._graph:
            return Layer._call_symbolic(self, inputs, extra, kwargs)
        if extra or set(kwargs or {}) - {"training"}:
            raise TypeError(f"{self.name}: a functional model is called on its inputs (and `training`); received "
                            f"other arguments {list(kwargs or {})}")
        shapes = map_structure(lambda t: t.shape, inputs)
        self._check_input(shapes)
        output = SymbolicTensor(self.compute_output_shape(shapes), self.dtype, self, inputs, (), kwargs)
        self._inbound_nodes.append(output)
        return output

    # --- weights gathered from the layers -------------------------------------
    @property
    def weights(self) -> list:
        if not self._graph:
            return Layer.weights.fget(self)
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
        for layer in getattr(self, "_layers", []) if getattr(self, "_graph", False) else self._sublayers:
            layer.trainable = value

    @property
    def losses(self) -> list:
        if not self._graph:
            return Layer.losses.fget(self)
        return [loss for layer in self._layers for loss in layer.losses]

    # --- config --------------------------------------------------------------
    def get_config(self) -> dict:
        if not self._graph:
            return Layer.get_config(self)
        from .serialization import functional_config
        return functional_config(self)

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        """Rebuild from :meth:`get_config`; ``custom_objects`` (name -> class) for layers of your own."""
        from .. import saving
        if "calls" not in config:  # a subclassed model: its config is its constructor's arguments
            return cls(**config)
        from .serialization import functional_from_config
        with saving.custom_object_scope(custom_objects or {}):
            return functional_from_config(cls, config)

    def to_json(self, **kwargs) -> str:
        """The architecture as a JSON string in Keras 3's form, which Keras's ``model_from_json`` reads (and
        clearconv's); a model Keras cannot hold (op nodes such as ``x * 2``, your own classes) in clearconv's
        own form, which clearconv reads. ``kwargs`` go to ``json.dumps``."""
        import json
        from .. import __version__
        from ..io.keras import config_to_keras
        from .serialization import layer_config
        try:
            return json.dumps(config_to_keras(self), **kwargs)
        except ValueError:
            return json.dumps({**layer_config(self), "clearconv_version": __version__}, **kwargs)

    def fold_batchnorm(self) -> Model:
        """A new inference model with BatchNormalization folded into the layers before it (see
        :func:`clearconv.models.folding.fold_batchnorm`); this model is left unchanged."""
        from .folding import fold_batchnorm
        return fold_batchnorm(self)

    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False,
                show_trainable=False, layer_range=None) -> None:
        """Print Keras's table: layers, output shapes, parameter counts (and connections)."""
        from .summary import print_summary
        print_summary(self, line_length=line_length, positions=positions, print_fn=print_fn,
                      expand_nested=expand_nested, show_trainable=show_trainable, layer_range=layer_range)
