"""Notebook 03's exercises: references pass; each check catches the bug it targets, for real."""

from __future__ import annotations

import socket
import struct

import pytest
from exercise_checking import assert_gets_hint, assert_passes, assert_unsolved

from helpers.lessons.checks import check
from helpers.lessons.exercises_03 import EXERCISES, PREFIXED_CLIENT, RECV_EXACTLY, SENDALL_SERVER
from helpers.lessons.solutions import exercises_03 as reference
from helpers.run.registry import stop_all
from helpers.wire.text import reverse_utf8

SOLVED = {
    "recv_exactly": (RECV_EXACTLY, reference.recv_exactly),
    "reverse_prefixed": (PREFIXED_CLIENT, reference.reverse_prefixed),
    "fixed_reverse_server": (SENDALL_SERVER, reference.fixed_reverse_server),
}


@pytest.fixture(autouse=True, scope="module")
def stop_checker_servers():
    yield
    stop_all()


def test_three_exercises_with_distinct_keys() -> None:
    assert len(EXERCISES) == 3 and len({e.key for e in EXERCISES}) == 3


@pytest.mark.parametrize("name", SOLVED)
def test_reference_solution_passes(name: str) -> None:
    assert_passes(*SOLVED[name])


@pytest.mark.parametrize("name", SOLVED)
def test_unsolved_says_not_solved_yet_with_the_first_hint(name: str, capfd) -> None:
    exercise, _ = SOLVED[name]
    assert_unsolved(exercise)
    assert capfd.readouterr() == ("", "")


# --- recv_exactly ---


def test_a_single_recv_is_caught() -> None:
    assert_gets_hint(RECV_EXACTLY, lambda sock, n: sock.recv(n), "One recv() is not enough")


def test_over_reading_is_caught() -> None:
    def greedy(sock, n):
        data = b""
        while len(data) < n:
            data += sock.recv(4096)
        return data

    assert_gets_hint(RECV_EXACTLY, greedy, "n - len(data)")


def test_returning_partial_data_at_end_of_stream_is_caught() -> None:
    def no_eof_check(sock, n):
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                return data
            data += chunk
        return data

    assert_gets_hint(RECV_EXACTLY, no_eof_check, "raise EOFError instead")


def test_an_endless_loop_at_end_of_stream_is_interrupted() -> None:
    def endless(sock, n):
        data = b""
        while len(data) < n:
            data += sock.recv(n - len(data))
        return data

    result = check(RECV_EXACTLY, endless)
    assert result.status == "timeout"


def test_decoding_is_caught() -> None:
    assert_gets_hint(
        RECV_EXACTLY, lambda sock, n: reference.recv_exactly(sock, n).decode(), "Return bytes"
    )


# --- the length-prefixed client ---


def client(
    pack, measure=lambda text, data: len(data), strip_prefix=True, decode=True, single_recv=False
):
    def reverse_prefixed(address, text):
        data = text.encode("utf-8")
        with socket.create_connection(address, timeout=2.0) as sock:
            sock.sendall(pack(measure(text, data)) + data)
            (length,) = struct.unpack("!I", reference.recv_exactly(sock, 4))
            body = sock.recv(length) if single_recv else reference.recv_exactly(sock, length)
            raw = body if strip_prefix else struct.pack("!I", length) + body
            return raw.decode("utf-8", "replace") if decode else raw

    return reverse_prefixed


def test_little_endian_prefix_is_caught() -> None:
    assert_gets_hint(PREFIXED_CLIENT, client(lambda n: struct.pack("<I", n)), "network byte order")


def test_missing_prefix_is_caught() -> None:
    assert_gets_hint(PREFIXED_CLIENT, client(lambda n: b""), "Send the length first")


def test_counting_characters_is_caught() -> None:
    assert_gets_hint(
        PREFIXED_CLIENT,
        client(lambda n: struct.pack("!I", n), measure=lambda text, data: len(text)),
        "counts bytes, not characters",
    )


def test_a_single_recv_for_a_long_reply_is_caught() -> None:
    assert_gets_hint(
        PREFIXED_CLIENT,
        client(lambda n: struct.pack("!I", n), single_recv=True),
        "One recv() got only part",
    )


def test_keeping_the_prefix_is_caught() -> None:
    assert_gets_hint(
        PREFIXED_CLIENT,
        client(lambda n: struct.pack("!I", n), strip_prefix=False),
        "Leave the 4 prefix bytes out",
    )


def test_bytes_instead_of_text_is_caught() -> None:
    assert_gets_hint(
        PREFIXED_CLIENT, client(lambda n: struct.pack("!I", n), decode=False), "Decode the reply"
    )


def test_sending_str_is_caught() -> None:
    def sends_str(address, text):
        with socket.create_connection(address, timeout=2.0) as sock:
            sock.sendall(struct.pack("!I", len(text)) + text)

    assert_gets_hint(PREFIXED_CLIENT, sends_str, "encode the text first")


def test_reading_until_close_times_out_instead_of_passing() -> None:
    def until_close(address, text):
        data = text.encode()
        with socket.create_connection(address, timeout=5.0) as sock:
            sock.sendall(struct.pack("!I", len(data)) + data)
            reply = b""
            while chunk := sock.recv(65536):
                reply += chunk
            return reply[4:].decode()

    assert check(PREFIXED_CLIENT, until_close).status == "timeout"


# --- send vs sendall ---


def hasty_reverse_server(listener):
    while True:
        conn, _addr = listener.accept()
        with conn:
            conn.settimeout(2.0)
            chunks = []
            while chunk := conn.recv(65536):
                chunks.append(chunk)
            conn.send(reverse_utf8(b"".join(chunks)))


def test_a_send_only_server_fails_for_real() -> None:
    result = assert_gets_hint(SENDALL_SERVER, hasty_reverse_server, "sendall() loops", "failed")
    assert "small send buffer" in result.case.label  # the short message alone passes
    assert result.details[-1] == "got:      'a reply cut short'"


def test_a_wrong_reply_is_caught() -> None:
    def echo_server(listener):
        while True:
            conn, _addr = listener.accept()
            with conn:
                chunks = []
                while chunk := conn.recv(65536):
                    chunks.append(chunk)
                conn.sendall(b"".join(chunks))

    assert_gets_hint(SENDALL_SERVER, echo_server, "reverse_utf8(message)")


def test_a_crashing_server_is_reported_not_raised() -> None:
    def crashing(listener):
        conn, _addr = listener.accept()
        raise ValueError("oops")

    result = check(SENDALL_SERVER, crashing)
    assert result.status == "error" and "ValueError: oops" in result.message
