"""ndpack: named n-dimensional arrays in one self-describing binary file.

This module is the Python reference implementation of the ndpack format: FORMAT.md specification
1.2.1 (``SPEC_VERSION``), which describes file format version 1.0 (``VERSION``). It was written
from ``FORMAT.md`` alone (the normative specification, which it cites by section), depends on numpy
only, and is one file: copy it into a project. It is also the core of the installable ``ndpack``
package (``pip install ./spec/python``: ``ndpack/__init__.py`` adds memory-mapped and remote reads,
atomic and streaming writes, sharded sets and Dask on top of it), importable as ``ndpack.reference``.

Reading
-------
>>> import ndpack
>>> f = ndpack.load("weights.ndp")             # parses and validates the header only
>>> f.names                                    # ['layer.0.weight', 'layer.0.bias', ...]
>>> f.metadata                                 # the user's JSON object, as Python values
>>> w = f["layer.0.weight"]                    # an np.ndarray VIEW of the file's bytes (no copy)
>>> f.info("layer.0.weight")                   # ArrayInfo(name, dtype, shape, order, byte_order, ...)

``load(source, *, mmap=False, verify=False, copy=None, raw_bits=False, <limits>)``
    ``source`` is a path (``str`` / ``os.PathLike``), or any object exposing the buffer protocol
    (``bytes``, ``bytearray``, ``memoryview``, ``mmap.mmap``, a ``uint8`` ndarray). A path is read
    into memory, or memory-mapped read-only when ``mmap=True``. ``loads(buffer, ...)`` is the same
    for a buffer. Every check of FORMAT.md section 9 that does not read payload bytes (steps 1 to 21)
    runs here, so an invalid file fails at once, with the code of the first failing check.

    ``verify=True`` also checks every payload's CRC-32 and the zero padding after it (step 22)
    before returning, in file order; otherwise they are checked only on request
    (``NdpackFile.verify()``, module-level ``verify()``, or ``read(name, verify=True)``).

The returned ``NdpackFile`` is a read-only mapping from names (in file order) to arrays, with
``names``, ``metadata``, ``version`` (``(1, minor)``), ``alignment``, ``checksum``, ``size``,
``info(name)``, ``read(name, *, copy=..., verify=...)``, ``verify()`` and ``close()`` (it is also a
context manager). Looking up a missing name raises ``NdpackError`` with code ``NOT_FOUND``, which is
also a ``KeyError``, so ``f.get(name)`` and ``name in f`` behave as for a dict.

What an array is, and when it is a copy
---------------------------------------
An uncompressed array is ``np.frombuffer(buffer, dtype, count, offset).reshape(shape, order=order)``:
a view of the caller's buffer (or of the mmap), read-only when the buffer is. numpy accepts
unaligned data, so a view is possible at any address. ``order`` is the file's memory order: an
``"F"`` array is returned F-contiguous, with the shape of the file.

Byte order: a big-endian payload is returned as a view with a non-native dtype (``>f4``, ``>i8``,
``>c16``...), exactly as numpy itself represents such data: values are right, no byte is copied.
Call ``a.astype(a.dtype.newbyteorder("="))``, or pass ``copy=True``, for native byte order.
The exception is ``bfloat16`` stored in the other byte order than the machine's (big-endian, on the
usual little-endian machines) when ml_dtypes is used: ml_dtypes' types have no usable non-native
form, so those arrays are copied into native order, the one case where byte order forces a copy.

The ``copy`` option follows numpy's convention:

- ``copy=None`` (default): a view when possible; compressed arrays are decoded into new,
  writable memory.
- ``copy=True``: always new, writable memory, in native byte order.
- ``copy=False``: never copy; an array that cannot be a view (compressed, or big-endian bfloat16
  with ml_dtypes) raises ``NdpackError("COPY_REQUIRED")``.

Dtypes (FORMAT.md section 3) map to numpy dtypes: ``bool``, ``int8`` ... ``uint64``, ``float16``,
``float32``, ``float64``, ``complex64``, ``complex128``. ``bfloat16``, ``float8_e4m3fn`` and
``float8_e5m2`` use ml_dtypes' dtypes (the ``ml_dtypes`` package, imported lazily, the first time one
of these arrays is read); with ``raw_bits=True`` those arrays are returned as their raw bits:
``uint16`` for bfloat16, ``uint8`` for the float8 types. Without ml_dtypes, reading one of them
without ``raw_bits=True`` is INVALID_ARGUMENT naming the package to install (as ``safetensors``
refuses bfloat16 for numpy), never its bits under a dtype that depends on what is installed; the
file's other arrays read as ever.
``info(name).dtype`` always gives the ndpack dtype name. A ``bool`` payload is viewed as numpy
``bool``; a writer stores only 0 and 1, and readers must not reject other bytes (section 3): this one
leaves them as they are (numpy reads a non-zero byte as true), and its writer refuses them.

Limits (FORMAT.md section 7), keyword arguments of ``load``/``loads``/``verify``:
``max_header_bytes`` (100 MiB), ``max_header_nodes`` (1,000,000 JSON values), ``max_depth`` (64, at
most 1000), ``max_arrays`` (100,000),
``max_dims`` (64), ``max_name_bytes`` (4096), ``max_decoded_bytes`` (1 GiB). A file that claims
more fails before anything is allocated. numpy itself cannot represent more than 64 dimensions,
nor a zero-size array whose other dimensions multiply beyond 2**63: such a (valid) file loads, but
reading that array raises ``ValueError``. Reading from a closed file is ``CLOSED``.

Writing
-------
>>> ndpack.save("out.ndp", {"w": w, "b": b}, metadata={"step": 1000})
>>> data = ndpack.dumps([("w", w), ("b", b)], codec="shuffle+deflate")

``save(file, arrays, **options)`` writes to a path or a writable binary file object;
``dumps(arrays, **options) -> bytes``. ``arrays`` is a dict (insertion order is file order), any
mapping, or a list of ``(name, array)`` pairs. An array is anything ``np.asarray`` accepts (views of
any strides, memmaps, numpy scalars, lists, ``np.matrix``: the values ``np.save`` writes), or a
dict ``{"data": array, "dtype": ..., "order": ..., "codec": ..., "byte_order": ...}`` to override,
for that array. Data of a dtype ndpack has not (strings, datetime64, objects, records, longdouble)
and masked arrays (a file holds no mask; ``np.save`` drops it) are INVALID_ARGUMENT naming the array:

- ``dtype``: an ndpack dtype name; the data's bits are reinterpreted, which must have the same
  item size and word size (e.g. ``{"data": bits_uint16, "dtype": "bfloat16"}`` writes bfloat16
  without ml_dtypes). Without it the dtype follows the numpy dtype.
- ``order``: ``"C"`` or ``"F"``. Without it (and without the ``order`` option), ``"F"`` is used for
  an array that is F-contiguous and not C-contiguous (as ``np.save`` does), ``"C"`` otherwise.
- ``codec``, ``byte_order``: as the options of the same names, for this array. As in the
  TypeScript API, a ``codec`` of ``"none"`` leaves the choice to the ``codec`` option (so arrays
  read from a file can be re-encoded compressed); an array stored raw in a compressed file is one
  that compression does not make smaller.

Options: ``metadata`` (a dict of JSON values: ``dict`` with ``str`` keys, ``list``/``tuple``,
``str``, ``int``, ``float``, ``bool``, ``None``, numpy scalars; default ``{}``), ``alignment``
(power of two from 8 to 65536, default 64), ``byte_order`` (``"little"`` default, or ``"big"``;
1-byte dtypes are always written ``"little"``), ``checksum`` (``"crc32"`` default, or ``"none"``),
``codec`` (``"none"`` default, ``"deflate"``, ``"shuffle+deflate"``), ``compression_level`` (0 to 9,
default 6), ``order`` (``None`` default as above, or ``"C"``/``"F"`` for every array).

Output is canonical (FORMAT.md section 8): byte-identical to the TypeScript writer's for the same
arrays, options and metadata, except for the bytes of compressed payloads (deflate implementations
differ; the decoded bytes do not). Metadata numbers are written as ECMAScript writes them
(``1e-7``, ``1e+21``, ``100`` for ``100.0``, ``-0``); an ``int`` above 2**53-1 in magnitude is
written as the double it equals (``1.152921504606847e+18`` for ``2**60``) and must equal one
exactly. NaN and infinities cannot be written. An array asked to be compressed is stored without a
codec when compression does not make it smaller (section 5).

Reading metadata: JSON integers become ``int`` (they are at most 2**53-1 in magnitude), other
numbers ``float``, and ``-0`` becomes ``-0.0`` so that it is written back as ``-0``.

Verifying
---------
``verify(source, **limits)`` never raises for a bad file; it returns
``{"ok": bool, "error": None | {"code", "message"}, "checksum": "crc32" | "none" | None,
"arrays": [{"name", "ok", "error"}, ...]}``: ``error`` is the structural failure (checks 1 to 21,
in which case ``arrays`` is empty and ``checksum`` None), and each array is checked on its own
(check 22: its CRC-32 and the padding after it). ``checksum`` is the file's, as in TypeScript's
report: with ``"none"`` an array passes check 22 on its padding alone, its values unchecked. Like
the TypeScript ``verify``, it does not decompress (the CRC covers the stored bytes, FORMAT.md
section 5): reading a compressed array can still fail with ``CODEC_ERROR`` or ``LIMIT_EXCEEDED``
(check 23). A bad option (an unknown name, a limit that is not a positive int) or a source that is
not a file's bytes or path raises INVALID_ARGUMENT, as in TypeScript.

Errors
------
Every failure caused by the bytes of a file raises ``NdpackError`` whose ``code`` is one of the codes
of FORMAT.md section 9, reported for the FIRST failing check in that section's order; ``array``
names the array when there is one. Programming errors (bad options, unwritable values) raise
``NdpackError("INVALID_ARGUMENT")``, except, with the TypeScript writer's codes: an array's
``dtype`` that is not one of ``DTYPES`` (``UNKNOWN_DTYPE``) or ``codec`` that is not one of
``CODECS`` (``UNSUPPORTED_CODEC``; a bad file-wide ``codec`` option is INVALID_ARGUMENT), a shape
that readers would refuse (section 9 steps 12 and 13: a dimension that is not a non-negative
integer, more than 2^53-1 bytes even when another dimension is 0), which is ``BAD_SHAPE``, and a
file that readers would refuse with their default limits (section 8): metadata nested deeper than
``max_depth`` (64, metadata being depth 2) is ``LIMIT_EXCEEDED``, a header longer than
``max_header_bytes`` (100 MiB) ``HEADER_TOO_LARGE``, more than 64 dimensions ``LIMIT_EXCEEDED``; nothing is written then.
``COPY_REQUIRED`` and ``NOT_FOUND`` are described above; ``CLOSED`` is a read after ``close()``.
An option a function does not take (``verfy=True``) is ``INVALID_ARGUMENT`` naming those it takes.
A method's keywords are its signature's: ``f.read("w", verfy=True)`` (and a reader's ``read``,
``read_rows``, ``verify``) is Python's ``TypeError``, where TypeScript, whose options are objects,
refuses an unknown name in them with INVALID_ARGUMENT.
Operating-system errors (a missing file...) are raised as the usual ``OSError``.

Strict JSON (FORMAT.md section 2.1) is implemented by a small iterative parser in this module, not
by ``json.loads``, which keeps the last of two duplicate keys, accepts ``NaN`` and lone surrogates,
recurses until a RecursionError, and does not report problems in text order. The header is first
decoded as UTF-8 as a whole, then parsed; the first problem in text order is reported, a malformed
number (``-01``, ``1.``) being invalid JSON rather than a ``BAD_NUMBER``. A compressed payload must
be exactly one complete raw DEFLATE stream: bytes after its end are ``CODEC_ERROR``.

Speed. In the package, three modules beside this one make reading faster without changing any
outcome: ``_fast_json.py`` parses a header it can prove valid with the C ``json`` scanner (about 1.3
times ``json.loads``, where this module's parser takes 15 to 30 times), ``_fast_entries.py`` proves
steps 8 to 18 over the header's columns at once (and, for a header in the canonical layout of
section 8, reads those columns straight from its text), and ``_crc32.py`` computes CRC-32 with
libdeflate where the system has it. Whenever a proof fails, this module's readable checks decide and report
the first failure. A copy of this file on its own runs only them: the same outcomes, slower.

Metadata key order is kept, on reading and on writing. A JavaScript object always lists integer-like
keys (``"10"``) first, in ascending order: metadata ``{"b": 1, "10": 2}`` written from Python is
valid and canonical, but a JavaScript writer, given the same keys, writes ``"10"`` first.
"""

