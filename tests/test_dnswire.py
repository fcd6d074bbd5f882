"""The hand-built DNS query and parser (helpers.wire.dnswire) against dnslib's, byte for byte."""

from __future__ import annotations

import ipaddress
import struct

import dns.reversename
import pytest
from dnslib import (
    AAAA,
    CNAME,
    MX,
    NS,
    PTR,
    QTYPE,
    RD,
    RR,
    TXT,
    A,
    DNSHeader,
    DNSQuestion,
    DNSRecord,
)
from dnslib.label import DNSBuffer
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers.wire import dnswire
from helpers.wire.dnswire import (
    DNSWireError,
    build_query,
    decode_name,
    encode_name,
    parse_header,
    parse_message,
    record_text,
    reverse_pointer,
)

LABEL = st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=20)
NAMES = st.lists(LABEL, min_size=1, max_size=5).map(".".join)
TYPES = st.sampled_from(["A", "AAAA", "MX", "PTR", "TXT", "CNAME", "NS"])
IPV4 = st.ip_addresses(v=4).map(str)
IPV6 = st.ip_addresses(v=6).map(str)
TXT_STRINGS = st.lists(
    st.text(min_size=0, max_size=60).filter(lambda s: len(s.encode()) <= 255),
    min_size=1,
    max_size=3,
)


def _rdata(kind: str, draw: st.DrawFn, names: list[str]):
    if kind == "A":
        return A(draw(IPV4))
    if kind == "AAAA":
        return AAAA(draw(IPV6))
    target = draw(st.sampled_from(names))
    if kind == "MX":
        return MX(target, draw(st.integers(0, 65535)))
    if kind == "TXT":
        return TXT([s.encode() for s in draw(TXT_STRINGS)])
    return {"PTR": PTR, "CNAME": CNAME, "NS": NS}[kind](target)


@st.composite
def replies(draw: st.DrawFn) -> DNSRecord:
    """A reply whose names share suffixes, so that dnslib compresses them."""
    base = draw(NAMES)
    names = [base] + [f"{label}.{base}" for label in draw(st.lists(LABEL, max_size=4))]
    names += draw(st.lists(NAMES, max_size=2))
    qtype = draw(TYPES)
    reply = DNSRecord(
        DNSHeader(id=draw(st.integers(0, 65535)), qr=1, aa=draw(st.booleans()), rd=1),
        q=DNSQuestion(draw(st.sampled_from(names)), getattr(QTYPE, qtype)),
    )
    for add in (reply.add_answer, reply.add_auth, reply.add_ar):
        for _ in range(draw(st.integers(0, 3))):
            kind = draw(TYPES)
            rdata = _rdata(kind, draw, names)
            ttl = draw(st.integers(0, 2**31 - 1))
            add(RR(draw(st.sampled_from(names)), getattr(QTYPE, kind), rdata=rdata, ttl=ttl))
    return reply


def _expected_data(rr: RR) -> object:
    """dnslib's view of a record's data, in the shape helpers.wire.dnswire gives it."""
    kind = QTYPE[rr.rtype]
    if kind == "A":
        return str(rr.rdata)
    if kind == "AAAA":
        return str(ipaddress.IPv6Address(bytes(rr.rdata.data)))
    if kind == "MX":
        return dnswire.MX(rr.rdata.preference, str(rr.rdata.label))
    if kind == "TXT":
        return tuple(s.decode() for s in rr.rdata.data)
    return str(rr.rdata.label)


# --- names ---


def test_encode_name_of_the_chapter_host() -> None:
    assert encode_name("www.onego.ru") == b"\x03www\x05onego\x02ru\x00"
    assert encode_name("www.onego.ru.") == encode_name("www.onego.ru")
    assert encode_name(".") == b"\x00"


