"""The part of ZIP (PKWARE APPNOTE 6.3) that .npz files use, read as TypeScript's reader reads it
(src/interop/zip.ts, ``zipDirectorySteps``): the same checks in the same order, with the same
codes, so that both languages accept and refuse the same archives. Stored and deflated members,
UTF-8 and CP437 names, ZIP64 (members or offsets past 4 GiB, more than 65535 members).

Reading trusts nothing: the central directory is found at the exact end of the file (a comment is
allowed, trailing bytes are not), every offset and size is checked against the file before it is
used, members may not overlap (the trick of "overlapping" zip bombs), and each local header must be
at its place and name the member its central record names. A member is inflated (by the
reader, with ``reference.inflate``) no further than its declared size, which the caller checks
against its limit first (``check_inflated_size``), and every member's CRC-32 can be checked
(``check_member_crc``).

The functions read through ``read(offset, length)``, which gives exactly those bytes of the file:
they do no I/O of their own."""

from __future__ import annotations

import struct
from typing import NamedTuple

from . import reference
from .reference import NdpackError

_SIG_LOCAL = 0x04034B50
_SIG_CENTRAL = 0x02014B50
_SIG_END = 0x06054B50
_SIG_ZIP64_END = 0x06064B50
_SIG_ZIP64_LOCATOR = 0x07064B50
_LOCAL_HEADER_SIZE = 30
_CENTRAL_HEADER_SIZE = 46
#: The largest central directory record: its fixed part, then a name, an extra field and a comment
#: of up to 65535 bytes each.
_MAX_CENTRAL_RECORD_SIZE = _CENTRAL_HEADER_SIZE + 3 * 65535
_END_SIZE = 22
_ZIP64_END_SIZE = 56
_ZIP64_LOCATOR_SIZE = 20
#: The longest comment an end record can announce: how far from the end its signature can be.
_MAX_COMMENT = 0xFFFF
_U16_MAX = 0xFFFF
_U32_MAX = 0xFFFFFFFF
#: The extra field of ZIP64 sizes and offsets.
_EXTRA_ZIP64 = 0x0001
#: General purpose flags: encrypted, UTF-8 name.
_FLAG_ENCRYPTED = 0x0001
_FLAG_UTF8 = 0x0800
#: Bytes read from the end of a zip first, to find its end record when it has no long comment.
_TAIL_FIRST_READ = 4096


class ZipEntry(NamedTuple):
    """One member, as the central directory describes it and checked against the file."""

    name: str
    #: ``"stored"`` or ``"deflate"``.
    method: str
    crc32: int
    compressed_size: int
    size: int
    #: Offset of the member's local header.
    local_offset: int
    #: Offset of the member's (possibly compressed) data.
    data_start: int


def _invalid(message: str, array: str | None = None) -> NdpackError:
    return NdpackError("HEADER_INVALID", f"zip: {message}", array=array)


def _u16(buf, at: int) -> int:
    return struct.unpack_from("<H", buf, at)[0]


def _u32(buf, at: int) -> int:
    return struct.unpack_from("<I", buf, at)[0]


def _u64(buf, at: int, what: str, size: int) -> int:
    """A u64 field that must be a usable offset or size: past 2^53-1 it cannot lie inside any file
    (OUT_OF_BOUNDS, as TypeScript's ``u64Field``, whose numbers stop there)."""
    value = struct.unpack_from("<Q", buf, at)[0]
    if value > reference.MAX_SAFE_INTEGER:
        raise NdpackError("OUT_OF_BOUNDS", f"zip: {what} is beyond 2^53-1, past the end of the "
                          f"{size}-byte file")
    return value


