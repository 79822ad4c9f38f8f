"""``Reader.map_rows`` and ``payload_crc32(..., mapped=True)``: rows of a local file as read-only
views of one memory map of it, no copy (what ``ndpack.dask``'s ``mmap=True`` hands out). The
same rows as ``read_rows``, for every format; the map is made once and outlives the reader while a
view holds it; a file changed since it was opened is FILE_CHANGED at the call, never a view of
pages past a truncated end; anything that cannot be mapped is INVALID_ARGUMENT."""

from __future__ import annotations

import gc
import os
import zlib

import numpy as np
import pytest
from safetensors.numpy import save_file

import ndpack
from ndpack._reader import Reader
from expectations import expect

ARRAYS = {
    "x": np.random.default_rng(7).standard_normal((301, 5)).astype("f4"),
    "big": np.arange(40, dtype=">i4"),  # another byte order: a view of non-native numbers
    "bf": np.arange(12, dtype="u2").reshape(3, 4),
}


def write(folder, kind: str):
    """ARRAYS (those the format holds) in a file of ``kind``; its path."""
    if kind == "ndp":
        path = folder / "a.ndp"
        ndpack.save(path, ARRAYS)
    elif kind == "ndp-big-endian":
        path = folder / "b.ndp"
        ndpack.save(path, ARRAYS, byte_order="big")
    elif kind == "npy":
        path = folder / "x.npy"
        np.save(path, ARRAYS["x"])
    elif kind == "npz":
        path = folder / "a.npz"
        np.savez(path, **ARRAYS)
    else:
        path = folder / "a.safetensors"
        save_file({n: a.astype(a.dtype.newbyteorder("<")) for n, a in ARRAYS.items()}, str(path))
    return path


@pytest.mark.parametrize("kind", ["ndp", "ndp-big-endian", "npy", "npz", "safetensors"])
def test_map_rows_gives_read_rows_rows_as_read_only_views_of_one_map(tmp_path, kind):
    with ndpack.open(write(tmp_path, kind)) as reader:
        for name in reader:
            rows = reader.info(name).shape[0]
            whole = reader.map_rows(name)
            for start, stop in [(None, None), (0, 1), (3, 3), (rows - 1, None), (-2, None),
                                (2, rows + 10), (5, 2)]:
                view = reader.map_rows(name, start, stop)
                expected = reader.read_rows(name, start, stop)
                assert view.dtype == expected.dtype and view.shape == expected.shape
                np.testing.assert_array_equal(view, expected)
                assert not view.flags.writeable
                # Not a copy: the memory of the map every call shares.
                assert view.size == 0 or np.shares_memory(view, whole)


def test_the_map_outlives_the_reader_while_a_view_holds_it(tmp_path):
    path = write(tmp_path, "ndp")
    reader = ndpack.open(path)
    view = reader.map_rows("x", 100, 200)
    reader.close()
    np.testing.assert_array_equal(view, ARRAYS["x"][100:200])  # not unmapped under the view
    expect("CLOSED", lambda: reader.map_rows("x"))


def test_payload_crc32_of_the_map_is_the_crc32_of_the_payload(tmp_path):
    path = write(tmp_path, "ndp")
    with ndpack.open(path) as reader:
        e = reader.info("x")
        stored = ARRAYS["x"].tobytes()
        for start, stop in [(0, e.byte_length), (0, 0), (17, 4000), (e.byte_length - 3,
                                                                      e.byte_length)]:
            assert reader.payload_crc32("x", start, stop, mapped=True) == \
                zlib.crc32(stored[start:stop]) == reader.payload_crc32("x", start, stop)
        expect("INVALID_ARGUMENT",
               lambda: reader.payload_crc32("x", 0, e.byte_length + 1, mapped=True))


