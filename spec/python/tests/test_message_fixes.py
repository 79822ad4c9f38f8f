"""Message streams (FORMAT.md section 11), as TypeScript's decodeMessages and createMessageWriter
behave: a source failing inside a message ends the stream with the same error on every later call;
a message above ``max_message_bytes`` is handed out as soon as its header has been read, before any
payload byte, its arrays refused (LIMIT_EXCEEDED, recoverable) and skipped by the next call;
short writes of a raw file object are written again until the whole message has gone; errors of a
message's arrays carry its index; a closed file object is an NdpackError. Timeouts here only keep
a broken implementation from hanging the run."""

from __future__ import annotations

import io
import socket
import threading

import numpy as np
import pytest

import ndpack

#: Generous: long enough for any machine, short enough that a hang fails the test.
HANG = 20


def test_a_source_failing_inside_a_payload_ends_the_stream_with_the_same_error():
    one = ndpack.dumps({"a": np.arange(1000, dtype="<f4")})
    left, right = socket.socketpair()
    resume = threading.Event()
    # Sent before the reader starts: from the peer's thread, message 0 could come later than the
    # reader's 0.2 s timeout on a busy machine.
    left.sendall(one + one[:600])  # message 1 stops inside its payload

    def peer():
        resume.wait(HANG)
        left.sendall(one[600:] + one)
        left.close()

    thread = threading.Thread(target=peer)
    thread.start()
    try:
        right.settimeout(0.2)  # the failure: a timeout while message 1's payload is awaited
        reader = ndpack.read_messages(right)
        assert next(reader).index == 0
        with pytest.raises(ndpack.NdpackError) as first:
            next(reader)
        assert (first.value.code, first.value.message_index, first.value.recoverable) == \
            ("IO_ERROR", 1, False)
        resume.set()
        right.settimeout(HANG)
        with pytest.raises(ndpack.NdpackError) as again:  # not the middle of message 1 as message 2
            next(reader)
        assert again.value is first.value
    finally:
        resume.set()
        thread.join(HANG)
        right.close()


def test_a_source_failing_while_a_message_is_skipped_ends_the_stream():
    # the skip of a message above max_message_bytes fails: IO_ERROR of that message, for good
    big = ndpack.dumps({"b": np.zeros(10_000, "u1")})
    left, right = socket.socketpair()
    with left, right:
        left.sendall(big[:5000])
        right.settimeout(0.2)
        reader = ndpack.read_messages(right, max_message_bytes=1000)
        message = next(reader)
        with pytest.raises(ndpack.NdpackError) as limit:
            message["b"]
        assert (limit.value.code, limit.value.message_index, limit.value.recoverable) == \
            ("LIMIT_EXCEEDED", 0, True)
        with pytest.raises(ndpack.NdpackError) as failed:
            next(reader)
        assert (failed.value.code, failed.value.message_index, failed.value.recoverable) == \
            ("IO_ERROR", 0, False)
        with pytest.raises(ndpack.NdpackError) as again:
            next(reader)
        assert again.value is failed.value


def test_a_message_above_max_message_bytes_comes_before_any_payload_byte_from_a_stalled_peer():
    big = ndpack.dumps({"x": np.zeros(4 << 20, "u1")})
    small = ndpack.dumps({"y": np.arange(3, dtype="u1")})
    head = ndpack.loads(big).data_start
    left, right = socket.socketpair()
    resume = threading.Event()

    def peer():
        left.sendall(big[: head + 100])  # then stalls inside the message, the socket still open
        resume.wait(HANG)
        left.sendall(big[head + 100:] + small)
        left.close()

    thread = threading.Thread(target=peer)
    thread.start()
    try:
        right.settimeout(HANG)  # without the fix, the reader waits here for the stalled peer
        reader = ndpack.read_messages(right, max_message_bytes=1 << 20)
        refused = next(reader)
        assert reader.bytes_read == head  # the preamble, header and padding only
        assert (refused.index, list(refused), refused.size) == (0, ["x"], len(big))
        with pytest.raises(ndpack.NdpackError) as limit:
            refused["x"]
        assert (limit.value.code, limit.value.message_index, limit.value.recoverable) == \
            ("LIMIT_EXCEEDED", 0, True)
        assert reader.bytes_read == head
        resume.set()
        message = next(reader)  # skips the rest of message 0 first
        assert message.index == 1 and message["y"].tolist() == [0, 1, 2]
        with pytest.raises(StopIteration):
            next(reader)
        assert reader.bytes_read == len(big) + len(small)
    finally:
        resume.set()
        thread.join(HANG)
        right.close()


