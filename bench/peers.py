"""Python peers of the ndpack benchmark, run by bench/*.ts as subprocesses.

Each `time` invocation builds its inputs, then times its own loop (the first call, warm-up, then N
samples of one call each, garbage collected before each) and prints one JSON line:
{"samples": [ms per operation...], "firstMs": ms, "peakRss": bytes, "setupRss": bytes, "extra": {...}}.
Other commands prepare inputs for the JavaScript side (`npy`, `npz`).

Usage:
  python3 bench/peers.py time --op OP [--spec SPEC.json] [--file PATH] [--name NAME] --runs N --warmup W
  python3 bench/peers.py npy --spec SPEC.json --out PATH
  python3 bench/peers.py npz --spec SPEC.json --out PATH [--compressed]
"""

import argparse
import gc
import io
import json
import os
import resource
import sys
import time
import zlib

import numpy as np

DTYPES = {
    "int8": np.int8,
    "uint8": np.uint8,
    "uint16": np.uint16,
    "int32": np.int32,
    "float32": np.float32,
    "float64": np.float64,
    "int64": np.int64,
    "bool": np.bool_,
    "float16": np.float16,
}


def peak_rss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def make_array(desc, rng):
    dtype = DTYPES[desc["dtype"]]
    shape = tuple(desc["shape"])
    if "file" in desc:
        return np.fromfile(desc["file"], dtype=dtype).reshape(shape)
    if dtype == np.bool_:
        return rng.integers(0, 2, size=shape, dtype=np.uint8).astype(np.bool_)
    if dtype in (np.float32, np.float64):
        return rng.random(size=shape, dtype=dtype)
    if dtype == np.float16:
        return rng.random(size=shape, dtype=np.float32).astype(np.float16)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)


def make_arrays(spec_path):
    with open(spec_path) as f:
        spec = json.load(f)
    rng = np.random.default_rng(1)
    return {desc["name"]: make_array(desc, rng) for desc in spec}


def touch(arrays):
    n = 0
    for a in arrays:
        if a.size > 0 and a.flat[0] is not None and a.flat[-1] is not None:
            n += 1
    return n


def time_one_call(fn):
    start = time.perf_counter()
    result = fn()
    return (time.perf_counter() - start) * 1e3, result


def measure(fn, runs, warmup, warmup_ms=300.0):
    """As bench/harness.ts measure(): the first call in this fresh process (after a full collection),
    then warm-up calls (at least `warmup`, for at least `warmup_ms`), then `runs` samples of one call
    each, every one after gc.collect()."""
    gc.collect()
    first_ms, last = time_one_call(fn)
    samples = []
    if warmup > 0:
        calls = 0
        started = time.perf_counter()
        while calls < warmup or ((time.perf_counter() - started) * 1e3 < warmup_ms and calls < 1_000_000):
            last = None
            _, last = time_one_call(fn)
            calls += 1
    else:
        samples.append(first_ms)
    while len(samples) < runs:
        last = None
        gc.collect()
        ms, last = time_one_call(fn)
        samples.append(ms)
    return samples, first_ms, last


# ---------------------------------------------------------------------------------------------
# Operations: each returns (fn, extra) where fn runs one operation.


def op_npy(args, step):
    (array,) = make_arrays(args.spec).values()

    def encode():
        b = io.BytesIO()
        np.save(b, array)
        return b.getbuffer()

    if step == "encode":
        return encode, {}
    data = bytes(encode())
    return (lambda: touch([np.load(io.BytesIO(data))])), {}


def op_npz(args, step, compressed=False):
    arrays = make_arrays(args.spec)
    save = np.savez_compressed if compressed else np.savez

    def encode():
        b = io.BytesIO()
        save(b, **arrays)
        return b.getbuffer()

    if step == "encode":
        return encode, {"storedBytes": len(encode())}
    data = bytes(encode())

    def decode():
        with np.load(io.BytesIO(data)) as z:
            return touch([z[name] for name in z.files])

    return decode, {"storedBytes": len(data)}


def op_safetensors(args, step):
    from safetensors.numpy import load, save

    arrays = make_arrays(args.spec)
    if step == "encode":
        return (lambda: save(arrays)), {}
    data = save(arrays)
    return (lambda: touch(load(data).values())), {}


