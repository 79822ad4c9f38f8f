"""Sharded sets (FORMAT.md §12): the index written, reading it back, Hugging Face's safetensors
sets, and every broken set with its error code."""

from __future__ import annotations

import inspect
import json
import os
import zlib
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file as save_safetensors

import ndpack
from ndpack import NdpackError

ARRAYS = {f"layer.{i}.weight": np.full((100, 50), i, "f4") for i in range(5)}
ARRAYS["bias"] = np.arange(7, dtype="i8")


def write_set(folder, arrays=ARRAYS, **options):
    index = folder / "model.ndp.index.json"
    ndpack.save_set(index, arrays, max_shard_size=options.pop("max_shard_size", 45_000),
                    **options)
    return index


def read_index(index):
    return json.loads(index.read_text())


def write_index(index, content):
    index.write_text(json.dumps(content))


def test_save_set_writes_shards_and_the_index_of_FORMAT_md_12(tmp_path):
    index = write_set(tmp_path, metadata={"format": "pt"})
    content = read_index(index)
    assert list(content) == ["metadata", "weight_map", "ndpack"]
    assert content["metadata"] == {"total_size": sum(a.nbytes for a in ARRAYS.values()),
                                   "format": "pt"}
    assert list(content["weight_map"]) == list(ARRAYS)
    shards = list(dict.fromkeys(content["weight_map"].values()))
    assert len(shards) == 3  # 20,000-byte arrays, at most 45,000 payload bytes a shard
    generation = shards[0].split("-")[1]
    assert len(generation) == 8 and int(generation, 16) >= 0
    assert shards == [f"model-{generation}-{k:05d}-of-00003.ndp" for k in (1, 2, 3)]
    assert content["ndpack"]["version"] == 1
    for shard in shards:
        data = (tmp_path / shard).read_bytes()
        header_end = 20 + int.from_bytes(data[12:16], "little")
        assert content["ndpack"]["shards"][shard] == {"size": len(data),
                                                       "header_crc32": zlib.crc32(data[:header_end])}
    assert sorted(os.listdir(tmp_path)) == sorted(shards + ["model.ndp.index.json"])


def test_open_of_an_index_reads_the_set(tmp_path):
    index = write_set(tmp_path, metadata={"format": "pt"})
    with ndpack.open(index) as s:
        assert list(s) == list(ARRAYS)
        assert s.metadata == {"format": "pt"}
        assert s.total_size == sum(a.nbytes for a in ARRAYS.values())
        for name, a in ARRAYS.items():
            np.testing.assert_array_equal(s[name], a)
        np.testing.assert_array_equal(s.read_rows("layer.3.weight", 10, 12), ARRAYS["layer.3.weight"][10:12])
        assert s.info("bias").dtype == "int64"
        assert all(report["ok"] for report in s.verify())


def test_reading_a_closed_set_reader_is_CLOSED_and_opens_no_shard_again(tmp_path):
    index = write_set(tmp_path)
    with ndpack.open(index) as s:
        bias = s["bias"]
    np.testing.assert_array_equal(bias, ARRAYS["bias"])
    for read in (lambda: s.read("bias"), lambda: s["layer.0.weight"], s.verify,
                 lambda: s.read_rows("bias", 0, 2), lambda: s.info("layer.4.weight")):
        with pytest.raises(NdpackError) as info:
            read()
        assert info.value.code == "CLOSED"
    assert s._readers == {}  # nothing was opened again


def test_rewriting_a_set_keeps_the_old_one_readable_until_the_new_index_then_removes_it(tmp_path):
    index = write_set(tmp_path)
    old = ndpack.open(index)
    old_shards = set(old.shards)
    np.testing.assert_array_equal(old["bias"], ARRAYS["bias"])
    write_set(tmp_path, {"only": np.ones(3)})
    new = ndpack.open(index)
    assert list(new) == ["only"]
    assert sorted(os.listdir(tmp_path)) == sorted(new.shards + ["model.ndp.index.json"])
    assert not old_shards & set(os.listdir(tmp_path))


def test_a_failed_set_write_leaves_the_old_set_and_no_temporary_file(tmp_path):
    index = write_set(tmp_path)
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(NdpackError) as info:
        with ndpack.SetWriter(index, [("a", "f4", (10,)), ("b", "f4", (10,))],
                              max_shard_size=40) as w:
            w.write("a", np.zeros(10, "f4"))
            w.write("b", np.zeros(5, "f4"))
    assert info.value.code == "WRITE_SIZE"
    assert sorted(os.listdir(tmp_path)) == before
    np.testing.assert_array_equal(ndpack.open(index)["bias"], ARRAYS["bias"])


