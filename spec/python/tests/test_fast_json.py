"""The header parser's fast path (ndpack/_fast_json.py) against the strict parser (reference.py).

The fast path may only change speed: for every header text, ``_parse_header_json`` must return the
same value (types, key order and -0.0 included) or raise the same error code with the fast path as
with the strict parser alone. Headers are generated, valid and invalid, with the inputs that
``json.loads`` reads differently from FORMAT.md section 2.1 (duplicate keys, NaN, lone surrogates,
numbers out of range or of the wrong kind, depth) and those that try to defeat the counting proof
(colons, brackets and minus signs inside strings, \\u escapes, white space)."""

from __future__ import annotations

import json
import random

import pytest

from ndpack import _fast_json, reference
from ndpack.reference import NdpackError

MAX_SAFE = 2**53 - 1


def outcome(parse) -> tuple[str, str]:
    """("ok", the value as JSON, -0.0, 1.0 and key order kept) or ("error", the code)."""
    try:
        return "ok", json.dumps(parse())
    except NdpackError as ex:
        return "error", ex.code


def both(text: str, max_depth: int = 64, max_nodes: int = 1_000_000):
    """(strict outcome, outcome with the fast path) of a header text."""
    raw = text.encode("utf-8")
    fast = outcome(lambda: reference._parse_header_json(raw, max_depth, max_nodes))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(reference, "_fast_parse", lambda *args: None)
        strict = outcome(lambda: reference._parse_header_json(raw, max_depth, max_nodes))
    return strict, fast


def header(metadata: str = "{}", entries: str = "", extra: str = "") -> str:
    return ('{"alignment":64,"checksum":"crc32","dataLength":0,"metadata":%s,"arrays":[%s]%s}'
            % (metadata, entries, extra))


def entry(name: str = "w", shape: str = "[2,3]", offset: str = "0", extra: str = "") -> str:
    return ('{"name":%s,"dtype":"float32","shape":%s,"order":"C","byteOrder":"little",'
            '"offset":%s,"byteLength":24%s}' % (json.dumps(name), shape, offset, extra))


