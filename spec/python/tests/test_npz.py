"""``ndpack.open`` of a .npz file (a lazy ``NpzReader``, TypeScript's reader ported): numpy's files
read as ``np.load`` reads them, ZIP64, void members named by ``__ndpack__.json``, only the bytes
needed read (locally and from nginx), Dask, xarray and pickling on it, and every refusal of the zip
reader with its code. Archives with something wrong are built as bytes, as APPNOTE lays them out
(``build_zip``). TypeScript and Python are compared on thousands of files by
test/npz-python-parity.test.ts."""

from __future__ import annotations

import io
import json
import pickle
import struct
import tracemalloc
import zipfile
import zlib

import dask
import ml_dtypes
import numpy as np
import pytest
import xarray as xr
from numpy.lib import format as npf

import ndpack
import ndpack.dask as nd
from ndpack import NpzReader
from ndpack._npz import INFLATE_STEP, LOCAL_EXTRA_SLACK_BYTES, NPY_HEAD_BYTES
from ndpack._reader import FIRST_READ
from ndpack.reference import INFLATE_PIECE
from expectations import expect

#: Arrays of every kind numpy writes: the dtypes ndpack reads, big-endian, Fortran order, 0-d,
#: empty.
ARRAYS = {
    "f4": np.arange(12, dtype="<f4").reshape(3, 4), "i8be": np.arange(5, dtype=">i8"),
    "f8F": np.asfortranarray(np.arange(6, dtype="f8").reshape(2, 3)),
    "b1": np.array([True, False, True]), "c8": np.array([1 + 2j, -3j], "c8"),
    "c16be": np.array([2 - 1j], ">c16"), "u2empty": np.zeros((0, 4), "u2"),
    "i2scalar": np.array(-7, "i2"), "f2": np.arange(5, dtype="f2"),
    "i1": np.array([-128, 127], "i1"),
    "u4F": np.asfortranarray(np.arange(24, dtype=">u4").reshape(2, 3, 4)),
}


def npy(array) -> bytes:
    out = io.BytesIO()
    np.save(out, array)
    return out.getvalue()


def deflate(content: bytes) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    return compressor.compress(content) + compressor.flush()


def build_zip(members, *, zip64: bool = False) -> tuple[bytearray, dict]:
    """A zip of ``members`` (``(name, content, method)``: 0 stored, 8 deflated; or ``(name,
    content, method, stored)``, the member's bytes as written, a damaged stream) laid out as
    APPNOTE 6.3 says, and where its parts are: ``local``, ``data`` and ``central`` (offsets, one
    per member), ``cd`` and ``end`` (and ``zip64``, the ZIP64 end record's). With ``zip64`` every
    size and offset is in ZIP64 extra fields, and the directory's in a ZIP64 end record."""
    out, central = bytearray(), bytearray()
    where = {"local": [], "data": [], "central": []}
    for name, content, method, *written in members:
        stored = written[0] if written else content if method == 0 else deflate(content)
        encoded = name.encode()
        local_offset = len(out)
        sizes = (0xFFFFFFFF, 0xFFFFFFFF) if zip64 else (len(stored), len(content))
        local_extra = struct.pack("<HHQQ", 1, 16, len(content), len(stored)) if zip64 else b""
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, method, 0, 0, zlib.crc32(content),
                           *sizes, len(encoded), len(local_extra)) + encoded + local_extra
        where["local"].append(local_offset)
        where["data"].append(len(out))
        out += stored
        central_extra = struct.pack("<HHQQQ", 1, 24, len(content), len(stored), local_offset) \
            if zip64 else b""
        where["central"].append(len(central))
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, method, 0, 0,
                               zlib.crc32(content), *sizes, len(encoded), len(central_extra), 0, 0,
                               0, 0, 0xFFFFFFFF if zip64 else local_offset)
        central += encoded + central_extra
    where["cd"] = len(out)
    where["central"] = [where["cd"] + at for at in where["central"]]
    out += central
    count = len(members)
    if zip64:
        where["zip64"] = len(out)
        out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, count, count, len(central),
                           where["cd"])
        out += struct.pack("<IIQI", 0x07064B50, 0, where["zip64"], 1)
    where["end"] = len(out)
    fields = (0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF) if zip64 else \
        (count, count, len(central), where["cd"])
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, *fields, 0)
    return out, where


class Counting:
    """``data`` as a source (``size`` and ``read(offset, length)``) that records its reads."""

    location = "memory.npz"

    def __init__(self, data: bytes):
        self.data, self.size, self.reads = bytes(data), len(data), []

    def read(self, offset: int, length: int) -> bytes:
        self.reads.append((offset, length))
        return self.data[offset:offset + length]


def open_bytes(data, **options) -> NpzReader:
    return NpzReader(Counting(data), **options)