from __future__ import annotations

import difflib
import math
import mmap as _mmap
import os
import re
import stat
import struct
import sys
import traceback
import zlib
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

__all__ = [
    "NdpackError",
    "NdpackFile",
    "ArrayInfo",
    "load",
    "loads",
    "save",
    "dumps",
    "verify",
    "canonical_header",
    "js_number",
    "DTYPES",
    "ERROR_CODES",
    "DEFAULT_LIMITS",
    "VERSION",
    "SPEC_VERSION",
]

# --------------------------------------------------------------------------------------------------
# Constants (FORMAT.md sections 1, 3, 5, 7, 9)
# --------------------------------------------------------------------------------------------------

VERSION = (1, 0)
#: The version of FORMAT.md this module follows; kept in step with FORMAT.md and fixtures/index.json.
SPEC_VERSION = "1.2.1"
MAGIC = b"\x89NDP\r\n\x1a\n"
PREAMBLE_SIZE = 20
MAX_SAFE_INTEGER = 2**53 - 1

#: ndpack dtype -> (item size, word size, numpy dtype string without byte order, ml_dtypes name)
DTYPES: dict[str, tuple[int, int, str, str | None]] = {
    "bool": (1, 1, "b1", None),
    "int8": (1, 1, "i1", None),
    "int16": (2, 2, "i2", None),
    "int32": (4, 4, "i4", None),
    "int64": (8, 8, "i8", None),
    "uint8": (1, 1, "u1", None),
    "uint16": (2, 2, "u2", None),
    "uint32": (4, 4, "u4", None),
    "uint64": (8, 8, "u8", None),
    "float16": (2, 2, "f2", None),
    "bfloat16": (2, 2, "u2", "bfloat16"),
    "float32": (4, 4, "f4", None),
    "float64": (8, 8, "f8", None),
    "complex64": (8, 4, "c8", None),
    "complex128": (16, 8, "c16", None),
    "float8_e4m3fn": (1, 1, "u1", "float8_e4m3fn"),
    "float8_e5m2": (1, 1, "u1", "float8_e5m2"),
}

CODECS = ("none", "deflate", "shuffle+deflate")
CHECKSUMS = ("crc32", "none")

ERROR_CODES = (
    # FORMAT.md section 9, in the order of the checks
    "BAD_MAGIC", "TRUNCATED", "UNSUPPORTED_VERSION", "HEADER_TOO_LARGE", "HEADER_CHECKSUM",
    "HEADER_INVALID", "LIMIT_EXCEEDED", "DUPLICATE_KEY", "BAD_NUMBER",
    "UNKNOWN_DTYPE", "UNSUPPORTED_CODEC", "UNSUPPORTED_CHECKSUM",
    "DUPLICATE_NAME", "BAD_SHAPE", "SIZE_MISMATCH", "MISALIGNED", "OVERLAP", "GAP",
    "OUT_OF_BOUNDS", "TRAILING_BYTES", "BAD_PADDING", "CHECKSUM", "CODEC_ERROR",
    # API
    "COPY_REQUIRED", "NOT_FOUND", "INVALID_ARGUMENT", "CLOSED",
)

DEFAULT_LIMITS = {
    "max_header_bytes": 104857600,
    "max_header_nodes": 1000000,
    "max_depth": 64,
    "max_arrays": 100000,
    "max_dims": 64,
    "max_name_bytes": 4096,
    "max_decoded_bytes": 1073741824,
}
_MAX_DEPTH_CEILING = 1000

_HEADER_KEYS = ("alignment", "checksum", "dataLength", "metadata", "arrays")
_ENTRY_KEYS = ("name", "dtype", "shape", "order", "byteOrder", "codec", "offset", "byteLength")


class NdpackError(Exception):
    """An ndpack failure. ``code`` is one of ``ERROR_CODES``; ``array`` names the array, if any;
    ``status`` is the HTTP status of an HTTP_ERROR (None otherwise)."""

    def __init__(self, code: str, message: str = "", *, array: str | None = None,
                 status: int | None = None):
        self.code = code
        self.array = array
        self.status = status
        self.message = message or code
        super().__init__(f"{code}: {self.message}" if message else code)

    def __reduce__(self):  # keeps code, message, array and status across pickling (multiprocessing)
        return type(self), (self.code, self.message), {"array": self.array, "status": self.status}


