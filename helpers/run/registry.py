"""Servers by name, so that re-running a cell replaces its server instead of adding one.

Anything with a ``stop()`` method can be registered (the background servers,
the mail sink, the name server); ``stop_all`` also runs at interpreter exit.
"""

from __future__ import annotations

import atexit
import threading
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


def stop_all() -> None:
    """Stop every registered server (also run at interpreter exit).

    One server whose stop fails does not keep the others running: all are
    stopped, then the first error is raised.
    """
    with _lock:
        servers = list(_servers.values())
        _servers.clear()
    errors = []
    for server in servers:
        try:
            server.stop()
        except Exception as error:
            errors.append(error)
    if errors:
        raise errors[0]


def running_servers() -> list[Stoppable]:
    """The registered servers, in the order they started."""
    with _lock:
        return list(_servers.values())


# Here, not in each server module: whatever registers a server is stopped at exit.
atexit.register(stop_all)
