"""The same whole-server functions on an AF_UNIX socket (a path instead of a port).

A Unix-domain socket never leaves the machine: no port to collide with another
student's, nothing any network can reach; the file system's permissions decide
who may connect. Windows builds of Python have no ``socket.AF_UNIX``; check
``UNIX_SOCKETS`` first::

    if helpers.UNIX_SOCKETS:
        server = helpers.serve_unix("reverse-unix", reverse_server)
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(server.address)   # a path in a fresh temporary folder

The path lives in a private temporary folder (mode 0700, so only this user can
connect; removed on stop); the status line
names only the file, never the folder, so outputs do not depend on the machine.
A socket's path must fit in a small fixed field (104 bytes on macOS, 108 on
Linux) and macOS's own temporary folder takes about half of that, so where the
usual folder would make the path too long the helper uses one under /tmp.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Callable
from typing import Any

from helpers._registry import register_server, stop_server
from helpers._tracking import TrackedListener
from helpers.servers import BackgroundServer

__all__ = ["MAX_SOCKET_PATH", "UNIX_SOCKETS", "UnixServer", "private_folder", "serve_unix"]

UNIX_SOCKETS = hasattr(socket, "AF_UNIX")
# sun_path holds 104 bytes on macOS and the BSDs, 108 on Linux, NUL included.
MAX_SOCKET_PATH = 100


class UnixServer(BackgroundServer):
    """A BackgroundServer whose address is a socket file's path."""

    def __init__(self, name: str, folder: str, filename: str):
        super().__init__(name, "unix", 0)
        self.folder = folder
        self.path = os.path.join(folder, filename)

    @property
    def address(self) -> str:  # type: ignore[override]
        return self.path

    @property
    def status_line(self) -> str:
        return f"{self.name} server on unix socket {os.path.basename(self.path)}"

    def _wake(self) -> None:
        for conn in self._tracker.open_connections():
            _quietly(conn.shutdown, socket.SHUT_RDWR)
        for sock in self._sockets:
            _quietly(sock.shutdown, socket.SHUT_RDWR)
        _quietly(_poke, self.path)  # wakes a select() where shutdown does not

    def _release(self) -> None:
        super()._release()
        shutil.rmtree(self.folder, ignore_errors=True)


def _quietly(call: Callable[..., Any], *args: Any) -> None:
    try:
        call(*args)
    except OSError:
        pass


def private_folder(filename: str) -> str:
    """A new folder (mode 0700) in which ``filename`` makes a path short enough to bind.

    The usual temporary folder first; where that is too long (macOS keeps it under
    /var/folders/..., and a user may set a long TMPDIR), a folder under /tmp.
    """
    for parent in (None, "/tmp"):
        if parent is not None and not os.path.isdir(parent):
            continue
        folder = tempfile.mkdtemp(prefix="netcourse-", dir=parent)
        if len(os.fsencode(os.path.join(folder, filename))) <= MAX_SOCKET_PATH:
            return folder
        os.rmdir(folder)
    raise OSError(
        f"an AF_UNIX socket path may be at most {MAX_SOCKET_PATH} bytes long here, and "
        f"{filename!r} in a temporary folder is longer: choose a shorter filename"
    )


def _poke(path: str) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        sock.connect(path)


def serve_unix(
    name: str,
    server_function: Callable[[socket.socket], Any],
    filename: str = "server.sock",
    backlog: int = 128,
) -> UnixServer:
    """Run ``server_function(listener)`` on a new AF_UNIX listener, like ``serve``.

    Raises ``OSError`` with a plain explanation where the platform has no AF_UNIX.
    """
    if not UNIX_SOCKETS:
        raise OSError("this Python has no socket.AF_UNIX (Windows): use TCP on 127.0.0.1")
    if not callable(server_function):
        raise TypeError("server_function must be a function (pass it without calling it)")
    stop_server(name)
    server = UnixServer(name, private_folder(filename), filename)
    listener = TrackedListener(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(server.path)
        listener.listen(backlog)
    except BaseException:
        listener.close()
        shutil.rmtree(server.folder, ignore_errors=True)
        raise
    listener._setup(server._tracker)
    server.events.record("listen", os.path.basename(server.path), note=f"backlog {backlog}")
    server._sockets.append(listener)
    server._start_thread(server._run_whole, server_function, listener)
    register_server(name, server)
    print(server.status_line)
    return server
