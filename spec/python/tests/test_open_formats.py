"""``ndpack.open`` of a .safetensors file (a lazy ``SafetensorsReader``, as a set's shards are read)
and of a .npy file, the format told from the file's first bytes, then its extension, as
TypeScript's ``open`` does (.npz files: test_npz.py)."""

from __future__ import annotations

import json
import pickle
import struct
import zipfile

import dask
import numpy as np
import pytest
import xarray as xr
from safetensors.numpy import load_file, save_file

import ndpack
import ndpack.dask as nd
from ndpack import NdpackError, SafetensorsReader
from ndpack._reader import FIRST_READ


@pytest.fixture
def checkpoint(tmp_path):
    """A .safetensors file written by safetensors itself, and its tensors."""
    rng = np.random.default_rng(5)
    tensors = {"embed.weight": rng.standard_normal((64, 32)).astype("f4"),
               "lm_head.bias": np.arange(7, dtype="i8"), "step": np.array(3, "u2")}
    path = tmp_path / "model.safetensors"
    save_file(tensors, str(path), metadata={"format": "np"})
    return path, tensors


def test_open_of_a_safetensors_file_reads_each_tensor_lazily(checkpoint):
    path, tensors = checkpoint
    with ndpack.open(path) as r:
        assert isinstance(r, SafetensorsReader) and repr(r).startswith("<ndpack.SafetensorsReader ")
        assert sorted(r) == sorted(tensors) and r.metadata == {"format": "np"}
        assert r.info("embed.weight").shape == (64, 32) and r.info("step").dtype == "uint16"
        for name, expected in load_file(str(path)).items():
            got = r.read(name)
            assert got.dtype == expected.dtype
            np.testing.assert_array_equal(got, expected)
        np.testing.assert_array_equal(r.read_rows("embed.weight", 10, 13),
                                      tensors["embed.weight"][10:13])
        assert [report["ok"] for report in r.verify()] == [True] * 3
    with pytest.raises(NdpackError) as ex:
        r.read("step")
    assert ex.value.code == "CLOSED"


def test_the_format_is_told_by_the_first_bytes_whatever_the_name(checkpoint, tmp_path):
    path, tensors = checkpoint
    unnamed = tmp_path / "weights"
    unnamed.write_bytes(path.read_bytes())
    with ndpack.open(unnamed) as r:
        assert isinstance(r, SafetensorsReader)
        np.testing.assert_array_equal(r.read("lm_head.bias"), tensors["lm_head.bias"])
    misnamed = tmp_path / "really-ndpack.safetensors"  # (ndpack.save refuses such a name)
    misnamed.write_bytes(ndpack.dumps({"x": np.arange(5)}))
    with ndpack.open(misnamed) as r:
        assert type(r) is ndpack.Reader
        np.testing.assert_array_equal(r.read("x"), np.arange(5))


def test_a_damaged_file_gets_the_error_of_the_format_its_extension_names(tmp_path):
    """Bytes no format recognizes: the extension chooses whose checks report them (TypeScript's
    ``open``); without one, BAD_MAGIC."""
    cases = {"empty.safetensors": (b"", "TRUNCATED"), "empty.ndp": (b"", "TRUNCATED"),
             "empty.NDPACK": (b"", "TRUNCATED"), "empty": (b"", "BAD_MAGIC"),
             "short.safetensors": (struct.pack("<Q", 2), "TRUNCATED"),
             "text.safetensors": (b"hello, world", "HEADER_TOO_LARGE"),
             "text.ndp": (b"hello, world", "BAD_MAGIC"), "text.bin": (b"hello, world", "BAD_MAGIC")}
    for name, (data, code) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(NdpackError) as ex:
            ndpack.open(tmp_path / name)
        assert ex.value.code == code, name


def test_npz_files_and_other_zips_are_read_by_the_npz_reader(tmp_path):
    np.savez(tmp_path / "b.npz", x=np.arange(3))
    with ndpack.open(tmp_path / "b.npz") as r:
        assert isinstance(r, ndpack.NpzReader) and list(r) == ["x"]
        np.testing.assert_array_equal(r.read("x"), np.arange(3))
    with zipfile.ZipFile(tmp_path / "c.zip", "w") as z:  # any zip: its .npy members are arrays
        z.writestr("x", b"1")
    with ndpack.open(tmp_path / "c.zip") as r:
        assert isinstance(r, ndpack.NpzReader) and list(r) == [] and r.ignored == ["x"]


@pytest.mark.parametrize("array", [np.arange(24, dtype="<f4").reshape(6, 4), np.arange(5, dtype=">i8"),
                                   np.asfortranarray(np.arange(6.0).reshape(2, 3)), np.array(3, "u2"),
                                   np.array([1 + 2j], "c8"), np.zeros((0, 2), "?")])
