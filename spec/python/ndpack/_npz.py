"""numpy .npz files read lazily, with the reader's interface (``ndpack.open`` of a .npz path or
URL): opening reads the zip's central directory (``_zip.zip_directory``), each member's local
header and the .npy header at the start of its content (``_npy.npy_layout``: inflating only those
first bytes of a deflated member), and ``__ndpack__.json`` whole. An array of a stored member is
then one ranged read of exactly its bytes (of the whole member, .npy header included, when its
CRC-32 is checked); a deflated member is read whole and inflated, never beyond the size it
declares.

This is TypeScript's reader (src/formats/npz.ts and src/interop/npz.ts) step for step, with the
same checks in the same order and the same codes, so that both languages accept and refuse the
same files (test/npz-python-parity.test.ts compares them on thousands of damaged ones)."""

from __future__ import annotations

import bisect
from itertools import islice
from concurrent.futures import ThreadPoolExecutor

from . import reference
from ._crc32 import crc32, crc32_combine
from ._npy import NPY_MAX_HEADER_BYTES, check_void_dtype, npy_layout
from ._reader import VERIFY_PIECE, Reader, check_verify
from ._zip import ZipEntry, check_inflated_size, check_member_crc, zip_directory
from .reference import ArrayInfo, NdpackError, inflate, zeroed_buffer

#: The member that carries ndpack metadata and the dtypes numpy has no name for (bfloat16, float8):
#: ``{"metadata": {...}, "dtypes": {"name": "bfloat16"}}``, written by TypeScript's ``toNpz``.
NPZ_NDPACK_MEMBER = "__ndpack__.json"
#: Bytes read first from a member for its .npy header: numpy pads headers to 64 bytes, so 512 hold
#: all but very long shapes (which take one more read).
NPY_HEAD_BYTES = 512
#: Compressed bytes first read while looking for a deflated member's .npy header; doubled while too
#: few.
INFLATE_STEP = 4096
#: Compressed bytes searched for a deflated member's head beyond its length and a quarter: far more
#: than a deflate stream's overhead.
HEAD_SEARCH_SLACK_BYTES = 64 << 10
#: Room for a local header's extra field longer than its central record's (alignment padding).
LOCAL_EXTRA_SLACK_BYTES = 1024
#: Bytes after each member's local header read ahead with all the others, by the member's method:
#: a stored member's .npy header, a deflated one's first inflate step.
MEMBER_HEAD_PREFETCH_BYTES = {"stored": NPY_HEAD_BYTES + LOCAL_EXTRA_SLACK_BYTES,
                              "deflate": INFLATE_STEP + LOCAL_EXTRA_SLACK_BYTES}
#: Bytes read at least at a time while the header is read, after the first read: a member's .npy
#: header, just after its local header, then comes with it. A page: one more costs a local file
#: nothing and a remote one little, where a second round trip costs much.
HEADER_READ_AHEAD = 4096
#: The most bytes of header reads kept for reuse while the header is read.
HEADER_WINDOWS_BYTES = 16 << 20
#: How many kept header reads a range is looked for in: those that start last at or before it.
WINDOW_CANDIDATES = 32
#: Ranges read ahead less than this apart are read as one.
COALESCE_GAP_BYTES = 64 << 10
#: Longest read of ranges read ahead together: a longer run of them is read in reads of at most this.
PREFETCH_READ_BYTES = 1 << 20
#: Bytes of announced ranges read ahead at a time: half of what is kept, so that a batch is never
#: dropped before it is used; the next is read when a read reaches it (TypeScript's
#: PREFETCH_BATCH_BYTES: 20 MB of heads read at once dropped the first before use).
PREFETCH_BATCH_BYTES = HEADER_WINDOWS_BYTES // 2
#: Reads in flight at once while ranges read ahead are read, from a source that says it takes
#: them (``concurrent_reads``: a URL's, where each read is a round trip), as TypeScript's reader
#: reads a remote .npz's member heads; a local file's are read one after another.
PREFETCH_CONCURRENCY = 4


