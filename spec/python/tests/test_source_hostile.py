"""The lazy reader over hostile files and misbehaving sources: the findings of TypeScript's audit
(commit 8c3d0ef, test/source-hostile.test.ts) checked against Python's ``ndpack.open`` and
``ndpack.Reader``. A .npz whose claims would make a reader fetch gigabytes is refused with
TypeScript's code after kilobytes; a source that gives fewer bytes than at open is FILE_CHANGED; a
failed open closes its source, whose failing close hides nothing; close() twice closes it once."""

from __future__ import annotations

import gc
import io
import os
import struct
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import ndpack
from ndpack import _io
from ndpack._reader import FIRST_READ
from ndpack._sets import SafetensorsReader
from expectations import expect


# --------------------------------------------------------------------------------------------------
# .npz archives whose claims would make a reader fetch gigabytes: SIZE_MISMATCH, HEADER_TOO_LARGE
# and CODEC_ERROR after kilobytes, as in TypeScript (test/source-hostile.test.ts).
# --------------------------------------------------------------------------------------------------

def npz_bytes(arrays) -> bytes:
    out = io.BytesIO()
    np.savez(out, **arrays)
    return out.getvalue()


def with_end_record(path, real: bytes, size: int, cd_size: int, cd_offset: int) -> None:
    """``path``: ``real`` up to its end record, zeros (sparse) to ``size - 22``, then its end
    record claiming a directory of ``cd_size`` bytes at ``cd_offset``."""
    end = real.rindex(b"PK\x05\x06")
    record = bytearray(real[end : end + 22])
    struct.pack_into("<II", record, 12, cd_size, cd_offset)
    with open(path, "wb") as fh:
        fh.write(real[:end])
        fh.truncate(size - 22)
        fh.seek(size - 22)
        fh.write(record)


def directory_of_a_gibibyte(path) -> None:
    """One member, its end record claiming a central directory that reaches it across 1 GiB."""
    real = npz_bytes({"a": np.zeros(4, "f4")})
    cd_offset = struct.unpack_from("<I", real, real.rindex(b"PK\x05\x06") + 16)[0]
    with_end_record(path, real, 1 << 30, (1 << 30) - 22 - cd_offset, cd_offset)


def directory_over_max_header_bytes(path) -> None:
    """600 members, a central directory of 110 MiB: above the 100 MiB a directory may be (the
    archive's header, bounded as an ndpack header is), within what 600 records can hold."""
    real = npz_bytes({f"a{i}": np.zeros(4, "f4") for i in range(600)})
    cd_size = 110 << 20
    size = len(real) + cd_size
    with_end_record(path, real, size, cd_size, size - 22 - cd_size)


def empty_deflate_blocks(path, compressed: int = 2_000_000_000) -> None:
    """One deflated member claiming 2 GB of compressed data, all of it empty stored blocks."""
    name = b"a.npy"
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, 0, compressed, 1000,
                        len(name), 0) + name
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0, 0, compressed,
                          1000, len(name), 0, 0, 0, 0, 0, 0) + name
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central), len(local) + compressed, 0)
    with open(path, "wb") as fh:
        fh.write(local)
        fh.write(b"\0\0\0\xff\xff" * 200_000)  # the first megabyte; the rest is sparse zeros
        fh.truncate(len(local) + compressed)
        fh.seek(len(local) + compressed)
        fh.write(central + end)


#: Each archive, and the code that refuses it.
HOSTILE_NPZ = {"directory-1GiB": (directory_of_a_gibibyte, "SIZE_MISMATCH"),
               "directory-over-max-header-bytes": (directory_over_max_header_bytes,
                                                   "HEADER_TOO_LARGE"),
               "empty-deflate-blocks-2GB": (empty_deflate_blocks, "CODEC_ERROR")}


@pytest.fixture
def counted(monkeypatch):
    """Bytes read through local and fsspec sources, and the longest single read."""
    counts = {"bytes": 0, "largest": 0}
    for source in (_io.FileSource, _io.FsspecSource):
        def read(self, offset, length, _read=source.read):
            counts["largest"] = max(counts["largest"], length)
            data = _read(self, offset, length)
            counts["bytes"] += len(data)
            return data
        monkeypatch.setattr(source, "read", read)
    return counts