@given(NAMES)
def test_encode_name_agrees_with_dnslib(name: str) -> None:
    question = DNSRecord(DNSHeader(id=0), q=DNSQuestion(name)).pack()
    assert encode_name(name) == question[12:-4]


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("a..b", "empty label"),
        ("x" * 64 + ".ru", "at most 63"),
        (".".join(["abcdefg"] * 40), "255"),
    ],
)
def test_encode_name_refuses_what_dns_cannot_carry(name: str, why: str) -> None:
    with pytest.raises(DNSWireError, match=why):
        encode_name(name)


def test_decode_name_follows_a_pointer_and_returns_the_offset_after_it() -> None:
    message = b"\x00" * 12 + b"\x05onego\x02ru\x00" + b"\x03www\xc0\x0c" + b"rest"
    assert decode_name(message, 12) == ("onego.ru.", 22)
    assert decode_name(message, 22) == ("www.onego.ru.", 28)


def test_decode_name_refuses_a_pointer_loop() -> None:
    message = b"\x00" * 12 + b"\x01a\xc0\x0c"
    with pytest.raises(DNSWireError, match="loop"):
        decode_name(message, 12)


# --- queries and headers ---


@given(NAMES, TYPES, st.integers(0, 65535), st.booleans())
def test_build_query_is_byte_for_byte_dnslibs(name: str, rdtype: str, qid: int, rd: bool) -> None:
    ours = build_query(name, rdtype, query_id=qid, recursion_desired=rd)
    header = DNSHeader(id=qid, bitmap=0)
    header.rd = int(rd)
    theirs = DNSRecord(header, q=DNSQuestion(name, getattr(QTYPE, rdtype))).pack()
    assert ours == theirs
    parsed = DNSRecord.parse(ours)
    assert str(parsed.q.qname) == name + "." and QTYPE[parsed.q.qtype] == rdtype


def test_build_query_refuses_an_unknown_type() -> None:
    with pytest.raises(DNSWireError, match="unknown record type 'AXFRX'"):
        build_query("onego.ru", "AXFRX")


@given(
    st.integers(0, 65535),
    st.booleans(),
    st.integers(0, 15),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.integers(0, 15),
    st.lists(st.integers(0, 65535), min_size=4, max_size=4),
)
def test_parse_header_agrees_with_dnslib(qid, qr, opcode, aa, tc, rd, ra, rcode, counts) -> None:
    header = DNSHeader(id=qid, bitmap=0, q=counts[0], a=counts[1], auth=counts[2], ar=counts[3])
    header.qr, header.opcode, header.aa, header.tc = int(qr), opcode, int(aa), int(tc)
    header.rd, header.ra, header.rcode = int(rd), int(ra), rcode
    buffer = DNSBuffer()
    header.pack(buffer)
    ours = parse_header(bytes(buffer.data))
    assert (ours.id, ours.qr, ours.opcode, ours.aa, ours.tc, ours.rd, ours.ra, ours.rcode) == (
        qid,
        qr,
        opcode,
        aa,
        tc,
        rd,
        ra,
        rcode,
    )
    assert [ours.qdcount, ours.ancount, ours.nscount, ours.arcount] == counts


def test_rcode_names() -> None:
    nxdomain = struct.pack("!HHHHHH", 7, 0x8183, 1, 0, 0, 0)
    assert parse_header(nxdomain).rcode_name == "NXDOMAIN"
    assert parse_header(struct.pack("!HHHHHH", 7, 0x800B, 0, 0, 0, 0)).rcode_name == "RCODE11"


def test_parse_header_refuses_a_short_message() -> None:
    with pytest.raises(DNSWireError, match="12 bytes; got 5"):
        parse_header(b"\x00" * 5)


# --- whole replies ---


