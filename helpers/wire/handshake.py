"""Rebuild the TCP segments of one connection from a record of its socket calls.

    >>> from types import SimpleNamespace as Call
    >>> calls = [
    ...     Call(actor="client", kind="connect", peer="127.0.0.1:33333", data=b"", note=""),
    ...     Call(actor="client", kind="send", peer="127.0.0.1:33333", data=b"hi", note=""),
    ...     Call(actor="client", kind="close", peer="127.0.0.1:33333", data=b"", note=""),
    ... ]
    >>> [s.flag_names for s in rebuild(calls, client=("127.0.0.1", 54321))]
    ['SYN', 'SYN|ACK', 'ACK', 'PSH|ACK', 'ACK', 'FIN|ACK', 'ACK']

Why rebuild: a socket hands a program the data only. The handshake, the
acknowledgements and the close are segments the kernel sends on its own, and
seeing them needs a capture (raw sockets, tcpdump, Wireshark), which needs
administrator rights a student rarely has. What a program *can* record is its
own socket calls, in order (``helpers.RecordedSocket`` does it). From that record
this module derives the segments a TCP implementation sends for those calls,
with consistent sequence and acknowledgement numbers and valid checksums, built
by ``helpers.wire.packets``.

The model is the textbook one, stated so that nothing pretends to be captured:

- ``connect`` sends SYN; the listening side's kernel answers SYN-ACK; the client
  acknowledges. ``accept`` and ``recv`` send nothing: the kernel has already done
  the work by the time they return.
- ``send`` of n bytes becomes segments of at most ``mss`` bytes, flagged ACK, the
  last one PSH|ACK ("deliver now"); the receiver acknowledges the write once.
- ``shutdown(SHUT_WR)``, or the first ``close``, sends FIN (it counts as one byte
  of sequence space), which the peer acknowledges. A ``close`` with received data
  still unread sends RST instead, and the connection ends there.

Real kernels also put options into SYNs (MSS, window scaling, SACK, timestamps),
delay and combine acknowledgements, and pick the initial sequence numbers at
random; the rebuild leaves options out and takes the numbers it is given.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from helpers.wire.packets import (
    EXAMPLE_ACK,
    EXAMPLE_IDENTIFICATION,
    EXAMPLE_SEQ,
    EXAMPLE_WINDOW,
    PROTOCOL_TCP,
    TCPFlag,
    ipv4_packet,
    tcp_segment,
)

# The initial sequence numbers of the lesson's example, one below the numbers of
# notebook 06's data segment: SYN uses one number, so the first data byte of the
# rebuilt exchange carries exactly that segment's sequence and acknowledgement.
CLIENT_ISN = EXAMPLE_SEQ - 1
SERVER_ISN = EXAMPLE_ACK - 1
MSS = 1460  # bytes of data per segment on Ethernet: 1500 minus the IPv4 and TCP headers

Address = tuple[str, int]


class SocketCall(Protocol):
    """One recorded socket call, as ``helpers.show.events.Event`` records it.

    ``actor`` names the side ("client", "server"), ``kind`` the call ("connect",
    "accept", "send", "recv", "shutdown", "close", ...), ``peer`` the other end as
    ``"host:port"`` (None for a socket not yet connected, such as a listener),
    ``data`` the bytes sent or received and ``note`` the call's detail (the
    ``shutdown`` direction).
    """

    actor: str
    kind: str
    peer: str | None
    data: bytes
    note: str


@dataclass(frozen=True)
class Segment:
    """One rebuilt TCP segment: who sent it, its header numbers, its data, and why it was sent."""

    sender: str
    receiver: str
    src: Address
    dst: Address
    flags: TCPFlag
    seq: int
    ack: int
    payload: bytes
    cause: str
    window: int = EXAMPLE_WINDOW
    identification: int = EXAMPLE_IDENTIFICATION

    @property
    def flag_names(self) -> str:
        """``"SYN|ACK"``: the set flags, lowest bit first, as ``packets.dissect`` names them."""
        return "|".join(flag.name for flag in TCPFlag if self.flags & flag and flag.name)

    @property
    def length(self) -> int:
        """Sequence numbers the segment uses: its data, plus one each for SYN and FIN."""
        return len(self.payload) + bool(self.flags & TCPFlag.SYN) + bool(self.flags & TCPFlag.FIN)

    @property
    def tcp(self) -> bytes:
        """The segment's bytes: 20-byte header with its checksum, then the data."""
        return tcp_segment(
            self.payload,
            src_ip=self.src[0],
            dst_ip=self.dst[0],
            src_port=self.src[1],
            dst_port=self.dst[1],
            seq=self.seq,
            ack=self.ack,
            flags=self.flags,
            window=self.window,
        )

    @property
    def packet(self) -> bytes:
        """The segment inside an IPv4 packet, as it crosses loopback (no Ethernet there)."""
        return ipv4_packet(
            self.tcp,
            src_ip=self.src[0],
            dst_ip=self.dst[0],
            protocol=PROTOCOL_TCP,
            identification=self.identification,
        )


