"""Remote reads through fsspec from a real nginx: only the header and the asked ranges cross the
network, counted from nginx's access log."""

from __future__ import annotations

import subprocess
import sys
import textwrap
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


def test_errors_name_a_url_without_its_query_fragment_and_credentials(nginx, served):
    # A presigned URL's signature or a password in a message ends up in logs (as TypeScript's).
    port = nginx.url("").split(":")[2].rstrip("/")
    # A URL with credentials is refused before any request, as TypeScript's (its HEAD was sent with
    # them, its range requests without: 401 after a successful open).
    cases = [(nginx.url("missing.ndp?X-Amz-Signature=secret#frag"), "HTTP_ERROR"),
             (f"http://alice:secret@127.0.0.1:{port}/big.ndp", "INVALID_ARGUMENT"),
             (f"http://alice:p@secret@127.0.0.1:{port}/big.ndp?sig=secret", "INVALID_ARGUMENT"),
             (f"http://127.0.0.1:{_closed_port()}/a.ndp?sig=secret", "IO_ERROR")]
    for url, code in cases:
        with pytest.raises(NdpackError) as info:
            ndpack.open(url, retries=0)
        assert info.value.code == code
        assert "secret" not in str(info.value) and "alice" not in str(info.value), str(info.value)
        assert "127.0.0.1:" in str(info.value)
    # The reader keeps the whole URL: it opens it again in a Dask worker.
    signed = nginx.url("big.ndp?X-Amz-Signature=secret")
    with ndpack.open(signed) as reader:
        assert reader.location == signed
        np.testing.assert_array_equal(reader["layer1"], served["layer1"])
    assert "secret" not in repr(reader)
    with pytest.raises(NdpackError) as info:
        reader.read("layer1")
    assert info.value.code == "CLOSED" and "secret" not in str(info.value)


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


def test_an_fsspec_url_of_a_file_replaced_by_one_of_the_same_size_is_FILE_CHANGED(tmp_path, replace_keeping_the_size):
    # fsspec filesystems other than HTTP: the identity info() gives is checked after each read.
    path = tmp_path / "a.ndp"
    ndpack.save(path, {"x": np.arange(1000, dtype="f4")})
    r = ndpack.open(f"local://{path}")  # (a file:// URL is a path: read as local files are)
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


def test_a_server_that_compresses_is_read_by_ranges_of_the_files_own_bytes(nginx):
    # Before: aiohttp's "Accept-Encoding: gzip, deflate" on the ranged GETs; nginx (gzip on)
    # answered 200 with the whole file gzipped and a weak ETag: FILE_CHANGED for a file that fits
    # in the first read or a set's index, RANGE_NOT_SUPPORTED for a larger file.
    folder = nginx.root / "gzip"
    folder.mkdir()
    small, big = {"x": np.arange(1000, dtype="f4")}, {"x": np.arange(100_000, dtype="f4")}
    ndpack.save(folder / "small.ndp", small)
    ndpack.save(folder / "big.ndp", big)
    ndpack.save_set(folder / "m.ndp.index.json", {"a": np.zeros(10), "b": np.ones(10)},
                    max_shard_size=80)
    nginx.clear()
    for name, arrays in (("small.ndp", small), ("big.ndp", big)):
        np.testing.assert_array_equal(ndpack.open(nginx.url(f"gzip/{name}")).read("x"),
                                      arrays["x"])
    np.testing.assert_array_equal(ndpack.open(nginx.url("gzip/m.ndp.index.json")).read("b"),
                                  np.ones(10))
    gets = [row for row in nginx.lines() if row[0] == "GET"]
    assert len(gets) >= 5 and all(row[2] == "206" for row in gets)  # ranges, never gzipped


