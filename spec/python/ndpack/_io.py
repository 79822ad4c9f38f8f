"""Transports: byte sources that ``open`` reads ranges from, and atomic file replacement.

A source has ``size``, ``location`` and ``read(offset, length)``; the format code (reference.py)
never does I/O itself, it is given bytes. A local path is read with positioned reads into fresh
memory, each checked against the file's identity; anything with ``://`` goes through fsspec (HTTP
``Range`` requests, ``s3://`` with s3fs...). (``ndpack.load`` memory-maps instead: reference.py.)
"""

from __future__ import annotations

import contextlib
import mmap
import os
import re
import secrets
import socket
import stat
import threading
import time
import weakref

import numpy as np

from ._crc32 import crc32
from .reference import NdpackError, check_flag

#: Bytes of a local file read at a time for a CRC-32 (``FileSource.crc32``): about a core's L2
#: cache, so that each piece is still there when its CRC-32 is computed.
CRC_PIECE = 1 << 20
_CRC_BUFFERS = threading.local()  # each thread's CRC_PIECE bytes


def is_url(location) -> bool:
    return isinstance(location, str) and "://" in location


def reopenable(location):
    """``location`` as another process opens it again (a Dask worker, whose working directory may
    be another one): a relative path made absolute, against the working directory it is opened
    in; a URL, or the None of a source without a location, as it is."""
    if location is None or is_url(location):
        return location
    return os.path.abspath(location)


def local_path(location):
    """The path of a ``file://`` URL given as a string (percent-decoded, as TypeScript's ``toPath``
    reads it; INVALID_ARGUMENT for one naming another host), so that ``save``, ``load`` and
    ``open`` take it as a path (``save`` wrote to a relative path ``file:/...``); any other
    location as it is."""
    if not (isinstance(location, str) and location[:7].lower() == "file://"):
        return location
    from urllib.parse import unquote
    from urllib.parse import urlsplit as split

    try:
        parts = split(location)
    except ValueError as ex:
        raise NdpackError("INVALID_ARGUMENT", f"{shown_url(location)} is not a URL ({ex})") \
            from None
    if parts.netloc not in ("", "localhost") or "%2f" in parts.path.lower():
        raise NdpackError("INVALID_ARGUMENT", f"{shown_url(location)} names no local file (a "
                          "host, or an encoded separator)")
    return unquote(parts.path)