def test_a_stream_ending_inside_a_message_above_max_message_bytes_is_truncated_at_the_next_call():
    big = ndpack.dumps({"x": np.zeros(100_000, "u1")})
    reader = ndpack.read_messages(io.BytesIO(big[:50_000]), max_message_bytes=1000)
    assert list(next(reader)) == ["x"]
    with pytest.raises(ndpack.NdpackError) as truncated:
        next(reader)
    assert (truncated.value.code, truncated.value.message_index, truncated.value.recoverable) == \
        ("TRUNCATED", 0, False)
    with pytest.raises(ndpack.NdpackError) as again:
        next(reader)
    assert again.value is truncated.value


def test_a_raw_socket_file_that_writes_part_of_a_buffer_gets_the_rest_written():
    left, right = socket.socketpair()
    left.settimeout(HANG)  # a socket with a timeout: SocketIO.write may send part of a buffer
    raw = left.makefile("wb", buffering=0)
    frames = [np.full(4 << 20, i, dtype="u1") for i in range(3)]
    got: dict = {}

    def consume():
        try:
            got["messages"] = [m["x"].copy() for m in ndpack.read_messages(right)]
        except ndpack.NdpackError as error:
            got["error"] = error

    thread = threading.Thread(target=consume)
    thread.start()
    try:
        writer = ndpack.MessageWriter(raw)
        for frame in frames:
            writer.send({"x": frame})
        left.shutdown(socket.SHUT_WR)
        thread.join(HANG)
    finally:
        raw.close()
        left.close()
        thread.join(HANG)
        right.close()
    assert "error" not in got
    assert len(got["messages"]) == 3
    for received, frame in zip(got["messages"], frames):
        np.testing.assert_array_equal(received, frame)
    assert writer.bytes_sent == 3 * len(ndpack.dumps({"x": frames[0]}))


class Trickle(io.RawIOBase):
    """A raw binary file that takes at most ``step`` bytes a call, then returns None (would block,
    as a non-blocking raw file does) once it holds ``room`` bytes."""

    def __init__(self, step: int, room: int = 1 << 40):
        self.data, self.step, self.room = bytearray(), step, room

    def writable(self):
        return True

    def write(self, b):
        n = min(len(b), self.step, self.room - len(self.data))
        if n == 0:
            return None
        self.data += memoryview(b)[:n]
        return n


def test_short_writes_are_written_again_and_would_block_is_io_error_with_bytes_sent_exact():
    messages = [({"a": np.arange(100, dtype="<i8")}, {"n": 0}),
                ({"big": np.arange(1 << 17, dtype="<f4")}, {"n": 1})]  # chunk by chunk
    target = Trickle(step=1000)
    writer = ndpack.MessageWriter(target)
    for arrays, metadata in messages:
        writer.send(arrays, metadata=metadata)
    expected = b"".join(ndpack.dumps(arrays, metadata=metadata) for arrays, metadata in messages)
    assert bytes(target.data) == expected
    assert (writer.messages_sent, writer.bytes_sent) == (2, len(expected))

    full = Trickle(step=1000, room=2500)
    writer = ndpack.MessageWriter(full)
    with pytest.raises(ndpack.NdpackError) as failed:
        writer.send(*messages[1][:1])
    assert failed.value.code == "IO_ERROR"
    assert (writer.messages_sent, writer.bytes_sent) == (0, 2500)
    with pytest.raises(ndpack.NdpackError) as again:
        writer.send({})
    assert again.value is failed.value


def test_a_non_blocking_raw_source_with_no_data_is_io_error_not_the_end_of_the_stream():
    left, right = socket.socketpair()
    with left, right:
        left.sendall(ndpack.dumps({"a": np.arange(3, dtype="u1")}))
        right.setblocking(False)
        raw = right.makefile("rb", buffering=0)  # readinto returns None when nothing is ready
        reader = ndpack.read_messages(raw)
        assert next(reader)["a"].tolist() == [0, 1, 2]
        with pytest.raises(ndpack.NdpackError) as failed:
            next(reader)
        assert (failed.value.code, failed.value.message_index, failed.value.recoverable) == \
            ("IO_ERROR", 1, False)
        raw.close()


