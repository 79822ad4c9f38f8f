"""Steps 8 to 18 checked at once (ndpack/_fast_entries.py) against the readable checks (reference.py),
and the entries they return (reference.Entries).

``check_entries`` may only change speed: it returns the entries the readable checks return, or None
(then the readable checks decide). Headers of real files are damaged one field at a time, each
damage named with the code the readable checks give; a header ``check_entries`` accepts must be
one the readable checks accept, with the same entries."""

from __future__ import annotations

import copy
import json
import math
import random
import struct

import numpy as np
import pytest

import ndpack
from ndpack import _fast_entries, reference
from ndpack.reference import NdpackError

LIMITS = reference.DEFAULT_LIMITS


def header_of(data: bytes) -> tuple[dict, int]:
    (length,) = struct.unpack_from("<I", data, 12)
    return json.loads(data[20 : 20 + length]), 20 + length


def readable(h: dict, header_end: int, minor: int = 0, limits=LIMITS):
    """("ok", entries) or ("error", code) from the readable checks of steps 8 to 18."""
    try:
        reference._check_structure(h, minor)
        return "ok", reference._check_entries(h, limits, header_end)
    except NdpackError as ex:
        return "error", ex.code


def agree(h: dict, header_end: int, minor: int = 0, limits=LIMITS):
    """The readable outcome, after checking that check_entries gives the same entries or None."""
    expected = readable(h, header_end, minor, limits)
    fast = _fast_entries.check_entries(h, minor, limits, header_end)
    if fast is not None:
        fast = list(fast)  # every entry built from the columns
        assert expected == ("ok", fast)
    return expected, fast


def sample_file(count: int = 5, **options) -> bytes:
    rng = np.random.default_rng(count)
    arrays = {f"layer.{i}.w": rng.standard_normal((i + 1, 3)).astype(["f4", "i8", "u1"][i % 3])
              for i in range(count)}
    return ndpack.dumps(arrays, **options)


def test_valid_headers_are_accepted_with_the_same_entries():
    for options in ({}, {"checksum": "none"}, {"alignment": 8}, {"codec": "deflate"},
                    {"byte_order": "big", "alignment": 4096}):
        h, end = header_of(sample_file(7, **options))
        expected, fast = agree(h, end)
        assert expected[0] == "ok" and fast == expected[1], options
    h, end = header_of(ndpack.dumps({}))
    assert agree(h, end) == (("ok", []), None)  # no array: left to the readable checks


def damaged(change) -> tuple[dict, int]:
    h, end = header_of(sample_file())
    change(h, h["arrays"])
    return h, end


def set_(obj, key, value):
    obj[key] = value


