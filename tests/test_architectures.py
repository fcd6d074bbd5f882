"""helpers.lessons.architectures: the reference designs of notebook 04, judged by the checker."""

from __future__ import annotations

import asyncio
import socket
import struct
import threading

import pytest
from server_checking import ask

from helpers.lessons.architectures import ARCHITECTURES, asyncio_server
from helpers.lessons.concurrency import check_concurrency
from helpers.run.reverse_client import ask_reverse
from helpers.run.servers import serve

# every test: all servers stopped afterwards, no server thread left (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("no_servers_left")

SIDE_BY_SIDE = [name for name in ARCHITECTURES if name != "(a) one at a time"]


@pytest.mark.parametrize("name", SIDE_BY_SIDE)
def test_every_design_but_the_first_serves_fifty_clients_while_one_is_held(
    name: str, capfd
) -> None:
    server = serve("many", ARCHITECTURES[name], port=0)
    result = check_concurrency(server.address, clients=50, timeout=10.0, name=name)
    assert result.passed, result.hint
    assert (result.served, result.overlapped, result.wrong, result.failed) == (50, 49, 0, 0)
    assert result.held == "served" and result.errors == {}
    server.events.wait_for("close", count=50)
    server.stop()
    assert server.errors == []
    out, err = capfd.readouterr()
    assert out == f"many server on 127.0.0.1:{server.port}\n" and err == ""


def test_the_chapters_loop_fails_stuck_on_the_held_client() -> None:
    # Client 00 trickles, so the server's 2 s silence timeout never frees (a) from it:
    # the others wait in vain, whatever their timeout.
    server = serve("many", ARCHITECTURES["(a) one at a time"], port=0)
    result = check_concurrency(server.address, timeout=1.0, name="(a)")
    server.stop()
    assert not result.passed and result.overlapped == 0 and result.wrong == 0
    assert result.errors.get("TimeoutError", 0) >= 19
    assert result.hint.startswith("Stuck on the held client")
    assert "a thread per connection" in result.hint
    assert server.errors == []


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


def test_asyncio_design_runs_its_own_selector_loop_in_the_server_thread() -> None:
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