def test_set_metadata_with_total_size_is_INVALID_ARGUMENT(tmp_path):
    with pytest.raises(NdpackError) as info:
        write_set(tmp_path, metadata={"total_size": 1})
    assert info.value.code == "INVALID_ARGUMENT"


def test_set_metadata_takes_what_save_takes_numpy_scalars_and_ints_beyond_2_53(tmp_path):
    metadata = {"lr": np.float32(0.5), "steps": np.int64(7), "seed": 2**60, "on": np.bool_(True),
                "nested": [1, {"k": None}]}
    index = write_set(tmp_path, metadata=metadata)
    expected = {"lr": 0.5, "steps": 7, "seed": float(2**60), "on": True, "nested": [1, {"k": None}]}
    assert ndpack.open(index).metadata == expected
    ndpack.save(tmp_path / "f.ndp", {"a": np.zeros(1)}, metadata=metadata)
    assert ndpack.load(tmp_path / "f.ndp").metadata == expected


@pytest.mark.parametrize("metadata", [
    {"seed": 2**63 - 1},  # not exactly a double: save refuses it too
    {"x": float("nan")}, {"x": object()}, {1: "key not a str"}, {"s": "\ud800"},
])
def test_set_metadata_that_save_refuses_is_INVALID_ARGUMENT_before_any_shard_is_written(
        tmp_path, metadata):
    index = write_set(tmp_path, metadata={"good": 1})
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(NdpackError) as saving:
        ndpack.save(tmp_path / "f.ndp", {"a": np.zeros(1)}, metadata=metadata)
    assert saving.value.code == "INVALID_ARGUMENT"
    with pytest.raises(NdpackError) as info:
        ndpack.save_set(index, {"a": np.arange(4)}, metadata=metadata)
    assert info.value.code == "INVALID_ARGUMENT"
    with pytest.raises(NdpackError) as info:
        ndpack.SetWriter(index, [("a", "i8", (4,))], metadata=metadata)
    assert info.value.code == "INVALID_ARGUMENT"
    assert sorted(os.listdir(tmp_path)) == before  # no orphan shard; the old set is whole
    with ndpack.open(index) as s:
        assert s.metadata == {"good": 1}
        np.testing.assert_array_equal(s["bias"], ARRAYS["bias"])


def test_an_index_not_named_index_json_is_INVALID_ARGUMENT(tmp_path):
    with pytest.raises(NdpackError) as info:
        ndpack.save_set(tmp_path / "model.json", ARRAYS)
    assert info.value.code == "INVALID_ARGUMENT"


@pytest.mark.parametrize("stem", ["CON", "nul", "Com1 ", "LPT\u00b9", "conout$", "aux.v2", "run?", "a*",
                                  "a<b", "a>b", "a|b", 'a"b', "a:b"])
def test_an_index_stem_a_reader_would_refuse_in_shard_names_is_INVALID_ARGUMENT(tmp_path, stem):
    # FORMAT.md §12.1: the shards are named <stem>-...; such a set would be SET_INVALID to every
    # reader (and on Windows `CON.ndp.index.json` is the console). Nothing is written.
    with pytest.raises(NdpackError) as info:
        ndpack.save_set(tmp_path / f"{stem}.ndp.index.json", ARRAYS)
    assert info.value.code == "INVALID_ARGUMENT"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("stem", ["COM10", "console", "nul-1", "lpt"])
def test_an_index_stem_near_a_windows_device_name_writes_a_set(tmp_path, stem):
    ndpack.save_set(tmp_path / f"{stem}.ndp.index.json", ARRAYS)
    with ndpack.open(tmp_path / f"{stem}.ndp.index.json") as s:
        assert sorted(s.keys()) == sorted(ARRAYS)


def test_a_hugging_face_safetensors_set_without_ndpack_section_reads(tmp_path):
    save_safetensors({"a": np.arange(6, dtype="f4").reshape(2, 3)}, tmp_path / "m-1.safetensors")
    save_safetensors({"b": np.arange(4, dtype="i2"), "c": np.ones((2, 2), "f8")},
                     tmp_path / "m-2.safetensors", metadata={"format": "np"})
    index = tmp_path / "model.safetensors.index.json"
    write_index(index, {"metadata": {"total_size": 48},
                        "weight_map": {"a": "m-1.safetensors", "b": "m-2.safetensors",
                                       "c": "m-2.safetensors"}})
    s = ndpack.open(index)
    np.testing.assert_array_equal(s["a"], np.arange(6, dtype="f4").reshape(2, 3))
    np.testing.assert_array_equal(s.read_rows("c", 1, 2), np.ones((1, 2)))
    assert s["b"].dtype == np.int16 and s.info("b").shape == (4,)
    assert s.shard("m-2.safetensors").metadata == {"format": "np"}