DAMAGES = [
    ("alignment 48", lambda h, a: set_(h, "alignment", 48), "HEADER_INVALID"),
    ("alignment true", lambda h, a: set_(h, "alignment", True), "HEADER_INVALID"),
    ("checksum md5", lambda h, a: set_(h, "checksum", "md5"), "UNSUPPORTED_CHECKSUM"),
    ("checksum a list", lambda h, a: set_(h, "checksum", ["crc32"]), "HEADER_INVALID"),
    ("dataLength a string", lambda h, a: set_(h, "dataLength", "1"), "HEADER_INVALID"),
    ("metadata a list", lambda h, a: set_(h, "metadata", []), "HEADER_INVALID"),
    ("arrays an object", lambda h, a: set_(h, "arrays", {}), "HEADER_INVALID"),
    ("an unknown header key", lambda h, a: set_(h, "future", 1), "HEADER_INVALID"),
    ("no metadata", lambda h, a: h.pop("metadata"), "HEADER_INVALID"),
    ("an entry that is a list", lambda h, a: a.__setitem__(2, []), "HEADER_INVALID"),
    ("an entry without shape", lambda h, a: a[1].pop("shape"), "HEADER_INVALID"),
    ("an unknown entry key", lambda h, a: set_(a[3], "future", 1), "HEADER_INVALID"),
    ("an empty name", lambda h, a: set_(a[2], "name", ""), "HEADER_INVALID"),
    ("a name that is a number", lambda h, a: set_(a[2], "name", 5), "HEADER_INVALID"),
    ("dtype float128", lambda h, a: set_(a[1], "dtype", "float128"), "UNKNOWN_DTYPE"),
    ("dtype a list", lambda h, a: set_(a[1], "dtype", ["f4"]), "HEADER_INVALID"),
    ("a dimension true", lambda h, a: set_(a[1], "shape", [True, 3]), "HEADER_INVALID"),
    ("a dimension a string", lambda h, a: set_(a[1], "shape", ["2", 3]), "HEADER_INVALID"),
    ("a shape that is an int", lambda h, a: set_(a[1], "shape", 6), "HEADER_INVALID"),
    ("order K", lambda h, a: set_(a[0], "order", "K"), "HEADER_INVALID"),
    ("byteOrder middle", lambda h, a: set_(a[4], "byteOrder", "middle"), "HEADER_INVALID"),
    ("codec zstd", lambda h, a: set_(a[4], "codec", "zstd"), "UNSUPPORTED_CODEC"),
    ("codec a list", lambda h, a: set_(a[4], "codec", []), "HEADER_INVALID"),
    ("offset false", lambda h, a: set_(a[0], "offset", False), "HEADER_INVALID"),
    ("byteLength a float", lambda h, a: set_(a[0], "byteLength", 12.0), "HEADER_INVALID"),
    ("a duplicate name", lambda h, a: set_(a[3], "name", a[1]["name"]), "DUPLICATE_NAME"),
    ("65 dimensions", lambda h, a: set_(a[4], "shape", [1] * 65), "LIMIT_EXCEEDED"),
    ("a name of 4097 bytes", lambda h, a: set_(a[4], "name", "é" * 2049), "LIMIT_EXCEEDED"),
    ("nbytes above 2^53-1", lambda h, a: set_(a[4], "shape", [2**26, 2**26]), "BAD_SHAPE"),
    ("a zero dimension beside huge ones",
     lambda h, a: (set_(a[4], "shape", [0, 2**30, 2**30]), set_(a[4], "byteLength", 0),
                   set_(h, "dataLength", a[4]["offset"] + 4)), "BAD_SHAPE"),
    ("byteLength one short", lambda h, a: set_(a[2], "byteLength", a[2]["byteLength"] - 1),
     "SIZE_MISMATCH"),
    ("offset misaligned", lambda h, a: set_(a[2], "offset", a[2]["offset"] + 8), "MISALIGNED"),
    ("two records at one offset", lambda h, a: set_(a[2], "offset", a[1]["offset"]), "OVERLAP"),
    ("records swapped", lambda h, a: a.__setitem__(slice(1, 3), [a[2], a[1]]), "GAP"),
    ("a gap of one alignment", lambda h, a: set_(a[4], "offset", a[4]["offset"] + 64), "GAP"),
    ("the first record not at 0", lambda h, a: set_(a[0], "offset", 64), "GAP"),
    ("dataLength one short", lambda h, a: set_(h, "dataLength", h["dataLength"] - 1),
     "OUT_OF_BOUNDS"),
]


@pytest.mark.parametrize("name,change,code", DAMAGES, ids=[d[0] for d in DAMAGES])
def test_damaged_headers_are_left_to_the_readable_checks(name, change, code):
    h, end = damaged(change)
    expected, fast = agree(h, end)
    assert expected == ("error", code)
    assert fast is None


def test_dataLength_beyond_the_last_record_is_left_to_the_readable_checks():
    # Steps 9-18 pass (step 19, in _parse, reports GAP); check_entries does not decide it.
    h, end = header_of(sample_file())
    h["dataLength"] += 64
    expected, fast = agree(h, end)
    assert expected[0] == "ok" and fast is None


def test_a_header_of_a_few_arrays_is_left_to_the_readable_checks():
    h, end = header_of(sample_file(_fast_entries._FEW - 1))
    expected, fast = agree(h, end)
    assert expected[0] == "ok" and len(expected[1]) == _fast_entries._FEW - 1 and fast is None
    h, end = header_of(sample_file(_fast_entries._FEW))
    assert agree(h, end)[1] is not None


