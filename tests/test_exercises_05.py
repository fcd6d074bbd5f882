"""Notebook 05's exercises: the reference solutions pass, typical wrong answers get their hint."""

from __future__ import annotations

import smtplib
import socket
from email.message import EmailMessage

import pytest
from solutions import exercises_05 as reference

from helpers._registry import stop_all
from helpers.exercises import check
from helpers.exercises_05 import ATTACHMENT, REFUSED_RECIPIENTS, SEND_LETTER, checker_sink

EXERCISES = {
    "send_letter": (SEND_LETTER, reference.send_letter),
    "attachment": (ATTACHMENT, reference.letter_with_attachment),
    "refused": (REFUSED_RECIPIENTS, reference.send_to_all),
}
HELLO = "student.local"


@pytest.fixture(autouse=True, scope="module")
def stop_the_checker_sink():
    yield
    stop_all()


def hint_of(exercise, text: str) -> str:
    found = [m.hint for m in exercise.mistakes if text in m.hint]
    assert len(found) == 1, text
    return found[0]


@pytest.mark.parametrize("name", EXERCISES)
def test_reference_solution_passes(name: str, capfd) -> None:
    exercise, solution = EXERCISES[name]
    result = check(exercise, solution)
    assert result.status == "passed", result.message
    assert capfd.readouterr() == ("", "")  # the checker's sink starts without a status line


@pytest.mark.parametrize("name", EXERCISES)
def test_unsolved_says_not_solved_yet_with_the_first_hint(name: str) -> None:
    exercise, _ = EXERCISES[name]

    def unsolved(*args):
        raise NotImplementedError

    result = check(exercise, unsolved)
    assert result.status == "not solved"
    assert repr(result) == f"not solved yet: {exercise.title}\nHint: {exercise.first_hint}"


def test_the_lessons_sink_is_left_alone() -> None:
    from helpers.mailsink import start_mail_sink

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

    result = check(SEND_LETTER, with_sendmail)
    assert result.status == "error" and "UnicodeEncodeError" in result.message
    assert result.hint == hint_of(SEND_LETTER, "encodes a str message as ASCII")


def test_charset_left_out_gets_the_charset_hint() -> None:
    def default_charset(port, subject, body, charset):
        with smtplib.SMTP("127.0.0.1", port, local_hostname=HELLO, timeout=5) as client:
            client.send_message(letter(subject, body))

    result = check(SEND_LETTER, default_charset)
    assert result.status == "failed" and result.case.label == "koi8-r"
    assert result.hint == hint_of(SEND_LETTER, "set_content(body, charset=charset)")


def test_nothing_sent_gets_the_nothing_arrived_hint() -> None:
    def forgot_to_send(port, subject, body, charset):
        letter(subject, body)

    result = check(SEND_LETTER, forgot_to_send)
    assert result.status == "failed" and "nothing arrived" in result.message
    assert result.hint == hint_of(SEND_LETTER, "Nothing reached the sink")


def test_wrong_port_gets_the_port_hint() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        closed = unused.getsockname()[1]  # nobody listens there once the socket is closed

    def wrong_port(port, subject, body, charset):
        with smtplib.SMTP("127.0.0.1", closed, local_hostname=HELLO, timeout=5) as client:
            client.send_message(letter(subject, body))

    result = check(SEND_LETTER, wrong_port)
    assert result.status == "error" and "ConnectionRefusedError" in result.message
    assert result.hint == hint_of(SEND_LETTER, "not to port 25")


# ---- 2. attachment: wrong answers ----


def test_no_attachment_gets_the_multipart_hint() -> None:
    def text_only(text, filename, data):
        message = EmailMessage()
        message.set_content(text)
        return message

    result = check(ATTACHMENT, text_only)
    assert result.status == "failed" and "text/plain" in result.message
    assert result.hint == hint_of(ATTACHMENT, "multipart/mixed")


def test_attachment_without_a_name_gets_the_filename_hint() -> None:
    def nameless(text, filename, data):
        message = EmailMessage()
        message.set_content(text)
        message.add_attachment(data, maintype="application", subtype="octet-stream")
        return message

    result = check(ATTACHMENT, nameless)
    assert result.status == "failed"
    assert result.hint == hint_of(ATTACHMENT, "filename=filename)")


def test_nothing_returned_gets_the_return_hint() -> None:
    def builds_but_forgets(text, filename, data):
        message = EmailMessage()
        message.set_content(text)

    result = check(ATTACHMENT, builds_but_forgets)
    assert result.status == "failed"
    assert result.hint == hint_of(ATTACHMENT, "Return the message")


# ---- 3. refused recipients: wrong answers ----


def test_uncaught_refusal_gets_the_catch_hint() -> None:
    def no_except(port, recipients):
        with smtplib.SMTP("127.0.0.1", port, local_hostname=HELLO, timeout=5) as client:
            refused = client.sendmail("student@mail.ru", recipients, b"Subject: x\r\n\r\nx\r\n")
        return {address: code for address, (code, _) in refused.items()}

    result = check(REFUSED_RECIPIENTS, no_except)
    assert result.status == "error" and result.case.label == "all refused"
    assert result.hint == hint_of(REFUSED_RECIPIENTS, "catch")


def test_whole_replies_get_the_code_hint() -> None:
    def whole_replies(port, recipients):
        with smtplib.SMTP("127.0.0.1", port, local_hostname=HELLO, timeout=5) as client:
            return client.sendmail("student@mail.ru", recipients, b"Subject: x\r\n\r\nx\r\n")

    result = check(REFUSED_RECIPIENTS, whole_replies)
    assert result.status == "failed" and result.case.label == "one refused"
    assert result.hint == hint_of(REFUSED_RECIPIENTS, "only the reply code")


def test_no_report_gets_the_return_hint() -> None:
    def silent(port, recipients):
        with smtplib.SMTP("127.0.0.1", port, local_hostname=HELLO, timeout=5) as client:
            try:
                client.sendmail("student@mail.ru", recipients, b"Subject: x\r\n\r\nx\r\n")
            except smtplib.SMTPRecipientsRefused:
                pass

    result = check(REFUSED_RECIPIENTS, silent)
    assert result.status == "failed"
    assert result.hint == hint_of(REFUSED_RECIPIENTS, "Return the report")


def test_claiming_delivery_without_sending_is_caught() -> None:
    def liar(port, recipients):
        return {r: 550 for r in recipients if r == "ghost@onego.ru" or "gmail" in r}

    result = check(REFUSED_RECIPIENTS, liar)
    assert result.status == "failed" and "received nothing" in result.message