def parse_address(text: str) -> Address:
    """``"127.0.0.1:33333"`` -> ``("127.0.0.1", 33333)``, as the event log writes peers."""
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"expected host:port, got {text!r}")
    return host.strip("[]"), int(port)


class _Side:
    """What one end has sent and read so far: the state behind its numbers."""

    def __init__(self, name: str, address: Address, isn: int) -> None:
        self.name = name
        self.address = address
        self.next_seq = isn
        self.sent = 0  # data bytes sent
        self.read = 0  # data bytes its program received
        self.fin_sent = False


class _Rebuild:
    def __init__(self, client: _Side, server: _Side, mss: int) -> None:
        self.sides = {"client": client, "server": server}
        self.mss = mss
        self.segments: list[Segment] = []
        self.reset = False

    def other(self, side: _Side) -> _Side:
        return self.sides["server" if side.name == "client" else "client"]

    def emit(self, side: _Side, flags: TCPFlag, cause: str, payload: bytes = b"") -> None:
        peer = self.other(side)
        ack = peer.next_seq if flags & TCPFlag.ACK else 0
        segment = Segment(
            side.name,
            peer.name,
            side.address,
            peer.address,
            flags,
            side.next_seq,
            ack,
            payload,
            cause,
            identification=EXAMPLE_IDENTIFICATION + len(self.segments),
        )
        self.segments.append(segment)
        side.next_seq += segment.length

    def acknowledge(self, side: _Side, cause: str) -> None:
        self.emit(self.other(side), TCPFlag.ACK, cause)

    def handshake(self) -> None:
        client, server = self.sides["client"], self.sides["server"]
        self.emit(client, TCPFlag.SYN, "client connect()")
        self.emit(server, TCPFlag.SYN | TCPFlag.ACK, "server kernel, for listen()")
        self.emit(client, TCPFlag.ACK, "client kernel; connect() returns")

    def send(self, side: _Side, data: bytes) -> None:
        if side.fin_sent:
            raise ValueError(f"the {side.name} sent data after its FIN")
        for start in range(0, len(data), self.mss):
            chunk = data[start : start + self.mss]
            last = start + self.mss >= len(data)
            flags = TCPFlag.PSH | TCPFlag.ACK if last else TCPFlag.ACK
            self.emit(side, flags, f"{side.name} send(): {len(data)} bytes", chunk)
        side.sent += len(data)
        self.acknowledge(side, f"{self.other(side).name} kernel")

    def finish(self, side: _Side, call: str) -> None:
        if side.fin_sent:
            return
        unread = self.other(side).sent - side.read
        if call == "close()" and unread > 0:
            self.emit(side, TCPFlag.RST | TCPFlag.ACK, f"{side.name} {call}, {unread} bytes unread")
            self.reset = True
            return
        self.emit(side, TCPFlag.FIN | TCPFlag.ACK, f"{side.name} {call}")
        side.fin_sent = True
        self.acknowledge(side, f"{self.other(side).name} kernel")


