"""Reference solution of notebook 09's exercise, checked by tests/test_exercises_09.py."""

from __future__ import annotations

import smtplib

HELLO = "student.local"


def send_to_all(port: int, recipients: list[str]) -> dict[str, int]:
    letter = b"From: student@mail.ru\r\nSubject: To everyone\r\n\r\nHello!\r\n"
    with smtplib.SMTP("127.0.0.1", port, local_hostname=HELLO, timeout=5) as client:
        try:
            refused = client.sendmail("student@mail.ru", recipients, letter)
        except smtplib.SMTPRecipientsRefused as error:
            refused = error.recipients
    return {address: code for address, (code, _message) in refused.items()}
