"""ndpack.dask with Dask's threaded and multiprocessing schedulers: results equal numpy's, a corrupt
chunk fails with CHECKSUM, memory stays bounded over a set larger than the memory allowed, and
to_ndpack writes each block where it is computed, at its place in the file."""

from __future__ import annotations

import gc
import io
import json
import multiprocessing
import os
import pickle
import subprocess
import sys
import textwrap
import threading
import tracemalloc
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import dask
import dask.array as da
import numpy as np
from dask.delayed import Delayed
import pytest

import ndpack
import ndpack.dask as nd
from ndpack import NdpackError, _reader
from ndpack._formats import open_file
from ndpack._reader import FIRST_READ, Reader

SCHEDULERS = ["threads", "processes"]
MiB = 1 << 20


@pytest.fixture(scope="module")
def process_pool():
    """One pool of worker processes (spawned, as Dask's multiprocessing scheduler does) for the
    module, instead of a new pool per compute()."""
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        yield pool


@pytest.fixture
def run(request, process_pool):
    """compute() options for the scheduler named by the test's ``scheduler`` parameter."""
    scheduler = request.node.callspec.params["scheduler"]
    if scheduler == "processes":
        return {"scheduler": "processes", "pool": process_pool}
    return {"scheduler": scheduler}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A file and a set holding the same arrays (odd sizes, so chunks are uneven)."""
    folder = tmp_path_factory.mktemp("dask")
    rng = np.random.default_rng(3)
    arrays = {
        "x": rng.standard_normal((1001, 17)).astype("f4"),
        "ids": np.arange(777, dtype="i8"),
        "cube": rng.integers(0, 100, (30, 4, 5), dtype="u2"),
    }
    ndpack.save(folder / "file.ndp", arrays)
    ndpack.save_set(folder / "set.ndp.index.json", arrays, max_shard_size=40_000)
    return folder, arrays


@pytest.mark.parametrize("scheduler", SCHEDULERS)
@pytest.mark.parametrize("which", ["file.ndp", "set.ndp.index.json"])
def test_results_equal_numpys(data, scheduler, which, run):
    folder, arrays = data
    xs = nd.from_ndpack(str(folder / which), chunks=100)
    assert set(xs) == set(arrays)
    x = xs["x"]
    assert x.chunks[0] == (100,) * 10 + (1,) and x.dtype == np.float32
    got = dask.compute(x.sum(axis=0), (x * 2 - 1).mean(), xs["ids"][::7], xs["cube"].max(axis=0),
                       x[250:260], **run)
    a = arrays["x"]
    np.testing.assert_allclose(got[0], a.sum(axis=0), rtol=1e-5)
    np.testing.assert_allclose(got[1], (a * 2 - 1).mean(), rtol=1e-5)
    np.testing.assert_array_equal(got[2], arrays["ids"][::7])
    np.testing.assert_array_equal(got[3], arrays["cube"].max(axis=0))
    np.testing.assert_array_equal(got[4], a[250:260])


def test_a_sets_arrays_are_read_from_their_shards(data):
    folder, arrays = data
    s = ndpack.open(folder / "set.ndp.index.json")
    assert len({s.shard_of(n) for n in arrays}) >= 2
    x = nd.from_ndpack(s, "x", chunks=((500, 501), -1))
    assert x.chunks[0] == (500, 501)
    files = {task[1].location for task in dict(x.__dask_graph__()).values() if isinstance(task, tuple)}
    assert files == {str(folder / s.shard_of("x"))}
    np.testing.assert_array_equal(x.compute(), arrays["x"])


@pytest.mark.parametrize("scheduler", SCHEDULERS)
def test_from_ndpack_of_a_reader_keeps_its_raw_bits_and_limits_in_every_process(
        tmp_path, scheduler, run):
    ml_dtypes = pytest.importorskip("ml_dtypes")
    w = np.arange(8, dtype="f4").astype(ml_dtypes.bfloat16).reshape(4, 2)
    ndpack.save(tmp_path / "bf.ndp", {"w": w})
    x = nd.from_ndpack(ndpack.open(tmp_path / "bf.ndp", raw_bits=True), "w", chunks=2)
    got = x.compute(**run)
    assert x.dtype == got.dtype == np.uint16
    np.testing.assert_array_equal(got, w.view(np.uint16))
    # A limit given to the reader holds in every process: 6 float64 (48 bytes) deflated, read
    # with max_decoded_bytes 32 (writers refuse to write a file above a default limit).
    ndpack.save(tmp_path / "z.ndp", {"z": np.zeros(6)}, codec="deflate")
    assert ndpack.open(tmp_path / "z.ndp").info("z").codec == "deflate"
    y = nd.from_ndpack(ndpack.open(tmp_path / "z.ndp", max_decoded_bytes=32), "z", chunks=3)
    with pytest.raises(NdpackError) as refused:
        y.sum().compute(**run)
    assert refused.value.code == "LIMIT_EXCEEDED"
    z = nd.from_ndpack(ndpack.open(tmp_path / "z.ndp", max_decoded_bytes=48), "z", chunks=3)
    assert z.sum().compute(**run) == 0.0


@pytest.mark.parametrize("scheduler", SCHEDULERS)
def test_from_ndpack_of_a_safetensors_set_reads_its_shards_in_every_process_not_BAD_MAGIC(
        tmp_path, scheduler, run):
    from safetensors.numpy import save_file
    save_file({"w": np.arange(12, dtype="f4").reshape(4, 3)}, str(tmp_path / "m-1.safetensors"))
    (tmp_path / "m.safetensors.index.json").write_text(
        json.dumps({"weight_map": {"w": "m-1.safetensors"}}))
    x = nd.from_ndpack(str(tmp_path / "m.safetensors.index.json"), "w", chunks=2)
    np.testing.assert_array_equal(x.compute(**run), np.arange(12, dtype="f4").reshape(4, 3))


def test_from_ndpack_of_a_reader_with_options_of_its_own_is_INVALID_ARGUMENT(data):
    folder, _ = data
    with ndpack.open(folder / "file.ndp") as r:
        for options in ({"raw_bits": True}, {"max_name_bytes": 10}, {"storage_options": {}}):
            with pytest.raises(NdpackError) as info:
                nd.from_ndpack(r, "x", **options)
            assert info.value.code == "INVALID_ARGUMENT"


def test_from_ndpack_of_a_reader_closed_since_reopens_the_file(data):
    folder, arrays = data
    with ndpack.open(folder / "file.ndp") as r:
        x = nd.from_ndpack(r, "ids", chunks=100)
    np.testing.assert_array_equal(x.compute(scheduler="threads"), arrays["ids"])


@pytest.mark.parametrize("chunks, expected", [
    (300, (300, 300, 300, 101)),
    ("17000B", (250, 250, 250, 250, 1)),  # rows of 17 float32: 68 bytes
    # Explicit row counts: ((1000, 1), (1000, 1)) took them before, where Dask reads a tuple per
    # axis (so it is INVALID_ARGUMENT now: the second does not add up to the 17 columns).
    (((1000, 1), -1), (1000, 1)),
    (((1000, 1),), (1000, 1)),
    # numpy's integers, as Dask takes them: INVALID_ARGUMENT before
    (np.int64(300), (300, 300, 300, 101)),
    ((tuple(np.diff([0, 400, 1001])),), (400, 601)),
])
def test_chunks_are_rows_bytes_or_explicit_rows(data, chunks, expected):
    folder, _ = data
    got = nd.from_ndpack(str(folder / "file.ndp"), "x", chunks=chunks).chunks[0]
    assert got == expected and all(type(rows) is int for rows in got)


#: Dask's forms of chunks (``da.from_array``'s), by array of the ``data`` fixture ("ids": 777 rows;
#: "x": 1001 rows of 17; "cube": 30 of 4 x 5), with the first axis's rows each gives, and whether
#: that is Dask's meaning (so ``da.from_array`` gives the same blocks): each was INVALID_ARGUMENT
#: before, or (a tuple of ints on more than one axis) misread as row counts.
DASK_FORMS = [
    ("ids", -1, (777,), True),
    ("ids", None, (777,), False),  # Dask refuses None for the whole array; a per-axis None is whole
    ("ids", {0: 100}, (100,) * 7 + (77,), True),
    ("ids", (100,), (100,) * 7 + (77,), True),  # one axis, one entry: its block size
    ("ids", [700, 77], (700, 77), True),  # a list of ints on one axis: each chunk's rows
    ("ids", ((700, 77),), (700, 77), True),
    ("ids", ("1KiB",), (128,) * 6 + (9,), False),  # ndpack's: whole rows of 8 bytes in 1 KiB
    ("x", -1, (1001,), True),
    ("x", None, (1001,), False),
    ("x", {0: 300}, (300, 300, 300, 101), True),
    ("x", {0: 300, 1: -1}, (300, 300, 300, 101), True),
    ("x", {1: -1}, (1001,), True),  # an axis not in the dict is whole
    ("x", (300, -1), (300, 300, 300, 101), True),
    ("x", (300, None), (300, 300, 300, 101), True),
    ("x", (1000, 17), (1000, 1), True),  # blocks of 1000 rows x 17 columns: row counts before
    ("x", (1000, 100), (1000, 1), True),  # a block wider than the axis: the whole axis
    ("x", (np.int64(300), np.int64(-1)), (300, 300, 300, 101), True),
    ("x", (1000,), (1000, 1), False),  # fewer entries than axes: the others whole
    ("x", ("17000B", -1), (250, 250, 250, 250, 1), False),  # ndpack's: whole rows in 17000 bytes
    ("x", ("auto", "auto"), (1001,), True),  # 68 kB: one chunk, as Dask gives it
    ("x", ((400, 601), -1), (400, 601), True),
    ("x", ((400, 601), (17,)), (400, 601), True),
    ("x", ((400, 601), None), (400, 601), True),
    ("x", [[400, 601], [17]], (400, 601), True),
    ("x", {0: (400, 601)}, (400, 601), True),
    ("x", ((501, 500), (17,)), (501, 500), True),
    ("x", ((1001,), (17,)), (1001,), True),
    ("cube", (10, -1, -1), (10, 10, 10), True),
    ("cube", {0: 7}, (7, 7, 7, 7, 2), True),
    ("cube", ((10, 20), None, 5), (10, 20), True),
]


@pytest.mark.parametrize("name, chunks, expected, dasks_meaning", DASK_FORMS)
def test_dasks_forms_of_chunks_cut_the_first_axis_as_dask_does(data, name, chunks, expected,
                                                                dasks_meaning):
    folder, arrays = data
    lazy = nd.from_ndpack(str(folder / "file.ndp"), name, chunks=chunks)
    whole_axes = tuple((d,) for d in arrays[name].shape[1:])
    assert lazy.chunks == (expected,) + whole_axes
    assert all(type(rows) is int for rows in lazy.chunks[0])
    np.testing.assert_array_equal(lazy.compute(scheduler="threads"), arrays[name])
    if dasks_meaning:  # Dask itself is the oracle
        assert da.from_array(arrays[name], chunks=chunks).chunks == lazy.chunks


@pytest.mark.parametrize("chunks", [-1, None, {0: 5}, {1: -1}, ((0,),)])
def test_dasks_forms_of_chunks_of_an_array_of_no_rows_give_one_chunk_of_none(tmp_path, chunks):
    arrays = {"none": np.zeros((0, 3), "f4"), "none_1d": np.zeros(0, "i2")}
    ndpack.save(tmp_path / "e.ndp", arrays)
    for name, a in arrays.items():
        lazy = nd.from_ndpack(str(tmp_path / "e.ndp"), name, chunks=chunks)
        assert lazy.chunks == ((0,),) + tuple((d,) for d in a.shape[1:]), name
        assert lazy.compute(scheduler="threads").shape == a.shape


@pytest.mark.parametrize("chunks", [(5, -1), ((0,), -1), ((0,), None)])
def test_dasks_per_axis_forms_of_an_array_of_no_rows_give_one_chunk_of_none(tmp_path, chunks):
    ndpack.save(tmp_path / "e.ndp", {"none": np.zeros((0, 3), "f4")})
    lazy = nd.from_ndpack(str(tmp_path / "e.ndp"), "none", chunks=chunks)
    assert lazy.chunks == ((0,), (3,)) == da.from_array(np.zeros((0, 3), "f4"), chunks=chunks).chunks
    assert lazy.compute(scheduler="threads").shape == (0, 3)


def test_an_unknown_option_of_from_ndpack_is_INVALID_ARGUMENT(data):
    folder, _ = data
    with pytest.raises(NdpackError) as info:
        nd.from_ndpack(str(folder / "file.ndp"), "x", chunk=100)
    assert info.value.code == "INVALID_ARGUMENT" and "did you mean 'chunks'?" in info.value.message


def test_a_name_not_in_the_file_is_NOT_FOUND_when_the_graph_is_built(data):
    folder, _ = data
    with pytest.raises(NdpackError) as info:
        nd.from_ndpack(str(folder / "file.ndp"), "nope")
    assert info.value.code == "NOT_FOUND"


@pytest.mark.parametrize("name, chunks", [("x", ((5, 5),)), ("x", ((400, 600), -1)),
                                          ("ids", (5, 5)), ("ids", [700, 78])])
def test_chunks_that_do_not_add_up_are_INVALID_ARGUMENT(data, name, chunks):
    folder, _ = data
    with pytest.raises(NdpackError) as info:
        nd.from_ndpack(str(folder / "file.ndp"), name, chunks=chunks)
    assert info.value.code == "INVALID_ARGUMENT" and "add up" in info.value.message


@pytest.mark.parametrize("scheduler", SCHEDULERS)
def test_a_corrupt_chunk_fails_the_computation_with_CHECKSUM(tmp_path, scheduler, run):
    x = np.arange(100_000, dtype="f8").reshape(1000, 100)
    path = tmp_path / "c.ndp"
    ndpack.save(path, {"x": x, "y": np.ones(10)})
    data = bytearray(path.read_bytes())
    data[ndpack.open(path).info("x").start + 8 * 100 * 612 + 3] ^= 0x10  # inside chunk 6 of 10
    path.write_bytes(bytes(data))
    lazy = nd.from_ndpack(str(path), "x", chunks=100)
    with pytest.raises(NdpackError) as info:
        lazy.sum().compute(**run)
    assert (info.value.code, info.value.array) == ("CHECKSUM", "x")
    with pytest.raises(NdpackError):
        lazy[:100].compute(**run)  # a clean chunk of a corrupt array: not handed on
    # What verification prevents: verify=False returns the damaged numbers.
    assert nd.from_ndpack(str(path), "x", chunks=100, verify=False).sum().compute() != x.sum()
    assert nd.from_ndpack(str(path), "y").sum().compute(**run) == 10


def _chunks_own_their_memory(x: da.Array) -> bool:
    """Whether any chunk handed to the computation is writable or owns its memory (a read's own
    copy), rather than a read-only view of a memory map."""
    return bool(x.map_blocks(lambda b: np.full((1,) * b.ndim, b.flags.writeable or b.flags.owndata),
                             dtype=bool, chunks=(1,) * x.ndim).any().compute())


@pytest.mark.parametrize("scheduler", SCHEDULERS)
@pytest.mark.parametrize("which", ["file.ndp", "set.ndp.index.json"])
def test_mmap_hands_out_views_of_the_map_with_numpys_results(data, scheduler, which, run):
    folder, arrays = data
    xs = nd.from_ndpack(str(folder / which), chunks=100, mmap=True)
    x = xs["x"]
    got = dask.compute(x.sum(axis=0), xs["ids"][::7], xs["cube"].max(axis=0), x[250:260], **run)
    np.testing.assert_allclose(got[0], arrays["x"].sum(axis=0), rtol=1e-5)
    np.testing.assert_array_equal(got[1], arrays["ids"][::7])
    np.testing.assert_array_equal(got[2], arrays["cube"].max(axis=0))
    np.testing.assert_array_equal(got[3], arrays["x"][250:260])
    assert not _chunks_own_their_memory(x) and not _chunks_own_their_memory(xs["cube"])
    assert _chunks_own_their_memory(nd.from_ndpack(str(folder / which), "x", chunks=100))


@pytest.mark.parametrize("kind", ["npy", "npz", "npz-deflated", "safetensors"])
def test_mmap_reads_every_format(tmp_path, kind):
    from safetensors.numpy import save_file

    x = np.random.default_rng(11).standard_normal((503, 7)).astype("f4")
    path = tmp_path / {"npy": "x.npy", "safetensors": "x.safetensors"}.get(kind, "x.npz")
    if kind == "npy":
        np.save(path, x)
    elif kind == "safetensors":
        save_file({"x": x}, str(path))
    else:
        (np.savez_compressed if kind == "npz-deflated" else np.savez)(path, x=x)
    (lazy,) = nd.from_ndpack(str(path), chunks=50, mmap=True).values()  # a .npy's is "array"
    np.testing.assert_array_equal(lazy.compute(scheduler="threads"), x)
    # A deflated member is one chunk, read whole into memory of its own, as without mmap.
    assert _chunks_own_their_memory(lazy) == (kind == "npz-deflated")


@pytest.mark.parametrize("scheduler", SCHEDULERS)
def test_with_mmap_a_corrupt_chunk_fails_the_computation_with_CHECKSUM(tmp_path, scheduler, run):
    x = np.arange(100_000, dtype="f8").reshape(1000, 100)
    for kind in ("c.ndp", "c.npz"):
        path = tmp_path / kind
        ndpack.save(path, {"x": x}) if kind == "c.ndp" else np.savez(path, x=x)
        data = bytearray(path.read_bytes())
        data[ndpack.open(path).info("x").start + 8 * 100 * 612 + 3] ^= 0x10  # inside chunk 6
        path.write_bytes(bytes(data))
        lazy = nd.from_ndpack(str(path), "x", chunks=100, mmap=True)
        for computation in (lazy.sum(), lazy[:100]):  # a clean chunk is not handed on either
            with pytest.raises(NdpackError) as info:
                computation.compute(**run)
            assert (info.value.code, info.value.array) == ("CHECKSUM", "x"), kind


def test_with_mmap_a_file_truncated_after_the_graph_was_built_is_FILE_CHANGED(tmp_path):
    # The process's reader mapped the file when the graph was built and computed once: the map
    # is not used past the file's new end (which would be SIGBUS, the process killed).
    path = tmp_path / "t.ndp"
    x = np.arange(200_000, dtype="f4").reshape(2000, 100)
    ndpack.save(path, {"x": x})
    lazy = nd.from_ndpack(str(path), "x", chunks=100, mmap=True)
    assert lazy.sum(dtype="f8").compute() == x.sum(dtype="f8")
    os.truncate(path, os.path.getsize(path) // 3)
    with pytest.raises(NdpackError) as info:
        lazy.sum().compute()
    assert info.value.code == "FILE_CHANGED"


def test_mmap_of_a_url_or_of_another_kind_is_INVALID_ARGUMENT(data, nginx):
    ndpack.save(nginx.root / "m.ndp", {"x": np.ones((10, 2))})
    with pytest.raises(NdpackError) as info:
        nd.from_ndpack(nginx.url("m.ndp"), "x", mmap=True)
    assert info.value.code == "INVALID_ARGUMENT" and "local file" in str(info.value)
    for value in (1, "yes", None):
        with pytest.raises(NdpackError) as info:
            nd.from_ndpack(str(data[0] / "file.ndp"), "x", mmap=value)
        assert info.value.code == "INVALID_ARGUMENT"


def test_damaged_padding_after_an_array_fails_the_computation_with_BAD_PADDING(tmp_path):
    # Section 9 step 22, as read and verify check it (the values themselves are intact).
    path = tmp_path / "p.ndp"
    ndpack.save(path, {"x": np.arange(1000, dtype="f4").reshape(100, 10), "y": np.ones(3)})
    reader = ndpack.open(path)
    e, following = reader.info("x"), reader.info("y")
    assert following.start > e.start + e.byte_length + 4  # padding after x's CRC-32
    data = bytearray(path.read_bytes())
    data[e.start + e.byte_length + 4] = 1
    path.write_bytes(bytes(data))
    for checksum_path, checksum in ((path, "crc32"), (tmp_path / "n.ndp", "none")):
        if checksum == "none":
            ndpack.save(checksum_path, {"x": np.arange(1000, dtype="f4").reshape(100, 10),
                                        "y": np.ones(3)}, checksum="none")
            data = bytearray(checksum_path.read_bytes())
            data[ndpack.open(checksum_path).info("x").start + e.byte_length] = 1
            checksum_path.write_bytes(bytes(data))
        with pytest.raises(NdpackError) as info:
            nd.from_ndpack(str(checksum_path), "x", chunks=10).sum().compute()
        assert (info.value.code, info.value.array) == ("BAD_PADDING", "x"), checksum
        assert nd.from_ndpack(str(checksum_path), "x", chunks=10, verify=False).sum().compute() \
            == np.arange(1000, dtype="f4").sum()
    with pytest.raises(NdpackError) as info:
        nd.from_ndpack(str(path), "x", verify=0)
    assert info.value.code == "INVALID_ARGUMENT"


def _bytes_read() -> int:
    """Bytes this process has read through system calls (page cache hits included)."""
    with open("/proc/self/io") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("rchar:"))


@pytest.mark.parametrize("optimized", [False, True])
def test_to_ndpack_reads_a_checked_array_once_for_its_crc(tmp_path, optimized):
    # The CRC-32 check, on which every chunk depends, reads the whole array once per
    # computation: to_ndpack is one (it computed window after window, each one dask.compute, and
    # kept the checks' results between them), a graph optimized beforehand too.
    x = np.arange(4 << 20, dtype="f4").reshape(1 << 12, 1 << 10)  # 16 MiB in rows of 4 KiB
    ndpack.save(tmp_path / "in.ndp", {"x": x})
    lazy = nd.from_ndpack(str(tmp_path / "in.ndp"), "x", chunks="512KiB")
    assert len(lazy.chunks[0]) == 32
    before = _bytes_read()
    y = dask.optimize(lazy + 1)[0] if optimized else lazy + 1
    nd.to_ndpack({"y": y}, str(tmp_path / "out.ndp"),
                 compute_options={"scheduler": "threads"})
    read = _bytes_read() - before
    assert read <= 2 * x.nbytes + (1 << 20), f"{read / x.nbytes:.1f} x the array's bytes read"
    np.testing.assert_array_equal(ndpack.open(tmp_path / "out.ndp").read("y"), x + 1)
    # Any other computation checks again, the same graph's too: a file rewritten since with its
    # identity kept (the same size within its clock's resolution, a server without validators)
    # has another CRC-32.
    before = _bytes_read()
    lazy.sum().compute(scheduler="threads")
    assert _bytes_read() - before >= 2 * x.nbytes


def test_crc32_combine_gives_the_crc_of_the_concatenation():
    import zlib

    rng = np.random.default_rng(0)
    for n1, n2 in [(0, 5), (5, 0), (1, 1), (1000, 4097), (65536, 3)]:
        a, b = rng.bytes(n1), rng.bytes(n2)
        assert nd.crc32_combine(zlib.crc32(a), zlib.crc32(b), n2) == zlib.crc32(a + b)


def test_from_ndpack_over_http_reads_each_byte_twice_and_the_header_once(nginx, monkeypatch):
    # verify() reads a URL's records in pieces; a chunk's CRC-32 is one request, as its values are.
    monkeypatch.setattr(_reader, "VERIFY_PIECE", 4096)
    x = np.random.default_rng(5).standard_normal((2000, 64)).astype("f4")
    ndpack.save(nginx.root / "d.ndp", {"x": x})
    nginx.clear()
    lazy = nd.from_ndpack(nginx.url("d.ndp"), "x", chunks=250)
    total = lazy.sum(dtype="f8").compute(scheduler="threads")
    assert total == pytest.approx(x.sum(dtype="f8"))
    # The header, every chunk for its CRC-32 and again for its values, and the stored CRC-32.
    assert nginx.transferred("d.ndp") == FIRST_READ + 2 * x.nbytes + 4
    gets = [row for row in nginx.lines() if row[0] == "GET" and row[1] == "/d.ndp"]
    assert len(gets) == 1 + 8 + 8 + 1, gets
    nginx.clear()
    lazy = nd.from_ndpack(nginx.url("d.ndp"), "x", chunks=250, verify=False)
    np.testing.assert_array_equal(lazy[1000:1250].compute(scheduler="threads"), x[1000:1250])
    assert nginx.transferred("d.ndp") == FIRST_READ + 250 * 64 * 4


def test_from_ndpack_of_a_url_replaced_since_a_first_graph_reads_the_new_file(nginx, replace_keeping_the_size):
    # Wrong data before: the cached reader's key was URL + options + size, so the second graph
    # (int32, from the new header) computed with the old float32 reader.
    path = nginx.root / "stale.ndp"
    ndpack.save(path, {"x": np.arange(1000, dtype="f4")})
    first = nd.from_ndpack(nginx.url("stale.ndp"), "x")
    np.testing.assert_array_equal(first.compute(scheduler="sync"), np.arange(1000, dtype="f4"))
    replace_keeping_the_size(path, {"x": np.arange(1000, dtype="i4")})
    second = nd.from_ndpack(nginx.url("stale.ndp"), "x")
    assert second.dtype == np.dtype("i4")
    np.testing.assert_array_equal(second.compute(scheduler="sync"), np.arange(1000, dtype="i4"))
    with pytest.raises(NdpackError) as info:  # the first graph's file is gone: not mixed bytes
        first.compute(scheduler="sync")
    assert info.value.code == "FILE_CHANGED"


@pytest.mark.parametrize("scheduler", SCHEDULERS)
def test_a_graph_over_a_url_replaced_since_it_was_built_fails_with_FILE_CHANGED(
        nginx, scheduler, run, replace_keeping_the_size):
    # threads: the cached reader's conditional reads get 412; processes: a worker opening the
    # file finds another identity than the graph's.
    path = nginx.root / f"moved-{scheduler}.ndp"
    ndpack.save(path, {"x": np.arange(5000, dtype="f4")})
    for verify in (True, False):
        lazy = nd.from_ndpack(nginx.url(path.name), "x", chunks=1000, verify=verify)
        replace_keeping_the_size(path, {"x": np.arange(5000, dtype="i4")})
        with pytest.raises(NdpackError) as info:
            lazy.compute(**run)
        assert info.value.code == "FILE_CHANGED"
        ndpack.save(path, {"x": np.arange(5000, dtype="f4")})


@pytest.mark.parametrize("kind", ["F", "deflate", "scalar"])
def test_building_a_graph_of_a_one_chunk_array_reads_nothing_but_the_header(nginx, kind):
    # Eager before: the dtype came from read_rows(name, 0, 0), which reads an F-order or
    # compressed array whole (and read() a 0-d one), while the graph was built.
    values = np.random.default_rng(7).integers(0, 1000, (2000, 500))
    if kind == "F":
        arrays, options = {"a": np.asfortranarray(values.astype("f8"))}, {}
    elif kind == "deflate":
        arrays, options = {"a": values}, {"codec": "deflate"}
    else:
        arrays, options = {"a": np.float32(2.5), "pad": values}, {}
    ndpack.save(nginx.root / f"lazy-{kind}.ndp", arrays, **options)
    nginx.clear()
    lazy = nd.from_ndpack(nginx.url(f"lazy-{kind}.ndp"), "a", chunks=100)
    assert nginx.transferred(f"lazy-{kind}.ndp") == FIRST_READ  # the header's request only
    assert [row[0] for row in nginx.lines()] == ["HEAD", "GET"]
    assert lazy.dtype == arrays["a"].dtype and lazy.shape == arrays["a"].shape
    assert lazy.numblocks == (1,) * lazy.ndim  # read whole: one chunk
    np.testing.assert_array_equal(lazy.compute(scheduler="threads"), arrays["a"])
    assert nginx.transferred(f"lazy-{kind}.ndp") > FIRST_READ


# --------------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("scheduler", SCHEDULERS)
def test_to_ndpack_writes_the_bytes_save_writes(tmp_path, scheduler, run):
    rng = np.random.default_rng(9)
    a = rng.standard_normal((1234, 8)).astype("f4")
    b = np.arange(500, dtype="i4")
    arrays = {"a": da.from_array(a, chunks=(100, 3)) * 3, "b": da.from_array(b, chunks=77),
              "s": da.from_array(np.float64(4.0))}
    nd.to_ndpack(arrays, tmp_path / "o.ndp", metadata={"by": "dask"},
                 compute_options=run)
    expected = ndpack.dumps({"a": a * 3, "b": b, "s": np.float64(4.0)}, metadata={"by": "dask"})
    assert (tmp_path / "o.ndp").read_bytes() == expected


def test_to_ndpack_writes_a_set_that_from_ndpack_reads(data, tmp_path):
    folder, arrays = data
    xs = nd.from_ndpack(str(folder / "set.ndp.index.json"), chunks=64)
    nd.to_ndpack({name: x + 1 for name, x in xs.items()}, tmp_path / "out.ndp.index.json",
                 max_shard_size=50_000, metadata={"note": "plus one"})
    s = ndpack.open(tmp_path / "out.ndp.index.json")
    assert len(s.shards) >= 2 and s.metadata == {"note": "plus one"}
    for name, a in arrays.items():
        np.testing.assert_array_equal(s[name], a + 1)


@pytest.mark.parametrize("shape", [(0, 3), (3, 0), (0,)])
def test_to_ndpack_of_a_zero_byte_array_before_another_is_written_not_INVALID_ARGUMENT(
        tmp_path, shape):
    arrays = {"e": da.zeros(shape, chunks=2), "x": da.ones(4, chunks=2)}
    nd.to_ndpack(arrays, tmp_path / "o.ndp")
    f = ndpack.load(tmp_path / "o.ndp")
    assert f["e"].shape == shape and f["e"].dtype == np.float64
    assert f["x"].tolist() == [1.0] * 4
    assert (tmp_path / "o.ndp").read_bytes() == ndpack.dumps(
        {"e": np.zeros(shape), "x": np.ones(4)})


@pytest.mark.parametrize("target", ["o.ndp", "o.ndp.index.json"])
def test_to_ndpack_of_a_trailing_zero_row_block_is_written_not_WRITE_SIZE(tmp_path, target):
    x = da.arange(10, chunks=5)
    y = x[x < 5]
    y.compute_chunk_sizes()  # chunks ((5, 0),): the last block has no rows
    assert y.chunks == ((5, 0),)
    for arrays in ({"y": y}, {"y": y, "z": da.ones(3, chunks=3)}):
        nd.to_ndpack(arrays, tmp_path / target)
        with ndpack.open(tmp_path / target) as f:
            assert f["y"].tolist() == [0, 1, 2, 3, 4]
            if "z" in arrays:
                assert f["z"].tolist() == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("options", [{}, {"byte_order": "big"}, {"alignment": 4096},
                                     {"checksum": "none"}])
def test_to_ndpack_writes_the_bytes_save_writes_with_each_file_option_and_kind_of_dtype(
        tmp_path, options):
    # Blocks are written at their place, each converted on its own: byte order, bfloat16's bits,
    # bool, complex, and blocks that are not C-contiguous (an F-order array, a transposed one).
    import ml_dtypes

    rng = np.random.default_rng(1)
    arrays = {"b": rng.standard_normal((50, 3)).astype(ml_dtypes.bfloat16),
              "c": (rng.standard_normal(40) + 1j).astype("c8"), "t": rng.random((7, 5)) > 0.5,
              "f": np.asfortranarray(rng.standard_normal((9, 4))),
              "i": np.arange(30, dtype=">i4").reshape(10, 3).T}
    nd.to_ndpack({k: da.from_array(v, chunks=4) for k, v in arrays.items()}, tmp_path / "o.ndp",
                 **options)
    assert (tmp_path / "o.ndp").read_bytes() == ndpack.dumps(
        {k: np.ascontiguousarray(v) for k, v in arrays.items()}, **options)


@pytest.mark.parametrize("scheduler", SCHEDULERS)
@pytest.mark.parametrize("target", ["o.ndp", "o.ndp.index.json"])
def test_to_ndpack_with_compute_False_writes_when_its_delayed_is_computed(
        tmp_path, scheduler, run, target):
    a = np.arange(3000, dtype="f4").reshape(1000, 3)
    arrays = {"a": da.from_array(a, chunks=(90, 2)) * 2, "n": da.arange(50, chunks=7)}
    done = nd.to_ndpack(arrays, tmp_path / target, metadata={"k": 1}, compute=False,
                        max_shard_size=9000 if target.endswith(".json") else None)
    assert isinstance(done, Delayed)
    assert not (tmp_path / target).exists()  # only the temporary file(s), sized
    assert os.listdir(tmp_path) and all(name.startswith(".o") and name.endswith(".tmp")
                                        for name in os.listdir(tmp_path))
    assert done.compute(**run) is None
    with ndpack.open(tmp_path / target) as r:
        np.testing.assert_array_equal(r.read("a"), a * 2)  # CRC-32s checked
        np.testing.assert_array_equal(r.read("n"), np.arange(50))
        assert r.metadata == {"k": 1}
    if target == "o.ndp":
        assert (tmp_path / target).read_bytes() == ndpack.dumps(
            {"a": a * 2, "n": np.arange(50)}, metadata={"k": 1})
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]


@pytest.mark.parametrize("compute", [True, False])
def test_to_ndpack_computes_a_block_its_arrays_share_once(tmp_path, compute):
    sizes = []

    def source(block):
        sizes.append(block.size)  # Dask calls it on blocks of 0 and 1 element too, for its meta
        return block * 3

    x = da.arange(1000, chunks=100).map_blocks(source)
    done = nd.to_ndpack({"x": x, "y": x + 1}, tmp_path / "o.ndp", compute=compute)
    if not compute:  # computed with another computation
        _, total = dask.compute(done, x.sum(), scheduler="threads")
        assert total == 3 * 999 * 1000 // 2
    assert sizes.count(100) == 10 + (0 if compute else 10)  # x.sum() computes its own
    f = ndpack.load(tmp_path / "o.ndp")
    assert f["x"].tolist() == (np.arange(1000) * 3).tolist()
    assert f["y"].tolist() == (np.arange(1000) * 3 + 1).tolist()


@pytest.mark.parametrize("compute", [True, False])
def test_to_ndpack_of_a_failing_block_raises_its_error_and_writes_no_file(tmp_path, compute):
    def failing(block, block_info=None):
        if block_info and block_info[0]["chunk-location"][0] == 3:  # None: Dask's meta call
            raise ValueError("block 3 cannot be computed")
        return block

    x = da.arange(1000, chunks=100).map_blocks(failing)
    with pytest.raises(ValueError, match="block 3"):
        done = nd.to_ndpack({"x": x}, tmp_path / "o.ndp", compute=compute)
        done.compute(scheduler="threads")
    # compute=True removes the temporary file; a Delayed that failed leaves it, as documented.
    left = os.listdir(tmp_path)
    assert left == [] if compute else (len(left) == 1 and left[0].startswith(".o.ndp."))


@pytest.mark.parametrize("scheduler", SCHEDULERS)
def test_to_ndpack_of_blocks_of_other_shapes_than_their_chunks_is_WRITE_SIZE(tmp_path, scheduler,
                                                                             run):
    # Dask takes chunks on trust (map_blocks' chunks=); the blocks then overlap, or go beyond the
    # array: never written into another block's rows, nor completed around a hole.
    x = da.arange(100, chunks=10)
    for shape in (lambda b: b[:-1], lambda b: np.append(b, b[:1])):
        lying = x.map_blocks(shape, chunks=x.chunks, dtype=x.dtype)
        with pytest.raises(NdpackError) as info:
            nd.to_ndpack({"x": lying}, tmp_path / "o.ndp", compute_options=run)
        assert info.value.code == "WRITE_SIZE" and info.value.array == "x"
        assert os.listdir(tmp_path) == []


def test_to_ndpack_of_arrays_of_unknown_size_is_INVALID_ARGUMENT(tmp_path):
    x = da.arange(10)
    with pytest.raises(NdpackError) as info:
        nd.to_ndpack({"x": x[x > 3]}, tmp_path / "o.ndp")
    assert info.value.code == "INVALID_ARGUMENT"


# --------------------------------------------------------------------------------------------------
# Bounded memory: a 256 MiB set summed by a process allowed 96 MiB of memory more than it had
# --------------------------------------------------------------------------------------------------

BOUNDED = textwrap.dedent("""
    import json, resource, sys
    import dask, numpy as np
    import ndpack, ndpack.dask as nd

    def status(key):
        with open("/proc/self/status") as fh:
            return next(int(l.split()[1]) * 1024 for l in fh if l.startswith(key))

    index, mode = sys.argv[1], sys.argv[2]
    xs = nd.from_ndpack(index, chunks="8MiB")
    dask.compute(*[x[:1].sum() for x in xs.values()], scheduler="threads")  # pool and imports
    data = status("VmData:")
    # RLIMIT_DATA caps private writable memory (the heap, anonymous maps), not read-only maps
    # of files: the set's bytes may be mapped, its copies may not exceed 96 MiB.
    resource.setrlimit(resource.RLIMIT_DATA, (data + 96 * 2**20, resource.RLIM_INFINITY))
    try:
        if mode == "sum":
            total = sum(dask.compute(*[x.sum(dtype="f8") for x in xs.values()], scheduler="threads"))
        elif mode == "write":  # the set plus one, to a file: each block written where computed
            nd.to_ndpack({n: x + 1 for n, x in xs.items()}, sys.argv[3],
                         compute_options={"scheduler": "threads"})
            total = 0.0
            with ndpack.open(sys.argv[3]) as f:
                for n in f:  # read back in rows of 8 MiB, CRC-32s checked by verify()
                    total += sum(float(f.read_rows(n, i, i + 2048).sum(dtype="f8"))
                                 for i in range(0, f.info(n).shape[0], 2048))
                f.verify()
        else:  # the control: materializing the set does not fit
            arrays = dask.compute(*xs.values(), scheduler="threads")
            total = sum(float(a.sum(dtype="f8")) for a in arrays)
    except MemoryError:
        total = "MemoryError"
    print(json.dumps({"total": total, "peak_rss": status("VmHWM:"), "data_before": data,
                      "data_after": status("VmData:")}))
