"""DNS messages as bytes: build a query and read a reply, with nothing but ``struct``.

    >>> query = build_query("www.onego.ru", "A", query_id=0x1234)
    >>> query[:12].hex(" ")
    '12 34 01 00 00 01 00 00 00 00 00 00'
    >>> encode_name("www.onego.ru")
    b'\\x03www\\x05onego\\x02ru\\x00'
    >>> reverse_pointer("195.161.136.4")
    '4.136.161.195.in-addr.arpa.'

Pure functions, no sockets: the notebook sends the bytes itself, and the tests
compare every result with dnslib's parser. Names come back absolute, with the
final dot ("www.onego.ru."), as DNS writes them; a malformed message raises
``DNSWireError`` (a ``ValueError``) that says where it went wrong.
"""

from __future__ import annotations

import ipaddress
import struct
from typing import NamedTuple

# Record types the course shows; any other type is still parsed, its data kept raw.
TYPE_CODES: dict[str, int] = {
    "A": 1,
    "NS": 2,
    "CNAME": 5,
    "SOA": 6,
    "PTR": 12,
    "MX": 15,
    "TXT": 16,
    "AAAA": 28,
}
TYPE_NAMES: dict[int, str] = {code: name for name, code in TYPE_CODES.items()}

RCODE_NAMES: dict[int, str] = {
    0: "NOERROR",
    1: "FORMERR",
    2: "SERVFAIL",
    3: "NXDOMAIN",
    4: "NOTIMP",
    5: "REFUSED",
}

CLASS_IN = 1
HEADER = struct.Struct("!HHHHHH")  # id, flags, QDCOUNT, ANCOUNT, NSCOUNT, ARCOUNT
FLAG_QR = 0x8000  # 1 in a reply
FLAG_AA = 0x0400  # the answer comes from the zone's own server
FLAG_TC = 0x0200  # truncated: ask again over TCP
FLAG_RD = 0x0100  # "recursion desired": please ask other servers for me
FLAG_RA = 0x0080  # the server offers recursion

MAX_LABEL = 63  # a label's length byte has two bits reserved for pointers
MAX_NAME = 255  # the encoded name, length bytes and final zero included
POINTER = 0xC0  # two top bits set: the next 14 bits point back into the message


class DNSWireError(ValueError):
    """A name that cannot be encoded or a message that cannot be parsed."""


class Header(NamedTuple):
    id: int
    qr: bool
    opcode: int
    aa: bool
    tc: bool
    rd: bool
    ra: bool
    rcode: int
    qdcount: int
    ancount: int
    nscount: int
    arcount: int

    @property
    def rcode_name(self) -> str:
        return RCODE_NAMES.get(self.rcode, f"RCODE{self.rcode}")


class Question(NamedTuple):
    name: str
    type: str
    rclass: int


class MX(NamedTuple):
    preference: int
    exchange: str


class Record(NamedTuple):
    """One resource record. ``data`` depends on the type:

    A / AAAA -> address text; CNAME / PTR / NS -> a name; MX -> ``MX(preference,
    exchange)``; TXT -> tuple of strings; SOA -> tuple (mname, rname, serial,
    refresh, retry, expire, minimum); any other type -> the raw bytes.
    """

    name: str
    type: str
    rclass: int
    ttl: int
    data: object


class Message(NamedTuple):
    header: Header
    questions: list[Question]
    answers: list[Record]
    authority: list[Record]
    additional: list[Record]


def type_code(rdtype: str | int) -> int:
    """The number for a type name ("MX" -> 15); numbers pass through."""
    if isinstance(rdtype, int):
        if not 0 <= rdtype <= 0xFFFF:
            raise DNSWireError(f"a type is a 16-bit number, not {rdtype}")
        return rdtype
    try:
        return TYPE_CODES[rdtype.upper()]
    except KeyError:
        known = ", ".join(TYPE_CODES)
        raise DNSWireError(f"unknown record type {rdtype!r} (known: {known})") from None


def type_name(code: int) -> str:
    """The name for a type number (15 -> "MX"); unknown numbers read "TYPE<n>"."""
    return TYPE_NAMES.get(code, f"TYPE{code}")


