"""The concurrency checker: does a reverse server serve clients at the same time?

Speed proves nothing on a shared machine, so the checker proves overlap by the
order of events instead. Client 00 connects first, sends the start of its message
and then the rest slowly, a character every half second, keeping the last one
back: it is *held* mid-message, slow but never silent, so that a server's
silence timeout does not end its exchange early. While it is held, the other
clients connect together, each sends its own numbered message and shuts down its
sending side, and each must get its reply, exactly its message reversed, while
client 00's connection is still open. A server that answers them then is serving
client 00 and the others at once; a server that serves one client at a time
cannot, however long the checker waits. Finally client 00 sends the rest of its
message and must get its reply too::

    from helpers.lessons.concurrency import check_concurrency, concurrency_table

    result = check_concurrency(server.address, clients=20)
    result.passed, result.hint       # True, "" -- or False and what to change
    concurrency_table([result])

The checker needs only an address (and a family for AF_UNIX): the server may be
a background function, a notebook's server or a program of its own. It never
hangs: every socket has a timeout and every wait is bounded, about
``5 * timeout`` at most. Times are measured and shown as figures, never judged.
"""

from __future__ import annotations

import re
import select
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from helpers.show.tables import Table
from helpers.wire.text import reverse_text

__all__ = ["ConcurrencyResult", "check_concurrency", "concurrency_table", "message"]

SERVED, WRONG, NO_REPLY = "served", "wrong", "closed without a reply"
HELD = 0  # the number of the client held mid-message
HOLD_AT = len("client 00: ")  # the held client sends this many characters at once
TRICKLE = 0.5  # then one more character every TRICKLE seconds, the last one only at the end
DESIGNS_THAT_OVERLAP = (
    "a thread per connection (designs b, d) or one loop over every socket that is ready (c, e)"
)


@dataclass(frozen=True)
class ConcurrencyResult:
    """What ``check_concurrency`` saw.

    ``served`` counts the replies that were exactly right (the held client's
    included); ``overlapped`` counts the other clients answered while the held
    client was still open mid-message, which is what proves that the server
    serves clients at the same time. ``errors`` counts failures by kind;
    ``held`` says what became of client 00. ``hint`` is empty when the check
    passed, otherwise what went wrong and what to change. ``seconds`` is a figure
    to look at, not a verdict.
    """

    name: str
    clients: int
    served: int
    overlapped: int
    wrong: int
    failed: int
    seconds: float
    held: str
    hint: str
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """True when every client, the held one too, got its reply while the held one waited."""
        return not self.hint


@dataclass
class _Outcome:
    """One client's fate: its kind ("served", "wrong", or an error), its reply, the held state."""

    kind: str = "unfinished"
    reply: str = ""
    held_open: bool = False  # was the held client still open when this reply was complete?


def message(number: int) -> str:
    """Client ``number``'s message: numbered, so a reply that mixes clients shows whose text."""
    return f"client {number:02d}: ПАЛИНДРОМ"