class _NotFound(NdpackError, KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return Exception.__str__(self)


class ArrayInfo(NamedTuple):
    """One array entry of a header, validated. ``offset`` is relative to the data section,
    ``start`` is the absolute position of the stored payload in the file (TypeScript's
    ``ArrayInfo.offset`` is this ``start``: the same name, not the same number)."""

    name: str
    dtype: str
    shape: tuple
    order: str
    byte_order: str
    codec: str
    offset: int
    byte_length: int
    nbytes: int
    start: int


class Entries(Sequence):
    """The validated entries of a file, in file order: ``entries[i]`` is the ``ArrayInfo`` of the
    i-th array, built when asked for, so that a header of many arrays costs no object per array
    until then; ``positions`` maps each name to its index. Columns: names, dtypes, shapes (lists),
    orders, byte orders, codecs, offsets, byte lengths and nbytes, then where the data section
    starts."""

    def __init__(self, columns: tuple, data_start: int, positions: dict):
        self._columns = columns
        self._data_start = data_start
        self.positions = positions

    @classmethod
    def of(cls, infos: list, data_start: int) -> Entries:
        """The entries of a list of ``ArrayInfo``."""
        columns = tuple(zip(*infos))[:9] if infos else ((),) * 9
        return cls(columns, data_start, {e.name: i for i, e in enumerate(infos)})

    def __len__(self) -> int:
        return len(self.positions)

    def objects(self) -> list[dict]:
        """The header's objects of these entries (section 2.2's keys in order, ``codec`` only
        when it is not ``"none"``)."""
        out = []
        for e in self:
            obj = {"name": e.name, "dtype": e.dtype, "shape": list(e.shape), "order": e.order,
                   "byteOrder": e.byte_order}
            if e.codec != "none":
                obj["codec"] = e.codec
            obj["offset"], obj["byteLength"] = e.offset, e.byte_length
            out.append(obj)
        return out

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        name, dtype, shape, order, byte_order, codec, offset, length, nbytes = (
            column[i] for column in self._columns)
        return ArrayInfo(name, dtype, tuple(shape), order, byte_order, codec, offset, length,
                         nbytes, self._data_start + offset)


def header_object(h: dict, entries: Entries) -> dict:
    """The header object ``h`` returned by ``_parse``, with its ``arrays`` built from ``entries``
    when the fast path left them out (a header of many arrays then costs no object per array)."""
    if "arrays" not in h:
        h["arrays"] = entries.objects()
    return h


def _align_up(x: int, a: int) -> int:
    return (x + a - 1) // a * a


# --------------------------------------------------------------------------------------------------
# Strict JSON (FORMAT.md section 2.1, section 9 step 7)
# --------------------------------------------------------------------------------------------------

_WS_RE = re.compile(r"[ \t\n\r]*")
_NUMBER_RE = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")
# What a number token extends over: a digit after a leading 0, a '.' or an 'e' commits to more.
_NUMBER_TOKEN_RE = re.compile(r"-?[0-9]*(?:\.[0-9]*)?(?:[eE][-+]?[0-9]*)?")
_PLAIN_RE = re.compile(r'[^"\\\x00-\x1f]*')
_HEX4_RE = re.compile(r"[0-9a-fA-F]{4}")
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def _number_value(lit: str, frac: str | None, exp: str | None, in_metadata: bool):
    """The value of a number literal, or raise BAD_NUMBER (section 2.1)."""
    if not in_metadata:
        if frac is not None or exp is not None or lit[0] == "-":
            raise NdpackError("BAD_NUMBER", f"{lit} is not a non-negative integer")
        if len(lit) > 16 or int(lit) > MAX_SAFE_INTEGER:
            raise NdpackError("BAD_NUMBER", f"{lit} is above 2^53-1")
        return int(lit)
    if frac is None and exp is None:
        digits = lit.lstrip("-")
        if len(digits) > 16 or int(digits) > MAX_SAFE_INTEGER:
            raise NdpackError("BAD_NUMBER", f"integer literal {lit} is above 2^53-1 in magnitude")
        return -0.0 if lit == "-0" else int(lit)
    value = float(lit)
    if math.isinf(value):
        raise NdpackError("BAD_NUMBER", f"{lit} rounds to infinity")
    return value


def _json_error(pos: int, what: str) -> NdpackError:
    return NdpackError("HEADER_INVALID", f"{what} at character {pos} of the header")


def _parse_string(text: str, pos: int) -> tuple[str, int]:
    """Parse the JSON string starting at text[pos] == '"'; return (value, position after it)."""
    n = len(text)
    pos += 1
    parts = []
    while True:
        m = _PLAIN_RE.match(text, pos)
        if m.end() > pos:
            parts.append(m.group())
            pos = m.end()
        if pos >= n:
            raise _json_error(pos, "unterminated string")
        c = text[pos]
        if c == '"':
            return "".join(parts), pos + 1
        if c != "\\":
            raise _json_error(pos, "control character in a string")
        e = text[pos + 1 : pos + 2]
        if e in _ESCAPES:
            parts.append(_ESCAPES[e])
            pos += 2
            continue
        if e != "u" or not _HEX4_RE.match(text, pos + 2):
            raise _json_error(pos, "invalid escape")
        cp = int(text[pos + 2 : pos + 6], 16)
        pos += 6
        if 0xDC00 <= cp <= 0xDFFF:
            raise _json_error(pos - 6, "lone surrogate")
        if 0xD800 <= cp <= 0xDBFF:
            if text[pos : pos + 2] == "\\u" and _HEX4_RE.match(text, pos + 2):
                low = int(text[pos + 2 : pos + 6], 16)
                if 0xDC00 <= low <= 0xDFFF:
                    parts.append(chr(0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00)))
                    pos += 6
                    continue
            raise _json_error(pos - 6, "lone surrogate")
        parts.append(chr(cp))


def _parse_strict(text: str, max_depth: int, max_nodes: int,
                  free_numbers_key: str | None = "metadata") -> dict:
    """Parse ``text`` as the header JSON (section 2.1), iteratively, reporting the first problem in
    text order: HEADER_INVALID, LIMIT_EXCEEDED (an opening bracket deeper than ``max_depth``; the
    header object is depth 1; scalars add no depth), DUPLICATE_KEY (as soon as the repeated key is
    read), BAD_NUMBER (as soon as the number is read; a malformed number such as ``-01``, ``1.`` or
    ``1e+`` is HEADER_INVALID, not BAD_NUMBER). Any number is allowed in the value of the top-level
    key ``free_numbers_key`` only (``metadata``; None for JSON that has no such key, a
    safetensors header)."""
    n = len(text)
    if n == 0 or text[0] != "{":
        raise _json_error(0, "the header does not begin with '{'")
    # A frame is [container, is_object, pending_key, in_metadata].
    stack: list[list] = []
    pos = 0
    root = None
    nodes = 0

    def read_key(pos: int, frame: list) -> int:
        pos = _WS_RE.match(text, pos).end()
        if text[pos : pos + 1] != '"':
            raise _json_error(pos, "expected a string key")
        key_pos = pos
        key, pos = _parse_string(text, pos)
        if key in frame[0]:
            error = NdpackError("DUPLICATE_KEY", f"key {key!r} repeated at character {key_pos}")
            error.key, error.depth = key, len(stack)  # the object's depth: the header's is 1
            raise error
        pos = _WS_RE.match(text, pos).end()
        if text[pos : pos + 1] != ":":
            raise _json_error(pos, "expected ':'")
        frame[2] = key
        frame[0][key] = None  # reserve the key (value set when parsed)
        return pos + 1

    while True:
        # ---- a value starts at pos (after white space) ----
        pos = _WS_RE.match(text, pos).end()
        nodes += 1
        if nodes > max_nodes:
            raise NdpackError("LIMIT_EXCEEDED", f"more than maxHeaderNodes={max_nodes} JSON values")
        if stack:
            top = stack[-1]
            in_meta = top[3] or (len(stack) == 1 and top[2] == free_numbers_key)
        else:
            in_meta = False
        c = text[pos : pos + 1]
        if c == "{" or c == "[":
            if len(stack) + 1 > max_depth:
                raise NdpackError("LIMIT_EXCEEDED", f"nesting deeper than maxDepth={max_depth}")
            is_obj = c == "{"
            frame = [{} if is_obj else [], is_obj, None, in_meta]
            stack.append(frame)
            pos = _WS_RE.match(text, pos + 1).end()
            if text[pos : pos + 1] == ("}" if is_obj else "]"):
                pos += 1
                value = stack.pop()[0]
            elif is_obj:
                pos = read_key(pos, frame)
                continue
            else:
                continue
        elif c == '"':
            value, pos = _parse_string(text, pos)
        elif c == "-" or c.isdigit() and c.isascii():
            m = _NUMBER_RE.match(text, pos)
            if m is None or m.end() != _NUMBER_TOKEN_RE.match(text, pos).end():
                raise _json_error(pos, "malformed number")
            value = _number_value(m.group(), m.group(1), m.group(2), in_meta)
            pos = m.end()
        elif text.startswith("true", pos):
            value, pos = True, pos + 4
        elif text.startswith("false", pos):
            value, pos = False, pos + 5
        elif text.startswith("null", pos):
            value, pos = None, pos + 4
        else:
            raise _json_error(pos, "expected a value")
        # ---- a value ended: attach it, then read ',' or closing brackets ----
        while True:
            if not stack:
                root = value
                break
            frame = stack[-1]
            if frame[1]:
                frame[0][frame[2]] = value
            else:
                frame[0].append(value)
            pos = _WS_RE.match(text, pos).end()
            c = text[pos : pos + 1]
            if c == ",":
                pos = read_key(pos + 1, frame) if frame[1] else pos + 1
                break
            if c == ("}" if frame[1] else "]"):
                pos += 1
                value = stack.pop()[0]
                continue
            raise _json_error(pos, "expected ',' or a closing bracket")
        if root is not None:
            break
    if text[pos:].strip(" "):
        raise _json_error(pos, "something other than spaces after the header object")
    return root


try:  # the package's accelerators (ndpack/_fast_json.py, _fast_entries.py, _crc32.py): the same
    # outcomes, faster
    from ._crc32 import crc32 as _crc32
    from ._fast_entries import canonical as _fast_canonical
    from ._fast_entries import check_entries as _fast_entries
    from ._fast_json import parse as _fast_parse
except ImportError:  # this file copied on its own: the readable checks decide every header
    _crc32 = zlib.crc32

    def _fast_parse(text: str, raw: bytes, max_depth: int):
        return None

    def _fast_entries(h: dict, minor: int, limits: dict, header_end: int):
        return None

    def _fast_canonical(raw: bytes, limits: dict, header_end: int):
        return None