def encode_name(name: str) -> bytes:
    """A name in label format: each label prefixed by its length, then a zero byte.

    "www.onego.ru" and "www.onego.ru." give the same bytes; "." is the root (b"\\x00").
    Labels are ASCII (an international name goes in as its "xn--" form).
    """
    if name in ("", "."):
        return b"\x00"
    labels = name[:-1].split(".") if name.endswith(".") else name.split(".")
    out = bytearray()
    for label in labels:
        raw = label.encode("ascii")
        if not raw:
            raise DNSWireError(f"empty label in {name!r} (two dots in a row?)")
        if len(raw) > MAX_LABEL:
            raise DNSWireError(f"label {label[:20]!r}... is {len(raw)} bytes; at most {MAX_LABEL}")
        out += bytes([len(raw)]) + raw
    out += b"\x00"
    if len(out) > MAX_NAME:
        raise DNSWireError(f"name is {len(out)} bytes encoded; at most {MAX_NAME}")
    return bytes(out)


def build_header(
    query_id: int,
    flags: int = FLAG_RD,
    qdcount: int = 1,
    ancount: int = 0,
    nscount: int = 0,
    arcount: int = 0,
) -> bytes:
    """The fixed 12-byte header: id, flags and the four section counts, big-endian."""
    return HEADER.pack(query_id, flags, qdcount, ancount, nscount, arcount)


def build_query(
    name: str, rdtype: str | int = "A", query_id: int = 0, recursion_desired: bool = True
) -> bytes:
    """A complete query: header (one question) + name + type + class IN.

    ``query_id`` lets the client match the reply to its question; pick a random one
    for real traffic (a fixed id is easy to spoof), a fixed one to get the same bytes.
    """
    flags = FLAG_RD if recursion_desired else 0
    question = encode_name(name) + struct.pack("!HH", type_code(rdtype), CLASS_IN)
    return build_header(query_id, flags) + question


def parse_header(message: bytes) -> Header:
    """The header's fields, flags split out of their 16 bits."""
    if len(message) < HEADER.size:
        raise DNSWireError(f"a header is {HEADER.size} bytes; got {len(message)}")
    query_id, flags, qd, an, ns, ar = HEADER.unpack_from(message)
    return Header(
        id=query_id,
        qr=bool(flags & FLAG_QR),
        opcode=(flags >> 11) & 0xF,
        aa=bool(flags & FLAG_AA),
        tc=bool(flags & FLAG_TC),
        rd=bool(flags & FLAG_RD),
        ra=bool(flags & FLAG_RA),
        rcode=flags & 0xF,
        qdcount=qd,
        ancount=an,
        nscount=ns,
        arcount=ar,
    )


def decode_name(message: bytes, offset: int) -> tuple[str, int]:
    """Read a name at ``offset``; return it and the offset just after it.

    A length byte with its two top bits set is a pointer: the name goes on at an
    earlier place in the message (compression). The returned offset is the one
    after the first pointer, since what follows in the message is not at the target.
    """
    labels: list[str] = []
    end: int | None = None  # where parsing resumes, fixed by the first pointer
    seen: set[int] = set()
    length_so_far = 1
    while True:
        if offset >= len(message):
            raise DNSWireError(f"name runs past the end of the message at byte {offset}")
        length = message[offset]
        if length & POINTER == POINTER:
            if offset + 1 >= len(message):
                raise DNSWireError(f"pointer cut off at byte {offset}")
            target = struct.unpack_from("!H", message, offset)[0] & 0x3FFF
            if end is None:
                end = offset + 2
            if target in seen:
                raise DNSWireError(f"pointer loop at byte {target}")
            seen.add(target)
            offset = target
            continue
        if length & POINTER:
            raise DNSWireError(f"reserved label type {length:#04x} at byte {offset}")
        if length == 0:
            name = ".".join(labels) + "."
            return name, (offset + 1 if end is None else end)
        label = message[offset + 1 : offset + 1 + length]
        if len(label) < length:
            raise DNSWireError(f"label at byte {offset} runs past the end of the message")
        length_so_far += length + 1
        if length_so_far > MAX_NAME:
            raise DNSWireError(f"name longer than {MAX_NAME} bytes")
        labels.append(label.decode("ascii", errors="backslashreplace"))
        offset += 1 + length


def _unpack(fmt: str, message: bytes, offset: int) -> tuple:
    try:
        return struct.unpack_from(fmt, message, offset)
    except struct.error:
        raise DNSWireError(f"message cut off at byte {offset}") from None


def _parse_question(message: bytes, offset: int) -> tuple[Question, int]:
    name, offset = decode_name(message, offset)
    qtype, qclass = _unpack("!HH", message, offset)
    return Question(name, type_name(qtype), qclass), offset + 4


def _parse_txt(rdata: bytes) -> tuple[str, ...]:
    strings = []
    i = 0
    while i < len(rdata):
        length = rdata[i]
        chunk = rdata[i + 1 : i + 1 + length]
        if len(chunk) < length:
            raise DNSWireError("TXT string runs past its record")
        strings.append(chunk.decode("utf-8", errors="backslashreplace"))
        i += 1 + length
    return tuple(strings)


