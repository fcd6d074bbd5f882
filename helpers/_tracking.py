"""Sockets that a background server can always stop, and that record what they do.

The helper hands the lesson's server code a real listening socket (a
``socket.socket`` subclass); its ``accept()`` returns real connection sockets
(another subclass). Both differ from plain sockets in two ways only:

* every accept, recv, send and close is recorded in the server's EventLog;
* every blocking wait is cut into short slices that check a stop flag, so
  ``stop()`` ends a thread blocked in ``accept()`` or ``recv()`` on every
  platform (closing a socket does not wake such a thread; see FIELD-NOTES).

Underneath, the file descriptor is always non-blocking; the timeout the
lesson's code sets with ``settimeout``/``setblocking`` is kept separately and
honoured by the sliced waits (``TimeoutError`` after it, as a plain socket does).

The functions at the end open the servers' sockets (the mail sink's too):
exclusive ports, a free port instead of a busy one, and the status line that
says which; an AF_UNIX listener at a path short enough for every platform,
whose socket file goes away when it closes.
"""

from __future__ import annotations

import errno
import os
import select
import shutil
import socket
import stat
import tempfile
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from helpers.events import EventLog, format_peer

SLICE = 0.1  # seconds between looks at the stop flag
BACKLOG = 128  # 50 clients at once overflow listen(1); see FIELD-NOTES
# EADDRINUSE everywhere; on Windows an exclusively held port gives WSAEACCES.
BUSY_ERRNOS = {errno.EADDRINUSE, errno.EACCES, 10013, 10048}
_T = TypeVar("_T")
_SHUTDOWN_NAMES = {getattr(socket, n): n for n in ("SHUT_RD", "SHUT_WR", "SHUT_RDWR")}
UNIX_SOCKETS = hasattr(socket, "AF_UNIX")  # Windows builds of Python have none
# sun_path holds 104 bytes on macOS and the BSDs, 108 on Linux, NUL included.
MAX_SOCKET_PATH = 100


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

    def _setup(self, tracker: Tracker) -> None:
        self._tracker = tracker
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
            raise ServerStopped(f"{self._tracker.log.name} server is stopping")

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


class TrackedConnection(_TrackedSocket):
    """A connection accepted by a tracked listener; recorded in the server's log."""

    peer: str | None

    def _record(self, kind: str, data: bytes = b"", note: str = "") -> None:
        self._tracker.log.record(kind, self.peer, data, note)

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        call = super().recv
        data = self._blocking(lambda: call(bufsize, flags))
        self._record("recv", data, "" if data else "end of stream: the peer closed")
        return data

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        call = super().recv_into
        count = self._blocking(lambda: call(buffer, nbytes, flags))
        data = bytes(memoryview(buffer)[:count])
        self._record("recv", data, "" if count else "end of stream: the peer closed")
        return count

    def recvfrom(self, bufsize: int, flags: int = 0) -> tuple[bytes, Any]:
        call = super().recvfrom
        data, address = self._blocking(lambda: call(bufsize, flags))
        self._record("recv", data)
        return data, address

    def send(self, data: Any, flags: int = 0) -> int:
        call = super().send
        sent = self._blocking(lambda: call(data, flags), for_write=True)
        self._record("send", bytes(memoryview(data)[:sent]))
        return sent

    def sendall(self, data: Any, flags: int = 0) -> None:
        view = memoryview(data).cast("B")
        call = super().send
        total = 0
        while total < len(view):
            total += self._blocking(partial(call, view[total:], flags), for_write=True)
        self._record("send", bytes(view))

    def sendto(self, data: Any, *args: Any) -> int:
        call = super().sendto
        sent = self._blocking(lambda: call(data, *args), for_write=True)
        self._record("send", bytes(memoryview(data)[:sent]))
        return sent

    def shutdown(self, how: int) -> None:
        super().shutdown(how)
        self._record("shutdown", note=_SHUTDOWN_NAMES.get(how, str(how)))

    def wake(self) -> None:
        """Hang up without closing, so code waiting on this socket returns (the helper's stop)."""
        try:
            socket.socket.shutdown(self, socket.SHUT_RDWR)
        except OSError:
            pass

    def close(self) -> None:
        self.close_with_note("")

    def close_with_note(self, note: str) -> None:
        if not self._closed:
            self._record("close", note=note)
            self._tracker.discard(self)
        super().close()

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
                _unlink_quietly(path)

    def accept(self) -> tuple[TrackedConnection, Any]:
        fd, address = self._blocking(self._accept)
        conn = TrackedConnection(self.family, self.type, self.proto, fileno=fd)
        conn._setup(self._tracker)
        conn.peer = format_peer(address)
        self._tracker.add(conn)
        self._tracker.log.record("accept", conn.peer)
        self.accepted += 1
        return conn, address


def family_of(host: str) -> int:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def bind_with_fallback(open_at: Callable[[int], _T], port: int) -> tuple[_T, int | None]:
    """``open_at(port)``; if someone else holds that port, ``open_at(0)`` (any free port).

    Returns what ``open_at`` made and the busy port (None when the asked port was
    free), which the status line names: ``... (33333 was busy)``.
    """
    try:
        return open_at(port), None
    except OSError as error:
        if port == 0 or error.errno not in BUSY_ERRNOS:
            raise
    return open_at(0), port