""")


@pytest.fixture(scope="module")
def big_set(tmp_path_factory):
    """A 256 MiB set: 4 arrays of 64 MiB in 4 shards, written in 16 MiB blocks."""
    folder = tmp_path_factory.mktemp("big")
    index = folder / "big.ndp.index.json"
    rows, width = 64 * MiB // (4 * 1024), 1024
    names = [f"part{i}" for i in range(4)]
    with ndpack.SetWriter(index, [(n, "float32", (rows, width)) for n in names],
                          max_shard_size=64 * MiB) as w:
        for k, name in enumerate(names):
            for start in range(0, rows, 4096):
                block = np.arange(start * width, (start + 4096) * width, dtype="f8") % 1000 + k
                w.write(name, block.astype("f4").reshape(4096, width))
    return index


def run_bounded(index, mode, *more):
    out = subprocess.run([sys.executable, "-c", BOUNDED, str(index), mode, *map(str, more)],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_a_256_MiB_set_is_summed_within_96_MiB_of_memory(big_set, report):
    s = ndpack.open(big_set)
    assert len(s.shards) == 4 and s.total_size == 256 * MiB
    expected = sum(float(ndpack.load(big_set.parent / s.shard_of(n))[n].sum(dtype="f8")) for n in s)
    result = run_bounded(big_set, "sum")
    assert result["total"] == pytest.approx(expected, rel=1e-12)
    report(f"from_ndpack(...).sum() over a 256 MiB set (threads, verify=True): peak RSS "
           f"{result['peak_rss'] / MiB:.0f} MiB (file pages mapped included), private memory "
           f"capped at +96 MiB (RLIMIT_DATA, {result['data_before'] / MiB:.0f} MiB before)")


def test_to_ndpack_of_a_256_MiB_set_writes_within_96_MiB_of_memory(big_set, tmp_path, report):
    s = ndpack.open(big_set)
    expected = sum(float(ndpack.load(big_set.parent / s.shard_of(n))[n].sum(dtype="f8")) for n in s)
    result = run_bounded(big_set, "write", tmp_path / "plus-one.ndp")
    assert result["total"] == pytest.approx(expected + 64 * MiB, rel=1e-12)
    report(f"to_ndpack of a 256 MiB set plus one, to one file (threads): peak RSS "
           f"{result['peak_rss'] / MiB:.0f} MiB, private memory capped at +96 MiB")


def test_the_memory_cap_is_real_materializing_the_set_fails(big_set):
    assert run_bounded(big_set, "materialize")["total"] == "MemoryError"


def test_to_ndpack_of_something_else_than_a_dict_is_INVALID_ARGUMENT(tmp_path):
    with pytest.raises(NdpackError) as info:
        nd.to_ndpack(da.arange(10), tmp_path / "o.ndp")
    assert info.value.code == "INVALID_ARGUMENT"


@pytest.mark.parametrize("name, chunks", [
    ("x", 0), ("x", -2), ("x", 2.5), ("x", True), ("x", "lots"), ("x", "12 parsecs"),
    ("x", (1001.0,)), ("x", np.int64(0)), ("x", np.True_), ("x", object()), ("x", {0: 0}),
    ("x", (300, 2.5)), ("x", (300, "lots")), ("x", (True, -1)), ("x", ((400, -1, 602), -1)),
    ("x", (-1, -1, -1)),  # more entries than axes
    ("ids", (700, -1)),  # on one axis, a tuple of ints is each chunk's rows: -1 is none
    ("ids", (np.int64(1002), np.int64(-1))), ("ids", ((777,), (1,))),
])
def test_chunks_of_another_kind_are_INVALID_ARGUMENT(data, name, chunks):
    folder, _ = data
    with pytest.raises(NdpackError) as info:
        nd.from_ndpack(str(folder / "file.ndp"), name, chunks=chunks)
    assert info.value.code == "INVALID_ARGUMENT"


@pytest.mark.parametrize("name, chunks", [
    ("x", (1000, 1)),  # Dask's blocks of 1000 rows x 1 column: read as row counts before
    ("x", (300, 5)), ("x", {0: 300, 1: 5}), ("x", {1: 5}), ("x", ((400, 601), (10, 7))),
    ("x", (-1, (17, 0))),  # two blocks, one of them empty
    ("cube", (10, 2, -1)), ("cube", (10, -1, (2, 3))),
])
def test_chunks_that_split_another_axis_than_the_first_are_INVALID_ARGUMENT(data, name, chunks):
    folder, _ = data
    with pytest.raises(NdpackError) as info:
        nd.from_ndpack(str(folder / "file.ndp"), name, chunks=chunks)
    assert info.value.code == "INVALID_ARGUMENT"
    assert "split only the first axis" in info.value.message
    assert f".rechunk({chunks!r})" in info.value.message


def test_chunks_that_split_another_axis_say_how_to_get_the_same_blocks(data):
    # The message's way, followed: the rows asked for, then .rechunk(chunks), gives Dask's blocks.
    folder, arrays = data
    chunks = (300, 5)
    with pytest.raises(NdpackError) as info:
        nd.from_ndpack(str(folder / "file.ndp"), "x", chunks=chunks)
    assert "chunks={0: 300}" in info.value.message
    lazy = nd.from_ndpack(str(folder / "file.ndp"), "x", chunks={0: 300}).rechunk(chunks)
    assert lazy.chunks == da.from_array(arrays["x"], chunks=chunks).chunks
    np.testing.assert_array_equal(lazy.compute(scheduler="threads"), arrays["x"])


# --------------------------------------------------------------------------------------------------
# The readers each process keeps
# --------------------------------------------------------------------------------------------------

def open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts /proc/self/fd")
@pytest.mark.parametrize("kind", ["file", "set"])
def test_from_ndpack_over_more_files_than_READERS_KEPT_keeps_that_many_open(
        tmp_path, monkeypatch, kind):
    # Every file was kept open before: from_ndpack added its reader to the cache, which only
    # dropped readers when a task opened one (a process allowed 256 files failed at the 251st).
    monkeypatch.setattr(nd, "READERS_KEPT", 4)
    ndpack.save(tmp_path / "mine.ndp", {"x": np.arange(3)})
    mine = ndpack.open(tmp_path / "mine.ndp")
    assert nd.from_ndpack(mine, "x").sum().compute() == 3
    before = open_files()
    for i in range(20):
        path = tmp_path / (f"f{i}.ndp" if kind == "file" else f"s{i}.ndp.index.json")
        (ndpack.save if kind == "file" else ndpack.save_set)(path, {"x": np.arange(10.0) + i})
        assert nd.from_ndpack(str(path), "x", chunks=4).sum().compute(scheduler="threads") \
            == 45 + 10 * i
        assert len(nd._READERS) <= 4 and open_files() <= before + 4
    assert not mine.closed  # dropped from the cache, not closed: a reader given is its owner's
    mine.close()


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts /proc/self/fd")
def test_from_ndpack_of_a_missing_name_closes_the_file_it_opened(tmp_path):
    ndpack.save(tmp_path / "a.ndp", {"x": np.arange(3)})
    gc.collect()
    before = open_files()
    errors = []
    for _ in range(10):
        with pytest.raises(NdpackError) as info:
            nd.from_ndpack(str(tmp_path / "a.ndp"), "y")
        assert info.value.code == "NOT_FOUND"
        errors.append(info.value)
    assert open_files() <= before  # was 10: each error's traceback held its reader, open


def test_a_reader_dropped_from_the_cache_during_a_read_is_closed_once_the_read_is_done(
        tmp_path, monkeypatch):
    monkeypatch.setattr(nd, "READERS_KEPT", 1)
    paths = [tmp_path / f"f{i}.ndp" for i in range(4)]
    for i, path in enumerate(paths):
        ndpack.save(path, {"x": np.arange(100) * i})
    reading, go = threading.Event(), threading.Event()
    readers = []
    read_rows = Reader.read_rows

    def held_read_rows(self, name, start=None, stop=None, **options):
        if self.location == str(paths[0]):  # the read of the first file waits for the others
            readers.append(self)
            reading.set()
            assert go.wait(10)
        return read_rows(self, name, start, stop, **options)

    monkeypatch.setattr(Reader, "read_rows", held_read_rows)
    first = nd.from_ndpack(str(paths[0]), "x", verify=False)
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(first.compute, scheduler="sync")
        assert reading.wait(10)
        for i, path in enumerate(paths[1:], 1):  # each drops the one before from the cache
            assert nd.from_ndpack(str(path), "x").sum().compute(scheduler="sync") == 4950 * i
        assert len(nd._READERS) == 1
        assert list(nd._READERS.values())[0].reader.location == str(paths[-1])
        assert not readers[0].closed  # dropped, but a task reads with it: not closed under it
        go.set()
        np.testing.assert_array_equal(pending.result(), np.arange(100) * 0)
    assert readers[0].closed  # closed by the task that read last with it


def open_file_waiting_for(monkeypatch, location: str, wait):
    """Replace the opener of ndpack.dask's tasks: opening ``location`` calls ``wait()`` first;
    the list of readers it opened is returned."""
    opened = []

    def waiting_open_file(where, **options):
        if where == location:
            wait()
        reader = open_file(where, **options)
        opened.append(reader)
        return reader

    monkeypatch.setattr(nd, "open_file", waiting_open_file)
    return opened


def test_a_slow_open_holds_up_no_task_of_another_file(tmp_path, monkeypatch):
    # Before, a task opened its file holding the cache's lock: every task of the process waited
    # behind one slow open (a URL's: requests, retried).
    for name in ("slow", "fast"):
        ndpack.save(tmp_path / f"{name}.ndp", {"x": np.arange(10)})
    opening, go = threading.Event(), threading.Event()
    open_file_waiting_for(monkeypatch, str(tmp_path / "slow.ndp"),
                          lambda: (opening.set(), go.wait(10)))
    with ndpack.open(tmp_path / "slow.ndp") as r:
        slow = nd.from_ndpack(r, "x")  # closed since: its task opens the file again
    fast = nd.from_ndpack(str(tmp_path / "fast.ndp"), "x")
    timer = threading.Timer(5, go.set)  # the slow open's end, if nothing else ends it
    timer.start()
    try:
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(slow.sum().compute, scheduler="sync")
            assert opening.wait(10)
            assert fast.sum().compute(scheduler="sync") == 45
            assert not go.is_set()  # done while the other file was still being opened
            go.set()
            assert pending.result() == 45
    finally:
        timer.cancel()


def test_two_tasks_opening_one_file_at_once_keep_one_reader_and_close_the_other(
        tmp_path, monkeypatch):
    path = tmp_path / "f.ndp"
    ndpack.save(path, {"x": np.arange(100)})
    # Both opens in progress at once; 30 s as in test_npz: a thread of a busy machine can be late.
    both = threading.Barrier(2, timeout=30)
    opened = open_file_waiting_for(monkeypatch, str(path), both.wait)
    with ndpack.open(path) as r:
        x = nd.from_ndpack(r, "x", chunks=50, verify=False)
    np.testing.assert_array_equal(x.compute(scheduler="threads", num_workers=2), np.arange(100))
    assert len(opened) == 2
    kept = [r for r in opened if not r.closed]
    assert len(kept) == 1 and any(e.reader is kept[0] for e in nd._READERS.values())


def test_without_dask_importing_ndpack_dask_names_the_extra_to_install():
    # As a URL without fsspec does: not a bare ModuleNotFoundError.
    result = subprocess.run([sys.executable, "-c", "import sys; sys.modules['dask'] = None; "
                             "import ndpack; import ndpack.dask"], capture_output=True, text=True)
    assert result.returncode == 1
    assert "ImportError: ndpack.dask needs dask's arrays" in result.stderr
    assert "pip install 'ndpack[dask]'" in result.stderr


@pytest.mark.parametrize("codec", ["deflate", "shuffle+deflate"])
def test_a_compressed_array_computes_numpys_values_holding_its_decoded_bytes_once(tmp_path, codec):
    # The inflated bytes were copied into a second buffer of the array's size (2.0x its bytes at
    # the peak of a deflated array's sum); shuffle's reordering needs the second one while it runs.
    a = (np.arange(1_000_000) % 1000).astype("f8").reshape(100_000, 10)  # 8 MB, deflated 80 kB
    ndpack.save(tmp_path / "z.ndp", {"a": a, "c": np.arange(10) * (1 + 2j)}, codec=codec)
    x = nd.from_ndpack(str(tmp_path / "z.ndp"), "a", chunks=1000)
    assert x.chunks == ((100_000,), (10,))  # one chunk: a compressed payload is read whole
    tracemalloc.start()
    try:
        total = x.sum().compute(scheduler="synchronous")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == a.sum()
    if codec == "deflate":
        assert peak < 1.5 * a.nbytes, peak
    got = x.compute(scheduler="threads")
    np.testing.assert_array_equal(got, a)
    assert got.flags.writeable
    c = nd.from_ndpack(str(tmp_path / "z.ndp"), "c", chunks=3).compute()
    np.testing.assert_array_equal(c, np.arange(10) * (1 + 2j))


@pytest.mark.parametrize("options, said", [
    ({"window": 2}, "to_ndpack: unknown option 'window'"),  # blocks per compute, before
    ({"compresion": "deflate"}, "to_ndpack: unknown option 'compresion'"),
    ({"compute": 0}, "compute must be True or False"), ({"compute": "no"}, "compute must be"),
])
def test_to_ndpack_of_an_unknown_option_or_a_compute_other_than_a_bool_is_INVALID_ARGUMENT(
        tmp_path, options, said):
    with pytest.raises(NdpackError) as info:
        nd.to_ndpack({"a": da.arange(100, chunks=10)}, tmp_path / "o.ndp", **options)
    assert info.value.code == "INVALID_ARGUMENT" and said in info.value.message
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("target", ["o.ndp", "o.ndp.index.json"])
def test_to_ndpack_to_a_bytes_path_writes_there_as_save_does(tmp_path, target):
    # TypeError before: bytes.endswith(".index.json").
    nd.to_ndpack({"a": da.arange(100, chunks=30)}, os.fsencode(tmp_path / target))
    with ndpack.open(tmp_path / target) as r:
        np.testing.assert_array_equal(r["a"], np.arange(100))


def test_chunks_refused_for_an_array_read_by_rows_are_refused_for_one_read_whole(tmp_path):
    # A compressed or F-order array, one chunk whatever chunks says, took any chunks: 0 or a
    # tuple that does not add up passed there and were INVALID_ARGUMENT for the next file. A form
    # that splits the second axis of the F-order array is refused there too.
    f = np.asfortranarray(np.arange(60.0).reshape(10, 6))
    ndpack.save(tmp_path / "z.ndp", {"z": np.arange(10.0)}, codec="deflate")
    ndpack.save(tmp_path / "f.ndp", {"f": f, "s": np.float32(1)})
    for path, name in [("z.ndp", "z"), ("f.ndp", "f")]:
        for chunks in (0, "lots", (5, 4), ((10,), (3, 3))):
            with pytest.raises(NdpackError) as info:
                nd.from_ndpack(str(tmp_path / path), name, chunks=chunks)
            assert info.value.code == "INVALID_ARGUMENT", (name, chunks)
        for chunks in (3, ((5, 5),), "1KiB", "auto", -1, None, {0: 5}):
            x = nd.from_ndpack(str(tmp_path / path), name, chunks=chunks)
            assert x.numblocks[0] == 1 and x.shape[0] == 10
    assert nd.from_ndpack(str(tmp_path / "f.ndp"), "s", chunks=3).compute() == 1  # 0-d: no rows


@pytest.mark.parametrize("which", ["file.ndp", "set.ndp.index.json"])
def test_a_graph_over_a_relative_path_computes_in_a_process_with_another_working_directory(
        data, which, tmp_path, monkeypatch):
    # The graph named the path as given: a worker elsewhere (a distributed worker, a process
    # started in another folder) failed IO_ERROR, or read another file of that name.
    folder, arrays = data
    monkeypatch.chdir(folder)
    x = nd.from_ndpack(which, "x", chunks=300)
    code = ("import pickle, sys; import numpy as np; "
            "np.save(sys.stdout.buffer, pickle.loads(sys.stdin.buffer.read()).compute())")
    done = subprocess.run([sys.executable, "-c", code], input=pickle.dumps(x[250:700] * 2),
                          capture_output=True, cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    np.testing.assert_array_equal(np.load(io.BytesIO(done.stdout)), arrays["x"][250:700] * 2)


#: ``_bytes_read`` for ``eval`` in a worker process (a spawned worker cannot import this module),
#: once ndpack.dask is imported there: imports read files too, before a count starts.
BYTES_READ_BY_THE_WORKER = ('__import__("ndpack.dask") and next(int(line.split()[1]) for line in '
                            '__import__("pathlib").Path("/proc/self/io").read_text().splitlines() '
                            'if line.startswith("rchar:"))')


def test_to_ndpack_on_dasks_processes_scheduler_reads_a_checked_array_once_for_its_crc(tmp_path):
    # When to_ndpack computed window after window, worker processes checked the whole array
    # again in every window: 8 windows of 1 block read 10 times its bytes. Now at most 3 times:
    # each chunk, its CRC-32, and the chunk again from the pipe that the scheduler sends it
    # through to the task writing the block (a worker's reads of pipes count).
    x = np.arange(1 << 20, dtype="f8").reshape(1 << 14, 1 << 6)  # 8 MiB
    ndpack.save(tmp_path / "in.ndp", {"x": x})
    lazy = nd.from_ndpack(str(tmp_path / "in.ndp"), "x", chunks=1 << 11)
    assert len(lazy.chunks[0]) == 8
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        before = pool.submit(eval, BYTES_READ_BY_THE_WORKER).result()
        nd.to_ndpack({"y": lazy}, str(tmp_path / "out.ndp"),
                     compute_options={"scheduler": "processes", "pool": pool})
        read = pool.submit(eval, BYTES_READ_BY_THE_WORKER).result() - before
    assert read <= 4 * x.nbytes, f"{read / x.nbytes:.1f} x the array's bytes read"
    np.testing.assert_array_equal(ndpack.open(tmp_path / "out.ndp").read("y"), x)


@pytest.mark.parametrize("scheduler", SCHEDULERS)
def test_to_ndpack_of_a_corrupt_array_is_CHECKSUM_with_no_file_written(tmp_path, scheduler, run):
    x = np.arange(1 << 16, dtype="f8").reshape(1 << 10, 1 << 6)
    ndpack.save(tmp_path / "in.ndp", {"x": x})
    data = bytearray((tmp_path / "in.ndp").read_bytes())
    data[ndpack.open(tmp_path / "in.ndp").info("x").start + x.nbytes - 100] ^= 1  # the last block
    (tmp_path / "in.ndp").write_bytes(bytes(data))
    lazy = nd.from_ndpack(str(tmp_path / "in.ndp"), "x", chunks=100)
    with pytest.raises(NdpackError) as info:
        nd.to_ndpack({"y": lazy[:200] + 1}, str(tmp_path / "out.ndp"),
                     compute_options=run)  # the first rows, undamaged: the check is the array's
    assert info.value.code == "CHECKSUM"
    assert sorted(os.listdir(tmp_path)) == ["in.ndp"]


def test_arrays_of_one_file_chunked_otherwise_by_auto_have_other_names_and_numpys_values(data):
    # The name tokenized chunks="auto", not the rows it gave: an array made under a smaller
    # array.chunk-size had the same name, and computed together, the two shared their chunks'
    # keys (wrong values, or operands that do not broadcast).
    folder, arrays = data
    whole = nd.from_ndpack(str(folder / "file.ndp"), "x")
    with dask.config.set({"array.chunk-size": "17000B"}):
        split = nd.from_ndpack(str(folder / "file.ndp"), "x")
    assert whole.chunks[0] == (1001,) and split.chunks[0] == (250, 250, 250, 250, 1)
    assert whole.name != split.name
    again = nd.from_ndpack(str(folder / "file.ndp"), "x", chunks=1001)  # the same rows: the same
    assert again.name == whole.name
    got = dask.compute(whole, split, whole - split, scheduler="threads")
    np.testing.assert_array_equal(got[0], arrays["x"])
    np.testing.assert_array_equal(got[1], arrays["x"])
    np.testing.assert_array_equal(got[2], np.zeros_like(arrays["x"]))
