"""The course's own name server: the chapter's onego.ru names, answered on loopback.

    server = start_name_server()          # prints: name server on 127.0.0.1:<port>
    server.port                            # a free port, different every run
    server.events                          # every query and reply, as a table

Why it exists: the chapter looks up www.onego.ru and finds 195.161.136.4. Asked
of the system resolver, that name would reach the real host online and fail
with a machine-dependent error offline, so the course serves the chapter's
facts itself. The zone is data (``COURSE_ZONE``), the
server is dnslib's, and nothing it does is printed: queries, replies and
garbage are recorded in ``server.events``.

Answers: the records of the zone (authoritative, no recursion); NXDOMAIN for a
name under onego.ru or a reverse zone that has no records; REFUSED for names
outside those zones (this server knows nothing else); SERVFAIL when the
resolver itself fails, so a client never waits in silence; datagrams that are
not DNS queries are recorded and dropped, as any name server does.
"""

from __future__ import annotations

import socketserver
import sys
import threading
from typing import Any

from dnslib import QTYPE, RCODE, RR, DNSError, DNSRecord
from dnslib.server import BaseResolver, DNSHandler, DNSLogger, DNSServer

from helpers.run.listeners import bind_with_fallback, claim_port
from helpers.run.registry import running_servers
from helpers.run.service import Service
from helpers.show.events import EventLog

__all__ = ["NameServer", "start_name_server"]

TTL = 300

# (name, type, data in zone-file syntax). The chapter's facts first, then what
# the mail notebook and the look-up widget need.
COURSE_ZONE: tuple[tuple[str, str, str], ...] = (
    ("www.onego.ru.", "A", "195.161.136.4"),
    ("4.136.161.195.in-addr.arpa.", "PTR", "www.onego.ru."),
    ("rnd.onego.ru.", "A", "127.0.0.1"),
    ("rnd.onego.ru.", "AAAA", "::1"),
    ("onego.ru.", "MX", "10 mail.onego.ru."),
    ("mail.onego.ru.", "A", "127.0.0.1"),
    ("smtp.onego.ru.", "CNAME", "mail.onego.ru."),
    ("onego.ru.", "TXT", '"v=spf1 mx -all"'),
    ("www.onego.ru.", "TXT", '"the chapter\'s web server, served offline by the course"'),
)

# The zones this server speaks for; any other name is REFUSED, not NXDOMAIN,
# because "it does not exist" would be a claim about the real Internet.
ORIGINS: tuple[str, ...] = ("onego.ru.", "in-addr.arpa.", "ip6.arpa.")

MAX_CNAME_CHAIN = 8
POLL = 0.05  # seconds between the serving loop's looks at the stop flag
DEFAULT_NAME = "name"


def _key(name: Any) -> str:
    text = str(name).lower()
    return text if text.endswith(".") else text + "."


def zone_records(zone: tuple[tuple[str, str, str], ...]) -> list[RR]:
    """The zone rows as dnslib records; a bad row raises ValueError naming it."""
    records = []
    for row in zone:
        try:
            name, rtype, data = row
            parsed = RR.fromZone(f"{name} {TTL} IN {rtype} {data}")
        except Exception as exc:
            raise ValueError(f"bad zone row {row!r}: {exc}") from exc
        if len(parsed) != 1:
            raise ValueError(f"bad zone row {row!r}: gives {len(parsed)} records")
        records.append(parsed[0])
    return records


class ZoneResolver(BaseResolver):
    """Answers from a fixed list of records. Only ``answer`` knows DNS rules;
    ``resolve`` turns any failure in it into SERVFAIL instead of silence."""

    def __init__(self, zone: tuple[tuple[str, str, str], ...], origins: tuple[str, ...] = ORIGINS):
        self.records = zone_records(zone)
        self.origins = tuple(_key(origin) for origin in origins)

    def _lookup(self, name: str, rtype: int) -> list[RR]:
        return [
            rr for rr in self.records if _key(rr.rname) == name and rtype in (rr.rtype, QTYPE.ANY)
        ]

    def _exists(self, name: str) -> bool:
        # A name with records below it exists even without records of its own.
        return any(
            _key(rr.rname) == name or _key(rr.rname).endswith("." + name) for rr in self.records
        )

    def answer(self, request: DNSRecord) -> DNSRecord:
        reply = request.reply(ra=0, aa=1)
        if request.header.opcode != 0:
            reply.header.rcode = RCODE.NOTIMP
            return reply
        if len(request.questions) != 1:
            reply.header.rcode = RCODE.FORMERR
            return reply
        name = _key(request.q.qname)
        qtype = request.q.qtype
        if not any(name == origin or name.endswith("." + origin) for origin in self.origins):
            reply.header.aa = 0
            reply.header.rcode = RCODE.REFUSED
            return reply
        if not self._exists(name):
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        for _ in range(MAX_CNAME_CHAIN):
            alias = self._lookup(name, QTYPE.CNAME) if qtype != QTYPE.CNAME else []
            if not alias:
                break
            reply.add_answer(alias[0])
            name = _key(alias[0].rdata.label)
        for rr in self._lookup(name, qtype):
            reply.add_answer(rr)
            if rr.rtype == QTYPE.MX:
                for glue in self._lookup(_key(rr.rdata.label), QTYPE.A):
                    reply.add_ar(glue)
        return reply

    def resolve(self, request: DNSRecord, handler: Any) -> DNSRecord:
        return self.answer(request)


