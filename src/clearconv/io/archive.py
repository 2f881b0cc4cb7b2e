"""Reading a model file's bytes within bounds, for every format of :mod:`clearconv.io`.

Whatever a file holds, reading it through this module costs at most what the
caller allows, and every failure is a :class:`~clearconv.io.errors.ModelFileError`
naming the file and the member:

* :func:`open_regular_file` refuses a FIFO, a device or a socket before opening
  it (a FIFO blocks the open until a writer comes; ``/dev/zero`` never ends).
* :class:`ZipArchive` reads a member only when its declared size is within
  the limit the caller gives, and never reads past that size, so a zip bomb
  (a small deflated member declaring gigabytes) is refused before it is
  inflated. Members must be stored or deflated, unencrypted, with unique names.
  A member whose data barely compresses (weights) can also be bounded by a ratio of its
  compressed size, and :meth:`ZipArchive.head` reads a member's first bytes (its signature).
* :meth:`ZipArchive.json` parses a member of at most ``MAX_JSON_BYTES`` and
  refuses nesting deeper than ``MAX_JSON_DEPTH``.
* :class:`NpzArrays` reads the ``.npy`` headers of an ``.npz`` member first:
  the caller checks each array's declared shape and dtype against what it
  expects, and only then reads the data; an array must hold exactly the bytes
  its header declares, and only arrays of numbers are read (never pickles).
"""

from __future__ import annotations

import io
import json
import math
import os
import stat
import struct
import zipfile
import zlib

import numpy as np

from .errors import ModelFileError

MAX_MEMBERS = 64                   # members of a model archive (clearconv's own holds five at most)
MAX_JSON_BYTES = 16 * 1024 * 1024  # a JSON member (a config of thousands of layers is a few MiB)
MAX_JSON_DEPTH = 100               # nesting of lists and objects (a config nests models about 4 levels each)
NPY_HEADER_BYTES = 10_000          # NumPy's own limit on a .npy header
NPY_OVERHEAD_BYTES = 1024          # zip entry headers (local and central) around one .npy member, at most
RATIO_ALLOWANCE_BYTES = 1024 * 1024  # inflated bytes allowed beyond a member's compression ratio limit
WEIGHTS_MAX_RATIO = 64             # inflated / compressed size of a member of weights at most (floats: about 1.1)
_COMPRESSIONS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflated"}
# General-purpose flag bits zipfile cannot read without a password or at all: encrypted (0), compressed
# patched data (5), strong encryption (6). A model file never sets them.
_UNREADABLE_FLAGS = 0x1 | 0x20 | 0x40
# What the zip and zlib modules raise on damaged archives (OSError: a seek to a negative offset;
# NotImplementedError: a member declaring a zip version or feature zipfile does not implement).
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError, ValueError, struct.error,
               OverflowError, NotImplementedError)


def _kind_of(mode: int) -> str:
    for test, kind in ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return "not a file"


def open_regular_file(path):
    """``path`` opened for binary reading, if it is a regular file (symbolic links are followed).

    FileNotFoundError, IsADirectoryError and PermissionError come from the operating system;
    anything but a regular file is a ModelFileError, raised before the file is opened.
    """
    path = os.fspath(path)
    mode = os.stat(path).st_mode
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(21, "Is a directory: a model file is a single file", path)
    if not stat.S_ISREG(mode):
        raise ModelFileError(path, "", f"not a regular file ({_kind_of(mode)}); a model file is a regular file")
    # O_NONBLOCK: should the path have become a FIFO since the check, opening it does not wait for a
    # writer; the check is then repeated on what was opened.
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        mode = os.fstat(descriptor).st_mode
        if not stat.S_ISREG(mode):
            raise ModelFileError(path, "", f"not a regular file ({_kind_of(mode)}); a model file is a regular "
                                           f"file")
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise


