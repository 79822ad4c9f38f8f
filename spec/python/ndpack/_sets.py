"""Sharded sets (FORMAT.md §12): a folder or URL prefix of shards plus one index, compatible
with Hugging Face's sharded safetensors (``model.safetensors.index.json``).

Reading checks the whole index before any shard is opened, then opens a shard the first time one
of its arrays is needed and checks it in §12.3's order: its size (FILE_CHANGED), its header length
(HEADER_TOO_LARGE over the cap, FILE_CHANGED past its end), the CRC-32 of its header
(FILE_CHANGED), its format's own checks, then its names against ``weight_map`` (SET_INVALID).
A set may have more shards than a process may open files: a reader keeps at most
``MAX_OPEN_SHARD_FILES`` shard files open, and opens a closed one again when it is read next.
Writing writes every shard under a temporary name, renames them all, then replaces the index last,
so a crash leaves the old set or the new one; new shards carry a generation tag, and the old
generation's shards are removed once the new index is in place."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import struct
import threading
import weakref
import zlib
from collections import OrderedDict
from collections.abc import Mapping
from urllib.parse import quote, urljoin, uses_netloc, uses_relative

import numpy as np

from . import reference
from ._io import (AtomicFile, FileSource, check_target, fsync_dir, io_error, is_url,
                  local_path, open_source, reopenable, shown_url, with_lock)
from ._reader import OPEN_OPTIONS, Reader, close_quietly
from ._safetensors import SafetensorsReader
from ._writer import (FOREIGN_EXTENSIONS, Place, Writer, WriterState, declared_entries,
                      not_declared, out_of_order)
from .reference import ArrayInfo, NdpackError

INDEX_SUFFIX = ".index.json"
NDPACK_INDEX_SUFFIX = ".ndp.index.json"
#: Default payload bytes per shard written (a shard holds at least one array, whatever its size):
#: 5 GB, as TypeScript's ``DEFAULT_MAX_SHARD_BYTES`` and the command line's, Hugging Face's
#: long-standing default ``max_shard_size``, below the 5 GiB that many object stores accept in one
#: upload.
DEFAULT_MAX_SHARD_SIZE = 5_000_000_000


def _invalid(message: str) -> NdpackError:
    return NdpackError("SET_INVALID", message)


SHARD_EXTENSIONS = (".ndp", ".safetensors")
#: FORMAT.md §12.2's default cap on an index's bytes (option ``max_index_bytes``).
DEFAULT_MAX_INDEX_BYTES = 100 * 1024 * 1024
SET_INDEX_VERSION = 1


#: Names Windows keeps for devices (FORMAT.md §12.1), before the first dot and the spaces before it,
#: in either ASCII case: on Windows ``CON.ndp`` is the console in any folder. ``ntpath.isreserved``
#: (Python 3.13) takes the same names.
_WINDOWS_DEVICE = re.compile(r"(?:CON(?:IN\$|OUT\$)?|PRN|AUX|NUL|(?:COM|LPT)[1-9\u00b9\u00b2\u00b3]) *(?:\.|\Z)",
                             re.IGNORECASE | re.ASCII)


def check_shard_name(name) -> str:
    """A plain file name in the index's folder on every system, ending in .ndp or .safetensors
    (FORMAT.md §12.1), or SET_INVALID."""
    if (not isinstance(name, str) or not name or name in (".", "..")
            or any(c in name for c in "/\\:") or any(ord(c) < 0x20 for c in name)):
        raise _invalid(f"unsafe shard file name {name!r}")
    if any(c in name for c in '"*<>?|') or _WINDOWS_DEVICE.match(name):
        raise _invalid(f"shard file name {name!r} is one Windows forbids or keeps for a device")
    if not any(name.endswith(ext) and len(name) > len(ext) for ext in SHARD_EXTENSIONS):
        raise _invalid(f"shard {name!r} is neither .ndp nor .safetensors")
    return name


def _index_json(raw: bytes, max_depth: int, max_header_nodes: int) -> dict:
    """The index's JSON object, parsed by FORMAT.md §2.1's rules (no repeated key, numbers outside
    ``metadata`` non-negative integers); white space may surround it. LIMIT_EXCEEDED for
    ``max_depth`` and ``max_header_nodes`` (every JSON value, the index object included, counted
    when it starts: §12.2), SET_INVALID for anything else."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as ex:
        raise _invalid(f"the index is not valid UTF-8 (byte {ex.start})") from None
    text = text.strip(" \t\n\r")
    if not text.startswith("{"):
        raise _invalid("the index is not a JSON object")
    try:
        return reference._parse_header_json(text.encode("utf-8"), max_depth, max_header_nodes)
    except NdpackError as ex:
        if ex.code == "LIMIT_EXCEEDED":
            raise
        # Any repeated key is SET_INVALID (FORMAT.md §12.3), not only weight_map's.
        twice = (" (a repeated key; one of weight_map maps an array twice: an array in two "
                 "shards)") if ex.code == "DUPLICATE_KEY" else ""
        raise _invalid(f"the index is not valid JSON: {ex.message}{twice}") from None


