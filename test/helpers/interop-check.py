"""The third-party side of ndpack's interop tests (see interop-python.ts).

Reads one JSON request on stdin:
  {"dir": ..., "read": [file, ...], "write": [file, ...]}
  file  = {"file", "format": "npy" | "npz" | "npz_compressed" | "safetensors", "arrays": [array, ...],
           "metadata"?: object | null, "sampleEvery"?: int}
  array = {"name", "dtype" (ndpack name), "shape", "order": "C" | "F", "byteOrder": "little" | "big",
           "hex": the array's bytes, little-endian, in `order`}

"read" files were written by ndpack: they are loaded with numpy.load and safetensors.safe_open and
compared with the arrays described (dtype, byte order, shape, memory order, bits, and values through
ml_dtypes). "write" files are written here with np.save, np.savez, np.savez_compressed and
safetensors.numpy.save_file for ndpack to read. One JSON report goes to stdout.
"""

import json
import os
import sys
import zipfile

import ml_dtypes
import numpy as np
import safetensors
from safetensors import safe_open
from safetensors.numpy import save_file

ML_DTYPES = {"bfloat16", "float8_e4m3fn", "float8_e5m2"}
NUMPY_NAMES = {"bool": "bool", "float16": "float16"}


def base_dtype(name):
    if name in ML_DTYPES:
        return np.dtype(getattr(ml_dtypes, name))
    return np.dtype(NUMPY_NAMES.get(name, name))


def expected_array(spec):
    """The array a spec describes, little-endian, laid out in its order."""
    dtype = base_dtype(spec["dtype"])
    if dtype.itemsize > 1 and spec["dtype"] not in ML_DTYPES:
        dtype = dtype.newbyteorder("<")
    flat = np.frombuffer(bytes.fromhex(spec["hex"]), dtype=dtype)
    return flat.reshape(spec["shape"], order=spec["order"])


def in_byte_order(array, byte_order):
    if byte_order == "big" and array.dtype.itemsize > 1 and array.dtype.kind != "V":
        return array.astype(array.dtype.newbyteorder(">"))
    return array


def bits(array):
    """The array's bits in C order, little-endian."""
    a = array
    if a.dtype.kind in "biufc" and a.dtype.itemsize > 1:
        a = a.astype(a.dtype.newbyteorder("<"))
    return np.ascontiguousarray(a).tobytes()


def value_strings(array, order):
    """Values as strings, flattened in `order` (complex numbers as re, im), floats through float64."""
    kind = array.dtype.kind
    flat = array.ravel(order=order)
    if array.dtype.name in ML_DTYPES or kind == "f":
        return [repr(float(x)) for x in flat.astype(np.float64)]
    if kind == "c":
        out = []
        for x in flat.astype(np.complex128):
            out += [repr(float(x.real)), repr(float(x.imag))]
        return out
    if kind == "b":
        return [str(int(x)) for x in flat]
    return [str(int(x)) for x in flat]


def compare(loaded, spec, problems, file, check_order=True, expect_byte_order=None):
    name = spec["name"]
    expected = expected_array(spec)

    def problem(text):
        problems.append({"file": file, "name": name, "problem": text})

    if spec["dtype"] in ML_DTYPES and loaded.dtype.kind == "V":
        if loaded.dtype.itemsize != expected.dtype.itemsize:
            return problem(f"void itemsize {loaded.dtype.itemsize}, expected {expected.dtype.itemsize}")
        loaded = loaded.view(expected.dtype)
    if loaded.dtype.name != expected.dtype.name:
        return problem(f"dtype {loaded.dtype}, expected {expected.dtype}")
    if expect_byte_order is not None and loaded.dtype.itemsize > 1 and loaded.dtype.kind in "iufc":
        actual = "big" if loaded.dtype.byteorder == ">" else "little"
        if actual != expect_byte_order:
            return problem(f"byte order {actual}, expected {expect_byte_order}")
    if list(loaded.shape) != list(spec["shape"]):
        return problem(f"shape {list(loaded.shape)}, expected {spec['shape']}")
    if check_order and spec["order"] == "F" and sum(1 for d in loaded.shape if d > 1) > 1:
        if not loaded.flags.f_contiguous or loaded.flags.c_contiguous:
            return problem("not loaded as a Fortran-order array")
    if bits(loaded) != bits(expected):
        return problem("bits differ")
    # Values, through ml_dtypes for bfloat16 and float8 (NaN equals NaN).
    a = loaded.astype(np.float64) if spec["dtype"] in ML_DTYPES else loaded
    b = expected.astype(np.float64) if spec["dtype"] in ML_DTYPES else expected
    if not np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"):
        return problem("values differ")


def check_npy(path, entry, problems):
    spec = entry["arrays"][0]
    loaded = np.load(path, allow_pickle=False)
    compare(loaded, spec, problems, entry["file"], expect_byte_order=spec["byteOrder"])
    return 1