#: A URL in a text: its scheme, credentials (user:password@), the rest up to a query or fragment,
#: and them.
_URL_IN_TEXT = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)(?:[^\s/?#'\"]*@)?([^\s?#'\"]*)"
                          r"(?:[?#][^\s'\")]*)?")  # credentials: up to the authority's last @


def shown_url(text) -> str:
    """``text`` (a URL, or a message that quotes some) with each URL as messages name URLs, as
    TypeScript's do: without its query and fragment (a presigned URL's signature, a token) and
    credentials (user:password@). ``location`` keeps the whole URL (a reader opens it again in
    a Dask worker)."""
    return _URL_IN_TEXT.sub(r"\1\2", str(text))


def io_error(action: str, path, ex: OSError) -> NdpackError:
    """``ex`` as IO_ERROR naming what was being done to which path (TypeScript's ``ioError``); the
    caller raises it ``from ex``, so that the OSError (its ``errno``: ENOENT...) is the cause."""
    return NdpackError("IO_ERROR", f"cannot {action} {os.fspath(path)}: {ex.strerror or ex}")


def _identity(info: os.stat_result) -> tuple:
    """What tells one version of a file's contents from another (TypeScript's ``FileIdentity``):
    size, modification time (ns), inode, status-change time (ns), link count."""
    return info.st_size, info.st_mtime_ns, info.st_ino, info.st_ctime_ns, info.st_nlink


def _same_contents(now: tuple, then: tuple) -> bool:
    """The same size, modification time and inode, and the same status-change time unless the link
    count changed: a file renamed over (as ``save`` replaces files) or unlinked keeps its bytes, but
    its ctime moves when its last link goes (TypeScript's ``sameIdentity``)."""
    return now[:3] == then[:3] and (now[3] == then[3] or now[4] != then[4])


#: Bytes per read call: Linux moves at most 2 GiB - 4 KiB in one.
MAX_READ_BYTES = 1 << 30


class FileSource:
    """A local file, read with positioned reads (``os.preadv``) into fresh memory: what ``read``
    returns is the caller's, never a view of the file. A memory map would be cheaper, but a map
    shows whatever the file holds when a page is touched: a file truncated meanwhile kills the
    process (SIGBUS), one rewritten in place gives its new bytes under a CRC checked earlier.

    Each read is checked once it is done, as TypeScript's (src/node/file-source.ts): a short read,
    or an identity (``_identity``) other than at open, is FILE_CHANGED. Any write before or during
    the read has moved the ctime (or the size) by then, and nothing sets a ctime back, so one fstat
    after the read sees what one before it would. (A rewrite within the clock's granularity that
    keeps the size, the CRC catches.) A path that cannot be opened (EMFILE included) is IO_ERROR,
    the OSError as its cause; anything but a regular file is INVALID_ARGUMENT (it is opened
    non-blocking, so that a FIFO does not hang). ``identity`` is (size, mtime in ns, inode).

    Threads may read one source at once; its descriptor is closed by ``close``, or when the source
    is dropped."""

    #: ``read`` gives a uint8 array of its own, never a view of memory another object holds.
    reads_into_own_memory = True

    def __init__(self, path):
        self.location = os.fspath(path)
        try:
            fd = os.open(self.location, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)
                         | getattr(os, "O_BINARY", 0))
        except OSError as ex:
            raise io_error("open", self.location, ex) from ex
        self._fd = fd
        self._close_fd = weakref.finalize(self, os.close, fd)
        self._mapped: np.ndarray | None = None  # ``map``'s view of the whole file, made once
        self._map_lock = threading.Lock()  # before ``close``, which takes it
        try:
            info = os.fstat(fd)
        except OSError as ex:
            self.close()
            raise io_error("stat", self.location, ex) from ex
        if not stat.S_ISREG(info.st_mode):
            self.close()
            raise NdpackError("INVALID_ARGUMENT", f"{self.location} is not a regular file (a "
                              "directory, FIFO, socket or device); read streams with "
                              "read_messages")
        self._identity = _identity(info)
        self.size = info.st_size
        self.identity = self._identity[:3]
        #: Where ``os.preadv`` is missing (Windows), a seek and a read, one thread at a time.
        self._seek_lock = None if hasattr(os, "preadv") else threading.Lock()

    def reopen(self) -> FileSource:
        """This source's path opened again (a set reader closes its shards' files to stay within a
        number of open files): FILE_CHANGED unless it is still the same file, unchanged since this
        source was opened, a removed file included (a set written again removes its old shards)."""
        try:
            again = FileSource(self.location)
        except NdpackError as ex:
            if not isinstance(ex.__cause__, FileNotFoundError):
                raise
            raise NdpackError("FILE_CHANGED", f"{self.location}: the file was removed since it "
                              "was first opened") from ex
        if not _same_contents(again._identity, self._identity):
            again.close()
            raise self._changed(again._identity)
        return again

    def _changed(self, now: tuple) -> NdpackError:
        what = (f"its size went from {self.size} to {now[0]} bytes" if now[0] != self.size
                else f"(size, mtime_ns, inode, ctime_ns, links) {self._identity} then, {now} now")
        return NdpackError("FILE_CHANGED", f"{self.location}: the file changed since it was "
                           f"opened ({what}); open it again")

    def read(self, offset: int, length: int) -> np.ndarray:
        """Bytes ``[offset, offset + length)`` (fewer past the end of the file as opened) in new
        memory, a uint8 array."""
        # Not zeroed first: it is filled in full, or FILE_CHANGED, so nothing stale is handed out.
        out = np.empty(max(0, min(length, self.size - offset)), np.uint8)
        self._fill(out, offset)
        return out

    def crc32(self, offset: int, length: int, value: int = 0) -> int:
        """The CRC-32 of bytes ``[offset, offset + length)``, continued from ``value``: read
        ``CRC_PIECE`` bytes at a time into memory this thread reuses, since the bytes are not handed
        out. (Fresh memory for them, mapped and zeroed by the kernel page by page, then read back
        from RAM, cost about as much again as the read and the CRC-32 together.) FILE_CHANGED as
        for ``read``, when the file ends early or changes: its identity is checked once, after the
        last piece, which sees any write made before or during any of the reads (as one check
        after one read does)."""
        piece = getattr(_CRC_BUFFERS, "piece", None)
        if piece is None or len(piece) != CRC_PIECE:
            piece = _CRC_BUFFERS.piece = np.empty(CRC_PIECE, np.uint8)
        end = offset + length
        for at in range(offset, end, CRC_PIECE):
            part = piece[: min(CRC_PIECE, end - at)]
            self._fill(part, at, check_identity=at + len(part) == end)
            value = crc32(part, value)
        return value

    def map(self, offset: int, length: int) -> np.ndarray:
        """Bytes ``[offset, offset + length)`` (fewer past the end of the file as opened) as a
        read-only uint8 view of a memory map of the file, no copy: what ``ndpack.dask``'s
        ``mmap=True`` asks for, knowing the price the class documentation gives. The map is made at
        the first call and shared by every later one; it is unmapped once this source is closed and
        no view of it is left (each map holds a duplicate of the descriptor until then, as Python's
        ``mmap`` does). FILE_CHANGED unless the file is unchanged since it was opened, checked at
        each call, after the map is made: pages past a truncated end are never handed out."""
        # Under the lock, which ``close`` takes before closing the descriptor: never another
        # file's, which a descriptor closed meanwhile may be, and no map made after ``close``.
        with self._map_lock:
            fd = self._fd
            if fd is None:
                raise self._closed()
            try:
                if self._mapped is None:
                    self._mapped = self._map_whole(fd)
                mapped = self._mapped
                now = _identity(os.fstat(fd))
            except OSError as ex:
                raise io_error("map", self.location, ex) from ex
        if not _same_contents(now, self._identity):
            # The error's traceback keeps this frame: without this view of the map in it, the
            # map (and the descriptor it holds) closes with the source, not with the error.
            del mapped
            raise self._changed(now)
        return mapped[offset : offset + max(0, length)]

    def _map_whole(self, fd: int) -> np.ndarray:
        if not self.size:
            empty = np.empty(0, np.uint8)  # mmap cannot map nothing
            empty.flags.writeable = False
            return empty
        try:
            whole = mmap.mmap(fd, self.size, access=mmap.ACCESS_READ)
        except ValueError:  # Python's refusal to map past the end of a file shorter now
            raise self._changed(_identity(os.fstat(fd))) from None
        return np.frombuffer(whole, np.uint8)

    def _fill(self, out: np.ndarray, offset: int, check_identity: bool = True) -> None:
        """Fill ``out`` with the file's bytes from ``offset``: FILE_CHANGED unless the file holds
        them all and (``check_identity``) is unchanged once they are read, CLOSED if closed
        meanwhile."""
        fd = self._fd
        if fd is None:
            raise self._closed()
        done = 0
        try:
            with memoryview(out) as view:
                while done < len(out):
                    n = self._read_into(fd, view[done : done + MAX_READ_BYTES], offset + done)
                    if n == 0:
                        break
                    done += n
            now = _identity(os.fstat(fd)) if check_identity else self._identity
        except OSError as ex:
            if self._fd is None:  # closed by another thread during the read
                raise self._closed() from ex
            raise io_error("read", self.location, ex) from ex
        if self._fd is None:  # closed during the read: its descriptor may be another file's now
            raise self._closed()
        if done < len(out):
            raise NdpackError("FILE_CHANGED", f"{self.location}: the file changed since it was "
                              f"opened (it ended at byte {offset + done}); open it again")
        if not _same_contents(now, self._identity):
            raise self._changed(now)

    def _closed(self) -> NdpackError:
        return NdpackError("CLOSED", f"{self.location}: the reader is closed")

    def _read_into(self, fd: int, view: memoryview, position: int) -> int:
        if self._seek_lock is None:
            return os.preadv(fd, [view], position)
        with self._seek_lock:
            os.lseek(fd, position, os.SEEK_SET)
            data = os.read(fd, len(view))
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        with self._map_lock:
            self._fd = None
            self._mapped = None  # unmapped when the last view of it goes
        self._close_fd()


