"""The package's API on local files: save/load/dumps/loads, open (lazy reads), Writer, torch."""

from __future__ import annotations

import mmap
import os
import pickle
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest
import torch

import ndpack
from ndpack import NdpackError

REPO = Path(__file__).resolve().parents[3]
RNG = np.random.default_rng(15)


def arrays():
    """The same arrays at each call: every dtype family, 0-d and empty ones."""
    rng = np.random.default_rng(15)
    return {
        "w": rng.standard_normal((64, 33)).astype("f4"),
        "ids": np.arange(1000, dtype="i8"),
        "mask": rng.integers(0, 2, (7, 5)).astype(bool),
        "scalar": np.float64(2.5),
        "half": rng.standard_normal((10, 3)).astype(ml_dtypes.bfloat16),
        "empty": np.zeros((0, 4), "u2"),
    }


def corrupt(path, at: int) -> None:
    """Flip one bit of the file at byte ``at``."""
    data = bytearray(Path(path).read_bytes())
    data[at] ^= 1
    Path(path).write_bytes(bytes(data))


def test_the_installed_package_is_tested_not_the_source_folder():
    assert Path(ndpack.__file__).resolve().parent != REPO / "spec" / "python" / "ndpack"
    assert not str(Path(ndpack.__file__).resolve()).startswith(str(REPO))


def test_save_then_load_gives_the_arrays_as_views_of_a_memory_map(tmp_path):
    path = tmp_path / "a.ndp"
    ndpack.save(path, arrays(), metadata={"step": 7, "tags": ["x"]})
    f = ndpack.load(path)
    assert f.metadata == {"step": 7, "tags": ["x"]}
    assert list(f) == list(arrays())
    for name, expected in arrays().items():
        np.testing.assert_array_equal(f[name], expected)
        assert f[name].dtype == np.asarray(expected).dtype
    w = f["w"]
    assert not w.flags.writeable
    base = w
    while not isinstance(base, mmap.mmap) and base is not None:
        base = base.base if not isinstance(base, memoryview) else base.obj
    assert isinstance(base, mmap.mmap)  # zero-copy: the array's memory is the file's map


def test_save_writes_the_bytes_of_dumps_and_loads_reads_them():
    data = ndpack.dumps(arrays(), metadata={"a": 1})
    f = ndpack.loads(data)
    np.testing.assert_array_equal(f["ids"], arrays()["ids"])


def test_save_is_atomic_no_temporary_file_left_and_a_failed_save_keeps_the_old_file(tmp_path):
    path = tmp_path / "a.ndp"
    ndpack.save(path, {"x": np.arange(3)})
    old = path.read_bytes()
    with pytest.raises(NdpackError) as info:
        ndpack.save(path, {"x": np.arange(3), "y": np.array(["text"])})  # no ndpack dtype
    assert info.value.code == "INVALID_ARGUMENT"
    assert path.read_bytes() == old
    ndpack.save(path, {"x": np.arange(4)})
    assert os.listdir(tmp_path) == ["a.ndp"]
    np.testing.assert_array_equal(ndpack.load(path)["x"], np.arange(4))


def test_save_writes_a_new_file_with_the_umask_mode(tmp_path):
    path = tmp_path / "a.ndp"
    ndpack.save(path, {"x": np.arange(3)})
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_load_of_a_url_is_INVALID_ARGUMENT():
    with pytest.raises(NdpackError) as info:
        ndpack.load("http://127.0.0.1:9/a.ndp")
    assert info.value.code == "INVALID_ARGUMENT"


def test_open_reads_lazily_keys_metadata_info_read_and_rows(tmp_path):
    path = tmp_path / "a.ndp"
    ndpack.save(path, arrays(), metadata={"m": True})
    with ndpack.open(path) as r:
        assert list(r.keys()) == list(arrays())
        assert r.metadata == {"m": True}
        info = r.info("w")
        assert (info.dtype, info.shape, info.order) == ("float32", (64, 33), "C")
        for name, expected in arrays().items():
            np.testing.assert_array_equal(r.read(name), expected)
            np.testing.assert_array_equal(r[name], expected)
        np.testing.assert_array_equal(r.read_rows("w", 5, 9), arrays()["w"][5:9])
        np.testing.assert_array_equal(r.read_rows("ids", 990), np.arange(990, 1000))
        np.testing.assert_array_equal(r.read_rows("ids", -3, None), np.arange(997, 1000))
        assert r.read_rows("w", 9, 5).shape == (0, 33)
        assert all(report["ok"] for report in r.verify())


def test_open_of_a_missing_name_is_NOT_FOUND_and_a_KeyError(tmp_path):
    path = tmp_path / "a.ndp"
    ndpack.save(path, {"x": np.arange(3)})
    r = ndpack.open(path)
    with pytest.raises(KeyError):
        r.read("nope")
    with pytest.raises(NdpackError) as info:
        r.info("nope")
    assert info.value.code == "NOT_FOUND"
    assert r.get("nope") is None


