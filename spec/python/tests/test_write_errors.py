"""Writes that the system refuses (a missing folder, a full disk) are NdpackError IO_ERROR naming
the path, the OSError as its ``__cause__`` (TypeScript's ``ioError``, src/node/io.ts), and leave no
temporary file: never a raw OSError."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import ndpack


def expect_io_error(call, path) -> None:
    with pytest.raises(ndpack.NdpackError) as info:
        call()
    assert info.value.code == "IO_ERROR"
    assert str(path) in info.value.message
    assert isinstance(info.value.__cause__, FileNotFoundError)


def test_writes_into_a_missing_folder_are_IO_ERROR(tmp_path):
    from ndpack.dask import to_ndpack

    missing = tmp_path / "nowhere"
    a = np.zeros(10)
    expect_io_error(lambda: ndpack.save(missing / "x.ndp", {"a": a}), missing / "x.ndp")
    expect_io_error(lambda: ndpack.Writer(missing / "x.ndp", [("a", "f8", (3,))]),
                    missing / "x.ndp")
    expect_io_error(lambda: to_ndpack({"a": a}, missing / "x.ndp"), missing / "x.ndp")
    assert os.listdir(tmp_path) == []


def test_set_writers_create_a_missing_folder_as_TypeScripts_do(tmp_path):
    from ndpack.dask import to_ndpack

    a = np.arange(10.0)
    writes = {"save_set": (lambda index: ndpack.save_set(index, {"a": a}), ["a"]),
              "no write": (lambda index: ndpack.save_set(index, {"e": np.zeros(0)}), ["e"]),
              "to_ndpack": (lambda index: to_ndpack({"a": a}, index), ["a"]),
              "SetWriter": (lambda index: ndpack.SetWriter(index, [("a", "f8", (10,))]).abort(),
                            None)}
    for name, (write, names) in writes.items():
        index = tmp_path / name / "deeper" / "x.ndp.index.json"
        write(index)
        assert index.parent.is_dir(), name
        if names is not None:
            with ndpack.open(index) as r:
                assert list(r.keys()) == names, name
    # A folder that cannot be created is IO_ERROR naming it, before any shard is written.
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(ndpack.NdpackError) as info:
        ndpack.save_set(tmp_path / "file" / "sub" / "x.ndp.index.json", {"a": a})
    assert info.value.code == "IO_ERROR"
    assert str(tmp_path / "file" / "sub") in info.value.message
    assert isinstance(info.value.__cause__, NotADirectoryError)


def test_verify_of_a_missing_file_is_IO_ERROR(tmp_path):
    expect_io_error(lambda: ndpack.verify(tmp_path / "none.ndp"), tmp_path / "none.ndp")


# A disk that fills up part-way, in a child: RLIMIT_FSIZE (with SIGXFSZ ignored, writes beyond it
# fail with EFBIG) stands in for ENOSPC.
FULL_DISK = textwrap.dedent("""
    import json, os, resource, signal, sys
    import numpy as np, ndpack
    folder = sys.argv[1]
    a = np.arange(1 << 17, dtype="f8")  # 1 MiB
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, resource.RLIM_INFINITY))

    def stream():
        with ndpack.Writer(os.path.join(folder, "w.ndp"), [("a", "f8", a.shape)]) as w:
            for i in range(0, len(a), 4096):
                w.write("a", a[i:i + 4096])

    calls = {
        "save": lambda: ndpack.save(os.path.join(folder, "s.ndp"), {"a": a}),
        "Writer": stream,
        "save_set": lambda: ndpack.save_set(os.path.join(folder, "m.ndp.index.json"),
                                            {"a": a, "b": a}, max_shard_size=1 << 20),
    }
    out = {}
    for name, call in calls.items():
        try:
            call()
            out[name] = "written"
        except Exception as ex:
            out[name] = [type(ex).__name__, getattr(ex, "code", None),
                         type(ex.__cause__).__name__]
    print(json.dumps(out))
""")


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
def test_a_disk_full_part_way_is_IO_ERROR_and_leaves_no_temporary_file_and_the_old_files(tmp_path):
    small = {"a": np.ones(3)}
    ndpack.save(tmp_path / "s.ndp", small)
    ndpack.save_set(tmp_path / "m.ndp.index.json", small)
    before = sorted(os.listdir(tmp_path))
    done = subprocess.run([sys.executable, "-c", FULL_DISK, str(tmp_path)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {name: ["NdpackError", "IO_ERROR", "OSError"]
                                       for name in ("save", "Writer", "save_set")}
    assert sorted(os.listdir(tmp_path)) == before  # no temporary file, no new shard
    np.testing.assert_array_equal(ndpack.load(tmp_path / "s.ndp")["a"], np.ones(3))
    np.testing.assert_array_equal(ndpack.open(tmp_path / "m.ndp.index.json")["a"], np.ones(3))
