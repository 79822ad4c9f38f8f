"""Damaged data never comes back as numbers, on every way Python gets numbers out of a file: one
flipped bit (at fixed positions in every region of the file: preamble, header, padding, each
payload's first, middle and last bytes, each CRC), every truncation, and a file rewritten in place
between open and read, each gives either the original values or an ``NdpackError``, never other
numbers. The read paths: ``loads``/``load`` with ``verify=True``, ``open`` + ``read`` and
``read_rows`` (all rows), ``read_messages``, ``ndpack.dask.from_ndpack`` with positioned reads and
with ``mmap=True``, and the .npz reader (stored and deflated members). Rows that are only part of
an array (``read_rows``, ``map_rows``) and ``load``'s views without ``verify`` are documented as
unverified: they are checked here against FILE_CHANGED only, or shown as documented. Also:
``verify``'s report names the file's ``checksum``, so that "ok" of a file without CRC-32s (.npy,
.safetensors, ``checksum="none"``) is not taken for checked values."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
from safetensors.numpy import save_file

import ndpack
import ndpack.dask
from ndpack import NdpackError

ARRAYS = {
    "raw": np.sin(np.arange(64, dtype="f4")).reshape(8, 8),
    "ids": np.arange(30, dtype="i4") ** 2,
    "packed": ((np.arange(60) * 7) % 50).astype("u2").reshape(6, 10),
}


def ndpack_file() -> bytes:
    """Two raw arrays and a shuffle+deflate one, checksummed, with metadata: every region of §4."""
    return ndpack.dumps({"raw": ARRAYS["raw"], "ids": ARRAYS["ids"],
                         "packed": {"data": ARRAYS["packed"], "codec": "shuffle+deflate"}},
                        metadata={"source": "damage"})


def npz_file(compressed: bool) -> bytes:
    out = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(out, raw=ARRAYS["raw"], ids=ARRAYS["ids"])
    return out.getvalue()


def positions(data: bytes) -> list[int]:
    """Bit positions across an ndpack file: the preamble, the header's first, middle and last
    bytes, the padding after it, and for each record its payload's first, middle and last bytes,
    its CRC and the padding after it."""
    f = ndpack.loads(data)
    header_end = 20 + int.from_bytes(data[12:16], "little")
    spots = [0, 7, 9, 12, 17, 20, (20 + header_end) // 2, header_end - 1]
    entries = [f.info(name) for name in f.names]
    spots += [header_end] if entries[0].start > header_end else []
    for i, e in enumerate(entries):
        end = e.start + e.byte_length
        spots += [e.start, e.start + e.byte_length // 2, end - 1, end, end + 3]
        following = entries[i + 1].start if i + 1 < len(entries) else len(data)
        spots += [end + 4] if following > end + 4 else []
    return [at * 8 + bit for at in spots for bit in (0, 5)]


def flipped(data: bytes, bit: int) -> bytes:
    damaged = bytearray(data)
    damaged[bit // 8] ^= 1 << (bit % 8)
    return bytes(damaged)


def outcome(read) -> str:
    """What ``read()`` gave: "same" when every array is the original, the code of the
    NdpackError it raised, "OTHER NUMBERS" when an array differs. Any other exception propagates."""
    try:
        arrays = read()
    except NdpackError as ex:
        return ex.code
    same = all(np.array_equal(np.asarray(array), ARRAYS[name]) for name, array in arrays.items())
    return "same" if same else "OTHER NUMBERS"


def lazy(path, read):
    with ndpack.open(path) as reader:
        return {name: read(reader, name) for name in reader}


def computed(path, **options):
    arrays = ndpack.dask.from_ndpack(path, chunks=3, **options)
    return {name: array.compute(scheduler="synchronous") for name, array in arrays.items()}


def messages(data: bytes):
    return {name: array for message in ndpack.read_messages(io.BytesIO(data))
            for name, array in message.items()}


NDPACK_PATHS = {
    "loads(verify=True)": lambda data, path: dict(ndpack.loads(data, verify=True)),
    "load(verify=True)": lambda data, path: dict(ndpack.load(path, verify=True)),
    "open + read": lambda data, path: lazy(path, lambda r, n: r.read(n)),
    "open + read_rows (all rows)": lambda data, path: lazy(path, lambda r, n: r.read_rows(n)),
    "read_messages": lambda data, path: messages(data),
    "from_ndpack": lambda data, path: computed(path),
    "from_ndpack(mmap=True)": lambda data, path: computed(path, mmap=True),
}


def every_path(data: bytes, path, paths) -> dict:
    path.write_bytes(data)
    return {label: outcome(lambda: read(data, path)) for label, read in paths.items()}


def test_one_flipped_bit_anywhere_is_an_error_on_every_ndpack_read_path(tmp_path):
    data = ndpack_file()
    path = tmp_path / "damaged.ndp"
    assert every_path(data, path, NDPACK_PATHS) == dict.fromkeys(NDPACK_PATHS, "same")
    seen = set()
    for bit in positions(data):
        results = every_path(flipped(data, bit), path, NDPACK_PATHS)
        assert "OTHER NUMBERS" not in results.values() and "same" not in results.values(), \
            (bit // 8, bit % 8, results)
        seen.update(results.values())
    assert {"CHECKSUM", "HEADER_CHECKSUM", "BAD_PADDING", "BAD_MAGIC"} <= seen


def test_every_truncation_is_an_error_on_every_ndpack_read_path(tmp_path):
    data = ndpack_file()
    path = tmp_path / "cut.ndp"
    for length in range(1, len(data)):  # an empty stream is no message at all: read_messages's end
        results = every_path(data[:length], path, NDPACK_PATHS)
        assert set(results.values()) <= {"TRUNCATED", "BAD_MAGIC"}, (length, results)


NPZ_PATHS = {
    "open + read": lambda data, path: lazy(path, lambda r, n: r.read(n)),
    "open + read_rows (all rows)": lambda data, path: lazy(path, lambda r, n: r.read_rows(n)),
    "from_ndpack": lambda data, path: computed(path),
    "from_ndpack(mmap=True)": lambda data, path: computed(path, mmap=True),
}


@pytest.mark.parametrize("compressed", [False, True], ids=["stored", "deflated"])
def test_a_flipped_bit_in_any_npz_byte_never_gives_other_numbers(tmp_path, compressed):
    # Every byte, bit 0 and bit 5: the zip's local headers, the members' .npy headers and data,
    # the central directory. Flips in fields the reader does not use (a local header's date) leave
    # the values as they were; every other one is an error.
    data = npz_file(compressed)
    path = tmp_path / "damaged.npz"
    counts = {}
    for bit in (at * 8 + b for at in range(len(data)) for b in (0, 5)):
        for label, result in every_path(flipped(data, bit), path, NPZ_PATHS).items():
            assert result != "OTHER NUMBERS", (bit // 8, bit % 8, label)
            counts[result] = counts.get(result, 0) + 1
    assert counts.get("CHECKSUM", 0) > 0
    if compressed:
        assert counts.get("CODEC_ERROR", 0) > 0


def test_a_file_rewritten_in_place_after_open_is_FILE_CHANGED_on_every_read_even_of_some_rows(
        tmp_path):
    # Without checksums (nothing but the file's identity can tell), the new bytes at the same
    # places: rows read without a CRC (read_rows of some rows) included.
    path = tmp_path / "rewritten.ndp"
    ndpack.save(path, ARRAYS, checksum="none")
    readers = [ndpack.open(path) for _ in range(3)]
    graph = ndpack.dask.from_ndpack(path, "raw", chunks=3)
    before = os.stat(path)
    with open(path, "r+b") as fh:
        fh.write(ndpack.dumps({name: array + 1 for name, array in ARRAYS.items()},
                              checksum="none"))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 10**9))
    assert os.stat(path).st_size == before.st_size and os.stat(path).st_ino == before.st_ino
    reads = [lambda: readers[0].read("raw"), lambda: readers[1].read_rows("raw", 2, 5),
             lambda: readers[2].read("raw", verify=False),
             lambda: graph.compute(scheduler="synchronous")]
    for read in reads:
        with pytest.raises(NdpackError) as info:
            read()
        assert info.value.code == "FILE_CHANGED"
    for reader in readers:
        reader.close()


def test_load_checks_crcs_only_when_asked_and_its_views_show_a_file_changed_later(tmp_path):
    # As documented (ndpack.load): a memory map, np.memmap's semantics. The damage is found by
    # a verifying read, or by ndpack.open, whose reads are checked.
    path = tmp_path / "mapped.ndp"
    ndpack.save(path, ARRAYS)
    f = ndpack.load(path, verify=True)
    view = f["raw"]
    at = f.info("raw").start
    with open(path, "r+b") as fh:
        fh.seek(at)
        fh.write(np.float32(42).tobytes())
    assert view[0, 0] == 42  # the view shows the file's bytes now, unchecked
    with pytest.raises(NdpackError) as info:
        f.read("raw", verify=True)
    assert info.value.code == "CHECKSUM"
    with ndpack.open(path) as reader, pytest.raises(NdpackError) as info:
        reader.read("raw")
    assert info.value.code == "CHECKSUM"
    f.close()
    del view


def test_verify_reports_the_checksum_so_that_ok_without_crc32s_is_not_taken_for_checked_values(
        tmp_path):
    np.save(tmp_path / "a.npy", ARRAYS["raw"])
    save_file({"w": ARRAYS["raw"]}, str(tmp_path / "a.safetensors"))
    ndpack.save(tmp_path / "unchecked.ndp", ARRAYS, checksum="none")
    ndpack.save(tmp_path / "checked.ndp", ARRAYS)
    (tmp_path / "a.npz").write_bytes(npz_file(compressed=False))
    ndpack.save_set(tmp_path / "m.ndp.index.json", ARRAYS)
    expected = {"a.npy": "none", "a.safetensors": "none", "unchecked.ndp": "none",
                "checked.ndp": "crc32", "a.npz": "crc32", "m.ndp.index.json": "crc32"}
    for name, checksum in expected.items():
        report = ndpack.verify(tmp_path / name)
        assert (report["ok"], report["checksum"]) == (True, checksum), name
    assert ndpack.verify(ndpack.dumps(ARRAYS, checksum="none"))["checksum"] == "none"
    broken = ndpack.verify(b"not a file")
    assert (broken["ok"], broken["error"]["code"], broken["checksum"]) == \
        (False, "BAD_MAGIC", None)
    (tmp_path / "cut.npy").write_bytes((tmp_path / "a.npy").read_bytes()[:100])
    assert ndpack.verify(tmp_path / "cut.npy")["checksum"] is None
