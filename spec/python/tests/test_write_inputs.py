"""What the writers (``save``, ``dumps``, ``Writer``, ``SetWriter``, ``save_set``,
``MessageWriter``) do with every kind of numpy input, compared with ``np.save``; and how the
streaming writers end after a refused call: as TypeScript's ``createWriter`` and
``createSetWriter`` (src/node/writer-calls.ts), the first error aborts the writer and every later
call raises it."""

from __future__ import annotations

import io
import os
import warnings

import numpy as np
import pytest

import ndpack
from ndpack import NdpackError

BASE = np.arange(24, dtype="f4").reshape(4, 6)
with warnings.catch_warnings():  # numpy's advice against the class: users still have matrices
    warnings.simplefilter("ignore", PendingDeprecationWarning)
    MATRIX = np.matrix([[1, 2], [3, 4]])


def refused(call, code: str) -> NdpackError:
    with pytest.raises(NdpackError) as info:
        call()
    assert info.value.code == code, info.value
    return info.value


def read_only(a: np.ndarray) -> np.ndarray:
    a = a.copy()
    a.flags.writeable = False
    return a


@pytest.mark.parametrize("data, order", [
    (BASE[::-1], "C"),  # negative strides
    (BASE[:, ::2], "C"),  # steps
    (BASE.T, "F"),  # F-contiguous only: F, as np.save's fortran_order True
    (np.asfortranarray(BASE), "F"),
    (np.ones((1, 5), "f4"), "C"),  # both C- and F-contiguous: C, as np.save's fortran_order False
    (np.ones((5, 1), "f4", order="F"), "C"),
    (np.broadcast_to(np.arange(6, dtype="f4"), (4, 6)), "C"),  # zero strides
    (read_only(BASE), "C"),
    (BASE.astype(">f4"), "C"),
    (np.float32(1.5), "C"),  # a numpy scalar: a 0-d array, as np.save writes it
    (np.array(2.5), "C"),
    ([[1, 2], [3, 4]], "C"),
    (7, "C"),
    (MATRIX, "C"),  # its 2-d array, as np.save writes it
    (np.lib.stride_tricks.as_strided(np.empty(0, "f4"), (0, 2**40), (4, 4)), "C"),  # size 0
], ids=["negative-strides", "steps", "transpose", "fortran", "both-1xn", "both-nx1", "broadcast",
        "read-only", "big-endian", "numpy-scalar", "0-d", "list", "int", "matrix", "huge-size-0"])
def test_every_kind_of_numpy_input_is_written_with_its_values_as_np_save_writes_them(
        tmp_path, data, order):
    expected = np.asarray(data)
    path = tmp_path / "a.ndp"
    ndpack.save(path, {"a": data})
    f = ndpack.load(path)
    assert (f.info("a").order, f["a"].shape) == (order, expected.shape)
    np.testing.assert_array_equal(f["a"], expected)
    assert f["a"].dtype == expected.dtype.newbyteorder("=")
    np.testing.assert_array_equal(ndpack.loads(ndpack.dumps({"a": data}))["a"], expected)
    np.testing.assert_array_equal(np.load(_npy(data)), expected)  # what numpy makes of it


def _npy(data) -> io.BytesIO:
    out = io.BytesIO()
    np.save(out, data, allow_pickle=False)
    out.seek(0)
    return out


def test_a_memmap_is_written_as_the_array_it_maps(tmp_path):
    mapped = np.memmap(tmp_path / "m.dat", "f4", "w+", shape=(4, 6))
    mapped[:] = BASE
    ndpack.save(tmp_path / "a.ndp", {"a": mapped})
    with ndpack.Writer(tmp_path / "w.ndp", [("a", "float32", (4, 6))]) as w:
        w.write("a", mapped[:2])
        w.write("a", mapped[2:])
    assert (tmp_path / "w.ndp").read_bytes() == (tmp_path / "a.ndp").read_bytes()
    np.testing.assert_array_equal(ndpack.load(tmp_path / "a.ndp")["a"], BASE)


@pytest.mark.parametrize("data", [
    np.array(["ab", "c"]),
    np.array([b"ab", b"c"]),
    np.array(["2020-01-01"], "M8[D]"),
    np.array([1], "m8[s]"),
    np.array([1, "a"], dtype=object),
    np.zeros(2, [("a", "i4"), ("b", "f4")]),
    np.zeros(2, np.longdouble),
    "text",
], ids=["U", "S", "datetime64", "timedelta64", "object", "structured", "longdouble", "str"])
def test_an_array_of_a_dtype_ndpack_has_not_is_INVALID_ARGUMENT_naming_the_array_everywhere(
        tmp_path, data):
    # Before: the error named no array, and save_set said UNKNOWN_DTYPE (its declaration's code)
    # where save says INVALID_ARGUMENT for the same data.
    dtype = str(np.asarray(data).dtype)
    calls = {
        "dumps": lambda: ndpack.dumps({"ok": np.ones(2), "x": data}),
        "save": lambda: ndpack.save(tmp_path / "a.ndp", {"ok": np.ones(2), "x": data}),
        "save_set": lambda: ndpack.save_set(tmp_path / "a.ndp.index.json",
                                            {"ok": np.ones(2), "x": data}),
        "send": lambda: ndpack.MessageWriter(io.BytesIO()).send({"x": data}),
    }
    for call in calls.values():
        error = refused(call, "INVALID_ARGUMENT")
        assert error.array == "x" and "'x'" in error.message and dtype in error.message
    assert os.listdir(tmp_path) == []