def _read_to_end(sock: socket.socket, deadline: float) -> bytes:
    """Read until the server closes, within ``deadline`` (time.monotonic)."""
    chunks = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("timed out")
        sock.settimeout(left)
        chunk = sock.recv(65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _judge(number: int, reply: bytes) -> _Outcome:
    text = reply.decode("utf-8", errors="replace")
    if not reply:
        return _Outcome(NO_REPLY)
    return _Outcome(SERVED if text == reverse_text(message(number)) else WRONG, text)


def _exchange(address: Any, family: int, number: int, timeout: float) -> _Outcome:
    """One whole client: connect, send the message, shut down, read the reply."""
    deadline = time.monotonic() + timeout
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(address)
            sock.sendall(message(number).encode("utf-8"))
            sock.shutdown(socket.SHUT_WR)
            return _judge(number, _read_to_end(sock, deadline))
    except OSError as error:
        return _Outcome(type(error).__name__)


class _HeldClient:
    """Client 00: connected, its message sent slowly, the last character held back until ``finish``.

    It sends a part first, then one more character every ``TRICKLE`` seconds, as
    a client on a slow line would: slow, never silent. A server's silence timeout
    (``settimeout(2.0)`` on a connection, say) therefore never ends client 00's
    exchange while the others are served, however long a busy machine takes.
    """

    def __init__(self, address: Any, family: int, timeout: float) -> None:
        self.timeout = timeout
        self.sock: socket.socket | None = None
        self.outcome = _Outcome()
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._trickler: threading.Thread | None = None
        text = message(HELD)
        first = text[:HOLD_AT].encode("utf-8")
        self.pending = [character.encode("utf-8") for character in text[HOLD_AT:]]
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect(address)
            sock.sendall(first)
        except OSError as error:
            sock.close()
            self.outcome = _Outcome(type(error).__name__)
            return
        self.sock = sock
        self._trickler = threading.Thread(target=self._trickle, args=(sock,), daemon=True)
        self._trickler.start()

    def _trickle(self, sock: socket.socket) -> None:
        """One character every TRICKLE seconds until released; the last one waits for finish."""
        while len(self.pending) > 1 and not self._release.wait(TRICKLE):
            if self.state() != "quiet":
                return  # the server answered or hung up early: finish() judges that
            try:
                sock.sendall(self.pending[0])
            except OSError:
                return
            del self.pending[0]

    def state(self) -> str:
        """What the server has done with client 00 so far, asked without waiting or reading.

        "quiet": nothing yet, the connection is open; "replied": bytes arrived
        before the message was complete; "closed": the server hung up or reset it.
        """
        with self._lock:
            if self.sock is None:
                return "closed"
            try:
                readable, _, _ = select.select([self.sock], [], [], 0)
                if not readable:
                    return "quiet"
                return "replied" if self.sock.recv(1, socket.MSG_PEEK) else "closed"
            except OSError:  # reset by the server
                return "closed"

    def still_open(self) -> bool:
        """Is client 00 still connected mid-message, waiting for nothing but its turn?"""
        return self.state() == "quiet"

    def finish(self) -> None:
        """Stop trickling, send the last character, shut down, and judge the reply.

        If the server already answered or hung up, nothing more is sent: what it
        did is judged as it is (an early reply is a wrong one).
        """
        if self.sock is None:
            return
        self._release.set()
        if self._trickler is not None:
            self._trickler.join(self.timeout)  # a send has this timeout too: bounded
        state = self.state()
        deadline = time.monotonic() + self.timeout
        with self.sock:
            try:
                if state == "quiet":
                    self.sock.sendall(b"".join(self.pending))
                    self.sock.shutdown(socket.SHUT_WR)
                judged = _judge(HELD, _read_to_end(self.sock, deadline))
            except OSError as error:
                judged = _Outcome(type(error).__name__)
        judged.held_open = state == "quiet"
        self.outcome = judged
        self.sock = None


def check_concurrency(
    address: Any,
    clients: int = 20,
    timeout: float = 10.0,
    name: str = "",
    family: int = socket.AF_INET,
) -> ConcurrencyResult:
    """Hold client 00 mid-message, run the other ``clients - 1`` at once, then finish client 00.

    ``timeout`` is how long each client waits for its reply (and for each
    socket call): generous by default, since a busy machine must not turn a
    good server into a failing one. The whole check is bounded, so it never
    hangs, whatever the server does.
    """
    if clients < 2:
        raise ValueError(f"clients must be at least 2 (one held, one more), not {clients}")
    began = time.perf_counter()
    held = _HeldClient(address, family, timeout)
    others: list[_Outcome] = [_Outcome() for _ in range(clients - 1)]
    start = threading.Barrier(clients)

    def run(index: int) -> None:
        try:
            start.wait(timeout)
        except threading.BrokenBarrierError:
            others[index] = _Outcome("BrokenBarrierError")
            return
        outcome = _exchange(address, family, index + 1, timeout)
        outcome.held_open = held.still_open()
        others[index] = outcome

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(clients - 1)]
    for thread in threads:
        thread.start()
    try:
        start.wait(timeout)
    except threading.BrokenBarrierError:
        pass
    deadline = time.monotonic() + 2 * timeout + 1
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    held.finish()
    seconds = time.perf_counter() - began
    everyone = [held.outcome, *others]
    counts = Counter(outcome.kind for outcome in everyone)
    errors = {kind: n for kind, n in counts.items() if kind not in (SERVED, WRONG)}
    overlapped = sum(o.kind == SERVED and o.held_open for o in others)
    return ConcurrencyResult(
        name=name or str(address),
        clients=clients,
        served=counts[SERVED],
        overlapped=overlapped,
        wrong=counts[WRONG],
        failed=sum(errors.values()),
        seconds=seconds,
        held=held.outcome.kind,
        hint=_hint(address, held.outcome, others, timeout),
        errors=errors,
    )


