"""``ndpack.open``: a lazy reader that fetches the header, then one record per ``read``.

The checks are the reference's (FORMAT.md section 9): steps 1 to 21 on the header when the file is
opened, step 22 (CRC-32 and padding) on each record read with ``verify=True`` (the default)."""

from __future__ import annotations

import struct
import threading
from collections.abc import Mapping

import numpy as np

from . import reference
from ._crc32 import crc32
from ._io import CRC_PIECE, reopenable, shown_url
from .reference import ArrayInfo, NdpackError

#: Verifying reads a record in pieces of at most this many bytes.
VERIFY_PIECE = 16 << 20
#: The options of ``ndpack.open`` besides the limits.
OPEN_OPTIONS = ("storage_options", "retries", "timeout", "raw_bits")
#: Those of ``ndpack.open`` of one file: ``void_dtype`` too (.npy and .npz files; a set's shards
#: have no void dtypes).
FILE_OPEN_OPTIONS = (*OPEN_OPTIONS, "void_dtype")
#: Bytes fetched by the first request: the preamble and, for most files, the whole header and
#: its padding, so that opening a remote file is one round trip.
FIRST_READ = 65536
#: A whole array's read shorter than ``SEQUENTIAL_READ`` that follows one as short (starting at
#: most that many bytes after its end) is served from one read of ``READ_AHEAD`` bytes, as
#: TypeScript's reader does: reading every array of a file of small arrays in order made a request
#: per array of a URL. The first short read of a run, one array, arrays far apart, the header's
#: reads and those of rows and CRC-32 pieces (which Dask runs in many threads at once) read only
#: their bytes; bytes served are copies.
SEQUENTIAL_READ = 64 * 1024
READ_AHEAD = 256 * 1024


def source_size(source) -> int:
    """The ``size`` of ``source``, read once (a property may answer differently later: the size at
    open holds), or INVALID_ARGUMENT when ``source`` is not a source: an object with a non-negative
    integer ``size`` and a ``read(offset, length)`` method (TypeScript's ``checkSource``)."""
    size = getattr(source, "size", None)
    if (not callable(getattr(source, "read", None)) or isinstance(size, bool)
            or not isinstance(size, (int, np.integer)) or size < 0):
        raise NdpackError("INVALID_ARGUMENT", "source must have a non-negative integer size and a "
                          "read(offset, length) method giving bytes (ndpack.open takes a path or "
                          f"URL), got {type(source).__name__}")
    return int(size)


def close_quietly(closeable) -> None:
    """``closeable.close()``, if it has one, its failure ignored: a source that fails to close must
    not hide why opening failed (TypeScript's ``openSource``)."""
    close = getattr(closeable, "close", None)
    if close is None:
        return
    try:
        close()
    except Exception:  # noqa: BLE001 (the reason the caller is failing is the one to report)
        pass


def read_exactly(source, offset: int, length: int, size: int, location=None):
    """Bytes ``[offset, offset + length)`` of ``source``, exactly ``length`` of them
    (TypeScript's ``readExactly``): a source that gives fewer (one that shrank since it was
    opened) or more is FILE_CHANGED, never a shorter array; one that gives no bytes-like object
    INVALID_ARGUMENT."""
    data = source.read(offset, length)
    try:
        with memoryview(data) as view:
            got = view.nbytes
    except TypeError:
        raise NdpackError("INVALID_ARGUMENT", f"{shown_url(location)}: the source's read({offset}, "
                          f"{length}) gave {type(data).__name__}, not bytes") from None
    if got != max(length, 0):
        raise NdpackError("FILE_CHANGED", f"{shown_url(location)}: the source gave {got} bytes at offset "
                          f"{offset} where {length} were asked for within its {size} bytes: it "
                          "changed since it was opened")
    return data


def check_verify(verify) -> bool:
    """``verify``, which must be True or False: INVALID_ARGUMENT for anything else (``verify=0``
    or None must not quietly skip the checks; TypeScript's ``booleanOption``)."""
    return reference.check_flag(verify, "verify")


