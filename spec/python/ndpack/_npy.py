"""numpy .npy files read lazily, with the reader's interface (``ndpack.open`` of a .npy path or URL:
the header once, the array, or rows of it, in ranged reads). The header is parsed as TypeScript's
reader parses it (src/interop/npy.ts, ``readNpyLayout``): only the dict literal numpy writes, the
checks in the same order, with the same codes, so that both languages accept and refuse the same
files (numpy's own reader, ``ast.literal_eval``, accepts any Python literal)."""

from __future__ import annotations

import struct
import sys
from typing import NamedTuple

from . import reference
from ._reader import Reader, check_file_length
from .reference import ArrayInfo, NdpackError

NPY_MAGIC = b"\x93NUMPY"
#: numpy's ``max_header_size``: the longest header read unless ``max_header_bytes`` is given.
NPY_MAX_HEADER_BYTES = 10000
#: Magic, version and header length, by major version.
_PREFIX_SIZE = {1: 10, 2: 12, 3: 12}
#: The longest prefix: the bytes that say how long the header is.
_MAX_PREFIX_SIZE = 12
#: numpy type code (``"f4"``) to ndpack dtype: those with a numpy type of their own.
_DTYPE_OF_CODE = {"b1": "bool", "i1": "int8", "i2": "int16", "i4": "int32", "i8": "int64",
                  "u1": "uint8", "u2": "uint16", "u4": "uint32", "u8": "uint64", "f2": "float16",
                  "f4": "float32", "f8": "float64", "c8": "complex64", "c16": "complex128"}
_WHITESPACE = " \t\n\r\f"
_IDENTIFIER = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")


class NpyLayout(NamedTuple):
    """What a .npy header says (TypeScript's ``NpyLayout``), with the sizes derived from it."""

    version: int
    dtype: str
    byte_order: str
    shape: tuple
    order: str
    #: Where the array's bytes start: the length of the magic, version, length field and header.
    data_start: int
    nbytes: int
    #: The header dict as read: ``descr``, ``fortran_order`` and ``shape``.
    header: dict


def check_void_dtype(void_dtype) -> None:
    """INVALID_ARGUMENT unless ``void_dtype`` is None or an ndpack dtype name (TypeScript's
    ``checkDtype`` of the ``voidDtype`` option)."""
    if void_dtype is not None and (not isinstance(void_dtype, str)
                                   or void_dtype not in reference.DTYPES):
        raise NdpackError("INVALID_ARGUMENT", f"void_dtype must be an ndpack dtype name, got "
                          f"{void_dtype!r}")


def _where(member: str | None) -> str:
    """What an error message names: the whole input, or one member of a .npz file."""
    return "" if member is None else f'member "{member}.npy": '


def _npy_prefix(head, length: int, max_header_bytes: int, member: str | None) -> tuple:
    """Magic, version and header length (TypeScript's ``readNpyPrefix``): ``head`` holds the first
    bytes of content ``length`` bytes long, at least its first 12 (all of it when shorter).
    Returns ``(major version, header length, prefix size)``."""
    where = _where(member)
    head = bytes(head[:12])
    for i in range(min(length, len(NPY_MAGIC))):
        if head[i] != NPY_MAGIC[i]:
            raise NdpackError("BAD_MAGIC", f"{where}not a .npy file: byte {i} is 0x{head[i]:02x}, "
                              f"expected 0x{NPY_MAGIC[i]:02x} (the magic is \\x93NUMPY)",
                              array=member)
    if length < 8:
        raise NdpackError("TRUNCATED", f"{where}input is {length} bytes, shorter than the .npy "
                          "magic and version", array=member)
    major, minor = head[6], head[7]
    if major not in _PREFIX_SIZE or minor != 0:
        raise NdpackError("UNSUPPORTED_VERSION", f"{where}.npy format version {major}.{minor} is "
                          "not supported; this reader reads 1.0, 2.0 and 3.0", array=member)
    prefix_size = _PREFIX_SIZE[major]
    if length < prefix_size:
        raise NdpackError("TRUNCATED", f"{where}input is {length} bytes, shorter than the "
                          f"{prefix_size}-byte .npy {major}.0 prefix", array=member)
    (header_length,) = struct.unpack("<H" if major == 1 else "<I", head[8:prefix_size])
    if header_length > max_header_bytes:
        raise NdpackError("HEADER_TOO_LARGE", f"{where}.npy header is {header_length} bytes, more "
                          f"than max_header_bytes={max_header_bytes}", array=member)
    if prefix_size + header_length > length:
        raise NdpackError("TRUNCATED", f"{where}input ends at byte {length}, inside the .npy "
                          f"header, which ends at byte {prefix_size + header_length}",
                          array=member)
    return major, header_length, prefix_size