class EventLogger(DNSLogger):
    """dnslib's logger interface, writing into an EventLog instead of printing."""

    def __init__(self, events: EventLog):
        # The default hooks (request, reply, truncated, error) are the ones
        # overridden below; the others (raw recv/send, zone dumps) stay off.
        super().__init__(prefix=False, logf=self._never)
        self.events = events

    @staticmethod
    def _never(text: str) -> None:
        """No line of dnslib's own text output is wanted anywhere."""

    def log_request(self, handler: Any, request: DNSRecord) -> None:
        note = f"{request.q.qname} {QTYPE.get(request.q.qtype, request.q.qtype)}"
        self.events.record(
            "query", handler.client_address, getattr(handler, "query_bytes", b""), note
        )

    def log_reply(self, handler: Any, reply: DNSRecord) -> None:
        rcode = RCODE.get(reply.header.rcode, reply.header.rcode)
        types = ", ".join(str(QTYPE.get(rr.rtype, rr.rtype)) for rr in reply.rr)
        note = f"{rcode}: {types}" if types else str(rcode)
        self.events.record(
            "reply", handler.client_address, getattr(handler, "reply_bytes", b""), note
        )

    def log_error(self, handler: Any, error: Any) -> None:
        self.events.record(
            "ignored",
            handler.client_address,
            getattr(handler, "query_bytes", b""),
            f"not a DNS query: {error}",
        )

    def log_truncated(self, handler: Any, reply: DNSRecord) -> None:
        self.events.record("reply", handler.client_address, note="truncated (TC set)")


class _Handler(DNSHandler):
    """dnslib's handler with two guarantees added: any datagram that does not
    parse is "ignored" (never a traceback), and a failing resolver gives SERVFAIL."""

    def get_reply(self, data: bytes) -> bytes:
        self.query_bytes = bytes(data)
        try:
            request = DNSRecord.parse(data)
        except DNSError:
            raise
        except Exception as exc:  # dnslib raises more than DNSError on some garbage
            raise DNSError(f"{type(exc).__name__}: {exc}") from exc
        if request.header.qr:
            raise DNSError("a reply, not a query (answering it could start a loop)")
        logger = self.server.logger
        logger.log_request(self, request)
        try:
            reply = self.server.resolver.resolve(request, self)
            rdata = reply.pack()
        except Exception as exc:
            self.server.service.errors.append(exc)
            self.server.service.events.record(
                "error",
                self.client_address,
                note=f"resolver failed, answered SERVFAIL: {type(exc).__name__}: {exc}",
            )
            reply = request.reply(ra=0, aa=0)
            reply.header.rcode = RCODE.SERVFAIL
            rdata = reply.pack()
        self.reply_bytes = rdata
        logger.log_reply(self, reply)
        return rdata


class _UDPServer(socketserver.ThreadingMixIn, socketserver.UDPServer):
    """A thread per datagram, like dnslib's own, but never sharing a port
    (no SO_REUSEADDR; SO_EXCLUSIVEADDRUSE on Windows) and never printing."""

    daemon_threads = True
    allow_reuse_address = False

    def server_bind(self) -> None:
        claim_port(self.socket, reuse_address=False)
        super().server_bind()

    def handle_error(self, request: Any, client_address: Any) -> None:
        self.service.record_error(sys.exc_info()[1], client_address)


class NameServer(Service):
    """dnslib's DNSServer on 127.0.0.1, its zone from data, its log in ``events``.

    It follows the services' contract (``helpers.run.service``): ``start()``
    binds (``port`` 0 = any free port; a busy port falls back to a free one and
    ``busy_port`` says which was asked) and serves in a thread; ``stop()`` ends
    the loop and closes the socket, so the port is free at once (dnslib's own
    ``stop()`` leaves the socket open). A bad zone row fails at construction.
    """

    protocol = "udp"

    def __init__(
        self,
        zone: tuple[tuple[str, str, str], ...] = COURSE_ZONE,
        port: int = 0,
        host: str = "127.0.0.1",
        name: str = DEFAULT_NAME,
    ):
        super().__init__(name, host, port)
        self.zone = tuple(zone)
        self.resolver = ZoneResolver(self.zone)
        self._dns: DNSServer | None = None
        self._thread: threading.Thread | None = None

    def _bind(self, port: int) -> DNSServer:
        dns = DNSServer(
            self.resolver,
            address=self.host,
            port=port,
            logger=EventLogger(self.events),
            handler=_Handler,
            server=_UDPServer,
        )
        dns.server.service = self
        return dns

    def _open(self) -> None:
        self._dns, self.busy_port = bind_with_fallback(self._bind, self.asked_port)
        self.port = self._dns.server.server_address[1]
        self.events.record("bind", self.address, note="udp")
        # dnslib's start_thread() polls for stop() every 0.5 s; a re-run cell
        # should not wait that long for the old server to go.
        self._thread = threading.Thread(
            target=self._dns.server.serve_forever,
            kwargs={"poll_interval": POLL},
            name=f"helpers-server-{self.name}",
            daemon=True,
        )
        self._thread.start()

    def _close(self) -> None:
        assert self._dns is not None and self._thread is not None
        self._dns.stop()  # shutdown() before serve_forever() would wait forever
        self._thread.join(timeout=2)
        self._dns.server.server_close()


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