def test_a_server_that_compresses_despite_identity_is_RANGE_NOT_SUPPORTED_not_retried():
    # Every request asks for identity; a server that compresses anyway is refused as TypeScript's
    # reader refuses it (a coded 200 is not the file), not taken for a changed file (its ETag weak).
    server = ScriptedServer({"/small.ndp": ndpack.dumps({"x": np.arange(10)})})
    try:
        server.plan = ["ok", "gzip"]  # the HEAD, then the read of the whole (small) file
        with pytest.raises(NdpackError) as info:
            ndpack.open(server.url("/small.ndp"))
        assert info.value.code == "RANGE_NOT_SUPPORTED" and "gzip" in info.value.message
        assert server.outcomes() == ["gzip"]
        server.plan = ["ok", "gzip-range"]  # a range of the compressed file: other bytes
        with pytest.raises(NdpackError) as info:
            ndpack.open(server.url("/small.ndp"))
        assert info.value.code == "HTTP_ERROR" and info.value.status == 206
        assert server.outcomes() == ["gzip", "gzip-range"]
        assert set(server.accept_encodings) == {"identity"}
    finally:
        server.close()


def read_in_a_forked_child(read):
    """``read()`` run in a child forked from this process (as a DataLoader worker is): its result,
    or ``(code, message)`` of the NdpackError it raised (any other exception as its repr)."""
    import gc
    import multiprocessing

    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)

    def child():
        try:
            result = read()
            gc.collect()  # what the child dropped is finalized, as it would be in a long worker
            send.send(result)
        except NdpackError as ex:
            send.send((ex.code, ex.message))
        except Exception as ex:  # noqa: BLE001 (sent to the parent to fail the test)
            send.send(repr(ex))

    process = context.Process(target=child)
    process.start()
    try:
        return receive.recv() if receive.poll(60) else "no answer from the child"
    finally:
        process.join(60)


def test_a_url_reader_reads_in_a_forked_child_and_its_parent_reads_on(nginx, served):
    # Before: fsspec's raw RuntimeError "This class is not fork-safe" in the child.
    r = ndpack.open(nginx.url("big.ndp"), timeout=5, retries=0)
    np.testing.assert_array_equal(r.read("layer0"), served["layer0"])  # a connection kept
    rows = read_in_a_forked_child(lambda: r.read_rows("layer1", 10, 20))
    assert isinstance(rows, np.ndarray), rows
    np.testing.assert_array_equal(rows, served["layer1"][10:20])
    # The child left the parent's connections alone: no TIMEOUT here (retries=0).
    np.testing.assert_array_equal(r.read("layer2"), served["layer2"])


def test_a_forked_child_checks_the_file_seen_at_open(nginx, replace_keeping_the_size):
    path = nginx.root / "forked.ndp"
    ndpack.save(path, {"x": np.arange(100_000, dtype="f4")})
    r = ndpack.open(nginx.url("forked.ndp"))
    replace_keeping_the_size(path, {"x": np.arange(100_000, dtype="i4")})
    code, message = read_in_a_forked_child(lambda: r.read("x"))
    assert code == "FILE_CHANGED" and "412" in message


def test_url_schemes_are_case_insensitive(nginx, served, tmp_path):
    # Before: fsspec's raw ValueError "Protocol not known: HTTP".
    for scheme in ("HTTP", "Http"):
        r = ndpack.open(nginx.url("big.ndp").replace("http", scheme, 1))
        np.testing.assert_array_equal(r.read_rows("layer0", 0, 2), served["layer0"][:2])
    ndpack.save(tmp_path / "a.ndp", {"x": np.arange(3)})
    np.testing.assert_array_equal(ndpack.open(f"FILE://{tmp_path}/a.ndp").read("x"), np.arange(3))


@pytest.mark.parametrize("url, package", [("foo://bucket/a.ndp", None),
                                          ("s3://bucket/a.ndp", "s3fs"),
                                          ("gs://bucket/a.ndp", "gcsfs")])
def test_an_unknown_protocol_or_a_missing_filesystem_package_is_INVALID_ARGUMENT(url, package):
    # Before: fsspec's raw ValueError ("Protocol not known") and ImportError.
    import importlib.util

    if package is not None and importlib.util.find_spec(package) is not None:
        pytest.skip(f"{package} is installed")
    with pytest.raises(NdpackError) as info:
        ndpack.open(url)
    assert info.value.code == "INVALID_ARGUMENT" and url in info.value.message
    assert (package or "Protocol not known: foo") in info.value.message