def npy_layout(read_head, length: int, first: int, *, max_header_bytes: int, max_dims: int,
               void_dtype: str | None = None, member: str | None = None,
               known: dict | None = None) -> NpyLayout:
    """The layout of .npy content ``length`` bytes long (a .npy file, or a .npz member), checked as
    TypeScript's ``npyLayoutSteps`` and ``readNpyLayout`` check it, the first failure in wire
    order: the magic (BAD_MAGIC), the version (1.0, 2.0 and 3.0; UNSUPPORTED_VERSION), the header's
    length (HEADER_TOO_LARGE over ``max_header_bytes``; TRUNCATED past the end), the dict
    (HEADER_INVALID, DUPLICATE_KEY, BAD_NUMBER), the descr (UNKNOWN_DTYPE: object, structured and,
    without ``void_dtype``, void dtypes), the shape (BAD_SHAPE, LIMIT_EXCEEDED over ``max_dims``),
    then the content's length (TRUNCATED, TRAILING_BYTES). ``read_head(n)`` gives the content's
    first ``n`` bytes: asked for ``first`` first, which hold the header of nearly every file, then
    for the whole header when it is longer. ``member`` names a .npz member in messages and as the
    errors' ``array``. ``known`` keeps the layouts read, by what they depend on (the header's
    text, the content's length, ``void_dtype``): the members of a checkpoint share a few shapes,
    whose headers are then parsed once (as TypeScript's reader does)."""
    where = _where(member)
    head = read_head(min(length, max(first, _MAX_PREFIX_SIZE)))
    major, header_length, prefix_size = _npy_prefix(head, length, max_header_bytes, member)
    data_start = prefix_size + header_length
    if len(head) < data_start:
        head = read_head(data_start)
    try:  # versions 1.0 and 2.0 are latin-1, 3.0 UTF-8; the grammar is ASCII either way
        text = bytes(head[prefix_size:data_start]).decode("utf-8" if major == 3 else "latin-1")
    except UnicodeDecodeError:
        raise NdpackError("HEADER_INVALID", f"{where}.npy 3.0 header is not valid UTF-8",
                          array=member) from None
    key = (major, length, void_dtype, text)
    if known is not None and key in known:
        return known[key]
    try:
        fields = _DictParser(text, allow_long_suffix=major != 3).parse()
    except NdpackError as ex:
        if member is None:
            raise
        raise NdpackError(ex.code, f"{where}{ex.message}", array=member) from None

    def fail(code: str, message: str) -> NdpackError:
        return NdpackError(code, f"{where}{message}", array=member)
    if len(fields) != 3 or set(fields) != {"descr", "fortran_order", "shape"}:
        keys = ", ".join(f"'{k}'" for k in fields) or "none"
        raise fail("HEADER_INVALID", ".npy header must have exactly the keys 'descr', "
                   f"'fortran_order' and 'shape', has {keys}")
    descr, fortran, shape = fields["descr"], fields["fortran_order"], fields["shape"]
    if descr[0] == "list":
        raise fail("UNKNOWN_DTYPE", ".npy descr is a structured (record) dtype, which ndpack does "
                   "not read")
    if descr[0] != "str":
        raise fail("HEADER_INVALID", ".npy header: 'descr' must be a string")
    if fortran[0] != "bool":
        raise fail("HEADER_INVALID", ".npy header: 'fortran_order' must be True or False")
    if shape[0] != "tuple":
        raise fail("HEADER_INVALID", ".npy header: 'shape' must be a tuple of integers")
    dtype, byte_order = _dtype_of_descr(descr[1], void_dtype, fail)
    dims, negative = shape[1]
    if negative:  # "-0" too, as in TypeScript
        raise fail("BAD_SHAPE", f".npy shape {tuple(dims)} has a negative dimension")
    if len(dims) > max_dims:
        raise fail("LIMIT_EXCEEDED", f".npy array has {len(dims)} dimensions, more than "
                   f"max_dims={max_dims}")
    nbytes = _nbytes(dims, reference.DTYPES[dtype][0], dtype, fail)
    check_file_length(length, data_start + nbytes, f"{where}the .npy content", member)
    if reference.DTYPES[dtype][1] == 1:  # one-byte words have no byte order
        byte_order = "little"
    header = {"descr": descr[1], "fortran_order": fortran[1], "shape": tuple(dims)}
    layout = NpyLayout(major, dtype, byte_order, tuple(dims), "F" if fortran[1] else "C",
                       data_start, nbytes, header)
    if known is not None:
        known[key] = layout
    return layout


