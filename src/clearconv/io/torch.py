"""PyTorch weights: ``torch.save(model.state_dict())`` files and safetensors files, read without torch.

* :func:`read_state_dict` reads the zip format ``torch.save`` writes (torch >= 1.6)::

      <archive>/data.pkl     the state_dict, pickled: tensors as _rebuild_tensor_v2(storage, offset, size, stride)
      <archive>/data/<key>   one storage each: the raw elements, in the byte order of <archive>/byteorder

  through an unpickler of its own that admits only what a state_dict holds (as torch's
  ``weights_only`` loader does): ``collections.OrderedDict``, ``torch._utils._rebuild_tensor_v2``
  and ``_rebuild_parameter``, ``torch.Size`` and the storage types (``torch.FloatStorage`` ...),
  each mapped to a function here that builds NumPy arrays. Any other global (a class, ``exec``,
  ``os.system``, a function) is refused when the pickle names it, before anything is called.
* :func:`read_safetensors` reads a safetensors file: an 8-byte little-endian header length, a JSON
  header ``{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}``, then
  the data.
* :func:`load_torch_state_dict` assigns either to a clearconv model of the same architecture,
  converting PyTorch's layouts to Keras's (see its docstring).

Both readers keep the contract of :mod:`clearconv.io.errors`: arrays, or a ModelFileError naming
the file, the member and what is wrong. Nothing is allocated that the file merely declares: every
storage or tensor is checked against the file's size before it is read, and a tensor view against
its storage. The pickle is bounded before it runs and while it runs: its opcodes are counted and the
objects they would build estimated (:func:`_scan_pickle`), every call of an allowed function is
counted and charged to the same budget, and the sequences passed to them are measured before they
are copied.
"""

from __future__ import annotations

import collections
import io
import json
import math
import os
import pickle
import pickletools
import re
import reprlib
import struct

import numpy as np

from .archive import ZipArchive, open_regular_file
from .errors import ModelFileError

MAX_TENSORS = 16_384                  # tensors of one state_dict (a ResNet-152 has about 930)
MAX_PICKLE_BYTES = 3 * 1024 * 1024    # data.pkl: about 100 bytes per tensor, 190 for MAX_TENSORS
MAX_SAFETENSORS_HEADER = 100_000_000  # the limit of safetensors' own reader
MAX_RANK = 32                         # NumPy allows 64 axes; a weight has at most 5
MAX_DIMENSION = 2 ** 63 - 1           # a size, stride or offset: torch's int64
MAX_PICKLE_OPCODES = 48 * MAX_TENSORS  # torch writes about 31 per tensor, 35 per Parameter
MAX_CALLS = 4 * MAX_TENSORS           # calls of the allowed functions: torch makes 2 per tensor, 4 per Parameter
# The objects data.pkl may build, as _scan_pickle and the calls estimate them: a fixed allowance, plus as many
# bytes per byte of the file as a real state_dict needs (about 19: 4.5 KB estimated per Parameter, which takes
# at least 240 bytes of file: its pickle, its aligned storage and its zip headers).
PICKLE_MEMORY_BASE = 16 * 2 ** 20
PICKLE_MEMORY_PER_FILE_BYTE = 24
_ZIP_MAGIC = b"PK\x03\x04"

# Storage classes of a torch.save pickle -> (NumPy dtype of an element, little-endian). bfloat16 has no
# NumPy dtype: its 16 bits are the upper half of a float32's, so it is read as uint16 and widened.
_STORAGES = {
    "FloatStorage": "<f4", "DoubleStorage": "<f8", "HalfStorage": "<f2", "BFloat16Storage": "bfloat16",
    "LongStorage": "<i8", "IntStorage": "<i4", "ShortStorage": "<i2", "CharStorage": "i1",
    "ByteStorage": "u1", "BoolStorage": "?",
}
# safetensors dtype names -> NumPy dtype (the format is little-endian throughout).
_SAFETENSORS_DTYPES = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "bfloat16", "I64": "<i8", "I32": "<i4", "I16": "<i2",
    "I8": "i1", "U8": "u1", "BOOL": "?",
}


def _itemsize(dtype: str) -> int:
    return 2 if dtype == "bfloat16" else np.dtype(dtype).itemsize


def _decode(data: bytes, dtype: str, big_endian: bool = False) -> np.ndarray:
    """The elements of ``data`` as a 1-D array in native byte order (bfloat16 widened to float32)."""
    if dtype == "bfloat16":
        half = np.frombuffer(data, dtype=">u2" if big_endian else "<u2").astype(np.uint32)
        return (half << 16).view(np.float32)   # bfloat16 is a float32 whose low 16 bits are zero
    stored = np.dtype(dtype)
    if big_endian:
        stored = stored.newbyteorder(">")
    return np.frombuffer(data, dtype=stored).astype(stored.newbyteorder("="), copy=False)


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


# --------------------------------------------------------------------------------------------------
# torch.save's zip format, through a restricted unpickler
# --------------------------------------------------------------------------------------------------

class _Refused(Exception):
    """What the pickle asked for that a state_dict never holds (becomes a ModelFileError)."""


class _Sealed:
    """Objects the unpickler hands to the pickle: BUILD (setting attributes from the file) is refused on
    them, so a file cannot change a function of this module or a marker for the loads that follow."""

    __slots__ = ()

    def __setstate__(self, state):
        raise _Refused(f"the pickle sets the state of {type(self).__name__.strip('_')} (BUILD); a state_dict "
                       f"never does")


class _StorageType(_Sealed):
    """``torch.FloatStorage`` and its kin, as a marker of the element type."""

    __slots__ = ("name", "dtype")

    def __init__(self, name: str, dtype: str):
        self.name, self.dtype = name, dtype


class _Storage(_Sealed):
    """A storage's elements: a 1-D read-only array in native byte order."""

    __slots__ = ("key", "dtype", "array")

    def __init__(self, key: str, dtype: str, array: np.ndarray):
        self.key, self.dtype, self.array = key, dtype, array


