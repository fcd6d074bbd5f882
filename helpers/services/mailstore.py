"""The mail sink's mailbox: every accepted message with its envelope, optionally in a Maildir.

An SMTP server sees two addresses for every letter: the *envelope* (``MAIL FROM``
and ``RCPT TO``, what the server delivers by) and the *headers* inside the
message (``From:``, ``To:``, what a person reads). They need not agree, so the
mailbox keeps both: the envelope as fields, the message as the exact bytes that
arrived, parsed with ``email.policy.default`` only when asked::

    store = MailStore()
    store.add(ReceivedMail("a@mail.ru", ("rnd@onego.ru",), "127.0.0.1:50000",
                           1.0, b"Subject: hi\r\n\r\nhello\r\n"))
    store[0].message["Subject"]       # 'hi'
    store.wait_for(1)                 # returns at once; waits (with a timeout) otherwise

With a folder, messages are also written to a Maildir before ``add`` returns,
so they survive a stopped sink or a restarted kernel; a new store on the same
folder reads them back. The files are what a delivery agent writes, so any mail
reader can open the folder:

* **the envelope in standard trace headers**, added on top of the message as
  delivery agents do: ``Return-Path: <sender>``, one ``Delivered-To:`` per
  recipient, and a ``Received:`` line with the client's address, TLS and AUTH
  (``with ESMTP``, ``ESMTPS``, ``ESMTPSA``), the MAIL options and the delivery
  id. A value that would not read back exactly in a header (a control
  character, bytes that are not UTF-8) is written as an RFC 2047 encoded word;
* **byte-exact**: a Maildir holds LF line ends, so a message whose lines all end
  in CRLF (every well-formed one) is written with LF and read back with CRLF;
  any other message (a bare LF or CR inside) is written exactly as received,
  headers included with CRLF, so the file's first line end says which it is.
  What arrived after DATA (dot-stuffing undone) is what a re-opened store returns;
* **marked as the sink's**: its file names carry ``OWN_MARK`` in their unique
  part (``<seconds>.M<microseconds>P<pid>Q<n>R<random>_mailsink.mail.onego.ru``), so
  ``clear()`` deletes the messages any kernel's sink wrote and never someone
  else's mail in the same folder. Files of the course's earlier format (a first
  line ``X-MailSink-Envelope: {json}``) are still read, and cleared;
* **private**: folders the store makes are 0700 and files 0600, as the
  standard library's ``mailbox`` makes folders; a file is written in ``tmp/``,
  synced, then linked into ``new/``, so a reader never sees half a message;
* **a malformed file is skipped and recorded** (a "skip" event in ``events``,
  and in ``skipped``), never an error that stops the sink from starting.
  Another program's messages are not the sink's to show: they are left alone.
"""

from __future__ import annotations

import base64
import email.policy
import itertools
import json
import os
import re
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime
from functools import cached_property
from typing import Any

from helpers.show.events import EventLog
from helpers.show.tables import Table

OWN_MARK = "_mailsink"  # ends the middle part of every file name the sink writes
LEGACY_HEADER = b"X-MailSink-Envelope: "  # the first line of the course's earlier format
SUBFOLDERS = ("tmp", "new", "cur")
READ_FROM = ("new", "cur")  # tmp/ holds only files being written


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
    # Set by MailStore.add (or read back from the Maildir): what the trace headers name.
    delivery_id: str = field(default="", compare=False, repr=False)
    received_by: str = field(default="localhost", compare=False, repr=False)

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
    def trace(self) -> str:
        """The trace headers a delivery adds on top of the message (RFC 5321 4.4).

        ``Return-Path:`` keeps the envelope sender, ``Delivered-To:`` each
        recipient, and ``Received:`` says from where, by whom, how (ESMTP, with
        S for TLS and A for AUTH) and when; every server a letter passes adds
        one more ``Received:`` on top, so a reader can follow its way. The same
        lines begin the message's file in the Maildir.
        """
        if not self.delivery_id:  # named on first use, then the same at every read
            self.delivery_id = delivery_name(self.time)
        return "\n".join(trace_headers(self, self.delivery_id, self.received_by))

    @property
    def delivered(self) -> bytes:
        """The message as delivered: the trace headers, then the bytes that arrived."""
        head = "".join(line + "\r\n" for line in self.trace.split("\n")).encode("utf-8")
        return head + self.raw

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


# -- the trace headers -------------------------------------------------------------

