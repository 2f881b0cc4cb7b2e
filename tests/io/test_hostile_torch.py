"""read_state_dict on hostile torch.save files that once broke the loader contract: each must give a
ModelFileError within a second, its reader's memory growing by less than 64 MiB + 10 times the file's size.

The pickle of such a file calls the few functions a state_dict needs (torch.Size, _rebuild_tensor_v2,
OrderedDict) on what it likes, as often as it likes, and builds lists, dicts and strings with Python's own
opcodes; data.pkl may be deflated, so 3 MiB of opcodes fit in a file of a few KB. The files are read in one
child process whose address space is capped (RLIMIT_AS), so a regression fails the test instead of
exhausting the machine that runs it. The estimate the reader makes of the memory a pickle builds is checked
against tracemalloc, and against real torch.save files, which it must admit.
"""

import io
import pickle
import pickletools
import struct
import tracemalloc
import zipfile

import numpy as np
import pytest
from hostile_loads import load_in_child

from clearconv.io import torch as torch_io
from clearconv.io.errors import ModelFileError

CHILD_MEMORY = 3 * 2**30     # address space of the child process that reads the hostile files
SIZE_GLOBAL = b"ctorch\nSize\nq\x00"                       # GLOBAL torch.Size, BINPUT 0
ORDERED_DICT = b"ccollections\nOrderedDict\n"
REBUILD = b"ctorch._utils\n_rebuild_tensor_v2\n"
PARAMETER = b"ctorch._utils\n_rebuild_parameter\n"


def _int(value: int) -> bytes:
    return b"K" + bytes([value]) if value < 256 else b"J" + struct.pack("<i", value)


def _zip(path, pickle_bytes: bytes, storages=None, deflated=False) -> str:
    compression = zipfile.ZIP_DEFLATED if deflated else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", compression) as archive:
        archive.writestr("archive/data.pkl", pickle_bytes)
        archive.writestr("archive/byteorder", b"little")
        for key, data in (storages or {}).items():
            archive.writestr(f"archive/data/{key}", data, zipfile.ZIP_STORED)
    return str(path)


def size_bomb(items: int, calls: int, keep: bool) -> bytes:
    """torch.Size(L) ``calls`` times on one memoized list L of ``items`` zeros (the results kept in a list
    or popped), then an empty dict."""
    p = bytearray(b"\x80\x02" + SIZE_GLOBAL)
    p += b"](" + b"K\x00" * items + b"eq\x01"            # EMPTY_LIST MARK ints APPENDS BINPUT 1
    p += b"0}q\x02]("                                    # POP, the result dict, a list for the results
    p += (b"h\x00h\x01\x85R" + (b"" if keep else b"0")) * calls   # BINGET 0, BINGET 1, TUPLE1, REDUCE [POP]
    return bytes(p + (b"e" if keep else b"1") + b"0.")


def storage_header(numel: int) -> bytes:
    """MARK 'storage' FloatStorage '0' 'cpu' numel TUPLE BINPERSID: storage "0" of ``numel`` floats."""
    return b"(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpu" + \
        b"J" + struct.pack("<i", numel) + b"tQ"


def many_views(views: int, numel: int) -> bytes:
    """``views`` tensors of 32 axes of size 1, all views of one storage, rebuilt from memoized arguments:
    torch names _rebuild_tensor_v2 once and takes it from the memo, so counting names counts one tensor."""
    p = bytearray(b"\x80\x02" + REBUILD + b"q\x00(" + storage_header(numel))
    p += b"K\x00(" + b"K\x01" * 32 + b"t(" + b"K\x00" * 32 + b"t\x89" + ORDERED_DICT + b")Rtq\x01"
    p += b"]q\x02(" + b"h\x00h\x01R" * views + b"e0}."
    return bytes(p)


def many_calls(calls: int) -> bytes:
    """_rebuild_parameter(tensor, False, None) ``calls`` times on one memoized tensor: a cheap call."""
    p = bytearray(b"\x80\x02" + REBUILD + b"(" + storage_header(1) + b"K\x00(K\x01t(K\x01t\x89N" + b"tR")
    p += b"\x89N\x87q\x01" + PARAMETER + b"q\x02](" + b"h\x02h\x01R" * calls + b"e0}."
    return bytes(p)