def test_a_file_truncated_since_it_was_opened_is_FILE_CHANGED_not_a_view_past_its_end(tmp_path):
    path = write(tmp_path, "ndp")
    for mapped_first in (False, True):
        reader = ndpack.open(path)
        if mapped_first:  # the map made before the file shrank: no view of it is handed out
            reader.map_rows("x", 0, 1)
        os.truncate(path, os.path.getsize(path) // 2)
        expect("FILE_CHANGED", lambda: reader.map_rows("x", 250, 300))
        expect("FILE_CHANGED", lambda: reader.payload_crc32("x", 0, 100, mapped=True))
        reader.close()
        path = write(tmp_path, "ndp")


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts descriptors in /proc")
def test_a_FILE_CHANGED_error_of_a_map_holds_no_map_once_the_reader_is_closed(tmp_path):
    path = write(tmp_path, "ndp")
    gc.collect()  # descriptors of earlier tests' sources closed now, not during the count
    before = len(os.listdir("/proc/self/fd"))
    reader = ndpack.open(path)
    reader.map_rows("x", 0, 1)  # the map is made, its view dropped
    os.truncate(path, os.path.getsize(path) // 2)
    error = expect("FILE_CHANGED", lambda: reader.map_rows("x", 250, 300))
    reader.close()
    # was 1 while the error lived: its traceback held a view of the map, the map a descriptor
    assert len(os.listdir("/proc/self/fd")) - before <= 0
    assert error.code == "FILE_CHANGED"


def test_a_file_rewritten_in_place_is_FILE_CHANGED(tmp_path):
    path = write(tmp_path, "ndp")
    reader = ndpack.open(path)
    reader.map_rows("x", 0, 1)
    data = bytearray(path.read_bytes())
    data[reader.info("x").start] ^= 1
    path.write_bytes(bytes(data))  # same inode, same size, a later modification time
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    expect("FILE_CHANGED", lambda: reader.map_rows("x"))


def test_what_cannot_be_mapped_is_INVALID_ARGUMENT(tmp_path):
    ndpack.save(tmp_path / "z.ndp", {"z": np.zeros((10, 3))}, codec="deflate")
    ndpack.save(tmp_path / "c.ndp", {"f": np.asfortranarray(np.ones((4, 3))), "s": np.float64(1.5),
                                     "c": np.ones((4, 3))})
    for file, name in [("z.ndp", "z"), ("c.ndp", "f"), ("c.ndp", "s")]:  # compressed, F, no rows
        with ndpack.open(tmp_path / file) as reader:
            assert reader.info(name).codec != "none" or reader.info(name).order == "F" \
                or reader.info(name).shape == ()
            assert expect("INVALID_ARGUMENT", lambda: reader.map_rows(name)).array == name
    with ndpack.open(tmp_path / "c.ndp") as reader:
        for bound in (1.0, "1", True):
            expect("INVALID_ARGUMENT", lambda: reader.map_rows("c", bound))
        expect("NOT_FOUND", lambda: reader.map_rows("nope"))
    np.savez_compressed(tmp_path / "d.npz", d=np.ones((5, 2)))
    with ndpack.open(tmp_path / "d.npz") as reader:  # a deflated member
        expect("INVALID_ARGUMENT", lambda: reader.map_rows("d"))
    # A source of the caller's (bytes in memory here) is no local file.
    data = ndpack.dumps({"x": np.ones((4, 2))})

    class Memory:
        size = len(data)

        def read(self, offset, length):
            return data[offset : offset + length]

    with Reader(Memory()) as reader:
        message = str(expect("INVALID_ARGUMENT", lambda: reader.map_rows("x")))
        assert "local file" in message
        expect("INVALID_ARGUMENT", lambda: reader.payload_crc32("x", 0, 8, mapped=True))


def test_a_sets_rows_are_mapped_from_their_shard(tmp_path):
    index = tmp_path / "s.ndp.index.json"
    ndpack.save_set(index, ARRAYS, max_shard_size=4000)
    with ndpack.open(index) as s:
        assert len(s.shards) > 1
        for name in s:
            np.testing.assert_array_equal(s.map_rows(name, 1, 3), ARRAYS[name][1:3])
            assert not s.map_rows(name).flags.writeable


def test_an_empty_array_of_an_empty_file_region_maps_to_nothing(tmp_path):
    path = tmp_path / "e.ndp"
    ndpack.save(path, {"e": np.zeros((0, 4), "f4")})
    with ndpack.open(path) as reader:
        view = reader.map_rows("e")
        assert view.shape == (0, 4) and view.dtype == np.float32 and not view.flags.writeable


@pytest.mark.parametrize("mapped_first", [False, True])
def test_a_reader_closed_during_map_rows_is_CLOSED_never_another_files_map(tmp_path, mapped_first):
    # The descriptor closed meanwhile is reused at once by the next file opened (the lowest free
    # number): a map or an fstat of it would be that other file's, FILE_CHANGED at best.
    path, other = write(tmp_path, "ndp"), tmp_path / "other"
    other.write_bytes(bytes(2 * os.path.getsize(path)))
    reader = ndpack.open(path)
    if mapped_first:
        reader.map_rows("x", 0, 1)
    source, opened = reader._source, []
    lock = source._map_lock

    class ClosingFirst:
        """The map's lock, the reader closed (as by another thread) just before it is taken."""

        def __enter__(self):
            if not opened:
                opened.append(None)  # first: ``close`` takes this lock too
                reader.close()
                opened.append(os.open(other, os.O_RDONLY))
            return lock.__enter__()

        def __exit__(self, *exc):
            return lock.__exit__(*exc)

    source._map_lock = ClosingFirst()
    try:
        expect("CLOSED", lambda: reader.map_rows("x", 0, 10))
        expect("CLOSED", lambda: reader.payload_crc32("x", 0, 8, mapped=True))
        assert source._mapped is None
    finally:
        os.close(opened[1])