def test_zero_dimensions_and_minor_versions_agree():
    h, end = header_of(ndpack.dumps({"a": np.zeros((0, 3), "f4"), "b": np.ones(3, "f8")}))
    assert agree(h, end)[0][0] == "ok"
    h, end = header_of(sample_file())
    h["future"] = {"x": 1}
    h["arrays"][1]["future"] = 2
    expected, fast = agree(h, end, minor=1)
    assert expected[0] == "ok" and fast == expected[1]
    assert agree(h, end, minor=0)[0] == ("error", "HEADER_INVALID")


def test_as_many_dimensions_as_arrays_but_not_one_each_agree():
    # 4 arrays, 4 dimensions: nbytes are the shapes' products, not one dimension each
    h, end = header_of(ndpack.dumps({"a": np.float32(1), "b": np.zeros((2, 3), "i2"),
                                     "c": np.zeros(5, "u1"), "d": np.zeros(7, "f8")}))
    assert sum(len(e["shape"]) for e in h["arrays"]) == len(h["arrays"]) == 4
    expected, fast = agree(h, end)
    assert expected[0] == "ok" and fast == expected[1]
    h["arrays"][1]["byteLength"] = 4  # what one dimension each (the 2) would make of it
    assert agree(h, end) == (("error", "SIZE_MISMATCH"), None)


def test_limits_agree():
    h, end = header_of(sample_file(6))
    for limits in ({"max_arrays": 5}, {"max_dims": 1}, {"max_name_bytes": 8},
                   {"max_name_bytes": 9}):
        expected, fast = agree(h, end, limits={**LIMITS, **limits})
        assert expected[0] == ("error" if limits != {"max_name_bytes": 9} else "ok"), limits


def test_generated_damage_gives_the_same_outcome():
    rng = random.Random(1415)
    values = [0, 1, 8, 24, 64, -1, 2**53 - 1, 2**53, True, False, None, 1.5, "", "x", "C", "F",
              "little", "big", "none", "deflate", "float32", "uint8", [], [0], [1, 2], [2, 0], {},
              "layer.1.w"]
    accepted = rejected = 0
    for i in range(3000):
        count = rng.randrange(_fast_entries._FEW, 9)
        h, end = header_of(sample_file(count, **rng.choice([{}, {"checksum": "none"},
                                                            {"alignment": 8}])))
        for _ in range(rng.randrange(0, 3)):
            entries = h.get("arrays")
            target = rng.choice([h] + [e for e in entries if isinstance(e, dict)]
                                if isinstance(entries, list) else [h])
            key = rng.choice(list(target) + ["codec", "extra"])
            if rng.random() < 0.15:
                target.pop(key, None)
            else:
                target[key] = copy.deepcopy(rng.choice(values + [target.get(key)]))
        minor = rng.choice([0, 0, 0, 1])
        expected, fast = agree(h, end, minor)
        accepted += fast is not None
        rejected += expected[0] == "error"
    assert accepted >= 500 and rejected >= 1000, (accepted, rejected)


def test_entries_are_built_from_columns_when_asked_for():
    data = sample_file(4, codec="deflate")
    f = ndpack.loads(data)
    entries = f._entries
    assert isinstance(entries, reference.Entries)
    assert list(entries.positions) == f.names == [f"layer.{i}.w" for i in range(4)]
    assert entries[-1] == entries[3] == f.info("layer.3.w")
    assert entries[1:3] == [entries[1], entries[2]]
    assert [e.start for e in entries] == [f.data_start + e.offset for e in entries]
    assert all(type(e.shape) is tuple for e in entries)
    h, end = header_of(data)
    assert list(reference.Entries.of(list(entries), f.data_start)) == list(entries)
    assert len(reference.Entries.of([], 64)) == 0


# --------------------------------------------------------------------------------------------------
# The canonical layout read by regular expressions (_fast_entries.canonical): steps 7 to 18 at
# once. It returns the header (its arrays built from the entries when asked for) and the entries
# the strict parser and the readable checks give, or None (then they decide).
# --------------------------------------------------------------------------------------------------


