"""Notebook 08's exercises: the reference solutions pass, typical wrong answers get their hint."""

from __future__ import annotations

import smtplib
import socket
from email.message import EmailMessage

import pytest
from exercise_checking import assert_gets_hint, standard_tests

from helpers.lessons.checks import check
from helpers.lessons.exercises_08 import ATTACHMENT, SEND_LETTER
from helpers.lessons.mail_checks import checker_sink
from helpers.lessons.solutions import exercises_08 as reference

EXERCISES = {
    "send_letter": (SEND_LETTER, reference.send_letter),
    "attachment": (ATTACHMENT, reference.letter_with_attachment),
}
HELLO = "student.local"


# the checkers' own sink is stopped once this module is done (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("servers_stopped_after_module")

test_reference_solution_passes, test_unsolved_says_not_solved_yet_with_the_first_hint = (
    standard_tests(EXERCISES)
)


def test_the_lessons_sink_is_left_alone() -> None:
    from helpers.services.mailsink import start_mail_sink

    lesson = start_mail_sink("mail")
    check(SEND_LETTER, reference.send_letter)
    assert lesson.running and lesson.messages == [] and checker_sink().port != lesson.port


# ---- 1. send_letter: wrong answers ----


def letter(subject: str, body: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "student@mail.ru"
    message["To"] = "rnd@onego.ru"
    message["Subject"] = subject
    message.set_content(body)
    return message


def test_sendmail_with_a_str_gets_the_encoding_hint() -> None:
    def with_sendmail(port, subject, body, charset):
        text = f"Subject: {subject}\r\n\r\n{body}\r\n"
        with smtplib.SMTP("127.0.0.1", port, local_hostname=HELLO, timeout=5) as client:
            client.sendmail("student@mail.ru", ["rnd@onego.ru"], text)

    result = assert_gets_hint(SEND_LETTER, with_sendmail, "encodes a str message as ASCII", "error")
    assert "UnicodeEncodeError" in result.message


def test_charset_left_out_gets_the_charset_hint() -> None:
    def default_charset(port, subject, body, charset):
        with smtplib.SMTP("127.0.0.1", port, local_hostname=HELLO, timeout=5) as client:
            client.send_message(letter(subject, body))

    result = assert_gets_hint(
        SEND_LETTER, default_charset, "set_content(body, charset=charset)", "failed"
    )
    assert result.case.label == "koi8-r"


def test_nothing_sent_gets_the_nothing_arrived_hint() -> None:
    def forgot_to_send(port, subject, body, charset):
        letter(subject, body)

    result = assert_gets_hint(SEND_LETTER, forgot_to_send, "Nothing reached the sink", "failed")
    assert "nothing arrived" in result.message


def test_wrong_port_gets_the_port_hint() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        closed = unused.getsockname()[1]  # nobody listens there once the socket is closed

    def wrong_port(port, subject, body, charset):
        with smtplib.SMTP("127.0.0.1", closed, local_hostname=HELLO, timeout=5) as client:
            client.send_message(letter(subject, body))

    result = assert_gets_hint(SEND_LETTER, wrong_port, "not to port 25", "error")
    assert "ConnectionRefusedError" in result.message


# ---- 2. attachment: wrong answers ----


def test_no_attachment_gets_the_multipart_hint() -> None:
    def text_only(text, filename, data):
        message = EmailMessage()
        message.set_content(text)
        return message

    result = assert_gets_hint(ATTACHMENT, text_only, "multipart/mixed", "failed")
    assert "text/plain" in result.message


def test_attachment_without_a_name_gets_the_filename_hint() -> None:
    def nameless(text, filename, data):
        message = EmailMessage()
        message.set_content(text)
        message.add_attachment(data, maintype="application", subtype="octet-stream")
        return message

    assert_gets_hint(ATTACHMENT, nameless, "filename=filename)", "failed")


def test_nothing_returned_gets_the_return_hint() -> None:
    def builds_but_forgets(text, filename, data):
        message = EmailMessage()
        message.set_content(text)

    assert_gets_hint(ATTACHMENT, builds_but_forgets, "Return the message", "failed")
