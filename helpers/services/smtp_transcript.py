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

A session is bounded, because any local user of a shared hub can reach the
sink's port and a session lives in the kernel's memory:

* ``COMMANDS_PER_SESSION`` (10,000): then ``421 4.7.0`` and the connection is
  closed. A class typing by hand never gets near it; 200,000 pipelined NOOPs
  do. (421 is the one reply after which RFC 5321 lets a server close.)
* a message line that never ends: aiosmtpd keeps every piece of an over-long
  line until its CRLF comes, so once the message passes the session's size
  limit (``data_size_limit``: the SIZE announced in EHLO, the sink's
  ``SIZE_LIMIT`` by default; aiosmtpd's 32 MiB if a session has none) the
  reply is ``552 5.3.4`` and the connection is closed. 552 ("too much mail
  data", RFC 5321 4.5.3.1; RFC 1870 for SIZE) because what was exceeded is the
  size the client was told, and 5.3.4 is "message too big for system"; not
  500, which answers a line too long once the line has ended (as aiosmtpd
  still does for a line that ends before the limit). The connection must
  close: the rest of the line is never read, so client and server are no
  longer in step;
* ``TRANSCRIPT_HEAD`` and ``TRANSCRIPT_TAIL`` (100 lines each): a longer
  transcript keeps its first and last lines and says how many are missing
  (``-- 19,802 lines not kept``); every session of a lesson is shorter, so it
  reads exactly as it was.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from aiosmtpd.smtp import DATA_SIZE_DEFAULT
from aiosmtpd.smtp import sanitize as hide_auth_argument

from helpers.services.smtp_adapter import HookedSMTP
from helpers.show.events import EventLog

__all__ = [
    "COMMANDS_PER_SESSION",
    "TRANSCRIPT_HEAD",
    "TRANSCRIPT_TAIL",
    "SessionTranscript",
    "TranscriptSMTP",
]

COMMANDS_PER_SESSION = 10_000  # lines outside DATA (AUTH responses included); then 421
TRANSCRIPT_HEAD = 100  # lines kept from the start of a long session
TRANSCRIPT_TAIL = 100  # lines kept from its end


class SessionTranscript:
    """The lines of one SMTP session: ``C:`` from the client, ``S:`` from the server.

    ``str()`` gives the dialogue only (no peer port, no times), so it reads the
    same on every machine; ``peer`` and ``number`` say which session it was.
    Lines starting with ``--`` are notes (TLS started, connection closed).

    Lines are kept as bytes and decoded only when read: recording must cost the
    server next to nothing (the benchmark holds it to 90 % of a bare aiosmtpd).
    For the same reason the sink's ``EventLog`` gets the session's milestones
    (connect, TLS, refusals, close) and not every line. One writer (the sink's
    loop) appends; ``list.append`` and ``list(...)`` are atomic, so no lock for
    that. A long session keeps its first ``TRANSCRIPT_HEAD`` lines and its last
    ``TRANSCRIPT_TAIL``: once the list holds a tail twice that long, the middle
    is cut out and counted (under a lock that readers take too), so appending
    stays a plain ``append``.
    """

    def __init__(self, number: int, peer: str, events: EventLog):
        self.number = number
        self.peer = peer
        self._events = events
        self._lines: list[tuple[str, bytes | str]] = []
        self._skipped = 0  # lines cut out after the head
        self._cut_lock = threading.Lock()
        self._closed = threading.Event()

    def _add(self, who: str, line: bytes | str) -> None:
        lines = self._lines
        lines.append((who, line))
        if len(lines) > TRANSCRIPT_HEAD + 2 * TRANSCRIPT_TAIL:
            with self._cut_lock:
                cut = len(lines) - TRANSCRIPT_HEAD - TRANSCRIPT_TAIL
                del lines[TRANSCRIPT_HEAD : TRANSCRIPT_HEAD + cut]
                self._skipped += cut

    def client(self, line: bytes | str) -> None:
        """A line from the client: bytes as received, or a str that stands in for it."""
        self._add("C", line)

    def server(self, line: bytes) -> None:
        self._add("S", line)
        if line[:1] in (b"4", b"5"):
            self._events.record("refusal", self.peer, line, note=_decode(line))

    def message_data(self, size: int, lines: int, cut: bool = False) -> None:
        what = f"{size} bytes in {lines} lines"
        self._add("C", f"[message data: {what}, cut]" if cut else f"[message data: {what}]")

    def note(self, kind: str, text: str) -> None:
        self._add("--", text)
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
        """``(who, text)`` pairs; who is ``"C"``, ``"S"`` or ``"--"`` (a note).

        A long session gives its head, one note of how many lines are not kept,
        and its tail.
        """
        with self._cut_lock:
            kept = list(self._lines)
            skipped = self._skipped
        if skipped or len(kept) > TRANSCRIPT_HEAD + TRANSCRIPT_TAIL:
            tail = kept[TRANSCRIPT_HEAD:]
            skipped += max(0, len(tail) - TRANSCRIPT_TAIL)
            gap: tuple[str, bytes | str] = ("--", f"{skipped:,} lines not kept")
            kept = [*kept[:TRANSCRIPT_HEAD], gap, *tail[-TRANSCRIPT_TAIL:]]
        return [(who, line if isinstance(line, str) else _decode(line)) for who, line in kept]

    def __str__(self) -> str:
        return "\n".join(
            f"{who} {text}" if who == "--" else f"{who}: {text}" for who, text in self.lines
        )

    def __repr__(self) -> str:
        total = len(self._lines) + self._skipped
        return f"<SessionTranscript {self.number} from {self.peer}: {total} lines>"


def _decode(line: bytes) -> str:
    """A protocol line for reading: CRLF dropped, non-UTF-8 bytes shown as escapes."""
    return line.rstrip(b"\r\n").decode("utf-8", "backslashreplace")


class TranscriptSMTP(HookedSMTP):
    """The adapter's SMTP protocol, recording each session into a ``SessionTranscript``.

    ``open_session(peer)`` is called once per connection and returns the
    transcript to fill; every other hook runs after it, so ``transcript`` is set.
    It also holds the session to its bounds (see the module doc):
    ``command_limit`` commands, and a message cut off once a line that never
    ends takes it past ``data_size_limit``.
    """

    transcript: SessionTranscript
    command_limit = COMMANDS_PER_SESSION

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
        if self._data_lines or self._data_size:
            self.transcript.note(
                "discard", f"incomplete message discarded ({self._data_size} bytes)"
            )
        self.transcript.note("close", "connection closed")

    def on_reply(self, line: bytes) -> None:
        self._last_reply = line
        self.transcript.server(line)

    def command_overrun(self, size: int) -> None:
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
        if self.commands > self.command_limit:
            self.hang_up("421 4.7.0 Too many commands in one session, closing connection")

    def data_overrun(self, size: int) -> None:
        """A piece of an over-long line: counted, and the message cut off past the size limit."""
        self._data_size += size
        limit = self.data_size_limit or DATA_SIZE_DEFAULT  # no limit set: aiosmtpd's default
        if self._data_size > limit:
            self.transcript.message_data(self._data_size, self._data_lines, cut=True)
            self.hang_up(f"552 5.3.4 Message too big: more than {limit} bytes, closing connection")

    def data_line(self, line: bytes) -> None:
        if line == b".\r\n":
            self.transcript.message_data(self._data_size, self._data_lines)
            self._data_size = self._data_lines = 0
            self.transcript.client(line)
        else:
            self._data_size += len(line)
            self._data_lines += 1
