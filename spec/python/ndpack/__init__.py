"""ndpack: named n-dimensional arrays in one self-describing binary file (FORMAT.md).

>>> import ndpack, numpy as np
>>> ndpack.save("weights.ndp", {"w": np.ones((4, 3), "f4")}, metadata={"step": 1})
>>> f = ndpack.load("weights.ndp")           # memory-mapped: f["w"] is a view of the file
>>> with ndpack.open("https://host/weights.ndp") as r:   # or a path, or a set's index
...     r.keys(), r.metadata, r.info("w")
...     w = r.read("w")                          # one ranged read; CRC-32 checked
...     rows = r.read_rows("w", 0, 2)            # only those rows' bytes

- ``save(path, arrays, metadata=..., **options)`` writes atomically (temporary file, fsync,
  rename, folder fsync: a failure, a full disk say, is IO_ERROR and leaves no temporary file),
  keeping a replaced file's permission bits; a symbolic link at the path is
  NOT_REGULAR_FILE unless ``follow_symlinks=True``. Options and the bytes written are the
  reference's (``ndpack.reference``).
- ``load(path, **options)`` memory-maps the file and validates its header (FORMAT.md section 9,
  steps 1 to 21); it returns a dict-like ``NdpackFile`` whose arrays are zero-copy views of the map.
  ``verify=True`` checks every CRC-32 first; ``f.read(name, verify=True)`` checks one. No CRC-32
  is checked otherwise, and the views are np.memmap's: a file rewritten in place after ``load``
  shows its new bytes, unchecked, and one truncated kills the process (SIGBUS) when a view of the
  lost bytes is read; ``open``'s reads are checked (CRC-32, FILE_CHANGED).
- ``open(path_or_url)`` returns a lazy ``Reader`` (an ``NpyReader``, ``NpzReader`` or
  ``SafetensorsReader`` for a .npy, .npz or .safetensors file, a ``SetReader`` for
  ``*.index.json``): the header is read once, each array when asked for, into memory of its own
  (a local file with positioned reads, each checked against the file as it was opened: FILE_CHANGED). URLs go
  through fsspec (``pip install 'ndpack[remote]'``): HTTP Range requests, or any fsspec
  filesystem (``s3://`` with s3fs); ``storage_options`` are passed to it. ``http(s)://`` reads retry transient failures (5xx, 408,
  429, a connection refused or reset, a body cut short, TIMEOUT) ``retries`` times (default 3), each
  request within ``timeout`` seconds (default 30, body included).
- ``dumps(arrays, **options) -> bytes`` and ``loads(buffer, **options)`` for bytes.
- ``Writer``/``SetWriter`` stream arrays declared up front, or write their rows at their place
  from many threads or processes (``reserve``, ``write_rows_at``, ``complete``); ``save_set``
  writes a sharded set.
- ``MessageWriter(sock).send(arrays, ...)`` and ``read_messages(sock)``: many messages over one
  socket or binary file (FORMAT.md section 11, message streams), each message an ``NdpackFile``.
- ``ndpack.dask`` (``pip install 'ndpack[dask]'``): ``from_ndpack`` and ``to_ndpack``.

Errors are ``NdpackError`` with a stable ``code`` (``ERROR_CODES``). Hand-off to torch is zero-copy:
``torch.from_numpy(f["w"])`` shares the map's memory (read-only views: torch warns that it will not
copy-on-write; ``copy=True`` gives writable arrays)."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from . import reference
from ._formats import format_reader, open_file
from ._io import io_error, is_url, local_path
from ._messages import MessageReader, MessageWriter, read_messages
from ._npy import NpyReader
from ._npz import NpzReader
from ._reader import Reader
from ._safetensors import SafetensorsReader
from ._sets import INDEX_SUFFIX, SetReader, SetWriter, save_set
from ._writer import Writer, save_atomic, write_rows_at
from .reference import (
    DEFAULT_LIMITS,
    DTYPES,
    VERSION,
    ArrayInfo,
    NdpackError,
    NdpackFile,
    dumps,
    loads,
)

#: Every ``NdpackError.code``: the reference's (FORMAT.md section 9 and API misuse), then those of
#: files on disk or a network, streaming writers and sets.
ERROR_CODES = reference.ERROR_CODES + (
    "IO_ERROR", "HTTP_ERROR", "RANGE_NOT_SUPPORTED", "TIMEOUT", "FILE_CHANGED", "WRITE_SIZE",
    "SET_INVALID", "NOT_REGULAR_FILE",
)

__all__ = [
    "save", "load", "open", "dumps", "loads", "verify", "save_set",
    "read_messages", "Reader", "NpyReader", "NpzReader", "SafetensorsReader", "SetReader", "Writer",
    "SetWriter", "write_rows_at", "MessageReader", "MessageWriter", "NdpackFile", "ArrayInfo", "NdpackError",
    "ERROR_CODES", "DTYPES", "DEFAULT_LIMITS", "VERSION", "reference",
]


def save(file, arrays, *, follow_symlinks=False, **options) -> None:
    """Write ``arrays`` (a dict, or ``(name, array)`` pairs) to ``file``: a path, replaced
    atomically, or a writable binary file object. Options: ``metadata``, ``alignment``,
    ``byte_order``, ``checksum``, ``codec``, ``compression_level``, ``order`` (see
    ``ndpack.reference``). A path must name a regular file (whose permission bits the new file
    keeps) or nothing: a symbolic link is NOT_REGULAR_FILE unless ``follow_symlinks=True``, which
    replaces the file it points to; a directory, device, FIFO or socket always is."""
    if hasattr(file, "write"):
        reference.save(file, arrays, **options)
        return
    chunks = reference._encode(arrays, **options)
    save_atomic(file, chunks, follow_symlinks=follow_symlinks)


def load(source, **options) -> NdpackFile:
    """A memory-mapped ``NdpackFile`` for a path (or the file of a buffer, as ``loads``). Options:
    ``verify`` (default False: CRC-32s are checked only when asked, as ``decode`` in TypeScript;
    the arrays are views of the map, which show a file changed later, as np.memmap's do), ``copy``,
    ``raw_bits`` and the limits of ``ndpack.reference``. A path that cannot
    be opened is IO_ERROR (the OSError is its ``__cause__``), as for ``open``."""
    source = local_path(source)
    if is_url(source):
        raise NdpackError("INVALID_ARGUMENT", "load reads local files; ndpack.open reads URLs")
    if isinstance(source, (str, os.PathLike)):
        try:
            return reference.load(source, mmap=True, **options)
        except OSError as ex:  # a missing or unreadable path: IO_ERROR, as TypeScript's
            raise io_error("read", source, ex) from ex
    return reference.loads(source, **options)


def verify(source, **limits) -> dict:
    """A report of a file's structure and of every array's CRC-32, never raising for bad bytes:
    ``{"ok", "error" (None, or the {"code", "message"} that stopped the check), "checksum",
    "arrays"}``. ``checksum`` is ``"none"`` when no CRC-32 covers the values (a .npy or
    .safetensors file, an ndpack file written without checksums, a set with such a shard): its
    arrays are then "ok" on their structure alone; None when the structure failed. An
    ndpack file (a path or a buffer) is checked by ``reference.verify``; a URL, a set's index and a
    file of another format (told as ``open`` tells them) by ``open``'s reader's ``verify``: a set's
    every shard against the index and every record, a .npz file's structure and every member's
    CRC-32, a .npy or .safetensors file's structure (they have no CRC-32s).
    A path that cannot be read is IO_ERROR, the OSError as its cause."""
    source = local_path(source)
    if isinstance(source, (str, os.PathLike)) and _read_by_its_reader(source):
        try:
            reader = open(source, **limits)
        except NdpackError as ex:
            if ex.code in ("INVALID_ARGUMENT", "IO_ERROR"):  # not the file's bytes: the caller's
                raise
            return {"ok": False, "error": {"code": ex.code, "message": ex.message},
                    "checksum": None, "arrays": []}
        with reader:
            arrays = reader.verify()
            checksum = reader.checksum  # a set's: known once verify has opened its shards
        return {"ok": all(a["ok"] for a in arrays), "error": None, "checksum": checksum,
                "arrays": arrays}
    try:
        return reference.verify(source, **limits)
    except OSError as ex:
        raise io_error("read", source, ex) from ex


def _read_by_its_reader(location) -> bool:
    """Whether ``verify`` checks ``location`` with ``open``'s reader: a URL, a set's index, or a
    file whose format, told as ``open`` tells it, is not ndpack (``open`` then reports what it is)."""
    name = os.fsdecode(os.fspath(location))
    if is_url(name) or name.endswith(INDEX_SUFFIX):
        return True
    try:
        with reference._open_regular_file(name) as fh:
            head = fh.read(9)
            size = os.fstat(fh.fileno()).st_size
    except OSError:
        return False  # reference.verify reports it
    try:
        return format_reader(name, head, size) is not Reader
    except NdpackError:
        return True


def open(location, *, storage_options=None, retries=None, timeout=None,  # noqa: A001
         raw_bits=False, **limits):
    """A lazy reader of a path or URL: a ``SetReader`` when it names a set's index
    (``*.index.json``), else a reader of the file's format, told from its first bytes, then from
    its extension: a ``Reader`` of an ndpack file, an ``NpyReader`` of a .npy file (one array,
    ``array``), an ``NpzReader`` of a .npz file (an array per ``.npy`` member, its CRC-32 checked;
    ``metadata`` and the dtypes of bfloat16 and float8 members from ``__ndpack__.json``, as
    TypeScript's ``toNpz`` writes it), or a ``SafetensorsReader`` of a .safetensors file (its
    ``metadata`` is ``__metadata__``); .npy and .safetensors files have no CRC-32s, so ``verify``
    finds nothing to check. All are read-only mappings (``keys()``, ``reader[name]``) with
    ``metadata``, ``info(name)``, ``read(name, verify=True, copy=None)``,
    ``read_rows(name, start, stop)`` (``map_rows``: the same rows of a local file as read-only
    views of a memory map, see ``ndpack.dask``'s ``mmap``), ``verify()`` and ``close()``, and are
    context managers.
    ``storage_options`` go to fsspec for URLs; ``raw_bits`` and the limits are ``load``'s (for a
    .safetensors file, those its header can exceed, as in TypeScript: ``max_header_bytes``, by
    default the safetensors loader's 100,000,000, ``max_depth``, ``max_header_nodes`` and
    ``max_dims``; for a .npy file, ``max_header_bytes`` (by default numpy's 10,000) and
    ``max_dims``; for a .npz file, those and ``max_arrays`` (its members) and
    ``max_decoded_bytes`` (a deflated member inflated); ``max_name_bytes`` applies to none of
    them). ``void_dtype`` (an ndpack dtype name; for a .npz file, or a dict of them by array name)
    is the dtype of a .npy file's or a .npz member's void descr (``'<V2'``: numpy's way of
    storing ml_dtypes arrays), as TypeScript's ``voidDtype``; other formats ignore it.
    ``retries`` (default 3) and ``timeout`` (seconds, default 30.0) are those of ``http(s)://``
    reads (INVALID_ARGUMENT for other locations): a request that fails for a transient reason (HTTP
    5xx, 408, 429, IO_ERROR, TRUNCATED, TIMEOUT) is sent again up to ``retries`` times, after
    0.1 s, 0.2 s, 0.4 s... (with jitter); one that has no complete answer (body included) within
    ``timeout`` is TIMEOUT. The error after the last retry is the last failure's. Anything but a
    path (``str``, ``bytes``, ``os.PathLike``) or URL is INVALID_ARGUMENT (bytes of a file:
    ``loads``)."""
    try:
        name = location if isinstance(location, str) else os.fsdecode(os.fspath(location))
    except TypeError:
        raise NdpackError("INVALID_ARGUMENT", "ndpack.open takes a path or URL, got "
                          f"{type(location).__name__} (ndpack.loads reads bytes)") from None
    if isinstance(location, bytes):
        location = name
    location = name = local_path(name) if is_url(name) else name
    options = dict(storage_options=storage_options, retries=retries, timeout=timeout,
                   raw_bits=raw_bits, **limits)
    # A URL's query and fragment (a presigned URL's signature) are not part of its file name.
    if (urlsplit(name).path if is_url(name) else name).endswith(INDEX_SUFFIX):
        return SetReader(location, **options)
    return open_file(location, **options)