def test_a_safetensors_set_with_an_ndpack_section_checks_shard_headers(tmp_path):
    save_safetensors({"a": np.arange(6, dtype="f4")}, tmp_path / "m-1.safetensors")
    data = (tmp_path / "m-1.safetensors").read_bytes()
    header_end = 8 + int.from_bytes(data[:8], "little")
    index = tmp_path / "model.safetensors.index.json"
    section = {"version": 1, "shards": {"m-1.safetensors": {
        "size": len(data), "header_crc32": zlib.crc32(data[:header_end]) ^ 1}}}
    write_index(index, {"weight_map": {"a": "m-1.safetensors"}, "ndpack": section})
    with pytest.raises(NdpackError) as info:
        ndpack.open(index).read("a")
    assert info.value.code == "FILE_CHANGED"


# --------------------------------------------------------------------------------------------------
# Broken sets
# --------------------------------------------------------------------------------------------------

def expect_set_error(index, code, name=None):
    with pytest.raises(NdpackError) as info:
        s = ndpack.open(index)
        for n in [name] if name else list(s):
            s.read(n)
    assert info.value.code == code, info.value
    return info.value


@pytest.mark.parametrize("text", [b"{not json", b"[1, 2]", b'{"weight_map": 3}',
                                  b'{"metadata": {}}', b'{"weight_map": {"a": 1}}',
                                  b'{"metadata": [], "weight_map": {}}', b"\xff\xfe"])
def test_an_index_that_is_not_a_set_index_is_SET_INVALID(tmp_path, text):
    index = tmp_path / "m.ndp.index.json"
    index.write_bytes(text)
    expect_set_error(index, "SET_INVALID")


@pytest.mark.parametrize("shard", ["../x.ndp", "a/b.ndp", "a\\b.ndp", ".", "..", "", "x\x00.ndp",
                                   "x\n.ndp", "/etc/passwd", "C:x.ndp", "x.ndp:stream"])
def test_an_unsafe_shard_name_is_SET_INVALID_before_any_shard_is_opened(tmp_path, shard):
    index = tmp_path / "m.ndp.index.json"
    write_index(index, {"weight_map": {"a": shard}})
    error = expect_set_error(index, "SET_INVALID")
    assert "unsafe" in error.message


@pytest.mark.parametrize("shard", ["x.bin", "x.ndpack", "x.NDP", ".ndp", "x.safetensors.gz"])
def test_a_shard_name_without_a_known_extension_is_SET_INVALID(tmp_path, shard):
    index = tmp_path / "m.ndp.index.json"
    write_index(index, {"weight_map": {"a": shard}})
    expect_set_error(index, "SET_INVALID")


def test_a_shard_in_the_ndpack_section_that_no_array_maps_to_is_SET_INVALID(tmp_path):
    index = write_set(tmp_path)
    content = read_index(index)
    content["ndpack"]["shards"]["extra.ndp"] = {"size": 1, "header_crc32": 0}
    write_index(index, content)
    expect_set_error(index, "SET_INVALID")


def test_a_weight_map_shard_missing_from_the_ndpack_section_is_SET_INVALID(tmp_path):
    index = write_set(tmp_path)
    content = read_index(index)
    content["ndpack"]["shards"].popitem()
    write_index(index, content)
    expect_set_error(index, "SET_INVALID")


@pytest.mark.parametrize("section", [[], {"version": 1}, {"shards": {}},
                                     {"version": "1", "shards": {}},
                                     {"version": 1, "shards": {"s.ndp": {"size": -1,
                                                                         "header_crc32": 0}}},
                                     {"version": 1, "shards": {"s.ndp": {"size": 1,
                                                                         "header_crc32": 2**32}}}])
def test_a_malformed_ndpack_section_is_SET_INVALID(tmp_path, section):
    index = tmp_path / "m.ndp.index.json"
    write_index(index, {"weight_map": {"a": "s.ndp"}, "ndpack": section})
    expect_set_error(index, "SET_INVALID")


def test_an_ndpack_section_of_another_version_is_UNSUPPORTED_VERSION(tmp_path):
    index = tmp_path / "m.ndp.index.json"
    write_index(index, {"weight_map": {"a": "s.ndp"}, "ndpack": {"version": 2, "shards": {}}})
    expect_set_error(index, "UNSUPPORTED_VERSION")


