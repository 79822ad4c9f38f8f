"""Message streams (FORMAT.md section 11): many ndpack files, one after another, over one
socket or binary file.

A stream of messages is the concatenation of complete ndpack files, with no bytes of its own: each
file's header says where it ends, so the next one starts there. ``read_messages`` reads message
after message (section 9 steps 1 to 21 on each header before any of its payload is read, then step
22 on every array unless ``verify=False``); ``MessageWriter`` sends them, each exactly the bytes
``dumps`` gives.

>>> with socket.create_connection(("127.0.0.1", port)) as sock:
...     writer = ndpack.MessageWriter(sock)
...     writer.send({"frame": frame}, metadata={"t": 1})
...     writer.close()                       # ends the stream at a message boundary
>>> for message in ndpack.read_messages(conn):  # each message an NdpackFile
...     message.index, message.metadata, message["frame"]

Errors are ``NdpackError`` with ``message_index`` and ``recoverable``: ``True`` when the message's
header was valid, so its length is known (CHECKSUM, BAD_PADDING); errors of a message's arrays when
they are read (CODEC_ERROR, LIMIT_EXCEEDED for ``max_decoded_bytes``) are recoverable too: catch it
and keep iterating. A message longer than ``max_message_bytes`` is handed out as soon as its header
has been read, with its header (``metadata``, names, ``info``) and no payload byte read: reading
any of its arrays (or ``verify()``) is LIMIT_EXCEEDED, recoverable, and the next message asked for
skips it (TRUNCATED when the stream ends inside it), as TypeScript's ``decodeMessages`` does: the
error comes where the caller reads arrays, and a peer that stalls inside such a message does not
hold ``next()`` back.
``False`` when the stream is over: it ended inside a message (TRUNCATED), a header is bad, or the
source failed or was closed (IO_ERROR); the reader then raises the same error again."""

from __future__ import annotations

import io
import socket
import struct

from . import reference
from .reference import NdpackError

#: Messages smaller than this are joined and sent with one call; larger ones chunk by chunk.
ONE_SEND_BYTES = 256 * 1024
#: Bytes of a message read (and allocated) at first; the buffer then doubles as bytes arrive.
FIRST_MESSAGE_READ = 16 * 1024 * 1024
#: Bytes of a header read (and allocated) at first; the buffer then doubles as bytes arrive.
FIRST_HEAD_READ = 64 * 1024


class _Source:
    """Exact-length reads from a socket (``recv_into``) or a binary file object (``readinto``)."""

    def __init__(self, source):
        if isinstance(source, socket.socket):
            self._read_into = source.recv_into
        elif hasattr(source, "readinto"):
            self._read_into = source.readinto
        else:
            raise NdpackError("INVALID_ARGUMENT", "source must be a socket or a binary file object "
                              "with readinto")
        self.consumed = 0

    def read_into(self, view: memoryview) -> int:
        """Fill ``view``; returns how many bytes were read, fewer only when the source has ended."""
        filled = 0
        while filled < len(view):
            try:
                n = self._read_into(view[filled:])
            except (OSError, ValueError) as ex:  # ValueError: a closed file object
                raise NdpackError("IO_ERROR", f"the stream failed: {ex}") from ex
            if n is None:  # a non-blocking raw file with nothing to read: not the end
                raise NdpackError("IO_ERROR", "the source is non-blocking and has no data ready")
            if not n:
                break
            filled += n
        self.consumed += filled
        return filled

    def read(self, length: int) -> bytes:
        """The next ``length`` bytes, fewer only when the source ends first. The buffer grows as
        bytes arrive (from FIRST_HEAD_READ, doubling): a preamble that claims a header of 100 MiB
        and sends nothing more allocates 64 KiB, not what it claims."""
        buf = bytearray()
        while len(buf) < length:
            start = len(buf)
            buf += bytes(min(length - start, max(start, FIRST_HEAD_READ)))
            with memoryview(buf) as view, view[start:] as part:
                got = self.read_into(part)
            if start + got < len(buf):  # the source has ended
                del buf[start + got:]
                break
        return bytes(buf)


