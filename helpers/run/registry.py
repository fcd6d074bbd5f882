"""Servers by name, so that re-running a cell replaces its server instead of adding one.

Anything with a ``stop()`` method can be registered (the background servers,
the mail sink, the name server); ``stop_all`` also runs at interpreter exit.
"""

from __future__ import annotations

import atexit
import threading
import time
from typing import Any, Protocol

__all__ = ["stop_all", "stop_server"]


class Stoppable(Protocol):
    def stop(self) -> Any: ...


_servers: dict[str, Stoppable] = {}
_lock = threading.Lock()


def register_server(name: str, server: Stoppable) -> None:
    """Remember ``server`` under ``name``, stopping whatever ran under that name before."""
    with _lock:
        previous = _servers.get(name)
        _servers[name] = server
    if previous is not None and previous is not server:
        previous.stop()


def forget(name: str, server: Stoppable) -> None:
    """Drop ``server`` from the registry (called by the server itself when it stops)."""
    with _lock:
        if _servers.get(name) is server:
            del _servers[name]


def stop_server(name: str) -> bool:
    """Stop the server registered under ``name``; False if there was none."""
    with _lock:
        server = _servers.pop(name, None)
    if server is None:
        return False
    server.stop()
    return True


STOP_ALL_TIMEOUT = 3.0  # seconds for all of them together, however many are stuck


def stop_all(timeout: float = STOP_ALL_TIMEOUT) -> None:
    """Stop every registered server (also run at interpreter exit), within ``timeout`` in all.

    The servers stop side by side, each in a thread of its own, so one that
    waits for a stuck thread does not make the others wait in turn. One server
    whose stop fails does not keep the others running: all are stopped, then the
    first error is raised. What a server says about threads that outlived its
    stop is printed here, in the calling cell.
    """
    with _lock:
        servers = list(_servers.values())
        _servers.clear()
    errors: list[BaseException] = []

    def stop(server: Stoppable) -> None:
        try:
            server.stop()
        except Exception as error:
            errors.append(error)

    threads = [
        threading.Thread(target=stop, args=(server,), name="helpers-stop", daemon=True)
        for server in servers
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    for server in servers:
        note = getattr(server, "stuck_note", "")
        if note:
            print(note)
    if errors:
        raise errors[0]


def running_servers() -> list[Stoppable]:
    """The registered servers, in the order they started."""
    with _lock:
        return list(_servers.values())


# Here, not in each server module: whatever registers a server is stopped at exit.
atexit.register(stop_all)
