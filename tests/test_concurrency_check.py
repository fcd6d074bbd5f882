"""helpers.lessons.concurrency: the checker proves overlap and names what a server does wrong.

Each server here is a whole-server function with one typical fault. The checker
must fail it with the hint for that fault, whatever the machine's load: no
assertion here judges a time, and "never hangs" is a bound on a thread's join.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from typing import Any

import nbformat
import nbindex
import pytest
from notebook_cells import python_source

import helpers
from helpers.lessons.concurrency import (
    ConcurrencyResult,
    check_concurrency,
    concurrency_table,
    message,
)
from helpers.run.servers import serve
from helpers.wire.text import reverse_utf8

pytestmark = pytest.mark.usefixtures("no_servers_left")

NOTEBOOK_04 = nbindex.NOTEBOOK_DIR / "04_many_clients.ipynb"


def checked(function: Callable[[socket.socket], None], **options: Any) -> ConcurrencyResult:
    """Serve ``function`` on a free port, check it, stop it."""
    server = serve("checked", function, port=0, quiet=True)
    try:
        return check_concurrency(server.address, **options)
    finally:
        server.stop()


def bounded(run: Callable[[], ConcurrencyResult], bound: float) -> ConcurrencyResult:
    """Run a check in a thread; fail if it is still running after ``bound`` seconds (a hang)."""
    done: list[ConcurrencyResult] = []
    thread = threading.Thread(target=lambda: done.append(run()), daemon=True)
    thread.start()
    thread.join(bound)
    assert not thread.is_alive(), f"the check still ran after {bound} s"
    return done[0]


def read_all(conn: socket.socket) -> bytes:
    chunks = []
    while chunk := conn.recv(1024):
        chunks.append(chunk)
    return b"".join(chunks)


def threaded(serve_one: Callable[[socket.socket], None]) -> Callable[[socket.socket], None]:
    """A thread-per-client whole server around ``serve_one(conn)``."""

    def server(listener: socket.socket) -> None:
        def run(conn: socket.socket) -> None:
            with conn:
                conn.settimeout(10)
                try:
                    serve_one(conn)
                except OSError:
                    pass

        while True:
            conn, _addr = listener.accept()
            threading.Thread(target=run, args=(conn,), daemon=True).start()

    return server


def test_a_loop_without_any_timeout_is_stuck_on_the_held_client() -> None:
    def chapters_loop(listener: socket.socket) -> None:
        while True:
            conn, _addr = listener.accept()
            with conn:
                conn.sendall(reverse_utf8(read_all(conn)))

    result = checked(chapters_loop, clients=6, timeout=1.0)
    # the others gave up while client 00 was held; client 00 itself was answered at the end
    assert (result.served, result.overlapped, result.held) == (1, 0, "served")
    assert result.errors == {"TimeoutError": 5}
    assert result.hint.startswith("Stuck on the held client")
    assert "one connection at a time" in result.hint and "a thread per connection" in result.hint


def test_a_server_that_replies_to_the_first_recv_is_told_the_reply_is_wrong() -> None:
    # Side by side, but it answers whatever one recv() returns: client 00's start only.
    def impatient(conn: socket.socket) -> None:
        conn.sendall(reverse_utf8(conn.recv(1024)))

    result = checked(threaded(impatient), clients=5)
    assert result.held == "wrong" and not result.passed
    assert result.hint.startswith(f"Client 00 sent {message(0)!r} and got ")
    assert "read until recv() returns b''" in result.hint


def test_a_server_that_hangs_up_on_a_pausing_client_gets_the_held_hint() -> None:
    # Side by side, but a message must come in one recv(), or it hangs up without a word.
    def whole_or_nothing(conn: socket.socket) -> None:
        data = conn.recv(1024)
        if data.endswith("ПАЛИНДРОМ".encode()):
            conn.sendall(reverse_utf8(data))

    result = checked(threaded(whole_or_nothing), clients=5)
    assert (result.served, result.held) == (4, "closed without a reply")
    assert result.hint.startswith("Client 00 sent its message slowly, and the server closed")


def test_a_server_that_does_not_reverse_gets_the_wrong_reply_hint() -> None:
    result = checked(threaded(lambda conn: conn.sendall(read_all(conn))), clients=5)
    assert (result.served, result.wrong, result.failed) == (0, 5, 0) and not result.passed
    sent = next(message(n) for n in range(5) if f"Client {n:02d} sent" in result.hint)
    assert repr(sent) in result.hint and "reversed" in result.hint


def test_a_buffer_shared_by_all_threads_is_caught_as_mixed_up_clients() -> None:
    shared: list[bytes] = []  # the bug: one list for every connection

    def serve_one(conn: socket.socket) -> None:
        while chunk := conn.recv(1024):
            shared.append(chunk)
        conn.sendall(reverse_utf8(b"".join(shared)))

    result = checked(threaded(serve_one))
    assert not result.passed and result.wrong >= 1
    assert result.hint.startswith("Replies mix up clients")
    assert "local variable" in result.hint


def test_a_silent_server_fails_within_the_bound() -> None:
    def silent(listener: socket.socket) -> None:
        held = []
        while True:
            conn, _addr = listener.accept()
            held.append(conn)  # never read, never answered, never closed

    result = bounded(lambda: checked(silent, clients=8, timeout=0.5), bound=30)
    assert (result.served, result.failed) == (0, 8) and result.errors == {"TimeoutError": 8}
    assert result.hint.startswith("No client got a reply within 0.5 s")


def test_a_listener_nobody_accepts_on_fails_within_the_bound() -> None:
    with socket.create_server(("127.0.0.1", 0), backlog=16) as listener:
        address = listener.getsockname()
        result = bounded(lambda: check_concurrency(address, clients=4, timeout=0.5), bound=30)
    assert result.served == 0 and not result.passed
    assert result.hint.startswith("No client got a reply")


def test_a_server_that_closes_without_replying_fails() -> None:
    def rude(listener: socket.socket) -> None:
        while True:
            conn, _addr = listener.accept()
            conn.close()

    result = checked(rude, clients=4)
    assert (result.served, result.failed) == (0, 4) and not result.passed
    assert result.hint.startswith("No client got a reply")


def test_refused_connections_are_reported_as_nothing_listening() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        address = probe.getsockname()
    result = check_concurrency(address, clients=4, timeout=1.0)
    # Refused at once: a client that waited for its timeout would count as TimeoutError.
    assert result.errors == {"ConnectionRefusedError": 4}
    assert result.hint.startswith("Nothing accepts connections at")


def test_fewer_than_two_clients_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        check_concurrency(("127.0.0.1", 9), clients=1)


def test_the_table_shows_counts_errors_and_the_hint() -> None:
    passed = ConcurrencyResult("good", 20, 20, 19, 0, 0, 0.05, "served", "")
    stuck = ConcurrencyResult(
        "stuck", 20, 1, 0, 0, 19, 0.6, "served", "Stuck on the held client: ...", {"X": 19}
    )
    table = concurrency_table([passed, stuck], caption="two")
    assert table.column("served") == ["20/20", "1/20"]
    assert table.column("while one held") == ["19/19", "0/19"]
    assert table.column("verdict") == ["passed", "Stuck on the held client: ..."]
    assert "X x19" in str(table) and passed.passed and not stuck.passed


def notebook_namespace() -> dict[str, Any]:
    """Run notebook 04's code cells as a student would (the guard left out); return the names."""
    nb = nbformat.read(NOTEBOOK_04, as_version=4)
    namespace: dict[str, Any] = {"helpers": helpers}
    for cell in nb.cells:
        if cell.cell_type == "code":
            exec(python_source(cell).replace("helpers.enable_guard()", ""), namespace)
    return namespace


def test_the_notebooks_own_designs_get_the_verdicts_its_prose_explains(capsys) -> None:
    results = notebook_namespace()["results"]
    capsys.readouterr()
    verdicts = {name: result.passed for name, result in results.items()}
    assert list(verdicts.values()) == [False, True, True, True, True], verdicts
    first = next(iter(results.values()))
    assert first.hint.startswith("Stuck on the held client")
    assert all(r.overlapped == r.clients - 1 for r in list(results.values())[1:])