# --------------------------------------------------------------------------------------------------
# What numpy writes
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("save", [np.savez, np.savez_compressed])
def test_numpys_npz_files_read_as_np_load_reads_them(tmp_path, save):
    path = tmp_path / "a.npz"
    save(path, **ARRAYS)
    with ndpack.open(path) as r, np.load(path) as expected:
        assert isinstance(r, NpzReader) and list(r) == expected.files == list(ARRAYS)
        assert r.metadata == {} and r.ignored == [] and r.checksum == "crc32"
        for name in r:
            info, got = r.info(name), r.read(name)
            assert info.codec == ("deflate" if save is np.savez_compressed else "none")
            assert info.shape == expected[name].shape and got.dtype == expected[name].dtype
            fortran = expected[name].flags.f_contiguous and not expected[name].flags.c_contiguous
            assert info.order == ("F" if fortran else "C")
            np.testing.assert_array_equal(got, expected[name])
            np.testing.assert_array_equal(r.read(name, verify=False), expected[name])
        np.testing.assert_array_equal(r.read_rows("f4", 1, 3), ARRAYS["f4"][1:3])
        assert r.header["f4"] == {"descr": "<f4", "fortran_order": False, "shape": (3, 4)}
        assert [v["ok"] for v in r.verify()] == [True] * len(ARRAYS)
    assert ndpack.verify(path)["ok"]


def test_many_members_keep_their_order(tmp_path):
    arrays = {f"m{i}": np.arange(i % 7, dtype="i4") for i in range(300)}
    np.savez(tmp_path / "many.npz", **arrays)
    with ndpack.open(tmp_path / "many.npz") as r:
        assert list(r) == list(arrays)
        for name in ("m0", "m150", "m299"):
            np.testing.assert_array_equal(r[name], arrays[name])


def test_zip64_of_numpy_past_65535_members_and_of_every_size_and_offset(tmp_path):
    # np.savez writes a ZIP64 end record when the members do not fit the plain one's count.
    arrays = {f"m{i}": np.array(i % 251, "u1") for i in range(70_000)}
    np.savez(tmp_path / "70k.npz", **arrays)
    data = (tmp_path / "70k.npz").read_bytes()
    assert b"PK\x06\x06" in data[-200:]
    with ndpack.open(tmp_path / "70k.npz") as r:
        assert len(r) == 70_000 and r["m69999"] == 69_999 % 251
    # Every size and offset in ZIP64 extra fields, the directory in a ZIP64 end record.
    data, where = build_zip([("a.npy", npy(np.arange(10, dtype="<i2")), 0),
                             ("b.npy", npy(np.ones((2, 2))), 8)], zip64=True)
    r = open_bytes(data)
    np.testing.assert_array_equal(r["a"], np.arange(10, dtype="<i2"))
    np.testing.assert_array_equal(r["b"], np.ones((2, 2)))
    assert [v["ok"] for v in r.verify()] == [True, True]
    with np.load(io.BytesIO(bytes(data))) as z:  # Python's zipfile reads it as well
        np.testing.assert_array_equal(z["b"], np.ones((2, 2)))


def test_other_members_and_directories_are_not_arrays(tmp_path):
    with zipfile.ZipFile(tmp_path / "mixed.npz", "w") as z:
        z.writestr("a.npy", npy(np.arange(3)))
        z.writestr("readme.txt", b"hello")
        z.writestr("dir/", b"")
        z.writestr("dir/b.npy", npy(np.ones(2)))
    with ndpack.open(tmp_path / "mixed.npz") as r:
        assert list(r) == ["a", "dir/b"] and r.ignored == ["readme.txt"]
    with zipfile.ZipFile(tmp_path / "empty.npz", "w"):
        pass
    with ndpack.open(tmp_path / "empty.npz") as r:  # an empty zip is its end record alone
        assert len(r) == 0 and r.version == (1, 0)



def test_member_names_are_read_as_the_zip_holds_them_where_numpy_load_reads_other_ones():
    """As TypeScript's readers: a member ``a`` beside ``a.npy`` is ignored (numpy reads it for key
    ``a``), ``a.npy.npy`` is array ``a.npy`` (numpy's key ``a.npy`` is member ``a.npy``), and a name
    holding U+0000 is kept whole (Python's zipfile cuts it). ndpack's writers write none of these."""
    def read(members):
        data, _ = build_zip([(n, npy(np.array([i], "f4")) if n.endswith(".npy") else b"\x01", 0)
                             for i, n in enumerate(members)])
        with open_bytes(data) as r:
            return [(n, float(r.read(n)[0])) for n in r], r.ignored, np.load(io.BytesIO(bytes(data)))
    arrays, ignored, loaded = read(["a", "a.npy"])
    assert (arrays, ignored, loaded.files, loaded["a"]) == ([("a", 1.0)], ["a"], ["a", "a"], b"\x01")
    arrays, ignored, loaded = read(["a.npy", "a.npy.npy"])
    assert (arrays, ignored, loaded.files) == ([("a", 0.0), ("a.npy", 1.0)], [], ["a", "a.npy"])
    assert loaded["a.npy"][0] == 0.0
    arrays, ignored, loaded = read(["x.npy", "w\0a.npy"])
    assert (arrays, ignored, loaded.files) == ([("x", 0.0), ("w\0a", 1.0)], [], ["x", "w"])

