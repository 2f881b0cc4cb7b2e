"""Writing model files so that a failure never leaves a half-written file in place of a good one.

:func:`atomic_file` gives a file in the target's folder to write into; only when everything is written and
flushed to disk does it replace the target (``os.replace``, atomic on one file system). Any failure, an
interruption included, leaves the target as it was and removes the temporary file. The new file gets the
permission bits a plain ``open(path, "wb")`` would give it. Every writer of :mod:`clearconv.io` uses it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile


def _umask() -> int:
    """The process's umask. Linux reports it in /proc without changing it; elsewhere it can only be read
    by setting it and setting it back, which a thread creating a file at that instant could notice."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _mode_of_a_plain_write(path: str) -> int:
    """The permission bits ``open(path, "wb")`` would leave: the replaced file's, else 0o666 less the umask."""
    try:
        existing = os.stat(path)
    except FileNotFoundError:
        return 0o666 & ~_umask()
    return stat.S_IMODE(existing.st_mode) if stat.S_ISREG(existing.st_mode) else 0o666 & ~_umask()


def _naming_target(error: OSError, path: str) -> OSError:
    """``error`` (same type and errno) with a message that names the target instead of the temporary file."""
    message = f"cannot save to {path}: {error.strerror or error}"
    try:
        return type(error)(error.errno, message) if error.errno is not None else type(error)(message)
    except TypeError:  # an OSError subclass with a constructor of its own
        return OSError(error.errno, message)


@contextlib.contextmanager
def atomic_file(path):
    """A binary file to write ``path``'s new content into; it becomes ``path`` when the block ends without an
    error. OSErrors name ``path``, not the temporary file."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    temporary = None
    try:
        mode = _mode_of_a_plain_write(path)
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".clearconv")
        with os.fdopen(handle, "wb") as file:
            yield file
            file.flush()
            os.chmod(temporary, mode)   # mkstemp creates the file readable by its owner only
            os.fsync(file.fileno())
        os.replace(temporary, path)
        temporary = None
    except OSError as error:
        raise _naming_target(error, path) from error
    finally:
        # Any failure, KeyboardInterrupt included, leaves the target as it was and no temporary file.
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.remove(temporary)


def check_overwrite(path, overwrite: bool) -> None:
    """FileExistsError when ``path`` exists and ``overwrite`` is False (Keras would ask; a library cannot)."""
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"{os.fspath(path)} exists; pass overwrite=True to replace it")


def check_folder(path, method: str) -> None:
    """OSError naming ``path`` when its folder is missing or not writable: what :func:`atomic_file` would
    meet. A data-parallel process that leaves the write to rank 0 checks this, so a bad destination fails
    on every process instead of leaving the others waiting in a collective for the one that raised."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(errno.ENOENT, f"{method}: the folder {folder} does not exist", path)
    if not os.access(folder, os.W_OK):
        raise PermissionError(errno.EACCES, f"{method}: the folder {folder} is not writable", path)
