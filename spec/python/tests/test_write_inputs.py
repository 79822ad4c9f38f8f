"""What the writers (``save``, ``dumps``, ``Writer``, ``SetWriter``, ``save_set``, ``MessageWriter``)
do with every kind of numpy input, compared with ``np.save``."""

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