def _parse_header_json(raw: bytes, max_depth: int, max_nodes: int,
                       free_numbers_key: str | None = "metadata") -> dict:
    """Section 9 step 7 over the header bytes (trailing spaces included): first the header as a
    whole (valid UTF-8 everywhere, a first byte ``{``), then its JSON, first problem in text order.
    ``free_numbers_key`` as for ``_parse_strict``."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise NdpackError("HEADER_INVALID", f"invalid UTF-8 at byte {e.start} of the header") \
            from None
    if not text.startswith("{"):
        raise _json_error(0, "the header does not begin with '{'")
    # The fast parser builds the whole tree before it is checked, so it only parses a header that
    # cannot hold more than max_nodes values; otherwise the strict parser counts them as it goes.
    # Every value but the first takes a character of its own before it (',', ':' or '[') and one
    # at least of its own, so there are at most (length + 1) / 2 values; and every value but the
    # first follows a ',' or is the first of a non-empty container.
    fits = ((len(text) + 1) // 2 <= max_nodes
            or 1 + text.count(",") + text.count("{") + text.count("[") <= max_nodes)
    root = _fast_parse(text, raw, max_depth) if fits else None
    if root is not None and free_numbers_key != "metadata" and "metadata" in root:
        root = None  # the fast parser allowed any number under "metadata": the strict one decides
    if root is None:
        root = _parse_strict(text, max_depth, max_nodes, free_numbers_key)
    return root


# --------------------------------------------------------------------------------------------------
# Canonical JSON (FORMAT.md section 8)
# --------------------------------------------------------------------------------------------------

_STR_ESCAPE_RE = re.compile(r'[\x00-\x1f"\\]')
_STR_ESCAPE_MAP = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r",
                   "\t": "\\t"}
_LONE_SURROGATE_RE = re.compile("[\ud800-\udfff]")


def _json_string(s: str) -> str:
    if _LONE_SURROGATE_RE.search(s):
        raise NdpackError("INVALID_ARGUMENT", f"string {s!r} holds a lone surrogate")
    return '"' + _STR_ESCAPE_RE.sub(
        lambda m: _STR_ESCAPE_MAP.get(m.group()) or "\\u%04x" % ord(m.group()), s) + '"'


def js_number(x: float) -> str:
    """Format a finite double as ECMAScript's ``Number.prototype.toString`` does, except ``-0`` is
    ``"-0"`` and integral values above 2**53-1 in magnitude use ``toExponential()``'s form
    (FORMAT.md section 8). Digits are Python's ``repr`` digits: both are the shortest that round-trip,
    nearest to the value."""
    if not math.isfinite(x):
        raise NdpackError("INVALID_ARGUMENT", f"{x!r} cannot be written in JSON")
    if x == 0:
        return "-0" if math.copysign(1.0, x) < 0 else "0"
    if x < 0:
        return "-" + js_number(-x)
    mant, _, exp = repr(x).partition("e")
    whole, _, frac = mant.partition(".")
    digits = whole + frac
    point = len(whole) + (int(exp) if exp else 0)  # value = 0.DIGITS * 10**point
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    k, n = len(digits), point  # value = digits * 10**(n-k), as in ECMA-262 Number::toString
    if x <= MAX_SAFE_INTEGER:
        if k <= n <= 21:
            return digits + "0" * (n - k)
        if 0 < n <= 21:
            return digits[:n] + "." + digits[n:]
        if -6 < n <= 0:
            return "0." + "0" * -n + digits
    e = n - 1
    return digits[0] + ("." + digits[1:] if k > 1 else "") + "e" + ("+" if e >= 0 else "-") + str(abs(e))


def _json_scalar(v: Any) -> str:
    if v is None:
        return "null"
    if v is True or v is False:
        return "true" if v else "false"
    if isinstance(v, np.generic):
        if isinstance(v, np.bool_):
            return "true" if v else "false"
        if isinstance(v, np.integer):
            v = int(v)
        elif isinstance(v, np.floating):
            v = float(v)
        elif isinstance(v, np.str_):
            v = str(v)
        else:
            raise NdpackError("INVALID_ARGUMENT", f"a {type(v).__name__} has no JSON form")
    if isinstance(v, int):
        if abs(v) <= MAX_SAFE_INTEGER:
            return str(v)
        f = float(v) if abs(v) < 2**1024 else math.inf
        if f != v:
            raise NdpackError("INVALID_ARGUMENT", f"integer {v} is not exactly a double")
        return js_number(f)
    if isinstance(v, float):
        return js_number(v)
    if isinstance(v, str):
        return _json_string(v)
    raise NdpackError("INVALID_ARGUMENT", f"a {type(v).__name__} has no JSON form")


def _metadata_field(path) -> str:
    """``metadata['a'][0]`` for the path ``((None, 'a'), 0)`` of ``_json_metadata``'s stack."""
    keys = []
    while path is not None:
        path, key = path
        keys.append(key)
    return "metadata" + "".join(f"[{key!r}]" for key in reversed(keys))


def _json_metadata(value: Any, depth: int, max_depth: int | None = None) -> str:
    """Canonical JSON of a metadata value at header depth ``depth`` (iterative: no recursion).
    A container inside itself is INVALID_ARGUMENT. A writer passes readers' default ``max_depth``
    (section 8: it writes only files readers read): a container deeper is LIMIT_EXCEEDED. Without
    it, the ceiling of section 7 (1000) applies: INVALID_ARGUMENT. Errors name the value's place
    (``metadata['a'][0]``), as TypeScript's name its field."""
    out: list[str] = []
    open_containers: set[int] = set()  # the containers being written, to tell a cycle from sharing
    # stack items: ("v", value, depth, path) to write a value, its path a (parent path, key) pair
    # (None for the metadata), ("s", text) to write text, ("x", id) when the container id is written
    stack: list[tuple] = [("v", value, depth, None)]
    while stack:
        item = stack.pop()
        if item[0] == "s":
            out.append(item[1])
            continue
        if item[0] == "x":
            open_containers.discard(item[1])
            continue
        _, v, d, path = item
        if not isinstance(v, (Mapping, list, tuple)):
            try:
                out.append(_json_scalar(v))
            except NdpackError as ex:
                raise NdpackError(ex.code, f"{_metadata_field(path)}: {ex.message}") from None
            continue
        if id(v) in open_containers:
            raise NdpackError("INVALID_ARGUMENT", f"{_metadata_field(path)} is a container "
                              "inside itself")
        if max_depth is not None and d > max_depth:
            raise NdpackError("LIMIT_EXCEEDED", f"{_metadata_field(path)} is nested deeper than "
                              f"readers accept by default (max_depth {max_depth}, the header "
                              "object being depth 1)")
        if d > _MAX_DEPTH_CEILING:
            raise NdpackError("INVALID_ARGUMENT", f"{_metadata_field(path)} is nested deeper "
                              "than 1000")
        open_containers.add(id(v))
        if isinstance(v, Mapping):
            todo: list[tuple] = [("s", "{")]
            for i, (k, x) in enumerate(v.items()):
                if not isinstance(k, str):
                    raise NdpackError("INVALID_ARGUMENT", f"{_metadata_field(path)}: key {k!r} "
                                      "is not a str")
                todo.append(("s", ("," if i else "") + _json_string(k) + ":"))
                todo.append(("v", x, d + 1, (path, k)))
            todo.append(("s", "}"))
        else:
            todo = [("s", "[")]
            for i, x in enumerate(v):
                if i:
                    todo.append(("s", ","))
                todo.append(("v", x, d + 1, (path, i)))
            todo.append(("s", "]"))
        todo.append(("x", id(v)))
        stack.extend(reversed(todo))
    return "".join(out)


def canonical_header(header: Mapping, *, max_depth: int | None = None) -> bytes:
    """The canonical header bytes (FORMAT.md section 8) of a header object: keys in the order of
    section 2.2, ``codec`` omitted when it is ``"none"``, no white space, ECMAScript escaping and
    numbers. Unknown keys are dropped. ``canonical_header(f.header)`` re-encodes a file's header.
    ``max_depth``: metadata nested deeper is LIMIT_EXCEEDED (see ``_json_metadata``)."""
    parts = []
    for e in header["arrays"]:
        s = '{"name":%s,"dtype":%s,"shape":[%s],"order":%s,"byteOrder":%s,' % (
            _json_string(e["name"]), _json_string(e["dtype"]),
            ",".join(_json_scalar(d) for d in e["shape"]), _json_string(e["order"]),
            _json_string(e["byteOrder"]))
        if e.get("codec", "none") != "none":
            s += '"codec":%s,' % _json_string(e["codec"])
        parts.append(s + '"offset":%s,"byteLength":%s}' % (
            _json_scalar(e["offset"]), _json_scalar(e["byteLength"])))
    return ('{"alignment":%s,"checksum":%s,"dataLength":%s,"metadata":%s,"arrays":[%s]}' % (
        _json_scalar(header["alignment"]), _json_string(header["checksum"]),
        _json_scalar(header["dataLength"]), _json_metadata(header["metadata"], 2, max_depth),
        ",".join(parts))).encode("utf-8")


# --------------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------------

_ml_dtypes = None


def _ml_dtype(name: str):
    """ml_dtypes' numpy dtype for ``name``, or None when ml_dtypes cannot be imported."""
    global _ml_dtypes
    if _ml_dtypes is None:
        try:
            import ml_dtypes  # noqa: PLC0415  (optional, imported lazily)

            _ml_dtypes = ml_dtypes
        except ImportError:
            _ml_dtypes = False
    return np.dtype(getattr(_ml_dtypes, name)) if _ml_dtypes else None


def _check_option_names(options, known, fn: str) -> None:
    """INVALID_ARGUMENT for an option ``fn`` does not take, naming the nearest one it takes and all
    of them (TypeScript's ``checkOptionNames``): a misspelled option is an error of this API, with
    its code, not a TypeError, and never ignored."""
    for name in options:
        if name not in known:
            near = difflib.get_close_matches(str(name), known, n=1)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            raise NdpackError("INVALID_ARGUMENT", f"{fn}: unknown option {name!r}{hint} "
                              f"(known options: {', '.join(known)})")


def check_flag(value, name: str, *, none: bool = False):
    """``value`` of an option that is True or False (or None, when ``none``): INVALID_ARGUMENT for
    anything else, as TypeScript's options. 1, 0 and "yes" are no answer: ``verify=1`` or
    ``copy=0`` must not quietly pass for one by being equal to it."""
    if value is True or value is False or (none and value is None):
        return value
    raise NdpackError("INVALID_ARGUMENT",
                      f"{name} must be {'None, ' if none else ''}True or False, got {value!r}")


def _check_limits(limits: dict, fn: str = "load", options=("verify", "copy", "raw_bits")) -> dict:
    """The limits of section 7 (``DEFAULT_LIMITS`` for those not given); ``limits`` holds the
    keyword arguments of ``fn`` but its ``options`` (which its error message names too)."""
    _check_option_names(limits, (*options, *DEFAULT_LIMITS), fn)
    out = dict(DEFAULT_LIMITS)
    for k, v in limits.items():
        # As TypeScript's (a positive safe integer): a limit of 0 would refuse every file.
        if type(v) is not int or not 1 <= v <= MAX_SAFE_INTEGER:
            raise NdpackError("INVALID_ARGUMENT", f"{k} must be a positive int below 2**53")
        out[k] = v
    if not 1 <= out["max_depth"] <= _MAX_DEPTH_CEILING:
        raise NdpackError("INVALID_ARGUMENT", "max_depth must be from 1 to 1000")
    return out