def test_an_http_url_without_aiohttp_names_the_extra_that_brings_it():
    # fsspec installed alone (not by ndpack[remote]): its HTTP filesystem needs aiohttp. Before:
    # fsspec's message only, which names no way to install it with ndpack.
    result = subprocess.run([sys.executable, "-c", textwrap.dedent("""
        import sys; sys.modules["aiohttp"] = None
        import ndpack
        try:
            ndpack.open("http://127.0.0.1:9/a.ndp")
        except ndpack.NdpackError as ex:
            print(ex.code, ex.message)
    """)], capture_output=True, text=True, timeout=60)
    assert result.stdout.startswith("INVALID_ARGUMENT "), result.stderr
    assert "aiohttp" in result.stdout and "pip install 'ndpack[remote]'" in result.stdout


def test_a_missing_file_in_a_chained_url_is_IO_ERROR(tmp_path):
    # Before: a raw FileNotFoundError, from fsspec making the zip filesystem.
    import zipfile

    with pytest.raises(NdpackError) as info:
        ndpack.open(f"zip://a.ndp::file://{tmp_path}/missing.zip")
    assert info.value.code == "IO_ERROR" and isinstance(info.value.__cause__, FileNotFoundError)
    ndpack.save(tmp_path / "a.ndp", {"x": np.arange(3)})
    with zipfile.ZipFile(tmp_path / "a.zip", "w") as archive:
        archive.write(tmp_path / "a.ndp", "a.ndp")
    np.testing.assert_array_equal(ndpack.open(f"ZIP://a.ndp::FILE://{tmp_path}/a.zip").read("x"),
                                  np.arange(3))


def test_an_IPv6_literal_url_is_read(nginx, served):
    # Before: IO_ERROR "Invalid IPv6 URL" (fsspec's url_to_fs splits a URL at "::").
    if not nginx.ipv6:
        pytest.skip("this machine has no IPv6 loopback")
    r = ndpack.open(nginx.url("big.ndp", host="[::1]"))
    np.testing.assert_array_equal(r.read("layer3"), served["layer3"])


def test_an_IPv6_literal_url_is_requested_from_that_host():
    # Without a server (nor IPv6): the connection to [::1] is what fails, not the URL's parsing.
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(NdpackError) as info:
        ndpack.open(f"http://[::1]:{port}/a.ndp", retries=0)
    assert info.value.code == "IO_ERROR" and isinstance(info.value.__cause__, OSError)
    assert "[::1]" in info.value.message and "Invalid IPv6" not in info.value.message


# --------------------------------------------------------------------------------------------------
# Retries and timeout of http(s) reads (as TypeScript's src/io/http.ts: withRetries, exchange)
# --------------------------------------------------------------------------------------------------

