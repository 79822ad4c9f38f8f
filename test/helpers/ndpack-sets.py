"""Sets written and read by the Python package (spec/python, `import ndpack`), for the set tests.

    ndpack-sets.py write INDEX MAX_SHARD_BYTES   ndpack.save_set of a few arrays (bfloat16, float32,
                                                 int64 and a 0-d one); print what it holds
    ndpack-sets.py read INDEX                    ndpack.open(INDEX): every array and verify(); print it
    ndpack-sets.py save-loop INDEX ROUNDS        ndpack.save_set of 8 float32 arrays [1024] (one shard
                                                 each), every value ROUND + 0.5, ROUNDS times; print "done"

Both print {"metadata": {...}, "tensors": {name: {"dtype", "shape", "shard", "sha256"}}, "ok": bool},
the SHA-256 taken over each array's bytes, little-endian, C order.
"""
import hashlib
import json
import os
import sys

import ml_dtypes
import numpy as np

import ndpack

NAMES = {np.dtype(np.float32): "float32", np.dtype(ml_dtypes.bfloat16): "bfloat16", np.dtype(np.int64): "int64", np.dtype(np.uint8): "uint8", np.dtype(np.float16): "float16"}


def describe(array, shard):
    return {"dtype": NAMES[array.dtype], "shape": list(array.shape), "shard": shard, "sha256": hashlib.sha256(array.tobytes(order="C")).hexdigest()}


def write(index, max_shard_bytes):
    rng = np.random.default_rng(11)
    arrays = {
        "embed.weight": rng.standard_normal((128, 32), dtype=np.float32).astype(ml_dtypes.bfloat16),
        "layers.0.weight": rng.standard_normal((64, 64), dtype=np.float32),
        "layers.0.bias": rng.standard_normal(64, dtype=np.float32).astype(np.float16),
        "tokens": rng.integers(0, 255, size=1000, dtype=np.uint8),
        "step": np.array(77, dtype=np.int64),
    }
    os.makedirs(os.path.dirname(index), exist_ok=True)
    ndpack.save_set(index, arrays, metadata={"writer": "python", "epoch": 3}, max_shard_size=max_shard_bytes)
    return read(index)


def read(index):
    with ndpack.open(index) as s:
        tensors = {name: describe(s.read(name), s.shard_of(name)) for name in s.keys()}
        ok = all(report["ok"] for report in s.verify())
        return {"metadata": s.metadata, "tensors": tensors, "ok": ok}


def save_loop(index, rounds):
    for round in range(rounds):
        arrays = {f"a{i}": np.full(1024, round + 0.5, dtype=np.float32) for i in range(8)}
        ndpack.save_set(index, arrays, max_shard_size=4096)
    return "done"


if __name__ == "__main__":
    if sys.argv[1] == "save-loop":
        print(save_loop(sys.argv[2], int(sys.argv[3])))
    else:
        result = write(sys.argv[2], int(sys.argv[3])) if sys.argv[1] == "write" else read(sys.argv[2])
        print(json.dumps(result))