# --------------------------------------------------------------------------------------------------
# Void members: what ndpack's TypeScript writer (toNpz) and np.save of ml_dtypes arrays write
# --------------------------------------------------------------------------------------------------

#: ml_dtypes arrays, as np.save stores them: '<V2' for bfloat16, '|V1' and '<f1' for the float8s.
VOIDS = {"bf": np.array([1, -2, 0.5, 3], ml_dtypes.bfloat16),
         "f8": np.array([1, 2, -0.5], ml_dtypes.float8_e4m3fn),
         "e5": np.array([1, 2], ml_dtypes.float8_e5m2)}
NDPACK_JSON = {"metadata": {"step": 3, "nested": {"a": [1, 2.5, None]}},
               "dtypes": {"bf": "bfloat16", "f8": "float8_e4m3fn", "e5": "float8_e5m2"}}


def ndpack_npz(method: int = 0, ndpack_json=NDPACK_JSON) -> bytearray:
    """A .npz as TypeScript's ``toNpz`` writes one: the arrays, then ``__ndpack__.json``."""
    members = [(f"{name}.npy", npy(a), method) for name, a in VOIDS.items()]
    if ndpack_json is not None:
        members.append(("__ndpack__.json", json.dumps(ndpack_json).encode(), method))
    return build_zip(members)[0]


@pytest.mark.parametrize("method", [0, 8])
def test_void_members_are_the_dtypes_ndpack_json_names(method):
    r = open_bytes(ndpack_npz(method))
    assert r.metadata == NDPACK_JSON["metadata"] and r.ignored == []
    assert [r.info(n).dtype for n in r] == ["bfloat16", "float8_e4m3fn", "float8_e5m2"]
    for name, expected in VOIDS.items():
        got = r.read(name)
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got, expected)
    raw = open_bytes(ndpack_npz(method), raw_bits=True)
    assert raw["bf"].dtype == np.uint16
    np.testing.assert_array_equal(raw["bf"], VOIDS["bf"].view(np.uint16))


def test_void_members_without_a_dtype_are_UNKNOWN_DTYPE_unless_void_dtype_names_one():
    data = ndpack_npz(ndpack_json=None)
    assert expect("UNKNOWN_DTYPE", lambda: open_bytes(data)).array == "bf"
    r = open_bytes(data, void_dtype={"bf": "bfloat16", "f8": "float8_e4m3fn", "e5": "float8_e5m2"})
    np.testing.assert_array_equal(r["e5"], VOIDS["e5"])
    expect("UNKNOWN_DTYPE", lambda: open_bytes(data, void_dtype="float32"))  # 4-byte items
    expect("INVALID_ARGUMENT", lambda: open_bytes(data, void_dtype="bfloat17"))
    expect("INVALID_ARGUMENT", lambda: open_bytes(data, void_dtype={"bf": 2}))
    # The caller's void_dtype overrides __ndpack__.json's.
    r = open_bytes(ndpack_npz(), void_dtype={"bf": "float16"})
    assert r.info("bf").dtype == "float16" and r.info("f8").dtype == "float8_e4m3fn"


def test_a_npy_file_of_a_void_descr_reads_with_void_dtype(tmp_path):
    np.save(tmp_path / "bf.npy", VOIDS["bf"])
    expect("UNKNOWN_DTYPE", lambda: ndpack.open(tmp_path / "bf.npy"))
    with ndpack.open(tmp_path / "bf.npy", void_dtype="bfloat16") as r:
        np.testing.assert_array_equal(r["array"], VOIDS["bf"])
        again = pickle.loads(pickle.dumps(r))  # the option travels with the reader
        np.testing.assert_array_equal(again["array"], VOIDS["bf"])
        again.close()
    expect("INVALID_ARGUMENT", lambda: ndpack.open(tmp_path / "bf.npy", void_dtype=["bfloat16"]))


@pytest.mark.parametrize("text, code", [
    (b'{"metadata": {}', "HEADER_INVALID"),
    (b'{"metadata": {}}', "HEADER_INVALID"),
    (b'{"metadata": [], "dtypes": {}}', "HEADER_INVALID"),
    (b'{"metadata": {}, "metadata": {}, "dtypes": {}}', "DUPLICATE_KEY"),
    (b'{"metadata": {}, "dtypes": {"bf": "bfloat17"}}', "UNKNOWN_DTYPE"),
    (b'{"metadata": {}, "dtypes": {"bf": "bfloat16", "zz": "int8"}}', "HEADER_INVALID"),
    (b'{"metadata": {}, "dtypes": {"bf": "bfloat16", "h": "bfloat16"}}', "HEADER_INVALID"),
    (b'{"metadata": {"k": "\xff"}, "dtypes": {}}', "HEADER_INVALID"),
])
def test_a_wrong_ndpack_json_is_its_code(text, code):
    members = [("bf.npy", npy(VOIDS["bf"]), 0), ("h.npy", npy(np.ones(2, "f2")), 0),
               ("__ndpack__.json", text, 0)]
    expect(code, lambda: open_bytes(build_zip(members)[0]))


