"""A raw-socket SMTP client for the mail tests: what smtplib will not send, byte for byte."""

from __future__ import annotations

import socket
from typing import Any


class RawSMTP:
    """Sends exactly the bytes given and reads whole (multi-line) replies.

    ``received`` keeps every reply line in order, so a test can compare what the
    client got with what the server meant to send.
    """

    def __init__(self, address: Any, timeout: float = 2.0):
        self.sock = socket.create_connection(tuple(address), timeout=timeout)
        self.file = self.sock.makefile("rb")
        self.received: list[bytes] = []
        self.greeting = self.reply()

    def reply(self) -> list[bytes]:
        lines = []
        while True:
            line = self.file.readline()
            if not line:
                raise ConnectionError("closed")
            lines.append(line.rstrip(b"\r\n"))
            if line[3:4] != b"-":
                self.received += lines
                return lines

    def send(self, data: bytes) -> list[bytes]:
        self.sock.sendall(data)
        return self.reply()

    def code(self, data: bytes) -> int:
        return int(self.send(data)[-1][:3])

    def close(self) -> None:
        self.file.close()
        self.sock.close()
