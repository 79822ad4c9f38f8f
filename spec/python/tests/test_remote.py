"""Remote reads through fsspec from a real nginx: only the header and the asked ranges cross the
network, counted from nginx's access log."""

from __future__ import annotations

import urllib.request

import numpy as np
import pytest

import ndpack
from ndpack import NdpackError
from ndpack._reader import FIRST_READ

MiB = 1 << 20


@pytest.fixture(scope="module")
def served(nginx):
    """A 4 MiB+ file of four arrays, served by nginx."""
    rng = np.random.default_rng(1)
    arrays = {f"layer{i}": rng.standard_normal((256, 1024)).astype("f4") for i in range(4)}
    ndpack.save(nginx.root / "big.ndp", arrays, metadata={"model": "test"})
    return arrays


def record_bytes(reader, name):
    """Bytes from the start of ``name``'s payload to the next record (payload, CRC, padding)."""
    names = list(reader)
    i = names.index(name)
    end = reader.info(names[i + 1]).start if i + 1 < len(names) else reader.data_end
    return end - reader.info(name).start


def test_open_of_a_url_transfers_the_header_only(nginx, served):
    nginx.clear()
    r = ndpack.open(nginx.url("big.ndp"))
    assert list(r) == list(served) and r.metadata == {"model": "test"}
    assert nginx.transferred("big.ndp") == FIRST_READ  # one request, the preamble and header
    assert [row[0] for row in nginx.lines()] == ["HEAD", "GET"]


def test_read_of_one_array_transfers_its_record_only(nginx, served):
    r = ndpack.open(nginx.url("big.ndp"))
    nginx.clear()
    np.testing.assert_array_equal(r.read("layer2"), served["layer2"])
    assert nginx.transferred("big.ndp") == record_bytes(r, "layer2")
    assert record_bytes(r, "layer2") == MiB + 64  # payload, CRC-32, padding to 64
    assert r.size > 4 * MiB


def test_read_rows_transfers_those_rows_only(nginx, served):
    r = ndpack.open(nginx.url("big.ndp"))
    nginx.clear()
    np.testing.assert_array_equal(r.read_rows("layer3", 100, 110), served["layer3"][100:110])
    assert nginx.transferred("big.ndp") == 10 * 1024 * 4


def test_a_corrupt_remote_record_is_CHECKSUM(nginx):
    ndpack.save(nginx.root / "bad.ndp", {"x": np.arange(1000, dtype="i4")})
    data = bytearray((nginx.root / "bad.ndp").read_bytes())
    start = ndpack.open(nginx.root / "bad.ndp").info("x").start
    data[start + 100] ^= 0xFF
    (nginx.root / "bad.ndp").write_bytes(bytes(data))
    with pytest.raises(NdpackError) as info:
        ndpack.open(nginx.url("bad.ndp")).read("x")
    assert info.value.code == "CHECKSUM"


@pytest.mark.parametrize("path, status", [("missing.ndp", 404), ("status/403/a.ndp", 403),
                                          ("status/500/a.ndp", 500), ("status/503/a.ndp", 503)])
def test_a_missing_or_refused_url_is_HTTP_ERROR_with_its_status(nginx, path, status):
    # As TypeScript's openUrl: HTTP_ERROR with the status, not a bare FileNotFoundError.
    with pytest.raises(NdpackError) as info:
        ndpack.open(nginx.url(path))
    assert info.value.code == "HTTP_ERROR" and info.value.status == status
    assert str(status) in info.value.message


def test_a_missing_local_path_is_IO_ERROR_caused_by_the_OSError(tmp_path):
    for call in (ndpack.open, ndpack.load):
        with pytest.raises(NdpackError) as info:
            call(tmp_path / "missing.ndp")
        assert info.value.code == "IO_ERROR" and isinstance(info.value.__cause__, FileNotFoundError)


def test_a_remote_set_reads_each_shard_header_once_and_the_arrays_asked_for(nginx):
    arrays = {f"t{i}": np.full((128, 256), i, "f4") for i in range(6)}
    folder = nginx.root / "set"
    folder.mkdir()
    ndpack.save_set(folder / "model.ndp.index.json", arrays, max_shard_size=300_000)
    nginx.clear()
    s = ndpack.open(nginx.url("set/model.ndp.index.json"))
    assert len(s.shards) == 3 and list(s) == list(arrays)
    np.testing.assert_array_equal(s.read("t4"), arrays["t4"])
    shard = s.shard_of("t4")
    index_size = (folder / "model.ndp.index.json").stat().st_size
    shard_size = (folder / shard).stat().st_size
    assert nginx.transferred("set/model.ndp.index.json") == index_size
    assert nginx.transferred(f"set/{shard}") == min(FIRST_READ, shard_size) \
        + record_bytes(s.shard(shard), "t4")
    assert {row[1] for row in nginx.lines()} == {"/set/model.ndp.index.json", f"/set/{shard}"}


def test_a_missing_remote_shard_is_HTTP_ERROR(nginx):
    folder = nginx.root / "holes"
    folder.mkdir()
    ndpack.save_set(folder / "m.ndp.index.json", {"a": np.zeros(10), "b": np.ones(10)},
                    max_shard_size=80)
    s = ndpack.open(nginx.url("holes/m.ndp.index.json"))
    (folder / s.shard_of("b")).unlink()
    np.testing.assert_array_equal(s.read("a"), np.zeros(10))
    with pytest.raises(NdpackError) as info:
        s.read("b")
    assert info.value.code == "HTTP_ERROR" and s.shard_of("b") in info.value.message