def test_a_damaged_ndpack_json_is_CHECKSUM_at_open():
    data, where = build_zip([("a.npy", npy(np.arange(3)), 0),
                             ("__ndpack__.json", b'{"metadata": {"k": 1}, "dtypes": {}}', 0)])
    data[where["data"][1] + 20] ^= 1
    expect("CHECKSUM", lambda: open_bytes(data))


# --------------------------------------------------------------------------------------------------
# What is read
# --------------------------------------------------------------------------------------------------

def test_reads_of_a_stored_member_are_one_range_of_just_its_bytes():
    rows = np.arange(400, dtype="<f8").reshape(100, 4)
    data, where = build_zip([("x.npy", npy(rows), 0), ("y.npy", npy(np.ones(5)), 8)])
    source = Counting(data)
    r = NpzReader(source)
    assert source.reads[0] == (0, len(data))  # a file shorter than the first read: read once
    e = r.info("x")
    assert e.start == where["data"][0] + 128 and e.byte_length == e.nbytes == rows.nbytes
    source.reads.clear()
    np.testing.assert_array_equal(r.read_rows("x", 10, 20), rows[10:20])
    assert source.reads == [(e.start + 10 * 32, 10 * 32)]  # those rows, unverified
    source.reads.clear()
    np.testing.assert_array_equal(r.read("x", verify=False), rows)
    assert source.reads == [(e.start, rows.nbytes)]
    source.reads.clear()
    np.testing.assert_array_equal(r.read("x"), rows)
    assert source.reads == [(where["data"][0], 128 + rows.nbytes)]  # with its .npy header: the CRC
    source.reads.clear()
    np.testing.assert_array_equal(r.read_rows("y", 1, 3), np.ones(2))  # deflated: read whole
    # Just after x's short read, so read ahead: with the rest of this small file (READ_AHEAD).
    assert source.reads == [(where["data"][1], len(data) - where["data"][1])]
    r2 = NpzReader(source := Counting(data))
    source.reads.clear()
    np.testing.assert_array_equal(r2.read_rows("y", 1, 3), np.ones(2))  # alone: the member only
    assert source.reads == [(where["data"][1], where["central"][0] - where["data"][1])]


def test_open_reads_the_directory_and_the_members_heads_only():
    layers = {f"layer{i}": np.full((256, 256), i, "f4") for i in range(4)}
    data, where = build_zip([(f"{name}.npy", npy(a), 0) for name, a in layers.items()])
    source = Counting(data)
    r = NpzReader(source)
    assert list(r) == list(layers)
    # The first read, the end (which holds this directory), then each member's local header and
    # .npy header in one read (the first member's is in the first read).
    assert source.reads == [(0, FIRST_READ), (len(data) - 4096, 4096)] + [
        (at, 30 + len("layer0.npy") + NPY_HEAD_BYTES + LOCAL_EXTRA_SLACK_BYTES)
        for at in where["local"][1:]]


def test_a_source_that_takes_concurrent_reads_gets_the_members_heads_several_at_once():
    # A URL's source (each read a round trip): the heads are read 4 at a time, as TypeScript's
    # reader reads them; a local file's one after another (the test above).
    import threading

    layers = {f"layer{i}": np.full((256, 256), i, "f4") for i in range(8)}
    data, where = build_zip([(f"{name}.npy", npy(a), 0) for name, a in layers.items()])
    met = threading.Barrier(2, timeout=30)  # the first two heads' reads must be in flight at once

    class Concurrent(Counting):
        concurrent_reads = True

        def read(self, offset, length):
            if offset in where["local"][1:3]:
                met.wait()  # BrokenBarrierError unless the other one is being read meanwhile
            return super().read(offset, length)

    source = Concurrent(data)
    r = NpzReader(source)
    assert list(r) == list(layers)
    assert sorted(source.reads[2:]) == [
        (at, 30 + len("layer0.npy") + NPY_HEAD_BYTES + LOCAL_EXTRA_SLACK_BYTES)
        for at in where["local"][1:]]
    np.testing.assert_array_equal(r["layer5"], layers["layer5"])


def test_a_member_read_after_close_is_CLOSED(tmp_path):
    np.savez(tmp_path / "a.npz", x=np.arange(3))
    r = ndpack.open(tmp_path / "a.npz")
    r.close()
    expect("CLOSED", lambda: r.read("x"))
    expect("NOT_FOUND", lambda: r.info("y"))


