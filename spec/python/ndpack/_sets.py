"""Sharded sets (FORMAT.md §12): a folder or URL prefix of shards plus one index, compatible
with Hugging Face's sharded safetensors (``model.safetensors.index.json``).

Reading checks the whole index before any shard is opened, then opens a shard the first time one
of its arrays is needed and checks it in §12.3's order: its size (FILE_CHANGED), its header length
(HEADER_TOO_LARGE over the cap, FILE_CHANGED past its end), the CRC-32 of its header
(FILE_CHANGED), its format's own checks, then its names against ``weight_map`` (SET_INVALID).
Writing writes every shard under a temporary name, renames them all, then replaces the index last,
so a crash leaves the old set or the new one; new shards carry a generation tag, and the old
generation's shards are removed once the new index is in place."""

from __future__ import annotations

import math
import os
import posixpath
import secrets
import struct
import zlib
from collections.abc import Mapping
from urllib.parse import quote

import numpy as np

from . import reference
from ._io import AtomicFile, check_target, fsync_dir, is_url, open_source
from ._reader import FIRST_READ, Reader
from ._writer import Writer, declared_entries, out_of_order
from .reference import ArrayInfo, NdpackError

INDEX_SUFFIX = ".index.json"
NDPACK_INDEX_SUFFIX = ".ndp.index.json"
#: Default payload bytes per shard written (a shard holds at least one array, whatever its size).
DEFAULT_MAX_SHARD_SIZE = 2**31


def _invalid(message: str) -> NdpackError:
    return NdpackError("SET_INVALID", message)


SHARD_EXTENSIONS = (".ndp", ".safetensors")
#: FORMAT.md §12.2's default cap on an index's bytes (option ``max_index_bytes``).
DEFAULT_MAX_INDEX_BYTES = 100 * 1024 * 1024
SET_INDEX_VERSION = 1


def check_shard_name(name) -> str:
    """A plain file name in the index's folder ending in .ndp or .safetensors (FORMAT.md §12.1),
    or SET_INVALID."""
    if (not isinstance(name, str) or not name or name in (".", "..")
            or any(c in name for c in "/\\:") or any(ord(c) < 0x20 for c in name)):
        raise _invalid(f"unsafe shard file name {name!r}")
    if not any(name.endswith(ext) and len(name) > len(ext) for ext in SHARD_EXTENSIONS):
        raise _invalid(f"shard {name!r} is neither .ndp nor .safetensors")
    return name


def _index_json(raw: bytes, max_depth: int) -> dict:
    """The index's JSON object, parsed by FORMAT.md §2.1's rules (no repeated key, numbers outside
    ``metadata`` non-negative integers); white space may surround it. LIMIT_EXCEEDED for
    ``max_depth``, SET_INVALID for anything else."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as ex:
        raise _invalid(f"the index is not valid UTF-8 (byte {ex.start})") from None
    text = text.strip(" \t\n\r")
    if not text.startswith("{"):
        raise _invalid("the index is not a JSON object")
    try:
        # Every JSON value takes at least one character: the text's length bounds the node count,
        # and the index's size is already bounded by max_index_bytes.
        return reference._parse_header_json(text.encode("utf-8"), max_depth, len(text) + 1)
    except NdpackError as ex:
        if ex.code == "LIMIT_EXCEEDED":
            raise
        twice = " (an array mapped twice: an array in two shards)" \
            if ex.code == "DUPLICATE_KEY" else ""
        raise _invalid(f"the index is not valid JSON: {ex.message}{twice}") from None


def _integer(value, field: str, limit: int = reference.MAX_SAFE_INTEGER) -> int:
    if type(value) is not int or not 0 <= value <= limit:
        raise _invalid(f"{field} must be an integer from 0 to {limit}, got {value!r}")
    return value


def parse_index(raw: bytes, *, max_index_bytes=DEFAULT_MAX_INDEX_BYTES,
                max_depth=reference.DEFAULT_LIMITS["max_depth"],
                max_arrays=reference.DEFAULT_LIMITS["max_arrays"],
                max_name_bytes=reference.DEFAULT_LIMITS["max_name_bytes"]
                ) -> tuple[dict, dict, dict | None]:
    """(metadata, weight_map, ndpack shards or None) of an index file's bytes, checked in
    FORMAT.md §12.3's order: SET_INVALID, LIMIT_EXCEEDED, UNSUPPORTED_VERSION."""
    if len(raw) > max_index_bytes:
        raise NdpackError("LIMIT_EXCEEDED", f"the set index is {len(raw)} bytes, more than "
                          f"max_index_bytes={max_index_bytes}")
    index = _index_json(raw, max_depth)
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
# safetensors shards
# --------------------------------------------------------------------------------------------------

