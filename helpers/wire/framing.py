"""Framing: where one message ends in a TCP byte stream.

TCP delivers bytes, not messages: one ``send`` may arrive as several ``recv``
results and two sends as one. A protocol must mark message boundaries itself.
Two common ways, as pure functions (bytes in, values out, no sockets):

- by delimiter: every message ends with a byte string that never occurs
  inside a message (a newline for text lines, as in SMTP or HTTP headers);
- by length prefix: every message starts with its length as a fixed-size
  unsigned integer in network byte order (big-endian, ``struct`` format
  ``"!I"``, 4 bytes), so a message may contain any bytes at all.

>>> frame_prefixed(b"hi")
b'\\x00\\x00\\x00\\x02hi'
>>> decoder = PrefixedDecoder()
>>> decoder.feed(b"\\x00\\x00")
[]
>>> decoder.feed(b"\\x00\\x02hi\\x00")
[b'hi']
>>> decoder.pending
b'\\x00'

The decoders accept chunks of any size, split anywhere, which is exactly what
``recv`` hands out; a socket loop only feeds them what arrives.

A decoder that meets bad framing (a length over ``max_size``, a line longer
than ``max_size``) first returns the whole messages before it; the next
``feed`` call (``feed(b"")`` will do) raises ``FramingError``. So a server can
answer every good request before it reports the bad one.
"""

from __future__ import annotations

import struct

__all__ = [
    "DEFAULT_MAX_SIZE",
    "PREFIX",
    "DelimitedDecoder",
    "FramingError",
    "PrefixedDecoder",
    "frame_delimited",
    "frame_prefixed",
    "unframe_delimited",
    "unframe_prefixed",
]

# "!" = network byte order (big-endian), "I" = unsigned 32-bit integer.
PREFIX = struct.Struct("!I")
# A peer can announce any length up to 4 GiB; refusing absurd sizes up front
# keeps one bad client from making a server buffer gigabytes.
DEFAULT_MAX_SIZE = 16 * 1024 * 1024


class FramingError(ValueError):
    """The bytes do not form valid frames (or a message cannot be framed)."""


def frame_delimited(message: bytes, delimiter: bytes = b"\n") -> bytes:
    """``message`` followed by ``delimiter``; refuses a message that contains it.

    A message holding the delimiter would be read back as two messages, so the
    sender must escape it or choose length-prefix framing instead.
    """
    if not delimiter:
        raise FramingError("the delimiter must not be empty")
    if delimiter in message:
        raise FramingError(f"the message contains the delimiter {delimiter!r}")
    return message + delimiter


def frame_prefixed(message: bytes) -> bytes:
    """``message`` preceded by its length as 4 bytes in network byte order."""
    if len(message) > 0xFFFFFFFF:
        raise FramingError("a message longer than 4 GiB does not fit a 4-byte prefix")
    return PREFIX.pack(len(message)) + message


class DelimitedDecoder:
    """Incremental decoder for delimiter-framed messages.

    ``feed(chunk)`` returns the messages (without their delimiter) completed by
    this chunk; bytes of an unfinished message stay in ``pending``.
    """

    def __init__(self, delimiter: bytes = b"\n", max_size: int = DEFAULT_MAX_SIZE) -> None:
        if not delimiter:
            raise FramingError("the delimiter must not be empty")
        self.delimiter = delimiter
        self.max_size = max_size
        self._buffer = bytearray()

    @property
    def pending(self) -> bytes:
        """Bytes received that do not yet end with a delimiter."""
        return bytes(self._buffer)

    def feed(self, chunk: bytes) -> list[bytes]:
        # Search only where a delimiter can newly appear: the tail that
        # overlaps the old buffer plus the chunk, so feeding byte by byte stays
        # linear instead of rescanning the whole buffer each time.
        start = max(0, len(self._buffer) - len(self.delimiter) + 1)
        self._buffer += chunk
        messages: list[bytes] = []
        while (end := self._buffer.find(self.delimiter, start)) != -1:
            if end > self.max_size:
                break
            messages.append(bytes(self._buffer[:end]))
            del self._buffer[: end + len(self.delimiter)]
            start = 0
        if len(self._buffer) > self.max_size and not messages:
            raise self._too_long()
        return messages

    def _too_long(self) -> FramingError:
        return FramingError(f"no delimiter within {self.max_size} bytes: the peer is not framing")

    def close(self) -> None:
        """Call at end of stream: raises if a message was cut off."""
        if self._buffer:
            raise FramingError(
                f"the stream ended inside a message ({len(self._buffer)} bytes without"
                f" {self.delimiter!r})"
            )


class PrefixedDecoder:
    """Incremental decoder for length-prefixed messages (see ``frame_prefixed``)."""

    def __init__(self, max_size: int = DEFAULT_MAX_SIZE) -> None:
        self.max_size = max_size
        self._buffer = bytearray()

    @property
    def pending(self) -> bytes:
        """Bytes received that do not yet form a whole message."""
        return bytes(self._buffer)

    def feed(self, chunk: bytes) -> list[bytes]:
        self._buffer += chunk
        messages: list[bytes] = []
        while len(self._buffer) >= PREFIX.size:
            (length,) = PREFIX.unpack_from(self._buffer)
            if length > self.max_size:
                if messages:
                    break  # deliver these first; the next feed() raises
                raise FramingError(
                    f"the peer announced {length} bytes, more than the limit {self.max_size}"
                )
            end = PREFIX.size + length
            if len(self._buffer) < end:
                break
            messages.append(bytes(self._buffer[PREFIX.size : end]))
            del self._buffer[:end]
        return messages

    def close(self) -> None:
        """Call at end of stream: raises if a message was cut off."""
        if self._buffer:
            raise FramingError(
                f"the stream ended inside a message ({len(self._buffer)} bytes left over)"
            )


def unframe_delimited(
    data: bytes, delimiter: bytes = b"\n", max_size: int = DEFAULT_MAX_SIZE
) -> tuple[list[bytes], bytes]:
    """Split ``data`` into whole messages and the unfinished rest."""
    decoder = DelimitedDecoder(delimiter, max_size)
    messages = decoder.feed(data)
    return messages, decoder.pending


def unframe_prefixed(data: bytes, max_size: int = DEFAULT_MAX_SIZE) -> tuple[list[bytes], bytes]:
    """Split ``data`` into whole length-prefixed messages and the unfinished rest."""
    decoder = PrefixedDecoder(max_size)
    messages = decoder.feed(data)
    return messages, decoder.pending
