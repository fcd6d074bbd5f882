"""Notebook 05's exercises: the reference solutions pass, typical wrong answers get their hint."""

from __future__ import annotations

import socket

import pytest
from exercise_checking import assert_gets_hint, assert_passes, assert_unsolved, hint_of

from helpers.lessons.checks import check
from helpers.lessons.exercises_05 import PING_SUMMARY, UDP_REQUEST, RequestOutcome
from helpers.lessons.solutions import exercises_05 as reference

EXERCISES = {
    "ping_summary": (PING_SUMMARY, reference.ping_summary),
    "request": (UDP_REQUEST, reference.request),
}


@pytest.mark.parametrize("name", EXERCISES)
def test_reference_solution_passes_twice_in_a_row(name: str) -> None:
    # Twice: a re-run of the check cell must not meet what the first run left behind
    # (the request check's server forgets the copies it counted).
    exercise, solution = EXERCISES[name]
    for _ in range(2):
        assert_passes(exercise, solution)


@pytest.mark.parametrize("name", EXERCISES)
def test_unsolved_says_not_solved_yet_with_the_first_hint(name: str) -> None:
    exercise, _ = EXERCISES[name]
    assert_unsolved(exercise)


def test_ping_summary_accepts_a_list_and_rounding() -> None:
    def as_list(rtts):
        answered = [t for t in rtts if t is not None]
        loss = 100 * (len(rtts) - len(answered)) / len(rtts)
        if not answered:
            return [None, None, None, loss]
        return [min(answered), sum(answered) / len(answered) + 1e-15, max(answered), loss]

    assert check(PING_SUMMARY, as_list).passed


# ---- ping statistics: wrong answers ----


def summary_with_none(rtts):
    return (min(rtts), sum(rtts) / len(rtts), max(rtts), 0.0)


def summary_loss_over_received(rtts):
    answered = [t for t in rtts if t is not None]
    lost = len(rtts) - len(answered)
    return (min(answered), sum(answered) / len(answered), max(answered), 100 * lost / len(answered))


def summary_loss_as_fraction(rtts):
    answered = [t for t in rtts if t is not None]
    if not answered:
        return (None, None, None, 1.0)
    return (
        min(answered),
        sum(answered) / len(answered),
        max(answered),
        (len(rtts) - len(answered)) / len(rtts),
    )


def summary_lost_as_zero(rtts):
    times = [0.0 if t is None else t for t in rtts]
    loss = 100 * rtts.count(None) / len(rtts)
    return (min(times), sum(times) / len(times), max(times), loss)


def summary_crashes_when_all_lost(rtts):
    answered = [t for t in rtts if t is not None]
    loss = 100 * (len(rtts) - len(answered)) / len(rtts)
    return (min(answered), sum(answered) / len(answered), max(answered), loss)


@pytest.mark.parametrize(
    ("solution", "status", "hint_text"),
    [
        (summary_with_none, "error", "None cannot be compared"),
        (summary_loss_over_received, "failed", "share of the pings SENT"),
        (summary_loss_as_fraction, "failed", "multiply the share by 100"),
        (summary_lost_as_zero, "failed", "it is not 0 ms"),
        (summary_crashes_when_all_lost, "error", "return (None, None, None, 100.0)"),
    ],
)
def test_ping_summary_mistakes_get_their_hint(solution, status: str, hint_text: str) -> None:
    assert_gets_hint(PING_SUMMARY, solution, hint_text, status)


# ---- a UDP request: wrong answers ----


def request_without_timeout(address, data, timeout=0.1, retries=2):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(data, address)
        return sock.recvfrom(65535)[0]


def request_without_retry(address, data, timeout=0.1, retries=2):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(data, address)
        return sock.recvfrom(65535)[0]


def request_one_attempt_short(address, data, timeout=0.1, retries=2):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        for _ in range(retries):
            sock.sendto(data, address)
            try:
                return sock.recvfrom(65535)[0]
            except TimeoutError:
                pass
    raise TimeoutError("no reply")


def request_returns_none(address, data, timeout=0.1, retries=2):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        for _ in range(1 + retries):
            sock.sendto(data, address)
            try:
                return sock.recvfrom(65535)[0]
            except TimeoutError:
                pass
    return None


def request_returns_address_too(address, data, timeout=0.1, retries=2):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(data, address)
        return sock.recvfrom(65535)


def request_one_attempt_too_many(address, data, timeout=0.1, retries=2):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        for _ in range(2 + retries):
            sock.sendto(data, address)
            try:
                return sock.recvfrom(65535)[0]
            except TimeoutError:
                pass
    raise TimeoutError("no reply")


def request_raises_other_error(address, data, timeout=0.1, retries=2):
    try:
        return reference.request(address, data, timeout, retries)
    except TimeoutError:
        raise ConnectionError("the server is down") from None


@pytest.mark.parametrize(
    ("solution", "status", "hint_text"),
    [
        (request_without_retry, "failed", "catch TimeoutError around recvfrom"),
        (request_one_attempt_short, "failed", "range(1 + retries), not range(retries)"),
        (request_returns_none, "failed", "returning None"),
        (request_returns_address_too, "failed", "recvfrom gives (data, address)"),
        (request_one_attempt_too_many, "failed", "Give up after 1 + retries attempts"),
        (request_raises_other_error, "error", "socket.timeout is the same class"),
    ],
)
def test_request_mistakes_get_their_hint(solution, status: str, hint_text: str) -> None:
    assert_gets_hint(UDP_REQUEST, solution, hint_text, status)


def test_request_without_timeout_comes_back_late_not_never() -> None:
    result = check(UDP_REQUEST, request_without_timeout)
    assert result.status == "failed"  # not "timeout": the late reply ended its wait
    assert result.case is not None and result.case.label == "the first copy lost"
    assert "in_time=False" in result.message
    assert result.hint == hint_of(UDP_REQUEST, "sock.settimeout(timeout) before recvfrom")


def test_request_loop_that_never_gives_up_is_told_to() -> None:
    def forever(address, data, timeout=0.1, retries=2):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(timeout)
            while True:
                sock.sendto(data, address)
                try:
                    return sock.recvfrom(65535)[0]
                except TimeoutError:
                    pass

    # It keeps sending until the late reply to its first copy arrives.
    result = assert_gets_hint(UDP_REQUEST, forever, "Give up after 1 + retries attempts", "failed")
    assert result.case is not None and result.case.label == "every copy lost"


def test_request_expected_outcomes() -> None:
    outcomes = {case.label: case.expected for case in UDP_REQUEST.cases()}
    assert outcomes["nothing lost"] == RequestOutcome(b"olleh", 1)
    assert outcomes["two copies lost, two retries"] == RequestOutcome("МОРДНИЛАП".encode(), 3)
    assert outcomes["every copy lost"] == RequestOutcome("raised TimeoutError", 3)
    assert outcomes["every copy lost, no retries"] == RequestOutcome("raised TimeoutError", 1)
