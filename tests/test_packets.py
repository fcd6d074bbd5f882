"""The frame builders against dpkt, an independent parser and builder used only here.

Every field and both checksums are compared for many messages; known-answer vectors
from RFC 1071 and a textbook IPv4 header pin the arithmetic down without dpkt.
"""

from __future__ import annotations

import html
import importlib.util
import re
import zlib

import dpkt
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from helpers.lessons.widgets_01 import layers_table
from helpers.show.hexviews import hexview
from helpers.wire import packets
from helpers.wire.layers import LAYERS, layer_named
from helpers.wire.packets import (
    TCPFlag,
    dissect,
    encapsulate,
    ethernet_frame,
    internet_checksum,
    ipv4_header,
    ipv4_packet,
    tcp_segment,
    udp_datagram,
    udp_header,
)

CYRILLIC_1400 = "ПАЛИНДРОМ" * 77 + "ПАЛИНДР"  # 700 letters, 1400 UTF-8 bytes
assert len(CYRILLIC_1400.encode()) == 1400

messages = st.one_of(
    st.binary(max_size=1500),
    st.text(max_size=700).map(lambda text: text.encode("utf-8")),
)
ports = st.integers(min_value=0, max_value=0xFFFF)
words = st.integers(min_value=0, max_value=0xFFFF_FFFF)
loopback = st.integers(min_value=0, max_value=0xFF_FFFF).map(
    lambda n: f"127.{n >> 16}.{(n >> 8) & 0xFF}.{n & 0xFF}"
)


def ip_bytes(address: str) -> bytes:
    return bytes(int(part) for part in address.split("."))


def dpkt_checksums(ip: dpkt.ip.IP) -> tuple[int, int]:
    """Let dpkt compute the IP and transport checksums itself from zeroed fields."""
    fresh = dpkt.ip.IP(bytes(ip))
    fresh.sum = 0
    fresh.data.sum = 0
    recomputed = dpkt.ip.IP(bytes(fresh))
    return recomputed.sum, recomputed.data.sum


# ---- known answers, computed by hand or taken from published examples ----


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        # RFC 1071 section 3: the words sum to 0xddf2 after folding the carries.
        (bytes.fromhex("0001f203f4f5f6f7"), 0xFFFF - 0xDDF2),
        (b"", 0xFFFF),
        (b"\x01", 0xFEFF),  # an odd last byte is the HIGH half of a word
        (b"\xff\xff\x00\x01", 0xFFFE),  # 0x10000 folds to 0x0001
        (b"\xff\xff\xff\xff", 0x0000),  # 0x1fffe folds to 0xffff
        (b"\xff\xff\xff\xff\x00\x01", 0xFFFE),  # 0x1ffff folds to 0x10000: fold again
        (b"\x12\x34\x56", 0xFFFF - 0x6834),  # 0x1234 + 0x5600
    ],
)
def test_internet_checksum_known_answers(data: bytes, expected: int) -> None:
    assert internet_checksum(data) == expected


def test_ipv4_header_matches_textbook_example() -> None:
    # The widely reproduced example header (UDP, 0x73 bytes, 192.168.0.1 -> .199),
    # whose checksum 0xb861 was computed by hand in many textbooks.
    expected = bytes.fromhex("450000730000400040 11b861c0a80001c0a800c7".replace(" ", ""))
    header = ipv4_header(
        0x73 - 20,
        src_ip="192.168.0.1",
        dst_ip="192.168.0.199",
        protocol=17,
        ttl=64,
        identification=0,
    )
    assert header == expected


def test_palindrome_frame_known_bytes() -> None:
    # Written out field by field from the lesson's example values. IPv4 checksum
    # by hand: the ten header words sum to 0x1d576, folded 0xd577, complement
    # 0x2a88. The TCP checksum 0x3eed was confirmed with dpkt.
    expected = bytes.fromhex(
        "020000000002"
        "020000000001"
        "0800"
        "4500003a12344000"
        "40062a88"
        "7f000001"
        "7f000001"
        "d4318235"
        "000f4241"
        "001e8481"
        "5018"
        "ffff"
        "3eed"
        "0000"
        "d09fd090d09bd098d09dd094d0a0d09ed09c"
    )
    wrapped = encapsulate("ПАЛИНДРОМ")
    assert wrapped.frame == expected
    assert wrapped.message == "ПАЛИНДРОМ".encode()
    assert wrapped.segment == expected[34:]
    assert wrapped.packet == expected[14:]


