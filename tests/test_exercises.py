"""helpers.lessons.checks: the check mechanism itself, on a toy exercise.

The hint ladder's memory lives as long as the process; each test here starts
with a clean one, as a fresh kernel does (tests/test_hint_ladder.py tests the
ladder itself).
"""

from __future__ import annotations

import socket
import sys
import threading
import time

import pytest

from helpers.lessons.checks import Case, CheckResult, Exercise, Mistake, check, forget_attempts


@pytest.fixture(autouse=True)
def fresh_ladders():
    forget_attempts()
    yield
    forget_attempts()


REVERSE = Exercise(
    key="toy.reverse",
    title="Reverse a word",
    cases=[Case(("abc",), "cba", "Latin"), Case(("ПАЛИНДРОМ",), "МОРДНИЛАП", "Cyrillic")],
    first_hint="Slicing with a step of -1 reverses a sequence.",
    hints=("word[::-1] is the whole answer for str.", "return word[::-1]"),
    mistakes=[
        Mistake(
            "Decode the bytes before reversing them.", lambda case, got: isinstance(got, bytes)
        ),
        Mistake(
            "A str has no decode(): it is already text.",
            lambda case, got: isinstance(got, AttributeError),
        ),
        Mistake("never shown: this matcher itself fails", lambda case, got: got.missing),
    ],
    time_limit=0.3,
)


def reverse_word(word):
    return word[::-1]


def test_reference_solution_passes():
    result = check(REVERSE, reverse_word)
    assert result.passed and result.status == "passed"
    assert repr(result) == "passed: Reverse a word\nall 2 cases give the expected answer."
    assert "#2e7d32" in result._repr_html_()


def test_unsolved_shows_not_solved_yet_and_the_first_hint(capfd):
    def reverse_word(word):
        raise NotImplementedError

    result = check(REVERSE, reverse_word)
    assert result.status == "not solved" and not result.passed
    assert repr(result) == (
        "not solved yet: Reverse a word\nHint: Slicing with a step of -1 reverses a sequence."
    )
    assert capfd.readouterr() == ("", "")


def test_wrong_answer_fails_with_the_case_and_the_matching_hint():
    result = check(REVERSE, lambda word: word.encode()[::-1])
    assert result.status == "failed" and result.case.label == "Latin"
    assert repr(result) == (
        "failed: Reverse a word\n"
        "case 'Latin': <lambda>('abc')\n"
        "expected: 'cba'\n"
        "got:      b'cba'\n"
        "Hint: Decode the bytes before reversing them.\n"
        "Hint 1 of 3: Slicing with a step of -1 reverses a sequence."
    )
    assert "&lt;lambda&gt;" in result._repr_html_()


def test_wrong_answer_without_a_known_mistake_gets_the_first_hint():
    def reverse_word(word):
        return word if word.isascii() else word.lower()

    result = check(REVERSE, reverse_word)
    assert result.status == "failed"
    assert result.message.splitlines()[0] == "case 'Latin': reverse_word('abc')"
    assert result.hint == REVERSE.first_hint


def test_raising_solution_is_reported_not_propagated():
    def reverse_word(word):
        return word.decode()[::-1]

    result = check(REVERSE, reverse_word)
    assert result.status == "error"
    assert result.details == [
        "case 'Latin': reverse_word('abc')",
        "raised AttributeError: 'str' object has no attribute 'decode'",
    ]
    assert result.hint == "A str has no decode(): it is already text."


def test_endless_loop_is_interrupted_within_the_limit():
    def reverse_word(word):
        while True:
            try:
                pass
            except Exception:  # lesson code that swallows errors cannot swallow the limit
                pass

    result = check(REVERSE, reverse_word)
    assert result.status == "timeout"
    assert result.details[1] == "still running after 0.3 s, so it was stopped."
    assert len(result.details) == 2


def test_sleeping_solution_is_interrupted_too():
    result = check(REVERSE, lambda word: time.sleep(5))
    assert result.status == "timeout"


