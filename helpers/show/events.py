"""The event log: what servers (and clients) did, recorded instead of printed.

A thread must never print into a cell (the text lands in whichever cell runs
at that moment), so background code records events here and a cell shows the
log when the student asks::

    log = EventLog("demo")
    log.record("accept", ("127.0.0.1", 54321))
    log.record("recv", ("127.0.0.1", 54321), b"hello")
    log.wait_for("recv")        # waits (with a timeout) instead of sleeping
    log                         # a table in JupyterLab, text in str()
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from helpers.show.tables import Table

__all__ = ["EventLog"]

PREVIEW_BYTES = 40


def format_peer(address: Any) -> str | None:
    """``("127.0.0.1", 54321)`` -> ``"127.0.0.1:54321"``; IPv6 gets brackets.

    AF_UNIX addresses are paths (an unnamed client socket has ``""``).
    """
    if address is None:
        return None
    if isinstance(address, bytes):
        address = address.decode("utf-8", "backslashreplace")
    if isinstance(address, str):
        return address or "unnamed unix socket"
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return str(address)


def preview(data: bytes, limit: int = PREVIEW_BYTES) -> str:
    """The repr of at most ``limit`` bytes, with ``...`` when there was more."""
    if not data:
        return ""
    shown = repr(bytes(data[:limit]))
    return shown + "..." if len(data) > limit else shown


@dataclass(frozen=True)
class Event:
    """One recorded happening. ``t`` is seconds since the log started."""

    t: float
    kind: str
    peer: str | None = None
    data: bytes = b""
    note: str = ""
    actor: str = "server"

    @property
    def nbytes(self) -> int:
        return len(self.data)


class EventLog:
    """A thread-safe, append-only list of events with a start time.

    Servers record from their threads; cells read ``.events`` (a copy) or show
    the log itself. ``wait_for`` lets a cell wait until something was recorded.
    """

    def __init__(self, name: str = ""):
        self.name = name
        self._start = time.monotonic()
        self._events: list[Event] = []
        self._changed = threading.Condition()

    def record(
        self,
        kind: str,
        peer: Any = None,
        data: bytes = b"",
        note: str = "",
        actor: str = "server",
    ) -> Event:
        """Append an event; ``peer`` may be an address tuple or already a string."""
        peer = peer if peer is None or isinstance(peer, str) else format_peer(peer)
        data = bytes(data)
        with self._changed:
            # Timed under the lock, so the log reads in time order even when
            # several threads record at once (the sequence diagram relies on it).
            event = Event(time.monotonic() - self._start, kind, peer, data, note, actor)
            self._events.append(event)
            self._changed.notify_all()
        return event

    @property
    def events(self) -> list[Event]:
        with self._changed:
            return list(self._events)

    def clear(self) -> None:
        """Forget the events so far (times keep counting from the log's start)."""
        with self._changed:
            self._events.clear()

    def __len__(self) -> int:
        with self._changed:
            return len(self._events)

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events)

    def wait_for(
        self,
        predicate_or_kind: str | Callable[[Event], bool],
        count: int = 1,
        timeout: float = 2.0,
    ) -> list[Event]:
        """Wait until ``count`` matching events are in the log; return the matches.

        ``predicate_or_kind`` is an event kind such as ``"close"`` or a function
        of an Event. Raises ``TimeoutError`` after ``timeout`` seconds, so a cell
        never hangs and never relies on sleeping long enough.
        """
        if isinstance(predicate_or_kind, str):
            kind = predicate_or_kind

            def matches(event: Event) -> bool:
                return event.kind == kind

            what = repr(kind)
        else:
            matches = predicate_or_kind
            what = "matching"
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [e for e in self._events if matches(e)]
                remaining = deadline - time.monotonic()
                if len(found) >= count or remaining <= 0:
                    break
                self._changed.wait(remaining)
        if len(found) < count:
            raise TimeoutError(
                f"waited {timeout} s for {count} {what} event(s) in the "
                f"{self.name or 'event'} log, found {len(found)}"
            )
        return found

    def table(self) -> Table:
        rows = [
            (
                f"+{e.t:.3f} s",
                e.actor,
                e.kind,
                e.peer or "",
                e.nbytes if e.data else "",
                preview(e.data),
                e.note,
            )
            for e in self.events
        ]
        caption = f"{self.name} events" if self.name else ""
        # Byte previews of Cyrillic text and long notes fold, so the table fits the page.
        return Table(
            ["time", "actor", "event", "peer", "bytes", "data", "note"],
            rows,
            caption,
            wrap=("data", "note"),
            wrap_width=36,
        )

    def __str__(self) -> str:
        return str(self.table())

    __repr__ = __str__

    def _repr_html_(self) -> str:
        return self.table()._repr_html_()