def strict(raw: bytes, end: int, minor: int = 0, limits=LIMITS):
    """("ok", header, entries) or ("error", code): the strict parser, then the readable checks."""
    try:
        h = reference._parse_strict(raw.decode("utf-8"), limits["max_depth"],
                                    limits["max_header_nodes"])
        reference._check_structure(h, minor)
        return "ok", h, reference._check_entries(h, limits, end)
    except UnicodeDecodeError:
        return ("error", "HEADER_INVALID")
    except NdpackError as ex:
        return "error", ex.code


def canonical_agrees(raw: bytes, end: int, limits=LIMITS):
    """The strict outcome, after checking that canonical() gives the same header and entries,
    or None."""
    expected = strict(raw, end, 0, limits)
    fast = _fast_entries.canonical(raw, limits, end)
    if fast is not None:
        h, entries = fast
        assert expected[0] == "ok", (raw, expected)
        assert list(entries) == expected[2]
        assert json.dumps(reference.header_object(h, entries)) == json.dumps(expected[1])
    return expected, fast


def header_bytes(data: bytes) -> tuple[bytes, int]:
    (length,) = struct.unpack_from("<I", data, 12)
    return data[20 : 20 + length], 20 + length


def test_canonical_headers_are_read_with_the_same_header_and_entries():
    rng = np.random.default_rng(5)
    files = [
        sample_file(7),
        sample_file(3, checksum="none"),
        sample_file(5, codec="deflate"),
        sample_file(5, byte_order="big", alignment=4096),
        ndpack.dumps({"s": np.float64(2.5), "v": np.arange(3, dtype="i2"), "é名": np.ones((2, 3, 4))},
                     metadata={"run": 7, "lr": -0.5, "tags": ["a", "b:c"], "nested": {"d": [1, {}]},
                               "z": -0.0, "u": "\u00e9\n"}),
        ndpack.dumps({f"k{i}": rng.standard_normal((i % 3 + 1,) * (i % 4)) for i in range(40)}),
        ndpack.dumps({"a": np.zeros(2, "u1")}, metadata={"big": 2**53 - 1, "f": 1e300}),
    ]
    for data in files:
        raw, end = header_bytes(data)
        expected, fast = canonical_agrees(raw, end)
        assert fast is not None and expected[0] == "ok", raw
        # The file reads the same: header objects, entries, arrays
        f = ndpack.loads(data)
        assert "arrays" not in f._header  # built when asked for
        assert f.header == json.loads(raw) and reference.canonical_header(f.header) == raw


def test_the_header_of_a_reader_is_built_when_asked_for(tmp_path):
    path = tmp_path / "many.ndp"
    ndpack.save(path, {f"t{i}": np.full(3, i, "f4") for i in range(50)}, metadata={"k": [1]})
    with ndpack.open(path) as r:
        assert "arrays" not in r._header  # not built by open
        data = path.read_bytes()
        assert r.header == json.loads(header_bytes(data)[0])
        assert r.header is r.header and r.metadata == {"k": [1]}