class _Tensor(_Sealed):
    __slots__ = ("array",)

    def __init__(self, array: np.ndarray):
        self.array = array


class _Budget:
    """What one unpickling may still spend: calls of the allowed functions, tensors, and bytes of the objects
    built (what :func:`_scan_pickle` estimated for the opcodes is spent before the first call)."""

    def __init__(self, memory: int):
        self.calls, self.tensors, self.memory = 0, 0, memory

    def spend(self, name: str, nbytes: int) -> None:
        self.calls += 1
        self.memory -= nbytes
        if self.calls > MAX_CALLS:
            raise _Refused(f"the pickle calls its functions more than {MAX_CALLS:,} times (torch calls 2 per "
                           f"tensor); refused at a call of {name}")
        if self.memory < 0:
            raise _Refused(f"the objects the pickle builds exceed what a state_dict of this file's size needs; "
                           f"refused at a call of {name}")


class _Function(_Sealed):
    """An allowed global of the pickle, called by REDUCE: ``name`` for messages, ``function`` ours, ``cost``
    an upper bound on the bytes its result holds, charged to ``budget`` (shared by one unpickling) first."""

    __slots__ = ("name", "function", "cost", "budget")

    def __init__(self, name: str, function, cost: int, budget: _Budget):
        self.name, self.function, self.cost, self.budget = name, function, cost, budget

    def __call__(self, *args):
        self.budget.spend(self.name, self.cost)
        if self.function is _rebuild_tensor:
            self.budget.tensors += 1
            if self.budget.tensors > MAX_TENSORS:
                raise _Refused(f"the pickle rebuilds more than {MAX_TENSORS:,} tensors")
        return self.function(*args)


class _ShortRepr(reprlib.Repr):
    def repr_int(self, value, level):
        # repr() of an integer of over 4300 digits raises ValueError (and takes quadratic time below that)
        return repr(value) if value.bit_length() <= 128 else f"<an integer of {value.bit_length():,} bits>"


_REPR = _ShortRepr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother, _REPR.maxlong = 3, 60, 60, 40


def _short(value) -> str:
    """repr(value) cut to about 200 characters: what a file holds may be megabytes, or nest deep."""
    return _REPR.repr(value)


def _counts(value, most: int):
    """``value`` as a tuple if it is a tuple or list of at most ``most`` integers in 0..MAX_DIMENSION, else
    None. Its length is checked before anything is copied: a file may pass a list of a million items."""
    if type(value) not in (tuple, list) or len(value) > most:
        return None
    values = tuple(value)
    # type() rather than isinstance(): bool is an int; the C-level set/min/max keep a call at a few microseconds
    if values and not (set(map(type, values)) == {int} and min(values) >= 0 and max(values) <= MAX_DIMENSION):
        return None
    return values


class _StateDict(collections.OrderedDict):
    """``collections.OrderedDict`` as a state_dict pickles it; torch adds a ``_metadata`` attribute
    (the modules' versions) by BUILD, which is read and dropped: nothing else may be set."""

    def __setstate__(self, state):
        if not (isinstance(state, dict) and set(state) <= {"_metadata"}):
            raise _Refused("the pickle sets attributes of an OrderedDict other than torch's _metadata")


def _rebuild_tensor(storage, offset, size, stride, *rest):
    """torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad,
    backward_hooks, metadata=None): a view of ``storage`` (strides in elements), checked to stay inside it."""
    if not isinstance(storage, _Storage):
        raise _Refused(f"_rebuild_tensor_v2 received {type(storage).__name__} where a storage belongs")
    if len(rest) not in (2, 3):
        raise _Refused(f"_rebuild_tensor_v2 takes 6 or 7 arguments; received {4 + len(rest)}")
    if len(rest) == 3 and rest[2]:
        raise _Refused(f"a tensor with metadata {_short(rest[2])} (conjugate or negative views are not weights)")
    sizes, strides = _counts(size, MAX_RANK), _counts(stride, MAX_RANK)
    if not (sizes is not None and strides is not None and len(sizes) == len(strides)
            and _is_count(offset) and offset <= MAX_DIMENSION):
        raise _Refused(f"a tensor of storage {_short(storage.key)} declares offset {_short(offset)}, size "
                       f"{_short(size)}, stride {_short(stride)}; expected non-negative integers (at most "
                       f"2**63 - 1), as many strides as sizes (at most {MAX_RANK})")
    size, stride = sizes, strides
    available = storage.array.size
    numel = math.prod(size)
    # The element furthest into the storage: offset + sum((size - 1) * stride) (none for an empty tensor).
    last = offset + sum((n - 1) * s for n, s in zip(size, stride)) if numel else offset - 1
    if last >= available or offset > available or numel > available:
        raise _Refused(f"a tensor of storage {_short(storage.key)} (offset {offset}, size {size}, stride "
                       f"{stride}) reads past the {available:,} elements of its storage")
    base = storage.array[offset:offset + last + 1] if numel else storage.array[:0]
    itemsize = storage.array.itemsize
    # A view of the read-only storage (so read-only too); NumPy checks again that it stays inside ``base``.
    view = np.ndarray(size, dtype=base.dtype, buffer=base, strides=[s * itemsize for s in stride])
    return _Tensor(view)


def _rebuild_parameter(data, requires_grad, backward_hooks, *state):
    """torch._utils._rebuild_parameter(data, requires_grad, backward_hooks): the tensor itself."""
    if not isinstance(data, _Tensor) or state:
        raise _Refused("_rebuild_parameter received something other than a tensor")
    return data


def _size(*args):
    """torch.Size(sequence): a tuple of non-negative integers."""
    values = _counts(args[0], MAX_RANK) if len(args) == 1 else None
    if values is None:
        raise _Refused(f"torch.Size received {_short(args)}; expected one tuple or list of at most {MAX_RANK} "
                       f"non-negative integers (at most 2**63 - 1)")
    return values