def _peek_lengths(header: bytes, limits: dict):
    """``alignment`` and ``dataLength`` from a header's text when they are usable, else None: they
    say how many more bytes to read before steps 1 to 21 can run on the whole head of the message.
    The reference's checks decide; this only avoids reading past the head. The header is parsed by
    the reference's parser of section 2.1 (iterative: metadata as deep as ``max_depth`` allows,
    1000 levels, is read, where ``json.loads`` would end in a RecursionError)."""
    try:
        h = reference._parse_header_json(header, limits["max_depth"], limits["max_header_nodes"])
        alignment, data_length = h["alignment"], h["dataLength"]
    except (NdpackError, KeyError):  # reported by the reference's checks
        return None
    if type(alignment) is not int or type(data_length) is not int \
            or not 8 <= alignment <= 65536 or alignment & (alignment - 1):
        return None
    return alignment, data_length


def _annotate(error: NdpackError, index: int, recoverable: bool) -> NdpackError:
    """``error`` as the stream reports it: of the same class (a NOT_FOUND stays a KeyError), with
    the message's index and whether the reader can go on."""
    annotated = type(error)(error.code, f"message {index}: {error.message}", array=error.array)
    annotated.message_index = index
    annotated.recoverable = recoverable
    annotated.__cause__ = error
    return annotated


class _Message(reference.NdpackFile):
    """A message: an ``NdpackFile`` whose arrays' errors (CODEC_ERROR, LIMIT_EXCEEDED for
    ``max_decoded_bytes``, CHECKSUM of ``read(verify=True)``) carry its ``index``, recoverable:
    the whole message has been read, so the stream goes on (as TypeScript's messages do)."""

    def read(self, name: str, **options):
        try:
            return super().read(name, **options)
        except NdpackError as error:
            raise _annotate(error, self.index, True) from None


class _RefusedMessage(_Message):
    """A message longer than ``max_message_bytes``: its header (``metadata``, names, ``info``,
    ``size``...) parsed from the bytes before its data section, which stays unread (the reader
    skips it when the next message is asked for); reading any of its arrays is LIMIT_EXCEEDED,
    recoverable."""

    def __init__(self, head: bytes, size: int, index: int, limits: dict, max_message_bytes: int):
        # The same parse as NdpackFile's, of the head alone: steps 1 to 21 passed already.
        h, minor, entries, data_start, _ = reference._parse(head, limits, size=size)
        self._buf = self._mmap = None  # no data section: nothing to read
        self._copy, self._raw_bits, self._limits = None, False, limits
        self._header, self._entries, self._index = h, entries, entries.positions
        self.version, self.metadata = (1, minor), h["metadata"]
        self.alignment, self.checksum = h["alignment"], h["checksum"]
        self.size, self.data_start, self.index = size, data_start, index
        self._refusal = NdpackError("LIMIT_EXCEEDED", f"message is {size} bytes, more than "
                                    f"max_message_bytes={max_message_bytes}; raise it to read it")

    def read(self, name: str, **options):
        self.info(name)  # NOT_FOUND first
        raise _annotate(self._refusal, self.index, True)

    def verify(self) -> list[dict]:
        raise _annotate(self._refusal, self.index, True)


