"""The rebuilt connection and its pcap file, read back with dpkt (an independent parser).

A record of socket calls goes in; the segments that come out must open with
SYN, SYN-ACK, ACK, close with FIN and its ACK, keep every sequence and
acknowledgement number consistent, and carry checksums that dpkt computes to
the same values. The file must be one that dpkt (like Wireshark) opens.
"""

from __future__ import annotations

import io
import socket
from dataclasses import dataclass

import dpkt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers.lessons.widgets_06 import pcap_download, segments_table
from helpers.run.recording import RecordedSocket
from helpers.show.events import EventLog
from helpers.wire import handshake
from helpers.wire.handshake import CLIENT_ISN, SERVER_ISN, Segment, check_numbers, rebuild
from helpers.wire.packets import TCPFlag, encapsulate
from helpers.wire.pcap import LINKTYPE_RAW, pcap_bytes

CLIENT = ("127.0.0.1", 54321)
SERVER = ("127.0.0.1", 33333)
F = TCPFlag


@dataclass(frozen=True)
class Call:
    """A recorded socket call, shaped like helpers.show.events.Event."""

    actor: str
    kind: str
    peer: str | None = None
    data: bytes = b""
    note: str = ""


def call(actor: str, kind: str, data: bytes = b"", note: str = "") -> Call:
    peer = "127.0.0.1:33333" if actor == "client" else "127.0.0.1:54321"
    return Call(actor, kind, peer, data, note)


def chapter_exchange(request: bytes = "ПАЛИНДРОМ".encode()) -> list[Call]:
    """The chapter's pair with the shutdown of notebook 02: ask, say "that is all", read, close."""
    reply = request.decode()[::-1].encode()
    return [
        Call("server", "listen", "127.0.0.1:33333"),
        call("client", "connect"),
        call("server", "accept"),
        call("client", "send", request),
        call("client", "shutdown", note="SHUT_WR"),
        call("server", "recv", request),
        call("server", "recv"),
        call("server", "send", reply),
        call("server", "close"),
        call("client", "recv", reply),
        call("client", "recv"),
        call("client", "close"),
        Call("server", "close"),
    ]


def read_pcap(data: bytes) -> tuple[int, list[tuple[float, dpkt.ip.IP]]]:
    reader = dpkt.pcap.Reader(io.BytesIO(data))
    return reader.datalink(), [(ts, dpkt.ip.IP(buf)) for ts, buf in reader]


def recomputed_checksums(ip: dpkt.ip.IP) -> tuple[int, int]:
    """dpkt's own IP and TCP checksums, computed from zeroed fields."""
    fresh = dpkt.ip.IP(bytes(ip))
    fresh.sum = 0
    fresh.data.sum = 0
    again = dpkt.ip.IP(bytes(fresh))
    return again.sum, again.data.sum


def test_the_chapters_exchange_reads_back_from_the_pcap_file() -> None:
    segments = rebuild(chapter_exchange(), client=CLIENT, server=SERVER)
    linktype, packets = read_pcap(pcap_bytes([s.packet for s in segments]))
    assert linktype == LINKTYPE_RAW
    flags = [ip.data.flags for _, ip in packets]
    assert flags == [
        F.SYN,
        F.SYN | F.ACK,
        F.ACK,
        F.PSH | F.ACK,
        F.ACK,
        F.FIN | F.ACK,
        F.ACK,
        F.PSH | F.ACK,
        F.ACK,
        F.FIN | F.ACK,
        F.ACK,
    ]
    tcp = [ip.data for _, ip in packets]
    assert [(t.sport, t.dport) for t in tcp[:2]] == [(54321, 33333), (33333, 54321)]
    # the handshake: each side's first number acknowledged plus one
    assert (tcp[0].seq, tcp[1].seq, tcp[1].ack) == (CLIENT_ISN, SERVER_ISN, CLIENT_ISN + 1)
    assert (tcp[2].seq, tcp[2].ack) == (CLIENT_ISN + 1, SERVER_ISN + 1)
    # the data, its acknowledgement, and the FIN that uses one number
    request = "ПАЛИНДРОМ".encode()
    assert tcp[3].data == request and tcp[4].ack == tcp[3].seq + len(request)
    assert tcp[6].ack == tcp[5].seq + 1
    assert tcp[7].data == "МОРДНИЛАП".encode() and tcp[10].ack == tcp[9].seq + 1
    for _, ip in packets:
        assert (ip.sum, ip.data.sum) == recomputed_checksums(ip)
    assert [ts for ts, _ in packets] == sorted(ts for ts, _ in packets)


def test_the_data_segment_is_the_one_built_by_hand() -> None:
    segments = rebuild(chapter_exchange(), client=CLIENT, server=SERVER)
    assert segments[3].tcp == encapsulate("ПАЛИНДРОМ").segment


def test_a_long_send_is_cut_by_the_mss_and_only_its_last_segment_pushes() -> None:
    segments = rebuild(chapter_exchange(b"x" * 20), client=CLIENT, server=SERVER, mss=8)
    data = [s for s in segments if s.sender == "client" and s.payload]
    assert [len(s.payload) for s in data] == [8, 8, 4]
    assert [s.flag_names for s in data] == ["ACK", "ACK", "PSH|ACK"]
    assert b"".join(s.payload for s in data) == b"x" * 20
    assert check_numbers(segments) == []


def test_closing_with_unread_data_resets_the_connection() -> None:
    calls = [
        call("client", "connect"),
        call("client", "send", b"hello"),
        call("server", "close"),
        call("client", "close"),
    ]
    segments = rebuild(calls, client=CLIENT, server=SERVER)
    assert [s.flag_names for s in segments][-1] == "RST|ACK"
    assert segments[-1].sender == "server" and "5 bytes unread" in segments[-1].cause


