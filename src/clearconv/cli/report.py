"""`clearconv report`: the explainer page of a model on one input, one self-contained HTML file.

The model is a model file or a zoo model (built untrained, which the output says); the input an image file
(``--input``, read as ``clearconv predict`` reads it) or example ``--index`` of a dataset's test split
(``--data``). The page is written to ``-o`` (default report.html); see :mod:`clearconv.explain.report`.
"""

from __future__ import annotations

import os

from .errors import FileError, one_line
from .files import check_output_path, example_input, input_source, model_or_zoo


def run(args) -> int:
    from ..explain.report import write_report
    check_output_path(args.output, example="report.html")
    model, untrained = model_or_zoo(args.target)
    if len(model.inputs) != 1:
        raise FileError(f"{args.target}: report takes models of one input from the command line; this one has "
                        f"{len(model.inputs)} (clearconv.explain.report.write_report takes a list of inputs)")
    x = example_input(args, model, "report")
    title = f"{model.name} on {input_source(args)}" + (" (untrained zoo model)" if untrained else "")
    try:
        write_report(model, x, args.output, title=title)
    except OSError as error:
        raise FileError(f"{args.output}: cannot write the page ({one_line(error)})") from error
    size = os.path.getsize(args.output)
    print(f"model {model.name}{' (zoo model, untrained: random weights)' if untrained else ''}, "
          f"input {input_source(args)}")
    print(f"wrote {args.output}: {size / 1e6:.1f} MB, one self-contained HTML page (open it in a browser; "
          f"click any feature-map cell)")
    return 0
