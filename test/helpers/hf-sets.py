"""Hugging Face sharded checkpoints, written and read by the real `safetensors` package, for the set tests.

    hf-sets.py write DIR MAX_SHARD_BYTES   write a checkpoint into DIR as transformers' save_pretrained
                                           does; print what it holds (JSON)
    hf-sets.py read INDEX                  load every tensor of the set INDEX (safetensors shards) as
                                           transformers' load_sharded_checkpoint does; print it (JSON)

The description printed is {"metadata": {...}, "tensors": {name: {"dtype", "shape", "shard", "sha256"}}},
the SHA-256 taken over each tensor's bytes, little-endian, C order.
"""
import hashlib
import json
import os
import sys

import ml_dtypes
import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file

DTYPES = {np.dtype(np.float32): "float32", np.dtype(ml_dtypes.bfloat16): "bfloat16", np.dtype(np.int64): "int64", np.dtype(np.float16): "float16", np.dtype(np.uint8): "uint8"}


def describe(array, shard):
    # tobytes() is C order, little-endian on this machine; np.ascontiguousarray would make a 0-d array 1-d.
    return {"dtype": DTYPES[array.dtype], "shape": list(array.shape), "shard": shard, "sha256": hashlib.sha256(array.tobytes(order="C")).hexdigest()}


def state_dict():
    """A small decoder-like model: embeddings and head in bfloat16, norms in float32, a step counter, an empty buffer."""
    rng = np.random.default_rng(20261205)
    tensors = {"model.embed_tokens.weight": rng.standard_normal((256, 64), dtype=np.float32).astype(ml_dtypes.bfloat16)}
    for layer in range(3):
        prefix = f"model.layers.{layer}"
        tensors[f"{prefix}.input_layernorm.weight"] = rng.standard_normal(64, dtype=np.float32)
        tensors[f"{prefix}.self_attn.q_proj.weight"] = rng.standard_normal((64, 64), dtype=np.float32).astype(ml_dtypes.bfloat16)
        tensors[f"{prefix}.mlp.up_proj.weight"] = rng.standard_normal((172, 64), dtype=np.float32).astype(ml_dtypes.bfloat16)
        tensors[f"{prefix}.mlp.down_proj.bias"] = rng.standard_normal(64, dtype=np.float32).astype(np.float16)
    tensors["model.norm.weight"] = rng.standard_normal(64, dtype=np.float32)
    tensors["lm_head.weight"] = rng.standard_normal((256, 64), dtype=np.float32).astype(ml_dtypes.bfloat16)
    tensors["step"] = np.array(1200, dtype=np.int64)
    tensors["empty_buffer"] = np.zeros((0, 4), dtype=np.float32)
    return tensors


def write(folder, max_shard_bytes):
    """Shards filled in order up to max_shard_bytes (transformers' shard_checkpoint), each with __metadata__ {"format": "pt"}; the index as save_pretrained writes it."""
    os.makedirs(folder, exist_ok=True)
    shards, current, size = [], {}, 0
    for name, array in state_dict().items():
        if current and size + array.nbytes > max_shard_bytes:
            shards.append(current)
            current, size = {}, 0
        current[name] = array
        size += array.nbytes
    shards.append(current)
    weight_map, described, total = {}, {}, 0
    for i, shard in enumerate(shards):
        shard_name = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        save_file(shard, os.path.join(folder, shard_name), metadata={"format": "pt"})
        for name, array in shard.items():
            weight_map[name] = shard_name
            described[name] = describe(array, shard_name)
            total += array.nbytes
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    with open(os.path.join(folder, "model.safetensors.index.json"), "w", encoding="utf-8") as f:
        f.write(json.dumps(index, indent=2, sort_keys=True) + "\n")
    return {"metadata": {"total_size": total}, "tensors": described}


def read(index_path):
    with open(index_path, encoding="utf-8") as f:
        index = json.load(f)
    folder = os.path.dirname(index_path)
    tensors = {}
    for shard_name in sorted(set(index["weight_map"].values())):
        with safe_open(os.path.join(folder, shard_name), framework="np") as shard:
            for name in shard.keys():
                tensors[name] = describe(shard.get_tensor(name), shard_name)
            shard_metadata = shard.metadata()
    missing = sorted(set(index["weight_map"]) - set(tensors))
    if missing:
        raise SystemExit(f"the index names tensors no shard holds: {missing}")
    return {"metadata": index.get("metadata", {}), "tensors": tensors, "shardMetadata": shard_metadata}


if __name__ == "__main__":
    command = sys.argv[1]
    result = write(sys.argv[2], int(sys.argv[3])) if command == "write" else read(sys.argv[2])
    print(json.dumps(result))