def text_damages(raw: bytes):
    """(name, damaged header text, the strict outcome's code or "ok")."""
    t = raw.decode()
    first = t.index('{"name"')
    return [
        ("a space before a key", t.replace('"dtype"', ' "dtype"', 1), "ok"),
        ("a newline after the header", t + "\n", "HEADER_INVALID"),
        ("trailing spaces", t + "   ", "ok"),
        ("a comma after the last entry", t[:-2] + ",]}", "HEADER_INVALID"),
        ("two entries without a comma", t.replace("},{", "}{", 1), "HEADER_INVALID"),
        ("two commas between entries", t.replace("},{", "},,{", 1), "HEADER_INVALID"),
        ("an escaped name", t.replace('"name":"layer', '"name":"l\\u0061yer', 1), "ok"),
        ("an escaped quote in a name", t.replace('"name":"layer', '"name":"\\"ayer', 1), "ok"),
        ("a leading zero", t.replace('"offset":0,', '"offset":00,', 1), "HEADER_INVALID"),
        ("a negative offset", t.replace('"offset":0,', '"offset":-0,', 1), "BAD_NUMBER"),
        ("an offset of 16 digits", t.replace('"offset":0,', '"offset":9007199254740992,', 1),
         "BAD_NUMBER"),
        ("an offset 1.0", t.replace('"offset":0,', '"offset":0.0,', 1), "BAD_NUMBER"),
        ("codec none written", t.replace('"byteOrder":"little",', '"byteOrder":"little",'
                                         '"codec":"none",', 1), "ok"),
        ("codec empty", t.replace('"byteOrder":"little",', '"byteOrder":"little","codec":"",', 1),
         "UNSUPPORTED_CODEC"),
        ("a duplicate entry key", t.replace('"order":"C"', '"order":"C","order":"F"', 1),
         "DUPLICATE_KEY"),
        ("keys out of order", t.replace('"dtype":"float32","shape":[1,3]',
                                        '"shape":[1,3],"dtype":"float32"', 1), "ok"),
        ("a duplicate header key", t.replace('"checksum":"crc32"',
                                             '"checksum":"crc32","checksum":"none"', 1),
         "DUPLICATE_KEY"),
        ("metadata with a duplicate key", t.replace('"metadata":{}', '"metadata":{"a":1,"a":2}'),
         "DUPLICATE_KEY"),
        ("metadata with NaN", t.replace('"metadata":{}', '"metadata":{"a":NaN}'),
         "HEADER_INVALID"),
        ("metadata with a lone surrogate", t.replace('"metadata":{}', '"metadata":{"a":"\\ud800"}'),
         "HEADER_INVALID"),
        ("metadata with 2^53", t.replace('"metadata":{}', '"metadata":{"a":9007199254740992}'),
         "BAD_NUMBER"),
        ("metadata not an object", t.replace('"metadata":{}', '"metadata":[]'), "HEADER_INVALID"),
        ("garbage between entries", t.replace("},{", "},1,{", 1), "HEADER_INVALID"),
        ("a control character in a name", t.replace('"name":"layer', '"name":"\tlayer', 1),
         "HEADER_INVALID"),
        ("an empty shape for 3 values", t.replace('"shape":[1,3]', '"shape":[]', 1),
         "SIZE_MISMATCH"),
        ("an unknown key", t[:first] + '{"future":1,' + t[first + 1 :], "HEADER_INVALID"),
        ("arrays empty", t[: first - 1] + "[]}", "GAP"),
    ]


SAMPLE_HEADER, SAMPLE_END = header_bytes(sample_file(5))
TEXT_DAMAGES = text_damages(SAMPLE_HEADER)


@pytest.mark.parametrize("name,text,code", TEXT_DAMAGES, ids=[d[0] for d in TEXT_DAMAGES])
def test_damaged_canonical_text_gives_the_strict_outcome(name, text, code):
    assert text != SAMPLE_HEADER.decode()  # the damage is there
    expected, fast = canonical_agrees(text.encode(), SAMPLE_END)
    if code == "GAP":  # an empty arrays is valid JSON and steps 8-18; step 19 (in _parse) decides
        assert expected[0] == "ok" and fast is None, name
    elif code == "ok":
        assert expected[0] == "ok", name
    else:
        assert expected == ("error", code) and fast is None, name


def test_canonical_limits_agree():
    raw, end = header_bytes(ndpack.dumps({f"k{i}": np.zeros((2, 3), "f4") for i in range(6)},
                                         metadata={"a": {"b": [1]}}))
    for limits, outcome in (({"max_arrays": 5}, "error"), ({"max_dims": 1}, "error"),
                            ({"max_name_bytes": 1}, "error"), ({"max_depth": 3}, "error"),
                            ({"max_depth": 4}, "ok"), ({"max_header_nodes": 40}, "error"),
                            ({"max_header_nodes": 100}, "ok")):
        expected, fast = canonical_agrees(raw, end, {**LIMITS, **limits})
        assert expected[0] == outcome, limits
    assert canonical_agrees(raw, end)[1] is not None
    # A header longer than max_header_nodes characters: the values are bounded, not counted
    raw, end = header_bytes(ndpack.dumps({f"k{i}": np.zeros((2, 3), "f4") for i in range(60)}))
    assert len(raw) > 1000  # 606 values: the root and its 5, 8 per entry, 2 dimensions each
    assert canonical_agrees(raw, end, {**LIMITS, "max_header_nodes": 1000})[1] is not None
    assert canonical_agrees(raw, end, {**LIMITS, "max_header_nodes": 606})[0][0] == "ok"
    assert canonical_agrees(raw, end, {**LIMITS, "max_header_nodes": 605}) == (
        ("error", "LIMIT_EXCEEDED"), None)


