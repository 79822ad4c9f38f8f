"""The xarray backend: xr.open_dataset(path, engine="ndpack"), lazy and verified."""

from __future__ import annotations

import gc
import io
import mmap
import multiprocessing
import os
import pickle
from concurrent.futures import ProcessPoolExecutor

import dask
import numpy as np
import pytest
import xarray as xr

import ndpack
from ndpack import NdpackError


def test_open_dataset_gives_lazy_variables_and_the_metadata(tmp_path):
    rng = np.random.default_rng(2)
    arrays = {"t": rng.standard_normal((100, 6)).astype("f4"), "n": np.int64(4)}
    ndpack.save(tmp_path / "d.ndp", arrays, metadata={"units": "K"})
    with xr.open_dataset(tmp_path / "d.ndp", engine="ndpack") as ds:
        assert ds.attrs == {"units": "K"}
        assert ds["t"].dims == ("t_0", "t_1") and ds["t"].dtype == np.float32
        np.testing.assert_array_equal(ds["t"][10:20, 2].values, arrays["t"][10:20, 2])
        np.testing.assert_array_equal(ds["t"][::7].values, arrays["t"][::7])
        np.testing.assert_array_equal(ds["t"].isel(t_0=5).values, arrays["t"][5])
        assert int(ds["n"]) == 4


def test_open_dataset_of_a_set_and_drop_variables(tmp_path):
    index = tmp_path / "s.ndp.index.json"
    ndpack.save_set(index, {"a": np.arange(10), "b": np.ones(3)}, max_shard_size=8)
    with xr.open_dataset(index, engine="ndpack", drop_variables=["b"]) as ds:
        assert list(ds.data_vars) == ["a"]
        np.testing.assert_array_equal(ds["a"].values, np.arange(10))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts /proc/self/fd")
def test_open_dataset_of_a_set_with_a_missing_shard_leaves_no_shard_open(tmp_path):
    index = tmp_path / "m.ndp.index.json"
    ndpack.save_set(index, {"x": np.arange(10.0), "y": np.ones(3), "z": np.ones(4)},
                    max_shard_size=1)
    (tmp_path / sorted(p.name for p in tmp_path.glob("*.ndp"))[-1]).unlink()
    gc.collect()
    before = len(os.listdir("/proc/self/fd"))
    with pytest.raises(NdpackError) as info:
        xr.open_dataset(index, engine="ndpack")
    assert info.value.code == "IO_ERROR"
    # was 2 while the error lived: the shards opened before the missing one, held by its traceback
    assert len(os.listdir("/proc/self/fd")) <= before


def test_a_damaged_array_read_through_xarray_is_CHECKSUM(tmp_path):
    path = tmp_path / "d.ndp"
    ndpack.save(path, {"t": np.arange(1000.0)})
    data = bytearray(path.read_bytes())
    data[ndpack.open(path).info("t").start + 4000] ^= 1
    path.write_bytes(bytes(data))
    with xr.open_dataset(path, engine="ndpack") as ds:
        with pytest.raises(NdpackError) as info:
            ds["t"][:10].values  # rows without the damage: the array is checked first
    assert info.value.code == "CHECKSUM"


def count_reads(monkeypatch):
    """The bytes read through ndpack's local file sources, and the payloads inflated."""
    from ndpack import _io, reference

    counts = {"bytes": 0, "inflated": 0}
    read, inflate = _io.FileSource.read, reference.inflate

    def counted_read(self, offset, length):
        out = read(self, offset, length)
        counts["bytes"] += len(out)
        return out

    def counted_inflate(*args):
        counts["inflated"] += 1
        return inflate(*args)

    monkeypatch.setattr(_io.FileSource, "read", counted_read)
    monkeypatch.setattr(reference, "inflate", counted_inflate)
    return counts


