"""Fixtures shared by the tests of background servers (their helpers: server_checking.py).

One way to start a server in a test, one way to end it: started as a lesson
starts it (exactly its status line printed, nothing on stderr), and afterwards
stopped with every other server, no server thread left behind, nothing printed
by its threads meanwhile and no error recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from server_checking import printed_status_line, run_reverse_server_cell, stop_all_and_check_threads

from helpers.run.registry import stop_all


@pytest.fixture(scope="module")
def servers_stopped_after_module() -> Iterator[None]:
    """After the module: every server stopped (a checker's own server lives for a module)."""
    yield
    stop_all()


@pytest.fixture
def no_servers_left() -> Iterator[None]:
    """After the test: every server stopped, and no server thread outlives it."""
    yield
    stop_all_and_check_threads()


@pytest.fixture
def start_server(capfd: pytest.CaptureFixture[str]) -> Iterator[Callable[[Callable[[], Any]], Any]]:
    """``start_server(start)`` calls ``start()``, checks what it printed and returns the server.

    ``start`` starts one server and returns it (say ``lambda: serve_datagrams(...)``).
    After the test, every server is stopped and checked as the module says; a
    server that records an error on purpose belongs to a test of its own.
    """
    started: list[Any] = []

    def start(starter: Callable[[], Any]) -> Any:
        server = starter()
        started.append(server)
        out, err = capfd.readouterr()
        assert (out, err) == (printed_status_line(server), ""), "not exactly one status line"
        return server

    yield start
    stop_all_and_check_threads()
    assert capfd.readouterr() == ("", ""), "a server thread printed"
    for server in started:
        assert server.errors == [], f"{server.name}: {server.errors!r}"


@pytest.fixture
def reverse_server(start_server: Callable[[Callable[[], Any]], Any]) -> Any:
    """Notebook 02's reverse server, started by running the notebook's own cell.

    The cell asks for port 33333; when another process holds it, the server
    takes a free one and says so in its status line.
    """
    return start_server(run_reverse_server_cell)