def _find_end_record(read, size: int) -> tuple:
    """The end of central directory record whose comment ends exactly at the end of the file:
    ``(tail, tail_start, end_at)``, the bytes read from the end (which hold the ZIP64 locator's
    place, just before the record, too), where they start, and where the record is. It lies in the
    file's last 64 KiB or so, and, without a long comment, in its last few bytes: those are read
    first. TRAILING_BYTES when a record's comment ends before the end, else TRUNCATED."""
    mismatch = None
    for window in (_TAIL_FIRST_READ, _END_SIZE + _MAX_COMMENT + _ZIP64_LOCATOR_SIZE):
        tail_start = max(0, size - window)
        tail = bytes(read(tail_start, size - tail_start))
        mismatch, end_at = None, -1
        lowest = max(tail_start, size - _END_SIZE - _MAX_COMMENT) - tail_start
        stop = size - _END_SIZE - tail_start + 4  # a signature may start at size - 22 at most
        while (at := tail.rfind(b"PK\x05\x06", lowest, stop)) >= 0:
            end = tail_start + at + _END_SIZE + _u16(tail, at + 20)
            if end == size:
                end_at = tail_start + at
                break
            if mismatch is None:
                mismatch = "trailing" if end < size else "truncated"
            stop = at + 3
        if end_at >= 0 and (end_at - _ZIP64_LOCATOR_SIZE >= tail_start or tail_start == 0):
            return tail, tail_start, end_at
        if tail_start == 0:
            break
    if mismatch == "trailing":
        raise NdpackError("TRAILING_BYTES", "zip: bytes follow the end of central directory record "
                          "(and its comment)")
    raise NdpackError("TRUNCATED", "zip: no end of central directory record at the end of the "
                      "file: the file is truncated or is not a zip file")


def _read_end_records(read, tail: bytes, tail_start: int, end_at: int, size: int) -> tuple:
    """The directory's member count, offset and size, from the end record and, when there is one,
    the ZIP64 end record its locator points to."""
    e = end_at - tail_start
    if _u16(tail, e + 4) != 0 or _u16(tail, e + 6) != 0:
        raise _invalid("multi-volume archives are not supported")
    count, cd_size, cd_offset = _u16(tail, e + 10), _u32(tail, e + 12), _u32(tail, e + 16)
    cd_limit = end_at
    locator_at = end_at - _ZIP64_LOCATOR_SIZE
    if locator_at >= 0 and _u32(tail, locator_at - tail_start) == _SIG_ZIP64_LOCATOR:
        zip64_at = _u64(tail, locator_at - tail_start + 8, "the ZIP64 end record's offset", size)
        if zip64_at + _ZIP64_END_SIZE > locator_at:
            raise NdpackError("OUT_OF_BOUNDS", f"zip: the ZIP64 end record at {zip64_at} runs past "
                              f"its locator at {locator_at}")
        record = bytes(read(zip64_at, _ZIP64_END_SIZE))
        if _u32(record, 0) != _SIG_ZIP64_END:
            raise _invalid(f"no ZIP64 end record at offset {zip64_at}, where its locator points")
        if _u32(record, 16) != 0 or _u32(record, 20) != 0:
            raise _invalid("multi-volume archives are not supported")
        count = _u64(record, 32, "the member count", size)
        cd_size = _u64(record, 40, "the central directory's size", size)
        cd_offset = _u64(record, 48, "the central directory's offset", size)
        cd_limit = zip64_at
    elif count == _U16_MAX or cd_size == _U32_MAX or cd_offset == _U32_MAX:
        raise _invalid("the end record defers to a ZIP64 end record, but there is none")
    if cd_offset + cd_size > cd_limit:
        raise NdpackError("OUT_OF_BOUNDS", f"zip: the central directory (offset {cd_offset}, "
                          f"{cd_size} bytes) runs past the end records at {cd_limit}")
    return count, cd_offset, cd_size