@pytest.mark.parametrize("codec", ["deflate", "none"])
def test_open_dataset_reads_the_header_only_and_the_first_access_inflates_once(
        tmp_path, monkeypatch, codec):
    path = tmp_path / "z.ndp"
    z = np.arange(400_000, dtype="f8").reshape(4000, 100) % 7  # 3.2 MB decoded
    f = np.asfortranarray(np.arange(60.0).reshape(10, 6))
    ndpack.save(path, {"z": z, "f": f, "s": np.float32(2)}, codec=codec)
    counts = count_reads(monkeypatch)
    with xr.open_dataset(path, engine="ndpack") as ds:
        # Dtypes from the header: no payload read (the first read, 64 KiB at most, is the head).
        assert counts == {"bytes": min(path.stat().st_size, 65536), "inflated": 0}
        assert (ds["z"].dtype, ds["f"].dtype, ds["s"].dtype) == ("f8", "f8", "f4")
        np.testing.assert_array_equal(ds["z"][10:12].values, z[10:12])
        # Verified by its record (CRC-32 and padding), not by decoding it: one inflate, the read's.
        assert counts["inflated"] == (1 if codec == "deflate" else 0)
        np.testing.assert_array_equal(ds["f"].values, f)
        assert float(ds["s"]) == 2.0


def test_a_damaged_compressed_array_read_through_xarray_is_CHECKSUM(tmp_path):
    path = tmp_path / "d.ndp"
    ndpack.save(path, {"t": np.arange(1000.0) % 3}, codec="deflate")
    data = bytearray(path.read_bytes())
    data[ndpack.open(path).info("t").start + 10] ^= 1
    path.write_bytes(bytes(data))
    with xr.open_dataset(path, engine="ndpack") as ds:
        with pytest.raises(NdpackError) as info:
            ds["t"][:10].values
    assert info.value.code == "CHECKSUM"


@pytest.fixture(scope="module")
def process_pool():
    """One pool of worker processes (spawned, as Dask's processes scheduler does) for the module."""
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        yield pool


def write(kind: str, folder, arrays: dict):
    """``arrays`` written as an ndpack file, a .safetensors file or a set; the path to open."""
    if kind == "ndp":
        ndpack.save(folder / "d.ndp", arrays)
        return folder / "d.ndp"
    if kind == "safetensors":
        from safetensors.numpy import save_file
        save_file(arrays, str(folder / "d.safetensors"))
        return folder / "d.safetensors"
    ndpack.save_set(folder / "d.ndp.index.json", arrays, max_shard_size=400)
    return folder / "d.ndp.index.json"


@pytest.mark.parametrize("kind", ["ndp", "safetensors", "set"])
def test_a_dataset_pickles_and_computes_on_dasks_processes_scheduler(tmp_path, kind, process_pool):
    # TypeError before: each array held a threading.Lock, which does not pickle.
    arrays = {"x": np.arange(120, dtype="f4").reshape(40, 3), "y": np.arange(50, dtype="i8")}
    path = write(kind, tmp_path, arrays)
    with xr.open_dataset(path, engine="ndpack", chunks={"x_0": 7}) as ds:
        copy = pickle.loads(pickle.dumps(ds))
        np.testing.assert_array_equal(copy["x"][5:9].values, arrays["x"][5:9])
        np.testing.assert_array_equal(copy["y"].values, arrays["y"])
        got = dask.compute(ds["x"].sum(dim="x_0"), ds["x"][10:30:3], ds["y"].max(),
                           scheduler="processes", pool=process_pool)
        np.testing.assert_array_equal(got[0].values, arrays["x"].sum(axis=0))
        np.testing.assert_array_equal(got[1].values, arrays["x"][10:30:3])
        assert int(got[2]) == 49
        copy.close()


def test_a_damaged_array_computed_on_dasks_processes_scheduler_is_CHECKSUM(tmp_path, process_pool):
    path = tmp_path / "d.ndp"
    ndpack.save(path, {"t": np.arange(1000.0)})
    data = bytearray(path.read_bytes())
    data[ndpack.open(path).info("t").start + 4000] ^= 1
    path.write_bytes(bytes(data))
    with xr.open_dataset(path, engine="ndpack", chunks={"t_0": 100}) as ds:
        with pytest.raises(NdpackError) as info:
            ds["t"][:10].compute(scheduler="processes", pool=process_pool)
    assert info.value.code == "CHECKSUM"


