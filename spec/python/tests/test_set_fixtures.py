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


def test_the_windows_name_vectors_catch_a_reader_without_the_rule(monkeypatch):
    # FORMAT.md §12.1 as it stood before specification 1.2.0 (paths, controls, the extension):
    # such a reader accepts every shard-windows-* index, so the vectors tell it apart.
    from ndpack import _sets

    def before_1_2(name):
        if (not isinstance(name, str) or not name or name in (".", "..")
                or any(c in name for c in "/\\:") or any(ord(c) < 0x20 for c in name)):
            raise _sets._invalid(f"unsafe shard file name {name!r}")
        if not any(name.endswith(e) and len(name) > len(e) for e in _sets.SHARD_EXTENSIONS):
            raise _sets._invalid(f"shard {name!r} is neither .ndp nor .safetensors")
        return name

    windows = [v for v in VECTORS["invalid"] if v["name"].startswith("shard-windows-")]
    assert len(windows) == 11
    monkeypatch.setattr(_sets, "check_shard_name", before_1_2)
    for vector in windows:
        # Opened: the misreading passes the index (its shards then fail or read).
        ndpack.open(SETS / "invalid" / vector["name"] / vector["index"]).close()
