"""Sharded checkpoints written and loaded by huggingface_hub's serialization API, for
test/set-huggingface.test.ts. One process answers every request of that file (importing torch
costs about two seconds, more than any request): each line on standard input is a JSON request,
[COMMAND, ARGUMENT, ...], and each answer one JSON line, {"result": ...} or {"error": traceback}.
SHA-256s are taken over each tensor's elements in C order, little-endian (this machine's order).

    ["write", DIR]               save_torch_state_dict of a state dict of every dtype torch and
                                 ndpack share (max_shard_size 10000, the tied head dropped as
                                 transformers asks); {"tensors": {name: {"dtype", "shape",
                                 "sha256"}}} of the state dict as torch held it
    ["load", DIR, EXPECTED]      load_torch_model(strict=True) of the set DIR/model.safetensors.index.json
                                 into a module of the tensors EXPECTED ({name: {"dtype", "shape"}}),
                                 and load_state_dict_from_file of each shard; {"loaded": {name:
                                 {...}}, "shards": {shard: {name: {...}}}, "total_size":
                                 split_torch_state_dict_into_shards' count}
    ["refuses", DIR]             load_torch_model of DIR, which must fail; the error
    ["refused", DIR]             the checkpoints save_torch_state_dict writes that FORMAT.md §12
                                 refuses, one folder of DIR each; {case: index path}
    ["file", PATH]               load_state_dict_from_file of one .safetensors file; {"loaded":
                                 {name: {...}}}, or {"error": ...} when it refuses it
"""
import hashlib
import json
import os
import sys
import traceback

import torch
from huggingface_hub import (load_state_dict_from_file, load_torch_model, save_torch_state_dict,
                             split_torch_state_dict_into_shards)


def describe(tensor):
    raw = tensor.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
    return {"dtype": str(tensor.dtype).removeprefix("torch."), "shape": list(tensor.shape),
            "sha256": hashlib.sha256(raw).hexdigest()}


def state_dict():
    g = torch.Generator().manual_seed(20261207)
    embed = torch.randn(64, 48, generator=g)
    return {
        "model.embed_tokens.weight": embed,
        "lm_head.weight": embed,  # tied: one storage, two names
        "model.layers.0.q_proj.weight": torch.randn(48, 48, generator=g).to(torch.bfloat16),
        "model.layers.0.k_proj.weight": torch.randn(48, 40, generator=g).T,  # not contiguous
        "model.layers.0.norm.weight": torch.randn(48, generator=g).to(torch.float16),
        "model.layers.0.q_proj.scale": torch.randn(48, 32, generator=g).to(torch.float8_e4m3fn),
        "model.layers.0.k_proj.scale": torch.randn(40, generator=g).to(torch.float8_e5m2),
        "model.position_ids": torch.arange(128).reshape(1, 128),
        "model.causal_mask": torch.rand(16, 16, generator=g) > 0.5,
        "model.rotary": torch.randn(24, dtype=torch.complex64, generator=g),
        "model.vocab_ids": torch.tensor([0, 1, 65535, 4242], dtype=torch.uint16),
        "model.step": torch.tensor(1200),
        "model.temperature": torch.tensor(0.75, dtype=torch.float16),
        "model.empty": torch.zeros(0, 48),
        # json.dump escapes it as \u00e9 and a surrogate pair, \ud83d\ude00.
        "model.d\u00e9cor_\U0001F600.bias": torch.randn(8, generator=g),
    }


def write(folder):
    os.makedirs(folder, exist_ok=True)
    tensors = state_dict()
    described = {name: describe(tensor) for name, tensor in tensors.items()}
    save_torch_state_dict(tensors, folder, max_shard_size=10_000, metadata={"source": "hf-hub-sets"},
                          shared_tensors_to_discard=["lm_head.weight"])
    return {"tensors": described}


def module_of(expected):
    """A module whose state dict has exactly the names given (dots as submodules), zero-filled."""
    root = torch.nn.Module()
    for name, spec in expected.items():
        *path, leaf = name.split(".")
        module = root
        for part in path:
            if not hasattr(module, part):
                module.add_module(part, torch.nn.Module())
            module = getattr(module, part)
        module.register_buffer(leaf, torch.zeros(spec["shape"], dtype=getattr(torch, spec["dtype"])))
    return root


def load(folder, expected):
    model = module_of(expected)
    result = load_torch_model(model, folder, strict=True)
    assert not result.missing_keys and not result.unexpected_keys, result
    with open(os.path.join(folder, "model.safetensors.index.json"), encoding="utf-8") as f:
        index = json.load(f)
    shards, everything = {}, {}
    for shard in dict.fromkeys(index["weight_map"].values()):
        tensors = load_state_dict_from_file(os.path.join(folder, shard))
        shards[shard] = {name: describe(tensor) for name, tensor in tensors.items()}
        everything.update(tensors)
    return {"loaded": {name: describe(tensor) for name, tensor in model.state_dict().items()},
            "shards": shards,
            "total_size": split_torch_state_dict_into_shards(everything).metadata["total_size"]}


def refuses(folder):
    try:
        load_torch_model(torch.nn.Module(), folder, safe=False)
    except ValueError as error:
        return {"error": str(error)}
    raise AssertionError(f"load_torch_model loaded {folder}")


def load_file(path):
    try:
        return {"loaded": {name: describe(t) for name, t in load_state_dict_from_file(path).items()}}
    except OSError as error:
        return {"error": str(error)}


def refused(folder):
    """A filename_pattern with a folder, one in capitals, an empty tensor name, pickles."""
    def two():
        return {"a": torch.arange(300, dtype=torch.float32), "b": torch.ones(300)}

    cases = {
        "a pattern with a folder": ({"filename_pattern": "sub/model{suffix}.safetensors"}, two(),
                                    "sub/model.safetensors.index.json"),
        "an upper-case extension": ({"filename_pattern": "model{suffix}.SAFETENSORS"}, two(),
                                    "model.SAFETENSORS.index.json"),
        "an empty tensor name": ({}, {"": torch.ones(300), "b": torch.ones(300)},
                                 "model.safetensors.index.json"),
        "pytorch pickles": ({"safe_serialization": False}, two(), "pytorch_model.bin.index.json"),
    }
    written = {}
    for case, (options, tensors, index) in cases.items():
        target = os.path.join(folder, case.replace(" ", "-"))
        os.makedirs(os.path.join(target, "sub"))
        save_torch_state_dict(tensors, target, max_shard_size=1500, **options)
        written[case] = os.path.join(target, index)
    return written


COMMANDS = {"write": write, "load": load, "refuses": refuses, "refused": refused, "file": load_file}

if __name__ == "__main__":
    for request in sys.stdin:
        command, *arguments = json.loads(request)
        try:
            answer = {"result": COMMANDS[command](*arguments)}
        except Exception:  # the test fails with the traceback; the next request still runs
            answer = {"error": traceback.format_exc()}
        print(json.dumps(answer), flush=True)
