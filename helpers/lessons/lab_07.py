"""Notebook 07's lab: a resolver over a raw UDP socket that follows a CNAME.

The student saves ``lab_resolve.py``, run as ``lab_resolve.py PORT NAME``. It
builds the query itself with ``struct`` (header, the name in labels, QTYPE A,
QCLASS IN), sends it over UDP to 127.0.0.1:PORT with a timeout, reads the
reply (names may be compressed), follows CNAME records to the address and
prints, like the ``host`` tool::

    smtp.onego.ru is an alias for mail.onego.ru
    mail.onego.ru has address 127.0.0.1

``check_lab(LAB)`` runs it against name servers of its own, each a behaviour a
real resolver meets: the course's zone (a plain A record; an alias answered
with its target's address in the same reply), a server that answers an alias
alone (the program must ask again for the target), a reply with another ID
sent before the true one, and a server that never answers. What the program
printed is compared with what the zone holds, never with a clock.
"""

from __future__ import annotations

import contextlib
import io
import re
import socket
import threading
from collections.abc import Iterator
from typing import Any

from dnslib import QTYPE, RR, A, DNSRecord

from helpers.lessons.labs import Failure, Lab, last_lines
from helpers.run.programs import ProgramOutput, run_program
from helpers.services.dns_answers import COURSE_ZONE, Zone, finish
from helpers.services.nameserver import NameServer

__all__ = ["LAB"]

LIMIT = 10.0  # seconds a run may take; a right program needs a fraction of one (2 s silent)
FORGED_ADDRESS = "127.6.6.6"  # what the reply with the wrong ID claims
# The checker's zone: the course's, plus an alias of an alias, to follow a chain.
LAB_ZONE = (*COURSE_ZONE, ("alias.onego.ru.", "CNAME", "smtp.onego.ru."))
LINE = re.compile(r"^\s*(\S+?)\.?\s+(is an alias for|has address)\s+(\S+?)\.?\s*$", re.I)

STUB = """\
# lab_resolve.py PORT NAME: ask the name server on 127.0.0.1:PORT for NAME's address
import random
import socket
import struct
import sys

PORT, NAME = int(sys.argv[1]), sys.argv[2]
TIMEOUT = 2.0

# 1. Build the query with struct: a 12-byte header (a random ID, flags 0x0100, one
#    question), NAME in labels (length byte + ASCII, a zero byte at the end), QTYPE A (1)
#    and QCLASS IN (1). Send it with sendto to ("127.0.0.1", PORT), after settimeout.
# 2. Read replies with recvfrom until one carries your ID. Skip the question; read each
#    answer: a name (it may be a pointer, 0xC0 and above), type, class, TTL, length, data.
# 3. Follow CNAME records from NAME; print one line per alias and one per address:
#      smtp.onego.ru is an alias for mail.onego.ru
#      mail.onego.ru has address 127.0.0.1
#    If the reply ends at an alias without its address, ask again for the alias's target.
#    If no reply comes within TIMEOUT seconds, print: no reply from the name server
"""


def expected_lines(zone: tuple[tuple[str, str, str], ...], name: str) -> list[str]:
    """What a right program prints for ``name``, read from the zone's rows."""

    def rows(owner: str, rtype: str) -> list[str]:
        return [data.rstrip(".") for n, t, data in zone if n.rstrip(".") == owner and t == rtype]

    lines = []
    while aliases := rows(name, "CNAME"):
        lines.append(f"{name} is an alias for {aliases[0]}")
        name = aliases[0]
    return lines + [f"{name} has address {address}" for address in rows(name, "A")]


def printed_lines(text: str) -> list[str]:
    """The program's alias and address lines, final dots and case evened out."""
    found = []
    for line in text.splitlines():
        match = LINE.match(line)
        if match:
            found.append(f"{match[1].lower()} {match[2].lower()} {match[3].lower()}")
    return found


class AliasOnlyZone(Zone):
    """Answers an alias with the CNAME alone, as a server does whose zone ends there."""

    def answer(self, request: DNSRecord, transport: str = "udp") -> DNSRecord:
        reply = super().answer(request, transport)
        if request.q.qtype != QTYPE.CNAME and reply.rr and reply.rr[0].rtype == QTYPE.CNAME:
            reply.rr = reply.rr[:1]
        return reply


