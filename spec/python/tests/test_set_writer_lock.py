"""Set writers take turns for their last step (FORMAT.md §12.4, "Concurrent writers"): reading the
old index, renaming the new one into place and removing the replaced shards run holding
``<index>.lock``, created exclusively and holding ``<pid>@<host>``, as TypeScript's ``withLock``
(src/node/io.ts), so that TypeScript and Python writers exclude each other. Without it two writers
replacing one set at once each removed the old set's shards and kept their own: the loser's shards
stayed, named by no index."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import ndpack
from ndpack import NdpackError, _io

INDEX = "model.ndp.index.json"


def arrays(k: int) -> dict:
    """Two shards (max_shard_size=8000), their values telling which save wrote them."""
    return {"a": np.full(1000, k, "f8"), "b": np.full(1000, -k, "f8")}


def save(index, k: int) -> None:
    ndpack.save_set(index, arrays(k), max_shard_size=8000)


def only_the_index_and_its_shards(folder) -> int:
    """Asserts that the folder holds the index and the shards it names, nothing else (no lock,
    no temporary file); returns which save wrote the set."""
    index = os.path.join(folder, INDEX)
    with open(index, "rb") as fh:
        named = set(json.load(fh)["weight_map"].values())
    assert sorted(os.listdir(folder)) == sorted(named | {INDEX})
    with ndpack.open(index) as s:
        k = int(s["a"][0])
        assert (s["b"] == -k).all() and (s["a"] == k).all()
    return k


def test_two_threads_saving_one_set_at_once_leave_only_the_final_index_shards(tmp_path):
    index = tmp_path / INDEX
    for round_ in range(10):
        barrier = threading.Barrier(2)
        errors = []

        def writer(k):
            barrier.wait()
            try:
                save(index, k)
            except BaseException as ex:  # noqa: BLE001 (reported below)
                errors.append(ex)

        threads = [threading.Thread(target=writer, args=(2 * round_ + i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert only_the_index_and_its_shards(tmp_path) in (2 * round_, 2 * round_ + 1)


SAVE_MANY = """
import sys, numpy as np, ndpack
index, k, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for r in range(rounds):
    ndpack.save_set(index, {"a": np.full(1000, k, "f8"), "b": np.full(1000, -k, "f8")},
                    max_shard_size=8000)