def test_a_npy_file_reads_lazily_as_numpy_wrote_it(tmp_path, array):
    np.save(tmp_path / "a.npy", array)
    with ndpack.open(tmp_path / "a.npy") as r:
        assert isinstance(r, ndpack.NpyReader) and list(r) == ["array"] and r.metadata == {}
        info = r.info("array")
        # np.save's rule: Fortran order when the array is F- and not C-contiguous.
        fortran = array.flags.f_contiguous and not array.flags.c_contiguous
        assert info.shape == array.shape and info.order == ("F" if fortran else "C")
        got = r.read("array")
        assert got.dtype == array.dtype
        np.testing.assert_array_equal(got, array)
        if array.ndim and info.order == "C":
            np.testing.assert_array_equal(r.read_rows("array", 1, 3), array[1:3])
        assert [v["ok"] for v in r.verify()] == [True]
    assert ndpack.verify(tmp_path / "a.npy")["ok"]


def test_a_npy_file_through_dask_xarray_and_a_url(tmp_path, nginx):
    array = np.arange(4000, dtype="f8").reshape(1000, 4)
    np.save(tmp_path / "big.npy", array)
    x = nd.from_ndpack(str(tmp_path / "big.npy"), "array", chunks=100)
    assert x.chunks[0] == (100,) * 10
    np.testing.assert_array_equal(x.sum(axis=0).compute(scheduler="threads"), array.sum(axis=0))
    assert xr.backends.plugins.guess_engine(str(tmp_path / "big.npy")) == "ndpack"
    with xr.open_dataset(tmp_path / "big.npy", engine="ndpack") as ds:
        np.testing.assert_array_equal(ds["array"][7].values, array[7])
    np.save(nginx.root / "remote.npy", array)
    nginx.clear()
    with ndpack.open(nginx.url("remote.npy")) as r:
        assert [row[0] for row in nginx.lines()] == ["HEAD", "GET"]
        nginx.clear()
        np.testing.assert_array_equal(r.read_rows("array", 10, 20), array[10:20])
        assert nginx.transferred("remote.npy") == 10 * 4 * 8  # those rows' bytes only


def test_a_null_safetensors_metadata_is_no_metadata_as_safetensors_reads_it(tmp_path):
    text = b'{"__metadata__":null,"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'
    path = tmp_path / "null-metadata.safetensors"
    path.write_bytes(struct.pack("<Q", len(text)) + text + np.float32([1, 2]).tobytes())
    with ndpack.open(path) as r:
        assert r.metadata == {}
        np.testing.assert_array_equal(r.read("a"), load_file(str(path))["a"])


