"""The Python end of the message-stream tests (test/messages-tcp.test.ts): connects to a Node
server on 127.0.0.1 and produces or consumes a stream of messages with ``ndpack``.

Usage: python3 messages-peer.py PORT MODE [ARGS]
  produce N [PIECE]  sends messages 0..N-1 of message_cases.py, then ends the stream; with PIECE,
                     the stream goes out in sends of 1 to PIECE bytes, TCP_NODELAY set
  huge               sends one int32 array "ramp" of 2^26 elements (256 MiB), values 0, 1, 2, ...,
                     then message 1 of the cases
  hang N             sends messages 0..N-1 and the first half of message N, prints "ready" and
                     waits to be killed
  consume            reads messages until the stream ends; prints a JSON report
  cuts SPLIT ENDS    reads the messages of SPLIT (0 or 1) connections whose every read is
                     acknowledged (the bytes received so far, 8 bytes little-endian, go back to the
                     server, which sends its next piece only then, so each piece is read apart),
                     then of ENDS more connections, one after another, each to its end; prints one
                     JSON line per connection: its messages' digests and the error that ended it
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import struct
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndpack  # noqa: E402
from message_cases import case_message, case_mismatch  # noqa: E402


class AckingSocket(socket.socket):
    """A socket (read_messages takes its socket path) that tells its peer, after each read, how
    many bytes it has received in all."""

    received = 0

    def recv_into(self, buffer, nbytes=0, flags=0):
        n = super().recv_into(buffer, nbytes, flags)
        self.received += n
        if n:
            self.sendall(struct.pack("<Q", self.received))
        return n


def digest(message) -> str:
    """``k|name:dtype:shape:sha1|...`` of a message of the cuts test (message-cuts in
    messages-tcp.test.ts computes the same)."""
    parts = [str(message.metadata["k"])]
    for name in message.keys():
        a = message[name]
        shape = ",".join(str(d) for d in a.shape)
        parts.append(f"{name}:{a.dtype}:{shape}:{hashlib.sha1(a.tobytes()).hexdigest()}")
    return "|".join(parts)


def read_cuts(sock) -> dict:
    """The digests of a connection's messages (each distinct one once, and the sequence of their
    indices) and the error that ended the stream."""
    kinds: dict[str, int] = {}
    sequence = []
    error = None
    try:
        for message in ndpack.read_messages(sock):
            sequence.append(kinds.setdefault(digest(message), len(kinds)))
    except ndpack.NdpackError as ex:
        error = {"code": ex.code, "recoverable": ex.recoverable, "messageIndex": ex.message_index}
    return {"kinds": list(kinds), "sequence": sequence, "error": error}


def main() -> None:
    port, mode, args = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
    if mode == "cuts":
        for k in range(int(args[0]) + int(args[1])):
            with socket.create_connection(("127.0.0.1", port)) as plain:
                sock = AckingSocket(fileno=plain.detach()) if k < int(args[0]) else plain
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # each ack at once
                with sock:
                    print(json.dumps(read_cuts(sock)), flush=True)
        return
    sock = socket.create_connection(("127.0.0.1", port))
    if mode == "produce":
        count = int(args[0])
        if len(args) > 1:
            piece = int(args[1])
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            stream = b"".join(ndpack.dumps(case_message(i), metadata={"i": i}) for i in range(count))
            at, k = 0, 0
            while at < len(stream):
                size = 1 + (k * 37) % piece
                sock.sendall(stream[at : at + size])
                at, k = at + size, k + 1
            sock.shutdown(socket.SHUT_WR)
        else:
            with ndpack.MessageWriter(sock) as writer:
                for i in range(count):
                    writer.send(case_message(i), metadata={"i": i})
    elif mode == "huge":
        with ndpack.MessageWriter(sock) as writer:
            writer.send({"ramp": np.arange(1 << 26, dtype="<i4")}, metadata={"i": 0})
            writer.send(case_message(1), metadata={"i": 1})
    elif mode == "hang":
        count = int(args[0])
        writer = ndpack.MessageWriter(sock)
        for i in range(count):
            writer.send(case_message(i), metadata={"i": i})
        partial = ndpack.dumps(case_message(count), metadata={"i": count})
        sock.sendall(partial[: len(partial) // 2])
        print("ready", flush=True)
        time.sleep(600)
    elif mode == "consume":
        report = {"count": 0, "mismatches": [], "error": None}
        try:
            for message in ndpack.read_messages(sock):
                problem = case_mismatch(message.index, message)
                if problem is not None:
                    report["mismatches"].append(problem)
                report["count"] += 1
        except ndpack.NdpackError as error:
            report["error"] = {"code": error.code, "message": str(error),
                               "recoverable": error.recoverable,
                               "messageIndex": error.message_index}
        print(json.dumps(report), flush=True)
    else:
        raise SystemExit(f"unknown mode {mode}")
    sock.close()


if __name__ == "__main__":
    main()