def test_a_remote_npz_costs_its_directory_and_heads_then_each_members_bytes(nginx):
    layers = {f"layer{i}": np.full((256, 256), i, "f4") for i in range(4)}
    np.savez(nginx.root / "remote.npz", **layers)
    np.savez_compressed(nginx.root / "remote-compressed.npz", **layers)
    with zipfile.ZipFile(nginx.root / "remote.npz") as z:
        infos = z.infolist()
    size = (nginx.root / "remote.npz").stat().st_size
    nginx.clear()
    r = ndpack.open(nginx.url("remote.npz"))
    assert list(r) == list(layers)
    # The first read, the end record's and directory's, one read per member past the first read
    # (its local header, as long as the central record says, and its .npy header).
    heads = [30 + len(i.filename) + len(i.extra) + NPY_HEAD_BYTES + LOCAL_EXTRA_SLACK_BYTES
             for i in infos[1:]]
    assert [row[0] for row in nginx.lines()] == ["HEAD"] + ["GET"] * (2 + len(heads))
    assert nginx.transferred("remote.npz") == FIRST_READ + 4096 + sum(heads) < size // 10
    nginx.clear()
    np.testing.assert_array_equal(r.read("layer2"), layers["layer2"])
    assert nginx.transferred("remote.npz") == 128 + 256 * 256 * 4  # the member: .npy header, array
    nginx.clear()
    np.testing.assert_array_equal(r.read("layer3", verify=False), layers["layer3"])
    assert nginx.transferred("remote.npz") == 256 * 256 * 4
    nginx.clear()
    np.testing.assert_array_equal(r.read_rows("layer1", 100, 110), layers["layer1"][100:110])
    assert nginx.transferred("remote.npz") == 10 * 256 * 4
    r.close()
    with ndpack.open(nginx.url("remote-compressed.npz")) as r:
        nginx.clear()
        np.testing.assert_array_equal(r.read("layer1"), layers["layer1"])
        assert nginx.transferred("remote-compressed.npz") == r.info("layer1").byte_length


# --------------------------------------------------------------------------------------------------
# Dask, xarray, pickling
# --------------------------------------------------------------------------------------------------

def test_from_ndpack_over_a_npz_checks_each_members_crc(tmp_path):
    array = np.arange(4000, dtype="f8").reshape(1000, 4)
    np.savez(tmp_path / "a.npz", x=array, y=np.ones(3))
    x = nd.from_ndpack(str(tmp_path / "a.npz"), "x", chunks=100)
    assert x.chunks[0] == (100,) * 10
    with dask.config.set(scheduler="threads"):
        np.testing.assert_array_equal(x.sum(axis=0).compute(), array.sum(axis=0))
    np.savez_compressed(tmp_path / "c.npz", x=array)
    c = nd.from_ndpack(str(tmp_path / "c.npz"), "x", chunks=100)
    assert c.chunks[0] == (1000,)  # deflated: one chunk, read whole
    np.testing.assert_array_equal(c.compute(scheduler="threads"), array)
    data = bytearray((tmp_path / "a.npz").read_bytes())
    with ndpack.open(tmp_path / "a.npz") as r:
        data[r.info("x").start + 8 * 1543 + 7] ^= 0x10  # an exponent bit of x[385, 3]
    (tmp_path / "a.npz").write_bytes(bytes(data))
    damaged = nd.from_ndpack(str(tmp_path / "a.npz"), "x", chunks=100)
    expect("CHECKSUM", lambda: damaged.sum().compute(scheduler="threads"))
    unchecked = nd.from_ndpack(str(tmp_path / "a.npz"), "x", chunks=100, verify=False)
    assert unchecked.sum().compute(scheduler="threads") != array.sum()


def test_xarray_opens_a_npz_with_its_metadata(tmp_path):
    (tmp_path / "m.npz").write_bytes(bytes(ndpack_npz(8)))
    assert xr.backends.plugins.guess_engine(str(tmp_path / "m.npz")) == "ndpack"
    with xr.open_dataset(tmp_path / "m.npz", engine="ndpack") as ds:
        assert ds.attrs == NDPACK_JSON["metadata"]
        np.testing.assert_array_equal(ds["bf"].values, VOIDS["bf"])
    np.savez(tmp_path / "d.npz", x=np.arange(100.0))
    data = bytearray((tmp_path / "d.npz").read_bytes())
    with ndpack.open(tmp_path / "d.npz") as r:
        data[r.info("x").start + 7] ^= 1
    (tmp_path / "d.npz").write_bytes(bytes(data))
    with xr.open_dataset(tmp_path / "d.npz", engine="ndpack") as ds:
        expect("CHECKSUM", lambda: ds["x"][5].values)