#: The fields of fsspec's ``info()`` that tell one version of a file from another (local, s3,
#: gcs, azure...), those present being compared with ``size``.
IDENTITY_FIELDS = ("ETag", "etag", "mtime", "LastModified", "last_modified", "ino", "checksum",
                   "md5Hash", "crc32c", "generation", "VersionId", "version_id", "created")


def retry_after(value) -> float | None:
    """A ``Retry-After`` header (RFC 9110 section 10.2.3: seconds, or an HTTP date) in seconds
    from now; None when absent or unreadable (TypeScript's ``retryAfterMs``)."""
    text = (value or "").strip()
    if text.isascii() and text.isdigit():
        return float(text)
    try:
        from email.utils import parsedate_to_datetime

        return max(0.0, parsedate_to_datetime(text).timestamp() - time.time())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _retry_after_of(ex: BaseException) -> float | None:
    """The ``Retry-After`` of the answer behind ``ex`` or the exceptions it was raised from."""
    seen = set()
    while ex is not None and id(ex) not in seen:
        seen.add(id(ex))
        headers = getattr(ex, "headers", None)
        if headers is not None and hasattr(headers, "get"):
            return retry_after(headers.get("Retry-After"))
        ex = ex.__cause__ or ex.__context__
    return None


def _status_of(ex: BaseException) -> int | None:
    """The HTTP status carried by ``ex`` or the exceptions it was raised from (fsspec wraps an
    aiohttp error, 404 included, in FileNotFoundError)."""
    seen = set()
    while ex is not None and id(ex) not in seen:
        seen.add(id(ex))
        status = getattr(ex, "status", None)
        if isinstance(status, int) and status > 0:  # aiohttp's errors without one give 0
            return status
        ex = ex.__cause__ or ex.__context__
    return None


#: The filesystems a forked process inherited from its parent, kept for as long as it runs: one
#: dropped would be closed by its finalizer, which closes the parent's connections too (their
#: sockets, and the event loop's epoll set, are shared), stalling the parent's next reads. (A child
#: that ends through ``os._exit``, as multiprocessing's workers and DataLoader's do, runs no
#: finalizer; one that ends through ``sys.exit`` runs fsspec's at exit, and the parent's next read
#: waits for its timeout, then is retried.)
_INHERITED_FILESYSTEMS: list = []


class FsspecSource:
    """Any fsspec URL. Each ``read`` is one ranged request (``cat_file`` with start and end), so
    only the header and the records asked for cross the network. The file's identity (its size,
    and the ETag, modification time or checksum ``info()`` gives) is recorded when it is opened and
    checked again after every read: a file replaced since is FILE_CHANGED, never a mix of two
    versions. (``HttpSource`` does it with conditional requests.) A filesystem whose ``info()``
    gives the size alone cannot tell a file replaced by one of the same size: it is read as it now
    is, under the header read at open, and only the CRC-32s of records read whole tell a mix
    (CHECKSUM); a file without them (.npy, .safetensors) cannot tell it at all.

    A URL fsspec does not take (an unknown protocol) or whose filesystem's package is missing is
    INVALID_ARGUMENT. A source used in a process forked since it was opened (a PyTorch DataLoader
    worker, a fork pool) makes its filesystem again there: fsspec's (its event loop thread, its
    aiohttp session) serves the process that made it only; the identity checked stays the one
    recorded at open."""

    def __init__(self, url: str, storage_options: dict | None = None):
        try:
            import fsspec  # noqa: F401 (missing: the message names the extra to install)
        except ImportError:
            raise NdpackError("INVALID_ARGUMENT", f"reading {shown_url(url)} needs fsspec: "
                              "pip install 'ndpack[remote]'") from None
        self.location = url
        #: The URL as messages name it: without its query, fragment and credentials.
        self.shown = shown_url(url)
        self._storage_options = storage_options or {}
        self._pid = os.getpid()
        self._own_fs, self._path = self._call(self._filesystem)
        self.identity = self._identity()
        self.size = self.identity[0]
        if self.size is None:
            raise NdpackError("IO_ERROR", f"{self.shown}: the server does not give the file's size")

    @staticmethod
    def _url_to_fs(url: str, storage_options: dict) -> tuple:
        import fsspec

        return fsspec.core.url_to_fs(url, **storage_options)

    def _filesystem(self) -> tuple:
        """The fsspec filesystem of the URL and the path in it."""
        protocol = self.location.split("://", 1)[0]
        try:
            return self._url_to_fs(self.location, self._storage_options)
        except ImportError as ex:  # fsspec's message names the package: "Install s3fs to..."
            # aiohttp, which fsspec's HTTP needs, is ndpack's to bring: name the extra.
            extra = "; pip install 'ndpack[remote]'" if protocol in ("http", "https") else ""
            raise NdpackError("INVALID_ARGUMENT", f"{self.shown}: {protocol}:// URLs need a "
                              f"package that is not installed ({shown_url(ex)}){extra}") from ex
        except ValueError as ex:  # "Protocol not known: foo"
            raise NdpackError("INVALID_ARGUMENT", f"{self.shown}: fsspec does not read this "
                              f"URL ({shown_url(ex)})") from ex

    @property
    def _fs(self):
        """This process's filesystem: made again after a fork (fsspec raises "This class is not
        fork-safe" for the parent's)."""
        if self._pid != os.getpid():
            _INHERITED_FILESYSTEMS.append(self._own_fs)
            self._own_fs = self._call(self._filesystem)[0]
            self._pid = os.getpid()
        return self._own_fs

    def _identity(self) -> tuple:
        self._fs.invalidate_cache(self._path)  # info() afresh, not from a listing kept
        info = self._call(self._fs.info, self._path)
        return (info.get("size"),) + tuple((field, str(info[field])) for field in IDENTITY_FIELDS
                                           if info.get(field) is not None)

    def read(self, offset: int, length: int) -> bytes:
        if length <= 0:
            return b""
        data = self._call(self._fs.cat_file, self._path, start=offset, end=offset + length)
        if len(data) > length:  # a whole file where a range was asked for
            raise NdpackError("RANGE_NOT_SUPPORTED", f"{self.shown}: the server ignores Range "
                              "requests (it sent the whole file)")
        if len(data) != length:  # the file is shorter than when it was opened
            raise NdpackError("FILE_CHANGED", f"{self.shown}: asked for {length} bytes at "
                              f"{offset}, got {len(data)}")
        now = self._identity()
        if now != self.identity:
            raise NdpackError("FILE_CHANGED", f"{self.shown}: the file changed since it was "
                              f"opened: {self.identity} then, {now} now")
        return data

    def _call(self, method, *args, **kwargs):
        """A filesystem call; its failures become HTTP_ERROR (with the response's ``status``: a
        missing URL is 404) or IO_ERROR, with the cause chained."""
        try:
            return method(*args, **kwargs)
        except NdpackError:
            raise
        except Exception as ex:  # noqa: BLE001 (aiohttp's, botocore's...: each filesystem its own)
            status = _status_of(ex)
            if status is not None:
                raise NdpackError("HTTP_ERROR", f"{self.shown}: HTTP {status} ({shown_url(ex)})",
                                  status=status) from ex
            raise NdpackError("IO_ERROR", f"{self.shown}: {shown_url(repr(ex))}") from ex

    def close(self) -> None:
        pass


