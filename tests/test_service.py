"""helpers.run.service: every background service follows the one contract, the same way.

The same checks run against each kind of service the course starts: a TCP
server, a UDP server answering with a handler, a UDP server running the
lesson's whole recvfrom/sendto loop, an AF_UNIX server, the course's name
server and the mail sink. Each is started through its public starter, as a notebook cell does.
"""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Callable

import pytest

from helpers.run.listeners import UNIX_SOCKETS
from helpers.run.registry import running_servers, stop_server
from helpers.run.servers import serve, serve_datagrams, serve_each, serve_unix
from helpers.run.service import Service
from helpers.services.mailsink import start_mail_sink
from helpers.services.nameserver import start_name_server


def _echo(conn: socket.socket, _address: object) -> None:
    conn.sendall(conn.recv(1024))


def _whole(listener: socket.socket) -> None:
    while True:
        conn, _ = listener.accept()
        with conn:
            conn.sendall(conn.recv(1024))


def _datagram_loop(sock: socket.socket) -> None:
    while True:
        data, address = sock.recvfrom(65535)
        sock.sendto(data, address)


# name -> (starter(name, port, quiet), the word after the name, protocol)
STARTERS: dict[str, tuple[Callable[..., Service], str, str]] = {
    "tcp": (lambda n, p, q: serve_each(n, _echo, port=p, quiet=q), "server", "tcp"),
    "udp": (lambda n, p, q: serve_datagrams(n, lambda d, a: d, port=p, quiet=q), "server", "udp"),
    "udp-loop": (
        lambda n, p, q: serve(n, _datagram_loop, port=p, quiet=q, protocol="udp"),
        "server",
        "udp",
    ),
    "name": (lambda n, p, q: start_name_server(port=p, quiet=q), "server", "udp"),
    "sink": (lambda n, p, q: start_mail_sink(n, p, quiet=q), "sink", "tcp"),
}
NAMES = {"name": "name"}  # the name server always runs under its own name


@pytest.fixture(params=sorted(STARTERS))
def kind(request: pytest.FixtureRequest):
    yield request.param
    stop_server(NAMES.get(request.param, f"contract-{request.param}"))


def _start(kind: str, port: int = 0, quiet: bool = False) -> Service:
    starter, _, _ = STARTERS[kind]
    return starter(NAMES.get(kind, f"contract-{kind}"), port, quiet)


def _held_port(protocol: str) -> socket.socket:
    holder = socket.socket(
        socket.AF_INET, socket.SOCK_STREAM if protocol == "tcp" else socket.SOCK_DGRAM
    )
    holder.bind(("127.0.0.1", 0))
    if protocol == "tcp":
        holder.listen()
    return holder


def test_one_status_line_of_one_shape_printed_once(kind, capfd) -> None:
    service = _start(kind)
    out, err = capfd.readouterr()
    word = STARTERS[kind][1]
    assert out == f"{service.name} {word} on 127.0.0.1:{service.port}\n" and err == ""
    assert service.status_line == out.strip()
    assert repr(service) == service.status_line
    assert service.address == ("127.0.0.1", service.port) and service.running


def test_a_busy_port_falls_back_and_says_so_in_the_same_shape(kind, capfd) -> None:
    with _held_port(STARTERS[kind][2]) as holder:
        busy = holder.getsockname()[1]
        service = _start(kind, busy)
    out, _ = capfd.readouterr()
    assert service.port != busy and service.busy_port == busy
    assert re.fullmatch(
        rf"{service.name} \w+ on 127\.0\.0\.1:{service.port} \({busy} was busy\)\n", out
    )


def test_a_quiet_start_prints_nothing(kind, capfd) -> None:
    service = _start(kind, quiet=True)
    assert service.running
    assert capfd.readouterr() == ("", "")


def test_starting_again_replaces_by_name(kind, capfd) -> None:
    first = _start(kind, quiet=True)
    second = _start(kind, quiet=True)
    assert not first.running and second.running
    same_name = [s for s in running_servers() if getattr(s, "name", None) == second.name]
    assert same_name == [second]
    assert repr(first).endswith("(stopped)")


def test_stop_is_idempotent_frees_the_port_and_leaves_the_registry(kind) -> None:
    service = _start(kind, quiet=True)
    service.stop()
    service.stop()
    assert not service.running and service not in running_servers()
    assert [e.kind for e in service.events].count("stop") == 1
    family = socket.SOCK_STREAM if STARTERS[kind][2] == "tcp" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, family) as again:
        again.bind(("127.0.0.1", service.port))


def test_errors_are_kept_for_raise_errors_and_shown_as_events(kind) -> None:
    service = _start(kind, quiet=True)
    service.raise_errors()  # none yet: returns quietly
    service.record_error(ValueError("bad input"), ("127.0.0.1", 5))
    with pytest.raises(ValueError, match="bad input"):
        service.raise_errors()
    (event,) = [e for e in service.events if e.kind == "error"]
    assert event.peer == "127.0.0.1:5" and event.note == "ValueError: bad input"


def test_every_service_is_a_service() -> None:
    for kind in sorted(STARTERS):
        service = _start(kind, quiet=True)
        try:
            assert isinstance(service, Service)
            assert service.protocol == STARTERS[kind][2]
        finally:
            service.stop()


@pytest.mark.skipif(not UNIX_SOCKETS, reason="this Python has no AF_UNIX (Windows)")
def test_an_af_unix_server_follows_the_contract_with_a_path(capfd) -> None:
    server = serve_unix("contract-unix", _whole, filename="contract.sock")
    try:
        out, _ = capfd.readouterr()
        assert out == "contract-unix server on unix socket contract.sock\n"
        assert isinstance(server.address, str) and server.running
    finally:
        server.stop()
        server.stop()
    assert not server.running and server not in running_servers()


def test_stop_during_a_servers_own_end_returns_once_everything_is_freed(monkeypatch):
    """A server whose function returned stops itself; a stop() meanwhile waits for that stop."""
    from helpers.run import stoppable

    slow_close = stoppable.TrackedListener.close

    def close_slowly(self):
        threading.Event().wait(0.5)  # a busy machine, where closing takes a while
        slow_close(self)

    monkeypatch.setattr(stoppable.TrackedListener, "close", close_slowly)
    server = serve("contract-ends", lambda listener: listener.accept(), port=0, quiet=True)
    with socket.create_connection(server.address, timeout=2):
        pass
    while server.running:  # its function has returned; its own stop is under way
        threading.Event().wait(0.01)
    server.stop()
    assert server._sockets[0].fileno() == -1  # the listener is closed: the port is free
    assert [e.kind for e in server.events][-1] == "stop"
