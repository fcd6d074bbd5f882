"""Notebook 05's lab: a UDP pinger with a timeout, retries and loss statistics.

The student saves ``lab_ping.py``, run as ``lab_ping.py PORT COUNT TIMEOUT
TRIES``. ``check_lab(LAB)`` runs it against a lossy UDP echo server of its
own whose losses are fixed in advance: it drops the first copy of some pings
and every copy of one. The verdict compares what the program printed with
what the server really did (its log of copies received and answered), not
with a clock: a late reply on a busy machine does not fail a right program.
"""

from __future__ import annotations

import contextlib
import io
import re
import threading
from collections import Counter
from typing import Any

from helpers.lessons.labs import Failure, Lab, last_lines
from helpers.run.programs import run_program
from helpers.run.servers import serve_datagrams

__all__ = ["LAB"]

COUNT, TRIES, TIMEOUT = 10, 3, 0.5  # one lost reply costs TIMEOUT: about 2.5 s in all
DROP_FIRST_COPY = {3, 6}  # answered on the second try
DROP_EVERY_COPY = {8}  # lost, however often it is sent
SUMMARY = re.compile(r"(\d+) sent, (\d+) received, (\d+(?:\.\d+)?)% loss")

STUB = """\
# lab_ping.py PORT COUNT TIMEOUT TRIES: ping a UDP echo server COUNT times
import socket
import sys

PORT, COUNT = int(sys.argv[1]), int(sys.argv[2])
TIMEOUT, TRIES = float(sys.argv[3]), int(sys.argv[4])

# For N = 1 .. COUNT: send b"ping N" to ("127.0.0.1", PORT); wait at most TIMEOUT seconds
# for the echo; on a timeout send again, at most TRIES times in all. Print one line each:
#   ping N: reply in 0.3 ms      or      ping N: lost
# and at the end:
#   10 sent, 9 received, 10% loss
"""


class LossyEcho:
    """An echo server that drops the copies the lab decided, and counts every copy."""

    def __init__(self) -> None:
        self.copies: Counter[int] = Counter()
        self.answered: set[int] = set()
        self.garbage = 0
        self._lock = threading.Lock()

    def drop(self, data: bytes, addr: Any) -> bool:
        number = self._number(data)
        if number is None:
            return False
        with self._lock:
            self.copies[number] += 1
            copy = self.copies[number]
        return number in DROP_EVERY_COPY or (number in DROP_FIRST_COPY and copy == 1)

    def answer(self, data: bytes, addr: Any) -> bytes:
        number = self._number(data)
        with self._lock:
            if number is None:
                self.garbage += 1
            else:
                self.answered.add(number)
        return data

    @staticmethod
    def _number(data: bytes) -> int | None:
        words = data.split()
        if len(words) >= 2 and words[0] == b"ping" and words[1].isdigit():
            return int(words[1])
        return None


def examine(lab: Lab) -> list[str]:
    echo = LossyEcho()
    with contextlib.redirect_stdout(io.StringIO()):
        server = serve_datagrams("lab 05 echo", echo.answer, port=0, drop=echo.drop, quiet=True)
    try:
        limit = 15.0  # a right program needs about 2.5 s, a busy machine a few more
        result = run_program(lab.program, server.port, COUNT, TIMEOUT, TRIES, timeout=limit)
    finally:
        server.stop()
    lines = result.text.strip().splitlines()
    if result.returncode != 0:
        ending = last_lines(result.text, 5)
        hint = ""
        if "interrupted" in result.note:
            hint = (
                "Set a timeout on the socket (settimeout) so a lost reply cannot hold the program."
            )
        elif "TimeoutError" in result.text:
            hint = "Catch TimeoutError: a lost ping is counted, not a reason to stop."
        raise Failure(f"your program did not finish normally ({result.note}):\n{ending}", hint)
    if echo.garbage:
        raise Failure(
            f"the server got {echo.garbage} datagram(s) that are not 'ping N'.",
            "Send exactly b'ping N' with N counting from 1.",
        )
    sent = sorted(echo.copies)
    if sent != list(range(1, COUNT + 1)):
        raise Failure(
            f"the server was pinged with numbers {sent}, not 1 to {COUNT}.",
            "Number the pings from 1 to COUNT.",
        )
    lost = set(range(1, COUNT + 1)) - echo.answered  # what the server never answered
    for number in DROP_FIRST_COPY:
        if echo.copies[number] < 2:
            raise Failure(
                f"ping {number} was sent once; its first copy was lost, and nothing followed.",
                "When the wait ends in TimeoutError, send the same ping again (TRIES in all).",
            )
    for number in DROP_EVERY_COPY:
        if echo.copies[number] < TRIES:
            raise Failure(
                f"ping {number} was sent {echo.copies[number]} time(s) and never answered; "
                f"TRIES is {TRIES}.",
                "Try TRIES times before you count a ping as lost.",
            )
    too_many = [n for n, copies in echo.copies.items() if copies > TRIES]
    if too_many:
        raise Failure(
            f"ping {too_many[0]} was sent {echo.copies[too_many[0]]} times; TRIES is {TRIES}.",
            "Stop after TRIES sends of one ping: then it is lost.",
        )
    reported_lost = {int(m) for m in re.findall(r"^ping (\d+): lost", result.text, re.M)}
    if reported_lost != lost:
        raise Failure(
            f"your program reported lost {sorted(reported_lost)}; the server never answered "
            f"{sorted(lost)}.",
            "A ping is lost only when none of its TRIES copies got a reply; a reply must "
            "carry the same number as the ping you are waiting for.",
        )
    summary = SUMMARY.search(lines[-1]) if lines else None
    received = COUNT - len(lost)
    percent = len(lost) / COUNT * 100
    if summary is None:
        raise Failure(
            f"the last line is {lines[-1] if lines else ''!r}",
            f"End with one line such as: {COUNT} sent, {received} received, {percent:g}% loss",
        )
    numbers = (int(summary[1]), int(summary[2]), float(summary[3]))
    if numbers != (COUNT, received, percent):
        raise Failure(
            f"your summary says {summary[0]!r}; the server saw {COUNT} pings and answered "
            f"{received}.",
            "Loss is the lost pings over the pings sent (not over copies, not over replies), "
            "in percent.",
        )
    return [
        f"{COUNT} pings, numbered, with a timeout",
        "lost first copies sent again, at most TRIES times",
        "lost and received pings reported as the server saw them",
        "the summary line",
    ]


LAB = Lab(
    key="05.lab",
    title="A UDP pinger with timeouts and retries",
    program="lab_ping.py",
    stub=STUB,
    first_hint=(
        "One SOCK_DGRAM socket with settimeout(TIMEOUT); for each number, a loop of at most "
        "TRIES attempts: sendto, then recvfrom inside try/except TimeoutError."
    ),
    hints=(
        "A late reply to an earlier ping may arrive while you wait for the next: compare the "
        "number in the reply with the one you sent, and keep waiting if it differs.",
        "Count the pings that got a reply; loss = (COUNT - received) / COUNT * 100, printed "
        "as f'{COUNT} sent, {received} received, {loss:g}% loss'.",
    ),
    reference="lab_05_ping.py",
    examine=examine,
)