# Every input json.loads reads differently from section 2.1, and every way around the counting
# proof, named with the outcome both parsers must give.
NAMED = [
    ("duplicate key in an entry", header(entries=entry(extra=',"offset":0')), "DUPLICATE_KEY"),
    ("duplicate key in the header", header(extra=',"alignment":8'), "DUPLICATE_KEY"),
    ("duplicate key in metadata", header('{"a":1,"a":1}'), "DUPLICATE_KEY"),
    ("duplicate key hidden by a colon in a name",
     header(entries=entry("a:b", extra=',"order":"C"')), "DUPLICATE_KEY"),
    ("duplicate key hidden by a colon in a dtype",
     header(entries=entry().replace('"float32"', '"f:32"')[:-1] + ',"name":"x"}'),
     "DUPLICATE_KEY"),
    ("duplicate key whose first value is a container",
     header('{"a":[[1]],"a":2}'), "DUPLICATE_KEY"),
    ("NaN", header('{"a":NaN}'), "HEADER_INVALID"),
    ("Infinity", header('{"a":Infinity}'), "HEADER_INVALID"),
    ("-Infinity", header('{"a":-Infinity}'), "HEADER_INVALID"),
    ("a number rounding to infinity in metadata", header('{"a":1e400}'), "BAD_NUMBER"),
    ("-1e400 in metadata", header('{"a":-1e400}'), "BAD_NUMBER"),
    ("2^53 as an offset", header(entries=entry(offset=str(MAX_SAFE + 1))), "BAD_NUMBER"),
    ("2^53 in metadata", header('{"a":%d}' % (MAX_SAFE + 1)), "BAD_NUMBER"),
    ("-2^53 in metadata", header('{"a":%d}' % -(MAX_SAFE + 1)), "BAD_NUMBER"),
    ("a 5000-digit integer", header('{"a":1%s}' % ("0" * 5000)), "BAD_NUMBER"),
    ("a negative dimension", header(entries=entry(shape="[2,-3]")), "BAD_NUMBER"),
    ("-0 as an offset", header(entries=entry(offset="-0")), "BAD_NUMBER"),
    ("a float as an offset", header(entries=entry(offset="0.0")), "BAD_NUMBER"),
    ("an exponent as an offset", header(entries=entry(offset="1e2")), "BAD_NUMBER"),
    ("a negative offset beside a negative in metadata",
     header('{"a":-1}', entry(offset="-64")), "BAD_NUMBER"),
    ("a negative offset beside a name holding ':-'",
     header(entries=entry("a:-1") + "," + entry("b", offset="-64")), "BAD_NUMBER"),
    ("a float offset beside a float in metadata", header('[0.5]', entry(offset="64.0")),
     "BAD_NUMBER"),
    ("a lone high surrogate in a name", header(entries=entry("x").replace('"x"', '"\\ud800"')),
     "HEADER_INVALID"),
    ("a lone low surrogate in metadata", header('{"a":"\\uDC00"}'), "HEADER_INVALID"),
    ("a reversed surrogate pair", header('{"a":"\\udc00\\ud800"}'), "HEADER_INVALID"),
    ("-01", header('{"a":-01}'), "HEADER_INVALID"),
    ("1.", header('{"a":1.}'), "HEADER_INVALID"),
    (".5", header('{"a":.5}'), "HEADER_INVALID"),
    ("+1", header('{"a":+1}'), "HEADER_INVALID"),
    ("a control character in a string", header('{"a":"\x01"}'), "HEADER_INVALID"),
    ("text after the object", header() + "x", "HEADER_INVALID"),
    ("a newline after the object", header() + "\n", "HEADER_INVALID"),
    ("a trailing comma", header('{"a":1,}'), "HEADER_INVALID"),
    ("single quotes", header("{'a':1}"), "HEADER_INVALID"),
    ("shape nested deeper than maxDepth 4", header(entries=entry(shape="[[2],3]")),
     "LIMIT_EXCEEDED"),
    ("metadata deeper than maxDepth 4", header('{"a":[[[1]]]}'), "LIMIT_EXCEEDED"),
    ("a list in an entry deeper than maxDepth 4, behind brackets in a name",
     header(entries=entry("[[", extra=',"x":[[1]]')), "LIMIT_EXCEEDED"),
]


@pytest.mark.parametrize("name,text,code", NAMED, ids=[n for n, _, _ in NAMED])
def test_named_inputs_give_the_same_code(name, text, code):
    max_depth = 4 if "maxDepth 4" in name else 64
    strict, fast = both(text, max_depth)
    assert strict == ("error", code)
    assert fast == strict


VALID = [
    ("-0 in metadata is -0.0", header('{"a":-0,"b":[-0]}'), '{"a": -0.0, "b": [-0.0]}'),
    ("1.0 stays a float", header('{"a":1.0,"b":1E2,"c":-0.0,"d":1e-400}'),
     '{"a": 1.0, "b": 100.0, "c": -0.0, "d": 0.0}'),
    ("2^53-1 and -(2^53-1)", header('{"a":%d,"b":%d}' % (MAX_SAFE, -MAX_SAFE)),
     '{"a": %d, "b": %d}' % (MAX_SAFE, -MAX_SAFE)),
    ("names holding : [ { -0, and escapes",
     header(entries=entry("a:[{-0,\"\\") + "," + entry("b\u00e9\U0001f600", offset="64")), None),
    ("a surrogate pair", header('{"a":"\\ud83d\\ude00"}'), '{"a": "\\ud83d\\ude00"}'),
    ("white space everywhere", header('{ "a" : [ 1 , -2 ] }').replace(",", " ,\n\t\r"), None),
    ("trailing spaces", header() + "    ", None),
    ("an unknown key holding a list", header(extra=',"future":[1,[2]]'), None),
]