@contextlib.contextmanager
def name_server(zone: Zone, label: str) -> Iterator[NameServer]:
    """A name server of the check's own, quiet, on a free port, answering from ``zone``."""
    server = NameServer(zone.rows, port=0, name=f"lab 07 {label}")
    server.resolver = zone
    with contextlib.redirect_stdout(io.StringIO()):
        server.start(quiet=True)
    try:
        yield server
    finally:
        server.stop()


class ForgingServer:
    """Answers every query twice: first a reply with another ID and a false address, then
    the true one, as a late reply to an earlier query (or a forged one) would arrive."""

    def __init__(self, zone: Zone) -> None:
        self.zone = zone
        self.queries = 0
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(0.1)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="lab-07-forging", daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._sock.getsockname()[1])

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                data, peer = self._sock.recvfrom(65535)
                request = DNSRecord.parse(data)
            except TimeoutError:
                continue
            except Exception:  # garbage, or the socket closed: nothing to answer
                continue
            self.queries += 1
            true = finish(self.zone.answer(request), request)
            forged = DNSRecord.parse(true)
            forged.header.id = (forged.header.id + 1) & 0xFFFF
            forged.rr = [
                RR(rr.rname, QTYPE.A, rdata=A(FORGED_ADDRESS), ttl=rr.ttl)
                if rr.rtype == QTYPE.A
                else rr
                for rr in forged.rr
            ]
            with contextlib.suppress(OSError):
                self._sock.sendto(forged.pack(), peer)
                self._sock.sendto(true, peer)

    def close(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=2)
        self._sock.close()


def _ending(result: ProgramOutput) -> str:
    return last_lines(result.text, 5)


POINTER_HINT = (
    "A length byte of 0xC0 or more is not a length but a pointer: its 14 low bits "
    "(struct.unpack('!H', two bytes)[0] & 0x3FFF) give the offset where the name goes on, "
    "from the start of the message. The answer's name is often just c0 0c; a CNAME's data "
    "ends in one too. After a pointer, carry on reading two bytes after it."
)


ARGV_HINT = "The port and the name come as arguments: int(sys.argv[1]), sys.argv[2]."


def _crash_hint(result: ProgramOutput) -> str:
    text = result.text
    if "IndexError" in text and "argv" in text:
        return ARGV_HINT
    if "interrupted" in result.note:
        return (
            "Your program was still waiting when the check ended: send the query to "
            '("127.0.0.1", PORT), set a timeout, read with recvfrom, and compare the reply\'s '
            "ID with your query's as numbers (struct.unpack('!H', reply[:2])[0])."
        )
    if any(word in text for word in ("UnicodeDecodeError", "IndexError", "struct.error")):
        return POINTER_HINT
    return ""


def _queries(server: NameServer) -> list[str]:
    return [e.note for e in server.events.events if e.kind == "query"]


def _ignored(server: NameServer) -> list[str]:
    return [e.note for e in server.events.events if e.kind == "ignored"]


def _run(lab: Lab, port: int, name: str) -> ProgramOutput:
    return run_program(lab.program, port, name, timeout=LIMIT)


def _judge(
    result: ProgramOutput, name: str, zone: Zone, what: str, hint: str, server: Any = None
) -> None:
    """Fail unless the run ended by itself and printed exactly the zone's chain for ``name``."""
    if server is not None:
        ignored = _ignored(server)
        if ignored:
            raise Failure(
                f"asking for {name}, the name server got bytes that are no DNS query "
                f"({ignored[0]}).",
                "The header is six 16-bit numbers, struct.pack('!6H', ID, 0x0100, 1, 0, 0, 0); "
                "then the name in labels ending in a zero byte, then struct.pack('!HH', 1, 1).",
            )
        if not _queries(server):
            raise Failure(
                f"asking for {name}, your program sent the name server no query "
                f"({result.note or 'it ended'}):\n" + _ending(result),
                ARGV_HINT
                if "IndexError" in result.text and "argv" in result.text
                else "Send the query with sock.sendto(query, ('127.0.0.1', PORT)), PORT being "
                "int(sys.argv[1]), before you wait with recvfrom.",
            )
        wrong = [q for q in _queries(server) if not q.endswith(" A")]
        if wrong:
            raise Failure(
                f"asking for {name}, the name server got the question {wrong[0]!r}.",
                "Ask for type A (1) in class IN (1): struct.pack('!HH', 1, 1) after the name.",
            )
    if result.returncode != 0:
        raise Failure(
            f"asking for {name}, your program did not finish normally ({result.note}):\n"
            + _ending(result),
            _crash_hint(result),
        )
    expected = expected_lines(zone.rows, name)
    got = printed_lines(result.text)
    if got != expected:
        shown = "\n".join(f"    {line}" for line in expected)
        raise Failure(
            f"{what}: asking for {name}, your program printed\n{_ending(result)}\n"
            f"  and the zone says\n{shown}",
            hint,
        )


