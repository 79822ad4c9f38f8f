"""Batch half of test/python-reference.test.ts's cross-language property test.

Usage: python3 python-roundtrip.py MANIFEST.json > REPORT.json

The manifest lists files written by the TypeScript writer and, for each array, the element bytes
it holds (little-endian, in the array's memory order, as hex). For every case, in this one process,
spec/python/ndpack/reference.py reads the file, checks the header, every array's dtype, shape, order and bytes
(through the ml_dtypes, raw-bits and copy=True paths), that uncompressed arrays are views, that the
header is canonical, and then writes the arrays back with the same options to case["out"].
The report is {"ok", "mlDtypes", "cases": [{"id", "errors": [...]}]}.
"""

import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "spec",
                                "python"))
from ndpack import reference as ndpack  # noqa: E402


def le_bytes(arr: np.ndarray, order: str) -> bytes:
    """The elements of arr in memory order `order`, little-endian."""
    dt = arr.dtype
    if dt.kind in "biufc" and dt.byteorder == ">":
        arr = arr.astype(dt.newbyteorder("<"), order="K")
    elif dt.kind not in "biufc":  # ml_dtypes types are native (this test machine is little-endian)
        arr = arr.view(f"u{dt.itemsize}")
    return arr.tobytes(order=order)


def check_case(case: dict, errors: list) -> None:
    path = case["file"]
    data = open(path, "rb").read()
    f = ndpack.load(path, verify=True)
    fm = ndpack.load(path, mmap=True, raw_bits=True)
    if f.names != [a["name"] for a in case["arrays"]]:
        errors.append(f"names {f.names!r} != {[a['name'] for a in case['arrays']]!r}")
        return
    # The TS header is canonical: re-encoding the parsed header gives the same bytes.
    hlen = int.from_bytes(data[12:16], "little")
    if ndpack.canonical_header(f.header) != data[20 : 20 + hlen]:
        errors.append("canonical_header(header) differs from the TypeScript header: "
                      + ndpack.canonical_header(f.header).decode("utf-8", "replace"))
    rep = ndpack.verify(path)
    if not rep["ok"]:
        errors.append(f"verify: {rep!r}")
    out_arrays = []
    for a in case["arrays"]:
        name = a["name"]
        info = f.info(name)
        want = bytes.fromhex(a["hex"])
        if (info.dtype, list(info.shape), info.order) != (a["dtype"], a["shape"], a["order"]):
            errors.append(f"{name!r}: info {info!r}")
            continue
        arr = f[name]
        raw = fm.read(name)
        full = f.read(name, copy=True)
        for label, x in (("default", arr), ("raw_bits", raw), ("copy=True", full)):
            if x.shape != tuple(a["shape"]):
                errors.append(f"{name!r} {label}: shape {x.shape}")
            elif le_bytes(x, a["order"]) != want:
                errors.append(f"{name!r} {label}: bytes differ: {le_bytes(x, a['order']).hex()} "
                              f"!= {want.hex()}")
        if a["order"] == "F" and arr.ndim > 1 and arr.size > 1 and not arr.flags.f_contiguous:
            errors.append(f"{name!r}: an F array is not F-contiguous")
        if not full.dtype.isnative or not full.flags.writeable:
            errors.append(f"{name!r}: copy=True gave {full.dtype} writeable={full.flags.writeable}")
        if info.codec == "none" and info.nbytes > 0:
            if not np.shares_memory(raw, np.frombuffer(fm._buf, np.uint8)):
                errors.append(f"{name!r}: uncompressed array is not a view")
            try:
                f.read(name, copy=False)
            except ndpack.NdpackError as ex:
                if not (ex.code == "COPY_REQUIRED" and info.dtype == "bfloat16"
                        and info.byte_order == "big"):
                    errors.append(f"{name!r}: copy=False raised {ex.code}")
        spec = {"data": arr, "order": a["order"]}
        if a.get("codec"):
            spec["codec"] = a["codec"]
        if arr.dtype.kind == "u" and info.dtype in ("bfloat16", "float8_e4m3fn", "float8_e5m2"):
            spec["dtype"] = info.dtype  # no ml_dtypes: raw bits
        out_arrays.append((name, spec))
    fm.close()
    o = case["options"]
    ndpack.save(case["out"], out_arrays, metadata=f.metadata, alignment=o["alignment"],
                byte_order=o["byte_order"], checksum=o["checksum"], codec=o["codec"],
                compression_level=o["compression_level"])
    # Python reads its own output back.
    g = ndpack.load(case["out"], verify=True, raw_bits=True)
    for a in case["arrays"]:
        if le_bytes(g[a["name"]], a["order"]) != bytes.fromhex(a["hex"]):
            errors.append(f"{a['name']!r}: Python's own file reads back different bytes")


def main() -> None:
    t0 = time.perf_counter()
    manifest = json.load(open(sys.argv[1], encoding="utf-8"))
    cases = []
    for case in manifest["cases"]:
        errors: list = []
        try:
            check_case(case, errors)
        except Exception as ex:  # report, do not stop the batch
            errors.append(f"{type(ex).__name__}: {ex}")
        cases.append({"id": case["id"], "errors": errors})
    json.dump({"ok": all(not c["errors"] for c in cases),
               "mlDtypes": ndpack._ml_dtype("bfloat16") is not None,
               "seconds": time.perf_counter() - t0, "cases": cases}, sys.stdout)


if __name__ == "__main__":
    main()