def shard_url(index_url: str, shard: str) -> str:
    """The URL of ``shard`` in the set whose index is at ``index_url`` (FORMAT.md §12.1): the shard
    name, every byte of its UTF-8 percent-encoded but A-Z, a-z, 0-9 and ``-_.!~*'()`` (JavaScript's
    ``encodeURIComponent``), resolved as a relative URL against the index's (RFC 3986 section 5:
    the index URL's query, fragment and last path segment are replaced).

    >>> shard_url("https://h/d/model.ndp.index.json?p=a/b", "a(1) #2.ndp")
    'https://h/d/a(1)%20%232.ndp'
    """
    relative = quote(shard, safe="-_.!~*'()")
    scheme, separator, rest = index_url.partition("://")
    if scheme.lower() in uses_relative and scheme.lower() in uses_netloc:
        return urljoin(index_url, relative)
    # urljoin resolves only the schemes it knows (http, https, file...): others (s3://, gs://,
    # fsspec's chained URLs) are resolved by the same rules as if they were http
    return scheme + separator + urljoin("http://" + rest, relative)[len("http://"):]


def _integer(value, field: str, limit: int = reference.MAX_SAFE_INTEGER) -> int:
    if type(value) is not int or not 0 <= value <= limit:
        raise _invalid(f"{field} must be an integer from 0 to {limit}, got {value!r}")
    return value


def parse_index(raw: bytes, *, max_index_bytes=DEFAULT_MAX_INDEX_BYTES,
                max_depth=reference.DEFAULT_LIMITS["max_depth"],
                max_header_nodes=reference.DEFAULT_LIMITS["max_header_nodes"],
                max_arrays=reference.DEFAULT_LIMITS["max_arrays"],
                max_name_bytes=reference.DEFAULT_LIMITS["max_name_bytes"]
                ) -> tuple[dict, dict, dict | None]:
    """(metadata, weight_map, ndpack shards or None) of an index file's bytes, checked in
    FORMAT.md §12.3's order: SET_INVALID, LIMIT_EXCEEDED, UNSUPPORTED_VERSION. The limits are
    those of ndpack files (section 7), applied to the index as §12.2 says."""
    if len(raw) > max_index_bytes:
        raise NdpackError("LIMIT_EXCEEDED", f"the set index is {len(raw)} bytes, more than "
                          f"max_index_bytes={max_index_bytes}")
    index = _index_json(raw, max_depth, max_header_nodes)
    metadata = index.get("metadata", {})
    if not isinstance(metadata, dict):
        raise _invalid("the index's metadata is not an object")
    weight_map = index.get("weight_map")
    if not isinstance(weight_map, dict):
        raise _invalid("the index has no weight_map object of array name to shard name")
    if len(weight_map) > max_arrays:
        raise NdpackError("LIMIT_EXCEEDED", f"the set index maps {len(weight_map)} arrays, more "
                          f"than max_arrays={max_arrays}")
    checked: dict[str, None] = {}  # shard names in weight_map order
    for name, shard in weight_map.items():
        if not name:
            raise _invalid("an array name of weight_map is empty")
        if len(name.encode("utf-8")) > max_name_bytes:
            raise NdpackError("LIMIT_EXCEEDED", f"array name {name[:40]!r}... is longer than "
                              f"max_name_bytes={max_name_bytes}", array=name)
        if not isinstance(shard, str):
            raise _invalid(f"weight_map[{name!r}] is not a shard file name: {shard!r}")
        if shard not in checked:
            checked[check_shard_name(shard)] = None
    if "ndpack" not in index:
        return metadata, weight_map, None
    section = index["ndpack"]
    if not isinstance(section, dict):
        raise _invalid("the index's ndpack is not an object")
    version = _integer(section.get("version"), "ndpack.version")
    if version != SET_INDEX_VERSION:
        raise NdpackError("UNSUPPORTED_VERSION", f"set index version {version} is not supported; "
                          f"this reader reads version {SET_INDEX_VERSION}")
    shards = section.get("shards")
    if not isinstance(shards, dict):
        raise _invalid("the index's ndpack.shards is not an object")
    for shard, record in shards.items():
        check_shard_name(shard)
        if not isinstance(record, dict):
            raise _invalid(f"ndpack.shards[{shard!r}] is not {{size, header_crc32}}")
        _integer(record.get("size"), f"ndpack.shards[{shard!r}].size")
        _integer(record.get("header_crc32"), f"ndpack.shards[{shard!r}].header_crc32", 0xFFFFFFFF)
    for shard in checked:
        if shard not in shards:
            raise _invalid(f"shard {shard!r} of weight_map is missing from ndpack.shards")
    for shard in shards:
        if shard not in checked:
            raise _invalid(f"shard {shard!r} is listed in ndpack.shards but holds no array "
                           "of weight_map")
    return metadata, weight_map, shards