def corrupt_deflate_then_valid() -> bytes:
    """A message whose deflate payload is damaged (checksum "none": no CRC catches it), then a
    valid one, as /tmp codec-parity.mts builds them for TypeScript."""
    bad = bytearray(ndpack.dumps({"x": np.full(1000, 3, "u1")}, codec="deflate",
                                 checksum="none"))
    bad[-5] ^= 0xFF
    return bytes(bad) + ndpack.dumps({"y": np.zeros(4, "u1")})


@pytest.mark.parametrize("options, code", [({}, "CODEC_ERROR"),
                                           ({"max_decoded_bytes": 500}, "LIMIT_EXCEEDED")])
def test_errors_of_a_messages_arrays_carry_its_index_and_are_recoverable(options, code):
    reader = ndpack.read_messages(io.BytesIO(corrupt_deflate_then_valid()), **options)
    message = next(reader)
    with pytest.raises(ndpack.NdpackError) as failed:
        message["x"]
    assert (failed.value.code, failed.value.message_index, failed.value.recoverable) == \
        (code, 0, True)
    assert failed.value.array == "x"
    assert message.get("missing") is None  # NOT_FOUND is still a KeyError
    assert next(reader)["y"].tolist() == [0, 0, 0, 0]  # the stream goes on


def test_a_checksum_found_when_an_array_is_read_carries_the_message_index():
    damaged = bytearray(ndpack.dumps({"a": np.arange(9, dtype="u1")}))
    damaged[-4 - 3] ^= 0x10
    stream = ndpack.dumps({}) + bytes(damaged)
    reader = ndpack.read_messages(io.BytesIO(stream), verify=False)
    next(reader)
    message = next(reader)
    with pytest.raises(ndpack.NdpackError) as failed:
        message.read("a", verify=True)
    assert (failed.value.code, failed.value.message_index, failed.value.recoverable) == \
        ("CHECKSUM", 1, True)
    assert [r["error"]["code"] for r in message.verify()] == ["CHECKSUM"]


def test_a_closed_file_object_is_io_error_as_source_and_closed_as_target():
    stream = ndpack.dumps({"a": np.arange(3, dtype="u1")}) * 2
    source = io.BytesIO(stream)
    reader = ndpack.read_messages(source)
    next(reader)
    source.close()
    with pytest.raises(ndpack.NdpackError) as failed:
        next(reader)
    assert (failed.value.code, failed.value.message_index, failed.value.recoverable) == \
        ("IO_ERROR", 1, False)
    with pytest.raises(ndpack.NdpackError) as again:
        next(reader)
    assert again.value is failed.value

    target = io.BytesIO()
    target.close()
    writer = ndpack.MessageWriter(target)
    with pytest.raises(ndpack.NdpackError) as closed:
        writer.send({"a": np.arange(3)})
    assert closed.value.code == "CLOSED"
    with pytest.raises(ndpack.NdpackError) as again:
        writer.send({})
    assert again.value is closed.value
    with pytest.raises(ndpack.NdpackError) as ending:
        writer.close()
    assert ending.value.code == "CLOSED"


def test_a_message_of_no_arrays_above_max_message_bytes_is_reported_not_passed_over():
    # Its header alone is over the bound (long metadata): with no array to refuse, the reader
    # reports LIMIT_EXCEEDED for it, recoverable, and goes on with the next message.
    big = ndpack.dumps({}, metadata={"notes": "x" * 5000})
    small = ndpack.dumps({"y": np.arange(3, dtype="u1")})
    reader = ndpack.read_messages(io.BytesIO(big + small), max_message_bytes=1000)
    with pytest.raises(ndpack.NdpackError) as refused:
        next(reader)
    assert (refused.value.code, refused.value.message_index, refused.value.recoverable) == \
        ("LIMIT_EXCEEDED", 0, True)
    message = next(reader)
    assert message.index == 1 and list(message["y"]) == [0, 1, 2]
    with pytest.raises(StopIteration):
        next(reader)


def test_a_file_object_whose_write_returns_none_after_writing_everything_is_not_an_error():
    # Buffered and other file objects write all they are given; many return None (paramiko's
    # SFTPFile): only raw files and sockets take part of a buffer.
    class Sink:
        def __init__(self):
            self.parts = []

        def write(self, chunk):
            self.parts.append(bytes(chunk))

    sink = Sink()
    writer = ndpack.MessageWriter(sink)
    writer.send({"x": np.arange(4)})
    sent = b"".join(sink.parts)
    assert writer.bytes_sent == len(sent) == len(ndpack.dumps({"x": np.arange(4)}))
