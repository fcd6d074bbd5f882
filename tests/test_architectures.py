"""helpers.lessons.architectures: every design serves many clients correctly and stops cleanly."""

from __future__ import annotations

import socket
import struct
import threading

import pytest
from server_checking import ask

from helpers.lessons.architectures import ARCHITECTURES, DELAY, asyncio_server
from helpers.lessons.concurrency import check_concurrency, concurrency_table
from helpers.run.reverse_client import ask_reverse
from helpers.run.servers import serve

# every test: all servers stopped afterwards, no server thread left (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("no_servers_left")


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_fifty_concurrent_clients_are_all_served_correctly(name: str, capfd) -> None:
    server = serve("many", ARCHITECTURES[name], port=0)
    result = check_concurrency(server.address, clients=50, timeout=8.0, name=name)
    assert (result.served, result.wrong, result.failed) == (50, 0, 0), result.errors
    server.events.wait_for("close", count=50)
    server.stop()
    assert server.errors == []
    out, err = capfd.readouterr()
    assert out == f"many server on 127.0.0.1:{server.port}\n" and err == ""


def test_one_at_a_time_serialises_and_the_others_overlap() -> None:
    timings = {}
    for name, function in ARCHITECTURES.items():
        server = serve("many", function, port=0)
        timings[name] = check_concurrency(server.address, clients=20, name=name).seconds
        server.stop()
    serial, *others = timings.values()
    assert serial >= 20 * DELAY
    assert all(seconds * 2 < serial for seconds in others), timings


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_bad_clients_do_not_stop_the_server(name: str, capfd) -> None:
    server = serve("many", ARCHITECTURES[name], port=0)
    silent = socket.create_connection(server.address, timeout=2)
    try:
        with socket.create_connection(server.address, timeout=2) as abrupt:
            abrupt.sendall(b"half a mess")
            # linger 0: close() sends a reset instead of a clean end of stream
            abrupt.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        assert ask(server.address, b"\xffok", timeout=5) == "ko\ufffd".encode()
        assert ask_reverse(server.address, "ПАЛИНДРОМ", timeout=5) == "МОРДНИЛАП"
    finally:
        silent.close()
    server.stop()
    assert server.errors == []
    assert capfd.readouterr().err == ""


def test_asyncio_variant_runs_its_own_loop_in_the_server_thread() -> None:
    import asyncio

    seen = {}

    def spy(listener: socket.socket) -> None:
        original = asyncio.Runner

        class Runner(original):  # type: ignore[misc, valid-type]
            def run(self, coro, **kwargs):
                seen["thread"] = threading.current_thread().name
                seen["loop"] = type(self.get_loop())
                return super().run(coro, **kwargs)

        asyncio.Runner = Runner  # type: ignore[misc]
        try:
            asyncio_server(listener)
        finally:
            asyncio.Runner = original  # type: ignore[misc]

    server = serve("many", spy, port=0)
    assert ask_reverse(server.address, "abc") == "cba"
    assert seen["thread"].startswith("helpers-server-many")
    assert issubclass(seen["loop"], asyncio.SelectorEventLoop)
    server.stop()
    assert server.errors == []


def test_checker_counts_wrong_replies_and_failures() -> None:
    def upper(listener: socket.socket) -> None:
        while True:
            conn, _ = listener.accept()
            with conn:
                data = b""
                while chunk := conn.recv(1024):
                    data += chunk
                conn.sendall(data.upper())

    def mute(listener: socket.socket) -> None:
        while True:
            conn, _ = listener.accept()
            conn.recv(1024)

    wrong_server = serve("upper", upper, port=0)
    wrong = check_concurrency(wrong_server.address, clients=5)
    assert (wrong.served, wrong.wrong, wrong.failed) == (0, 5, 0)
    mute_server = serve("mute", mute, port=0)
    stuck = check_concurrency(mute_server.address, clients=3, timeout=0.3)
    assert (stuck.served, stuck.failed) == (0, 3) and stuck.errors == {"TimeoutError": 3}
    table = concurrency_table([wrong, stuck])
    assert table.column("served") == ["0/5", "0/3"]
    assert "TimeoutError x3" in str(table)


def test_checker_reports_refused_connections_as_refused() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        address = probe.getsockname()
    result = check_concurrency(address, clients=4, timeout=1.0)
    # Refused at once: a client that waited for its timeout would count as TimeoutError.
    assert result.errors == {"ConnectionRefusedError": 4}
