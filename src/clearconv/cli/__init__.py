"""The ``clearconv`` command: train, evaluate, predict, summary, shapes, filter, explain, plot, report, convert.

Exit codes: 0 success; 2 the command line cannot work as written (an option value, an unknown name,
an --output that cannot be written), found before any work; 1 a file given cannot be used (missing, a
folder, empty, not a model or an image, not fit for the model or the data) or the work failed; 130
interrupted. Every error is one line on stderr naming the file or option at fault (the traceback only
with ``--debug``); notes on what ``predict`` changed in an image go to stderr too, results to stdout.

The command keeps freed memory in the process for reuse (:func:`clearconv.allocator.keep_freed_memory`,
which ``CLEARCONV_KEEP_FREED_MEMORY=0`` turns off); ``train`` says so under its header line.
"""

from __future__ import annotations

import sys

from . import errors
from .errors import FileError, UsageError, one_line

__all__ = ["main", "UsageError", "FileError"]


def main(argv=None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    from .. import allocator
    from . import arguments, convert, evaluate, predict, summary, train
    from . import explain, filter as filtering, plot, report, shapes
    try:
        args = arguments.parser().parse_args(argv)
    except UsageError as error:
        print(f"{error.prog}: error: {one_line(error)}", file=sys.stderr)
        return 2
    except SystemExit as done:   # --help and --version print, then exit 0
        return done.code if isinstance(done.code, int) else 0
    allocator.keep_freed_memory()
    handlers = {"train": train.run, "evaluate": evaluate.run, "predict": predict.run, "summary": summary.run,
                "shapes": shapes.run, "filter": filtering.run, "explain": explain.run,
                "plot": plot.run, "report": report.run, "convert": convert.run}
    try:
        return handlers[args.command](args)
    except KeyboardInterrupt:
        if args.debug:
            raise
        errors.report(args.command, "error", "interrupted")
        return 130
    except Exception as error:  # one line for the user; --debug shows the traceback
        if args.debug:
            raise
        errors.report(args.command, "error", one_line(error))
        return 2 if isinstance(error, UsageError) else 1
