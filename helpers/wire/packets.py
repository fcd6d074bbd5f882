"""Wrap one message layer by layer: TCP segment, UDP datagram, IPv4 packet, Ethernet II frame.

    >>> from helpers.wire.packets import encapsulate
    >>> wrapped = encapsulate("ПАЛИНДРОМ")
    >>> len(wrapped.message), len(wrapped.segment), len(wrapped.packet), len(wrapped.frame)
    (18, 38, 58, 72)

Every builder is a pure function over ``struct``: bytes in, bytes out, no sockets.
The operating system does this work for a real ``sendall``; building the same bytes
by hand shows what each layer adds, and lets tests compare every field with an
independent parser. ``dissect`` goes the other way and names every field with its
byte range, which is what the hex view colours.
"""

from __future__ import annotations

import enum
import ipaddress
import struct
import zlib
from dataclasses import dataclass

ETHERNET_MIN_FRAME = 60  # without the 4-byte FCS, as capture tools show frames
ETHERTYPE_IPV4 = 0x0800
IPV4_HEADER_LENGTH = 20
TCP_HEADER_LENGTH = 20
UDP_HEADER_LENGTH = 8
PROTOCOL_TCP = 6
PROTOCOL_UDP = 17

# The lesson's fixed example values. A real kernel picks the source port and the
# initial sequence number at random; fixing them keeps every byte reproducible.
EXAMPLE_SRC_PORT = 54321  # inside both IANA's (49152-65535) and Linux's ephemeral range
EXAMPLE_DST_PORT = 33333  # the course's server port
EXAMPLE_SEQ = 1_000_001
EXAMPLE_ACK = 2_000_001
EXAMPLE_WINDOW = 65_535
EXAMPLE_IDENTIFICATION = 0x1234
EXAMPLE_TTL = 64
# Locally administered unicast addresses (second-lowest bit of the first byte
# set): they can never belong to a real network card.
EXAMPLE_SRC_MAC = "02:00:00:00:00:01"
EXAMPLE_DST_MAC = "02:00:00:00:00:02"

_MAX_IPV4_PAYLOAD = 0xFFFF - IPV4_HEADER_LENGTH


class TCPFlag(enum.IntFlag):
    """The TCP control bits of header byte 13.

    ACK is set on every segment after the first SYN; PSH marks the last segment of
    a write, so the segments of a long write before it carry ACK alone.
    """

    FIN = 0x01
    SYN = 0x02
    RST = 0x04
    PSH = 0x08
    ACK = 0x10
    URG = 0x20
    ECE = 0x40
    CWR = 0x80


@dataclass(frozen=True)
class Field:
    """One named field of a frame: where it lies (``start`` to ``end``, end excluded), what it says.

    ``layer`` is the OSI layer ("data link", "network", "transport", "application"),
    ``protocol`` the header it belongs to ("Ethernet II", "IPv4", "TCP", "UDP", ...),
    ``value`` a readable form of its content.
    """

    layer: str
    protocol: str
    name: str
    start: int
    end: int
    value: str

    @property
    def size(self) -> int:
        return self.end - self.start


def internet_checksum(data: bytes) -> int:
    """The RFC 1071 checksum used by IPv4, TCP and UDP.

    Sum the data as big-endian 16-bit words (an odd last byte is padded with a
    zero byte), fold every carry out of bit 16 back into the low bits, and return
    the one's complement. A receiver sums the same words *with* the checksum and
    gets 0xFFFF when nothing changed, so the check costs one pass.
    """
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def mac_to_bytes(mac: str) -> bytes:
    """``"02:00:00:00:00:01"`` -> 6 bytes; accepts ``:`` or ``-`` as separators."""
    parts = mac.replace("-", ":").split(":")
    if len(parts) != 6:
        raise ValueError(f"a MAC address has 6 bytes, got {mac!r}")
    return bytes(int(part, 16) for part in parts)


def mac_to_text(raw: bytes) -> str:
    return ":".join(f"{byte:02x}" for byte in raw)


def _ipv4(address: str) -> bytes:
    return ipaddress.IPv4Address(address).packed


def pseudo_header(src_ip: str, dst_ip: str, protocol: int, length: int) -> bytes:
    """The 12 bytes TCP and UDP add to their checksum but never send.

    They tie the segment to its IP addresses and protocol, so a segment delivered
    to the wrong host fails its checksum even if the IP header was damaged.
    """
    return struct.pack("!4s4sxBH", _ipv4(src_ip), _ipv4(dst_ip), protocol, length)


