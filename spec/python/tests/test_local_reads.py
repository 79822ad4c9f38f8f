"""The lazy reader of a local file (``ndpack.open``, and every reader built on it: a set's shards,
``ndpack.dask.from_ndpack``, the xarray backend) reads with positioned reads into memory of its own
and checks the file's identity after every read, as TypeScript's (src/node/file-source.ts): a file
truncated, or rewritten in place, since it was opened is FILE_CHANGED, never a SIGBUS (the process
killed) nor the new bytes under a CRC-32 checked before. ``ndpack.load`` stays a memory map, and
``Reader.map_rows`` (``from_ndpack(..., mmap=True)``) asks for one: tests/test_mapped_reads.py."""

from __future__ import annotations

import mmap
import os
import subprocess
import sys
import textwrap
import tracemalloc
import zlib

import numpy as np
import pytest

import ndpack
from ndpack import NdpackError, _io, _reader


def rewrite_in_place(path, arrays) -> None:
    """Writes ``dumps(arrays)`` over the bytes of ``path`` (same inode, same size, as a writer that
    truncates and rewrites in place), its modification time moved on even where the file system's
    clock is coarse."""
    before = os.stat(path)
    data = ndpack.dumps(arrays)
    assert len(data) == before.st_size
    with open(path, "r+b") as fh:
        fh.write(data)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 10**9))


def expect_changed(call) -> NdpackError:
    with pytest.raises(NdpackError) as info:
        call()
    assert info.value.code == "FILE_CHANGED", info.value
    return info.value