@settings(max_examples=300)
@given(replies())
def test_parse_message_agrees_with_dnslib(reply: DNSRecord) -> None:
    wire = reply.pack()
    ours = parse_message(wire)
    theirs = DNSRecord.parse(wire)
    assert ours.header.id == theirs.header.id
    assert [(q.name, q.type) for q in ours.questions] == [
        (str(q.qname), QTYPE[q.qtype]) for q in theirs.questions
    ]
    for mine, their_section in (
        (ours.answers, theirs.rr),
        (ours.authority, theirs.auth),
        (ours.additional, theirs.ar),
    ):
        assert [(r.name, r.type, r.rclass, r.ttl, r.data) for r in mine] == [
            (str(rr.rname), QTYPE[rr.rtype], rr.rclass, rr.ttl, _expected_data(rr))
            for rr in their_section
        ]


@given(replies(), st.data())
def test_a_cut_off_reply_raises_only_dnswireerror(reply: DNSRecord, data: st.DataObject) -> None:
    wire = reply.pack()
    cut = data.draw(st.integers(0, len(wire) - 1))
    try:
        parse_message(wire[:cut])
    except DNSWireError:
        pass


@given(st.binary(max_size=200))
def test_random_bytes_raise_only_dnswireerror(garbage: bytes) -> None:
    try:
        parse_message(garbage)
    except DNSWireError:
        pass


def test_compression_actually_happens_in_the_replies_compared() -> None:
    reply = DNSRecord.question("www.onego.ru", "MX").reply()
    reply.add_answer(*RR.fromZone("www.onego.ru. 300 MX 10 mail.onego.ru."))
    wire = reply.pack()
    assert b"\xc0\x0c" in wire  # the answer's owner name points at the question
    answer = parse_message(wire).answers[0]
    assert answer.data == dnswire.MX(10, "mail.onego.ru.")
    assert record_text(answer) == "10 mail.onego.ru."


def test_record_text_of_each_type() -> None:
    reply = DNSRecord.question("onego.ru", "ANY").reply()
    for line in (
        'onego.ru. 300 TXT "v=spf1 mx -all"',
        "onego.ru. 300 AAAA ::1",
        "onego.ru. 300 A 195.161.136.4",
        "onego.ru. 300 SOA ns.onego.ru. admin.onego.ru. 1 2 3 4 5",
        "onego.ru. 300 PTR www.onego.ru.",
    ):
        reply.add_answer(*RR.fromZone(line))
    reply.add_answer(RR("onego.ru", 99, rdata=RD(b"\x01\x02")))
    texts = [record_text(r) for r in parse_message(reply.pack()).answers]
    assert texts == [
        '"v=spf1 mx -all"',
        "::1",
        "195.161.136.4",
        "ns.onego.ru. admin.onego.ru. 1 2 3 4 5",
        "www.onego.ru.",
        "\\# 2 0102",
    ]


# --- reverse names ---


def test_reverse_pointer_of_the_chapter_address() -> None:
    assert reverse_pointer("195.161.136.4") == "4.136.161.195.in-addr.arpa."


@given(st.ip_addresses())
def test_reverse_pointer_agrees_with_ipaddress_and_dnspython(address) -> None:
    ours = reverse_pointer(str(address))
    assert ours == address.reverse_pointer + "."
    if address.version == 6 and address.ipv4_mapped is not None:
        return  # dnspython files ::ffff:a.b.c.d under in-addr.arpa, the standard library not
    assert ours == dns.reversename.from_address(str(address)).to_text()


def test_reverse_pointer_refuses_a_name() -> None:
    with pytest.raises(ValueError):
        reverse_pointer("www.onego.ru")


@given(replies())
def test_message_parts_cover_the_message_in_order(reply: DNSRecord) -> None:
    wire = bytes(reply.pack())
    parts = dnswire.message_parts(wire)
    assert parts[0] == ("header", 0, 12)
    assert all(a[2] == b[1] for a, b in zip(parts, parts[1:], strict=False))
    assert parts[-1][2] == len(wire)
    names = [part for part, _, _ in parts]
    assert names.count("answer") == len(reply.rr) and names.count("question") == 1
