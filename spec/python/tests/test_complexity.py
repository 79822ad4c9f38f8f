"""Inputs whose cost once grew faster than their size (the complexity audit; TypeScript's are in
test/complexity.test.ts). No clock is read: each test counts an operation that the quadratic path
repeated for every part of the input, and that must now stay proportional to the input."""

from __future__ import annotations

import io
import json
import struct
import tracemalloc
import zlib

import numpy as np
import pytest

import ndpack
from ndpack import NdpackError, reference
from ndpack._npz import HEADER_READ_AHEAD, HEADER_WINDOWS_BYTES, WINDOW_CANDIDATES, _HeaderReads
from ndpack._safetensors import safetensors_metadata


class _Counted(bytes):
    """Bytes whose length is counted: the header reads look at a kept read's length each time
    they look at it."""

    lengths = 0

    def __len__(self) -> int:
        _Counted.lengths += 1
        return super().__len__()


def test_a_header_read_that_misses_looks_at_a_bounded_number_of_the_reads_kept():
    # A .npz whose local headers are not announced (ZIP64 offsets) makes one read per member, each
    # kept: 4,096 reads of 4 KiB fill the 16 MiB kept. Looking at every one of them on each miss
    # cost 4,096 comparisons per member (minutes for 100,000 members).
    step = 2 * HEADER_READ_AHEAD  # each read past the one before: a miss
    kept = HEADER_WINDOWS_BYTES // HEADER_READ_AHEAD
    misses = 1000
    size = (kept + misses + 2) * step
    source_reads = []

    def read(offset, length):
        source_reads.append(offset)
        return _Counted(bytes(length))

    reads = _HeaderReads(read, size, _Counted(bytes(HEADER_READ_AHEAD)))
    for i in range(1, kept + 1):
        reads.read(i * step, 1)
    _Counted.lengths = 0
    for i in range(kept + 1, kept + 1 + misses):
        assert reads.read(i * step, 1) == b"\0"
    assert _Counted.lengths <= misses * (WINDOW_CANDIDATES + 2)
    # A range inside a read kept is still served from memory, and one dropped is read again.
    count = len(source_reads)
    assert reads.read((kept + misses) * step + 100, 50) == bytes(50)
    assert len(source_reads) == count
    reads.read(step, 1)
    assert len(source_reads) == count + 1


class _CountingMap(dict):
    """A weight map that counts the entries walked through."""

    walked = 0

    def items(self):
        for pair in super().items():
            _CountingMap.walked += 1
            yield pair

    def __iter__(self):
        for name in super().__iter__():
            _CountingMap.walked += 1
            yield name


def test_verifying_a_set_of_many_shards_walks_the_weight_map_a_bounded_number_of_times(tmp_path):
    # Each shard opened was checked against the whole weight map: a set of one array per shard
    # cost shards x arrays (10^10 for 100,000 shards).
    count = 1500
    index = tmp_path / "model.ndp.index.json"
    ndpack.save_set(index, {f"a{i}": np.full(4, i, "f4") for i in range(count)}, max_shard_size=16)
    with ndpack.open(index) as s:
        assert len(s.shards) == count
        s._weight_map = _CountingMap(s._weight_map)
        _CountingMap.walked = 0
        reports = s.verify()
        assert len(reports) == count and all(r["ok"] for r in reports)
        assert _CountingMap.walked <= 2 * count
        assert s.read(f"a{count - 1}")[0] == count - 1



def test_a_message_preamble_that_claims_a_100_MiB_header_allocates_what_arrives():
    # The header's buffer was allocated (and zeroed) at the length the preamble claims, before a
    # byte of it came: 100 MiB for a stream of 1 KiB.
    preamble = bytearray(b"\x89NDP\r\n\x1a\n" + struct.pack("<HHII", 1, 0, 100 << 20, 0))
    stream = io.BytesIO(bytes(preamble) + b" " * 1000)
    tracemalloc.start()
    try:
        with pytest.raises(NdpackError) as info:
            next(ndpack.read_messages(stream))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.code == "TRUNCATED"
    assert peak < 4 << 20


class _Key(str):
    """A metadata key whose comparisons are counted."""

    compared = 0

    def __eq__(self, other):
        _Key.compared += 1
        return str.__eq__(self, other)

    __hash__ = str.__hash__


def test_safetensors_metadata_of_many_keys_listed_as_JSON_compares_each_key_a_bounded_number_of_times():
    # Each key was looked for in the list of keys under __ndpack_json__: 100,000 keys listed cost
    # 5 * 10^9 comparisons (80,000 took 51 s).
    count = 3000
    raw = {_Key(f"k{i}"): str(i) for i in range(count)}
    raw["__ndpack_json__"] = json.dumps([f"k{i}" for i in range(count)])
    _Key.compared = 0
    metadata = safetensors_metadata(raw, reference._check_limits({}))
    assert metadata["k2999"] == 2999 and len(metadata) == count
    assert _Key.compared <= 4 * count


class _Dim(int):
    """A dimension whose multiplications are counted."""

    multiplied = 0

    def __rmul__(self, other):
        _Dim.multiplied += 1
        return int(other) * int(self)


def test_a_shape_of_many_large_dimensions_is_BAD_SHAPE_after_a_few_products():
    # With max_dims raised, the product of 80,000 dimensions of 2^52 was computed whole (integers
    # of millions of bits, 35 s) before it was compared with 2^53-1.
    count = 50_000
    entry = {"name": "a", "dtype": "uint8", "shape": [_Dim(2**52)] * count, "order": "C",
             "byteOrder": "little", "offset": 0, "byteLength": 0}
    header = {"alignment": 8, "checksum": "none", "dataLength": 0, "metadata": {},
              "arrays": [entry]}
    limits = reference._check_limits({"max_dims": 10**6})
    _Dim.multiplied = 0
    with pytest.raises(NdpackError) as info:
        reference._check_entries(header, limits, 20)
    assert info.value.code == "BAD_SHAPE" and _Dim.multiplied <= 3
    text = json.dumps({**header, "arrays": [{**entry, "shape": [2**52] * count}]})
    text += " " * (-(20 + len(text)) % 8)
    preamble = b"\x89NDP\r\n\x1a\n" + struct.pack("<HHI", 1, 0, len(text))
    crc = zlib.crc32(text.encode(), zlib.crc32(preamble[8:16]))
    with pytest.raises(NdpackError) as info:
        ndpack.loads(preamble + struct.pack("<I", crc) + text.encode(), max_dims=10**6)
    assert info.value.code == "BAD_SHAPE"