def test_generated_text_damage_gives_the_strict_outcome():
    rng = random.Random(1515)
    pieces = list(' ,:{}[]"\\-019e.') + ['"codec":"deflate",', '"name":"x",', "float64", "F",
                                         '"metadata":{"a":-0}', "big", "\\u00e9", "é"]
    accepted = rejected = 0
    for i in range(3000):
        data = sample_file(rng.randrange(1, 7), **rng.choice([{}, {"checksum": "none"},
                                                             {"alignment": 8}]))
        raw, end = header_bytes(data)
        text = raw.decode()
        for _ in range(rng.randrange(1, 3)):
            at = rng.randrange(len(text) + 1)
            kind = rng.random()
            if kind < 0.4:
                text = text[:at] + rng.choice(pieces) + text[at:]
            elif kind < 0.7:
                text = text[:at] + text[at + rng.randrange(1, 4) :]
            else:
                text = text[:at] + rng.choice(pieces) + text[at + 1 :]
        expected, fast = canonical_agrees(text.encode(), end)
        accepted += fast is not None
        rejected += expected[0] == "error"
    assert accepted >= 50 and rejected >= 2000, (accepted, rejected)


def header_text(arrays: list, alignment: int = 64, checksum: str = "crc32") -> tuple[bytes, int]:
    """The canonical header of ``arrays`` (entries without offsets: each at the first aligned
    offset after the one before), and where it ends in the file."""
    c, offset = (4 if checksum == "crc32" else 0), 0
    for e in arrays:
        e["offset"] = offset
        end = offset + e["byteLength"] + c
        offset = reference._align_up(end, alignment)
    raw = reference.canonical_header({"alignment": alignment, "checksum": checksum,
                                      "dataLength": end, "metadata": {}, "arrays": arrays})
    return raw, 20 + len(raw)


def entry(name: str, dtype: str, shape: list, byte_length: int | None = None, codec=None) -> dict:
    e = {"name": name, "dtype": dtype, "shape": shape, "order": "C", "byteOrder": "little",
         "byteLength": byte_length if byte_length is not None
         else math.prod(shape) * reference.DTYPES[dtype][0]}
    if codec:
        e["codec"] = codec
    return e


def test_canonical_reads_any_name_shape_and_codec_mix():
    cases = {
        "names with punctuation, spaces and non-ASCII": [
            entry(n, "float32", [2]) for n in ("a,b", "c:d", "{e}", "[f]", "g h", " ", "é名🙂",
                                               "\x7f\u00a0\u2028", "0", "x" * 1000)],
        "0 to 12 dimensions": [entry(f"s{k}", "int16", [2] * k) for k in range(13)],
        "codecs mixed": [entry("a", "uint8", [2, 3], 5, "deflate"), entry("b", "float64", [4]),
                         entry("c", "bool", [], 1, "deflate"), entry("d", "int8", [3])],
        "a 15-digit dimension under a codec": [
            entry("a", "uint8", [10**15 - 1], 3, "deflate")],
        "as many dimensions as arrays, not one each": [
            entry("a", "float32", []), entry("b", "int16", [2, 3]), entry("c", "uint8", [5]),
            entry("d", "float64", [7])],
    }
    for name, arrays in cases.items():
        raw, end = header_text(arrays)
        expected, fast = canonical_agrees(raw, end)
        assert expected[0] == "ok" and fast is not None, name


def test_canonical_integers_have_at_most_15_digits():
    # Integers of 16 digits below 2^53 are valid, but the canonical path reads 15 digits at most
    # and leaves the header to the strict parser: a dimension's digits are counted too where a
    # codec makes its byteLength no product of the shape
    for name, arrays in {
        "a 16-digit dimension under a codec": [entry("a", "uint8", [10**15], 3, "deflate")],
        "a 16-digit dimension beside a codec": [entry("a", "uint8", [10**15, 0]),
                                                entry("b", "uint8", [2], 3, "deflate")],
        "a 16-digit dimension and byteLength": [entry("a", "uint8", [10**15])],
    }.items():
        raw, end = header_text(arrays)
        expected, fast = canonical_agrees(raw, end)
        assert str(10**15) in raw.decode() and expected[0] == "ok" and fast is None, name


