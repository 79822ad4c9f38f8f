"""Run every golden fixture of fixtures/ (spec/conformance.md) through the reference (ndpack/reference.py), in one process.

Usage: python3 spec/python/conformance.py [FIXTURES_DIR] [--raw-bits]

Prints one JSON report on stdout:

    {"ok": bool, "specVersion": {"fixtures", "ndpack"}, "mlDtypes": bool, "seconds": float,
     "valid":   [{"name", "ok", "errors": [...], "notes": [...]}, ...],
     "invalid": [{"name", "ok", "expected", "got", "errors": [...]}, ...]}

A valid fixture passes when the file loads (from a path, from bytes and memory-mapped, with every
CRC verified), its version, alignment, checksum, metadata, names and entries are those of its .json,
every array's elements are its "hex" (the elements in stored order, little-endian) or "sha256", and
its "values"; when uncompressed, an array is a view of the file's bytes; and, for a "canonical"
fixture, writing the arrays read back with the same options gives the file's exact bytes.

The run fails when ndpack.SPEC_VERSION is not the specification version of fixtures/index.json.

An invalid fixture passes when reading it fails with its "code": at load time, or, when its "when"
is "read", only when its "array" is read (with "verify": true, when the CRC is checked), the rest
of the file loading and (for other arrays) reading fine. "got" is the code Python gave.
--raw-bits reads bfloat16 and float8 as raw bits (without ml_dtypes, the only way to read them).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ndpack import reference as ndpack  # noqa: E402

RAW_BITS = "--raw-bits" in sys.argv


def load_json(path: str):
    """A fixture description; a -0 in it stays -0.0."""
    with open(path, encoding="utf-8") as fh:
        return json.load(fh, parse_int=lambda s: -0.0 if s == "-0" else int(s))


def le_bytes(arr: np.ndarray, order: str) -> bytes:
    """The elements of arr in memory order `order`, little-endian."""
    dt = arr.dtype
    if dt.type.__module__ != "numpy":  # ml_dtypes: compare the bits
        arr = arr.view(f"u{dt.itemsize}")
        dt = arr.dtype
    if dt.byteorder == ">" or (dt.byteorder == "=" and sys.byteorder == "big"):
        arr = arr.astype(dt.newbyteorder("<"), order="K")
    return arr.tobytes(order=order)


def _f8(bits: np.ndarray, exp_bits: int, man_bits: int, ieee: bool) -> np.ndarray:
    b = bits.astype(np.int64)
    sign = np.where(b & 0x80, -1.0, 1.0)
    e = (b >> man_bits) & ((1 << exp_bits) - 1)
    m = b & ((1 << man_bits) - 1)
    bias = (1 << (exp_bits - 1)) - 1
    with np.errstate(all="ignore"):
        v = np.where(e == 0, m / (1 << man_bits) * 2.0 ** (1 - bias),
                     (1 + m / (1 << man_bits)) * 2.0 ** (e - bias))
    emax = (1 << exp_bits) - 1
    if ieee:
        v = np.where(e == emax, np.where(m == 0, np.inf, np.nan), v)
    else:  # e4m3fn: no infinities, S1111111 is NaN
        v = np.where((e == emax) & (m == (1 << man_bits) - 1), np.nan, v)
    return sign * v


def element_values(arr: np.ndarray, dtype: str, order: str) -> list:
    """The elements in stored order as Python numbers (complex as (re, im))."""
    if dtype in ("bfloat16", "float8_e4m3fn", "float8_e5m2"):
        size = 2 if dtype == "bfloat16" else 1
        bits = np.frombuffer(le_bytes(arr, order), f"<u{size}")
        if dtype == "bfloat16":
            with np.errstate(invalid="ignore"):
                flat = (bits.astype("<u4") << 16).view("<f4").astype(float)
        elif dtype == "float8_e4m3fn":
            flat = _f8(bits, 4, 3, False)
        else:
            flat = _f8(bits, 5, 2, True)
        return [float(x) for x in flat]
    flat = arr.ravel(order=order)
    if dtype.startswith("complex"):
        return [(float(z.real), float(z.imag)) for z in flat]
    if dtype == "bool":
        return [bool(x) for x in flat]
    if dtype.startswith(("int", "uint")):
        return [int(x) for x in flat]
    return [float(x) for x in flat]


def same_number(got, want) -> bool:
    """Compare one value with its fixture form: a number, "-0", "inf", "-inf", "nan", or an
    integer as a decimal string (64-bit integers)."""
    if isinstance(want, str):
        if want == "nan":
            return isinstance(got, float) and math.isnan(got)
        if want == "-0":
            return got == 0 and math.copysign(1.0, got) < 0
        if want in ("inf", "-inf"):
            return got == float(want)
        return type(got) is int and got == int(want)
    if isinstance(want, bool) or isinstance(got, bool):
        return got is want
    if isinstance(got, float) and got == 0 and want == 0:
        return math.copysign(1.0, got) > 0 and (not isinstance(want, float)
                                                 or math.copysign(1.0, want) > 0)
    return got == want


def same_values(got: list, want: list) -> bool:
    if len(got) != len(want):
        return False
    for g, w in zip(got, want):
        if isinstance(g, tuple):
            if not (isinstance(w, list) and len(w) == 2 and same_number(g[0], w[0])
                    and same_number(g[1], w[1])):
                return False
        elif not same_number(g, w):
            return False
    return True


def same_json(a, b) -> bool:
    """Deep equality of JSON values, -0 and key order included."""
    return ndpack._json_metadata(a, 2) == ndpack._json_metadata(b, 2)


def numpy_can_hold(shape) -> bool:
    return len(shape) <= 64 and math.prod(d for d in shape if d) * 16 <= 2**63 - 1


def as_written(arr: np.ndarray, dtype: str) -> np.ndarray:
    """What a writer stores for an array read back: a bool byte other than 0 and 1 reads as true
    and is written as 1 (FORMAT.md section 3)."""
    if dtype == "bool":
        return arr.view(np.uint8) != 0
    return arr


def check_valid(base: str, spec: dict, errors: list, notes: list) -> None:
    path = base + ".ndp"
    data = open(path, "rb").read()
    f = ndpack.load(path, verify=True, raw_bits=RAW_BITS)
    ndpack.loads(data, verify=True)
    fm = ndpack.load(path, mmap=True, verify=True, raw_bits=True)
    report = ndpack.verify(path)
    if not report["ok"]:
        errors.append(f"verify() reports {report}")
    v = spec["version"]
    if f.version != (v["major"], v["minor"]):
        errors.append(f"version {f.version}")
    if f.alignment != spec["alignment"] or f.checksum != spec["checksum"]:
        errors.append(f"alignment/checksum {f.alignment}/{f.checksum}")
    if not same_json(f.metadata, spec["metadata"]):
        errors.append("metadata differs: " + ndpack._json_metadata(f.metadata, 2)[:500])
    names = [a["name"] for a in spec["arrays"]]
    if f.names != names:
        errors.append(f"names {f.names!r} != {names!r}")
        return
    buf_fm = np.frombuffer(fm._buf, np.uint8) if len(fm._buf) else None
    for a in spec["arrays"]:
        name = a["name"]
        i = f.info(name)
        got = (i.dtype, list(i.shape), i.order, i.byte_order, i.codec, i.nbytes)
        want = (a["dtype"], a["shape"], a["order"], a["byteOrder"], a["codec"], a["nbytes"])
        if got != want:
            errors.append(f"{name!r}: entry {got} != {want}")
            continue
        if not numpy_can_hold(a["shape"]):
            try:
                f[name]
                errors.append(f"{name!r}: numpy was expected to refuse shape {a['shape']}")
            except ValueError:
                notes.append(f"{name!r}: shape {a['shape']} is valid ndpack (nbytes 0) but numpy "
                             "cannot represent it (its non-zero dimensions multiply beyond "
                             "2**63); reading it raises ValueError")
            continue
        x = f[name]
        if x.shape != tuple(a["shape"]):
            errors.append(f"{name!r}: shape {x.shape}")
            continue
        b = le_bytes(x, a["order"])
        if "hex" in a and b.hex() != a["hex"]:
            errors.append(f"{name!r}: bytes {b.hex()[:80]} != {a['hex'][:80]}")
        if "sha256" in a and hashlib.sha256(b).hexdigest() != a["sha256"]:
            errors.append(f"{name!r}: sha256 differs")
        for label, y in (("raw_bits", fm.read(name)), ("copy=True", f.read(name, copy=True))):
            if le_bytes(y, a["order"]) != b:
                errors.append(f"{name!r}: {label} read gives other bytes")
        if "values" in a and not same_values(element_values(x, a["dtype"], a["order"]),
                                             a["values"]):
            errors.append(f"{name!r}: values {element_values(x, a['dtype'], a['order'])[:8]} "
                          f"!= {a['values'][:8]}")
        if i.codec == "none" and i.nbytes and not np.shares_memory(fm.read(name), buf_fm):
            errors.append(f"{name!r}: an uncompressed array is not a view of the file")
    # Re-encode with the file's options: canonical fixtures give the same bytes, the others the
    # same contents.
    if all(numpy_can_hold(a["shape"]) for a in spec["arrays"]):
        arrays = [(a["name"], {"data": as_written(f[a["name"]], a["dtype"]), "dtype": a["dtype"],
                               "order": a["order"], "codec": a["codec"],
                               "byte_order": a["byteOrder"]})
                  for a in spec["arrays"]]
        out = ndpack.dumps(arrays, metadata=f.metadata, alignment=f.alignment,
                           checksum=f.checksum)
        if spec["canonical"] and out != data:
            errors.append("writing the arrays back with the same options gives other bytes: "
                          + out[:400].hex())
        g = ndpack.loads(out, verify=True, raw_bits=True)
        if g.names != f.names or not same_json(g.metadata, f.metadata):
            errors.append("the re-encoded file has other names or metadata")
        for a in spec["arrays"]:
            before = as_written(fm.read(a["name"]), a["dtype"])
            if le_bytes(g[a["name"]], a["order"]) != le_bytes(before, a["order"]):
                errors.append(f"{a['name']!r}: the re-encoded file has other contents")
    else:
        notes.append("not re-encoded: numpy cannot hold every array")
    # The canonical header serializer reproduces every canonical header.
    if spec["canonical"]:
        hlen = int.from_bytes(data[12:16], "little")
        if ndpack.canonical_header(f.header) != data[20 : 20 + hlen]:
            errors.append("canonical_header(header) differs from the file's header")
    fm.close()


def check_invalid(base: str, spec: dict, errors: list) -> str:
    """Returns the code Python gave ("OK" when it accepted)."""
    path = base + ".ndp"
    code = spec["code"]
    when = spec.get("when")
    try:
        f = ndpack.load(path)
    except ndpack.NdpackError as ex:
        if when == "read":
            errors.append(f"rejected at load time with {ex.code}; the file must load")
        # the same code from a buffer
        try:
            ndpack.loads(open(path, "rb").read())
            errors.append("loads(bytes) accepted what load(path) rejected")
        except ndpack.NdpackError as ex2:
            if ex2.code != ex.code:
                errors.append(f"loads(bytes) gave {ex2.code}")
        return ex.code
    if when != "read":
        return "OK"
    name = spec["array"]
    verify = bool(spec.get("verify"))
    # "others": the other arrays that fail verification too; every other array reads fine (each
    # array is checked on its own).
    failing = {**spec.get("others", {}), name: code} if verify else {}
    for other in f.names:
        if other != name and other not in failing:
            try:
                if numpy_can_hold(f.info(other).shape):
                    f.read(other, verify=verify)
            except ndpack.NdpackError as ex:
                errors.append(f"array {other!r} fails too, with {ex.code}")
    rep = ndpack.verify(path)
    got_failing = {a["name"]: a["error"]["code"] for a in rep["arrays"] if a["error"]}
    if got_failing != failing:
        errors.append(f"verify() reports {rep['arrays']}")
    if verify:
        # Verifying while loading stops at the first failing array in file order: `array`.
        try:
            ndpack.load(path, verify=True)
            errors.append("load(verify=True) accepted the file")
        except ndpack.NdpackError as ex:
            if (ex.code, ex.array) != (code, name):
                errors.append(f"load(verify=True) gave {ex.code} for array {ex.array!r}")
    try:
        f.read(name, verify=verify)
    except ndpack.NdpackError as ex:
        if ex.array not in (None, name):
            errors.append(f"the error names array {ex.array!r}")
        return ex.code
    return "OK"


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    root = args[0] if args else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                             "..", "fixtures")
    t0 = time.perf_counter()
    with open(os.path.join(root, "index.json"), encoding="utf-8") as fh:
        spec_version = json.load(fh).get("specVersion")
    valid, invalid = [], []
    for kind, out in (("valid", valid), ("invalid", invalid)):
        folder = os.path.join(root, kind)
        for fn in sorted(os.listdir(folder)):
            if not fn.endswith(".json"):
                continue
            base = os.path.join(folder, fn[:-5])
            errors: list = []
            notes: list = []
            spec = None
            try:
                spec = load_json(base + ".json")
                if kind == "valid":
                    check_valid(base, spec, errors, notes)
                    out.append({"name": fn[:-5], "ok": not errors, "errors": errors,
                                "notes": notes})
                else:
                    got = check_invalid(base, spec, errors)
                    out.append({"name": fn[:-5], "ok": got == spec["code"] and not errors,
                                "expected": spec["code"], "got": got, "when": spec.get("when"),
                                "errors": errors})
            except Exception as ex:  # report, never stop the batch
                errors.append(f"{type(ex).__name__}: {ex}")
                out.append({"name": fn[:-5], "ok": False, "errors": errors, "notes": notes,
                            "expected": spec.get("code") if isinstance(spec, dict) else None,
                            "got": getattr(ex, "code", None)})
    # ndpack.py follows the specification version the vectors were made for.
    json.dump({"ok": all(r["ok"] for r in valid + invalid) and spec_version == ndpack.SPEC_VERSION,
               "specVersion": {"fixtures": spec_version, "ndpack": ndpack.SPEC_VERSION},
               "mlDtypes": ndpack._ml_dtype("bfloat16") is not None and not RAW_BITS,
               "seconds": round(time.perf_counter() - t0, 3),
               "valid": valid, "invalid": invalid}, sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