def test_to_ndpack_of_an_array_of_a_dtype_ndpack_has_not_is_INVALID_ARGUMENT(tmp_path):
    from ndpack.dask import to_ndpack

    error = refused(lambda: to_ndpack({"x": np.array(["ab"])}, tmp_path / "a.ndp"),
                    "INVALID_ARGUMENT")
    assert error.array == "x"
    assert os.listdir(tmp_path) == []


def test_a_masked_array_is_INVALID_ARGUMENT_not_its_mask_dropped(tmp_path):
    # np.save drops the mask silently, and the values under it are not data.
    masked = np.ma.array([1.0, 2.0, 3.0], mask=[False, True, False])
    calls = [
        lambda: ndpack.save(tmp_path / "a.ndp", {"x": masked}),
        lambda: ndpack.dumps({"x": {"data": masked, "dtype": "float64"}}),
        lambda: ndpack.save_set(tmp_path / "a.ndp.index.json", {"x": masked}),
        lambda: ndpack.MessageWriter(io.BytesIO()).send({"x": masked}),
        lambda: ndpack.Writer(io.BytesIO(), [("x", "float64", (3,))]).write("x", masked),
    ]
    for call in calls:
        assert refused(call, "INVALID_ARGUMENT").array == "x"
    assert os.listdir(tmp_path) == []
    ndpack.save(tmp_path / "a.ndp", {"x": masked.filled(0), "mask": np.ma.getmaskarray(masked)})
    assert ndpack.load(tmp_path / "a.ndp")["mask"].tolist() == [False, True, False]


def test_an_object_whose_array_conversion_refuses_is_INVALID_ARGUMENT_with_its_reason(tmp_path):
    # A torch tensor that requires grad: np.asarray (and np.save) raise torch's RuntimeError.
    # Before: that RuntimeError, raw.
    import torch

    tensor = torch.ones(2, requires_grad=True)
    for call in (lambda: ndpack.save(tmp_path / "a.ndp", {"x": tensor}),
                 lambda: ndpack.Writer(io.BytesIO(), [("x", "float32", (2,))]).write("x", tensor)):
        error = refused(call, "INVALID_ARGUMENT")
        assert error.array == "x" and "detach()" in error.message
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("bare", [np.zeros((3, 2)), np.zeros(3), np.float32(1)],
                         ids=["two-columns", "1-d", "scalar"])
def test_a_bare_array_for_the_arrays_is_INVALID_ARGUMENT_saying_they_are_named(tmp_path, bare):
    # np.save(path, a)'s order. Before: the rows of a two-column array passed for (name, array)
    # pairs, and the error was about a name 0.0.
    for call in (lambda: ndpack.save(tmp_path / "a.ndp", bare), lambda: ndpack.dumps(bare),
                 lambda: ndpack.save_set(tmp_path / "a.ndp.index.json", bare)):
        assert "arrays must be named" in refused(call, "INVALID_ARGUMENT").message
    assert os.listdir(tmp_path) == []


DEEP: list = []
for _ in range(70):
    DEEP = [DEEP]


@pytest.mark.parametrize("metadata, field, code", [
    ({"a": float("nan")}, "metadata['a']", "INVALID_ARGUMENT"),
    ({"a": [1, np.float64("inf")]}, "metadata['a'][1]", "INVALID_ARGUMENT"),
    ({"a": {"b": b"raw"}}, "metadata['a']['b']", "INVALID_ARGUMENT"),
    ({"a": [np.zeros(2)]}, "metadata['a'][0]", "INVALID_ARGUMENT"),
    ({"a": {1: "one"}}, "metadata['a']: key 1", "INVALID_ARGUMENT"),
    ({"a": DEEP}, "metadata['a']" + "[0]" * 62 + " is nested deeper", "LIMIT_EXCEEDED"),
], ids=["nan", "inf-in-list", "bytes", "ndarray", "int-key", "too-deep"])
def test_metadata_that_is_not_json_is_refused_naming_its_place(tmp_path, metadata, field, code):
    # As TypeScript's "Cannot write metadata.a as JSON: ..." (src/json.ts). Before, the message
    # said what was wrong but not where. Nothing is written.
    calls = [
        lambda: ndpack.save(tmp_path / "a.ndp", {"x": np.ones(2)}, metadata=metadata),
        lambda: ndpack.Writer(tmp_path / "w.ndp", [("x", "f8", (2,))], metadata=metadata),
        lambda: ndpack.save_set(tmp_path / "a.ndp.index.json", {"x": np.ones(2)},
                                metadata=metadata),
        lambda: ndpack.MessageWriter(io.BytesIO()).send({"x": np.ones(2)}, metadata=metadata),
    ]
    for call in calls:
        assert field in refused(call, code).message
    assert os.listdir(tmp_path) == []