def _check_structure(h: dict, minor: int) -> None:
    """Section 9 step 8. The header is checked key by key in the order of section 2.2's tables
    (``alignment``, ``checksum``, ``dataLength``, ``metadata``, ``arrays``; in ``arrays`` each entry in
    order, its keys in table order, then its unknown keys), the header's unknown keys last; the
    first failure is reported. A missing key or a value of the wrong JSON type is HEADER_INVALID,
    whatever the key."""
    strict_keys = minor <= VERSION[1]

    def invalid(msg: str) -> NdpackError:
        return NdpackError("HEADER_INVALID", msg)

    def get(obj: dict, key: str, kind, where: str):
        if key not in obj:
            raise invalid(f"{where}: missing key {key!r}")
        v = obj[key]
        if kind is int:
            ok = type(v) is int  # step 7 made every number here a non-negative safe integer
        else:
            ok = isinstance(v, kind)
        if not ok:
            raise invalid(f"{where}{key}: wrong JSON type")
        return v

    a = get(h, "alignment", int, "")
    if not (8 <= a <= 65536 and a & (a - 1) == 0):
        raise invalid(f"alignment {a} is not a power of two from 8 to 65536")
    checksum = get(h, "checksum", str, "")
    if checksum not in CHECKSUMS:
        raise NdpackError("UNSUPPORTED_CHECKSUM", f"unsupported checksum {checksum!r}")
    get(h, "dataLength", int, "")
    get(h, "metadata", dict, "")
    for i, e in enumerate(get(h, "arrays", list, "")):
        where = f"arrays[{i}]."
        if not isinstance(e, dict):
            raise invalid(f"arrays[{i}] is not an object")
        if get(e, "name", str, where) == "":
            raise invalid(f"{where}name is empty")
        dtype = get(e, "dtype", str, where)
        if dtype not in DTYPES:
            raise NdpackError("UNKNOWN_DTYPE", f"unknown dtype {dtype!r} at {where}dtype",
                              array=e["name"])
        if not all(type(d) is int for d in get(e, "shape", list, where)):
            raise invalid(f"{where}shape holds a value that is not an integer")
        if get(e, "order", str, where) not in ("C", "F"):
            raise invalid(f"{where}order is {e['order']!r}")
        if get(e, "byteOrder", str, where) not in ("little", "big"):
            raise invalid(f"{where}byteOrder is {e['byteOrder']!r}")
        if "codec" in e and get(e, "codec", str, where) not in CODECS:
            raise NdpackError("UNSUPPORTED_CODEC", f"unsupported codec {e['codec']!r} at "
                              f"{where}codec", array=e["name"])
        get(e, "offset", int, where)
        get(e, "byteLength", int, where)
        if strict_keys:
            for k in e:
                if k not in _ENTRY_KEYS:
                    raise invalid(f"{where[:-1]} has the unknown key {k!r}")
    if strict_keys:
        for k in h:
            if k not in _HEADER_KEYS:
                raise invalid(f"unknown key {k!r}")


def _check_entries(h: dict, limits: dict, header_end: int) -> list[ArrayInfo]:
    """Section 9 steps 9 to 18, entry by entry, over a header that passed step 8; ``header_end``
    is where the header ends in the file (20 + its length). Returns the entries, in file order."""
    alignment = h["alignment"]
    c = 4 if h["checksum"] == "crc32" else 0
    data_length = h["dataLength"]
    arrays = h["arrays"]
    if len(arrays) > limits["max_arrays"]:
        raise NdpackError("LIMIT_EXCEEDED", f"{len(arrays)} arrays > maxArrays")
    data_start = _align_up(header_end, alignment)
    entries: list[ArrayInfo] = []
    seen: set[str] = set()
    prev_end = 0
    for e in arrays:
        name = e["name"]
        if len(name.encode("utf-8")) > limits["max_name_bytes"]:
            raise NdpackError("LIMIT_EXCEEDED", "name longer than maxNameBytes", array=name)
        if name in seen:
            raise NdpackError("DUPLICATE_NAME", f"name {name!r} repeated", array=name)
        seen.add(name)
        shape = e["shape"]
        if len(shape) > limits["max_dims"]:
            raise NdpackError("LIMIT_EXCEEDED", f"{len(shape)} dimensions > maxDims", array=name)
        itemsize = DTYPES[e["dtype"]][0]
        # Step 13: the non-zero dimensions are bounded even when another dimension is 0.
        nonzero = itemsize
        for d in shape:
            if d:
                nonzero *= d
                if nonzero > MAX_SAFE_INTEGER:  # more dimensions only make it larger (and slower:
                    break  # a product of thousands of them, with max_dims raised, was quadratic)
        if nonzero > MAX_SAFE_INTEGER:
            raise NdpackError("BAD_SHAPE", f"nbytes of shape {shape} > 2^53-1", array=name)
        nbytes = 0 if 0 in shape else nonzero
        codec = e.get("codec", "none")
        off, blen = e["offset"], e["byteLength"]
        if codec == "none" and blen != nbytes:
            raise NdpackError("SIZE_MISMATCH", f"byteLength {blen} != nbytes {nbytes}", array=name)
        if off % alignment:
            raise NdpackError("MISALIGNED", f"offset {off} is not a multiple of {alignment}",
                              array=name)
        if off < prev_end:
            raise NdpackError("OVERLAP", f"offset {off} < end of the previous record {prev_end}",
                              array=name)
        if off > _align_up(prev_end, alignment):
            raise NdpackError("GAP", f"offset {off} leaves a gap after {prev_end}", array=name)
        if off + blen + c > data_length:
            raise NdpackError("OUT_OF_BOUNDS", f"record ends after dataLength {data_length}",
                              array=name)
        prev_end = off + blen + c
        entries.append(ArrayInfo(name, e["dtype"], tuple(shape), e["order"], e["byteOrder"], codec,
                                 off, blen, nbytes, data_start + off))
    return entries


def _parse(buf, limits: dict, size: int | None = None):
    """Section 9 steps 1 to 21. Returns (header, minor, entries (an ``Entries``), data_start,
    memoryview); the header object may lack its ``arrays``, which ``header_object`` builds.

    ``buf`` is the whole file, or, for a reader that fetches ranges, its first bytes (at least up to
    the data section's start, or all of them when the file is shorter) with ``size`` the file's."""
    try:
        mv = memoryview(buf)
    except TypeError:
        raise NdpackError("INVALID_ARGUMENT", f"expected bytes or another buffer, got "
                          f"{type(buf).__name__}") from None
    if not mv.c_contiguous:  # a strided view (every other byte of an array): its bytes, copied
        mv = memoryview(mv.tobytes())
    if mv.ndim != 1 or mv.itemsize != 1:
        mv = mv.cast("B")
    if size is None:
        size = len(mv)
    # Preamble (steps 1-6)
    head = bytes(mv[:PREAMBLE_SIZE])
    if head[:8] != MAGIC[: min(size, 8)]:
        raise NdpackError("BAD_MAGIC", "not an ndpack file")
    if size < PREAMBLE_SIZE:
        raise NdpackError("TRUNCATED", f"{size} bytes is shorter than the 20-byte preamble")
    major, minor, hlen, hcrc = struct.unpack_from("<HHII", head, 8)
    if major != 1:
        raise NdpackError("UNSUPPORTED_VERSION", f"major version {major}")
    if hlen > limits["max_header_bytes"]:
        raise NdpackError("HEADER_TOO_LARGE", f"header of {hlen} bytes > maxHeaderBytes")
    if PREAMBLE_SIZE + hlen > size:
        raise NdpackError("TRUNCATED", f"the header ends after the end of the input ({size} bytes)")
    raw = bytes(mv[PREAMBLE_SIZE : PREAMBLE_SIZE + hlen])
    if zlib.crc32(raw, zlib.crc32(head[8:16])) != hcrc:
        raise NdpackError("HEADER_CHECKSUM", "the header CRC does not match")
    # Header text (step 7), structure (step 8) and entries (steps 9-18)
    fast = _fast_canonical(raw, limits, PREAMBLE_SIZE + hlen)
    if fast is not None:  # its "arrays" are built when asked for (header_object)
        h, entries = fast
    else:
        h = _parse_header_json(raw, limits["max_depth"], limits["max_header_nodes"])
        entries = _fast_entries(h, minor, limits, PREAMBLE_SIZE + hlen)
    if entries is None:  # the readable checks decide, and name the first failure
        _check_structure(h, minor)
        infos = _check_entries(h, limits, PREAMBLE_SIZE + hlen)
        entries = Entries.of(infos, _align_up(PREAMBLE_SIZE + hlen, h["alignment"]))
    data_start = _align_up(PREAMBLE_SIZE + hlen, h["alignment"])
    data_length = h["dataLength"]
    c = 4 if h["checksum"] == "crc32" else 0
    last = entries[-1] if entries else None
    prev_end = last.offset + last.byte_length + c if last else 0  # where the last record ends
    # Length and padding (steps 19-21)
    if data_length != prev_end:
        raise NdpackError("GAP", f"dataLength {data_length} != end of the last record {prev_end}")
    if size < data_start + data_length:
        raise NdpackError("TRUNCATED", f"{size} bytes < {data_start + data_length}")
    if size > data_start + data_length:
        raise NdpackError("TRAILING_BYTES", f"{size} bytes > {data_start + data_length}")
    if bytes(mv[PREAMBLE_SIZE + hlen : data_start]).strip(b"\0"):
        raise NdpackError("BAD_PADDING", "non-zero byte between the header and the data section")
    return h, minor, entries, data_start, mv


#: Output bytes asked of zlib at a time while a stream is inflated whole: inflating makes at most
#: this many beyond the size a stream declares before it stops.
INFLATE_PIECE = 256 << 10
#: Compressed bytes given to zlib at a time: zlib copies what it has not used yet on every call.
_INFLATE_INPUT_STEP = 64 << 10


