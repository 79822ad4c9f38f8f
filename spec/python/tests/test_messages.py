"""Message streams (FORMAT.md section 11) in the Python package: ``read_messages`` and
``MessageWriter`` over sockets and binary files, every bad stream with its code and whether the
reader can go on, and the stream vectors of ``fixtures/streams``. The tests against Node over TCP
are in test/messages-tcp.test.ts."""

from __future__ import annotations

import io
import json
import socket
import struct
import threading
import zlib
from pathlib import Path

import numpy as np
import pytest

import ndpack
from ndpack import _messages, reference

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"


def stream_of(*messages) -> bytes:
    return b"".join(ndpack.dumps(arrays, metadata=metadata) for arrays, metadata in messages)


def read_all(source, **options):
    """Every message of ``source`` as (index, metadata, {name: array}), and the errors (of the
    next message or of its arrays: a message above ``max_message_bytes`` refuses them), going on
    after recoverable ones."""
    messages, errors = [], []
    reader = ndpack.read_messages(source, **options)
    while True:
        try:
            message = next(reader)
            arrays = {k: message[k] for k in message}
        except StopIteration:
            return messages, errors
        except ndpack.NdpackError as error:
            errors.append((error.message_index, error.code, error.recoverable))
            if not error.recoverable:
                return messages, errors
            continue
        messages.append((message.index, message.metadata, arrays))


MIXED = [
    ({"x": np.arange(12, dtype="<f4").reshape(3, 4), "flags": np.array([True, False])}, {"n": 0}),
    ({}, {"n": 1}),
    ({"big": np.arange(5, dtype=">i8"), "scalar": np.float64(2.5)}, {"n": 2}),
]


def test_a_socket_carries_messages_both_ways_with_values_equal():
    left, right = socket.socketpair()
    with left, right:
        def produce():
            with ndpack.MessageWriter(left) as writer:
                for i in range(300):
                    writer.send({"a": np.full((i % 7, 3), i, dtype="<i4")}, metadata={"i": i})
                writer.send({"large": np.arange(1 << 20, dtype="<f4")}, metadata={"i": 300})

        thread = threading.Thread(target=produce)
        thread.start()
        messages, errors = read_all(right)
        thread.join()
    assert errors == []
    assert [m[0] for m in messages] == list(range(301))
    for index, metadata, arrays in messages[:300]:
        assert metadata == {"i": index}
        np.testing.assert_array_equal(arrays["a"], np.full((index % 7, 3), index, dtype="<i4"))
    np.testing.assert_array_equal(messages[300][2]["large"], np.arange(1 << 20, dtype="<f4"))


def test_a_binary_file_carries_messages_and_each_is_the_bytes_dumps_gives():
    out = io.BytesIO()
    writer = ndpack.MessageWriter(out)
    for arrays, metadata in MIXED:
        writer.send(arrays, metadata=metadata)
    writer.close()
    assert out.getvalue() == stream_of(*MIXED)
    assert (writer.messages_sent, writer.bytes_sent) == (3, len(out.getvalue()))
    messages, errors = read_all(io.BytesIO(out.getvalue()))
    assert errors == []
    assert [m[1] for m in messages] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert messages[2][2]["big"].tolist() == [0, 1, 2, 3, 4]


def test_truncated_anywhere_inside_the_second_message_after_the_first_whole():
    first, second = ndpack.dumps(*MIXED[0][:1], metadata=MIXED[0][1]), ndpack.dumps(MIXED[2][0])
    for keep in range(1, len(second)):
        messages, errors = read_all(io.BytesIO(first + second[:keep]))
        assert len(messages) == 1
        assert errors == [(1, "TRUNCATED", False)], keep


def test_checksum_in_a_payload_is_recoverable_and_the_next_message_is_read():
    damaged = bytearray(ndpack.dumps({"a": np.arange(4, dtype="u1"), "b": np.arange(9, dtype="u1")}))
    damaged[-4 - 5] ^= 0x10  # a byte of "b"'s payload
    stream = stream_of(MIXED[0]) + bytes(damaged) + stream_of(MIXED[1])
    messages, errors = read_all(io.BytesIO(stream))
    assert [m[1] for m in messages] == [{"n": 0}, {"n": 1}]
    assert errors == [(1, "CHECKSUM", True)]
    # Without verification the damaged message is handed out.
    assert len(read_all(io.BytesIO(stream), verify=False)[0]) == 3


