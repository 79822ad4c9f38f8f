""".safetensors files read lazily, with the reader's interface (``ndpack.open`` of a .safetensors
file, and a set's .safetensors shards: Hugging Face's sharded checkpoints). The checks and their
codes are the TypeScript reader's (src/formats/safetensors.ts)."""

from __future__ import annotations

import struct

from . import reference
from ._reader import Reader, check_file_length
from .reference import ArrayInfo, NdpackError

SAFETENSORS_DTYPES = {
    "BOOL": "bool", "U8": "uint8", "I8": "int8", "U16": "uint16", "I16": "int16",
    "U32": "uint32", "I32": "int32", "U64": "uint64", "I64": "int64", "F16": "float16",
    "BF16": "bfloat16", "F32": "float32", "F64": "float64", "C64": "complex64",
    "F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2",
}


#: The reference safetensors loader's ``MAX_HEADER_SIZE``: the longest header of a .safetensors
#: shard read unless ``max_header_bytes`` is given (as the TypeScript reader's default).
SAFETENSORS_MAX_HEADER_BYTES = 100_000_000
#: The ``__metadata__`` key listing the keys whose values ndpack stored as JSON text (Appendix C).
SAFETENSORS_JSON_KEYS = "__ndpack_json__"
_METADATA_KEY = "__metadata__"
_TENSOR_KEYS = ("dtype", "shape", "data_offsets")


def _header_invalid(message: str, name: str | None = None) -> NdpackError:
    return NdpackError("HEADER_INVALID", f"safetensors {message}", array=name)


def safetensors_header(raw: bytes, limits: dict) -> dict:
    """The JSON object of a safetensors header, parsed by the header parser of ndpack files
    (FORMAT.md §2.1: strict, iterative, ``max_depth`` and ``max_header_nodes`` applied, every
    number a non-negative integer of at most 2^53-1, BAD_NUMBER otherwise, whatever its key: a
    safetensors header has no ``metadata`` of free numbers), a repeated tensor name being
    DUPLICATE_NAME (Appendix C)."""
    try:
        return reference._parse_header_json(raw, limits["max_depth"], limits["max_header_nodes"],
                                            free_numbers_key=None)
    except NdpackError as ex:
        if ex.code == "DUPLICATE_KEY" and getattr(ex, "depth", None) == 1:
            raise NdpackError("DUPLICATE_NAME", f"the safetensors header names tensor {ex.key!r} "
                              "twice", array=ex.key) from None
        raise


def safetensors_tensors(header: dict, max_dims: int) -> tuple[list, dict]:
    """The tensors of a parsed safetensors header, in the header's order, as ``(name, dtype,
    shape, begin, end)``, and its ``__metadata__`` (strings). The reference loader's
    deserialization, stricter (Appendix C), in the TypeScript reader's order, one key after the
    other: ``__metadata__`` an object of strings; a tensor an object of exactly dtype (a string),
    shape (a list of sizes) and data_offsets (a list of two sizes): HEADER_INVALID; then its dtype
    known (UNKNOWN_DTYPE) and at most ``max_dims`` dimensions (LIMIT_EXCEEDED)."""
    tensors, raw_metadata = [], {}
    for name, t in header.items():
        if name == _METADATA_KEY:
            if t is None:  # the reference loader reads an Option: null is no metadata
                continue
            if not isinstance(t, dict) or not all(isinstance(v, str) for v in t.values()):
                raise _header_invalid(f"{_METADATA_KEY} must be an object of strings")
            raw_metadata = t
            continue
        if not isinstance(t, dict):
            raise _header_invalid(f"tensor {name!r} must be an object with dtype, shape and "
                                  "data_offsets", name)
        for key in t:
            if key not in _TENSOR_KEYS:
                raise _header_invalid(f"tensor {name!r} has the unknown key {key!r}", name)
        for key in _TENSOR_KEYS:
            if key not in t:
                raise _header_invalid(f"tensor {name!r} has no key {key!r}", name)
        dtype, shape, offsets = t["dtype"], t["shape"], t["data_offsets"]
        if not isinstance(dtype, str):
            raise _header_invalid(f"tensor {name!r}: dtype must be a string", name)
        if not isinstance(shape, list):
            raise _header_invalid(f"tensor {name!r}: shape must be a list of integers", name)
        if not isinstance(offsets, list) or len(offsets) != 2:
            raise _header_invalid(f"tensor {name!r}: data_offsets must be a list of two integers",
                                  name)
        # Every number is already a size (the parser said BAD_NUMBER otherwise); bools are not.
        for key, values in (("shape", shape), ("data_offsets", offsets)):
            if not all(type(v) is int for v in values):
                raise _header_invalid(f"tensor {name!r}: {key} must be a list of integers", name)
        if dtype not in SAFETENSORS_DTYPES:
            raise NdpackError("UNKNOWN_DTYPE", f"safetensors tensor {name!r} has dtype {dtype!r}, "
                              "which ndpack does not read", array=name)
        if len(shape) > max_dims:
            raise NdpackError("LIMIT_EXCEEDED", f"safetensors tensor {name!r} has {len(shape)} "
                              f"dimensions, more than max_dims={max_dims}", array=name)
        tensors.append((name, SAFETENSORS_DTYPES[dtype], shape, offsets[0], offsets[1]))
    return tensors, raw_metadata