@pytest.mark.parametrize("text", [
    b'{"weight_map": {"a": "s-1.ndp", "a": "s-2.ndp"}}',  # an array mapped twice
    b'{"weight_map": {"": "s.ndp"}}',  # an empty array name
    b'{"weight_map": {"a": "s.ndp"}, "ndpack": {"version": 1, "shards": '
    b'{"s.ndp": {"size": 1.5, "header_crc32": 0}}}}',
])
def test_a_repeated_array_an_empty_name_or_a_fraction_in_the_index_is_SET_INVALID(tmp_path, text):
    index = tmp_path / "m.ndp.index.json"
    index.write_bytes(text)
    expect_set_error(index, "SET_INVALID")


def test_an_index_over_max_index_bytes_or_max_arrays_is_LIMIT_EXCEEDED(tmp_path):
    index = write_set(tmp_path)
    with pytest.raises(NdpackError) as info:
        ndpack.open(index, max_index_bytes=100)
    assert info.value.code == "LIMIT_EXCEEDED"
    with pytest.raises(NdpackError) as info:
        ndpack.open(index, max_arrays=2)
    assert info.value.code == "LIMIT_EXCEEDED"
    assert list(ndpack.open(index, max_index_bytes=10_000)) == list(ARRAYS)


def test_an_index_surrounded_by_white_space_reads(tmp_path):
    index = write_set(tmp_path)
    index.write_bytes(b" \r\n\t" + index.read_bytes() + b"\r\n ")
    np.testing.assert_array_equal(ndpack.open(index)["bias"], ARRAYS["bias"])


def test_empty_arrays_join_the_current_shard_and_read_back(tmp_path):
    arrays = {"first": np.zeros(0, "u1"), "a": np.ones(10, "u1"), "empty": np.zeros((0, 3), "f4"),
              "b": np.ones(10, "u1"), "none": np.zeros(0, "i8")}
    index = write_set(tmp_path, arrays, max_shard_size=10)
    weight_map = read_index(index)["weight_map"]
    assert weight_map["first"] == weight_map["a"] == weight_map["empty"] != weight_map["b"] \
        == weight_map["none"]
    with ndpack.open(index) as s:
        for name, a in arrays.items():
            assert s[name].dtype == a.dtype and s[name].shape == a.shape
            np.testing.assert_array_equal(s[name], a)


def test_save_set_keeps_a_0d_array_0d_not_shape_1(tmp_path):
    arrays = {"scalar": np.array(3.5), "numpy_scalar": np.int16(-7), "v": np.arange(3),
              "f_order": np.asfortranarray(np.arange(6.0).reshape(2, 3))}
    index = write_set(tmp_path, arrays)
    with ndpack.open(index) as s:
        assert s.info("scalar").shape == () and s["scalar"].shape == ()
        assert s["scalar"].item() == 3.5
        assert s.info("numpy_scalar").shape == () and s["numpy_scalar"].dtype == np.int16
        assert s["numpy_scalar"].item() == -7
        np.testing.assert_array_equal(s["f_order"], arrays["f_order"])


def test_an_array_of_a_shard_missing_from_the_weight_map_is_SET_INVALID(tmp_path):
    index = write_set(tmp_path)
    content = read_index(index)
    del content["weight_map"]["bias"]
    write_index(index, content)
    error = expect_set_error(index, "SET_INVALID")
    assert "bias" in error.message


def test_a_name_of_the_index_not_in_its_shard_is_SET_INVALID_not_NOT_FOUND(tmp_path):
    index = write_set(tmp_path)
    content = read_index(index)
    content["weight_map"]["ghost"] = content["weight_map"]["bias"]
    write_index(index, content)
    expect_set_error(index, "SET_INVALID", "bias")


def test_an_array_held_by_a_shard_the_index_does_not_map_it_to_is_SET_INVALID(tmp_path):
    index = write_set(tmp_path)
    content = read_index(index)
    shards = list(dict.fromkeys(content["weight_map"].values()))
    content["weight_map"]["layer.0.weight"] = shards[1]  # held by shards[0]
    write_index(index, content)
    expect_set_error(index, "SET_INVALID", "layer.0.weight")


def test_a_shard_of_another_size_than_the_index_says_is_FILE_CHANGED(tmp_path):
    index = write_set(tmp_path)
    shard = ndpack.open(index).shard_of("bias")
    with open(tmp_path / shard, "ab") as fh:
        fh.write(b"\0" * 64)
    error = expect_set_error(index, "FILE_CHANGED", "bias")
    assert shard in error.message