class MessageReader:
    """Iterates the messages of a stream; see ``read_messages``. Attributes: ``bytes_read``,
    ``messages_read``."""

    def __init__(self, source, *, verify=True, copy=None, raw_bits=False, max_message_bytes=None,
                 **limits):
        if max_message_bytes is not None and (type(max_message_bytes) is not int
                                              or max_message_bytes < 1):
            raise NdpackError("INVALID_ARGUMENT", "max_message_bytes must be a positive integer")
        self._source = _Source(source)
        self._limits = reference._check_limits(limits, "read_messages", (
            "verify", "copy", "raw_bits", "max_message_bytes"))
        reference.check_flag(verify, "verify")
        reference.check_flag(copy, "copy", none=True)
        reference.check_flag(raw_bits, "raw_bits")
        self._file_options = {"verify": verify, "copy": copy, "raw_bits": raw_bits,
                              **limits}
        self._max_message_bytes = max_message_bytes
        #: (index, bytes) of a message above max_message_bytes, skipped by the next call.
        self._skip_pending: tuple[int, int] | None = None
        self._fatal: NdpackError | None = None
        self._done = False
        self.messages_read = 0

    @property
    def bytes_read(self) -> int:
        return self._source.consumed

    def __iter__(self):
        return self

    def _fail(self, error: NdpackError, index: int, recoverable: bool) -> NdpackError:
        annotated = _annotate(error, index, recoverable)
        if not recoverable:
            self._fatal = annotated
        return annotated

    def __next__(self) -> reference.NdpackFile:
        if self._fatal is not None:
            raise self._fatal
        if self._done:
            raise StopIteration
        if self._skip_pending is not None:
            skipped, length = self._skip_pending
            self._skip_pending = None
            try:
                whole = self._skip(length)
            except NdpackError as error:
                raise self._fail(error, skipped, False) from None
            if not whole:
                error = NdpackError("TRUNCATED", "the stream ends inside the message")
                raise self._fail(error, skipped, False) from None
        index = self.messages_read
        try:
            head = self._read_head()
        except NdpackError as error:
            raise self._fail(error, index, False) from None
        if head is None:
            self._done = True
            raise StopIteration
        self.messages_read += 1
        total = len(head[0]) + head[1]
        if self._max_message_bytes is not None and total > self._max_message_bytes:
            # Handed out before any payload byte is read (FORMAT.md section 11), its arrays
            # refused; the next call skips its data section.
            self._skip_pending = index, head[1]
            message = _RefusedMessage(head[0], total, index, self._limits, self._max_message_bytes)
            if len(message) == 0:
                # No array to refuse: the error is reported here, or never (TypeScript's message
                # refuses the first iteration over its arrays, none or not).
                raise _annotate(message._refusal, index, True)
            return message
        try:
            buf = self._read_message(head[0], total)
        except NdpackError as error:  # the source failed inside the message: the stream is over
            raise self._fail(error, index, False) from None
        if len(buf) < total:
            error = NdpackError("TRUNCATED", f"the stream ends {total - len(buf)} bytes before "
                                "the end of the message")
            raise self._fail(error, index, False) from None
        try:
            message = _Message(buf, **self._file_options)
        except NdpackError as error:  # steps 22 and 23: the whole message has been read
            raise self._fail(error, index, True) from None
        message.index = index
        return message

    def _read_message(self, head: bytes, total: int) -> bytearray:
        """The message whose first bytes are ``head``, ``total`` bytes long, or fewer when the
        stream ends first. The buffer grows as bytes arrive (by FIRST_MESSAGE_READ, then doubling),
        so a header that claims more than the stream holds allocates no more than twice what came,
        never the size it claims."""
        buf = bytearray(head)
        while len(buf) < total:
            start = len(buf)
            buf.extend(bytes(min(total - start, max(start, FIRST_MESSAGE_READ))))
            with memoryview(buf) as view, view[start:] as part:
                got = self._source.read_into(part)
            if start + got < len(buf):  # the stream has ended
                del buf[start + got:]
                break
        return buf

    def _skip(self, length: int) -> bool:
        """Read and drop ``length`` bytes, a megabyte at a time; False when the stream ends first."""
        scratch = memoryview(bytearray(min(length, 1 << 20)))
        while length > 0:
            n = self._source.read_into(scratch[: min(length, len(scratch))])
            if n == 0:
                return False
            length -= n
        return True

    def _read_head(self):
        """Steps 1 to 21 of the next message, reading only its preamble, header and padding:
        ``(head bytes, data section length)``, or None at a clean end of the stream."""
        source, limits = self._source, self._limits
        preamble = source.read(reference.PREAMBLE_SIZE)
        if not preamble:
            return None
        if len(preamble) < reference.PREAMBLE_SIZE:
            reference._parse(preamble, limits)  # BAD_MAGIC or TRUNCATED
        major, _minor, header_length = struct.unpack_from("<HHI", preamble, 8)
        if preamble[:8] != reference.MAGIC or major != 1 \
                or header_length > limits["max_header_bytes"]:
            reference._parse(preamble, limits, size=reference.PREAMBLE_SIZE + header_length)
        header = source.read(header_length)
        head = preamble + header
        lengths = _peek_lengths(header, limits) if len(header) == header_length else None
        if lengths is None:
            reference._parse(head, limits)  # raises: the header is short or not valid
            raise NdpackError("HEADER_INVALID", "the header's alignment or dataLength is unusable")
        alignment, data_length = lengths
        data_start = reference._align_up(len(head), alignment)
        padding = source.read(data_start - len(head))
        if len(head) + len(padding) < data_start:
            # The stream ends inside the padding: steps 1 to 19 on the header (the padding that
            # arrived is not looked at), then step 20, TRUNCATED, which comes before step 21's
            # BAD_PADDING (FORMAT.md sections 9 and 11).
            reference._parse(head + bytes(data_start - len(head)), limits,
                             size=data_start + data_length)
            raise NdpackError("TRUNCATED", "the stream ends inside the padding after the header")
        head += padding
        reference._parse(head, limits, size=data_start + data_length)
        return head, data_length


