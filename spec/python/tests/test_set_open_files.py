"""A set reader over a folder keeps at most MAX_OPEN_SHARD_FILES shard files open (as TypeScript's,
test/set-open-files.test.ts), so that a set of more shards than the process may open files reads
(a raw ``OSError: [Errno 24]`` before), and a shard whose file was closed in between is opened again
only if it is the same file, unchanged (FILE_CHANGED otherwise)."""

from __future__ import annotations

import contextlib
import gc
import json
import os
import random
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import ndpack
from ndpack import NdpackError, _sets
from ndpack._sets import MAX_OPEN_SHARD_FILES

#: More shards than the children below may open files, one array each.
SHARDS = 300
#: float32 elements of each array (8 KiB): its first element is its number, the others 0.5.
LENGTH = 2048
NAMES = [f"a{i}" for i in range(SHARDS)]

needs_proc_fd = pytest.mark.skipif(not os.path.isdir("/proc/self/fd"),
                                   reason="counts the open files in /proc/self/fd (Linux)")


def array(i: int) -> np.ndarray:
    a = np.full(LENGTH, 0.5, "f4")
    a[0] = i
    return a


def check(name: str, a: np.ndarray) -> None:
    """``a`` is the array ``name`` was written with (or its first rows)."""
    expected = array(int(name[1:]))[: len(a)]
    if not np.array_equal(a, expected):
        raise AssertionError(f"{name}: {a[:3]}... is not {expected[:3]}...")


def open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    path = tmp_path_factory.mktemp("set") / "model.ndp.index.json"
    # max_shard_size=1: one array a shard
    ndpack.save_set(path, {name: array(i) for i, name in enumerate(NAMES)}, max_shard_size=1)
    assert len(os.listdir(path.parent)) == SHARDS + 1
    return path


def shard_path(s, name):
    return os.path.join(os.path.dirname(s.location), s.shard_of(name))


# A child process whose open files are limited (RLIMIT_NOFILE) reads and verifies the whole set:
# arrays dropped once checked, then copies, all kept (an array holds no file).
READ_ALL = """
import json, resource, sys
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(int(sys.argv[2]), hard), hard))
import numpy as np, ndpack
def right(name, a):
    return a[0] == int(name[1:]) and bool((a[1:] == 0.5).all())
try:
    with ndpack.open(sys.argv[1]) as s:
        wrong = [n for n in s if not right(n, s.read(n))]
        verified = all(r["ok"] for r in s.verify())
        kept = [s.read(n, copy=True) for n in s]
        wrong += [n for n, a in zip(s, kept) if not right(n, a)]
    out = {"arrays": len(kept), "wrong": wrong, "verified": verified}
except Exception as ex:
    out = {"error": repr(ex), "code": getattr(ex, "code", None)}
print(json.dumps(out))
"""


