"""The course's mail sink: an SMTP server on loopback that stands in for mail.onego.ru.

One call starts it; it prints one status line and records everything else::

    sink = start_mail_sink()            # mail sink on 127.0.0.1:<port>
    with smtplib.SMTP("127.0.0.1", sink.port, local_hostname="student.local",
                      timeout=5) as client:
        client.sendmail("student@mail.ru", ["rnd@onego.ru"],
                        b"Subject: hello\\r\\n\\r\\nHi!\\r\\n")
    sink.wait_for(1)[0].message["Subject"]     # 'hello'
    print(sink.last_transcript())              # the session, as the server saw it
    sink.mailbox                               # a table of what it holds

What it is: aiosmtpd's SMTP protocol, served by the course's adapter
(``helpers.services.smtp_adapter``: its own thread and event loop), recording
each session (``helpers.services.smtp_transcript``), with a handler that stores
messages (``helpers.services.mailstore``); a service like every other
(``helpers.run.service``: status line, events, errors, stop, replace by name).
It offers SIZE, 8BITMIME, SMTPUTF8, PIPELINING (a client may send several
commands without waiting; the replies come back in order) and
ENHANCEDSTATUSCODES (every reply but the greeting, EHLO's and the 3xx ones
carries a code such as ``5.7.1``, ``helpers.wire.smtpcodes``); with
``tls=True`` also STARTTLS, with a certificate for mail.onego.ru, localhost and
127.0.0.1 from a CA made on the spot (``helpers.services.tls_ca``), and after
STARTTLS AUTH PLAIN and LOGIN for the ``users`` the notebook sets. Without
TLS, AUTH is not announced and answers ``502 5.7.0 ... TLS is not
configured``, never "encryption required" for encryption it cannot offer.
A session silent for ``IDLE_TIMEOUT`` (5 minutes, RFC 5321 4.5.3.2.7, so a
class typing SMTP by hand keeps up) is closed; ``idle_timeout=`` sets another.

Promises:

* It never relays: it accepts recipients of its local domains only
  (``LOCAL_DOMAINS``: onego.ru, the chapter's mail domain, and the example
  domains that RFC 2606 reserves for documentation), plus the bare
  ``postmaster`` every SMTP server must accept (RFC 5321 4.5.1). Anything else
  gets ``550 ... relay access denied``. mail.ru, the chapter's sender domain, is
  deliberately not local: senders may be anyone, recipients may not.
* A mail accepted is a mail stored: ``250`` after DATA is sent only once the
  message is in the mailbox (and written to the Maildir, when there is one).
  A refused, failed, dropped or cut-off message is not stored, not even in part.
* Quiet and identical everywhere: fixed host name and greeting, so transcripts
  read the same on every machine; what the sink's thread logs on aiosmtpd's
  ``mail.log`` and asyncio's logger goes into ``sink.events``, never to a cell,
  while the student's own asyncio code logs to the cell as always (only the
  sink's thread is routed, only while it runs). ``sink.errors`` keeps handler
  errors.
* Faults on demand, for the lessons (``sink.faults(...)``): refuse recipients
  (550), refuse senders (553), fail temporarily (451 after DATA), drop the
  connection after DATA without a reply, a smaller size limit (552).
* Bounded, since any local user of a shared hub can reach its port: a message
  larger than ``SIZE_LIMIT`` (10 MiB, announced as SIZE in EHLO) is refused
  with 552, and one line that never ends is cut there with ``552 5.3.4`` and
  the connection closed; a session gets ``COMMANDS_PER_SESSION`` (10,000)
  commands, then 421; a long transcript keeps its first and last
  ``TRANSCRIPT_HEAD``/``TRANSCRIPT_TAIL`` lines
  (``helpers.services.smtp_transcript``); ``sink.events`` keeps the newest
  ``EVENTS_KEPT`` events (``helpers.show.events``). What it does not bound is
  what it promises to keep: accepted messages stay in the mailbox until
  ``clear()``, and one transcript per session until then.
* The Maildir is standard and private (``helpers.services.mailstore``): the
  envelope in trace headers, files 0600 in folders 0700, messages read back
  byte for byte; ``clear()`` deletes only the files a sink wrote.

A re-run with the same name stops the previous sink first; ``stop_server(name)``
and ``stop_all()`` (also at exit) stop it like every other background server.
Unlike the others, a stopped sink may be started again: it reads its Maildir again.
"""

from __future__ import annotations