def _ordered_dict(*args):
    if args:
        raise _Refused("OrderedDict is built with arguments; a state_dict pickles it empty, then sets its items")
    return _StateDict()


def _allowed_globals(budget: _Budget) -> dict:
    # (function, bytes its result may hold at most, on a 64-bit CPython: a view and its base array with
    # MAX_RANK axes; an OrderedDict; a tuple of MAX_RANK integers; the tensor passed in)
    allowed = {
        ("collections", "OrderedDict"): (_ordered_dict, 256),
        ("torch._utils", "_rebuild_tensor_v2"): (_rebuild_tensor, 1024),
        ("torch._utils", "_rebuild_parameter"): (_rebuild_parameter, 16),
        ("torch", "Size"): (_size, 384),
    }
    objects = {key: _Function(f"{key[0]}.{key[1]}", function, cost, budget)
               for key, (function, cost) in allowed.items()}
    for name, dtype in _STORAGES.items():
        objects["torch", name] = _StorageType(name, dtype)
    return objects


def _why_refused(module: str, name: str) -> str:
    what = f"{module}.{name}" if len(module) + len(name) < 200 else f"{_short(module)}.{_short(name)}"
    if module.startswith("torch.nn") or module == "__main__" or module.startswith("__torch__"):
        return (f"the pickle names the class {what}: the file holds a whole module (torch.save(model) or "
                f"torch.jit.save), not a state_dict; save model.state_dict() instead")
    return (f"the pickle names {what}, which a state_dict never holds (it holds tensors, storages and "
            f"OrderedDicts); refused without calling it")


class _StateDictUnpickler(pickle.Unpickler):
    """Unpickles data.pkl with nothing but the globals of :func:`_allowed_globals`; storages are read from
    the archive when the pickle first names them."""

    def __init__(self, file, read_storage, memory: int):
        super().__init__(file, fix_imports=False)
        # Tensors are counted when rebuilt, not when named: torch names _rebuild_tensor_v2 once and takes it
        # from the memo for every other tensor.
        self.budget = _Budget(memory)
        self._allowed = _allowed_globals(self.budget)
        self._read_storage = read_storage
        self._storages: dict[str, _Storage] = {}

    def find_class(self, module, name):
        if not (isinstance(module, str) and isinstance(name, str)):
            raise _Refused(f"the pickle names a global by non-text {_short(module)}.{_short(name)}")
        found = self._allowed.get((module, name))
        if found is None:
            raise _Refused(_why_refused(module, name))
        return found

    def persistent_load(self, pid):
        # torch writes ("storage", storage type, key, location, number of elements).
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType) and isinstance(pid[2], str) and _is_count(pid[4])):
            raise _Refused(f"the pickle refers to {_short(pid)}; a state_dict refers to storages only, as "
                           f"('storage', type, key, location, elements)")
        _, kind, key, _, numel = pid
        storage = self._storages.get(key)
        if storage is None:
            storage = self._storages[key] = _Storage(key, kind.dtype, self._read_storage(key, kind.dtype, numel))
        elif storage.dtype != kind.dtype or storage.array.size != numel:
            raise _Refused(f"storage {_short(key)} is named twice with different types or sizes")
        return storage


class _TorchZip:
    """An open torch.save zip archive: the prefix of its members, its byte order, the bytes read so far."""

    def __init__(self, path: str, file):
        self.path = path
        self.file_size = os.fstat(file.fileno()).st_size
        self.archive = ZipArchive(path, file, max_members=MAX_TENSORS + 16)
        pickles = [name for name in self.archive.names if name.endswith("/data.pkl") and name.count("/") == 1]
        if len(pickles) != 1:
            if any(name.endswith("constants.pkl") or "/code/" in name for name in self.archive.names):
                raise ModelFileError(path, "", "a TorchScript archive (torch.jit.save), not a state_dict: save "
                                               "model.state_dict() with torch.save instead")
            raise ModelFileError(path, "", f"a zip archive without exactly one <archive>/data.pkl member (found "
                                           f"{len(pickles)}): not a file of torch.save")
        self.prefix = pickles[0][:-len("data.pkl")]
        self.big_endian = False
        order_member = self.prefix + "byteorder"
        if order_member in self.archive.names:
            order = self.archive.read(order_member, 16)
            if order not in (b"little", b"big"):
                raise ModelFileError(path, order_member, f"holds {order[:16]!r}; expected 'little' or 'big'")
            self.big_endian = order == b"big"
        self.bytes_read = 0

    def read_storage(self, key: str, dtype: str, numel: int) -> np.ndarray:
        member = f"{self.prefix}data/{key}"
        nbytes = numel * _itemsize(dtype)
        if nbytes > self.file_size:
            raise _Refused(f"storage {_short(key)} declares {numel:,} elements ({nbytes:,} bytes), more than the "
                           f"file's {self.file_size:,} bytes")
        if member not in self.archive.names:
            raise _Refused(f"storage {_short(key)} has no member {_short(member)}")
        if self.archive.declared_size(member) != nbytes:
            raise _Refused(f"member {_short(member)} declares {self.archive.declared_size(member):,} bytes; its "
                           f"storage declares {numel:,} elements of {_itemsize(dtype)} bytes")
        # torch stores tensors uncompressed: all of them together fit in the file.
        self.bytes_read += nbytes
        if self.bytes_read > self.file_size:
            raise _Refused(f"the storages declare more bytes than the file's {self.file_size:,}")
        data = self.archive.read(member, nbytes)
        if len(data) != nbytes:
            raise ModelFileError(self.path, member, f"holds {len(data):,} bytes; {nbytes:,} declared")
        array = _decode(data, dtype, self.big_endian)
        array.flags.writeable = False
        return array


