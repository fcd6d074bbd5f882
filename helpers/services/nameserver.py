"""The course's own name server: the chapter's onego.ru names, answered on loopback.

    server = start_name_server()          # prints: name server on 127.0.0.1:<port>
    server.port                            # a free port, different every run
    server.events                          # every query and reply, as a table

Why it exists: the chapter looks up www.onego.ru and finds 195.161.136.4. Asked
of the system resolver, that name would reach the real host online and fail
with a machine-dependent error offline, so the course serves the chapter's
facts itself. The zone is data (``COURSE_ZONE``), the answers are
``helpers.services.dns_answers``' (authoritative for its zones, REFUSED
outside them, negative answers with the SOA, EDNS, truncation), and nothing it
does is printed: queries, replies and garbage are recorded in ``server.events``.

It listens like a real name server, so ``dig``, ``host`` and dnspython work
against it from a terminal: UDP and TCP on the same port number (RFC 7766:
each TCP message prefixed by its two-byte length, several queries on one
connection, an idle connection closed after ``TCP_IDLE`` seconds). Both
sockets are claimed together: if either port is taken, both fall back to
another number. SERVFAIL when the answering itself fails, so a client never
waits in silence; datagrams that are not DNS queries are recorded and dropped,
and a TCP client that sends one is disconnected. Bounded: at most
``TCP_CLIENTS`` TCP connections at once (more are closed at once), each
message at most 65,535 bytes by its prefix.
"""

from __future__ import annotations

import errno
import socket
import socketserver
import struct
import sys
import threading
from typing import Any

from dnslib import QTYPE, RCODE, DNSHeader, DNSRecord

from helpers.run.listeners import BACKLOG, bind_with_fallback, claim_port, open_listener
from helpers.run.registry import running_servers
from helpers.run.service import Service
from helpers.services.dns_answers import COURSE_ZONE, Zone, edns_error, finish

__all__ = ["NameServer", "start_name_server"]

POLL = 0.05  # seconds between the serving loops' looks at the stop flag
DEFAULT_NAME = "name"
TCP_IDLE = 10.0  # seconds a TCP client may stay silent between queries (RFC 7766 §6.2.3)
TCP_CLIENTS = 64  # TCP connections served at once; any more are closed at once
PAIR_TRIES = 20  # free UDP ports tried until the same TCP port is free too


class NotAQuery(ValueError):
    """Bytes that are not a DNS query (garbage, or a reply that could start a loop)."""


def _note(request: DNSRecord) -> str:
    return f"{request.q.qname} {QTYPE.get(request.q.qtype, request.q.qtype)}"


def _reply_note(reply: DNSRecord) -> str:
    rcode = RCODE.get(reply.header.rcode, reply.header.rcode)
    types = ", ".join(str(QTYPE.get(rr.rtype, rr.rtype)) for rr in reply.rr)
    note = f"{rcode}: {types}" if types else str(rcode)
    return note + (" (truncated: TC set)" if reply.header.tc else "")


def respond(service: NameServer, data: bytes, client: Any, transport: str) -> bytes:
    """The reply bytes for one message, every step recorded in ``service.events``.

    Raises ``NotAQuery`` (recorded as "ignored") for bytes that are no query.
    """
    suffix = "" if transport == "udp" else " (tcp)"
    try:
        request = DNSRecord.parse(data)
        if request.header.qr:
            raise NotAQuery("a reply, not a query (answering it could start a loop)")
        if not request.questions:
            raise NotAQuery("no question")
    except NotAQuery as error:
        service.events.record("ignored", client, data, f"not a DNS query: {error}")
        raise
    except Exception as error:  # dnslib raises more than DNSError on some garbage
        service.events.record(
            "ignored", client, data, f"not a DNS query: {type(error).__name__}: {error}"
        )
        raise NotAQuery(str(error)) from error
    service.events.record("query", client, data, _note(request) + suffix)
    try:
        reply = edns_error(request) or service.resolver.answer(request, transport)
        wire = finish(reply, request, transport)
    except Exception as error:
        service.errors.append(error)
        service.events.record(
            "error",
            client,
            note=f"answering failed, answered SERVFAIL: {type(error).__name__}: {error}",
        )
        header = request.header
        reply = DNSRecord(DNSHeader(id=header.id, qr=1, opcode=header.opcode, rd=header.rd))
        reply.add_question(request.q)
        reply.header.rcode = RCODE.SERVFAIL
        wire = reply.pack()
    sent = DNSRecord.parse(wire)
    service.events.record("reply", client, wire, _reply_note(sent) + suffix)
    return wire


class _UDPHandler(socketserver.BaseRequestHandler):
    """One datagram in, one datagram out (none for bytes that are no query)."""

    server: _UDPServer

    def handle(self) -> None:
        data, sock = self.request
        try:
            wire = respond(self.server.service, data, self.client_address, "udp")
        except NotAQuery:
            return
        sock.sendto(wire, self.client_address)


