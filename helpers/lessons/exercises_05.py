"""Notebook 05's exercises: ping statistics, and a UDP request with a timeout and retries.

    def ping_summary(rtts):
        raise NotImplementedError
    helpers.check(PING_SUMMARY, ping_summary)
    # -> not solved yet: Ping statistics
    # -> Hint: ...

The request exercise runs the student's client against a lossy reverse server
of its own, started on a free port the first time the check runs. That server
drops the first copies of some requests (how many is fixed per request, so the
check is the same on every run) and answers every dropped copy LATE_REPLY
seconds later all the same: a client that never set a timeout then comes back
late instead of hanging, and its hint can say so.
"""

from __future__ import annotations

import math
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from helpers.lessons.checks import Case, Exercise, Mistake
from helpers.lessons.solutions import exercises_05 as reference
from helpers.run.servers import BackgroundServer, serve_datagrams
from helpers.wire.text import reverse_utf8
from helpers.wire.udp import ping_stats

__all__ = ["PING_SUMMARY", "UDP_REQUEST", "RequestOutcome"]

# ---- 1. ping statistics ----

# Round trips in milliseconds that are exact in binary, so any correct way of
# averaging gives exactly the expected value.
_PING_SAMPLES = [
    ("one ping of four lost", [12.0, None, 8.0, 10.0]),
    ("nothing lost", [0.5, 0.25, 0.75]),
    ("a single ping", [3.0]),
    ("the first and the last lost", [None, 2.0, 4.0, None, 6.0]),
    ("every ping lost", [None, None, None, None]),
]


def _summary(rtts: list[float | None]) -> tuple[float | None, float | None, float | None, float]:
    stats = ping_stats(rtts)
    return (stats.min, stats.avg, stats.max, stats.loss_percent)


def _same_summary(got: Any, expected: tuple[Any, ...]) -> bool:
    if not isinstance(got, tuple | list) or len(got) != len(expected):
        return False
    for value, want in zip(got, expected, strict=True):
        if want is None:
            if value is not None:
                return False
        elif isinstance(value, bool) or not isinstance(value, int | float):
            return False
        elif not math.isclose(value, want, rel_tol=1e-9, abs_tol=1e-12):
            return False
    return True


def _received(case: Case) -> list[float]:
    return [rtt for rtt in case.args[0] if rtt is not None]


def _loss_is(case: Case, got: Any, wrong: float) -> bool:
    right = case.expected[3]
    return not math.isclose(wrong, right) and math.isclose(got[3], wrong)


def _loss_over_received(case: Case, got: Any) -> bool:
    received = len(_received(case))
    lost = len(case.args[0]) - received
    return received > 0 and _loss_is(case, got, 100 * lost / received)


def _loss_as_fraction(case: Case, got: Any) -> bool:
    return _loss_is(case, got, case.expected[3] / 100)


def _received_share(case: Case, got: Any) -> bool:
    return _loss_is(case, got, 100 - case.expected[3])


def _lost_counted_as_zero(case: Case, got: Any) -> bool:
    rtts = case.args[0]
    received = _received(case)
    if len(received) in (0, len(rtts)):
        return False
    return math.isclose(got[0], 0.0) or math.isclose(got[1], sum(received) / len(rtts))


def _nothing_received_crash(case: Case, got: Any) -> bool:
    return isinstance(got, ValueError | ZeroDivisionError) and not _received(case)


def _times_for_nothing(case: Case, got: Any) -> bool:
    return not _received(case) and any(value is not None for value in got[:3])