def _zip64_extra(cd: bytes, extra_at: int, extra_length: int, wanted: list, record_at: int,
                 size: int) -> list:
    """The ZIP64 extra field's values for the fields the fixed record left at 0xFFFFFFFF, in the
    order APPNOTE 4.5.3 gives."""
    at, end = extra_at, extra_at + extra_length
    while at + 4 <= end:
        field, length = _u16(cd, at), _u16(cd, at + 2)
        if at + 4 + length > end:
            raise _invalid(f"extra field 0x{field:x} of the member at {record_at} runs past the "
                           "extra data")
        if field == _EXTRA_ZIP64:
            if length < len(wanted) * 8:
                raise _invalid(f"the ZIP64 extra field of the member at {record_at} is too short "
                               f"for {', '.join(wanted)}")
            return [_u64(cd, at + 4 + i * 8, what, size) for i, what in enumerate(wanted)]
        at += 4 + length
    raise _invalid(f"the member at {record_at} defers its {', '.join(wanted)} to a ZIP64 extra "
                   "field, but has none")


def _over_limit(what: str, limit: int, option: str, code: str = "LIMIT_EXCEEDED",
                array: str | None = None) -> NdpackError:
    """TypeScript's ``overLimit``: the message names the option that raises the limit."""
    return NdpackError(code, f"zip: {what}, more than the limit of {limit}; raise the {option} "
                       "option to read it", array=array)