def test_a_hostile_safetensors_header_through_open_is_its_typed_error(tmp_path):
    header = {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
              "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}
    text = json.dumps(header).encode()
    (tmp_path / "overlap.safetensors").write_bytes(struct.pack("<Q", len(text)) + text + bytes(12))
    with pytest.raises(NdpackError) as ex:
        ndpack.open(tmp_path / "overlap.safetensors")
    assert ex.value.code == "OVERLAP"


def test_a_safetensors_reader_travels_to_dask_workers_and_xarray(checkpoint):
    path, tensors = checkpoint
    reader = ndpack.open(path)
    again = pickle.loads(pickle.dumps(reader))
    assert isinstance(again, SafetensorsReader)
    np.testing.assert_array_equal(again.read("embed.weight"), tensors["embed.weight"])
    again.close()
    reader.close()
    x = nd.from_ndpack(str(path), "embed.weight", chunks=16)
    assert x.chunks == ((16, 16, 16, 16), (32,))
    with dask.config.set(scheduler="threads"):
        assert float(x.sum().compute()) == pytest.approx(float(tensors["embed.weight"].sum(dtype="f8")),
                                                       rel=1e-5)
    assert xr.backends.plugins.guess_engine(str(path)) == "ndpack"
    with xr.open_dataset(path, engine="ndpack") as ds:
        assert ds.attrs == {"format": "np"}
        np.testing.assert_array_equal(ds["embed.weight"][5].values, tensors["embed.weight"][5])


def test_a_remote_safetensors_file_transfers_its_header_then_one_tensor(nginx):
    rng = np.random.default_rng(6)
    tensors = {f"layer{i}.weight": rng.standard_normal((256, 256)).astype("f4") for i in range(4)}
    save_file(tensors, str(nginx.root / "remote.safetensors"))
    nginx.clear()
    r = ndpack.open(nginx.url("remote.safetensors"))
    assert isinstance(r, SafetensorsReader) and sorted(r) == sorted(tensors)
    assert [row[0] for row in nginx.lines()] == ["HEAD", "GET"]  # the format and header: one read
    assert nginx.transferred("remote.safetensors") == FIRST_READ
    nginx.clear()
    np.testing.assert_array_equal(r.read("layer2.weight"), tensors["layer2.weight"])
    assert nginx.transferred("remote.safetensors") == 256 * 256 * 4
    r.close()


def test_verify_of_a_safetensors_file_or_a_set_uses_their_readers(checkpoint, tmp_path):
    """ndpack.verify read every path as an ndpack file: BAD_MAGIC for what ndpack.open reads."""
    path, tensors = checkpoint
    report = ndpack.verify(path)
    assert report["ok"] and report["error"] is None
    assert sorted(a["name"] for a in report["arrays"]) == sorted(tensors)
    index = tmp_path / "s.ndp.index.json"
    ndpack.save_set(index, {"a": np.arange(100), "b": np.ones(50)}, max_shard_size=900)
    assert ndpack.verify(index)["ok"]
    with ndpack.open(index) as s:
        shard, start = tmp_path / s.shard_of("b"), s.reader_of("b").info("b").start
    data = bytearray(shard.read_bytes())
    data[start + 3] ^= 1
    shard.write_bytes(bytes(data))
    report = ndpack.verify(index)
    assert not report["ok"] and report["error"] is None
    assert [(a["name"], a["ok"], a["error"] and a["error"]["code"]) for a in report["arrays"]] == \
        [("a", True, None), ("b", False, "CHECKSUM")]
    (tmp_path / "bad.ndp.index.json").write_text("{}")
    assert ndpack.verify(tmp_path / "bad.ndp.index.json")["error"]["code"] == "SET_INVALID"
    with pytest.raises(NdpackError) as ex:
        ndpack.verify(tmp_path / "missing.ndp.index.json")
    assert ex.value.code == "IO_ERROR"


def test_a_damaged_safetensors_file_gets_the_same_code_from_verify_as_from_open(checkpoint, tmp_path):
    path, _ = checkpoint
    data = path.read_bytes()
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(data[:-3])
    with pytest.raises(NdpackError) as ex:
        ndpack.open(cut)
    assert ex.value.code == "TRUNCATED"
    assert ndpack.verify(cut)["error"]["code"] == "TRUNCATED"  # was BAD_MAGIC: not an ndpack file
    long = tmp_path / "long.safetensors"
    long.write_bytes(struct.pack("<Q", 1 << 40) + data[8:])
    assert ndpack.verify(long)["error"]["code"] == "HEADER_TOO_LARGE"
    npz = tmp_path / "a.npz"
    np.savez(npz, a=np.arange(3))
    assert ndpack.verify(npz)["ok"]  # was BAD_MAGIC: ndpack.open read no .npz file
    npz.write_bytes(npz.read_bytes()[:-3])
    assert ndpack.verify(npz)["error"]["code"] == "TRUNCATED"


def test_a_file_is_read_as_its_first_bytes_say_whatever_its_extension(tmp_path):
    np.save(tmp_path / "x.npy", np.arange(3))
    (tmp_path / "x.safetensors").write_bytes((tmp_path / "x.npy").read_bytes())
    with ndpack.open(tmp_path / "x.safetensors") as r:
        assert isinstance(r, ndpack.NpyReader)
        np.testing.assert_array_equal(r.read("array"), np.arange(3))
    np.savez(tmp_path / "y.npz", a=np.arange(3))
    (tmp_path / "y.safetensors").write_bytes((tmp_path / "y.npz").read_bytes())
    with ndpack.open(tmp_path / "y.safetensors") as r:
        assert isinstance(r, ndpack.NpzReader)
        np.testing.assert_array_equal(r.read("a"), np.arange(3))


def test_options_are_checked_before_the_file_is_read(tmp_path):
    (tmp_path / "data.bin").write_bytes(b"not a known format")
    for options in ({"max_dpeth": 3}, {"max_depth": -1}):
        with pytest.raises(NdpackError) as ex:
            ndpack.open(tmp_path / "data.bin", **options)
        assert ex.value.code == "INVALID_ARGUMENT"


def test_the_extension_of_a_url_is_its_paths_not_its_querys(nginx, checkpoint):
    path, _ = checkpoint
    # Cut inside its header: no longer recognized by its first bytes, so named by its extension.
    (nginx.root / "cut.safetensors").write_bytes(path.read_bytes()[:40])
    for suffix in ("", "?X-Amz-Signature=abc"):
        with pytest.raises(NdpackError) as ex:
            ndpack.open(nginx.url("cut.safetensors") + suffix)
        assert ex.value.code == "TRUNCATED", suffix
