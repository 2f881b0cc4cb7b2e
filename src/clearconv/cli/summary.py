"""`clearconv summary`: the layer table of a model file or a zoo model."""

from __future__ import annotations

import os

from .errors import UsageError
from .files import load_model_file


def run(args) -> int:
    from .. import zoo
    if os.path.exists(args.target):
        model = load_model_file(args.target, compile=False)
    elif args.target in zoo.MODELS:
        model = zoo.get(args.target)
    else:
        raise UsageError(f"{args.target!r} is neither a model file nor a zoo model "
                         f"({', '.join(sorted(zoo.MODELS))})")
    model.summary()
    return 0
