"""Steps 8 to 18 checked at once (ndpack/_fast_entries.py) against the readable checks (reference.py),
and the entries they return (reference.Entries).

``check_entries`` may only change speed: it returns the entries the readable checks return, or None
(then the readable checks decide). Headers of real files are damaged one field at a time, each
damage named with the code the readable checks give; a header ``check_entries`` accepts must be
one the readable checks accept, with the same entries."""

from __future__ import annotations

import copy
import json
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
