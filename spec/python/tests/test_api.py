"""The package's API on local files: save/load/dumps/loads, open (lazy reads), Writer, torch."""

from __future__ import annotations

import io
import mmap
import os
import pickle
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest
import torch

import ndpack
from ndpack import NdpackError, reference

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
    # As paths: a virtual environment at /tmp/npz-venv is not inside a checkout at /tmp/npz.
    assert not Path(ndpack.__file__).resolve().is_relative_to(REPO)


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


def test_save_over_an_existing_file_keeps_its_permission_bits_not_0644(tmp_path):
    path = tmp_path / "private.ndp"
    umask = os.umask(0o022)
    try:
        ndpack.save(path, {"x": np.arange(2)})
        os.chmod(path, 0o600)
        ndpack.save(path, {"x": np.arange(3)})
        assert path.stat().st_mode & 0o7777 == 0o600
        os.chmod(path, 0o640)
        with ndpack.Writer(path, [("x", "i8", (1,))]) as w:
            w.write("x", np.arange(1))
        assert path.stat().st_mode & 0o7777 == 0o640
    finally:
        os.umask(umask)
    assert ndpack.load(path)["x"].tolist() == [0]


def test_save_to_a_symbolic_link_is_NOT_REGULAR_FILE_unless_follow_symlinks(tmp_path):
    target = tmp_path / "target.ndp"
    ndpack.save(target, {"x": np.arange(2)})
    os.chmod(target, 0o600)
    link = tmp_path / "link.ndp"
    link.symlink_to("target.ndp")
    for save in (lambda: ndpack.save(link, {"x": np.arange(3)}),
                 lambda: ndpack.Writer(link, [("x", "i8", (3,))])):
        with pytest.raises(NdpackError) as info:
            save()
        assert info.value.code == "NOT_REGULAR_FILE"
    assert link.is_symlink() and ndpack.load(target)["x"].tolist() == [0, 1]
    assert sorted(os.listdir(tmp_path)) == ["link.ndp", "target.ndp"]
    ndpack.save(link, {"x": np.arange(3)}, follow_symlinks=True)  # replaces the file it points to
    assert link.is_symlink() and ndpack.load(link)["x"].tolist() == [0, 1, 2]
    assert target.stat().st_mode & 0o777 == 0o600
    (tmp_path / "dangling.ndp").symlink_to("nowhere.ndp")
    for path in (tmp_path / "dangling.ndp", tmp_path):
        with pytest.raises(NdpackError) as info:
            ndpack.save(path, {"x": np.arange(3)}, follow_symlinks=True)
        assert info.value.code == "NOT_REGULAR_FILE"
    with pytest.raises(NdpackError) as info:
        ndpack.save(str(tmp_path / "new.ndp") + os.sep, {"x": np.arange(3)})
    assert info.value.code == "NOT_REGULAR_FILE"
    assert sorted(os.listdir(tmp_path)) == ["dangling.ndp", "link.ndp", "target.ndp"]


