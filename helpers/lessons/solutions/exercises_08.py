"""Reference solutions of notebook 08's exercises (``SEND_LETTER``, ``ATTACHMENT``)."""

from __future__ import annotations

import mimetypes
import smtplib
from email.message import EmailMessage


def send_letter(port: int, subject: str, body: str, charset: str) -> None:
    message = EmailMessage()
    message["From"] = "Student <student@mail.ru>"
    message["To"] = "Lecturer <rnd@onego.ru>"
    message["Subject"] = subject
    message.set_content(body, charset=charset)
    with smtplib.SMTP("127.0.0.1", port, local_hostname="student.local", timeout=5) as client:
        client.send_message(message)


def letter_with_attachment(text: str, filename: str, data: bytes) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Student <student@mail.ru>"
    message["To"] = "Lecturer <rnd@onego.ru>"
    message["Subject"] = f"Attached: {filename}"
    message.set_content(text)
    kind, _encoding = mimetypes.guess_type(filename)
    maintype, _, subtype = (kind or "application/octet-stream").partition("/")
    message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return message
