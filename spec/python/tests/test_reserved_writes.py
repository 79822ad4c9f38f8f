"""Writing by place: ``Writer.reserve`` and ``SetWriter.reserve`` size the files, each array's rows
are written at their place (``write_rows_at``) in any order, by any thread or process, and
``complete`` stores the CRC-32s made of the parts'. The bytes are ``save``'s; parts that do not
tile an array, rows that do not fit it, and calls out of turn are refused with their codes, and
leave no file."""

from __future__ import annotations

import io
import multiprocessing
import os
import pickle
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

import ndpack
from ndpack import write_rows_at
from expectations import expect

ARRAYS = {
    "a": np.arange(40, dtype="f4").reshape(10, 4),
    "empty": np.zeros((0, 3), "i2"),
    "s": np.float64(2.5),
    "b": np.arange(7, dtype=">i8"),  # big-endian rows: stored little-endian, as save stores them
    "no-columns": np.zeros((5, 0), "u1"),
}


def declarations(arrays):
    return [(name, a.dtype, a.shape) for name, a in arrays.items()]


def write_by_rows(places, arrays, cuts=3):
    """Each array's rows in ``cuts`` parts, the parts written last first: their parts by name."""
    parts = {}
    for place in places:
        name = place.entry["name"]
        a = np.asarray(arrays[name])
        if a.ndim == 0:
            parts[name] = [write_rows_at(place, 0, a)]
            continue
        bounds = np.linspace(0, a.shape[0], cuts + 1).astype(int)
        parts[name] = [write_rows_at(place, int(lo), a[lo:hi])
                       for lo, hi in reversed(list(zip(bounds[:-1], bounds[1:])))]
    return parts


@pytest.mark.parametrize("checksum", ["crc32", "none"])
def test_a_file_written_by_place_in_any_order_is_the_bytes_save_writes(tmp_path, checksum):
    path = tmp_path / "o.ndp"
    with ndpack.Writer(path, declarations(ARRAYS), metadata={"m": 1}, checksum=checksum) as w:
        parts = write_by_rows(w.reserve(), ARRAYS)
        assert not path.exists()
        w.complete(parts)
    assert path.read_bytes() == ndpack.dumps(ARRAYS, metadata={"m": 1}, checksum=checksum)
    assert os.listdir(tmp_path) == ["o.ndp"]


def test_a_set_written_by_place_reads_back_with_its_crcs_checked(tmp_path):
    arrays = {f"x{i}": np.arange(i * 100, i * 100 + 300, dtype="f8").reshape(100, 3)
              for i in range(5)}
    index = tmp_path / "s.ndp.index.json"
    with ndpack.SetWriter(index, declarations(arrays), max_shard_size=5000) as w:
        w.complete(write_by_rows(w.reserve(), arrays, cuts=4))
    s = ndpack.open(index)
    assert len(s.shards) == 3  # 2 arrays of 2,400 bytes a shard
    for name, a in arrays.items():
        np.testing.assert_array_equal(s.read(name), a)  # verify=True: each CRC-32 is right


def test_a_reserved_writer_is_completed_in_another_process(tmp_path):
    # What a Dask worker process does: the writer is pickled to it with its places; the rows are
    # written and the file completed and renamed there.
    path = tmp_path / "o.ndp"
    w = ndpack.Writer(path, declarations(ARRAYS))
    places = {place.entry["name"]: place for place in w.reserve()}
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        parts = {name: [pool.submit(write_rows_at, places[name], 0, a)] if a.ndim == 0 else
                 [pool.submit(write_rows_at, places[name], first, a[first : first + 2])
                  for first in range(0, a.shape[0], 2)] for name, a in ARRAYS.items()}
        parts = {name: [part.result() for part in each] for name, each in parts.items()}
        complete = "(lambda w: (w.complete(parts), w.close()))(__import__('pickle').loads(writer))"
        pool.submit(eval, complete, {"writer": pickle.dumps(w), "parts": parts}).result()
    assert path.read_bytes() == ndpack.dumps(ARRAYS)
    assert os.listdir(tmp_path) == ["o.ndp"]


