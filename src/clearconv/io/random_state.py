"""The random state of training, saved with a model so that a resumed training draws what an
uninterrupted one would.

Training draws from three kinds of generators, all saved by ``model.save``
(in the member ``random_state.json``):

* clearconv's global generator (:func:`clearconv.utils.global_rng`): the
  shuffling of ``fit``, unseeded Dropout, SpatialDropout, GaussianNoise and
  GaussianDropout, :mod:`clearconv.random` with ``seed=None``;
* the generator of each seeded dropout or noise layer (its ``_rng``);
* every :class:`clearconv.random.SeedGenerator` a layer holds as an attribute
  (its ``[seed, n]`` state).

``load_model`` restores the last two, which belong to the model. The global
generator belongs to the program: ``load_model`` leaves it alone (so loading
never changes what the program draws next), and :func:`restore_global_rng`
sets it to its state at the save, for a training resumed in a new process.
Within one process nothing needs restoring: loading draws nothing.

A state in the file is ``{"global": <PCG64 state>, "layers": [{"layer": path,
"attribute": name, "generator": <PCG64 state>} or {..., "seed_generator":
[seed, n]}]}``, a PCG64 state being NumPy's ``bit_generator.state`` dict.
"""

from __future__ import annotations

import numpy as np

from .errors import ModelFileError

MEMBER = "random_state.json"


def walk_layers(model):
    """``(path, layer)`` for ``model`` and every layer it holds, depth first, each once; ``path`` joins
    the layer names from the model down."""
    seen, order = set(), []
    stack = [(model.name, model)]
    while stack:
        path, layer = stack.pop()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        order.append((path, layer))
        stack.extend((f"{path}/{child.name}", child) for child in reversed(layer._sublayers))
    return order


def _generators(model):
    """``(layer path, attribute, generator)`` for every generator the model's layers hold, in walk order."""
    from ..random import SeedGenerator
    found = []
    for path, layer in walk_layers(model):
        for attribute, value in vars(layer).items():
            if isinstance(value, (np.random.Generator, SeedGenerator)):
                found.append((path, attribute, value))
    return found


def capture(model) -> dict:
    """The JSON-ready random state of training with ``model`` (see the module docstring)."""
    from .. import utils
    layers = []
    for path, attribute, generator in _generators(model):
        entry = {"layer": path, "attribute": attribute}
        if isinstance(generator, np.random.Generator):
            entry["generator"] = generator.bit_generator.state
        else:
            entry["seed_generator"] = [int(v) for v in generator.state.data]
        layers.append(entry)
    return {"global": utils.global_rng().bit_generator.state, "layers": layers}


def _is_uint(value, bits: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**bits


def _check_pcg64(path: str, state, where: str) -> dict:
    inner = state.get("state") if isinstance(state, dict) else None
    if not (isinstance(state, dict) and set(state) == {"bit_generator", "state", "has_uint32", "uinteger"}
            and state["bit_generator"] == "PCG64" and isinstance(inner, dict) and set(inner) == {"state", "inc"}
            and _is_uint(inner["state"], 128) and _is_uint(inner["inc"], 128) and inner["inc"] % 2 == 1
            and state["has_uint32"] in (0, 1) and not isinstance(state["has_uint32"], bool)
            and _is_uint(state["uinteger"], 32)):
        raise ModelFileError(path, MEMBER, f"{where} is not the state of a PCG64 generator (NumPy's "
                                           f"bit_generator.state: 128-bit state and odd increment, has_uint32 0 "
                                           f"or 1, a 32-bit uinteger)")
    return state


def check(path: str, state, model) -> list:
    """``[(generator, saved state)]`` pairing ``model``'s generators with the file's, after checking that
    the file lists the same generators (same layers, same attributes, in order) with valid states."""
    from ..random import SeedGenerator
    if not (isinstance(state, dict) and set(state) == {"global", "layers"} and isinstance(state["layers"], list)):
        raise ModelFileError(path, MEMBER, "must be an object with 'global' and 'layers'")
    _check_pcg64(path, state["global"], "global")
    generators = _generators(model)
    if len(state["layers"]) != len(generators):
        raise ModelFileError(path, MEMBER, f"lists {len(state['layers'])} layer generators; the model has "
                                           f"{len(generators)}")
    pairs = []
    for index, (entry, (layer, attribute, generator)) in enumerate(zip(state["layers"], generators)):
        where = f"layers[{index}]"
        if not isinstance(entry, dict) or entry.get("layer") != layer or entry.get("attribute") != attribute:
            raise ModelFileError(path, MEMBER, f"{where} should be the generator {attribute!r} of layer {layer!r}")
        if isinstance(generator, SeedGenerator):
            saved = entry.get("seed_generator")
            if not (isinstance(saved, list) and len(saved) == 2 and all(_is_uint(v, 32) for v in saved)) \
                    or set(entry) != {"layer", "attribute", "seed_generator"}:
                raise ModelFileError(path, MEMBER, f"{where}: seed_generator must be [seed, n], two 32-bit "
                                                   f"unsigned integers")
        else:
            if set(entry) != {"layer", "attribute", "generator"}:
                raise ModelFileError(path, MEMBER, f"{where}: expected the state of a generator")
            saved = _check_pcg64(path, entry["generator"], where)
        pairs.append((generator, saved))
    return pairs


def restore_layers(pairs: list) -> None:
    """Set each of the model's generators to its saved state (pairs from :func:`check`)."""
    for generator, saved in pairs:
        if isinstance(generator, np.random.Generator):
            generator.bit_generator.state = saved
        else:
            generator.state.assign(np.array(saved, dtype=np.uint32))


def restore_global(path: str, state) -> None:
    """Set clearconv's global generator to the saved ``state["global"]`` (checked first)."""
    from .. import utils
    if not isinstance(state, dict):
        raise ModelFileError(path, MEMBER, "must be an object with 'global' and 'layers'")
    utils.global_rng().bit_generator.state = _check_pcg64(path, state.get("global"), "global")