"""


def test_two_processes_saving_one_set_at_once_leave_only_the_final_index_shards(tmp_path):
    index = tmp_path / INDEX
    work = tmp_path / "work"  # cwd: not spec/python, whose ndpack folder would shadow the package
    work.mkdir()
    children = [subprocess.Popen([sys.executable, "-c", SAVE_MANY, str(index), str(k), "15"],
                                 cwd=work, stderr=subprocess.PIPE, text=True) for k in (1, 2)]
    for child in children:
        _, err = child.communicate(timeout=300)
        assert child.returncode == 0, err
    os.rmdir(work)
    assert only_the_index_and_its_shards(tmp_path) in (1, 2)


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_stale_lock_of_a_process_of_this_host_that_no_longer_runs_is_removed(tmp_path):
    index = tmp_path / INDEX
    save(index, 1)
    lock = tmp_path / (INDEX + ".lock")
    lock.write_text(f"{dead_pid()}@{socket.gethostname()}")
    started = time.monotonic()
    save(index, 2)
    assert time.monotonic() - started < 10  # not the 60 s wait
    assert only_the_index_and_its_shards(tmp_path) == 2  # the lock is gone too


def test_a_dead_owner_ending_with_a_newline_is_recognized_and_its_lock_removed(tmp_path):
    # A writer in another language may write "pid@host\n": read as no owner, it was waited for
    # 10 s (UNOWNED_LOCK_STALE), past this 1 s wait.
    target = tmp_path / "x"
    (tmp_path / "x.lock").write_text(f"{dead_pid()}@{socket.gethostname()}\n")
    with _io.with_lock(str(target), wait=1):
        pass
    assert not (tmp_path / "x.lock").exists()


def test_a_lock_without_an_owner_older_than_10_s_is_stale(tmp_path):
    # Its writer died between creating and filling it.
    index = tmp_path / INDEX
    lock = tmp_path / (INDEX + ".lock")
    lock.write_text("")
    old = time.time() - 20
    os.utime(lock, (old, old))
    save(index, 3)
    assert only_the_index_and_its_shards(tmp_path) == 3


def test_a_break_file_left_by_a_breaker_that_died_is_waited_for_while_new_then_removed(tmp_path):
    # A writer killed while it broke a stale lock leaves <lock>.break: the stale lock is left alone
    # while the break file is new, and broken once the break file is over 10 s old.
    target = tmp_path / "x"
    (tmp_path / "x.lock").write_text(f"{dead_pid()}@{socket.gethostname()}")
    (tmp_path / "x.lock.break").write_text("")
    with pytest.raises(NdpackError) as caught:
        with _io.with_lock(str(target), wait=0.05):
            pass
    assert caught.value.code == "IO_ERROR"
    assert (tmp_path / "x.lock").exists()
    old = time.time() - 20
    os.utime(tmp_path / "x.lock.break", (old, old))
    with _io.with_lock(str(target), wait=1):
        pass
    assert not (tmp_path / "x.lock").exists() and not (tmp_path / "x.lock.break").exists()


def test_a_live_holder_makes_the_writer_wait_until_it_is_released(tmp_path):
    index = tmp_path / INDEX
    save(index, 1)
    done = threading.Event()
    errors = []

    def writer():
        try:
            save(index, 2)
        except BaseException as ex:  # noqa: BLE001
            errors.append(ex)
        done.set()

    with _io.with_lock(str(index)):
        lock = tmp_path / (INDEX + ".lock")
        assert lock.read_text() == f"{os.getpid()}@{socket.gethostname()}"  # TypeScript's text
        thread = threading.Thread(target=writer)
        thread.start()
        assert not done.wait(0.5)  # waiting for the lock: the old set is still the index's
        with ndpack.open(index) as s:
            assert s["a"][0] == 1
    thread.join(30)
    assert done.is_set() and errors == []
    assert only_the_index_and_its_shards(tmp_path) == 2


def test_a_lock_held_past_the_wait_is_IO_ERROR_naming_it_and_its_holder(tmp_path, monkeypatch):
    index = tmp_path / INDEX
    save(index, 1)
    lock = tmp_path / (INDEX + ".lock")
    holder = f"{os.getpid()}@{socket.gethostname()}"  # a live process: this one
    lock.write_text(holder)
    monkeypatch.setattr(_io, "LOCK_WAIT", 0.3)
    started = time.monotonic()
    with pytest.raises(NdpackError) as info:
        save(index, 2)
    assert time.monotonic() - started >= 0.3
    assert info.value.code == "IO_ERROR"
    assert str(lock) in info.value.message and holder in info.value.message
    assert lock.read_text() == holder  # not removed: its holder runs
    lock.unlink()
    assert only_the_index_and_its_shards(tmp_path) == 1  # the new shards removed, the old set kept


def test_a_lock_of_another_host_is_not_removed(tmp_path):
    lock = tmp_path / (INDEX + ".lock")
    lock.write_text(f"{dead_pid()}@not-{socket.gethostname()}")  # its pid means nothing here
    with pytest.raises(NdpackError) as info:
        with _io.with_lock(str(tmp_path / INDEX), wait=0.2):
            pass
    assert info.value.code == "IO_ERROR" and "not-" in info.value.message
    assert lock.exists()


def test_the_lock_is_removed_when_the_step_fails(tmp_path):
    index = tmp_path / INDEX
    with pytest.raises(ZeroDivisionError):
        with _io.with_lock(str(index)):
            assert (tmp_path / (INDEX + ".lock")).exists()
            1 / 0  # noqa: B018
    assert os.listdir(tmp_path) == []


def test_a_lock_that_cannot_be_read_is_waited_for_then_IO_ERROR_not_spun_on(tmp_path, monkeypatch):
    # A directory, old enough to look unowned and stale: it cannot be read, so it is held.
    lock = tmp_path / "x.lock"
    lock.mkdir()
    old = time.time() - 60
    os.utime(lock, (old, old))
    monkeypatch.setattr(_io, "LOCK_WAIT", 0.3)
    outcome = []

    def take():
        try:
            with _io.with_lock(str(tmp_path / "x")):
                outcome.append("ran")
        except NdpackError as ex:
            outcome.append((ex.code, "unreadable" in ex.message))

    thread = threading.Thread(target=take, daemon=True)
    thread.start()
    thread.join(20)
    assert not thread.is_alive()  # it looped forever, skipping the deadline
    assert outcome == [("IO_ERROR", True)]


def test_a_stale_lock_found_by_six_waiters_at_once_still_lets_one_in_at_a_time(tmp_path):
    path = str(tmp_path / "x")
    with open(path + ".lock", "w") as fh:
        fh.write(f"{dead_pid()}@{socket.gethostname()}")
    inside, most, done = [0], [0], [0]
    guard = threading.Lock()

    def take():
        with _io.with_lock(path):
            with guard:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            time.sleep(0.005)
            with guard:
                inside[0] -= 1
                done[0] += 1

    threads = [threading.Thread(target=take) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert (done[0], most[0]) == (6, 1)
    assert not os.path.exists(path + ".lock") and not os.path.exists(path + ".lock.break")
