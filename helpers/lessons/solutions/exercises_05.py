"""Reference solutions of notebook 05's exercises (``PING_SUMMARY``, ``UDP_REQUEST``)."""

from __future__ import annotations

import socket


def ping_summary(rtts: list[float | None]) -> tuple:
    """(minimum, average, maximum, loss_percent) of round trips in ms; None = lost."""
    answered = [rtt for rtt in rtts if rtt is not None]
    loss_percent = 100 * (len(rtts) - len(answered)) / len(rtts)
    if not answered:
        return (None, None, None, loss_percent)
    return (min(answered), sum(answered) / len(answered), max(answered), loss_percent)


def request(address: tuple[str, int], data: bytes, timeout: float = 0.1, retries: int = 2) -> bytes:
    """Send data to address and return the reply; retry on timeout, then raise TimeoutError."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        for _attempt in range(1 + retries):
            sock.sendto(data, address)
            try:
                reply, _sender = sock.recvfrom(65535)
                return reply
            except TimeoutError:
                continue
    raise TimeoutError(f"no reply from {address} after {1 + retries} attempts")
