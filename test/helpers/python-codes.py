"""Batch half of test/python-reference.test.ts's damaged-files test.

Usage: python3 python-codes.py MANIFEST.json > REPORT.json

For each file of the manifest ({"files": [path, ...]}), in this one process, reports what
spec/python/ndpack/reference.py makes of it: {"load": code or "OK"} and, when it loads, for each array in
order, "verify" (its step 22 result) and "read" (reading its elements, step 23): code or "OK".
"""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "spec",
                                "python"))
from ndpack import reference as ndpack  # noqa: E402


def outcome(path: str) -> dict:
    try:
        f = ndpack.load(path, raw_bits=True)
    except ndpack.NdpackError as ex:
        return {"load": ex.code}
    report = ndpack.verify(path)
    verify = [a["error"]["code"] if a["error"] else "OK" for a in report["arrays"]]
    read = []
    for name in f.names:
        try:
            f.read(name)
            read.append("OK")
        except ndpack.NdpackError as ex:
            read.append(ex.code)
    return {"load": "OK", "verify": verify, "read": read}


def main() -> None:
    manifest = json.load(open(sys.argv[1], encoding="utf-8"))
    out = []
    for path in manifest["files"]:
        try:
            out.append(outcome(path))
        except Exception as ex:  # a crash is a failure of the test, reported with the file
            out.append({"load": f"crash: {type(ex).__name__}: {ex}"})
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
