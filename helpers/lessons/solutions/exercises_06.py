"""Reference solutions of notebook 06's exercises (``IPV4_CHECKSUM``, ``UDP_HEADER``)."""

from __future__ import annotations

import struct


def ipv4_checksum(header: bytes) -> int:
    total = sum(struct.unpack("!10H", header))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def udp_header(message: str, src_port: int, dst_port: int) -> bytes:
    length = 8 + len(message.encode("utf-8"))
    return struct.pack("!HHHH", src_port, dst_port, length, 0)
