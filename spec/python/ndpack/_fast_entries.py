"""FORMAT.md section 9 steps 8 to 18 over a whole header at once, for the reference (``reference.py``).

``check_entries(h, minor, limits, header_end)`` returns the entries (``reference.Entries``) of a
parsed header when it proves that every check of steps 8 to 18 passes, and None otherwise: the
reference's readable checks (``_check_structure``, ``_check_entries``) then run and report the
first failure with its code. So this module changes speed, never an outcome; ``tests/
test_fast_entries.py`` compares the two on valid and damaged headers.

The readable checks cost a few microseconds per array in Python statements. Here each check is one
C-level operation over a column of the header (``map``, ``set``, ``zip``, ``max``...), so
the header of 256 arrays is checked in tens of microseconds, and no object is made per array (the
entries are built from the columns when asked for). Any unusual header (a zero dimension, a missing
key...) is left to the readable checks.

``canonical(raw, limits, header_end)`` does steps 7 to 18 at once for a header in the canonical
layout of section 8 (every ndpack writer's): its columns come from one regular-expression split
of the text, without a JSON tree, then the same column checks run. It returns None for anything
else, and ``reference._parse`` then parses the JSON."""

from __future__ import annotations

import json
import math
import re
from itertools import accumulate, chain, repeat
from operator import add, and_, itemgetter, mul

from .reference import (
    CHECKSUMS,
    CODECS,
    DTYPES,
    MAX_SAFE_INTEGER,
    VERSION,
    Entries,
    _align_up,
)
from ._fast_json import parse_metadata

_HEADER_KEYS = frozenset(("alignment", "checksum", "dataLength", "metadata", "arrays"))
_COLUMNS = tuple(map(itemgetter, ("name", "dtype", "shape", "order", "byteOrder", "offset",
                                  "byteLength")))
_CODECS = frozenset(CODECS)
_FEW = 4
_MOST_DIMS = 64
_ITEM_SIZE = {name: spec[0] for name, spec in DTYPES.items()}
_ORDERS, _BYTE_ORDERS = frozenset(("C", "F")), frozenset(("little", "big"))


def check_entries(h: dict, minor: int, limits: dict, header_end: int):
    """The validated entries of header ``h``, or None when the readable checks must decide.
    ``header_end`` is where the header ends in the file (20 + its length)."""
    try:
        return _entries(h, minor, limits, header_end)
    except (TypeError, KeyError):  # an unhashable or missing value: the readable checks decide
        return None


def _entries(h: dict, minor: int, limits: dict, header_end: int):
    strict_keys = minor <= VERSION[1]
    # Step 8, the header object
    keys = h.keys()
    if not keys >= _HEADER_KEYS or (strict_keys and len(keys) != len(_HEADER_KEYS)):
        return None
    alignment, checksum, data_length = h["alignment"], h["checksum"], h["dataLength"]
    arrays = h["arrays"]
    if (type(alignment) is not int or type(checksum) is not str or type(data_length) is not int
            or type(h["metadata"]) is not dict or type(arrays) is not list):
        return None
    count = len(arrays)
    # A header of a few arrays (or none) is checked faster by the readable checks (their cost is
    # per array, these have a fixed cost of about 5 us); so is one that is not a list of objects.
    if count < _FEW or set(map(type, arrays)) != {dict}:
        return None
    # Step 8, each entry: its keys (a missing one raises KeyError here; with strict keys, the
    # entries have no key but their 7 and "codec": every entry holds the 7, so their keys add up
    # to 7 per entry and one per "codec" only when no entry has another), then its values
    names, dtypes, shapes, orders, byte_orders, offsets, lengths = (
        list(map(getter, arrays)) for getter in _COLUMNS)
    with_codec = sum(map(dict.__contains__, arrays, repeat("codec")))
    if strict_keys and sum(map(len, arrays)) != 7 * count + with_codec:
        return None
    codecs = (list(map(dict.get, arrays, repeat("codec"), repeat("none"))) if with_codec
              else ("none",) * count)
    dims = list(chain.from_iterable(shapes)) if set(map(type, shapes)) == {list} else None
    if (dims is None or set(map(type, names)) != {str} or "" in names
            or not set(map(type, dims)) <= {int}
            or set(map(type, offsets)) != {int} or set(map(type, lengths)) != {int}):
        return None
    return _checked(alignment, checksum, data_length, (names, dtypes, shapes, orders, byte_orders,
                    codecs, offsets, lengths), dims, with_codec, limits, header_end)


