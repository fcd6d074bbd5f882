"""Notebook 02's exercise: ``ask(port, text)``, a client that says "that is all".

    def ask(port, text):
        raise NotImplementedError
    helpers.check(exercises_02.ASK, ask)
    # -> not solved yet: A client that says "that is all": ask(port, text)
    # -> Hint: ...

The check runs the student's function against a reverse server of its own,
started quietly on a free port for each case (it is the checker's, not the
lesson's). Like version 2 of the notebook's server, it reads until the client's
end of stream (``recv`` returning ``b""``) and only then replies, and it replies
in several small portions a moment apart: the first holds two whole letters,
the second ends in the middle of one. So a single ``recv()`` gets a part of
the reply, and decoding each portion on its own fails; each mistake gets its
own hint. A client that never calls ``shutdown`` is not left hanging: after
``PATIENCE`` seconds without the end of the message the server closes the
connection without a reply, as version 2 does after 5 s, and the client's
empty reply gets the hint about ``shutdown``.
"""

from __future__ import annotations

import socket
import threading
import time
from functools import partial
from typing import Any

from helpers.lessons.checks import Case, Exercise, Mistake
from helpers.lessons.solutions import exercises_02 as reference
from helpers.run.servers import serve_each
from helpers.wire.text import reverse_utf8

__all__ = ["ASK", "EXERCISES"]

PATIENCE = 1.0  # seconds the check's server waits for more of a message before it gives up
PAUSE = 0.1  # seconds between two portions of a reply: a single recv() gets the first only
ELSEWHERE = "nothing connected to the port the check passed"
_NAME = "exercise-02-ask"


class _Port:
    """The port argument: shown as ``port`` in the check's report, and what its server saw.

    ``connected`` is set when the check's server accepts a connection;
    ``gave_up`` is True once a connection stayed silent for ``PATIENCE``
    seconds without its end of stream and the server closed it unanswered.
    The server sets ``gave_up`` before it closes, so a client that waited
    for that close finds it set when its answer is judged.
    """

    def __init__(self) -> None:
        self.connected = threading.Event()
        self.gave_up = False

    def __repr__(self) -> str:
        return "port"


def _portions(reply: bytes) -> list[bytes]:
    """4 bytes (two Cyrillic letters, whole), then 5 (ending inside a letter), then 301 each."""
    cuts = [0, 4, 9]
    while cuts[-1] < len(reply):
        cuts.append(cuts[-1] + 301)
    return [reply[a:b] for a, b in zip(cuts, cuts[1:], strict=False) if reply[a:b]]


def _reverse_after_end(port: _Port, conn: socket.socket, _addr: Any) -> None:
    """Read to the end of stream, then send the reversed text in portions (serve_each closes)."""
    port.connected.set()
    conn.settimeout(PATIENCE)
    message = b""
    try:
        while chunk := conn.recv(65536):
            message += chunk
    except TimeoutError:
        port.gave_up = True  # no end of the message: close without a reply
        return
    try:
        for number, portion in enumerate(_portions(reverse_utf8(message))):
            if number:
                time.sleep(PAUSE)
            conn.sendall(portion)
    except OSError:
        pass  # the client left before the whole reply: what it got is judged


def _call_ask(solution: Any, case: Case) -> Any:
    port, text = case.args
    server = serve_each(_NAME, partial(_reverse_after_end, port), port=0, quiet=True)
    try:
        got = solution(server.port, text)
        # A client that connected to another port (33333, where the notebook's own
        # server may run) must not pass on another server's reply.
        if not port.connected.wait(PATIENCE):
            return ELSEWHERE
        return got
    finally:
        server.stop()


_TEXTS = [
    ("the chapter's word", "ПАЛИНДРОМ"),
    ("1201 bytes, Latin and Cyrillic", "a" + "Я" * 600),
    ("an empty message", ""),
]


def _ask_cases() -> list[Case]:
    return [Case((_Port(), text), text[::-1], label) for label, text in _TEXTS]


def _no_end_of_stream(case: Case, got: Any) -> bool:
    silent = got == "" and case.expected != "" and case.args[0].gave_up
    return silent or isinstance(got, TimeoutError)


def _letters_cut(case: Case, got: Any) -> bool:
    return isinstance(got, UnicodeDecodeError) or (isinstance(got, str) and "\ufffd" in got)


def _read_nothing(case: Case, got: Any) -> bool:
    """An empty reply to a message, or a reset: the reply came to a socket shut for reading.

    After ``shutdown(SHUT_RDWR)`` a ``recv`` returns ``b""`` at once, unless the
    server's reply got there first: then the system answers it with a reset, and
    ``recv`` raises ``ConnectionResetError``. Which of the two depends on timing.
    """
    return (got == "" and case.expected != "") or isinstance(got, ConnectionResetError)


def _part_of_the_reply(case: Case, got: Any) -> bool:
    return (
        isinstance(got, str)
        and len(got) < len(case.expected)
        and case.expected.startswith(got)
        and got != ""
    )


ASK = Exercise(
    key="02.ask",
    title='A client that says "that is all": ask(port, text)',
    cases=_ask_cases,
    call=_call_ask,
    first_hint=(
        "Do what send_all.py in section 3 does, in a function: connect to 127.0.0.1 at "
        '`port`, send the text\'s UTF-8 bytes, say "that is all" with '
        "shutdown(socket.SHUT_WR), then collect what recv() returns until it returns b'', "
        "and decode it."
    ),
    hints=(
        (
            "The server answers only after its recv() returns b'', which your "
            "sock.shutdown(socket.SHUT_WR) causes, and it answers in several portions: "
            "keep the bytes of every portion and stop when recv() returns b''."
        ),
        (
            'In `with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:` '
            'call sock.sendall(text.encode("utf-8")) and sock.shutdown(socket.SHUT_WR), '
            "then `while chunk := sock.recv(1024):` add chunk to reply = b''; after the "
            "loop, return the whole reply decoded from UTF-8."
        ),
    ),
    reference=reference.ask,
    mistakes=[
        Mistake(
            "Decode the reply: return str, reply.decode('utf-8'), not bytes.",
            lambda case, got: isinstance(got, bytes),
        ),
        Mistake(
            "sendall takes bytes: encode the text first, text.encode('utf-8').",
            lambda case, got: isinstance(got, TypeError) and "bytes-like" in str(got),
        ),
        Mistake(
            'Connect to ("127.0.0.1", port), the port the check passes to ask(): its '
            "server listens there, not on 33333.",
            lambda case, got: got == ELSEWHERE or isinstance(got, ConnectionRefusedError),
        ),
        Mistake(
            "The server replies only after the end of your message, and it never came: "
            'after sendall, call sock.shutdown(socket.SHUT_WR) ("that is all"), so that '
            "the server's recv() returns b''. Without it the server waits, here for a "
            "second, then closes without a reply.",
            _no_end_of_stream,
        ),
        Mistake(
            "A portion may end in the middle of a letter (two bytes in UTF-8): keep the "
            "bytes of every portion and decode the whole reply once, after the loop.",
            _letters_cut,
        ),
        Mistake(
            "The server got your message, but your function read nothing of its reply: "
            "after shutdown(socket.SHUT_WR) call recv() until it returns b''. Shut down "
            "the writing side only: SHUT_RDWR, or close(), ends your reading too.",
            _read_nothing,
        ),
        Mistake(
            "One recv() returns only the portion that has arrived so far, and a short "
            "portion is not the end: keep calling recv() until it returns b'' (the "
            "server closes the connection when it has sent everything).",
            _part_of_the_reply,
        ),
    ],
    time_limit=3.0,
)

EXERCISES = (ASK,)
