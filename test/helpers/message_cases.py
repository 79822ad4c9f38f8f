"""The messages of the message-stream tests, the same as ``message-cases.ts``: message ``i`` is a
pure function of ``i``, so a producer in one language and a consumer in the other agree on every
value. Every fifth message has no arrays; the others mix dtypes, ranks (0 to 3) and zero-size
arrays."""

from __future__ import annotations

import numpy as np

#: (ndpack dtype, numpy dtype), in the order of CASE_DTYPES in message-cases.ts.
CASE_DTYPES = [
    ("float32", "<f4"), ("float64", "<f8"), ("int8", "i1"), ("uint8", "u1"), ("int16", "<i2"),
    ("uint16", "<u2"), ("int32", "<i4"), ("uint32", "<u4"), ("int64", "<i8"), ("uint64", "<u8"),
    ("bool", "?"), ("float16", "<f2"),
]


def case_message(i: int) -> dict:
    """The arrays of message ``i`` (its metadata is ``{"i": i}``), in order."""
    arrays = {}
    for j in range(i % 5):
        _, dtype = CASE_DTYPES[(i + j) % len(CASE_DTYPES)]
        dt = np.dtype(dtype)
        rank = (i + j) % 4
        dims = [(i % 7) + 1, (j % 3) * 2, 3, (i % 2) + 1]
        if i % 11 != 0:
            dims[1] += 1
        shape = tuple(dims[:rank])
        count = int(np.prod(shape, dtype=np.int64))
        b = np.arange(count * dt.itemsize, dtype=np.int64)
        raw = ((i * 131 + j * 17 + b * 7) & 0xFF).astype(np.uint8)
        if dtype == "?":
            raw &= 1
        arrays[f"a{j}"] = raw.view(dt).reshape(shape)
    return arrays


def case_mismatch(i: int, message) -> str | None:
    """Why a received message (an NdpackFile) differs from case ``i``, or None."""
    expected = case_message(i)
    if message.metadata != {"i": i}:
        return f"message {i}: metadata {message.metadata!r}"
    if list(message.keys()) != list(expected):
        return f"message {i}: arrays {list(message.keys())}, expected {list(expected)}"
    for name, want in expected.items():
        got = message[name]
        if got.shape != want.shape or got.dtype.newbyteorder("<") != want.dtype.newbyteorder("<"):
            return f"message {i} {name}: {got.dtype} {got.shape}, expected {want.dtype} {want.shape}"
        if got.tobytes() != want.tobytes():
            return f"message {i} {name}: values differ"
    return None