def check_mmap(mmap, reader=None) -> bool:
    """``mmap`` (``from_ndpack``'s, the xarray backend's), which must be True or False, and when
    True, that ``reader`` (when given) reads a local file, the only kind that can be memory-mapped:
    INVALID_ARGUMENT otherwise, when the graph or dataset is built rather than in its first task."""
    reference.check_flag(mmap, "mmap")
    if mmap and reader is not None and not hasattr(reader._source, "map"):
        raise NdpackError("INVALID_ARGUMENT", f"mmap=True: {shown_url(reader.location)} is not a "
                          "local file (only a local file can be memory-mapped)")
    return mmap


def check_file_length(size: int, end: int, what: str, array: str | None = None) -> None:
    """TRUNCATED or TRAILING_BYTES unless a file of ``size`` bytes ends where its header says,
    at ``end`` (.npy and .safetensors files, and .npz members: their arrays fill them to the end).
    ``what`` names the file in the message, ``array`` the array in the error, if any."""
    if size < end:
        raise NdpackError("TRUNCATED", f"{what} is {size} bytes, but its header describes {end}",
                          array=array)
    if size > end:
        raise NdpackError("TRAILING_BYTES", f"{what} is {size} bytes, {size - end} more than its "
                          "header describes", array=array)


def header_end(prefix, size: int, max_header_bytes: int) -> int:
    """Where the header ends according to the preamble in ``prefix`` (20 + header length), or
    ``len(prefix)`` when the preamble is not usable (the format code then reports why)."""
    if len(prefix) < reference.PREAMBLE_SIZE or bytes(prefix[:8]) != reference.MAGIC:
        return len(prefix)
    (length,) = struct.unpack("<I", bytes(prefix[12:16]))
    if length > max_header_bytes:
        return len(prefix)
    return min(size, reference.PREAMBLE_SIZE + length)


def _rows_in_place(e: ArrayInfo) -> bool:
    """Whether rows of ``e`` are a range of its stored bytes: uncompressed, in C order or of one
    dimension."""
    return e.codec == "none" and (e.order == "C" or len(e.shape) < 2)


def _rows_part(e: ArrayInfo, start: int, stop: int) -> ArrayInfo:
    """The entry of rows ``[start, stop)`` of ``e`` (``_rows_in_place``), as if an array itself."""
    row_bytes = e.nbytes // e.shape[0] if e.shape[0] else 0
    return e._replace(shape=(stop - start,) + tuple(e.shape[1:]),
                      nbytes=(stop - start) * row_bytes, byte_length=(stop - start) * row_bytes,
                      start=e.start + start * row_bytes)


