"""aiosmtpd behind one small adapter: its protocol with hooks, served on our own listener.

aiosmtpd gives a complete SMTP state machine (``aiosmtpd.smtp.SMTP``) but no
public hook per line: nothing is called for a command as it arrives, for a
line of the message after DATA, or for a reply as it leaves. Its ``Controller``
binds its own socket and proves readiness by connecting to it. What the course
needs from it therefore rests on a few of aiosmtpd's internals, and this module
is the only place that knows them; ``tests/test_smtp_adapter.py`` checks each
against the installed aiosmtpd and fails naming the one that changed:

* ``SMTP.__init__`` builds its ``asyncio.StreamReader`` (``limit`` =
  ``line_length_limit``) and hands it to ``StreamReaderProtocol.__init__``
  together with ``client_connected_cb``: ``_ReaderSwap``, placed between the
  two in the method resolution order, hands over a hooked reader instead;
* the protocol reads everything from that reader (it becomes ``SMTP._reader``):
  commands and AUTH responses with ``readuntil()`` (separator LF), the lines of
  a message with ``readuntil(b"\\r\\n")``, and an over-long line raises
  ``LimitOverrunError``, which aiosmtpd drains itself by reading the error's
  ``consumed`` bytes (so the overrun hooks know how much of the line went by)
  and answers once the line ends;
* a read that never returns is ended by ``connection_lost``, which cancels the
  task that reads (as for a client that disconnects): that is how a session
  the adapter hangs up on stops reading without aiosmtpd keeping anything more;
* every reply goes through ``SMTP.push(self, status)``, a coroutine.

Everything else used here is aiosmtpd's public interface (``transport``,
``session.ssl``, ``line_length_limit``, handler hooks) and asyncio's.

``HookedSMTP`` is the protocol: subclass it and override the hooks (each says
what it is for); ``SMTPController`` serves it in a thread of its own.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import weakref
from collections.abc import Callable
from typing import Any

from aiosmtpd.smtp import SMTP

from helpers.run.listeners import BACKLOG
from helpers.run.logroute import LogRoute, route_logger
from helpers.show.events import EventLog

__all__ = ["HookedSMTP", "SMTPController"]

READY_TIMEOUT = 5.0  # only reached when something is wrong; a loaded CI machine is slow
CLOSE_TIMEOUT = 1.0  # for open sessions to close on stop; then they are aborted
STOP_TIMEOUT = 5.0  # for the server's thread to end


class _HookedReader(asyncio.StreamReader):
    """The stream reader the SMTP protocol reads from, calling the protocol's hooks.

    aiosmtpd reads commands (and AUTH responses) with ``readuntil()``, whose
    separator is LF, and the lines of a message with ``readuntil(b"\\r\\n")``:
    the separator tells the two apart, so the hooks see each line exactly as it
    arrived, malformed and unknown commands included.
    """

    def __init__(self, protocol: HookedSMTP, limit: int, loop: Any) -> None:
        super().__init__(limit=limit, loop=loop)
        self._protocol = protocol

    async def readuntil(self, separator: bytes = b"\n") -> bytes:
        protocol = self._protocol
        if separator != b"\n":  # a line of the message after DATA
            try:
                line = await super().readuntil(separator)
            except asyncio.LimitOverrunError as overrun:
                protocol.data_overrun(overrun.consumed)
                if protocol.hung_up:
                    await self._never()
                raise
            protocol.data_line(line)
        else:
            try:
                line = await super().readuntil(separator)
            except asyncio.LimitOverrunError as overrun:
                protocol.command_overrun(overrun.consumed)
                if protocol.hung_up:
                    await self._never()
                raise
            protocol.commands += 1
            protocol.command_line(line)
        if protocol.hung_up:  # a hook hung up: aiosmtpd gets no more of this session
            await self._never()
        return line

    async def _never(self) -> bytes:
        """Wait until ``connection_lost`` cancels the reading task (see ``hang_up``)."""
        await asyncio.get_running_loop().create_future()
        raise AssertionError("unreachable: only cancellation ends the wait")


class _ReaderSwap(asyncio.StreamReaderProtocol):
    """Between ``SMTP`` and ``StreamReaderProtocol`` in the MRO: swaps in the hooked reader.

    ``SMTP.__init__`` makes its reader inline and passes it up; this takes the
    place of that reader with a hooked one of the same limit (the class's
    ``line_length_limit``), before the protocol ever sees a byte.
    """

    line_length_limit: int  # SMTP's, or a subclass's

    def __init__(self, stream_reader: asyncio.StreamReader, *args: Any, **kwargs: Any) -> None:
        reader = _HookedReader(self, self.line_length_limit, kwargs.get("loop"))  # type: ignore[arg-type]
        self._line_reader = reader
        super().__init__(reader, *args, **kwargs)


class HookedSMTP(SMTP, _ReaderSwap):
    """aiosmtpd's SMTP protocol (one instance per connection) with hooks for the course.

    The hooks run in the server's loop and must not block. The defaults do
    nothing; subclasses override what they need:

    * ``session_opened(peer)``, ``tls_started()``, ``session_closed()``: the
      connection's milestones;
    * ``command_line(line)``: every line the client sends outside DATA, as
      received, before aiosmtpd parses it (AUTH responses too); ``commands``
      counts them, an over-long line once (for a per-session command limit);
    * ``command_overrun(size)`` / ``data_overrun(size)``: a line longer than
      ``line_length_limit`` (a class attribute; a subclass may set a smaller
      one) arrived as a command / inside a message. aiosmtpd drains it in
      pieces of ``size`` bytes, one call each, and answers 500; the next
      ``command_line`` / ``data_line`` is the rest of that line (for cutting
      or refusing over-long lines);
    * ``data_line(line)``: every line after DATA, the final ``.`` included;
    * ``reply_line(line) -> bytes``: each reply line before it is sent, to be
      rewritten (enhanced status codes); ``on_reply(line)`` then sees it as sent.

    Any hook may call ``hang_up(reply)`` to end the session (a limit reached):
    the reply is sent, the connection closed, and aiosmtpd reads nothing more.

    ``closed`` is a future done when the connection is gone, for a clean stop.
    """

    def __init__(self, handler: Any, **smtp_kwargs: Any) -> None:
        # Explicitly, so that aiosmtpd never asks the policy for a loop of its own.
        smtp_kwargs["loop"] = smtp_kwargs.get("loop") or asyncio.get_running_loop()
        super().__init__(handler, **smtp_kwargs)
        self.commands = 0
        self.hung_up = False  # set by hang_up(): the session reads nothing more
        self.raw_transport: asyncio.BaseTransport | None = None  # the socket's, TLS or not
        self.closed: asyncio.Future[None] = self.loop.create_future()

    # -- the hooks -------------------------------------------------------------

    def session_opened(self, peer: Any) -> None:
        """A client connected from ``peer``; called before the greeting is sent."""

    def tls_started(self) -> None:
        """STARTTLS completed its handshake; the next commands arrive encrypted."""

    def session_closed(self) -> None:
        """The connection is gone (either side closed it, or the server stopped)."""

    def command_line(self, line: bytes) -> None:
        """A line from the client outside DATA, as received (line end included)."""

    def command_overrun(self, size: int) -> None:
        """``size`` bytes of an over-long command line are being drained (see the class doc)."""

    def data_line(self, line: bytes) -> None:
        """A line of the message after DATA, as received, dot-stuffing not yet undone."""

    def data_overrun(self, size: int) -> None:
        """``size`` bytes of an over-long message line are being drained (see the class doc)."""

    def reply_line(self, line: bytes) -> bytes:
        """The reply line to send instead of ``line`` (no CRLF); the default keeps it."""
        return line

    def on_reply(self, line: bytes) -> None:
        """A reply line (no CRLF) about to be sent, after ``reply_line``."""

    # -- what a hook may do ---------------------------------------------------------

    def hang_up(self, status: str | bytes) -> None:
        """Send ``status`` as the session's last reply and close the connection.

        For a hook that finds a limit reached. The reply goes through
        ``reply_line`` and ``on_reply`` like any other and leaves before the
        connection closes; the line being read is not handed to aiosmtpd, and
        any reply aiosmtpd still tries to send is dropped (see ``push``).
        """
        transport = self.transport
        if self.hung_up or transport is None or transport.is_closing():
            return
        self.hung_up = True
        line = self.reply_line(self._encode(status))
        self.on_reply(line)
        transport.write(line + b"\r\n")  # type: ignore[attr-defined]
        transport.close()

    def _encode(self, status: str | bytes) -> bytes:
        if isinstance(status, str):
            return status.encode("utf-8" if self.enable_SMTPUTF8 else "ascii")
        return bytes(status)

    # -- where aiosmtpd calls in ---------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        assert self.session is not None
        if self.session.ssl is not None:  # aiosmtpd calls again once STARTTLS is done
            self.tls_started()
        else:
            self.raw_transport = transport
            self.session_opened(transport.get_extra_info("peername"))

    def connection_lost(self, error: Exception | None) -> None:
        self.session_closed()
        super().connection_lost(error)
        if not self.closed.done():
            self.closed.set_result(None)

    async def push(self, status: Any) -> None:
        """Send one reply line: the reply hooks, then aiosmtpd's own ``push``.

        A transport already closing means the handler dropped the connection on
        purpose (a fault): the reply is neither sent nor shown to the hooks.
        """
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        line = self.reply_line(self._encode(status))
        self.on_reply(line)
        await super().push(line)


class _HangUp(asyncio.Protocol):
    """Stands in for a session the factory could not make: the client is disconnected."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.close()