def test_a_file_truncated_after_open_is_FILE_CHANGED_not_a_SIGBUS(tmp_path):
    # In a child: a read of a truncated memory map kills the process (SIGBUS) before the fix.
    path = tmp_path / "t.ndp"
    ndpack.save(path, {"w": np.arange(1 << 20, dtype="f8")})  # 8 MiB
    script = textwrap.dedent("""
        import os, sys, ndpack
        r = ndpack.open(sys.argv[1])
        os.truncate(sys.argv[1], 4096)
        for read in (lambda: r.read("w"), lambda: r.read("w", verify=False),
                     lambda: r.read_rows("w", 1000, 2000), lambda: r.payload_crc32("w", 0, 8 << 20)):
            try:
                read()
                print("read")
            except ndpack.NdpackError as ex:
                print(ex.code)
    """)
    done = subprocess.run([sys.executable, "-c", script, str(path)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout.split()) == (0, ["FILE_CHANGED"] * 4), done.stderr


def test_a_file_rewritten_in_place_after_open_is_FILE_CHANGED_not_its_new_bytes(tmp_path):
    path = tmp_path / "a.ndp"
    ndpack.save(path, {"w": np.zeros((100, 4)), "v": np.zeros(7)})
    r = ndpack.open(path)
    np.testing.assert_array_equal(r.read("v"), np.zeros(7))
    rewrite_in_place(path, {"w": np.ones((100, 4)), "v": np.ones(7)})
    for read in (lambda: r.read("w"), lambda: r.read("w", verify=False),
                 lambda: r.read_rows("w", 0, 3), lambda: r["v"],
                 lambda: r.payload_crc32("w", 0, 3200)):
        assert str(path) in expect_changed(read).message
    assert [report["error"]["code"] for report in r.verify()] == ["FILE_CHANGED"] * 2


def test_a_file_rewritten_in_place_between_the_pieces_of_a_crc32_is_FILE_CHANGED(
        tmp_path, monkeypatch):
    # A local file's CRC-32 reads piece after piece and checks the file's identity once, after
    # the last: a rewrite after the first piece is seen there.
    monkeypatch.setattr(_io, "CRC_PIECE", 1024)
    path = tmp_path / "p.ndp"
    ndpack.save(path, {"w": np.zeros(1000)})  # 8,000 bytes: 8 pieces
    r = ndpack.open(path)
    source, first = r._source, []
    fill = type(source)._fill

    def fill_then_rewrite(self, out, offset, check_identity=True):
        fill(self, out, offset, check_identity)
        if not first:
            first.append(offset)
            rewrite_in_place(path, {"w": np.ones(1000)})
    monkeypatch.setattr(type(source), "_fill", fill_then_rewrite)
    expect_changed(lambda: r.payload_crc32("w", 0, 8000))
    assert first  # the rewrite came after the first piece


def test_a_file_replaced_by_rename_after_open_reads_as_it_was(tmp_path):
    # As TypeScript's: the file opened keeps its bytes when another is renamed over its name (its
    # link count changed, so its ctime may move); a new open reads the new file.
    path = tmp_path / "a.ndp"
    ndpack.save(path, {"w": np.zeros(5)})
    r = ndpack.open(path)
    ndpack.save(path, {"w": np.ones(5)})
    np.testing.assert_array_equal(r.read("w"), np.zeros(5))
    np.testing.assert_array_equal(ndpack.open(path).read("w"), np.ones(5))


def test_arrays_read_are_in_memory_of_their_own_never_a_view_of_a_map(tmp_path):
    path = tmp_path / "a.ndp"
    ndpack.save(path, {"w": np.arange(12.0).reshape(3, 4)})
    with ndpack.open(path) as r:
        arrays = [r.read("w"), r.read("w", verify=False), r.read_rows("w", 1, 3),
                  r.read("w", copy=False)]
    for a in arrays:
        base = a
        while base is not None:
            assert not isinstance(base, mmap.mmap)
            base = getattr(base, "base", None) if not isinstance(base, memoryview) else base.obj
    np.testing.assert_array_equal(arrays[2], np.arange(4.0, 12.0).reshape(2, 4))
    assert ndpack.load(path)["w"].base is not None  # load: still a view of its map


def test_a_set_shard_rewritten_in_place_while_open_is_FILE_CHANGED(tmp_path):
    index = tmp_path / "s.ndp.index.json"
    ndpack.save_set(index, {"a": np.zeros(100), "b": np.zeros(100)}, max_shard_size=800)
    s = ndpack.open(index)
    np.testing.assert_array_equal(s["a"], np.zeros(100))  # the shard is open
    rewrite_in_place(tmp_path / s.shard_of("a"), {"a": np.ones(100)})
    for read in (lambda: s.read("a"), lambda: s.read("a", verify=False),
                 lambda: s.read_rows("a", 0, 5)):
        expect_changed(read)
    reports = {r["name"]: r["error"] and r["error"]["code"] for r in s.verify()}
    assert reports == {"a": "FILE_CHANGED", "b": None}


@pytest.mark.parametrize("verify", [True, False])
def test_a_dask_graph_over_a_file_rewritten_in_place_since_is_FILE_CHANGED_with_threads(
        tmp_path, verify):
    from ndpack.dask import from_ndpack

    path = tmp_path / "d.ndp"
    ndpack.save(path, {"w": np.zeros(1000)})
    x = from_ndpack(str(path), "w", chunks=100, verify=verify)
    rewrite_in_place(path, {"w": np.ones(1000)})
    expect_changed(lambda: x.sum().compute(scheduler="threads"))


def test_bytes_changed_after_the_crc_tasks_ran_are_FILE_CHANGED_not_numbers(tmp_path):
    from dask.callbacks import Callback

    from ndpack.dask import from_ndpack

    path = tmp_path / "r.ndp"
    ndpack.save(path, {"w": np.zeros(1000)})
    x = from_ndpack(str(path), "w", chunks=100)  # verify=True: CRC tasks first
    start = ndpack.open(path).info("w").start
    changed = []

    class ChangeBeforeTheFirstChunk(Callback):
        def _pretask(self, key, dsk, state):
            if not changed and isinstance(key, tuple) and key[0].startswith("ndpack-w-"):
                before = os.stat(path)
                with open(path, "r+b") as fh:  # another process writes 8 bytes in place
                    fh.seek(start)
                    fh.write(np.float64(1e9).tobytes())
                os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 10**9))
                changed.append(key)

    with ChangeBeforeTheFirstChunk():
        expect_changed(lambda: x.sum().compute(scheduler="sync"))
    assert changed


def test_an_xarray_dataset_over_a_file_rewritten_in_place_since_is_FILE_CHANGED(tmp_path):
    xr = pytest.importorskip("xarray")
    path = tmp_path / "x.ndp"
    ndpack.save(path, {"t": np.zeros((10, 3))})
    with xr.open_dataset(path, engine="ndpack") as ds:
        rewrite_in_place(path, {"t": np.ones((10, 3))})
        expect_changed(lambda: ds["t"][2:4].values)