#: HttpSource's defaults, as TypeScript's (src/io/http.ts): transient failures retried 3 times,
#: 30 s per request (body included), 0.1 s before the first retry, twice as long before each next.
DEFAULT_RETRIES = 3
DEFAULT_TIMEOUT = 30.0
FIRST_BACKOFF = 0.1


def _transient(ex: NdpackError) -> bool:
    """A failure that asking again may mend (TypeScript's ``isTransient``): HTTP 5xx, 408 and 429,
    no answer (IO_ERROR), a body cut short (TRUNCATED) and TIMEOUT."""
    if ex.code == "HTTP_ERROR":
        return ex.status is not None and (ex.status >= 500 or ex.status in (408, 429))
    return ex.code in ("IO_ERROR", "TRUNCATED", "TIMEOUT")


def check_http_options(retries, timeout) -> tuple[int, float]:
    """``retries`` (an int of at least 0) and ``timeout`` (seconds, a finite number above 0), None
    being the default; anything else is INVALID_ARGUMENT."""
    import math

    if retries is None:
        retries = DEFAULT_RETRIES
    elif type(retries) is not int or retries < 0:
        raise NdpackError("INVALID_ARGUMENT", f"retries must be an integer of at least 0, got "
                          f"{retries!r}")
    if timeout is None:
        timeout = DEFAULT_TIMEOUT
    elif (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
          or not math.isfinite(timeout) or timeout <= 0):
        raise NdpackError("INVALID_ARGUMENT", f"timeout must be a number of seconds above 0, got "
                          f"{timeout!r}")
    return retries, float(timeout)