class ScriptedServer:
    """A threaded HTTP/1.1 server of ``files`` (path -> bytes: HEAD, and GET with one Range) whose
    next answers a test scripts: ``plan`` holds one outcome per request, taken in order (then
    "ok"): an HTTP status (int), "reset" (the connection closed without an answer), "hang" (no
    answer), "redirect" (a 302 to the same URL), "cut" (the headers and half the body, then the connection closed), "stall" (the
    headers and half the body, then nothing), "long" (the range and 5 bytes more, announced),
    "gzip" (the whole file gzipped, a 200 with a weak ETag, as nginx with gzip on answers a Range
    request that accepts gzip) or "gzip-range" (the range asked for of the gzipped file).
    ``requests`` logs (method, path, Range, outcome), ``accept_encodings`` each request's
    Accept-Encoding. Every answer carries ``etag`` and ``last_modified`` (None: no such header), a
    HEAD's only if ``validators_on_head``; conditions (If-Match, If-Unmodified-Since) are
    ignored."""

    def __init__(self, files: dict[str, bytes]):
        import gzip
        import http.server
        import threading

        self.files, self.plan, self.requests, self.accept_encodings = files, [], [], []
        self.etag, self.last_modified, self.validators_on_head = '"v1"', None, True
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
                server.accept_encodings.append(self.headers.get("Accept-Encoding"))
                if outcome == "reset":
                    self.close_connection = True
                    return
                if outcome == "redirect":
                    self.send_response(302)
                    self.send_header("Location", self.path)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if outcome == "hang":
                    server.stop.wait(10)
                    self.close_connection = True
                    return
                data = server.files.get(self.path)
                if isinstance(outcome, (int, tuple)) or data is None:
                    # A status, or (status, Retry-After)
                    status, wait = outcome if isinstance(outcome, tuple) else (outcome, None)
                    self.send_response(status if isinstance(status, int) else 404)
                    if wait is not None:
                        self.send_header("Retry-After", wait)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                etag = server.etag if body or server.validators_on_head else None
                if outcome in ("gzip", "gzip-range"):
                    data, etag = gzip.compress(data), 'W/"v1"'
                status, start, end = 200, 0, len(data)
                if body and self.headers.get("Range") and outcome != "gzip":
                    first, last = self.headers["Range"].removeprefix("bytes=").split("-")
                    status, start, end = 206, int(first), min(int(last) + 1, len(data))
                extra = b"more!" if outcome == "long" else b""
                self.send_response(status)
                self.send_header("Content-Length", str(end - start + len(extra)))
                if etag is not None:
                    self.send_header("ETag", etag)
                if server.last_modified is not None and (body or server.validators_on_head):
                    self.send_header("Last-Modified", server.last_modified)
                self.send_header("Accept-Ranges", "bytes")
                if outcome in ("gzip", "gzip-range"):
                    self.send_header("Content-Encoding", "gzip")
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
                self.wfile.write(data[start:end] + extra)

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


@pytest.fixture
def waits(monkeypatch):
    """The waits asked of asyncio.sleep (the retries' backoff), each then made at once."""
    import asyncio

    asked, sleep = [], asyncio.sleep

    async def recorded(seconds, *args, **kwargs):
        asked.append(seconds)
        return await sleep(0)

    monkeypatch.setattr(asyncio, "sleep", recorded)
    return asked


def test_a_retry_waits_as_long_as_retry_after_asks_when_that_is_longer(scripted, waits):
    # As TypeScript's reader: seconds, or an HTTP date; the backoff when it asks for less.
    from email.utils import formatdate
    import time

    scripted.plan = [(503, "3")]
    r = ndpack.open(scripted.url("/a.ndp"))  # the HEAD's answer
    assert scripted.outcomes("HEAD") == [(503, "3"), "ok"] and [w for w in waits if w] == [3.0]
    waits.clear()
    scripted.requests.clear()
    scripted.plan = [(429, "1"), (503, formatdate(time.time() + 60, usegmt=True)[:-4] + " GMT")]
    with pytest.raises(NdpackError) as info:  # the date asks for ~60 s: more than the timeout
        ndpack.open(scripted.url("/a.ndp"), timeout=30).read("x")
    assert info.value.code == "HTTP_ERROR" and info.value.status == 503
    assert "not retried: its Retry-After asks for" in info.value.message
    assert [w for w in waits if w] == [1.0]
    scripted.plan = [(503, "0"), (503, "soon")]  # no longer than the backoff, or unreadable
    waits.clear()
    np.testing.assert_array_equal(r.read("x"), X)
    assert [w for w in waits if w] and all(w < 0.5 for w in waits if w)


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

    # Two attempts of 0.3 s and a backoff take 0.8 s on two busy cores, where 2 s was too close a
    # bound. A timeout other than 0.3 s shows as seconds here, or, past the server's 10 s "hang"
    # (after which it closes the connection), as no TIMEOUT at all.
    within = 8
    scripted.plan = ["hang"] * 2
    began = time.monotonic()
    with pytest.raises(NdpackError) as info:
        ndpack.open(scripted.url("/a.ndp"), timeout=0.3, retries=1)
    assert info.value.code == "TIMEOUT" and "0.3 s" in info.value.message
    assert scripted.outcomes("HEAD") == ["hang", "hang"]
    assert time.monotonic() - began < within
    r = opened(scripted, timeout=0.3, retries=1)
    scripted.plan = ["hang", "stall", "stall"]  # the body counts: half of it, then nothing
    began = time.monotonic()
    with pytest.raises(NdpackError) as info:
        r.read("x")
    assert info.value.code == "TIMEOUT"
    assert scripted.outcomes() == ["hang", "stall"]
    assert time.monotonic() - began < within


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


