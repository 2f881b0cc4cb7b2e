"""The Keras-shaped ``Layer``: build from the input shape, call, weights, config.

A layer called on a NumPy array computes without recording and returns a
NumPy array; called on a :class:`~clearconv.autograd.Tensor` it records the
computation so ``loss.backward()`` fills every weight's ``.grad``.

Inputs: floating arrays are cast to the layer's dtype (float32 by default),
as Keras autocasts. Integer and boolean arrays are refused with a TypeError:
pixel values need an explicit ``x.astype("float32") / 255``, and a silent
cast would hide that choice.

Subclassing works as in Keras's guides: ``__init__`` creates sub-layers and
sets them as attributes (they are tracked: their weights appear in
``weights``), ``build(input_shape)`` creates weights with ``add_weight``,
``call(inputs, training=None)`` computes. A layer called inside another
layer's ``call`` without ``training`` inherits the outer call's value; a call
with neither gets the default of its ``call`` signature (True for the image
augmentation layers, as in Keras).
Called on a symbolic tensor (functional API), a layer without its own
``compute_output_shape`` learns its output shape by running ``call`` once on
zeros of the input shape.
"""

from __future__ import annotations

import contextlib
import difflib
import inspect
import threading
import weakref
from collections import defaultdict

import numpy as np

from .. import config
from .. import constraints as constraints_module
from .. import initializers as initializers_module
from .. import regularizers as regularizers_module
from ..autograd import Tensor, Variable, no_grad
from ..nested import flatten, map_structure, pack_sequence_as
from ..utils import private_global_rng, serialize_object, snake_case

_name_counts: defaultdict = defaultdict(int)
_name_lock = threading.Lock()
_FLOAT_DTYPES = ("float16", "float32", "float64")


class _ThreadState(threading.local):
    """What the layer calls in progress and a model load share, per thread (as autograd's grad mode):
    a thread predicting while another trains must not see its ``training`` value or name scopes, and a
    layer built while another thread loads a model file must get real weights.

    ``call_training``: the `training` value of each layer call in progress, innermost last (inherited
    by the calls nested in it); ``call_depth``: how many layer calls are in progress (0: the next is an
    outermost one); ``name_scope``: the names of the scopes entered, outermost first (see name_scope);
    ``weights_from_file``: True while a model file is being loaded (add_weight makes placeholders).
    """

    def __init__(self):
        self.call_training: list = [None]
        self.call_depth = 0
        self.name_scope: list = []
        self.weights_from_file = False


_state = _ThreadState()
# The layers that hold loss terms of a call (add_loss, activity penalties). An outermost call clears the
# terms of its layers only when some layer holds any: a model without such terms skips the walk over its
# layers, which took 0.2 ms of LeNet-5's 1.3 ms call at batch 1.
# By id, so that a layer class with an __eq__ of its own (hence no hash) can be held too.
_layers_with_losses: "weakref.WeakValueDictionary[int, Layer]" = weakref.WeakValueDictionary()
# Attributes that hold bookkeeping, never sub-layers or weights of their own.
_UNTRACKED = frozenset({"_inbound_nodes", "_nodes", "_weights", "_regularizers", "_activity_losses",
                        "_call_losses", "_init_arguments"})


def resolve_identifier(owner: str, argument: str, getter, identifier):
    """``getter(identifier)`` (an activation, initializer, ... lookup); a failure is
    re-raised with the layer and the argument named, e.g. ``conv2d: `kernel_initializer`: ...``."""
    try:
        return getter(identifier)
    except (ValueError, TypeError) as error:
        kind = TypeError if isinstance(error, TypeError) else ValueError
        raise kind(f"{owner}: `{argument}`: {error}") from None


def accepted_arguments(cls) -> list[str]:
    """Keyword arguments a layer class takes: its own, its private base's, then Layer's.

    A private base (``_Conv``, ``_Pooling``...) receives its arguments from the
    public class and passes its own base's on explicitly, so the walk stops after it.
    """
    names: list[str] = []
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if klass is Layer or init is None:
            continue
        for parameter in inspect.signature(init).parameters.values():
            if parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY) \
                    and parameter.name not in ("self", "rank", *names):
                names.append(parameter.name)
        if klass.__name__.startswith("_"):
            break
    for parameter in inspect.signature(Layer.__init__).parameters.values():
        if parameter.kind is parameter.POSITIONAL_OR_KEYWORD and parameter.name not in ("self", *names):
            names.append(parameter.name)
    return names