@pytest.mark.parametrize("case", HOSTILE_NPZ.values(), ids=HOSTILE_NPZ.keys())
@pytest.mark.parametrize("scheme", ["path", "file://"])
def test_a_hostile_npz_is_refused_after_reading_kilobytes_locally(tmp_path, counted, case, scheme):
    build, code = case
    path = tmp_path / "hostile.npz"
    build(path)
    location = path if scheme == "path" else f"file://{path}"
    expect(code, lambda: ndpack.open(location, max_header_bytes=1 << 20))
    assert FIRST_READ <= counted["bytes"] < 1 << 20


@pytest.mark.parametrize("case", HOSTILE_NPZ.values(), ids=HOSTILE_NPZ.keys())
def test_a_hostile_npz_is_refused_after_reading_kilobytes_over_http(nginx, case):
    build, code = case
    name = f"hostile-{build.__name__}.npz"
    build(nginx.root / name)
    nginx.clear()
    expect(code, lambda: ndpack.open(nginx.url(name), max_header_bytes=1 << 20))
    assert FIRST_READ <= nginx.transferred(name) < 1 << 20
    os.unlink(nginx.root / name)


# --------------------------------------------------------------------------------------------------
# A source whose size changes after open (TypeScript: the size at open holds; fewer bytes is
# FILE_CHANGED, never a shorter array). ndpack.Reader reads any object with ``size`` and
# ``read(offset, length)``; Python's own sources (local, fsspec, HTTP) check their reads
# themselves (test_local_reads.py, test_remote.py).
# --------------------------------------------------------------------------------------------------

class Shrinking:
    """``data`` as a source whose ``size`` drops by 200 bytes once ``shrunk``; with ``cut``, its
    reads then end at that size."""

    location = "memory"

    def __init__(self, data: bytes, cut: bool):
        self.data, self.cut, self.shrunk, self.closes = data, cut, False, 0

    @property
    def size(self) -> int:
        return len(self.data) - (200 if self.shrunk else 0)

    def read(self, offset: int, length: int) -> bytes:
        end = min(offset + length, self.size) if self.cut else offset + length
        return self.data[offset:end]

    def close(self) -> None:
        self.closes += 1


def safetensors_file(arrays) -> bytes:
    from safetensors.numpy import save

    return save(arrays)


FILES = {
    "ndpack": (ndpack.Reader, lambda: ndpack.dumps({"b": np.full(100, 2, "f4"),
                                                    "c": np.full(6, 3, "i2")})),
    "ndpack-deflate": (ndpack.Reader, lambda: ndpack.dumps({"b": np.full(100, 2, "f4"),
                                                         "c": np.arange(60, dtype="i2")},
                                                        codec="deflate")),
    "safetensors": (SafetensorsReader, lambda: safetensors_file({"b": np.full(100, 2, "f4"),
                                                                 "c": np.full(6, 3, "i2")})),
}


@pytest.mark.parametrize("kind", FILES)
def test_the_size_at_open_holds_and_a_source_giving_fewer_bytes_later_is_FILE_CHANGED(kind):
    reader_class, build = FILES[kind]
    data = build()
    keeps = Shrinking(data, cut=False)
    reader = reader_class(keeps)
    keeps.shrunk = True
    assert reader.size == len(data)
    for name in reader:
        assert reader.read(name).shape == reader.info(name).shape
        assert reader.read(name, verify=False).shape == reader.info(name).shape
    cut = Shrinking(data, cut=True)
    reader = reader_class(cut)
    cut.shrunk = True
    last = list(reader)[-1]  # its bytes reach the end of the file
    for read in (lambda: reader.read(last), lambda: reader.read(last, verify=False),
                 lambda: reader.read_rows(last, 0, reader.info(last).shape[0])):
        error = expect("FILE_CHANGED", read)
        assert "changed since it was opened" in error.message
    reports = {r["name"]: r["error"] and r["error"]["code"] for r in reader.verify()}
    assert reports[last] == ("FILE_CHANGED" if kind != "safetensors" else None)