# --------------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------------

def _read_index(location, storage_options, retries, timeout, max_index_bytes) -> bytes:
    """The index's bytes, its size checked first (FORMAT.md §12.3: an index of /dev/zero, or a
    huge one, is LIMIT_EXCEEDED before it is read). A path is opened as a shard is (a FIFO is
    INVALID_ARGUMENT, not a wait for a writer); options that do not apply to the location are
    INVALID_ARGUMENT here, not at the first read of a shard."""
    source = open_source(location, storage_options, retries=retries, timeout=timeout)
    try:
        if source.size > max_index_bytes:
            raise NdpackError("LIMIT_EXCEEDED", f"the set index is {source.size} bytes, more than "
                              f"max_index_bytes={max_index_bytes}")
        return bytes(source.read(0, source.size))
    finally:
        close_quietly(source)  # the index is read: a read-only file that fails to close lost nothing


#: Most shard files one set reader keeps open at once (TypeScript's ``MAX_OPEN_SHARD_FILES``): a
#: set may have more shards than a process may open files (1,024 by default on Linux, 256 on macOS).
MAX_OPEN_SHARD_FILES = 64


class _ShardFiles:
    """The open local shard files of one set reader, at most ``limit`` at once (TypeScript's
    ``ShardFiles``, src/node/set-open.ts). When another shard needs a handle, the least recently
    used shard with no read in flight has its descriptor closed; the next read of one of its arrays
    opens the path again, checked to be the same file (``FileSource.reopen``: an open and an fstat;
    the shard's ``Reader`` keeps its parsed header). A read waits for a handle when every one has a
    read in flight. Shards at URLs hold no descriptor of their own (each read is a request through
    fsspec's filesystem, whose session pools the connections of every file), so only local shards
    go through it. Arrays hold no file (they are read into memory of their own), so closing a
    handle between reads invalidates none; views of a memory map (``FileSource.map``) hold their
    map, and it a duplicate of the descriptor (Python's ``mmap``, before 3.13's ``trackfd``), until
    the last of them goes: a set read through maps keeps up to twice ``limit`` descriptors open
    (a shard's own and its map's), more while views of shards closed since are alive.

    Dask's threads read one set at once: one lock guards the count and every shard's state.
    Opening and closing (an open, an fstat) happen under it; the reads themselves do not."""

    def __init__(self, limit: int):
        self._limit = limit
        self._open = 0  # handles open
        # Shards open with no read in flight, the least recently used first.
        self._idle: OrderedDict[_ShardFile, None] = OrderedDict()
        self._lock = threading.Condition()

    def open(self, path: str) -> _ShardFile:
        """The shard file at ``path``, opened for the first time (IO_ERROR when it cannot be)."""
        with self._lock:
            file = _ShardFile(self, self._open_handle(lambda: FileSource(path)))
            self._idle[file] = None
            return file

    def acquire(self, file: _ShardFile) -> FileSource:
        """``file``'s open source for one read, to ``release`` after it; opened again if it was
        closed meanwhile (FILE_CHANGED if the path no longer names the same, unchanged file)."""
        with self._lock:
            file.users += 1
            self._idle.pop(file, None)  # a read in flight: no other shard may close it
            try:
                while file.current is None:
                    if file.closed:
                        raise NdpackError("CLOSED", f"{shown_url(file.location)}: the set reader is closed")
                    if file.opening:  # another read of this shard opens it: wait for that
                        self._lock.wait()
                        continue
                    file.opening = True
                    try:
                        file.current = self._open_handle(file.first.reopen)
                    finally:
                        file.opening = False
                        self._lock.notify_all()
                return file.current
            except BaseException:
                self._release(file)
                raise

    def release(self, file: _ShardFile) -> None:
        with self._lock:
            self._release(file)

    def close(self, file: _ShardFile) -> None:
        """Close ``file``'s handle now, or when its reads in flight end; it is not opened again."""
        with self._lock:
            file.closed = True
            if file.users == 0 and file.current is not None:
                self._close_handle(file)
            self._lock.notify_all()  # reads waiting to open it again: CLOSED

    def close_idle(self) -> None:
        """Close every handle with no read in flight (the set reader is gone)."""
        with self._lock:
            while self._idle:
                self._close_handle(next(iter(self._idle)))

    def _release(self, file: _ShardFile) -> None:
        file.users -= 1
        if file.users == 0 and file.current is not None:
            if file.closed:
                self._close_handle(file)
            else:
                self._idle[file] = None  # the most recently used, last
                self._lock.notify_all()  # a read waiting for a handle may take this one

    def _open_handle(self, opener) -> FileSource:
        """``opener()`` in a free slot, else in the least recently used idle shard's (its handle
        closed), else in the first freed (waiting for it)."""
        while self._open >= self._limit:
            if self._idle:
                self._close_handle(next(iter(self._idle)))
            else:
                self._lock.wait()
        self._open += 1
        try:
            while True:
                try:
                    return opener()
                except NdpackError as ex:
                    # The process is out of descriptors (other files, sockets, a lower limit
                    # than ours): this reader's idle shards give theirs back, LRU first.
                    if not self._idle or getattr(ex.__cause__, "errno", None) not in (
                            errno.EMFILE, errno.ENFILE):
                        raise
                    self._close_handle(next(iter(self._idle)))
        except BaseException:
            self._open -= 1
            self._lock.notify_all()
            raise

    def _close_handle(self, file: _ShardFile) -> None:
        self._idle.pop(file, None)
        source, file.current = file.current, None
        source.close()
        self._open -= 1
        self._lock.notify_all()