@contextlib.contextmanager
def name_scope(name: str):
    """Within the block, weights created get ``name`` in their path, after the enclosing scopes:
    a layer built while a subclassed model calls it has the path ``model/block/conv2d/kernel``,
    as in Keras 3. Entering the scope already innermost adds nothing."""
    scopes = _state.name_scope
    pushed = not scopes or scopes[-1] != name
    if pushed:
        scopes.append(name)
    try:
        yield
    finally:
        if pushed:
            scopes.pop()


@contextlib.contextmanager
def weights_from_file():
    """Within the block, ``add_weight`` neither calls the initializer nor allocates the weight: the
    variable holds a placeholder of the right shape and dtype, to be replaced by the stored array.

    A model file supplies every weight, so loading builds the layers only to learn the shapes their
    configs imply. Initialising them would draw from the global generator (a resumed training would
    no longer match an uninterrupted one) and allocate whatever the config declares before the shapes
    are checked against the stored arrays (a 10 KB config with ``units: 10000000`` would take 4 GB).
    The loader (:mod:`clearconv.io.native`) replaces every placeholder before the model is used.

    What a constructor still draws (a SeedGenerator made with ``seed=None`` in a layer class of your
    own) comes from a copy of the global generator (:func:`clearconv.utils.private_global_rng`), so
    the global one is left as it was without being rewound over the draws other threads make
    meanwhile; the file's random state then replaces those seeds. Both hold in the calling thread only.
    """
    previous = _state.weights_from_file
    _state.weights_from_file = True
    try:
        with private_global_rng():
            yield
    finally:
        _state.weights_from_file = previous


def _placeholder(shape: tuple, dtype: str) -> np.ndarray:
    """An array of ``shape`` and ``dtype`` backed by a single element: every index is the same cell
    (all strides 0), so it costs one element whatever its shape. It accepts writes, since a layer
    may assign values from its config while it builds (Normalization's mean and variance); they land
    in that one cell and are overwritten by the file's arrays."""
    cell = np.zeros(1, dtype=dtype)
    return np.lib.stride_tricks.as_strided(cell, shape=shape, strides=(0,) * len(shape), writeable=True)


def unique_name(base: str) -> str:
    """Keras-style automatic names: conv2d, conv2d_1, conv2d_2, ..."""
    with _name_lock:  # two threads creating layers at once must not get the same name (weight paths)
        count = _name_counts[base]
        _name_counts[base] += 1
    return base if count == 0 else f"{base}_{count}"


