"""helpers.services.smtp_adapter: what it needs of aiosmtpd's internals still holds.

The adapter is the one place that relies on aiosmtpd beyond its public
interface. Each test here fails naming the aiosmtpd member or behaviour that
changed, so an upgrade of aiosmtpd that breaks the mail sink says where.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP
from smtp_checking import RawSMTP

from helpers.run.listeners import open_listener
from helpers.services import smtp_adapter
from helpers.services.smtp_adapter import HookedSMTP, SMTPController
from helpers.services.tls_ca import course_ca_pem, mail_server_context
from helpers.show.events import EventLog

TIMEOUT = 5
LIMIT = SMTP.line_length_limit
CHANGED = "the installed aiosmtpd changed: "


class Recorder(HookedSMTP):
    """Records every hook call as (hook, argument)."""

    def __init__(self, handler: Any, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.calls: list[tuple[str, Any]] = []
        self.gone = threading.Event()

    def session_opened(self, peer: Any) -> None:
        self.calls.append(("opened", peer))

    def tls_started(self) -> None:
        self.calls.append(("tls", None))

    def session_closed(self) -> None:
        self.calls.append(("closed", None))
        self.gone.set()

    def command_line(self, line: bytes) -> None:
        self.calls.append(("command", line))

    def command_overrun(self, size: int) -> None:
        self.calls.append(("command overrun", size))

    def data_line(self, line: bytes) -> None:
        self.calls.append(("data", line))

    def data_overrun(self, size: int) -> None:
        self.calls.append(("data overrun", size))

    def on_reply(self, line: bytes) -> None:
        self.calls.append(("reply", line))

    def seen(self, hook: str) -> list[Any]:
        return [argument for name, argument in self.calls if name == hook]


class Handler:
    """aiosmtpd handler hooks: DATA may drop the connection instead of answering."""

    drop = False

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.drop:
            server.transport.close()
            return "421 closing"
        return "250 OK"


def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
    from aiosmtpd.smtp import AuthResult

    return AuthResult(success=True)


@dataclass
class Served:
    controller: SMTPController
    port: int
    handler: Handler
    protocols: list[HookedSMTP] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    events: EventLog = field(default_factory=lambda: EventLog("adapter test"))


@contextmanager
def serving(protocol: type[HookedSMTP] = Recorder, **smtp_kwargs: Any) -> Iterator[Served]:
    """An SMTPController serving ``protocol`` on a free port, stopped at the end."""
    listener, _ = open_listener()
    handler = Handler()
    protocols: list[HookedSMTP] = []

    def factory() -> HookedSMTP:
        made = protocol(handler, hostname="mail.test", ident="adapter test", **smtp_kwargs)
        protocols.append(made)
        return made

    events = EventLog("adapter test")
    errors: list[BaseException] = []
    controller = SMTPController(
        factory, listener, events=events, on_error=errors.append, thread_name="helpers-server-t"
    )
    controller.start()
    try:
        yield Served(controller, listener.getsockname()[1], handler, protocols, errors, events)
    finally:
        controller.stop()


def finished(protocol: HookedSMTP) -> Recorder:
    assert isinstance(protocol, Recorder)
    assert protocol.gone.wait(TIMEOUT), "the session was never closed"
    return protocol


# -- how aiosmtpd builds and reads its stream ------------------------------------------


def test_smtp_init_hands_its_stream_reader_to_stream_reader_protocol(monkeypatch):
    handed: list[tuple[Any, tuple[Any, ...], dict[str, Any]]] = []
    swap = smtp_adapter._ReaderSwap.__init__

    def spy(self: Any, stream_reader: Any, *args: Any, **kwargs: Any) -> None:
        handed.append((stream_reader, args, kwargs))
        swap(self, stream_reader, *args, **kwargs)

    monkeypatch.setattr(smtp_adapter._ReaderSwap, "__init__", spy)
    loop = asyncio.SelectorEventLoop()
    try:
        protocol = HookedSMTP(Handler(), loop=loop)
        assert len(handed) == 1, CHANGED + "SMTP.__init__ no longer calls super().__init__ once"
        [(original, args, kwargs)] = handed
        assert type(original) is asyncio.StreamReader and not args, (
            CHANGED + "SMTP.__init__ no longer passes its StreamReader as the only positional "
            "argument of StreamReaderProtocol.__init__"
        )
        assert set(kwargs) == {"client_connected_cb", "loop"} and kwargs["loop"] is loop, (
            CHANGED + f"SMTP.__init__ passes {sorted(kwargs)} to StreamReaderProtocol.__init__, "
            "not client_connected_cb and loop"
        )
        limits = [overrun_length(loop, reader) for reader in (original, protocol._line_reader)]
        assert limits == [LIMIT + 1, LIMIT + 1], (
            CHANGED
            + f"SMTP.__init__'s StreamReader limit is no longer line_length_limit ({LIMIT}): "
            f"lines overrun at {limits[0]} bytes, the swapped reader's at {limits[1]}"
        )
    finally:
        loop.close()


def overrun_length(loop: asyncio.AbstractEventLoop, reader: asyncio.StreamReader) -> int:
    """The shortest line (LF not counted) that makes ``readuntil`` overrun."""
    for length in (LIMIT - 1, LIMIT, LIMIT + 1, LIMIT + 2):
        reader.feed_data(b"x" * length + b"\n")
        try:
            loop.run_until_complete(reader.readuntil())
        except asyncio.LimitOverrunError:
            return length
    return -1


def test_push_is_still_a_coroutine_taking_one_status():
    assert inspect.iscoroutinefunction(SMTP.push), CHANGED + "SMTP.push is no longer async"
    parameters = list(inspect.signature(SMTP.push).parameters)
    assert parameters == ["self", "status"], CHANGED + f"SMTP.push takes {parameters}"


def test_smtp_reads_from_the_swapped_reader_and_every_reply_goes_through_push():
    with serving() as served:
        raw = RawSMTP(
            ("127.0.0.1", served.port), TIMEOUT
        )  # the greeting: the protocol has its reader
        [protocol] = served.protocols
        assert protocol._reader is protocol._line_reader, (
            CHANGED + "SMTP._reader is no longer the StreamReader given to "
            "StreamReaderProtocol.__init__ (set by _cb_client_connected)"
        )
        assert raw.code(b"NOOP\r\n") == 250
        raw.code(b"HELO x\r\n")
        raw.code(b"BOGUS\r\n")
        raw.code(b"QUIT\r\n")
        raw.close()
        recorder = finished(protocol)
    assert recorder.seen("reply") == raw.received, CHANGED + "a reply bypassed SMTP.push"
    assert served.errors == []


def test_commands_auth_responses_and_message_lines_reach_their_hooks():
    with serving(auth_require_tls=False, authenticator=authenticate) as served:
        raw = RawSMTP(("127.0.0.1", served.port), TIMEOUT)
        raw.code(b"EHLO x\r\n")
        assert raw.code(b"AUTH LOGIN\r\n") == 334
        assert raw.code(b"dXNlcg==\r\n") == 334  # read with readline(), not readuntil()
        assert raw.code(b"cGFzcw==\r\n") == 235
        raw.code(b"MAIL FROM:<a@x.test>\n")  # bare LF: a command line all the same
        raw.code(b"RCPT TO:<b@x.test>\r\n")
        assert raw.code(b"DATA\r\n") == 354
        assert raw.code(b"Subject: s\r\n\r\n..dot\nlf inside\r\n.\r\n") == 250
        raw.close()
        recorder = finished(served.protocols[0])
    assert recorder.seen("command") == [
        b"EHLO x\r\n",
        b"AUTH LOGIN\r\n",
        b"dXNlcg==\r\n",
        b"cGFzcw==\r\n",
        b"MAIL FROM:<a@x.test>\n",
        b"RCPT TO:<b@x.test>\r\n",
        b"DATA\r\n",
    ], CHANGED + "commands or AUTH responses are no longer read with readuntil()/readline()"
    assert recorder.seen("data") == [
        b"Subject: s\r\n",
        b"\r\n",
        b"..dot\nlf inside\r\n",
        b".\r\n",
    ], CHANGED + "the lines of a message are no longer read with readuntil(b'\\r\\n')"
    assert recorder.commands == 7


def test_over_long_lines_reach_the_overrun_hooks_and_aiosmtpd_stays_in_step():
    with serving() as served:
        raw = RawSMTP(("127.0.0.1", served.port), TIMEOUT)
        raw.code(b"HELO x\r\n")
        assert raw.code(b"X" * (3 * LIMIT) + b"\r\n") == 500
        assert raw.code(b"NOOP\r\n") == 250
        raw.code(b"MAIL FROM:<a@x.test>\r\n")
        raw.code(b"RCPT TO:<b@x.test>\r\n")
        raw.code(b"DATA\r\n")
        assert raw.code(b"y" * (2 * LIMIT) + b"\r\n.\r\n") == 500
        assert raw.code(b"NOOP\r\n") == 250
        raw.close()
        recorder = finished(served.protocols[0])
    overruns = [name for name, _ in recorder.calls if name.endswith("overrun")]
    assert overruns and set(overruns) == {"command overrun", "data overrun"}, (
        CHANGED + "an over-long line no longer raises LimitOverrunError from readuntil()"
    )
    commands = recorder.seen("command")
    tail = commands[1]  # what is left of the over-long line once aiosmtpd drained the rest
    assert (b"X" * (3 * LIMIT) + b"\r\n").endswith(tail) and commands[2] == b"NOOP\r\n"
    assert recorder.commands == len(commands) == 7  # the over-long line counts once
    assert recorder.seen("data")[-1] == b".\r\n"
    # The sizes given to the overrun hooks are what aiosmtpd drains (LimitOverrunError.consumed).
    drained = sum(recorder.seen("command overrun")) + len(tail)
    assert drained == 3 * LIMIT + 2, CHANGED + "aiosmtpd no longer drains `consumed` bytes"
    drained = sum(recorder.seen("data overrun")) + len(recorder.seen("data")[-2])
    assert drained == 2 * LIMIT + 2, CHANGED + "aiosmtpd no longer drains `consumed` bytes"


def test_starttls_calls_connection_made_again_with_session_ssl():
    with serving(tls_context=mail_server_context()) as served:
        raw = RawSMTP(("127.0.0.1", served.port), TIMEOUT)
        raw.code(b"EHLO x\r\n")
        assert raw.code(b"STARTTLS\r\n") == 220
        context = ssl.create_default_context(cadata=course_ca_pem())
        with context.wrap_socket(raw.sock, server_hostname="localhost") as tls:
            tls.sendall(b"NOOP\r\n")
            assert tls.recv(100).startswith(b"250")
            tls.sendall(b"QUIT\r\n")
            tls.recv(100)
        raw.close()
        recorder = finished(served.protocols[0])
    names = [name for name, _ in recorder.calls if name in ("opened", "tls", "closed")]
    assert names == ["opened", "tls", "closed"], (
        CHANGED + "after STARTTLS, connection_made is not called once more with session.ssl set"
    )
    assert recorder.seen("command")[-2:] == [b"NOOP\r\n", b"QUIT\r\n"]


# -- the hooks' own promises ---------------------------------------------------------------


def test_reply_line_rewrites_what_is_sent():
    class Enhanced(Recorder):
        def reply_line(self, line: bytes) -> bytes:
            return line[:4] + b"2.0.0 " + line[4:] if line.startswith(b"250 ") else line

    with serving(Enhanced) as served:
        raw = RawSMTP(("127.0.0.1", served.port), TIMEOUT)
        raw.code(b"NOOP\r\n")
        raw.close()
        recorder = finished(served.protocols[0])
    assert raw.received[-1] == b"250 2.0.0 OK"
    assert recorder.seen("reply")[-1] == b"250 2.0.0 OK"


def test_a_closing_transport_swallows_the_reply():
    with serving() as served:
        served.handler.drop = True
        raw = RawSMTP(("127.0.0.1", served.port), TIMEOUT)
        raw.code(b"HELO x\r\n")
        raw.code(b"MAIL FROM:<a@x.test>\r\n")
        raw.code(b"RCPT TO:<b@x.test>\r\n")
        raw.code(b"DATA\r\n")
        with pytest.raises(ConnectionError):
            raw.code(b"Subject: s\r\n\r\nbody\r\n.\r\n")
        raw.close()
        recorder = finished(served.protocols[0])
    assert recorder.seen("reply")[-1].startswith(b"354")  # the 421 was neither sent nor seen


class HangsUp(Recorder):
    """Hangs up on the command STOP, and on a message line longer than two limits."""

    def command_line(self, line: bytes) -> None:
        super().command_line(line)
        if line == b"STOP\r\n":
            self.hang_up("421 4.7.0 closing")

    def data_overrun(self, size: int) -> None:
        super().data_overrun(size)
        if sum(self.seen("data overrun")) > 2 * LIMIT:
            self.hang_up(b"552 5.3.4 too big")


def test_hang_up_sends_its_reply_closes_and_aiosmtpd_reads_nothing_more():
    with serving(HangsUp) as served:
        raw = RawSMTP(("127.0.0.1", served.port), TIMEOUT)
        raw.sock.sendall(b"HELO x\r\nSTOP\r\nNOOP\r\nNOOP\r\n")  # pipelined: all in the buffer
        assert raw.reply()[0].startswith(b"250")
        assert raw.reply() == [b"421 4.7.0 closing"]
        assert raw.file.readline() == b""  # closed, and neither NOOP was answered
        raw.close()
        recorder = finished(served.protocols[0])
        reading = recorder._handler_coroutine  # the task the adapter's reader left waiting
        assert reading is not None
        deadline = time.monotonic() + TIMEOUT
        while not reading.done() and time.monotonic() < deadline:  # before stop() cancels all
            time.sleep(0.01)
        assert reading.cancelled(), (
            CHANGED + "connection_lost no longer cancels the task that reads "
            "(SMTP._handler_coroutine)"
        )
    assert recorder.seen("command") == [b"HELO x\r\n", b"STOP\r\n"]
    assert recorder.seen("reply")[-1] == b"421 4.7.0 closing"
    assert served.errors == []


def test_hang_up_inside_a_line_that_never_ends():
    with serving(HangsUp) as served:
        raw = RawSMTP(("127.0.0.1", served.port), TIMEOUT)
        raw.code(b"HELO x\r\n")
        raw.code(b"MAIL FROM:<a@x.test>\r\n")
        raw.code(b"RCPT TO:<b@x.test>\r\n")
        assert raw.code(b"DATA\r\n") == 354
        try:
            raw.sock.sendall(b"y" * (20 * LIMIT))  # no CRLF, ever
        except OSError:  # the server hung up while we were still sending
            pass
        assert raw.reply() == [b"552 5.3.4 too big"]
        try:
            assert raw.file.readline() == b""
        except ConnectionResetError:  # closed with our bytes unread: a reset, not an EOF
            pass
        raw.close()
        recorder = finished(served.protocols[0])
    assert sum(recorder.seen("data overrun")) < 20 * LIMIT  # it stopped reading
    assert recorder.seen("data") == [] and served.errors == []


# -- the controller ------------------------------------------------------------------------


def test_ready_without_a_probe_and_stop_closes_sessions_loop_and_port(capfd):
    with serving() as served:
        controller = served.controller
        assert served.protocols == []  # nobody connected to check readiness
        assert isinstance(controller.loop, asyncio.SelectorEventLoop)
        [thread] = [t for t in threading.enumerate() if t.name == "helpers-server-t"]
        raw = RawSMTP(("127.0.0.1", served.port), TIMEOUT)
        raw.code(b"HELO x\r\n")
        assert controller.sessions == served.protocols
        assert controller.stop()
        assert raw.file.readline() == b""  # a hang-up, not a reset
        raw.close()
    assert controller.loop.is_closed() and not thread.is_alive()
    assert finished(served.protocols[0]).seen("closed") == [None]
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", served.port), timeout=1).close()
    assert served.errors == [] and capfd.readouterr() == ("", "")


def test_a_failing_factory_is_recorded_and_its_client_disconnected(capfd):
    listener, _ = open_listener()
    errors: list[BaseException] = []

    def broken() -> HookedSMTP:
        raise ValueError("no protocol today")

    controller = SMTPController(
        broken,
        listener,
        events=EventLog("t"),
        on_error=errors.append,
        thread_name="helpers-server-t",
    )
    controller.start()
    try:
        with socket.create_connection(listener.getsockname()[:2], timeout=TIMEOUT) as sock:
            assert sock.recv(100) == b""
    finally:
        controller.stop()
    assert [str(e) for e in errors] == ["no protocol today"]
    assert capfd.readouterr() == ("", "")


def test_aiosmtpd_logs_go_to_the_events_without_the_deprecation_noise(caplog):
    log = logging.getLogger("mail.log")
    with serving() as served:
        logged = threading.Event()

        def in_the_servers_thread() -> None:
            log.warning("Session.login_data is deprecated and will be removed in version 2.0")
            log.warning("something worth knowing")
            logged.set()

        served.controller.loop.call_soon_threadsafe(in_the_servers_thread)
        assert logged.wait(TIMEOUT)
        log.warning("the student's own aiosmtpd")  # another thread's record: not the server's
    notes = [e.note for e in served.events if e.kind == "log"]
    assert notes == ["WARNING: something worth knowing"]
    assert [r.getMessage() for r in caplog.records] == ["the student's own aiosmtpd"]
    assert log.filters == []  # the route ended with the server