PING_SUMMARY = Exercise(
    key="05.ping_summary",
    title="Ping statistics",
    cases=[Case((rtts,), _summary(rtts), label) for label, rtts in _PING_SAMPLES],
    compare=_same_summary,
    first_hint=(
        "Separate first: the pings that came back (numbers) and the lost ones (None). "
        "The three times are over the pings that came back; the loss is over every "
        "ping sent."
    ),
    hints=(
        (
            "answered = [t for t in rtts if t is not None] holds the pings that came back; the "
            "loss is 100 * (len(rtts) - len(answered)) / len(rtts)."
        ),
        (
            "If answered is empty, return (None, None, None, loss). Otherwise return "
            "(min(answered), sum(answered) / len(answered), max(answered), loss)."
        ),
    ),
    reference=reference.ping_summary,
    mistakes=[
        Mistake(
            "A lost ping is None, and None cannot be compared or added: take min, sum "
            "and max over the answered pings only, [t for t in rtts if t is not None].",
            lambda case, got: isinstance(got, TypeError),
        ),
        Mistake(
            "When no ping came back there is no round trip to take the min, average or "
            "max of: return (None, None, None, 100.0) instead of calling min() on an "
            "empty list or dividing by zero.",
            _nothing_received_crash,
        ),
        Mistake(
            "Return a tuple of four values: (minimum, average, maximum, loss_percent).",
            lambda case, got: not isinstance(got, tuple | list) or len(got) != 4,
        ),
        Mistake(
            "When no ping came back, the three times are None: there is no round trip.",
            _times_for_nothing,
        ),
        Mistake(
            "A lost ping has no round-trip time; it is not 0 ms. Leave it out of the "
            "minimum and divide the sum by the number of pings that came back.",
            _lost_counted_as_zero,
        ),
        Mistake(
            "Loss is a share of the pings SENT (len(rtts), None entries included), not "
            "of the pings received.",
            _loss_over_received,
        ),
        Mistake(
            "The loss is in percent: multiply the share by 100 (one of four lost is "
            "25.0, not 0.25).",
            _loss_as_fraction,
        ),
        Mistake(
            "That is the share of pings that came back; the loss is the share that did not.",
            _received_share,
        ),
    ],
)


# ---- 2. a UDP request with a timeout and retries ----

# The check judges what the client does (what it returns, how many copies it sends),
# never how fast: a correct client on a busy hub passes. So each attempt's timeout
# is far above any scheduling delay of a loaded machine, and a dropped copy's late
# reply comes well after the longest case's budget (4 attempts of TIMEOUT).
TIMEOUT = 0.4  # seconds per attempt, given to the student's function
LATE_REPLY = 2.5  # a dropped copy is answered this late, so a client without a timeout
REQUEST_TIME_LIMIT = 5.0  # per case: the longest case, 4 x TIMEOUT, or one LATE_REPLY


@dataclass(frozen=True)
class RequestOutcome:
    """What the check saw: what the client returned (or raised), how many copies it sent.

    ``in_time`` is False when the client waited for a late reply instead of giving
    up on the attempt (it set no timeout). It picks the hint; it is not compared,
    so no answer is judged by the clock.
    """

    result: Any
    datagrams: int
    in_time: bool = field(default=True, compare=False)


class _DroppingReverse:
    """The check's lossy reverse server: drops the first `drops` copies of each request."""

    name = "exercise-05-request"

    def __init__(self) -> None:
        self._drops: dict[bytes, int] = {}
        self._copies: Counter[bytes] = Counter()
        self._late: list[threading.Timer] = []
        self._late_sent: Counter[bytes] = Counter()
        self._lock = threading.Lock()
        self._server: BackgroundServer | None = None

    def ready(self, drops: dict[bytes, int]) -> tuple[str, int]:
        """Start (or reuse) the server and forget earlier runs; its address."""
        with self._lock:
            self._drops = dict(drops)
            self._copies.clear()
            self._late_sent.clear()
        if self._server is None or not self._server.running:
            # The status line is the helper's business here, not the student's.
            self._server = serve_datagrams(self.name, self._answer, port=0, quiet=True)
        return self._server.address

    def copies(self, data: bytes) -> int:
        """How many copies of `data` arrived, once every datagram sent so far is handled."""
        assert self._server is not None
        probe = b"\x00probe %d" % time.monotonic_ns()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(1.0)
            # The server handles datagrams in arrival order: once the probe is
            # answered, every copy the client sent before it has been counted.
            sock.sendto(probe, self._server.address)
            sock.recvfrom(65535)
        with self._lock:
            return self._copies[data]

    def late_replies(self, data: bytes) -> int:
        """How many late replies to ``data`` have been sent so far."""
        with self._lock:
            return self._late_sent[data]

    def _send_late(self, data: bytes, reply: bytes, address: tuple[str, int]) -> None:
        with self._lock:
            self._late_sent[data] += 1
        _send_quietly(reply, address)

    def cancel_late_replies(self) -> None:
        """A late reply must not reach the next case's client on a reused port."""
        with self._lock:
            late, self._late = self._late, []
        for timer in late:
            timer.cancel()

    def _answer(self, data: bytes, addr: tuple[str, int]) -> bytes | None:
        reply = reverse_utf8(data)
        with self._lock:
            copy = self._copies[data]
            self._copies[data] += 1
            if copy >= self._drops.get(data, 0):
                return reply
            timer = threading.Timer(LATE_REPLY, self._send_late, (data, reply, addr))
            timer.daemon = True
            self._late.append(timer)
        timer.start()
        return None