def member_head(read, member: ZipEntry, length: int, whole: bool = False):
    """The first ``length`` bytes of a member's uncompressed content (TypeScript's
    ``memberHead``): read as they are from a stored member, inflated from as few compressed bytes
    as needed from a deflated one, read ``INFLATE_STEP`` bytes first, then as many again as were
    read before while too few. Inflating stops once it has those bytes, whatever the rest of the
    bytes read hold (a member of zeros inflates 1000 to 1): damage after them is found when the
    member is read. ``whole`` (``__ndpack__.json``, read at open): inflated as a member is read,
    its stream checked to end where the bytes read end."""
    wanted = min(length, member.size)
    if member.method == "stored":
        return read(member.data_start, wanted)
    # A deflate stream gives its first ``wanted`` bytes from about as many compressed ones (stored
    # blocks add 5 bytes in 64 KiB): one that gives fewer from this many (empty blocks, a claimed
    # compressed size of gigabytes) is refused here rather than read to its end.
    most = min(member.compressed_size, wanted + (wanted >> 2) + HEAD_SEARCH_SLACK_BYTES)
    content = bytearray(wanted)
    if whole:
        inflate([read(member.data_start, most)], wanted, member.name, content)
    elif wanted > 0:
        inflate(_doubling_reads(read, member.data_start, most), wanted, member.name, content,
                head=True)
    return content


def _doubling_reads(read, start: int, most: int):
    """The ``most`` bytes from ``start``, read as they are asked for: ``INFLATE_STEP`` bytes, then
    each read as long as all those before it (TypeScript's reader reads the same ranges again from
    ``start``, each twice as long as the last)."""
    at, end = 0, min(INFLATE_STEP, most)
    while at < most:
        yield read(start + at, end - at)
        at, end = end, min(2 * end, most)


def read_ndpack_member(content) -> tuple[dict, dict]:
    """``__ndpack__.json``'s metadata and dtypes (TypeScript's ``readNdpackMember``): a JSON object
    parsed as strictly as an ndpack header (duplicate keys, lone surrogates and inexact integers are
    errors) with exactly the keys ``metadata`` and ``dtypes``, both objects (HEADER_INVALID), each
    dtype an ndpack dtype name (UNKNOWN_DTYPE)."""
    limits = reference.DEFAULT_LIMITS
    value = reference._parse_header_json(bytes(content), limits["max_depth"],
                                         limits["max_header_nodes"])

    def invalid(why: str) -> NdpackError:
        return NdpackError("HEADER_INVALID", f"{NPZ_NDPACK_MEMBER}: {why}",
                           array=NPZ_NDPACK_MEMBER)
    if len(value) != 2 or "metadata" not in value or "dtypes" not in value:
        raise invalid('must be an object with exactly the keys "metadata" and "dtypes"')
    metadata, dtypes = value["metadata"], value["dtypes"]
    if not isinstance(metadata, dict):
        raise invalid('"metadata" must be an object')
    if not isinstance(dtypes, dict):
        raise invalid('"dtypes" must be an object')
    for name, dtype in dtypes.items():
        if not isinstance(dtype, str) or dtype not in reference.DTYPES:
            raise NdpackError("UNKNOWN_DTYPE", f"{NPZ_NDPACK_MEMBER}: array {name!r} has unknown "
                              f"dtype {dtype!r}", array=name)
    return metadata, dtypes


def _check_void_option(option) -> None:
    """The ``void_dtype`` option of a .npz file: one dtype name, or a dict of them by array name
    (TypeScript's ``checkVoidDtypeOption``); INVALID_ARGUMENT otherwise."""
    if isinstance(option, dict):
        for dtype in option.values():
            check_void_dtype(dtype)
    else:
        check_void_dtype(option)


def _overridden(option, name: str) -> str | None:
    """The caller's ``void_dtype`` for array ``name``, if any."""
    return option.get(name) if isinstance(option, dict) else option