def op_files(args, step):
    """S5: files. args.file is the path to write or read; the format follows from --op."""
    arrays = make_arrays(args.spec)
    path = args.file
    if args.op.startswith("npyfile"):
        (array,) = arrays.values()
        if step == "save":
            return (lambda: np.save(path, array)), {}
        np.save(path, array)
        return (lambda: touch([np.load(path)])), {}
    if args.op.startswith("npzfile"):
        if step == "save":
            return (lambda: np.savez(path, **arrays)), {}
        np.savez(path, **arrays)

        def load_npz():
            with np.load(path) as z:
                return touch([z[name] for name in z.files])

        return load_npz, {}
    from safetensors.numpy import load_file, save_file

    if step == "save":
        return (lambda: save_file(arrays, path)), {}
    save_file(arrays, path)
    return (lambda: touch(load_file(path).values())), {}


def op_lazy(args):
    """S4: one array out of a big file, by safetensors' safe_open or numpy's lazy npz member read."""
    if args.op == "lazy-safetensors":
        from safetensors import safe_open

        def read_one():
            with safe_open(args.file, framework="np") as f:
                return touch([f.get_tensor(args.name)])

        return read_one, {}

    def read_member():
        with np.load(args.file) as z:
            return touch([z[args.name]])

    return read_member, {}


def op_compressed(args, step):
    """Issue 4: np.savez_compressed of the arrays in --spec (raw files written by the JS side)."""
    return op_npz(args, step, compressed=True)


def op_npz_convert(args):
    """Issue 14: what `ndpack convert IN.npz OUT.ndp` does, numpy's way: every member of the
    savez_compressed file --file read, then written again with np.savez_compressed to --out."""

    def convert():
        with np.load(args.file) as z:
            arrays = {name: z[name] for name in z.files}
        np.savez_compressed(args.out, **arrays)
        return len(arrays)

    return convert, {"storedBytes": 0}


def op_crc(args):
    size = int(args.name)
    data = np.random.default_rng(1).integers(0, 256, size=size, dtype=np.uint8).tobytes()
    return (lambda: zlib.crc32(data)), {}


def build(args):
    op = args.op
    if op in ("npy-encode", "npy-decode"):
        return op_npy(args, op.split("-")[1])
    if op in ("npz-encode", "npz-decode"):
        return op_npz(args, op.split("-")[1])
    if op in ("safetensors-encode", "safetensors-decode"):
        return op_safetensors(args, op.split("-")[1])
    if op.endswith("-save") or op.endswith("-load"):
        return op_files(args, op.rsplit("-", 1)[1])
    if op.startswith("lazy-"):
        return op_lazy(args)
    if op in ("compressed-encode", "compressed-decode"):
        return op_compressed(args, op.split("-")[1])
    if op == "npz-convert":
        return op_npz_convert(args)
    if op == "crc32":
        return op_crc(args)
    raise SystemExit(f"unknown op {op}")


def cmd_time(args):
    fn, extra = build(args)
    gc.collect()
    setup_rss = peak_rss()
    samples, first_ms, last = measure(fn, args.runs, args.warmup, args.warmup_ms)
    extra = dict(extra)
    if args.op == "npz-convert":
        extra["storedBytes"] = os.path.getsize(args.out)
    extra["python"] = sys.version.split()[0]
    extra["numpy"] = np.__version__
    print(json.dumps({"samples": samples, "firstMs": first_ms, "peakRss": peak_rss(), "setupRss": setup_rss, "extra": extra}))


def cmd_npz(args):
    """Writes the arrays of --spec to --out with np.savez (np.savez_compressed with --compressed)."""
    arrays = make_arrays(args.spec)
    (np.savez_compressed if args.compressed else np.savez)(args.out, **arrays)


def cmd_npy(args):
    """Writes every array of --spec as numpy's .npy bytes, one after the other, to --out."""
    arrays = make_arrays(args.spec)
    lengths = []
    with open(args.out, "wb") as f:
        for array in arrays.values():
            b = io.BytesIO()
            np.save(b, array)
            lengths.append(b.tell())
            f.write(b.getbuffer())
    print(json.dumps({"lengths": lengths}))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["time", "npy", "npz"])
    parser.add_argument("--op")
    parser.add_argument("--spec")
    parser.add_argument("--file")
    parser.add_argument("--name")
    parser.add_argument("--out")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--warmup-ms", type=float, default=300.0)
    parser.add_argument("--compressed", action="store_true")
    args = parser.parse_args()
    if args.command == "time":
        cmd_time(args)
    elif args.command == "npz":
        cmd_npz(args)
    else:
        cmd_npy(args)


if __name__ == "__main__":
    main()