def _checked(alignment: int, checksum: str, data_length: int, columns: tuple, dims: list,
             with_codec: bool, limits: dict, header_end: int):
    """Steps 8 (the values) to 18 over the columns of a header whose values have the right JSON
    types (names non-empty strings, shapes lists or tuples of integers, ``dims`` every dimension,
    the rest integers or strings): the ``Entries``, or None."""
    names, dtypes, shapes, orders, byte_orders, codecs, offsets, lengths = columns
    count = len(names)
    kinds = set(dtypes)
    if (not 8 <= alignment <= 65536 or alignment & (alignment - 1) or checksum not in CHECKSUMS
            or not kinds <= _ITEM_SIZE.keys() or not set(orders) <= _ORDERS
            or not set(byte_orders) <= _BYTE_ORDERS
            or (with_codec and not set(codecs) <= _CODECS)):  # else every codec is "none"
        return None
    # Steps 9 to 13: limits, names, shapes (a zero dimension is left to the readable checks)
    if max(map(len, names)) * 4 > limits["max_name_bytes"] and \
            max(map(len, map(str.encode, names))) > limits["max_name_bytes"]:
        return None
    positions = dict(zip(names, range(count)))
    # One dimension each: as many dimensions as arrays, and no shape without
    one_each = len(dims) == count and all(shapes)
    most_dims = 1 if one_each else max(map(len, shapes))
    # More than the default max_dims (64): the products below, of integers of any size, could
    # cost the square of the dimensions; the readable checks stop at 2^53-1.
    if count > limits["max_arrays"] or len(positions) != count or most_dims > limits["max_dims"] \
            or most_dims > _MOST_DIMS or 0 in dims:
        return None
    sizes = (repeat(_ITEM_SIZE[dtypes[0]]) if len(kinds) == 1
             else map(_ITEM_SIZE.__getitem__, dtypes))
    nbytes = list(map(mul, dims if one_each else map(math.prod, shapes), sizes))
    if max(nbytes) > MAX_SAFE_INTEGER:
        return None
    # Step 14: an uncompressed payload is exactly nbytes long
    if not with_codec:
        if lengths != nbytes:
            return None
    elif any(c == "none" and n != b for c, n, b in zip(codecs, nbytes, lengths)):
        return None
    # Steps 15 to 19: the first record at 0, each next one at the first multiple of the alignment
    # at or after the end of the one before, the last ending at dataLength: then nothing is
    # misaligned, overlaps, leaves a gap or goes out of bounds. From a record at a multiple of the
    # alignment (a power of two), that is (byteLength + checksum + alignment - 1) & -alignment
    # bytes further on, for any integers: the offsets are the running sums of those steps.
    c = 4 if checksum == "crc32" else 0
    steps = map(and_, map(add, lengths, repeat(c + alignment - 1)), repeat(-alignment))
    if offsets[-1] + lengths[-1] + c != data_length \
            or list(accumulate(steps, initial=0))[:-1] != offsets:
        return None
    return Entries(columns + (nbytes,), _align_up(header_end, alignment), positions)


# A header as a canonical writer writes it (FORMAT.md section 8: keys in order, no white space),
# read by regular expressions: integers of at most 15 digits (so below 2^53), strings without
# escapes, entries separated by single commas. What else a match could hold is left to _checked.
_INT = r"(0|[1-9][0-9]{0,14})"
_STRING = r'"([^"\\\x00-\x1f]*)"'
_CANONICAL_START = re.compile(
    rf'{{"alignment":{_INT},"checksum":{_STRING},"dataLength":{_INT},"metadata":')
# An entry's pattern is the costly part: the engine steps through every character, and the
# alternatives and repeated groups it tries (an integer's "0|[1-9]...", a shape's integers) cost
# more than runs of a character class. So the pattern matches runs, and what they let through
# that _STRING and _INT refuse is refused after, at less cost:
# - a name is a non-empty string without escapes (as _STRING); the other strings are any run
#   without '"': dtypes, orders, byte orders and codecs must be among a few names (_checked),
#   none of which holds a backslash or a control character;
# - an integer is a run of 1 to 15 digits and a shape a run of digits and commas: json.loads
#   reads them, and refuses a leading zero or a missing dimension; a dimension of more than 15
#   digits is refused after;
# - an entry without codec takes the empty one of two alternatives (cheaper than an optional group).
_CANONICAL_ENTRY = re.compile(
    r'{"name":"([^"\\\x00-\x1f]+)","dtype":"([^"]*)","shape":\[([0-9,]*)\],"order":"([^"]*)",'
    r'"byteOrder":"([^"]*)",(?:"codec":"([^"]+)",|)"offset":([0-9]{1,15}),'
    r'"byteLength":([0-9]{1,15})}')