def _not_deprecation_noise(record: logging.LogRecord) -> bool:
    # aiosmtpd 1.4.6 warns about its own legacy attribute on every successful AUTH.
    return "login_data is deprecated" not in str(record.msg)


class SMTPController:
    """Serves ``factory()``'s protocol on an open listener, in a thread with its own loop.

    In place of aiosmtpd's ``Controller``, which binds a socket of its own and
    connects to it to see that it is ready: here the listener is opened like
    every other server's (``helpers.run.listeners.open_listener``: the port
    fallback, TCP_NODELAY for every session), and the server is ready once
    ``create_server`` has returned, since a client connecting earlier waits in
    the listener's backlog. ``stop()`` closes the server and every session,
    cancels what still runs and closes the loop. Nothing prints: while it runs,
    what its thread logs on aiosmtpd's ``mail.log`` and asyncio's logger goes
    into ``events`` (``helpers.run.logroute``), and everyone else's records go
    where they always went; an error in ``factory`` goes to ``on_error``, and
    that client is disconnected.
    """

    def __init__(
        self,
        factory: Callable[[], HookedSMTP],
        listener: socket.socket,
        *,
        events: EventLog,
        on_error: Callable[[BaseException], None],
        thread_name: str,
    ) -> None:
        self._factory = factory
        self._listener = listener
        self._events = events
        self._on_error = on_error
        # The same kind of loop on every platform (Windows defaults to Proactor),
        # so STARTTLS swaps the transport's protocol as it does on Linux and macOS.
        self.loop = asyncio.SelectorEventLoop()
        self._protocols: weakref.WeakSet[HookedSMTP] = weakref.WeakSet()
        self._server: asyncio.AbstractServer | None = None
        self._ready = threading.Event()
        self._start_error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=thread_name, daemon=True)
        self._routes: list[LogRoute] = []

    @property
    def sessions(self) -> list[HookedSMTP]:
        """The protocols of the connections open now."""
        return [p for p in list(self._protocols) if p.transport is not None]

    def start(self, timeout: float = READY_TIMEOUT) -> None:
        """Serve in the background; returns once clients can connect (or raises)."""
        self._routes = [
            route_logger(
                "mail.log", self._events, thread=self._thread, keep=_not_deprecation_noise
            ),
            route_logger("asyncio", self._events, thread=self._thread),
        ]
        self._thread.start()
        if not self._ready.wait(timeout):
            self.stop()
            raise TimeoutError(f"the SMTP server did not start within {timeout} s")
        if self._start_error is not None:
            self.stop()
            raise self._start_error

    def stop(self, timeout: float = STOP_TIMEOUT) -> bool:
        """Close sessions, server and loop; False if the thread did not end in time."""
        try:
            self.loop.call_soon_threadsafe(self.loop.stop)
        except RuntimeError:  # the loop is closed already: the thread has ended
            pass
        if self._thread.is_alive():
            self._thread.join(timeout)
        if self._thread.is_alive():
            return False  # its routes stay: the thread may still log
        for route in self._routes:
            route.remove()
        return True

    def _session(self) -> asyncio.Protocol:
        try:
            protocol = self._factory()
        except Exception as error:  # asyncio would drop it silently and leave the socket open
            self._on_error(error)
            return _HangUp()
        self._protocols.add(protocol)
        return protocol

    def _run(self) -> None:
        loop = self.loop
        try:
            try:
                self._server = loop.run_until_complete(
                    loop.create_server(self._session, sock=self._listener, backlog=BACKLOG)
                )
            except BaseException as error:
                self._start_error = error
                return
            finally:
                self._ready.set()
            loop.run_forever()
            loop.run_until_complete(self._shut_down())
        finally:
            loop.close()

    async def _shut_down(self) -> None:
        assert self._server is not None
        self._server.close()  # closes the listener: the port is free
        sessions = self.sessions
        for protocol in sessions:
            if protocol.raw_transport is not None:
                protocol.raw_transport.close()  # the client reads EOF, not a reset
        if sessions:
            await asyncio.wait([p.closed for p in sessions], timeout=CLOSE_TIMEOUT)
        for protocol in sessions:
            if protocol.raw_transport is not None and not protocol.closed.done():
                protocol.raw_transport.abort()  # a client that does not read our replies
        tasks = [t for t in asyncio.all_tasks(self.loop) if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=CLOSE_TIMEOUT)