@pytest.mark.parametrize("damage", ["missing", "twice", "overlap", "other-array", "none"])
def test_parts_that_do_not_tile_an_array_once_are_WRITE_SIZE_and_leave_no_file(tmp_path, damage):
    path = tmp_path / "o.ndp"
    w = ndpack.Writer(path, declarations(ARRAYS))
    places = w.reserve()
    parts = write_by_rows(places, ARRAYS)
    a = parts["a"]
    if damage == "missing":
        parts["a"] = a[1:]
    elif damage == "twice":
        parts["a"] = a + a[:1]
    elif damage == "overlap":  # rows 2 to 5 written again over the parts of 0-3 and 3-6
        parts["a"] = a + [write_rows_at(places[0], 2, ARRAYS["a"][2:5])]
    elif damage == "other-array":  # the parts of another array of the same length
        parts["a"] = parts["b"]
    else:
        del parts["a"]
    error = expect("WRITE_SIZE", lambda: w.complete(parts))
    assert error.array == "a" and "do not tile its 160 bytes" in error.message
    assert os.listdir(tmp_path) == []  # the writer was aborted: its temporary file removed
    assert expect("WRITE_SIZE", w.close) is error  # and every later call is that error


@pytest.mark.parametrize("rows, first, code", [
    (np.zeros((2, 4), "f4"), 9, "WRITE_SIZE"),  # beyond the last row
    (np.zeros((2, 5), "f4"), 0, "WRITE_SIZE"),  # another row length
    (np.zeros(8, "f4"), 0, "WRITE_SIZE"),  # another number of axes
    (np.zeros((2, 4), "f8"), 0, "INVALID_ARGUMENT"),  # another dtype
])
def test_rows_that_do_not_fit_their_place_are_refused_before_a_byte_is_written(
        tmp_path, rows, first, code):
    w = ndpack.Writer(tmp_path / "o.ndp", declarations(ARRAYS))
    place = w.reserve()[0]
    temp = place.path
    before = open(temp, "rb").read()
    expect(code, lambda: write_rows_at(place, first, rows))
    assert open(temp, "rb").read() == before
    w.abort()
    assert os.listdir(tmp_path) == []


def test_a_reserved_writer_closed_before_complete_is_WRITE_SIZE_and_leaves_no_file(tmp_path):
    for target, writer in [("o.ndp", ndpack.Writer), ("s.ndp.index.json", ndpack.SetWriter)]:
        w = writer(tmp_path / target, declarations(ARRAYS))
        w.reserve()
        expect("WRITE_SIZE", w.close)
        assert os.listdir(tmp_path) == [], target


def test_reserve_and_complete_out_of_turn_are_INVALID_ARGUMENT(tmp_path):
    w = ndpack.Writer(tmp_path / "o.ndp", declarations(ARRAYS))
    expect("INVALID_ARGUMENT", lambda: w.complete({}))  # before reserve
    assert os.listdir(tmp_path) == []
    w = ndpack.Writer(tmp_path / "o.ndp", declarations(ARRAYS))
    w.write("a", ARRAYS["a"][:3])
    expect("INVALID_ARGUMENT", w.reserve)  # after a write
    assert os.listdir(tmp_path) == []
    w = ndpack.Writer(io.BytesIO(), declarations(ARRAYS))
    error = expect("INVALID_ARGUMENT", w.reserve)  # of a file object, written in order
    assert "reserve is for a path" in error.message
    s = ndpack.SetWriter(tmp_path / "s.ndp.index.json", declarations(ARRAYS))
    s.write("a", ARRAYS["a"][:3])
    expect("INVALID_ARGUMENT", s.reserve)
    assert os.listdir(tmp_path) == []
    w = ndpack.Writer(tmp_path / "o.ndp", declarations(ARRAYS))
    w.reserve()
    error = expect("INVALID_ARGUMENT", lambda: w.write("a", ARRAYS["a"]))  # in order, after
    assert "written at their place" in error.message
    assert os.listdir(tmp_path) == []


def test_no_arrays_written_by_place_make_the_file_save_makes(tmp_path):
    with ndpack.Writer(tmp_path / "o.ndp", [], metadata={"empty": True}) as w:
        w.complete(write_by_rows(w.reserve(), {}))
    assert (tmp_path / "o.ndp").read_bytes() == ndpack.dumps({}, metadata={"empty": True})


def test_a_writer_being_written_in_order_is_not_pickled(tmp_path):
    # Only a reserved writer, whose file is closed, travels: an open file object does not.
    w = ndpack.Writer(tmp_path / "o.ndp", declarations(ARRAYS))
    with pytest.raises(TypeError):
        pickle.dumps(w)
    w.abort()
