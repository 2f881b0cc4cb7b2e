"""The two kinds of failure the command reports, and how any error becomes one line."""

from __future__ import annotations

import sys


class UsageError(Exception):
    """The command line cannot work as written (an option value, an unknown name, an --output that
    cannot be written): exit code 2, before any work is done."""


class FileError(Exception):
    """A file given cannot be used (missing, a folder, empty, not a model or an image, not fit for the
    model or the data), or the work failed: exit code 1. The message names the file."""


def one_line(error: BaseException) -> str:
    """The error's message on one line; an OSError as 'PATH: reason', the form its own message lacks."""
    if isinstance(error, OSError) and error.filename is not None and error.strerror:
        message = f"{error.filename}: {error.strerror}"
    else:
        message = str(error) or type(error).__name__
    return " ".join(message.split())


def report(command: str, kind: str, message: str) -> None:
    """One line on stderr: ``clearconv COMMAND: KIND: MESSAGE`` (kind: "error" or "note")."""
    print(f"clearconv {command}: {kind}: {message}", file=sys.stderr)
