"""Reference solution of notebook 02's exercise (``exercises_02.ASK``)."""

from __future__ import annotations

import socket


def ask(port: int, text: str) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=2.0) as sock:
        sock.sendall(text.encode("utf-8"))
        sock.shutdown(socket.SHUT_WR)  # "that is all": the server's recv() returns b""
        portions = []
        while portion := sock.recv(1024):  # until the server closes the connection
            portions.append(portion)
    return b"".join(portions).decode("utf-8")
