"""The header's JSON at the speed of the C ``json`` scanner, for the reference (``reference.py``).

``parse(text, raw, max_depth)`` returns what the strict parser (``reference._parse_strict``) returns
for a header that is valid JSON in the sense of FORMAT.md section 2.1, or None whenever it cannot
prove the header valid: the strict parser then decides, and reports the first problem in text order
with its code. So this module changes speed, never an outcome; ``tests/test_fast_json.py`` compares
the two on many generated headers, valid and not.

``json`` alone is not section 2.1: it keeps the last of two duplicate keys, accepts ``NaN`` and
``Infinity``, lone surrogates (``"\\ud800"``), integers of any size and floats anywhere, and reads
``-0`` as the integer 0. What it parses is therefore checked, by the cheapest proof that applies:

1. Counting, for the usual header (no ``\\u`` escape, no 16-digit run, no negative number outside
   ``metadata``, no colon or bracket in a string other than names and metadata). Every key of an
   object is followed by one ``:`` and every container opens with one ``{`` or ``[``, in the text,
   outside strings. So when the ``:`` of the text (white space removed) are exactly as many as the
   keys of the parsed objects plus the ``:`` inside names and metadata strings, no key was dropped
   as a duplicate; when its brackets are exactly as many as the containers found (root, ``arrays``,
   entries, shapes, metadata's) plus those inside those strings, there is no other container, so
   the depth is known. Numbers are checked the same way: no run of 16 digits means no integer above
   2^53-1; every negative number follows ``:``, ``,`` or ``[``, and those are counted against the
   negative numbers found in ``metadata``; ``parse_float`` counts floats against metadata's. Only
   ``metadata`` is walked value by value, so the cost per array entry is a few C-level operations.
2. Otherwise, ``json`` with an ``object_pairs_hook`` that refuses duplicate keys, then a walk of
   every value of the parsed tree (depth, integer range, floats only in ``metadata``).
"""

from __future__ import annotations

import json
import math
import re
from operator import itemgetter

MAX_SAFE_INTEGER = 2**53 - 1
#: An escape that could stand for a surrogate: the strict parser decides whether it is paired.
_SURROGATE_ESCAPE_RE = re.compile(r"\\u[dD][89a-fA-F]")
#: The text's skeleton: every digit a 0, white space (inside strings too) removed.
_SKELETON = bytes.maketrans(b"123456789", b"000000000")
_WHITE_SPACE = b" \t\n\r"
_LONG_DIGITS = b"0" * 16  # an integer of 16 digits or more may be above 2^53-1
_NAME, _SHAPE = itemgetter("name"), itemgetter("shape")


class _Unusual(Exception):
    """Raised inside a ``json`` hook: the strict parser decides instead."""


def _no_constant(_literal):
    raise _Unusual


def _finite_float(literal: str) -> float:
    value = float(literal)
    if math.isinf(value):
        raise _Unusual
    return value


def _minus_zero_int(literal: str):
    return -0.0 if literal == "-0" else int(literal)


def _unique_pairs(pairs):
    d = dict(pairs)
    if len(d) != len(pairs):
        raise _Unusual
    return d


def parse(text: str, raw: bytes, max_depth: int):
    """The header object of ``text`` (``raw`` is its UTF-8 bytes, which begin with ``{``), or None
    when the strict parser must decide."""
    if "\\u" in text:
        return None if _SURROGATE_ESCAPE_RE.search(text) else _parse_walking(text, max_depth)
    if '"arrays"' not in text:  # not a header (a set's index): counting needs its arrays
        return _parse_walking(text, max_depth)
    skeleton = raw.translate(_SKELETON, _WHITE_SPACE)
    minus = b"-" in skeleton  # the searches for negative numbers are paid only when there may be one
    # "-0" is read as -0.0 (section 2.1); the hook per integer is only paid when the text has one.
    minus_zero = minus and (b"-0," in skeleton or b"-0}" in skeleton or b"-0]" in skeleton)
    floats = []

    def counted_float(literal: str) -> float:
        floats.append(None)
        return _finite_float(literal)

    def counted_int(literal: str):
        value = _minus_zero_int(literal)
        if type(value) is float:
            floats.append(None)
        return value

    decoder = json.JSONDecoder(parse_float=counted_float, parse_constant=_no_constant,
                               parse_int=counted_int if minus_zero else None, strict=True)
    root = _decode_object(decoder, text)
    if root is None:
        return None
    arrays = root.get("arrays")
    if type(arrays) is not list or _LONG_DIGITS in skeleton:
        return _parse_walking(text, max_depth)
    meta = _Metadata(root.get("metadata"))
    if meta.depth + 1 > max_depth:
        return None
    if len(floats) != meta.floats:
        return _parse_walking(text, max_depth)
    negatives = (skeleton.count(b":-") + skeleton.count(b",-") + skeleton.count(b"[-")) if minus \
        else 0
    try:
        if not arrays:
            names, shapes, keys = "", (), 0
        else:
            if set(map(type, arrays)) != {dict}:
                return _parse_walking(text, max_depth)
            names = "".join(map(_NAME, arrays))  # TypeError unless every name is a str
            shapes = list(map(_SHAPE, arrays))
            if set(map(type, shapes)) != {list}:
                return _parse_walking(text, max_depth)
            keys = sum(map(len, arrays))
    except (KeyError, TypeError):
        return _parse_walking(text, max_depth)
    containers = 2 + meta.containers + len(arrays) + len(shapes)  # root and arrays
    depth = max(meta.depth + 1, 4 if arrays else 2)
    if (negatives != meta.negatives
            or skeleton.count(b":") != len(root) + keys + meta.keys + names.count(":") + meta.colons
            or skeleton.count(b"{") + skeleton.count(b"[") != containers + meta.brackets
            + names.count("{") + names.count("[")):
        return _parse_walking(text, max_depth)
    return root if depth <= max_depth else None