def entry_text_damages(raw: bytes):
    """(name, damaged header text, outcome): values of an entry that the canonical path's pattern
    lets through or refuses, and the strict parser's outcome: an error code, "ok" when it reads
    the header (which the canonical path leaves to it), "canonical" when both read it."""
    t = raw.decode()
    before, key, after = t.rpartition('"byteOrder":"little",')  # the last entry's
    return [
        ("a dimension 01", t.replace('"shape":[1,3]', '"shape":[01,3]', 1), "HEADER_INVALID"),
        ("a dimension 03 after another", t.replace('"shape":[1,3]', '"shape":[1,03]', 1),
         "HEADER_INVALID"),
        ("a dimension 00", t.replace('"shape":[1,3]', '"shape":[00,3]', 1), "HEADER_INVALID"),
        ("a byteLength 012", t.replace('"byteLength":12', '"byteLength":012', 1),
         "HEADER_INVALID"),
        ("a byteLength of 16 digits", t.replace('"byteLength":12', '"byteLength":1000000000000012',
                                                1), "SIZE_MISMATCH"),
        ("a dimension -1", t.replace('"shape":[1,3]', '"shape":[-1,3]', 1), "BAD_NUMBER"),
        ("a dimension 1.0", t.replace('"shape":[1,3]', '"shape":[1.0,3]', 1), "BAD_NUMBER"),
        ("a dimension 1e0", t.replace('"shape":[1,3]', '"shape":[1e0,3]', 1), "BAD_NUMBER"),
        ("a dimension +1", t.replace('"shape":[1,3]', '"shape":[+1,3]', 1), "HEADER_INVALID"),
        ("a byteLength 1.2e1", t.replace('"byteLength":12', '"byteLength":1.2e1', 1),
         "BAD_NUMBER"),
        ("a byteLength -12", t.replace('"byteLength":12', '"byteLength":-12', 1), "BAD_NUMBER"),
        ("a missing dimension", t.replace('"shape":[1,3]', '"shape":[1,,3]', 1), "HEADER_INVALID"),
        ("a comma first in a shape", t.replace('"shape":[1,3]', '"shape":[,3]', 1),
         "HEADER_INVALID"),
        ("a comma last in a shape", t.replace('"shape":[1,3]', '"shape":[1,3,]', 1),
         "HEADER_INVALID"),
        ("a space in a shape", t.replace('"shape":[1,3]', '"shape":[1, 3]', 1), "ok"),
        ("a space before an offset", t.replace('"offset":0,', '"offset": 0,', 1), "ok"),
        ("an escaped dtype", t.replace('"dtype":"float32"', '"dtype":"float3\\u0032"', 1), "ok"),
        ("an escaped order", t.replace('"order":"C"', '"order":"\\u0043"', 1), "ok"),
        ("an escaped byteOrder", t.replace('"byteOrder":"little"', '"byteOrder":"littl\\u0065"',
                                           1), "ok"),
        ("an escaped codec", t.replace('"byteOrder":"little",', '"byteOrder":"little",'
                                       '"codec":"deflat\\u0065",', 1), "ok"),
        ("a backslash in a name", t.replace('"name":"layer', '"name":"la\\\\yer', 1), "ok"),
        ("a control character in a dtype", t.replace('"dtype":"float32"', '"dtype":"float32\x01"',
                                                     1), "HEADER_INVALID"),
        ("a control character in a byteOrder",
         t.replace('"byteOrder":"little"', '"byteOrder":"\x1flittle"', 1), "HEADER_INVALID"),
        ("a control character in a codec", t.replace('"byteOrder":"little",', '"byteOrder":'
                                                     '"little","codec":"\x7f\x00",', 1),
         "HEADER_INVALID"),
        ("an empty name", t.replace('"name":"layer.0.w"', '"name":""', 1), "HEADER_INVALID"),
        ("a comma before the first entry", t.replace('"arrays":[{', '"arrays":[,{', 1),
         "HEADER_INVALID"),
        ("an entry's closing and opening braces missing", t.replace("},{", ",", 1),
         "DUPLICATE_KEY"),
        ("a codec on the first entry", t.replace('"byteOrder":"little",', '"byteOrder":"little",'
                                                 '"codec":"deflate",', 1), "canonical"),
        ("a codec on the last entry", before + key + '"codec":"deflate",' + after, "canonical"),
    ]