SAFETENSORS_DTYPES = {
    "BOOL": "bool", "U8": "uint8", "I8": "int8", "U16": "uint16", "I16": "int16",
    "U32": "uint32", "I32": "int32", "U64": "uint64", "I64": "int64", "F16": "float16",
    "BF16": "bfloat16", "F32": "float32", "F64": "float64", "C64": "complex64",
    "F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2",
}


def safetensors_header(raw: bytes, limits: dict) -> dict:
    """The JSON object of a safetensors header, parsed by the header parser of ndpack files
    (FORMAT.md §2.1: strict, iterative, ``max_depth`` and ``max_header_nodes`` applied, sizes
    non-negative integers of at most 2^53-1), a repeated tensor name being DUPLICATE_NAME
    (Appendix C)."""
    try:
        return reference._parse_header_json(raw, limits["max_depth"], limits["max_header_nodes"])
    except NdpackError as ex:
        if ex.code == "DUPLICATE_KEY" and getattr(ex, "depth", None) == 1:
            raise NdpackError("DUPLICATE_NAME", f"the safetensors header names tensor {ex.key!r} "
                              "twice", array=ex.key) from None
        raise


class SafetensorsReader(Reader):
    """A .safetensors shard with the reader's interface (no CRC: ``verify`` checks nothing)."""

    @property
    def header(self) -> dict:
        """The safetensors header object, without its ``__metadata__``."""
        return self._header

    def _read_header(self, check_head) -> None:
        source, size = self._source, self.size
        prefix = source.read(0, min(size, FIRST_READ))
        if check_head is not None:
            check_head(self, prefix)
        if size < 8:
            raise NdpackError("TRUNCATED", f"{size} bytes is shorter than safetensors' 8")
        (length,) = struct.unpack("<Q", bytes(prefix[:8]))
        if length > self._limits["max_header_bytes"]:
            raise NdpackError("HEADER_TOO_LARGE", f"header of {length} bytes > max_header_bytes")
        if 8 + length > size:
            raise NdpackError("TRUNCATED", "the header ends after the end of the file")
        self.header_end = 8 + length
        head = prefix[:self.header_end] if len(prefix) >= self.header_end \
            else source.read(0, self.header_end)
        header = safetensors_header(bytes(head[8:]), self._limits)
        metadata = header.pop("__metadata__", {})
        if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
            raise NdpackError("HEADER_INVALID", "the safetensors __metadata__ is not an object of "
                              "strings")
        entries = []
        for name, t in header.items():
            if not (isinstance(t, dict) and isinstance(t.get("dtype"), str)
                    and isinstance(t.get("shape"), list) and isinstance(t.get("data_offsets"), list)
                    and len(t["data_offsets"]) == 2):
                raise NdpackError("HEADER_INVALID", f"tensor {name!r}: not an object of dtype (a "
                                  "string), shape and data_offsets (lists)", array=name)
            for d in t["shape"] + t["data_offsets"]:
                if type(d) is not int or d < 0:  # a number here is one under a key "metadata"
                    code = "BAD_NUMBER" if type(d) in (int, float) else "HEADER_INVALID"
                    raise NdpackError(code, f"tensor {name!r}: {d!r} is not a size", array=name)
            if t["dtype"] not in SAFETENSORS_DTYPES:
                raise NdpackError("UNKNOWN_DTYPE", f"dtype {t.get('dtype')!r}", array=name)
            dtype = SAFETENSORS_DTYPES[t["dtype"]]
            begin, end = t["data_offsets"]
            nbytes = math.prod(t["shape"]) * reference.DTYPES[dtype][0]
            if end - begin != nbytes:
                raise NdpackError("SIZE_MISMATCH", f"tensor {name!r}", array=name)
            if self.header_end + end > size:
                raise NdpackError("OUT_OF_BOUNDS", f"tensor {name!r}", array=name)
            entries.append(ArrayInfo(name, dtype, tuple(t["shape"]), "C", "little", "none", begin,
                                     nbytes, nbytes, self.header_end + begin))
        entries.sort(key=lambda e: e.start)
        for before, after in zip(entries, entries[1:]):
            if after.start < before.start + before.byte_length:
                raise NdpackError("OVERLAP", f"tensor {after.name!r}", array=after.name)
        self._header, self.metadata, self.version = header, metadata, None
        self.alignment, self.checksum, self.data_end = None, "none", size
        self._entries = entries
        self._index = {e.name: i for i, e in enumerate(entries)}

    def _record_end(self, e: ArrayInfo) -> int:
        return e.start + e.byte_length  # no padding rule between safetensors' tensors