def _addresses(calls: list[SocketCall]) -> tuple[str, Address | None, Address | None]:
    """The client's actor name and, as recorded, the client's and the server's address."""
    connects = [call for call in calls if call.kind == "connect"]
    if len(connects) != 1:
        raise ValueError(f"one connection is rebuilt at a time; the record has {len(connects)}")
    client_actor = connects[0].actor
    server = parse_address(connects[0].peer) if connects[0].peer else None
    accepted = [c for c in calls if c.kind == "accept" and c.actor != client_actor and c.peer]
    client = parse_address(accepted[0].peer) if accepted and accepted[0].peer else None
    return client_actor, client, server


def rebuild(
    calls: Iterable[SocketCall],
    *,
    client: Address | None = None,
    server: Address | None = None,
    client_isn: int = CLIENT_ISN,
    server_isn: int = SERVER_ISN,
    mss: int = MSS,
) -> list[Segment]:
    """The segments of the one connection in ``calls``, in the order the calls were made.

    ``calls`` is a record of both ends in one order (one event log that both
    sockets wrote to, from one thread). Calls of sockets without a peer (a
    listener, a socket before ``connect``) send nothing. ``client`` and
    ``server`` default to the addresses in the record; give them to rebuild the
    exchange with other ports. Raises ValueError for a record this model cannot
    rebuild (no connection or several, a recorded send that kept only part of
    its data).
    """
    if mss < 1:
        raise ValueError(f"mss must be at least 1 byte, not {mss}")
    calls = list(calls)
    client_actor, recorded_client, recorded_server = _addresses(calls)
    client_address = client or recorded_client
    server_address = server or recorded_server
    if client_address is None or server_address is None:
        raise ValueError("the record does not say both addresses: give client= and server=")
    state = _Rebuild(
        _Side("client", client_address, client_isn),
        _Side("server", server_address, server_isn),
        mss,
    )
    connected = False
    for call in calls:
        if state.reset:
            break
        if call.peer is None or call.kind in ("socket", "bind", "listen", "accept"):
            continue
        side = state.sides["client" if call.actor == client_actor else "server"]
        if call.kind == "connect":
            state.handshake()
            connected = True
        elif not connected:
            continue
        elif call.kind == "send" and call.data:
            nbytes = getattr(call, "nbytes", len(call.data))
            if nbytes > len(call.data):
                raise ValueError(f"a send of {nbytes} bytes kept only {len(call.data)} of them")
            state.send(side, bytes(call.data))
        elif call.kind == "recv":
            side.read += len(call.data)
        elif call.kind == "shutdown" and call.note != "SHUT_RD":
            state.finish(side, f"shutdown({call.note})")
        elif call.kind == "close":
            state.finish(side, "close()")
    return state.segments


def check_numbers(segments: Iterable[Segment]) -> list[str]:
    """Problems with the numbers of ``segments`` in plain words; empty when they are consistent.

    Each side's sequence number goes on from where its previous segment ended,
    and each acknowledgement names the next byte the other side will send: what
    a receiver checks, and what a capture tool flags when it is wrong.
    """
    problems: list[str] = []
    next_seq: dict[str, int] = {}
    for number, segment in enumerate(segments, 1):
        expected = next_seq.get(segment.sender, segment.seq)
        if segment.seq != expected:
            problems.append(f"segment {number}: seq {segment.seq}, expected {expected}")
        next_seq[segment.sender] = segment.seq + segment.length
        if segment.flags & TCPFlag.ACK and segment.ack != next_seq.get(segment.receiver):
            problems.append(
                f"segment {number}: ack {segment.ack}, expected {next_seq.get(segment.receiver)}"
            )
    return problems
