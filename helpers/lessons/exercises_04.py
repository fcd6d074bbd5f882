"""Notebook 04's exercise, checked by ``helpers.check`` with the notebook's 20-client checker.

``thread_pool(listener)`` is design (f), a bounded pool of threads: the accept
loop hands each connection to a ``concurrent.futures.ThreadPoolExecutor`` of 4
workers and goes straight back to ``accept()``. The check serves the student's
function on a free port, as the notebook's ``check_design`` does (without a
status line: this server is the checker's, not the lesson's), and runs
``check_concurrency`` against it: client 00 is held mid-message, and the other
19 must be answered meanwhile.

What the check saw comes back as a ``Seen``: the checker's counts, and, from the
server's event log, how many connections the function accepted before its first
reply. That figure tells the typical wrong pools apart by the order of events,
never by time:

- an accept loop that waits for each client (``.result()`` right after
  ``submit``, or a pool made and shut down inside the loop) accepts one
  connection, client 00's, before its first reply, and that reply can only come
  once client 00 is released;
- a pool of one worker accepts all 20 (its loop is free), but its one thread is
  busy with client 00, so the first reply, again, is client 00's;
- a function that never accepts accepts none.

The check is bounded: each client waits ``WAIT`` seconds for its reply, so a
wrong pool takes about that long (its clients wait in vain) and a right one a
fraction of a second. ``WAIT`` is shorter than the held client's 4 s of sending
a character every half second, so a server's 2 s silence timeout
(``CLIENT_TIMEOUT``) never ends client 00's exchange before the others are done.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from helpers.lessons.checks import Case, Exercise, Mistake
from helpers.lessons.concurrency import check_concurrency
from helpers.lessons.solutions import exercises_04 as reference
from helpers.run.servers import serve
from helpers.show.events import Event

__all__ = ["EXERCISES", "THREAD_POOL", "Seen"]

CLIENTS = 20
WAIT = 3.0  # seconds each client waits for its reply


@dataclass(frozen=True)
class Seen:
    """What the check saw; shown as one line (its repr) in the check's report.

    ``accepted_before_reply`` counts the connections the function accepted
    before the server sent its first reply; None when it sent none at all.
    """

    clients: int
    answered: int
    while_held: int
    wrong: int
    accepted: int
    accepted_before_reply: int | None

    @property
    def passed(self) -> bool:
        """Every client answered, each of the others while client 00 was held."""
        return self.answered == self.clients and self.while_held == self.clients - 1

    def __repr__(self) -> str:
        line = (
            f"{self.answered} of {self.clients} answered, "
            f"{self.while_held} of {self.clients - 1} while client 00 was held"
        )
        if self.passed:
            return line
        if self.accepted == 0:
            return f"{line}; no connection accepted"
        if self.accepted_before_reply is None:
            return f"{line}; {_connections(self.accepted)} accepted, no reply sent"
        return f"{line}; {_connections(self.accepted_before_reply)} accepted before the first reply"


def _connections(n: int) -> str:
    return f"{n} connection" + ("" if n == 1 else "s")


def _seen(result: Any, events: list[Event]) -> Seen:
    first_reply = next((i for i, e in enumerate(events) if e.kind == "send"), None)
    accepts = [i for i, e in enumerate(events) if e.kind == "accept"]
    return Seen(
        clients=result.clients,
        answered=result.served,
        while_held=result.overlapped,
        wrong=result.wrong,
        accepted=len(accepts),
        accepted_before_reply=None
        if first_reply is None
        else sum(1 for i in accepts if i < first_reply),
    )


class _Placeholder:
    """An argument shown by name in the check's report: ``thread_pool(listener)``."""

    def __repr__(self) -> str:
        return "listener"


def _call_pool(solution: Any, case: Case) -> Seen:
    server = serve("exercise-04-pool", solution, port=0, quiet=True)
    try:
        result = check_concurrency(server.address, clients=CLIENTS, timeout=WAIT)
    finally:
        # A pool of one worker may still run its queue of connections after the stop;
        # the server is quiet, so its "still running" note is kept, not printed.
        server.stop()
    if server.errors:
        raise server.errors[0]  # NotImplementedError: "not solved yet"; others reported
    return _seen(result, server.events.events)


def _cases() -> list[Case]:
    everyone = Seen(CLIENTS, CLIENTS, CLIENTS - 1, 0, CLIENTS, CLIENTS)
    return [Case((_Placeholder(),), everyone, f"{CLIENTS} clients, client 00 held mid-message")]


def _is(test: Any) -> Any:
    """A mistake's matcher: ``test(seen)`` for what the check saw (an exception never matches)."""
    return lambda case, got: isinstance(got, Seen) and bool(test(got))


THREAD_POOL = Exercise(
    key="04.thread_pool",
    title="A bounded pool of threads: thread_pool(listener)",
    cases=_cases,
    call=_call_pool,
    compare=lambda got, expected: isinstance(got, Seen) and got.passed,
    first_hint=(
        "Start from design (b): keep its serve_and_close and its accept loop, but instead of "
        "starting a new thread for each connection, hand the connection to a pool made once, "
        "before the loop: ThreadPoolExecutor(max_workers=4)."
    ),
    hints=(
        (
            "pool.submit(function, argument) queues the call and returns at once; a free "
            "worker of the pool runs it. Do not wait for what the call returns: go straight "
            "back to listener.accept()."
        ),
        (
            "Inside `with ThreadPoolExecutor(max_workers=4) as pool:` loop forever: conn, addr "
            "= listener.accept(), then pool.submit(serve_and_close, conn), where "
            "serve_and_close closes the connection after serve_client(conn), as in (b)."
        ),
    ),
    reference=reference.thread_pool,
    mistakes=[
        Mistake(
            "No connection was accepted: loop forever, calling listener.accept() and "
            "submitting each connection to the pool. A server function that returns (or "
            "never calls accept) serves nobody.",
            _is(lambda seen: seen.accepted == 0),
        ),
        Mistake(
            "Some replies were wrong: serve each connection with serve_client(conn) from "
            "section 1, which reads until b'' and replies with the whole message reversed.",
            _is(lambda seen: seen.wrong > 0),
        ),
        Mistake(
            "Replies were sent, but no client saw the end of one: close each connection "
            "after serving it (`with conn:` around serve_client, as in (b)). A client reads "
            "its reply until the server closes.",
            _is(lambda seen: seen.answered == 0 and seen.accepted_before_reply is not None),
        ),
        Mistake(
            "The loop accepted one connection, client 00's, and then waited until it was "
            "served, as (a) does. Something in the loop waits for the work: .result() right "
            "after submit does, and so does a `with ThreadPoolExecutor(...)` block inside "
            "the loop (leaving it waits for its work). Make the pool once, before the loop; "
            "submit, and go straight back to accept().",
            _is(lambda seen: seen.while_held == 0 and seen.accepted_before_reply == 1),
        ),
        Mistake(
            "The loop accepted the other clients, but no worker was free to serve them: the "
            "pool's only thread was busy with client 00. With max_workers=1 a pool serves one "
            "client at a time, like (a); with max_workers=4 one slow client leaves three "
            "workers for the rest.",
            _is(
                lambda seen: (
                    seen.while_held == 0
                    and seen.answered > 0
                    and (seen.accepted_before_reply or 0) > 1
                )
            ),
        ),
    ],
    time_limit=20.0,
)

EXERCISES = (THREAD_POOL,)