_ENCODED = re.compile(r"=\?utf-8\?b\?([A-Za-z0-9+/=]*)\?=")
_RECEIVED = re.compile(
    r"Received: from \S+ \((?P<peer>[^()\\]*)\)"
    r"(?: \(authenticated as (?P<login>[^()\\]*)\))?"
    r"(?: \(options (?P<options>[^()\\]*)\))?"
    r" by (?P<by>\S+) \(course mail sink\) with ESMTP(?P<tls>S?)A? id (?P<id>\S+); .+"
)


def _encoded(value: str) -> str:
    """An RFC 2047 encoded word for ``value`` (its bytes as they came, not-UTF-8 ones too)."""
    data = value.encode("utf-8", "surrogateescape")
    return f"=?utf-8?b?{base64.b64encode(data).decode('ascii')}?="


def _header_value(value: str, in_comment: bool = False, token: bool = False) -> str:
    """``value`` as written in a header: itself when it reads back exactly, else encoded.

    Encoded are values with control characters (a CR would end the header),
    with bytes that are not UTF-8, that start like an encoded word, and in a
    comment those with parentheses or backslashes; a ``token`` (one of a
    space-separated list) also when empty or holding a space.
    """
    plain = (
        value.isprintable()
        and not value.startswith("=?")
        and not (in_comment and any(c in value for c in "()\\"))
        and not (token and (not value or " " in value))
    )
    if plain:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # a byte that was not UTF-8, kept as a surrogate
            plain = False
    return value if plain else _encoded(value)


def _header_text(value: str) -> str:
    """The inverse of ``_header_value``."""
    match = _ENCODED.fullmatch(value)
    if match is None:
        return value
    return base64.b64decode(match.group(1), validate=True).decode("utf-8", "surrogateescape")


def _client_host(peer: str) -> str:
    """The address part of ``127.0.0.1:50000`` as a domain literal, for ``Received: from``."""
    host = peer.rpartition(":")[0].strip("[]")
    if not host or not all(c.isalnum() or c in ".:" for c in host):
        return "unknown"
    return f"[IPv6:{host}]" if ":" in host else f"[{host}]"


def _domain(name: str) -> str:
    """The server's name as one word of a ``Received:`` line (``localhost`` if it cannot be)."""
    word = "".join(name.split())
    return word if word.isprintable() and word.isascii() else "localhost"


def trace_headers(mail: ReceivedMail, delivery_id: str, received_by: str) -> list[str]:
    """The header lines a delivery to the Maildir adds on top of the message (no line ends)."""
    lines = [f"Return-Path: <{_header_value(mail.mail_from)}>"]
    lines += [f"Delivered-To: {_header_value(rcpt)}" for rcpt in mail.rcpt_tos]
    received = f"Received: from {_client_host(mail.peer)} ({_header_value(mail.peer, True)})"
    if mail.login is not None:
        received += f" (authenticated as {_header_value(mail.login, True)})"
    if mail.mail_options:
        options = " ".join(_header_value(o, True, token=True) for o in mail.mail_options)
        received += f" (options {options})"
    protocol = "ESMTP" + ("S" if mail.tls else "") + ("A" if mail.login is not None else "")
    when = format_datetime(datetime.fromtimestamp(mail.time, UTC))
    by = _domain(received_by)
    received += f" by {by} (course mail sink) with {protocol} id {delivery_id}; {when}"
    return [*lines, received]


# -- file names and contents ----------------------------------------------------

_deliveries = itertools.count(1)


def _host_name() -> str:
    """The host part of a Maildir file name: the course's mail host, not this machine.

    The Maildir convention names the delivering machine; the sink stands for
    ``mail.onego.ru`` and its files must not carry the name of the machine a
    notebook ran on (it shows in the ``Received:`` line's id). Names stay unique
    without it: the time, the process, a counter and a random token.
    """
    return "mail.onego.ru"


def delivery_name(when: float) -> str:
    """A unique Maildir file name for a message received at ``when``, marked as the sink's.

    The time is kept to the microsecond (the ``M`` part), which is how it is read back.
    """
    seconds, micros = f"{when:.6f}".split(".")
    token = secrets.token_hex(4)
    return f"{seconds}.M{micros}P{os.getpid()}Q{next(_deliveries)}R{token}{OWN_MARK}.{_host_name()}"


def is_own(name: str) -> bool:
    """True for the name of a file the sink wrote (whichever kernel it was)."""
    parts = name.split(":", 1)[0].split(".", 2)
    return len(parts) == 3 and parts[1].endswith(OWN_MARK)


