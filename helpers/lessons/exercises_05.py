"""Notebook 05's exercises, checked by ``helpers.check`` against a live mail sink.

1. ``send_letter(port, subject, body, charset)``: send a letter from
   student@mail.ru to rnd@onego.ru with that subject and the body in that
   charset. The check reads what the sink stored: the decoded subject, the
   body's declared charset and the decoded body.
2. ``letter_with_attachment(text, filename, data)``: build (and return) a
   message with ``text`` as its body and ``data`` attached as ``filename``. The
   check sends it through the sink and reads back the structure that arrived.
3. ``send_to_all(port, recipients)``: send one letter to every recipient and
   return ``{recipient: reply code}`` for the refused ones, without raising when
   some (or all) are refused. The checker's sink refuses ghost@onego.ru (550)
   and does not relay to other domains (550).

The checks use a sink of their own (``checker-05``, started on a free port
without a status line on first use), so the lesson's sink and mailbox stay as
they were.
"""

from __future__ import annotations

import smtplib
from email.message import Message
from typing import Any

from helpers.lessons.checks import Case, Exercise, Mistake
from helpers.services.mailsink import MailSink

__all__ = ["ATTACHMENT", "EXERCISES", "REFUSED_RECIPIENTS", "SEND_LETTER"]

CHECKER = "checker-05"
FROM = "student@mail.ru"
TO = "rnd@onego.ru"
GHOST = "ghost@onego.ru"
_sinks: dict[str, MailSink] = {}


def checker_sink() -> MailSink:
    """The checks' own sink: started quietly on first use, restarted if it was stopped."""
    sink = _sinks.get(CHECKER)
    if sink is None or not sink.running:
        sink = MailSink(CHECKER).start(quiet=True)
        _sinks[CHECKER] = sink
    return sink


class _Port:
    """Stands for the checker sink's port in a case, shown as ``port`` in reports."""

    def __repr__(self) -> str:
        return "port"


PORT = _Port()


def _args(case: Case, port: int) -> tuple[Any, ...]:
    return tuple(port if arg is PORT else arg for arg in case.args)


def _received(sink: MailSink) -> Any:
    try:
        return sink.wait_for(1, timeout=0.5)[0]
    except TimeoutError:
        return None


# --- 1. a letter with a given subject and charset ------------------------------

NOTHING_ARRIVED = "nothing arrived at the sink"


def _call_send_letter(solution: Any, case: Case) -> Any:
    sink = checker_sink()
    sink.clear()
    solution(*_args(case, sink.port))
    mail = _received(sink)
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
    key="05.send_letter",
    title="Send a letter with a given subject and charset",
    cases=[Case((PORT, s, b, c), (s, c, b), c) for s, b, c in _LETTERS],
    call=_call_send_letter,
    first_hint=(
        "Build an EmailMessage: set From, To and Subject as str, then "
        "message.set_content(body, charset=charset); send it with "
        "smtplib.SMTP('127.0.0.1', port, local_hostname='student.local', timeout=5) "
        "and send_message."
    ),
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
    mail = _received(sink)
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
    key="05.attachment",
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


# --- 3. refused recipients, reported ---------------------------------------------

_RECIPIENT_CASES = [
    ([TO], {}, "all accepted"),
    ([TO, GHOST], {GHOST: 550}, "one refused"),
    ([GHOST], {GHOST: 550}, "all refused"),
    ([TO, "friend@gmail.com"], {"friend@gmail.com": 550}, "no relaying"),
    (
        [GHOST, "info@example.com", "friend@gmail.com"],
        {GHOST: 550, "friend@gmail.com": 550},
        "two of three refused",
    ),
]


def _call_refused(solution: Any, case: Case) -> Any:
    sink = checker_sink()
    sink.clear()
    with sink.faults(refuse_recipients={GHOST}):
        got = solution(*_args(case, sink.port))
    accepted = [r for r in case.args[1] if r not in case.expected]
    if accepted and got == case.expected:
        mail = _received(sink)
        if mail is None or sorted(mail.rcpt_tos) != sorted(accepted):
            return f"the right report, but {', '.join(accepted)} received nothing"
    return got


REFUSED_RECIPIENTS = Exercise(
    key="05.refused",
    title="Send to several recipients and report the refused ones",
    cases=[Case((PORT, rcpts), refused, label) for rcpts, refused, label in _RECIPIENT_CASES],
    call=_call_refused,
    first_hint=(
        "sendmail(from_addr, recipients, message) returns a dict of the refused "
        "recipients, {address: (code, message)}, when at least one was accepted; when "
        "all are refused it raises SMTPRecipientsRefused, whose .recipients is the same "
        "kind of dict. Return {address: code}."
    ),
    mistakes=[
        Mistake(
            "When every recipient is refused, sendmail raises SMTPRecipientsRefused: catch "
            "it and report its .recipients instead of letting it escape.",
            lambda case, got: isinstance(got, smtplib.SMTPRecipientsRefused),
        ),
        Mistake(
            "Report only the reply code per recipient: {address: code}, where sendmail "
            "gives (code, message).",
            lambda case, got: (
                isinstance(got, dict) and any(isinstance(v, tuple) for v in got.values())
            ),
        ),
        Mistake(
            "Return the report: sendmail's return value is the dict of refused recipients.",
            lambda case, got: got is None,
        ),
        Mistake(
            "Send one letter to all recipients at once (a list as the second argument of "
            "sendmail), and report every refused address, not only the first.",
            lambda case, got: isinstance(got, dict) and set(got) < set(case.expected),
        ),
    ],
)

EXERCISES = (SEND_LETTER, ATTACHMENT, REFUSED_RECIPIENTS)