def test_a_npz_reader_travels_by_pickle_with_its_options(tmp_path):
    (tmp_path / "m.npz").write_bytes(bytes(ndpack_npz(ndpack_json=None)))
    void_dtype = {"bf": "bfloat16", "f8": "float8_e4m3fn", "e5": "float8_e5m2"}
    reader = ndpack.open(tmp_path / "m.npz", void_dtype=void_dtype, max_dims=8)
    again = pickle.loads(pickle.dumps(reader))
    assert isinstance(again, NpzReader) and again._limits["max_dims"] == 8
    np.testing.assert_array_equal(again["bf"], VOIDS["bf"])
    again.close()
    reader.close()


# --------------------------------------------------------------------------------------------------
# Refusals, each with its code (test/npz-python-parity.test.ts: the same as TypeScript's)
# --------------------------------------------------------------------------------------------------

def two_members(method: int = 0, zip64: bool = False) -> tuple[bytearray, dict]:
    return build_zip([("a.npy", npy(np.arange(100, dtype="<i4")), method),
                      ("b.npy", npy(np.ones(3)), method)], zip64=zip64)


@pytest.mark.parametrize("method", [0, 8])
def test_a_damaged_member_is_CHECKSUM_or_CODEC_ERROR_when_read_and_verified(method):
    data, where = two_members(method)
    data[where["data"][0] + 150] ^= 0x10
    r = open_bytes(data)
    error = expect("CHECKSUM" if method == 0 else "CODEC_ERROR", lambda: r.read("a"))
    assert error.array == "a"
    assert [(v["name"], v["error"] and v["error"]["code"]) for v in r.verify()] == \
        [("a", error.code), ("b", None)]
    np.testing.assert_array_equal(r.read("b"), np.ones(3))
    if method == 0:  # unverified, the damaged bytes come back: what verify=False means
        assert r.read("a", verify=False)[5] != 5


def test_a_damaged_deflated_member_that_inflates_is_CHECKSUM():
    data, where = two_members(8)
    struct.pack_into("<I", data, where["central"][0] + 16, zlib.crc32(b"something else"))
    r = open_bytes(data)
    expect("CHECKSUM", lambda: r.read("a"))
    np.testing.assert_array_equal(r.read("a", verify=False), np.arange(100, dtype="<i4"))


def test_the_end_of_the_zip_is_its_end_record():
    data, _ = two_members()
    expect("TRUNCATED", lambda: open_bytes(data[:-1]))
    expect("TRUNCATED", lambda: open_bytes(data[:100]))
    expect("TRAILING_BYTES", lambda: open_bytes(data + b"\0"))
    expect("BAD_MAGIC", lambda: open_bytes(b"PK\x03\x05" + data[4:]))
    expect("TRUNCATED", lambda: open_bytes(data[:10]))  # shorter than an end record


def test_the_end_records_are_checked():
    data, where = two_members()
    struct.pack_into("<H", data, where["end"] + 4, 1)
    expect("HEADER_INVALID", lambda: open_bytes(data))  # multi-volume
    data, where = two_members()
    struct.pack_into("<I", data, where["end"] + 16, 0xFFFFFFFF)
    expect("HEADER_INVALID", lambda: open_bytes(data))  # defers to a ZIP64 record it lacks
    data, where = two_members()
    struct.pack_into("<I", data, where["end"] + 16, where["cd"] + 1)
    expect("OUT_OF_BOUNDS", lambda: open_bytes(data))  # the directory runs into the end record
    data, where = two_members(zip64=True)
    struct.pack_into("<Q", data, where["end"] - 12, where["zip64"] + 1)
    expect("OUT_OF_BOUNDS", lambda: open_bytes(data))  # the ZIP64 record runs into its locator
    data, where = two_members(zip64=True)
    struct.pack_into("<Q", data, where["end"] - 12, where["zip64"] - 1)
    expect("HEADER_INVALID", lambda: open_bytes(data))  # no ZIP64 end record where it points
    data, where = two_members(zip64=True)
    struct.pack_into("<Q", data, where["zip64"] + 48, 1 << 60)
    expect("OUT_OF_BOUNDS", lambda: open_bytes(data))  # past 2^53-1


def test_the_member_count_and_the_directory_size_are_checked():
    data, where = two_members()
    expect("LIMIT_EXCEEDED", lambda: open_bytes(data, max_arrays=1))
    assert len(open_bytes(data, max_arrays=2)) == 2
    struct.pack_into("<HH", data, where["end"] + 8, 3, 3)
    expect("SIZE_MISMATCH", lambda: open_bytes(data))  # three records cannot fit
    data, where = two_members()
    struct.pack_into("<HH", data, where["end"] + 8, 1, 1)
    expect("SIZE_MISMATCH", lambda: open_bytes(data))  # one record takes less than the directory