def test_a_bad_header_ends_the_stream_and_later_calls_raise_the_same_error():
    damaged = bytearray(stream_of(MIXED[1]))
    damaged[25] ^= 0x01
    reader = ndpack.read_messages(io.BytesIO(stream_of(MIXED[0]) + bytes(damaged) + stream_of(MIXED[0])))
    next(reader)
    with pytest.raises(ndpack.NdpackError) as first:
        next(reader)
    assert (first.value.code, first.value.recoverable, first.value.message_index) == ("HEADER_CHECKSUM", False, 1)
    with pytest.raises(ndpack.NdpackError) as again:
        next(reader)
    assert again.value is first.value


def test_limits_apply_to_each_message_and_max_message_bytes_skips_one():
    ok, three = ndpack.dumps({"a": np.zeros(1, "u1")}), ndpack.dumps({f"a{i}": np.zeros(1, "u1") for i in range(3)})
    messages, errors = read_all(io.BytesIO(ok + three + ok), max_arrays=2)
    assert (len(messages), errors) == (1, [(1, "LIMIT_EXCEEDED", False)])
    big = ndpack.dumps({"b": np.zeros(100_000, "u1")})
    messages, errors = read_all(io.BytesIO(ok + big + ok), max_message_bytes=1000)
    assert [m[0] for m in messages] == [0, 2]
    assert errors == [(1, "LIMIT_EXCEEDED", True)]


def test_a_message_above_max_message_bytes_is_handed_out_with_its_header_its_arrays_refused():
    # As TypeScript's decodeMessages: the error comes where the arrays are read, recoverable, and
    # asking for the next message skips the refused one's data section, unread.
    ok = ndpack.dumps({"a": np.arange(3, dtype="u1")}, metadata={"n": 0})
    big = ndpack.dumps({"b": np.zeros(100_000, "u1"), "c": np.ones(2)}, metadata={"n": 1})
    reader = ndpack.read_messages(io.BytesIO(ok + big + ok), max_message_bytes=1000)
    assert next(reader)["a"].tolist() == [0, 1, 2]
    message = next(reader)
    assert (message.index, message.metadata, list(message), message.size) == \
        (1, {"n": 1}, ["b", "c"], len(big))
    assert message.info("b").shape == (100_000,) and "c" in message
    assert reader.bytes_read == len(ok) + message.data_start  # no payload byte read
    for read in (lambda: message["b"], lambda: message.read("c"), message.verify):
        with pytest.raises(ndpack.NdpackError) as refused:
            read()
        assert (refused.value.code, refused.value.message_index, refused.value.recoverable) == \
            ("LIMIT_EXCEEDED", 1, True)
    with pytest.raises(KeyError):
        message["nope"]
    last = next(reader)
    assert (last.index, last["a"].tolist()) == (2, [0, 1, 2])
    with pytest.raises(StopIteration):
        next(reader)
    assert reader.bytes_read == len(ok + big + ok)


def head_claiming(nbytes: int) -> bytes:
    """The valid head (preamble, header, padding) of a message of one uint8 array of ``nbytes``."""
    entry = {"name": "a", "dtype": "uint8", "shape": [nbytes], "order": "C", "byteOrder": "little",
             "offset": 0, "byteLength": nbytes}
    header = reference.canonical_header({"alignment": 64, "checksum": "crc32",
                                         "dataLength": nbytes + 4, "metadata": {},
                                         "arrays": [entry]})
    fixed = struct.pack("<HHI", 1, 0, len(header))
    head = reference.MAGIC + fixed + struct.pack("<I", zlib.crc32(header, zlib.crc32(fixed))) \
        + header
    return head + bytes(-len(head) % 64)


def test_a_header_claiming_1_TiB_in_a_short_stream_is_TRUNCATED_not_MemoryError():
    stream = head_claiming(2**40) + stream_of(MIXED[0])  # 256 bytes follow the head, not 1 TiB
    reader = ndpack.read_messages(io.BytesIO(stream))
    with pytest.raises(ndpack.NdpackError) as first:
        next(reader)
    assert (first.value.code, first.value.recoverable, first.value.message_index) == \
        ("TRUNCATED", False, 0)
    with pytest.raises(ndpack.NdpackError) as again:
        next(reader)
    assert again.value is first.value
    # above max_message_bytes: handed out, its array LIMIT_EXCEEDED, then TRUNCATED when the next
    # call skips it
    messages, errors = read_all(io.BytesIO(stream), max_message_bytes=1 << 20)
    assert (messages, errors) == ([], [(0, "LIMIT_EXCEEDED", True), (0, "TRUNCATED", False)])


