"""helpers.unix_servers: the same server functions on an AF_UNIX path, never shown."""

from __future__ import annotations

import os
import socket
import threading

import pytest

from helpers.architectures import ARCHITECTURES
from helpers.concurrency import check_concurrency
from helpers.reverse_client import ask_reverse
from helpers.servers import running_servers, stop_all
from helpers.unix_servers import UNIX_SOCKETS, serve_unix

# A skip only where the platform lacks the part (Windows Python): never on CI's Linux.
pytestmark = pytest.mark.skipif(not UNIX_SOCKETS, reason="this Python has no AF_UNIX")


@pytest.fixture(autouse=True)
def clean_registry():
    yield
    stop_all()


def test_serves_and_prints_no_path(capfd) -> None:
    server = serve_unix("reverse-unix", ARCHITECTURES["(a) one at a time"], filename="reverse.sock")
    out = capfd.readouterr().out
    assert out == "reverse-unix server on unix socket reverse.sock\n"
    assert os.path.dirname(server.address) not in out
    assert ask_reverse(server.address, "ПАЛИНДРОМ", family=socket.AF_UNIX) == "МОРДНИЛАП"
    server.events.wait_for("close")
    peers = {e.peer for e in server.events.events if e.kind == "accept"}
    assert peers == {"unnamed unix socket"}
    assert running_servers() == [server]


def test_only_the_owner_can_reach_the_folder() -> None:
    server = serve_unix("reverse-unix", ARCHITECTURES["(b) thread per client"])
    assert os.stat(server.folder).st_mode & 0o077 == 0


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_every_design_works_over_unix_sockets(name: str) -> None:
    server = serve_unix("many-unix", ARCHITECTURES[name])
    result = check_concurrency(server.address, clients=20, family=socket.AF_UNIX)
    assert (result.served, result.wrong, result.failed) == (20, 0, 0)


def test_stop_with_a_silent_client_ends_threads_and_removes_the_folder() -> None:
    server = serve_unix("reverse-unix", ARCHITECTURES["(a) one at a time"])
    silent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    silent.connect(server.address)
    server.events.wait_for("accept")
    server.stop()
    silent.close()
    assert not os.path.exists(server.folder)
    assert not [t for t in threading.enumerate() if t.name.startswith("helpers-server-")]
    assert server.errors == []


def test_rerun_replaces_the_server(capfd) -> None:
    first = serve_unix("reverse-unix", ARCHITECTURES["(a) one at a time"])
    second = serve_unix("reverse-unix", ARCHITECTURES["(a) one at a time"])
    assert not first.running and second.running
    assert not os.path.exists(first.folder)
    assert ask_reverse(second.address, "abc", family=socket.AF_UNIX) == "cba"