def safetensors_data_length(tensors: list) -> tuple[list, int]:
    """The reference loader's ``validate``: the tensors sorted by their offsets follow each other
    from 0 (OVERLAP, GAP), none ends before it begins (HEADER_INVALID), and each spans the bytes of
    its shape (BAD_SHAPE beyond 2^53-1, SIZE_MISMATCH). Returns the sorted tensors and where the
    last one ends."""
    tensors = sorted(tensors, key=lambda t: (t[3], t[4]))
    expected = 0
    for name, dtype, shape, begin, end in tensors:
        if begin < expected:
            raise NdpackError("OVERLAP", f"safetensors tensor {name!r} starts at {begin}, inside "
                              f"the previous tensor, which ends at {expected}", array=name)
        if begin > expected:
            raise NdpackError("GAP", f"safetensors tensor {name!r} starts at {begin}, leaving "
                              f"bytes after the previous tensor, which ends at {expected}",
                              array=name)
        if end < begin:
            raise _header_invalid(f"tensor {name!r} ends ({end}) before it begins ({begin})", name)
        nonzero = reference.DTYPES[dtype][0]  # as FORMAT.md §9 step 13
        for d in shape:
            nonzero *= d or 1
            if nonzero > reference.MAX_SAFE_INTEGER:  # more only make it larger, and slower
                break
        if nonzero > reference.MAX_SAFE_INTEGER:
            raise NdpackError("BAD_SHAPE", f"safetensors tensor {name!r}: shape {shape} holds "
                              "more than 2^53-1 bytes", array=name)
        nbytes = 0 if 0 in shape else nonzero
        if end - begin != nbytes:
            raise NdpackError("SIZE_MISMATCH", f"safetensors tensor {name!r}: data_offsets span "
                              f"{end - begin} bytes, its shape needs {nbytes}", array=name)
        expected = end
    return tensors, expected


def _metadata_json(text: str, key: str, limits: dict):
    """One JSON value of ``__metadata__`` (a metadata value: any number), or HEADER_INVALID."""
    try:
        wrapped = reference._parse_header_json(f'{{"metadata":{text}}}'.encode("utf-8"),
                                               limits["max_depth"], limits["max_header_nodes"])
        if len(wrapped) == 1:
            return wrapped["metadata"]
    except NdpackError as ex:
        if ex.code == "LIMIT_EXCEEDED":
            raise
    raise _header_invalid(f"{_METADATA_KEY}.{key} is listed as JSON but is not one JSON value")


