"""The seven OSI layers as data: what each does, its protocols, the Python that works there.

    >>> from helpers.wire.layers import LAYERS, layer_named
    >>> [layer.name for layer in LAYERS][:3]
    ['Physical', 'Data link', 'Network']
    >>> layer_named("transport").number
    4

The descriptions follow the source chapter; "data" says what the lesson's one
message, "ПАЛИНДРОМ" sent to 127.0.0.1:33333, looks like at that layer, so the
table, the explorer widget and the hex view all tell the same story.

The Internet's own protocols follow the four-layer TCP/IP model (RFC 1122), not
OSI's seven: ``tcp_ip`` names the TCP/IP layer each OSI layer falls into, and
``runs_in`` who does the work (the program, the operating system, the network
card). The socket API is the line between the program and the operating
system, which is why sockets are placed at the transport layer.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Layer:
    """One OSI layer; ``number`` counts from 1 (physical) up to 7 (application)."""

    number: int
    name: str
    description: str
    protocols: tuple[str, ...]
    python: tuple[str, ...]
    data: str
    tcp_ip: str
    runs_in: str


PROGRAM = "the program"
KERNEL = "the operating system"
HARDWARE = "the network card and its driver"


LAYERS: tuple[Layer, ...] = (
    Layer(
        1,
        "Physical",
        "Carries a stream of bits over a physical line and defines the line's parameters.",
        ("Ethernet cabling (1000BASE-T)", "Wi-Fi radio", "DSL"),
        ("none: the network card",),
        "Bits on the wire: a preamble, the frame, the 4-byte FCS, encoded as signals. "
        "Capture tools never see this layer.",
        "Link",
        HARDWARE,
    ),
    Layer(
        2,
        "Data link",
        "Encodes and decodes the bit stream as frames; copes with errors of the physical "
        "layer inside one physically single network.",
        ("Ethernet", "PPP", "ATM", "Wi-Fi (802.11)"),
        ("socket with AF_PACKET (Linux, as root)",),
        "An Ethernet II frame: destination MAC, source MAC, EtherType 0x0800, then the "
        "IPv4 packet, padded to 60 bytes. Loopback has no Ethernet; a LAN does.",
        "Link",
        HARDWARE,
    ),
    Layer(
        3,
        "Network",
        "Routes packets from node to node.",
        ("IP (IPv4, IPv6)", "ICMP"),
        ("ipaddress", "socket with SOCK_RAW (as root)"),
        "An IPv4 packet: a 20-byte header (127.0.0.1 -> 127.0.0.1, TTL, protocol 6, "
        "header checksum), then the TCP segment.",
        "Internet",
        KERNEL,
    ),
    Layer(
        4,
        "Transport",
        "Transfers data transparently between two endpoints. Sockets work here: a "
        "socket is a program's handle on one endpoint of TCP or UDP.",
        ("TCP", "UDP"),
        ("socket", "selectors", "socketserver", "asyncio"),
        "A TCP segment: a 20-byte header (ports 54321 -> 33333, sequence and "
        "acknowledgement numbers, flags, window, checksum), then the message bytes.",
        "Transport",
        KERNEL,
    ),
    Layer(
        5,
        "Session",
        "Manages a session between participants: starts, coordinates and ends connections.",
        ("none of its own in TCP/IP: TCP's connection does this job",),
        ("none of its own; ssl.SSLSession resumes a TLS session",),
        "No bytes of its own in TCP/IP: TCP opens, keeps and ends the connection "
        "itself, one layer down.",
        "Application",
        PROGRAM,
    ),
    Layer(
        6,
        "Presentation",
        "Makes data independent of its representation by converting formats; may "
        "encrypt and decrypt transparently.",
        ("UTF-8, cp1251", "MIME", "TLS"),
        ("str.encode", "bytes.decode", "ssl", "email", "struct"),
        "The text encoded as bytes: 'ПАЛИНДРОМ'.encode('utf-8') is 18 bytes, "
        "two per Cyrillic letter (d0 9f d0 90 ...).",
        "Application",
        PROGRAM,
    ),
    Layer(
        7,
        "Application",
        "Supports particular network applications; the protocol depends on the service.",
        ("HTTP", "FTP", "SMTP", "NNTP", "POP3", "IMAP", "DNS"),
        ("smtplib", "http.client", "ftplib", "imaplib", "poplib"),
        "The message as the program sees it: the text 'ПАЛИНДРОМ'.",
        "Application",
        PROGRAM,
    ),
)


def layer_named(name: str) -> Layer:
    """The layer called ``name`` (any case), or the one with that number (1-7)."""
    for layer in LAYERS:
        if name.strip().lower() in (layer.name.lower(), str(layer.number)):
            return layer
    raise KeyError(
        f"no OSI layer called {name!r}; the layers are " + ", ".join(layer.name for layer in LAYERS)
    )
