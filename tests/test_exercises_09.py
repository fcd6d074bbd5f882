"""Notebook 09's exercise: the reference solution passes, typical wrong answers get their hint."""

from __future__ import annotations

import smtplib

import pytest
from exercise_checking import assert_gets_hint, standard_tests

from helpers.lessons.checks import check
from helpers.lessons.exercises_09 import REFUSED_RECIPIENTS
from helpers.lessons.solutions import exercises_09 as reference

EXERCISES = {
    "refused": (REFUSED_RECIPIENTS, reference.send_to_all),
}
HELLO = "student.local"


# the checkers' own sink is stopped once this module is done (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("servers_stopped_after_module")

test_reference_solution_passes, test_unsolved_says_not_solved_yet_with_the_first_hint = (
    standard_tests(EXERCISES)
)


# ---- refused recipients: wrong answers ----


def test_uncaught_refusal_gets_the_catch_hint() -> None:
    def no_except(port, recipients):
        with smtplib.SMTP("127.0.0.1", port, local_hostname=HELLO, timeout=5) as client:
            refused = client.sendmail("student@mail.ru", recipients, b"Subject: x\r\n\r\nx\r\n")
        return {address: code for address, (code, _) in refused.items()}

    result = assert_gets_hint(REFUSED_RECIPIENTS, no_except, "catch", "error")
    assert result.case.label == "all refused"


def test_whole_replies_get_the_code_hint() -> None:
    def whole_replies(port, recipients):
        with smtplib.SMTP("127.0.0.1", port, local_hostname=HELLO, timeout=5) as client:
            return client.sendmail("student@mail.ru", recipients, b"Subject: x\r\n\r\nx\r\n")

    result = assert_gets_hint(REFUSED_RECIPIENTS, whole_replies, "only the reply code", "failed")
    assert result.case.label == "one refused"


def test_no_report_gets_the_return_hint() -> None:
    def silent(port, recipients):
        with smtplib.SMTP("127.0.0.1", port, local_hostname=HELLO, timeout=5) as client:
            try:
                client.sendmail("student@mail.ru", recipients, b"Subject: x\r\n\r\nx\r\n")
            except smtplib.SMTPRecipientsRefused:
                pass

    assert_gets_hint(REFUSED_RECIPIENTS, silent, "Return the report", "failed")


def test_claiming_delivery_without_sending_is_caught() -> None:
    def liar(port, recipients):
        return {r: 550 for r in recipients if r == "ghost@onego.ru" or "gmail" in r}

    result = check(REFUSED_RECIPIENTS, liar)
    assert result.status == "failed" and "received nothing" in result.message
