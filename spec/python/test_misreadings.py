"""Misreadings of FORMAT.md that the conformance vectors must catch (issue 19).

An independent reader written from FORMAT.md passed every vector; then deliberate misreadings of the
spec were tried, and some passed every vector too. Each misreading below is the Python reference
(ndpack.py) with one rule read the wrong way, patched in for the duration of one check; those of
sharded sets (section 12, ``SET_MISREADINGS``) patch the package's set and .safetensors readers,
and run the set vectors of fixtures/sets that they list (some of the others are 2 MB). The test
requires that:

- the reference itself gives every listed vector its expected outcome;
- the misreading gives each listed vector the outcome named here, which differs from the expected one,
  so a reader that misreads the rule that way fails the vector set.

Usage: python3 spec/python/test_misreadings.py [FIXTURES_DIR]

Prints one JSON report on stdout: for each misreading, the outcome it gives each listed vector and
every invalid vector it fails. Exits with status 1 when a check fails.

An outcome is what a reader reports for a vector: the error code (with the array's name for step 22),
or "OK" when it accepts. For a vector whose "when" is "read", it is that of reading the named array
(after verifying the whole file, when "verify" is true).
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import re
import struct
import sys
import textwrap
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import conformance  # noqa: E402  (imports ndpack the way the conformance runner does)
import ndpack as package  # noqa: E402  (its set reader, for the set vectors)
from ndpack import _safetensors, _sets  # noqa: E402

nd = conformance.ndpack


def replaced(func, *edits: tuple[str, str]):
    """``func`` recompiled from its source with each (old, new) edit applied; each ``old`` must occur
    exactly once, so a change to the reference that moves the rule fails loudly here."""
    source = textwrap.dedent(inspect.getsource(func))
    for old, new in edits:
        if source.count(old) != 1:
            raise AssertionError(f"{func.__qualname__}: {old!r} occurs {source.count(old)} times")
        source = source.replace(old, new)
    namespace: dict = {}
    exec(compile(source, f"<misread {func.__qualname__}>", "exec"), func.__globals__, namespace)
    return namespace[func.__name__]


@contextlib.contextmanager
def patched(*changes: tuple[object, str, object]):
    saved = [(obj, name, getattr(obj, name)) for obj, name, _ in changes]
    try:
        for obj, name, value in changes:
            setattr(obj, name, value)
        yield
    finally:
        for obj, name, value in reversed(saved):
            setattr(obj, name, value)


# The strict parser decides every header, so that a misreading of step 7 in it is what is tested.
NO_FAST_PATH = (nd, "_fast_parse", lambda text, raw, max_depth: None)

# -- 1. a number read greedily: stop at the end of the longest RFC 8259 number -------------------

def greedy_numbers():
    return patched(NO_FAST_PATH, (nd, "_NUMBER_TOKEN_RE", nd._NUMBER_RE))


# -- 1b. a number is the longest run of 0-9 + - . e E ---------------------------------------------

def numbers_as_runs():
    return patched(NO_FAST_PATH, (nd, "_NUMBER_TOKEN_RE", re.compile(r"[-+.eE0-9]+")))


# -- 2. OVERLAP and GAP before MISALIGNED -------------------------------------------------------

_MISALIGNED = '''        if off % alignment:
            raise NdpackError("MISALIGNED", f"offset {off} is not a multiple of {alignment}",
                              array=name)
'''
_OUT_OF_BOUNDS = "        if off + blen + c > data_length:\n"


def alignment_after_layout():
    return patched((nd, "_check_entries", replaced(nd._check_entries, (_MISALIGNED, ""),
                                           (_OUT_OF_BOUNDS, _MISALIGNED + _OUT_OF_BOUNDS))))


# -- 3. true and false taken for integers (Python's bool is an int) ----------------------------

def bool_is_int():
    return patched((nd, "_check_structure", replaced(
        nd._check_structure,
        ("ok = type(v) is int", "ok = isinstance(v, int)"),
        ("all(type(d) is int for d in", "all(isinstance(d, int) for d in"))))


# -- 4. step 22: the padding after a record checked before its CRC ------------------------------

def padding_before_checksum():
    original = nd.NdpackFile._verify_record

    def verify_record(self, e):
        end = e.start + e.byte_length + (4 if self.checksum == "crc32" else 0)
        i = self._index[e.name]
        nxt = self._entries[i + 1].start if i + 1 < len(self._entries) else end
        if bytes(self._buf[end:nxt]).strip(b"\0"):
            raise nd.NdpackError("BAD_PADDING", "padding", array=e.name)
        original(self, e)

    return patched((nd.NdpackFile, "_verify_record", verify_record))


# -- 4b. step 22 over the whole file: every CRC first, then every padding -----------------------

def checksums_of_every_array_first():
    original = nd.NdpackFile.__init__

    def init(self, buf, *, verify=False, **options):
        original(self, buf, **options)
        if not verify:
            return
        for e in self._entries:
            if self.checksum == "crc32":
                end = e.start + e.byte_length
                if zlib.crc32(self._buf[e.start:end]) != struct.unpack("<I", self._buf[end:end + 4])[0]:
                    raise nd.NdpackError("CHECKSUM", "crc", array=e.name)
        for e in self._entries:
            self._verify_record(e)

    return patched((nd.NdpackFile, "__init__", init))


# -- 5. text after the object checked before the object itself -----------------------------------

def trailing_text_first():
    original = nd._parse_header_json

    def parse_header_json(raw, max_depth, max_nodes):
        try:  # where a standard parser says the object ends
            text = raw.decode("utf-8")
            _, end = json.JSONDecoder().raw_decode(text)
        except (ValueError, RecursionError):
            return original(raw, max_depth, max_nodes)
        if text[end:].strip(" "):
            raise nd.NdpackError("HEADER_INVALID", "text after the header object")
        return original(raw, max_depth, max_nodes)

    return patched((nd, "_parse_header_json", parse_header_json))


# -- 6. relaxed numbers under any key named "metadata" ------------------------------------------

def any_metadata_key():
    return patched(NO_FAST_PATH, (nd, "_parse_strict", replaced(
        nd._parse_strict,
        ("in_meta = top[3] or (len(stack) == 1 and top[2] == free_numbers_key)",
         "in_meta = top[3] or top[2] == free_numbers_key"))))


# -- 7. no limit on the number of JSON values in a header ----------------------------------------

def no_node_limit():
    original = nd._parse_header_json

    def parse_header_json(raw, max_depth, max_nodes, *rest):
        return original(raw, max_depth, 1 << 62, *rest)

    return patched((nd, "_parse_header_json", parse_header_json))


# -- 8. an explicit "codec": "none" taken for a codec (no SIZE_MISMATCH check) ------------------

def explicit_none_is_a_codec():
    return patched((nd, "_check_entries", replaced(
        nd._check_entries,
        ('codec = e.get("codec", "none")', 'codec = e.get("codec", "absent")'),
        ('if codec == "none" and blen != nbytes:', 'if codec == "absent" and blen != nbytes:'))))


# name -> (the rule misread, how to patch it in, {vector: the outcome the misreading gives})
MISREADINGS = {
    "greedy-numbers": (
        "a malformed number such as -01 ends where the longest well-formed number (-0) ends",
        greedy_numbers, {"header-malformed-number-minus-leading-zero": "BAD_NUMBER"}),
    "numbers-as-runs": (
        "a number extends over every character of 0-9 + - . e E",
        numbers_as_runs, {"text-order-number-ends-before-second-sign": "HEADER_INVALID"}),
    "alignment-after-layout": (
        "OVERLAP and GAP are checked before MISALIGNED",
        alignment_after_layout, {"entry-order-misaligned-before-overlap": "OVERLAP",
                                 "entry-order-misaligned-before-gap": "GAP"}),
    "bool-is-int": (
        "true and false are accepted where an integer is required (Python's bool is an int)",
        bool_is_int, {"header-wrong-type-offset-false": "OK",
                      "header-wrong-type-dimension-true": "OK",
                      "header-wrong-type-data-length-false": "OK"}),
    "padding-before-checksum": (
        "within step 22, the padding after a record is checked before its CRC",
        padding_before_checksum, {"verify-order-checksum-before-padding": "BAD_PADDING a"}),
    "checksums-of-every-array-first": (
        "step 22 checks every array's CRC, then every padding, instead of one array after another",
        checksums_of_every_array_first, {"verify-order-arrays-in-file-order": "CHECKSUM b"}),
    "trailing-text-first": (
        "text after the header object is refused before the object is checked",
        trailing_text_first, {"text-order-duplicate-key-before-trailing-text": "HEADER_INVALID",
                              "text-order-bad-number-before-trailing-text": "HEADER_INVALID",
                              "text-order-depth-before-trailing-text": "HEADER_INVALID"}),
    "any-metadata-key": (
        "the relaxed number rules apply under any key named metadata, not only the top-level one",
        any_metadata_key, {"bad-number-metadata-key-in-entry": "OK",
                           "bad-number-metadata-key-nested": "OK"}),
    "no-node-limit": (
        "a header may hold any number of JSON values (no maxHeaderNodes)",
        no_node_limit, {"limit-header-nodes": "HEADER_INVALID"}),
    "explicit-none-is-a-codec": (
        'an explicit "codec": "none" is a codec, so step 14 does not apply to it',
        explicit_none_is_a_codec, {"size-mismatch-explicit-codec-none": "OK"}),
}


# -- Sets (FORMAT.md section 12) ------------------------------------------------------------------

def set_ndpack_json_without_limit():
    original = _safetensors._metadata_json
    return patched((_safetensors, "_metadata_json", lambda text, key, limits: original(
        text, key, {**limits, "max_header_nodes": 1 << 62})))


def set_ndpack_json_counted_with_the_header():
    # At least the header object, __metadata__ and its value for the listed key count too.
    original = _safetensors._metadata_json
    return patched((_safetensors, "_metadata_json", lambda text, key, limits: original(
        text, key, {**limits, "max_header_nodes": limits["max_header_nodes"] - 3})))


def set_ndpack_json_in_metadata_order():
    return patched((_safetensors, "safetensors_metadata", replaced(
        _safetensors.safetensors_metadata,
        ("    for key in listed:\n", "    for key in [k for k in raw if k in listed]:\n"))))


_SIZE_CHECK = """\
        if size != expected["size"]:
            raise changed(f"{size} bytes, the index says {expected['size']}")
