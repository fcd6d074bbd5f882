"""The server side of every SMTP session, recorded line by line.

The sink's protocol (one instance per connection) is the SMTP protocol of
``helpers.services.smtp_adapter``, whose hooks this module fills in: every reply
as it is sent, every command line as it was received, before aiosmtpd parses
it (so malformed and unknown commands show up too, exactly as they arrived).

The message itself is summarised in the transcript (its bytes are in the
mailbox); AUTH data is hidden. Nothing is printed: lines go into a
``SessionTranscript``, milestones into the sink's ``EventLog``::

    S: 220 mail.onego.ru ESMTP course mail sink
    C: EHLO student.local
    S: 250-mail.onego.ru
    ...
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from aiosmtpd.smtp import sanitize as hide_auth_argument

from helpers.services.smtp_adapter import HookedSMTP
from helpers.show.events import EventLog


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


class TranscriptSMTP(HookedSMTP):
    """The adapter's SMTP protocol, recording each session into a ``SessionTranscript``.

    ``open_session(peer)`` is called once per connection and returns the
    transcript to fill; every other hook runs after it, so ``transcript`` is set.
    """

    transcript: SessionTranscript

    def __init__(
        self,
        handler: Any,
        *,
        open_session: Callable[[Any], SessionTranscript],
        **smtp_kwargs: Any,
    ):
        super().__init__(handler, **smtp_kwargs)
        self._open_session = open_session
        self._data_size = 0  # of the message being received, for the summary line
        self._data_lines = 0
        self._last_reply = b""
        self._skip_overrun_tail = False

    def session_opened(self, peer: Any) -> None:
        self.transcript = self._open_session(peer)
        self.transcript.note("connect", "connection opened")

    def tls_started(self) -> None:
        self.transcript.note("tls", "TLS started")

    def session_closed(self) -> None:
        if self._data_lines:
            self.transcript.note(
                "discard", f"incomplete message discarded ({self._data_size} bytes)"
            )
        self.transcript.note("close", "connection closed")

    def on_reply(self, line: bytes) -> None:
        self._last_reply = line
        self.transcript.server(line)

    def command_overrun(self) -> None:
        self._skip_overrun_tail = True

    def command_line(self, line: bytes) -> None:
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

    def data_line(self, line: bytes) -> None:
        if line == b".\r\n":
            self.transcript.message_data(self._data_size, self._data_lines)
            self._data_size = self._data_lines = 0
            self.transcript.client(line)
        else:
            self._data_size += len(line)
            self._data_lines += 1