def test_a_dataset_unpickled_after_its_file_changed_is_FILE_CHANGED(tmp_path):
    path = tmp_path / "d.ndp"
    ndpack.save(path, {"t": np.arange(10.0)})
    with xr.open_dataset(path, engine="ndpack") as ds:
        pickled = pickle.dumps(ds)
        ndpack.save(path, {"t": np.arange(12.0)})  # another file under the name
        with pytest.raises(NdpackError) as info:
            pickle.loads(pickled)
    assert info.value.code == "FILE_CHANGED"


def test_dimension_names_are_no_arrays_name(tmp_path):
    # An array named like another's dimension became that dimension's coordinate (gone from
    # data_vars), or failed to open when its shape did not fit.
    arrays = {"x": np.zeros((3, 2)), "x_0": np.arange(5.0), "x_0_dim": np.ones((2, 2)),
              "t": np.arange(4.0)}
    ndpack.save(tmp_path / "d.ndp", arrays)
    with xr.open_dataset(tmp_path / "d.ndp", engine="ndpack") as ds:
        assert list(ds.data_vars) == list(arrays) and not ds.coords
        assert ds["x"].dims == ("x_0_dim_dim", "x_1")
        assert ds["x_0"].dims == ("x_0_0",) and ds["x_0_dim"].dims == ("x_0_dim_0", "x_0_dim_1")
        assert ds["t"].dims == ("t_0",)  # no collision: <name>_<axis>, as always
        for name, a in arrays.items():
            np.testing.assert_array_equal(ds[name].values, a)
    # The names do not depend on the arrays dropped.
    with xr.open_dataset(tmp_path / "d.ndp", engine="ndpack", drop_variables=["x_0"]) as ds:
        assert ds["x"].dims == ("x_0_dim_dim", "x_1")


def test_copies_of_an_array_in_one_process_check_its_record_once(tmp_path, monkeypatch):
    """Dask's processes scheduler unpickles a copy of the array for every chunk task: each copy
    checking the whole record again made a computation quadratic in its chunks."""
    from ndpack._reader import Reader
    checks = []
    check = Reader._verify_record
    monkeypatch.setattr(Reader, "_verify_record", lambda self, e: (checks.append(e.name), check(self, e))[1])
    path = tmp_path / "c.ndp"
    ndpack.save(path, {"big": np.arange(4000.0).reshape(1000, 4)})
    with xr.open_dataset(path, engine="ndpack") as ds:
        pickled = pickle.dumps(ds)
        for _ in range(5):
            copy = pickle.loads(pickled)
            np.testing.assert_array_equal(copy["big"][7].values, np.arange(28.0, 32.0))
            copy.close()
    assert checks == ["big"]


def test_a_dataset_opened_again_checks_again_a_file_rewritten_under_the_same_identity(tmp_path):
    """The per-process record of checked arrays is per dataset: a byte changed in place with the
    file's mtime restored (a rewrite within the clock's resolution) is CHECKSUM for the next
    open_dataset, as for ndpack.open."""
    path = tmp_path / "r.ndp"
    ndpack.save(path, {"a": np.arange(64.0)})
    with xr.open_dataset(path, engine="ndpack") as ds:
        np.testing.assert_array_equal(ds["a"].values, np.arange(64.0))
    before = os.stat(path)
    data = bytearray(path.read_bytes())
    data[ndpack.open(path).info("a").start + 7] ^= 0x40
    with open(path, "r+b") as fh:
        fh.write(data)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    with xr.open_dataset(path, engine="ndpack") as ds:
        with pytest.raises(NdpackError) as info:
            ds["a"].values
    assert info.value.code == "CHECKSUM"


# --------------------------------------------------------------------------------------------------
# mmap=True: rows as views of the file's memory map
# --------------------------------------------------------------------------------------------------

