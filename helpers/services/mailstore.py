"""The mail sink's mailbox: every accepted message with its envelope, optionally in a Maildir.

An SMTP server sees two addresses for every letter: the *envelope* (``MAIL FROM``
and ``RCPT TO``, what the server delivers by) and the *headers* inside the
message (``From:``, ``To:``, what a person reads). They need not agree, so the
mailbox keeps both: the envelope as fields, the message as the exact bytes that
arrived, parsed with ``email.policy.default`` only when asked::

    store = MailStore()
    store.add(ReceivedMail("a@mail.ru", ("rnd@onego.ru",), "127.0.0.1:50000",
                           1.0, b"Subject: hi\\r\\n\\r\\nhello\\r\\n"))
    store[0].message["Subject"]       # 'hi'
    store.wait_for(1)                 # returns at once; waits (with a timeout) otherwise

With a folder, messages are also written to a Maildir (``mailbox.Maildir``) before
``add`` returns, so they survive a stopped sink or a restarted kernel; a new
store on the same folder reads them back. On disk a Maildir holds lines with the
platform's line ending (that is the format); a message read back has CRLF line
ends, as on the wire, so any message whose lines all ended in CRLF (every
well-formed one) comes back byte for byte. The envelope travels in one extra
first line, ``X-MailSink-Envelope: {json}``, which is removed on reading.
"""

from __future__ import annotations

import email.policy
import json
import mailbox
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesParser
from functools import cached_property
from typing import Any

from helpers.show.tables import Table

ENVELOPE_HEADER = b"X-MailSink-Envelope: "


@dataclass
class ReceivedMail:
    """One accepted message: its envelope, where and when it came from, its bytes.

    ``raw`` is the message exactly as the client sent it after DATA (dot-stuffing
    undone, nothing added). ``message`` parses it on first use. Treat it as
    read-only; it is not a frozen dataclass only because building a frozen one
    costs the sink's loop three times as long for every message it accepts.
    """

    mail_from: str
    rcpt_tos: tuple[str, ...]
    peer: str
    time: float
    raw: bytes
    mail_options: tuple[str, ...] = ()
    login: str | None = None
    tls: bool = False
    session: Any = field(default=None, compare=False, repr=False)

    @cached_property
    def message(self) -> EmailMessage:
        """The message parsed with ``email.policy.default`` (headers decoded).

        Line ends become ``\\n`` first, the form the ``email`` package works in;
        otherwise every decoded text line would keep the wire's ``\\r``.
        """
        return BytesParser(policy=email.policy.default).parsebytes(self.raw.replace(b"\r\n", b"\n"))

    @property
    def subject(self) -> str:
        return str(self.message.get("Subject", ""))

    @property
    def body(self) -> str:
        """The text a reader sees: the plain (else HTML) part, decoded by its charset."""
        part = self.message.get_body(preferencelist=("plain", "html"))
        if part is None:
            return ""
        try:
            return part.get_content()
        except (LookupError, UnicodeDecodeError) as error:
            return f"[the body could not be decoded: {type(error).__name__}: {error}]"

    @property
    def transcript(self) -> str:
        """The SMTP session that delivered the message, as the server saw it."""
        if self.session is None:
            return "(no transcript: this message was read back from the Maildir)"
        return str(self.session)

    def __str__(self) -> str:
        lines = [
            f"envelope from: {self.mail_from}",
            f"envelope to:   {', '.join(self.rcpt_tos)}",
            f"size:          {len(self.raw)} bytes",
        ]
        lines += [f"{name}: {value}" for name, value in self.message.items()]
        return "\n".join(lines + ["", self.body.rstrip("\n")])


def envelope_line(mail: ReceivedMail) -> bytes:
    """The first line written to the Maildir file: the envelope as one JSON header.

    ``ensure_ascii`` keeps the line ASCII even for SMTPUTF8 addresses, and JSON
    keeps it one line whatever the addresses contain.
    """
    envelope = {
        "mail_from": mail.mail_from,
        "rcpt_tos": list(mail.rcpt_tos),
        "peer": mail.peer,
        "time": mail.time,
        "mail_options": list(mail.mail_options),
        "login": mail.login,
        "tls": mail.tls,
    }
    return ENVELOPE_HEADER + json.dumps(envelope, ensure_ascii=True).encode("ascii") + b"\n"


