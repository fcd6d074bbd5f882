"""Sockets that a background server can always stop, and that record what they do.

The helper hands the lesson's server code a real listening socket (a
``socket.socket`` subclass); its ``accept()`` returns real connection sockets
(another subclass). Both differ from plain sockets in two ways only:

* every accept, recv, send and close is recorded in the server's EventLog;
* every blocking wait is cut into short slices that check a stop flag, so
  ``stop()`` ends a thread blocked in ``accept()`` or ``recv()`` on every
  platform (closing a listening socket does not wake a thread blocked in its
  ``accept()``: measured still blocked 2 s later on Linux).

Underneath, the file descriptor is always non-blocking; the timeout the
lesson's code sets with ``settimeout``/``setblocking`` is kept separately and
honoured by the sliced waits (``TimeoutError`` after it, as a plain socket does).
Opening these sockets (ports, fallback, AF_UNIX paths) is ``helpers.run.listeners``.
"""

from __future__ import annotations

import os
import select
import shutil
import socket
import threading
import time
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

from helpers.run.recording import SocketRecorder
from helpers.show.events import EventLog, format_peer

__all__ = ["ServerStopped"]

SLICE = 0.1  # seconds between looks at the stop flag
# After a stop, each further call on the server's sockets from the same thread waits
# longer before it raises: 10 ms, 20 ms, ... up to 1 s. A loop that swallows every
# exception (a bare except:) then idles instead of spinning a core at 100 %.
BACKOFF_FIRST, BACKOFF_MAX = 0.01, 1.0
_T = TypeVar("_T")


class ServerStopped(BaseException):
    """Raised inside a server's thread by accept/recv/send once the server is stopping.

    It derives from BaseException, not Exception, on purpose: lesson code often
    wraps its accept loop in ``try: ... except Exception:`` to survive a bad
    client, and that must not swallow the request to stop (just as it does not
    swallow KeyboardInterrupt). The helper that runs the server treats it as the
    normal end of the thread; nobody else ever sees it.
    """


class Tracker:
    """What all sockets of one server share: its stop flag, log and open connections."""

    def __init__(self, log: EventLog):
        self.log = log
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._connections: set[TrackedConnection] = set()
        self._refusals: dict[int, int] = {}  # thread id -> calls refused since the stop

    def refuse(self) -> NoReturn:
        """Raise ServerStopped: at once the first time in a thread, later after a back-off.

        A stopped server's sockets fail for good. Lesson code that catches
        everything and calls again is slowed down, not encouraged: the n-th
        refusal in a thread sleeps ``BACKOFF_FIRST * 2 ** (n - 2)`` seconds, at
        most ``BACKOFF_MAX``, before it raises.
        """
        thread = threading.get_ident()
        with self._lock:
            count = self._refusals.get(thread, 0)
            self._refusals[thread] = count + 1
        if count:
            time.sleep(min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (count - 1)))
        raise ServerStopped(f"{self.log.name} is stopping")

    def add(self, conn: TrackedConnection) -> None:
        with self._lock:
            self._connections.add(conn)

    def discard(self, conn: TrackedConnection) -> None:
        with self._lock:
            self._connections.discard(conn)

    def open_connections(self) -> list[TrackedConnection]:
        with self._lock:
            return list(self._connections)


def _ready(sock: socket.socket, for_write: bool, timeout: float) -> bool:
    fd = sock.fileno()
    if fd < 0:
        return True  # closed meanwhile: let the real call raise the real error
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLOUT if for_write else select.POLLIN)
        return bool(poller.poll(timeout * 1000))
    readable, writable, _ = select.select(
        [] if for_write else [fd], [fd] if for_write else [], [], timeout
    )
    return bool(readable or writable)


class _TrackedSocket(socket.socket):
    """Sliced, stoppable blocking calls on a non-blocking descriptor."""

    _tracker: Tracker
    _user_timeout: float | None
    log: EventLog

    def _setup(self, tracker: Tracker) -> None:
        self._tracker = tracker
        self.log = tracker.log
        self._user_timeout = socket.getdefaulttimeout()
        super().settimeout(0.0)

    def settimeout(self, value: float | None) -> None:
        if value is not None:
            value = float(value)
            if value < 0:
                raise ValueError("Timeout value out of range")
        self._user_timeout = value

    def gettimeout(self) -> float | None:
        return self._user_timeout

    def setblocking(self, flag: bool) -> None:
        self._user_timeout = None if flag else 0.0

    def getblocking(self) -> bool:
        return self._user_timeout != 0.0

    def _check_stop(self) -> None:
        if self._tracker.stopping.is_set():
            self._tracker.refuse()

    def _blocking(self, call: Callable[[], _T], for_write: bool = False) -> _T:
        """Run ``call`` as a blocking call would run, but stoppable."""
        timeout = self._user_timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            self._check_stop()
            try:
                return call()
            except (BlockingIOError, InterruptedError):
                if timeout == 0.0:
                    raise
            while True:
                self._check_stop()
                wait = SLICE if deadline is None else min(SLICE, deadline - time.monotonic())
                if wait <= 0:
                    raise TimeoutError("timed out")
                if _ready(self, for_write, wait):
                    break


class TrackedConnection(SocketRecorder, _TrackedSocket):
    """A connection accepted by a tracked listener; recorded in the server's log."""

    def _on_close(self) -> None:
        self._tracker.discard(self)

    def wake(self) -> None:
        """Hang up without closing, so code waiting on this socket returns (the helper's stop)."""
        try:
            socket.socket.shutdown(self, socket.SHUT_RDWR)
        except OSError:
            pass

    def end(self, note: str, graceful: bool) -> None:
        """The helper's own close: FIN to the peer so it sees EOF, never a hang.

        ``graceful`` drains what the peer already sent: closing a socket with
        unread data makes the kernel send a reset instead of a clean close.
        """
        if self._closed:
            return
        try:
            socket.socket.shutdown(self, socket.SHUT_WR if graceful else socket.SHUT_RDWR)
            if graceful:
                for _ in range(16):
                    if not socket.socket.recv(self, 65536):
                        break
        except OSError:
            pass
        self.close_with_note(note)


class TrackedListener(_TrackedSocket):
    """The listening socket handed to a whole-server function."""

    accepted = 0  # connections accepted so far (the runner tells a crash loop by it)
    # An AF_UNIX listener's socket file (and the private folder made for it): a
    # closed listener leaves no file behind that would refuse the next bind.
    _remove_on_close: tuple[str, ...] = ()

    def close(self) -> None:
        super().close()
        paths, self._remove_on_close = self._remove_on_close, ()
        for path in paths:
            if os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                unlink_quietly(path)

    def accept(self) -> tuple[TrackedConnection, Any]:
        fd, address = self._blocking(self._accept)
        conn = TrackedConnection(self.family, self.type, self.proto, fileno=fd)
        conn._setup(self._tracker)
        conn.peer = format_peer(address)
        self._tracker.add(conn)
        self._tracker.log.record("accept", conn.peer)
        self.accepted += 1
        return conn, address


def unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
