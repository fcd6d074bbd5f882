"""Reference solution of notebook 09's exercise (``REFUSED_RECIPIENTS``)."""

from __future__ import annotations

import smtplib


def send_to_all(port: int, recipients: list[str]) -> dict[str, int]:
    letter = b"From: student@mail.ru\r\nSubject: To everyone\r\n\r\nHello!\r\n"
    with smtplib.SMTP("127.0.0.1", port, local_hostname="student.local", timeout=5) as client:
        try:
            refused = client.sendmail("student@mail.ru", recipients, letter)
        except smtplib.SMTPRecipientsRefused as error:
            refused = error.recipients
    return {address: code for address, (code, _message) in refused.items()}