def test_a_directory_is_INVALID_ARGUMENT_and_a_fifo_does_not_hang(tmp_path):
    with pytest.raises(NdpackError) as info:
        ndpack.open(tmp_path)
    assert info.value.code == "INVALID_ARGUMENT"
    if not hasattr(os, "mkfifo"):
        return
    fifo = tmp_path / "pipe.ndp"
    os.mkfifo(fifo)
    script = "import sys, ndpack\ntry:\n ndpack.open(sys.argv[1])\nexcept ndpack.NdpackError " \
             "as ex:\n print(ex.code)"
    done = subprocess.run([sys.executable, "-c", script, str(fifo)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["INVALID_ARGUMENT"], done.stderr


@pytest.mark.parametrize("checksum", ["crc32", "none"])
def test_verify_reads_a_long_record_in_pieces_and_finds_damage_in_any_of_them(
        tmp_path, monkeypatch, checksum):
    # Verifying holds one piece in memory, never a whole array: a record of 10 pieces and a bit.
    monkeypatch.setattr(_reader, "VERIFY_PIECE", 64)
    path = tmp_path / "v.ndp"
    ndpack.save(path, {"a": np.arange(83, dtype="f8"), "b": np.arange(3, dtype="u1")},
                checksum=checksum)
    assert all(report["ok"] for report in ndpack.open(path).verify())
    start = ndpack.open(path).info("a").start
    expected = "CHECKSUM" if checksum == "crc32" else None
    for at in (start, start + 64, start + 639, start + 640, start + 663):
        data = bytearray(path.read_bytes())
        data[at] ^= 1
        damaged = tmp_path / "d.ndp"
        damaged.write_bytes(bytes(data))
        reports = ndpack.open(damaged).verify()
        assert [r["error"] and r["error"]["code"] for r in reports] == [expected, None], at
    data = bytearray(path.read_bytes())
    data[start + 664 + (4 if checksum == "crc32" else 0)] = 1  # the padding after a's record
    damaged.write_bytes(bytes(data))
    assert ndpack.open(damaged).verify()[0]["error"]["code"] == "BAD_PADDING"


@pytest.mark.parametrize("piece", [64, 1 << 20])
def test_a_local_files_crc32_is_computed_in_pieces_of_memory_reused_not_fresh_per_range(
        tmp_path, monkeypatch, piece):
    # ndpack.dask checks a record from its chunks' CRC-32s and verify() reads a record in parts:
    # the bytes are not handed out, so a local file's are read into one buffer per thread, never
    # into fresh memory the size of the range (which cost more than the CRC-32 itself).
    monkeypatch.setattr(_io, "CRC_PIECE", piece)
    path = tmp_path / "c.ndp"
    data = np.random.default_rng(5).integers(0, 256, 5 << 20, dtype=np.uint8)  # 5 MiB
    ndpack.save(path, {"x": data})
    with ndpack.open(path) as r:
        for start, stop in ((0, 0), (0, 1), (3, 64), (63, 65), (0, 128 + 5), (1000, 5 << 20),
                            (0, 5 << 20)):
            assert r.payload_crc32("x", start, stop) == zlib.crc32(data[start:stop]), (start, stop)
        r.payload_crc32("x", 0, 1)  # this thread's buffer made
        tracemalloc.start()
        try:
            assert r.payload_crc32("x", 0, 5 << 20) == zlib.crc32(data)
            crc_peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.reset_peak()
            assert r.verify()[0]["ok"]  # the last piece is read with the CRC after it
            verify_peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert crc_peak < (1 << 20), crc_peak  # the range is 5 MiB
    assert verify_peak < (2 << 20), verify_peak  # its last piece at most (1 MiB), not 5 MiB


def test_payload_crc32_of_bytes_outside_the_payload_is_INVALID_ARGUMENT(tmp_path):
    path = tmp_path / "b.ndp"
    ndpack.save(path, {"a": np.arange(4, dtype="u1"), "b": np.arange(4, dtype="u1")})
    with ndpack.open(path) as r:
        assert r.payload_crc32("a", 0, 4) == zlib.crc32(bytes(range(4)))
        for start, stop in ((0, 5), (-1, 2), (3, 2), (0, 4.0), (True, 2)):
            with pytest.raises(NdpackError) as info:
                r.payload_crc32("a", start, stop)
            assert (info.value.code, info.value.array) == ("INVALID_ARGUMENT", "a"), (start, stop)
