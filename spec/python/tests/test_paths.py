"""Paths and names a Python user passes (an audit's findings): a FIFO never blocks, a set's index is
sized before it is read, a presigned index URL is a set, options that do not apply fail at open, and
files are never written under another format's name."""

from __future__ import annotations

import os
import threading
import tracemalloc

import numpy as np
import pytest

import ndpack
import ndpack.dask as nd
from expectations import expect


def in_thread(run, seconds=10):
    """``run()``'s outcome, or a failure when it has not returned within ``seconds`` (a FIFO)."""
    outcome = {}

    def target():
        try:
            outcome["value"] = run()
        except BaseException as ex:  # noqa: BLE001 (handed to the test)
            outcome["error"] = ex
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "blocked (a FIFO opened as a file waits for a writer)"
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
@pytest.mark.parametrize("name", ["x.ndp", "m.ndp.index.json"])
def test_load_verify_and_open_of_a_fifo_are_INVALID_ARGUMENT_at_once(tmp_path, name):
    fifo = tmp_path / name
    os.mkfifo(fifo)
    for call in (ndpack.load, ndpack.verify, ndpack.open):
        error = expect("INVALID_ARGUMENT", lambda call=call: in_thread(lambda: call(fifo)))
        assert "not a regular file" in str(error)


def test_load_of_a_directory_is_INVALID_ARGUMENT(tmp_path):
    expect("INVALID_ARGUMENT", lambda: ndpack.load(tmp_path))


def test_an_index_over_max_index_bytes_is_refused_before_it_is_read(tmp_path):
    index = tmp_path / "big.ndp.index.json"
    with open(index, "wb") as fh:
        fh.truncate(512 << 20)  # sparse: 512 MiB read into memory before the check
    tracemalloc.start()
    try:
        error = expect("LIMIT_EXCEEDED", lambda: ndpack.open(index, max_index_bytes=1000))
        assert tracemalloc.get_traced_memory()[1] < 8 << 20
    finally:
        tracemalloc.stop()
    assert "max_index_bytes=1000" in str(error)
    zero = tmp_path / "zero.ndp.index.json"
    zero.symlink_to("/dev/zero")
    expect("INVALID_ARGUMENT", lambda: ndpack.open(zero))  # was a MemoryError, or all of memory


def test_transport_options_for_a_local_set_are_INVALID_ARGUMENT_at_open(tmp_path):
    index = tmp_path / "s.ndp.index.json"
    ndpack.save_set(index, {"a": np.arange(3)})
    for options in ({"retries": 2}, {"timeout": 5.0}, {"storage_options": {"anon": True}}):
        expect("INVALID_ARGUMENT", lambda options=options: ndpack.open(index, **options))


def test_an_index_url_with_a_query_or_fragment_is_a_set(nginx):
    ndpack.save_set(nginx.root / "q.ndp.index.json", {"a": np.arange(4), "b": np.ones(2)},
                    max_shard_size=40)
    for suffix in ("?download=true", "#part"):
        with ndpack.open(nginx.url("q.ndp.index.json") + suffix) as s:
            assert isinstance(s, ndpack.SetReader) and list(s) == ["a", "b"]
            np.testing.assert_array_equal(s.read("a"), np.arange(4))


@pytest.mark.parametrize("name", ["m.safetensors", "x.npy", "y.NPZ"])
def test_save_and_writer_refuse_another_formats_name_and_write_nothing(tmp_path, name):
    expect("INVALID_ARGUMENT", lambda: ndpack.save(tmp_path / name, {"a": np.arange(3)}))
    expect("INVALID_ARGUMENT", lambda: ndpack.Writer(tmp_path / name, [("a", "int64", (3,))]))
    expect("INVALID_ARGUMENT", lambda: nd.to_ndpack({"a": nd.da.arange(3)}, str(tmp_path / name)))
    assert os.listdir(tmp_path) == []


def test_a_set_named_for_safetensors_shards_is_refused_and_nothing_is_written(tmp_path):
    index = tmp_path / "model.safetensors.index.json"
    error = expect("INVALID_ARGUMENT", lambda: ndpack.save_set(index, {"a": np.arange(3)}))
    assert ".ndp.index.json" in str(error)
    expect("INVALID_ARGUMENT", lambda: ndpack.SetWriter(index, [("a", "int64", (3,))]))
    assert os.listdir(tmp_path) == []
    ndpack.save_set(tmp_path / "model.index.json", {"a": np.arange(3)})  # a plain .index.json
    np.testing.assert_array_equal(ndpack.open(tmp_path / "model.index.json").read("a"),
                                  np.arange(3))


def test_arrays_read_from_a_url_are_read_only_views_and_copy_true_makes_them_writable(nginx, tmp_path):
    """As the README says: a local read is writable memory of its own; a URL's is a view of the
    downloaded bytes."""
    ndpack.save(nginx.root / "w.ndp", {"a": np.arange(6, dtype="f4")})
    with ndpack.open(nginx.url("w.ndp")) as r:
        assert not r.read("a").flags.writeable
        a = r.read("a", copy=True)
        a += 1
        np.testing.assert_array_equal(a, np.arange(6, dtype="f4") + 1)
    with ndpack.open(nginx.root / "w.ndp") as r:
        assert r.read("a").flags.writeable
    assert repr(ndpack.open(nginx.root / "w.ndp")).startswith("<ndpack.Reader ")


def test_save_refuses_a_set_index_name(tmp_path):
    for name in ("model.safetensors.index.json", "m.ndp.index.json"):
        expect("INVALID_ARGUMENT", lambda name=name: ndpack.save(tmp_path / name, {"a": np.arange(3)}))
    assert os.listdir(tmp_path) == []


def test_file_urls_given_as_strings_are_paths_for_save_load_open_and_verify(tmp_path):
    # As TypeScript's toPath: percent-decoded; save wrote to a relative path "file:/..." before.
    folder = tmp_path / "a b"
    folder.mkdir()
    url = f"file://{folder.as_posix().replace(' ', '%20')}/x.ndp"
    ndpack.save(url, {"x": np.arange(4.0)})
    assert (folder / "x.ndp").is_file()
    np.testing.assert_array_equal(ndpack.load(url)["x"], np.arange(4.0))
    with ndpack.open(url) as r:
        np.testing.assert_array_equal(r.read("x"), np.arange(4.0))
    assert ndpack.verify(url)["ok"]
    index = f"file://{folder.as_posix().replace(' ', '%20')}/m.ndp.index.json"
    ndpack.save_set(index, {"y": np.ones(3)})
    assert list(ndpack.open(index)) == ["y"]
    expect("INVALID_ARGUMENT", lambda: ndpack.open("file://server/share/x.ndp"))
    expect("INVALID_ARGUMENT", lambda: ndpack.save("file://server/x.ndp", {"x": np.ones(1)}))
