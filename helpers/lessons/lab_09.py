"""Notebook 09's lab: an SMTP client over a raw socket that sends the chapter's letter.

The student saves ``lab_smtp.py PORT``: it talks SMTP itself (greeting, EHLO,
MAIL FROM, RCPT TO, DATA, the letter, QUIT), checking every reply code, and
sends the chapter's letter in cp1251 with one more line, a lone dot, which
only dot-stuffing gets through. ``check_lab(LAB)`` runs it against a mail sink
of its own and compares the letter stored with the letter meant, byte for byte.
"""

from __future__ import annotations

import contextlib
import io

from helpers.lessons.labs import Failure, Lab, last_lines
from helpers.run.programs import run_program
from helpers.services.mailsink import start_mail_sink

__all__ = ["LAB", "LETTER"]

HEADERS = (
    "From: Student <student@mail.ru>\r\n"
    "To: Lecturer <rnd@onego.ru>\r\n"
    "Subject: From Python course student\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=Windows-1251\r\n"
    "Content-Transfer-Encoding: 8bit\r\n"
)
BODY = (
    "Здравствуйте, уважаемый автор курса!\r\n"
    "Я изучаю язык Python.\r\n"
    ".\r\n"
    "Это письмо не кончилось на точке выше.\r\n"
)
LETTER = HEADERS.encode("ascii") + b"\r\n" + BODY.encode("cp1251")

STUB = """\
# lab_smtp.py PORT: the chapter's letter, sent over a raw socket
import socket
import sys

HEADERS = (
    "From: Student <student@mail.ru>\\r\\n"
    "To: Lecturer <rnd@onego.ru>\\r\\n"
    "Subject: From Python course student\\r\\n"
    "MIME-Version: 1.0\\r\\n"
    "Content-Type: text/plain; charset=Windows-1251\\r\\n"
    "Content-Transfer-Encoding: 8bit\\r\\n"
)
BODY = (
    "Здравствуйте, уважаемый автор курса!\\r\\n"
    "Я изучаю язык Python.\\r\\n"
    ".\\r\\n"
    "Это письмо не кончилось на точке выше.\\r\\n"
)
LETTER = HEADERS.encode("ascii") + b"\\r\\n" + BODY.encode("cp1251")

# Connect to ("127.0.0.1", int(sys.argv[1])), read the greeting, then EHLO, MAIL FROM
# <student@mail.ru>, RCPT TO <rnd@onego.ru>, DATA, the letter (dot-stuffed) and "."
# on a line of its own, QUIT. Check every reply code; every line ends with \\r\\n.
"""


def examine(lab: Lab) -> list[str]:
    with contextlib.redirect_stdout(io.StringIO()):
        sink = start_mail_sink("lab 09 sink", quiet=True)
    try:
        result = run_program(lab.program, sink.port, timeout=10)
        stored = list(sink.messages)
        try:
            transcript = str(sink.last_transcript(timeout=2.0))
        except (LookupError, TimeoutError):
            transcript = ""
    finally:
        sink.stop()
    said = last_lines(result.text, 5)
    if not stored:
        hint = ""
        waited = "interrupted" in result.note or "TimeoutError" in result.text
        if waited and "DATA" in transcript.upper():
            hint = (
                "End every line with \\r\\n, and the letter with a line holding a single dot: "
                "b'\\r\\n.\\r\\n'; then read the reply."
            )
        elif waited:
            hint = (
                "Read each reply to its last line: '250-' lines continue it, the line with a "
                "space after the code ends it."
            )
        raise Failure(
            f"the sink stored no letter; your program ({result.note or 'exit code 0'}) printed:\n"
            + said,
            hint,
        )
    mail = stored[0]
    if (mail.mail_from, mail.rcpt_tos) != ("student@mail.ru", ("rnd@onego.ru",)):
        raise Failure(
            f"the envelope said MAIL FROM <{mail.mail_from}>, RCPT TO {list(mail.rcpt_tos)}",
            "MAIL FROM:<student@mail.ru> and RCPT TO:<rnd@onego.ru>, each in angle brackets.",
        )
    if mail.raw != LETTER:
        hint = ""
        if mail.raw == LETTER.replace(BODY.encode("cp1251"), BODY.encode("utf-8")):
            hint = "The letter says charset=Windows-1251: encode its body with 'cp1251'."
        elif LETTER.startswith(mail.raw) or b"\r\n.\r\n" not in mail.raw:
            hint = (
                "Dot-stuff the letter: a line that starts with '.' gets one more '.' in front, "
                "or the server takes the lone dot for the end of the letter."
            )
        raise Failure(
            f"the stored letter has {len(mail.raw)} bytes, the chapter's letter {len(LETTER)}; "
            "they differ.",
            hint,
        )
    if len(stored) > 1:
        raise Failure(f"the sink stored {len(stored)} letters; send it once.", "")
    if result.returncode != 0:
        raise Failure(
            f"the letter arrived, but your program ended with an error:\n{said}",
            "After the 250 for the letter, send QUIT and read its 221.",
        )
    if "QUIT" not in transcript.upper():
        raise Failure("the letter arrived, but your program never said QUIT.", "End with QUIT.")
    return [
        "the dialogue: greeting, EHLO, MAIL FROM, RCPT TO, DATA, QUIT",
        "the chapter's letter stored byte for byte, cp1251 body and all",
        "the lone dot got through (dot-stuffing)",
    ]


LAB = Lab(
    key="09.lab",
    title="The chapter's letter over a raw socket",
    program="lab_smtp.py",
    stub=STUB,
    first_hint=(
        "Take read_reply, command and dot_stuff from section 2 of this notebook into your "
        "program: the session there is almost the whole lab."
    ),
    hints=(
        "Open the connection with socket.create_connection(('127.0.0.1', port), timeout=5), "
        "reader = sock.makefile('rb'), read the greeting, then one command() per step.",
        "After DATA and its 354: sock.sendall(dot_stuff(LETTER) + b'.\\r\\n'), read the reply "
        "(250), then command(sock, reader, 'QUIT', 221).",
    ),
    reference="lab_09_smtp.py",
    examine=examine,
)
