"""Notebook 02's exercise: the reference passes; each typical wrong client gets its own hint.

Every wrong client here talks to the check's real server, so a hint is proved
against what that mistake really does on a socket: a missing shutdown meets a
server that waits for the end of the message (and gives up), a single recv()
meets a reply in portions, per-portion decoding meets a portion that ends
inside a letter. None of them hangs the check.
"""

from __future__ import annotations

import socket
import time

import pytest
from exercise_checking import assert_gets_hint, standard_tests

from helpers.lessons.checks import check
from helpers.lessons.exercises_02 import ASK, EXERCISES
from helpers.lessons.solutions import exercises_02 as reference
from helpers.run.registry import stop_all
from helpers.run.servers import serve_each
from helpers.wire.text import reverse_utf8

SOLVED = {"ask": (ASK, reference.ask)}

test_reference_solution_passes, test_unsolved_says_not_solved_yet_with_the_first_hint = (
    standard_tests(SOLVED)
)


@pytest.fixture(autouse=True, scope="module")
def stop_checker_servers():
    yield
    stop_all()


def test_one_exercise() -> None:
    assert EXERCISES == (ASK,)


def client(
    shutdown=socket.SHUT_WR, read="all", decode="whole", encode=True, timeout=2.0, pause=0.0
):
    """A client like the reference, with one thing done wrong (or left out).

    ``pause``: seconds it sleeps before its first ``recv``, so that the reply is
    usually there already.
    """

    def ask(port, text):
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(text.encode("utf-8") if encode else text)
            if shutdown is not None:
                sock.shutdown(shutdown)
            time.sleep(pause)
            portions = []
            while portion := sock.recv(1024):
                portions.append(portion)
                if read == "once" or (read == "until short" and len(portion) < 1024):
                    break
        if decode == "whole":
            return b"".join(portions).decode("utf-8")
        if decode == "each":
            return "".join(p.decode("utf-8") for p in portions)
        if decode == "each, replacing":
            return "".join(p.decode("utf-8", errors="replace") for p in portions)
        return b"".join(portions)

    return ask


@pytest.mark.parametrize(
    ("wrong", "hint_text", "status"),
    [
        (client(shutdown=None), "The server replies only after the end", "failed"),
        # its recv() times out first (an error), or on a very slow machine meets the close
        (
            client(shutdown=None, timeout=0.5),
            "The server replies only after the end",
            ("failed", "error"),
        ),
        (client(read="once"), "One recv() returns only the portion", "failed"),
        (client(read="until short"), "One recv() returns only the portion", "failed"),
        (client(decode="each"), "A portion may end in the middle", "error"),
        (client(decode="each, replacing"), "A portion may end in the middle", "failed"),
        (client(decode="none"), "Decode the reply", "failed"),
        (client(encode=False), "encode the text first", "error"),
        # recv() returns b"" at once, or meets the reset of a reply that came first
        (client(shutdown=socket.SHUT_RDWR), "read nothing of its reply", ("failed", "error")),
        # the reply usually arrives at the shut socket first: the system resets the connection
        (
            client(shutdown=socket.SHUT_RDWR, pause=0.3),
            "read nothing of its reply",
            ("failed", "error"),
        ),
    ],
    ids=[
        "no shutdown",
        "no shutdown, short timeout",
        "a single recv",
        "stops at a short portion",
        "decodes each portion",
        "decodes each portion, replacing",
        "returns bytes",
        "sends str",
        "SHUT_RDWR",
        "SHUT_RDWR, reading late",
    ],
)
def test_a_typical_mistake_gets_its_hint(wrong, hint_text: str, status: str) -> None:
    assert_gets_hint(ASK, wrong, hint_text, status)


def test_a_missing_shutdown_fails_on_the_first_case_with_an_empty_reply() -> None:
    result = check(ASK, client(shutdown=None))
    assert result.case is not None and result.case.label == "the chapter's word"
    assert result.details == [
        """case "the chapter's word": ask(port, 'ПАЛИНДРОМ')""",
        "expected: 'МОРДНИЛАП'",
        "got:      ''",
    ]


def test_a_single_recv_gets_the_first_portion_only() -> None:
    result = check(ASK, client(read="once"))
    assert result.details[-1] == "got:      'МО'"


def test_a_port_where_nothing_listens_gets_the_port_hint() -> None:
    with socket.socket() as closed:  # bound, never listening: connecting is refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]

        def ask(_port, text):
            return client()(port, text)

        assert_gets_hint(ASK, ask, "the port the check passes", "error")


def test_a_reply_from_another_server_does_not_pass() -> None:
    def reverse(conn, _addr):
        message = b""
        while chunk := conn.recv(65536):
            message += chunk
        conn.sendall(reverse_utf8(message))

    other = serve_each("not-the-check", reverse, port=0, quiet=True)
    try:

        def ask(_port, text):  # the right answer, from the wrong server
            return reference.ask(other.port, text)

        result = assert_gets_hint(ASK, ask, "the port the check passes", "failed")
        assert result.details[-1] == "got:      'nothing connected to the port the check passed'"
    finally:
        other.stop()


def test_a_loop_that_ignores_the_end_of_stream_is_interrupted() -> None:
    def endless(port, text):
        with socket.create_connection(("127.0.0.1", port), timeout=2.0) as sock:
            sock.sendall(text.encode("utf-8"))
            sock.shutdown(socket.SHUT_WR)
            reply = b""
            while True:
                reply += sock.recv(1024)

    assert check(ASK, endless).status == "timeout"