def _delivery_time(delivery_id: str) -> float:
    seconds, middle, _host = delivery_id.split(".", 2)
    micros = re.match(r"M(\d{6})P", middle)
    if not seconds.isdigit() or micros is None:
        raise ValueError(f"not a delivery id of the sink: {delivery_id!r}")
    return float(f"{seconds}.{micros.group(1)}")


def to_disk(
    mail: ReceivedMail, delivery_id: str | None = None, received_by: str = "localhost"
) -> bytes:
    """The Maildir file for ``mail``: trace headers, then the message (see the module doc)."""
    delivery_id = delivery_id or delivery_name(mail.time)
    raw = mail.raw
    lines = trace_headers(mail, delivery_id, received_by)
    head = "".join(line + "\n" for line in lines).encode("utf-8")
    if raw.count(b"\n") == raw.count(b"\r\n"):  # only CRLF line ends: the Maildir's LF form
        return head + raw.replace(b"\r\n", b"\n")
    return head.replace(b"\n", b"\r\n") + raw  # exactly as received, headers in CRLF too


def from_disk(data: bytes) -> ReceivedMail:
    """The inverse of ``to_disk``; ``ValueError`` for a file that is not one of the sink's."""
    if data.startswith(LEGACY_HEADER):
        return _from_legacy(data)
    first_end = data.find(b"\n")
    if first_end < 1:
        raise ValueError("no header line")
    eol = b"\r\n" if data[first_end - 1 : first_end] == b"\r" else b"\n"
    position = 0
    header_lines = []
    while True:
        end = data.find(eol, position)
        if end < 0:
            raise ValueError("the trace headers do not end")
        line = data[position:end].decode("utf-8")
        position = end + len(eol)
        header_lines.append(line)
        if line.startswith("Received: "):
            break
        if len(header_lines) > 1 and not line.startswith("Delivered-To: "):
            raise ValueError(f"not a trace header of the sink: {line[:60]!r}")
    first, *delivered, received = header_lines
    if not (first.startswith("Return-Path: <") and first.endswith(">")):
        raise ValueError(f"no Return-Path first: {first[:60]!r}")
    match = _RECEIVED.fullmatch(received)
    if match is None:
        raise ValueError(f"not the sink's Received line: {received[:80]!r}")
    body = data[position:]
    options = match["options"]
    login = match["login"]
    return ReceivedMail(
        mail_from=_header_text(first[len("Return-Path: <") : -1]),
        rcpt_tos=tuple(_header_text(line[len("Delivered-To: ") :]) for line in delivered),
        peer=_header_text(match["peer"]),
        time=_delivery_time(match["id"]),
        raw=body.replace(b"\n", b"\r\n") if eol == b"\n" else body,
        mail_options=tuple(_header_text(o) for o in options.split(" ")) if options else (),
        login=None if login is None else _header_text(login),
        tls=bool(match["tls"]),
        delivery_id=match["id"],
        received_by=match["by"],
    )