def memory_of(array: np.ndarray):
    """What an array's memory belongs to, through the views (arrays, memoryviews) over it."""
    while True:
        if isinstance(array, np.ndarray) and array.base is not None:
            array = array.base
        elif isinstance(array, memoryview):
            array = array.obj
        else:
            return array


@pytest.mark.parametrize("kind", ["ndp", "safetensors", "set"])
def test_mmap_gives_read_only_views_of_the_file_with_the_same_values(tmp_path, kind, process_pool):
    arrays = {"x": np.arange(120, dtype="f4").reshape(40, 3), "y": np.arange(50, dtype="i8")}
    path = write(kind, tmp_path, arrays)
    with xr.open_dataset(path, engine="ndpack", mmap=True) as ds:
        rows = ds["x"][5:9].values
        np.testing.assert_array_equal(rows, arrays["x"][5:9])
        assert not rows.flags.writeable and isinstance(memory_of(rows), mmap.mmap)
        np.testing.assert_array_equal(ds["x"][10:30:3].values, arrays["x"][10:30:3])
        np.testing.assert_array_equal(ds["x"].isel(x_0=7).values, arrays["x"][7])
        np.testing.assert_array_equal(ds["y"].values, arrays["y"])
    with xr.open_dataset(path, engine="ndpack", mmap=True, chunks={"x_0": 7}) as ds:
        got = dask.compute(ds["x"].sum(dim="x_0"), ds["y"].max(), scheduler="processes",
                           pool=process_pool)
        np.testing.assert_array_equal(got[0].values, arrays["x"].sum(axis=0))
        assert int(got[1]) == 49


def test_mmap_checks_the_record_first_and_reads_compressed_or_F_order_arrays(tmp_path):
    path = tmp_path / "d.ndp"
    f = np.asfortranarray(np.arange(12.0).reshape(3, 4))
    ndpack.save(path, {"t": np.arange(1000.0), "f": f})
    ndpack.save(tmp_path / "z.ndp", {"z": np.arange(200.0).reshape(50, 4)}, codec="deflate")
    with xr.open_dataset(tmp_path / "z.ndp", engine="ndpack", mmap=True) as ds:
        rows = ds["z"][3:5].values
        np.testing.assert_array_equal(rows, np.arange(200.0).reshape(50, 4)[3:5])
    with xr.open_dataset(path, engine="ndpack", mmap=True) as ds:
        np.testing.assert_array_equal(ds["f"][1:3].values, f[1:3])
    data = bytearray(path.read_bytes())
    data[ndpack.open(path).info("t").start + 4000] ^= 1
    path.write_bytes(bytes(data))
    with xr.open_dataset(path, engine="ndpack", mmap=True) as ds:
        with pytest.raises(NdpackError) as info:
            ds["t"][:10].values  # rows without the damage: the array is checked first
    assert info.value.code == "CHECKSUM"


def test_mmap_of_a_url_or_not_a_bool_is_INVALID_ARGUMENT(tmp_path, nginx):
    for bad in (1, "yes", None):
        with pytest.raises(NdpackError) as info:
            xr.open_dataset(tmp_path / "missing.ndp", engine="ndpack", mmap=bad)
        assert info.value.code == "INVALID_ARGUMENT" and "mmap must be True or False" in str(info.value)
    ndpack.save(nginx.root / "m.ndp", {"a": np.arange(4)})
    with pytest.raises(NdpackError) as info:
        xr.open_dataset(nginx.url("m.ndp"), engine="ndpack", mmap=True)
    assert info.value.code == "INVALID_ARGUMENT" and "not a local file" in str(info.value)


