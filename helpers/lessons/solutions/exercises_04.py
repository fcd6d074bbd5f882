"""Reference solution of notebook 04's exercise (``exercises_04.THREAD_POOL``).

``thread_pool`` serves each connection with ``serve_client``, the function of the
notebook's section 1: in a notebook, a revealed cell uses the student's own. The
copy below, for checks run outside a notebook, is bound to that name by an
assignment rather than defined under it, so that ``reveal`` does not present it
as the solution of an earlier exercise.
"""

from __future__ import annotations

import socket
import time
from concurrent.futures import ThreadPoolExecutor

from helpers.wire.text import reverse_utf8

DELAY = 0.02  # seconds of "work" per request, as in the notebook
CLIENT_TIMEOUT = 2.0  # seconds a client may stay silent before it is dropped


def _section_1_serve_client(conn: socket.socket) -> None:
    """Section 1's serve_client: read the whole message, do the work, reply reversed."""
    conn.settimeout(CLIENT_TIMEOUT)
    try:
        chunks = []
        while chunk := conn.recv(1024):
            chunks.append(chunk)
        time.sleep(DELAY)
        conn.sendall(reverse_utf8(b"".join(chunks)))
    except OSError:
        pass


serve_client = _section_1_serve_client


def thread_pool(listener: socket.socket) -> None:
    def serve_and_close(conn: socket.socket) -> None:
        with conn:
            serve_client(conn)

    with ThreadPoolExecutor(max_workers=4) as pool:
        while True:
            conn, addr = listener.accept()
            pool.submit(serve_and_close, conn)