def test_outside_the_main_thread_a_runaway_is_abandoned_with_a_restart_warning():
    results: list[CheckResult] = []
    stop = threading.Event()

    def reverse_word(word):
        while not stop.is_set():
            pass

    worker = threading.Thread(target=lambda: results.append(check(REVERSE, reverse_word)))
    worker.start()
    worker.join(30)  # the check gives up after its limit; this only bounds a broken one
    stop.set()
    assert results[0].status == "timeout"
    assert "restart the kernel" in results[0].details[2]

    worker = threading.Thread(target=lambda: results.append(check(REVERSE, reverse_word_ok)))
    worker.start()
    worker.join(5)
    assert results[1].passed


def reverse_word_ok(word):
    return word[::-1]


def test_cases_from_a_function_and_a_custom_call_and_compare():
    calls = []
    exercise = Exercise(
        key="toy.server",
        title="Ask the server",
        cases=lambda: [Case(("x",), "X ")],
        first_hint="Strip the answer.",
        call=lambda solution, case: calls.append(case) or solution(*case.args) + " ",
        compare=lambda got, expected: got.strip() == expected.strip(),
    )
    assert check(exercise, str.upper).passed and len(calls) == 1


def test_an_exercise_that_cannot_prepare_its_cases_is_reported():
    def no_server():
        raise ConnectionRefusedError("[Errno 111] Connection refused")

    exercise = Exercise("toy.broken", "Broken", no_server, "unused")
    result = check(exercise, str.upper)
    assert result.status == "error"
    assert "ConnectionRefusedError" in result.details[0]


def test_an_outer_alarm_survives_a_check():
    import signal

    fired = []
    previous = signal.signal(signal.SIGALRM, lambda *args: fired.append(True))
    signal.setitimer(signal.ITIMER_REAL, 0.4)
    try:
        assert check(REVERSE, reverse_word).passed
        delay, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 0 < delay <= 0.4
        deadline = time.monotonic() + 2
        while not fired and time.monotonic() < deadline:
            time.sleep(0.01)
        assert fired == [True]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# -- solutions that fight the limit ----------------------------------------------------


@pytest.mark.timeout(60)
def test_a_loop_around_a_bare_except_is_still_stopped():
    """One alarm is swallowed by ``except:``; the repeated ones end the loop."""

    def reverse_word(word):
        while True:
            try:
                sum(range(1000))
            except:  # noqa: E722 - the student's catch-all, on purpose
                pass

    result = check(REVERSE, reverse_word)
    assert result.status == "timeout"
    assert result.case is not None


def test_a_solution_that_swallows_the_limit_and_returns_is_out_of_time():
    def reverse_word(word):
        try:
            while True:
                pass
        except BaseException:
            return word[::-1]  # the right answer, but only after the limit

    assert check(REVERSE, reverse_word).status == "timeout"


def test_sys_exit_in_a_solution_is_reported_not_raised():
    def reverse_word(word):
        sys.exit(3)

    result = check(REVERSE, reverse_word)
    assert result.status == "error"
    assert "called sys.exit(3)" in result.details[1]


@pytest.mark.timeout(60)
def test_an_answer_that_compares_or_prints_forever_is_stopped_too():
    class Endless:
        def __eq__(self, other):
            while True:
                pass

        def __repr__(self):
            while True:
                pass

    assert check(REVERSE, lambda word: Endless()).status == "timeout"


def test_an_answer_that_cannot_be_shown_is_an_error_not_a_crash():
    class Unshowable:
        def __eq__(self, other):
            return False

        def __repr__(self):
            raise RuntimeError("no repr")

    result = check(REVERSE, lambda word: Unshowable())
    assert result.status == "error"
    assert "could not be compared or shown: RuntimeError: no repr" in result.details[1]


def test_a_stopped_solution_leaves_no_exception_behind():
    """Its cleanup (a with-block closing a socket) runs; no exception stays "being handled"."""

    def reverse_word(word):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            sock.recv(10)  # nobody sends: waits until the limit

    assert check(REVERSE, reverse_word).status == "timeout"
    assert sys.exc_info() == (None, None, None)
    try:
        raise ValueError("after the check")
    except ValueError as error:
        assert error.__context__ is None
