"""Reference solutions of notebook 03's exercises (``exercises_03.EXERCISES``)."""

from __future__ import annotations

import socket
import struct

from helpers.wire.text import reverse_utf8


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError(f"the peer closed after {len(data)} of {n} bytes")
        data += chunk
    return data


def reverse_prefixed(address: tuple[str, int], text: str) -> str:
    data = text.encode("utf-8")
    with socket.create_connection(address, timeout=2.0) as sock:
        sock.sendall(struct.pack("!I", len(data)) + data)
        (length,) = struct.unpack("!I", recv_exactly(sock, 4))
        return recv_exactly(sock, length).decode("utf-8")


def fixed_reverse_server(listener: socket.socket) -> None:
    while True:
        conn, addr = listener.accept()
        with conn:
            conn.settimeout(2.0)
            chunks = []
            while chunk := conn.recv(65536):
                chunks.append(chunk)
            conn.sendall(reverse_utf8(b"".join(chunks)))
