"""IDX files: exact byte layout, round trips, and a clear ValueError for every kind of damage."""
import gzip
import struct

import numpy as np
import pytest

from tinyconv.data import read_idx, write_idx
from tinyconv.data.idx import parse_idx


def test_reads_hand_built_file(tmp_path):
    # type 0x0C = int32, 2 dimensions (2, 2), big-endian values
    raw = bytes([0, 0, 0x0C, 2]) + struct.pack(">II", 2, 2) + struct.pack(">4i", 1, -2, 300, 70000)
    path = tmp_path / "a.idx"
    path.write_bytes(raw)
    a = read_idx(path)
    assert a.dtype == np.int32 and a.dtype.isnative
    np.testing.assert_array_equal(a, [[1, -2], [300, 70000]])
    a[0, 0] = 5  # a writable copy, not a view of the file bytes


def test_write_produces_the_standard_layout(tmp_path):
    path = tmp_path / "labels-idx1-ubyte"
    write_idx(path, np.array([7, 2, 1], dtype=np.uint8))
    assert path.read_bytes() == b"\x00\x00\x08\x01" + b"\x00\x00\x00\x03" + b"\x07\x02\x01"


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_round_trip(tmp_path, rng, dtype, suffix):
    if np.dtype(dtype).kind == "f":
        a = rng.standard_normal((3, 4, 5)).astype(dtype)
    else:
        info = np.iinfo(dtype)
        a = rng.integers(info.min, info.max, size=(3, 4, 5), endpoint=True).astype(dtype)
    path = tmp_path / f"x{suffix}"
    write_idx(path, a)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == (suffix == ".gz")
    b = read_idx(path)
    assert b.dtype == a.dtype
    np.testing.assert_array_equal(b, a)


def test_gzip_is_detected_from_content_not_name(tmp_path):
    path = tmp_path / "images-idx3-ubyte"  # no .gz, gzip inside
    a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    path.write_bytes(gzip.compress(b"\x00\x00\x08\x03" + struct.pack(">3I", 2, 3, 4) + a.tobytes()))
    np.testing.assert_array_equal(read_idx(path), a)


GOOD = b"\x00\x00\x08\x02" + struct.pack(">II", 2, 3) + bytes(range(6))


@pytest.mark.parametrize("raw, problem", [
    (GOOD[:3], "too short"),
    (b"\x01\x00" + GOOD[2:], "magic"),
    (GOOD[:2] + b"\x0A" + GOOD[3:], "type code 0x0A"),
    (GOOD[:3] + b"\x00", "0 dimensions"),
    (GOOD[:10], "truncated header"),
    (GOOD[:-1], "truncated data"),
    (GOOD + b"\x00", "trailing bytes"),
])
def test_damaged_files_name_the_file_and_the_problem(tmp_path, raw, problem):
    path = tmp_path / "bad-idx"
    path.write_bytes(raw)
    with pytest.raises(ValueError, match=problem) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_corrupt_and_truncated_gzip(tmp_path, rng):
    blob = bytearray(gzip.compress(b"\x00\x00\x08\x01" + struct.pack(">I", 4000)
                                   + rng.integers(0, 256, 4000, dtype=np.uint8).tobytes()))
    cut = tmp_path / "cut.gz"
    cut.write_bytes(bytes(blob[: len(blob) // 2]))
    with pytest.raises(ValueError, match="gzip") as info:
        read_idx(cut)
    assert str(cut) in str(info.value)
    blob[len(blob) // 2] ^= 0xFF  # a flipped byte in the deflate stream
    flipped = tmp_path / "flipped.gz"
    flipped.write_bytes(bytes(blob))
    with pytest.raises(ValueError, match="gzip"):
        read_idx(flipped)


def test_parse_idx_labels_errors_with_the_given_name():
    with pytest.raises(ValueError, match="^mem: truncated data"):
        parse_idx(GOOD[:-2], "mem")


def test_write_rejects_unsupported_arrays(tmp_path):
    with pytest.raises(TypeError, match="int64"):
        write_idx(tmp_path / "x", np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match="dimensions"):
        write_idx(tmp_path / "x", np.float32(1.0))