def check_npz(path, entry, problems):
    file = entry["file"]
    count = 0
    with np.load(path, allow_pickle=False) as npz:
        names = [s["name"] for s in entry["arrays"]]
        if entry.get("onlyArrays") and "__ndpack__.json" in npz.files:
            problems.append({"file": file, "problem": "numpy.load lists __ndpack__.json, which nothing needed"})
        listed = [f for f in npz.files if f != "__ndpack__.json"]
        if sorted(listed) != sorted(names):
            problems.append({"file": file, "problem": f"members {sorted(listed)[:5]}..., expected {sorted(names)[:5]}..."})
            return 0
        extra = None
        if "__ndpack__.json" in npz.files:
            extra = json.loads(npz["__ndpack__.json"].decode("utf-8"))
        if "metadata" in entry:
            if entry["metadata"] is None:
                if extra is not None and extra["metadata"] != {}:
                    problems.append({"file": file, "problem": f"unexpected metadata {extra['metadata']}"})
            elif extra is None or extra["metadata"] != entry["metadata"]:
                problems.append({"file": file, "problem": f"metadata {None if extra is None else extra['metadata']}, expected {entry['metadata']}"})
        every = entry.get("sampleEvery", 1)
        for i, spec in enumerate(entry["arrays"]):
            if spec["dtype"] in ML_DTYPES and (extra is None or extra["dtypes"].get(spec["name"]) != spec["dtype"]):
                problems.append({"file": file, "name": spec["name"], "problem": "__ndpack__.json does not name its dtype"})
            if i % every != 0 and i != len(entry["arrays"]) - 1:
                continue
            compare(npz[spec["name"]], spec, problems, file, expect_byte_order=spec["byteOrder"])
            count += 1
    with zipfile.ZipFile(path) as archive:
        bad = archive.testzip()
        if bad is not None:
            problems.append({"file": file, "problem": f"zipfile.testzip: bad CRC in {bad}"})
    return count


def tensor_of(f, name, raw):
    """safe_open's tensor; for dtypes its numpy framework cannot build (float8 in safetensors 0.8
    asks numpy for np.float8_*), the bytes the reference loader parsed, viewed through ml_dtypes."""
    try:
        return f.get_tensor(name)
    except AttributeError:
        info = raw[name]
        dtype = {"F8_E4M3": ml_dtypes.float8_e4m3fn, "F8_E5M2": ml_dtypes.float8_e5m2}[info["dtype"]]
        return np.frombuffer(bytes(info["data"]), dtype=dtype).reshape(info["shape"])


def check_safetensors(path, entry, problems):
    file = entry["file"]
    count = 0
    with open(path, "rb") as handle:
        raw = dict(safetensors.deserialize(handle.read()))
    with safe_open(path, framework="np") as f:
        names = [s["name"] for s in entry["arrays"]]
        if sorted(f.keys()) != sorted(names):
            problems.append({"file": file, "problem": f"tensors {sorted(f.keys())}, expected {sorted(names)}"})
            return 0
        metadata = f.metadata()
        expected = entry.get("metadata") or None
        if (metadata or None) != expected:
            problems.append({"file": file, "problem": f"__metadata__ {metadata}, expected {expected}"})
        for spec in entry["arrays"]:
            # safetensors holds C order only: compare values, not memory order.
            compare(tensor_of(f, spec["name"], raw), spec, problems, file, check_order=False)
            count += 1
    return count


def write(entry, directory):
    path = os.path.join(directory, entry["file"])
    arrays = {s["name"]: in_byte_order(expected_array(s), s["byteOrder"]) for s in entry["arrays"]}
    fmt = entry["format"]
    if fmt == "npy" and "version" in entry:
        with open(path, "wb") as f:
            np.lib.format.write_array(f, next(iter(arrays.values())), version=tuple(entry["version"]))
    elif fmt == "npy":
        np.save(path, next(iter(arrays.values())))
    elif fmt == "npz":
        np.savez(path, **arrays)
    elif fmt == "npz_compressed":
        np.savez_compressed(path, **arrays)
    elif fmt == "safetensors":
        # (np.ascontiguousarray would turn 0-d arrays into 1-d ones.)
        save_file({k: np.array(v, order="C", copy=True) for k, v in arrays.items()}, path, metadata=entry.get("metadata"))
    else:
        raise ValueError(fmt)
    return {
        "file": entry["file"],
        # safetensors holds C order only: its values are reported in C order.
        "arrays": [{"name": s["name"], "values": value_strings(arrays[s["name"]], "C" if fmt == "safetensors" else s["order"])} for s in entry["arrays"]],
    }


def main():
    request = json.load(sys.stdin)
    directory = request["dir"]
    problems = []
    checked = 0
    for entry in request["read"]:
        path = os.path.join(directory, entry["file"])
        fmt = entry["format"]
        try:
            if fmt == "npy":
                checked += check_npy(path, entry, problems)
            elif fmt in ("npz", "npz_compressed"):
                checked += check_npz(path, entry, problems)
            else:
                checked += check_safetensors(path, entry, problems)
        except Exception as error:  # a file numpy or safetensors refuses is a mismatch to report
            problems.append({"file": entry["file"], "problem": f"{type(error).__name__}: {error}"})
    written = [write(entry, directory) for entry in request["write"]]
    print(json.dumps({
        "versions": {
            "python": sys.version.split()[0],
            "numpy": np.__version__,
            "safetensors": safetensors.__version__,
            "mlDtypes": ml_dtypes.__version__,
        },
        "checked": checked,
        "mismatches": problems,
        "written": written,
    }))


if __name__ == "__main__":
    main()