def inflate(pieces, size: int, name: str, out=None, *, head: bool = False) -> int:
    """Section 9 step 23 for the raw DEFLATE stream given in ``pieces`` (an iterable of bytes-like
    objects, a payload or a .npz member): it must be exactly one complete stream, nothing after its
    end, decoding to exactly ``size`` bytes, CODEC_ERROR otherwise (TypeScript's
    ``checkInflated``), found as soon as the output passes ``size``, so that at most
    ``INFLATE_PIECE`` bytes beyond it are ever made. The output is written into ``out`` (a writable
    buffer of ``size`` bytes, or anything that takes ``out[start:stop] = piece``, as
    ``_UnshufflingTarget``) when given, else dropped. Returns its CRC-32.

    ``head=True`` wants the stream's first ``size`` bytes only (a .npz member's .npy header):
    inflating stops as soon as they are made, and what follows them is not looked at (its damage is
    found when the stream is inflated whole), as TypeScript's ``inflatePrefix`` stops; CODEC_ERROR
    when the bytes before them are damaged, or the stream or ``pieces`` end first."""
    inflater = zlib.decompressobj(-15)
    produced = crc = 0

    def damaged(why: str) -> NdpackError:
        return NdpackError("CODEC_ERROR", f'array "{name}": {why}', array=name)
    for piece in pieces:
        view = memoryview(piece).cast("B")
        for at in range(0, len(view), _INFLATE_INPUT_STEP):
            if inflater.eof:
                raise damaged("bytes follow the end of the deflate stream")
            data, full = view[at:at + _INFLATE_INPUT_STEP], True
            while not inflater.eof and (data or full) and not (head and produced == size):
                asked = size - produced if head else INFLATE_PIECE
                try:
                    chunk = inflater.decompress(data, asked)
                except zlib.error as ex:
                    raise damaged(f"the deflate stream is damaged ({ex})") from None
                if produced + len(chunk) > size:
                    raise damaged(f"the deflate stream decodes to more than the {size} bytes "
                                  "declared")
                if out is not None:
                    out[produced:produced + len(chunk)] = chunk
                crc = _crc32(chunk, crc)
                produced += len(chunk)
                # A full chunk may leave output in zlib's window: asked for again, input or not.
                data, full = inflater.unconsumed_tail, len(chunk) == asked
            if head and produced == size:
                return crc
            if inflater.unused_data:  # the input after the stream's end
                raise damaged("bytes follow the end of the deflate stream")
    if not inflater.eof:
        raise damaged("the deflate stream ends early")
    if produced < size:
        raise damaged(f"the deflate stream decodes to {produced} bytes, not the {size} declared")
    return crc


def zeroed_buffer(size: int, name: str) -> memoryview:
    """``size`` writable zero bytes for array ``name``, whose memory is taken only as it is
    written: numpy's zeros come from ``calloc``, whose fresh pages stay unmapped until touched,
    where ``bytearray(size)`` writes every byte at once. An inflated payload fills its buffer only
    as its stream decodes, so a few compressed bytes that declare a gigabyte cost what they decode
    to, not the gigabyte. LIMIT_EXCEEDED when the process cannot have that much address space (a
    ulimit), as TypeScript's readers report an allocation its runtime refuses."""
    try:
        return memoryview(np.zeros(size, np.uint8))
    except MemoryError:
        raise NdpackError("LIMIT_EXCEEDED", f"array {name!r} is {size} bytes, more than this "
                          "process can allocate", array=name) from None


class _UnshufflingTarget:
    """An ``out`` for ``inflate`` that writes each piece of a shuffled stream (section 5) straight
    to its unshuffled place in ``out``, a buffer of whole words of ``w`` bytes: unshuffling costs
    no second array of the payload's size (as TypeScript's ``unshuffleInto``)."""

    def __init__(self, out, w: int):
        self._words = np.frombuffer(out, np.uint8).reshape(-1, w)  # row i: word i

    def __setitem__(self, where: slice, piece) -> None:
        # Shuffled position p holds byte p // m of word p % m, m words in all.
        data, position, m = np.frombuffer(piece, np.uint8), where.start, len(self._words)
        while len(data):
            byte, word = divmod(position, m)
            n = min(len(data), m - word)
            self._words[word:word + n, byte] = data[:n]
            data, position = data[n:], position + n