def test_udp_checksum_zero_is_sent_as_all_ones() -> None:
    # Choose two payload bytes that make the one's-complement sum 0xffff: the
    # computed checksum is then 0, which UDP must send as 0xffff (RFC 768).
    src, dst = "127.0.0.1", "127.0.0.2"
    base = udp_header(b"\x00\x00", src_port=1000, dst_port=2000, src_ip=src, dst_ip=dst)
    payload = base[6:8]
    header = udp_header(payload, src_port=1000, dst_port=2000, src_ip=src, dst_ip=dst)
    assert header[6:8] == b"\xff\xff"
    ip = dpkt.ip.IP(ipv4_packet(header + payload, src_ip=src, dst_ip=dst, protocol=17))
    assert dpkt_checksums(ip)[1] == 0xFFFF


def test_udp_header_without_addresses_has_no_checksum() -> None:
    header = udp_header("ПАЛИНДРОМ".encode(), src_port=54321, dst_port=33333)
    assert header == bytes.fromhex("d4318235001a0000")
    with pytest.raises(ValueError, match="both"):
        udp_header(b"", src_port=1, dst_port=2, src_ip="127.0.0.1")


def test_short_frames_are_padded_to_60_bytes_and_long_ones_are_not() -> None:
    assert len(encapsulate(b"").frame) == 60
    assert encapsulate(b"").frame[54:] == bytes(6)
    assert len(encapsulate(b"123456").frame) == 60
    assert len(encapsulate(b"1234567").frame) == 61
    assert ethernet_frame(b"") == bytes.fromhex("020000000002020000000001 0800") + bytes(46)


def test_ethernet_fcs() -> None:
    # CRC-32 of the standard check string "123456789" is 0xcbf43926, sent low byte first.
    assert packets.ethernet_fcs(b"123456789") == bytes.fromhex("2639f4cb")
    # A receiver runs the CRC over frame + FCS and must find the fixed residue 0x2144df1c.
    for message in (b"", b"x", "ПАЛИНДРОМ".encode()):
        frame = encapsulate(message).frame
        assert zlib.crc32(frame + packets.ethernet_fcs(frame)) == 0x2144DF1C


def test_too_long_messages_are_refused() -> None:
    assert len(encapsulate(bytes(0xFFFF - 40)).packet) == 0xFFFF
    with pytest.raises(ValueError, match="do not fit"):
        encapsulate(bytes(0xFFFF - 39))
    with pytest.raises(ValueError, match="do not fit"):
        udp_header(bytes(0xFFFF - 27), src_port=1, dst_port=2)


def test_mac_addresses() -> None:
    assert packets.mac_to_bytes("02-00-00-00-00-0A") == bytes.fromhex("02000000000a")
    assert packets.mac_to_text(bytes.fromhex("02000000000a")) == "02:00:00:00:00:0a"
    with pytest.raises(ValueError, match="6 bytes"):
        packets.mac_to_bytes("02:00:00")
    # the example addresses are locally administered unicast: bit 1 set, bit 0 clear
    for mac in (packets.EXAMPLE_SRC_MAC, packets.EXAMPLE_DST_MAC):
        assert packets.mac_to_bytes(mac)[0] & 0b11 == 0b10


# ---- every field against dpkt, for many messages ----


