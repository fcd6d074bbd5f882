"""The notebook's reverse server (its own cell's code) against bad clients.

Invalid UTF-8, a 1 MiB message, clients that close or reset mid-message, a client
that connects and never sends: the server answers what it can, keeps serving the
others, records instead of printing, and never crashes. The shared
``reverse_server`` fixture (tests/conftest.py) runs the notebook's cell, checks
its one status line, and stops the server afterwards.
"""

from __future__ import annotations

import socket
import struct

from server_checking import ask

from helpers.run.reverse_client import ask_reverse
from helpers.wire.text import reverse_utf8


def test_invalid_utf8_gets_replacement_characters(reverse_server) -> None:
    reply = ask(reverse_server.address, b"ok\xff\xd0", timeout=5)
    assert reply.decode("utf-8") == "\ufffd\ufffdko"
    assert ask_reverse(reverse_server.address, "ПАЛИНДРОМ") == "МОРДНИЛАП"


def test_a_one_mebibyte_message_comes_back_whole(reverse_server) -> None:
    message = ("ПАЛИНДРОМ " * 60_000).encode("utf-8")[: 1 << 20]
    reply = ask(reverse_server.address, message, timeout=5)
    assert reply == reverse_utf8(message)
    assert ask_reverse(reverse_server.address, "кот") == "ток"


def test_clients_that_close_or_reset_mid_message(reverse_server) -> None:
    with socket.create_connection(reverse_server.address, timeout=2) as closes:
        closes.sendall("ПАЛИН".encode()[:5])  # half a letter, then gone without reading
    with socket.create_connection(reverse_server.address, timeout=2) as resets:
        resets.sendall(b"half a mess")
        resets.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    assert ask_reverse(reverse_server.address, "ПАЛИНДРОМ", timeout=5) == "МОРДНИЛАП"
    kinds = [e.kind for e in reverse_server.events.events]
    assert kinds.count("accept") == 3 and kinds.count("close") >= 2


def test_a_silent_client_delays_others_but_does_not_stop_them(reverse_server) -> None:
    silent = socket.create_connection(reverse_server.address, timeout=5)
    try:
        reverse_server.events.wait_for("accept")
        assert ask_reverse(reverse_server.address, "ПАЛИНДРОМ", timeout=10) == "МОРДНИЛАП"
        # One client at a time: the other was served only once the server's own
        # timeout had dropped the silent one.
        host, port = silent.getsockname()[:2]
        events = reverse_server.events.events
        dropped = [
            i for i, e in enumerate(events) if e.kind == "close" and e.peer == f"{host}:{port}"
        ]
        served = [
            i for i, e in enumerate(events) if e.kind == "accept" and e.peer != f"{host}:{port}"
        ]
        assert dropped and served and dropped[0] < served[-1], events
        assert silent.recv(1024) == b""  # ... with an orderly close
    finally:
        silent.close()


def test_nothing_printed_nothing_crashed(reverse_server, capfd) -> None:
    with socket.create_connection(reverse_server.address, timeout=2) as resets:
        resets.sendall(b"\xff" * 100)
        resets.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    ask(reverse_server.address, b"\xd0", timeout=5)
    assert ask_reverse(reverse_server.address, "abc") == "cba"
    reverse_server.events.wait_for("close", count=3)
    assert reverse_server.running and reverse_server.errors == []
    assert not [e for e in reverse_server.events.events if e.kind in ("error", "restart", "stop")]
    assert capfd.readouterr() == ("", "")