class HttpSource(FsspecSource):
    """An http(s) URL, as the TypeScript reader reads it (src/io/http.ts): a HEAD request
    (fsspec's ``_file_info``; a GET when the HEAD is refused with a 4xx other than 404, 408, 410
    and 429, or gives no size, as fsspec's ``info()``) records the file's identity, its size, its
    URL after redirects and its validator (a strong ``ETag``, else ``Last-Modified``); every read is
    then one ``Range`` request, through fsspec's session, to that URL, on the condition that the
    file is still that version (``If-Match``, else ``If-Unmodified-Since``). A 412 answer, or an
    answer whose ``Content-Range`` total, ``ETag`` or ``Last-Modified`` differs from the first, is
    FILE_CHANGED (a server that sends neither validator leaves the size alone to compare, as
    ``FsspecSource`` says); a 200 answer (the whole file) to a range of part of it RANGE_NOT_SUPPORTED; another status
    HTTP_ERROR with ``status`` (404, 403, 416, 5xx); no answer (connection refused or reset, a
    redirect loop) IO_ERROR; a body shorter than its range, or cut off, TRUNCATED, a longer one HTTP_ERROR; no
    complete answer within ``timeout`` seconds (body included) TIMEOUT. HTTP 5xx, 408, 429,
    IO_ERROR, TRUNCATED and TIMEOUT are transient: each request (the first one included) is retried
    ``retries`` times, waiting 0.1 s, 0.2 s, 0.4 s... (between half and all of it, at random) in
    between, or what the answer's ``Retry-After`` asks for when that is longer (longer than
    ``timeout``: not retried); the error after the last retry is the last failure's. Every request asks for the
    file's own bytes (``Accept-Encoding: identity``); a compressed answer all the same is
    RANGE_NOT_SUPPORTED (a 200) or HTTP_ERROR (a 206: a range of other bytes)."""

    #: Reads may run in threads at once (each is a request on fsspec's event loop): readers that
    #: know several ranges ahead read them so (a .npz's member heads). Not every fsspec
    #: filesystem takes that (tar://, ftp://: one file position), so FsspecSource does not say it.
    concurrent_reads = True

    def __init__(self, url: str, storage_options: dict | None = None, *, retries=None,
                 timeout=None):
        from urllib.parse import urlsplit

        if "@" in urlsplit(url).netloc:  # as TypeScript's parseUrl (fetch refuses such URLs)
            raise NdpackError("INVALID_ARGUMENT", f"{shown_url(url)}: a URL with a user name or "
                              "password (user:password@); send credentials in an Authorization "
                              "header (storage_options={'headers': {...}})")
        self._retries, self._timeout = check_http_options(retries, timeout)
        super().__init__(url, storage_options)
        info = self._info
        asked = str(self._fs.encode_url(self._path))
        self._url = info.get("url") or asked
        self._etag, self._last_modified = info.get("ETag"), info.get("Last-Modified")
        self.identity = (self.size, self._etag or self._last_modified)
        # The bytes of the file, never a compressed form of it: a server that compresses (nginx
        # with gzip on) answers a Range request for gzip with the whole file gzipped (a 200 with a
        # weak ETag). (The HEAD asks for identity too: fsspec's _file_info.)
        dropped = {"accept-encoding"}
        if _origin(self._url) != _origin(asked):
            # Redirected to another origin (a CDN, an object store): credentials stay behind.
            dropped.add("authorization")
        self._headers = {k: v for k, v in (self._fs.kwargs.get("headers") or {}).items()
                         if k.lower() not in dropped}
        self._headers["Accept-Encoding"] = "identity"
        # A weak ETag never matches If-Match (RFC 9110 §13.1.1): such files are checked by date.
        if self._etag and not self._etag.startswith("W/"):
            self._headers["If-Match"] = self._etag
        elif self._last_modified:
            self._headers["If-Unmodified-Since"] = self._last_modified

    @staticmethod
    def _url_to_fs(url: str, storage_options: dict) -> tuple:
        # Not url_to_fs, which splits a URL at "::" (fsspec's chaining of filesystems): an IPv6
        # host (http://[::1]:8080/) has one. An http(s) URL is never a chain's first link.
        import fsspec

        return fsspec.filesystem(url.split("://", 1)[0], **storage_options), url

    def _identity(self) -> tuple:
        self._info = self._run(self._info_once)
        return (self._info.get("size"),)

    def read(self, offset: int, length: int) -> bytes:
        if length <= 0:
            return b""
        return self._run(self._get, offset, offset + length)

    def _run(self, attempt, *args):
        """``attempt(answered, *args)`` on fsspec's loop, within ``timeout`` each time, again after
        a transient failure (up to ``retries`` times, with exponential backoff)."""
        from fsspec.asyn import sync

        return sync(self._fs.loop, self._with_retries, attempt, *args)

    async def _with_retries(self, attempt, *args):
        import asyncio
        import random

        retry = 0
        while True:
            try:
                return await self._exchange(attempt, *args)
            except NdpackError as ex:
                if retry >= self._retries or not _transient(ex):
                    raise
                # The answer's Retry-After when it asks for longer: at most the timeout, else the
                # failure at once (waiting less than the server asked would be refused again).
                asked = getattr(ex, "retry_after", None) or 0.0
                if asked > self._timeout:
                    raise NdpackError(ex.code, f"{ex.message} (not retried: its Retry-After asks "
                                      f"for {asked:.0f} s, longer than the timeout of "
                                      f"{self._timeout:g} s)", status=ex.status) from ex
            # Between half and all of the wait, so that many clients do not retry in step.
            await asyncio.sleep(max(FIRST_BACKOFF * 2**retry * (0.5 + random.random() / 2),
                                    asked))
            retry += 1

    async def _exchange(self, attempt, *args):
        """One attempt; every failure comes out as an NdpackError (TypeScript's ``exchange``)."""
        import asyncio

        import aiohttp

        answered = []  # appended to once the status line and headers have arrived
        try:
            return await asyncio.wait_for(attempt(answered, *args), self._timeout)
        except NdpackError:
            raise
        except asyncio.TimeoutError as ex:  # the timeout, or one of the session's own (aiohttp's)
            raise NdpackError("TIMEOUT", f"{self.shown}: no complete answer within "
                              f"{self._timeout:g} s") from ex
        except aiohttp.TooManyRedirects as ex:
            # A redirect loop: a request that failed, as TypeScript's fetch fails it (IO_ERROR), not
            # HTTP_ERROR with its status of 0 (nor a GET after a HEAD refused so); named without
            # its repr, which holds the request's headers (Authorization).
            raise NdpackError("IO_ERROR", f"{self.shown}: the request failed (too many "
                              f"redirects: {len(ex.history)})") from ex
        except Exception as ex:  # noqa: BLE001 (aiohttp's, OSError...)
            status = _status_of(ex)
            if status is not None:
                error = NdpackError("HTTP_ERROR", f"{self.shown}: HTTP {status} ({shown_url(ex)})",
                                    status=status)
                error.retry_after = _retry_after_of(ex)
                raise error from ex
            if answered or isinstance(ex, aiohttp.ClientPayloadError):
                raise NdpackError("TRUNCATED", f"{self.shown}: the connection broke while the "
                                  f"body was read ({shown_url(repr(ex))})") from ex
            raise NdpackError("IO_ERROR", f"{self.shown}: the request failed ({shown_url(repr(ex))})") from ex

    async def _info_once(self, answered) -> dict:
        """What a HEAD request says of the file (the size, the URL after redirects, the ETag and
        Last-Modified); a GET when the HEAD is refused (but for 404, 410 and transient statuses)
        or gives no size, as fsspec's ``info()``."""
        from fsspec.implementations.http import _file_info

        fs = self._fs
        session = await fs.set_session()
        url = fs.encode_url(self._path)
        try:
            info = await _file_info(url, session=session, size_policy="head", **fs.kwargs)
            if info.get("size") is not None:
                return info
        except Exception as ex:  # noqa: BLE001
            status = _status_of(ex)
            if status is None or status in (404, 410, 408, 429) or status >= 500:
                raise
        return await _file_info(url, session=session, size_policy="get", **fs.kwargs)

    async def _get(self, answered, start: int, end: int) -> bytes:
        import asyncio

        import yarl

        fs = self._fs
        session = await fs.set_session()
        options = {k: v for k, v in fs.kwargs.items() if k != "headers"}
        headers = dict(self._headers, Range=f"bytes={start}-{end - 1}")
        url = yarl.URL(self._url, encoded=True)  # as given by the server: not quoted again
        async with session.get(url, headers=headers, **options) as response:
            answered.append(True)
            status = response.status
            coding = response.headers.get("Content-Encoding", "identity").strip().lower()
            if status == 412:
                raise self._changed("the server refused the condition (412 Precondition Failed)")
            # A server that compresses though identity was asked for: a compressed whole file is
            # not the file its HEAD described (TypeScript's reader takes no coded 200 either).
            compressed = "" if coding == "identity" else f", {coding}-compressed"
            if status == 200 and (compressed or not (start == 0 and end == self.size)):
                raise NdpackError("RANGE_NOT_SUPPORTED", f"{self.shown}: the server ignores "
                                  f"Range requests (it answered 200 with the whole file"
                                  f"{compressed})", status=200)
            if status not in (200, 206):
                error = NdpackError("HTTP_ERROR", f"{self.shown}: HTTP {status} "
                                    f"{response.reason or ''} for bytes {start}-{end - 1}".rstrip(),
                                    status=status)
                error.retry_after = retry_after(response.headers.get("Retry-After"))
                raise error
            if compressed:  # a range of the compressed form: other bytes than asked for
                raise NdpackError("HTTP_ERROR", f"{self.shown}: asked for bytes "
                                  f"{start}-{end - 1} of the file, the server sent a range of its "
                                  f"{coding}-compressed form", status=206)
            first, last, total = 0, end - 1, self.size
            if status == 206:
                first, last, total = _content_range(response.headers.get("Content-Range"))
                if first is None:
                    raise NdpackError("HTTP_ERROR", f"{self.shown}: a 206 answer without a "
                                      "usable Content-Range", status=206)
            # Last-Modified too (TypeScript's readRange): a server that ignores If-Match and
            # If-Unmodified-Since, and gives no ETag, tells a new version by its date only.
            for what, then, now in (("size", self.size, total),
                                    ("ETag", self._etag, response.headers.get("ETag")),
                                    ("Last-Modified", self._last_modified,
                                     response.headers.get("Last-Modified"))):
                if then is not None and now is not None and then != now:
                    raise self._changed(f"its {what} was {then} and is now {now}")
            # A validator the HEAD did not give (some servers send them on GET only) is the first
            # answer's from then on, as TypeScript's reader takes the file's identity from its
            # first GET: a file replaced later is told by it, not read under the old header.
            self._etag = self._etag or response.headers.get("ETag")
            self._last_modified = self._last_modified or response.headers.get("Last-Modified")
            if (first, last) != (start, end - 1):
                raise NdpackError("HTTP_ERROR", f"{self.shown}: asked for bytes "
                                  f"{start}-{end - 1}, the server sent {first}-{last}", status=206)
            # Exactly the bytes asked for, never more held in memory (TypeScript's readBody): a
            # longer body is HTTP_ERROR, not retried (asking again gets as much); a shorter one
            # TRUNCATED.
            try:
                data = await response.content.readexactly(end - start)
            except asyncio.IncompleteReadError as ex:
                raise NdpackError("TRUNCATED", f"{self.shown}: asked for {end - start} bytes "
                                  f"at {start}, got {len(ex.partial)}") from ex
            if await response.content.read(1):
                raise NdpackError("HTTP_ERROR", f"{self.shown}: asked for {end - start} bytes "
                                  f"at {start}, the server sent more", status=status)
        return data

    def _changed(self, why: str) -> NdpackError:
        return NdpackError("FILE_CHANGED", f"{self.shown}: the file changed on the server "
                           f"since it was opened: {why}")


