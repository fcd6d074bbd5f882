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

What it is: aiosmtpd's ``Controller`` (its own thread and event loop) serving a
subclass of aiosmtpd's SMTP protocol that records each session
(``helpers.smtp_transcript``), with a handler that stores messages
(``helpers.mailbox_store``). It offers SIZE, 8BITMIME, SMTPUTF8; with
``tls=True`` also STARTTLS, with a certificate for mail.onego.ru, localhost and
127.0.0.1 from a CA made on the spot (``helpers.tls_ca``), and after STARTTLS
AUTH PLAIN and LOGIN for the ``users`` the notebook sets.

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
  read the same on every machine; aiosmtpd's ``mail.log`` and asyncio's logger
  go into ``sink.events``, never to a cell. ``sink.errors`` keeps handler errors.
* Faults on demand, for the lessons (``sink.faults(...)``): refuse recipients
  (550), refuse senders (553), fail temporarily (451 after DATA), drop the
  connection after DATA without a reply, a smaller size limit (552).

A re-run with the same name stops the previous sink first; ``stop_server(name)``
and ``stop_all()`` (also at exit) stop it like every other background server.
"""

from __future__ import annotations

import asyncio
import atexit
import hmac
import logging
import socket
import threading
import time
import weakref
from dataclasses import dataclass
from os import PathLike
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword, TLSSetupException

from helpers._registry import forget, register_server, stop_all, stop_server
from helpers._tracking import BACKLOG, open_listener, status_line
from helpers.events import EventLog, format_peer, route_logger
from helpers.mailbox_store import MailStore, ReceivedMail
from helpers.smtp_transcript import SessionTranscript, TranscriptSMTP
from helpers.tls_ca import course_ca_pem, mail_server_context

__all__ = ["Faults", "MailSink", "start_mail_sink", "LOCAL_DOMAINS", "SERVER_HOSTNAME"]

SERVER_HOSTNAME = "mail.onego.ru"
IDENT = "ESMTP course mail sink"
LOCAL_DOMAINS: tuple[str, ...] = ("onego.ru", "example.com", "example.net", "example.org")
SIZE_LIMIT = 10 * 1024 * 1024
SESSION_TIMEOUT = 30.0  # seconds of client silence before the sink hangs up
READY_TIMEOUT = 5.0  # only reached when something is wrong; a loaded CI machine is slow
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
            return f"553 <{address}>: sender address refused"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if not self._sink.is_local(address):
            return f"550 <{address}>: relay access denied"
        if address.lower() in self._sink.active_faults.refuse_recipients:
            return f"550 <{address}>: no such user here"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        faults = self._sink.active_faults
        if faults.drop_after_data:
            server.transport.close()
            return "421 closing"  # never sent: the transport is already closing
        if faults.temporary_failure:
            return "451 temporary failure, please try again later"
        auth = session.auth_data if session.authenticated else None
        transcript = getattr(server, "transcript", None)
        mail = ReceivedMail(
            mail_from=envelope.mail_from,
            rcpt_tos=tuple(envelope.rcpt_tos),
            peer=transcript.peer if transcript else format_peer(session.peer) or "",
            time=time.time(),
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
            self._sink._record_error(error)
            return "451 local error: message not stored, please try again later"
        return "250 OK: message stored"

    async def handle_exception(self, error: Exception) -> str:
        if isinstance(error, TLSSetupException):
            # The client gave up the handshake (it did not trust the certificate,
            # or checked another name): its decision, not the sink's error.
            cause = error.__cause__
            note = f"{type(cause).__name__}: {cause}" if cause else "handshake failed"
            self._sink.events.record("tls-failed", note=note)
            return "454 TLS not available"  # aiosmtpd closes the connection instead
        self._sink._record_error(error)
        return "451 local error in processing"


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


class _SinkController(Controller):
    """aiosmtpd's threaded Controller, on a listener opened like every other server's.

    ``open_listener`` binds first, which gives the port fallback of the other
    servers, a real port for ``port=0`` (aiosmtpd 1.4.6 would probe port 0), and
    TCP_NODELAY on every session (no 40 ms stall on EHLO's reply). The readiness probe
    connects from an address known in advance, so its session is left out of
    the transcripts without any guessing.
    """

    def __init__(self, sink: MailSink, listener: socket.socket):
        host, port = listener.getsockname()[:2]
        super().__init__(
            _SinkHandler(sink),
            hostname=host,
            port=port,
            ready_timeout=READY_TIMEOUT,
            server_hostname=sink.hostname,
            # The same kind of loop on every platform (Windows defaults to Proactor),
            # so STARTTLS swaps the transport's protocol as it does on Linux and macOS.
            loop=asyncio.SelectorEventLoop(),
        )
        self._sink = sink
        self._listener = listener
        self.probe_address: Any = None
        self.protocols: weakref.WeakSet[TranscriptSMTP] = weakref.WeakSet()

    def factory(self) -> TranscriptSMTP:
        protocol = TranscriptSMTP(
            self.handler,
            open_session=self._sink._open_session,
            loop=self.loop,
            **self._sink._smtp_settings(),
        )
        self.protocols.add(protocol)
        return protocol

    def _create_server(self) -> Any:
        return self.loop.create_server(self._factory_invoker, sock=self._listener, backlog=BACKLOG)

    def _trigger_server(self) -> None:
        with socket.socket(self._listener.family, socket.SOCK_STREAM) as probe:
            probe.settimeout(1.0)
            probe.bind((self.hostname, 0))
            self.probe_address = probe.getsockname()[:2]
            probe.connect((self.hostname, self.port))
            probe.recv(1024)

    def close_sessions(self) -> None:
        """Close every open client connection (runs in the loop, before stopping it)."""
        for protocol in list(self.protocols):
            if protocol.transport is not None:
                protocol.transport.close()


def _not_deprecation_noise(record: logging.LogRecord) -> bool:
    # aiosmtpd 1.4.6 warns about its own legacy attribute on every successful AUTH.
    return "login_data is deprecated" not in str(record.msg)


class MailSink:
    """An SMTP server on 127.0.0.1 that keeps what it accepts (see the module doc).

    ``MailSink(...)`` configures, ``start()`` binds and serves (``port=0``: any
    free port; a busy asked port falls back to a free one), ``stop()`` ends it.
    ``maildir`` (a folder) keeps messages across stop and start and across
    kernel restarts; ``users`` ({login: password}) are accepted by AUTH, which
    is offered only after STARTTLS, which is offered only with ``tls=True``.
    """

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
    ):
        self.name = name
        self.host = host
        self.port = port
        self.asked_port = port
        self.busy_port: int | None = None
        self.hostname = hostname
        self.local_domains = tuple(d.lower().rstrip(".") for d in local_domains)
        self.maildir = maildir
        self.tls = tls
        self.users: dict[str, str] = dict(users or {})
        self.size_limit = size_limit
        self.events = EventLog(f"{name} sink")
        self.errors: list[BaseException] = []
        self.mailbox = MailStore()
        self._faults = Faults()
        self._transcripts: list[SessionTranscript] = []
        self._lock = threading.Lock()
        self._controller: _SinkController | None = None
        self._tls_context: Any = None
        self._state = "new"

    # -- running -----------------------------------------------------------

    def start(self) -> MailSink:
        """Bind, serve in the background, print the status line; returns the sink."""
        with self._lock:
            if self._state == "running":
                raise RuntimeError(f"the {self.name} sink is already running")
        stop_server(self.name)  # a re-run frees the port before binding it again
        if self.tls and self._tls_context is None:
            self._tls_context = mail_server_context()
        self.mailbox = MailStore(self.maildir)
        listener, self.busy_port = open_listener(self.host, self.asked_port, BACKLOG)
        self.port = listener.getsockname()[1]
        handler = route_logger("mail.log", self.events, level=logging.WARNING)
        handler.addFilter(_not_deprecation_noise)
        route_logger("asyncio", self.events, level=logging.WARNING)
        controller = _SinkController(self, listener)
        self._controller = controller
        try:
            controller.start()
        except BaseException:
            self._controller = None
            listener.close()
            raise
        if controller._thread is not None:
            controller._thread.name = f"helpers-server-{self.name}-sink"
        with self._lock:
            self._state = "running"
        register_server(self.name, self)
        self.events.record("listen", self.address, note=f"{self.hostname}, backlog {BACKLOG}")
        print(self.status_line)
        return self

    def stop(self) -> None:
        """Close open sessions, stop the loop and free the port; safe to call twice."""
        with self._lock:
            if self._state != "running":
                return
            self._state = "stopped"
            controller, self._controller = self._controller, None
        assert controller is not None
        controller.loop.call_soon_threadsafe(controller.close_sessions)
        controller.stop()
        self.events.record("stop")
        forget(self.name, self)

    @property
    def running(self) -> bool:
        return self._state == "running"

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    @property
    def status_line(self) -> str:
        return status_line(f"{self.name} sink", self.address, self.busy_port)

    def __repr__(self) -> str:
        return self.status_line + ("" if self.running else f" ({self._state})")

    def raise_errors(self) -> None:
        """Raise the first error the sink's handler met, if any."""
        if self.errors:
            raise self.errors[0]

    # -- what it holds -----------------------------------------------------

    @property
    def messages(self) -> list[ReceivedMail]:
        return self.mailbox.messages

    def wait_for(self, count: int = 1, timeout: float = 2.0) -> list[ReceivedMail]:
        """Wait until the mailbox holds ``count`` messages; return them (TimeoutError if not)."""
        return self.mailbox.wait_for(count, timeout)

    def clear(self) -> None:
        """Empty the mailbox (and its Maildir), the transcripts and the events."""
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
            "timeout": SESSION_TIMEOUT,
        }

    def _open_session(self, peer: Any) -> SessionTranscript | None:
        controller = self._controller
        if controller is None or peer[:2] == controller.probe_address:
            return None
        with self._lock:
            transcript = SessionTranscript(
                len(self._transcripts) + 1, format_peer(peer) or "", self.events
            )
            self._transcripts.append(transcript)
        return transcript

    def _record_error(self, error: BaseException) -> None:
        self.errors.append(error)
        self.events.record("error", note=f"{type(error).__name__}: {error}")


def start_mail_sink(name: str = DEFAULT_NAME, port: int = 0, **options: Any) -> MailSink:
    """Start a ``MailSink`` (options as for the class) and print its status line."""
    return MailSink(name, port, **options).start()


atexit.register(stop_all)