@pytest.mark.parametrize("length", [249, 255])
def test_save_to_a_name_of_249_to_255_bytes_works_not_file_name_too_long(tmp_path, length):
    name = "n" * (length - 4) + ".ndp"
    ndpack.save(tmp_path / name, {"x": np.arange(3)})
    ndpack.save(tmp_path / name, {"x": np.arange(4)})  # over it
    assert os.listdir(tmp_path) == [name]
    assert ndpack.load(tmp_path / name)["x"].tolist() == [0, 1, 2, 3]
    wide = "é" * ((length - 4) // 2) + ".ndp"  # 2-byte characters: cut between characters
    ndpack.save(tmp_path / wide, {"x": np.arange(1)})
    assert ndpack.load(tmp_path / wide)["x"].tolist() == [0]


@pytest.mark.parametrize("value", [1, "yes", None])
def test_follow_symlinks_other_than_a_bool_is_INVALID_ARGUMENT_as_in_typescript(tmp_path, value):
    (tmp_path / "real.ndp").write_bytes(b"x")
    os.symlink("real.ndp", tmp_path / "link.ndp")
    for write in (lambda: ndpack.save(tmp_path / "link.ndp", {"a": np.zeros(1)},
                                      follow_symlinks=value),
                  lambda: ndpack.Writer(tmp_path / "link.ndp", [], follow_symlinks=value)):
        with pytest.raises(NdpackError) as info:
            write()
        assert info.value.code == "INVALID_ARGUMENT"
    assert (tmp_path / "real.ndp").read_bytes() == b"x"


def test_temporary_names_are_in_the_same_folder_hidden_and_at_most_the_final_names_length():
    from ndpack._io import temporary_name
    for name in ("a.ndp", "n" * 60 + ".ndp", "n" * 251 + ".ndp", "é" * 125 + ".ndp"):
        temp = temporary_name(name)
        assert temp.startswith(".") and temp.endswith(".tmp") and "/" not in temp
        assert len(temp.encode()) <= max(len(name.encode()), 64)
        assert name.startswith(temp[1:].rsplit(".", 2)[0])
    assert temporary_name("a.ndp") != temporary_name("a.ndp")


def test_metadata_takes_numpy_str_values_and_keys_as_strings_not_INVALID_ARGUMENT(tmp_path):
    metadata = {"name": np.str_("hi"), np.str_("key"): [np.str_("a"), np.str_("é\n")],
                "n": np.int32(3)}
    expected = {"name": "hi", "key": ["a", "é\n"], "n": 3}
    data = ndpack.dumps({"a": np.ones(1)}, metadata=metadata)
    assert ndpack.loads(data).metadata == expected
    assert data == ndpack.dumps({"a": np.ones(1)}, metadata=expected)
    ndpack.save_set(tmp_path / "m.ndp.index.json", {"a": np.ones(1)}, metadata=metadata)
    assert ndpack.open(tmp_path / "m.ndp.index.json").metadata == expected
    with pytest.raises(NdpackError) as info:  # bytes are not text
        ndpack.dumps({"a": np.ones(1)}, metadata={"b": np.bytes_(b"hi")})
    assert info.value.code == "INVALID_ARGUMENT"


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


def test_reading_a_closed_reader_is_CLOSED_and_arrays_read_before_stay_valid(tmp_path):
    path = tmp_path / "a.ndp"
    ndpack.save(path, {"a": np.arange(10.0)})
    with ndpack.open(path) as r:
        a = r.read("a")
    assert a.sum() == 45.0
    for read in (lambda: r.read("a"), lambda: r.read("a", verify=False),
                 lambda: r.read_rows("a", 0, 2), r.verify, lambda: r["a"]):
        with pytest.raises(NdpackError) as info:
            read()
        assert info.value.code == "CLOSED"
    assert r.info("a").shape == (10,) and list(r) == ["a"]


def test_reading_a_missing_name_after_close_is_CLOSED_as_in_typescript(tmp_path):
    # TypeScript's readers check that they are open first: read("nope") after close is CLOSED.
    ndpack.save(tmp_path / "a.ndp", {"a": np.arange(10.0)})
    np.savez(tmp_path / "a.npz", a=np.arange(10.0))
    ndpack.save_set(tmp_path / "s.ndp.index.json", {"a": np.arange(10.0)})
    for path in ("a.ndp", "a.npz", "s.ndp.index.json"):
        r = ndpack.open(tmp_path / path)
        r.close()
        for read in (lambda: r.read("nope"), lambda: r.read_rows("nope", 0, 1)):
            with pytest.raises(NdpackError) as info:
                read()
            assert info.value.code == "CLOSED", path
    f = ndpack.loads(ndpack.dumps({"w": [1]}))
    f.close()
    with pytest.raises(NdpackError) as info:
        f.read("nope")
    assert info.value.code == "CLOSED"


def test_reading_a_loaded_file_after_close_is_CLOSED_not_ValueError(tmp_path):
    path = tmp_path / "a.ndp"
    ndpack.save(path, {"w": np.arange(3.0)})
    for f in (ndpack.load(path), reference.load(path), ndpack.loads(ndpack.dumps({"w": [1]}))):
        f.close()
        for read in (lambda: f["w"], lambda: f.read("w", verify=True), f.verify):
            with pytest.raises(NdpackError) as info:
                read()
            assert info.value.code == "CLOSED"
        assert list(f) == ["w"]


def invalid_argument(call) -> NdpackError:
    with pytest.raises(NdpackError) as info:
        call()
    assert info.value.code == "INVALID_ARGUMENT", info.value
    return info.value


@pytest.mark.parametrize("start, stop", [(1.5, 3), (0, "2"), (None, 2.0), (np.float32(1), None)])
def test_read_rows_of_bounds_other_than_ints_is_INVALID_ARGUMENT(tmp_path, start, stop):
    path = tmp_path / "a.ndp"
    ndpack.save(path, {"w": np.zeros((10, 2))})
    with ndpack.open(path) as r:
        invalid_argument(lambda: r.read_rows("w", start, stop))
        assert r.read_rows("w", np.int64(2), np.int32(4)).shape == (2, 2)


@pytest.mark.parametrize("value", [1, 0, None, "yes"])
def test_verify_other_than_a_bool_is_INVALID_ARGUMENT_as_in_typescript(tmp_path, value):
    # TypeScript's decode, load and decodeMessages refuse {verify: 1} (booleanOption), as the
    # Python readers' read(verify=...) does.
    path = tmp_path / "a.ndp"
    ndpack.save(path, {"a": np.zeros(3)})
    for call in (lambda: ndpack.loads(path.read_bytes(), verify=value),
                 lambda: ndpack.load(path, verify=value),
                 lambda: reference.load(path, verify=value),
                 lambda: ndpack.read_messages(io.BytesIO(path.read_bytes()), verify=value)):
        with pytest.raises(NdpackError) as info:
            call()
        assert info.value.code == "INVALID_ARGUMENT"


@pytest.mark.parametrize("option,value", [("copy", 1), ("copy", 0), ("copy", "yes"),
                                          ("raw_bits", 1), ("raw_bits", None), ("raw_bits", 0)])
def test_copy_and_raw_bits_other_than_their_values_are_INVALID_ARGUMENT(tmp_path, option, value):
    # copy=1 equals True and raw_bits=None is falsy: neither may pass for an answer.
    path = tmp_path / "a.ndp"
    ndpack.save(path, {"a": np.zeros(3)})
    calls = [lambda: ndpack.loads(path.read_bytes(), **{option: value}),
             lambda: ndpack.load(path, **{option: value}),
             lambda: next(iter(ndpack.read_messages(io.BytesIO(path.read_bytes()),
                                                    **{option: value})))]
    if option == "raw_bits":
        calls.append(lambda: ndpack.open(path, raw_bits=value))
    for call in calls:
        with pytest.raises(NdpackError) as info:
            call()
        assert info.value.code == "INVALID_ARGUMENT" and option in info.value.message


def test_loads_of_something_else_than_bytes_is_INVALID_ARGUMENT():
    for value in ("text", 42, None, [1, 2]):
        invalid_argument(lambda: ndpack.loads(value))


def test_loads_of_a_strided_view_reads_its_bytes():
    data = np.frombuffer(ndpack.dumps({"w": np.arange(3.0)}), np.uint8)
    strided = np.zeros(2 * len(data), np.uint8)
    strided[::2] = data
    for view in (strided[::2], memoryview(strided)[::2]):
        np.testing.assert_array_equal(ndpack.loads(view)["w"], np.arange(3.0))


@pytest.mark.parametrize("data", [[[1, 2], [3]], [np.zeros(2), np.zeros(3)]])
def test_writing_a_ragged_list_is_INVALID_ARGUMENT(tmp_path, data):
    assert invalid_argument(lambda: ndpack.dumps({"x": data})).array == "x"
    invalid_argument(lambda: ndpack.save_set(tmp_path / "s.ndp.index.json", {"x": data}))
    w = ndpack.Writer(tmp_path / "w.ndp", [("x", "i8", (2, 2))])
    refused = invalid_argument(lambda: w.write("x", data))
    assert refused.array == "x"
    assert os.listdir(tmp_path) == []  # the refusal aborted the writer (test_write_inputs.py)


def test_an_unknown_option_is_INVALID_ARGUMENT_naming_the_known_ones(tmp_path):
    path = tmp_path / "a.ndp"
    ndpack.save(path, {"w": np.zeros(3)})
    error = invalid_argument(lambda: ndpack.open(path, verfy=True))
    assert "'verfy'" in error.message and "max_header_bytes" in error.message
    assert "did you mean 'verify'" not in error.message  # open takes no verify: read does
    error = invalid_argument(lambda: ndpack.load(path, verfy=True))
    assert "did you mean 'verify'?" in error.message
    invalid_argument(lambda: ndpack.loads(ndpack.dumps({}), max_header_byte=10))
    invalid_argument(lambda: ndpack.verify(path, colour=1))
    invalid_argument(lambda: ndpack.open(tmp_path / "s.ndp.index.json", verify=True))
    error = invalid_argument(lambda: ndpack.dumps({"w": np.zeros(3)}, codecs="deflate"))
    assert "did you mean 'codec'?" in error.message
    invalid_argument(lambda: ndpack.save(tmp_path / "b.ndp", {}, allignment=8))
    invalid_argument(lambda: ndpack.Writer(tmp_path / "c.ndp", [], checksums="none"))
    invalid_argument(lambda: ndpack.save_set(tmp_path / "s.ndp.index.json", {}, shard_size=9))
    invalid_argument(lambda: ndpack.read_messages(io.BytesIO(), max_bytes=9))
    invalid_argument(lambda: ndpack.MessageWriter(io.BytesIO()).send({}, meta={}))
    assert sorted(os.listdir(tmp_path)) == ["a.ndp"]


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


def test_read_rows_of_every_row_is_verified_as_read_is_unless_verify_is_False(tmp_path):
    # As TypeScript's readRows: rows that are the whole array are checked against its CRC-32.
    path = tmp_path / "a.ndp"
    x = np.arange(100.0).reshape(10, 10)
    ndpack.save(path, {"x": x})
    corrupt(path, ndpack.open(path).info("x").start + 8 * 55)
    r = ndpack.open(path)
    for start, stop in ((None, None), (0, 10), (0, 99)):
        with pytest.raises(NdpackError) as info:
            r.read_rows("x", start, stop)
        assert (info.value.code, info.value.array) == ("CHECKSUM", "x")
    assert r.read_rows("x", 0, 10, verify=False)[5, 5] != 55
    assert r.read_rows("x", 5, 6)[0, 5] != 55  # a part of the array is not checked by default,
    with pytest.raises(NdpackError) as info:  # only when asked: the array is then read whole
        r.read_rows("x", 5, 6, verify=True)
    assert (info.value.code, info.value.array) == ("CHECKSUM", "x")
    assert r.read_rows("x", 3, 3).shape == (0, 10)  # no rows: nothing read, nothing to check
    # verify takes True or False only (read_rows: or None, its default): 0 or None must not
    # quietly skip the check.
    for flag in (0, 1, None, "yes"):
        calls = [lambda: r.read("x", verify=flag)]
        if flag is not None:
            calls.append(lambda: r.read_rows("x", verify=flag))
        for call in calls:
            with pytest.raises(NdpackError) as info:
                call()
            assert info.value.code == "INVALID_ARGUMENT"


def test_read_rows_of_an_array_of_no_rows_reads_and_checks_nothing(tmp_path):
    # As TypeScript's readRows: rows 0 to 0 are no part of any payload.
    path = tmp_path / "e.ndp"
    ndpack.save(path, {"e": np.zeros((0, 3)), "x": np.arange(5.0)})
    assert ndpack.open(path).read_rows("e", 0, 0).shape == (0, 3)


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


@pytest.mark.parametrize("shape, dtype", [((0, 2**52), "u8"), ((0, 2**53), "u1"),
                                          ((0, 2**60), "u1"), ((2**27, 0, 2**27), "u1")])
def test_dumps_and_save_of_a_shape_readers_refuse_are_BAD_SHAPE_and_write_nothing(
        tmp_path, shape, dtype):
    a = np.empty(shape, dtype)  # numpy holds it: no element
    with pytest.raises(NdpackError) as info:
        ndpack.dumps({"a": a})
    assert (info.value.code, info.value.array) == ("BAD_SHAPE", "a")
    with pytest.raises(NdpackError) as info:
        ndpack.save(tmp_path / "a.ndp", {"a": a})
    assert info.value.code == "BAD_SHAPE"
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("spec, code", [
    ({"dtype": "float33"}, "UNKNOWN_DTYPE"),
    ({"dtype": ["float32"]}, "UNKNOWN_DTYPE"),  # not a TypeError (unhashable)
    ({"codec": "zstd"}, "UNSUPPORTED_CODEC"),
])
def test_dumps_of_an_unknown_dtype_or_codec_for_an_array_has_the_typescript_writers_code(
        spec, code):
    # TypeScript's encode({a: {data, dtype: "float33"}}) is UNKNOWN_DTYPE, {codec: "zstd"}
    # UNSUPPORTED_CODEC (test/errors.test.ts); a bad file-wide codec option stays INVALID_ARGUMENT.
    with pytest.raises(NdpackError) as info:
        ndpack.dumps({"a": {"data": np.zeros(3, "f4"), **spec}})
    assert (info.value.code, info.value.array) == (code, "a")
    with pytest.raises(NdpackError) as info:
        ndpack.dumps({"a": np.zeros(3, "f4")}, codec="zstd")
    assert info.value.code == "INVALID_ARGUMENT"


def test_dumps_of_the_largest_shape_readers_accept_reads_back():
    a = np.empty((0, 2**53 - 1), "u1")
    assert ndpack.loads(ndpack.dumps({"a": a})).info("a").shape == (0, 2**53 - 1)


def every_writer_refuses(tmp_path, code, metadata):
    """dumps, save (to a path and to a file object), Writer and MessageWriter.send all refuse
    ``metadata`` with ``code``, before writing anything (FORMAT.md §8: a writer writes only files
    that pass §9 with the default limits, as TypeScript's encode and writers do)."""
    attempts = {
        "dumps": lambda: ndpack.dumps({"a": np.zeros(2, "u1")}, metadata=metadata),
        "save": lambda: ndpack.save(tmp_path / "a.ndp", {"a": np.zeros(2, "u1")},
                                    metadata=metadata),
        "save to a file object": lambda: ndpack.save(out, {"a": np.zeros(2, "u1")},
                                                     metadata=metadata),
        "Writer": lambda: ndpack.Writer(tmp_path / "w.ndp", [("a", "u1", (2,))],
                                        metadata=metadata),
        "Writer to a file object": lambda: ndpack.Writer(out, [("a", "u1", (2,))],
                                                         metadata=metadata),
        "MessageWriter": lambda: ndpack.MessageWriter(out).send({}, metadata=metadata),
    }
    out = io.BytesIO()
    for name, attempt in attempts.items():
        with pytest.raises(NdpackError) as info:
            attempt()
        assert info.value.code == code, name
    assert out.getvalue() == b"" and os.listdir(tmp_path) == []


def nested(levels: int) -> list:
    value: list = []
    for _ in range(levels - 1):
        value = [value]
    return value  # ``levels`` lists, one inside the other


def test_writers_refuse_metadata_nested_deeper_than_readers_accept_LIMIT_EXCEEDED(tmp_path):
    # Metadata is at depth 2 (the header object is 1): 62 more levels reach max_depth 64
    data = ndpack.dumps({}, metadata={"x": nested(62)})
    assert reference._json_metadata(ndpack.loads(data).metadata, 2) == \
        reference._json_metadata({"x": nested(62)}, 2)
    every_writer_refuses(tmp_path, "LIMIT_EXCEEDED", {"x": nested(63)})
    every_writer_refuses(tmp_path, "LIMIT_EXCEEDED", {"a": 1, "b": {"c": [nested(62)]}})
    looped: dict = {"a": 1}
    looped["self"] = looped  # a loop is no deep nesting: INVALID_ARGUMENT, as in TypeScript
    every_writer_refuses(tmp_path, "INVALID_ARGUMENT", looped)
    shared = [1]
    assert ndpack.loads(ndpack.dumps({}, metadata={"a": shared, "b": shared})).metadata == \
        {"a": [1], "b": [1]}


def test_writers_refuse_a_header_longer_than_readers_accept_HEADER_TOO_LARGE(tmp_path):
    cap = ndpack.DEFAULT_LIMITS["max_header_bytes"]
    text = b'{"alignment":64,"checksum":"crc32","dataLength":0,"metadata":{"s":""},"arrays":[]}'
    fits = ndpack.dumps({}, metadata={"s": "x" * (cap - len(text))})
    assert int.from_bytes(fits[12:16], "little") == cap
    del fits
    every_writer_refuses(tmp_path, "HEADER_TOO_LARGE", {"s": "x" * (cap - len(text) + 1)})


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


@pytest.mark.parametrize("done, name, code", [
    ([], "b", "WRITE_SIZE"),  # "a" is incomplete
    (["a", "b"], "a", "WRITE_SIZE"),  # "a" is complete, "b" being written
    ([], "zz", "NOT_FOUND"),  # not declared
])
def test_writers_given_arrays_out_of_order_or_undeclared_have_typescripts_codes(
        tmp_path, done, name, code):
    # TypeScript's createWriter and createSetWriter: WRITE_SIZE when an earlier array is
    # incomplete or the array has all its bytes, NOT_FOUND for an undeclared name.
    declared = [("a", "u1", (2,)), ("b", "u1", (2,))]
    for make in (lambda: ndpack.Writer(tmp_path / "w.ndp", declared),
                 lambda: ndpack.SetWriter(tmp_path / "s.ndp.index.json", declared,
                                          max_shard_size=2)):
        with pytest.raises(NdpackError) as info:
            with make() as w:
                for d in done:
                    w.write(d, np.zeros(2 if d == "a" else 1, "u1"))
                w.write(name, np.zeros(1, "u1"))
        assert (info.value.code, info.value.array) == (code, name)
    assert os.listdir(tmp_path) == []


def test_writer_given_another_dtype_is_INVALID_ARGUMENT(tmp_path):
    with pytest.raises(NdpackError) as info:
        with ndpack.Writer(tmp_path / "w.ndp", [("a", "float32", (2,))]) as w:
            w.write("a", np.zeros(2, "f8"))
    assert info.value.code == "INVALID_ARGUMENT"


@pytest.mark.parametrize("declared, rows", [
    ("float64", [[1, 2, 3], [4, 5, 6]]),  # Python ints: int64 rows of the same item size
    ("float64", np.arange(6, dtype="i8").reshape(2, 3)),
    ("int64", np.array([[1.5, 2.0, -1.0], [0.0, 1.0, 2.0]])),
    ("uint64", np.arange(6, dtype="i8").reshape(2, 3)),
    ("bool", np.ones((2, 3), "u1")),
])
def test_writer_given_rows_of_another_dtype_of_the_same_item_size_is_INVALID_ARGUMENT(
        tmp_path, declared, rows):
    with pytest.raises(NdpackError) as info:
        with ndpack.Writer(tmp_path / "w.ndp", [("x", declared, (2, 3))]) as w:
            w.write("x", rows)
    assert info.value.code == "INVALID_ARGUMENT"
    assert info.value.array == "x"
    assert os.listdir(tmp_path) == []


def test_set_writer_given_rows_of_another_dtype_of_the_same_item_size_is_INVALID_ARGUMENT(
        tmp_path):
    index = tmp_path / "m.ndp.index.json"
    with pytest.raises(NdpackError) as info:
        with ndpack.SetWriter(index, [("x", "float64", (3,))]) as w:
            w.write("x", np.array([1, 2, 3]))
    assert info.value.code == "INVALID_ARGUMENT"
    assert os.listdir(tmp_path) == []


def test_writer_takes_rows_of_the_declared_dtype_in_either_byte_order_and_raw_bfloat16_bits(
        tmp_path):
    path = tmp_path / "w.ndp"
    bits = np.array([0x3F80, 0x4000], "u2")  # bfloat16 1.0 and 2.0
    with ndpack.Writer(path, [("f", "float32", (2,)), ("h", "bfloat16", (2,))]) as w:
        w.write("f", np.array([1.5, -2.0], ">f4"))
        w.write("h", bits)
    f = ndpack.load(path)
    assert f["f"].tolist() == [1.5, -2.0]
    assert f["h"].astype("f4").tolist() == [1.0, 2.0]


@pytest.mark.parametrize("shape", [(2.7,), "12", 3, (True,), (2, -1), (0, 2**53), [np.float64(2)]],
                         ids=["float", "str", "int", "bool", "negative", "too-large", "np-float"])
def test_writer_declaring_a_shape_save_refuses_is_BAD_SHAPE_and_writes_nothing(tmp_path, shape):
    with pytest.raises(NdpackError) as info:
        ndpack.Writer(tmp_path / "w.ndp", [("a", "u1", shape)])
    assert (info.value.code, info.value.array) == ("BAD_SHAPE", "a")
    with pytest.raises(NdpackError) as info:
        ndpack.SetWriter(tmp_path / "m.ndp.index.json", [("a", "u1", shape)])
    assert info.value.code == "BAD_SHAPE"
    assert os.listdir(tmp_path) == []


def test_writer_takes_shapes_of_numpy_integers_lists_and_tuples(tmp_path):
    path = tmp_path / "w.ndp"
    with ndpack.Writer(path, [("a", "u1", [np.int64(2), 3]), ("b", "u1", (np.uint8(2),)),
                              ("c", "u1", ())]) as w:
        w.write("a", np.ones((2, 3), "u1"))
        w.write("b", np.zeros(2, "u1"))
        w.write("c", np.uint8(7))
    f = ndpack.load(path)
    assert (f["a"].shape, f["b"].shape, f["c"].tolist()) == ((2, 3), (2,), 7)


def test_writer_after_close_is_CLOSED(tmp_path):
    w = ndpack.Writer(tmp_path / "w.ndp", [("a", "u1", (1,))])
    w.write("a", np.zeros(1, "u1"))
    w.close()
    with pytest.raises(NdpackError) as info:
        w.write("a", np.zeros(1, "u1"))
    assert info.value.code == "CLOSED"


@pytest.mark.parametrize("dtype", ["float33", "float128", "U4", object])
def test_writers_declaring_an_unknown_dtype_are_UNKNOWN_DTYPE_as_in_typescript(tmp_path, dtype):
    # TypeScript's createWriter and createSetWriter: UNKNOWN_DTYPE (test/set-write.test.ts).
    for declare in (lambda: ndpack.Writer(tmp_path / "a.ndp", [("x", dtype, (1,))]),
                    lambda: ndpack.SetWriter(tmp_path / "s.ndp.index.json", [("x", dtype, (1,))])):
        with pytest.raises(NdpackError) as info:
            declare()
        assert info.value.code == "UNKNOWN_DTYPE"
    assert os.listdir(tmp_path) == []


def test_writer_declaring_a_name_twice_is_DUPLICATE_NAME_as_in_typescript(tmp_path):
    with pytest.raises(NdpackError) as info:
        ndpack.Writer(tmp_path / "w.ndp", [("a", "u1", (1,)), ("a", "u1", (1,))])
    assert info.value.code == "DUPLICATE_NAME"
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


def test_writers_refuse_names_as_the_typescript_writer_does():
    # A name given twice: DUPLICATE_NAME (it was INVALID_ARGUMENT), naming it.
    with pytest.raises(NdpackError) as twice:
        ndpack.Writer(io.BytesIO(), [("x", "i8", (1,)), ("x", "i8", (1,))])
    assert (twice.value.code, twice.value.array) == ("DUPLICATE_NAME", "x")
    # A name longer than readers accept by default (max_name_bytes, 4096 UTF-8 bytes) is not written.
    longest = "é" * 2048  # 4096 bytes: the limit itself is fine
    assert list(ndpack.loads(ndpack.dumps({longest: np.zeros(1, np.uint8)}))) == [longest]
    for write in (lambda name: ndpack.dumps({name: np.zeros(1, np.uint8)}),
                  lambda name: ndpack.Writer(io.BytesIO(), [(name, "u1", (1,))])):
        with pytest.raises(NdpackError) as long:
            write(longest + "x")
        assert long.value.code == "LIMIT_EXCEEDED"


@pytest.mark.parametrize("limit", sorted(reference.DEFAULT_LIMITS))
@pytest.mark.parametrize("value", [0, -1, 1.0, True, "1", 2**53, 2**64])
def test_a_limit_that_is_not_a_positive_int_is_INVALID_ARGUMENT(tmp_path, limit, value):
    # As TypeScript's readers (src/header.ts): a limit of 0 is refused, not a file refused by it;
    # so is one past 2**53 - 1, which TypeScript's numbers cannot hold exactly.
    path = tmp_path / "a.ndp"
    ndpack.save(path, {"a": np.ones(3)})
    for call in (lambda: ndpack.loads(path.read_bytes(), **{limit: value}),
                 lambda: ndpack.open(path, **{limit: value}),
                 lambda: ndpack.load(path, **{limit: value})):
        with pytest.raises(NdpackError) as info:
            call()
        assert (info.value.code, limit in info.value.message) == ("INVALID_ARGUMENT", True)