"""
_CAP_CHECK = """\
        if length > cap:
            raise NdpackError("HEADER_TOO_LARGE", f"shard {shard!r}: header of {length} "
                              f"bytes > max_header_bytes={cap}")
"""
_END_CHECK = """\
        end = need + length
        if end > size:
            raise changed(f"its header would end at byte {end}, past its end at {size}")
"""


def set_header_length_before_size():
    return patched((_sets.SetReader, "_head_check", replaced(
        _sets.SetReader._head_check, (_SIZE_CHECK, ""), (_CAP_CHECK, _CAP_CHECK + _SIZE_CHECK))))


def set_header_end_before_cap():
    return patched((_sets.SetReader, "_head_check", replaced(
        _sets.SetReader._head_check, (_CAP_CHECK + _END_CHECK, _END_CHECK + _CAP_CHECK))))


def set_names_before_1_2():
    # Section 12.1 as it stood before specification 1.2.0: paths, controls and the extension only.
    def check_shard_name(name):
        if (not isinstance(name, str) or not name or name in (".", "..")
                or any(c in name for c in "/\\:") or any(ord(c) < 0x20 for c in name)):
            raise _sets._invalid(f"unsafe shard file name {name!r}")
        if not any(name.endswith(e) and len(name) > len(e) for e in _sets.SHARD_EXTENSIONS):
            raise _sets._invalid(f"shard {name!r} is neither .ndp nor .safetensors")
        return name

    return patched((_sets, "check_shard_name", check_shard_name))


# name -> (the rule misread, how to patch it in, {sets/<valid|invalid>/<vector>: its outcome})
SET_MISREADINGS = {
    "set-ndpack-json-without-limit": (
        "maxHeaderNodes does not apply to the values that __ndpack_json__ lists",
        set_ndpack_json_without_limit,
        {"sets/invalid/safetensors-ndpack-json-header-nodes": "HEADER_INVALID"}),
    "set-ndpack-json-counted-with-the-header": (
        "a value that __ndpack_json__ lists shares its maxHeaderNodes count with the shard's header",
        set_ndpack_json_counted_with_the_header,
        {"sets/valid/safetensors-ndpack-json-header-nodes-at-limit": "LIMIT_EXCEEDED"}),
    "set-ndpack-json-in-metadata-order": (
        "the values __ndpack_json__ lists are decoded in __metadata__'s order, not the list's",
        set_ndpack_json_in_metadata_order,
        {"sets/invalid/safetensors-ndpack-json-list-order": "HEADER_INVALID"}),
    "set-header-length-before-size": (
        "step 3 (the shard's header length) before step 2 (its size against the index's)",
        set_header_length_before_size,
        {"sets/invalid/shard-size-changed-header-too-large": "HEADER_TOO_LARGE"}),
    "set-header-end-before-cap": (
        "with ndpack, a .safetensors header ending past the shard is found before the cap on N",
        set_header_end_before_cap,
        {"sets/invalid/shard-safetensors-header-too-large": "FILE_CHANGED"}),
    "set-names-before-1.2": (
        "shard names that Windows forbids or keeps for a device are names like any other",
        set_names_before_1_2,
        {f"sets/invalid/shard-windows-{case}": "OK" for case in (
            "character-asterisk", "character-greater-than", "character-less-than",
            "character-pipe", "character-question-mark", "character-quote", "device",
            "device-conout", "device-lower-case-two-dots", "device-space-before-dot",
            "device-superscript-digit")}),
}


def set_expected_outcome(kind: str, spec: dict) -> str:
    return "OK" if kind == "valid" else spec["code"]


def set_outcome(folder: str, kind: str, spec: dict) -> str:
    """What the package's set reader (as currently patched) reports for a set vector: opening its
    index, then reading every array of a valid set, or the named one of an invalid set."""
    names = [a["name"] for a in spec["arrays"]] if kind == "valid" else \
        [spec["array"]] if "array" in spec else []
    try:
        with package.open(os.path.join(folder, spec["index"])) as s:
            for name in names:
                s.read(name)
        return "OK"
    except package.NdpackError as ex:
        return ex.code


def check_set_misreadings(root: str, failures: list[str], report: dict) -> None:
    """Each of SET_MISREADINGS: the reference gives its vectors their outcomes, the misreading
    the outcomes it lists (only its vectors are run)."""
    index = conformance.load_json(os.path.join(root, "sets", "index.json"))
    vectors = {f"sets/{kind}/{v['name']}": (kind, v) for kind in ("valid", "invalid")
               for v in index[kind]}
    for name, (rule, patch, expected_misreads) in SET_MISREADINGS.items():
        got = {}
        for vector in expected_misreads:
            if vector not in vectors:
                failures.append(f"{name}: no vector {vector}")
                continue
            kind, spec = vectors[vector]
            folder = os.path.join(root, vector)
            if set_outcome(folder, kind, spec) != set_expected_outcome(kind, spec):
                failures.append(f"{name}: the reference fails {vector}")
            with patch():
                got[vector] = set_outcome(folder, kind, spec)
        for vector, misread in expected_misreads.items():
            want = set_expected_outcome(*vectors[vector]) if vector in vectors else None
            if vector in got and (misread == want or got[vector] != misread):
                failures.append(f"{name}: {vector} expects {want}; the misreading gives "
                                f"{got[vector]}, not {misread}")
        report[name] = {"rule misread": rule,
                        "vectors": {v: {"expected": set_expected_outcome(*vectors[v]),
                                        "misread": got[v]} for v in got}}


def expected_outcome(spec: dict) -> str:
    return f"{spec['code']} {spec['array']}" if spec.get("verify") else spec["code"]


def outcome(path: str, spec: dict) -> str:
    """What the reader (as currently patched) reports for a vector."""
    try:
        if spec.get("when") != "read":
            nd.load(path)
            return "OK"
        if spec.get("verify"):
            nd.load(path, verify=True)
            return "OK"
        nd.load(path).read(spec["array"])
        return "OK"
    except nd.NdpackError as ex:
        return f"{ex.code} {ex.array}" if spec.get("verify") else ex.code


def main() -> int:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    root = args[0] if args else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                             "..", "fixtures")
    folder = os.path.join(root, "invalid")
    vectors = {fn[:-5]: conformance.load_json(os.path.join(folder, fn))
               for fn in sorted(os.listdir(folder)) if fn.endswith(".json")}
    failures: list[str] = []
    report: dict = {}
    for name, (rule, patch, expected_misreads) in MISREADINGS.items():
        for vector in expected_misreads:
            if vector not in vectors:
                failures.append(f"{name}: no vector {vector}")
            elif outcome(os.path.join(folder, vector + ".ndp"), vectors[vector]) != \
                    expected_outcome(vectors[vector]):
                failures.append(f"{name}: the reference fails {vector}")
        with patch():
            got = {v: outcome(os.path.join(folder, v + ".ndp"), s) for v, s in vectors.items()}
        caught_by = sorted(v for v, s in vectors.items() if got[v] != expected_outcome(s))
        for vector, misread in expected_misreads.items():
            if vector not in vectors:
                continue
            want = expected_outcome(vectors[vector])
            if misread == want or got[vector] != misread:
                failures.append(f"{name}: {vector} expects {want}; the misreading gives "
                                f"{got[vector]}, not {misread}")
        report[name] = {"rule misread": rule,
                        "vectors": {v: {"expected": expected_outcome(vectors[v]), "misread": got[v]}
                                    for v in expected_misreads if v in vectors},
                        "caught by": caught_by}
    check_set_misreadings(root, failures, report)
    json.dump({"ok": not failures, "failures": failures, "misreadings": report}, sys.stdout,
              indent=1)
    sys.stdout.write("\n")
    if failures:
        print("\n".join(failures), file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