# What the unpickler allocates for one opcode, at most, on a 64-bit CPython: every opcode may take a slot
# of its stack, memo or marks and one in the container its item goes into (a dict item, two pushes, takes up
# to about 110 bytes), _SLOT_BYTES in all; opcodes that build an object add that object (a container with
# its first growth, a number); text and bytes add their length (4 bytes a character: one character beyond
# Latin-1 makes a string store 4 bytes for every character).
_SLOT_BYTES = 64
_OBJECT_BYTES = {
    "EMPTY_LIST": 128, "LIST": 128, "EMPTY_DICT": 256, "DICT": 256,
    "TUPLE": 64, "TUPLE1": 64, "TUPLE2": 80, "TUPLE3": 88,
    "INT": 32, "BININT": 32, "BININT1": 32, "BININT2": 32, "LONG": 32, "LONG1": 32, "LONG4": 32,
    "FLOAT": 32, "BINFLOAT": 32, "PERSID": 256, "BINPERSID": 256,
}
_TEXT, _BYTES, _NUMBER, _MEMO, _SET = 1, 2, 3, 4, 5
_KINDS = {
    **dict.fromkeys(["STRING", "BINSTRING", "SHORT_BINSTRING", "UNICODE", "BINUNICODE", "SHORT_BINUNICODE",
                     "BINUNICODE8", "GLOBAL"], _TEXT),
    **dict.fromkeys(["BINBYTES", "SHORT_BINBYTES", "BINBYTES8", "BYTEARRAY8"], _BYTES),
    **dict.fromkeys(["INT", "LONG", "LONG1", "LONG4"], _NUMBER),
    **dict.fromkeys(["PUT", "BINPUT", "LONG_BINPUT"], _MEMO),
    **dict.fromkeys(["EMPTY_SET", "ADDITEMS", "FROZENSET"], _SET),
}
# A set's table takes up to about 150 bytes an element just after it grows. A state_dict holds no sets (a
# pickled module does, after naming its class: the unpickler refuses it there, by name); a pickle that builds
# one is charged this for every opcode, as each might push an element.
_SET_SLOT_BYTES = 160
# opcode name -> (bytes charged, kind of argument to add to them)
_OPCODE_COSTS = {op.name: (_SLOT_BYTES + _OBJECT_BYTES.get(op.name, 0), _KINDS.get(op.name, 0))
                 for op in pickletools.opcodes}


def _scan_pickle(path: str, member: str, data: bytes) -> int:
    """Read the opcodes of ``data`` without running them; return an upper bound on the bytes of the
    objects they build (without those of the allowed functions, charged when called).

    Refused here: more than MAX_PICKLE_OPCODES opcodes (torch writes about 31 per tensor), a memo
    index beyond the opcodes read so far (the unpickler grows its memo to the largest index it is given,
    so one PUT of index 2**31 would allocate gigabytes; torch numbers them 0, 1, ...), and an argument
    longer than the data left (the unpickler allocates the length BINBYTES8 declares before reading it).
    Within these bounds the memo, the stack and the lists and tuples that APPENDS and TUPLE build from it
    hold at most a slot per opcode: the estimate bounds them all.
    """
    count, estimate, sets = 0, 0, False
    try:
        for opcode, argument, _ in pickletools.genops(data):
            count += 1
            cost, kind = _OPCODE_COSTS[opcode.name]
            estimate += cost
            if count > MAX_PICKLE_OPCODES:
                raise ModelFileError(path, member, f"more than {MAX_PICKLE_OPCODES:,} opcodes; torch writes about "
                                                   f"31 per tensor, and a state_dict holds at most "
                                                   f"{MAX_TENSORS:,} tensors")
            if not kind:
                continue
            if kind == _TEXT:
                estimate += 80 + 4 * len(argument)
            elif kind == _BYTES:
                estimate += 64 + len(argument)
            elif kind == _NUMBER:
                estimate += argument.bit_length() // 8 if isinstance(argument, int) else 0
            elif kind == _MEMO and not 0 <= argument <= count:
                raise ModelFileError(path, member, f"memo index {argument:,} after {count:,} opcodes; a "
                                                   f"state_dict numbers its memo from 0")
            elif kind == _SET:
                sets = True
    except ModelFileError:
        raise
    except (ValueError, TypeError, struct.error, UnicodeDecodeError) as error:
        raise ModelFileError(path, member, f"not a valid pickle ({_short(str(error))})") from None
    return estimate + (_SET_SLOT_BYTES * count if sets else 0)


def _read_torch_zip(path: str, file) -> dict:
    container = _TorchZip(path, file)
    member = container.prefix + "data.pkl"
    data = container.archive.read(member, MAX_PICKLE_BYTES)
    memory = PICKLE_MEMORY_BASE + PICKLE_MEMORY_PER_FILE_BYTE * container.file_size
    estimate = _scan_pickle(path, member, data)
    if estimate > memory:
        raise ModelFileError(path, member, f"its {len(data):,} bytes of opcodes would build about {estimate:,} "
                                           f"bytes of objects, more than a state_dict in a file of "
                                           f"{container.file_size:,} bytes needs ({memory:,})")
    unpickler = _StateDictUnpickler(io.BytesIO(data), container.read_storage, memory - estimate)
    try:
        loaded = unpickler.load()
    except ModelFileError:
        raise
    except _Refused as error:
        raise ModelFileError(path, member, str(error)) from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, KeyError, IndexError,
            OverflowError, RecursionError, MemoryError, struct.error) as error:
        raise ModelFileError(path, member, f"not a valid state_dict pickle ({type(error).__name__}: {error})") \
            from None
    if not isinstance(loaded, dict):
        raise ModelFileError(path, member, f"the pickle holds a {type(loaded).__name__.strip('_')}, not a "
                                           f"state_dict (a dict of tensors)")
    arrays = {}
    for key, value in loaded.items():
        if not isinstance(key, str):
            raise ModelFileError(path, member, f"the state_dict has the key {_short(key)}; keys are text")
        if not isinstance(value, _Tensor):
            kind = "dict" if isinstance(value, dict) else type(value).__name__.strip("_")
            raise ModelFileError(path, member, f"entry {_short(key)} is a {kind}, not a tensor: a training "
                                               f"checkpoint rather than a state_dict? Save model.state_dict() alone")
        arrays[key] = value.array
    return arrays


