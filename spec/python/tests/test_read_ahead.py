"""Arrays under 64 KiB read in order are read 256 KiB ahead (``ndpack._reader.READ_AHEAD``), as
TypeScript's reader does (test/reader.test.ts): the first of a run, one array, arrays far apart and
arrays read last to first read only their bytes; served arrays are memory of their own. Counted
on a source that records its reads, and over HTTP in nginx's access log."""

from __future__ import annotations

import numpy as np
import pytest
from safetensors.numpy import save as safetensors_save

import ndpack
from ndpack._reader import READ_AHEAD
from ndpack._sets import SafetensorsReader

COUNT = 1000
ARRAYS = {f"a{i}": np.arange(i * 64, i * 64 + 64, dtype="f4") for i in range(COUNT)}
# Each record: 256 B of payload, its CRC-32 and padding to 64 (320 B); 312.5 KiB of them.
RECORD = 320


class CountingSource:
    """Bytes in memory that record every read asked of them."""

    def __init__(self, data: bytes) -> None:
        self.data, self.reads = data, []

    @property
    def size(self) -> int:
        return len(self.data)

    def read(self, offset: int, length: int) -> bytes:
        self.reads.append((offset, length))
        return self.data[offset : offset + length]


@pytest.mark.parametrize("verify", [True, False])
def test_arrays_in_order_are_one_read_then_reads_of_256_KiB_each_array_its_own(verify):
    source = CountingSource(ndpack.dumps(ARRAYS))
    r = ndpack.Reader(source)
    start = r.info("a0").start
    source.reads.clear()
    got = [r.read(f"a{i}", verify=verify) for i in range(COUNT)]
    for i, array in enumerate(got):
        np.testing.assert_array_equal(array, ARRAYS[f"a{i}"])
    assert not any(np.shares_memory(got[i], got[i + 1]) for i in range(COUNT - 1))
    got[1][0] = -1  # writable, and no other array sees it
    assert got[2][0] == 128
    first, ahead, last, *more = source.reads
    assert first == (start, RECORD if verify else 256)
    assert ahead == (start + RECORD, READ_AHEAD) and more == []
    # From the first record that read did not hold whole, to the end of the file.
    assert last[0] == start + RECORD * ((ahead[0] + READ_AHEAD - start) // RECORD)
    assert last[0] + last[1] == source.size


def test_one_array_arrays_far_apart_and_last_to_first_are_each_one_read_of_its_range():
    source = CountingSource(ndpack.dumps(ARRAYS))
    r = ndpack.Reader(source)
    source.reads.clear()
    order = [10, 500, 999, 998, 997]
    for i in order:
        np.testing.assert_array_equal(r.read(f"a{i}", verify=False), ARRAYS[f"a{i}"])
    assert source.reads == [(r.info(f"a{i}").start, 256) for i in order]


def test_close_drops_the_bytes_read_ahead_and_reading_after_it_is_CLOSED():
    r = ndpack.Reader(CountingSource(ndpack.dumps(ARRAYS)))
    r.read("a0")
    r.read("a1")
    assert r._ahead is not None
    r.close()
    assert r._ahead is None
    with pytest.raises(ndpack.NdpackError) as caught:
        r.read("a2")
    assert caught.value.code == "CLOSED"


@pytest.fixture(scope="module")
def many_small(nginx):
    """3,000 arrays of one float32, as .ndp and .safetensors, served by nginx."""
    arrays = {f"layers.{i}.weight": np.array([i], "f4") for i in range(3000)}
    ndpack.save(nginx.root / "many-small.ndp", arrays)
    (nginx.root / "many-small.safetensors").write_bytes(safetensors_save(arrays))
    return arrays


@pytest.mark.parametrize("name, record", [("many-small.ndp", 64), ("many-small.safetensors", 4)])
def test_3000_remote_arrays_read_one_by_one_are_2_requests(nginx, many_small, name, record):
    with ndpack.open(nginx.url(name)) as r:
        nginx.clear()
        values = [float(r.read(f"layers.{i}.weight")[0]) for i in range(3000)]
        first = r.info("layers.0.weight").start
        size = r.size
    assert values == list(range(3000))
    gets = [row for row in nginx.lines() if row[0] == "GET"]
    # The first array's record alone, then the rest of the file (under 256 KiB) in one request.
    assert [row[4] for row in gets] == [f"bytes={first}-{first + record - 1}",
                                        f"bytes={first + record}-{size - 1}"]
    assert size - first < READ_AHEAD


def test_a_safetensors_reader_reads_ahead_too():
    source = CountingSource(safetensors_save({f"t{i}": np.full(16, i, "f4") for i in range(100)}))
    r = SafetensorsReader(source)
    source.reads.clear()
    assert [float(r.read(f"t{i}")[0]) for i in range(100)] == list(range(100))
    assert len(source.reads) == 2


def test_rows_read_in_order_are_each_one_read_of_their_range():
    # Dask reads rows and CRC-32 pieces in many threads at once: no read ahead there.
    m = np.arange(64 * 1000, dtype="f4").reshape(1000, 64)
    source = CountingSource(ndpack.dumps({"m": m}))
    r = ndpack.Reader(source)
    start = r.info("m").start
    source.reads.clear()
    for row in range(10):
        np.testing.assert_array_equal(r.read_rows("m", row, row + 1), m[row : row + 1])
    assert source.reads == [(start + row * 256, 256) for row in range(10)]


def test_threads_reading_every_array_at_once_share_the_reads_ahead():
    from concurrent.futures import ThreadPoolExecutor

    import time

    class SlowSource(CountingSource):
        """Reads that take a while and let other threads run meanwhile, as I/O does."""

        def read(self, offset: int, length: int) -> bytes:
            time.sleep(0.001)
            return super().read(offset, length)

    source = SlowSource(ndpack.dumps(ARRAYS))
    r = ndpack.Reader(source)
    start = r.info("a0").start
    source.reads.clear()
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda i: r.read(f"a{i}"), range(COUNT)))
    for i, array in enumerate(got):
        np.testing.assert_array_equal(array, ARRAYS[f"a{i}"])
    # Short reads that did not follow another (threads interleave) read their own record; every
    # other read is served from a read ahead: a few reads in all, not one of 256 KiB per array.
    assert len(source.reads) < 50
    assert sum(length for _, length in source.reads) < 2 * (source.size - start)
