"""Notebook 03's lab: a request client that frames its messages with a length prefix.

The student saves ``lab_client.py``, run as ``lab_client.py PORT WORD...``:
over ONE connection, each word goes as a frame (its length in 4 bytes, network
byte order, then its UTF-8 bytes) and the program prints each framed reply on
a line of its own. ``check_lab(LAB)`` runs it against a framed reverse server
of its own that sends every reply in small pieces with pauses between them, as
a slow network would: a client that trusts one ``recv`` to bring a whole
prefix or a whole message fails here, not later, in front of a real network.
"""

from __future__ import annotations

import contextlib
import io
import socket
import struct
import threading
import time
from typing import Any

from helpers.lessons.labs import Failure, Lab, last_lines
from helpers.run.programs import run_program
from helpers.run.servers import serve_each

__all__ = ["LAB"]

PREFIX = struct.Struct("!I")
MAX_FRAME = 1 << 20  # a longer claimed length is a client's mistake (byte order, text length)
PIECE, PAUSE = 3, 0.02  # the server's replies go out 3 bytes at a time, 20 ms apart
WORDS = ("ПАЛИНДРОМ", "кот", "TCP", "a" * 600, "шалаш")

STUB = """\
# lab_client.py PORT WORD...: framed requests over one connection
import socket
import struct
import sys

PORT, WORDS = int(sys.argv[1]), sys.argv[2:]

# For each word, over one connection to ("127.0.0.1", PORT): send a frame, that is
# struct.pack("!I", length of the UTF-8 bytes) followed by those bytes; then read the
# server's framed reply (4 bytes of length, then exactly that many bytes) and print it.
"""


class FramedReverse:
    """A framed reverse server that replies in small, slow pieces, and notes what it saw."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.problems: list[str] = []
        self._lock = threading.Lock()

    def _note(self, problem: str) -> None:
        with self._lock:
            self.problems.append(problem)

    def serve(self, conn: socket.socket, addr: Any) -> None:
        conn.settimeout(10)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while True:
            head = _recv_exactly(conn, PREFIX.size)
            if head is None:
                return
            (size,) = PREFIX.unpack(head)
            if size > MAX_FRAME:
                self._note(f"a frame claimed {size} bytes (its prefix was {head.hex(' ')})")
                return
            body = _recv_exactly(conn, size)
            if body is None:
                self._note(f"the connection ended inside a frame of {size} bytes")
                return
            with self._lock:
                self.frames.append(body)
            text = body.decode("utf-8", errors="replace")
            reply = text[::-1].encode("utf-8")
            data = PREFIX.pack(len(reply)) + reply
            for start in range(0, len(data), PIECE):
                conn.sendall(data[start : start + PIECE])
                time.sleep(PAUSE)


def _recv_exactly(conn: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def examine(lab: Lab) -> list[str]:
    server_side = FramedReverse()
    with contextlib.redirect_stdout(io.StringIO()):
        server = serve_each("lab 03 framed", server_side.serve, port=0, quiet=True)
    try:
        result = run_program(lab.program, server.port, *WORDS, timeout=60)
    finally:
        server.stop()
    printed = result.text.splitlines()
    expected = [word[::-1] for word in WORDS]
    if server_side.problems:
        hint = "The prefix is the length of the UTF-8 bytes, packed with struct.pack('!I', n)."
        if any("claimed" in p for p in server_side.problems):
            hint = "Pack the length in network byte order, struct.pack('!I', n): '!' is big-endian."
        raise Failure(f"the server saw: {server_side.problems[0]}", hint)
    sent = [frame.decode("utf-8", errors="replace") for frame in server_side.frames]
    if sent and sent != list(WORDS[: len(sent)]):
        raise Failure(
            f"the server received the frames {[s[:20] for s in sent]}",
            "The prefix counts the bytes of word.encode('utf-8'), not the letters of the word.",
        )
    if result.returncode != 0:
        ending = last_lines(result.text, 5)
        hint = ""
        if "struct.error" in result.text or "unpack requires" in result.text:
            hint = (
                "recv(4) may return fewer than 4 bytes: call recv until you have all 4, "
                "then until you have the whole message (notebook 03, exercise 1)."
            )
        raise Failure(f"your program did not finish normally ({result.note}):\n{ending}", hint)
    if len(server_side.frames) != len(WORDS):
        raise Failure(
            f"the server got {len(server_side.frames)} frames for {len(WORDS)} words.",
            "Send every word given after the port, one frame each, over the same connection.",
        )
    if printed != expected:
        wrong = next(
            (
                i
                for i, (got, want) in enumerate(zip(printed, expected, strict=False))
                if got != want
            ),
            min(len(printed), len(expected)),
        )
        got = printed[wrong] if wrong < len(printed) else "(nothing)"
        raise Failure(
            f"reply {wrong + 1}: expected {expected[wrong][:30]!r}, your program printed "
            f"{got[:30]!r}",
            "Read exactly as many bytes as the prefix says: one recv() may bring only part "
            "of a reply (this server sends 3 bytes at a time).",
        )
    return [
        f"{len(WORDS)} words framed with a 4-byte big-endian prefix of their UTF-8 length",
        "one connection for all of them",
        "each reply read whole, however it was cut on the way",
    ]


LAB = Lab(
    key="03.lab",
    title="A client that frames its requests",
    program="lab_client.py",
    stub=STUB,
    first_hint=(
        "Frame each word as struct.pack('!I', len(data)) + data, where data is the word's "
        "UTF-8 bytes, and read each reply with a function that loops until it has n bytes."
    ),
    hints=(
        'Open the connection once (socket.create_connection(("127.0.0.1", PORT), timeout=5)) '
        "and send/receive every word inside the same with block.",
        "Reading a reply: size, = struct.unpack('!I', recv_exactly(sock, 4)); then "
        "print(recv_exactly(sock, size).decode('utf-8')).",
    ),
    reference="lab_03_client.py",
    examine=examine,
)
