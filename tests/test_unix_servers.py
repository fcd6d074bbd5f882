"""helpers.serve_unix: the same server functions on an AF_UNIX path, never shown."""

from __future__ import annotations

import os
import socket
import threading

import pytest

from helpers.lessons.architectures import ARCHITECTURES
from helpers.lessons.concurrency import check_concurrency
from helpers.run.registry import running_servers, stop_all
from helpers.run.reverse_client import ask_reverse
from helpers.run.servers import UNIX_SOCKETS, serve_unix

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
    assert os.stat(os.path.dirname(server.address)).st_mode & 0o077 == 0


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_every_design_keeps_its_verdict_over_unix_sockets(name: str) -> None:
    server = serve_unix("many-unix", ARCHITECTURES[name])
    # One at a time cannot answer anyone while the checker holds a client mid-message,
    # however long the others wait: its verdict does not hang on the timeout.
    result = check_concurrency(server.address, clients=20, timeout=2.0, family=socket.AF_UNIX)
    assert result.wrong == 0
    assert result.passed == (name != "(a) one at a time"), result.hint


def test_stop_with_a_silent_client_ends_threads_and_removes_the_folder() -> None:
    server = serve_unix("reverse-unix", ARCHITECTURES["(a) one at a time"])
    silent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    silent.connect(server.address)
    server.events.wait_for("accept")
    server.stop()
    silent.close()
    assert not os.path.exists(os.path.dirname(server.address))
    assert not [t for t in threading.enumerate() if t.name.startswith("helpers-server-")]
    assert server.errors == []


def test_rerun_replaces_the_server(capfd) -> None:
    first = serve_unix("reverse-unix", ARCHITECTURES["(a) one at a time"])
    second = serve_unix("reverse-unix", ARCHITECTURES["(a) one at a time"])
    assert not first.running and second.running
    assert not os.path.exists(os.path.dirname(first.address))
    assert ask_reverse(second.address, "abc", family=socket.AF_UNIX) == "cba"


def test_a_given_path_replaces_a_stale_socket_file_and_is_removed_on_stop(tmp_path) -> None:
    path = str(tmp_path / "r.sock")
    leftover = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    leftover.bind(path)  # a program that ended without removing its socket file
    leftover.close()
    server = serve_unix("reverse-unix", ARCHITECTURES["(a) one at a time"], path=path)
    assert server.address == path
    assert ask_reverse(path, "abc", family=socket.AF_UNIX) == "cba"
    server.stop()
    assert not os.path.exists(path)
    assert list(tmp_path.iterdir()) == []


def test_a_given_path_where_a_server_listens_is_refused(tmp_path) -> None:
    path = str(tmp_path / "r.sock")
    first = serve_unix("first-unix", ARCHITECTURES["(a) one at a time"], path=path)
    with pytest.raises(OSError, match="a running server listens on r.sock"):
        serve_unix("second-unix", ARCHITECTURES["(a) one at a time"], path=path)
    assert running_servers() == [first]
    assert ask_reverse(path, "abc", family=socket.AF_UNIX) == "cba"


def test_a_given_path_that_is_no_socket_is_left_alone(tmp_path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("keep me", encoding="utf-8")
    with pytest.raises(OSError):
        serve_unix("reverse-unix", ARCHITECTURES["(a) one at a time"], path=str(path))
    assert path.read_text(encoding="utf-8") == "keep me"
    assert running_servers() == []


def test_a_server_function_that_returns_removes_its_socket_file() -> None:
    server = serve_unix("reverse-unix", lambda listener: None)
    server.events.wait_for("stop")
    assert not server.running
    assert not os.path.exists(os.path.dirname(server.address))
