"""numpy's view of arrays, for the command-line tests (cli-show.test.ts, cli-convert.test.ts).

Reads one JSON request on stdin: {"arrays": [{"path", "name"}, ...]}. Each array is loaded with
spec/python/ndpack/reference.py (.ndp), numpy.load (.npy, .npz) or safetensors (.safetensors), and described
as numpy sees it: str(array) with the default print options, and the count, min, max, mean and std
of its finite values and its NaN and Inf counts (complex: of the real and imaginary parts), and
its values (C order, float64 or int as strings, complex as re, im) and bytes (C order,
little-endian, hex). One JSON list goes to stdout.
"""

import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "spec", "python"))
from ndpack import reference as ndpack  # noqa: E402


def load(path, name):
    if path.endswith(".ndp"):
        return ndpack.load(path)[name]
    if path.endswith(".npy"):
        return np.load(path, allow_pickle=False)
    if path.endswith(".npz"):
        with np.load(path, allow_pickle=False) as npz:
            return npz[name]
    if path.endswith(".safetensors"):
        from safetensors.numpy import load_file
        return load_file(path)[name]
    raise ValueError(path)


def part(values):
    if values.dtype.kind not in "biu":
        values = values.astype(np.float64)  # ml_dtypes' bfloat16 and float8 too
    finite = values[np.isfinite(values)] if values.dtype.kind == "f" else values
    if finite.size == 0:
        return {"min": None, "max": None, "mean": None, "std": None}
    as_float = finite.astype(np.float64)
    low, high = finite.min(), finite.max()
    scalar = (lambda v: str(int(v))) if values.dtype.kind in "iu" else (lambda v: float(v))
    return {"min": scalar(low), "max": scalar(high), "mean": float(as_float.mean()), "std": float(as_float.std())}


def c_bytes(a):
    """The array's bytes in C order, little-endian (ml_dtypes arrays are in this machine's order)."""
    if a.dtype.kind in "biufc" and a.dtype.itemsize > 1:
        a = a.astype(a.dtype.newbyteorder("<"))
    return np.ascontiguousarray(a).tobytes().hex()


def describe(a):
    out = {"str": str(a), "count": int(a.size), "dtype": str(a.dtype), "shape": list(a.shape), "hex": c_bytes(a)}
    if a.dtype.kind == "c":
        out["real"] = part(a.real)
        out["imag"] = part(a.imag)
        out["nan"] = int(np.isnan(a).sum())
        out["inf"] = int((np.isinf(a) & ~np.isnan(a)).sum())
        flat = a.astype(np.complex128).ravel(order="C")
        out["values"] = [repr(float(v)) for z in flat for v in (z.real, z.imag)]
    elif a.dtype.kind == "b":
        out.update(part(a.astype(np.uint8)))
        out["trues"] = int(a.sum())
        out["values"] = [str(int(v)) for v in a.ravel(order="C")]
    else:
        out.update(part(a))
        if a.dtype.kind not in "iu":
            as_float = a.astype(np.float64)
            out["nan"] = int(np.isnan(as_float).sum())
            out["inf"] = int(np.isinf(as_float).sum())
            out["values"] = [repr(float(v)) for v in a.astype(np.float64).ravel(order="C")]
        else:
            out["values"] = [str(int(v)) for v in a.ravel(order="C")]
    return out


def main():
    request = json.load(sys.stdin)
    json.dump([describe(load(item["path"], item["name"])) for item in request["arrays"]], sys.stdout)


main()
