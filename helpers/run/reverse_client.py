"""The reverse protocol's client, for helpers that need to ask a reverse server.

The protocol (notebook 02): the client sends UTF-8 text, shuts down its sending
side to say "that is all", and reads the reply until the server closes. The
notebook writes this client out in its own cells; widgets, checkers and tests
use this one so that they all speak exactly the same protocol::

    helpers.ask_reverse(server.address, "ПАЛИНДРОМ")    # -> "МОРДНИЛАП"
"""

from __future__ import annotations

import socket
import time
from typing import Any

__all__ = ["ask_reverse"]


def ask_reverse(address: Any, text: str, timeout: float = 2.0, family: int = socket.AF_INET) -> str:
    """Send ``text`` to the reverse server at ``address``; return its reply.

    ``timeout`` bounds the whole exchange, not each call: a server that trickles
    its reply a byte at a time cannot keep the caller waiting longer than that.
    A silent or missing server raises ``TimeoutError`` or ``ConnectionRefusedError``
    instead of hanging. Invalid UTF-8 in the reply shows as U+FFFD rather than raising.
    """
    deadline = time.monotonic() + timeout

    def remaining() -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no whole reply from {address!r} within {timeout} s")
        return left

    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(remaining())
            sock.connect(address)
            sock.settimeout(remaining())
            sock.sendall(text.encode("utf-8"))
            sock.shutdown(socket.SHUT_WR)
            chunks = []
            while True:
                sock.settimeout(remaining())
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
    except TimeoutError:
        raise TimeoutError(f"no whole reply from {address!r} within {timeout} s") from None
    return b"".join(chunks).decode("utf-8", errors="replace")