def _origin(url: str) -> tuple:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def _content_range(header: str | None) -> tuple[int | None, int | None, int | None]:
    """``bytes first-last/total`` as three integers (None each when it is missing or malformed)."""
    import re

    match = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", (header or "").strip(), re.IGNORECASE)
    return tuple(int(g) for g in match.groups()) if match else (None, None, None)


def open_source(location, storage_options: dict | None = None, *, retries=None, timeout=None,
                open_path=FileSource):
    """The source for a path or URL. ``retries`` and ``timeout`` (None: the defaults) are
    ``HttpSource``'s: given for another location, they are INVALID_ARGUMENT. A path is opened by
    ``open_path`` (a set reader's, which bounds its open shard files). URL schemes are
    case-insensitive (RFC 3986 §3.1): fsspec is given them in lower case."""
    if is_url(location):
        # Each of a chain's too (zip://a.ndp::FILE:///b.zip); fsspec knows lower-case ones only.
        location = re.sub(r"(^|::)([A-Za-z][A-Za-z0-9+.-]*)(?=://)",
                          lambda match: match[1] + match[2].lower(), location)
        if location.startswith(("http://", "https://")):
            return HttpSource(location, storage_options, retries=retries, timeout=timeout)
    if retries is not None or timeout is not None:
        raise NdpackError("INVALID_ARGUMENT", "retries and timeout apply to http(s) URLs only "
                          "(other fsspec filesystems retry in their own way)")
    if is_url(location):
        return FsspecSource(location, storage_options)
    if storage_options:
        raise NdpackError("INVALID_ARGUMENT", "storage_options apply to URLs only")
    return open_path(location)


