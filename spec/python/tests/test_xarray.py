"""The xarray backend: xr.open_dataset(path, engine="ndpack"), lazy and verified."""

from __future__ import annotations

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
    read, inflate = _io.FileSource.read, reference._inflate

    def counted_read(self, offset, length):
        out = read(self, offset, length)
        counts["bytes"] += len(out)
        return out

    def counted_inflate(*args):
        counts["inflated"] += 1
        return inflate(*args)

    monkeypatch.setattr(_io.FileSource, "read", counted_read)
    monkeypatch.setattr(reference, "_inflate", counted_inflate)
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
