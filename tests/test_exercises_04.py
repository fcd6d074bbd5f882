"""Notebook 04's exercise: the reference pool passes; each typical wrong pool gets its own hint.

Every verdict here comes from the order of events (who was answered while client
00 was held, what was accepted before the first reply), never from a time: a
right pool on a busy machine passes, a wrong one fails however fast it runs.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from exercise_checking import assert_gets_hint, standard_tests

from helpers.lessons.checks import check
from helpers.lessons.exercises_04 import EXERCISES, THREAD_POOL, WAIT, Seen
from helpers.lessons.solutions import exercises_04 as reference
from helpers.lessons.solutions.exercises_04 import serve_client
from helpers.run.registry import stop_all

test_reference_solution_passes, test_unsolved_says_not_solved_yet_with_the_first_hint = (
    standard_tests({"thread_pool": (THREAD_POOL, reference.thread_pool)})
)


@pytest.fixture(autouse=True, scope="module")
def stop_checker_servers():
    yield
    stop_all()


def serve_and_close(conn):
    with conn:
        serve_client(conn)


def test_one_exercise_keyed_by_its_notebook() -> None:
    assert EXERCISES == (THREAD_POOL,) and THREAD_POOL.key == "04.thread_pool"


def test_what_was_seen_reads_as_one_line() -> None:
    assert (
        repr(Seen(20, 20, 19, 0, 20, 7)) == "20 of 20 answered, 19 of 19 while client 00 was held"
    )
    assert repr(Seen(20, 1, 0, 0, 20, None)).endswith("; 20 connections accepted, no reply sent")
    assert not Seen(20, 19, 19, 0, 20, 20).passed  # client 00 itself was not answered


def test_the_reference_answers_everyone_while_client_00_is_held() -> None:
    result = check(THREAD_POOL, reference.thread_pool)
    assert result.passed and result.details == ["the case gives the expected answer."]


def test_waiting_for_each_result_is_caught(capfd) -> None:
    def thread_pool(listener):
        with ThreadPoolExecutor(max_workers=4) as pool:
            while True:
                conn, addr = listener.accept()
                pool.submit(serve_and_close, conn).result()

    result = assert_gets_hint(THREAD_POOL, thread_pool, ".result() right after submit", "failed")
    assert result.details[-1].endswith("; 1 connection accepted before the first reply")
    assert capfd.readouterr() == ("", "")


def test_a_pool_made_inside_the_loop_gets_the_same_hint() -> None:
    def thread_pool(listener):
        while True:
            conn, addr = listener.accept()
            with ThreadPoolExecutor(max_workers=4) as pool:
                pool.submit(serve_and_close, conn)

    assert_gets_hint(THREAD_POOL, thread_pool, ".result() right after submit", "failed")


def test_a_pool_of_one_worker_is_caught(capfd) -> None:
    def thread_pool(listener):
        with ThreadPoolExecutor(max_workers=1) as pool:
            while True:
                conn, addr = listener.accept()
                pool.submit(serve_and_close, conn)

    result = assert_gets_hint(THREAD_POOL, thread_pool, "max_workers=1", "failed")
    assert result.details[-1].endswith("; 20 connections accepted before the first reply")
    assert capfd.readouterr() == ("", "")  # its queue, still draining after the stop, is not news


@pytest.mark.parametrize("how", ["returns at once", "waits without accepting"])
def test_a_function_that_never_accepts_is_caught_within_the_limit(how: str) -> None:
    def returns(listener):
        with ThreadPoolExecutor(max_workers=4):
            pass

    def waits(listener):
        time.sleep(2 * WAIT)  # longer than any client waits, and than the stop waits for it

    solution = returns if how == "returns at once" else waits
    result = assert_gets_hint(THREAD_POOL, solution, "No connection was accepted", "failed")
    assert result.details[-1].endswith("; no connection accepted")


def test_a_connection_left_open_is_caught() -> None:
    def thread_pool(listener):
        with ThreadPoolExecutor(max_workers=4) as pool:
            while True:
                conn, addr = listener.accept()
                pool.submit(serve_client, conn)  # never closed: the client waits for the end

    assert_gets_hint(THREAD_POOL, thread_pool, "close each connection", "failed")


def test_a_wrong_reply_is_caught() -> None:
    def echo(conn):
        with conn:
            data = b""
            while chunk := conn.recv(1024):
                data += chunk
            conn.sendall(data)

    def thread_pool(listener):
        with ThreadPoolExecutor(max_workers=4) as pool:
            while True:
                conn, addr = listener.accept()
                pool.submit(echo, conn)

    assert_gets_hint(THREAD_POOL, thread_pool, "Some replies were wrong", "failed")


def test_an_error_in_the_function_is_reported_not_raised() -> None:
    def thread_pool(listener):
        with ThreadPoolExecuter(max_workers=4) as pool:  # noqa: F821 - the typo is the test
            pool.submit(serve_and_close, listener.accept()[0])

    result = check(THREAD_POOL, thread_pool)
    assert result.status == "error" and "NameError" in result.message
