"""CRC-32 by libdeflate (ndpack/_crc32.py): the numbers of zlib.crc32, from any buffer, in place."""

from __future__ import annotations

import mmap
import zlib

import numpy as np
import pytest

import ndpack
from ndpack import NdpackError, _crc32

DATA = np.random.default_rng(32).integers(0, 256, (5 << 20) + 7, dtype=np.uint8).tobytes()


def test_libdeflate_is_installed():
    # Debian's libdeflate0 (.ci/run installs it); without it zlib gives the same numbers, slower.
    assert _crc32.LIBDEFLATE_CRC32 is not None


@pytest.mark.parametrize("size", [0, 1, _crc32.MIN_BYTES - 1, _crc32.MIN_BYTES,
                                  _crc32.MIN_BYTES + 1, 4 << 20, (5 << 20) + 3])
def test_crc32_is_zlibs(size):
    view = memoryview(DATA)[3 : 3 + size]  # an unaligned start
    assert _crc32.crc32(view) == zlib.crc32(view)
    assert _crc32.crc32(view, 0xDEADBEEF) == zlib.crc32(view, 0xDEADBEEF)
    assert _crc32.crc32(bytes(view)) == zlib.crc32(view)
    assert _crc32.crc32(bytearray(view)) == zlib.crc32(view)
    assert _crc32.crc32(np.frombuffer(view, np.uint8)) == zlib.crc32(view)


def test_crc32_of_a_read_only_memory_map(tmp_path):
    path = tmp_path / "data"
    path.write_bytes(DATA)
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as m:
        view = memoryview(m)[1:]
        assert _crc32.crc32(view) == zlib.crc32(view)
        view.release()


def test_a_damaged_large_record_is_CHECKSUM(tmp_path):
    path = tmp_path / "big.ndp"
    ndpack.save(path, {"a": np.arange(1 << 20, dtype="f4"), "b": np.ones(10, "f4")})
    start = ndpack.load(path).info("a").start
    data = bytearray(path.read_bytes())
    data[start + 3 * (1 << 19)] ^= 4
    path.write_bytes(bytes(data))
    for read in (lambda: ndpack.load(path, verify=True),
                 lambda: ndpack.open(path).read("a")):
        with pytest.raises(NdpackError) as info:
            read()
        assert (info.value.code, info.value.array) == ("CHECKSUM", "a")
    assert ndpack.open(path).read("b").tolist() == [1.0] * 10
