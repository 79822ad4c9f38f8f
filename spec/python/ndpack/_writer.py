"""The streaming writer: declare the arrays, then write their rows in order, or at their place.

Uncompressed records have sizes known from dtype and shape, so the header (FORMAT.md sections 4
and 8, laid out by the reference's ``layout``) is written first and every payload is streamed after
it with its CRC-32 computed on the way: memory holds one chunk, never the file. The same sizes
put every row at a known place, so rows can also be written there by many threads or processes
at once, in any order (``Writer.reserve``, ``write_rows_at``: how ``ndpack.dask.to_ndpack``
writes), their CRC-32s combined into each record's at the end (``Writer.complete``)."""

from __future__ import annotations

import math
import os
import zlib
from typing import NamedTuple

import numpy as np

from . import reference
from ._crc32 import crc32, crc32_combine
from ._io import AtomicFile, io_error, write_at
from .reference import DTYPES, NdpackError


def declared_dtype(dtype) -> str:
    """An ndpack dtype name from a name or anything ``np.dtype`` accepts; anything else (a name
    of no dtype, a numpy dtype ndpack has not: ``float128``) is UNKNOWN_DTYPE, as TypeScript's
    ``createWriter`` and ``createSetWriter`` refuse a dtype they do not know."""
    if isinstance(dtype, str) and dtype in DTYPES:
        return dtype
    try:
        return reference._ndpack_dtype(np.dtype(dtype))
    except (TypeError, NdpackError):
        raise NdpackError("UNKNOWN_DTYPE", f"unknown dtype {dtype!r}") from None


def declared_entries(arrays, byte_order: str) -> list[dict]:
    """Header entries (with ``byteLength``) for ``(name, dtype, shape)`` declarations."""
    entries, seen = [], set()
    for declaration in arrays:
        try:
            name, dtype, shape = declaration
        except (TypeError, ValueError):
            raise NdpackError("INVALID_ARGUMENT", "declare arrays as (name, dtype, shape)") \
                from None
        reference._check_name(name, seen)
        dtype = declared_dtype(dtype)
        size = DTYPES[dtype][0]
        shape = reference._check_shape(name, shape, size)  # BAD_SHAPE, as save refuses it
        entries.append({"name": name, "dtype": dtype, "shape": shape, "order": "C",
                        "byteOrder": "big" if byte_order == "big" and size > 1 else "little",
                        "codec": "none", "byteLength": math.prod(shape) * size})
    return entries


def check_rows_dtype(name: str, given: np.dtype, declared: str) -> None:
    """Rows written to an array declared ``declared`` must be of that dtype, in either byte order
    (INVALID_ARGUMENT otherwise: their bits are never reinterpreted as another dtype's, nor cast).
    The one other form accepted is the raw bits of bfloat16 and the float8 types (``uint16``,
    ``uint8``), the form in which they are read with ``raw_bits=True``."""
    try:
        actual = reference._ndpack_dtype(given)
    except NdpackError:
        actual = None
    size, _, _, ml_name = DTYPES[declared]
    if actual == declared or (ml_name is not None and given.kind == "u"
                              and given.itemsize == size):
        return
    raise NdpackError("INVALID_ARGUMENT", f"array {name!r} is declared {declared}: rows of numpy "
                      f"dtype {given} are not written as {declared} (convert them with astype)",
                      array=name)


#: How rows are stored: C order, uncompressed, in the byte order of their entry.
_ROW_OPTIONS = {"byte_order": "little", "codec": "none", "compression_level": 6, "order": None}


def checked_rows(e: dict, rows) -> np.ndarray:
    """``rows`` for the array of entry ``e`` as an array: rows of another dtype are
    INVALID_ARGUMENT (``check_rows_dtype``)."""
    rows = reference._as_array(e["name"], rows)
    check_rows_dtype(e["name"], rows.dtype, e["dtype"])
    return rows