def read_messages(source, **options) -> MessageReader:
    """The messages of ``source`` (a socket or a binary file object), one ``NdpackFile`` each, with
    its ``index``; arrays are views of the message's own memory. Options: ``verify`` (default
    True: every CRC-32 and padding byte, section 9 step 22), ``copy``, ``raw_bits`` and the limits
    of ``ndpack.reference`` (each applies to each message), ``max_message_bytes``. The stream ends
    cleanly only between two messages."""
    return MessageReader(source, **options)


class MessageWriter:
    """Sends ndpack messages, one after another, to a socket (``send``) or a binary file object
    (``write``). ``send(arrays, **options)`` takes the arguments of ``dumps``; ``close()`` ends the
    stream (a socket's sending side is shut down, a file flushed). Blocking writes are the
    back-pressure: a slow reader makes ``send`` wait. Errors: IO_ERROR when the target fails (or is
    non-blocking and full, or is a socket closed already), CLOSED when the writer or a target file
    object was closed; every later ``send`` raises the same error
    (the stream may have stopped inside a message). Attributes: ``messages_sent``,
    ``bytes_sent`` (the bytes the target took, also when a message failed part-way)."""

    def __init__(self, target):
        if isinstance(target, socket.socket):
            self._write = target.send
        elif isinstance(target, io.RawIOBase):
            self._write = target.write  # may take part of a buffer, or none (None) when non-blocking
        elif hasattr(target, "write"):
            # Buffered and other file objects write everything; many return None (paramiko's SFTP file).
            self._write = lambda chunk: (target.write(chunk), len(chunk))[1]
        else:
            raise NdpackError("INVALID_ARGUMENT", "target must be a socket or a writable binary "
                              "file object")
        self._target = target
        self._closed = False
        self._broken: NdpackError | None = None
        self.messages_sent = 0
        self.bytes_sent = 0

    def send(self, arrays, **options) -> None:
        if self._closed:
            raise NdpackError("CLOSED", "the message writer is closed")
        if self._broken is not None:
            raise self._broken
        chunks = reference._encode(arrays, **options)
        size = sum(len(memoryview(c).cast("B")) for c in chunks)
        try:
            if size < ONE_SEND_BYTES:
                self._write_all(b"".join(chunks))
            else:
                for chunk in chunks:
                    self._write_all(chunk)
        except NdpackError as ex:
            self._broken = ex
            raise
        except ValueError as ex:  # a closed file object
            self._broken = NdpackError("CLOSED", "the message target was closed")
            raise self._broken from ex
        except OSError as ex:
            self._broken = NdpackError("IO_ERROR", f"cannot write to the message target: {ex}")
            raise self._broken from ex
        self.messages_sent += 1

    def _write_all(self, chunk) -> None:
        """Writes all of ``chunk``: ``send`` and a raw file's ``write`` (a socket's ``makefile``
        without buffering, when the socket has a timeout) may take only part of it."""
        with memoryview(chunk) as view, view.cast("B") as rest:
            while rest:
                n = self._write(rest)
                if n is None:  # a non-blocking raw file that is full: the rest cannot wait here
                    raise NdpackError("IO_ERROR", "cannot write to the message target: it is "
                                      "non-blocking and full")
                self.bytes_sent += n
                rest = rest[n:]

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if isinstance(self._target, socket.socket):
                self._target.shutdown(socket.SHUT_WR)
            elif hasattr(self._target, "flush"):
                self._target.flush()
        except ValueError as ex:  # a closed file object
            raise NdpackError("CLOSED", "the message target was closed") from ex
        except OSError as ex:
            raise NdpackError("IO_ERROR", f"cannot end the message stream: {ex}") from ex

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
