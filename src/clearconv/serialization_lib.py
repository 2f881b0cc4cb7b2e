"""One lookup for Keras identifiers: ``get``, ``serialize`` and ``deserialize`` of every module that names objects.

Losses, metrics, optimizers, learning-rate schedules, activations, initializers,
regularizers and constraints each describe their names once, as a
:class:`Catalog`, and their module functions are the catalog's::

    CATALOG = Catalog("regularizer", ALL_OBJECTS, base=Regularizer)
    get, serialize, deserialize = CATALOG.get, CATALOG.serialize, CATALOG.deserialize

What ``get(identifier)`` accepts, as Keras's ``keras.<module>.get``:

* None -> the catalog's ``default`` (None; ``activations.linear``; an error for optimizers);
* a name -> ``build(name, object)`` for a name of the catalog's table (by
  default a new instance of the class it names); a name found among the
  user's objects (below) is read as that object;
* ``{"class_name": ..., "config": ...}`` -> :meth:`Catalog.deserialize`;
* an instance of ``base`` -> itself; a class (a subclass of ``base``) -> a default instance;
* any other callable -> ``wrap(callable)`` (by default the callable itself: a
  user's initializer or activation function; losses and metrics wrap a function
  in their ``LossFunctionWrapper`` / ``MeanMetricWrapper``; optimizers and
  schedules take none).

A name is looked up, in this order, in ``custom_objects``, in an open
:func:`clearconv.saving.custom_object_scope`, among the objects registered with
:func:`clearconv.saving.register_keras_serializable`, then in the catalog's own
table. Nothing is imported by name, so a config never runs code it names.

``serialize(obj)`` is ``{"class_name": <registered name, else the class name>,
"config": obj.get_config()}``; ``deserialize`` reverses it with the class's
``from_config`` (given ``custom_objects`` too when its ``from_config`` takes
them: the function wrappers, whose config names their function under ``"fn"``,
see :func:`rebuild_function_wrapper`).
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Mapping

from . import saving
from .utils import valid_names

# ``default`` of a catalog whose ``get(None)`` is an error (Keras's optimizers.get).
REQUIRED = object()


class Catalog:
    """The objects of one kind that Keras identifiers may name, and their (de)serialization.

    Args:
        kind: the word in error messages ("loss", "metric", ...).
        names: every string ``get`` accepts -> the object it names (class names,
            snake_case names, Keras's aliases).
        base: the kind's base class: its instances pass through ``get`` and its
            subclasses are instantiated (None: any class is).
        classes: ``class_name`` of a config dict -> class (default: ``names``).
        build: ``build(name, obj)`` makes the object a name of ``names`` gives
            (default: ``obj()``).
        wrap: makes the object of a callable that is neither a ``base`` instance nor a class
            (default: the callable itself; None together with ``callables=False``: an error).
        callables: whether such a callable is an identifier at all (not for optimizers and schedules).
        default: what ``get(None)`` returns; :data:`REQUIRED` makes it an error.
        fold_case: also try the lower-case form of an unknown name ("ADAM" -> "adam").
        error: the exception type for an identifier of the wrong type.
    """

    def __init__(self, kind: str, names: Mapping[str, Any], *, base: type | None = None,
                 classes: Mapping[str, type] | None = None,
                 build: Callable[[str, Any], Any] | None = None, wrap: Callable[[Callable], Any] | None = None,
                 callables: bool = True, default: Any = None, fold_case: bool = False,
                 error: type[Exception] = ValueError) -> None:
        self.kind = kind
        self.names = names
        self.base = base
        self.classes = names if classes is None else classes
        self._build = build or (lambda name, obj: obj())
        self._wrap = wrap
        self.callables = callables
        self.default = default
        self.fold_case = fold_case
        self._error = error

    # --- lookup ---------------------------------------------------------------------------------
    def resolve(self, name: str, table: Mapping[str, Any], custom_objects: Mapping | None = None):
        """The object ``name`` gives: the user's objects first (see the module docstring), then ``table``."""
        found = saving.get_registered_object(name, custom_objects, table)
        if found is None and self.fold_case:
            found = table.get(name.lower())
        if found is None:
            raise ValueError(f"Unknown {self.kind} {name!r}. Valid: {valid_names(table)}")
        return found

    # --- get ------------------------------------------------------------------------------------
    def get(self, identifier, custom_objects: Mapping | None = None):
        """The object ``identifier`` names; see the module docstring for what is accepted."""
        if identifier is None:
            if self.default is REQUIRED:
                raise self._uninterpretable(identifier)
            return self.default
        if isinstance(identifier, str):
            found = self.resolve(identifier, self.names, custom_objects)
            for key in (identifier, identifier.lower()) if self.fold_case else (identifier,):
                if self.names.get(key) is found:
                    return self._build(key, found)
            return self.get(found)  # a user's class or function, by its name
        if isinstance(identifier, Mapping):
            return self.deserialize(identifier, custom_objects)
        if self.base is not None and isinstance(identifier, self.base):
            return identifier
        if inspect.isclass(identifier) and (self.base is None or issubclass(identifier, self.base)):
            return identifier()
        if callable(identifier) and self.callables:
            return identifier if self._wrap is None else self._wrap(identifier)
        raise self._uninterpretable(identifier)

    def _uninterpretable(self, identifier) -> Exception:
        article = "an" if self.kind[0] in "aeiou" else "a"
        others = "a class, an instance or a callable" if self.callables else "a class or an instance"
        return self._error(f"Could not interpret {self.kind} identifier {identifier!r}: {article} {self.kind} must "
                           f"be a name ({valid_names(self.names)}), a dict with 'class_name' and 'config', {others}")

    # --- config round trip ----------------------------------------------------------------------
    def serialize(self, obj) -> dict | None:
        """``{"class_name": ..., "config": obj.get_config()}``; None stays None, a name is resolved first."""
        if obj is None:
            return None
        if isinstance(obj, (str, Mapping)) or inspect.isclass(obj):
            obj = self.get(obj)
        if not hasattr(obj, "get_config"):
            raise ValueError(f"Cannot serialize the {self.kind} {obj!r}: it has no get_config(); give it by name or "
                             f"as a class with get_config/from_config")
        return {"class_name": saving.get_registered_name(type(obj)), "config": obj.get_config()}

    def deserialize(self, config, custom_objects: Mapping | None = None):
        """The object a :meth:`serialize` dict describes (a name is accepted too, as by :meth:`get`)."""
        if isinstance(config, str):
            return self.get(config, custom_objects)
        if not isinstance(config, Mapping) or "class_name" not in config:
            received = f"keys {sorted(config)}" if isinstance(config, Mapping) else repr(config)
            raise ValueError(f"A {self.kind} config must be a name or a dict with the keys 'class_name' and "
                             f"'config'; received {received}")
        cls = self.resolve(config["class_name"], self.classes, custom_objects)
        arguments = dict(config.get("config") or {})
        if not hasattr(cls, "from_config"):
            raise ValueError(f"The {self.kind} {config['class_name']!r} is not a class with from_config(); "
                             f"received {cls!r}")
        if "custom_objects" in inspect.signature(cls.from_config).parameters:
            return cls.from_config(arguments, custom_objects=custom_objects)
        return cls.from_config(arguments)


def rebuild_function_wrapper(cls, config: Mapping, functions: Mapping[str, Callable], custom_objects: Mapping | None,
                             kind: str):
    """``cls(function, **rest)`` from a wrapper's config, whose ``"fn"`` names the function.

    A wrapper (LossFunctionWrapper, MeanMetricWrapper) stores its function by name only
    (:func:`function_name`), so the name is looked up like any other: in ``custom_objects``,
    the open scopes and the registry, then in ``functions`` (the module's own); a function of
    your own must be registered or passed in ``custom_objects`` to be found again.
    """
    config = dict(config)
    name = config.pop("fn", None)
    found = saving.get_registered_object(name, custom_objects, functions) if isinstance(name, str) else None
    if not callable(found):
        raise ValueError(f"{cls.__name__}: cannot rebuild the {kind} function {name!r}; pass it in custom_objects. "
                         f"Known functions: {valid_names(functions)}")
    return cls(found, **config)


def function_name(function) -> str:
    """The name a wrapper's config stores for its function: the registered name, else ``__name__``."""
    return saving.get_registered_name(function) if hasattr(function, "__name__") else repr(function)