def stored_rows(e: dict, rows: np.ndarray, first_row: int) -> tuple[bytes, int]:
    """The stored bytes of ``rows`` (from ``checked_rows``) of the array of entry ``e``, put after
    its first ``first_row`` rows, and how many rows they are: rows that do not fit the declared
    shape there are WRITE_SIZE."""
    name = e["name"]
    spec = {"data": rows, "dtype": e["dtype"], "order": "C", "byte_order": e["byteOrder"]}
    entry, stored = reference._array_bytes(name, spec, _ROW_OPTIONS)
    shape = entry["shape"]
    fits = shape == e["shape"] and first_row == 0 if not e["shape"] else (
        len(shape) == len(e["shape"]) and shape[1:] == e["shape"][1:]
        and first_row + shape[0] <= e["shape"][0])
    if not fits:
        raise NdpackError("WRITE_SIZE", f"array {name!r}: rows of shape {shape} do not fit "
                          f"shape {e['shape']} after {first_row} rows", array=name)
    return stored, shape[0] if shape else 1


class Place(NamedTuple):
    """Where an array's payload is in a reserved file (``Writer.reserve``): the file's path, where
    the payload starts in it, and the array's header entry."""

    path: str
    start: int
    entry: dict


def write_rows_at(place: Place, first_row: int, rows) -> tuple[int, int, int]:
    """Write ``rows`` of ``place``'s array after its first ``first_row`` rows, at their place in
    the file (``checked_rows``' and ``stored_rows``' refusals first), from any thread or process.
    Returns where they start in the payload, their CRC-32 and their length, for
    ``Writer.complete``."""
    stored, _ = stored_rows(place.entry, checked_rows(place.entry, rows), first_row)
    shape = place.entry["shape"]
    offset = first_row * (place.entry["byteLength"] // shape[0]) if shape and shape[0] else 0
    if stored:
        write_at(place.path, place.start + offset, stored)
    return offset, crc32(stored), len(stored)


#: The options of ``Writer``.
WRITER_OPTIONS = ("metadata", "alignment", "byte_order", "checksum", "follow_symlinks")


def out_of_order(name: str, pending: str) -> NdpackError:
    """WRITE_SIZE, as TypeScript's writers say when an earlier array is still incomplete."""
    return NdpackError("WRITE_SIZE", f"array {name!r} written while {pending!r} is "
                       "incomplete (arrays are written whole, in declared order)", array=name)


def not_declared(name: str) -> NdpackError:
    """NOT_FOUND, as TypeScript's writers say of a name that was not declared."""
    return NdpackError("NOT_FOUND", f"array {name!r} was not declared", array=name)


class WriterState:
    """Whether a streaming writer is open, closed or failed, as TypeScript's ``WriterCalls``
    (src/node/writer-calls.ts): its first failure (a refused call, an I/O error, ``abort``) ends
    it, and every later call raises that failure; once closed, calls are CLOSED."""

    def __init__(self, what: str):
        self.what = what
        self.closed = False  # by close(), or by the failure
        self.failure: BaseException | None = None

    def check_open(self) -> None:
        """Raise the failure, or CLOSED once the writer is closed."""
        if self.failure is not None:
            raise self.failure
        if self.closed:
            raise NdpackError("CLOSED", f"{self.what} is closed")

    def run(self, work, fail):
        """``work()`` once the writer is checked open (``check_open``); an error of it is handed to
        ``fail``, which ends the writer, then raised."""
        self.check_open()
        try:
            return work()
        except BaseException as ex:
            fail(ex)
            raise

    def fail(self, error: BaseException) -> None:
        """End the writer with ``error``, unless it is closed or has failed already."""
        if not self.closed:
            self.failure = error
        self.closed = True


class Writer:
    """Writes an ndpack file whose arrays are declared up front and written row by row.

    >>> with ndpack.Writer("big.ndp", [("x", "float32", (1_000_000, 256))]) as w:
    ...     for block in blocks:            # arrays of shape (rows, 256), in order
    ...         w.write("x", block)

    ``arrays``: ``(name, dtype, shape)`` triples, in file order; dtype is an ndpack name or a numpy
    dtype. Arrays are C-order and uncompressed (their sizes must be known before their bytes).
    ``write(name, rows)`` appends rows (an array whose shape is the declared one with any first
    dimension; a 0-d array is written in one piece) to the array being written: arrays are written
    in declared order, each completely. Rows are of the declared dtype (either byte order; for
    bfloat16 and the float8 types, their ml_dtypes dtype or their raw bits, ``uint16``/``uint8``):
    anything else is INVALID_ARGUMENT, never converted. A name that was not declared is NOT_FOUND;
    another than the array being written (a later one while it is incomplete, an earlier one, which
    is complete), WRITE_SIZE, as in TypeScript's ``createWriter``. Rows of no bytes for the array
    being written or an earlier one are nothing to write (a zero-size array is complete as
    declared). As TypeScript's writer, the first error of a ``write`` or ``close`` (a refusal, an
    I/O error) aborts the writer: the temporary file is removed, and every later ``write`` and
    ``close`` raises that same error (after ``abort()``, CLOSED), so a file is never completed
    around a refused call. A declared shape ``save`` would refuse is BAD_SHAPE. Options:
    ``metadata``, ``alignment``, ``byte_order``, ``checksum``, as for ``save``; the bytes are those
    ``save`` writes for the same arrays.

    ``file`` is a path (written under a temporary name, fsynced and renamed into place by
    ``close``, as ``save`` does: NOT_REGULAR_FILE for a symbolic link unless ``follow_symlinks``)
    or a writable binary file object. ``close`` fails with WRITE_SIZE, and leaves no file, when an
    array is incomplete; leaving the ``with`` block on an exception removes the temporary file. A
    path that cannot be written (a missing folder, a full disk) is IO_ERROR, the OSError as its
    cause, and leaves no file either.
    After ``close``, ``size`` and ``header_crc32`` describe the file. Instead of ``write``, rows
    can be written at their place, in any order, by other threads or processes: ``reserve``,
    ``write_rows_at``, ``complete``, then ``close``."""

    def __init__(self, file, arrays, *, metadata=None, alignment=64, byte_order="little",
                 checksum="crc32", follow_symlinks=False, **unknown):
        reference._check_option_names(unknown, WRITER_OPTIONS, "Writer")
        reference._check_file_options(alignment, byte_order, checksum, metadata)
        self._entries = declared_entries(arrays, byte_order)
        self._index_of = {e["name"]: i for i, e in enumerate(self._entries)}
        head = reference.layout(self._entries, alignment=alignment, checksum=checksum,
                                metadata=metadata)
        header_length = int.from_bytes(head[12:16], "little")
        self.header_crc32 = zlib.crc32(head[: reference.PREAMBLE_SIZE + header_length])
        self._crc_bytes = 4 if checksum == "crc32" else 0
        if not hasattr(file, "write"):
            check_ndpack_name(file)
        self._atomic = None if hasattr(file, "write") \
            else AtomicFile(file, follow_symlinks=follow_symlinks)
        self._out = file if self._atomic is None else self._atomic
        self._data_start = len(head)
        self.size = self._data_start + (self._entries[-1]["offset"] + self._entries[-1]["byteLength"]
                                        + self._crc_bytes if self._entries else 0)
        self._current = 0  # index of the array being written
        self._rows = 0  # rows of it written
        self._written = 0  # bytes of it written
        self._crc = 0
        self._state = WriterState("the writer")
        try:
            self._out.write(head)
            self._finish_empty()
        except BaseException:
            self.abort()
            raise

    @property
    def names(self) -> list[str]:
        return [e["name"] for e in self._entries]

    @property
    def pending(self) -> str | None:
        """The name of the array being written, or None when every array is complete."""
        return self._entries[self._current]["name"] if self._current < len(self._entries) else None

    def _finish_empty(self) -> None:
        """Complete the arrays of zero bytes at the cursor: they need no ``write``."""
        while self._current < len(self._entries) and self._entries[self._current]["byteLength"] == 0:
            self._finish_record()

    def _finish_record(self) -> None:
        e = self._entries[self._current]
        tail = self._crc.to_bytes(4, "little") if self._crc_bytes else b""
        end = e["offset"] + e["byteLength"] + self._crc_bytes
        self._current += 1
        if self._current < len(self._entries):
            tail += bytes(self._entries[self._current]["offset"] - end)
        self._out.write(tail)
        self._rows = self._written = self._crc = 0

    def write(self, name: str, rows) -> None:
        """Append ``rows`` to array ``name`` (the one being written). An error aborts the writer."""
        self._state.run(lambda: self._write(name, rows), self._fail)

    def _fail(self, error: BaseException) -> None:
        """Abort the writer with ``error`` (see ``WriterState``): remove the temporary file."""
        self._state.fail(error)
        if self._atomic is not None:
            self._atomic.abort()

    def _write(self, name: str, rows) -> None:
        index = self._index_of.get(name)
        if index is None:
            raise not_declared(name)
        if self._out is None:
            raise NdpackError("INVALID_ARGUMENT", "a reserved writer's rows are written at their "
                              "place (write_rows_at)")
        e = self._entries[index]
        rows = checked_rows(e, rows)
        if rows.size == 0 and index <= self._current:
            return  # no bytes for an array being written or complete: nothing to write
        if index < self._current:
            raise NdpackError("WRITE_SIZE", f"array {name!r} has all its rows already",
                              array=name)
        if index > self._current:
            raise out_of_order(name, self._entries[self._current]["name"])
        stored, count = stored_rows(e, rows, self._rows)
        self._out.write(stored)
        self._crc = crc32(stored, self._crc)
        self._rows += count
        self._written += len(stored)
        if self._written == e["byteLength"]:
            self._finish_record()
            self._finish_empty()

    def reserve(self) -> list[Place]:
        """Switch to writing by place, before any ``write``: the file (a path's) gets its full
        size, every byte not written yet a zero (as padding is), and is closed. Each array's rows
        are then written at their place (``write_rows_at`` with the array's ``Place``, returned
        here in file order), by any thread or process, in any order, and the writer can be
        pickled to one of them; ``complete`` then checks the parts and stores each CRC-32, and
        ``close`` makes the file durable and renames it, as after ``write``. An error aborts the
        writer (its temporary file is removed)."""
        return self._state.run(self._reserve, self._fail)

    def _reserve(self) -> list[Place]:
        if self._atomic is None:
            raise NdpackError("INVALID_ARGUMENT", "a writer of a file object writes in order: "
                              "reserve is for a path")
        if self._current != next((i for i, e in enumerate(self._entries) if e["byteLength"]),
                                 len(self._entries)) or self._written:
            raise NdpackError("INVALID_ARGUMENT", "reserve comes before any write")
        try:
            self._atomic.file.truncate(self.size)
        except OSError as ex:
            raise io_error("set the size of", self._atomic.temp, ex) from ex
        self._atomic.detach()
        self._out = None  # every later byte is written by place
        return [Place(self._atomic.temp, self._data_start + e["offset"], e) for e in self._entries]

    def complete(self, parts) -> None:
        """After ``reserve`` and the writes by place: ``parts`` maps each array's name to what
        ``write_rows_at`` returned for each of its parts, in any order. Unless they tile its
        payload exactly (WRITE_SIZE), the writer is aborted; else their CRC-32s make the
        payload's, which is stored after it. Every array is then complete."""
        self._state.run(lambda: self._complete(parts), self._fail)

    def _complete(self, parts) -> None:
        if self._out is not None:
            raise NdpackError("INVALID_ARGUMENT", "complete comes after reserve")
        for e in self._entries:
            crc = end = 0
            for offset, part_crc, length in sorted(parts.get(e["name"], ())):
                if offset != end:  # a gap before the part, or an overlap
                    end = -1
                    break
                crc, end = crc32_combine(crc, part_crc, length), end + length
            if end != e["byteLength"]:
                raise NdpackError("WRITE_SIZE", f"array {e['name']!r}: its parts do not tile "
                                  f"its {e['byteLength']} bytes once each", array=e["name"])
            if self._crc_bytes:
                write_at(self._atomic.temp, self._data_start + e["offset"] + end,
                         crc.to_bytes(4, "little"))
        self._current = len(self._entries)

    def close(self, *, rename: bool = True) -> None:
        """Check that every array is complete (WRITE_SIZE otherwise), then make the file durable
        and, for a path, rename it into place (``rename=False``: the caller renames; see sets).
        Again after it succeeded, nothing; after the writer was aborted, its error."""
        if self._state.failure is not None:
            raise self._state.failure
        if self._state.closed:
            return
        try:
            if self._current < len(self._entries):
                e = self._entries[self._current]
                raise NdpackError("WRITE_SIZE", f"array {e['name']!r}: {self._written} of "
                                  f"{e['byteLength']} bytes written", array=e["name"])
            if self._atomic is not None:
                self._atomic.commit(rename=rename)
            elif hasattr(self._out, "flush"):
                self._out.flush()
        except BaseException as ex:
            self._fail(ex)
            raise
        self._state.closed = True

    def rename_into_place(self) -> None:
        """After ``close(rename=False)``: rename the temporary file to the path."""
        self._atomic.rename_into_place()

    def abort(self) -> None:
        """Give up: remove the temporary file (a file object is left as it is); later calls are
        CLOSED. After ``close`` it only removes the temporary file ``close(rename=False)`` left."""
        self._fail(NdpackError("CLOSED", "the writer was aborted"))

    def __enter__(self):
        return self

    def __exit__(self, kind, *exc):
        if kind is None:
            self.close()
        else:
            self.abort()


#: Extensions of formats that ndpack for Python reads (``ndpack.open``) but does not write: a file of ndpack bytes under such a name misleads every program that opens it.
FOREIGN_EXTENSIONS = (".safetensors", ".npy", ".npz")


def check_ndpack_name(path) -> None:
    """INVALID_ARGUMENT when ``path``'s name ends in another format's extension (any case), or in
    a set index's ``.index.json`` (which ``ndpack.open`` reads as a set)."""
    name = os.fsdecode(os.fspath(path)).lower()
    if name.endswith(".index.json"):
        raise NdpackError("INVALID_ARGUMENT", f"{os.fsdecode(os.fspath(path))} is a set index's "
                          "name (ndpack.open reads it as one): save_set writes sets")
    for extension in FOREIGN_EXTENSIONS:
        if name.endswith(extension):
            raise NdpackError("INVALID_ARGUMENT", f"{os.fsdecode(os.fspath(path))}: ndpack writes "
                              f"ndpack files (.ndp), not {extension} files; write {extension} "
                              f"with {'safetensors' if extension == '.safetensors' else 'numpy'}")


def save_atomic(path, chunks, *, follow_symlinks: bool = False) -> None:
    """Write ``chunks`` to ``path`` atomically: temporary file, fsync, rename, folder fsync (see
    ``AtomicFile`` for the targets refused and the permission bits kept). A name of another format
    (``check_ndpack_name``) is INVALID_ARGUMENT."""
    check_ndpack_name(path)
    with AtomicFile(path, follow_symlinks=follow_symlinks) as out:
        for chunk in chunks:
            out.write(chunk)
        out.commit()

