"""Nested structures of values, as Keras 3's ``keras.tree`` handles them (same function names).

A structure is a leaf or a list, tuple or dict of structures. Layers take
and return them (several inputs as a list, named outputs as a dict), and
``fit`` receives data as ``(x, y, sample_weight)`` with each part one of them.

* :func:`flatten` lists the leaves: lists and tuples in order, dicts in
  sorted key order (Keras's order, which does not depend on how a dict was
  built); None is a leaf.
* :func:`map_structure` applies a function to every leaf and keeps the
  containers: a tuple stays a tuple (a namedtuple keeps its class), a dict
  keeps its key order. The function meets the leaves in :func:`flatten`'s
  order.
* :func:`pack_sequence_as` is the inverse of :func:`flatten`: a structure's
  layout filled with the given leaves.

The functions carry ``keras.tree``'s names; the module is not offered as
``keras.tree`` (docs/keras.md), hence its own name.
"""

from __future__ import annotations

_CONTAINERS = (list, tuple, dict)


def is_nested(structure) -> bool:
    """Whether ``structure`` is a list, tuple or dict (rather than a leaf)."""
    return isinstance(structure, _CONTAINERS)


def flatten(structure) -> list:
    """The leaves of ``structure``: lists and tuples in order, dicts in sorted key order."""
    if isinstance(structure, dict):
        return [leaf for key in sorted(structure) for leaf in flatten(structure[key])]
    if isinstance(structure, (list, tuple)):
        return [leaf for item in structure for leaf in flatten(item)]
    return [structure]


def map_structure(function, structure, none_is_leaf: bool = True):
    """``structure`` with every leaf replaced by ``function(leaf)``, its containers kept.

    ``none_is_leaf=False`` leaves None where it is, without calling
    ``function`` (a missing ``y`` or ``sample_weight`` stays missing).
    """
    if isinstance(structure, dict):
        # Visit the keys in flatten's order; give the result the dict's own key order.
        mapped = {key: map_structure(function, structure[key], none_is_leaf) for key in sorted(structure)}
        return {key: mapped[key] for key in structure}
    if isinstance(structure, (list, tuple)):
        items = [map_structure(function, item, none_is_leaf) for item in structure]
        if isinstance(structure, list):
            return items
        return type(structure)(*items) if hasattr(structure, "_fields") else type(structure)(items)
    if structure is None and not none_is_leaf:
        return None
    return function(structure)


def pack_sequence_as(structure, flat_sequence):
    """The layout of ``structure`` with its leaves replaced, in :func:`flatten`'s order, by
    ``flat_sequence`` (which must hold exactly one value per leaf)."""
    leaves = list(flat_sequence)
    expected = len(flatten(structure))
    if len(leaves) != expected:
        raise ValueError(f"pack_sequence_as: the structure has {expected} leaves but {len(leaves)} values were "
                         f"given")
    values = iter(leaves)
    return map_structure(lambda _: next(values), structure)