# --------------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------------

def _read_index(location, storage_options) -> bytes:
    if is_url(location):
        source = open_source(location, storage_options)
        return bytes(source.read(0, source.size))
    with open(location, "rb") as fh:
        return fh.read()


class SetReader(Mapping):
    """A sharded set opened by ``ndpack.open(index)``: the reader interface over every shard.

    ``metadata`` is the index's user metadata (without ``total_size``, which is ``total_size``);
    ``shards`` lists the shard file names; ``shard_of(name)`` names the shard holding an array."""

    def __init__(self, location, *, storage_options=None, raw_bits=False,
                 max_index_bytes=DEFAULT_MAX_INDEX_BYTES, **limits):
        self.location = location if is_url(location) else os.fspath(location)
        self._options = dict(storage_options=storage_options, raw_bits=raw_bits, **limits)
        self._max_index_bytes = max_index_bytes
        checked = reference._check_limits(limits)
        metadata, self._weight_map, self._shard_records = parse_index(
            _read_index(self.location, storage_options), max_index_bytes=max_index_bytes,
            **{k: checked[k] for k in ("max_depth", "max_arrays", "max_name_bytes")})
        self.metadata = {k: v for k, v in metadata.items() if k != "total_size"}
        self.total_size = metadata.get("total_size")
        self.shards = list(dict.fromkeys(self._weight_map.values()))
        self._readers: dict[str, Reader] = {}
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
        return f"<ndpack.SetReader {self.location!r}: {len(self)} arrays in {len(self.shards)} shards>"

    def __reduce__(self):
        return _reopen_set, (self.location, {**self._options,
                                              "max_index_bytes": self._max_index_bytes})

    def shard_location(self, shard: str) -> str:
        if is_url(self.location):
            return posixpath.join(self.location.rsplit("/", 1)[0], quote(shard))
        return os.path.join(os.path.dirname(self.location), shard)

    def shard_of(self, name: str) -> str:
        try:
            return self._weight_map[name]
        except (KeyError, TypeError):
            raise reference._NotFound("NOT_FOUND", f"no array named {name!r}", array=name) \
                from None

    def shard(self, shard: str) -> Reader:
        """The reader of ``shard``, opened and checked against the index on first use; CLOSED
        once the set reader is closed (no shard is opened again)."""
        if self.closed:
            raise NdpackError("CLOSED", f"{self.location}: the set reader is closed")
        if shard in self._readers:
            return self._readers[shard]
        location = self.shard_location(shard)
        options = dict(self._options)
        storage_options = options.pop("storage_options")
        reader_class = SafetensorsReader if shard.endswith(".safetensors") else Reader
        try:
            source = open_source(location, storage_options)
        except FileNotFoundError as ex:
            code = "HTTP_ERROR" if location.startswith(("http://", "https://")) else "IO_ERROR"
            raise NdpackError(code, f"shard {shard!r} of the set is missing ({ex})") from ex
        try:
            reader = reader_class(source, storage_options=storage_options,
                                  check_head=self._head_check(shard), **options)
            self._check_names(shard, reader)
        except BaseException:
            source.close()
            raise
        self._readers[shard] = reader
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
            cap = reader._limits["max_header_bytes"]
            if length > cap:
                raise NdpackError("HEADER_TOO_LARGE", f"shard {shard!r}: header of {length} "
                                  f"bytes > max_header_bytes={cap}")
            end = need + length
            if end > size:
                raise changed(f"its header would end at byte {end}, past its end at {size}")
            head = prefix[:end] if len(prefix) >= end else reader._source.read(0, end)
            if zlib.crc32(head) != expected["header_crc32"]:
                raise changed("its header's CRC-32 differs")
        return check

    def _check_names(self, shard: str, reader: Reader) -> None:
        for name in reader:
            owner = self._weight_map.get(name)
            if owner != shard:
                where = "is not in the index" if owner is None else f"is mapped to {owner!r}"
                raise _invalid(f"array {name!r} of shard {shard!r} {where}")
        for name, owner in self._weight_map.items():
            if owner == shard and name not in reader:
                raise _invalid(f"the index maps {name!r} to shard {shard!r}, which does not "
                               "hold it")

    def reader_of(self, name: str) -> Reader:
        return self.shard(self.shard_of(name))

    def info(self, name: str) -> ArrayInfo:
        return self.reader_of(name).info(name)

    def read(self, name: str, **options) -> np.ndarray:
        return self.reader_of(name).read(name, **options)

    def read_rows(self, name: str, start=None, stop=None, **options) -> np.ndarray:
        return self.reader_of(name).read_rows(name, start, stop, **options)

    def verify(self) -> list[dict]:
        """Open every shard and check every record; one report per array, plus one per shard that
        cannot be opened: ``{"shard", "name" (None for a shard), "ok", "error"}``."""
        if self.closed:
            raise NdpackError("CLOSED", f"{self.location}: the set reader is closed")
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
        """Close every shard opened; reading afterwards is CLOSED."""
        self.closed = True
        for reader in self._readers.values():
            reader.close()
        self._readers.clear()

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
    base = os.path.basename(index_path)
    for suffix in (NDPACK_INDEX_SUFFIX, INDEX_SUFFIX):
        if base.endswith(suffix) and len(base) > len(suffix):
            return base[: -len(suffix)]
    raise NdpackError("INVALID_ARGUMENT", f"a set's index is named <stem>{NDPACK_INDEX_SUFFIX}, "
                      f"not {base!r}")