def _parse_rdata(message: bytes, rtype: int, start: int, end: int) -> object:
    """Record data. Names inside it may point anywhere in the message, so the
    whole message is passed, not only the record's own bytes."""
    rdata = message[start:end]
    if rtype == 1:
        if len(rdata) != 4:
            raise DNSWireError(f"an A record holds 4 bytes, not {len(rdata)}")
        return str(ipaddress.IPv4Address(rdata))
    if rtype == 28:
        if len(rdata) != 16:
            raise DNSWireError(f"an AAAA record holds 16 bytes, not {len(rdata)}")
        return str(ipaddress.IPv6Address(rdata))
    if rtype in (2, 5, 12):
        name, after = decode_name(message, start)
        if after != end:
            raise DNSWireError(f"{type_name(rtype)} data does not end where its length says")
        return name
    if rtype == 15:
        (preference,) = _unpack("!H", message, start)
        exchange, after = decode_name(message, start + 2)
        if after != end:
            raise DNSWireError("MX data does not end where its length says")
        return MX(preference, exchange)
    if rtype == 16:
        return _parse_txt(rdata)
    if rtype == 6:
        mname, offset = decode_name(message, start)
        rname, offset = decode_name(message, offset)
        numbers = _unpack("!IIIII", message, offset)
        if offset + 20 != end:
            raise DNSWireError("SOA data does not end where its length says")
        return (mname, rname, *numbers)
    return bytes(rdata)


def _parse_record(message: bytes, offset: int) -> tuple[Record, int]:
    name, offset = decode_name(message, offset)
    rtype, rclass, ttl, rdlength = _unpack("!HHIH", message, offset)
    start = offset + 10
    end = start + rdlength
    if end > len(message):
        raise DNSWireError(f"record data at byte {start} runs past the end of the message")
    data = _parse_rdata(message, rtype, start, end)
    return Record(name, type_name(rtype), rclass, ttl, data), end


def parse_message(message: bytes) -> Message:
    """Header, questions and the three record sections of a whole DNS message."""
    message = bytes(message)  # a bytearray would reach ipaddress, which wants bytes
    header = parse_header(message)
    offset = HEADER.size
    questions = []
    for _ in range(header.qdcount):
        question, offset = _parse_question(message, offset)
        questions.append(question)
    sections: list[list[Record]] = []
    for count in (header.ancount, header.nscount, header.arcount):
        records = []
        for _ in range(count):
            record, offset = _parse_record(message, offset)
            records.append(record)
        sections.append(records)
    return Message(header, questions, *sections)


def message_parts(message: bytes) -> list[tuple[str, int, int]]:
    """Which bytes are which: ``(part, start, end)`` for the header, each question
    and each record ("answer", "authority", "additional"), in message order."""
    message = bytes(message)
    header = parse_header(message)
    parts = [("header", 0, HEADER.size)]
    offset = HEADER.size
    for _ in range(header.qdcount):
        _, end = _parse_question(message, offset)
        parts.append(("question", offset, end))
        offset = end
    for part, count in (
        ("answer", header.ancount),
        ("authority", header.nscount),
        ("additional", header.arcount),
    ):
        for _ in range(count):
            _, end = _parse_record(message, offset)
            parts.append((part, offset, end))
            offset = end
    return parts


def record_text(record: Record) -> str:
    """The data the way a zone file writes it ("10 mail.onego.ru.", '"v=spf1 mx -all"')."""
    data = record.data
    if isinstance(data, MX):
        return f"{data.preference} {data.exchange}"
    if record.type == "TXT":
        return " ".join('"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"' for s in data)
    if isinstance(data, tuple):
        return " ".join(str(part) for part in data)
    if isinstance(data, bytes):
        return f"\\# {len(data)} {data.hex()}".rstrip()
    return str(data)


def reverse_pointer(address: str) -> str:
    """The name a reverse (PTR) look-up asks for: "195.161.136.4" -> "4.136.161.195.in-addr.arpa.".

    The octets go backwards because DNS names grow more specific to the left and
    addresses to the right. IPv6 addresses go nibble by nibble under ip6.arpa.
    """
    ip = ipaddress.ip_address(address)
    if ip.version == 4:
        return ".".join(reversed(str(ip).split("."))) + ".in-addr.arpa."
    nibbles = ip.exploded.replace(":", "")
    return ".".join(reversed(nibbles)) + ".ip6.arpa."