def _refuse_other_formats(path: str, head: bytes) -> None:
    if head[:1] == b"\x80":
        raise ModelFileError(path, "", "a plain pickle: PyTorch's legacy (before 1.6) format or another "
                                       "pickled object; clearconv reads the zip format of torch >= 1.6 (re-save "
                                       "with torch.save(model.state_dict(), path) under a current torch) and "
                                       "safetensors files")
    raise ModelFileError(path, "", "neither a torch.save zip archive nor a safetensors file")


def read_state_dict(path) -> dict[str, np.ndarray]:
    """The tensors of a ``torch.save(model.state_dict(), path)`` file, by key in the file's order.

    Returns read-only NumPy arrays (views of the file's storages, as the tensors were: ``np.array(a)``
    copies one) in their dtype; bfloat16 becomes float32. Torch is not needed, and nothing in the file
    is executed: see the module's docstring. Raises ModelFileError for anything else (a legacy
    non-zip file, a whole pickled module, a checkpoint of several dicts, a corrupt archive).
    """
    path = os.fspath(path)
    with open_regular_file(path) as file:
        head = file.read(4)
        file.seek(0)
        if head != _ZIP_MAGIC:
            _refuse_other_formats(path, head)
        return _read_torch_zip(path, file)


# --------------------------------------------------------------------------------------------------
# safetensors
# --------------------------------------------------------------------------------------------------

def _safetensors_header(path: str, file, file_size: int) -> tuple[dict, int]:
    """(the JSON header, where the data begin) of an open safetensors file, checked to fit in it."""
    prefix = file.read(8)
    if len(prefix) < 8:
        raise ModelFileError(path, "header", f"{len(prefix)} bytes: a safetensors file starts with an 8-byte "
                                             f"header length")
    length = int.from_bytes(prefix, "little")
    if length > MAX_SAFETENSORS_HEADER or 8 + length > file_size:
        raise ModelFileError(path, "header", f"declares a header of {length:,} bytes; the file holds "
                                             f"{file_size - 8:,} after the length, and a header is at most "
                                             f"{MAX_SAFETENSORS_HEADER:,}")
    text = file.read(length)
    try:
        header = json.loads(text.decode("utf-8"))
    except RecursionError:
        raise ModelFileError(path, "header", "lists or objects nest too deep") from None
    except ValueError as error:
        raise ModelFileError(path, "header", f"not valid JSON ({error})") from None
    if not isinstance(header, dict):
        raise ModelFileError(path, "header", f"a JSON {type(header).__name__}; expected an object")
    return header, 8 + length


def _safetensors_specs(path: str, header: dict, data_size: int) -> dict:
    """name -> (dtype, shape, begin, end) for every tensor of the header, checked: known dtype, shape of
    non-negative integers, offsets inside the data, span equal to the shape's bytes, no two overlapping."""
    metadata = header.pop("__metadata__", {})
    if not (isinstance(metadata, dict) and all(isinstance(v, str) for v in metadata.values())):
        raise ModelFileError(path, "__metadata__", "expected an object of text values")
    if len(header) > MAX_TENSORS:
        raise ModelFileError(path, "header", f"declares {len(header):,} tensors; at most {MAX_TENSORS:,}")
    specs = {}
    for name, entry in header.items():
        if not (isinstance(entry, dict) and set(entry) == {"dtype", "shape", "data_offsets"}):
            raise ModelFileError(path, name, "expected an object of dtype, shape and data_offsets")
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if not isinstance(dtype, str) or dtype not in _SAFETENSORS_DTYPES:
            raise ModelFileError(path, name, f"dtype {dtype!r}; clearconv reads {sorted(_SAFETENSORS_DTYPES)}")
        if not (isinstance(shape, list) and len(shape) <= MAX_RANK and all(map(_is_count, shape))):
            raise ModelFileError(path, name, f"shape {shape!r}; expected a list of non-negative integers")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(map(_is_count, offsets))
                and offsets[0] <= offsets[1] <= data_size):
            raise ModelFileError(path, name, f"data_offsets {offsets!r} are not [begin, end] inside the "
                                             f"{data_size:,} bytes of data")
        nbytes = math.prod(shape) * _itemsize(_SAFETENSORS_DTYPES[dtype])
        if offsets[1] - offsets[0] != nbytes:
            raise ModelFileError(path, name, f"shape {shape} of {dtype} is {nbytes:,} bytes; data_offsets "
                                             f"{offsets} span {offsets[1] - offsets[0]:,}")
        specs[name] = (_SAFETENSORS_DTYPES[dtype], tuple(shape), offsets[0], offsets[1])
    spans = sorted((begin, end, name) for name, (_, _, begin, end) in specs.items() if end > begin)
    for (_, end, first), (begin, _, second) in zip(spans, spans[1:]):
        if begin < end:
            raise ModelFileError(path, second, f"its data overlap those of {first!r}")
    return specs


def read_safetensors(path) -> dict[str, np.ndarray]:
    """The tensors of a safetensors file, by name in the header's order.

    Returns read-only NumPy arrays in native byte order (bfloat16 becomes float32). The header must
    be at most 100 MB (the limit of safetensors' own reader) and inside the file; every tensor's
    offsets inside the data, spanning exactly its shape's bytes, none overlapping another. Anything
    else is a ModelFileError naming the tensor.
    """
    path = os.fspath(path)
    with open_regular_file(path) as file:
        file_size = os.fstat(file.fileno()).st_size
        header, start = _safetensors_header(path, file, file_size)
        specs = _safetensors_specs(path, header, file_size - start)
        arrays = {}
        for name, (dtype, shape, begin, end) in specs.items():
            file.seek(start + begin)
            data = file.read(end - begin)
            if len(data) != end - begin:
                raise ModelFileError(path, name, f"truncated: {len(data):,} of {end - begin:,} bytes")
            array = _decode(data, dtype).reshape(shape)
            array.flags.writeable = False
            arrays[name] = array
    return arrays