def sort_members(entries: list) -> tuple:
    """A .npz file's members sorted out (TypeScript's ``sortMembers``): ``__ndpack__.json`` (or
    None), the arrays (``(name, entry)``: ``x.npy`` holds array ``x``), in directory order, and the
    names of the others, which are not read (numpy hands them out as bytes). Directories (as
    ``zip -r`` adds them) are skipped."""
    ndpack = next((e for e in entries if e.name == NPZ_NDPACK_MEMBER), None)
    arrays, ignored = [], []
    for entry in entries:
        if entry is ndpack or (entry.name.endswith("/") and entry.size == 0):
            continue
        if entry.name.endswith(".npy"):
            arrays.append((entry.name[:-4], entry))
        else:
            ignored.append(entry.name)
    return ndpack, arrays, ignored


def check_ndpack_dtypes(dtypes: dict, actual: dict, option) -> None:
    """HEADER_INVALID when ``__ndpack__.json`` gives a dtype for an array the file does not hold,
    or one other than the array's (``actual``: dtypes by name) that the caller's ``void_dtype``
    does not override (TypeScript's ``checkNdpackDtypes``)."""
    for name, dtype in dtypes.items():
        if name not in actual:
            raise NdpackError("HEADER_INVALID", f"{NPZ_NDPACK_MEMBER} gives a dtype for {name!r}, "
                              "which is not in the file", array=name)
        if actual[name] != dtype and _overridden(option, name) is None:
            raise NdpackError("HEADER_INVALID", f"{NPZ_NDPACK_MEMBER} says {name!r} is {dtype}, "
                              f"but its .npy descr says {actual[name]}", array=name)


def _coalesce(ranges: list, max_gap: int, max_length: float = float("inf")) -> list:
    """``(offset, length)`` ranges merged where at most ``max_gap`` bytes apart and the merged read
    spans at most ``max_length`` bytes (an overlapping range always joins), as
    ``[start, end, ranges]``, in offset order (TypeScript's ``coalesceRanges``)."""
    reads = []
    for offset, length in sorted(ranges):
        if reads and offset - reads[-1][1] <= max_gap and (
                offset < reads[-1][1] or max(reads[-1][1], offset + length) - reads[-1][0]
                <= max_length):
            reads[-1][1] = max(reads[-1][1], offset + length)
            reads[-1][2].append((offset, length))
        else:
            reads.append([offset, offset + length, [(offset, length)]])
    return reads


