"""Sharded sets against the library that defines their layout, huggingface_hub (its serialization
API: save_torch_state_dict, split_torch_state_dict_into_shards, load_torch_model): checkpoints it
writes, read by ndpack.open and Dask bit for bit as torch holds them; the indexes it writes that
ndpack refuses, each for the reason FORMAT.md §12 gives; and ndpack's own sets, whose .ndp shards
no Hugging Face loader may take for its own. (ndpack's sets of .safetensors shards, which only the
command line writes, are loaded by load_torch_model in test/set-huggingface.test.ts.)"""

from __future__ import annotations

import json
import os
import pickle
import warnings

import numpy as np
import pytest
import torch
from huggingface_hub import (load_torch_model, save_torch_state_dict,
                             split_torch_state_dict_into_shards)
from safetensors.torch import save_file as save_safetensors

import ndpack
import ndpack.dask
from expectations import expect

MAX_SHARD_SIZE = 10_000


def torch_bytes(tensor: torch.Tensor) -> bytes:
    """The tensor's elements in C order, as this (little-endian) machine holds them."""
    return tensor.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def dtype_name(tensor: torch.Tensor) -> str:
    return str(tensor.dtype).removeprefix("torch.")  # torch's names are ndpack's (FORMAT.md §3)


def state_dict() -> dict[str, torch.Tensor]:
    """A decoder-like state dict: every dtype torch and ndpack share, 0-d and empty tensors, a
    non-contiguous one, tied embeddings (one storage, two names), more bytes than one shard."""
    g = torch.Generator().manual_seed(20261207)
    embed = torch.randn(64, 48, generator=g)
    return {
        "model.embed_tokens.weight": embed,
        "lm_head.weight": embed,
        "model.layers.0.q_proj.weight": torch.randn(48, 48, generator=g).to(torch.bfloat16),
        "model.layers.0.k_proj.weight": torch.randn(48, 40, generator=g).T,
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


def two_shards() -> dict[str, torch.Tensor]:
    """Two tensors of 1200 bytes: two shards at max_shard_size=1500."""
    return {"a": torch.arange(300, dtype=torch.float32), "b": torch.ones(300)}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A checkpoint written by save_torch_state_dict, as transformers' save_pretrained has it
    written: the head tied to the embeddings is the name to drop. Returns (folder, the index as
    written, the tensors as torch holds them)."""
    folder = tmp_path_factory.mktemp("hf")
    tensors = state_dict()
    save_torch_state_dict(dict(tensors), folder, max_shard_size=MAX_SHARD_SIZE,
                          metadata={"source": "test_sets_huggingface"},
                          shared_tensors_to_discard=["lm_head.weight"])
    index = json.loads((folder / "model.safetensors.index.json").read_text())
    return folder, index, tensors


def test_hf_checkpoint_every_tensor_bit_for_bit_in_the_index_order(checkpoint):
    folder, index, tensors = checkpoint
    assert len(set(index["weight_map"].values())) >= 3  # several shards, one of them the embeddings'
    with ndpack.open(folder / "model.safetensors.index.json") as s:
        assert list(s) == list(index["weight_map"])
        assert set(s) == set(tensors) - {"lm_head.weight"}
        for name in s:
            info, array = s.info(name), s.read(name)
            assert (info.dtype, info.shape) == (dtype_name(tensors[name]), tuple(tensors[name].shape)), name
            assert array.shape == tuple(tensors[name].shape), name
            assert np.ascontiguousarray(array).tobytes() == torch_bytes(tensors[name]), name
            assert s.shard_of(name) == index["weight_map"][name]
        assert s.total_size == index["metadata"]["total_size"] == sum(s.info(n).nbytes for n in s)


def test_hf_tied_tensor_is_one_name_and_the_other_is_in_the_metadata(checkpoint):
    # HF writes a storage once: the dropped name is no tensor of the set, and the index's metadata
    # maps it to the kept one (as safetensors' save_model does), which is where a reader finds it.
    folder, index, tensors = checkpoint
    assert "lm_head.weight" not in index["weight_map"]
    with ndpack.open(folder / "model.safetensors.index.json") as s:
        assert s.metadata == {"source": "test_sets_huggingface",
                              "lm_head.weight": "model.embed_tokens.weight"}
        assert "lm_head.weight" not in s
        expect("NOT_FOUND", lambda: s.read("lm_head.weight"))
        kept = s.read(s.metadata["lm_head.weight"])
        assert kept.tobytes() == torch_bytes(tensors["lm_head.weight"])


def test_hf_checkpoint_read_rows_and_verify(checkpoint):
    folder, index, tensors = checkpoint
    with ndpack.open(folder / "model.safetensors.index.json") as s:
        for name in ("model.embed_tokens.weight", "model.layers.0.k_proj.weight",
                     "model.layers.0.q_proj.scale", "model.causal_mask", "model.rotary"):
            rows = s.read_rows(name, 3, 11)
            assert rows.tobytes() == torch_bytes(tensors[name][3:11]), name
        assert s.read_rows("model.empty", 0, 0).shape == (0, 48)
        reports = s.verify()
        assert [r["ok"] for r in reports] == [True] * len(index["weight_map"])
        assert sorted(r["name"] for r in reports) == sorted(index["weight_map"])


def test_hf_checkpoint_through_dask(checkpoint):
    folder, index, tensors = checkpoint
    arrays = ndpack.dask.from_ndpack(str(folder / "model.safetensors.index.json"), chunks=2048)
    assert list(arrays) == list(index["weight_map"])
    for name, array in arrays.items():
        assert array.shape == tuple(tensors[name].shape), name
        assert np.ascontiguousarray(array.compute()).tobytes() == torch_bytes(tensors[name]), name


def test_hf_custom_filename_pattern(tmp_path):
    tensors = {"a": torch.arange(300, dtype=torch.float32), "b": torch.ones(300, dtype=torch.int64)}
    save_torch_state_dict(tensors, tmp_path, filename_pattern="weights{suffix}.fp16.safetensors",
                          max_shard_size=1500)
    assert sorted(os.listdir(tmp_path)) == ["weights-00001-of-00002.fp16.safetensors",
                                            "weights-00002-of-00002.fp16.safetensors",
                                            "weights.fp16.safetensors.index.json"]
    with ndpack.open(tmp_path / "weights.fp16.safetensors.index.json") as s:
        assert {name: s.read(name).tobytes() for name in s} == {
            name: torch_bytes(t) for name, t in tensors.items()}
        assert all(r["ok"] for r in s.verify())


def test_hf_metadata_total_size_the_caller_gave_as_a_string_is_no_total_size(tmp_path):
    # save_torch_state_dict writes the caller's metadata (strings, as safetensors' metadata) over
    # its own total_size; the index is a set's (§12.2: readers do not rely on total_size), and
    # total_size is None, as TypeScript's SetIndex.totalSize is undefined (it was the string).
    save_torch_state_dict(two_shards(), tmp_path, max_shard_size=1500,
                          metadata={"total_size": "2400", "format": "pt"})
    index = tmp_path / "model.safetensors.index.json"
    assert json.loads(index.read_text())["metadata"] == {"total_size": "2400", "format": "pt"}
    with ndpack.open(index) as s:
        assert s.total_size is None
        assert s.metadata == {"format": "pt"}
        assert {name: s.read(name).tobytes() for name in s} == {
            name: torch_bytes(t) for name, t in two_shards().items()}
    for text, total_size in (("1e3", 1000), ("1000.0", 1000), ("-4", None), ("true", None),
                             ("1e20", None), ("1.5", None)):
        index.write_text(index.read_text().replace('"2400"', text, 1))
        with ndpack.open(index) as s:
            assert s.total_size == total_size and type(s.total_size) is type(total_size), text
        index.write_text(index.read_text().replace(text, '"2400"', 1))


def _module_of(tensors: dict[str, torch.Tensor]) -> torch.nn.Module:
    """A module whose state dict has exactly these names (dots as submodules), zero-filled."""
    root = torch.nn.Module()
    for name, tensor in tensors.items():
        *path, leaf = name.split(".")
        module = root
        for part in path:
            if not hasattr(module, part):
                module.add_module(part, torch.nn.Module())
            module = getattr(module, part)
        module.register_buffer(leaf, torch.zeros_like(tensor))
    return root


def _in_a_folder(folder):
    # Shard names relative to the folder the writer was given, not to the index's own: `sub/...`
    # beside an index in sub/.
    os.mkdir(folder / "sub")
    save_torch_state_dict(two_shards(), folder, max_shard_size=1500,
                          filename_pattern="sub/model{suffix}.safetensors")
    return "sub/model.safetensors.index.json", "sub/model{suffix}.safetensors"


def _upper_case_extension(folder):
    save_torch_state_dict(two_shards(), folder, max_shard_size=1500,
                          filename_pattern="model{suffix}.SAFETENSORS")
    return "model.SAFETENSORS.index.json", "model{suffix}.SAFETENSORS"


def _empty_name(folder):
    # No torch module has a parameter named "": only a state dict made by hand.
    save_torch_state_dict({"": torch.ones(300), "b": torch.ones(300)}, folder, max_shard_size=1500)
    return "model.safetensors.index.json", None


def _pytorch_pickles(folder):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # HF warns that pickles are unsafe
        save_torch_state_dict(two_shards(), folder, safe_serialization=False, max_shard_size=1500)
    return "pytorch_model.bin.index.json", "pytorch_model{suffix}.bin"


@pytest.mark.parametrize("write", [_in_a_folder, _upper_case_extension, _empty_name,
                                   _pytorch_pickles])
def test_indexes_hf_writes_that_ndpack_refuses_are_SET_INVALID_as_FORMAT_md_12_says(tmp_path,
                                                                                 write):
    # FORMAT.md §12.1 and §12.2 give the reasons: a shard name is a plain file name in the index's
    # folder, its extension .ndp or .safetensors compared case included; an array name is not empty.
    index, pattern = write(tmp_path)
    if pattern is not None:  # Hugging Face's own loader reads them
        loaded = load_torch_model(_module_of(two_shards()), tmp_path, strict=True, safe=False,
                                  filename_pattern=pattern)
        assert loaded.missing_keys == [] and loaded.unexpected_keys == []
    expect("SET_INVALID", lambda: ndpack.open(tmp_path / index))


@pytest.mark.parametrize("dtype", ["float8_e8m0fnu", "float8_e4m3fnuz", "float8_e5m2fnuz",
                                   "float4_e2m1fn_x2"])
def test_hf_shard_with_a_dtype_ndpack_lacks_is_UNKNOWN_DTYPE_for_every_array_of_it(tmp_path, dtype):
    # FORMAT.md §12.3 step 4: a shard is checked whole, its dtypes those of Appendix C; the other
    # shards are read.
    odd = torch.zeros(4, dtype=torch.uint8).view(getattr(torch, dtype))
    save_torch_state_dict({"first": torch.ones(400), "odd": odd, "beside": torch.ones(4)}, tmp_path,
                          max_shard_size=1000)
    with ndpack.open(tmp_path / "model.safetensors.index.json") as s:
        assert s.shard_of("odd") == s.shard_of("beside") != s.shard_of("first")
        assert s.read("first").tobytes() == torch_bytes(torch.ones(400))
        expect("UNKNOWN_DTYPE", lambda: s.read("odd"))
        expect("UNKNOWN_DTYPE", lambda: s.read("beside"))
        assert [r["ok"] for r in s.verify()] == [True, False]


def test_ndpack_packs_shards_as_hf_splits_them_when_no_tensor_exceeds_the_maximum(tmp_path):
    # FORMAT.md §12.4 counts max_shard_size in decoded bytes, as split_torch_state_dict_into_shards:
    # the same tensors make the same shards and the same total_size (one larger than the maximum
    # differs: HF puts it in a shard of its own ahead of the current one, ndpack after it).
    tensors = {k: v.contiguous() for k, v in state_dict().items()
               if k != "lm_head.weight" and v.nbytes <= MAX_SHARD_SIZE}
    split = split_torch_state_dict_into_shards(tensors, max_shard_size=MAX_SHARD_SIZE)
    save_safetensors(tensors, tmp_path / "tensors.safetensors")  # as numpy arrays, bfloat16 too
    with ndpack.open(tmp_path / "tensors.safetensors") as f:
        arrays = {name: f.read(name) for name in tensors}
    index = tmp_path / "model.ndp.index.json"
    ndpack.save_set(index, arrays, max_shard_size=MAX_SHARD_SIZE)
    with ndpack.open(index) as s:
        grouped = {}
        for name in s:
            grouped.setdefault(s.shard_of(name), []).append(name)
        assert list(grouped.values()) == list(split.filename_to_tensors.values())
        assert s.total_size == split.metadata["total_size"]


def test_ndpack_sets_are_never_named_as_hf_checkpoints_and_hf_loaders_refuse_them(tmp_path):
    arrays = {"a": np.arange(300, dtype="f4"), "b": np.ones(300, "f4")}
    for name in ("model.safetensors.index.json", "model.SafeTensors.index.json"):
        error = expect("INVALID_ARGUMENT", lambda: ndpack.save_set(tmp_path / name, arrays))
        assert ".ndp.index.json" in str(error)
        expect("INVALID_ARGUMENT", lambda: ndpack.SetWriter(tmp_path / name, [("a", "f4", (300,))]))
    assert os.listdir(tmp_path) == []
    ndpack.save_set(tmp_path / "model.ndp.index.json", arrays, max_shard_size=1500)
    module = _module_of({name: torch.from_numpy(a) for name, a in arrays.items()})
    # No index of Hugging Face's names and no .safetensors file: nothing it would load.
    with pytest.raises(ValueError, match="does not contain a valid checkpoint"):
        load_torch_model(module, tmp_path, safe=False)
    # Named explicitly, the .ndp shards are not safetensors, nor pickles torch can load: refused.
    with pytest.raises(ValueError, match="does not describe safetensors files"):
        load_torch_model(module, tmp_path, filename_pattern="model{suffix}.ndp")
    with pytest.raises(pickle.UnpicklingError):
        load_torch_model(module, tmp_path, filename_pattern="model{suffix}.ndp", safe=False)
    assert not module.a.any() and not module.b.any()