class Layer:
    """Base class of every layer.

    Arguments common to all layers: ``name``, ``trainable``, ``dtype``
    (``"float32"`` default, ``"float64"`` for exact work), ``input_shape``
    (the shape of one sample, without the batch axis) or ``batch_input_shape``.
    """

    def __init__(self, name: str | None = None, trainable: bool = True, dtype=None,
                 input_shape=None, batch_input_shape=None, input_dim=None, **kwargs):
        if kwargs:
            accepted = accepted_arguments(type(self))
            hints = [f"{key!r} -> {close[0]!r}?" for key in sorted(kwargs)
                     for close in [difflib.get_close_matches(key, accepted, n=1)] if close]
            raise TypeError(f"{type(self).__name__}: unexpected keyword argument(s) {sorted(kwargs)}"
                            f"{' (did you mean ' + ', '.join(hints) + ')' if hints else ''}; "
                            f"accepted: {', '.join(accepted)}")
        self.name = name or unique_name(snake_case(type(self).__name__))
        try:
            dtype = np.dtype(dtype or config.floatx()).name
        except TypeError:  # a Keras dtype policy name ("mixed_float16") or anything NumPy does not know
            pass
        if dtype not in _FLOAT_DTYPES:
            raise ValueError(f"{self.name}: `dtype` must be one of {_FLOAT_DTYPES} (clearconv has no dtype "
                             f"policies or mixed precision); received {dtype!r}")
        self.dtype = dtype
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        if input_shape is not None and batch_input_shape is None:
            batch_input_shape = (None, *tuple(input_shape))
        self.batch_input_shape = tuple(batch_input_shape) if batch_input_shape is not None else None
        self._trainable = trainable
        self._weights: list[Variable] = []
        self._regularizers: list[tuple[Variable, object]] = []
        self._activity_losses: list = []
        self._call_losses: list = []
        self._inbound_nodes: list = []
        self.activity_regularizer = None
        self.built = False

    # --- construction --------------------------------------------------------
    def add_weight(self, *args, shape=None, initializer=None, dtype=None, trainable: bool = True, autocast=True,
                   regularizer=None, constraint=None, aggregation="none", overwrite_with_gradient=False,
                   name: str | None = None) -> Variable:
        """Create, initialise and track one weight (a :class:`Variable`), as Keras 3's ``add_weight``.

        ``shape`` (default ``()``), ``initializer`` (default ``"glorot_uniform"``) and ``dtype``
        (default the layer's) may also be given positionally, in that order. ``autocast`` and
        ``aggregation`` have no effect here (one device, one dtype per layer);
        ``overwrite_with_gradient`` is refused (float8 training does not exist here).
        """
        if len(args) > 3:
            raise TypeError(f"{self.name}: add_weight() takes at most 3 positional arguments (shape, initializer, "
                            f"dtype); received {len(args)}")
        if args and isinstance(args[0], str):
            raise ValueError(f"{self.name}: add_weight: `name` must be passed as a keyword argument; received "
                             f"add_weight({args[0]!r}, ...). Use add_weight(shape=..., name={args[0]!r})")
        for position, (argument, given) in enumerate((("shape", shape), ("initializer", initializer),
                                                      ("dtype", dtype))):
            if position < len(args):
                if given is not None:
                    raise ValueError(f"{self.name}: add_weight: `{argument}` was passed both positionally and as "
                                     f"a keyword argument")
        shape, initializer, dtype = (list(args) + [shape, initializer, dtype][len(args):])[:3]
        if overwrite_with_gradient:
            raise ValueError(f"{self.name}: add_weight: overwrite_with_gradient=True (float8 training) is not "
                             f"supported by clearconv")
        if aggregation not in (None, "none", "mean", "sum", "only_first_replica"):
            raise ValueError(f"{self.name}: add_weight: `aggregation` must be one of None, 'none', 'mean', 'sum', "
                             f"'only_first_replica'; received {aggregation!r}")
        shape = () if shape is None else tuple(int(d) for d in shape)
        dtype = np.dtype(dtype or self.dtype).name
        if name is None:
            name = "variable" if not self._weights else f"variable_{len(self._weights)}"
        loading = _state.weights_from_file
        if loading:
            # Loading a model file: no initializer runs and nothing of the weight's size is allocated
            # (see weights_from_file); the Variable is made on a scalar, then given the placeholder.
            value = np.zeros((), dtype=dtype)
        else:
            value = initializers_module.get(initializer or "glorot_uniform")(shape, dtype=dtype)
        scopes = _state.name_scope
        scope = scopes if scopes and scopes[-1] == self.name else [*scopes, self.name]
        variable = Variable(np.asarray(value, dtype=dtype), name=name, trainable=trainable and self._trainable,
                            constraint=constraints_module.get(constraint), path="/".join([*scope, name]))
        if loading:
            variable.data = _placeholder(shape, dtype)
        variable._layer_trainable = trainable
        self._weights.append(variable)
        regularizer = regularizers_module.get(regularizer)
        if regularizer is not None:
            self._regularizers.append((variable, regularizer))
        return variable

    def build(self, input_shape) -> None:
        """Create the weights for inputs of ``input_shape`` (batch axis included)."""
        self.built = True

    def call(self, inputs, training=None):
        """The computation on tensors; subclasses override."""
        raise NotImplementedError(f"{type(self).__name__} ({self.name}) has no call() method; a Layer subclass "
                                  f"defines call(self, inputs)")

    def compute_output_shape(self, input_shape):
        """Output shape for ``input_shape`` (batch axis included, may be None).

        Layers without a formula of their own run ``call`` on zeros to find it
        (see :func:`probe_output_shape`).
        """
        return probe_output_shape(lambda *tensors: self._call_in_context(tensors[0], (), {}, False),
                                  [input_shape], [self.dtype], owner=self.name)

    # --- calling -------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        state = _state
        if state.call_depth == 0 and _layers_with_losses:
            # An outermost call starts the loss terms afresh; the calls nested in it (a shared layer
            # called twice, as in a siamese network) each add theirs, as in Keras.
            self._clear_losses()
        state.call_depth += 1
        try:
            with name_scope(self.name):
                return self._call(*args, **kwargs)
        finally:
            state.call_depth -= 1

    def __setstate__(self, state: dict) -> None:
        """copy.copy / copy.deepcopy: a copy that holds loss terms is known to hold them, as its original."""
        self.__dict__.update(state)
        if state.get("_call_losses") or state.get("_activity_losses"):
            _layers_with_losses[id(self)] = self

    def _clear_losses(self) -> None:
        self._call_losses, self._activity_losses = [], []
        _layers_with_losses.pop(id(self), None)
        children = self._layers if getattr(self, "_graph", False) else self._sublayers
        for layer in children:
            layer._clear_losses()

    def _call(self, *args, **kwargs):
        if not args:
            if "inputs" not in kwargs:
                raise TypeError(f"{self.name}: a layer is called on its inputs: layer(inputs, ...)")
            args = (kwargs.pop("inputs"),)
        inputs, extra = args[0], args[1:]
        if (not extra and isinstance(inputs, (np.ndarray, Tensor)) and all(key == "training" for key in kwargs)
                and isinstance(kwargs.get("training"), (type(None), bool, np.bool_))):
            # one array and at most a plain `training` flag (most calls inside a model): nothing nested to search
            recording = isinstance(inputs, Tensor)
        elif contains_symbolic((args, kwargs)):
            return self._call_symbolic(inputs, extra, kwargs)
        else:
            recording = any(isinstance(x, Tensor) for x in flatten((args, kwargs)))
        if isinstance(inputs, (list, tuple)) and any(isinstance(x, (bool, int, float, complex, str))
                                                     for x in flatten(inputs)):
            raise TypeError(f"{self.name}: `inputs` must be an array or a list of arrays; received a nested list "
                            f"of Python values. Convert it first, e.g. np.asarray(inputs, dtype='float32')")
        tensors = map_structure(self._as_tensor, inputs)
        if not self.built:
            self.build(map_structure(lambda t: t.shape, tensors))
            self.built = True
        self._check_input(map_structure(lambda t: t.shape, tensors))
        training = kwargs.pop("training", None)
        if recording:
            outputs = self._call_in_context(tensors, extra, kwargs, training)
        else:
            with no_grad():
                outputs = self._call_in_context(tensors, extra, kwargs, training)
        if self.activity_regularizer is not None:
            # Keras 3 divides the penalty by the batch size, so its strength does not depend on it.
            self._activity_losses += [self.activity_regularizer(output) * (1.0 / max(output.shape[0], 1))
                                      if output.ndim > 0 else self.activity_regularizer(output)
                                      for output in flatten(outputs)]
            _layers_with_losses[id(self)] = self
        return outputs if recording else map_structure(lambda t: t.data if isinstance(t, Tensor) else t, outputs)

    def _call_in_context(self, inputs, extra, kwargs, training):
        """Run ``call`` with ``training`` resolved (explicit, else the outer call's) and passed when accepted."""
        stack = _state.call_training
        if training is None:
            training = stack[-1]
        if training is None:   # neither given nor inherited: the default of ``call``'s signature, as in Keras
            training = _training_default(type(self))
        if _call_accepts(type(self), "training"):
            kwargs = {**kwargs, "training": training}
        stack.append(training)
        try:
            return self.call(inputs, *extra, **kwargs)
        finally:
            stack.pop()

    def _call_symbolic(self, inputs, extra=(), kwargs=None):
        """Shape inference only: record this call as a node of a functional graph."""
        kwargs = dict(kwargs or {})
        if contains_symbolic((extra, kwargs)):
            raise TypeError(f"{self.name}: in a functional model, symbolic tensors go in the first argument "
                            f"(a tensor, list or dict of tensors); the other arguments must be constants")
        shapes = map_structure(lambda t: t.shape, inputs)
        if not self.built:
            self.build(shapes)
            self.built = True
        self._check_input(shapes)
        if extra or set(kwargs) - {"training"}:
            output_shape = probe_output_shape(
                lambda *tensors: self._call_in_context(pack_sequence_as(inputs, tensors), extra, kwargs, False),
                [t.shape for t in flatten(inputs)], [t.dtype for t in flatten(inputs)], owner=self.name)
        else:
            output_shape = self.compute_output_shape(shapes)
        output = SymbolicTensor(tuple(output_shape), self.dtype, self, inputs, extra, kwargs)
        self._inbound_nodes.append(output)
        return output

    @property
    def input(self):
        """The symbolic input of this layer's first call in a functional graph (as Keras)."""
        return self._first_node("input").call_inputs

    @property
    def output(self):
        """The symbolic output of this layer's first call in a functional graph (as Keras)."""
        return self._first_node("output")

    def _first_node(self, attribute: str):
        if not self._inbound_nodes:
            raise AttributeError(f"The layer {self.name} has never been called on a symbolic tensor (an Input or "
                                 f"a layer output) and thus has no defined {attribute}")
        return self._inbound_nodes[0]

    def _as_tensor(self, value) -> Tensor:
        if isinstance(value, Tensor):
            data = value.data
        else:
            data = np.asarray(value)
        if data.dtype.kind in "biu" or data.dtype == bool:
            raise TypeError(f"{self.name}: inputs must be floating point; received dtype {data.dtype}. "
                            f"Convert explicitly, e.g. x.astype('float32') (and / 255 for pixels).")
        if data.dtype.kind != "f":
            raise TypeError(f"{self.name}: inputs must be floating point arrays; received dtype {data.dtype}")
        if isinstance(value, Tensor):
            return value if data.dtype == self.dtype else value.astype(self.dtype)
        return Tensor(data.astype(self.dtype, copy=False))

    def _check_input(self, input_shape) -> None:
        """Raise a clear error for inputs the built layer cannot take."""

    # --- tracking: sub-layers and variables set as attributes -------------------
    def _tracked(self):
        """Sub-layers and extra variables set as attributes (directly or in lists, tuples, dicts),
        in the order they were set, as Keras tracks them."""
        layers, variables, own = [], [], {id(w) for w in self._weights}
        for key, value in vars(self).items():
            if key in _UNTRACKED:
                continue
            items = value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) \
                else (value,)
            for item in items:
                if isinstance(item, Layer) and item is not self:
                    layers.append(item)
                elif isinstance(item, Variable) and id(item) not in own:
                    own.add(id(item))
                    variables.append(item)
        return list({id(layer): layer for layer in layers}.values()), variables

    @property
    def _sublayers(self) -> list:
        return self._tracked()[0]

    # --- weights -------------------------------------------------------------
    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)
        for variable in self._weights:
            variable.trainable = self._trainable and variable._layer_trainable
        for layer in self._sublayers:
            layer.trainable = value

    @property
    def weights(self) -> list[Variable]:
        """Own weights (trainable ones first, as Keras orders them), then the sub-layers'."""
        sublayers, extra = self._tracked()
        own = self._weights + extra
        ordered = [w for w in own if getattr(w, "_layer_trainable", w.trainable)] + \
                  [w for w in own if not getattr(w, "_layer_trainable", w.trainable)]
        seen = {id(w): w for w in ordered}
        for layer in sublayers:
            for weight in layer.weights:
                seen.setdefault(id(weight), weight)
        return list(seen.values())

    @property
    def trainable_weights(self) -> list[Variable]:
        return [w for w in self.weights if w.trainable] if self.trainable else []

    @property
    def non_trainable_weights(self) -> list[Variable]:
        return [w for w in self.weights if not w.trainable] if self.trainable else self.weights

    variables = property(lambda self: self.weights, doc="Keras 3's name for every weight of the layer.")
    trainable_variables = property(lambda self: self.trainable_weights)
    non_trainable_variables = property(lambda self: self.non_trainable_weights)

    def get_weights(self) -> list[np.ndarray]:
        """Copies of the weights, in Keras order."""
        return [w.data.copy() for w in self.weights]

    def set_weights(self, weights) -> None:
        """Load a list of arrays in Keras order (shapes must match)."""
        weights = list(weights)
        if len(weights) != len(self.weights):
            raise ValueError(f"{self.name}: set_weights expects {len(self.weights)} arrays "
                             f"{[w.shape for w in self.weights]}; received {len(weights)}")
        for variable, value in zip(self.weights, weights):
            variable.assign(value)

    def count_params(self) -> int:
        if not self.built:
            raise ValueError(f"{self.name}: count_params() needs a built layer; call build(input_shape) first")
        return int(sum(w.size for w in self.weights))

    def add_loss(self, loss) -> None:
        """Add a loss term (a scalar tensor) computed in ``call``; ``fit`` adds it to the loss.

        The terms of an outermost call replace those of the previous one; within it, every call of
        the layer adds its terms, as in Keras.
        """
        self._call_losses.append(loss if isinstance(loss, Tensor) else Tensor(np.asarray(loss)))
        _layers_with_losses[id(self)] = self

    @property
    def losses(self) -> list:
        """Regularisation terms: weight penalties (on the current weights), the activity
        penalty and the ``add_loss`` terms of the last call, then the sub-layers'.
        Tensors, so they backpropagate."""
        own = [regularizer(variable) for variable, regularizer in self._regularizers] \
            + self._activity_losses + self._call_losses
        return own + [loss for layer in self._sublayers for loss in layer.losses]

    # --- config --------------------------------------------------------------
    def __new__(cls, *args, **kwargs):
        # The constructor's arguments, kept so a subclass without a get_config of its own still
        # serializes (as Keras 3 does): they are its config when they are plain values.
        instance = super().__new__(cls)
        instance._init_arguments = (args, kwargs)
        return instance

    def get_config(self) -> dict:
        """``name``, ``trainable``, ``dtype`` (and the input shape); for a subclass that does not
        define ``get_config``, also its constructor's keyword arguments when they are plain values."""
        config = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype}
        if self.batch_input_shape is not None:
            config["batch_input_shape"] = self.batch_input_shape
        inherited = getattr(type(self).get_config, "__module__", "").split(".")[0] == "clearconv"
        if inherited and type(self).__module__.split(".")[0] != "clearconv":
            config.update(_constructor_config(self))
        return config

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