class NpyReader(Reader):
    """A .npy file with the reader's interface: one array, named ``array`` (as in TypeScript), no
    metadata, no CRC-32 (``verify`` checks nothing). Its checks are those of the TypeScript reader
    (``npy_layout``), ``max_header_bytes`` by default numpy's 10,000. ``void_dtype`` (an ndpack
    dtype name) is the dtype of a void descr (``'<V2'``: numpy's way of storing ml_dtypes arrays
    such as bfloat16), as TypeScript's ``voidDtype``; without it such a file is UNKNOWN_DTYPE."""

    extensions = (".npy",)
    default_max_header_bytes = NPY_MAX_HEADER_BYTES

    @staticmethod
    def sniff(first_bytes, size: int) -> bool:
        """Whether a file beginning with ``first_bytes`` is a .npy file (its magic)."""
        return bytes(first_bytes[:6]) == NPY_MAGIC

    @property
    def header(self) -> dict:
        """The header dict as read: ``descr``, ``fortran_order`` and ``shape``."""
        return dict(self._header)

    def _read_header(self, prefix, check_head) -> None:
        check_void_dtype(self._void_dtype)

        def read_head(length: int):
            return prefix[:length] if len(prefix) >= length else self._read(0, length)
        layout = npy_layout(read_head, self.size, len(prefix), max_header_bytes=self.header_cap,
                            max_dims=self._limits["max_dims"], void_dtype=self._void_dtype)
        self._header = layout.header
        self.metadata, self.version = {}, (layout.version, 0)
        self.header_end, self.alignment, self.checksum = layout.data_start, None, "none"
        self.data_end = self.size
        self._entries = [ArrayInfo("array", layout.dtype, layout.shape, layout.order,
                                   layout.byte_order, "none", layout.data_start, layout.nbytes,
                                   layout.nbytes, layout.data_start)]
        self._index = {"array": 0}

    def _record_end(self, e: ArrayInfo) -> int:
        return e.start + e.byte_length


