"""The IDX format of the MNIST files, read and written with every field checked.

An IDX file is a 4-byte magic number -- two zero bytes, a type code, the number of dimensions --
then one big-endian uint32 per dimension, then the values, big-endian, in C order. Files may be
gzip-compressed (detected from the gzip magic bytes, whatever the file name says).
"""
from __future__ import annotations

import gzip
import os
import struct
import zlib

import numpy as np

# type code -> big-endian dtype (the format's byte order)
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dt.newbyteorder("="): code for code, dt in IDX_DTYPES.items()}
_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: str) -> bytes:
    with open(path, "rb") as f:
        raw = f.read()
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as e:  # truncated stream, bad CRC, bad deflate data
        raise ValueError(f"{path}: corrupt or truncated gzip data ({e})") from None


def parse_idx(raw: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode IDX bytes into a native-endian array; `name` labels the error messages."""
    if len(raw) < 4:
        raise ValueError(f"{name}: too short for an IDX header ({len(raw)} bytes)")
    zero0, zero1, code, ndim = raw[0], raw[1], raw[2], raw[3]
    if zero0 != 0 or zero1 != 0:
        raise ValueError(f"{name}: bad IDX magic number 0x{raw[:4].hex()} "
                         "(the first two bytes must be zero); not an IDX file")
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise ValueError(f"{name}: unknown IDX type code 0x{code:02X} (expected one of {known})")
    if ndim == 0:
        raise ValueError(f"{name}: IDX header declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{name}: truncated header: {ndim} dimensions need {header} bytes, "
                         f"file has {len(raw)}")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = IDX_DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    found = len(raw) - header
    if found < expected:
        raise ValueError(f"{name}: truncated data: shape {shape} of {dtype.name} needs "
                         f"{expected} bytes after the header, found {found}")
    if found > expected:
        raise ValueError(f"{name}: {found - expected} unexpected trailing bytes after the data "
                         f"of shape {shape}")
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))  # copy: writable and native-endian


def read_idx(path) -> np.ndarray:
    """Read an IDX file (plain or gzip) into a native-endian NumPy array."""
    path = os.fspath(path)
    return parse_idx(_read_bytes(path), path)


def write_idx(path, array) -> None:
    """Write `array` as an IDX file; gzip-compressed when `path` ends with ".gz"."""
    path = os.fspath(path)
    array = np.asarray(array)
    native = array.dtype.newbyteorder("=")
    if native not in _CODES:
        raise TypeError(f"write_idx: dtype {array.dtype} has no IDX type code "
                        f"(supported: uint8, int8, int16, int32, float32, float64)")
    if not 1 <= array.ndim <= 255:
        raise ValueError(f"write_idx: array must have 1 to 255 dimensions, got shape {array.shape}")
    if any(n >= 2 ** 32 for n in array.shape):
        raise ValueError(f"write_idx: every dimension must fit in uint32, got shape {array.shape}")
    code = _CODES[native]
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes()
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(payload)