def _send_quietly(data: bytes, address: tuple[str, int]) -> None:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(data, address)
    except OSError:
        pass  # nobody to tell: the client is gone


_server = _DroppingReverse()

# (label, data, copies dropped, retries); TIMEOUT per attempt in every case
_REQUESTS = [
    ("nothing lost", b"hello", 0, 2),
    ("the first copy lost", b"ping 1", 1, 2),
    ("two copies lost, two retries", "ПАЛИНДРОМ".encode(), 2, 2),
    ("every copy lost", b"anyone there?", 99, 2),
    ("three copies lost, three retries", b"stubborn", 3, 3),
    ("every copy lost, no retries", b"once", 99, 0),
]


def _request_cases() -> list[Case]:
    address = _server.ready({data: drops for _, data, drops, _ in _REQUESTS})
    cases = []
    for label, data, drops, retries in _REQUESTS:
        attempts = 1 + retries
        result: Any = reverse_utf8(data) if drops < attempts else "raised TimeoutError"
        expected = RequestOutcome(result, min(drops + 1, attempts))
        cases.append(Case((address, data, TIMEOUT, retries), expected, label))
    return cases


def _run_request(solution: Any, case: Case) -> RequestOutcome:
    address, data, timeout, retries = case.args
    try:
        result: Any = solution(address, data, timeout, retries)
    except TimeoutError:
        result = "raised TimeoutError"
    finally:
        # Only a client that waited past its timeouts can have met a late reply.
        in_time = _server.late_replies(data) == 0
        _server.cancel_late_replies()
    return RequestOutcome(result, _server.copies(data), in_time)


def _gave_up_early(case: Case, got: Any) -> bool:
    return got.result == "raised TimeoutError" and got.datagrams < case.expected.datagrams


UDP_REQUEST = Exercise(
    key="05.udp_request",
    title="A UDP request with a timeout and retries",
    cases=_request_cases,
    first_hint=(
        "Set a timeout on the socket, then try up to 1 + retries times: send, wait for "
        "the reply, and when the wait ends in TimeoutError, try again. If every attempt "
        "times out, raise TimeoutError."
    ),
    hints=(
        (
            "One socket for every attempt: `with socket.socket(socket.AF_INET, "
            "socket.SOCK_DGRAM) as sock:`, sock.settimeout(timeout) once, then `for attempt in "
            "range(1 + retries):`."
        ),
        (
            "In the loop: sock.sendto(data, address), then `try:` reply, sender = "
            "sock.recvfrom(65535) and return reply; `except TimeoutError:` continue. After the "
            "loop, every attempt has timed out: raise TimeoutError(...)."
        ),
    ),
    reference=reference.request,
    mistakes=[
        Mistake(
            "Set a timeout: sock.settimeout(timeout) before recvfrom. Without it, "
            "recvfrom waits as long as it takes; here the reply came a whole second "
            "late, on a real network it may never come.",
            lambda case, got: not got.in_time and got.datagrams == 1,
        ),
        Mistake(
            "Return only the data: recvfrom gives (data, address).",
            lambda case, got: isinstance(got.result, tuple),
        ),
        Mistake(
            "Return the reply as bytes, as it came; do not decode it.",
            lambda case, got: isinstance(got.result, str) and got.result != "raised TimeoutError",
        ),
        Mistake(
            "Send again when an attempt times out: catch TimeoutError around recvfrom "
            "inside the loop, instead of letting the first timeout end the function.",
            lambda case, got: _gave_up_early(case, got) and got.datagrams == 1,
        ),
        Mistake(
            "Count the attempts: the first send plus `retries` more, so "
            "range(1 + retries), not range(retries).",
            _gave_up_early,
        ),
        Mistake(
            "Give up after 1 + retries attempts: a client that sends more loads a "
            "server that may be struggling already.",
            lambda case, got: got.datagrams > 1 + case.args[3],
        ),
        Mistake(
            "When the last attempt times out too, raise TimeoutError: returning None "
            "(or anything else) hides the failure from the caller.",
            lambda case, got: (
                isinstance(got, RequestOutcome) and case.expected.result == "raised TimeoutError"
            ),
        ),
        Mistake(
            "When every attempt times out, raise TimeoutError (socket.timeout is the "
            "same class), not another exception.",
            lambda case, got: isinstance(got, Exception),
        ),
    ],
    call=_run_request,
    time_limit=REQUEST_TIME_LIMIT,
)
