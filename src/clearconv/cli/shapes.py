"""`clearconv shapes`: per layer, the output shape, parameters, MACs and receptive field, with totals."""

from __future__ import annotations

import os

from .errors import UsageError
from .files import load_model_file


def run(args) -> int:
    from .. import zoo
    from ..explain.shapes import format_shape_table, shape_table
    if os.path.exists(args.target):
        if args.input_shape is not None:
            raise UsageError(f"--input-shape applies to zoo models; {args.target!r} is a model file, "
                             f"built for its own input shape")
        model = load_model_file(args.target, compile=False)
    elif args.target in zoo.MODELS:
        options = {} if args.input_shape is None else {"input_shape": args.input_shape}
        try:
            model = zoo.get(args.target, **options)
        except Exception as error:  # a shape the architecture cannot take (too small, wrong rank)
            if args.input_shape is None:
                raise
            raise UsageError(f"--input-shape {','.join(map(str, args.input_shape))} does not fit "
                             f"{args.target}: {error}") from error
    else:
        raise UsageError(f"{args.target!r} is neither a model file nor a zoo model "
                         f"({', '.join(sorted(zoo.MODELS))})")
    print(f"{model.name}: receptive field, jump and start in input pixels per spatial axis "
          f"(start: the centre of output cell 0); MACs per sample")
    print(format_shape_table(shape_table(model)))
    return 0