import hmac
import threading
import time
from dataclasses import dataclass
from os import PathLike
from typing import Any

from aiosmtpd.smtp import AuthResult, LoginPassword, TLSSetupException

from helpers.run.listeners import BACKLOG, open_listener
from helpers.run.service import Service
from helpers.services.mailstore import MailStore, ReceivedMail
from helpers.services.smtp_adapter import SMTPController
from helpers.services.smtp_transcript import SessionTranscript, TranscriptSMTP
from helpers.services.tls_ca import course_ca_pem, mail_server_context
from helpers.show.events import format_peer
from helpers.wire.smtpcodes import enhance

__all__ = ["MailSink", "start_mail_sink"]

SERVER_HOSTNAME = "mail.onego.ru"
IDENT = "ESMTP course mail sink"
LOCAL_DOMAINS: tuple[str, ...] = ("onego.ru", "example.com", "example.net", "example.org")
SIZE_LIMIT = 10 * 1024 * 1024  # bytes of one message; also where a never-ending line is cut
IDLE_TIMEOUT = 300.0  # seconds of client silence before the sink hangs up (RFC 5321 4.5.3.2.7)
EXTENSIONS = ("PIPELINING", "ENHANCEDSTATUSCODES")  # announced in EHLO beside aiosmtpd's
NO_TLS_AUTH = (
    "502 5.7.0 AUTH is not available: TLS is not configured on this sink "
    "(start it with tls=True, then STARTTLS, then AUTH)"
)
DEFAULT_NAME = "mail"


@dataclass(frozen=True)
class Faults:
    """What the sink does wrong on purpose. Addresses are matched case-insensitively.

    ``size_limit`` (bytes, None = the sink's own) applies to connections opened
    after it is set, because SMTP announces SIZE once per session in EHLO; the
    other faults apply to the next command.
    """

    refuse_recipients: frozenset[str] = frozenset()
    refuse_senders: frozenset[str] = frozenset()
    temporary_failure: bool = False
    drop_after_data: bool = False
    size_limit: int | None = None


class _FaultsInEffect:
    """Returned by ``MailSink.faults``: a ``with`` block restores the faults before it."""

    def __init__(self, sink: MailSink, previous: Faults):
        self._sink = sink
        self._previous = previous

    def __enter__(self) -> Faults:
        return self._sink.active_faults

    def __exit__(self, *exc_info: Any) -> None:
        self._sink._faults = self._previous


class _SinkHandler:
    """aiosmtpd handler hooks: relay check, faults, storing. Runs in the sink's loop."""

    def __init__(self, sink: MailSink):
        self._sink = sink

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, mail_options: list[str]
    ) -> str:
        if address.lower() in self._sink.active_faults.refuse_senders:
            return f"553 5.7.1 <{address}>: sender address refused"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if not self._sink.is_local(address):
            return f"550 5.7.1 <{address}>: relay access denied"
        if address.lower() in self._sink.active_faults.refuse_recipients:
            return f"550 5.1.1 <{address}>: no such user here"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        faults = self._sink.active_faults
        if faults.drop_after_data:
            server.transport.close()
            return "421 closing"  # never sent: the transport is already closing
        if faults.temporary_failure:
            return "451 4.3.0 temporary failure, please try again later"
        auth = session.auth_data if session.authenticated else None
        transcript = getattr(server, "transcript", None)
        mail = ReceivedMail(
            mail_from=envelope.mail_from,
            rcpt_tos=tuple(envelope.rcpt_tos),
            peer=transcript.peer if transcript else format_peer(session.peer) or "",
            time=round(time.time(), 6),  # to the microsecond, as the Maildir keeps it
            raw=bytes(envelope.original_content),
            mail_options=tuple(envelope.mail_options),
            login=auth.login.decode("utf-8", "replace")
            if isinstance(auth, LoginPassword)
            else None,
            tls=session.ssl is not None,
            session=transcript,
        )
        try:
            self._sink.mailbox.add(mail)
        except Exception as error:  # a full disk, a broken Maildir: the letter is not kept
            # Answered here, not in handle_exception, so that aiosmtpd ends the
            # transaction as after any reply to DATA and the client may start the next.
            self._sink.record_error(error)
            return "451 4.3.0 local error: message not stored, please try again later"
        return "250 2.0.0 OK: message stored"

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        """aiosmtpd's EHLO lines, with the extensions it handles but does not announce."""
        session.host_name = hostname  # an EHLO hook must set it itself
        *head, last = responses
        return [*head, *(f"250-{name}" for name in EXTENSIONS), last]

    async def handle_exception(self, error: Exception) -> str:
        if isinstance(error, TLSSetupException):
            # The client gave up the handshake (it did not trust the certificate,
            # or checked another name): its decision, not the sink's error.
            cause = error.__cause__
            note = f"{type(cause).__name__}: {cause}" if cause else "handshake failed"
            self._sink.events.record("tls-failed", note=note)
            return "454 4.7.0 TLS not available"  # aiosmtpd closes the connection instead
        self._sink.record_error(error)
        return "451 4.3.0 local error in processing"


