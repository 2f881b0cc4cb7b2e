"""The error every model-file reader of clearconv raises for a file it cannot load.

The contract of ``load_model`` and ``load_weights`` (and of every format that
joins :mod:`clearconv.io`): whatever the bytes of the file, they return a
working model, or raise

* :class:`ModelFileError` (a ``ValueError``) for anything about the file's
  kind and content: not a regular file (a FIFO, a device), not an archive,
  truncated or corrupt, members too large for what they hold, a config or
  metadata field of the wrong type or out of range, weights that do not fit
  the architecture or hold NaN, a model that could not run ``predict``;
* the operating system's own error when the file cannot be opened:
  ``FileNotFoundError``, ``IsADirectoryError``, ``PermissionError`` (or
  another ``OSError`` such as a loop of symbolic links or a name too long).
  Once the file is open, a failure to read it is a ModelFileError.
"""

from __future__ import annotations

import os


class ModelFileError(ValueError):
    """A model file that cannot be loaded: ``path`` (the file), ``member`` (the part of the file, such as
    ``"config.json"``; ``""`` for the file as a whole) and ``reason`` (what is wrong, and what was expected).

    ``str(error)`` is ``"<path>: <member>: <reason>"``.
    """

    def __init__(self, path, member: str, reason: str):
        self.path = os.fspath(path)
        self.member = member
        self.reason = reason
        super().__init__(f"{self.path}: {member}: {reason}" if member else f"{self.path}: {reason}")

    def __reduce__(self):
        # The message is built from the three fields: pickling (multiprocessing) must pass them, not it.
        return type(self), (self.path, self.member, self.reason)