def zip_directory(read, size: int, *, max_entries: int, max_directory_bytes: int,
                  prefetch=None, member_head_bytes=None) -> list[ZipEntry]:
    """The members of a zip file ``size`` bytes long, in directory order, its central directory and
    every member's local header read and checked, the first failure in TypeScript's order: the
    first bytes (BAD_MAGIC), the end record (TRUNCATED, TRAILING_BYTES, HEADER_INVALID,
    OUT_OF_BOUNDS), the member count (LIMIT_EXCEEDED over ``max_entries``, the ``max_arrays``
    option) and the directory's size (SIZE_MISMATCH when the count cannot fill it;
    HEADER_TOO_LARGE over ``max_directory_bytes``), then each record (HEADER_INVALID,
    OUT_OF_BOUNDS, UNSUPPORTED_CODEC for encryption or a method other than stored and deflate,
    SIZE_MISMATCH) and its local header, the records' total length (SIZE_MISMATCH), overlapping
    members (OVERLAP) and repeated names (DUPLICATE_NAME).

    ``prefetch(ranges)``, when given, is told where the local headers are once the directory is
    read, with ``member_head_bytes[method]`` bytes more after each (what the caller reads of a
    member's content next), so that it can read them ahead together."""
    first = bytes(read(0, min(size, 4)))
    empty = len(first) >= 4 and first[2:4] in (b"\x05\x06", b"\x06\x06")
    magic = b"PK" + first[2:3] + b"\x06" if empty else b"PK\x03\x04"
    for i, byte in enumerate(first):
        if byte != magic[i]:
            raise NdpackError("BAD_MAGIC", f"not a zip (.npz) file: byte {i} is 0x{byte:02x}, "
                              f"expected 0x{magic[i]:02x} (a zip starts with PK\\x03\\x04)")
    if size < _END_SIZE:
        raise NdpackError("TRUNCATED", f"zip: the file is {size} bytes, shorter than the "
                          f"{_END_SIZE}-byte end record")
    tail, tail_start, end_at = _find_end_record(read, size)
    count, cd_offset, cd_size = _read_end_records(read, tail, tail_start, end_at, size)
    if count > max_entries:
        raise _over_limit(f"{count} members", max_entries, "max_arrays")
    # Nor can they fill more than their records can hold (names, extra fields and comments of at
    # most 65535 bytes each): a claim of more would have the reader fetch it before finding out.
    if count * _CENTRAL_HEADER_SIZE > cd_size or cd_size > count * _MAX_CENTRAL_RECORD_SIZE:
        raise NdpackError("SIZE_MISMATCH", f"zip: {count} members cannot fill a {cd_size}-byte "
                          "central directory")
    # The directory is the archive's header: bounded as any header is.
    if cd_size > max_directory_bytes:
        raise _over_limit(f"the central directory is {cd_size} bytes", max_directory_bytes,
                          "max_header_bytes", "HEADER_TOO_LARGE")
    cd = bytes(read(cd_offset, cd_size))
    cd_end = cd_offset + cd_size
    if prefetch is not None:
        prefetch(_local_header_ranges(cd, count, cd_offset, member_head_bytes))
    entries = []
    at = 0
    for index in range(count):
        record_at = cd_offset + at
        if record_at + _CENTRAL_HEADER_SIZE > cd_end:
            raise NdpackError("OUT_OF_BOUNDS", f"zip: central record {index} at {record_at} runs "
                              f"past the central directory's end at {cd_end}")
        if _u32(cd, at) != _SIG_CENTRAL:
            raise _invalid(f"no central directory record at offset {record_at}")
        (flags, method_code, _, _, crc, compressed_size, member_size, name_length, extra_length,
         comment_length, disk, _, _, local_offset) = struct.unpack_from("<HHHHIIIHHHHHII", cd,
                                                                         at + 8)
        following = at + _CENTRAL_HEADER_SIZE + name_length + extra_length + comment_length
        if cd_offset + following > cd_end:
            raise NdpackError("OUT_OF_BOUNDS", f"zip: central record {index} at {record_at} runs "
                              f"past the central directory's end at {cd_end}")
        name_bytes = cd[at + _CENTRAL_HEADER_SIZE:at + _CENTRAL_HEADER_SIZE + name_length]
        # CP437 is the code page of names without the UTF-8 flag; UTF-8 keeps a byte order mark.
        try:
            name = name_bytes.decode("utf-8" if flags & _FLAG_UTF8 else "cp437")
        except UnicodeDecodeError:
            raise _invalid(f"the name of central record {index} is flagged UTF-8 but is not valid "
                           "UTF-8") from None
        wanted = [what for what, value in (("size", member_size),
                                           ("compressed size", compressed_size),
                                           ("local header offset", local_offset))
                  if value == _U32_MAX]
        if wanted:
            values = iter(_zip64_extra(cd, at + _CENTRAL_HEADER_SIZE + name_length, extra_length,
                                       wanted, record_at, size))
            if member_size == _U32_MAX:
                member_size = next(values)
            if compressed_size == _U32_MAX:
                compressed_size = next(values)
            if local_offset == _U32_MAX:
                local_offset = next(values)
        if disk != 0:
            raise _invalid(f'member "{name}" is on another volume; multi-volume archives are not '
                           "supported", name)
        if flags & _FLAG_ENCRYPTED:
            raise NdpackError("UNSUPPORTED_CODEC", f'zip: member "{name}" is encrypted',
                              array=name)
        if method_code not in (0, 8):
            raise NdpackError("UNSUPPORTED_CODEC", f'zip: member "{name}" uses compression method '
                              f"{method_code}; .npz readers support stored (0) and deflate (8)",
                              array=name)
        method = "stored" if method_code == 0 else "deflate"
        if method == "stored" and compressed_size != member_size:
            raise NdpackError("SIZE_MISMATCH", f'zip: stored member "{name}" declares '
                              f"{compressed_size} stored bytes but {member_size} uncompressed",
                              array=name)
        data_start = _check_local_header(read, name, name_bytes, local_offset, compressed_size,
                                         cd_offset)
        entries.append(ZipEntry(name, method, crc, compressed_size, member_size, local_offset,
                                data_start))
        at = following
    if cd_offset + at != cd_end:
        raise NdpackError("SIZE_MISMATCH", f"zip: the central directory is {cd_size} bytes, but "
                          f"its {count} records take {at}")
    _check_no_overlap(entries)
    _check_no_duplicates(entries)
    return entries


