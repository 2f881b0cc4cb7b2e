"""Shared helpers: the library's random generator and Keras-style object lookup.

Randomness: every unseeded random draw in clearconv (initializers with
``seed=None``, dropout masks, shuffling) comes from one module-level
:class:`numpy.random.Generator`. :func:`set_seed` replaces it, so the same
seed gives bit-identical results on the same machine. NumPy's legacy global
state (``np.random.seed``) is neither used nor touched.

Lookup: initializers, regularizers and constraints are named the way Keras
names them and are resolved by :func:`deserialize_object`, which accepts the
same identifiers as ``keras.<module>.get`` (None, a name, a config dict, a
class, an instance or a callable).
"""

from __future__ import annotations

import inspect
import re
from typing import Any, Mapping

import numpy as np

# Seeded from OS entropy until set_seed is called.
_global_rng = np.random.default_rng()


def set_seed(seed: int | None) -> None:
    """Re-create the module-level generator from ``seed`` (None: fresh OS entropy)."""
    global _global_rng
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
        raise ValueError(f"set_seed: `seed` must be a non-negative integer or None; received {seed!r}")
    _global_rng = np.random.default_rng(seed)


def global_rng() -> np.random.Generator:
    """The generator used by every unseeded random draw in clearconv."""
    return _global_rng


def snake_case(class_name: str) -> str:
    """Keras's lowercase name of a class: GlorotUniform -> glorot_uniform, L1L2 -> l1l2.

    An underscore goes before each capitalised word and between a lowercase
    letter and a capital; a digit followed by a capital ("L1L2") gets none.
    """
    spaced = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", class_name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", spaced).lower()


def valid_names(registry: Mapping[str, Any]) -> str:
    """The registry's names, sorted case-insensitively, as one comma-separated string."""
    return ", ".join(sorted(registry, key=lambda name: (name.lower(), name)))


def deserialize_object(identifier, registry: Mapping[str, type], kind: str,
                       name_kwargs: Mapping[str, dict] | None = None):
    """Resolve a Keras-style identifier to an object (or None).

    identifier: None -> None; a name in ``registry`` -> a new instance built
    with ``name_kwargs.get(name, {})``; ``{"class_name": ..., "config": ...}``
    -> ``cls.from_config(config)``; a class -> a default instance; any other
    callable (an instance, a function) -> itself.
    kind: the word used in error messages, e.g. "initializer".
    """
    if identifier is None:
        return None
    if isinstance(identifier, str):
        cls = _lookup(identifier, registry, kind)
        return cls(**(name_kwargs or {}).get(identifier, {}))
    if isinstance(identifier, Mapping):
        return _from_config_dict(identifier, registry, kind)
    if inspect.isclass(identifier):
        return identifier()
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret {kind} identifier: {identifier!r}. Expected None, a name "
                     f"({valid_names(registry)}), a dict with 'class_name' and 'config', or a callable.")


def serialize_object(obj) -> dict | None:
    """``{"class_name": ..., "config": ...}`` for an object with ``get_config``; None stays None."""
    if obj is None:
        return None
    if not hasattr(obj, "get_config"):
        raise ValueError(f"Cannot serialize {obj!r}: it has no get_config(); give it by name or as a class "
                         f"with get_config/from_config.")
    return {"class_name": type(obj).__name__, "config": obj.get_config()}


def _lookup(name: str, registry: Mapping[str, type], kind: str) -> type:
    if name not in registry:
        raise ValueError(f"Unknown {kind} {name!r}. Valid: {valid_names(registry)}")
    return registry[name]


def _from_config_dict(identifier: Mapping, registry: Mapping[str, type], kind: str):
    if "class_name" not in identifier:
        raise ValueError(f"A {kind} config dict needs the keys 'class_name' and 'config'; "
                         f"received keys {sorted(identifier)}")
    cls = _lookup(identifier["class_name"], registry, kind)
    return cls.from_config(dict(identifier.get("config") or {}))


def rebuild_function_wrapper(cls, config: Mapping, functions: Mapping, custom_objects, kind: str):
    """``cls(function, **rest)`` from a config whose "fn" names a function in ``functions``
    (or in ``custom_objects``); a wrapper's config stores the function by name only."""
    config = dict(config)
    fn = config.pop("fn", None)
    known = {**functions, **dict(custom_objects or {})}
    if not isinstance(fn, str) or fn not in known:
        raise ValueError(f"{cls.__name__}: cannot rebuild the {kind} function {fn!r}; pass it in "
                         f"custom_objects. Known functions: {valid_names(functions)}")
    return cls(known[fn], **config)


class Configurable:
    """Keras's config round trip for small objects (initializers, regularizers, constraints):
    subclasses list their arguments in ``get_config``; ``from_config`` calls the constructor."""

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self):
        arguments = ", ".join(f"{key}={value!r}" for key, value in self.get_config().items())
        return f"{type(self).__name__}({arguments})"