def _depth_exceeds(value, limit: int) -> bool:
    """Whether lists and dicts nest deeper than ``limit`` in ``value`` (iteratively: no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (list, dict)):
            if depth > limit:
                return True
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return False


class ZipArchive:
    """The members of a zip archive, each read within a limit: ``ZipArchive(path, file)``; an archive of more
    than ``max_members`` members is refused (a torch.save file holds one per tensor, so it allows more).

    ``names``: the members' names; ``declared_size(name)``: the uncompressed size a member declares.
    """

    def __init__(self, path: str, file, max_members: int = MAX_MEMBERS):
        self.path = path
        try:
            self._zip = zipfile.ZipFile(file)
            infos = self._zip.infolist()
        except _ZIP_ERRORS as error:
            raise ModelFileError(path, "", f"not a zip archive, or a truncated or corrupt one ({error})") from None
        if len(infos) > max_members:
            raise ModelFileError(path, "", f"the archive holds {len(infos)} members; a model file holds at most "
                                           f"{max_members}")
        self._infos = {}
        for info in infos:
            if info.filename in self._infos:
                raise ModelFileError(path, info.filename, "the archive holds two members of this name")
            self._infos[info.filename] = info
        self.names = set(self._infos)

    def close(self) -> None:
        self._zip.close()

    def declared_size(self, name: str) -> int:
        return self._infos[name].file_size

    def _readable(self, name: str) -> zipfile.ZipInfo:
        info = self._infos.get(name)
        if info is None:
            raise ModelFileError(self.path, name, "missing from the archive")
        if info.flag_bits & _UNREADABLE_FLAGS:
            raise ModelFileError(self.path, name, f"encrypted or patched (zip flags {info.flag_bits:#06x}); model "
                                                  f"files are plain zip archives")
        if info.compress_type not in _COMPRESSIONS:
            raise ModelFileError(self.path, name, f"compressed with method {info.compress_type}; a model file's "
                                                  f"members are stored or deflated")
        return info

    def head(self, name: str, count: int) -> bytes:
        """The first ``count`` bytes of member ``name`` (fewer if it is shorter), inflating no more than that."""
        info = self._readable(name)
        try:
            with self._zip.open(info) as member:
                return member.read(count)
        except _ZIP_ERRORS as error:
            raise ModelFileError(self.path, name, f"truncated or corrupt ({error})") from None

    def read(self, name: str, limit: int, max_ratio: float | None = None) -> bytes:
        """The bytes of member ``name``, refused unless it declares at most ``limit`` bytes and, with
        ``max_ratio``, at most ``max_ratio`` times its compressed size plus RATIO_ALLOWANCE_BYTES (for a
        member whose data barely compresses, such as weights: a limit the member's own size justifies,
        where ``limit`` comes from what another member declares)."""
        info = self._readable(name)
        if info.file_size > limit:
            raise ModelFileError(self.path, name, f"declares {info.file_size:,} bytes, more than the {limit:,} it "
                                                  f"can hold: refused before reading it")
        if max_ratio is not None and info.file_size > max_ratio * info.compress_size + RATIO_ALLOWANCE_BYTES:
            raise ModelFileError(self.path, name, f"declares {info.file_size:,} bytes from {info.compress_size:,} "
                                                  f"compressed, more than {max_ratio:g} times as many (plus "
                                                  f"{RATIO_ALLOWANCE_BYTES:,}): a zip bomb, refused before "
                                                  f"inflating it")
        try:
            with self._zip.open(info) as member:
                # zipfile stops at the declared size (and checks the CRC), so this reads at most `limit`.
                return member.read(limit + 1)
        except _ZIP_ERRORS as error:
            raise ModelFileError(self.path, name, f"truncated or corrupt ({error})") from None

    def json(self, name: str, limit: int = MAX_JSON_BYTES):
        """The parsed JSON of member ``name`` (at most ``limit`` bytes, nested at most MAX_JSON_DEPTH deep)."""
        data = self.read(name, limit)
        try:
            value = json.loads(data.decode("utf-8"))
        except RecursionError:
            raise ModelFileError(self.path, name, f"lists or objects nest more than {MAX_JSON_DEPTH} deep") \
                from None
        except ValueError as error:  # invalid UTF-8 or JSON, or an integer of thousands of digits
            raise ModelFileError(self.path, name, f"not valid JSON ({error})") from None
        if _depth_exceeds(value, MAX_JSON_DEPTH):
            raise ModelFileError(self.path, name, f"lists or objects nest more than {MAX_JSON_DEPTH} deep")
        return value

    def npz(self, name: str, limit: int, max_arrays: int, max_ratio: float | None = None) -> NpzArrays:
        """The ``.npz`` member ``name`` (at most ``limit`` bytes, ``max_arrays`` arrays; see :meth:`read` for
        ``max_ratio``), headers read."""
        return NpzArrays(self.path, name, self.read(name, limit, max_ratio), max_arrays)


class NpzArrays:
    """The arrays of an ``.npz`` held in memory: ``specs`` (key -> (shape, dtype)) read from the ``.npy``
    headers without the data; :meth:`read` then reads one array's data.

    An array is refused when its header is malformed, declares a dtype other than numbers (an object
    array would be unpickled), or declares other than the data its member holds.
    """

    def __init__(self, path: str, member: str, data: bytes, max_arrays: int):
        self.path, self.member = path, member
        try:
            self._zip = zipfile.ZipFile(io.BytesIO(data))
            infos = self._zip.infolist()
        except _ZIP_ERRORS as error:
            raise self._error(f"not an .npz archive, or a truncated or corrupt one ({error})") from None
        if len(infos) > max_arrays:
            raise self._error(f"holds {len(infos)} arrays; at most {max_arrays} expected")
        self.specs: dict[str, tuple[tuple, np.dtype]] = {}
        self._layout = {}
        for info in infos:
            key = info.filename[:-4] if info.filename.endswith(".npy") else None
            if not key or key in self.specs:
                raise self._error(f"member {info.filename!r} is not an array of a distinct name")
            if info.flag_bits & _UNREADABLE_FLAGS or info.compress_type not in _COMPRESSIONS:
                raise self._error(f"array {key!r} is encrypted or compressed with an unknown method")
            shape, dtype, fortran, header = self._header(key, info)
            nbytes = math.prod(shape) * dtype.itemsize
            if header + nbytes != info.file_size:
                raise self._error(f"array {key!r} declares shape {shape} of {dtype} ({nbytes:,} bytes) but its "
                                  f"member holds {info.file_size - header:,} bytes of data")
            self.specs[key] = (shape, dtype)
            self._layout[key] = (info, header, nbytes, fortran)

    def _error(self, reason: str) -> ModelFileError:
        return ModelFileError(self.path, self.member, reason)

    def _header(self, key, info):
        """(shape, dtype, fortran_order, header length) of one ``.npy`` member, reading its header only."""
        try:
            with self._zip.open(info) as file:
                version = np.lib.format.read_magic(file)
                if version == (1, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_1_0(file, NPY_HEADER_BYTES)
                elif version == (2, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_2_0(file, NPY_HEADER_BYTES)
                else:
                    raise ValueError(f".npy format version {version} (clearconv reads 1.0 and 2.0)")
                header = file.tell()
        except (SyntaxError, TypeError, RecursionError, *_ZIP_ERRORS) as error:
            raise self._error(f"array {key!r} has a malformed header ({error})") from None
        if dtype.kind not in "biufc" or dtype.fields is not None or dtype.subdtype is not None:
            raise self._error(f"array {key!r} has dtype {dtype}: only arrays of numbers are read (object arrays "
                              f"would be unpickled, which a model file never needs)")
        if not all(isinstance(d, int) and d >= 0 for d in shape):
            raise self._error(f"array {key!r} declares the shape {shape!r}")
        return tuple(shape), dtype, bool(fortran), header

    def read(self, key: str) -> np.ndarray:
        """Array ``key``: C-contiguous, writable, in native byte order."""
        info, header, nbytes, fortran = self._layout[key]
        shape, dtype = self.specs[key]
        try:
            with self._zip.open(info) as file:
                file.seek(header)
                data = file.read(nbytes)
        except _ZIP_ERRORS as error:
            raise self._error(f"array {key!r} is truncated or corrupt ({error})") from None
        if len(data) != nbytes:
            raise self._error(f"array {key!r} is truncated: {len(data):,} of {nbytes:,} bytes")
        array = np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")
        return np.array(array, dtype=dtype.newbyteorder("="), order="C", copy=True)  # writable, one copy
