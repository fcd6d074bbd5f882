"""Notebook 09's exercise, checked by ``helpers.check`` against a live mail sink.

``send_to_all(port, recipients)``: send one letter to every recipient and
return ``{recipient: reply code}`` for the refused ones, without raising when
some (or all) are refused. The checker's sink refuses ghost@onego.ru (550) and
does not relay to other domains (550).

The check uses a sink of its own (``helpers.lessons.mail_checks``), so the
lesson's sink and mailbox stay as they were.
"""

from __future__ import annotations

import smtplib
from typing import Any

from helpers.lessons.checks import Case, Exercise, Mistake
from helpers.lessons.mail_checks import PORT, TO, checker_sink, received, with_port
from helpers.lessons.solutions import exercises_09 as reference

__all__ = ["EXERCISES", "REFUSED_RECIPIENTS"]

GHOST = "ghost@onego.ru"


# --- refused recipients, reported ----------------------------------------------

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
        got = solution(*with_port(case, sink.port))
    accepted = [r for r in case.args[1] if r not in case.expected]
    if accepted and got == case.expected:
        mail = received(sink)
        if mail is None or sorted(mail.rcpt_tos) != sorted(accepted):
            return f"the right report, but {', '.join(accepted)} received nothing"
    return got


REFUSED_RECIPIENTS = Exercise(
    key="09.refused",
    title="Send to several recipients and report the refused ones",
    cases=[Case((PORT, rcpts), refused, label) for rcpts, refused, label in _RECIPIENT_CASES],
    call=_call_refused,
    first_hint=(
        "sendmail(from_addr, recipients, message) returns a dict of the refused "
        "recipients, {address: (code, message)}, when at least one was accepted; when "
        "all are refused it raises SMTPRecipientsRefused, whose .recipients is the same "
        "kind of dict. Return {address: code}."
    ),
    hints=(
        (
            "One connection, one letter: `with smtplib.SMTP('127.0.0.1', port, "
            "local_hostname='student.local', timeout=5) as client:` and a single "
            "client.sendmail(from_addr, recipients, letter) with the whole list."
        ),
        (
            "try: refused = client.sendmail(...) except smtplib.SMTPRecipientsRefused as error: "
            "refused = error.recipients. Then return {address: code for address, (code, text) "
            "in refused.items()}."
        ),
    ),
    reference=reference.send_to_all,
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

EXERCISES = (REFUSED_RECIPIENTS,)
