"""What the course's name server answers: zone data in, a DNS reply out, no sockets.

The name server (``helpers.services.nameserver``) only moves bytes; every rule
of the answer is here, so it can be tested with messages alone::

    zone = Zone(COURSE_ZONE)
    query = DNSRecord.question("www.onego.ru", "A")
    reply = zone.answer(query)
    wire = finish(reply, query, transport="udp")      # bytes to send back

A zone is data: rows of ``(name, type, data)`` in zone-file syntax. Each SOA
row makes its name the apex of a zone the server speaks for; every other row
must lie inside one of those zones. A row that does not parse, a second SOA
for one apex, or a row outside every zone raises ``ValueError`` naming it.

The answers follow the standards a real authoritative server follows, so real
clients (``dig``, ``host``, dnspython) read them without complaint:

* **authoritative, no recursion**: AA for names inside its zones, RA never;
  RD is copied, AD and CD are not (the server checks no signatures);
* **REFUSED outside its zones**, reverse names outside the course's own
  networks included: "no such name" would be a claim about the real Internet;
* **negative answers carry the zone's SOA** in AUTHORITY (RFC 2308), with the
  SOA's MINIMUM as its TTL: NXDOMAIN for a name that does not exist, NOERROR
  with no answer (NODATA) for a name without that type;
* **class IN only**: a CHAOS question (``dig CH TXT version.bind``) is REFUSED,
  not answered with IN data;
* **EDNS (RFC 6891)**: a query with an OPT record gets one back, with the
  server's own UDP size; an EDNS version above 0 gets BADVERS; two OPTs FORMERR;
* **truncation**: a UDP reply larger than 512 bytes (or than the EDNS size the
  client offers, up to the server's ``UDP_SIZE``) is sent with TC set and no
  records, and the client asks again over TCP, where the whole answer fits;
* **zone transfer** (AXFR) over TCP: the zone's SOA, its records, the SOA again.
"""

from __future__ import annotations

from typing import Any

from dnslib import CLASS, EDNS0, QTYPE, RCODE, RR, DNSHeader, DNSRecord

__all__ = ["COURSE_ZONE", "TTL", "UDP_SIZE", "Zone", "edns_error", "finish", "zone_records"]

TTL = 300
UDP_SIZE = 1232  # what the server offers in its OPT: the size that avoids IP fragments
CLASSIC_UDP = 512  # the most a UDP reply may be for a client without EDNS (RFC 1035)
MAX_CNAME_CHAIN = 8
BADVERS = 16  # an extended RCODE: its top 8 bits go into the OPT record
SOA_DATA = "ns.onego.ru. hostmaster.onego.ru. 1 3600 600 86400 300"
LOOPBACK6_REVERSE = "1." + "0." * 31 + "ip6.arpa."

# (name, type, data) in zone-file syntax. The chapter's facts first, then what
# the mail notebook and the look-up widget need, then what makes it a zone that
# real clients accept: an SOA and NS for each zone the server speaks for.
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
    ("onego.ru.", "SOA", SOA_DATA),
    ("onego.ru.", "NS", "ns.onego.ru."),
    ("ns.onego.ru.", "A", "127.0.0.1"),
    ("136.161.195.in-addr.arpa.", "SOA", SOA_DATA),
    ("136.161.195.in-addr.arpa.", "NS", "ns.onego.ru."),
    ("127.in-addr.arpa.", "SOA", SOA_DATA),
    ("127.in-addr.arpa.", "NS", "ns.onego.ru."),
    (LOOPBACK6_REVERSE, "SOA", SOA_DATA),
    (LOOPBACK6_REVERSE, "NS", "ns.onego.ru."),
)


def _key(name: Any) -> str:
    text = str(name).lower()
    return text if text.endswith(".") else text + "."


def _under(name: str, apex: str) -> bool:
    return name == apex or name.endswith("." + apex)


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