def _authenticator(sink: MailSink) -> Any:
    def authenticate(
        server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = False
        if isinstance(auth_data, LoginPassword):
            expected = sink.users.get(auth_data.login.decode("utf-8", "replace"))
            ok = expected is not None and hmac.compare_digest(
                expected.encode("utf-8"), auth_data.password
            )
        # handled=False makes aiosmtpd send its own 535 for a failure.
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    return authenticate


class _SinkSMTP(TranscriptSMTP):
    """The sink's protocol: the transcript's, plus enhanced status codes on every
    reply (``helpers.wire.smtpcodes``) and a plain answer to AUTH without TLS."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._verb = ""  # the command the next reply answers; "" for the greeting

    def command_line(self, line: bytes) -> None:
        if not self._last_reply.startswith(b"334"):  # an AUTH response is no command
            self._verb = line.split(None, 1)[0].decode("ascii", "replace") if line.strip() else ""
        super().command_line(line)

    def reply_line(self, line: bytes) -> bytes:
        return enhance(line, self._verb)

    async def smtp_AUTH(self, arg: str) -> None:
        if self.tls_context is None:
            # aiosmtpd would say "538 encryption required", which this sink can never offer.
            await self.push(NO_TLS_AUTH)
            return
        await super().smtp_AUTH(arg)


class MailSink(Service):
    """An SMTP server on 127.0.0.1 that keeps what it accepts (see the module doc).

    ``MailSink(...)`` configures, ``start()`` binds and serves (``port=0``: any
    free port; a busy asked port falls back to a free one), ``stop()`` ends it.
    ``maildir`` (a folder) keeps messages across stop and start and across
    kernel restarts; ``users`` ({login: password}) are accepted by AUTH, which
    is offered only after STARTTLS, which is offered only with ``tls=True``.
    """

    kind = "sink"
    restartable = True  # its mailbox outlives a stop, in the Maildir

    def __init__(
        self,
        name: str = DEFAULT_NAME,
        port: int = 0,
        *,
        host: str = "127.0.0.1",
        hostname: str = SERVER_HOSTNAME,
        local_domains: tuple[str, ...] = LOCAL_DOMAINS,
        maildir: str | PathLike[str] | None = None,
        tls: bool = False,
        users: dict[str, str] | None = None,
        size_limit: int = SIZE_LIMIT,
        idle_timeout: float = IDLE_TIMEOUT,
    ):
        super().__init__(name, host, port)
        self.hostname = hostname
        self.local_domains = tuple(d.lower().rstrip(".") for d in local_domains)
        self.maildir = maildir
        self.tls = tls
        self.users: dict[str, str] = dict(users or {})
        self.size_limit = size_limit
        self.idle_timeout = idle_timeout
        self._mailbox: MailStore | None = None  # made by each start, from the Maildir
        self._faults = Faults()
        self._transcripts: list[SessionTranscript] = []
        self._lock = threading.Lock()
        self._handler = _SinkHandler(self)
        self._controller: SMTPController | None = None
        self._tls_context: Any = None

    def start(self, quiet: bool = False) -> MailSink:
        """Bind, serve in the background, print the status line (unless ``quiet``)."""
        return super().start(quiet)  # type: ignore[return-value]

    def _open(self) -> None:
        if self.tls and self._tls_context is None:
            self._tls_context = mail_server_context()
        # A restart reads the Maildir again; a malformed file there is a "skip" event.
        self._mailbox = MailStore(self.maildir, events=self.events, received_by=self.hostname)
        listener, self.busy_port = open_listener(self.host, self.asked_port, BACKLOG)
        self.port = listener.getsockname()[1]
        controller = SMTPController(
            self._new_session,
            listener,
            events=self.events,
            on_error=self.record_error,
            thread_name=f"helpers-server-{self.name}-sink",
        )
        try:
            controller.start()
        except BaseException:
            listener.close()
            raise
        self._controller = controller
        self.events.record("listen", self.address, note=f"{self.hostname}, backlog {BACKLOG}")

    def _close(self) -> None:
        controller = self._controller
        assert controller is not None
        if not controller.stop():
            self.record_error(TimeoutError(f"the {self.name} sink's thread did not end"))

    # -- what it holds -----------------------------------------------------

    @property
    def mailbox(self) -> MailStore:
        """What the sink holds (read from the Maildir at each start)."""
        if self._mailbox is None:
            raise RuntimeError(f"the {self.name} sink has not been started yet: call start()")
        return self._mailbox

    @property
    def messages(self) -> list[ReceivedMail]:
        return self.mailbox.messages

    def wait_for(self, count: int = 1, timeout: float = 2.0) -> list[ReceivedMail]:
        """Wait until the mailbox holds ``count`` messages; return them (TimeoutError if not)."""
        return self.mailbox.wait_for(count, timeout)

    def clear(self) -> None:
        """Empty the mailbox (the sink's files in its Maildir), the transcripts and the events."""
        self.mailbox.clear()
        with self._lock:
            self._transcripts.clear()
        self.events.clear()

    @property
    def transcripts(self) -> list[SessionTranscript]:
        """Every session since the start (or the last ``clear``), oldest first."""
        with self._lock:
            return list(self._transcripts)

    def last_transcript(self, timeout: float = 2.0) -> SessionTranscript:
        """The newest session, once its connection is closed (see ``wait_closed``)."""
        with self._lock:
            if not self._transcripts:
                raise LookupError(f"no SMTP session has reached the {self.name} sink yet")
            transcript = self._transcripts[-1]
        return transcript.wait_closed(timeout)

    @property
    def ca_pem(self) -> str:
        """The course CA's certificate (PEM): what a client passes as ``cadata=``."""
        if not self.tls:
            raise RuntimeError(f"the {self.name} sink was started without tls=True")
        return course_ca_pem()

    # -- faults ------------------------------------------------------------

    @property
    def active_faults(self) -> Faults:
        return self._faults

    def faults(
        self,
        *,
        refuse_recipients: tuple[str, ...] | set[str] | frozenset[str] = (),
        refuse_senders: tuple[str, ...] | set[str] | frozenset[str] = (),
        temporary_failure: bool = False,
        drop_after_data: bool = False,
        size_limit: int | None = None,
    ) -> _FaultsInEffect:
        """Set the faults (replacing the previous ones); ``faults()`` clears them.

        In a ``with`` block they last until the block ends::

            with sink.faults(refuse_recipients={"ghost@onego.ru"}):
                ...   # RCPT TO:<ghost@onego.ru> gets 550
        """
        previous = self._faults
        self._faults = Faults(
            refuse_recipients=frozenset(a.lower() for a in refuse_recipients),
            refuse_senders=frozenset(a.lower() for a in refuse_senders),
            temporary_failure=temporary_failure,
            drop_after_data=drop_after_data,
            size_limit=size_limit,
        )
        return _FaultsInEffect(self, previous)

    # -- used by the protocol and the handler ---------------------------------

    def is_local(self, address: str) -> bool:
        """True for an address this sink delivers to itself (no relaying)."""
        local_part, at, domain = address.rpartition("@")
        if not at:
            return address.lower() == "postmaster"
        return domain.lower().rstrip(".") in self.local_domains

    def _smtp_settings(self) -> dict[str, Any]:
        return {
            "hostname": self.hostname,
            "ident": IDENT,
            "data_size_limit": self._faults.size_limit or self.size_limit,
            "enable_SMTPUTF8": True,
            "decode_data": False,
            "tls_context": self._tls_context,
            "auth_require_tls": True,
            "authenticator": _authenticator(self),
            "timeout": self.idle_timeout,
        }

    def _new_session(self) -> TranscriptSMTP:
        return _SinkSMTP(
            self._handler,
            open_session=self._open_session,
            **self._smtp_settings(),
        )

    def _open_session(self, peer: Any) -> SessionTranscript:
        with self._lock:
            transcript = SessionTranscript(
                len(self._transcripts) + 1, format_peer(peer) or "", self.events
            )
            self._transcripts.append(transcript)
        return transcript


def start_mail_sink(
    name: str = DEFAULT_NAME, port: int = 0, quiet: bool = False, **options: Any
) -> MailSink:
    """Start a ``MailSink`` (options as for the class); its status line unless ``quiet``."""
    return MailSink(name, port, **options).start(quiet)