def _read_either(path) -> tuple[dict, str]:
    """(arrays, "torch" or "safetensors"), the format told by the file's first bytes."""
    path = os.fspath(path)
    with open_regular_file(path) as file:
        head = file.read(9)
    if head[:4] == _ZIP_MAGIC:
        return read_state_dict(path), "torch"
    if len(head) == 9 and head[8:9] == b"{":
        return read_safetensors(path), "safetensors"
    _refuse_other_formats(path, head)


# --------------------------------------------------------------------------------------------------
# Assigning a state_dict to a clearconv model
# --------------------------------------------------------------------------------------------------

def _natural_key(name: str) -> tuple:
    """``features.2`` before ``features.10``: digits compare as numbers."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", name))


def _modules(arrays: dict) -> dict:
    """prefix -> {parameter: array}, prefixes in order of first appearance (``conv1.weight`` -> ``conv1``)."""
    modules: dict[str, dict] = {}
    for key, array in arrays.items():
        prefix, _, parameter = key.rpartition(".")
        modules.setdefault(prefix, {})[parameter] = array
    return modules


def _leaf_layers(model) -> list:
    """The layers of ``model`` in order, nested models opened."""
    from ..models.functional import Model
    leaves = []
    for layer in model.layers:
        if isinstance(layer, Model):
            leaves.extend(_leaf_layers(layer))
        else:
            leaves.append(layer)
    return leaves


def _nearest_data_format(leaves: list, start: int, step: int):
    """The data_format of the nearest spatial layer from ``leaves[start]`` on in direction ``step``."""
    from ..layers.core import Flatten
    index = start
    while 0 <= index < len(leaves):
        layer = leaves[index]
        if getattr(layer, "data_format", None) and not isinstance(layer, Flatten):
            return layer.data_format
        index += step
    return None


def _torch_positions(shape: tuple, layout: str, transpose_to_last: bool = False):
    """For each feature of a clearconv tensor of ``shape`` (no batch axis) flattened in C order, the
    position of the same feature in PyTorch's flattening of its (C, *spatial) tensor; None when they agree.

    ``layout``: where the channels are in ``shape`` ("channels_last": shape = (*spatial, C)).
    ``transpose_to_last``: the flattening first moves the first axis last (Flatten(data_format=
    "channels_first"), as Keras does).
    """
    if len(shape) < 2:
        return None
    if layout == "channels_last":
        torch_shape = (shape[-1], *shape[:-1])
        positions = np.arange(math.prod(shape)).reshape(torch_shape)      # indexed [c, *s]
        positions = positions.transpose(*range(1, len(shape)), 0)          # (C, *S) -> (*S, C)
    else:
        positions = np.arange(math.prod(shape)).reshape(shape)             # (C, *S), as PyTorch's
    if transpose_to_last:
        positions = positions.transpose(*range(1, len(shape)), 0)          # (d1, d2, ...) -> (d2, ..., d1)
    positions = positions.reshape(-1)
    return None if np.array_equal(positions, np.arange(positions.size)) else positions


class _Entry:
    """One clearconv weight and the PyTorch parameter it comes from: ``convert`` maps the parameter
    (of ``torch_shape``) to the weight's layout."""

    def __init__(self, variable, parameter: str, torch_shape: tuple, convert=None):
        self.variable, self.parameter, self.torch_shape = variable, parameter, tuple(int(d) for d in torch_shape)
        self.convert = convert or (lambda value: value)


def _kernel_entries(kernel, rank: int) -> _Entry:
    # Conv (O, I/g, *k) -> Keras (*k, I/g, O); ConvTranspose (I, O, *k) -> Keras (*k, O, I): both reverse the
    # first two axes and put them last.
    shape = kernel.shape
    return _Entry(kernel, "weight", (shape[-1], shape[-2], *shape[:-2]),
                  lambda w: w.transpose(*range(2, 2 + rank), 1, 0))


def _bias_entry(layer, permutation=None):
    if getattr(layer, "bias", None) is None:
        return []
    return [_Entry(layer.bias, "bias", layer.bias.shape,
                   None if permutation is None else (lambda b: b[permutation]))]


SUPPORTED = ("Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose",
             "DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D", "Dense",
             "BatchNormalization", "LayerNormalization", "GroupNormalization")