class _HeaderReads:
    """The reads of a .npz file's header (its directory, each member's local and .npy headers),
    kept while it is read, as TypeScript's reader keeps them (``CountingSource``): each read takes
    at least ``HEADER_READ_AHEAD`` bytes, the ranges announced ahead (``prefetch``) are read
    together, coalesced, and a later read inside an earlier one is served from memory, the first
    bytes (``ndpack.open``'s first read) included."""

    def __init__(self, read, size: int, first_bytes, concurrency: int = 1):
        self._source_read, self._size, self._concurrency = read, size, concurrency
        self._windows = [(0, first_bytes)]  # the reads kept, in the order they were made
        # The same by offset (those of one offset in the order they were made), and their offsets.
        self._by_offset, self._offsets = [self._windows[0]], [0]
        self._kept_bytes = len(first_bytes)
        self._announced = []  # the ranges prefetch was told of, by offset: read a batch at a time

    def _kept(self, offset: int, length: int):
        """The bytes ``[offset, offset + length)`` from a kept read that holds them: one of the
        ``WINDOW_CANDIDATES`` last to start at or before ``offset``. One that starts earlier still
        is passed over (the range is read again): walking every kept read on each miss made a .npz
        of many members whose local headers are not announced (ZIP64 offsets) quadratic."""
        end = bisect.bisect_right(self._offsets, offset)
        for i in range(end - 1, max(end - WINDOW_CANDIDATES, 0) - 1, -1):
            start, data = self._by_offset[i]
            if offset + length <= start + len(data):
                return data[offset - start:offset - start + length]
        return None

    def _keep(self, offset: int, data) -> None:
        window = (offset, data)
        self._windows.append(window)
        at = bisect.bisect_right(self._offsets, offset)
        self._offsets.insert(at, offset)
        self._by_offset.insert(at, window)
        self._kept_bytes += len(data)
        while self._kept_bytes > HEADER_WINDOWS_BYTES and len(self._windows) > 1:
            oldest = self._windows.pop(0)
            self._kept_bytes -= len(oldest[1])
            at = bisect.bisect_left(self._offsets, oldest[0])
            while self._by_offset[at] is not oldest:
                at += 1
            del self._offsets[at], self._by_offset[at]

    def read(self, offset: int, length: int):
        """Bytes ``[offset, offset + length)`` of the file, from memory when read before."""
        kept = self._kept(offset, length)
        if kept is None:
            kept = self._read_announced_batch(offset, length)
        if kept is not None:
            return kept
        data = self._source_read(offset, max(length, min(HEADER_READ_AHEAD, self._size - offset)))
        self._keep(offset, data)
        return data[:length]

    def prefetch(self, ranges: list) -> None:
        """Reads the ranges not in memory yet with few reads, a batch of ``PREFETCH_BATCH_BYTES``
        now and each next one when a read reaches it: coalesced into reads of at most
        ``PREFETCH_READ_BYTES`` (a longer range alone), ``concurrency`` at a time; each is kept."""
        self._announced = sorted((offset, min(length, self._size - offset))
                                 for offset, length in ranges)
        self._prefetch_from(0)

    def _read_announced_batch(self, offset: int, length: int):
        """After a read of ``[offset, offset + length)`` missed what is kept: the batch of
        announced ranges from the one holding it, read; the bytes then, if they came with it."""
        at = bisect.bisect_right(self._announced, (offset, float("inf"))) - 1
        if at < 0 or offset + length > sum(self._announced[at]):
            return None
        self._prefetch_from(at)
        return self._kept(offset, length)

    def _prefetch_from(self, first: int) -> None:
        batch, total = [], 0
        for offset, length in islice(self._announced, first, None):
            if batch and total + length > PREFETCH_BATCH_BYTES:
                break
            batch.append((offset, length))
            total += length
        missing = [(offset, length) for offset, length in batch
                   if length > 0 and self._kept(offset, length) is None]
        reads = [(start, end) for start, end, _ in
                 _coalesce(missing, COALESCE_GAP_BYTES, PREFETCH_READ_BYTES)]
        if self._concurrency > 1 and len(reads) > 1:
            with ThreadPoolExecutor(min(self._concurrency, len(reads))) as pool:
                done = pool.map(lambda r: self._source_read(r[0], r[1] - r[0]), reads)
                for (start, _), data in zip(reads, done):
                    self._keep(start, data)
            return
        for start, end in reads:
            self._keep(start, self._source_read(start, end - start))