def test_read_rows_of_a_0d_array_is_INVALID_ARGUMENT(tmp_path):
    path = tmp_path / "a.ndp"
    ndpack.save(path, {"s": np.float32(1)})
    with pytest.raises(NdpackError) as info:
        ndpack.open(path).read_rows("s", 0, 1)
    assert info.value.code == "INVALID_ARGUMENT"


def test_read_rows_of_compressed_and_F_order_arrays_reads_them_whole(tmp_path):
    path = tmp_path / "a.ndp"
    a = np.asfortranarray(RNG.standard_normal((20, 6)))
    ndpack.save(path, {"f": a, "z": np.zeros((50, 4))}, codec="deflate")
    r = ndpack.open(path)
    assert r.info("z").codec == "deflate" and r.info("f").order == "F"
    np.testing.assert_array_equal(r.read_rows("f", 3, 8), a[3:8])
    np.testing.assert_array_equal(r.read_rows("z", 10, 12), np.zeros((2, 4)))


def test_open_read_of_a_corrupt_payload_is_CHECKSUM_unless_verify_is_False(tmp_path):
    path = tmp_path / "a.ndp"
    ndpack.save(path, arrays())
    start = ndpack.open(path).info("ids").start
    corrupt(path, start + 80)
    r = ndpack.open(path)
    with pytest.raises(NdpackError) as info:
        r.read("ids")
    assert (info.value.code, info.value.array) == ("CHECKSUM", "ids")
    assert r.read("ids", verify=False)[10] != 10
    np.testing.assert_array_equal(r.read("w"), arrays()["w"])
    assert [x["error"]["code"] for x in r.verify() if not x["ok"]] == ["CHECKSUM"]


def test_open_read_of_non_zero_padding_is_BAD_PADDING(tmp_path):
    path = tmp_path / "a.ndp"
    ndpack.save(path, {"a": np.arange(3, dtype="u1"), "b": np.arange(3, dtype="u1")})
    info = ndpack.open(path).info("a")
    corrupt(path, info.start + info.byte_length + 4)  # after a's payload and CRC
    with pytest.raises(NdpackError) as error:
        ndpack.open(path).read("a")
    assert error.value.code == "BAD_PADDING"


@pytest.mark.parametrize("damage, code", [
    (lambda b: b"XXXX" + b[4:], "BAD_MAGIC"),
    (lambda b: b[:10], "TRUNCATED"),
    (lambda b: b[:-1], "TRUNCATED"),
    (lambda b: b + b"\0", "TRAILING_BYTES"),
    (lambda b: b[:30] + bytes([b[30] ^ 1]) + b[31:], "HEADER_CHECKSUM"),
])
def test_open_runs_the_reference_header_checks(tmp_path, damage, code):
    path = tmp_path / "a.ndp"
    path.write_bytes(damage(ndpack.dumps({"x": np.arange(10)})))
    with pytest.raises(NdpackError) as info:
        ndpack.open(path)
    assert info.value.code == code


def test_open_reads_a_header_longer_than_its_first_read(tmp_path):
    path = tmp_path / "a.ndp"
    many = {f"array-{i:05d}-" + "n" * 40: np.full(2, i, "i2") for i in range(2000)}
    ndpack.save(path, many)
    r = ndpack.open(path)
    assert r.header_end > 65536
    np.testing.assert_array_equal(r.read("array-01999-" + "n" * 40), [1999, 1999])


def test_errors_survive_pickling_with_their_code_and_array():
    error = pickle.loads(pickle.dumps(NdpackError("CHECKSUM", "bad", array="w")))
    assert (error.code, error.message, error.array) == ("CHECKSUM", "bad", "w")


def test_a_reader_pickles_as_the_arguments_that_open_it(tmp_path):
    path = tmp_path / "a.ndp"
    ndpack.save(path, {"x": np.arange(5)})
    again = pickle.loads(pickle.dumps(ndpack.open(path)))
    np.testing.assert_array_equal(again.read("x"), np.arange(5))


# --------------------------------------------------------------------------------------------------
# Streaming writer
# --------------------------------------------------------------------------------------------------

def test_writer_writes_the_bytes_save_writes(tmp_path):
    a = arrays()
    declared = [(name, np.asarray(x).dtype, np.shape(x)) for name, x in a.items()]
    path = tmp_path / "w.ndp"
    with ndpack.Writer(path, declared, metadata={"k": [1, 2]}) as w:
        for name, x in a.items():
            x = np.asarray(x)
            if x.ndim and len(x) > 3:
                for i in range(0, len(x), 3):
                    w.write(name, x[i : i + 3])
            elif x.size:
                w.write(name, x)
    assert path.read_bytes() == ndpack.dumps(a, metadata={"k": [1, 2]})
    assert w.size == path.stat().st_size