class Zone:
    """The zones one server speaks for, from rows of data (see the module doc).

    ``answer(request)`` gives the reply as a ``DNSRecord``; ``finish`` adds EDNS
    and truncation and packs it for the transport it goes back over.
    """

    def __init__(self, rows: tuple[tuple[str, str, str], ...] = COURSE_ZONE):
        self.rows = tuple(rows)
        self.records = zone_records(self.rows)
        self.soas: dict[str, RR] = {}
        for row, rr in zip(self.rows, self.records, strict=True):
            if rr.rtype == QTYPE.SOA:
                if _key(rr.rname) in self.soas:
                    raise ValueError(f"bad zone row {row!r}: a second SOA for {rr.rname}")
                self.soas[_key(rr.rname)] = rr
        if not self.soas:
            raise ValueError(
                "the zone has no SOA row, so the server would speak for no name: "
                f"add one, as COURSE_ZONE has: ('onego.ru.', 'SOA', '{SOA_DATA}')"
            )
        for row, rr in zip(self.rows, self.records, strict=True):
            if self.apex(_key(rr.rname)) is None:
                zones = ", ".join(self.soas)
                raise ValueError(
                    f"bad zone row {row!r}: {rr.rname} is outside every zone here ({zones}); "
                    "add an SOA row for its zone"
                )

    @property
    def origins(self) -> tuple[str, ...]:
        """The apex of every zone, as the SOA rows name them."""
        return tuple(self.soas)

    def apex(self, name: str) -> str | None:
        """The closest zone apex at or above ``name``; None outside every zone."""
        inside = [apex for apex in self.soas if _under(name, apex)]
        return max(inside, key=len) if inside else None

    def _lookup(self, name: str, rtype: int) -> list[RR]:
        return [
            rr for rr in self.records if _key(rr.rname) == name and rtype in (rr.rtype, QTYPE.ANY)
        ]

    def _exists(self, name: str) -> bool:
        # A name with records below it exists even without records of its own.
        return any(_under(_key(rr.rname), name) for rr in self.records)

    def _negative_soa(self, apex: str) -> RR:
        """The SOA for AUTHORITY, its TTL the lesser of its own and MINIMUM (RFC 2308 §3)."""
        soa = self.soas[apex]
        return RR(soa.rname, QTYPE.SOA, CLASS.IN, min(soa.ttl, soa.rdata.times[-1]), soa.rdata)

    def transfer(self, apex: str) -> list[RR]:
        """A zone transfer's records: SOA, every record of the zone but the SOA, SOA."""
        soa = self.soas[apex]
        inside = [
            rr
            for rr in self.records
            if rr is not soa and self.apex(_key(rr.rname)) == apex and rr.rtype != QTYPE.SOA
        ]
        return [soa, *inside, soa]

    def answer(self, request: DNSRecord, transport: str = "udp") -> DNSRecord:
        """The reply to ``request`` (EDNS and truncation are ``finish``'s)."""
        header = request.header
        reply = DNSRecord(DNSHeader(id=header.id, qr=1, opcode=header.opcode, rd=header.rd))
        for question in request.questions:
            reply.add_question(question)
        if header.opcode != 0:
            reply.header.rcode = RCODE.NOTIMP
            return reply
        if len(request.questions) != 1:
            reply.header.rcode = RCODE.FORMERR
            return reply
        name = _key(request.q.qname)
        qtype = request.q.qtype
        apex = self.apex(name)
        if request.q.qclass != CLASS.IN or apex is None:
            reply.header.rcode = RCODE.REFUSED
            return reply
        reply.header.aa = 1
        if qtype in (QTYPE.AXFR, QTYPE.IXFR):
            if transport != "tcp" or name != apex:
                reply.header.rcode = RCODE.REFUSED  # transfers go over TCP, for a whole zone
                return reply
            for rr in self.transfer(apex):
                reply.add_answer(rr)
            return reply
        if not self._exists(name):
            reply.header.rcode = RCODE.NXDOMAIN
            reply.add_auth(self._negative_soa(apex))
            return reply
        for _ in range(MAX_CNAME_CHAIN):
            alias = self._lookup(name, QTYPE.CNAME) if qtype != QTYPE.CNAME else []
            if not alias:
                break
            reply.add_answer(alias[0])
            name = _key(alias[0].rdata.label)
        for rr in self._lookup(name, qtype):
            reply.add_answer(rr)
            if rr.rtype in (QTYPE.MX, QTYPE.NS):
                for glue in self._lookup(_key(rr.rdata.label), QTYPE.A):
                    if glue not in reply.ar:
                        reply.add_ar(glue)
        if not reply.rr:
            # NODATA: the name exists, that type does not; the SOA of its zone says so.
            target = self.apex(name)
            if target is not None:
                reply.add_auth(self._negative_soa(target))
        return reply


def _options(request: DNSRecord) -> list[RR]:
    return [rr for rr in request.ar if rr.rtype == QTYPE.OPT]


def edns_error(request: DNSRecord) -> DNSRecord | None:
    """The reply for a query whose EDNS the server cannot accept (FORMERR, BADVERS), else None."""
    options = _options(request)
    if not options:
        return None
    header = request.header
    reply = DNSRecord(DNSHeader(id=header.id, qr=1, opcode=header.opcode, rd=header.rd))
    for question in request.questions:
        reply.add_question(question)
    if len(options) > 1:
        reply.header.rcode = RCODE.FORMERR  # RFC 6891 §6.1.1: at most one OPT
        return reply
    version = (options[0].ttl >> 16) & 0xFF
    if version > 0:
        reply.header.rcode = BADVERS & 0xF  # the low 4 bits; the rest goes in the OPT
        return reply
    return None


def finish(reply: DNSRecord, request: DNSRecord, transport: str = "udp") -> bytes:
    """The reply as bytes for ``transport``: an OPT if the query had one, TC if too big.

    Over UDP the limit is 512 bytes, or the client's EDNS size (at most
    ``UDP_SIZE``); a reply over it keeps its header and question, loses its
    records and gets TC, which tells the client to ask again over TCP.
    """
    options = _options(request)
    limit = CLASSIC_UDP
    if options:
        offered = options[0]
        limit = min(max(offered.rclass, CLASSIC_UDP), UDP_SIZE)
        # A query of a later EDNS version got edns_error's reply: its RCODE is BADVERS.
        extended = BADVERS >> 4 if (offered.ttl >> 16) & 0xFF > 0 else 0
        do = "do" if offered.ttl & 0x8000 else ""
        reply.add_ar(EDNS0(udp_len=UDP_SIZE, ext_rcode=extended, version=0, flags=do))
    data = reply.pack()
    if transport != "udp" or len(data) <= limit:
        return data
    header = reply.header
    cut = DNSRecord(DNSHeader(id=header.id, bitmap=header.bitmap, tc=1), q=reply.q)
    for rr in reply.ar:
        if rr.rtype == QTYPE.OPT:
            cut.add_ar(rr)
    return cut.pack()
