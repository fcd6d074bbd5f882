"""UDP lesson helpers without I/O: which datagrams a lossy server drops, and ping statistics.

Both are pure so that a notebook's output is the same on every run::

    >>> loss = LossPattern(seed=7, rate=0.3)
    >>> loss.drops(3)                      # the same answer on every machine and run
    False
    >>> print(ping_stats([0.0004, None, 0.0002]))
    3 sent, 2 received, 33% loss; round trip min 0.200 ms, avg 0.300 ms, max 0.400 ms
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["LossPattern", "PingStats", "ping_stats"]


@dataclass(frozen=True)
class LossPattern:
    """A seeded, reproducible decision per datagram number: drop it or deliver it.

    The decision depends only on (seed, number), never on arrival order or on a
    shared random generator, so ping 3 is lost on every run, after a re-run in the
    same kernel, and in four kernels at once. A hash is used instead of
    ``random.Random`` so that the pattern cannot change with a Python version.
    """

    seed: int
    rate: float

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"rate must be between 0 and 1, not {self.rate!r}")

    def drops(self, number: int) -> bool:
        """True when datagram `number` is to be dropped."""
        digest = hashlib.blake2b(f"{self.seed}:{number}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2**64 < self.rate

    def lost(self, numbers: Iterable[int]) -> list[int]:
        """The numbers among `numbers` that will be dropped: a prediction to compare with."""
        return [number for number in numbers if self.drops(number)]


@dataclass(frozen=True)
class PingStats:
    """What a ping run reports. Times are in seconds (None when nothing came back)."""

    sent: int
    received: int
    min: float | None
    avg: float | None
    max: float | None

    @property
    def lost(self) -> int:
        return self.sent - self.received

    @property
    def loss_percent(self) -> float:
        """Lost as a share of SENT: a ping that never came back still counts as sent."""
        return 100.0 * self.lost / self.sent if self.sent else 0.0

    def __str__(self) -> str:
        head = f"{self.sent} sent, {self.received} received, {self.loss_percent:.0f}% loss"
        if self.min is None or self.avg is None or self.max is None:
            return f"{head}; no round trips"
        times = ", ".join(
            f"{label} {seconds * 1000:.3f} ms"
            for label, seconds in (("min", self.min), ("avg", self.avg), ("max", self.max))
        )
        return f"{head}; round trip {times}"


def ping_stats(rtts: Sequence[float | None]) -> PingStats:
    """Summarise round-trip times in seconds, one per ping sent; None marks a lost ping.

    The lost pings stay in the input because loss is measured against what was
    sent; they are left out of min/avg/max because they have no round trip.
    """
    answered = [rtt for rtt in rtts if rtt is not None]
    if not answered:
        return PingStats(sent=len(rtts), received=0, min=None, avg=None, max=None)
    return PingStats(
        sent=len(rtts),
        received=len(answered),
        min=min(answered),
        avg=sum(answered) / len(answered),
        max=max(answered),
    )