def one_dimension_damages(raw: bytes):
    """The same for shapes of one dimension each, which the canonical path reads as one list."""
    t = raw.decode()
    before, _, after = t.rpartition('"shape":[3]')  # the last entry's
    return [
        ("a dimension 03", t.replace('"shape":[3]', '"shape":[03]', 1), "HEADER_INVALID"),
        ("a dimension 00", t.replace('"shape":[3]', '"shape":[00]', 1), "HEADER_INVALID"),
        ("a dimension -3", t.replace('"shape":[3]', '"shape":[-3]', 1), "BAD_NUMBER"),
        ("a dimension 3.0", t.replace('"shape":[3]', '"shape":[3.0]', 1), "BAD_NUMBER"),
        ("a dimension 3e0", t.replace('"shape":[3]', '"shape":[3e0]', 1), "BAD_NUMBER"),
        ("a dimension 0", t.replace('"shape":[3]', '"shape":[0]', 1), "SIZE_MISMATCH"),
        ("a comma last in a shape", t.replace('"shape":[3]', '"shape":[3,]', 1), "HEADER_INVALID"),
        ("a comma first in a shape", t.replace('"shape":[3]', '"shape":[,3]', 1),
         "HEADER_INVALID"),
        ("a space in a shape", t.replace('"shape":[3]', '"shape":[ 3]', 1), "ok"),
        ("a shape without dimension", t.replace('"shape":[3]', '"shape":[]', 1), "SIZE_MISMATCH"),
        ("the last shape without dimension", before + '"shape":[]' + after, "SIZE_MISMATCH"),
        ("a shape of two dimensions", t.replace('"shape":[3]', '"shape":[1,3]', 1), "canonical"),
        ("a 16-digit dimension", t.replace('"shape":[3]', '"shape":[1000000000000003]', 1),
         "SIZE_MISMATCH"),
    ]


ONE_DIMENSION_HEADER, ONE_DIMENSION_END = header_bytes(ndpack.dumps(
    {f"v{i}": np.zeros(3, "f4") for i in range(5)}))
ENTRY_TEXT_DAMAGES = (
    [(SAMPLE_HEADER, SAMPLE_END, *d) for d in entry_text_damages(SAMPLE_HEADER)]
    + [(ONE_DIMENSION_HEADER, ONE_DIMENSION_END, name + ", one dimension each", text, code)
       for name, text, code in one_dimension_damages(ONE_DIMENSION_HEADER)])


@pytest.mark.parametrize("raw,end,name,text,code", ENTRY_TEXT_DAMAGES,
                         ids=[d[2] for d in ENTRY_TEXT_DAMAGES])
def test_damaged_entry_values_give_the_strict_outcome(raw, end, name, text, code):
    assert text != raw.decode()  # the damage is there
    expected, fast = canonical_agrees(text.encode(), end)
    if code == "canonical":
        assert expected[0] == "ok" and fast is not None, name
    elif code == "ok":
        assert expected[0] == "ok" and fast is None, name
    else:
        assert expected == ("error", code) and fast is None, name


def test_each_character_damaged_gives_the_strict_outcome():
    # A header with a codec, no dimension, three dimensions and a punctuated name; each of its
    # characters replaced, or preceded, by each of these, or removed
    raw, end = header_text([entry("a,:{[b]}", "float32", [2, 1, 3]),
                            entry("c", "uint8", [], 1, "deflate"), entry("d", "int64", [5])])
    t = raw.decode()
    accepted = 0
    for at in range(len(t)):
        for piece in ("", "0", "1", ",", '"', "\\", " ", "-", "}"):
            for text in (t[:at] + piece + t[at + 1 :], t[:at] + piece + t[at:]):
                if text != t:
                    accepted += canonical_agrees(text.encode(), end)[1] is not None
    assert accepted >= 50, accepted