def fsync_dir(folder: str) -> None:
    """Make a rename in ``folder`` durable (POSIX; a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


#: What a temporary name adds to the final name: a dot before, ``.<12 hex digits>.tmp`` after.
TEMPORARY_NAME_EXTRA = 1 + 1 + 12 + 4
#: Temporary names may always be this long (bytes): far below any file system's limit.
TEMPORARY_NAME_ALWAYS_FITS = 64


def temporary_name(name: str) -> str:
    """``.<name>.<12 random hex digits>.tmp``, ``<name>`` cut (between characters) so that the
    whole is no longer than ``name`` itself when ``name`` is longer than 64 bytes: a final name the
    file system accepts always has a temporary name it accepts (as TypeScript's
    ``temporaryName``)."""
    budget = max(len(os.fsencode(name)), TEMPORARY_NAME_ALWAYS_FITS) - TEMPORARY_NAME_EXTRA
    prefix = []
    for character in name:
        budget -= len(os.fsencode(character))
        if budget < 0:
            break
        prefix.append(character)
    return f".{''.join(prefix)}.{secrets.token_hex(6)}.tmp"


def check_target(target, follow_symlinks: bool = False) -> tuple[str, int | None]:
    """Where a write to ``target`` lands, and the permission bits of the file it replaces (None for
    a new file), by the TypeScript writer's rule (``checkTarget`` in src/node/io.ts): the path must
    name a regular file or nothing. A symbolic link is refused unless ``follow_symlinks``, and then
    the file it points to must be regular; directories, devices, FIFOs and sockets are always
    refused (NOT_REGULAR_FILE). Only the permission bits (0o777) of a replaced file are kept.
    ``follow_symlinks`` other than True or False is INVALID_ARGUMENT, as TypeScript's
    ``followSymlinks`` (a truthy 1 must not quietly write through a link)."""
    check_flag(follow_symlinks, "follow_symlinks")
    shown = os.fspath(local_path(target))
    if isinstance(shown, bytes):
        shown = os.fsdecode(shown)
    if shown.endswith(("/", os.sep)):
        raise NdpackError("NOT_REGULAR_FILE", f"{shown} ends with a path separator, so it names a "
                          "directory: ndpack writes only regular files")
    path = os.path.abspath(shown)
    info = _lstat(path)
    if info is not None and stat.S_ISLNK(info.st_mode):
        if not follow_symlinks:
            raise NdpackError("NOT_REGULAR_FILE", f"{shown} is a symbolic link: ndpack does not "
                              "write through links unless asked (follow_symlinks=True)")
        path = os.path.realpath(path)
        if not os.path.exists(path):  # a dangling link, or a loop
            raise NdpackError("NOT_REGULAR_FILE", f"{shown} is a symbolic link to a file that "
                              "cannot be reached")
        info = _lstat(path)
    if info is None:
        return path, None
    if not stat.S_ISREG(info.st_mode):
        raise NdpackError("NOT_REGULAR_FILE", f"{shown} is not a regular file (a directory, "
                          "device, FIFO or socket): ndpack writes only regular files")
    return path, stat.S_IMODE(info.st_mode) & 0o777


def _lstat(path: str):
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as ex:  # EACCES, ENOTDIR, ELOOP...
        raise io_error("look at", path, ex) from ex


class AtomicFile:
    """A file written under a temporary name in the target's folder and renamed over the target
    by ``commit``: a reader sees the old file or the complete new one, never a part.

    The target must be a regular file or absent (``check_target``: NOT_REGULAR_FILE for a
    symbolic link unless ``follow_symlinks``, which replaces the file it points to). A replaced
    file's permission bits are kept; a new file gets 0o666 less the umask, as ``open`` gives it.
    ``commit(rename=True)`` flushes, fsyncs, renames and fsyncs the folder; ``commit(rename=False)``
    stops after the fsync, for set writers that rename many files at once (``rename_into_place``).
    ``abort`` removes the temporary file. As a context manager it aborts on an exception.
    ``detach`` closes the temporary file but keeps it, for writes by path (``write_at``) from other
    threads or processes, to which the object can then be pickled; ``commit`` opens it again.

    Every OSError (a missing folder, a full disk...) is IO_ERROR naming the path, the OSError as
    its cause (TypeScript's ``AtomicFile``), and a failed commit removes the temporary file."""

    def __init__(self, path, *, follow_symlinks: bool = False):
        self.path, mode = check_target(path, follow_symlinks)
        self.folder = os.path.dirname(self.path)
        self.temp = os.path.join(self.folder, temporary_name(os.path.basename(self.path)))
        try:
            # 0o666 minus the umask, as for any new file (mkstemp would make it 0o600).
            fd = os.open(self.temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL
                         | getattr(os, "O_BINARY", 0), 0o666)
        except OSError as ex:
            raise io_error("create a temporary file next to", self.path, ex) from ex
        try:
            if mode is not None and hasattr(os, "fchmod"):
                os.fchmod(fd, mode)  # the replaced file's bits, which the umask may have cut
        except OSError as ex:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(self.temp)
            raise io_error("set the mode of", self.temp, ex) from ex
        self.file = os.fdopen(fd, "wb")

    def detach(self) -> None:
        """Close the temporary file, its bytes flushed, and keep it (see the class)."""
        try:
            self.file.close()
        except OSError as ex:
            self.abort()
            raise io_error("write", self.temp, ex) from ex
        self.file = None

    def write(self, data) -> None:
        try:
            self.file.write(data)
        except OSError as ex:
            raise io_error("write", self.temp, ex) from ex

    def commit(self, rename: bool = True) -> None:
        action = "write"
        try:
            if self.file is None:  # detached: written by path since
                action = "open the temporary file of"
                self.file = open(self.temp, "r+b")
            self.file.flush()
            action = "fsync"
            os.fsync(self.file.fileno())
            action = "close"
            self.file.close()
            if rename:
                action = "rename the temporary file over"
                os.replace(self.temp, self.path)
        except OSError as ex:
            self.abort()
            raise io_error(action, self.path, ex) from ex
        if rename:
            fsync_dir(self.folder)

    def rename_into_place(self) -> None:
        try:
            os.replace(self.temp, self.path)
        except OSError as ex:
            raise io_error("rename the temporary file over", self.path, ex) from ex

    def abort(self) -> None:
        if self.file is not None and not self.file.closed:
            try:
                self.file.close()
            except OSError:
                pass  # the flush of what a failed write left: the file is removed anyway
        try:
            os.unlink(self.temp)
        except FileNotFoundError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, kind, *exc):
        if kind is not None:
            self.abort()


