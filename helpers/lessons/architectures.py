"""Reference versions of notebook 04's five server designs, for the tests only.

The notebook's students write these designs in their own cells; nothing in the
notebooks imports them from here. They stay in the package so that every test
that needs "a real server of each design" (the concurrency checker's, the
AF_UNIX servers', the platform tests) runs the same code the notebook teaches,
line for line apart from type hints.

Every design is a whole-server function ``design(listener)`` for
``helpers.serve``, speaking the reverse protocol of notebook 02: the client
sends UTF-8 text and shuts down its sending side; the server answers with the
text reversed (``reverse_utf8``) and closes. Each request also takes ``DELAY``
seconds of "work" (a database, a disk), so that a design that waits for one
client at a time shows it::

    server = helpers.serve("threads", thread_per_client, port=0)
    check_concurrency(server.address)     # helpers.lessons.concurrency

(a) ``one_at_a_time``: the chapter's loop; the next client waits for the whole
    previous exchange. The concurrency checker fails it: it is stuck on the
    client held mid-message.
(b) ``thread_per_client``: a thread per connection.
(c) ``selectors_server``: one thread, non-blocking sockets and a readiness
    loop; the work is a timer, not a sleep, so nothing blocks.
(d) ``socketserver_server``: the standard library's ThreadingTCPServer, (b)
    packaged.
(e) ``asyncio_server``: a coroutine per client on an event loop of its own,
    in the server's own thread (never the kernel's loop).
"""

from __future__ import annotations

import asyncio
import selectors
import socket
import socketserver
import threading
import time
from collections.abc import Callable
from typing import Any

from helpers.wire.text import reverse_utf8

__all__ = [
    "ARCHITECTURES",
    "CLIENT_TIMEOUT",
    "DELAY",
    "asyncio_server",
    "one_at_a_time",
    "selectors_server",
    "serve_client",
    "socketserver_server",
    "thread_per_client",
]

DELAY = 0.02  # seconds of simulated work per request
CLIENT_TIMEOUT = 2.0  # a client silent this long is dropped, so it cannot block the rest


def serve_client(conn: socket.socket) -> None:
    """Serve one connection of the reverse protocol with blocking calls, then return."""
    conn.settimeout(CLIENT_TIMEOUT)  # a silent client cannot hold this exchange forever
    try:
        chunks = []
        while chunk := conn.recv(1024):  # b"" = the client has finished sending
            chunks.append(chunk)
        time.sleep(DELAY)  # the work
        conn.sendall(reverse_utf8(b"".join(chunks)))
    except OSError:
        pass  # this client timed out or vanished: only its exchange ends


def one_at_a_time(listener: socket.socket) -> None:
    """(a) The chapter's design: accept, serve to the end, close, accept the next."""
    while True:
        conn, addr = listener.accept()
        with conn:
            serve_client(conn)


def thread_per_client(listener: socket.socket) -> None:
    """(b) A thread for every connection; the accept loop only hands them out."""

    def serve_and_close(conn: socket.socket) -> None:
        with conn:
            serve_client(conn)

    while True:
        conn, addr = listener.accept()
        threading.Thread(target=serve_and_close, args=(conn,), daemon=True).start()


def selectors_server(listener: socket.socket) -> None:
    """(c) One thread, one loop: act only on the sockets that are ready, never wait on one."""
    listener.setblocking(False)
    data: dict[Any, bytes] = {}  # connection -> bytes received so far, then the reply left
    due: dict[Any, float] = {}  # connection -> when its work is done (a timer, not a sleep)
    with selectors.DefaultSelector() as selector:
        selector.register(listener, selectors.EVENT_READ)
        while True:
            wait = min(due.values(), default=time.monotonic() + 0.5) - time.monotonic()
            for key, _events in selector.select(max(wait, 0)):
                conn = key.fileobj
                if conn is listener:
                    conn, addr = listener.accept()
                    conn.setblocking(False)
                    selector.register(conn, selectors.EVENT_READ)
                    data[conn] = b""
                    continue
                try:
                    if key.events == selectors.EVENT_WRITE:  # send what fits now
                        data[conn] = data[conn][conn.send(data[conn]) :]
                        if data[conn]:
                            continue  # the rest when the socket is writable again
                    elif chunk := conn.recv(1024):
                        data[conn] += chunk
                        continue
                    else:  # b"": the whole message is in; reply once the work is done
                        selector.unregister(conn)
                        due[conn] = time.monotonic() + DELAY
                        continue
                except BlockingIOError:
                    continue  # not ready after all: wait for the next event
                except OSError:
                    pass  # this client vanished
                selector.unregister(conn)
                conn.close()
                del data[conn]
            for conn in [c for c, when in due.items() if when <= time.monotonic()]:
                del due[conn]
                data[conn] = reverse_utf8(data[conn])
                selector.register(conn, selectors.EVENT_WRITE)


def socketserver_server(listener: socket.socket) -> None:
    """(d) socketserver.ThreadingTCPServer, serving on the listener it is handed."""

    class ReverseHandler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            serve_client(self.request)  # socketserver closes the connection afterwards

    class ReverseServer(socketserver.ThreadingTCPServer):
        daemon_threads = True  # a handler thread never keeps the kernel from exiting

        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # the default prints a traceback from a server thread into a cell

    server = ReverseServer(listener.getsockname(), ReverseHandler, bind_and_activate=False)
    server.socket.close()  # it made a socket of its own: serve on the ready one instead
    server.socket = listener
    server.serve_forever(poll_interval=0.1)


def asyncio_server(listener: socket.socket) -> None:
    """(e) One thread, one event loop: a coroutine per client, awaiting instead of blocking.

    The loop is a new one in the server's own thread: the kernel runs its own loop
    in the main thread. A selector loop on every platform, because Windows'
    default (Proactor) loop accepts without calling the listener's ``accept()``.
    """

    async def serve_client_async(conn: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        with conn:
            try:
                chunks = []
                while chunk := await asyncio.wait_for(loop.sock_recv(conn, 1024), CLIENT_TIMEOUT):
                    chunks.append(chunk)
                await asyncio.sleep(DELAY)  # the work: meanwhile the loop runs the others
                await loop.sock_sendall(conn, reverse_utf8(b"".join(chunks)))
            except OSError:  # TimeoutError included
                pass

    async def accept_loop() -> None:
        loop = asyncio.get_running_loop()
        async with asyncio.TaskGroup() as clients:
            while True:
                conn, addr = await loop.sock_accept(listener)
                clients.create_task(serve_client_async(conn))

    listener.setblocking(False)
    with asyncio.Runner(loop_factory=asyncio.SelectorEventLoop) as runner:
        runner.run(accept_loop())


ARCHITECTURES: dict[str, Callable[[socket.socket], None]] = {
    "(a) one at a time": one_at_a_time,
    "(b) thread per client": thread_per_client,
    "(c) selectors": selectors_server,
    "(d) socketserver": socketserver_server,
    "(e) asyncio": asyncio_server,
}