# --------------------------------------------------------------------------------------------------
# After a refused call
# --------------------------------------------------------------------------------------------------

DECLARED = [("a", "float32", (2,)), ("b", "float32", (2,))]


def make_writer(kind: str, folder):
    if kind == "Writer":
        return ndpack.Writer(folder / "w.ndp", DECLARED)
    return ndpack.SetWriter(folder / "s.ndp.index.json", DECLARED, max_shard_size=8)


@pytest.mark.parametrize("kind", ["Writer", "SetWriter"])
@pytest.mark.parametrize("bad_call, code", [
    (lambda w: w.write("a", np.zeros(2, "f8")), "INVALID_ARGUMENT"),  # another dtype
    (lambda w: w.write("a", np.zeros(3, "f4")), "WRITE_SIZE"),  # too many rows
    (lambda w: w.write("b", np.zeros(2, "f4")), "WRITE_SIZE"),  # "a" incomplete
    (lambda w: w.write("zz", np.zeros(2, "f4")), "NOT_FOUND"),
    (lambda w: w.write("a", [[1], [1, 2]]), "INVALID_ARGUMENT"),  # ragged
], ids=["dtype", "too-many-rows", "out-of-order", "undeclared", "ragged"])
def test_a_refused_write_aborts_the_writer_and_every_later_call_raises_it(
        tmp_path, kind, bad_call, code):
    # TypeScript's createWriter and createSetWriter: "the first failure aborts the writer for
    # good, and every call after it rejects with that failure". Before, Python's Writer took the
    # next call, and close() completed the file around the refused rows.
    w = make_writer(kind, tmp_path)
    w.write("a", np.zeros(1, "f4"))
    first = refused(lambda: bad_call(w), code)
    assert os.listdir(tmp_path) == []  # the temporary file or shards removed at once
    with pytest.raises(NdpackError) as again:
        w.write("a", np.zeros(1, "f4"))
    assert again.value is first
    with pytest.raises(NdpackError) as again:
        w.close()
    assert again.value is first
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("kind", ["Writer", "SetWriter"])
def test_close_after_a_failed_close_or_an_abort_raises_rather_than_returning(tmp_path, kind):
    # Before: a second close() after a WRITE_SIZE, or a close() after abort(), returned None
    # with no file written.
    w = make_writer(kind, tmp_path)
    w.write("a", np.zeros(2, "f4"))
    first = refused(w.close, "WRITE_SIZE")
    with pytest.raises(NdpackError) as again:
        w.close()
    assert again.value is first
    w = make_writer(kind, tmp_path)
    w.abort()
    refused(w.close, "CLOSED")
    refused(lambda: w.write("a", np.zeros(2, "f4")), "CLOSED")
    assert os.listdir(tmp_path) == []


def test_a_writer_whose_error_is_caught_inside_its_with_block_writes_no_file(tmp_path):
    with pytest.raises(NdpackError) as info:
        with ndpack.Writer(tmp_path / "w.ndp", DECLARED) as w:
            with pytest.raises(NdpackError):
                w.write("a", np.zeros(2, "f8"))
            w.write("a", np.zeros(2, "f4"))
    assert info.value.code == "INVALID_ARGUMENT"
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("kind", ["Writer", "SetWriter"])
def test_rows_of_no_bytes_for_a_complete_array_are_nothing_to_write(tmp_path, kind):
    # As TypeScript's writers: "No bytes for an array already complete (a zero-size one, which is
    # complete from the start): nothing to do". Before, Python's was WRITE_SIZE.
    declared = [("e", "float32", (0, 3)), ("a", "float32", (2,)), ("b", "float32", (2,))]
    arrays = {"e": np.zeros((0, 3), "f4"), "a": np.ones(2, "f4"), "b": np.full(2, 2, "f4")}
    w = (ndpack.Writer(tmp_path / "w.ndp", declared) if kind == "Writer" else
         ndpack.SetWriter(tmp_path / "s.ndp.index.json", declared, max_shard_size=8))
    w.write("e", arrays["e"])
    w.write("a", arrays["a"])
    w.write("b", arrays["b"][:1])
    w.write("e", arrays["e"])
    w.write("a", np.zeros(0, "f4"))
    w.write("b", arrays["b"][1:])
    w.write("b", np.zeros(0, "f4"))
    w.close()
    if kind == "Writer":
        assert (tmp_path / "w.ndp").read_bytes() == ndpack.dumps(arrays)
    else:
        with ndpack.open(tmp_path / "s.ndp.index.json") as r:
            assert {name: r[name].tolist() for name in r} == \
                {name: a.tolist() for name, a in arrays.items()}