def _constructor_config(layer: Layer) -> dict:
    """The keyword form of the arguments ``layer`` was constructed with; a TypeError when they are
    not plain values (the subclass must then define get_config)."""
    args, kwargs = getattr(layer, "_init_arguments", ((), {}))
    parameters = [p for p in inspect.signature(type(layer).__init__).parameters.values()
                  if p.name != "self" and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(args) > len(parameters):
        raise TypeError(f"{type(layer).__name__}: cannot make a config from {len(args)} positional arguments; "
                        f"define get_config()")
    config = {p.name: value for p, value in zip(parameters, args)}
    config.update({k: v for k, v in kwargs.items() if k not in ("name", "trainable", "dtype")})
    for key, value in config.items():
        if not _is_plain(value):
            raise TypeError(f"{type(layer).__name__}: its constructor argument {key}={value!r} is not a plain value "
                            f"(number, string, bool, None, or a list/dict of them); define get_config() and "
                            f"from_config() to serialize it")
    return config


def _is_plain(value) -> bool:
    if isinstance(value, (list, tuple)):
        return all(_is_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain(v) for k, v in value.items())
    return value is None or isinstance(value, (bool, int, float, str))


def _training_default(cls):
    """The default of ``training`` in ``cls.call``'s signature (None when it has none): Keras's image
    augmentation layers declare ``training=True``, so a bare call augments, as there."""
    cache = cls.__dict__.get("_training_default_cache")
    if cache is None:
        parameter = inspect.signature(cls.call).parameters.get("training")
        cache = (None if parameter is None or parameter.default is inspect.Parameter.empty
                 else parameter.default,)
        setattr(cls, "_training_default_cache", cache)
    return cache[0]


def _call_accepts(cls, argument: str) -> bool:
    """Whether ``cls.call`` takes ``argument`` (by name or through ``**kwargs``)."""
    cache = cls.__dict__.get("_call_arguments_cache")
    if cache is None:
        parameters = inspect.signature(cls.call).parameters.values()
        cache = ({p.name for p in parameters}, any(p.kind is p.VAR_KEYWORD for p in parameters))
        setattr(cls, "_call_arguments_cache", cache)
    names, var_keyword = cache
    return argument in names or var_keyword


def probe_output_shape(function, input_shapes, dtypes, owner: str):
    """The output shape(s) of ``function(*tensors)`` for inputs of ``input_shapes`` (None allowed):
    a tuple, or a list of tuples when ``function`` returns a list (see :func:`probe_output_spec`)."""
    return probe_output_spec(function, input_shapes, dtypes, owner)[0]


def probe_output_spec(function, input_shapes, dtypes, owner: str):
    """``(shape(s), dtype name of the first output)`` of ``function(*tensors)``.

    Runs ``function`` twice without recording, on zeros with every unknown size set to 2 and then
    to 3: a size that follows the unknown ones becomes None.
    """
    def run(size):
        arrays = [np.zeros([size if d is None else d for d in shape], dtype=dtype)
                  for shape, dtype in zip(input_shapes, dtypes)]
        with no_grad():
            result = function(*[Tensor(a) for a in arrays])
        outputs = [np.asarray(o.data if isinstance(o, Tensor) else o) for o in flatten(result)]
        return outputs, isinstance(result, (list, tuple))
    try:
        (first, is_list), (second, _) = run(2), run(3)
    except Exception as error:  # the shape the layer or op could not take is what the user needs to see
        raise type(error)(f"{owner}: could not infer the output shape by running the computation on zeros of "
                          f"shape(s) {list(map(tuple, input_shapes))}: {error}. Define compute_output_shape() "
                          f"to give it") from error
    shapes = [tuple(a if a == b else None for a, b in zip(s2.shape, s3.shape)) for s2, s3 in zip(first, second)]
    return (shapes if is_list else shapes[0]), first[0].dtype.name


class SymbolicTensor:
    """A placeholder with a shape (batch axis None) and the layer call that produced it.

    ``call_inputs`` keeps the structure the layer was called with (a tensor,
    or a list or dict of tensors), ``call_args``/``call_kwargs`` the constant
    arguments that followed, so a functional model can replay the call.
    Arithmetic and indexing (``x + y``, ``-x``, ``x[:, 1:]``) add the
    matching :mod:`clearconv.ops` nodes, as on Keras's symbolic tensors.
    """

    def __init__(self, shape: tuple, dtype: str, layer: Layer, call_inputs, call_args=(), call_kwargs=None):
        self.shape, self.dtype, self.layer = tuple(shape), dtype, layer
        self.call_inputs = call_inputs
        self.call_args, self.call_kwargs = tuple(call_args), dict(call_kwargs or {})
        self.inputs = flatten(call_inputs)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def name(self) -> str:
        return self.layer.name

    def __repr__(self):
        return f"<SymbolicTensor shape={self.shape}, dtype={self.dtype}, name={self.layer.name}>"

    def __bool__(self):
        raise TypeError("a symbolic tensor has no value: it cannot be used as a condition (if/while/and/or); "
                        "use clearconv.ops.where for element-wise choices")

    def _op(self, name: str, *args):
        from .operation import Operation
        return Operation.apply(name, args, {})

    __add__ = lambda self, other: self._op("numpy.add", self, other)
    __radd__ = lambda self, other: self._op("numpy.add", other, self)
    __sub__ = lambda self, other: self._op("numpy.subtract", self, other)
    __rsub__ = lambda self, other: self._op("numpy.subtract", other, self)
    __mul__ = lambda self, other: self._op("numpy.multiply", self, other)
    __rmul__ = lambda self, other: self._op("numpy.multiply", other, self)
    __truediv__ = lambda self, other: self._op("numpy.divide", self, other)
    __rtruediv__ = lambda self, other: self._op("numpy.divide", other, self)
    __matmul__ = lambda self, other: self._op("numpy.matmul", self, other)
    __rmatmul__ = lambda self, other: self._op("numpy.matmul", other, self)
    __pow__ = lambda self, other: self._op("numpy.power", self, other)
    __rpow__ = lambda self, other: self._op("numpy.power", other, self)
    __neg__ = lambda self: self._op("numpy.negative", self)
    __abs__ = lambda self: self._op("numpy.absolute", self)

    def __getitem__(self, index):
        return self._op("numpy.get_item", self, index)


def contains_symbolic(structure) -> bool:
    """Whether a symbolic tensor appears anywhere in a (nested) list, tuple or dict."""
    return any(isinstance(item, SymbolicTensor) for item in flatten(structure))


def serialize(obj):
    """A layer-config entry for an initializer/regularizer/constraint: names and config dicts stay as given."""
    return obj if isinstance(obj, (str, dict)) else serialize_object(obj)
