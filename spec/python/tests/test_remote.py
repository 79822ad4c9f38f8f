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


# --------------------------------------------------------------------------------------------------
# Retries and timeout of http(s) reads (as TypeScript's src/io/http.ts: withRetries, exchange)
# --------------------------------------------------------------------------------------------------

class ScriptedServer:
    """A threaded HTTP/1.1 server of ``files`` (path -> bytes: HEAD, and GET with one Range) whose
    next answers a test scripts: ``plan`` holds one outcome per request, taken in order (then
    "ok"): an HTTP status (int), "reset" (the connection closed without an answer), "hang" (no
    answer), "cut" (the headers and half the body, then the connection closed) or "stall" (the
    headers and half the body, then nothing). ``requests`` logs (method, path, Range, outcome)."""

    def __init__(self, files: dict[str, bytes]):
        import http.server
        import threading

        self.files, self.plan, self.requests = files, [], []
        self.stop = threading.Event()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_HEAD(self):
                self.answer(body=False)

            def do_GET(self):
                self.answer(body=True)

            def answer(self, body: bool):
                outcome = server.plan.pop(0) if server.plan else "ok"
                server.requests.append((self.command, self.path, self.headers.get("Range"),
                                        outcome))
                if outcome == "reset":
                    self.close_connection = True
                    return
                if outcome == "hang":
                    server.stop.wait(10)
                    self.close_connection = True
                    return
                data = server.files.get(self.path)
                if isinstance(outcome, int) or data is None:
                    self.send_response(outcome if isinstance(outcome, int) else 404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status, start, end = 200, 0, len(data)
                if body and self.headers.get("Range"):
                    first, last = self.headers["Range"].removeprefix("bytes=").split("-")
                    status, start, end = 206, int(first), min(int(last) + 1, len(data))
                self.send_response(status)
                self.send_header("Content-Length", str(end - start))
                self.send_header("ETag", '"v1"')
                self.send_header("Accept-Ranges", "bytes")
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(data)}")
                self.end_headers()
                if not body:
                    return
                if outcome in ("cut", "stall"):
                    self.wfile.write(data[start:start + (end - start) // 2])
                    self.wfile.flush()
                    if outcome == "stall":
                        server.stop.wait(10)
                    self.close_connection = True
                    return
                self.wfile.write(data[start:end])

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,),
                                       daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def outcomes(self, method: str = "GET") -> list:
        return [outcome for m, _, _, outcome in self.requests if m == method]

    def close(self) -> None:
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


X = np.arange(50_000, dtype="i4")  # a record of 200 000 bytes: past the first read


@pytest.fixture
def scripted():
    server = ScriptedServer({"/a.ndp": ndpack.dumps({"x": X})})
    yield server
    server.close()


def opened(server, **options):
    """``/a.ndp`` opened (its HEAD and first read answered), the requests log cleared."""
    r = ndpack.open(server.url("/a.ndp"), **options)
    server.requests.clear()
    return r


def test_a_503_then_success_is_read_after_a_retry(scripted):
    # Before: HTTP_ERROR 503 at the first failure, no retry.
    scripted.plan = [503]
    r = ndpack.open(scripted.url("/a.ndp"))
    assert scripted.outcomes("HEAD") == [503, "ok"]
    scripted.requests.clear()
    scripted.plan = [503, 500]
    np.testing.assert_array_equal(r.read("x"), X)
    assert scripted.outcomes() == [503, 500, "ok"]


def test_a_503_every_time_is_HTTP_ERROR_503_after_1_plus_retries_requests(scripted):
    r = opened(scripted, retries=2)
    scripted.plan = [503] * 10
    with pytest.raises(NdpackError) as info:
        r.read("x")
    assert info.value.code == "HTTP_ERROR" and info.value.status == 503
    assert scripted.outcomes() == [503] * 3


@pytest.mark.parametrize("retries", [0, 2])
def test_a_503_at_open_from_nginx_is_HTTP_ERROR_503_after_1_plus_retries_requests(nginx, retries):
    nginx.clear()
    with pytest.raises(NdpackError) as info:
        ndpack.open(nginx.url("status/503/a.ndp"), retries=retries)
    assert info.value.code == "HTTP_ERROR" and info.value.status == 503
    assert [(row[0], row[2]) for row in nginx.lines()] == [("HEAD", "503")] * (1 + retries)


def test_a_404_is_not_retried(nginx, scripted):
    # Before: fsspec's info() sent a GET after the HEAD's 404.
    nginx.clear()
    with pytest.raises(NdpackError) as info:
        ndpack.open(nginx.url("missing.ndp"))
    assert info.value.code == "HTTP_ERROR" and info.value.status == 404
    assert [(row[0], row[2]) for row in nginx.lines()] == [("HEAD", "404")]
    r = opened(scripted)
    scripted.plan = [404, 404]
    with pytest.raises(NdpackError) as info:
        r.read("x")
    assert info.value.code == "HTTP_ERROR" and info.value.status == 404
    assert scripted.outcomes() == [404]


def test_a_server_that_never_answers_is_TIMEOUT_after_1_plus_retries_attempts(scripted):
    # Before: no timeout of ndpack's (aiohttp's default: 5 minutes), then no retry.
    import time

    scripted.plan = ["hang"] * 2
    began = time.monotonic()
    with pytest.raises(NdpackError) as info:
        ndpack.open(scripted.url("/a.ndp"), timeout=0.3, retries=1)
    assert info.value.code == "TIMEOUT" and "0.3 s" in info.value.message
    assert scripted.outcomes("HEAD") == ["hang", "hang"]
    assert time.monotonic() - began < 2
    r = opened(scripted, timeout=0.3, retries=1)
    scripted.plan = ["hang", "stall", "stall"]  # the body counts: half of it, then nothing
    began = time.monotonic()
    with pytest.raises(NdpackError) as info:
        r.read("x")
    assert info.value.code == "TIMEOUT"
    assert scripted.outcomes() == ["hang", "stall"]
    assert time.monotonic() - began < 2


def test_a_body_cut_short_is_retried_and_every_time_TRUNCATED(scripted):
    # Before: TRUNCATED (or aiohttp's ClientPayloadError as IO_ERROR) at once, no retry.
    r = opened(scripted, retries=2)
    scripted.plan = ["cut"]
    np.testing.assert_array_equal(r.read("x"), X)
    assert scripted.outcomes() == ["cut", "ok"]
    scripted.requests.clear()
    scripted.plan = ["cut"] * 10
    with pytest.raises(NdpackError) as info:
        r.read("x")
    assert info.value.code == "TRUNCATED"
    assert scripted.outcomes() == ["cut"] * 3


def test_a_connection_closed_without_an_answer_is_IO_ERROR_after_1_plus_retries_attempts(scripted):
    r = opened(scripted, retries=1)
    scripted.plan = ["reset"] * 10
    with pytest.raises(NdpackError) as info:
        r.read("x")
    assert info.value.code == "IO_ERROR"
    # Each attempt is two requests: aiohttp itself sends an idempotent request again, once, when
    # the connection closes before any answer (RFC 9112 §9.3.1).
    assert scripted.outcomes() == ["reset"] * 2 * 2


def test_a_refused_connection_is_IO_ERROR_after_its_retries():
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(NdpackError) as info:
        ndpack.open(f"http://127.0.0.1:{port}/a.ndp", retries=1)
    assert info.value.code == "IO_ERROR" and "request failed" in info.value.message


@pytest.mark.parametrize("options", [{"retries": -1}, {"retries": 1.5}, {"retries": True},
                                     {"timeout": 0}, {"timeout": -1}, {"timeout": float("inf")},
                                     {"timeout": "30"}])
def test_bad_retries_or_timeout_are_INVALID_ARGUMENT_before_any_request(scripted, options):
    with pytest.raises(NdpackError) as info:
        ndpack.open(scripted.url("/a.ndp"), **options)
    assert info.value.code == "INVALID_ARGUMENT" and scripted.requests == []


def test_retries_and_timeout_for_a_local_path_are_INVALID_ARGUMENT(tmp_path):
    ndpack.save(tmp_path / "a.ndp", {"x": np.arange(3)})
    for options in ({"retries": 1}, {"timeout": 1.0}):
        with pytest.raises(NdpackError) as info:
            ndpack.open(tmp_path / "a.ndp", **options)
        assert info.value.code == "INVALID_ARGUMENT"


def test_retries_and_timeout_reach_every_shard_and_a_reopened_reader(nginx):
    import pickle

    assert "TIMEOUT" in ndpack.ERROR_CODES and "TRUNCATED" in ndpack.ERROR_CODES
    folder = nginx.root / "retries"
    folder.mkdir()
    ndpack.save_set(folder / "m.ndp.index.json", {"a": np.zeros(10), "b": np.ones(10)},
                    max_shard_size=80)
    s = ndpack.open(nginx.url("retries/m.ndp.index.json"), retries=0, timeout=5)
    for shard in s.shards:
        assert (s.shard(shard)._source._retries, s.shard(shard)._source._timeout) == (0, 5.0)
    again = pickle.loads(pickle.dumps(s.shard(s.shards[0])))
    assert (again._source._retries, again._source._timeout) == (0, 5.0)
    again = pickle.loads(pickle.dumps(s))
    np.testing.assert_array_equal(again.read("b"), np.ones(10))
    assert again.shard(again.shard_of("b"))._source._retries == 0