class _ShardFile:
    """One local shard file of a set: the source of its ``Reader``, whose descriptor
    ``_ShardFiles`` may close between reads and open again. ``size`` and ``identity`` are those of
    the first open."""

    #: Reads through a FileSource: arrays of their own.
    reads_into_own_memory = True

    def __init__(self, files: _ShardFiles, first: FileSource):
        self._files = files
        self.first = first  # every later open must find the same file (FileSource.reopen)
        self.current: FileSource | None = first
        self.location, self.size, self.identity = first.location, first.size, first.identity
        self.users = 0  # reads in flight
        self.opening = False  # a read is opening it again
        self.closed = False

    def read(self, offset: int, length: int):
        return self._call(FileSource.read, offset, length)

    def crc32(self, offset: int, length: int, value: int = 0) -> int:
        return self._call(FileSource.crc32, offset, length, value)

    def map(self, offset: int, length: int):
        return self._call(FileSource.map, offset, length)

    def _call(self, method, *args):
        """``method`` of the shard's file source, opened again if ``_ShardFiles`` closed it."""
        source = self._files.acquire(self)
        try:
            return method(source, *args)
        finally:
            self._files.release(self)

    def close(self) -> None:
        self._files.close(self)


def _total_size(value) -> int | None:
    """``metadata.total_size`` when it is a non-negative integer of at most 2^53-1 (``1e3`` and
    ``1000.0`` are), else None, as TypeScript's ``SetIndex.totalSize``: Hugging Face's
    ``save_torch_state_dict`` writes the caller's metadata over its own, a string ``"2400"`` too."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if type(value) is int and 0 <= value <= reference.MAX_SAFE_INTEGER else None


class SetReader(Mapping):
    """A sharded set opened by ``ndpack.open(index)``: the reader interface over every shard.

    ``metadata`` is the index's user metadata (without ``total_size``); ``total_size`` is its
    ``total_size`` when that is a non-negative integer (the arrays' decoded bytes), else None;
    ``shards`` lists the shard file names; ``shard_of(name)`` names the shard holding an array.

    Of a set in a folder, at most ``MAX_OPEN_SHARD_FILES`` shard files are open at once: the least
    recently read shard's file is closed when another shard needs one, and opened again
    (FILE_CHANGED unless it is the same file, unchanged) when it is read next. Arrays are read into
    memory of their own, each read checked against the shard's file as it was at first open
    (FILE_CHANGED). Threads may read one set reader at once."""

    def __init__(self, location, *, storage_options=None, retries=None, timeout=None,
                 raw_bits=False, max_index_bytes=DEFAULT_MAX_INDEX_BYTES, **limits):
        self.location = location if is_url(location) else os.fspath(location)
        self._reopen_location = reopenable(self.location)  # where a copy (unpickled) opens it
        self._options = dict(storage_options=storage_options, retries=retries, timeout=timeout,
                             raw_bits=raw_bits, **limits)
        self._max_index_bytes = max_index_bytes
        checked = reference._check_limits(limits, "open", (*OPEN_OPTIONS, "max_index_bytes"))
        metadata, self._weight_map, self._shard_records = parse_index(
            _read_index(self.location, storage_options, retries, timeout, max_index_bytes),
            max_index_bytes=max_index_bytes,
            **{k: checked[k] for k in ("max_depth", "max_header_nodes", "max_arrays",
                                       "max_name_bytes")})
        self.metadata = {k: v for k, v in metadata.items() if k != "total_size"}
        self.total_size = _total_size(metadata.get("total_size"))
        # Each shard's arrays, in weight_map's order: a shard's names are checked against its own
        # (a walk of the whole weight_map per shard made opening every shard quadratic).
        self._arrays_of: dict[str, list[str]] = {}
        for name, shard in self._weight_map.items():
            self._arrays_of.setdefault(shard, []).append(name)
        self.shards = list(self._arrays_of)
        self._readers: dict[str, Reader] = {}
        self._opening: dict[str, threading.Lock] = {}  # a shard is opened by one thread at once
        self._lock = threading.Lock()  # guards _readers, _opening and closed
        self._files = _ShardFiles(MAX_OPEN_SHARD_FILES)  # local shards' open files
        # The pool and its files refer to each other (a cycle, freed only by the cycle collector):
        # a reader dropped without close() gives its descriptors back when it is freed.
        weakref.finalize(self, self._files.close_idle)
        self.closed = False

    def __len__(self) -> int:
        return len(self._weight_map)

    def __iter__(self):
        return iter(self._weight_map)

    def __contains__(self, name) -> bool:
        return name in self._weight_map

    def __getitem__(self, name: str) -> np.ndarray:
        return self.read(name)

    def __repr__(self) -> str:
        return (f"<ndpack.SetReader {shown_url(self.location)!r}: {len(self)} arrays in "
                f"{len(self.shards)} shards>")

    def __reduce__(self):
        return _reopen_set, (self._reopen_location, {**self._options,
                                              "max_index_bytes": self._max_index_bytes})

    @property
    def checksum(self) -> str:
        """``"crc32"`` when every shard opened so far has CRC-32s, else ``"none"`` (before any is
        opened, or when one has none: a .safetensors shard, an ndpack one written without), as
        TypeScript's ``SetReader.checksum``."""
        with self._lock:
            readers = list(self._readers.values())
        return "crc32" if readers and all(r.checksum == "crc32" for r in readers) else "none"

    def shard_location(self, shard: str) -> str:
        if is_url(self.location):
            return shard_url(self.location, shard)
        return os.path.join(os.path.dirname(self.location), shard)

    def shard_of(self, name: str) -> str:
        try:
            return self._weight_map[name]
        except (KeyError, TypeError):
            raise reference._NotFound("NOT_FOUND", f"no array named {name!r}", array=name) \
                from None

    def shard(self, shard: str) -> Reader:
        """The reader of ``shard``, opened and checked against the index on first use (once, however
        many threads ask for it at once); CLOSED once the set reader is closed (no shard is opened
        again)."""
        with self._lock:
            self._check_open()
            reader = self._readers.get(shard)
            if reader is not None:
                return reader
            opening = self._opening.setdefault(shard, threading.Lock())
        with opening:  # one thread opens it; the others take the reader it opened
            with self._lock:
                self._check_open()
                reader = self._readers.get(shard)
            if reader is None:
                reader = self._open_shard(shard)
                with self._lock:
                    if self.closed:  # closed while it was being opened: not kept
                        reader.close()
                        self._check_open()  # CLOSED
                    self._readers[shard] = reader
        return reader

    def _check_open(self) -> None:
        if self.closed:
            raise NdpackError("CLOSED", f"{shown_url(self.location)}: the set reader is closed")

    def _open_shard(self, shard: str) -> Reader:
        location = self.shard_location(shard)
        options = dict(self._options)
        transport = {k: options.pop(k) for k in ("storage_options", "retries", "timeout")}
        reader_class = SafetensorsReader if shard.endswith(".safetensors") else Reader
        try:
            source = open_source(location, **transport, open_path=self._files.open)
        except NdpackError as ex:
            if ex.code not in ("IO_ERROR", "HTTP_ERROR", "TIMEOUT", "TRUNCATED"):
                raise
            raise NdpackError(ex.code, f"shard {shard!r} of the set cannot be opened "
                              f"({ex.message})", status=ex.status) from (ex.__cause__ or ex)
        # A shard that fails its checks has its source closed (by its reader, when opening it
        # fails), a close that raises hiding nothing.
        reader = reader_class(source, **transport, check_head=self._head_check(shard), **options)
        try:
            self._check_names(shard, reader)
        except BaseException:
            close_quietly(reader)
            raise
        return reader

    def _head_check(self, shard: str):
        """The index's checks of ``shard`` (FORMAT.md §12.3 steps 2 and 3), run on its first bytes
        ``prefix`` before its format's own checks; None when the index has no ndpack section."""
        if self._shard_records is None:
            return None
        expected = self._shard_records[shard]

        def changed(why: str) -> NdpackError:
            return NdpackError("FILE_CHANGED", f"shard {shard!r} does not match the index: {why}")

        def check(reader, prefix) -> None:
            size = reader.size
            if size != expected["size"]:
                raise changed(f"{size} bytes, the index says {expected['size']}")
            need = 8 if shard.endswith(".safetensors") else reference.PREAMBLE_SIZE
            if len(prefix) < need:
                raise changed(f"{size} bytes is too short for its header")
            if need == 8:
                (length,) = struct.unpack("<Q", bytes(prefix[:8]))
            else:
                (length,) = struct.unpack("<I", bytes(prefix[12:16]))
            cap = reader.header_cap
            if length > cap:
                raise NdpackError("HEADER_TOO_LARGE", f"shard {shard!r}: header of {length} "
                                  f"bytes > max_header_bytes={cap}")
            end = need + length
            if end > size:
                raise changed(f"its header would end at byte {end}, past its end at {size}")
            head = prefix[:end] if len(prefix) >= end else reader._read(0, end)
            if zlib.crc32(head) != expected["header_crc32"]:
                raise changed("its header's CRC-32 differs")
        return check

    def _check_names(self, shard: str, reader: Reader) -> None:
        for name in reader:
            owner = self._weight_map.get(name)
            if owner != shard:
                where = "is not in the index" if owner is None else f"is mapped to {owner!r}"
                raise _invalid(f"array {name!r} of shard {shard!r} {where}")
        for name in self._arrays_of[shard]:
            if name not in reader:
                raise _invalid(f"the index maps {name!r} to shard {shard!r}, which does not "
                               "hold it")

    def reader_of(self, name: str) -> Reader:
        return self.shard(self.shard_of(name))

    def info(self, name: str) -> ArrayInfo:
        return self.reader_of(name).info(name)

    def read(self, name: str, **options) -> np.ndarray:
        self._check_open()  # CLOSED before NOT_FOUND, as TypeScript's readers
        return self.reader_of(name).read(name, **options)

    def read_rows(self, name: str, start=None, stop=None, **options) -> np.ndarray:
        self._check_open()
        return self.reader_of(name).read_rows(name, start, stop, **options)

    def map_rows(self, name: str, start=None, stop=None) -> np.ndarray:
        self._check_open()
        return self.reader_of(name).map_rows(name, start, stop)

    def verify(self) -> list[dict]:
        """Open every shard and check every record; one report per array, plus one per shard that
        cannot be opened: ``{"shard", "name" (None for a shard), "ok", "error"}``."""
        self._check_open()
        out = []
        for shard in self.shards:
            try:
                reports = self.shard(shard).verify()
            except NdpackError as ex:
                out.append({"shard": shard, "name": None, "ok": False,
                            "error": {"code": ex.code, "message": ex.message}})
                continue
            out.extend({"shard": shard, **report} for report in reports)
        return out

    def close(self) -> None:
        """Close every shard opened (a shard's file once its reads in flight end); reading
        afterwards is CLOSED."""
        with self._lock:
            self.closed = True
            readers = list(self._readers.values())
            self._readers.clear()
        for reader in readers:
            reader.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _reopen_set(location, options):
    return SetReader(location, **options)


# --------------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------------

def set_stem(index_path: str) -> str:
    """The stem of a set's index name that the writers name shards after. An index named for
    another format's shards (``model.safetensors.index.json``: Hugging Face's, whose readers expect
    .safetensors shards) is INVALID_ARGUMENT: ndpack for Python writes .ndp shards."""
    base = os.path.basename(index_path)
    other = next((e for e in FOREIGN_EXTENSIONS if base.lower().endswith(e + INDEX_SUFFIX)), None)
    if other is not None:
        raise NdpackError("INVALID_ARGUMENT", f"{base}: ndpack writes sets of .ndp shards, whose "
                          f"index is named <stem>{NDPACK_INDEX_SUFFIX}, not <stem>{other}"
                          f"{INDEX_SUFFIX}")
    for suffix in (NDPACK_INDEX_SUFFIX, INDEX_SUFFIX):
        if base.endswith(suffix) and len(base) > len(suffix):
            stem = base[: -len(suffix)]
            # The shards' names start with the stem: one a set reader would refuse is refused here.
            try:
                check_shard_name(stem + ".ndp")
            except NdpackError:
                raise NdpackError("INVALID_ARGUMENT", f"{base}: the stem {stem!r} cannot start a shard's "
                                  "file name: it must hold no control character or any of \"*<>?|, and "
                                  "name no Windows device (CON, NUL, COM1...)") from None
            return stem
    raise NdpackError("INVALID_ARGUMENT", f"a set's index is named <stem>{NDPACK_INDEX_SUFFIX}, "
                      f"not {base!r}")


def _block(lines: list[str], indent: str) -> str:
    return "{\n" + ",\n".join(f"{indent}  {line}" for line in lines) + f"\n{indent}}}" \
        if lines else "{}"


def index_head(metadata: Mapping, weight_map: dict) -> str:
    """The index's text up to its ``ndpack`` section, laid out as the TypeScript writer lays it out
    (one array a line). ``metadata`` goes through ``save``'s writer of metadata: what ``save``
    refuses is refused here (INVALID_ARGUMENT; LIMIT_EXCEEDED nested deeper than readers' default
    ``max_depth``), an int beyond 2**53-1 is the double it equals."""
    lines = [f"{reference._json_string(name)}: {reference._json_string(shard)}"
             for name, shard in weight_map.items()]
    return (f"{{\n  \"metadata\": "
            f"{reference._json_metadata(metadata, 2, reference.DEFAULT_LIMITS['max_depth'])},\n"
            f"  \"weight_map\": {_block(lines, '  ')}")


class SetWriter:
    """Writes a sharded set: arrays declared up front as ``(name, dtype, shape)``, split in order
    into shards of at most ``max_shard_size`` payload bytes (one array per shard at least), then
    written row by row in order, as with ``Writer`` (an array of 0 bytes takes no write; it joins
    the current shard, FORMAT.md §12.4); as ``Writer`` and TypeScript's ``createSetWriter``, the
    first error aborts the writer (its shards are removed) and every later call raises it.
    ``close`` renames the shards into place and writes the index last; the previous generation's
    shards are then removed. The index's folder is created when missing. Options:
    ``metadata`` (the set's, in the index; the key ``total_size`` is the writer's), ``alignment``,
    ``byte_order``, ``checksum`` (for every shard). Rows can also be written at their place, as
    with ``Writer``: ``reserve``, ``write_rows_at``, ``complete``, then ``close``."""

    def __init__(self, index_path, arrays, *, metadata=None, max_shard_size=DEFAULT_MAX_SHARD_SIZE,
                 **file_options):
        index_path = local_path(index_path)
        if is_url(index_path):
            raise NdpackError("INVALID_ARGUMENT", "sets are written to local folders")
        self.index_path = os.path.abspath(os.fspath(index_path))
        stem = set_stem(self.index_path)
        check_target(self.index_path)  # NOT_REGULAR_FILE before any shard is written
        if metadata is not None and (not isinstance(metadata, Mapping) or "total_size" in metadata):
            raise NdpackError("INVALID_ARGUMENT", "the set's metadata is a dict without the key "
                              "total_size (the writer sets it)")
        if type(max_shard_size) is not int or max_shard_size < 1:
            raise NdpackError("INVALID_ARGUMENT", "max_shard_size must be a positive int")
        reference._check_option_names(file_options, ("metadata", "max_shard_size", "alignment",
                                                     "byte_order", "checksum"), "SetWriter")
        arrays = list(arrays)
        entries = declared_entries(arrays, file_options.get("byte_order", "little"))
        groups: list[list[int]] = []
        used = 0
        for i, e in enumerate(entries):  # FORMAT.md §12.4: an empty array joins the current shard
            nbytes = e["byteLength"]  # decoded bytes: the writer declares uncompressed arrays
            if not groups or (nbytes > 0 and used + nbytes > max_shard_size):
                groups.append([])
                used = 0
            groups[-1].append(i)
            used += nbytes
        generation = secrets.token_hex(4)
        count = len(groups)
        self._plan = [(f"{stem}-{generation}-{k + 1:05d}-of-{count:05d}.ndp",
                       [arrays[i] for i in group]) for k, group in enumerate(groups)]
        self._file_options = file_options
        self._shard_index = {arrays[i][0]: k for k, group in enumerate(groups) for i in group}
        self._weight_map = {name: self._plan[k][0] for name, k in self._shard_index.items()}
        # The index's text but for the shards' sizes and CRCs, by save's JSON writer (the same
        # refusals, INVALID_ARGUMENT, and numbers): a refusal comes before any shard is written.
        self._index_head = index_head(
            {"total_size": sum(e["byteLength"] for e in entries), **(metadata or {})},
            self._weight_map)
        self._done: list[tuple[str, Writer]] = []
        self._writer: Writer | None = None
        self._shard = -1
        self._state = WriterState("the set writer")
        # A missing folder is created, as TypeScript's set writers (SetFiles.begin) and the
        # command line create theirs: after every refusal above, before any shard is written.
        folder = os.path.dirname(self.index_path)
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as ex:
            raise io_error("create the folder", folder, ex) from ex

    def _shard_writer(self, k: int) -> Writer:
        name, declared = self._plan[k]
        return Writer(os.path.join(os.path.dirname(self.index_path), name), declared,
                      **self._file_options)

    def _next_shard(self) -> None:
        if self._writer is not None:
            self._writer.close(rename=False)
            self._done.append((self._plan[self._shard][0], self._writer))
            self._writer = None
        self._shard += 1
        if self._shard < len(self._plan):
            self._writer = self._shard_writer(self._shard)

    def reserve(self) -> list[Place]:
        """``Writer.reserve`` for every shard at once, before any ``write``: the places of every
        array, in set order; ``complete`` then completes every shard, and ``close`` puts them in
        place and writes the index, as after ``write``."""
        return self._state.run(self._reserve, self._fail)

    def _reserve(self) -> list[Place]:
        if self._shard != -1:
            raise NdpackError("INVALID_ARGUMENT", "reserve comes before any write")
        places = []
        for k, (name, _) in enumerate(self._plan):
            writer = self._shard_writer(k)
            self._done.append((name, writer))  # removed by _fail from now on
            places += writer.reserve()
        self._shard = len(self._plan)
        return places

    def complete(self, parts) -> None:
        """``Writer.complete`` for every shard (``parts`` by array name, as there)."""
        def complete() -> None:
            for _, writer in self._done:
                writer.complete(parts)
        self._state.run(complete, self._fail)

    def write(self, name: str, rows) -> None:
        """Append ``rows`` to array ``name``, as ``Writer.write``: an error aborts the writer (every
        shard written is removed) and is raised again by every later ``write`` and ``close``."""
        self._state.run(lambda: self._write(name, rows), self._fail)

    def _fail(self, error: BaseException) -> None:
        """Abort the writer with ``error`` (see ``WriterState``): remove every temporary shard."""
        self._state.fail(error)
        if self._writer is not None:
            self._writer.abort()
        for _, writer in self._done:
            writer.abort()

    def _write(self, name: str, rows) -> None:
        target = self._shard_index.get(name)
        if target is None:
            raise not_declared(name)
        if target < self._shard:
            if reference._as_array(name, rows).size == 0:
                return  # no bytes for an array of a shard already written: nothing to write
            raise NdpackError("WRITE_SIZE", f"array {name!r} written after the arrays "
                              "declared after it (arrays are written in declared order)",
                              array=name)
        while self._shard < target:
            if self._writer is not None and self._writer.pending is not None:
                raise out_of_order(name, self._writer.pending)
            self._next_shard()
        self._writer.write(name, rows)

    def close(self) -> None:
        """Finish every shard (WRITE_SIZE if one is incomplete), rename them into place, write
        the index, then remove the previous generation's shards. That last step runs holding the
        index's lock (``<index>.lock``, ``with_lock``): two writers of one set take turns, so that
        each removes the shards of the index it replaces, the other's included (at once, both
        would remove the old set's and keep their own, named by no index). Until the new index is
        in place a failure (IO_ERROR) removes every shard written; the old set stays as it was."""
        if self._state.failure is not None:
            raise self._state.failure
        if self._state.closed:
            return
        try:
            while self._shard < len(self._plan):
                self._next_shard()
            for _, writer in self._done:  # after reserve: WRITE_SIZE until complete
                writer.close(rename=False)
        except BaseException as ex:
            self._fail(ex)
            raise
        folder = os.path.dirname(self.index_path)
        renamed = []  # shards in place, which no index names until the new one is
        try:
            for name, writer in self._done:
                writer.rename_into_place()
                renamed.append(name)
            fsync_dir(folder)
            shards = [f"{reference._json_string(name)}: {{\"size\":{writer.size},"
                      f"\"header_crc32\":{writer.header_crc32}}}" for name, writer in self._done]
            text = (f"{self._index_head},\n  \"ndpack\": {{\n    \"version\": "
                    f"{SET_INDEX_VERSION},\n    \"shards\": {_block(shards, '    ')}\n  }}\n}}\n")
            with with_lock(self.index_path):
                old_shards = self._current_shards()
                with AtomicFile(self.index_path) as out:
                    out.write(text.encode("utf-8"))
                    out.commit()
                renamed = []  # named by the index now: kept, whatever happens next
                for shard in old_shards - set(self._weight_map.values()):
                    with contextlib.suppress(OSError):
                        os.unlink(os.path.join(folder, shard))
        except BaseException as ex:
            self._fail(ex)  # removes the shards not renamed yet
            for name in renamed:
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(folder, name))
            raise
        self._state.closed = True

    def _current_shards(self) -> set[str]:
        """The shards of the index being replaced (none when there is none, or it is unreadable)."""
        try:
            with open(self.index_path, "rb") as fh:
                return set(parse_index(fh.read())[1].values())
        except (OSError, NdpackError):
            return set()

    def abort(self) -> None:
        """Give up: remove every temporary shard; the existing set is untouched. Later calls are
        CLOSED."""
        self._fail(NdpackError("CLOSED", "the set writer was aborted"))

    def __enter__(self):
        return self

    def __exit__(self, kind, *exc):
        if kind is None:
            self.close()
        else:
            self.abort()


def save_set(index_path, arrays, *, metadata=None, max_shard_size=DEFAULT_MAX_SHARD_SIZE,
             **file_options) -> None:
    """Write ``arrays`` (a dict, or ``(name, array)`` pairs) as a sharded set (see SetWriter).
    The index's folder is created when missing, as TypeScript's ``saveSet`` (which takes the
    folder and a ``stem``) creates it; the files written are the same bytes (the generation in the
    shards' names aside). There is no ``codec`` option: shards are stored uncompressed."""
    # np.asarray, not np.ascontiguousarray: that one makes a 0-d array 1-d
    pairs = [(name, reference._as_array(name, a, order="C"))
             for name, a in reference._pairs(arrays)]
    # The dtype of data, not of a declaration: INVALID_ARGUMENT, as save says it.
    declared = [(name, reference._ndpack_dtype(a.dtype, name), a.shape) for name, a in pairs]
    with SetWriter(index_path, declared, metadata=metadata, max_shard_size=max_shard_size,
                   **file_options) as writer:
        for name, a in pairs:
            if a.nbytes:  # an array of 0 bytes is complete as declared: it takes no write
                writer.write(name, a)


