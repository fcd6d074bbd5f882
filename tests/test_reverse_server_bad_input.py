"""The notebook's reverse server (its own cell's code) against bad clients.

Invalid UTF-8, a 1 MiB message, clients that close or reset mid-message, a client
that connects and never sends: the server answers what it can, keeps serving the
others, records instead of printing, and never crashes.
"""

from __future__ import annotations

import socket
import struct
import time

import nbformat
import nbindex
import pytest
from server_checking import ask

import helpers
from helpers.reverse_client import ask_reverse
from helpers.servers import stop_all
from helpers.text import reverse_utf8

NOTEBOOK = nbindex.NOTEBOOK_DIR / "02_tcp_sockets.ipynb"


def server_cell() -> str:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    (source,) = [c.source for c in nb.cells
                 if c.cell_type == "code" and "def reverse_server(listener)" in c.source]
    return source


@pytest.fixture
def server(capfd):
    namespace = {"helpers": helpers}
    exec(server_cell(), namespace)
    out, err = capfd.readouterr()
    running = namespace["server"]
    assert out == f"reverse server on {running.status_line.split(' on ', 1)[1]}\n" and err == ""
    yield running
    stop_all()


def test_invalid_utf8_gets_replacement_characters(server) -> None:
    reply = ask(server.address, b"ok\xff\xd0", timeout=5)
    assert reply.decode("utf-8") == "\ufffd\ufffdko"
    assert ask_reverse(server.address, "ПАЛИНДРОМ") == "МОРДНИЛАП"


def test_a_one_mebibyte_message_comes_back_whole(server) -> None:
    message = ("ПАЛИНДРОМ " * 60_000).encode("utf-8")[: 1 << 20]
    started = time.monotonic()
    reply = ask(server.address, message, timeout=5)
    assert reply == reverse_utf8(message)
    assert time.monotonic() - started < 5
    assert ask_reverse(server.address, "кот") == "ток"


def test_clients_that_close_or_reset_mid_message(server) -> None:
    with socket.create_connection(server.address, timeout=2) as closes:
        closes.sendall("ПАЛИН".encode()[:5])  # half a letter, then gone without reading
    with socket.create_connection(server.address, timeout=2) as resets:
        resets.sendall(b"half a mess")
        resets.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    assert ask_reverse(server.address, "ПАЛИНДРОМ", timeout=5) == "МОРДНИЛАП"
    kinds = [e.kind for e in server.events.events]
    assert kinds.count("accept") == 3 and kinds.count("close") >= 2


def test_a_silent_client_delays_others_but_does_not_stop_them(server) -> None:
    silent = socket.create_connection(server.address, timeout=5)
    try:
        server.events.wait_for("accept")
        started = time.monotonic()
        assert ask_reverse(server.address, "ПАЛИНДРОМ", timeout=5) == "МОРДНИЛАП"
        waited = time.monotonic() - started
        assert 1.5 < waited < 4.0  # the server's 2 s timeout dropped the silent client
        assert silent.recv(1024) == b""  # ... with an orderly close
    finally:
        silent.close()


def test_nothing_printed_nothing_crashed(server, capfd) -> None:
    with socket.create_connection(server.address, timeout=2) as resets:
        resets.sendall(b"\xff" * 100)
        resets.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    ask(server.address, b"\xd0", timeout=5)
    assert ask_reverse(server.address, "abc") == "cba"
    server.events.wait_for("close", count=3)
    assert server.running and server.errors == []
    assert not [e for e in server.events.events if e.kind in ("error", "restart", "stop")]
    assert capfd.readouterr() == ("", "")