def test_a_shard_whose_header_changed_is_FILE_CHANGED_before_its_header_is_parsed(tmp_path):
    index = write_set(tmp_path)
    shard = ndpack.open(index).shard_of("bias")
    data = bytearray((tmp_path / shard).read_bytes())
    data[25] ^= 1  # inside the header: the header's own CRC would say HEADER_CHECKSUM
    (tmp_path / shard).write_bytes(bytes(data))
    expect_set_error(index, "FILE_CHANGED", "bias")


def test_a_missing_shard_file_is_IO_ERROR_naming_it(tmp_path):
    index = write_set(tmp_path)
    shard = ndpack.open(index).shard_of("bias")
    (tmp_path / shard).unlink()
    error = expect_set_error(index, "IO_ERROR", "bias")
    assert shard in error.message and isinstance(error.__cause__, FileNotFoundError)


def test_verify_of_a_set_reports_every_broken_shard_and_array(tmp_path):
    index = write_set(tmp_path)
    s = ndpack.open(index)
    missing, corrupt = s.shard_of("bias"), s.shard_of("layer.0.weight")
    (tmp_path / missing).unlink()
    reader = ndpack.open(tmp_path / corrupt)
    data = bytearray((tmp_path / corrupt).read_bytes())
    data[reader.info("layer.1.weight").start + 8] ^= 1
    (tmp_path / corrupt).write_bytes(bytes(data))
    failures = [(r["shard"], r["name"], r["error"]["code"]) for r in ndpack.open(index).verify()
                if not r["ok"]]
    assert failures == [(corrupt, "layer.1.weight", "CHECKSUM"), (missing, None, "IO_ERROR")]


# --------------------------------------------------------------------------------------------------
# Broken safetensors shards, and refused set writes
# --------------------------------------------------------------------------------------------------

def safetensors_bytes(header: dict, data: bytes = b"") -> bytes:
    text = json.dumps(header).encode()
    return len(text).to_bytes(8, "little") + text + data


def expect_shard_error(tmp_path, content, code):
    """A set of one .safetensors shard holding ``content`` fails with ``code`` naming array a."""
    (tmp_path / "m-1.safetensors").write_bytes(content)
    index = tmp_path / "model.safetensors.index.json"
    write_index(index, {"weight_map": {"a": "m-1.safetensors"}})
    expect_set_error(index, code, "a")


