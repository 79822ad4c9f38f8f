"""Every shared sharded-set vector of fixtures/sets (FORMAT.md §12, listed in its index.json,
written by scripts/generate-set-fixtures.ts): each valid set reads as described, array by array (dtype,
shape, memory order, shard, and the SHA-256 of its little-endian bytes in its stored order), and
each invalid one fails with its exact code, when the index is opened or when the named array is
read."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

import ndpack
from ndpack import NdpackError

SETS = Path(__file__).resolve().parents[3] / "fixtures" / "sets"
VECTORS = json.loads((SETS / "index.json").read_text(encoding="utf-8"))


def little_endian_bytes(a: np.ndarray, order: str) -> bytes:
    """The elements of ``a`` in memory order ``order`` (the array's stored order), little-endian."""
    if a.dtype.byteorder == ">":
        a = a.astype(a.dtype.newbyteorder("<"), order="K")
    return a.tobytes(order=order)


@pytest.mark.parametrize("vector", VECTORS["valid"], ids=lambda v: v["name"])
def test_a_valid_set_vector_reads_as_described(vector):
    with ndpack.open(SETS / "valid" / vector["name"] / vector["index"]) as s:
        assert list(s) == [a["name"] for a in vector["arrays"]]
        assert s.metadata == vector["metadata"]
        for expected in vector["arrays"]:
            name = expected["name"]
            assert s.shard_of(name) == expected["shard"]
            assert s.info(name).order == expected["order"]
            a = s[name]
            assert str(a.dtype) == expected["dtype"]
            assert list(a.shape) == expected["shape"]
            # Handed out as stored, never transposed: an F-order array is laid out in F order.
            if a.ndim > 1:
                assert a.flags["F_CONTIGUOUS" if expected["order"] == "F" else "C_CONTIGUOUS"], name
            data = little_endian_bytes(a, expected["order"])
            assert len(data) == expected["nbytes"]
            assert hashlib.sha256(data).hexdigest() == expected["sha256"], name
        assert all(report["ok"] for report in s.verify())


@pytest.mark.parametrize("vector", VECTORS["invalid"], ids=lambda v: v["name"])
def test_an_invalid_set_vector_fails_with_its_code(vector):
    index = SETS / "invalid" / vector["name"] / vector["index"]
    assert vector["when"] in ("index", "read")
    with pytest.raises(NdpackError) as info:
        s = ndpack.open(index)
        assert vector["when"] == "read", "the index was accepted"
        s.read(vector["array"])
    assert info.value.code == vector["code"], info.value


def test_every_vector_folder_is_listed():
    listed = {("valid", v["name"]) for v in VECTORS["valid"]} \
        | {("invalid", v["name"]) for v in VECTORS["invalid"]}
    on_disk = {(kind, p.name) for kind in ("valid", "invalid") for p in (SETS / kind).iterdir()}
    assert on_disk == listed