class NpzReader(Reader):
    """A .npz file (``np.savez``, ``np.savez_compressed``, TypeScript's ``toNpz``) with the
    reader's interface: one array per ``<name>.npy`` member, in the directory's order, stored or
    deflated, ZIP64 or not. ``metadata`` is that of ``__ndpack__.json`` ({} without it), which also
    gives the dtypes of void members (bfloat16, float8: read as ml_dtypes' types, or their raw bits
    with ``raw_bits=True``); ``void_dtype`` (a dtype name, or a dict of them by array name)
    overrides it. ``ignored`` lists the members that are neither. ``header`` is each array's .npy
    header.

    Each member's CRC-32 is checked by ``read`` (its whole content read, .npy header included) and
    ``verify``; ``read_rows`` reads only the rows asked for of a stored C-order member, unchecked
    (any other member is read as ``read`` reads it, then sliced).
    A deflated member is read whole and inflated, never beyond the size it declares, which must be
    within ``max_decoded_bytes`` (LIMIT_EXCEEDED).

    Opening checks what TypeScript's reader checks, in its order: the zip (``zip_directory``:
    ``max_arrays`` bounds the members, the directory is bounded as an ndpack header is, 100 MiB,
    or ``max_header_bytes`` when larger), ``__ndpack__.json`` (LIMIT_EXCEEDED above 100 MiB or
    ``max_decoded_bytes`` inflated, CODEC_ERROR, CHECKSUM, then ``read_ndpack_member``), each
    array's .npy header (``npy_layout``: ``max_header_bytes``, by default numpy's 10,000, and
    ``max_dims``), and the dtypes ``__ndpack__.json`` gives (``check_ndpack_dtypes``).
    ``max_depth``, ``max_header_nodes`` and ``max_name_bytes`` do not apply (``__ndpack__.json`` is
    parsed with the default ones, as in TypeScript). ``header_end`` is None: the directory is at
    the end."""

    extensions = (".npz",)
    default_max_header_bytes = NPY_MAX_HEADER_BYTES

    @staticmethod
    def sniff(first_bytes, size: int) -> bool:
        """Whether a file beginning with ``first_bytes`` is a zip: a local header, or, when empty,
        its (ZIP64) end record (TypeScript's ``sniff``)."""
        return bytes(first_bytes[:2]) == b"PK" and \
            bytes(first_bytes[2:4]) in (b"\x03\x04", b"\x05\x06", b"\x06\x06")

    @property
    def header(self) -> dict:
        """Each array's .npy header dict (``descr``, ``fortran_order``, ``shape``), by name."""
        return {name: dict(h) for name, h in self._header.items()}

    def _read_header(self, prefix, check_head) -> None:
        void_option = self._void_dtype
        _check_void_option(void_option)
        limits, header_cap = self._limits, self.header_cap
        concurrency = PREFETCH_CONCURRENCY if getattr(self._source, "concurrent_reads", False) else 1
        reads = _HeaderReads(self._read, self.size, prefix, concurrency)
        # The directory is bounded as an ndpack header is, not as the members' .npy headers are
        # (numpy's 10,000 bytes): max_header_bytes only ever raises that bound.
        max_directory_bytes = max(reference.DEFAULT_LIMITS["max_header_bytes"], header_cap)
        ndpack, arrays, self.ignored = sort_members(zip_directory(
            reads.read, self.size, max_entries=limits["max_arrays"],
            max_directory_bytes=max_directory_bytes, prefetch=reads.prefetch,
            member_head_bytes=MEMBER_HEAD_PREFETCH_BYTES))
        metadata, dtypes = {}, {}
        if ndpack is not None:
            check_inflated_size(ndpack, limits["max_decoded_bytes"])
            most = reference.DEFAULT_LIMITS["max_header_bytes"]
            if ndpack.size > most:
                raise NdpackError("LIMIT_EXCEEDED", f'zip: member "{NPZ_NDPACK_MEMBER}" is '
                                  f"{ndpack.size} bytes, more than the {most} a header may be",
                                  array=NPZ_NDPACK_MEMBER)
            content = member_head(reads.read, ndpack, ndpack.size, whole=True)
            check_member_crc(ndpack, crc32(content))
            metadata, dtypes = read_ndpack_member(content)
        self._entries, self._members, self._header, version = [], [], {}, None
        known = {}  # layouts by header text: the members of a checkpoint share a few shapes
        for name, entry in arrays:
            void_dtype = _overridden(void_option, name)
            layout = npy_layout(
                lambda length, entry=entry: member_head(reads.read, entry, length), entry.size,
                NPY_HEAD_BYTES, max_header_bytes=header_cap, max_dims=limits["max_dims"],
                void_dtype=dtypes.get(name) if void_dtype is None else void_dtype, member=name,
                known=known)
            if entry.method == "deflate":  # the array's bytes are inflated from the whole member
                codec, start, byte_length = "deflate", entry.data_start, entry.compressed_size
            else:
                codec, start, byte_length = "none", entry.data_start + layout.data_start, \
                    layout.nbytes
            self._entries.append(ArrayInfo(name, layout.dtype, layout.shape, layout.order,
                                           layout.byte_order, codec, start, byte_length,
                                           layout.nbytes, start))
            self._members.append((entry, layout.data_start))
            self._header[name] = layout.header
            version = layout.version if version is None else version  # the first member's
        check_ndpack_dtypes(dtypes, {e.name: e.dtype for e in self._entries}, void_option)
        self._index = {e.name: i for i, e in enumerate(self._entries)}
        self.metadata, self.version = metadata, (1 if version is None else version, 0)
        self.alignment, self.checksum, self.header_end, self.data_end = None, "crc32", None, \
            self.size

    def read(self, name: str, *, verify: bool = True, copy=None):
        """The array ``name``: of a stored member, one ranged read of its bytes, or, with
        ``verify`` (default), of the whole member, whose CRC-32 is checked (CHECKSUM); of a
        deflated member, one read of it whole, inflated (LIMIT_EXCEEDED when it declares more than
        ``max_decoded_bytes``, CODEC_ERROR when its stream does not give exactly that), its CRC-32
        checked with ``verify``. In memory of its own, as ``Reader.read``."""
        self._check_open()  # CLOSED before NOT_FOUND, as TypeScript's readers
        e = self.info(name)
        entry, array_start = self._members[self._index[name]]
        if not check_verify(verify) and entry.method == "stored":
            return self._array(e, self._read_array(e.start, e.byte_length), copy)
        owned = None
        if entry.method == "deflate":
            check_inflated_size(entry, self._limits["max_decoded_bytes"])
            content = zeroed_buffer(entry.size, name)
            crc = inflate([self._read_array(entry.data_start, entry.compressed_size)], entry.size,
                          name, content)
            owned = True  # inflated here: memory nothing else refers to
        else:
            content = self._read_array(entry.data_start, entry.compressed_size)
            crc = crc32(content)
        if verify:
            check_member_crc(entry, crc, name)
        payload = memoryview(content).cast("B")[array_start:]
        return self._array(e._replace(codec="none", byte_length=e.nbytes), payload, copy, owned)

    def check_payload_crc32(self, name: str, crc: int) -> None:
        """CHECKSUM unless ``crc``, the CRC-32 of array ``name``'s bytes computed elsewhere (in
        parts, by ``ndpack.dask``), makes its member's CRC-32 once the member's .npy header is
        put before it (``crc32_combine``). A deflated member's CRC-32 covers its inflated bytes:
        ``read`` checks it, and this is not called."""
        self._check_open()  # CLOSED before NOT_FOUND, as TypeScript's readers
        e = self.info(name)
        entry, array_start = self._members[self._index[name]]
        header_crc = crc32(self._read(entry.data_start, array_start))
        check_member_crc(entry, crc32_combine(header_crc, crc, e.nbytes), name)

    def _verify_record(self, e: ArrayInfo) -> None:
        """The member's CRC-32 (CHECKSUM): a stored member's computed as ``Reader._crc32`` does,
        a deflated one's stored bytes read in pieces of at most ``VERIFY_PIECE`` and inflated as
        they come (CODEC_ERROR), its output dropped: verifying holds one piece in memory, never a
        whole array."""
        entry, _ = self._members[self._index[e.name]]
        if entry.method == "deflate":
            pieces = (self._read(entry.data_start + at, min(VERIFY_PIECE, entry.compressed_size - at))
                      for at in range(0, entry.compressed_size, VERIFY_PIECE))
            crc = inflate(pieces, entry.size, e.name)
        else:
            crc = self._crc32(entry.data_start, entry.compressed_size)
        check_member_crc(entry, crc, e.name)
