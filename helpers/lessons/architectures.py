"""One server, many clients: the reverse protocol served five ways.

Every variant is a whole-server function ``variant(listener)`` for
``helpers.serve``, speaking the same protocol as the notebook's reverse server:
the client sends UTF-8 text and shuts down its sending side; the server answers
with the text reversed (``reverse_utf8``) and closes. Each request also takes
``DELAY`` seconds of "work" (a database, a disk, a computation), so that the
figures show how each design spends waiting time::

    server = helpers.serve("threads", thread_per_client, port=0)
    check_concurrency(server.address, clients=20)     # helpers.lessons.concurrency

(a) ``one_at_a_time``: the chapter's loop; the next client waits for the whole
    previous exchange, delay included.
(b) ``thread_per_client``: a thread per connection; the delays overlap.
(c) ``selectors_server``: one thread, non-blocking sockets and a readiness
    loop; the delay is a timer, not a sleep, so nothing blocks.
(d) ``socketserver_server``: the standard library's ThreadingTCPServer, (b)
    packaged.
(e) ``asyncio_server``: coroutines on an event loop of its own, in the
    server's own thread (never the kernel's loop).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import selectors
import socket
import socketserver
import threading
import time
from collections.abc import Callable
from typing import Any

from helpers.run.stoppable import ServerStopped
from helpers.wire.text import reverse_utf8

__all__ = [
    "ARCHITECTURES",
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
    """Serve one connection of the reverse protocol with blocking calls, then return.

    Errors of this one client (a timeout, a reset) end only this exchange: the
    caller's loop goes on to the next client.
    """
    conn.settimeout(CLIENT_TIMEOUT)
    try:
        chunks = []
        while chunk := conn.recv(65536):  # b"" = the client shut down its side
            chunks.append(chunk)
        time.sleep(DELAY)
        conn.sendall(reverse_utf8(b"".join(chunks)))
    except OSError:
        pass  # the server's event log shows what happened to this client


def one_at_a_time(listener: socket.socket) -> None:
    """(a) The chapter's design: accept, serve to the end, close, accept the next."""
    while True:
        conn, _addr = listener.accept()
        with conn:
            serve_client(conn)


def thread_per_client(listener: socket.socket) -> None:
    """(b) A thread for every connection; the accept loop only hands them out."""

    def serve_and_close(conn: socket.socket) -> None:
        with conn:
            serve_client(conn)

    while True:
        conn, _addr = listener.accept()
        threading.Thread(target=serve_and_close, args=(conn,), daemon=True).start()


class _Exchange:
    """What a selectors server keeps per connection between readiness events."""

    def __init__(self) -> None:
        self.received = bytearray()
        self.reply = memoryview(b"")


def selectors_server(listener: socket.socket) -> None:
    """(c) One thread: a readiness loop over non-blocking sockets.

    The per-request delay becomes a timer (a heap of due times): sleeping here
    would stall every client at once.
    """
    listener.setblocking(False)
    due: list[tuple[float, int, socket.socket, _Exchange]] = []  # replies waiting for DELAY
    order = itertools.count()  # tie-breaker: sockets themselves do not compare
    with selectors.DefaultSelector() as selector:
        selector.register(listener, selectors.EVENT_READ)
        while True:
            wait = max(0.0, due[0][0] - time.monotonic()) if due else 0.5
            for key, _events in selector.select(wait):
                if key.fileobj is listener:
                    conn, _addr = listener.accept()
                    conn.setblocking(False)
                    selector.register(conn, selectors.EVENT_READ, _Exchange())
                    continue
                conn, exchange = key.fileobj, key.data
                try:
                    if exchange.reply:  # writable: send what fits now, the rest later
                        exchange.reply = exchange.reply[conn.send(exchange.reply) :]
                        if not exchange.reply:
                            selector.unregister(conn)
                            conn.close()
                    elif chunk := conn.recv(65536):
                        exchange.received += chunk
                    else:  # end of stream: the reply is due after the delay
                        selector.unregister(conn)
                        heapq.heappush(due, (time.monotonic() + DELAY, next(order), conn, exchange))
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    selector.unregister(conn)
                    conn.close()
            while due and due[0][0] <= time.monotonic():
                _, _, conn, exchange = heapq.heappop(due)
                exchange.reply = memoryview(reverse_utf8(bytes(exchange.received)))
                selector.register(conn, selectors.EVENT_WRITE, exchange)


def socketserver_server(listener: socket.socket) -> None:
    """(d) socketserver.ThreadingTCPServer on the helper's listener.

    socketserver normally binds its own socket; here it takes over the one the
    helper bound (so the port fallback and the stop still work).
    """

    class ReverseHandler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            serve_client(self.request)

    class QuietServer(socketserver.ThreadingTCPServer):
        daemon_threads = True

        def handle_error(self, request: Any, client_address: Any) -> None:
            """The default prints a traceback from a server thread into a cell."""

    server = QuietServer(listener.getsockname(), ReverseHandler, bind_and_activate=False)
    server.socket.close()
    server.socket = listener
    server.serve_forever(poll_interval=0.1)


def asyncio_server(listener: socket.socket) -> None:
    """(e) asyncio streams on a new event loop in this (the server's) thread.

    The kernel runs its own loop in the main thread; a loop of our own in our
    own thread never touches it. The loop's exception handler ends the loop
    when the helper stops the server (and keeps asyncio from logging to stderr).
    A selector loop on every platform: Windows' default (Proactor) loop accepts
    connections without calling the listener's ``accept()``, so the helper could
    neither record them nor stop the server.
    """

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            message = await asyncio.wait_for(reader.read(), CLIENT_TIMEOUT)  # to EOF
            await asyncio.sleep(DELAY)
            writer.write(reverse_utf8(message))
            await writer.drain()
        except OSError:  # TimeoutError included
            pass
        finally:
            writer.close()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stopping = asyncio.Event()
        failures: list[BaseException] = []

        def on_error(_loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
            error = context.get("exception")
            if isinstance(error, OSError):
                return  # one client's trouble; its connection is already gone
            if not isinstance(error, ServerStopped):
                failures.append(error or RuntimeError(context.get("message", "")))
            stopping.set()

        loop.set_exception_handler(on_error)
        async with await asyncio.start_server(handle, sock=listener):
            await stopping.wait()
        if failures:
            raise failures[0]  # the helper records it and restarts the server

    with asyncio.Runner(loop_factory=asyncio.SelectorEventLoop) as runner:
        runner.run(main())


ARCHITECTURES: dict[str, Callable[[socket.socket], None]] = {
    "(a) one at a time": one_at_a_time,
    "(b) thread per client": thread_per_client,
    "(c) selectors": selectors_server,
    "(d) socketserver": socketserver_server,
    "(e) asyncio": asyncio_server,
}
