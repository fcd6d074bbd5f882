"""Notebook 08's exercises, checked by ``helpers.check`` against a live mail sink.

1. ``send_letter(port, subject, body, charset)``: send a letter from
   student@mail.ru to rnd@onego.ru with that subject and the body in that
   charset. The check reads what the sink stored: the decoded subject, the
   body's declared charset and the decoded body.
2. ``letter_with_attachment(text, filename, data)``: build (and return) a
   message with ``text`` as its body and ``data`` attached as ``filename``. The
   check sends it through the sink and reads back the structure that arrived.

The checks use a sink of their own (``helpers.lessons.mail_checks``), so the
lesson's sink and mailbox stay as they were.
"""

from __future__ import annotations

import smtplib
from email.message import Message
from typing import Any

from helpers.lessons.checks import Case, Exercise, Mistake
from helpers.lessons.mail_checks import FROM, PORT, TO, checker_sink, received, with_port
from helpers.lessons.solutions import exercises_08 as reference

__all__ = ["ATTACHMENT", "EXERCISES", "SEND_LETTER"]


# --- 1. a letter with a given subject and charset ------------------------------

NOTHING_ARRIVED = "nothing arrived at the sink"


def _call_send_letter(solution: Any, case: Case) -> Any:
    sink = checker_sink()
    sink.clear()
    solution(*with_port(case, sink.port))
    mail = received(sink)
    if mail is None:
        return NOTHING_ARRIVED
    part = mail.message.get_body(preferencelist=("plain",)) or mail.message
    return (mail.subject, part.get_content_charset(), mail.body.rstrip("\n"))


_LETTERS = [
    ("Привет из курса", "Изучаю Python.", "koi8-r"),
    ("From Python course student", "Здравствуйте! Я изучаю Python.", "windows-1251"),
    ("Hello", "Plain ASCII text.", "us-ascii"),
    ("Ещё одно письмо", "Текст в UTF-8: ё, №, €.", "utf-8"),
]


def _wrong_charset(case: Case, got: Any) -> bool:
    return isinstance(got, tuple) and got[1] != case.expected[1]


SEND_LETTER = Exercise(
    key="08.send_letter",
    title="Send a letter with a given subject and charset",
    cases=[Case((PORT, s, b, c), (s, c, b), c) for s, b, c in _LETTERS],
    call=_call_send_letter,
    first_hint=(
        "Build an EmailMessage: set From, To and Subject as str, then "
        "message.set_content(body, charset=charset); send it with "
        "smtplib.SMTP('127.0.0.1', port, local_hostname='student.local', timeout=5) "
        "and send_message."
    ),
    hints=(
        (
            "message = EmailMessage(); message['From'] = 'student@mail.ru'; message['To'] = "
            "'rnd@onego.ru'; message['Subject'] = subject (a str: the email package encodes "
            "it)."
        ),
        (
            "message.set_content(body, charset=charset); then `with smtplib.SMTP('127.0.0.1', "
            "port, local_hostname='student.local', timeout=5) as client:` "
            "client.send_message(message)."
        ),
    ),
    reference=reference.send_letter,
    mistakes=[
        Mistake(
            "sendmail() encodes a str message as ASCII, which Cyrillic is not. Let the email "
            "package encode it: build an EmailMessage and call send_message().",
            lambda case, got: isinstance(got, UnicodeEncodeError),
        ),
        Mistake(
            "Connect to 127.0.0.1 on the port the check passes in (the first argument), "
            "not to port 25.",
            lambda case, got: isinstance(got, ConnectionRefusedError),
        ),
        Mistake(
            "Nothing reached the sink: call send_message() (or sendmail()) inside the "
            "function, on a connection to 127.0.0.1:port.",
            lambda case, got: got == NOTHING_ARRIVED,
        ),
        Mistake(
            "The body's charset is chosen by set_content(body, charset=charset); "
            "without it the email package picks UTF-8 (or ASCII) by itself.",
            _wrong_charset,
        ),
    ],
)


# --- 2. a multipart message with an attachment ---------------------------------


def _structure(message: Message) -> tuple[str, str, list[tuple[str | None, bytes]]]:
    """(content type, body text, [(attachment file name, its bytes)]) of a parsed message."""
    body = message.get_body(preferencelist=("plain",))
    text = body.get_content().rstrip("\n") if body is not None else ""
    attachments = (
        [
            (part.get_filename(), part.get_payload(decode=True) or b"")
            for part in message.iter_attachments()
        ]
        if message.is_multipart()
        else []
    )
    return message.get_content_type(), text, attachments


def _call_attachment(solution: Any, case: Case) -> Any:
    message = solution(*case.args)
    if not isinstance(message, Message):
        return f"returned {type(message).__name__}, not a message"
    sink = checker_sink()
    sink.clear()
    with smtplib.SMTP("127.0.0.1", sink.port, local_hostname="checker.local", timeout=5) as c:
        c.send_message(message, from_addr=FROM, to_addrs=[TO])
    mail = received(sink)
    if mail is None:
        return NOTHING_ARRIVED
    return _structure(mail.message)


_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f80f0000010101005a4f7a9b0000000049454e44ae426082"
)
_ATTACHMENTS = [
    ("Отчёт во вложении.", "report.txt", "строка 1\nстрока 2\n".encode()),
    ("A one-pixel picture.", "dot.png", _PNG),
    ("Bytes of every value.", "all.bin", bytes(range(256))),
]


def _single_part(case: Case, got: Any) -> bool:
    return isinstance(got, tuple) and got[0] != "multipart/mixed"


def _no_file_name(case: Case, got: Any) -> bool:
    return isinstance(got, tuple) and any(name is None for name, _ in got[2])


def _text_not_bytes(case: Case, got: Any) -> bool:
    return isinstance(got, AttributeError | TypeError) and "str" in str(got)


ATTACHMENT = Exercise(
    key="08.attachment",
    title="Build a multipart message with an attachment",
    cases=[
        Case((text, name, data), ("multipart/mixed", text, [(name, data)]), name)
        for text, name, data in _ATTACHMENTS
    ],
    call=_call_attachment,
    first_hint=(
        "message = EmailMessage(); message.set_content(text); then "
        "message.add_attachment(data, maintype=..., subtype=..., filename=filename) "
        "(mimetypes.guess_type(filename) suggests the type; 'application/octet-stream' "
        "fits anything); return the message."
    ),
    hints=(
        (
            "mimetypes.guess_type(filename) returns (type, encoding); the type looks like "
            "'image/png', or is None for a name it does not know: then use "
            "'application/octet-stream'. Split it at the '/' into maintype and subtype."
        ),
        (
            "After message.set_content(text), call message.add_attachment(data, "
            "maintype=maintype, subtype=subtype, filename=filename) and return message: the "
            "check sends it, so your function does not."
        ),
    ),
    reference=reference.letter_with_attachment,
    mistakes=[
        Mistake(
            "Return the message you built (the check sends it itself).",
            lambda case, got: got == "returned NoneType, not a message",
        ),
        Mistake(
            "add_attachment() turns the message into multipart/mixed: without it the "
            "letter stays a single text/plain part.",
            _single_part,
        ),
        Mistake(
            "Give the attachment its name: add_attachment(..., filename=filename).",
            _no_file_name,
        ),
        Mistake(
            "Attach the bytes as they are, with maintype and subtype: "
            "add_attachment(data, maintype='application', subtype='octet-stream', ...).",
            _text_not_bytes,
        ),
    ],
)

EXERCISES = (SEND_LETTER, ATTACHMENT)
