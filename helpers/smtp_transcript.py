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
``SessionTranscript`` and the sink's ``EventLog``::

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
    """

    def __init__(self, number: int, peer: str, events: EventLog):
        self.number = number
        self.peer = peer
        self._events = events
        self._lines: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def _add(self, who: str, text: str) -> None:
        with self._lock:
            self._lines.append((who, text))

    def client(self, line: bytes, shown: str | None = None) -> None:
        """A line from the client; ``shown`` replaces it (and its bytes) when hidden."""
        text = _decode(line) if shown is None else shown
        self._add("C", text)
        data = line if shown is None else b""
        self._events.record("command", self.peer, data, note=text, actor="client")

    def server(self, line: bytes) -> None:
        text = _decode(line)
        self._add("S", text)
        self._events.record("reply", self.peer, line, note=text)

    def message_data(self, data: bytes, lines: int) -> None:
        text = f"[message data: {len(data)} bytes in {lines} lines]"
        self._add("C", text)
        self._events.record("data", self.peer, data, note=text, actor="client")

    def note(self, kind: str, text: str) -> None:
        self._add("--", text)
        self._events.record(kind, self.peer, note=text)

    @property
    def lines(self) -> list[tuple[str, str]]:
        with self._lock:
            return list(self._lines)

    def __str__(self) -> str:
        return "\n".join(
            f"{who} {text}" if who == "--" else f"{who}: {text}" for who, text in self.lines
        )

    def __repr__(self) -> str:
        return f"<SessionTranscript {self.number} from {self.peer}: {len(self.lines)} lines>"


def _decode(line: bytes) -> str:
    """A protocol line for reading: CRLF dropped, non-UTF-8 bytes shown as escapes."""
    return line.rstrip(b"\r\n").decode("utf-8", "backslashreplace")


class _RecordingReader(asyncio.StreamReader):
    """A StreamReader that reports every line it hands to the SMTP protocol.

    aiosmtpd reads commands with ``readuntil()`` (separator LF) and DATA lines
    with ``readuntil(b"\\r\\n")``, so the separator tells the two apart.
    """

    on_line: Callable[[bytes, bool], None] | None = None
    on_overrun: Callable[[], None] | None = None

    async def readuntil(self, separator: bytes = b"\n") -> bytes:
        try:
            line = await super().readuntil(separator)
        except asyncio.LimitOverrunError:
            if self.on_overrun is not None:
                self.on_overrun()
            raise
        if self.on_line is not None:
            self.on_line(line, separator == b"\r\n")
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
        self._data: list[bytes] = []
        self._last_reply = b""
        self._skip_overrun_tail = False
        self._recording_reader.on_line = self._on_line
        self._recording_reader.on_overrun = self._on_overrun

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

    def connection_lost(self, error: Exception | None) -> None:
        if self.transcript is not None:
            if self._data:
                size = sum(map(len, self._data))
                self.transcript.note("discard", f"incomplete message discarded ({size} bytes)")
                self._data = []
            self.transcript.note("close", "connection closed")
        super().connection_lost(error)

    async def push(self, status: Any) -> None:
        # A transport already closing means the handler dropped the connection on
        # purpose (a fault): the reply must not be sent, nor recorded as sent.
        if self.transport is None or self.transport.is_closing():
            return
        line = status.encode("utf-8") if isinstance(status, str) else bytes(status)
        self._last_reply = line
        if self.transcript is not None:
            self.transcript.server(line)
        await super().push(status)

    def _on_overrun(self) -> None:
        self._skip_overrun_tail = True

    def _on_line(self, line: bytes, in_data: bool) -> None:
        if self.transcript is None:
            return
        if self._skip_overrun_tail:
            # aiosmtpd drains an over-long line in pieces; the tail is no command.
            self._skip_overrun_tail = False
            if not in_data:
                self.transcript.client(b"", shown="[over-long line, cut]")
            return
        if not in_data:
            if self._last_reply.startswith(b"334"):
                self.transcript.client(b"", shown="[AUTH response hidden]")
            else:
                self.transcript.client(hide_auth_argument(line))
            return
        if line == b".\r\n":
            data = b"".join(self._data)
            self.transcript.message_data(data, len(self._data))
            self._data = []
            self.transcript.client(line)
        else:
            self._data.append(line)
