"""helpers.run.recording and helpers.show.sequence: recorded sockets, and a diagram that
follows causality, not thread timing.

The server side is notebook 02's reverse server (the shared ``reverse_server``
fixture), the one whose exchange the notebook draws."""

from __future__ import annotations

import socket
import xml.etree.ElementTree as ET

from helpers.run.recording import RecordedSocket
from helpers.run.reverse_client import ask_reverse
from helpers.show.events import Event, EventLog
from helpers.show.sequence import sequence_diagram


def exchange(address: tuple[str, int], text: str = "ПАЛИНДРОМ") -> tuple[EventLog, bytes]:
    log = EventLog("client")
    with RecordedSocket(log) as sock:
        sock.settimeout(2.0)
        sock.connect(address)
        sock.sendall(text.encode())
        sock.shutdown(socket.SHUT_WR)
        reply = b""
        while chunk := sock.recv(1024):
            reply += chunk
    return log, reply


def test_recorded_socket_is_a_working_socket_that_records(reverse_server) -> None:
    log, reply = exchange(reverse_server.address)
    assert reply.decode() == "МОРДНИЛАП"
    kinds = [e.kind for e in log.events]
    assert kinds == ["socket", "connect", "send", "shutdown", "recv", "recv", "close"]
    assert {e.actor for e in log.events} == {"client"}
    connect = log.events[1]
    assert connect.peer == f"127.0.0.1:{reverse_server.port}"
    assert connect.note.startswith("local 127.0.0.1:")


def test_diagram_has_both_lifelines_every_call_and_the_bytes(reverse_server) -> None:
    ask_reverse(reverse_server.address, "someone else")  # another client: left out of the picture
    log, _ = exchange(reverse_server.address)
    diagram = sequence_diagram(log, reverse_server.events, title="reverse")
    text = str(diagram)
    assert diagram.actors == ["client", "server"]
    server_kinds = [e.kind for e in diagram.events if e.actor == "server"]
    assert server_kinds == ["socket", "bind", "listen", "accept", "recv", "recv", "send", "close"]
    for part in (
        "socket(AF_INET, SOCK_STREAM)",
        "connect(127.0.0.1:",
        "shutdown(SHUT_WR)",
        "-> ПАЛИНДРОМ (18 bytes)",
        "<- МОРДНИЛАП (18 bytes)",
        "FIN: end of stream",
        "listen 127.0.0.1:",
        "accept() -> 127.0.0.1:",
    ):
        assert part in text, part
    assert "someone else" not in text and "13 bytes" not in text
    svg = diagram._repr_svg_()
    root = ET.fromstring(svg)  # well-formed
    assert root.tag.endswith("svg")
    labels = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "ПАЛИНДРОМ (18 bytes)" in labels and "МОРДНИЛАП (18 bytes)" in labels
    assert len(list(root.iter("{http://www.w3.org/2000/svg}circle"))) == len(diagram.events)


def test_the_picture_is_the_same_on_every_run(reverse_server) -> None:
    pictures = set()
    for _ in range(5):
        log, _ = exchange(reverse_server.address)
        text = str(sequence_diagram(log, reverse_server.events))
        pictures.add("\n".join(line.split("127.0.0.1:")[0] for line in text.splitlines()))
    assert len(pictures) == 1


def test_rows_follow_causality_whatever_the_recording_order() -> None:
    def ev(kind: str, actor: str, data: bytes = b"", note: str = "", peer: str = "") -> Event:
        return Event(0.0, kind, peer or None, data, note, actor)

    # the server's recv was recorded before the client's send (two threads racing)
    events = [
        ev("accept", "server", peer="c"),
        ev("recv", "server", b"abcdef"),
        ev("socket", "client"),
        ev("connect", "client", peer="s", note="local c"),
        ev("send", "client", b"abc"),
        ev("send", "client", b"def"),
    ]
    diagram = sequence_diagram(events)
    rows = diagram.rows
    assert rows[0] > rows[3]  # accept after connect
    assert rows[1] > rows[5]  # the recv after the send holding its last byte
    assert sorted((a.start, a.end) for a in diagram.arrows) == [(3, 0), (4, 1), (5, 1)]


def test_both_sides_recorded_in_one_thread() -> None:
    log = EventLog("pair")
    with RecordedSocket(log, actor="server") as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        with RecordedSocket(log) as client:
            client.connect(listener.getsockname())
            conn, _ = listener.accept()
            with conn:
                client.sendall(b"ab")
                client.sendall(b"cd")
                client.shutdown(socket.SHUT_WR)
                got = b""
                while chunk := conn.recv(1):
                    got += chunk
                conn.sendall(got[::-1])
            assert client.recv(10) == b"dcba"
    diagram = sequence_diagram(log)
    text = str(diagram)
    assert "bind on 127.0.0.1:" in text and "listen 127.0.0.1:" in text
    assert text.count("recv 1 byte\n") + text.count("recv 1 byte ") == 4
    kinds = [e.kind for e in log.events if e.actor == "server"]
    assert kinds[:4] == ["socket", "bind", "listen", "accept"]
