"""Durable writes: ``save``, ``Writer`` and ``save_set`` fsync each file's data before renaming it
into place, and fsync the folder after the rename, so that after a power cut the target holds the
old file or the whole new one (TypeScript's ``save``: src/node/write-file.ts). The calls are
observed, in order, on the real file system (each is made as the package makes it)."""

from __future__ import annotations

import os

import numpy as np
import pytest

import ndpack


@pytest.fixture
def calls(monkeypatch):
    """Every os.fsync (the path of the file or folder synced, and its size then) and os.replace,
    in order."""
    seen = []
    fsync, replace = os.fsync, os.replace

    def observed_fsync(fd):
        seen.append(("fsync", os.readlink(f"/proc/self/fd/{fd}"), os.fstat(fd).st_size))
        return fsync(fd)

    def observed_replace(src, dst, *args, **kwargs):
        seen.append(("replace", os.fspath(src), os.fspath(dst)))
        return replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "fsync", observed_fsync)
    monkeypatch.setattr(os, "replace", observed_replace)
    return seen


def assert_durable(calls, target) -> None:
    """The temporary file synced once all of it was written (its size then is the file's), then
    renamed over ``target``, then ``target``'s folder synced."""
    target = os.path.realpath(target)
    renames = [c for c in calls if c[0] == "replace" and os.path.realpath(c[2]) == target]
    assert len(renames) == 1, calls
    at = calls.index(renames[0])
    temp = os.path.realpath(renames[0][1])
    assert ("fsync", temp, os.path.getsize(target)) in calls[:at], calls
    assert any(c[:2] == ("fsync", os.path.dirname(target)) for c in calls[at + 1:]), calls


def test_save_syncs_the_data_before_the_rename_and_the_folder_after(tmp_path, calls):
    target = tmp_path / "a.ndp"
    ndpack.save(target, {"x": np.arange(10.0)})
    assert_durable(calls, target)
    np.testing.assert_array_equal(ndpack.load(target)["x"], np.arange(10.0))


def test_the_streaming_writer_syncs_as_save_does(tmp_path, calls):
    target = tmp_path / "w.ndp"
    with ndpack.Writer(target, [("x", "float64", (10,))]) as w:
        w.write("x", np.arange(10.0))
    assert_durable(calls, target)


def test_a_set_syncs_every_shard_and_its_index(tmp_path, calls):
    index = tmp_path / "model.ndp.index.json"
    ndpack.save_set(index, {f"a{i}": np.full(1000, i, "f4") for i in range(4)}, max_shard_size=5000)
    reader = ndpack.open(index)
    shards = sorted({reader.shard_of(name) for name in reader})
    assert len(shards) > 1
    for shard in shards:
        assert_durable(calls, tmp_path / shard)
    assert_durable(calls, index)