#: How long ``with_lock`` waits for another writer's lock by default: far longer than any commit
#: holds it (TypeScript's ``LOCK_WAIT_MS``).
LOCK_WAIT = 60.0
#: How often a waiting writer looks at the lock again.
LOCK_POLL = 0.01
#: A lock file without a readable owner (its writer died between creating and filling it) is stale
#: after this long.
UNOWNED_LOCK_STALE = 10.0


def write_at(path: str, offset: int, data) -> None:
    """Write ``data`` at ``offset`` of the existing file ``path`` (IO_ERROR naming it): one part of
    a file whose size is set (``Writer.reserve``), from any thread or process."""
    try:
        with open(path, "r+b") as fh:
            fh.seek(offset)
            fh.write(data)
    except OSError as ex:
        raise io_error("write", path, ex) from ex


def _lock_owner() -> str:
    """What a lock file holds: ``<pid>@<host name>``, so that another writer on the same host can
    tell when its holder is gone (the text TypeScript's writers write and read)."""
    return f"{os.getpid()}@{socket.gethostname()}"


def _read_lock(lock_path: str) -> str | None:
    try:
        with open(lock_path, "rb") as fh:
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return None


def _stale_lock(lock_path: str, owner: str) -> bool:
    """True when the lock's holder is gone: a process of this host that no longer runs, or no
    readable owner for ``UNOWNED_LOCK_STALE`` seconds. A lock of another host is never stale."""
    match = re.fullmatch(r"(\d+)@(.*)", owner.strip())  # another writer may end it with a newline
    if match is None:
        try:
            return time.time() - os.lstat(lock_path).st_mtime > UNOWNED_LOCK_STALE
        except OSError:
            return False
    if match[2] != socket.gethostname():
        return False
    try:
        os.kill(int(match[1]), 0)
    except ProcessLookupError:
        return True
    except (OSError, OverflowError):  # it runs as another user (EPERM); not a pid
        return False
    return False


def _break_lock(lock_path: str, owner: str) -> bool:
    """Removes the stale lock found holding ``owner``, one breaker at a time (TypeScript's
    ``breakLock``: each holds ``<lock>.break``, created exclusively, while it looks again and
    removes): two waiters that found the same stale lock would otherwise both remove it, the second
    removing the lock the first took since. True when this writer removed it."""
    break_path = f"{lock_path}.break"
    try:
        os.close(os.open(break_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    except OSError:
        # Another writer is breaking it; one that died doing so left a break file older than any
        # break takes.
        with contextlib.suppress(OSError):
            if time.time() - os.lstat(break_path).st_mtime > UNOWNED_LOCK_STALE:
                os.unlink(break_path)
        return False
    try:
        if _read_lock(lock_path) != owner:
            return False
        os.unlink(lock_path)
        return True
    except OSError:
        return False
    finally:
        with contextlib.suppress(OSError):
            os.unlink(break_path)


@contextlib.contextmanager
def with_lock(path: str, wait: float | None = None):
    """Holds the lock file ``<path>.lock`` for the ``with`` block (TypeScript's ``withLock``, the
    same file and text, so that TypeScript and Python writers exclude each other): it is created
    exclusively (O_EXCL) holding ``<pid>@<host>``, so that two writers of the same target (two
    processes saving one set) run the block one after the other. A lock whose holder is gone
    (``_stale_lock``) is removed (``_break_lock``); otherwise the writer waits,
    looking again every ``LOCK_POLL`` seconds, up to ``wait`` seconds (default ``LOCK_WAIT``),
    then fails with IO_ERROR naming the lock and its holder. The lock is removed when the block
    ends, on an exception too."""
    lock_path = f"{path}.lock"
    wait = LOCK_WAIT if wait is None else wait
    deadline = time.monotonic() + wait
    while True:
        try:
            fd = os.open(lock_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            pass
        except OSError as ex:
            raise io_error("create the lock", lock_path, ex) from ex
        else:
            try:
                os.write(fd, _lock_owner().encode("utf-8"))  # a few bytes: one write
            except OSError as ex:
                os.close(fd)
                with contextlib.suppress(OSError):
                    os.unlink(lock_path)
                raise io_error("write the lock", lock_path, ex) from ex
            os.close(fd)
            break
        # A lock that cannot be read (a directory, no permission) is held, as far as this writer
        # can tell: waited for, never removed.
        owner = _read_lock(lock_path)
        if owner is not None and _stale_lock(lock_path, owner) and _break_lock(lock_path, owner):
            continue
        if time.monotonic() >= deadline:
            holder = "unreadable" if owner is None else owner or "owner unknown"
            raise NdpackError("IO_ERROR", f"{lock_path} is held by another writer ({holder}) for "
                              f"more than {wait:g} s; remove it if no writer is running")
        time.sleep(LOCK_POLL)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock_path)