def test_a_source_giving_more_bytes_or_no_bytes_is_refused():
    data = ndpack.dumps({"a": np.arange(10)})

    class Odd(Shrinking):
        answer = None

        def read(self, offset, length):
            return self.answer(self.data[offset : offset + length])

    source = Odd(data, cut=False)
    source.answer = bytes
    reader = ndpack.Reader(source)
    source.answer = lambda got: got + b"\0"
    expect("FILE_CHANGED", lambda: reader.read("a"))
    source.answer = lambda got: None
    expect("INVALID_ARGUMENT", lambda: reader.read("a"))
    source.answer = lambda got: np.frombuffer(got, np.uint8)  # a uint8 array is bytes too
    np.testing.assert_array_equal(reader.read("a"), np.arange(10))


@pytest.mark.parametrize("source", [object(), None, io.BytesIO(b"NDPACK"),
                                    type("S", (), {"size": -1, "read": lambda *a: b""})(),
                                    type("S", (), {"size": 1.5, "read": lambda *a: b""})(),
                                    type("S", (), {"size": True, "read": lambda *a: b""})(),
                                    type("S", (), {"size": 10})()])
def test_a_reader_of_something_else_than_a_source_is_INVALID_ARGUMENT(source):
    expect("INVALID_ARGUMENT", lambda: ndpack.Reader(source))


def test_open_of_something_else_than_a_path_or_url_is_INVALID_ARGUMENT(tmp_path):
    import fsspec

    ndpack.save(tmp_path / "a.ndp", {"a": np.arange(3)})
    for location in (io.BytesIO(ndpack.dumps({"a": np.arange(3)})), 12, None,
                     fsspec.open(f"file://{tmp_path / 'a.ndp'}")):
        error = expect("INVALID_ARGUMENT", lambda: ndpack.open(location))
        assert "path or URL" in error.message
    assert list(ndpack.open(os.fsencode(tmp_path / "a.ndp"))) == ["a"]  # a path as bytes


# --------------------------------------------------------------------------------------------------
# close(): a failed open closes the source, and a close that raises does not hide why opening failed
# (TypeScript: openSource's catch); close() twice closes the source once.
# --------------------------------------------------------------------------------------------------

class Junk:
    location = "junk"
    size = 100

    def __init__(self, close=None):
        self.closes = 0
        if close is not None:
            def closing():
                self.closes += 1
                close()
            self.close = closing

    def read(self, offset, length):
        return b"\7" * length


def fail_close():
    raise OSError("close failed")


@pytest.mark.parametrize("close", [lambda: None, fail_close], ids=["close", "close-raises"])
def test_a_failed_open_closes_its_source_and_its_reason_comes_out(close):
    source = Junk(close)
    expect("BAD_MAGIC", lambda: ndpack.Reader(source))
    assert source.closes == 1
    expect("BAD_MAGIC", lambda: ndpack.Reader(Junk()))  # a source without close()
    source = Junk(close)
    expect("INVALID_ARGUMENT", lambda: ndpack.Reader(source, verfy=True))  # an unknown option
    assert source.closes == 1


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts descriptors in /proc")
def test_errors_of_failed_opens_hold_no_file_descriptor(tmp_path):
    (tmp_path / "junk.ndp").write_bytes(b"\7" * 100)
    gc.collect()  # descriptors of earlier tests' sources closed now, not during the count
    before = len(os.listdir("/proc/self/fd"))
    errors = [expect("BAD_MAGIC", lambda: ndpack.open(tmp_path / "junk.ndp")) for _ in range(50)]
    assert len(os.listdir("/proc/self/fd")) - before <= 0  # was 50: each error held its file
    assert len(errors) == 50


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts descriptors in /proc")
def test_errors_of_failed_loads_hold_no_memory_map(tmp_path):
    (tmp_path / "junk.ndp").write_bytes(b"\7" * 100)
    ndpack.save(tmp_path / "damaged.ndp", {"x": np.arange(1000.0)})
    data = bytearray((tmp_path / "damaged.ndp").read_bytes())
    data[-100] ^= 1  # a payload byte: CHECKSUM with verify=True
    (tmp_path / "damaged.ndp").write_bytes(bytes(data))
    gc.collect()
    before = len(os.listdir("/proc/self/fd"))
    errors = [expect("BAD_MAGIC", lambda: ndpack.load(tmp_path / "junk.ndp")) for _ in range(20)]
    errors += [expect("CHECKSUM", lambda: ndpack.load(tmp_path / "damaged.ndp", verify=True))
               for _ in range(20)]
    # was 40: each error's traceback held views of its file's map, and the map its descriptor
    assert len(os.listdir("/proc/self/fd")) - before <= 0
    assert len(errors) == 40