def test_each_central_record_is_checked():
    data, where = two_members()
    data[where["central"][1]] ^= 1
    expect("HEADER_INVALID", lambda: open_bytes(data))  # no record signature
    data, where = two_members()
    struct.pack_into("<H", data, where["central"][0] + 8, 1)
    expect("UNSUPPORTED_CODEC", lambda: open_bytes(data))  # encrypted
    data, where = two_members()
    struct.pack_into("<H", data, where["central"][0] + 10, 12)
    expect("UNSUPPORTED_CODEC", lambda: open_bytes(data))  # bzip2
    data, where = two_members()
    struct.pack_into("<I", data, where["central"][0] + 24, 7)
    expect("SIZE_MISMATCH", lambda: open_bytes(data))  # stored, with two sizes
    data, where = two_members()
    struct.pack_into("<I", data, where["central"][1] + 24, 0xFFFFFFFF)
    expect("HEADER_INVALID", lambda: open_bytes(data))  # defers to a ZIP64 field it lacks


def test_members_must_lie_before_the_directory_apart_from_each_other():
    data, where = two_members()
    struct.pack_into("<I", data, where["central"][1] + 42, where["cd"] - 10)
    assert expect("OUT_OF_BOUNDS", lambda: open_bytes(data)).array == "b.npy"  # past the end
    data, where = two_members()
    size = where["local"][1] - where["data"][0] + 10  # member a's data reaching into b's header
    struct.pack_into("<II", data, where["central"][0] + 20, size, size)
    expect("OVERLAP", lambda: open_bytes(data))
    data, where = build_zip([("a.npy", npy(np.arange(3)), 0), ("a.npy", npy(np.arange(3)), 0)])
    expect("DUPLICATE_NAME", lambda: open_bytes(data))


def test_a_local_header_must_agree_with_its_central_record():
    data, where = two_members()
    data[where["local"][1] + 30] = ord("c")  # "c.npy" where the directory says "b.npy"
    assert expect("HEADER_INVALID", lambda: open_bytes(data)).array == "b.npy"
    data, where = two_members()
    data[where["local"][1]] ^= 1
    expect("HEADER_INVALID", lambda: open_bytes(data))  # no local header signature
    data, where = two_members()
    struct.pack_into("<H", data, where["local"][1] + 28, 1000)  # an extra field past the directory
    expect("OUT_OF_BOUNDS", lambda: open_bytes(data))


def test_a_deflate_bomb_claiming_a_small_size_is_CODEC_ERROR_never_inflated_past_it():
    header = io.BytesIO()
    npf.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False, "shape": (100,)})
    content = header.getvalue() + bytes(50_000_000)  # its header says 100 bytes: 50 MB inflate
    data, where = build_zip([("a.npy", content, 8)])
    struct.pack_into("<I", data, where["local"][0] + 22, 228)
    struct.pack_into("<I", data, where["central"][0] + 24, 228)
    r = open_bytes(data)
    assert r.info("a").shape == (100,)
    tracemalloc.start()
    try:
        assert "more than the 228 bytes" in expect("CODEC_ERROR", lambda: r.read("a")).message
        assert r.verify()[0]["error"]["code"] == "CODEC_ERROR"
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # One piece of output past the 228 bytes (zlib's buffer grows to it by doubling), not 50 MB.
    assert peak < 8 * INFLATE_PIECE


def savez_compressed(**arrays) -> bytes:
    out = io.BytesIO()
    np.savez_compressed(out, **arrays)
    return out.getvalue()


def count_inflated(monkeypatch) -> dict:
    """``{"bytes": n}``: the bytes zlib's inflaters make from here on, whichever module makes
    them (through ``zlib.decompressobj``)."""
    counts = {"bytes": 0}
    inflater = zlib.decompressobj

    class Counted:
        def __init__(self, *args):
            self._inflater = inflater(*args)

        def decompress(self, data, max_length=0):
            out = self._inflater.decompress(data, max_length)
            counts["bytes"] += len(out)
            return out

        def __getattr__(self, name):
            return getattr(self._inflater, name)

    monkeypatch.setattr(zlib, "decompressobj", Counted)
    return counts


def test_opening_inflates_each_deflated_members_npy_header_only(monkeypatch):
    # Zeros deflate about 1000 to 1: the 4 KiB read for each member's head inflated to 4 MiB, 200
    # MiB for these 50 members, before inflating stopped at the head.
    data = savez_compressed(**{f"z{i}": np.zeros(1 << 20, "f4") for i in range(50)})
    inflated = count_inflated(monkeypatch)
    r = open_bytes(data)
    assert len(r) == 50
    assert inflated["bytes"] <= 50 * NPY_HEAD_BYTES
    np.testing.assert_array_equal(r.read("z7"), np.zeros(1 << 20, "f4"))


def test_damage_after_a_deflated_members_npy_header_is_CODEC_ERROR_when_read_not_at_open():
    content = npy(np.zeros(1_000_000, "u1"))
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    # An invalid block type after all of the content, in the first bytes read for the head.
    stream = compressor.compress(content) + compressor.flush(zlib.Z_FULL_FLUSH) + b"\x07"
    assert len(stream) < INFLATE_STEP
    data, _ = build_zip([("a.npy", content, 8, stream), ("b.npy", npy(np.ones(3)), 8)])
    r = open_bytes(data)
    assert r.info("a").shape == (1_000_000,)
    expect("CODEC_ERROR", lambda: r.read("a"))
    assert [(v["name"], v["error"] and v["error"]["code"]) for v in r.verify()] == \
        [("a", "CODEC_ERROR"), ("b", None)]