@pytest.mark.parametrize("name,text,metadata", VALID, ids=[n for n, _, _ in VALID])
def test_valid_inputs_give_the_same_value(name, text, metadata):
    strict, fast = both(text)
    assert strict[0] == "ok"
    assert fast == strict
    if metadata is not None:
        assert json.dumps(json.loads(strict[1])["metadata"]) == metadata


def test_max_header_nodes_with_the_fast_path():
    # 107 values; the fast path runs from max_nodes 108 on (its bound counts ',', '{' and '[').
    text = header('{"a":[%s]}' % ",".join(["0"] * 100))
    for max_nodes in (106, 107, 108, 200):
        strict, fast = both(text, max_nodes=max_nodes)
        assert fast == strict
        assert strict[0] == ("error" if max_nodes < 107 else "ok"), max_nodes
    assert both(text, max_nodes=106)[0] == ("error", "LIMIT_EXCEEDED")


# --------------------------------------------------------------------------------------------------
# Generated headers: a JSON value is written by hand so that duplicate keys, any number literal and
# any escape can be produced.
# --------------------------------------------------------------------------------------------------

STRING_PARTS = ["a", "w", "0", "9", "é", "\U0001f600", ":", "[", "{", "]", "}", "-", "-0,", ",",
                '"', "\\", "\n", "\x7f", " ", "\u2028", ".", "e"]
META_NUMBERS = ["0", "-0", "1", "-1", "12", "0.5", "-0.5", "1e5", "1E-5", "-0.0", "1e400",
                "-1e400", "1e-400", str(MAX_SAFE), str(-MAX_SAFE), str(MAX_SAFE + 1),
                str(-MAX_SAFE - 1), "1234567890123456", "123456789012345", "-01", "1.", "01"]
ENTRY_NUMBERS = ["0", "1", "64", "24", "999999999999999", str(MAX_SAFE), str(MAX_SAFE + 1), "-1",
                 "-0", "1.0", "1e2", "0.5"]
CONSTANTS = ["true", "false", "null", "NaN", "Infinity", "-Infinity"]


