"""The concurrency checker: many clients at once against one reverse server.

Every client connects, sends its own numbered message, shuts down its sending
side and reads the reply to the end; a reply counts as served only if it is
exactly the reversed message, so a server that mixes up clients shows up as
"wrong", and one that keeps clients waiting past their timeout as "failed"::

    from helpers.lessons.concurrency import check_concurrency, concurrency_table

    result = check_concurrency(server.address, clients=20)
    concurrency_table([result])

All clients start together (a barrier), so the time measured is how long the
server needs for the whole crowd.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from helpers.run.reverse_client import ask_reverse
from helpers.show.tables import Table
from helpers.wire.text import reverse_text

__all__ = ["ConcurrencyResult", "check_concurrency", "concurrency_table"]


@dataclass(frozen=True)
class ConcurrencyResult:
    """What ``check_concurrency`` saw. ``errors`` counts failures by kind."""

    name: str
    clients: int
    served: int
    wrong: int
    failed: int
    seconds: float
    errors: dict[str, int] = field(default_factory=dict)


def _message(number: int) -> str:
    return f"client {number:02d}: ПАЛИНДРОМ"


def _one_client(
    address: Any, family: int, number: int, timeout: float, start: threading.Barrier
) -> str:
    """Return "served", "wrong" or the error's type name."""
    message = _message(number)
    try:
        start.wait(timeout)
        reply = ask_reverse(address, message, timeout, family)
    except (OSError, threading.BrokenBarrierError) as error:
        return type(error).__name__
    return "served" if reply == reverse_text(message) else "wrong"


def check_concurrency(
    address: Any,
    clients: int = 20,
    timeout: float = 5.0,
    name: str = "",
    family: int = socket.AF_INET,
) -> ConcurrencyResult:
    """Run ``clients`` clients at once against the reverse server at ``address``.

    Blocks until every client has its reply or its error (each has ``timeout``
    seconds per socket call), so it never hangs.
    """
    outcomes: list[str] = ["unfinished"] * clients
    start = threading.Barrier(clients + 1)

    def run(number: int) -> None:
        outcomes[number] = _one_client(address, family, number, timeout, start)

    threads = [threading.Thread(target=run, args=(n,), daemon=True) for n in range(clients)]
    for thread in threads:
        thread.start()
    try:
        start.wait(timeout)
    except threading.BrokenBarrierError:
        pass
    began = time.perf_counter()
    for thread in threads:
        thread.join(3 * timeout)
    seconds = time.perf_counter() - began
    counts = Counter(outcomes)
    errors = {kind: n for kind, n in counts.items() if kind not in ("served", "wrong")}
    return ConcurrencyResult(
        name=name or str(address),
        clients=clients,
        served=counts["served"],
        wrong=counts["wrong"],
        failed=sum(errors.values()),
        seconds=seconds,
        errors=errors,
    )


def concurrency_table(results: list[ConcurrencyResult], caption: str = "") -> Table:
    """The results as a Table: served, wrong replies, failed clients, time."""
    rows = [
        (
            r.name,
            f"{r.served}/{r.clients}",
            r.wrong,
            r.failed,
            f"{r.seconds:.2f} s",
            ", ".join(f"{kind} x{n}" for kind, n in sorted(r.errors.items())),
        )
        for r in results
    ]
    return Table(["server", "served", "wrong", "failed", "time", "errors"], rows, caption)