def test_a_remote_shard_is_found_by_resolving_its_encoded_name_against_the_index_url(nginx):
    # FORMAT.md §12.1: the index URL's query (here holding a '/') and last segment are replaced,
    # every byte of the name but A-Z a-z 0-9 -_.!~*'() is percent-encoded
    folder = nginx.root / "urls"
    folder.mkdir()
    ndpack.save(folder / "a(1) #2.ndp", {"x": np.arange(5)})
    (folder / "model.ndp.index.json").write_text('{"weight_map": {"x": "a(1) #2.ndp"}}')
    s = ndpack.SetReader(nginx.url("urls/model.ndp.index.json") + "?p=a/b")
    assert s.shard_location("a(1) #2.ndp") == nginx.url("urls/a(1)%20%232.ndp")
    np.testing.assert_array_equal(s["x"], np.arange(5))


def test_a_server_that_ignores_Range_is_RANGE_NOT_SUPPORTED(nginx):
    (nginx.root / "norange").mkdir(exist_ok=True)
    ndpack.save(nginx.root / "norange" / "a.ndp", {"x": np.arange(100_000)})  # > the first read
    with pytest.raises(NdpackError) as info:
        ndpack.open(nginx.url("norange/a.ndp"))
    assert info.value.code == "RANGE_NOT_SUPPORTED" and "Range" in info.value.message
    assert "RANGE_NOT_SUPPORTED" in ndpack.ERROR_CODES


def test_a_remote_file_cut_short_after_open_is_FILE_CHANGED(nginx):
    path = nginx.root / "cut.ndp"
    ndpack.save(path, {"a": np.arange(100_000, dtype="i4"), "b": np.arange(10)})
    r = ndpack.open(nginx.url("cut.ndp"))
    path.write_bytes(path.read_bytes()[: r.info("a").start + 1000])
    with pytest.raises(NdpackError) as info:
        r.read("a")
    assert info.value.code == "FILE_CHANGED"


def test_a_range_past_the_end_of_a_shrunk_remote_file_is_FILE_CHANGED(nginx):
    path = nginx.root / "gone.ndp"
    ndpack.save(path, {"a": np.arange(100_000, dtype="i4"), "b": np.arange(10)})
    r = ndpack.open(nginx.url("gone.ndp"))
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(NdpackError) as info:
        r.read("b")  # its ETag changed with its size: 412 to If-Match (not a 416 HTTP_ERROR)
    assert info.value.code == "FILE_CHANGED"


def etag_of(url: str) -> str:
    with urllib.request.urlopen(urllib.request.Request(url, method="HEAD")) as response:
        return response.headers["ETag"]


def test_a_remote_file_replaced_by_one_of_the_same_size_is_FILE_CHANGED_not_its_bytes(nginx, replace_keeping_the_size):
    # Wrong data before: the header said float32, the payload read was the new file's int32.
    path = nginx.root / "replaced.ndp"
    ndpack.save(path, {"x": np.arange(100_000, dtype="f4")}, metadata={"v": 1})
    r = ndpack.open(nginx.url("replaced.ndp"))
    etag = etag_of(nginx.url("replaced.ndp"))
    replace_keeping_the_size(path, {"x": np.arange(100_000, dtype="i4")})
    assert etag_of(nginx.url("replaced.ndp")) != etag
    nginx.clear()
    for read in (lambda: r.read("x"), lambda: r.read("x", verify=False),
                 lambda: r.read_rows("x", 0, 10)):
        with pytest.raises(NdpackError) as info:
            read()
        assert info.value.code == "FILE_CHANGED" and "412" in info.value.message
    requests = nginx.lines()
    assert len(requests) == 3
    for method, _, status, _, range_, if_match in requests:
        assert method == "GET" and status == "412" and range_.startswith("bytes=")
        assert if_match.replace("\\x22", '"') == etag  # the ETag seen at open (nginx logs " as \x22)


def test_every_ranged_read_of_a_url_sends_If_Match_with_the_etag_seen_at_open(nginx, served):
    r = ndpack.open(nginx.url("big.ndp"))
    r.read("layer1")
    r.read_rows("layer2", 5, 6)
    rows = [row for row in nginx.lines() if row[1] == "/big.ndp"]
    ranged = [row for row in rows if row[0] == "GET"]
    assert [row[0] for row in rows].count("HEAD") >= 1 and len(ranged) >= 3
    assert all(row[4].startswith("bytes=") and row[5] == ranged[0][5] != "-" for row in ranged)


def test_a_file_url_replaced_by_one_of_the_same_size_is_FILE_CHANGED(tmp_path, replace_keeping_the_size):
    # fsspec filesystems other than HTTP: the identity info() gives is checked after each read.
    path = tmp_path / "a.ndp"
    ndpack.save(path, {"x": np.arange(1000, dtype="f4")})
    r = ndpack.open(f"file://{path}")
    np.testing.assert_array_equal(r.read("x"), np.arange(1000, dtype="f4"))
    replace_keeping_the_size(path, {"x": np.arange(1000, dtype="i4")})
    with pytest.raises(NdpackError) as info:
        r.read("x")
    assert info.value.code == "FILE_CHANGED"


def test_storage_options_for_a_local_path_are_INVALID_ARGUMENT(tmp_path):
    ndpack.save(tmp_path / "a.ndp", {"x": np.arange(3)})
    with pytest.raises(NdpackError) as info:
        ndpack.open(tmp_path / "a.ndp", storage_options={"anon": True})
    assert info.value.code == "INVALID_ARGUMENT"