def _plan_layer(layer, rows=None, columns=None) -> list[list[_Entry]]:
    """The PyTorch modules a clearconv layer takes its weights from: one list of entries per module.

    ``rows``/``columns``: for a Dense (or a normalization over flattened features), the PyTorch position
    of each input/output feature (see :func:`_torch_positions`).
    """
    from ..layers import conv, core, normalization
    if isinstance(layer, conv._SeparableConv):
        # Two PyTorch modules: the depthwise Conv (C*m, 1, *k), then the pointwise Conv (F, C*m, 1, ...).
        channels, multiplier = layer.input_channels, layer.depth_multiplier
        depthwise = _Entry(layer.depthwise_kernel, "weight", (channels * multiplier, 1, *layer.kernel_size),
                           lambda w: w.reshape(channels, multiplier, *w.shape[2:])
                           .transpose(*range(2, 2 + layer.rank), 0, 1))   # (C, m, *k) -> (*k, C, m)
        return [[depthwise], [_kernel_entries(layer.pointwise_kernel, layer.rank)] + _bias_entry(layer)]
    if isinstance(layer, conv._DepthwiseConv):
        channels, multiplier = layer.input_channels, layer.depth_multiplier
        # PyTorch's Conv with groups=C: output channel c*m + j is input channel c's filter j, as in Keras.
        return [[_Entry(layer.depthwise_kernel, "weight", (channels * multiplier, 1, *layer.kernel_size),
                        lambda w: w.reshape(channels, multiplier, *w.shape[2:])
                        .transpose(*range(2, 2 + layer.rank), 0, 1))] + _bias_entry(layer)]
    if isinstance(layer, conv._ConvTranspose):
        if layer.groups != 1:
            raise ValueError(f"{layer.name}: a grouped transposed convolution; clearconv's has groups=1")
        return [[_kernel_entries(layer.kernel, layer.rank)] + _bias_entry(layer)]
    if isinstance(layer, conv._Conv):
        return [[_kernel_entries(layer.kernel, layer.rank)] + _bias_entry(layer)]
    if isinstance(layer, core.Dense):
        units_in, units = layer.kernel.shape

        def kernel(w):
            w = w.T                                   # (out, in) -> (in, out)
            if rows is not None:
                w = w[rows]                            # Keras's input order from PyTorch's flattening
            return w[:, columns] if columns is not None else w
        return [[_Entry(layer.kernel, "weight", (units, units_in), kernel)] + _bias_entry(layer, columns)]
    if isinstance(layer, (normalization.BatchNormalization, normalization.LayerNormalization,
                          normalization.GroupNormalization)):
        def vector(v):
            return v[rows] if rows is not None and v.ndim == 1 and v.size == rows.size else v
        names = [("gamma", "weight"), ("beta", "bias")]
        if isinstance(layer, normalization.BatchNormalization):
            names += [("moving_mean", "running_mean"), ("moving_variance", "running_var")]
        return [[_Entry(getattr(layer, ours), theirs, getattr(layer, ours).shape, vector)
                 for ours, theirs in names if getattr(layer, ours, None) is not None]]
    raise ValueError(f"{layer.name}: a {type(layer).__name__} layer has weights clearconv cannot take from a "
                     f"PyTorch state_dict; supported: {', '.join(SUPPORTED)}")


def _check_epsilon(layer, epsilon) -> None:
    from ..layers import normalization
    normalizations = (normalization.BatchNormalization, normalization.LayerNormalization,
                      normalization.GroupNormalization)
    if epsilon is None or not isinstance(layer, normalizations):
        return
    if not math.isclose(layer.epsilon, epsilon, rel_tol=1e-6):
        raise ValueError(f"{layer.name}: epsilon={layer.epsilon:g}, but the PyTorch network's normalization used "
                         f"eps={epsilon:g} (PyTorch's default is 1e-5, Keras's 1e-3); build the layer with "
                         f"epsilon={epsilon:g}, pass load_torch_state_dict(..., epsilon=<the eps used>), or "
                         f"epsilon=None to skip this check")


def _plan_model(model, epsilon) -> list:
    """[(layer, [[entries of one module], ...])] for the model's layers with weights, in order."""
    from ..layers.core import Dense, Flatten, Reshape
    leaves = _leaf_layers(model)
    plans, rows = [], None
    for index, layer in enumerate(leaves):
        if isinstance(layer, Flatten):
            shape = tuple(layer.input.shape[1:])
            layout = _nearest_data_format(leaves, index - 1, -1) or layer.data_format
            rows = _torch_positions(shape, layout, layer.data_format == "channels_first")
            continue
        if isinstance(layer, Reshape):
            rows = None
        if not layer.weights:
            continue
        if not layer.built:
            raise ValueError(f"{layer.name}: the layer is not built; build the model (give it an input shape) "
                             f"before loading weights")
        _check_epsilon(layer, epsilon)
        columns = _reshaped_columns(leaves, index) if isinstance(layer, Dense) else None
        plans.append((layer, _plan_layer(layer, rows, columns)))
        if isinstance(layer, Dense) or not hasattr(layer, "epsilon"):
            rows = None   # a Dense takes flattened features; its outputs are in PyTorch's order again
    return plans


def _reshaped_columns(leaves: list, index: int):
    """For a Dense whose output (through weightless layers) a Reshape makes an image: the PyTorch position
    of each output feature, PyTorch's ``view(N, C, *spatial)`` being Keras's ``Reshape((*spatial, C))``."""
    from ..layers.core import Reshape
    for following in range(index + 1, len(leaves)):
        layer = leaves[following]
        if isinstance(layer, Reshape):
            layout = _nearest_data_format(leaves, following + 1, 1)
            return _torch_positions(tuple(layer.output.shape[1:]), layout) if layout else None
        if layer.weights:
            return None
    return None


def _describe(entries: list) -> str:
    return ", ".join(f"{e.parameter} {e.torch_shape}" for e in entries)


def _found(parameters: dict) -> str:
    return ", ".join(f"{name} {tuple(value.shape)}" for name, value in parameters.items())