def test_addresses_come_from_the_record_unless_given() -> None:
    segments = rebuild(chapter_exchange())
    assert (segments[0].src, segments[0].dst) == (CLIENT, SERVER)
    moved = rebuild(chapter_exchange(), client=("127.0.0.2", 40000))
    assert moved[0].src == ("127.0.0.2", 40000)


def test_records_it_cannot_rebuild_are_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="has 0"):
        rebuild([call("client", "send", b"x")])
    with pytest.raises(ValueError, match="has 2"):
        rebuild([call("client", "connect"), call("client", "connect")])
    cut = Call("client", "send", "127.0.0.1:33333", b"ab")
    object.__setattr__(cut, "nbytes", 300)
    with pytest.raises(ValueError, match="kept only 2"):
        rebuild([call("client", "connect"), cut], client=CLIENT)
    with pytest.raises(ValueError, match="after its FIN"):
        rebuild(
            [
                call("client", "connect"),
                call("client", "shutdown", note="SHUT_WR"),
                call("client", "send", b"late"),
            ],
            client=CLIENT,
        )


def test_check_numbers_finds_a_wrong_acknowledgement() -> None:
    segments = rebuild(chapter_exchange(), client=CLIENT, server=SERVER)
    bad = segments[4]
    segments[4] = Segment(**{**bad.__dict__, "ack": bad.ack + 1})
    assert check_numbers(segments) == [f"segment 5: ack {bad.ack + 1}, expected {bad.ack}"]


exchanges = st.lists(
    st.tuples(st.sampled_from(["client", "server"]), st.binary(min_size=1, max_size=3000)),
    max_size=6,
)


@settings(max_examples=60, deadline=None)
@given(sends=exchanges, mss=st.integers(min_value=1, max_value=1460))
def test_any_exchange_has_consistent_numbers_and_valid_checksums(
    sends: list[tuple[str, bytes]], mss: int
) -> None:
    calls = [call("client", "connect")]
    for actor, data in sends:
        calls.append(call(actor, "send", data))
        calls.append(call("server" if actor == "client" else "client", "recv", data))
    calls += [call("client", "close"), call("server", "close")]
    segments = rebuild(calls, client=CLIENT, server=SERVER, mss=mss)
    assert check_numbers(segments) == []
    _, packets = read_pcap(pcap_bytes([s.packet for s in segments]))
    assert len(packets) == len(segments)
    for (_, ip), segment in zip(packets, segments, strict=True):
        assert (ip.sum, ip.data.sum) == recomputed_checksums(ip)
        assert (ip.data.seq, ip.data.ack, ip.data.flags) == (
            segment.seq,
            segment.ack,
            segment.flags,
        )
    fins = [s for s in segments if s.flags & F.FIN]
    assert [s.sender for s in fins] == ["client", "server"]
    for actor in ("client", "server"):
        sent = b"".join(data for who, data in sends if who == actor)
        assert b"".join(s.payload for s in segments if s.sender == actor) == sent


def test_a_real_exchange_recorded_over_loopback_is_rebuilt() -> None:
    log = EventLog("one connection")
    with RecordedSocket(log, actor="server") as listener, RecordedSocket(log) as client:
        listener.settimeout(2)
        client.settimeout(2)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        client.connect(listener.getsockname())
        connection, _ = listener.accept()
        with connection:
            client.sendall("ПАЛИНДРОМ".encode())
            client.shutdown(socket.SHUT_WR)
            assert connection.recv(1024) == "ПАЛИНДРОМ".encode()
            assert connection.recv(1024) == b""
            connection.sendall("МОРДНИЛАП".encode())
        assert client.recv(1024) == "МОРДНИЛАП".encode()
    segments = rebuild(log.events)
    assert segments[0].dst == listener_address(log)
    assert [s.flag_names for s in segments][:3] == ["SYN", "SYN|ACK", "ACK"]
    assert [s.flag_names for s in segments if s.flags & F.FIN] == ["FIN|ACK", "FIN|ACK"]
    assert check_numbers(segments) == []


def listener_address(log: EventLog) -> tuple[str, int]:
    listen = next(event for event in log.events if event.kind == "listen")
    assert listen.peer is not None
    return handshake.parse_address(listen.peer)


def test_pcap_file_layout() -> None:
    data = pcap_bytes([b"\x45" + bytes(19), b"\x45" + bytes(39)], times=[1.5, 2.000001])
    assert data[:4] == bytes.fromhex("d4c3b2a1") and len(data) == 24 + 16 + 20 + 16 + 40
    reader = dpkt.pcap.Reader(io.BytesIO(data))
    assert [round(ts, 6) for ts, _ in reader] == [1.5, 2.000001]
    with pytest.raises(ValueError, match="2 packets but 1 times"):
        pcap_bytes([b"", b""], times=[0.0])


def test_segments_table_and_download_link() -> None:
    segments = rebuild(chapter_exchange(), client=CLIENT, server=SERVER)
    table = segments_table(segments)
    assert table.column("flags")[:3] == ["SYN", "SYN|ACK", "ACK"]
    assert table.column("direction")[1] == "client <- server"
    assert table.column("data")[3] == "'ПАЛИНДРОМ'" and table.column("bytes")[3] == 18
    assert table.column("ack")[0] == ""
    data = pcap_bytes([s.packet for s in segments])
    link = pcap_download(data, "palindrome.pcap", len(segments))
    assert repr(link) == f"palindrome.pcap: 11 packets, {len(data)} bytes (pcap, raw IPv4)"
    assert 'download="palindrome.pcap"' in link._repr_html_()