def test_a_member_declaring_more_than_max_decoded_bytes_is_LIMIT_EXCEEDED_before_inflating():
    header = io.BytesIO()
    npf.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False,
                                        "shape": (3 << 30,)})
    content = header.getvalue() + bytes(1000)
    data, where = build_zip([("a.npy", content, 8)])
    claimed = len(header.getvalue()) + (3 << 30)
    struct.pack_into("<I", data, where["central"][0] + 24, claimed)
    r = open_bytes(data)  # the header alone is read: a 3 GiB array
    assert r.info("a").nbytes == 3 << 30
    expect("LIMIT_EXCEEDED", lambda: r.read("a"))
    # Verifying inflates the stream as it comes, keeping none of it: it ends 3 GiB too early.
    assert r.verify()[0]["error"]["code"] == "CODEC_ERROR"
    expect("LIMIT_EXCEEDED", lambda: open_bytes(data, max_decoded_bytes=100).read("a"))


def test_a_members_npy_header_is_checked_and_named():
    data, where = two_members()
    data[where["data"][1] + 6] = 9  # .npy version 9.0
    assert expect("UNSUPPORTED_VERSION", lambda: open_bytes(data)).array == "b"
    data, where = two_members()
    expect("HEADER_TOO_LARGE", lambda: open_bytes(data, max_header_bytes=100))
    data, where = build_zip([("a.npy", b"\x93NUMPY\x01\x00", 0)])
    expect("TRUNCATED", lambda: open_bytes(data))
    data, where = build_zip([("a.npy", npy(np.arange(3)) + b"\0", 0)])
    expect("TRAILING_BYTES", lambda: open_bytes(data))
    data, where = build_zip([("a.npy", npy(np.zeros((1,) * 10)), 8)])
    expect("LIMIT_EXCEEDED", lambda: open_bytes(data, max_dims=9))
    data, where = build_zip([("a.npy", b"PK not a .npy file", 8)])
    expect("BAD_MAGIC", lambda: open_bytes(data))
    data, where = build_zip([("a.npy", b"\xff" * 200, 0)])
    struct.pack_into("<B", data, where["data"][0], 0x93)
    expect("BAD_MAGIC", lambda: open_bytes(data))
    data, where = build_zip([("a.npy", npy(np.arange(3)), 8)])
    data[where["data"][0]] = 0xFF  # an invalid deflate block type, in the bytes read for the head
    expect("CODEC_ERROR", lambda: open_bytes(data))


def test_a_file_named_npz_that_is_no_zip_is_BAD_MAGIC(tmp_path):
    (tmp_path / "x.npz").write_bytes(b"not a zip at all, whatever its name")
    expect("BAD_MAGIC", lambda: ndpack.open(tmp_path / "x.npz"))


def test_an_npz_in_a_tar_is_read_one_read_at_a_time(tmp_path):
    # fsspec's tar:// (one file position) is not a source that takes concurrent reads: its
    # member heads were read by 4 threads at once, and opens failed with HEADER_INVALID.
    import tarfile

    layers = {f"layer{i}": np.full((256, 256), i, "f4") for i in range(60)}  # heads far apart
    np.savez(tmp_path / "big.npz", **layers)
    with tarfile.open(tmp_path / "a.tar", "w") as tar:
        tar.add(tmp_path / "big.npz", arcname="big.npz")
    for _ in range(10):
        with ndpack.open(f"tar://big.npz::file://{tmp_path}/a.tar") as r:
            assert list(r) == list(layers)
            np.testing.assert_array_equal(r["layer59"], layers["layer59"])


def test_member_heads_adding_up_to_more_than_is_kept_are_read_a_batch_at_a_time(tmp_path):
    # 4,000 deflated members: 24 MB of heads were read at once, the first dropped before use,
    # then each read again on its own (about 12,000 reads; TypeScript's reader did the same).
    rng = np.random.default_rng(7)
    arrays = {f"m{i}": rng.integers(0, 256, 6000, dtype="u1") for i in range(4000)}
    np.savez_compressed(tmp_path / "many.npz", **arrays)
    source = Counting((tmp_path / "many.npz").read_bytes())
    assert source.size > 16 << 20
    r = NpzReader(source)
    assert len(r) == 4000
    # The first read, the end, the directory, then batches of coalesced reads of at most 1 MiB:
    # about 2 x 24 (each head is read for its local header, then for its .npy header).
    assert len(source.reads) < 100, len(source.reads)
    assert sum(length for _, length in source.reads) < 2 * source.size
    np.testing.assert_array_equal(r["m3999"], arrays["m3999"])
