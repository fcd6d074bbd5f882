"""A client socket that records what it does, for tables and sequence diagrams.

Both recorders of the course speak one vocabulary, written once here in
``SocketRecorder``: the servers' sockets (``helpers.run.stoppable``) and this
one, which a lesson's client uses to put its side of the exchange in a log of
its own::

    log = helpers.EventLog("client")
    with helpers.RecordedSocket(log) as sock:
        sock.connect(server.address)
        sock.sendall("ПАЛИНДРОМ".encode())
    helpers.sequence_diagram(log, server.events)
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from helpers.show.events import EventLog, format_peer
from helpers.show.sequence import LOCAL_NOTE

__all__ = ["RecordedSocket"]

END_OF_STREAM = "end of stream: the peer closed"
SHUTDOWN_NAMES = {getattr(socket, n): n for n in ("SHUT_RD", "SHUT_WR", "SHUT_RDWR")}
_T = TypeVar("_T")


class SocketRecorder:
    """The data calls of a socket, each recorded as one event: the course's vocabulary.

    A mixin for ``socket.socket`` subclasses, placed before the socket class:
    ``recv`` (and ``recv_into``, ``recvfrom``), ``send`` (``sendall``,
    ``sendto``), ``shutdown`` and ``close`` become "recv", "send", "shutdown"
    and "close" events in ``log``, as ``actor``, with the peer the socket talks
    to. A subclass runs each call through ``_blocking`` (the stoppable sockets
    cut blocking waits into slices there) and may add work to ``_on_close``.
    """

    log: EventLog
    actor: str = "server"
    peer: str | None = None
    _blocking: Callable[..., Any]  # (call, for_write=False) -> what call() returns

    def _on_close(self) -> None:
        """Called once, when the socket is closed (before the descriptor goes)."""

    def _record(self, kind: str, data: bytes = b"", note: str = "", peer: Any = None) -> None:
        self.log.record(kind, peer if peer is not None else self.peer, data, note, self.actor)

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        data = self._blocking(partial(super().recv, bufsize, flags))  # type: ignore[misc]
        self._record("recv", data, "" if data else END_OF_STREAM)
        return data

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        count = self._blocking(partial(super().recv_into, buffer, nbytes, flags))  # type: ignore[misc]
        data = memoryview(buffer).cast("B")[:count]
        self._record("recv", data, "" if count else END_OF_STREAM)
        return count

    def recvfrom(self, bufsize: int, flags: int = 0) -> tuple[bytes, Any]:
        data, address = self._blocking(partial(super().recvfrom, bufsize, flags))  # type: ignore[misc]
        self._record("recv", data, peer=address)
        return data, address

    def send(self, data: Any, flags: int = 0) -> int:
        sent = self._blocking(partial(super().send, data, flags), for_write=True)  # type: ignore[misc]
        self._record("send", memoryview(data).cast("B")[:sent])
        return sent

    def sendall(self, data: Any, flags: int = 0) -> None:
        view = memoryview(data).cast("B")
        send = super().send  # type: ignore[misc]
        total = 0
        while total < len(view):
            total += self._blocking(partial(send, view[total:], flags), for_write=True)
        self._record("send", view)  # the log keeps a preview and the size, not a copy

    def sendto(self, data: Any, *args: Any) -> int:
        sent = self._blocking(partial(super().sendto, data, *args), for_write=True)  # type: ignore[misc]
        self._record("send", memoryview(data).cast("B")[:sent], peer=args[-1])
        return sent

    def shutdown(self, how: int) -> None:
        super().shutdown(how)  # type: ignore[misc]
        self._record("shutdown", note=SHUTDOWN_NAMES.get(how, str(how)))

    def close(self) -> None:
        self.close_with_note("")

    def close_with_note(self, note: str) -> None:
        """Close, recording why (a helper that closes a connection says so)."""
        if not self._closed:  # type: ignore[attr-defined]
            self._record("close", note=note)
            self._on_close()
        super().close()  # type: ignore[misc]


class RecordedSocket(SocketRecorder, socket.socket):
    """A real socket that records socket, bind, listen, accept, connect, send, recv,
    shutdown and close into ``log`` (as ``actor``), for tables and diagrams."""

    def __init__(
        self,
        log: EventLog,
        family: int = socket.AF_INET,
        type: int = socket.SOCK_STREAM,
        actor: str = "client",
        fileno: int | None = None,
    ) -> None:
        super().__init__(family, type, 0, fileno)
        self.log = log
        self.actor = actor
        self.peer = None
        if fileno is None:
            self._record(
                "socket",
                note=f"{_name(socket.AddressFamily, family)}, {_name(socket.SocketKind, type)}",
            )

    def _blocking(self, call: Callable[[], _T], for_write: bool = False) -> _T:
        return call()  # a plain socket blocks (or times out) on its own

    def bind(self, address: Any) -> None:
        super().bind(address)
        self._record("bind", note=f"on {format_peer(self.getsockname())}")

    def listen(self, backlog: int = 128) -> None:
        super().listen(backlog)
        self._record("listen", peer=self.getsockname(), note=f"backlog {backlog}")

    def accept(self) -> tuple[RecordedSocket, Any]:
        fd, address = self._accept()
        conn = RecordedSocket(self.log, self.family, self.type, self.actor, fileno=fd)
        conn.peer = format_peer(address)
        conn.settimeout(self.gettimeout())
        conn._record("accept")
        return conn, address

    def connect(self, address: Any) -> None:
        super().connect(address)
        self.peer = format_peer(self.getpeername())
        self._record("connect", note=LOCAL_NOTE + (format_peer(self.getsockname()) or ""))


def _name(enum: Any, value: int) -> str:
    try:
        return enum(value).name
    except ValueError:
        return str(value)