@settings(max_examples=150, deadline=None)
@given(
    message=messages,
    src_port=ports,
    dst_port=ports,
    seq=words,
    ack=words,
    src_ip=loopback,
    dst_ip=loopback,
)
@example(
    message=b"",
    src_port=54321,
    dst_port=33333,
    seq=0,
    ack=0,
    src_ip="127.0.0.1",
    dst_ip="127.0.0.1",
)
@example(
    message=b"x",
    src_port=54321,
    dst_port=33333,
    seq=1,
    ack=1,
    src_ip="127.0.0.1",
    dst_ip="127.0.0.1",
)
@example(
    message=b"odd", src_port=1, dst_port=2, seq=3, ack=4, src_ip="127.0.0.1", dst_ip="127.0.0.2"
)
@example(
    message=CYRILLIC_1400.encode(),
    src_port=65535,
    dst_port=33333,
    seq=0xFFFF_FFFF,
    ack=0xFFFF_FFFF,
    src_ip="127.255.255.254",
    dst_ip="127.0.0.1",
)
def test_tcp_frame_matches_dpkt(
    message: bytes, src_port: int, dst_port: int, seq: int, ack: int, src_ip: str, dst_ip: str
) -> None:
    wrapped = encapsulate(
        message,
        src_ip=src_ip,
        dst_ip=dst_ip,
        src_port=src_port,
        dst_port=dst_port,
        seq=seq,
        ack=ack,
    )
    frame = wrapped.frame
    eth = dpkt.ethernet.Ethernet(frame)
    assert eth.dst == bytes.fromhex("020000000002")
    assert eth.src == bytes.fromhex("020000000001")
    assert eth.type == dpkt.ethernet.ETH_TYPE_IP
    ip = eth.data
    assert isinstance(ip, dpkt.ip.IP)
    assert (ip.v, ip.hl, ip.tos) == (4, 5, 0)
    assert ip.len == 20 + 20 + len(message)
    assert (ip.id, ip.df, ip.mf, ip.offset) == (0x1234, 1, 0, 0)
    assert (ip.ttl, ip.p) == (64, dpkt.ip.IP_PROTO_TCP)
    assert (ip.src, ip.dst) == (ip_bytes(src_ip), ip_bytes(dst_ip))
    tcp = ip.data
    assert isinstance(tcp, dpkt.tcp.TCP)
    assert (tcp.sport, tcp.dport, tcp.seq, tcp.ack) == (src_port, dst_port, seq, ack)
    assert tcp.off == 5 and tcp.opts == b""
    assert tcp.flags == dpkt.tcp.TH_PUSH | dpkt.tcp.TH_ACK
    assert (tcp.win, tcp.urp) == (65535, 0)
    assert tcp.data == message
    assert (ip.sum, tcp.sum) == dpkt_checksums(ip)
    # padding: only up to the 60-byte minimum, all zeros, and no FCS after it
    assert len(frame) == max(60, 14 + ip.len)
    assert frame[14 + ip.len :] == bytes(len(frame) - 14 - ip.len)
    assert wrapped.packet == bytes(ip) and wrapped.segment == bytes(tcp)


@settings(max_examples=100, deadline=None)
@given(
    message=messages,
    src_port=ports,
    dst_port=ports,
    seq=words,
    ack=words,
    flags=st.integers(min_value=0, max_value=0xFF),
    window=ports,
)
def test_tcp_segment_equals_dpkt_built_segment(
    message: bytes, src_port: int, dst_port: int, seq: int, ack: int, flags: int, window: int
) -> None:
    segment = tcp_segment(
        message,
        src_ip="127.0.0.1",
        dst_ip="127.0.0.2",
        src_port=src_port,
        dst_port=dst_port,
        seq=seq,
        ack=ack,
        flags=flags,
        window=window,
    )
    theirs = dpkt.ip.IP(
        src=ip_bytes("127.0.0.1"),
        dst=ip_bytes("127.0.0.2"),
        p=dpkt.ip.IP_PROTO_TCP,
        data=dpkt.tcp.TCP(
            sport=src_port, dport=dst_port, seq=seq, ack=ack, flags=flags, win=window, data=message
        ),
    )
    assert segment == bytes(dpkt.ip.IP(bytes(theirs)).data)