def _numbers_in(reply: str) -> set[int]:
    """The client numbers whose text a reply carries (read after reversing it back)."""
    return {int(n) for n in re.findall(r"client (\d\d)", reverse_text(reply))}


def _hint(address: Any, held: _Outcome, others: list[_Outcome], timeout: float) -> str:
    """What went wrong, most telling first, and what to change; "" when the check passed."""
    everyone = [held, *others]
    waiting = len(others)
    if all(o.kind == "ConnectionRefusedError" for o in everyone):
        return f"Nothing accepts connections at {address!r}: is the server running, there?"
    wrong = [(n, o.reply) for n, o in enumerate(everyone) if o.kind == WRONG]
    for number, reply in wrong:
        strangers = sorted(_numbers_in(reply) - {number})
        if strangers:
            return (
                f"Replies mix up clients: client {number:02d} got back text that client "
                f"{strangers[0]:02d} sent. Each connection needs its own buffer: data kept "
                "where every thread adds to it (a global list, a default argument, an "
                "attribute of the server) collects all clients' bytes. Keep it in a local "
                "variable of the code that serves one connection."
            )
    if wrong:
        number, reply = wrong[0]
        shown = reply if len(reply) <= 60 else reply[:57] + "..."
        return (
            f"Client {number:02d} sent {message(number)!r} and got {shown!r} back. The "
            "reply must be the whole message reversed: read until recv() returns b'' "
            "(the client has shut down its side), then reverse all the bytes at once and "
            "send them."
        )
    if not any(o.kind == SERVED for o in everyone):
        return (
            f"No client got a reply within {timeout} s: the server answered nobody. It "
            "should read until recv() returns b'' (the client has shut down its sending "
            "side), send the text reversed, and close the connection."
        )
    if held.kind != SERVED and not held.held_open:
        return (
            f"Client 00 sent its message slowly, and the server closed the connection "
            f"before the message was complete ({held.kind}). A client may pause in the "
            "middle of a message: keep reading until recv() returns b'', and give up on a "
            "client only after seconds of silence."
        )
    answered_while_held = sum(o.kind == SERVED and o.held_open for o in others)
    if answered_while_held == 0:
        return (
            "Stuck on the held client: while client 00 had sent only part of its message, "
            f"none of the other {waiting} got a reply. The server serves one connection at "
            "a time, so one slow client stops everyone. Serve them side by side: "
            f"{DESIGNS_THAT_OVERLAP}."
        )
    if answered_while_held < waiting:
        kinds = Counter(o.kind for o in others if not (o.kind == SERVED and o.held_open))
        what = ", ".join(f"{kind} x{n}" for kind, n in sorted(kinds.items()))
        return (
            f"Only {answered_while_held} of the other {waiting} clients were answered "
            f"while client 00 was held mid-message (the rest: {what}). Every client must "
            f"be served while another is still sending: {DESIGNS_THAT_OVERLAP}."
        )
    if held.kind != SERVED:
        return (
            f"The other {waiting} clients were answered while client 00 was held, but "
            f"client 00 got no whole reply after it sent the rest ({held.kind}): the "
            "server must answer a client that paused as it answers the others."
        )
    return ""


def concurrency_table(results: list[ConcurrencyResult], caption: str = "") -> Table:
    """The results as a Table: replies served, answered while one was held, failures, verdict.

    The verdict column folds, so a hint of several sentences keeps the table narrow.
    """
    rows = [
        (
            r.name,
            f"{r.served}/{r.clients}",
            f"{r.overlapped}/{r.clients - 1}",
            r.wrong,
            r.failed,
            f"{r.seconds:.2f} s",
            ", ".join(f"{kind} x{n}" for kind, n in sorted(r.errors.items())),
            "passed" if r.passed else r.hint,
        )
        for r in results
    ]
    return Table(
        ["server", "served", "while one held", "wrong", "failed", "time", "errors", "verdict"],
        rows,
        caption,
        wrap=("verdict",),
        wrap_width=48,
    )
