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
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ndpack  # noqa: E402
from message_cases import case_message, case_mismatch  # noqa: E402


def main() -> None:
    port, mode, args = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
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
