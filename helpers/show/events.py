"""The event log: what servers (and clients) did, recorded instead of printed.

A thread must never print into a cell (the text lands in whichever cell runs
at that moment), so background code records events here and a cell shows the
log when the student asks::

    log = EventLog("demo")
    log.record("accept", ("127.0.0.1", 54321))
    log.record("recv", ("127.0.0.1", 54321), b"hello")
    log.wait_for("recv")        # waits (with a timeout) instead of sleeping
    log                         # a table in JupyterLab, text in str()

Bounded, because a server's log lives as long as the kernel and a client may
send without end (on a shared hub, any local user can reach a kernel's ports):

* ``EVENTS_KEPT`` (10,000): the newest events are kept, older ones are dropped
  and counted (``dropped``); the table's caption then says
  "… N earlier events not kept";
* ``EVENT_DATA_KEPT`` (256 bytes): an event keeps the first bytes of what was
  sent or received, cut between UTF-8 characters, and ``nbytes`` keeps the
  exact size. That is more than the table's ``data`` column (``PREVIEW_BYTES``)
  and a sequence diagram's label (22 characters) show, so a log of ordinary
  lessons reads exactly as if everything were kept (a label is made from the
  first bytes only: text that stops being printable or UTF-8 after them is
  labelled as text), and 5 x 10 MB through a server leaves a few MB of
  events behind, not 100 MB;
* ``EVENTS_SHOWN`` (1,000): what a cell displays, the newest events, so that
  showing a full log stays quick and small; ``table()`` has every kept event.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from helpers.show.tables import Table

__all__ = ["EventLog"]

PREVIEW_BYTES = 40  # of data shown in a table's "data" column
EVENTS_KEPT = 10_000  # per log: the newest; older ones are counted, not kept
EVENT_DATA_KEPT = 256  # bytes of an event's data kept; nbytes stays exact
EVENTS_SHOWN = 1_000  # the newest events a cell displays


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


def preview(data: bytes, limit: int = PREVIEW_BYTES, nbytes: int | None = None) -> str:
    """At most ``limit`` bytes as text when they are UTF-8, else as bytes; ``...`` if more.

    Text is what a student sent ("ПАЛИНДРОМ", not ``b'\\xd0\\x9f...'``), shown
    as a ``str`` repr so that line ends and spaces stay visible; the table's
    byte count beside it keeps the encoding lesson. A cut in the middle of a
    UTF-8 character is moved back to the character's start. ``nbytes`` is
    the size of the whole, when ``data`` is only its beginning.
    """
    if not data:
        return ""
    head = bytes(data[:limit])
    more = max(len(data), nbytes or 0) > len(head)
    text = _as_text(head, cut=more)
    shown = repr(text) if text is not None else repr(head)
    return shown + "..." if more else shown


def _as_text(head: bytes, cut: bool) -> str | None:
    """``head`` decoded as UTF-8, or None; when ``cut``, up to 3 bytes of a split letter go."""
    for trim in range(4 if cut else 1):
        try:
            return head[: len(head) - trim].decode("utf-8")
        except UnicodeDecodeError:
            continue
    return None


def kept_data(data: bytes, limit: int = EVENT_DATA_KEPT) -> bytes:
    """The first ``limit`` bytes or a little fewer: never the first part of a UTF-8 character.

    A text cut inside a character would no longer decode, and a sequence
    diagram would label it as bytes instead of text.
    """
    if len(data) <= limit:
        return data
    cut = limit
    while cut > limit - 3 and data[cut] & 0xC0 == 0x80:  # a continuation byte
        cut -= 1
    return data[:cut]


@dataclass(frozen=True, slots=True)
class Event:
    """One recorded happening. ``t`` is seconds since the log started.

    ``data`` is what was sent or received, or its first ``EVENT_DATA_KEPT``
    bytes when it was longer; ``nbytes`` is always the whole size (given as -1,
    it is ``len(data)``).
    """

    t: float
    kind: str
    peer: str | None = None
    data: bytes = b""
    note: str = ""
    actor: str = "server"
    nbytes: int = -1

    def __post_init__(self) -> None:
        if self.nbytes < 0:
            object.__setattr__(self, "nbytes", len(self.data))


class EventLog:
    """A thread-safe, append-only list of the newest events, with a start time.

    Servers record from their threads; cells read ``.events`` (a copy) or show
    the log itself. ``wait_for`` lets a cell wait until something was recorded.
    At most ``EVENTS_KEPT`` events are kept; ``dropped`` counts the older ones.
    """

    def __init__(self, name: str = ""):
        self.name = name
        self._start = time.monotonic()
        self._events: deque[Event] = deque(maxlen=EVENTS_KEPT)
        self.dropped = 0  # events recorded and no longer kept (the oldest first)
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
        if not isinstance(data, bytes | bytearray | memoryview):
            data = bytes(data)
        if isinstance(data, bytes) and len(data) <= EVENT_DATA_KEPT:
            kept, nbytes = data, len(data)  # the common case: nothing to cut or copy
        else:
            view = memoryview(data).cast("B")
            kept, nbytes = bytes(kept_data(view)), view.nbytes
        with self._changed:
            # Timed under the lock, so the log reads in time order even when
            # several threads record at once (the sequence diagram relies on it).
            event = Event(time.monotonic() - self._start, kind, peer, kept, note, actor, nbytes)
            if len(self._events) == EVENTS_KEPT:
                self.dropped += 1
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
            self.dropped = 0

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

    def table(self, last: int | None = None) -> Table:
        """The kept events (or the newest ``last`` of them) as a Table.

        The caption says how many earlier events are left out: dropped from the
        log ("not kept") or only from this table ("not shown").
        """
        with self._changed:
            events = list(self._events)
            dropped = self.dropped
        hidden = 0
        if last is not None and len(events) > last:
            hidden = len(events) - last
            events = events[hidden:]
        rows = [
            (
                f"+{e.t:.3f} s",
                e.actor,
                e.kind,
                e.peer or "",
                e.nbytes if e.data else "",
                preview(e.data, nbytes=e.nbytes),
                e.note,
            )
            for e in events
        ]
        caption = f"{self.name} events" if self.name else ""
        left_out = []
        if dropped:
            left_out.append(f"{dropped:,} earlier events not kept")
        if hidden:
            left_out.append(f"{hidden:,} {'more ' if dropped else 'earlier events '}not shown")
        if left_out:
            said = "… " + ", ".join(left_out)
            caption = f"{caption} ({said})" if caption else said
        # Byte previews of Cyrillic text and long notes fold, so the table fits the page.
        return Table(
            ["time", "actor", "event", "peer", "bytes", "data", "note"],
            rows,
            caption,
            wrap=("data", "note"),
            wrap_width=36,
        )

    def __str__(self) -> str:
        return str(self.table(EVENTS_SHOWN))

    __repr__ = __str__

    def _repr_html_(self) -> str:
        return self.table(EVENTS_SHOWN)._repr_html_()