@pytest.mark.parametrize("content, code", [
    (b"\x01\x00", "TRUNCATED"),
    ((2**40).to_bytes(8, "little"), "HEADER_TOO_LARGE"),
    ((100).to_bytes(8, "little") + b"{}", "TRUNCATED"),
    ((2).to_bytes(8, "little") + b"[]", "HEADER_INVALID"),
    ((3).to_bytes(8, "little") + b"{x}", "HEADER_INVALID"),
    (safetensors_bytes({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0]}}), "HEADER_INVALID"),
    (safetensors_bytes({"a": {"dtype": "Q8", "shape": [2], "data_offsets": [0, 8]}}, bytes(8)),
     "UNKNOWN_DTYPE"),
    (safetensors_bytes({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}, bytes(8)),
     "SIZE_MISMATCH"),
    # Past the end of the file: the file is too short for the tensors (TRUNCATED, as TypeScript's
    # reader says), not OUT_OF_BOUNDS
    (safetensors_bytes({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, bytes(8)),
     "TRUNCATED"),
    (safetensors_bytes({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                        "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, bytes(12)),
     "OVERLAP"),
])
def test_a_broken_safetensors_shard_fails_with_its_code(tmp_path, content, code):
    expect_shard_error(tmp_path, content, code)


def safetensors_text(text: str, data: bytes = b"") -> bytes:
    return len(text.encode()).to_bytes(8, "little") + text.encode() + data


@pytest.mark.parametrize("content, code", [
    (safetensors_text('{"a":' + "[" * 100_000 + "]" * 100_000 + "}"), "LIMIT_EXCEEDED"),
    (safetensors_bytes({"a": {"dtype": ["F32"], "shape": [2], "data_offsets": [0, 8]}}, bytes(8)),
     "HEADER_INVALID"),
    (safetensors_bytes({"a": {"dtype": {"F": 32}, "shape": [2], "data_offsets": [0, 8]}},
                       bytes(8)), "HEADER_INVALID"),
    (safetensors_bytes({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                        "__metadata__": "not an object"}, bytes(8)), "HEADER_INVALID"),
    (safetensors_text('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},'
                      '"a":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}', bytes(12)),
     "DUPLICATE_NAME"),
    (safetensors_text('{"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}}', bytes(8)),
     "BAD_NUMBER"),
], ids=["deeply-nested", "dtype-list", "dtype-object", "metadata-string", "repeated-name",
        "fraction"])
def test_a_hostile_safetensors_shard_header_is_LIMIT_EXCEEDED_HEADER_INVALID_or_DUPLICATE_NAME(
        tmp_path, content, code):
    expect_shard_error(tmp_path, content, code)


def test_a_safetensors_shard_keeps_its_string_metadata_and_a_repeated_inner_key_is_DUPLICATE_KEY(
        tmp_path):
    index = tmp_path / "model.safetensors.index.json"
    write_index(index, {"weight_map": {"a": "m-1.safetensors"}})
    (tmp_path / "m-1.safetensors").write_bytes(safetensors_bytes(
        {"__metadata__": {"format": "pt"}, "a": {"dtype": "F32", "shape": [2],
                                                 "data_offsets": [0, 8]}},
        np.array([1, 2], "<f4").tobytes()))
    with ndpack.open(index) as s:
        assert s["a"].tolist() == [1.0, 2.0]
        assert s.shard("m-1.safetensors").metadata == {"format": "pt"}
    (tmp_path / "m-1.safetensors").write_bytes(safetensors_text(
        '{"a":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}}', bytes(8)))
    expect_set_error(index, "DUPLICATE_KEY", "a")


def test_a_set_written_to_a_url_is_INVALID_ARGUMENT():
    with pytest.raises(NdpackError) as info:
        ndpack.save_set("https://example.org/m.ndp.index.json", ARRAYS)
    assert info.value.code == "INVALID_ARGUMENT"


@pytest.mark.parametrize("size", [0, -5, 1.5, "1GB"])
def test_a_max_shard_size_that_is_not_a_positive_int_is_INVALID_ARGUMENT(tmp_path, size):
    with pytest.raises(NdpackError) as info:
        ndpack.save_set(tmp_path / "m.ndp.index.json", ARRAYS, max_shard_size=size)
    assert info.value.code == "INVALID_ARGUMENT"


def test_set_writer_refusals_leave_no_file(tmp_path):
    declared = [("a", "u1", (4,)), ("b", "u1", (4,))]
    with pytest.raises(NdpackError) as info:
        with ndpack.SetWriter(tmp_path / "m.ndp.index.json", declared, max_shard_size=4) as w:
            w.write("nope", np.zeros(4, "u1"))
    assert info.value.code == "NOT_FOUND"  # as TypeScript's createSetWriter
    with pytest.raises(NdpackError) as info:
        with ndpack.SetWriter(tmp_path / "m.ndp.index.json", declared, max_shard_size=4) as w:
            w.write("b", np.zeros(4, "u1"))
            w.write("a", np.zeros(4, "u1"))  # after b: out of order
    assert info.value.code == "WRITE_SIZE"  # as TypeScript's createSetWriter
    assert os.listdir(tmp_path) == []
    w = ndpack.SetWriter(tmp_path / "m.ndp.index.json", declared)
    w.write("a", np.zeros(4, "u1"))
    w.write("b", np.zeros(4, "u1"))
    w.close()
    with pytest.raises(NdpackError) as info:
        w.write("b", np.zeros(4, "u1"))
    assert info.value.code == "CLOSED"


def test_a_set_reader_pickles_as_the_arguments_that_open_it(tmp_path):
    import pickle

    index = write_set(tmp_path)
    again = pickle.loads(pickle.dumps(ndpack.open(index)))
    np.testing.assert_array_equal(again["bias"], ARRAYS["bias"])


# --------------------------------------------------------------------------------------------------
# Found by an audit against FORMAT.md and the TypeScript reader (each test failed before its fix)
# --------------------------------------------------------------------------------------------------

U8 = '"dtype":"U8","shape":[1],"data_offsets":'


@pytest.mark.parametrize("content, code", [
    # Appendix C: the reference loader's checks: the tensors follow each other from the start of
    # the data (a gap before the first one: GAP) and the last one ends at the end of the file
    (safetensors_text('{"a":{%s[1,2]}}' % U8, b"\0\2"), "GAP"),
    (safetensors_text('{"a":{%s[0,1]},"b":{%s[2,3]}}' % (U8, U8), b"\1\0\2"), "GAP"),
    (safetensors_text('{"a":{%s[0,1]}}' % U8, b"\1\2"), "TRAILING_BYTES"),
    (safetensors_text('{"__metadata__":{"k":NaN},"a":{%s[0,1]}}' % U8, b"\7"), "HEADER_INVALID"),
    # a tensor is an object of exactly its three keys
    (safetensors_text('{"a":{%s[0,1],"x":"y"}}' % U8, b"\1"), "HEADER_INVALID"),
    # no key's numbers are free, not even those of a tensor named "metadata"
    (safetensors_text('{"metadata":{%s[0,1],"x":1.5}}' % U8, b"\1"), "BAD_NUMBER"),
    # the keys in the header's order: the tensor's dtype before __metadata__ after it
    (safetensors_text('{"a":{"dtype":"Q8","shape":[1],"data_offsets":[0,1]},"__metadata__":5}',
                      b"\1"), "UNKNOWN_DTYPE"),
    (safetensors_text('{"a":{"dtype":"U8","shape":[%s],"data_offsets":[0,1]}}'
                      % ",".join(["1"] * 65), b"\1"), "LIMIT_EXCEEDED"),
    (safetensors_text('{"a":{"dtype":"F64","shape":[9007199254740991,2],"data_offsets":[0,1]}}',
                      b"\1"), "BAD_SHAPE"),
    # the offsets before the file's length
    (safetensors_text('{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,1]}}'), "SIZE_MISMATCH"),
    # the file's length before __metadata__'s JSON values (Appendix C: __ndpack_json__)
    (safetensors_text('{"__metadata__":{"__ndpack_json__":"x"},"a":{%s[0,1]}}' % U8, b"\1\2"),
     "TRAILING_BYTES"),
    (safetensors_text('{"__metadata__":{"__ndpack_json__":"x"},"a":{%s[0,1]}}' % U8, b"\1"),
     "HEADER_INVALID"),
    (safetensors_text('{"__metadata__":{"k":"[1,","__ndpack_json__":"[\\"k\\"]"},"a":{%s[0,1]}}'
                      % U8, b"\1"), "HEADER_INVALID"),
    (safetensors_text('{"__metadata__":{"__ndpack_json__":"[\\"z\\"]"},"a":{%s[0,1]}}' % U8,
                      b"\1"), "HEADER_INVALID"),
    # the listed values in the list's order (FORMAT.md §12.3 step 4.6), not __metadata__'s: "b"
    # (65 deep once parsed as {"metadata": <value>}) before "a" (not JSON)
    (safetensors_text('{"__metadata__":{"a":"[","b":"%s%s","__ndpack_json__":"[\\"b\\",\\"a\\"]"},'
                      '"x":{%s[0,1]}}' % ("[" * 64, "]" * 64, U8), b"\1"), "LIMIT_EXCEEDED"),
], ids=["gap-before-the-first", "gap-between", "trailing-byte", "nan-in-metadata",
        "unknown-tensor-key", "float-in-a-tensor-named-metadata", "dtype-before-later-metadata",
        "65-dimensions", "bad-shape", "size-mismatch-before-truncated",
        "trailing-before-metadata-json", "ndpack-json-not-json", "listed-value-not-json",
        "ndpack-json-lists-a-missing-key", "listed-values-in-the-list-order"])
def test_a_safetensors_shard_fails_with_the_code_of_the_typescript_reader_in_its_order(
        tmp_path, content, code):
    expect_shard_error(tmp_path, content, code)


def test_a_safetensors_shard_decodes_the_metadata_values_ndpack_stored_as_json(tmp_path):
    (tmp_path / "m-1.safetensors").write_bytes(safetensors_text(
        '{"__metadata__":{"format":"pt","step":"12","lr":"[0.5,-0]",'
        '"__ndpack_json__":"[\\"step\\",\\"lr\\"]"},"a":{%s[0,1]}}' % U8, b"\7"))
    index = tmp_path / "model.safetensors.index.json"
    write_index(index, {"weight_map": {"a": "m-1.safetensors"}})
    with ndpack.open(index) as s:
        assert s["a"].tolist() == [7]
        metadata = s.shard("m-1.safetensors").metadata
    assert metadata == {"format": "pt", "step": 12, "lr": [0.5, -0.0]}
    assert str(metadata["lr"][1]) == "-0.0"


def test_a_safetensors_shard_header_over_100_000_000_bytes_is_HEADER_TOO_LARGE_by_default(
        tmp_path):
    # The reference loader's MAX_HEADER_SIZE, the TypeScript reader's default: not 100 MiB
    shard = tmp_path / "m-1.safetensors"
    with open(shard, "wb") as f:
        f.write((100_000_001).to_bytes(8, "little"))
        f.truncate(8 + 100_000_001)
    index = tmp_path / "model.safetensors.index.json"
    write_index(index, {"weight_map": {"a": "m-1.safetensors"}})
    expect_set_error(index, "HEADER_TOO_LARGE", "a")
    with pytest.raises(NdpackError) as info:  # raised: the header is read (and is not JSON)
        ndpack.open(index, max_header_bytes=100_000_001).read("a")
    assert info.value.code == "HEADER_INVALID"


def test_an_index_of_more_json_values_than_max_header_nodes_is_LIMIT_EXCEEDED(tmp_path):
    # FORMAT.md §12.2: every JSON value of the index, the index object included (5 here besides
    # the list's elements), each counted when it starts; 1,000,000 by default
    index = tmp_path / "model.ndp.index.json"
    for elements, code in ((999_995, None), (999_996, "LIMIT_EXCEEDED")):
        index.write_text(json.dumps({"metadata": {"x": [0] * elements},
                                     "weight_map": {"a": "m-1.ndp"}}, separators=(",", ":")))
        if code is None:
            metadata, _, _ = ndpack._sets.parse_index(index.read_bytes())
            assert len(metadata["x"]) == elements
        else:
            with pytest.raises(NdpackError) as info:
                ndpack.open(index)
            assert info.value.code == code
    # the readers' option is passed to the index, as the other limits are
    write_index(index, {"metadata": {"x": [1, 2, 3]}, "weight_map": {"a": "m-1.ndp"}})
    assert ndpack._sets.parse_index(index.read_bytes(), max_header_nodes=8)[0] == {"x": [1, 2, 3]}
    for open_index in (ndpack.open, ndpack.SetReader):
        with pytest.raises(NdpackError) as info:
            open_index(index, max_header_nodes=7)
        assert info.value.code == "LIMIT_EXCEEDED"


@pytest.mark.parametrize("index_url, shard, url", [
    # FORMAT.md §12.1's example: the query and the last segment are replaced; '(' and ')' are kept
    ("https://h/d/model.ndp.index.json?p=a/b", "a(1) #2.ndp", "https://h/d/a(1)%20%232.ndp"),
    ("https://h/d/m.ndp.index.json#x/y", "m-1.ndp", "https://h/d/m-1.ndp"),
    ("https://h/a/../d/m.ndp.index.json", "é!~*'.ndp", "https://h/d/%C3%A9!~*'.ndp"),
    ("https://h", "a+b;c=d&e.ndp", "https://h/a%2Bb%3Bc%3Dd%26e.ndp"),
    ("s3://bucket/d/m.ndp.index.json?versionId=1/2", "m 1.ndp", "s3://bucket/d/m%201.ndp"),
])
def test_a_shard_url_is_its_encoded_name_resolved_against_the_index_url(index_url, shard, url):
    assert ndpack._sets.shard_url(index_url, shard) == url
    reader = ndpack.SetReader.__new__(ndpack.SetReader)
    reader.location = index_url
    assert reader.shard_location(shard) == url


def test_set_metadata_nested_deeper_than_readers_accept_is_LIMIT_EXCEEDED_before_any_shard(
        tmp_path):
    # FORMAT.md §8: the index's metadata, at depth 2 as in a header, within the default max_depth
    deep = [0]
    for _ in range(62):
        deep = [deep]  # a list at depth 2 + 62 = 64 (the index object is depth 1)
    ndpack.save_set(tmp_path / "m.ndp.index.json", {"a": np.zeros(2)}, metadata={"x": deep[0]})
    assert ndpack.open(tmp_path / "m.ndp.index.json").metadata == {"x": deep[0]}
    for path in tmp_path.iterdir():
        path.unlink()
    with pytest.raises(NdpackError) as info:
        ndpack.save_set(tmp_path / "m.ndp.index.json", {"a": np.zeros(2)}, metadata={"x": deep})
    assert info.value.code == "LIMIT_EXCEEDED"
    with pytest.raises(NdpackError) as info:
        ndpack.SetWriter(tmp_path / "m.ndp.index.json", [("a", "f8", (2,))],
                         metadata={"x": deep})
    assert info.value.code == "LIMIT_EXCEEDED"
    assert os.listdir(tmp_path) == []


def test_the_default_max_shard_size_is_TypeScripts_and_the_command_lines():
    # 5 GB, Hugging Face's default, in every writer of sets (was 2**31 in Python alone).
    repo = Path(__file__).resolve().parents[3]
    ts = (repo / "src" / "node" / "set-writer.ts").read_text()
    assert "export const DEFAULT_MAX_SHARD_BYTES = 5_000_000_000;" in ts  # the CLI's default too
    for writer in (ndpack.save_set, ndpack.SetWriter):
        assert inspect.signature(writer).parameters["max_shard_size"].default == 5_000_000_000