class _Metadata:
    """What counting needs from the value of ``metadata``, walked value by value: its depth (1 for
    a container holding no container, 0 for a scalar), its containers, the keys of its objects,
    the ``:``, ``{`` and ``[`` inside its strings (keys too), its floats (``-0`` included) and its
    negative numbers. (Its integers are in range: the text has no run of 16 digits.)"""

    def __init__(self, value):
        self.depth = self.containers = self.keys = self.colons = self.brackets = 0
        self.floats = self.negatives = 0
        todo = [(value, 1)]
        while todo:
            v, depth = todo.pop()
            kind = type(v)
            if kind is dict or kind is list:
                self.depth = max(self.depth, depth)
                self.containers += 1
                if kind is dict:
                    self.keys += len(v)
                    for key in v:
                        self._string(key)
                    v = v.values()
                todo.extend((x, depth + 1) for x in v)
            elif kind is str:
                self._string(v)
            elif kind is int:
                if v < 0:
                    self.negatives += 1
            elif kind is float:
                self.floats += 1
                if math.copysign(1.0, v) < 0:
                    self.negatives += 1

    def _string(self, s: str) -> None:
        self.colons += s.count(":")
        self.brackets += s.count("{") + s.count("[")


_PAIRS_DECODER = json.JSONDecoder(object_pairs_hook=_unique_pairs, parse_float=_finite_float,
                                  parse_constant=_no_constant, strict=True)
_PAIRS_DECODER_MINUS_ZERO = json.JSONDecoder(
    object_pairs_hook=_unique_pairs, parse_float=_finite_float, parse_constant=_no_constant,
    parse_int=_minus_zero_int, strict=True)


def _decode_object(decoder, text: str):
    """The JSON object `text` holds, nothing but spaces after it; None when it is anything else or
    when a hook refused a value (the strict parser then decides, and names the error)."""
    try:
        root, end = decoder.raw_decode(text)
    except (_Unusual, ValueError, RecursionError):
        return None
    if text[end:].strip(" ") or type(root) is not dict:
        return None
    return root


def _parse_walking(text: str, max_depth: int):
    """The second proof: duplicate keys refused by a hook, every value of the tree checked."""
    if _SURROGATE_ESCAPE_RE.search(text):
        return None
    decoder = _PAIRS_DECODER_MINUS_ZERO if "-0" in text else _PAIRS_DECODER
    root = _decode_object(decoder, text)
    if root is None:
        return None
    return root if _walked(root, 1, False, max_depth) else None


def parse_metadata(text: str, pos: int, max_depth: int):
    """``(metadata, end)``: the object that begins at ``text[pos]`` as the value of the header's
    ``metadata`` (depth 2) and where it ends, by the second proof; None when the strict parser must
    decide."""
    if text.startswith("{}", pos):
        return {}, pos + 2
    decoder = _PAIRS_DECODER_MINUS_ZERO if "-0" in text else _PAIRS_DECODER
    try:
        value, end = decoder.raw_decode(text, pos)
    except (_Unusual, ValueError, RecursionError):
        return None
    if type(value) is not dict or _SURROGATE_ESCAPE_RE.search(text, pos, end) \
            or not _walked(value, 2, True, max_depth):
        return None
    return value, end


def _walked(value, depth: int, in_meta: bool, max_depth: int) -> bool:
    """Whether the container ``value`` at ``depth`` (the header object is depth 1) and every value
    in it are section 2.1's: no container deeper than ``max_depth``, integers at most 2^53-1 in
    magnitude, and outside ``metadata`` only non-negative integers as numbers."""
    todo = [(value, depth, in_meta)]
    root = value if depth == 1 else None
    while todo:
        container, depth, in_meta = todo.pop()
        if depth > max_depth:
            return False
        is_root = container is root
        for key, v in container.items() if type(container) is dict else enumerate(container):
            kind = type(v)
            if kind is int:
                if v > MAX_SAFE_INTEGER or v < (-MAX_SAFE_INTEGER if in_meta else 0):
                    return False
            elif kind is float:
                if not in_meta:
                    return False
            elif kind is dict or kind is list:
                todo.append((v, depth + 1, in_meta or (is_root and key == "metadata")))
    return True