def _from_legacy(data: bytes) -> ReceivedMail:
    """A file of the course's earlier format: one JSON envelope line, then the message."""
    first, _, rest = data.partition(b"\n")
    envelope = json.loads(first[len(LEGACY_HEADER) :])

    def strings(value: Any) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"not a list of strings: {value!r}")
        return tuple(value)

    fields = (envelope.get("mail_from"), envelope.get("peer"), envelope.get("time"))
    login, tls = envelope.get("login"), envelope.get("tls", False)
    if (
        not isinstance(envelope, dict)
        or not isinstance(fields[0], str)
        or not isinstance(fields[1], str)
        or isinstance(fields[2], bool)
        or not isinstance(fields[2], int | float)
        or not (login is None or isinstance(login, str))
        or not isinstance(tls, bool)
    ):
        raise ValueError("the envelope's fields have the wrong types")
    return ReceivedMail(
        mail_from=fields[0],
        rcpt_tos=strings(envelope.get("rcpt_tos")),
        peer=fields[1],
        time=float(fields[2]),
        raw=rest.replace(b"\n", b"\r\n"),
        mail_options=strings(envelope.get("mail_options", [])),
        login=login,
        tls=tls,
    )


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class MailStore:
    """A thread-safe list of ``ReceivedMail``, optionally backed by a Maildir folder.

    The sink's thread adds; cells read, wait and clear. ``add`` returns only once
    the message is stored (file written, synced and linked into ``new/``), which
    is what lets the sink answer 250 only for a message that is really kept.
    ``events`` gets a "skip" event for each malformed file met in the folder;
    ``received_by`` is the server's name in the ``Received:`` header.
    """

    def __init__(
        self,
        maildir: str | os.PathLike[str] | None = None,
        *,
        events: EventLog | None = None,
        received_by: str = "localhost",
    ):
        self._mails: list[ReceivedMail] = []
        self._changed = threading.Condition()
        self._waiting = 0  # cells in wait_for: only then is a notify worth its cost
        self._events = events
        self._received_by = received_by
        self.skipped: list[tuple[str, str]] = []  # (file, why) for the malformed files met
        self._path = os.fspath(maildir) if maildir else None
        if self._path is not None:
            _make_maildir(self._path)
            self._mails = self._read_maildir()

    def _read_maildir(self) -> list[ReceivedMail]:
        mails = []
        for where, path in self._files():
            try:
                with open(path, "rb") as file:
                    own = is_own(os.path.basename(path))
                    if not own and file.read(len(LEGACY_HEADER)) != LEGACY_HEADER:
                        continue  # another program's message in the same folder: not ours
                    file.seek(0)
                    mails.append(from_disk(file.read()))
            except FileNotFoundError:
                continue  # removed meanwhile (a clear in another kernel)
            except (OSError, ValueError, TypeError, KeyError) as error:
                self._skip(where, error)
        return sorted(mails, key=lambda m: m.time)

    def _files(self) -> Iterator[tuple[str, str]]:
        """``(new/name, path)`` of every file in new/ and cur/, in a stable order."""
        assert self._path is not None
        for sub in READ_FROM:
            folder = os.path.join(self._path, sub)
            for name in sorted(os.listdir(folder)):
                path = os.path.join(folder, name)
                if not name.startswith(".") and os.path.isfile(path):
                    yield f"{sub}/{name}", path

    def _skip(self, where: str, error: BaseException) -> None:
        why = f"{type(error).__name__}: {error}"
        self.skipped.append((where, why))
        if self._events is not None:
            self._events.record("skip", note=f"{where}: not read, {why}")

    def _write(self, mail: ReceivedMail) -> None:
        """Write ``mail`` into tmp/, sync it, link it into new/ (the Maildir way)."""
        assert self._path is not None
        name = mail.delivery_id
        data = to_disk(mail, name, mail.received_by)
        temporary = os.path.join(self._path, "tmp", name)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        fd = os.open(temporary, flags, 0o600)
        try:
            try:
                _write_all(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            final = os.path.join(self._path, "new", name)
            try:
                os.link(temporary, final)  # never replaces a file, unlike a rename
            except (AttributeError, PermissionError, NotImplementedError):
                os.rename(temporary, final)  # a file system without hard links
                return
        except BaseException:
            try:
                os.remove(temporary)
            except OSError:
                pass
            raise
        try:
            os.remove(temporary)
        except OSError:  # the message is stored; a stale tmp/ file is harmless
            pass

    def add(self, mail: ReceivedMail) -> ReceivedMail:
        """Store ``mail`` (on disk first, when there is a Maildir) and wake waiters.

        The mail gets the server's name here, and with a Maildir its delivery
        id, so its ``trace`` and its file name the same delivery.
        """
        mail.received_by = self._received_by
        if self._path is not None:
            mail.delivery_id = mail.delivery_id or delivery_name(mail.time)
            self._write(mail)
        with self._changed:
            self._mails.append(mail)
            if self._waiting:
                self._changed.notify_all()
        return mail

    def clear(self) -> None:
        """Forget every message, in memory and in the Maildir: the sink's files only.

        A file is the sink's by its name (``OWN_MARK``), whichever kernel wrote
        it, or by the course's earlier format; anything else in the folder is
        someone's mail and stays.
        """
        with self._changed:
            self._mails.clear()
            if self._path is None:
                return
            for _where, path in self._files():
                try:
                    if not is_own(os.path.basename(path)):
                        with open(path, "rb") as file:
                            if file.read(len(LEGACY_HEADER)) != LEGACY_HEADER:
                                continue
                    os.remove(path)
                except FileNotFoundError:
                    pass

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


def _make_maildir(path: str) -> None:
    """A Maildir at ``path`` (tmp/, new/, cur/), made 0700 where missing.

    Also inside an existing empty folder (a fresh temporary one), which
    ``mailbox.Maildir(create=True)`` would leave without its subfolders. An
    existing folder keeps the permissions its owner gave it.
    """
    os.makedirs(path, mode=0o700, exist_ok=True)
    for sub in SUBFOLDERS:
        os.makedirs(os.path.join(path, sub), mode=0o700, exist_ok=True)