def test_a_message_longer_than_the_first_read_is_read_whole_as_bytes_arrive(monkeypatch):
    monkeypatch.setattr(_messages, "FIRST_MESSAGE_READ", 100)  # the buffer grows many times
    big = {"x": np.arange(10_000, dtype="f8"), "y": np.arange(77, dtype="u1")}
    stream = stream_of(MIXED[0], (big, {"n": "big"}), MIXED[1])
    messages, errors = read_all(io.BytesIO(stream))
    assert errors == [] and [m[1] for m in messages] == [{"n": 0}, {"n": "big"}, {"n": 1}]
    for name, a in big.items():
        np.testing.assert_array_equal(messages[1][2][name], a)
    stream = stream_of(MIXED[0], (big, {"n": "big"}))
    for keep in (1000, 50_000, len(stream) - 1):
        assert read_all(io.BytesIO(stream[:keep]))[1][-1] == (1, "TRUNCATED", False)


def head_of(header: dict) -> bytes:
    """Preamble and header (no padding) of ``header``, written as ``canonical_header`` writes it."""
    text = reference.canonical_header(header)
    fixed = struct.pack("<HHI", 1, 0, len(text))
    return reference.MAGIC + fixed + struct.pack("<I", zlib.crc32(text, zlib.crc32(fixed))) + text


EMPTY = {"alignment": 64, "checksum": "crc32", "dataLength": 0, "metadata": {}, "arrays": []}


def test_a_stream_ending_inside_the_padding_after_a_header_is_TRUNCATED_not_BAD_PADDING():
    # FORMAT.md §11 "Ending", and §9: step 20 (the length) before step 21 (the padding), even
    # when a padding byte that arrived is not zero; step 19 (GAP) still comes first
    first = stream_of(MIXED[1])
    head = head_of(EMPTY)
    assert len(head) % 64 and len(head) % 64 < 63
    for padding in (b"\x55", b"\x00", b"\x00\x01"):
        assert read_all(io.BytesIO(first + head + padding)) == \
            ([(0, {"n": 1}, {})], [(1, "TRUNCATED", False)])
    with_gap = head_of({**EMPTY, "dataLength": 8})
    assert read_all(io.BytesIO(first + with_gap + b"\x55"))[1] == [(1, "GAP", False)]
    # the whole padding, not zero: BAD_PADDING (the message's length is not known to be right)
    padding = b"\x55" + bytes(-len(head) % 64 - 1)
    assert read_all(io.BytesIO(first + head + padding))[1] == [(1, "BAD_PADDING", False)]


def test_metadata_as_deep_as_max_depth_1000_allows_is_read_not_a_RecursionError():
    # FORMAT.md §7 allows max_depth up to 1000: the header is parsed by the iterative parser
    deep: list = []
    for _ in range(997):
        deep = [deep]  # lists at depths 3 to 1000 (the header object is 1, metadata 2)
    message = head_of({**EMPTY, "alignment": 8, "metadata": {"x": deep}})
    message += bytes(-len(message) % 8)
    text = reference._json_metadata  # compared as text: == on such values recurses too deep

    assert text(ndpack.loads(message, max_depth=1000).metadata, 2) == text({"x": deep}, 2)
    messages, errors = read_all(io.BytesIO(message + stream_of(MIXED[1]) + message),
                                max_depth=1000)
    assert errors == [] and [text(m[1], 2) for m in messages] == \
        [text({"x": deep}, 2), '{"n":1}', text({"x": deep}, 2)]
    assert read_all(io.BytesIO(message), max_depth=999)[1] == [(0, "LIMIT_EXCEEDED", False)]


def test_bytes_after_the_last_message_are_bad_magic_and_an_empty_stream_has_no_messages():
    assert read_all(io.BytesIO(stream_of(MIXED[0]) + b"\n"))[1] == [(1, "BAD_MAGIC", False)]
    assert read_all(io.BytesIO(b"")) == ([], [])