def _match(path: str, plans: list, modules: dict, order: list, strict: bool) -> list:
    """[(variable, converted value)] for every weight, or a ModelFileError naming the first mismatch."""
    pairs, position = [], 0
    for layer, layer_modules in plans:
        for entries in layer_modules:
            if position >= len(order):
                if strict:
                    raise ModelFileError(path, "", f"the state_dict has {len(order)} modules with weights; clearconv "
                                                   f"layer {layer.name!r} ({type(layer).__name__}) expects one more "
                                                   f"with {_describe(entries)} (strict=False keeps the weights of "
                                                   f"the layers left over)")
                return pairs
            prefix = order[position]
            position += 1
            parameters = {name: value for name, value in modules[prefix].items() if name != "num_batches_tracked"}
            expected = {entry.parameter for entry in entries}
            if set(parameters) != expected or any(tuple(parameters[e.parameter].shape) != e.torch_shape
                                                  for e in entries):
                key = next((f"{prefix}.{e.parameter}" for e in entries if e.parameter in parameters
                            and tuple(parameters[e.parameter].shape) != e.torch_shape), prefix)
                raise ModelFileError(path, key, f"clearconv layer {layer.name!r} ({type(layer).__name__}) expects "
                                                f"{_describe(entries)}; module {prefix!r} holds "
                                                f"{_found(parameters) or 'nothing but num_batches_tracked'}")
            for entry in entries:
                value = parameters[entry.parameter]
                name = f"{prefix}.{entry.parameter}" if prefix else entry.parameter
                if value.dtype.kind != "f":
                    raise ModelFileError(path, name, f"dtype {value.dtype}; a weight is floating point")
                if not np.isfinite(value).all():
                    raise ModelFileError(path, name, "holds NaN or infinite values")
                if entry.parameter == "running_var" and (value < 0).any():
                    raise ModelFileError(path, name, "a running variance with negative values")
                converted = np.ascontiguousarray(entry.convert(value), dtype=entry.variable.dtype)
                pairs.append((entry.variable, converted))
    if strict and position < len(order):
        raise ModelFileError(path, order[position], f"the state_dict has {len(order) - position} more module(s) "
                                                    f"than the clearconv model's layers with weights take, from "
                                                    f"{order[position]!r} on (strict=False ignores them)")
    return pairs


def load_torch_state_dict(model, path, strict: bool = True, *, epsilon: float | None = 1e-5, modules=None) -> None:
    """Assign a PyTorch state_dict (a ``torch.save(model.state_dict())`` file or a safetensors file, told
    apart by content) to a clearconv ``model`` of the same architecture.

    Matching: the model's layers with weights, in order (nested models opened), take the state_dict's
    modules (key prefixes: ``features.0`` of ``features.0.weight``) in order; a SeparableConv takes two
    (the depthwise Conv, then the pointwise one). torch.save keeps the modules' registration order;
    safetensors files do not (writers sort tensors by dtype and name), so their modules are taken in
    natural order of their names (``features.2`` before ``features.10``), which is the order of an
    ``nn.Sequential``; pass ``modules`` (the prefixes, in the clearconv layers' order) otherwise, e.g.
    ``["conv1", "bn1", "fc"]``. The first module that does not fit is named with the clearconv layer,
    the shapes it expects and those found. ``strict=False`` lets the state_dict hold modules beyond
    those the model takes, and lets the model's last layers keep their weights when the state_dict
    has fewer modules (a new head to fine-tune).

    Layouts converted (PyTorch -> Keras/clearconv):

    * Conv1d/2d/3d weight (O, I/groups, *k) -> kernel (*k, I/groups, O); bias as is.
    * ConvTranspose weight (I, O, *k) -> kernel (*k, O, I) (groups=1 only).
    * depthwise Conv (groups=C, C*m outputs) weight (C*m, 1, *k) -> DepthwiseConv kernel (*k, C, m).
    * Linear weight (out, in) -> Dense kernel (in, out). A Dense after a Flatten of a channels_last
      tensor (N, *spatial, C) takes features flattened in that order, PyTorch's Linear in the order
      of its (N, C, *spatial) tensor: the kernel's rows are permuted to match (from the shape before
      the Flatten), and so are the vectors of a normalization between them. Likewise a Dense whose
      output a Reshape makes a channels_last image (PyTorch's ``view(N, C, H, W)``) gets its
      columns and bias permuted.
    * BatchNorm weight, bias, running_mean, running_var -> gamma, beta, moving_mean,
      moving_variance; ``num_batches_tracked`` is ignored. LayerNorm and GroupNorm weight, bias ->
      gamma, beta (shapes must agree as they stand).

    Normalizations: a state_dict does not record ``eps``. ``epsilon`` is the eps the PyTorch network
    used (PyTorch's default 1e-5; Keras's default is 1e-3): every clearconv normalization layer must
    have been built with it (``BatchNormalization(epsilon=1e-5)``) or a ValueError names the layer;
    ``epsilon=None`` skips the check. PyTorch's ``momentum=0.1`` is Keras's ``momentum=0.9``: it
    only matters to further training, and is not checked.

    Every weight is read, checked (shape, floating point, finite, no negative variance) and converted
    before any is assigned, so a refused file leaves the model as it was. Raises ModelFileError for a
    file that cannot be read or does not fit the model, ValueError for a model that cannot take
    PyTorch weights (a layer type without a PyTorch counterpart, an epsilon mismatch).
    """
    path = os.fspath(path)
    if not isinstance(strict, bool):
        raise TypeError(f"load_torch_state_dict: `strict` must be True or False; received {strict!r}")
    if epsilon is not None and (isinstance(epsilon, bool) or not isinstance(epsilon, (int, float))
                                or not 0 < epsilon < math.inf):
        raise ValueError(f"load_torch_state_dict: `epsilon` must be a positive number or None; received "
                         f"{epsilon!r}")
    if modules is not None and (isinstance(modules, str) or not all(isinstance(m, str) for m in modules)):
        raise TypeError(f"load_torch_state_dict: `modules` must be a list of module names (key prefixes such as "
                        f"'features.0'); received {modules!r}")
    plans = _plan_model(model, epsilon)   # the model's own errors come before the file is read
    arrays, kind = _read_either(path)
    grouped = _modules(arrays)
    if modules is not None:
        order = list(modules)
        unknown = [m for m in order if m not in grouped]
        if unknown:
            raise ValueError(f"load_torch_state_dict: `modules` names {unknown}, which the state_dict lacks; it "
                             f"holds {list(grouped)}")
        if len(set(order)) != len(order):
            raise ValueError(f"load_torch_state_dict: `modules` names a module twice: {order}")
        if strict:
            order += [m for m in grouped if m not in order]   # unlisted modules count as extra
    elif kind == "safetensors":
        order = sorted(grouped, key=_natural_key)
    else:
        order = list(grouped)
    for variable, value in _match(path, plans, grouped, order, strict):
        variable.assign(value)