def test_writer_big_endian_and_without_checksums_matches_dumps(tmp_path):
    a = {"x": np.arange(10, dtype="f8").reshape(5, 2), "b": np.arange(3, dtype="u1")}
    path = tmp_path / "w.ndp"
    with ndpack.Writer(path, [("x", "float64", (5, 2)), ("b", "uint8", (3,))],
                       byte_order="big", checksum="none", alignment=128) as w:
        w.write("x", a["x"][:2])
        w.write("x", a["x"][2:])
        w.write("b", a["b"])
    assert path.read_bytes() == ndpack.dumps(a, byte_order="big", checksum="none", alignment=128)


def test_writer_closed_with_an_incomplete_array_is_WRITE_SIZE_and_leaves_no_file(tmp_path):
    path = tmp_path / "w.ndp"
    w = ndpack.Writer(path, [("x", "int32", (10,))])
    w.write("x", np.arange(4, dtype="i4"))
    with pytest.raises(NdpackError) as info:
        w.close()
    assert info.value.code == "WRITE_SIZE"
    assert os.listdir(tmp_path) == []


def test_writer_given_too_many_rows_is_WRITE_SIZE(tmp_path):
    with pytest.raises(NdpackError) as info:
        with ndpack.Writer(tmp_path / "w.ndp", [("x", "int32", (3, 2))]) as w:
            w.write("x", np.zeros((4, 2), "i4"))
    assert info.value.code == "WRITE_SIZE"
    assert os.listdir(tmp_path) == []


def test_writer_given_rows_of_another_shape_is_WRITE_SIZE(tmp_path):
    with pytest.raises(NdpackError) as info:
        with ndpack.Writer(tmp_path / "w.ndp", [("x", "int32", (3, 2))]) as w:
            w.write("x", np.zeros((1, 3), "i4"))
    assert info.value.code == "WRITE_SIZE"


def test_writer_given_arrays_out_of_order_is_INVALID_ARGUMENT(tmp_path):
    with pytest.raises(NdpackError) as info:
        with ndpack.Writer(tmp_path / "w.ndp", [("a", "u1", (1,)), ("b", "u1", (1,))]) as w:
            w.write("b", np.zeros(1, "u1"))
    assert info.value.code == "INVALID_ARGUMENT"


def test_writer_given_another_dtype_is_INVALID_ARGUMENT(tmp_path):
    with pytest.raises(NdpackError) as info:
        with ndpack.Writer(tmp_path / "w.ndp", [("a", "float32", (2,))]) as w:
            w.write("a", np.zeros(2, "f8"))
    assert info.value.code == "INVALID_ARGUMENT"


def test_writer_after_close_is_CLOSED(tmp_path):
    w = ndpack.Writer(tmp_path / "w.ndp", [("a", "u1", (1,))])
    w.write("a", np.zeros(1, "u1"))
    w.close()
    with pytest.raises(NdpackError) as info:
        w.write("a", np.zeros(1, "u1"))
    assert info.value.code == "CLOSED"


def test_writer_declaring_a_name_twice_is_INVALID_ARGUMENT(tmp_path):
    with pytest.raises(NdpackError) as info:
        ndpack.Writer(tmp_path / "w.ndp", [("a", "u1", (1,)), ("a", "u1", (1,))])
    assert info.value.code == "INVALID_ARGUMENT"
    assert os.listdir(tmp_path) == []


# --------------------------------------------------------------------------------------------------
# torch
# --------------------------------------------------------------------------------------------------

def test_torch_from_numpy_shares_the_memory_of_loaded_arrays(tmp_path):
    path = tmp_path / "a.ndp"
    w = RNG.standard_normal((16, 8)).astype("f4")
    ndpack.save(path, {"w": w})
    view = ndpack.load(path)["w"]
    with pytest.warns(UserWarning, match="not writable"):  # torch's warning for read-only memory
        t = torch.from_numpy(view)
    assert t.data_ptr() == view.ctypes.data  # zero-copy: the tensor is the file's mapped bytes
    assert torch.equal(t, torch.tensor(w))
    writable = ndpack.load(path, copy=True)["w"]
    t2 = torch.from_numpy(writable)
    t2 += 1
    np.testing.assert_array_equal(writable, w + 1)  # the same memory


def test_torch_reads_open_results_without_copy(tmp_path):
    path = tmp_path / "a.ndp"
    ids = np.arange(100, dtype="i8")
    ndpack.save(path, {"ids": ids})
    a = ndpack.open(path).read("ids", copy=True)
    t = torch.from_numpy(a)
    assert t.data_ptr() == a.ctypes.data and t.dtype == torch.int64
    assert torch.equal(t, torch.arange(100))
