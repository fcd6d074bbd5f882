"""The server side of every SMTP session, recorded line by line.

aiosmtpd has no public hook per command, so the sink runs a subclass of its
``aiosmtpd.smtp.SMTP`` protocol (one instance per connection):

* every reply goes through ``push()``, which this subclass records;
* every command line is recorded as received, before aiosmtpd parses it, by the
  stream reader the protocol reads from. aiosmtpd builds that reader inside
  ``SMTP.__init__``; ``_RecordingProtocol`` sits between ``SMTP`` and asyncio's
  ``StreamReaderProtocol`` in the method resolution order and swaps in a
  recording reader with the same limit, so malformed and unknown commands show
  up too, exactly as they arrived.

The message itself is summarised in the transcript (its bytes are in the
mailbox); AUTH data is hidden. Nothing is printed: lines go into a
``SessionTranscript``, milestones into the sink's ``EventLog``::

    S: 220 mail.onego.ru ESMTP course mail sink
    C: EHLO student.local
    S: 250-mail.onego.ru
    ...
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from aiosmtpd.smtp import SMTP
from aiosmtpd.smtp import sanitize as hide_auth_argument

from helpers.events import EventLog


class SessionTranscript:
    """The lines of one SMTP session: ``C:`` from the client, ``S:`` from the server.

    ``str()`` gives the dialogue only (no peer port, no times), so it reads the
    same on every machine; ``peer`` and ``number`` say which session it was.
    Lines starting with ``--`` are notes (TLS started, connection closed).

    Lines are kept as bytes and decoded only when read: recording must cost the
    server next to nothing (the benchmark holds it to 90 % of a bare aiosmtpd).
    For the same reason the sink's ``EventLog`` gets the session's milestones
    (connect, TLS, refusals, close) and not every line. One writer (the sink's
    loop) appends; ``list.append`` and ``list(...)`` are atomic, so no lock.
    """

    def __init__(self, number: int, peer: str, events: EventLog):
        self.number = number
        self.peer = peer
        self._events = events
        self._lines: list[tuple[str, bytes | str]] = []
        self._closed = threading.Event()

    def client(self, line: bytes | str) -> None:
        """A line from the client: bytes as received, or a str that stands in for it."""
        self._lines.append(("C", line))

    def server(self, line: bytes) -> None:
        self._lines.append(("S", line))
        if line[:1] in (b"4", b"5"):
            self._events.record("refusal", self.peer, line, note=_decode(line))

    def message_data(self, size: int, lines: int) -> None:
        self._lines.append(("C", f"[message data: {size} bytes in {lines} lines]"))

    def note(self, kind: str, text: str) -> None:
        self._lines.append(("--", text))
        self._events.record(kind, self.peer, note=text)
        if kind == "close":
            self._closed.set()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def wait_closed(self, timeout: float = 2.0) -> SessionTranscript:
        """Wait until the connection is closed, so the transcript is complete; return it.

        A client's ``quit()`` returns when the 221 reply arrives, a moment before
        the server has noted the closed connection: a cell that shows the
        transcript right away waits for that instead of showing it half done.
        """
        if not self._closed.wait(timeout):
            raise TimeoutError(f"session {self.number} still open after {timeout} s")
        return self

    @property
    def lines(self) -> list[tuple[str, str]]:
        """``(who, text)`` pairs; who is ``"C"``, ``"S"`` or ``"--"`` (a note)."""
        return [
            (who, line if isinstance(line, str) else _decode(line))
            for who, line in list(self._lines)
        ]

    def __str__(self) -> str:
        return "\n".join(
            f"{who} {text}" if who == "--" else f"{who}: {text}" for who, text in self.lines
        )

    def __repr__(self) -> str:
        return f"<SessionTranscript {self.number} from {self.peer}: {len(self._lines)} lines>"


def _decode(line: bytes) -> str:
    """A protocol line for reading: CRLF dropped, non-UTF-8 bytes shown as escapes."""
    return line.rstrip(b"\r\n").decode("utf-8", "backslashreplace")


class _RecordingReader(asyncio.StreamReader):
    """A StreamReader that reports every line it hands to the SMTP protocol.

    aiosmtpd reads commands with ``readuntil()`` (separator LF) and DATA lines
    with ``readuntil(b"\\r\\n")``, so the separator tells the two apart.
    """

    on_command: Callable[[bytes], None] | None = None
    on_data_line: Callable[[bytes], None] | None = None
    on_overrun: Callable[[], None] | None = None

    async def readuntil(self, separator: bytes = b"\n") -> bytes:
        if separator != b"\n":  # a line of the message after DATA
            line = await super().readuntil(separator)
            if self.on_data_line is not None:
                self.on_data_line(line)
            return line
        try:
            line = await super().readuntil(separator)
        except asyncio.LimitOverrunError:
            if self.on_overrun is not None:
                self.on_overrun()
            raise
        if self.on_command is not None:
            self.on_command(line)
        return line


class _RecordingProtocol(asyncio.StreamReaderProtocol):
    """Replaces the reader ``SMTP.__init__`` made with a recording one (see module doc)."""

    line_length_limit = SMTP.line_length_limit

    def __init__(self, stream_reader: asyncio.StreamReader, *args: Any, **kwargs: Any):
        reader = _RecordingReader(limit=self.line_length_limit, loop=kwargs.get("loop"))
        self._recording_reader = reader
        super().__init__(reader, *args, **kwargs)


class TranscriptSMTP(SMTP, _RecordingProtocol):
    """aiosmtpd's SMTP protocol, recording each session into a ``SessionTranscript``.

    ``open_session(peer)`` is called once per connection and returns the
    transcript to fill, or None for a connection that must not be recorded (the
    Controller's readiness probe).
    """

    def __init__(
        self,
        handler: Any,
        *,
        open_session: Callable[[Any], SessionTranscript | None],
        **smtp_kwargs: Any,
    ):
        super().__init__(handler, **smtp_kwargs)
        self._open_session = open_session
        self.transcript: SessionTranscript | None = None
        self._data_size = 0  # of the message being received, for the summary line
        self._data_lines = 0
        self._last_reply = b""
        self._skip_overrun_tail = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        starting_tls = self._original_transport is not None
        super().connection_made(transport)
        if starting_tls:
            if self.transcript is not None:
                self.transcript.note("tls", "TLS started")
        else:
            self.transcript = self._open_session(transport.get_extra_info("peername"))
            if self.transcript is not None:
                self.transcript.note("connect", "connection opened")
                reader = self._recording_reader  # the readiness probe is not recorded
                reader.on_command = self._on_command
                reader.on_data_line = self._on_data_line
                reader.on_overrun = self._on_overrun

    def connection_lost(self, error: Exception | None) -> None:
        if self.transcript is not None:
            if self._data_lines:
                self.transcript.note(
                    "discard", f"incomplete message discarded ({self._data_size} bytes)"
                )
            self.transcript.note("close", "connection closed")
        super().connection_lost(error)

    async def push(self, status: Any) -> None:
        """Send one reply line, as ``SMTP.push`` does, and record it.

        Written out rather than calling ``super().push``: one coroutine less per
        reply is measurable in the benchmark. A transport already closing means
        the handler dropped the connection on purpose (a fault): the reply is
        neither sent nor recorded as sent.
        """
        if self.transport is None or self.transport.is_closing():
            return
        if isinstance(status, str):
            line = status.encode("utf-8" if self.enable_SMTPUTF8 else "ascii")
        else:
            line = bytes(status)
        self._last_reply = line
        if self.transcript is not None:
            self.transcript.server(line)
        self._writer.write(line + b"\r\n")
        await self._writer.drain()

    def _on_overrun(self) -> None:
        self._skip_overrun_tail = True

    def _on_command(self, line: bytes) -> None:
        assert self.transcript is not None
        if self._skip_overrun_tail:
            # aiosmtpd drains an over-long line in pieces; the tail is no command.
            self._skip_overrun_tail = False
            self.transcript.client("[over-long line, cut]")
        elif self._last_reply.startswith(b"334"):
            self.transcript.client("[AUTH response hidden]")
        elif line.lstrip()[:4].upper() == b"AUTH":
            self.transcript.client(hide_auth_argument(line))
        else:
            self.transcript.client(line)

    def _on_data_line(self, line: bytes) -> None:
        assert self.transcript is not None
        if line == b".\r\n":
            self.transcript.message_data(self._data_size, self._data_lines)
            self._data_size = self._data_lines = 0
            self.transcript.client(line)
        else:
            self._data_size += len(line)
            self._data_lines += 1