def test_xarrays_cf_decoding_options_are_taken_not_INVALID_ARGUMENT(tmp_path):
    # xarray hands a backend the decoding options its caller gives: they reached ndpack.open,
    # which refused them (INVALID_ARGUMENT: unknown option 'decode_times').
    arrays = {"t": np.arange(6, dtype="i8"), "v": np.linspace(0, 1, 5, dtype="f4")}
    ndpack.save(tmp_path / "d.ndp", arrays, metadata={"units": "days since 2000-01-01"})
    for options in ({"decode_times": False}, {"mask_and_scale": False}, {"decode_cf": False},
                    {"use_cftime": False, "decode_timedelta": False, "concat_characters": False,
                     "decode_coords": False}, {"decode_times": True, "mask_and_scale": True}):
        with xr.open_dataset(tmp_path / "d.ndp", engine="ndpack", **options) as ds:
            assert ds.attrs == {"units": "days since 2000-01-01"}
            for name, a in arrays.items():
                assert ds[name].dtype == a.dtype
                np.testing.assert_array_equal(ds[name].values, a)
    with pytest.raises(NdpackError) as info:  # an option of neither xarray nor ndpack still is
        xr.open_dataset(tmp_path / "d.ndp", engine="ndpack", decode_everything=False)
    assert info.value.code == "INVALID_ARGUMENT"


def test_drop_variables_given_one_name_as_a_str_drops_that_array_not_its_letters(tmp_path):
    # set("ab") dropped the arrays "a" and "b" and kept "ab".
    ndpack.save(tmp_path / "d.ndp", {"ab": np.arange(3), "a": np.arange(2), "b": np.arange(1)})
    with xr.open_dataset(tmp_path / "d.ndp", engine="ndpack", drop_variables="ab") as ds:
        assert list(ds.data_vars) == ["a", "b"]


def test_a_stepped_slice_reads_the_rows_it_spans_not_the_whole_array(tmp_path, monkeypatch):
    t = np.arange(4000.0).reshape(1000, 4)
    ndpack.save(tmp_path / "d.ndp", {"t": t})
    row_bytes = t.itemsize * 4
    counts = count_reads(monkeypatch)
    with xr.open_dataset(tmp_path / "d.ndp", engine="ndpack") as ds:
        ds["t"][0].values  # the first access checks the whole record
        for rows, spanned in [(slice(10, 20, 2), 9), (slice(20, 10, -2), 9), (slice(990, None, 3), 10),
                              (slice(5, 5, 2), 0), (slice(998, 0, -3), 997)]:
            counts["bytes"] = 0
            np.testing.assert_array_equal(ds["t"][rows, 1:3].values, t[rows, 1:3])
            assert counts["bytes"] == spanned * row_bytes, rows  # was 1000 rows for each


@pytest.mark.parametrize("kind", ["ndp", "safetensors", "set"])
def test_a_dataset_of_a_relative_path_unpickles_in_another_working_directory(
        tmp_path, kind, monkeypatch):
    # Its reader travelled as the path given: IO_ERROR (or another file of that name) in a
    # worker whose working directory is another.
    arrays = {"x": np.arange(120, dtype="f4").reshape(40, 3), "y": np.arange(50, dtype="i8")}
    (tmp_path / "data").mkdir()
    path = write(kind, tmp_path / "data", arrays)
    monkeypatch.chdir(tmp_path / "data")
    with xr.open_dataset(path.name, engine="ndpack") as ds:
        pickled = pickle.dumps(ds)
    monkeypatch.chdir(tmp_path)
    copy = pickle.loads(pickled)
    try:
        np.testing.assert_array_equal(copy["x"][5:9].values, arrays["x"][5:9])
        np.testing.assert_array_equal(copy["y"].values, arrays["y"])
    finally:
        copy.close()


# --------------------------------------------------------------------------------------------------
# xr.open_dataset without engine=: a file told by its extension or its first bytes
# --------------------------------------------------------------------------------------------------

def renamed(kind: str, folder, arrays: dict):
    """``arrays`` written as a file of ``kind`` ("ndp", "npy": its one array, "npz",
    "safetensors"), renamed to ``data.bin``: a name of no format's."""
    if kind in ("ndp", "safetensors"):
        written = write(kind, folder, arrays)
    elif kind == "npy":
        written = folder / "d.npy"
        np.save(written, arrays["array"])
    else:
        written = folder / "d.npz"
        np.savez(written, **arrays)
    return written.rename(folder / "data.bin")


