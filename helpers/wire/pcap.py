"""Packets as a pcap file, the format Wireshark, tcpdump and dpkt read.

    >>> from helpers.wire.pcap import pcap_bytes
    >>> len(pcap_bytes([]))          # the 24-byte file header alone
    24

The file is returned as bytes: this layer does no I/O, so a lesson decides where
the bytes go (a download link, or ``Path("x.pcap").write_bytes(...)``). The
classic pcap format is used rather than pcapng because every tool reads it and
its two headers fit in a few lines of ``struct``. Records use the link type
"raw IP" (101): each one is an IPv4 packet with no link-layer header, which is
what a loopback packet is.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

PCAP_MAGIC = 0xA1B2C3D4  # microsecond timestamps; written little-endian, read in any order
PCAP_VERSION = (2, 4)
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101  # an IPv4 or IPv6 packet, no link-layer header
SNAPLEN = 65_535
EXAMPLE_STEP = 0.001  # seconds between records when no times are given


def pcap_bytes(
    packets: Sequence[bytes],
    *,
    times: Sequence[float] | None = None,
    linktype: int = LINKTYPE_RAW,
) -> bytes:
    """A pcap file holding ``packets`` in order, each with its time in seconds since 1970.

    Without ``times`` the records are ``EXAMPLE_STEP`` apart from 0: a rebuilt
    exchange has no real clock, and fixed times keep the file the same bytes
    every time it is made.
    """
    if times is None:
        times = [index * EXAMPLE_STEP for index in range(len(packets))]
    if len(times) != len(packets):
        raise ValueError(f"{len(packets)} packets but {len(times)} times")
    out = [struct.pack("<IHHiIII", PCAP_MAGIC, *PCAP_VERSION, 0, 0, SNAPLEN, linktype)]
    for packet, when in zip(packets, times, strict=True):
        if len(packet) > SNAPLEN:
            raise ValueError(f"a packet of {len(packet)} bytes is longer than {SNAPLEN}")
        microseconds = round(when * 1_000_000)
        seconds, micros = divmod(microseconds, 1_000_000)
        out.append(struct.pack("<IIII", seconds, micros, len(packet), len(packet)))
        out.append(bytes(packet))
    return b"".join(out)