def _dtype_of_descr(descr: str, void_dtype: str | None, fail) -> tuple[str, str]:
    """A descr string to (dtype, byte order): ``<`` little-endian, ``>`` big-endian; ``|``, ``=``
    and none this machine's order, as in numpy. A void descr (``V<n>``, and ``f1``, which np.save
    writes for ml_dtypes' float8_e5m2) is ``void_dtype``, whose item size must be n."""
    order_char = descr[:1]
    has_order = order_char in ("<", ">", "|", "=")
    code = descr[1:] if has_order else descr
    byte_order = {"<": "little", ">": "big"}.get(order_char, sys.byteorder)
    if code in _DTYPE_OF_CODE:
        return _DTYPE_OF_CODE[code], byte_order

    def unknown(why: str) -> NdpackError:
        return fail("UNKNOWN_DTYPE", f".npy descr '{descr}' {why}")

    def digits(text: str) -> bool:
        return all("0" <= c <= "9" for c in text)
    if code[:1] == "O" and digits(code[1:]):
        raise unknown("is an object array: its elements are pickled Python objects, which ndpack "
                      "never unpickles")
    if (code[:1] == "V" and code[1:] and digits(code[1:])) or code == "f1":
        item_size = int(code[1:]) if code[:1] == "V" else 1
        if void_dtype is None:
            raise unknown(f"is raw {item_size}-byte items (numpy stores ml_dtypes types such as "
                          "bfloat16 and float8 this way); pass the void_dtype option to say which "
                          "dtype they hold")
        if reference.DTYPES[void_dtype][0] != item_size:
            raise unknown(f"holds {item_size}-byte items, but void_dtype {void_dtype} has "
                          f"{reference.DTYPES[void_dtype][0]}-byte items")
        return void_dtype, byte_order
    raise unknown("has no ndpack dtype (ndpack reads bool, integers, floats and complex numbers)")


def _nbytes(dims, itemsize: int, dtype: str, fail) -> int:
    """The bytes of an array of ``dims``: BAD_SHAPE (made by ``fail``) above 2^53-1, checked as
    the non-zero dimensions multiply (TypeScript's ``elementCount``), whatever a zero dimension
    makes of it."""
    product, zero = 1, False
    for d in dims:
        if d == 0:
            zero = True
            continue
        product *= d
        if product * itemsize > reference.MAX_SAFE_INTEGER:
            raise fail("BAD_SHAPE", f".npy shape {tuple(dims)} of {dtype} holds more than 2^53-1 "
                       "bytes")
    return 0 if zero else product * itemsize


