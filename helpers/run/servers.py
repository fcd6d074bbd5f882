"""Background servers: run the lesson's server code in a thread, record it, stop it.

The server code a lesson is about stays in the notebook; this module only runs
it in the background and stops it::

    def reverse_server(listener):          # the lesson's accept loop
        while True:
            conn, addr = listener.accept()
            with conn:
                conn.sendall(conn.recv(1024)[::-1])

    server = helpers.serve("reverse", reverse_server)   # prints one status line
    server.events                                       # what happened, as a table
    server.stop()

``serve`` runs a whole-server function on a listening socket; ``serve_each``
runs the accept loop itself and calls ``handler(conn, addr)`` in a thread per
connection; ``serve_datagrams`` answers UDP datagrams with ``handler(data, addr)``.
All three bind 127.0.0.1 by default, fall back to a free port when the asked one
is held by someone else, replace a server of the same name, and print exactly
one status line (``reverse server on 127.0.0.1:33333``, or with
``(33333 was busy)`` appended), always from the calling thread.

``serve(..., protocol="udp")`` runs a whole UDP server, the lesson's own
``recvfrom``/``sendto`` loop, on a bound datagram socket, with everything
``serve`` gives a TCP server (one more mode, not one more name in the front door)::

    def udp_reverse_server(sock):          # the lesson's datagram loop
        while True:
            data, addr = sock.recvfrom(65535)
            sock.sendto(data[::-1], addr)

    server = helpers.serve("udp-reverse", udp_reverse_server, protocol="udp")

``serve_unix`` runs the same whole-server functions on an AF_UNIX socket (a
path instead of a port), where the platform has one (``UNIX_SOCKETS``)::

    if helpers.UNIX_SOCKETS:
        server = helpers.serve_unix("reverse-unix", reverse_server)
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(server.address)   # a path in a fresh private folder
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from helpers.run.listeners import (
    BACKLOG,
    UNIX_SOCKETS,  # re-exported: lessons check it before serve_unix
    bind_with_fallback,
    claim_port,
    family_of,
    open_datagram_socket,
    open_listener,
    open_unix_listener,
    poke,
    poke_datagram,
)
from helpers.run.recording import SocketRecorder
from helpers.run.service import Service
from helpers.run.stoppable import (
    SLICE,
    ServerStopped,
    TrackedConnection,
    TrackedListener,
    Tracker,
    _TrackedSocket,
)
from helpers.show.events import format_peer

__all__ = [
    "UNIX_SOCKETS",
    "BackgroundServer",
    "serve",
    "serve_datagrams",
    "serve_each",
    "serve_unix",
]

Opener = Callable[["BackgroundServer"], tuple[socket.socket, int | None]]
PROTOCOLS = ("tcp", "udp")  # what serve() runs a whole-server function on


class TrackedDatagramSocket(SocketRecorder, _TrackedSocket):
    """The bound UDP socket handed to a whole UDP server (``serve(..., protocol="udp")``).

    A real datagram socket, stoppable like the TCP listener: its ``recvfrom``
    waits in slices that look at the server's stop flag, so ``stop()`` ends a
    loop blocked in it (the stop's wake-up datagram is never handed to the
    lesson's code). Each datagram received and each reply sent is recorded, with
    the peer's address; a reply is recorded just before it goes, so a client
    holding the reply finds it in the log (a failed ``sendto`` follows it as an
    error). Closing it is the helper's job and is not recorded: "stop" says it.
    """

    received = 0  # datagrams handed to the lesson's code (the runner tells a crash loop by it)
    last_peer: str | None = None  # who sent the last one: an error is probably about it

    def recvfrom(self, bufsize: int, flags: int = 0) -> tuple[bytes, Any]:
        data, address = self._blocking(partial(socket.socket.recvfrom, self, bufsize, flags))
        self._received(address, data)
        return data, address

    def recvfrom_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> tuple[int, Any]:
        count, address = self._blocking(
            partial(socket.socket.recvfrom_into, self, buffer, nbytes, flags)
        )
        self._received(address, memoryview(buffer).cast("B")[:count])
        return count, address

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        return self.recvfrom(bufsize, flags)[0]

    def sendto(self, data: Any, *args: Any) -> int:
        self._record("send", memoryview(data).cast("B"), peer=args[-1])
        return self._blocking(partial(socket.socket.sendto, self, data, *args), for_write=True)

    def close(self) -> None:
        socket.socket.close(self)

    def _received(self, address: Any, data: Any) -> None:
        if self._tracker.stopping.is_set():
            self._tracker.refuse()  # the wake-up datagram of stop(), or one that came too late
        self.received += 1
        self.last_peer = format_peer(address)
        self._record("recv", data, peer=address)


def open_tracked_datagram_socket(host: str, port: int, tracker: Tracker) -> TrackedDatagramSocket:
    """A UDP socket bound to (host, port) for a whole UDP server, its port its own."""
    sock = TrackedDatagramSocket(family_of(host), socket.SOCK_DGRAM)
    try:
        claim_port(sock, reuse_address=False)  # as open_datagram_socket: no shared UDP port
        if hasattr(socket, "SIO_UDP_CONNRESET"):
            # Windows: a reply to a client that has gone away would make the next
            # recvfrom raise ConnectionResetError inside the lesson's loop.
            sock.ioctl(socket.SIO_UDP_CONNRESET, False)  # type: ignore[attr-defined]
        sock.bind((host, port))
    except BaseException:
        socket.socket.close(sock)
        raise
    sock._setup(tracker)
    return sock


def _served(sock: socket.socket) -> int:
    """How many clients (TCP) or datagrams (UDP) the lesson's code has taken so far."""
    if isinstance(sock, TrackedDatagramSocket):
        return sock.received
    return sock.accepted if isinstance(sock, TrackedListener) else 0


class BackgroundServer(Service):
    """A server running the lesson's code in daemon threads (see ``helpers.run.service``).

    Its ``address`` is (host, port), or the socket file's path for ``serve_unix``.
    ``serve``, ``serve_each``, ``serve_datagrams`` and ``serve_unix`` make and
    start one; ``protocol`` says which kind of socket it serves on.
    """

    def __init__(self, name: str, host: str, port: int, protocol: str = "tcp"):
        super().__init__(name, host, port)
        self.protocol = protocol
        self.path: str | None = None  # an AF_UNIX listener's socket file
        self._tracker = Tracker(self.events)
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._opener: Opener | None = None
        self._runner: Callable[[socket.socket], None] | None = None
        self._stop_timeout = 2.0
        self.stuck_note = ""  # set when threads outlive stop(); stop_all says it

    @property
    def address(self) -> tuple[str, int] | str:
        return self.path if self.path is not None else (self.host, self.port)

    def launch(
        self, opener: Opener, runner: Callable[[socket.socket], None], quiet: bool = False
    ) -> BackgroundServer:
        """Start: ``opener(self)`` makes the socket, ``runner(sock)`` serves it in a thread."""
        self._opener, self._runner = opener, runner
        self.start(quiet)
        return self

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the server: every blocked accept()/recv() returns and its threads end.

        Waits up to ``timeout`` seconds for the threads; one that does not end
        (lesson code stuck outside any socket call) is recorded as an error.
        """
        self._stop_timeout = timeout
        super().stop()

    def _open(self) -> None:
        assert self._opener is not None and self._runner is not None
        sock, self.busy_port = self._opener(self)
        bound = sock.getsockname()
        if isinstance(bound, str):
            self.path = bound
        else:
            self.port = bound[1]
        self._sockets.append(sock)
        self._start_thread(self._runner, sock)

    def _close(self) -> None:
        self._tracker.stopping.set()
        self._wake()
        me = threading.current_thread()
        deadline = time.monotonic() + self._stop_timeout
        for thread in self._all_threads():
            if thread is not me:
                thread.join(max(0.0, deadline - time.monotonic()))
        stuck = [t for t in self._all_threads() if t.is_alive() and t is not me]
        self._release()
        if stuck:
            note = (
                f"{len(stuck)} thread(s) still running {self._stop_timeout} s after stop: lesson "
                "code that catches every exception keeps calling the stopped sockets (each "
                "call now waits up to 1 s); restart the kernel to end it"
            )
            self.events.record("error", note=note)
            self.stuck_note = f"{self.status_line}: {note}"
            # Said in the cell that stopped or replaced the server (its own thread):
            # a background thread's print would land in whichever cell runs later.
            # A check's quiet server keeps it in its events and ``stuck_note``.
            if threading.current_thread() is threading.main_thread() and not self.quiet:
                print(self.stuck_note)

    # -- inside -----------------------------------------------------------

    def _start_thread(self, target: Callable[..., None], *args: Any, suffix: str = "") -> None:
        thread = threading.Thread(
            target=self._quiet,
            args=(target, *args),
            name=f"helpers-server-{self.name}{suffix}",
            daemon=True,
        )
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive() or t.ident is None]
            self._threads.append(thread)
        try:
            thread.start()
        except BaseException:
            with self._lock:  # stop() must not join a thread that never started
                self._threads.remove(thread)
            raise

    def _quiet(self, target: Callable[..., None], *args: Any) -> None:
        """Run a helper thread's body; whatever escapes it is recorded, never printed.

        An exception leaving a thread goes to ``threading.excepthook``, which
        prints its traceback into whichever cell runs at that moment.
        """
        try:
            target(*args)
        except ServerStopped:
            pass
        except BaseException as error:
            if not self._stopping():
                self.record_error(error)

    def _all_threads(self) -> list[threading.Thread]:
        with self._lock:
            return list(self._threads)

    def _wake(self) -> None:
        """Make code blocked in its own select() on our sockets return (no close yet)."""
        for conn in self._tracker.open_connections():
            conn.wake()
        for sock in self._sockets:
            if isinstance(sock, TrackedListener):
                _quietly(sock.shutdown, socket.SHUT_RDWR)  # wakes accept() on Linux
                poke(self.address)  # and everywhere else
            elif sock.type == socket.SOCK_DGRAM:
                poke_datagram(self.address)

    def _release(self) -> None:
        for conn in self._tracker.open_connections():
            conn.end("closed on stop", graceful=False)
        for sock in self._sockets:
            sock.close()

    def _end_connections(self, note: str) -> None:
        for conn in self._tracker.open_connections():
            conn.end(note, graceful=True)

    def _stopping(self) -> bool:
        return self._tracker.stopping.is_set()

    # -- runners (each runs in a daemon thread) ----------------------------

    def _run_whole(self, server_function: Callable[[Any], Any], sock: socket.socket) -> None:
        """Run the lesson's whole server on its listener (TCP, AF_UNIX) or bound socket (UDP).

        An exception leaving it is recorded (with the peer it was most likely
        about) and the function is started again on the same socket, unless it
        failed twice in a row without taking a client or a datagram in between.
        """
        datagrams = isinstance(sock, TrackedDatagramSocket)
        failed_before = False
        while True:
            served_before = _served(sock)
            try:
                server_function(sock)
            except ServerStopped:
                return
            except BaseException as error:
                if self._stopping():
                    return
                open_now = self._tracker.open_connections()
                if datagrams:
                    peer = sock.last_peer  # type: ignore[attr-defined]
                else:
                    peer = open_now[0].peer if len(open_now) == 1 else None
                self.record_error(error, peer)
                self._end_connections("closed by the helper after the error")
                if failed_before and _served(sock) == served_before:
                    taken = "receiving a datagram" if datagrams else "accepting a connection"
                    self._end_after_return(
                        f"the server function failed again before {taken}, so it was not restarted"
                    )
                    return
                failed_before = True
                where = "socket" if datagrams else "listener"
                self.events.record("restart", note=f"server function restarted on the {where}")
                continue
            self._end_after_return("the server function returned")
            return

    def _end_after_return(self, note: str) -> None:
        if self._mark_stopped() is None:
            return
        self._release()
        self._finish(note)

    def _run_each(self, handler: Callable[[Any, Any], Any], listener: TrackedListener) -> None:
        while True:
            try:
                conn, address = listener.accept()
            except ServerStopped:
                return
            except OSError as error:
                if self._stopping():
                    return
                self.record_error(error)
                self._tracker.stopping.wait(SLICE)  # e.g. out of file descriptors
                continue
            try:
                self._start_thread(self._run_handler, handler, conn, address, suffix="-connection")
            except RuntimeError as error:  # "can't start new thread": too many at once
                self.record_error(error, conn.peer)
                conn.end("closed by the helper: no thread for it", graceful=False)

    def _run_handler(
        self, handler: Callable[[Any, Any], Any], conn: TrackedConnection, address: Any
    ) -> None:
        note = "closed by the helper when the handler returned"
        try:
            handler(conn, address)
        except ServerStopped:
            return
        except BaseException as error:
            if self._stopping():
                return
            self.record_error(error, conn.peer)
            note = "closed by the helper after the error"
        conn.end(note, graceful=True)

    def _run_datagrams(
        self,
        handler: Callable[[bytes, Any], bytes | None],
        drop: Callable[[bytes, Any], bool] | None,
        sock: socket.socket,
    ) -> None:
        while not self._stopping():
            try:
                data, address = sock.recvfrom(65535)
                if self._stopping():
                    return  # the wake-up datagram of stop(), or one that came too late
            except (TimeoutError, ConnectionResetError):
                continue  # no datagram this slice; Windows reports an earlier ICMP here
            except OSError as error:
                if not self._stopping():
                    self.record_error(error)
                    self._tracker.stopping.wait(SLICE)
                continue
            self.events.record("recv", address, data)
            try:
                if drop is not None and drop(data, address):
                    self.events.record("drop", address, data, "dropped on purpose")
                    continue
                reply = handler(data, address)
                if reply is not None:
                    # Recorded first: a client holding the reply finds it in the log
                    # (a failed sendto follows it as an error).
                    self.events.record("send", address, reply)
                    sock.sendto(reply, address)
            except Exception as error:
                self.record_error(error, format_peer(address))


def _quietly(call: Callable[..., Any], *args: Any) -> None:
    try:
        call(*args)
    except OSError:
        pass


def _check_callable(what: str, function: Any) -> None:
    if not callable(function):
        raise TypeError(
            f"{what} must be a function (pass the function itself, without calling it), "
            f"got {type(function).__name__}"
        )


def _serve_tcp(
    name: str,
    host: str,
    port: int,
    backlog: int,
    quiet: bool,
    runner: Callable[[BackgroundServer, Any, TrackedListener], None],
    function: Callable[..., Any],
) -> BackgroundServer:
    """What serve and serve_each share: a TCP listener (with fallback), its set-up recorded."""

    def opener(server: BackgroundServer) -> tuple[socket.socket, int | None]:
        listener, busy_port = open_listener(host, server.asked_port, backlog, server._tracker)
        address = listener.getsockname()
        # The listener is made before its address is known; record the three steps
        # together, so a sequence diagram can draw socket, bind and listen.
        family = socket.AddressFamily(listener.family).name
        server.events.record("socket", address, note=f"{family}, SOCK_STREAM")
        server.events.record("bind", address)
        server.events.record("listen", address, note=f"backlog {backlog}")
        return listener, busy_port

    server = BackgroundServer(name, host, port)
    return server.launch(opener, partial(runner, server, function), quiet)


def serve(
    name: str,
    server_function: Callable[[socket.socket], Any],
    port: int = 33333,
    host: str = "127.0.0.1",
    backlog: int = BACKLOG,
    quiet: bool = False,
    protocol: str = "tcp",
) -> BackgroundServer:
    """Run ``server_function(listener)`` in a daemon thread on a fresh TCP listener.

    The listener is a real socket whose ``accept()`` returns tracked, recorded
    connections. If the function raises, the error is recorded, its open
    connections are closed cleanly and it is started again on the same
    listener (but not a second time in a row without having accepted anyone).
    ``quiet=True`` leaves out the status line (for the course's own checks).

    ``protocol="udp"`` runs a whole UDP server instead: ``server_function(sock)``
    gets a bound datagram socket and runs its own ``recvfrom``/``sendto`` loop,
    so the lesson writes every socket call and the helper only binds (with the
    same fallback and status line), records, restarts after an error (not twice
    in a row without a datagram in between) and stops. ``backlog`` means nothing
    there: UDP has no queue of connections.
    """
    _check_callable("server_function", server_function)
    if protocol == "udp":
        return _serve_udp(name, host, port, quiet, server_function)
    if protocol != "tcp":
        hint = " (an AF_UNIX server is serve_unix)" if protocol == "unix" else ""
        raise ValueError(
            f"protocol must be one of {', '.join(map(repr, PROTOCOLS))}, not {protocol!r}{hint}"
        )
    return _serve_tcp(
        name, host, port, backlog, quiet, BackgroundServer._run_whole, server_function
    )


def _serve_udp(
    name: str,
    host: str,
    port: int,
    quiet: bool,
    server_function: Callable[[socket.socket], Any],
) -> BackgroundServer:
    """``serve(protocol="udp")``: a bound datagram socket (with fallback), set-up recorded."""

    def opener(server: BackgroundServer) -> tuple[socket.socket, int | None]:
        sock, busy_port = bind_with_fallback(
            lambda p: open_tracked_datagram_socket(host, p, server._tracker), server.asked_port
        )
        address = sock.getsockname()
        family = socket.AddressFamily(sock.family).name
        server.events.record("socket", address, note=f"{family}, SOCK_DGRAM")
        server.events.record("bind", address)
        return sock, busy_port

    server = BackgroundServer(name, host, port, protocol="udp")
    return server.launch(
        opener, partial(BackgroundServer._run_whole, server, server_function), quiet
    )


def serve_each(
    name: str,
    handler: Callable[[socket.socket, Any], Any],
    port: int = 33333,
    host: str = "127.0.0.1",
    backlog: int = BACKLOG,
    quiet: bool = False,
) -> BackgroundServer:
    """Accept connections in a daemon thread; run ``handler(conn, addr)`` in a thread each.

    The helper closes ``conn`` when the handler returns or raises (the error is
    recorded; the client sees a clean close and the server keeps serving).
    """
    _check_callable("handler", handler)
    return _serve_tcp(name, host, port, backlog, quiet, BackgroundServer._run_each, handler)


def serve_unix(
    name: str,
    server_function: Callable[[socket.socket], Any],
    filename: str = "server.sock",
    backlog: int = BACKLOG,
    path: str | None = None,
    quiet: bool = False,
) -> BackgroundServer:
    """Run ``server_function(listener)`` on an AF_UNIX listener, exactly as ``serve`` does.

    A Unix-domain socket never leaves the machine: no port to collide with
    another student's, nothing any network can reach. Without a ``path`` the
    socket is ``filename`` in a fresh folder only this user can open (kept short
    enough for macOS's 104-byte limit); the socket file, and that folder, go on
    stop. The status line names only the file, never the folder, so outputs do
    not depend on the machine. Raises ``OSError`` with a plain explanation where
    the platform has no AF_UNIX (Windows).
    """
    _check_callable("server_function", server_function)

    def opener(server: BackgroundServer) -> tuple[socket.socket, int | None]:
        listener = open_unix_listener(server._tracker, path, filename, backlog)
        server.events.record(
            "listen", os.path.basename(listener.getsockname()), note=f"backlog {backlog}"
        )
        return listener, None

    server = BackgroundServer(name, "unix", 0, protocol="unix")
    return server.launch(
        opener, partial(BackgroundServer._run_whole, server, server_function), quiet
    )


def serve_datagrams(
    name: str,
    handler: Callable[[bytes, Any], bytes | None],
    port: int = 33333,
    host: str = "127.0.0.1",
    drop: Callable[[bytes, Any], bool] | None = None,
    quiet: bool = False,
) -> BackgroundServer:
    """Answer UDP datagrams: ``handler(data, addr)`` returns the reply bytes or None.

    ``drop(data, addr)``, if given, is asked first about every datagram; when it
    returns True the datagram is recorded as dropped and not answered, which is
    how a lesson simulates loss (seed its random generator to make it repeatable).
    """
    _check_callable("handler", handler)

    def opener(server: BackgroundServer) -> tuple[socket.socket, int | None]:
        sock, busy_port = bind_with_fallback(
            lambda p: open_datagram_socket(host, p), server.asked_port
        )
        server.events.record("bind", sock.getsockname(), note="udp")
        return sock, busy_port

    server = BackgroundServer(name, host, port, protocol="udp")
    return server.launch(opener, partial(server._run_datagrams, handler, drop), quiet)


def _ignore_server_stopped(args: threading.ExceptHookArgs) -> None:
    """Threads the lesson starts itself may meet ServerStopped on stop: not an error."""
    if isinstance(args.exc_value, ServerStopped):
        return
    _ignore_server_stopped.previous(args)  # type: ignore[attr-defined]


if not getattr(threading.excepthook, "_helpers_hook", False):
    _ignore_server_stopped.previous = threading.excepthook  # type: ignore[attr-defined]
    _ignore_server_stopped._helpers_hook = True  # type: ignore[attr-defined]
    threading.excepthook = _ignore_server_stopped