_ARRAYS_KEY = ',"arrays":['
_GROUPS = _CANONICAL_ENTRY.groups + 1  # what split gives per entry: the text before it, its groups
_MAX_INT = 10**15 - 1  # the largest integer of 15 digits


def canonical(raw: bytes, limits: dict, header_end: int):
    """``(header, entries)`` for the header bytes ``raw`` when it is in the canonical layout and
    passes steps 7 to 18 (``header`` without its ``arrays``: ``reference.header_object`` builds
    them from the entries when asked), or None: then the JSON parser and the checks decide.

    Its text (trailing spaces removed) must be matched exactly: the start and its values,
    ``metadata`` (parsed by ``_fast_json.parse_metadata``), then entries tiling the ``arrays``
    text (nothing between two matches), each followed by a comma but the last. Each entry holds
    exactly the keys of section 2.2 in canonical order, ``codec`` only when not ``"none"``: the
    header has no unknown key. One ``split`` by the entry pattern gives every column at once."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    start = _CANONICAL_START.match(text)
    if start is None or limits["max_depth"] < 4:  # a shape is at depth 4
        return None
    meta = parse_metadata(text, start.end(), limits["max_depth"])
    if meta is None:
        return None
    metadata, pos = meta
    body = text.rstrip(" ")
    if not body.startswith(_ARRAYS_KEY, pos) or not body.endswith("}]}"):
        return None
    parts = _CANONICAL_ENTRY.split(body[pos + len(_ARRAYS_KEY) : -2])
    # The entries tile the text: a comma between two, nothing before the first or after the last
    count = len(parts) // _GROUPS
    if not count or parts[0] or parts[-1] or parts[_GROUPS:-1:_GROUPS].count(",") != count - 1:
        return None
    names, dtypes, shapes, orders, byte_orders, codecs, offsets, lengths = (
        parts[i::_GROUPS] for i in range(1, 9))
    with_codec = codecs.count(None) != count
    if with_codec and "none" in codecs:
        return None
    # Digits and commas: JSON's integers, when none has a leading zero and none is missing. When
    # every shape has one dimension (no comma in any, none empty), the dimensions are read as one
    # list, without a list per shape: each shape is a 1-tuple (as Entries.of keeps shapes).
    integers = "".join(("],[", ",".join(offsets), "],[", ",".join(lengths), "]]"))
    all_dims = ",".join(shapes)
    one_each = all_dims.count(",") == count - 1 and "" not in shapes
    try:
        if one_each:
            dims, offsets, lengths = json.loads("[[" + all_dims + integers)
            shapes = list(zip(dims))
        else:
            shapes, offsets, lengths = json.loads("[[[" + "],[".join(shapes) + "]" + integers)
            dims = list(chain.from_iterable(shapes))
    except ValueError:
        return None
    # JSON values: the root and its 5, those inside metadata (at most one per character of it), 9
    # per entry at most (itself, 7 values, a codec) and the dimensions; when that bound is above
    # max_header_nodes, the strict parser counts them.
    if len(text) > limits["max_header_nodes"] and 6 + pos - start.end() + 9 * count + len(dims) \
            > limits["max_header_nodes"]:
        return None
    # A dimension of 16 digits or more: without a codec, _checked finds that its byteLength, of
    # 15 digits at most, is not the product of the shape (or leaves a zero dimension beside it to
    # the readable checks).
    if with_codec and dims and max(dims) > _MAX_INT:
        return None
    codecs = [c or "none" for c in codecs] if with_codec else ("none",) * count
    alignment, checksum, data_length = int(start[1]), start[2], int(start[3])
    entries = _checked(alignment, checksum, data_length, (
        names, dtypes, shapes, orders, byte_orders, codecs, offsets, lengths), dims, with_codec,
        limits, header_end)
    if entries is None:
        return None
    return {"alignment": alignment, "checksum": checksum, "dataLength": data_length,
            "metadata": metadata}, entries