def to_disk(mail: ReceivedMail) -> bytes:
    """Maildir file contents (LF line ends; ``mailbox`` turns them into the platform's)."""
    return envelope_line(mail) + mail.raw.replace(b"\r\n", b"\n")


def from_disk(data: bytes) -> ReceivedMail:
    """The inverse of ``to_disk`` for data read with ``Maildir.get_bytes`` (LF line ends)."""
    first, _, rest = data.partition(b"\n")
    if not first.startswith(ENVELOPE_HEADER):
        raise ValueError("not written by the mail sink: no X-MailSink-Envelope line")
    envelope = json.loads(first[len(ENVELOPE_HEADER) :])
    return ReceivedMail(
        mail_from=envelope["mail_from"],
        rcpt_tos=tuple(envelope["rcpt_tos"]),
        peer=envelope["peer"],
        time=envelope["time"],
        raw=rest.replace(b"\n", b"\r\n"),
        mail_options=tuple(envelope.get("mail_options", ())),
        login=envelope.get("login"),
        tls=envelope.get("tls", False),
    )


def _open_maildir(path: str) -> mailbox.Maildir:
    """A Maildir at ``path``, made if needed, also inside an existing empty folder.

    ``mailbox.Maildir(create=True)`` makes tmp/, new/ and cur/ only when it makes
    the folder itself; a folder that already exists (a fresh temporary one) would
    fail at the first message.
    """
    for sub in ("tmp", "new", "cur"):
        os.makedirs(os.path.join(path, sub), exist_ok=True)
    return mailbox.Maildir(path, create=False)


class MailStore:
    """A thread-safe list of ``ReceivedMail``, optionally backed by a Maildir folder.

    The sink's thread adds; cells read, wait and clear. ``add`` returns only once
    the message is stored (file written and renamed into ``new/``), which is what
    lets the sink answer 250 only for a message that is really kept.
    """

    def __init__(self, maildir: str | os.PathLike[str] | None = None):
        self._mails: list[ReceivedMail] = []
        self._changed = threading.Condition()
        self._waiting = 0  # cells in wait_for: only then is a notify worth its cost
        self._maildir = _open_maildir(os.fspath(maildir)) if maildir else None
        if self._maildir is not None:
            self._mails = self._read_maildir()

    def _read_maildir(self) -> list[ReceivedMail]:
        assert self._maildir is not None
        mails = []
        for key in self._maildir.keys():
            try:
                mails.append(from_disk(self._maildir.get_bytes(key)))
            except (ValueError, KeyError):
                continue  # another program's message in the same folder: not ours to show
        return sorted(mails, key=lambda m: m.time)

    def add(self, mail: ReceivedMail) -> ReceivedMail:
        """Store ``mail`` (on disk first, when there is a Maildir) and wake waiters."""
        if self._maildir is not None:
            self._maildir.add(to_disk(mail))
        with self._changed:
            self._mails.append(mail)
            if self._waiting:
                self._changed.notify_all()
        return mail

    def clear(self) -> None:
        """Forget every message, in memory and in the Maildir."""
        with self._changed:
            self._mails.clear()
            if self._maildir is not None:
                self._maildir.clear()

    @property
    def messages(self) -> list[ReceivedMail]:
        with self._changed:
            return list(self._mails)

    def __len__(self) -> int:
        with self._changed:
            return len(self._mails)

    def __iter__(self) -> Iterator[ReceivedMail]:
        return iter(self.messages)

    def __getitem__(self, index: int) -> ReceivedMail:
        with self._changed:
            return self._mails[index]

    def wait_for(self, count: int = 1, timeout: float = 2.0) -> list[ReceivedMail]:
        """Wait until at least ``count`` messages are stored; return them all.

        Raises ``TimeoutError`` after ``timeout`` seconds, so a cell never hangs
        and never depends on sleeping long enough.
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self._mails) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"waited {timeout} s for {count} message(s) in the mailbox, "
                        f"found {len(self._mails)}"
                    )
                self._waiting += 1
                try:
                    self._changed.wait(remaining)
                finally:
                    self._waiting -= 1
            return list(self._mails)

    def table(self) -> Table:
        rows = [
            (number, m.mail_from, ", ".join(m.rcpt_tos), m.subject, len(m.raw))
            for number, m in enumerate(self.messages)
        ]
        return Table(["#", "from", "to", "subject", "bytes"], rows, caption="mailbox")

    def __str__(self) -> str:
        return str(self.table())

    __repr__ = __str__

    def _repr_html_(self) -> str:
        return self.table()._repr_html_()
