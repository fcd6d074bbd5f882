"""Opening the servers' sockets: exclusive ports, a free port instead of a busy one.

Every server of the course opens its socket here (the mail sink's and the name
server's too), so all behave alike: a port nobody else may share, no wait after
TIME-WAIT, a backlog that lets a crowd of clients connect at once, and when the
asked port is busy (another student's kernel on the same hub holds 33333), a
free port and the one status line that says so. AF_UNIX listeners get a path
short enough for every platform, and their socket file goes away on close.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
import stat
import tempfile
from collections.abc import Callable
from typing import Any, TypeVar

from helpers.run.stoppable import SLICE, TrackedListener, Tracker, unlink_quietly
from helpers.show.events import format_peer

BACKLOG = 128  # 50 clients connecting at once overflow listen(1): 3 of them timed out
# EADDRINUSE everywhere; on Windows an exclusively held port gives WSAEACCES.
BUSY_ERRNOS = {errno.EADDRINUSE, errno.EACCES, 10013, 10048}
UNIX_SOCKETS = hasattr(socket, "AF_UNIX")  # Windows builds of Python have none
# sun_path holds 104 bytes on macOS and the BSDs, 108 on Linux, NUL included.
MAX_SOCKET_PATH = 100
_T = TypeVar("_T")


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
            unlink_quietly(path)  # nobody listens: left over from a program that ended
            return
        except OSError:
            return  # let bind() report what is wrong
    raise OSError(errno.EADDRINUSE, f"a running server listens on {os.path.basename(path)}")


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