def _block(lines: list[str], indent: str) -> str:
    return "{\n" + ",\n".join(f"{indent}  {line}" for line in lines) + f"\n{indent}}}" \
        if lines else "{}"


def index_head(metadata: Mapping, weight_map: dict) -> str:
    """The index's text up to its ``ndpack`` section, laid out as the TypeScript writer lays it out
    (one array a line). ``metadata`` goes through ``save``'s writer of metadata: what ``save``
    refuses is refused here (INVALID_ARGUMENT), an int beyond 2**53-1 is the double it equals."""
    lines = [f"{reference._json_string(name)}: {reference._json_string(shard)}"
             for name, shard in weight_map.items()]
    return (f"{{\n  \"metadata\": {reference._json_metadata(metadata, 2)},\n"
            f"  \"weight_map\": {_block(lines, '  ')}")


class SetWriter:
    """Writes a sharded set: arrays declared up front as ``(name, dtype, shape)``, split in order
    into shards of at most ``max_shard_size`` payload bytes (one array per shard at least), then
    written row by row in order, as with ``Writer`` (an array of 0 bytes takes no write; it joins
    the current shard, FORMAT.md §12.4). ``close`` renames the shards into place and
    writes the index last; the previous generation's shards are then removed. Options:
    ``metadata`` (the set's, in the index; the key ``total_size`` is the writer's), ``alignment``,
    ``byte_order``, ``checksum`` (for every shard)."""

    def __init__(self, index_path, arrays, *, metadata=None, max_shard_size=DEFAULT_MAX_SHARD_SIZE,
                 **file_options):
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
        self._closed = False

    def _next_shard(self) -> None:
        if self._writer is not None:
            self._writer.close(rename=False)
            self._done.append((self._plan[self._shard][0], self._writer))
            self._writer = None
        self._shard += 1
        if self._shard < len(self._plan):
            name, declared = self._plan[self._shard]
            self._writer = Writer(os.path.join(os.path.dirname(self.index_path), name), declared,
                                  **self._file_options)

    def write(self, name: str, rows) -> None:
        """Append ``rows`` to array ``name``, as ``Writer.write``."""
        if self._closed:
            raise NdpackError("CLOSED", "the writer is closed")
        target = self._shard_index.get(name)
        if target is None:
            raise NdpackError("INVALID_ARGUMENT", f"array {name!r} was not declared", array=name)
        if target < self._shard:
            raise NdpackError("INVALID_ARGUMENT", f"array {name!r} written after the arrays "
                              "declared after it (arrays are written in declared order)",
                              array=name)
        try:
            while self._shard < target:
                if self._writer is not None and self._writer.pending is not None:
                    raise out_of_order(name, self._writer.pending)
                self._next_shard()
            self._writer.write(name, rows)
        except BaseException:
            self.abort()
            raise

    def close(self) -> None:
        """Finish every shard (WRITE_SIZE if one is incomplete), rename them into place, write
        the index, then remove the previous generation's shards."""
        if self._closed:
            return
        try:
            while self._shard < len(self._plan):
                self._next_shard()
        except BaseException:
            self.abort()
            raise
        self._closed = True
        folder = os.path.dirname(self.index_path)
        for _, writer in self._done:
            writer.rename_into_place()
        fsync_dir(folder)
        old_shards = self._current_shards()
        shards = [f"{reference._json_string(name)}: {{\"size\":{writer.size},"
                  f"\"header_crc32\":{writer.header_crc32}}}" for name, writer in self._done]
        text = (f"{self._index_head},\n  \"ndpack\": {{\n    \"version\": {SET_INDEX_VERSION},\n"
                f"    \"shards\": {_block(shards, '    ')}\n  }}\n}}\n")
        with AtomicFile(self.index_path) as out:
            out.write(text.encode("utf-8"))
            out.commit()
        for shard in old_shards - set(self._weight_map.values()):
            try:
                os.unlink(os.path.join(folder, shard))
            except FileNotFoundError:
                pass

    def _current_shards(self) -> set[str]:
        """The shards of the index being replaced (none when there is none, or it is unreadable)."""
        try:
            with open(self.index_path, "rb") as fh:
                return set(parse_index(fh.read())[1].values())
        except (OSError, NdpackError):
            return set()

    def abort(self) -> None:
        """Give up: remove every temporary shard; the existing set is untouched."""
        self._closed = True
        if self._writer is not None:
            self._writer.abort()
        for _, writer in self._done:
            writer.abort()

    def __enter__(self):
        return self

    def __exit__(self, kind, *exc):
        if kind is None:
            self.close()
        else:
            self.abort()


def save_set(index_path, arrays, *, metadata=None, max_shard_size=DEFAULT_MAX_SHARD_SIZE,
             **file_options) -> None:
    """Write ``arrays`` (a dict, or ``(name, array)`` pairs) as a sharded set (see SetWriter)."""
    # np.asarray, not np.ascontiguousarray: that one makes a 0-d array 1-d
    pairs = [(name, np.asarray(a, order="C")) for name, a in reference._pairs(arrays)]
    declared = [(name, a.dtype, a.shape) for name, a in pairs]
    with SetWriter(index_path, declared, metadata=metadata, max_shard_size=max_shard_size,
                   **file_options) as writer:
        for name, a in pairs:
            if a.nbytes:  # an array of 0 bytes is complete as declared: it takes no write
                writer.write(name, a)