def test_a_body_longer_than_its_range_is_HTTP_ERROR_and_not_retried(scripted):
    # As TypeScript's readBody. Before: TRUNCATED (meant for a body cut short), retried.
    r = opened(scripted, retries=2)
    scripted.plan = ["long"]
    with pytest.raises(NdpackError) as info:
        r.read("x")
    assert info.value.code == "HTTP_ERROR" and info.value.status == 206
    assert "more" in info.value.message
    assert scripted.outcomes() == ["long"]


@pytest.mark.parametrize("server", ["no ETag, ignores If-Unmodified-Since", "validators on GET only"])
def test_a_file_replaced_on_a_server_that_would_hide_it_is_FILE_CHANGED(scripted, server):
    # As TypeScript's reader (readRange; its identity is its first GET's). Before: the new file's
    # bytes under the old header (their own CRC-32 matched them), from a server giving no ETag and
    # ignoring If-Unmodified-Since, or one whose HEAD gave no validator, so none was compared.
    if server == "validators on GET only":
        scripted.validators_on_head = False
    else:
        scripted.etag, scripted.last_modified = None, "Sun, 06 Dec 2026 10:00:00 GMT"
    r = opened(scripted)
    scripted.files["/a.ndp"] = ndpack.dumps({"x": X.astype("f4")})
    if server == "validators on GET only":
        scripted.etag, changed = '"v2"', '"v1"'
    else:
        scripted.last_modified, changed = "Sun, 06 Dec 2026 11:00:00 GMT", "Last-Modified"
    with pytest.raises(NdpackError) as info:
        r.read("x")
    assert info.value.code == "FILE_CHANGED" and changed in info.value.message


def test_a_connection_closed_without_an_answer_is_IO_ERROR_after_1_plus_retries_attempts(scripted):
    r = opened(scripted, retries=1)
    scripted.plan = ["reset"] * 10
    with pytest.raises(NdpackError) as info:
        r.read("x")
    assert info.value.code == "IO_ERROR"
    # Each attempt is two requests: aiohttp itself sends an idempotent request again, once, when
    # the connection closes before any answer (RFC 9112 §9.3.1).
    assert scripted.outcomes() == ["reset"] * 2 * 2


def test_a_redirect_loop_is_IO_ERROR_naming_no_credentials(scripted):
    # As TypeScript's fetch fails it. Before: HTTP_ERROR with status 0 ("HTTP 0"); aiohttp's repr
    # of it holds the request's headers.
    headers = {"headers": {"Authorization": "Bearer secret"}}
    r = opened(scripted, retries=0, storage_options=headers)
    for read in (lambda: ndpack.open(scripted.url("/a.ndp"), retries=0, storage_options=headers),
                 lambda: r.read("x")):
        scripted.requests.clear()
        scripted.plan = ["redirect"] * 100
        with pytest.raises(NdpackError) as info:
            read()
        assert info.value.code == "IO_ERROR" and info.value.status is None
        assert "redirects" in info.value.message and "secret" not in str(info.value)
        # aiohttp's bound on redirects, and no GET after the HEAD (as after a refused HEAD)
        assert [m for m, *_ in scripted.requests] == [scripted.requests[0][0]] * 10


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