class _DictParser:
    """The Python dict literal of a .npy header, as numpy writes it (TypeScript's ``DictParser``):
    keys and string values in single or double quotes without escapes or prefixes, ``True`` and
    ``False``, tuples of decimal integers (``()``, ``(3,)``, ``(2, 3)``; ``2L`` in versions 1.0 and
    2.0), white space between tokens, an optional trailing comma, white space after the brace. A
    list value (a structured descr) is skipped and reported as ``("list", None)``. HEADER_INVALID
    for anything else, DUPLICATE_KEY for a repeated key, BAD_NUMBER above 2^53-1."""

    def __init__(self, text: str, allow_long_suffix: bool):
        self.text, self.allow_long_suffix, self.pos = text, allow_long_suffix, 0

    def parse(self) -> dict:
        entries = {}
        self._skip_space()
        self._expect("{", "'{'")
        self._skip_space()
        while self._peek() != "}":
            key = self._string()
            if key in entries:
                raise NdpackError("DUPLICATE_KEY", f".npy header: key '{key}' appears twice")
            self._skip_space()
            self._expect(":", "':'")
            self._skip_space()
            entries[key] = self._value(key)
            self._skip_space()
            if self._peek() == ",":
                self.pos += 1
                self._skip_space()
            elif self._peek() != "}":
                raise self._invalid("',' or '}'")
        self.pos += 1
        self._skip_space()
        if self.pos != len(self.text):
            raise self._invalid("only white space after the dict")
        return entries

    def _peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def _skip_space(self) -> None:
        while self._peek() and self._peek() in _WHITESPACE:
            self.pos += 1

    def _expect(self, char: str, what: str) -> None:
        if self._peek() != char:
            raise self._invalid(what)
        self.pos += 1

    def _invalid(self, expected: str) -> NdpackError:
        found = repr(self.text[self.pos:self.pos + 12]) if self.pos < len(self.text) \
            else "the end of the header"
        return NdpackError("HEADER_INVALID", ".npy header is not a dict literal numpy writes: "
                           f"expected {expected} at character {self.pos}, found {found}")

    def _string(self, in_descr: bool = False) -> str:
        """A quoted string: printable ASCII without escapes, or, ``in_descr`` (a structured
        descr's field names, skipped), any character and escapes."""
        quote = self._peek()
        if quote not in ("'", '"'):
            raise self._invalid("a quoted string")
        self.pos += 1
        start = self.pos
        while True:
            c = self._peek()
            if c == quote:
                break
            if c == "" or (not in_descr and (c == "\\" or not " " <= c <= "~")):
                raise self._invalid("a string without escapes" if c == "\\" else "a closing quote")
            self.pos += 2 if c == "\\" else 1
        value = self.text[start:self.pos]
        self.pos += 1
        return value

    def _value(self, key: str) -> tuple:
        c = self._peek()
        if c in ("'", '"') and c:
            return "str", self._string()
        if c == "(":
            return self._tuple(key)
        if c == "[":
            self._skip_list()
            return "list", None
        for word, value in (("True", True), ("False", False)):
            after = self.pos + len(word)
            if self.text.startswith(word, self.pos) and \
                    (after >= len(self.text) or self.text[after] not in _IDENTIFIER):
                self.pos = after
                return "bool", value
        raise self._invalid("a string, True, False or a tuple")

    def _tuple(self, key: str) -> tuple:
        """``("tuple", (values, whether any was written with a minus sign))``."""
        self.pos += 1
        values, negative, trailing_comma = [], False, False
        self._skip_space()
        while self._peek() != ")":
            value, minus = self._int(key)
            values.append(value)
            negative = negative or minus
            self._skip_space()
            trailing_comma = False
            if self._peek() == ",":
                self.pos += 1
                trailing_comma = True
                self._skip_space()
            elif self._peek() != ")":
                raise self._invalid("',' or ')'")
        if len(values) == 1 and not trailing_comma:  # (3) is the integer 3 in Python
            raise self._invalid("a tuple: one element needs a trailing comma")
        self.pos += 1
        return "tuple", (values, negative)

    def _int(self, key: str) -> tuple[int, bool]:
        start = self.pos
        negative = self._peek() == "-"
        if negative:
            self.pos += 1
        digits_at = self.pos
        while self._peek() and "0" <= self._peek() <= "9":
            self.pos += 1
        digits = self.text[digits_at:self.pos]
        if not digits:
            raise self._invalid("an integer")
        if len(digits) > 1 and digits[0] == "0":  # no leading zeros in Python 3's literals
            raise self._invalid("an integer without leading zeros")
        if self.allow_long_suffix and self._peek() == "L":  # Python 2 era files
            self.pos += 1
        if self._peek() and self._peek() in _IDENTIFIER:
            raise self._invalid("a decimal integer")
        # Compared by length first: int() of over 4,300 digits raises ValueError (Python 3.11+).
        value = int(digits) if len(digits) <= 16 else reference.MAX_SAFE_INTEGER + 1
        if value > reference.MAX_SAFE_INTEGER:
            raise NdpackError("BAD_NUMBER", f".npy header: {key} holds "
                              f"{self.text[start:self.pos]}, above 2^53-1")
        return (-value if negative else value), negative

    def _skip_list(self) -> None:
        """Skips a balanced ``[...]`` (a structured descr), honouring quotes."""
        depth = 0
        while self.pos < len(self.text):
            c = self._peek()
            if c in ("'", '"'):
                self._string(in_descr=True)
                continue
            self.pos += 1
            if c in "[(":
                depth += 1
            elif c in "])":
                depth -= 1
                if depth == 0:
                    return
        raise self._invalid("the end of the list")