def test_invalid_arguments_and_a_closed_writer():
    with pytest.raises(ndpack.NdpackError) as bad_source:
        ndpack.read_messages(object())
    assert bad_source.value.code == "INVALID_ARGUMENT"
    with pytest.raises(ndpack.NdpackError) as bad_limit:
        ndpack.read_messages(io.BytesIO(b""), max_message_bytes=0)
    assert bad_limit.value.code == "INVALID_ARGUMENT"
    writer = ndpack.MessageWriter(io.BytesIO())
    writer.close()
    with pytest.raises(ndpack.NdpackError) as closed:
        writer.send({})
    assert closed.value.code == "CLOSED"


def test_a_peer_that_closed_its_socket_is_io_error_for_the_writer():
    left, right = socket.socketpair()
    right.close()
    writer = ndpack.MessageWriter(left)
    with pytest.raises(ndpack.NdpackError) as failed:
        for _ in range(100):
            writer.send({"x": np.zeros(1 << 16, "u1")})
    assert failed.value.code == "IO_ERROR"
    with pytest.raises(ndpack.NdpackError) as again:
        writer.send({})
    assert again.value.code == "IO_ERROR"
    left.close()


@pytest.mark.parametrize("case", [c["name"] for c in json.loads((FIXTURES / "index.json").read_text())["streams"]])
def test_stream_vectors(case):
    expected = json.loads((FIXTURES / "streams" / f"{case}.json").read_text())
    messages, errors = read_all(io.BytesIO((FIXTURES / "streams" / f"{case}.ndps").read_bytes()))
    assert [list(e) for e in errors] == [[e["messageIndex"], e["code"], e["recoverable"]] for e in expected["errors"]]
    assert len(messages) == len(expected["messages"])
    for (_, metadata, arrays), name in zip(messages, expected["messages"]):
        want = ndpack.loads((FIXTURES / "valid" / f"{name}.ndp").read_bytes())
        assert metadata == want.metadata
        assert list(arrays) == list(want.keys())
        for key in want:
            assert arrays[key].tobytes() == want[key].tobytes()


# The single-file vectors, each read as a stream of one message, as TypeScript's
# test/stream-vectors.test.ts reads them with decodeStream. A message reader cannot know a file's
# length: a file cut in its data section after non-zero padding behind its header is BAD_PADDING
# (FORMAT.md §9's second latitude), and an array that fails when read fails its message,
# recoverably, the first such array in file order. TRAILING_BYTES vectors are left out: in a stream
# the bytes after a message are the next message, whose outcomes fixtures/streams pin; and an empty
# file, TRUNCATED, is a stream of no messages.
FILE_VECTORS = json.loads((FIXTURES / "index.json").read_text())


def _stream_code(raw: bytes, expected: dict) -> str:
    if expected.get("when") == "read":
        failing = {**expected.get("others", {}), expected["array"]: expected["code"]}
        return failing[next(n for n in ndpack.loads(raw, verify=False).keys() if n in failing)]
    if expected["code"] == "TRUNCATED" and expected["step"] == 20:
        header_end = 20 + struct.unpack_from("<I", raw, 12)[0]
        alignment = json.loads(raw[20:header_end])["alignment"]
        data_start = -(-header_end // alignment) * alignment
        if len(raw) >= data_start and raw[header_end:data_start].strip(b"\0"):
            return "BAD_PADDING"
    return expected["code"]


@pytest.mark.parametrize("case", [c["name"] for c in FILE_VECTORS["valid"]])
def test_valid_file_vectors_as_one_message(case):
    raw = (FIXTURES / "valid" / f"{case}.ndp").read_bytes()
    messages, errors = read_all(io.BytesIO(raw))
    want = ndpack.loads(raw)
    assert errors == [] and len(messages) == 1
    assert list(messages[0][2]) == list(want.keys())
    for key in want:
        assert messages[0][2][key].tobytes() == want[key].tobytes()


@pytest.mark.parametrize("case", [c["name"] for c in FILE_VECTORS["invalid"] if c["code"] != "TRAILING_BYTES"])
def test_invalid_file_vectors_as_one_message(case):
    raw = (FIXTURES / "invalid" / f"{case}.ndp").read_bytes()
    expected = json.loads((FIXTURES / "invalid" / f"{case}.json").read_text())
    messages, errors = read_all(io.BytesIO(raw))
    assert messages == []
    assert errors == ([] if raw == b"" else [(0, _stream_code(raw, expected), expected.get("when") == "read")])