class _TCPHandler(socketserver.BaseRequestHandler):
    """Length-prefixed messages on one connection, answered in order until it goes quiet."""

    server: _TCPServer

    def _read(self, sock: socket.socket, size: int) -> bytes | None:
        data = bytearray()
        while len(data) < size:
            chunk = sock.recv(size - len(data))
            if not chunk:
                return None
            data += chunk
        return bytes(data)

    def handle(self) -> None:
        sock: socket.socket = self.request
        service = self.server.service
        if not self.server.admit(sock):
            service.events.record(
                "ignored", self.client_address, note=f"more than {TCP_CLIENTS} TCP clients"
            )
            return
        try:
            sock.settimeout(TCP_IDLE)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            while True:
                prefix = self._read(sock, 2)
                if prefix is None:
                    return
                (length,) = struct.unpack("!H", prefix)
                data = self._read(sock, length)
                if data is None:
                    return
                try:
                    wire = respond(service, data, self.client_address, "tcp")
                except NotAQuery:
                    return  # no framing to trust after garbage: hang up
                sock.sendall(struct.pack("!H", len(wire)) + wire)
        except (TimeoutError, OSError):
            return  # idle too long, reset, or woken by stop(): the connection ends
        finally:
            self.server.release(sock)


class _UDPServer(socketserver.ThreadingMixIn, socketserver.UDPServer):
    """A thread per datagram, never sharing a port (no SO_REUSEADDR; exclusive on
    Windows), never printing."""

    daemon_threads = True
    allow_reuse_address = False
    service: NameServer

    def server_bind(self) -> None:
        claim_port(self.socket, reuse_address=False)
        super().server_bind()

    def handle_error(self, request: Any, client_address: Any) -> None:
        self.service.record_error(sys.exc_info()[1], client_address)


class _TCPServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    """A thread per connection on a listener opened like every other server's
    (``helpers.run.listeners``); ``wake_all`` shuts every connection down for a stop."""

    daemon_threads = True
    service: NameServer

    def __init__(self, listener: socket.socket) -> None:
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(listener.getsockname()[:2], _TCPHandler, bind_and_activate=False)
        self.socket.close()  # socketserver's own, never bound: the course's listener serves
        self.socket = listener

    def admit(self, sock: socket.socket) -> bool:
        with self._open_lock:
            if len(self._open) >= TCP_CLIENTS:
                return False
            self._open.add(sock)
            return True

    def release(self, sock: socket.socket) -> None:
        with self._open_lock:
            self._open.discard(sock)

    def wake_all(self) -> None:
        with self._open_lock:
            for sock in self._open:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        self.service.record_error(sys.exc_info()[1], client_address)


class NameServer(Service):
    """The course's name server on 127.0.0.1: its zone from data, its log in ``events``.

    It follows the services' contract (``helpers.run.service``): ``start()``
    binds UDP and TCP on one port number (``port`` 0 = any free one; a busy
    port falls back to a free one for both, and ``busy_port`` says which was
    asked) and serves each in a thread; ``stop()`` ends both loops, wakes every
    TCP connection and closes the sockets, so the port is free at once. A bad
    zone row fails at construction, naming the row.
    """

    protocol = "udp"  # and TCP on the same port number

    def __init__(
        self,
        zone: tuple[tuple[str, str, str], ...] = COURSE_ZONE,
        port: int = 0,
        host: str = "127.0.0.1",
        name: str = DEFAULT_NAME,
    ):
        super().__init__(name, host, port)
        self.zone = tuple(zone)
        self.resolver = Zone(self.zone)
        self._udp: _UDPServer | None = None
        self._tcp: _TCPServer | None = None
        self._threads: list[threading.Thread] = []

    def _bind_pair(self, port: int) -> tuple[_UDPServer, _TCPServer]:
        """UDP on ``port`` (0: any free one), then TCP on the same number, or neither."""
        tries = PAIR_TRIES if port == 0 else 1
        for attempt in range(tries):
            udp = _UDPServer((self.host, port), _UDPHandler)
            number = udp.server_address[1]
            try:
                listener, busy = open_listener(self.host, number, BACKLOG)
            except BaseException:
                udp.server_close()
                raise
            if busy is None:
                return udp, _TCPServer(listener)
            listener.close()  # open_listener fell back to another number: not a pair
            udp.server_close()
            if attempt == tries - 1:
                raise OSError(errno.EADDRINUSE, f"TCP port {number} is busy")
        raise AssertionError("unreachable: the last try returns or raises")

    def _open(self) -> None:
        (udp, tcp), self.busy_port = bind_with_fallback(self._bind_pair, self.asked_port)
        udp.service = tcp.service = self
        self._udp, self._tcp = udp, tcp
        self.port = udp.server_address[1]
        self.events.record("bind", self.address, note="udp and tcp")
        self._threads = [
            threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": POLL},
                name=f"helpers-server-{self.name}-{kind}",
                daemon=True,
            )
            for kind, server in (("udp", udp), ("tcp", tcp))
        ]
        for thread in self._threads:
            thread.start()

    def _close(self) -> None:
        assert self._udp is not None and self._tcp is not None
        for server in (self._udp, self._tcp):
            server.shutdown()  # serve_forever notices within POLL seconds
        self._tcp.wake_all()
        for thread in self._threads:
            thread.join(timeout=2)
        self._udp.server_close()
        self._tcp.server_close()


def start_name_server(
    zone: tuple[tuple[str, str, str], ...] = COURSE_ZONE, port: int = 0, quiet: bool = False
) -> NameServer:
    """Start the course's name server in the background and print its one status line.

    Re-running replaces the previous one (stopped first, so its port is free),
    and an edited zone is served at once. ``quiet=True`` leaves out the status
    line; the look-up helpers use it when they start the server on their own.
    ``helpers.stop_server("name")`` stops it.
    """
    return NameServer(zone, port=port).start(quiet)  # type: ignore[return-value]


def name_server() -> NameServer:
    """The running course name server; one is started quietly if none runs."""
    for server in running_servers():
        if isinstance(server, NameServer) and server.name == DEFAULT_NAME and server.running:
            return server
    return start_name_server(quiet=True)
