"""Dask over ndpack: a set read lazily, normalized and written to a file in one computation, then
another file written with compute=False and computed together with a reduction."""

import os
import tempfile

import dask
import numpy as np

import ndpack
import ndpack.dask

os.chdir(tempfile.mkdtemp(prefix="ndpack-example-"))
rng = np.random.default_rng(0)
parts = {f"part{i}": rng.standard_normal((4096, 64)).astype("f4") for i in range(4)}
ndpack.save_set("emb.ndp.index.json", parts, max_shard_size=1 << 20)  # 4 shards of 1 MiB

# A path or a URL ("https://host/emb.ndp.index.json"); each chunk is one ranged read of whole rows.
x = ndpack.dask.from_ndpack("emb.ndp.index.json", "part0", chunks="256KiB")
ndpack.dask.to_ndpack({"normalized": x / x.std()}, "normalized.ndp")  # each block written in place

centered = ndpack.dask.to_ndpack({"centered": x - x.mean(axis=0)}, "centered.ndp", compute=False)
_, total = dask.compute(centered, x.sum(dtype="f8"))

a = parts["part0"]
np.testing.assert_allclose(ndpack.load("normalized.ndp")["normalized"], a / a.std(), rtol=1e-5)
np.testing.assert_allclose(ndpack.load("centered.ndp")["centered"], a - a.mean(axis=0),
                           rtol=1e-5, atol=1e-6)
assert np.isclose(total, a.sum(dtype="f8"))
print("dask-normalize: ok")