@settings(max_examples=150, deadline=None)
@given(message=messages, src_port=ports, dst_port=ports, src_ip=loopback, dst_ip=loopback)
@example(message=b"", src_port=1, dst_port=2, src_ip="127.0.0.1", dst_ip="127.0.0.1")
@example(message=b"x", src_port=1, dst_port=2, src_ip="127.0.0.1", dst_ip="127.0.0.1")
@example(
    message=CYRILLIC_1400.encode(),
    src_port=54321,
    dst_port=33333,
    src_ip="127.0.0.1",
    dst_ip="127.0.0.1",
)
def test_udp_packet_matches_dpkt(
    message: bytes, src_port: int, dst_port: int, src_ip: str, dst_ip: str
) -> None:
    datagram = udp_datagram(
        message, src_ip=src_ip, dst_ip=dst_ip, src_port=src_port, dst_port=dst_port
    )
    packet = ipv4_packet(
        datagram,
        src_ip=src_ip,
        dst_ip=dst_ip,
        protocol=17,
        ttl=1,
        identification=7,
        dont_fragment=False,
    )
    ip = dpkt.ip.IP(packet)
    assert (ip.len, ip.ttl, ip.p, ip.id, ip.df) == (28 + len(message), 1, 17, 7, 0)
    udp = ip.data
    assert isinstance(udp, dpkt.udp.UDP)
    assert (udp.sport, udp.dport, udp.ulen) == (src_port, dst_port, 8 + len(message))
    assert udp.data == message
    assert (ip.sum, udp.sum) == dpkt_checksums(ip)
    assert udp_header(message, src_port=src_port, dst_port=dst_port) == (datagram[:6] + b"\x00\x00")


# ---- dissect, the hex view and the layers ----


@settings(max_examples=60, deadline=None)
@given(message=messages)
@example(message=b"")
@example(message=CYRILLIC_1400.encode())
def test_dissect_names_every_byte_once(message: bytes) -> None:
    frame = encapsulate(message).frame
    fields = dissect(frame)
    assert fields[0].start == 0 and fields[-1].end == len(frame)
    for before, after in zip(fields, fields[1:], strict=False):
        assert before.end == after.start and before.size > 0
    assert [f.protocol for f in fields].count("Data") == (1 if message else 0)
    assert ("Padding" in [f.name for f in fields]) == (len(message) < 6)


def test_dissect_values_agree_with_dpkt() -> None:
    wrapped = encapsulate("ПАЛИНДРОМ")
    ip = dpkt.ethernet.Ethernet(wrapped.frame).data
    by_name = {(f.protocol, f.name): f for f in wrapped.fields}
    assert by_name["IPv4", "Header checksum"].value == f"0x{ip.sum:04x}"
    assert by_name["TCP", "Checksum"].value == f"0x{ip.data.sum:04x}"
    assert by_name["IPv4", "Total length"].value == f"{ip.len} bytes"
    assert by_name["TCP", "Flags"].value == "PSH|ACK"
    assert by_name["Data", "Message bytes"].value == "'ПАЛИНДРОМ'"
    assert by_name["Data", "Message bytes"].start == 54
    # a segment or packet alone is read from its own first header
    assert dissect(wrapped.segment, "tcp") == [
        packets.Field(f.layer, f.protocol, f.name, f.start - 34, f.end - 34, f.value)
        for f in wrapped.fields[13:]
    ]
    assert [f.name for f in dissect(wrapped.packet, "ipv4")][:2] == [
        "Version, header length",
        "DSCP, ECN",
    ]
    with pytest.raises(ValueError, match="first must be"):
        dissect(wrapped.frame, "ppp")


def test_dissect_reads_udp_and_options() -> None:
    datagram = udp_datagram(
        b"\xff\xfe", src_ip="127.0.0.1", dst_ip="127.0.0.1", src_port=5, dst_port=6
    )
    fields = dissect(datagram, "udp")
    assert [f.name for f in fields] == [
        "Source port",
        "Destination port",
        "Length",
        "Checksum",
        "Message bytes",
    ]
    assert fields[-1].value == "2 bytes, not UTF-8"
    no_checksum = udp_header(b"", src_port=5, dst_port=6)
    assert dissect(no_checksum, "udp")[3].value == "0x0000 (none)"
    # a header with options (data offset 6): the options become a field of their own
    with_options = bytearray(
        tcp_segment(
            b"", src_ip="127.0.0.1", dst_ip="127.0.0.1", src_port=1, dst_port=2, seq=0, ack=0
        )
    )
    with_options[12] = 6 << 4
    with_options += bytes(4)
    assert dissect(bytes(with_options), "tcp")[-1].name == "Options"