def examine(lab: Lab) -> list[str]:
    course = Zone(LAB_ZONE)
    with name_server(course, "names") as server:
        result = _run(lab, server.port, "www.onego.ru")
        _judge(
            result,
            "www.onego.ru",
            course,
            "a name with an A record",
            "Print one line per address: 'www.onego.ru has address 195.161.136.4'. The A "
            "record's data is 4 bytes: socket.inet_ntoa(data). " + POINTER_HINT,
            server,
        )
        result = _run(lab, server.port, "smtp.onego.ru")
        _judge(
            result,
            "smtp.onego.ru",
            course,
            "an alias answered with its target's address",
            "The first answer is a CNAME (type 5): its data is a name (read it with your "
            "name reader, pointers included). Print 'smtp.onego.ru is an alias for "
            "mail.onego.ru', then follow it: the A record you want is the one whose owner is "
            "the alias's target.",
            server,
        )
    alias_only = AliasOnlyZone(LAB_ZONE)
    with name_server(alias_only, "alias-only") as server:
        result = _run(lab, server.port, "alias.onego.ru")
        asked = _queries(server)
        _judge(
            result,
            "alias.onego.ru",
            alias_only,
            "a server that answers an alias alone",
            "This server answered the CNAME and nothing more (asked: "
            + ", ".join(asked)
            + "). When the chain ends at a name whose address the reply does not carry, send "
            "a new query for that name, and go on until an A record comes.",
            server,
        )
    forging = ForgingServer(course)
    try:
        result = _run(lab, forging.port, "www.onego.ru")
    finally:
        forging.close()
    if FORGED_ADDRESS in result.text:
        raise Failure(
            f"your program printed {FORGED_ADDRESS}, the address of a reply with another ID.",
            "Pick a random ID for each query and accept only a reply that carries it: "
            "struct.unpack('!H', reply[:2])[0] == query_id; skip any other and keep waiting.",
        )
    _judge(
        result,
        "www.onego.ru",
        course,
        "a reply with another ID came first",
        "A reply whose ID is not your query's is not an error: skip it and call recvfrom "
        "again; the true reply comes next.",
    )
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))  # it never reads: queries wait unanswered
        result = _run(lab, silent.getsockname()[1], "www.onego.ru")
    if result.returncode != 0 or "no reply" not in result.text:
        hint = "If no reply comes within TIMEOUT seconds, print: no reply from the name server"
        if "interrupted" in result.note:
            hint = (
                "Set a timeout on the socket, sock.settimeout(TIMEOUT), so that a lost query "
                "or a silent server cannot hold your program for ever."
            )
        elif "TimeoutError" in result.text:
            hint = "Catch TimeoutError around recvfrom and print: no reply from the name server"
        raise Failure(
            f"against a server that never answers, your program ({result.note or 'ended'}):\n"
            + _ending(result),
            hint,
        )
    return [
        "an A record read from a reply with a compressed name",
        "an alias followed to its address in the same reply",
        "a chain of aliases followed by asking again",
        "a reply with another ID skipped",
        "a silent server given up after the timeout",
    ]


LAB = Lab(
    key="07.lab",
    title="A resolver over a raw UDP socket that follows CNAMEs",
    program="lab_resolve.py",
    stub=STUB,
    first_hint=(
        "Section 4 of the notebook builds, sends and reads a query with struct: start from "
        "its cells; your read_name must follow pointers, and your program loops over the "
        "aliases until it reaches an address."
    ),
    hints=(
        "Keep the answers as (owner, type, data) tuples, the data of an A record as "
        "socket.inet_ntoa(rdata) and of a CNAME as the name read at its data's offset; then "
        "while NAME has a CNAME: print the alias line and NAME = its target.",
        "A whole loop: ask for NAME; follow the aliases the reply holds; print the addresses "
        "of the name you reached, or, if the reply has none and you moved on to a new name, "
        "ask again for that name.",
    ),
    reference="lab_07_resolve.py",
    examine=examine,
)
