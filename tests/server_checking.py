"""What the tests of background servers share: a plain loopback client and a clean-up check.

Used by the tests of helpers.servers and of what builds on it (architectures,
the notebook's server cell); pytest puts tests/ on sys.path, so
``from server_checking import ask`` works from any test module.
"""

from __future__ import annotations

import socket
import threading
import time

from helpers.servers import stop_all


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