def test_hexview_text_names_every_field_and_marks_every_byte() -> None:
    wrapped = encapsulate("ПАЛИНДРОМ")
    text = str(hexview(wrapped.frame, title="Ethernet II frame"))
    assert text.splitlines()[0] == "Ethernet II frame"
    assert (
        "E = Ethernet II 14 bytes, I = IPv4 20 bytes, T = TCP 20 bytes, D = Data 18 bytes"
    ) in text
    for field in wrapped.fields:
        assert f"{field.name}  " in text and field.value in text
    markers = "".join(line for line in text.splitlines() if line.startswith("      "))
    assert markers.replace(" ", "") == "EE" * 14 + "II" * 20 + "TT" * 20 + "DD" * 18
    assert repr(hexview(wrapped.frame)) == str(hexview(wrapped.frame))
    padded = str(hexview(encapsulate(b"").frame))
    assert "p = Ethernet padding 6 bytes" in padded


def test_hexview_html_titles_every_byte_and_escapes_the_message() -> None:
    wrapped = encapsulate("<b>&'\"")
    page = hexview(wrapped.frame)._repr_html_()
    titles = re.findall(r'title="([^"]*)"', page)
    assert len(titles) == len(wrapped.frame)
    assert html.unescape(titles[22]).startswith("IPv4: TTL = 64 (byte 22")
    assert "<b>&" not in page and "&lt;b&gt;&amp;" in page
    for field in wrapped.fields:
        assert f">{html.escape(field.name)}</td>" in page
    # two shades alternate, so neighbouring fields of one header look different
    assert page.count("#cfe2ff") > 0 and page.count("#9ec5fe") > 0
    # the legend is open unless asked otherwise (the explorer's cards keep it folded)
    assert "<details open>" in page
    folded = hexview(wrapped.frame, legend_open=False)._repr_html_()
    assert "<details>" in folded and "<details open>" not in folded


def test_layers_follow_the_source() -> None:
    assert [layer.number for layer in LAYERS] == list(range(1, 8))
    assert [layer.name for layer in LAYERS] == [
        "Physical",
        "Data link",
        "Network",
        "Transport",
        "Session",
        "Presentation",
        "Application",
    ]
    expected = {
        "Data link": ["Ethernet", "PPP", "ATM"],
        "Network": ["IP"],
        "Transport": ["TCP", "UDP"],
        "Application": ["HTTP", "FTP", "SMTP", "NNTP", "POP3", "IMAP"],
    }
    for name, protocols in expected.items():
        listed = " ".join(layer_named(name).protocols)
        assert all(protocol in listed for protocol in protocols), name
    assert layer_named("transport").python[0].startswith("socket")
    assert "ssl" in layer_named("Presentation").python
    assert layer_named("7") is LAYERS[-1]
    with pytest.raises(KeyError, match="no OSI layer"):
        layer_named("Internet")


def test_layers_table_lists_the_layers_top_first() -> None:
    table = layers_table()
    assert table.column("layer") == [layer.name for layer in reversed(LAYERS)]
    assert table.column("#") == [7, 6, 5, 4, 3, 2, 1]
    assert "socket" in table.column("Python")[3]
    assert "Sockets work here" in table.column("what it does")[3]
    # folded to fit a notebook page, every word kept
    text = str(table)
    assert max(len(line) for line in text.splitlines()) <= 120
    for layer in LAYERS:
        assert all(word in text.split() for word in layer.description.split())


def test_application_layer_modules_exist() -> None:
    for module in layer_named("Application").python:
        assert importlib.util.find_spec(module) is not None, module


def test_tcp_flags_read_like_capture_tools() -> None:
    assert TCPFlag.PSH | TCPFlag.ACK == 0x18
    assert packets._describe_flags(0x18) == "PSH|ACK"
    assert packets._describe_flags(0) == "none"
