"""`clearconv summary`: the layer table of a model file (any format clearconv reads) or a zoo model."""

from __future__ import annotations

from .files import model_or_zoo


def run(args) -> int:
    model, _ = model_or_zoo(args.target)
    model.summary()
    return 0