class Writer:
    def __init__(self, rng: random.Random):
        self.rng = rng

    def ws(self) -> str:
        return self.rng.choice(["", "", "", "", " ", "\n", "\t ", "\r"])

    def string(self, parts=None) -> str:
        rng = self.rng
        chars = "".join(rng.choice(STRING_PARTS) for _ in range(rng.randrange(0, 5))) \
            if parts is None else parts
        out = []
        for c in chars:
            roll = rng.random()
            if c in '"\\' or c < " ":
                out.append({'"': '\\"', "\\": "\\\\", "\n": "\\n"}.get(c, "\\u%04x" % ord(c)))
            elif roll < 0.08 and ord(c) < 0x10000:
                out.append("\\u%04X" % ord(c))
            elif roll < 0.12 and ord(c) >= 0x10000:
                v = ord(c) - 0x10000
                out.append("\\u%04x\\u%04x" % (0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF)))
            else:
                out.append(c)
        if rng.random() < 0.03:  # a lone or reversed surrogate
            out.insert(rng.randrange(len(out) + 1), rng.choice(["\\ud800", "\\uDFFF",
                                                                "\\udc00\\ud800"]))
        return '"' + "".join(out) + '"'

    def obj(self, pairs: list[tuple[str, str]]) -> str:
        pairs = list(pairs)
        if pairs and self.rng.random() < 0.04:  # a duplicate key
            key, _ = self.rng.choice(pairs)
            pairs.insert(self.rng.randrange(len(pairs) + 1), (key, self.value(2)))
        ws = self.ws
        return "{" + ws() + ("," + ws()).join(f"{k}{ws()}:{ws()}{v}{ws()}" for k, v in pairs) + "}"

    def array(self, items: list[str]) -> str:
        ws = self.ws
        return "[" + ws() + ("," + ws()).join(f"{v}{ws()}" for v in items) + "]"

    def value(self, depth: int, numbers=META_NUMBERS) -> str:
        rng = self.rng
        roll = rng.random()
        if depth > 0 and roll < 0.25:
            return self.obj([(self.string(), self.value(depth - 1, numbers))
                             for _ in range(rng.randrange(0, 4))])
        if depth > 0 and roll < 0.45:
            return self.array([self.value(depth - 1, numbers) for _ in range(rng.randrange(0, 4))])
        if roll < 0.6:
            return self.string()
        if roll < 0.95:
            return rng.choice(numbers)
        return rng.choice(CONSTANTS)

    def entry(self, i: int) -> str:
        rng = self.rng
        number = lambda usual: usual if rng.random() < 0.9 else rng.choice(ENTRY_NUMBERS)  # noqa
        dims = [number(str(rng.randrange(0, 5))) for _ in range(rng.randrange(0, 4))]
        shape = self.array(dims) if rng.random() < 0.97 else self.array([self.array(dims)])
        name = self.string() if rng.random() < 0.5 else self.string(f"layer.{i}.weight")
        pairs = [('"name"', name), ('"dtype"', '"float32"'), ('"shape"', shape),
                 ('"order"', '"C"'), ('"byteOrder"', '"little"'),
                 ('"offset"', number(str(64 * i))), ('"byteLength"', number("24"))]
        if rng.random() < 0.05:
            pairs.append((self.string(), self.value(2, ENTRY_NUMBERS)))
        return self.obj(pairs)

    def header(self) -> str:
        rng = self.rng
        entries = [self.entry(i) for i in range(rng.randrange(0, 6))]
        pairs = [('"alignment"', "64"), ('"checksum"', '"crc32"'),
                 ('"dataLength"', rng.choice(["0", "640"] + ENTRY_NUMBERS[:1])),
                 ('"metadata"', self.value(3) if rng.random() < 0.9 else "{}"),
                 ('"arrays"', self.array(entries))]
        if rng.random() < 0.1:
            pairs.append((self.string(), self.value(2, ENTRY_NUMBERS)))
        rng.shuffle(pairs) if rng.random() < 0.1 else None
        text = self.obj(pairs)
        roll = rng.random()
        if roll < 0.05:  # a character changed, added or removed
            at = rng.randrange(len(text))
            text = text[:at] + rng.choice(["", ",", ":", "-", "0", "[", "]", '"', "}", "x"]) + \
                text[at + rng.randrange(0, 2):]
        elif roll < 0.1:
            text += rng.choice(["  ", " x", "}", "\n"])
        return text


def test_generated_headers_give_the_same_outcome(monkeypatch):
    rng = random.Random(1414)
    writer = Writer(rng)
    walked = []
    walking = _fast_json._parse_walking
    monkeypatch.setattr(_fast_json, "_parse_walking",
                        lambda *args: walked.append(1) or walking(*args))
    codes: dict[str, int] = {}
    accepted = {"counting": 0, "walking": 0}
    for i in range(4000):
        text = writer.header()
        max_depth = rng.choice([3, 4, 5, 6, 64])
        max_nodes = rng.choice([1_000_000, 40, 60])
        strict, fast = both(text, max_depth, max_nodes)
        assert fast == strict, text
        codes[strict[1] if strict[0] == "error" else "OK"] = \
            codes.get(strict[1] if strict[0] == "error" else "OK", 0) + 1
        if text.startswith("{"):
            walked.clear()
            raw = text.encode()
            if _fast_json.parse(text, raw, max_depth) is not None:
                accepted["walking" if walked else "counting"] += 1
    # Every outcome is represented, and each proof accepted many headers (so the comparison above
    # tested both proofs, not only the strict parser against itself).
    assert set(codes) == {"OK", "HEADER_INVALID", "DUPLICATE_KEY", "BAD_NUMBER", "LIMIT_EXCEEDED"}
    assert min(codes.values()) >= 50, codes
    assert accepted["counting"] >= 200 and accepted["walking"] >= 200, accepted