class Reader(Mapping):
    """A lazily read ndpack file (see ``ndpack.open``): a read-only mapping from array names, in file
    order, to arrays, reading each array when it is asked for.

    Attributes: ``location``, ``metadata``, ``header``, ``version``, ``alignment``, ``checksum``,
    ``size`` and ``header_end`` (20 + the header's length: a set's index keeps the CRC-32 of the
    bytes before it).

    ``source`` is what ``ndpack.open`` opened (a local file, an fsspec or HTTP file), or any object
    with ``size`` and ``read(offset, length)`` giving bytes, and optionally ``location``,
    ``close()`` and ``crc32(offset, length, value)`` (the CRC-32 of a range continued from
    ``value``, for a source that computes it more cheaply than by reading the bytes out, as a
    local file's does) (INVALID_ARGUMENT otherwise). Its size at open holds: every read must give exactly
    the bytes asked for, or the source changed since it was opened (FILE_CHANGED), never a shorter
    array. Opening that fails closes the source (a close that raises hides nothing); ``close``
    closes it once, however many times it is called. ``first_bytes``, when given, are the source's
    first ``min(size, FIRST_READ)`` bytes, already read (``ndpack.open`` chose the format by them).
    ``void_dtype`` is for the readers of .npy and .npz files, whose void members it names (as
    TypeScript's ``voidDtype``, ignored by the readers of other formats)."""

    def __init__(self, source, *, raw_bits: bool = False, storage_options=None, retries=None,
                 timeout=None, check_head=None, first_bytes=None, void_dtype=None, **limits):
        size = source_size(source)  # before anything else: not a source, nothing to close
        self._source = source
        self.location = getattr(source, "location", None)
        self.size = size
        self.closed = False
        self._close_lock = threading.Lock()
        #: Where the last short read of a whole array ended (-1: none).
        self._short_read_end = -1
        #: The last read ahead: (offset, uint8 array), or None; made and looked at under the lock,
        #: so that threads reading arrays in order at once share it instead of each making one.
        self._ahead = None
        self._ahead_lock = threading.Lock()
        try:
            #: The location and the options that open it again (in a Dask worker): ``open_file``'s.
            self._open_args = (reopenable(self.location),
                               dict(storage_options=storage_options, retries=retries,
                                    timeout=timeout, raw_bits=raw_bits, void_dtype=void_dtype,
                                    **limits))
            self._limits = reference._check_limits(limits, "open", FILE_OPEN_OPTIONS)
            if self.default_max_header_bytes is not None and "max_header_bytes" not in limits:
                self._limits["max_header_bytes"] = self.default_max_header_bytes
            self._raw_bits = reference.check_flag(raw_bits, "raw_bits")
            self._void_dtype = void_dtype
            if first_bytes is None:
                first_bytes = self._read(0, min(size, FIRST_READ))
            self._read_header(first_bytes, check_head)
        except BaseException:
            close_quietly(source)
            raise

    def _read(self, offset: int, length: int):
        """Bytes ``[offset, offset + length)`` of the source (``read_exactly``)."""
        return read_exactly(self._source, offset, length, self.size, self.location)

    def _read_array(self, offset: int, length: int):
        """``_read`` of a whole array's stored bytes: from the bytes read ahead when this short
        read follows one as short (``SEQUENTIAL_READ``). Threads reading arrays in order at once
        wait for the one read ahead that holds theirs; other reads run as they come."""
        if not 0 < length < SEQUENTIAL_READ:
            self._short_read_end = -1
            return self._read(offset, length)
        with self._ahead_lock:
            follows = 0 <= self._short_read_end <= offset <= self._short_read_end + SEQUENTIAL_READ
            self._short_read_end = offset + length
            ahead = self._ahead
            if ahead is None or not ahead[0] <= offset <= offset + length <= ahead[0] + len(ahead[1]):
                if not follows:
                    ahead = None
                else:
                    data = self._read(offset, min(READ_AHEAD, self.size - offset))
                    ahead = self._ahead = (offset, np.frombuffer(data, np.uint8))
        if ahead is None:
            return self._read(offset, length)
        return ahead[1][offset - ahead[0] : offset - ahead[0] + length].copy()

    #: File name extensions of the format, lower case (TypeScript's format table).
    extensions = (".ndp", ".ndpack")
    #: ``max_header_bytes`` when not given: None for the reference's (another format's reader
    #: gives its own library's).
    default_max_header_bytes: int | None = None

    @staticmethod
    def sniff(first_bytes, size: int) -> bool:
        """Whether a file of ``size`` bytes beginning with ``first_bytes`` is an ndpack file."""
        return bytes(first_bytes[:8]) == reference.MAGIC

    def _read_header(self, prefix, check_head) -> None:
        """Section 9 steps 1 to 21, from the first bytes of the file (``prefix``: its first
        ``FIRST_READ`` bytes, or all of a shorter file)."""
        size = self.size
        if check_head is not None:  # a set's checks of its shard (FORMAT.md §12.3), first
            check_head(self, prefix)
        self.header_end = header_end(prefix, size, self._limits["max_header_bytes"])
        if self.header_end > len(prefix):
            prefix = self._read(0, self.header_end)
        h, minor, entries, data_start, _ = reference._parse(prefix, self._limits, size=size)
        if data_start > len(prefix):  # a header longer than FIRST_READ: its padding too
            prefix = self._read(0, data_start)
            h, minor, entries, data_start, _ = reference._parse(prefix, self._limits, size=size)
        self._header = h
        self.version = (1, minor)
        self.metadata = h["metadata"]
        self.alignment = h["alignment"]
        self.checksum = h["checksum"]
        self.data_end = data_start + h["dataLength"]
        self._entries = entries
        self._index = entries.positions

    @property
    def header(self) -> dict:
        """The parsed header object."""
        return reference.header_object(self._header, self._entries)

    @property
    def header_cap(self) -> int:
        """The longest header read: ``max_header_bytes`` (a set checks its shards' against it)."""
        return self._limits["max_header_bytes"]

    # Mapping interface: names in file order; reader[name] is read(name)
    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self):
        return iter(self._index)

    def __contains__(self, name) -> bool:
        return name in self._index

    def __getitem__(self, name: str) -> np.ndarray:
        return self.read(name)

    def __repr__(self) -> str:
        return (f"<ndpack.{type(self).__name__} {shown_url(self.location)!r}: {len(self)} arrays, "
                f"{self.size} bytes>")

    def __reduce__(self):  # a reader travels (to Dask workers) as the arguments that open it
        from ._formats import reopen_file  # (that module builds on this one)
        location, options = self._open_args
        return reopen_file, (location, options, type(self))

    def info(self, name: str) -> ArrayInfo:
        """The validated header entry of ``name``; no payload is read."""
        try:
            return self._entries[self._index[name]]
        except (KeyError, TypeError):
            raise reference._NotFound("NOT_FOUND", f"no array named {name!r}", array=name) \
                from None

    def _check_open(self) -> None:
        if self.closed:
            raise NdpackError("CLOSED", f"{shown_url(self.location)}: the reader is closed")

    def _record_end(self, e: ArrayInfo) -> int:
        i = self._index[e.name]
        return self._entries[i + 1].start if i + 1 < len(self._entries) else self.data_end

    def _array(self, e: ArrayInfo, stored, copy, owned: bool | None = None) -> np.ndarray:
        # A local file's read is a uint8 array of its own (FileSource.read), which copy=True keeps;
        # any other source's bytes may be a view of its memory, copied. ``owned``: the caller
        # knows (bytes it inflated are its own).
        if owned is None:
            owned = getattr(self._source, "reads_into_own_memory", False)
        return reference.array_of(e, stored, copy=copy, raw_bits=self._raw_bits,
                                  max_decoded_bytes=self._limits["max_decoded_bytes"], owned=owned)

    def read(self, name: str, *, verify: bool = True, copy=None) -> np.ndarray:
        """The array ``name``, in one ranged read of its record. ``verify`` (default) checks its
        CRC-32 and the padding after it first (CHECKSUM, BAD_PADDING). The result is in memory of
        its own, never a view of the file: a file changed since it was opened is FILE_CHANGED."""
        self._check_open()  # CLOSED before NOT_FOUND, as TypeScript's readers
        e = self.info(name)
        if check_verify(verify):
            record = self._read_array(e.start, self._record_end(e) - e.start)
            reference.check_record(e, self.checksum, record)
            stored = record[: e.byte_length]
        else:
            stored = self._read_array(e.start, e.byte_length)
        return self._array(e, stored, copy)

    def read_rows(self, name: str, start=None, stop=None, *, verify: bool | None = None,
                  copy=None) -> np.ndarray:
        """``read(name)[start:stop]``, reading only those rows (one ranged read) when the array is
        stored uncompressed in C order (or has one dimension). A part of a record cannot be checked
        against the record's CRC-32, so by default rows that are only part of the array are NOT
        verified: ``verify=True`` reads the array whole to check it (as zarr reads a whole chunk),
        or check the array once with ``verify()`` or ``read``, as ``ndpack.dask.from_ndpack`` does.
        All of its rows, and a compressed or F-order array (read whole, then sliced), are read as
        ``read`` reads them, verified unless ``verify=False``: errors are ``read``'s.

        TypeScript's ``readRows`` gives the same rows, with two differences of its language:
        ``start`` and ``stop`` here are a slice's (None, negative from the end, clipped to the
        rows), where ``readRows`` takes integers ``0 <= start <= end <= rows`` and refuses others
        (INVALID_ARGUMENT); and the rows of an F-order array are numpy's view of the array read
        whole (strided, holding it), where ``readRows``, whose arrays have no strides, gathers them
        into memory of their own in F order. A 0-d array is INVALID_ARGUMENT in both."""
        e, start, stop = self._rows(name, start, stop, "read_rows")
        asked = verify is not None and check_verify(verify)
        rows = e.shape[0]
        if (start, stop) == (0, rows) != (0, 0) or asked or not _rows_in_place(e):
            return self.read(name, verify=verify is not False, copy=copy)[start:stop]
        part = _rows_part(e, start, stop)
        return self._array(part, self._read(part.start, part.byte_length), copy)

    def map_rows(self, name: str, start=None, stop=None) -> np.ndarray:
        """``read_rows(name, start, stop, verify=False)`` as a read-only view of a memory map of the
        file, no copy (as ``np.load(mmap_mode="r")``), for ``ndpack.dask``'s ``mmap=True``. Only a
        local file's (INVALID_ARGUMENT for a URL or a source of the caller's) uncompressed arrays
        stored in C order or of one dimension (INVALID_ARGUMENT otherwise). Not verified, as no
        part of an array is: ``payload_crc32(..., mapped=True)`` checks the same memory. The price
        of a map (``FileSource``): a file truncated while a view is in use kills the process
        (SIGBUS), one rewritten in place shows its new bytes; FILE_CHANGED is checked at the call
        only."""
        e, start, stop = self._rows(name, start, stop, "map_rows")
        if not _rows_in_place(e):
            raise NdpackError("INVALID_ARGUMENT", f"map_rows of {name!r}: only an uncompressed "
                              "array stored in C order (or of one dimension) can be mapped; read "
                              "it with read_rows", array=name)
        part = _rows_part(e, start, stop)
        return self._array(part, self._map(part.start, part.byte_length), None, owned=False)

    def _rows(self, name: str, start, stop, caller: str) -> tuple:
        """``name``'s entry and the rows ``[start, stop)`` of a slice's bounds (INVALID_ARGUMENT
        for a 0-d array or bounds other than ints and None)."""
        self._check_open()  # CLOSED before NOT_FOUND, as TypeScript's readers
        e = self.info(name)
        if not e.shape:
            raise NdpackError("INVALID_ARGUMENT", f"array {name!r} has no rows (0 dimensions)",
                              array=name)
        for bound in (start, stop):
            if bound is not None and (isinstance(bound, bool)
                                      or not isinstance(bound, (int, np.integer))):
                raise NdpackError("INVALID_ARGUMENT", f"{caller} of {name!r}: start and stop "
                                  f"are row numbers (int or None), got {bound!r}", array=name)
        start, stop, _ = slice(start, stop).indices(e.shape[0])
        return e, start, max(start, stop)

    def _map(self, offset: int, length: int) -> np.ndarray:
        source_map = getattr(self._source, "map", None)
        if source_map is None:
            raise NdpackError("INVALID_ARGUMENT", f"{shown_url(self.location)} is not a local "
                              "file: only a local file can be memory-mapped")
        return source_map(offset, length)

    def payload_crc32(self, name: str, start: int, stop: int, *, mapped: bool = False) -> int:
        """The CRC-32 of bytes ``[start, stop)`` of the stored payload of ``name``, for checks done
        in parts (``ndpack.dask``; ``check_payload_crc32`` compares the whole). INVALID_ARGUMENT
        unless ``0 <= start <= stop <= byte_length`` (integers): never another array's bytes.
        ``mapped``: of the memory ``map_rows`` hands out, not of reads (a local file only)."""
        self._check_open()  # CLOSED before NOT_FOUND, as TypeScript's readers
        e = self.info(name)
        integers = all(isinstance(b, (int, np.integer)) and not isinstance(b, bool)
                       for b in (start, stop))
        if not integers or not 0 <= start <= stop <= e.byte_length:
            raise NdpackError("INVALID_ARGUMENT", f"payload_crc32 of {name!r}: bytes [{start!r}, "
                              f"{stop!r}) are not within its {e.byte_length} stored bytes",
                              array=name)
        if mapped:
            return crc32(self._map(e.start + start, stop - start))
        # A URL's chunk is one request, as the chunk's own read is (Dask's chunks are bounded).
        return self._crc32(e.start + start, stop - start, piece=max(stop - start, 1))

    def _crc32(self, offset: int, length: int, value: int = 0, piece: int | None = None) -> int:
        """The CRC-32 of the source's bytes ``[offset, offset + length)``, continued from
        ``value``: by the source when it can (a local file, from memory it reuses), otherwise read
        ``piece`` bytes (default ``VERIFY_PIECE``) at a time, so that no more is held at once."""
        source_crc32 = getattr(self._source, "crc32", None)
        if source_crc32 is not None:
            return source_crc32(offset, length, value)
        piece = piece or VERIFY_PIECE
        for at in range(offset, offset + length, piece):
            value = crc32(self._read(at, min(piece, offset + length - at)), value)
        return value

    def check_payload_crc32(self, name: str, crc: int) -> None:
        """Section 9 step 22 for ``name`` given ``crc``, the CRC-32 of its stored payload computed
        elsewhere (``ndpack.dask`` computes it in parts, in parallel): CHECKSUM unless it is the
        one stored after the payload, BAD_PADDING unless the bytes from there to the next record
        are zero. Without checksums only the padding is checked. The payload is not read."""
        self._check_open()  # CLOSED before NOT_FOUND, as TypeScript's readers
        e = self.info(name)
        tail = self._read(e.start + e.byte_length, self._record_end(e) - e.start - e.byte_length)
        reference.check_record(e, self.checksum, tail, crc, e.byte_length)

    def verify(self) -> list[dict]:
        """Check every record's CRC-32 and padding (section 9 step 22), one report per array:
        ``{"name", "ok", "error": None | {"code", "message"}}``; CLOSED after ``close``."""
        self._check_open()
        return reference.verify_reports(self._entries, self._verify_record)

    def _verify_record(self, e: ArrayInfo) -> None:
        """Section 9 step 22 for ``e``, its payload's CRC-32 computed a piece at a time
        (``_crc32``), so that verifying holds one piece in memory, never a whole array."""
        if self.checksum == "crc32":
            # All the payload but its last piece here; that piece is read with the CRC after it,
            # so that a small record is one read (one request of a URL). A source that computes
            # CRCs itself (a local file, from memory it reuses) keeps a smaller piece back.
            piece = CRC_PIECE if hasattr(self._source, "crc32") else VERIFY_PIECE
            done = max(e.byte_length - piece, 0)
            crc = self._crc32(e.start, done) if done else 0
        else:  # without checksums only the padding after the payload is checked: it is not read
            done, crc = e.byte_length, 0
        rest = self._read(e.start + done, self._record_end(e) - e.start - done)
        reference.check_record(e, self.checksum, rest, crc, done)

    def close(self) -> None:
        """Close the file or connection; arrays read before stay valid (they hold memory of their
        own). Reading afterwards is CLOSED (``info``, ``keys`` and ``metadata`` stay available).
        The source is closed once: a second call (from another thread too) returns once it is."""
        with self._close_lock:
            if self.closed:
                return
            self.closed = True
            with self._ahead_lock:
                self._ahead = None
            close = getattr(self._source, "close", None)
            if close is not None:
                close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def array_dtype(reader: Reader, e: ArrayInfo) -> np.dtype:
    """The dtype of the arrays ``reader`` gives for entry ``e``, from its header: that of an empty
    array of it (nothing is read)."""
    empty = e._replace(shape=(0,), nbytes=0, byte_length=0, codec="none", order="C")
    return reader._array(empty, b"", None).dtype