def _shuffle(data: bytes, w: int) -> bytes:
    if w == 1 or not data:
        return data
    return np.frombuffer(data, np.uint8).reshape(len(data) // w, w).T.tobytes()


def check_record(e: ArrayInfo, checksum: str, record, crc: int = 0, done: int = 0) -> None:
    """Section 9 step 22 for one array: ``record`` is the bytes from the array's ``start`` to the
    next record's start (its stored payload, its CRC-32 if any, then the zero padding). A reader
    that checks a long record in pieces gives the bytes after the first ``done`` bytes of the
    payload, whose CRC-32 is ``crc``."""
    end = e.byte_length - done
    if checksum == "crc32":
        stored = struct.unpack("<I", record[end : end + 4])[0]
        if _crc32(record[:end], crc) != stored:
            raise NdpackError("CHECKSUM", f"CRC-32 mismatch in array {e.name!r}", array=e.name)
        end += 4
    if bytes(record[end:]).strip(b"\0"):
        raise NdpackError("BAD_PADDING", f"non-zero padding after array {e.name!r}", array=e.name)


def verify_reports(entries, check) -> list[dict]:
    """``check(entry)`` for every entry, each on its own: ``{"name", "ok", "error"}`` reports, the
    error ``{"code", "message"}`` of its NdpackError or None."""
    out = []
    for e in entries:
        try:
            check(e)
            out.append({"name": e.name, "ok": True, "error": None})
        except NdpackError as ex:
            out.append({"name": e.name, "ok": False,
                        "error": {"code": ex.code, "message": ex.message}})
    return out


def _decoded(e: ArrayInfo, stored, max_decoded_bytes: int) -> memoryview:
    """Section 9 step 23: the decoded bytes of a compressed array, in writable memory of their own
    (the array's: not copied again)."""
    if e.nbytes > max_decoded_bytes:
        raise NdpackError("LIMIT_EXCEEDED", f"nbytes {e.nbytes} > maxDecodedBytes", array=e.name)
    out = zeroed_buffer(e.nbytes, e.name)
    w = DTYPES[e.dtype][1]
    shuffled = e.codec == "shuffle+deflate" and w > 1 and e.nbytes > 0
    inflate([stored], e.nbytes, e.name, _UnshufflingTarget(out, w) if shuffled else out)
    return out


def array_of(e: ArrayInfo, stored, *, copy=None, raw_bits=False,
             max_decoded_bytes=DEFAULT_LIMITS["max_decoded_bytes"], owned=False) -> np.ndarray:
    """The array of entry ``e`` from ``stored``, its stored payload (``e.byte_length`` bytes): a view
    of ``stored`` when possible (see the module documentation for ``copy`` and byte order).
    ``owned``: ``stored`` is writable memory nothing else refers to (a lazy reader's own read),
    which ``copy=True`` need not copy again."""
    check_flag(copy, "copy", none=True)
    size, _, base, ml_name = DTYPES[e.dtype]
    if len(e.shape) > 64 or math.prod(d for d in e.shape if d) * size > sys.maxsize:
        raise ValueError(f"array {e.name!r}: numpy cannot represent shape {list(e.shape)} "
                         "(more than 64 dimensions, or non-zero dimensions whose product "
                         "times the item size exceeds the largest intp)")
    big = e.byte_order == "big" and size > 1
    ml = None if (ml_name is None or raw_bits) else _ml_dtype(ml_name)
    if ml_name is not None and not raw_bits and ml is None:
        raise NdpackError("INVALID_ARGUMENT", f"array {e.name!r} is {e.dtype}, a dtype numpy has "
                          "with ml_dtypes only: pip install 'ndpack[ml-dtypes]' (or ml_dtypes), "
                          f"or read its bits as uint{size * 8} by opening the file with "
                          "ndpack.load(..., raw_bits=True) or ndpack.open(..., raw_bits=True)",
                          array=e.name)
    # ml_dtypes has no usable non-native dtypes: stored bits in the other order are swapped.
    swap_ml = ml is not None and size > 1 and big != (sys.byteorder == "big")
    if swap_ml and copy is False:
        raise NdpackError("COPY_REQUIRED", f"array {e.name!r}: {e.dtype} stored in "
                          f"{e.byte_order}-endian order needs a copy", array=e.name)
    if e.codec != "none":
        if copy is False:
            raise NdpackError("COPY_REQUIRED", f"array {e.name!r} is compressed", array=e.name)
        source, fresh = _decoded(e, stored, max_decoded_bytes), True
    else:
        source, fresh = stored, owned
    if ml is not None:
        dt = np.dtype((">" if big else "<") + base) if swap_ml else ml
    else:
        dt = np.dtype(("|" if size == 1 else ">" if big else "<") + base)
    arr = np.frombuffer(source, dtype=dt, count=e.nbytes // size)
    arr = arr.reshape(e.shape, order=e.order)
    if swap_ml:
        arr = arr.astype(dt.newbyteorder("="), order="K").view(ml)
        fresh = True
    if copy is True:
        if not arr.dtype.isnative:
            arr = arr.astype(arr.dtype.newbyteorder("="), order="K")
        elif not fresh:
            arr = arr.copy(order="K")
    return arr


class NdpackFile(Mapping):
    """A validated ndpack file: a read-only mapping from array names (in file order) to arrays.

    Attributes: ``names``, ``metadata``, ``version`` (``(1, minor)``), ``alignment``, ``checksum``,
    ``size`` (bytes), ``data_start`` (where the data section starts), ``header`` (the parsed
    header object)."""

    def __init__(self, buf, *, verify=False, copy=None, raw_bits=False, _mmap_obj=None,
                 **limits):
        self._copy = check_flag(copy, "copy", none=True)
        check_flag(verify, "verify")
        self._raw_bits = check_flag(raw_bits, "raw_bits")
        self._limits = _check_limits(limits)
        self._mmap = _mmap_obj
        h, minor, entries, data_start, mv = _parse(buf, self._limits)
        self._buf = mv
        self._header = h
        self.version = (1, minor)
        self.metadata = h["metadata"]
        self.alignment = h["alignment"]
        self.checksum = h["checksum"]
        self.size = len(mv)
        self.data_start = data_start
        self._entries = entries
        self._index = entries.positions
        if verify:
            for e in entries:
                self._verify_record(e)

    @property
    def header(self) -> dict:
        """The parsed header object."""
        return header_object(self._header, self._entries)

    # Mapping interface
    @property
    def names(self) -> list[str]:
        return list(self._index)

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self):
        return iter(self._index)

    def __contains__(self, name) -> bool:
        return name in self._index

    def __getitem__(self, name: str) -> np.ndarray:
        return self.read(name)

    def __repr__(self) -> str:
        return f"<NdpackFile {len(self)} arrays, {self.size} bytes>"

    def info(self, name: str) -> ArrayInfo:
        """The validated header entry of ``name`` (no payload access)."""
        try:
            return self._entries[self._index[name]]
        except (KeyError, TypeError):
            raise _NotFound("NOT_FOUND", f"no array named {name!r}", array=name) from None

    def _check_open(self) -> None:
        if self._buf is None:
            raise NdpackError("CLOSED", "the file is closed")

    def _record_end(self, e: ArrayInfo) -> int:
        """Where the record of ``e`` and the padding after it end: the next record's start."""
        i = self._index[e.name]
        if i + 1 < len(self._entries):
            return self._entries[i + 1].start
        return e.start + e.byte_length + (4 if self.checksum == "crc32" else 0)

    def _verify_record(self, e: ArrayInfo) -> None:
        """Section 9 step 22 for one array."""
        self._check_open()
        check_record(e, self.checksum, self._buf[e.start : self._record_end(e)])

    def read(self, name: str, *, copy=..., verify: bool = False) -> np.ndarray:
        """The array ``name``. ``copy`` defaults to the file's (see the module documentation);
        ``verify=True`` checks this array's CRC and padding first."""
        self._check_open()  # CLOSED before NOT_FOUND, as TypeScript's readers
        e = self.info(name)
        copy = self._copy if copy is ... else copy
        if verify:
            self._verify_record(e)
        return array_of(e, self._buf[e.start : e.start + e.byte_length], copy=copy,
                        raw_bits=self._raw_bits,
                        max_decoded_bytes=self._limits["max_decoded_bytes"])

    def verify(self) -> list[dict]:
        """Check every array's CRC-32 and padding on its own (section 9 step 22), without
        decompressing anything (section 5); one report per array. CLOSED after ``close``."""
        self._check_open()
        return verify_reports(self._entries, self._verify_record)

    def close(self) -> None:
        """Release the memory map, if any (it stays alive while arrays still view it)."""
        self._buf = None
        if self._mmap is not None:
            try:
                self._mmap.close()
            except BufferError:
                pass  # arrays still view it; it is freed with the last of them
            self._mmap = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _open_regular_fd(path) -> int:
    """A file descriptor of ``path`` opened for reading, INVALID_ARGUMENT unless it is a regular
    file. It is opened without blocking, then checked: a FIFO opened as a file waits for a writer
    forever."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NdpackError("INVALID_ARGUMENT", f"{os.fsdecode(path)} is not a regular file (a "
                              "directory, FIFO, socket or device)")
    except BaseException:
        os.close(fd)
        raise
    return fd


def _open_regular_file(path):
    """``path`` opened for reading (``_open_regular_fd``), as a file object that blocks."""
    fd = _open_regular_fd(path)
    try:
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def loads(buffer, **options) -> NdpackFile:
    """Read ndpack bytes (any buffer-protocol object). Options as for ``load``."""
    return NdpackFile(buffer, **options)


def load(source, *, mmap: bool = False, **options) -> NdpackFile:
    """Read an ndpack file from a path (read into memory, or memory-mapped when ``mmap=True``) or
    from a buffer. Options: ``verify``, ``copy``, ``raw_bits`` and the limits (module docs)."""
    if not isinstance(source, (str, os.PathLike)):
        return NdpackFile(source, **options)
    if not mmap:
        with _open_regular_file(source) as fh:
            return NdpackFile(fh.read(), **options)
    # The map alone is kept: no file object (a map is made of the descriptor, which can close).
    fd = _open_regular_fd(source)
    try:
        m = _mmap.mmap(fd, 0, access=_mmap.ACCESS_READ)
    except ValueError:  # an empty file cannot be mapped
        return NdpackFile(b"", **options)
    finally:
        os.close(fd)
    try:
        return NdpackFile(m, _mmap_obj=m, **options)
    except BaseException as ex:
        # The frames of the failed parse, which the traceback keeps for as long as the caller
        # keeps the exception, hold views of the map: cleared, so that the map (and the
        # descriptor it holds) closes now rather than with the exception.
        traceback.clear_frames(ex.__traceback__.tb_next)
        try:
            m.close()
        except BufferError:  # still viewed from elsewhere; freed with the last view
            pass
        raise


def verify(source, **limits) -> dict:
    """Check a file without raising for bad bytes: structure (section 9 steps 1-21), then every
    array's CRC-32 and padding on its own (step 22). See the module documentation."""
    _check_limits(limits, "verify", ())  # a bad option raises: it says nothing of the file
    try:
        # A path is mapped, not read: a large file that is not ndpack fails at its first bytes.
        f = load(source, mmap=True, **limits)
    except NdpackError as ex:
        if ex.code == "INVALID_ARGUMENT":  # not a file to check (a FIFO, a directory): the caller's
            raise
        return {"ok": False, "error": {"code": ex.code, "message": ex.message}, "checksum": None,
                "arrays": []}
    try:
        arrays = f.verify()
    finally:
        f.close()
    return {"ok": all(a["ok"] for a in arrays), "error": None, "checksum": f.checksum,
            "arrays": arrays}


# --------------------------------------------------------------------------------------------------
# Writing (FORMAT.md sections 4, 5, 8)
# --------------------------------------------------------------------------------------------------

def _ndpack_dtype(dt: np.dtype, name: str | None = None) -> str:
    """The ndpack dtype of a numpy dtype (numpy's numeric types and ml_dtypes' three); any other
    (strings, dates, objects, records) is INVALID_ARGUMENT naming array ``name``, if given."""
    module = dt.type.__module__.split(".")[0]
    if module == "ml_dtypes" and dt.name in ("bfloat16", "float8_e4m3fn", "float8_e5m2"):
        return dt.name
    if module == "numpy" and dt.kind in "biufc":
        kind = {"b": "bool", "i": "int", "u": "uint", "f": "float", "c": "complex"}[dt.kind]
        ndpack_name = kind if kind == "bool" else f"{kind}{dt.itemsize * 8}"
        if ndpack_name in DTYPES and DTYPES[ndpack_name][3] is None:
            return ndpack_name
    where = "" if name is None else f"array {name!r}: "
    raise NdpackError("INVALID_ARGUMENT", f"{where}numpy dtype {dt} has no ndpack dtype (ndpack "
                      "holds bool, integers, floats and complex numbers)", array=name)


def _array_bytes(name: str, spec, opts: dict) -> tuple[dict, bytes]:
    """(header entry without offset/byteLength, stored payload) for one array."""
    if isinstance(spec, Mapping):
        unknown = set(spec) - {"data", "dtype", "order", "codec", "byte_order"}
        if unknown or "data" not in spec:
            raise NdpackError("INVALID_ARGUMENT", f"array {name!r}: expected keys data, dtype, "
                              "order, codec, byte_order", array=name)
        data = spec["data"]
        dtype, order, codec = spec.get("dtype"), spec.get("order"), spec.get("codec")
        byte_order = spec.get("byte_order") or opts["byte_order"]
        if byte_order not in ("little", "big"):
            raise NdpackError("INVALID_ARGUMENT", f"byte_order {byte_order!r}", array=name)
    else:
        data, dtype, order, codec = spec, None, None, None
        byte_order = opts["byte_order"]
    a = _as_array(name, data)
    src_dt = a.dtype
    src_word = src_dt.itemsize // 2 if src_dt.kind == "c" else src_dt.itemsize
    natural = _ndpack_dtype(src_dt, name)
    if dtype is None:
        dtype = natural
    elif not isinstance(dtype, str) or dtype not in DTYPES:  # the TypeScript writer's code
        raise NdpackError("UNKNOWN_DTYPE", f"array {name!r}: unknown dtype {dtype!r}", array=name)
    size, word = DTYPES[dtype][:2]
    if src_dt.itemsize != size or src_word != word:
        raise NdpackError("INVALID_ARGUMENT", f"array {name!r}: numpy dtype {src_dt} cannot be "
                          f"written as {dtype}", array=name)
    _check_shape(name, a.shape, size)
    order = order or opts["order"]
    if order is None:
        order = "F" if a.flags.f_contiguous and not a.flags.c_contiguous else "C"
    if order not in ("C", "F"):
        raise NdpackError("INVALID_ARGUMENT", f"order {order!r}", array=name)
    if codec not in (None, *CODECS):  # the TypeScript writer's code
        raise NdpackError("UNSUPPORTED_CODEC", f"array {name!r}: unsupported codec {codec!r}",
                          array=name)
    if codec in (None, "none"):  # as in the TypeScript API: "none" leaves it to the file's option
        codec = opts["codec"]
    if not src_dt.isnative:
        a = a.astype(src_dt.newbyteorder("="))
    raw = a.tobytes(order=order)  # native byte order
    big = byte_order == "big" and size > 1
    if big != (sys.byteorder == "big") and word > 1:
        raw = np.frombuffer(raw, dtype=f"u{word}").byteswap().tobytes()
    nbytes = len(raw)
    if dtype == "bool" and nbytes and np.frombuffer(raw, np.uint8).max() > 1:
        raise NdpackError("INVALID_ARGUMENT", f"array {name!r}: a bool byte other than 0 or 1 "
                          "(FORMAT.md section 3)", array=name)
    stored = raw
    if codec != "none":
        src = _shuffle(raw, word) if codec == "shuffle+deflate" else raw
        c = zlib.compressobj(opts["compression_level"], zlib.DEFLATED, -15)
        packed = c.compress(src) + c.flush()
        if len(packed) < nbytes:
            stored = packed
        else:
            codec = "none"  # compression does not make it smaller (section 5)
    entry = {"name": name, "dtype": dtype, "shape": list(a.shape), "order": order,
             "byteOrder": "big" if big else "little", "codec": codec}
    return entry, stored


def _as_array(name: str, data, **options) -> np.ndarray:
    """``np.asarray(data, **options)``; what numpy makes no array of (a ragged list: rows of
    different lengths, a torch tensor that requires grad) is INVALID_ARGUMENT, as the TypeScript
    writer's refusal of such input. So is
    a masked array: a file holds no mask, and its values under the mask are not data (``np.save``
    drops the mask silently)."""
    if isinstance(data, np.ma.MaskedArray):
        raise NdpackError("INVALID_ARGUMENT", f"array {name!r} is a masked array, whose mask a "
                          "file cannot hold: write np.ma.getdata(a) and np.ma.getmaskarray(a) as "
                          "two arrays, or a.filled(value)", array=name)
    try:
        return np.asarray(data, **options)
    except (ValueError, TypeError, RuntimeError) as ex:  # RuntimeError: an __array__'s refusal
        raise NdpackError("INVALID_ARGUMENT", f"array {name!r} is not an n-dimensional array: "
                          f"{ex}", array=name) from None


def _pairs(arrays):
    """``arrays``, a mapping or ``(name, array)`` pairs, as a list of pairs. A bare array (as
    ``np.save(path, a)`` takes) is INVALID_ARGUMENT saying so, as in TypeScript: the rows of a
    two-column one would otherwise pass for pairs."""
    if isinstance(arrays, Mapping):
        return list(arrays.items())
    if isinstance(arrays, (np.ndarray, np.generic)):
        raise NdpackError("INVALID_ARGUMENT", "arrays must be named: pass {'x': array}, not a "
                          f"bare {type(arrays).__name__}; a file holds named arrays")
    try:
        pairs = [tuple(p) for p in arrays]
    except TypeError:
        raise NdpackError("INVALID_ARGUMENT", "arrays must be a mapping or (name, array) pairs") \
            from None
    if not all(len(p) == 2 for p in pairs):
        raise NdpackError("INVALID_ARGUMENT", "arrays must be a mapping or (name, array) pairs")
    return pairs


def _check_file_options(alignment, byte_order, checksum, metadata) -> None:
    """The options of a whole file, shared by ``dumps``/``save`` and streaming writers."""
    if type(alignment) is not int or not (8 <= alignment <= 65536) or alignment & (alignment - 1):
        raise NdpackError("INVALID_ARGUMENT", "alignment must be a power of two from 8 to 65536")
    if byte_order not in ("little", "big"):
        raise NdpackError("INVALID_ARGUMENT", "byte_order must be 'little' or 'big'")
    if checksum not in CHECKSUMS:
        raise NdpackError("INVALID_ARGUMENT", "checksum must be 'crc32' or 'none'")
    if metadata is not None and not isinstance(metadata, Mapping):
        raise NdpackError("INVALID_ARGUMENT", "metadata must be a dict")


def layout(entries: list, *, alignment: int, checksum: str, metadata) -> bytes:
    """Sections 4 and 8: give each header entry (a dict holding its ``byteLength``) its ``offset``,
    records packed in order at the alignment, and return the bytes before the data section:
    preamble, canonical header and the zero padding up to the first record. A writer writes only
    files that readers read with their default limits (section 8): metadata nested deeper than
    ``max_depth`` allows is LIMIT_EXCEEDED, a header longer than ``max_header_bytes``
    HEADER_TOO_LARGE, before anything is written. (Files with more arrays or JSON values than
    ``max_arrays`` or ``max_header_nodes`` are written: readers read them with raised limits.)"""
    c = 4 if checksum == "crc32" else 0
    end = 0
    for e in entries:
        e["offset"] = _align_up(end, alignment)
        end = e["offset"] + e["byteLength"] + c
    if end > MAX_SAFE_INTEGER:
        raise NdpackError("INVALID_ARGUMENT", "the data section is larger than 2^53-1 bytes")
    header = canonical_header({"alignment": alignment, "checksum": checksum, "dataLength": end,
                               "metadata": {} if metadata is None else metadata,
                               "arrays": entries}, max_depth=DEFAULT_LIMITS["max_depth"])
    hlen = len(header)
    if hlen > DEFAULT_LIMITS["max_header_bytes"]:
        raise NdpackError("HEADER_TOO_LARGE", f"the header would be {hlen} bytes, more than "
                          f"readers accept by default (max_header_bytes "
                          f"{DEFAULT_LIMITS['max_header_bytes']}): write fewer arrays or less "
                          "metadata per file")
    fixed = struct.pack("<HHI", 1, 0, hlen)
    head = MAGIC + fixed + struct.pack("<I", zlib.crc32(header, zlib.crc32(fixed))) + header
    return head + bytes(_align_up(len(head), alignment) - len(head))


def _check_name(name, seen: set) -> None:
    """A name a writer accepts, with the TypeScript writer's codes: a non-empty str, not given
    before (``seen``, updated; DUPLICATE_NAME), no lone surrogate, at most the ``max_name_bytes``
    readers accept by default (LIMIT_EXCEEDED: a file they would refuse is not written)."""
    if not isinstance(name, str) or not name:
        raise NdpackError("INVALID_ARGUMENT", f"name {name!r} is not a non-empty str")
    if name in seen:
        raise NdpackError("DUPLICATE_NAME", f"array name {name!r} is given twice", array=name)
    seen.add(name)
    _json_string(name)
    if len(name.encode("utf-8")) > DEFAULT_LIMITS["max_name_bytes"]:
        raise NdpackError("LIMIT_EXCEEDED", "array name is longer than the "
                          f"{DEFAULT_LIMITS['max_name_bytes']} UTF-8 bytes readers accept by default",
                          array=name)


def _check_shape(name: str, shape, itemsize: int) -> list[int]:
    """A shape a writer accepts: section 9 steps 12 and 13 on the writer's side, as the TypeScript
    encoder checks them. BAD_SHAPE unless it is a list or tuple of non-negative integers (``int``
    or numpy integers, not bools) whose non-zero ones times ``itemsize`` are at most 2^53-1 bytes;
    LIMIT_EXCEEDED beyond 64 dimensions (readers' default ``max_dims``)."""
    if isinstance(shape, np.ndarray) and shape.ndim == 1:
        shape = shape.tolist()
    if not isinstance(shape, (list, tuple)) or not all(
            isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d >= 0
            for d in shape):
        raise NdpackError("BAD_SHAPE", f"array {name!r}: shape must be a list of non-negative "
                          f"integers, got {shape!r}", array=name)
    dims = [int(d) for d in shape]
    if len(dims) > DEFAULT_LIMITS["max_dims"]:
        raise NdpackError("LIMIT_EXCEEDED", f"array {name!r} has {len(dims)} dimensions, more "
                          f"than the {DEFAULT_LIMITS['max_dims']} readers accept", array=name)
    nonzero = itemsize  # step 13: bounded even when another dimension is 0
    for d in dims:
        if d:
            nonzero *= d
    if nonzero > MAX_SAFE_INTEGER:
        raise NdpackError("BAD_SHAPE", f"array {name!r}: shape {dims} holds more than 2^53-1 "
                          "bytes", array=name)
    return dims


#: The options of ``dumps`` and ``save``.
ENCODE_OPTIONS = ("metadata", "alignment", "byte_order", "checksum", "codec", "compression_level",
                  "order")


def _encode(arrays, *, metadata=None, alignment=64, byte_order="little", checksum="crc32",
            codec="none", compression_level=6, order=None, **unknown) -> list:
    """The ndpack file as a list of byte chunks."""
    _check_option_names(unknown, ENCODE_OPTIONS, "dumps/save")
    _check_file_options(alignment, byte_order, checksum, metadata)
    if codec not in CODECS:
        raise NdpackError("INVALID_ARGUMENT", f"codec must be one of {CODECS}")
    if type(compression_level) is not int or not 0 <= compression_level <= 9:
        raise NdpackError("INVALID_ARGUMENT", "compression_level must be from 0 to 9")
    if order not in (None, "C", "F"):
        raise NdpackError("INVALID_ARGUMENT", "order must be None, 'C' or 'F'")
    opts = {"byte_order": byte_order, "codec": codec, "compression_level": compression_level,
            "order": order}
    c = 4 if checksum == "crc32" else 0
    entries, payloads, seen = [], [], set()
    for name, spec in _pairs(arrays):
        _check_name(name, seen)
        entry, stored = _array_bytes(name, spec, opts)
        entry["byteLength"] = len(stored)
        entries.append(entry)
        payloads.append(stored)
    chunks = [layout(entries, alignment=alignment, checksum=checksum, metadata=metadata)]
    pos = 0
    for e, stored in zip(entries, payloads):
        if e["offset"] > pos:
            chunks.append(bytes(e["offset"] - pos))
        chunks.append(stored)
        if c:
            chunks.append(struct.pack("<I", _crc32(stored)))
        pos = e["offset"] + len(stored) + c
    return chunks


def dumps(arrays, **options) -> bytes:
    """Encode arrays into ndpack bytes. See the module documentation for ``arrays`` and options."""
    return b"".join(_encode(arrays, **options))


def save(file, arrays, **options) -> None:
    """Write arrays to ``file``, a path or a writable binary file object. Options as ``dumps``."""
    chunks = _encode(arrays, **options)
    if hasattr(file, "write"):
        for ch in chunks:
            file.write(ch)
        return
    with open(file, "wb") as fh:
        for ch in chunks:
            fh.write(ch)