def child(script: str, *args, tmp_path) -> dict:
    # cwd: not spec/python, whose ndpack folder would shadow the installed package
    done = subprocess.run([sys.executable, "-c", script, *map(str, args)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_NOFILE is POSIX")
@pytest.mark.parametrize("limit", [128, 40])  # 40: fewer than MAX_OPEN_SHARD_FILES, see below
def test_a_set_of_more_shards_than_the_process_may_open_files_reads_and_verifies(
        index, tmp_path, limit):
    # Under 40 the reader's 64 cannot all be open: idle shards give their descriptors back when
    # opening another one is EMFILE.
    outcome = child(READ_ALL, index, limit, tmp_path=tmp_path)
    assert outcome == {"arrays": SHARDS, "wrong": [], "verified": True}


# All of the child's descriptors taken but `free`, then a shard opened: IO_ERROR naming it when
# that is too few, never a raw OSError; one is enough (a shard is read through its descriptor alone:
# no memory map, which held a second one before Python 3.13).
OPEN_WITHOUT_FILES = """
import json, os, resource, sys
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(64, hard), hard))
import ndpack
s = ndpack.open(sys.argv[1])
held = []
try:
    while True:
        held.append(os.open(os.devnull, os.O_RDONLY))
except OSError:
    pass
for _ in range(int(sys.argv[2])):
    os.close(held.pop())
try:
    out = {"first": float(s.read("a7")[0])}
except ndpack.NdpackError as ex:
    out = {"code": ex.code, "message": ex.message}
except OSError as ex:
    out = {"raw": repr(ex)}
for fd in held:
    os.close(fd)
print(json.dumps(out))
"""


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_NOFILE is POSIX")
@pytest.mark.parametrize("free", [0, 1])
def test_a_shard_that_cannot_be_opened_for_lack_of_files_is_IO_ERROR_naming_it(
        index, tmp_path, free):
    outcome = child(OPEN_WITHOUT_FILES, index, free, tmp_path=tmp_path)
    with ndpack.open(index) as s:
        shard = s.shard_of("a7")
    if free == 1:
        assert outcome == {"first": 7.0}
        return
    assert outcome.get("code") == "IO_ERROR", outcome
    assert shard in outcome["message"] and "Too many open files" in outcome["message"]


@needs_proc_fd
def test_at_most_MAX_OPEN_SHARD_FILES_shard_files_are_open_at_once_and_none_after_close(index):
    # Files of earlier tests that the collector has not closed yet would close during this one.
    gc.collect()
    before = open_files()
    most = before
    s = ndpack.open(index)
    for name in NAMES:
        check(name, s.read(name))
        most = max(most, open_files())
    for name in reversed(NAMES):  # the shards closed since opened again, in the other order
        check(name, s.read_rows(name, 0, 3))
        most = max(most, open_files())
    assert all(report["ok"] for report in s.verify())
    most = max(most, open_files())
    # The files are kept open between reads (not opened again for each).
    assert most - before > MAX_OPEN_SHARD_FILES // 2
    assert most - before <= MAX_OPEN_SHARD_FILES
    assert s._files._open <= MAX_OPEN_SHARD_FILES
    s.close()
    gc.collect()
    assert open_files() <= before  # none left open (others' may have closed meanwhile)
    assert s._files._open == 0


@contextlib.contextmanager
def first_shard_closed(index):
    """A set reader that read a0, then enough other shards to close a0's file; a0's file restored
    afterwards, whatever the test did to it."""
    s = ndpack.open(index)
    path = shard_path(s, "a0")
    with open(path, "rb") as fh:
        original = fh.read()
    try:
        a0 = s.read("a0")
        for name in NAMES[1 : MAX_OPEN_SHARD_FILES + 10]:
            s.read(name)
        assert s.reader_of("a0")._source.current is None  # closed: the least recently used
        yield s, path, a0
    finally:
        s.close()
        with open(path, "wb") as fh:
            fh.write(original)


def test_a_shard_closed_then_read_again_gives_its_values_and_arrays_read_before_keep_theirs(index):
    with first_shard_closed(index) as (s, path, a0):
        check("a0", a0)  # read before its file was closed: its memory is its own
        check("a0", s.read("a0"))
        check("a0", s.read_rows("a0", 0, 5))
        assert s.reader_of("a0")._source.current is not None
        assert all(report["ok"] for report in s.verify())
    check("a0", a0)  # and after the set reader is closed


def expect_file_changed(s, path):
    """Reading a0 is FILE_CHANGED naming its file, unverified too, and so is its verify report."""
    for read in (lambda: s.read("a0", verify=False), lambda: s.read_rows("a0", 0, 1)):
        with pytest.raises(NdpackError) as info:
            read()
        assert info.value.code == "FILE_CHANGED" and path in info.value.message
    report = next(r for r in s.verify() if r["shard"] == os.path.basename(path))
    assert report["error"]["code"] == "FILE_CHANGED"


def test_a_shard_rewritten_in_place_with_the_same_size_is_FILE_CHANGED(index):
    with first_shard_closed(index) as (s, path, a0):
        before = os.stat(path)
        with open(path, "r+b") as fh:  # same file, same size: a payload byte, far past the header
            fh.seek(before.st_size - 8)
            byte = fh.read(1)[0]
            fh.seek(before.st_size - 8)
            fh.write(bytes([byte ^ 1]))
        if os.stat(path).st_mtime_ns == before.st_mtime_ns:  # a file system clock coarser than that
            os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000))
        expect_file_changed(s, path)  # not the new bytes, even unverified


def test_a_shard_removed_is_FILE_CHANGED(index):
    # As a set written again removes its old shards.
    with first_shard_closed(index) as (s, path, a0):
        os.unlink(path)
        expect_file_changed(s, path)
        check("a0", a0)


def test_a_shard_replaced_by_another_file_of_the_same_bytes_is_FILE_CHANGED(index):
    with first_shard_closed(index) as (s, path, a0):
        with open(path, "rb") as fh, open(path + ".new", "wb") as out:
            out.write(fh.read())
        os.replace(path + ".new", path)
        expect_file_changed(s, path)
        check("a0", a0)


@pytest.mark.parametrize("limit", [MAX_OPEN_SHARD_FILES, 3])  # 3: reads wait for a file
def test_threads_reading_every_array_at_once_get_the_right_values(index, monkeypatch, limit):
    monkeypatch.setattr(_sets, "MAX_OPEN_SHARD_FILES", limit)
    names = NAMES * 3
    random.Random(limit).shuffle(names)
    count = open_files if os.path.isdir("/proc/self/fd") else lambda: 0
    before = count()
    most = [before]

    with ndpack.open(index) as s:
        def work(name):  # checked in the thread: no array kept
            check(name, s.read(name))
            check(name, s.read_rows(name, 0, 2))
            check(name, s[name])
            most[0] = max(most[0], count())

        with ThreadPoolExecutor(16) as pool:
            list(pool.map(work, names))
        assert len(s._readers) == SHARDS  # each shard opened once, by one thread
        assert s._files._open <= limit
        # Arrays hold no file; each thread's listing of /proc/self/fd is one while it counts.
        assert most[0] - before <= limit + 16
        with ThreadPoolExecutor(8) as pool:  # verify while other threads read
            reports = pool.submit(s.verify)
            list(pool.map(work, NAMES))
            assert all(r["ok"] for r in reports.result())
    assert s._files._open == 0


def test_dask_threads_read_a_set_of_more_shards_than_the_reader_keeps_open(index):
    pytest.importorskip("dask")
    import dask

    from ndpack.dask import from_ndpack

    with ndpack.open(index) as s:
        arrays = from_ndpack(s, chunks=512)  # 4 chunks an array, each CRC-checked
        sums = dask.compute(*[a.sum(dtype="f8") for a in arrays.values()], scheduler="threads")
        assert list(sums) == [i + (LENGTH - 1) * 0.5 for i in range(SHARDS)]
        assert s._files._open <= MAX_OPEN_SHARD_FILES
