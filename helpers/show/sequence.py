"""A sequence diagram of a real exchange, drawn from recorded events.

The server side is recorded by ``helpers.serve`` (its ``events``); the client
side by ``helpers.RecordedSocket`` (``helpers.run.recording``), a real socket
that records what it does::

    log = helpers.EventLog("client")
    with helpers.RecordedSocket(log) as sock:
        sock.connect(server.address)
        sock.sendall("ПАЛИНДРОМ".encode())
        sock.shutdown(socket.SHUT_WR)
        reply = sock.recv(1024)
    helpers.sequence_diagram(log, server.events)    # SVG in JupyterLab, text in str()

Rows are not the recorded times: two threads record in an order that varies
from run to run. Each lifeline keeps its own order, and an event that depends
on the other side comes after what it depends on (accept after connect, a
recv after the send that delivered its last byte, an empty recv after the
peer's shutdown or close). The picture is therefore the same on every run that
did the same thing, and it is still made only of what was recorded.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass

from helpers.show.events import Event, EventLog

__all__ = ["sequence_diagram"]

LOCAL_NOTE = "local "  # prefix of the note on a "connect" event: the client's own address


# -- layout ------------------------------------------------------------------


@dataclass(frozen=True)
class _Arrow:
    start: int  # index of the sending event
    end: int  # index of the receiving event
    label: str
    dashed: bool


def _text_of(data: bytes, limit: int = 22) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        shown = repr(data[:limit])
        return shown + ("..." if len(data) > limit else "")
    if not text.isprintable():
        return repr(text[:limit]) + ("..." if len(text) > limit else "")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _label(event: Event) -> str:
    if event.kind == "socket":
        return f"socket({event.note})" if event.note else "socket()"
    if event.kind in ("bind", "listen"):
        where = event.peer or event.note
        extra = f", {event.note}" if event.kind == "listen" and event.note else ""
        return f"{event.kind} {where}{extra}"
    if event.kind == "accept":
        return f"accept() -> {event.peer}"
    if event.kind == "connect":
        return f"connect({event.peer})"
    if event.kind in ("send", "recv"):
        if event.kind == "recv" and not event.data:
            return "recv() -> b'' (end of stream)"
        return f"{event.kind} {event.nbytes} byte{'' if event.nbytes == 1 else 's'}"
    if event.kind == "shutdown":
        return f"shutdown({event.note})"
    if event.kind == "close":
        return "close()"
    return f"{event.kind} {event.note}".strip()


def _select(client: list[Event], server: list[Event]) -> list[Event]:
    """The server's events that belong to the client's connections (and its listener's set-up)."""
    locals_ = {
        e.note[len(LOCAL_NOTE) :]
        for e in client
        if e.kind == "connect" and e.note.startswith(LOCAL_NOTE)
    }
    targets = {e.peer for e in client if e.kind == "connect"}
    setup = ("socket", "bind", "listen")
    return [e for e in server if e.peer in locals_ or (e.kind in setup and e.peer in targets)]


def _layout(events: list[Event]) -> tuple[dict[int, int], list[_Arrow]]:
    """Rows for events (per-lifeline order + causality) and the arrows between them."""
    lanes: dict[str, list[int]] = {}
    for index, event in enumerate(events):
        lanes.setdefault(event.actor, []).append(index)
    depends: dict[int, int] = {}
    arrows: list[_Arrow] = []
    actors = list(lanes)
    for sender in actors:
        for receiver in actors:
            if sender == receiver:
                continue
            sent = [
                i
                for i in lanes[sender]
                if events[i].kind in ("connect", "send", "shutdown", "close")
            ]
            got = [i for i in lanes[receiver] if events[i].kind in ("listen", "accept", "recv")]
            _match(events, sent, got, depends, arrows)
    rows: dict[int, int] = {}

    def row(index: int, seen: frozenset[int] = frozenset()) -> int:
        if index in rows:
            return rows[index]
        lane = lanes[events[index].actor]
        position = lane.index(index)
        value = row(lane[position - 1], seen | {index}) + 1 if position else 0
        if index in depends and depends[index] not in seen:
            value = max(value, row(depends[index], seen | {index}) + 1)
        rows[index] = value
        return value

    for index in range(len(events)):
        row(index)
    return rows, arrows


def _match(
    events: list[Event],
    sent: list[int],
    got: list[int],
    depends: dict[int, int],
    arrows: list[_Arrow],
) -> None:
    """Pair one side's connect/send/end with the other side's accept/recv."""
    connects = [i for i in sent if events[i].kind == "connect"]
    accepts = [i for i in got if events[i].kind == "accept"]
    listens = {events[i].peer: i for i in got if events[i].kind == "listen"}
    for c in connects:
        if events[c].peer in listens:
            depends[c] = listens[events[c].peer]
    for c, a in zip(connects, accepts, strict=False):
        depends[a] = c
        arrows.append(_Arrow(c, a, "connection (TCP handshake)", dashed=False))
    # Byte offsets: each send covers [start, end) of the stream; a recv returning
    # bytes up to offset n depends on the send that held byte n - 1.
    sends: list[tuple[int, int]] = []  # (end offset, event index)
    offset = 0
    ended: int | None = None
    for i in sent:
        event = events[i]
        if event.kind == "send" and event.data:
            offset += event.nbytes
            sends.append((offset, i))
        elif event.kind in ("shutdown", "close") and ended is None:
            if event.kind == "close" or event.note in ("SHUT_WR", "SHUT_RDWR"):
                ended = i
    received = 0
    pending = 0  # index into sends of the first send not yet fully received
    for i in got:
        event = events[i]
        if event.kind != "recv":
            continue
        if event.data:
            received += event.nbytes
            holder = next((s for end, s in sends if end >= received), None)
            if holder is not None:
                depends[i] = holder
            # one arrow per send, drawn to the recv that completes it
            while pending < len(sends) and sends[pending][0] <= received:
                source = sends[pending][1]
                label = f"{_text_of(events[source].data)} ({events[source].nbytes} bytes)"
                arrows.append(_Arrow(source, i, label, dashed=False))
                pending += 1
        elif ended is not None:
            depends[i] = ended
            arrows.append(_Arrow(ended, i, "FIN: end of stream", dashed=True))


class SequenceDiagram:
    """Lifelines side by side, events top to bottom, arrows for what crossed.

    Renders as SVG in JupyterLab (``_repr_svg_``) and as text in ``str()``.
    """

    ROW = 30
    TOP = 56
    LANE_WIDTH = 300
    CHAR = 7.3  # width of a 12 px monospace character, for margins

    def __init__(self, events: list[Event], title: str = ""):
        order = {"client": 0, "server": 1}
        actors = sorted({e.actor for e in events}, key=lambda a: (order.get(a, 2), a))
        self.title = title
        self.actors = actors
        self.events = events
        self.rows, self.arrows = _layout(events)

    @property
    def height(self) -> int:
        last = max(self.rows.values(), default=0)
        return self.TOP + (last + 1) * self.ROW + 20

    def _label_width(self, actor: str) -> int:
        longest = max((len(_label(e)) for e in self.events if e.actor == actor), default=0)
        return int(longest * self.CHAR) + 16

    def _x(self, actor: str) -> int:
        first = max(60, self._label_width(self.actors[0])) if len(self.actors) > 1 else 60
        return first + self.actors.index(actor) * self.LANE_WIDTH

    def _y(self, index: int) -> int:
        return self.TOP + self.rows[index] * self.ROW + self.ROW // 2

    def _repr_svg_(self) -> str:
        width = (
            self._x(self.actors[-1]) + max(60, self._label_width(self.actors[-1]))
            if self.actors
            else 200
        )
        out = [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{self.height}" '
            f'viewBox="0 0 {width} {self.height}" font-family="monospace" font-size="12">',
            '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" '
            'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
            '<path d="M 0 0 L 10 5 L 0 10 z" fill="#333"/></marker></defs>',
            f'<rect width="{width}" height="{self.height}" fill="white"/>',
        ]
        if self.title:
            out.append(f'<text x="10" y="16" font-weight="bold">{html.escape(self.title)}</text>')
        for actor in self.actors:
            x = self._x(actor)
            out.append(
                f'<rect x="{x - 50}" y="24" width="100" height="22" rx="4" '
                'fill="#eef3fb" stroke="#345"/>'
            )
            out.append(f'<text x="{x}" y="39" text-anchor="middle">{html.escape(actor)}</text>')
            out.append(
                f'<line x1="{x}" y1="46" x2="{x}" y2="{self.height - 8}" '
                'stroke="#789" stroke-dasharray="4 3"/>'
            )
        for arrow in self.arrows:
            x1, y1 = self._x(self.events[arrow.start].actor), self._y(arrow.start)
            x2, y2 = self._x(self.events[arrow.end].actor), self._y(arrow.end)
            dash = ' stroke-dasharray="6 4"' if arrow.dashed else ""
            colour = "#777" if arrow.dashed else "#1f5fa8"
            out.append(
                f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="{colour}" '
                f'stroke-width="1.5" marker-end="url(#arrow)"{dash}/>'
            )
            out.append(
                f'<text x="{(x1 + x2) // 2}" y="{(y1 + y2) // 2 - 5}" '
                f'text-anchor="middle" fill="{colour}" stroke="white" stroke-width="4" '
                f'paint-order="stroke">{html.escape(arrow.label)}</text>'
            )
        for index, event in enumerate(self.events):
            x, y = self._x(event.actor), self._y(index)
            left = self.actors.index(event.actor) == 0 and len(self.actors) > 1
            anchor, dx = ("end", -8) if left else ("start", 8)
            out.append(f'<circle cx="{x}" cy="{y}" r="3" fill="#345"/>')
            out.append(
                f'<text x="{x + dx}" y="{y + 4}" text-anchor="{anchor}">'
                f"{html.escape(_label(event))}</text>"
            )
        out.append("</svg>")
        return "".join(out)

    def __str__(self) -> str:
        width = 40
        lines = [self.title] if self.title else []
        lines.append("".join(a.ljust(width) for a in self.actors).rstrip())
        arrows_to: dict[int, list[_Arrow]] = {}
        for arrow in self.arrows:
            arrows_to.setdefault(arrow.end, []).append(arrow)
        by_row = sorted(range(len(self.events)), key=lambda i: (self.rows[i], i))
        for index in by_row:
            event = self.events[index]
            column = self.actors.index(event.actor)
            text = _label(event)
            for arrow in arrows_to.get(index, []):
                came_from = self.actors.index(self.events[arrow.start].actor)
                text += f"   {'->' if came_from < column else '<-'} {arrow.label}"
            lines.append((" " * (width * column) + text).rstrip())
        return "\n".join(lines)

    __repr__ = __str__


def sequence_diagram(*logs: EventLog | Iterable[Event], title: str = "") -> SequenceDiagram:
    """Draw the exchange recorded in ``logs``: a client log first, then server logs.

    With a client's log and a server's log, only the server events of the
    client's own connections (and the server's listen) are drawn, so a busy
    server log does not clutter the picture.
    """
    lists = [log.events if isinstance(log, EventLog) else list(log) for log in logs]
    if len(lists) == 1:
        return SequenceDiagram(lists[0], title)
    client = lists[0]
    server = [e for rest in lists[1:] for e in rest]
    return SequenceDiagram(client + _select(client, server), title)
