"""What the tests of background servers share: a loopback client, the reverse server cell, checks.

Used by the tests of helpers.run.servers and of what builds on it (architectures,
the notebook's server cell, the diagram and widget drawn from it) and by the
fixtures in tests/conftest.py; pytest puts tests/ on sys.path, so
``from server_checking import ask`` works from any test module.
"""

from __future__ import annotations

import functools
import socket
import threading
import time
from typing import Any

import nbformat
import nbindex

import helpers
from helpers.run.registry import stop_all

# Notebook 03 runs the server of notebook 02 (whose programs run as processes) in the kernel.
SERVER_NOTEBOOK = nbindex.NOTEBOOK_DIR / "03_tcp_streams.ipynb"


@functools.cache
def reverse_server_cell() -> str:
    """The source of notebook 03's cell that defines the reverse server and starts it."""
    nb = nbformat.read(SERVER_NOTEBOOK, as_version=4)
    (source,) = [
        c.source
        for c in nb.cells
        if c.cell_type == "code" and "def reverse_server(listener)" in c.source
    ]
    return source


def run_reverse_server_cell() -> Any:
    """Run that cell as the notebook does (with ``helpers`` imported); return its ``server``.

    The tests then check the server students run, and the diagram and widget
    the notebook draws from it, not a copy of it that could drift.
    """
    namespace: dict[str, Any] = {"helpers": helpers}
    exec(reverse_server_cell(), namespace)
    return namespace["server"]


def printed_status_line(server: Any) -> str:
    """What starting ``server`` must print: its one status line, spelled out independently."""
    busy = f" ({server.busy_port} was busy)" if server.busy_port else ""
    return f"{server.name} server on 127.0.0.1:{server.port}{busy}\n"


def server_threads() -> list[threading.Thread]:
    """The live threads the helpers started for servers (all are named helpers-server-...)."""
    return [t for t in threading.enumerate() if t.name.startswith("helpers-server-")]


def stop_all_and_check_threads(timeout: float = 2.0) -> None:
    """Stop every server and fail if any server thread outlives ``timeout`` seconds.

    Handler threads that lesson code started itself end on their next sliced
    wait (at most a tenth of a second), so a short grace period is needed.
    """
    stop_all()
    deadline = time.monotonic() + timeout
    while server_threads() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not server_threads(), server_threads()


def ask(address: tuple[str, int], data: bytes, timeout: float = 2.0) -> bytes:
    """Send ``data``, half-close, and read the reply until the server closes."""
    with socket.create_connection(address, timeout=timeout) as client:
        client.sendall(data)
        client.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := client.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)