@pytest.fixture
def closes_raise(monkeypatch):
    """Local sources whose close() closes the file, then raises."""
    closes = []

    def close(self, _close=_io.FileSource.close):
        _close(self)
        closes.append(self.location)
        raise OSError("close failed")
    monkeypatch.setattr(_io.FileSource, "close", close)
    return closes


def test_a_raising_close_does_not_hide_why_a_file_or_a_shard_failed_to_open(tmp_path,
                                                                            closes_raise):
    (tmp_path / "junk.ndp").write_bytes(b"\7" * 100)
    expect("BAD_MAGIC", lambda: ndpack.open(tmp_path / "junk.ndp"))
    assert closes_raise == [str(tmp_path / "junk.ndp")]
    index = tmp_path / "s.ndp.index.json"
    ndpack.save_set(index, {"a": np.zeros(100), "b": np.ones(100)}, max_shard_size=800)
    s = ndpack.open(index)
    with open(tmp_path / s.shard_of("b"), "ab") as fh:
        fh.write(b"\0" * 64)  # the shard's size is no longer the index's
    del closes_raise[:]
    expect("FILE_CHANGED", lambda: s.read("b"))
    assert closes_raise == [str(tmp_path / s.shard_of("b"))]


def test_close_twice_closes_the_source_once():
    source = Shrinking(ndpack.dumps({"a": np.arange(3)}), cut=False)
    reader = ndpack.Reader(source)
    reader.close()
    reader.close()
    assert reader.closed and source.closes == 1
    expect("CLOSED", lambda: reader.read("a"))
    with ndpack.Reader(source) as again:
        again.close()
    assert source.closes == 2


def test_verify_of_a_large_path_that_is_not_ndpack_fails_at_its_first_bytes_without_reading_it(tmp_path):
    # 2 GB, sparse, checked in a child whose private memory is capped at 256 MiB: reading the file
    # whole (as verify did) cannot fit, mapping it can.
    path = tmp_path / "big.bin"
    with open(path, "wb") as f:
        f.truncate(2_000_000_000)
    child = textwrap.dedent(f"""
        import resource, ndpack
        resource.setrlimit(resource.RLIMIT_DATA, (256 << 20, 256 << 20))
        print(ndpack.verify({str(path)!r})["error"]["code"])
    """)
    out = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "BAD_MAGIC"


def test_copy_true_from_a_source_giving_views_of_its_memory_is_a_copy():
    # Only the package's file sources read into memory of their own; another source's bytes may
    # be a view of its memory, which copy=True must not hand out.
    from ndpack._reader import Reader

    blob = np.frombuffer(bytearray(ndpack.dumps({"x": np.arange(8, dtype=np.uint8)})), np.uint8)

    class Memory:
        size, location = len(blob), "memory"

        def read(self, offset, length):
            return blob[offset:offset + length]

    a = Reader(Memory()).read("x", copy=True)
    assert not np.shares_memory(a, blob)
    a[:] = 99
    assert list(Reader(Memory()).read("x")) == list(range(8))


def test_a_set_reader_dropped_without_close_gives_its_shard_files_back(tmp_path):
    index = str(tmp_path / "model.ndp.index.json")
    ndpack.save_set(index, {f"a{i}": np.full(2048, i, np.float32) for i in range(8)},
                    max_shard_size=8192)
    gc.collect()
    before = len(os.listdir("/proc/self/fd"))
    gc.disable()  # the pool and its files refer to each other: nothing but the finalizer frees them
    try:
        for _ in range(3):
            s = ndpack.open(index)
            assert [float(s[name][0]) for name in s] == [float(i) for i in range(8)]
            del s
        assert len(os.listdir("/proc/self/fd")) <= before
    finally:
        gc.enable()
