"""The IDX file format (MNIST, Fashion-MNIST, EMNIST, ...): read, write, and check.

An IDX file is a header followed by the raw array, big-endian, row-major::

    byte 0, 1   0x00 0x00
    byte 2      dtype code: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
                            0x0D float32, 0x0E float64
    byte 3      ndim, the number of dimensions
    then        ndim big-endian uint32 sizes, e.g. 10000, 28, 28
    then        prod(sizes) * itemsize bytes of data, nothing more

The whole file may be gzip-compressed (as distributed); :func:`read_idx`
recognises gzip by its first two bytes (0x1f 0x8b), not by the file name.
Every inconsistency (bad magic, unknown dtype code, short header, payload
shorter or longer than the header promises) raises a ValueError that names
the file and says what is wrong.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path
from typing import Union

import numpy as np

PathLike = Union[str, "os.PathLike[str]"]

GZIP_MAGIC = b"\x1f\x8b"

# IDX dtype code -> NumPy dtype as stored on disk (big-endian).
DTYPE_BY_CODE: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
CODE_BY_KIND: dict[tuple[str, int], int] = {(dtype.kind, dtype.itemsize): code
                                            for code, dtype in DTYPE_BY_CODE.items()}

_ACCEPTED_CODES = ", ".join(f"0x{code:02X} ({dtype.newbyteorder('=').name})"
                            for code, dtype in DTYPE_BY_CODE.items())
_MAX_DIMENSION = 2**32 - 1


def read_idx(path: PathLike) -> np.ndarray:
    """Read one IDX file (gzip-compressed or raw) into a native-endian NumPy array.

    Returns an array of the stored dtype (uint8 for MNIST images and labels)
    and the stored shape, e.g. (10000, 28, 28). The array is a fresh,
    writable copy. Raises FileNotFoundError if the file does not exist and
    ValueError, naming the file, if its content is not a valid IDX array.
    """
    name = str(path)
    content = _read_bytes(path)
    dtype, dimensions, header_length = _parse_header(content, name)
    expected_bytes = math.prod(dimensions) * dtype.itemsize
    found_bytes = len(content) - header_length
    if found_bytes != expected_bytes:
        problem = "truncated" if found_bytes < expected_bytes else "extra bytes after the data"
        raise ValueError(f"{name}: {problem}: header promises {_describe(dimensions, dtype)} = "
                         f"{expected_bytes} bytes, found {found_bytes}")
    flat = np.frombuffer(content, dtype=dtype, count=expected_bytes // dtype.itemsize, offset=header_length)
    # big-endian on disk -> native byte order; astype copies, so the result is writable
    return flat.astype(dtype.newbyteorder("=")).reshape(dimensions)


def write_idx(path: PathLike, array: np.ndarray, compress: bool | None = None) -> None:
    """Write ``array`` as an IDX file; gzip-compressed if ``compress`` (default: the name ends in .gz).

    Accepted dtypes: uint8, int8, int16, int32, float32, float64; at least
    one dimension, each below 2**32. The gzip stream carries no timestamp,
    so the same array always gives the same bytes.
    """
    array = np.asarray(array)
    code = CODE_BY_KIND.get((array.dtype.kind, array.dtype.itemsize))
    if code is None:
        raise TypeError(f"write_idx: cannot store dtype {array.dtype} in an IDX file; accepted: {_ACCEPTED_CODES}")
    if not 1 <= array.ndim <= 255:
        raise ValueError(f"write_idx: `array` must have 1 to 255 dimensions; received shape {array.shape}")
    if max(array.shape) > _MAX_DIMENSION:
        raise ValueError(f"write_idx: each dimension must be below 2**32; received shape {array.shape}")
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = np.ascontiguousarray(array, dtype=DTYPE_BY_CODE[code]).tobytes()
    if compress is None:
        compress = str(path).endswith(".gz")
    content = header + payload
    if compress:
        content = gzip.compress(content, mtime=0)
    Path(path).write_bytes(content)


def load_idx_pair(images_path: PathLike, labels_path: PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read an images file and its labels file and check that they describe the same examples.

    Returns ``(images, labels)`` as stored (for MNIST: uint8 (N, 28, 28) and
    uint8 (N,)). Raises ValueError if the labels are not one-dimensional
    integers or if the two files hold different numbers of examples.
    """
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if labels.ndim != 1 or labels.dtype.kind not in "ui":
        raise ValueError(f"{labels_path}: labels must be a 1-D integer array; found {labels.dtype} "
                         f"of shape {labels.shape}")
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{images_path} holds {images.shape[0]} images but {labels_path} holds "
                         f"{labels.shape[0]} labels; the two files must come from the same set")
    return images, labels


def _read_bytes(path: PathLike) -> bytes:
    """The file's content, gunzipped if it starts with the gzip magic bytes."""
    content = Path(path).read_bytes()
    if not content.startswith(GZIP_MAGIC):
        return content
    try:
        return gzip.decompress(content)
    except (EOFError, OSError, zlib.error) as error:
        raise ValueError(f"{path}: corrupt gzip stream (the file starts with the gzip magic bytes "
                         f"1f 8b but cannot be decompressed: {error})") from None


def _parse_header(content: bytes, name: str) -> tuple[np.dtype, tuple[int, ...], int]:
    """Check the magic number and the dimensions; return (disk dtype, dimensions, header length)."""
    if len(content) < 4:
        raise ValueError(f"{name}: truncated: {len(content)} bytes, shorter than the 4-byte IDX magic number")
    zero_0, zero_1, code, ndim = content[:4]
    if (zero_0, zero_1) != (0, 0):
        raise ValueError(f"{name}: not an IDX file: the magic number must start with 0x00 0x00, "
                         f"found 0x{zero_0:02X} 0x{zero_1:02X}")
    if code not in DTYPE_BY_CODE:
        raise ValueError(f"{name}: unknown IDX dtype code 0x{code:02X} in the magic number; "
                         f"accepted: {_ACCEPTED_CODES}")
    header_length = 4 + 4 * ndim
    if len(content) < header_length:
        raise ValueError(f"{name}: truncated header: the magic number announces {ndim} dimensions "
                         f"({header_length} header bytes), the file has {len(content)} bytes")
    dimensions = struct.unpack(f">{ndim}I", content[4:header_length])
    return DTYPE_BY_CODE[code], dimensions, header_length


def _describe(dimensions: tuple[int, ...], dtype: np.dtype) -> str:
    """'10000x28x28' for bytes, '10x3 int32 values' for wider types."""
    shape = "x".join(str(size) for size in dimensions) or "a scalar"
    return shape if dtype.itemsize == 1 else f"{shape} {dtype.newbyteorder('=').name} values"