def _local_header_ranges(cd: bytes, count: int, cd_offset: int, head_bytes: dict) -> list:
    """Where the members' local headers are, read from the central directory without checking it
    (the records are checked, in order, when they are read): from each local header, room for its
    name and extra field as the central record gives them, and the ``head_bytes`` of its method
    more. Records that cannot be read, or whose offset is in a ZIP64 extra field, are left out:
    this is a hint."""
    ranges = []
    at = 0
    for _ in range(count):
        if at + _CENTRAL_HEADER_SIZE > len(cd) or _u32(cd, at) != _SIG_CENTRAL:
            break
        name_and_extra = _u16(cd, at + 28) + _u16(cd, at + 30)
        local_offset = _u32(cd, at + 42)
        method_bytes = head_bytes["stored" if _u16(cd, at + 10) == 0 else "deflate"]
        if local_offset != _U32_MAX and local_offset < cd_offset:
            ranges.append((local_offset, min(_LOCAL_HEADER_SIZE + name_and_extra + method_bytes,
                                             cd_offset - local_offset)))
        at += _CENTRAL_HEADER_SIZE + name_and_extra + _u16(cd, at + 32)
    return ranges


def _check_local_header(read, name: str, name_bytes: bytes, local_offset: int,
                        compressed_size: int, cd_offset: int) -> int:
    """A member's local header: at its place (OUT_OF_BOUNDS), with its signature and the same name
    as its central record (HEADER_INVALID), its data before the directory (OUT_OF_BOUNDS). Returns
    where its data starts."""
    if local_offset + _LOCAL_HEADER_SIZE > cd_offset:
        raise NdpackError("OUT_OF_BOUNDS", f'zip: member "{name}"\'s local header at '
                          f"{local_offset} runs into the central directory at {cd_offset}",
                          array=name)
    head = bytes(read(local_offset, _LOCAL_HEADER_SIZE + len(name_bytes)))
    if _u32(head, 0) != _SIG_LOCAL:
        raise _invalid(f'no local header for member "{name}" at offset {local_offset}', name)
    name_length, extra_length = _u16(head, 26), _u16(head, 28)
    data_start = local_offset + _LOCAL_HEADER_SIZE + name_length + extra_length
    if data_start + compressed_size > cd_offset:
        raise NdpackError("OUT_OF_BOUNDS", f'zip: member "{name}"\'s data ({compressed_size} '
                          f"bytes at {data_start}) runs into the central directory at {cd_offset}",
                          array=name)
    if name_length != len(name_bytes) or head[_LOCAL_HEADER_SIZE:] != name_bytes:
        raise _invalid(f'member "{name}"\'s local header names a different file than its central '
                       "record", name)
    return data_start


def _check_no_overlap(entries: list) -> None:
    """Members may not share bytes: overlapping members let a small file expand to many large ones
    (OVERLAP)."""
    previous = None
    for entry in sorted(entries, key=lambda e: e.local_offset):
        if previous is not None and \
                entry.local_offset < previous.data_start + previous.compressed_size:
            raise NdpackError("OVERLAP", f'zip: member "{entry.name}" at {entry.local_offset} '
                              f'overlaps member "{previous.name}", which ends at '
                              f"{previous.data_start + previous.compressed_size}", array=entry.name)
        previous = entry


def _check_no_duplicates(entries: list) -> None:
    seen = set()
    for entry in entries:
        if entry.name in seen:
            raise NdpackError("DUPLICATE_NAME", f'zip: member "{entry.name}" appears twice',
                              array=entry.name)
        seen.add(entry.name)


def check_inflated_size(entry: ZipEntry, max_decoded_bytes: int) -> None:
    """LIMIT_EXCEEDED when a deflated member inflates to more than ``max_decoded_bytes`` (checked
    before inflating any of it)."""
    if entry.method == "deflate" and entry.size > max_decoded_bytes:
        raise _over_limit(f'member "{entry.name}" inflates to {entry.size} bytes',
                          max_decoded_bytes, "max_decoded_bytes", array=entry.name)


def check_member_crc(entry: ZipEntry, actual: int, array: str | None = None) -> None:
    """CHECKSUM unless ``actual`` is the CRC-32 the central directory gives for the member;
    ``array`` names it in the error (default: the member's name)."""
    if actual != entry.crc32:
        raise NdpackError("CHECKSUM", f'zip: member "{entry.name}": CRC-32 mismatch, the member '
                          f"is damaged (stored 0x{entry.crc32:x}, computed 0x{actual:x})",
                          array=array or entry.name)