def safetensors_metadata(raw: dict, limits: dict) -> dict:
    """``__metadata__`` as ndpack metadata (Appendix C): the keys listed (a JSON list of other keys)
    under ``__ndpack_json__`` decoded from JSON, in the list's order, that key removed;
    HEADER_INVALID otherwise (LIMIT_EXCEEDED for ``max_depth`` and ``max_header_nodes``)."""
    listed = _metadata_json(raw[SAFETENSORS_JSON_KEYS], SAFETENSORS_JSON_KEYS, limits) \
        if SAFETENSORS_JSON_KEYS in raw else []
    if not isinstance(listed, list) or not all(
            isinstance(k, str) and k != SAFETENSORS_JSON_KEYS and k in raw for k in listed):
        raise _header_invalid(f"{_METADATA_KEY}.{SAFETENSORS_JSON_KEYS} must be a JSON list of "
                              f"other {_METADATA_KEY} keys")
    # Decoded in the list's order (FORMAT.md §12.3 step 4.6), each key once however often it is
    # listed; a dict, not a walk of the list per key (100,000 keys listed made that quadratic).
    decoded: dict = {}
    for key in listed:
        if key not in decoded:
            decoded[key] = _metadata_json(raw[key], key, limits)
    return {key: decoded.get(key, text) for key, text in raw.items()
            if key != SAFETENSORS_JSON_KEYS}


class SafetensorsReader(Reader):
    """A .safetensors shard with the reader's interface (no CRC: ``verify`` checks nothing).

    Its checks are those of the TypeScript reader (src/interop/safetensors.ts), in its order: the
    header length (TRUNCATED, HEADER_TOO_LARGE over ``max_header_bytes``, by default the reference
    loader's 100,000,000, TRUNCATED past the end), the header (``safetensors_header``, then
    ``safetensors_tensors``), the tensors' offsets (``safetensors_data_length``), the file's length
    (TRUNCATED, TRAILING_BYTES: the last tensor ends where the file does), then ``__metadata__``
    (``safetensors_metadata``). ``metadata`` is ``__metadata__`` decoded."""

    @property
    def header(self) -> dict:
        """The safetensors header object, without its ``__metadata__``."""
        return self._header

    extensions = (".safetensors",)
    default_max_header_bytes = SAFETENSORS_MAX_HEADER_BYTES

    @staticmethod
    def sniff(first_bytes, size: int) -> bool:
        """Whether a file of ``size`` bytes beginning with ``first_bytes`` looks like a .safetensors
        file: a header length that fits in the file, then ``{`` (TypeScript's ``sniff``)."""
        return (len(first_bytes) > 8 and first_bytes[8] == 0x7B
                and struct.unpack("<Q", bytes(first_bytes[:8]))[0] <= size - 8)

    def _read_header(self, prefix, check_head) -> None:
        size = self.size
        if check_head is not None:
            check_head(self, prefix)
        if size < 8:
            raise NdpackError("TRUNCATED", f"{size} bytes is shorter than safetensors' 8")
        (length,) = struct.unpack("<Q", bytes(prefix[:8]))
        if length > self.header_cap:
            raise NdpackError("HEADER_TOO_LARGE", f"header of {length} bytes > max_header_bytes="
                              f"{self.header_cap}")
        if 8 + length > size:
            raise NdpackError("TRUNCATED", "the header ends after the end of the file")
        self.header_end = 8 + length
        head = prefix[:self.header_end] if len(prefix) >= self.header_end \
            else self._read(0, self.header_end)
        header = safetensors_header(bytes(head[8:]), self._limits)
        tensors, raw_metadata = safetensors_tensors(header, self._limits["max_dims"])
        tensors, data_length = safetensors_data_length(tensors)
        check_file_length(size, self.header_end + data_length, "the safetensors file")
        self.metadata = safetensors_metadata(raw_metadata, self._limits)
        header.pop(_METADATA_KEY, None)
        self._header, self.version = header, None
        self.alignment, self.checksum, self.data_end = None, "none", size
        self._entries = [ArrayInfo(name, dtype, tuple(shape), "C", "little", "none", begin,
                                   end - begin, end - begin, self.header_end + begin)
                         for name, dtype, shape, begin, end in tensors]
        self._index = {e.name: i for i, e in enumerate(self._entries)}

    def _record_end(self, e: ArrayInfo) -> int:
        return e.start + e.byte_length  # no padding rule between safetensors' tensors