def tcp_segment(
    payload: bytes,
    *,
    src_ip: str,
    dst_ip: str,
    src_port: int,
    dst_port: int,
    seq: int,
    ack: int,
    flags: int = TCPFlag.PSH | TCPFlag.ACK,
    window: int = EXAMPLE_WINDOW,
    urgent: int = 0,
) -> bytes:
    """A TCP segment without options: the 20-byte header, then ``payload``.

    The IP addresses are needed only for the checksum over the pseudo-header.
    """
    if len(payload) > _MAX_IPV4_PAYLOAD - TCP_HEADER_LENGTH:
        raise ValueError(f"{len(payload)} bytes do not fit into one IPv4 packet")
    offset_byte = (TCP_HEADER_LENGTH // 4) << 4  # header length in 32-bit words, high nibble

    def header(checksum: int) -> bytes:
        return struct.pack(
            "!HHIIBBHHH",
            src_port,
            dst_port,
            seq,
            ack,
            offset_byte,
            int(flags),
            window,
            checksum,
            urgent,
        )

    length = TCP_HEADER_LENGTH + len(payload)
    checksum = internet_checksum(
        pseudo_header(src_ip, dst_ip, PROTOCOL_TCP, length) + header(0) + payload
    )
    return header(checksum) + payload


def udp_header(
    payload: bytes,
    *,
    src_port: int,
    dst_port: int,
    src_ip: str | None = None,
    dst_ip: str | None = None,
) -> bytes:
    """The 8-byte UDP header for ``payload``.

    Without IP addresses the checksum field is 0, which over IPv4 means "no
    checksum computed" (RFC 768). With them the checksum covers the pseudo-header;
    a computed 0 is sent as 0xFFFF, its one's-complement twin, so that 0 keeps
    its meaning.
    """
    length = UDP_HEADER_LENGTH + len(payload)
    if length > _MAX_IPV4_PAYLOAD:
        raise ValueError(f"{len(payload)} bytes do not fit into one UDP datagram")
    if (src_ip is None) != (dst_ip is None):
        raise ValueError("give both IP addresses for the checksum, or neither")
    checksum = 0
    if src_ip is not None and dst_ip is not None:
        unchecked = struct.pack("!HHHH", src_port, dst_port, length, 0)
        checksum = (
            internet_checksum(
                pseudo_header(src_ip, dst_ip, PROTOCOL_UDP, length) + unchecked + payload
            )
            or 0xFFFF
        )
    return struct.pack("!HHHH", src_port, dst_port, length, checksum)


def udp_datagram(
    payload: bytes, *, src_ip: str, dst_ip: str, src_port: int, dst_port: int
) -> bytes:
    """A UDP datagram with its checksum: header, then ``payload``."""
    header = udp_header(payload, src_port=src_port, dst_port=dst_port, src_ip=src_ip, dst_ip=dst_ip)
    return header + payload


def ipv4_header(
    payload_length: int,
    *,
    src_ip: str,
    dst_ip: str,
    protocol: int,
    ttl: int = EXAMPLE_TTL,
    identification: int = EXAMPLE_IDENTIFICATION,
    dont_fragment: bool = True,
) -> bytes:
    """The 20-byte IPv4 header (no options) for a payload of ``payload_length`` bytes.

    Its checksum covers the header only: every router lowers the TTL and must
    recompute it, so keeping the payload out keeps that cheap.
    """
    total_length = IPV4_HEADER_LENGTH + payload_length
    if total_length > 0xFFFF:
        raise ValueError(f"{payload_length} bytes do not fit into one IPv4 packet")
    version_ihl = (4 << 4) | (IPV4_HEADER_LENGTH // 4)
    flags_fragment = 0x4000 if dont_fragment else 0

    def header(checksum: int) -> bytes:
        return struct.pack(
            "!BBHHHBBH4s4s",
            version_ihl,
            0,
            total_length,
            identification,
            flags_fragment,
            ttl,
            protocol,
            checksum,
            _ipv4(src_ip),
            _ipv4(dst_ip),
        )

    return header(internet_checksum(header(0)))


def ipv4_packet(
    payload: bytes,
    *,
    src_ip: str,
    dst_ip: str,
    protocol: int,
    ttl: int = EXAMPLE_TTL,
    identification: int = EXAMPLE_IDENTIFICATION,
    dont_fragment: bool = True,
) -> bytes:
    """An IPv4 packet: header, then ``payload`` (a TCP segment or UDP datagram)."""
    header = ipv4_header(
        len(payload),
        src_ip=src_ip,
        dst_ip=dst_ip,
        protocol=protocol,
        ttl=ttl,
        identification=identification,
        dont_fragment=dont_fragment,
    )
    return header + payload


def ethernet_frame(
    payload: bytes,
    *,
    src_mac: str = EXAMPLE_SRC_MAC,
    dst_mac: str = EXAMPLE_DST_MAC,
    ethertype: int = ETHERTYPE_IPV4,
) -> bytes:
    """An Ethernet II frame as capture tools show it: header, payload, zero padding, no FCS.

    Ethernet needs at least 64 bytes on the wire so that a collision is noticed
    while the frame is still being sent; 4 of them are the FCS, which the card
    adds and strips, hence 60 here. The padding lies after the IP packet, whose
    own total length tells the receiver where it ends.
    """
    frame = struct.pack("!6s6sH", mac_to_bytes(dst_mac), mac_to_bytes(src_mac), ethertype)
    frame += payload
    return frame + bytes(max(0, ETHERNET_MIN_FRAME - len(frame)))


def ethernet_fcs(frame: bytes) -> bytes:
    """The 4-byte frame check sequence the network card appends and the receiver strips.

    A CRC-32 over the whole frame (padding included), sent least significant byte
    first. Capture tools rarely see it, which is why ``ethernet_frame`` leaves it
    out; the explorer's physical layer shows it.
    """
    return struct.pack("<I", zlib.crc32(frame))


@dataclass(frozen=True)
class Encapsulation:
    """One message and the three wrappings around it, plus every field named."""

    message: bytes
    segment: bytes
    packet: bytes
    frame: bytes
    fields: tuple[Field, ...]


def encapsulate(
    message: str | bytes,
    *,
    src_ip: str = "127.0.0.1",
    dst_ip: str = "127.0.0.1",
    src_port: int = EXAMPLE_SRC_PORT,
    dst_port: int = EXAMPLE_DST_PORT,
    seq: int = EXAMPLE_SEQ,
    ack: int = EXAMPLE_ACK,
    src_mac: str = EXAMPLE_SRC_MAC,
    dst_mac: str = EXAMPLE_DST_MAC,
) -> Encapsulation:
    """Wrap ``message`` (a str is encoded as UTF-8) into TCP, IPv4 and Ethernet II.

    The defaults are the lesson's example: a client on 127.0.0.1:54321 sends the
    message to the server on 127.0.0.1:33333.
    """
    data = message.encode("utf-8") if isinstance(message, str) else bytes(message)
    segment = tcp_segment(
        data,
        src_ip=src_ip,
        dst_ip=dst_ip,
        src_port=src_port,
        dst_port=dst_port,
        seq=seq,
        ack=ack,
    )
    packet = ipv4_packet(segment, src_ip=src_ip, dst_ip=dst_ip, protocol=PROTOCOL_TCP)
    frame = ethernet_frame(packet, src_mac=src_mac, dst_mac=dst_mac)
    return Encapsulation(data, segment, packet, frame, tuple(dissect(frame)))


# ---- reading the bytes back: name every field with its byte range ----

_ETHERTYPES = {ETHERTYPE_IPV4: "IPv4", 0x86DD: "IPv6", 0x0806: "ARP"}
_PROTOCOLS = {PROTOCOL_TCP: "TCP", PROTOCOL_UDP: "UDP", 1: "ICMP"}


def _describe_flags(flags: int) -> str:
    names = [flag.name for flag in TCPFlag if flags & flag]
    return "|".join(names) if names else "none"


def _data_field(data: bytes, start: int, end: int) -> Field:
    try:
        text = data[start:end].decode("utf-8")
    except UnicodeDecodeError:
        shown = f"{end - start} bytes, not UTF-8"
    else:
        shown = repr(text) if len(text) <= 40 else f"{text[:37]!r}... ({len(text)} characters)"
    return Field("application", "Data", "Message bytes", start, end, shown)


def _ethernet_fields(data: bytes, at: int) -> tuple[list[Field], int, int]:
    dst, src, ethertype = struct.unpack_from("!6s6sH", data, at)
    kind = _ETHERTYPES.get(ethertype, "unknown")
    fields = [
        Field("data link", "Ethernet II", "Destination MAC", at, at + 6, mac_to_text(dst)),
        Field("data link", "Ethernet II", "Source MAC", at + 6, at + 12, mac_to_text(src)),
        Field(
            "data link", "Ethernet II", "EtherType", at + 12, at + 14, f"0x{ethertype:04x} ({kind})"
        ),
    ]
    return fields, at + 14, ethertype


def _ipv4_fields(data: bytes, at: int) -> tuple[list[Field], int, int, int]:
    (version_ihl, tos, total, ident, flags_frag, ttl, proto, checksum, src, dst) = (
        struct.unpack_from("!BBHHHBBH4s4s", data, at)
    )
    ihl = (version_ihl & 0x0F) * 4
    flag_names = [name for bit, name in ((0x4000, "DF"), (0x2000, "MF")) if flags_frag & bit]
    n = "network"
    fields = [
        Field(
            n,
            "IPv4",
            "Version, header length",
            at,
            at + 1,
            f"version {version_ihl >> 4}, {ihl} bytes",
        ),
        Field(n, "IPv4", "DSCP, ECN", at + 1, at + 2, f"0x{tos:02x}"),
        Field(n, "IPv4", "Total length", at + 2, at + 4, f"{total} bytes"),
        Field(n, "IPv4", "Identification", at + 4, at + 6, f"0x{ident:04x}"),
        Field(
            n,
            "IPv4",
            "Flags, fragment offset",
            at + 6,
            at + 8,
            f"{'|'.join(flag_names) or 'none'}, offset {flags_frag & 0x1FFF}",
        ),
        Field(n, "IPv4", "TTL", at + 8, at + 9, str(ttl)),
        Field(
            n, "IPv4", "Protocol", at + 9, at + 10, f"{proto} ({_PROTOCOLS.get(proto, 'unknown')})"
        ),
        Field(n, "IPv4", "Header checksum", at + 10, at + 12, f"0x{checksum:04x}"),
        Field(n, "IPv4", "Source address", at + 12, at + 16, str(ipaddress.IPv4Address(src))),
        Field(n, "IPv4", "Destination address", at + 16, at + 20, str(ipaddress.IPv4Address(dst))),
    ]
    if ihl > IPV4_HEADER_LENGTH:
        fields.append(Field(n, "IPv4", "Options", at + 20, at + ihl, f"{ihl - 20} bytes"))
    return fields, at + ihl, at + total, proto


def _tcp_fields(data: bytes, at: int) -> tuple[list[Field], int]:
    (sport, dport, seq, ack, offset_byte, flags, window, checksum, urgent) = struct.unpack_from(
        "!HHIIBBHHH", data, at
    )
    length = (offset_byte >> 4) * 4
    t = "transport"
    fields = [
        Field(t, "TCP", "Source port", at, at + 2, str(sport)),
        Field(t, "TCP", "Destination port", at + 2, at + 4, str(dport)),
        Field(t, "TCP", "Sequence number", at + 4, at + 8, str(seq)),
        Field(t, "TCP", "Acknowledgement number", at + 8, at + 12, str(ack)),
        Field(t, "TCP", "Data offset", at + 12, at + 13, f"{length} bytes"),
        Field(t, "TCP", "Flags", at + 13, at + 14, _describe_flags(flags)),
        Field(t, "TCP", "Window", at + 14, at + 16, str(window)),
        Field(t, "TCP", "Checksum", at + 16, at + 18, f"0x{checksum:04x}"),
        Field(t, "TCP", "Urgent pointer", at + 18, at + 20, str(urgent)),
    ]
    if length > TCP_HEADER_LENGTH:
        fields.append(Field(t, "TCP", "Options", at + 20, at + length, f"{length - 20} bytes"))
    return fields, at + length


def _udp_fields(data: bytes, at: int) -> tuple[list[Field], int]:
    sport, dport, length, checksum = struct.unpack_from("!HHHH", data, at)
    t = "transport"
    fields = [
        Field(t, "UDP", "Source port", at, at + 2, str(sport)),
        Field(t, "UDP", "Destination port", at + 2, at + 4, str(dport)),
        Field(t, "UDP", "Length", at + 4, at + 6, f"{length} bytes"),
        Field(
            t,
            "UDP",
            "Checksum",
            at + 6,
            at + 8,
            f"0x{checksum:04x}" + (" (none)" if checksum == 0 else ""),
        ),
    ]
    return fields, at + 8


def dissect(data: bytes, first: str = "ethernet") -> list[Field]:
    """Name every byte of ``data``, read from its ``first`` header down to the message.

    ``first`` is "ethernet", "ipv4", "tcp" or "udp", so a segment or packet on its
    own can be shown too. Bytes after the IP packet inside a frame are Ethernet
    padding. Only what this lesson builds is understood: Ethernet II carrying
    IPv4 carrying TCP or UDP.
    """
    if first not in ("ethernet", "ipv4", "tcp", "udp"):
        raise ValueError(f"first must be 'ethernet', 'ipv4', 'tcp' or 'udp', not {first!r}")
    fields: list[Field] = []
    at, end, transport = 0, len(data), first
    if first == "ethernet":
        eth, at, ethertype = _ethernet_fields(data, 0)
        fields += eth
        transport = "ipv4" if ethertype == ETHERTYPE_IPV4 else "unknown"
    if transport == "ipv4":
        ip, at, end, proto = _ipv4_fields(data, at)
        fields += ip
        transport = _PROTOCOLS.get(proto, "unknown").lower()
    if transport == "tcp":
        tcp, at = _tcp_fields(data, at)
        fields += tcp
    elif transport == "udp":
        udp, at = _udp_fields(data, at)
        fields += udp
    if end > at:
        fields.append(_data_field(data, at, end))
    if len(data) > end:
        fields.append(
            Field(
                "data link",
                "Ethernet II",
                "Padding",
                end,
                len(data),
                f"{len(data) - end} zero bytes",
            )
        )
    return fields