@pytest.mark.parametrize("kind", ["ndp", "npy", "npz", "safetensors"])
def test_open_dataset_without_engine_opens_a_file_of_no_known_extension_by_its_first_bytes(
        tmp_path, kind):
    # Told by its extension only: xarray found no engine for data.bin (ValueError).
    a = np.arange(24, dtype="f4").reshape(6, 4)
    arrays = {"array": a} if kind == "npy" else {"a": a, "b": np.arange(5, dtype="i8")}
    path = renamed(kind, tmp_path, arrays)
    for location in (path, str(path)):
        with xr.open_dataset(location) as ds:
            assert set(ds.data_vars) == set(arrays)
            for name, expected in arrays.items():
                np.testing.assert_array_equal(ds[name].values, expected)


def test_guess_can_open_reads_a_local_files_first_bytes_and_says_no_without_raising(tmp_path):
    from ndpack.xarray import NdpackBackendEntrypoint
    path = renamed("ndp", tmp_path, {"a": np.arange(4.0)})
    (tmp_path / "notes").write_text("no arrays here\n" * 4)
    (tmp_path / "short").write_bytes(b"\x93NUM")  # a .npy file's magic, cut short
    (tmp_path / "folder").mkdir()
    os.mkfifo(tmp_path / "fifo")  # opened, it would wait for a writer
    (tmp_path / "empty").write_bytes(b"")
    guessed = {
        "ndpack file named data.bin": (path, True),
        "its path as a str": (str(path), True),
        "its path as bytes (an os.PathLike's)": (_BytesPath(os.fsencode(path)), True),
        "an extension without the file": (tmp_path / "missing.ndp", True),
        "a text file": (tmp_path / "notes", False),
        "a file shorter than any magic": (tmp_path / "short", False),
        "an empty file": (tmp_path / "empty", False),
        "a missing path": (tmp_path / "missing", False),
        "a directory": (tmp_path / "folder", False),
        "a FIFO": (tmp_path / "fifo", False),
        "a URL without an extension (no request)": ("http://127.0.0.1:9/data", False),
        "a file's bytes": (path.read_bytes(), False),
        "an object of no kind": (object(), False),
        "None": (None, False),
    }
    backend = NdpackBackendEntrypoint()
    assert {what: backend.guess_can_open(obj) for what, (obj, _) in guessed.items()} == \
        {what: expected for what, (_, expected) in guessed.items()}


class _BytesPath:
    """An os.PathLike whose path is bytes."""

    def __init__(self, path: bytes):
        self.path = path

    def __fspath__(self) -> bytes:
        return self.path


class _Unseekable(io.RawIOBase):
    """A binary stream that cannot seek (a pipe's, a socket's), over ``data``."""

    def __init__(self, data: bytes):
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        return self._data.readinto(buffer)


def test_guess_can_open_reads_a_file_objects_first_bytes_and_leaves_it_where_it_was(tmp_path):
    from ndpack.xarray import NdpackBackendEntrypoint
    path = renamed("ndp", tmp_path, {"a": np.arange(4.0)})
    data = path.read_bytes()
    backend = NdpackBackendEntrypoint()
    with open(path, "rb") as file:
        file.seek(7)
        assert backend.guess_can_open(file) is True
        assert file.tell() == 7 and file.read(5) == data[7:12]
        # Picked for it, the backend says what it reads instead (xarray said no engine matched).
        with pytest.raises(NdpackError) as info:
            xr.open_dataset(file)
        assert info.value.code == "INVALID_ARGUMENT" and "path or URL" in info.value.message
    memory = io.BytesIO(data)
    memory.seek(3)
    assert backend.guess_can_open(memory) is True and memory.tell() == 3
    text = io.BytesIO(b"no arrays here\n" * 4)
    text.seek(2)
    assert backend.guess_can_open(text) is False and text.tell() == 2
    with open(path) as text_mode:  # str, not bytes: no format's
        assert backend.guess_can_open(text_mode) is False and text_mode.tell() == 0
    unseekable = _Unseekable(data)
    assert backend.guess_can_open(unseekable) is False
    assert unseekable.read() == data  # nothing taken from it