def status_line(what: str, address: Any, busy_port: int | None) -> str:
    """The one line every server prints: ``reverse server on 127.0.0.1:33333 (... was busy)``.

    Always the same shape, so the sanitizer can normalise the port either way.
    An AF_UNIX path shows only its file name (``... on unix socket reverse.sock``):
    the folder differs from machine to machine.
    """
    if isinstance(address, str):
        return f"{what} on unix socket {os.path.basename(address)}"
    line = f"{what} on {format_peer(address)}"
    return f"{line} ({busy_port} was busy)" if busy_port is not None else line


def claim_port(sock: socket.socket, reuse_address: bool) -> None:
    """Make the port this socket binds its own: nobody else may bind it while it is open."""
    exclusive = getattr(socket, "SO_EXCLUSIVEADDRUSE", None)
    if exclusive is not None:  # Windows: SO_REUSEADDR would let a second socket share the port
        sock.setsockopt(socket.SOL_SOCKET, exclusive, 1)
    elif reuse_address:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)


def _bound_stream_socket(
    host: str, port: int, backlog: int, socket_class: type[socket.socket]
) -> socket.socket:
    # proto=IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted sockets only
    # when the listener's proto says TCP (base_events._set_nodelay); without it a
    # multi-line reply (SMTP's EHLO) stalls about 40 ms on Nagle's algorithm
    # meeting the client's delayed ACK. Accepted sockets inherit the proto.
    sock = socket_class(family_of(host), socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        # TCP may reuse an address: a port in TIME-WAIT after the last run binds again at once.
        claim_port(sock, reuse_address=True)
        sock.bind((host, port))
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return sock


def open_listener(
    host: str = "127.0.0.1",
    port: int = 0,
    backlog: int = BACKLOG,
    tracker: Tracker | None = None,
) -> tuple[socket.socket, int | None]:
    """A listening TCP socket on (host, port), or on a free port if another holds ``port``.

    Returns the socket and the busy port (None if the asked one was free), for
    the status line. Every server of the course opens its listener here, so all
    behave alike: an exclusive port (a second server cannot share it on
    Windows), no wait after TIME-WAIT, a backlog that lets many clients connect
    at once, TCP proto for asyncio's TCP_NODELAY. With a ``tracker`` the socket
    is a ``TrackedListener`` for the lesson's code; without one it is a plain
    socket that an asyncio server (the mail sink) can take with ``sock=``.
    """
    socket_class = socket.socket if tracker is None else TrackedListener
    listener, busy_port = bind_with_fallback(
        lambda p: _bound_stream_socket(host, p, backlog, socket_class), port
    )
    if isinstance(listener, TrackedListener) and tracker is not None:
        listener._setup(tracker)
    return listener, busy_port


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


def open_unix_listener(
    tracker: Tracker,
    path: str | None = None,
    filename: str = "server.sock",
    backlog: int = BACKLOG,
) -> TrackedListener:
    """A listening AF_UNIX stream socket at ``path``; its file is removed when it closes.

    Without a ``path`` the socket is ``filename`` in a fresh private folder (only
    this user may connect; the folder goes too on close). A socket file left at
    ``path`` by a program that ended without removing it would refuse the bind,
    so it is removed first, but only if nobody answers on it: a live server's
    socket is never taken over.
    """
    if not UNIX_SOCKETS:
        raise OSError("this Python has no socket.AF_UNIX (Windows): use TCP on 127.0.0.1")
    folder = None
    if path is None:
        folder = private_folder(filename)
        path = os.path.join(folder, filename)
    else:
        _remove_stale_socket(path)
    listener = TrackedListener(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(path)
        listener._remove_on_close = (path,) if folder is None else (path, folder)
        listener.listen(backlog)
    except BaseException:
        listener.close()
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    listener._setup(tracker)
    return listener


def _remove_stale_socket(path: str) -> None:
    try:
        if not stat.S_ISSOCK(os.stat(path).st_mode):
            return  # not a socket: let bind() report it rather than delete someone's file
    except OSError:
        return  # nothing there
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.2)
        try:
            probe.connect(path)
        except (ConnectionRefusedError, FileNotFoundError):
            _unlink_quietly(path)  # nobody listens: left over from a program that ended
            return
        except OSError:
            return  # let bind() report what is wrong
    raise OSError(errno.EADDRINUSE, f"a running server listens on {os.path.basename(path)}")


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def open_datagram_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(family_of(host), socket.SOCK_DGRAM)
    try:
        # No SO_REUSEADDR for UDP: on Linux it lets two sockets share a port
        # and the newer one silently steals the other's datagrams.
        claim_port(sock, reuse_address=False)
        sock.bind((host, port))
        sock.settimeout(SLICE)
    except BaseException:
        sock.close()
        raise
    return sock


def poke(address: tuple[str, int] | str) -> None:
    """Connect and hang up: wakes a select() on a listener where shutdown() does not.

    ``address`` is (host, port) or an AF_UNIX listener's path.
    """
    try:
        if isinstance(address, str):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(0.2)
                sock.connect(address)
        else:
            with socket.create_connection(address, timeout=0.2):
                pass
    except OSError:
        pass


def poke_datagram(address: tuple[str, int]) -> None:
    """Send an empty datagram: wakes a recvfrom() at once instead of at its next time slice."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(b"", address)
    except OSError:
        pass