def huge_dimensions() -> bytes:
    """A tensor whose sizes are 32 copies of a 100 KB integer: the reader multiplied them (seconds)."""
    huge = (1 << (8 * 100_000 - 2)).to_bytes(100_000, "little")
    p = bytearray(b"\x80\x02" + REBUILD + b"(" + storage_header(1) + b"K\x00")
    p += b"(\x8b" + struct.pack("<i", len(huge)) + huge + b"q\x00" + b"h\x00" * 31 + b"t"
    p += b"(" + b"K\x00" * 32 + b"t\x89N" + b"tR0}."
    return bytes(p)


BIG = 3 * 2**20 - 64   # opcode bytes of the deflated bombs: just under MAX_PICKLE_BYTES
WIDE = "\U0001F600".encode()   # one character beyond Latin-1 makes a string store 4 bytes per character


def opcode_bomb(body: bytes, protocol: int = 2) -> bytes:
    return bytes([0x80, protocol]) + body[:BIG] + b"N."


HOSTILE = {
    # (pickle bytes, storages, deflated); an empty storage "0" of 1 M floats makes the file 4 MB.
    "size_bomb_pop": lambda: (size_bomb(100_000, 300, keep=False), None, False),
    "size_bomb_keep": lambda: (size_bomb(100_000, 2000, keep=True), None, True),
    "size_bomb_1_mb": lambda: (size_bomb(500_000, 100, keep=False), None, False),
    "many_views": lambda: (many_views(torch_io.MAX_TENSORS + 1, 2**20), {"0": bytes(2**22)}, False),
    "many_views_small_file": lambda: (many_views(15_000, 1), {"0": bytes(4)}, True),
    "many_calls": lambda: (many_calls(torch_io.MAX_CALLS + 1), {"0": bytes(4)}, False),
    "huge_dimensions": lambda: (huge_dimensions(), {"0": bytes(4)}, True),
    "empty_lists": lambda: (opcode_bomb(b"]" * BIG), None, True),
    "empty_dicts": lambda: (opcode_bomb(b"}" * BIG), None, True),
    "empty_sets": lambda: (opcode_bomb(b"\x8f" * BIG, protocol=4), None, True),
    "list_of_lists": lambda: (opcode_bomb(b"](" + b"]" * BIG), None, True),
    "wide_strings": lambda: (opcode_bomb(b"](" + (b"X\x10\x00\x00\x00" + WIDE + b"a" * 12) * (BIG // 21)),
                             None, True),
    "marks": lambda: (opcode_bomb(b"(" * BIG), None, True),
    "nops": lambda: (opcode_bomb(b"N0" * (BIG // 2)), None, False),
}



@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """{name: outcome} of read_state_dict on each file of HOSTILE, read in one memory-capped child process."""
    folder = tmp_path_factory.mktemp("hostile_torch")
    paths = {}
    for name, build in HOSTILE.items():
        data, storages, deflated = build()
        paths[name] = _zip(folder / f"{name}.pt", data, storages, deflated)
    # Resident growth, not tracemalloc: it would slow the reading of millions of opcodes tenfold (the
    # estimate they are bounded by is checked against tracemalloc below).
    return load_in_child("clearconv.io.torch.read_state_dict", paths, CHILD_MEMORY, memory="resident")


def assert_refused(outcome, *words):
    assert outcome["error"] == "ModelFileError", outcome
    assert outcome["member"] == "archive/data.pkl", outcome
    assert all(word in outcome["reason"] for word in words), outcome
    assert len(outcome["reason"]) < 500, "a reason quotes what the file holds only in short"
    assert outcome["seconds"] < 1.0, outcome
    assert outcome["grown_mib"] < 64 + 10 * outcome["file_mib"], outcome


# --------------------------------------------------------------------------------------------------
# The allowed functions: lengths checked before copying, calls and tensors counted
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["size_bomb_pop", "size_bomb_keep"])
def test_torch_size_of_a_long_list_is_refused_before_copying_it(hostile, name):
    """torch.Size copied its list before checking its length: 300 calls on 100,000 items took seconds, 2000
    calls keeping their results gigabytes."""
    assert_refused(hostile[name], "torch.Size", "at most 32")


def test_a_size_bomb_of_half_a_million_list_items_is_refused_by_its_opcodes(hostile):
    """500,000 items: its opcodes alone would build more than a file of 1 MB justifies."""
    assert_refused(hostile["size_bomb_1_mb"], "bytes of objects")


def test_tensors_are_counted_when_rebuilt_not_when_named(hostile):
    assert_refused(hostile["many_views"], f"more than {torch_io.MAX_TENSORS:,} tensors")


def test_views_of_a_small_file_are_refused_by_the_memory_they_would_take(hostile):
    """Each view of 32 axes takes about 1 KB: 15,000 of them are more than a file of a few KB justifies
    (the opcodes calling them pass the scan; the calls are charged as they come)."""
    assert_refused(hostile["many_views_small_file"], "objects")


def test_calls_of_allowed_functions_are_counted(hostile):
    assert_refused(hostile["many_calls"], f"more than {torch_io.MAX_CALLS:,} times")


def test_dimensions_beyond_int64_are_refused_before_any_arithmetic(hostile):
    assert_refused(hostile["huge_dimensions"], "2**63 - 1")


# --------------------------------------------------------------------------------------------------
# Python's own opcodes: counted and their objects estimated before unpickling
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["empty_lists", "empty_dicts", "list_of_lists", "wide_strings"])
def test_deflated_opcodes_building_hundreds_of_megabytes_are_refused(hostile, name):
    """3 MiB of one-byte opcodes built 300 to 800 MB from a file of a few KB."""
    assert_refused(hostile[name], "bytes of objects" if name == "wide_strings" else "opcodes")


def test_sets_are_charged_what_their_tables_may_take(hostile):
    """Three million empty sets took 700 MB and 4 s."""
    assert_refused(hostile["empty_sets"], "opcodes")


@pytest.mark.parametrize("name", ["marks", "nops"])
def test_millions_of_opcodes_are_refused(hostile, name):
    """Three million opcodes took over a second to scan and run, whatever they build."""
    assert_refused(hostile[name], f"more than {torch_io.MAX_PICKLE_OPCODES:,} opcodes")


# --------------------------------------------------------------------------------------------------
# The estimate bounds what unpickling allocates, and admits what torch writes
# --------------------------------------------------------------------------------------------------

def _dict_items(count):
    # distinct BININT keys, None values, into a plain dict
    return b"\x80\x02}(" + b"".join(b"J" + struct.pack("<i", 1000 + i) + b"N" for i in range(count)) + b"u."


def _ordered_dict_items(count):
    # the allowed OrderedDict, filled by SETITEMS with distinct keys
    return b"\x80\x02" + ORDERED_DICT + b")R(" + \
        b"".join(b"J" + struct.pack("<i", 1000 + i) + b"N" for i in range(count)) + b"u."


PATTERNS = {
    "ints_in_a_list": lambda n: b"\x80\x02](" + b"".join(b"J" + struct.pack("<i", 1000 + i) for i in range(n))
                                + b"e.",
    "dict_items": _dict_items,
    "ordered_dict_items": _ordered_dict_items,
    "lists_memoized": lambda n: b"\x80\x02](" + b"".join(b"]r" + struct.pack("<I", i) for i in range(n)) + b"e.",
    "wide_strings": lambda n: b"\x80\x02](" + (b"X\x10\x00\x00\x00" + WIDE + b"a" * 12) * n + b"e.",
    "tuples": lambda n: b"\x80\x02](" + b"K\x01K\x02\x86" * n + b"e.",
    "floats": lambda n: b"\x80\x02](" + b"".join(b"G" + struct.pack(">d", i + 0.5) for i in range(n)) + b"e.",
    "marks_and_lists": lambda n: b"\x80\x02" + b"(" * n + b"]" * n + b"N.",
    "set_items": lambda n: b"\x80\x04\x8f(" + b"".join(b"J" + struct.pack("<i", 1000 + i) for i in range(n)) + b"\x90.",
    "frozenset": lambda n: b"\x80\x04(" + b"".join(b"J" + struct.pack("<i", 1000 + i) for i in range(n)) + b"\x91.",
    "torch_size": lambda n: b"\x80\x02" + SIZE_GLOBAL + b"(K\x01K\x02tq\x01](" + b"h\x00h\x01\x85R" * n + b"e.",
}


@pytest.mark.parametrize("name", sorted(PATTERNS))
def test_the_estimate_bounds_the_memory_unpickling_takes(name):
    """tracemalloc's peak while our unpickler runs a pickle is at most the scan's estimate plus the bytes
    the calls were charged: the estimate is an upper bound, pattern by pattern."""
    data = PATTERNS[name](20_000)
    estimate = torch_io._scan_pickle("p.pt", "archive/data.pkl", data)
    budget, file = 2**30, io.BytesIO(data)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        unpickler = torch_io._StateDictUnpickler(file, None, budget)
        unpickler.load()
        grown = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    charged = budget - unpickler.budget.memory
    assert grown <= estimate + charged, (grown, estimate, charged)


@pytest.fixture(scope="module")
def torch_files(tmp_path_factory):
    """torch.save files of 1000 tensors each: a state_dict, and the same with Parameters (keep_vars)."""
    torch = pytest.importorskip("torch")
    folder = tmp_path_factory.mktemp("torch_files")
    net = torch.nn.Sequential(*[torch.nn.BatchNorm1d(1) for _ in range(200)])
    paths = {}
    for name, state in [("tensors", net.state_dict()), ("parameters", net.state_dict(keep_vars=True))]:
        # torch names the archive's folder after the file: a name of one letter makes the smallest file
        paths[name] = folder / f"{name[0]}.pt"
        torch.save(state, paths[name])
    return paths, {key: value.detach().numpy() for key, value in net.state_dict().items()}


@pytest.mark.parametrize("name", ["tensors", "parameters"])
def test_torch_files_are_read_and_their_estimate_leaves_room_for_max_tensors(torch_files, name):
    """What the reader charges a real file per tensor stays within what the file's bytes per tensor allow, so
    a state_dict of MAX_TENSORS tensors is admitted as well; and the tensors read are torch's."""
    paths, expected = torch_files
    path = paths[name]
    with zipfile.ZipFile(path) as archive:
        data = archive.read(next(n for n in archive.namelist() if n.endswith("/data.pkl")))
    estimate = torch_io._scan_pickle(str(path), "data.pkl", data)
    with open(path, "rb") as file:   # what the calls are charged: unpickled with room to spare
        container = torch_io._TorchZip(str(path), file)
        unpickler = torch_io._StateDictUnpickler(io.BytesIO(data), container.read_storage, 2**30)
        unpickler.load()
    charged = 2**30 - unpickler.budget.memory
    tensors, file_size = len(expected), path.stat().st_size
    assert estimate + charged <= torch_io.PICKLE_MEMORY_PER_FILE_BYTE * file_size, (estimate, charged, file_size)
    opcodes = sum(1 for _ in pickletools.genops(data))
    assert opcodes * torch_io.MAX_TENSORS <= torch_io.MAX_PICKLE_OPCODES * tensors
    assert len(data) * torch_io.MAX_TENSORS <= torch_io.MAX_PICKLE_BYTES * tensors
    arrays = torch_io.read_state_dict(path)
    assert arrays.keys() == expected.keys()
    for key, value in expected.items():
        np.testing.assert_array_equal(arrays[key], value)


def test_a_pickle_that_is_not_a_zip_member_still_goes_through_pickle_checks():
    """The scan refuses an argument longer than the data left (the unpickler allocated BINBYTES8's declared
    length before reading it)."""
    data = b"\x80\x04\x8e" + struct.pack("<Q", 2**40) + b"abc."
    with pytest.raises(ModelFileError, match="not a valid pickle"):
        torch_io._scan_pickle("p.pt", "archive/data.pkl", data)
    assert pickle.loads(b"\x80\x04\x8e" + struct.pack("<Q", 3) + b"abc.") == b"abc"   # the opcode as used
